//! `BackupSchedule`: a backup plan firing ApplicationBackups (K1, S1–S3).

use jiff::Timestamp;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::application_backup::ApplicationBackupSpec;

/// A schedule: cron (`1 4 * * *`) or interval (`6h30m`), and the backup it makes.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "csdr.alibabacloud.com",
    version = "v1beta1",
    kind = "BackupSchedule",
    namespaced,
    status = "BackupScheduleStatus",
    shortname = "bs",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Schedule","type":"string","jsonPath":".spec.schedule"}"#,
    printcolumn = r#"{"name":"Last Backup","type":"string","jsonPath":".status.lastBackup"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BackupScheduleSpec {
    /// Cron expression or interval (S1–S2).
    pub schedule: String,
    /// Paused schedules fire nothing.
    #[serde(default)]
    pub paused: bool,
    /// The IANA time zone cron expressions are read in (UTC by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// The backup each firing makes, named `<schedule>-<yyyyMMddHHmmss>`.
    pub template: ApplicationBackupSpec,
}

/// What the schedule last did.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupScheduleStatus {
    /// `Enabled`, `Paused` or `FailedValidation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The last ApplicationBackup it created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_backup: Option<String>,
    /// When it last fired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub last_run_time: Option<Timestamp>,
    /// When it fires next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub next_run_time: Option<Timestamp>,
    /// Why the schedule is invalid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
