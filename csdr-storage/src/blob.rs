//! [`ObjectStoreBlobs`]: csdr-core's [`BlobStore`] port on any `object_store::ObjectStore`.
//!
//! The whole adapter a new backend needs: keys are joined to the vault's prefix, calls map
//! one to one (`put_if_absent` is `PutMode::Create`, uploads are `put_multipart` driven by
//! `WriteMultipart`, `delete_many` is `delete_stream`), and `object_store` errors become
//! [`BlobError`]s a user can act on, keeping the client's error as the source. A missing
//! bucket, a wrong region, refused credentials and an unreachable endpoint are recognised
//! from the service's answer.
//!
//! Durability follows the store: the file store is built with `fsync`, so a call returns only
//! once its data is on disk, and the vault's metadata (written after its data) can never
//! commit data a crash lost.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use csdr_core::ports::blob_store::BlobStore;
//! use csdr_storage::ObjectStoreBlobs;
//!
//! let blobs = ObjectStoreBlobs::new(Arc::new(object_store::memory::InMemory::new()), "vaults/a");
//! blobs.put_if_absent("csdr-vault.json", Bytes::from_static(b"{}")).await?;
//! assert!(blobs.put_if_absent("csdr-vault.json", Bytes::from_static(b"{}")).await.is_err());
//! # Ok::<(), csdr_core::ports::blob_store::BlobError>(())
//! # }).unwrap();
//! ```

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use csdr_core::ports::blob_store::{
    BlobError, BlobMeta, BlobStore, BlobUpload, UploadOptions, chain, check_key, check_prefix,
    clamp_range,
};
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};
use jiff::Timestamp;
use object_store::path::Path;
use object_store::{
    ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart,
};

/// The [`BlobStore`] port on an `object_store` client, under a key prefix.
#[derive(Clone, Debug)]
pub struct ObjectStoreBlobs {
    store: Arc<dyn ObjectStore>,
    /// The vault's prefix inside the bucket, without slashes at either end; empty for none.
    prefix: String,
    /// The bucket, named in errors.
    bucket: Option<String>,
    /// The endpoint, named when it cannot be reached.
    endpoint: Option<String>,
    /// Multipart part size in bytes.
    part_size: usize,
    /// Parts in flight when an upload asks for the default.
    parts_in_flight: usize,
}

impl ObjectStoreBlobs {
    /// The port on `store`, every key under `prefix` (`""` for the store's root).
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> Self {
        ObjectStoreBlobs {
            store,
            prefix: prefix.trim_matches('/').to_string(),
            bucket: None,
            endpoint: None,
            part_size: 8 * 1024 * 1024,
            parts_in_flight: 4,
        }
    }

    /// Names the bucket and endpoint in errors (and recognises an unreachable endpoint).
    pub fn with_service(mut self, bucket: Option<String>, endpoint: Option<String>) -> Self {
        self.bucket = bucket;
        self.endpoint = endpoint;
        self
    }

    /// Sets the multipart part size and the default parts in flight of uploads.
    pub fn with_parts(mut self, part_size: usize, parts_in_flight: usize) -> Self {
        self.part_size = part_size.max(1);
        self.parts_in_flight = parts_in_flight.max(1);
        self
    }

    fn path(&self, key: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(key)
        } else {
            Path::from(format!("{}/{key}", self.prefix))
        }
    }

    /// The folder to list for `dir` (a key without its last segment), `None` for the root.
    fn dir_path(&self, dir: &str) -> Option<Path> {
        match (self.prefix.is_empty(), dir.is_empty()) {
            (true, true) => None,
            (false, true) => Some(Path::from(self.prefix.as_str())),
            _ => Some(self.path(dir)),
        }
    }

    fn rel(prefix: &str, path: &Path) -> String {
        let full = path.as_ref();
        if prefix.is_empty() {
            full.to_string()
        } else {
            full.strip_prefix(prefix)
                .map(|r| r.trim_start_matches('/').to_string())
                .unwrap_or_else(|| full.to_string())
        }
    }

    fn meta(prefix: &str, m: &ObjectMeta) -> BlobMeta {
        BlobMeta {
            key: Self::rel(prefix, &m.location),
            size: m.size,
            last_modified: Timestamp::from_millisecond(m.last_modified.timestamp_millis())
                .unwrap_or(Timestamp::UNIX_EPOCH),
            etag: m.e_tag.clone(),
        }
    }

    /// Maps an `object_store` error of `operation` on `key`.
    fn err(&self, operation: &str, key: &str, e: object_store::Error) -> BlobError {
        map_error(
            self.bucket.as_deref(),
            self.endpoint.as_deref(),
            operation,
            key,
            e,
        )
    }
}

/// Maps an `object_store` error onto the port's error, recognising the service's answers.
fn map_error(
    bucket: Option<&str>,
    endpoint: Option<&str>,
    operation: &str,
    key: &str,
    e: object_store::Error,
) -> BlobError {
    let text = chain(&e);
    let lower = text.to_ascii_lowercase();
    let bucket = || bucket.unwrap_or("the bucket").to_string();
    if lower.contains("nosuchbucket") || lower.contains("specified bucket does not exist") {
        return BlobError::BucketNotFound { bucket: bucket() };
    }
    if lower.contains("incorrectly configured region")
        || lower.contains("authorizationheadermalformed")
        || lower.contains("permanentredirect")
        || (lower.contains("region") && (lower.contains("wrong") || lower.contains("expecting")))
    {
        return BlobError::WrongRegion {
            bucket: bucket(),
            source: Box::new(e),
        };
    }
    let key = key.to_string();
    match e {
        object_store::Error::NotFound { .. } => return BlobError::NotFound { key },
        object_store::Error::AlreadyExists { .. } => return BlobError::AlreadyExists { key },
        e @ (object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. }) => {
            return BlobError::Permission {
                key,
                source: Box::new(e),
            };
        }
        e @ (object_store::Error::NotImplemented { .. }
        | object_store::Error::NotSupported { .. }) => {
            return BlobError::Unsupported {
                operation: operation.to_string(),
                key,
                source: Box::new(e),
            };
        }
        _ => {}
    }
    let unreachable = [
        "error sending request",
        "connection refused",
        "connect error",
        "tcp connect",
        "dns error",
        "timed out",
        "connection reset",
        "broken pipe",
        "unexpected eof",
        "connection closed",
    ];
    if let Some(endpoint) = endpoint
        && unreachable.iter().any(|u| lower.contains(u))
    {
        return BlobError::Unavailable {
            endpoint: endpoint.to_string(),
            source: Box::new(e),
        };
    }
    if lower.contains("accessdenied") || lower.contains("access denied") {
        return BlobError::Permission {
            key,
            source: Box::new(e),
        };
    }
    let transient = lower.contains("status code: 5")
        || lower.contains("slowdown")
        || lower.contains("internalerror");
    BlobError::Other {
        operation: operation.to_string(),
        key,
        transient,
        source: Box::new(e),
    }
}

#[async_trait]
impl BlobStore for ObjectStoreBlobs {
    async fn get(&self, key: &str) -> Result<Bytes, BlobError> {
        check_key(key)?;
        let result = self
            .store
            .get(&self.path(key))
            .await
            .map_err(|e| self.err("get", key, e))?;
        result.bytes().await.map_err(|e| self.err("get", key, e))
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, BlobError> {
        check_key(key)?;
        if range.start >= range.end {
            // Nothing to read, but an absent object is still absent.
            self.head(key).await?;
            return Ok(Bytes::new());
        }
        match self.store.get_range(&self.path(key), range.clone()).await {
            Ok(b) => Ok(b),
            Err(e) => {
                let e = self.err("get", key, e);
                if matches!(e, BlobError::NotFound { .. }) {
                    return Err(e);
                }
                // A start past the end is refused by the service; say so precisely.
                let size = self.head(key).await?.size;
                clamp_range(key, &range, size)?;
                Err(e)
            }
        }
    }

    async fn head(&self, key: &str) -> Result<BlobMeta, BlobError> {
        check_key(key)?;
        self.store
            .head(&self.path(key))
            .await
            .map(|m| Self::meta(&self.prefix, &m))
            .map_err(|e| self.err("head", key, e))
    }

    async fn put(&self, key: &str, bytes: Bytes) -> Result<(), BlobError> {
        check_key(key)?;
        self.store
            .put(&self.path(key), PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|e| self.err("put", key, e))
    }

    async fn put_if_absent(&self, key: &str, bytes: Bytes) -> Result<(), BlobError> {
        check_key(key)?;
        self.store
            .put_opts(
                &self.path(key),
                PutPayload::from(bytes),
                PutOptions::from(PutMode::Create),
            )
            .await
            .map(|_| ())
            .map_err(|e| self.err("create", key, e))
    }

    async fn copy(&self, from: &str, to: &str) -> Result<(), BlobError> {
        check_key(from)?;
        check_key(to)?;
        self.store
            .copy(&self.path(from), &self.path(to))
            .await
            .map_err(|e| self.err("copy", from, e))
    }

    fn list(&self, prefix: &str) -> BoxStream<'_, Result<BlobMeta, BlobError>> {
        if let Err(e) = check_prefix(prefix) {
            return stream::once(async move { Err(e) }).boxed();
        }
        // object_store lists whole path segments: list the folder holding the prefix, and
        // keep what starts with it.
        let (dir, rest) = match prefix.rfind('/') {
            Some(i) => (&prefix[..i], &prefix[i + 1..]),
            None => ("", prefix),
        };
        let root = self.prefix.clone();
        let wanted = prefix.to_string();
        let listed = prefix.to_string();
        if rest.is_empty() {
            return self
                .store
                .list(self.dir_path(dir).as_ref())
                .map_ok(move |m| Self::meta(&root, &m))
                .map_err(move |e| self.err("list", &listed, e))
                .try_filter(move |m| futures::future::ready(m.key.starts_with(&wanted)))
                .boxed();
        }
        // A partial last segment: one delimited listing of the folder, then the matching
        // sub-folders recursively (cheap for `csdr-probe-` at a bucket's root).
        let dir = self.dir_path(dir);
        stream::once(async move {
            let listing = self
                .store
                .list_with_delimiter(dir.as_ref())
                .await
                .map_err(|e| self.err("list", &listed, e))?;
            let mut out: Vec<BlobMeta> = listing
                .objects
                .iter()
                .map(|m| Self::meta(&root, m))
                .filter(|m| m.key.starts_with(&wanted))
                .collect();
            for folder in listing.common_prefixes {
                let rel = Self::rel(&root, &folder);
                if !rel.starts_with(&wanted) {
                    continue;
                }
                let below: Vec<ObjectMeta> = self
                    .store
                    .list(Some(&folder))
                    .try_collect()
                    .await
                    .map_err(|e| self.err("list", &listed, e))?;
                out.extend(below.iter().map(|m| Self::meta(&root, m)));
            }
            Ok::<_, BlobError>(out)
        })
        .flat_map(|r| match r {
            Ok(v) => stream::iter(v.into_iter().map(Ok)).boxed(),
            Err(e) => stream::once(async move { Err(e) }).boxed(),
        })
        .boxed()
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        check_key(key)?;
        match self.store.delete(&self.path(key)).await {
            Ok(()) => Ok(()),
            Err(e) => match self.err("delete", key, e) {
                BlobError::NotFound { .. } => Ok(()),
                e => Err(e),
            },
        }
    }

    async fn delete_many(&self, keys: &[String]) -> Result<(), BlobError> {
        for k in keys {
            check_key(k)?;
        }
        if keys.is_empty() {
            return Ok(());
        }
        let paths: Vec<_> = keys.iter().map(|k| Ok(self.path(k))).collect();
        let results: Vec<_> = self
            .store
            .delete_stream(stream::iter(paths).boxed())
            .collect()
            .await;
        for r in results {
            if let Err(e) = r {
                match self.err("delete", &keys.join(", "), e) {
                    BlobError::NotFound { .. } => {}
                    e => return Err(e),
                }
            }
        }
        Ok(())
    }

    async fn start_upload(
        &self,
        key: &str,
        options: UploadOptions,
    ) -> Result<Box<dyn BlobUpload>, BlobError> {
        check_key(key)?;
        let upload = self
            .store
            .put_multipart(&self.path(key))
            .await
            .map_err(|e| self.err("upload", key, e))?;
        Ok(Box::new(MultipartBlobUpload {
            writer: WriteMultipart::new_with_chunk_size(upload, self.part_size),
            in_flight: options
                .parts_in_flight
                .unwrap_or(self.parts_in_flight)
                .max(1),
            size: 0,
            key: key.to_string(),
            bucket: self.bucket.clone(),
            endpoint: self.endpoint.clone(),
        }))
    }
}

/// A streamed upload: `object_store`'s multipart upload, parts sent while writing.
struct MultipartBlobUpload {
    writer: WriteMultipart,
    in_flight: usize,
    /// Bytes written so far.
    size: u64,
    key: String,
    bucket: Option<String>,
    endpoint: Option<String>,
}

impl MultipartBlobUpload {
    fn err(&self, e: object_store::Error) -> BlobError {
        map_error(
            self.bucket.as_deref(),
            self.endpoint.as_deref(),
            "upload",
            &self.key,
            e,
        )
    }
}

#[async_trait]
impl BlobUpload for MultipartBlobUpload {
    async fn write(&mut self, bytes: Bytes) -> Result<(), BlobError> {
        let waited = self.writer.wait_for_capacity(self.in_flight).await;
        waited.map_err(|e| self.err(e))?;
        self.size += bytes.len() as u64;
        self.writer.put(bytes);
        Ok(())
    }

    async fn complete(mut self: Box<Self>) -> Result<u64, BlobError> {
        // Surface a failed part's own error (finish() would report its abort's instead).
        let waited = self.writer.wait_for_capacity(0).await;
        waited.map_err(|e| self.err(e))?;
        let MultipartBlobUpload {
            writer,
            key,
            bucket,
            endpoint,
            size,
            ..
        } = *self;
        writer
            .finish()
            .await
            .map_err(|e| map_error(bucket.as_deref(), endpoint.as_deref(), "upload", &key, e))?;
        Ok(size)
    }

    async fn abort(self: Box<Self>) -> Result<(), BlobError> {
        let MultipartBlobUpload {
            writer,
            key,
            bucket,
            endpoint,
            ..
        } = *self;
        writer
            .abort()
            .await
            .map_err(|e| map_error(bucket.as_deref(), endpoint.as_deref(), "abort", &key, e))
    }
}
