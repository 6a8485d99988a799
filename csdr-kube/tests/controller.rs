//! A `kube::runtime::Controller` against the HTTP `ApiServer` (issue 12, "Done when"): a
//! test-only custom resource `Widget` (`csdr.test/v1`), its CRD created on a simulated 1.28
//! cluster, and two controller instances that elect a leader with a `coordination.k8s.io/v1`
//! Lease (kube-lease-manager). The leader reconciles with kube-runtime's `finalizer` helper,
//! writes `status` by server-side apply on the `/status` subresource (as kube-rs'
//! controller-rs does) and records `events.k8s.io/v1` Events with a `Recorder`.
//!
//! Nothing here is special-cased by the simulator: it must behave as an API server does.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use csdr_core::releases::KubeRelease;
use csdr_kube::testing::ApiServer;
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::watcher;
use kube::{Client, CustomResource, CustomResourceExt, Resource, ResourceExt};
use kube_lease_manager::LeaseManagerBuilder;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::task::JoinHandle;

const NS: &str = "default";
const FINALIZER: &str = "widgets.csdr.test/cleanup";
const CONTROLLER: &str = "widget-controller";
const LEASE: &str = "widget-controller-leader";
/// How long a Lease stays valid after its holder's last renewal.
const LEASE_SECONDS: u64 = 4;
/// The holder renews this long before the Lease expires.
const GRACE_SECONDS: u64 = 1;
/// kube-lease-manager waits a random time of up to one second before it takes an expired
/// Lease (to avoid collisions), and then needs a few requests.
const TAKEOVER_SLACK: Duration = Duration::from_millis(2_000);

/// What the controller manages: a widget of some size.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "csdr.test",
    version = "v1",
    kind = "Widget",
    namespaced,
    status = "WidgetStatus",
    shortname = "wd"
)]
#[serde(rename_all = "camelCase")]
pub struct WidgetSpec {
    /// The wanted size.
    pub size: i64,
}

/// What the controller reports.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WidgetStatus {
    /// The size last reconciled.
    pub reconciled_size: i64,
    /// The controller instance that reconciled it.
    pub reconciled_by: String,
}

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error(transparent)]
    Kube(#[from] kube::Error),
}

/// One reconcile call: which instance, which widget, apply or cleanup.
#[derive(Clone, Debug, PartialEq)]
struct Call {
    instance: String,
    widget: String,
    cleanup: bool,
    at: Instant,
}

struct Ctx {
    client: Client,
    identity: String,
    recorder: Recorder,
    calls: Arc<Mutex<Vec<Call>>>,
    /// Cleanup waits until this is true, so the test can look at an object held by its
    /// finalizer.
    cleanup_allowed: tokio::sync::watch::Receiver<bool>,
}

impl Ctx {
    fn record(&self, widget: &Widget, cleanup: bool) {
        self.calls.lock().unwrap().push(Call {
            instance: self.identity.clone(),
            widget: widget.name_any(),
            cleanup,
            at: Instant::now(),
        });
    }
}

async fn reconcile(widget: Arc<Widget>, ctx: Arc<Ctx>) -> Result<Action, finalizer::Error<Error>> {
    let api: Api<Widget> = Api::namespaced(ctx.client.clone(), NS);
    finalizer(&api, FINALIZER, widget, |event| async {
        match event {
            finalizer::Event::Apply(w) => apply(&w, &ctx).await,
            finalizer::Event::Cleanup(w) => cleanup(&w, &ctx).await,
        }
    })
    .await
}

async fn apply(widget: &Widget, ctx: &Ctx) -> Result<Action, Error> {
    ctx.record(widget, false);
    let api: Api<Widget> = Api::namespaced(ctx.client.clone(), NS);
    let status = json!({
        "apiVersion": "csdr.test/v1",
        "kind": "Widget",
        "status": {"reconciledSize": widget.spec.size, "reconciledBy": ctx.identity},
    });
    api.patch_status(
        &widget.name_any(),
        &PatchParams::apply(CONTROLLER).force(),
        &Patch::Apply(status),
    )
    .await?;
    ctx.recorder
        .publish(
            &Event {
                type_: EventType::Normal,
                reason: "Reconciled".into(),
                note: Some(format!("size {}", widget.spec.size)),
                action: "Reconcile".into(),
                secondary: None,
            },
            &widget.object_ref(&()),
        )
        .await?;
    Ok(Action::requeue(Duration::from_secs(300)))
}

async fn cleanup(widget: &Widget, ctx: &Ctx) -> Result<Action, Error> {
    ctx.record(widget, true);
    let mut allowed = ctx.cleanup_allowed.clone();
    // The sender lives as long as the test.
    let _ = allowed.wait_for(|ok| *ok).await;
    ctx.recorder
        .publish(
            &Event {
                type_: EventType::Normal,
                reason: "CleanedUp".into(),
                note: Some("released the widget's resources".into()),
                action: "Cleanup".into(),
                secondary: None,
            },
            &widget.object_ref(&()),
        )
        .await?;
    Ok(Action::await_change())
}

fn error_policy(widget: Arc<Widget>, error: &finalizer::Error<Error>, ctx: Arc<Ctx>) -> Action {
    // Shown when the test fails: what the simulator answered.
    eprintln!(
        "{}: reconciling {} failed: {error:?}",
        ctx.identity,
        widget.name_any()
    );
    Action::requeue(Duration::from_millis(300))
}

/// One controller process: a lease manager and a controller that runs while it leads.
struct Instance {
    lease: JoinHandle<kube_lease_manager::Result<kube_lease_manager::LeaseManager>>,
    runner: JoinHandle<()>,
}

impl Instance {
    async fn start(
        client: Client,
        identity: &str,
        calls: Arc<Mutex<Vec<Call>>>,
        cleanup_allowed: tokio::sync::watch::Receiver<bool>,
    ) -> Instance {
        let manager = LeaseManagerBuilder::new(client.clone(), LEASE)
            .with_namespace(NS)
            .with_identity(identity)
            .with_duration(LEASE_SECONDS)
            .with_grace(GRACE_SECONDS)
            .build()
            .await
            .unwrap();
        let (mut leading, lease) = manager.watch().await;
        let ctx = Arc::new(Ctx {
            client: client.clone(),
            identity: identity.to_string(),
            recorder: Recorder::new(
                client.clone(),
                Reporter {
                    controller: CONTROLLER.into(),
                    instance: Some(identity.into()),
                },
            ),
            calls,
            cleanup_allowed,
        });
        let runner = tokio::spawn(async move {
            loop {
                if leading.wait_for(|leader| *leader).await.is_err() {
                    return;
                }
                let widgets: Api<Widget> = Api::namespaced(client.clone(), NS);
                let controller = Controller::new(widgets, watcher::Config::default())
                    .run(reconcile, error_policy, ctx.clone())
                    .for_each(|_| async {});
                tokio::select! {
                    () = controller => return,
                    lost = leading.wait_for(|leader| !*leader) => if lost.is_err() { return },
                }
            }
        });
        Instance { lease, runner }
    }

    /// The process dies: nothing is released, the Lease just stops being renewed.
    fn kill(self) {
        self.runner.abort();
        self.lease.abort();
    }
}

async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get_opt(LEASE)
        .await
        .unwrap()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
}

async fn widget_status(api: &Api<Widget>, name: &str) -> Option<WidgetStatus> {
    api.get_opt(name).await.unwrap().and_then(|w| w.status)
}

fn widget(name: &str, size: i64) -> Widget {
    Widget::new(name, WidgetSpec { size })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_elected_controller_reconciles_with_finalizers_status_and_events() {
    let server = ApiServer::start(support::sim(KubeRelease::V1_28))
        .await
        .unwrap();
    let client = Client::try_from(kube::Config::new(server.url().parse().unwrap())).unwrap();

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &Widget::crd())
        .await
        .unwrap();
    let widgets: Api<Widget> = Api::namespaced(client.clone(), NS);
    wait_for(
        "the Widget resource to be served",
        Duration::from_secs(10),
        || {
            let widgets = widgets.clone();
            async move { widgets.list(&ListParams::default()).await.ok() }
        },
    )
    .await;

    let calls = Arc::new(Mutex::new(Vec::new()));
    let (allow_cleanup, cleanup_allowed) = tokio::sync::watch::channel(false);
    let leases: Api<Lease> = Api::namespaced(client.clone(), NS);

    // "a" starts first and takes the Lease; "b" starts once "a" leads.
    let a = Instance::start(client.clone(), "a", calls.clone(), cleanup_allowed.clone()).await;
    wait_for(
        "instance a to hold the lease",
        Duration::from_secs(10),
        || async { (holder(&leases).await.as_deref() == Some("a")).then_some(()) },
    )
    .await;
    let b = Instance::start(client.clone(), "b", calls.clone(), cleanup_allowed.clone()).await;

    // Reconcile: the finalizer is added and the status written by server-side apply.
    widgets
        .create(&PostParams::default(), &widget("w1", 3))
        .await
        .unwrap();
    let status = wait_for("w1's status", Duration::from_secs(10), || {
        widget_status(&widgets, "w1")
    })
    .await;
    assert_eq!(
        status,
        WidgetStatus {
            reconciled_size: 3,
            reconciled_by: "a".into()
        }
    );
    let w1 = widgets.get("w1").await.unwrap();
    assert_eq!(w1.finalizers(), [FINALIZER.to_string()]);
    assert_eq!(w1.spec, WidgetSpec { size: 3 });

    // A spec change is reconciled too.
    widgets
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 4}})),
        )
        .await
        .unwrap();
    wait_for(
        "w1's status to follow the new size",
        Duration::from_secs(10),
        || async {
            widget_status(&widgets, "w1")
                .await
                .filter(|s| s.reconciled_size == 4)
        },
    )
    .await;

    // The Recorder's events.k8s.io/v1 Event, also readable through the core API.
    let events: Api<K8sEvent> = Api::namespaced(client.clone(), NS);
    let recorded = wait_for(
        "a Reconciled event for w1",
        Duration::from_secs(10),
        || async {
            events
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .into_iter()
                .find(|e| {
                    e.reason.as_deref() == Some("Reconciled")
                        && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("w1")
                })
        },
    )
    .await;
    assert_eq!(recorded.reporting_controller.as_deref(), Some(CONTROLLER));
    assert_eq!(recorded.reporting_instance.as_deref(), Some("a"));
    assert_eq!(recorded.type_.as_deref(), Some("Normal"));
    assert_eq!(recorded.action.as_deref(), Some("Reconcile"));
    assert_eq!(
        recorded.regarding.as_ref().and_then(|r| r.kind.as_deref()),
        Some("Widget")
    );
    let core_events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), NS);
    let as_core = core_events
        .get(&recorded.metadata.name.clone().unwrap())
        .await
        .unwrap();
    assert_eq!(as_core.involved_object.name.as_deref(), Some("w1"));
    assert_eq!(as_core.reporting_component.as_deref(), Some(CONTROLLER));
    assert!(as_core.message.as_deref().unwrap().starts_with("size "));

    // Delete: the object stays, marked for deletion, until the finalizer's cleanup is done.
    widgets
        .delete("w1", &DeleteParams::default())
        .await
        .unwrap();
    wait_for(
        "the cleanup of w1 to start",
        Duration::from_secs(10),
        || async {
            calls
                .lock()
                .unwrap()
                .iter()
                .any(|c| c.cleanup && c.widget == "w1")
                .then_some(())
        },
    )
    .await;
    let held = widgets
        .get_opt("w1")
        .await
        .unwrap()
        .expect("w1 is kept while its finalizer's cleanup runs");
    assert!(held.metadata.deletion_timestamp.is_some(), "{held:?}");
    assert_eq!(held.finalizers(), [FINALIZER.to_string()]);
    allow_cleanup.send(true).unwrap();
    wait_for("w1 to be gone", Duration::from_secs(10), || async {
        widgets.get_opt("w1").await.unwrap().is_none().then_some(())
    })
    .await;
    wait_for(
        "a CleanedUp event for w1",
        Duration::from_secs(10),
        || async {
            events
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .into_iter()
                .find(|e| {
                    e.reason.as_deref() == Some("CleanedUp")
                        && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("w1")
                })
        },
    )
    .await;

    // Only the leader reconciled.
    let by_b: Vec<Call> = calls
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.instance != "a")
        .cloned()
        .collect();
    assert!(by_b.is_empty(), "the follower reconciled: {by_b:?}");
    assert_eq!(holder(&leases).await.as_deref(), Some("a"));

    // The leader dies; the follower takes the Lease once it expires and reconciles.
    a.kill();
    let killed = Instant::now();
    wait_for(
        "instance b to take the lease",
        Duration::from_secs(LEASE_SECONDS) + TAKEOVER_SLACK,
        || async { (holder(&leases).await.as_deref() == Some("b")).then_some(()) },
    )
    .await;
    widgets
        .create(&PostParams::default(), &widget("w2", 7))
        .await
        .unwrap();
    let status = wait_for("w2's status", Duration::from_secs(10), || {
        widget_status(&widgets, "w2")
    })
    .await;
    assert_eq!(
        status,
        WidgetStatus {
            reconciled_size: 7,
            reconciled_by: "b".into()
        }
    );
    assert_eq!(
        widgets.get("w2").await.unwrap().finalizers(),
        [FINALIZER.to_string()]
    );
    let after_kill: Vec<Call> = calls
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.at > killed && c.instance != "b")
        .cloned()
        .collect();
    assert!(
        after_kill.is_empty(),
        "a reconciled after it died: {after_kill:?}"
    );

    b.kill();
    server.shutdown().await.unwrap();
}
