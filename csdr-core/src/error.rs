//! The crate's error type: one enum at the boundary of csdr-core.
//!
//! Module-level errors (a malformed object, a bad quantity, an invalid cron expression…) are
//! their own small types, each with a message that names the input and the reason; they all
//! convert into [`Error`], which is what the engine and the adapters see.
//!
//! Rules (as in rustic_core): errors name the object and the field; no error is swallowed;
//! nothing from outside (a file, a cluster, a bucket, a user) is ever `unwrap`ped.
//!
//! ```
//! use csdr_core::Error;
//! use csdr_core::quantity::Quantity;
//!
//! fn parse(text: &str) -> Result<Quantity, Error> {
//!     Ok(Quantity::parse(text)?) // a QuantityError becomes an Error
//! }
//! let err = parse("20GB").unwrap_err();
//! assert!(matches!(err, Error::Quantity(_)));
//! assert!(err.to_string().contains("20GB"));
//! ```

use crate::archive::ArchiveError;
use crate::config::ConfigError;
use crate::convert::ConvertError;
use crate::image_reference::ImageReferenceError;
use crate::label_selector::LabelSelectorError;
use crate::node_policy::NodePolicyError;
use crate::object::ObjectError;
use crate::quantity::QuantityError;
use crate::releases::ReleaseError;
use crate::schedule::ScheduleError;
use crate::selection::SelectionError;
use crate::transform::images::ImageRuleError;

/// Everything that can go wrong in csdr-core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A JSON value is not a usable Kubernetes object.
    #[error(transparent)]
    Object(#[from] ObjectError),
    /// A string does not name a Kubernetes release csdr knows.
    #[error(transparent)]
    Release(#[from] ReleaseError),
    /// A label selector is malformed.
    #[error(transparent)]
    LabelSelector(#[from] LabelSelectorError),
    /// A backup's namespace or resource selection cannot be made.
    #[error(transparent)]
    Selection(#[from] SelectionError),
    /// A schedule expression cannot be parsed.
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// The `csdr-config` ConfigMap holds an invalid setting.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An unknown node scheduling policy.
    #[error(transparent)]
    NodePolicy(#[from] NodePolicyError),
    /// An API version could not be chosen or an object could not be converted (R2).
    #[error(transparent)]
    Convert(#[from] ConvertError),
    /// A string is not a Kubernetes quantity.
    #[error(transparent)]
    Quantity(#[from] QuantityError),
    /// A container image reference is not valid.
    #[error(transparent)]
    ImageReference(#[from] ImageReferenceError),
    /// A restore's image rule (change-image case or registry mapping) cannot be used.
    #[error(transparent)]
    ImageRule(#[from] ImageRuleError),
    /// A restore transformation refused an object.
    #[error(transparent)]
    Transform(#[from] crate::transform::TransformError),
    /// A vault operation failed.
    #[error(transparent)]
    Vault(#[from] crate::ports::vault::VaultError),
    /// A backup tarball could not be written or read, or failed verification.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// A restore cannot be planned (R1).
    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),
    /// An archive entry cannot be added to the backup contents index.
    #[error(transparent)]
    Contents(#[from] crate::plan::contents::ContentsError),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
