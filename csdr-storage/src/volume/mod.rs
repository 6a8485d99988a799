//! Volume data (D1): file-system backups of volumes in restic-format repositories inside the
//! vault, through `rustic_core`.
//!
//! A repository lives at `restic/<repository>/` of the vault (Velero's place for its restic
//! repositories, one per namespace), on the same [`BlobStore`] as the backups, so every vault
//! kind (file, S3, OSS, memory) holds volume data. Its contents are content-defined-chunked,
//! deduplicated, compressed and encrypted with the repository key, in the restic format: the
//! `restic` tool lists, checks and restores csdr's volume backups, and csdr reads the
//! repositories Velero wrote (with [`RepositoryKey::velero`]).
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use csdr_storage::volume::{RepositoryKey, VolumeBackupOptions, VolumeRepository};
//!
//! let vault = tempfile::tempdir()?;
//! let url = format!("file://{}", vault.path().display());
//! let spec = csdr_core::model::VaultSpec { name: "v".into(), url, region: None, network: None };
//! let (store, _) = csdr_storage::connect_store(&spec, &Default::default())?;
//!
//! let data = tempfile::tempdir()?;
//! std::fs::write(data.path().join("hello.txt"), "hello")?;
//! let key = RepositoryKey::new("correct horse battery staple", "example")?;
//! let repo = VolumeRepository::new(store, "shop", key)?;
//! let snap = repo.backup(data.path(), &VolumeBackupOptions::default()).await?;
//! assert_eq!(snap.files, 1);
//!
//! let out = tempfile::tempdir()?;
//! repo.restore(&snap.id[..8], &out.path().join("restored")).await?;
//! assert_eq!(std::fs::read_to_string(out.path().join("restored/hello.txt"))?, "hello");
//! assert!(vault.path().join("restic/shop/config").exists());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! [`BlobStore`]: csdr_core::ports::blob_store::BlobStore

pub mod backend;
pub mod key_file;
pub mod kubelet;
pub mod mover;
pub mod repository;

pub use backend::{RESTIC_FOLDER, VaultBackend};
pub use key_file::{REPOSITORY_KEY_FILE, repository_key_from_kek};
pub use mover::{KubeletRoots, KubeletVolumeMover, MoverKey};
pub use repository::{
    REPOSITORY_PASSWORD_ENV, RepositoryKey, VolumeBackupOptions, VolumeCheckReport,
    VolumeRepository, VolumeRestoreSummary, VolumeSnapshot,
};
/// `rustic_core`'s progress interface, for [`VolumeRepository::with_progress`].
pub use rustic_core::{Progress, ProgressBars, ProgressType, RusticProgress};
