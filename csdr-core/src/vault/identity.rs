//! The vault's identity (V3) and its validation (V2): `csdr-vault.json` records which vault
//! a location belongs to, a tombstone keeps a deleted vault's location from being reused, and
//! validation probes a real round trip, create-only writes included.

use bytes::Bytes;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{BlobVault, Created, Inner, layout, random_id};
use crate::ports::vault::VaultError;

/// Who a vault is (V3): recorded in `csdr-vault.json` on first use and compared on every
/// open, so one location never serves two vaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultIdentity {
    /// The vault's name.
    pub name: String,
    /// Where it is, as shown in messages and recorded (`s3://bucket/prefix`, `file:///path`).
    pub location: String,
    /// The region, when the location has one; part of the identity.
    pub region: Option<String>,
    /// The server-side encryption every object is written with (E1: `aes256`, `kms`,
    /// `kms:<key id>`), when there is one; part of the identity.
    pub server_side_encryption: Option<String>,
}

impl VaultIdentity {
    /// An identity without a region or server-side encryption.
    pub fn new(name: impl Into<String>, location: impl Into<String>) -> Self {
        VaultIdentity {
            name: name.into(),
            location: location.into(),
            region: None,
            server_side_encryption: None,
        }
    }
}

/// Why a vault cannot be opened (V3).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultOpenError {
    /// The location already holds another vault, or was given another configuration.
    #[error(
        "{location} belongs to vault `{existing}` ({existing_config}), not `{requested}` ({requested_config}); a vault's configuration cannot change: create a new vault with a new name and location"
    )]
    ConfigurationMismatch {
        /// The location.
        location: String,
        /// The stored vault's name.
        existing: String,
        /// The stored configuration.
        existing_config: String,
        /// The name asked for.
        requested: String,
        /// The configuration asked for.
        requested_config: String,
    },
    /// The vault stored at the location was deleted; its name and location are not reused.
    #[error(
        "vault `{name}` at {location} was deleted at {deleted}; a deleted vault's name and location cannot be reused: create a vault with a new name and location"
    )]
    VaultDeleted {
        /// The deleted vault's name.
        name: String,
        /// The location.
        location: String,
        /// When it was deleted.
        deleted: String,
    },
    /// A storage operation failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl From<VaultOpenError> for VaultError {
    fn from(e: VaultOpenError) -> Self {
        match e {
            VaultOpenError::Vault(v) => v,
            other => VaultError::Configuration {
                reason: other.to_string(),
            },
        }
    }
}

/// The vault's identity as stored in `csdr-vault.json` (V3).
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
    server_side_encryption: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deleted: Option<Timestamp>,
}

impl VaultMarker {
    fn of(id: &VaultIdentity, deleted: Option<Timestamp>) -> Self {
        VaultMarker {
            kind: "CsdrVault".into(),
            version: 1,
            name: id.name.clone(),
            location: id.location.clone(),
            region: id.region.clone(),
            server_side_encryption: id.server_side_encryption.clone(),
            deleted,
        }
    }

    fn describe(&self) -> String {
        let mut text = match &self.region {
            Some(r) => format!("{} in region {r}", self.location),
            None => self.location.clone(),
        };
        if let Some(sse) = &self.server_side_encryption {
            text.push_str(&format!(", server-side encryption {sse}"));
        }
        text
    }
}

impl Inner {
    pub(super) async fn check_marker(&self) -> Result<(), VaultOpenError> {
        let wanted = VaultMarker::of(&self.identity, None);
        let parse = |key: &str, bytes: &[u8]| {
            serde_json::from_slice::<VaultMarker>(bytes).map_err(|e| {
                VaultOpenError::Vault(VaultError::Corrupt {
                    key: key.to_string(),
                    reason: format!("not a csdr vault marker: {e}"),
                })
            })
        };
        if let Some(bytes) = self.get(layout::VAULT_TOMBSTONE).await? {
            let t = parse(layout::VAULT_TOMBSTONE, &bytes)?;
            return Err(VaultOpenError::VaultDeleted {
                name: t.name,
                location: t.location,
                deleted: t.deleted.map(|d| d.to_string()).unwrap_or_default(),
            });
        }
        let existing = match self.get(layout::VAULT_MARKER).await? {
            Some(bytes) => parse(layout::VAULT_MARKER, &bytes)?,
            None => {
                let bytes = serde_json::to_vec_pretty(&wanted).map_err(|e| {
                    VaultOpenError::Vault(VaultError::Corrupt {
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
        if existing.name != wanted.name
            || existing.location != wanted.location
            || region_differs
            || existing.server_side_encryption != wanted.server_side_encryption
        {
            return Err(VaultOpenError::ConfigurationMismatch {
                location: self.identity.location.clone(),
                existing: existing.name.clone(),
                existing_config: existing.describe(),
                requested: wanted.name.clone(),
                requested_config: wanted.describe(),
            });
        }
        Ok(())
    }

    pub(super) async fn validate(&self) -> Result<(), VaultError> {
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
                source: None,
            });
        }
        let once = format!("{}{id}-create.json", layout::PROBE_PREFIX);
        let first = self.put_create(&once, body.clone()).await?;
        let second = self.put_create(&once, Bytes::from_static(b"{}")).await;
        let kept = self.get(&once).await;
        self.delete(&once).await?;
        if first != Created::Yes {
            return Err(VaultError::CreateOnlyUnsupported {
                location: self.identity.location.clone(),
                reason: format!("a create-only write of the new key {once} was refused"),
            });
        }
        match second? {
            Created::AlreadyThere if kept?.as_ref() == Some(&body) => Ok(()),
            _ => Err(VaultError::CreateOnlyUnsupported {
                location: self.identity.location.clone(),
                reason: format!(
                    "a second create-only write of {once} overwrote the first (the service ignored If-None-Match: *)"
                ),
            }),
        }
    }
}

impl BlobVault {
    /// Deletes the vault (V3): leaves a tombstone so that neither this location nor this
    /// vault's identity is used again; backups stay in the bucket for other tools.
    pub async fn delete_vault(&self, now: Timestamp) -> Result<(), VaultError> {
        let tombstone = VaultMarker::of(&self.inner.identity, Some(now));
        let bytes = serde_json::to_vec_pretty(&tombstone).map_err(|e| VaultError::Corrupt {
            key: layout::VAULT_TOMBSTONE.into(),
            reason: e.to_string(),
        })?;
        self.inner
            .put_create(layout::VAULT_TOMBSTONE, bytes.into())
            .await?;
        Ok(())
    }
}
