//! Persistent volumes and their claims on restore (R10), and what counts as a disk (R5, R7, R8).
//!
//! **Which PersistentVolumes are restored** is a pure decision, [`pv_disposition`]:
//!
//! - a PV whose claim was snapshotted is skipped: the claim is restored from its
//!   VolumeSnapshot and a new volume is provisioned from it;
//! - a PV with reclaim policy `Delete` and no snapshot is skipped: its claim is provisioned
//!   dynamically again (a new, empty volume — the FAQ's "CSI creates a new, empty PV");
//! - any other PV (`Retain`, `Recycle`, no policy) is restored as it was, pointing at the
//!   original storage.
//!
//! Contract with the planner: skipped PVs are left out of the plan; restored PVs are created
//! before the claims (R3 puts `persistentvolumes` before `persistentvolumeclaims`), so a claim
//! that keeps its `spec.volumeName` binds to its restored PV.
//!
//! **The binding transformation**, [`restore_volume_binding`], rewrites claims and volumes so
//! that the PV controller binds them afresh (as Velero's `resetVolumeBindingInfo` does):
//!
//! - a claim whose PV is skipped loses `spec.volumeName` (dynamic provisioning), with a
//!   warning when that means an empty volume; a claim with a snapshot gets
//!   `spec.dataSource` = the VolumeSnapshot named by [`volume_snapshot_name`] and loses
//!   `spec.volumeName` and `spec.dataSourceRef` (the API server derives the latter);
//! - claims lose the binding annotations `pv.kubernetes.io/bind-completed`,
//!   `pv.kubernetes.io/bound-by-controller`, `volume.beta.kubernetes.io/storage-provisioner`,
//!   `volume.kubernetes.io/storage-provisioner` and `volume.kubernetes.io/selected-node`;
//! - volumes lose `spec.claimRef.uid`, `spec.claimRef.resourceVersion` and, as Velero does, the
//!   annotations `pv.kubernetes.io/bind-completed`, `pv.kubernetes.io/bound-by-controller`
//!   and `pv.kubernetes.io/provisioned-by` (a restored PV is statically provisioned).
//!
//! **What is a disk** is configurable ([`TransformOptions`](super::TransformOptions)): a PV by
//! its `spec.csi.driver` (in `disk_provisioners`) or `spec.flexVolume.driver` (in
//! `disk_flex_drivers`); a claim by, in this order, the provisioner of its StorageClass (after
//! `storage_class_mapping`, looked up in the target, then in the backup), the drivers of its
//! bound PV in the backup, or its `volume.beta.kubernetes.io/storage-provisioner` /
//! `volume.kubernetes.io/storage-provisioner` annotation. Because the binding transformation
//! removes that PV name and those annotations, the pipeline runs the disk transformations
//! (disk floor, access modes) before it.
//!
//! ```
//! use csdr_core::model::RestoreSpec;
//! use csdr_core::object::KubeObject;
//! use csdr_core::transform::TransformContext;
//! use csdr_core::transform::volumes::{pv_disposition, restore_volume_binding, PvDisposition};
//! use serde_json::json;
//!
//! let ctx = TransformContext::new(RestoreSpec::new("r1", "nightly"));
//! let pv = KubeObject::new(json!({
//!     "apiVersion": "v1", "kind": "PersistentVolume",
//!     "metadata": {"name": "pv-data"},
//!     "spec": {"persistentVolumeReclaimPolicy": "Retain",
//!              "claimRef": {"namespace": "shop", "name": "data", "uid": "1234"}},
//! }))?;
//! assert_eq!(pv_disposition(&ctx, &pv), PvDisposition::Restore);
//! let restored = restore_volume_binding(&ctx, pv)?.object;
//! assert_eq!(restored.pointer("/spec/claimRef/uid"), None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{PersistentVolumeFacts, TransformContext, TransformError, Transformed};
use crate::model::{Issue, ObjectRef};
use crate::names::DNS_LABEL_MAX_LENGTH;
use crate::object::{Fields, KubeObject, set_field};

/// Annotations a restored claim loses: the PV controller's record of a past binding.
pub const CLAIM_BINDING_ANNOTATIONS: [&str; 5] = [
    "pv.kubernetes.io/bind-completed",
    "pv.kubernetes.io/bound-by-controller",
    "volume.beta.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/selected-node",
];

/// Annotations a restored volume loses (as in Velero's `resetVolumeBindingInfo`).
pub const VOLUME_BINDING_ANNOTATIONS: [&str; 3] = [
    "pv.kubernetes.io/bind-completed",
    "pv.kubernetes.io/bound-by-controller",
    "pv.kubernetes.io/provisioned-by",
];

/// The legacy annotation that names a claim's StorageClass (it wins over
/// `spec.storageClassName`, as in Kubernetes' `GetPersistentVolumeClaimClass`).
pub const LEGACY_STORAGE_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

const PROVISIONER_ANNOTATIONS: [&str; 2] = [
    "volume.beta.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/storage-provisioner",
];

/// What the restore does with a backed-up PersistentVolume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PvDisposition {
    /// Create it, before its claim.
    Restore,
    /// Leave it out; its claim gets a new volume.
    Skip {
        /// Why, for the plan and the restore log.
        reason: String,
    },
}

/// Whether an object is a core/v1 PersistentVolumeClaim.
pub fn is_claim(obj: &KubeObject) -> bool {
    obj.kind() == "PersistentVolumeClaim" && obj.api_group().is_empty()
}

/// Whether an object is a core/v1 PersistentVolume.
pub fn is_volume(obj: &KubeObject) -> bool {
    obj.kind() == "PersistentVolume" && obj.api_group().is_empty()
}

/// The StorageClass a claim or volume names: the legacy annotation if set, else
/// `spec.storageClassName`.
pub fn storage_class_of(obj: &KubeObject) -> Option<&str> {
    obj.annotation(LEGACY_STORAGE_CLASS_ANNOTATION).or_else(|| {
        obj.pointer("/spec/storageClassName")
            .and_then(Value::as_str)
    })
}

/// Whether a provisioner (CSI driver name) makes disks, per the options.
pub fn is_disk_provisioner(ctx: &TransformContext, provisioner: &str) -> bool {
    ctx.options
        .disk_provisioners
        .iter()
        .any(|p| p == provisioner)
}

/// Whether a PersistentVolume is a disk: by its CSI driver or FlexVolume driver.
pub fn is_disk_volume(ctx: &TransformContext, pv: &KubeObject) -> bool {
    let csi = pv.pointer("/spec/csi/driver").and_then(Value::as_str);
    let flex = pv
        .pointer("/spec/flexVolume/driver")
        .and_then(Value::as_str);
    drivers_are_disk(ctx, csi, flex)
}

fn drivers_are_disk(ctx: &TransformContext, csi: Option<&str>, flex: Option<&str>) -> bool {
    csi.is_some_and(|d| is_disk_provisioner(ctx, d))
        || flex.is_some_and(|d| ctx.options.disk_flex_drivers.iter().any(|f| f == d))
}

/// Whether a PersistentVolumeClaim is (or will be provisioned as) a disk; see the module
/// documentation for the order of evidence.
pub fn is_disk_claim(ctx: &TransformContext, pvc: &KubeObject) -> bool {
    if let Some(class) = storage_class_of(pvc).filter(|c| !c.is_empty()) {
        let mapped = ctx
            .restore
            .storage_class_mapping
            .get(class)
            .map(String::as_str)
            .unwrap_or(class);
        let known = ctx
            .target_storage_class(mapped)
            .or_else(|| ctx.backup.storage_classes.iter().find(|s| s.name == mapped));
        if let Some(known) = known {
            return is_disk_provisioner(ctx, &known.provisioner);
        }
    }
    if let Some(pv) = bound_volume_facts(ctx, pvc)
        && (pv.csi_driver.is_some() || pv.flex_driver.is_some())
    {
        return drivers_are_disk(ctx, pv.csi_driver.as_deref(), pv.flex_driver.as_deref());
    }
    PROVISIONER_ANNOTATIONS
        .iter()
        .find_map(|a| pvc.annotation(a))
        .is_some_and(|p| is_disk_provisioner(ctx, p))
}

fn bound_volume_facts<'a>(
    ctx: &'a TransformContext,
    pvc: &KubeObject,
) -> Option<&'a PersistentVolumeFacts> {
    let name = pvc.pointer("/spec/volumeName").and_then(Value::as_str)?;
    ctx.backed_up_pv(name)
}

/// Whether the claim `(namespace, name)` was snapshotted. The namespace may be the source
/// namespace or its mapped target (so the answer does not depend on whether namespace
/// mapping ran first).
pub fn claim_has_snapshot(ctx: &TransformContext, namespace: &str, name: &str) -> bool {
    ctx.backup
        .snapshotted_pvcs
        .iter()
        .any(|(ns, n)| n == name && (ns == namespace || ctx.map_namespace(ns) == namespace))
}

/// Whether the claim `(namespace, name)` is restored from a file-system backup (D4); the
/// namespace may be the source namespace or its mapped target.
pub fn claim_has_fs_backup(ctx: &TransformContext, namespace: &str, name: &str) -> bool {
    ctx.backup
        .fs_backed_up_pvcs
        .iter()
        .any(|(ns, n)| n == name && (ns == namespace || ctx.map_namespace(ns) == namespace))
}

/// The name of the VolumeSnapshot a claim is restored from: `<claim>-<backup>`, or, when that
/// is longer than 63 characters, its first 54 characters (without a trailing `-` or `.`),
/// `-`, and the first 8 hex digits of the SHA-256 of the full `<claim>-<backup>`. The result
/// is a valid DNS label for valid claim and backup names, and the same inputs always give the
/// same name; whoever creates the VolumeSnapshots for a restore must use this function.
///
/// ```
/// use csdr_core::transform::volumes::volume_snapshot_name;
/// assert_eq!(volume_snapshot_name("data", "nightly"), "data-nightly");
/// assert_eq!(volume_snapshot_name(&"a".repeat(60), "nightly").len(), 63);
/// ```
pub fn volume_snapshot_name(claim: &str, backup: &str) -> String {
    const MAX: usize = DNS_LABEL_MAX_LENGTH;
    const KEPT: usize = MAX - 9;
    let full = format!("{claim}-{backup}");
    if full.len() <= MAX {
        return full;
    }
    let digest = Sha256::digest(full.as_bytes());
    let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let mut cut = KEPT;
    while !full.is_char_boundary(cut) {
        cut -= 1;
    }
    let prefix = full[..cut].trim_end_matches(['-', '.']);
    format!("{prefix}-{hash}")
}

fn disposition_of(
    ctx: &TransformContext,
    reclaim_policy: Option<&str>,
    claim: Option<(&str, &str)>,
) -> PvDisposition {
    if let Some((ns, name)) = claim
        && claim_has_snapshot(ctx, ns, name)
    {
        return PvDisposition::Skip {
            reason: format!(
                "claim {ns}/{name} is restored from its snapshot; a new volume is provisioned \
                 from it"
            ),
        };
    }
    if let Some((ns, name)) = claim
        && claim_has_fs_backup(ctx, ns, name)
    {
        return PvDisposition::Skip {
            reason: format!(
                "claim {ns}/{name} is restored from its file-system backup; a new volume is \
                 provisioned and filled"
            ),
        };
    }
    if reclaim_policy == Some("Delete") {
        return PvDisposition::Skip {
            reason: "reclaim policy Delete and no snapshot: its claim is provisioned \
                     dynamically, with a new, empty volume"
                .into(),
        };
    }
    PvDisposition::Restore
}

/// Whether a backed-up PersistentVolume is restored (see the module documentation). Objects
/// of other kinds are not this function's business and get [`PvDisposition::Restore`].
pub fn pv_disposition(ctx: &TransformContext, pv: &KubeObject) -> PvDisposition {
    if !is_volume(pv) {
        return PvDisposition::Restore;
    }
    let facts = ctx.backed_up_pv(pv.name());
    let reclaim = pv
        .pointer("/spec/persistentVolumeReclaimPolicy")
        .and_then(Value::as_str)
        .or_else(|| facts.map(|f| f.reclaim_policy.as_str()));
    let claim_ref = || {
        let ns = pv.pointer("/spec/claimRef/namespace")?.as_str()?;
        let name = pv.pointer("/spec/claimRef/name")?.as_str()?;
        Some((ns, name))
    };
    let claim = facts
        .and_then(|f| f.claim.as_ref())
        .map(|(ns, n)| (ns.as_str(), n.as_str()))
        .or_else(claim_ref);
    disposition_of(ctx, reclaim, claim)
}

/// R10 as a transformation: rewrites a claim's volume binding and data source and a volume's
/// claim reference so that they bind afresh in the target (see the module documentation).
/// Other kinds pass through unchanged.
pub fn restore_volume_binding(
    ctx: &TransformContext,
    mut obj: KubeObject,
) -> Result<Transformed, TransformError> {
    if is_volume(&obj) {
        let mut changed = remove_annotations(&mut obj, &VOLUME_BINDING_ANNOTATIONS);
        if let Some(claim_ref) = object_at_mut(&mut obj, &["spec", "claimRef"]) {
            changed |= claim_ref.shift_remove("uid").is_some();
            changed |= claim_ref.shift_remove("resourceVersion").is_some();
        }
        return Ok(Transformed::new(obj, changed));
    }
    if !is_claim(&obj) {
        return Ok(Transformed::unchanged(obj));
    }
    let mut warnings = Vec::new();
    let mut changed = false;
    let namespace = obj.namespace().unwrap_or_default();
    let snapshotted = claim_has_snapshot(ctx, namespace, obj.name());
    let fs_backed_up = !snapshotted && claim_has_fs_backup(ctx, namespace, obj.name());
    let volume_skipped = bound_volume_facts(ctx, &obj).and_then(|pv| {
        let claim = pv
            .claim
            .as_ref()
            .map(|(ns, n)| (ns.as_str(), n.as_str()))
            .unwrap_or((namespace, obj.name()));
        match disposition_of(ctx, Some(pv.reclaim_policy.as_str()), Some(claim)) {
            PvDisposition::Skip { .. } => Some(pv.name.as_str()),
            PvDisposition::Restore => None,
        }
    });
    if snapshotted || fs_backed_up || volume_skipped.is_some() {
        let snapshot =
            snapshotted.then(|| volume_snapshot_name(obj.name(), &ctx.backup.backup_name));
        let Some(spec) = object_at_mut(&mut obj, &["spec"]) else {
            return Err(TransformError::new(
                &obj,
                "spec",
                "a PersistentVolumeClaim needs a spec object; fix the backed-up object",
            ));
        };
        changed |= spec.shift_remove("volumeName").is_some();
        if let Some(snapshot) = snapshot {
            changed |= spec.shift_remove("dataSourceRef").is_some();
            changed |= set_field(
                spec,
                "dataSource",
                json!({
                    "apiGroup": "snapshot.storage.k8s.io",
                    "kind": "VolumeSnapshot",
                    "name": snapshot,
                }),
            );
        } else if let Some(pv) = volume_skipped.filter(|_| !fs_backed_up) {
            warnings.push(Issue::about(
                ObjectRef::of(&obj),
                format!(
                    "volume {pv} has reclaim policy Delete and no snapshot: the claim is \
                     provisioned dynamically with a new, empty volume"
                ),
            ));
        }
    }
    changed |= remove_annotations(&mut obj, &CLAIM_BINDING_ANNOTATIONS);
    Ok(Transformed {
        object: obj,
        warnings,
        changed,
    })
}

/// The object at a path of existing JSON objects, if every step is an object.
pub(crate) fn object_at_mut<'a>(
    obj: &'a mut KubeObject,
    path: &[&str],
) -> Option<&'a mut Map<String, Value>> {
    let mut map = obj.fields_mut();
    for key in path {
        map = map.field_mut(key)?.as_object_mut()?;
    }
    Some(map)
}

/// Removes annotations, leaving `metadata.annotations` in place (possibly empty); returns
/// whether one was removed.
pub(crate) fn remove_annotations(obj: &mut KubeObject, keys: &[&str]) -> bool {
    let mut removed = false;
    if let Some(annotations) = object_at_mut(obj, &["metadata", "annotations"]) {
        for key in keys {
            removed |= annotations.shift_remove(*key).is_some();
        }
    }
    removed
}

#[cfg(test)]
pub(crate) mod testing {
    //! Fixtures and generators shared by the tests of the volume transformations.

    use std::collections::BTreeSet;

    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    use crate::model::RestoreSpec;
    use crate::object::KubeObject;
    use crate::transform::testing::assert_changed_is_exact;
    use crate::transform::{
        PersistentVolumeFacts, StorageClassFacts, TransformContext, TransformFn,
    };

    pub use crate::transform::{DISK_CSI_DRIVER as DISK, NAS_CSI_DRIVER as NAS};

    pub fn class(name: &str, provisioner: &str, mode: Option<&str>) -> StorageClassFacts {
        StorageClassFacts {
            name: name.into(),
            provisioner: provisioner.into(),
            volume_binding_mode: mode.map(str::to_string),
        }
    }

    pub fn pv_facts(
        name: &str,
        policy: &str,
        csi: Option<&str>,
        claim: (&str, &str),
    ) -> PersistentVolumeFacts {
        PersistentVolumeFacts {
            name: name.into(),
            reclaim_policy: policy.into(),
            storage_class: None,
            csi_driver: csi.map(str::to_string),
            flex_driver: None,
            claim: Some((claim.0.into(), claim.1.into())),
        }
    }

    /// A target with the classes the ACK docs use, a backup with a few volumes.
    pub fn context() -> TransformContext {
        let mut ctx = TransformContext::new(RestoreSpec::new("restore-1", "nightly"));
        ctx.target.storage_classes = vec![
            class(
                "alicloud-disk-topology-alltype",
                DISK,
                Some("WaitForFirstConsumer"),
            ),
            class("alicloud-disk-essd", DISK, Some("Immediate")),
            class("alicloud-disk-default-mode", DISK, None),
            class("alibabacloud-cnfs-nas", NAS, Some("Immediate")),
            class(
                "local-path",
                "rancher.io/local-path",
                Some("WaitForFirstConsumer"),
            ),
        ];
        ctx.target.zones = ["cn-hangzhou-h", "cn-hangzhou-i"].map(String::from).into();
        ctx.backup.storage_classes = vec![
            class("alicloud-disk-ssd", DISK, Some("Immediate")),
            class("nas-old", NAS, Some("Immediate")),
        ];
        ctx.backup.persistent_volumes = vec![
            pv_facts("d-delete", "Delete", Some(DISK), ("shop", "data-delete")),
            pv_facts("d-retain", "Retain", Some(DISK), ("shop", "data-retain")),
            pv_facts("d-snap", "Delete", Some(DISK), ("shop", "data-snap")),
        ];
        ctx.backup.snapshotted_pvcs =
            BTreeSet::from([("shop".to_string(), "data-snap".to_string())]);
        ctx
    }

    /// A claim as the Kubernetes docs write one.
    pub fn claim(name: &str, class: &str, size: &str, modes: &[&str]) -> KubeObject {
        KubeObject::new(json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {
                "accessModes": modes,
                "volumeMode": "Filesystem",
                "resources": {"requests": {"storage": size}},
                "storageClassName": class,
            },
        }))
        .unwrap()
    }

    /// A CSI volume as the Kubernetes docs write one.
    pub fn volume(name: &str, driver: &str, size: &str, policy: &str) -> KubeObject {
        KubeObject::new(json!({
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name},
            "spec": {
                "capacity": {"storage": size},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": policy,
                "storageClassName": "alicloud-disk-ssd",
                "csi": {"driver": driver, "volumeHandle": format!("d-{name}"), "fsType": "ext4"},
                "claimRef": {"kind": "PersistentVolumeClaim", "namespace": "shop",
                             "name": "data", "uid": "2f1c5a1e", "resourceVersion": "812"},
            },
        }))
        .unwrap()
    }

    /// JSON pointers of every leaf that differs between two values.
    pub fn changed_paths(before: &Value, after: &Value) -> Vec<String> {
        fn walk(path: String, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<String>) {
            match (a, b) {
                (Some(Value::Object(x)), Some(Value::Object(y))) => {
                    let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                    for k in keys {
                        let escaped = k.replace('~', "~0").replace('/', "~1");
                        walk(format!("{path}/{escaped}"), x.get(k), y.get(k), out);
                    }
                }
                (a, b) if a != b => out.push(path),
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(String::new(), Some(before), Some(after), &mut out);
        out
    }

    const WORDS: [&str; 30] = [
        "spec",
        "resources",
        "requests",
        "limits",
        "storage",
        "capacity",
        "accessModes",
        "storageClassName",
        "volumeName",
        "csi",
        "driver",
        "flexVolume",
        "claimRef",
        "uid",
        "resourceVersion",
        "namespace",
        "name",
        "dataSource",
        "dataSourceRef",
        "volumeMode",
        "persistentVolumeReclaimPolicy",
        "metadata",
        "annotations",
        "x",
        "10Gi",
        "20G",
        "20480Mi",
        "bogus",
        "alicloud-disk-essd",
        "Block",
    ];

    const VALUES: [&str; 20] = [
        "10Gi",
        "20G",
        "2e10",
        "20Gi",
        "1Ti",
        "abc",
        "-5Gi",
        "ReadWriteMany",
        "ReadOnlyMany",
        "ReadWriteOnce",
        "ReadWriteOncePod",
        DISK,
        NAS,
        "alicloud/disk",
        "Delete",
        "Retain",
        "Block",
        "alicloud-disk-ssd",
        "alicloud-disk-essd",
        "data-snap",
    ];

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            proptest::sample::select(VALUES.to_vec()).prop_map(Value::from),
            "\\PC{0,8}".prop_map(Value::from),
        ]
    }

    /// Random JSON trees whose keys are often the fields the transformations read.
    pub fn json_tree() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec((proptest::sample::select(WORDS.to_vec()), inner), 0..6)
                    .prop_map(|entries| {
                        Value::Object(
                            entries
                                .into_iter()
                                .map(|(k, v)| (k.to_string(), v))
                                .collect(),
                        )
                    }),
            ]
        })
    }

    fn annotations() -> impl Strategy<Value = Value> {
        let keys = vec![
            "volume.beta.kubernetes.io/storage-class",
            "volume.beta.kubernetes.io/storage-provisioner",
            "volume.kubernetes.io/storage-provisioner",
            "pv.kubernetes.io/bind-completed",
            "volume.kubernetes.io/selected-node",
            "pv.kubernetes.io/provisioned-by",
            "app",
        ];
        proptest::collection::btree_map(proptest::sample::select(keys), leaf(), 0..4)
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
    }

    /// Arbitrary objects: random kinds (often PVC and PV), random metadata and spec.
    pub fn arbitrary_object() -> impl Strategy<Value = KubeObject> {
        let kinds = vec![
            ("v1", "PersistentVolumeClaim"),
            ("v1", "PersistentVolume"),
            ("v1", "PersistentVolumeClaim"),
            ("v1", "PersistentVolume"),
            ("v1", "Pod"),
            ("storage.k8s.io/v1", "StorageClass"),
            ("example.com/v1", "PersistentVolumeClaim"),
        ];
        (
            proptest::sample::select(kinds),
            proptest::sample::select(vec!["data", "data-snap", "data-delete", "data-retain"]),
            proptest::option::of(Just("shop")),
            annotations(),
            json_tree(),
            json_tree(),
        )
            .prop_map(|((api, kind), name, ns, annotations, spec, extra)| {
                let mut meta = Map::new();
                meta.insert("name".into(), name.into());
                if let Some(ns) = ns {
                    meta.insert("namespace".into(), ns.into());
                }
                meta.insert("annotations".into(), annotations);
                KubeObject::new(json!({
                    "apiVersion": api, "kind": kind, "metadata": meta,
                    "spec": spec, "status": extra,
                }))
                .unwrap()
            })
    }

    /// Well-formed claims and volumes with random sizes, modes, classes and bindings.
    pub fn random_volume_object() -> impl Strategy<Value = KubeObject> {
        let sizes = proptest::sample::select(VALUES[..7].to_vec());
        let classes = proptest::sample::select(vec![
            "alicloud-disk-ssd",
            "alicloud-disk-essd",
            "alibabacloud-cnfs-nas",
            "nas-old",
            "unknown",
            "",
            "local-path",
        ]);
        let modes = proptest::collection::vec(
            proptest::sample::select(vec![
                "ReadWriteOnce",
                "ReadWriteMany",
                "ReadOnlyMany",
                "ReadWriteOncePod",
            ]),
            0..3,
        );
        let volume_names = proptest::option::of(proptest::sample::select(vec![
            "d-delete", "d-retain", "d-snap", "other",
        ]));
        (
            any::<bool>(),
            proptest::sample::select(vec!["data", "data-snap", "data-delete", "data-retain"]),
            sizes,
            classes,
            modes,
            volume_names,
            proptest::option::of(proptest::sample::select(vec![DISK, NAS, "alicloud/disk"])),
            proptest::option::of(Just("Block")),
            annotations(),
        )
            .prop_map(
                |(is_claim, name, size, class, modes, bound, driver, block, ann)| {
                    let mut obj = if is_claim {
                        claim(name, class, size, &modes)
                    } else {
                        volume(name, driver.unwrap_or(DISK), size, "Delete")
                    };
                    let fields = obj.fields_mut();
                    if let Some(spec) = fields.get_mut("spec").and_then(Value::as_object_mut) {
                        spec.insert("accessModes".into(), json!(modes));
                        if let Some(v) = bound {
                            spec.insert("volumeName".into(), v.into());
                        }
                        if let Some(b) = block {
                            spec.insert("volumeMode".into(), b.into());
                        }
                        if !is_claim && driver == Some("alicloud/disk") {
                            spec.remove("csi");
                            spec.insert("flexVolume".into(), json!({"driver": "alicloud/disk"}));
                        }
                    }
                    obj.metadata_mut().insert("annotations".into(), ann);
                    obj
                },
            )
    }

    /// Contexts varying the mapping, access modes, zones and the options.
    pub fn arbitrary_context() -> impl Strategy<Value = TransformContext> {
        let targets = vec![
            "alicloud-disk-topology-alltype",
            "alicloud-disk-essd",
            "alibabacloud-cnfs-nas",
            "local-path",
            "missing",
        ];
        let modes = vec![
            "ReadWriteOnce",
            "ReadWriteMany",
            "ReadOnlyMany",
            "ReadWriteOncePod",
            "Bogus",
        ];
        (
            proptest::option::of(proptest::sample::select(targets.clone())),
            proptest::option::of(proptest::sample::select(targets)),
            proptest::collection::vec(proptest::sample::select(modes), 0..2),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(ssd, nas, modes, one_zone, nas_is_disk)| {
                let mut ctx = context();
                if let Some(t) = ssd {
                    ctx.restore
                        .storage_class_mapping
                        .insert("alicloud-disk-ssd".into(), t.into());
                }
                if let Some(t) = nas {
                    ctx.restore
                        .storage_class_mapping
                        .insert("nas-old".into(), t.into());
                }
                ctx.restore.convert_to_access_modes = modes.into_iter().map(String::from).collect();
                if one_zone {
                    ctx.target.zones = ["cn-hangzhou-h".to_string()].into();
                }
                if nas_is_disk {
                    ctx.options.disk_provisioners.push(NAS.into());
                }
                ctx
            })
    }

    /// Any object the property tests feed the transformations.
    pub fn any_object() -> impl Strategy<Value = KubeObject> {
        prop_oneof![arbitrary_object(), random_volume_object()]
    }

    /// Applying a transformation to its own output changes nothing, and both applications
    /// report `changed` exactly when their output differs from their input.
    pub fn assert_idempotent(f: TransformFn, ctx: &TransformContext, obj: KubeObject) {
        let input = obj.clone();
        if let Ok(once) = f(ctx, obj) {
            assert_changed_is_exact(&input, &once);
            let twice = f(ctx, once.object.clone()).expect("a transformed object transforms again");
            assert_eq!(twice.object, once.object);
            assert_changed_is_exact(&once.object, &twice);
        }
    }

    /// A transformation changes only paths under the prefixes it owns.
    pub fn assert_touches_only(
        f: TransformFn,
        ctx: &TransformContext,
        obj: KubeObject,
        owned: &[&str],
    ) {
        let before = obj.to_value();
        if let Ok(out) = f(ctx, obj) {
            for path in changed_paths(&before, &out.object.to_value()) {
                assert!(
                    owned
                        .iter()
                        .any(|p| path == *p || path.starts_with(&format!("{p}/"))),
                    "changed {path}, which it does not own"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::testing::*;
    use super::*;

    #[test]
    fn delete_without_snapshot_is_skipped_and_claim_provisioned_dynamically() {
        let ctx = context();
        let pv = volume("d-delete", DISK, "20Gi", "Delete");
        assert!(
            matches!(pv_disposition(&ctx, &pv), PvDisposition::Skip { reason } if reason.contains("Delete"))
        );

        let mut pvc = claim(
            "data-delete",
            "alicloud-disk-ssd",
            "20Gi",
            &["ReadWriteOnce"],
        );
        pvc.fields_mut()["spec"]["volumeName"] = json!("d-delete");
        let out = restore_volume_binding(&ctx, pvc).unwrap();
        assert_eq!(out.object.pointer("/spec/volumeName"), None);
        assert_eq!(out.object.pointer("/spec/dataSource"), None);
        assert_eq!(out.warnings.len(), 1);
        assert!(out.warnings[0].message.contains("d-delete"));
        assert_eq!(out.warnings[0].object.as_ref().unwrap().name, "data-delete");
    }

    #[test]
    fn retain_volume_is_restored_and_claim_keeps_its_volume() {
        let ctx = context();
        let pv = volume("d-retain", DISK, "20Gi", "Retain");
        assert_eq!(pv_disposition(&ctx, &pv), PvDisposition::Restore);
        let out = restore_volume_binding(&ctx, pv).unwrap().object;
        assert_eq!(out.pointer("/spec/claimRef/uid"), None);
        assert_eq!(out.pointer("/spec/claimRef/resourceVersion"), None);
        assert_eq!(out.pointer("/spec/claimRef/name"), Some(&json!("data")));
        assert_eq!(
            out.pointer("/spec/csi/volumeHandle"),
            Some(&json!("d-d-retain"))
        );

        let mut pvc = claim(
            "data-retain",
            "alicloud-disk-ssd",
            "20Gi",
            &["ReadWriteOnce"],
        );
        pvc.fields_mut()["spec"]["volumeName"] = json!("d-retain");
        let out = restore_volume_binding(&ctx, pvc).unwrap();
        assert_eq!(
            out.object.pointer("/spec/volumeName"),
            Some(&json!("d-retain"))
        );
        assert!(out.warnings.is_empty());
    }

    #[test]
    fn snapshotted_claim_gets_data_source() {
        let ctx = context();
        let pv = volume("d-snap", DISK, "20Gi", "Retain");
        // The facts say d-snap's claim was snapshotted: the PV is skipped even with Retain.
        assert!(matches!(
            pv_disposition(&ctx, &pv),
            PvDisposition::Skip { .. }
        ));

        let mut pvc = claim("data-snap", "alicloud-disk-ssd", "20Gi", &["ReadWriteOnce"]);
        pvc.fields_mut()["spec"]["volumeName"] = json!("d-snap");
        pvc.fields_mut()["spec"]["dataSourceRef"] =
            json!({"kind": "PersistentVolumeClaim", "name": "x"});
        let out = restore_volume_binding(&ctx, pvc).unwrap();
        assert_eq!(
            out.object.pointer("/spec/dataSource"),
            Some(
                &json!({"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot",
                          "name": "data-snap-nightly"})
            )
        );
        assert_eq!(out.object.pointer("/spec/volumeName"), None);
        assert_eq!(out.object.pointer("/spec/dataSourceRef"), None);
        assert!(out.warnings.is_empty());
    }

    #[test]
    fn snapshot_found_after_namespace_mapping() {
        let mut ctx = context();
        ctx.restore
            .namespace_mapping
            .insert("shop".into(), "shop-dr".into());
        let mut pvc = claim("data-snap", "alicloud-disk-ssd", "20Gi", &["ReadWriteOnce"]);
        pvc.set_namespace("shop-dr");
        let out = restore_volume_binding(&ctx, pvc).unwrap().object;
        assert!(out.pointer("/spec/dataSource").is_some());
    }

    #[test]
    fn claims_and_volumes_lose_binding_annotations() {
        let ctx = context();
        let mut pvc = claim("data", "alicloud-disk-ssd", "20Gi", &["ReadWriteOnce"]);
        let mut pv = volume("pv-1", DISK, "20Gi", "Retain");
        for obj in [&mut pvc, &mut pv] {
            obj.metadata_mut().insert(
                "annotations".into(),
                json!({
                    "pv.kubernetes.io/bind-completed": "yes",
                    "pv.kubernetes.io/bound-by-controller": "yes",
                    "pv.kubernetes.io/provisioned-by": DISK,
                    "volume.beta.kubernetes.io/storage-provisioner": DISK,
                    "volume.kubernetes.io/storage-provisioner": DISK,
                    "volume.kubernetes.io/selected-node": "cn-hangzhou.192.168.0.10",
                    "team": "shop",
                }),
            );
        }
        let pvc = restore_volume_binding(&ctx, pvc).unwrap().object;
        assert_eq!(
            pvc.annotations().unwrap().keys().collect::<Vec<_>>(),
            ["pv.kubernetes.io/provisioned-by", "team"]
        );
        let pv = restore_volume_binding(&ctx, pv).unwrap().object;
        assert_eq!(
            pv.annotations().unwrap().keys().collect::<Vec<_>>(),
            [
                "volume.beta.kubernetes.io/storage-provisioner",
                "volume.kubernetes.io/storage-provisioner",
                "volume.kubernetes.io/selected-node",
                "team"
            ]
        );
    }

    #[test]
    fn disk_classification() {
        let ctx = context();
        assert!(is_disk_volume(&ctx, &volume("a", DISK, "1Gi", "Delete")));
        assert!(!is_disk_volume(&ctx, &volume("a", NAS, "1Gi", "Delete")));
        let flex = KubeObject::new(json!({"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": "f"}, "spec": {"flexVolume": {"driver": "alicloud/disk"}}}))
        .unwrap();
        assert!(is_disk_volume(&ctx, &flex));
        // By the class in the backup, in the target, after mapping.
        assert!(is_disk_claim(
            &ctx,
            &claim("c", "alicloud-disk-ssd", "1Gi", &[])
        ));
        assert!(!is_disk_claim(&ctx, &claim("c", "nas-old", "1Gi", &[])));
        assert!(is_disk_claim(
            &ctx,
            &claim("c", "alicloud-disk-essd", "1Gi", &[])
        ));
        let mut mapped = ctx.clone();
        mapped
            .restore
            .storage_class_mapping
            .insert("nas-old".into(), "alicloud-disk-essd".into());
        assert!(is_disk_claim(&mapped, &claim("c", "nas-old", "1Gi", &[])));
        // By the bound PV, then by the provisioner annotation.
        let mut bound = claim("c", "", "1Gi", &[]);
        bound.fields_mut()["spec"]["volumeName"] = json!("d-retain");
        assert!(is_disk_claim(&ctx, &bound));
        let mut annotated = claim("c", "unknown", "1Gi", &[]);
        annotated.metadata_mut().insert(
            "annotations".into(),
            json!({"volume.kubernetes.io/storage-provisioner": DISK}),
        );
        assert!(is_disk_claim(&ctx, &annotated));
        assert!(!is_disk_claim(&ctx, &claim("c", "unknown", "1Gi", &[])));
    }

    #[test]
    fn snapshot_names_are_short_valid_and_stable() {
        assert_eq!(volume_snapshot_name("data", "nightly"), "data-nightly");
        let long = volume_snapshot_name(&"a".repeat(50), &format!("b{}", ".x".repeat(20)));
        assert_eq!(long.len(), 63);
        assert_eq!(
            long,
            volume_snapshot_name(&"a".repeat(50), &format!("b{}", ".x".repeat(20)))
        );
        let other = volume_snapshot_name(&"a".repeat(50), &format!("b{}", ".y".repeat(20)));
        assert_ne!(long, other);
        // Cut after a dot: the trailing separator is dropped before the hash.
        let dotted = volume_snapshot_name(&"a".repeat(53), "b.backup-with-a-long-name");
        assert!(!dotted.contains(".-"), "{dotted}");
        assert!(dotted.chars().last().unwrap().is_ascii_alphanumeric());
    }

    #[test]
    fn other_kinds_pass_through() {
        let ctx = context();
        let cm = KubeObject::new(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "annotations": {"pv.kubernetes.io/bind-completed": "yes"}},
            "spec": {"volumeName": "d-delete"}}))
        .unwrap();
        assert_eq!(restore_volume_binding(&ctx, cm.clone()).unwrap().object, cm);
        assert_eq!(pv_disposition(&ctx, &cm), PvDisposition::Restore);
    }

    proptest! {
        #[test]
        fn idempotent(ctx in arbitrary_context(), obj in any_object()) {
            assert_idempotent(restore_volume_binding, &ctx, obj);
        }

        #[test]
        fn touches_only_binding_fields(ctx in arbitrary_context(), obj in any_object()) {
            assert_touches_only(restore_volume_binding, &ctx, obj, &[
                "/spec/volumeName", "/spec/dataSource", "/spec/dataSourceRef",
                "/spec/claimRef/uid", "/spec/claimRef/resourceVersion",
                "/metadata/annotations/pv.kubernetes.io~1bind-completed",
                "/metadata/annotations/pv.kubernetes.io~1bound-by-controller",
                "/metadata/annotations/pv.kubernetes.io~1provisioned-by",
                "/metadata/annotations/volume.beta.kubernetes.io~1storage-provisioner",
                "/metadata/annotations/volume.kubernetes.io~1storage-provisioner",
                "/metadata/annotations/volume.kubernetes.io~1selected-node",
            ]);
        }

        #[test]
        fn never_panics(ctx in arbitrary_context(), obj in any_object()) {
            let _ = pv_disposition(&ctx, &obj);
            let _ = restore_volume_binding(&ctx, obj);
        }
    }
}
