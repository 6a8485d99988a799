//! Restore transformations (R4–R10): what a restore does to each backed-up object.
//!
//! Each behaviour lives in a module of its own, named for it, with one function of the shape
//! [`TransformFn`]: it takes the [`TransformContext`] and an object and returns the object it
//! would create plus the warnings it raised and whether it changed the object
//! ([`Transformed::changed`]), or a [`TransformError`] naming the object and the field.
//! Transformations are pure, idempotent (applying one twice equals applying it once) and touch
//! only the fields they own. [`pipeline`] runs them all in a fixed order.
//!
//! ```
//! use csdr_core::model::RestoreSpec;
//! use csdr_core::object::KubeObject;
//! use csdr_core::transform::{TransformContext, services::services};
//! use serde_json::json;
//!
//! let mut spec = RestoreSpec::new("r1", "b1");
//! spec.preserve_node_ports = true;
//! let ctx = TransformContext::new(spec);
//! let lb = KubeObject::new(json!({"apiVersion": "v1", "kind": "Service",
//!     "metadata": {"name": "web", "namespace": "shop"},
//!     "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local",
//!              "healthCheckNodePort": 32001, "clusterIP": "10.0.0.9"}}))?;
//! let out = services(&ctx, lb)?;
//! assert_eq!(out.object.pointer("/spec/healthCheckNodePort"), Some(&json!(32001)));
//! assert_eq!(out.object.pointer("/spec/clusterIP"), None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::discovery::Discovery;
use crate::model::{Issue, ObjectRef, RestoreSpec};
use crate::object::KubeObject;
use images::{ImageRuleError, ImageRules};

pub mod access_modes;
pub mod disk_floor;
pub mod images;
pub mod namespace_mapping;
pub mod pipeline;
pub mod sanitize;
pub mod services;
pub mod storage_class;
#[cfg(test)]
pub(crate) mod testing;
pub mod volumes;

/// The container lists of a pod spec: `containers`, `initContainers`, `ephemeralContainers`.
pub(crate) const CONTAINER_LISTS: [&str; 3] =
    ["containers", "initContainers", "ephemeralContainers"];

/// An object after a transformation, with the warnings the transformation raised and whether
/// it changed the object.
#[derive(Clone, Debug, PartialEq)]
pub struct Transformed {
    /// The object to create.
    pub object: KubeObject,
    /// Warnings, each naming the object.
    pub warnings: Vec<Issue>,
    /// Whether `object` differs from the object the transformation was given (as JSON values
    /// compare: a field removed, added or given another value). The transformation sets it
    /// where it writes, so callers need not keep a copy of the input to find out.
    pub changed: bool,
}

impl Transformed {
    /// The object as it was given: not changed, no warnings.
    pub fn unchanged(object: KubeObject) -> Self {
        Transformed {
            object,
            warnings: Vec::new(),
            changed: false,
        }
    }

    /// An object the transformation changed if `changed`, with no warnings.
    pub fn new(object: KubeObject, changed: bool) -> Self {
        Transformed {
            object,
            warnings: Vec::new(),
            changed,
        }
    }
}

/// The shape of every transformation.
pub type TransformFn = fn(&TransformContext, KubeObject) -> Result<Transformed, TransformError>;

/// A transformation refused an object: the object cannot be restored as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{object}: {field}: {reason}")]
pub struct TransformError {
    /// The object (boxed to keep `Result<Transformed, TransformError>` small).
    pub object: Box<ObjectRef>,
    /// The field concerned, as a dotted path (`spec.storageClassName`).
    pub field: String,
    /// What is wrong and what to do about it.
    pub reason: String,
}

impl TransformError {
    /// An error about one field of an object.
    pub fn new(object: &KubeObject, field: impl Into<String>, reason: impl Into<String>) -> Self {
        TransformError {
            object: Box::new(ObjectRef::of(object)),
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A StorageClass as the transformations need to know it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageClassFacts {
    /// The class name.
    pub name: String,
    /// Its provisioner (CSI driver name), e.g. `diskplugin.csi.alibabacloud.com`.
    pub provisioner: String,
    /// `Immediate` or `WaitForFirstConsumer`; Kubernetes' default is `Immediate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_binding_mode: Option<String>,
}

/// A backed-up PersistentVolume as the transformations need to know it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistentVolumeFacts {
    /// The PV name.
    pub name: String,
    /// `persistentVolumeReclaimPolicy` (`Delete`, `Retain`, `Recycle`).
    pub reclaim_policy: String,
    /// `spec.storageClassName`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// `spec.csi.driver`, if a CSI volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csi_driver: Option<String>,
    /// `spec.flexVolume.driver`, if a FlexVolume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flex_driver: Option<String>,
    /// The claim it was bound to, as (namespace, name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<(String, String)>,
}

/// What the restore knows about the backup it restores from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupFacts {
    /// The backup's name (restored objects are labelled with it).
    pub backup_name: String,
    /// StorageClasses found in the backup (the source cluster's).
    #[serde(default)]
    pub storage_classes: Vec<StorageClassFacts>,
    /// PersistentVolumes found in the backup.
    #[serde(default)]
    pub persistent_volumes: Vec<PersistentVolumeFacts>,
    /// PVCs whose data was snapshotted, as (namespace, name) in the source cluster.
    #[serde(default)]
    pub snapshotted_pvcs: BTreeSet<(String, String)>,
    /// PVCs whose data is restored from a file-system backup (D4), as (namespace, name) in
    /// the source cluster: provisioned afresh, their volumes not restored.
    #[serde(default)]
    pub fs_backed_up_pvcs: BTreeSet<(String, String)>,
}

/// What the restore knows about the target cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetFacts {
    /// StorageClasses of the target cluster.
    #[serde(default)]
    pub storage_classes: Vec<StorageClassFacts>,
    /// Zones the target's nodes span (`topology.kubernetes.io/zone`).
    #[serde(default)]
    pub zones: BTreeSet<String>,
    /// What the target serves.
    #[serde(default)]
    pub discovery: Discovery,
}

/// Alibaba Cloud's disk CSI driver (and provisioner): its volumes are disks by default (R5).
pub const DISK_CSI_DRIVER: &str = "diskplugin.csi.alibabacloud.com";
/// Alibaba Cloud's NAS CSI driver: a StorageClass conversion target by default (R8).
pub const NAS_CSI_DRIVER: &str = "nasplugin.csi.alibabacloud.com";
/// Alibaba Cloud's FlexVolume disk driver (clusters before CSI).
pub const DISK_FLEX_DRIVER: &str = "alicloud/disk";

/// Options of the transformations that a deployment may change (part of the engine's
/// configuration).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransformOptions {
    /// CSI drivers / provisioners whose volumes are disks (R5, R7).
    pub disk_provisioners: Vec<String>,
    /// FlexVolume drivers whose volumes are disks.
    pub disk_flex_drivers: Vec<String>,
    /// Provisioners a StorageClass conversion may target (R8).
    pub conversion_provisioners: Vec<String>,
}

impl Default for TransformOptions {
    fn default() -> Self {
        TransformOptions {
            disk_provisioners: vec![DISK_CSI_DRIVER.into()],
            disk_flex_drivers: vec![DISK_FLEX_DRIVER.into()],
            conversion_provisioners: vec![DISK_CSI_DRIVER.into(), NAS_CSI_DRIVER.into()],
        }
    }
}

/// Everything a transformation may read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransformContext {
    /// The restore being run.
    pub restore: RestoreSpec,
    /// Facts about the backup.
    pub backup: BackupFacts,
    /// Facts about the target cluster.
    pub target: TargetFacts,
    /// Configurable options.
    pub options: TransformOptions,
    /// The restore's rules as the transformations use them, parsed from `restore` once, on
    /// first use; start with `ParsedRules::default()`.
    pub parsed_rules: ParsedRules,
}

/// Rules of a [`TransformContext`]'s restore spec, parsed once per context (on first use)
/// instead of once per object: the image rules ([`TransformContext::image_rules`]).
///
/// Cloning a context copies what was parsed; comparing contexts ignores it. If the restore's
/// rules are changed after the first use, the transformations see the new rules (parsed
/// again each time they are asked for) rather than stale ones.
#[derive(Clone, Default)]
pub struct ParsedRules {
    images: OnceLock<ParsedImageRules>,
}

/// The image rules and the parts of the restore spec they were parsed from.
#[derive(Clone)]
struct ParsedImageRules {
    change_image_cases: Vec<String>,
    image_registry_mapping: BTreeMap<String, String>,
    rules: Result<ImageRules, ImageRuleError>,
}

impl ParsedImageRules {
    fn parse(restore: &RestoreSpec) -> Self {
        ParsedImageRules {
            change_image_cases: restore.change_image_cases.clone(),
            image_registry_mapping: restore.image_registry_mapping.clone(),
            rules: ImageRules::from_restore(restore),
        }
    }

    fn parsed_from(&self, restore: &RestoreSpec) -> bool {
        self.change_image_cases == restore.change_image_cases
            && self.image_registry_mapping == restore.image_registry_mapping
    }
}

impl PartialEq for ParsedRules {
    /// Always equal: what is parsed follows from the rest of the context.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for ParsedRules {}

impl std::fmt::Debug for ParsedRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedRules")
            .field("images_parsed", &self.images.get().is_some())
            .finish()
    }
}

impl TransformContext {
    /// A context with default options and empty facts, for a restore spec.
    pub fn new(restore: RestoreSpec) -> Self {
        let backup = BackupFacts {
            backup_name: restore.backup_name.clone(),
            ..Default::default()
        };
        TransformContext {
            restore,
            backup,
            target: TargetFacts::default(),
            options: TransformOptions::default(),
            parsed_rules: ParsedRules::default(),
        }
    }

    /// The restore's change-image cases and registry mappings, parsed
    /// ([`ImageRules::from_restore`]) on the first call and borrowed from then on. Should
    /// `restore`'s image rules have been changed since that first call, they are parsed
    /// again (an owned result) instead of served stale.
    ///
    /// # Errors
    /// The [`ImageRuleError`] of the first malformed rule, on every call.
    pub fn image_rules(&self) -> Result<Cow<'_, ImageRules>, ImageRuleError> {
        let parsed = self
            .parsed_rules
            .images
            .get_or_init(|| ParsedImageRules::parse(&self.restore));
        if parsed.parsed_from(&self.restore) {
            parsed
                .rules
                .as_ref()
                .map(Cow::Borrowed)
                .map_err(Clone::clone)
        } else {
            ImageRules::from_restore(&self.restore).map(Cow::Owned)
        }
    }

    /// The target namespace for a source namespace, after `namespace_mapping`.
    pub fn map_namespace<'a>(&'a self, source: &'a str) -> &'a str {
        self.restore
            .namespace_mapping
            .get(source)
            .map(String::as_str)
            .unwrap_or(source)
    }

    /// A target StorageClass by name.
    pub fn target_storage_class(&self, name: &str) -> Option<&StorageClassFacts> {
        self.target.storage_classes.iter().find(|s| s.name == name)
    }

    /// A backed-up PersistentVolume by name.
    pub fn backed_up_pv(&self, name: &str) -> Option<&PersistentVolumeFacts> {
        self.backup
            .persistent_volumes
            .iter()
            .find(|p| p.name == name)
    }
}

/// A map of labels (used by several transformations).
pub type Labels = BTreeMap<String, String>;
