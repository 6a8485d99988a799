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
    /// Volume snapshots deleted with their backups, or left by failed and crashed jobs.
    pub snapshots_deleted: Vec<String>,
    /// Volume snapshots of deleted backups left in the cluster: the engine has no snapshotter
    /// (no cluster was given); delete them to free their storage.
    pub snapshots_left: Vec<String>,
    /// Short-lived volume pods (`csdr.io/volume-pod`) that crashed or interrupted jobs left
    /// behind, deleted (`<namespace>/<name>`).
    pub volume_pods_deleted: Vec<String>,
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
    /// Its volume snapshots go first (see [`Engine::delete_backup_and_snapshots`], which
    /// also says which were deleted or left).
    pub async fn delete_backup(&self, name: &str) -> Result<(), VaultError> {
        self.delete_backup_and_snapshots(name).await.map(|_| ())
    }

    /// Deletes every backup expired now (by the engine's clock), Failed ones included, with
    /// its volume snapshots, removes orphaned upload data older than the grace period (B10)
    /// and the volume snapshots and short-lived volume pods failed or crashed jobs left (§9).
    pub async fn gc(&self) -> Result<GcReport, VaultError> {
        let now = self.clock.now();
        let mut report = GcReport::default();
        for record in self.vault.expired_backups(now).await? {
            let name = record.name().to_string();
            match self.delete_backup_and_snapshots(&name).await {
                Ok(cleanup) => {
                    report
                        .snapshots_deleted
                        .extend(cleanup.deleted.iter().map(super::describe_snapshot));
                    report
                        .snapshots_left
                        .extend(cleanup.left.iter().map(super::describe_snapshot));
                    report.expired.push(name)
                }
                Err(e) => report.failed.push((name, e.to_string())),
            }
        }
        // Snapshots of failed, crashed or replaced attempts (resumes an interrupted cleanup).
        let (removed, failed) = self.collect_orphan_snapshots(now).await;
        report
            .snapshots_deleted
            .extend(removed.iter().map(super::describe_snapshot));
        report.failed.extend(failed);
        let (removed, failed) = self.collect_volume_pods(now).await;
        report.volume_pods_deleted = removed;
        report.failed.extend(failed);
        report.orphans = self
            .vault
            .remove_orphans(now, self.options.orphan_grace)
            .await?;
        Ok(report)
    }

    /// Deletes the short-lived volume pods ([`super::VOLUME_POD_LABEL`]) whose job is over:
    /// its backup or restore record is in the vault and finished after the pod was made, or
    /// the pod is older than the orphan grace period (a crashed job's). A pod of a job that
    /// is still running is kept.
    async fn collect_volume_pods(&self, now: Timestamp) -> (Vec<String>, Vec<(String, String)>) {
        use futures::TryStreamExt;
        let label = super::VOLUME_POD_LABEL;
        let pods = super::pod_volumes::pods();
        let found: Vec<crate::object::KubeObject> = match self
            .cluster
            .list(&pods, None, Some(label), 500)
            .try_collect()
            .await
        {
            Ok(found) => found,
            Err(e) => {
                return (
                    Vec::new(),
                    vec![(format!("pods labelled {label}"), e.to_string())],
                );
            }
        };
        let grace = jiff::SignedDuration::try_from(self.options.orphan_grace)
            .unwrap_or(jiff::SignedDuration::MAX);
        let (mut removed, mut failed) = (Vec::new(), Vec::new());
        for pod in found {
            let name = format!("{}/{}", pod.namespace().unwrap_or_default(), pod.name());
            let created = pod
                .pointer("/metadata/creationTimestamp")
                .and_then(serde_json::Value::as_str)
                .and_then(|t| t.parse::<Timestamp>().ok());
            let old = created
                .and_then(|c| c.checked_add(grace).ok())
                .is_some_and(|until| until <= now);
            let finished = match pod.label(label).unwrap_or_default().split_once('-') {
                Some(("backup", job)) => self
                    .vault
                    .backup_record(job)
                    .await
                    .map(|r| r.and_then(|r| r.status.completion_timestamp)),
                Some(("restore", job)) => self
                    .vault
                    .restore(job)
                    .await
                    .map(|r| r.and_then(|r| r.status.completion_timestamp)),
                _ => Ok(None),
            };
            let over = match finished {
                Ok(done) => done.zip(created).is_some_and(|(done, made)| made <= done),
                Err(e) => {
                    failed.push((name, e.to_string()));
                    continue;
                }
            };
            if !(over || old) {
                continue;
            }
            match self
                .cluster
                .delete(&pods, pod.namespace(), pod.name())
                .await
            {
                Ok(()) | Err(crate::ports::cluster::ClusterError::NotFound { .. }) => {
                    removed.push(name)
                }
                Err(e) => failed.push((name, e.to_string())),
            }
        }
        (removed, failed)
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
