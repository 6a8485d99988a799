//! Key-encryption keys of client-side envelope encryption (E2), and the operating system's
//! random source the vault draws data keys and salts from.
//!
//! [`AgeKey`] wraps a backup's 32-byte data key to an `age` X25519 recipient (`age1…`): the
//! wrapped key in `velero-backup.json` is a standard age file, so a user can unwrap it
//! offline with `age -d -i identity.txt`. Unwrapping needs the identity (`AGE-SECRET-KEY-1…`),
//! read from an identity file as `age-keygen` writes it.
//!
//! ```
//! # futures::executor::block_on(async {
//! use csdr_core::crypto::{DataKey, KeyEncryptionKey};
//! use csdr_storage::AgeKey;
//!
//! let identity = "# created: 2026-12-05\n# public key: age1…\nAGE-SECRET-KEY-1HRU4PMNF3R0SCJFDDDPP6LPL24NRY20P86MFR0LRQ5WUK7VLRT8QEX5K2R\n";
//! let key = AgeKey::from_identity_text(identity, "identity.txt")?;
//! let wrapped = key.wrap(&DataKey::from_bytes([9; 32])).await?;
//! assert_eq!(key.unwrap(&wrapped).await?.bytes(), &[9; 32]);
//! assert!(!format!("{key:?}").contains("SECRET"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use csdr_core::crypto::{CryptoError, DataKey, KeyEncryptionKey, KeyKind, WrappedKey};
use csdr_core::vault::RandomSource;

use crate::StorageError;

/// The operating system's random generator (`getrandom`), for data keys and salts.
///
/// # Panics
/// If the operating system cannot provide random bytes: no key may be made without them.
pub fn os_random() -> RandomSource {
    Arc::new(|buf: &mut [u8]| {
        if let Err(e) = getrandom::fill(buf) {
            panic!("the operating system's random generator failed: {e}");
        }
    })
}

/// An `age` X25519 key-encryption key: a recipient, which wraps, and optionally its identity,
/// which also unwraps. `Debug` shows the recipient only.
pub struct AgeKey {
    recipient: age::x25519::Recipient,
    identity: Option<age::x25519::Identity>,
}

impl std::fmt::Debug for AgeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgeKey")
            .field("recipient", &self.recipient.to_string())
            .field("identity", &self.identity.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl AgeKey {
    /// A key that wraps to `recipient` (`age1…`) and cannot unwrap.
    pub fn recipient(recipient: &str) -> Result<Self, StorageError> {
        let recipient = recipient.trim();
        let parsed =
            age::x25519::Recipient::from_str(recipient).map_err(|e| StorageError::Key {
                source_name: recipient.to_string(),
                reason: format!("not an age X25519 recipient (age1…): {e}"),
            })?;
        Ok(AgeKey {
            recipient: parsed,
            identity: None,
        })
    }

    /// The key of the first identity (`AGE-SECRET-KEY-1…`) in an identity file's text, as
    /// `age-keygen` writes it (`#` comments and blank lines ignored). `source_name` names
    /// the file in errors; the text itself is never shown.
    pub fn from_identity_text(text: &str, source_name: &str) -> Result<Self, StorageError> {
        let error = |reason: &str| StorageError::Key {
            source_name: source_name.to_string(),
            reason: reason.to_string(),
        };
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .ok_or_else(|| error("holds no identity (expected a line AGE-SECRET-KEY-1…)"))?;
        let identity = age::x25519::Identity::from_str(line).map_err(|_| {
            error("its first identity is not an age X25519 identity (AGE-SECRET-KEY-1…)")
        })?;
        Ok(AgeKey {
            recipient: identity.to_public(),
            identity: Some(identity),
        })
    }

    /// The key of the identity file at `path` (see [`AgeKey::from_identity_text`]).
    pub fn from_identity_file(path: &Path) -> Result<Self, StorageError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| StorageError::Key {
            source_name: name.clone(),
            reason: format!("cannot read the identity file: {e}"),
        })?;
        Self::from_identity_text(&text, &name)
    }
}

#[async_trait]
impl KeyEncryptionKey for AgeKey {
    fn kind(&self) -> KeyKind {
        KeyKind::Age
    }

    fn key_id(&self) -> String {
        self.recipient.to_string()
    }

    async fn wrap(&self, key: &DataKey) -> Result<WrappedKey, CryptoError> {
        age::encrypt(&self.recipient, key.bytes())
            .map(WrappedKey)
            .map_err(|e| CryptoError::Key {
                key_id: self.key_id(),
                reason: format!("age could not wrap the data key: {e}"),
            })
    }

    async fn unwrap(&self, wrapped: &WrappedKey) -> Result<DataKey, CryptoError> {
        let error = |reason: String| CryptoError::Key {
            key_id: self.key_id(),
            reason,
        };
        let identity = self.identity.as_ref().ok_or_else(|| {
            error("only the recipient is known; pass the matching age identity file (--decryption-key-file)".into())
        })?;
        let plain = zeroize::Zeroizing::new(
            age::decrypt(identity, &wrapped.0)
                .map_err(|e| error(format!("age could not unwrap the data key: {e}")))?,
        );
        let bytes: [u8; 32] = plain.as_slice().try_into().map_err(|_| {
            error(format!(
                "the unwrapped data key is {} bytes, not 32",
                plain.len()
            ))
        })?;
        Ok(DataKey::from_bytes(bytes))
    }
}
