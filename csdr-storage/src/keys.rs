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

/// An AWS KMS key-encryption key (E2): the data key is wrapped with KMS `Encrypt` and
/// unwrapped with `Decrypt` under the key, so only principals allowed `kms:Encrypt` /
/// `kms:Decrypt` on it can create or read the backup. `Debug` shows the key id, region and
/// endpoint, never credentials.
pub struct KmsKey {
    key_id: String,
    region: String,
    endpoint: Option<String>,
    client: aws_sdk_kms::Client,
}

impl std::fmt::Debug for KmsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsKey")
            .field("key_id", &self.key_id)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl KmsKey {
    /// The KMS key `key_id` (a key id, ARN or `alias/…`) in `region`, reached at `endpoint`
    /// (AWS's own when `None`), with `credentials` (else `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` from the environment).
    pub fn new(
        key_id: &str,
        region: &str,
        endpoint: Option<&str>,
        credentials: Option<&crate::S3Credentials>,
    ) -> Result<Self, StorageError> {
        let error = |reason: String| StorageError::Key {
            source_name: format!("kms key {key_id}"),
            reason,
        };
        if key_id.trim().is_empty() {
            return Err(error("the KMS key id is empty".into()));
        }
        let credentials = match credentials {
            Some(c) => c.clone(),
            None => {
                let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
                match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
                    (Some(access_key_id), Some(secret_access_key)) => crate::S3Credentials {
                        access_key_id,
                        secret_access_key,
                        session_token: var("AWS_SESSION_TOKEN"),
                    },
                    _ => {
                        return Err(error(
                            "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                                .into(),
                        ));
                    }
                }
            }
        };
        let mut config = aws_sdk_kms::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_kms::config::Region::new(region.to_string()))
            .credentials_provider(aws_credential_types::Credentials::new(
                credentials.access_key_id,
                credentials.secret_access_key,
                credentials.session_token,
                None,
                "csdr",
            ));
        if let Some(e) = endpoint {
            config = config.endpoint_url(e);
        }
        Ok(KmsKey {
            key_id: key_id.to_string(),
            region: region.to_string(),
            endpoint: endpoint.map(str::to_string),
            client: aws_sdk_kms::Client::from_conf(config.build()),
        })
    }

    /// The key of a `kms://<key id>?region=<region>[&endpoint=<url>]` spec, as
    /// `--encryption-key` takes it; the region defaults to the ARN's, then `AWS_REGION`.
    pub fn from_spec(spec: &str) -> Result<Self, StorageError> {
        let error = |reason: &str| StorageError::Key {
            source_name: spec.to_string(),
            reason: reason.to_string(),
        };
        let rest = spec
            .strip_prefix("kms://")
            .ok_or_else(|| error("expected kms://<key id>?region=<region>"))?;
        let (key_id, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (mut region, mut endpoint) = (None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("region", v)) => region = Some(v.to_string()),
                Some(("endpoint", v)) => endpoint = Some(v.to_string()),
                _ => {
                    return Err(error(&format!(
                        "unknown option `{pair}` (region, endpoint)"
                    )));
                }
            }
        }
        let region = region
            .or_else(|| {
                key_id
                    .strip_prefix("arn:")
                    .and_then(|arn| arn.split(':').nth(2))
                    .map(str::to_string)
            })
            .or_else(|| std::env::var("AWS_REGION").ok())
            .ok_or_else(|| error("no region: add ?region=<region> or set AWS_REGION"))?;
        Self::new(key_id, &region, endpoint.as_deref(), None)
    }
}

/// The full text of an SDK error (its chain), for messages.
fn sdk_error<E: std::error::Error + 'static>(e: &E) -> String {
    aws_sdk_kms::error::DisplayErrorContext(e).to_string()
}

#[async_trait]
impl KeyEncryptionKey for KmsKey {
    fn kind(&self) -> KeyKind {
        KeyKind::Kms
    }

    fn key_id(&self) -> String {
        self.key_id.clone()
    }

    async fn wrap(&self, key: &DataKey) -> Result<WrappedKey, CryptoError> {
        let out = self
            .client
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(aws_sdk_kms::primitives::Blob::new(key.bytes().to_vec()))
            .send()
            .await
            .map_err(|e| CryptoError::Key {
                key_id: self.key_id.clone(),
                reason: format!(
                    "KMS Encrypt failed (the credentials need kms:Encrypt on the key): {}",
                    sdk_error(&e)
                ),
            })?;
        let blob = out.ciphertext_blob.ok_or_else(|| CryptoError::Key {
            key_id: self.key_id.clone(),
            reason: "KMS Encrypt returned no ciphertext".into(),
        })?;
        Ok(WrappedKey(blob.into_inner()))
    }

    async fn unwrap(&self, wrapped: &WrappedKey) -> Result<DataKey, CryptoError> {
        let error = |reason: String| CryptoError::Key {
            key_id: self.key_id.clone(),
            reason,
        };
        let out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(wrapped.0.clone()))
            .send()
            .await
            .map_err(|e| {
                error(format!(
                    "KMS Decrypt failed (the credentials need kms:Decrypt on the key): {}",
                    sdk_error(&e)
                ))
            })?;
        let plain = zeroize::Zeroizing::new(
            out.plaintext
                .ok_or_else(|| error("KMS Decrypt returned no plaintext".into()))?
                .into_inner(),
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
