//! The `Vault` port: where backups are stored, read back, verified and deleted (V1–V7, B7, B10).
//!
//! The engine writes a backup in three steps: [`Vault::start_backup`] claims nothing yet but
//! fails fast if the name is taken; [`BackupUpload::write`] streams the tarball, and
//! [`BackupUpload::write_entry_digests`] the entry-digests file, in chunks while they are being
//! produced (to storage keys private to this attempt); [`BackupUpload::commit`] stores the
//! small companion files and then the metadata, last and create-only. The metadata
//! object is the commit point: until it exists the backup is invisible, and of several
//! writers of one name exactly one commits — the others get
//! [`VaultError::AlreadyExists`] and only their own attempt's data is removed.
//!
//! Reading verifies: [`Vault::download_archive`] returns the tarball, and the digests of its
//! entries, only after their SHA-256 and size match the metadata (V7). Deleting writes a deletion marker first (the backup is then
//! invisible everywhere), then removes the objects (V6).
//!
//! ```
//! use csdr_core::ports::vault::{VaultError, VaultPhase, VaultValidation};
//!
//! let err = VaultError::AlreadyExists { name: "nightly".into(), state: "is committed (Completed)".into() };
//! assert_eq!(
//!     err.to_string(),
//!     "VaultError: backup already exists in vault: nightly is committed (Completed); choose another name"
//! );
//! let v = VaultValidation::unavailable(&err, "2026-11-24T04:00:00Z".parse()?);
//! assert_eq!(v.phase, VaultPhase::Unavailable);
//! assert!(v.message.starts_with("VaultError: "));
//! # Ok::<(), jiff::Error>(())
//! ```

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use jiff::Timestamp;

use crate::ports::blob_store::BlobError;
use crate::vault_record::{
    BackupCompanions, BackupRecord, CompanionFile, CompanionKind, EntryDigestList,
    RestoreCompanions, RestoreRecord,
};

/// Whether a vault can be used (V2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum VaultPhase {
    /// A full round trip (write, read, delete, create-only) worked.
    Available,
    /// Something failed; the message says what. Backups and restores refuse to start.
    #[default]
    Unavailable,
}

/// The result of validating a vault (V2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultValidation {
    /// Available or not.
    pub phase: VaultPhase,
    /// `ok` or the `VaultError: …` message of the step that failed.
    pub message: String,
    /// When the validation ran.
    pub last_validated: Timestamp,
}

impl VaultValidation {
    /// A successful validation.
    pub fn available(now: Timestamp) -> Self {
        VaultValidation {
            phase: VaultPhase::Available,
            message: "ok".into(),
            last_validated: now,
        }
    }

    /// A failed validation with the error's message.
    pub fn unavailable(error: &VaultError, now: Timestamp) -> Self {
        VaultValidation {
            phase: VaultPhase::Unavailable,
            message: error.to_string(),
            last_validated: now,
        }
    }

    /// `Ok(())` when available, else the message as a [`VaultError::Unavailable`] — what a
    /// backup or restore reports when it refuses to start (V2).
    pub fn require_available(&self) -> Result<(), VaultError> {
        match self.phase {
            VaultPhase::Available => Ok(()),
            VaultPhase::Unavailable => Err(VaultError::Unavailable {
                message: self
                    .message
                    .strip_prefix("VaultError: ")
                    .unwrap_or(&self.message)
                    .to_string(),
            }),
        }
    }
}

/// A verified tarball (V7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedArchive {
    /// The tarball's bytes, checked against the recorded SHA-256 and size.
    pub bytes: Bytes,
    /// The digest of every entry of the tarball, in archive order, from the entry-digests file
    /// (itself checked against the metadata) or from a version-1 record; `None` when the
    /// backup records none (written by Velero, V4b). The engine checks each entry against it,
    /// decoding the digests as it reads the archive.
    pub entry_digests: Option<EntryDigestList>,
    /// Set when the bytes could not be checked because the backup has no checksums (written
    /// by Velero, V4b); the engine reports it as a warning.
    pub warning: Option<String>,
}

/// A backup's tarball as a stream of chunks, verified as it passes (V7, R13).
pub struct ArchiveStream {
    /// The tarball's bytes in order, in chunks of bounded size (ranged reads). The tarball's
    /// size and SHA-256 are checked against the metadata as the chunks pass: a mismatch or a
    /// truncation is a [`VaultError::Integrity`] naming the key, as the stream's last item —
    /// so nothing read from it may be acted on before the stream has ended without error.
    pub chunks: futures::stream::BoxStream<'static, Result<Bytes, VaultError>>,
    /// As [`VerifiedArchive::entry_digests`].
    pub entry_digests: Option<EntryDigestList>,
    /// As [`VerifiedArchive::warning`].
    pub warning: Option<String>,
}

impl std::fmt::Debug for ArchiveStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveStream")
            .field("entry_digests", &self.entry_digests)
            .field("warning", &self.warning)
            .finish_non_exhaustive()
    }
}

/// What [`Vault::remove_orphans`] did (B10).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrphanReport {
    /// Keys removed: uncommitted attempts' data, losers' leftovers, the objects of finished
    /// deletions.
    pub removed: Vec<String>,
    /// Committed backups whose copy to Velero's canonical keys was completed.
    pub finished_commits: Vec<String>,
    /// Deletions finished.
    pub finished_deletions: Vec<String>,
}

/// Why a vault operation failed. Every message starts with `VaultError: ` and says what to do.
/// A failure of the store keeps the store's [`BlobError`] as its `source()`, so the whole
/// chain reaches a job's record (its causes).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The bucket does not exist.
    #[error("VaultError: bucket {bucket} does not exist; create it or correct the vault's URL")]
    BucketNotFound {
        /// The bucket.
        bucket: String,
    },
    /// The credentials may not do this.
    #[error(
        "VaultError: access denied to {location}: {reason}; check the credentials and the bucket's policy"
    )]
    AccessDenied {
        /// `s3://bucket/prefix/key` or the path.
        location: String,
        /// The server's reason.
        reason: String,
        /// The store's error.
        #[source]
        source: Option<Box<BlobError>>,
    },
    /// The KMS key the bucket's server-side encryption uses refused the request (E1).
    #[error(
        "VaultError: check backup files in the bucket failed: the KMS key of its server-side encryption refused access to {location}: {reason}; the vault's credentials need kms:List*, kms:DescribeKey, kms:GenerateDataKey and kms:Decrypt on the key (a key managed by the storage service itself needs none)"
    )]
    KmsAccessDenied {
        /// `s3://bucket/prefix/key`.
        location: String,
        /// The server's reason.
        reason: String,
        /// The store's error.
        #[source]
        source: Option<Box<BlobError>>,
    },
    /// The endpoint could not be reached.
    #[error(
        "VaultError: endpoint {endpoint} unreachable: {reason}; check the endpoint and the network (internal or public access)"
    )]
    Unreachable {
        /// The endpoint URL.
        endpoint: String,
        /// What happened.
        reason: String,
        /// The store's error.
        #[source]
        source: Option<Box<BlobError>>,
    },
    /// The bucket is in another region than the one configured.
    #[error("VaultError: wrong region for bucket {bucket}: {reason}; set the bucket's region")]
    WrongRegion {
        /// The bucket.
        bucket: String,
        /// The server's reason, naming the expected region when it does.
        reason: String,
        /// The store's error.
        #[source]
        source: Option<Box<BlobError>>,
    },
    /// The storage cannot refuse to overwrite an object, so create-only commits (B7) cannot
    /// be guaranteed.
    #[error(
        "VaultError: {location} does not guarantee create-only writes: {reason}; use a storage service that honours If-None-Match: * (for Alibaba OSS set provider=oss)"
    )]
    CreateOnlyUnsupported {
        /// The vault.
        location: String,
        /// What the probe saw.
        reason: String,
    },
    /// A backup of that name exists, is being uploaded or is being deleted (B7).
    #[error("VaultError: backup already exists in vault: {name} {state}; choose another name")]
    AlreadyExists {
        /// The backup's name.
        name: String,
        /// `is committed (Completed)`, `is being uploaded (attempt …)`, `is being deleted`.
        state: String,
    },
    /// A restore record of that name exists.
    #[error("VaultError: restore already exists in vault: {name}; choose another name")]
    RestoreAlreadyExists {
        /// The restore's name.
        name: String,
    },
    /// No visible backup or restore of that name.
    #[error("VaultError: {what} not found in vault")]
    NotFound {
        /// `backup nightly`, `restore r1`.
        what: String,
    },
    /// Stored data does not match its recorded checksum or size (V7).
    #[error(
        "VaultError: integrity check failed for {key}: {reason}; the stored data is damaged, restore from another backup"
    )]
    Integrity {
        /// The object's key.
        key: String,
        /// Expected and actual digest or size.
        reason: String,
    },
    /// The backup is encrypted (E2) and its data key cannot be had: no key-encryption key is
    /// configured, it is another key than the one the backup names, or it refused to unwrap.
    #[error("VaultError: {name} is encrypted: {reason}")]
    Encryption {
        /// What: `backup nightly`, `restore r1`.
        name: String,
        /// Which key the backup needs (its kind and public id) and what to do.
        reason: String,
    },
    /// A stored record or companion cannot be read.
    #[error("VaultError: cannot read {key}: {reason}")]
    Corrupt {
        /// The object's key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The vault's URL or configuration is wrong, or does not match the vault stored there (V3).
    #[error("VaultError: invalid vault configuration: {reason}")]
    Configuration {
        /// What is wrong and what to do.
        reason: String,
    },
    /// The vault was validated as unavailable (V2).
    #[error("VaultError: {message}")]
    Unavailable {
        /// The validation's message.
        message: String,
    },
    /// The argument is not usable (an empty or malformed name).
    #[error("VaultError: invalid {what}: {reason}")]
    InvalidInput {
        /// What was passed.
        what: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// Any other storage failure.
    #[error("VaultError: {operation} {key} failed: {reason}")]
    Storage {
        /// `put`, `get`, `list`, `delete`, `copy`, `upload`.
        operation: String,
        /// The key or prefix.
        key: String,
        /// The storage's error.
        reason: String,
        /// Whether retrying later may succeed.
        transient: bool,
        /// The store's error, when the store failed.
        #[source]
        source: Option<Box<BlobError>>,
    },
}

impl VaultError {
    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            VaultError::Unreachable { .. }
                | VaultError::Storage {
                    transient: true,
                    ..
                }
        )
    }
}

impl From<crate::vault_record::RecordError> for VaultError {
    fn from(e: crate::vault_record::RecordError) -> Self {
        VaultError::Corrupt {
            key: e.file,
            reason: e.reason,
        }
    }
}

/// A backup vault as the engine sees it. Object-safe: use it as `Arc<dyn Vault>`.
#[async_trait]
pub trait Vault: Send + Sync {
    /// Where the vault is, for messages (`s3://bucket/prefix`, `file:///path`).
    fn location(&self) -> String;

    /// Checks the vault by a real round trip: write, read back and delete a probe object, and
    /// create one probe twice to check that create-only writes are refused the second time.
    /// Never fails: problems are reported as [`VaultPhase::Unavailable`] with the message.
    async fn validate(&self, now: Timestamp) -> VaultValidation;

    /// Starts uploading a backup. Fails fast with [`VaultError::AlreadyExists`] when the name
    /// is committed (in any phase), being uploaded by another attempt, or being deleted; the
    /// commit is still the arbiter when two start at once.
    async fn start_backup(&self, name: &str) -> Result<Box<dyn BackupUpload>, VaultError>;

    /// Committed backups that are Completed or PartiallyFailed and not being deleted (V5),
    /// by name.
    async fn list_backups(&self) -> Result<Vec<BackupRecord>, VaultError>;

    /// One backup with the visibility of [`Vault::list_backups`]; `None` if not visible.
    async fn backup(&self, name: &str) -> Result<Option<BackupRecord>, VaultError>;

    /// A visible backup's tarball and its entries' digests, returned only after the SHA-256
    /// and size of the tarball and of the entry-digests file have been checked against the
    /// metadata (V7). A mismatch, a truncated or a missing object is [`VaultError::Integrity`]
    /// naming the key.
    async fn download_archive(&self, name: &str) -> Result<VerifiedArchive, VaultError>;

    /// A visible backup's tarball as a stream of chunks, never held whole in memory,
    /// verified against the metadata as it passes (see [`ArchiveStream`]). The default reads
    /// [`Vault::download_archive`] and yields it as one chunk.
    async fn archive_stream(&self, name: &str) -> Result<ArchiveStream, VaultError> {
        let archive = self.download_archive(name).await?;
        Ok(ArchiveStream {
            chunks: Box::pin(futures::stream::once(async move { Ok(archive.bytes) })),
            entry_digests: archive.entry_digests,
            warning: archive.warning,
        })
    }

    /// A visible backup's companion files (logs, results, resource list, snapshot lists),
    /// each verified against its recorded digest when there is one. Missing companions and
    /// Velero's `null` read as empty.
    async fn backup_companions(&self, name: &str) -> Result<BackupCompanions, VaultError>;

    /// As [`Vault::backup_companions`], reading only the companions of these kinds (the others
    /// are left empty): a restore reads the volume lists, not a million-object backup's log
    /// and resource list (R13). The default reads them all.
    async fn backup_companions_of(
        &self,
        name: &str,
        kinds: &[CompanionKind],
    ) -> Result<BackupCompanions, VaultError> {
        let _ = kinds;
        self.backup_companions(name).await
    }

    /// Stores a restore's record and files under `restores/<name>/`; create-only
    /// ([`VaultError::RestoreAlreadyExists`]).
    async fn put_restore(
        &self,
        record: &RestoreRecord,
        companions: &RestoreCompanions,
    ) -> Result<(), VaultError>;

    /// A restore's record, or `None`.
    async fn restore(&self, name: &str) -> Result<Option<RestoreRecord>, VaultError>;

    /// Deletes a restore's record and files (`restores/<name>/`), the record last, so an
    /// interrupted deletion still shows the restore and calling this again finishes it.
    /// Idempotent: deleting an absent restore succeeds. The backup it came from is untouched.
    /// An unusable name is [`VaultError::InvalidInput`].
    async fn delete_restore(&self, name: &str) -> Result<(), VaultError>;

    /// Deletes a backup (V6): a deletion marker first, which hides it everywhere at once,
    /// then its objects, the marker last. Idempotent: deleting an absent backup succeeds, and
    /// calling it again after an interruption finishes the job.
    async fn delete_backup(&self, name: &str) -> Result<(), VaultError>;

    /// Every committed backup not being deleted, in any phase — Failed ones included, which
    /// [`Vault::list_backups`] hides (V5) — by name: for `describe`, logs and GC.
    async fn list_records(&self) -> Result<Vec<BackupRecord>, VaultError>;

    /// One committed backup in any phase (Failed included) unless it is being deleted; `None`
    /// if there is none. For `describe` and logs: never offer it for restore without checking
    /// [`BackupRecord::is_restorable`] (V5).
    async fn backup_record(&self, name: &str) -> Result<Option<BackupRecord>, VaultError>;

    /// A committed backup's log (`<name>-logs.gz`, Failed backups included), decompressed
    /// and verified against its recorded digest; [`VaultError::NotFound`] when there is no
    /// such backup, empty when it has no log (written by an old Velero).
    async fn backup_logs(&self, name: &str) -> Result<Vec<u8>, VaultError>;

    /// A restore's log (`restore-<name>-logs.gz`), decompressed; [`VaultError::NotFound`]
    /// when there is no such restore.
    async fn restore_logs(&self, name: &str) -> Result<Vec<u8>, VaultError>;

    /// Committed backups in any phase (Failed included) whose expiry is at or before `now`
    /// (B10): a Failed backup is cleaned after its TTL like the others.
    async fn expired_backups(&self, now: Timestamp) -> Result<Vec<BackupRecord>, VaultError> {
        Ok(self
            .list_records()
            .await?
            .into_iter()
            .filter(|b| b.is_expired(now))
            .collect())
    }

    /// Garbage collection (B10): removes data of attempts that never committed and whose
    /// objects are older than `grace`, losers' leftovers beside committed backups, finishes
    /// interrupted deletions and interrupted commits. Never removes a committed backup's data.
    /// `grace` must be longer than the longest backup (its timeout), or a live upload could
    /// lose its data.
    async fn remove_orphans(
        &self,
        now: Timestamp,
        grace: Duration,
    ) -> Result<OrphanReport, VaultError>;
}

/// One attempt at uploading a backup, from [`Vault::start_backup`].
///
/// Dropping it without [`BackupUpload::commit`] or [`BackupUpload::abort`] leaves the attempt's
/// data as an orphan that is invisible and removed by [`Vault::remove_orphans`] after the grace
/// period.
#[async_trait]
pub trait BackupUpload: Send {
    /// The attempt's unique id.
    fn attempt(&self) -> &str;

    /// Appends a chunk of the tarball. Chunks are buffered into parts and uploaded while the
    /// archive is still being written; this waits when too many parts are in flight.
    async fn write(&mut self, chunk: Bytes) -> Result<(), VaultError>;

    /// Appends a chunk of the entry-digests file (gzip of JSON lines,
    /// [`vault_record::streamed`](crate::vault_record::streamed)), uploaded like the tarball
    /// while the backup runs. A backup that never calls this has no entry-digests file.
    async fn write_entry_digests(&mut self, chunk: Bytes) -> Result<(), VaultError>;

    /// Finishes the tarball and the entry-digests file, stores the companion files (encoded,
    /// e.g. by [`BackupCompanions::encode`]), then writes the metadata create-only. The vault
    /// fills in `record.archive`, `record.files` and `record.attempt`; the returned record is
    /// what was committed. If another attempt committed the name first, this attempt's data
    /// is removed and [`VaultError::AlreadyExists`] returned.
    async fn commit(
        self: Box<Self>,
        record: BackupRecord,
        companions: Vec<CompanionFile>,
    ) -> Result<BackupRecord, VaultError>;

    /// Records a backup that failed: abandons the tarball and the entry-digests file
    /// (whatever was streamed of them is removed, never made visible), stores the companion
    /// files (the log and the results) and commits `record`, whose phase must be `Failed`,
    /// create-only like [`BackupUpload::commit`]. The backup can then be described, its log
    /// read and it is collected after its TTL, but it is never listed or restored (V5).
    async fn record_failure(
        self: Box<Self>,
        record: BackupRecord,
        companions: Vec<CompanionFile>,
    ) -> Result<BackupRecord, VaultError>;

    /// Abandons the attempt and removes its data.
    async fn abort(self: Box<Self>) -> Result<(), VaultError>;
}
