//! File-system volume backups in the engine's jobs (D2–D5).
//!
//! - **Choice.** Each claim a backup would snapshot (`backupVolumes`, `includedVolumes`) is
//!   decided by the backup's volume policy ([`crate::volume_policy`], the FAQ's default
//!   without one): snapshots go the CSI way ([`super::snapshots`]), skipped claims get a
//!   warning, and the rest are backed up through their files by the engine's
//!   [`PodVolumeMover`].
//! - **Where.** A claim's files are read through a pod of its namespace that mounts it and
//!   is scheduled (a Running one first). A claim no pod mounts (a data-protection backup)
//!   gets a short-lived pod of its own, mounting it read-only, on a node the node policy
//!   (C2) allows, labelled [`VOLUME_POD_LABEL`]; it is deleted afterwards, also when the
//!   copy failed.
//! - **Records.** Every copy the mover was asked for is a [`PodVolumeBackupRecord`], stored
//!   with the backup as `<name>-podvolumebackups.json.gz` ([`recorded_pod_volume_backups`]).
//!   A failed copy is an error naming the claim, the volume, the pod and the reason, and the
//!   backup ends `PartiallyFailed` with [`HBR_PARTIALLY_COMPLETED`].

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::{StreamExt, stream};
use serde_json::{Value, json};

use super::Engine;
use crate::model::{BackupSpec, Issue, ObjectRef};
use crate::node_policy::eligible_nodes;
use crate::object::{GroupVersionResource, KubeObject};
use crate::ports::clock::within;
use crate::ports::cluster::ClusterError;
use crate::ports::pod_volume::{
    MountedVolume, PodVolumeBackupRecord, PodVolumeBackupRequest, PodVolumeError, PodVolumeMover,
    PodVolumePhase, UPLOADER_RESTIC,
};
use crate::vault_record::BackupCompanions;
use crate::volume_policy::{VolumeAction, VolumeFacts, VolumePolicy};

/// The label on the short-lived pods the engine creates to reach a volume no pod mounts;
/// its value is the job (`backup-<name>` or `restore-<name>`). GC may remove any pod
/// carrying it.
pub const VOLUME_POD_LABEL: &str = "csdr.io/volume-pod";

/// The message of a backup whose file-system volume backups partly failed (the FAQ's).
pub const HBR_PARTIALLY_COMPLETED: &str = "PROCESS hbr partially completed";

/// The file-system volume backups a backup recorded; empty for a backup without any.
pub fn recorded_pod_volume_backups(
    companions: &BackupCompanions,
) -> Result<Vec<PodVolumeBackupRecord>, PodVolumeError> {
    companions
        .pod_volume_backups
        .iter()
        .map(PodVolumeBackupRecord::from_velero_object)
        .collect()
}

pub(super) fn pods() -> GroupVersionResource {
    GroupVersionResource::new("", "v1", "pods")
}

pub(super) fn claim_ref(ns: &str, name: &str) -> ObjectRef {
    ObjectRef {
        group: String::new(),
        version: "v1".into(),
        kind: "PersistentVolumeClaim".into(),
        namespace: Some(ns.to_string()),
        name: name.to_string(),
    }
}

/// A claim whose files are backed up.
#[derive(Clone, Debug)]
pub(super) struct FsClaim {
    pub ns: String,
    pub name: String,
    pub pv_name: String,
}

/// The claims of a backup sorted by what happens to their data.
#[derive(Default)]
pub(super) struct ClaimChoice {
    /// Claims that go the CSI snapshot way (and those whose facts could not be read: that
    /// way warns about them as before).
    pub snapshot: BTreeMap<(String, String), String>,
    /// Claims backed up through their files.
    pub fs: Vec<FsClaim>,
    /// Claims skipped, and why.
    pub warnings: Vec<Issue>,
    /// Errors (an unreadable policy).
    pub errors: Vec<Issue>,
}

/// What the file-system part of a backup produced.
#[derive(Default)]
pub(super) struct PodVolumeOutcome {
    pub records: Vec<PodVolumeBackupRecord>,
    pub warnings: Vec<Issue>,
    pub errors: Vec<Issue>,
    pub log: Vec<String>,
}

/// A pod through which a volume is reached, and whether the engine made it.
struct Reach {
    mount: MountedVolume,
    temporary: bool,
}

fn short_hash(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .take(5)
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Engine {
    /// Decides each claim's action with the backup's volume policy (D2).
    pub(super) async fn choose_volume_actions(
        &self,
        spec: &BackupSpec,
        claims: BTreeMap<(String, String), String>,
    ) -> ClaimChoice {
        let mut out = ClaimChoice::default();
        let policy = match spec.volume_policy.as_deref() {
            Some(text) => match VolumePolicy::from_yaml(text) {
                Ok(p) => Some(p),
                Err(e) => {
                    out.errors.push(Issue::general(format!(
                        "volumePolicy: {e}; the default policy was used"
                    )));
                    None
                }
            },
            None => None,
        };
        let explicit = policy.is_some();
        let policy = policy.unwrap_or_default();
        let drivers = self.snapshot_drivers().await;
        let drivers: Vec<&str> = drivers.iter().map(String::as_str).collect();
        let pvs = GroupVersionResource::new("", "v1", "persistentvolumes");
        for ((ns, name), user) in claims {
            let pv = match self
                .cluster
                .get(&super::snapshots::pvcs(), Some(&ns), &name)
                .await
            {
                Ok(Some(claim)) => match claim
                    .pointer("/spec/volumeName")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                {
                    Some(pv_name) => match self.cluster.get(&pvs, None, pv_name).await {
                        Ok(Some(pv)) => Some(pv),
                        _ => None,
                    },
                    None => None,
                },
                _ => None,
            };
            // Missing claims and volumes are reported by the snapshot way, as before.
            let Some(pv) = pv else {
                out.snapshot.insert((ns, name), user);
                continue;
            };
            let decided = VolumeFacts::of_persistent_volume(&pv.to_value())
                .and_then(|facts| policy.decide(&facts, &drivers));
            match decided {
                Ok(VolumeAction::Snapshot) => {
                    out.snapshot.insert((ns, name), user);
                }
                Ok(VolumeAction::Skip) => out.warnings.push(Issue::about(
                    claim_ref(&ns, &name),
                    format!(
                        "used by {user}; its data was not backed up: the volume policy skips volume {}",
                        pv.name()
                    ),
                )),
                Ok(VolumeAction::FsBackup) if self.pod_volume_mover.is_some() => {
                    out.fs.push(FsClaim {
                        ns,
                        name,
                        pv_name: pv.name().to_string(),
                    })
                }
                Ok(VolumeAction::FsBackup) if !explicit => {
                    // No mover and no policy: the snapshot way says why it cannot help.
                    out.snapshot.insert((ns, name), user);
                }
                Ok(VolumeAction::FsBackup) => out.warnings.push(Issue::about(
                    claim_ref(&ns, &name),
                    format!(
                        "used by {user}; its data was not backed up: the volume policy asks for a file-system backup of volume {} but the engine has no pod volume mover",
                        pv.name()
                    ),
                )),
                Err(e) => out.warnings.push(Issue::about(
                    claim_ref(&ns, &name),
                    format!("used by {user}; its data was not backed up: {e}"),
                )),
            }
        }
        out
    }

    /// The CSI drivers that have a VolumeSnapshotClass in the cluster.
    async fn snapshot_drivers(&self) -> Vec<String> {
        let gvr =
            GroupVersionResource::new("snapshot.storage.k8s.io", "v1", "volumesnapshotclasses");
        let mut drivers = Vec::new();
        let mut list = self.cluster.list(&gvr, None, None, self.options.page_size);
        while let Some(class) = list.next().await {
            match class {
                Ok(class) => {
                    if let Some(d) = class.pointer("/driver").and_then(Value::as_str) {
                        drivers.push(d.to_string());
                    }
                }
                // Not served: no driver can snapshot.
                Err(_) => break,
            }
        }
        drivers
    }

    /// Backs up the files of `claims` through the mover, several at a time (D3).
    pub(super) async fn back_up_pod_volumes(
        &self,
        spec: &BackupSpec,
        attempt: &str,
        claims: Vec<FsClaim>,
    ) -> PodVolumeOutcome {
        let mut out = PodVolumeOutcome::default();
        let Some(mover) = self.pod_volume_mover.clone() else {
            return out;
        };
        let batch = self.options.config.pv_backup.batch_snapshot_max_num.get();
        let results: Vec<_> = stream::iter(claims)
            .map(|claim| {
                let mover = mover.clone();
                async move { self.back_up_one(spec, attempt, &claim, mover).await }
            })
            .buffered(batch)
            .collect()
            .await;
        for one in results {
            out.log.extend(one.log);
            out.warnings.extend(one.warnings);
            out.errors.extend(one.error);
            out.records.extend(one.record);
        }
        out
    }

    async fn back_up_one(
        &self,
        spec: &BackupSpec,
        attempt: &str,
        claim: &FsClaim,
        mover: Arc<dyn PodVolumeMover>,
    ) -> OneVolume {
        let mut one = OneVolume::default();
        let subject = claim_ref(&claim.ns, &claim.name);
        let job = format!("backup-{}", spec.name);
        let reach = match self
            .find_mount(&claim.ns, &claim.name, &claim.pv_name)
            .await
        {
            Ok(Some(mount)) => Reach {
                mount,
                temporary: false,
            },
            Ok(None) => match self
                .volume_pod(&job, &claim.ns, &claim.name, &claim.pv_name, true)
                .await
            {
                Ok(mount) => Reach {
                    mount,
                    temporary: true,
                },
                Err(why) => {
                    one.error = Some(Issue::about(
                        subject,
                        format!(
                            "{HBR_PARTIALLY_COMPLETED}: volume {} was not backed up: no pod mounts it and {why}",
                            claim.pv_name
                        ),
                    ));
                    return one;
                }
            },
            Err(e) => {
                one.error = Some(Issue::about(
                    subject,
                    format!(
                        "{HBR_PARTIALLY_COMPLETED}: volume {} was not backed up: listing the pods of namespace {}: {e}",
                        claim.pv_name, claim.ns
                    ),
                ));
                return one;
            }
        };
        let mount = reach.mount.clone();
        let tags = BTreeMap::from([
            ("backup".to_string(), spec.name.clone()),
            ("pvc".to_string(), claim.name.clone()),
            ("ns".to_string(), claim.ns.clone()),
            ("pod".to_string(), mount.pod_name.clone()),
        ]);
        let request = PodVolumeBackupRequest {
            backup_name: spec.name.clone(),
            attempt: attempt.to_string(),
            pvc_namespace: claim.ns.clone(),
            pvc_name: claim.name.clone(),
            mount: mount.clone(),
            repository: claim.ns.clone(),
            tags,
        };
        let limit = self.options.config.application_backup.backup_timeout;
        let started = self.clock.now();
        let result = within(&*self.timer, limit, mover.back_up(&request))
            .await
            .unwrap_or_else(|_| {
                Err(PodVolumeError::Timeout {
                    volume: mount.to_string(),
                    seconds: limit.as_secs(),
                })
            });
        let duration_ms =
            u64::try_from(self.clock.now().duration_since(started).as_millis()).unwrap_or_default();
        if reach.temporary {
            self.remove_volume_pod(&mount, &mut one.warnings).await;
        }
        let mut record = PodVolumeBackupRecord {
            backup_name: spec.name.clone(),
            pvc_namespace: claim.ns.clone(),
            pvc_name: claim.name.clone(),
            pv_name: claim.pv_name.clone(),
            pod_namespace: mount.pod_namespace.clone(),
            pod_name: mount.pod_name.clone(),
            pod_uid: mount.pod_uid.clone(),
            pod_volume: mount.pod_volume.clone(),
            node: mount.node.clone(),
            repository: claim.ns.clone(),
            uploader: UPLOADER_RESTIC.to_string(),
            snapshot_id: String::new(),
            bytes: 0,
            files: 0,
            duration_ms,
            phase: PodVolumePhase::Completed,
            message: String::new(),
        };
        match result {
            Ok(done) => {
                record.snapshot_id = done.snapshot_id;
                record.bytes = done.bytes;
                record.files = done.files;
                one.log.push(format!(
                    "backed up the files of {} (claim {}/{}): snapshot {}, {} bytes, {} files",
                    mount, claim.ns, claim.name, record.snapshot_id, record.bytes, record.files
                ));
            }
            Err(e) => {
                record.phase = PodVolumePhase::Failed;
                record.message = e.to_string();
                one.error = Some(Issue::about(
                    subject,
                    format!(
                        "{HBR_PARTIALLY_COMPLETED}: the files of volume {} in pod {}/{} on node {} were not backed up: {e}",
                        claim.pv_name, mount.pod_namespace, mount.pod_name, mount.node
                    ),
                ));
            }
        }
        one.record = Some(record);
        one
    }

    /// A scheduled pod of `ns` that mounts claim `name`, a Running one first.
    pub(super) async fn find_mount(
        &self,
        ns: &str,
        name: &str,
        pv_name: &str,
    ) -> Result<Option<MountedVolume>, ClusterError> {
        let mut best: Option<(bool, MountedVolume)> = None;
        let gvr = pods();
        let mut list = self
            .cluster
            .list(&gvr, Some(ns), None, self.options.page_size);
        while let Some(pod) = list.next().await {
            let pod = pod?;
            let Some(node) = pod
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
            else {
                continue;
            };
            if pod.label(VOLUME_POD_LABEL).is_some() {
                continue;
            }
            let Some(Value::Array(volumes)) = pod.pointer("/spec/volumes") else {
                continue;
            };
            let Some(volume) = volumes.iter().find(|v| {
                v.pointer("/persistentVolumeClaim/claimName")
                    .and_then(Value::as_str)
                    == Some(name)
            }) else {
                continue;
            };
            let running = pod.pointer("/status/phase").and_then(Value::as_str) == Some("Running");
            let mount = MountedVolume {
                node: node.to_string(),
                pod_namespace: ns.to_string(),
                pod_name: pod.name().to_string(),
                pod_uid: pod
                    .pointer("/metadata/uid")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                pod_volume: volume
                    .pointer("/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                volume: pv_name.to_string(),
            };
            if best.as_ref().is_none_or(|(r, _)| running && !r) {
                best = Some((running, mount));
            }
        }
        Ok(best.map(|(_, m)| m))
    }

    /// The nodes the node policy (C2) lets run volume jobs, most preferred first.
    async fn allowed_nodes(&self) -> Result<Vec<String>, ClusterError> {
        let gvr = GroupVersionResource::new("", "v1", "nodes");
        let mut nodes: Vec<(String, serde_json::Map<String, Value>)> = Vec::new();
        let mut list = self.cluster.list(&gvr, None, None, self.options.page_size);
        while let Some(node) = list.next().await {
            let node = node?;
            nodes.push((
                node.name().to_string(),
                node.labels().cloned().unwrap_or_default(),
            ));
        }
        let policy = self.options.config.application_backup.node_schedule_policy;
        Ok(
            eligible_nodes(policy, nodes.iter().map(|(n, l)| (n.as_str(), l)))
                .into_iter()
                .map(str::to_string)
                .collect(),
        )
    }

    /// Creates a short-lived pod of `job` in `ns` mounting claim `name` (read-only when
    /// `read_only`) on a node the node policy allows; returns where the volume is.
    pub(super) async fn volume_pod(
        &self,
        job: &str,
        ns: &str,
        name: &str,
        pv_name: &str,
        read_only: bool,
    ) -> Result<MountedVolume, String> {
        let nodes = self
            .allowed_nodes()
            .await
            .map_err(|e| format!("listing the nodes failed: {e}"))?;
        let Some(node) = nodes.first() else {
            return Err(format!(
                "no node may run volume jobs under the node policy `{}`",
                self.options
                    .config
                    .application_backup
                    .node_schedule_policy
                    .as_str()
            ));
        };
        let pod_name = format!("csdr-volume-{}", short_hash(&format!("{job}/{ns}/{name}")));
        let label: String = job
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .take(63)
            .collect();
        let pod = KubeObject::new(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name, "namespace": ns,
                         "labels": {VOLUME_POD_LABEL: label.trim_end_matches(['-', '.'])}},
            "spec": {
                "nodeName": node,
                "restartPolicy": "Never",
                "containers": [{"name": "hold", "image": "registry.k8s.io/pause:3.9",
                                "volumeMounts": [{"name": "data", "mountPath": "/data",
                                                  "readOnly": read_only}]}],
                "volumes": [{"name": "data",
                             "persistentVolumeClaim": {"claimName": name, "readOnly": read_only}}],
            },
        }))
        .map_err(|e| e.to_string())?;
        let created = match self.cluster.create(&pods(), &pod).await {
            Ok(created) => created,
            Err(e) => return Err(format!("creating pod {ns}/{pod_name} failed: {e}")),
        };
        let mut uid = created
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if uid.is_empty()
            && let Ok(Some(again)) = self.cluster.get(&pods(), Some(ns), &pod_name).await
        {
            uid = again
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
        }
        let mount = MountedVolume {
            node: node.clone(),
            pod_namespace: ns.to_string(),
            pod_name: pod_name.clone(),
            pod_uid: uid,
            pod_volume: "data".into(),
            volume: pv_name.to_string(),
        };
        if mount.pod_uid.is_empty() {
            let mut ignored = Vec::new();
            self.remove_volume_pod(&mount, &mut ignored).await;
            return Err(format!("pod {ns}/{pod_name} has no uid"));
        }
        Ok(mount)
    }

    /// Deletes a pod [`Engine::volume_pod`] made; a failure is a warning (GC removes it).
    pub(super) async fn remove_volume_pod(&self, mount: &MountedVolume, warnings: &mut Vec<Issue>) {
        match self
            .cluster
            .delete(&pods(), Some(&mount.pod_namespace), &mount.pod_name)
            .await
        {
            Ok(()) | Err(ClusterError::NotFound { .. }) => {}
            Err(e) => warnings.push(Issue::general(format!(
                "the temporary pod {}/{} could not be deleted ({e}); GC removes pods labelled {VOLUME_POD_LABEL}",
                mount.pod_namespace, mount.pod_name
            ))),
        }
    }
}

/// What became of one claim's file-system backup.
#[derive(Default)]
struct OneVolume {
    record: Option<PodVolumeBackupRecord>,
    error: Option<Issue>,
    warnings: Vec<Issue>,
    log: Vec<String>,
}

/// The data restores of a restore (D4): per restored claim (in the target), the record of
/// its file-system backup.
#[derive(Clone, Debug, Default)]
pub(super) struct DataRestores {
    /// Target `(namespace, claim)` → the record and whether Velero wrote it.
    pub by_claim: BTreeMap<(String, String), (PodVolumeBackupRecord, bool)>,
    /// Source `(namespace, claim)` of every claim restored with its data: provisioned fresh.
    pub source_claims: std::collections::BTreeSet<(String, String)>,
    /// Volumes restored empty, and records that could not be read.
    pub warnings: Vec<Issue>,
}

impl DataRestores {
    /// The claims of `companions`' Completed file-system backups, their namespaces mapped by
    /// `map_namespace`; Velero's records find their claim through the pod in `contents`.
    pub(super) fn of_backup(
        companions: &BackupCompanions,
        contents: &crate::plan::contents::BackupContents,
        map_namespace: impl Fn(&str) -> String,
    ) -> Self {
        let mut out = DataRestores::default();
        let pods = contents.resource("", "pods");
        // The backed-up pod, read whole (a spooled index holds only its head).
        let pod_backed_up = |ns: &str, name: &str| -> Option<Result<KubeObject, String>> {
            let pods = pods?;
            let pod = pods.get(&crate::plan::contents::ObjectKey::new(Some(ns), name))?;
            contents.load(pod, pod.representative_version(pods.preferred())?)
        };
        for value in &companions.pod_volume_backups {
            let velero = value
                .pointer("/metadata/annotations")
                .and_then(Value::as_object)
                .is_none_or(|a| !a.contains_key(crate::ports::pod_volume::PVC_ANNOTATION));
            let mut record = match PodVolumeBackupRecord::from_velero_object(value) {
                Ok(r) => r,
                Err(e) => {
                    out.warnings.push(Issue::general(format!(
                        "a file-system volume backup record of the backup cannot be read and its volume is restored without data: {e}"
                    )));
                    continue;
                }
            };
            if record.phase != PodVolumePhase::Completed {
                continue;
            }
            if record.pvc_name.is_empty() {
                let pod = match pod_backed_up(&record.pod_namespace, &record.pod_name) {
                    Some(Err(e)) => {
                        out.warnings.push(Issue::general(format!(
                            "volume {} of pod {}/{} is restored without data: {e}",
                            record.pod_volume, record.pod_namespace, record.pod_name
                        )));
                        continue;
                    }
                    Some(Ok(pod)) => Some(pod),
                    None => None,
                };
                let claim = pod
                    .as_ref()
                    .and_then(|pod| pod.pointer("/spec/volumes"))
                    .and_then(Value::as_array)
                    .and_then(|volumes| {
                        volumes.iter().find(|v| {
                            v.pointer("/name").and_then(Value::as_str)
                                == Some(record.pod_volume.as_str())
                        })
                    })
                    .and_then(|v| v.pointer("/persistentVolumeClaim/claimName"))
                    .and_then(Value::as_str);
                match claim {
                    Some(claim) => {
                        record.pvc_namespace = record.pod_namespace.clone();
                        record.pvc_name = claim.to_string();
                    }
                    None => {
                        out.warnings.push(Issue::general(format!(
                            "volume {} of pod {}/{} was backed up through its files but the backup holds no pod mounting a claim as {}; it is not restored",
                            record.pod_volume, record.pod_namespace, record.pod_name, record.pod_volume
                        )));
                        continue;
                    }
                }
            }
            if record.uploader == crate::ports::pod_volume::UPLOADER_KOPIA {
                out.warnings.push(Issue::about(
                    claim_ref(&record.pvc_namespace, &record.pvc_name),
                    format!(
                        "volume {} of pod {}/{} was backed up by Velero's kopia uploader, which csdr cannot read; the claim is restored empty",
                        record.pod_volume, record.pod_namespace, record.pod_name
                    ),
                ));
                continue;
            }
            let source = (record.pvc_namespace.clone(), record.pvc_name.clone());
            let target = (map_namespace(&source.0), source.1.clone());
            out.source_claims.insert(source);
            out.by_claim.insert(target, (record, velero));
        }
        out
    }

    /// Whether a restored claim gets its data from a file-system backup.
    pub(super) fn has(&self, ns: &str, name: &str) -> bool {
        self.by_claim
            .contains_key(&(ns.to_string(), name.to_string()))
    }
}

impl Engine {
    /// Fills a restored claim from its file-system backup (D4): a short-lived pod mounts it on
    /// a node the node policy allows, the mover writes the snapshot, the pod is deleted.
    /// Returns an error naming the claim, or the log line.
    pub(super) async fn restore_claim_data(
        &self,
        restore: &str,
        ns: &str,
        name: &str,
        record: &PodVolumeBackupRecord,
        velero: bool,
    ) -> Result<String, Issue> {
        self.fill_claim(
            &format!("restore-{restore}"),
            restore,
            ns,
            name,
            record,
            velero,
        )
        .await
    }

    /// Writes a file-system backup into claim `ns/name` through a short-lived pod of `job`
    /// (its [`VOLUME_POD_LABEL`]); `restore` names the data restore to the mover. Used by
    /// restores and by StorageClass conversions ([`super::convert`]).
    pub(super) async fn fill_claim(
        &self,
        job: &str,
        restore: &str,
        ns: &str,
        name: &str,
        record: &PodVolumeBackupRecord,
        velero: bool,
    ) -> Result<String, Issue> {
        let subject = claim_ref(ns, name);
        let Some(mover) = self.pod_volume_mover.clone() else {
            return Err(Issue::about(
                subject,
                format!(
                    "its data is in file-system backup snapshot {} but the engine has no pod volume mover; the claim was restored without data",
                    record.snapshot_id
                ),
            ));
        };
        let pv_name = match self
            .cluster
            .get(&super::snapshots::pvcs(), Some(ns), name)
            .await
        {
            Ok(Some(claim)) => claim
                .pointer("/spec/volumeName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            Ok(None) => String::new(),
            Err(e) => return Err(Issue::about(subject, format!("reading the claim: {e}"))),
        };
        let mount = self
            .volume_pod(job, ns, name, &pv_name, false)
            .await
            .map_err(|why| {
                Issue::about(subject.clone(), format!("its data was not restored: {why}"))
            })?;
        let request = crate::ports::pod_volume::PodVolumeRestoreRequest {
            restore_name: restore.to_string(),
            backup_name: record.backup_name.clone(),
            pvc_namespace: ns.to_string(),
            pvc_name: name.to_string(),
            mount: mount.clone(),
            repository: record.repository.clone(),
            snapshot_id: record.snapshot_id.clone(),
            uploader: record.uploader.clone(),
            velero,
        };
        let limit = self.options.config.application_backup.backup_timeout;
        let result = within(&*self.timer, limit, mover.restore(&request))
            .await
            .unwrap_or_else(|_| {
                Err(PodVolumeError::Timeout {
                    volume: mount.to_string(),
                    seconds: limit.as_secs(),
                })
            });
        let mut warnings = Vec::new();
        self.remove_volume_pod(&mount, &mut warnings).await;
        match result {
            Ok(done) => Ok(format!(
                "restored the files of claim {ns}/{name} from snapshot {}: {} bytes, {} files{}",
                record.snapshot_id,
                done.bytes,
                done.files,
                warnings
                    .iter()
                    .map(|w| format!("; {}", w.message))
                    .collect::<String>()
            )),
            Err(e) => Err(Issue::about(
                subject,
                format!(
                    "its data was not restored from snapshot {} through pod {}/{} on node {}: {e}",
                    record.snapshot_id, mount.pod_namespace, mount.pod_name, mount.node
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::contents::BackupContents;

    fn velero_record(pod: &str, volume: &str, uploader: &str) -> Value {
        json!({
            "apiVersion": "velero.io/v1", "kind": "PodVolumeBackup",
            "metadata": {"name": format!("b1-{volume}"), "namespace": "velero",
                         "labels": {"velero.io/backup-name": "b1"}},
            "spec": {"node": "n1", "pod": {"kind": "Pod", "namespace": "shop", "name": pod, "uid": "u1"},
                     "volume": volume, "repoIdentifier": "s3:http://minio:9000/velero/restic/shop",
                     "uploaderType": uploader},
            "status": {"phase": "Completed", "snapshotID": format!("snap-{volume}"),
                       "progress": {"totalBytes": 10, "bytesDone": 10}},
        })
    }

    fn contents() -> BackupContents {
        let mut contents = BackupContents::new();
        let pod = KubeObject::new(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-0", "namespace": "shop"},
            "spec": {"containers": [{"name": "web", "image": "nginx"}],
                     "volumes": [{"name": "files", "persistentVolumeClaim": {"claimName": "uploads"}},
                                 {"name": "cache", "persistentVolumeClaim": {"claimName": "cache"}}]}}))
        .unwrap();
        contents.add_plain("pods", pod).unwrap();
        contents
    }

    #[test]
    fn velero_records_find_their_claim_through_the_backed_up_pod() {
        let companions = BackupCompanions {
            pod_volume_backups: vec![velero_record("web-0", "files", "restic")],
            ..BackupCompanions::default()
        };
        let data = DataRestores::of_backup(&companions, &contents(), |ns| format!("{ns}-2"));
        let (record, velero) = &data.by_claim[&("shop-2".to_string(), "uploads".to_string())];
        assert!(*velero);
        assert_eq!(record.snapshot_id, "snap-files");
        assert_eq!(record.repository, "shop");
        assert!(
            data.source_claims
                .contains(&("shop".into(), "uploads".into()))
        );
        assert!(data.warnings.is_empty());
    }

    #[test]
    fn kopia_records_and_unknown_pods_are_warnings_naming_the_volume() {
        let companions = BackupCompanions {
            pod_volume_backups: vec![
                velero_record("web-0", "cache", "kopia"),
                velero_record("gone-0", "files", "restic"),
            ],
            ..BackupCompanions::default()
        };
        let data = DataRestores::of_backup(&companions, &contents(), str::to_string);
        assert!(data.by_claim.is_empty());
        assert!(data.source_claims.is_empty());
        let warnings: Vec<String> = data.warnings.iter().map(Issue::to_string).collect();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("shop/cache") && warnings[0].contains("kopia"));
        assert!(warnings[1].contains("gone-0") && warnings[1].contains("files"));
    }

    #[test]
    fn csdr_records_are_not_velero_and_failed_ones_restore_nothing() {
        let mut record =
            PodVolumeBackupRecord::from_velero_object(&velero_record("web-0", "files", "restic"))
                .unwrap();
        record.pvc_namespace = "shop".into();
        record.pvc_name = "uploads".into();
        let mut failed = record.clone();
        failed.pvc_name = "cache".into();
        failed.pod_volume = "cache".into();
        failed.phase = PodVolumePhase::Failed;
        let companions = BackupCompanions {
            pod_volume_backups: vec![record.to_velero_object(), failed.to_velero_object()],
            ..BackupCompanions::default()
        };
        assert_eq!(recorded_pod_volume_backups(&companions).unwrap().len(), 2);
        let data = DataRestores::of_backup(&companions, &BackupContents::new(), str::to_string);
        assert_eq!(data.by_claim.len(), 1);
        let (_, velero) = &data.by_claim[&("shop".to_string(), "uploads".to_string())];
        assert!(!*velero);
    }
}
