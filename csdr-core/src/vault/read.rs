//! Reading backups: visibility (V5), listing, and verification of every byte read against
//! the digests the metadata records (V7), with Velero's keys first and the committing
//! attempt's keys as fallback.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::StreamExt;

use super::crypt::label;
use super::{Inner, join_location, layout};
use crate::crypto::{DataKey, Opener};
use crate::digest::sha256_hex;
use crate::gzip::gunzip;
use crate::model::EntryDigest;
use crate::ports::vault::{ArchiveStream, VaultError, VerifiedArchive};

/// How many bytes of a tarball one ranged read fetches.
pub(crate) const ARCHIVE_CHUNK: u64 = 8 << 20;
use crate::vault_record::{
    BackupCompanions, BackupRecord, CompanionKind, EntryDigestList, archive_file_name,
    entry_digests_file_name,
};
use layout::BackupKey;

impl Inner {
    pub(super) async fn record(&self, name: &str) -> Result<Option<BackupRecord>, VaultError> {
        let key = layout::backup_metadata(name);
        let Some(bytes) = self.get(&key).await? else {
            return Ok(None);
        };
        let record = BackupRecord::from_velero_json(&bytes).map_err(|e| VaultError::Corrupt {
            key: key.clone(),
            reason: e.reason,
        })?;
        if record.name() != name {
            return Err(VaultError::Corrupt {
                key,
                reason: format!("metadata.name is `{}`, expected `{name}`", record.name()),
            });
        }
        Ok(Some(record))
    }

    /// A backup visible to clusters (V5): metadata, restorable phase, no deletion marker.
    pub(super) async fn visible(&self, name: &str) -> Result<Option<BackupRecord>, VaultError> {
        layout::check_name("backup", name)?;
        if self.exists(&layout::deletion_marker(name)).await? {
            return Ok(None);
        }
        Ok(self.record(name).await?.filter(BackupRecord::is_restorable))
    }

    pub(super) async fn visible_or_not_found(
        &self,
        name: &str,
    ) -> Result<BackupRecord, VaultError> {
        self.visible(name)
            .await?
            .ok_or_else(|| VaultError::NotFound {
                what: format!("backup {name}"),
            })
    }

    /// A backup's file: Velero's key first, then the committing attempt's key.
    pub(super) async fn backup_file(
        &self,
        record: &BackupRecord,
        file: &str,
    ) -> Result<Option<(String, Bytes)>, VaultError> {
        let name = record.name();
        let canonical = layout::backup_file(name, file);
        if let Some(b) = self.get(&canonical).await? {
            return Ok(Some((canonical, b)));
        }
        if let Some(attempt) = &record.attempt {
            let key = layout::attempt_file(name, attempt, file);
            if let Some(b) = self.get(&key).await? {
                return Ok(Some((key, b)));
            }
        }
        Ok(None)
    }

    /// Checks stored bytes against their recorded size and SHA-256 (V7).
    pub(super) fn verify(
        &self,
        key: &str,
        bytes: &[u8],
        digest: &EntryDigest,
    ) -> Result<(), VaultError> {
        let size = bytes.len() as u64;
        if size < digest.size {
            return Err(VaultError::Integrity {
                key: self.full_key(key),
                reason: format!("truncated: {size} bytes stored, {} recorded", digest.size),
            });
        }
        if size != digest.size {
            return Err(VaultError::Integrity {
                key: self.full_key(key),
                reason: format!("{size} bytes stored, {} recorded", digest.size),
            });
        }
        let sha = sha256_hex(bytes);
        if sha != digest.sha256 {
            return Err(VaultError::Integrity {
                key: self.full_key(key),
                reason: format!("SHA-256 {sha} differs from the recorded {}", digest.sha256),
            });
        }
        Ok(())
    }

    pub(super) fn full_key(&self, key: &str) -> String {
        join_location(&self.identity.location, key)
    }

    /// A committed backup in any phase, unless it is being deleted.
    pub(super) async fn committed(&self, name: &str) -> Result<Option<BackupRecord>, VaultError> {
        layout::check_name("backup", name)?;
        if self.exists(&layout::deletion_marker(name)).await? {
            return Ok(None);
        }
        self.record(name).await
    }

    /// A committed backup's log, decompressed (V7: checked against its recorded digest).
    pub(super) async fn backup_logs(&self, name: &str) -> Result<Vec<u8>, VaultError> {
        let record = self
            .committed(name)
            .await?
            .ok_or_else(|| VaultError::NotFound {
                what: format!("backup {name}"),
            })?;
        let data_key = self.data_key(&record).await?;
        let file = CompanionKind::Logs.file_name(name);
        let Some((key, gz)) = self.backup_file(&record, &file).await? else {
            if record.file_digest(&file).is_some() {
                return Err(VaultError::Integrity {
                    key: self.full_key(&layout::backup_file(name, &file)),
                    reason: "the log file is missing".into(),
                });
            }
            return Ok(Vec::new());
        };
        if let Some(d) = record.file_digest(&file) {
            self.verify(&key, &gz, d)?;
        }
        let gz = self.open_file(data_key.as_ref(), &label(name, &file), &key, gz)?;
        gunzip(&gz).map_err(|e| VaultError::Corrupt {
            key: self.full_key(&key),
            reason: format!("not gzip: {e}"),
        })
    }

    /// Every committed backup not being deleted: any phase, or only restorable ones (V5).
    pub(super) async fn list_backups(&self) -> Result<Vec<BackupRecord>, VaultError> {
        self.list_committed(true).await
    }

    pub(super) async fn list_committed(
        &self,
        restorable_only: bool,
    ) -> Result<Vec<BackupRecord>, VaultError> {
        let inner = self;
        let mut names: BTreeMap<String, (bool, bool)> = BTreeMap::new();
        for m in inner.list(layout::BACKUPS).await? {
            if let Some((name, key)) = layout::classify(&m.key) {
                let entry = names.entry(name).or_default();
                match key {
                    BackupKey::Metadata => entry.0 = true,
                    BackupKey::DeletionMarker => entry.1 = true,
                    _ => {}
                }
            }
        }
        let candidates: Vec<String> = names
            .into_iter()
            .filter(|(_, (meta, deleting))| *meta && !*deleting)
            .map(|(n, _)| n)
            .collect();
        let records: Vec<_> = futures::stream::iter(candidates)
            .map(|name| async move { (inner.record(&name).await, name) })
            .buffered(8)
            .collect()
            .await;
        let mut out = Vec::new();
        for (r, name) in records {
            match r {
                Ok(Some(record)) if record.is_restorable() || !restorable_only => out.push(record),
                Ok(_) => {}
                // One damaged backup must not hide the others; it is reported and skipped.
                Err(e @ VaultError::Corrupt { .. }) => {
                    tracing::warn!(backup = %name, error = %e, "skipping unreadable backup");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    pub(super) async fn download_archive(&self, name: &str) -> Result<VerifiedArchive, VaultError> {
        let inner = self;
        let record = inner.visible_or_not_found(name).await?;
        let data_key = inner.data_key(&record).await?;
        let file = archive_file_name(name);
        let Some((key, bytes)) = inner.backup_file(&record, &file).await? else {
            return Err(VaultError::Integrity {
                key: inner.full_key(&layout::backup_file(name, &file)),
                reason: "the tarball is missing".into(),
            });
        };
        let Some(digest) = &record.archive else {
            return Ok(VerifiedArchive {
                bytes,
                entry_digests: None,
                warning: Some(format!(
                    "backup {name} has no checksums (written by Velero); {} was not verified",
                    inner.full_key(&key)
                )),
            });
        };
        inner.verify(&key, &bytes, digest)?;
        let entry_digests = inner.entry_digests(&record, data_key.as_ref()).await?;
        let bytes = inner.open_file(data_key.as_ref(), &label(name, &file), &key, bytes)?;
        Ok(VerifiedArchive {
            bytes,
            entry_digests,
            warning: None,
        })
    }

    /// The digests of a backup's entries, from its entry-digests file (verified against the
    /// metadata) or inline in a version-1 record; `None` when it records none.
    async fn entry_digests(
        &self,
        record: &BackupRecord,
        data_key: Option<&DataKey>,
    ) -> Result<Option<EntryDigestList>, VaultError> {
        let name = record.name();
        let digests_file = entry_digests_file_name(name);
        Ok(match record.file_digest(&digests_file) {
            Some(d) => {
                let Some((key, gz)) = self.backup_file(record, &digests_file).await? else {
                    return Err(VaultError::Integrity {
                        key: self.full_key(&layout::backup_file(name, &digests_file)),
                        reason: "the entry-digests file is missing".into(),
                    });
                };
                self.verify(&key, &gz, d)?;
                let gz = self.open_file(data_key, &label(name, &digests_file), &key, gz)?;
                // Decoded as the archive is read (R13); the file was verified against the
                // metadata, so only a backup written wrong has a line that does not decode.
                Some(EntryDigestList::from_gzip(name, gz))
            }
            // A record of version 1 holds the digests inline.
            None => (!record.entries.is_empty())
                .then(|| EntryDigestList::inline(record.entries.clone())),
        })
    }

    /// A backup's file and its size, without reading it: Velero's key first, then the
    /// committing attempt's key.
    async fn backup_file_size(
        &self,
        record: &BackupRecord,
        file: &str,
    ) -> Result<Option<(String, u64)>, VaultError> {
        let name = record.name();
        let mut keys = vec![layout::backup_file(name, file)];
        if let Some(attempt) = &record.attempt {
            keys.push(layout::attempt_file(name, attempt, file));
        }
        for key in keys {
            match self.store.head(&key).await {
                Ok(meta) => return Ok(Some((key, meta.size))),
                Err(crate::ports::blob_store::BlobError::NotFound { .. }) => continue,
                Err(e) => return Err(self.err("head", &key, e)),
            }
        }
        Ok(None)
    }

    /// A backup's tarball in ranged reads of [`ARCHIVE_CHUNK`] bytes, its size and SHA-256
    /// checked as they pass (V7, R13).
    pub(super) async fn archive_stream(
        self: &std::sync::Arc<Self>,
        name: &str,
    ) -> Result<ArchiveStream, VaultError> {
        let record = self.visible_or_not_found(name).await?;
        let data_key = self.data_key(&record).await?;
        let file = archive_file_name(name);
        let Some((key, size)) = self.backup_file_size(&record, &file).await? else {
            return Err(VaultError::Integrity {
                key: self.full_key(&layout::backup_file(name, &file)),
                reason: "the tarball is missing".into(),
            });
        };
        let (expected, entry_digests, warning) = match &record.archive {
            None => (
                None,
                None,
                Some(format!(
                    "backup {name} has no checksums (written by Velero); {} was not verified",
                    self.full_key(&key)
                )),
            ),
            Some(digest) => {
                if size != digest.size {
                    let reason = if size < digest.size {
                        format!("truncated: {size} bytes stored, {} recorded", digest.size)
                    } else {
                        format!("{size} bytes stored, {} recorded", digest.size)
                    };
                    return Err(VaultError::Integrity {
                        key: self.full_key(&key),
                        reason,
                    });
                }
                (
                    Some(digest.clone()),
                    self.entry_digests(&record, data_key.as_ref()).await?,
                    None,
                )
            }
        };
        struct State {
            offset: u64,
            sha: crate::digest::Sha256Hex,
            done: bool,
            /// Decrypts the chunks as they pass, when the backup is encrypted (E2).
            opener: Option<Opener>,
        }
        let inner = self.clone();
        let start = State {
            offset: 0,
            sha: crate::digest::Sha256Hex::default(),
            done: false,
            opener: data_key.map(|k| Opener::new(&k, &label(name, &file))),
        };
        let chunks = futures::stream::unfold(start, move |mut st| {
            let inner = inner.clone();
            let key = key.clone();
            let expected = expected.clone();
            async move {
                if st.done {
                    return None;
                }
                if st.offset >= size {
                    st.done = true;
                    if let Some(digest) = expected {
                        let sha = std::mem::take(&mut st.sha).finish();
                        if sha != digest.sha256 {
                            let reason = format!(
                                "SHA-256 {sha} differs from the recorded {}",
                                digest.sha256
                            );
                            let key = inner.full_key(&key);
                            return Some((Err(VaultError::Integrity { key, reason }), st));
                        }
                    }
                    // The last chunk is released only once it authenticates as the last.
                    let opener = st.opener.take()?;
                    let mut out = Vec::new();
                    return Some(match opener.finish(&mut out) {
                        Ok(()) => (Ok(Bytes::from(out)), st),
                        Err(e) => {
                            let key = inner.full_key(&key);
                            let reason = e.to_string();
                            (Err(VaultError::Integrity { key, reason }), st)
                        }
                    });
                }
                let end = (st.offset + ARCHIVE_CHUNK).min(size);
                match inner.store.get_range(&key, st.offset..end).await {
                    Ok(bytes) if bytes.is_empty() => {
                        st.done = true;
                        let reason = format!("truncated: ends at {} of {size} bytes", st.offset);
                        let key = inner.full_key(&key);
                        Some((Err(VaultError::Integrity { key, reason }), st))
                    }
                    Ok(bytes) => {
                        st.sha.update(&bytes);
                        st.offset += bytes.len() as u64;
                        let Some(opener) = st.opener.as_mut() else {
                            return Some((Ok(bytes), st));
                        };
                        let mut out = Vec::with_capacity(bytes.len());
                        match opener.update(&bytes, &mut out) {
                            Ok(()) => Some((Ok(Bytes::from(out)), st)),
                            Err(e) => {
                                st.done = true;
                                let key = inner.full_key(&key);
                                let reason = e.to_string();
                                Some((Err(VaultError::Integrity { key, reason }), st))
                            }
                        }
                    }
                    Err(e) => {
                        st.done = true;
                        Some((Err(inner.err("get", &key, e)), st))
                    }
                }
            }
        });
        Ok(ArchiveStream {
            chunks: chunks.boxed(),
            entry_digests,
            warning,
        })
    }

    pub(super) async fn backup_companions(
        &self,
        name: &str,
        kinds: &[CompanionKind],
    ) -> Result<BackupCompanions, VaultError> {
        let inner = self;
        let record = inner.visible_or_not_found(name).await?;
        let data_key = inner.data_key(&record).await?;
        let mut files = BTreeMap::new();
        for &kind in kinds {
            let file = kind.file_name(name);
            if let Some((key, bytes)) = inner.backup_file(&record, &file).await? {
                if let Some(d) = record.file_digest(&file) {
                    inner.verify(&key, &bytes, d)?;
                }
                let bytes = inner.open_file(data_key.as_ref(), &label(name, &file), &key, bytes)?;
                files.insert(file, bytes);
            } else if let Some(d) = record.file_digest(&file) {
                return Err(VaultError::Integrity {
                    key: inner.full_key(&layout::backup_file(name, &d.path)),
                    reason: "the file is missing".into(),
                });
            }
        }
        BackupCompanions::decode(name, |kind| {
            files.get(&kind.file_name(name)).map(|b| b.to_vec())
        })
        .map_err(|e| VaultError::Corrupt {
            key: inner.full_key(&layout::backup_file(name, &e.file)),
            reason: e.reason,
        })
    }
}
