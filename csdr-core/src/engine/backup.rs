//! The backup pipeline (B1–B11).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt, stream};

use super::failure::JobError;
use super::log::JobLog;
use super::{BackupReport, Engine, ProgressEvent};
use crate::archive::{ArchiveItem, ArchiveWriter, Placement, WriterOptions};
use crate::discovery::Discovery;
use crate::model::{
    BackupSpec, FailureKind, Issue, JobFailure, JobPhase, JobStatus, ObjectRef, Progress,
};
use crate::object::{GroupVersionResource, KubeObject};
use crate::ports::clock::{Elapsed, within};
use crate::ports::cluster::ClusterError;
use crate::ports::snapshot::VolumeSnapshotRecord;
use crate::ports::vault::BackupUpload;
use crate::resources::{ClusterResources, SelectedResource, selectable_resources};
use crate::selection::{BackupSelection, RelatedClusterObjects};
use crate::vault_record::{
    BackupRecord, CompanionFile, CompanionKind, EntryDigestsWriter, JobResults, ResourceListWriter,
};

/// Upload the archive and the entry-digests file in chunks of about this size.
const CHUNK: usize = 1 << 20;
/// Objects buffered per list task.
const TASK_BUFFER: usize = 64;
/// List per namespace when at most this many namespaces are selected; else list across all
/// namespaces and filter.
const PER_NAMESPACE_LISTS: usize = 8;

/// Bytes written by the archive writer, waiting to be uploaded.
#[derive(Clone, Default)]
struct Spool(Arc<Mutex<Vec<u8>>>);

impl Spool {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The archive being written and the two streams it feeds: the tarball and the entry-digests
/// file, each spooled in memory up to [`CHUNK`] before it is handed to the upload.
struct ArchiveOutput {
    writer: ArchiveWriter<Spool, EntryDigestsWriter<Spool>>,
    tarball: Spool,
    digests: Spool,
}

impl ArchiveOutput {
    fn new() -> Result<Self, JobError> {
        let tarball = Spool::default();
        let digests = Spool::default();
        let writer = ArchiveWriter::with_digest_sink(
            tarball.clone(),
            EntryDigestsWriter::new(digests.clone()),
            WriterOptions::default(),
        )?;
        Ok(ArchiveOutput {
            writer,
            tarball,
            digests,
        })
    }

    /// Uploads what is spooled of each stream once it holds at least [`CHUNK`] bytes.
    async fn flush(&self, upload: &mut Box<dyn BackupUpload>) -> Result<(), JobError> {
        upload_spooled(&self.tarball, &self.digests, upload, CHUNK).await
    }

    /// Ends the archive and the entry-digests file and uploads the rest of both.
    async fn finish(
        self,
        upload: &mut Box<dyn BackupUpload>,
    ) -> Result<crate::archive::ArchiveSummary, JobError> {
        let (summary, _, digests) = self.writer.finish()?;
        digests.finish().map_err(|e| {
            JobError::new(FailureKind::Vault, false, e)
                .context("writing the entry-digests file failed")
        })?;
        upload_spooled(&self.tarball, &self.digests, upload, 1).await?;
        Ok(summary)
    }
}

/// Hands each spool's bytes to the upload once it holds at least `min` bytes.
async fn upload_spooled(
    tarball: &Spool,
    digests: &Spool,
    upload: &mut Box<dyn BackupUpload>,
    min: usize,
) -> Result<(), JobError> {
    if tarball.len() >= min {
        upload.write(Bytes::from(tarball.take())).await?;
    }
    if digests.len() >= min {
        upload
            .write_entry_digests(Bytes::from(digests.take()))
            .await?;
    }
    Ok(())
}

/// One list call stream: a unit at one version, in one namespace or all.
struct ListTask {
    unit: usize,
    gvr: GroupVersionResource,
    namespace: Option<String>,
    preferred: bool,
}

/// Everything the backup collects while it runs; it outlives the timed part of the job, so
/// a backup that fails or times out still records its log, errors and warnings.
struct Collected {
    errors: Vec<Issue>,
    warnings: Vec<Issue>,
    resources: ResourceListWriter,
    related: RelatedClusterObjects,
    claims_in_use: super::snapshots::ClaimsInUse,
    log: JobLog,
    /// Objects backed up (at their preferred version).
    done: u64,
    /// Objects listed so far at their preferred version: the estimate of the total while
    /// lists run.
    listed: Arc<std::sync::atomic::AtomicU64>,
}

impl Collected {
    fn new(log: JobLog) -> Self {
        Collected {
            errors: Vec::new(),
            warnings: Vec::new(),
            resources: ResourceListWriter::default(),
            related: RelatedClusterObjects::default(),
            claims_in_use: Default::default(),
            log,
            done: 0,
            listed: Arc::default(),
        }
    }

    fn warn(&mut self, issue: Issue) {
        self.log.warning(issue.to_string());
        self.warnings.push(issue);
    }

    fn error(&mut self, issue: Issue) {
        self.log.error(issue.to_string());
        self.errors.push(issue);
    }

    /// The estimate of the total: what the lists returned so far, at least what is done.
    fn estimate(&self) -> u64 {
        self.listed
            .load(std::sync::atomic::Ordering::Relaxed)
            .max(self.done)
    }
}

/// What the streamed part of a backup produced.
struct Streamed {
    summary: crate::archive::ArchiveSummary,
    snapshots: Vec<VolumeSnapshotRecord>,
    snapshot_objects: Vec<(KubeObject, KubeObject)>,
    pod_volumes: Vec<crate::ports::pod_volume::PodVolumeBackupRecord>,
}

fn resource_key(obj: &KubeObject) -> String {
    format!("{}/{}", obj.api_version(), obj.kind())
}

fn object_key(obj: &KubeObject) -> String {
    match obj.namespace() {
        Some(ns) => format!("{ns}/{}", obj.name()),
        None => obj.name().to_string(),
    }
}

impl Engine {
    /// Runs a backup (B1–B11). Never panics and always returns a report: a job that could not
    /// run is `Failed` with its typed failure (`VaultError: …`, `get target namespace failed:
    /// …`, `velero backup process timeout`); objects that failed make it `PartiallyFailed`.
    ///
    /// The backup's time limit (B8, `velero_timeout_minutes`) is measured on the engine's
    /// [`Timer`](crate::ports::clock::Timer). Once the vault has accepted the name, every end
    /// is recorded: a Failed backup is committed with its failure, errors, warnings and log
    /// but without data (it is never listed or restored, V5, and GC removes it after its
    /// TTL). A backup refused before that (the vault unavailable, the name taken) is only
    /// reported: there is nowhere to record it, or the name belongs to another backup.
    pub async fn backup(&self, spec: BackupSpec) -> BackupReport {
        let started = self.clock.now();
        self.emit(ProgressEvent::Started {
            job: "backup".into(),
            name: spec.name.clone(),
        });
        let span = tracing::info_span!("backup", name = %spec.name);
        let report =
            tracing::Instrument::instrument(self.backup_in_time(&spec, started), span).await;
        if report.status.phase == JobPhase::Failed {
            tracing::warn!(backup = %spec.name, reason = ?report.status.failure_reason, "backup failed");
        }
        self.emit(ProgressEvent::Finished {
            phase: report.status.phase,
        });
        report
    }

    async fn backup_in_time(&self, spec: &BackupSpec, started: jiff::Timestamp) -> BackupReport {
        let timeout = self.options.config.application_backup.backup_timeout;
        let timed_out = |_: Elapsed| {
            JobError::message(
                FailureKind::Timeout,
                format!(
                    "velero backup process timeout: the backup did not finish within {} (raise velero_timeout_minutes in the applicationBackup section of csdr-config)",
                    crate::model::duration_text::format(&timeout)
                ),
            )
        };
        // 1. The vault must be usable and the name free; until then there is nothing to record.
        let opened = within(&*self.timer, timeout, self.open_backup(spec))
            .await
            .map_err(timed_out)
            .and_then(|r| r);
        let mut upload = match opened {
            Ok(upload) => upload,
            Err(e) => return self.unrecorded_failure(spec, started, &e),
        };
        // 2. The backup itself, in the time that is left.
        let attempt = upload.attempt().to_string();
        let mut c = Collected::new(JobLog::new(self.clock.clone()));
        c.log.info(format!(
            "backup {} started; upload attempt {}",
            spec.name,
            upload.attempt()
        ));
        let spent = self.clock.now().duration_since(started);
        let left = timeout.saturating_sub(spent.unsigned_abs());
        let outcome = within(
            &*self.timer,
            left,
            self.run_backup(spec, &mut upload, &mut c),
        )
        .await
        .map_err(timed_out)
        .and_then(|r| r);
        match outcome {
            Ok(streamed) => {
                let (record, companions, mut report) =
                    self.finish_record(spec, started, c, Ok(streamed));
                match companions {
                    Ok(companions) => match upload.commit(record, companions).await {
                        Ok(committed) => {
                            report.archive_sha256 = committed.archive.map(|a| a.sha256);
                            report
                        }
                        Err(e) => {
                            self.forget_attempt_snapshots(spec, &attempt).await;
                            self.unrecorded_failure(spec, started, &JobError::from(e))
                        }
                    },
                    Err(e) => {
                        self.forget_attempt_snapshots(spec, &attempt).await;
                        if let Err(abort) = upload.abort().await {
                            tracing::warn!(error = %abort, "could not clean up the aborted upload; GC will");
                        }
                        self.unrecorded_failure(spec, started, &e)
                    }
                }
            }
            Err(error) => {
                // A failed or timed-out backup keeps no snapshot.
                for failure in self
                    .remove_attempt_snapshots(spec, &attempt, &mut c.log)
                    .await
                {
                    c.warn(Issue::general(format!(
                        "a volume snapshot of the failed backup could not be removed (GC retries): {failure}"
                    )));
                }
                let (record, companions, mut report) =
                    self.finish_record(spec, started, c, Err(&error));
                let recorded = match companions {
                    Ok(companions) => upload
                        .record_failure(record, companions)
                        .await
                        .map_err(JobError::from),
                    Err(e) => Err(e),
                };
                if let Err(e) = recorded {
                    report.status.warnings.push(Issue::general(format!(
                        "the failure could not be recorded in the vault: {e}"
                    )));
                }
                report
            }
        }
    }

    /// Checks the vault (V2) and claims the name (B7).
    async fn open_backup(&self, spec: &BackupSpec) -> Result<Box<dyn BackupUpload>, JobError> {
        let now = self.clock.now();
        self.vault.validate(now).await.require_available()?;
        Ok(self.vault.start_backup(&spec.name).await?)
    }

    /// Removes the snapshots of an attempt that will not be recorded (GC removes what this
    /// cannot).
    async fn forget_attempt_snapshots(&self, spec: &BackupSpec, attempt: &str) {
        let mut log = JobLog::new(self.clock.clone());
        for failure in self.remove_attempt_snapshots(spec, attempt, &mut log).await {
            tracing::warn!(backup = %spec.name, %failure, "a volume snapshot of the failed backup could not be removed; GC will");
        }
    }

    /// A failed report for a backup the vault does not record.
    fn unrecorded_failure(
        &self,
        spec: &BackupSpec,
        started: jiff::Timestamp,
        error: &JobError,
    ) -> BackupReport {
        let mut status = JobStatus::failed(error.failure());
        status.start_timestamp = Some(started);
        status.completion_timestamp = Some(self.clock.now());
        BackupReport {
            name: spec.name.clone(),
            status,
            resource_counts: BTreeMap::new(),
            volume_snapshots: Vec::new(),
            pod_volume_backups: Vec::new(),
            archive_entries: 0,
            archive_sha256: None,
        }
    }

    /// The record, companion files and report of a backup that ended, with its data
    /// (`Ok`) or failed (`Err`).
    #[allow(clippy::type_complexity)]
    fn finish_record(
        &self,
        spec: &BackupSpec,
        started: jiff::Timestamp,
        mut c: Collected,
        outcome: Result<Streamed, &JobError>,
    ) -> (
        BackupRecord,
        Result<Vec<CompanionFile>, JobError>,
        BackupReport,
    ) {
        let now = self.clock.now();
        let failure: Option<JobFailure> = outcome.as_ref().err().map(|e| e.failure());
        let phase = match (&failure, c.errors.is_empty()) {
            (Some(_), _) => JobPhase::Failed,
            (None, true) => JobPhase::Completed,
            (None, false) => JobPhase::PartiallyFailed,
        };
        match &failure {
            Some(f) => {
                c.log
                    .error(format!("backup failed ({} failure): {}", f.kind, f.message));
                for cause in &f.causes {
                    c.log.error(format!("caused by: {cause}"));
                }
            }
            None => {
                self.emit(ProgressEvent::Items {
                    done: c.done,
                    total: Some(c.done),
                    estimated: false,
                });
            }
        }
        c.log.info(format!(
            "backup {} {phase}: {} objects, {} errors, {} warnings, in {}",
            spec.name,
            c.done,
            c.errors.len(),
            c.warnings.len(),
            super::log::seconds(now.duration_since(started))
        ));
        // A failed backup's lists may not have finished: its total is the estimate so far.
        let total_items = if phase == JobPhase::Failed {
            c.estimate()
        } else {
            c.done
        };
        let failed_volumes = match &outcome {
            Ok(streamed) => streamed
                .pod_volumes
                .iter()
                .filter(|r| r.phase == crate::ports::pod_volume::PodVolumePhase::Failed)
                .count(),
            Err(_) => 0,
        };
        let hbr = c.errors.iter().any(|e| {
            e.message
                .starts_with(super::pod_volumes::HBR_PARTIALLY_COMPLETED)
        });
        let status = JobStatus {
            phase,
            failure_reason: failure.as_ref().map(|f| f.message.clone()).or_else(|| {
                (phase == JobPhase::PartiallyFailed && hbr).then(|| {
                    format!(
                        "{}: {failed_volumes} file system volume backups failed; see the errors",
                        super::pod_volumes::HBR_PARTIALLY_COMPLETED
                    )
                })
            }),
            failure,
            errors: c.errors,
            warnings: c.warnings,
            progress: Progress {
                total_items,
                items_done: c.done,
            },
            start_timestamp: Some(started),
            completion_timestamp: Some(now),
            // B10: a backup expires its TTL after it started.
            expiration: jiff::SignedDuration::try_from(spec.ttl)
                .ok()
                .and_then(|ttl| started.checked_add(ttl).ok()),
        };
        let mut record = BackupRecord::new(spec.clone(), status.clone(), started);
        record.resource_counts = c.resources.counts().clone();
        let name = &spec.name;
        let logs = CompanionFile {
            kind: CompanionKind::Logs,
            gzip: c.log.finish(),
        };
        let mut pod_volume_backups = Vec::new();
        let (snapshots, archive_entries, companions) = match outcome {
            Ok(streamed) => {
                pod_volume_backups = streamed.pod_volumes;
                let (volume_snapshots, contents): (Vec<KubeObject>, Vec<KubeObject>) =
                    streamed.snapshot_objects.into_iter().unzip();
                let companions = (|| -> Result<Vec<CompanionFile>, JobError> {
                    Ok(vec![
                        logs,
                        CompanionFile::json(
                            CompanionKind::Results,
                            name,
                            &JobResults::from_status(&status),
                        )?,
                        c.resources.finish(name)?,
                        CompanionFile::json(
                            CompanionKind::CsiVolumeSnapshots,
                            name,
                            &volume_snapshots,
                        )?,
                        CompanionFile::json(
                            CompanionKind::CsiVolumeSnapshotContents,
                            name,
                            &contents,
                        )?,
                    ]
                    .into_iter()
                    .chain(if pod_volume_backups.is_empty() {
                        None
                    } else {
                        Some(CompanionFile::json(
                            CompanionKind::PodVolumeBackups,
                            name,
                            &pod_volume_backups
                                .iter()
                                .map(|r| r.to_velero_object())
                                .collect::<Vec<_>>(),
                        )?)
                    })
                    .collect())
                })();
                (streamed.snapshots, streamed.summary.objects, companions)
            }
            Err(_) => {
                let companions = CompanionFile::json(
                    CompanionKind::Results,
                    name,
                    &JobResults::from_status(&status),
                )
                .map(|results| vec![logs, results])
                .map_err(JobError::from);
                (Vec::new(), 0, companions)
            }
        };
        let report = BackupReport {
            name: spec.name.clone(),
            status,
            resource_counts: record.resource_counts.clone(),
            volume_snapshots: snapshots,
            pod_volume_backups,
            archive_entries,
            archive_sha256: None,
        };
        (record, companions, report)
    }

    /// Discovers, selects and streams the backup into the upload.
    async fn run_backup(
        &self,
        spec: &BackupSpec,
        upload: &mut Box<dyn BackupUpload>,
        c: &mut Collected,
    ) -> Result<Streamed, JobError> {
        let discovery = self
            .cluster
            .discover()
            .await
            .map_err(|e| JobError::from(e).context("discovering the cluster's resources"))?;
        let namespaces = self
            .namespace_names()
            .await
            .map_err(|e| JobError::from(e).context("listing the cluster's namespaces"))?;
        let mut selection = BackupSelection::resolve(
            spec,
            &discovery,
            &namespaces,
            &self.options.engine_namespace,
        )?;
        c.log.info(format!(
            "selected namespaces: [{}]; {} resource types",
            selection.namespaces.join(", "),
            selection.resources.len()
        ));
        // An API group whose discovery failed (an unavailable aggregated API) is skipped, not
        // fatal: its objects cannot be listed, and the user is told which group.
        for group in &discovery.unavailable {
            selection.warnings.push(Issue::general(format!(
                "API group {}{} is unavailable and was skipped: {}",
                if group.group.is_empty() {
                    "core"
                } else {
                    &group.group
                },
                group
                    .version
                    .as_deref()
                    .map(|v| format!("/{v}"))
                    .unwrap_or_default(),
                group.reason
            )));
        }
        self.stream_backup(spec, &discovery, &selection, upload, c)
            .await
    }

    async fn namespace_names(&self) -> Result<Vec<String>, ClusterError> {
        let gvr = GroupVersionResource::new("", "v1", "namespaces");
        let mut names = Vec::new();
        let mut list = self.cluster.list(&gvr, None, None, self.options.page_size);
        while let Some(ns) = list.next().await {
            names.push(ns?.name().to_string());
        }
        Ok(names)
    }

    async fn stream_backup(
        &self,
        spec: &BackupSpec,
        discovery: &Discovery,
        selection: &BackupSelection,
        upload: &mut Box<dyn BackupUpload>,
        c: &mut Collected,
    ) -> Result<Streamed, JobError> {
        let mut out = ArchiveOutput::new()?;
        for w in &selection.warnings {
            self.emit(ProgressEvent::Issue {
                error: false,
                issue: w.clone(),
            });
            c.warn(w.clone());
        }

        // 1. Namespaced units, and cluster-scoped ones taken wholesale.
        let units: Vec<SelectedResource> = selection
            .namespaced_resources()
            .cloned()
            .chain(selection.wholesale_cluster_resources().into_iter().cloned())
            .collect();
        let per_namespace = selection.namespaces.len() <= PER_NAMESPACE_LISTS;
        let mut tasks = Vec::new();
        for (i, unit) in units.iter().enumerate() {
            let preferred = unit.preferred();
            for gvr in unit.gvrs() {
                let is_preferred = gvr.group_version() == preferred;
                let scopes: Vec<Option<String>> = if !unit.namespaced() {
                    vec![None]
                } else if per_namespace {
                    selection.namespaces.iter().cloned().map(Some).collect()
                } else {
                    vec![None]
                };
                for ns in scopes {
                    tasks.push(ListTask {
                        unit: i,
                        gvr: gvr.clone(),
                        namespace: ns,
                        preferred: is_preferred,
                    });
                }
            }
        }
        self.run_list_tasks(&units, tasks, selection, &mut out, upload, c)
            .await?;

        // 2. Related cluster-scoped objects (B4): the selected namespaces, and the PVs,
        //    StorageClasses and CRDs of selected objects.
        if selection.cluster_resources != ClusterResources::All {
            self.backup_related(discovery, selection, &mut out, upload, c)
                .await?;
        }

        // 3. Volume data (B6, D5).
        let volumes = self
            .snapshot_claims(spec, upload.attempt(), &c.claims_in_use)
            .await;
        for line in volumes.log {
            c.log.info(line);
        }
        for w in volumes.warnings {
            c.warn(w);
        }
        for e in volumes.errors {
            c.error(e);
        }
        let (snapshots, snapshot_objects) = (volumes.records, volumes.objects);
        let pod_volumes = volumes.pod_volumes;

        // 4. Finish the archive and upload the rest.
        let summary = out.finish(upload).await?;
        Ok(Streamed {
            summary,
            snapshots,
            snapshot_objects,
            pod_volumes,
        })
    }

    /// Runs list tasks with bounded concurrency (`backup_max_worker_num`) while consuming
    /// their objects in task order, so the archive's order does not depend on timing.
    #[allow(clippy::too_many_arguments)]
    async fn run_list_tasks(
        &self,
        units: &[SelectedResource],
        tasks: Vec<ListTask>,
        selection: &BackupSelection,
        out: &mut ArchiveOutput,
        upload: &mut Box<dyn BackupUpload>,
        c: &mut Collected,
    ) -> Result<(), JobError> {
        let workers = self
            .options
            .config
            .application_backup
            .backup_max_worker_num
            .get();
        let label_selector = selection.label_selector.to_string();
        let label_selector = (!label_selector.is_empty()).then_some(label_selector);
        let page = self.options.page_size;
        let mut receivers = Vec::with_capacity(tasks.len());
        let mut senders = Vec::with_capacity(tasks.len());
        for _ in &tasks {
            let (tx, rx) = mpsc::channel::<Result<KubeObject, ClusterError>>(TASK_BUFFER);
            senders.push(tx);
            receivers.push(rx);
        }
        let cluster = &self.cluster;
        let label_selector = &label_selector;
        let listed = &c.listed.clone();
        let producers = stream::iter(tasks.iter().zip(senders)).for_each_concurrent(
            workers,
            |(task, mut tx)| async move {
                let mut list = cluster.list(
                    &task.gvr,
                    task.namespace.as_deref(),
                    label_selector.as_deref(),
                    page,
                );
                while let Some(item) = list.next().await {
                    let stop = item.is_err();
                    if !stop && task.preferred {
                        // Counted as the pages arrive: the total's estimate.
                        listed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    if tx.send(item).await.is_err() || stop {
                        break;
                    }
                }
            },
        );
        let consumer = async {
            for (task, mut rx) in tasks.iter().zip(receivers) {
                let unit = &units[task.unit];
                self.emit(ProgressEvent::Resource {
                    resource: format!("{}/{}", unit.group_resource(), task.gvr.version),
                });
                let mut n = 0u64;
                while let Some(item) = rx.next().await {
                    match item {
                        Ok(obj) => {
                            if !selection.selects(&obj) || super::snapshots::is_csdr_snapshot(&obj)
                            {
                                continue;
                            }
                            n += 1;
                            self.archive_object(unit, &task.gvr, task.preferred, obj, out, c)?;
                            out.flush(upload).await?;
                        }
                        Err(e) => {
                            let issue = Issue::general(format!(
                                "listing {} at {}{}: {e}",
                                unit.group_resource(),
                                task.gvr.group_version(),
                                task.namespace
                                    .as_deref()
                                    .map(|ns| format!(" in namespace {ns}"))
                                    .unwrap_or_default()
                            ));
                            self.emit(ProgressEvent::Issue {
                                error: true,
                                issue: issue.clone(),
                            });
                            c.error(issue);
                        }
                    }
                }
                c.log.info(format!(
                    "listed {} at {}{}: {n} objects",
                    unit.group_resource(),
                    task.gvr.group_version(),
                    task.namespace
                        .as_deref()
                        .map(|ns| format!(" in {ns}"))
                        .unwrap_or_default()
                ));
            }
            Ok::<(), JobError>(())
        };
        let ((), consumed) = futures::join!(producers, consumer);
        consumed
    }

    /// Writes one object at one version; counts it once, at its preferred version.
    fn archive_object(
        &self,
        unit: &SelectedResource,
        gvr: &GroupVersionResource,
        preferred: bool,
        obj: KubeObject,
        out: &mut ArchiveOutput,
        c: &mut Collected,
    ) -> Result<(), JobError> {
        // List scopes never overlap (one namespace per task, or all namespaces once; related
        // cluster-scoped objects only in the related pass), so each object arrives once per
        // version and nothing needs remembering to deduplicate.
        if preferred {
            c.resources.push(&resource_key(&obj), &object_key(&obj));
            c.related.note(unit, &obj);
            c.claims_in_use.note(&obj);
            c.done += 1;
            if c.done.is_multiple_of(100) {
                self.emit(ProgressEvent::Items {
                    done: c.done,
                    total: Some(c.estimate()),
                    estimated: true,
                });
            }
            c.log.info(format!(
                "backed up {} {}",
                resource_key(&obj),
                object_key(&obj)
            ));
        }
        out.writer.add(&ArchiveItem {
            object: obj,
            placement: Placement {
                resource: gvr.clone(),
                preferred,
            },
        })?;
        Ok(())
    }

    async fn backup_related(
        &self,
        discovery: &Discovery,
        selection: &BackupSelection,
        out: &mut ArchiveOutput,
        upload: &mut Box<dyn BackupUpload>,
        c: &mut Collected,
    ) -> Result<(), JobError> {
        let selected = |group_resource: &str| {
            selection
                .resources
                .iter()
                .any(|u| u.group_resource() == group_resource)
        };
        let mut wanted: Vec<(&str, Vec<String>)> = Vec::new();
        // Namespaces of selected objects are taken whatever the cluster-resource mode.
        if selected("namespaces") {
            wanted.push(("namespaces", selection.namespaces.clone()));
        }
        if selection.cluster_resources == ClusterResources::Related {
            let r = std::mem::take(&mut c.related);
            wanted.push((
                "persistentvolumes",
                r.persistent_volumes.iter().cloned().collect(),
            ));
            wanted.push((
                "storageclasses.storage.k8s.io",
                r.storage_classes.iter().cloned().collect(),
            ));
            wanted.push((
                "customresourcedefinitions.apiextensions.k8s.io",
                r.custom_resource_definitions.iter().cloned().collect(),
            ));
        }
        let all_units = selectable_resources(discovery);
        for (group_resource, names) in wanted {
            if names.is_empty() || !selected(group_resource) {
                continue;
            }
            let Some(unit) = all_units
                .iter()
                .find(|u| u.group_resource() == group_resource)
            else {
                continue;
            };
            let preferred = unit.preferred();
            for gvr in unit.gvrs() {
                let is_preferred = gvr.group_version() == preferred;
                for name in &names {
                    match self.cluster.get(&gvr, None, name).await {
                        Ok(Some(obj)) => {
                            self.archive_object(unit, &gvr, is_preferred, obj, out, c)?;
                        }
                        Ok(None) => {
                            if is_preferred {
                                c.warn(Issue::about(
                                    ObjectRef {
                                        group: gvr.group.clone(),
                                        version: gvr.version.clone(),
                                        kind: unit.kind().to_string(),
                                        namespace: None,
                                        name: name.clone(),
                                    },
                                    "referenced by a selected object but not found; not backed up",
                                ));
                            }
                        }
                        Err(e) => c.error(Issue::general(format!(
                            "getting {group_resource} {name} at {}: {e}",
                            gvr.group_version()
                        ))),
                    }
                    out.flush(upload).await?;
                }
            }
        }
        Ok(())
    }
}
