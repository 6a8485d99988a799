//! The backup files that grow with the number of objects, written while the backup runs.
//!
//! A backup of a million objects must not hold a million of anything in memory. Two of its
//! files have a line or a name per object, so they are encoded as the archive is written
//! instead of being built at the end:
//!
//! - the entry-digests file `<name>-entry-digests.jsonl.gz` (V7): one JSON line per tarball
//!   entry, in archive order, `{"path":"…","sha256":"…","size":N}`. [`EntryDigestsWriter`] is
//!   the archive writer's [`EntryDigestSink`] and streams the lines through gzip to the vault;
//!   the metadata records this file's SHA-256 (as it records the tarball's), so every object's
//!   digest is still anchored in the metadata without making `velero-backup.json` grow with
//!   the backup (Velero reads that file for every backup on every sync).
//!   [`decode_entry_digests`] reads it back for the restore's verification.
//! - the resource list `<name>-resource-list.json.gz` (Velero's
//!   `{"apps/v1/Deployment": ["ns/name", …]}`): [`ResourceListWriter`] writes the JSON
//!   through gzip into memory as names arrive (a few bytes per name), with each type's names
//!   together.
//!
//! ```
//! use csdr_core::archive::EntryDigestSink;
//! use csdr_core::vault_record::{
//!     BackupCompanions, CompanionKind, EntryDigestsWriter, ResourceListWriter, decode_entry_digests,
//! };
//!
//! let mut digests = EntryDigestsWriter::new(Vec::new());
//! digests.entry("metadata/version", &"ab".repeat(32), 6)?;
//! let gz = digests.finish()?;
//! let back = decode_entry_digests("nightly", &gz)?;
//! assert_eq!(back[0].path, "metadata/version");
//!
//! let mut list = ResourceListWriter::new();
//! list.push("apps/v1/Deployment", "shop/web");
//! list.push("apps/v1/Deployment", "shop/api");
//! list.push("v1/Namespace", "shop");
//! assert_eq!(list.counts()["apps/v1/Deployment"], 2);
//! let file = list.finish("nightly")?;
//! assert_eq!(file.kind, CompanionKind::ResourceList);
//! let decoded = BackupCompanions::decode("nightly", |k| (k == CompanionKind::ResourceList).then(|| file.gzip.clone()))?;
//! assert_eq!(decoded.resource_list["apps/v1/Deployment"], ["shop/web", "shop/api"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufRead, Write};

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Serialize;

use super::{CompanionFile, CompanionKind, RecordError, ResourceList};
use crate::archive::EntryDigestSink;
use crate::gzip::{gunzip, gzip};
use crate::model::EntryDigest;

/// The entry-digests file's name for a backup: `<backup>-entry-digests.jsonl.gz`.
pub fn entry_digests_file_name(backup: &str) -> String {
    format!("{backup}-entry-digests.jsonl.gz")
}

/// One line of the entry-digests file, borrowed.
#[derive(Serialize)]
struct DigestLine<'a> {
    path: &'a str,
    sha256: &'a str,
    size: u64,
}

/// Streams entry digests as gzip-compressed JSON lines into any `Write` (see [the
/// module](self)); an [`EntryDigestSink`] for the archive writer.
pub struct EntryDigestsWriter<W: Write> {
    gz: GzEncoder<W>,
    line: Vec<u8>,
}

impl<W: Write> EntryDigestsWriter<W> {
    /// A writer into `out`. Compression is gzip's fastest level: the lines are mostly hex
    /// digests, which no level compresses much further.
    pub fn new(out: W) -> Self {
        EntryDigestsWriter {
            gz: GzEncoder::new(out, Compression::fast()),
            line: Vec::with_capacity(256),
        }
    }

    /// Ends the gzip stream and gives back the writer.
    pub fn finish(self) -> io::Result<W> {
        self.gz.finish()
    }
}

impl<W: Write> EntryDigestSink for EntryDigestsWriter<W> {
    fn entry(&mut self, path: &str, sha256: &str, size: u64) -> io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, &DigestLine { path, sha256, size })?;
        self.line.push(b'\n');
        self.gz.write_all(&self.line)
    }
}

/// Reads an entry-digests file (gzip of JSON lines) of backup `backup`. An unreadable line
/// is an error naming the file and the line number; blank lines are skipped.
///
/// A restore does not collect the digests: it reads them with [`EntryDigestList`] as it
/// reads the archive.
pub fn decode_entry_digests(backup: &str, gz: &[u8]) -> Result<Vec<EntryDigest>, RecordError> {
    EntryDigestList::from_gzip(backup, Bytes::copy_from_slice(gz))
        .iter()
        .collect()
}

/// A backup's entry digests (V7), kept as the entry-digests file holds them (gzip of JSON
/// lines, a few dozen bytes an entry) and decoded one at a time, in listed order, as the
/// restore reads the archive: a million entries are never a million values in memory (R13).
/// A version-1 record's inline digests are kept as they are.
///
/// ```
/// use bytes::Bytes;
/// use csdr_core::archive::EntryDigestSink;
/// use csdr_core::vault_record::{EntryDigestList, EntryDigestsWriter};
///
/// let mut w = EntryDigestsWriter::new(Vec::new());
/// w.entry("metadata/version", &"ab".repeat(32), 6)?;
/// w.entry("resources/pods/namespaces/shop/web.json", &"cd".repeat(32), 310)?;
/// let list = EntryDigestList::from_gzip("nightly", Bytes::from(w.finish()?));
/// let paths: Vec<String> = list.iter().map(|d| d.map(|d| d.path)).collect::<Result<_, _>>()?;
/// assert_eq!(paths, ["metadata/version", "resources/pods/namespaces/shop/web.json"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct EntryDigestList(Listed);

#[derive(Clone, PartialEq, Eq)]
enum Listed {
    /// The entry-digests file of a backup, still compressed.
    Gzip { backup: String, gz: Bytes },
    /// Digests a version-1 record holds inline.
    Inline(std::sync::Arc<[EntryDigest]>),
}

impl EntryDigestList {
    /// The digests of backup `backup`'s entry-digests file, `gz` (decrypted).
    pub fn from_gzip(backup: &str, gz: Bytes) -> Self {
        EntryDigestList(Listed::Gzip {
            backup: backup.to_string(),
            gz,
        })
    }

    /// Digests already decoded (a version-1 record's).
    pub fn inline(digests: Vec<EntryDigest>) -> Self {
        EntryDigestList(Listed::Inline(digests.into()))
    }

    /// The digests in listed order; an unreadable line is an error naming the file and the
    /// line number, and ends the iteration.
    pub fn iter(&self) -> EntryDigestIter {
        EntryDigestIter(match &self.0 {
            Listed::Gzip { backup, gz } => Reading::Gzip {
                file: entry_digests_file_name(backup),
                lines: Box::new(io::BufReader::new(flate2::read::MultiGzDecoder::new(
                    bytes::Buf::reader(gz.clone()),
                ))),
                line: String::new(),
                number: 0,
                failed: false,
            },
            Listed::Inline(digests) => Reading::Inline(digests.clone(), 0),
        })
    }

    /// Every digest, decoded.
    ///
    /// # Errors
    /// As [`Self::iter`].
    pub fn to_vec(&self) -> Result<Vec<EntryDigest>, RecordError> {
        self.iter().collect()
    }
}

impl std::fmt::Debug for EntryDigestList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Listed::Gzip { backup, gz } => write!(
                f,
                "EntryDigestList({}, {} compressed bytes)",
                entry_digests_file_name(backup),
                gz.len()
            ),
            Listed::Inline(d) => write!(f, "EntryDigestList({} inline)", d.len()),
        }
    }
}

/// The digests of an [`EntryDigestList`], decoded as they are asked for.
pub struct EntryDigestIter(Reading);

enum Reading {
    Gzip {
        file: String,
        lines: Box<io::BufReader<flate2::read::MultiGzDecoder<bytes::buf::Reader<Bytes>>>>,
        line: String,
        number: usize,
        failed: bool,
    },
    Inline(std::sync::Arc<[EntryDigest]>, usize),
}

impl Iterator for EntryDigestIter {
    type Item = Result<EntryDigest, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            Reading::Inline(digests, at) => {
                let digest = digests.get(*at).cloned();
                *at += 1;
                digest.map(Ok)
            }
            Reading::Gzip {
                file,
                lines,
                line,
                number,
                failed,
            } => loop {
                if *failed {
                    return None;
                }
                line.clear();
                *number += 1;
                let digest = match lines.read_line(line) {
                    Ok(0) => return None,
                    Err(e) => Err(RecordError::new(file, format!("not gzip: {e}"))),
                    Ok(_) if line.trim().is_empty() => continue,
                    Ok(_) => serde_json::from_str::<EntryDigest>(line)
                        .map_err(|e| RecordError::new(file, format!("line {number}: {e}"))),
                };
                *failed = digest.is_err();
                return Some(digest);
            },
        }
    }
}

/// Builds a backup's resource list as gzip-compressed JSON while names arrive (see [the
/// module](self)), counting the objects of each type.
///
/// Names of one type are expected together (the backup lists one resource at a time); a type
/// that comes back after another one started is kept aside and merged in by
/// [`ResourceListWriter::finish`], so no name is ever lost whatever the order.
pub struct ResourceListWriter {
    gz: GzEncoder<Vec<u8>>,
    /// The type whose array is open.
    open: Option<String>,
    /// Types whose arrays are closed.
    closed: BTreeSet<String>,
    /// Names of closed types that came again.
    late: ResourceList,
    counts: BTreeMap<String, u64>,
    scratch: Vec<u8>,
}

impl Default for ResourceListWriter {
    fn default() -> Self {
        ResourceListWriter::new()
    }
}

impl ResourceListWriter {
    /// An empty list.
    pub fn new() -> Self {
        ResourceListWriter {
            gz: GzEncoder::new(Vec::new(), Compression::default()),
            open: None,
            closed: BTreeSet::new(),
            late: ResourceList::new(),
            counts: BTreeMap::new(),
            scratch: Vec::new(),
        }
    }

    /// Adds one object: its type key (`apps/v1/Deployment`) and its `namespace/name` (or
    /// name, for a cluster-scoped object).
    pub fn push(&mut self, key: &str, name: &str) {
        *self.counts.entry(key.to_string()).or_default() += 1;
        self.scratch.clear();
        if self.open.as_deref() != Some(key) {
            if self.closed.contains(key) {
                self.late
                    .entry(key.to_string())
                    .or_default()
                    .push(name.to_string());
                return;
            }
            match self.open.take() {
                None => self.scratch.push(b'{'),
                Some(previous) => {
                    self.scratch.extend_from_slice(b"],");
                    self.closed.insert(previous);
                }
            }
            push_json_string(&mut self.scratch, key);
            self.scratch.extend_from_slice(b":[");
            self.open = Some(key.to_string());
        } else {
            self.scratch.push(b',');
        }
        push_json_string(&mut self.scratch, name);
        // Writing into a Vec cannot fail.
        let _ = self.gz.write_all(&self.scratch);
    }

    /// Objects per type so far.
    pub fn counts(&self) -> &BTreeMap<String, u64> {
        &self.counts
    }

    /// The finished `<backup>-resource-list.json.gz`.
    pub fn finish(mut self, backup: &str) -> Result<CompanionFile, RecordError> {
        let end: &[u8] = if self.open.is_some() { b"]}" } else { b"{}" };
        let _ = self.gz.write_all(end);
        let mut bytes = self.gz.finish().unwrap_or_default();
        if !self.late.is_empty() {
            // Rare: a type came back after another started. Merge it in once, at the end.
            let file = CompanionKind::ResourceList.file_name(backup);
            let plain = gunzip(&bytes).map_err(|e| RecordError::new(&file, e.to_string()))?;
            let mut list: ResourceList = serde_json::from_slice(&plain)
                .map_err(|e| RecordError::new(&file, e.to_string()))?;
            for (key, names) in std::mem::take(&mut self.late) {
                list.entry(key).or_default().extend(names);
            }
            let json =
                serde_json::to_vec(&list).map_err(|e| RecordError::new(&file, e.to_string()))?;
            bytes = gzip(&json);
        }
        Ok(CompanionFile {
            kind: CompanionKind::ResourceList,
            gzip: bytes,
        })
    }
}

/// Appends `s` as a JSON string.
fn push_json_string(out: &mut Vec<u8>, s: &str) {
    // Serializing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault_record::BackupCompanions;
    use proptest::prelude::*;

    fn decode_list(file: &CompanionFile) -> ResourceList {
        BackupCompanions::decode("b", |k| {
            (k == CompanionKind::ResourceList).then(|| file.gzip.clone())
        })
        .unwrap()
        .resource_list
    }

    #[test]
    fn an_empty_resource_list_is_an_empty_object() {
        let file = ResourceListWriter::new().finish("b").unwrap();
        assert_eq!(gunzip(&file.gzip).unwrap(), b"{}");
    }

    #[test]
    fn names_needing_escapes_survive() {
        let mut w = ResourceListWriter::new();
        w.push("example.com/v1/Odd\"Kind", "ns/na\\me");
        assert_eq!(
            decode_list(&w.finish("b").unwrap())["example.com/v1/Odd\"Kind"],
            ["ns/na\\me"]
        );
    }

    #[test]
    fn a_type_that_comes_back_is_merged_not_lost() {
        let mut w = ResourceListWriter::new();
        w.push("v1/ConfigMap", "a/1");
        w.push("v1/Secret", "a/s");
        w.push("v1/ConfigMap", "b/2");
        assert_eq!(w.counts()["v1/ConfigMap"], 2);
        let list = decode_list(&w.finish("b").unwrap());
        assert_eq!(list["v1/ConfigMap"], ["a/1", "b/2"]);
        assert_eq!(list["v1/Secret"], ["a/s"]);
    }

    #[test]
    fn a_damaged_digest_line_names_the_file_and_line() {
        let gz = gzip(b"{\"path\":\"a\",\"sha256\":\"00\",\"size\":1}\n{\"path\":3}\n");
        let err = decode_entry_digests("nightly", &gz).unwrap_err();
        assert_eq!(err.file, "nightly-entry-digests.jsonl.gz");
        assert!(err.reason.starts_with("line 2: "), "{err}");
        let err = decode_entry_digests("nightly", b"not gzip").unwrap_err();
        assert!(err.reason.starts_with("not gzip"), "{err}");
    }

    proptest! {
        #[test]
        fn the_streamed_resource_list_equals_the_collected_one(
            pushes in proptest::collection::vec((0usize..4, "[a-z/\"\\\\]{0,8}"), 0..60),
        ) {
            let keys = ["v1/ConfigMap", "apps/v1/Deployment", "v1/Namespace", "x.io/v1/W"];
            let mut w = ResourceListWriter::new();
            let mut expected = ResourceList::new();
            for (k, name) in &pushes {
                w.push(keys[*k], name);
                expected.entry(keys[*k].to_string()).or_default().push(name.clone());
            }
            let counts: BTreeMap<String, u64> =
                expected.iter().map(|(k, v)| (k.clone(), v.len() as u64)).collect();
            prop_assert_eq!(w.counts(), &counts);
            prop_assert_eq!(decode_list(&w.finish("b").unwrap()), expected);
        }

        #[test]
        fn entry_digests_round_trip(
            entries in proptest::collection::vec(("[ -~]{0,40}", "[0-9a-f]{64}", any::<u64>()), 0..40),
        ) {
            let mut w = EntryDigestsWriter::new(Vec::new());
            for (p, s, n) in &entries {
                w.entry(p, s, *n).unwrap();
            }
            let back = decode_entry_digests("b", &w.finish().unwrap()).unwrap();
            let expected: Vec<EntryDigest> = entries
                .into_iter()
                .map(|(path, sha256, size)| EntryDigest { path, sha256, size })
                .collect();
            prop_assert_eq!(back, expected);
        }
    }
}
