//! Conformance suites and fixtures for stores and vaults (feature `testing`).
//!
//! As `object_store` runs one integration suite on every store it supports, every
//! [`BlobStore`] implementation runs [`blob_store_conformance`] and [`vault_conformance`]:
//! the in-memory store in csdr-core's tests, the file and S3 stores in csdr-storage's. A new
//! backend is done when both pass on it. Each check panics with the behaviour it expected.
//!
//! ```
//! # futures::executor::block_on(async {
//! use std::sync::Arc;
//! use csdr_core::testing::{TestStore, blob_store_conformance, vault_conformance};
//! use csdr_core::vault::MemoryBlobStore;
//!
//! blob_store_conformance(&MemoryBlobStore::new()).await;
//! vault_conformance(|| async { TestStore::new(Arc::new(MemoryBlobStore::new()), "memory://") }).await;
//! # });
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failed check is a test failure

mod blob_store;
mod encryption;
mod pod_volume;
mod vault;

use std::any::Any;
use std::sync::Arc;

use bytes::Bytes;
use jiff::Timestamp;
use serde_json::json;

pub use blob_store::blob_store_conformance;
pub use encryption::{LocalKek, SECRET_VALUE, encryption_conformance, test_random};
pub use pod_volume::SimPodVolumeMover;
pub use vault::vault_conformance;

use crate::model::{BackupSpec, EntryDigest, JobPhase, JobStatus};
use crate::ports::blob_store::BlobStore;
use crate::ports::vault::BackupUpload;
use crate::vault_record::{
    BackupCompanions, BackupRecord, CompanionFile, JobResults, MessageGroups,
};

/// A fresh, empty store for one check of [`vault_conformance`].
pub struct TestStore {
    /// The store.
    pub store: Arc<dyn BlobStore>,
    /// Its location as messages show it (`file:///tmp/x`, `s3://bucket/prefix`).
    pub location: String,
    /// Whatever keeps the store alive (a temporary folder), dropped with it.
    pub guard: Option<Box<dyn Any + Send>>,
}

impl TestStore {
    /// A store that needs no guard.
    pub fn new(store: Arc<dyn BlobStore>, location: impl Into<String>) -> Self {
        TestStore {
            store,
            location: location.into(),
            guard: None,
        }
    }
}

/// A timestamp from RFC 3339 text.
pub fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A record of backup `name` in `phase`, expiring at `expires`.
pub fn record(name: &str, phase: JobPhase, expires: Option<&str>) -> BackupRecord {
    let status = JobStatus {
        phase,
        start_timestamp: Some(ts("2026-01-01T00:00:00Z")),
        completion_timestamp: Some(ts("2026-01-01T00:05:00Z")),
        expiration: expires.map(ts),
        ..JobStatus::default()
    };
    let mut r = BackupRecord::new(BackupSpec::new(name), status, ts("2026-01-01T00:00:00Z"));
    r.resource_counts.insert("apps/v1/Deployment".into(), 1);
    r
}

/// The companions the suites commit with every backup.
pub fn companions() -> BackupCompanions {
    let mut c = BackupCompanions {
        logs: b"time=1 level=info msg=\"backed up shop/web\"\n".to_vec(),
        results: JobResults {
            errors: MessageGroups::default(),
            warnings: MessageGroups {
                namespaces: [(
                    "shop".to_string(),
                    vec!["Deployment shop/web: odd".to_string()],
                )]
                .into_iter()
                .collect(),
                ..MessageGroups::default()
            },
        },
        ..BackupCompanions::default()
    };
    c.resource_list
        .insert("apps/v1/Deployment".into(), vec!["shop/web".into()]);
    c.csi_volume_snapshots.push(
        crate::object::KubeObject::new(json!({
            "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
            "metadata": {"name": "data-web-0", "namespace": "shop"}}))
        .unwrap(),
    );
    c
}

/// [`companions`], encoded for a commit of backup `name`.
pub fn companion_files(name: &str) -> Vec<CompanionFile> {
    companions().encode(name).unwrap()
}

/// The entry digests the suites stream for every committed backup.
pub fn sample_entry_digests() -> Vec<EntryDigest> {
    [
        "metadata/version",
        "resources/deployments.apps/namespaces/shop/web.json",
    ]
    .iter()
    .enumerate()
    .map(|(i, p)| EntryDigest {
        path: p.to_string(),
        sha256: format!("{i:x}").repeat(64),
        size: 6 + i as u64,
    })
    .collect()
}

/// [`sample_entry_digests`] as the entry-digests file's gzip bytes.
pub fn sample_entry_digests_file() -> Vec<u8> {
    use crate::archive::EntryDigestSink;
    let mut w = crate::vault_record::EntryDigestsWriter::new(Vec::new());
    for d in sample_entry_digests() {
        w.entry(&d.path, &d.sha256, d.size).unwrap();
    }
    w.finish().unwrap()
}

/// Deterministic pseudo-random bytes.
pub fn data(len: usize, seed: u8) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ u32::from(seed);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// Writes `bytes` to a backup upload in chunks of `chunk`.
pub async fn write_all(upload: &mut Box<dyn BackupUpload>, bytes: &[u8], chunk: usize) {
    for c in bytes.chunks(chunk) {
        upload.write(Bytes::copy_from_slice(c)).await.unwrap();
    }
}

/// Every key of a store, sorted.
pub async fn all_keys(store: &dyn BlobStore) -> Vec<String> {
    use futures::TryStreamExt;
    let mut keys: Vec<String> = store
        .list("")
        .map_ok(|m| m.key)
        .try_collect()
        .await
        .unwrap();
    keys.sort();
    keys
}
