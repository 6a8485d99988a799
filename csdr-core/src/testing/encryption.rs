//! The suite of client-side envelope encryption (E2) through [`BlobVault`] on a
//! [`BlobStore`]: round trips, what the bucket holds, and what is refused.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;

use super::{TestStore, all_keys, record, sample_entry_digests, sample_entry_digests_file};
use crate::crypto::{
    CryptoError, DataKey, EncryptionRecord, KeyEncryptionKey, KeyKind, WrappedKey, open, seal,
};
use crate::digest::sha256_hex;
use crate::model::{EntryDigest, JobPhase, JobStatus, RestoreSpec};
use crate::ports::blob_store::BlobStore;
use crate::ports::vault::{Vault, VaultError};
use crate::vault::{BlobVault, RandomSource, VaultIdentity, VaultOptions};
use crate::vault_record::{BackupCompanions, BackupRecord, RestoreCompanions, RestoreRecord};

/// A symmetric key-encryption key for tests ([`KeyKind::Local`]): wraps with a fixed key.
pub struct LocalKek {
    id: String,
    key: DataKey,
}

impl LocalKek {
    /// A key named `id` whose bytes are all `seed`.
    pub fn new(id: &str, seed: u8) -> Self {
        LocalKek {
            id: id.to_string(),
            key: DataKey::from_bytes([seed; 32]),
        }
    }
}

impl std::fmt::Debug for LocalKek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKek").field("id", &self.id).finish()
    }
}

#[async_trait]
impl KeyEncryptionKey for LocalKek {
    fn kind(&self) -> KeyKind {
        KeyKind::Local
    }
    fn key_id(&self) -> String {
        self.id.clone()
    }
    async fn wrap(&self, key: &DataKey) -> Result<WrappedKey, CryptoError> {
        seal(&self.key, [0; 16], "data key", key.bytes()).map(WrappedKey)
    }
    async fn unwrap(&self, wrapped: &WrappedKey) -> Result<DataKey, CryptoError> {
        let error = |reason: String| CryptoError::Key {
            key_id: self.id.clone(),
            reason,
        };
        let bytes = open(&self.key, "data key", &wrapped.0).map_err(|e| error(e.to_string()))?;
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|_| error("the unwrapped key is not 32 bytes".into()))?;
        Ok(DataKey::from_bytes(array))
    }
}

/// A deterministic random source for tests (xorshift, never the same bytes twice in a run).
pub fn test_random() -> RandomSource {
    let state = Mutex::new(0x2545_f491_4f6c_dd1d_u64);
    Arc::new(move |buf: &mut [u8]| {
        let mut x = state.lock().unwrap();
        for b in buf.iter_mut() {
            *x ^= *x << 13;
            *x ^= *x >> 7;
            *x ^= *x << 17;
            *b = (*x >> 32) as u8;
        }
    })
}

/// The Secret value the suite backs up; it must never be found in the bucket.
pub const SECRET_VALUE: &str = "hunter2-do-not-leak-0f3a9c";

/// A tarball-like payload that holds [`SECRET_VALUE`] (plain and base64), several 64 KiB
/// chunks long.
fn payload() -> Vec<u8> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(SECRET_VALUE);
    let mut out = Vec::new();
    let mut i = 0u32;
    while out.len() < 300_000 {
        out.extend_from_slice(
            format!("{{\"kind\":\"Secret\",\"n\":{i},\"data\":{{\"password\":\"{b64}\"}},\"plain\":\"{SECRET_VALUE}\"}}\n").as_bytes(),
        );
        i += 1;
    }
    out
}

fn companions() -> BackupCompanions {
    let mut c = super::companions();
    c.logs
        .extend_from_slice(format!("msg=\"read secret {SECRET_VALUE}\"\n").as_bytes());
    c
}

async fn commit(vault: &BlobVault, name: &str, bytes: &[u8]) -> BackupRecord {
    let mut up = vault.start_backup(name).await.unwrap();
    // Uneven pieces, as the archive writer hands them over.
    for c in bytes.chunks(50_000) {
        up.write(Bytes::copy_from_slice(c)).await.unwrap();
    }
    up.write_entry_digests(sample_entry_digests_file().into())
        .await
        .unwrap();
    up.commit(
        record(name, JobPhase::Completed, Some("2026-01-31T00:00:00Z")),
        companions().encode(name).unwrap(),
    )
    .await
    .unwrap()
}

async fn stream_all(vault: &BlobVault, name: &str) -> Result<Vec<u8>, VaultError> {
    let mut s = vault.archive_stream(name).await?;
    let mut out = Vec::new();
    while let Some(chunk) = s.chunks.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

/// Replaces a stored object and its digest in the backup's metadata (an attacker who can
/// write the bucket), so that only the encryption can tell.
async fn replace(store: &dyn BlobStore, name: &str, file: &str, bytes: Vec<u8>) {
    let key = format!("backups/{name}/{file}");
    let meta_key = format!("backups/{name}/velero-backup.json");
    let mut r = BackupRecord::from_velero_json(&store.get(&meta_key).await.unwrap()).unwrap();
    let digest = EntryDigest {
        path: file.to_string(),
        sha256: sha256_hex(&bytes),
        size: bytes.len() as u64,
    };
    if r.archive.as_ref().is_some_and(|a| a.path == file) {
        r.archive = Some(digest);
    } else {
        for f in r.files.iter_mut().filter(|f| f.path == file) {
            *f = digest.clone();
        }
    }
    store.put(&key, bytes.into()).await.unwrap();
    store
        .put(&meta_key, r.to_velero_json().unwrap().into())
        .await
        .unwrap();
}

/// Every way of reading a backup's contents fails for `vault`; the errors' texts.
async fn every_read_fails(vault: &BlobVault, name: &str) -> Vec<String> {
    let mut errors = vec![
        vault.download_archive(name).await.unwrap_err().to_string(),
        match stream_all(vault, name).await {
            Ok(_) => panic!("archive_stream of {name} succeeded"),
            Err(e) => e.to_string(),
        },
    ];
    errors.push(vault.backup_companions(name).await.unwrap_err().to_string());
    errors.push(vault.backup_logs(name).await.unwrap_err().to_string());
    errors
}

/// Runs the encryption suite on the fresh store `t`: `kek` encrypts, `other` is another key
/// of the same kind. Panics, naming the behaviour, at the first one that does not hold.
pub async fn encryption_conformance(
    t: TestStore,
    kek: Arc<dyn KeyEncryptionKey>,
    other: Arc<dyn KeyEncryptionKey>,
) {
    let plain = BlobVault::new(
        VaultIdentity::new("encrypted", t.location.clone()),
        t.store.clone(),
        VaultOptions::default(),
    );
    let keyed = plain.clone().with_encryption(kek.clone(), test_random());
    let wrong = plain.clone().with_encryption(other.clone(), test_random());
    let store = t.store.as_ref();
    let bytes = payload();

    // Round trip: every read gives the plaintext back.
    let committed = commit(&keyed, "enc-a", &bytes).await;
    let enc = committed.encryption.clone().expect("the record says how");
    assert_eq!(enc.key_id, kek.key_id());
    assert_eq!(enc.key_kind, kek.kind());
    assert_eq!(enc.algorithm, EncryptionRecord::ALGORITHM);
    let archive = keyed.download_archive("enc-a").await.unwrap();
    assert_eq!(archive.bytes, bytes, "download_archive decrypts");
    assert_eq!(
        archive.entry_digests.map(|d| d.to_vec().unwrap()),
        Some(sample_entry_digests())
    );
    assert_eq!(
        stream_all(&keyed, "enc-a").await.unwrap(),
        bytes,
        "archive_stream decrypts"
    );
    let s = keyed.archive_stream("enc-a").await.unwrap();
    assert_eq!(
        s.entry_digests.map(|d| d.to_vec().unwrap()),
        Some(sample_entry_digests())
    );
    assert_eq!(
        keyed.backup_companions("enc-a").await.unwrap(),
        companions()
    );
    assert_eq!(keyed.backup_logs("enc-a").await.unwrap(), companions().logs);
    // V7 still covers the stored (sealed) object.
    let stored = store.get("backups/enc-a/enc-a.tar.gz").await.unwrap();
    let digest = committed.archive.clone().unwrap();
    assert_eq!(digest.size, stored.len() as u64);
    assert_eq!(digest.sha256, sha256_hex(&stored));
    assert_eq!(
        digest.size,
        crate::crypto::format::sealed_len(bytes.len() as u64)
    );
    // The listing metadata stays plain and Velero-readable, and names the key.
    let meta = store.get("backups/enc-a/velero-backup.json").await.unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&meta).unwrap();
    assert_eq!(doc["kind"], "Backup");
    assert_eq!(doc["csdr"]["encryption"]["keyId"], kek.key_id());
    assert_eq!(
        plain.list_backups().await.unwrap().len(),
        1,
        "listed without a key"
    );

    // A restore's files and record are sealed too: only what listing needs stays clear.
    let restore = sealed_restore("r-enc");
    let restore_logs =
        format!("msg=\"restored Secret shop/db with {SECRET_VALUE}\"\n").into_bytes();
    let files = RestoreCompanions {
        logs_gzip: crate::gzip::gzip(&restore_logs),
        ..RestoreCompanions::default()
    };
    keyed.put_restore(&restore, &files).await.unwrap();
    assert_eq!(keyed.restore_logs("r-enc").await.unwrap(), restore_logs);
    let opened = keyed.restore("r-enc").await.unwrap().expect("the restore");
    let sealing = opened
        .encryption
        .clone()
        .expect("the record says it is sealed");
    assert!(sealing.opened, "opened with the key");
    assert_eq!(sealing.record.key_id, kek.key_id());
    assert_eq!(
        RestoreRecord {
            encryption: None,
            ..opened
        },
        restore,
        "the key reads the whole record back"
    );
    for (vault, what) in [(&plain, "no key"), (&wrong, "another key")] {
        let e = vault.restore_logs("r-enc").await.unwrap_err().to_string();
        assert!(
            e.contains(&kek.key_id()) && e.contains("restore r-enc"),
            "{what}: {e}"
        );
        // Listing still works: name, backup, phase and times, and which key seals the rest.
        let view = vault.restore("r-enc").await.unwrap().expect("listed");
        assert_eq!(view.name(), "r-enc", "{what}");
        assert_eq!(view.spec.backup_name, "enc-a", "{what}");
        assert_eq!(view.status.phase, restore.status.phase, "{what}");
        assert_eq!(view.status.start_timestamp, restore.status.start_timestamp);
        assert_eq!(
            view.status.completion_timestamp,
            restore.status.completion_timestamp
        );
        assert_eq!(view.created, restore.created, "{what}");
        assert!(view.spec.namespace_mapping.is_empty(), "{what}");
        assert!(view.status.warnings.is_empty(), "{what}");
        let sealing = view.encryption.expect("the view says the rest is sealed");
        assert!(!sealing.opened, "{what}");
        let message = sealing.sealed_message();
        assert!(
            message.contains(&kek.key_id()) && message.contains("encrypted"),
            "{what}: {message}"
        );
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&store.get("restores/r-enc/csdr-restore.json").await.unwrap())
            .unwrap();
    assert_eq!(doc["kind"], "Restore");
    assert_eq!(doc["spec"]["backupName"], "enc-a");
    assert_eq!(doc["status"]["phase"], "PartiallyFailed");
    assert_eq!(doc["status"]["warnings"], 1);
    assert_eq!(doc["csdr"]["encryption"]["keyId"], kek.key_id());

    // No stored object holds the Secret's value, plain or base64.
    {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(SECRET_VALUE);
        let keys = all_keys(store).await;
        assert!(keys.len() >= 7, "{keys:?}");
        for key in keys {
            let object = store.get(&key).await.unwrap();
            for needle in [
                SECRET_VALUE.as_bytes(),
                b64.as_bytes(),
                b"shop/web",
                MAPPING_TARGET.as_bytes(),
                REGISTRY_TARGET.as_bytes(),
            ] {
                assert!(
                    !object.windows(needle.len()).any(|w| w == needle),
                    "{key} holds {}",
                    String::from_utf8_lossy(needle)
                );
            }
        }
    }

    // Without a key, or with another key: refused before any byte, naming the key needed.
    for (vault, what) in [(&plain, "no key"), (&wrong, "another key")] {
        for e in every_read_fails(vault, "enc-a").await {
            assert!(e.contains(&kek.key_id()), "{what}: {e}");
            assert!(e.contains("encrypted"), "{what}: {e}");
        }
        let err = vault.archive_stream("enc-a").await.unwrap_err();
        assert!(
            matches!(err, VaultError::Encryption { .. }),
            "{what}: {err:?}"
        );
    }
    // Key material never shows in Debug output.
    let debug = format!("{keyed:?} {committed:?}");
    assert!(debug.contains(&kek.key_id()), "{debug}");

    // Plain backups still read, with or without a key.
    commit(&plain, "plain-b", &bytes).await;
    assert!(
        store
            .get("backups/plain-b/plain-b.tar.gz")
            .await
            .unwrap()
            .windows(SECRET_VALUE.len())
            .any(|w| w == SECRET_VALUE.as_bytes())
    );
    assert_eq!(
        keyed.download_archive("plain-b").await.unwrap().bytes,
        bytes
    );
    assert_eq!(stream_all(&keyed, "plain-b").await.unwrap(), bytes);
    assert_eq!(
        keyed.backup_logs("plain-b").await.unwrap(),
        companions().logs
    );

    // A flipped ciphertext byte (its digest rewritten to match) is refused.
    commit(&keyed, "enc-flip", &bytes).await;
    let mut flipped = store
        .get("backups/enc-flip/enc-flip.tar.gz")
        .await
        .unwrap()
        .to_vec();
    flipped[200_000] ^= 0x01;
    replace(store, "enc-flip", "enc-flip.tar.gz", flipped).await;
    for e in every_read_fails_archive(&keyed, "enc-flip").await {
        assert!(e.contains("cannot be decrypted"), "{e}");
        assert!(e.contains("enc-flip.tar.gz"), "{e}");
    }

    // A truncated tarball: the last chunk dropped, at a chunk boundary.
    commit(&keyed, "enc-cut", &bytes).await;
    let whole = store.get("backups/enc-cut/enc-cut.tar.gz").await.unwrap();
    let sealed_chunk = crate::crypto::format::CHUNK + crate::crypto::format::TAG;
    let cut = crate::crypto::format::HEADER + 3 * sealed_chunk;
    assert!(cut < whole.len());
    replace(store, "enc-cut", "enc-cut.tar.gz", whole[..cut].to_vec()).await;
    for e in every_read_fails_archive(&keyed, "enc-cut").await {
        assert!(e.contains("cannot be decrypted"), "{e}");
    }

    // Another backup's wrapped key swapped in: nothing opens.
    commit(&keyed, "enc-swap", &bytes).await;
    let meta_key = "backups/enc-swap/velero-backup.json";
    let mut r = BackupRecord::from_velero_json(&store.get(meta_key).await.unwrap()).unwrap();
    r.encryption = Some(enc.clone());
    store
        .put(meta_key, r.to_velero_json().unwrap().into())
        .await
        .unwrap();
    let errors = every_read_fails(&keyed, "enc-swap").await;
    for e in errors {
        assert!(e.contains("cannot be decrypted"), "{e}");
    }

    tampered_restore_records_are_rejected(&keyed, store).await;
}

/// The namespace a sealed restore maps `shop` to; it must never be found in the bucket.
pub const MAPPING_TARGET: &str = "shop-mapped-5e1d0b";
/// The registry a sealed restore maps `docker.io/` to; never found in the bucket either.
const REGISTRY_TARGET: &str = "registry.mapped-77a2.example/";

/// A restore whose record holds a namespace and a registry mapping and a warning naming
/// [`SECRET_VALUE`].
fn sealed_restore(name: &str) -> RestoreRecord {
    let mut spec = RestoreSpec::new(name, "enc-a");
    spec.namespace_mapping = [("shop".to_string(), MAPPING_TARGET.to_string())].into();
    spec.image_registry_mapping = [("docker.io/".to_string(), REGISTRY_TARGET.to_string())].into();
    RestoreRecord {
        spec,
        status: JobStatus {
            phase: JobPhase::PartiallyFailed,
            warnings: vec![crate::model::Issue::general(format!(
                "Secret {MAPPING_TARGET}/db kept its value {SECRET_VALUE}"
            ))],
            start_timestamp: Some(super::ts("2026-01-02T00:00:00Z")),
            completion_timestamp: Some(super::ts("2026-01-02T00:01:00Z")),
            ..JobStatus::default()
        },
        created: super::ts("2026-01-02T00:00:00Z"),
        encryption: None,
    }
}

/// A sealed restore record that was tampered with is refused by the key that sealed it,
/// naming the record: a flipped byte of the sealed details, a changed clear field, the
/// sealed details of another restore moved in.
async fn tampered_restore_records_are_rejected(keyed: &BlobVault, store: &dyn BlobStore) {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let files = RestoreCompanions::default();
    for name in ["r-flip", "r-phase", "r-moved", "r-source"] {
        keyed
            .put_restore(&sealed_restore(name), &files)
            .await
            .unwrap();
    }
    let key = |name: &str| format!("restores/{name}/csdr-restore.json");
    let doc = |bytes: Bytes| serde_json::from_slice::<serde_json::Value>(&bytes).unwrap();
    let put = |name: &str, doc: serde_json::Value| {
        let key = key(name);
        async move {
            store
                .put(&key, serde_json::to_vec(&doc).unwrap().into())
                .await
                .unwrap();
        }
    };
    // A flipped byte of the sealed details.
    let mut flipped = doc(store.get(&key("r-flip")).await.unwrap());
    let mut sealed = b64
        .decode(flipped["csdr"]["sealed"].as_str().unwrap())
        .unwrap();
    let at = sealed.len() / 2;
    sealed[at] ^= 0x01;
    flipped["csdr"]["sealed"] = b64.encode(&sealed).into();
    put("r-flip", flipped).await;
    // A clear field changed: a PartiallyFailed restore made to look Completed.
    let mut phase = doc(store.get(&key("r-phase")).await.unwrap());
    phase["status"]["phase"] = "Completed".into();
    put("r-phase", phase).await;
    // Another restore's sealed details (and data key) moved in.
    let mut moved = doc(store.get(&key("r-moved")).await.unwrap());
    let source = doc(store.get(&key("r-source")).await.unwrap());
    moved["csdr"] = source["csdr"].clone();
    put("r-moved", moved).await;
    for (name, says) in [
        ("r-flip", "cannot be decrypted"),
        ("r-phase", "status.phase"),
        ("r-moved", "cannot be decrypted"),
    ] {
        let err = keyed.restore(name).await.unwrap_err();
        assert!(
            matches!(err, VaultError::Integrity { .. }),
            "{name}: {err:?}"
        );
        let text = err.to_string();
        assert!(text.contains(says), "{name}: {text}");
        assert!(text.contains(&key(name)), "{name}: {text}");
    }
    assert!(keyed.restore("r-source").await.unwrap().is_some());
}

/// The tarball reads of a damaged backup both fail; their texts.
async fn every_read_fails_archive(vault: &BlobVault, name: &str) -> Vec<String> {
    vec![
        vault.download_archive(name).await.unwrap_err().to_string(),
        match stream_all(vault, name).await {
            Ok(_) => panic!("archive_stream of {name} succeeded"),
            Err(e) => e.to_string(),
        },
    ]
}
