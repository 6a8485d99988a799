//! Writing the backup tarball: objects in, gzip-compressed tar out, streaming.

use std::io::{self, Write};

use flate2::Compression;
use sha2::{Digest, Sha256};

use super::gzip::MemberGzWriter;
use super::layout::{FORMAT_VERSION, FORMAT_VERSION_PATH, ItemPath, VersionDir};
use super::{ArchiveError, ArchiveItem, ArchiveSummary, hex};
use crate::model::EntryDigest;

/// How an [`ArchiveWriter`] writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriterOptions {
    /// The mtime of every entry, in seconds since the Unix epoch (e.g. the backup's start
    /// time, or 0). Fixed so that the same objects give the same bytes.
    pub mtime: u64,
    /// The gzip level, 0–9 (default 6, as `gzip` and Go's `gzip.DefaultCompression`).
    pub compression_level: u32,
    /// Compression threads; 1 compresses on the caller's thread. The output bytes do not depend
    /// on it. Default: the available parallelism, at most 4.
    pub threads: usize,
    /// Bytes of tar per gzip member (default 1 MiB). Changing it changes the output bytes.
    pub block_size: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            mtime: 0,
            compression_level: 6,
            threads: std::thread::available_parallelism()
                .map(|n| n.get().min(4))
                .unwrap_or(1),
            block_size: 1 << 20,
        }
    }
}

/// Counts and hashes the compressed bytes on their way to the caller's writer.
struct DigestWriter<W: Write> {
    inner: W,
    sha: Sha256,
    size: u64,
}

impl<W: Write> Write for DigestWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Receives the path, SHA-256 and size of every entry an [`ArchiveWriter`] writes, in order,
/// as soon as the entry is in the tar stream (V7).
///
/// A `Vec<EntryDigest>` collects them (what [`ArchiveWriter::new`] uses); the engine streams
/// them into the backup's entry-digests file
/// ([`EntryDigestsWriter`](crate::vault_record::EntryDigestsWriter)) instead, so that memory
/// does not grow with the number of objects.
pub trait EntryDigestSink {
    /// One entry: its path inside the archive, the lower-case hex SHA-256 of its bytes and
    /// their size. An error stops the archive ([`ArchiveError::Write`] naming the entry).
    fn entry(&mut self, path: &str, sha256: &str, size: u64) -> io::Result<()>;
}

impl EntryDigestSink for Vec<EntryDigest> {
    fn entry(&mut self, path: &str, sha256: &str, size: u64) -> io::Result<()> {
        self.push(EntryDigest {
            path: path.to_string(),
            sha256: sha256.to_string(),
            size,
        });
        Ok(())
    }
}

/// Writes a backup tarball in Velero's layout (see [the module](super)) to any `Write`.
///
/// Entries are written in the order of [`ArchiveWriter::add`] calls, each with mode 0644,
/// uid/gid 0, no user or group names and the fixed mtime of [`WriterOptions::mtime`], so the
/// same items in the same order give byte-identical output. Each entry's digest goes to the
/// [`EntryDigestSink`] `D` as it is written; apart from what that sink keeps, memory does not
/// grow with the number of objects.
pub struct ArchiveWriter<W: Write, D: EntryDigestSink = Vec<EntryDigest>> {
    tar: Option<tar::Builder<MemberGzWriter<DigestWriter<W>>>>,
    mtime: u64,
    json: Vec<u8>,
    digests: D,
    last_path: String,
    entries: u64,
    objects: u64,
}

impl<W: Write> ArchiveWriter<W> {
    /// Starts an archive that collects its entries' digests in memory (returned by
    /// [`ArchiveWriter::finish`]): spawns the compression workers and writes
    /// `metadata/version`.
    pub fn new(out: W, options: WriterOptions) -> Result<Self, ArchiveError> {
        ArchiveWriter::with_digest_sink(out, Vec::new(), options)
    }
}

impl<W: Write, D: EntryDigestSink> ArchiveWriter<W, D> {
    /// Starts an archive whose entries' digests go to `digests` as they are written.
    pub fn with_digest_sink(
        out: W,
        digests: D,
        options: WriterOptions,
    ) -> Result<Self, ArchiveError> {
        let level = Compression::new(options.compression_level.min(9));
        let digest = DigestWriter {
            inner: out,
            sha: Sha256::new(),
            size: 0,
        };
        let gz = MemberGzWriter::new(digest, level, options.threads, options.block_size).map_err(
            |source| ArchiveError::Write {
                path: FORMAT_VERSION_PATH.to_string(),
                source,
            },
        )?;
        let mut writer = ArchiveWriter {
            tar: Some(tar::Builder::new(gz)),
            mtime: options.mtime,
            json: Vec::new(),
            digests,
            last_path: String::new(),
            entries: 0,
            objects: 0,
        };
        let version = format!("{FORMAT_VERSION}\n");
        writer.append(FORMAT_VERSION_PATH, version.as_bytes(), None)?;
        Ok(writer)
    }

    /// Adds one object: at the plain path and under `<version>-preferredversion/` if its
    /// placement is the preferred version (as Velero's `item_backupper.go` does), else under
    /// `<version>/`. Returns an error, and writes nothing, if a name, namespace or placement
    /// cannot be a path in the layout.
    pub fn add(&mut self, item: &ArchiveItem) -> Result<(), ArchiveError> {
        let object = &item.object;
        let gvr = &item.placement.resource;
        let namespace = object.namespace();
        let version_dir = if item.placement.preferred {
            VersionDir::Preferred(gvr.version.clone())
        } else {
            VersionDir::Served(gvr.version.clone())
        };
        let versioned = ItemPath::new(
            &gvr.resource,
            &gvr.group,
            version_dir,
            namespace,
            object.name(),
        )?;
        self.json.clear();
        serde_json::to_writer(&mut self.json, object.fields()).map_err(|source| {
            ArchiveError::Serialize {
                path: versioned.to_string(),
                source,
            }
        })?;
        let json = std::mem::take(&mut self.json);
        let sha = hex(&Sha256::digest(&json));
        let result = (|| {
            if item.placement.preferred {
                let plain = ItemPath {
                    version_dir: VersionDir::Unversioned,
                    ..versioned.clone()
                };
                self.append(&plain.to_string(), &json, Some(&sha))?;
            }
            self.append(&versioned.to_string(), &json, Some(&sha))
        })();
        self.json = json;
        result?;
        self.objects += 1;
        Ok(())
    }

    fn append(&mut self, path: &str, data: &[u8], sha: Option<&str>) -> Result<(), ArchiveError> {
        let Some(tar) = self.tar.as_mut() else {
            return Err(ArchiveError::WriterFailed);
        };
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(self.mtime);
        if let Err(source) = tar.append_data(&mut header, path, data) {
            // The tar stream may now hold half an entry: refuse to go on.
            self.tar = None;
            return Err(ArchiveError::Write {
                path: path.to_string(),
                source,
            });
        }
        let computed;
        let sha256 = match sha {
            Some(sha) => sha,
            None => {
                computed = hex(&Sha256::digest(data));
                &computed
            }
        };
        if let Err(source) = self.digests.entry(path, sha256, data.len() as u64) {
            self.tar = None;
            return Err(ArchiveError::Write {
                path: path.to_string(),
                source,
            });
        }
        self.entries += 1;
        self.last_path.clear();
        self.last_path.push_str(path);
        Ok(())
    }

    /// Ends the tar stream, compresses and writes what is left; returns the summary, the
    /// writer the archive went to and the digest sink.
    pub fn finish(mut self) -> Result<(ArchiveSummary, W, D), ArchiveError> {
        let last = std::mem::take(&mut self.last_path);
        let fail = |source| ArchiveError::Write {
            path: format!("the end of the archive (after {last})"),
            source,
        };
        let tar = self.tar.take().ok_or(ArchiveError::WriterFailed)?;
        let gz = tar.into_inner().map_err(fail)?;
        let digest = gz.finish().map_err(fail)?;
        let summary = ArchiveSummary {
            entries: self.entries,
            objects: self.objects,
            tarball_sha256: hex(&digest.sha.finalize()),
            tarball_size: digest.size,
        };
        Ok((summary, digest.inner, self.digests))
    }
}
