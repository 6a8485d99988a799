//! One backup upload attempt of [`BlobVault`](super::BlobVault): the streamed files, the
//! create-only commit and the cleanup of a lost or abandoned attempt.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::crypt::{key_error, label};
use super::{Created, Inner, layout};
use crate::crypto::{DataKey, EncryptionRecord, Sealer, seal};
use crate::digest::{Sha256Hex, sha256_hex};
use crate::model::{EntryDigest, JobPhase};
use crate::ports::blob_store::{BlobUpload, UploadOptions};
use crate::ports::vault::{BackupUpload, VaultError};
use crate::vault_record::{BackupRecord, CompanionFile, entry_digests_file_name};

/// An attempt's claim file.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AttemptClaim {
    pub backup: String,
    pub attempt: String,
}

/// One file of an upload attempt streamed to the store, hashed on the way.
pub(super) struct StreamedFile {
    /// The file name (`<name>.tar.gz`, …).
    file: String,
    /// Its key under the attempt's folder.
    key: String,
    upload: Option<Box<dyn BlobUpload>>,
    /// Hashes what is stored: the ciphertext when the file is sealed.
    digest: Sha256Hex,
    /// Seals the file as it streams, when the backup is encrypted (E2).
    sealer: Option<Sealer>,
}

impl StreamedFile {
    pub(super) async fn open(
        inner: &Inner,
        name: &str,
        attempt: &str,
        file: String,
        in_flight: usize,
        data_key: Option<&DataKey>,
    ) -> Result<Self, VaultError> {
        let key = layout::attempt_file(name, attempt, &file);
        let sealer = data_key.map(|k| Sealer::new(k, inner.salt(), &label(name, &file)));
        let upload = inner
            .store
            .start_upload(&key, UploadOptions::parts_in_flight(in_flight.max(1)))
            .await
            .map_err(|e| inner.err("upload", &key, e))?;
        Ok(StreamedFile {
            file,
            upload: Some(upload),
            key,
            digest: Sha256Hex::default(),
            sealer,
        })
    }

    fn finished(&self, name: &str) -> VaultError {
        VaultError::InvalidInput {
            what: format!("upload of {} of backup {name}", self.file),
            reason: "already finished".into(),
        }
    }

    async fn write(&mut self, inner: &Inner, name: &str, chunk: Bytes) -> Result<(), VaultError> {
        let error = self.finished(name);
        let upload = self.upload.as_mut().ok_or(error)?;
        let chunk = match self.sealer.as_mut() {
            None => chunk,
            Some(sealer) => {
                let mut out = Vec::with_capacity(chunk.len() + 64);
                sealer
                    .update(&chunk, &mut out)
                    .map_err(|e| key_error(&format!("backup {name}"), e))?;
                if out.is_empty() {
                    return Ok(());
                }
                Bytes::from(out)
            }
        };
        self.digest.update(&chunk);
        upload
            .write(chunk)
            .await
            .map_err(|e| inner.err("upload", &self.key, e))
    }

    /// Completes the upload; the file's digest.
    async fn finish(&mut self, inner: &Inner, name: &str) -> Result<EntryDigest, VaultError> {
        let error = self.finished(name);
        let mut upload = self.upload.take().ok_or(error)?;
        if let Some(sealer) = self.sealer.take() {
            let mut out = Vec::new();
            sealer
                .finish(&mut out)
                .map_err(|e| key_error(&format!("backup {name}"), e))?;
            self.digest.update(&out);
            upload
                .write(Bytes::from(out))
                .await
                .map_err(|e| inner.err("upload", &self.key, e))?;
        }
        upload
            .complete()
            .await
            .map_err(|e| inner.err("upload", &self.key, e))?;
        let digest = std::mem::take(&mut self.digest);
        Ok(EntryDigest {
            path: self.file.clone(),
            size: digest.size(),
            sha256: digest.finish(),
        })
    }

    /// Aborts an unfinished upload.
    async fn abort(&mut self, inner: &Inner) -> Result<(), VaultError> {
        if let Some(u) = self.upload.take() {
            u.abort()
                .await
                .map_err(|e| inner.err("abort", &self.key, e))?;
        }
        Ok(())
    }
}

/// One upload attempt of [`BlobVault`](super::BlobVault).
pub(super) struct BlobBackupUpload {
    inner: Arc<Inner>,
    name: String,
    attempt: String,
    archive: StreamedFile,
    /// Opened on the first chunk of the entry-digests file.
    entry_digests: Option<StreamedFile>,
    /// The backup's data key and its wrapped record, when the vault encrypts (E2).
    encryption: Option<(DataKey, EncryptionRecord)>,
}

impl BlobBackupUpload {
    pub(super) fn new(
        inner: Arc<Inner>,
        name: String,
        attempt: String,
        archive: StreamedFile,
        encryption: Option<(DataKey, EncryptionRecord)>,
    ) -> Self {
        BlobBackupUpload {
            inner,
            name,
            attempt,
            archive,
            entry_digests: None,
            encryption,
        }
    }

    async fn cleanup(inner: &Inner, name: &str, attempt: &str) {
        if let Err(e) = inner.remove_attempt(name, attempt).await {
            tracing::warn!(backup = %name, attempt = %attempt, error = %e,
                "could not remove an abandoned attempt; remove_orphans will");
        }
    }

    async fn abort_streams(&mut self) -> Result<(), VaultError> {
        let archive = self.archive.abort(&self.inner).await;
        if let Some(d) = self.entry_digests.as_mut() {
            d.abort(&self.inner).await?;
        }
        archive
    }

    /// Commits the record: with the streamed files (`failed` false), or without them for a
    /// failed backup (`failed` true: they are aborted and the record carries no archive).
    async fn commit_inner(
        &mut self,
        mut record: BackupRecord,
        companions: Vec<CompanionFile>,
        failed: bool,
    ) -> Result<BackupRecord, VaultError> {
        let inner = self.inner.clone();
        let name = self.name.clone();
        if record.name() != name {
            return Err(VaultError::InvalidInput {
                what: format!("record for backup {name}"),
                reason: format!("its spec.name is `{}`", record.name()),
            });
        }
        if failed && record.status.phase != JobPhase::Failed {
            return Err(VaultError::InvalidInput {
                what: format!("failure record for backup {name}"),
                reason: format!(
                    "its phase is {}; record_failure records only Failed backups",
                    record.status.phase
                ),
            });
        }
        record.attempt = Some(self.attempt.clone());
        record.encryption = self.encryption.as_ref().map(|(_, r)| r.clone());
        record.files.clear();
        if failed {
            // Data first, metadata last still holds: nothing of the tarball is kept.
            self.abort_streams().await?;
            record.archive = None;
            record.entries.clear();
        } else {
            record.archive = Some(self.archive.finish(&inner, &name).await?);
            if let Some(digests) = self.entry_digests.as_mut() {
                record.files.push(digests.finish(&inner, &name).await?);
            }
        }
        for f in companions {
            let file = f.kind.file_name(&name);
            let stored = match &self.encryption {
                None => f.gzip,
                Some((key, _)) => seal(key, inner.salt(), &label(&name, &file), &f.gzip)
                    .map_err(|e| key_error(&format!("backup {name}"), e))?,
            };
            record.files.push(EntryDigest {
                path: file.clone(),
                sha256: sha256_hex(&stored),
                size: stored.len() as u64,
            });
            inner
                .put(
                    &layout::attempt_file(&name, &self.attempt, &file),
                    stored.into(),
                )
                .await?;
        }
        let metadata = record.to_velero_json()?;
        let key = layout::backup_metadata(&name);
        let outcome = inner.put_create(&key, metadata.into()).await;
        let won = match outcome {
            Ok(Created::Yes) => true,
            Ok(Created::AlreadyThere) => false,
            Err(e) => {
                // The outcome is unknown: read back who holds the name.
                match inner.record(&name).await {
                    Ok(Some(r)) if r.attempt.as_deref() == Some(self.attempt.as_str()) => true,
                    Ok(Some(_)) => false,
                    _ => return Err(e),
                }
            }
        };
        if !won {
            let state = inner
                .taken(&name)
                .await
                .ok()
                .flatten()
                .unwrap_or_else(|| "was committed by another attempt".into());
            return Err(VaultError::AlreadyExists { name, state });
        }
        if let Err(e) = inner.finish_commit(&record).await {
            tracing::warn!(backup = %name, error = %e,
                "backup committed; copying to Velero's keys failed and is finished by remove_orphans");
        }
        Ok(record)
    }
}

#[async_trait]
impl BackupUpload for BlobBackupUpload {
    fn attempt(&self) -> &str {
        &self.attempt
    }

    async fn write(&mut self, chunk: Bytes) -> Result<(), VaultError> {
        self.archive.write(&self.inner, &self.name, chunk).await
    }

    async fn write_entry_digests(&mut self, chunk: Bytes) -> Result<(), VaultError> {
        let digests = match &mut self.entry_digests {
            Some(d) => d,
            opened @ None => {
                let file = entry_digests_file_name(&self.name);
                let key = self.encryption.as_ref().map(|(k, _)| k);
                let d = StreamedFile::open(&self.inner, &self.name, &self.attempt, file, 1, key)
                    .await?;
                opened.insert(d)
            }
        };
        digests.write(&self.inner, &self.name, chunk).await
    }

    async fn commit(
        self: Box<Self>,
        record: BackupRecord,
        companions: Vec<CompanionFile>,
    ) -> Result<BackupRecord, VaultError> {
        self.commit_or_record_failure(record, companions, false)
            .await
    }

    async fn record_failure(
        self: Box<Self>,
        record: BackupRecord,
        companions: Vec<CompanionFile>,
    ) -> Result<BackupRecord, VaultError> {
        self.commit_or_record_failure(record, companions, true)
            .await
    }

    async fn abort(mut self: Box<Self>) -> Result<(), VaultError> {
        self.abort_streams().await?;
        self.inner.remove_attempt(&self.name, &self.attempt).await?;
        Ok(())
    }
}

impl BlobBackupUpload {
    async fn commit_or_record_failure(
        mut self: Box<Self>,
        record: BackupRecord,
        companions: Vec<CompanionFile>,
        failed: bool,
    ) -> Result<BackupRecord, VaultError> {
        match self.commit_inner(record, companions, failed).await {
            Ok(r) => Ok(r),
            Err(e) => {
                // Lost or failed before the commit point: only this attempt's data goes. A
                // commit whose outcome stayed unknown keeps its data (remove_orphans decides).
                let holder = self.inner.record(&self.name).await;
                let ours_or_unknown = match &holder {
                    Ok(Some(r)) => r.attempt.as_deref() == Some(self.attempt.as_str()),
                    Ok(None) => false,
                    Err(_) => true,
                };
                if !ours_or_unknown {
                    let _ = self.abort_streams().await;
                    Self::cleanup(&self.inner, &self.name, &self.attempt).await;
                }
                Err(e)
            }
        }
    }
}
