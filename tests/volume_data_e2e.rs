//! Volume data end to end (issue 17, D1–D4) with real files: an application with a disk claim
//! and a NAS claim on Kubernetes 1.22 is backed up — the disk through a CSI snapshot, the NAS
//! volume's files through the simulated kubelet into the vault's restic-format repository —
//! and restored into Kubernetes 1.28 under another StorageClass, with the NAS data
//! byte-identical in the new volume. The `restic` tool lists and checks the repository csdr
//! wrote; the node policy keeps volume jobs off excluded nodes; a volume whose files are not
//! there fails by name. A backup written by Velero, with volume data its restic uploader put
//! in the vault (by the `restic` tool, with Velero's fixed password), restores with its files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use csdr::core::engine::{Engine, EngineOptions, recorded_pod_volume_backups};
use csdr::core::model::{BackupSpec, JobPhase, RestoreSpec};
use csdr::core::object::GroupVersionResource;
use csdr::core::ports::cluster::Cluster;
use csdr::core::ports::pod_volume::{PodVolumeMover, PodVolumePhase};
use csdr::core::ports::snapshot::CsiSnapshotter;
use csdr::core::ports::vault::Vault;
use csdr::core::releases::KubeRelease;
use csdr::core::sim::{SimCluster, SimDocument};
use csdr::sim_kubelet::{SimKubelet, SimKubeletMover};
use csdr::storage::StorageOptions;
use csdr::storage::volume::{KubeletVolumeMover, MoverKey, RepositoryKey};

const PASSWORD: &str = "correct horse battery staple";

/// Nodes (one excluded from volume jobs), a disk class with a snapshot class, a NAS class,
/// the shop's two claims, used by pod `web-1` on `node-a`, and claim `reports` (NAS) used by
/// pod `cron-1` on `node-b`.
const SHOP: &str = r#"
apiVersion: v1
kind: Node
metadata:
  name: node-0
  labels: {csdr.alibabacloud.com/agent-excluded: "true"}
---
apiVersion: v1
kind: Node
metadata: {name: node-a}
---
apiVersion: v1
kind: Node
metadata: {name: node-b}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: alicloud-disk}
provisioner: diskplugin.csi.alibabacloud.com
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: alicloud-nas}
provisioner: nasplugin.csi.alibabacloud.com
---
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshotClass
metadata: {name: disk-snap}
driver: diskplugin.csi.alibabacloud.com
deletionPolicy: Delete
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: shop}
spec:
  storageClassName: alicloud-disk
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 20Gi}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: uploads, namespace: shop}
spec:
  storageClassName: alicloud-nas
  accessModes: [ReadWriteMany]
  resources: {requests: {storage: 50Gi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "nginx:1.25"}]
      volumes:
      - {name: data, persistentVolumeClaim: {claimName: data}}
      - {name: files, persistentVolumeClaim: {claimName: uploads}}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop, labels: {app: web}}
spec:
  nodeName: node-a
  containers: [{name: web, image: "nginx:1.25"}]
  volumes:
  - {name: data, persistentVolumeClaim: {claimName: data}}
  - {name: files, persistentVolumeClaim: {claimName: uploads}}
"#;

/// The target cluster's classes: the NAS data goes to another class.
const TARGET: &str = r#"
apiVersion: v1
kind: Node
metadata:
  name: node-0
  labels: {csdr.alibabacloud.com/agent-excluded: "true"}
---
apiVersion: v1
kind: Node
metadata: {name: node-x}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: alicloud-disk}
provisioner: diskplugin.csi.alibabacloud.com
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: extreme-nas}
provisioner: nasplugin.csi.alibabacloud.com
---
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshotClass
metadata: {name: disk-snap}
driver: diskplugin.csi.alibabacloud.com
deletionPolicy: Delete
"#;

/// The real kubelet mover over a simulated kubelet, kept in step with the cluster.
struct SimNodes {
    kubelet: SimKubelet,
    mover: Arc<dyn PodVolumeMover>,
}

impl SimNodes {
    async fn new(sim: &SimCluster, dir: &Path, vault_url: &str) -> SimNodes {
        let kubelet = SimKubelet::new(dir);
        let spec = csdr::core::model::VaultSpec {
            name: "test".into(),
            url: vault_url.into(),
            region: None,
            network: None,
        };
        let key = MoverKey::Key(RepositoryKey::new(PASSWORD, "test").unwrap());
        let inner =
            KubeletVolumeMover::open(&spec, &StorageOptions::default(), key, kubelet.roots())
                .await
                .unwrap();
        let mover = SimKubeletMover::new(sim.clone(), kubelet.clone(), Arc::new(inner));
        SimNodes {
            kubelet,
            mover: Arc::new(mover),
        }
    }
}

fn load(sim: &SimCluster, text: &str) {
    sim.load_documents(&[SimDocument {
        path: "cluster.yaml".into(),
        text: text.into(),
    }])
    .unwrap();
}

async fn bound_volume(sim: &SimCluster, ns: &str, claim: &str) -> String {
    let gvr = GroupVersionResource::new("", "v1", "persistentvolumeclaims");
    let claim = sim.get(&gvr, Some(ns), claim).await.unwrap().unwrap();
    claim
        .pointer("/spec/volumeName")
        .and_then(|v| v.as_str())
        .expect("a bound claim")
        .to_string()
}

/// Every file under `dir` (relative path → contents, or the link target for a symlink).
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let kind = entry.file_type().unwrap();
            if kind.is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.insert(rel, target.into_os_string().into_encoded_bytes());
            } else if kind.is_dir() {
                out.insert(rel, b"<dir>".to_vec());
                walk(root, &path, out);
            } else {
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn write_uploads(dir: &Path) {
    std::fs::create_dir_all(dir.join("images/2026")).unwrap();
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    std::fs::write(dir.join("index.html"), "<h1>shop</h1>\n").unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.join("images/2026/cat.png"), &big).unwrap();
    std::os::unix::fs::symlink("images/2026/cat.png", dir.join("latest.png")).unwrap();
}

fn restic(repo: &Path, args: &[&str]) -> std::process::Output {
    restic_in(repo, PASSWORD, Path::new("."), args)
}

/// The `restic` tool on `repo` with `password`, run in folder `cwd`.
fn restic_in(repo: &Path, password: &str, cwd: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new("restic")
        .args(["-r", repo.to_str().unwrap(), "--no-cache"])
        .args(args)
        .current_dir(cwd)
        .env("RESTIC_PASSWORD", password)
        .output()
        .expect("the restic tool (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "restic {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn engine(sim: &SimCluster, vault: &Arc<dyn Vault>, mover: Arc<dyn PodVolumeMover>) -> Engine {
    let cluster: Arc<dyn Cluster> = Arc::new(sim.clone());
    Engine::builder()
        .cluster(cluster.clone())
        .vault(vault.clone())
        .snapshotter(Arc::new(CsiSnapshotter::new(cluster)))
        .pod_volume_mover(mover)
        .options(EngineOptions {
            pvc_bind_wait: Duration::from_secs(5),
            ..EngineOptions::default()
        })
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nas_files_and_disk_snapshots_move_from_1_22_to_1_28_under_another_class() {
    let source = SimCluster::new(KubeRelease::V1_22);
    load(&source, SHOP);
    source.write_volume("shop", "data", "orders: 42").unwrap();
    let vault_dir = tempfile::tempdir().unwrap();
    let vault_url = format!("file://{}", vault_dir.path().display());
    let vault: Arc<dyn Vault> = Arc::new(
        csdr::storage::open_url("test", &vault_url, &StorageOptions::default())
            .await
            .unwrap(),
    );
    let source_nodes_dir = tempfile::tempdir().unwrap();
    let source_nodes = SimNodes::new(&source, source_nodes_dir.path(), &vault_url).await;
    source_nodes.kubelet.sync(&source).unwrap();
    let nas_pv = bound_volume(&source, "shop", "uploads").await;
    let uploads = source_nodes.kubelet.volume_data(&nas_pv);
    std::fs::create_dir_all(&uploads).unwrap();
    write_uploads(&uploads);
    let before = tree(&uploads);

    let mut spec = BackupSpec::new("shop-1");
    spec.scope.included_namespaces = vec!["shop".into()];
    spec.backup_volumes = true;
    let report = engine(&source, &vault, source_nodes.mover.clone())
        .backup(spec)
        .await;
    assert_eq!(
        report.status.phase,
        JobPhase::Completed,
        "{:?}",
        report.status
    );

    // The disk went by snapshot, the NAS volume through its files, read on the pod's node.
    let companions = vault.backup_companions("shop-1").await.unwrap();
    let records = recorded_pod_volume_backups(&companions).unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    assert_eq!(record.claim(), "shop/uploads");
    assert_eq!(
        (record.node.as_str(), record.pv_name.as_str()),
        ("node-a", nas_pv.as_str())
    );
    assert_eq!(record.phase, PodVolumePhase::Completed);
    assert_eq!(record.bytes, 3_000_000 + 14);
    assert_eq!(companions.csi_volume_snapshots.len(), 1);

    // The restic tool reads what csdr wrote.
    let repo = vault_dir.path().join("restic/shop");
    let listed = restic(&repo, &["snapshots", "--json"]);
    let snapshots: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(snapshots.as_array().unwrap().len(), 1);
    assert!(
        snapshots[0]["id"]
            .as_str()
            .unwrap()
            .starts_with(&record.snapshot_id[..8])
    );
    restic(&repo, &["check", "--read-data"]);

    // Restore into 1.28 under another NAS class, sharing the snapshot storage (same region).
    let target =
        SimCluster::new(KubeRelease::V1_28).with_snapshot_storage(source.snapshot_storage());
    load(&target, TARGET);
    let target_nodes_dir = tempfile::tempdir().unwrap();
    let target_nodes = SimNodes::new(&target, target_nodes_dir.path(), &vault_url).await;
    let mut restore = RestoreSpec::new("shop-1-to-128", "shop-1");
    restore
        .storage_class_mapping
        .insert("alicloud-nas".into(), "extreme-nas".into());
    let report = engine(&target, &vault, target_nodes.mover.clone())
        .restore(restore)
        .await;
    assert_eq!(
        report.status.phase,
        JobPhase::Completed,
        "{:?}",
        report.status
    );

    let gvr = GroupVersionResource::new("", "v1", "persistentvolumeclaims");
    let claim = target
        .get(&gvr, Some("shop"), "uploads")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        claim.pointer("/spec/storageClassName").unwrap(),
        "extreme-nas"
    );
    let new_pv = bound_volume(&target, "shop", "uploads").await;
    assert_ne!(new_pv, nas_pv, "a fresh volume, not the old one");
    assert_eq!(tree(&target_nodes.kubelet.volume_data(&new_pv)), before);
    assert_eq!(
        target.read_volume("shop", "data").unwrap().as_deref(),
        Some("orders: 42")
    );
    // The data-restore pod ran on an allowed node and is gone.
    assert!(
        std::fs::read_dir(target_nodes_dir.path().join("nodes/node-0/kubelet/pods"))
            .unwrap()
            .next()
            .is_none(),
        "nothing ran on the excluded node"
    );
    let pods = GroupVersionResource::new("", "v1", "pods");
    let left: BTreeSet<String> = target
        .snapshot(&pods, Some("shop"))
        .unwrap()
        .0
        .iter()
        .map(|p| p.name().to_string())
        .collect();
    assert!(
        left.iter().all(|p| p == "web-1"),
        "only the application's own pod is left: {left:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volume_whose_files_are_missing_fails_by_name_and_the_backup_is_partially_failed() {
    let source = SimCluster::new(KubeRelease::V1_22);
    load(&source, SHOP);
    let vault_dir = tempfile::tempdir().unwrap();
    let vault_url = format!("file://{}", vault_dir.path().display());
    let vault: Arc<dyn Vault> = Arc::new(
        csdr::storage::open_url("test", &vault_url, &StorageOptions::default())
            .await
            .unwrap(),
    );
    let nodes_dir = tempfile::tempdir().unwrap();
    // The kubelet never mounted anything: the node agent finds no files.
    let key = MoverKey::Key(RepositoryKey::new(PASSWORD, "test").unwrap());
    let spec = csdr::core::model::VaultSpec {
        name: "test".into(),
        url: vault_url.clone(),
        region: None,
        network: None,
    };
    let mover = KubeletVolumeMover::open(
        &spec,
        &StorageOptions::default(),
        key,
        SimKubelet::new(nodes_dir.path()).roots(),
    )
    .await
    .unwrap();
    let mut backup = BackupSpec::new("shop-2");
    backup.scope.included_namespaces = vec!["shop".into()];
    backup.backup_volumes = true;
    let report = engine(&source, &vault, Arc::new(mover))
        .backup(backup)
        .await;
    assert_eq!(report.status.phase, JobPhase::PartiallyFailed);
    let errors = format!("{:?}", report.status.errors);
    assert!(errors.contains("uploads"), "{errors}");
    assert!(errors.contains("SOURCE_NOT_EXIST"), "{errors}");
    let companions = vault.backup_companions("shop-2").await.unwrap();
    let records = recorded_pod_volume_backups(&companions).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].phase, PodVolumePhase::Failed);
    assert!(records[0].message.contains("SOURCE_NOT_EXIST"));
}

/// Velero's fixed restic repository password (its restic uploader's).
const VELERO_PASSWORD: &str = "static-passw0rd";

/// Turns csdr's backup `name` in the vault at `vault_dir` into one Velero wrote: no `csdr`
/// section in `velero-backup.json` (so no checksums), and `records` as its
/// `<name>-podvolumebackups.json.gz`.
fn as_written_by_velero(vault_dir: &Path, name: &str, records: serde_json::Value) {
    let folder = vault_dir.join("backups").join(name);
    let meta = folder.join("velero-backup.json");
    let mut backup: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    assert!(backup.as_object_mut().unwrap().remove("csdr").is_some());
    std::fs::write(&meta, serde_json::to_vec(&backup).unwrap()).unwrap();
    std::fs::write(
        folder.join(format!("{name}-podvolumebackups.json.gz")),
        csdr::core::gzip::gzip(&serde_json::to_vec(&records).unwrap()),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_velero_backup_with_restic_volume_data_restores_with_its_files() {
    let source = SimCluster::new(KubeRelease::V1_22);
    load(&source, SHOP);
    let vault_dir = tempfile::tempdir().unwrap();
    let vault_url = format!("file://{}", vault_dir.path().display());
    let vault: Arc<dyn Vault> = Arc::new(
        csdr::storage::open_url("test", &vault_url, &StorageOptions::default())
            .await
            .unwrap(),
    );
    // The objects, as a backup of the shop (Velero's layout), without volume data.
    let mut spec = BackupSpec::new("velero-shop");
    spec.scope.included_namespaces = vec!["shop".into()];
    let nodes_dir = tempfile::tempdir().unwrap();
    let nodes = SimNodes::new(&source, nodes_dir.path(), &vault_url).await;
    let report = engine(&source, &vault, nodes.mover.clone())
        .backup(spec)
        .await;
    assert_eq!(
        report.status.phase,
        JobPhase::Completed,
        "{:?}",
        report.status
    );

    // Velero's restic uploader: `restic backup .` in the volume's folder, into
    // <prefix>/restic/<namespace> with Velero's password.
    let data = tempfile::tempdir().unwrap();
    write_uploads(data.path());
    let before = tree(data.path());
    let repo = vault_dir.path().join("restic/shop");
    restic_in(&repo, VELERO_PASSWORD, Path::new("."), &["init"]);
    let out = restic_in(
        &repo,
        VELERO_PASSWORD,
        data.path(),
        &[
            "backup",
            ".",
            "--host",
            "node-a",
            "--tag",
            "backup=velero-shop",
            "--json",
        ],
    );
    let snapshot_id = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| v["snapshot_id"].as_str().map(str::to_string))
        .expect("restic printed the snapshot id");
    let pods = GroupVersionResource::new("", "v1", "pods");
    let pod_uid = source
        .get(&pods, Some("shop"), "web-1")
        .await
        .unwrap()
        .unwrap()
        .pointer("/metadata/uid")
        .and_then(|u| u.as_str())
        .unwrap()
        .to_string();
    // What Velero records: the pod and its volume, no claim.
    as_written_by_velero(
        vault_dir.path(),
        "velero-shop",
        serde_json::json!([{
            "apiVersion": "velero.io/v1", "kind": "PodVolumeBackup",
            "metadata": {"name": "velero-shop-x7k2p", "namespace": "velero",
                "labels": {"velero.io/backup-name": "velero-shop"}},
            "spec": {"node": "node-a", "volume": "files", "backupStorageLocation": "default",
                "repoIdentifier": "s3:http://minio:9000/velero/restic/shop",
                "uploaderType": "restic",
                "pod": {"kind": "Pod", "namespace": "shop", "name": "web-1", "uid": pod_uid},
                "tags": {"backup": "velero-shop", "volume": "files"}},
            "status": {"phase": "Completed", "snapshotID": snapshot_id,
                "path": format!("/host_pods/{pod_uid}/volumes/kubernetes.io~csi/nas-uploads/mount")}
        }]),
    );

    let target =
        SimCluster::new(KubeRelease::V1_28).with_snapshot_storage(source.snapshot_storage());
    load(&target, TARGET);
    let target_nodes_dir = tempfile::tempdir().unwrap();
    let target_nodes = SimNodes::new(&target, target_nodes_dir.path(), &vault_url).await;
    let mut restore = RestoreSpec::new("from-velero", "velero-shop");
    restore
        .storage_class_mapping
        .insert("alicloud-nas".into(), "extreme-nas".into());
    let report = engine(&target, &vault, target_nodes.mover.clone())
        .restore(restore)
        .await;
    assert_eq!(
        report.status.phase,
        JobPhase::Completed,
        "{:?}",
        report.status
    );
    let warnings = format!("{:?}", report.status.warnings);
    assert!(warnings.contains("written by Velero"), "{warnings}");
    let new_pv = bound_volume(&target, "shop", "uploads").await;
    assert_eq!(tree(&target_nodes.kubelet.volume_data(&new_pv)), before);
}
