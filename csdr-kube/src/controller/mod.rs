//! The backup center controller (K2): `csdr server` runs [`run`], which elects a leader with
//! a `coordination.k8s.io` Lease (kube-lease-manager) and, while it leads, runs one
//! kube-runtime `Controller` per resource of [`crate::resources`]:
//!
//! - BackupLocation ([`location`]): validates the vault (V2) on change and every
//!   [`ControllerOptions::validation_period`], and syncs its backups into ApplicationBackups
//!   every [`ControllerOptions::sync_period`] (K3, V5);
//! - ApplicationBackup / ApplicationRestore ([`jobs`]): claim the job (status `controller`
//!   and `heartbeatTime`), run the core [`Engine`](csdr_core::engine::Engine) on the cluster,
//!   write the result; a job whose owner stopped heartbeating for two periods is marked Failed;
//! - ConvertToSnapshot ([`convert`]): a StorageClass conversion, run like the jobs above;
//!   restores of its backup start from the snapshots it made;
//! - BackupSchedule ([`schedule`]): fires per S3;
//! - DeleteRequest ([`delete`]): deletes the object and its vault data, then itself.
//!
//! Backups and restores may be encrypted client-side (E2): see [`keys`]. Volumes backed up
//! through their files go to the node agents as PodVolumeBackups / PodVolumeRestores
//! ([`node_agent`], D3).
//!
//! Status goes through the `/status` subresource by server-side apply (field manager
//! [`FIELD_MANAGER`]); every phase change is an `events.k8s.io/v1` Event. The controller opens
//! vaults through [`VaultOpener`], which the binary implements with csdr-storage (this crate
//! does not depend on it).
//!
//! No finalizers are used, by decision: deleting an ApplicationBackup with kubectl removes
//! only the cluster object (the vault keeps the backup, which sync shows again; a
//! DeleteRequest removes the data), so there is nothing to do before the object goes. An
//! InProgress job whose object is deleted is cancelled by the instance running it at its
//! next heartbeat, which removes the job's unfinished upload ([`cancel`]); if no instance
//! runs it, the upload is invisible (V5) and the vault's GC removes it (B10). A finalizer
//! would add nothing to that and would hold the object — and the `csdr` namespace, in
//! Terminating — whenever the controller is down or uninstalled.

pub mod cancel;
pub mod convert;
pub mod delete;
pub mod install;
pub mod jobs;
pub mod keys;
pub mod location;
pub mod metrics;
pub mod node_agent;
pub mod schedule;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use csdr_core::config::{CONFIGMAP_NAME, Config};
use csdr_core::ports::cluster::Cluster;
use csdr_core::ports::vault::Vault;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use async_trait::async_trait;
pub use install::FIELD_MANAGER;
pub use metrics::Metrics;

use crate::resources::{
    ApplicationBackup, ApplicationRestore, BackupLocation, BackupSchedule, ConvertToSnapshot,
    DeleteRequest,
};

/// Credentials for an S3-compatible vault, read from a BackupLocation's Secret.
#[derive(Clone, PartialEq, Eq)]
pub struct VaultCredentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
}

impl Debug for VaultCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// What a BackupLocation asks to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultRequest {
    /// The vault's name (the BackupLocation's; recorded in the vault, V3).
    pub name: String,
    /// The vault URL.
    pub url: String,
    /// `spec.config`: settings merged into the URL's (`region`, `network`, …).
    pub config: BTreeMap<String, String>,
    /// The access key from `spec.credential`, if any.
    pub credentials: Option<VaultCredentials>,
}

/// A key-encryption key a job asks for (E2); the binary makes it ([`VaultOpener::key`]).
/// `Debug` never shows key material.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyRequest {
    /// A key given by its public id, as `--encryption-key` takes it: an `age1…` recipient
    /// (wraps only) or `kms://<key>[?region=…&endpoint=…]` (wraps and unwraps with the
    /// controller's AWS credentials).
    Spec(String),
    /// An age identity (the text of an identity file, `AGE-SECRET-KEY-1…`) read from
    /// `source` (`Secret csdr/<name> key <key>`), which unwraps.
    AgeIdentity {
        /// Where it was read from, for messages.
        source: String,
        /// The identity file's text: key material.
        text: String,
    },
}

impl Debug for KeyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyRequest::Spec(spec) => f.debug_tuple("Spec").field(spec).finish(),
            KeyRequest::AgeIdentity { source, .. } => f
                .debug_struct("AgeIdentity")
                .field("source", source)
                .finish_non_exhaustive(),
        }
    }
}

/// What an opener without client-side encryption answers.
const NO_ENCRYPTION: &str =
    "this controller's vault opener does not support client-side encryption";

/// Opens vaults for the controller; implemented by the binary over csdr-storage.
#[async_trait]
pub trait VaultOpener: Send + Sync {
    /// Connects to the vault and checks its identity; the error is shown to the user as
    /// `VaultError: <error>`.
    async fn open(&self, request: &VaultRequest) -> Result<Arc<dyn Vault>, String>;

    /// The key-encryption key a job asks for (E2); the error names the key, never its
    /// material. By default client-side encryption is not supported.
    async fn key(
        &self,
        request: &KeyRequest,
    ) -> Result<Arc<dyn csdr_core::crypto::KeyEncryptionKey>, String> {
        let _ = request;
        Err(NO_ENCRYPTION.into())
    }

    /// [`VaultOpener::open`], with new backups encrypted by `key` and encrypted ones opened
    /// with it (E2). By default client-side encryption is not supported.
    async fn open_with_key(
        &self,
        request: &VaultRequest,
        key: Arc<dyn csdr_core::crypto::KeyEncryptionKey>,
    ) -> Result<Arc<dyn Vault>, String> {
        let _ = (request, key);
        Err(NO_ENCRYPTION.into())
    }
}

/// How the controller runs.
#[derive(Clone, Debug)]
pub struct ControllerOptions {
    /// The namespace of the resources (`csdr`).
    pub namespace: String,
    /// This instance's name (the pod's): recorded in the jobs it claims and in the Lease.
    pub identity: String,
    /// How often an Available location is revalidated (5 min).
    pub validation_period: Duration,
    /// How often each location's backups are synced into the cluster (30 s).
    pub sync_period: Duration,
    /// How often a running job's claim is renewed; two missed periods orphan it.
    pub heartbeat_period: Duration,
    /// The leader Lease's name.
    pub lease_name: String,
    /// How long the Lease lasts without renewal, in seconds.
    pub lease_seconds: u64,
    /// How long a stopping controller waits for its running jobs before handing them back.
    pub shutdown_grace: Duration,
    /// How a job makes a connection of its own to the cluster (`None`: jobs share
    /// [`Context::cluster`]).
    pub job_connections: Option<JobConnections>,
}

/// How a job connects to the cluster on its own thread.
///
/// The controller runs each backup, restore and conversion on a thread of its own with a
/// current-thread runtime. With this, a job makes a connection there (e.g.
/// [`crate::KubeCluster::connect_again`]) rather than sending each request through the
/// runtime [`Context::cluster`] was made on; a job whose connection cannot be made shares
/// [`Context::cluster`] (logged).
#[derive(Clone)]
pub struct JobConnections(Arc<dyn Fn() -> Result<Arc<dyn Cluster>, String> + Send + Sync>);

impl JobConnections {
    /// Connections made by `connect`, called on the job's thread.
    pub fn new(
        connect: impl Fn() -> Result<Arc<dyn Cluster>, String> + Send + Sync + 'static,
    ) -> Self {
        JobConnections(Arc::new(connect))
    }

    /// New connections to the cluster `cluster` talks to
    /// ([`crate::KubeCluster::connect_again`]).
    pub fn again(cluster: Arc<crate::KubeCluster>) -> Self {
        Self::new(move || {
            cluster
                .connect_again()
                .map(|c| Arc::new(c) as Arc<dyn Cluster>)
                .map_err(|e| e.to_string())
        })
    }

    /// A new connection.
    ///
    /// # Errors
    /// Why it could not be made.
    pub fn connect(&self) -> Result<Arc<dyn Cluster>, String> {
        (self.0)()
    }
}

impl Debug for JobConnections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JobConnections")
    }
}

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions {
            namespace: "csdr".into(),
            identity: "csdr-controller".into(),
            validation_period: Duration::from_secs(300),
            sync_period: Duration::from_secs(30),
            heartbeat_period: Duration::from_secs(10),
            lease_name: "csdr-controller-leader".into(),
            lease_seconds: 15,
            shutdown_grace: Duration::from_secs(30),
            job_connections: None,
        }
    }
}

/// Why a reconcile failed (it is retried).
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The API server refused or failed a request.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// An object could not be encoded.
    #[error("encoding {what}: {source}")]
    Encode {
        /// What was encoded.
        what: String,
        /// Why it failed.
        source: serde_json::Error,
    },
    /// Leader election failed.
    #[error("leader election on Lease {lease}: {reason}")]
    Lease {
        /// The Lease.
        lease: String,
        /// What failed.
        reason: String,
    },
}

/// A running job of this instance.
pub(crate) struct RunningJob {
    pub(crate) kind: &'static str,
    /// Ends with `true` when nothing is left to hand back (finished, or its object deleted).
    pub(crate) task: tokio::task::JoinHandle<bool>,
    /// Set to cancel the job (it then removes its unfinished upload and ends with `false`).
    pub(crate) cancel: Arc<tokio::sync::watch::Sender<bool>>,
}

/// What every reconciler shares.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// The cluster the engine backs up and restores.
    pub cluster: Arc<dyn Cluster>,
    /// Opens vaults.
    pub opener: Arc<dyn VaultOpener>,
    /// Options.
    pub options: ControllerOptions,
    /// Publishes Events.
    pub recorder: Recorder,
    /// Job counters and durations.
    pub metrics: Arc<Metrics>,
    pub(crate) running: Mutex<HashMap<String, RunningJob>>,
}

impl Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context for the controller instance `options.identity`.
    pub fn new(
        client: Client,
        cluster: Arc<dyn Cluster>,
        opener: Arc<dyn VaultOpener>,
        options: ControllerOptions,
        metrics: Arc<Metrics>,
    ) -> Arc<Context> {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: FIELD_MANAGER.into(),
                instance: Some(options.identity.clone()),
            },
        );
        Arc::new(Context {
            client,
            cluster,
            opener,
            options,
            recorder,
            metrics,
            running: Mutex::new(HashMap::new()),
        })
    }

    /// The namespaced API of a resource kind.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.options.namespace)
    }

    /// The live `csdr-config` (C1); defaults when it is missing or unreadable (logged).
    pub async fn config(&self) -> Config {
        live_config(&self.client, &self.options.namespace).await
    }

    /// How many jobs of `kind` this instance runs now.
    pub(crate) fn running_of(&self, kind: &str) -> usize {
        self.running
            .lock()
            .map(|m| {
                m.values()
                    .filter(|j| j.kind == kind && !j.task.is_finished())
                    .count()
            })
            .unwrap_or(0)
    }

    /// Whether this instance runs the job `key` (`kind/name`).
    pub(crate) fn runs(&self, key: &str) -> bool {
        self.running
            .lock()
            .map(|m| m.get(key).is_some_and(|j| !j.task.is_finished()))
            .unwrap_or(false)
    }

    /// Writes an object's status by server-side apply on `/status`.
    pub async fn apply_status<K, S>(&self, name: &str, status: &S) -> Result<(), ControllerError>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + Debug,
        S: Serialize,
    {
        let status = serde_json::to_value(status).map_err(|source| ControllerError::Encode {
            what: format!("the status of {} {name}", K::kind(&())),
            source,
        })?;
        let patch = serde_json::json!({
            "apiVersion": K::api_version(&()),
            "kind": K::kind(&()),
            "status": status,
        });
        self.api::<K>()
            .patch_status(
                name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(patch),
            )
            .await?;
        Ok(())
    }

    /// Publishes an Event about an object (failures are logged: an Event is never worth
    /// failing a reconcile for).
    pub async fn event<K>(&self, object: &K, warning: bool, reason: &str, note: String)
    where
        K: Resource<DynamicType = ()>,
    {
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.into(),
            note: Some(note),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &object.object_ref(&())).await {
            tracing::warn!(error = %e, object = %object.meta().name.clone().unwrap_or_default(), "cannot publish an Event");
        }
    }
}

/// The live `csdr-config` (C1) in `namespace`; defaults when it is missing or unreadable
/// (logged).
pub async fn live_config(client: &Client, namespace: &str) -> Config {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    match api.get_opt(CONFIGMAP_NAME).await {
        Ok(Some(cm)) => {
            let data = cm.data.unwrap_or_default();
            match Config::from_configmap_data(&data) {
                Ok(config) => config,
                Err(e) => {
                    tracing::warn!(error = %e, "csdr-config is invalid; using the defaults");
                    Config::default()
                }
            }
        }
        Ok(None) => Config::default(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read csdr-config; using the defaults");
            Config::default()
        }
    }
}

/// The unknown spec fields of an object, read raw (typed watches drop them): what a user
/// mistyped, named by path.
pub async fn unknown_fields_of<K>(ctx: &Context, object: &K) -> Vec<String>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + kube::CustomResourceExt,
{
    let resource = kube::api::ApiResource::erase::<K>(&());
    let api: Api<kube::api::DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &ctx.options.namespace, &resource);
    let name = object.meta().name.clone().unwrap_or_default();
    match api.get_opt(&name).await {
        Ok(Some(raw)) => match serde_json::to_value(&raw) {
            Ok(value) => crate::resources::unknown_spec_fields(&K::crd(), &value),
            Err(_) => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// The status message of unknown fields.
pub fn unknown_fields_message(fields: &[String]) -> String {
    format!(
        "unknown field{} {}: remove or correct {}",
        if fields.len() == 1 { "" } else { "s" },
        fields
            .iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(", "),
        if fields.len() == 1 { "it" } else { "them" }
    )
}

fn error_policy<K: ResourceExt>(
    object: Arc<K>,
    error: &ControllerError,
    _: Arc<Context>,
) -> Action {
    tracing::warn!(object = %object.name_any(), error = %error, "reconcile failed; retrying");
    Action::requeue(Duration::from_secs(2))
}

/// Runs the six controllers until `stop` resolves; then waits up to the shutdown grace for
/// running jobs and hands back the others (their claim is cleared, so the next leader
/// starts them again).
pub async fn run_controllers(ctx: Arc<Context>, stop: impl Future<Output = ()> + Send) {
    let watch = || watcher::Config::default();
    let locations = Controller::new(ctx.api::<BackupLocation>(), watch())
        .run(location::reconcile, error_policy, ctx.clone())
        .for_each(|_| async {});
    let backups = Controller::new(ctx.api::<ApplicationBackup>(), watch())
        .run(jobs::reconcile_backup, error_policy, ctx.clone())
        .for_each(|_| async {});
    let restores = Controller::new(ctx.api::<ApplicationRestore>(), watch())
        .run(jobs::reconcile_restore, error_policy, ctx.clone())
        .for_each(|_| async {});
    let schedules = Controller::new(ctx.api::<BackupSchedule>(), watch())
        .run(schedule::reconcile, error_policy, ctx.clone())
        .for_each(|_| async {});
    let deletes = Controller::new(ctx.api::<DeleteRequest>(), watch())
        .run(delete::reconcile, error_policy, ctx.clone())
        .for_each(|_| async {});
    let converts = Controller::new(ctx.api::<ConvertToSnapshot>(), watch())
        .run(convert::reconcile_convert, error_policy, ctx.clone())
        .for_each(|_| async {});
    ctx.metrics.set_ready(true);
    tokio::select! {
        _ = futures::future::join(
            futures::future::join5(locations, backups, restores, schedules, deletes),
            converts,
        ) => {}
        () = stop => {}
    }
    ctx.metrics.set_ready(false);
    jobs::stop_jobs(&ctx).await;
}

/// Runs the controller: elects a leader with the Lease, runs the controllers while leading,
/// and returns when `shutdown` resolves (after finishing or handing back its jobs).
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ControllerError> {
    let lease_err = |e: kube_lease_manager::LeaseManagerError| ControllerError::Lease {
        lease: ctx.options.lease_name.clone(),
        reason: e.to_string(),
    };
    let grace = (ctx.options.lease_seconds / 3).max(1);
    let manager =
        kube_lease_manager::LeaseManagerBuilder::new(ctx.client.clone(), &ctx.options.lease_name)
            .with_namespace(&ctx.options.namespace)
            .with_identity(&ctx.options.identity)
            .with_duration(ctx.options.lease_seconds)
            .with_grace(grace)
            .build()
            .await
            .map_err(lease_err)?;
    let (mut leading, lease_task) = manager.watch().await;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let runner = {
        let ctx = ctx.clone();
        async move {
            loop {
                if leading.wait_for(|l| *l).await.is_err() {
                    return;
                }
                tracing::info!(identity = %ctx.options.identity, "leading: running the controllers");
                let mut stop = stop_rx.clone();
                let mut lost = leading.clone();
                let stopped = async move {
                    tokio::select! {
                        _ = stop.wait_for(|s| *s) => {}
                        _ = lost.wait_for(|l| !*l) => {}
                    }
                };
                run_controllers(ctx.clone(), stopped).await;
                if *stop_rx.borrow() {
                    return;
                }
                tracing::warn!(identity = %ctx.options.identity, "lost the lead");
            }
        }
    };
    let runner = tokio::spawn(runner);
    shutdown.await;
    let _ = stop_tx.send(true);
    let _ = runner.await;
    // The receiver is gone: the manager releases the Lease and returns.
    let _ = tokio::time::timeout(Duration::from_secs(5), lease_task).await;
    Ok(())
}
