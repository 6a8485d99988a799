//! The crate's error type: one enum at the boundary of csdr-core.
//!
//! Module-level errors (a malformed object, a bad quantity, an invalid cron expression…) are
//! their own small types, each with a message that names the input and the reason; they all
//! convert into [`Error`], which is what the engine and the adapters see.
//!
//! Rules (as in rustic_core): errors name the object and the field; no error is swallowed;
//! nothing from outside (a file, a cluster, a bucket, a user) is ever `unwrap`ped.

use crate::object::ObjectError;

/// Everything that can go wrong in csdr-core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A JSON value is not a usable Kubernetes object.
    #[error(transparent)]
    Object(#[from] ObjectError),
    /// A vault operation failed.
    #[error(transparent)]
    Vault(#[from] crate::ports::vault::VaultError),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
