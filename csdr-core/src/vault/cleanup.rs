//! Removing data: deletion behind a marker (V6), the cleanup of attempts, the copy that
//! finishes a commit, and garbage collection of orphans (B10).

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use jiff::Timestamp;

use super::{Inner, layout};
use crate::ports::blob_store::BlobError;
use crate::ports::vault::{OrphanReport, VaultError};
use crate::vault_record::{BackupRecord, RESTORE_RECORD_FILE};
use layout::BackupKey;

impl Inner {
    pub(super) async fn mark_deleted(&self, name: &str) -> Result<(), VaultError> {
        let body = Bytes::from(format!("{{\"backup\":\"{name}\"}}"));
        // Create-only so that OSS's x-oss-forbid-overwrite never gets in the way; a marker
        // already there is as good as a new one.
        self.put_create(&layout::deletion_marker(name), body)
            .await?;
        Ok(())
    }

    /// Removes a backup's objects: metadata first, the deletion marker last.
    pub(super) async fn finish_deletion(&self, name: &str) -> Result<Vec<String>, VaultError> {
        self.delete(&layout::backup_metadata(name)).await?;
        let marker = layout::deletion_marker(name);
        let rest: Vec<String> = self
            .list(&layout::backup_dir(name))
            .await?
            .into_iter()
            .map(|m| m.key)
            .filter(|k| *k != marker)
            .collect();
        self.delete_all(rest.clone()).await?;
        self.delete(&marker).await?;
        let mut removed = rest;
        removed.push(marker);
        Ok(removed)
    }

    pub(super) async fn remove_attempt(
        &self,
        name: &str,
        attempt: &str,
    ) -> Result<Vec<String>, VaultError> {
        let keys: Vec<String> = self
            .list(&layout::attempt_dir(name, attempt))
            .await?
            .into_iter()
            .map(|m| m.key)
            .collect();
        // The claim last, so an interrupted cleanup still shows the attempt.
        let claim = layout::attempt_file(name, attempt, layout::ATTEMPT_CLAIM_FILE);
        let data: Vec<String> = keys.iter().filter(|k| **k != claim).cloned().collect();
        self.delete_all(data).await?;
        self.delete(&claim).await?;
        Ok(keys)
    }

    /// Copies a committed attempt's files to Velero's keys, then removes the attempt folder.
    pub(super) async fn finish_commit(&self, record: &BackupRecord) -> Result<(), VaultError> {
        let (name, Some(attempt)) = (record.name(), record.attempt.as_deref()) else {
            return Ok(());
        };
        let digests = record.archive.iter().chain(record.files.iter());
        for d in digests {
            let to = layout::backup_file(name, &d.path);
            let present = match self.store.head(&to).await {
                Ok(meta) => meta.size == d.size,
                Err(BlobError::NotFound { .. }) => false,
                Err(e) => return Err(self.err("head", &to, e)),
            };
            if present {
                continue;
            }
            let from = layout::attempt_file(name, attempt, &d.path);
            self.store
                .copy(&from, &to)
                .await
                .map_err(|e| self.err("copy", &from, e))?;
        }
        self.remove_attempt(name, attempt).await?;
        Ok(())
    }

    pub(super) async fn delete_backup(&self, name: &str) -> Result<(), VaultError> {
        layout::check_name("backup", name)?;
        let inner = self;
        if inner.list(&layout::backup_dir(name)).await?.is_empty() {
            return Ok(());
        }
        inner.mark_deleted(name).await?;
        inner.finish_deletion(name).await?;
        Ok(())
    }

    /// Removes `restores/<name>/`: its files first, the record last (an interrupted
    /// deletion stays visible and is finished by the next call).
    pub(super) async fn delete_restore(&self, name: &str) -> Result<(), VaultError> {
        layout::check_name("restore", name)?;
        let record = layout::restore_file(name, RESTORE_RECORD_FILE);
        let files: Vec<String> = self
            .list(&layout::restore_dir(name))
            .await?
            .into_iter()
            .map(|m| m.key)
            .filter(|k| *k != record)
            .collect();
        self.delete_all(files).await?;
        self.delete(&record).await
    }

    pub(super) async fn remove_orphans(
        &self,
        now: Timestamp,
        grace: Duration,
    ) -> Result<OrphanReport, VaultError> {
        let inner = self;
        let grace = jiff::SignedDuration::try_from(grace).unwrap_or(jiff::SignedDuration::MAX);
        let cutoff = now.checked_sub(grace).unwrap_or(Timestamp::MIN);
        let mut report = OrphanReport::default();

        #[derive(Default)]
        struct Group {
            metadata: bool,
            deleting: bool,
            /// attempt id → (newest object time, keys)
            attempts: BTreeMap<String, (Timestamp, Vec<String>)>,
            /// files at Velero's keys → time
            files: Vec<(String, Timestamp)>,
        }
        let mut groups: BTreeMap<String, Group> = BTreeMap::new();
        for m in inner.list(layout::BACKUPS).await? {
            let Some((name, key)) = layout::classify(&m.key) else {
                continue;
            };
            let g = groups.entry(name).or_default();
            let t = m.last_modified;
            match key {
                BackupKey::Metadata => g.metadata = true,
                BackupKey::DeletionMarker => g.deleting = true,
                BackupKey::Attempt(id, _) => {
                    let e = g.attempts.entry(id).or_insert((t, Vec::new()));
                    e.0 = e.0.max(t);
                    e.1.push(m.key);
                }
                BackupKey::File(_) => g.files.push((m.key, t)),
            }
        }
        for (name, g) in groups {
            if g.deleting {
                report.removed.extend(inner.finish_deletion(&name).await?);
                report.finished_deletions.push(name);
                continue;
            }
            if !g.metadata {
                // Never committed: everything old enough goes.
                for (id, (newest, _)) in &g.attempts {
                    if *newest <= cutoff {
                        report
                            .removed
                            .extend(inner.remove_attempt(&name, id).await?);
                    }
                }
                let old: Vec<String> = g
                    .files
                    .iter()
                    .filter(|(_, t)| *t <= cutoff)
                    .map(|(k, _)| k.clone())
                    .collect();
                inner.delete_all(old.clone()).await?;
                report.removed.extend(old);
                continue;
            }
            let record = match inner.record(&name).await {
                Ok(Some(r)) => r,
                // Unreadable or vanished metadata: touch nothing of a committed backup.
                Ok(None) | Err(VaultError::Corrupt { .. }) => continue,
                Err(e) => return Err(e),
            };
            for (id, (newest, _)) in &g.attempts {
                if *newest > cutoff {
                    continue;
                }
                if record.attempt.as_deref() == Some(id.as_str()) {
                    inner.finish_commit(&record).await?;
                    report.finished_commits.push(name.clone());
                } else {
                    report
                        .removed
                        .extend(inner.remove_attempt(&name, id).await?);
                }
            }
        }
        // Probes of validations that were interrupted (top-level files only).
        for m in inner.list(layout::PROBE_PREFIX).await? {
            if !m.key.contains('/') && m.last_modified <= cutoff {
                inner.delete(&m.key).await?;
                report.removed.push(m.key);
            }
        }
        Ok(report)
    }
}
