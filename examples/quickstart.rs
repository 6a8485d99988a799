//! The quickstart: back up an application from a simulated Kubernetes 1.16 cluster into a
//! vault on the local file system, and restore it into a simulated Kubernetes 1.28 cluster
//! with an image registry mapping. No setup, no cluster, no cloud account.
//!
//! ```sh
//! cargo run --release --example quickstart
//! ```
//!
//! The vault lives in `./csdr-quickstart/vault` (recreated on every run). The program prints
//! what happened — phases, counts, each API version choice and migration, each transformation,
//! every warning — and exits 0 only if the restore completed.

use std::process::ExitCode;
use std::sync::Arc;

use csdr::core::engine::Engine;
use csdr::core::model::{BackupSpec, JobPhase, RestoreSpec};
use csdr::core::plan::PlanStep;
use csdr::core::ports::vault::Vault;
use csdr::core::releases::KubeRelease;
use csdr::core::sim::{SimCluster, SimDocument};
use csdr::storage::StorageOptions;

const APP: &str = include_str!("csdr/cluster-116/shop.yaml");
const TARGET_STORAGE: &str = include_str!("data/target-storage.yaml");

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("quickstart failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<ExitCode, Box<dyn std::error::Error>> {
    // 1. A Kubernetes 1.16 cluster holding the shop application.
    let source = SimCluster::new(KubeRelease::V1_16);
    let loaded = source.load_documents(&[SimDocument {
        path: "examples/csdr/cluster-116/shop.yaml".into(),
        text: APP.into(),
    }])?;
    println!(
        "source: simulated Kubernetes 1.16 with {loaded} objects from examples/csdr/cluster-116/shop.yaml"
    );

    // 2. A vault on the local file system.
    let dir = std::env::current_dir()?
        .join("csdr-quickstart")
        .join("vault");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let url = format!("file://{}", dir.display());
    let vault: Arc<dyn Vault> =
        Arc::new(csdr::storage::open_url("quickstart", &url, &StorageOptions::default()).await?);
    println!("vault:  {url}\n");

    // 3. Back up the `shop` namespace: every API version 1.16 serves is captured.
    let backup_engine = Engine::builder()
        .cluster(Arc::new(source))
        .vault(vault.clone())
        .build()?;
    let mut backup = BackupSpec::new("shop-backup");
    backup.scope.included_namespaces = vec!["shop".into()];
    let report = backup_engine.backup(backup).await;
    println!("backup {}: {}", report.name, report.status.phase);
    if let Some(reason) = &report.status.failure_reason {
        println!("  reason: {reason}");
        return Ok(ExitCode::FAILURE);
    }
    // The names are in the backup's resource list, stored beside the tarball.
    let stored = vault.backup_companions(&report.name).await?;
    for (kind, names) in &stored.resource_list {
        println!("  {kind:<40} {}", names.join(", "));
    }
    println!(
        "  {} objects, {} archive entries (each object at every served version)",
        report.status.progress.items_done, report.archive_entries
    );
    print_issues(&report.status.warnings, &report.status.errors);

    // 4. Restore into Kubernetes 1.28 (two zones, Alibaba Cloud disk classes), moving images
    //    from Docker Hub to a private registry.
    let target = SimCluster::new(KubeRelease::V1_28);
    target.load_documents(&[SimDocument {
        path: "examples/data/target-storage.yaml".into(),
        text: TARGET_STORAGE.into(),
    }])?;
    target.add_node("node-a", "cn-hangzhou-a")?;
    target.add_node("node-b", "cn-hangzhou-b")?;
    let restore_engine = Engine::builder()
        .cluster(Arc::new(target))
        .vault(vault)
        .build()?;
    let mut restore = RestoreSpec::new("shop-restore", "shop-backup");
    restore.image_registry_mapping.insert(
        "docker.io/library/".into(),
        "registry.cn-beijing.aliyuncs.com/my-registry/".into(),
    );
    let report = restore_engine.restore(restore).await;
    println!(
        "\nrestore {} into simulated Kubernetes 1.28: {}",
        report.name, report.status.phase
    );
    if let Some(reason) = &report.status.failure_reason {
        println!("  reason: {reason}");
        return Ok(ExitCode::FAILURE);
    }
    for step in &report.plan.steps {
        match step {
            PlanStep::Create(c) => {
                let version = c
                    .version
                    .as_ref()
                    .map(|v| v.reason.clone())
                    .unwrap_or_else(|| "created by the restore".into());
                println!(
                    "  {:<45} {}",
                    c.object.describe(),
                    c.resource.group_version()
                );
                println!("      version: {version}");
                if !c.transformations.is_empty() {
                    println!("      transformations: {}", c.transformations.join(", "));
                }
            }
            PlanStep::CreateSpooled(c) => println!(
                "  {:<45} {} (read back from the spool)",
                c.object.describe(),
                c.resource.group_version()
            ),
            PlanStep::WaitEstablished { crd } => println!("  wait for CRD {crd} to be Established"),
            PlanStep::RefreshDiscovery => println!("  refresh discovery"),
        }
    }
    for (object, reason) in &report.plan.skipped {
        println!("  skipped {object}: {reason}");
    }
    println!(
        "  {} created, {} already there, {} patched",
        report.counts.created, report.counts.existing, report.counts.patched
    );
    print_issues(&report.status.warnings, &report.status.errors);

    Ok(if report.status.phase == JobPhase::Completed {
        println!("\nThe restore completed.");
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_issues(warnings: &[csdr::core::model::Issue], errors: &[csdr::core::model::Issue]) {
    for w in warnings {
        println!("  warning: {w}");
    }
    for e in errors {
        println!("  error: {e}");
    }
}
