//! [`MemoryBlobStore`]: the [`BlobStore`] port in memory, for tests and `memory://` vaults.
//!
//! Deterministic: listings come back sorted by key, and with
//! [`MemoryBlobStore::with_clock`] objects are dated by a [`Clock`] the test controls (a
//! `ManualClock`), so garbage collection can be tested without waiting. With the `testing`
//! feature, [`MemoryBlobStore::set_fault_hook`] makes chosen calls fail, before or after
//! they take effect (an answer lost on the way back).
//!
//! Unlike a real service it never loses data on a crash, and its uploads hold their parts in
//! memory until they complete.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::stream::{self, BoxStream, StreamExt};
use jiff::Timestamp;

use crate::ports::blob_store::{
    BlobError, BlobMeta, BlobStore, BlobUpload, UploadOptions, check_key, check_prefix, clamp_range,
};
use crate::ports::clock::Clock;

#[derive(Clone, Debug)]
struct Object {
    bytes: Bytes,
    last_modified: Timestamp,
    version: u64,
}

#[derive(Debug, Default)]
struct State {
    objects: BTreeMap<String, Object>,
    version: u64,
}

/// The [`BlobStore`] port in memory. Cheap to clone: clones share the objects.
#[derive(Clone, Default)]
pub struct MemoryBlobStore {
    state: Arc<Mutex<State>>,
    clock: Option<Arc<dyn Clock>>,
    #[cfg(feature = "testing")]
    hook: Arc<Mutex<Option<FaultHook>>>,
}

impl std::fmt::Debug for MemoryBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBlobStore")
            .field("objects", &self.lock().objects.len())
            .finish()
    }
}

/// One call to a [`MemoryBlobStore`], as a fault hook sees it.
#[cfg(feature = "testing")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobCall {
    /// `get`, `get_range`, `head`, `put`, `put_if_absent`, `copy`, `list`, `delete`,
    /// `delete_many`, `start_upload`, `upload_write`, `upload_complete`, `upload_abort`.
    pub operation: &'static str,
    /// The key (the source for `copy`, the prefix for `list`, the first key for
    /// `delete_many`).
    pub key: String,
}

/// What a fault hook does to a call.
#[cfg(feature = "testing")]
#[derive(Debug)]
pub enum Fault {
    /// Fail without any effect.
    Before(BlobError),
    /// Take effect, then fail (the caller cannot know the outcome).
    After(BlobError),
}

/// Decides, call by call, whether a [`MemoryBlobStore`] fails.
#[cfg(feature = "testing")]
pub type FaultHook = Arc<dyn Fn(&BlobCall) -> Option<Fault> + Send + Sync>;

impl MemoryBlobStore {
    /// An empty store dating objects by the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store dating objects by `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        MemoryBlobStore {
            clock: Some(clock),
            ..Self::default()
        }
    }

    /// Makes calls fail as `hook` decides (`None` removes it).
    #[cfg(feature = "testing")]
    pub fn set_fault_hook(&self, hook: Option<FaultHook>) {
        *self.hook.lock().unwrap_or_else(|e| e.into_inner()) = hook;
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock still holds consistent objects: every change is one insert/remove.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now(&self) -> Timestamp {
        self.clock
            .as_ref()
            .map(|c| c.now())
            .unwrap_or_else(Timestamp::now)
    }

    /// Runs `f` under the fault hook for `operation` on `key`.
    fn call<T>(
        &self,
        operation: &'static str,
        key: &str,
        f: impl FnOnce() -> Result<T, BlobError>,
    ) -> Result<T, BlobError> {
        #[cfg(feature = "testing")]
        {
            let hook = self.hook.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(hook) = hook {
                let call = BlobCall {
                    operation,
                    key: key.to_string(),
                };
                match hook(&call) {
                    Some(Fault::Before(e)) => return Err(e),
                    Some(Fault::After(e)) => {
                        let _ = f();
                        return Err(e);
                    }
                    None => {}
                }
            }
        }
        let _ = (operation, key);
        f()
    }

    fn insert(&self, key: &str, bytes: Bytes) {
        let now = self.now();
        let mut state = self.lock();
        state.version += 1;
        let version = state.version;
        state.objects.insert(
            key.to_string(),
            Object {
                bytes,
                last_modified: now,
                version,
            },
        );
    }

    fn object(&self, key: &str) -> Result<Object, BlobError> {
        self.lock()
            .objects
            .get(key)
            .cloned()
            .ok_or_else(|| BlobError::NotFound {
                key: key.to_string(),
            })
    }
}

fn meta(key: &str, o: &Object) -> BlobMeta {
    BlobMeta {
        key: key.to_string(),
        size: o.bytes.len() as u64,
        last_modified: o.last_modified,
        etag: Some(format!("\"{}\"", o.version)),
    }
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    async fn get(&self, key: &str) -> Result<Bytes, BlobError> {
        check_key(key)?;
        self.call("get", key, || Ok(self.object(key)?.bytes))
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, BlobError> {
        check_key(key)?;
        self.call("get_range", key, || {
            let o = self.object(key)?;
            let size = o.bytes.len() as u64;
            Ok(match clamp_range(key, &range, size)? {
                None => Bytes::new(),
                // Both ends are at most the object's size, which is a usize.
                Some(r) => o.bytes.slice(r.start as usize..r.end as usize),
            })
        })
    }

    async fn head(&self, key: &str) -> Result<BlobMeta, BlobError> {
        check_key(key)?;
        self.call("head", key, || Ok(meta(key, &self.object(key)?)))
    }

    async fn put(&self, key: &str, bytes: Bytes) -> Result<(), BlobError> {
        check_key(key)?;
        self.call("put", key, || {
            self.insert(key, bytes);
            Ok(())
        })
    }

    async fn put_if_absent(&self, key: &str, bytes: Bytes) -> Result<(), BlobError> {
        check_key(key)?;
        self.call("put_if_absent", key, || {
            let now = self.now();
            let mut state = self.lock();
            if state.objects.contains_key(key) {
                return Err(BlobError::AlreadyExists {
                    key: key.to_string(),
                });
            }
            state.version += 1;
            let version = state.version;
            state.objects.insert(
                key.to_string(),
                Object {
                    bytes,
                    last_modified: now,
                    version,
                },
            );
            Ok(())
        })
    }

    async fn copy(&self, from: &str, to: &str) -> Result<(), BlobError> {
        check_key(from)?;
        check_key(to)?;
        self.call("copy", from, || {
            let o = self.object(from)?;
            self.insert(to, o.bytes);
            Ok(())
        })
    }

    fn list(&self, prefix: &str) -> BoxStream<'_, Result<BlobMeta, BlobError>> {
        let listed = check_prefix(prefix).and_then(|()| {
            self.call("list", prefix, || {
                Ok(self
                    .lock()
                    .objects
                    .range(prefix.to_string()..)
                    .take_while(|(k, _)| k.starts_with(prefix))
                    .map(|(k, o)| meta(k, o))
                    .collect::<Vec<_>>())
            })
        });
        match listed {
            Ok(all) => stream::iter(all.into_iter().map(Ok)).boxed(),
            Err(e) => stream::once(async move { Err(e) }).boxed(),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        check_key(key)?;
        self.call("delete", key, || {
            self.lock().objects.remove(key);
            Ok(())
        })
    }

    async fn delete_many(&self, keys: &[String]) -> Result<(), BlobError> {
        for k in keys {
            check_key(k)?;
        }
        let first = keys.first().map(String::as_str).unwrap_or("");
        self.call("delete_many", first, || {
            let mut state = self.lock();
            for k in keys {
                state.objects.remove(k);
            }
            Ok(())
        })
    }

    async fn start_upload(
        &self,
        key: &str,
        _options: UploadOptions,
    ) -> Result<Box<dyn BlobUpload>, BlobError> {
        check_key(key)?;
        self.call("start_upload", key, || Ok(()))?;
        Ok(Box::new(MemoryUpload {
            store: self.clone(),
            key: key.to_string(),
            buffer: BytesMut::new(),
        }))
    }
}

/// A streamed upload into a [`MemoryBlobStore`]: parts are kept until `complete`.
struct MemoryUpload {
    store: MemoryBlobStore,
    key: String,
    buffer: BytesMut,
}

#[async_trait]
impl BlobUpload for MemoryUpload {
    async fn write(&mut self, bytes: Bytes) -> Result<(), BlobError> {
        let buffer = &mut self.buffer;
        self.store.call("upload_write", &self.key, || {
            buffer.extend_from_slice(&bytes);
            Ok(())
        })
    }

    async fn complete(self: Box<Self>) -> Result<u64, BlobError> {
        let MemoryUpload { store, key, buffer } = *self;
        let size = buffer.len() as u64;
        store.call("upload_complete", &key, || {
            store.insert(&key, buffer.freeze());
            Ok(size)
        })
    }

    async fn abort(self: Box<Self>) -> Result<(), BlobError> {
        self.store.call("upload_abort", &self.key, || Ok(()))
    }
}
