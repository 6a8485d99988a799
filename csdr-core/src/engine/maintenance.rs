//! Deleting backups, garbage collection and schedule ticks (V6, B10, S3).

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::{BackupReport, Engine};
use crate::model::ScheduleSpec;
use crate::ports::vault::{OrphanReport, VaultError};
use crate::schedule::{RunDecision, Schedule, ScheduleState, backup_name_for_run, decide_run};

/// What [`Engine::gc`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Expired backups deleted (B10).
    pub expired: Vec<String>,
    /// Expired backups whose deletion failed, with the reason.
    pub failed: Vec<(String, String)>,
    /// Orphaned upload data and unfinished deletions cleaned up.
    pub orphans: OrphanReport,
}

/// What one schedule tick did (S3).
#[derive(Clone, Debug, PartialEq)]
pub enum ScheduleTick {
    /// A backup ran.
    Ran {
        /// When the run was due.
        scheduled_for: Timestamp,
        /// The backup's report.
        report: Box<BackupReport>,
    },
    /// Nothing was due; the next run time.
    Waiting {
        /// The next fire time, if the schedule fires again.
        next: Option<Timestamp>,
    },
    /// The schedule is paused or a run is in progress.
    Skipped {
        /// Why.
        reason: String,
    },
}

impl Engine {
    /// Deletes a backup from the vault (V6): marker first, then the objects; idempotent.
    pub async fn delete_backup(&self, name: &str) -> Result<(), VaultError> {
        self.vault.delete_backup(name).await
    }

    /// Deletes every backup expired at `now` and removes orphaned upload data older than the
    /// grace period (B10).
    pub async fn gc(&self, now: Timestamp) -> Result<GcReport, VaultError> {
        let mut report = GcReport::default();
        for record in self.vault.expired_backups(now).await? {
            let name = record.name().to_string();
            match self.vault.delete_backup(&name).await {
                Ok(()) => report.expired.push(name),
                Err(e) => report.failed.push((name, e.to_string())),
            }
        }
        report.orphans = self
            .vault
            .remove_orphans(now, self.options.orphan_grace)
            .await?;
        Ok(report)
    }

    /// One tick of a schedule at `now` (S3): fires the backup that is due (named
    /// `<schedule>-<yyyyMMddHHmmss>`), or says when the next one is.
    /// `last_run` is when the schedule last fired (None before its first run), `created` when
    /// it was created, `running` whether its previous backup is still in progress.
    pub async fn run_schedule_tick(
        &self,
        schedule: &ScheduleSpec,
        created: Timestamp,
        last_run: Option<Timestamp>,
        running: bool,
        now: Timestamp,
    ) -> Result<ScheduleTick, crate::Error> {
        let parsed = Schedule::parse(&schedule.schedule)?;
        let tz = match &schedule.time_zone {
            Some(name) => TimeZone::get(name).map_err(|e| crate::Error::TimeZone {
                schedule: schedule.name.clone(),
                name: name.clone(),
                reason: e.to_string(),
            })?,
            None => TimeZone::UTC,
        };
        let state = ScheduleState {
            paused: schedule.paused,
            created,
            last_run,
            run_in_progress: running,
        };
        Ok(match decide_run(&parsed, &tz, &state, now) {
            RunDecision::Fire { scheduled_for } => {
                let mut spec = schedule.template.clone();
                spec.name = backup_name_for_run(&schedule.name, scheduled_for);
                let report = self.backup(spec).await;
                ScheduleTick::Ran {
                    scheduled_for,
                    report: Box::new(report),
                }
            }
            RunDecision::Wait { next } => ScheduleTick::Waiting { next: Some(next) },
            RunDecision::Skip { reason } => ScheduleTick::Skipped {
                reason: format!("{reason:?}"),
            },
        })
    }
}
