//! The crate's error type and the mapping of `object_store` errors onto the port's
//! [`VaultError`] messages a user can act on.
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

/// What can go wrong when opening a vault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
        /// The client's error.
        reason: String,
    },
    /// The location already holds another vault, or was given another configuration (V3).
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
    /// The vault stored at the location was deleted; its name and location are not reused (V3).
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

impl From<StorageError> for VaultError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Vault(v) => v,
            other => VaultError::Configuration {
                reason: other.to_string(),
            },
        }
    }
}

/// What the vault knows about itself when it explains an error.
#[derive(Clone, Debug)]
pub(crate) struct ErrorContext {
    /// `s3://bucket/prefix`, `file:///path`, `memory://`.
    pub location: String,
    /// The bucket, for S3.
    pub bucket: Option<String>,
    /// The endpoint URL, for S3.
    pub endpoint: Option<String>,
}

/// The error and every source below it, as one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        cur = s.source();
    }
    text
}

impl ErrorContext {
    /// Maps an `object_store` error of `operation` on `key` onto a [`VaultError`].
    pub fn map(&self, operation: &str, key: &str, e: object_store::Error) -> VaultError {
        let text = chain(&e);
        let lower = text.to_ascii_lowercase();
        let bucket = self.bucket.clone().unwrap_or_else(|| self.location.clone());
        if lower.contains("nosuchbucket") || lower.contains("specified bucket does not exist") {
            return VaultError::BucketNotFound { bucket };
        }
        if lower.contains("incorrectly configured region")
            || lower.contains("authorizationheadermalformed")
            || lower.contains("permanentredirect")
            || (lower.contains("region")
                && (lower.contains("wrong") || lower.contains("expecting")))
        {
            return VaultError::WrongRegion {
                bucket,
                reason: text,
            };
        }
        match &e {
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } => {
                return VaultError::AccessDenied {
                    location: format!("{}/{key}", self.location.trim_end_matches('/')),
                    reason: text,
                };
            }
            object_store::Error::NotImplemented { .. }
            | object_store::Error::NotSupported { .. } => {
                return VaultError::Storage {
                    operation: operation.to_string(),
                    key: key.to_string(),
                    reason: text,
                    transient: false,
                };
            }
            _ => {}
        }
        let unreachable = [
            "error sending request",
            "connection refused",
            "connect error",
            "tcp connect",
            "dns error",
            "timed out",
            "connection reset",
            "broken pipe",
            "unexpected eof",
            "connection closed",
        ];
        if let Some(endpoint) = &self.endpoint
            && unreachable.iter().any(|u| lower.contains(u))
        {
            return VaultError::Unreachable {
                endpoint: endpoint.clone(),
                reason: text,
            };
        }
        if lower.contains("accessdenied") || lower.contains("access denied") {
            return VaultError::AccessDenied {
                location: format!("{}/{key}", self.location.trim_end_matches('/')),
                reason: text,
            };
        }
        let transient = lower.contains("status code: 5")
            || lower.contains("slowdown")
            || lower.contains("internalerror");
        VaultError::Storage {
            operation: operation.to_string(),
            key: key.to_string(),
            reason: text,
            transient,
        }
    }
}
