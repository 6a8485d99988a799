//! `ApplicationBackup`: a backup job (K1, B1–B11), or a backup synced from a vault (K3).

use csdr_core::model::{BackupScope, BackupSpec, DEFAULT_TTL, duration_text};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::job_status::ApplicationJobStatus;

/// The label marking an ApplicationBackup synced from a vault: it records a backup made
/// elsewhere and is never run.
pub const SYNCED_LABEL: &str = "csdr.alibabacloud.com/synced";

/// A backup: the model's [`BackupSpec`] without `name` (the object's name) plus the
/// BackupLocation it goes to.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "csdr.alibabacloud.com",
    version = "v1beta1",
    kind = "ApplicationBackup",
    namespaced,
    status = "ApplicationJobStatus",
    shortname = "abk",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Location","type":"string","jsonPath":".spec.backupLocation"}"#,
    printcolumn = r#"{"name":"Expiration","type":"date","jsonPath":".status.expiration"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationBackupSpec {
    /// Which namespaces, resources and labels to back up.
    #[serde(flatten)]
    pub scope: BackupScope,
    /// How long to keep the backup (`720h`, `30d`); 30 days by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    /// Whether to snapshot volumes.
    #[serde(default)]
    pub backup_volumes: bool,
    /// The VolumeSnapshotClass per CSI driver (`{driver: class}`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub volume_snapshot_class: std::collections::BTreeMap<String, String>,
    /// PersistentVolumeClaims (`namespace/name`) snapshotted whether or not a selected
    /// workload uses them (a data-protection backup).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub included_volumes: Vec<String>,
    /// The BackupLocation to store it in.
    pub backup_location: String,
    /// Client-side envelope encryption of the backup (E2): the key-encryption key that wraps
    /// its data key, as `csdr backup create --encryption-key` takes it — an age recipient
    /// (`age1…`; restore with the matching identity in a Secret, see
    /// `ApplicationRestore.spec.decryptionKeySecretRef`) or an AWS KMS key
    /// (`kms://<key id or ARN>[?region=…&endpoint=…]`, used with the controller's AWS
    /// credentials). A public key id only: never put key material here. Absent: the backup
    /// is stored in clear (the bucket's server-side encryption still applies). The status's
    /// `encryption` names the key once the job runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_key: Option<String>,
}

impl ApplicationBackupSpec {
    /// The engine's spec for the backup named `name`; fails on an unreadable `ttl`.
    pub fn to_model(&self, name: &str) -> Result<BackupSpec, String> {
        let ttl = match &self.ttl {
            Some(text) => duration_text::parse(text).map_err(|e| format!("spec.ttl: {e}"))?,
            None => DEFAULT_TTL,
        };
        Ok(BackupSpec {
            name: name.to_string(),
            scope: self.scope.clone(),
            ttl,
            backup_volumes: self.backup_volumes,
            volume_snapshot_class: self.volume_snapshot_class.clone(),
            included_volumes: self.included_volumes.clone(),
            volume_policy: None,
            storage_location: Some(self.backup_location.clone()),
        })
    }

    /// The resource's spec of a backup recorded in a vault (for sync).
    pub fn from_model(spec: &BackupSpec, location: &str) -> Self {
        ApplicationBackupSpec {
            scope: spec.scope.clone(),
            ttl: Some(duration_text::format(&spec.ttl)),
            backup_volumes: spec.backup_volumes,
            volume_snapshot_class: spec.volume_snapshot_class.clone(),
            included_volumes: spec.included_volumes.clone(),
            backup_location: location.to_string(),
            encryption_key: None,
        }
    }
}
