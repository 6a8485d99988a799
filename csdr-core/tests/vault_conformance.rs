//! The conformance suites on the in-memory store, and the protocol's answers to faults only
//! the in-memory store can inject (an answer lost after the write took effect).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

use std::sync::Arc;

use bytes::Bytes;
use csdr_core::model::JobPhase;
use csdr_core::ports::blob_store::BlobError;
use csdr_core::ports::vault::{Vault, VaultError};
use csdr_core::testing::{
    TestStore, all_keys, blob_store_conformance, companion_files, record, vault_conformance,
};
use csdr_core::vault::{BlobVault, Fault, MemoryBlobStore, VaultIdentity, VaultOptions};

#[test]
fn memory_store_conforms() {
    futures::executor::block_on(async_memory_store_conforms())
}

async fn async_memory_store_conforms() {
    blob_store_conformance(&MemoryBlobStore::new()).await;
}

#[test]
fn vault_on_memory_store_conforms() {
    futures::executor::block_on(async_vault_on_memory_store_conforms())
}

async fn async_vault_on_memory_store_conforms() {
    vault_conformance(|| async { TestStore::new(Arc::new(MemoryBlobStore::new()), "memory://") })
        .await;
}

async fn vault_on(store: &MemoryBlobStore) -> BlobVault {
    BlobVault::open(
        VaultIdentity::new("faults", "memory://"),
        Arc::new(store.clone()),
        VaultOptions::default(),
    )
    .await
    .unwrap()
}

fn metadata_create(fault: fn() -> Fault) -> csdr_core::vault::FaultHook {
    Arc::new(move |call| {
        (call.operation == "put_if_absent" && call.key.ends_with("/velero-backup.json")).then(fault)
    })
}

fn timeout() -> BlobError {
    BlobError::Other {
        operation: "create".into(),
        key: "velero-backup.json".into(),
        transient: true,
        source: "operation timed out".into(),
    }
}

#[test]
fn a_commit_whose_answer_is_lost_reads_back_that_it_won() {
    futures::executor::block_on(async_a_commit_whose_answer_is_lost_reads_back_that_it_won())
}

async fn async_a_commit_whose_answer_is_lost_reads_back_that_it_won() {
    let store = MemoryBlobStore::new();
    let vault = vault_on(&store).await;
    store.set_fault_hook(Some(metadata_create(|| Fault::After(timeout()))));
    let mut up = vault.start_backup("lost").await.unwrap();
    up.write(Bytes::from_static(b"tarball")).await.unwrap();
    let committed = up
        .commit(
            record("lost", JobPhase::Completed, None),
            companion_files("lost"),
        )
        .await
        .unwrap();
    store.set_fault_hook(None);
    assert_eq!(vault.backup("lost").await.unwrap(), Some(committed));
    assert_eq!(
        vault.download_archive("lost").await.unwrap().bytes,
        Bytes::from_static(b"tarball")
    );
}

#[test]
fn a_commit_that_fails_before_the_commit_point_leaves_nothing() {
    futures::executor::block_on(async_a_commit_that_fails_before_the_commit_point_leaves_nothing())
}

async fn async_a_commit_that_fails_before_the_commit_point_leaves_nothing() {
    let store = MemoryBlobStore::new();
    let vault = vault_on(&store).await;
    store.set_fault_hook(Some(metadata_create(|| Fault::Before(timeout()))));
    let mut up = vault.start_backup("failed").await.unwrap();
    up.write(Bytes::from_static(b"tarball")).await.unwrap();
    let err = up
        .commit(
            record("failed", JobPhase::Completed, None),
            companion_files("failed"),
        )
        .await
        .unwrap_err();
    store.set_fault_hook(None);
    assert!(
        matches!(
            err,
            VaultError::Storage {
                transient: true,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_transient());
    assert!(err.to_string().contains("operation timed out"), "{err}");
    assert_eq!(vault.backup("failed").await.unwrap(), None);
    assert_eq!(all_keys(&store).await, vec!["csdr-vault.json".to_string()]);
    // The name is free again.
    vault
        .start_backup("failed")
        .await
        .unwrap()
        .abort()
        .await
        .unwrap();
}

#[test]
fn store_errors_become_vault_errors_a_user_can_act_on() {
    futures::executor::block_on(async_store_errors_become_vault_errors_a_user_can_act_on())
}

async fn async_store_errors_become_vault_errors_a_user_can_act_on() {
    let store = MemoryBlobStore::new();
    let vault = vault_on(&store).await;
    store.set_fault_hook(Some(Arc::new(|call| {
        (call.operation == "list").then(|| {
            Fault::Before(BlobError::Permission {
                key: "backups/".into(),
                source: "403 AccessDenied".into(),
            })
        })
    })));
    let err = vault.list_backups().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "VaultError: access denied to memory://backups/: 403 AccessDenied; check the credentials and the bucket's policy"
    );
    store.set_fault_hook(Some(Arc::new(|call| {
        (call.operation == "head").then(|| {
            Fault::Before(BlobError::Unavailable {
                endpoint: "http://127.0.0.1:9".into(),
                source: "connection refused".into(),
            })
        })
    })));
    let err = vault.backup("x").await.unwrap_err();
    assert!(err.is_transient());
    assert!(
        err.to_string()
            .starts_with("VaultError: endpoint http://127.0.0.1:9 unreachable: connection refused"),
        "{err}"
    );
}

#[test]
fn encryption_on_memory_store_conforms() {
    futures::executor::block_on(csdr_core::testing::encryption_conformance(
        TestStore::new(Arc::new(MemoryBlobStore::new()), "memory://"),
        Arc::new(csdr_core::testing::LocalKek::new("local:team-a", 1)),
        Arc::new(csdr_core::testing::LocalKek::new("local:team-b", 2)),
    ));
}
