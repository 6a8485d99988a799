//! The vault protocol, once, over the [`BlobStore`] port: [`BlobVault`] implements the
//! engine's [`Vault`] port on any store that passes the conformance suite.
//!
//! ## Writing a backup (B7, V4)
//! 1. [`Vault::start_backup`] lists `backups/<name>/` and fails fast if the name is committed,
//!    being uploaded or being deleted; otherwise it writes the attempt's claim
//!    `csdr-attempts/<attempt>/attempt.json` (so others see the upload) and starts a streamed
//!    upload of `csdr-attempts/<attempt>/<name>.tar.gz`. The attempt id is random, so no two
//!    writers ever share a data key, and streamed uploads (which cannot be create-only) never
//!    touch a key anyone else wrote.
//! 2. [`BackupUpload::write`] hashes each chunk (SHA-256, size) and hands it to the upload,
//!    which sends parts while the archive is still being produced.
//!    [`BackupUpload::write_entry_digests`] does the same for the entry-digests file
//!    (`csdr-attempts/<attempt>/<name>-entry-digests.jsonl.gz`, a second upload started on
//!    its first chunk, with at most one part in flight).
//! 3. [`BackupUpload::commit`] completes the uploads, writes the companions under the attempt's
//!    folder, fills in the record's digests and attempt id and writes `velero-backup.json`
//!    with [`BlobStore::put_if_absent`]. That write is the commit point: of several writers
//!    exactly one succeeds; a loser gets `backup already exists in vault` and removes its own
//!    attempt folder only. If the create's outcome is unknown (a timeout), the metadata is
//!    read back to learn whether this attempt won. The store makes data durable before a
//!    call returns, so the metadata is never on disk before the data it commits.
//! 4. The winner then copies its attempt's files to Velero's keys (`<name>.tar.gz`, …) and
//!    removes the attempt folder. Only the winner ever writes those keys. Readers look at
//!    Velero's key first and fall back to the attempt's key the record names, so a crash
//!    between commit and copy leaves a readable backup; [`Vault::remove_orphans`] finishes the
//!    copy later. Every read is verified against the recorded digest (V7).
//!
//! A dropped or killed upload leaves an attempt folder without metadata: invisible (V5), and
//! removed by [`Vault::remove_orphans`] once older than the grace period. Deleting writes a
//! deletion marker first, which hides the backup everywhere, then removes the objects (V6).
//! The vault's identity (name, location, region) is recorded in `csdr-vault.json` (V3), and
//! [`Vault::validate`] probes a real round trip (V2). Keys are laid out as Velero lays them
//! out ([`layout`], V4/V4b).
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use csdr_core::model::{BackupSpec, JobPhase, JobStatus};
//! use csdr_core::ports::vault::Vault;
//! use csdr_core::vault::{BlobVault, MemoryBlobStore, VaultIdentity, VaultOptions};
//! use csdr_core::vault_record::{BackupCompanions, BackupRecord};
//!
//! let store = Arc::new(MemoryBlobStore::new());
//! let vault = BlobVault::open(VaultIdentity::new("local", "memory://"), store, VaultOptions::default()).await?;
//! let mut upload = vault.start_backup("nightly").await?;
//! upload.write(Bytes::from_static(b"tarball")).await?;
//! let status = JobStatus { phase: JobPhase::Completed, ..JobStatus::default() };
//! let record = BackupRecord::new(BackupSpec::new("nightly"), status, "2026-11-24T04:00:00Z".parse()?);
//! upload.commit(record, BackupCompanions::default().encode("nightly")?).await?;
//! assert_eq!(vault.download_archive("nightly").await?.bytes, Bytes::from_static(b"tarball"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

pub mod layout;
mod memory;
mod upload;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub use memory::MemoryBlobStore;
#[cfg(feature = "testing")]
pub use memory::{BlobCall, Fault, FaultHook};

use crate::model::EntryDigest;
use crate::ports::blob_store::{BlobError, BlobMeta, BlobStore};
use crate::ports::vault::{
    BackupUpload, OrphanReport, Vault, VaultError, VaultValidation, VerifiedArchive,
};
use crate::vault_record::{
    BackupCompanions, BackupRecord, CompanionKind, RESTORE_RECORD_FILE, RestoreCompanions,
    RestoreRecord, archive_file_name, decode_entry_digests, entry_digests_file_name, sha256_hex,
};
use layout::BackupKey;
use upload::{AttemptClaim, BlobBackupUpload, StreamedFile};

/// Who a vault is (V3): recorded in `csdr-vault.json` on first use and compared on every
/// open, so one location never serves two vaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultIdentity {
    /// The vault's name.
    pub name: String,
    /// Where it is, as shown in messages and recorded (`s3://bucket/prefix`, `file:///path`).
    pub location: String,
    /// The region, when the location has one; part of the identity.
    pub region: Option<String>,
}

impl VaultIdentity {
    /// An identity without a region.
    pub fn new(name: impl Into<String>, location: impl Into<String>) -> Self {
        VaultIdentity {
            name: name.into(),
            location: location.into(),
            region: None,
        }
    }
}

/// Settings of the protocol (the store's client has its own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultOptions {
    /// Parts of the tarball uploaded at once; [`BackupUpload::write`] waits when this many
    /// are in flight.
    pub parts_in_flight: usize,
}

impl Default for VaultOptions {
    fn default() -> Self {
        VaultOptions { parts_in_flight: 4 }
    }
}

/// Why a vault cannot be opened (V3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VaultOpenError {
    /// The location already holds another vault, or was given another configuration.
    #[error(
        "{location} belongs to vault `{existing}` ({existing_config}), not `{requested}` ({requested_config}); a vault's configuration cannot change: create a new vault with a new name and location"
    )]
    ConfigurationMismatch {
        /// The location.
        location: String,
        /// The stored vault's name.
        existing: String,
        /// The stored configuration.
        existing_config: String,
        /// The name asked for.
        requested: String,
        /// The configuration asked for.
        requested_config: String,
    },
    /// The vault stored at the location was deleted; its name and location are not reused.
    #[error(
        "vault `{name}` at {location} was deleted at {deleted}; a deleted vault's name and location cannot be reused: create a vault with a new name and location"
    )]
    VaultDeleted {
        /// The deleted vault's name.
        name: String,
        /// The location.
        location: String,
        /// When it was deleted.
        deleted: String,
    },
    /// A storage operation failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl From<VaultOpenError> for VaultError {
    fn from(e: VaultOpenError) -> Self {
        match e {
            VaultOpenError::Vault(v) => v,
            other => VaultError::Configuration {
                reason: other.to_string(),
            },
        }
    }
}

/// The vault's identity as stored in `csdr-vault.json` (V3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VaultMarker {
    kind: String,
    version: u32,
    name: String,
    location: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deleted: Option<Timestamp>,
}

impl VaultMarker {
    fn of(id: &VaultIdentity, deleted: Option<Timestamp>) -> Self {
        VaultMarker {
            kind: "CsdrVault".into(),
            version: 1,
            name: id.name.clone(),
            location: id.location.clone(),
            region: id.region.clone(),
            deleted,
        }
    }

    fn describe(&self) -> String {
        match &self.region {
            Some(r) => format!("{} in region {r}", self.location),
            None => self.location.clone(),
        }
    }
}

/// The outcome of a create-only write.
#[derive(Debug, PartialEq, Eq)]
enum Created {
    Yes,
    AlreadyThere,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A random id for attempts and probes (no clock: the store's own times date objects).
fn random_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    for _ in 0..2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u32(std::process::id());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

/// A vault on a [`BlobStore`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct BlobVault {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    identity: VaultIdentity,
    store: Arc<dyn BlobStore>,
    options: VaultOptions,
}

impl BlobVault {
    /// A vault on `store` without any I/O; [`BlobVault::open`] also checks (or records) the
    /// vault's identity.
    pub fn new(identity: VaultIdentity, store: Arc<dyn BlobStore>, options: VaultOptions) -> Self {
        BlobVault {
            inner: Arc::new(Inner {
                identity,
                store,
                options,
            }),
        }
    }

    /// A vault on `store` whose identity is checked (V3): recorded in `csdr-vault.json` if
    /// the store holds no vault yet; an error if it holds another vault or a deleted one.
    pub async fn open(
        identity: VaultIdentity,
        store: Arc<dyn BlobStore>,
        options: VaultOptions,
    ) -> Result<Self, VaultOpenError> {
        let vault = Self::new(identity, store, options);
        vault.inner.check_marker().await?;
        Ok(vault)
    }

    /// The vault's name.
    pub fn name(&self) -> &str {
        &self.inner.identity.name
    }

    /// The vault's identity.
    pub fn identity(&self) -> &VaultIdentity {
        &self.inner.identity
    }

    /// Deletes the vault (V3): leaves a tombstone so that neither this location nor this
    /// vault's identity is used again; backups stay in the bucket for other tools.
    pub async fn delete_vault(&self, now: Timestamp) -> Result<(), VaultError> {
        let tombstone = VaultMarker::of(&self.inner.identity, Some(now));
        let bytes = serde_json::to_vec_pretty(&tombstone).map_err(|e| VaultError::Corrupt {
            key: layout::VAULT_TOMBSTONE.into(),
            reason: e.to_string(),
        })?;
        self.inner
            .put_create(layout::VAULT_TOMBSTONE, bytes.into())
            .await?;
        Ok(())
    }

    /// The first step of [`Vault::delete_backup`] alone: writes the deletion marker, which
    /// hides the backup everywhere at once (V6). For tests of interrupted deletions.
    #[cfg(feature = "testing")]
    pub async fn mark_deleted(&self, name: &str) -> Result<(), VaultError> {
        layout::check_name("backup", name)?;
        self.inner.mark_deleted(name).await
    }

    /// The store under the vault (for tests that place or damage objects).
    #[cfg(feature = "testing")]
    pub fn store(&self) -> &Arc<dyn BlobStore> {
        &self.inner.store
    }
}

/// `location/key` (`memory://key` for a location that is only a scheme).
fn join_location(location: &str, key: &str) -> String {
    if location.ends_with("://") {
        format!("{location}{key}")
    } else {
        format!("{}/{key}", location.trim_end_matches('/'))
    }
}

/// Maps a store error of `operation` on `key` onto the message a user can act on.
pub(crate) fn vault_error(location: &str, operation: &str, key: &str, e: BlobError) -> VaultError {
    let reason = e.chain();
    match e {
        BlobError::BucketNotFound { bucket } => VaultError::BucketNotFound { bucket },
        BlobError::WrongRegion { bucket, source } => VaultError::WrongRegion {
            bucket,
            reason: crate::ports::blob_store::chain(source.as_ref()),
        },
        BlobError::Permission { key, source } => VaultError::AccessDenied {
            location: join_location(location, &key),
            reason: crate::ports::blob_store::chain(source.as_ref()),
        },
        BlobError::Unavailable { endpoint, source } => VaultError::Unreachable {
            endpoint,
            reason: crate::ports::blob_store::chain(source.as_ref()),
        },
        BlobError::InvalidKey { key, reason } => VaultError::InvalidInput {
            what: format!("key {key}"),
            reason,
        },
        BlobError::Other {
            transient, source, ..
        } => VaultError::Storage {
            operation: operation.to_string(),
            key: key.to_string(),
            reason: crate::ports::blob_store::chain(source.as_ref()),
            transient,
        },
        _ => VaultError::Storage {
            operation: operation.to_string(),
            key: key.to_string(),
            reason,
            transient: false,
        },
    }
}

impl Inner {
    fn err(&self, op: &str, key: &str, e: BlobError) -> VaultError {
        vault_error(&self.identity.location, op, key, e)
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, VaultError> {
        match self.store.get(key).await {
            Ok(b) => Ok(Some(b)),
            Err(BlobError::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err("get", key, e)),
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, VaultError> {
        self.store
            .exists(key)
            .await
            .map_err(|e| self.err("head", key, e))
    }

    async fn put(&self, key: &str, bytes: Bytes) -> Result<(), VaultError> {
        self.store
            .put(key, bytes)
            .await
            .map_err(|e| self.err("put", key, e))
    }

    async fn put_create(&self, key: &str, bytes: Bytes) -> Result<Created, VaultError> {
        match self.store.put_if_absent(key, bytes).await {
            Ok(()) => Ok(Created::Yes),
            Err(BlobError::AlreadyExists { .. }) => Ok(Created::AlreadyThere),
            Err(e @ BlobError::Unsupported { .. }) => Err(VaultError::CreateOnlyUnsupported {
                location: self.identity.location.clone(),
                reason: e.chain(),
            }),
            Err(e) => Err(self.err("create", key, e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), VaultError> {
        self.store
            .delete(key)
            .await
            .map_err(|e| self.err("delete", key, e))
    }

    async fn delete_all(&self, keys: Vec<String>) -> Result<(), VaultError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.store
            .delete_many(&keys)
            .await
            .map_err(|e| self.err("delete", &keys.join(", "), e))
    }

    /// Objects under a prefix ("" for everything).
    async fn list(&self, prefix: &str) -> Result<Vec<BlobMeta>, VaultError> {
        self.store
            .list(prefix)
            .try_collect()
            .await
            .map_err(|e| self.err("list", prefix, e))
    }

    async fn check_marker(&self) -> Result<(), VaultOpenError> {
        let wanted = VaultMarker::of(&self.identity, None);
        let parse = |key: &str, bytes: &[u8]| {
            serde_json::from_slice::<VaultMarker>(bytes).map_err(|e| {
                VaultOpenError::Vault(VaultError::Corrupt {
                    key: key.to_string(),
                    reason: format!("not a csdr vault marker: {e}"),
                })
            })
        };
        if let Some(bytes) = self.get(layout::VAULT_TOMBSTONE).await? {
            let t = parse(layout::VAULT_TOMBSTONE, &bytes)?;
            return Err(VaultOpenError::VaultDeleted {
                name: t.name,
                location: t.location,
                deleted: t.deleted.map(|d| d.to_string()).unwrap_or_default(),
            });
        }
        let existing = match self.get(layout::VAULT_MARKER).await? {
            Some(bytes) => parse(layout::VAULT_MARKER, &bytes)?,
            None => {
                let bytes = serde_json::to_vec_pretty(&wanted).map_err(|e| {
                    VaultOpenError::Vault(VaultError::Corrupt {
                        key: layout::VAULT_MARKER.into(),
                        reason: e.to_string(),
                    })
                })?;
                match self.put_create(layout::VAULT_MARKER, bytes.into()).await? {
                    Created::Yes => return Ok(()),
                    Created::AlreadyThere => {
                        let bytes = self.get(layout::VAULT_MARKER).await?.unwrap_or_default();
                        parse(layout::VAULT_MARKER, &bytes)?
                    }
                }
            }
        };
        let region_differs =
            matches!((&existing.region, &wanted.region), (Some(a), Some(b)) if a != b);
        if existing.name != wanted.name || existing.location != wanted.location || region_differs {
            return Err(VaultOpenError::ConfigurationMismatch {
                location: self.identity.location.clone(),
                existing: existing.name.clone(),
                existing_config: existing.describe(),
                requested: wanted.name.clone(),
                requested_config: wanted.describe(),
            });
        }
        Ok(())
    }

    async fn validate(&self) -> Result<(), VaultError> {
        self.check_marker().await.map_err(VaultError::from)?;
        let id = random_id();
        let probe = format!("{}{id}.json", layout::PROBE_PREFIX);
        let body = Bytes::from(format!("{{\"probe\":\"{id}\"}}"));
        self.put(&probe, body.clone()).await?;
        let read = self.get(&probe).await?;
        self.delete(&probe).await?;
        if read.as_ref() != Some(&body) {
            return Err(VaultError::Storage {
                operation: "read back".into(),
                key: probe,
                reason: "the probe object read back differs from what was written".into(),
                transient: false,
            });
        }
        let once = format!("{}{id}-create.json", layout::PROBE_PREFIX);
        let first = self.put_create(&once, body.clone()).await?;
        let second = self.put_create(&once, Bytes::from_static(b"{}")).await;
        let kept = self.get(&once).await;
        self.delete(&once).await?;
        if first != Created::Yes {
            return Err(VaultError::CreateOnlyUnsupported {
                location: self.identity.location.clone(),
                reason: format!("a create-only write of the new key {once} was refused"),
            });
        }
        match second? {
            Created::AlreadyThere if kept?.as_ref() == Some(&body) => Ok(()),
            _ => Err(VaultError::CreateOnlyUnsupported {
                location: self.identity.location.clone(),
                reason: format!(
                    "a second create-only write of {once} overwrote the first (the service ignored If-None-Match: *)"
                ),
            }),
        }
    }

    /// Why a backup name is taken, if it is.
    pub(crate) async fn taken(&self, name: &str) -> Result<Option<String>, VaultError> {
        let objects = self.list(&layout::backup_dir(name)).await?;
        let mut metadata = false;
        let mut attempts: BTreeMap<String, Timestamp> = BTreeMap::new();
        for m in &objects {
            match layout::classify(&m.key) {
                Some((_, BackupKey::DeletionMarker)) => {
                    return Ok(Some("is being deleted".into()));
                }
                Some((_, BackupKey::Metadata)) => metadata = true,
                Some((_, BackupKey::Attempt(id, _))) => {
                    let e = attempts.entry(id).or_insert(m.last_modified);
                    *e = (*e).min(m.last_modified);
                }
                _ => {}
            }
        }
        if metadata {
            let phase = match self.get(&layout::backup_metadata(name)).await? {
                Some(bytes) => match BackupRecord::from_velero_json(&bytes) {
                    Ok(r) => r.status.phase.to_string(),
                    Err(_) => "unreadable metadata".into(),
                },
                None => "just deleted".into(),
            };
            return Ok(Some(format!("is committed ({phase})")));
        }
        if let Some((id, since)) = attempts.iter().next() {
            return Ok(Some(format!(
                "is being uploaded by attempt {id} since {since} (an interrupted upload keeps the name until remove_orphans clears it after the grace period)"
            )));
        }
        Ok(None)
    }

    pub(crate) async fn record(&self, name: &str) -> Result<Option<BackupRecord>, VaultError> {
        let key = layout::backup_metadata(name);
        let Some(bytes) = self.get(&key).await? else {
            return Ok(None);
        };
        let record = BackupRecord::from_velero_json(&bytes).map_err(|e| VaultError::Corrupt {
            key: key.clone(),
            reason: e.reason,
        })?;
        if record.name() != name {
            return Err(VaultError::Corrupt {
                key,
                reason: format!("metadata.name is `{}`, expected `{name}`", record.name()),
            });
        }
        Ok(Some(record))
    }

    /// A backup visible to clusters (V5): metadata, restorable phase, no deletion marker.
    async fn visible(&self, name: &str) -> Result<Option<BackupRecord>, VaultError> {
        layout::check_name("backup", name)?;
        if self.exists(&layout::deletion_marker(name)).await? {
            return Ok(None);
        }
        Ok(self.record(name).await?.filter(BackupRecord::is_restorable))
    }

    async fn visible_or_not_found(&self, name: &str) -> Result<BackupRecord, VaultError> {
        self.visible(name)
            .await?
            .ok_or_else(|| VaultError::NotFound {
                what: format!("backup {name}"),
            })
    }

    /// A backup's file: Velero's key first, then the committing attempt's key.
    async fn backup_file(
        &self,
        record: &BackupRecord,
        file: &str,
    ) -> Result<Option<(String, Bytes)>, VaultError> {
        let name = record.name();
        let canonical = layout::backup_file(name, file);
        if let Some(b) = self.get(&canonical).await? {
            return Ok(Some((canonical, b)));
        }
        if let Some(attempt) = &record.attempt {
            let key = layout::attempt_file(name, attempt, file);
            if let Some(b) = self.get(&key).await? {
                return Ok(Some((key, b)));
            }
        }
        Ok(None)
    }

    /// Checks stored bytes against their recorded size and SHA-256 (V7).
    fn verify(&self, key: &str, bytes: &[u8], digest: &EntryDigest) -> Result<(), VaultError> {
        let size = bytes.len() as u64;
        if size < digest.size {
            return Err(VaultError::Integrity {
                key: self.full_key(key),
                reason: format!("truncated: {size} bytes stored, {} recorded", digest.size),
            });
        }
        if size != digest.size {
            return Err(VaultError::Integrity {
                key: self.full_key(key),
                reason: format!("{size} bytes stored, {} recorded", digest.size),
            });
        }
        let sha = sha256_hex(bytes);
        if sha != digest.sha256 {
            return Err(VaultError::Integrity {
                key: self.full_key(key),
                reason: format!("SHA-256 {sha} differs from the recorded {}", digest.sha256),
            });
        }
        Ok(())
    }

    fn full_key(&self, key: &str) -> String {
        join_location(&self.identity.location, key)
    }

    async fn mark_deleted(&self, name: &str) -> Result<(), VaultError> {
        let body = Bytes::from(format!("{{\"backup\":\"{name}\"}}"));
        // Create-only so that OSS's x-oss-forbid-overwrite never gets in the way; a marker
        // already there is as good as a new one.
        self.put_create(&layout::deletion_marker(name), body)
            .await?;
        Ok(())
    }

    /// Removes a backup's objects: metadata first, the deletion marker last.
    async fn finish_deletion(&self, name: &str) -> Result<Vec<String>, VaultError> {
        self.delete(&layout::backup_metadata(name)).await?;
        let marker = layout::deletion_marker(name);
        let rest: Vec<String> = self
            .list(&layout::backup_dir(name))
            .await?
            .into_iter()
            .map(|m| m.key)
            .filter(|k| *k != marker)
            .collect();
        self.delete_all(rest.clone()).await?;
        self.delete(&marker).await?;
        let mut removed = rest;
        removed.push(marker);
        Ok(removed)
    }

    pub(crate) async fn remove_attempt(
        &self,
        name: &str,
        attempt: &str,
    ) -> Result<Vec<String>, VaultError> {
        let keys: Vec<String> = self
            .list(&layout::attempt_dir(name, attempt))
            .await?
            .into_iter()
            .map(|m| m.key)
            .collect();
        // The claim last, so an interrupted cleanup still shows the attempt.
        let claim = layout::attempt_file(name, attempt, layout::ATTEMPT_CLAIM_FILE);
        let data: Vec<String> = keys.iter().filter(|k| **k != claim).cloned().collect();
        self.delete_all(data).await?;
        self.delete(&claim).await?;
        Ok(keys)
    }

    /// Copies a committed attempt's files to Velero's keys, then removes the attempt folder.
    pub(crate) async fn finish_commit(&self, record: &BackupRecord) -> Result<(), VaultError> {
        let (name, Some(attempt)) = (record.name(), record.attempt.as_deref()) else {
            return Ok(());
        };
        let digests = record.archive.iter().chain(record.files.iter());
        for d in digests {
            let to = layout::backup_file(name, &d.path);
            let present = match self.store.head(&to).await {
                Ok(meta) => meta.size == d.size,
                Err(BlobError::NotFound { .. }) => false,
                Err(e) => return Err(self.err("head", &to, e)),
            };
            if present {
                continue;
            }
            let from = layout::attempt_file(name, attempt, &d.path);
            self.store
                .copy(&from, &to)
                .await
                .map_err(|e| self.err("copy", &from, e))?;
        }
        self.remove_attempt(name, attempt).await?;
        Ok(())
    }
}

#[async_trait]
impl Vault for BlobVault {
    fn location(&self) -> String {
        self.inner.identity.location.clone()
    }

    async fn validate(&self, now: Timestamp) -> VaultValidation {
        match self.inner.validate().await {
            Ok(()) => VaultValidation::available(now),
            Err(e) => VaultValidation::unavailable(&e, now),
        }
    }

    async fn start_backup(&self, name: &str) -> Result<Box<dyn BackupUpload>, VaultError> {
        layout::check_name("backup", name)?;
        let inner = &self.inner;
        if let Some(state) = inner.taken(name).await? {
            return Err(VaultError::AlreadyExists {
                name: name.to_string(),
                state,
            });
        }
        let attempt = random_id();
        let claim = AttemptClaim {
            backup: name.to_string(),
            attempt: attempt.clone(),
        };
        let claim_key = layout::attempt_file(name, &attempt, layout::ATTEMPT_CLAIM_FILE);
        let claim_bytes = serde_json::to_vec(&claim).map_err(|e| VaultError::Corrupt {
            key: claim_key.clone(),
            reason: e.to_string(),
        })?;
        inner.put_create(&claim_key, claim_bytes.into()).await?;
        let archive = StreamedFile::open(
            inner,
            name,
            &attempt,
            archive_file_name(name),
            inner.options.parts_in_flight,
        )
        .await?;
        Ok(Box::new(BlobBackupUpload::new(
            self.inner.clone(),
            name.to_string(),
            attempt,
            archive,
        )))
    }

    async fn list_backups(&self) -> Result<Vec<BackupRecord>, VaultError> {
        let inner = &self.inner;
        let mut names: BTreeMap<String, (bool, bool)> = BTreeMap::new();
        for m in inner.list(layout::BACKUPS).await? {
            if let Some((name, key)) = layout::classify(&m.key) {
                let entry = names.entry(name).or_default();
                match key {
                    BackupKey::Metadata => entry.0 = true,
                    BackupKey::DeletionMarker => entry.1 = true,
                    _ => {}
                }
            }
        }
        let candidates: Vec<String> = names
            .into_iter()
            .filter(|(_, (meta, deleting))| *meta && !*deleting)
            .map(|(n, _)| n)
            .collect();
        let records: Vec<_> = futures::stream::iter(candidates)
            .map(|name| async move { (inner.record(&name).await, name) })
            .buffered(8)
            .collect()
            .await;
        let mut out = Vec::new();
        for (r, name) in records {
            match r {
                Ok(Some(record)) if record.is_restorable() => out.push(record),
                Ok(_) => {}
                // One damaged backup must not hide the others; it is reported and skipped.
                Err(e @ VaultError::Corrupt { .. }) => {
                    tracing::warn!(backup = %name, error = %e, "skipping unreadable backup");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    async fn backup(&self, name: &str) -> Result<Option<BackupRecord>, VaultError> {
        self.inner.visible(name).await
    }

    async fn download_archive(&self, name: &str) -> Result<VerifiedArchive, VaultError> {
        let inner = &self.inner;
        let record = inner.visible_or_not_found(name).await?;
        let file = archive_file_name(name);
        let Some((key, bytes)) = inner.backup_file(&record, &file).await? else {
            return Err(VaultError::Integrity {
                key: inner.full_key(&layout::backup_file(name, &file)),
                reason: "the tarball is missing".into(),
            });
        };
        let Some(digest) = &record.archive else {
            return Ok(VerifiedArchive {
                bytes,
                entry_digests: None,
                warning: Some(format!(
                    "backup {name} has no checksums (written by Velero); {} was not verified",
                    inner.full_key(&key)
                )),
            });
        };
        inner.verify(&key, &bytes, digest)?;
        let digests_file = entry_digests_file_name(name);
        let entry_digests = match record.file_digest(&digests_file) {
            Some(d) => {
                let Some((key, gz)) = inner.backup_file(&record, &digests_file).await? else {
                    return Err(VaultError::Integrity {
                        key: inner.full_key(&layout::backup_file(name, &digests_file)),
                        reason: "the entry-digests file is missing".into(),
                    });
                };
                inner.verify(&key, &gz, d)?;
                Some(
                    decode_entry_digests(name, &gz).map_err(|e| VaultError::Corrupt {
                        key: inner.full_key(&key),
                        reason: e.reason,
                    })?,
                )
            }
            // A record of version 1 holds the digests inline.
            None => (!record.entries.is_empty()).then(|| record.entries.clone()),
        };
        Ok(VerifiedArchive {
            bytes,
            entry_digests,
            warning: None,
        })
    }

    async fn backup_companions(&self, name: &str) -> Result<BackupCompanions, VaultError> {
        let inner = &self.inner;
        let record = inner.visible_or_not_found(name).await?;
        let mut files = BTreeMap::new();
        for kind in CompanionKind::ALL {
            let file = kind.file_name(name);
            if let Some((key, bytes)) = inner.backup_file(&record, &file).await? {
                if let Some(d) = record.file_digest(&file) {
                    inner.verify(&key, &bytes, d)?;
                }
                files.insert(file, bytes);
            } else if let Some(d) = record.file_digest(&file) {
                return Err(VaultError::Integrity {
                    key: inner.full_key(&layout::backup_file(name, &d.path)),
                    reason: "the file is missing".into(),
                });
            }
        }
        BackupCompanions::decode(name, |kind| {
            files.get(&kind.file_name(name)).map(|b| b.to_vec())
        })
        .map_err(|e| VaultError::Corrupt {
            key: inner.full_key(&layout::backup_file(name, &e.file)),
            reason: e.reason,
        })
    }

    async fn put_restore(
        &self,
        record: &RestoreRecord,
        companions: &RestoreCompanions,
    ) -> Result<(), VaultError> {
        let inner = &self.inner;
        let name = record.name();
        layout::check_name("restore", name)?;
        let bytes = record.to_json()?;
        let key = layout::restore_file(name, RESTORE_RECORD_FILE);
        if inner.put_create(&key, bytes.into()).await? == Created::AlreadyThere {
            return Err(VaultError::RestoreAlreadyExists {
                name: name.to_string(),
            });
        }
        for (file, gz) in companions.encode(name)? {
            inner
                .put(&layout::restore_file(name, &file), gz.into())
                .await?;
        }
        Ok(())
    }

    async fn restore(&self, name: &str) -> Result<Option<RestoreRecord>, VaultError> {
        layout::check_name("restore", name)?;
        let key = layout::restore_file(name, RESTORE_RECORD_FILE);
        match self.inner.get(&key).await? {
            None => Ok(None),
            Some(bytes) => {
                RestoreRecord::from_json(&bytes)
                    .map(Some)
                    .map_err(|e| VaultError::Corrupt {
                        key,
                        reason: e.reason,
                    })
            }
        }
    }

    async fn delete_backup(&self, name: &str) -> Result<(), VaultError> {
        layout::check_name("backup", name)?;
        let inner = &self.inner;
        if inner.list(&layout::backup_dir(name)).await?.is_empty() {
            return Ok(());
        }
        inner.mark_deleted(name).await?;
        inner.finish_deletion(name).await?;
        Ok(())
    }

    async fn remove_orphans(
        &self,
        now: Timestamp,
        grace: Duration,
    ) -> Result<OrphanReport, VaultError> {
        let inner = &self.inner;
        let grace = jiff::SignedDuration::try_from(grace).unwrap_or(jiff::SignedDuration::MAX);
        let cutoff = now.checked_sub(grace).unwrap_or(Timestamp::MIN);
        let mut report = OrphanReport::default();

        #[derive(Default)]
        struct Group {
            metadata: bool,
            deleting: bool,
            /// attempt id → (newest object time, keys)
            attempts: BTreeMap<String, (Timestamp, Vec<String>)>,
            /// files at Velero's keys → time
            files: Vec<(String, Timestamp)>,
        }
        let mut groups: BTreeMap<String, Group> = BTreeMap::new();
        for m in inner.list(layout::BACKUPS).await? {
            let Some((name, key)) = layout::classify(&m.key) else {
                continue;
            };
            let g = groups.entry(name).or_default();
            let t = m.last_modified;
            match key {
                BackupKey::Metadata => g.metadata = true,
                BackupKey::DeletionMarker => g.deleting = true,
                BackupKey::Attempt(id, _) => {
                    let e = g.attempts.entry(id).or_insert((t, Vec::new()));
                    e.0 = e.0.max(t);
                    e.1.push(m.key);
                }
                BackupKey::File(_) => g.files.push((m.key, t)),
            }
        }
        for (name, g) in groups {
            if g.deleting {
                report.removed.extend(inner.finish_deletion(&name).await?);
                report.finished_deletions.push(name);
                continue;
            }
            if !g.metadata {
                // Never committed: everything old enough goes.
                for (id, (newest, _)) in &g.attempts {
                    if *newest <= cutoff {
                        report
                            .removed
                            .extend(inner.remove_attempt(&name, id).await?);
                    }
                }
                let old: Vec<String> = g
                    .files
                    .iter()
                    .filter(|(_, t)| *t <= cutoff)
                    .map(|(k, _)| k.clone())
                    .collect();
                inner.delete_all(old.clone()).await?;
                report.removed.extend(old);
                continue;
            }
            let record = match inner.record(&name).await {
                Ok(Some(r)) => r,
                // Unreadable or vanished metadata: touch nothing of a committed backup.
                Ok(None) | Err(VaultError::Corrupt { .. }) => continue,
                Err(e) => return Err(e),
            };
            for (id, (newest, _)) in &g.attempts {
                if *newest > cutoff {
                    continue;
                }
                if record.attempt.as_deref() == Some(id.as_str()) {
                    inner.finish_commit(&record).await?;
                    report.finished_commits.push(name.clone());
                } else {
                    report
                        .removed
                        .extend(inner.remove_attempt(&name, id).await?);
                }
            }
        }
        // Probes of validations that were interrupted (top-level files only).
        for m in inner.list(layout::PROBE_PREFIX).await? {
            if !m.key.contains('/') && m.last_modified <= cutoff {
                inner.delete(&m.key).await?;
                report.removed.push(m.key);
            }
        }
        Ok(report)
    }
}
