//! Volume snapshots in the engine's jobs (B6, D5, §9): which claims a backup snapshots, the
//! snapshots' lifecycle with their backup, and standalone volume restores.
//!
//! - **Which claims.** Every claim a selected workload mounts — Pods, and the pod templates
//!   of Deployments, ReplicaSets, ReplicationControllers, StatefulSets (with the claims of
//!   their `volumeClaimTemplates`), DaemonSets, Jobs and CronJobs, so excluding pods does not
//!   drop volumes — plus the claims `includedVolumes` names (a data-protection backup). A
//!   claim left without a snapshot gets a warning naming it and why.
//! - **Names.** `<claim>-<backup>-<attempt>` (shortened as
//!   [`volume_snapshot_name`] does): a rerun under the same name never meets an older
//!   attempt's snapshot, and one that does is refused by the snapshotter.
//! - **Lifecycle.** Snapshots are retained once ready (see
//!   [`crate::ports::snapshot`]) and belong to their backup: a failed or timed-out backup
//!   removes its attempt's snapshots; deleting a backup ([`Engine::delete_backup`],
//!   [`Engine::delete_backup_and_snapshots`]) and GC ([`Engine::gc`]) remove its snapshots
//!   before its record, so a crash between the two is resumed by the next attempt; GC also
//!   removes snapshots whose backup is gone, Failed or committed by another attempt, once
//!   they are older than the orphan grace period. An engine without a snapshotter removes
//!   no snapshot and lists those it left.

use std::collections::{BTreeMap, BTreeSet};

use futures::{StreamExt, stream};
use serde_json::{Value, json};

use super::log::JobLog;
use super::restore::Outcome;
use super::{Engine, RestoreReport};
use crate::model::{
    BackupSpec, Issue, JobPhase, JobStatus, ObjectRef, Progress, RestoreSpec, VolumeRestore,
};
use crate::object::{GroupVersionResource, KubeObject};
use crate::plan::RestorePlan;
use crate::plan::contents::BackupContents;
use crate::ports::clock::within;
use crate::ports::cluster::{ClusterError, WaitCondition};
use crate::ports::snapshot::{SnapshotError, SnapshotRequest, VolumeSnapshotRecord};
use crate::ports::vault::VaultError;
use crate::transform::volumes::{CLAIM_BINDING_ANNOTATIONS, volume_snapshot_name};
use crate::vault_record::BackupCompanions;

/// The claims the selected workloads use, noted while the backup streams.
#[derive(Clone, Debug, Default)]
pub(super) struct ClaimsInUse {
    /// `(namespace, claim)` → the first workload seen using it.
    claims: BTreeMap<(String, String), String>,
    /// `(namespace, "<template>-<statefulset>-")` → the StatefulSet: its claims are found by
    /// name when the snapshots are taken.
    templates: BTreeMap<(String, String), String>,
}

impl ClaimsInUse {
    /// Notes the claims an object's pods mount, if it is a workload.
    pub(super) fn note(&mut self, obj: &KubeObject) {
        if obj.pod_spec_pointer().is_none() {
            return;
        }
        let ns = obj.namespace().unwrap_or("default").to_string();
        let user = format!("{} {ns}/{}", obj.kind(), obj.name());
        for name in obj.mounted_claims() {
            self.claims
                .entry((ns.clone(), name.to_string()))
                .or_insert_with(|| user.clone());
        }
        if obj.kind() == "StatefulSet"
            && let Some(Value::Array(templates)) = obj.pointer("/spec/volumeClaimTemplates")
        {
            for t in templates {
                if let Some(name) = t.pointer("/metadata/name").and_then(Value::as_str) {
                    self.templates
                        .entry((ns.clone(), format!("{name}-{}-", obj.name())))
                        .or_insert_with(|| user.clone());
                }
            }
        }
    }
}

/// What became of one claim of a backup.
enum Claimed {
    /// Snapshotted.
    Taken(Box<VolumeSnapshotRecord>),
    /// Left without a snapshot, for a reason a warning gives.
    Skipped(Issue),
    /// Its snapshot failed.
    Failed(Issue),
}

/// What the volume part of a backup produced, for the backup to record.
#[derive(Default)]
pub(super) struct VolumeOutcome {
    /// The snapshots taken.
    pub records: Vec<VolumeSnapshotRecord>,
    /// Their VolumeSnapshot and content, as recorded in the backup.
    pub objects: Vec<(KubeObject, KubeObject)>,
    /// Claims left without a snapshot, and why.
    pub warnings: Vec<Issue>,
    /// Snapshots that failed.
    pub errors: Vec<Issue>,
    /// Log lines.
    pub log: Vec<String>,
    /// File-system volume backups (D3), Completed or Failed.
    pub pod_volumes: Vec<crate::ports::pod_volume::PodVolumeBackupRecord>,
}

/// What deleting a backup did with its volume snapshots.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotCleanup {
    /// Snapshots deleted, with their data.
    pub deleted: Vec<VolumeSnapshotRecord>,
    /// Snapshots left in the cluster: the engine has no snapshotter (no cluster was given).
    /// Their data stays until they are deleted.
    pub left: Vec<VolumeSnapshotRecord>,
    /// Snapshots whose deletion failed, with the reason; the backup is kept so that the next
    /// delete or GC retries.
    pub failed: Vec<(VolumeSnapshotRecord, String)>,
}

/// `namespace/name (handle)` of a snapshot, for reports.
pub fn describe_snapshot(record: &VolumeSnapshotRecord) -> String {
    let handle = if record.snapshot_handle.is_empty() {
        "no handle yet".to_string()
    } else {
        record.snapshot_handle.clone()
    };
    let content = if record.content_name.is_empty() {
        String::new()
    } else {
        format!(", content {}", record.content_name)
    };
    format!(
        "VolumeSnapshot {}/{} of PersistentVolumeClaim {}/{} ({handle}{content})",
        record.pvc_namespace, record.snapshot_name, record.pvc_namespace, record.pvc_name
    )
}

/// The snapshots a backup recorded, from its content records (whose identity survives the
/// VolumeSnapshot) joined with its VolumeSnapshots.
pub fn recorded_snapshots(companions: &BackupCompanions) -> Vec<VolumeSnapshotRecord> {
    let text = |o: &KubeObject, p: &str| {
        o.pointer(p)
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_default()
    };
    companions
        .csi_volume_snapshot_contents
        .iter()
        .map(|content| {
            let vs_ns = text(content, "/spec/volumeSnapshotRef/namespace");
            let vs_name = text(content, "/spec/volumeSnapshotRef/name");
            let vs = companions
                .csi_volume_snapshots
                .iter()
                .find(|v| v.namespace() == Some(vs_ns.as_str()) && v.name() == vs_name);
            let pvc_name = vs
                .map(|v| text(v, "/spec/source/persistentVolumeClaimName"))
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| {
                    content
                        .annotation(crate::ports::snapshot::SOURCE_PVC_ANNOTATION)
                        .and_then(|s| s.split_once('/'))
                        .map(|(_, n)| n.to_string())
                        .unwrap_or_default()
                });
            VolumeSnapshotRecord {
                pvc_namespace: vs_ns,
                pvc_name,
                snapshot_name: vs_name,
                class_name: text(content, "/spec/volumeSnapshotClassName"),
                driver: text(content, "/spec/driver"),
                snapshot_handle: text(content, "/status/snapshotHandle"),
                restore_size: Some(text(content, "/status/restoreSize")).filter(|s| !s.is_empty()),
                content_name: content.name().to_string(),
            }
        })
        .collect()
}

/// Whether an object is a VolumeSnapshot or content csdr took for a backup: recorded in its
/// own backup's snapshot files, never archived as an object of another backup (restoring it
/// would cut a new snapshot of the restored claim).
pub(super) fn is_csdr_snapshot(obj: &KubeObject) -> bool {
    matches!(obj.kind(), "VolumeSnapshot" | "VolumeSnapshotContent")
        && obj.api_group() == "snapshot.storage.k8s.io"
        && obj
            .label(crate::ports::snapshot::BACKUP_NAME_LABEL)
            .is_some()
}

/// The part of an attempt id a snapshot name carries.
fn short_attempt(attempt: &str) -> String {
    attempt
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect::<String>()
        .to_ascii_lowercase()
}

/// The VolumeSnapshot name of a claim in one attempt of a backup.
pub fn backup_snapshot_name(claim: &str, backup: &str, attempt: &str) -> String {
    volume_snapshot_name(claim, &format!("{backup}-{}", short_attempt(attempt)))
}

pub(super) fn pvcs() -> GroupVersionResource {
    GroupVersionResource::new("", "v1", "persistentvolumeclaims")
}

impl Engine {
    /// Snapshots the claims of a backup (B6, D5): those the selected workloads use when
    /// `backupVolumes` is set, and those `includedVolumes` names.
    pub(super) async fn snapshot_claims(
        &self,
        spec: &BackupSpec,
        attempt: &str,
        in_use: &ClaimsInUse,
    ) -> VolumeOutcome {
        let mut out = VolumeOutcome::default();
        let mut claims: BTreeMap<(String, String), String> = BTreeMap::new();
        if spec.backup_volumes {
            claims.extend(in_use.claims.clone());
            for ((ns, prefix), user) in &in_use.templates {
                match self.claims_named(ns, prefix).await {
                    Ok(names) => {
                        for name in names {
                            claims
                                .entry((ns.clone(), name))
                                .or_insert_with(|| user.clone());
                        }
                    }
                    Err(e) => out.errors.push(Issue::general(format!(
                        "listing the claims of {user} in namespace {ns}: {e}"
                    ))),
                }
            }
        }
        for named in &spec.included_volumes {
            match named.split_once('/') {
                Some((ns, name)) if !ns.is_empty() && !name.is_empty() => {
                    claims.insert((ns.to_string(), name.to_string()), "includedVolumes".into());
                }
                _ => out.errors.push(Issue::general(format!(
                    "includedVolumes: `{named}` is not namespace/name"
                ))),
            }
        }
        if claims.is_empty() {
            return out;
        }
        let choice = self.choose_volume_actions(spec, claims).await;
        out.warnings.extend(choice.warnings);
        out.errors.extend(choice.errors);
        let files = self.back_up_pod_volumes(spec, attempt, choice.fs).await;
        out.warnings.extend(files.warnings);
        out.errors.extend(files.errors);
        out.log.extend(files.log);
        out.pod_volumes = files.records;
        let claims = choice.snapshot;
        if claims.is_empty() {
            return out;
        }
        let Some(snapshotter) = &self.snapshotter else {
            out.warnings.push(Issue::general(
                "backupVolumes is set but the engine has no volume snapshotter; volume data was not backed up",
            ));
            return out;
        };
        let batch = self.options.config.pv_backup.batch_snapshot_max_num.get();
        let retention_days = spec.ttl.as_secs().div_ceil(24 * 3600);
        let results: Vec<_> = stream::iter(claims)
            .map(|((ns, name), user)| async move {
                let claim_ref = || ObjectRef {
                    group: String::new(),
                    version: "v1".into(),
                    kind: "PersistentVolumeClaim".into(),
                    namespace: Some(ns.clone()),
                    name: name.clone(),
                };
                let skipped = |why: String| {
                    Claimed::Skipped(Issue::about(
                        claim_ref(),
                        format!("used by {user}; its data was not backed up: {why}"),
                    ))
                };
                let failed = |why: String| Claimed::Failed(Issue::about(claim_ref(), why));
                let claim = match self.cluster.get(&pvcs(), Some(&ns), &name).await {
                    Ok(Some(claim)) => claim,
                    Ok(None) => return skipped("the claim does not exist".into()),
                    Err(e) => return failed(e.to_string()),
                };
                let Some(pv_name) = claim
                    .pointer("/spec/volumeName")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                else {
                    return skipped("the claim is not bound".into());
                };
                let pvs = GroupVersionResource::new("", "v1", "persistentvolumes");
                let driver = match self.cluster.get(&pvs, None, pv_name).await {
                    Ok(Some(pv)) => pv
                        .pointer("/spec/csi/driver")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    Ok(None) => None,
                    Err(e) => return failed(e.to_string()),
                };
                let Some(driver) = driver else {
                    return skipped(format!("volume {pv_name} is not a CSI volume"));
                };
                let wait = self.options.snapshot_wait;
                let request = SnapshotRequest {
                    snapshot_name: backup_snapshot_name(&name, &spec.name, attempt),
                    class: spec.volume_snapshot_class.get(&driver).cloned(),
                    driver: driver.clone(),
                    backup_name: spec.name.clone(),
                    attempt: attempt.to_string(),
                    retention_days: Some(retention_days),
                    timeout: wait,
                };
                let result = within(&*self.timer, wait, snapshotter.snapshot(&claim, &request))
                    .await
                    .unwrap_or_else(|_| {
                        Err(SnapshotError::Cluster {
                            pvc: format!("{ns}/{name}"),
                            source: ClusterError::Timeout {
                                what: format!("volumesnapshots {ns}/{}", request.snapshot_name),
                                condition: WaitCondition::ReadyToUse.name().into(),
                                timeout: wait,
                            },
                        })
                    });
                match result {
                    Ok(record) => Claimed::Taken(Box::new(record)),
                    Err(
                        e @ (SnapshotError::NoSnapshotClass { .. }
                        | SnapshotError::AmbiguousClass { .. }
                        | SnapshotError::NotServed),
                    ) => skipped(e.to_string()),
                    Err(e @ SnapshotError::Conflict { .. }) => failed(e.to_string()),
                    Err(e) => {
                        // A snapshot that failed or never became ready is not kept.
                        let stub = VolumeSnapshotRecord {
                            pvc_namespace: ns.clone(),
                            pvc_name: name.clone(),
                            snapshot_name: request.snapshot_name.clone(),
                            class_name: String::new(),
                            driver,
                            snapshot_handle: String::new(),
                            restore_size: None,
                            content_name: String::new(),
                        };
                        let mut reason = e.to_string();
                        if let Err(cleanup) = snapshotter.delete_snapshot(&stub).await {
                            reason.push_str(&format!(
                                "; removing the unfinished snapshot failed too ({cleanup}); GC removes it"
                            ));
                        }
                        failed(reason)
                    }
                }
            })
            .buffered(batch)
            .collect()
            .await;
        let snap = |r: &str| GroupVersionResource::new("snapshot.storage.k8s.io", "v1", r);
        for result in results {
            match result {
                Claimed::Taken(record) => {
                    let record = *record;
                    let vs = self
                        .cluster
                        .get(
                            &snap("volumesnapshots"),
                            Some(&record.pvc_namespace),
                            &record.snapshot_name,
                        )
                        .await;
                    let content = self
                        .cluster
                        .get(&snap("volumesnapshotcontents"), None, &record.content_name)
                        .await;
                    match (vs, content) {
                        (Ok(Some(vs)), Ok(Some(content))) => out.objects.push((vs, content)),
                        _ => out.errors.push(Issue::general(format!(
                            "{} was taken but could not be read back to be recorded",
                            describe_snapshot(&record)
                        ))),
                    }
                    out.log
                        .push(format!("{} ready and retained", describe_snapshot(&record)));
                    out.records.push(record);
                }
                Claimed::Skipped(issue) => out.warnings.push(issue),
                Claimed::Failed(issue) => out.errors.push(issue),
            }
        }
        out
    }

    /// The claims of a namespace named `<prefix><ordinal>`.
    async fn claims_named(&self, ns: &str, prefix: &str) -> Result<Vec<String>, ClusterError> {
        let mut names = Vec::new();
        let gvr = pvcs();
        let mut list = self
            .cluster
            .list(&gvr, Some(ns), None, self.options.page_size);
        while let Some(claim) = list.next().await {
            let claim = claim?;
            if claim
                .name()
                .strip_prefix(prefix)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            {
                names.push(claim.name().to_string());
            }
        }
        Ok(names)
    }

    /// Removes the snapshots one attempt of a backup left (a failed or timed-out backup);
    /// returns what could not be removed.
    pub(super) async fn remove_attempt_snapshots(
        &self,
        spec: &BackupSpec,
        attempt: &str,
        log: &mut JobLog,
    ) -> Vec<String> {
        let backup = spec.name.as_str();
        let Some(snapshotter) = &self.snapshotter else {
            return Vec::new();
        };
        if !spec.backup_volumes && spec.included_volumes.is_empty() {
            return Vec::new();
        }
        let left = match snapshotter.csdr_snapshots().await {
            Ok(left) => left,
            Err(e) => return vec![format!("listing the snapshots the backup left: {e}")],
        };
        let mut failures = Vec::new();
        for s in left
            .into_iter()
            .filter(|s| s.backup_name == backup && s.attempt == attempt)
        {
            match snapshotter.delete_snapshot(&s.record).await {
                Ok(()) => log.info(format!(
                    "removed {} of the failed backup",
                    describe_snapshot(&s.record)
                )),
                Err(e) => failures.push(format!("{}: {e}", describe_snapshot(&s.record))),
            }
        }
        failures
    }

    /// Deletes a backup's volume snapshots (those it recorded and any its attempts left in
    /// the cluster), then, when all are gone, the backup itself (V6). Without a snapshotter
    /// the snapshots are left and listed. A failed snapshot deletion keeps the backup, so the
    /// next delete or GC retries.
    pub async fn delete_backup_and_snapshots(
        &self,
        name: &str,
    ) -> Result<SnapshotCleanup, VaultError> {
        let mut records = match self.vault.backup_companions(name).await {
            Ok(companions) => recorded_snapshots(&companions),
            Err(VaultError::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut cleanup = SnapshotCleanup::default();
        match &self.snapshotter {
            None => cleanup.left = records,
            Some(snapshotter) => {
                match snapshotter.csdr_snapshots().await {
                    Ok(left) => {
                        for s in left.into_iter().filter(|s| s.backup_name == name) {
                            let known = records.iter().any(|r| {
                                (!r.content_name.is_empty()
                                    && r.content_name == s.record.content_name)
                                    || (r.pvc_namespace == s.record.pvc_namespace
                                        && r.snapshot_name == s.record.snapshot_name)
                            });
                            if !known {
                                records.push(s.record);
                            }
                        }
                    }
                    Err(e) => cleanup.failed.push((
                        VolumeSnapshotRecord {
                            pvc_namespace: String::new(),
                            pvc_name: String::new(),
                            snapshot_name: String::new(),
                            class_name: String::new(),
                            driver: String::new(),
                            snapshot_handle: String::new(),
                            restore_size: None,
                            content_name: String::new(),
                        },
                        format!("listing the cluster's csdr snapshots: {e}"),
                    )),
                }
                for record in records {
                    match snapshotter.delete_snapshot(&record).await {
                        Ok(()) => cleanup.deleted.push(record),
                        Err(e) => {
                            let reason = e.to_string();
                            cleanup.failed.push((record, reason));
                        }
                    }
                }
            }
        }
        if !cleanup.failed.is_empty() {
            return Err(VaultError::Storage {
                operation: "delete".into(),
                key: format!("volume snapshots of backup {name}"),
                reason: format!(
                    "{}; the backup is kept so that the next delete or GC retries",
                    cleanup
                        .failed
                        .iter()
                        .map(|(r, e)| format!("{}: {e}", describe_snapshot(r)))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                transient: true,
                source: None,
            });
        }
        self.vault.delete_backup(name).await?;
        Ok(cleanup)
    }

    /// GC's pass over the cluster: removes csdr snapshots whose backup is gone, Failed or
    /// committed by another attempt, once they are older than the orphan grace period (a
    /// backup still running is younger). Returns the snapshots removed and the failures.
    pub(super) async fn collect_orphan_snapshots(
        &self,
        now: jiff::Timestamp,
    ) -> (Vec<VolumeSnapshotRecord>, Vec<(String, String)>) {
        let Some(snapshotter) = &self.snapshotter else {
            return (Vec::new(), Vec::new());
        };
        let left = match snapshotter.csdr_snapshots().await {
            Ok(left) => left,
            Err(e) => return (Vec::new(), vec![("volume snapshots".into(), e.to_string())]),
        };
        let grace = jiff::SignedDuration::try_from(self.options.orphan_grace)
            .unwrap_or(jiff::SignedDuration::MAX);
        let mut owners: BTreeMap<String, Option<(bool, Option<String>)>> = BTreeMap::new();
        let mut removed = Vec::new();
        let mut failed = Vec::new();
        for s in left {
            let old_enough = s
                .created
                .and_then(|c| c.checked_add(grace).ok())
                .is_some_and(|until| until <= now);
            if !old_enough {
                continue;
            }
            if !owners.contains_key(&s.backup_name) {
                let owner = match self.vault.backup_record(&s.backup_name).await {
                    Ok(r) => r.map(|r| (r.status.phase != JobPhase::Failed, r.attempt.clone())),
                    Err(e) => {
                        failed.push((s.backup_name.clone(), e.to_string()));
                        continue;
                    }
                };
                owners.insert(s.backup_name.clone(), owner);
            }
            let keep = match owners.get(&s.backup_name) {
                Some(Some((true, attempt))) => attempt.as_deref().is_none_or(|a| a == s.attempt),
                _ => false,
            };
            if keep {
                continue;
            }
            match snapshotter.delete_snapshot(&s.record).await {
                Ok(()) => removed.push(s.record),
                Err(e) => failed.push((describe_snapshot(&s.record), e.to_string())),
            }
        }
        (removed, failed)
    }

    /// A standalone volume restore (D5): each chosen claim is created alone, from its
    /// snapshot, under its own or a new name and namespace (a dry run lists them and writes
    /// nothing).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn restore_volumes_alone(
        &self,
        spec: &RestoreSpec,
        contents: &BackupContents,
        snapshots: &[VolumeSnapshotRecord],
        data: &super::pod_volumes::DataRestores,
        warnings: Vec<Issue>,
        log: &mut JobLog,
        restored: &mut crate::vault_record::ResourceListWriter,
    ) -> RestoreReport {
        let mut report = RestoreReport {
            name: spec.name.clone(),
            backup_name: spec.backup_name.clone(),
            dry_run: spec.dry_run,
            status: JobStatus {
                phase: JobPhase::InProgress,
                warnings,
                progress: Progress {
                    total_items: spec.included_volumes.len() as u64,
                    items_done: 0,
                },
                ..Default::default()
            },
            plan: RestorePlan::default(),
            created: Vec::new(),
            existing: Vec::new(),
            patched: Vec::new(),
            counts: Default::default(),
            preflight: None,
        };
        let backed_up: BTreeMap<(String, String), &KubeObject> = contents
            .resource("", "persistentvolumeclaims")
            .map(|r| {
                r.whole_objects()
                    .filter_map(|(key, claim)| {
                        let ns = key.namespace.as_deref()?;
                        Some(((ns.to_string(), key.name.to_string()), claim))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut namespaces_made = BTreeSet::new();
        for wanted in &spec.included_volumes {
            match self
                .restore_one_volume(
                    spec,
                    wanted,
                    &backed_up,
                    snapshots,
                    data,
                    &mut namespaces_made,
                )
                .await
            {
                Ok((created, filled)) => {
                    match filled {
                        Some(line) => log.info(format!("created {created}; {line}")),
                        None => log.info(format!("created {created} from its snapshot")),
                    }
                    let listed = self.options.restore_report_objects;
                    report.note(Outcome::Created, created, listed, restored);
                }
                Err(issue) => {
                    log.error(issue.to_string());
                    report.status.errors.push(issue);
                }
            }
            report.status.progress.items_done += 1;
        }
        report.status.phase = if report.status.errors.is_empty() {
            JobPhase::Completed
        } else {
            JobPhase::PartiallyFailed
        };
        report
    }

    async fn restore_one_volume(
        &self,
        spec: &RestoreSpec,
        wanted: &VolumeRestore,
        backed_up: &BTreeMap<(String, String), &KubeObject>,
        snapshots: &[VolumeSnapshotRecord],
        data: &super::pod_volumes::DataRestores,
        namespaces_made: &mut BTreeSet<String>,
    ) -> Result<(ObjectRef, Option<String>), Issue> {
        let source = ObjectRef {
            group: String::new(),
            version: "v1".into(),
            kind: "PersistentVolumeClaim".into(),
            namespace: Some(wanted.namespace.clone()),
            name: wanted.name.clone(),
        };
        let fail = |reason: String| Issue::about(source.clone(), reason);
        let record = snapshots
            .iter()
            .find(|r| r.pvc_namespace == wanted.namespace && r.pvc_name == wanted.name);
        // D5 for a claim backed up through its files: provisioned fresh, then filled.
        let files = data
            .by_claim
            .values()
            .find(|(r, _)| r.pvc_namespace == wanted.namespace && r.pvc_name == wanted.name);
        if record.is_none() && files.is_none() {
            return Err(fail(format!(
                "backup {} holds no volume snapshot or file-system backup of this claim; only such claims can be restored alone",
                spec.backup_name
            )));
        }
        let snapshotter = match (record, &self.snapshotter) {
            (Some(_), Some(s)) => Some(s),
            (Some(record), None) => {
                return Err(fail(format!(
                    "its data is in volume snapshot {} but the engine has no volume snapshotter",
                    record.snapshot_name
                )));
            }
            (None, _) => None,
        };
        if let (None, Some((r, _))) = (record, files)
            && self.pod_volume_mover.is_none()
        {
            return Err(fail(format!(
                "its data is in file-system backup snapshot {} but the engine has no pod volume mover",
                r.snapshot_id
            )));
        }
        let ns = wanted
            .target_namespace
            .clone()
            .or_else(|| spec.namespace_mapping.get(&wanted.namespace).cloned())
            .unwrap_or_else(|| wanted.namespace.clone());
        let name = wanted
            .target_name
            .clone()
            .unwrap_or_else(|| wanted.name.clone());
        let original = backed_up.get(&(wanted.namespace.clone(), wanted.name.clone()));
        let field = |p: &str| original.and_then(|o| o.pointer(p)).cloned();
        let size = field("/spec/resources/requests/storage")
            .or_else(|| {
                record
                    .and_then(|r| r.restore_size.clone())
                    .map(Value::String)
            })
            .ok_or_else(|| fail("neither the claim nor its snapshot records a size".into()))?;
        let mut claim_spec = json!({
            "accessModes": field("/spec/accessModes").unwrap_or(json!(["ReadWriteOnce"])),
            "resources": {"requests": {"storage": size}},
        });
        if let Some(Value::String(class)) = field("/spec/storageClassName") {
            let class = spec
                .storage_class_mapping
                .get(&class)
                .cloned()
                .unwrap_or(class);
            claim_spec["storageClassName"] = json!(class);
        }
        if let Some(mode) = field("/spec/volumeMode") {
            claim_spec["volumeMode"] = mode;
        }
        let mut metadata = json!({"name": name, "namespace": ns,
            "labels": {"csdr.io/restore-name": spec.name, "csdr.io/backup-name": spec.backup_name}});
        if let Some(Value::Object(labels)) = field("/metadata/labels") {
            for (k, v) in labels {
                metadata["labels"][k] = v;
            }
        }
        if let Some(Value::Object(mut annotations)) = field("/metadata/annotations") {
            for a in CLAIM_BINDING_ANNOTATIONS {
                annotations.shift_remove(a);
            }
            if !annotations.is_empty() {
                metadata["annotations"] = Value::Object(annotations);
            }
        }
        if spec.dry_run {
            return Ok((
                ObjectRef {
                    namespace: Some(ns),
                    name,
                    ..source
                },
                None,
            ));
        }
        if namespaces_made.insert(ns.clone()) {
            let namespace = KubeObject::new(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            )
            .map_err(|e| fail(e.to_string()))?;
            match self
                .cluster
                .create(
                    &GroupVersionResource::new("", "v1", "namespaces"),
                    &namespace,
                )
                .await
            {
                Ok(_) | Err(ClusterError::AlreadyExists { .. }) => {}
                Err(e) => return Err(fail(format!("creating namespace {ns}: {e}"))),
            }
        }
        if let (Some(record), Some(snapshotter)) = (record, snapshotter) {
            let snapshot_name = volume_snapshot_name(&name, &spec.backup_name);
            let wait = self.options.snapshot_wait;
            let data_source = match within(
                &*self.timer,
                wait,
                snapshotter.prepare_restore(record, &ns, &snapshot_name, wait),
            )
            .await
            {
                Ok(Ok(source)) => source,
                Ok(Err(e)) => return Err(fail(e.to_string())),
                Err(_) => {
                    return Err(fail(format!(
                        "volume snapshot {snapshot_name} in namespace {ns} was not ready within {}",
                        crate::model::duration_text::format(&wait)
                    )));
                }
            };
            claim_spec["dataSource"] = data_source;
        }
        let claim = KubeObject::new(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": metadata, "spec": claim_spec}))
        .map_err(|e| fail(e.to_string()))?;
        let created = ObjectRef::of(&claim);
        self.cluster
            .create(&pvcs(), &claim)
            .await
            .map_err(|e| fail(format!("could not be restored as {ns}/{name}: {e}")))?;
        let claims = pvcs();
        let bound = self.cluster.wait_for(
            &claims,
            Some(&ns),
            &name,
            WaitCondition::Bound,
            self.options.pvc_bind_wait,
        );
        match within(&*self.timer, self.options.pvc_bind_wait, bound).await {
            Ok(Ok(_)) => match files.filter(|_| record.is_none()) {
                Some((r, velero)) => self
                    .restore_claim_data(&spec.name, &ns, &name, r, *velero)
                    .await
                    .map(|line| (created, Some(line))),
                None => Ok((created, None)),
            },
            Ok(Err(e)) => Err(Issue::about(
                created,
                format!("restored from its snapshot but not bound: {e}"),
            )),
            Err(_) => Err(Issue::about(
                created,
                "create cluster resources timeout: pvc not bound".to_string(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_names_carry_the_backup_and_the_attempt() {
        let a = backup_snapshot_name("data", "nightly", "9F3A-77c1-xyz");
        assert_eq!(a, "data-nightly-9f3a77c1");
        assert_ne!(a, backup_snapshot_name("data", "nightly", "0000aaaa"));
        assert!(backup_snapshot_name(&"d".repeat(60), "nightly", "12345678").len() <= 63);
    }

    #[test]
    fn workloads_of_every_kind_note_their_claims() {
        let template = json!({"spec": {"volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "c"}}]}});
        let mut in_use = ClaimsInUse::default();
        for (kind, body) in [
            ("Deployment", json!({"template": template})),
            (
                "CronJob",
                json!({"jobTemplate": {"spec": {"template": template}}}),
            ),
            (
                "StatefulSet",
                json!({"template": template, "volumeClaimTemplates": [{"metadata": {"name": "www"}}]}),
            ),
        ] {
            let obj = KubeObject::new(json!({"apiVersion": "apps/v1", "kind": kind,
                "metadata": {"name": kind.to_lowercase(), "namespace": "shop"}, "spec": body}))
            .unwrap();
            in_use.note(&obj);
        }
        assert_eq!(
            in_use
                .claims
                .get(&("shop".into(), "c".into()))
                .map(String::as_str),
            Some("Deployment shop/deployment")
        );
        assert!(
            in_use
                .templates
                .contains_key(&("shop".into(), "www-statefulset-".into()))
        );
        let cm = KubeObject::new(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "x", "namespace": "shop"}}))
        .unwrap();
        let mut other = ClaimsInUse::default();
        other.note(&cm);
        assert!(other.claims.is_empty() && other.templates.is_empty());
    }
}
