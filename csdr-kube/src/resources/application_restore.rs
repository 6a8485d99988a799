//! `ApplicationRestore`: a restore job (K1, R1–R12).

use std::collections::BTreeMap;

use csdr_core::model::{BackupScope, ExistingResourcePolicy, RestoreSpec, VolumeRestore};
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
    /// Restore only these claims and their data from their snapshots, nothing else (D5):
    /// `{namespace, name, targetNamespace?, targetName?}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub included_volumes: Vec<VolumeRestore>,
    /// Pre-flight (R15): dry-run every final object against the cluster before the first
    /// write; any rejection fails the restore, naming the object, and nothing is written.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preflight: bool,
    /// The Secret, in the controller's namespace, holding the age identity (the file
    /// `age-keygen` writes, `AGE-SECRET-KEY-1…`) of the recipient an encrypted backup was
    /// created for (E2). Needed for a backup encrypted with an age key; ignored for a plain
    /// one. A backup encrypted with a KMS key needs no Secret: the controller's AWS
    /// credentials unwrap it. A missing or wrong key fails the restore before anything is
    /// applied, naming the key id and the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decryption_key_secret_ref: Option<SecretKeyRef>,
    /// The AWS KMS key of a KMS-encrypted backup as `kms://<key id or
    /// ARN>[?region=…&endpoint=…]`, when its id alone does not say how to reach it; by
    /// default the key the backup records, in its ARN's region (else `AWS_REGION`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decryption_key: Option<String>,
}

/// A key of a Secret in the controller's namespace.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// The Secret's name.
    pub name: String,
    /// The key of its `data` holding the value. Example: `age-identity.txt`.
    pub key: String,
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
            included_volumes: self.included_volumes.clone(),
            preflight: self.preflight,
            // Filled by the controller from the backup's Completed ConvertToSnapshot.
            converted_volumes: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_alone_and_preflight_reach_the_engine() {
        let spec: ApplicationRestoreSpec = serde_json::from_value(serde_json::json!({
            "backupName": "b1",
            "preflight": true,
            "includedVolumes": [{"namespace": "shop", "name": "data",
                "targetNamespace": "shop-copy", "targetName": "data-2"}]
        }))
        .unwrap();
        let model = spec.to_model("r1", Vec::new());
        assert!(model.preflight);
        assert_eq!(
            model.included_volumes,
            vec![
                "shop/data=shop-copy/data-2"
                    .parse::<VolumeRestore>()
                    .unwrap()
            ]
        );
        let typo = serde_json::from_value::<ApplicationRestoreSpec>(serde_json::json!({
            "backupName": "b1", "includedVolumes": [{"namespace": "shop", "nmae": "data"}]
        }));
        assert!(typo.unwrap_err().to_string().contains("nmae"));
    }
}
