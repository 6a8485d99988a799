//! The `BlobStore` port: a flat, bucket-like key space of immutable byte objects.
//!
//! The vault protocol ([`crate::vault`]) is written once over this port; a storage backend
//! only maps its client onto these few calls and passes
//! `testing::blob_store_conformance` (feature `testing`).
//! `csdr-storage` implements it on `object_store` (file, S3, OSS); [`crate::vault::MemoryBlobStore`]
//! implements it in memory for tests.
//!
//! ## Keys
//! A key is a non-empty UTF-8 string of `/`-separated segments, relative to the store's root
//! (the vault's prefix is the store's business, not the caller's). Segments are non-empty and
//! are neither `.` nor `..`; a key neither starts nor ends with `/` and holds no control
//! characters, `\` or `#` (a file store keeps its uploads in progress at `<key>#<n>`). Any
//! other key is refused with [`BlobError::InvalidKey`] before any I/O; [`check_key`] is the
//! rule. Keys are compared byte for byte: `a/b` and `a/B` are two objects.
//!
//! ## Consistency
//! Every call is read-after-write consistent for its key once it has returned: a `get` after
//! a successful `put` sees the new bytes, a `head` after a `delete` answers
//! [`BlobError::NotFound`]. Objects are immutable once written: a write replaces the whole
//! object atomically, and no reader ever sees a partly written object.
//!
//! ```
//! # futures::executor::block_on(async {
//! use bytes::Bytes;
//! use csdr_core::ports::blob_store::{BlobError, BlobStore};
//! use csdr_core::vault::MemoryBlobStore;
//!
//! let store = MemoryBlobStore::new();
//! store.put_if_absent("a/b.json", Bytes::from_static(b"{}")).await?;
//! let again = store.put_if_absent("a/b.json", Bytes::from_static(b"[]")).await;
//! assert!(matches!(again, Err(BlobError::AlreadyExists { .. })));
//! assert_eq!(store.get("a/b.json").await?, Bytes::from_static(b"{}"));
//! store.delete("a/b.json").await?;
//! store.delete("a/b.json").await?; // absent is fine
//! # Ok::<(), BlobError>(())
//! # }).unwrap();
//! ```

use std::error::Error as StdError;
use std::ops::Range;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use jiff::Timestamp;

/// A boxed error from a store's client, kept as the `#[source]` of a [`BlobError`].
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What a store knows about one object without reading it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobMeta {
    /// The object's key, relative to the store's root.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written, by the store's clock. Garbage collection compares it with
    /// the engine's `now`, so store and engine clocks must roughly agree.
    pub last_modified: Timestamp,
    /// An opaque version tag that changes whenever the object is rewritten, when the store
    /// has one (S3's ETag).
    pub etag: Option<String>,
}

/// Why a store call failed.
///
/// Errors from the store's client are kept as `#[source]`, so the whole chain can be shown.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// No object at that key.
    #[error("no object at {key}")]
    NotFound {
        /// The key.
        key: String,
    },
    /// A create-only write ([`BlobStore::put_if_absent`]) found the key taken.
    #[error("an object already exists at {key}")]
    AlreadyExists {
        /// The key.
        key: String,
    },
    /// The key breaks the rules of [`check_key`].
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey {
        /// The key.
        key: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// A ranged read outside the object.
    #[error("range {start}..{end} of {key} is outside its {size} bytes")]
    InvalidRange {
        /// The key.
        key: String,
        /// The requested start.
        start: u64,
        /// The requested end.
        end: u64,
        /// The object's size.
        size: u64,
    },
    /// The bucket (container) itself does not exist.
    #[error("bucket {bucket} does not exist")]
    BucketNotFound {
        /// The bucket's name.
        bucket: String,
    },
    /// The bucket is in another region than the client was configured for.
    #[error("wrong region for bucket {bucket}")]
    WrongRegion {
        /// The bucket's name.
        bucket: String,
        /// The service's answer.
        #[source]
        source: BoxError,
    },
    /// The credentials may not do this.
    #[error("permission denied on {key}")]
    Permission {
        /// The key or prefix.
        key: String,
        /// The service's answer.
        #[source]
        source: BoxError,
    },
    /// The service could not be reached (connection refused, DNS, timeouts); retrying later
    /// may succeed.
    #[error("{endpoint} unreachable")]
    Unavailable {
        /// The endpoint.
        endpoint: String,
        /// What the client saw.
        #[source]
        source: BoxError,
    },
    /// The store cannot do this at all (e.g. create-only writes on a service that ignores
    /// `If-None-Match`).
    #[error("{operation} {key} is not supported by this store")]
    Unsupported {
        /// The call.
        operation: String,
        /// The key.
        key: String,
        /// The client's error.
        #[source]
        source: BoxError,
    },
    /// Anything else.
    #[error("{operation} {key} failed")]
    Other {
        /// The call: `get`, `put`, `create`, `list`, `delete`, `copy`, `upload`, …
        operation: String,
        /// The key or prefix.
        key: String,
        /// Whether retrying later may succeed (a 5xx, a throttling answer).
        transient: bool,
        /// The client's error.
        #[source]
        source: BoxError,
    },
}

impl BlobError {
    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            BlobError::Unavailable { .. }
                | BlobError::Other {
                    transient: true,
                    ..
                }
        )
    }

    /// The error and every source below it as one line (`a: b: c`), skipping a source whose
    /// text the line already holds.
    pub fn chain(&self) -> String {
        chain(self)
    }
}

/// An error and its sources as one line, each source's text once.
pub fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        cur = s.source();
    }
    text
}

/// Checks a key against the rules in the [module docs](self).
pub fn check_key(key: &str) -> Result<(), BlobError> {
    let invalid = |reason: &str| {
        Err(BlobError::InvalidKey {
            key: key.to_string(),
            reason: reason.to_string(),
        })
    };
    if key.is_empty() {
        return invalid("a key is not empty");
    }
    if key.chars().any(|c| c.is_control() || c == '\\' || c == '#') {
        return invalid("a key holds no control characters, `\\` or `#`");
    }
    if key
        .split('/')
        .any(|segment| segment.is_empty() || segment == "." || segment == "..")
    {
        return invalid("segments between `/` are non-empty and neither `.` nor `..`");
    }
    Ok(())
}

/// Checks a listing prefix: empty, or a key-like string that may end with `/`.
pub fn check_prefix(prefix: &str) -> Result<(), BlobError> {
    if prefix.is_empty() {
        return Ok(());
    }
    let trimmed = prefix.strip_suffix('/').unwrap_or(prefix);
    check_key(trimmed).map_err(|e| match e {
        BlobError::InvalidKey { reason, .. } => BlobError::InvalidKey {
            key: prefix.to_string(),
            reason,
        },
        other => other,
    })
}

/// Settings of one streamed upload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadOptions {
    /// Parts uploaded at once before [`BlobUpload::write`] waits; `None` takes the store's
    /// default. One part is buffered per slot, so this bounds the upload's memory.
    pub parts_in_flight: Option<usize>,
}

impl UploadOptions {
    /// Options with at most `n` parts in flight.
    pub fn parts_in_flight(n: usize) -> Self {
        UploadOptions {
            parts_in_flight: Some(n),
        }
    }
}

/// A store of objects by key. Object-safe: use it as `Arc<dyn BlobStore>`.
///
/// Every call documents what it does with absent keys and with concurrent writers; the
/// conformance suite checks each of these on every implementation.
#[async_trait]
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    /// The whole object. [`BlobError::NotFound`] when absent.
    async fn get(&self, key: &str) -> Result<Bytes, BlobError>;

    /// The bytes `range` of the object (for reading part of a pack file). An empty range
    /// returns no bytes without reading; an end beyond the object's size is cut to its size;
    /// a non-empty range starting at or beyond the size is [`BlobError::InvalidRange`].
    /// [`BlobError::NotFound`] when absent.
    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, BlobError>;

    /// The object's size and modification time without its bytes. [`BlobError::NotFound`]
    /// when absent.
    async fn head(&self, key: &str) -> Result<BlobMeta, BlobError>;

    /// Whether an object exists at `key` ([`BlobStore::head`] with `NotFound` as `false`).
    async fn exists(&self, key: &str) -> Result<bool, BlobError> {
        match self.head(key).await {
            Ok(_) => Ok(true),
            Err(BlobError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes the object, replacing any object at `key` (last writer wins). Atomic: readers
    /// see the old object or the new one, never a mix. Data is durable when this returns (a
    /// file store syncs it to disk).
    async fn put(&self, key: &str, bytes: Bytes) -> Result<(), BlobError>;

    /// Writes the object only if `key` is free; [`BlobError::AlreadyExists`] (and no change)
    /// when it is taken. Of several concurrent create-only writers of one key exactly one
    /// succeeds and every other gets `AlreadyExists` — this is how backup names are unique
    /// (B7). A store that cannot guarantee this answers [`BlobError::Unsupported`] rather
    /// than overwriting. Atomic and durable like [`BlobStore::put`].
    async fn put_if_absent(&self, key: &str, bytes: Bytes) -> Result<(), BlobError>;

    /// Copies an object to another key, replacing any object there; the source stays.
    /// [`BlobError::NotFound`] when the source is absent. The copy is atomic like `put`.
    async fn copy(&self, from: &str, to: &str) -> Result<(), BlobError>;

    /// Every object whose key starts with `prefix` (plain string prefix: `backups/a` lists
    /// `backups/a/x` and `backups/ab`; end it with `/` to list one folder), recursively, with
    /// sizes and times. An empty prefix lists the whole store. Streamed: large listings
    /// arrive page by page. No order is guaranteed (sort if it matters); objects written or
    /// deleted while listing may or may not appear. Uploads in progress never appear.
    fn list(&self, prefix: &str) -> BoxStream<'_, Result<BlobMeta, BlobError>>;

    /// Deletes the object. Idempotent: deleting an absent key succeeds.
    async fn delete(&self, key: &str) -> Result<(), BlobError>;

    /// Deletes every object named, in bulk where the store can. Idempotent like
    /// [`BlobStore::delete`]; on failure some of the objects may be deleted already, and the
    /// first error is returned.
    async fn delete_many(&self, keys: &[String]) -> Result<(), BlobError>;

    /// Starts a streamed upload of `key`. Bytes written are sent in parts, in order, while
    /// the caller produces them; nothing is visible at `key` until
    /// [`BlobUpload::complete`] returns, and the object then appears whole, replacing any
    /// object there. [`BlobUpload::abort`] (or dropping the upload) leaves `key` as it was.
    async fn start_upload(
        &self,
        key: &str,
        options: UploadOptions,
    ) -> Result<Box<dyn BlobUpload>, BlobError>;
}

/// A streamed upload from [`BlobStore::start_upload`].
///
/// Dropping it without `complete` or `abort` makes nothing visible; the store may keep the
/// parts already sent until its own cleanup (S3: the bucket's
/// `AbortIncompleteMultipartUpload` lifecycle rule).
#[async_trait]
pub trait BlobUpload: Send {
    /// Appends bytes. Waits while the store's parts in flight are full; an error of an
    /// earlier part may surface here.
    async fn write(&mut self, bytes: Bytes) -> Result<(), BlobError>;

    /// Sends the last part and makes the object visible, atomically; the object's size.
    async fn complete(self: Box<Self>) -> Result<u64, BlobError>;

    /// Abandons the upload; nothing becomes visible.
    async fn abort(self: Box<Self>) -> Result<(), BlobError>;
}

/// Cuts `range` to an object of `size` bytes as [`BlobStore::get_range`] documents:
/// `Ok(None)` for an empty range, the byte range to read otherwise.
pub fn clamp_range(
    key: &str,
    range: &Range<u64>,
    size: u64,
) -> Result<Option<Range<u64>>, BlobError> {
    if range.start >= range.end {
        return Ok(None);
    }
    if range.start >= size {
        return Err(BlobError::InvalidRange {
            key: key.to_string(),
            start: range.start,
            end: range.end,
            size,
        });
    }
    Ok(Some(range.start..range.end.min(size)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        for ok in [
            "a",
            "a/b",
            "backups/n/velero-backup.json",
            "csdr-probe-1.json",
        ] {
            check_key(ok).unwrap();
        }
        for bad in [
            "", "/a", "a/", "a//b", "a/../b", "./a", "a\\b", "a#1", "a\nb",
        ] {
            assert!(
                matches!(check_key(bad), Err(BlobError::InvalidKey { .. })),
                "{bad:?}"
            );
        }
        check_prefix("").unwrap();
        check_prefix("backups/").unwrap();
        check_prefix("csdr-probe-").unwrap();
        assert!(check_prefix("/x").is_err());
    }

    #[test]
    fn ranges_are_clamped() {
        assert_eq!(clamp_range("k", &(2..2), 10).unwrap(), None);
        assert_eq!(clamp_range("k", &(2..20), 10).unwrap(), Some(2..10));
        assert!(matches!(
            clamp_range("k", &(10..12), 10),
            Err(BlobError::InvalidRange { size: 10, .. })
        ));
    }

    #[test]
    fn the_chain_keeps_every_source() {
        let e = BlobError::Other {
            operation: "get".into(),
            key: "k".into(),
            transient: true,
            source: "HTTP 503 SlowDown".into(),
        };
        assert_eq!(e.chain(), "get k failed: HTTP 503 SlowDown");
        assert!(e.is_transient());
    }
}
