//! # csdr-storage: backup vaults on object storage
//!
//! This crate implements csdr-core's [`Vault`](csdr_core::ports::vault::Vault) port on the
//! `object_store` crate, so the engine in csdr-core can write, list, verify and delete backups
//! without knowing where they live: `file:///path` (the embedded default; the folder is
//! created), `s3://bucket/prefix?…` (AWS S3, S3-compatible servers, Alibaba OSS through its S3
//! endpoint — see [`location`]) and `memory://` (tests). Its sibling csdr-kube implements the
//! `Cluster` port; the engine in csdr-core joins the two.
//!
//! Backups are laid out as Velero lays them out (see [`layout`]), so Velero's own backups can
//! be read (V4b) and Velero can read csdr's. Writes are create-only at the commit point, reads
//! are verified, deletes are marked first (see [`vault`]).
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use bytes::Bytes;
//! use csdr_core::model::{BackupSpec, JobPhase, JobStatus};
//! use csdr_core::ports::vault::Vault;
//! use csdr_core::vault_record::{BackupCompanions, BackupRecord};
//! use csdr_storage::{ObjectVault, StorageOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let url = format!("file://{}", dir.path().display());
//! let vault = ObjectVault::open_url("local", &url, &StorageOptions::default()).await?;
//!
//! // Stream the tarball, then commit the metadata.
//! let mut upload = vault.start_backup("nightly").await?;
//! upload.write(Bytes::from_static(b"tarball part 1, ")).await?;
//! upload.write(Bytes::from_static(b"part 2")).await?;
//! let status = JobStatus { phase: JobPhase::Completed, ..JobStatus::default() };
//! let record = BackupRecord::new(BackupSpec::new("nightly"), status, "2026-11-24T04:00:00Z".parse()?);
//! upload.commit(record, BackupCompanions::default().encode("nightly")?).await?;
//!
//! // Listed, and downloaded only after its SHA-256 and size are checked.
//! assert_eq!(vault.list_backups().await?.len(), 1);
//! let archive = vault.download_archive("nightly").await?;
//! assert_eq!(&archive.bytes[..], b"tarball part 1, part 2");
//! assert!(dir.path().join("backups/nightly/nightly.tar.gz").exists());
//!
//! // A second backup of the same name is refused before any upload.
//! let again = vault.start_backup("nightly").await.err().unwrap();
//! assert!(again.to_string().contains("backup already exists in vault"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

pub mod error;
pub mod layout;
pub mod location;
pub mod vault;

pub use error::StorageError;
pub use vault::{ObjectVault, S3Credentials, StorageOptions};
