//! Volume snapshots end to end through HTTP (B6, §9): API simulators serving Kubernetes 1.28
//! with the simulated CSI snapshot controller, the engine and the CSI snapshotter through
//! `KubeCluster`: a backup with volumes retains its snapshots, the source namespace and then
//! the whole source cluster are lost, a restore into another cluster sharing the snapshot
//! storage brings the data back, and GC removes the snapshots when the backup expires.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod support;

use std::sync::Arc;
use std::time::Duration;

use csdr::core::engine::Engine;
use csdr::core::model::{BackupSpec, JobPhase, RestoreSpec};
use csdr::core::object::GroupVersionResource;
use csdr::core::ports::clock::ManualClock;
use csdr::core::ports::cluster::Cluster;
use csdr::core::ports::snapshot::CsiSnapshotter;
use csdr::core::releases::KubeRelease;
use csdr::core::sim::{SimCluster, SimDocument};
use csdr::kube::KubeCluster;
use csdr::kube::testing::ApiServer;
use support::*;

const STORAGE: &str = r#"
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

const APP: &str = r#"
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
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "nginx:1.25"}]
      volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]
"#;

fn sim(documents: &[&str]) -> SimCluster {
    let sim = SimCluster::new(KubeRelease::V1_28);
    for (i, text) in documents.iter().enumerate() {
        sim.load_documents(&[SimDocument {
            path: format!("{i}.yaml"),
            text: text.to_string(),
        }])
        .unwrap();
    }
    sim
}

fn engine(
    url: &str,
    vault: &Arc<dyn csdr::core::ports::vault::Vault>,
    clock: &Arc<ManualClock>,
) -> Engine {
    let cluster = Arc::new(KubeCluster::from_url(url).unwrap());
    let snapshots = Arc::new(CsiSnapshotter::new(KubeCluster::from_url(url).unwrap()));
    Engine::builder()
        .cluster(cluster)
        .vault(vault.clone())
        .snapshotter(snapshots)
        .clock(clock.clone())
        .timer(Arc::new(csdr::storage::TokioTimer))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_survive_the_cluster_restore_across_clusters_and_expire_over_http() {
    let clock = Arc::new(ManualClock::new("2026-11-24T04:00:00Z".parse().unwrap()));
    let source_sim = sim(&[STORAGE, APP]);
    source_sim
        .write_volume("shop", "data", "orders: 42")
        .unwrap();
    let target_sim = sim(&[STORAGE]).with_snapshot_storage(source_sim.snapshot_storage());
    let source_server = ApiServer::start(source_sim.clone()).await.unwrap();
    let target_server = ApiServer::start(target_sim.clone()).await.unwrap();
    let vault = memory_vault().await;

    let mut spec = BackupSpec::new("http-vol");
    spec.scope.included_namespaces = vec!["shop".into()];
    spec.backup_volumes = true;
    spec.ttl = Duration::from_secs(24 * 3600);
    let backup = engine(&source_server.url(), &vault, &clock)
        .backup(spec)
        .await;
    assert_eq!(
        backup.status.phase,
        JobPhase::Completed,
        "{:#?}",
        backup.status
    );
    assert_eq!(backup.volume_snapshots.len(), 1);
    let handle = backup.volume_snapshots[0].snapshot_handle.clone();
    let companions = vault.backup_companions("http-vol").await.unwrap();
    assert_eq!(
        companions.csi_volume_snapshot_contents[0]
            .pointer("/spec/deletionPolicy")
            .and_then(|v| v.as_str()),
        Some("Retain")
    );

    // The namespace, then the whole source cluster, are lost.
    let source: &dyn Cluster = &KubeCluster::from_url(&source_server.url()).unwrap();
    source
        .delete(
            &GroupVersionResource::new("", "v1", "namespaces"),
            None,
            "shop",
        )
        .await
        .unwrap();
    source_server.shutdown().await.unwrap();
    assert!(source_sim.snapshot_storage().get(&handle).is_some());

    let restore = engine(&target_server.url(), &vault, &clock)
        .restore(RestoreSpec::new("http-vol-r", "http-vol"))
        .await;
    assert_eq!(
        restore.status.phase,
        JobPhase::Completed,
        "{:#?}",
        restore.status
    );
    let target: &dyn Cluster = &KubeCluster::from_url(&target_server.url()).unwrap();
    let pvc = get(
        target,
        "",
        "v1",
        "persistentvolumeclaims",
        Some("shop"),
        "data",
    )
    .await
    .unwrap();
    assert_eq!(
        pvc.pointer("/status/phase").and_then(|v| v.as_str()),
        Some("Bound")
    );
    assert_eq!(
        target_sim.read_volume("shop", "data").unwrap().as_deref(),
        Some("orders: 42")
    );

    // Expired: GC through the target cluster removes the snapshot and its data.
    clock.advance(Duration::from_secs(2 * 24 * 3600));
    let gc = engine(&target_server.url(), &vault, &clock)
        .gc()
        .await
        .unwrap();
    assert_eq!(gc.expired, ["http-vol"]);
    assert!(gc.failed.is_empty(), "{gc:#?}");
    assert!(
        target_sim.snapshot_storage().get(&handle).is_none(),
        "the cloud snapshot is deleted with its backup: {gc:#?}"
    );
    target_server.shutdown().await.unwrap();
}
