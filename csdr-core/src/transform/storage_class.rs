//! StorageClass conversion (R8): restore claims and volumes onto another StorageClass.
//!
//! `restore.storage_class_mapping` maps an old class to a new one. A PersistentVolumeClaim or
//! PersistentVolume whose class (the legacy `volume.beta.kubernetes.io/storage-class`
//! annotation if set, else `spec.storageClassName`) is a key of the mapping gets the new class
//! in whichever of those two fields it has. Objects without a class (or with `""`, static
//! binding) and objects of other kinds pass through unchanged.
//!
//! The conversion is refused with the FAQ's errors, as a [`TransformError`] naming the object
//! and the field:
//! - `storageclass <x> not exists` — the target cluster has no class `<x>`;
//! - `only support convert to storageclass with CSI diskplugin or nasplugin provisioner` — the
//!   new class's provisioner is not in `TransformOptions::conversion_provisioners`;
//! - `current cluster is multi-zoned` — the new class provisions disks with
//!   `volumeBindingMode: Immediate` (or unset: Kubernetes' default is `Immediate`) and the
//!   target's nodes span more than one zone, so a disk could be created in a zone its pods
//!   cannot reach.
//!
//! A chained mapping (`a → b` and `b → c`) is refused for objects of class `a`: applying it
//! once or twice would give different classes, so the user must map `a` to its final class.
//!
//! ```
//! use csdr_core::model::RestoreSpec;
//! use csdr_core::object::KubeObject;
//! use csdr_core::transform::{StorageClassFacts, TransformContext};
//! use csdr_core::transform::storage_class::convert_storage_class;
//! use serde_json::json;
//!
//! let mut ctx = TransformContext::new(RestoreSpec::new("r1", "nightly"));
//! ctx.restore.storage_class_mapping.insert("old-ssd".into(), "alicloud-disk-topology-alltype".into());
//! ctx.target.storage_classes.push(StorageClassFacts {
//!     name: "alicloud-disk-topology-alltype".into(),
//!     provisioner: "diskplugin.csi.alibabacloud.com".into(),
//!     volume_binding_mode: Some("WaitForFirstConsumer".into()),
//! });
//! let pvc = KubeObject::new(json!({
//!     "apiVersion": "v1", "kind": "PersistentVolumeClaim",
//!     "metadata": {"name": "data", "namespace": "shop"},
//!     "spec": {"storageClassName": "old-ssd"},
//! }))?;
//! let out = convert_storage_class(&ctx, pvc)?;
//! assert_eq!(out.object.pointer("/spec/storageClassName"), Some(&json!("alicloud-disk-topology-alltype")));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde_json::Value;

use super::volumes::{
    LEGACY_STORAGE_CLASS_ANNOTATION, is_claim, is_disk_provisioner, is_volume, object_at_mut,
    storage_class_of,
};
use super::{TransformContext, TransformError, Transformed};
use crate::object::{Fields, KubeObject, set_str_field};

/// The FAQ's error when the target lacks the new class (followed by the class name).
pub const NOT_EXISTS: &str = "not exists";
/// The FAQ's error when the new class has a provisioner conversion does not support.
pub const UNSUPPORTED_PROVISIONER: &str =
    "only support convert to storageclass with CSI diskplugin or nasplugin provisioner";
/// The FAQ's error when an immediately bound disk class is chosen on a multi-zone cluster.
pub const MULTI_ZONED: &str = "current cluster is multi-zoned";

/// R8: moves a claim or volume to the class `storage_class_mapping` names for it, or refuses
/// with the FAQ's errors. Other objects pass through unchanged.
pub fn convert_storage_class(
    ctx: &TransformContext,
    mut obj: KubeObject,
) -> Result<Transformed, TransformError> {
    if !is_claim(&obj) && !is_volume(&obj) {
        return Ok(Transformed::unchanged(obj));
    }
    let Some(old) = storage_class_of(&obj).filter(|c| !c.is_empty()) else {
        return Ok(Transformed::unchanged(obj));
    };
    let Some(new) = ctx.restore.storage_class_mapping.get(old) else {
        return Ok(Transformed::unchanged(obj));
    };
    if new == old {
        return Ok(Transformed::unchanged(obj));
    }
    let old = old.to_string();
    let field = if obj.annotation(LEGACY_STORAGE_CLASS_ANNOTATION).is_some() {
        format!("metadata.annotations[{LEGACY_STORAGE_CLASS_ANNOTATION}]")
    } else {
        "spec.storageClassName".to_string()
    };
    let fail = |reason: String| Err(TransformError::new(&obj, field.clone(), reason));
    if let Some(next) = ctx.restore.storage_class_mapping.get(new)
        && next != new
    {
        return fail(format!(
            "storageClassMapping maps {old} to {new} and {new} to {next}: chained mappings are \
             ambiguous; map {old} directly to the class you want"
        ));
    }
    let Some(class) = ctx.target_storage_class(new) else {
        return fail(format!(
            "storageclass {new} {NOT_EXISTS}: create it in the target cluster or change \
             storageClassMapping"
        ));
    };
    if !ctx
        .options
        .conversion_provisioners
        .contains(&class.provisioner)
    {
        return fail(format!(
            "{UNSUPPORTED_PROVISIONER}: storageclass {new} uses {}; choose a disk or NAS class, \
             or restore without conversion",
            class.provisioner
        ));
    }
    let immediate = class
        .volume_binding_mode
        .as_deref()
        .is_none_or(|m| m == "Immediate");
    if is_disk_provisioner(ctx, &class.provisioner) && immediate && ctx.target.zones.len() > 1 {
        return fail(format!(
            "{MULTI_ZONED}: storageclass {new} creates disks immediately (volumeBindingMode \
             Immediate), possibly in a zone its pods cannot reach; use a class with \
             volumeBindingMode WaitForFirstConsumer such as alicloud-disk-topology-alltype"
        ));
    }
    let mut changed = false;
    if let Some(annotations) = object_at_mut(&mut obj, &["metadata", "annotations"])
        && annotations
            .get(LEGACY_STORAGE_CLASS_ANNOTATION)
            .is_some_and(Value::is_string)
    {
        changed |= set_str_field(annotations, LEGACY_STORAGE_CLASS_ANNOTATION, new);
    }
    if let Some(spec) = object_at_mut(&mut obj, &["spec"])
        && spec.field("storageClassName").is_some_and(Value::is_string)
    {
        changed |= set_str_field(spec, "storageClassName", new);
    }
    Ok(Transformed::new(obj, changed))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::super::volumes::testing::*;
    use super::*;

    fn mapped(to: &str) -> crate::transform::TransformContext {
        let mut ctx = context();
        ctx.restore
            .storage_class_mapping
            .insert("alicloud-disk-ssd".into(), to.into());
        ctx
    }

    #[test]
    fn converts_claims_and_volumes() {
        let ctx = mapped("alicloud-disk-topology-alltype");
        let pvc = claim("data", "alicloud-disk-ssd", "20Gi", &["ReadWriteOnce"]);
        let out = convert_storage_class(&ctx, pvc).unwrap();
        assert_eq!(
            out.object.pointer("/spec/storageClassName"),
            Some(&json!("alicloud-disk-topology-alltype"))
        );
        assert!(out.warnings.is_empty());
        let pv = volume("d-1", DISK, "20Gi", "Retain");
        let out = convert_storage_class(&ctx, pv).unwrap();
        assert_eq!(
            out.object.pointer("/spec/storageClassName"),
            Some(&json!("alicloud-disk-topology-alltype"))
        );
        // NAS class to a NAS class, on a multi-zone cluster, with Immediate binding: allowed.
        let mut nas = context();
        nas.restore
            .storage_class_mapping
            .insert("nas-old".into(), "alibabacloud-cnfs-nas".into());
        let pvc = claim("shared", "nas-old", "20Gi", &["ReadWriteMany"]);
        let out = convert_storage_class(&nas, pvc).unwrap();
        assert_eq!(
            out.object.pointer("/spec/storageClassName"),
            Some(&json!("alibabacloud-cnfs-nas"))
        );
    }

    #[test]
    fn converts_the_legacy_annotation() {
        let ctx = mapped("alicloud-disk-topology-alltype");
        let pvc = KubeObject::new(json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "old", "namespace": "shop",
                         "annotations": {"volume.beta.kubernetes.io/storage-class": "alicloud-disk-ssd"}},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "20Gi"}}},
        }))
        .unwrap();
        let out = convert_storage_class(&ctx, pvc).unwrap().object;
        assert_eq!(
            out.annotation("volume.beta.kubernetes.io/storage-class"),
            Some("alicloud-disk-topology-alltype")
        );
        assert_eq!(out.pointer("/spec/storageClassName"), None);
    }

    #[test]
    fn missing_class_is_refused_with_the_faq_wording() {
        let ctx = mapped("fast-ssd");
        let pvc = claim("data", "alicloud-disk-ssd", "20Gi", &["ReadWriteOnce"]);
        let err = convert_storage_class(&ctx, pvc).unwrap_err();
        assert!(
            err.reason.starts_with("storageclass fast-ssd not exists"),
            "{err}"
        );
        assert_eq!(err.field, "spec.storageClassName");
        assert_eq!(err.object.name, "data");
        assert_eq!(err.object.namespace.as_deref(), Some("shop"));
    }

    #[test]
    fn unsupported_provisioner_is_refused_with_the_faq_wording() {
        let ctx = mapped("local-path");
        let pvc = claim("data", "alicloud-disk-ssd", "20Gi", &["ReadWriteOnce"]);
        let err = convert_storage_class(&ctx, pvc).unwrap_err();
        assert!(
            err.reason.starts_with(
                "only support convert to storageclass with CSI diskplugin or nasplugin provisioner"
            ),
            "{err}"
        );
        assert!(err.reason.contains("rancher.io/local-path"));
    }

    #[test]
    fn immediate_disk_class_on_multi_zone_cluster_is_refused_with_the_faq_wording() {
        for class in ["alicloud-disk-essd", "alicloud-disk-default-mode"] {
            let ctx = mapped(class);
            let pvc = claim("data", "alicloud-disk-ssd", "20Gi", &["ReadWriteOnce"]);
            let err = convert_storage_class(&ctx, pvc.clone()).unwrap_err();
            assert!(
                err.reason.starts_with("current cluster is multi-zoned"),
                "{err}"
            );
            // On a single-zone cluster the same conversion is fine.
            let mut one_zone = ctx.clone();
            one_zone.target.zones = ["cn-hangzhou-h".to_string()].into();
            assert!(convert_storage_class(&one_zone, pvc).is_ok());
        }
    }

    #[test]
    fn chained_mapping_is_refused() {
        let mut ctx = mapped("alibabacloud-cnfs-nas");
        ctx.restore.storage_class_mapping.insert(
            "alibabacloud-cnfs-nas".into(),
            "alicloud-disk-topology-alltype".into(),
        );
        let pvc = claim("data", "alicloud-disk-ssd", "20Gi", &["ReadWriteOnce"]);
        let err = convert_storage_class(&ctx, pvc).unwrap_err();
        assert!(err.reason.contains("chained"), "{err}");
    }

    #[test]
    fn unmapped_and_other_objects_pass_through() {
        let ctx = mapped("alicloud-disk-topology-alltype");
        for obj in [
            claim("shared", "nas-old", "20Gi", &["ReadWriteMany"]),
            claim("static", "", "20Gi", &["ReadWriteOnce"]),
            KubeObject::new(
                json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                "metadata": {"name": "alicloud-disk-ssd"}, "provisioner": DISK,
                "spec": {"storageClassName": "alicloud-disk-ssd"}}),
            )
            .unwrap(),
        ] {
            assert_eq!(
                convert_storage_class(&ctx, obj.clone()).unwrap().object,
                obj
            );
        }
    }

    proptest! {
        #[test]
        fn idempotent(ctx in arbitrary_context(), obj in any_object()) {
            assert_idempotent(convert_storage_class, &ctx, obj);
        }

        #[test]
        fn touches_only_the_class(ctx in arbitrary_context(), obj in any_object()) {
            assert_touches_only(convert_storage_class, &ctx, obj, &[
                "/spec/storageClassName",
                "/metadata/annotations/volume.beta.kubernetes.io~1storage-class",
            ]);
        }

        #[test]
        fn never_panics(ctx in arbitrary_context(), obj in any_object()) {
            let _ = convert_storage_class(&ctx, obj);
        }
    }
}
