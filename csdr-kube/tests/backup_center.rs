//! The backup center controller (issue 14) against the HTTP `ApiServer` over `SimCluster`
//! and in-memory vaults: two simulated clusters (1.16 and 1.28) share one vault. Locations
//! validate (Available, and Unavailable for an unreachable vault), a backup completes in
//! 1.16, appears in 1.28 by sync and is restored there with a namespace mapping, a schedule
//! fires named backups and a paused one none, a DeleteRequest removes the backup from the
//! vault and both clusters, a job orphaned by a dead controller is failed with a reason, and
//! unknown spec fields are rejected by name.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use csdr_core::model::JobPhase;
use csdr_core::ports::vault::Vault;
use csdr_core::releases::KubeRelease;
use csdr_core::vault::{BlobVault, MemoryBlobStore, VaultIdentity, VaultOptions};
use csdr_kube::KubeCluster;
use csdr_kube::controller::{
    Context, ControllerOptions, JobConnections, Metrics, VaultOpener, VaultRequest, async_trait,
    run,
};
use csdr_kube::resources::{
    ApplicationBackup, ApplicationBackupSpec, ApplicationRestore, ApplicationRestoreSpec,
    BackupLocation, BackupLocationSpec, BackupSchedule, BackupScheduleSpec, LocationPhase,
    SYNCED_LABEL, crds,
};
use csdr_kube::testing::ApiServer;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;

const NS: &str = "csdr";

/// Vaults in memory, shared by URL: `memory://<name>`; `unreachable://…` fails to connect.
#[derive(Default)]
struct MemoryOpener {
    stores: Mutex<HashMap<String, Arc<MemoryBlobStore>>>,
}

#[async_trait]
impl VaultOpener for MemoryOpener {
    async fn open(&self, request: &VaultRequest) -> Result<Arc<dyn Vault>, String> {
        if request.url.starts_with("unreachable://") {
            return Err(format!(
                "cannot connect to {}: connection refused",
                request.url
            ));
        }
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

struct Cluster {
    server: ApiServer,
    client: Client,
    /// How many connections of their own the controller's jobs made.
    job_connections: Arc<std::sync::atomic::AtomicUsize>,
}

impl Cluster {
    async fn start(release: KubeRelease) -> Cluster {
        Self::start_with(support::sim(release)).await
    }

    async fn start_with(sim: csdr_core::sim::SimCluster) -> Cluster {
        let server = ApiServer::start(sim).await.unwrap();
        let client = Client::try_from(kube::Config::new(server.url().parse().unwrap())).unwrap();
        let crd_api: Api<CustomResourceDefinition> = Api::all(client.clone());
        for crd in crds() {
            crd_api.create(&PostParams::default(), &crd).await.unwrap();
        }
        let namespaces: Api<Namespace> = Api::all(client.clone());
        for ns in [NS, "shop"] {
            namespaces
                .create(
                    &PostParams::default(),
                    &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
                )
                .await
                .unwrap();
        }
        let locations: Api<BackupLocation> = Api::namespaced(client.clone(), NS);
        wait_for("the CRDs to be served", || {
            let l = locations.clone();
            async move { l.list(&ListParams::default()).await.ok() }
        })
        .await;
        Cluster {
            server,
            client,
            job_connections: Arc::default(),
        }
    }

    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), NS)
    }

    /// Starts a controller instance; the returned sender stops it.
    fn controller(
        &self,
        identity: &str,
        opener: Arc<MemoryOpener>,
    ) -> (
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let cluster = Arc::new(
            KubeCluster::from_url(&self.server.url())
                .unwrap()
                .with_retry(csdr_kube::RetryPolicy::none()),
        );
        let options = ControllerOptions {
            namespace: NS.into(),
            identity: identity.into(),
            validation_period: Duration::from_secs(300),
            sync_period: Duration::from_millis(500),
            heartbeat_period: Duration::from_millis(500),
            lease_seconds: 2,
            shutdown_grace: Duration::from_secs(5),
            // Each job connects on its own thread, as `csdr server` does.
            job_connections: Some(JobConnections::new({
                let (cluster, made) = (cluster.clone(), self.job_connections.clone());
                move || {
                    made.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    cluster
                        .connect_again()
                        .map(|c| Arc::new(c) as Arc<dyn csdr_core::ports::cluster::Cluster>)
                        .map_err(|e| e.to_string())
                }
            })),
            ..ControllerOptions::default()
        };
        let ctx = Context::new(
            self.client.clone(),
            cluster,
            opener,
            options,
            Arc::new(Metrics::default()),
        );
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            run(ctx, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        (tx, task)
    }
}

async fn wait_for<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn location(name: &str, url: &str) -> BackupLocation {
    BackupLocation::new(
        name,
        BackupLocationSpec {
            url: url.into(),
            ..BackupLocationSpec::default()
        },
    )
}

fn backup_spec(location: &str) -> ApplicationBackupSpec {
    ApplicationBackupSpec {
        scope: csdr_core::model::BackupScope {
            included_namespaces: vec!["shop".into()],
            ..Default::default()
        },
        ttl: Some("24h".into()),
        backup_volumes: false,
        backup_location: location.into(),
        ..Default::default()
    }
}

async fn phase_of(api: &Api<ApplicationBackup>, name: &str) -> Option<JobPhase> {
    api.get_opt(name)
        .await
        .unwrap()
        .and_then(|b| b.status)
        .and_then(|s| s.phase)
}

async fn finished_backup(api: &Api<ApplicationBackup>, name: &str) -> ApplicationBackup {
    wait_for(&format!("backup {name} to finish"), || async {
        api.get_opt(name).await.unwrap().filter(|b| {
            b.status
                .as_ref()
                .and_then(|s| s.phase)
                .is_some_and(JobPhase::is_finished)
        })
    })
    .await
}

async fn location_phase(api: &Api<BackupLocation>, name: &str) -> Option<(LocationPhase, String)> {
    let status = api.get_opt(name).await.unwrap()?.status?;
    Some((status.phase?, status.message.unwrap_or_default()))
}

/// Creates the FAQ's DeleteRequest YAML (as raw JSON) and waits until it removed itself.
async fn delete_request(cluster: &Cluster, name: &str, object: &str, kind: &str) {
    let requests: Api<kube::api::DynamicObject> = Api::namespaced_with(
        cluster.client.clone(),
        NS,
        &kube::api::ApiResource::erase::<csdr_kube::resources::DeleteRequest>(&()),
    );
    requests
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "csdr.alibabacloud.com/v1beta1", "kind": "DeleteRequest",
                "metadata": {"name": name, "namespace": NS},
                "spec": {"deleteObjectName": object, "deleteObjectType": kind}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    wait_for(
        &format!("the DeleteRequest {name} to remove itself"),
        || async {
            requests
                .get_opt(name)
                .await
                .unwrap()
                .is_none()
                .then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_backup_center_backs_up_syncs_restores_schedules_and_deletes() {
    let opener = Arc::new(MemoryOpener::default());
    let source = Cluster::start(KubeRelease::V1_16).await;
    let target = Cluster::start(KubeRelease::V1_28).await;
    let cms: Api<ConfigMap> = Api::namespaced(source.client.clone(), "shop");
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(
            json!({"metadata": {"name": "settings"}, "data": {"color": "blue"}}),
        )
        .unwrap(),
    )
    .await
    .unwrap();

    // A job orphaned by a controller that died before this one started.
    let orphan_api: Api<ApplicationBackup> = target.api();
    orphan_api
        .create(
            &PostParams::default(),
            &ApplicationBackup::new("orphan", backup_spec("oss")),
        )
        .await
        .unwrap();
    orphan_api
        .patch_status(
            "orphan",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
                "phase": "InProgress",
                "controller": "csdr-controller-dead",
                "startTimestamp": "2026-01-01T00:00:00Z",
                "heartbeatTime": "2026-01-01T00:00:00Z"
            }})),
        )
        .await
        .unwrap();

    let (stop_source, source_task) = source.controller("source-a", opener.clone());
    let (stop_target, target_task) = target.controller("target-a", opener.clone());

    // Locations: the shared vault is Available in both, an unreachable one Unavailable.
    for cluster in [&source, &target] {
        let api: Api<BackupLocation> = cluster.api();
        api.create(&PostParams::default(), &location("oss", "memory://shared"))
            .await
            .unwrap();
        let (phase, message) =
            wait_for("oss to be validated", || location_phase(&api, "oss")).await;
        assert_eq!((phase, message.as_str()), (LocationPhase::Available, "ok"));
    }
    let source_locations: Api<BackupLocation> = source.api();
    source_locations
        .create(
            &PostParams::default(),
            &location("down", "unreachable://oss"),
        )
        .await
        .unwrap();
    let (phase, message) = wait_for("down to be validated", || {
        location_phase(&source_locations, "down")
    })
    .await;
    assert_eq!(phase, LocationPhase::Unavailable);
    assert!(
        message.starts_with("VaultError: cannot connect"),
        "{message}"
    );

    // The orphaned job is failed with a reason naming its controller.
    let orphan = finished_backup(&orphan_api, "orphan").await;
    let status = orphan.status.unwrap();
    assert_eq!(status.phase, Some(JobPhase::Failed));
    assert!(
        status
            .failure_reason
            .as_deref()
            .unwrap()
            .contains("csdr-controller-dead"),
        "{status:?}"
    );

    // A backup in 1.16.
    let source_backups: Api<ApplicationBackup> = source.api();
    source_backups
        .create(
            &PostParams::default(),
            &ApplicationBackup::new("shop-b", backup_spec("oss")),
        )
        .await
        .unwrap();
    let done = finished_backup(&source_backups, "shop-b").await;
    let status = done.status.unwrap();
    assert_eq!(status.phase, Some(JobPhase::Completed), "{status:?}");
    assert_eq!(status.controller.as_deref(), Some("source-a"));
    assert!(status.progress.unwrap().items_backed_up.unwrap() > 0);
    assert!(status.expiration.is_some());

    // A backup on the unreachable location fails with the vault's error.
    source_backups
        .create(
            &PostParams::default(),
            &ApplicationBackup::new("down-b", backup_spec("down")),
        )
        .await
        .unwrap();
    let failed = finished_backup(&source_backups, "down-b")
        .await
        .status
        .unwrap();
    assert_eq!(failed.phase, Some(JobPhase::Failed));
    assert!(failed.failure_reason.unwrap().starts_with("VaultError: "));

    // A mistyped field is rejected by name.
    let raw: Api<kube::api::DynamicObject> = Api::namespaced_with(
        source.client.clone(),
        NS,
        &kube::api::ApiResource::erase::<ApplicationBackup>(&()),
    );
    raw.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "apiVersion": "csdr.alibabacloud.com/v1beta1", "kind": "ApplicationBackup",
            "metadata": {"name": "typo"},
            "spec": {"includeNamespaces": ["shop"], "backupLocation": "oss"}
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    let typo = finished_backup(&source_backups, "typo")
        .await
        .status
        .unwrap();
    assert_eq!(typo.phase, Some(JobPhase::Failed));
    assert!(
        typo.failure_reason
            .as_deref()
            .unwrap()
            .contains("spec.includeNamespaces"),
        "{typo:?}"
    );

    // The backup appears in 1.28 by sync, marked as synced, with its recorded phase.
    let target_backups: Api<ApplicationBackup> = target.api();
    let synced = wait_for("shop-b to be synced", || async {
        target_backups
            .get_opt("shop-b")
            .await
            .unwrap()
            .filter(|b| b.status.as_ref().and_then(|s| s.phase).is_some())
    })
    .await;
    assert_eq!(
        synced.labels().get(SYNCED_LABEL).map(String::as_str),
        Some("true")
    );
    assert_eq!(synced.status.unwrap().phase, Some(JobPhase::Completed));
    assert_eq!(
        phase_of(&target_backups, "down-b").await,
        None,
        "failed backups are not synced"
    );

    // A restore there, its location found from the synced backup.
    let restores: Api<ApplicationRestore> = target.api();
    restores
        .create(
            &PostParams::default(),
            &ApplicationRestore::new(
                "shop-r",
                ApplicationRestoreSpec {
                    backup_name: "shop-b".into(),
                    namespace_mapping: BTreeMap::from([("shop".into(), "shop-copy".into())]),
                    ..ApplicationRestoreSpec::default()
                },
            ),
        )
        .await
        .unwrap();
    let restored = wait_for("shop-r to finish", || async {
        restores
            .get_opt("shop-r")
            .await
            .unwrap()
            .and_then(|r| r.status)
            .filter(|s| s.phase.is_some_and(JobPhase::is_finished))
    })
    .await;
    assert_eq!(restored.phase, Some(JobPhase::Completed), "{restored:?}");
    assert_eq!(restored.backup_location.as_deref(), Some("oss"));
    // The backup and the restore each ran on a connection of their own.
    for cluster in [&source, &target] {
        assert!(
            cluster
                .job_connections
                .load(std::sync::atomic::Ordering::SeqCst)
                >= 1
        );
    }
    let copy: Api<ConfigMap> = Api::namespaced(target.client.clone(), "shop-copy");
    assert_eq!(
        copy.get("settings").await.unwrap().data.unwrap()["color"],
        "blue"
    );

    // A DeleteRequest for the restore removes its record from the vault and its
    // ApplicationRestore; the restored objects and the backup stay.
    let vault = opener
        .open(&VaultRequest {
            name: "oss".into(),
            url: "memory://shared".into(),
            config: BTreeMap::new(),
            credentials: None,
        })
        .await
        .unwrap();
    assert!(vault.restore("shop-r").await.unwrap().is_some());
    delete_request(&target, "shop-r-dbr", "shop-r", "Restore").await;
    assert_eq!(vault.restore("shop-r").await.unwrap(), None);
    assert!(restores.get_opt("shop-r").await.unwrap().is_none());
    assert!(copy.get_opt("settings").await.unwrap().is_some());
    assert!(vault.backup("shop-b").await.unwrap().is_some());

    // An ApplicationRestore deleted like `kubectl delete` leaves its record in the vault; a
    // DeleteRequest for it then finds the record through the Available locations.
    restores
        .create(
            &PostParams::default(),
            &ApplicationRestore::new(
                "shop-r2",
                ApplicationRestoreSpec {
                    backup_name: "shop-b".into(),
                    namespace_mapping: BTreeMap::from([("shop".into(), "shop-copy2".into())]),
                    ..ApplicationRestoreSpec::default()
                },
            ),
        )
        .await
        .unwrap();
    wait_for("shop-r2 to finish", || async {
        restores
            .get_opt("shop-r2")
            .await
            .unwrap()
            .and_then(|r| r.status)
            .filter(|s| s.phase.is_some_and(JobPhase::is_finished))
    })
    .await;
    restores
        .delete("shop-r2", &Default::default())
        .await
        .unwrap();
    assert!(vault.restore("shop-r2").await.unwrap().is_some());
    delete_request(&target, "shop-r2-dbr", "shop-r2", "Restore").await;
    assert_eq!(vault.restore("shop-r2").await.unwrap(), None);

    // A restore with `preflight: true` into a cluster whose admission refuses one of its
    // objects fails before the first write, naming the object.
    target.server.sim().reject(csdr_core::sim::Rejection {
        kind: "ConfigMap".into(),
        name: Some("settings".into()),
        message: "admission webhook \"policy.example.com\" denied the request".into(),
    });
    restores
        .create(
            &PostParams::default(),
            &ApplicationRestore::new(
                "shop-pre",
                ApplicationRestoreSpec {
                    backup_name: "shop-b".into(),
                    namespace_mapping: BTreeMap::from([("shop".into(), "shop-pre".into())]),
                    preflight: true,
                    ..ApplicationRestoreSpec::default()
                },
            ),
        )
        .await
        .unwrap();
    let refused = wait_for("shop-pre to finish", || async {
        restores
            .get_opt("shop-pre")
            .await
            .unwrap()
            .and_then(|r| r.status)
            .filter(|s| s.phase.is_some_and(JobPhase::is_finished))
    })
    .await;
    assert_eq!(refused.phase, Some(JobPhase::Failed), "{refused:?}");
    let reason = refused.failure_reason.unwrap_or_default();
    assert!(
        reason.contains("ConfigMap shop-pre/settings") && reason.contains("denied the request"),
        "{reason}"
    );
    let pre: Api<ConfigMap> = Api::namespaced(target.client.clone(), "shop-pre");
    assert!(
        pre.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // Schedules: a short interval fires named backups; a paused one never fires.
    let schedules: Api<BackupSchedule> = source.api();
    for (name, paused) in [("every", false), ("paused", true)] {
        schedules
            .create(
                &PostParams::default(),
                &BackupSchedule::new(
                    name,
                    BackupScheduleSpec {
                        schedule: "2s".into(),
                        paused,
                        time_zone: None,
                        template: backup_spec("oss"),
                    },
                ),
            )
            .await
            .unwrap();
    }
    let fired = wait_for("two scheduled backups", || async {
        let list = source_backups
            .list(&ListParams::default().labels("csdr.alibabacloud.com/schedule=every"))
            .await
            .unwrap();
        (list.items.len() >= 2).then_some(list.items)
    })
    .await;
    for b in &fired {
        let name = b.name_any();
        let stamp = name.strip_prefix("every-").unwrap();
        assert_eq!(stamp.len(), 14, "{name}");
        assert!(stamp.chars().all(|c| c.is_ascii_digit()), "{name}");
    }
    let paused = source_backups
        .list(&ListParams::default().labels("csdr.alibabacloud.com/schedule=paused"))
        .await
        .unwrap();
    assert!(paused.items.is_empty());
    let every = schedules.get("every").await.unwrap().status.unwrap();
    assert_eq!(every.phase.as_deref(), Some("Enabled"));
    assert!(every.last_backup.unwrap().starts_with("every-"));
    assert!(every.next_run_time.is_some());
    assert_eq!(
        schedules
            .get("paused")
            .await
            .unwrap()
            .status
            .unwrap()
            .phase
            .as_deref(),
        Some("Paused")
    );
    schedules
        .delete("every", &Default::default())
        .await
        .unwrap();

    // The FAQ's DeleteRequest, in 1.28: the backup leaves the vault and both clusters.
    delete_request(&target, "shop-b-dbr", "shop-b", "Backup").await;
    assert!(vault.backup("shop-b").await.unwrap().is_none());
    assert!(target_backups.get_opt("shop-b").await.unwrap().is_none());
    wait_for("shop-b to leave 1.16 by sync", || async {
        source_backups
            .get_opt("shop-b")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;

    let _ = stop_source.send(());
    let _ = stop_target.send(());
    source_task.await.unwrap();
    target_task.await.unwrap();
}

/// A disk claim used by a Deployment, and a snapshot class whose policy is Delete.
const VOLUMES: &str = r#"
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
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshotClass
metadata:
  name: other-snap
  labels: {csdr.io/default-snapshot-class: "true"}
driver: diskplugin.csi.alibabacloud.com
deletionPolicy: Delete
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_application_backup_snapshots_volumes_and_a_delete_request_removes_them() {
    let opener = Arc::new(MemoryOpener::default());
    let sim = support::sim(KubeRelease::V1_28);
    let cluster = Cluster::start_with(sim.clone()).await;
    sim.load_documents(&[csdr_core::sim::SimDocument {
        path: "volumes.yaml".into(),
        text: VOLUMES.into(),
    }])
    .unwrap();
    let (stop, task) = cluster.controller("vol-a", opener.clone());
    let locations: Api<BackupLocation> = cluster.api();
    locations
        .create(&PostParams::default(), &location("oss", "memory://volumes"))
        .await
        .unwrap();
    wait_for("oss to be validated", || location_phase(&locations, "oss")).await;

    let backups: Api<ApplicationBackup> = cluster.api();
    let mut spec = backup_spec("oss");
    spec.backup_volumes = true;
    spec.volume_snapshot_class
        .insert("diskplugin.csi.alibabacloud.com".into(), "disk-snap".into());
    backups
        .create(
            &PostParams::default(),
            &ApplicationBackup::new("vol-b", spec),
        )
        .await
        .unwrap();
    let done = finished_backup(&backups, "vol-b").await;
    assert_eq!(
        done.status.as_ref().and_then(|s| s.phase),
        Some(JobPhase::Completed),
        "{:#?}",
        done.status
    );
    assert_eq!(
        sim.snapshot_storage().len(),
        1,
        "the claim's data is snapshotted"
    );
    let snapshots = sim
        .snapshot(
            &csdr_core::object::GroupVersionResource::new(
                "snapshot.storage.k8s.io",
                "v1",
                "volumesnapshots",
            ),
            Some("shop"),
        )
        .unwrap()
        .0;
    assert_eq!(
        snapshots[0]
            .pointer("/spec/volumeSnapshotClassName")
            .and_then(|c| c.as_str()),
        Some("disk-snap"),
        "the class the ApplicationBackup names for the driver"
    );

    let requests: Api<kube::api::DynamicObject> = Api::namespaced_with(
        cluster.client.clone(),
        NS,
        &kube::api::ApiResource::erase::<csdr_kube::resources::DeleteRequest>(&()),
    );
    requests
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "csdr.alibabacloud.com/v1beta1", "kind": "DeleteRequest",
                "metadata": {"name": "vol-b-dbr", "namespace": "csdr"},
                "spec": {"deleteObjectName": "vol-b", "deleteObjectType": "Backup"}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    wait_for("the DeleteRequest to remove itself", || async {
        requests
            .get_opt("vol-b-dbr")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        sim.snapshot_storage().is_empty(),
        "the snapshot goes with its backup"
    );
    let _ = stop.send(());
    task.await.unwrap();
}
