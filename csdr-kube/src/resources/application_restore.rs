//! `ApplicationRestore`: a restore job (K1, R1–R12).

use std::collections::BTreeMap;

use csdr_core::model::{BackupScope, ExistingResourcePolicy, RestoreSpec};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::job_status::ApplicationJobStatus;

/// A restore: the model's [`RestoreSpec`] without `name` (the object's name); the
/// BackupLocation is optional (found from the synced ApplicationBackup of `backupName`).
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "csdr.alibabacloud.com",
    version = "v1beta1",
    kind = "ApplicationRestore",
    namespaced,
    status = "ApplicationJobStatus",
    shortname = "ar",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Backup","type":"string","jsonPath":".spec.backupName"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationRestoreSpec {
    /// The backup to restore.
    pub backup_name: String,
    /// The BackupLocation holding it; by default the one its ApplicationBackup names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_location: Option<String>,
    /// Which of the backup's objects to restore.
    #[serde(flatten)]
    pub scope: BackupScope,
    /// Source namespace → target namespace.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub namespace_mapping: BTreeMap<String, String>,
    /// Registry prefix → replacement (R9).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub image_registry_mapping: BTreeMap<String, String>,
    /// Keep Service node ports.
    #[serde(default)]
    pub preserve_node_ports: bool,
    /// StorageClass → StorageClass.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub storage_class_mapping: BTreeMap<String, String>,
    /// Access modes restored claims are converted to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub convert_to_access_modes: Vec<String>,
    /// What to do with objects that already exist.
    #[serde(default)]
    pub existing_resource_policy: ExistingResourcePolicy,
    /// Plan only; change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

impl ApplicationRestoreSpec {
    /// The engine's spec for the restore named `name`, with the change-image cases of the
    /// `velero.io/change-image-name: RestoreItemAction` ConfigMaps (R9).
    pub fn to_model(&self, name: &str, change_image_cases: Vec<String>) -> RestoreSpec {
        RestoreSpec {
            name: name.to_string(),
            backup_name: self.backup_name.clone(),
            scope: self.scope.clone(),
            namespace_mapping: self.namespace_mapping.clone(),
            image_registry_mapping: self.image_registry_mapping.clone(),
            change_image_cases,
            preserve_node_ports: self.preserve_node_ports,
            storage_class_mapping: self.storage_class_mapping.clone(),
            convert_to_access_modes: self.convert_to_access_modes.clone(),
            existing_resource_policy: self.existing_resource_policy,
            dry_run: self.dry_run,
            included_volumes: Vec::new(),
            preflight: false,
        }
    }
}
