//! `DeleteRequest`: deletes a backup, restore, schedule or conversion and what it owns, then
//! removes itself (C3, V6).

use csdr_core::model::DeleteObjectType;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What to delete.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "csdr.alibabacloud.com",
    version = "v1beta1",
    kind = "DeleteRequest",
    namespaced,
    status = "DeleteRequestStatus",
    shortname = "dbr",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Object","type":"string","jsonPath":".spec.deleteObjectName"}"#,
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".spec.deleteObjectType"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct DeleteRequestSpec {
    /// The name of the object to delete.
    pub delete_object_name: String,
    /// `Backup`, `Restore`, `Schedule` or `Convert`.
    pub delete_object_type: DeleteObjectType,
}

/// Why a request has not removed itself yet.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeleteRequestStatus {
    /// `InProgress` or `Failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// What failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
