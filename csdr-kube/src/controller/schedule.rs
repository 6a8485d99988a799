//! The BackupSchedule reconciler: fires ApplicationBackups per S3 through the core's
//! [`decide_run`] (named `<schedule>-<yyyyMMddHHmmss>`, no overlap, at most one catch-up,
//! nothing while paused).

use std::sync::Arc;
use std::time::Duration;

use csdr_core::model::JobPhase;
use csdr_core::schedule::{
    RunDecision, Schedule, ScheduleState, SkipReason, backup_name_for_run, decide_run,
};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use kube::ResourceExt;
use kube::api::{ListParams, ObjectMeta, PostParams};
use kube::runtime::controller::Action;

use super::{Context, ControllerError, unknown_fields_message};
use crate::resources::{ApplicationBackup, BackupSchedule, BackupScheduleStatus};

/// The label naming the schedule that made an ApplicationBackup.
pub const SCHEDULE_LABEL: &str = "csdr.alibabacloud.com/schedule";

fn until(now: Timestamp, at: Timestamp) -> Duration {
    let millis = u64::try_from(at.duration_since(now).as_millis()).unwrap_or(0);
    Duration::from_millis(millis).max(Duration::from_millis(200))
}

/// Reconciles one BackupSchedule.
pub async fn reconcile(
    schedule: Arc<BackupSchedule>,
    ctx: Arc<Context>,
) -> Result<Action, ControllerError> {
    let name = schedule.name_any();
    let now = Timestamp::now();
    let previous = schedule.status.clone().unwrap_or_default();
    let invalid = |message: String| BackupScheduleStatus {
        phase: Some("FailedValidation".into()),
        message: Some(message),
        ..previous.clone()
    };
    let unknown = super::unknown_fields_of(&ctx, schedule.as_ref()).await;
    let parsed = if unknown.is_empty() {
        Schedule::parse(&schedule.spec.schedule).map_err(|e| format!("spec.schedule: {e}"))
    } else {
        Err(unknown_fields_message(&unknown))
    };
    let tz = match &schedule.spec.time_zone {
        Some(zone) => TimeZone::get(zone).map_err(|e| format!("spec.timeZone {zone}: {e}")),
        None => Ok(TimeZone::UTC),
    };
    let (parsed, tz) = match (parsed, tz) {
        (Ok(p), Ok(t)) => (p, t),
        (Err(e), _) | (_, Err(e)) => {
            if previous.phase.as_deref() != Some("FailedValidation") {
                ctx.event(schedule.as_ref(), true, "FailedValidation", e.clone())
                    .await;
            }
            ctx.apply_status::<BackupSchedule, _>(&name, &invalid(e))
                .await?;
            return Ok(Action::await_change());
        }
    };
    let created = schedule
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0)
        .unwrap_or(now);
    // A run is in progress while one of its backups has not finished.
    let backups = ctx
        .api::<ApplicationBackup>()
        .list(&ListParams::default().labels(&format!("{SCHEDULE_LABEL}={name}")))
        .await?;
    let running = backups.items.iter().any(|b| {
        !b.status
            .as_ref()
            .and_then(|s| s.phase)
            .is_some_and(JobPhase::is_finished)
    });
    let state = ScheduleState {
        paused: schedule.spec.paused,
        created,
        last_run: previous.last_run_time,
        run_in_progress: running,
    };
    let mut status = BackupScheduleStatus {
        phase: Some(
            if schedule.spec.paused {
                "Paused"
            } else {
                "Enabled"
            }
            .into(),
        ),
        message: None,
        ..previous.clone()
    };
    let action = match decide_run(&parsed, &tz, &state, now) {
        RunDecision::Fire { scheduled_for } => {
            let backup_name = backup_name_for_run(&name, scheduled_for);
            let backup = ApplicationBackup {
                metadata: ObjectMeta {
                    name: Some(backup_name.clone()),
                    namespace: Some(ctx.options.namespace.clone()),
                    labels: Some([(SCHEDULE_LABEL.to_string(), name.clone())].into()),
                    ..ObjectMeta::default()
                },
                spec: schedule.spec.template.clone(),
                status: None,
            };
            match ctx
                .api::<ApplicationBackup>()
                .create(&PostParams::default(), &backup)
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 409 => {} // fired before the status was written
                Err(e) => return Err(e.into()),
            }
            ctx.event(
                schedule.as_ref(),
                false,
                "Fired",
                format!("created ApplicationBackup {backup_name}"),
            )
            .await;
            status.last_backup = Some(backup_name);
            status.last_run_time = Some(scheduled_for);
            status.next_run_time = parsed.next_after(scheduled_for.max(now), &tz);
            Action::requeue(Duration::from_millis(500))
        }
        RunDecision::Wait { next } => {
            status.next_run_time = Some(next);
            Action::requeue(until(now, next))
        }
        RunDecision::Skip {
            reason: SkipReason::Paused,
        } => {
            status.next_run_time = None;
            Action::await_change()
        }
        RunDecision::Skip {
            reason: SkipReason::RunInProgress { due },
        } => {
            status.next_run_time = Some(due);
            Action::requeue(Duration::from_secs(1))
        }
        RunDecision::Skip {
            reason: SkipReason::NeverFires,
        } => {
            status.phase = Some("FailedValidation".into());
            status.message = Some(format!(
                "spec.schedule {} never fires",
                schedule.spec.schedule
            ));
            status.next_run_time = None;
            Action::await_change()
        }
    };
    if status != previous {
        if status.phase != previous.phase {
            let phase = status.phase.clone().unwrap_or_default();
            ctx.event(
                schedule.as_ref(),
                phase == "FailedValidation",
                &phase,
                format!("schedule {} is {phase}", schedule.spec.schedule),
            )
            .await;
        }
        ctx.apply_status::<BackupSchedule, _>(&name, &status)
            .await?;
    }
    Ok(action)
}
