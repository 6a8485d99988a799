//! The backup tarball: a gzip-compressed tar in Velero's layout, written and read as streams.
//!
//! A backup's objects travel as one `<name>.tar.gz` (DESIGN V4). The layout is Velero's, so
//! Velero's backups can be read and ours can be read by Velero:
//!
//! - `metadata/version` holds `1.1.0\n`, written first (`writeBackupVersion` and
//!   `BackupFormatVersion` in Velero's `pkg/backup/backup.go`).
//! - Each object at its preferred version is written twice: at the plain path
//!   `resources/<resource>[.<group>]/namespaces/<ns>/<name>.json` (cluster-scoped:
//!   `…/cluster/<name>.json`), which Velero's restore reads, and again under
//!   `resources/<resource>[.<group>]/<version>-preferredversion/namespaces/<ns>/<name>.json`
//!   (`backupItemInternal` and `getFileForArchive` in `pkg/backup/item_backupper.go`; the
//!   suffix is `PreferredVersionDir` in `pkg/apis/velero/v1/constants.go`).
//! - Each other served version of it goes under `resources/<resource>[.<group>]/<version>/…`.
//! - Core-group resources have no group suffix (`resources/pods/…`); paths are built like
//!   `GetVersionedItemFilePath` in `pkg/archive/filesystem.go` and read like
//!   `Parser.Parse`/`ParseGroupVersions` in `pkg/archive/parser.go`, which split the group off
//!   at the first dot. There are no other top-level directories.
//!
//! [`ArchiveWriter`] streams items into any `Write` with fixed mtimes, owners and modes, so the
//! same items in the same order give the same bytes; its gzip is cut into independent members
//! that worker threads compress in parallel (still one gzip stream for `tar xzf`). It hands
//! every entry's [`EntryDigest`](crate::model::EntryDigest) to an [`EntryDigestSink`] as the entry is written, and returns
//! the tarball's SHA-256 for the backup's metadata (V7).
//! [`ArchiveReader`] yields the objects lazily from any `Read`, within [`ReadLimits`], and
//! optionally checks every entry and the whole tarball against expected digests.
//!
//! ```
//! use csdr_core::archive::{ArchiveItem, ArchiveReader, ArchiveWriter, Placement, WriterOptions};
//! use csdr_core::object::{GroupVersionResource, KubeObject};
//! use serde_json::json;
//!
//! let deploy = KubeObject::new(json!({"apiVersion": "apps/v1", "kind": "Deployment",
//!     "metadata": {"name": "web", "namespace": "shop"}}))?;
//! let item = ArchiveItem {
//!     object: deploy,
//!     placement: Placement { resource: GroupVersionResource::new("apps", "v1", "deployments"), preferred: true },
//! };
//! let mut tarball = Vec::new();
//! let mut writer = ArchiveWriter::new(&mut tarball, WriterOptions::default())?;
//! writer.add(&item)?;
//! let (summary, _, digests) = writer.finish()?;
//! assert_eq!(summary.entries, 3); // metadata/version, plain path, v1-preferredversion
//! assert_eq!(digests[1].sha256, digests[2].sha256); // the same bytes twice
//!
//! let mut reader = ArchiveReader::new(&tarball[..]).with_expected_digests(digests);
//! let paths: Vec<String> = reader.by_ref().map(|e| e.map(|e| e.path.to_string())).collect::<Result<_, _>>()?;
//! assert_eq!(paths, [
//!     "resources/deployments.apps/namespaces/shop/web.json",
//!     "resources/deployments.apps/v1-preferredversion/namespaces/shop/web.json",
//! ]);
//! assert_eq!(reader.format_version(), Some("1.1.0"));
//! # Ok::<(), csdr_core::Error>(())
//! ```

mod gzip;
pub mod layout;
mod reader;
#[cfg(test)]
mod tests;
mod writer;

use std::io;

pub use layout::{ArchivePath, ItemPath, LayoutError, VersionDir};
pub use reader::{ArchiveEntry, ArchiveReader, ReadLimits};
pub use writer::{ArchiveWriter, EntryDigestSink, WriterOptions};

use crate::object::{GroupVersionResource, KubeObject, ObjectError};

/// Where an object goes in the archive, besides its own namespace and name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Group, version and plural resource, e.g. `apps`, `v1`, `deployments`.
    pub resource: GroupVersionResource,
    /// Whether `resource.version` is the source's preferred version of the resource.
    pub preferred: bool,
}

/// One object and its placement: what [`ArchiveWriter::add`] takes.
#[derive(Clone, Debug, PartialEq)]
pub struct ArchiveItem {
    /// The object, written as compact JSON with its fields in their order.
    pub object: KubeObject,
    /// Its resource, version and whether that version is the preferred one.
    pub placement: Placement,
}

/// What [`ArchiveWriter::finish`] reports (the entries' digests went to its
/// [`EntryDigestSink`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveSummary {
    /// The number of entries written, `metadata/version` included.
    pub entries: u64,
    /// The number of objects added.
    pub objects: u64,
    /// Lower-case hex SHA-256 of the compressed tarball as written.
    pub tarball_sha256: String,
    /// Byte size of the compressed tarball as written.
    pub tarball_size: u64,
}

/// A mismatch between the archive and the digests it was expected to have (V7).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IntegrityError {
    /// An entry's bytes differ from the expected SHA-256 or size.
    #[error(
        "integrity error: entry {path} has SHA-256 {actual_sha256} and {actual_size} bytes, expected {expected_sha256} and {expected_size} bytes; the backup is corrupt"
    )]
    EntryMismatch {
        /// The entry.
        path: String,
        /// The SHA-256 recorded in the backup's metadata.
        expected_sha256: String,
        /// The SHA-256 of the bytes read.
        actual_sha256: String,
        /// The size recorded.
        expected_size: u64,
        /// The size read.
        actual_size: u64,
    },
    /// An entry the backup's metadata does not list (or lists once, but it came twice).
    #[error(
        "integrity error: entry {path} is not listed in the backup's digests; the archive was altered"
    )]
    UnexpectedEntry {
        /// The entry.
        path: String,
    },
    /// Entries the metadata lists but the archive ended without.
    #[error(
        "integrity error: the archive ended without {count} listed entries (first: {first}); it is truncated"
    )]
    MissingEntries {
        /// How many are missing.
        count: usize,
        /// The first missing one in path order.
        first: String,
    },
    /// The backup's list of entry digests cannot be read (a line that is not a digest):
    /// nothing in the archive can be verified against it.
    #[error(
        "integrity error: the backup's entry digests cannot be read ({reason}); the backup cannot be verified, take a new backup"
    )]
    UnreadableDigests {
        /// Why, naming the file and line.
        reason: String,
    },
    /// The compressed tarball differs from the recorded SHA-256 or size.
    #[error(
        "integrity error: the tarball has SHA-256 {actual_sha256} and {actual_size} bytes, expected {expected_sha256} and {expected_size} bytes"
    )]
    TarballMismatch {
        /// The SHA-256 recorded.
        expected_sha256: String,
        /// The SHA-256 of the bytes read.
        actual_sha256: String,
        /// The size recorded.
        expected_size: u64,
        /// The size read.
        actual_size: u64,
    },
}

/// Everything that can go wrong writing or reading a backup tarball.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// A path that is not in the layout (traversal, absolute, unknown directory, bad shape),
    /// or an object whose name, namespace or placement cannot be a path.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// Writing to the output failed.
    #[error("writing archive entry {path} failed: {source}")]
    Write {
        /// The entry being written.
        path: String,
        /// The I/O error.
        source: io::Error,
    },
    /// An earlier write failed, leaving the tar stream incomplete; start a new archive.
    #[error("the archive writer failed earlier and cannot continue; start the archive again")]
    WriterFailed,
    /// An object could not be serialized.
    #[error("cannot serialize the object for archive entry {path}: {source}")]
    Serialize {
        /// The entry.
        path: String,
        /// The serde_json error.
        source: serde_json::Error,
    },
    /// The input ended in the middle of the gzip or tar stream.
    #[error("the archive is truncated: it ends {position}")]
    Truncated {
        /// Where: `in entry …`, `after entry …` or `before the first entry`.
        position: String,
    },
    /// The gzip or tar stream is corrupt, or reading the input failed.
    #[error("the archive is corrupt or unreadable {position}: {reason}")]
    Corrupt {
        /// Where: `in entry …`, `after entry …` or `before the first entry`.
        position: String,
        /// What was wrong.
        reason: String,
    },
    /// A symlink, hard link, device, FIFO or other non-file entry.
    #[error("archive entry {path} is a {kind}; a backup holds only regular files")]
    UnsupportedEntryType {
        /// The entry.
        path: String,
        /// What kind of entry it is.
        kind: String,
    },
    /// An entry larger than [`ReadLimits::max_entry_size`].
    #[error(
        "archive entry {path} has {size} bytes, more than the limit of {limit}; raise ReadLimits::max_entry_size if it is genuine"
    )]
    EntryTooLarge {
        /// The entry.
        path: String,
        /// Its declared size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// More entries than [`ReadLimits::max_entries`].
    #[error(
        "the archive has more than {limit} entries (at {path}); raise ReadLimits::max_entries if it is genuine"
    )]
    TooManyEntries {
        /// The first entry over the limit.
        path: String,
        /// The limit.
        limit: u64,
    },
    /// JSON nested deeper than [`ReadLimits::max_depth`].
    #[error("archive entry {path} nests JSON deeper than the limit of {limit} levels")]
    TooDeep {
        /// The entry.
        path: String,
        /// The limit.
        limit: usize,
    },
    /// An entry that is not valid JSON.
    #[error("archive entry {path} is not valid JSON: {source}")]
    MalformedJson {
        /// The entry.
        path: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// JSON that is not a Kubernetes object.
    #[error("archive entry {path}: {source}")]
    InvalidObject {
        /// The entry.
        path: String,
        /// Why it is not an object.
        source: ObjectError,
    },
    /// `metadata/version` names a format this reader does not know.
    #[error(
        "archive entry metadata/version says format {found:?}; only format 1.x (Velero's) can be read"
    )]
    UnsupportedFormatVersion {
        /// The text found.
        found: String,
    },
    /// The archive does not match its expected digests.
    #[error(transparent)]
    Integrity(#[from] IntegrityError),
}

pub(crate) use crate::digest::hex;
