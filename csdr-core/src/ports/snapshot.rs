//! The `VolumeSnapshotter` port (B6, R10): volume data through CSI VolumeSnapshots.
//!
//! [`CsiSnapshotter`] implements it for any [`Cluster`] that serves
//! `snapshot.storage.k8s.io/v1` (CSI snapshots are plain API objects, so one implementation
//! serves the simulated cluster and real clusters alike): it picks the VolumeSnapshotClass of
//! the PVC's CSI driver (the one the backup names for the driver, else the class labelled
//! [`CSDR_DEFAULT_CLASS_LABEL`], else the driver's default class, else its only class),
//! creates a VolumeSnapshot labelled with the backup and its attempt, waits for `readyToUse`,
//! then switches the content to `deletionPolicy: Retain` and records its identity on it (so
//! the data survives the VolumeSnapshot, its namespace and the cluster) and in the
//! [`VolumeSnapshotRecord`]. An existing VolumeSnapshot of another backup or attempt is an
//! error, never reused. [`VolumeSnapshotter::delete_snapshot`] switches the content back to
//! `Delete` and removes both; [`VolumeSnapshotter::csdr_snapshots`] finds what csdr left in a
//! cluster. To restore in another cluster it pre-provisions a VolumeSnapshotContent from the
//! handle and a VolumeSnapshot bound to it; the PVC then names the VolumeSnapshot as its
//! `dataSource`.
//!
//! ```
//! use csdr_core::ports::snapshot::{CsiSnapshotter, SnapshotError, SnapshotRequest, VolumeSnapshotter};
//! use csdr_core::object::KubeObject;
//! use csdr_core::releases::KubeRelease;
//! use csdr_core::sim::SimCluster;
//! use serde_json::json;
//!
//! # futures::executor::block_on(async {
//! // Kubernetes 1.16 predates the v1 snapshot API: the snapshotter says so.
//! let snapshotter = CsiSnapshotter::new(SimCluster::new(KubeRelease::V1_16));
//! let pvc = KubeObject::new(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
//!     "metadata": {"name": "data", "namespace": "shop"}})).unwrap();
//! let request = SnapshotRequest::new("data-b1", "diskplugin.csi.alibabacloud.com", "b1", "a1");
//! let err = snapshotter.snapshot(&pvc, &request).await.unwrap_err();
//! assert_eq!(err, SnapshotError::NotServed);
//! # });
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::cluster::{Cluster, ClusterError, WaitCondition};
use crate::object::{GroupVersionResource, KubeObject};

/// The snapshot API group and version csdr uses.
pub const SNAPSHOT_API: &str = "snapshot.storage.k8s.io/v1";

/// The label naming the backup a VolumeSnapshot (and its retained content) belongs to.
pub const BACKUP_NAME_LABEL: &str = "csdr.io/backup-name";
/// The label naming the backup's upload attempt that took the snapshot.
pub const BACKUP_ATTEMPT_LABEL: &str = "csdr.io/backup-attempt";
/// The label naming the snapshotted claim.
pub const PVC_NAME_LABEL: &str = "csdr.io/pvc-name";
/// The label (`"true"`) that makes a VolumeSnapshotClass csdr's default for its driver.
pub const CSDR_DEFAULT_CLASS_LABEL: &str = "csdr.io/default-snapshot-class";
/// The annotation (`"true"`) that makes a VolumeSnapshotClass its driver's default.
pub const DEFAULT_CLASS_ANNOTATION: &str = "snapshot.storage.kubernetes.io/is-default-class";
/// The annotation recording the snapshotted claim (`namespace/name`) on a retained content.
pub const SOURCE_PVC_ANNOTATION: &str = "csdr.io/source-pvc";
/// The annotation recording the snapshotted volume (PV name) on a retained content.
pub const SOURCE_PV_ANNOTATION: &str = "csdr.io/source-pv";
/// The annotation recording the snapshotted claim's size on a retained content.
pub const SIZE_ANNOTATION: &str = "csdr.io/size";
/// The class parameter some drivers (Alibaba Cloud's disk driver) read as the snapshot's
/// validity period in days.
pub const RETENTION_DAYS_PARAMETER: &str = "retentionDays";

/// The name of the FAQ's snapshot class for Alibaba Cloud disks with a validity period.
pub const DEFAULT_TTL_CLASS: &str = "csdr-disk-snapshot-with-default-ttl";
/// Alibaba Cloud's disk CSI driver.
pub const ALIBABA_DISK_DRIVER: &str = "diskplugin.csi.alibabacloud.com";

/// The FAQ's `csdr-disk-snapshot-with-default-ttl` VolumeSnapshotClass: `Retain`, the
/// Alibaba Cloud disk driver, `retentionDays` = `days`, labelled as csdr's default for the
/// driver (what `csdr install --default-snapshot-class` applies).
///
/// ```
/// let class = csdr_core::ports::snapshot::default_ttl_snapshot_class(30);
/// assert_eq!(class["parameters"]["retentionDays"], "30");
/// assert_eq!(class["deletionPolicy"], "Retain");
/// ```
pub fn default_ttl_snapshot_class(days: u64) -> Value {
    json!({
        "apiVersion": SNAPSHOT_API, "kind": "VolumeSnapshotClass",
        "metadata": {"name": DEFAULT_TTL_CLASS, "labels": {CSDR_DEFAULT_CLASS_LABEL: "true"}},
        "deletionPolicy": "Retain",
        "driver": ALIBABA_DISK_DRIVER,
        "parameters": {RETENTION_DAYS_PARAMETER: days.to_string()},
    })
}

/// What a backup records about one volume snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSnapshotRecord {
    /// The PVC's namespace in the source cluster.
    pub pvc_namespace: String,
    /// The PVC's name.
    pub pvc_name: String,
    /// The VolumeSnapshot's name (in the PVC's namespace).
    pub snapshot_name: String,
    /// The VolumeSnapshotClass used.
    pub class_name: String,
    /// The CSI driver.
    pub driver: String,
    /// The storage system's handle of the snapshot (`status.snapshotHandle` of the content).
    pub snapshot_handle: String,
    /// The size to restore, if the driver reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_size: Option<String>,
    /// The VolumeSnapshotContent's name (empty when unknown).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub content_name: String,
}

/// What to snapshot and how: the VolumeSnapshot's name, the driver, the class asked for, the
/// backup and attempt it belongs to, its validity period and how long to wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotRequest {
    /// The VolumeSnapshot's name (in the claim's namespace).
    pub snapshot_name: String,
    /// The claim's CSI driver.
    pub driver: String,
    /// The VolumeSnapshotClass the backup names for the driver, if any.
    pub class: Option<String>,
    /// The backup's name.
    pub backup_name: String,
    /// The backup's upload attempt.
    pub attempt: String,
    /// The validity period in days for classes with a `retentionDays` parameter (the
    /// backup's TTL rounded up).
    pub retention_days: Option<u64>,
    /// How long to wait for `readyToUse`.
    pub timeout: Duration,
}

impl SnapshotRequest {
    /// A request with the class chosen by the defaults, no validity period and a 10-minute
    /// wait.
    pub fn new(snapshot_name: &str, driver: &str, backup_name: &str, attempt: &str) -> Self {
        SnapshotRequest {
            snapshot_name: snapshot_name.to_string(),
            driver: driver.to_string(),
            class: None,
            backup_name: backup_name.to_string(),
            attempt: attempt.to_string(),
            retention_days: None,
            timeout: Duration::from_secs(600),
        }
    }
}

/// A VolumeSnapshot or content csdr left in a cluster, found by its labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeftSnapshot {
    /// The backup it belongs to.
    pub backup_name: String,
    /// The attempt that took it.
    pub attempt: String,
    /// What deleting it needs (handle, content and VolumeSnapshot names).
    pub record: VolumeSnapshotRecord,
    /// When it was created (`metadata.creationTimestamp`).
    pub created: Option<jiff::Timestamp>,
}

/// Takes volume snapshots, prepares restores from them and removes them.
#[async_trait]
pub trait VolumeSnapshotter: Send + Sync {
    /// Snapshots a bound PVC whose PV uses CSI driver `request.driver`, waits up to
    /// `request.timeout` for the snapshot to be ready, and retains it (content
    /// `deletionPolicy: Retain`, identity recorded on the content).
    async fn snapshot(
        &self,
        pvc: &KubeObject,
        request: &SnapshotRequest,
    ) -> Result<VolumeSnapshotRecord, SnapshotError>;

    /// Makes a recorded snapshot available in `namespace` of the cluster this snapshotter
    /// works on, under `snapshot_name`; returns the PVC `dataSource` that restores from it.
    async fn prepare_restore(
        &self,
        record: &VolumeSnapshotRecord,
        namespace: &str,
        snapshot_name: &str,
        timeout: Duration,
    ) -> Result<Value, SnapshotError>;

    /// Deletes a snapshot and its data: the content is switched back to `deletionPolicy:
    /// Delete`, then the VolumeSnapshot and the content are removed. What is already gone is
    /// not an error.
    async fn delete_snapshot(&self, record: &VolumeSnapshotRecord) -> Result<(), SnapshotError>;

    /// Every VolumeSnapshot and content labelled as csdr's in the cluster (one entry per
    /// snapshot), to find what crashed or failed jobs left.
    async fn csdr_snapshots(&self) -> Result<Vec<LeftSnapshot>, SnapshotError>;
}

/// Why a snapshot could not be taken, restored or deleted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// No VolumeSnapshotClass exists for the PVC's driver.
    #[error(
        "no VolumeSnapshotClass for CSI driver {driver} (needed by PVC {pvc}); create one to back up its data"
    )]
    NoSnapshotClass {
        /// The driver.
        driver: String,
        /// `namespace/name` of the PVC.
        pvc: String,
    },
    /// Several classes serve the driver and none is the default.
    #[error(
        "several VolumeSnapshotClasses for CSI driver {driver} ({classes}) and none is the default (needed by PVC {pvc}); name one in volumeSnapshotClass, label one {CSDR_DEFAULT_CLASS_LABEL}=true or annotate one {DEFAULT_CLASS_ANNOTATION}=true"
    )]
    AmbiguousClass {
        /// The driver.
        driver: String,
        /// `namespace/name` of the PVC.
        pvc: String,
        /// The candidates, comma-separated.
        classes: String,
    },
    /// The class the backup names does not exist or serves another driver.
    #[error("VolumeSnapshotClass {class} for PVC {pvc}: {reason}")]
    BadClass {
        /// The class.
        class: String,
        /// `namespace/name` of the PVC.
        pvc: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The cluster does not serve the snapshot API.
    #[error(
        "the cluster does not serve {SNAPSHOT_API}; install the CSI snapshot CRDs and controller"
    )]
    NotServed,
    /// A VolumeSnapshot of that name exists and belongs to another backup or attempt.
    #[error(
        "volume snapshot {snapshot} of PVC {pvc} already exists and belongs to {owner}; it is not reused: delete it or run the backup under another name"
    )]
    Conflict {
        /// `namespace/name` of the PVC.
        pvc: String,
        /// The VolumeSnapshot's name.
        snapshot: String,
        /// The backup and attempt it belongs to.
        owner: String,
    },
    /// The snapshot controller or driver reported an error.
    #[error("volume snapshot {snapshot} of PVC {pvc} failed: {message}")]
    Failed {
        /// `namespace/name` of the PVC.
        pvc: String,
        /// The VolumeSnapshot's name.
        snapshot: String,
        /// The error the VolumeSnapshot reports (`status.error.message`).
        message: String,
    },
    /// The snapshot never became ready, or the cluster failed.
    #[error("volume snapshot of PVC {pvc}: {source}")]
    Cluster {
        /// `namespace/name` of the PVC.
        pvc: String,
        /// The cluster's error.
        source: ClusterError,
    },
    /// The snapshot objects lacked a field the snapshotter needs.
    #[error("volume snapshot of PVC {pvc}: {reason}")]
    Incomplete {
        /// `namespace/name` of the PVC.
        pvc: String,
        /// What was missing.
        reason: String,
    },
}

fn gvr(resource: &str) -> GroupVersionResource {
    GroupVersionResource::new("snapshot.storage.k8s.io", "v1", resource)
}

fn text(obj: &KubeObject, pointer: &str) -> Option<String> {
    obj.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// A [`VolumeSnapshotter`] over any [`Cluster`] serving CSI snapshots.
#[derive(Debug, Clone)]
pub struct CsiSnapshotter<C> {
    cluster: C,
}

impl<C: Cluster> CsiSnapshotter<C> {
    /// A snapshotter working on `cluster`.
    pub fn new(cluster: C) -> Self {
        CsiSnapshotter { cluster }
    }

    /// The class to use (see the module documentation), after the validity period is applied.
    async fn class_for(
        &self,
        request: &SnapshotRequest,
        pvc: &str,
    ) -> Result<KubeObject, SnapshotError> {
        let fail = |source| SnapshotError::Cluster {
            pvc: pvc.to_string(),
            source,
        };
        let discovery = self.cluster.discover().await.map_err(fail)?;
        if !discovery.serves("snapshot.storage.k8s.io", "v1", "volumesnapshotclasses") {
            return Err(SnapshotError::NotServed);
        }
        let driver = request.driver.as_str();
        let of_driver = |c: &KubeObject| text(c, "/driver").as_deref() == Some(driver);
        if let Some(name) = &request.class {
            let bad = |reason: String| SnapshotError::BadClass {
                class: name.clone(),
                pvc: pvc.to_string(),
                reason,
            };
            let class = self
                .cluster
                .get(&gvr("volumesnapshotclasses"), None, name)
                .await
                .map_err(fail)?
                .ok_or_else(|| bad("not found in the cluster".into()))?;
            if !of_driver(&class) {
                return Err(bad(format!(
                    "it serves driver {}, not the claim's driver {driver}",
                    text(&class, "/driver").unwrap_or_default()
                )));
            }
            return Ok(class);
        }
        let mut classes = Vec::new();
        let class_gvr = gvr("volumesnapshotclasses");
        let mut list = self.cluster.list(&class_gvr, None, None, 500);
        while let Some(class) = list.next().await {
            let class = class.map_err(fail)?;
            if of_driver(&class) {
                classes.push(class);
            }
        }
        drop(list);
        classes.sort_by(|a, b| a.name().cmp(b.name()));
        let pick = classes
            .iter()
            .find(|c| c.label(CSDR_DEFAULT_CLASS_LABEL) == Some("true"))
            .or_else(|| {
                classes
                    .iter()
                    .find(|c| c.annotation(DEFAULT_CLASS_ANNOTATION) == Some("true"))
            })
            .or_else(|| (classes.len() == 1).then(|| &classes[0]));
        match pick {
            Some(c) => Ok(c.clone()),
            None if classes.is_empty() => Err(SnapshotError::NoSnapshotClass {
                driver: driver.to_string(),
                pvc: pvc.to_string(),
            }),
            None => Err(SnapshotError::AmbiguousClass {
                driver: driver.to_string(),
                pvc: pvc.to_string(),
                classes: classes
                    .iter()
                    .map(|c| c.name().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// A class whose `retentionDays` differs from the wanted validity period is replaced by a
    /// copy with the period (`<class>-<days>d`, created once); other classes are used as they
    /// are.
    async fn with_retention(
        &self,
        class: KubeObject,
        days: Option<u64>,
        pvc: &str,
    ) -> Result<String, SnapshotError> {
        let current = class
            .pointer(&format!("/parameters/{RETENTION_DAYS_PARAMETER}"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let (Some(days), Some(current)) = (days, current) else {
            return Ok(class.name().to_string());
        };
        if current == days.to_string() {
            return Ok(class.name().to_string());
        }
        let name = format!("{}-{days}d", class.name());
        let mut copy = class.to_value();
        copy["metadata"] = json!({"name": name, "labels": {"csdr.io/derived-from": class.name()}});
        copy["parameters"][RETENTION_DAYS_PARAMETER] = json!(days.to_string());
        let copy = KubeObject::new(copy).map_err(|e| SnapshotError::Incomplete {
            pvc: pvc.to_string(),
            reason: e.to_string(),
        })?;
        match self
            .cluster
            .create(&gvr("volumesnapshotclasses"), &copy)
            .await
        {
            Ok(_) | Err(ClusterError::AlreadyExists { .. }) => Ok(name),
            Err(source) => Err(SnapshotError::Cluster {
                pvc: pvc.to_string(),
                source,
            }),
        }
    }
}

impl<C: Cluster> CsiSnapshotter<C> {
    async fn delete_by_handle(&self, record: &VolumeSnapshotRecord) -> Result<(), ClusterError> {
        let digest = crate::digest::sha256_hex(record.snapshot_handle.as_bytes());
        let name = format!("csdr-delete-{}", &digest[..16]);
        let content = KubeObject::new(json!({
            "apiVersion": SNAPSHOT_API, "kind": "VolumeSnapshotContent",
            "metadata": {"name": name},
            "spec": {"deletionPolicy": "Delete", "driver": record.driver,
                "source": {"snapshotHandle": record.snapshot_handle},
                "volumeSnapshotRef": {"name": name, "namespace": "default"}},
        }))
        .map_err(|e| ClusterError::Invalid {
            what: format!("volumesnapshotcontents {name}"),
            reason: e.to_string(),
        })?;
        match self
            .cluster
            .create(&gvr("volumesnapshotcontents"), &content)
            .await
        {
            Ok(_) | Err(ClusterError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
        gone(
            self.cluster
                .delete(&gvr("volumesnapshotcontents"), None, &name)
                .await,
        )
    }
}

fn gone(result: Result<(), ClusterError>) -> Result<(), ClusterError> {
    match result {
        Err(ClusterError::NotFound { .. }) => Ok(()),
        other => other,
    }
}

#[async_trait]
impl<C: Cluster> VolumeSnapshotter for CsiSnapshotter<C> {
    async fn snapshot(
        &self,
        pvc: &KubeObject,
        request: &SnapshotRequest,
    ) -> Result<VolumeSnapshotRecord, SnapshotError> {
        let ns = pvc.namespace().unwrap_or("default").to_string();
        let snapshot_name = request.snapshot_name.as_str();
        let pvc_ref = format!("{ns}/{}", pvc.name());
        let fail = |source: ClusterError| SnapshotError::Cluster {
            pvc: pvc_ref.clone(),
            source,
        };
        let incomplete = |reason: &str| SnapshotError::Incomplete {
            pvc: pvc_ref.clone(),
            reason: reason.to_string(),
        };
        let class = self.class_for(request, &pvc_ref).await?;
        let class = self
            .with_retention(class, request.retention_days, &pvc_ref)
            .await?;
        let labels = json!({PVC_NAME_LABEL: pvc.name(), BACKUP_NAME_LABEL: request.backup_name,
            BACKUP_ATTEMPT_LABEL: request.attempt});
        let vs = KubeObject::new(json!({
            "apiVersion": SNAPSHOT_API, "kind": "VolumeSnapshot",
            "metadata": {"name": snapshot_name, "namespace": ns, "labels": labels},
            "spec": {"volumeSnapshotClassName": class,
                "source": {"persistentVolumeClaimName": pvc.name()}},
        }))
        .map_err(|e| incomplete(&e.to_string()))?;
        match self.cluster.create(&gvr("volumesnapshots"), &vs).await {
            Ok(_) => {}
            Err(ClusterError::AlreadyExists { .. }) => {
                // Only this very attempt's own snapshot (a resumed wait) is taken up again.
                let existing = self
                    .cluster
                    .get(&gvr("volumesnapshots"), Some(&ns), snapshot_name)
                    .await
                    .map_err(fail)?;
                let owner = existing.as_ref().map(|e| {
                    (
                        e.label(BACKUP_NAME_LABEL).unwrap_or("").to_string(),
                        e.label(BACKUP_ATTEMPT_LABEL).unwrap_or("").to_string(),
                    )
                });
                if owner != Some((request.backup_name.clone(), request.attempt.clone())) {
                    return Err(SnapshotError::Conflict {
                        pvc: pvc_ref.clone(),
                        snapshot: snapshot_name.to_string(),
                        owner: match owner {
                            Some((b, a)) if !b.is_empty() => {
                                format!("attempt {a:?} of backup {b}")
                            }
                            _ => "no csdr backup".into(),
                        },
                    });
                }
            }
            Err(e) => return Err(fail(e)),
        }
        let ready = match self
            .cluster
            .wait_for(
                &gvr("volumesnapshots"),
                Some(&ns),
                snapshot_name,
                WaitCondition::ReadyToUse,
                request.timeout,
            )
            .await
        {
            Ok(ready) => ready,
            Err(e) => {
                // Say what the driver said when the snapshot reports an error.
                let current = self
                    .cluster
                    .get(&gvr("volumesnapshots"), Some(&ns), snapshot_name)
                    .await
                    .ok()
                    .flatten();
                if let Some(message) = current.and_then(|c| text(&c, "/status/error/message")) {
                    return Err(SnapshotError::Failed {
                        pvc: pvc_ref.clone(),
                        snapshot: snapshot_name.to_string(),
                        message,
                    });
                }
                return Err(fail(e));
            }
        };
        let content_name = text(&ready, "/status/boundVolumeSnapshotContentName")
            .ok_or_else(|| incomplete("status.boundVolumeSnapshotContentName is missing"))?;
        // Retained and detached: the data outlives the VolumeSnapshot and its namespace.
        let mut annotations = json!({SOURCE_PVC_ANNOTATION: pvc_ref});
        if let Some(pv) = text(pvc, "/spec/volumeName") {
            annotations[SOURCE_PV_ANNOTATION] = json!(pv);
        }
        if let Some(size) = text(pvc, "/status/capacity/storage")
            .or_else(|| text(pvc, "/spec/resources/requests/storage"))
        {
            annotations[SIZE_ANNOTATION] = json!(size);
        }
        let content = self
            .cluster
            .patch_merge(
                &gvr("volumesnapshotcontents"),
                None,
                &content_name,
                &json!({"metadata": {"labels": labels, "annotations": annotations},
                    "spec": {"deletionPolicy": "Retain"}}),
            )
            .await
            .map_err(fail)?;
        let handle = text(&content, "/status/snapshotHandle")
            .ok_or_else(|| incomplete("the content's status.snapshotHandle is missing"))?;
        Ok(VolumeSnapshotRecord {
            pvc_namespace: ns.clone(),
            pvc_name: pvc.name().to_string(),
            snapshot_name: snapshot_name.to_string(),
            class_name: class,
            driver: request.driver.clone(),
            snapshot_handle: handle,
            restore_size: text(&ready, "/status/restoreSize")
                .or_else(|| text(&content, "/status/restoreSize")),
            content_name,
        })
    }

    async fn prepare_restore(
        &self,
        record: &VolumeSnapshotRecord,
        namespace: &str,
        snapshot_name: &str,
        timeout: Duration,
    ) -> Result<Value, SnapshotError> {
        let pvc_ref = format!("{}/{}", record.pvc_namespace, record.pvc_name);
        let fail = |source: ClusterError| SnapshotError::Cluster {
            pvc: pvc_ref.clone(),
            source,
        };
        let bad = |e: crate::object::ObjectError| SnapshotError::Incomplete {
            pvc: pvc_ref.clone(),
            reason: e.to_string(),
        };
        let content_name = format!("{snapshot_name}-{namespace}-content");
        let content = KubeObject::new(json!({
            "apiVersion": SNAPSHOT_API, "kind": "VolumeSnapshotContent",
            "metadata": {"name": content_name},
            "spec": {"deletionPolicy": "Retain", "driver": record.driver,
                "volumeSnapshotClassName": record.class_name,
                "source": {"snapshotHandle": record.snapshot_handle},
                "volumeSnapshotRef": {"name": snapshot_name, "namespace": namespace}},
        }))
        .map_err(bad)?;
        match self
            .cluster
            .create(&gvr("volumesnapshotcontents"), &content)
            .await
        {
            Ok(_) | Err(ClusterError::AlreadyExists { .. }) => {}
            Err(e) => return Err(fail(e)),
        }
        let vs = KubeObject::new(json!({
            "apiVersion": SNAPSHOT_API, "kind": "VolumeSnapshot",
            "metadata": {"name": snapshot_name, "namespace": namespace},
            "spec": {"volumeSnapshotClassName": record.class_name,
                "source": {"volumeSnapshotContentName": content_name}},
        }))
        .map_err(bad)?;
        match self.cluster.create(&gvr("volumesnapshots"), &vs).await {
            Ok(_) | Err(ClusterError::AlreadyExists { .. }) => {}
            Err(e) => return Err(fail(e)),
        }
        if let Err(e) = self
            .cluster
            .wait_for(
                &gvr("volumesnapshots"),
                Some(namespace),
                snapshot_name,
                WaitCondition::ReadyToUse,
                timeout,
            )
            .await
        {
            let current = self
                .cluster
                .get(&gvr("volumesnapshots"), Some(namespace), snapshot_name)
                .await
                .ok()
                .flatten();
            if let Some(message) = current.and_then(|c| text(&c, "/status/error/message")) {
                return Err(SnapshotError::Failed {
                    pvc: pvc_ref.clone(),
                    snapshot: snapshot_name.to_string(),
                    message,
                });
            }
            return Err(fail(e));
        }
        Ok(
            json!({"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": snapshot_name}),
        )
    }

    async fn delete_snapshot(&self, record: &VolumeSnapshotRecord) -> Result<(), SnapshotError> {
        let fail = |source: ClusterError| SnapshotError::Cluster {
            pvc: format!("{}/{}", record.pvc_namespace, record.pvc_name),
            source,
        };
        let mut content_name =
            (!record.content_name.is_empty()).then(|| record.content_name.clone());
        if !record.snapshot_name.is_empty() {
            let vs = self
                .cluster
                .get(
                    &gvr("volumesnapshots"),
                    Some(&record.pvc_namespace),
                    &record.snapshot_name,
                )
                .await
                .map_err(fail)?;
            if content_name.is_none() {
                content_name = vs
                    .as_ref()
                    .and_then(|v| text(v, "/status/boundVolumeSnapshotContentName"));
            }
        }
        let mut content_found = false;
        if let Some(content) = &content_name {
            let patched = self
                .cluster
                .patch_merge(
                    &gvr("volumesnapshotcontents"),
                    None,
                    content,
                    &json!({"spec": {"deletionPolicy": "Delete"}}),
                )
                .await
                .map(|_| ());
            content_found = patched.is_ok();
            gone(patched).map_err(fail)?;
        }
        if !record.snapshot_name.is_empty() {
            let deleted = self
                .cluster
                .delete(
                    &gvr("volumesnapshots"),
                    Some(&record.pvc_namespace),
                    &record.snapshot_name,
                )
                .await;
            gone(deleted).map_err(fail)?;
        }
        if let Some(content) = &content_name {
            let deleted = self
                .cluster
                .delete(&gvr("volumesnapshotcontents"), None, content)
                .await;
            gone(deleted).map_err(fail)?;
        }
        if !content_found && !record.snapshot_handle.is_empty() && !record.driver.is_empty() {
            // Not in this cluster (another cluster took it, or it was lost with its cluster):
            // the storage's snapshot is deleted through a content of our own that names its
            // handle with policy Delete, as the CSI external-snapshotter deletes any content.
            self.delete_by_handle(record).await.map_err(fail)?;
        }
        Ok(())
    }

    async fn csdr_snapshots(&self) -> Result<Vec<LeftSnapshot>, SnapshotError> {
        let fail = |source: ClusterError| SnapshotError::Cluster {
            pvc: "-".into(),
            source,
        };
        let discovery = self.cluster.discover().await.map_err(fail)?;
        if !discovery.serves("snapshot.storage.k8s.io", "v1", "volumesnapshots") {
            return Ok(Vec::new());
        }
        // Keyed by content name (or VolumeSnapshot when it has none yet).
        let mut found: BTreeMap<String, LeftSnapshot> = BTreeMap::new();
        let created = |o: &KubeObject| {
            text(o, "/metadata/creationTimestamp").and_then(|t| t.parse::<jiff::Timestamp>().ok())
        };
        for resource in ["volumesnapshotcontents", "volumesnapshots"] {
            let gvr = gvr(resource);
            let mut list = self.cluster.list(&gvr, None, Some(BACKUP_NAME_LABEL), 500);
            while let Some(obj) = list.next().await {
                let obj = obj.map_err(fail)?;
                let content = resource == "volumesnapshotcontents";
                let content_name = if content {
                    Some(obj.name().to_string())
                } else {
                    text(&obj, "/status/boundVolumeSnapshotContentName")
                };
                let key = content_name
                    .clone()
                    .unwrap_or_else(|| format!("{}/{}", obj.namespace().unwrap_or(""), obj.name()));
                let (pvc_namespace, pvc_name) = if content {
                    let source = obj.annotation(SOURCE_PVC_ANNOTATION).unwrap_or("");
                    let (ns, name) = source.split_once('/').unwrap_or(("", source));
                    (ns.to_string(), name.to_string())
                } else {
                    (
                        obj.namespace().unwrap_or("").to_string(),
                        obj.label(PVC_NAME_LABEL).unwrap_or("").to_string(),
                    )
                };
                let (vs_ns, vs_name) = if content {
                    (
                        text(&obj, "/spec/volumeSnapshotRef/namespace").unwrap_or_default(),
                        text(&obj, "/spec/volumeSnapshotRef/name").unwrap_or_default(),
                    )
                } else {
                    (
                        obj.namespace().unwrap_or("").to_string(),
                        obj.name().to_string(),
                    )
                };
                let entry = found.entry(key).or_insert_with(|| LeftSnapshot {
                    backup_name: obj.label(BACKUP_NAME_LABEL).unwrap_or("").to_string(),
                    attempt: obj.label(BACKUP_ATTEMPT_LABEL).unwrap_or("").to_string(),
                    record: VolumeSnapshotRecord {
                        pvc_namespace: if vs_ns.is_empty() {
                            pvc_namespace
                        } else {
                            vs_ns
                        },
                        pvc_name,
                        snapshot_name: vs_name,
                        class_name: text(&obj, "/spec/volumeSnapshotClassName").unwrap_or_default(),
                        driver: text(&obj, "/spec/driver").unwrap_or_default(),
                        snapshot_handle: text(&obj, "/status/snapshotHandle").unwrap_or_default(),
                        restore_size: text(&obj, "/status/restoreSize"),
                        content_name: content_name.unwrap_or_default(),
                    },
                    created: created(&obj),
                });
                if entry.record.pvc_name.is_empty() {
                    entry.record.pvc_name = obj.label(PVC_NAME_LABEL).unwrap_or("").to_string();
                }
            }
        }
        Ok(found.into_values().collect())
    }
}
