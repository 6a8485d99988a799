//! What a vault stores about a backup or a restore, and its Velero-compatible JSON.
//!
//! A committed backup is described by `backups/<name>/velero-backup.json`: a `velero.io/v1`
//! `Backup` object that Velero itself can read (its `metadata`, `spec` and `status` are filled
//! the way Velero fills them), with csdr's own record under a top-level `csdr` field. Velero
//! decodes this file leniently and ignores fields it does not know, so the addition is
//! invisible to it. A file written by Velero has no `csdr` field; it is read from Velero's own
//! fields (V4b) and carries no checksums ([`RecordSource::Velero`]).
//!
//! The companions beside it (results, resource list, CSI snapshot lists) are gzip-compressed
//! JSON, exactly as Velero writes them; Velero writes `null` for an empty one and that reads as
//! empty here. Everything in this module is pure: bytes in, values out.
//!
//! ```
//! use csdr_core::model::{BackupSpec, JobPhase, JobStatus};
//! use csdr_core::vault_record::{BackupRecord, RecordSource};
//!
//! let created: jiff::Timestamp = "2026-11-24T04:00:00Z".parse()?;
//! let status = JobStatus { phase: JobPhase::Completed, ..JobStatus::default() };
//! let record = BackupRecord::new(BackupSpec::new("nightly"), status, created);
//! let json = record.to_velero_json()?;
//! let value: serde_json::Value = serde_json::from_slice(&json)?;
//! assert_eq!(value["apiVersion"], "velero.io/v1");
//! assert_eq!(value["status"]["phase"], "Completed");
//! assert_eq!(value["spec"]["ttl"], "720h0m0s");
//!
//! let back = BackupRecord::from_velero_json(&json)?;
//! assert_eq!(back, record);
//! assert_eq!(back.source, RecordSource::Csdr);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

use crate::archive::layout::FORMAT_VERSION;
use crate::gzip::{gunzip, gzip};
use crate::model::{BackupSpec, EntryDigest, Issue, JobPhase, JobStatus, Progress, RestoreSpec};
use crate::object::KubeObject;

pub mod streamed;

pub use streamed::{
    EntryDigestIter, EntryDigestList, EntryDigestsWriter, ResourceListWriter, decode_entry_digests,
    entry_digests_file_name,
};

/// The version of csdr's own `csdr` section of the metadata. Version 2 keeps the entries'
/// digests in the entry-digests file ([`streamed`]) instead of inline; version 1 records,
/// with inline `entries`, are still read.
pub const RECORD_VERSION: u32 = 2;

/// The namespace Velero's Backup objects conventionally live in.
const VELERO_NAMESPACE: &str = "velero";

/// Why a stored record or companion cannot be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {reason}")]
pub struct RecordError {
    /// The file, e.g. `velero-backup.json` or `<name>-results.gz`.
    pub file: String,
    /// What is wrong, naming the field where there is one.
    pub reason: String,
}

impl RecordError {
    fn new(file: &str, reason: impl Into<String>) -> Self {
        RecordError {
            file: file.to_string(),
            reason: reason.into(),
        }
    }
}

/// Who wrote a backup's metadata.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RecordSource {
    /// csdr: checksums and the full spec and status are in the `csdr` field.
    #[default]
    Csdr,
    /// Velero (V4b): no checksums; spec and status are read from Velero's fields.
    Velero,
}

/// Everything a vault keeps about one backup (V4, V7, B9, B10).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupRecord {
    /// What was backed up; `spec.name` is the backup's name.
    pub spec: BackupSpec,
    /// The final status: phase, issues, progress, times and expiry.
    pub status: JobStatus,
    /// When the backup object was created.
    pub created: Timestamp,
    /// The archive format version (`metadata/version` inside the tarball).
    pub format_version: String,
    /// SHA-256 and size of the tarball, `path` being its file name (`<name>.tar.gz`). Filled in
    /// by the vault when the upload is committed; `None` for a Velero-written backup.
    pub archive: Option<EntryDigest>,
    /// SHA-256 and size of each companion file (`<name>-results.gz`, …), by file name. Filled
    /// in by the vault when the upload is committed.
    pub files: Vec<EntryDigest>,
    /// SHA-256 and size of every entry inside the tarball, when the metadata holds them inline
    /// (records of version 1). Records csdr writes now leave this empty and keep the digests
    /// in the entry-digests file, which is listed in `files` ([`streamed`]).
    pub entries: Vec<EntryDigest>,
    /// Objects per type, keyed like the resource list (`apps/v1/Deployment`).
    pub resource_counts: BTreeMap<String, u64>,
    /// The upload attempt whose data this record commits. Filled in by the vault; `None` for a
    /// Velero-written backup.
    pub attempt: Option<String>,
    /// Who wrote the metadata.
    pub source: RecordSource,
    /// How the backup's files (tarball, entry digests, companions) are encrypted (E2), with
    /// the data key wrapped by its key-encryption key; `None` for a plain backup. Filled in by
    /// the vault; the metadata itself stays plain and Velero-readable.
    pub encryption: Option<crate::crypto::EncryptionRecord>,
}

impl BackupRecord {
    /// A csdr record with no digests yet: the engine adds the counts, the vault the archive
    /// and file digests.
    pub fn new(spec: BackupSpec, status: JobStatus, created: Timestamp) -> Self {
        BackupRecord {
            spec,
            status,
            created,
            format_version: FORMAT_VERSION.to_string(),
            archive: None,
            files: Vec::new(),
            entries: Vec::new(),
            resource_counts: BTreeMap::new(),
            attempt: None,
            source: RecordSource::Csdr,
            encryption: None,
        }
    }

    /// The backup's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Whether the backup is shown to clusters and may be restored (V5).
    pub fn is_restorable(&self) -> bool {
        self.status.phase.is_restorable()
    }

    /// Whether the backup's expiry has passed at `now` (B10); a backup without an expiry
    /// never expires.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.status.expiration.is_some_and(|e| e <= now)
    }

    /// The recorded digest of a companion file, by file name.
    pub fn file_digest(&self, file: &str) -> Option<&EntryDigest> {
        self.files.iter().find(|d| d.path == file)
    }

    /// The `velero-backup.json` bytes: a `velero.io/v1` Backup with csdr's record under `csdr`.
    pub fn to_velero_json(&self) -> Result<Vec<u8>, RecordError> {
        let file = "velero-backup.json";
        let spec = &self.spec;
        let mut velero_spec = Map::new();
        let mut put_list = |key: &str, list: &Vec<String>| {
            if !list.is_empty() {
                velero_spec.insert(key.to_string(), json!(list));
            }
        };
        put_list("includedNamespaces", &spec.scope.included_namespaces);
        put_list("excludedNamespaces", &spec.scope.excluded_namespaces);
        put_list("includedResources", &spec.scope.included_resources);
        put_list("excludedResources", &spec.scope.excluded_resources);
        if let Some(include) = spec.scope.include_cluster_resources {
            velero_spec.insert("includeClusterResources".into(), json!(include));
        }
        velero_spec.insert(
            "ttl".into(),
            json!(crate::model::duration_text::format(&spec.ttl)),
        );
        velero_spec.insert("snapshotVolumes".into(), json!(spec.backup_volumes));
        if let Some(location) = &spec.storage_location {
            velero_spec.insert("storageLocation".into(), json!(location));
        }

        let st = &self.status;
        let mut status = Map::new();
        status.insert("version".into(), json!(1));
        status.insert("formatVersion".into(), json!(self.format_version));
        if let Some(t) = st.expiration {
            status.insert("expiration".into(), json!(t));
        }
        status.insert("phase".into(), json!(st.phase.to_string()));
        if let Some(t) = st.start_timestamp {
            status.insert("startTimestamp".into(), json!(t));
        }
        if let Some(t) = st.completion_timestamp {
            status.insert("completionTimestamp".into(), json!(t));
        }
        if let Some(reason) = &st.failure_reason {
            status.insert("failureReason".into(), json!(reason));
        }
        if !st.warnings.is_empty() {
            status.insert("warnings".into(), json!(st.warnings.len()));
        }
        if !st.errors.is_empty() {
            status.insert("errors".into(), json!(st.errors.len()));
        }
        status.insert(
            "progress".into(),
            json!({"totalItems": st.progress.total_items, "itemsBackedUp": st.progress.items_done}),
        );

        let mut labels = Map::new();
        if let Some(location) = &spec.storage_location {
            labels.insert("velero.io/storage-location".into(), json!(location));
        }
        let csdr = CsdrBackupSection {
            record_version: RECORD_VERSION,
            spec: spec.clone(),
            status: st.clone(),
            attempt: self.attempt.clone(),
            encryption: self.encryption.clone(),
            archive: self.archive.clone(),
            files: self.files.clone(),
            entries: self.entries.clone(),
            resource_counts: self.resource_counts.clone(),
        };
        let doc = json!({
            "apiVersion": "velero.io/v1",
            "kind": "Backup",
            "metadata": {
                "name": spec.name,
                "namespace": VELERO_NAMESPACE,
                "creationTimestamp": self.created,
                "labels": labels,
            },
            "spec": velero_spec,
            "status": status,
            "csdr": csdr,
        });
        serde_json::to_vec_pretty(&doc).map_err(|e| RecordError::new(file, e.to_string()))
    }

    /// Reads `velero-backup.json`, written by csdr or by Velero (V4b).
    pub fn from_velero_json(bytes: &[u8]) -> Result<Self, RecordError> {
        let file = "velero-backup.json";
        let doc: VeleroObject = serde_json::from_slice(bytes)
            .map_err(|e| RecordError::new(file, format!("not a Velero Backup object: {e}")))?;
        if doc.api_version != "velero.io/v1" || doc.kind != "Backup" {
            return Err(RecordError::new(
                file,
                format!(
                    "expected apiVersion velero.io/v1 and kind Backup, found {} {}",
                    doc.api_version, doc.kind
                ),
            ));
        }
        let created = doc.metadata.creation_timestamp;
        if let Some(csdr) = doc.csdr {
            let section: CsdrBackupSection = serde_json::from_value(csdr)
                .map_err(|e| RecordError::new(file, format!("field `csdr`: {e}")))?;
            if section.record_version > RECORD_VERSION {
                return Err(RecordError::new(
                    file,
                    format!(
                        "field `csdr.recordVersion` is {}, newer than this csdr reads ({RECORD_VERSION}); upgrade csdr",
                        section.record_version
                    ),
                ));
            }
            let format_version = doc
                .status
                .get("formatVersion")
                .and_then(Value::as_str)
                .unwrap_or(FORMAT_VERSION)
                .to_string();
            return Ok(BackupRecord {
                created: created
                    .or(section.status.start_timestamp)
                    .unwrap_or(Timestamp::UNIX_EPOCH),
                spec: section.spec,
                status: section.status,
                format_version,
                archive: section.archive,
                files: section.files,
                entries: section.entries,
                resource_counts: section.resource_counts,
                attempt: section.attempt,
                source: RecordSource::Csdr,
                encryption: section.encryption,
            });
        }
        let name = doc.metadata.name.ok_or_else(|| {
            RecordError::new(file, "field `metadata.name` is missing".to_string())
        })?;
        let spec = velero_spec(name, &doc.spec).map_err(|reason| RecordError::new(file, reason))?;
        let status = velero_status(&doc.status).map_err(|reason| RecordError::new(file, reason))?;
        let format_version = doc
            .status
            .get("formatVersion")
            .and_then(Value::as_str)
            .unwrap_or(FORMAT_VERSION)
            .to_string();
        Ok(BackupRecord {
            created: created
                .or(status.start_timestamp)
                .unwrap_or(Timestamp::UNIX_EPOCH),
            spec,
            status,
            format_version,
            archive: None,
            files: Vec::new(),
            entries: Vec::new(),
            resource_counts: BTreeMap::new(),
            attempt: None,
            source: RecordSource::Velero,
            encryption: None,
        })
    }
}

/// csdr's part of `velero-backup.json`, under the top-level `csdr` field.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CsdrBackupSection {
    record_version: u32,
    spec: BackupSpec,
    status: JobStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    attempt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    encryption: Option<crate::crypto::EncryptionRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    archive: Option<EntryDigest>,
    #[serde(default)]
    files: Vec<EntryDigest>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    entries: Vec<EntryDigest>,
    #[serde(default)]
    resource_counts: BTreeMap<String, u64>,
}

/// The parts of a Velero API object csdr reads; everything else is ignored, as Velero does.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VeleroObject {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    metadata: VeleroMeta,
    #[serde(default)]
    spec: Map<String, Value>,
    #[serde(default)]
    status: Map<String, Value>,
    #[serde(default)]
    csdr: Option<Value>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VeleroMeta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    creation_timestamp: Option<Timestamp>,
}

fn string_list(map: &Map<String, Value>, key: &str) -> Result<Vec<String>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| format!("field `spec.{key}` is not a list of strings: {e}")),
    }
}

fn velero_spec(name: String, spec: &Map<String, Value>) -> Result<BackupSpec, String> {
    let mut out = BackupSpec::new(name);
    out.scope.included_namespaces = string_list(spec, "includedNamespaces")?;
    out.scope.excluded_namespaces = string_list(spec, "excludedNamespaces")?;
    out.scope.included_resources = string_list(spec, "includedResources")?;
    out.scope.excluded_resources = string_list(spec, "excludedResources")?;
    out.scope.include_cluster_resources =
        spec.get("includeClusterResources").and_then(Value::as_bool);
    out.backup_volumes = spec
        .get("snapshotVolumes")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    out.storage_location = spec
        .get("storageLocation")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(ttl) = spec.get("ttl").and_then(Value::as_str) {
        out.ttl = crate::model::duration_text::parse(ttl)
            .map_err(|e| format!("field `spec.ttl`: {e}"))?;
    }
    if let Some(selector) = spec.get("labelSelector").filter(|v| !v.is_null()) {
        out.scope.label_selector = Some(label_selector_text(selector)?);
    }
    Ok(out)
}

/// Writes a `metav1.LabelSelector` in Kubernetes selector syntax (`app=web,tier in (a,b)`).
fn label_selector_text(selector: &Value) -> Result<String, String> {
    let mut terms = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in labels {
            let v = v.as_str().ok_or_else(|| {
                format!("field `spec.labelSelector.matchLabels.{k}` is not a string")
            })?;
            terms.push(format!("{k}={v}"));
        }
    }
    if let Some(exprs) = selector.get("matchExpressions").and_then(Value::as_array) {
        for (i, e) in exprs.iter().enumerate() {
            let field = |f: &str| format!("field `spec.labelSelector.matchExpressions[{i}].{f}`");
            let key = e
                .get("key")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{} is missing", field("key")))?;
            let values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|vs| vs.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match e.get("operator").and_then(Value::as_str) {
                Some("In") => terms.push(format!("{key} in ({})", values.join(","))),
                Some("NotIn") => terms.push(format!("{key} notin ({})", values.join(","))),
                Some("Exists") => terms.push(key.to_string()),
                Some("DoesNotExist") => terms.push(format!("!{key}")),
                other => {
                    return Err(format!(
                        "{} is {other:?}; expected In, NotIn, Exists or DoesNotExist",
                        field("operator")
                    ));
                }
            }
        }
    }
    Ok(terms.join(","))
}

fn velero_time(status: &Map<String, Value>, key: &str) -> Result<Option<Timestamp>, String> {
    match status.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| format!("field `status.{key}` is not a timestamp: {e}")),
    }
}

/// Maps Velero's backup phases onto csdr's: only Completed and PartiallyFailed are
/// restorable; Velero's intermediate phases (New, InProgress, WaitingForPluginOperations…,
/// Finalizing…, Deleting) are treated as in progress, FailedValidation as Failed.
fn velero_phase(phase: Option<&str>) -> JobPhase {
    match phase {
        Some("Completed") => JobPhase::Completed,
        Some("PartiallyFailed") => JobPhase::PartiallyFailed,
        Some("Failed") | Some("FailedValidation") => JobPhase::Failed,
        _ => JobPhase::InProgress,
    }
}

fn velero_status(status: &Map<String, Value>) -> Result<JobStatus, String> {
    let progress = status.get("progress");
    let count = |key: &str| {
        progress
            .and_then(|p| p.get(key))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    Ok(JobStatus {
        phase: velero_phase(status.get("phase").and_then(Value::as_str)),
        failure_reason: status
            .get("failureReason")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        failure: None,
        errors: Vec::new(),
        warnings: Vec::new(),
        progress: Progress {
            total_items: count("totalItems"),
            items_done: count("itemsBackedUp"),
        },
        start_timestamp: velero_time(status, "startTimestamp")?,
        completion_timestamp: velero_time(status, "completionTimestamp")?,
        expiration: velero_time(status, "expiration")?,
    })
}

/// What a vault keeps about one restore, under `restores/<name>/` (R12).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreRecord {
    /// What was restored; `spec.name` is the restore's name.
    pub spec: RestoreSpec,
    /// The final status.
    pub status: JobStatus,
    /// When the restore was created.
    pub created: Timestamp,
    /// How the record's details are sealed (E2), as the vault read them; `None` for a record
    /// stored in clear. The vault decides when it writes (a vault with a key-encryption key
    /// seals), so a writer leaves this `None`.
    pub encryption: Option<RestoreEncryption>,
}

/// How a restore's record and files are sealed (E2), as read back from the vault.
///
/// A sealed `csdr-restore.json` keeps in clear only what listing needs — the name, the
/// backup's name, the phase, the times, the issue counts and this key's record — and seals
/// the rest (the spec with its namespace and image mappings, the warnings and errors, the
/// failure reason, the progress) under the restore's data key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreEncryption {
    /// The key-encryption key (kind and public id) and the restore's wrapped data key.
    pub record: crate::crypto::EncryptionRecord,
    /// Whether this read opened the sealed details. `false` when the vault has no key, or
    /// another key: the record's `spec` then holds only the name and the backup's name, and
    /// its `status` only the phase and the times.
    pub opened: bool,
}

impl RestoreEncryption {
    /// What a reader without the key is told: the details are encrypted, with which key.
    pub fn sealed_message(&self) -> String {
        format!(
            "the restore's details are encrypted with the {} key {}; pass that key to read them",
            self.record.key_kind, self.record.key_id
        )
    }
}

/// The record version of a sealed restore record (a `csdr` section with `encryption` and
/// `sealed` instead of `spec` and `status`); older csdr versions refuse it by version.
const SEALED_RESTORE_RECORD_VERSION: u32 = 3;

/// What a sealed restore record seals.
#[derive(Serialize, Deserialize)]
struct SealedRestore {
    spec: RestoreSpec,
    status: JobStatus,
}

impl RestoreRecord {
    /// A record of a restore stored in clear (the vault seals it when it has a key).
    pub fn new(spec: RestoreSpec, status: JobStatus, created: Timestamp) -> Self {
        RestoreRecord {
            spec,
            status,
            created,
            encryption: None,
        }
    }

    /// The restore's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The record's JSON: a `velero.io/v1` Restore with csdr's record under `csdr`.
    pub fn to_json(&self) -> Result<Vec<u8>, RecordError> {
        let (velero_spec, status) = self.velero_fields(false);
        let spec = &self.spec;
        let st = &self.status;
        let doc = json!({
            "apiVersion": "velero.io/v1",
            "kind": "Restore",
            "metadata": {"name": spec.name, "namespace": VELERO_NAMESPACE, "creationTimestamp": self.created},
            "spec": velero_spec,
            "status": status,
            "csdr": {"recordVersion": RECORD_VERSION, "spec": spec, "status": st},
        });
        serde_json::to_vec_pretty(&doc)
            .map_err(|e| RecordError::new(RESTORE_RECORD_FILE, e.to_string()))
    }

    /// The record's JSON with its details sealed (E2) under `key`, the restore's data key
    /// that `encryption` wraps, as the file at `label` (`restores/<name>/csdr-restore.json`)
    /// with the random `salt`: only the name, the backup's name, the phase, the times, the
    /// issue counts and `encryption` stay in clear.
    pub fn to_sealed_json(
        &self,
        encryption: &crate::crypto::EncryptionRecord,
        key: &crate::crypto::DataKey,
        salt: [u8; crate::crypto::format::SALT],
        label: &str,
    ) -> Result<Vec<u8>, RecordError> {
        use base64::Engine as _;
        let (velero_spec, status) = self.velero_fields(true);
        let details = serde_json::to_vec(&SealedRestore {
            spec: self.spec.clone(),
            status: self.status.clone(),
        })
        .map_err(|e| RecordError::new(RESTORE_RECORD_FILE, e.to_string()))?;
        let sealed = crate::crypto::seal(key, salt, label, &details)
            .map_err(|e| RecordError::new(RESTORE_RECORD_FILE, e.to_string()))?;
        let doc = json!({
            "apiVersion": "velero.io/v1",
            "kind": "Restore",
            "metadata": {"name": self.spec.name, "namespace": VELERO_NAMESPACE, "creationTimestamp": self.created},
            "spec": velero_spec,
            "status": status,
            "csdr": {
                "recordVersion": SEALED_RESTORE_RECORD_VERSION,
                "encryption": encryption,
                "sealed": base64::engine::general_purpose::STANDARD.encode(sealed),
            },
        });
        serde_json::to_vec_pretty(&doc)
            .map_err(|e| RecordError::new(RESTORE_RECORD_FILE, e.to_string()))
    }

    /// Velero's `spec` and `status` of the record; only what listing needs when `sealed`.
    fn velero_fields(&self, sealed: bool) -> (Map<String, Value>, Map<String, Value>) {
        let spec = &self.spec;
        let st = &self.status;
        let mut velero_spec = Map::new();
        velero_spec.insert("backupName".into(), json!(spec.backup_name));
        let mut status = Map::new();
        status.insert("phase".into(), json!(st.phase.to_string()));
        if let Some(t) = st.start_timestamp {
            status.insert("startTimestamp".into(), json!(t));
        }
        if let Some(t) = st.completion_timestamp {
            status.insert("completionTimestamp".into(), json!(t));
        }
        if !st.warnings.is_empty() {
            status.insert("warnings".into(), json!(st.warnings.len()));
        }
        if !st.errors.is_empty() {
            status.insert("errors".into(), json!(st.errors.len()));
        }
        if sealed {
            return (velero_spec, status);
        }
        if let Some(reason) = &st.failure_reason {
            status.insert("failureReason".into(), json!(reason));
        }
        if !spec.scope.included_namespaces.is_empty() {
            velero_spec.insert(
                "includedNamespaces".into(),
                json!(spec.scope.included_namespaces),
            );
        }
        if !spec.scope.excluded_namespaces.is_empty() {
            velero_spec.insert(
                "excludedNamespaces".into(),
                json!(spec.scope.excluded_namespaces),
            );
        }
        if !spec.namespace_mapping.is_empty() {
            velero_spec.insert("namespaceMapping".into(), json!(spec.namespace_mapping));
        }
        (velero_spec, status)
    }

    /// Reads a record written by [`RestoreRecord::to_json`], or the listing view of one
    /// written by [`RestoreRecord::to_sealed_json`]: its clear fields, with
    /// [`RestoreEncryption::opened`] `false` ([`RestoreRecord::open_sealed_json`] opens it).
    pub fn from_json(bytes: &[u8]) -> Result<Self, RecordError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Section {
            record_version: u32,
            spec: RestoreSpec,
            status: JobStatus,
        }
        let (doc, csdr) = restore_document(bytes)?;
        if let Some(sealed) = sealed_section(&csdr)? {
            return Ok(listing_view(&doc, sealed.encryption));
        }
        let section: Section = serde_json::from_value(csdr)
            .map_err(|e| RecordError::new(RESTORE_RECORD_FILE, format!("field `csdr`: {e}")))?;
        if section.record_version > RECORD_VERSION {
            return Err(newer_version(section.record_version));
        }
        Ok(RestoreRecord {
            created: doc
                .metadata
                .creation_timestamp
                .or(section.status.start_timestamp)
                .unwrap_or(Timestamp::UNIX_EPOCH),
            spec: section.spec,
            status: section.status,
            encryption: None,
        })
    }

    /// Opens a record written by [`RestoreRecord::to_sealed_json`] with the restore's data
    /// key, as the file at `label`. Fails when the sealed details do not authenticate (a
    /// wrong key, a modified, truncated or moved record) or do not match the clear fields (a
    /// modified name, backup, phase or time). A record in clear reads as by
    /// [`RestoreRecord::from_json`].
    pub fn open_sealed_json(
        bytes: &[u8],
        key: &crate::crypto::DataKey,
        label: &str,
    ) -> Result<Self, RecordError> {
        use base64::Engine as _;
        let (doc, csdr) = restore_document(bytes)?;
        let Some(sealed) = sealed_section(&csdr)? else {
            return Self::from_json(bytes);
        };
        let ciphertext = base64::engine::general_purpose::STANDARD
            .decode(sealed.sealed.as_bytes())
            .map_err(|e| {
                RecordError::new(RESTORE_RECORD_FILE, format!("field `csdr.sealed`: {e}"))
            })?;
        let plain = zeroize::Zeroizing::new(
            crate::crypto::open(key, label, &ciphertext)
                .map_err(|e| RecordError::new(RESTORE_RECORD_FILE, e.to_string()))?,
        );
        let details: SealedRestore = serde_json::from_slice(&plain).map_err(|e| {
            RecordError::new(RESTORE_RECORD_FILE, format!("the sealed details: {e}"))
        })?;
        let view = listing_view(&doc, sealed.encryption.clone());
        let st = &details.status;
        let clear = [
            ("metadata.name", view.spec.name == details.spec.name),
            (
                "spec.backupName",
                view.spec.backup_name == details.spec.backup_name,
            ),
            ("status.phase", view.status.phase == st.phase),
            (
                "status.startTimestamp",
                view.status.start_timestamp == st.start_timestamp,
            ),
            (
                "status.completionTimestamp",
                view.status.completion_timestamp == st.completion_timestamp,
            ),
        ];
        if let Some((field, _)) = clear.iter().find(|(_, same)| !same) {
            return Err(RecordError::new(
                RESTORE_RECORD_FILE,
                format!(
                    "the clear field `{field}` does not match the sealed record: the record was modified"
                ),
            ));
        }
        Ok(RestoreRecord {
            spec: details.spec,
            status: details.status,
            created: view.created,
            encryption: Some(RestoreEncryption {
                record: sealed.encryption,
                opened: true,
            }),
        })
    }
}

/// The `csdr` section of a sealed restore record.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SealedSection {
    record_version: u32,
    encryption: crate::crypto::EncryptionRecord,
    sealed: String,
}

/// A restore record's Velero object and its `csdr` section.
fn restore_document(bytes: &[u8]) -> Result<(VeleroObject, Value), RecordError> {
    let mut doc: VeleroObject = serde_json::from_slice(bytes)
        .map_err(|e| RecordError::new(RESTORE_RECORD_FILE, format!("not a Restore object: {e}")))?;
    if doc.api_version != "velero.io/v1" || doc.kind != "Restore" {
        return Err(RecordError::new(
            RESTORE_RECORD_FILE,
            format!(
                "expected apiVersion velero.io/v1 and kind Restore, found {} {}",
                doc.api_version, doc.kind
            ),
        ));
    }
    let csdr = doc
        .csdr
        .take()
        .ok_or_else(|| RecordError::new(RESTORE_RECORD_FILE, "field `csdr` is missing"))?;
    Ok((doc, csdr))
}

/// The section of a sealed record (one with `csdr.sealed`), or `None` for a record in clear.
fn sealed_section(csdr: &Value) -> Result<Option<SealedSection>, RecordError> {
    if csdr.get("sealed").is_none() {
        return Ok(None);
    }
    let section: SealedSection = serde_json::from_value(csdr.clone())
        .map_err(|e| RecordError::new(RESTORE_RECORD_FILE, format!("field `csdr`: {e}")))?;
    if section.record_version > SEALED_RESTORE_RECORD_VERSION {
        return Err(newer_version(section.record_version));
    }
    Ok(Some(section))
}

fn newer_version(version: u32) -> RecordError {
    RecordError::new(
        RESTORE_RECORD_FILE,
        format!(
            "field `csdr.recordVersion` is {version}, newer than this csdr reads ({SEALED_RESTORE_RECORD_VERSION}); upgrade csdr"
        ),
    )
}

/// What a sealed record shows without its key: the clear fields.
fn listing_view(doc: &VeleroObject, encryption: crate::crypto::EncryptionRecord) -> RestoreRecord {
    let name = doc.metadata.name.clone().unwrap_or_default();
    let backup = doc
        .spec
        .get("backupName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let time = |key: &str| {
        doc.status
            .get(key)
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<Timestamp>().ok())
    };
    let status = JobStatus {
        phase: velero_phase(doc.status.get("phase").and_then(Value::as_str)),
        start_timestamp: time("startTimestamp"),
        completion_timestamp: time("completionTimestamp"),
        ..JobStatus::default()
    };
    RestoreRecord {
        created: doc
            .metadata
            .creation_timestamp
            .or(status.start_timestamp)
            .unwrap_or(Timestamp::UNIX_EPOCH),
        spec: RestoreSpec::new(name, backup),
        status,
        encryption: Some(RestoreEncryption {
            record: encryption,
            opened: false,
        }),
    }
}

/// The file name of a restore's record inside `restores/<name>/` (csdr's own; Velero keeps
/// restores in the cluster and stores only their logs and results).
pub const RESTORE_RECORD_FILE: &str = "csdr-restore.json";

/// Messages of one kind (errors or warnings), grouped the way Velero groups them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageGroups {
    /// About the engine itself (storage, reading the backup, …).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub velero: Vec<String>,
    /// About cluster-scoped objects.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub cluster: Vec<String>,
    /// About namespaced objects, by namespace.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub namespaces: BTreeMap<String, Vec<String>>,
}

impl MessageGroups {
    /// Groups issues: by the namespace of their object, cluster-scoped objects under `cluster`,
    /// issues without an object under `velero`. Each message names its object.
    pub fn from_issues(issues: &[Issue]) -> Self {
        let mut out = MessageGroups::default();
        for issue in issues {
            let text = issue.to_string();
            match &issue.object {
                None => out.velero.push(text),
                Some(o) => match &o.namespace {
                    Some(ns) => out.namespaces.entry(ns.clone()).or_default().push(text),
                    None => out.cluster.push(text),
                },
            }
        }
        out
    }

    /// The number of messages.
    pub fn len(&self) -> usize {
        self.velero.len()
            + self.cluster.len()
            + self.namespaces.values().map(Vec::len).sum::<usize>()
    }

    /// Whether there are no messages.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A job's results file (`<name>-results.gz`, `restore-<name>-results.gz`):
/// `{"errors": {…}, "warnings": {…}}` as Velero writes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobResults {
    /// The errors.
    #[serde(default, deserialize_with = "null_as_default")]
    pub errors: MessageGroups,
    /// The warnings.
    #[serde(default, deserialize_with = "null_as_default")]
    pub warnings: MessageGroups,
}

impl JobResults {
    /// The results of a job status.
    pub fn from_status(status: &JobStatus) -> Self {
        JobResults {
            errors: MessageGroups::from_issues(&status.errors),
            warnings: MessageGroups::from_issues(&status.warnings),
        }
    }
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A backup's resource list: `{"apps/v1/Deployment": ["ns/name", …]}`; cluster-scoped
/// objects are listed by name alone.
pub type ResourceList = BTreeMap<String, Vec<String>>;

/// The small files stored beside a backup's tarball (V4).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BackupCompanions {
    /// The backup's log as plain text (stored gzip-compressed as `<name>-logs.gz`).
    pub logs: Vec<u8>,
    /// Errors and warnings (`<name>-results.gz`).
    pub results: JobResults,
    /// The backed-up objects by type (`<name>-resource-list.json.gz`).
    pub resource_list: ResourceList,
    /// CSI VolumeSnapshots taken (`<name>-csi-volumesnapshots.json.gz`).
    pub csi_volume_snapshots: Vec<KubeObject>,
    /// Their VolumeSnapshotContents (`<name>-csi-volumesnapshotcontents.json.gz`).
    pub csi_volume_snapshot_contents: Vec<KubeObject>,
    /// File-system volume backups, as Velero's `PodVolumeBackup` objects
    /// (`<name>-podvolumebackups.json.gz`; absent when the backup has none).
    pub pod_volume_backups: Vec<serde_json::Value>,
}

/// One companion file of a backup: its file name and gzip bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompanionFile {
    /// Which companion.
    pub kind: CompanionKind,
    /// The gzip-compressed content.
    pub gzip: Vec<u8>,
}

/// The kinds of companion files, with Velero's file names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompanionKind {
    /// `<name>-logs.gz`
    Logs,
    /// `<name>-results.gz`
    Results,
    /// `<name>-resource-list.json.gz`
    ResourceList,
    /// `<name>-csi-volumesnapshots.json.gz`
    CsiVolumeSnapshots,
    /// `<name>-csi-volumesnapshotcontents.json.gz`
    CsiVolumeSnapshotContents,
    /// `<name>-podvolumebackups.json.gz`
    PodVolumeBackups,
}

impl CompanionKind {
    /// Every kind, in the order they are written.
    pub const ALL: [CompanionKind; 6] = [
        CompanionKind::Logs,
        CompanionKind::Results,
        CompanionKind::ResourceList,
        CompanionKind::CsiVolumeSnapshots,
        CompanionKind::CsiVolumeSnapshotContents,
        CompanionKind::PodVolumeBackups,
    ];

    /// The companions a restore reads: the volume lists (CSI snapshots and their contents,
    /// file-system volume backups).
    pub const VOLUMES: [CompanionKind; 3] = [
        CompanionKind::CsiVolumeSnapshots,
        CompanionKind::CsiVolumeSnapshotContents,
        CompanionKind::PodVolumeBackups,
    ];

    /// The file name for a backup: `<backup>-logs.gz`, ….
    pub fn file_name(self, backup: &str) -> String {
        let suffix = match self {
            CompanionKind::Logs => "logs.gz",
            CompanionKind::Results => "results.gz",
            CompanionKind::ResourceList => "resource-list.json.gz",
            CompanionKind::CsiVolumeSnapshots => "csi-volumesnapshots.json.gz",
            CompanionKind::CsiVolumeSnapshotContents => "csi-volumesnapshotcontents.json.gz",
            CompanionKind::PodVolumeBackups => "podvolumebackups.json.gz",
        };
        format!("{backup}-{suffix}")
    }
}

/// The log file's name for a restore: `restore-<restore>-logs.gz`.
pub fn restore_logs_file_name(restore: &str) -> String {
    format!("restore-{restore}-logs.gz")
}

/// The tarball's file name for a backup: `<backup>.tar.gz`.
pub fn archive_file_name(backup: &str) -> String {
    format!("{backup}.tar.gz")
}

impl CompanionFile {
    /// The logs companion: plain text, gzip-compressed.
    pub fn logs(plain: &[u8]) -> Self {
        CompanionFile {
            kind: CompanionKind::Logs,
            gzip: gzip(plain),
        }
    }

    /// A JSON companion of backup `backup`: `value` as JSON, gzip-compressed.
    pub fn json<T: Serialize + ?Sized>(
        kind: CompanionKind,
        backup: &str,
        value: &T,
    ) -> Result<Self, RecordError> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| RecordError::new(&kind.file_name(backup), e.to_string()))?;
        Ok(CompanionFile {
            kind,
            gzip: gzip(&bytes),
        })
    }
}

impl BackupCompanions {
    /// Encodes every companion as Velero does (gzip; JSON for all but the logs); the
    /// pod volume backups only when there are some.
    pub fn encode(&self, backup: &str) -> Result<Vec<CompanionFile>, RecordError> {
        let mut files = vec![
            CompanionFile::logs(&self.logs),
            CompanionFile::json(CompanionKind::Results, backup, &self.results)?,
            CompanionFile::json(CompanionKind::ResourceList, backup, &self.resource_list)?,
            CompanionFile::json(
                CompanionKind::CsiVolumeSnapshots,
                backup,
                &self.csi_volume_snapshots,
            )?,
            CompanionFile::json(
                CompanionKind::CsiVolumeSnapshotContents,
                backup,
                &self.csi_volume_snapshot_contents,
            )?,
        ];
        if !self.pod_volume_backups.is_empty() {
            files.push(CompanionFile::json(
                CompanionKind::PodVolumeBackups,
                backup,
                &self.pod_volume_backups,
            )?);
        }
        Ok(files)
    }

    /// Decodes companion files; a missing file (`None`) or a `null` is empty.
    pub fn decode(
        backup: &str,
        mut file: impl FnMut(CompanionKind) -> Option<Vec<u8>>,
    ) -> Result<Self, RecordError> {
        let mut out = BackupCompanions::default();
        for kind in CompanionKind::ALL {
            let Some(gz) = file(kind) else { continue };
            let name = kind.file_name(backup);
            let plain =
                gunzip(&gz).map_err(|e| RecordError::new(&name, format!("not gzip: {e}")))?;
            let parse_err =
                |e: serde_json::Error| RecordError::new(&name, format!("invalid JSON: {e}"));
            match kind {
                CompanionKind::Logs => out.logs = plain,
                CompanionKind::Results => {
                    out.results = serde_json::from_slice::<Option<JobResults>>(&plain)
                        .map_err(parse_err)?
                        .unwrap_or_default()
                }
                CompanionKind::ResourceList => {
                    out.resource_list = serde_json::from_slice::<Option<ResourceList>>(&plain)
                        .map_err(parse_err)?
                        .unwrap_or_default()
                }
                CompanionKind::CsiVolumeSnapshots => {
                    out.csi_volume_snapshots =
                        serde_json::from_slice::<Option<Vec<KubeObject>>>(&plain)
                            .map_err(parse_err)?
                            .unwrap_or_default()
                }
                CompanionKind::CsiVolumeSnapshotContents => {
                    out.csi_volume_snapshot_contents =
                        serde_json::from_slice::<Option<Vec<KubeObject>>>(&plain)
                            .map_err(parse_err)?
                            .unwrap_or_default()
                }
                CompanionKind::PodVolumeBackups => {
                    out.pod_volume_backups =
                        serde_json::from_slice::<Option<Vec<serde_json::Value>>>(&plain)
                            .map_err(parse_err)?
                            .unwrap_or_default()
                }
            }
        }
        Ok(out)
    }
}

/// The small files stored beside a restore's record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoreCompanions {
    /// The restore's log, gzip-compressed as it is stored (`restore-<name>-logs.gz`); empty
    /// for an empty log. The engine compresses its log as it writes it, so a restore of a
    /// million objects never holds its log as text (R13).
    pub logs_gzip: Vec<u8>,
    /// Errors and warnings (`restore-<name>-results.gz`).
    pub results: JobResults,
    /// The restored objects by type (`restore-<name>-resource-list.json.gz`), as
    /// gzip-compressed JSON ([`ResourceListWriter`] writes it as objects are created); empty
    /// for none.
    pub resource_list_gzip: Vec<u8>,
}

impl RestoreCompanions {
    /// The files as Velero names them for a restore, with their gzip bytes.
    pub fn encode(&self, restore: &str) -> Result<Vec<(String, Vec<u8>)>, RecordError> {
        let results = serde_json::to_vec(&self.results)
            .map_err(|e| RecordError::new("restore results", e.to_string()))?;
        Ok(vec![
            (
                restore_logs_file_name(restore),
                if self.logs_gzip.is_empty() {
                    gzip(b"")
                } else {
                    self.logs_gzip.clone()
                },
            ),
            (format!("restore-{restore}-results.gz"), gzip(&results)),
            (
                format!("restore-{restore}-resource-list.json.gz"),
                if self.resource_list_gzip.is_empty() {
                    gzip(b"{}")
                } else {
                    self.resource_list_gzip.clone()
                },
            ),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ObjectRef;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn full_record() -> BackupRecord {
        let mut spec = BackupSpec::new("b1");
        spec.scope.included_namespaces = vec!["shop".into()];
        spec.scope.label_selector = Some("app=web".into());
        spec.storage_location = Some("default".into());
        let status = JobStatus {
            phase: JobPhase::PartiallyFailed,
            errors: vec![Issue::general("one")],
            warnings: vec![Issue::about(
                ObjectRef {
                    kind: "ConfigMap".into(),
                    namespace: Some("shop".into()),
                    name: "c".into(),
                    version: "v1".into(),
                    ..ObjectRef::default()
                },
                "odd",
            )],
            start_timestamp: Some(ts("2026-01-01T00:00:00Z")),
            completion_timestamp: Some(ts("2026-01-01T00:01:00Z")),
            expiration: Some(ts("2026-01-31T00:00:00Z")),
            ..JobStatus::default()
        };
        let mut r = BackupRecord::new(spec, status, ts("2026-01-01T00:00:00Z"));
        r.archive = Some(EntryDigest {
            path: "b1.tar.gz".into(),
            sha256: "ab".repeat(32),
            size: 42,
        });
        r.entries.push(EntryDigest {
            path: "resources/configmaps/namespaces/shop/c.json".into(),
            sha256: "cd".repeat(32),
            size: 7,
        });
        r.resource_counts.insert("v1/ConfigMap".into(), 1);
        r.attempt = Some("a1".into());
        r
    }

    #[test]
    fn csdr_record_round_trips_and_fills_velero_fields() {
        let r = full_record();
        let json = r.to_velero_json().unwrap();
        let v: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["metadata"]["name"], "b1");
        assert_eq!(
            v["metadata"]["labels"]["velero.io/storage-location"],
            "default"
        );
        assert_eq!(v["spec"]["includedNamespaces"], json!(["shop"]));
        assert_eq!(v["status"]["phase"], "PartiallyFailed");
        assert_eq!(v["status"]["formatVersion"], "1.1.0");
        assert_eq!(v["status"]["errors"], 1);
        assert_eq!(v["status"]["warnings"], 1);
        assert_eq!(v["status"]["expiration"], "2026-01-31T00:00:00Z");
        assert_eq!(v["csdr"]["archive"]["size"], 42);
        assert_eq!(BackupRecord::from_velero_json(&json).unwrap(), r);
    }

    #[test]
    fn velero_written_backup_is_read_without_checksums() {
        let velero = json!({
            "kind": "Backup", "apiVersion": "velero.io/v1",
            "metadata": {"name": "nightly-20240101", "namespace": "velero",
                "creationTimestamp": "2024-01-01T00:00:00Z", "uid": "x", "resourceVersion": "1"},
            "spec": {"includedNamespaces": ["shop"], "ttl": "720h0m0s",
                "labelSelector": {"matchLabels": {"app": "web"},
                    "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]},
                                         {"key": "legacy", "operator": "DoesNotExist"}]},
                "hooks": {}, "storageLocation": "default", "csiSnapshotTimeout": "10m0s"},
            "status": {"version": 1, "formatVersion": "1.1.0", "phase": "Completed",
                "expiration": "2024-01-31T00:00:00Z", "startTimestamp": "2024-01-01T00:00:00Z",
                "completionTimestamp": "2024-01-01T00:00:09Z", "warnings": 2,
                "progress": {"totalItems": 10, "itemsBackedUp": 10}}
        });
        let r = BackupRecord::from_velero_json(&serde_json::to_vec(&velero).unwrap()).unwrap();
        assert_eq!(r.source, RecordSource::Velero);
        assert_eq!(r.name(), "nightly-20240101");
        assert!(r.archive.is_none() && r.attempt.is_none());
        assert!(r.is_restorable());
        assert_eq!(
            r.spec.scope.label_selector.as_deref(),
            Some("app=web,tier in (a,b),!legacy")
        );
        assert_eq!(r.status.progress.items_done, 10);
        assert!(r.is_expired(ts("2024-02-01T00:00:00Z")));
        assert!(!r.is_expired(ts("2024-01-02T00:00:00Z")));
    }

    #[test]
    fn velero_intermediate_phases_are_not_restorable() {
        for phase in [
            "New",
            "InProgress",
            "Finalizing",
            "Deleting",
            "FailedValidation",
            "Failed",
        ] {
            let doc = json!({"kind": "Backup", "apiVersion": "velero.io/v1",
                "metadata": {"name": "b"}, "status": {"phase": phase}});
            let r = BackupRecord::from_velero_json(&serde_json::to_vec(&doc).unwrap()).unwrap();
            assert!(!r.is_restorable(), "{phase}");
        }
    }

    #[test]
    fn malformed_metadata_names_the_file_and_field() {
        let err = BackupRecord::from_velero_json(
            b"{\"kind\": \"Restore\", \"apiVersion\": \"velero.io/v1\"}",
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("velero-backup.json: expected"),
            "{err}"
        );
        let doc = json!({"kind": "Backup", "apiVersion": "velero.io/v1", "metadata": {"name": "b"},
            "spec": {"ttl": "forever"}});
        let err = BackupRecord::from_velero_json(&serde_json::to_vec(&doc).unwrap()).unwrap_err();
        assert!(err.to_string().contains("field `spec.ttl`"), "{err}");
        let err = BackupRecord::from_velero_json(b"not json").unwrap_err();
        assert!(
            err.to_string().contains("not a Velero Backup object"),
            "{err}"
        );
    }

    #[test]
    fn companions_round_trip_and_velero_nulls_read_as_empty() {
        let mut c = BackupCompanions {
            logs: b"line 1\nline 2\n".to_vec(),
            results: JobResults::from_status(&full_record().status),
            ..BackupCompanions::default()
        };
        c.resource_list
            .insert("apps/v1/Deployment".into(), vec!["shop/web".into()]);
        c.pod_volume_backups
            .push(json!({"apiVersion": "velero.io/v1", "kind": "PodVolumeBackup"}));
        let files = c.encode("b1").unwrap();
        assert_eq!(files.len(), CompanionKind::ALL.len());
        let back = BackupCompanions::decode("b1", |k| {
            files.iter().find(|f| f.kind == k).map(|f| f.gzip.clone())
        })
        .unwrap();
        assert_eq!(back, c);
        assert_eq!(back.results.errors.velero, vec!["one".to_string()]);
        assert_eq!(back.results.warnings.namespaces["shop"].len(), 1);

        let null = gzip(b"null");
        let empty =
            BackupCompanions::decode("b1", |k| (k != CompanionKind::Logs).then(|| null.clone()))
                .unwrap();
        assert_eq!(empty, BackupCompanions::default());
        let partial = gzip(br#"{"errors": null, "warnings": {"cluster": ["w"]}}"#);
        let r = BackupCompanions::decode("b1", |k| {
            (k == CompanionKind::Results).then(|| partial.clone())
        })
        .unwrap();
        assert_eq!(r.results.warnings.cluster, vec!["w".to_string()]);
        assert!(r.results.errors.is_empty());
    }

    #[test]
    fn companion_names_follow_velero() {
        assert_eq!(
            CompanionKind::ResourceList.file_name("b"),
            "b-resource-list.json.gz"
        );
        assert_eq!(CompanionKind::Logs.file_name("b"), "b-logs.gz");
        assert_eq!(archive_file_name("b"), "b.tar.gz");
        let err = BackupCompanions::decode("b", |k| {
            (k == CompanionKind::Results).then(|| b"xx".to_vec())
        })
        .unwrap_err();
        assert!(
            err.to_string().starts_with("b-results.gz: not gzip"),
            "{err}"
        );
    }

    #[test]
    fn restore_record_round_trips() {
        let r = RestoreRecord {
            spec: RestoreSpec::new("r1", "b1"),
            status: JobStatus {
                phase: JobPhase::Completed,
                ..JobStatus::default()
            },
            created: ts("2026-01-02T00:00:00Z"),
            encryption: None,
        };
        let json = r.to_json().unwrap();
        let v: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["kind"], "Restore");
        assert_eq!(v["spec"]["backupName"], "b1");
        assert_eq!(RestoreRecord::from_json(&json).unwrap(), r);
        let files = RestoreCompanions::default().encode("r1").unwrap();
        assert_eq!(files[1].0, "restore-r1-results.gz");
    }

    #[test]
    fn a_sealed_restore_record_lists_without_its_key_and_opens_only_with_it_at_its_place() {
        use crate::crypto::{DataKey, EncryptionRecord, KeyKind, WrappedKey};
        let mut spec = RestoreSpec::new("r1", "b1");
        spec.namespace_mapping = [("shop".to_string(), "shop-target-9f".to_string())].into();
        let r = RestoreRecord::new(
            spec,
            JobStatus {
                phase: JobPhase::Failed,
                failure_reason: Some("Secret shop-target-9f/db refused".into()),
                start_timestamp: Some(ts("2026-01-02T00:00:00Z")),
                ..JobStatus::default()
            },
            ts("2026-01-02T00:00:00Z"),
        );
        let enc = EncryptionRecord {
            algorithm: EncryptionRecord::ALGORITHM.into(),
            key_kind: KeyKind::Local,
            key_id: "local:k1".into(),
            wrapped_key: WrappedKey(vec![1, 2, 3]),
        };
        let key = DataKey::from_bytes([5; 32]);
        let label = "restores/r1/csdr-restore.json";
        let json = r.to_sealed_json(&enc, &key, [9; 16], label).unwrap();
        assert!(!String::from_utf8_lossy(&json).contains("shop-target-9f"));
        let view = RestoreRecord::from_json(&json).unwrap();
        assert_eq!((view.name(), view.spec.backup_name.as_str()), ("r1", "b1"));
        assert_eq!(view.status.phase, JobPhase::Failed);
        assert_eq!(view.status.failure_reason, None);
        let sealing = view.encryption.unwrap();
        assert!(!sealing.opened);
        assert!(sealing.sealed_message().contains("local:k1"));
        let opened = RestoreRecord::open_sealed_json(&json, &key, label).unwrap();
        assert_eq!(
            RestoreRecord {
                encryption: None,
                ..opened
            },
            r
        );
        let moved = RestoreRecord::open_sealed_json(&json, &key, "restores/r2/csdr-restore.json");
        assert!(moved.unwrap_err().reason.contains("cannot be decrypted"));
        let other = RestoreRecord::open_sealed_json(&json, &DataKey::from_bytes([6; 32]), label);
        assert!(other.is_err());
    }

    #[test]
    fn digests_are_lower_hex_sha256() {
        assert_eq!(
            crate::digest::sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
