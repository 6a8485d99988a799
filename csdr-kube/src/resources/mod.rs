//! The backup center's custom resources (K1): group `csdr.alibabacloud.com`, version
//! `v1beta1`, namespaced in `csdr`. Spec fields are the model's (camelCase); statuses are
//! written by the controller through the `/status` subresource.
//!
//! [`crds`] generates the CustomResourceDefinitions. schemars writes
//! `additionalProperties: false` for the model's `deny_unknown_fields` types, which a real
//! API server refuses in a structural schema; [`make_structural`] removes it, and the
//! controller rejects unknown fields itself ([`unknown_fields`]) with a status message
//! naming the field.

pub mod application_backup;
pub mod application_restore;
pub mod backup_location;
pub mod backup_schedule;
pub mod convert_to_snapshot;
pub mod delete_request;
pub mod job_status;
pub mod pod_volume;

pub use application_backup::{ApplicationBackup, ApplicationBackupSpec, SYNCED_LABEL};
pub use application_restore::{ApplicationRestore, ApplicationRestoreSpec, SecretKeyRef};
pub use backup_location::{
    BackupLocation, BackupLocationSpec, BackupLocationStatus, CredentialRef, LocationPhase,
};
pub use backup_schedule::{BackupSchedule, BackupScheduleSpec, BackupScheduleStatus};
pub use convert_to_snapshot::{ConvertToSnapshot, ConvertToSnapshotSpec, ConvertToSnapshotStatus};
pub use delete_request::{DeleteRequest, DeleteRequestSpec, DeleteRequestStatus};
pub use job_status::{ApplicationJobStatus, JobEncryption};
pub use pod_volume::{
    PodReference, PodVolumeBackup, PodVolumeBackupSpec, PodVolumeJobPhase, PodVolumeRestore,
    PodVolumeRestoreSpec, PodVolumeStatus,
};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps,
};
use kube::CustomResourceExt;
use serde_json::Value;

/// The API group of the backup center's resources.
pub const GROUP: &str = "csdr.alibabacloud.com";
/// Their version.
pub const VERSION: &str = "v1beta1";

/// The CRDs of the six backup center resources and the node agents' two (D3), with
/// structural schemas.
pub fn crds() -> Vec<CustomResourceDefinition> {
    let mut crds = vec![
        BackupLocation::crd(),
        ApplicationBackup::crd(),
        ApplicationRestore::crd(),
        BackupSchedule::crd(),
        DeleteRequest::crd(),
        ConvertToSnapshot::crd(),
        PodVolumeBackup::crd(),
        PodVolumeRestore::crd(),
    ];
    for crd in &mut crds {
        for version in &mut crd.spec.versions {
            if let Some(schema) = version
                .schema
                .as_mut()
                .and_then(|s| s.open_api_v3_schema.as_mut())
            {
                make_structural(schema);
            }
        }
    }
    crds
}

/// Removes `additionalProperties: false` everywhere (an API server refuses it beside
/// `properties` in a structural schema); string maps keep their `additionalProperties`.
pub fn make_structural(schema: &mut JSONSchemaProps) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrBool;
    if matches!(
        schema.additional_properties,
        Some(JSONSchemaPropsOrBool::Bool(false))
    ) {
        schema.additional_properties = None;
    }
    if let Some(JSONSchemaPropsOrBool::Schema(inner)) = schema.additional_properties.as_mut() {
        make_structural(inner);
    }
    if let Some(props) = schema.properties.as_mut() {
        for p in props.values_mut() {
            make_structural(p);
        }
    }
    if let Some(items) = schema.items.as_mut() {
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrArray;
        match items {
            JSONSchemaPropsOrArray::Schema(s) => make_structural(s),
            JSONSchemaPropsOrArray::Schemas(list) => list.iter_mut().for_each(make_structural),
        }
    }
}

/// The paths (`spec.template.foo`) of the fields in `value` that `schema` does not declare:
/// what a real API server would prune silently, reported instead by the controller.
pub fn unknown_fields(schema: &JSONSchemaProps, value: &Value, path: &str) -> Vec<String> {
    let mut found = Vec::new();
    match value {
        Value::Object(map) => {
            if let Some(props) = &schema.properties {
                for (key, v) in map {
                    let here = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    match props.get(key) {
                        Some(s) => found.extend(unknown_fields(s, v, &here)),
                        None => found.push(here),
                    }
                }
            }
        }
        Value::Array(items) => {
            use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrArray;
            if let Some(JSONSchemaPropsOrArray::Schema(s)) = &schema.items {
                for (i, v) in items.iter().enumerate() {
                    found.extend(unknown_fields(s, v, &format!("{path}[{i}]")));
                }
            }
        }
        _ => {}
    }
    found
}

/// The unknown fields of an object's `spec`, by the schema of its kind's CRD.
pub fn unknown_spec_fields(crd: &CustomResourceDefinition, object: &Value) -> Vec<String> {
    let Some(spec) = object.get("spec") else {
        return Vec::new();
    };
    let schema = crd
        .spec
        .versions
        .iter()
        .find(|v| v.name == VERSION)
        .and_then(|v| v.schema.as_ref())
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .and_then(|s| s.properties.as_ref())
        .and_then(|p| p.get("spec"));
    match schema {
        Some(schema) => unknown_fields(schema, spec, "spec"),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn has_closed_object(v: &Value) -> bool {
        match v {
            Value::Object(m) => {
                m.get("additionalProperties") == Some(&Value::Bool(false))
                    || m.values().any(has_closed_object)
            }
            Value::Array(a) => a.iter().any(has_closed_object),
            _ => false,
        }
    }

    #[test]
    fn crds_are_structural_namespaced_with_status_and_printer_columns() {
        let crds = crds();
        let names: Vec<_> = crds
            .iter()
            .map(|c| c.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "backuplocations.csdr.alibabacloud.com",
                "applicationbackups.csdr.alibabacloud.com",
                "applicationrestores.csdr.alibabacloud.com",
                "backupschedules.csdr.alibabacloud.com",
                "deleterequests.csdr.alibabacloud.com",
                "converttosnapshots.csdr.alibabacloud.com",
                "podvolumebackups.csdr.alibabacloud.com",
                "podvolumerestores.csdr.alibabacloud.com",
            ]
        );
        for crd in &crds {
            let v = serde_json::to_value(crd).unwrap();
            assert!(!has_closed_object(&v), "{} is not structural", names[0]);
            assert_eq!(v["spec"]["scope"], "Namespaced");
            let version = &v["spec"]["versions"][0];
            assert_eq!(version["name"], "v1beta1");
            assert!(version["subresources"]["status"].is_object());
            let columns: Vec<_> = version["additionalPrinterColumns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_string())
                .collect();
            let first = if crd.spec.names.kind.starts_with("PodVolume") {
                ["Node", "Phase", "Claim", "Snapshot", "Age"].as_slice()
            } else {
                ["Phase"].as_slice()
            };
            assert_eq!(&columns[..first.len()], first);
            assert_eq!(columns.last().map(String::as_str), Some("Age"));
        }
        let bl = serde_json::to_value(&crds[0]).unwrap();
        let cols = &bl["spec"]["versions"][0]["additionalPrinterColumns"];
        assert_eq!(cols[1]["name"], "Last Validated");
        assert_eq!(cols[1]["jsonPath"], ".status.lastValidationTime");
    }

    #[test]
    fn unknown_spec_fields_are_named_with_their_path() {
        let crd = ApplicationBackup::crd();
        let object = json!({"spec": {
            "includedNamespaces": ["shop"],
            "backupLocation": "oss",
            "includeNamespace": ["typo"],
            "ttl": "720h"
        }});
        assert_eq!(
            unknown_spec_fields(&crd, &object),
            ["spec.includeNamespace"]
        );
        let schedule = BackupSchedule::crd();
        let object = json!({"spec": {"schedule": "1h", "template": {"backupLocation": "oss", "volumes": true}}});
        assert_eq!(
            unknown_spec_fields(&schedule, &object),
            ["spec.template.volumes"]
        );
    }

    #[test]
    fn the_faq_delete_request_parses() {
        let yaml = json!({
            "apiVersion": "csdr.alibabacloud.com/v1beta1",
            "kind": "DeleteRequest",
            "metadata": {"name": "reset-convert", "namespace": "csdr"},
            "spec": {"deleteObjectName": "shop-b", "deleteObjectType": "Convert"}
        });
        let dr: DeleteRequest = serde_json::from_value(yaml).unwrap();
        assert_eq!(
            dr.spec.delete_object_type,
            csdr_core::model::DeleteObjectType::Convert
        );
    }

    #[test]
    fn backup_specs_convert_to_the_model_with_the_object_name() {
        let spec: ApplicationBackupSpec = serde_json::from_value(json!({
            "includedNamespaces": ["shop"], "ttl": "24h", "backupLocation": "oss"
        }))
        .unwrap();
        let model = spec.to_model("shop-b").unwrap();
        assert_eq!(model.name, "shop-b");
        assert_eq!(model.scope.included_namespaces, ["shop"]);
        assert_eq!(model.ttl, std::time::Duration::from_secs(24 * 3600));
        assert_eq!(model.storage_location.as_deref(), Some("oss"));
        let bad = ApplicationBackupSpec {
            ttl: Some("soon".into()),
            ..spec
        };
        assert!(bad.to_model("x").unwrap_err().contains("spec.ttl"));
    }
}
