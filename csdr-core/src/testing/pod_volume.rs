//! [`SimPodVolumeMover`]: a [`PodVolumeMover`] over a [`SimCluster`]'s in-memory volumes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::Value;

use crate::object::GroupVersionResource;
use crate::ports::cluster::Cluster;
use crate::ports::pod_volume::{
    MountedVolume, PodVolumeBackupOutcome, PodVolumeBackupRequest, PodVolumeError, PodVolumeMover,
    PodVolumeRestoreOutcome, PodVolumeRestoreRequest,
};
use crate::sim::SimCluster;

#[derive(Debug, Default)]
struct State {
    /// Snapshot id → the volume's data (`None`: an empty volume).
    snapshots: BTreeMap<String, Option<String>>,
    next: u64,
    /// Claims (`namespace/name`) whose jobs fail.
    failing: BTreeSet<String>,
    backups: Vec<PodVolumeBackupRequest>,
    restores: Vec<PodVolumeRestoreRequest>,
    /// The pods each request went through, and whether they existed at the time.
    seen_pods: Vec<(String, bool)>,
    /// Per restore request: its claim and the Deployments of its namespace at that moment.
    deployments_at_restore: Vec<(String, Vec<String>)>,
}

/// A mover that copies a [`SimCluster`]'s volume data: `back_up` reads the claim's data
/// ([`SimCluster::read_volume`]) into a snapshot with a fresh id, `restore` writes a snapshot
/// into the restored claim ([`SimCluster::write_volume`]). Both check that the request's pod
/// exists with its uid on its node, as the kubelet folder would. Snapshots are shared by
/// clones, so one mover can back up from one cluster and a clone (see
/// [`SimPodVolumeMover::on`]) restore into another.
#[derive(Clone, Debug)]
pub struct SimPodVolumeMover {
    cluster: SimCluster,
    state: Arc<Mutex<State>>,
}

impl SimPodVolumeMover {
    /// A mover over `cluster`.
    pub fn new(cluster: SimCluster) -> Self {
        SimPodVolumeMover {
            cluster,
            state: Arc::default(),
        }
    }

    /// A mover over another cluster sharing this one's snapshots (a restore elsewhere).
    pub fn on(&self, cluster: SimCluster) -> Self {
        SimPodVolumeMover {
            cluster,
            state: self.state.clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes every job of claim `namespace/name` fail.
    pub fn fail_claim(&self, namespace: &str, name: &str) {
        self.lock().failing.insert(format!("{namespace}/{name}"));
    }

    /// Stores `data` as a snapshot under `id` (a backup written elsewhere, e.g. by Velero).
    pub fn put_snapshot(&self, id: &str, data: Option<&str>) {
        self.lock()
            .snapshots
            .insert(id.to_string(), data.map(str::to_string));
    }

    /// Every backup request, in order.
    pub fn backups(&self) -> Vec<PodVolumeBackupRequest> {
        self.lock().backups.clone()
    }

    /// Every restore request, in order.
    pub fn restores(&self) -> Vec<PodVolumeRestoreRequest> {
        self.lock().restores.clone()
    }

    /// `namespace/name` of each request's pod and whether it existed on its node with its uid
    /// when the request came.
    pub fn seen_pods(&self) -> Vec<(String, bool)> {
        self.lock().seen_pods.clone()
    }

    /// Per restore request, in order: its claim (`namespace/name`) and the Deployments that
    /// existed in its namespace when it came (workloads must wait for their data, D4).
    pub fn deployments_at_restore(&self) -> Vec<(String, Vec<String>)> {
        self.lock().deployments_at_restore.clone()
    }

    async fn check_mount(&self, mount: &MountedVolume) -> Result<(), PodVolumeError> {
        let pod = self
            .cluster
            .get(
                &GroupVersionResource::new("", "v1", "pods"),
                Some(&mount.pod_namespace),
                &mount.pod_name,
            )
            .await
            .ok()
            .flatten();
        let ok = pod.as_ref().is_some_and(|p| {
            p.pointer("/spec/nodeName").and_then(Value::as_str) == Some(mount.node.as_str())
                && p.pointer("/metadata/uid").and_then(Value::as_str)
                    == Some(mount.pod_uid.as_str())
        });
        self.lock()
            .seen_pods
            .push((format!("{}/{}", mount.pod_namespace, mount.pod_name), ok));
        if ok {
            Ok(())
        } else {
            Err(PodVolumeError::SourceNotExist {
                volume: mount.to_string(),
                reason: "no such pod with that uid on the node".into(),
            })
        }
    }
}

/// Returns `Pending` once (waking itself), so other futures of the executor run.
async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

#[async_trait]
impl PodVolumeMover for SimPodVolumeMover {
    async fn back_up(
        &self,
        request: &PodVolumeBackupRequest,
    ) -> Result<PodVolumeBackupOutcome, PodVolumeError> {
        let claim = format!("{}/{}", request.pvc_namespace, request.pvc_name);
        self.lock().backups.push(request.clone());
        self.check_mount(&request.mount).await?;
        if self.lock().failing.contains(&claim) {
            return Err(PodVolumeError::Repository {
                volume: request.mount.to_string(),
                reason: "simulated failure".into(),
            });
        }
        let data = self
            .cluster
            .read_volume(&request.pvc_namespace, &request.pvc_name)
            .map_err(|e| PodVolumeError::SourceNotExist {
                volume: request.mount.to_string(),
                reason: e.to_string(),
            })?;
        let mut st = self.lock();
        st.next += 1;
        let id = format!("sim{:08x}", st.next);
        let bytes = data.as_ref().map_or(0, |d| d.len() as u64);
        let files = u64::from(data.is_some());
        st.snapshots.insert(id.clone(), data);
        Ok(PodVolumeBackupOutcome {
            snapshot_id: id,
            bytes,
            files,
        })
    }

    async fn restore(
        &self,
        request: &PodVolumeRestoreRequest,
    ) -> Result<PodVolumeRestoreOutcome, PodVolumeError> {
        let claim = format!("{}/{}", request.pvc_namespace, request.pvc_name);
        self.lock().restores.push(request.clone());
        // A copy takes a while: let whatever else the engine runs go on meanwhile.
        for _ in 0..16 {
            yield_now().await;
        }
        let deployments = self
            .cluster
            .list_page(
                &GroupVersionResource::new("apps", "v1", "deployments"),
                Some(&request.pvc_namespace),
                &crate::ports::cluster::ListOptions::default(),
            )
            .await
            .map(|page| page.items.iter().map(|d| d.name().to_string()).collect())
            .unwrap_or_default();
        self.lock()
            .deployments_at_restore
            .push((claim.clone(), deployments));
        self.check_mount(&request.mount).await?;
        let data = {
            let st = self.lock();
            if st.failing.contains(&claim) {
                return Err(PodVolumeError::Repository {
                    volume: request.mount.to_string(),
                    reason: "simulated failure".into(),
                });
            }
            st.snapshots
                .get(&request.snapshot_id)
                .cloned()
                .ok_or_else(|| PodVolumeError::Repository {
                    volume: request.mount.to_string(),
                    reason: format!("no snapshot {}", request.snapshot_id),
                })?
        };
        let Some(data) = data else {
            return Ok(PodVolumeRestoreOutcome { bytes: 0, files: 0 });
        };
        self.cluster
            .write_volume(&request.pvc_namespace, &request.pvc_name, &data)
            .map_err(|e| PodVolumeError::SourceNotExist {
                volume: request.mount.to_string(),
                reason: e.to_string(),
            })?;
        Ok(PodVolumeRestoreOutcome {
            bytes: data.len() as u64,
            files: 1,
        })
    }
}
