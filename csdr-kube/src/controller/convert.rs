//! The ConvertToSnapshot reconciler (issue 17): a StorageClass conversion task runs like the
//! other jobs ([`super::jobs`]): claimed with `phase: InProgress`, the controller's identity
//! and a heartbeat renewed while it runs, bounded by `convert_max_worker_num` and
//! `velero_timeout_minutes`, failed when its controller stopped heartbeating, handed back
//! when the controller stops, an Event on every phase change. It runs
//! [`Engine::convert_to_snapshots`](csdr_core::engine::Engine::convert_to_snapshots) on the
//! controller's cluster with the node agents writing the volumes' files; its status lists
//! the converted volumes, which ApplicationRestores of the same backup use
//! ([`converted_volumes`]).

use std::sync::Arc;
use std::time::Duration;

use csdr_core::engine::ConvertedVolume;
use csdr_core::model::JobPhase;
use jiff::Timestamp;
use kube::ResourceExt;
use kube::api::ListParams;
use kube::runtime::controller::Action;

use super::cancel::Abandoned;
use super::jobs::{
    JobControl, JobDecision, JobEnd, claim_status, decide, engine, fail, finish_with,
    location_vault, on_job_connection, register, run_job,
};
use super::{Context, ControllerError, unknown_fields_message};
use crate::resources::{
    ApplicationBackup, ApplicationJobStatus, ConvertToSnapshot, ConvertToSnapshotStatus,
    JobEncryption,
};

/// The converted volumes of the finished (Completed or PartiallyFailed) ConvertToSnapshots
/// of `backup`, for a restore of it (none when the cluster has no ConvertToSnapshot CRD).
pub async fn converted_volumes(
    ctx: &Context,
    backup: &str,
) -> Result<Vec<ConvertedVolume>, ControllerError> {
    let list = match ctx
        .api::<ConvertToSnapshot>()
        .list(&ListParams::default())
        .await
    {
        Ok(list) => list,
        // Installed before conversions existed (no CRD): there is none to use.
        Err(kube::Error::Api(e)) if e.code == 404 => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    Ok(list
        .items
        .into_iter()
        .filter(|c| c.spec.backup_name == backup)
        .filter_map(|c| c.status)
        .filter(|s| {
            matches!(
                s.job.phase,
                Some(JobPhase::Completed | JobPhase::PartiallyFailed)
            )
        })
        .flat_map(|s| s.converted_volumes)
        .collect())
}

/// Reconciles one ConvertToSnapshot.
pub async fn reconcile_convert(
    convert: Arc<ConvertToSnapshot>,
    ctx: Arc<Context>,
) -> Result<Action, ControllerError> {
    let name = convert.name_any();
    let key = format!("convert/{name}");
    let now = Timestamp::now();
    match decide(
        convert.status.as_ref().map(|s| &s.job),
        ctx.runs(&key),
        now,
        ctx.options.heartbeat_period,
    ) {
        JobDecision::Nothing => Ok(Action::await_change()),
        JobDecision::Watch(after) => Ok(Action::requeue(after)),
        JobDecision::Orphaned(reason) => {
            fail::<ConvertToSnapshot>(&ctx, convert.as_ref(), reason).await?;
            Ok(Action::await_change())
        }
        JobDecision::Start => {
            let unknown = super::unknown_fields_of(&ctx, convert.as_ref()).await;
            if !unknown.is_empty() {
                fail::<ConvertToSnapshot>(&ctx, convert.as_ref(), unknown_fields_message(&unknown))
                    .await?;
                return Ok(Action::await_change());
            }
            let config = ctx.config().await;
            if ctx.running_of("convert") >= config.application_backup.convert_max_worker_num.get() {
                return Ok(Action::requeue(Duration::from_secs(2)));
            }
            let location = match &convert.spec.backup_location {
                Some(l) => l.clone(),
                None => match ctx
                    .api::<ApplicationBackup>()
                    .get_opt(&convert.spec.backup_name)
                    .await?
                {
                    Some(b) => b.spec.backup_location.clone(),
                    // The backup may not be synced yet: look again soon.
                    None => return Ok(Action::requeue(Duration::from_secs(2))),
                },
            };
            let vault = match location_vault(&ctx, &location, None).await {
                Ok(Some(v)) => v,
                Ok(None) => return Ok(Action::requeue(Duration::from_secs(1))),
                Err(e) => {
                    fail::<ConvertToSnapshot>(&ctx, convert.as_ref(), e).await?;
                    return Ok(Action::await_change());
                }
            };
            // An encrypted backup's key is found and checked before anything runs (E3).
            let kek = match super::keys::convert_key(&ctx, &convert.spec, vault.as_ref()).await {
                Ok(k) => k,
                Err(e) => {
                    fail::<ConvertToSnapshot>(&ctx, convert.as_ref(), e).await?;
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
                        fail::<ConvertToSnapshot>(&ctx, convert.as_ref(), e).await?;
                        return Ok(Action::await_change());
                    }
                },
            };
            let timeout = config.application_backup.backup_timeout;
            let engine = match engine(&ctx, &location, vault, config) {
                Ok(e) => e,
                Err(e) => {
                    fail::<ConvertToSnapshot>(&ctx, convert.as_ref(), e).await?;
                    return Ok(Action::await_change());
                }
            };
            let attempt = format!("{}-{}", ctx.options.identity, now.as_second());
            let spec = convert.spec.to_model(&name, &attempt);
            let mut claim = ApplicationJobStatus {
                phase: Some(JobPhase::InProgress),
                start_timestamp: Some(now),
                backup_location: Some(location),
                encryption,
                ..ApplicationJobStatus::default()
            };
            claim_status(&ctx, &mut claim);
            ctx.apply_status::<ConvertToSnapshot, _>(&name, &claim)
                .await?;
            ctx.event(
                convert.as_ref(),
                false,
                "InProgress",
                format!(
                    "StorageClass conversion {name} of backup {} started by {}",
                    convert.spec.backup_name, ctx.options.identity
                ),
            )
            .await;
            let cancel = Arc::new(tokio::sync::watch::channel(false).0);
            let task_ctx = ctx.clone();
            let task_cancel = cancel.clone();
            let object = convert.as_ref().clone();
            let connections = ctx.options.job_connections.clone();
            let task = tokio::spawn(async move {
                let started = std::time::Instant::now();
                let end = run_job::<ConvertToSnapshot, _, _, _>(
                    task_ctx.clone(),
                    "convert",
                    name.clone(),
                    claim.clone(),
                    timeout,
                    JobControl {
                        cancel: task_cancel,
                        abandoned: Abandoned::default(),
                    },
                    move || async move {
                        on_job_connection(engine, connections.as_ref())
                            .convert_to_snapshots(&spec)
                            .await
                    },
                )
                .await;
                let (status, converted) = match end {
                    JobEnd::Cancelled => return false,
                    JobEnd::Deleted => return true,
                    JobEnd::Broken(e) => (
                        ApplicationJobStatus::failed(e, Timestamp::now()),
                        Vec::new(),
                    ),
                    JobEnd::Done(report) => {
                        for line in &report.log {
                            tracing::info!(job = %name, "{line}");
                        }
                        (
                            ApplicationJobStatus::from_job(&report.status, true),
                            report.converted,
                        )
                    }
                    JobEnd::TimedOut => (
                        ApplicationJobStatus::failed(
                            format!(
                                "create cluster resources timeout: the StorageClass conversion ran longer than velero_timeout_minutes ({} min)",
                                timeout.as_secs() / 60
                            ),
                            Timestamp::now(),
                        ),
                        Vec::new(),
                    ),
                };
                finish_with(
                    &task_ctx,
                    &object,
                    claim,
                    status,
                    "convert",
                    started,
                    |job| ConvertToSnapshotStatus {
                        job,
                        converted_count: Some(converted.len() as u64),
                        converted_volumes: converted,
                    },
                )
                .await;
                true
            });
            register(&ctx, key, "convert", task, cancel);
            Ok(Action::await_change())
        }
    }
}
