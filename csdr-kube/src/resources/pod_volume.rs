//! `PodVolumeBackup` and `PodVolumeRestore` (D3, K4): one volume's file copy handed by the
//! controller to the node agent of the node that mounts the volume.
//!
//! The controller's [`NodeAgentMover`](crate::controller::node_agent::NodeAgentMover)
//! creates one per volume (spec = the core's
//! [`PodVolumeBackupRequest`] / [`PodVolumeRestoreRequest`]), labelled with the node
//! ([`NODE_LABEL`]) and the backup ([`BACKUP_LABEL`]); the node agent of that node
//! ([`run_node_agent`](crate::controller::node_agent::run_node_agent)) sets the status
//! `InProgress`, copies the files, and sets `Completed` (snapshot id, bytes, files) or
//! `Failed` (message) through the `/status` subresource.
//!
//! A job is owned (`metadata.ownerReferences`, `controller: false`, `blockOwnerDeletion:
//! false`) by the ApplicationBackup / ApplicationRestore of its `backupName` /
//! `restoreName` when that object exists, so the garbage collector deletes the jobs with
//! it; a job deleted while its agent runs it is cancelled there, and the controller's wait
//! for it fails naming the job.

use std::collections::BTreeMap;

use csdr_core::ports::pod_volume::{
    MountedVolume, PodVolumeBackupRequest, PodVolumeError, PodVolumeRestoreRequest,
};
use jiff::Timestamp;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The label naming the node a volume job runs on (the node agent selects by it).
pub const NODE_LABEL: &str = "csdr.alibabacloud.com/node";
/// The label naming the backup (or, on a PodVolumeRestore, the restore) a volume job is for.
pub const BACKUP_LABEL: &str = "csdr.alibabacloud.com/backup";

/// The pod a volume is read or written through.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodReference {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub name: String,
    /// The pod's uid (the kubelet's folder name for it).
    pub uid: String,
}

/// One volume to back up through its files: the core's [`PodVolumeBackupRequest`].
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "csdr.alibabacloud.com",
    version = "v1beta1",
    kind = "PodVolumeBackup",
    namespaced,
    status = "PodVolumeStatus",
    shortname = "pvb",
    printcolumn = r#"{"name":"Node","type":"string","jsonPath":".spec.node"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Claim","type":"string","jsonPath":".spec.pvcName"}"#,
    printcolumn = r#"{"name":"Snapshot","type":"string","jsonPath":".status.snapshotID"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct PodVolumeBackupSpec {
    /// The node whose agent copies the files.
    pub node: String,
    /// The BackupLocation whose vault holds the repository; the agent opens it (empty: the
    /// agent's only vault).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub backup_location: String,
    /// The backup it belongs to.
    pub backup_name: String,
    /// The backup's upload attempt.
    pub attempt: String,
    /// The claim's namespace.
    pub pvc_namespace: String,
    /// The claim's name.
    pub pvc_name: String,
    /// The pod the volume is mounted in.
    pub pod: PodReference,
    /// The volume's name in the pod spec.
    pub volume: String,
    /// The PersistentVolume's name (the kubelet's folder name for the volume).
    pub persistent_volume: String,
    /// The repository in the vault (`restic/<repository>`).
    pub repository: String,
    /// Tags stored on the repository snapshot.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// One volume to fill from a repository snapshot: the core's [`PodVolumeRestoreRequest`].
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "csdr.alibabacloud.com",
    version = "v1beta1",
    kind = "PodVolumeRestore",
    namespaced,
    status = "PodVolumeStatus",
    shortname = "pvr",
    printcolumn = r#"{"name":"Node","type":"string","jsonPath":".spec.node"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Claim","type":"string","jsonPath":".spec.pvcName"}"#,
    printcolumn = r#"{"name":"Snapshot","type":"string","jsonPath":".spec.snapshotID"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct PodVolumeRestoreSpec {
    /// The node whose agent writes the files.
    pub node: String,
    /// The BackupLocation whose vault holds the repository; the agent opens it (empty: the
    /// agent's only vault).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub backup_location: String,
    /// The restore it belongs to.
    pub restore_name: String,
    /// The backup the data comes from.
    pub backup_name: String,
    /// The restored claim's namespace.
    pub pvc_namespace: String,
    /// The restored claim's name.
    pub pvc_name: String,
    /// The pod the new volume is mounted in.
    pub pod: PodReference,
    /// The volume's name in the pod spec.
    pub volume: String,
    /// The PersistentVolume's name (the kubelet's folder name for the volume).
    pub persistent_volume: String,
    /// The repository the snapshot is in (`restic/<repository>`).
    pub repository: String,
    /// The repository snapshot.
    #[serde(rename = "snapshotID")]
    pub snapshot_id: String,
    /// Who wrote the snapshot (`restic`).
    pub uploader: String,
    /// Whether the backup is Velero's (its repository opens with Velero's fixed password).
    #[serde(default)]
    pub velero: bool,
}

/// Where a volume job stands.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum PodVolumeJobPhase {
    /// Created, waiting for its node's agent.
    New,
    /// The agent is copying the files.
    InProgress,
    /// Done: for a backup, `snapshotID` names the snapshot.
    Completed,
    /// The agent failed; `message` says why.
    Failed,
}

impl PodVolumeJobPhase {
    /// Whether the job is over.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            PodVolumeJobPhase::Completed | PodVolumeJobPhase::Failed
        )
    }
}

/// What the node agent reports about a volume job.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodVolumeStatus {
    /// New, InProgress, Completed or Failed (absent: New).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PodVolumeJobPhase>,
    /// The repository snapshot written (backups).
    #[serde(
        default,
        rename = "snapshotID",
        skip_serializing_if = "Option::is_none"
    )]
    pub snapshot_id: Option<String>,
    /// Bytes copied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Files copied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<u64>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What kind of failure (`SourceNotExist`, `NoAgent`, `Repository`, `Timeout`), so the
    /// controller returns the same error the agent's mover did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    /// With `errorKind: Timeout`: the limit, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// The node agent that ran it (its pod), for messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// When the agent started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub start_timestamp: Option<Timestamp>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub completion_timestamp: Option<Timestamp>,
}

impl PodVolumeStatus {
    /// The status of a failed job, keeping the error's kind.
    pub fn failed(error: &PodVolumeError) -> PodVolumeStatus {
        let (kind, message, seconds) = match error {
            PodVolumeError::SourceNotExist { reason, .. } => {
                ("SourceNotExist", reason.clone(), None)
            }
            PodVolumeError::NoAgent { reason, .. } => ("NoAgent", reason.clone(), None),
            PodVolumeError::Repository { reason, .. } => ("Repository", reason.clone(), None),
            PodVolumeError::Timeout { seconds, .. } => (
                "Timeout",
                format!("the volume job did not finish within {seconds} s"),
                Some(*seconds),
            ),
            other => ("Repository", other.to_string(), None),
        };
        PodVolumeStatus {
            phase: Some(PodVolumeJobPhase::Failed),
            message: Some(message),
            error_kind: Some(kind.into()),
            timeout_seconds: seconds,
            completion_timestamp: Some(Timestamp::now()),
            ..PodVolumeStatus::default()
        }
    }

    /// The error a Failed status reports, for `volume`.
    pub fn error(&self, volume: &str) -> PodVolumeError {
        let volume = volume.to_string();
        let reason = self
            .message
            .clone()
            .unwrap_or_else(|| "the node agent failed without a message".into());
        match self.error_kind.as_deref() {
            Some("SourceNotExist") => PodVolumeError::SourceNotExist { volume, reason },
            Some("NoAgent") => PodVolumeError::NoAgent { volume, reason },
            Some("Timeout") => PodVolumeError::Timeout {
                volume,
                seconds: self.timeout_seconds.unwrap_or_default(),
            },
            _ => PodVolumeError::Repository { volume, reason },
        }
    }
}

impl PodVolumeBackupSpec {
    /// The resource's spec of a request.
    pub fn from_request(request: &PodVolumeBackupRequest) -> Self {
        let m = &request.mount;
        PodVolumeBackupSpec {
            node: m.node.clone(),
            backup_location: String::new(),
            backup_name: request.backup_name.clone(),
            attempt: request.attempt.clone(),
            pvc_namespace: request.pvc_namespace.clone(),
            pvc_name: request.pvc_name.clone(),
            pod: PodReference {
                namespace: m.pod_namespace.clone(),
                name: m.pod_name.clone(),
                uid: m.pod_uid.clone(),
            },
            volume: m.pod_volume.clone(),
            persistent_volume: m.volume.clone(),
            repository: request.repository.clone(),
            tags: request.tags.clone(),
        }
    }

    /// The request the spec stands for.
    pub fn to_request(&self) -> PodVolumeBackupRequest {
        PodVolumeBackupRequest {
            backup_name: self.backup_name.clone(),
            attempt: self.attempt.clone(),
            pvc_namespace: self.pvc_namespace.clone(),
            pvc_name: self.pvc_name.clone(),
            mount: mount(&self.node, &self.pod, &self.volume, &self.persistent_volume),
            repository: self.repository.clone(),
            tags: self.tags.clone(),
        }
    }
}

impl PodVolumeRestoreSpec {
    /// The resource's spec of a request.
    pub fn from_request(request: &PodVolumeRestoreRequest) -> Self {
        let m = &request.mount;
        PodVolumeRestoreSpec {
            node: m.node.clone(),
            backup_location: String::new(),
            restore_name: request.restore_name.clone(),
            backup_name: request.backup_name.clone(),
            pvc_namespace: request.pvc_namespace.clone(),
            pvc_name: request.pvc_name.clone(),
            pod: PodReference {
                namespace: m.pod_namespace.clone(),
                name: m.pod_name.clone(),
                uid: m.pod_uid.clone(),
            },
            volume: m.pod_volume.clone(),
            persistent_volume: m.volume.clone(),
            repository: request.repository.clone(),
            snapshot_id: request.snapshot_id.clone(),
            uploader: request.uploader.clone(),
            velero: request.velero,
        }
    }

    /// The request the spec stands for.
    pub fn to_request(&self) -> PodVolumeRestoreRequest {
        PodVolumeRestoreRequest {
            restore_name: self.restore_name.clone(),
            backup_name: self.backup_name.clone(),
            pvc_namespace: self.pvc_namespace.clone(),
            pvc_name: self.pvc_name.clone(),
            mount: mount(&self.node, &self.pod, &self.volume, &self.persistent_volume),
            repository: self.repository.clone(),
            snapshot_id: self.snapshot_id.clone(),
            uploader: self.uploader.clone(),
            velero: self.velero,
        }
    }
}

fn mount(node: &str, pod: &PodReference, volume: &str, pv: &str) -> MountedVolume {
    MountedVolume {
        node: node.to_string(),
        pod_namespace: pod.namespace.clone(),
        pod_name: pod.name.clone(),
        pod_uid: pod.uid.clone(),
        pod_volume: volume.to_string(),
        volume: pv.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount() -> MountedVolume {
        MountedVolume {
            node: "node-a".into(),
            pod_namespace: "shop".into(),
            pod_name: "web-0".into(),
            pod_uid: "u1".into(),
            pod_volume: "data".into(),
            volume: "pv-1".into(),
        }
    }

    #[test]
    fn requests_round_trip_through_the_specs() {
        let backup = PodVolumeBackupRequest {
            backup_name: "b".into(),
            attempt: "a1".into(),
            pvc_namespace: "shop".into(),
            pvc_name: "data".into(),
            mount: mount(),
            repository: "shop".into(),
            tags: BTreeMap::from([("backup".into(), "b".into())]),
        };
        assert_eq!(
            PodVolumeBackupSpec::from_request(&backup).to_request(),
            backup
        );
        let restore = PodVolumeRestoreRequest {
            restore_name: "r".into(),
            backup_name: "b".into(),
            pvc_namespace: "shop".into(),
            pvc_name: "data".into(),
            mount: mount(),
            repository: "shop".into(),
            snapshot_id: "s1".into(),
            uploader: "restic".into(),
            velero: true,
        };
        let spec = PodVolumeRestoreSpec::from_request(&restore);
        assert_eq!(serde_json::to_value(&spec).unwrap()["snapshotID"], "s1");
        assert_eq!(spec.to_request(), restore);
    }

    #[test]
    fn failed_statuses_give_back_the_agents_error() {
        for error in [
            PodVolumeError::SourceNotExist {
                volume: "v".into(),
                reason: "no folder /var/lib/kubelet/pods/u1".into(),
            },
            PodVolumeError::Repository {
                volume: "v".into(),
                reason: "wrong password".into(),
            },
            PodVolumeError::Timeout {
                volume: "v".into(),
                seconds: 60,
            },
            PodVolumeError::NoAgent {
                volume: "v".into(),
                reason: "restarted".into(),
            },
        ] {
            let status = PodVolumeStatus::failed(&error);
            assert_eq!(status.phase, Some(PodVolumeJobPhase::Failed));
            assert_eq!(status.error("v"), error);
        }
    }
}
