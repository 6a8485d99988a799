//! The simulated kubelet: the folders a node agent reads pods' volumes from, kept in step
//! with a simulated cluster, so volume backups and restores run against a simulated cluster
//! with real files (D3).
//!
//! In the folder `dir`:
//! - every Node gets a kubelet root, `<dir>/nodes/<node>/kubelet/` (a node agent for that
//!   node runs with `KUBELET_ROOT_PATH` set to it);
//! - every PersistentVolume's data lives in `<dir>/volumes/<pv>/`: the storage of the NAS or
//!   disk server behind it, created on demand and never removed here;
//! - every Pod scheduled to a node (`spec.nodeName`) whose volumes name a claim bound to a
//!   PersistentVolume (`spec.volumeName`) gets
//!   `<dir>/nodes/<node>/kubelet/pods/<pod uid>/volumes/<plugin>/<pv>/mount`, a symlink to
//!   the PersistentVolume's data folder. The plugin folder comes from the volume's source:
//!   `csi` → `kubernetes.io~csi`, `nfs` → `kubernetes.io~nfs`, `local` →
//!   `kubernetes.io~local-volume`, `hostPath` → `kubernetes.io~host-path` (any other source
//!   is treated as CSI);
//! - the folders of pods that are gone (or moved, or being deleted) are removed; the volumes'
//!   data stays.
//!
//! What differs from a real kubelet: nothing is mounted (a symlink stands for the mount, so
//! there are no mount namespaces and every process on the machine sees every volume); no
//! pod's containers run, so nothing writes the volumes but the tests and the node agents;
//! a volume of a deleted pod is unlinked at once, with no grace period; a PersistentVolume's
//! data outlives it (delete `<dir>/volumes/<pv>` to reclaim it).
//!
//! ```
//! use csdr::core::releases::KubeRelease;
//! use csdr::core::sim::SimCluster;
//! use csdr::sim_kubelet::SimKubelet;
//!
//! let sim = SimCluster::new(KubeRelease::V1_28);
//! sim.add_node("node-a", "zone-1")?;
//! let dir = tempfile::tempdir()?;
//! let kubelet = SimKubelet::new(dir.path());
//! let report = kubelet.sync(&sim)?;
//! assert_eq!(report.nodes, 1);
//! assert!(dir.path().join("nodes/node-a/kubelet/pods").is_dir());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use csdr_core::object::{GroupVersionResource, KubeObject};
use csdr_core::ports::pod_volume::{
    MountedVolume, PodVolumeBackupOutcome, PodVolumeBackupRequest, PodVolumeError, PodVolumeMover,
    PodVolumeRestoreOutcome, PodVolumeRestoreRequest,
};
use csdr_core::sim::SimCluster;
use csdr_storage::volume::KubeletRoots;

use crate::error::{SimError, io};

/// What one [`SimKubelet::sync`] found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Nodes with a kubelet root.
    pub nodes: usize,
    /// Pod volumes linked to their PersistentVolume's data.
    pub mounts: usize,
    /// Pod folders removed (their pods are gone).
    pub removed_pods: usize,
}

/// The simulated kubelets of every node of a simulated cluster, in one folder.
#[derive(Clone, Debug)]
pub struct SimKubelet {
    dir: PathBuf,
}

/// The kubelet's plugin folder for a PersistentVolume's source.
fn plugin_of(pv: &KubeObject) -> &'static str {
    let has = |source: &str| pv.pointer(&format!("/spec/{source}")).is_some();
    if has("nfs") {
        "kubernetes.io~nfs"
    } else if has("local") {
        "kubernetes.io~local-volume"
    } else if has("hostPath") {
        "kubernetes.io~host-path"
    } else {
        "kubernetes.io~csi"
    }
}

/// Whether `name` can be one folder's name.
fn folder_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('/') && name != "." && name != ".."
}

fn text<'a>(object: &'a KubeObject, pointer: &str) -> Option<&'a str> {
    object
        .pointer(pointer)
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
}

impl SimKubelet {
    /// The simulated kubelets kept in `dir` (created on the first [`Self::sync`]).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The kubelet root of `node`: `<dir>/nodes/<node>/kubelet`.
    pub fn kubelet_root(&self, node: &str) -> PathBuf {
        self.dir.join("nodes").join(node).join("kubelet")
    }

    /// Where PersistentVolume `pv`'s data lives: `<dir>/volumes/<pv>`.
    pub fn volume_data(&self, pv: &str) -> PathBuf {
        self.dir.join("volumes").join(pv)
    }

    /// The kubelet roots of every node, for `csdr_storage::volume::KubeletVolumeMover`.
    pub fn roots(&self) -> KubeletRoots {
        KubeletRoots::PerNode(self.dir.clone())
    }

    /// Brings the folders in step with the cluster's Nodes, PersistentVolumes, claims and
    /// Pods (see the [module documentation](self)).
    pub fn sync(&self, sim: &SimCluster) -> Result<SyncReport, SimError> {
        let list = |resource: &str| {
            sim.snapshot(&GroupVersionResource::new("", "v1", resource), None)
                .map(|(items, _)| items)
                .map_err(|source| SimError::Cluster {
                    resource: resource.to_string(),
                    source,
                })
        };
        let mut report = SyncReport::default();
        let mut nodes = BTreeSet::new();
        for node in list("nodes")? {
            if !folder_name(node.name()) {
                continue;
            }
            let pods = self.kubelet_root(node.name()).join("pods");
            std::fs::create_dir_all(&pods).map_err(io(&pods, "create folder"))?;
            nodes.insert(node.name().to_string());
            report.nodes += 1;
        }
        let pvs: BTreeMap<String, KubeObject> = list("persistentvolumes")?
            .into_iter()
            .filter(|pv| folder_name(pv.name()))
            .map(|pv| (pv.name().to_string(), pv))
            .collect();
        let claims: BTreeMap<(String, String), String> = list("persistentvolumeclaims")?
            .into_iter()
            .filter_map(|claim| {
                let pv = text(&claim, "/spec/volumeName")?.to_string();
                Some((
                    (claim.namespace()?.to_string(), claim.name().to_string()),
                    pv,
                ))
            })
            .collect();

        // (node, pod uid) of every pod whose folder stays.
        let mut kept = BTreeSet::new();
        for pod in list("pods")? {
            let (Some(node), Some(uid), Some(namespace)) = (
                text(&pod, "/spec/nodeName"),
                text(&pod, "/metadata/uid"),
                pod.namespace(),
            ) else {
                continue;
            };
            if !nodes.contains(node)
                || !folder_name(uid)
                || pod.pointer("/metadata/deletionTimestamp").is_some()
            {
                continue;
            }
            kept.insert((node.to_string(), uid.to_string()));
            let volumes = pod
                .pointer("/spec/volumes")
                .and_then(|v| v.as_array())
                .map(Vec::as_slice)
                .unwrap_or_default();
            for volume in volumes {
                let Some(claim) = volume
                    .pointer("/persistentVolumeClaim/claimName")
                    .and_then(|v| v.as_str())
                else {
                    continue;
                };
                let Some(pv_name) = claims.get(&(namespace.to_string(), claim.to_string())) else {
                    continue;
                };
                let Some(pv) = pvs.get(pv_name) else {
                    continue;
                };
                self.link(node, uid, pv)?;
                report.mounts += 1;
            }
        }
        report.removed_pods = self.remove_gone_pods(&kept)?;
        Ok(report)
    }

    /// Links pod `uid`'s mount of `pv` on `node` to the volume's data.
    fn link(&self, node: &str, uid: &str, pv: &KubeObject) -> Result<(), SimError> {
        let data = self.volume_data(pv.name());
        std::fs::create_dir_all(&data).map_err(io(&data, "create folder"))?;
        let data = std::fs::canonicalize(&data).map_err(io(&data, "resolve"))?;
        let folder = self
            .kubelet_root(node)
            .join("pods")
            .join(uid)
            .join("volumes")
            .join(plugin_of(pv))
            .join(pv.name());
        std::fs::create_dir_all(&folder).map_err(io(&folder, "create folder"))?;
        let mount = folder.join("mount");
        match std::fs::read_link(&mount) {
            Ok(target) if target == data => return Ok(()),
            Ok(_) => std::fs::remove_file(&mount).map_err(io(&mount, "remove"))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            // Something that is not a symlink is in the way: leave it for people to look at.
            Err(e) => return Err(io(&mount, "read the link")(e)),
        }
        std::os::unix::fs::symlink(&data, &mount).map_err(io(&mount, "link"))
    }

    /// Removes the pod folders not in `kept`; returns how many.
    fn remove_gone_pods(&self, kept: &BTreeSet<(String, String)>) -> Result<usize, SimError> {
        let nodes_dir = self.dir.join("nodes");
        let nodes = match std::fs::read_dir(&nodes_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io(&nodes_dir, "list")(e)),
        };
        let mut removed = 0;
        for node in nodes {
            let node = node.map_err(io(&nodes_dir, "list"))?;
            let node_name = node.file_name().to_string_lossy().into_owned();
            let pods_dir = node.path().join("kubelet").join("pods");
            let pods = match std::fs::read_dir(&pods_dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(&pods_dir, "list")(e)),
            };
            for pod in pods {
                let pod = pod.map_err(io(&pods_dir, "list"))?;
                let uid = pod.file_name().to_string_lossy().into_owned();
                if kept.contains(&(node_name.clone(), uid)) {
                    continue;
                }
                // remove_dir_all removes symlinks, never what they point to: the data stays.
                let path = pod.path();
                std::fs::remove_dir_all(&path).map_err(io(&path, "remove"))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use csdr_core::releases::KubeRelease;
    use serde_json::json;

    fn create(sim: &SimCluster, resource: &str, value: serde_json::Value) -> KubeObject {
        sim.create_with(
            &GroupVersionResource::new("", "v1", resource),
            &KubeObject::new(value).unwrap(),
            &Default::default(),
        )
        .unwrap()
    }

    fn pv(sim: &SimCluster, name: &str, source: serde_json::Value) {
        let mut spec = json!({"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]});
        spec.as_object_mut()
            .unwrap()
            .extend(source.as_object().unwrap().clone());
        create(
            sim,
            "persistentvolumes",
            json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name}, "spec": spec}),
        );
    }

    fn claim(sim: &SimCluster, name: &str, pv: Option<&str>) {
        let mut spec = json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}});
        if let Some(pv) = pv {
            spec["volumeName"] = json!(pv);
        }
        create(
            sim,
            "persistentvolumeclaims",
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "metadata": {"name": name, "namespace": "shop"}, "spec": spec}),
        );
    }

    fn pod(sim: &SimCluster, name: &str, node: Option<&str>, claims: &[&str]) -> String {
        let volumes: Vec<_> = claims
            .iter()
            .map(|c| json!({"name": c, "persistentVolumeClaim": {"claimName": c}}))
            .collect();
        let mut spec =
            json!({"containers": [{"name": "app", "image": "nginx"}], "volumes": volumes});
        if let Some(node) = node {
            spec["nodeName"] = json!(node);
        }
        let pod = create(
            sim,
            "pods",
            json!({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": name, "namespace": "shop"}, "spec": spec}),
        );
        text(&pod, "/metadata/uid").unwrap().to_string()
    }

    #[test]
    fn pods_volumes_link_to_their_volumes_data_under_each_plugin_folder() {
        let sim = SimCluster::new(KubeRelease::V1_28);
        sim.add_node("node-a", "z1").unwrap();
        sim.add_node("node-b", "z1").unwrap();
        create(
            &sim,
            "namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
        );
        pv(
            &sim,
            "pv-csi",
            json!({"csi": {"driver": "d", "volumeHandle": "h"}}),
        );
        pv(
            &sim,
            "pv-nfs",
            json!({"nfs": {"server": "nas", "path": "/x"}}),
        );
        pv(&sim, "pv-local", json!({"local": {"path": "/mnt/x"}}));
        pv(&sim, "pv-host", json!({"hostPath": {"path": "/tmp/x"}}));
        claim(&sim, "c-csi", Some("pv-csi"));
        claim(&sim, "c-nfs", Some("pv-nfs"));
        claim(&sim, "c-local", Some("pv-local"));
        claim(&sim, "c-host", Some("pv-host"));
        claim(&sim, "c-pending", None);
        let web = pod(
            &sim,
            "web",
            Some("node-a"),
            &["c-csi", "c-nfs", "c-pending"],
        );
        let db = pod(&sim, "db", Some("node-b"), &["c-local", "c-host"]);
        let unscheduled = pod(&sim, "later", None, &["c-csi"]);

        let dir = tempfile::tempdir().unwrap();
        let kubelet = SimKubelet::new(dir.path());
        let report = kubelet.sync(&sim).unwrap();
        assert_eq!(
            report,
            SyncReport {
                nodes: 2,
                mounts: 4,
                removed_pods: 0
            }
        );
        let data = dir.path().canonicalize().unwrap().join("volumes");
        for (node, uid, plugin, pv) in [
            ("node-a", &web, "kubernetes.io~csi", "pv-csi"),
            ("node-a", &web, "kubernetes.io~nfs", "pv-nfs"),
            ("node-b", &db, "kubernetes.io~local-volume", "pv-local"),
            ("node-b", &db, "kubernetes.io~host-path", "pv-host"),
        ] {
            let mount = dir.path().join(format!(
                "nodes/{node}/kubelet/pods/{uid}/volumes/{plugin}/{pv}/mount"
            ));
            assert_eq!(std::fs::read_link(&mount).unwrap(), data.join(pv), "{pv}");
            assert!(mount.is_dir(), "{pv}");
        }
        assert!(
            !dir.path()
                .join("nodes/node-a/kubelet/pods")
                .join(&unscheduled)
                .exists()
        );

        // What a pod writes is the volume's data, found by the node agent's lookup.
        let found = csdr_storage::volume::kubelet::find_volume(
            &kubelet.kubelet_root("node-a"),
            &web,
            "pv-nfs",
        )
        .unwrap();
        assert_eq!(found, data.join("pv-nfs"));
        std::fs::write(found.join("f.txt"), "kept").unwrap();

        // A second sync changes nothing.
        assert_eq!(kubelet.sync(&sim).unwrap(), report);

        // The pod goes: its folder goes, the data stays.
        sim.delete_with(
            &GroupVersionResource::new("", "v1", "pods"),
            Some("shop"),
            "web",
            &Default::default(),
        )
        .unwrap();
        let report = kubelet.sync(&sim).unwrap();
        assert_eq!((report.mounts, report.removed_pods), (2, 1));
        assert!(
            !dir.path()
                .join("nodes/node-a/kubelet/pods")
                .join(&web)
                .exists()
        );
        assert_eq!(
            std::fs::read_to_string(data.join("pv-nfs/f.txt")).unwrap(),
            "kept"
        );
    }
}

/// A [`PodVolumeMover`] for a simulated cluster: brings the simulated kubelet's folders in
/// step with the cluster before each volume job (a real kubelet has mounted a pod's volumes
/// before the pod runs), then lets `inner` — a
/// [`KubeletVolumeMover`](csdr_storage::volume::KubeletVolumeMover) over
/// [`SimKubelet::roots`] — copy the files.
#[derive(Debug, Clone)]
pub struct SimKubeletMover {
    sim: SimCluster,
    kubelet: SimKubelet,
    inner: std::sync::Arc<dyn PodVolumeMover>,
}

impl SimKubeletMover {
    /// The mover of `sim`'s volumes through `kubelet`'s folders.
    pub fn new(
        sim: SimCluster,
        kubelet: SimKubelet,
        inner: std::sync::Arc<dyn PodVolumeMover>,
    ) -> Self {
        SimKubeletMover {
            sim,
            kubelet,
            inner,
        }
    }

    /// The simulated kubelet.
    pub fn kubelet(&self) -> &SimKubelet {
        &self.kubelet
    }

    fn sync(&self, mount: &MountedVolume) -> Result<(), PodVolumeError> {
        self.kubelet
            .sync(&self.sim)
            .map(|_| ())
            .map_err(|e| PodVolumeError::NoAgent {
                volume: mount.to_string(),
                reason: e.to_string(),
            })
    }
}

#[async_trait::async_trait]
impl PodVolumeMover for SimKubeletMover {
    async fn back_up(
        &self,
        request: &PodVolumeBackupRequest,
    ) -> Result<PodVolumeBackupOutcome, PodVolumeError> {
        self.sync(&request.mount)?;
        self.inner.back_up(request).await
    }

    async fn restore(
        &self,
        request: &PodVolumeRestoreRequest,
    ) -> Result<PodVolumeRestoreOutcome, PodVolumeError> {
        self.sync(&request.mount)?;
        self.inner.restore(request).await
    }
}
