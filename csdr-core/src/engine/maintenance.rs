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

    /// Deletes every backup expired now (by the engine's clock), Failed ones included, and
    /// removes orphaned upload data older than the grace period (B10).
    pub async fn gc(&self) -> Result<GcReport, VaultError> {
        let now = self.clock.now();
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

    /// One tick of a schedule now, by the engine's clock (S3): fires the backup that is due
    /// (named `<schedule>-<yyyyMMddHHmmss>`), or says when the next one is.
    /// `tz` is the schedule's time zone, resolved by the caller from `schedule.time_zone`
    /// (the core has no time zone database of its own; UTC when the schedule names none).
    /// `last_run` is when the schedule last fired (None before its first run), `created` when
    /// it was created, `running` whether its previous backup is still in progress.
    pub async fn run_schedule_tick(
        &self,
        schedule: &ScheduleSpec,
        tz: &TimeZone,
        created: Timestamp,
        last_run: Option<Timestamp>,
        running: bool,
    ) -> Result<ScheduleTick, crate::Error> {
        let now = self.clock.now();
        let parsed = Schedule::parse(&schedule.schedule)?;
        let state = ScheduleState {
            paused: schedule.paused,
            created,
            last_run,
            run_in_progress: running,
        };
        Ok(match decide_run(&parsed, tz, &state, now) {
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
