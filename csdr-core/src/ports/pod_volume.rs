//! The `PodVolumeMover` port (D1, D3, D4): a volume's files copied to and from the vault's
//! volume repository by whatever runs on the node that mounts the volume.
//!
//! The engine decides which volumes get a file-system backup (the volume policy, D2) and which
//! pod and node see each one; a mover does the copying. `csdr-storage` implements it in
//! process over a kubelet folder (the node agent and the simulated kubelet use that one), and
//! `csdr-kube` implements it by handing the work to the node agent of the volume's node as a
//! `PodVolumeBackup` / `PodVolumeRestore` resource. The engine never reads a volume's files
//! itself.
//!
//! Each volume's result is a [`PodVolumeBackupRecord`], stored with its backup in Velero's
//! `<name>-podvolumebackups.json.gz` as Velero's own `velero.io/v1` `PodVolumeBackup`
//! objects ([`PodVolumeBackupRecord::to_velero_object`]), so a backup Velero wrote with
//! restic pod-volume data reads back the same way ([`PodVolumeBackupRecord::from_velero_object`]).
//!
//! ```
//! use csdr_core::ports::pod_volume::{PodVolumeBackupRecord, PodVolumePhase};
//!
//! let record = PodVolumeBackupRecord {
//!     backup_name: "nightly".into(),
//!     pvc_namespace: "shop".into(),
//!     pvc_name: "uploads".into(),
//!     pv_name: "pv-nas-1".into(),
//!     pod_namespace: "shop".into(),
//!     pod_name: "web-0".into(),
//!     pod_uid: "8c1f".into(),
//!     pod_volume: "uploads".into(),
//!     node: "node-a".into(),
//!     repository: "shop".into(),
//!     uploader: "restic".into(),
//!     snapshot_id: "3f2a".into(),
//!     bytes: 2048,
//!     files: 3,
//!     duration_ms: 120,
//!     phase: PodVolumePhase::Completed,
//!     message: String::new(),
//! };
//! let velero = record.to_velero_object();
//! assert_eq!(velero["kind"], "PodVolumeBackup");
//! assert_eq!(velero["status"]["snapshotID"], "3f2a");
//! assert_eq!(PodVolumeBackupRecord::from_velero_object(&velero)?, record);
//! # Ok::<(), csdr_core::ports::pod_volume::PodVolumeError>(())
//! ```

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The uploader csdr writes with: the restic repository format (D1).
pub const UPLOADER_RESTIC: &str = "restic";
/// Velero's newer uploader, whose repositories csdr cannot read.
pub const UPLOADER_KOPIA: &str = "kopia";

/// The annotation on a recorded `PodVolumeBackup` naming the claim (`namespace/name`).
pub const PVC_ANNOTATION: &str = "csdr.io/pvc";
/// The annotation on a recorded `PodVolumeBackup` naming the PersistentVolume.
pub const PV_ANNOTATION: &str = "csdr.io/pv";
/// The annotation on a recorded `PodVolumeBackup` holding the number of files.
pub const FILES_ANNOTATION: &str = "csdr.io/files";
/// The annotation on a recorded `PodVolumeBackup` holding the duration in milliseconds.
pub const DURATION_ANNOTATION: &str = "csdr.io/duration-ms";
/// Velero's label naming the backup a `PodVolumeBackup` belongs to.
pub const VELERO_BACKUP_LABEL: &str = "velero.io/backup-name";

/// Where a volume's files can be read or written: a pod that mounts it and the node it runs
/// on. The files are at `<kubelet root>/pods/<pod_uid>/volumes/<plugin>/<volume>/mount` on
/// that node.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MountedVolume {
    /// The node the pod runs on.
    pub node: String,
    /// The pod's namespace.
    pub pod_namespace: String,
    /// The pod's name.
    pub pod_name: String,
    /// The pod's uid (the kubelet's folder name for it).
    pub pod_uid: String,
    /// The volume's name in the pod spec.
    pub pod_volume: String,
    /// The PersistentVolume's name (the kubelet's folder name for the volume).
    pub volume: String,
}

impl std::fmt::Display for MountedVolume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "volume {} of pod {}/{} on node {}",
            self.volume, self.pod_namespace, self.pod_name, self.node
        )
    }
}

/// One volume to back up through its files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodVolumeBackupRequest {
    /// The backup it belongs to.
    pub backup_name: String,
    /// The backup's upload attempt.
    pub attempt: String,
    /// The claim's namespace.
    pub pvc_namespace: String,
    /// The claim's name.
    pub pvc_name: String,
    /// Where its files are.
    pub mount: MountedVolume,
    /// The repository in the vault (`restic/<repository>`): the claim's namespace, as Velero
    /// keeps one per namespace.
    pub repository: String,
    /// Tags stored on the repository snapshot (`key=value`).
    pub tags: BTreeMap<String, String>,
}

/// One volume to fill from a repository snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodVolumeRestoreRequest {
    /// The restore it belongs to.
    pub restore_name: String,
    /// The backup the data comes from.
    pub backup_name: String,
    /// The restored claim's namespace.
    pub pvc_namespace: String,
    /// The restored claim's name.
    pub pvc_name: String,
    /// Where the new volume is mounted.
    pub mount: MountedVolume,
    /// The repository the snapshot is in (`restic/<repository>`).
    pub repository: String,
    /// The repository snapshot.
    pub snapshot_id: String,
    /// Who wrote it: [`UPLOADER_RESTIC`] for csdr and Velero's restic; Velero's fixed
    /// password opens the repository when `velero` is set.
    pub uploader: String,
    /// Whether the backup is Velero's (its repository is opened with Velero's fixed password).
    pub velero: bool,
}

/// What a mover did with a volume it backed up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodVolumeBackupOutcome {
    /// The repository snapshot's id.
    pub snapshot_id: String,
    /// Bytes of file contents in the snapshot.
    pub bytes: u64,
    /// Files in the snapshot.
    pub files: u64,
}

/// What a mover did with a volume it restored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodVolumeRestoreOutcome {
    /// Bytes written.
    pub bytes: u64,
    /// Files written.
    pub files: u64,
}

/// Whether a volume's data was backed up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PodVolumePhase {
    /// The snapshot is in the repository.
    Completed,
    /// It failed; the record's message says why.
    Failed,
}

impl PodVolumePhase {
    /// Velero's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            PodVolumePhase::Completed => "Completed",
            PodVolumePhase::Failed => "Failed",
        }
    }
}

/// One volume's file-system backup as its backup records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodVolumeBackupRecord {
    /// The backup.
    pub backup_name: String,
    /// The claim's namespace (empty for a Velero record whose claim is unknown).
    pub pvc_namespace: String,
    /// The claim's name (empty for a Velero record whose claim is unknown).
    pub pvc_name: String,
    /// The PersistentVolume's name (empty when unknown).
    pub pv_name: String,
    /// The pod it was read through: namespace.
    pub pod_namespace: String,
    /// The pod's name.
    pub pod_name: String,
    /// The pod's uid.
    pub pod_uid: String,
    /// The volume's name in the pod spec.
    pub pod_volume: String,
    /// The node it was read on.
    pub node: String,
    /// The repository (`restic/<repository>`).
    pub repository: String,
    /// [`UPLOADER_RESTIC`] or [`UPLOADER_KOPIA`].
    pub uploader: String,
    /// The repository snapshot (empty when it failed).
    pub snapshot_id: String,
    /// Bytes of file contents.
    pub bytes: u64,
    /// Files.
    pub files: u64,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// Whether it worked.
    pub phase: PodVolumePhase,
    /// Why it failed (empty when it worked).
    pub message: String,
}

fn text(value: &Value, pointer: &str) -> String {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn number(value: &Value, pointer: &str) -> u64 {
    match value.pointer(pointer) {
        Some(Value::Number(n)) => n.as_u64().unwrap_or_default(),
        Some(Value::String(s)) => s.parse().unwrap_or_default(),
        _ => 0,
    }
}

impl PodVolumeBackupRecord {
    /// The claim as `namespace/name`.
    pub fn claim(&self) -> String {
        format!("{}/{}", self.pvc_namespace, self.pvc_name)
    }

    /// The record as Velero's `velero.io/v1` `PodVolumeBackup` object, csdr's extra facts
    /// (claim, volume, files, duration) as annotations.
    pub fn to_velero_object(&self) -> Value {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("{}/{}", self.pod_uid, self.pod_volume));
        let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        let name = format!("{}-{hash}", self.backup_name);
        json!({
            "apiVersion": "velero.io/v1",
            "kind": "PodVolumeBackup",
            "metadata": {
                "name": name,
                "namespace": "velero",
                "labels": {VELERO_BACKUP_LABEL: self.backup_name},
                "annotations": {
                    PVC_ANNOTATION: self.claim(),
                    PV_ANNOTATION: self.pv_name,
                    FILES_ANNOTATION: self.files.to_string(),
                    DURATION_ANNOTATION: self.duration_ms.to_string(),
                },
            },
            "spec": {
                "node": self.node,
                "pod": {"kind": "Pod", "namespace": self.pod_namespace, "name": self.pod_name,
                        "uid": self.pod_uid},
                "volume": self.pod_volume,
                "repoIdentifier": self.repository,
                "uploaderType": self.uploader,
                "tags": {"backup": self.backup_name, "pod": self.pod_name,
                         "pod-uid": self.pod_uid, "volume": self.pod_volume,
                         "ns": self.pod_namespace},
            },
            "status": {
                "phase": self.phase.as_str(),
                "snapshotID": self.snapshot_id,
                "message": self.message,
                "progress": {"totalBytes": self.bytes, "bytesDone": self.bytes},
            },
        })
    }

    /// Reads a `PodVolumeBackup` object as csdr or Velero wrote it. Velero's records carry
    /// no claim: its fields stay empty and the restore finds the claim through the pod in
    /// the backup. `repoIdentifier` may be a full restic URL (Velero's
    /// `s3:…/restic/<namespace>`): its last path segment is the repository.
    pub fn from_velero_object(value: &Value) -> Result<Self, PodVolumeError> {
        let bad = |why: &str| PodVolumeError::Record {
            reason: format!(
                "PodVolumeBackup {}: {why}",
                text(value, "/metadata/name").if_empty("(unnamed)")
            ),
        };
        if text(value, "/kind") != "PodVolumeBackup" {
            return Err(bad("kind is not PodVolumeBackup"));
        }
        let phase = match text(value, "/status/phase").as_str() {
            "Completed" => PodVolumePhase::Completed,
            _ => PodVolumePhase::Failed,
        };
        let claim = text(
            value,
            &format!("/metadata/annotations/{}", escape(PVC_ANNOTATION)),
        );
        let (pvc_namespace, pvc_name) = claim
            .split_once('/')
            .map(|(ns, n)| (ns.to_string(), n.to_string()))
            .unwrap_or_default();
        let repo = text(value, "/spec/repoIdentifier");
        let repository = repo
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let backup_name = text(
            value,
            &format!("/metadata/labels/{}", escape(VELERO_BACKUP_LABEL)),
        )
        .if_empty(&text(value, "/spec/tags/backup"));
        let record = PodVolumeBackupRecord {
            backup_name,
            pvc_namespace,
            pvc_name,
            pv_name: text(
                value,
                &format!("/metadata/annotations/{}", escape(PV_ANNOTATION)),
            ),
            pod_namespace: text(value, "/spec/pod/namespace"),
            pod_name: text(value, "/spec/pod/name"),
            pod_uid: text(value, "/spec/pod/uid"),
            pod_volume: text(value, "/spec/volume"),
            node: text(value, "/spec/node"),
            repository,
            uploader: text(value, "/spec/uploaderType").if_empty(UPLOADER_RESTIC),
            snapshot_id: text(value, "/status/snapshotID"),
            bytes: number(value, "/status/progress/totalBytes"),
            files: number(
                value,
                &format!("/metadata/annotations/{}", escape(FILES_ANNOTATION)),
            ),
            duration_ms: number(
                value,
                &format!("/metadata/annotations/{}", escape(DURATION_ANNOTATION)),
            ),
            phase,
            message: text(value, "/status/message"),
        };
        if record.pod_volume.is_empty() || record.pod_name.is_empty() {
            return Err(bad("spec.pod.name and spec.volume are required"));
        }
        if record.phase == PodVolumePhase::Completed && record.snapshot_id.is_empty() {
            return Err(bad("Completed without status.snapshotID"));
        }
        Ok(record)
    }
}

/// JSON-pointer escaping of one key.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

trait IfEmpty {
    fn if_empty(self, other: &str) -> String;
}

impl IfEmpty for String {
    fn if_empty(self, other: &str) -> String {
        if self.is_empty() {
            other.to_string()
        } else {
            self
        }
    }
}

/// Why a volume's files could not be copied. Every message names the volume.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PodVolumeError {
    /// The volume's files are not where the kubelet keeps them (the FAQ's `SOURCE_NOT_EXIST`).
    #[error("{volume}: SOURCE_NOT_EXIST: {reason}")]
    SourceNotExist {
        /// The volume.
        volume: String,
        /// What was looked for and not found.
        reason: String,
    },
    /// The node may not run volume jobs (the node policy C2) or has no node agent.
    #[error("{volume}: {reason}")]
    NoAgent {
        /// The volume.
        volume: String,
        /// Why no agent can take it.
        reason: String,
    },
    /// The repository refused the work (wrong key, damaged data, unreadable format).
    #[error("{volume}: {reason}")]
    Repository {
        /// The volume.
        volume: String,
        /// What the repository said.
        reason: String,
    },
    /// The volume job was cancelled: its object was deleted (with its backup or restore, or
    /// by hand) before it finished.
    #[error("{volume}: {reason}")]
    Cancelled {
        /// The volume.
        volume: String,
        /// Which job went, and how.
        reason: String,
    },
    /// The work did not finish in time.
    #[error("{volume}: the volume job did not finish within {seconds} s")]
    Timeout {
        /// The volume.
        volume: String,
        /// The limit.
        seconds: u64,
    },
    /// A stored record could not be read.
    #[error("{reason}")]
    Record {
        /// What is wrong with it.
        reason: String,
    },
}

/// Copies volumes' files between the node that mounts them and the vault's volume repository.
/// One volume job per node runs at a time (the FAQ); an implementation queues the rest.
#[async_trait]
pub trait PodVolumeMover: Send + Sync + std::fmt::Debug {
    /// Backs up the files of `request.mount` into the repository, tagged with the request's
    /// tags, and returns the snapshot.
    async fn back_up(
        &self,
        request: &PodVolumeBackupRequest,
    ) -> Result<PodVolumeBackupOutcome, PodVolumeError>;

    /// Writes the snapshot's files into `request.mount`, which must be empty (a fresh
    /// volume's `lost+found` aside); a failed restore leaves it as it was.
    async fn restore(
        &self,
        request: &PodVolumeRestoreRequest,
    ) -> Result<PodVolumeRestoreOutcome, PodVolumeError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn velero_restic_records_read_without_csdr_annotations() {
        let velero = json!({
            "apiVersion": "velero.io/v1", "kind": "PodVolumeBackup",
            "metadata": {"name": "b1-x7k2p", "namespace": "velero",
                         "labels": {"velero.io/backup-name": "b1"}},
            "spec": {"node": "n1", "pod": {"kind": "Pod", "namespace": "shop", "name": "web-0", "uid": "u1"},
                     "volume": "data", "repoIdentifier": "s3:http://minio:9000/velero/restic/shop",
                     "uploaderType": "restic"},
            "status": {"phase": "Completed", "snapshotID": "abc123",
                       "progress": {"totalBytes": 10, "bytesDone": 10}},
        });
        let record = PodVolumeBackupRecord::from_velero_object(&velero).unwrap();
        assert_eq!(record.repository, "shop");
        assert_eq!(record.backup_name, "b1");
        assert_eq!(record.pvc_name, "");
        assert_eq!(record.snapshot_id, "abc123");
        assert_eq!(record.bytes, 10);
    }

    #[test]
    fn records_without_a_pod_or_a_completed_snapshot_are_refused_by_name() {
        let err = PodVolumeBackupRecord::from_velero_object(&json!({
            "kind": "PodVolumeBackup", "metadata": {"name": "b1-x"},
            "spec": {"pod": {"name": "web-0"}, "volume": "data"},
            "status": {"phase": "Completed"},
        }))
        .unwrap_err();
        assert!(err.to_string().contains("b1-x"), "{err}");
        assert!(err.to_string().contains("snapshotID"), "{err}");
        let err =
            PodVolumeBackupRecord::from_velero_object(&json!({"kind": "ConfigMap"})).unwrap_err();
        assert!(err.to_string().contains("(unnamed)"), "{err}");
    }
}
