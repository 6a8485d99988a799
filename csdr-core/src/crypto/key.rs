//! The data key of a backup and the key-encryption keys that wrap it (DESIGN E2, E3).

use async_trait::async_trait;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::CryptoError;

/// A backup's 256-bit data key. Its bytes never appear in `Debug` output, logs or status, and
/// are wiped from memory when it is dropped.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// A data key from 32 random bytes (the caller's random source: the adapters use the OS).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        DataKey(Zeroizing::new(bytes))
    }

    /// The key's bytes, for a key-encryption key to wrap.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// A data key wrapped by a key-encryption key: opaque bytes only that key can unwrap
/// (stored base64 in JSON).
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey(pub Vec<u8>);

impl std::fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WrappedKey({} bytes)", self.0.len())
    }
}

impl Serialize for WrappedKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for WrappedKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map(WrappedKey)
            .map_err(|e| serde::de::Error::custom(format!("wrappedKey is not base64: {e}")))
    }
}

/// What kind of key-encryption key wraps a backup's data key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum KeyKind {
    /// An `age` recipient (X25519): decrypt offline with the matching identity file.
    Age,
    /// A cloud KMS key (AWS KMS API).
    Kms,
    /// A symmetric key held by the embedder (tests, and embedders with their own key store).
    Local,
}

impl std::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyKind::Age => "age",
            KeyKind::Kms => "kms",
            KeyKind::Local => "local",
        })
    }
}

/// A key-encryption key: wraps a backup's data key for storage and unwraps it on restore. The
/// adapters implement it (an `age` recipient and identity, an AWS KMS key).
#[async_trait]
pub trait KeyEncryptionKey: Send + Sync + std::fmt::Debug {
    /// The kind of key.
    fn kind(&self) -> KeyKind;

    /// The key's public id: an `age1…` recipient, a KMS key ARN. Recorded with the backup and
    /// named in errors; never key material.
    fn key_id(&self) -> String;

    /// Wraps a data key.
    async fn wrap(&self, key: &DataKey) -> Result<WrappedKey, CryptoError>;

    /// Unwraps a data key this key wrapped; [`CryptoError::Key`] naming the key otherwise.
    async fn unwrap(&self, wrapped: &WrappedKey) -> Result<DataKey, CryptoError>;
}

/// How a backup is encrypted, stored beside it so that a restore knows which key to ask for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionRecord {
    /// The file format and cipher: [`EncryptionRecord::ALGORITHM`].
    pub algorithm: String,
    /// The kind of key-encryption key.
    pub key_kind: KeyKind,
    /// The key-encryption key's public id.
    pub key_id: String,
    /// The data key, wrapped by that key.
    pub wrapped_key: WrappedKey,
}

impl EncryptionRecord {
    /// The only algorithm written: the `CSDRENC1` format ([`super::format`]).
    pub const ALGORITHM: &'static str = "CSDRENC1/chacha20poly1305-stream-64KiB/hkdf-sha256";

    /// Wraps a new backup's data key with `kek`.
    pub async fn wrap(kek: &dyn KeyEncryptionKey, key: &DataKey) -> Result<Self, CryptoError> {
        Ok(EncryptionRecord {
            algorithm: Self::ALGORITHM.to_string(),
            key_kind: kek.kind(),
            key_id: kek.key_id(),
            wrapped_key: kek.wrap(key).await?,
        })
    }

    /// The backup's data key, unwrapped by `kek`; an error naming the key the backup needs when
    /// `kek` is another key, and the algorithm when this csdr does not know it.
    pub async fn data_key(&self, kek: &dyn KeyEncryptionKey) -> Result<DataKey, CryptoError> {
        if self.algorithm != Self::ALGORITHM {
            return Err(CryptoError::Key {
                key_id: self.key_id.clone(),
                reason: format!("unknown encryption algorithm {}", self.algorithm),
            });
        }
        if kek.kind() != self.key_kind || kek.key_id() != self.key_id {
            return Err(CryptoError::Key {
                key_id: self.key_id.clone(),
                reason: format!(
                    "the backup's data key is wrapped by this {} key, not by the {} key {} given",
                    self.key_kind,
                    kek.kind(),
                    kek.key_id()
                ),
            });
        }
        kek.unwrap(&self.wrapped_key).await
    }
}
