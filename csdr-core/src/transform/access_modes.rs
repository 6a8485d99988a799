//! AccessMode coercion (R7): disks attach to one node, so a disk volume is not restored as
//! ReadWriteMany or ReadOnlyMany.
//!
//! Without this, CSI refuses to mount the restored volume with the FAQ's
//! `multi-node writing is only supported for block volume`. The rules, for disk
//! PersistentVolumeClaims and PersistentVolumes (see
//! [`super::volumes::is_disk_claim`] and
//! [`super::volumes::is_disk_volume`]):
//!
//! 1. A claim converted by `storage_class_mapping` (its StorageClass is a key of the mapping)
//!    gets `spec.accessModes` = the restore's `convert_to_access_modes`, when that is not empty.
//!    Each name must be a Kubernetes access mode (`ReadWriteOnce`, `ReadOnlyMany`,
//!    `ReadWriteMany`, `ReadWriteOncePod`); an unknown name is a [`TransformError`] naming it.
//! 2. A disk volume in `Filesystem` mode (the default) loses `ReadWriteMany` and
//!    `ReadOnlyMany`; if no mode is left it becomes `ReadWriteOnce`. A warning names the
//!    modes before and after.
//!
//! Decisions worth knowing:
//! - `ReadWriteOncePod` is a single-node mode (stricter than `ReadWriteOnce`): it is kept.
//!   Kubernetes forbids combining it with other modes, so it is never added to a list.
//! - `volumeMode: Block` volumes keep their modes: the FAQ's error says multi-node access is
//!   supported for block volumes (on disks with multiAttach enabled), which shared-block
//!   workloads rely on; CSI checks multiAttach when it attaches.
//!
//! ```
//! use csdr_core::model::RestoreSpec;
//! use csdr_core::object::KubeObject;
//! use csdr_core::transform::TransformContext;
//! use csdr_core::transform::access_modes::coerce_access_modes;
//! use serde_json::json;
//!
//! let ctx = TransformContext::new(RestoreSpec::new("r1", "nightly"));
//! let pv = KubeObject::new(json!({
//!     "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "d-1"},
//!     "spec": {"accessModes": ["ReadWriteMany"], "flexVolume": {"driver": "alicloud/disk"}},
//! }))?;
//! let out = coerce_access_modes(&ctx, pv)?;
//! assert_eq!(out.object.pointer("/spec/accessModes"), Some(&json!(["ReadWriteOnce"])));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde_json::Value;

use super::volumes::{
    is_claim, is_disk_claim, is_disk_volume, is_volume, object_at_mut, storage_class_of,
};
use super::{TransformContext, TransformError, Transformed};
use crate::model::{Issue, ObjectRef};
use crate::object::{Fields, KubeObject, set_field};

/// The access modes Kubernetes knows.
pub const ACCESS_MODES: [&str; 4] = [
    "ReadWriteOnce",
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOncePod",
];

/// The modes that let several nodes mount a volume.
pub const MULTI_NODE_MODES: [&str; 2] = ["ReadWriteMany", "ReadOnlyMany"];

/// R7: applies `convert_to_access_modes` to converted claims and restores disk volumes as
/// single-node. Other objects pass through unchanged.
pub fn coerce_access_modes(
    ctx: &TransformContext,
    mut obj: KubeObject,
) -> Result<Transformed, TransformError> {
    let (converted, disk) = if is_claim(&obj) {
        (conversion_modes(ctx, &obj)?, is_disk_claim(ctx, &obj))
    } else if is_volume(&obj) {
        (None, is_disk_volume(ctx, &obj))
    } else {
        return Ok(Transformed::unchanged(obj));
    };
    // The modes to write, if any; written once at the end, so that `changed` compares the
    // result with the object as it came (a conversion to multi-node modes that the disk rule
    // undoes may leave it as it was).
    let mut modes = converted;
    let mut warnings = Vec::new();
    let block = obj.pointer("/spec/volumeMode").and_then(Value::as_str) == Some("Block");
    if disk && !block {
        let current = match &modes {
            Some(converted) => Some(converted),
            None => match obj.pointer("/spec/accessModes") {
                Some(Value::Array(written)) => Some(written),
                _ => None,
            },
        };
        let is_multi_node = |m: &Value| m.as_str().is_some_and(|m| MULTI_NODE_MODES.contains(&m));
        if let Some(current) = current
            && current.iter().any(is_multi_node)
        {
            let mut after: Vec<Value> = current
                .iter()
                .filter(|m| !is_multi_node(m))
                .cloned()
                .collect();
            if after.is_empty() {
                after.push(Value::from("ReadWriteOnce"));
            }
            warnings.push(Issue::about(
                ObjectRef::of(&obj),
                format!(
                    "disk volume access modes {} restored as {}: a disk attaches to one \
                     node (CSI: multi-node writing is only supported for block volume)",
                    Value::Array(current.clone()),
                    Value::Array(after.clone())
                ),
            ));
            modes = Some(after);
        }
    }
    let changed = match (modes, object_at_mut(&mut obj, &["spec"])) {
        (Some(modes), Some(spec)) => set_field(spec, "accessModes", Value::Array(modes)),
        _ => false,
    };
    Ok(Transformed {
        object: obj,
        warnings,
        changed,
    })
}

/// Rule 1: the access modes a claim converted by `storage_class_mapping` gets
/// (`convert_to_access_modes`), or `None` if it is not converted, none are requested or the
/// claim has no spec object to hold them.
fn conversion_modes(
    ctx: &TransformContext,
    obj: &KubeObject,
) -> Result<Option<Vec<Value>>, TransformError> {
    let requested = &ctx.restore.convert_to_access_modes;
    let converted = storage_class_of(obj)
        .is_some_and(|class| ctx.restore.storage_class_mapping.contains_key(class));
    if !converted || requested.is_empty() {
        return Ok(None);
    }
    let mut modes: Vec<Value> = Vec::new();
    for mode in requested {
        if !ACCESS_MODES.contains(&mode.as_str()) {
            return Err(TransformError::new(
                obj,
                "spec.accessModes",
                format!(
                    "convertToAccessModes names unknown access mode `{mode}`; use \
                     ReadWriteOnce, ReadOnlyMany, ReadWriteMany or ReadWriteOncePod"
                ),
            ));
        }
        let mode = Value::from(mode.as_str());
        if !modes.contains(&mode) {
            modes.push(mode);
        }
    }
    let has_spec = obj.fields().field("spec").is_some_and(Value::is_object);
    Ok(has_spec.then_some(modes))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::super::volumes::testing::*;
    use super::*;

    fn modes(obj: &KubeObject) -> Value {
        obj.pointer("/spec/accessModes")
            .cloned()
            .unwrap_or(Value::Null)
    }

    #[test]
    fn disk_volumes_become_single_node() {
        let ctx = context();
        for (before, after) in [
            (json!(["ReadWriteMany"]), json!(["ReadWriteOnce"])),
            (json!(["ReadOnlyMany"]), json!(["ReadWriteOnce"])),
            (
                json!(["ReadWriteOnce", "ReadOnlyMany"]),
                json!(["ReadWriteOnce"]),
            ),
            (
                json!(["ReadWriteOncePod", "ReadWriteMany"]),
                json!(["ReadWriteOncePod"]),
            ),
        ] {
            let mut pvc = claim("data", "alicloud-disk-ssd", "20Gi", &[]);
            pvc.fields_mut()["spec"]["accessModes"] = before.clone();
            let out = coerce_access_modes(&ctx, pvc).unwrap();
            assert_eq!(modes(&out.object), after, "{before}");
            assert_eq!(out.warnings.len(), 1);
            assert_eq!(out.warnings[0].object.as_ref().unwrap().name, "data");
            assert!(
                out.warnings[0]
                    .message
                    .contains("multi-node writing is only supported")
            );

            let mut pv = volume("d-1", DISK, "20Gi", "Retain");
            pv.fields_mut()["spec"]["accessModes"] = before.clone();
            assert_eq!(modes(&coerce_access_modes(&ctx, pv).unwrap().object), after);
        }
    }

    #[test]
    fn single_node_nas_and_block_volumes_are_untouched() {
        let ctx = context();
        for pvc in [
            claim("data", "alicloud-disk-ssd", "20Gi", &["ReadWriteOnce"]),
            claim("data", "alicloud-disk-ssd", "20Gi", &["ReadWriteOncePod"]),
            claim(
                "shared",
                "alibabacloud-cnfs-nas",
                "20Gi",
                &["ReadWriteMany"],
            ),
        ] {
            let out = coerce_access_modes(&ctx, pvc.clone()).unwrap();
            assert_eq!(out.object, pvc);
            assert!(out.warnings.is_empty());
        }
        let mut block = claim("raw", "alicloud-disk-ssd", "20Gi", &["ReadWriteMany"]);
        block.fields_mut()["spec"]["volumeMode"] = json!("Block");
        assert_eq!(
            coerce_access_modes(&ctx, block.clone()).unwrap().object,
            block
        );
        let nas_pv = volume("nas-1", NAS, "20Gi", "Retain");
        assert_eq!(
            coerce_access_modes(&ctx, nas_pv.clone()).unwrap().object,
            nas_pv
        );
    }

    #[test]
    fn converted_claims_get_convert_to_access_modes() {
        let mut ctx = context();
        ctx.restore
            .storage_class_mapping
            .insert("nas-old".into(), "alibabacloud-cnfs-nas".into());
        ctx.restore.convert_to_access_modes = vec!["ReadOnlyMany".into(), "ReadOnlyMany".into()];
        let pvc = claim("shared", "nas-old", "20Gi", &["ReadWriteMany"]);
        let out = coerce_access_modes(&ctx, pvc).unwrap();
        assert_eq!(modes(&out.object), json!(["ReadOnlyMany"]));
        // A claim that is not converted keeps its modes.
        let other = claim("other", "alibabacloud-cnfs-nas", "20Gi", &["ReadWriteMany"]);
        assert_eq!(
            modes(&coerce_access_modes(&ctx, other).unwrap().object),
            json!(["ReadWriteMany"])
        );
    }

    #[test]
    fn conversion_to_disk_ends_single_node() {
        let mut ctx = context();
        ctx.restore
            .storage_class_mapping
            .insert("nas-old".into(), "alicloud-disk-topology-alltype".into());
        ctx.restore.convert_to_access_modes = vec!["ReadWriteMany".into()];
        let pvc = claim("shared", "nas-old", "20Gi", &["ReadWriteMany"]);
        let out = coerce_access_modes(&ctx, pvc).unwrap();
        assert_eq!(modes(&out.object), json!(["ReadWriteOnce"]));
        assert_eq!(out.warnings.len(), 1);
    }

    #[test]
    fn unknown_conversion_mode_is_an_error_naming_it() {
        let mut ctx = context();
        ctx.restore
            .storage_class_mapping
            .insert("nas-old".into(), "alibabacloud-cnfs-nas".into());
        ctx.restore.convert_to_access_modes = vec!["ReadWriteSome".into()];
        let pvc = claim("shared", "nas-old", "20Gi", &["ReadWriteMany"]);
        let err = coerce_access_modes(&ctx, pvc).unwrap_err();
        assert_eq!(err.field, "spec.accessModes");
        assert!(err.reason.contains("`ReadWriteSome`"), "{err}");
    }

    proptest! {
        #[test]
        fn idempotent(ctx in arbitrary_context(), obj in any_object()) {
            assert_idempotent(coerce_access_modes, &ctx, obj);
        }

        #[test]
        fn touches_only_access_modes(ctx in arbitrary_context(), obj in any_object()) {
            assert_touches_only(coerce_access_modes, &ctx, obj, &["/spec/accessModes"]);
        }

        #[test]
        fn never_panics(ctx in arbitrary_context(), obj in any_object()) {
            let _ = coerce_access_modes(&ctx, obj);
        }
    }
}
