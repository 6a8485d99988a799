//! `BackupLocation`: a vault the cluster backs up to and restores from (K1, V1–V2).

use std::collections::BTreeMap;

use jiff::Timestamp;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A vault: its URL as the CLI takes it, settings merged into the URL's, and the Secret
/// holding its credentials.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "csdr.alibabacloud.com",
    version = "v1beta1",
    kind = "BackupLocation",
    namespaced,
    status = "BackupLocationStatus",
    shortname = "bl",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Last Validated","type":"date","jsonPath":".status.lastValidationTime"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BackupLocationSpec {
    /// The vault URL: `file:///…`, `s3://bucket/prefix?endpoint=…&region=…`, `memory://`.
    pub url: String,
    /// Settings merged into the URL's (`region`, `network`, `endpoint`, …); a key here
    /// overrides the URL's query parameter of the same name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
    /// The Secret in the controller's namespace holding the vault's access key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<CredentialRef>,
}

/// A Secret holding a vault's credentials.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialRef {
    /// The Secret's name, in the controller's namespace.
    pub name: String,
    /// The Secret's key holding the access key id (default `access_key_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id_key: Option<String>,
    /// The Secret's key holding the secret access key (default `secret_access_key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key_key: Option<String>,
}

/// Whether the vault can be used.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum LocationPhase {
    /// The last validation's round trip worked.
    Available,
    /// The last validation failed; `message` says why. Jobs on it fail with `VaultError: …`.
    Unavailable,
}

impl std::fmt::Display for LocationPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LocationPhase::Available => "Available",
            LocationPhase::Unavailable => "Unavailable",
        })
    }
}

/// What the controller last found.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupLocationStatus {
    /// Available or Unavailable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<LocationPhase>,
    /// When the vault was last validated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub last_validation_time: Option<Timestamp>,
    /// `ok`, or the `VaultError: …` of the step that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The generation validated last (a change of the spec revalidates at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
