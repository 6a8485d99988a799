//! Peak memory of backing up 1,000,000 objects (issue 5, issue 7, DESIGN §7).
//!
//! A plain harness binary (`harness = false`, no criterion): it fills a `SimCluster` (1.28)
//! through `Cluster::create` with mostly small ConfigMaps across five namespaces plus some
//! Deployments and Services, backs them all up with the engine into a `file://` vault in a
//! temporary folder, and reports from `/proc/self/status`:
//! - the RSS after populating the cluster (the simulated cluster holds every object in memory,
//!   so this is the baseline, not the backup's cost);
//! - the backup's own peak: `VmHWM` is reset by writing `5` to `/proc/self/clear_refs` just
//!   before the backup (checked: if the kernel does not reset it, the growth over the
//!   pre-backup RSS is reported instead), and the backup's peak is `VmHWM` minus the
//!   pre-backup RSS;
//! - a sampled RSS timeline, the RSS when the last object was archived, the time, objects/s
//!   and the size of what the vault holds.
//!
//! `CSDR_BENCH_OBJECTS` sets the object count (default 1,000,000 under `cargo bench`; 2,000
//! when run without `--bench`, as `cargo test --benches` does, so that is a quick smoke test).
//!
//! Run: `cargo bench --bench backup_rss` (or `CSDR_BENCH_OBJECTS=100000 cargo bench …`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use csdr_core::engine::{Engine, ProgressEvent};
use csdr_core::model::{BackupSpec, JobPhase};
use csdr_core::object::{GroupVersionResource, KubeObject};
use csdr_core::ports::cluster::Cluster;
use csdr_core::releases::KubeRelease;
use csdr_core::sim::SimCluster;
use csdr_storage::StorageOptions;
use serde_json::json;

#[path = "support/rss.rs"]
mod rss;
use rss::*;

const DEFAULT_OBJECTS: usize = 1_000_000;

/// Bytes of every file under `dir`, by file name suffix of interest.
fn vault_files(dir: &std::path::Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(meta) = e.metadata() {
                let rel = path.strip_prefix(dir).unwrap_or(&path);
                out.push((rel.display().to_string(), meta.len()));
            }
        }
    }
    out.sort();
    out
}

fn main() {
    let count: usize = std::env::var("CSDR_BENCH_OBJECTS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(if std::env::args().any(|a| a == "--bench") {
            DEFAULT_OBJECTS
        } else {
            2_000
        });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("tokio runtime: {e}"),
    };
    println!("backup_rss: {count} objects, {NAMESPACES} namespaces, SimCluster 1.28");
    let start_rss = status_bytes("VmRSS");

    // 1. Populate the simulated cluster.
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
        let mut last_report = Instant::now();
        for i in 0..count {
            let (gvr, obj) = object(i);
            if let Err(e) = sim.create(&gvr, &obj).await {
                panic!("create object {i}: {e}");
            }
            if last_report.elapsed() > Duration::from_secs(15) {
                println!("  populated {i} objects in {:.0?}", started.elapsed());
                last_report = Instant::now();
            }
        }
    });
    let populate = started.elapsed();
    let loaded_rss = status_bytes("VmRSS");
    println!(
        "populate: {count} objects through Cluster::create in {populate:.2?} ({:.0} objects/s); VmRSS {:.0} MiB (+{:.0} MiB for the cluster), VmHWM {:.0} MiB",
        count as f64 / populate.as_secs_f64(),
        mib(loaded_rss),
        mib(loaded_rss.saturating_sub(start_rss)),
        mib(status_bytes("VmHWM")),
    );

    // 2. Back up into a file:// vault.
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("temp dir: {e}"),
    };
    let url = format!("file://{}", dir.path().display());
    let reset = reset_high_water_mark();
    println!(
        "VmHWM reset by /proc/self/clear_refs: {}",
        if reset {
            "yes"
        } else {
            "no (reporting growth over the pre-backup RSS)"
        }
    );
    let before_rss = status_bytes("VmRSS");
    println!(
        "before the backup: VmRSS {:.0} MiB, VmHWM {:.0} MiB",
        mib(status_bytes("VmRSS")),
        mib(status_bytes("VmHWM"))
    );

    // Sample RSS every 50 ms; note the RSS when the last object was archived.
    let stop = Arc::new(AtomicBool::new(false));
    let samples: Arc<Mutex<Vec<(Duration, u64)>>> = Arc::default();
    let backup_start = Instant::now();
    let sampler = {
        let (stop, samples) = (stop.clone(), samples.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let rss = status_bytes("VmRSS");
                if let Ok(mut s) = samples.lock() {
                    s.push((backup_start.elapsed(), rss));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let done_objects = Arc::new(AtomicU64::new(0));
    let last_item_rss = Arc::new(AtomicU64::new(0));
    let last_item_ms = Arc::new(AtomicU64::new(0));
    let progress = {
        let (done_objects, last_item_rss, last_item_ms) = (
            done_objects.clone(),
            last_item_rss.clone(),
            last_item_ms.clone(),
        );
        Arc::new(move |event: &ProgressEvent| {
            if let ProgressEvent::Items { done, .. } = event {
                done_objects.store(*done, Ordering::Relaxed);
                // Read RSS only near the end, so that the callback stays cheap.
                if *done + 100 >= count as u64 {
                    last_item_rss.store(status_bytes("VmRSS"), Ordering::Relaxed);
                    last_item_ms
                        .store(backup_start.elapsed().as_millis() as u64, Ordering::Relaxed);
                }
            }
        })
    };
    let report = runtime.block_on(async {
        let vault = match csdr_storage::open_url("bench", &url, &StorageOptions::default()).await {
            Ok(v) => v,
            Err(e) => panic!("vault {url}: {e}"),
        };
        let engine = match Engine::builder()
            .cluster(Arc::new(sim.clone()))
            .vault(Arc::new(vault))
            .progress(progress)
            .build()
        {
            Ok(e) => e,
            Err(e) => panic!("engine: {e}"),
        };
        let mut spec = BackupSpec::new("rss-bench");
        spec.scope.included_namespaces = (0..NAMESPACES).map(|n| format!("team-{n}")).collect();
        engine.backup(spec).await
    });
    let elapsed = backup_start.elapsed();
    let hwm = status_bytes("VmHWM");
    let after_rss = status_bytes("VmRSS");
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();

    if report.status.phase != JobPhase::Completed {
        panic!(
            "the backup did not complete: {:?} {:?} {:?}",
            report.status.phase, report.status.failure_reason, report.status.errors
        );
    }
    let backed_up = report.status.progress.items_done;
    let files = vault_files(dir.path());
    let total_size: u64 = files.iter().map(|(_, s)| s).sum();
    // Without a reset, VmHWM may still hold the populate phase's peak: then this overstates.
    let peak = hwm.saturating_sub(before_rss);
    let sampled_peak = samples
        .lock()
        .map(|s| s.iter().map(|(_, r)| *r).max().unwrap_or(0))
        .unwrap_or(0);
    println!(
        "backup: {backed_up} objects ({} archive entries) in {elapsed:.2?} ({:.0} objects/s)",
        report.archive_entries,
        backed_up as f64 / elapsed.as_secs_f64()
    );
    println!("vault files ({:.1} MiB in all):", mib(total_size));
    for (name, size) in &files {
        println!("  {name:<90} {:>10.2} MiB", mib(*size));
    }
    println!("RSS timeline during the backup (VmRSS minus the pre-backup RSS):");
    if let Ok(samples) = samples.lock() {
        let step = (samples.len() / 12).max(1);
        for (t, rss) in samples.iter().step_by(step) {
            println!(
                "  {:>7.1}s {:>8.0} MiB",
                t.as_secs_f64(),
                mib(rss.saturating_sub(before_rss)) as i64
            );
        }
    }
    let last_rss = last_item_rss.load(Ordering::Relaxed);
    if last_rss > 0 {
        println!(
            "when the last object was archived ({:.1}s): {:.0} MiB over the pre-backup RSS",
            last_item_ms.load(Ordering::Relaxed) as f64 / 1000.0,
            mib(last_rss.saturating_sub(before_rss))
        );
    }
    println!(
        "memory: VmRSS before start {:.0} MiB; after populating {:.0} MiB; before the backup {:.0} MiB; VmHWM during the backup {:.0} MiB; VmRSS after {:.0} MiB",
        mib(start_rss),
        mib(loaded_rss),
        mib(before_rss),
        mib(hwm),
        mib(after_rss)
    );
    println!(
        "largest sampled VmRSS during the backup: {:.0} MiB over the pre-backup RSS",
        mib(sampled_peak.saturating_sub(before_rss))
    );
    let peak_mib = mib(peak);
    println!(
        "RESULT backup_rss objects={backed_up} measured={peak_mib:.0}MiB baseline_cluster_rss={:.0}MiB goal=128MiB met={} seconds={:.1} objects_per_s={:.0} vault_mib={:.1} populate_s={:.1}",
        mib(before_rss),
        peak_mib <= 128.0,
        elapsed.as_secs_f64(),
        backed_up as f64 / elapsed.as_secs_f64(),
        mib(total_size),
        populate.as_secs_f64(),
    );
    drop(dir);
}
