//! Backends and fixtures shared by the vault tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use csdr_core::model::{BackupSpec, JobPhase, JobStatus, VaultSpec};
use csdr_core::vault_record::{BackupCompanions, BackupRecord, JobResults, MessageGroups};
use csdr_storage::{ObjectVault, S3Credentials, StorageOptions};
use jiff::Timestamp;
use serde_json::json;

/// A vault under test, with whatever keeps its storage alive.
pub struct TestVault {
    pub vault: ObjectVault,
    pub spec: VaultSpec,
    _dir: Option<tempfile::TempDir>,
}

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

fn spec(url: String) -> VaultSpec {
    VaultSpec {
        name: unique("vault"),
        url,
        region: None,
        network: None,
    }
}

pub async fn memory() -> Option<TestVault> {
    let spec = spec("memory://".into());
    let vault = ObjectVault::open(&spec, &options()).await.unwrap();
    Some(TestVault {
        vault,
        spec,
        _dir: None,
    })
}

pub async fn file() -> Option<TestVault> {
    let dir = tempfile::tempdir().unwrap();
    // A folder that does not exist yet: the vault creates it.
    let spec = spec(format!("file://{}/vault", dir.path().display()));
    let vault = ObjectVault::open(&spec, &options()).await.unwrap();
    Some(TestVault {
        vault,
        spec,
        _dir: Some(dir),
    })
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

pub async fn s3() -> Option<TestVault> {
    let (endpoint, bucket) = s3_env()?;
    let spec = spec(s3_url(&endpoint, &bucket));
    let vault = ObjectVault::open(&spec, &options()).await.unwrap();
    Some(TestVault {
        vault,
        spec,
        _dir: None,
    })
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

pub fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A record in a phase, expiring at `expires`.
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

/// The companions of [`companions`], encoded for a commit of backup `name`.
pub fn companion_files(name: &str) -> Vec<csdr_core::vault_record::CompanionFile> {
    companions().encode(name).unwrap()
}

/// The entry digests the suites stream for every committed backup.
pub fn sample_entry_digests() -> Vec<csdr_core::model::EntryDigest> {
    [
        "metadata/version",
        "resources/deployments.apps/namespaces/shop/web.json",
    ]
    .iter()
    .enumerate()
    .map(|(i, p)| csdr_core::model::EntryDigest {
        path: p.to_string(),
        sha256: format!("{i:x}").repeat(64),
        size: 6 + i as u64,
    })
    .collect()
}

/// [`sample_entry_digests`] as the entry-digests file's gzip bytes.
pub fn sample_entry_digests_file() -> Vec<u8> {
    use csdr_core::archive::EntryDigestSink;
    let mut w = csdr_core::vault_record::EntryDigestsWriter::new(Vec::new());
    for d in sample_entry_digests() {
        w.entry(&d.path, &d.sha256, d.size).unwrap();
    }
    w.finish().unwrap()
}

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
        csdr_core::object::KubeObject::new(json!({
            "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
            "metadata": {"name": "data-web-0", "namespace": "shop"}}))
        .unwrap(),
    );
    c
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

/// Writes `bytes` in chunks of `chunk`.
pub async fn write_all(
    upload: &mut Box<dyn csdr_core::ports::vault::BackupUpload>,
    bytes: &[u8],
    chunk: usize,
) {
    for c in bytes.chunks(chunk) {
        upload.write(Bytes::copy_from_slice(c)).await.unwrap();
    }
}
