//! Volume snapshots through the engine with the simulator's CSI snapshot controller (B6, D5,
//! §9): retained snapshots survive the namespace and the cluster, expire and are deleted with
//! their backup, never outlive a failed backup, are never reused by a rerun, are taken for a
//! Deployment's claims when pods are excluded, and restore a claim alone.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use csdr_core::discovery::Discovery;
use csdr_core::engine::{Engine, EngineOptions};
use csdr_core::model::{BackupSpec, JobPhase, RestoreSpec, VolumeRestore};
use csdr_core::object::{GroupVersionResource, KubeObject};
use csdr_core::ports::clock::ManualClock;
use csdr_core::ports::cluster::{Cluster, ClusterError, ListOptions, ObjectPage, WaitCondition};
use csdr_core::ports::snapshot::{
    CsiSnapshotter, SnapshotError, SnapshotRequest, VolumeSnapshotter,
};
use csdr_core::ports::vault::Vault;
use csdr_core::releases::KubeRelease;
use csdr_core::sim::{SimCluster, SimDocument, SnapshotBehaviour, SnapshotFailure};
use csdr_core::vault::{BlobVault, MemoryBlobStore, VaultIdentity, VaultOptions};
use futures::executor::block_on;
use serde_json::Value;

const DRIVER: &str = "diskplugin.csi.alibabacloud.com";

/// A shop: a CSI StorageClass, a snapshot class whose policy is Delete (csdr must retain),
/// claims `data` (used by Deployment `web`) and `logs` (used by nobody), and StatefulSet `db`
/// whose claim template makes `www-db-0`.
const SHOP: &str = r#"
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: alicloud-disk}
provisioner: diskplugin.csi.alibabacloud.com
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
metadata: {name: logs, namespace: shop}
spec:
  storageClassName: alicloud-disk
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 30Gi}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: www-db-0, namespace: shop}
spec:
  storageClassName: alicloud-disk
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 40Gi}}
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
      volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  replicas: 1
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: "mysql:8"}]
  volumeClaimTemplates:
  - metadata: {name: www}
    spec:
      accessModes: [ReadWriteOnce]
      storageClassName: alicloud-disk
      resources: {requests: {storage: 40Gi}}
"#;

/// The destination of a cross-cluster restore: the same StorageClass and snapshot class.
const TARGET: &str = r#"
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: alicloud-disk}
provisioner: diskplugin.csi.alibabacloud.com
---
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshotClass
metadata: {name: disk-snap}
driver: diskplugin.csi.alibabacloud.com
deletionPolicy: Delete
"#;

fn cluster(text: &str, clock: &Arc<ManualClock>) -> SimCluster {
    let sim = SimCluster::new(KubeRelease::V1_28).with_clock(clock.clone());
    sim.load_documents(&[SimDocument {
        path: "cluster.yaml".into(),
        text: text.into(),
    }])
    .unwrap();
    sim
}

fn shop(clock: &Arc<ManualClock>) -> SimCluster {
    let sim = cluster(SHOP, clock);
    sim.write_volume("shop", "data", "orders: 42").unwrap();
    sim.write_volume("shop", "logs", "GET /cart").unwrap();
    sim
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new("2026-11-24T04:00:00Z".parse().unwrap()))
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

fn options() -> EngineOptions {
    EngineOptions {
        pvc_bind_wait: Duration::from_millis(50),
        ..EngineOptions::default()
    }
}

/// An engine on `cluster`, with a CSI snapshotter on it unless `snapshots` is false.
fn engine_on(
    cluster: Arc<dyn Cluster>,
    vault: &Arc<dyn Vault>,
    clock: &Arc<ManualClock>,
    snapshots: bool,
    options: EngineOptions,
) -> Engine {
    let mut builder = Engine::builder()
        .cluster(cluster.clone())
        .vault(vault.clone())
        .clock(clock.clone())
        .timer(clock.clone())
        .options(options);
    if snapshots {
        builder = builder.snapshotter(Arc::new(CsiSnapshotter::new(cluster)));
    }
    builder.build().unwrap()
}

fn engine(sim: &SimCluster, vault: &Arc<dyn Vault>, clock: &Arc<ManualClock>) -> Engine {
    engine_on(Arc::new(sim.clone()), vault, clock, true, options())
}

fn volume_backup(name: &str) -> BackupSpec {
    let mut spec = BackupSpec::new(name);
    spec.scope.included_namespaces = vec!["shop".into()];
    spec.backup_volumes = true;
    spec
}

fn snap(resource: &str) -> GroupVersionResource {
    GroupVersionResource::new("snapshot.storage.k8s.io", "v1", resource)
}

async fn all(sim: &SimCluster, resource: &str) -> Vec<KubeObject> {
    sim.list_page(&snap(resource), None, &ListOptions::default())
        .await
        .unwrap()
        .items
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

fn text<'a>(obj: &'a KubeObject, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

#[test]
fn a_backup_with_volumes_survives_the_namespace_and_restores_the_data() {
    block_on(async {
        let clock = clock();
        let vault = vault(&clock).await;
        let sim = shop(&clock);
        sim.set_snapshot_behaviour(SnapshotBehaviour {
            ready_after: Duration::from_secs(120),
            failures: vec![],
        });
        let report = engine(&sim, &vault, &clock)
            .backup(volume_backup("b1"))
            .await;
        assert_eq!(
            report.status.phase,
            JobPhase::Completed,
            "{:#?}",
            report.status
        );
        let claims: Vec<&str> = report
            .volume_snapshots
            .iter()
            .map(|r| r.pvc_name.as_str())
            .collect();
        assert_eq!(claims, ["data", "www-db-0"], "the claims the workloads use");
        // Retained and recorded in Velero's layout with the content's identity.
        let companions = vault.backup_companions("b1").await.unwrap();
        assert_eq!(companions.csi_volume_snapshot_contents.len(), 2);
        let content = &companions.csi_volume_snapshot_contents[0];
        assert_eq!(text(content, "/spec/deletionPolicy"), "Retain");
        assert_eq!(text(content, "/spec/driver"), DRIVER);
        assert_eq!(text(content, "/spec/volumeSnapshotClassName"), "disk-snap");
        assert!(text(content, "/status/snapshotHandle").starts_with("snap-"));
        assert_eq!(text(content, "/status/restoreSize"), "20Gi");
        assert_eq!(content.annotation("csdr.io/source-pvc"), Some("shop/data"));
        assert!(content.annotation("csdr.io/source-pv").is_some());
        assert_eq!(companions.csi_volume_snapshots.len(), 2);

        // The disaster: the namespace goes, its VolumeSnapshots with it; the data stays.
        sim.delete(
            &GroupVersionResource::new("", "v1", "namespaces"),
            None,
            "shop",
        )
        .await
        .unwrap();
        assert!(claim(&sim, "shop", "data").await.is_none());
        assert_eq!(sim.snapshot_storage().len(), 2);

        let restore = engine(&sim, &vault, &clock)
            .restore(RestoreSpec::new("r1", "b1"))
            .await;
        assert_eq!(
            restore.status.phase,
            JobPhase::Completed,
            "{:#?}",
            restore.status
        );
        let data = claim(&sim, "shop", "data").await.unwrap();
        assert_eq!(text(&data, "/status/phase"), "Bound");
        assert_eq!(text(&data, "/spec/dataSource/kind"), "VolumeSnapshot");
        assert_eq!(
            sim.read_volume("shop", "data").unwrap().as_deref(),
            Some("orders: 42"),
            "the restored claim holds the backed-up data"
        );
    })
}

#[test]
fn a_retained_snapshot_restores_into_another_cluster_by_its_handle() {
    block_on(async {
        let clock = clock();
        let vault = vault(&clock).await;
        let source = shop(&clock);
        let report = engine(&source, &vault, &clock)
            .backup(volume_backup("b1"))
            .await;
        assert_eq!(
            report.status.phase,
            JobPhase::Completed,
            "{:#?}",
            report.status
        );
        // The whole source cluster is lost; the cloud's snapshots are not.
        let target = cluster(TARGET, &clock).with_snapshot_storage(source.snapshot_storage());
        drop(source);
        let restore = engine(&target, &vault, &clock)
            .restore(RestoreSpec::new("r1", "b1"))
            .await;
        assert_eq!(
            restore.status.phase,
            JobPhase::Completed,
            "{:#?}",
            restore.status
        );
        assert_eq!(
            target.read_volume("shop", "data").unwrap().as_deref(),
            Some("orders: 42")
        );
        let contents = all(&target, "volumesnapshotcontents").await;
        assert!(
            contents
                .iter()
                .all(|c| c.pointer("/spec/source/snapshotHandle").is_some()),
            "pre-provisioned from the recorded handles: {contents:#?}"
        );
    })
}

#[test]
fn expiry_and_gc_remove_the_snapshots_with_the_backup() {
    block_on(async {
        let clock = clock();
        let vault = vault(&clock).await;
        let sim = shop(&clock);
        let engine = engine(&sim, &vault, &clock);
        let mut spec = volume_backup("short");
        spec.ttl = Duration::from_secs(24 * 3600);
        let report = engine.backup(spec).await;
        assert_eq!(
            report.status.phase,
            JobPhase::Completed,
            "{:#?}",
            report.status
        );
        assert_eq!(sim.snapshot_storage().len(), 2);

        let early = engine.gc().await.unwrap();
        assert!(early.expired.is_empty() && early.snapshots_deleted.is_empty());
        assert_eq!(sim.snapshot_storage().len(), 2);

        clock.advance(Duration::from_secs(2 * 24 * 3600));
        let gc = engine.gc().await.unwrap();
        assert_eq!(gc.expired, ["short"]);
        assert_eq!(gc.snapshots_deleted.len(), 2, "{gc:#?}");
        assert!(gc.failed.is_empty(), "{gc:#?}");
        assert!(
            sim.snapshot_storage().is_empty(),
            "the cloud snapshots are gone"
        );
        assert!(all(&sim, "volumesnapshots").await.is_empty());
        assert!(all(&sim, "volumesnapshotcontents").await.is_empty());
    })
}

#[test]
fn deleting_a_backup_deletes_its_snapshots_or_lists_those_it_leaves() {
    block_on(async {
        let clock = clock();
        let vault = vault(&clock).await;
        let sim = shop(&clock);
        for name in ["kept", "gone"] {
            let report = engine(&sim, &vault, &clock)
                .backup(volume_backup(name))
                .await;
            assert_eq!(
                report.status.phase,
                JobPhase::Completed,
                "{:#?}",
                report.status
            );
        }
        assert_eq!(sim.snapshot_storage().len(), 4);
        // Without a cluster (no snapshotter) the snapshots are left and listed.
        let blind = engine_on(Arc::new(sim.clone()), &vault, &clock, false, options());
        let cleanup = blind.delete_backup_and_snapshots("kept").await.unwrap();
        assert!(cleanup.deleted.is_empty());
        let left: Vec<&str> = cleanup.left.iter().map(|r| r.pvc_name.as_str()).collect();
        assert_eq!(left, ["data", "www-db-0"]);
        assert_eq!(sim.snapshot_storage().len(), 4);
        // With one, they go first, then the backup.
        engine(&sim, &vault, &clock)
            .delete_backup("gone")
            .await
            .unwrap();
        assert!(vault.backup_record("gone").await.unwrap().is_none());
        assert_eq!(sim.snapshot_storage().len(), 2);
        let handles = sim.snapshot_storage().handles();
        for r in &cleanup.left {
            assert!(handles.contains(&r.snapshot_handle));
        }
    })
}

#[test]
fn a_failed_snapshot_is_an_error_naming_the_claim_and_is_not_kept() {
    block_on(async {
        let clock = clock();
        let vault = vault(&clock).await;
        let sim = shop(&clock);
        sim.set_snapshot_behaviour(SnapshotBehaviour {
            ready_after: Duration::ZERO,
            failures: vec![SnapshotFailure {
                claim: Some("shop/data".into()),
                message: "ecs:CreateSnapshot is not permitted".into(),
            }],
        });
        let report = engine(&sim, &vault, &clock)
            .backup(volume_backup("b1"))
            .await;
        assert_eq!(report.status.phase, JobPhase::PartiallyFailed);
        let error = report.status.errors[0].to_string();
        assert!(
            error.contains("shop/data") && error.contains("ecs:CreateSnapshot is not permitted"),
            "{error}"
        );
        let names: Vec<String> = all(&sim, "volumesnapshots")
            .await
            .iter()
            .map(|v| v.name().to_string())
            .collect();
        assert_eq!(names.len(), 1, "only www-db-0's snapshot stays: {names:?}");
        assert!(names[0].starts_with("www-db-0-b1-"));
    })
}

/// A cluster whose VolumeSnapshots never become ready while waited for: the wait hangs as a
/// real one does, so the backup's own time limit ends it.
struct Hanging(SimCluster);

#[async_trait]
impl Cluster for Hanging {
    async fn discover(&self) -> Result<Discovery, ClusterError> {
        self.0.discover().await
    }
    async fn list_page(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        options: &ListOptions,
    ) -> Result<ObjectPage, ClusterError> {
        self.0.list_page(gvr, namespace, options).await
    }
    async fn get(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<KubeObject>, ClusterError> {
        self.0.get(gvr, namespace, name).await
    }
    async fn create(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<KubeObject, ClusterError> {
        self.0.create(gvr, object).await
    }
    async fn update(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<KubeObject, ClusterError> {
        self.0.update(gvr, object).await
    }
    async fn patch_merge(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> Result<KubeObject, ClusterError> {
        self.0.patch_merge(gvr, namespace, name, patch).await
    }
    async fn delete(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(), ClusterError> {
        self.0.delete(gvr, namespace, name).await
    }
    async fn wait_for(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
        condition: WaitCondition,
        timeout: Duration,
    ) -> Result<KubeObject, ClusterError> {
        if gvr.resource == "volumesnapshots" {
            futures::future::pending::<()>().await;
        }
        self.0
            .wait_for(gvr, namespace, name, condition, timeout)
            .await
    }
}

#[test]
fn a_timed_out_backup_leaves_no_snapshot() {
    block_on(async {
        let clock = clock();
        let vault = vault(&clock).await;
        let sim = shop(&clock);
        let mut opts = options();
        opts.snapshot_wait = Duration::from_secs(3 * 3600); // longer than the backup's limit
        let engine = engine_on(Arc::new(Hanging(sim.clone())), &vault, &clock, true, opts);
        let (report, ()) = futures::join!(engine.backup(volume_backup("slow")), async {
            clock.advance(Duration::from_secs(2 * 3600));
        });
        assert_eq!(
            report.status.phase,
            JobPhase::Failed,
            "{:#?}",
            report.status
        );
        assert!(
            report
                .status
                .failure_reason
                .as_deref()
                .unwrap_or("")
                .contains("timeout"),
            "{:?}",
            report.status.failure_reason
        );
        assert!(all(&sim, "volumesnapshots").await.is_empty());
        assert!(all(&sim, "volumesnapshotcontents").await.is_empty());
        assert!(
            sim.snapshot_storage().is_empty(),
            "no cloud snapshot outlives the backup"
        );
    })
}

#[test]
fn a_rerun_under_the_same_name_takes_new_snapshots_and_gc_collects_the_old_ones() {
    block_on(async {
        let clock = clock();
        let vault = vault(&clock).await;
        let sim = shop(&clock);
        let first = engine(&sim, &vault, &clock)
            .backup(volume_backup("b1"))
            .await;
        assert_eq!(
            first.status.phase,
            JobPhase::Completed,
            "{:#?}",
            first.status
        );
        // The backup is removed from the vault without a cluster: its snapshots stay behind.
        let blind = engine_on(Arc::new(sim.clone()), &vault, &clock, false, options());
        blind.delete_backup("b1").await.unwrap();
        let second = engine(&sim, &vault, &clock)
            .backup(volume_backup("b1"))
            .await;
        assert_eq!(
            second.status.phase,
            JobPhase::Completed,
            "{:#?}",
            second.status
        );
        for (old, new) in first.volume_snapshots.iter().zip(&second.volume_snapshots) {
            assert_eq!(old.pvc_name, new.pvc_name);
            assert_ne!(
                old.snapshot_name, new.snapshot_name,
                "names carry the attempt"
            );
            assert_ne!(old.snapshot_handle, new.snapshot_handle, "not reused");
        }
        assert_eq!(sim.snapshot_storage().len(), 4);
        let listed = vault.backup_companions("b1").await.unwrap().resource_list;
        assert!(
            !listed.keys().any(|k| k.contains("VolumeSnapshot")),
            "the older snapshots are not archived as objects: {listed:?}"
        );
        // GC removes the first attempt's snapshots once past the grace period, keeps the rest.
        clock.advance(options().orphan_grace + Duration::from_secs(60));
        let gc = engine(&sim, &vault, &clock).gc().await.unwrap();
        assert_eq!(gc.snapshots_deleted.len(), 2, "{gc:#?}");
        let handles = sim.snapshot_storage().handles();
        for new in &second.volume_snapshots {
            assert!(handles.contains(&new.snapshot_handle));
        }
        assert_eq!(handles.len(), 2);
    })
}

#[test]
fn an_existing_snapshot_of_another_attempt_is_an_error_not_a_success() {
    block_on(async {
        let clock = clock();
        let sim = shop(&clock);
        let snapshotter = CsiSnapshotter::new(sim.clone());
        let pvc = claim(&sim, "shop", "data").await.unwrap();
        let first = SnapshotRequest::new("data-b1-x", DRIVER, "b1", "attempt-1");
        snapshotter.snapshot(&pvc, &first).await.unwrap();
        // The same attempt resuming takes its own snapshot up again.
        snapshotter.snapshot(&pvc, &first).await.unwrap();
        let rerun = SnapshotRequest::new("data-b1-x", DRIVER, "b1", "attempt-2");
        let err = snapshotter.snapshot(&pvc, &rerun).await.unwrap_err();
        assert!(matches!(err, SnapshotError::Conflict { .. }), "{err}");
        assert!(err.to_string().contains("attempt-1"), "{err}");
    })
}

#[test]
fn excluded_pods_still_snapshot_the_claims_of_deployments_and_statefulsets() {
    block_on(async {
        let clock = clock();
        let vault = vault(&clock).await;
        let sim = shop(&clock);
        // A pod mounting `logs`, and a claim on a volume that is not CSI.
        sim.load_documents(&[SimDocument {
            path: "more.yaml".into(),
            text: r#"
apiVersion: v1
kind: PersistentVolume
metadata: {name: nfs-pv}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteMany]
  nfs: {server: 10.0.0.1, path: /exports}
  claimRef: {namespace: shop, name: shared}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: shared, namespace: shop}
spec:
  volumeName: nfs-pv
  accessModes: [ReadWriteMany]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: tail, namespace: shop}
spec:
  containers: [{name: tail, image: busybox}]
  volumes:
  - {name: logs, persistentVolumeClaim: {claimName: logs}}
  - {name: shared, persistentVolumeClaim: {claimName: shared}}
"#
            .into(),
        }])
        .unwrap();
        let mut spec = volume_backup("nopods");
        spec.scope.excluded_resources = vec!["pods".into()];
        let report = engine(&sim, &vault, &clock).backup(spec).await;
        assert_eq!(
            report.status.phase,
            JobPhase::Completed,
            "{:#?}",
            report.status
        );
        let claims: Vec<&str> = report
            .volume_snapshots
            .iter()
            .map(|r| r.pvc_name.as_str())
            .collect();
        assert_eq!(
            claims,
            ["data", "www-db-0"],
            "pods excluded, workloads still count"
        );

        let report = engine(&sim, &vault, &clock)
            .backup(volume_backup("withpods"))
            .await;
        let claims: Vec<&str> = report
            .volume_snapshots
            .iter()
            .map(|r| r.pvc_name.as_str())
            .collect();
        assert_eq!(claims, ["data", "logs", "www-db-0"]);
        let warning = report
            .status
            .warnings
            .iter()
            .map(ToString::to_string)
            .find(|w| w.contains("shared"))
            .expect("a warning names the claim without a snapshot");
        assert!(
            warning.contains("Pod shop/tail") && warning.contains("not a CSI volume"),
            "{warning}"
        );
    })
}

#[test]
fn the_class_follows_the_spec_the_csdr_default_and_the_backup_ttl() {
    block_on(async {
        let clock = clock();
        let vault = vault(&clock).await;
        let sim = shop(&clock);
        sim.load_documents(&[SimDocument {
            path: "classes.yaml".into(),
            text: r#"
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshotClass
metadata:
  name: csdr-disk-snapshot-with-default-ttl
  labels: {csdr.io/default-snapshot-class: "true"}
deletionPolicy: Retain
driver: diskplugin.csi.alibabacloud.com
parameters: {retentionDays: "30"}
"#
            .into(),
        }])
        .unwrap();
        let mut spec = volume_backup("ttl");
        spec.ttl = Duration::from_secs(3 * 24 * 3600 + 1); // rounds up to 4 days
        let report = engine(&sim, &vault, &clock).backup(spec).await;
        assert_eq!(
            report.status.phase,
            JobPhase::Completed,
            "{:#?}",
            report.status
        );
        let record = &report.volume_snapshots[0];
        assert_eq!(record.class_name, "csdr-disk-snapshot-with-default-ttl-4d");
        let cloud = sim.snapshot_storage().get(&record.snapshot_handle).unwrap();
        assert_eq!(cloud.retention_days, Some(4));

        // The spec's class for the driver wins.
        let mut spec = volume_backup("chosen");
        spec.volume_snapshot_class
            .insert(DRIVER.into(), "disk-snap".into());
        let report = engine(&sim, &vault, &clock).backup(spec).await;
        assert_eq!(report.volume_snapshots[0].class_name, "disk-snap");

        // A driver without any class: a warning naming the claim and the driver.
        sim.delete(&snap("volumesnapshotclasses"), None, "disk-snap")
            .await
            .unwrap();
        sim.delete(
            &snap("volumesnapshotclasses"),
            None,
            "csdr-disk-snapshot-with-default-ttl",
        )
        .await
        .unwrap();
        sim.delete(
            &snap("volumesnapshotclasses"),
            None,
            "csdr-disk-snapshot-with-default-ttl-4d",
        )
        .await
        .unwrap();
        let report = engine(&sim, &vault, &clock)
            .backup(volume_backup("noclass"))
            .await;
        assert_eq!(report.status.phase, JobPhase::Completed);
        assert!(report.volume_snapshots.is_empty());
        let warnings: Vec<String> = report
            .status
            .warnings
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            warnings.iter().any(|w| w.contains("shop/data")
                && w.contains(DRIVER)
                && w.contains("no VolumeSnapshotClass")),
            "{warnings:#?}"
        );
    })
}

#[test]
fn a_data_protection_backup_of_two_claims_restores_one_alone_elsewhere() {
    block_on(async {
        let clock = clock();
        let vault = vault(&clock).await;
        let sim = shop(&clock);
        let mut spec = BackupSpec::new("dp");
        spec.scope.included_namespaces = vec!["shop".into()];
        spec.scope.included_resources =
            vec!["persistentvolumeclaims".into(), "persistentvolumes".into()];
        spec.included_volumes = vec!["shop/data".into(), "shop/logs".into()];
        let report = engine(&sim, &vault, &clock).backup(spec).await;
        assert_eq!(
            report.status.phase,
            JobPhase::Completed,
            "{:#?}",
            report.status
        );
        let claims: Vec<&str> = report
            .volume_snapshots
            .iter()
            .map(|r| r.pvc_name.as_str())
            .collect();
        assert_eq!(
            claims,
            ["data", "logs"],
            "only the named claims, without their app"
        );

        let mut dry = RestoreSpec::new("dry", "dp");
        dry.included_volumes = vec!["shop/data".parse::<VolumeRestore>().unwrap()];
        dry.dry_run = true;
        let report = engine(&sim, &vault, &clock).restore(dry).await;
        assert_eq!(
            report.status.phase,
            JobPhase::Completed,
            "{:#?}",
            report.status
        );
        let would: Vec<String> = report.created.iter().map(ToString::to_string).collect();
        assert_eq!(would.len(), 1, "{would:?}");
        assert!(would[0].contains("shop/data"), "{would:?}");
        assert_eq!(
            all(&sim, "volumesnapshots").await.len(),
            2,
            "a dry run writes nothing"
        );

        let mut restore = RestoreSpec::new("one", "dp");
        restore.included_volumes = vec![
            "shop/logs=audit/logs-copy"
                .parse::<VolumeRestore>()
                .unwrap(),
        ];
        let report = engine(&sim, &vault, &clock).restore(restore).await;
        assert_eq!(
            report.status.phase,
            JobPhase::Completed,
            "{:#?}",
            report.status
        );
        assert_eq!(report.created.len(), 1);
        let copy = claim(&sim, "audit", "logs-copy").await.unwrap();
        assert_eq!(text(&copy, "/status/phase"), "Bound");
        assert_eq!(text(&copy, "/spec/resources/requests/storage"), "30Gi");
        assert_eq!(
            sim.read_volume("audit", "logs-copy").unwrap().as_deref(),
            Some("GET /cart")
        );
        assert!(
            claim(&sim, "audit", "data").await.is_none(),
            "the other claim stays out"
        );
    })
}

#[test]
fn a_backup_killed_after_its_snapshots_were_cut_is_cleaned_up_by_the_next_gc() {
    block_on(async {
        let clock = clock();
        let vault = vault(&clock).await;
        let sim = shop(&clock);
        let hanging = engine_on(
            Arc::new(Hanging(sim.clone())),
            &vault,
            &clock,
            true,
            options(),
        );
        // The process dies while the backup waits for its snapshots.
        let backup = hanging.backup(volume_backup("killed"));
        futures::pin_mut!(backup);
        let outcome = futures::future::select(backup, futures::future::ready(())).await;
        assert!(matches!(outcome, futures::future::Either::Right(_)));
        assert!(!all(&sim, "volumesnapshots").await.is_empty());
        assert!(!sim.snapshot_storage().is_empty());

        let gc = engine(&sim, &vault, &clock);
        let early = gc.gc().await.unwrap();
        assert!(
            early.snapshots_deleted.is_empty(),
            "a backup may still be running: {early:#?}"
        );
        clock.advance(options().orphan_grace + Duration::from_secs(60));
        let report = gc.gc().await.unwrap();
        assert!(!report.snapshots_deleted.is_empty(), "{report:#?}");
        assert!(report.failed.is_empty(), "{report:#?}");
        assert!(all(&sim, "volumesnapshots").await.is_empty());
        assert!(all(&sim, "volumesnapshotcontents").await.is_empty());
        assert!(sim.snapshot_storage().is_empty());
    })
}

/// The CSI snapshotter, with its first `failures` deletions failing (a driver or API outage).
struct FlakyDeletes {
    inner: CsiSnapshotter<Arc<dyn Cluster>>,
    failures: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl VolumeSnapshotter for FlakyDeletes {
    async fn snapshot(
        &self,
        pvc: &KubeObject,
        request: &SnapshotRequest,
    ) -> Result<csdr_core::ports::snapshot::VolumeSnapshotRecord, SnapshotError> {
        self.inner.snapshot(pvc, request).await
    }
    async fn prepare_restore(
        &self,
        record: &csdr_core::ports::snapshot::VolumeSnapshotRecord,
        namespace: &str,
        snapshot_name: &str,
        timeout: Duration,
    ) -> Result<Value, SnapshotError> {
        self.inner
            .prepare_restore(record, namespace, snapshot_name, timeout)
            .await
    }
    async fn delete_snapshot(
        &self,
        record: &csdr_core::ports::snapshot::VolumeSnapshotRecord,
    ) -> Result<(), SnapshotError> {
        use std::sync::atomic::Ordering;
        let left = self.failures.load(Ordering::SeqCst);
        if left > 0 {
            self.failures.store(left - 1, Ordering::SeqCst);
            return Err(SnapshotError::Failed {
                pvc: format!("{}/{}", record.pvc_namespace, record.pvc_name),
                snapshot: record.snapshot_name.clone(),
                message: "the storage API is unavailable".into(),
            });
        }
        self.inner.delete_snapshot(record).await
    }
    async fn csdr_snapshots(
        &self,
    ) -> Result<Vec<csdr_core::ports::snapshot::LeftSnapshot>, SnapshotError> {
        self.inner.csdr_snapshots().await
    }
}

/// A snapshot that cannot be deleted keeps its backup (delete and GC), so the next try
/// finds both and finishes; nothing is orphaned.
#[test]
fn a_snapshot_that_cannot_be_deleted_keeps_its_backup_for_the_next_try() {
    block_on(async {
        let clock = clock();
        let vault = vault(&clock).await;
        let sim = shop(&clock);
        let cluster: Arc<dyn Cluster> = Arc::new(sim.clone());
        let flaky = |failures: usize| {
            Engine::builder()
                .cluster(cluster.clone())
                .vault(vault.clone())
                .clock(clock.clone())
                .timer(clock.clone())
                .options(options())
                .snapshotter(Arc::new(FlakyDeletes {
                    inner: CsiSnapshotter::new(cluster.clone()),
                    failures: std::sync::atomic::AtomicUsize::new(failures),
                }))
                .build()
                .unwrap()
        };
        let mut spec = volume_backup("short");
        spec.ttl = Duration::from_secs(3600);
        for s in [volume_backup("b1"), spec] {
            let report = engine(&sim, &vault, &clock).backup(s).await;
            assert_eq!(report.status.phase, JobPhase::Completed, "{report:#?}");
        }
        assert_eq!(sim.snapshot_storage().len(), 4);

        // Delete: the failure is reported, naming the snapshot; the backup stays.
        let err = flaky(1).delete_backup("b1").await.unwrap_err();
        assert!(
            err.to_string().contains("the storage API is unavailable"),
            "{err}"
        );
        assert!(vault.backup_record("b1").await.unwrap().is_some());
        flaky(0).delete_backup("b1").await.unwrap();
        assert!(vault.backup_record("b1").await.unwrap().is_none());
        assert_eq!(sim.snapshot_storage().len(), 2);

        // GC of the expired backup: kept while a snapshot cannot go, removed by the next run.
        clock.advance(Duration::from_secs(2 * 3600));
        let gc = flaky(1).gc().await.unwrap();
        assert!(!gc.failed.is_empty(), "{gc:#?}");
        assert!(vault.backup_record("short").await.unwrap().is_some());
        let gc = flaky(0).gc().await.unwrap();
        assert_eq!(gc.expired, ["short"], "{gc:#?}");
        assert!(vault.backup_record("short").await.unwrap().is_none());
        assert!(sim.snapshot_storage().is_empty());
        assert!(all(&sim, "volumesnapshots").await.is_empty());
    })
}
