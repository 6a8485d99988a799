//! File-system volume backups through the engine (D2–D5) with the simulator and
//! [`SimPodVolumeMover`]: the volume policy chooses per claim, NAS volumes are copied through
//! the pod that mounts them (or a short-lived pod on a node the node policy allows), each copy
//! is recorded in `<name>-podvolumebackups.json.gz`, and failures make the backup
//! PartiallyFailed with the FAQ's message.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

use std::sync::Arc;
use std::time::Duration;

use csdr_core::engine::{
    Engine, EngineOptions, HBR_PARTIALLY_COMPLETED, recorded_pod_volume_backups,
};
use csdr_core::model::{BackupSpec, JobPhase, RestoreSpec};
use csdr_core::object::{GroupVersionResource, KubeObject};
use csdr_core::ports::clock::ManualClock;
use csdr_core::ports::cluster::{Cluster, ListOptions};
use csdr_core::ports::pod_volume::PodVolumePhase;
use csdr_core::ports::snapshot::CsiSnapshotter;
use csdr_core::ports::vault::Vault;
use csdr_core::releases::KubeRelease;
use csdr_core::sim::{SimCluster, SimDocument};
use csdr_core::testing::SimPodVolumeMover;
use csdr_core::vault::{BlobVault, MemoryBlobStore, VaultIdentity, VaultOptions};
use futures::executor::block_on;

/// A shop with a disk claim `data` (a driver with a snapshot class) and a NAS claim
/// `uploads` (no snapshot class), both used by Deployment `web` whose pod `web-1` runs on
/// `node-a`; claim `archive` (NAS) is used by nobody. Node `node-0` is excluded from volume
/// jobs, `node-b` is not.
const SHOP: &str = r#"
apiVersion: v1
kind: Node
metadata:
  name: node-0
  labels: {csdr.alibabacloud.com/agent-excluded: "true"}
---
apiVersion: v1
kind: Node
metadata: {name: node-a}
---
apiVersion: v1
kind: Node
metadata: {name: node-b}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: alicloud-disk}
provisioner: diskplugin.csi.alibabacloud.com
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: alicloud-nas}
provisioner: nasplugin.csi.alibabacloud.com
---
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshotClass
metadata: {name: disk-snap}
driver: diskplugin.csi.alibabacloud.com
deletionPolicy: Delete
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: shop}
spec:
  storageClassName: alicloud-disk
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 20Gi}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: uploads, namespace: shop}
spec:
  storageClassName: alicloud-nas
  accessModes: [ReadWriteMany]
  resources: {requests: {storage: 50Gi}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: archive, namespace: shop}
spec:
  storageClassName: alicloud-nas
  accessModes: [ReadWriteMany]
  resources: {requests: {storage: 10Gi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "nginx:1.25"}]
      volumes:
      - {name: data, persistentVolumeClaim: {claimName: data}}
      - {name: files, persistentVolumeClaim: {claimName: uploads}}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop, labels: {app: web}}
spec:
  nodeName: node-a
  containers: [{name: web, image: "nginx:1.25"}]
  volumes:
  - {name: data, persistentVolumeClaim: {claimName: data}}
  - {name: files, persistentVolumeClaim: {claimName: uploads}}
"#;

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new("2026-11-24T04:00:00Z".parse().unwrap()))
}

fn shop(clock: &Arc<ManualClock>) -> SimCluster {
    let sim = SimCluster::new(KubeRelease::V1_28).with_clock(clock.clone());
    sim.load_documents(&[SimDocument {
        path: "cluster.yaml".into(),
        text: SHOP.into(),
    }])
    .unwrap();
    sim.write_volume("shop", "data", "orders: 42").unwrap();
    sim.write_volume("shop", "uploads", "cat.png bytes")
        .unwrap();
    sim.write_volume("shop", "archive", "2025 ledger").unwrap();
    sim
}

async fn vault(clock: &Arc<ManualClock>) -> Arc<dyn Vault> {
    let store = MemoryBlobStore::with_clock(clock.clone());
    let vault = BlobVault::open(
        VaultIdentity::new("unit", "memory://"),
        Arc::new(store),
        VaultOptions::default(),
    )
    .await
    .unwrap();
    Arc::new(vault)
}

fn engine(
    sim: &SimCluster,
    vault: &Arc<dyn Vault>,
    clock: &Arc<ManualClock>,
    mover: Option<&SimPodVolumeMover>,
) -> Engine {
    engine_reporting(sim, vault, clock, mover, true)
}

/// As [`engine`]; with `report_objects` off, the restore keeps its final objects in the spool
/// until they are applied, as the CLI's table output does (R13).
fn engine_reporting(
    sim: &SimCluster,
    vault: &Arc<dyn Vault>,
    clock: &Arc<ManualClock>,
    mover: Option<&SimPodVolumeMover>,
    report_objects: bool,
) -> Engine {
    let cluster: Arc<dyn Cluster> = Arc::new(sim.clone());
    let mut builder = Engine::builder()
        .cluster(cluster.clone())
        .vault(vault.clone())
        .clock(clock.clone())
        .timer(clock.clone())
        .snapshotter(Arc::new(CsiSnapshotter::new(cluster)))
        .options(EngineOptions {
            pvc_bind_wait: Duration::from_millis(50),
            restore_report_objects: report_objects,
            ..EngineOptions::default()
        });
    if let Some(mover) = mover {
        builder = builder.pod_volume_mover(Arc::new(mover.clone()));
    }
    builder.build().unwrap()
}

fn volume_backup(name: &str) -> BackupSpec {
    let mut spec = BackupSpec::new(name);
    spec.scope.included_namespaces = vec!["shop".into()];
    spec.backup_volumes = true;
    spec
}

async fn pod_names(sim: &SimCluster) -> Vec<String> {
    sim.list_page(
        &GroupVersionResource::new("", "v1", "pods"),
        Some("shop"),
        &ListOptions::default(),
    )
    .await
    .unwrap()
    .items
    .iter()
    .map(|p| p.name().to_string())
    .collect()
}

#[test]
fn disks_are_snapshotted_and_nas_volumes_backed_up_through_their_pod() {
    block_on(async {
        let clock = clock();
        let sim = shop(&clock);
        let vault = vault(&clock).await;
        let mover = SimPodVolumeMover::new(sim.clone());
        let report = engine(&sim, &vault, &clock, Some(&mover))
            .backup(volume_backup("b1"))
            .await;
        assert_eq!(
            report.status.phase,
            JobPhase::Completed,
            "{:?}",
            report.status
        );
        let snapshotted: Vec<_> = report
            .volume_snapshots
            .iter()
            .map(|r| r.pvc_name.as_str())
            .collect();
        assert_eq!(snapshotted, ["data"]);

        let requests = mover.backups();
        assert_eq!(requests.len(), 1, "{requests:?}");
        let request = &requests[0];
        assert_eq!(
            (request.pvc_name.as_str(), request.mount.pod_name.as_str()),
            ("uploads", "web-1")
        );
        assert_eq!(request.mount.node, "node-a");
        assert_eq!(request.mount.pod_volume, "files");
        assert_eq!(request.repository, "shop");
        assert_eq!(request.tags["backup"], "b1");
        assert_eq!(request.tags["pvc"], "uploads");
        assert_eq!(request.tags["ns"], "shop");
        assert_eq!(request.tags["pod"], "web-1");

        let companions = vault.backup_companions("b1").await.unwrap();
        let records = recorded_pod_volume_backups(&companions).unwrap();
        assert_eq!(records.len(), 1);
        let record = &records[0];
        assert_eq!(record.claim(), "shop/uploads");
        assert_eq!(record.phase, PodVolumePhase::Completed);
        assert!(!record.snapshot_id.is_empty());
        assert_eq!(record.bytes, "cat.png bytes".len() as u64);
        assert_eq!(record.node, "node-a");
        assert_eq!(record.pod_name, "web-1");
        assert!(!record.pv_name.is_empty());
        assert_eq!(report.pod_volume_backups, records);
    });
}

#[test]
fn a_failed_volume_makes_the_backup_partially_failed_naming_the_claim() {
    block_on(async {
        let clock = clock();
        let sim = shop(&clock);
        let vault = vault(&clock).await;
        let mover = SimPodVolumeMover::new(sim.clone());
        mover.fail_claim("shop", "uploads");
        let report = engine(&sim, &vault, &clock, Some(&mover))
            .backup(volume_backup("b1"))
            .await;
        assert_eq!(report.status.phase, JobPhase::PartiallyFailed);
        let reason = report.status.failure_reason.clone().unwrap_or_default();
        assert!(reason.contains(HBR_PARTIALLY_COMPLETED), "{reason}");
        let error = report
            .status
            .errors
            .iter()
            .map(|e| e.to_string())
            .find(|e| e.contains("shop/uploads"))
            .unwrap_or_else(|| panic!("no error names the claim: {:?}", report.status.errors));
        assert!(error.contains("web-1"), "{error}");
        assert!(error.contains("simulated failure"), "{error}");
        let companions = vault.backup_companions("b1").await.unwrap();
        let records = recorded_pod_volume_backups(&companions).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].phase, PodVolumePhase::Failed);
        assert!(records[0].message.contains("simulated failure"));
    });
}

#[test]
fn a_skip_policy_warns_naming_the_claim() {
    block_on(async {
        let clock = clock();
        let sim = shop(&clock);
        let vault = vault(&clock).await;
        let mover = SimPodVolumeMover::new(sim.clone());
        let mut spec = volume_backup("b1");
        spec.volume_policy = Some(
            "version: v1\nvolumePolicies:\n- conditions: {storageClass: [alicloud-nas]}\n  action: {type: skip}\n"
                .into(),
        );
        let report = engine(&sim, &vault, &clock, Some(&mover))
            .backup(spec)
            .await;
        assert_eq!(
            report.status.phase,
            JobPhase::Completed,
            "{:?}",
            report.status
        );
        assert!(mover.backups().is_empty());
        assert!(
            report
                .status
                .warnings
                .iter()
                .any(|w| w.to_string().contains("shop/uploads")
                    && w.to_string().contains("volume policy skips")),
            "{:?}",
            report.status.warnings
        );
        assert_eq!(report.volume_snapshots.len(), 1);
    });
}

#[test]
fn a_policy_asking_for_files_without_a_mover_warns_naming_the_claim() {
    block_on(async {
        let clock = clock();
        let sim = shop(&clock);
        let vault = vault(&clock).await;
        let mut spec = volume_backup("b1");
        spec.volume_policy = Some(
            "version: v1\nvolumePolicies:\n- conditions: {storageClass: [alicloud-nas]}\n  action: {type: fs-backup}\n"
                .into(),
        );
        let report = engine(&sim, &vault, &clock, None).backup(spec).await;
        assert!(
            report
                .status
                .warnings
                .iter()
                .any(|w| w.to_string().contains("shop/uploads")
                    && w.to_string().contains("no pod volume mover")),
            "{:?}",
            report.status.warnings
        );
    });
}

#[test]
fn an_unmounted_claim_is_read_through_a_temporary_pod_on_an_allowed_node() {
    block_on(async {
        let clock = clock();
        let sim = shop(&clock);
        let vault = vault(&clock).await;
        let mover = SimPodVolumeMover::new(sim.clone());
        let mut spec = BackupSpec::new("protect");
        spec.scope.included_namespaces = vec!["shop".into()];
        spec.included_volumes = vec!["shop/archive".into()];
        let report = engine(&sim, &vault, &clock, Some(&mover))
            .backup(spec)
            .await;
        assert_eq!(
            report.status.phase,
            JobPhase::Completed,
            "{:?}",
            report.status
        );
        let requests = mover.backups();
        assert_eq!(requests.len(), 1, "{requests:?}");
        let mount = &requests[0].mount;
        assert_ne!(mount.pod_name, "web-1");
        // node-0 comes first by name but is excluded; node-a is the first allowed.
        assert_eq!(mount.node, "node-a");
        assert_eq!(
            mover.seen_pods(),
            [(format!("shop/{}", mount.pod_name), true)]
        );
        assert_eq!(
            pod_names(&sim).await,
            ["web-1"],
            "the temporary pod is gone"
        );
        let records =
            recorded_pod_volume_backups(&vault.backup_companions("protect").await.unwrap())
                .unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].claim(), "shop/archive");
        assert_eq!(records[0].bytes, "2025 ledger".len() as u64);
    });
}

#[test]
fn the_temporary_pod_is_removed_when_the_copy_fails_and_excluded_nodes_are_never_used() {
    block_on(async {
        let clock = clock();
        let sim = shop(&clock);
        let vault = vault(&clock).await;
        let mover = SimPodVolumeMover::new(sim.clone());
        mover.fail_claim("shop", "archive");
        let mut spec = BackupSpec::new("protect");
        spec.scope.included_namespaces = vec!["shop".into()];
        spec.included_volumes = vec!["shop/archive".into()];
        let report = engine(&sim, &vault, &clock, Some(&mover))
            .backup(spec)
            .await;
        assert_eq!(report.status.phase, JobPhase::PartiallyFailed);
        assert!(mover.backups().iter().all(|r| r.mount.node != "node-0"));
        assert_eq!(pod_names(&sim).await, ["web-1"]);
        assert!(
            report
                .status
                .errors
                .iter()
                .any(|e| e.to_string().contains("shop/archive")),
            "{:?}",
            report.status.errors
        );
    });
}

/// Another cluster: a NAS class under another name, the disk class and snapshot class, and
/// two nodes, one excluded from volume jobs.
const TARGET: &str = r#"
apiVersion: v1
kind: Node
metadata:
  name: node-0
  labels: {csdr.alibabacloud.com/agent-excluded: "true"}
---
apiVersion: v1
kind: Node
metadata: {name: node-c}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: alicloud-disk}
provisioner: diskplugin.csi.alibabacloud.com
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: nas-new}
provisioner: nasplugin.csi.alibabacloud.com
---
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshotClass
metadata: {name: disk-snap}
driver: diskplugin.csi.alibabacloud.com
deletionPolicy: Delete
"#;

/// The target shares the source's snapshot storage (the same cloud account).
fn target(clock: &Arc<ManualClock>, source: &SimCluster) -> SimCluster {
    let sim = SimCluster::new(KubeRelease::V1_30)
        .with_clock(clock.clone())
        .with_snapshot_storage(source.snapshot_storage());
    sim.load_documents(&[SimDocument {
        path: "target.yaml".into(),
        text: TARGET.into(),
    }])
    .unwrap();
    sim
}

fn restore_spec(name: &str, backup: &str) -> RestoreSpec {
    let mut spec = RestoreSpec::new(name, backup);
    spec.storage_class_mapping = [("alicloud-nas".to_string(), "nas-new".to_string())].into();
    spec
}

async fn claim(sim: &SimCluster, ns: &str, name: &str) -> Option<KubeObject> {
    sim.get(
        &GroupVersionResource::new("", "v1", "persistentvolumeclaims"),
        Some(ns),
        name,
    )
    .await
    .unwrap()
}

#[test]
fn a_nas_claim_is_restored_elsewhere_with_its_files_before_its_deployment() {
    block_on(async {
        let clock = clock();
        let sim = shop(&clock);
        let vault = vault(&clock).await;
        let mover = SimPodVolumeMover::new(sim.clone());
        let backup = engine(&sim, &vault, &clock, Some(&mover))
            .backup(volume_backup("b1"))
            .await;
        assert_eq!(backup.status.phase, JobPhase::Completed, "{backup:?}");
        let source_pv = claim(&sim, "shop", "uploads")
            .await
            .unwrap()
            .pointer("/spec/volumeName")
            .unwrap()
            .clone();

        // The final objects held in the plan, then waiting in the spool (R13): either way the
        // Deployment waits for its claim's data.
        for (report_objects, name) in [(true, "r1"), (false, "r2")] {
            let other = target(&clock, &sim);
            let there = mover.on(other.clone());
            // Without the pod, nothing but the data restore holds the Deployment back.
            let mut spec = restore_spec(name, "b1");
            spec.scope.excluded_resources = vec!["pods".into()];
            let report = engine_reporting(&other, &vault, &clock, Some(&there), report_objects)
                .restore(spec)
                .await;
            assert_eq!(
                report.status.phase,
                JobPhase::Completed,
                "{:?}",
                report.status
            );
            let uploads = claim(&other, "shop", "uploads").await.unwrap();
            assert_eq!(
                uploads.pointer("/spec/storageClassName").unwrap(),
                "nas-new"
            );
            assert_ne!(uploads.pointer("/spec/volumeName"), Some(&source_pv));
            assert_eq!(
                other.read_volume("shop", "uploads").unwrap().as_deref(),
                Some("cat.png bytes")
            );
            // The mover's records are shared by both targets: this restore's own.
            let restores: Vec<_> = there
                .restores()
                .into_iter()
                .filter(|r| r.restore_name == name)
                .collect();
            assert_eq!(restores.len(), 1, "{restores:?}");
            assert_eq!(restores[0].mount.node, "node-c");
            assert!(!restores[0].velero);
            assert_eq!(
                there.deployments_at_restore().last(),
                Some(&("shop/uploads".to_string(), Vec::<String>::new())),
                "the Deployment waits for its claim's data (report_objects {report_objects})"
            );
            assert!(
                other
                    .get(
                        &GroupVersionResource::new("apps", "v1", "deployments"),
                        Some("shop"),
                        "web"
                    )
                    .await
                    .unwrap()
                    .is_some()
            );
            // The data restore's pod is gone.
            assert!(pod_names(&other).await.is_empty());
        }
    });
}

#[test]
fn a_failed_data_restore_names_the_claim() {
    block_on(async {
        let clock = clock();
        let sim = shop(&clock);
        let vault = vault(&clock).await;
        let mover = SimPodVolumeMover::new(sim.clone());
        engine(&sim, &vault, &clock, Some(&mover))
            .backup(volume_backup("b1"))
            .await;
        let other = target(&clock, &sim);
        let there = mover.on(other.clone());
        there.fail_claim("shop", "uploads");
        let report = engine(&other, &vault, &clock, Some(&there))
            .restore(restore_spec("r1", "b1"))
            .await;
        assert_eq!(report.status.phase, JobPhase::PartiallyFailed);
        assert!(
            report
                .status
                .errors
                .iter()
                .any(|e| e.to_string().contains("shop/uploads")
                    && e.to_string().contains("simulated failure")),
            "{:?}",
            report.status.errors
        );
        assert_eq!(pod_names(&other).await, ["web-1"]);
    });
}

#[test]
fn without_a_mover_the_restore_warns_naming_the_claim_restored_empty() {
    block_on(async {
        let clock = clock();
        let sim = shop(&clock);
        let vault = vault(&clock).await;
        let mover = SimPodVolumeMover::new(sim.clone());
        engine(&sim, &vault, &clock, Some(&mover))
            .backup(volume_backup("b1"))
            .await;
        let other = target(&clock, &sim);
        let report = engine(&other, &vault, &clock, None)
            .restore(restore_spec("r1", "b1"))
            .await;
        assert_eq!(
            report.status.phase,
            JobPhase::Completed,
            "{:?}",
            report.status
        );
        assert!(
            report
                .status
                .warnings
                .iter()
                .any(|w| w.to_string().contains("shop/uploads")
                    && w.to_string().contains("no pod volume mover")),
            "{:?}",
            report.status.warnings
        );
        assert_eq!(other.read_volume("shop", "uploads").unwrap(), None);
    });
}

#[test]
fn one_unmounted_claim_is_restored_alone_under_a_new_name_with_its_files() {
    block_on(async {
        let clock = clock();
        let sim = shop(&clock);
        let vault = vault(&clock).await;
        let mover = SimPodVolumeMover::new(sim.clone());
        let mut spec = BackupSpec::new("protect");
        spec.scope.included_namespaces = vec!["shop".into()];
        spec.included_volumes = vec!["shop/archive".into()];
        let backup = engine(&sim, &vault, &clock, Some(&mover))
            .backup(spec)
            .await;
        assert_eq!(
            backup.status.phase,
            JobPhase::Completed,
            "{:?}",
            backup.status
        );

        let other = target(&clock, &sim);
        let there = mover.on(other.clone());
        let mut restore = restore_spec("one", "protect");
        restore.included_volumes = vec!["shop/archive=vault/archive-2".parse().unwrap()];
        let report = engine(&other, &vault, &clock, Some(&there))
            .restore(restore)
            .await;
        assert_eq!(
            report.status.phase,
            JobPhase::Completed,
            "{:?}",
            report.status
        );
        let made = claim(&other, "vault", "archive-2").await.unwrap();
        assert_eq!(made.pointer("/spec/storageClassName").unwrap(), "nas-new");
        assert_eq!(made.pointer("/spec/dataSource"), None);
        assert_eq!(
            other.read_volume("vault", "archive-2").unwrap().as_deref(),
            Some("2025 ledger")
        );
        let restores = there.restores();
        assert_eq!(restores.len(), 1);
        assert_eq!(restores[0].mount.node, "node-c");
        assert!(
            there.seen_pods().iter().all(|(_, existed)| *existed),
            "{:?}",
            there.seen_pods()
        );
        // Only the claim: nothing else of the backup, and no pod left behind.
        assert_eq!(claim(&other, "shop", "uploads").await, None);
        let pods = other
            .list_page(
                &GroupVersionResource::new("", "v1", "pods"),
                Some("vault"),
                &ListOptions::default(),
            )
            .await
            .unwrap();
        assert!(pods.items.is_empty());
    });
}

/// A short-lived volume pod labelled for `job`, made now by the simulator's clock.
async fn leftover_pod(sim: &SimCluster, name: &str, job: &str) {
    let pod = KubeObject::new(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop",
                     "labels": {csdr_core::engine::VOLUME_POD_LABEL: job}},
        "spec": {"nodeName": "node-b", "containers": [{"name": "hold", "image": "pause"}]},
    }))
    .unwrap();
    sim.create(&GroupVersionResource::new("", "v1", "pods"), &pod)
        .await
        .unwrap();
}

#[test]
fn gc_removes_volume_pods_of_finished_or_crashed_jobs_and_keeps_running_ones() {
    block_on(async {
        let clock = clock();
        let sim = shop(&clock);
        let vault = vault(&clock).await;
        let mover = SimPodVolumeMover::new(sim.clone());
        // A pod a crashed first run of b1 left, then b1 runs to the end.
        leftover_pod(&sim, "csdr-volume-old", "backup-b1").await;
        leftover_pod(&sim, "csdr-volume-lost", "backup-b2").await;
        clock.advance(Duration::from_secs(60));
        let report = engine(&sim, &vault, &clock, Some(&mover))
            .backup(volume_backup("b1"))
            .await;
        assert_eq!(report.status.phase, JobPhase::Completed);
        // A restore that is still running has its pod.
        clock.advance(Duration::from_secs(60));
        leftover_pod(&sim, "csdr-volume-busy", "restore-r9").await;

        let engine = engine(&sim, &vault, &clock, Some(&mover));
        let gc = engine.gc().await.unwrap();
        assert_eq!(gc.volume_pods_deleted, ["shop/csdr-volume-old"]);
        let mut left = pod_names(&sim).await;
        left.sort();
        assert_eq!(left, ["csdr-volume-busy", "csdr-volume-lost", "web-1"]);

        // Past the orphan grace period, pods of jobs that never finished go too.
        clock.advance(engine.options().orphan_grace);
        let gc = engine.gc().await.unwrap();
        let mut deleted = gc.volume_pods_deleted.clone();
        deleted.sort();
        assert_eq!(deleted, ["shop/csdr-volume-busy", "shop/csdr-volume-lost"]);
        assert_eq!(pod_names(&sim).await, ["web-1"]);
    });
}
