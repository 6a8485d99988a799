//! Reading a backup tarball: objects out, lazily, within limits, optionally verified.
//!
//! The tar headers are parsed here (with `tar::Header` for the field encodings) rather than
//! through `tar::Archive`, so that every size is checked against a limit before anything is
//! read into memory — GNU long names and PAX headers included — and so that the reader can own
//! its input and be an `Iterator` itself.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read};

use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};

use super::layout::{self, ArchivePath, ItemPath, LayoutError};
use super::{ArchiveError, IntegrityError, hex};
use crate::model::EntryDigest;
use crate::object::KubeObject;

/// The longest path accepted from a GNU long-name or PAX header, in bytes.
const MAX_PATH_LEN: u64 = 4096;
/// The largest PAX extended header accepted, in bytes.
const MAX_PAX_LEN: u64 = 64 * 1024;
const BLOCK: usize = 512;

/// Limits that keep a hostile or broken archive from exhausting memory or the stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadLimits {
    /// The largest entry read, in bytes (default 16 MiB; the API server stores objects of at
    /// most about 1.5 MiB).
    pub max_entry_size: u64,
    /// The deepest JSON nesting accepted (default 100; `{}` is depth 1). It is checked before
    /// parsing. serde_json refuses nesting of 128 and more on its own, so limits above 127
    /// act as 127 and are reported as malformed JSON.
    pub max_depth: usize,
    /// The most entries (files and directories) read (default 10 million).
    pub max_entries: u64,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_entry_size: 16 << 20,
            max_depth: 100,
            max_entries: 10_000_000,
        }
    }
}

/// One object read from the archive.
#[derive(Clone, Debug, PartialEq)]
pub struct ArchiveEntry {
    /// Where it was: resource, group, version directory, namespace and name.
    pub path: ItemPath,
    /// The object.
    pub object: KubeObject,
    /// The path, SHA-256 and size of the entry's bytes.
    pub digest: EntryDigest,
}

/// Counts and hashes the compressed bytes as they are read.
struct DigestReader<R: Read> {
    inner: R,
    sha: Sha256,
    size: u64,
}

impl<R: Read> Read for DigestReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// The digests a reader still expects, in the order they were listed, read as the archive is
/// (V7, R13): a backup's digests are listed in archive order, so each entry is matched
/// against the next listed digest and nothing is held for it. A digest listed before its
/// entry comes (another writer's order) waits in `early` until it does. A path may be listed
/// more than once (an archive may hold two entries at one path, as a tar stream allows): each
/// occurrence is checked against its own digest, in the order they were listed.
struct ExpectedDigests {
    /// The digests not read yet, in listed order.
    listed: Box<dyn Iterator<Item = Result<EntryDigest, String>> + Send>,
    /// Digests read ahead of their entries, per path in listed order.
    early: HashMap<String, VecDeque<EntryDigest>>,
}

impl ExpectedDigests {
    fn new(listed: Box<dyn Iterator<Item = Result<EntryDigest, String>> + Send>) -> Self {
        ExpectedDigests {
            listed,
            early: HashMap::new(),
        }
    }

    /// The digest the next entry at `path` must have; `None` if none is still expected.
    fn take(&mut self, path: &str) -> Result<Option<EntryDigest>, IntegrityError> {
        if let Some(queue) = self.early.get_mut(path) {
            let digest = queue.pop_front();
            if queue.is_empty() {
                self.early.remove(path);
            }
            return Ok(digest);
        }
        for digest in self.listed.by_ref() {
            let digest = digest.map_err(|reason| IntegrityError::UnreadableDigests { reason })?;
            if digest.path == path {
                return Ok(Some(digest));
            }
            self.early
                .entry(digest.path.clone())
                .or_default()
                .push_back(digest);
        }
        Ok(None)
    }

    /// How many listed entries never came, and the first of their paths, if any.
    fn missing(&mut self) -> Result<Option<(usize, String)>, IntegrityError> {
        let mut count: usize = self.early.values().map(VecDeque::len).sum();
        let mut first = self.early.keys().min().cloned();
        for digest in self.listed.by_ref() {
            let digest = digest.map_err(|reason| IntegrityError::UnreadableDigests { reason })?;
            count += 1;
            if first.as_ref().is_none_or(|f| digest.path < *f) {
                first = Some(digest.path);
            }
        }
        Ok(first.map(|first| (count, first)))
    }
}

/// Reads a backup tarball (gzip-compressed tar in Velero's layout) from any `Read`, yielding
/// each object under `resources/` as an [`ArchiveEntry`], in archive order.
///
/// Every entry is checked: its path must be in the layout, it must be a regular file (directory
/// entries are skipped, links and devices rejected), within [`ReadLimits`], valid JSON and a
/// Kubernetes object. The first error ends the iteration. `metadata/version` is read on the way
/// (see [`ArchiveReader::format_version`]). With [`ArchiveReader::with_expected_digests`] and
/// [`ArchiveReader::with_expected_tarball`] the archive is verified as it is read; a mismatch
/// in an entry is reported before that entry is yielded, while missing entries and a tarball
/// mismatch can only be reported at the end — apply nothing before the iterator has ended
/// without error.
pub struct ArchiveReader<R: Read> {
    source: MultiGzDecoder<DigestReader<R>>,
    limits: ReadLimits,
    expected: Option<ExpectedDigests>,
    expected_tarball: Option<(String, u64)>,
    format_version: Option<String>,
    entries: u64,
    last_path: Option<String>,
    done: bool,
    data: Vec<u8>,
}

/// What a tar header announced, after any long-name or PAX headers before it.
struct RawEntry {
    path: String,
    size: u64,
    kind: u8,
}

impl<R: Read> ArchiveReader<R> {
    /// A reader with the default [`ReadLimits`] and no verification.
    pub fn new(input: R) -> Self {
        ArchiveReader {
            source: MultiGzDecoder::new(DigestReader {
                inner: input,
                sha: Sha256::new(),
                size: 0,
            }),
            limits: ReadLimits::default(),
            expected: None,
            expected_tarball: None,
            format_version: None,
            entries: 0,
            last_path: None,
            done: false,
            data: Vec::new(),
        }
    }

    /// Uses these limits.
    pub fn with_limits(mut self, limits: ReadLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Verifies every file entry (including `metadata/version`) against these digests: an
    /// entry whose SHA-256 or size differs, or that is not listed, is an
    /// [`IntegrityError`]; so, at the end, is a listed entry that never came.
    pub fn with_expected_digests<I>(self, digests: I) -> Self
    where
        I: IntoIterator<Item = EntryDigest>,
        I::IntoIter: Send + 'static,
    {
        self.with_listed_digests(digests.into_iter().map(Ok))
    }

    /// As [`Self::with_expected_digests`], with the digests read as the archive is: each in
    /// the order the backup listed them, or why the list cannot be read (an
    /// [`IntegrityError::UnreadableDigests`]). Listed in archive order, as csdr lists them,
    /// none is held in memory while the archive is read (R13).
    pub fn with_listed_digests(
        mut self,
        listed: impl Iterator<Item = Result<EntryDigest, String>> + Send + 'static,
    ) -> Self {
        self.expected = Some(ExpectedDigests::new(Box::new(listed)));
        self
    }

    /// Verifies the compressed bytes as a whole (SHA-256 and size, as in
    /// [`super::ArchiveSummary`]) once the input has been read to its end.
    pub fn with_expected_tarball(mut self, sha256: impl Into<String>, size: u64) -> Self {
        self.expected_tarball = Some((sha256.into(), size));
        self
    }

    /// The content of `metadata/version` (e.g. `1.1.0`), once it has been read.
    pub fn format_version(&self) -> Option<&str> {
        self.format_version.as_deref()
    }

    fn describe_position(&self, current: Option<&str>) -> String {
        match (current, &self.last_path) {
            (Some(path), _) => format!("in entry {path}"),
            (None, Some(last)) => format!("after entry {last}"),
            (None, None) => "before the first entry".to_string(),
        }
    }

    fn read_error(&self, current: Option<&str>, err: io::Error) -> ArchiveError {
        let position = self.describe_position(current);
        if err.kind() == io::ErrorKind::UnexpectedEof {
            ArchiveError::Truncated { position }
        } else {
            ArchiveError::Corrupt {
                position,
                reason: err.to_string(),
            }
        }
    }

    fn corrupt(&self, current: Option<&str>, reason: impl Into<String>) -> ArchiveError {
        ArchiveError::Corrupt {
            position: self.describe_position(current),
            reason: reason.into(),
        }
    }

    /// Reads one 512-byte block; `Ok(false)` on a clean end of input before its first byte.
    fn read_block(&mut self, block: &mut [u8; BLOCK]) -> Result<bool, ArchiveError> {
        let mut filled = 0;
        while filled < BLOCK {
            match self.source.read(&mut block[filled..]) {
                Ok(0) if filled == 0 => return Ok(false),
                Ok(0) => {
                    return Err(
                        self.read_error(None, io::Error::from(io::ErrorKind::UnexpectedEof))
                    );
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.read_error(None, e)),
            }
        }
        Ok(true)
    }

    /// Reads `size` bytes of entry data and the padding after them into `self.data`.
    fn read_data(&mut self, path: &str, size: u64) -> Result<(), ArchiveError> {
        self.data.clear();
        let got = (&mut self.source)
            .take(size)
            .read_to_end(&mut self.data)
            .map_err(|e| self.read_error(Some(path), e))?;
        if (got as u64) < size {
            return Err(ArchiveError::Truncated {
                position: self.describe_position(Some(path)),
            });
        }
        self.skip_padding(path, size)
    }

    fn skip_padding(&mut self, path: &str, size: u64) -> Result<(), ArchiveError> {
        let padding = (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64;
        let mut pad = [0u8; BLOCK];
        self.source
            .read_exact(&mut pad[..padding as usize])
            .map_err(|e| self.read_error(Some(path), e))
    }

    /// Skips `size` bytes of data (and padding) without keeping them.
    fn skip_data(&mut self, path: &str, size: u64) -> Result<(), ArchiveError> {
        let skipped = io::copy(&mut (&mut self.source).take(size), &mut io::sink())
            .map_err(|e| self.read_error(Some(path), e))?;
        if skipped < size {
            return Err(ArchiveError::Truncated {
                position: self.describe_position(Some(path)),
            });
        }
        self.skip_padding(path, size)
    }

    /// The next file or directory header, with long names and PAX records applied; `None` at
    /// the end-of-archive marker.
    fn next_raw(&mut self) -> Result<Option<RawEntry>, ArchiveError> {
        let mut long_name: Option<Vec<u8>> = None;
        let mut pax_path: Option<Vec<u8>> = None;
        let mut pax_size: Option<u64> = None;
        loop {
            let mut block = [0u8; BLOCK];
            if !self.read_block(&mut block)? {
                // Velero (Go's tar.Writer.Close) and tar::Builder always end with zero blocks;
                // input that stops at a header boundary was cut off.
                return Err(ArchiveError::Truncated {
                    position: self.describe_position(None),
                });
            }
            if block.iter().all(|&b| b == 0) {
                if long_name.is_some() || pax_path.is_some() || pax_size.is_some() {
                    return Err(
                        self.corrupt(None, "an extended header is not followed by an entry")
                    );
                }
                return Ok(None);
            }
            if !checksum_ok(&block) {
                return Err(self.corrupt(None, "a tar header's checksum does not match"));
            }
            let header = tar::Header::from_byte_slice(&block);
            let kind = header.entry_type().as_byte();
            let declared = header
                .size()
                .map_err(|e| self.corrupt(None, format!("a tar header's size field: {e}")))?;
            match kind {
                b'L' => {
                    if declared > MAX_PATH_LEN + 1 {
                        return Err(self.corrupt(
                            None,
                            format!("a GNU long name of {declared} bytes (limit {MAX_PATH_LEN})"),
                        ));
                    }
                    self.read_data("(GNU long name)", declared)?;
                    let mut name = std::mem::take(&mut self.data);
                    while name.last() == Some(&0) {
                        name.pop();
                    }
                    long_name = Some(name);
                }
                b'x' | b'g' => {
                    if declared > MAX_PAX_LEN {
                        return Err(self.corrupt(
                            None,
                            format!("a PAX header of {declared} bytes (limit {MAX_PAX_LEN})"),
                        ));
                    }
                    self.read_data("(PAX header)", declared)?;
                    // Global headers (`g`) carry archive-wide metadata only: skipped.
                    if kind == b'x' {
                        for record in tar::PaxExtensions::new(&self.data) {
                            let record = record.map_err(|e| {
                                self.corrupt(None, format!("a malformed PAX record: {e}"))
                            })?;
                            match record.key() {
                                Ok("path") => pax_path = Some(record.value_bytes().to_vec()),
                                Ok("size") => {
                                    let size = record
                                        .value()
                                        .ok()
                                        .and_then(|v| v.parse::<u64>().ok())
                                        .ok_or_else(|| {
                                            self.corrupt(None, "a PAX size record is not a number")
                                        })?;
                                    pax_size = Some(size);
                                }
                                _ => {}
                            }
                        }
                    }
                }
                _ => {
                    let path_bytes = pax_path
                        .or(long_name)
                        .unwrap_or_else(|| header.path_bytes().into_owned());
                    let path = String::from_utf8(path_bytes).map_err(|e| LayoutError::NotUtf8 {
                        path: String::from_utf8_lossy(e.as_bytes()).into_owned(),
                    })?;
                    return Ok(Some(RawEntry {
                        path,
                        size: pax_size.unwrap_or(declared),
                        kind,
                    }));
                }
            }
        }
    }

    /// The end-of-archive marker was read: read the rest of the input (checking the last gzip
    /// member), then the digests.
    fn finish(&mut self) -> Result<(), ArchiveError> {
        io::copy(&mut self.source, &mut io::sink()).map_err(|e| {
            let position = format!(
                "after the end-of-archive marker{}",
                self.last_path
                    .as_ref()
                    .map(|p| format!(" (last entry {p})"))
                    .unwrap_or_default()
            );
            if e.kind() == io::ErrorKind::UnexpectedEof {
                ArchiveError::Truncated { position }
            } else {
                ArchiveError::Corrupt {
                    position,
                    reason: e.to_string(),
                }
            }
        })?;
        if let Some(expected) = &mut self.expected
            && let Some((count, first)) = expected.missing()?
        {
            return Err(IntegrityError::MissingEntries { count, first }.into());
        }
        if let Some((expected_sha256, expected_size)) = self.expected_tarball.take() {
            let digest = self.source.get_mut();
            let actual_sha256 = hex(&std::mem::take(&mut digest.sha).finalize());
            if actual_sha256 != expected_sha256 || digest.size != expected_size {
                return Err(IntegrityError::TarballMismatch {
                    expected_sha256,
                    actual_sha256,
                    expected_size,
                    actual_size: digest.size,
                }
                .into());
            }
        }
        Ok(())
    }

    fn verify(&mut self, path: &str, sha256: &str, size: u64) -> Result<(), IntegrityError> {
        let Some(expected) = &mut self.expected else {
            return Ok(());
        };
        let Some(digest) = expected.take(path)? else {
            return Err(IntegrityError::UnexpectedEntry {
                path: path.to_string(),
            });
        };
        if digest.sha256 != sha256 || digest.size != size {
            return Err(IntegrityError::EntryMismatch {
                path: path.to_string(),
                expected_sha256: digest.sha256,
                actual_sha256: sha256.to_string(),
                expected_size: digest.size,
                actual_size: size,
            });
        }
        Ok(())
    }

    fn next_entry(&mut self) -> Result<Option<ArchiveEntry>, ArchiveError> {
        loop {
            let Some(raw) = self.next_raw()? else {
                self.finish()?;
                return Ok(None);
            };
            let path = raw.path;
            self.entries += 1;
            if self.entries > self.limits.max_entries {
                return Err(ArchiveError::TooManyEntries {
                    path,
                    limit: self.limits.max_entries,
                });
            }
            if raw.size > self.limits.max_entry_size {
                return Err(ArchiveError::EntryTooLarge {
                    path,
                    size: raw.size,
                    limit: self.limits.max_entry_size,
                });
            }
            match raw.kind {
                b'0' | b'\0' | b'7' => {}
                b'5' => {
                    layout::checked_components(&path)?;
                    self.skip_data(&path, raw.size)?;
                    self.last_path = Some(path);
                    continue;
                }
                other => {
                    return Err(ArchiveError::UnsupportedEntryType {
                        path,
                        kind: entry_kind_name(other),
                    });
                }
            }
            let placement = ArchivePath::parse(&path)?;
            self.read_data(&path, raw.size)?;
            let sha256 = hex(&Sha256::digest(&self.data));
            self.verify(&path, &sha256, raw.size)?;
            self.last_path = Some(path.clone());
            let item = match placement {
                ArchivePath::FormatVersion => {
                    let text = String::from_utf8_lossy(&self.data).trim().to_string();
                    if text.split('.').next() != Some("1") {
                        return Err(ArchiveError::UnsupportedFormatVersion { found: text });
                    }
                    self.format_version = Some(text);
                    continue;
                }
                ArchivePath::OtherMetadata(_) => continue,
                ArchivePath::Item(item) => item,
            };
            if exceeds_depth(&self.data, self.limits.max_depth) {
                return Err(ArchiveError::TooDeep {
                    path,
                    limit: self.limits.max_depth,
                });
            }
            let value: serde_json::Value = match serde_json::from_slice(&self.data) {
                Ok(value) => value,
                Err(source) => return Err(ArchiveError::MalformedJson { path, source }),
            };
            let object = match KubeObject::new(value) {
                Ok(object) => object,
                Err(source) => return Err(ArchiveError::InvalidObject { path, source }),
            };
            return Ok(Some(ArchiveEntry {
                path: item,
                object,
                digest: EntryDigest {
                    path,
                    sha256,
                    size: raw.size,
                },
            }));
        }
    }
}

impl<R: Read> Iterator for ArchiveReader<R> {
    type Item = Result<ArchiveEntry, ArchiveError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_entry() {
            Ok(Some(entry)) => Some(Ok(entry)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl<R: Read> std::iter::FusedIterator for ArchiveReader<R> {}

/// Whether the header's checksum field matches its bytes (unsigned or, as some old tars
/// wrote it, signed sum with the checksum field counted as spaces).
fn checksum_ok(block: &[u8; BLOCK]) -> bool {
    let digits: String = block[148..156]
        .iter()
        .skip_while(|&&b| b == b' ')
        .take_while(|&&b| (b'0'..=b'7').contains(&b))
        .map(|&b| b as char)
        .collect();
    let Ok(stored) = u32::from_str_radix(&digits, 8) else {
        return false;
    };
    let mut unsigned: u32 = 0;
    let mut signed: i32 = 0;
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u32::from(b);
        signed += i32::from(b as i8);
    }
    stored == unsigned || i64::from(stored) == i64::from(signed)
}

fn entry_kind_name(kind: u8) -> String {
    match kind {
        b'1' => "hard link".into(),
        b'2' => "symbolic link".into(),
        b'3' => "character device".into(),
        b'4' => "block device".into(),
        b'6' => "FIFO".into(),
        b'K' => "GNU long link name".into(),
        b'S' => "GNU sparse file".into(),
        other => format!("tar entry of type {:?}", other as char),
    }
}

/// Whether JSON nests objects and arrays deeper than `limit` (`{}` is depth 1), scanning the
/// bytes without parsing; brackets inside strings do not count.
fn exceeds_depth(bytes: &[u8], limit: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_scan_ignores_strings() {
        assert!(!exceeds_depth(br#"{"a":[1,{"b":"[[[[{{{{"}]}"#, 3));
        assert!(exceeds_depth(br#"{"a":[1,{"b":[]}]}"#, 3));
        assert!(!exceeds_depth(br#"{"a":"\"[[[["}"#, 1));
        assert!(!exceeds_depth(b"{}", 1));
        assert!(exceeds_depth(b"[[]]", 1));
    }
}
