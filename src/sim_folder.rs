//! A simulated cluster kept in a folder of YAML files: the file I/O the pure core leaves out.
//!
//! [`load`] builds a [`SimCluster`] of a Kubernetes release from every `*.yaml`, `*.yml` and
//! `*.json` file under a folder (recursively, in path order; a missing folder is an empty
//! cluster). [`save`] writes the cluster back, one file per object at
//! `<namespace>/<resource>.<group>/<name>.yaml` (cluster-scoped objects under `_cluster/`, the
//! core group written as `core`), each file atomically (a temporary file renamed over it), and
//! removes the files of that layout whose objects no longer exist. It never touches any other
//! file.
//!
//! A folder may start with hand-written files (`shop.yaml` holding a whole application).
//! Once saved, the layout files hold the cluster's complete state and the folder is marked as a
//! state folder ([`STATE_MARKER`]): from then on [`load`] reads only the layout files, so an
//! object from a hand-written file is not loaded twice. Edit the layout files to change such a
//! folder, or remove the marker to start again from the hand-written files.
//!
//! ```
//! use csdr::core::releases::KubeRelease;
//! use csdr::sim_folder;
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("app.yaml"), "
//! apiVersion: v1
//! kind: ConfigMap
//! metadata: {name: settings, namespace: shop}
//! data: {greeting: hello}
//! ")?;
//! let sim = sim_folder::load(KubeRelease::V1_16, dir.path())?;
//! sim_folder::save(&sim, dir.path())?;
//! assert!(dir.path().join("shop/configmaps.core/settings.yaml").exists());
//! assert!(dir.path().join("app.yaml").exists()); // never touched
//!
//! let again = sim_folder::load(KubeRelease::V1_16, dir.path())?;
//! assert_eq!(again.object_count(), sim.object_count());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use csdr_core::releases::KubeRelease;
use csdr_core::sim::{SimCluster, SimDocument};

use crate::error::{SimError, io};

/// The file [`save`] writes to mark a folder whose layout files are the complete state.
pub const STATE_MARKER: &str = ".csdr-sim-state";

const MARKER_TEXT: &str = "This folder holds the state of a simulated Kubernetes cluster, \
written by csdr: one file per object at <namespace>/<resource>.<group>/<name>.yaml.\n\
While this file exists, csdr loads only those files; other YAML files here are ignored.\n";

/// Loads a simulated cluster of `release` from `folder`: see the [module documentation](self).
pub fn load(release: KubeRelease, folder: &Path) -> Result<SimCluster, SimError> {
    let sim = SimCluster::new(release);
    if !folder.exists() {
        return Ok(sim);
    }
    let mut files = Vec::new();
    collect_files(folder, folder, &mut files)?;
    files.sort();
    let state_only = folder.join(STATE_MARKER).is_file();
    let mut documents = Vec::new();
    for rel in files {
        let loadable = rel.ends_with(".yaml") || rel.ends_with(".yml") || rel.ends_with(".json");
        if !loadable {
            continue;
        }
        if state_only && !is_layout_path(&rel) {
            tracing::info!(file = %rel, folder = %folder.display(), "ignored: the folder's state is in its layout files");
            continue;
        }
        let path = folder.join(&rel);
        let bytes = std::fs::read(&path).map_err(io(&path, "read"))?;
        let text = String::from_utf8(bytes).map_err(|_| SimError::NotText { path })?;
        documents.push(SimDocument { path: rel, text });
    }
    sim.load_documents(&documents)
        .map_err(|document| SimError::Document {
            folder: folder.display().to_string(),
            document,
        })?;
    Ok(sim)
}

/// Saves `sim` into `folder` (created if missing): see the [module documentation](self).
pub fn save(sim: &SimCluster, folder: &Path) -> Result<(), SimError> {
    let documents = sim
        .export_documents()
        .map_err(|document| SimError::Export {
            folder: folder.display().to_string(),
            document,
        })?;
    std::fs::create_dir_all(folder).map_err(io(folder, "create folder"))?;
    let mut written = BTreeSet::new();
    for doc in &documents {
        let path = folder.join(&doc.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent, "create folder"))?;
        }
        write_atomically(&path, doc.text.as_bytes())?;
        written.insert(doc.path.clone());
    }
    write_atomically(&folder.join(STATE_MARKER), MARKER_TEXT.as_bytes())?;

    let mut files = Vec::new();
    collect_files(folder, folder, &mut files)?;
    for rel in files {
        if is_layout_path(&rel) && !written.contains(&rel) {
            let path = folder.join(&rel);
            std::fs::remove_file(&path).map_err(io(&path, "remove"))?;
            // Leave no empty layout folders behind; a folder that still holds anything stays.
            let mut dir = path.parent();
            while let Some(d) = dir.filter(|d| *d != folder) {
                if std::fs::remove_dir(d).is_err() {
                    break;
                }
                dir = d.parent();
            }
        }
    }
    Ok(())
}

/// Writes a file through a temporary file in the same folder and a rename, so a reader sees
/// the old or the new content, never a part.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), SimError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .map_err(io(&tmp, "write"));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(path, "rename")(e)
    })
}

/// Every file under `dir`, as `/`-separated paths relative to `root`.
fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), SimError> {
    let entries = std::fs::read_dir(dir).map_err(io(dir, "list"))?;
    for entry in entries {
        let entry = entry.map_err(io(dir, "list"))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io(&path, "list"))?;
        if kind.is_dir() {
            collect_files(root, &path, out)?;
        } else if kind.is_file()
            && let Ok(rel) = path.strip_prefix(root)
        {
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(parts.join("/"));
        }
    }
    Ok(())
}

/// Whether a relative path is one [`save`] writes: `<namespace>/<plural>.<group>/<name>.yaml`
/// with Kubernetes-shaped names, the namespace `_cluster` for cluster-scoped objects.
fn is_layout_path(rel: &str) -> bool {
    let parts: Vec<&str> = rel.split('/').collect();
    let [namespace, resource, file] = parts[..] else {
        return false;
    };
    let dns = |s: &str, extra: &str| {
        !s.is_empty()
            && s.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || extra.contains(c)
            })
    };
    let Some(name) = file.strip_suffix(".yaml") else {
        return false;
    };
    let Some((plural, group)) = resource.split_once('.') else {
        return false;
    };
    // Object names may hold dots, and colons in RBAC names (`system:controller:x`).
    (namespace == "_cluster" || dns(namespace, ""))
        && dns(plural, "")
        && dns(group, ".")
        && dns(name, ".:")
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: extensions/v1beta1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx:1.17}]
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: fast}
provisioner: diskplugin.csi.alibabacloud.com
"#;

    fn seeded() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.yaml"), APP).unwrap();
        std::fs::write(
            dir.path().join("notes.txt"),
            "not a cluster object".as_bytes(),
        )
        .unwrap();
        dir
    }

    #[test]
    fn a_missing_folder_is_an_empty_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let sim = load(KubeRelease::V1_28, &dir.path().join("nothing-here")).unwrap();
        assert_eq!(
            sim.object_count(),
            SimCluster::new(KubeRelease::V1_28).object_count()
        );
    }

    #[test]
    fn save_writes_one_file_per_object_in_the_layout_and_loads_back() {
        let dir = seeded();
        let sim = load(KubeRelease::V1_16, dir.path()).unwrap();
        let target = dir.path().join("state");
        save(&sim, &target).unwrap();
        let deployment = target.join("shop/deployments.apps/web.yaml");
        let text = std::fs::read_to_string(&deployment).unwrap();
        assert!(text.contains("kind: Deployment"), "{text}");
        assert!(
            target
                .join("_cluster/storageclasses.storage.k8s.io/fast.yaml")
                .exists()
        );
        assert!(target.join("_cluster/namespaces.core/shop.yaml").exists());
        assert!(target.join(STATE_MARKER).exists());
        // No temporary files are left.
        let mut files = Vec::new();
        collect_files(&target, &target, &mut files).unwrap();
        assert!(files.iter().all(|f| !f.contains(".tmp-")), "{files:?}");

        let back = load(KubeRelease::V1_16, &target).unwrap();
        assert_eq!(back.object_count(), sim.object_count());
        assert_eq!(
            back.export_documents().unwrap(),
            sim.export_documents().unwrap()
        );
    }

    #[test]
    fn saving_into_a_seeded_folder_keeps_its_files_and_loads_each_object_once() {
        let dir = seeded();
        let sim = load(KubeRelease::V1_16, dir.path()).unwrap();
        save(&sim, dir.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("app.yaml")).unwrap(),
            APP
        );
        assert!(dir.path().join("notes.txt").exists());
        // The seed file and the layout files describe the same objects: loaded once.
        let again = load(KubeRelease::V1_16, dir.path()).unwrap();
        assert_eq!(again.object_count(), sim.object_count());
    }

    #[test]
    fn files_of_objects_that_no_longer_exist_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let sim = load(KubeRelease::V1_28, dir.path()).unwrap();
        sim.load_documents(&[SimDocument {
            path: "x.yaml".into(),
            text: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: old, namespace: gone}\n"
                .into(),
        }])
        .unwrap();
        save(&sim, dir.path()).unwrap();
        let old = dir.path().join("gone/configmaps.core/old.yaml");
        assert!(old.exists());
        // Files csdr would never write in that place stay.
        let foreign = dir.path().join("gone/configmaps.core/README.md");
        std::fs::write(&foreign, "mine").unwrap();
        let odd = dir.path().join("gone/configmaps.core/Not_A_Name.yaml");
        std::fs::write(&odd, "# mine").unwrap();

        save(&SimCluster::new(KubeRelease::V1_28), dir.path()).unwrap();
        assert!(!old.exists());
        assert!(foreign.exists());
        assert!(odd.exists());
        assert!(
            dir.path()
                .join("_cluster/namespaces.core/default.yaml")
                .exists()
        );
        assert!(
            !dir.path()
                .join("_cluster/namespaces.core/gone.yaml")
                .exists()
        );
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.yaml"), "kind: [unclosed").unwrap();
        let err = load(KubeRelease::V1_28, dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.yaml"), "{err}");

        std::fs::write(dir.path().join("bad.yaml"), [0xff, 0xfe]).unwrap();
        let err = load(KubeRelease::V1_28, dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.yaml") && err.contains("UTF-8"), "{err}");

        std::fs::write(
            dir.path().join("bad.yaml"),
            "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: a, namespace: b}\n",
        )
        .unwrap();
        let err = load(KubeRelease::V1_28, dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bad.yaml") && err.contains("not served"),
            "{err}"
        );
    }

    #[test]
    fn json_and_yml_files_are_read_and_other_files_are_not() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(
            dir.path().join("a/b/cm.json"),
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"j","namespace":"default"}}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("a/cm.yml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: y, namespace: default}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("a/ignored.txt"), "kind: [").unwrap();
        let sim = load(KubeRelease::V1_28, dir.path()).unwrap();
        let paths: Vec<String> = sim
            .export_documents()
            .unwrap()
            .into_iter()
            .map(|d| d.path)
            .collect();
        assert!(
            paths.contains(&"default/configmaps.core/j.yaml".to_string()),
            "{paths:?}"
        );
        assert!(
            paths.contains(&"default/configmaps.core/y.yaml".to_string()),
            "{paths:?}"
        );
    }

    #[test]
    fn layout_paths() {
        assert!(is_layout_path("shop/deployments.apps/web.yaml"));
        assert!(is_layout_path(
            "_cluster/storageclasses.storage.k8s.io/fast.yaml"
        ));
        assert!(is_layout_path(
            "_cluster/clusterroles.rbac.authorization.k8s.io/system:x.yaml"
        ));
        assert!(!is_layout_path("shop.yaml"));
        assert!(!is_layout_path("shop/apps/web.yaml"));
        assert!(!is_layout_path("shop/deployments.apps/web.yml"));
        assert!(!is_layout_path("a/shop/deployments.apps/web.yaml"));
        assert!(!is_layout_path("Shop/deployments.apps/web.yaml"));
    }
}
