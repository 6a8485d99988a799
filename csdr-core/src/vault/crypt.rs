//! Client-side envelope encryption of a backup's files in [`BlobVault`](super::BlobVault)
//! (E2): a fresh data key per backup, wrapped by the vault's key-encryption key into the
//! record; every file sealed under the label of its Velero key (`backups/<name>/<file>`), so a
//! file copied from the attempt's folder to Velero's key still opens, and a file moved
//! elsewhere does not.

use std::sync::Arc;

use bytes::Bytes;

use super::Inner;
use crate::crypto::{
    CryptoError, DataKey, EncryptionRecord, KeyEncryptionKey, KeyKind, format::SALT,
};
use crate::ports::vault::VaultError;
use crate::vault_record::{BackupRecord, RestoreRecord};

/// A source of random bytes: fills the buffer it is given. The adapters use the operating
/// system's generator; the core draws no randomness of its own.
pub type RandomSource = Arc<dyn Fn(&mut [u8]) + Send + Sync>;

/// The vault's encryption settings: the key-encryption key and the random source.
#[derive(Clone)]
pub(crate) struct Encryption {
    pub(crate) kek: Arc<dyn KeyEncryptionKey>,
    pub(crate) random: RandomSource,
}

impl std::fmt::Debug for Encryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encryption")
            .field("kind", &self.kek.kind())
            .field("key_id", &self.kek.key_id())
            .finish_non_exhaustive()
    }
}

/// The key a backup's file is sealed under, and the label it is sealed with.
pub(super) fn label(name: &str, file: &str) -> String {
    super::layout::backup_file(name, file)
}

/// Maps a failure to seal or to get a data key onto the vault's error for `what`
/// (`backup nightly`, `restore r1`).
pub(super) fn key_error(what: &str, e: CryptoError) -> VaultError {
    VaultError::Encryption {
        name: what.to_string(),
        reason: e.to_string(),
    }
}

impl Inner {
    /// A random salt for one sealed file.
    pub(super) fn salt(&self) -> [u8; SALT] {
        let mut salt = [0u8; SALT];
        if let Some(e) = &self.encryption {
            (e.random)(&mut salt);
        }
        salt
    }

    /// A new data key and its record for `what` (`backup nightly`, `restore r1`), when the
    /// vault encrypts.
    pub(super) async fn new_data_key(
        &self,
        what: &str,
    ) -> Result<Option<(DataKey, EncryptionRecord)>, VaultError> {
        let Some(e) = &self.encryption else {
            return Ok(None);
        };
        let mut bytes = [0u8; 32];
        (e.random)(&mut bytes);
        let key = DataKey::from_bytes(bytes);
        bytes.fill(0);
        let record = EncryptionRecord::wrap(e.kek.as_ref(), &key)
            .await
            .map_err(|err| key_error(what, err))?;
        Ok(Some((key, record)))
    }

    /// The data key of an encrypted backup, unwrapped by the vault's key-encryption key;
    /// `None` for a plain backup. Fails with [`VaultError::Encryption`] naming the key the
    /// backup needs when no key, or another key, is configured.
    pub(super) async fn data_key(
        &self,
        record: &BackupRecord,
    ) -> Result<Option<DataKey>, VaultError> {
        let Some(enc) = &record.encryption else {
            return Ok(None);
        };
        self.unwrap_record(&format!("backup {}", record.name()), enc)
            .await
            .map(Some)
    }

    /// The data key `enc` wraps, unwrapped by the configured key-encryption key; an error
    /// naming the key `what` needs when none, or another one, is configured.
    async fn unwrap_record(
        &self,
        what: &str,
        enc: &EncryptionRecord,
    ) -> Result<DataKey, VaultError> {
        let Some(configured) = &self.encryption else {
            return Err(VaultError::Encryption {
                name: what.to_string(),
                reason: format!(
                    "it needs the {} key {} to decrypt, and none is configured ({})",
                    enc.key_kind,
                    enc.key_id,
                    match enc.key_kind {
                        KeyKind::Age => "pass its age identity file, e.g. --decryption-key-file",
                        KeyKind::Kms => "pass the KMS key, e.g. --decryption-key kms://<key>",
                        _ => "configure the vault with that key",
                    }
                ),
            });
        };
        enc.data_key(configured.kek.as_ref())
            .await
            .map_err(|e| key_error(what, e))
    }

    /// The data key of a restore's sealed files (from `restores/<name>/csdr-encryption.json`),
    /// or `None` when they are plain.
    pub(super) async fn restore_data_key(&self, name: &str) -> Result<Option<DataKey>, VaultError> {
        let key = super::layout::restore_file(name, super::layout::RESTORE_ENCRYPTION_FILE);
        let Some(bytes) = self.get(&key).await? else {
            return Ok(None);
        };
        let enc: EncryptionRecord =
            serde_json::from_slice(&bytes).map_err(|e| VaultError::Corrupt {
                key: self.full_key(&key),
                reason: e.to_string(),
            })?;
        self.unwrap_record(&format!("restore {name}"), &enc)
            .await
            .map(Some)
    }

    /// A restore's record from its stored bytes at `key` (E2): a sealed record is opened
    /// when the vault holds the key it is sealed with; without that key (none, or another
    /// one) the listing view is returned, which says with which key the details are sealed.
    /// A sealed record that does not open or does not match its clear fields under the right
    /// key is [`VaultError::Integrity`]; a key that cannot unwrap its data key is
    /// [`VaultError::Encryption`] naming the key.
    pub(super) async fn read_restore_record(
        &self,
        name: &str,
        key: &str,
        bytes: &[u8],
    ) -> Result<RestoreRecord, VaultError> {
        let view = RestoreRecord::from_json(bytes).map_err(|e| VaultError::Corrupt {
            key: self.full_key(key),
            reason: e.reason,
        })?;
        let (Some(sealed), Some(configured)) = (&view.encryption, &self.encryption) else {
            return Ok(view);
        };
        let enc = &sealed.record;
        if configured.kek.kind() != enc.key_kind || configured.kek.key_id() != enc.key_id {
            return Ok(view);
        }
        let data_key = self.unwrap_record(&format!("restore {name}"), enc).await?;
        RestoreRecord::open_sealed_json(bytes, &data_key, key).map_err(|e| VaultError::Integrity {
            key: self.full_key(key),
            reason: e.reason,
        })
    }

    /// Opens a stored file read from `stored_key` (already verified against its recorded
    /// digest) when the backup is encrypted; a file that does not authenticate is
    /// [`VaultError::Integrity`] naming the key.
    pub(super) fn open_file(
        &self,
        key: Option<&DataKey>,
        label: &str,
        stored_key: &str,
        bytes: Bytes,
    ) -> Result<Bytes, VaultError> {
        let Some(key) = key else {
            return Ok(bytes);
        };
        crate::crypto::open(key, label, &bytes)
            .map(Bytes::from)
            .map_err(|e| VaultError::Integrity {
                key: self.full_key(stored_key),
                reason: e.to_string(),
            })
    }
}
