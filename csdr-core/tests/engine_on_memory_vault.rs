//! The engine on the in-memory vault, without any adapter: back up a simulated cluster,
//! restore it into a newer one, expire and collect backups, delete, and refuse a damaged
//! tarball before anything is applied.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

use std::sync::Arc;
use std::time::Duration;

use csdr_core::engine::{Engine, EngineOptions};
use csdr_core::model::{BackupSpec, JobPhase, RestoreSpec};
use csdr_core::object::GroupVersionResource;
use csdr_core::ports::clock::ManualClock;
use csdr_core::ports::cluster::Cluster;
use csdr_core::ports::vault::Vault;
use csdr_core::releases::KubeRelease;
use csdr_core::sim::{SimCluster, SimDocument};
use csdr_core::vault::{BlobVault, MemoryBlobStore, VaultIdentity, VaultOptions};

const SHOP: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config, namespace: shop}
data: {greeting: hello}
---
apiVersion: extensions/v1beta1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  replicas: 2
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: "nginx:1.17"}
"#;

/// Every key of the store, sorted.
async fn all_keys(store: &MemoryBlobStore) -> Vec<String> {
    use csdr_core::ports::blob_store::BlobStore;
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

fn shop() -> SimCluster {
    let sim = SimCluster::new(KubeRelease::V1_16);
    sim.load_documents(&[SimDocument {
        path: "shop.yaml".into(),
        text: SHOP.into(),
    }])
    .unwrap();
    sim
}

/// A vault on a memory store dated by `clock`, and the store.
async fn vault(clock: &Arc<ManualClock>) -> (Arc<dyn Vault>, MemoryBlobStore) {
    let store = MemoryBlobStore::with_clock(clock.clone());
    let vault = BlobVault::open(
        VaultIdentity::new("unit", "memory://"),
        Arc::new(store.clone()),
        VaultOptions::default(),
    )
    .await
    .unwrap();
    (Arc::new(vault), store)
}

fn engine(cluster: &SimCluster, vault: &Arc<dyn Vault>, clock: &Arc<ManualClock>) -> Engine {
    Engine::builder()
        .cluster(Arc::new(cluster.clone()))
        .vault(vault.clone())
        .clock(clock.clone())
        .timer(clock.clone())
        .options(EngineOptions {
            pvc_bind_wait: Duration::from_millis(50),
            ..EngineOptions::default()
        })
        .build()
        .unwrap()
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new("2026-11-24T04:00:00Z".parse().unwrap()))
}

async fn back_up(engine: &Engine, name: &str, ttl: Duration) {
    let mut spec = BackupSpec::new(name);
    spec.scope.included_namespaces = vec!["shop".into()];
    spec.ttl = ttl;
    let report = engine.backup(spec).await;
    assert_eq!(
        report.status.phase,
        JobPhase::Completed,
        "{:?}",
        report.status
    );
}

async fn config_map(cluster: &SimCluster) -> Option<csdr_core::object::KubeObject> {
    cluster
        .get(
            &GroupVersionResource::new("", "v1", "configmaps"),
            Some("shop"),
            "web-config",
        )
        .await
        .unwrap()
}

#[test]
fn backup_then_restore_into_a_newer_cluster() {
    futures::executor::block_on(async_backup_then_restore_into_a_newer_cluster())
}

async fn async_backup_then_restore_into_a_newer_cluster() {
    let clock = clock();
    let (vault, _) = vault(&clock).await;
    back_up(
        &engine(&shop(), &vault, &clock),
        "nightly",
        Duration::from_secs(3600),
    )
    .await;
    let listed = vault.list_backups().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name(), "nightly");

    let target = SimCluster::new(KubeRelease::V1_25);
    let report = engine(&target, &vault, &clock)
        .restore(RestoreSpec::new("r1", "nightly"))
        .await;
    assert_eq!(
        report.status.phase,
        JobPhase::Completed,
        "{:?}",
        report.status
    );
    let cm = config_map(&target)
        .await
        .expect("the ConfigMap is restored");
    assert_eq!(cm.pointer("/data/greeting").unwrap(), "hello");
    // The Deployment arrives in a version the newer cluster serves.
    let deployment = target
        .get(
            &GroupVersionResource::new("apps", "v1", "deployments"),
            Some("shop"),
            "web",
        )
        .await
        .unwrap()
        .expect("the Deployment is restored");
    assert_eq!(deployment.pointer("/apiVersion").unwrap(), "apps/v1");
    // The restore is recorded.
    let recorded = vault.restore("r1").await.unwrap().expect("restore record");
    assert_eq!(recorded.status.phase, JobPhase::Completed);
}

#[test]
fn gc_collects_an_expired_backup_only_after_its_expiry() {
    futures::executor::block_on(async_gc_collects_an_expired_backup_only_after_its_expiry())
}

async fn async_gc_collects_an_expired_backup_only_after_its_expiry() {
    let clock = clock();
    let (vault, store) = vault(&clock).await;
    let engine = engine(&shop(), &vault, &clock);
    back_up(&engine, "short", Duration::from_secs(3600)).await;
    back_up(&engine, "long", Duration::from_secs(30 * 24 * 3600)).await;

    clock.set("2026-11-24T04:30:00Z".parse().unwrap());
    let kept = engine.gc().await.unwrap();
    assert!(kept.expired.is_empty(), "{kept:?}");
    clock.set("2026-11-24T06:00:00Z".parse().unwrap());
    let collected = engine.gc().await.unwrap();
    assert_eq!(collected.expired, vec!["short".to_string()]);
    let names: Vec<String> = vault
        .list_backups()
        .await
        .unwrap()
        .iter()
        .map(|r| r.name().to_string())
        .collect();
    assert_eq!(names, vec!["long"]);
    assert!(
        !all_keys(&store)
            .await
            .iter()
            .any(|k| k.starts_with("backups/short/")),
        "every object of the expired backup is gone"
    );
}

#[test]
fn a_deleted_backup_is_gone_and_its_name_free() {
    futures::executor::block_on(async_a_deleted_backup_is_gone_and_its_name_free())
}

async fn async_a_deleted_backup_is_gone_and_its_name_free() {
    let clock = clock();
    let (vault, store) = vault(&clock).await;
    let engine = engine(&shop(), &vault, &clock);
    back_up(&engine, "doomed", Duration::from_secs(3600)).await;
    engine.delete_backup("doomed").await.unwrap();
    assert!(vault.list_backups().await.unwrap().is_empty());
    assert_eq!(vault.backup("doomed").await.unwrap(), None);
    assert_eq!(all_keys(&store).await, vec!["csdr-vault.json".to_string()]);
    let report = engine.restore(RestoreSpec::new("r-doomed", "doomed")).await;
    assert_eq!(report.status.phase, JobPhase::Failed);
    // Deleting again is harmless, and the name can be used again.
    engine.delete_backup("doomed").await.unwrap();
    back_up(&engine, "doomed", Duration::from_secs(3600)).await;
}

#[test]
fn a_corrupted_tarball_is_rejected_before_anything_is_applied() {
    futures::executor::block_on(async_a_corrupted_tarball_is_rejected_before_anything_is_applied())
}

async fn async_a_corrupted_tarball_is_rejected_before_anything_is_applied() {
    use csdr_core::ports::blob_store::BlobStore;

    let clock = clock();
    let (vault, store) = vault(&clock).await;
    back_up(
        &engine(&shop(), &vault, &clock),
        "fragile",
        Duration::from_secs(3600),
    )
    .await;
    let key = "backups/fragile/fragile.tar.gz";
    let mut bytes = store.get(key).await.unwrap().to_vec();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    store.put(key, bytes.into()).await.unwrap();

    let target = SimCluster::new(KubeRelease::V1_25);
    let before = target.object_count();
    let report = engine(&target, &vault, &clock)
        .restore(RestoreSpec::new("r-fragile", "fragile"))
        .await;
    assert_eq!(report.status.phase, JobPhase::Failed, "{:?}", report.status);
    let reason = report.status.failure_reason.unwrap_or_default();
    assert!(
        reason.contains("integrity check failed for") && reason.contains(key),
        "{reason}"
    );
    assert!(report.created.is_empty());
    assert_eq!(target.object_count(), before, "nothing was applied");
    assert!(config_map(&target).await.is_none());
}

/// Needs the `testing` feature (its test key-encryption key).
#[cfg(feature = "testing")]
#[test]
fn an_encrypted_backup_restores_with_its_key_only_and_never_shows_its_secrets() {
    futures::executor::block_on(
        async_an_encrypted_backup_restores_with_its_key_only_and_never_shows_its_secrets(),
    )
}

#[cfg(feature = "testing")]
async fn async_an_encrypted_backup_restores_with_its_key_only_and_never_shows_its_secrets() {
    use csdr_core::ports::blob_store::BlobStore;
    use csdr_core::testing::{LocalKek, test_random};
    use csdr_core::vault_record::BackupRecord;

    const VALUE: &str = "s3cr3t-p4ssw0rd-9e1d";
    let clock = clock();
    let store = MemoryBlobStore::with_clock(clock.clone());
    let plain = BlobVault::open(
        VaultIdentity::new("unit", "memory://"),
        Arc::new(store.clone()),
        VaultOptions::default(),
    )
    .await
    .unwrap();
    let keyed: Arc<dyn Vault> = Arc::new(
        plain
            .clone()
            .with_encryption(Arc::new(LocalKek::new("local:ops", 7)), test_random()),
    );
    let plain: Arc<dyn Vault> = Arc::new(plain);
    let source = shop();
    source
        .load_documents(&[SimDocument {
            path: "secret.yaml".into(),
            text: format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: db, namespace: shop}}\nstringData: {{password: {VALUE}}}\n"
            ),
        }])
        .unwrap();
    back_up(
        &engine(&source, &keyed, &clock),
        "sealed",
        Duration::from_secs(3600),
    )
    .await;

    // No stored object holds the Secret's value, plain or base64.
    let b64 = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(VALUE)
    };
    for key in all_keys(&store).await {
        let object = store.get(&key).await.unwrap();
        for needle in [VALUE, b64.as_str()] {
            assert!(
                !object.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{key} holds the Secret's value"
            );
        }
    }

    // Without the key: refused before anything is applied, naming the key.
    let target = SimCluster::new(KubeRelease::V1_25);
    let before = target.object_count();
    let report = engine(&target, &plain, &clock)
        .restore(RestoreSpec::new("r-nokey", "sealed"))
        .await;
    assert_eq!(report.status.phase, JobPhase::Failed, "{:?}", report.status);
    let reason = report.status.failure_reason.clone().unwrap_or_default();
    assert!(reason.contains("local:ops"), "{reason}");
    assert_eq!(target.object_count(), before, "nothing was applied");

    // A flipped ciphertext byte whose digest was rewritten to match: refused before apply.
    let key = "backups/sealed/sealed.tar.gz";
    let meta_key = "backups/sealed/velero-backup.json";
    let original = store.get(key).await.unwrap();
    let original_meta = store.get(meta_key).await.unwrap();
    let mut bytes = original.to_vec();
    let last = bytes.len() - 20;
    bytes[last] ^= 0x01;
    let mut record = BackupRecord::from_velero_json(&original_meta).unwrap();
    let digest = record.archive.as_mut().unwrap();
    digest.sha256 = csdr_core::digest::sha256_hex(&bytes);
    store.put(key, bytes.into()).await.unwrap();
    store
        .put(meta_key, record.to_velero_json().unwrap().into())
        .await
        .unwrap();
    let report = engine(&target, &keyed, &clock)
        .restore(RestoreSpec::new("r-flipped", "sealed"))
        .await;
    assert_eq!(report.status.phase, JobPhase::Failed, "{:?}", report.status);
    let reason = report.status.failure_reason.clone().unwrap_or_default();
    assert!(reason.contains("cannot be decrypted"), "{reason}");
    assert_eq!(target.object_count(), before, "nothing was applied");

    // With the key, the untouched backup restores, its Secret included.
    store.put(key, original).await.unwrap();
    store.put(meta_key, original_meta).await.unwrap();
    let report = engine(&target, &keyed, &clock)
        .restore(RestoreSpec::new("r-ok", "sealed"))
        .await;
    assert_eq!(
        report.status.phase,
        JobPhase::Completed,
        "{:?}",
        report.status
    );
    let secret = target
        .get(
            &GroupVersionResource::new("", "v1", "secrets"),
            Some("shop"),
            "db",
        )
        .await
        .unwrap()
        .expect("the Secret is restored");
    let text = serde_json::to_string(&secret).unwrap();
    assert!(text.contains(&b64) || text.contains(VALUE), "{text}");
}
