//! Node agents (D3, K4, C2): volume files are copied on the node that mounts the volume.
//!
//! - The controller's engine gets a [`NodeAgentMover`]: for each volume it checks that the
//!   node may run volume jobs (the `node_schedule_policy` of `csdr-config` and the node's
//!   labels, [`csdr_core::node_policy`]) and has a running `csdr-node-agent` pod, creates a
//!   [`PodVolumeBackup`] / [`PodVolumeRestore`] in the csdr namespace (a deterministic name,
//!   labels [`NODE_LABEL`] and [`BACKUP_LABEL`]) and waits for its terminal phase.
//! - `csdr node-agent` (the DaemonSet `csdr-node-agent` that `csdr install` applies) runs
//!   [`run_node_agent`]: it watches the volume jobs of its node and runs them one at a time
//!   (the FAQ's one volume job per node), oldest first, with a local
//!   [`PodVolumeMover`] over the kubelet's folder, writing `InProgress`, then `Completed` or
//!   `Failed` to the status.
//!
//! Lifetime of the volume jobs (as Velero's pod volume backups, owned by their Backup):
//!
//! - A job is owned (`metadata.ownerReferences`) by the ApplicationBackup /
//!   ApplicationRestore of its `backupName` / `restoreName` in the csdr namespace when that
//!   object exists, so the API server's garbage collector deletes the jobs with it (the
//!   default background propagation of custom resources: the owner goes at once, its jobs
//!   right after). Engine-only runs (the CLI, no such object) create jobs without an owner.
//! - A job whose object is deleted (or gets a `deletionTimestamp`) while its agent runs it
//!   is cancelled: the agent drops the copy's future, writes nothing more to the job and
//!   goes on with the next one. The controller's wait for that job ends at once with a
//!   [`PodVolumeError::Cancelled`] naming the job (`PodVolumeBackup csdr/<name> was deleted
//!   before it finished`) instead of running into its timeout.
//!
//! The repositories' password is the Secret [`REPOSITORY_KEY_SECRET`] (key
//! [`REPOSITORY_KEY_FIELD`]) in the csdr namespace: the node agents read it (their Role may
//! get Secrets in that namespace); the operator creates it once before the first volume
//! backup (`kubectl -n csdr create secret generic csdr-repository-key
//! --from-literal=password=…`) and keeps it: without it no repository opens.

use std::sync::Arc;
use std::time::{Duration, Instant};

use csdr_core::config::Config;
use csdr_core::node_policy::{
    AGENT_EXCLUDED_LABEL, AGENT_INCLUDED_LABEL, NODE_TYPE_LABEL, NodeSchedulePolicy,
    VIRTUAL_NODE_TYPE, eligible_nodes,
};
use csdr_core::ports::pod_volume::{
    MountedVolume, PodVolumeBackupOutcome, PodVolumeBackupRequest, PodVolumeError, PodVolumeMover,
    PodVolumeRestoreOutcome, PodVolumeRestoreRequest,
};
use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher::watch_object;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{ControllerError, async_trait, live_config};
use crate::resources::pod_volume::{BACKUP_LABEL, NODE_LABEL};
use crate::resources::{
    ApplicationBackup, ApplicationRestore, PodVolumeBackup, PodVolumeBackupSpec, PodVolumeJobPhase,
    PodVolumeRestore, PodVolumeRestoreSpec, PodVolumeStatus,
};

/// The node agents' DaemonSet, ServiceAccount and roles.
pub const NODE_AGENT_NAME: &str = "csdr-node-agent";
/// The label (`app=csdr-node-agent`) on the node agents' pods.
pub const NODE_AGENT_POD_LABEL: (&str, &str) = ("app", NODE_AGENT_NAME);
/// The Secret in the csdr namespace holding the volume repositories' password.
pub const REPOSITORY_KEY_SECRET: &str = "csdr-repository-key";
/// The key of [`REPOSITORY_KEY_SECRET`] holding the password.
pub const REPOSITORY_KEY_FIELD: &str = "password";

/// A label value for `text`: itself when it is a valid label value, otherwise `h-` and a
/// hash of it (node and backup names may be longer than a label value's 63 characters).
pub fn label_value(text: &str) -> String {
    let valid = !text.is_empty()
        && text.len() <= 63
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && text.starts_with(|c: char| c.is_ascii_alphanumeric())
        && text.ends_with(|c: char| c.is_ascii_alphanumeric());
    if valid {
        text.to_string()
    } else {
        format!("h-{:016x}", fnv64(&[text]))
    }
}

/// FNV-1a over the parts, separated: a stable hash for object names.
fn fnv64(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, part) in parts.iter().enumerate() {
        let bytes = part.as_bytes();
        let sep: &[u8] = if i == 0 { &[] } else { &[0] };
        for b in sep.iter().chain(bytes) {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// The deterministic object name of a volume job: `prefix` (shortened to fit) and a hash of
/// `parts`, so a retried request finds its object again.
fn job_name(prefix: &str, parts: &[&str]) -> String {
    let short: String = prefix.chars().take(40).collect();
    let short = short.trim_end_matches(['-', '.']);
    format!("{short}-{:016x}", fnv64(parts))
}

/// The name of the PodVolumeBackup of a request: backup, attempt, pod uid and volume.
pub fn backup_job_name(request: &PodVolumeBackupRequest) -> String {
    job_name(
        &request.backup_name,
        &[
            &request.backup_name,
            &request.attempt,
            &request.mount.pod_uid,
            &request.mount.pod_volume,
        ],
    )
}

/// The name of the PodVolumeRestore of a request: restore, pod uid and volume.
pub fn restore_job_name(request: &PodVolumeRestoreRequest) -> String {
    job_name(
        &request.restore_name,
        &[
            &request.restore_name,
            &request.mount.pod_uid,
            &request.mount.pod_volume,
        ],
    )
}

/// Why `node` may not run volume jobs under `policy`, or `None` when it may.
pub fn node_refusal(
    policy: NodeSchedulePolicy,
    node: &str,
    labels: &std::collections::BTreeMap<String, String>,
) -> Option<String> {
    if !eligible_nodes(policy, [(node, labels)]).is_empty() {
        return None;
    }
    let why = if labels.get(NODE_TYPE_LABEL).map(String::as_str) == Some(VIRTUAL_NODE_TYPE) {
        format!("it is a virtual node ({NODE_TYPE_LABEL}={VIRTUAL_NODE_TYPE})")
    } else if labels.get(AGENT_EXCLUDED_LABEL).map(String::as_str) == Some("true") {
        format!("it is labelled {AGENT_EXCLUDED_LABEL}=true")
    } else {
        format!("it is not labelled {AGENT_INCLUDED_LABEL}=true")
    };
    Some(format!(
        "node {node} may not run volume backups under node_schedule_policy {policy}: {why}"
    ))
}

/// The controller's [`PodVolumeMover`]: hands each volume to the node agent of its node as
/// a PodVolumeBackup / PodVolumeRestore and waits for the result.
#[derive(Clone)]
pub struct NodeAgentMover {
    client: Client,
    namespace: String,
    location: String,
    poll: Duration,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for NodeAgentMover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeAgentMover")
            .field("namespace", &self.namespace)
            .field("location", &self.location)
            .field("poll", &self.poll)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl NodeAgentMover {
    /// A mover creating its volume jobs in `namespace` (`csdr`). It polls them every second
    /// and gives up after `csdr-config`'s `velero_timeout_minutes`.
    pub fn new(client: Client, namespace: impl Into<String>) -> Self {
        NodeAgentMover {
            client,
            namespace: namespace.into(),
            location: String::new(),
            poll: Duration::from_secs(1),
            timeout: None,
        }
    }

    /// Names the BackupLocation whose vault the node agents open for these jobs.
    pub fn with_location(mut self, location: impl Into<String>) -> Self {
        self.location = location.into();
        self
    }

    /// Polls the volume jobs every `poll`.
    pub fn with_poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// Gives up on a volume job after `timeout` instead of `csdr-config`'s
    /// `velero_timeout_minutes`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Fails with [`PodVolumeError::NoAgent`] unless the volume's node may run volume jobs
    /// under the policy and has a running node agent; returns the live configuration.
    async fn check_node(&self, mount: &MountedVolume) -> Result<Config, PodVolumeError> {
        let volume = mount.to_string();
        let no_agent = |reason: String| PodVolumeError::NoAgent {
            volume: volume.clone(),
            reason,
        };
        let config = live_config(&self.client, &self.namespace).await;
        let nodes: Api<Node> = Api::all(self.client.clone());
        let node = nodes
            .get_opt(&mount.node)
            .await
            .map_err(|e| no_agent(format!("cannot read node {}: {e}", mount.node)))?
            .ok_or_else(|| no_agent(format!("node {} does not exist", mount.node)))?;
        let policy = config.application_backup.node_schedule_policy;
        if let Some(why) = node_refusal(policy, &mount.node, node.labels()) {
            return Err(no_agent(why));
        }
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        let (key, value) = NODE_AGENT_POD_LABEL;
        let agents = pods
            .list(&ListParams::default().labels(&format!("{key}={value}")))
            .await
            .map_err(|e| {
                no_agent(format!(
                    "cannot list the node agents ({key}={value}) in {}: {e}",
                    self.namespace
                ))
            })?;
        let running = agents.items.iter().any(|p| {
            p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(mount.node.as_str())
                && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
        });
        if !running {
            return Err(no_agent(format!(
                "node {} has no running node agent (a {key}={value} pod of DaemonSet {}/{NODE_AGENT_NAME})",
                mount.node, self.namespace
            )));
        }
        Ok(config)
    }

    /// The owner reference of a volume job to the ApplicationBackup / ApplicationRestore `O`
    /// named `name` in the jobs' namespace, or `None` when there is no such object (an
    /// engine-only run, the CLI) or it cannot be read (logged: the job then works as
    /// before, only without being deleted with its backup).
    ///
    /// `controller: false`: the jobs are not reconciled by the ApplicationBackup
    /// controller (the node agent acts on them), so no controller reference is claimed
    /// (kube's [`Resource::controller_owner_ref`] would set `controller: true`).
    /// `blockOwnerDeletion: false`: a foreground deletion of the ApplicationBackup need not
    /// wait for its jobs, and setting it `true` would need `update` on the owner's
    /// `finalizers` subresource where the API server enforces owner-reference permissions.
    async fn owner_reference<O>(&self, name: &str) -> Option<OwnerReference>
    where
        O: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        if name.is_empty() {
            return None;
        }
        let api: Api<O> = Api::namespaced(self.client.clone(), &self.namespace);
        match api.get_opt(name).await {
            Ok(Some(owner)) => owner.owner_ref(&()).map(|r| OwnerReference {
                controller: Some(false),
                block_owner_deletion: Some(false),
                ..r
            }),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(
                    owner = %format!("{} {}/{name}", O::kind(&()), self.namespace),
                    error = %e,
                    "cannot read the owner of a volume job; creating the job without an owner"
                );
                None
            }
        }
    }

    /// Creates the job (or finds the one a previous try created) and waits for its end. A
    /// job object deleted (or being deleted) before its end fails the volume at once.
    async fn run_job<K>(
        &self,
        object: K,
        volume: &str,
        config: &Config,
    ) -> Result<PodVolumeStatus, PodVolumeError>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + Serialize
            + std::fmt::Debug
            + HasStatus,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), &self.namespace);
        let name = object.name_any();
        let shown = format!("{} {}/{name}", K::kind(&()), self.namespace);
        let failed = |reason: String| PodVolumeError::NoAgent {
            volume: volume.to_string(),
            reason,
        };
        match api.create(&PostParams::default(), &object).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {
                tracing::info!(job = %shown, "the volume job exists already; waiting for it");
            }
            Err(e) => return Err(failed(format!("cannot create {shown}: {e}"))),
        }
        let timeout = self
            .timeout
            .unwrap_or(config.application_backup.backup_timeout);
        let deadline = Instant::now() + timeout;
        loop {
            let current = api
                .get_opt(&name)
                .await
                .map_err(|e| failed(format!("cannot read {shown}: {e}")))?
                .ok_or_else(|| PodVolumeError::Cancelled {
                    volume: volume.to_string(),
                    reason: format!("{shown} was deleted before it finished"),
                })?;
            if let Some(status) = current.status_of()
                && status.phase.is_some_and(PodVolumeJobPhase::is_terminal)
            {
                return Ok(status.clone());
            }
            if let Some(at) = &current.meta().deletion_timestamp {
                return Err(PodVolumeError::Cancelled {
                    volume: volume.to_string(),
                    reason: format!(
                        "{shown} was deleted before it finished (deletionTimestamp {})",
                        at.0
                    ),
                });
            }
            if Instant::now() >= deadline {
                return Err(PodVolumeError::Timeout {
                    volume: volume.to_string(),
                    seconds: timeout.as_secs(),
                });
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}

/// Read access to the status of the two volume job kinds.
pub trait HasStatus {
    /// The status, if any.
    fn status_of(&self) -> Option<&PodVolumeStatus>;
}

impl HasStatus for PodVolumeBackup {
    fn status_of(&self) -> Option<&PodVolumeStatus> {
        self.status.as_ref()
    }
}

impl HasStatus for PodVolumeRestore {
    fn status_of(&self) -> Option<&PodVolumeStatus> {
        self.status.as_ref()
    }
}

fn labels(node: &str, owner: &str) -> std::collections::BTreeMap<String, String> {
    std::collections::BTreeMap::from([
        (NODE_LABEL.to_string(), label_value(node)),
        (BACKUP_LABEL.to_string(), label_value(owner)),
    ])
}

#[async_trait]
impl PodVolumeMover for NodeAgentMover {
    async fn back_up(
        &self,
        request: &PodVolumeBackupRequest,
    ) -> Result<PodVolumeBackupOutcome, PodVolumeError> {
        let config = self.check_node(&request.mount).await?;
        let volume = request.mount.to_string();
        let mut object = PodVolumeBackup::new(
            &backup_job_name(request),
            PodVolumeBackupSpec {
                backup_location: self.location.clone(),
                ..PodVolumeBackupSpec::from_request(request)
            },
        );
        object.metadata.namespace = Some(self.namespace.clone());
        object.metadata.labels = Some(labels(&request.mount.node, &request.backup_name));
        object.metadata.owner_references = self
            .owner_reference::<ApplicationBackup>(&request.backup_name)
            .await
            .map(|r| vec![r]);
        let status = self.run_job(object, &volume, &config).await?;
        if status.phase == Some(PodVolumeJobPhase::Failed) {
            return Err(status.error(&volume));
        }
        match status.snapshot_id {
            Some(snapshot_id) if !snapshot_id.is_empty() => Ok(PodVolumeBackupOutcome {
                snapshot_id,
                bytes: status.bytes.unwrap_or_default(),
                files: status.files.unwrap_or_default(),
            }),
            _ => Err(PodVolumeError::Repository {
                volume,
                reason: "the node agent reported Completed without status.snapshotID".into(),
            }),
        }
    }

    async fn restore(
        &self,
        request: &PodVolumeRestoreRequest,
    ) -> Result<PodVolumeRestoreOutcome, PodVolumeError> {
        let config = self.check_node(&request.mount).await?;
        let volume = request.mount.to_string();
        let mut object = PodVolumeRestore::new(
            &restore_job_name(request),
            PodVolumeRestoreSpec {
                backup_location: self.location.clone(),
                ..PodVolumeRestoreSpec::from_request(request)
            },
        );
        object.metadata.namespace = Some(self.namespace.clone());
        object.metadata.labels = Some(labels(&request.mount.node, &request.restore_name));
        object.metadata.owner_references = self
            .owner_reference::<ApplicationRestore>(&request.restore_name)
            .await
            .map(|r| vec![r]);
        let status = self.run_job(object, &volume, &config).await?;
        if status.phase == Some(PodVolumeJobPhase::Failed) {
            return Err(status.error(&volume));
        }
        Ok(PodVolumeRestoreOutcome {
            bytes: status.bytes.unwrap_or_default(),
            files: status.files.unwrap_or_default(),
        })
    }
}

/// The repositories' password from the Secret [`REPOSITORY_KEY_SECRET`] in `namespace`.
pub async fn repository_password(client: &Client, namespace: &str) -> Result<String, String> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let shown = format!("Secret {namespace}/{REPOSITORY_KEY_SECRET}");
    let secret = api
        .get_opt(REPOSITORY_KEY_SECRET)
        .await
        .map_err(|e| format!("cannot read {shown}: {e}"))?
        .ok_or_else(|| {
            format!(
                "{shown} does not exist: create it with `kubectl -n {namespace} create secret generic {REPOSITORY_KEY_SECRET} --from-literal={REPOSITORY_KEY_FIELD}=<password>`"
            )
        })?;
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(REPOSITORY_KEY_FIELD))
        .map(|b| b.0.clone())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(REPOSITORY_KEY_FIELD))
                .map(|s| s.clone().into_bytes())
        })
        .ok_or_else(|| format!("{shown} has no key {REPOSITORY_KEY_FIELD}"))?;
    let password = String::from_utf8(bytes)
        .map_err(|_| format!("{shown} key {REPOSITORY_KEY_FIELD} is not UTF-8 text"))?;
    if password.is_empty() {
        return Err(format!("{shown} key {REPOSITORY_KEY_FIELD} is empty"));
    }
    Ok(password)
}

/// What does a node agent's file work for the vault of a job's BackupLocation
/// (`spec.backupLocation`). Every [`PodVolumeMover`] is one, bound to its own vault whatever
/// the location; `csdr node-agent` opens one kubelet mover per location.
#[async_trait]
pub trait LocationMover: Send + Sync {
    /// Backs up a volume into the repository of `location`'s vault.
    async fn back_up_in(
        &self,
        location: &str,
        request: &PodVolumeBackupRequest,
    ) -> Result<PodVolumeBackupOutcome, PodVolumeError>;

    /// Restores a volume from the repository of `location`'s vault.
    async fn restore_in(
        &self,
        location: &str,
        request: &PodVolumeRestoreRequest,
    ) -> Result<PodVolumeRestoreOutcome, PodVolumeError>;
}

#[async_trait]
impl<T: PodVolumeMover + ?Sized> LocationMover for T {
    async fn back_up_in(
        &self,
        _location: &str,
        request: &PodVolumeBackupRequest,
    ) -> Result<PodVolumeBackupOutcome, PodVolumeError> {
        self.back_up(request).await
    }

    async fn restore_in(
        &self,
        _location: &str,
        request: &PodVolumeRestoreRequest,
    ) -> Result<PodVolumeRestoreOutcome, PodVolumeError> {
        self.restore(request).await
    }
}

/// How a node agent runs.
#[derive(Clone, Debug)]
pub struct NodeAgentOptions {
    /// The namespace of the volume jobs (`csdr`).
    pub namespace: String,
    /// The node it serves.
    pub node: String,
    /// Its name (the pod's), recorded in the jobs it runs.
    pub identity: String,
    /// How often it lists its jobs besides watching them.
    pub resync: Duration,
}

/// One volume job of the agent's node.
enum Job {
    Backup(PodVolumeBackup),
    Restore(PodVolumeRestore),
}

impl Job {
    fn sort_key(&self) -> (Option<Timestamp>, String) {
        let meta = match self {
            Job::Backup(o) => o.meta(),
            Job::Restore(o) => o.meta(),
        };
        (
            meta.creation_timestamp.as_ref().map(|t| t.0),
            meta.name.clone().unwrap_or_default(),
        )
    }
}

struct Agent {
    client: Client,
    options: NodeAgentOptions,
    local: Arc<dyn LocationMover>,
}

impl Agent {
    fn backups(&self) -> Api<PodVolumeBackup> {
        Api::namespaced(self.client.clone(), &self.options.namespace)
    }

    fn restores(&self) -> Api<PodVolumeRestore> {
        Api::namespaced(self.client.clone(), &self.options.namespace)
    }

    fn selector(&self) -> String {
        format!("{NODE_LABEL}={}", label_value(&self.options.node))
    }

    /// This node's jobs in `phase` (New: also without a status), oldest first; jobs being
    /// deleted (a `deletionTimestamp`) are left alone.
    async fn jobs(&self, wanted: PodVolumeJobPhase) -> Result<Vec<Job>, ControllerError> {
        let params = ListParams::default().labels(&self.selector());
        let node = self.options.node.as_str();
        let matches = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
                       spec_node: &str,
                       status: Option<&PodVolumeStatus>| {
            let phase = status
                .and_then(|s| s.phase)
                .unwrap_or(PodVolumeJobPhase::New);
            spec_node == node && phase == wanted && meta.deletion_timestamp.is_none()
        };
        let mut jobs: Vec<Job> = Vec::new();
        for b in self.backups().list(&params).await?.items {
            if matches(&b.metadata, &b.spec.node, b.status.as_ref()) {
                jobs.push(Job::Backup(b));
            }
        }
        for r in self.restores().list(&params).await?.items {
            if matches(&r.metadata, &r.spec.node, r.status.as_ref()) {
                jobs.push(Job::Restore(r));
            }
        }
        jobs.sort_by_key(Job::sort_key);
        Ok(jobs)
    }

    /// Writes the status of the job `name`; `Ok(false)` when its object no longer exists.
    async fn set_status<K>(
        &self,
        api: &Api<K>,
        name: &str,
        status: &PodVolumeStatus,
    ) -> Result<bool, ControllerError>
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    {
        let status = serde_json::to_value(status).map_err(|source| ControllerError::Encode {
            what: format!("the status of {} {name}", K::kind(&())),
            source,
        })?;
        match api
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({ "status": status })),
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Runs `work`, the copy of the job `name`, unless the job's object is deleted (or gets
    /// a `deletionTimestamp`) first: then the copy's future is dropped and `None` returned.
    ///
    /// A dropped copy stops at its next await point (a blocking step already handed to a
    /// thread finishes first). What it wrote to the restic repository so far (packs without
    /// a snapshot, or a half-filled restore target) stays: the repository's prune removes
    /// unreferenced data.
    async fn unless_deleted<K, T>(
        &self,
        api: &Api<K>,
        name: &str,
        work: impl Future<Output = T>,
    ) -> Option<T>
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
    {
        let shown = format!("{} {}/{name}", K::kind(&()), self.options.namespace);
        let deleted = async {
            let mut events = watch_object(api.clone(), name).default_backoff().boxed();
            while let Some(event) = events.next().await {
                match event {
                    Ok(None) => return "deleted",
                    Ok(Some(o)) if o.meta().deletion_timestamp.is_some() => {
                        return "being deleted (deletionTimestamp set)";
                    }
                    Ok(Some(_)) => {}
                    Err(e) => {
                        tracing::warn!(job = %shown, error = %e, "cannot watch the running volume job")
                    }
                }
            }
            // A watcher never ends; should it, the copy goes on uncancelled.
            std::future::pending().await
        };
        tokio::select! {
            result = work => Some(result),
            how = deleted => {
                tracing::warn!(
                    job = %shown,
                    node = %self.options.node,
                    "the volume job was {how} while it ran: cancelled; its partial data stays in the repository for prune"
                );
                None
            }
        }
    }

    /// Fails the jobs of this node left InProgress by a previous run of the agent: their
    /// copy stopped half way (a restore's volume is no longer empty), so they are not rerun.
    async fn recover(&self) -> Result<(), ControllerError> {
        for job in self.jobs(PodVolumeJobPhase::InProgress).await? {
            let message = format!(
                "the node agent of node {} restarted while this volume job ran; it did not finish",
                self.options.node
            );
            let status = PodVolumeStatus {
                agent: Some(self.options.identity.clone()),
                ..PodVolumeStatus::failed(&PodVolumeError::NoAgent {
                    volume: String::new(),
                    reason: message,
                })
            };
            match &job {
                Job::Backup(o) => {
                    self.set_status(&self.backups(), &o.name_any(), &status)
                        .await?;
                }
                Job::Restore(o) => {
                    self.set_status(&self.restores(), &o.name_any(), &status)
                        .await?;
                }
            }
            tracing::warn!(job = %job.sort_key().1, "failed a volume job left InProgress by a restart");
        }
        Ok(())
    }

    /// Runs this node's New jobs, one at a time, until none is left.
    async fn drain(&self) -> Result<(), ControllerError> {
        loop {
            let Some(job) = self.jobs(PodVolumeJobPhase::New).await?.into_iter().next() else {
                return Ok(());
            };
            self.process(job).await?;
        }
    }

    /// Runs one job: `InProgress`, the local copy, then `Completed` or `Failed`. A job whose
    /// object goes away (or starts being deleted) is cancelled and left without further
    /// writes ([`Agent::unless_deleted`]).
    async fn process(&self, job: Job) -> Result<(), ControllerError> {
        let started = PodVolumeStatus {
            phase: Some(PodVolumeJobPhase::InProgress),
            agent: Some(self.options.identity.clone()),
            start_timestamp: Some(Timestamp::now()),
            ..PodVolumeStatus::default()
        };
        let done = |result: Result<(Option<String>, u64, u64), PodVolumeError>| match result {
            Ok((snapshot_id, bytes, files)) => PodVolumeStatus {
                phase: Some(PodVolumeJobPhase::Completed),
                snapshot_id,
                bytes: Some(bytes),
                files: Some(files),
                agent: Some(self.options.identity.clone()),
                completion_timestamp: Some(Timestamp::now()),
                ..PodVolumeStatus::default()
            },
            Err(e) => PodVolumeStatus {
                agent: Some(self.options.identity.clone()),
                ..PodVolumeStatus::failed(&e)
            },
        };
        let gone = |name: &str| {
            tracing::info!(job = %name, "the volume job was deleted; nothing more is written to it");
        };
        match job {
            Job::Backup(object) => {
                let (api, name) = (self.backups(), object.name_any());
                if !self.set_status(&api, &name, &started).await? {
                    gone(&name);
                    return Ok(());
                }
                tracing::info!(job = %name, "backing up a volume");
                let request = object.spec.to_request();
                let work = self
                    .local
                    .back_up_in(&object.spec.backup_location, &request);
                let Some(result) = self.unless_deleted(&api, &name, work).await else {
                    return Ok(());
                };
                let result = result.map(|o| (Some(o.snapshot_id), o.bytes, o.files));
                if !self.set_status(&api, &name, &done(result)).await? {
                    gone(&name);
                }
                Ok(())
            }
            Job::Restore(object) => {
                let (api, name) = (self.restores(), object.name_any());
                if !self.set_status(&api, &name, &started).await? {
                    gone(&name);
                    return Ok(());
                }
                tracing::info!(job = %name, "restoring a volume");
                let request = object.spec.to_request();
                let work = self
                    .local
                    .restore_in(&object.spec.backup_location, &request);
                let Some(result) = self.unless_deleted(&api, &name, work).await else {
                    return Ok(());
                };
                let result = result.map(|o| (None, o.bytes, o.files));
                if !self.set_status(&api, &name, &done(result)).await? {
                    gone(&name);
                }
                Ok(())
            }
        }
    }
}

/// Runs the node agent of `options.node` until `shutdown` resolves: fails the jobs a
/// previous run left InProgress, then runs the node's PodVolumeBackups and
/// PodVolumeRestores one at a time, oldest first, with `local` doing the file work. It
/// watches them and also lists them every `options.resync`. A job deleted while it runs (its
/// ApplicationBackup / ApplicationRestore was deleted and the garbage collector took its
/// jobs, or someone deleted the job) is cancelled and the next one starts. An API failure
/// is logged and retried at the next change or resync; the error returned is the first
/// recovery's.
pub async fn run_node_agent(
    client: Client,
    options: NodeAgentOptions,
    local: Arc<dyn LocationMover>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ControllerError> {
    let agent = Agent {
        client,
        options,
        local,
    };
    agent.recover().await?;
    tracing::info!(node = %agent.options.node, "node agent running");
    let config = watcher::Config::default().labels(&agent.selector());
    let backups = watcher(agent.backups(), config.clone())
        .default_backoff()
        .map(|_| ())
        .boxed();
    let restores = watcher(agent.restores(), config)
        .default_backoff()
        .map(|_| ())
        .boxed();
    let mut changes = futures::stream::select(backups, restores);
    let mut resync = tokio::time::interval(agent.options.resync);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            result = agent.drain() => {
                if let Err(e) = result {
                    tracing::warn!(error = %e, node = %agent.options.node, "node agent: retrying at the next change");
                }
            }
        }
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            _ = changes.next() => {}
            _ = resync.tick() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn label_values_are_valid_or_hashed() {
        assert_eq!(label_value("node-a"), "node-a");
        assert_eq!(
            label_value("cn-hangzhou.192.168.0.1"),
            "cn-hangzhou.192.168.0.1"
        );
        let long = "n".repeat(80);
        let hashed = label_value(&long);
        assert!(hashed.starts_with("h-") && hashed.len() <= 63, "{hashed}");
        assert_eq!(hashed, label_value(&long));
        assert_ne!(label_value("a_"), "a_");
    }

    #[test]
    fn job_names_are_deterministic_and_distinct() {
        let mount = MountedVolume {
            node: "n".into(),
            pod_namespace: "shop".into(),
            pod_name: "web-0".into(),
            pod_uid: "u1".into(),
            pod_volume: "data".into(),
            volume: "pv".into(),
        };
        let request = PodVolumeBackupRequest {
            backup_name: "nightly".into(),
            attempt: "a1".into(),
            pvc_namespace: "shop".into(),
            pvc_name: "data".into(),
            mount: mount.clone(),
            repository: "shop".into(),
            tags: BTreeMap::new(),
        };
        let name = backup_job_name(&request);
        assert!(name.starts_with("nightly-"), "{name}");
        assert_eq!(name, backup_job_name(&request.clone()));
        let other_attempt = PodVolumeBackupRequest {
            attempt: "a2".into(),
            ..request.clone()
        };
        assert_ne!(name, backup_job_name(&other_attempt));
        let other_volume = PodVolumeBackupRequest {
            mount: MountedVolume {
                pod_volume: "logs".into(),
                ..mount
            },
            ..request
        };
        assert_ne!(name, backup_job_name(&other_volume));
    }

    #[test]
    fn refusals_name_the_node_and_the_reason() {
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let excluded = labels(&[(AGENT_EXCLUDED_LABEL, "true")]);
        let why = node_refusal(NodeSchedulePolicy::Exclude, "node-x", &excluded).unwrap();
        assert!(
            why.contains("node-x") && why.contains("agent-excluded=true"),
            "{why}"
        );
        assert_eq!(
            node_refusal(NodeSchedulePolicy::Prefer, "node-x", &excluded),
            None
        );
        let why = node_refusal(NodeSchedulePolicy::Include, "node-y", &labels(&[])).unwrap();
        assert!(
            why.contains("node-y") && why.contains("agent-included=true"),
            "{why}"
        );
        let virt = labels(&[(NODE_TYPE_LABEL, VIRTUAL_NODE_TYPE)]);
        let why = node_refusal(NodeSchedulePolicy::Prefer, "vk", &virt).unwrap();
        assert!(why.contains("virtual"), "{why}");
    }
}
