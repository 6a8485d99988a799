//! Client-side envelope encryption of a backup's files (DESIGN E2, E3), without I/O.
//!
//! **The envelope.** Each backup gets a random 256-bit [`DataKey`]. Every file csdr writes for
//! the backup is sealed under its own key, derived from the data key with HKDF-SHA256 over a
//! random per-file salt and the file's *label* (its place in the vault, e.g.
//! `backups/b1/b1.tar.gz`), so a file moved to another place, or a file of another backup, does
//! not open. The data key itself is stored only *wrapped* by a key-encryption key
//! ([`KeyEncryptionKey`]: an `age` recipient, a cloud KMS key), in an [`EncryptionRecord`].
//!
//! **The file format** (`CSDRENC1`, see [the format module](self::format)): a 26-byte header (magic, version, chunk size,
//! salt), then the plaintext in 64 KiB chunks, each sealed with
//! ChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`, audited by NCC Group) in the STREAM
//! construction: every chunk's nonce carries its position and whether it is the last, and the
//! header is authenticated with every chunk. So a flipped byte, a reordered, dropped or
//! truncated chunk, a changed header, a wrong key or a wrong label all fail, and memory stays
//! bounded by one chunk whatever the file's size ([`Sealer`], [`Opener`]).
//!
//! **Purity.** Like the rest of the core, this module does no I/O and draws no randomness: the
//! caller passes the data key and salts from its own random source (the adapters use the OS),
//! and a [`KeyEncryptionKey`] is a port the adapters implement.
//!
//! ```
//! use csdr_core::crypto::{DataKey, open, seal};
//!
//! let key = DataKey::from_bytes([7; 32]);
//! let sealed = seal(&key, [1; 16], "backups/b1/b1.tar.gz", b"kind: Secret\ndata: c2VjcmV0")?;
//! assert!(!sealed.windows(6).any(|w| w == b"Secret"));
//! assert_eq!(open(&key, "backups/b1/b1.tar.gz", &sealed)?, b"kind: Secret\ndata: c2VjcmV0");
//!
//! // Another place, another key, or one changed byte: refused, naming the file.
//! assert!(open(&key, "backups/b2/b2.tar.gz", &sealed).is_err());
//! let mut tampered = sealed.clone();
//! tampered[30] ^= 1;
//! let err = open(&key, "backups/b1/b1.tar.gz", &tampered).unwrap_err();
//! assert!(err.to_string().contains("backups/b1/b1.tar.gz"));
//! # Ok::<(), csdr_core::crypto::CryptoError>(())
//! ```

pub mod format;
mod key;
mod stream;

pub use key::{DataKey, EncryptionRecord, KeyEncryptionKey, KeyKind, WrappedKey};
pub use stream::{Opener, Sealer, SealingWriter, open, seal};

/// Why sealing or opening failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The data does not start with the `CSDRENC1` header: it is not an encrypted csdr file.
    #[error("{label} is not encrypted by csdr (no CSDRENC1 header)")]
    NotEncrypted {
        /// The file.
        label: String,
    },
    /// The header names a format version or chunk size this csdr does not read.
    #[error("{label} uses encryption format {what}, which this csdr does not read")]
    Unsupported {
        /// The file.
        label: String,
        /// What is unknown.
        what: String,
    },
    /// Authentication failed: the key is wrong, or the file was modified, truncated or moved.
    #[error(
        "{label} cannot be decrypted: wrong key, or the file was modified, truncated or moved ({at})"
    )]
    Rejected {
        /// The file.
        label: String,
        /// Where: `chunk N`, `header`, `end`.
        at: String,
    },
    /// More than 2³² chunks (256 TiB) in one file.
    #[error("{label} is too large to encrypt in one file")]
    TooLarge {
        /// The file.
        label: String,
    },
    /// The key-encryption key could not wrap or unwrap the data key.
    #[error("encryption key {key_id}: {reason}")]
    Key {
        /// The key-encryption key's id (an age recipient, a KMS key ARN); never key material.
        key_id: String,
        /// What went wrong, and what to do.
        reason: String,
    },
}

#[cfg(test)]
mod tests;
