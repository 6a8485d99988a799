//! Faults only some backends can show: endpoints that are missing, closed, dying mid-upload or
//! ignoring create-only writes; and the vault's identity (V3) on storage that outlives a
//! process.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use csdr_core::model::JobPhase;
use csdr_core::ports::vault::{Vault, VaultPhase};
use csdr_core::testing::{all_keys, companion_files, data, record, ts};
use csdr_core::vault::VaultOpenError;
use csdr_storage::StorageError;
use jiff::{SignedDuration, Timestamp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn later(hours: i64) -> Timestamp {
    Timestamp::now() + SignedDuration::from_hours(hours)
}

/// A TCP proxy in front of `upstream`. After `cut_after` bytes from clients in all, it cuts
/// every connection and refuses new ones (an endpoint that dies). With `rename_if_none_match`
/// it renames the `If-None-Match` request header, like a service that ignores it.
async fn proxy(upstream: SocketAddr, cut_after: usize, rename_if_none_match: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sent = Arc::new(AtomicUsize::new(0));
    let dead = Arc::new(AtomicBool::new(false));
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            if dead.load(Ordering::SeqCst) {
                drop(client);
                continue;
            }
            let (sent, dead) = (sent.clone(), dead.clone());
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = async {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match cr.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        let mut chunk = buf[..n].to_vec();
                        if rename_if_none_match {
                            rename_header(&mut chunk, b"if-none-match:", b"x-ignored-hdr:");
                        }
                        if sent.fetch_add(n, Ordering::SeqCst) + n > cut_after {
                            dead.store(true, Ordering::SeqCst);
                            return;
                        }
                        if sw.write_all(&chunk).await.is_err() {
                            return;
                        }
                    }
                };
                let down = async {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                };
                // Whichever side ends first ends the connection (both halves are dropped).
                tokio::select! {
                    _ = up => {}
                    _ = down => {}
                }
            });
        }
    });
    addr
}

fn rename_header(chunk: &mut [u8], from: &[u8], to: &[u8]) {
    let n = from.len();
    let mut i = 0;
    while i + n <= chunk.len() {
        if chunk[i..i + n].eq_ignore_ascii_case(from) {
            chunk[i..i + n].copy_from_slice(to);
            i += n;
        } else {
            i += 1;
        }
    }
}

fn moto_addr(endpoint: &str) -> SocketAddr {
    endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("CSDR_TEST_S3_ENDPOINT is http://127.0.0.1:<port>")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_bucket_is_unavailable_with_the_bucket_named() {
    let Some((endpoint, _)) = s3_env() else {
        return;
    };
    let bucket = unique("csdr-missing").to_lowercase();
    let bucket = &bucket[..bucket.len().min(63)];
    let url = format!("s3://{bucket}/p?endpoint={endpoint}&region=us-east-1");
    let vault = csdr_storage::connect(&spec_for("v", url), &impatient()).unwrap();
    let v = vault.validate(Timestamp::now()).await;
    assert_eq!(v.phase, VaultPhase::Unavailable);
    assert_eq!(
        v.message,
        format!("VaultError: bucket {bucket} does not exist; create it or correct the vault's URL")
    );
    let err = v.require_available().unwrap_err();
    assert!(err.to_string().starts_with("VaultError: bucket "), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_endpoint_is_unavailable_and_says_unreachable() {
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    let url = format!("s3://csdr-test/p?endpoint={endpoint}&region=us-east-1");
    let vault = csdr_storage::connect(&spec_for("v", url), &impatient()).unwrap();
    let v = vault.validate(Timestamp::now()).await;
    assert_eq!(v.phase, VaultPhase::Unavailable);
    assert!(
        v.message
            .starts_with(&format!("VaultError: endpoint {endpoint} unreachable: ")),
        "{}",
        v.message
    );
    assert!(
        v.message.contains("check the endpoint and the network"),
        "{}",
        v.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_ignoring_if_none_match_is_unavailable() {
    let Some((endpoint, bucket)) = s3_env() else {
        return;
    };
    let front = proxy(moto_addr(&endpoint), usize::MAX, true).await;
    let url = format!(
        "s3://{bucket}/{}?endpoint=http://{front}&region=us-east-1",
        unique("t")
    );
    let vault = csdr_storage::connect(&spec_for("v", url), &impatient()).unwrap();
    let v = vault.validate(Timestamp::now()).await;
    assert_eq!(v.phase, VaultPhase::Unavailable, "{}", v.message);
    assert!(
        v.message.contains("does not guarantee create-only writes")
            && v.message.contains("overwrote the first"),
        "{}",
        v.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_dying_mid_upload_leaves_nothing_visible() {
    let Some((endpoint, bucket)) = s3_env() else {
        return;
    };
    let prefix = unique("t");
    let direct_spec = spec_for(
        "killed",
        format!("s3://{bucket}/{prefix}?endpoint={endpoint}&region=us-east-1"),
    );
    let direct = csdr_storage::open(&direct_spec, &options()).await.unwrap();
    let (direct_store, _) = csdr_storage::connect_store(&direct_spec, &options()).unwrap();
    let bytes = data(6 * 1024 * 1024, 11);
    // Cut at the claim, inside the first part, inside the last part, around the commit.
    for (i, cut) in [
        600usize, 2_000_000, 5_800_000, 6_300_000, 6_310_000, 6_330_000,
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("b{i}");
        let front = proxy(moto_addr(&endpoint), cut, false).await;
        let spec = spec_for(
            "killed",
            format!("s3://{bucket}/{prefix}?endpoint=http://{front}&region=us-east-1"),
        );
        let dying = csdr_storage::connect(&spec, &impatient()).unwrap();
        let outcome = async {
            let mut up = dying.start_backup(&name).await?;
            for c in bytes.chunks(512 * 1024) {
                up.write(Bytes::copy_from_slice(c)).await?;
            }
            up.commit(
                record(&name, JobPhase::Completed, None),
                companion_files(&name),
            )
            .await
        }
        .await;
        eprintln!(
            "cut {cut}: {:?}",
            outcome
                .as_ref()
                .map(|_| "committed")
                .map_err(|e| e.to_string())
        );
        match outcome {
            Ok(_) => {
                // The commit got through before the cut: whole and verified.
                let got = direct.download_archive(&name).await.unwrap();
                assert_eq!(got.bytes, Bytes::from(bytes.clone()));
            }
            Err(e) => {
                assert!(e.to_string().starts_with("VaultError: "), "{e}");
                if direct.backup(&name).await.unwrap().is_some() {
                    // Committed, but the answer was lost: still whole and verified.
                    let got = direct.download_archive(&name).await.unwrap();
                    assert_eq!(got.bytes, Bytes::from(bytes.clone()));
                } else {
                    assert!(
                        !direct
                            .list_backups()
                            .await
                            .unwrap()
                            .iter()
                            .any(|r| r.name() == name)
                    );
                }
            }
        }
    }
    direct
        .remove_orphans(later(2), Duration::from_secs(3600))
        .await
        .unwrap();
    let keys = all_keys(direct_store.as_ref()).await;
    for i in 0..6 {
        let name = format!("b{i}");
        let prefix = format!("backups/{name}/");
        let mine: Vec<_> = keys.iter().filter(|k| k.starts_with(&prefix)).collect();
        if direct.backup(&name).await.unwrap().is_some() {
            assert_eq!(mine.len(), 7, "{mine:?}");
        } else {
            assert!(mine.is_empty(), "{name}: {mine:?}");
        }
    }
    // The first cut (at the claim) certainly failed.
    assert_eq!(direct.backup("b0").await.unwrap(), None);
}

async fn identity_is_fixed(url: String) {
    let name = unique("vault");
    let spec = spec_for(&name, url.clone());
    csdr_storage::open(&spec, &options()).await.unwrap();
    // The same vault opens again.
    let vault = csdr_storage::open(&spec, &options()).await.unwrap();
    // Another name at the same location does not.
    let err = csdr_storage::open(&spec_for("other", url.clone()), &options())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::Identity(VaultOpenError::ConfigurationMismatch { .. })
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&format!("belongs to vault `{name}`")),
        "{err}"
    );
    let v = csdr_storage::connect(&spec_for("other", url.clone()), &options())
        .unwrap()
        .validate(Timestamp::now())
        .await;
    assert_eq!(v.phase, VaultPhase::Unavailable);
    assert!(
        v.message
            .starts_with("VaultError: invalid vault configuration: "),
        "{}",
        v.message
    );
    // A deleted vault is never reused, under its name or another.
    vault
        .delete_vault(ts("2026-05-01T00:00:00Z"))
        .await
        .unwrap();
    for n in [name.as_str(), "other"] {
        let err = csdr_storage::open(&spec_for(n, url.clone()), &options())
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains(&format!(
                "vault `{name}` at {} was deleted at 2026-05-01T00:00:00Z",
                vault.location()
            )),
            "{err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_vault_identity_is_fixed() {
    let dir = tempfile::tempdir().unwrap();
    identity_is_fixed(format!("file://{}", dir.path().display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_vault_identity_is_fixed() {
    let Some((endpoint, bucket)) = s3_env() else {
        return;
    };
    identity_is_fixed(s3_url(&endpoint, &bucket)).await;
    // The region is part of the identity; the endpoint (network path) is not.
    let prefix = unique("t");
    let url = |region: &str| format!("s3://{bucket}/{prefix}?endpoint={endpoint}&region={region}");
    csdr_storage::open(&spec_for("r", url("us-east-1")), &options())
        .await
        .unwrap();
    let err = csdr_storage::open(&spec_for("r", url("eu-west-1")), &options())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("in region us-east-1"), "{err}");
    let alias = endpoint.replace("127.0.0.1", "localhost");
    csdr_storage::open(
        &spec_for(
            "r",
            format!("s3://{bucket}/{prefix}?endpoint={alias}&region=us-east-1"),
        ),
        &options(),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_vault_keeps_no_empty_attempt_folders() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let vault = csdr_storage::open(&spec_for("f", url), &options())
        .await
        .unwrap();
    let mut up = vault.start_backup("tidy").await.unwrap();
    up.write(bytes::Bytes::from_static(b"tarball"))
        .await
        .unwrap();
    up.commit(
        record("tidy", JobPhase::Completed, None),
        companion_files("tidy"),
    )
    .await
    .unwrap();
    let folder = dir.path().join("backups/tidy");
    assert!(folder.join("tidy.tar.gz").is_file());
    assert!(
        !folder.join("csdr-attempts").exists(),
        "the committed attempt's folder is left behind"
    );
    // A deleted backup leaves no folder either.
    vault.delete_backup("tidy").await.unwrap();
    assert!(!folder.exists());
    assert!(dir.path().join("csdr-vault.json").is_file());
}
