//! `ConvertToSnapshot`: a StorageClass conversion task (the FAQ's; issue 17). Named after
//! the backup by convention (`kubectl -n csdr describe converttosnapshot <backup-name>`), it
//! turns the backup's file-system volume data into retained CSI snapshots of the classes
//! `storageClassMapping` names
//! ([`Engine::convert_to_snapshots`](csdr_core::engine::Engine::convert_to_snapshots)); an
//! ApplicationRestore of the same backup whose mapping converts a claim to the same class
//! then restores it from its snapshot. A `DeleteRequest` of type `Convert` naming it resets
//! it: its snapshots and the object are deleted.

use std::collections::BTreeMap;

use csdr_core::engine::{ConvertSpec, ConvertedVolume};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SecretKeyRef;
use super::job_status::ApplicationJobStatus;

/// A StorageClass conversion of a backup's volumes.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "csdr.alibabacloud.com",
    version = "v1beta1",
    kind = "ConvertToSnapshot",
    namespaced,
    status = "ConvertToSnapshotStatus",
    shortname = "cts",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Backup","type":"string","jsonPath":".spec.backupName"}"#,
    printcolumn = r#"{"name":"Converted","type":"integer","jsonPath":".status.convertedCount"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ConvertToSnapshotSpec {
    /// The backup whose volumes are converted.
    pub backup_name: String,
    /// The BackupLocation holding it; by default the one its ApplicationBackup names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_location: Option<String>,
    /// Old StorageClass → new StorageClass (a disk or NAS CSI class of this cluster).
    #[serde(default)]
    pub storage_class_mapping: BTreeMap<String, String>,
    /// Access modes the converted claims get, e.g. `[ReadWriteOnce]` for disks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub convert_to_access_modes: Vec<String>,
    /// The Secret, in the controller's namespace, holding the age identity of the recipient
    /// an encrypted backup was created for (E2), as an ApplicationRestore names it: the
    /// conversion reads the backup's claims and volume records. Ignored for a plain backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decryption_key_secret_ref: Option<SecretKeyRef>,
    /// The AWS KMS key of a KMS-encrypted backup as `kms://<key id or
    /// ARN>[?region=…&endpoint=…]`, when its id alone does not say how to reach it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decryption_key: Option<String>,
}

impl ConvertToSnapshotSpec {
    /// The engine's spec for the conversion named `name`, run as `attempt`.
    pub fn to_model(&self, name: &str, attempt: &str) -> ConvertSpec {
        ConvertSpec {
            name: name.to_string(),
            backup_name: self.backup_name.clone(),
            storage_class_mapping: self.storage_class_mapping.clone(),
            convert_to_access_modes: self.convert_to_access_modes.clone(),
            attempt: attempt.to_string(),
        }
    }
}

/// A conversion's status: the job status every job kind has (phase, times, errors naming
/// each failed volume, `failureReason`, the claim and heartbeat of the controller running
/// it), and the claims converted.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConvertToSnapshotStatus {
    /// Phase, times, progress, issues, controller claim.
    #[serde(flatten)]
    pub job: ApplicationJobStatus,
    /// How many claims were converted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub converted_count: Option<u64>,
    /// The claims converted: each backed-up claim, its old and new class, size, access
    /// modes and the retained snapshot (`snapshotHandle`, `contentName`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub converted_volumes: Vec<ConvertedVolume>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    #[test]
    fn the_status_flattens_the_job_status_and_lists_the_volumes() {
        let status: ConvertToSnapshotStatus = serde_json::from_value(serde_json::json!({
            "phase": "Completed", "controller": "c1", "convertedCount": 0
        }))
        .unwrap();
        assert_eq!(
            status.job.phase,
            Some(csdr_core::model::JobPhase::Completed)
        );
        assert_eq!(status.job.controller.as_deref(), Some("c1"));
        let crd = serde_json::to_value(ConvertToSnapshot::crd()).unwrap();
        let status_schema =
            &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"];
        for field in [
            "phase",
            "failureReason",
            "heartbeatTime",
            "convertedVolumes",
        ] {
            assert!(
                status_schema["properties"][field].is_object(),
                "{field}: {status_schema}"
            );
        }
    }

    #[test]
    fn the_spec_reaches_the_engine() {
        let spec: ConvertToSnapshotSpec = serde_json::from_value(serde_json::json!({
            "backupName": "shop-b",
            "storageClassMapping": {"alicloud-nas": "alicloud-disk-topology-alltype"},
            "convertToAccessModes": ["ReadWriteOnce"]
        }))
        .unwrap();
        let model = spec.to_model("shop-b", "c1-1");
        assert_eq!(model.backup_name, "shop-b");
        assert_eq!(
            model.storage_class_mapping["alicloud-nas"],
            "alicloud-disk-topology-alltype"
        );
        assert_eq!(model.convert_to_access_modes, ["ReadWriteOnce"]);
        assert_eq!(model.attempt, "c1-1");
    }
}
