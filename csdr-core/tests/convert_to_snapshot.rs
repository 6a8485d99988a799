//! StorageClass conversion (the FAQ's `ConvertToSnapshot`) through the engine, with the
//! simulator, [`SimPodVolumeMover`] and the CSI snapshotter: a NAS claim backed up through
//! its files is converted in another cluster to a disk class (a temporary claim filled
//! through a short-lived pod, snapshotted, removed), the FAQ's three class errors and its
//! bind time-out, and restores that start from the converted snapshots.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use csdr_core::discovery::Discovery;
use csdr_core::engine::{ConvertReport, ConvertSpec, Engine, EngineOptions};
use csdr_core::model::{BackupSpec, JobPhase, RestoreSpec};
use csdr_core::object::{GroupVersionResource, KubeObject};
use csdr_core::ports::clock::ManualClock;
use csdr_core::ports::cluster::{Cluster, ClusterError, ListOptions, ObjectPage, WaitCondition};
use csdr_core::ports::snapshot::CsiSnapshotter;
use csdr_core::ports::vault::Vault;
use csdr_core::releases::KubeRelease;
use csdr_core::sim::{SimCluster, SimDocument};
use csdr_core::testing::SimPodVolumeMover;
use csdr_core::vault::{BlobVault, MemoryBlobStore, VaultIdentity, VaultOptions};
use futures::executor::block_on;
use serde_json::Value;

/// A shop whose NAS claim `uploads` (used by pod `web-1`) is backed up through its files and
/// whose disk claim `data` is snapshotted.
const SHOP: &str = r#"
apiVersion: v1
kind: Node
metadata: {name: node-a}
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

/// The restore cluster: the FAQ's topology-aware disk class, a NAS class under another
/// name, a local-path class, an immediately bound disk class, the disk snapshot class; one
/// node excluded from volume jobs and one in zone cn-hangzhou-h. No namespace `shop`.
const TARGET: &str = r#"
apiVersion: v1
kind: Node
metadata:
  name: node-0
  labels: {csdr.alibabacloud.com/agent-excluded: "true", topology.kubernetes.io/zone: cn-hangzhou-h}
---
apiVersion: v1
kind: Node
metadata:
  name: node-c
  labels: {topology.kubernetes.io/zone: cn-hangzhou-h}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: alicloud-disk-topology-alltype}
provisioner: diskplugin.csi.alibabacloud.com
volumeBindingMode: WaitForFirstConsumer
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: alicloud-disk-essd}
provisioner: diskplugin.csi.alibabacloud.com
volumeBindingMode: Immediate
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: nas-new}
provisioner: nasplugin.csi.alibabacloud.com
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: local-path}
provisioner: rancher.io/local-path
---
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshotClass
metadata: {name: disk-snap}
driver: diskplugin.csi.alibabacloud.com
deletionPolicy: Delete
"#;

const DISK_CLASS: &str = "alicloud-disk-topology-alltype";

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new("2026-11-24T04:00:00Z".parse().unwrap()))
}

fn load(sim: &SimCluster, text: &str) {
    sim.load_documents(&[SimDocument {
        path: "cluster.yaml".into(),
        text: text.into(),
    }])
    .unwrap();
}

fn shop(clock: &Arc<ManualClock>) -> SimCluster {
    let sim = SimCluster::new(KubeRelease::V1_28).with_clock(clock.clone());
    load(&sim, SHOP);
    sim.write_volume("shop", "data", "orders: 42").unwrap();
    sim.write_volume("shop", "uploads", "cat.png bytes")
        .unwrap();
    sim
}

/// The target shares the source's snapshot storage (the same cloud account).
fn target(clock: &Arc<ManualClock>, source: &SimCluster) -> SimCluster {
    let sim = SimCluster::new(KubeRelease::V1_30)
        .with_clock(clock.clone())
        .with_snapshot_storage(source.snapshot_storage());
    load(&sim, TARGET);
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
    cluster: Arc<dyn Cluster>,
    vault: &Arc<dyn Vault>,
    clock: &Arc<ManualClock>,
    mover: &SimPodVolumeMover,
) -> Engine {
    Engine::builder()
        .cluster(cluster.clone())
        .vault(vault.clone())
        .clock(clock.clone())
        .timer(clock.clone())
        .snapshotter(Arc::new(CsiSnapshotter::new(cluster)))
        .pod_volume_mover(Arc::new(mover.clone()))
        .options(EngineOptions {
            pvc_bind_wait: Duration::from_millis(50),
            ..EngineOptions::default()
        })
        .build()
        .unwrap()
}

/// Backs up the shop as `b1`; returns the source cluster and the mover.
async fn backed_up(
    clock: &Arc<ManualClock>,
    vault: &Arc<dyn Vault>,
) -> (SimCluster, SimPodVolumeMover) {
    let sim = shop(clock);
    let mover = SimPodVolumeMover::new(sim.clone());
    let mut spec = BackupSpec::new("b1");
    spec.scope.included_namespaces = vec!["shop".into()];
    spec.backup_volumes = true;
    let report = engine(Arc::new(sim.clone()), vault, clock, &mover)
        .backup(spec)
        .await;
    assert_eq!(
        report.status.phase,
        JobPhase::Completed,
        "{:?}",
        report.status
    );
    assert_eq!(report.pod_volume_backups.len(), 1);
    (sim, mover)
}

fn convert_spec(to: &str) -> ConvertSpec {
    let mut spec = ConvertSpec::new("b1", "b1");
    spec.storage_class_mapping = [("alicloud-nas".to_string(), to.to_string())].into();
    spec.convert_to_access_modes = vec!["ReadWriteOnce".into()];
    spec.attempt = "convert-1".into();
    spec
}

fn restore_spec(name: &str, to: &str, report: &ConvertReport) -> RestoreSpec {
    let mut spec = RestoreSpec::new(name, "b1");
    spec.storage_class_mapping = [("alicloud-nas".to_string(), to.to_string())].into();
    spec.scope.excluded_resources = vec!["pods".into()];
    spec.converted_volumes = report.converted.clone();
    spec
}

async fn names(sim: &SimCluster, gvr: &GroupVersionResource, ns: Option<&str>) -> Vec<String> {
    match sim.list_page(gvr, ns, &ListOptions::default()).await {
        Ok(page) => page.items.iter().map(|o| o.name().to_string()).collect(),
        Err(_) => Vec::new(),
    }
}

fn claims() -> GroupVersionResource {
    GroupVersionResource::new("", "v1", "persistentvolumeclaims")
}

fn pods() -> GroupVersionResource {
    GroupVersionResource::new("", "v1", "pods")
}

fn snapshots() -> GroupVersionResource {
    GroupVersionResource::new("snapshot.storage.k8s.io", "v1", "volumesnapshots")
}

async fn claim(sim: &SimCluster, ns: &str, name: &str) -> Option<KubeObject> {
    sim.get(&claims(), Some(ns), name).await.unwrap()
}

/// No temporary claim or pod is left in the shop namespace.
async fn nothing_left(sim: &SimCluster) {
    let left = names(sim, &claims(), Some("shop")).await;
    assert!(
        left.iter().all(|n| !n.contains("-for-convert")),
        "temporary claims left: {left:?}"
    );
    let pods = names(sim, &pods(), Some("shop")).await;
    assert!(pods.is_empty(), "pods left: {pods:?}");
}

fn errors(report: &ConvertReport) -> Vec<String> {
    report.status.errors.iter().map(|e| e.to_string()).collect()
}

#[test]
fn a_nas_claim_is_converted_to_a_retained_disk_snapshot_and_its_temporaries_removed() {
    block_on(async {
        let clock = clock();
        let vault = vault(&clock).await;
        let (source, mover) = backed_up(&clock, &vault).await;
        let other = target(&clock, &source);
        let there = mover.on(other.clone());
        let report = engine(Arc::new(other.clone()), &vault, &clock, &there)
            .convert_to_snapshots(&convert_spec(DISK_CLASS))
            .await;
        assert_eq!(report.status.phase, JobPhase::Completed, "{report:#?}");
        assert_eq!(report.converted.len(), 1, "{report:#?}");
        let converted = &report.converted[0];
        assert_eq!(
            (
                converted.pvc_namespace.as_str(),
                converted.pvc_name.as_str()
            ),
            ("shop", "uploads")
        );
        assert_eq!(converted.source_storage_class, "alicloud-nas");
        assert_eq!(converted.storage_class, DISK_CLASS);
        assert_eq!(converted.size.as_deref(), Some("50Gi"));
        assert_eq!(converted.access_modes, ["ReadWriteOnce"]);
        // The FAQ's naming of the temporary claim, from the engine's clock.
        assert_eq!(
            converted.snapshot.pvc_name,
            "uploads-for-convert202611240400"
        );
        assert_eq!(converted.snapshot.driver, "diskplugin.csi.alibabacloud.com");
        assert_eq!(converted.snapshot.class_name, "disk-snap");
        // The files went through a short-lived pod on the allowed node into the temporary
        // claim, and the snapshot holds them.
        let restores = there.restores();
        assert_eq!(restores.len(), 1, "{restores:?}");
        assert_eq!(restores[0].pvc_name, "uploads-for-convert202611240400");
        assert_eq!(restores[0].mount.node, "node-c");
        let cloud = other
            .snapshot_storage()
            .get(&converted.snapshot.snapshot_handle)
            .expect("the converted snapshot is in the storage");
        assert_eq!(cloud.data.as_deref(), Some("cat.png bytes"));
        // Retained: its content survives, with policy Retain.
        let content = other
            .get(
                &GroupVersionResource::new(
                    "snapshot.storage.k8s.io",
                    "v1",
                    "volumesnapshotcontents",
                ),
                None,
                &converted.snapshot.content_name,
            )
            .await
            .unwrap()
            .expect("the content exists");
        assert_eq!(
            content
                .pointer("/spec/deletionPolicy")
                .and_then(Value::as_str),
            Some("Retain")
        );
        // The conversion made the missing namespace and left no temporary claim or pod.
        nothing_left(&other).await;
        assert!(
            report
                .log
                .iter()
                .any(|l| l.contains("converted claim shop/uploads")),
            "{:?}",
            report.log
        );

        // Resetting the conversion deletes its snapshots and their data.
        let failures = engine(Arc::new(other.clone()), &vault, &clock, &there)
            .delete_converted_snapshots(&report.converted)
            .await;
        assert!(failures.is_empty(), "{failures:?}");
        assert!(
            other
                .snapshot_storage()
                .get(&converted.snapshot.snapshot_handle)
                .is_none()
        );
    });
}

#[test]
fn a_missing_class_fails_with_the_faq_wording_and_creates_nothing() {
    block_on(async {
        let clock = clock();
        let vault = vault(&clock).await;
        let (source, mover) = backed_up(&clock, &vault).await;
        let other = target(&clock, &source);
        let there = mover.on(other.clone());
        let report = engine(Arc::new(other.clone()), &vault, &clock, &there)
            .convert_to_snapshots(&convert_spec("fast-ssd"))
            .await;
        assert_eq!(report.status.phase, JobPhase::Failed, "{report:#?}");
        let errors = errors(&report);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("storageclass fast-ssd not exists"),
            "{errors:?}"
        );
        assert!(errors[0].contains("shop/uploads"), "{errors:?}");
        assert!(
            report
                .status
                .failure_reason
                .as_deref()
                .unwrap_or_default()
                .contains("storageclass fast-ssd not exists")
        );
        assert!(report.converted.is_empty());
        assert!(there.restores().is_empty());
        nothing_left(&other).await;
    });
}

#[test]
fn an_unsupported_provisioner_fails_with_the_faq_wording() {
    block_on(async {
        let clock = clock();
        let vault = vault(&clock).await;
        let (source, mover) = backed_up(&clock, &vault).await;
        let other = target(&clock, &source);
        let there = mover.on(other.clone());
        let report = engine(Arc::new(other.clone()), &vault, &clock, &there)
            .convert_to_snapshots(&convert_spec("local-path"))
            .await;
        assert_eq!(report.status.phase, JobPhase::Failed, "{report:#?}");
        let errors = errors(&report);
        assert!(
            errors[0].contains(
                "only support convert to storageclass with CSI diskplugin or nasplugin provisioner"
            ),
            "{errors:?}"
        );
        assert!(there.restores().is_empty());
        nothing_left(&other).await;
    });
}

#[test]
fn an_immediate_disk_class_on_a_multi_zone_cluster_fails_with_the_faq_wording() {
    block_on(async {
        let clock = clock();
        let vault = vault(&clock).await;
        let (source, mover) = backed_up(&clock, &vault).await;
        let other = target(&clock, &source);
        let there = mover.on(other.clone());
        // One zone: the immediately bound class is fine.
        let one_zone = engine(Arc::new(other.clone()), &vault, &clock, &there)
            .convert_to_snapshots(&convert_spec("alicloud-disk-essd"))
            .await;
        assert_eq!(one_zone.status.phase, JobPhase::Completed, "{one_zone:#?}");
        // Two zones: refused.
        other.add_node("node-d", "cn-hangzhou-i").unwrap();
        clock.advance(Duration::from_secs(60));
        let report = engine(Arc::new(other.clone()), &vault, &clock, &there)
            .convert_to_snapshots(&convert_spec("alicloud-disk-essd"))
            .await;
        assert_eq!(report.status.phase, JobPhase::Failed, "{report:#?}");
        let errors = errors(&report);
        assert!(
            errors[0].contains("current cluster is multi-zoned"),
            "{errors:?}"
        );
        nothing_left(&other).await;
    });
}

/// A cluster whose claims are never seen Bound: the wait hangs as a real one does when the
/// provisioner cannot provision, so the engine's own time limit ends it.
struct NeverBinds(SimCluster);

#[async_trait]
impl Cluster for NeverBinds {
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
        if condition == WaitCondition::Bound {
            futures::future::pending::<()>().await;
        }
        self.0
            .wait_for(gvr, namespace, name, condition, timeout)
            .await
    }
}

/// Returns `Pending` once (waking itself), so the other future of a `join!` runs.
async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

#[test]
fn a_claim_that_never_binds_times_out_with_the_faq_text_and_leaves_nothing() {
    block_on(async {
        let clock = clock();
        let vault = vault(&clock).await;
        let (source, mover) = backed_up(&clock, &vault).await;
        let other = target(&clock, &source);
        let there = mover.on(other.clone());
        let engine = engine(Arc::new(NeverBinds(other.clone())), &vault, &clock, &there);
        let spec = convert_spec(DISK_CLASS);
        // Time passes in small steps (the temporary claim's minute stays the same) while the
        // engine waits.
        let (report, ()) = futures::join!(engine.convert_to_snapshots(&spec), async {
            for _ in 0..1000 {
                yield_now().await;
                clock.advance(Duration::from_millis(10));
            }
        });
        assert_eq!(report.status.phase, JobPhase::Failed, "{report:#?}");
        let errors = errors(&report);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains(
                "wait for created tmp pvc shop/uploads-for-convert202611240400 for convertion bound time out"
            ),
            "{errors:?}"
        );
        assert!(there.restores().is_empty());
        nothing_left(&other).await;
        assert!(names(&other, &snapshots(), Some("shop")).await.is_empty());
    });
}

#[test]
fn a_restore_with_the_converted_class_starts_from_the_snapshot_without_the_mover() {
    block_on(async {
        let clock = clock();
        let vault = vault(&clock).await;
        let (source, mover) = backed_up(&clock, &vault).await;
        let other = target(&clock, &source);
        let there = mover.on(other.clone());
        let converted = engine(Arc::new(other.clone()), &vault, &clock, &there)
            .convert_to_snapshots(&convert_spec(DISK_CLASS))
            .await;
        assert_eq!(
            converted.status.phase,
            JobPhase::Completed,
            "{converted:#?}"
        );
        let before = there.restores().len();
        let report = engine(Arc::new(other.clone()), &vault, &clock, &there)
            .restore(restore_spec("r1", DISK_CLASS, &converted))
            .await;
        assert_eq!(
            report.status.phase,
            JobPhase::Completed,
            "{:?}",
            report.status
        );
        assert_eq!(
            there.restores().len(),
            before,
            "the mover was not asked again"
        );
        let uploads = claim(&other, "shop", "uploads").await.unwrap();
        assert_eq!(
            uploads
                .pointer("/spec/storageClassName")
                .and_then(Value::as_str),
            Some(DISK_CLASS)
        );
        assert_eq!(
            uploads
                .pointer("/spec/dataSource/kind")
                .and_then(Value::as_str),
            Some("VolumeSnapshot")
        );
        assert_eq!(
            uploads.pointer("/spec/accessModes"),
            Some(&serde_json::json!(["ReadWriteOnce"]))
        );
        assert_eq!(
            other.read_volume("shop", "uploads").unwrap().as_deref(),
            Some("cat.png bytes")
        );
        let log = String::from_utf8(vault.restore_logs("r1").await.unwrap()).unwrap();
        assert!(
            log.contains("claim shop/uploads is restored from the snapshot"),
            "{log}"
        );
    });
}

#[test]
fn a_restore_to_another_class_falls_back_to_the_files() {
    block_on(async {
        let clock = clock();
        let vault = vault(&clock).await;
        let (source, mover) = backed_up(&clock, &vault).await;
        let other = target(&clock, &source);
        let there = mover.on(other.clone());
        let converted = engine(Arc::new(other.clone()), &vault, &clock, &there)
            .convert_to_snapshots(&convert_spec(DISK_CLASS))
            .await;
        assert_eq!(
            converted.status.phase,
            JobPhase::Completed,
            "{converted:#?}"
        );
        let before = there.restores().len();
        let report = engine(Arc::new(other.clone()), &vault, &clock, &there)
            .restore(restore_spec("r2", "nas-new", &converted))
            .await;
        assert_eq!(
            report.status.phase,
            JobPhase::Completed,
            "{:?}",
            report.status
        );
        let restores = there.restores();
        assert_eq!(restores.len(), before + 1, "{restores:?}");
        assert_eq!(restores[before].pvc_name, "uploads");
        let uploads = claim(&other, "shop", "uploads").await.unwrap();
        assert_eq!(
            uploads
                .pointer("/spec/storageClassName")
                .and_then(Value::as_str),
            Some("nas-new")
        );
        assert_eq!(uploads.pointer("/spec/dataSource"), None);
        assert_eq!(
            other.read_volume("shop", "uploads").unwrap().as_deref(),
            Some("cat.png bytes")
        );
    });
}
