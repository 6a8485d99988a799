//! Stores and settings shared by the storage tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use csdr_core::model::VaultSpec;
use csdr_core::testing::TestStore;
use csdr_storage::{S3Credentials, StorageOptions};

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

/// Runs Python with boto3 (the venv `scripts/test.sh` made) against the test server.
pub fn boto3(endpoint: &str, script: &str) -> String {
    let venv = std::env::var("CSDR_VENV").unwrap_or_else(|_| ".venv".into());
    let out = std::process::Command::new(format!("{venv}/bin/python"))
        .arg("-c")
        .arg(format!(
            "import boto3\nE = {endpoint:?}\ns3 = boto3.client('s3', endpoint_url=E, region_name='us-east-1')\nkms = boto3.client('kms', endpoint_url=E, region_name='us-east-1')\n{script}"
        ))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .expect("the test venv's python (scripts/test.sh sets CSDR_VENV)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A new identity file written by `age-keygen` in `dir`; its path and public recipient.
pub fn keygen(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, String) {
    let path = dir.join(name);
    let out = std::process::Command::new("age-keygen")
        .arg("-o")
        .arg(&path)
        .output()
        .expect("the age-keygen tool (scripts/test.sh installs age)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_string();
    (path, recipient)
}
