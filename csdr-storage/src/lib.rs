//! # csdr-storage: backup vaults on object storage
//!
//! This crate implements csdr-core's [`BlobStore`](csdr_core::ports::blob_store::BlobStore)
//! port on the `object_store` crate ([`blob`]), and opens vaults from their URLs ([`client`]):
//! csdr-core's vault protocol ([`BlobVault`]) on the store the URL names, so the engine can
//! write, list, verify and delete backups without knowing where they live: `file:///path` (the embedded default; the folder is
//! created), `s3://bucket/prefix?…` (AWS S3, S3-compatible servers, Alibaba OSS through its S3
//! endpoint — see [`location`]) and `memory://` (tests). It also binds csdr-core's `Timer`
//! port to tokio ([`TokioTimer`]), and keeps volume data in restic-format repositories on the
//! same stores ([`volume`], through `rustic_core`). Its sibling csdr-kube implements the `Cluster` port; the
//! engine in csdr-core joins the two.
//!
//! Backups are laid out as Velero lays them out (see [`csdr_core::vault::layout`]), so
//! Velero's own backups can be read (V4b) and Velero can read csdr's. Writes are create-only at
//! the commit point, reads are verified, deletes are marked first (see [`csdr_core::vault`]).
//! This crate holds no part of that protocol: a new backend is one more adapter like
//! [`ObjectStoreBlobs`] that passes csdr-core's conformance suites.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use bytes::Bytes;
//! use csdr_core::model::{BackupSpec, JobPhase, JobStatus};
//! use csdr_core::ports::vault::Vault;
//! use csdr_core::vault_record::{BackupCompanions, BackupRecord};
//! use csdr_storage::StorageOptions;
//!
//! let dir = tempfile::tempdir()?;
//! let url = format!("file://{}", dir.path().display());
//! let vault = csdr_storage::open_url("local", &url, &StorageOptions::default()).await?;
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

pub mod blob;
pub mod client;
pub mod error;
pub mod keys;
pub mod location;
pub mod spool;
pub mod timer;
pub mod volume;

pub use blob::ObjectStoreBlobs;
pub use client::{S3Credentials, StorageOptions, connect, connect_store, open, open_url};
pub use csdr_core::vault::BlobVault;
pub use error::StorageError;
pub use keys::{AgeKey, KmsKey, os_random};
pub use spool::TempFileSpool;
pub use timer::TokioTimer;
