//! The 20 GiB disk floor (R5): cloud disks are at least 20 GiB, so a smaller disk is restored
//! at exactly `20Gi`.
//!
//! A disk PersistentVolumeClaim whose `spec.resources.requests.storage` is below 20 GiB is
//! raised to `20Gi`, and so is its `spec.resources.limits.storage` when that is below 20 GiB
//! (a request above the limit would be rejected). A disk PersistentVolume's
//! `spec.capacity.storage` below 20 GiB is raised too. Sizes are compared as Kubernetes
//! quantities ([`Quantity`]): `20G` (20·10⁹) and `2e10` are below `20Gi` (20·2³⁰) and are
//! raised; `20480Mi` is exactly `20Gi` and is left as written. The floor never lowers a size.
//! Each raise is a warning naming the object, the field and both sizes.
//!
//! What is a disk is decided by [`is_disk_claim`] and [`is_disk_volume`] (configurable
//! through `TransformOptions`). An unparsable size on a disk is a [`TransformError`] naming
//! the field; sizes of other volumes are not read.
//!
//! ```
//! use csdr_core::model::RestoreSpec;
//! use csdr_core::object::KubeObject;
//! use csdr_core::transform::TransformContext;
//! use csdr_core::transform::disk_floor::apply_disk_floor;
//! use serde_json::json;
//!
//! let ctx = TransformContext::new(RestoreSpec::new("r1", "nightly"));
//! let pv = KubeObject::new(json!({
//!     "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "d-1"},
//!     "spec": {"capacity": {"storage": "10Gi"},
//!              "csi": {"driver": "diskplugin.csi.alibabacloud.com", "volumeHandle": "d-1"}},
//! }))?;
//! let out = apply_disk_floor(&ctx, pv)?;
//! assert_eq!(out.object.pointer("/spec/capacity/storage"), Some(&json!("20Gi")));
//! assert!(out.warnings[0].message.contains("from 10Gi to 20Gi"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;

use serde_json::Value;

use super::volumes::{is_claim, is_disk_claim, is_disk_volume, is_volume, object_at_mut};
use super::{TransformContext, TransformError, Transformed};
use crate::model::{Issue, ObjectRef};
use crate::object::{Fields, KubeObject, set_field};
use crate::quantity::Quantity;

/// The smallest disk: 20 GiB.
pub fn disk_floor() -> Quantity {
    Quantity::gibibytes(20)
}

/// R5: raises a disk claim's request (and limit) or a disk volume's capacity below 20 GiB to
/// `20Gi`. Other objects pass through unchanged.
pub fn apply_disk_floor(
    ctx: &TransformContext,
    mut obj: KubeObject,
) -> Result<Transformed, TransformError> {
    let fields: &[(&[&str], &str)] = if is_claim(&obj) && is_disk_claim(ctx, &obj) {
        &[
            (
                &["spec", "resources", "requests"],
                "spec.resources.requests.storage",
            ),
            (
                &["spec", "resources", "limits"],
                "spec.resources.limits.storage",
            ),
        ]
    } else if is_volume(&obj) && is_disk_volume(ctx, &obj) {
        &[(&["spec", "capacity"], "spec.capacity.storage")]
    } else {
        return Ok(Transformed::unchanged(obj));
    };
    let floor = disk_floor();
    let mut warnings = Vec::new();
    let mut changed = false;
    for (path, field) in fields {
        let Some((size, written)) = read_size(&obj, path, field)? else {
            continue;
        };
        if size >= floor {
            continue;
        }
        let written = written.into_owned();
        let reference = ObjectRef::of(&obj);
        if let Some(parent) = object_at_mut(&mut obj, path) {
            changed |= set_field(parent, "storage", Value::String(floor.to_string()));
            warnings.push(Issue::about(
                reference,
                format!("disk {field} raised from {written} to {floor}: disks are at least 20 GiB"),
            ));
        }
    }
    Ok(Transformed {
        object: obj,
        warnings,
        changed,
    })
}

/// The size at `path.storage`, as a quantity and as written; `None` if absent.
fn read_size<'a>(
    obj: &'a KubeObject,
    path: &[&str],
    field: &str,
) -> Result<Option<(Quantity, Cow<'a, str>)>, TransformError> {
    let mut value = obj.fields().field(path[0]);
    for key in &path[1..] {
        value = value.and_then(|v| v.field(key));
    }
    let written = match value.and_then(|v| v.field("storage")) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => Cow::Borrowed(s.as_str()),
        // Kubernetes also accepts a JSON number for a quantity.
        Some(Value::Number(n)) => Cow::Owned(n.to_string()),
        Some(other) => {
            return Err(TransformError::new(
                obj,
                field,
                format!("expected a quantity such as \"20Gi\", found {other}"),
            ));
        }
    };
    let quantity = Quantity::parse(&written).map_err(|e| {
        TransformError::new(
            obj,
            field,
            format!("{e}; fix the size in the backed-up object"),
        )
    })?;
    Ok(Some((quantity, written)))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::super::volumes::testing::*;
    use super::*;

    fn request(obj: &KubeObject) -> Option<&str> {
        obj.pointer("/spec/resources/requests/storage")
            .and_then(Value::as_str)
    }

    #[test]
    fn disk_claims_below_20gi_are_raised() {
        let ctx = context();
        // (size, raised?)
        for (size, raised) in [
            ("10Gi", true),
            ("20G", true),
            ("2e10", true),
            ("21474836479", true),
            ("1.5Gi", true),
            ("20480Mi", false),
            ("20Gi", false),
            ("21474836480", false),
            ("100Gi", false),
            ("1Ti", false),
        ] {
            let pvc = claim("data", "alicloud-disk-ssd", size, &["ReadWriteOnce"]);
            let out = apply_disk_floor(&ctx, pvc).unwrap();
            if raised {
                assert_eq!(request(&out.object), Some("20Gi"), "{size}");
                assert_eq!(out.warnings.len(), 1, "{size}");
                let warning = &out.warnings[0];
                assert_eq!(warning.object.as_ref().unwrap().name, "data");
                assert!(
                    warning.message.contains(&format!("from {size} to 20Gi")),
                    "{}",
                    warning.message
                );
                assert!(warning.message.contains("spec.resources.requests.storage"));
            } else {
                assert_eq!(request(&out.object), Some(size), "{size}");
                assert!(out.warnings.is_empty(), "{size}");
            }
        }
    }

    #[test]
    fn nas_claim_is_untouched() {
        let ctx = context();
        let pvc = claim("shared", "alibabacloud-cnfs-nas", "1Gi", &["ReadWriteMany"]);
        let out = apply_disk_floor(&ctx, pvc.clone()).unwrap();
        assert_eq!(out.object, pvc);
        assert!(out.warnings.is_empty());
        // A NAS claim's size is not even read.
        let mut bad = pvc;
        bad.fields_mut()["spec"]["resources"]["requests"]["storage"] = json!("lots");
        assert!(apply_disk_floor(&ctx, bad).is_ok());
    }

    #[test]
    fn flexvolume_disk_volume_is_raised() {
        let ctx = context();
        let pv = KubeObject::new(json!({
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": "d-2ze0"},
            "spec": {
                "capacity": {"storage": "5Gi"},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "flexVolume": {"driver": "alicloud/disk", "fsType": "ext4",
                               "options": {"volumeId": "d-2ze0"}},
            },
        }))
        .unwrap();
        let out = apply_disk_floor(&ctx, pv).unwrap();
        assert_eq!(
            out.object.pointer("/spec/capacity/storage"),
            Some(&json!("20Gi"))
        );
        assert!(out.warnings[0].message.contains("spec.capacity.storage"));
        // A NAS CSI volume is not a disk.
        let nas = volume("nas-1", NAS, "5Gi", "Retain");
        assert_eq!(apply_disk_floor(&ctx, nas.clone()).unwrap().object, nas);
    }

    #[test]
    fn limit_below_the_floor_is_raised_with_the_request() {
        let ctx = context();
        let mut pvc = claim("data", "alicloud-disk-ssd", "10Gi", &["ReadWriteOnce"]);
        pvc.fields_mut()["spec"]["resources"]["limits"] = json!({"storage": "15Gi"});
        let out = apply_disk_floor(&ctx, pvc).unwrap();
        assert_eq!(request(&out.object), Some("20Gi"));
        assert_eq!(
            out.object.pointer("/spec/resources/limits/storage"),
            Some(&json!("20Gi"))
        );
        assert_eq!(out.warnings.len(), 2);
    }

    #[test]
    fn configurable_disk_provisioners() {
        let mut ctx = context();
        ctx.options.disk_provisioners = vec!["ebs.csi.aws.com".into()];
        let ebs = volume("vol-1", "ebs.csi.aws.com", "8Gi", "Delete");
        let out = apply_disk_floor(&ctx, ebs).unwrap();
        assert_eq!(
            out.object.pointer("/spec/capacity/storage"),
            Some(&json!("20Gi"))
        );
        let alibaba = volume("d-1", DISK, "8Gi", "Delete");
        assert_eq!(
            apply_disk_floor(&ctx, alibaba.clone()).unwrap().object,
            alibaba
        );
    }

    #[test]
    fn invalid_size_is_an_error_naming_the_field() {
        let ctx = context();
        let pvc = claim("data", "alicloud-disk-ssd", "20GB", &["ReadWriteOnce"]);
        let err = apply_disk_floor(&ctx, pvc).unwrap_err();
        assert_eq!(err.field, "spec.resources.requests.storage");
        assert_eq!(err.object.name, "data");
        assert!(err.reason.contains("20GB"), "{err}");
        let mut pv = volume("d-1", DISK, "10Gi", "Delete");
        pv.fields_mut()["spec"]["capacity"]["storage"] = json!(["10Gi"]);
        assert_eq!(
            apply_disk_floor(&ctx, pv).unwrap_err().field,
            "spec.capacity.storage"
        );
    }

    #[test]
    fn other_kinds_pass_through() {
        let ctx = context();
        let cm = KubeObject::new(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c"}, "spec": {"capacity": {"storage": "1Gi"},
            "csi": {"driver": DISK}}}))
        .unwrap();
        assert_eq!(apply_disk_floor(&ctx, cm.clone()).unwrap().object, cm);
    }

    /// Quantity strings of every form, valid or not.
    fn size() -> impl Strategy<Value = String> {
        prop_oneof![
            (
                0u64..64,
                proptest::sample::select(vec!["Gi", "G", "Mi", "M", "Ki", "k", "", "Ti", "m"])
            )
                .prop_map(|(n, s)| format!("{n}{s}")),
            (0u64..30_000, 0u32..1000).prop_map(|(n, f)| format!("{n}.{f:03}Mi")),
            (1u64..9, 8i32..12).prop_map(|(n, e)| format!("{n}e{e}")),
            "[-+0-9.eEinumkKMGTP]{1,8}",
        ]
    }

    proptest! {
        #[test]
        fn never_lowers_a_size(size in size(), is_pv in any::<bool>()) {
            let ctx = context();
            let (obj, pointer) = if is_pv {
                (volume("d", DISK, &size, "Retain"), "/spec/capacity/storage")
            } else {
                (claim("d", "alicloud-disk-ssd", &size, &[]), "/spec/resources/requests/storage")
            };
            match (Quantity::parse(&size), apply_disk_floor(&ctx, obj)) {
                (Ok(before), Ok(out)) => {
                    let after = out.object.pointer(pointer).and_then(Value::as_str).unwrap();
                    let after = Quantity::parse(after).unwrap();
                    prop_assert!(after >= before);
                    prop_assert!(after >= disk_floor());
                    prop_assert_eq!(after == before, out.warnings.is_empty());
                }
                (Err(_), result) => prop_assert!(result.is_err()),
                (Ok(_), Err(e)) => prop_assert!(false, "valid size {} refused: {}", size, e),
            }
        }

        #[test]
        fn idempotent(ctx in arbitrary_context(), obj in any_object()) {
            assert_idempotent(apply_disk_floor, &ctx, obj);
        }

        #[test]
        fn touches_only_sizes(ctx in arbitrary_context(), obj in any_object()) {
            assert_touches_only(apply_disk_floor, &ctx, obj, &[
                "/spec/resources/requests/storage",
                "/spec/resources/limits/storage",
                "/spec/capacity/storage",
            ]);
        }

        #[test]
        fn never_panics(ctx in arbitrary_context(), obj in any_object()) {
            let _ = apply_disk_floor(&ctx, obj);
        }
    }
}
