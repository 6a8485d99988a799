//! Cancelling a running job without leaving half-written data in the vault.
//!
//! A job is cancelled when its object is deleted (`kubectl delete` of an InProgress
//! ApplicationBackup) or when the controller stops (SIGTERM) before the job finished. The
//! engine's future is then dropped on the job's thread, which drops its backup upload
//! without committing or aborting it. [`TrackedVault`] wraps the job's vault so that such an
//! upload is kept in [`Abandoned`] instead of being lost; the job's thread then aborts it
//! ([`Abandoned::abort_all`]) on the runtime the upload was started on, which removes the
//! attempt's data at once: the name is free again for the job's next run, without waiting
//! for the vault's garbage collection (B10).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use csdr_core::ports::vault::{
    ArchiveStream, BackupUpload, OrphanReport, Vault, VaultError, VaultValidation, VerifiedArchive,
};
use csdr_core::vault_record::{
    BackupCompanions, BackupRecord, CompanionFile, RestoreCompanions, RestoreRecord,
};
use jiff::Timestamp;

/// Uploads a cancelled job left neither committed nor aborted.
#[derive(Clone, Default)]
pub struct Abandoned {
    uploads: Arc<Mutex<Vec<Box<dyn BackupUpload>>>>,
}

impl std::fmt::Debug for Abandoned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Abandoned")
            .field("uploads", &self.len())
            .finish()
    }
}

impl Abandoned {
    /// How many uploads wait to be aborted.
    pub fn len(&self) -> usize {
        self.uploads.lock().map(|u| u.len()).unwrap_or(0)
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn keep(&self, upload: Box<dyn BackupUpload>) {
        if let Ok(mut uploads) = self.uploads.lock() {
            uploads.push(upload);
        }
    }

    /// Aborts every abandoned upload (each bounded by `timeout`), removing its data; returns
    /// the attempts whose data could not be removed (the vault's garbage collection removes
    /// them after its grace period).
    pub async fn abort_all(&self, timeout: Duration) -> Vec<String> {
        let uploads: Vec<Box<dyn BackupUpload>> = match self.uploads.lock() {
            Ok(mut u) => u.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        let mut left = Vec::new();
        for upload in uploads {
            let attempt = upload.attempt().to_string();
            match tokio::time::timeout(timeout, upload.abort()).await {
                Ok(Ok(())) => tracing::info!(%attempt, "removed the cancelled job's upload"),
                Ok(Err(e)) => {
                    tracing::warn!(%attempt, error = %e, "cannot remove the cancelled job's upload; the vault's GC will");
                    left.push(attempt);
                }
                Err(_) => {
                    tracing::warn!(%attempt, "removing the cancelled job's upload timed out; the vault's GC will");
                    left.push(attempt);
                }
            }
        }
        left
    }
}

/// A vault whose backup uploads, when dropped unfinished, go to an [`Abandoned`] list.
pub struct TrackedVault {
    inner: Arc<dyn Vault>,
    abandoned: Abandoned,
}

impl TrackedVault {
    /// Wraps `inner`; unfinished uploads go to `abandoned`.
    pub fn new(inner: Arc<dyn Vault>, abandoned: Abandoned) -> Self {
        TrackedVault { inner, abandoned }
    }
}

struct TrackedUpload {
    inner: Option<Box<dyn BackupUpload>>,
    attempt: String,
    abandoned: Abandoned,
}

impl TrackedUpload {
    fn take(&mut self) -> Result<Box<dyn BackupUpload>, VaultError> {
        self.inner.take().ok_or_else(|| VaultError::InvalidInput {
            what: format!("upload attempt {}", self.attempt),
            reason: "it was already finished".into(),
        })
    }

    fn get(&mut self) -> Result<&mut Box<dyn BackupUpload>, VaultError> {
        let attempt = self.attempt.clone();
        self.inner.as_mut().ok_or_else(|| VaultError::InvalidInput {
            what: format!("upload attempt {attempt}"),
            reason: "it was already finished".into(),
        })
    }
}

impl Drop for TrackedUpload {
    fn drop(&mut self) {
        if let Some(upload) = self.inner.take() {
            self.abandoned.keep(upload);
        }
    }
}

#[async_trait]
impl BackupUpload for TrackedUpload {
    fn attempt(&self) -> &str {
        &self.attempt
    }

    async fn write(&mut self, chunk: Bytes) -> Result<(), VaultError> {
        self.get()?.write(chunk).await
    }

    async fn write_entry_digests(&mut self, chunk: Bytes) -> Result<(), VaultError> {
        self.get()?.write_entry_digests(chunk).await
    }

    async fn commit(
        mut self: Box<Self>,
        record: BackupRecord,
        companions: Vec<CompanionFile>,
    ) -> Result<BackupRecord, VaultError> {
        self.take()?.commit(record, companions).await
    }

    async fn record_failure(
        mut self: Box<Self>,
        record: BackupRecord,
        companions: Vec<CompanionFile>,
    ) -> Result<BackupRecord, VaultError> {
        self.take()?.record_failure(record, companions).await
    }

    async fn abort(mut self: Box<Self>) -> Result<(), VaultError> {
        self.take()?.abort().await
    }
}

#[async_trait]
impl Vault for TrackedVault {
    fn location(&self) -> String {
        self.inner.location()
    }

    async fn validate(&self, now: Timestamp) -> VaultValidation {
        self.inner.validate(now).await
    }

    async fn start_backup(&self, name: &str) -> Result<Box<dyn BackupUpload>, VaultError> {
        let upload = self.inner.start_backup(name).await?;
        Ok(Box::new(TrackedUpload {
            attempt: upload.attempt().to_string(),
            inner: Some(upload),
            abandoned: self.abandoned.clone(),
        }))
    }

    async fn list_backups(&self) -> Result<Vec<BackupRecord>, VaultError> {
        self.inner.list_backups().await
    }

    async fn backup(&self, name: &str) -> Result<Option<BackupRecord>, VaultError> {
        self.inner.backup(name).await
    }

    async fn download_archive(&self, name: &str) -> Result<VerifiedArchive, VaultError> {
        self.inner.download_archive(name).await
    }

    async fn archive_stream(&self, name: &str) -> Result<ArchiveStream, VaultError> {
        self.inner.archive_stream(name).await
    }

    async fn backup_companions(&self, name: &str) -> Result<BackupCompanions, VaultError> {
        self.inner.backup_companions(name).await
    }

    async fn put_restore(
        &self,
        record: &RestoreRecord,
        companions: &RestoreCompanions,
    ) -> Result<(), VaultError> {
        self.inner.put_restore(record, companions).await
    }

    async fn restore(&self, name: &str) -> Result<Option<RestoreRecord>, VaultError> {
        self.inner.restore(name).await
    }

    async fn delete_restore(&self, name: &str) -> Result<(), VaultError> {
        self.inner.delete_restore(name).await
    }

    async fn delete_backup(&self, name: &str) -> Result<(), VaultError> {
        self.inner.delete_backup(name).await
    }

    async fn list_records(&self) -> Result<Vec<BackupRecord>, VaultError> {
        self.inner.list_records().await
    }

    async fn backup_record(&self, name: &str) -> Result<Option<BackupRecord>, VaultError> {
        self.inner.backup_record(name).await
    }

    async fn backup_logs(&self, name: &str) -> Result<Vec<u8>, VaultError> {
        self.inner.backup_logs(name).await
    }

    async fn restore_logs(&self, name: &str) -> Result<Vec<u8>, VaultError> {
        self.inner.restore_logs(name).await
    }

    async fn expired_backups(&self, now: Timestamp) -> Result<Vec<BackupRecord>, VaultError> {
        self.inner.expired_backups(now).await
    }

    async fn remove_orphans(
        &self,
        now: Timestamp,
        grace: Duration,
    ) -> Result<OrphanReport, VaultError> {
        self.inner.remove_orphans(now, grace).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use csdr_core::model::{BackupSpec, JobPhase, JobStatus};
    use csdr_core::vault::{BlobVault, MemoryBlobStore, VaultIdentity, VaultOptions};

    async fn vault() -> (Arc<dyn Vault>, Abandoned, TrackedVault) {
        let inner: Arc<dyn Vault> = Arc::new(
            BlobVault::open(
                VaultIdentity::new("t", "memory://"),
                Arc::new(MemoryBlobStore::new()),
                VaultOptions::default(),
            )
            .await
            .unwrap(),
        );
        let abandoned = Abandoned::default();
        let tracked = TrackedVault::new(inner.clone(), abandoned.clone());
        (inner, abandoned, tracked)
    }

    #[tokio::test]
    async fn a_dropped_upload_is_kept_and_its_abort_frees_the_name() {
        let (inner, abandoned, tracked) = vault().await;
        let mut upload = tracked.start_backup("nightly").await.unwrap();
        upload.write(Bytes::from_static(b"half")).await.unwrap();
        drop(upload); // the job was cancelled
        assert_eq!(abandoned.len(), 1);
        // Until aborted the name is taken (an upload in progress).
        let err = inner.start_backup("nightly").await.err().unwrap();
        assert!(err.to_string().contains("being uploaded"), "{err}");
        assert!(abandoned.abort_all(Duration::from_secs(5)).await.is_empty());
        assert!(abandoned.is_empty());
        inner
            .start_backup("nightly")
            .await
            .unwrap()
            .abort()
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_finished_upload_is_not_kept() {
        let (inner, abandoned, tracked) = vault().await;
        let mut upload = tracked.start_backup("done").await.unwrap();
        upload.write(Bytes::from_static(b"data")).await.unwrap();
        let status = JobStatus {
            phase: JobPhase::Completed,
            ..JobStatus::default()
        };
        let record = BackupRecord::new(
            BackupSpec::new("done"),
            status,
            "2026-11-24T04:00:00Z".parse().unwrap(),
        );
        let companions = BackupCompanions::default().encode("done").unwrap();
        upload.commit(record, companions).await.unwrap();
        tracked
            .start_backup("aborted")
            .await
            .unwrap()
            .abort()
            .await
            .unwrap();
        assert!(abandoned.is_empty());
        assert!(inner.backup("done").await.unwrap().is_some());
    }
}
