//! How a write to the simulated cluster is made: which part of the object it addresses, whether
//! it is a dry run, which field manager makes it, and how a delete treats dependents and
//! preconditions — the options of an API server request that the [`Cluster`] port does not
//! carry.
//!
//! [`Cluster`]: crate::ports::cluster::Cluster

use crate::object::KubeObject;

/// The part of an object a write addresses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Subresource {
    /// The object itself: for a type with a `status` subresource, `status` in the written
    /// object is ignored and the stored one kept.
    #[default]
    Main,
    /// `/status`: only `status` (and `managedFields`) of the written object is taken; the rest
    /// of the stored object is kept and `metadata.generation` does not move.
    Status,
}

/// Options of a create, update, patch or apply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// `dryRun=All`: every check runs, nothing is stored, no resourceVersion is used.
    pub dry_run: bool,
    /// The part of the object written.
    pub subresource: Subresource,
    /// The field manager recorded in `metadata.managedFields` (`None`: fields are not tracked,
    /// as for writes through the [`Cluster`](crate::ports::cluster::Cluster) port).
    pub field_manager: Option<String>,
}

/// Options of a server-side apply (`application/apply-patch+yaml`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyOptions {
    /// The field manager applying (required by the API server).
    pub field_manager: String,
    /// `force=true`: take ownership of fields other managers own instead of conflicting.
    pub force: bool,
    /// `dryRun=All`.
    pub dry_run: bool,
    /// The part of the object applied.
    pub subresource: Subresource,
}

/// What happens to the dependents of a deleted object (`propagationPolicy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Propagation {
    /// The object goes at once; the garbage collector deletes its dependents afterwards.
    #[default]
    Background,
    /// The object stays (with the `foregroundDeletion` finalizer) until its dependents that
    /// block owner deletion are gone.
    Foreground,
    /// Dependents are kept, their owner references to the object removed.
    Orphan,
}

impl std::str::FromStr for Propagation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "Background" => Ok(Propagation::Background),
            "Foreground" => Ok(Propagation::Foreground),
            "Orphan" => Ok(Propagation::Orphan),
            other => Err(format!(
                "propagationPolicy: Unsupported value: {other:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
            )),
        }
    }
}

/// Options of a delete (`DeleteOptions`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    /// `dryRun=All`.
    pub dry_run: bool,
    /// The propagation policy.
    pub propagation: Propagation,
    /// `preconditions.uid`: the delete conflicts unless the object has this uid.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`: the delete conflicts unless the object is at it.
    pub resource_version: Option<String>,
}

/// What a delete did.
#[derive(Clone, Debug, PartialEq)]
pub enum Deletion {
    /// The object is gone; this is what it was.
    Deleted(KubeObject),
    /// The object has finalizers (or is a namespace with content left): it carries a
    /// `deletionTimestamp` and stays until they are removed.
    Pending(KubeObject),
}

impl Deletion {
    /// The object (as deleted, or as it is now while pending).
    pub fn object(&self) -> &KubeObject {
        match self {
            Deletion::Deleted(o) | Deletion::Pending(o) => o,
        }
    }

    /// Consumes the deletion, giving its object.
    pub fn into_object(self) -> KubeObject {
        match self {
            Deletion::Deleted(o) | Deletion::Pending(o) => o,
        }
    }
}
