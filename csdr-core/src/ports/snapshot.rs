//! The `VolumeSnapshotter` port (B6, R10): volume data through CSI VolumeSnapshots.
//!
//! [`CsiSnapshotter`] implements it for any [`Cluster`] that serves
//! `snapshot.storage.k8s.io/v1` (CSI snapshots are plain API objects, so one implementation
//! serves the simulated cluster and real clusters alike): it picks the VolumeSnapshotClass of
//! the PVC's CSI driver, creates a VolumeSnapshot, waits for `readyToUse` and records the
//! content's snapshot handle. To restore in another cluster it pre-provisions a
//! VolumeSnapshotContent from that handle and a VolumeSnapshot bound to it; the PVC then names
//! the VolumeSnapshot as its `dataSource`.
//!
//! ```
//! use csdr_core::ports::snapshot::{CsiSnapshotter, SnapshotError, VolumeSnapshotter};
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
//! let err = snapshotter
//!     .snapshot(&pvc, "diskplugin.csi.alibabacloud.com", "data-b1", std::time::Duration::from_secs(1))
//!     .await
//!     .unwrap_err();
//! assert_eq!(err, SnapshotError::NotServed);
//! # });
//! ```

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::cluster::{Cluster, ClusterError, WaitCondition};
use crate::object::{GroupVersionResource, KubeObject};

/// The snapshot API group and version csdr uses.
pub const SNAPSHOT_API: &str = "snapshot.storage.k8s.io/v1";

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
}

/// Takes volume snapshots and prepares restores from them.
#[async_trait]
pub trait VolumeSnapshotter: Send + Sync {
    /// Snapshots a bound PVC whose PV uses CSI driver `driver`, waiting up to `timeout` for
    /// the snapshot to be ready to use.
    async fn snapshot(
        &self,
        pvc: &KubeObject,
        driver: &str,
        snapshot_name: &str,
        timeout: Duration,
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
}

/// Why a snapshot could not be taken or restored.
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
    /// The cluster does not serve the snapshot API.
    #[error(
        "the cluster does not serve {SNAPSHOT_API}; install the CSI snapshot CRDs and controller"
    )]
    NotServed,
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

    async fn class_for(&self, driver: &str, pvc: &str) -> Result<String, SnapshotError> {
        let discovery = self
            .cluster
            .discover()
            .await
            .map_err(|source| SnapshotError::Cluster {
                pvc: pvc.to_string(),
                source,
            })?;
        if !discovery.serves("snapshot.storage.k8s.io", "v1", "volumesnapshotclasses") {
            return Err(SnapshotError::NotServed);
        }
        let page = self
            .cluster
            .list_page(&gvr("volumesnapshotclasses"), None, &Default::default())
            .await
            .map_err(|source| SnapshotError::Cluster {
                pvc: pvc.to_string(),
                source,
            })?;
        let mut classes: Vec<&KubeObject> = page
            .items
            .iter()
            .filter(|c| c.fields().get("driver").and_then(Value::as_str) == Some(driver))
            .collect();
        // The default class of the driver first, then by name for determinism.
        classes.sort_by_key(|c| {
            (
                c.annotation("snapshot.storage.kubernetes.io/is-default-class") != Some("true"),
                c.name().to_string(),
            )
        });
        classes
            .first()
            .map(|c| c.name().to_string())
            .ok_or_else(|| SnapshotError::NoSnapshotClass {
                driver: driver.to_string(),
                pvc: pvc.to_string(),
            })
    }
}

#[async_trait]
impl<C: Cluster> VolumeSnapshotter for CsiSnapshotter<C> {
    async fn snapshot(
        &self,
        pvc: &KubeObject,
        driver: &str,
        snapshot_name: &str,
        timeout: Duration,
    ) -> Result<VolumeSnapshotRecord, SnapshotError> {
        let ns = pvc.namespace().unwrap_or("default").to_string();
        let pvc_ref = format!("{ns}/{}", pvc.name());
        let fail = |source: ClusterError| SnapshotError::Cluster {
            pvc: pvc_ref.clone(),
            source,
        };
        let class = self.class_for(driver, &pvc_ref).await?;
        let vs = KubeObject::new(json!({
            "apiVersion": SNAPSHOT_API, "kind": "VolumeSnapshot",
            "metadata": {"name": snapshot_name, "namespace": ns,
                "labels": {"csdr.io/pvc-name": pvc.name()}},
            "spec": {"volumeSnapshotClassName": class,
                "source": {"persistentVolumeClaimName": pvc.name()}},
        }))
        .map_err(|e| SnapshotError::Incomplete {
            pvc: pvc_ref.clone(),
            reason: e.to_string(),
        })?;
        match self.cluster.create(&gvr("volumesnapshots"), &vs).await {
            Ok(_) | Err(ClusterError::AlreadyExists { .. }) => {}
            Err(e) => return Err(fail(e)),
        }
        let ready = self
            .cluster
            .wait_for(
                &gvr("volumesnapshots"),
                Some(&ns),
                snapshot_name,
                WaitCondition::ReadyToUse,
                timeout,
            )
            .await
            .map_err(fail)?;
        let incomplete = |reason: &str| SnapshotError::Incomplete {
            pvc: pvc_ref.clone(),
            reason: reason.to_string(),
        };
        let content_name = ready
            .pointer("/status/boundVolumeSnapshotContentName")
            .and_then(Value::as_str)
            .ok_or_else(|| incomplete("status.boundVolumeSnapshotContentName is missing"))?;
        let content = self
            .cluster
            .get(&gvr("volumesnapshotcontents"), None, content_name)
            .await
            .map_err(fail)?
            .ok_or_else(|| incomplete("its VolumeSnapshotContent is gone"))?;
        let handle = content
            .pointer("/status/snapshotHandle")
            .and_then(Value::as_str)
            .ok_or_else(|| incomplete("the content's status.snapshotHandle is missing"))?;
        Ok(VolumeSnapshotRecord {
            pvc_namespace: ns.clone(),
            pvc_name: pvc.name().to_string(),
            snapshot_name: snapshot_name.to_string(),
            class_name: class,
            driver: driver.to_string(),
            snapshot_handle: handle.to_string(),
            restore_size: ready
                .pointer("/status/restoreSize")
                .and_then(Value::as_str)
                .map(str::to_string),
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
        self.cluster
            .wait_for(
                &gvr("volumesnapshots"),
                Some(namespace),
                snapshot_name,
                WaitCondition::ReadyToUse,
                timeout,
            )
            .await
            .map_err(fail)?;
        Ok(
            json!({"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": snapshot_name}),
        )
    }
}
