//! The engine: backup and restore pipelines over the ports.
//!
//! [`Engine`] is the only part of csdr-core that sequences I/O. It takes a [`Cluster`], a
//! [`Vault`], optionally a [`VolumeSnapshotter`], a [`Clock`] and a [`Timer`], and runs:
//! - [`Engine::backup`] (B1–B11): discover, select, list every served version with bounded
//!   concurrency, stream the objects into the archive and the vault without holding them in
//!   memory, snapshot volumes if asked, commit the record last;
//! - [`Engine::restore`] (R1–R12): refuse non-restorable backups, download and verify, plan
//!   with the core planner, apply in order, wait for CRDs and claims, record the result;
//! - [`Engine::delete_backup`], [`Engine::gc`] and [`Engine::run_schedule_tick`];
//! - [`Engine::convert_to_snapshots`]: the FAQ's StorageClass conversion of file-system
//!   volume data into CSI snapshots of another class, which restores then start from;
//! - volume snapshots with their backups' lifecycle (the `snapshots` module: retained while
//!   the backup lives, removed when it fails, expires or is deleted; standalone volume
//!   restores).
//!
//! Jobs report [`ProgressEvent`]s to an optional callback, log through `tracing`, write their
//! own log to the vault, and stop when their future is dropped (an unfinished upload is never
//! visible, V5). Every job ends with a record: a backup or restore that fails is recorded with
//! its typed failure ([`JobFailure`](crate::model::JobFailure)) so it can be described later.
//!
//! The engine has no runtime of its own: it runs under any executor. The time comes from the
//! [`Clock`], and every wait and timeout (the B8 backup timeout, CRDs, claims, snapshots)
//! from the [`Timer`]; a [`ManualClock`](crate::ports::clock::ManualClock) given as both
//! makes timeouts testable without waiting.
//!
//! ```
//! use std::sync::Arc;
//! use csdr_core::engine::Engine;
//! use csdr_core::model::BackupSpec;
//! use csdr_core::releases::KubeRelease;
//! use csdr_core::sim::SimCluster;
//! # use csdr_core::ports::vault::Vault;
//! # async fn run(vault: Arc<dyn Vault>) -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Engine::builder()
//!     .cluster(Arc::new(SimCluster::new(KubeRelease::V1_16)))
//!     .vault(vault)
//!     .build()?;
//! let report = engine.backup(BackupSpec::new("nightly")).await;
//! println!("{}: {} objects", report.status.phase, report.status.progress.items_done);
//! # Ok(()) }
//! ```

mod apply;
mod backup;
mod convert;
mod failure;
mod log;
mod maintenance;
mod pod_volumes;
mod preflight;
mod restore;
mod snapshots;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::model::{Issue, JobStatus};
pub use crate::ports::clock::SystemClock;
use crate::ports::clock::{Clock, SystemTimer, Timer};
use crate::ports::cluster::Cluster;
use crate::ports::pod_volume::PodVolumeMover;
use crate::ports::snapshot::{VolumeSnapshotRecord, VolumeSnapshotter};
use crate::ports::spool::{MemorySpool, Spool};
use crate::ports::vault::Vault;
use crate::selection::DEFAULT_ENGINE_NAMESPACE;
use crate::transform::TransformOptions;

pub use convert::{
    CONVERT_NAME_LABEL, ConvertReport, ConvertSpec, ConvertedSnapshot, ConvertedVolume,
    bind_timeout_message, temporary_claim_name,
};
pub use maintenance::{GcReport, ScheduleTick};
pub use pod_volumes::{HBR_PARTIALLY_COMPLETED, VOLUME_POD_LABEL, recorded_pod_volume_backups};
pub use preflight::PreflightReport;
pub use restore::{RestoreCounts, RestoreReport};
pub use snapshots::{SnapshotCleanup, backup_snapshot_name, describe_snapshot, recorded_snapshots};

/// Options of the engine beyond the `csdr-config` ConfigMap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineOptions {
    /// Workers, timeouts and snapshot batches (C1).
    pub config: Config,
    /// The engine's own namespace: never backed up or restored (B1).
    pub engine_namespace: String,
    /// Disk classification and conversion targets for restore transformations.
    pub transform: TransformOptions,
    /// Objects per list request.
    pub page_size: u32,
    /// How long to wait for a restored CRD to be Established.
    pub crd_wait: Duration,
    /// How long to wait for a restored claim to be Bound (R12).
    pub pvc_bind_wait: Duration,
    /// How long to wait for a volume snapshot to be ready (B6).
    pub snapshot_wait: Duration,
    /// How old uncommitted upload data must be before GC removes it (B10); longer than the
    /// backup timeout.
    pub orphan_grace: Duration,
    /// At most this many restore writes per second (a client-side rate limit); `None`
    /// leaves the pace to `restore_max_worker_num` and the cluster.
    pub restore_writes_per_second: Option<std::num::NonZeroU32>,
    /// How many times a restore write the cluster refused as transient (429, 5xx, network)
    /// is tried again, after a back-off that starts at 0.5 s and doubles.
    pub restore_transient_retries: u32,
    /// Whether a restore's report holds every final object in its plan's create steps
    /// (`RestoreReport::plan`, `RestoreReport::objects`). Default `true`. With `false` a
    /// restore that writes (not a dry run, no pre-flight) keeps each final object in the
    /// engine's spool until it is applied and the report's create steps hold only what
    /// names the objects (`apiVersion`, `kind`, name, namespace) and where they are created,
    /// without their source, version choice and transformations (a dry run reports those),
    /// so a restore of millions of objects does not hold them all (R13); namespaces,
    /// volumes, claims, StorageClasses, CRDs, Pods and the workloads that mount claims stay
    /// whole. Its `created`, `existing` and `patched` lists are then left empty: the
    /// report's `counts` say how many, and the restore's resource list in the vault names
    /// every object created.
    pub restore_report_objects: bool,
    /// How many bytes of a backup's entries (their JSON text) a restore's index holds whole
    /// in memory; the entries read after that are spooled and the index keeps only their
    /// heads (R13). Default 4 MiB, about 12 MiB of parsed objects: a small backup is planned
    /// from memory without a round trip through the spool, a large one holds a bounded part.
    pub restore_index_held_bytes: u64,
}

impl Default for EngineOptions {
    fn default() -> Self {
        let config = Config::default();
        let orphan_grace = config.application_backup.backup_timeout * 2;
        EngineOptions {
            config,
            engine_namespace: DEFAULT_ENGINE_NAMESPACE.to_string(),
            transform: TransformOptions::default(),
            page_size: 500,
            crd_wait: Duration::from_secs(60),
            pvc_bind_wait: Duration::from_secs(300),
            snapshot_wait: Duration::from_secs(600),
            orphan_grace,
            restore_writes_per_second: None,
            restore_transient_retries: 3,
            restore_report_objects: true,
            restore_index_held_bytes: 4 << 20,
        }
    }
}

/// What a job reports while it runs, for progress bars and logs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum ProgressEvent {
    /// A job started.
    Started {
        /// `backup` or `restore`.
        job: String,
        /// The job's name.
        name: String,
    },
    /// Work on one resource began.
    Resource {
        /// `resource.group` at a version, e.g. `deployments.apps/v1`.
        resource: String,
    },
    /// Items done so far, and the total when known.
    Items {
        /// Items done.
        done: u64,
        /// Items expected, if known: for a backup, the objects listed so far while its lists
        /// run (`estimated`), the final count at the end.
        total: Option<u64>,
        /// Whether `total` is an estimate that may still change.
        #[serde(default)]
        estimated: bool,
    },
    /// A warning or error was recorded.
    Issue {
        /// Whether it is an error (else a warning).
        error: bool,
        /// The issue.
        issue: Issue,
    },
    /// The job finished.
    Finished {
        /// Its phase.
        phase: crate::model::JobPhase,
    },
}

/// A callback receiving [`ProgressEvent`]s.
pub type ProgressSink = Arc<dyn Fn(&ProgressEvent) + Send + Sync>;

/// The result of a backup.
#[derive(Clone, Debug, PartialEq)]
pub struct BackupReport {
    /// The backup's name.
    pub name: String,
    /// Phase, errors, warnings, progress and times.
    pub status: JobStatus,
    /// The number of objects backed up per type, keyed `group/version/Kind` at the preferred
    /// version (as the resource list). The names are in the backup's resource list, which
    /// [`Vault::backup_companions`] reads.
    pub resource_counts: BTreeMap<String, u64>,
    /// Volume snapshots taken (B6).
    pub volume_snapshots: Vec<VolumeSnapshotRecord>,
    /// File-system volume backups (D3), Completed or Failed.
    pub pod_volume_backups: Vec<crate::ports::pod_volume::PodVolumeBackupRecord>,
    /// Entries written to the archive (objects at every version, plus metadata).
    pub archive_entries: u64,
    /// SHA-256 of the tarball, when committed.
    pub archive_sha256: Option<String>,
}

/// Why an engine could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// A required port was not given to the builder.
    #[error("the engine needs a {0}; pass one to Engine::builder()")]
    Missing(&'static str),
}

/// Builds an [`Engine`].
#[derive(Default)]
pub struct EngineBuilder {
    cluster: Option<Arc<dyn Cluster>>,
    vault: Option<Arc<dyn Vault>>,
    snapshotter: Option<Arc<dyn VolumeSnapshotter>>,
    pod_volume_mover: Option<Arc<dyn PodVolumeMover>>,
    clock: Option<Arc<dyn Clock>>,
    timer: Option<Arc<dyn Timer>>,
    options: EngineOptions,
    progress: Option<ProgressSink>,
    spool: Option<Arc<dyn Spool>>,
}

impl EngineBuilder {
    /// The cluster to back up from and restore into.
    pub fn cluster(mut self, cluster: Arc<dyn Cluster>) -> Self {
        self.cluster = Some(cluster);
        self
    }

    /// The vault backups are stored in.
    pub fn vault(mut self, vault: Arc<dyn Vault>) -> Self {
        self.vault = Some(vault);
        self
    }

    /// The volume snapshotter (needed for `backup_volumes` and for restoring snapshots).
    pub fn snapshotter(mut self, snapshotter: Arc<dyn VolumeSnapshotter>) -> Self {
        self.snapshotter = Some(snapshotter);
        self
    }

    /// The mover that copies volumes' files to and from the vault's volume repository on the
    /// nodes that mount them (D1, D3, D4): needed for file-system volume backups and for
    /// restoring their data.
    pub fn pod_volume_mover(mut self, mover: Arc<dyn PodVolumeMover>) -> Self {
        self.pod_volume_mover = Some(mover);
        self
    }

    /// The clock; the system clock when not given.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The timer every wait and timeout uses; [`SystemTimer`] when not given. Pass the
    /// runtime's timer (`csdr_storage::TokioTimer` on tokio), or the same
    /// [`ManualClock`](crate::ports::clock::ManualClock) as the clock in tests.
    pub fn timer(mut self, timer: Arc<dyn Timer>) -> Self {
        self.timer = Some(timer);
        self
    }

    /// The `csdr-config` configuration (C1).
    pub fn config(mut self, config: Config) -> Self {
        self.options.config = config;
        self
    }

    /// All engine options.
    pub fn options(mut self, options: EngineOptions) -> Self {
        self.options = options;
        self
    }

    /// A callback for progress events.
    pub fn progress(mut self, sink: ProgressSink) -> Self {
        self.progress = Some(sink);
        self
    }

    /// Where a restore spools the archive it streams from the vault (R13); [`MemorySpool`]
    /// when not given. Pass `csdr_storage::TempFileSpool` to keep it out of memory.
    pub fn spool(mut self, spool: Arc<dyn Spool>) -> Self {
        self.spool = Some(spool);
        self
    }

    /// The engine; fails if the cluster or the vault is missing.
    pub fn build(self) -> Result<Engine, EngineError> {
        Ok(Engine {
            cluster: self.cluster.ok_or(EngineError::Missing("cluster"))?,
            vault: self.vault.ok_or(EngineError::Missing("vault"))?,
            snapshotter: self.snapshotter,
            pod_volume_mover: self.pod_volume_mover,
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            timer: self.timer.unwrap_or_else(|| Arc::new(SystemTimer)),
            options: self.options,
            progress: self.progress,
            spool: self.spool.unwrap_or_else(|| Arc::new(MemorySpool)),
        })
    }
}

/// Backs up and restores Kubernetes applications over the ports.
#[derive(Clone)]
pub struct Engine {
    cluster: Arc<dyn Cluster>,
    vault: Arc<dyn Vault>,
    snapshotter: Option<Arc<dyn VolumeSnapshotter>>,
    pod_volume_mover: Option<Arc<dyn PodVolumeMover>>,
    clock: Arc<dyn Clock>,
    timer: Arc<dyn Timer>,
    options: EngineOptions,
    progress: Option<ProgressSink>,
    spool: Arc<dyn Spool>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("vault", &self.vault.location())
            .field("options", &self.options)
            .finish()
    }
}

impl Engine {
    /// A builder.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// The same engine on another connection to the same cluster: e.g. one made on the
    /// runtime a job runs on, so that its requests stay there.
    pub fn with_cluster(mut self, cluster: Arc<dyn Cluster>) -> Engine {
        self.cluster = cluster;
        self
    }

    /// The engine's options.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// The vault.
    pub fn vault(&self) -> &Arc<dyn Vault> {
        &self.vault
    }

    /// The mover of volumes' files, if the engine has one.
    pub fn pod_volume_mover(&self) -> Option<&Arc<dyn PodVolumeMover>> {
        self.pod_volume_mover.as_ref()
    }

    /// The cluster.
    pub fn cluster(&self) -> &Arc<dyn Cluster> {
        &self.cluster
    }

    /// The clock jobs, GC and schedule ticks read.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    fn emit(&self, event: ProgressEvent) {
        if let Some(sink) = &self.progress {
            sink(&event);
        }
    }
}
