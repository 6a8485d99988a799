//! Node agents (issue 17) against the HTTP `ApiServer` over `SimCluster`: the controller's
//! `NodeAgentMover` hands volumes to `run_node_agent` of the volume's node through
//! PodVolumeBackups, with a fake local mover defined here (it records calls and can fail).

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
use csdr_kube::controller::node_agent::{NodeAgentMover, NodeAgentOptions, run_node_agent};
use csdr_kube::resources::{PodVolumeBackup, PodVolumeJobPhase, crds};
use csdr_kube::testing::ApiServer;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

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
    fn agent(&self, node: &str, local: Arc<FakeMover>) -> tokio::sync::oneshot::Sender<()> {
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
