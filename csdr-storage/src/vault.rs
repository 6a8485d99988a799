//! [`ObjectVault`]: the [`Vault`] port on `object_store`.
//!
//! ## Writing a backup (B7, V4)
//! 1. [`Vault::start_backup`] lists `backups/<name>/` and fails fast if the name is committed,
//!    being uploaded or being deleted; otherwise it writes the attempt's claim
//!    `csdr-attempts/<attempt>/attempt.json` (so others see the upload) and opens a multipart
//!    upload of `csdr-attempts/<attempt>/<name>.tar.gz`. The attempt id is random, so no two
//!    writers ever share a data key, and multipart uploads (which cannot be create-only) never
//!    touch a key anyone else wrote.
//! 2. [`BackupUpload::write`] hashes each chunk (SHA-256, size) and hands it to the multipart
//!    writer, which uploads parts while the archive is still being produced.
//!    [`BackupUpload::write_entry_digests`] does the same for the entry-digests file
//!    (`csdr-attempts/<attempt>/<name>-entry-digests.jsonl.gz`, a second multipart upload
//!    opened on its first chunk, with at most one part in flight).
//! 3. [`BackupUpload::commit`] completes the uploads, writes the companions under the attempt's
//!    folder, fills in the record's digests and attempt id and writes
//!    `velero-backup.json` with `PutMode::Create`. That write is the commit point: of several
//!    writers exactly one succeeds; a loser gets `backup already exists in vault` and removes
//!    its own attempt folder only. If the create's outcome is unknown (a timeout), the
//!    metadata is read back to learn whether this attempt won.
//! 4. The winner then copies its attempt's files to Velero's keys (`<name>.tar.gz`, …) and
//!    removes the attempt folder. Only the winner ever writes those keys. Readers look at
//!    Velero's key first and fall back to the attempt's key the record names, so a crash
//!    between commit and copy leaves a readable backup; [`Vault::remove_orphans`] finishes the
//!    copy later. Every read is verified against the recorded digest.
//!
//! A dropped or killed upload leaves an attempt folder without metadata: invisible, and
//! removed by [`Vault::remove_orphans`] once older than the grace period. On S3 the parts of
//! an unfinished multipart upload are not listable; configure the bucket's lifecycle rule
//! `AbortIncompleteMultipartUpload` to reclaim them.
//!
//! Limits: the copy to Velero's key uses a single server-side copy, which S3 limits to 5 GiB;
//! a larger tarball stays (verified and readable by csdr) at its attempt key.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use csdr_core::ports::vault::{Vault, VaultPhase};
//! use csdr_storage::{ObjectVault, StorageOptions};
//!
//! let vault = ObjectVault::open_url("demo", "memory://", &StorageOptions::default()).await?;
//! let check = vault.validate("2026-11-24T04:00:00Z".parse()?).await;
//! assert_eq!(check.phase, VaultPhase::Available, "{}", check.message);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use csdr_core::model::{EntryDigest, VaultSpec};
use csdr_core::ports::vault::{
    BackupUpload, OrphanReport, Vault, VaultError, VaultValidation, VerifiedArchive,
};
use csdr_core::vault_record::{
    BackupCompanions, BackupRecord, CompanionFile, CompanionKind, RESTORE_RECORD_FILE,
    RestoreCompanions, RestoreRecord, archive_file_name, decode_entry_digests,
    entry_digests_file_name, hex, sha256_hex,
};
use futures::{StreamExt, TryStreamExt};
use jiff::Timestamp;
use object_store::path::Path;
use object_store::{
    ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart,
};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::StorageError;
use crate::error::ErrorContext;
use crate::layout::{self, BackupKey};
use crate::location::{S3Provider, VaultLocation};

/// Client settings for a vault.
#[derive(Clone, Debug)]
pub struct StorageOptions {
    /// TCP connect timeout; `None` keeps object_store's default.
    pub connect_timeout: Option<Duration>,
    /// Whole-request timeout; `None` keeps object_store's default.
    pub request_timeout: Option<Duration>,
    /// Retries of a failed request; `None` keeps object_store's default (10).
    pub max_retries: Option<usize>,
    /// Give up retrying after this long; `None` keeps object_store's default (3 minutes).
    pub retry_timeout: Option<Duration>,
    /// Multipart part size in bytes (S3 needs at least 5 MiB for all parts but the last).
    pub part_size: usize,
    /// Parts uploaded at once; `write` waits when this many are in flight.
    pub parts_in_flight: usize,
    /// Credentials for an `s3://` vault. `None` (the default) takes them where the AWS SDKs
    /// do: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, web identity, then
    /// the instance metadata service. Ignored by `file://` and `memory://` vaults.
    pub credentials: Option<S3Credentials>,
}

/// An access key for an S3-compatible vault (an AWS IAM key, an Alibaba Cloud RAM user's
/// AccessKey for OSS), given by the embedder instead of taken from the environment — for
/// example read from a Kubernetes Secret. `Debug` shows the key id only.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Credentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// A session token, for temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Default for StorageOptions {
    fn default() -> Self {
        StorageOptions {
            connect_timeout: None,
            request_timeout: None,
            max_retries: None,
            retry_timeout: None,
            part_size: 8 * 1024 * 1024,
            parts_in_flight: 4,
            credentials: None,
        }
    }
}

/// A vault on object storage: `file://`, `memory://` or `s3://`. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ObjectVault {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    location: VaultLocation,
    region: Option<String>,
    store: Arc<dyn ObjectStore>,
    prefix: String,
    ctx: ErrorContext,
    options: StorageOptions,
}

/// The vault's identity, stored as `csdr-vault.json` (V3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VaultMarker {
    kind: String,
    version: u32,
    name: String,
    location: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deleted: Option<Timestamp>,
}

impl VaultMarker {
    fn describe(&self) -> String {
        match &self.region {
            Some(r) => format!("{} in region {r}", self.location),
            None => self.location.clone(),
        }
    }
}

/// An attempt's claim file.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttemptClaim {
    backup: String,
    attempt: String,
}

/// The outcome of a create-only write.
#[derive(Debug, PartialEq, Eq)]
enum Created {
    Yes,
    AlreadyThere,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A random id for attempts and probes (no clock: the store's own times date objects).
fn random_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    for _ in 0..2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u32(std::process::id());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

fn to_timestamp(meta: &ObjectMeta) -> Timestamp {
    Timestamp::from_millisecond(meta.last_modified.timestamp_millis())
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

fn is_no_such_bucket(e: &object_store::Error) -> bool {
    let mut text = e.to_string();
    let mut cur = std::error::Error::source(e);
    while let Some(s) = cur {
        text.push_str(&s.to_string());
        cur = s.source();
    }
    text.contains("NoSuchBucket")
}

impl ObjectVault {
    /// Sets up a vault's client without any I/O but creating a `file://` folder; call
    /// [`ObjectVault::open`] to also check (or record) the vault's identity.
    pub fn connect(spec: &VaultSpec, options: &StorageOptions) -> Result<Self, StorageError> {
        let location = VaultLocation::parse_with(&spec.url, spec.region.as_deref(), spec.network)?;
        let client_err = |reason: String| StorageError::Client {
            location: location.to_string(),
            reason,
        };
        let (store, prefix, bucket, endpoint): (Arc<dyn ObjectStore>, String, _, _) =
            match &location {
                VaultLocation::Memory => (
                    Arc::new(object_store::memory::InMemory::new()),
                    String::new(),
                    None,
                    None,
                ),
                VaultLocation::File(path) => {
                    std::fs::create_dir_all(path).map_err(|e| {
                        client_err(format!("cannot create folder {}: {e}", path.display()))
                    })?;
                    // fsync: the data must be on disk before the metadata that commits it
                    // (a crash must not leave a visible backup whose tarball was lost), and a
                    // committed backup must survive a power loss. Cleanup: removing an
                    // attempt's files also removes its emptied folders.
                    let fs = object_store::local::LocalFileSystem::new_with_prefix(path)
                        .map_err(|e| client_err(e.to_string()))?
                        .with_fsync(true)
                        .with_automatic_cleanup(true);
                    (Arc::new(fs), String::new(), None, None)
                }
                VaultLocation::S3(s3) => {
                    use object_store::aws::{AmazonS3Builder, S3ConditionalPut};
                    let mut client = object_store::ClientOptions::new();
                    if s3
                        .endpoint
                        .as_deref()
                        .is_some_and(|e| e.starts_with("http://"))
                    {
                        client = client.with_allow_http(true);
                    }
                    if let Some(t) = options.connect_timeout {
                        client = client.with_connect_timeout(t);
                    }
                    if let Some(t) = options.request_timeout {
                        client = client.with_timeout(t);
                    }
                    let mut builder = AmazonS3Builder::from_env()
                        .with_bucket_name(&s3.bucket)
                        .with_virtual_hosted_style_request(!s3.path_style)
                        .with_conditional_put(S3ConditionalPut::ETagMatch);
                    if s3.provider == S3Provider::Oss {
                        let mut headers = object_store::HeaderMap::new();
                        headers.insert(
                            "x-oss-forbid-overwrite",
                            object_store::HeaderValue::from_static("true"),
                        );
                        client = client.with_default_headers(headers);
                        builder = builder.with_disable_bulk_delete(true);
                    }
                    builder = builder.with_client_options(client);
                    if let Some(c) = &options.credentials {
                        builder = builder
                            .with_access_key_id(&c.access_key_id)
                            .with_secret_access_key(&c.secret_access_key);
                        if let Some(token) = &c.session_token {
                            builder = builder.with_token(token);
                        }
                    }
                    if let Some(r) = &s3.region {
                        builder = builder.with_region(r);
                    }
                    if let Some(e) = &s3.endpoint {
                        builder = builder.with_endpoint(e);
                    }
                    let mut retry = object_store::RetryConfig::default();
                    if let Some(n) = options.max_retries {
                        retry.max_retries = n;
                    }
                    if let Some(t) = options.retry_timeout {
                        retry.retry_timeout = t;
                    }
                    builder = builder.with_retry(retry);
                    let store = builder.build().map_err(|e| client_err(e.to_string()))?;
                    let endpoint = s3.endpoint.clone().unwrap_or_else(|| {
                        format!(
                            "https://s3.{}.amazonaws.com",
                            s3.region.as_deref().unwrap_or("us-east-1")
                        )
                    });
                    (
                        Arc::new(store),
                        s3.prefix.clone(),
                        Some(s3.bucket.clone()),
                        Some(endpoint),
                    )
                }
            };
        let region = match &location {
            VaultLocation::S3(s3) => s3.region.clone(),
            _ => None,
        };
        let ctx = ErrorContext {
            location: location.to_string(),
            bucket,
            endpoint,
        };
        Ok(ObjectVault {
            inner: Arc::new(Inner {
                name: spec.name.clone(),
                location,
                region,
                store,
                prefix,
                ctx,
                options: options.clone(),
            }),
        })
    }

    /// Connects and checks the vault's identity (V3): records it in `csdr-vault.json` if the
    /// location holds no vault yet; fails if it holds another vault or a deleted one.
    pub async fn open(spec: &VaultSpec, options: &StorageOptions) -> Result<Self, StorageError> {
        let vault = Self::connect(spec, options)?;
        vault.inner.check_marker().await?;
        Ok(vault)
    }

    /// [`ObjectVault::open`] for a name and a URL alone.
    pub async fn open_url(
        name: &str,
        url: &str,
        options: &StorageOptions,
    ) -> Result<Self, StorageError> {
        let spec = VaultSpec {
            name: name.to_string(),
            url: url.to_string(),
            region: None,
            network: None,
        };
        Self::open(&spec, options).await
    }

    /// The vault's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Where the vault is.
    pub fn vault_location(&self) -> &VaultLocation {
        &self.inner.location
    }

    /// Deletes the vault (V3): leaves a tombstone so that neither this location nor this
    /// vault's identity is used again; backups stay in the bucket for other tools.
    pub async fn delete_vault(&self, now: Timestamp) -> Result<(), VaultError> {
        let tombstone = VaultMarker {
            kind: "CsdrVault".into(),
            version: 1,
            name: self.inner.name.clone(),
            location: self.inner.location.to_string(),
            region: self.inner.region.clone(),
            deleted: Some(now),
        };
        let bytes = serde_json::to_vec_pretty(&tombstone).map_err(|e| VaultError::Corrupt {
            key: layout::VAULT_TOMBSTONE.into(),
            reason: e.to_string(),
        })?;
        self.inner
            .put_create(layout::VAULT_TOMBSTONE, bytes.into())
            .await?;
        Ok(())
    }

    /// The first step of [`Vault::delete_backup`] alone: writes the deletion marker, which
    /// hides the backup everywhere at once (V6). `delete_backup` finishes the job.
    pub async fn mark_deleted(&self, name: &str) -> Result<(), VaultError> {
        layout::check_name("backup", name)?;
        self.inner.mark_deleted(name).await
    }

    /// Every key in the vault, relative to its prefix, sorted (for tests and diagnostics).
    pub async fn keys(&self) -> Result<Vec<String>, VaultError> {
        let mut keys: Vec<String> = self
            .inner
            .list("")
            .await?
            .iter()
            .map(|m| self.inner.rel(&m.location))
            .collect();
        keys.sort();
        Ok(keys)
    }

    /// The underlying store and the vault's key prefix (for tools and tests that need raw
    /// access, e.g. to place a Velero-written backup).
    pub fn raw_store(&self) -> (Arc<dyn ObjectStore>, Path) {
        (self.inner.store.clone(), self.inner.path(""))
    }
}

impl Inner {
    fn path(&self, rel: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(rel)
        } else {
            Path::from(format!("{}/{rel}", self.prefix))
        }
    }

    fn rel(&self, path: &Path) -> String {
        let full = path.as_ref();
        if self.prefix.is_empty() {
            full.to_string()
        } else {
            full.strip_prefix(&self.prefix)
                .map(|r| r.trim_start_matches('/').to_string())
                .unwrap_or_else(|| full.to_string())
        }
    }

    fn err(&self, op: &str, rel: &str, e: object_store::Error) -> VaultError {
        self.ctx.map(op, rel, e)
    }

    async fn get(&self, rel: &str) -> Result<Option<Bytes>, VaultError> {
        let path = self.path(rel);
        match self.store.get(&path).await {
            Ok(r) => r
                .bytes()
                .await
                .map(Some)
                .map_err(|e| self.err("get", rel, e)),
            Err(e @ object_store::Error::NotFound { .. }) if !is_no_such_bucket(&e) => Ok(None),
            Err(e) => Err(self.err("get", rel, e)),
        }
    }

    async fn exists(&self, rel: &str) -> Result<bool, VaultError> {
        match self.store.head(&self.path(rel)).await {
            Ok(_) => Ok(true),
            Err(e @ object_store::Error::NotFound { .. }) if !is_no_such_bucket(&e) => Ok(false),
            Err(e) => Err(self.err("head", rel, e)),
        }
    }

    async fn put(&self, rel: &str, bytes: Bytes) -> Result<(), VaultError> {
        self.store
            .put(&self.path(rel), PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|e| self.err("put", rel, e))
    }

    async fn put_create(&self, rel: &str, bytes: Bytes) -> Result<Created, VaultError> {
        let opts = PutOptions::from(PutMode::Create);
        match self
            .store
            .put_opts(&self.path(rel), PutPayload::from(bytes), opts)
            .await
        {
            Ok(_) => Ok(Created::Yes),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(Created::AlreadyThere),
            Err(e @ object_store::Error::NotImplemented { .. }) => {
                Err(VaultError::CreateOnlyUnsupported {
                    location: self.ctx.location.clone(),
                    reason: e.to_string(),
                })
            }
            Err(e) => Err(self.err("create", rel, e)),
        }
    }

    async fn delete(&self, rel: &str) -> Result<(), VaultError> {
        match self.store.delete(&self.path(rel)).await {
            Ok(()) => Ok(()),
            Err(e @ object_store::Error::NotFound { .. }) if !is_no_such_bucket(&e) => Ok(()),
            Err(e) => Err(self.err("delete", rel, e)),
        }
    }

    async fn delete_all(&self, rels: Vec<String>) -> Result<(), VaultError> {
        let paths: Vec<_> = rels.iter().map(|r| Ok(self.path(r))).collect();
        let results: Vec<_> = self
            .store
            .delete_stream(futures::stream::iter(paths).boxed())
            .collect()
            .await;
        for r in results {
            match r {
                Ok(_) => {}
                Err(e @ object_store::Error::NotFound { .. }) if !is_no_such_bucket(&e) => {}
                Err(e) => return Err(self.err("delete", &rels.join(", "), e)),
            }
        }
        Ok(())
    }

    /// Objects under a relative prefix (a folder ending in `/`, or "" for everything).
    async fn list(&self, rel_dir: &str) -> Result<Vec<ObjectMeta>, VaultError> {
        let dir = rel_dir.trim_end_matches('/');
        let prefix = if dir.is_empty() && self.prefix.is_empty() {
            None
        } else {
            Some(self.path(dir))
        };
        self.store
            .list(prefix.as_ref())
            .try_collect()
            .await
            .map_err(|e| self.err("list", rel_dir, e))
    }

    async fn check_marker(&self) -> Result<(), StorageError> {
        let wanted = VaultMarker {
            kind: "CsdrVault".into(),
            version: 1,
            name: self.name.clone(),
            location: self.location.to_string(),
            region: self.region.clone(),
            deleted: None,
        };
        let parse = |key: &str, bytes: &[u8]| {
            serde_json::from_slice::<VaultMarker>(bytes).map_err(|e| {
                StorageError::Vault(VaultError::Corrupt {
                    key: key.to_string(),
                    reason: format!("not a csdr vault marker: {e}"),
                })
            })
        };
        if let Some(bytes) = self.get(layout::VAULT_TOMBSTONE).await? {
            let t = parse(layout::VAULT_TOMBSTONE, &bytes)?;
            return Err(StorageError::VaultDeleted {
                name: t.name,
                location: t.location,
                deleted: t.deleted.map(|d| d.to_string()).unwrap_or_default(),
            });
        }
        let existing = match self.get(layout::VAULT_MARKER).await? {
            Some(bytes) => parse(layout::VAULT_MARKER, &bytes)?,
            None => {
                let bytes = serde_json::to_vec_pretty(&wanted).map_err(|e| {
                    StorageError::Vault(VaultError::Corrupt {
                        key: layout::VAULT_MARKER.into(),
                        reason: e.to_string(),
                    })
                })?;
                match self.put_create(layout::VAULT_MARKER, bytes.into()).await? {
                    Created::Yes => return Ok(()),
                    Created::AlreadyThere => {
                        let bytes = self.get(layout::VAULT_MARKER).await?.unwrap_or_default();
                        parse(layout::VAULT_MARKER, &bytes)?
                    }
                }
            }
        };
        let region_differs =
            matches!((&existing.region, &wanted.region), (Some(a), Some(b)) if a != b);
        if existing.name != wanted.name || existing.location != wanted.location || region_differs {
            return Err(StorageError::ConfigurationMismatch {
                location: self.location.to_string(),
                existing: existing.name.clone(),
                existing_config: existing.describe(),
                requested: wanted.name.clone(),
                requested_config: wanted.describe(),
            });
        }
        Ok(())
    }

    async fn validate(&self) -> Result<(), VaultError> {
        self.check_marker().await.map_err(VaultError::from)?;
        let id = random_id();
        let probe = format!("{}{id}.json", layout::PROBE_PREFIX);
        let body = Bytes::from(format!("{{\"probe\":\"{id}\"}}"));
        self.put(&probe, body.clone()).await?;
        let read = self.get(&probe).await?;
        self.delete(&probe).await?;
        if read.as_ref() != Some(&body) {
            return Err(VaultError::Storage {
                operation: "read back".into(),
                key: probe,
                reason: "the probe object read back differs from what was written".into(),
                transient: false,
            });
        }
        let once = format!("{}{id}-create.json", layout::PROBE_PREFIX);
        let first = self.put_create(&once, body.clone()).await?;
        let second = self.put_create(&once, Bytes::from_static(b"{}")).await;
        let kept = self.get(&once).await;
        self.delete(&once).await?;
        if first != Created::Yes {
            return Err(VaultError::CreateOnlyUnsupported {
                location: self.ctx.location.clone(),
                reason: format!("a create-only write of the new key {once} was refused"),
            });
        }
        match second? {
            Created::AlreadyThere if kept?.as_ref() == Some(&body) => Ok(()),
            _ => Err(VaultError::CreateOnlyUnsupported {
                location: self.ctx.location.clone(),
                reason: format!(
                    "a second create-only write of {once} overwrote the first (the service ignored If-None-Match: *)"
                ),
            }),
        }
    }

    /// Why a backup name is taken, if it is.
    async fn taken(&self, name: &str) -> Result<Option<String>, VaultError> {
        let objects = self.list(&layout::backup_dir(name)).await?;
        let mut metadata = false;
        let mut attempts: BTreeMap<String, Timestamp> = BTreeMap::new();
        for m in &objects {
            match layout::classify(&self.rel(&m.location)) {
                Some((_, BackupKey::DeletionMarker)) => {
                    return Ok(Some("is being deleted".into()));
                }
                Some((_, BackupKey::Metadata)) => metadata = true,
                Some((_, BackupKey::Attempt(id, _))) => {
                    let t = to_timestamp(m);
                    let e = attempts.entry(id).or_insert(t);
                    *e = (*e).min(t);
                }
                _ => {}
            }
        }
        if metadata {
            let phase = match self.get(&layout::backup_metadata(name)).await? {
                Some(bytes) => match BackupRecord::from_velero_json(&bytes) {
                    Ok(r) => r.status.phase.to_string(),
                    Err(_) => "unreadable metadata".into(),
                },
                None => "just deleted".into(),
            };
            return Ok(Some(format!("is committed ({phase})")));
        }
        if let Some((id, since)) = attempts.iter().next() {
            return Ok(Some(format!(
                "is being uploaded by attempt {id} since {since} (an interrupted upload keeps the name until remove_orphans clears it after the grace period)"
            )));
        }
        Ok(None)
    }

    async fn record(&self, name: &str) -> Result<Option<BackupRecord>, VaultError> {
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
    async fn visible(&self, name: &str) -> Result<Option<BackupRecord>, VaultError> {
        layout::check_name("backup", name)?;
        if self.exists(&layout::deletion_marker(name)).await? {
            return Ok(None);
        }
        Ok(self.record(name).await?.filter(BackupRecord::is_restorable))
    }

    /// A backup's file: Velero's key first, then the committing attempt's key.
    async fn backup_file(
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

    fn verify(&self, key: &str, bytes: &[u8], digest: &EntryDigest) -> Result<(), VaultError> {
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

    fn full_key(&self, rel: &str) -> String {
        format!("{}/{rel}", self.ctx.location.trim_end_matches('/'))
    }

    async fn mark_deleted(&self, name: &str) -> Result<(), VaultError> {
        let body = Bytes::from(format!("{{\"backup\":\"{name}\"}}"));
        // Create-only so that OSS's x-oss-forbid-overwrite never gets in the way; a marker
        // already there is as good as a new one.
        self.put_create(&layout::deletion_marker(name), body)
            .await?;
        Ok(())
    }

    /// Removes a backup's objects: metadata first, the deletion marker last.
    async fn finish_deletion(&self, name: &str) -> Result<Vec<String>, VaultError> {
        self.delete(&layout::backup_metadata(name)).await?;
        let marker = layout::deletion_marker(name);
        let rest: Vec<String> = self
            .list(&layout::backup_dir(name))
            .await?
            .iter()
            .map(|m| self.rel(&m.location))
            .filter(|k| *k != marker)
            .collect();
        self.delete_all(rest.clone()).await?;
        self.delete(&marker).await?;
        let mut removed = rest;
        removed.push(marker);
        Ok(removed)
    }

    async fn remove_attempt(&self, name: &str, attempt: &str) -> Result<Vec<String>, VaultError> {
        let keys: Vec<String> = self
            .list(&layout::attempt_dir(name, attempt))
            .await?
            .iter()
            .map(|m| self.rel(&m.location))
            .collect();
        // The claim last, so an interrupted cleanup still shows the attempt.
        let claim = layout::attempt_file(name, attempt, layout::ATTEMPT_CLAIM_FILE);
        let data: Vec<String> = keys.iter().filter(|k| **k != claim).cloned().collect();
        self.delete_all(data).await?;
        self.delete(&claim).await?;
        Ok(keys)
    }

    /// Copies a committed attempt's files to Velero's keys, then removes the attempt folder.
    async fn finish_commit(&self, record: &BackupRecord) -> Result<(), VaultError> {
        let (name, Some(attempt)) = (record.name(), record.attempt.as_deref()) else {
            return Ok(());
        };
        let digests = record.archive.iter().chain(record.files.iter());
        for d in digests {
            let to = layout::backup_file(name, &d.path);
            let present = match self.store.head(&self.path(&to)).await {
                Ok(meta) => meta.size == d.size,
                Err(object_store::Error::NotFound { .. }) => false,
                Err(e) => return Err(self.err("head", &to, e)),
            };
            if present {
                continue;
            }
            let from = layout::attempt_file(name, attempt, &d.path);
            match self.store.copy(&self.path(&from), &self.path(&to)).await {
                Ok(()) | Err(object_store::Error::AlreadyExists { .. }) => {}
                Err(e) => return Err(self.err("copy", &from, e)),
            }
        }
        self.remove_attempt(name, attempt).await?;
        Ok(())
    }
}

#[async_trait]
impl Vault for ObjectVault {
    fn location(&self) -> String {
        self.inner.location.to_string()
    }

    async fn validate(&self, now: Timestamp) -> VaultValidation {
        match self.inner.validate().await {
            Ok(()) => VaultValidation::available(now),
            Err(e) => VaultValidation::unavailable(&e, now),
        }
    }

    async fn start_backup(&self, name: &str) -> Result<Box<dyn BackupUpload>, VaultError> {
        layout::check_name("backup", name)?;
        let inner = &self.inner;
        if let Some(state) = inner.taken(name).await? {
            return Err(VaultError::AlreadyExists {
                name: name.to_string(),
                state,
            });
        }
        let attempt = random_id();
        let claim = AttemptClaim {
            backup: name.to_string(),
            attempt: attempt.clone(),
        };
        let claim_key = layout::attempt_file(name, &attempt, layout::ATTEMPT_CLAIM_FILE);
        let claim_bytes = serde_json::to_vec(&claim).map_err(|e| VaultError::Corrupt {
            key: claim_key.clone(),
            reason: e.to_string(),
        })?;
        inner.put_create(&claim_key, claim_bytes.into()).await?;
        let archive = StreamedFile::open(
            inner,
            name,
            &attempt,
            archive_file_name(name),
            inner.options.parts_in_flight,
        )
        .await?;
        Ok(Box::new(ObjectUpload {
            inner: self.inner.clone(),
            name: name.to_string(),
            attempt,
            archive,
            entry_digests: None,
        }))
    }

    async fn list_backups(&self) -> Result<Vec<BackupRecord>, VaultError> {
        let inner = &self.inner;
        let mut names: BTreeMap<String, (bool, bool)> = BTreeMap::new();
        for m in inner.list(layout::BACKUPS).await? {
            if let Some((name, key)) = layout::classify(&inner.rel(&m.location)) {
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
                Ok(Some(record)) if record.is_restorable() => out.push(record),
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

    async fn backup(&self, name: &str) -> Result<Option<BackupRecord>, VaultError> {
        self.inner.visible(name).await
    }

    async fn download_archive(&self, name: &str) -> Result<VerifiedArchive, VaultError> {
        let inner = &self.inner;
        let record = inner
            .visible(name)
            .await?
            .ok_or_else(|| VaultError::NotFound {
                what: format!("backup {name}"),
            })?;
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
        let digests_file = entry_digests_file_name(name);
        let entry_digests = match record.file_digest(&digests_file) {
            Some(d) => {
                let Some((key, gz)) = inner.backup_file(&record, &digests_file).await? else {
                    return Err(VaultError::Integrity {
                        key: inner.full_key(&layout::backup_file(name, &digests_file)),
                        reason: "the entry-digests file is missing".into(),
                    });
                };
                inner.verify(&key, &gz, d)?;
                Some(
                    decode_entry_digests(name, &gz).map_err(|e| VaultError::Corrupt {
                        key: inner.full_key(&key),
                        reason: e.reason,
                    })?,
                )
            }
            // A record of version 1 holds the digests inline.
            None => (!record.entries.is_empty()).then(|| record.entries.clone()),
        };
        Ok(VerifiedArchive {
            bytes,
            entry_digests,
            warning: None,
        })
    }

    async fn backup_companions(&self, name: &str) -> Result<BackupCompanions, VaultError> {
        let inner = &self.inner;
        let record = inner
            .visible(name)
            .await?
            .ok_or_else(|| VaultError::NotFound {
                what: format!("backup {name}"),
            })?;
        let mut files = BTreeMap::new();
        for kind in CompanionKind::ALL {
            let file = kind.file_name(name);
            if let Some((key, bytes)) = inner.backup_file(&record, &file).await? {
                if let Some(d) = record.file_digest(&file) {
                    inner.verify(&key, &bytes, d)?;
                }
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

    async fn put_restore(
        &self,
        record: &RestoreRecord,
        companions: &RestoreCompanions,
    ) -> Result<(), VaultError> {
        let inner = &self.inner;
        let name = record.name();
        layout::check_name("restore", name)?;
        let bytes = record.to_json()?;
        let key = layout::restore_file(name, RESTORE_RECORD_FILE);
        if inner.put_create(&key, bytes.into()).await? == Created::AlreadyThere {
            return Err(VaultError::RestoreAlreadyExists {
                name: name.to_string(),
            });
        }
        for (file, gz) in companions.encode(name)? {
            inner
                .put(&layout::restore_file(name, &file), gz.into())
                .await?;
        }
        Ok(())
    }

    async fn restore(&self, name: &str) -> Result<Option<RestoreRecord>, VaultError> {
        layout::check_name("restore", name)?;
        let key = layout::restore_file(name, RESTORE_RECORD_FILE);
        match self.inner.get(&key).await? {
            None => Ok(None),
            Some(bytes) => {
                RestoreRecord::from_json(&bytes)
                    .map(Some)
                    .map_err(|e| VaultError::Corrupt {
                        key,
                        reason: e.reason,
                    })
            }
        }
    }

    async fn delete_backup(&self, name: &str) -> Result<(), VaultError> {
        layout::check_name("backup", name)?;
        let inner = &self.inner;
        if inner.list(&layout::backup_dir(name)).await?.is_empty() {
            return Ok(());
        }
        inner.mark_deleted(name).await?;
        inner.finish_deletion(name).await?;
        Ok(())
    }

    async fn remove_orphans(
        &self,
        now: Timestamp,
        grace: Duration,
    ) -> Result<OrphanReport, VaultError> {
        let inner = &self.inner;
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
            let rel = inner.rel(&m.location);
            let Some((name, key)) = layout::classify(&rel) else {
                continue;
            };
            let g = groups.entry(name).or_default();
            let t = to_timestamp(&m);
            match key {
                BackupKey::Metadata => g.metadata = true,
                BackupKey::DeletionMarker => g.deleting = true,
                BackupKey::Attempt(id, _) => {
                    let e = g.attempts.entry(id).or_insert((t, Vec::new()));
                    e.0 = e.0.max(t);
                    e.1.push(rel);
                }
                BackupKey::File(_) => g.files.push((rel, t)),
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
        // Probes of validations that were interrupted.
        let listing = inner
            .store
            .list_with_delimiter(
                if inner.prefix.is_empty() {
                    None
                } else {
                    Some(inner.path(""))
                }
                .as_ref(),
            )
            .await
            .map_err(|e| inner.err("list", "", e))?;
        for m in listing.objects {
            let rel = inner.rel(&m.location);
            if rel.starts_with(layout::PROBE_PREFIX) && to_timestamp(&m) <= cutoff {
                inner.delete(&rel).await?;
                report.removed.push(rel);
            }
        }
        Ok(report)
    }
}

/// One file of an upload attempt streamed as a multipart upload, hashed on the way.
struct StreamedFile {
    /// The file name (`<name>.tar.gz`, …).
    file: String,
    /// Its key under the attempt's folder.
    key: String,
    writer: Option<WriteMultipart>,
    hasher: sha2::Sha256,
    size: u64,
    /// Parts uploaded at once before a write waits.
    in_flight: usize,
}

impl StreamedFile {
    async fn open(
        inner: &Inner,
        name: &str,
        attempt: &str,
        file: String,
        in_flight: usize,
    ) -> Result<Self, VaultError> {
        let key = layout::attempt_file(name, attempt, &file);
        let upload = inner
            .store
            .put_multipart(&inner.path(&key))
            .await
            .map_err(|e| inner.err("upload", &key, e))?;
        Ok(StreamedFile {
            file,
            writer: Some(WriteMultipart::new_with_chunk_size(
                upload,
                inner.options.part_size.max(1),
            )),
            key,
            hasher: sha2::Sha256::new(),
            size: 0,
            in_flight: in_flight.max(1),
        })
    }

    fn finished(&self, name: &str) -> VaultError {
        VaultError::InvalidInput {
            what: format!("upload of {} of backup {name}", self.file),
            reason: "already finished".into(),
        }
    }

    async fn write(&mut self, inner: &Inner, name: &str, chunk: Bytes) -> Result<(), VaultError> {
        let error = self.finished(name);
        let writer = self.writer.as_mut().ok_or(error)?;
        writer
            .wait_for_capacity(self.in_flight)
            .await
            .map_err(|e| inner.err("upload", &self.key, e))?;
        self.hasher.update(&chunk);
        self.size += chunk.len() as u64;
        writer.put(chunk);
        Ok(())
    }

    /// Completes the upload; the file's digest.
    async fn finish(&mut self, inner: &Inner, name: &str) -> Result<EntryDigest, VaultError> {
        let error = self.finished(name);
        let mut writer = self.writer.take().ok_or(error)?;
        // Surface a failed part's own error (finish() would report its abort's instead).
        writer
            .wait_for_capacity(0)
            .await
            .map_err(|e| inner.err("upload", &self.key, e))?;
        writer
            .finish()
            .await
            .map_err(|e| inner.err("upload", &self.key, e))?;
        Ok(EntryDigest {
            path: self.file.clone(),
            sha256: hex(&std::mem::take(&mut self.hasher).finalize()),
            size: self.size,
        })
    }

    /// Aborts an unfinished upload.
    async fn abort(&mut self, inner: &Inner) -> Result<(), VaultError> {
        if let Some(w) = self.writer.take() {
            w.abort()
                .await
                .map_err(|e| inner.err("abort", &self.key, e))?;
        }
        Ok(())
    }
}

/// One upload attempt of [`ObjectVault`].
struct ObjectUpload {
    inner: Arc<Inner>,
    name: String,
    attempt: String,
    archive: StreamedFile,
    /// Opened on the first chunk of the entry-digests file.
    entry_digests: Option<StreamedFile>,
}

impl ObjectUpload {
    async fn cleanup(inner: &Inner, name: &str, attempt: &str) {
        if let Err(e) = inner.remove_attempt(name, attempt).await {
            tracing::warn!(backup = %name, attempt = %attempt, error = %e,
                "could not remove an abandoned attempt; remove_orphans will");
        }
    }

    async fn abort_streams(&mut self) -> Result<(), VaultError> {
        let archive = self.archive.abort(&self.inner).await;
        if let Some(d) = self.entry_digests.as_mut() {
            d.abort(&self.inner).await?;
        }
        archive
    }

    async fn commit_inner(
        &mut self,
        mut record: BackupRecord,
        companions: Vec<CompanionFile>,
    ) -> Result<BackupRecord, VaultError> {
        let inner = self.inner.clone();
        let name = self.name.clone();
        if record.name() != name {
            return Err(VaultError::InvalidInput {
                what: format!("record for backup {name}"),
                reason: format!("its spec.name is `{}`", record.name()),
            });
        }
        record.archive = Some(self.archive.finish(&inner, &name).await?);
        record.attempt = Some(self.attempt.clone());
        record.files.clear();
        if let Some(digests) = self.entry_digests.as_mut() {
            record.files.push(digests.finish(&inner, &name).await?);
        }
        for f in companions {
            let file = f.kind.file_name(&name);
            record.files.push(EntryDigest {
                path: file.clone(),
                sha256: sha256_hex(&f.gzip),
                size: f.gzip.len() as u64,
            });
            inner
                .put(
                    &layout::attempt_file(&name, &self.attempt, &file),
                    f.gzip.into(),
                )
                .await?;
        }
        let metadata = record.to_velero_json()?;
        let key = layout::backup_metadata(&name);
        let outcome = inner.put_create(&key, metadata.into()).await;
        let won = match outcome {
            Ok(Created::Yes) => true,
            Ok(Created::AlreadyThere) => false,
            Err(e) => {
                // The outcome is unknown: read back who holds the name.
                match inner.record(&name).await {
                    Ok(Some(r)) if r.attempt.as_deref() == Some(self.attempt.as_str()) => true,
                    Ok(Some(_)) => false,
                    _ => return Err(e),
                }
            }
        };
        if !won {
            let state = inner
                .taken(&name)
                .await
                .ok()
                .flatten()
                .unwrap_or_else(|| "was committed by another attempt".into());
            return Err(VaultError::AlreadyExists { name, state });
        }
        if let Err(e) = inner.finish_commit(&record).await {
            tracing::warn!(backup = %name, error = %e,
                "backup committed; copying to Velero's keys failed and is finished by remove_orphans");
        }
        Ok(record)
    }
}

#[async_trait]
impl BackupUpload for ObjectUpload {
    fn attempt(&self) -> &str {
        &self.attempt
    }

    async fn write(&mut self, chunk: Bytes) -> Result<(), VaultError> {
        self.archive.write(&self.inner, &self.name, chunk).await
    }

    async fn write_entry_digests(&mut self, chunk: Bytes) -> Result<(), VaultError> {
        let digests = match &mut self.entry_digests {
            Some(d) => d,
            opened @ None => {
                let file = entry_digests_file_name(&self.name);
                let d = StreamedFile::open(&self.inner, &self.name, &self.attempt, file, 1).await?;
                opened.insert(d)
            }
        };
        digests.write(&self.inner, &self.name, chunk).await
    }

    async fn commit(
        mut self: Box<Self>,
        record: BackupRecord,
        companions: Vec<CompanionFile>,
    ) -> Result<BackupRecord, VaultError> {
        match self.commit_inner(record, companions).await {
            Ok(r) => Ok(r),
            Err(e) => {
                // Lost or failed before the commit point: only this attempt's data goes. A
                // commit whose outcome stayed unknown keeps its data (remove_orphans decides).
                let holder = self.inner.record(&self.name).await;
                let ours_or_unknown = match &holder {
                    Ok(Some(r)) => r.attempt.as_deref() == Some(self.attempt.as_str()),
                    Ok(None) => false,
                    Err(_) => true,
                };
                if !ours_or_unknown {
                    let _ = self.abort_streams().await;
                    Self::cleanup(&self.inner, &self.name, &self.attempt).await;
                }
                Err(e)
            }
        }
    }

    async fn abort(mut self: Box<Self>) -> Result<(), VaultError> {
        self.abort_streams().await?;
        self.inner.remove_attempt(&self.name, &self.attempt).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_print_their_secrets() {
        let c = S3Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI".into(),
            session_token: Some("FwoGZXIvYXdzE".into()),
        };
        let options = StorageOptions {
            credentials: Some(c),
            ..StorageOptions::default()
        };
        let shown = format!("{options:?}");
        assert!(shown.contains("AKIDEXAMPLE"), "{shown}");
        assert!(!shown.contains("wJalrXUtnFEMI"), "{shown}");
        assert!(!shown.contains("FwoGZXIvYXdzE"), "{shown}");
    }
}
