//! The ApplicationBackup and ApplicationRestore reconcilers: claim, run, heartbeat, finish.
//!
//! A new job (no phase) is claimed by writing `phase: InProgress`, `controller: <identity>`
//! and `heartbeatTime`; it then runs on the core engine in a task of this instance, which
//! renews `heartbeatTime` every heartbeat period. A job InProgress that no task of this
//! instance runs and whose heartbeat is older than two periods lost its controller (a crash,
//! a node loss): it is marked Failed with a reason naming the controller, never left
//! InProgress. The worker counts of the live `csdr-config` bound how many jobs of each kind
//! run at once; `velero_timeout_minutes` bounds each. A job is cancelled when its object is
//! deleted or when the controller stops (after the shutdown grace): its unfinished upload is
//! removed from the vault ([`super::cancel`]), and a stopping controller hands the job back
//! (status cleared) so the next leader runs it again.

use std::sync::Arc;
use std::time::Duration;

use csdr_core::engine::{Engine, EngineOptions};
use csdr_core::model::JobPhase;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;

use super::cancel::{Abandoned, TrackedVault};
use super::location::open_vault_with_key;
use super::{Context, ControllerError, JobConnections, RunningJob, unknown_fields_message};
use crate::resources::{
    ApplicationBackup, ApplicationJobStatus, ApplicationRestore, BackupLocation, JobEncryption,
    LocationPhase, SYNCED_LABEL,
};
use csdr_core::ports::vault::Vault;

/// The label of the change-image ConfigMaps read at restore (R9).
pub const CHANGE_IMAGE_LABEL: (&str, &str) = ("velero.io/change-image-name", "RestoreItemAction");

/// What to do with a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobDecision {
    /// Not started: claim and run it.
    Start,
    /// Finished, or running here: nothing to do until it changes.
    Nothing,
    /// Running elsewhere with a fresh heartbeat: look again after this long.
    Watch(Duration),
    /// InProgress, but its controller stopped heartbeating: fail it with this reason.
    Orphaned(String),
}

/// Decides about a job from its status (pure): `runs_here` says whether a task of this
/// instance runs it.
pub fn decide(
    status: Option<&ApplicationJobStatus>,
    runs_here: bool,
    now: Timestamp,
    heartbeat: Duration,
) -> JobDecision {
    if runs_here {
        // Its task runs here (the cache may still show it unclaimed).
        return JobDecision::Nothing;
    }
    let Some(status) = status else {
        return JobDecision::Start;
    };
    match status.phase {
        None => JobDecision::Start,
        Some(p) if p.is_finished() => JobDecision::Nothing,
        Some(_) => {
            let owner = status.controller.as_deref().unwrap_or("unknown");
            let limit = heartbeat * 2;
            let age = status
                .heartbeat_time
                .or(status.start_timestamp)
                .map(|t| now.duration_since(t).unsigned_abs())
                .unwrap_or(limit);
            if age >= limit {
                JobDecision::Orphaned(format!(
                    "the controller {owner} running this job stopped (no heartbeat for {}s); \
                     the job did not finish and nothing was committed — create it again",
                    age.as_secs()
                ))
            } else {
                JobDecision::Watch(limit - age + Duration::from_millis(200))
            }
        }
    }
}

/// The change-image cases of the labelled ConfigMaps, ordered by ConfigMap and key (R9).
pub fn change_image_cases(configmaps: &[ConfigMap]) -> Vec<String> {
    let mut sorted: Vec<&ConfigMap> = configmaps.iter().collect();
    sorted.sort_by_key(|c| c.metadata.name.clone());
    sorted
        .iter()
        .flat_map(|c| c.data.clone().unwrap_or_default().into_values())
        .collect()
}

pub(super) async fn location_vault(
    ctx: &Context,
    name: &str,
    key: Option<Arc<dyn csdr_core::crypto::KeyEncryptionKey>>,
) -> Result<Option<Arc<dyn csdr_core::ports::vault::Vault>>, String> {
    let Some(location) = ctx
        .api::<BackupLocation>()
        .get_opt(name)
        .await
        .map_err(|e| format!("reading BackupLocation {name}: {e}"))?
    else {
        return Err(format!(
            "BackupLocation {name} not found in namespace {}",
            ctx.options.namespace
        ));
    };
    match location.status.as_ref().and_then(|s| s.phase) {
        None => Ok(None), // not validated yet: wait
        Some(LocationPhase::Unavailable) => {
            let message = location
                .status
                .as_ref()
                .and_then(|s| s.message.clone())
                .unwrap_or_default();
            Err(if message.starts_with("VaultError") {
                message
            } else {
                format!("VaultError: {message}")
            })
        }
        Some(LocationPhase::Available) => open_vault_with_key(ctx, &location, key).await.map(Some),
    }
}

/// An engine on the controller's cluster, with a CSI snapshotter on it (B6: backups snapshot
/// volumes; deletes remove the snapshots with their backup) and the node agents copying
/// volumes' files (D3, [`super::node_agent::NodeAgentMover`]).
pub(super) fn engine(
    ctx: &Context,
    location: &str,
    vault: Arc<dyn csdr_core::ports::vault::Vault>,
    config: csdr_core::config::Config,
) -> Result<Engine, String> {
    Engine::builder()
        .cluster(ctx.cluster.clone())
        .snapshotter(Arc::new(csdr_core::ports::snapshot::CsiSnapshotter::new(
            ctx.cluster.clone(),
        )))
        .vault(vault)
        .pod_volume_mover(Arc::new(
            super::node_agent::NodeAgentMover::new(
                ctx.client.clone(),
                ctx.options.namespace.clone(),
            )
            .with_location(location),
        ))
        .options(EngineOptions {
            config,
            engine_namespace: ctx.options.namespace.clone(),
            // A job's status holds counts, not objects: a restore's final objects wait in the
            // spool until applied, so its memory stays bounded at any size (R13).
            restore_report_objects: false,
            ..EngineOptions::default()
        })
        .build()
        .map_err(|e| e.to_string())
}

/// `engine` on a connection of the job's own when the controller makes them
/// ([`super::ControllerOptions::job_connections`]); called on the job's thread, so that the
/// connection's requests run there.
pub(super) fn on_job_connection(engine: Engine, connections: Option<&JobConnections>) -> Engine {
    match connections.map(JobConnections::connect) {
        Some(Ok(cluster)) => engine.with_cluster(cluster),
        Some(Err(e)) => {
            tracing::warn!(error = %e, "the job shares the controller's connection: one of its own could not be made");
            engine
        }
        None => engine,
    }
}

/// Reconciles one ApplicationBackup.
pub async fn reconcile_backup(
    backup: Arc<ApplicationBackup>,
    ctx: Arc<Context>,
) -> Result<Action, ControllerError> {
    if backup.labels().contains_key(SYNCED_LABEL) {
        return Ok(Action::await_change());
    }
    let name = backup.name_any();
    let key = format!("backup/{name}");
    let now = Timestamp::now();
    match decide(
        backup.status.as_ref(),
        ctx.runs(&key),
        now,
        ctx.options.heartbeat_period,
    ) {
        JobDecision::Nothing => Ok(Action::await_change()),
        JobDecision::Watch(after) => Ok(Action::requeue(after)),
        JobDecision::Orphaned(reason) => {
            fail::<ApplicationBackup>(&ctx, backup.as_ref(), reason).await?;
            Ok(Action::await_change())
        }
        JobDecision::Start => {
            let unknown = super::unknown_fields_of(&ctx, backup.as_ref()).await;
            if !unknown.is_empty() {
                fail::<ApplicationBackup>(&ctx, backup.as_ref(), unknown_fields_message(&unknown))
                    .await?;
                return Ok(Action::await_change());
            }
            let spec = match backup.spec.to_model(&name) {
                Ok(s) => s,
                Err(e) => {
                    fail::<ApplicationBackup>(&ctx, backup.as_ref(), e).await?;
                    return Ok(Action::await_change());
                }
            };
            let config = ctx.config().await;
            if ctx.running_of("backup") >= config.application_backup.backup_max_worker_num.get() {
                return Ok(Action::requeue(Duration::from_secs(2)));
            }
            let kek = match super::keys::backup_key(&ctx, &backup.spec).await {
                Ok(k) => k,
                Err(e) => {
                    fail::<ApplicationBackup>(&ctx, backup.as_ref(), e).await?;
                    return Ok(Action::await_change());
                }
            };
            let encryption = kek.as_deref().map(JobEncryption::of_key);
            let vault = match location_vault(&ctx, &backup.spec.backup_location, kek).await {
                Ok(Some(v)) => v,
                Ok(None) => return Ok(Action::requeue(Duration::from_secs(1))),
                Err(e) => {
                    fail::<ApplicationBackup>(&ctx, backup.as_ref(), e).await?;
                    return Ok(Action::await_change());
                }
            };
            let timeout = config.application_backup.backup_timeout;
            let abandoned = Abandoned::default();
            let vault: Arc<dyn Vault> = Arc::new(TrackedVault::new(vault, abandoned.clone()));
            let engine = match engine(&ctx, &backup.spec.backup_location, vault, config) {
                Ok(e) => e,
                Err(e) => {
                    fail::<ApplicationBackup>(&ctx, backup.as_ref(), e).await?;
                    return Ok(Action::await_change());
                }
            };
            let mut claim = ApplicationJobStatus {
                phase: Some(JobPhase::InProgress),
                start_timestamp: Some(now),
                backup_location: Some(backup.spec.backup_location.clone()),
                encryption,
                ..ApplicationJobStatus::default()
            };
            claim_status(&ctx, &mut claim);
            ctx.apply_status::<ApplicationBackup, _>(&name, &claim)
                .await?;
            ctx.event(
                backup.as_ref(),
                false,
                "InProgress",
                format!("backup {name} started by {}", ctx.options.identity),
            )
            .await;
            let cancel = Arc::new(tokio::sync::watch::channel(false).0);
            let task_ctx = ctx.clone();
            let task_cancel = cancel.clone();
            let object = backup.as_ref().clone();
            let connections = ctx.options.job_connections.clone();
            let task = tokio::spawn(async move {
                let started = std::time::Instant::now();
                let end = run_job::<ApplicationBackup, _, _, _>(
                    task_ctx.clone(),
                    "backup",
                    name.clone(),
                    claim.clone(),
                    timeout,
                    JobControl {
                        cancel: task_cancel,
                        abandoned,
                    },
                    move || async move {
                        on_job_connection(engine, connections.as_ref())
                            .backup(spec)
                            .await
                    },
                )
                .await;
                let status = match end {
                    JobEnd::Cancelled => return false,
                    JobEnd::Deleted => return true,
                    JobEnd::Broken(e) => ApplicationJobStatus::failed(e, Timestamp::now()),
                    JobEnd::Done(report) => {
                        let mut s = ApplicationJobStatus::from_job(&report.status, false);
                        s.volume_snapshots = Some(report.volume_snapshots.len() as u64);
                        s
                    }
                    JobEnd::TimedOut => ApplicationJobStatus::failed(
                        format!(
                            "velero backup process timeout: the backup ran longer than velero_timeout_minutes ({} min)",
                            timeout.as_secs() / 60
                        ),
                        Timestamp::now(),
                    ),
                };
                finish::<ApplicationBackup>(&task_ctx, &object, claim, status, "backup", started)
                    .await;
                true
            });
            register(&ctx, key, "backup", task, cancel);
            Ok(Action::await_change())
        }
    }
}

/// Reconciles one ApplicationRestore.
pub async fn reconcile_restore(
    restore: Arc<ApplicationRestore>,
    ctx: Arc<Context>,
) -> Result<Action, ControllerError> {
    let name = restore.name_any();
    let key = format!("restore/{name}");
    let now = Timestamp::now();
    match decide(
        restore.status.as_ref(),
        ctx.runs(&key),
        now,
        ctx.options.heartbeat_period,
    ) {
        JobDecision::Nothing => Ok(Action::await_change()),
        JobDecision::Watch(after) => Ok(Action::requeue(after)),
        JobDecision::Orphaned(reason) => {
            fail::<ApplicationRestore>(&ctx, restore.as_ref(), reason).await?;
            Ok(Action::await_change())
        }
        JobDecision::Start => {
            let unknown = super::unknown_fields_of(&ctx, restore.as_ref()).await;
            if !unknown.is_empty() {
                fail::<ApplicationRestore>(
                    &ctx,
                    restore.as_ref(),
                    unknown_fields_message(&unknown),
                )
                .await?;
                return Ok(Action::await_change());
            }
            let config = ctx.config().await;
            if ctx.running_of("restore") >= config.application_backup.restore_max_worker_num.get() {
                return Ok(Action::requeue(Duration::from_secs(2)));
            }
            let location = match &restore.spec.backup_location {
                Some(l) => l.clone(),
                None => match ctx
                    .api::<ApplicationBackup>()
                    .get_opt(&restore.spec.backup_name)
                    .await?
                {
                    Some(b) => b.spec.backup_location.clone(),
                    None => {
                        // The backup may not be synced yet: look again soon.
                        return Ok(Action::requeue(Duration::from_secs(2)));
                    }
                },
            };
            let vault = match location_vault(&ctx, &location, None).await {
                Ok(Some(v)) => v,
                Ok(None) => return Ok(Action::requeue(Duration::from_secs(1))),
                Err(e) => {
                    fail::<ApplicationRestore>(&ctx, restore.as_ref(), e).await?;
                    return Ok(Action::await_change());
                }
            };
            // An encrypted backup's key is found and checked before anything runs (E3).
            let kek = match super::keys::restore_key(&ctx, &restore.spec, vault.as_ref()).await {
                Ok(k) => k,
                Err(e) => {
                    fail::<ApplicationRestore>(&ctx, restore.as_ref(), e).await?;
                    return Ok(Action::await_change());
                }
            };
            let encryption = kek.as_deref().map(JobEncryption::of_key);
            let vault = match kek {
                None => vault,
                Some(kek) => match location_vault(&ctx, &location, Some(kek)).await {
                    Ok(Some(v)) => v,
                    Ok(None) => return Ok(Action::requeue(Duration::from_secs(1))),
                    Err(e) => {
                        fail::<ApplicationRestore>(&ctx, restore.as_ref(), e).await?;
                        return Ok(Action::await_change());
                    }
                },
            };
            let (label, value) = CHANGE_IMAGE_LABEL;
            let configmaps = ctx
                .api::<ConfigMap>()
                .list(&ListParams::default().labels(&format!("{label}={value}")))
                .await?;
            let mut spec = restore
                .spec
                .to_model(&name, change_image_cases(&configmaps.items));
            spec.converted_volumes =
                super::convert::converted_volumes(&ctx, &restore.spec.backup_name).await?;
            let timeout = config.application_backup.backup_timeout;
            let abandoned = Abandoned::default();
            let vault: Arc<dyn Vault> = Arc::new(TrackedVault::new(vault, abandoned.clone()));
            let engine = match engine(&ctx, &location, vault, config) {
                Ok(e) => e,
                Err(e) => {
                    fail::<ApplicationRestore>(&ctx, restore.as_ref(), e).await?;
                    return Ok(Action::await_change());
                }
            };
            let mut claim = ApplicationJobStatus {
                phase: Some(JobPhase::InProgress),
                start_timestamp: Some(now),
                backup_location: Some(location),
                encryption,
                ..ApplicationJobStatus::default()
            };
            claim_status(&ctx, &mut claim);
            ctx.apply_status::<ApplicationRestore, _>(&name, &claim)
                .await?;
            ctx.event(
                restore.as_ref(),
                false,
                "InProgress",
                format!(
                    "restore {name} from backup {} started by {}",
                    restore.spec.backup_name, ctx.options.identity
                ),
            )
            .await;
            let cancel = Arc::new(tokio::sync::watch::channel(false).0);
            let task_ctx = ctx.clone();
            let task_cancel = cancel.clone();
            let object = restore.as_ref().clone();
            let connections = ctx.options.job_connections.clone();
            let task = tokio::spawn(async move {
                let started = std::time::Instant::now();
                let end = run_job::<ApplicationRestore, _, _, _>(
                    task_ctx.clone(),
                    "restore",
                    name.clone(),
                    claim.clone(),
                    timeout,
                    JobControl {
                        cancel: task_cancel,
                        abandoned,
                    },
                    move || async move {
                        on_job_connection(engine, connections.as_ref())
                            .restore(spec)
                            .await
                    },
                )
                .await;
                let status = match end {
                    JobEnd::Cancelled => return false,
                    JobEnd::Deleted => return true,
                    JobEnd::Broken(e) => ApplicationJobStatus::failed(e, Timestamp::now()),
                    JobEnd::Done(report) => ApplicationJobStatus::from_job(&report.status, true),
                    JobEnd::TimedOut => ApplicationJobStatus::failed(
                        format!(
                            "velero restore process timeout: the restore ran longer than velero_timeout_minutes ({} min)",
                            timeout.as_secs() / 60
                        ),
                        Timestamp::now(),
                    ),
                };
                finish::<ApplicationRestore>(&task_ctx, &object, claim, status, "restore", started)
                    .await;
                true
            });
            register(&ctx, key, "restore", task, cancel);
            Ok(Action::await_change())
        }
    }
}

/// How a job's run ended.
pub(super) enum JobEnd<T> {
    /// The engine returned its report.
    Done(T),
    /// It ran longer than `velero_timeout_minutes`.
    TimedOut,
    /// This controller is stopping: the job is handed back, no status written.
    Cancelled,
    /// Its object was deleted: nothing to write.
    Deleted,
    /// The job's thread could not run it.
    Broken(String),
}

/// How a running job is cancelled, and the uploads it leaves when it is.
pub(super) struct JobControl {
    pub(super) cancel: Arc<tokio::sync::watch::Sender<bool>>,
    pub(super) abandoned: Abandoned,
}

/// Runs a job on its own thread while renewing its heartbeat, until it ends, its object is
/// deleted (`kubectl delete`: the job is cancelled) or `cancel` is set (the controller
/// stops). A cancelled job's unfinished upload is removed from the vault before this
/// returns.
pub(super) async fn run_job<K, F, Fut, T>(
    ctx: Arc<Context>,
    kind: &str,
    name: String,
    claim: ApplicationJobStatus,
    timeout: Duration,
    control: JobControl,
    make: F,
) -> JobEnd<T>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
    T: Send + 'static,
{
    let JobControl { cancel, abandoned } = control;
    let heartbeat = heartbeat::<K>(ctx, name.clone(), claim);
    let run = on_own_thread(
        format!("{kind} {name}"),
        timeout,
        cancel.subscribe(),
        abandoned,
        make,
    );
    tokio::pin!(run);
    tokio::select! {
        end = &mut run => return end,
        () = heartbeat => {}
    }
    // The object was deleted: cancel the job and wait until its upload is removed.
    cancel.send_replace(true);
    let _ = run.await;
    JobEnd::Deleted
}

/// Runs an engine job on a thread of its own with a current-thread runtime (the engine's
/// futures are not `Send`), bounded by `timeout`, until `cancel` is set. A job that timed out
/// or was cancelled has its future dropped on its thread (nothing uncommitted becomes
/// visible, V5), then its abandoned uploads are aborted there, on the runtime they were
/// started on, which removes their data from the vault.
async fn on_own_thread<F, Fut, T>(
    what: String,
    timeout: Duration,
    mut cancel: tokio::sync::watch::Receiver<bool>,
    abandoned: Abandoned,
    make: F,
) -> JobEnd<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
    T: Send + 'static,
{
    let (result_tx, result_rx) = tokio::sync::oneshot::channel();
    let thread_what = what.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("csdr-job-{}", what.replace(' ', "-")))
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = result_tx.send(JobEnd::Broken(format!(
                        "{thread_what}: cannot start a runtime: {e}"
                    )));
                    return;
                }
            };
            runtime.block_on(async move {
                let end = tokio::select! {
                    r = tokio::time::timeout(timeout, make()) => match r {
                        Ok(report) => JobEnd::Done(report),
                        Err(_) => JobEnd::TimedOut,
                    },
                    _ = cancel.wait_for(|c| *c) => JobEnd::Cancelled,
                };
                let left = abandoned.abort_all(Duration::from_secs(30)).await;
                if !left.is_empty() {
                    tracing::warn!(job = %thread_what, attempts = ?left, "the job's unfinished uploads stay until the vault's GC");
                }
                let _ = result_tx.send(end);
            });
        });
    if let Err(e) = spawned {
        return JobEnd::Broken(format!("{what}: cannot start a thread: {e}"));
    }
    result_rx
        .await
        .unwrap_or_else(|_| JobEnd::Broken(format!("{what}: the job's thread stopped")))
}

pub(super) fn claim_status(ctx: &Context, status: &mut ApplicationJobStatus) {
    status.controller = Some(ctx.options.identity.clone());
    status.heartbeat_time = Some(Timestamp::now());
}

pub(super) fn register(
    ctx: &Context,
    key: String,
    kind: &'static str,
    task: tokio::task::JoinHandle<bool>,
    cancel: Arc<tokio::sync::watch::Sender<bool>>,
) {
    if let Ok(mut running) = ctx.running.lock() {
        running.retain(|_, j| !j.task.is_finished());
        running.insert(key, RunningJob { kind, task, cancel });
    }
}

/// Renews the claim every heartbeat period; never returns unless the object is gone.
async fn heartbeat<K>(ctx: Arc<Context>, name: String, mut claim: ApplicationJobStatus)
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    loop {
        tokio::time::sleep(ctx.options.heartbeat_period).await;
        claim.heartbeat_time = Some(Timestamp::now());
        match ctx.apply_status::<K, _>(&name, &claim).await {
            Ok(()) => {}
            Err(ControllerError::Kube(kube::Error::Api(e))) if e.code == 404 => {
                tracing::info!(job = %name, "the job's object was deleted; stopping it");
                return;
            }
            Err(e) => tracing::warn!(job = %name, error = %e, "cannot renew the job's heartbeat"),
        }
    }
}

async fn finish<K>(
    ctx: &Context,
    object: &K,
    claim: ApplicationJobStatus,
    status: ApplicationJobStatus,
    kind: &str,
    started: std::time::Instant,
) where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    finish_with(ctx, object, claim, status, kind, started, |s| s).await;
}

/// Writes a finished job's status — the job status `wrap` puts into the kind's own status
/// (in one write, so a reader never sees the phase without the rest) — records its metrics
/// and publishes its Event.
pub(super) async fn finish_with<K, S>(
    ctx: &Context,
    object: &K,
    claim: ApplicationJobStatus,
    mut status: ApplicationJobStatus,
    kind: &str,
    started: std::time::Instant,
    wrap: impl FnOnce(ApplicationJobStatus) -> S,
) where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    S: serde::Serialize,
{
    let name = object.meta().name.clone().unwrap_or_default();
    status.start_timestamp = status.start_timestamp.or(claim.start_timestamp);
    status.backup_location = claim.backup_location;
    status.controller = claim.controller;
    status.encryption = status.encryption.or(claim.encryption);
    let phase = status.phase.unwrap_or(JobPhase::Failed);
    ctx.metrics.job_finished(kind, phase, started.elapsed());
    let note = match &status.failure_reason {
        Some(reason) => format!("{kind} {name} {phase}: {reason}"),
        None => format!(
            "{kind} {name} {phase}: {} errors, {} warnings",
            status.errors, status.warnings
        ),
    };
    if let Err(e) = ctx.apply_status::<K, _>(&name, &wrap(status)).await {
        tracing::warn!(job = %name, error = %e, "cannot write the job's result");
    }
    ctx.event(
        object,
        phase != JobPhase::Completed,
        &phase.to_string(),
        note,
    )
    .await;
}

pub(super) async fn fail<K>(
    ctx: &Context,
    object: &K,
    reason: String,
) -> Result<(), ControllerError>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let name = object.meta().name.clone().unwrap_or_default();
    let status = ApplicationJobStatus::failed(reason.clone(), Timestamp::now());
    ctx.apply_status::<K, _>(&name, &status).await?;
    ctx.metrics.job_finished(
        &K::kind(&()).to_lowercase(),
        JobPhase::Failed,
        Duration::ZERO,
    );
    ctx.event(object, true, "Failed", reason).await;
    Ok(())
}

/// On shutdown: waits up to the grace period for running jobs, then cancels the others
/// (each removes its unfinished upload from the vault) and hands them back: their status is
/// cleared, so the next leader starts them again.
pub async fn stop_jobs(ctx: &Context) {
    let deadline = tokio::time::Instant::now() + ctx.options.shutdown_grace;
    loop {
        let busy = ctx
            .running
            .lock()
            .map(|m| m.values().any(|j| !j.task.is_finished()))
            .unwrap_or(false);
        if !busy || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let left: Vec<(String, RunningJob)> = match ctx.running.lock() {
        Ok(mut m) => m.drain().collect(),
        Err(_) => Vec::new(),
    };
    for (_, job) in &left {
        job.cancel.send_replace(true);
    }
    for (key, job) in left {
        let mut task = job.task;
        let finished = match tokio::time::timeout(Duration::from_secs(60), &mut task).await {
            Ok(Ok(finished)) => finished,
            Ok(Err(_)) => false,
            Err(_) => {
                task.abort();
                false
            }
        };
        if finished {
            continue;
        }
        let Some((kind, name)) = key.split_once('/') else {
            continue;
        };
        let patch = Patch::Merge(serde_json::json!({"status": null}));
        let params = PatchParams::default();
        let result = if kind == "backup" {
            ctx.api::<ApplicationBackup>()
                .patch_status(name, &params, &patch)
                .await
                .map(|_| ())
        } else if kind == "convert" {
            ctx.api::<crate::resources::ConvertToSnapshot>()
                .patch_status(name, &params, &patch)
                .await
                .map(|_| ())
        } else {
            ctx.api::<ApplicationRestore>()
                .patch_status(name, &params, &patch)
                .await
                .map(|_| ())
        };
        match result {
            Ok(()) => tracing::info!(job = %key, "handed the unfinished job back"),
            Err(e) => tracing::warn!(job = %key, error = %e, "cannot hand the job back"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn new_jobs_start_finished_ones_rest() {
        let now = at("2026-12-04T12:00:00Z");
        let hb = Duration::from_secs(10);
        assert_eq!(decide(None, false, now, hb), JobDecision::Start);
        let done = ApplicationJobStatus {
            phase: Some(JobPhase::Completed),
            ..Default::default()
        };
        assert_eq!(decide(Some(&done), false, now, hb), JobDecision::Nothing);
    }

    #[test]
    fn a_job_whose_controller_stopped_heartbeating_is_failed_within_two_periods() {
        let now = at("2026-12-04T12:00:00Z");
        let hb = Duration::from_secs(10);
        let mut running = ApplicationJobStatus {
            phase: Some(JobPhase::InProgress),
            controller: Some("csdr-controller-a".into()),
            heartbeat_time: Some(at("2026-12-04T11:59:55Z")),
            ..Default::default()
        };
        // Running here: nothing to do. Elsewhere with a fresh heartbeat: look again when it
        // would be stale.
        assert_eq!(decide(Some(&running), true, now, hb), JobDecision::Nothing);
        assert_eq!(
            decide(Some(&running), false, now, hb),
            JobDecision::Watch(Duration::from_millis(15_200))
        );
        running.heartbeat_time = Some(at("2026-12-04T11:59:40Z"));
        match decide(Some(&running), false, now, hb) {
            JobDecision::Orphaned(reason) => {
                assert!(reason.contains("csdr-controller-a"), "{reason}");
                assert!(reason.contains("20s"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn change_image_cases_come_from_every_labelled_configmap_in_order() {
        let cm = |name: &str, data: &[(&str, &str)]| ConfigMap {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        };
        let cases = change_image_cases(&[
            cm("b", &[("case1", "v1:v2")]),
            cm("a", &[("case2", "app1,app2"), ("case1", "app1:v1,app2:v2")]),
        ]);
        assert_eq!(cases, ["app1:v1,app2:v2", "app1,app2", "v1:v2"]);
    }
}
