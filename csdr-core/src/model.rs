//! The objects users ask for and the status the engine reports: backups, restores,
//! schedules, vaults, delete requests and their phases.
//!
//! Field names follow the backup center FAQ and Velero (`includedNamespaces`,
//! `namespaceMapping`, `preserveNodePorts`, …). Every spec rejects unknown fields when it is
//! read, naming the field, so a typo never silently turns into a default.
//!
//! ```
//! use csdr_core::model::{BackupSpec, RestoreSpec};
//!
//! let spec: BackupSpec = serde_json::from_str(r#"{
//!     "name": "nightly",
//!     "includedNamespaces": ["shop", "web-*"],
//!     "excludedResources": ["events"],
//!     "ttl": "720h"
//! }"#)?;
//! assert_eq!(spec.ttl.as_secs(), 720 * 3600);
//!
//! let typo = serde_json::from_str::<RestoreSpec>(r#"{"name": "r", "backupName": "b", "namespaceMaping": {}}"#);
//! assert!(typo.unwrap_err().to_string().contains("unknown field `namespaceMaping`"));
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The default backup time to live: 30 days (B10).
pub const DEFAULT_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// Which namespaces, resources and labels a backup takes (B1–B4), or which of a backup's
/// objects a restore brings back: one set of fields shared by [`BackupSpec`] and
/// [`RestoreSpec`], written inline in each (`includedNamespaces`, … at the spec's top level).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackupScope {
    /// Namespaces to take (`*` wildcards). Empty: for a backup, all but the excluded and the
    /// system ones (B1); for a restore, all in the backup.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub included_namespaces: Vec<String>,
    /// Namespaces to leave out (`*` wildcards).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_namespaces: Vec<String>,
    /// Resources to take, by plural, singular, kind, short name or `plural.group` (B3); empty
    /// means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub included_resources: Vec<String>,
    /// Resources to leave out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_resources: Vec<String>,
    /// Only objects whose labels match this selector, in Kubernetes syntax
    /// (`app=web,tier in (a,b)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
    /// Cluster-scoped resources: `None` = only those related to selected objects, `true` = all,
    /// `false` = none (B4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_cluster_resources: Option<bool>,
}

/// What to back up (B1–B11).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackupSpec {
    /// The backup's name; unique in its vault (B7).
    pub name: String,
    /// Which namespaces, resources and labels it takes (B1–B4).
    #[serde(flatten)]
    pub scope: BackupScope,
    /// How long the backup is kept (B10); default 30 days. Written as a Go/humantime duration.
    #[serde(default = "default_ttl", with = "duration_text")]
    pub ttl: Duration,
    /// Whether to snapshot the volumes of selected pods (B6).
    #[serde(default)]
    pub backup_volumes: bool,
    /// The VolumeSnapshotClass to use per CSI driver (B6); a driver not named here uses the
    /// class labelled `csdr.io/default-snapshot-class=true`, else its default class.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volume_snapshot_class: BTreeMap<String, String>,
    /// PersistentVolumeClaims (`namespace/name`) whose data is snapshotted whether or not a
    /// selected workload uses them: a data-protection backup (D5).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub included_volumes: Vec<String>,
    /// How each volume's data is backed up (D2): a volume policy in Velero's YAML format
    /// ([`crate::volume_policy::VolumePolicy::from_yaml`]). Without one, CSI volumes whose
    /// driver has a VolumeSnapshotClass are snapshotted and every other volume is backed up
    /// through its files when the engine has a pod volume mover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_policy: Option<String>,
    /// The vault (storage location) to write to, when the engine knows several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_location: Option<String>,
}

fn default_ttl() -> Duration {
    DEFAULT_TTL
}

impl BackupSpec {
    /// A backup of everything the defaults allow, with the default TTL.
    pub fn new(name: impl Into<String>) -> Self {
        BackupSpec {
            name: name.into(),
            scope: BackupScope::default(),
            ttl: DEFAULT_TTL,
            backup_volumes: false,
            volume_snapshot_class: BTreeMap::new(),
            included_volumes: Vec::new(),
            volume_policy: None,
            storage_location: None,
        }
    }
}

/// What to do with an object that already exists in the target cluster (R11).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ExistingResourcePolicy {
    /// Leave it; warn if it differs from the backup.
    #[default]
    None,
    /// Merge-patch it to the backed-up state.
    Update,
}

/// What to restore and how to transform it (R1–R12).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RestoreSpec {
    /// The restore's name.
    pub name: String,
    /// The backup to restore from.
    pub backup_name: String,
    /// Which of the backup's namespaces, resources and labels it restores.
    #[serde(flatten)]
    pub scope: BackupScope,
    /// Source namespace → target namespace (R4).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub namespace_mapping: BTreeMap<String, String>,
    /// Image registry prefix → replacement prefix (R9), e.g.
    /// `docker.io/library/` → `registry.cn-beijing.aliyuncs.com/my-registry/`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub image_registry_mapping: BTreeMap<String, String>,
    /// Change-image cases in the FAQ's format (`"app1:v1,app2:v2"`, `"app1,app2"`,
    /// `"v1:v2"`, full references), applied in order (R9).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub change_image_cases: Vec<String>,
    /// Keep `healthCheckNodePort` of LoadBalancer Services with `externalTrafficPolicy: Local`
    /// (R6). Node ports themselves are always kept.
    #[serde(default)]
    pub preserve_node_ports: bool,
    /// StorageClass conversion: old class → new class for PVCs and PVs (R8).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub storage_class_mapping: BTreeMap<String, String>,
    /// Access modes for PVCs converted to another StorageClass (R7), e.g. `["ReadWriteOnce"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub convert_to_access_modes: Vec<String>,
    /// What to do with objects that already exist (R11).
    #[serde(default)]
    pub existing_resource_policy: ExistingResourcePolicy,
    /// Compute the plan and the final objects without writing anything (R1).
    #[serde(default)]
    pub dry_run: bool,
    /// Restore only these claims and their data from their snapshots, nothing else (D5).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub included_volumes: Vec<VolumeRestore>,
    /// Pre-flight (R15): after the plan and before the first write, send every final object
    /// to the target with `dryRun=All`; any rejection stops the restore, naming the object.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preflight: bool,
    /// Claims a StorageClass conversion of the backup turned into snapshots
    /// ([`Engine::convert_to_snapshots`](crate::engine::Engine::convert_to_snapshots)): a
    /// claim whose class `storage_class_mapping` sends to the class it was converted to is
    /// restored from its converted snapshot instead of through its files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub converted_volumes: Vec<crate::engine::ConvertedVolume>,
}

/// One claim of a standalone volume restore (D5): the backed-up claim and, optionally,
/// where it goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeRestore {
    /// The claim's namespace in the backup.
    pub namespace: String,
    /// The claim's name in the backup.
    pub name: String,
    /// The namespace to restore it into; its own (after `namespaceMapping`) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_namespace: Option<String>,
    /// The name to restore it under; its own when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_name: Option<String>,
}

impl std::str::FromStr for VolumeRestore {
    type Err = String;

    /// `namespace/name` or `namespace/name=target-namespace/target-name`.
    fn from_str(text: &str) -> Result<Self, String> {
        let pair = |part: &str| -> Result<(String, String), String> {
            match part.split_once('/') {
                Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
                    Ok((ns.to_string(), name.to_string()))
                }
                _ => Err(format!(
                    "`{text}` is not namespace/name or namespace/name=namespace/new-name"
                )),
            }
        };
        let (source, target) = match text.split_once('=') {
            Some((s, t)) => (s, Some(t)),
            None => (text, None),
        };
        let (namespace, name) = pair(source)?;
        let target = target.map(pair).transpose()?;
        Ok(VolumeRestore {
            namespace,
            name,
            target_namespace: target.as_ref().map(|t| t.0.clone()),
            target_name: target.map(|t| t.1),
        })
    }
}

impl RestoreSpec {
    /// A restore of a whole backup with no transformations beyond the defaults.
    pub fn new(name: impl Into<String>, backup_name: impl Into<String>) -> Self {
        RestoreSpec {
            name: name.into(),
            backup_name: backup_name.into(),
            scope: BackupScope::default(),
            namespace_mapping: BTreeMap::new(),
            image_registry_mapping: BTreeMap::new(),
            change_image_cases: Vec::new(),
            preserve_node_ports: false,
            storage_class_mapping: BTreeMap::new(),
            convert_to_access_modes: Vec::new(),
            existing_resource_policy: ExistingResourcePolicy::None,
            dry_run: false,
            included_volumes: Vec::new(),
            preflight: false,
            converted_volumes: Vec::new(),
        }
    }
}

/// A backup plan: a backup spec run on a schedule (S1–S3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduleSpec {
    /// The schedule's name; its backups are named `<name>-<yyyyMMddHHmmss>`.
    pub name: String,
    /// A 5-field cron expression, `@every <interval>`, `@daily`…, or an interval (`6h30m`).
    pub schedule: String,
    /// A paused schedule fires nothing.
    #[serde(default)]
    pub paused: bool,
    /// An IANA time zone for cron expressions; UTC when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// The backup each run creates (its `name` is replaced by the run's name).
    pub template: BackupSpec,
}

/// How a vault reaches its object storage (V1): Alibaba OSS has internal and public endpoints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum VaultNetwork {
    /// The region's internal (VPC) endpoint.
    Internal,
    /// The public endpoint; needed across regions and from outside the VPC.
    #[default]
    Public,
}

/// A backup vault: where backups are stored (V1–V3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VaultSpec {
    /// The vault's name; never reused after deletion (V3).
    pub name: String,
    /// `file:///path`, `s3://bucket/prefix?…` or `memory://`.
    pub url: String,
    /// The object storage region, where the URL does not say it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Internal or public network access (Alibaba OSS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<VaultNetwork>,
}

/// What a [`DeleteRequest`] deletes (C3).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeleteObjectType {
    /// A backup and its files in the vault.
    Backup,
    /// A restore record.
    Restore,
    /// A schedule (backup plan).
    Schedule,
    /// A StorageClass conversion task.
    Convert,
}

/// A request to delete a backup, restore, schedule or conversion (C3, V6).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteRequest {
    /// The request's own name (conventionally `<object>-dbr`).
    pub name: String,
    /// The name of the object to delete.
    pub delete_object_name: String,
    /// The type of the object to delete.
    pub delete_object_type: DeleteObjectType,
}

/// The phase of a backup or restore job (B9).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JobPhase {
    /// Still running.
    #[default]
    InProgress,
    /// Finished; may still carry warnings.
    Completed,
    /// Finished, but some objects failed; see the errors.
    PartiallyFailed,
    /// Did not complete; see the failure reason.
    Failed,
}

impl JobPhase {
    /// Whether the job has finished (successfully or not).
    pub fn is_finished(self) -> bool {
        self != JobPhase::InProgress
    }

    /// Whether a backup in this phase can be restored from and is shown to other clusters (V5).
    pub fn is_restorable(self) -> bool {
        matches!(self, JobPhase::Completed | JobPhase::PartiallyFailed)
    }
}

impl JobStatus {
    /// A `Failed` status with its failure (and the failure's message as `failure_reason`).
    pub fn failed(failure: JobFailure) -> Self {
        JobStatus {
            phase: JobPhase::Failed,
            failure_reason: Some(failure.message.clone()),
            failure: Some(failure),
            ..JobStatus::default()
        }
    }
}

impl fmt::Display for JobPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JobPhase::InProgress => "InProgress",
            JobPhase::Completed => "Completed",
            JobPhase::PartiallyFailed => "PartiallyFailed",
            JobPhase::Failed => "Failed",
        })
    }
}

/// A reference to one Kubernetes object, for errors and warnings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectRef {
    /// API group; empty for the core group.
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Namespace, for namespaced objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl ObjectRef {
    /// The reference to an object.
    pub fn of(obj: &crate::object::KubeObject) -> Self {
        let gv = obj.group_version();
        ObjectRef {
            group: gv.group,
            version: gv.version,
            kind: obj.kind().to_string(),
            namespace: obj.namespace().map(str::to_string),
            name: obj.name().to_string(),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gv = crate::object::GroupVersion::new(self.group.clone(), self.version.clone());
        if !self.version.is_empty() {
            write!(f, "{gv} ")?;
        }
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// An error or warning of a job, naming the object it is about when there is one (B9).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Issue {
    /// The object concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectRef>,
    /// What happened.
    pub message: String,
}

impl Issue {
    /// An issue not tied to one object.
    pub fn general(message: impl Into<String>) -> Self {
        Issue {
            object: None,
            message: message.into(),
        }
    }

    /// An issue about one object.
    pub fn about(object: ObjectRef, message: impl Into<String>) -> Self {
        Issue {
            object: Some(object),
            message: message.into(),
        }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.object {
            Some(o) => write!(f, "{o}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Items processed so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Progress {
    /// Items expected in all.
    pub total_items: u64,
    /// Items done.
    pub items_done: u64,
}

/// What kind of failure ended a job: what a user or an operator should look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FailureKind {
    /// The vault could not be used (unreachable, denied, name taken, a write failed).
    Vault,
    /// The cluster could not be read or written.
    Cluster,
    /// The spec cannot be carried out (a selection that selects nothing, an invalid rule).
    Spec,
    /// Stored data does not match its checksums, or cannot be read (V7).
    Integrity,
    /// The job did not finish within its time limit (B8).
    Timeout,
    /// The job was stopped before it finished.
    Cancelled,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureKind::Vault => "vault",
            FailureKind::Cluster => "cluster",
            FailureKind::Spec => "spec",
            FailureKind::Integrity => "integrity",
            FailureKind::Timeout => "timeout",
            FailureKind::Cancelled => "cancelled",
        })
    }
}

/// Why a job failed, as kept in its report and its record: the kind, whether trying again
/// later may succeed, the message (`status.failureReason`, in the FAQ's wording) and the
/// chain of underlying errors, outermost first.
///
/// ```
/// use csdr_core::model::{FailureKind, JobFailure};
///
/// let f = JobFailure::new(FailureKind::Timeout, "velero backup process timeout");
/// assert!(!f.transient);
/// assert_eq!(f.to_string(), "velero backup process timeout");
/// let json = serde_json::to_value(&f)?;
/// assert_eq!(json["kind"], "timeout");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobFailure {
    /// What failed.
    pub kind: FailureKind,
    /// Whether running the job again later may succeed (a network error, a busy server).
    #[serde(default)]
    pub transient: bool,
    /// The message, e.g. `VaultError: …` or `get target namespace failed: none of [a] exists`.
    pub message: String,
    /// The underlying errors, outermost first (each error's `source()`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<String>,
}

impl JobFailure {
    /// A failure without underlying errors.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        JobFailure {
            kind,
            transient: false,
            message: message.into(),
            causes: Vec::new(),
        }
    }

    /// A failure from an error: its message, and its `source()` chain as the causes.
    pub fn from_error(
        kind: FailureKind,
        transient: bool,
        error: &(dyn std::error::Error + 'static),
    ) -> Self {
        let mut causes = Vec::new();
        let mut next = error.source();
        while let Some(e) = next {
            causes.push(e.to_string());
            next = e.source();
        }
        JobFailure {
            kind,
            transient,
            message: error.to_string(),
            causes,
        }
    }
}

impl fmt::Display for JobFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The status of a backup or restore job (B9, R12).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobStatus {
    /// The phase.
    pub phase: JobPhase,
    /// Why the job failed, when the phase is `Failed`: the message of [`JobStatus::failure`]
    /// (Velero's `failureReason`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// The typed failure, when the phase is `Failed` (absent from records written before
    /// csdr kept it, and from Velero's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<JobFailure>,
    /// Errors, each naming its object.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Issue>,
    /// Warnings, each naming its object.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Issue>,
    /// Items total / done.
    #[serde(default)]
    pub progress: Progress,
    /// When the job started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_timestamp: Option<Timestamp>,
    /// When the job finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_timestamp: Option<Timestamp>,
    /// When a backup expires (start + TTL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<Timestamp>,
}

/// The SHA-256 and size of one stored file or archive entry (V7).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EntryDigest {
    /// The entry's path (inside the archive) or the object's key (in the vault).
    pub path: String,
    /// Lower-case hex SHA-256 of the bytes.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// Serde for durations as text: writes Go's form (`720h0m0s`), reads Go or humantime forms
/// (`720h`, `6h30m`, `1d`, `90m`).
pub mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Formats like Go's `time.Duration.String` for whole seconds: `720h0m0s`, `1h30m0s`, `45s`.
    pub fn format(d: &Duration) -> String {
        let secs = d.as_secs();
        let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
        if h > 0 {
            format!("{h}h{m}m{s}s")
        } else if m > 0 {
            format!("{m}m{s}s")
        } else {
            format!("{s}s")
        }
    }

    /// Parses a Go or humantime duration.
    pub fn parse(text: &str) -> Result<Duration, String> {
        humantime::parse_duration(text.trim())
            .map_err(|e| format!("invalid duration {text:?}: {e}"))
    }

    /// Serializes as [`format()`].
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(d))
    }

    /// Deserializes with [`parse()`].
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn backup_spec_round_trip_in_camel_case() {
        let mut spec = BackupSpec::new("b1");
        spec.scope.included_namespaces = vec!["shop".into()];
        spec.scope.label_selector = Some("app=web".into());
        spec.scope.include_cluster_resources = Some(false);
        let v = serde_json::to_value(&spec).unwrap();
        assert_eq!(
            v,
            json!({"name": "b1", "includedNamespaces": ["shop"], "labelSelector": "app=web",
                "includeClusterResources": false, "ttl": "720h0m0s", "backupVolumes": false})
        );
        let back: BackupSpec = serde_json::from_value(v).unwrap();
        assert_eq!(back, spec);
    }

    #[test]
    fn restore_spec_faq_fields() {
        let spec: RestoreSpec = serde_json::from_value(json!({
            "name": "r1", "backupName": "b1",
            "namespaceMapping": {"old": "new"},
            "imageRegistryMapping": {"docker.io/library/": "registry.cn-beijing.aliyuncs.com/my-registry/"},
            "preserveNodePorts": true,
            "storageClassMapping": {"alicloud-disk": "alicloud-disk-topology-alltype"},
            "convertToAccessModes": ["ReadWriteOnce"],
            "existingResourcePolicy": "update",
            "changeImageCases": ["app1:v1,app2:v2"]
        }))
        .unwrap();
        assert!(spec.preserve_node_ports);
        assert_eq!(
            spec.existing_resource_policy,
            ExistingResourcePolicy::Update
        );
        let again: RestoreSpec =
            serde_json::from_value(serde_json::to_value(&spec).unwrap()).unwrap();
        assert_eq!(again, spec);
    }

    #[test]
    fn backup_and_restore_share_one_scope_written_inline() {
        let scope = json!({"includedNamespaces": ["shop"], "excludedNamespaces": ["test-*"],
            "includedResources": ["deployments.apps"], "excludedResources": ["secrets"],
            "labelSelector": "app=web", "includeClusterResources": true});
        let mut backup = json!({"name": "b"});
        let mut restore = json!({"name": "r", "backupName": "b"});
        for (k, v) in scope.as_object().unwrap() {
            backup[k] = v.clone();
            restore[k] = v.clone();
        }
        let backup: BackupSpec = serde_json::from_value(backup).unwrap();
        let restore: RestoreSpec = serde_json::from_value(restore).unwrap();
        let expected: BackupScope = serde_json::from_value(scope).unwrap();
        assert_eq!(backup.scope, expected);
        assert_eq!(restore.scope, expected);
        assert_eq!(expected.excluded_resources, ["secrets"]);
        // A scope field of the wrong type is reported with the value found.
        let err = serde_json::from_value::<RestoreSpec>(
            json!({"name": "r", "backupName": "b", "includedNamespaces": "shop"}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("expected a sequence"), "{err}");
    }

    #[test]
    fn unknown_fields_are_named() {
        let err =
            serde_json::from_value::<BackupSpec>(json!({"name": "b", "includeNamespaces": []}))
                .unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown field `includeNamespaces`"),
            "{err}"
        );
        let err = serde_json::from_value::<ScheduleSpec>(
            json!({"name": "s", "schedule": "@daily", "template": {"name": "x"}, "pause": true}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `pause`"), "{err}");
    }

    #[test]
    fn ttl_parsing() {
        for (text, secs) in [
            ("720h", 2_592_000),
            ("6h30m", 23_400),
            ("1h0m0s", 3600),
            ("1d", 86_400),
        ] {
            let spec: BackupSpec =
                serde_json::from_value(json!({"name": "b", "ttl": text})).unwrap();
            assert_eq!(spec.ttl.as_secs(), secs, "{text}");
        }
        let err =
            serde_json::from_value::<BackupSpec>(json!({"name": "b", "ttl": "soon"})).unwrap_err();
        assert!(
            err.to_string().contains("invalid duration \"soon\""),
            "{err}"
        );
        assert_eq!(duration_text::format(&Duration::from_secs(5400)), "1h30m0s");
        assert_eq!(duration_text::format(&Duration::from_secs(45)), "45s");
    }

    #[test]
    fn status_and_issue_display() {
        let status = JobStatus {
            phase: JobPhase::PartiallyFailed,
            errors: vec![Issue::about(
                ObjectRef {
                    group: "apps".into(),
                    version: "v1".into(),
                    kind: "Deployment".into(),
                    namespace: Some("shop".into()),
                    name: "web".into(),
                },
                "rejected by the target",
            )],
            start_timestamp: Some("2026-11-24T04:00:00Z".parse().unwrap()),
            ..Default::default()
        };
        let v = serde_json::to_value(&status).unwrap();
        assert_eq!(v["phase"], "PartiallyFailed");
        assert_eq!(v["startTimestamp"], "2026-11-24T04:00:00Z");
        assert_eq!(
            status.errors[0].to_string(),
            "apps/v1 Deployment shop/web: rejected by the target"
        );
        assert_eq!(serde_json::from_value::<JobStatus>(v).unwrap(), status);
        assert!(JobPhase::PartiallyFailed.is_restorable());
        assert!(!JobPhase::Failed.is_restorable());
    }

    #[test]
    fn delete_request_faq_shape() {
        let req: DeleteRequest = serde_json::from_value(json!({
            "name": "reset-convert", "deleteObjectName": "b1", "deleteObjectType": "Convert"
        }))
        .unwrap();
        assert_eq!(req.delete_object_type, DeleteObjectType::Convert);
    }

    proptest::proptest! {
        /// Specs read from arbitrary JSON text are an error or a value, never a panic.
        #[test]
        fn spec_parsing_never_panics(text in "\\PC{0,200}") {
            let _ = serde_json::from_str::<BackupSpec>(&text);
            let _ = serde_json::from_str::<RestoreSpec>(&text);
            let _ = serde_json::from_str::<ScheduleSpec>(&text);
        }

        #[test]
        fn ttl_parsing_never_panics(ttl in "\\PC{0,30}") {
            let _ = serde_json::from_value::<BackupSpec>(json!({"name": "b", "ttl": ttl}));
        }
    }
}
