//! Restore throughput through HTTP against `kubectl create -f` of the same final objects
//! (issue 15).
//!
//! The application of `http_backup_vs_kubectl` (a 1.16 `SimCluster`, 24 namespaces × 128
//! objects: Deployments, Pods, ConfigMaps, Secrets, Services, claims, RBAC, Jobs, CronJobs;
//! `CSDR_BENCH_NAMESPACES` namespaces, e.g. 782 for 100,000 objects) is backed up into a
//! `memory://` vault.
//! A dry-run restore into Kubernetes 1.28 gives the final objects (migrated, transformed), which
//! are written as one `v1` `List` for kubectl. Then, in interleaved rounds, each against a
//! fresh `csdr_kube::testing::ApiServer` serving an empty 1.28 `SimCluster` with the same
//! StorageClass:
//! - `engine restore`: `Engine::restore` through `KubeCluster::from_url` (discovery, target
//!   facts, plan, apply with `restore_max_worker_num` workers, claim waits; with
//!   `restore_report_objects` off, as the controller and the CLI's table output run it: the
//!   final objects wait in the spool until applied and the report counts them), run as the
//!   controller runs a restore job: on a thread of its own with a current-thread runtime and a
//!   connection made there (`KubeCluster::connect_again`), while the API server keeps the
//!   bench's two-worker runtime (`CSDR_BENCH_ENGINE_RUNTIME=shared` runs it on that runtime
//!   instead, as an application embedding the engine in its own runtime may);
//! - `kubectl`: `kubectl --server http://127.0.0.1:PORT create -f objects.json`.
//!
//! Prints both times (medians), objects/s, and the ratio (goal ≤ 0.25, and ≥ 2,000 objects/s).
//! Skips, saying so, only if kubectl is absent.
//!
//! Run: `cargo bench --bench http_restore_vs_kubectl` (`CSDR_BENCH_ROUNDS` rounds, default 3;
//! 1 when run without `--bench`; `CSDR_BENCH_WORKERS` restore workers, default 5;
//! `CSDR_BENCH_ENGINE_RUNTIME=shared`, see above).

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use csdr_core::engine::{Engine, EngineOptions};
use csdr_core::model::{BackupSpec, JobPhase, RestoreSpec};
use csdr_core::object::{GroupVersionResource, KubeObject};
use csdr_core::ports::cluster::Cluster;
use csdr_core::releases::KubeRelease;
use csdr_core::sim::SimCluster;
use csdr_kube::KubeCluster;
use csdr_kube::testing::ApiServer;
use csdr_storage::{StorageOptions, TokioTimer};
use serde_json::json;

#[path = "support/app.rs"]
mod app;
use app::*;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn kubectl_present() -> bool {
    matches!(
        Command::new("kubectl").args(["version", "--client"]).output(),
        Ok(out) if out.status.success()
    )
}

/// An empty 1.28 cluster with the application's StorageClass.
async fn target() -> SimCluster {
    let sim = SimCluster::new(KubeRelease::V1_28);
    let class = json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "alicloud-disk-ssd"},
        "provisioner": "diskplugin.csi.alibabacloud.com", "volumeBindingMode": "Immediate"});
    let class = match KubeObject::new(class) {
        Ok(c) => c,
        Err(e) => panic!("class: {e}"),
    };
    let gvr = GroupVersionResource::new("storage.k8s.io", "v1", "storageclasses");
    if let Err(e) = sim.create(&gvr, &class).await {
        panic!("class: {e}");
    }
    sim
}

async fn serve(sim: SimCluster) -> ApiServer {
    match ApiServer::start(sim).await {
        Ok(s) => s,
        Err(e) => panic!("API server: {e}"),
    }
}

fn main() {
    if !kubectl_present() {
        println!("SKIPPED http_restore_vs_kubectl: kubectl is not installed or does not run");
        println!("RESULT http_restore_vs_kubectl skipped=kubectl-absent");
        return;
    }
    let bench = std::env::args().any(|a| a == "--bench");
    let rounds: usize = std::env::var("CSDR_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if bench { 3 } else { 1 })
        .max(1);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("tokio runtime: {e}"),
    };
    runtime.block_on(async {
        let source = SimCluster::new(KubeRelease::V1_16);
        populate(&source).await;
        let vault = match csdr_storage::open_url("bench", "memory://", &StorageOptions::default()).await {
            Ok(v) => Arc::new(v),
            Err(e) => panic!("vault: {e}"),
        };
        // CSDR_BENCH_WORKERS overrides restore_max_worker_num (default: the FAQ's 5).
        let mut options = EngineOptions::default();
        if let Some(n) = std::env::var("CSDR_BENCH_WORKERS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .and_then(std::num::NonZeroUsize::new)
        {
            options.config.application_backup.restore_max_worker_num = n;
        }
        let workers = options.config.application_backup.restore_max_worker_num.get();
        // As the controller and the CLI's table output run a restore: the report counts, the
        // final objects wait in the spool until applied (R13).
        options.restore_report_objects = false;
        // CSDR_BENCH_ENGINE_RUNTIME=shared runs the restore on the bench's runtime (the one
        // serving the API server) instead of a job thread of its own.
        let shared_runtime = std::env::var("CSDR_BENCH_ENGINE_RUNTIME").is_ok_and(|v| v == "shared");
        let runtime_name = if shared_runtime { "shared" } else { "job" };
        let engine = |cluster: Arc<dyn Cluster>| match Engine::builder()
            .cluster(cluster)
            .vault(vault.clone())
            .timer(Arc::new(TokioTimer))
            .options(options.clone())
            .build()
        {
            Ok(e) => e,
            Err(e) => panic!("engine: {e}"),
        };
        let mut spec = BackupSpec::new("http-restore-bench");
        spec.scope.included_namespaces = (0..namespaces()).map(|n| format!("app-{n:02}")).collect();
        let backup = engine(Arc::new(source)).backup(spec).await;
        if backup.status.phase != JobPhase::Completed {
            panic!("backup: {:?}", backup.status);
        }
        // The final objects, for kubectl.
        let mut dry = RestoreSpec::new("plan", "http-restore-bench");
        dry.dry_run = true;
        let plan = engine(Arc::new(target().await)).restore(dry).await;
        // The StorageClass is in the target already (the restore leaves it as it is).
        let objects: Vec<serde_json::Value> = plan
            .objects()
            .filter(|o| o.kind() != "StorageClass")
            .map(KubeObject::to_value)
            .collect();
        let count = objects.len();
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("temp dir: {e}"),
        };
        let file = dir.path().join("objects.json");
        let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
        if let Err(e) = std::fs::write(&file, list.to_string()) {
            panic!("write {}: {e}", file.display());
        }
        println!(
            "http_restore_vs_kubectl: {count} final objects ({} backed up) from 1.16 into 1.28, {workers} restore workers, engine on the {runtime_name} runtime",
            backup.status.progress.items_done
        );
        let (mut engine_times, mut kubectl_times) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            let server = serve(target().await).await;
            let spec = RestoreSpec::new(format!("r{round}"), "http-restore-bench");
            let start = Instant::now();
            let cluster = match KubeCluster::from_url(&server.url()) {
                Ok(c) => Arc::new(c),
                Err(e) => panic!("KubeCluster: {e}"),
            };
            let restore = engine(cluster.clone());
            let report = if shared_runtime {
                // On the runtime that serves the API server, as an application embedding the
                // engine in its own runtime may run it.
                restore.restore(spec).await
            } else {
                // As the controller runs a restore job: on a thread of its own with a
                // current-thread runtime, on a connection made there.
                let job = std::thread::spawn(move || {
                    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                        Ok(rt) => rt,
                        Err(e) => panic!("job runtime: {e}"),
                    };
                    runtime.block_on(async move {
                        let own = match cluster.connect_again() {
                            Ok(c) => Arc::new(c),
                            Err(e) => panic!("KubeCluster: {e}"),
                        };
                        restore.with_cluster(own).restore(spec).await
                    })
                });
                match tokio::task::spawn_blocking(move || job.join()).await {
                    Ok(Ok(r)) => r,
                    _ => panic!("the restore's thread panicked"),
                }
            };
            let engine_time = start.elapsed();
            if report.status.phase != JobPhase::Completed || report.counts.created != count as u64 {
                // (every final object but the StorageClass is created)
                panic!(
                    "restore: {:?} {:?} {} created, errors {:?}",
                    report.status.phase,
                    report.status.failure_reason,
                    report.counts.created,
                    report.status.errors.iter().take(5).collect::<Vec<_>>()
                );
            }
            let _ = server.shutdown().await;

            let server = serve(target().await).await;
            let home = match tempfile::tempdir() {
                Ok(d) => d,
                Err(e) => panic!("temp dir: {e}"),
            };
            let start = Instant::now();
            let out = tokio::task::spawn_blocking({
                let (url, file, home) = (server.url(), file.clone(), home.path().to_path_buf());
                move || {
                    Command::new("kubectl")
                        .arg("--server")
                        .arg(&url)
                        .arg("--cache-dir")
                        .arg(home.join("cache"))
                        .arg("create")
                        .arg("-f")
                        .arg(&file)
                        .env("HOME", &home)
                        .env("KUBECONFIG", home.join("kubeconfig"))
                        .output()
                }
            })
            .await;
            let kubectl_time = start.elapsed();
            match out {
                Ok(Ok(out)) if out.status.success() => {}
                Ok(Ok(out)) => panic!("kubectl create: {}", String::from_utf8_lossy(&out.stderr)),
                other => panic!("kubectl create: {other:?}"),
            }
            let _ = server.shutdown().await;
            println!(
                "round {}: engine restore {engine_time:.2?} ({:.0} objects/s); kubectl create -f {kubectl_time:.2?} ({:.0} objects/s)",
                round + 1,
                count as f64 / engine_time.as_secs_f64(),
                count as f64 / kubectl_time.as_secs_f64()
            );
            engine_times.push(engine_time);
            kubectl_times.push(kubectl_time);
        }
        let (engine_time, kubectl_time) = (median(engine_times), median(kubectl_times));
        let ratio = engine_time.as_secs_f64() / kubectl_time.as_secs_f64();
        let rate = count as f64 / engine_time.as_secs_f64();
        println!(
            "RESULT http_restore_vs_kubectl measured={:.3}s baseline={:.3}s ratio={ratio:.3} goal=0.25 objects_per_s={rate:.0} kubectl_objects_per_s={:.0} met={} objects={count} workers={workers} engine_runtime={runtime_name} rounds={rounds}",
            engine_time.as_secs_f64(),
            kubectl_time.as_secs_f64(),
            count as f64 / kubectl_time.as_secs_f64(),
            ratio <= 0.25 && rate >= 2000.0,
        );
    });
}
