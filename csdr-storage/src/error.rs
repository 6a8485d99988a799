//! The crate's error type: what can go wrong when opening a vault from its URL. (Errors of
//! the store itself are mapped in [`crate::blob`].)
//!
//! ```
//! use csdr_core::ports::vault::VaultError;
//! use csdr_storage::StorageError;
//!
//! let err = StorageError::UnsupportedScheme { url: "gs://b".into(), scheme: "gs".into() };
//! let vault: VaultError = err.into();
//! assert!(vault.to_string().starts_with("VaultError: invalid vault configuration: "));
//! ```

use csdr_core::ports::vault::VaultError;
use csdr_core::vault::VaultOpenError;

/// What can go wrong when opening a vault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A part of the URL is malformed.
    #[error("bad vault URL {url}: {part} {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// The part: `scheme`, `bucket`, `prefix`, `path`, a query key.
        part: String,
        /// What is wrong and the expected form.
        reason: String,
    },
    /// The scheme is not one csdr supports.
    #[error("unsupported scheme `{scheme}` in vault URL {url}; use file://, s3:// or memory://")]
    UnsupportedScheme {
        /// The URL.
        url: String,
        /// The scheme.
        scheme: String,
    },
    /// The object store client could not be built.
    #[error("cannot set up storage for {location}: {reason}")]
    Client {
        /// The location.
        location: String,
        /// What could not be done, with the client's message.
        reason: String,
        /// The client's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A key of client-side encryption (E2) cannot be used: a malformed `age1…` recipient, an
    /// unreadable identity file. Never carries key material.
    #[error("encryption key {source_name}: {reason}")]
    Key {
        /// Where the key came from: the recipient given, or the identity file's path.
        source_name: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The directory a volume backup reads is missing or not a directory.
    #[error(
        "SOURCE_NOT_EXIST: the volume's data at {path} cannot be read: {reason}; check that the volume is mounted on this node and the path is right"
    )]
    VolumeSource {
        /// The directory.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The directory a volume restore writes into cannot be used.
    #[error("cannot restore volume data into {path}: {reason}")]
    VolumeDestination {
        /// The directory.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The vault holds no volume repository of that name.
    #[error("no volume repository at {repository} in the vault; back up a volume into it first")]
    NoVolumeRepository {
        /// Where it was looked for (`restic/<name>`).
        repository: String,
    },
    /// The key does not open the repository.
    #[error(
        "the repository key from {origin} does not open volume repository {repository}: wrong key"
    )]
    WrongRepositoryKey {
        /// The repository (`restic/<name>`).
        repository: String,
        /// Where the key came from (never the key).
        origin: String,
    },
    /// No snapshot (or more than one) matches the id given.
    #[error("no single snapshot `{id}` in volume repository {repository}: {reason}")]
    UnknownVolumeSnapshot {
        /// The repository (`restic/<name>`).
        repository: String,
        /// The id or prefix given.
        id: String,
        /// Why.
        reason: String,
    },
    /// A volume repository command failed.
    #[error("cannot {action} volume repository {repository}: {reason}")]
    VolumeRepository {
        /// The repository (`restic/<name>`).
        repository: String,
        /// What was being done.
        action: String,
        /// The repository library's explanation.
        reason: String,
        /// Its error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The location holds another vault, or a deleted one (V3).
    #[error(transparent)]
    Identity(#[from] VaultOpenError),
    /// A storage operation failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl From<StorageError> for VaultError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Vault(v) => v,
            StorageError::Identity(e) => e.into(),
            other => VaultError::Configuration {
                reason: other.to_string(),
            },
        }
    }
}
