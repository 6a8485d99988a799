//! Every job leaves a record: the engine on the in-memory vault and the simulated cluster,
//! with a `ManualClock` as clock and timer. A backup that times out or fails is recorded with
//! its typed failure and log and never offered for restore; a restore whose name is taken is
//! refused before anything is written; completed jobs keep their logs and real start times.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use csdr_core::discovery::Discovery;
use csdr_core::engine::{Engine, EngineOptions, ProgressEvent};
use csdr_core::model::{BackupSpec, FailureKind, JobPhase, RestoreSpec};
use csdr_core::object::{GroupVersionResource, KubeObject};
use csdr_core::ports::blob_store::BlobStore;
use csdr_core::ports::clock::{Clock, ManualClock};
use csdr_core::ports::cluster::{Cluster, ClusterError, ListOptions, ObjectPage, WaitCondition};
use csdr_core::ports::vault::Vault;
use csdr_core::releases::KubeRelease;
use csdr_core::sim::{SimCluster, SimDocument};
use csdr_core::vault::{BlobVault, MemoryBlobStore, VaultIdentity, VaultOptions};
use futures::TryStreamExt;
use futures::executor::block_on;
use serde_json::Value;

const T0: &str = "2026-11-24T04:00:00Z";

fn shop(config_maps: usize) -> SimCluster {
    let mut text = String::from(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: web-config, namespace: shop}\ndata: {greeting: hello}\n",
    );
    for i in 0..config_maps {
        text.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: extra-{i}, namespace: shop}}\n"
        ));
    }
    let sim = SimCluster::new(KubeRelease::V1_16);
    sim.load_documents(&[SimDocument {
        path: "shop.yaml".into(),
        text,
    }])
    .unwrap();
    sim
}

/// What the test cluster does besides answering like the simulated one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Behaviour {
    /// Answers like the simulated cluster.
    Normal,
    /// Each list page moves the clock forward one minute (a slow API server).
    SlowPages,
    /// Listing ConfigMaps never answers (a hung API server).
    HangOnConfigMaps,
    /// Discovery fails as an unreachable server does.
    Unreachable,
}

/// The simulated cluster with a behaviour.
struct TestCluster {
    sim: SimCluster,
    clock: Arc<ManualClock>,
    behaviour: Behaviour,
}

#[async_trait]
impl Cluster for TestCluster {
    async fn discover(&self) -> Result<Discovery, ClusterError> {
        if self.behaviour == Behaviour::Unreachable {
            return Err(ClusterError::Unavailable {
                reason: "dial tcp 10.0.0.1:6443: connection refused".into(),
            });
        }
        self.sim.discover().await
    }
    async fn list_page(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        options: &ListOptions,
    ) -> Result<ObjectPage, ClusterError> {
        match self.behaviour {
            Behaviour::HangOnConfigMaps if gvr.resource == "configmaps" => {
                futures::future::pending::<()>().await;
            }
            Behaviour::SlowPages => self.clock.advance(Duration::from_secs(60)),
            _ => {}
        }
        self.sim.list_page(gvr, namespace, options).await
    }
    async fn get(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<KubeObject>, ClusterError> {
        self.sim.get(gvr, namespace, name).await
    }
    async fn create(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<KubeObject, ClusterError> {
        self.sim.create(gvr, object).await
    }
    async fn update(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<KubeObject, ClusterError> {
        self.sim.update(gvr, object).await
    }
    async fn patch_merge(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> Result<KubeObject, ClusterError> {
        self.sim.patch_merge(gvr, namespace, name, patch).await
    }
    async fn delete(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(), ClusterError> {
        self.sim.delete(gvr, namespace, name).await
    }
    async fn wait_for(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
        condition: WaitCondition,
        timeout: Duration,
    ) -> Result<KubeObject, ClusterError> {
        self.sim
            .wait_for(gvr, namespace, name, condition, timeout)
            .await
    }
}

struct Setup {
    clock: Arc<ManualClock>,
    vault: Arc<dyn Vault>,
    store: MemoryBlobStore,
}

impl Setup {
    fn new() -> Self {
        let clock = Arc::new(ManualClock::new(T0.parse().unwrap()));
        let store = MemoryBlobStore::with_clock(clock.clone());
        let vault = block_on(BlobVault::open(
            VaultIdentity::new("unit", "memory://"),
            Arc::new(store.clone()),
            VaultOptions::default(),
        ))
        .unwrap();
        Setup {
            clock,
            vault: Arc::new(vault),
            store,
        }
    }

    fn engine(&self, sim: &SimCluster, behaviour: Behaviour) -> Engine {
        self.engine_with(sim, behaviour, None)
    }

    fn engine_with(
        &self,
        sim: &SimCluster,
        behaviour: Behaviour,
        progress: Option<csdr_core::engine::ProgressSink>,
    ) -> Engine {
        let mut builder = Engine::builder()
            .cluster(Arc::new(TestCluster {
                sim: sim.clone(),
                clock: self.clock.clone(),
                behaviour,
            }))
            .vault(self.vault.clone())
            .clock(self.clock.clone())
            .timer(self.clock.clone())
            .options(EngineOptions {
                page_size: 50,
                ..EngineOptions::default()
            });
        if let Some(sink) = progress {
            builder = builder.progress(sink);
        }
        builder.build().unwrap()
    }

    fn keys(&self, prefix: &str) -> Vec<String> {
        let mut keys: Vec<String> =
            block_on(self.store.list(prefix).map_ok(|m| m.key).try_collect()).unwrap();
        keys.sort();
        keys
    }
}

fn shop_spec(name: &str, ttl: Duration) -> BackupSpec {
    let mut spec = BackupSpec::new(name);
    spec.scope.included_namespaces = vec!["shop".into()];
    spec.ttl = ttl;
    spec
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap()
}

#[test]
fn a_backup_that_outlives_its_timeout_fails_and_is_recorded_without_waiting() {
    let t = Setup::new();
    let engine = t.engine(&shop(0), Behaviour::HangOnConfigMaps);
    let timeout = engine.options().config.application_backup.backup_timeout;
    let report = block_on(async {
        let (report, ()) = futures::join!(
            engine.backup(shop_spec("slow", Duration::from_secs(3600))),
            async {
                // The backup is stuck listing ConfigMaps; only the manual clock moves time.
                t.clock.advance(timeout);
            }
        );
        report
    });
    assert_eq!(report.status.phase, JobPhase::Failed, "{:?}", report.status);
    let failure = report.status.failure.clone().expect("a typed failure");
    assert_eq!(failure.kind, FailureKind::Timeout);
    assert!(
        failure
            .message
            .starts_with("velero backup process timeout: the backup did not finish within 1h0m0s"),
        "{}",
        failure.message
    );
    assert_eq!(
        report.status.failure_reason.as_deref(),
        Some(failure.message.as_str())
    );
    // The clock moved exactly by the timeout: nothing waited for real.
    assert_eq!(
        t.clock.now(),
        T0.parse::<jiff::Timestamp>().unwrap() + timeout
    );

    // Recorded, described, never offered for restore (V5).
    let record = block_on(t.vault.backup_record("slow"))
        .unwrap()
        .expect("recorded");
    assert_eq!(record.status.phase, JobPhase::Failed);
    assert_eq!(record.status.failure, Some(failure.clone()));
    assert!(record.archive.is_none(), "a failed backup records no data");
    assert_eq!(block_on(t.vault.backup("slow")).unwrap(), None);
    assert!(block_on(t.vault.list_backups()).unwrap().is_empty());
    let restore = block_on(
        t.engine(&SimCluster::new(KubeRelease::V1_25), Behaviour::Normal)
            .restore(RestoreSpec::new("r-slow", "slow")),
    );
    assert_eq!(restore.status.phase, JobPhase::Failed);
    assert_eq!(
        restore.status.failure_reason.unwrap_or_default(),
        format!(
            "backup slow is Failed ({}): only Completed and PartiallyFailed backups can be restored",
            failure.message
        ),
    );
    // No half-written tarball: only the metadata and the failure's log and results.
    assert_eq!(
        t.keys("backups/slow/"),
        vec![
            "backups/slow/slow-logs.gz".to_string(),
            "backups/slow/slow-results.gz".to_string(),
            "backups/slow/velero-backup.json".to_string(),
        ]
    );
    let log = text(block_on(t.vault.backup_logs("slow")).unwrap());
    assert!(log.contains("backup slow started"), "{log}");
    assert!(
        log.contains(
            "level=error msg=\"backup failed (timeout failure): velero backup process timeout"
        ),
        "{log}"
    );
}

#[test]
fn a_failed_backup_is_recorded_with_its_kind_message_and_causes() {
    let t = Setup::new();
    let engine = t.engine(&shop(0), Behaviour::Unreachable);
    let report = block_on(engine.backup(shop_spec("blind", Duration::from_secs(3600))));
    assert_eq!(report.status.phase, JobPhase::Failed);
    let failure = report.status.failure.clone().unwrap();
    assert_eq!(failure.kind, FailureKind::Cluster);
    assert!(failure.transient, "an unreachable server may answer later");
    assert_eq!(
        failure.message,
        "discovering the cluster's resources: cluster unavailable: dial tcp 10.0.0.1:6443: connection refused"
    );
    assert_eq!(
        failure.causes,
        vec!["cluster unavailable: dial tcp 10.0.0.1:6443: connection refused".to_string()]
    );

    let record = block_on(t.vault.backup_record("blind")).unwrap().unwrap();
    assert_eq!(record.status.failure, Some(failure));
    let json: Value =
        serde_json::from_slice(&block_on(t.store.get("backups/blind/velero-backup.json")).unwrap())
            .unwrap();
    // Velero's fields, and csdr's typed failure beside them.
    assert_eq!(json["status"]["phase"], "Failed");
    assert_eq!(
        json["status"]["failureReason"],
        "discovering the cluster's resources: cluster unavailable: dial tcp 10.0.0.1:6443: connection refused"
    );
    assert_eq!(json["csdr"]["status"]["failure"]["kind"], "cluster");
    assert_eq!(json["csdr"]["status"]["failure"]["transient"], true);
    assert_eq!(json["status"]["startTimestamp"], T0);

    // A spec that selects nothing fails in the FAQ's words, and is recorded too.
    let mut ghost = BackupSpec::new("ghost");
    ghost.scope.included_namespaces = vec!["nowhere".into(), "gone".into()];
    let report = block_on(t.engine(&shop(0), Behaviour::Normal).backup(ghost));
    let failure = report.status.failure.unwrap();
    assert_eq!(failure.kind, FailureKind::Spec);
    assert!(
        failure
            .message
            .starts_with("get target namespace failed: none of [nowhere, gone] exists"),
        "{}",
        failure.message
    );
    let record = block_on(t.vault.backup_record("ghost")).unwrap().unwrap();
    assert_eq!(record.status.phase, JobPhase::Failed);
    // Its name is taken like any committed backup's.
    let again = block_on(
        t.engine(&shop(0), Behaviour::Normal)
            .backup(BackupSpec::new("ghost")),
    );
    assert_eq!(again.status.failure.unwrap().kind, FailureKind::Vault);
}

#[test]
fn a_failed_backup_is_collected_after_its_ttl() {
    let t = Setup::new();
    let engine = t.engine(&shop(0), Behaviour::Unreachable);
    block_on(engine.backup(shop_spec("blind", Duration::from_secs(3600))));
    t.clock.advance(Duration::from_secs(1800));
    assert!(block_on(engine.gc()).unwrap().expired.is_empty());
    t.clock.advance(Duration::from_secs(1800));
    assert_eq!(
        block_on(engine.gc()).unwrap().expired,
        vec!["blind".to_string()]
    );
    assert!(t.keys("backups/").is_empty(), "{:?}", t.keys("backups/"));
}

#[test]
fn a_backup_records_its_real_start_and_expires_from_it() {
    let t = Setup::new();
    let engine = t.engine(&shop(0), Behaviour::SlowPages);
    let report = block_on(engine.backup(shop_spec("timed", Duration::from_secs(3600))));
    assert_eq!(
        report.status.phase,
        JobPhase::Completed,
        "{:?}",
        report.status
    );
    let t0: jiff::Timestamp = T0.parse().unwrap();
    let record = block_on(t.vault.backup("timed")).unwrap().unwrap();
    assert_eq!(record.created, t0);
    assert_eq!(record.status.start_timestamp, Some(t0));
    let completed = record.status.completion_timestamp.unwrap();
    assert!(completed > t0 + Duration::from_secs(60), "{completed}");
    // B10: expires = start + TTL, however long the backup ran.
    assert_eq!(
        record.status.expiration,
        Some(t0 + Duration::from_secs(3600))
    );
}

#[test]
fn completed_jobs_write_their_logs() {
    let t = Setup::new();
    let source = shop(0);
    let report = block_on(
        t.engine(&source, Behaviour::Normal)
            .backup(shop_spec("nightly", Duration::from_secs(3600))),
    );
    assert_eq!(report.status.phase, JobPhase::Completed);
    let log = text(block_on(t.vault.backup_logs("nightly")).unwrap());
    assert!(
        log.starts_with(&format!(
            "time=\"{T0}\" level=info msg=\"backup nightly started"
        )),
        "{log}"
    );
    assert!(
        log.contains("msg=\"backed up v1/ConfigMap shop/web-config\""),
        "{log}"
    );
    assert!(
        log.contains("listed configmaps at v1 in shop: 1 objects"),
        "{log}"
    );
    assert!(log.contains("backup nightly Completed: "), "{log}");

    let target = SimCluster::new(KubeRelease::V1_25);
    let restore = block_on(
        t.engine(&target, Behaviour::Normal)
            .restore(RestoreSpec::new("r1", "nightly")),
    );
    assert_eq!(
        restore.status.phase,
        JobPhase::Completed,
        "{:?}",
        restore.status
    );
    let log = text(block_on(t.vault.restore_logs("r1")).unwrap());
    assert!(
        log.contains("restore r1 of backup nightly started"),
        "{log}"
    );
    assert!(
        log.contains("msg=\"created v1 ConfigMap shop/web-config\""),
        "{log}"
    );
    assert!(
        log.contains("restore r1 from backup nightly Completed"),
        "{log}"
    );

    let unknown = block_on(t.vault.backup_logs("nope")).unwrap_err();
    assert_eq!(
        unknown.to_string(),
        "VaultError: backup nope not found in vault"
    );
    let unknown = block_on(t.vault.restore_logs("nope")).unwrap_err();
    assert_eq!(
        unknown.to_string(),
        "VaultError: restore nope not found in vault"
    );
}

#[test]
fn a_failed_restore_is_recorded_with_its_log() {
    let t = Setup::new();
    let target = SimCluster::new(KubeRelease::V1_25);
    let report = block_on(
        t.engine(&target, Behaviour::Normal)
            .restore(RestoreSpec::new("r-none", "missing")),
    );
    assert_eq!(report.status.phase, JobPhase::Failed);
    let record = block_on(t.vault.restore("r-none"))
        .unwrap()
        .expect("recorded");
    assert_eq!(record.status.phase, JobPhase::Failed);
    let failure = record.status.failure.unwrap();
    assert_eq!(failure.kind, FailureKind::Spec);
    assert!(
        failure
            .message
            .starts_with("backup missing not found in vault memory://"),
        "{}",
        failure.message
    );
    let log = text(block_on(t.vault.restore_logs("r-none")).unwrap());
    assert!(
        log.contains("level=error msg=\"restore failed (spec failure): backup missing not found"),
        "{log}"
    );
}

#[test]
fn a_restore_whose_name_is_taken_is_refused_before_anything_is_written() {
    let t = Setup::new();
    let source = shop(0);
    block_on(
        t.engine(&source, Behaviour::Normal)
            .backup(shop_spec("one", Duration::from_secs(3600))),
    );
    block_on(
        t.engine(&source, Behaviour::Normal)
            .backup(shop_spec("two", Duration::from_secs(3600))),
    );
    let first_target = SimCluster::new(KubeRelease::V1_25);
    let first = block_on(
        t.engine(&first_target, Behaviour::Normal)
            .restore(RestoreSpec::new("r1", "one")),
    );
    assert_eq!(first.status.phase, JobPhase::Completed);
    let restores_before = t.keys("restores/");

    let target = SimCluster::new(KubeRelease::V1_25);
    let before = target.object_count();
    let again = block_on(
        t.engine(&target, Behaviour::Normal)
            .restore(RestoreSpec::new("r1", "two")),
    );
    assert_eq!(again.status.phase, JobPhase::Failed);
    let failure = again.status.failure.unwrap();
    assert_eq!(failure.kind, FailureKind::Vault);
    assert_eq!(
        failure.message,
        "VaultError: restore already exists in vault: r1; choose another name"
    );
    assert!(again.created.is_empty());
    assert_eq!(target.object_count(), before, "nothing was applied");
    assert_eq!(
        t.keys("restores/"),
        restores_before,
        "nothing was written to the vault"
    );
    let kept = block_on(t.vault.restore("r1")).unwrap().unwrap();
    assert_eq!(
        kept.spec.backup_name, "one",
        "the first restore's record is untouched"
    );
}

#[test]
fn the_backup_knows_an_estimate_of_its_total_before_it_ends() {
    let t = Setup::new();
    let events: Arc<Mutex<Vec<ProgressEvent>>> = Arc::default();
    let sink = {
        let events = events.clone();
        Arc::new(move |e: &ProgressEvent| events.lock().unwrap().push(e.clone()))
    };
    let engine = t.engine_with(&shop(249), Behaviour::Normal, Some(sink));
    let report = block_on(engine.backup(shop_spec("counted", Duration::from_secs(3600))));
    assert_eq!(report.status.phase, JobPhase::Completed);
    let items: Vec<(u64, Option<u64>, bool)> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            ProgressEvent::Items {
                done,
                total,
                estimated,
            } => Some((*done, *total, *estimated)),
            _ => None,
        })
        .collect();
    let (done, total, estimated) = items[0];
    assert!(estimated, "{items:?}");
    let total = total.expect("a total while the lists run");
    assert!(total >= done && total > 0, "{items:?}");
    let last = items.last().unwrap();
    let final_count = report.status.progress.total_items;
    assert_eq!(*last, (final_count, Some(final_count), false), "{items:?}");
    assert_eq!(report.status.progress.items_done, final_count);
}

/// A store failure keeps its whole chain: the backup's failure names the vault operation,
/// and its causes hold the store's error and what the store's client saw.
#[cfg(feature = "testing")]
#[test]
fn a_store_failure_is_recorded_with_its_source_chain() {
    use csdr_core::ports::blob_store::BlobError;
    use csdr_core::vault::Fault;

    let t = Setup::new();
    t.store
        .set_fault_hook(Some(Arc::new(|call: &csdr_core::vault::BlobCall| {
            (call.operation == "upload_write").then(|| {
                Fault::Before(BlobError::Other {
                    operation: "upload".into(),
                    key: call.key.clone(),
                    transient: true,
                    source: "connection reset by peer".into(),
                })
            })
        })));
    let report = block_on(
        t.engine(&shop(0), Behaviour::Normal)
            .backup(shop_spec("cut", Duration::from_secs(3600))),
    );
    t.store.set_fault_hook(None);
    let failure = report.status.failure.expect("failed");
    assert_eq!(failure.kind, FailureKind::Vault);
    assert!(failure.transient);
    assert!(
        failure
            .message
            .starts_with("VaultError: upload backups/cut/csdr-attempts/"),
        "{}",
        failure.message
    );
    assert_eq!(failure.causes.len(), 2, "{:?}", failure.causes);
    assert!(
        failure.causes[0].starts_with("upload backups/cut/csdr-attempts/")
            && failure.causes[0].ends_with("/cut.tar.gz failed"),
        "{:?}",
        failure.causes
    );
    assert_eq!(failure.causes[1], "connection reset by peer");
    // Recorded with its chain, and nothing of the tarball kept.
    let record = block_on(t.vault.backup_record("cut")).unwrap().unwrap();
    assert_eq!(record.status.failure, Some(failure));
    assert!(
        !t.keys("backups/cut/")
            .iter()
            .any(|k| k.ends_with(".tar.gz")),
        "{:?}",
        t.keys("backups/cut/")
    );
}
