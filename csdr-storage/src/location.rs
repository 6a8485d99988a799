//! Vault URLs (V1): `file:///abs/path`, `memory://`, `s3://bucket/prefix?…`.
//!
//! S3 query parameters:
//!
//! | key          | meaning                                                              |
//! |--------------|----------------------------------------------------------------------|
//! | `endpoint`   | an S3-compatible endpoint (`http://127.0.0.1:9000`); default AWS     |
//! | `region`     | the bucket's region (also read from `AWS_REGION`)                    |
//! | `path_style` | `true`: `endpoint/bucket/key`; `false`: `bucket.endpoint/key`        |
//! | `provider`   | `aws` (default) or `oss` (Alibaba Cloud OSS through its S3 API)      |
//! | `network`    | OSS only: `internal` (VPC endpoint) or `public` (default)            |
//! | `sse`        | server-side encryption of every object written: `aes256` or `kms`   |
//! | `kms_key_id` | with `sse=kms`: the KMS key (id, ARN or alias); default: the service's|
//!
//! **Server-side encryption** (DESIGN E1) is part of the vault's identity (V3): a vault created
//! with `sse=kms&kms_key_id=k1` cannot be opened later without it or with another key. Every
//! write carries the S3 headers `x-amz-server-side-encryption` (`AES256` or `aws:kms`) and
//! `x-amz-server-side-encryption-aws-kms-key-id`; reads need no header. Alibaba OSS takes the
//! same headers through its S3-compatible API (its native API names them
//! `x-oss-server-side-encryption: KMS` and `x-oss-server-side-encryption-key-id`). With a KMS
//! key, the vault's credentials need `kms:List*`, `kms:DescribeKey`, `kms:GenerateDataKey` and
//! `kms:Decrypt` on it; a write the KMS refuses fails with that guidance.
//!
//! Alibaba OSS (`provider=oss`, or an endpoint under `aliyuncs.com`): the endpoint is derived
//! from the region and the network, `https://<bucket>.oss-<region>.aliyuncs.com` or
//! `https://<bucket>.oss-<region>-internal.aliyuncs.com`; requests are virtual-hosted style
//! (OSS refuses path style), bulk delete is not used (OSS's S3 API does not offer
//! `DeleteObjects` the way S3 does), and every write carries `x-oss-forbid-overwrite: true`,
//! OSS's own no-overwrite header, beside `If-None-Match: *` — so create-only writes hold
//! whether or not the service honours `If-None-Match`. a vault's `validate`
//! probes create-only behaviour on every vault anyway. Values are taken literally (no
//! percent-decoding).
//!
//! ```
//! use csdr_storage::location::{S3Provider, VaultLocation};
//!
//! let loc = VaultLocation::parse("s3://cnfs-oss-shop/csdr?provider=oss&region=cn-hangzhou&network=internal")?;
//! let VaultLocation::S3(s3) = &loc else { unreachable!() };
//! assert_eq!(s3.provider, S3Provider::Oss);
//! assert_eq!(s3.endpoint.as_deref(), Some("https://cnfs-oss-shop.oss-cn-hangzhou-internal.aliyuncs.com"));
//! assert!(!s3.path_style);
//! assert_eq!(loc.to_string(), "s3://cnfs-oss-shop/csdr");
//!
//! let err = VaultLocation::parse("s3://backups?regoin=x").unwrap_err();
//! assert!(err.to_string().contains("unknown query parameter `regoin`"));
//! # Ok::<(), csdr_storage::StorageError>(())
//! ```

use std::fmt;
use std::path::PathBuf;

use csdr_core::model::VaultNetwork;

use crate::StorageError;

/// Which S3 service an `s3://` vault talks to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum S3Provider {
    /// AWS S3 or any S3-compatible server.
    #[default]
    Aws,
    /// Alibaba Cloud OSS through its S3-compatible API.
    Oss,
}

/// Server-side encryption of a vault's objects (DESIGN E1), part of its identity (V3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ServerSideEncryption {
    /// Keys managed by the storage service (`sse=aes256`; S3's SSE-S3, OSS's SSE-OSS).
    Aes256,
    /// A KMS key (`sse=kms`): the one named, or the service's default KMS key for the bucket.
    Kms {
        /// The key id, ARN or alias (`kms_key_id`); `None`: the service's default.
        key_id: Option<String>,
    },
}

impl ServerSideEncryption {
    /// The setting from a URL's `sse` and `kms_key_id` values (either may be absent).
    pub fn from_query(
        url: &str,
        sse: Option<&str>,
        kms_key_id: Option<&str>,
    ) -> Result<Option<Self>, StorageError> {
        match (sse, kms_key_id) {
            (None, None) => Ok(None),
            (Some("aes256"), None) => Ok(Some(ServerSideEncryption::Aes256)),
            (Some("kms"), key) => Ok(Some(ServerSideEncryption::Kms {
                key_id: key.filter(|k| !k.is_empty()).map(str::to_string),
            })),
            (Some("aes256"), Some(_)) | (None, Some(_)) => Err(bad(
                url,
                "kms_key_id",
                "needs `sse=kms` (a KMS key is not used with `sse=aes256` or without `sse`)",
            )),
            (Some(other), _) => Err(bad(
                url,
                "sse",
                format!("`{other}` is not `aes256` or `kms`"),
            )),
        }
    }
}

impl fmt::Display for ServerSideEncryption {
    /// `aes256`, `kms` or `kms:<key id>`: how the vault's identity records it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerSideEncryption::Aes256 => f.write_str("aes256"),
            ServerSideEncryption::Kms { key_id: None } => f.write_str("kms"),
            ServerSideEncryption::Kms { key_id: Some(k) } => write!(f, "kms:{k}"),
        }
    }
}

/// An `s3://` vault's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Location {
    /// The bucket.
    pub bucket: String,
    /// The key prefix inside the bucket, without leading or trailing `/`; may be empty.
    pub prefix: String,
    /// The endpoint URL, if not AWS's default. For virtual-hosted style it includes the bucket.
    pub endpoint: Option<String>,
    /// The region, if given.
    pub region: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`) rather than virtual-hosted style.
    pub path_style: bool,
    /// The service.
    pub provider: S3Provider,
    /// Internal or public network (OSS).
    pub network: VaultNetwork,
    /// Server-side encryption of every object written (`sse`, `kms_key_id`).
    pub encryption: Option<ServerSideEncryption>,
}

/// Where a vault's objects live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VaultLocation {
    /// A local folder (created if missing).
    File(PathBuf),
    /// Process memory; every open is a new, empty vault.
    Memory,
    /// An S3 bucket.
    S3(S3Location),
}

impl fmt::Display for VaultLocation {
    /// The identity of the location: `file:///path`, `memory://`, `s3://bucket/prefix` (no
    /// access settings such as the endpoint or network).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VaultLocation::File(p) => write!(f, "file://{}", p.display()),
            VaultLocation::Memory => f.write_str("memory://"),
            VaultLocation::S3(s3) if s3.prefix.is_empty() => write!(f, "s3://{}", s3.bucket),
            VaultLocation::S3(s3) => write!(f, "s3://{}/{}", s3.bucket, s3.prefix),
        }
    }
}

fn bad(url: &str, part: &str, reason: impl Into<String>) -> StorageError {
    StorageError::BadUrl {
        url: url.to_string(),
        part: part.to_string(),
        reason: reason.into(),
    }
}

fn parse_bool(url: &str, key: &str, value: &str) -> Result<bool, StorageError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(url, key, format!("`{value}` is not `true` or `false`"))),
    }
}

impl VaultLocation {
    /// Parses a vault URL.
    pub fn parse(url: &str) -> Result<Self, StorageError> {
        Self::parse_with(url, None, None)
    }

    /// Parses a vault URL; `region` and `network` come from a `VaultSpec` when its URL does
    /// not say them (the URL and the spec must not disagree).
    pub fn parse_with(
        url: &str,
        region: Option<&str>,
        network: Option<VaultNetwork>,
    ) -> Result<Self, StorageError> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad(url, "scheme", "expected `file://`, `memory://` or `s3://`"))?;
        match scheme {
            "memory" => {
                if !rest.is_empty() {
                    return Err(bad(url, "path", "`memory://` takes no path"));
                }
                Ok(VaultLocation::Memory)
            }
            "file" => {
                if !rest.starts_with('/') {
                    return Err(bad(
                        url,
                        "path",
                        "must be absolute: `file:///abs/path` (three slashes)",
                    ));
                }
                if rest.contains('?') {
                    return Err(bad(url, "query", "`file://` takes no query"));
                }
                if rest.split('/').any(|s| s == "..") {
                    return Err(bad(url, "path", "must not contain `..`"));
                }
                Ok(VaultLocation::File(PathBuf::from(rest)))
            }
            "s3" => Self::parse_s3(url, rest, region, network),
            other => Err(StorageError::UnsupportedScheme {
                url: url.to_string(),
                scheme: other.to_string(),
            }),
        }
    }

    fn parse_s3(
        url: &str,
        rest: &str,
        spec_region: Option<&str>,
        spec_network: Option<VaultNetwork>,
    ) -> Result<Self, StorageError> {
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
        if bucket.is_empty() {
            return Err(bad(url, "bucket", "is empty: `s3://<bucket>/<prefix>`"));
        }
        let bucket_ok = bucket.len() >= 3
            && bucket.len() <= 63
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if !bucket_ok {
            return Err(bad(
                url,
                "bucket",
                format!("`{bucket}` is not a bucket name (3–63 of a-z, 0-9, `-`, `.`)"),
            ));
        }
        let prefix = prefix.trim_matches('/').to_string();
        if prefix.split('/').any(|s| s == ".." || s == ".") {
            return Err(bad(url, "prefix", "must not contain `.` or `..` segments"));
        }
        let mut endpoint = None;
        let mut region = None;
        let mut path_style = None;
        let mut provider = None;
        let mut network = None;
        let mut sse = None;
        let mut kms_key_id = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| bad(url, pair, "expected `key=value`"))?;
            match key {
                "endpoint" => {
                    if !(value.starts_with("http://") || value.starts_with("https://")) {
                        return Err(bad(url, key, "must start with `http://` or `https://`"));
                    }
                    endpoint = Some(value.trim_end_matches('/').to_string());
                }
                "region" => region = Some(value.to_string()),
                "path_style" => path_style = Some(parse_bool(url, key, value)?),
                "provider" => {
                    provider = Some(match value {
                        "aws" => S3Provider::Aws,
                        "oss" => S3Provider::Oss,
                        _ => return Err(bad(url, key, format!("`{value}` is not `aws` or `oss`"))),
                    })
                }
                "network" => {
                    network = Some(match value {
                        "internal" => VaultNetwork::Internal,
                        "public" => VaultNetwork::Public,
                        _ => {
                            return Err(bad(
                                url,
                                key,
                                format!("`{value}` is not `internal` or `public`"),
                            ));
                        }
                    })
                }
                "sse" => sse = Some(value),
                "kms_key_id" => kms_key_id = Some(value),
                other => {
                    return Err(bad(
                        url,
                        other,
                        format!(
                            "unknown query parameter `{other}`; known: endpoint, region, path_style, provider, network, sse, kms_key_id"
                        ),
                    ));
                }
            }
        }
        let encryption = ServerSideEncryption::from_query(url, sse, kms_key_id)?;
        match (region.as_deref(), spec_region) {
            (Some(a), Some(b)) if a != b => {
                return Err(bad(
                    url,
                    "region",
                    format!("the URL says `{a}` but the vault's region is `{b}`"),
                ));
            }
            (None, Some(b)) => region = Some(b.to_string()),
            _ => {}
        }
        match (network, spec_network) {
            (Some(a), Some(b)) if a != b => {
                return Err(bad(
                    url,
                    "network",
                    format!("the URL says `{a:?}` but the vault's network is `{b:?}`"),
                ));
            }
            (None, Some(b)) => network = Some(b),
            _ => {}
        }
        let oss_endpoint = endpoint
            .as_deref()
            .is_some_and(|e| e.trim_end_matches('/').ends_with(".aliyuncs.com"));
        let provider = provider.unwrap_or(if oss_endpoint {
            S3Provider::Oss
        } else {
            S3Provider::Aws
        });
        if provider == S3Provider::Aws && network.is_some() {
            return Err(bad(
                url,
                "network",
                "applies to Alibaba OSS only; add `provider=oss` or remove it",
            ));
        }
        let network = network.unwrap_or_default();
        let path_style = match provider {
            S3Provider::Oss => {
                if path_style == Some(true) {
                    return Err(bad(
                        url,
                        "path_style",
                        "Alibaba OSS needs virtual-hosted-style requests; remove `path_style=true`",
                    ));
                }
                false
            }
            // With an explicit endpoint (S3-compatible servers), path style is the safe default.
            S3Provider::Aws => path_style.unwrap_or(endpoint.is_some()),
        };
        if provider == S3Provider::Oss {
            let Some(r) = region.as_deref() else {
                return Err(bad(
                    url,
                    "region",
                    "is required for Alibaba OSS, e.g. `region=cn-hangzhou`",
                ));
            };
            let short = r.strip_prefix("oss-").unwrap_or(r);
            if endpoint.is_none() {
                let suffix = match network {
                    VaultNetwork::Internal => "-internal",
                    VaultNetwork::Public => "",
                };
                endpoint = Some(format!("https://oss-{short}{suffix}.aliyuncs.com"));
            }
        }
        if !path_style && let Some(e) = endpoint.take() {
            // Virtual-hosted style: object_store expects the bucket in the endpoint's host.
            let (scheme, host) = e.split_once("://").unwrap_or(("https", e.as_str()));
            endpoint = Some(if host.starts_with(&format!("{bucket}.")) {
                e.clone()
            } else {
                format!("{scheme}://{bucket}.{host}")
            });
        }
        Ok(VaultLocation::S3(S3Location {
            bucket: bucket.to_string(),
            prefix,
            endpoint,
            region,
            path_style,
            provider,
            network,
            encryption,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(url: &str) -> S3Location {
        match VaultLocation::parse(url).unwrap() {
            VaultLocation::S3(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn server_side_encryption() {
        assert_eq!(s3("s3://bkt/p").encryption, None);
        assert_eq!(
            s3("s3://bkt/p?sse=aes256").encryption,
            Some(ServerSideEncryption::Aes256)
        );
        assert_eq!(
            s3("s3://bkt/p?sse=kms").encryption,
            Some(ServerSideEncryption::Kms { key_id: None })
        );
        let kms = s3("s3://bkt/p?sse=kms&kms_key_id=alias/csdr").encryption;
        assert_eq!(
            kms,
            Some(ServerSideEncryption::Kms {
                key_id: Some("alias/csdr".into())
            })
        );
        assert_eq!(kms.unwrap().to_string(), "kms:alias/csdr");
        for (url, part, says) in [
            (
                "s3://bkt/p?sse=des",
                "sse",
                "`des` is not `aes256` or `kms`",
            ),
            ("s3://bkt/p?kms_key_id=k1", "kms_key_id", "needs `sse=kms`"),
            (
                "s3://bkt/p?sse=aes256&kms_key_id=k1",
                "kms_key_id",
                "needs `sse=kms`",
            ),
        ] {
            let err = VaultLocation::parse(url).unwrap_err();
            assert!(
                matches!(&err, StorageError::BadUrl { part: p, .. } if p == part),
                "{url}: {err:?}"
            );
            assert!(err.to_string().contains(says), "{url}: {err}");
        }
    }

    #[test]
    fn file_and_memory() {
        assert_eq!(
            VaultLocation::parse("file:///var/csdr").unwrap(),
            VaultLocation::File("/var/csdr".into())
        );
        assert_eq!(
            VaultLocation::parse("memory://").unwrap(),
            VaultLocation::Memory
        );
        let err = VaultLocation::parse("file://var/csdr")
            .unwrap_err()
            .to_string();
        assert!(err.contains("path") && err.contains("absolute"), "{err}");
        let err = VaultLocation::parse("gs://b").unwrap_err().to_string();
        assert!(err.contains("unsupported scheme `gs`"), "{err}");
        let err = VaultLocation::parse("/var/csdr").unwrap_err().to_string();
        assert!(err.contains("scheme"), "{err}");
    }

    #[test]
    fn s3_compatible_endpoint_defaults_to_path_style() {
        let s = s3("s3://csdr-test/team/a/?endpoint=http://127.0.0.1:9000/&region=us-east-1");
        assert_eq!(s.bucket, "csdr-test");
        assert_eq!(s.prefix, "team/a");
        assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(s.path_style);
        let v = s3("s3://csdr-test?endpoint=https://minio.example&path_style=false");
        assert_eq!(
            v.endpoint.as_deref(),
            Some("https://csdr-test.minio.example")
        );
        let aws = s3("s3://csdr-test");
        assert!(!aws.path_style && aws.endpoint.is_none());
    }

    #[test]
    fn oss_endpoints_follow_network() {
        let public = s3("s3://cnfs-oss-a?provider=oss&region=oss-cn-beijing");
        assert_eq!(
            public.endpoint.as_deref(),
            Some("https://cnfs-oss-a.oss-cn-beijing.aliyuncs.com")
        );
        let by_host =
            s3("s3://cnfs-oss-a?endpoint=https://oss-cn-beijing.aliyuncs.com&region=cn-beijing");
        assert_eq!(by_host.provider, S3Provider::Oss);
        assert!(!by_host.path_style);
        let spec = VaultLocation::parse_with(
            "s3://cnfs-oss-a?provider=oss",
            Some("cn-hangzhou"),
            Some(VaultNetwork::Internal),
        )
        .unwrap();
        let VaultLocation::S3(spec) = spec else {
            panic!()
        };
        assert_eq!(
            spec.endpoint.as_deref(),
            Some("https://cnfs-oss-a.oss-cn-hangzhou-internal.aliyuncs.com")
        );
    }

    #[test]
    fn bad_s3_urls_name_the_part() {
        for (url, part) in [
            ("s3://", "bucket"),
            ("s3://B_ad", "bucket"),
            ("s3://b1b?network=internal", "network"),
            ("s3://b1b?provider=oss", "region"),
            (
                "s3://b1b?provider=oss&region=cn&path_style=true",
                "path_style",
            ),
            ("s3://b1b?path_style=yes", "path_style"),
            ("s3://b1b?endpoint=localhost:9000", "endpoint"),
            ("s3://b1b/../x", "prefix"),
            ("s3://b1b?region", "region"),
        ] {
            match VaultLocation::parse(url) {
                Err(StorageError::BadUrl { part: p, .. }) => assert_eq!(p, part, "{url}"),
                other => panic!("{url}: {other:?}"),
            }
        }
        let err = VaultLocation::parse_with("s3://b1b?region=a", Some("b"), None).unwrap_err();
        assert!(err.to_string().contains("vault's region is `b`"), "{err}");
    }
}
