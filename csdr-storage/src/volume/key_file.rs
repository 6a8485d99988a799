//! A volume repository's key protected by a key-encryption key (E2 for volume data): the same
//! `age` recipient or KMS key that encrypts backups wraps the repository's key, so no password
//! needs to be kept beside the vault.
//!
//! On first use a random 256-bit key is made, wrapped, and stored create-only at
//! `restic/<repository>/csdr-repository-key.json` (an [`EncryptionRecord`]; the `restic` tool
//! ignores the file). Later uses unwrap it. The unwrapped key, hex-encoded, is the restic
//! password, so `restic` opens the repository with it too.

use std::sync::Arc;

use bytes::Bytes;
use csdr_core::crypto::{DataKey, EncryptionRecord, KeyEncryptionKey};
use csdr_core::ports::blob_store::{BlobError, BlobStore};
use csdr_core::vault::RandomSource;

use super::backend::RESTIC_FOLDER;
use super::repository::RepositoryKey;
use crate::StorageError;

/// The file, in the repository's folder, that holds the wrapped repository key.
pub const REPOSITORY_KEY_FILE: &str = "csdr-repository-key.json";

/// The key of repository `name`, wrapped by `kek`: unwrapped from the vault, or made with
/// `random`, wrapped and stored when the repository has none yet.
pub async fn repository_key_from_kek(
    store: &Arc<dyn BlobStore>,
    name: &str,
    kek: &dyn KeyEncryptionKey,
    random: &RandomSource,
) -> Result<RepositoryKey, StorageError> {
    let path = format!("{RESTIC_FOLDER}/{name}/{REPOSITORY_KEY_FILE}");
    let origin = format!("{} key {}", kek.kind(), kek.key_id());
    let key_error = |reason: String| StorageError::Key {
        source_name: origin.clone(),
        reason,
    };
    let store_error = |action: &str, e: BlobError| StorageError::VolumeRepository {
        repository: format!("{RESTIC_FOLDER}/{name}"),
        action: action.to_string(),
        reason: e.chain(),
        source: Box::new(e),
    };
    let stored = match store.get(&path).await {
        Ok(bytes) => Some(bytes),
        Err(BlobError::NotFound { .. }) => None,
        Err(e) => return Err(store_error("read the key of", e)),
    };
    let record = match stored {
        Some(bytes) => serde_json::from_slice::<EncryptionRecord>(&bytes).map_err(|e| {
            key_error(format!(
                "{path} in the vault is not a wrapped repository key: {e}"
            ))
        })?,
        None => {
            let mut bytes = [0u8; 32];
            random(&mut bytes);
            let record = EncryptionRecord::wrap(kek, &DataKey::from_bytes(bytes))
                .await
                .map_err(|e| key_error(e.to_string()))?;
            let json = serde_json::to_vec_pretty(&record)
                .map_err(|e| key_error(format!("cannot encode the wrapped key: {e}")))?;
            match store.put_if_absent(&path, Bytes::from(json)).await {
                Ok(()) => record,
                // Another agent made it first: use theirs.
                Err(BlobError::AlreadyExists { .. }) => {
                    let bytes = store
                        .get(&path)
                        .await
                        .map_err(|e| store_error("read the key of", e))?;
                    serde_json::from_slice(&bytes).map_err(|e| {
                        key_error(format!(
                            "{path} in the vault is not a wrapped repository key: {e}"
                        ))
                    })?
                }
                Err(e) => return Err(store_error("store the key of", e)),
            }
        }
    };
    if record.key_id != kek.key_id() {
        return Err(key_error(format!(
            "volume repository {RESTIC_FOLDER}/{name} is protected by {} key {}; give that key",
            record.key_kind, record.key_id
        )));
    }
    let key = kek
        .unwrap(&record.wrapped_key)
        .await
        .map_err(|e| key_error(e.to_string()))?;
    let hex: String = key.bytes().iter().map(|b| format!("{b:02x}")).collect();
    RepositoryKey::new(hex, origin)
}
