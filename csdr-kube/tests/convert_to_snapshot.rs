//! ConvertToSnapshot (issue 17) against the HTTP `ApiServer` over `SimCluster`: the
//! controller converts a backup's file-system volume data to snapshots of a disk class (the
//! node agent writing the files, with the simulator's file mover), an ApplicationRestore of
//! the backup then starts from the snapshot, and the FAQ's `DeleteRequest` of type
//! `Convert` resets the conversion.

#![cfg(feature = "testing")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use csdr_core::engine::Engine;
use csdr_core::model::{BackupSpec, JobPhase};
use csdr_core::object::GroupVersionResource;
use csdr_core::ports::cluster::{Cluster as _, ListOptions};
use csdr_core::ports::snapshot::CsiSnapshotter;
use csdr_core::ports::vault::Vault;
use csdr_core::releases::KubeRelease;
use csdr_core::sim::{SimCluster, SimDocument};
use csdr_core::testing::SimPodVolumeMover;
use csdr_core::vault::{BlobVault, MemoryBlobStore, VaultIdentity, VaultOptions};
use csdr_kube::KubeCluster;
use csdr_kube::controller::node_agent::{NodeAgentOptions, run_node_agent};
use csdr_kube::controller::{
    Context, ControllerOptions, Metrics, VaultOpener, VaultRequest, async_trait, run,
};
use csdr_kube::resources::{
    ApplicationRestore, ApplicationRestoreSpec, BackupLocation, BackupLocationSpec,
    ConvertToSnapshot, ConvertToSnapshotSpec, crds,
};
use csdr_kube::testing::ApiServer;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

const NS: &str = "csdr";
const DISK_CLASS: &str = "alicloud-disk-topology-alltype";

/// Vaults in memory, shared by URL.
#[derive(Default)]
struct MemoryOpener {
    stores: Mutex<HashMap<String, Arc<MemoryBlobStore>>>,
}

#[async_trait]
impl VaultOpener for MemoryOpener {
    async fn open(&self, request: &VaultRequest) -> Result<Arc<dyn Vault>, String> {
        let store = self
            .stores
            .lock()
            .unwrap()
            .entry(request.url.clone())
            .or_insert_with(|| Arc::new(MemoryBlobStore::new()))
            .clone();
        let vault = BlobVault::open(
            VaultIdentity::new(&request.name, &request.url),
            store,
            VaultOptions::default(),
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok(Arc::new(vault))
    }
}

/// A shop whose NAS claim `uploads` is mounted by pod `web-1` on `node-c`, a disk class with
/// late binding and the disk snapshot class.
const SHOP: &str = r#"
apiVersion: v1
kind: Node
metadata:
  name: node-c
  labels: {topology.kubernetes.io/zone: cn-hangzhou-h}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: alicloud-nas}
provisioner: nasplugin.csi.alibabacloud.com
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: alicloud-disk-topology-alltype}
provisioner: diskplugin.csi.alibabacloud.com
volumeBindingMode: WaitForFirstConsumer
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
metadata: {name: uploads, namespace: shop}
spec:
  storageClassName: alicloud-nas
  accessModes: [ReadWriteMany]
  resources: {requests: {storage: 50Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop, labels: {app: web}}
spec:
  nodeName: node-c
  containers: [{name: web, image: "nginx:1.25"}]
  volumes:
  - {name: files, persistentVolumeClaim: {claimName: uploads}}
"#;

async fn wait_for<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn request() -> VaultRequest {
    VaultRequest {
        name: "oss".into(),
        url: "memory://convert".into(),
        config: BTreeMap::new(),
        credentials: None,
    }
}

async fn claim_names(sim: &SimCluster, ns: &str) -> Vec<String> {
    sim.list_page(
        &GroupVersionResource::new("", "v1", "persistentvolumeclaims"),
        Some(ns),
        &ListOptions::default(),
    )
    .await
    .unwrap()
    .items
    .iter()
    .map(|c| c.name().to_string())
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_conversion_feeds_the_restore_and_a_delete_request_resets_it() {
    let sim = support::sim(KubeRelease::V1_28);
    sim.load_documents(&[SimDocument {
        path: "shop.yaml".into(),
        text: SHOP.into(),
    }])
    .unwrap();
    sim.write_volume("shop", "uploads", "cat.png bytes")
        .unwrap();

    // The backup, with the NAS claim's files, made by the engine beside the cluster.
    let opener = Arc::new(MemoryOpener::default());
    let vault = opener.open(&request()).await.unwrap();
    let mover = SimPodVolumeMover::new(sim.clone());
    let cluster: Arc<dyn csdr_core::ports::cluster::Cluster> = Arc::new(sim.clone());
    let mut spec = BackupSpec::new("shop-b");
    spec.scope.included_namespaces = vec!["shop".into()];
    spec.backup_volumes = true;
    let backup = Engine::builder()
        .cluster(cluster.clone())
        .vault(vault.clone())
        .snapshotter(Arc::new(CsiSnapshotter::new(cluster)))
        .pod_volume_mover(Arc::new(mover.clone()))
        .build()
        .unwrap()
        .backup(spec)
        .await;
    assert_eq!(backup.status.phase, JobPhase::Completed, "{backup:?}");
    assert_eq!(backup.pod_volume_backups.len(), 1);

    // The cluster behind the API server: CRDs, the controller, the node agent of node-c.
    let server = ApiServer::start(sim.clone()).await.unwrap();
    let client = Client::try_from(kube::Config::new(server.url().parse().unwrap())).unwrap();
    let crd_api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crds() {
        crd_api.create(&PostParams::default(), &crd).await.unwrap();
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": NS}})).unwrap(),
        )
        .await
        .unwrap();
    let converts: Api<ConvertToSnapshot> = Api::namespaced(client.clone(), NS);
    wait_for("the CRDs to be served", || {
        let c = converts.clone();
        async move { c.list(&ListParams::default()).await.ok() }
    })
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": {"name": "csdr-node-agent-node-c", "labels": {"app": "csdr-node-agent"}},
            "spec": {"nodeName": "node-c", "containers": [{"name": "node-agent", "image": "csdr"}]}
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    pods.patch_status(
        "csdr-node-agent-node-c",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Running"}})),
    )
    .await
    .unwrap();
    let (agent_stop, agent_rx) = tokio::sync::oneshot::channel::<()>();
    let agent_client = client.clone();
    let agent_mover = Arc::new(mover.on(sim.clone()));
    tokio::spawn(async move {
        run_node_agent(
            agent_client,
            NodeAgentOptions {
                namespace: NS.into(),
                node: "node-c".into(),
                identity: "csdr-node-agent-node-c".into(),
                resync: Duration::from_secs(1),
            },
            agent_mover,
            async {
                let _ = agent_rx.await;
            },
        )
        .await
        .unwrap();
    });
    let kube_cluster = Arc::new(
        KubeCluster::from_url(&server.url())
            .unwrap()
            .with_retry(csdr_kube::RetryPolicy::none()),
    );
    let ctx = Context::new(
        client.clone(),
        kube_cluster,
        opener.clone(),
        ControllerOptions {
            namespace: NS.into(),
            identity: "convert-a".into(),
            heartbeat_period: Duration::from_millis(500),
            lease_seconds: 2,
            shutdown_grace: Duration::from_secs(5),
            ..ControllerOptions::default()
        },
        Arc::new(Metrics::default()),
    );
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(async move {
        run(ctx, async {
            let _ = stop_rx.await;
        })
        .await
        .unwrap();
    });
    let locations: Api<BackupLocation> = Api::namespaced(client.clone(), NS);
    locations
        .create(
            &PostParams::default(),
            &BackupLocation::new(
                "oss",
                BackupLocationSpec {
                    url: "memory://convert".into(),
                    ..BackupLocationSpec::default()
                },
            ),
        )
        .await
        .unwrap();

    // The FAQ's task, named after the backup.
    converts
        .create(
            &PostParams::default(),
            &ConvertToSnapshot::new(
                "shop-b",
                ConvertToSnapshotSpec {
                    backup_name: "shop-b".into(),
                    backup_location: Some("oss".into()),
                    storage_class_mapping: BTreeMap::from([(
                        "alicloud-nas".into(),
                        DISK_CLASS.into(),
                    )]),
                    convert_to_access_modes: vec!["ReadWriteOnce".into()],
                    ..ConvertToSnapshotSpec::default()
                },
            ),
        )
        .await
        .unwrap();
    let status = wait_for("the conversion to finish", || async {
        converts
            .get_opt("shop-b")
            .await
            .unwrap()
            .and_then(|c| c.status)
            .filter(|s| s.job.phase.is_some_and(JobPhase::is_finished))
    })
    .await;
    assert_eq!(status.job.phase, Some(JobPhase::Completed), "{status:#?}");
    assert_eq!(status.job.controller.as_deref(), Some("convert-a"));
    assert!(status.job.completion_timestamp.is_some());
    assert_eq!(status.converted_count, Some(1));
    let converted = &status.converted_volumes[0];
    assert_eq!(
        (
            converted.pvc_namespace.as_str(),
            converted.pvc_name.as_str()
        ),
        ("shop", "uploads")
    );
    assert_eq!(converted.storage_class, DISK_CLASS);
    assert!(
        converted
            .snapshot
            .pvc_name
            .starts_with("uploads-for-convert"),
        "{converted:?}"
    );
    let handle = converted.snapshot.snapshot_handle.clone();
    assert_eq!(
        sim.snapshot_storage().get(&handle).unwrap().data.as_deref(),
        Some("cat.png bytes")
    );
    assert_eq!(
        claim_names(&sim, "shop").await,
        ["uploads"],
        "no temporary claim is left"
    );
    let files_written = mover.restores().len();
    assert_eq!(files_written, 1, "the node agent wrote the files once");

    // A restore of the backup converting to that class starts from the snapshot.
    let restores: Api<ApplicationRestore> = Api::namespaced(client.clone(), NS);
    let mut restore = ApplicationRestoreSpec {
        backup_name: "shop-b".into(),
        backup_location: Some("oss".into()),
        namespace_mapping: BTreeMap::from([("shop".into(), "shop-copy".into())]),
        storage_class_mapping: BTreeMap::from([("alicloud-nas".into(), DISK_CLASS.into())]),
        ..ApplicationRestoreSpec::default()
    };
    restore.scope.excluded_resources = vec!["pods".into()];
    restores
        .create(
            &PostParams::default(),
            &ApplicationRestore::new("shop-r", restore),
        )
        .await
        .unwrap();
    let restored = wait_for("the restore to finish", || async {
        restores
            .get_opt("shop-r")
            .await
            .unwrap()
            .and_then(|r| r.status)
            .filter(|s| s.phase.is_some_and(JobPhase::is_finished))
    })
    .await;
    assert_eq!(restored.phase, Some(JobPhase::Completed), "{restored:#?}");
    let uploads = sim
        .get(
            &GroupVersionResource::new("", "v1", "persistentvolumeclaims"),
            Some("shop-copy"),
            "uploads",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        uploads.pointer("/spec/dataSource/kind"),
        Some(&json!("VolumeSnapshot"))
    );
    assert_eq!(
        sim.read_volume("shop-copy", "uploads").unwrap().as_deref(),
        Some("cat.png bytes")
    );
    assert_eq!(
        mover.restores().len(),
        files_written,
        "the restore did not copy the files again"
    );

    // The FAQ's reset: the snapshot and the task go, the request removes itself.
    let requests: Api<kube::api::DynamicObject> = Api::namespaced_with(
        client.clone(),
        NS,
        &kube::api::ApiResource::erase::<csdr_kube::resources::DeleteRequest>(&()),
    );
    requests
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "csdr.alibabacloud.com/v1beta1", "kind": "DeleteRequest",
                "metadata": {"name": "reset-convert", "namespace": NS},
                "spec": {"deleteObjectName": "shop-b", "deleteObjectType": "Convert"}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    wait_for("the reset to remove itself", || async {
        requests
            .get_opt("reset-convert")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(converts.get_opt("shop-b").await.unwrap().is_none());
    assert!(
        sim.snapshot_storage().get(&handle).is_none(),
        "the converted snapshot's data is deleted"
    );

    let _ = stop.send(());
    let _ = agent_stop.send(());
    controller.await.unwrap();
}
