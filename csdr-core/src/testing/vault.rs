//! The conformance suite of the vault protocol ([`BlobVault`]) on a [`BlobStore`]: every
//! behaviour the engine and users rely on — layout, visibility, create-only commits, races,
//! verification, deletion, garbage collection, identity.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::{
    TestStore, all_keys, companion_files, companions, data, record, sample_entry_digests,
    sample_entry_digests_file, ts, write_all,
};
use crate::digest::sha256_hex;
use crate::gzip::gzip;
use crate::model::{JobPhase, JobStatus, RestoreSpec};
use crate::ports::blob_store::BlobStore;
use crate::ports::clock::{SystemTimer, Timer, within};
use crate::ports::vault::{Vault, VaultError, VaultPhase};
use crate::vault::{BlobVault, VaultIdentity, VaultOpenError, VaultOptions};
use crate::vault_record::{
    BackupCompanions, BackupRecord, CompanionFile, CompanionKind, RecordSource, RestoreCompanions,
    RestoreRecord,
};

/// One check's vault, on a fresh store.
struct Fixture {
    vault: BlobVault,
    store: Arc<dyn BlobStore>,
    location: String,
    name: String,
    _guard: Option<Box<dyn std::any::Any + Send>>,
}

impl Fixture {
    async fn new(t: TestStore) -> Self {
        let name = "conformance".to_string();
        let vault = BlobVault::open(
            VaultIdentity::new(name.clone(), t.location.clone()),
            t.store.clone(),
            VaultOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("opening a vault on a fresh store: {e}"));
        Fixture {
            vault,
            store: t.store,
            location: t.location,
            name,
            _guard: t.guard,
        }
    }
}

/// Runs every check of the vault protocol, each on a fresh store from `fresh`, under the
/// caller's executor (the suite has no runtime of its own; the race checks run their writers
/// concurrently on one task). Panics, naming the check, at the first behaviour that does not
/// hold.
pub async fn vault_conformance<F, Fut>(fresh: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = TestStore>,
{
    macro_rules! checks {
        ($($check:ident),* $(,)?) => {$(
            eprintln!("vault conformance: {}", stringify!($check));
            $check(&Fixture::new(fresh().await).await).await;
        )*};
    }
    checks!(
        validates_available,
        round_trip_streams_verifies_and_lays_out_like_velero,
        only_completed_and_partially_failed_backups_are_visible,
        a_taken_name_fails_fast,
        a_failed_backup_is_recorded_without_data_and_never_visible,
        restores_are_stored_create_only,
        restores_are_deleted_idempotently,
        velero_written_backup_is_readable,
        delete_is_idempotent_and_frees_the_name,
        interrupted_delete_is_invisible_and_finished_by_a_second_delete,
        expired_backups_are_listed,
        interrupted_uploads_never_show_and_are_collected,
        dropped_commit_futures_never_leave_a_broken_backup,
        ten_concurrent_creators_one_winner,
        commit_race_loser_cleans_only_its_own_attempt,
        flipped_or_truncated_data_is_rejected,
        crash_between_commit_and_copy_stays_readable,
        entry_digests_file_is_verified_and_required,
        a_backup_without_entry_digests_has_none,
        version_1_records_keep_their_inline_entry_digests,
        identity_is_fixed,
        interrupted_validation_probes_are_collected,
    );
}

fn later(hours: i64) -> Timestamp {
    Timestamp::now() + SignedDuration::from_hours(hours)
}

async fn backup_keys(t: &Fixture, name: &str) -> Vec<String> {
    let prefix = format!("backups/{name}/");
    all_keys(t.store.as_ref())
        .await
        .into_iter()
        .filter(|k| k.starts_with(&prefix))
        .map(|k| k[prefix.len()..].to_string())
        .collect()
}

/// Commits a backup of `bytes` and returns the committed record.
async fn commit(t: &Fixture, name: &str, phase: JobPhase, bytes: &[u8]) -> BackupRecord {
    let mut up = t.vault.start_backup(name).await.unwrap();
    write_all(&mut up, bytes, 64 * 1024).await;
    // The entry-digests file in two chunks, as the engine streams it.
    let digests = sample_entry_digests_file();
    let (a, b) = digests.split_at(digests.len() / 2);
    up.write_entry_digests(Bytes::copy_from_slice(a))
        .await
        .unwrap();
    up.write_entry_digests(Bytes::copy_from_slice(b))
        .await
        .unwrap();
    up.commit(
        record(name, phase, Some("2026-01-31T00:00:00Z")),
        companion_files(name),
    )
    .await
    .unwrap()
}

async fn put_raw(t: &Fixture, key: &str, bytes: Vec<u8>) {
    t.store.put(key, bytes.into()).await.unwrap();
}

async fn delete_raw(t: &Fixture, key: &str) {
    t.store.delete(key).await.unwrap();
}

async fn get_raw(t: &Fixture, key: &str) -> Vec<u8> {
    t.store.get(key).await.unwrap().to_vec()
}

async fn validates_available(t: &Fixture) {
    let v = t.vault.validate(ts("2026-11-24T04:00:00Z")).await;
    assert_eq!(v.phase, VaultPhase::Available, "{}", v.message);
    assert_eq!(v.last_validated, ts("2026-11-24T04:00:00Z"));
    v.require_available().unwrap();
    // The probes are gone, and the vault marker is the only top-level object.
    let keys = all_keys(t.store.as_ref()).await;
    assert_eq!(keys, vec!["csdr-vault.json".to_string()], "{keys:?}");
}

async fn round_trip_streams_verifies_and_lays_out_like_velero(t: &Fixture) {
    let bytes = data(6 * 1024 * 1024 + 123, 1);
    let committed = commit(t, "nightly", JobPhase::Completed, &bytes).await;

    let archive = committed.archive.clone().unwrap();
    assert_eq!(archive.path, "nightly.tar.gz");
    assert_eq!(archive.size, bytes.len() as u64);
    assert_eq!(archive.sha256, sha256_hex(&bytes));
    assert_eq!(committed.files.len(), 6);
    assert!(committed.attempt.is_some());

    let listed = t.vault.list_backups().await.unwrap();
    assert_eq!(listed, vec![committed.clone()]);
    assert_eq!(
        t.vault.backup("nightly").await.unwrap(),
        Some(committed.clone())
    );
    assert_eq!(t.vault.backup("other").await.unwrap(), None);

    let got = t.vault.download_archive("nightly").await.unwrap();
    assert!(got.warning.is_none());
    assert_eq!(got.bytes, Bytes::from(bytes));
    assert_eq!(
        got.entry_digests.map(|d| d.to_vec().unwrap()),
        Some(sample_entry_digests())
    );
    assert_eq!(
        t.vault.backup_companions("nightly").await.unwrap(),
        companions()
    );
    // A restore reads the volume lists alone; the log and the resource list stay unread.
    let volumes = BackupCompanions {
        csi_volume_snapshots: companions().csi_volume_snapshots,
        csi_volume_snapshot_contents: companions().csi_volume_snapshot_contents,
        pod_volume_backups: companions().pod_volume_backups,
        ..BackupCompanions::default()
    };
    assert!(!volumes.csi_volume_snapshots.is_empty());
    assert_eq!(
        t.vault
            .backup_companions_of("nightly", &CompanionKind::VOLUMES)
            .await
            .unwrap(),
        volumes
    );

    // Velero's layout, and nothing left of the attempt.
    let mut keys = backup_keys(t, "nightly").await;
    keys.sort();
    assert_eq!(
        keys,
        vec![
            "nightly-csi-volumesnapshotcontents.json.gz",
            "nightly-csi-volumesnapshots.json.gz",
            "nightly-entry-digests.jsonl.gz",
            "nightly-logs.gz",
            "nightly-resource-list.json.gz",
            "nightly-results.gz",
            "nightly.tar.gz",
            "velero-backup.json",
        ]
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&get_raw(t, "backups/nightly/velero-backup.json").await).unwrap();
    assert_eq!(meta["apiVersion"], "velero.io/v1");
    assert_eq!(meta["kind"], "Backup");
    assert_eq!(meta["status"]["phase"], "Completed");
    assert_eq!(meta["csdr"]["archive"]["sha256"], json!(archive.sha256));
    // The metadata anchors the entry-digests file by its digest; it holds no entries itself.
    assert_eq!(meta["csdr"]["recordVersion"], 2);
    assert!(meta["csdr"].get("entries").is_none());
    let digests_file = sample_entry_digests_file();
    assert!(
        meta["csdr"]["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["path"] == "nightly-entry-digests.jsonl.gz"
                && f["sha256"] == json!(sha256_hex(&digests_file)))
    );
    let list =
        crate::gzip::gunzip(&get_raw(t, "backups/nightly/nightly-resource-list.json.gz").await)
            .unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&list).unwrap(),
        json!({"apps/v1/Deployment": ["shop/web"]})
    );
}

async fn only_completed_and_partially_failed_backups_are_visible(t: &Fixture) {
    commit(t, "done", JobPhase::Completed, b"a").await;
    commit(t, "partly", JobPhase::PartiallyFailed, b"b").await;
    commit(t, "failed", JobPhase::Failed, b"c").await;
    commit(t, "running", JobPhase::InProgress, b"d").await;
    // An upload in progress (no metadata yet).
    let mut open = t.vault.start_backup("uploading").await.unwrap();
    open.write(Bytes::from_static(b"e")).await.unwrap();

    let names: Vec<String> = t
        .vault
        .list_backups()
        .await
        .unwrap()
        .iter()
        .map(|r| r.name().to_string())
        .collect();
    assert_eq!(names, vec!["done", "partly"]);
    for hidden in ["failed", "running", "uploading"] {
        assert_eq!(t.vault.backup(hidden).await.unwrap(), None, "{hidden}");
        let err = t.vault.download_archive(hidden).await.unwrap_err();
        assert!(matches!(err, VaultError::NotFound { .. }), "{err}");
    }
    open.abort().await.unwrap();
}

async fn a_failed_backup_is_recorded_without_data_and_never_visible(t: &Fixture) {
    let name = "broken";
    let mut up = t.vault.start_backup(name).await.unwrap();
    // Part of the tarball was streamed before the backup failed.
    write_all(&mut up, &data(150_000, 3), 50_000).await;
    let mut failed = record(name, JobPhase::Failed, Some("2026-01-31T00:00:00Z"));
    failed.status.failure_reason = Some("velero backup process timeout".into());
    let logs = b"time=\"2026-01-01T00:00:00Z\" level=error msg=\"velero backup process timeout\"\n";
    let companions = vec![
        CompanionFile::logs(logs),
        CompanionFile::json(CompanionKind::Results, name, &companions().results).unwrap(),
    ];
    let committed = up.record_failure(failed.clone(), companions).await.unwrap();
    assert!(committed.archive.is_none());
    // Only the metadata and the two companions: nothing of the tarball.
    assert_eq!(
        backup_keys(t, name).await,
        vec!["broken-logs.gz", "broken-results.gz", "velero-backup.json"]
    );
    // Never visible (V5)…
    assert_eq!(t.vault.backup(name).await.unwrap(), None);
    assert!(t.vault.list_backups().await.unwrap().is_empty());
    assert!(matches!(
        t.vault.download_archive(name).await.unwrap_err(),
        VaultError::NotFound { .. }
    ));
    // …but described, its log read, its name taken, and collected after its expiry.
    let described = t.vault.backup_record(name).await.unwrap().unwrap();
    assert_eq!(described.status.phase, JobPhase::Failed);
    assert_eq!(
        described.status.failure_reason.as_deref(),
        Some("velero backup process timeout")
    );
    let names: Vec<String> = t
        .vault
        .list_records()
        .await
        .unwrap()
        .iter()
        .map(|r| r.name().to_string())
        .collect();
    assert_eq!(names, vec![name]);
    assert_eq!(t.vault.backup_logs(name).await.unwrap(), logs.to_vec());
    assert!(t.vault.start_backup(name).await.is_err());
    let expired = t
        .vault
        .expired_backups(ts("2026-02-01T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(expired.len(), 1);
    t.vault.delete_backup(name).await.unwrap();
    assert!(backup_keys(t, name).await.is_empty());
    assert!(matches!(
        t.vault.backup_logs(name).await.unwrap_err(),
        VaultError::NotFound { .. }
    ));
    // Only a Failed record can be recorded as a failure.
    let up = t.vault.start_backup("not-failed").await.unwrap();
    let err = up
        .record_failure(record("not-failed", JobPhase::Completed, None), Vec::new())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("record_failure records only Failed backups"),
        "{err}"
    );
}

async fn a_taken_name_fails_fast(t: &Fixture) {
    commit(t, "failed", JobPhase::Failed, b"x").await;
    let err = t.vault.start_backup("failed").await.err().unwrap();
    assert_eq!(
        err.to_string(),
        "VaultError: backup already exists in vault: failed is committed (Failed); choose another name"
    );
    let mut first = t.vault.start_backup("busy").await.unwrap();
    first.write(Bytes::from_static(b"x")).await.unwrap();
    let err = t.vault.start_backup("busy").await.err().unwrap();
    assert!(
        err.to_string()
            .contains("backup already exists in vault: busy is being uploaded by attempt"),
        "{err}"
    );
    first.abort().await.unwrap();
    assert!(backup_keys(t, "busy").await.is_empty());
    // Free again once the attempt is gone.
    t.vault
        .start_backup("busy")
        .await
        .unwrap()
        .abort()
        .await
        .unwrap();
    let err = t.vault.start_backup("../x").await.err().unwrap();
    assert!(matches!(err, VaultError::InvalidInput { .. }), "{err}");
}

async fn restores_are_stored_create_only(t: &Fixture) {
    let record = RestoreRecord {
        spec: RestoreSpec::new("r1", "nightly"),
        status: JobStatus {
            phase: JobPhase::Completed,
            ..JobStatus::default()
        },
        created: ts("2026-01-02T00:00:00Z"),
        encryption: None,
    };
    let files = RestoreCompanions {
        logs_gzip: gzip(b"restored\n"),
        ..RestoreCompanions::default()
    };
    t.vault.put_restore(&record, &files).await.unwrap();
    assert_eq!(t.vault.restore("r1").await.unwrap(), Some(record.clone()));
    assert_eq!(t.vault.restore("r2").await.unwrap(), None);
    let err = t.vault.put_restore(&record, &files).await.unwrap_err();
    assert!(
        matches!(err, VaultError::RestoreAlreadyExists { .. }),
        "{err}"
    );
    let keys = all_keys(t.store.as_ref()).await;
    for k in [
        "restores/r1/csdr-restore.json",
        "restores/r1/restore-r1-logs.gz",
        "restores/r1/restore-r1-results.gz",
        "restores/r1/restore-r1-resource-list.json.gz",
    ] {
        assert!(keys.contains(&k.to_string()), "{k} in {keys:?}");
    }
    let logs = crate::gzip::gunzip(&get_raw(t, "restores/r1/restore-r1-logs.gz").await).unwrap();
    assert_eq!(logs, b"restored\n");
}

async fn restores_are_deleted_idempotently(t: &Fixture) {
    commit(t, "nightly", JobPhase::Completed, b"x").await;
    let stored = |name: &str| RestoreRecord {
        spec: RestoreSpec::new(name, "nightly"),
        status: JobStatus {
            phase: JobPhase::Completed,
            ..JobStatus::default()
        },
        created: ts("2026-01-02T00:00:00Z"),
        encryption: None,
    };
    let files = RestoreCompanions {
        logs_gzip: gzip(b"restored\n"),
        ..RestoreCompanions::default()
    };
    for name in ["r1", "r2"] {
        t.vault.put_restore(&stored(name), &files).await.unwrap();
    }
    let restore_keys = |name: &str| {
        let prefix = format!("restores/{name}/");
        async move {
            all_keys(t.store.as_ref())
                .await
                .into_iter()
                .filter(|k| k.starts_with(&prefix))
                .collect::<Vec<_>>()
        }
    };
    t.vault.delete_restore("r1").await.unwrap();
    assert_eq!(t.vault.restore("r1").await.unwrap(), None);
    assert!(restore_keys("r1").await.is_empty());
    let err = t.vault.restore_logs("r1").await.unwrap_err();
    assert!(matches!(err, VaultError::NotFound { .. }), "{err}");
    // Again, and a restore that never existed: both succeed.
    t.vault.delete_restore("r1").await.unwrap();
    t.vault.delete_restore("never-existed").await.unwrap();
    // The other restore and the backup are untouched; the name is free again.
    assert_eq!(t.vault.restore("r2").await.unwrap(), Some(stored("r2")));
    assert_eq!(t.vault.restore_logs("r2").await.unwrap(), b"restored\n");
    assert!(t.vault.backup("nightly").await.unwrap().is_some());
    t.vault.put_restore(&stored("r1"), &files).await.unwrap();
    assert_eq!(t.vault.restore("r1").await.unwrap(), Some(stored("r1")));

    // An interrupted deletion (some files gone, the record left) is still visible and is
    // finished by the next call.
    t.store
        .delete("restores/r2/restore-r2-logs.gz")
        .await
        .unwrap();
    assert!(t.vault.restore("r2").await.unwrap().is_some());
    t.vault.delete_restore("r2").await.unwrap();
    assert!(restore_keys("r2").await.is_empty());
    assert_eq!(t.vault.restore("r2").await.unwrap(), None);

    let err = t.vault.delete_restore("").await.unwrap_err();
    assert!(matches!(err, VaultError::InvalidInput { .. }), "{err}");
}

async fn velero_written_backup_is_readable(t: &Fixture) {
    let name = "velero-20240101";
    let tarball = data(1000, 7);
    let backup = json!({
        "kind": "Backup", "apiVersion": "velero.io/v1",
        "metadata": {"name": name, "namespace": "velero", "uid": "1b2c",
            "creationTimestamp": "2024-01-01T00:00:00Z",
            "labels": {"velero.io/storage-location": "default"}},
        "spec": {"includedNamespaces": ["shop"], "ttl": "720h0m0s", "storageLocation": "default",
            "hooks": {}, "defaultVolumesToFsBackup": false, "csiSnapshotTimeout": "10m0s"},
        "status": {"version": 1, "formatVersion": "1.1.0", "phase": "Completed",
            "expiration": "2024-01-31T00:00:00Z", "startTimestamp": "2024-01-01T00:00:00Z",
            "completionTimestamp": "2024-01-01T00:00:05Z", "warnings": 1,
            "progress": {"totalItems": 3, "itemsBackedUp": 3}}
    });
    let dir = format!("backups/{name}");
    put_raw(t, &format!("{dir}/{name}.tar.gz"), tarball.clone()).await;
    put_raw(t, &format!("{dir}/{name}-logs.gz"), gzip(b"velero log\n")).await;
    put_raw(
        t,
        &format!("{dir}/{name}-results.gz"),
        gzip(br#"{"errors":null,"warnings":{"namespaces":{"shop":["odd"]}}}"#),
    )
    .await;
    put_raw(
        t,
        &format!("{dir}/{name}-resource-list.json.gz"),
        gzip(br#"{"v1/ConfigMap":["shop/c"]}"#),
    )
    .await;
    put_raw(
        t,
        &format!("{dir}/{name}-csi-volumesnapshots.json.gz"),
        gzip(b"null"),
    )
    .await;
    put_raw(
        t,
        &format!("{dir}/{name}-podvolumebackups.json.gz"),
        gzip(b"null"),
    )
    .await;
    put_raw(
        t,
        &format!("{dir}/velero-backup.json"),
        serde_json::to_vec(&backup).unwrap(),
    )
    .await;

    let listed = t.vault.list_backups().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].source, RecordSource::Velero);
    assert_eq!(
        listed[0].spec.scope.included_namespaces,
        vec!["shop".to_string()]
    );
    let got = t.vault.download_archive(name).await.unwrap();
    assert_eq!(got.bytes, Bytes::from(tarball));
    assert_eq!(got.entry_digests, None);
    assert!(
        got.warning.as_deref().unwrap().contains("has no checksums"),
        "{:?}",
        got.warning
    );
    let c = t.vault.backup_companions(name).await.unwrap();
    assert_eq!(c.logs, b"velero log\n");
    assert_eq!(
        c.results.warnings.namespaces["shop"],
        vec!["odd".to_string()]
    );
    assert!(c.results.errors.is_empty());
    assert_eq!(c.resource_list["v1/ConfigMap"], vec!["shop/c".to_string()]);
    assert!(c.csi_volume_snapshots.is_empty());
    // It counts for expiry like any other backup, and its name is taken.
    assert_eq!(
        t.vault
            .expired_backups(ts("2024-02-01T00:00:00Z"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(t.vault.start_backup(name).await.is_err());
}

async fn delete_is_idempotent_and_frees_the_name(t: &Fixture) {
    commit(t, "old", JobPhase::Completed, b"x").await;
    commit(t, "keep", JobPhase::Completed, b"y").await;
    t.vault.delete_backup("old").await.unwrap();
    assert!(backup_keys(t, "old").await.is_empty());
    assert_eq!(t.vault.backup("old").await.unwrap(), None);
    t.vault.delete_backup("old").await.unwrap();
    t.vault.delete_backup("never-existed").await.unwrap();
    assert_eq!(t.vault.list_backups().await.unwrap().len(), 1);
    assert!(t.vault.download_archive("keep").await.is_ok());
    commit(t, "old", JobPhase::Completed, b"again").await;
    assert_eq!(
        t.vault.download_archive("old").await.unwrap().bytes,
        Bytes::from_static(b"again")
    );
}

async fn interrupted_delete_is_invisible_and_finished_by_a_second_delete(t: &Fixture) {
    commit(t, "doomed", JobPhase::Completed, b"x").await;
    t.vault.mark_deleted("doomed").await.unwrap();
    // The marker alone hides it everywhere.
    assert!(t.vault.list_backups().await.unwrap().is_empty());
    assert_eq!(t.vault.backup("doomed").await.unwrap(), None);
    assert!(t.vault.download_archive("doomed").await.is_err());
    let err = t.vault.start_backup("doomed").await.err().unwrap();
    assert!(err.to_string().contains("doomed is being deleted"), "{err}");
    assert!(backup_keys(t, "doomed").await.len() > 1);
    t.vault.delete_backup("doomed").await.unwrap();
    assert!(backup_keys(t, "doomed").await.is_empty());

    // remove_orphans also finishes an interrupted deletion.
    commit(t, "doomed2", JobPhase::Completed, b"x").await;
    t.vault.mark_deleted("doomed2").await.unwrap();
    let report = t
        .vault
        .remove_orphans(Timestamp::now(), Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(report.finished_deletions, vec!["doomed2".to_string()]);
    assert!(backup_keys(t, "doomed2").await.is_empty());
}

async fn expired_backups_are_listed(t: &Fixture) {
    let mut up = t.vault.start_backup("short").await.unwrap();
    up.write(Bytes::from_static(b"a")).await.unwrap();
    up.commit(
        record("short", JobPhase::Completed, Some("2026-01-02T00:00:00Z")),
        Vec::new(),
    )
    .await
    .unwrap();
    let mut up = t.vault.start_backup("long").await.unwrap();
    up.write(Bytes::from_static(b"b")).await.unwrap();
    up.commit(
        record("long", JobPhase::Completed, Some("2026-03-01T00:00:00Z")),
        Vec::new(),
    )
    .await
    .unwrap();
    let names = |v: Vec<crate::vault_record::BackupRecord>| {
        v.iter().map(|r| r.name().to_string()).collect::<Vec<_>>()
    };
    assert!(
        t.vault
            .expired_backups(ts("2026-01-01T12:00:00Z"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        names(
            t.vault
                .expired_backups(ts("2026-01-02T00:00:00Z"))
                .await
                .unwrap()
        ),
        vec!["short"]
    );
    assert_eq!(
        names(
            t.vault
                .expired_backups(ts("2027-01-01T00:00:00Z"))
                .await
                .unwrap()
        ),
        vec!["long", "short"]
    );
}

async fn interrupted_uploads_never_show_and_are_collected(t: &Fixture) {
    let big = data(6 * 1024 * 1024, 3);
    // Started and aborted before any data.
    t.vault
        .start_backup("a")
        .await
        .unwrap()
        .abort()
        .await
        .unwrap();
    // Aborted after data.
    let mut up = t.vault.start_backup("b").await.unwrap();
    write_all(&mut up, &big, 1024 * 1024).await;
    up.abort().await.unwrap();
    // Dropped before any data, and after data.
    drop(t.vault.start_backup("c").await.unwrap());
    let mut up = t.vault.start_backup("d").await.unwrap();
    write_all(&mut up, &big, 1024 * 1024).await;
    drop(up);
    // A crash: the upload is never cleaned up by its owner.
    let mut up = t.vault.start_backup("e").await.unwrap();
    write_all(&mut up, &big, 1024 * 1024).await;
    std::mem::forget(up);

    assert!(t.vault.list_backups().await.unwrap().is_empty());
    for name in ["a", "b", "c", "d", "e"] {
        assert_eq!(t.vault.backup(name).await.unwrap(), None, "{name}");
    }
    assert!(backup_keys(t, "a").await.is_empty());
    assert!(backup_keys(t, "b").await.is_empty());
    // Within the grace period nothing is touched…
    let grace = Duration::from_secs(3600);
    let report = t
        .vault
        .remove_orphans(Timestamp::now(), grace)
        .await
        .unwrap();
    assert!(report.removed.is_empty(), "{report:?}");
    assert!(!backup_keys(t, "e").await.is_empty());
    // …after it, every leftover goes and the names are free again.
    let report = t.vault.remove_orphans(later(2), grace).await.unwrap();
    assert!(!report.removed.is_empty());
    for name in ["c", "d", "e"] {
        assert!(backup_keys(t, name).await.is_empty(), "{name}");
    }
    commit(t, "e", JobPhase::Completed, b"fresh").await;
}

async fn dropped_commit_futures_never_leave_a_broken_backup(t: &Fixture) {
    let bytes = data(200_000, 4);
    for (i, wait_ms) in [0u64, 1, 2, 5, 10, 20, 50].into_iter().enumerate() {
        let name = format!("cut-{i}");
        let mut up = t.vault.start_backup(&name).await.unwrap();
        write_all(&mut up, &bytes, 50_000).await;
        let fut = up.commit(
            record(&name, JobPhase::Completed, None),
            companion_files(&name),
        );
        // Drop the commit wherever it is after `wait_ms`.
        let _ = within(&SystemTimer, Duration::from_millis(wait_ms), fut).await;
        // Dropping a future cannot recall a write the store has already taken on (a local
        // file store hands it to a blocking thread, a network store may have received the
        // request): such a commit may still land a moment later. What must hold at every
        // instant is that a backup the vault shows is whole.
        whole_or_absent(t, &name, &bytes).await;
    }
    // Let writes that outlived their futures finish before the sweep, then look again.
    SystemTimer.sleep(Duration::from_millis(300)).await;
    for i in 0..7 {
        whole_or_absent(t, &format!("cut-{i}"), &bytes).await;
    }
    // After the grace period: uncommitted ones vanish, committed ones are complete.
    t.vault
        .remove_orphans(later(2), Duration::from_secs(3600))
        .await
        .unwrap();
    for i in 0..7 {
        let name = format!("cut-{i}");
        let keys = backup_keys(t, &name).await;
        if t.vault.backup(&name).await.unwrap().is_some() {
            assert_eq!(keys.len(), 7, "{name}: {keys:?}");
            assert!(t.vault.download_archive(&name).await.is_ok());
        } else {
            assert!(keys.is_empty(), "{name}: {keys:?}");
        }
    }
}

/// The backup `name` is either visible, listed and whole, or neither visible nor listed.
async fn whole_or_absent(t: &Fixture, name: &str, bytes: &[u8]) {
    let listed = |list: Vec<BackupRecord>| list.iter().any(|r| r.name() == name);
    if t.vault.backup(name).await.unwrap().is_some() {
        let got = t.vault.download_archive(name).await.unwrap();
        assert_eq!(got.bytes, Bytes::from(bytes.to_vec()), "{name}");
        assert_eq!(
            t.vault.backup_companions(name).await.unwrap(),
            companions(),
            "{name}"
        );
        assert!(listed(t.vault.list_backups().await.unwrap()), "{name}");
    } else if listed(t.vault.list_backups().await.unwrap()) {
        // It landed between the two looks: then it must be whole now.
        assert!(t.vault.backup(name).await.unwrap().is_some(), "{name}");
        let got = t.vault.download_archive(name).await.unwrap();
        assert_eq!(got.bytes, Bytes::from(bytes.to_vec()), "{name}");
    }
}

async fn ten_concurrent_creators_one_winner(t: &Fixture) {
    // The ten run concurrently on this task (no runtime of the suite's own): on a store that
    // answers over the network their calls interleave, so several pass the fast check and
    // race at the commit; on a store that answers at once the fast check stops the others.
    let mut tasks = Vec::new();
    for i in 0..10u8 {
        let vault = t.vault.clone();
        tasks.push(async move {
            let bytes = data(100_000 + usize::from(i), i);
            let mut up = vault.start_backup("race").await?;
            for c in bytes.chunks(10_000) {
                up.write(Bytes::copy_from_slice(c)).await?;
                yield_now().await;
            }
            up.commit(
                record("race", JobPhase::Completed, None),
                companion_files("race"),
            )
            .await
            .map(|r| (i, r))
        });
    }
    let mut winners = Vec::new();
    for outcome in futures::future::join_all(tasks).await {
        match outcome {
            Ok(w) => winners.push(w),
            Err(e) => assert!(
                e.to_string().contains("backup already exists in vault"),
                "{e}"
            ),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one creator wins");
    let (i, record) = &winners[0];
    let got = t.vault.download_archive("race").await.unwrap();
    assert_eq!(got.bytes, Bytes::from(data(100_000 + usize::from(*i), *i)));
    assert_eq!(t.vault.backup("race").await.unwrap().as_ref(), Some(record));
    // The losers cleaned up after themselves: only the winner's files remain.
    let keys = backup_keys(t, "race").await;
    assert_eq!(keys.len(), 7, "{keys:?}");
}

async fn commit_race_loser_cleans_only_its_own_attempt(t: &Fixture) {
    // Two uploads that both passed the fast check (the check is advisory; the commit decides).
    let mut a = t.vault.start_backup("both").await.unwrap();
    let a_claim = format!("backups/both/csdr-attempts/{}/attempt.json", a.attempt());
    delete_raw(t, &a_claim).await;
    let mut b = t.vault.start_backup("both").await.unwrap();
    a.write(Bytes::from_static(b"from a")).await.unwrap();
    b.write(Bytes::from_static(b"from b")).await.unwrap();
    let b_attempt = b.attempt().to_string();
    b.commit(
        record("both", JobPhase::Completed, None),
        companion_files("both"),
    )
    .await
    .unwrap();
    let err = a
        .commit(
            record("both", JobPhase::Completed, None),
            companion_files("both"),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("backup already exists in vault: both is committed (Completed)"),
        "{err}"
    );
    let got = t.vault.download_archive("both").await.unwrap();
    assert_eq!(got.bytes, Bytes::from_static(b"from b"));
    assert_eq!(
        t.vault
            .backup("both")
            .await
            .unwrap()
            .unwrap()
            .attempt
            .as_deref(),
        Some(b_attempt.as_str())
    );
    let keys = backup_keys(t, "both").await;
    assert_eq!(keys.len(), 7, "{keys:?}");
    assert!(
        !keys.iter().any(|k| k.contains("csdr-attempts")),
        "{keys:?}"
    );
}

async fn flipped_or_truncated_data_is_rejected(t: &Fixture) {
    let bytes = data(10_000, 9);
    commit(t, "fragile", JobPhase::Completed, &bytes).await;
    let key = "backups/fragile/fragile.tar.gz";

    let mut flipped = bytes.clone();
    flipped[4321] ^= 0x01;
    put_raw(t, key, flipped).await;
    let err = t.vault.download_archive("fragile").await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, VaultError::Integrity { .. }), "{text}");
    assert!(
        text.contains("integrity check failed for") && text.contains(key),
        "{text}"
    );
    assert!(text.contains("SHA-256"), "{text}");

    put_raw(t, key, bytes[..9_000].to_vec()).await;
    let err = t.vault.download_archive("fragile").await.unwrap_err();
    assert!(
        err.to_string()
            .contains("truncated: 9000 bytes stored, 10000 recorded"),
        "{err}"
    );

    put_raw(t, key, bytes.clone()).await;
    assert_eq!(
        t.vault.download_archive("fragile").await.unwrap().bytes,
        Bytes::from(bytes)
    );

    // Companions are verified too.
    put_raw(t, "backups/fragile/fragile-results.gz", gzip(b"{}")).await;
    let err = t.vault.backup_companions("fragile").await.unwrap_err();
    assert!(err.to_string().contains("fragile-results.gz"), "{err}");

    // A missing tarball is an integrity error, not an empty backup.
    delete_raw(t, key).await;
    let err = t.vault.download_archive("fragile").await.unwrap_err();
    assert!(matches!(err, VaultError::Integrity { .. }), "{err}");
}

async fn crash_between_commit_and_copy_stays_readable(t: &Fixture) {
    let bytes = data(50_000, 5);
    let committed = commit(t, "halfway", JobPhase::Completed, &bytes).await;
    let attempt = committed.attempt.clone().unwrap();
    // Put the files back where they were at the commit point: only at the attempt's keys.
    let files: Vec<String> = committed
        .files
        .iter()
        .chain(committed.archive.iter())
        .map(|d| d.path.clone())
        .collect();
    for f in &files {
        let from = format!("backups/halfway/{f}");
        let bytes = get_raw(t, &from).await;
        put_raw(
            t,
            &format!("backups/halfway/csdr-attempts/{attempt}/{f}"),
            bytes,
        )
        .await;
        delete_raw(t, &from).await;
    }
    put_raw(
        t,
        &format!("backups/halfway/csdr-attempts/{attempt}/attempt.json"),
        b"{}".to_vec(),
    )
    .await;

    // Readable and verified from the attempt's keys.
    assert_eq!(t.vault.list_backups().await.unwrap().len(), 1);
    assert_eq!(
        t.vault.download_archive("halfway").await.unwrap().bytes,
        Bytes::from(bytes.clone())
    );
    assert_eq!(
        t.vault.backup_companions("halfway").await.unwrap(),
        companions()
    );
    // Not within the grace period…
    let report = t
        .vault
        .remove_orphans(Timestamp::now(), Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(report.finished_commits.is_empty());
    // …then the copy to Velero's keys is finished.
    let report = t
        .vault
        .remove_orphans(later(2), Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(report.finished_commits, vec!["halfway".to_string()]);
    let keys = backup_keys(t, "halfway").await;
    assert_eq!(keys.len(), 8, "{keys:?}");
    assert!(!keys.iter().any(|k| k.contains("csdr-attempts")));
    assert_eq!(
        t.vault.download_archive("halfway").await.unwrap().bytes,
        Bytes::from(bytes)
    );
}

async fn entry_digests_file_is_verified_and_required(t: &Fixture) {
    commit(t, "digests", JobPhase::Completed, b"tarball").await;
    let key = "backups/digests/digests-entry-digests.jsonl.gz";
    let good = get_raw(t, key).await;
    // A flipped byte: refused, naming the file.
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    put_raw(t, key, bad).await;
    let err = t.vault.download_archive("digests").await.unwrap_err();
    assert!(matches!(err, VaultError::Integrity { .. }), "{err}");
    assert!(
        err.to_string().contains("digests-entry-digests.jsonl.gz"),
        "{err}"
    );
    // Gone: refused too, not silently unverified.
    delete_raw(t, key).await;
    let err = t.vault.download_archive("digests").await.unwrap_err();
    assert!(
        err.to_string()
            .contains("the entry-digests file is missing"),
        "{err}"
    );
    put_raw(t, key, good).await;
    let got = t.vault.download_archive("digests").await.unwrap();
    assert_eq!(
        got.entry_digests.map(|d| d.to_vec().unwrap()),
        Some(sample_entry_digests())
    );
}

async fn a_backup_without_entry_digests_has_none(t: &Fixture) {
    let mut up = t.vault.start_backup("plain").await.unwrap();
    up.write(Bytes::from_static(b"tarball")).await.unwrap();
    let committed = up
        .commit(
            record("plain", JobPhase::Completed, None),
            companion_files("plain"),
        )
        .await
        .unwrap();
    assert_eq!(committed.files.len(), 5);
    let got = t.vault.download_archive("plain").await.unwrap();
    assert_eq!(got.entry_digests, None);
    assert!(
        !backup_keys(t, "plain")
            .await
            .iter()
            .any(|k| k.contains("entry-digests"))
    );
}

async fn version_1_records_keep_their_inline_entry_digests(t: &Fixture) {
    commit(t, "old-format", JobPhase::Completed, b"tarball").await;
    // Rewrite the metadata as csdr's record version 1 wrote it: digests inline, no file.
    let meta_key = "backups/old-format/velero-backup.json";
    let mut meta: serde_json::Value = serde_json::from_slice(&get_raw(t, meta_key).await).unwrap();
    meta["csdr"]["recordVersion"] = json!(1);
    meta["csdr"]["entries"] = serde_json::to_value(sample_entry_digests()).unwrap();
    meta["csdr"]["files"]
        .as_array_mut()
        .unwrap()
        .retain(|f| f["path"] != "old-format-entry-digests.jsonl.gz");
    put_raw(t, meta_key, serde_json::to_vec(&meta).unwrap()).await;
    delete_raw(t, "backups/old-format/old-format-entry-digests.jsonl.gz").await;
    let got = t.vault.download_archive("old-format").await.unwrap();
    assert_eq!(
        got.entry_digests.map(|d| d.to_vec().unwrap()),
        Some(sample_entry_digests())
    );
}

async fn identity_is_fixed(t: &Fixture) {
    let open = |name: &str| {
        BlobVault::open(
            VaultIdentity::new(name, t.location.clone()),
            t.store.clone(),
            VaultOptions::default(),
        )
    };
    // The same vault opens again.
    open(&t.name).await.unwrap();
    // Another name at the same location does not.
    let err = open("other").await.unwrap_err();
    assert!(
        matches!(err, VaultOpenError::ConfigurationMismatch { .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&format!("belongs to vault `{}`", t.name)),
        "{err}"
    );
    // Regions are compared only when both are known.
    let mut regional = VaultIdentity::new(t.name.clone(), t.location.clone());
    regional.region = Some("eu-west-1".into());
    assert!(
        BlobVault::open(regional, t.store.clone(), VaultOptions::default())
            .await
            .is_ok(),
        "a vault recorded without a region accepts one"
    );
    let v = BlobVault::new(
        VaultIdentity::new("other", t.location.clone()),
        t.store.clone(),
        VaultOptions::default(),
    )
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
    t.vault
        .delete_vault(ts("2026-05-01T00:00:00Z"))
        .await
        .unwrap();
    for n in [t.name.as_str(), "other"] {
        let err = open(n).await.unwrap_err();
        assert!(matches!(err, VaultOpenError::VaultDeleted { .. }), "{err}");
        assert!(
            err.to_string().contains(&format!(
                "vault `{}` at {} was deleted at 2026-05-01T00:00:00Z",
                t.name,
                t.vault.location()
            )),
            "{err}"
        );
    }
}

async fn interrupted_validation_probes_are_collected(t: &Fixture) {
    // A validation that died between writing its probe and removing it.
    put_raw(t, "csdr-probe-dead.json", b"{}".to_vec()).await;
    let report = t
        .vault
        .remove_orphans(Timestamp::now(), Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(report.removed.is_empty(), "{report:?}");
    let report = t
        .vault
        .remove_orphans(later(2), Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(report.removed, vec!["csdr-probe-dead.json".to_string()]);
    assert_eq!(
        all_keys(t.store.as_ref()).await,
        vec!["csdr-vault.json".to_string()]
    );
}

/// Lets the other futures polled with this one run once.
async fn yield_now() {
    let mut yielded = false;
    futures::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}
