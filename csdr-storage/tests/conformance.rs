//! csdr-core's conformance suites — the `BlobStore` port, and the vault protocol on top —
//! run on every store this crate builds: a `file://` folder, a real S3 server
//! (`CSDR_TEST_S3_ENDPOINT`, see `scripts/test.sh`) and object_store's `InMemory` through the
//! same adapter.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

mod common;

use common::*;
use csdr_core::testing::{blob_store_conformance, vault_conformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_store_conforms() {
    let t = file_store();
    blob_store_conformance(t.store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_on_file_store_conforms() {
    vault_conformance(|| async { file_store() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_store_conforms() {
    let Some(t) = s3_store() else { return };
    blob_store_conformance(t.store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_on_s3_store_conforms() {
    if s3_env().is_none() {
        return;
    }
    vault_conformance(|| async { s3_store().unwrap() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_store_memory_conforms() {
    let t = object_memory_store();
    blob_store_conformance(t.store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_on_object_store_memory_conforms() {
    vault_conformance(|| async { object_memory_store() }).await;
}
