//! StorageClass conversion (the FAQ's `ConvertToSnapshot`): a backup's file-system volume
//! data turned into CSI snapshots of another StorageClass in the target cluster, so that a
//! restore converting those claims to that class provisions them from the snapshots instead
//! of copying their files again (D4, R8).
//!
//! [`Engine::convert_to_snapshots`] takes a [`ConvertSpec`] (the backup, the
//! `storageClassMapping` old class → new class as a restore's, optional
//! `convertToAccessModes`) and, for each claim of the backup whose data is a Completed
//! file-system backup and whose class the mapping maps:
//!
//! 1. builds the claim as a restore would (the restore pipeline: sanitising, R7 access
//!    modes, R8 StorageClass conversion with its three FAQ errors — `storageclass <x> not
//!    exists`, `only support convert to storageclass with CSI diskplugin or nasplugin
//!    provisioner`, `current cluster is multi-zoned` — and the R5 disk floor), renamed
//!    `<claim>-for-convert<YYYYmmddHHMM>` ([`temporary_claim_name`], the engine's clock, UTC)
//!    and labelled [`CONVERT_NAME_LABEL`], in the claim's own namespace (created when the
//!    target lacks it, and left: the restore that follows restores into it);
//! 2. waits up to `pvc_bind_wait` for it to be Bound, else fails the volume with the FAQ's
//!    `wait for created tmp pvc <ns>/<name> for convertion bound time out`
//!    ([`bind_timeout_message`]);
//! 3. writes the files into it through the engine's pod volume mover exactly as a restore
//!    does (a short-lived pod on a node the node policy C2 allows);
//! 4. snapshots it through the volume snapshotter (the class for the new class's CSI
//!    driver), retained and labelled with the backup (and the backup's upload attempt), so
//!    that GC keeps it while the backup lives and deleting the backup deletes it;
//! 5. deletes the temporary pod and claim, also when a step failed (a snapshot that did not
//!    become ready is deleted too).
//!
//! The report ([`ConvertReport`]) is `Completed` when every volume converted,
//! `PartiallyFailed` naming each failed volume when some did, `Failed` when none did or the
//! job could not run (no mover, no snapshotter, no such backup, an empty mapping). Each
//! converted claim is a [`ConvertedVolume`]; a restore given them in
//! [`RestoreSpec::converted_volumes`](crate::model::RestoreSpec::converted_volumes) restores
//! a claim from its converted snapshot when its own `storageClassMapping` sends the claim's
//! class to the class it was converted to ([`ConvertedVolume::applies_to`]), and through
//! its files otherwise.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::failure::JobError;
use super::log::JobLog;
use super::pod_volumes::{DataRestores, claim_ref};
use super::snapshots::pvcs;
use super::{Engine, ProgressEvent};
use crate::model::{FailureKind, Issue, JobPhase, JobStatus, ObjectRef, Progress, RestoreSpec};
use crate::object::{GroupVersionResource, KubeObject};
use crate::plan::contents::{BackupContents, HeadLabels};
use crate::ports::clock::within;
use crate::ports::cluster::{ClusterError, WaitCondition};
use crate::ports::pod_volume::PodVolumeBackupRecord;
use crate::ports::snapshot::{SnapshotError, SnapshotRequest, VolumeSnapshotRecord};
use crate::transform::TransformContext;
use crate::transform::volumes::storage_class_of;

/// The label on the temporary claims (and pods) of a conversion; its value is the
/// conversion's name.
pub const CONVERT_NAME_LABEL: &str = "csdr.io/convert-name";

/// What a StorageClass conversion converts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConvertSpec {
    /// The conversion's name (by the FAQ's convention, the backup's name).
    pub name: String,
    /// The backup whose file-system volume data is converted.
    pub backup_name: String,
    /// Old StorageClass → new StorageClass, as a restore's (R8).
    #[serde(default)]
    pub storage_class_mapping: BTreeMap<String, String>,
    /// Access modes for the converted claims (R7), e.g. `["ReadWriteOnce"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub convert_to_access_modes: Vec<String>,
    /// This run's identity (a controller's job attempt), for logs and the mover's requests.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub attempt: String,
}

impl ConvertSpec {
    /// A conversion of `backup_name`'s volumes with an empty mapping.
    pub fn new(name: impl Into<String>, backup_name: impl Into<String>) -> Self {
        ConvertSpec {
            name: name.into(),
            backup_name: backup_name.into(),
            storage_class_mapping: BTreeMap::new(),
            convert_to_access_modes: Vec::new(),
            attempt: String::new(),
        }
    }
}

/// One claim converted to a snapshot of its new StorageClass.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConvertedVolume {
    /// The claim's namespace in the backup.
    pub pvc_namespace: String,
    /// The claim's name in the backup.
    pub pvc_name: String,
    /// The claim's StorageClass in the backup.
    pub source_storage_class: String,
    /// The StorageClass it was converted to.
    pub storage_class: String,
    /// The converted claim's size (after the disk floor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// The converted claim's access modes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_modes: Vec<String>,
    /// The snapshot holding the data: `pvcNamespace`/`pvcName` name the temporary claim it
    /// was cut from, `snapshotName` its VolumeSnapshot (in the claim's namespace).
    pub snapshot: ConvertedSnapshot,
}

/// The retained snapshot of a converted claim (the fields of a [`VolumeSnapshotRecord`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConvertedSnapshot {
    /// The temporary claim's namespace (the VolumeSnapshot's).
    pub pvc_namespace: String,
    /// The temporary claim's name.
    pub pvc_name: String,
    /// The VolumeSnapshot's name.
    pub snapshot_name: String,
    /// The VolumeSnapshotClass used.
    pub class_name: String,
    /// The CSI driver.
    pub driver: String,
    /// The storage system's handle of the snapshot.
    pub snapshot_handle: String,
    /// The size to restore, if the driver reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_size: Option<String>,
    /// The VolumeSnapshotContent's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub content_name: String,
}

impl From<VolumeSnapshotRecord> for ConvertedSnapshot {
    fn from(r: VolumeSnapshotRecord) -> Self {
        ConvertedSnapshot {
            pvc_namespace: r.pvc_namespace,
            pvc_name: r.pvc_name,
            snapshot_name: r.snapshot_name,
            class_name: r.class_name,
            driver: r.driver,
            snapshot_handle: r.snapshot_handle,
            restore_size: r.restore_size,
            content_name: r.content_name,
        }
    }
}

impl From<ConvertedSnapshot> for VolumeSnapshotRecord {
    fn from(r: ConvertedSnapshot) -> Self {
        VolumeSnapshotRecord {
            pvc_namespace: r.pvc_namespace,
            pvc_name: r.pvc_name,
            snapshot_name: r.snapshot_name,
            class_name: r.class_name,
            driver: r.driver,
            snapshot_handle: r.snapshot_handle,
            restore_size: r.restore_size,
            content_name: r.content_name,
        }
    }
}

impl ConvertedVolume {
    /// Whether a restore with this `storageClassMapping` restores the claim from the
    /// converted snapshot: the mapping sends the claim's backed-up class to the class it was
    /// converted to.
    pub fn applies_to(&self, mapping: &BTreeMap<String, String>) -> bool {
        mapping.get(&self.source_storage_class) == Some(&self.storage_class)
    }

    /// The snapshot record as the restore uses it: keyed by the backed-up claim.
    pub fn restore_record(&self) -> VolumeSnapshotRecord {
        let mut record = VolumeSnapshotRecord::from(self.snapshot.clone());
        record.pvc_namespace = self.pvc_namespace.clone();
        record.pvc_name = self.pvc_name.clone();
        record
    }
}

/// The result of a StorageClass conversion.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConvertReport {
    /// The conversion's name.
    pub name: String,
    /// The backup converted.
    pub backup_name: String,
    /// Phase, errors (one per failed volume), warnings, progress and times.
    pub status: JobStatus,
    /// The claims converted (`convertedVolumes` in JSON, as a ConvertToSnapshot's status
    /// and `csdr restore create --converted-volumes` read them).
    #[serde(rename = "convertedVolumes")]
    pub converted: Vec<ConvertedVolume>,
    /// What the conversion did, line by line.
    pub log: Vec<String>,
}

/// The name of the temporary claim converting `claim` at `now`:
/// `<claim>-for-convert<YYYYmmddHHMM>` (UTC), as the FAQ's `demo-pvc-for-convert202311151045`.
///
/// ```
/// let at: jiff::Timestamp = "2023-11-15T10:45:31Z".parse().unwrap();
/// assert_eq!(
///     csdr_core::engine::temporary_claim_name("demo-pvc", at),
///     "demo-pvc-for-convert202311151045"
/// );
/// ```
pub fn temporary_claim_name(claim: &str, now: jiff::Timestamp) -> String {
    format!("{claim}-for-convert{}", now.strftime("%Y%m%d%H%M"))
}

/// The FAQ's error for a temporary claim that did not bind in time.
///
/// ```
/// assert_eq!(
///     csdr_core::engine::bind_timeout_message("default", "demo-pvc-for-convert202311151045"),
///     "wait for created tmp pvc default/demo-pvc-for-convert202311151045 for convertion bound time out"
/// );
/// ```
pub fn bind_timeout_message(namespace: &str, name: &str) -> String {
    format!("wait for created tmp pvc {namespace}/{name} for convertion bound time out")
}

/// What one volume's conversion gave.
type OneConversion = Result<(ConvertedVolume, Vec<String>), Issue>;

impl Engine {
    /// Runs a StorageClass conversion (the FAQ's `ConvertToSnapshot`): each claim of the
    /// backup whose data is a Completed file-system backup and whose StorageClass
    /// `storage_class_mapping` maps is created as a temporary claim
    /// `<claim>-for-convert<YYYYmmddHHMM>` of the new class (checked with the R8 errors,
    /// shaped by R5 and R7), filled with its files through the pod volume mover, snapshotted
    /// (retained, labelled with the backup), and deleted again. Always returns a report:
    /// `Completed`, `PartiallyFailed` naming each failed volume, or `Failed` (no volume
    /// converted, or the job could not run, with its typed failure).
    pub async fn convert_to_snapshots(&self, spec: &ConvertSpec) -> ConvertReport {
        let started = self.clock.now();
        self.emit(ProgressEvent::Started {
            job: "convert".into(),
            name: spec.name.clone(),
        });
        let mut lines = Vec::new();
        let mut report = match self.run_convert(spec, &mut lines).await {
            Ok(report) => report,
            Err(e) => {
                let status = JobStatus::failed(e.failure());
                lines.push(format!(
                    "conversion {} of backup {} failed: {}",
                    spec.name,
                    spec.backup_name,
                    status.failure_reason.clone().unwrap_or_default()
                ));
                ConvertReport {
                    name: spec.name.clone(),
                    backup_name: spec.backup_name.clone(),
                    status,
                    converted: Vec::new(),
                    log: Vec::new(),
                }
            }
        };
        report.log = lines;
        report.status.start_timestamp = Some(started);
        report.status.completion_timestamp = Some(self.clock.now());
        self.emit(ProgressEvent::Finished {
            phase: report.status.phase,
        });
        report
    }

    async fn run_convert(
        &self,
        spec: &ConvertSpec,
        lines: &mut Vec<String>,
    ) -> Result<ConvertReport, JobError> {
        let spec_error = |message: String| JobError::message(FailureKind::Spec, message);
        if self.pod_volume_mover.is_none() {
            return Err(spec_error(format!(
                "conversion {}: the engine has no pod volume mover to write the volumes' files",
                spec.name
            )));
        }
        if self.snapshotter.is_none() {
            return Err(spec_error(format!(
                "conversion {}: the engine has no volume snapshotter to snapshot the converted volumes",
                spec.name
            )));
        }
        if spec.storage_class_mapping.is_empty() {
            return Err(spec_error(format!(
                "conversion {}: storageClassMapping is empty; name the classes to convert to",
                spec.name
            )));
        }
        self.vault
            .validate(self.clock.now())
            .await
            .require_available()?;
        let Some(record) = self.vault.backup(&spec.backup_name).await? else {
            return Err(spec_error(format!(
                "backup {} not found in vault {}: only Completed and PartiallyFailed backups can be converted",
                spec.backup_name,
                self.vault.location()
            )));
        };
        lines.push(format!(
            "conversion {} of backup {} started",
            spec.name, spec.backup_name
        ));
        let mut log = JobLog::new(self.clock.clone());
        let (contents, companions, warnings) = self
            .read_backup(&spec.backup_name, HeadLabels::Dropped, &mut log)
            .await?;
        let data = DataRestores::of_backup(&companions, &contents, str::to_string);
        let target = self
            .target_facts()
            .await
            .map_err(|e| JobError::from(e).context("reading the target cluster"))?;
        let mut restore = RestoreSpec::new(spec.name.clone(), spec.backup_name.clone());
        restore.storage_class_mapping = spec.storage_class_mapping.clone();
        restore.convert_to_access_modes = spec.convert_to_access_modes.clone();
        let mut backup = contents.backup_facts(&spec.backup_name);
        backup.fs_backed_up_pvcs = data.source_claims.clone();
        let ctx = TransformContext {
            restore,
            backup,
            target,
            options: self.options.transform.clone(),
            parsed_rules: Default::default(),
        };
        let mut status = JobStatus {
            phase: JobPhase::InProgress,
            warnings,
            ..Default::default()
        };
        status.warnings.extend(data.warnings.iter().cloned());
        // The claims to convert: backed up through their files, their class mapped.
        let backed_up = backed_up_claims(&contents);
        let mut work = Vec::new();
        for ((ns, name), (record, velero)) in &data.by_claim {
            let Some(claim) = backed_up.get(&(ns.clone(), name.clone())) else {
                status.warnings.push(Issue::about(
                    claim_ref(ns, name),
                    "its files were backed up but the backup holds no such claim; it is not converted",
                ));
                continue;
            };
            let Some(class) = storage_class_of(claim).filter(|c| !c.is_empty()) else {
                lines.push(format!(
                    "claim {ns}/{name} has no StorageClass; not converted"
                ));
                continue;
            };
            if !spec.storage_class_mapping.contains_key(class) {
                lines.push(format!(
                    "claim {ns}/{name} of StorageClass {class} is not in storageClassMapping; not converted"
                ));
                continue;
            }
            work.push((claim.clone(), class.to_string(), record.clone(), *velero));
        }
        status.progress = Progress {
            total_items: work.len() as u64,
            items_done: 0,
        };
        let attempt = record
            .attempt
            .clone()
            .unwrap_or_else(|| spec.attempt.clone());
        let mut converted = Vec::new();
        let mut namespaces_made = std::collections::BTreeSet::new();
        for (claim, class, record, velero) in work {
            let one = self
                .convert_one(
                    spec,
                    &ctx,
                    &attempt,
                    &claim,
                    &class,
                    &record,
                    velero,
                    &mut namespaces_made,
                )
                .await;
            match one {
                Ok((volume, done)) => {
                    lines.extend(done);
                    converted.push(volume);
                }
                Err(issue) => {
                    lines.push(format!("error: {issue}"));
                    self.emit(ProgressEvent::Issue {
                        error: true,
                        issue: issue.clone(),
                    });
                    status.errors.push(issue);
                }
            }
            status.progress.items_done += 1;
        }
        if status.progress.total_items == 0 {
            status.warnings.push(Issue::general(format!(
                "backup {} holds no file-system volume backup of a claim whose StorageClass storageClassMapping maps; nothing was converted",
                spec.backup_name
            )));
        }
        status.phase = if status.errors.is_empty() {
            JobPhase::Completed
        } else if converted.is_empty() {
            JobPhase::Failed
        } else {
            JobPhase::PartiallyFailed
        };
        if status.phase == JobPhase::Failed {
            let message = status
                .errors
                .iter()
                .map(Issue::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            status.failure_reason = Some(message.clone());
            status.failure = Some(crate::model::JobFailure::new(FailureKind::Cluster, message));
        }
        lines.push(format!(
            "conversion {} of backup {} {}: {} converted, {} failed",
            spec.name,
            spec.backup_name,
            status.phase,
            converted.len(),
            status.errors.len()
        ));
        Ok(ConvertReport {
            name: spec.name.clone(),
            backup_name: spec.backup_name.clone(),
            status,
            converted,
            log: Vec::new(),
        })
    }

    /// Converts one claim; the temporary claim and pod are gone whatever happened.
    #[allow(clippy::too_many_arguments)]
    async fn convert_one(
        &self,
        spec: &ConvertSpec,
        ctx: &TransformContext,
        attempt: &str,
        claim: &KubeObject,
        source_class: &str,
        record: &PodVolumeBackupRecord,
        velero: bool,
        namespaces_made: &mut std::collections::BTreeSet<String>,
    ) -> OneConversion {
        let ns = claim.namespace().unwrap_or("default").to_string();
        let subject = ObjectRef::of(claim);
        let fail = |reason: String| Issue::about(subject.clone(), reason);
        // The claim as a restore would create it: R7, R8 (the FAQ's errors), R5.
        let planned = crate::transform::pipeline::run_pipeline(ctx, claim.clone())
            .map_err(|e| fail(format!("{}: {}", e.field, e.reason)))?;
        let mut lines: Vec<String> = planned
            .warnings
            .iter()
            .map(|w| format!("warning: {w}"))
            .collect();
        let tmp_name = temporary_claim_name(claim.name(), self.clock.now());
        let mut object = planned.object.to_value();
        object["metadata"]["name"] = json!(tmp_name);
        object["metadata"]["namespace"] = json!(ns);
        object["metadata"]["labels"] = json!({
            CONVERT_NAME_LABEL: spec.name,
            crate::ports::snapshot::BACKUP_NAME_LABEL: spec.backup_name,
        });
        if let Some(spec_field) = object.get_mut("spec").and_then(Value::as_object_mut) {
            spec_field.remove("volumeName");
            spec_field.remove("dataSource");
            spec_field.remove("dataSourceRef");
        }
        let tmp = KubeObject::new(object).map_err(|e| fail(e.to_string()))?;
        let new_class = storage_class_of(&tmp).unwrap_or_default().to_string();
        let driver = ctx
            .target_storage_class(&new_class)
            .map(|c| c.provisioner.clone())
            .unwrap_or_default();
        let size = tmp
            .pointer("/spec/resources/requests/storage")
            .and_then(Value::as_str)
            .map(str::to_string);
        let access_modes: Vec<String> = tmp
            .pointer("/spec/accessModes")
            .and_then(Value::as_array)
            .map(|m| {
                m.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        if namespaces_made.insert(ns.clone()) {
            self.ensure_namespace(&ns, &spec.name)
                .await
                .map_err(|e| fail(format!("creating namespace {ns}: {e}")))?;
        }
        self.cluster.create(&pvcs(), &tmp).await.map_err(|e| {
            fail(format!(
                "creating the temporary claim {ns}/{tmp_name} of StorageClass {new_class} failed: {e}"
            ))
        })?;
        lines.push(format!(
            "created the temporary claim {ns}/{tmp_name} of StorageClass {new_class} for claim {ns}/{}",
            claim.name()
        ));
        let result = self
            .fill_and_snapshot(spec, attempt, &ns, &tmp_name, &driver, record, velero)
            .await;
        // The temporary claim goes whatever happened; its snapshot is retained.
        let removed = match self.cluster.delete(&pvcs(), Some(&ns), &tmp_name).await {
            Ok(()) | Err(ClusterError::NotFound { .. }) => {
                format!("deleted the temporary claim {ns}/{tmp_name}")
            }
            Err(e) => format!(
                "warning: the temporary claim {ns}/{tmp_name} could not be deleted ({e}); delete claims labelled {CONVERT_NAME_LABEL}={}",
                spec.name
            ),
        };
        lines.push(removed);
        let (snapshot, filled) = result.map_err(fail)?;
        lines.push(filled);
        lines.push(format!(
            "converted claim {ns}/{} from StorageClass {source_class} to {new_class}: snapshot {} ({}), content {}",
            claim.name(),
            snapshot.snapshot_name,
            snapshot.snapshot_handle,
            snapshot.content_name
        ));
        Ok((
            ConvertedVolume {
                pvc_namespace: ns,
                pvc_name: claim.name().to_string(),
                source_storage_class: source_class.to_string(),
                storage_class: new_class,
                size,
                access_modes,
                snapshot: snapshot.into(),
            },
            lines,
        ))
    }

    /// Waits for the temporary claim to bind, writes the files, snapshots it; returns the
    /// retained snapshot and the data restore's log line, or why not.
    #[allow(clippy::too_many_arguments)]
    async fn fill_and_snapshot(
        &self,
        spec: &ConvertSpec,
        attempt: &str,
        ns: &str,
        tmp_name: &str,
        driver: &str,
        record: &PodVolumeBackupRecord,
        velero: bool,
    ) -> Result<(VolumeSnapshotRecord, String), String> {
        let limit = self.options.pvc_bind_wait;
        if let Err(e) = self
            .wait_for(&pvcs(), Some(ns), tmp_name, WaitCondition::Bound, limit)
            .await
        {
            return Err(match e {
                ClusterError::Timeout { .. } => bind_timeout_message(ns, tmp_name),
                other => format!("{}: {other}", bind_timeout_message(ns, tmp_name)),
            });
        }
        let filled = self
            .fill_claim(
                &format!("convert-{}", spec.name),
                &spec.name,
                ns,
                tmp_name,
                record,
                velero,
            )
            .await
            .map_err(|issue| issue.message)?;
        let Some(snapshotter) = &self.snapshotter else {
            return Err("the engine has no volume snapshotter".into());
        };
        let bound = match self.cluster.get(&pvcs(), Some(ns), tmp_name).await {
            Ok(Some(bound)) => bound,
            Ok(None) => return Err(format!("the temporary claim {ns}/{tmp_name} vanished")),
            Err(e) => return Err(format!("reading the temporary claim {ns}/{tmp_name}: {e}")),
        };
        let wait = self.options.snapshot_wait;
        let request = SnapshotRequest {
            snapshot_name: tmp_name.to_string(),
            driver: driver.to_string(),
            class: None,
            backup_name: spec.backup_name.clone(),
            attempt: attempt.to_string(),
            retention_days: None,
            timeout: wait,
        };
        let result = within(&*self.timer, wait, snapshotter.snapshot(&bound, &request))
            .await
            .unwrap_or_else(|_| {
                Err(SnapshotError::Cluster {
                    pvc: format!("{ns}/{tmp_name}"),
                    source: ClusterError::Timeout {
                        what: format!("volumesnapshots {ns}/{tmp_name}"),
                        condition: WaitCondition::ReadyToUse.name().into(),
                        timeout: wait,
                    },
                })
            });
        match result {
            Ok(snapshot) => Ok((snapshot, filled)),
            Err(e) => {
                let mut reason = format!("snapshotting the temporary claim {ns}/{tmp_name}: {e}");
                if !matches!(e, SnapshotError::Conflict { .. }) {
                    let stub = VolumeSnapshotRecord {
                        pvc_namespace: ns.to_string(),
                        pvc_name: tmp_name.to_string(),
                        snapshot_name: tmp_name.to_string(),
                        class_name: String::new(),
                        driver: driver.to_string(),
                        snapshot_handle: String::new(),
                        restore_size: None,
                        content_name: String::new(),
                    };
                    if let Err(cleanup) = snapshotter.delete_snapshot(&stub).await {
                        reason.push_str(&format!(
                            "; removing the unfinished snapshot failed too ({cleanup})"
                        ));
                    }
                }
                Err(reason)
            }
        }
    }

    /// Creates namespace `ns` unless it exists, labelled with the conversion.
    async fn ensure_namespace(&self, ns: &str, convert: &str) -> Result<(), ClusterError> {
        let gvr = GroupVersionResource::new("", "v1", "namespaces");
        if self.cluster.get(&gvr, None, ns).await?.is_some() {
            return Ok(());
        }
        let namespace = KubeObject::new(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "labels": {CONVERT_NAME_LABEL: convert}}}))
        .map_err(|e| ClusterError::Invalid {
            what: format!("namespace {ns}"),
            reason: e.to_string(),
        })?;
        match self.cluster.create(&gvr, &namespace).await {
            Ok(_) | Err(ClusterError::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Deletes the snapshots a conversion made (resetting it, the FAQ's `DeleteRequest` of
    /// type `Convert`); what is already gone is not an error. Returns the failures, each
    /// naming its snapshot.
    pub async fn delete_converted_snapshots(&self, converted: &[ConvertedVolume]) -> Vec<String> {
        let Some(snapshotter) = &self.snapshotter else {
            return converted
                .iter()
                .map(|c| {
                    format!(
                        "VolumeSnapshot {}/{} ({}) of converted claim {}/{} was left: the engine has no volume snapshotter",
                        c.snapshot.pvc_namespace,
                        c.snapshot.snapshot_name,
                        c.snapshot.snapshot_handle,
                        c.pvc_namespace,
                        c.pvc_name
                    )
                })
                .collect();
        };
        let mut failures = Vec::new();
        for c in converted {
            let record = VolumeSnapshotRecord::from(c.snapshot.clone());
            if let Err(e) = snapshotter.delete_snapshot(&record).await {
                failures.push(format!(
                    "{}: {e}",
                    super::snapshots::describe_snapshot(&record)
                ));
            }
        }
        failures
    }
}

/// The backed-up claims by `(namespace, name)`, at their preferred version.
fn backed_up_claims(contents: &BackupContents) -> BTreeMap<(String, String), KubeObject> {
    contents
        .resource("", "persistentvolumeclaims")
        .map(|r| {
            r.whole_objects()
                .filter_map(|(key, claim)| {
                    let ns = key.namespace.as_deref()?;
                    Some(((ns.to_string(), key.name.to_string()), claim.clone()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Applies a restore's converted volumes (see [`ConvertedVolume::applies_to`]): each claim
/// whose class the restore converts to the class it was converted to is restored from its
/// converted snapshot instead of its files. Returns the log lines saying so.
pub(super) fn use_converted_volumes(
    spec: &RestoreSpec,
    snapshots: &mut Vec<VolumeSnapshotRecord>,
    data: &mut DataRestores,
) -> Vec<String> {
    let mut lines = Vec::new();
    for converted in &spec.converted_volumes {
        if !converted.applies_to(&spec.storage_class_mapping) {
            continue;
        }
        let source = (converted.pvc_namespace.clone(), converted.pvc_name.clone());
        data.source_claims.remove(&source);
        data.by_claim.retain(|_, (r, _)| {
            (r.pvc_namespace.as_str(), r.pvc_name.as_str())
                != (source.0.as_str(), source.1.as_str())
        });
        snapshots.retain(|r| (r.pvc_namespace.clone(), r.pvc_name.clone()) != source);
        snapshots.push(converted.restore_record());
        lines.push(format!(
            "claim {}/{} is restored from the snapshot {} (VolumeSnapshot {}/{}) its StorageClass conversion to {} made, not from its files",
            converted.pvc_namespace,
            converted.pvc_name,
            converted.snapshot.snapshot_handle,
            converted.snapshot.pvc_namespace,
            converted.snapshot.snapshot_name,
            converted.storage_class
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn converted() -> ConvertedVolume {
        ConvertedVolume {
            pvc_namespace: "shop".into(),
            pvc_name: "uploads".into(),
            source_storage_class: "alicloud-nas".into(),
            storage_class: "alicloud-disk-topology-alltype".into(),
            size: Some("50Gi".into()),
            access_modes: vec!["ReadWriteOnce".into()],
            snapshot: ConvertedSnapshot {
                pvc_namespace: "shop".into(),
                pvc_name: "uploads-for-convert202611240400".into(),
                snapshot_name: "uploads-for-convert202611240400".into(),
                class_name: "disk-snap".into(),
                driver: "diskplugin.csi.alibabacloud.com".into(),
                snapshot_handle: "snap-1".into(),
                restore_size: Some("50Gi".into()),
                content_name: "c1".into(),
            },
        }
    }

    #[test]
    fn applies_only_to_the_class_it_was_converted_to() {
        let c = converted();
        let to = |class: &str| BTreeMap::from([("alicloud-nas".to_string(), class.to_string())]);
        assert!(c.applies_to(&to("alicloud-disk-topology-alltype")));
        assert!(!c.applies_to(&to("nas-new")));
        assert!(!c.applies_to(&BTreeMap::new()));
        let record = c.restore_record();
        assert_eq!(
            (record.pvc_namespace.as_str(), record.pvc_name.as_str()),
            ("shop", "uploads")
        );
        assert_eq!(record.snapshot_name, "uploads-for-convert202611240400");
    }

    #[test]
    fn records_round_trip_as_json() {
        let c = converted();
        let text = serde_json::to_string(&c).unwrap();
        assert!(
            text.contains("\"sourceStorageClass\":\"alicloud-nas\""),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<ConvertedVolume>(&text).unwrap(), c);
    }
}
