//! # csdr-storage: backup vaults on object storage
//!
//! The `Vault` port of `csdr-core` implemented on the `object_store` crate: `file://` (the
//! embedded default), `s3://` (AWS, S3-compatible servers, Alibaba OSS through its S3
//! endpoint) and `memory://`. The vault lays backups out the way Velero does, so that Velero's
//! own backups can be read. This crate is being built; see the project's issues.
