//! Where a node agent finds a pod's volume on its node (D3): under the kubelet's root,
//! `<root>/pods/<pod uid>/volumes/<plugin>/<volume>[/mount]`.
//!
//! The root comes from `KUBELET_ROOT_PATH` (default `/var/lib/kubelet`), symlinks resolved
//! (some distributions move it and leave a link). A PVC-backed volume's folder is named after
//! its PersistentVolume, under the folder of whichever plugin mounted it (`kubernetes.io~csi`,
//! `kubernetes.io~nfs`, `kubernetes.io~local-volume`, a flexVolume's `<vendor>~<driver>`); a
//! CSI volume's files are in its `mount` subfolder. A path that is not there is the FAQ's
//! `SOURCE_NOT_EXIST`, naming what was looked for.
//!
//! ```
//! use csdr_storage::volume::kubelet::find_volume;
//!
//! let root = tempfile::tempdir()?;
//! let mount = root.path().join("pods/uid-1/volumes/kubernetes.io~csi/pv-data/mount");
//! std::fs::create_dir_all(&mount)?;
//! assert_eq!(find_volume(root.path(), "uid-1", "pv-data")?, mount.canonicalize()?);
//! assert!(find_volume(root.path(), "uid-1", "pv-gone").unwrap_err().to_string().contains("SOURCE_NOT_EXIST"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};

use crate::StorageError;

/// The environment variable that moves the kubelet's root.
pub const KUBELET_ROOT_ENV: &str = "KUBELET_ROOT_PATH";
/// The kubelet's root when [`KUBELET_ROOT_ENV`] is not set.
pub const DEFAULT_KUBELET_ROOT: &str = "/var/lib/kubelet";

/// The kubelet's root on this node: [`KUBELET_ROOT_ENV`] or [`DEFAULT_KUBELET_ROOT`].
pub fn kubelet_root() -> PathBuf {
    std::env::var_os(KUBELET_ROOT_ENV)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_KUBELET_ROOT), PathBuf::from)
}

/// The folder holding the files of volume `volume` (a PersistentVolume's name) of the pod
/// with uid `pod_uid`, under the kubelet root `root`; symlinks resolved.
pub fn find_volume(root: &Path, pod_uid: &str, volume: &str) -> Result<PathBuf, StorageError> {
    let not_there = |looked: String, reason: String| StorageError::VolumeSource {
        path: looked,
        reason,
    };
    for (what, name) in [("pod uid", pod_uid), ("volume", volume)] {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(not_there(
                format!("{}/pods/{pod_uid}/volumes/*/{volume}", root.display()),
                format!("{what} {name:?} is not a folder name"),
            ));
        }
    }
    let root = std::fs::canonicalize(root).map_err(|e| {
        not_there(
            root.display().to_string(),
            format!("the kubelet root does not resolve ({e}); set {KUBELET_ROOT_ENV}"),
        )
    })?;
    let volumes = root.join("pods").join(pod_uid).join("volumes");
    let plugins = std::fs::read_dir(&volumes).map_err(|e| {
        not_there(
            volumes.display().to_string(),
            format!(
                "the pod's volumes folder cannot be read ({e}); is the pod running on this node?"
            ),
        )
    })?;
    let mut found = Vec::new();
    for plugin in plugins.flatten() {
        let candidate = plugin.path().join(volume);
        if candidate.is_dir() {
            found.push(candidate);
        }
    }
    found.sort();
    let Some(folder) = found.into_iter().next() else {
        return Err(not_there(
            format!("{}/*/{volume}", volumes.display()),
            "no plugin folder holds this volume; is it mounted by this pod?".into(),
        ));
    };
    let files = if folder.join("mount").is_dir() {
        folder.join("mount")
    } else {
        folder
    };
    std::fs::canonicalize(&files).map_err(|e| not_there(files.display().to_string(), e.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_plugin_layout_is_found_and_symlinked_roots_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("data/kubelet");
        let nfs = real.join("pods/u1/volumes/kubernetes.io~nfs/pv-nfs");
        let local = real.join("pods/u1/volumes/kubernetes.io~local-volume/pv-local");
        let csi = real.join("pods/u1/volumes/kubernetes.io~csi/pv-csi/mount");
        for p in [&nfs, &local, &csi] {
            std::fs::create_dir_all(p).unwrap();
        }
        let link = dir.path().join("var-lib-kubelet");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let real = real.canonicalize().unwrap();
        assert_eq!(
            find_volume(&link, "u1", "pv-nfs").unwrap(),
            real.join("pods/u1/volumes/kubernetes.io~nfs/pv-nfs")
        );
        assert_eq!(
            find_volume(&link, "u1", "pv-local").unwrap(),
            real.join("pods/u1/volumes/kubernetes.io~local-volume/pv-local")
        );
        assert_eq!(
            find_volume(&link, "u1", "pv-csi").unwrap(),
            real.join("pods/u1/volumes/kubernetes.io~csi/pv-csi/mount")
        );
    }

    #[test]
    fn what_is_not_there_is_source_not_exist_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("pods/u1/volumes/kubernetes.io~csi")).unwrap();
        let err = find_volume(dir.path(), "u1", "pv-x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("SOURCE_NOT_EXIST"), "{err}");
        assert!(err.contains("pods/u1/volumes/*/pv-x"), "{err}");
        let err = find_volume(dir.path(), "u2", "pv-x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("pods/u2/volumes"), "{err}");
        let err = find_volume(&dir.path().join("nope"), "u1", "pv-x")
            .unwrap_err()
            .to_string();
        assert!(err.contains(KUBELET_ROOT_ENV), "{err}");
        let err = find_volume(dir.path(), "../u1", "pv-x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a folder name"), "{err}");
    }
}
