//! The status shared by `ApplicationBackup` and `ApplicationRestore`: phase, times, progress,
//! issues (counts and the first [`MAX_LISTED_ISSUES`] entries, each naming its object), and
//! the claim of the controller instance running the job (its heartbeat).

use csdr_core::model::{Issue, JobPhase, JobStatus};
use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How many errors and warnings a status lists (the counts are complete).
pub const MAX_LISTED_ISSUES: usize = 100;

/// Items done so far.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobProgress {
    /// Items expected.
    #[serde(default)]
    pub total_items: u64,
    /// Items backed up (backups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items_backed_up: Option<u64>,
    /// Items restored (restores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items_restored: Option<u64>,
}

/// A job's status.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationJobStatus {
    /// `InProgress`, `Completed`, `PartiallyFailed` or `Failed`; absent until claimed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub phase: Option<JobPhase>,
    /// When the job started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub start_timestamp: Option<Timestamp>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub completion_timestamp: Option<Timestamp>,
    /// When the backup expires (backups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub expiration: Option<Timestamp>,
    /// Items done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<JobProgress>,
    /// How many errors.
    #[serde(default)]
    pub errors: u64,
    /// How many warnings.
    #[serde(default)]
    pub warnings: u64,
    /// The first errors, each `Kind namespace/name: message`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_list: Vec<String>,
    /// The first warnings, each `Kind namespace/name: message`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warning_list: Vec<String>,
    /// Why the job failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// Volume snapshots taken (backups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_snapshots: Option<u64>,
    /// The BackupLocation the job used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_location: Option<String>,
    /// The controller instance running the job (its claim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<String>,
    /// The claim's last renewal: a job whose heartbeat is older than two heartbeat periods
    /// has lost its controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub heartbeat_time: Option<Timestamp>,
    /// How the backup is encrypted (E2): the key-encryption key's kind and public id; for a
    /// restore, the key that opened its backup. Absent when it is stored in clear. Never
    /// key material.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<JobEncryption>,
}

/// The key-encryption key of an encrypted backup (E2), as a status shows it.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobEncryption {
    /// `age` or `kms`.
    pub key_kind: String,
    /// The key's public id: an `age1…` recipient, a KMS key id or ARN.
    pub key_id: String,
}

impl JobEncryption {
    /// The status of a backup encrypted as `record` says.
    pub fn of(record: &csdr_core::crypto::EncryptionRecord) -> Self {
        JobEncryption {
            key_kind: record.key_kind.to_string(),
            key_id: record.key_id.clone(),
        }
    }

    /// The status of a job using `key`.
    pub fn of_key(key: &dyn csdr_core::crypto::KeyEncryptionKey) -> Self {
        JobEncryption {
            key_kind: key.kind().to_string(),
            key_id: key.key_id(),
        }
    }
}

/// `Kind namespace/name: message`, or the message alone.
pub fn issue_line(issue: &Issue) -> String {
    match &issue.object {
        Some(o) => match &o.namespace {
            Some(ns) => format!("{} {ns}/{}: {}", o.kind, o.name, issue.message),
            None => format!("{} {}: {}", o.kind, o.name, issue.message),
        },
        None => issue.message.clone(),
    }
}

impl ApplicationJobStatus {
    /// The status of a finished (or recorded) job, from the engine's.
    pub fn from_job(status: &JobStatus, restore: bool) -> Self {
        let done = status.progress.items_done;
        ApplicationJobStatus {
            phase: Some(status.phase),
            start_timestamp: status.start_timestamp,
            completion_timestamp: status.completion_timestamp,
            expiration: status.expiration,
            progress: Some(JobProgress {
                total_items: status.progress.total_items,
                items_backed_up: (!restore).then_some(done),
                items_restored: restore.then_some(done),
            }),
            errors: status.errors.len() as u64,
            warnings: status.warnings.len() as u64,
            error_list: status
                .errors
                .iter()
                .take(MAX_LISTED_ISSUES)
                .map(issue_line)
                .collect(),
            warning_list: status
                .warnings
                .iter()
                .take(MAX_LISTED_ISSUES)
                .map(issue_line)
                .collect(),
            failure_reason: status.failure_reason.clone(),
            ..ApplicationJobStatus::default()
        }
    }

    /// A job that failed before or without running.
    pub fn failed(reason: impl Into<String>, now: Timestamp) -> Self {
        ApplicationJobStatus {
            phase: Some(JobPhase::Failed),
            completion_timestamp: Some(now),
            failure_reason: Some(reason.into()),
            ..ApplicationJobStatus::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use csdr_core::model::ObjectRef;

    #[test]
    fn issues_are_counted_and_the_first_hundred_listed_with_their_objects() {
        let mut status = JobStatus {
            phase: JobPhase::PartiallyFailed,
            ..JobStatus::default()
        };
        for i in 0..150 {
            status.errors.push(Issue::about(
                ObjectRef {
                    group: "apps".into(),
                    version: "v1".into(),
                    kind: "Deployment".into(),
                    namespace: Some("shop".into()),
                    name: format!("web-{i}"),
                },
                "forbidden",
            ));
        }
        status.warnings.push(Issue::general("slow"));
        let s = ApplicationJobStatus::from_job(&status, false);
        assert_eq!(s.errors, 150);
        assert_eq!(s.error_list.len(), MAX_LISTED_ISSUES);
        assert_eq!(s.error_list[0], "Deployment shop/web-0: forbidden");
        assert_eq!(s.warning_list, vec!["slow".to_string()]);
        assert_eq!(s.progress.unwrap().items_restored, None);
    }
}
