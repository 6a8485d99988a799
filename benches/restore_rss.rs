//! Peak memory and speed of restoring a large backup (issue 15, DESIGN R13).
//!
//! A plain harness binary (`harness = false`). It fills a `SimCluster` (1.28) with the objects
//! of `backup_rss` (mostly small ConfigMaps), backs them up into a `file://` vault in a
//! temporary folder, then runs the restore in a *fresh process* (this binary again, with
//! `restore-child <vault-url> <objects>`), so the restore's memory is not hidden by what the
//! populate and backup phases freed. The child restores with the CLI's setup (the tokio timer,
//! `TempFileSpool`) into a target that keeps only counts, with
//! `EngineOptions::restore_report_objects` off (the report holds the final objects' heads;
//! each final object waits in the spool until it is applied), and reports:
//! - `VmRSS` before the restore (the process with its runtime), and the restore's peak:
//!   `VmHWM` after the restore minus that RSS (`VmHWM` is reset through
//!   `/proc/self/clear_refs` first, checked as in `backup_rss`);
//! - the time and objects/s.
//!
//! The goal (issue 15) is a peak of at most 256 MiB over the process before the restore for
//! 1,000,000 objects. `CSDR_BENCH_OBJECTS` sets the count (default 100,000 under
//! `cargo bench`, 2,000 without `--bench`, as `cargo test --benches` runs it).
//!
//! Run: `cargo bench --bench restore_rss` (or `CSDR_BENCH_OBJECTS=1000000 cargo bench …`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use csdr_core::discovery::Discovery;
use csdr_core::engine::{Engine, EngineOptions};
use csdr_core::model::{BackupSpec, JobPhase, RestoreSpec};
use csdr_core::object::{GroupVersionResource, KubeObject};
use csdr_core::ports::cluster::{
    Cluster, ClusterError, ListOptions, ObjectPage, ObjectText, WaitCondition,
};
use csdr_core::releases::KubeRelease;
use csdr_core::sim::SimCluster;
use csdr_storage::{StorageOptions, TempFileSpool, TokioTimer};
use serde_json::{Value, json};

#[path = "support/rss.rs"]
mod rss;
use rss::*;

const DEFAULT_OBJECTS: usize = 100_000;

/// A target that keeps only how many objects were created.
struct Counting {
    discovery: Discovery,
    created: AtomicU64,
}

#[async_trait]
impl Cluster for Counting {
    async fn discover(&self) -> Result<Discovery, ClusterError> {
        Ok(self.discovery.clone())
    }
    async fn list_page(
        &self,
        _: &GroupVersionResource,
        _: Option<&str>,
        _: &ListOptions,
    ) -> Result<ObjectPage, ClusterError> {
        Ok(ObjectPage::default())
    }
    async fn get(
        &self,
        _: &GroupVersionResource,
        _: Option<&str>,
        _: &str,
    ) -> Result<Option<KubeObject>, ClusterError> {
        Ok(None)
    }
    async fn create(
        &self,
        _: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<KubeObject, ClusterError> {
        self.created.fetch_add(1, Ordering::Relaxed);
        Ok(object.clone())
    }
    // Like `KubeCluster`, a spooled final object is taken as the text it is, unparsed.
    async fn create_text_unread(
        &self,
        _: &GroupVersionResource,
        _: &ObjectText<'_>,
    ) -> Result<(), ClusterError> {
        self.created.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
    async fn update(
        &self,
        _: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<KubeObject, ClusterError> {
        Ok(object.clone())
    }
    async fn patch_merge(
        &self,
        _: &GroupVersionResource,
        _: Option<&str>,
        name: &str,
        _: &Value,
    ) -> Result<KubeObject, ClusterError> {
        Err(ClusterError::NotFound { what: name.into() })
    }
    async fn delete(
        &self,
        _: &GroupVersionResource,
        _: Option<&str>,
        _: &str,
    ) -> Result<(), ClusterError> {
        Ok(())
    }
    async fn wait_for(
        &self,
        _: &GroupVersionResource,
        _: Option<&str>,
        name: &str,
        condition: WaitCondition,
        timeout: Duration,
    ) -> Result<KubeObject, ClusterError> {
        Err(ClusterError::Timeout {
            what: name.into(),
            condition: condition.name().into(),
            timeout,
        })
    }
}

fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("tokio runtime: {e}"),
    }
}

/// The child: restores backup `rss-bench` of `url` and prints the `RESULT` line.
fn restore_child(url: &str, count: usize) {
    let runtime = runtime();
    let target = Arc::new(Counting {
        discovery: KubeRelease::V1_28.discovery(),
        created: AtomicU64::new(0),
    });
    let engine = runtime.block_on(async {
        let vault = match csdr_storage::open_url("bench", url, &StorageOptions::default()).await {
            Ok(v) => v,
            Err(e) => panic!("vault {url}: {e}"),
        };
        match Engine::builder()
            .cluster(target.clone())
            .vault(Arc::new(vault))
            .timer(Arc::new(TokioTimer))
            .spool(Arc::new(TempFileSpool::default()))
            // The report keeps the final objects' heads, not the objects (R13).
            .options(EngineOptions {
                restore_report_objects: false,
                ..EngineOptions::default()
            })
            .build()
        {
            Ok(e) => e,
            Err(e) => panic!("engine: {e}"),
        }
    });
    let reset = reset_high_water_mark();
    let before = status_bytes("VmRSS");
    println!(
        "restore child: VmRSS before the restore {:.0} MiB (VmHWM reset: {})",
        mib(before),
        if reset { "yes" } else { "no" }
    );
    let started = Instant::now();
    let report = runtime.block_on(engine.restore(RestoreSpec::new("rss-restore", "rss-bench")));
    let elapsed = started.elapsed();
    let hwm = status_bytes("VmHWM");
    if report.status.phase != JobPhase::Completed {
        panic!(
            "the restore did not complete: {:?} {:?} {:?}",
            report.status.phase,
            report.status.failure_reason,
            report.status.errors.iter().take(5).collect::<Vec<_>>()
        );
    }
    let created = target.created.load(Ordering::Relaxed);
    let peak = mib(hwm.saturating_sub(before));
    println!(
        "restore: {created} objects created in {elapsed:.2?} ({:.0} objects/s); VmHWM {:.0} MiB",
        created as f64 / elapsed.as_secs_f64(),
        mib(hwm)
    );
    println!(
        "RESULT restore_rss objects={count} created={created} measured={peak:.0}MiB baseline_process_rss={:.0}MiB goal=256MiB_at_1000000 met={} seconds={:.1} objects_per_s={:.0}",
        mib(before),
        // The goal is set at 1,000,000 objects: a smaller run cannot meet it.
        count >= 1_000_000 && peak <= 256.0,
        elapsed.as_secs_f64(),
        created as f64 / elapsed.as_secs_f64(),
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "restore-child") {
        let url = args.get(at + 1).cloned().unwrap_or_default();
        let count = args.get(at + 2).and_then(|c| c.parse().ok()).unwrap_or(0);
        restore_child(&url, count);
        return;
    }
    let count: usize = std::env::var("CSDR_BENCH_OBJECTS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(if args.iter().any(|a| a == "--bench") {
            DEFAULT_OBJECTS
        } else {
            2_000
        });
    println!(
        "restore_rss: {count} objects, {NAMESPACES} namespaces, SimCluster 1.28 → counting target"
    );
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("temp dir: {e}"),
    };
    let url = format!("file://{}", dir.path().display());
    {
        let runtime = runtime();
        let sim = SimCluster::new(KubeRelease::V1_28);
        let started = Instant::now();
        runtime.block_on(async {
            for n in 0..NAMESPACES {
                let ns = KubeObject::new(json!({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": format!("team-{n}")}}));
                let created = match ns {
                    Ok(ns) => {
                        sim.create(&GroupVersionResource::new("", "v1", "namespaces"), &ns)
                            .await
                    }
                    Err(e) => panic!("namespace: {e}"),
                };
                if let Err(e) = created {
                    panic!("create namespace: {e}");
                }
            }
            for i in 0..count {
                let (gvr, obj) = object(i);
                if let Err(e) = sim.create(&gvr, &obj).await {
                    panic!("create object {i}: {e}");
                }
            }
            let vault =
                match csdr_storage::open_url("bench", &url, &StorageOptions::default()).await {
                    Ok(v) => v,
                    Err(e) => panic!("vault {url}: {e}"),
                };
            let engine = match Engine::builder()
                .cluster(Arc::new(sim.clone()))
                .vault(Arc::new(vault))
                .build()
            {
                Ok(e) => e,
                Err(e) => panic!("engine: {e}"),
            };
            let mut spec = BackupSpec::new("rss-bench");
            spec.scope.included_namespaces = (0..NAMESPACES).map(|n| format!("team-{n}")).collect();
            let report = engine.backup(spec).await;
            if report.status.phase != JobPhase::Completed {
                panic!("the backup did not complete: {:?}", report.status);
            }
        });
        println!(
            "populated and backed up {count} objects in {:.1?}",
            started.elapsed()
        );
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => panic!("this binary: {e}"),
    };
    let status = std::process::Command::new(exe)
        .args(["restore-child", &url, &count.to_string()])
        .status();
    match status {
        Ok(s) if s.success() => {}
        other => panic!("the restore child failed: {other:?}"),
    }
    drop(dir);
}
