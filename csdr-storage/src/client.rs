//! Opening a vault from its URL: the store's client (file, S3 with its OSS settings, memory)
//! and the vault protocol of csdr-core on it.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use csdr_core::ports::vault::{Vault, VaultPhase};
//! use csdr_storage::StorageOptions;
//!
//! let vault = csdr_storage::open_url("demo", "memory://", &StorageOptions::default()).await?;
//! let check = vault.validate("2026-11-24T04:00:00Z".parse()?).await;
//! assert_eq!(check.phase, VaultPhase::Available, "{}", check.message);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::sync::Arc;
use std::time::Duration;

use csdr_core::model::VaultSpec;
use csdr_core::ports::blob_store::BlobStore;
use csdr_core::vault::{BlobVault, MemoryBlobStore, VaultIdentity, VaultOptions};
use object_store::ObjectStore;

use crate::StorageError;
use crate::blob::ObjectStoreBlobs;
use crate::location::{S3Provider, ServerSideEncryption, VaultLocation};

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
    /// Server-side encryption for an `s3://` vault, as the URL's `sse`/`kms_key_id` say it
    /// (see [`crate::location`]); the URL and this must not disagree. Part of the vault's
    /// identity (V3). Refused for `file://` and `memory://` vaults.
    pub server_side_encryption: Option<ServerSideEncryption>,
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
            server_side_encryption: None,
        }
    }
}

/// The store a vault's spec names and the vault's identity, without any I/O but creating a
/// `file://` folder. For tools and tests that need the store itself; [`connect`] and [`open`]
/// put the vault protocol on it.
pub fn connect_store(
    spec: &VaultSpec,
    options: &StorageOptions,
) -> Result<(Arc<dyn BlobStore>, VaultIdentity), StorageError> {
    let mut location = VaultLocation::parse_with(&spec.url, spec.region.as_deref(), spec.network)?;
    if let Some(wanted) = &options.server_side_encryption {
        let bad = |reason: String| StorageError::BadUrl {
            url: spec.url.clone(),
            part: "sse".into(),
            reason,
        };
        match &mut location {
            VaultLocation::S3(s3) => match &s3.encryption {
                Some(given) if given != wanted => {
                    return Err(bad(format!(
                        "the URL says `{given}` but the storage options say `{wanted}`"
                    )));
                }
                _ => s3.encryption = Some(wanted.clone()),
            },
            _ => {
                return Err(bad(
                    "server-side encryption applies to `s3://` vaults only".into()
                ));
            }
        }
    }
    let client_err =
        |reason: String, source: Box<dyn std::error::Error + Send + Sync>| StorageError::Client {
            location: location.to_string(),
            reason,
            source,
        };
    let adapter = |store: Arc<dyn ObjectStore>, prefix: &str| {
        ObjectStoreBlobs::new(store, prefix).with_parts(options.part_size, options.parts_in_flight)
    };
    let store: Arc<dyn BlobStore> = match &location {
        VaultLocation::Memory => Arc::new(MemoryBlobStore::new()),
        VaultLocation::File(path) => {
            std::fs::create_dir_all(path).map_err(|e| {
                client_err(
                    format!("cannot create folder {}: {e}", path.display()),
                    Box::new(e),
                )
            })?;
            // fsync: the data must be on disk before the metadata that commits it (a crash
            // must not leave a visible backup whose tarball was lost), and a committed backup
            // must survive a power loss. Cleanup: removing an attempt's files also removes
            // its emptied folders.
            let fs = object_store::local::LocalFileSystem::new_with_prefix(path)
                .map_err(|e| client_err(e.to_string(), Box::new(e)))?
                .with_fsync(true)
                .with_automatic_cleanup(true);
            Arc::new(adapter(Arc::new(fs), ""))
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
            builder = with_encryption(builder, s3.encryption.as_ref())
                .map_err(|e| client_err(e.to_string(), Box::new(e)))?;
            let mut retry = object_store::RetryConfig::default();
            if let Some(n) = options.max_retries {
                retry.max_retries = n;
            }
            if let Some(t) = options.retry_timeout {
                retry.retry_timeout = t;
            }
            builder = builder.with_retry(retry);
            let store = builder
                .build()
                .map_err(|e| client_err(e.to_string(), Box::new(e)))?;
            let endpoint = s3.endpoint.clone().unwrap_or_else(|| {
                format!(
                    "https://s3.{}.amazonaws.com",
                    s3.region.as_deref().unwrap_or("us-east-1")
                )
            });
            Arc::new(
                adapter(Arc::new(store), &s3.prefix)
                    .with_service(Some(s3.bucket.clone()), Some(endpoint)),
            )
        }
    };
    let identity = VaultIdentity {
        name: spec.name.clone(),
        location: location.to_string(),
        region: match &location {
            VaultLocation::S3(s3) => s3.region.clone(),
            _ => None,
        },
        server_side_encryption: match &location {
            VaultLocation::S3(s3) => s3.encryption.as_ref().map(ToString::to_string),
            _ => None,
        },
    };
    Ok((store, identity))
}

/// The S3 client writing every object with `encryption` (E1): object_store sends the
/// `x-amz-server-side-encryption` headers on puts and multipart uploads only, as S3 wants.
fn with_encryption(
    builder: object_store::aws::AmazonS3Builder,
    encryption: Option<&ServerSideEncryption>,
) -> Result<object_store::aws::AmazonS3Builder, object_store::Error> {
    use object_store::aws::AmazonS3ConfigKey;
    let kind = || "aws_server_side_encryption".parse::<AmazonS3ConfigKey>();
    Ok(match encryption {
        None => builder,
        Some(ServerSideEncryption::Aes256) => builder.with_config(kind()?, "AES256"),
        Some(ServerSideEncryption::Kms { key_id: None }) => builder.with_config(kind()?, "aws:kms"),
        Some(ServerSideEncryption::Kms { key_id: Some(k) }) => builder.with_sse_kms_encryption(k),
    })
}

fn vault_options(options: &StorageOptions) -> VaultOptions {
    VaultOptions {
        parts_in_flight: options.parts_in_flight.max(1),
    }
}

/// Sets up a vault's client without any I/O but creating a `file://` folder; [`open`] also
/// checks (or records) the vault's identity.
pub fn connect(spec: &VaultSpec, options: &StorageOptions) -> Result<BlobVault, StorageError> {
    let (store, identity) = connect_store(spec, options)?;
    Ok(BlobVault::new(identity, store, vault_options(options)))
}

/// Connects and checks the vault's identity (V3): records it in `csdr-vault.json` if the
/// location holds no vault yet; fails if it holds another vault or a deleted one.
pub async fn open(spec: &VaultSpec, options: &StorageOptions) -> Result<BlobVault, StorageError> {
    let (store, identity) = connect_store(spec, options)?;
    Ok(BlobVault::open(identity, store, vault_options(options)).await?)
}

/// [`open`] for a name and a URL alone.
pub async fn open_url(
    name: &str,
    url: &str,
    options: &StorageOptions,
) -> Result<BlobVault, StorageError> {
    let spec = VaultSpec {
        name: name.to_string(),
        url: url.to_string(),
        region: None,
        network: None,
    };
    open(&spec, options).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(url: &str) -> VaultSpec {
        VaultSpec {
            name: "v".into(),
            url: url.into(),
            region: None,
            network: None,
        }
    }

    #[test]
    fn server_side_encryption_from_the_options_joins_the_url_and_the_identity() {
        let kms = ServerSideEncryption::Kms {
            key_id: Some("k1".into()),
        };
        let options = StorageOptions {
            server_side_encryption: Some(kms.clone()),
            ..StorageOptions::default()
        };
        let (_, id) = connect_store(&spec("s3://bkt/p?region=us-east-1"), &options).unwrap();
        assert_eq!(id.server_side_encryption.as_deref(), Some("kms:k1"));
        let (_, id) = connect_store(
            &spec("s3://bkt/p?region=us-east-1&sse=kms&kms_key_id=k1"),
            &options,
        )
        .unwrap();
        assert_eq!(id.server_side_encryption.as_deref(), Some("kms:k1"));
        let (_, id) = connect_store(
            &spec("s3://bkt/p?region=us-east-1&sse=aes256"),
            &StorageOptions::default(),
        )
        .unwrap();
        assert_eq!(id.server_side_encryption.as_deref(), Some("aes256"));

        let err = connect_store(&spec("s3://bkt/p?region=us-east-1&sse=aes256"), &options)
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .contains("the URL says `aes256` but the storage options say `kms:k1`"),
            "{err}"
        );
        let err = connect_store(&spec("memory://"), &options).err().unwrap();
        assert!(
            err.to_string().contains("applies to `s3://` vaults only"),
            "{err}"
        );
    }

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
