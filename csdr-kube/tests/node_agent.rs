//! Node agents (issue 17) against the HTTP `ApiServer` over `SimCluster`: the controller's
//! `NodeAgentMover` hands volumes to `run_node_agent` of the volume's node through
//! PodVolumeBackups, with a fake local mover defined here (it records calls and can fail)
//! and a gated one (each copy waits until the test releases it; a dropped copy is reported).
//! Jobs are owned by their ApplicationBackup / ApplicationRestore and go with it; a job
//! deleted while it runs is cancelled on the agent and fails the controller's wait at once.

#![cfg(feature = "testing")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use csdr_core::node_policy::AGENT_EXCLUDED_LABEL;
use csdr_core::ports::pod_volume::{
    MountedVolume, PodVolumeBackupOutcome, PodVolumeBackupRequest, PodVolumeError, PodVolumeMover,
    PodVolumeRestoreOutcome, PodVolumeRestoreRequest,
};
use csdr_core::releases::KubeRelease;
use csdr_kube::controller::async_trait;
use csdr_kube::controller::node_agent::{
    LocationMover, NodeAgentMover, NodeAgentOptions, backup_job_name, restore_job_name,
    run_node_agent,
};
use csdr_kube::resources::{
    ApplicationBackup, ApplicationBackupSpec, ApplicationRestore, ApplicationRestoreSpec,
    PodVolumeBackup, PodVolumeJobPhase, PodVolumeRestore, crds,
};
use csdr_kube::testing::ApiServer;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::sync::Notify;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

const NS: &str = "csdr";

/// A local mover that records the volumes it was given, how many ran at once, and fails
/// for pods named `broken-*`.
#[derive(Debug, Default)]
struct FakeMover {
    calls: Mutex<Vec<String>>,
    running: AtomicUsize,
    most_at_once: AtomicUsize,
}

#[async_trait]
impl PodVolumeMover for FakeMover {
    async fn back_up(
        &self,
        request: &PodVolumeBackupRequest,
    ) -> Result<PodVolumeBackupOutcome, PodVolumeError> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_at_once.fetch_max(now, Ordering::SeqCst);
        self.calls
            .lock()
            .unwrap()
            .push(format!("{}/{}", request.mount.node, request.mount.pod_name));
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        if request.mount.pod_name.starts_with("broken") {
            return Err(PodVolumeError::SourceNotExist {
                volume: request.mount.to_string(),
                reason: "no folder /var/lib/kubelet/pods/u-broken/volumes".into(),
            });
        }
        Ok(PodVolumeBackupOutcome {
            snapshot_id: format!("snap-{}", request.mount.pod_name),
            bytes: 2048,
            files: 3,
        })
    }

    async fn restore(
        &self,
        request: &PodVolumeRestoreRequest,
    ) -> Result<PodVolumeRestoreOutcome, PodVolumeError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("restore {}", request.mount.pod_name));
        Ok(PodVolumeRestoreOutcome { bytes: 1, files: 1 })
    }
}

struct Cluster {
    _server: ApiServer,
    client: Client,
}

impl Cluster {
    async fn start() -> Cluster {
        let server = ApiServer::start(support::sim(KubeRelease::V1_28))
            .await
            .unwrap();
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
        let pvbs: Api<PodVolumeBackup> = Api::namespaced(client.clone(), NS);
        for _ in 0..300 {
            if pvbs.list(&ListParams::default()).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Cluster {
            _server: server,
            client,
        }
    }

    /// A node with `labels` and, if `agent`, a Running node-agent pod on it.
    async fn node(&self, name: &str, labels: &[(&str, &str)], agent: bool) {
        let labels: BTreeMap<_, _> = labels.iter().copied().collect();
        let nodes: Api<Node> = Api::all(self.client.clone());
        nodes
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}}))
                    .unwrap(),
            )
            .await
            .unwrap();
        if agent {
            let pods: Api<Pod> = Api::namespaced(self.client.clone(), NS);
            let pod_name = format!("csdr-node-agent-{name}");
            pods.create(
                &PostParams::default(),
                &serde_json::from_value(json!({
                    "metadata": {"name": pod_name, "labels": {"app": "csdr-node-agent"}},
                    "spec": {"nodeName": name, "containers": [{"name": "node-agent", "image": "csdr"}]}
                }))
                .unwrap(),
            )
            .await
            .unwrap();
            pods.patch_status(
                &pod_name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"phase": "Running"}})),
            )
            .await
            .unwrap();
        }
    }

    /// Runs the node agent of `node` with `local` until the returned sender is dropped.
    fn agent(&self, node: &str, local: Arc<dyn LocationMover>) -> tokio::sync::oneshot::Sender<()> {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let client = self.client.clone();
        let options = NodeAgentOptions {
            namespace: NS.into(),
            node: node.into(),
            identity: format!("csdr-node-agent-{node}"),
            resync: Duration::from_secs(2),
        };
        tokio::spawn(async move {
            run_node_agent(client, options, local, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        tx
    }

    fn mover(&self) -> NodeAgentMover {
        NodeAgentMover::new(self.client.clone(), NS)
            .with_poll_interval(Duration::from_millis(100))
            .with_timeout(Duration::from_secs(30))
    }
}

fn request(node: &str, pod: &str) -> PodVolumeBackupRequest {
    PodVolumeBackupRequest {
        backup_name: "nightly".into(),
        attempt: "a1".into(),
        pvc_namespace: "shop".into(),
        pvc_name: format!("data-{pod}"),
        mount: MountedVolume {
            node: node.into(),
            pod_namespace: "shop".into(),
            pod_name: pod.into(),
            pod_uid: format!("uid-{pod}"),
            pod_volume: "data".into(),
            volume: format!("pv-{pod}"),
        },
        repository: "shop".into(),
        tags: BTreeMap::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_volume_goes_to_the_agent_of_its_node_and_the_outcome_comes_back() {
    let cluster = Cluster::start().await;
    cluster.node("node-a", &[], true).await;
    cluster.node("node-b", &[], true).await;
    let on_a = Arc::new(FakeMover::default());
    let on_b = Arc::new(FakeMover::default());
    let _a = cluster.agent("node-a", on_a.clone());
    let _b = cluster.agent("node-b", on_b.clone());

    let outcome = cluster
        .mover()
        .back_up(&request("node-b", "web-0"))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        PodVolumeBackupOutcome {
            snapshot_id: "snap-web-0".into(),
            bytes: 2048,
            files: 3
        }
    );
    assert_eq!(*on_b.calls.lock().unwrap(), ["node-b/web-0"]);
    assert!(on_a.calls.lock().unwrap().is_empty());

    let pvbs: Api<PodVolumeBackup> = Api::namespaced(cluster.client.clone(), NS);
    let listed = pvbs.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(listed.len(), 1);
    let status = listed[0].status.clone().unwrap();
    assert_eq!(status.phase, Some(PodVolumeJobPhase::Completed));
    assert_eq!(status.agent.as_deref(), Some("csdr-node-agent-node-b"));
    assert!(status.start_timestamp.is_some() && status.completion_timestamp.is_some());
    let labels = listed[0].metadata.labels.clone().unwrap();
    assert_eq!(labels["csdr.alibabacloud.com/node"], "node-b");
    assert_eq!(labels["csdr.alibabacloud.com/backup"], "nightly");

    // The same request again finds its object (deterministic name) and its result.
    let again = cluster
        .mover()
        .back_up(&request("node-b", "web-0"))
        .await
        .unwrap();
    assert_eq!(again.snapshot_id, "snap-web-0");
    assert_eq!(on_b.calls.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn volumes_of_one_node_never_run_at_once_and_failures_come_back_typed() {
    let cluster = Cluster::start().await;
    cluster.node("node-a", &[], true).await;
    let local = Arc::new(FakeMover::default());
    let _agent = cluster.agent("node-a", local.clone());
    let mover = cluster.mover();
    let (r0, r1, r2) = (
        request("node-a", "web-0"),
        request("node-a", "web-1"),
        request("node-a", "broken-0"),
    );
    let (first, second, broken) =
        tokio::join!(mover.back_up(&r0), mover.back_up(&r1), mover.back_up(&r2));
    assert_eq!(first.unwrap().snapshot_id, "snap-web-0");
    assert_eq!(second.unwrap().snapshot_id, "snap-web-1");
    let err = broken.unwrap_err();
    match &err {
        PodVolumeError::SourceNotExist { volume, reason } => {
            assert!(volume.contains("broken-0"), "{volume}");
            assert_eq!(reason, "no folder /var/lib/kubelet/pods/u-broken/volumes");
        }
        other => panic!("expected SourceNotExist, got {other:?}"),
    }
    assert_eq!(local.calls.lock().unwrap().len(), 3);
    assert_eq!(local.most_at_once.load(Ordering::SeqCst), 1);
    let pvbs: Api<PodVolumeBackup> = Api::namespaced(cluster.client.clone(), NS);
    let failed: Vec<_> = pvbs
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase) == Some(PodVolumeJobPhase::Failed))
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].status.as_ref().unwrap().message.as_deref(),
        Some("no folder /var/lib/kubelet/pods/u-broken/volumes")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_excluded_node_or_one_without_an_agent_fails_fast_creating_nothing() {
    let cluster = Cluster::start().await;
    cluster
        .node("node-x", &[(AGENT_EXCLUDED_LABEL, "true")], true)
        .await;
    cluster.node("node-y", &[], false).await;
    let mover = cluster.mover();
    let err = mover
        .back_up(&request("node-x", "web-0"))
        .await
        .unwrap_err();
    match &err {
        PodVolumeError::NoAgent { reason, .. } => {
            assert!(reason.contains("node-x"), "{reason}");
            assert!(reason.contains("agent-excluded=true"), "{reason}");
            assert!(reason.contains("exclude"), "{reason}");
        }
        other => panic!("expected NoAgent, got {other:?}"),
    }
    let err = mover
        .back_up(&request("node-y", "web-0"))
        .await
        .unwrap_err();
    match &err {
        PodVolumeError::NoAgent { reason, .. } => {
            assert!(reason.contains("node-y"), "{reason}");
            assert!(reason.contains("no running node agent"), "{reason}");
        }
        other => panic!("expected NoAgent, got {other:?}"),
    }
    let pvbs: Api<PodVolumeBackup> = Api::namespaced(cluster.client.clone(), NS);
    assert!(
        pvbs.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_progress_volume_left_by_a_restart_is_failed_with_a_message() {
    let cluster = Cluster::start().await;
    cluster.node("node-a", &[], true).await;
    let pvbs: Api<PodVolumeBackup> = Api::namespaced(cluster.client.clone(), NS);
    let mut object = PodVolumeBackup::new(
        "left-over",
        csdr_kube::resources::PodVolumeBackupSpec::from_request(&request("node-a", "web-9")),
    );
    object.metadata.labels = Some(BTreeMap::from([(
        "csdr.alibabacloud.com/node".to_string(),
        "node-a".to_string(),
    )]));
    pvbs.create(&PostParams::default(), &object).await.unwrap();
    pvbs.patch_status(
        "left-over",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "InProgress"}})),
    )
    .await
    .unwrap();
    let local = Arc::new(FakeMover::default());
    let _agent = cluster.agent("node-a", local.clone());
    let mut status = None;
    for _ in 0..100 {
        let s = pvbs.get("left-over").await.unwrap().status.unwrap();
        if s.phase == Some(PodVolumeJobPhase::Failed) {
            status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = status.expect("the left-over job was not failed");
    assert!(
        status.message.unwrap().contains("restarted"),
        "the message says why"
    );
    assert!(local.calls.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_lists_podvolumebackups_with_their_columns() {
    let server = ApiServer::start(support::sim(KubeRelease::V1_28))
        .await
        .unwrap();
    let Some(kubectl) = support::kubectl::Kubectl::find(&server) else {
        return;
    };
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
    let pvbs: Api<PodVolumeBackup> = Api::namespaced(client.clone(), NS);
    let object = PodVolumeBackup::new(
        "nightly-1",
        csdr_kube::resources::PodVolumeBackupSpec::from_request(&request("node-a", "web-0")),
    );
    for _ in 0..300 {
        if pvbs.create(&PostParams::default(), &object).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pvbs.patch_status(
        "nightly-1",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Completed", "snapshotID": "3f2a"}})),
    )
    .await
    .unwrap();
    let out =
        tokio::task::spawn_blocking(move || kubectl.run(&["get", "podvolumebackups", "-n", NS]))
            .await
            .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = stdout.lines();
    let header: Vec<_> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "NODE", "PHASE", "CLAIM", "SNAPSHOT", "AGE"]
    );
    let row: Vec<_> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        &row[..5],
        ["nightly-1", "node-a", "Completed", "data-web-0", "3f2a"]
    );
}

/// A local mover whose copies each wait until the test releases them: it reports each copy
/// it starts on `started` and each copy dropped before it finished on `dropped`.
#[derive(Debug)]
struct GatedMover {
    started: UnboundedSender<String>,
    dropped: UnboundedSender<String>,
    gates: Mutex<BTreeMap<String, Arc<Notify>>>,
}

/// Reports its pod on `dropped` unless the copy finished.
struct Unfinished {
    pod: String,
    dropped: UnboundedSender<String>,
    finished: bool,
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.dropped.send(self.pod.clone());
        }
    }
}

impl GatedMover {
    fn new() -> (
        Arc<GatedMover>,
        UnboundedReceiver<String>,
        UnboundedReceiver<String>,
    ) {
        let (started, started_rx) = unbounded_channel();
        let (dropped, dropped_rx) = unbounded_channel();
        let mover = GatedMover {
            started,
            dropped,
            gates: Mutex::new(BTreeMap::new()),
        };
        (Arc::new(mover), started_rx, dropped_rx)
    }

    fn gate(&self, pod: &str) -> Arc<Notify> {
        self.gates
            .lock()
            .unwrap()
            .entry(pod.to_string())
            .or_default()
            .clone()
    }

    /// Lets the copy of `pod` finish (now or whenever it starts).
    fn release(&self, pod: &str) {
        self.gate(pod).notify_one();
    }

    async fn copy(&self, pod: &str) {
        let mut guard = Unfinished {
            pod: pod.to_string(),
            dropped: self.dropped.clone(),
            finished: false,
        };
        self.started.send(pod.to_string()).unwrap();
        self.gate(pod).notified().await;
        guard.finished = true;
    }
}

#[async_trait]
impl PodVolumeMover for GatedMover {
    async fn back_up(
        &self,
        request: &PodVolumeBackupRequest,
    ) -> Result<PodVolumeBackupOutcome, PodVolumeError> {
        self.copy(&request.mount.pod_name).await;
        Ok(PodVolumeBackupOutcome {
            snapshot_id: format!("snap-{}", request.mount.pod_name),
            bytes: 1,
            files: 1,
        })
    }

    async fn restore(
        &self,
        request: &PodVolumeRestoreRequest,
    ) -> Result<PodVolumeRestoreOutcome, PodVolumeError> {
        self.copy(&request.mount.pod_name).await;
        Ok(PodVolumeRestoreOutcome { bytes: 1, files: 1 })
    }
}

/// The next message of `rx`, failing the test after 30 s instead of hanging.
async fn next(rx: &mut UnboundedReceiver<String>, what: &str) -> String {
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .unwrap()
}

fn restore_request(restore: &str, node: &str, pod: &str) -> PodVolumeRestoreRequest {
    let backup = request(node, pod);
    PodVolumeRestoreRequest {
        restore_name: restore.into(),
        backup_name: backup.backup_name,
        pvc_namespace: backup.pvc_namespace,
        pvc_name: backup.pvc_name,
        mount: backup.mount,
        repository: backup.repository,
        snapshot_id: format!("snap-{pod}"),
        uploader: "restic".into(),
        velero: false,
    }
}

fn owner_of(kind: &str, name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: "csdr.alibabacloud.com/v1beta1".into(),
        kind: kind.into(),
        name: name.into(),
        uid: uid.into(),
        controller: Some(false),
        block_owner_deletion: Some(false),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn volume_jobs_are_owned_by_their_backup_or_restore_and_deleted_with_it() {
    let cluster = Cluster::start().await;
    cluster.node("node-a", &[], true).await;
    let local = Arc::new(FakeMover::default());
    let _agent = cluster.agent("node-a", local.clone());
    let backups: Api<ApplicationBackup> = Api::namespaced(cluster.client.clone(), NS);
    let restores: Api<ApplicationRestore> = Api::namespaced(cluster.client.clone(), NS);
    let pvbs: Api<PodVolumeBackup> = Api::namespaced(cluster.client.clone(), NS);
    let pvrs: Api<PodVolumeRestore> = Api::namespaced(cluster.client.clone(), NS);

    // The ApplicationBackup holds a finalizer, so its deletion first stays pending.
    let mut backup = ApplicationBackup::new("nightly", ApplicationBackupSpec::default());
    backup.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    let backup = backups
        .create(&PostParams::default(), &backup)
        .await
        .unwrap();
    let restore = ApplicationRestore::new(
        "back-again",
        ApplicationRestoreSpec {
            backup_name: "nightly".into(),
            ..ApplicationRestoreSpec::default()
        },
    );
    let restore = restores
        .create(&PostParams::default(), &restore)
        .await
        .unwrap();

    let mover = cluster.mover();
    let (r0, r1) = (request("node-a", "web-0"), request("node-a", "web-1"));
    let adhoc = PodVolumeBackupRequest {
        backup_name: "adhoc".into(),
        ..request("node-a", "web-2")
    };
    let restored = restore_request("back-again", "node-a", "web-0");
    mover.back_up(&r0).await.unwrap();
    mover.back_up(&r1).await.unwrap();
    mover.back_up(&adhoc).await.unwrap();
    mover.restore(&restored).await.unwrap();

    let backup_owner = owner_of("ApplicationBackup", "nightly", &backup.uid().unwrap());
    for name in [backup_job_name(&r0), backup_job_name(&r1)] {
        let job = pvbs.get(&name).await.unwrap();
        assert_eq!(
            job.owner_references(),
            std::slice::from_ref(&backup_owner),
            "{name}"
        );
    }
    // Without an ApplicationBackup of its name (an engine-only run) a job has no owner.
    let unowned = pvbs.get(&backup_job_name(&adhoc)).await.unwrap();
    assert!(unowned.owner_references().is_empty());
    let restore_job = pvrs.get(&restore_job_name(&restored)).await.unwrap();
    assert_eq!(
        restore_job.owner_references(),
        [owner_of(
            "ApplicationRestore",
            "back-again",
            &restore.uid().unwrap()
        )]
    );

    // Deleting the backup: pending while its finalizer stays, the jobs with it.
    backups
        .delete("nightly", &DeleteParams::default())
        .await
        .unwrap();
    assert!(backups.get_opt("nightly").await.unwrap().is_some());
    assert!(pvbs.get_opt(&backup_job_name(&r0)).await.unwrap().is_some());
    // Once the finalizer goes, the garbage collector takes the backup's jobs.
    backups
        .patch(
            "nightly",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": []}})),
        )
        .await
        .unwrap();
    assert!(backups.get_opt("nightly").await.unwrap().is_none());
    let left: Vec<String> = pvbs
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    assert_eq!(left, [backup_job_name(&adhoc)]);

    restores
        .delete("back-again", &DeleteParams::default())
        .await
        .unwrap();
    assert!(
        pvrs.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

/// Runs web-0's backup until the agent copies it, queues web-1's, then lets `delete` remove
/// (or start removing) web-0's job: the agent drops web-0's copy and runs web-1's, and the
/// controller's wait for web-0 fails at once naming the job. Returns the cluster and web-0's
/// job name.
async fn delete_a_running_job(
    delete: impl AsyncFnOnce(&Api<PodVolumeBackup>, &str),
) -> (Cluster, String) {
    let cluster = Cluster::start().await;
    cluster.node("node-a", &[], true).await;
    let (local, mut started, mut dropped) = GatedMover::new();
    let _agent = cluster.agent("node-a", local.clone());
    // A long timeout: only the deletion can end web-0's wait within the test's bounds.
    let mover = cluster.mover().with_timeout(Duration::from_secs(600));
    let pvbs: Api<PodVolumeBackup> = Api::namespaced(cluster.client.clone(), NS);

    let (r0, r1) = (request("node-a", "web-0"), request("node-a", "web-1"));
    let first = tokio::spawn({
        let (mover, r0) = (mover.clone(), r0.clone());
        async move { mover.back_up(&r0).await }
    });
    assert_eq!(next(&mut started, "web-0's copy").await, "web-0");
    let second = tokio::spawn({
        let (mover, r1) = (mover.clone(), r1.clone());
        async move { mover.back_up(&r1).await }
    });
    let name = backup_job_name(&r0);
    let running = pvbs.get(&name).await.unwrap();
    assert_eq!(
        running.status.unwrap().phase,
        Some(PodVolumeJobPhase::InProgress)
    );

    delete(&pvbs, &name).await;
    assert_eq!(next(&mut dropped, "web-0's copy dropped").await, "web-0");
    let err = tokio::time::timeout(Duration::from_secs(10), first)
        .await
        .expect("the controller's wait did not end when its job was deleted")
        .unwrap()
        .unwrap_err();
    match &err {
        PodVolumeError::Cancelled { volume, reason } => {
            assert!(volume.contains("web-0"), "{volume}");
            assert!(
                reason.contains(&format!(
                    "PodVolumeBackup {NS}/{name} was deleted before it finished"
                )),
                "{reason}"
            );
        }
        other => panic!("expected Cancelled, got {other:?}"),
    }

    // The agent goes on with the next job.
    assert_eq!(next(&mut started, "web-1's copy").await, "web-1");
    local.release("web-1");
    let outcome = tokio::time::timeout(Duration::from_secs(30), second)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(outcome.snapshot_id, "snap-web-1");
    assert!(dropped.try_recv().is_err(), "only web-0's copy was dropped");
    (cluster, name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_deleted_while_it_runs_is_cancelled_and_the_agent_goes_on() {
    let (cluster, name) = delete_a_running_job(async |pvbs, name| {
        pvbs.delete(name, &DeleteParams::default()).await.unwrap();
    })
    .await;
    let pvbs: Api<PodVolumeBackup> = Api::namespaced(cluster.client.clone(), NS);
    assert!(pvbs.get_opt(&name).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_being_deleted_while_it_runs_is_cancelled_and_left_as_it_was() {
    let (cluster, name) = delete_a_running_job(async |pvbs, name| {
        pvbs.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/hold"]}})),
        )
        .await
        .unwrap();
        pvbs.delete(name, &DeleteParams::default()).await.unwrap();
    })
    .await;
    // The agent wrote nothing more to the cancelled job: it stays InProgress until it goes.
    let pvbs: Api<PodVolumeBackup> = Api::namespaced(cluster.client.clone(), NS);
    let held = pvbs.get(&name).await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    let status = held.status.unwrap();
    assert_eq!(status.phase, Some(PodVolumeJobPhase::InProgress));
    assert_eq!(status.completion_timestamp, None);
}
