//! `rustic_core`'s backend traits on csdr-core's [`BlobStore`] port: one implementation for
//! every vault (file, S3, OSS, memory).
//!
//! A repository is a folder of the vault, `restic/<repository>/`, laid out as restic lays out
//! its local and S3 repositories (`config`, `keys/<id>`, `snapshots/<id>`, `index/<id>`,
//! `data/<first two hex digits>/<id>`), so the `restic` tool reads it in place and csdr reads
//! the repositories Velero's restic integration wrote at the same place.
//!
//! `rustic_core` is synchronous: it calls the backend from the thread that runs the command
//! and from its own worker threads. Each call blocks on the async store through the tokio
//! runtime handle given at construction, so commands must run off the runtime's worker threads
//! (`tokio::task::spawn_blocking`), as [`super::VolumeRepository`] does.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use csdr_core::ports::blob_store::{BlobError, BlobStore};
use futures::TryStreamExt;
use rustic_core::{
    BytesList, ErrorKind, FileType, Id, ReadBackend, RusticError, RusticResult, WriteBackend,
};
use tokio::runtime::Handle;

/// The folder of the vault that holds volume repositories (Velero's place for them).
pub const RESTIC_FOLDER: &str = "restic";

/// A restic-format repository at `restic/<repository>/` of a vault's store.
#[derive(Clone, Debug)]
pub struct VaultBackend {
    store: Arc<dyn BlobStore>,
    root: String,
    runtime: Handle,
}

impl VaultBackend {
    /// The repository `name` of the vault whose store is `store`; store calls run on `runtime`.
    pub fn new(store: Arc<dyn BlobStore>, name: &str, runtime: Handle) -> Self {
        Self {
            store,
            root: format!("{RESTIC_FOLDER}/{name}/"),
            runtime,
        }
    }

    /// The folder of the vault that holds the repository, ending in `/`.
    pub fn root(&self) -> &str {
        &self.root
    }

    fn folder(&self, tpe: FileType) -> String {
        format!("{}{}/", self.root, tpe.dirname())
    }

    /// Where a file lives: restic's layout, packs spread over 256 folders.
    fn key(&self, tpe: FileType, id: &Id) -> String {
        let hex = id.to_hex();
        match tpe {
            FileType::Config => format!("{}config", self.root),
            FileType::Pack => format!("{}data/{}/{}", self.root, &hex[..2], hex.as_str()),
            other => format!("{}{}", self.folder(other), hex.as_str()),
        }
    }

    fn block_on<F: Future>(&self, work: F) -> F::Output {
        self.runtime.block_on(work)
    }
}

/// A store error as `rustic_core`'s error, the store's error kept as its source.
fn backend_error(operation: &str, key: &str, e: BlobError) -> Box<RusticError> {
    RusticError::with_source(
        ErrorKind::Backend,
        "{operation} of `{key}` in the vault failed",
        e,
    )
    .attach_context("operation", operation.to_string())
    .attach_context("key", key.to_string())
}

impl ReadBackend for VaultBackend {
    fn location(&self) -> String {
        format!("csdr-vault:{}", self.root.trim_end_matches('/'))
    }

    fn list_with_size(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        if tpe == FileType::Config {
            let key = format!("{}config", self.root);
            return match self.block_on(self.store.head(&key)) {
                Ok(meta) => Ok(vec![(Id::default(), size_u32(&key, meta.size)?)]),
                Err(BlobError::NotFound { .. }) => Ok(Vec::new()),
                Err(e) => Err(backend_error("list", &key, e)),
            };
        }
        let prefix = self.folder(tpe);
        let metas: Vec<_> = self
            .block_on(self.store.list(&prefix).try_collect())
            .map_err(|e| backend_error("list", &prefix, e))?;
        let mut out = Vec::with_capacity(metas.len());
        for meta in metas {
            // The last segment is the id; anything else (restic's temporary files) is skipped.
            let name = meta.key.rsplit('/').next().unwrap_or_default();
            if let Ok(id) = name.parse::<Id>() {
                out.push((id, size_u32(&meta.key, meta.size)?));
            }
        }
        Ok(out)
    }

    fn read_full(&self, tpe: FileType, id: &Id) -> RusticResult<Bytes> {
        let key = self.key(tpe, id);
        self.block_on(self.store.get(&key))
            .map_err(|e| backend_error("read", &key, e))
    }

    fn read_partial(
        &self,
        tpe: FileType,
        id: &Id,
        _cacheable: bool,
        offset: u32,
        length: u32,
    ) -> RusticResult<Bytes> {
        let key = self.key(tpe, id);
        let start = u64::from(offset);
        let range = start..start + u64::from(length);
        let bytes = self
            .block_on(self.store.get_range(&key, range))
            .map_err(|e| backend_error("read", &key, e))?;
        if bytes.len() != length as usize {
            return Err(RusticError::new(
                ErrorKind::Backend,
                "`{key}` in the vault is shorter than its index says: read {got} of {want} bytes",
            )
            .attach_context("key", key)
            .attach_context("got", bytes.len().to_string())
            .attach_context("want", length.to_string()));
        }
        Ok(bytes)
    }

    fn warmup_path(&self, tpe: FileType, id: &Id) -> String {
        self.key(tpe, id)
    }
}

impl WriteBackend for VaultBackend {
    fn write_bytes(
        &self,
        tpe: FileType,
        id: &Id,
        _cacheable: bool,
        content: BytesList,
    ) -> RusticResult<()> {
        let key = self.key(tpe, id);
        let parts = content.into_vec();
        let bytes = match parts.len() {
            1 => parts.into_iter().next().unwrap_or_default(),
            _ => {
                let mut all = BytesMut::with_capacity(parts.iter().map(Bytes::len).sum());
                for part in parts {
                    all.extend_from_slice(&part);
                }
                all.freeze()
            }
        };
        self.block_on(self.store.put(&key, bytes))
            .map_err(|e| backend_error("write", &key, e))
    }

    fn remove(&self, tpe: FileType, id: &Id, _cacheable: bool) -> RusticResult<()> {
        let key = self.key(tpe, id);
        match self.block_on(self.store.delete(&key)) {
            Ok(()) | Err(BlobError::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend_error("delete", &key, e)),
        }
    }
}

fn size_u32(key: &str, size: u64) -> RusticResult<u32> {
    u32::try_from(size).map_err(|_| {
        RusticError::new(
            ErrorKind::Backend,
            "`{key}` in the vault is {size} bytes, more than a restic repository file may hold",
        )
        .attach_context("key", key.to_string())
        .attach_context("size", size.to_string())
    })
}
