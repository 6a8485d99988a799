//! End-to-end backup through the HTTP API simulator against `kubectl get` of the same objects
//! (issue 7, DESIGN §7).
//!
//! A `SimCluster` (1.16) with a few thousand realistic objects across 24 namespaces is served
//! by `csdr_kube::testing::ApiServer` on 127.0.0.1. Measured in interleaved rounds:
//! - `engine backup`: `Engine::backup` of every namespace through `KubeCluster::from_url`
//!   into a fresh `memory://` vault (discovery, every served version of every selected
//!   resource, archive, commit);
//! - `kubectl`: `kubectl --server http://127.0.0.1:PORT get <resource>.<version>.<group> -A
//!   -o json`, run one after another for every resource and version the backup lists (the
//!   list is resolved with the core's own `BackupSelection`, as the engine does), with a
//!   fresh discovery cache each round (the engine discovers in every backup too).
//!
//! Prints both times (medians), the ratio (goal ≤ 1.0), and checks that kubectl saw the same
//! number of objects as the backup listed. Skips, saying so, only if kubectl is absent.
//!
//! Run: `cargo bench --bench http_backup_vs_kubectl` (`CSDR_BENCH_ROUNDS` rounds, default 3;
//! 1 when run without `--bench`, as `cargo test --benches` does).

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use csdr_core::engine::Engine;
use csdr_core::model::{BackupSpec, JobPhase};
use csdr_core::object::GroupVersionResource;
use csdr_core::ports::cluster::{Cluster, ListOptions};
use csdr_core::releases::KubeRelease;
use csdr_core::selection::{BackupSelection, DEFAULT_ENGINE_NAMESPACE};
use csdr_core::sim::SimCluster;
use csdr_kube::KubeCluster;
use csdr_kube::testing::ApiServer;
use csdr_storage::StorageOptions;
use serde_json::Value;

#[path = "support/app.rs"]
mod app;
use app::*;

/// The `kubectl get` argument for a resource at a version: `deployments.v1beta2.apps`, and
/// for the core group `configmaps.v1.` (the trailing dot names the core group).
fn kubectl_resource(gvr: &GroupVersionResource) -> String {
    format!("{}.{}.{}", gvr.resource, gvr.version, gvr.group)
}

/// kubectl pointed at the server, with its own HOME and (absent) KUBECONFIG.
#[derive(Clone)]
struct Kubectl {
    server: String,
    home: std::path::PathBuf,
}

impl Kubectl {
    /// Runs `kubectl get <resource> -A -o json` with `cache` as discovery cache; the items.
    fn get(&self, resource: &str, cache: &std::path::Path) -> usize {
        let out = Command::new("kubectl")
            .arg("--server")
            .arg(&self.server)
            .arg("--cache-dir")
            .arg(cache)
            .args(["get", resource, "-A", "-o", "json"])
            .env("HOME", &self.home)
            .env("KUBECONFIG", self.home.join("kubeconfig"))
            .output();
        match out {
            Ok(out) if out.status.success() => serde_json::from_slice::<Value>(&out.stdout)
                .ok()
                .and_then(|v| v["items"].as_array().map(Vec::len))
                .unwrap_or_else(|| panic!("kubectl get {resource}: no items in its output")),
            Ok(out) => panic!(
                "kubectl get {resource} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => panic!("kubectl get {resource}: {e}"),
        }
    }
}

fn kubectl_present() -> bool {
    matches!(
        Command::new("kubectl").args(["version", "--client"]).output(),
        Ok(out) if out.status.success()
    )
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    if !kubectl_present() {
        println!("SKIPPED http_backup_vs_kubectl: kubectl is not installed or does not run");
        println!("RESULT http_backup_vs_kubectl skipped=kubectl-absent");
        return;
    }
    let rounds: usize = std::env::var("CSDR_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if std::env::args().any(|a| a == "--bench") {
            3
        } else {
            1
        })
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
        let sim = SimCluster::new(KubeRelease::V1_16);
        let created = populate(&sim).await;
        let server = match ApiServer::start(sim.clone()).await {
            Ok(s) => s,
            Err(e) => panic!("API server: {e}"),
        };
        println!(
            "http_backup_vs_kubectl: SimCluster 1.16 with {} objects ({created} created, the rest by the simulator: PVs, default namespaces) at {}",
            sim.object_count(),
            server.url()
        );

        // What the backup lists: the engine's own selection over the server's discovery.
        let cluster = match KubeCluster::from_url(&server.url()) {
            Ok(c) => Arc::new(c),
            Err(e) => panic!("KubeCluster: {e}"),
        };
        let spec = BackupSpec::new("http-bench");
        let discovery = match cluster.discover().await {
            Ok(d) => d,
            Err(e) => panic!("discover: {e}"),
        };
        let namespaces: Vec<String> = match cluster
            .list_page(&GroupVersionResource::new("", "v1", "namespaces"), None, &ListOptions::default())
            .await
        {
            Ok(page) => page.items.iter().map(|ns| ns.name().to_string()).collect(),
            Err(e) => panic!("list namespaces: {e}"),
        };
        let selection = match BackupSelection::resolve(&spec, &discovery, &namespaces, DEFAULT_ENGINE_NAMESPACE) {
            Ok(s) => s,
            Err(e) => panic!("selection: {e}"),
        };
        let gvrs: Vec<GroupVersionResource> = selection
            .namespaced_resources()
            .chain(selection.wholesale_cluster_resources())
            .flat_map(|u| u.gvrs())
            .collect();
        println!(
            "the backup lists {} resource versions across {} namespaces (so across all namespaces, as `-A`)",
            gvrs.len(),
            selection.namespaces.len()
        );

        let home = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("temp dir: {e}"),
        };
        let kubectl = Kubectl { server: server.url(), home: home.path().to_path_buf() };
        let (mut engine_times, mut kubectl_times) = (Vec::new(), Vec::new());
        let mut engine_objects = 0;
        let mut kubectl_items = 0;
        for round in 0..rounds {
            let vault = match csdr_storage::open_url("bench", "memory://", &StorageOptions::default()).await {
                Ok(v) => Arc::new(v),
                Err(e) => panic!("vault: {e}"),
            };
            let engine = match Engine::builder().cluster(cluster.clone()).vault(vault).build() {
                Ok(e) => e,
                Err(e) => panic!("engine: {e}"),
            };
            let start = Instant::now();
            let report = engine.backup(spec.clone()).await;
            let engine_time = start.elapsed();
            if report.status.phase != JobPhase::Completed {
                panic!("backup: {:?} {:?} {:?}", report.status.phase, report.status.failure_reason, report.status.errors);
            }
            engine_objects = report.archive_entries;

            let cache = match tempfile::tempdir() {
                Ok(d) => d,
                Err(e) => panic!("temp dir: {e}"),
            };
            let start = Instant::now();
            let items = tokio::task::spawn_blocking({
                let (kubectl, gvrs, cache) = (kubectl.clone(), gvrs.clone(), cache.path().to_path_buf());
                move || gvrs.iter().map(|g| kubectl.get(&kubectl_resource(g), &cache)).sum::<usize>()
            })
            .await;
            let kubectl_time = start.elapsed();
            kubectl_items = match items {
                Ok(n) => n,
                Err(e) => panic!("kubectl runs: {e}"),
            };
            println!(
                "round {}: engine backup {engine_time:.2?} ({} objects, {} archive objects); kubectl x{} {kubectl_time:.2?} ({kubectl_items} items)",
                round + 1,
                report.status.progress.items_done,
                report.archive_entries,
                gvrs.len()
            );
            engine_times.push(engine_time);
            kubectl_times.push(kubectl_time);
        }
        let (engine, kubectl_time) = (median(engine_times), median(kubectl_times));
        println!(
            "objects the backup archived (every version, plus related PVs, classes and namespaces): {engine_objects}; items kubectl returned: {kubectl_items}"
        );
        println!(
            "kubectl: {:.0} ms per invocation on average (process start, discovery from its cache, one list)",
            kubectl_time.as_secs_f64() * 1000.0 / gvrs.len() as f64
        );
        let ratio = engine.as_secs_f64() / kubectl_time.as_secs_f64();
        println!(
            "RESULT http_backup_vs_kubectl measured={:.3}s baseline={:.3}s ratio={ratio:.3} goal=1.0 met={} rounds={rounds} resource_versions={}",
            engine.as_secs_f64(),
            kubectl_time.as_secs_f64(),
            ratio <= 1.0,
            gvrs.len()
        );
        if let Err(e) = server.shutdown().await {
            panic!("shutdown: {e}");
        }
    });
}
