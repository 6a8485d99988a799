//! The in-process volume mover (D1, D3): a pod's volume, found under its node's kubelet root,
//! round-trips through the vault's restic-format repository; a missing mount, a wrong key and
//! kopia data get clear errors naming the volume; one job per node at a time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::ops::Range;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use csdr_core::ports::blob_store::{BlobError, BlobMeta, BlobStore, BlobUpload};
use csdr_core::ports::pod_volume::{
    MountedVolume, PodVolumeBackupRequest, PodVolumeError, PodVolumeMover, PodVolumeRestoreRequest,
};
use csdr_storage::volume::{KubeletRoots, KubeletVolumeMover, MoverKey, RepositoryKey};
use futures::stream::BoxStream;

fn key(secret: &str) -> MoverKey {
    MoverKey::Key(RepositoryKey::new(secret, "the test").unwrap())
}

/// A `file://` vault in a temporary folder.
fn file_vault() -> (tempfile::TempDir, csdr_core::model::VaultSpec) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().join("vault").display());
    (dir, common::spec_for("v", url))
}

fn mount(node: &str, uid: &str, volume: &str) -> MountedVolume {
    MountedVolume {
        node: node.into(),
        pod_namespace: "shop".into(),
        pod_name: format!("web-{uid}"),
        pod_uid: uid.into(),
        pod_volume: "data".into(),
        volume: volume.into(),
    }
}

/// The simulated kubelet's mount folder of `m` under `dir`, created.
fn make_mount(dir: &Path, m: &MountedVolume) -> PathBuf {
    let path = dir.join(format!(
        "nodes/{}/kubelet/pods/{}/volumes/kubernetes.io~csi/{}/mount",
        m.node, m.pod_uid, m.volume
    ));
    fs::create_dir_all(&path).unwrap();
    path
}

fn backup_request(m: MountedVolume, repository: &str) -> PodVolumeBackupRequest {
    PodVolumeBackupRequest {
        backup_name: "nightly".into(),
        attempt: "1".into(),
        pvc_namespace: "shop".into(),
        pvc_name: "data".into(),
        mount: m,
        repository: repository.into(),
        tags: BTreeMap::from([("backup".to_string(), "nightly".to_string())]),
    }
}

fn restore_request(m: MountedVolume, snapshot_id: &str) -> PodVolumeRestoreRequest {
    PodVolumeRestoreRequest {
        restore_name: "r1".into(),
        backup_name: "nightly".into(),
        pvc_namespace: "shop".into(),
        pvc_name: "data".into(),
        mount: m,
        repository: "shop".into(),
        snapshot_id: snapshot_id.into(),
        uploader: "restic".into(),
        velero: false,
    }
}

fn sample_tree(root: &Path) {
    fs::create_dir_all(root.join("app/empty")).unwrap();
    fs::write(root.join("app/config.yaml"), "replicas: 3\n").unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(root.join("app/blob.bin"), &big).unwrap();
    fs::write(root.join("app/script.sh"), "#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(
        root.join("app/script.sh"),
        fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    fs::set_permissions(root.join("app/empty"), fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink("config.yaml", root.join("app/link")).unwrap();
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    fs::File::options()
        .write(true)
        .open(root.join("app/config.yaml"))
        .unwrap()
        .set_modified(when)
        .unwrap();
}

/// Everything about a file the round trip keeps, by relative path.
fn describe(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let meta = fs::symlink_metadata(&path).unwrap();
            let mut line = format!("{rel} mode={:o}", meta.mode());
            if meta.file_type().is_symlink() {
                line += &format!(" -> {}", fs::read_link(&path).unwrap().display());
            } else if meta.is_dir() {
                line += " dir";
                walk(root, &path, out);
            } else {
                let bytes = fs::read(&path).unwrap();
                line += &format!(
                    " sha={} mtime={}",
                    csdr_core::digest::sha256_hex(&bytes),
                    meta.mtime()
                );
            }
            out.push(line);
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pod_volume_round_trips_byte_identical_between_nodes() {
    let (_vault_dir, spec) = file_vault();
    let kubelet = tempfile::tempdir().unwrap();
    let mover = KubeletVolumeMover::open(
        &spec,
        &common::options(),
        key("a volume key"),
        KubeletRoots::PerNode(kubelet.path().into()),
    )
    .await
    .unwrap();

    let source = mount("node-a", "uid-1", "pv-1");
    let source_dir = make_mount(kubelet.path(), &source);
    sample_tree(&source_dir);
    let outcome = mover
        .back_up(&backup_request(source, "shop"))
        .await
        .unwrap();
    assert_eq!(outcome.snapshot_id.len(), 64, "{outcome:?}");
    assert_eq!(outcome.files, 4, "{outcome:?}"); // restic counts the symlink
    assert_eq!(outcome.bytes, 300_000 + 12 + 18, "{outcome:?}");

    let target = mount("node-b", "uid-2", "pv-2");
    let target_dir = make_mount(kubelet.path(), &target);
    let restored = mover
        .restore(&restore_request(target, &outcome.snapshot_id))
        .await
        .unwrap();
    assert_eq!(restored.files, 3); // the restore counts regular files only
    assert_eq!(restored.bytes, outcome.bytes);
    assert_eq!(describe(&target_dir), describe(&source_dir));
    assert!(
        describe(&target_dir)
            .iter()
            .any(|l| l == "app/link mode=120777 -> config.yaml")
    );

    // A node agent's fixed root reads the same layout.
    let fixed = KubeletVolumeMover::open(
        &spec,
        &common::options(),
        key("a volume key"),
        KubeletRoots::Fixed(kubelet.path().join("nodes/node-a/kubelet")),
    )
    .await
    .unwrap();
    let again = fixed
        .back_up(&backup_request(mount("any-node", "uid-1", "pv-1"), "shop"))
        .await
        .unwrap();
    assert_eq!((again.files, again.bytes), (outcome.files, outcome.bytes));
    assert_ne!(again.snapshot_id, outcome.snapshot_id);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_mount_is_source_not_exist_naming_the_path_and_the_volume() {
    let (_vault_dir, spec) = file_vault();
    let kubelet = tempfile::tempdir().unwrap();
    let mover = KubeletVolumeMover::open(
        &spec,
        &common::options(),
        key("a volume key"),
        KubeletRoots::PerNode(kubelet.path().into()),
    )
    .await
    .unwrap();
    fs::create_dir_all(
        kubelet
            .path()
            .join("nodes/node-a/kubelet/pods/uid-1/volumes"),
    )
    .unwrap();
    let err = mover
        .back_up(&backup_request(mount("node-a", "uid-1", "pv-gone"), "shop"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PodVolumeError::SourceNotExist { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("SOURCE_NOT_EXIST"), "{text}");
    assert!(text.contains("pods/uid-1/volumes/*/pv-gone"), "{text}");
    assert!(
        text.contains("volume pv-gone of pod shop/web-uid-1 on node node-a"),
        "{text}"
    );

    let err = mover
        .restore(&restore_request(mount("node-z", "uid-9", "pv-9"), "abcd"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PodVolumeError::SourceNotExist { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("nodes/node-z/kubelet"), "{err}");

    let err = mover
        .back_up(&backup_request(mount("../etc", "uid-1", "pv-1"), "shop"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a folder name"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_agent_waits_for_a_mount_the_kubelet_is_still_making_then_gives_up() {
    let (_vault_dir, spec) = file_vault();
    let kubelet = tempfile::tempdir().unwrap();
    let mover = KubeletVolumeMover::open(
        &spec,
        &common::options(),
        key("a volume key"),
        KubeletRoots::PerNode(kubelet.path().into()),
    )
    .await
    .unwrap()
    .with_mount_wait(Duration::from_secs(2));

    // The mount appears 500 ms after the job starts: the backup waits for it and reads it.
    let m = mount("node-a", "uid-late", "pv-late");
    let late = {
        let dir = kubelet.path().to_path_buf();
        let m = m.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            fs::write(make_mount(&dir, &m).join("a.txt"), "late").unwrap();
        })
    };
    let started = Instant::now();
    let outcome = mover.back_up(&backup_request(m, "shop")).await.unwrap();
    late.join().unwrap();
    assert_eq!((outcome.files, outcome.bytes), (1, 4));
    assert!(started.elapsed() >= Duration::from_millis(500));

    // A mount that never comes fails with SOURCE_NOT_EXIST once the wait is over, not before.
    let started = Instant::now();
    let err = mover
        .back_up(&backup_request(mount("node-a", "uid-1", "pv-never"), "shop"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PodVolumeError::SourceNotExist { .. }),
        "{err:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(2), "{:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_key_velero_password_or_kopia_data_is_a_repository_error() {
    let (_vault_dir, spec) = file_vault();
    let kubelet = tempfile::tempdir().unwrap();
    let roots = KubeletRoots::PerNode(kubelet.path().into());
    let mover = KubeletVolumeMover::open(
        &spec,
        &common::options(),
        key("the right key"),
        roots.clone(),
    )
    .await
    .unwrap();
    let source = mount("node-a", "uid-1", "pv-1");
    fs::write(make_mount(kubelet.path(), &source).join("f"), "data").unwrap();
    let outcome = mover
        .back_up(&backup_request(source, "shop"))
        .await
        .unwrap();

    let target = mount("node-a", "uid-2", "pv-2");
    let target_dir = make_mount(kubelet.path(), &target);
    let wrong = KubeletVolumeMover::open(&spec, &common::options(), key("the wrong key"), roots)
        .await
        .unwrap();
    let err = wrong
        .restore(&restore_request(target.clone(), &outcome.snapshot_id))
        .await
        .unwrap_err();
    assert!(matches!(err, PodVolumeError::Repository { .. }), "{err:?}");
    assert!(err.to_string().contains("wrong key"), "{err}");
    assert!(err.to_string().contains("volume pv-2"), "{err}");
    let err = wrong
        .back_up(&backup_request(mount("node-a", "uid-1", "pv-1"), "shop"))
        .await
        .unwrap_err();
    assert!(matches!(err, PodVolumeError::Repository { .. }), "{err:?}");

    // A Velero backup's repository is opened with Velero's password, not the mover's key.
    let mut velero = restore_request(target.clone(), &outcome.snapshot_id);
    velero.velero = true;
    let err = mover.restore(&velero).await.unwrap_err();
    assert!(matches!(err, PodVolumeError::Repository { .. }), "{err:?}");

    let mut kopia = restore_request(target, &outcome.snapshot_id);
    kopia.uploader = "kopia".into();
    let err = mover.restore(&kopia).await.unwrap_err();
    assert!(err.to_string().contains("kopia"), "{err}");
    assert!(err.to_string().contains("cannot read kopia data"), "{err}");
    assert_eq!(fs::read_dir(&target_dir).unwrap().count(), 0);
}

/// A store that takes a while per call and notes when each repository was used.
#[derive(Debug)]
struct WatchedStore {
    inner: Arc<dyn BlobStore>,
    uses: Mutex<BTreeMap<String, (Instant, Instant)>>,
}

impl WatchedStore {
    async fn note(&self, key: &str) {
        if let Some(repo) = key
            .strip_prefix("restic/")
            .and_then(|rest| rest.split('/').next())
        {
            let now = Instant::now();
            let mut uses = self.uses.lock().unwrap();
            let entry = uses.entry(repo.to_string()).or_insert((now, now));
            entry.1 = now;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    fn span(&self, repo: &str) -> (Instant, Instant) {
        self.uses.lock().unwrap()[repo]
    }
}

#[async_trait]
impl BlobStore for WatchedStore {
    async fn get(&self, key: &str) -> Result<Bytes, BlobError> {
        self.note(key).await;
        self.inner.get(key).await
    }
    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, BlobError> {
        self.note(key).await;
        self.inner.get_range(key, range).await
    }
    async fn head(&self, key: &str) -> Result<BlobMeta, BlobError> {
        self.note(key).await;
        self.inner.head(key).await
    }
    async fn put(&self, key: &str, bytes: Bytes) -> Result<(), BlobError> {
        self.note(key).await;
        self.inner.put(key, bytes).await
    }
    async fn put_if_absent(&self, key: &str, bytes: Bytes) -> Result<(), BlobError> {
        self.note(key).await;
        self.inner.put_if_absent(key, bytes).await
    }
    async fn copy(&self, from: &str, to: &str) -> Result<(), BlobError> {
        self.note(to).await;
        self.inner.copy(from, to).await
    }
    fn list(&self, prefix: &str) -> BoxStream<'_, Result<BlobMeta, BlobError>> {
        if let Some(repo) = prefix
            .strip_prefix("restic/")
            .and_then(|rest| rest.split('/').next())
        {
            let now = Instant::now();
            let mut uses = self.uses.lock().unwrap();
            let entry = uses.entry(repo.to_string()).or_insert((now, now));
            entry.1 = now;
        }
        self.inner.list(prefix)
    }
    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.note(key).await;
        self.inner.delete(key).await
    }
    async fn delete_many(&self, keys: &[String]) -> Result<(), BlobError> {
        if let Some(key) = keys.first() {
            self.note(key).await;
        }
        self.inner.delete_many(keys).await
    }
    async fn start_upload(
        &self,
        key: &str,
        options: csdr_core::ports::blob_store::UploadOptions,
    ) -> Result<Box<dyn BlobUpload>, BlobError> {
        self.note(key).await;
        self.inner.start_upload(key, options).await
    }
}

fn overlap(a: (Instant, Instant), b: (Instant, Instant)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_on_one_node_take_turns_while_other_nodes_run_alongside() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().join("vault").display());
    let (inner, _) =
        csdr_storage::connect_store(&common::spec_for("v", url), &common::options()).unwrap();
    let store = Arc::new(WatchedStore {
        inner,
        uses: Mutex::new(BTreeMap::new()),
    });
    let kubelet = tempfile::tempdir().unwrap();
    let mover = KubeletVolumeMover::with_store(
        store.clone(),
        key("a volume key"),
        KubeletRoots::PerNode(kubelet.path().into()),
    );
    let volumes = [
        ("node-a", "uid-1", "same-a"),
        ("node-a", "uid-2", "same-b"),
        ("node-b", "uid-3", "other-a"),
        ("node-c", "uid-4", "other-b"),
    ];
    let mut requests = Vec::new();
    for (node, uid, repo) in volumes {
        let m = mount(node, uid, &format!("pv-{uid}"));
        let files = make_mount(kubelet.path(), &m);
        for i in 0..5 {
            fs::write(files.join(format!("f{i}")), format!("{repo} {i}")).unwrap();
        }
        // Each job writes its own repository, so each job's store use is told apart.
        requests.push(backup_request(m, repo));
    }
    let (a, b) = tokio::join!(mover.back_up(&requests[0]), mover.back_up(&requests[1]));
    a.unwrap();
    b.unwrap();
    let (c, d) = tokio::join!(mover.back_up(&requests[2]), mover.back_up(&requests[3]));
    c.unwrap();
    d.unwrap();

    let (same_a, same_b) = (store.span("same-a"), store.span("same-b"));
    assert!(
        !overlap(same_a, same_b),
        "two jobs on node-a overlapped: {same_a:?} {same_b:?}"
    );
    let (other_a, other_b) = (store.span("other-a"), store.span("other-b"));
    assert!(
        overlap(other_a, other_b),
        "jobs on node-b and node-c did not run together: {other_a:?} {other_b:?}"
    );
}
