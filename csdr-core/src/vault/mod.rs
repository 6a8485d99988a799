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
//! With [`BlobVault::with_encryption`] (E2) every backup gets a fresh data key, wrapped by the
//! key-encryption key into the record; the tarball and the entry-digests file are sealed as
//! they stream, the companions and a restore's files as they are stored, each under the label
//! of its Velero key, and `velero-backup.json` stays plain. A restore's record
//! (`csdr-restore.json`) keeps in clear only what listing needs and seals the rest; read
//! without its key it gives that listing view ([`RestoreEncryption`]). Digests (V7) cover
//! what is stored.
//!
//! [`RestoreEncryption`]: crate::vault_record::RestoreEncryption
//!
//! One file per step: `identity.rs` (V2, V3), `upload.rs` (B7), `read.rs` (V5, V7), `crypt.rs` (E2),
//! `cleanup.rs` (V6, B10), `layout.rs` (V4), and `memory.rs`, the in-memory store.
//!
//! ```
//! # futures::executor::block_on(async {
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

mod cleanup;
mod crypt;
mod identity;
pub mod layout;
mod memory;
mod read;
mod upload;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use jiff::Timestamp;

pub use crypt::RandomSource;
pub use identity::{VaultIdentity, VaultOpenError};
pub use memory::MemoryBlobStore;
#[cfg(feature = "testing")]
pub use memory::{BlobCall, Fault, FaultHook};

use crate::ports::blob_store::{BlobError, BlobMeta, BlobStore};
use crate::ports::vault::{
    BackupUpload, OrphanReport, Vault, VaultError, VaultValidation, VerifiedArchive,
};
use crate::vault_record::{
    BackupCompanions, BackupRecord, CompanionKind, RESTORE_RECORD_FILE, RestoreCompanions,
    RestoreRecord, archive_file_name, restore_logs_file_name,
};
use layout::BackupKey;
use upload::{AttemptClaim, BlobBackupUpload, StreamedFile};

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

/// What every step of the protocol shares: the identity, the store and the settings.
#[derive(Debug)]
pub(crate) struct Inner {
    identity: VaultIdentity,
    store: Arc<dyn BlobStore>,
    options: VaultOptions,
    /// Client-side encryption (E2), when configured.
    encryption: Option<crypt::Encryption>,
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
                encryption: None,
            }),
        }
    }

    /// This vault with client-side envelope encryption (E2): every new backup gets a fresh
    /// data key from `random`, wrapped by `kek` into its record; its tarball, entry-digests
    /// file and companions are sealed as they are streamed, while `velero-backup.json` stays
    /// plain and names the key. Reads of an encrypted backup unwrap its data key with `kek`
    /// (a backup wrapped by another key fails with [`VaultError::Encryption`] naming the key
    /// it needs); plain backups read as before.
    pub fn with_encryption(
        self,
        kek: Arc<dyn crate::crypto::KeyEncryptionKey>,
        random: RandomSource,
    ) -> Self {
        let inner = &self.inner;
        BlobVault {
            inner: Arc::new(Inner {
                identity: inner.identity.clone(),
                store: inner.store.clone(),
                options: inner.options.clone(),
                encryption: Some(crypt::Encryption { kek, random }),
            }),
        }
    }

    /// The key-encryption key new backups are wrapped by, when the vault encrypts: its kind
    /// and public id (never key material).
    pub fn encryption_key(&self) -> Option<(crate::crypto::KeyKind, String)> {
        self.inner
            .encryption
            .as_ref()
            .map(|e| (e.kek.kind(), e.kek.key_id()))
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

/// The service's reason when a store error is a refusal by the KMS key of the bucket's
/// server-side encryption (AWS `KMS.*`/`kms:` errors, OSS `Kms*` codes), not a plain denial.
fn kms_refusal(e: &BlobError) -> Option<String> {
    let reason = match e {
        BlobError::Permission { source, .. } | BlobError::Other { source, .. } => {
            crate::ports::blob_store::chain(source.as_ref())
        }
        _ => return None,
    };
    let lower = reason.to_ascii_lowercase();
    // Tokens a KMS refusal carries (`KMS.DisabledException`, `perform: kms:GenerateDataKey`,
    // OSS's `KmsServiceNotEnabled`), not a mere `kms` in a key or bucket name.
    [
        "kms.",
        "kms:",
        "kmsservice",
        "kmskey",
        "kms key",
        "kms access",
    ]
    .iter()
    .any(|token| lower.contains(token))
    .then_some(reason)
}

/// Maps a store error of `operation` on `key` onto the message a user can act on.
pub(crate) fn vault_error(location: &str, operation: &str, key: &str, e: BlobError) -> VaultError {
    use crate::ports::blob_store::chain;
    // The fields are read first; the store's error then becomes the vault error's source.
    if let Some(reason) = kms_refusal(&e) {
        return VaultError::KmsAccessDenied {
            location: join_location(location, key),
            reason,
            source: Some(Box::new(e)),
        };
    }
    match &e {
        BlobError::BucketNotFound { bucket } => VaultError::BucketNotFound {
            bucket: bucket.clone(),
        },
        BlobError::WrongRegion { bucket, source } => {
            let (bucket, reason) = (bucket.clone(), chain(source.as_ref()));
            VaultError::WrongRegion {
                bucket,
                reason,
                source: Some(Box::new(e)),
            }
        }
        BlobError::Permission { key, source } => {
            let (location, reason) = (join_location(location, key), chain(source.as_ref()));
            VaultError::AccessDenied {
                location,
                reason,
                source: Some(Box::new(e)),
            }
        }
        BlobError::Unavailable { endpoint, source } => {
            let (endpoint, reason) = (endpoint.clone(), chain(source.as_ref()));
            VaultError::Unreachable {
                endpoint,
                reason,
                source: Some(Box::new(e)),
            }
        }
        BlobError::InvalidKey { key, reason } => VaultError::InvalidInput {
            what: format!("key {key}"),
            reason: reason.clone(),
        },
        BlobError::Other {
            transient, source, ..
        } => {
            let (transient, reason) = (*transient, chain(source.as_ref()));
            VaultError::Storage {
                operation: operation.to_string(),
                key: key.to_string(),
                reason,
                transient,
                source: Some(Box::new(e)),
            }
        }
        _ => VaultError::Storage {
            operation: operation.to_string(),
            key: key.to_string(),
            reason: e.chain(),
            transient: false,
            source: Some(Box::new(e)),
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
        let encryption = inner.new_data_key(&format!("backup {name}")).await?;
        inner.put_create(&claim_key, claim_bytes.into()).await?;
        let archive = StreamedFile::open(
            inner,
            name,
            &attempt,
            archive_file_name(name),
            inner.options.parts_in_flight,
            encryption.as_ref().map(|(key, _)| key),
        )
        .await?;
        Ok(Box::new(BlobBackupUpload::new(
            self.inner.clone(),
            name.to_string(),
            attempt,
            archive,
            encryption,
        )))
    }

    async fn list_backups(&self) -> Result<Vec<BackupRecord>, VaultError> {
        self.inner.list_backups().await
    }

    async fn backup(&self, name: &str) -> Result<Option<BackupRecord>, VaultError> {
        self.inner.visible(name).await
    }

    async fn list_records(&self) -> Result<Vec<BackupRecord>, VaultError> {
        self.inner.list_committed(false).await
    }

    async fn backup_record(&self, name: &str) -> Result<Option<BackupRecord>, VaultError> {
        self.inner.committed(name).await
    }

    async fn backup_logs(&self, name: &str) -> Result<Vec<u8>, VaultError> {
        self.inner.backup_logs(name).await
    }

    async fn restore_logs(&self, name: &str) -> Result<Vec<u8>, VaultError> {
        layout::check_name("restore", name)?;
        if self
            .inner
            .get(&layout::restore_file(name, RESTORE_RECORD_FILE))
            .await?
            .is_none()
        {
            return Err(VaultError::NotFound {
                what: format!("restore {name}"),
            });
        }
        let key = layout::restore_file(name, &restore_logs_file_name(name));
        let data_key = self.inner.restore_data_key(name).await?;
        match self.inner.get(&key).await? {
            None => Ok(Vec::new()),
            Some(gz) => {
                crate::gzip::gunzip(&self.inner.open_file(data_key.as_ref(), &key, &key, gz)?)
                    .map_err(|e| VaultError::Corrupt {
                        key: self.inner.full_key(&key),
                        reason: format!("not gzip: {e}"),
                    })
            }
        }
    }

    async fn download_archive(&self, name: &str) -> Result<VerifiedArchive, VaultError> {
        self.inner.download_archive(name).await
    }

    async fn archive_stream(
        &self,
        name: &str,
    ) -> Result<crate::ports::vault::ArchiveStream, VaultError> {
        self.inner.archive_stream(name).await
    }

    async fn backup_companions(&self, name: &str) -> Result<BackupCompanions, VaultError> {
        self.inner
            .backup_companions(name, &CompanionKind::ALL)
            .await
    }

    async fn backup_companions_of(
        &self,
        name: &str,
        kinds: &[CompanionKind],
    ) -> Result<BackupCompanions, VaultError> {
        self.inner.backup_companions(name, kinds).await
    }

    async fn put_restore(
        &self,
        record: &RestoreRecord,
        companions: &RestoreCompanions,
    ) -> Result<(), VaultError> {
        let inner = &self.inner;
        let name = record.name();
        layout::check_name("restore", name)?;
        // With a key-encryption key, the restore's record and files are sealed under a fresh
        // data key, recorded beside them (E2); the record keeps in clear only what listing
        // needs, as a backup's metadata does.
        let sealing = inner.new_data_key(&format!("restore {name}")).await?;
        let key = layout::restore_file(name, RESTORE_RECORD_FILE);
        let bytes = match &sealing {
            None => record.to_json()?,
            Some((data_key, enc)) => record.to_sealed_json(enc, data_key, inner.salt(), &key)?,
        };
        if inner.put_create(&key, bytes.into()).await? == Created::AlreadyThere {
            return Err(VaultError::RestoreAlreadyExists {
                name: name.to_string(),
            });
        }
        if let Some((_, enc)) = &sealing {
            let key = layout::restore_file(name, layout::RESTORE_ENCRYPTION_FILE);
            let json = serde_json::to_vec_pretty(enc).map_err(|e| VaultError::Corrupt {
                key: key.clone(),
                reason: e.to_string(),
            })?;
            inner.put(&key, json.into()).await?;
        }
        for (file, gz) in companions.encode(name)? {
            let key = layout::restore_file(name, &file);
            let stored = match &sealing {
                None => gz,
                Some((data_key, _)) => crate::crypto::seal(data_key, inner.salt(), &key, &gz)
                    .map_err(|e| crypt::key_error(&format!("restore {name}"), e))?,
            };
            inner.put(&key, stored.into()).await?;
        }
        Ok(())
    }

    async fn restore(&self, name: &str) -> Result<Option<RestoreRecord>, VaultError> {
        layout::check_name("restore", name)?;
        let key = layout::restore_file(name, RESTORE_RECORD_FILE);
        match self.inner.get(&key).await? {
            None => Ok(None),
            Some(bytes) => self
                .inner
                .read_restore_record(name, &key, &bytes)
                .await
                .map(Some),
        }
    }

    async fn delete_restore(&self, name: &str) -> Result<(), VaultError> {
        self.inner.delete_restore(name).await
    }

    async fn delete_backup(&self, name: &str) -> Result<(), VaultError> {
        self.inner.delete_backup(name).await
    }

    async fn remove_orphans(
        &self,
        now: Timestamp,
        grace: Duration,
    ) -> Result<OrphanReport, VaultError> {
        self.inner.remove_orphans(now, grace).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied(text: &str) -> BlobError {
        BlobError::Permission {
            key: "backups/b1/b1.tar.gz".into(),
            source: Box::new(std::io::Error::other(text.to_string())),
        }
    }

    #[test]
    fn a_kms_refusal_names_the_permissions_the_key_needs() {
        for answer in [
            "AccessDenied: User: arn:aws:iam::1:user/csdr is not authorized to perform: kms:GenerateDataKey on resource: arn:aws:kms:us-east-1:1:key/k1",
            "KMS.DisabledException: arn:aws:kms:us-east-1:1:key/k1 is disabled.",
            "KmsServiceNotEnabled: the KMS service is not enabled",
        ] {
            let err = vault_error(
                "s3://bkt/csdr",
                "put",
                "backups/b1/b1.tar.gz",
                denied(answer),
            );
            assert!(
                matches!(&err, VaultError::KmsAccessDenied { location, .. } if location == "s3://bkt/csdr/backups/b1/b1.tar.gz"),
                "{err:?}"
            );
            let text = err.to_string();
            for needed in [
                "check backup files in the bucket failed",
                "kms:List*",
                "kms:DescribeKey",
                "kms:GenerateDataKey",
                "kms:Decrypt",
            ] {
                assert!(text.contains(needed), "{needed} missing: {text}");
            }
        }
        // A plain denial, even of a key whose name says kms, stays a plain denial.
        let err = vault_error(
            "s3://bkt/csdr",
            "put",
            "backups/kms-demo/kms-demo.tar.gz",
            denied("AccessDenied: Access Denied for backups/kms-demo/kms-demo.tar.gz"),
        );
        assert!(matches!(err, VaultError::AccessDenied { .. }), "{err:?}");
    }
}
