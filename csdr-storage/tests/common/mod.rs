//! Stores and settings shared by the storage tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use csdr_core::model::VaultSpec;
use csdr_core::testing::TestStore;
use csdr_storage::{S3Credentials, StorageOptions};

#[path = "tools.rs"]
mod tools;
#[allow(unused_imports)]
pub use tools::{boto3, keygen};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name unique in this test run (also across processes).
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}-{}-{nanos:x}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn options() -> StorageOptions {
    StorageOptions {
        // 5 MiB: S3's smallest part, so a 6 MiB tarball is a real two-part upload.
        part_size: 5 * 1024 * 1024,
        // The test server's key (scripts/test.sh), given explicitly: without it the S3 client
        // would look for credentials in the environment and then ask the instance metadata
        // service, which is no part of these tests.
        credentials: Some(S3Credentials {
            access_key_id: "testing".into(),
            secret_access_key: "testing".into(),
            session_token: None,
        }),
        ..StorageOptions::default()
    }
}

/// Options that give up at once (for unreachable endpoints).
pub fn impatient() -> StorageOptions {
    StorageOptions {
        connect_timeout: Some(Duration::from_secs(2)),
        request_timeout: Some(Duration::from_secs(5)),
        max_retries: Some(0),
        retry_timeout: Some(Duration::from_secs(5)),
        ..options()
    }
}

pub fn spec_for(name: &str, url: String) -> VaultSpec {
    VaultSpec {
        name: name.to_string(),
        url,
        region: None,
        network: None,
    }
}

/// The store a URL names, as the conformance suites take it.
pub fn store_for(url: String, guard: Option<tempfile::TempDir>) -> TestStore {
    let (store, identity) =
        csdr_storage::connect_store(&spec_for("conformance", url), &options()).unwrap();
    TestStore {
        store,
        location: identity.location,
        guard: guard.map(|g| Box::new(g) as Box<dyn std::any::Any + Send>),
    }
}

/// A fresh `file://` store in a folder that does not exist yet (the client creates it).
pub fn file_store() -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}/vault", dir.path().display());
    store_for(url, Some(dir))
}

/// A fresh prefix in the S3 test bucket, or `None` when no S3 server is configured.
pub fn s3_store() -> Option<TestStore> {
    let (endpoint, bucket) = s3_env()?;
    Some(store_for(s3_url(&endpoint, &bucket), None))
}

/// A fresh object_store `InMemory` behind the adapter (the adapter without any service).
pub fn object_memory_store() -> TestStore {
    let blobs = csdr_storage::ObjectStoreBlobs::new(
        Arc::new(object_store::memory::InMemory::new()),
        "some/prefix",
    );
    TestStore::new(Arc::new(blobs), "object-store-memory://some/prefix")
}

/// The S3 test server from `scripts/test.sh`: `None` (with a note) when it is not configured,
/// a failure when it is not configured in CI.
pub fn s3_env() -> Option<(String, String)> {
    match (
        std::env::var("CSDR_TEST_S3_ENDPOINT"),
        std::env::var("CSDR_TEST_S3_BUCKET"),
    ) {
        (Ok(endpoint), Ok(bucket)) => Some((endpoint, bucket)),
        _ => {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "CI is set but CSDR_TEST_S3_ENDPOINT/CSDR_TEST_S3_BUCKET are not: the S3 vault tests must run in CI (use scripts/test.sh)"
                );
            }
            eprintln!(
                "note: skipping S3 vault test: CSDR_TEST_S3_ENDPOINT/CSDR_TEST_S3_BUCKET are not set (run scripts/test.sh)"
            );
            None
        }
    }
}

/// An S3 URL for a fresh prefix in the test bucket.
pub fn s3_url(endpoint: &str, bucket: &str) -> String {
    format!(
        "s3://{bucket}/{}?endpoint={endpoint}&region=us-east-1",
        unique("t")
    )
}
