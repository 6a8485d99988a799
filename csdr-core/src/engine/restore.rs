//! The restore pipeline (R1–R12).

use std::collections::BTreeSet;

use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;

use super::failure::JobError;
use super::log::JobLog;
use super::{Engine, ProgressEvent};
use crate::archive::ArchiveReader;
use crate::model::{FailureKind, Issue, JobPhase, JobStatus, ObjectRef, Progress, RestoreSpec};
use crate::object::{GroupVersionResource, KubeObject};
use crate::plan::contents::{BackupContents, HeadLabels, read_spooled_text, write_spooled};
use crate::plan::existing::{ExistingAction, existing_action};
use crate::plan::{
    CreateStep, PlanOptions, RestorePlan, SpooledCreate, plan_restore_owned, plan_restore_spooled,
};
use crate::ports::clock::within;
use crate::ports::cluster::{ClusterError, ObjectText, WaitCondition};
use crate::ports::snapshot::VolumeSnapshotRecord;
use crate::ports::spool::{SpoolFile, SpoolReader};
use crate::ports::vault::VaultError;
use crate::transform::sanitize::SERVER_SET_METADATA;
use crate::transform::{StorageClassFacts, TargetFacts, TransformContext};
use crate::vault_record::{
    BackupCompanions, CompanionKind, JobResults, ResourceListWriter, RestoreCompanions,
    RestoreRecord,
};

/// The result of a restore.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreReport {
    /// The restore's name.
    pub name: String,
    /// The backup restored from.
    pub backup_name: String,
    /// Whether nothing was written (R1 `dry_run`).
    pub dry_run: bool,
    /// Phase, errors, warnings, progress and times.
    pub status: JobStatus,
    /// The plan: every step with its version choice and transformations.
    pub plan: RestorePlan,
    /// Objects created (for a dry run: that would be created); empty, as `existing` and
    /// `patched` are, when the engine's `restore_report_objects` is off (R13: `counts` then
    /// say how many, the restore's resource list in the vault which).
    pub created: Vec<ObjectRef>,
    /// Objects that already existed and were left as they were (R11).
    pub existing: Vec<ObjectRef>,
    /// Objects that already existed and were patched to the backed-up state (R11 `update`).
    pub patched: Vec<ObjectRef>,
    /// How many objects were created, found existing and patched, whether or not the lists
    /// above hold them.
    pub counts: RestoreCounts,
    /// What the pre-flight found, when the restore asked for one (R15).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preflight: Option<super::preflight::PreflightReport>,
}

/// How many objects a restore created, found existing and patched (R11).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreCounts {
    /// Objects created (for a dry run: that would be created).
    pub created: u64,
    /// Objects that already existed and were left as they were.
    pub existing: u64,
    /// Objects that already existed and were patched to the backed-up state.
    pub patched: u64,
}

impl RestoreReport {
    /// The final objects, exactly as they are (or would be) created, in plan order; those
    /// that waited in the spool (`EngineOptions::restore_report_objects` off) are not here.
    pub fn objects(&self) -> impl Iterator<Item = &KubeObject> {
        self.plan.creates().map(|c| &c.object)
    }

    /// Notes what happened to one object: counted, kept in its list when `listed`, and, when
    /// created, named in the restore's resource list `restored`.
    pub(super) fn note(
        &mut self,
        outcome: Outcome,
        object: ObjectRef,
        listed: bool,
        restored: &mut ResourceListWriter,
    ) {
        let (count, list) = match outcome {
            Outcome::Created => {
                let kind = format!(
                    "{}/{}",
                    crate::object::GroupVersion::new(
                        object.group.as_str(),
                        object.version.as_str()
                    ),
                    object.kind
                );
                match &object.namespace {
                    Some(ns) => restored.push(&kind, &format!("{ns}/{}", object.name)),
                    None => restored.push(&kind, &object.name),
                }
                (&mut self.counts.created, &mut self.created)
            }
            Outcome::Existing => (&mut self.counts.existing, &mut self.existing),
            Outcome::Patched => (&mut self.counts.patched, &mut self.patched),
        };
        *count += 1;
        if listed {
            list.push(object);
        }
    }
}

/// What a restore did with an object that it did not fail to restore.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    Created,
    Existing,
    Patched,
}

/// What happened to one create step (boxed issues: the apply keeps one per object, R13).
pub(super) enum Applied {
    Created,
    Existing(Option<Box<Issue>>),
    Patched,
    Failed(Box<Issue>),
}

impl Engine {
    /// Runs a restore (R1–R12). Always returns a report: a restore that could not run is
    /// `Failed` with its typed failure (a missing or non-restorable backup, an integrity
    /// error, an invalid spec); objects that could not be restored make it `PartiallyFailed`.
    /// With `spec.dry_run` the plan and the final objects are computed and nothing is written.
    ///
    /// Before anything is written the restore's name must be free in the vault: a taken
    /// name fails the restore, naming it, and nothing is applied or recorded. Every other end
    /// is recorded under `restores/<name>/` with its log, Failed ones included.
    pub async fn restore(&self, spec: RestoreSpec) -> RestoreReport {
        let started = self.clock.now();
        self.emit(ProgressEvent::Started {
            job: "restore".into(),
            name: spec.name.clone(),
        });
        let span = tracing::info_span!("restore", name = %spec.name, backup = %spec.backup_name);
        let mut log = JobLog::new(self.clock.clone());
        // The restore's resource list, written as objects are created (R13).
        let mut restored = ResourceListWriter::new();
        log.info(format!(
            "restore {} of backup {} started{}",
            spec.name,
            spec.backup_name,
            if spec.dry_run { " (dry run)" } else { "" }
        ));
        let failed = |error: &JobError| RestoreReport {
            name: spec.name.clone(),
            backup_name: spec.backup_name.clone(),
            dry_run: spec.dry_run,
            status: JobStatus::failed(error.failure()),
            plan: RestorePlan::default(),
            created: Vec::new(),
            existing: Vec::new(),
            patched: Vec::new(),
            counts: RestoreCounts::default(),
            preflight: None,
        };
        // The name is checked before anything is written; a taken name is not recorded.
        let mut report = match self.restore_name_is_free(&spec).await {
            Err(e) => {
                let mut report = failed(&e);
                report.status.start_timestamp = Some(started);
                report.status.completion_timestamp = Some(self.clock.now());
                self.emit(ProgressEvent::Finished {
                    phase: report.status.phase,
                });
                return report;
            }
            Ok(()) => {
                let run = tracing::Instrument::instrument(
                    self.run_restore(&spec, &mut log, &mut restored),
                    span,
                );
                match run.await {
                    Ok(report) => report,
                    Err(e) => failed(&e),
                }
            }
        };
        report.status.start_timestamp = Some(started);
        report.status.completion_timestamp = Some(self.clock.now());
        if !spec.dry_run {
            self.record_restore(&spec, &mut report, started, log, restored)
                .await;
        }
        self.emit(ProgressEvent::Finished {
            phase: report.status.phase,
        });
        report
    }

    /// Fails when the vault is unusable or already holds a restore of this name (a dry run
    /// writes nothing and is not checked).
    async fn restore_name_is_free(&self, spec: &RestoreSpec) -> Result<(), JobError> {
        if spec.dry_run {
            return Ok(());
        }
        self.vault
            .validate(self.clock.now())
            .await
            .require_available()?;
        if self.vault.restore(&spec.name).await?.is_some() {
            return Err(VaultError::RestoreAlreadyExists {
                name: spec.name.clone(),
            }
            .into());
        }
        Ok(())
    }

    async fn run_restore(
        &self,
        spec: &RestoreSpec,
        log: &mut JobLog,
        restored: &mut ResourceListWriter,
    ) -> Result<RestoreReport, JobError> {
        let now = self.clock.now();
        self.vault.validate(now).await.require_available()?;
        let Some(record) = self.vault.backup(&spec.backup_name).await? else {
            // Not offered for restore (V5); say why when the vault holds it in another phase.
            let message = match self.vault.backup_record(&spec.backup_name).await? {
                Some(other) => format!(
                    "backup {} is {}{}: only Completed and PartiallyFailed backups can be restored",
                    spec.backup_name,
                    other.status.phase,
                    other
                        .status
                        .failure_reason
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ),
                None => format!(
                    "backup {} not found in vault {}: only Completed and PartiallyFailed backups can be restored",
                    spec.backup_name,
                    self.vault.location()
                ),
            };
            return Err(JobError::message(FailureKind::Spec, message));
        };
        if !record.is_restorable() {
            return Err(JobError::message(
                FailureKind::Spec,
                format!(
                    "backup {} is {}: only Completed and PartiallyFailed backups can be restored",
                    spec.backup_name, record.status.phase
                ),
            ));
        }
        let labels = match spec.scope.label_selector {
            Some(_) => HeadLabels::Kept,
            None => HeadLabels::Dropped,
        };
        let (contents, companions, mut warnings) =
            self.read_backup(&spec.backup_name, labels, log).await?;
        let spool_error = |e: std::io::Error| {
            JobError::message(
                FailureKind::Vault,
                format!(
                    "spooling backup {} to temporary storage failed: {e}; free space where temporary files go",
                    spec.backup_name
                ),
            )
        };
        let target = self
            .target_facts()
            .await
            .map_err(|e| JobError::from(e).context("reading the target cluster"))?;
        let mut backup = contents.backup_facts(&spec.backup_name);
        let mut snapshots = snapshot_records(&companions);
        let mut data = super::pod_volumes::DataRestores::of_backup(&companions, &contents, |ns| {
            spec.namespace_mapping
                .get(ns)
                .cloned()
                .unwrap_or_else(|| ns.to_string())
        });
        for line in super::convert::use_converted_volumes(spec, &mut snapshots, &mut data) {
            log.info(line);
        }
        backup.snapshotted_pvcs = snapshots
            .iter()
            .map(|r| (r.pvc_namespace.clone(), r.pvc_name.clone()))
            .collect();
        for w in &data.warnings {
            log.warning(w.to_string());
        }
        warnings.extend(data.warnings.iter().cloned());
        backup.fs_backed_up_pvcs = data.source_claims.clone();
        if !spec.included_volumes.is_empty() {
            // D5: chosen claims alone, from their snapshots.
            return Ok(self
                .restore_volumes_alone(spec, &contents, &snapshots, &data, warnings, log, restored)
                .await);
        }
        let ctx = TransformContext {
            restore: spec.clone(),
            backup,
            target,
            options: self.options.transform.clone(),
            parsed_rules: Default::default(),
        };
        let options = PlanOptions {
            engine_namespace: self.options.engine_namespace.clone(),
            ..PlanOptions::default()
        };
        // The plan holds the final objects (each backed-up one is dropped once planned), or,
        // when the report need not hold them, only their heads: the objects wait in a spool
        // until they are applied (R13).
        let mut finals = None;
        let plan = if self.options.restore_report_objects || spec.dry_run || spec.preflight {
            plan_restore_owned(contents, &ctx, &options)?
        } else {
            let spool = finals.insert(self.spool.create().map_err(spool_error)?);
            plan_restore_spooled(contents, &ctx, &options, &mut **spool)?
        };
        let mut status = JobStatus {
            phase: JobPhase::InProgress,
            errors: plan
                .not_restorable
                .iter()
                .chain(&plan.errors)
                .cloned()
                .collect(),
            warnings,
            ..Default::default()
        };
        status.warnings.extend(plan.warnings.iter().cloned());
        let total = plan.create_count() as u64;
        log.info(format!(
            "planned {} steps: {total} objects to create",
            plan.steps.len()
        ));
        for issue in status.errors.iter() {
            log.error(issue.to_string());
        }
        for issue in status.warnings.iter() {
            log.warning(issue.to_string());
        }
        status.progress = Progress {
            total_items: total,
            items_done: 0,
        };
        let mut report = RestoreReport {
            name: spec.name.clone(),
            backup_name: spec.backup_name.clone(),
            dry_run: spec.dry_run,
            status,
            plan,
            created: Vec::new(),
            existing: Vec::new(),
            patched: Vec::new(),
            counts: RestoreCounts::default(),
            preflight: None,
        };
        if spec.preflight {
            self.restore_with_preflight(spec, &ctx, &snapshots, &data, &mut report, log, restored)
                .await;
        } else if spec.dry_run {
            report.created = report
                .plan
                .creates()
                .map(|c| ObjectRef::of(&c.object))
                .collect();
            report.counts.created = report.created.len() as u64;
            report.status.progress.items_done = total;
        } else {
            self.apply_concurrently(
                spec,
                &ctx,
                &snapshots,
                &data,
                &mut report,
                finals.as_deref(),
                log,
                restored,
            )
            .await;
        }
        report.status.phase = if report.status.failure.is_some() {
            JobPhase::Failed
        } else if report.status.errors.is_empty() {
            JobPhase::Completed
        } else {
            JobPhase::PartiallyFailed
        };
        Ok(report)
    }

    /// Streams a backup's archive from the vault into the spool, verifies it (V7, R13) and
    /// indexes its objects; returns the contents, the backup's companions and the warnings
    /// reading it gave. Nothing is applied before this succeeds.
    pub(super) async fn read_backup(
        &self,
        backup_name: &str,
        labels: HeadLabels,
        log: &mut JobLog,
    ) -> Result<(BackupContents, BackupCompanions, Vec<Issue>), JobError> {
        let mut warnings = Vec::new();
        // V7, R13: the tarball is streamed from the vault in ranged reads into the spool, its
        // size and SHA-256 checked as it passes (an error is the stream's last item); then the
        // reader verifies every entry against its digest. Nothing is applied before both.
        let archive = self.vault.archive_stream(backup_name).await?;
        if let Some(w) = &archive.warning {
            log.warning(w);
            warnings.push(Issue::general(w.clone()));
        }
        let spool_error = |e: std::io::Error| {
            JobError::message(
                FailureKind::Vault,
                format!(
                    "spooling backup {} to temporary storage failed: {e}; free space where temporary files go",
                    backup_name
                ),
            )
        };
        let mut spooled = self.spool.create().map_err(spool_error)?;
        let mut chunks = archive.chunks;
        while let Some(chunk) = chunks.next().await {
            spooled.append(&chunk?).map_err(spool_error)?;
        }
        drop(chunks);
        // The volume lists only: a large backup's log and resource list are not read (R13).
        let companions = self
            .vault
            .backup_companions_of(backup_name, &CompanionKind::VOLUMES)
            .await?;
        let mut reader = ArchiveReader::new(SpoolReader::new(&*spooled));
        if let Some(digests) = archive.entry_digests {
            // Decoded one at a time as the archive is read, in the order they were listed.
            reader =
                reader.with_listed_digests(digests.iter().map(|d| d.map_err(|e| e.to_string())));
        }
        // The index holds one small record per object (its head and where its JSON text is
        // in a second spool of the entries); the objects are read back from there when they
        // are planned, one at a time (R13).
        let mut index_spool = self.spool.create().map_err(spool_error)?;
        // The first `restore_index_held_bytes` of entries are held whole: a small backup
        // never goes through the spool.
        let mut contents = BackupContents::new();
        let (mut entries, mut held) = (0u64, 0u64);
        for entry in reader {
            let entry = entry?;
            let object = lean(entry.object);
            if held + entry.digest.size <= self.options.restore_index_held_bytes {
                held += entry.digest.size;
                contents.add_entry(&entry.path, object)?;
            } else {
                let span = write_spooled(&mut *index_spool, &object).map_err(spool_error)?;
                contents.add_spooled_entry(&entry.path, object, span, labels)?;
            }
            entries += 1;
        }
        drop(spooled);
        contents.attach_spool(std::sync::Arc::from(index_spool));
        log.info(format!(
            "read and verified {entries} entries of backup {}",
            backup_name
        ));
        Ok((contents, companions, warnings))
    }

    /// What the restore needs to know about the target: discovery, StorageClasses, zones.
    pub(super) async fn target_facts(&self) -> Result<TargetFacts, ClusterError> {
        let discovery = self.cluster.discover().await?;
        let mut facts = TargetFacts {
            discovery,
            ..Default::default()
        };
        let sc = GroupVersionResource::new("storage.k8s.io", "v1", "storageclasses");
        if facts.discovery.serves(&sc.group, &sc.version, &sc.resource) {
            let mut list = self.cluster.list(&sc, None, None, self.options.page_size);
            while let Some(obj) = list.next().await {
                let obj = obj?;
                facts.storage_classes.push(StorageClassFacts {
                    name: obj.name().to_string(),
                    provisioner: str_field(&obj, "/provisioner").unwrap_or_default(),
                    volume_binding_mode: str_field(&obj, "/volumeBindingMode"),
                });
            }
        }
        let nodes = GroupVersionResource::new("", "v1", "nodes");
        let mut list = self
            .cluster
            .list(&nodes, None, None, self.options.page_size);
        while let Some(node) = list.next().await {
            let node = node?;
            if let Some(zone) = node
                .label("topology.kubernetes.io/zone")
                .or_else(|| node.label("failure-domain.beta.kubernetes.io/zone"))
            {
                facts.zones.insert(zone.to_string());
            }
        }
        Ok(facts)
    }

    /// Waits for an object's condition through the cluster, within `limit` on the engine's
    /// timer whatever the adapter does with it.
    pub(super) async fn wait_for(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
        condition: WaitCondition,
        limit: std::time::Duration,
    ) -> Result<(), ClusterError> {
        let wait = self
            .cluster
            .wait_for(gvr, namespace, name, condition, limit);
        match within(&*self.timer, limit, wait).await {
            Ok(done) => done.map(|_| ()),
            Err(_) => Err(ClusterError::Timeout {
                what: match namespace {
                    Some(ns) => format!("{} {ns}/{name}", gvr.resource),
                    None => format!("{} {name}", gvr.resource),
                },
                condition: condition.name().to_string(),
                timeout: limit,
            }),
        }
    }

    pub(super) async fn apply_create(
        &self,
        spec: &RestoreSpec,
        snapshots: &[VolumeSnapshotRecord],
        step: &CreateStep,
    ) -> Applied {
        let object = &step.object;
        let fail =
            |reason: String| Applied::Failed(Box::new(Issue::about(ObjectRef::of(object), reason)));
        if let Err(reason) = self.prepare_snapshot_source(spec, snapshots, step).await {
            return fail(reason);
        }
        match self.create_with_backoff(&step.resource, object).await {
            Ok(()) => Applied::Created,
            Err(ClusterError::AlreadyExists { .. }) => {
                self.apply_existing(spec, &step.resource, object).await
            }
            Err(e) => fail(format!("could not be restored: {e}")),
        }
    }

    /// Applies a final object the plan spooled (R13): its JSON text is read back and sent as
    /// the plan wrote it, parsed only if the object exists already.
    pub(super) async fn apply_spooled(
        &self,
        spec: &RestoreSpec,
        finals: Option<&dyn SpoolFile>,
        step: &SpooledCreate,
    ) -> Applied {
        let fail = |reason: String| {
            Applied::Failed(Box::new(Issue::about(step.object.object_ref(), reason)))
        };
        let json = match finals.map(|f| read_spooled_text(f, step.object.at)) {
            Some(Ok(json)) => json,
            failed => {
                return fail(format!(
                    "reading its final object back from the restore's temporary storage \
                     failed: {}",
                    match failed {
                        Some(Err(e)) => e,
                        _ => "the restore has no temporary storage".into(),
                    }
                ));
            }
        };
        let text = ObjectText {
            namespace: step.object.namespace(),
            name: step.object.name(),
            json: json.into(),
        };
        let created = self
            .with_backoff(
                || step.object.object_ref().to_string(),
                || self.cluster.create_text_unread(&step.resource, &text),
            )
            .await;
        match created {
            Ok(()) => Applied::Created,
            Err(ClusterError::AlreadyExists { .. }) => match text.parse() {
                Ok(object) => self.apply_existing(spec, &step.resource, &object).await,
                Err(e) => fail(e.to_string()),
            },
            Err(e) => fail(format!("could not be restored: {e}")),
        }
    }

    /// What a create that met `AlreadyExists` ends as: R11's existing-resource policy
    /// applied to the live object (a namespace step only ensures the namespace exists).
    async fn apply_existing(
        &self,
        spec: &RestoreSpec,
        resource: &GroupVersionResource,
        object: &KubeObject,
    ) -> Applied {
        let fail =
            |reason: String| Applied::Failed(Box::new(Issue::about(ObjectRef::of(object), reason)));
        if object.kind() == "Namespace" {
            return Applied::Existing(None);
        }
        let live = match self
            .cluster
            .get(resource, object.namespace(), object.name())
            .await
        {
            Ok(Some(live)) => live,
            Ok(None) => return fail("already exists, then vanished".into()),
            Err(e) => return fail(e.to_string()),
        };
        match existing_action(spec.existing_resource_policy, object, &live) {
            ExistingAction::CreatedByThisRestore => Applied::Created,
            ExistingAction::Skip => Applied::Existing(None),
            ExistingAction::SkipWithWarning(w) => Applied::Existing(Some(Box::new(w))),
            ExistingAction::Patch(patch) => {
                match self
                    .cluster
                    .patch_merge(resource, object.namespace(), object.name(), &patch)
                    .await
                {
                    Ok(_) => Applied::Patched,
                    // R11: a failed update is a warning, not an abort.
                    Err(e) => Applied::Existing(Some(Box::new(Issue::about(
                        ObjectRef::of(object),
                        format!("already exists; updating it to the backed-up state failed: {e}"),
                    )))),
                }
            }
        }
    }

    /// Makes the VolumeSnapshot a restored claim's `dataSource` names exist in its namespace.
    async fn prepare_snapshot_source(
        &self,
        spec: &RestoreSpec,
        snapshots: &[VolumeSnapshotRecord],
        step: &CreateStep,
    ) -> Result<(), String> {
        let object = &step.object;
        if object.kind() != "PersistentVolumeClaim"
            || object
                .pointer("/spec/dataSource/kind")
                .and_then(Value::as_str)
                != Some("VolumeSnapshot")
        {
            return Ok(());
        }
        let Some(source) = &step.source else {
            return Ok(());
        };
        let Some(record) = snapshots.iter().find(|r| {
            Some(r.pvc_namespace.as_str()) == source.namespace.as_deref()
                && r.pvc_name == source.name
        }) else {
            return Ok(());
        };
        let Some(snapshotter) = &self.snapshotter else {
            return Err(format!(
                "its data is in volume snapshot {} but the engine has no volume snapshotter",
                record.snapshot_name
            ));
        };
        let ns = object.namespace().unwrap_or("default");
        let name = object
            .pointer("/spec/dataSource/name")
            .and_then(Value::as_str)
            .unwrap_or(&record.snapshot_name);
        let _ = spec;
        let wait = self.options.snapshot_wait;
        match within(
            &*self.timer,
            wait,
            snapshotter.prepare_restore(record, ns, name, wait),
        )
        .await
        {
            Ok(done) => done.map(|_| ()).map_err(|e| e.to_string()),
            Err(_) => Err(format!(
                "volume snapshot {name} in namespace {ns} was not ready within {}",
                crate::model::duration_text::format(&wait)
            )),
        }
    }

    async fn record_restore(
        &self,
        spec: &RestoreSpec,
        report: &mut RestoreReport,
        started: jiff::Timestamp,
        mut log: JobLog,
        restored: ResourceListWriter,
    ) {
        let record = RestoreRecord {
            spec: spec.clone(),
            status: report.status.clone(),
            created: started,
            encryption: None,
        };
        if let Some(f) = &report.status.failure {
            log.error(format!(
                "restore failed ({} failure): {}",
                f.kind, f.message
            ));
            for cause in &f.causes {
                log.error(format!("caused by: {cause}"));
            }
        }
        let finished = report.status.completion_timestamp.unwrap_or(started);
        log.info(format!(
            "restore {} from backup {} {}: {} created, {} existing, {} patched, {} errors, {} warnings, in {}",
            spec.name,
            spec.backup_name,
            report.status.phase,
            report.counts.created,
            report.counts.existing,
            report.counts.patched,
            report.status.errors.len(),
            report.status.warnings.len(),
            super::log::seconds(finished.duration_since(started))
        ));
        let resource_list_gzip = match restored.finish(&spec.name) {
            Ok(file) => file.gzip,
            Err(e) => {
                report.status.warnings.push(Issue::general(format!(
                    "the restore's resource list could not be written: {e}"
                )));
                Vec::new()
            }
        };
        let companions = RestoreCompanions {
            logs_gzip: log.finish(),
            results: JobResults::from_status(&report.status),
            resource_list_gzip,
        };
        if let Err(e) = self.vault.put_restore(&record, &companions).await {
            report.status.warnings.push(Issue::general(format!(
                "the restore ran but its record could not be written to the vault: {e}"
            )));
        }
    }
}

/// A backed-up object as the restore's index holds it until it is planned (R13): without the
/// server-set metadata (`managedFields`, `uid`, `resourceVersion`, `creationTimestamp`, …)
/// that sanitising (R4, the pipeline's first step) drops from every restored object and that
/// nothing before it reads.
fn lean(mut object: KubeObject) -> KubeObject {
    if let Some(meta) = object
        .fields_mut()
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
    {
        meta.retain(|key, _| !SERVER_SET_METADATA.contains(&key.as_str()));
    }
    // Not shrunk here: a spooled entry is dropped once written, and the index shrinks the
    // objects it holds whole.
    object
}

fn str_field(obj: &KubeObject, pointer: &str) -> Option<String> {
    obj.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The snapshot records of a backup, rebuilt from the VolumeSnapshots and contents it stored.
fn snapshot_records(companions: &BackupCompanions) -> Vec<VolumeSnapshotRecord> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for vs in &companions.csi_volume_snapshots {
        let content_name = str_field(vs, "/status/boundVolumeSnapshotContentName");
        let content = companions
            .csi_volume_snapshot_contents
            .iter()
            .find(|c| Some(c.name()) == content_name.as_deref());
        let (Some(ns), Some(pvc), Some(content)) = (
            vs.namespace(),
            str_field(vs, "/spec/source/persistentVolumeClaimName"),
            content,
        ) else {
            continue;
        };
        let (Some(driver), Some(handle)) = (
            str_field(content, "/spec/driver"),
            str_field(content, "/status/snapshotHandle"),
        ) else {
            continue;
        };
        if !seen.insert((ns.to_string(), pvc.clone())) {
            continue;
        }
        out.push(VolumeSnapshotRecord {
            pvc_namespace: ns.to_string(),
            pvc_name: pvc,
            snapshot_name: vs.name().to_string(),
            class_name: str_field(vs, "/spec/volumeSnapshotClassName").unwrap_or_default(),
            driver,
            snapshot_handle: handle,
            restore_size: str_field(vs, "/status/restoreSize"),
            content_name: content.name().to_string(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::pipeline::run_pipeline;
    use serde_json::json;

    #[test]
    fn the_lean_index_object_restores_exactly_as_the_backed_up_one() {
        let backed_up = KubeObject::new(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "uid": "1f0c", "resourceVersion": "42",
                "generation": 3, "creationTimestamp": "2026-11-30T09:12:03Z",
                "managedFields": [{"manager": "kubectl", "operation": "Apply",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}],
                "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "o", "uid": "9"}],
                "labels": {"app": "web"}, "annotations": {"note": "kept"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"replicas": 2}
        }))
        .unwrap();
        let lean_object = lean(backed_up.clone());
        // What the index keeps: everything but the server-set metadata.
        assert_eq!(lean_object.label("app"), Some("web"));
        assert_eq!(lean_object.annotation("note"), Some("kept"));
        assert_eq!(lean_object.pointer("/status/replicas"), Some(&json!(2)));
        assert_eq!(lean_object.pointer("/metadata/managedFields"), None);
        assert_eq!(lean_object.pointer("/metadata/uid"), None);
        // What is restored: the same final object, the same transformations.
        let ctx = TransformContext::new(RestoreSpec::new("r1", "nightly"));
        let full = run_pipeline(&ctx, backed_up).unwrap();
        let lean_out = run_pipeline(&ctx, lean_object).unwrap();
        assert_eq!(lean_out.object, full.object);
        assert_eq!(lean_out.applied, full.applied);
    }
}
