//! [`KubeletVolumeMover`]: csdr-core's [`PodVolumeMover`] port in process (D1, D3): a pod's
//! volume is found under its node's kubelet root ([`find_volume`]) and copied to or from the
//! vault's restic-format repository ([`VolumeRepository`]).
//!
//! The node agent runs it with its own node's kubelet root ([`KubeletRoots::Fixed`]); the
//! simulated cluster runs it over the simulated kubelet's folders, one per node
//! ([`KubeletRoots::PerNode`]). At most one volume job runs on a node at a time (the FAQ: a
//! node agent handles one pod volume at a time); the others wait their turn, while jobs on
//! other nodes run alongside.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::collections::BTreeMap;
//! use csdr_core::ports::pod_volume::{MountedVolume, PodVolumeBackupRequest, PodVolumeMover};
//! use csdr_storage::volume::{KubeletRoots, KubeletVolumeMover, MoverKey, RepositoryKey};
//!
//! let vault = tempfile::tempdir()?;
//! let spec = csdr_core::model::VaultSpec {
//!     name: "v".into(), url: format!("file://{}", vault.path().display()), region: None, network: None,
//! };
//! let kubelet = tempfile::tempdir()?;
//! let mount = kubelet.path().join("pods/uid-1/volumes/kubernetes.io~csi/pv-1/mount");
//! std::fs::create_dir_all(&mount)?;
//! std::fs::write(mount.join("a.txt"), "hello")?;
//!
//! let key = MoverKey::Key(RepositoryKey::new("correct horse battery staple", "example")?);
//! let mover = KubeletVolumeMover::open(&spec, &Default::default(), key,
//!                                      KubeletRoots::Fixed(kubelet.path().into())).await?;
//! let request = PodVolumeBackupRequest {
//!     backup_name: "nightly".into(), attempt: "1".into(),
//!     pvc_namespace: "shop".into(), pvc_name: "data".into(),
//!     mount: MountedVolume { node: "node-a".into(), pod_namespace: "shop".into(),
//!         pod_name: "web-0".into(), pod_uid: "uid-1".into(), pod_volume: "data".into(),
//!         volume: "pv-1".into() },
//!     repository: "shop".into(), tags: BTreeMap::new(),
//! };
//! let outcome = mover.back_up(&request).await?;
//! assert_eq!((outcome.files, outcome.bytes), (1, 5));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use csdr_core::crypto::KeyEncryptionKey;
use csdr_core::model::VaultSpec;
use csdr_core::ports::blob_store::BlobStore;
use csdr_core::ports::pod_volume::{
    MountedVolume, PodVolumeBackupOutcome, PodVolumeBackupRequest, PodVolumeError, PodVolumeMover,
    PodVolumeRestoreOutcome, PodVolumeRestoreRequest, UPLOADER_KOPIA, UPLOADER_RESTIC,
};
use csdr_core::vault::RandomSource;
use tokio::sync::Semaphore;

use super::key_file::repository_key_from_kek;
use super::kubelet::find_volume;
use super::repository::{RepositoryKey, VolumeBackupOptions, VolumeRepository};
use crate::{StorageError, StorageOptions};

/// Where the kubelet root of a node is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KubeletRoots {
    /// One root for every node: a node agent's own kubelet root
    /// ([`super::kubelet::kubelet_root`]), for the only node it serves.
    Fixed(PathBuf),
    /// The simulated kubelet's folder: node `n`'s root is `<dir>/nodes/<n>/kubelet`.
    PerNode(PathBuf),
}

impl KubeletRoots {
    /// The kubelet root of `node`.
    pub fn root_of(&self, node: &str) -> PathBuf {
        match self {
            KubeletRoots::Fixed(root) => root.clone(),
            KubeletRoots::PerNode(dir) => dir.join("nodes").join(node).join("kubelet"),
        }
    }
}

/// The key of the repositories a mover writes and reads (Velero's own repositories are opened
/// with [`RepositoryKey::velero`] whatever this is).
#[derive(Clone)]
pub enum MoverKey {
    /// One key for every repository (`--password-file`, `CSDR_REPOSITORY_PASSWORD`).
    Key(RepositoryKey),
    /// Each repository's own random key, wrapped by this key-encryption key in the vault
    /// (see [`super::key_file`]).
    Kek {
        /// The key-encryption key.
        kek: Arc<dyn KeyEncryptionKey>,
        /// Makes a new repository's key.
        random: RandomSource,
    },
}

impl std::fmt::Debug for MoverKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MoverKey::Key(key) => f.debug_tuple("Key").field(key).finish(),
            MoverKey::Kek { kek, .. } => f.debug_struct("Kek").field("kek", kek).finish(),
        }
    }
}

/// Copies pod volumes' files between a kubelet folder on this machine and the vault's volume
/// repositories, one job per node at a time.
#[derive(Debug)]
pub struct KubeletVolumeMover {
    store: Arc<dyn BlobStore>,
    key: MoverKey,
    roots: KubeletRoots,
    nodes: Mutex<HashMap<String, Arc<Semaphore>>>,
    mount_wait: Duration,
}

/// How often a volume that is not mounted yet is looked for again ([`KubeletVolumeMover::with_mount_wait`]).
const MOUNT_POLL: Duration = Duration::from_millis(200);

impl KubeletVolumeMover {
    /// A mover over the vault `spec` names, after checking the vault's identity (V3) as
    /// [`VolumeRepository::open_in_vault`] does.
    pub async fn open(
        spec: &VaultSpec,
        options: &StorageOptions,
        key: MoverKey,
        roots: KubeletRoots,
    ) -> Result<Self, StorageError> {
        crate::open(spec, options).await?;
        let (store, _) = crate::connect_store(spec, options)?;
        Ok(Self::with_store(store, key, roots))
    }

    /// A mover over the vault store `store` (already checked).
    pub fn with_store(store: Arc<dyn BlobStore>, key: MoverKey, roots: KubeletRoots) -> Self {
        Self {
            store,
            key,
            roots,
            nodes: Mutex::new(HashMap::new()),
            mount_wait: Duration::ZERO,
        }
    }

    /// Looks for a volume that is not mounted yet again, every 200 ms, for up to `wait` before
    /// failing it with `SOURCE_NOT_EXIST` (default: no wait). A node agent sets this: the
    /// kubelet may still be mounting the volume of a pod that has just started.
    pub fn with_mount_wait(mut self, wait: Duration) -> Self {
        self.mount_wait = wait;
        self
    }

    /// The turn-keeper of `node`'s jobs.
    fn node_slot(&self, node: &str) -> Arc<Semaphore> {
        // A poisoned map only means another job panicked while inserting; the map is intact.
        let mut nodes = self
            .nodes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        nodes
            .entry(node.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(1)))
            .clone()
    }

    /// Repository `name`, opened with Velero's fixed password when `velero`, else this mover's key.
    async fn repository(&self, name: &str, velero: bool) -> Result<VolumeRepository, StorageError> {
        let key = if velero {
            RepositoryKey::velero()
        } else {
            match &self.key {
                MoverKey::Key(key) => key.clone(),
                MoverKey::Kek { kek, random } => {
                    repository_key_from_kek(&self.store, name, kek.as_ref(), random).await?
                }
            }
        };
        VolumeRepository::new(self.store.clone(), name, key)
    }

    /// The folder holding `mount`'s files on its node.
    fn files_of(&self, mount: &MountedVolume) -> Result<PathBuf, StorageError> {
        if mount.node.is_empty() || mount.node.contains('/') || mount.node.starts_with('.') {
            return Err(StorageError::VolumeSource {
                path: self.roots.root_of("<node>").display().to_string(),
                reason: format!("node {:?} is not a folder name", mount.node),
            });
        }
        find_volume(
            &self.roots.root_of(&mount.node),
            &mount.pod_uid,
            &mount.volume,
        )
    }

    /// [`Self::files_of`], looked for again until the mount wait is over.
    async fn mounted_files_of(&self, mount: &MountedVolume) -> Result<PathBuf, StorageError> {
        let deadline = Instant::now() + self.mount_wait;
        loop {
            match self.files_of(mount) {
                Err(StorageError::VolumeSource { .. }) if Instant::now() < deadline => {
                    tokio::time::sleep(MOUNT_POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
                }
                other => return other,
            }
        }
    }

    async fn back_up_now(
        &self,
        request: &PodVolumeBackupRequest,
    ) -> Result<PodVolumeBackupOutcome, StorageError> {
        let dir = self.mounted_files_of(&request.mount).await?;
        let repo = self.repository(&request.repository, false).await?;
        let options = VolumeBackupOptions {
            tags: request
                .tags
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
            parent: None,
            host: Some(request.mount.node.clone()),
            // Backups of one claim find their parent whichever pod mounted it.
            as_path: Some(
                Path::new("/")
                    .join(&request.pvc_namespace)
                    .join(&request.pvc_name),
            ),
        };
        let snapshot = repo.backup(&dir, &options).await?;
        Ok(PodVolumeBackupOutcome {
            snapshot_id: snapshot.id,
            bytes: snapshot.bytes,
            files: snapshot.files,
        })
    }

    async fn restore_now(
        &self,
        request: &PodVolumeRestoreRequest,
    ) -> Result<PodVolumeRestoreOutcome, StorageError> {
        let dir = self.mounted_files_of(&request.mount).await?;
        let repo = self.repository(&request.repository, request.velero).await?;
        let summary = repo.restore(&request.snapshot_id, &dir).await?;
        Ok(PodVolumeRestoreOutcome {
            bytes: summary.bytes,
            files: summary.files,
        })
    }
}

/// The port's error for a storage error about `mount`.
fn to_port_error(mount: &MountedVolume, e: StorageError) -> PodVolumeError {
    let volume = mount.to_string();
    match e {
        StorageError::VolumeSource { path, reason } => PodVolumeError::SourceNotExist {
            volume,
            reason: format!(
                "the volume's data at {path} cannot be read: {reason}; check that the volume is mounted on its node"
            ),
        },
        other => PodVolumeError::Repository {
            volume,
            reason: csdr_core::ports::blob_store::chain(&other),
        },
    }
}

#[async_trait]
impl PodVolumeMover for KubeletVolumeMover {
    async fn back_up(
        &self,
        request: &PodVolumeBackupRequest,
    ) -> Result<PodVolumeBackupOutcome, PodVolumeError> {
        let slot = self.node_slot(&request.mount.node);
        let _turn = slot.acquire().await.map_err(|e| PodVolumeError::NoAgent {
            volume: request.mount.to_string(),
            reason: format!("the node's job queue is closed: {e}"),
        })?;
        self.back_up_now(request)
            .await
            .map_err(|e| to_port_error(&request.mount, e))
    }

    async fn restore(
        &self,
        request: &PodVolumeRestoreRequest,
    ) -> Result<PodVolumeRestoreOutcome, PodVolumeError> {
        if request.uploader == UPLOADER_KOPIA {
            return Err(PodVolumeError::Repository {
                volume: request.mount.to_string(),
                reason: format!(
                    "snapshot {} in repository {} was written by Velero's kopia uploader; csdr cannot read kopia data, only the restic format",
                    request.snapshot_id, request.repository
                ),
            });
        }
        if !request.uploader.is_empty() && request.uploader != UPLOADER_RESTIC {
            return Err(PodVolumeError::Repository {
                volume: request.mount.to_string(),
                reason: format!(
                    "snapshot {} was written by uploader {:?}; csdr reads only {UPLOADER_RESTIC:?} repositories",
                    request.snapshot_id, request.uploader
                ),
            });
        }
        let slot = self.node_slot(&request.mount.node);
        let _turn = slot.acquire().await.map_err(|e| PodVolumeError::NoAgent {
            volume: request.mount.to_string(),
            reason: format!("the node's job queue is closed: {e}"),
        })?;
        self.restore_now(request)
            .await
            .map_err(|e| to_port_error(&request.mount, e))
    }
}
