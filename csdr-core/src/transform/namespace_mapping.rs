//! Namespace mapping (R4): restoring a namespace's objects into another namespace, references
//! included.
//!
//! With `restore.namespace_mapping` (`source → target`), [`namespace_mapping`]:
//! - moves every namespaced object (`metadata.namespace`) to its target namespace;
//! - renames a core `Namespace` object (`metadata.name`, and its
//!   `kubernetes.io/metadata.name` label, which the API server would overwrite anyway);
//! - rewrites the namespaces inside references, as Velero does: a PersistentVolume's
//!   `spec.claimRef.namespace` (Velero's `remapClaimRefNS`), the `subjects[].namespace` of
//!   `ServiceAccount` subjects of RoleBindings and ClusterRoleBindings (Velero's
//!   `rolebinding_action.go` / `clusterrolebinding_action.go`, which rewrite every subject; only
//!   ServiceAccount subjects have a namespace in Kubernetes), and a VolumeSnapshotContent's
//!   `spec.volumeSnapshotRef.namespace` (Velero's CSI `volumesnapshotcontent_action.go`).
//!
//! Not mapped (as in Velero): namespaces written inside other fields — webhook and APIService
//! `service.namespace`, DNS names such as `db.source.svc.cluster.local` in ExternalName
//! Services, Ingresses, environment variables or ConfigMaps. Velero's renaming of a
//! PersistentVolume that already exists in the target is a planning decision (it needs the
//! target's state) and is not made here.
//!
//! A mapping is applied once per restore. To stay idempotent, a *chained* mapping — the
//! target of one entry is itself mapped (`a → b`, `b → c`, or a swap `a → b`, `b → a`) — is
//! refused for the objects it concerns: applied again to an already moved object it would move
//! it a second time. A mapping to an empty name is refused too.
//!
//! ```
//! use csdr_core::model::RestoreSpec;
//! use csdr_core::object::KubeObject;
//! use csdr_core::transform::TransformContext;
//! use csdr_core::transform::namespace_mapping::namespace_mapping;
//! use serde_json::json;
//!
//! let mut spec = RestoreSpec::new("restore-1", "nightly");
//! spec.namespace_mapping.insert("shop".into(), "shop-staging".into());
//! let ctx = TransformContext::new(spec);
//! let deploy = KubeObject::new(json!({
//!     "apiVersion": "apps/v1", "kind": "Deployment",
//!     "metadata": {"name": "web", "namespace": "shop"},
//! }))?;
//! let out = namespace_mapping(&ctx, deploy)?.object;
//! assert_eq!(out.namespace(), Some("shop-staging"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde_json::Value;

use crate::object::{Fields, KubeObject, set_str_field};
use crate::transform::{TransformContext, TransformError, Transformed};

/// The label the API server sets on every Namespace to its name.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Applies `restore.namespace_mapping` to an object and the namespaces it references: see the
/// [module documentation](self).
///
/// # Errors
/// A [`TransformError`] when the mapping concerning this object is chained or maps to an empty
/// name.
pub fn namespace_mapping(
    ctx: &TransformContext,
    object: KubeObject,
) -> Result<Transformed, TransformError> {
    if ctx.restore.namespace_mapping.is_empty() {
        return Ok(Transformed::unchanged(object));
    }
    let mut object = object;
    let mut changed = false;

    if let Some(namespace) = object.namespace()
        && let Some(target) = target_namespace(ctx, &object, "metadata.namespace", namespace)?
    {
        changed |= object.set_namespace(target);
    }

    match (object.api_group(), object.kind()) {
        ("", "Namespace") => {
            if let Some(target) = target_namespace(ctx, &object, "metadata.name", object.name())? {
                object
                    .metadata_mut()
                    .insert("name".into(), Value::String(target.to_string()));
                changed = true;
                if object.label(NAMESPACE_NAME_LABEL).is_some() {
                    object.set_label(NAMESPACE_NAME_LABEL, target);
                }
            }
        }
        ("", "PersistentVolume") => {
            changed |= map_reference(
                ctx,
                &mut object,
                &["spec", "claimRef"],
                "spec.claimRef.namespace",
            )?;
        }
        ("snapshot.storage.k8s.io", "VolumeSnapshotContent") => {
            changed |= map_reference(
                ctx,
                &mut object,
                &["spec", "volumeSnapshotRef"],
                "spec.volumeSnapshotRef.namespace",
            )?;
        }
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            changed |= map_subjects(ctx, &mut object)?;
        }
        _ => {}
    }
    Ok(Transformed::new(object, changed))
}

/// The namespace `source` maps to, or `None` when it is not mapped (or mapped to itself);
/// refuses chained and empty mappings.
fn target_namespace<'a>(
    ctx: &'a TransformContext,
    object: &KubeObject,
    field: &str,
    source: &str,
) -> Result<Option<&'a str>, TransformError> {
    let Some(target) = ctx.restore.namespace_mapping.get(source) else {
        return Ok(None);
    };
    let target = target.as_str();
    if target == source {
        return Ok(None);
    }
    if target.is_empty() {
        return Err(TransformError::new(
            object,
            field,
            format!(
                "namespace mapping maps `{source}` to an empty name; give it a target namespace"
            ),
        ));
    }
    let again = ctx.map_namespace(target);
    if again != target {
        return Err(TransformError::new(
            object,
            field,
            format!(
                "namespace mapping is chained: `{source}` → `{target}` and `{target}` → `{again}`; \
                 an object moved to `{target}` would be moved again. Map every source namespace \
                 to a namespace that is not itself mapped (run a swap as two restores)"
            ),
        ));
    }
    Ok(Some(target))
}

/// Maps `<path>.namespace` of an object reference, if present and a string; returns whether
/// the object changed.
fn map_reference(
    ctx: &TransformContext,
    object: &mut KubeObject,
    path: &[&str],
    field: &str,
) -> Result<bool, TransformError> {
    let target = {
        let mut value = object.fields().field(path[0]);
        for key in &path[1..] {
            value = value.and_then(|v| v.field(key));
        }
        match value
            .and_then(|v| v.field("namespace"))
            .and_then(Value::as_str)
        {
            Some(ns) if !ns.is_empty() => target_namespace(ctx, object, field, ns)?,
            _ => None,
        }
    };
    let Some(target) = target else {
        return Ok(false);
    };
    let mut value = object.fields_mut().field_mut(path[0]);
    for key in &path[1..] {
        value = value.and_then(|v| v.field_mut(key));
    }
    Ok(match value {
        Some(Value::Object(reference)) => set_str_field(reference, "namespace", target),
        _ => false,
    })
}

/// Maps the namespace of every ServiceAccount subject of a (Cluster)RoleBinding; returns
/// whether the object changed.
fn map_subjects(ctx: &TransformContext, object: &mut KubeObject) -> Result<bool, TransformError> {
    let count = object
        .fields()
        .field("subjects")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let mut changed = false;
    for i in 0..count {
        let target = match object.fields().field("subjects").and_then(|s| s.get(i)) {
            Some(subject)
                if subject.field("kind").and_then(Value::as_str) == Some("ServiceAccount") =>
            {
                match subject.field("namespace").and_then(Value::as_str) {
                    Some(ns) if !ns.is_empty() => {
                        target_namespace(ctx, object, &format!("subjects[{i}].namespace"), ns)?
                    }
                    _ => continue,
                }
            }
            _ => continue,
        };
        let Some(target) = target else {
            continue;
        };
        if let Some(Value::Object(subject)) = object
            .fields_mut()
            .field_mut("subjects")
            .and_then(|s| s.get_mut(i))
        {
            changed |= set_str_field(subject, "namespace", target);
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RestoreSpec;
    use crate::transform::testing::{
        KUBE_VOCABULARY, arb_body, arb_kube_object, assert_transformation_laws,
    };
    use proptest::prelude::*;
    use serde_json::json;

    fn ctx_with(mapping: &[(&str, &str)]) -> TransformContext {
        let mut spec = RestoreSpec::new("restore-1", "nightly");
        for (from, to) in mapping {
            spec.namespace_mapping
                .insert(from.to_string(), to.to_string());
        }
        TransformContext::new(spec)
    }

    fn ctx() -> TransformContext {
        ctx_with(&[("source", "target"), ("team-a", "team-b")])
    }

    fn run(ctx: &TransformContext, value: Value) -> Result<Value, TransformError> {
        namespace_mapping(ctx, KubeObject::new(value).unwrap()).map(|t| t.object.into_value())
    }

    #[test]
    fn table() {
        let cases: Vec<(&str, Value, Value)> = vec![
            (
                "namespaced object moves",
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "source"}, "data": {"namespace": "source"}}),
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "target"}, "data": {"namespace": "source"}}),
            ),
            (
                "unmapped namespace stays",
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "other"}}),
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "other"}}),
            ),
            (
                "Namespace renamed with its metadata.name label",
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "source", "labels": {"kubernetes.io/metadata.name": "source", "team": "a"}}}),
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "target", "labels": {"kubernetes.io/metadata.name": "target", "team": "a"}}}),
            ),
            (
                "PV claimRef follows",
                json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "d-2ze0"},
                    "spec": {"capacity": {"storage": "20Gi"}, "accessModes": ["ReadWriteOnce"], "persistentVolumeReclaimPolicy": "Retain",
                        "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "name": "data-web-0", "namespace": "source"},
                        "csi": {"driver": "diskplugin.csi.alibabacloud.com", "volumeHandle": "d-2ze0"}}}),
                json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "d-2ze0"},
                    "spec": {"capacity": {"storage": "20Gi"}, "accessModes": ["ReadWriteOnce"], "persistentVolumeReclaimPolicy": "Retain",
                        "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "name": "data-web-0", "namespace": "target"},
                        "csi": {"driver": "diskplugin.csi.alibabacloud.com", "volumeHandle": "d-2ze0"}}}),
            ),
            (
                "RoleBinding: moves, ServiceAccount subjects follow, User and Group subjects untouched",
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "read-pods", "namespace": "source"},
                    "subjects": [
                        {"kind": "ServiceAccount", "name": "web", "namespace": "source"},
                        {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"},
                        {"kind": "User", "name": "jane", "apiGroup": "rbac.authorization.k8s.io"},
                        {"kind": "Group", "name": "source", "namespace": "source", "apiGroup": "rbac.authorization.k8s.io"}
                    ],
                    "roleRef": {"kind": "Role", "name": "pod-reader", "apiGroup": "rbac.authorization.k8s.io"}}),
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "read-pods", "namespace": "target"},
                    "subjects": [
                        {"kind": "ServiceAccount", "name": "web", "namespace": "target"},
                        {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"},
                        {"kind": "User", "name": "jane", "apiGroup": "rbac.authorization.k8s.io"},
                        {"kind": "Group", "name": "source", "namespace": "source", "apiGroup": "rbac.authorization.k8s.io"}
                    ],
                    "roleRef": {"kind": "Role", "name": "pod-reader", "apiGroup": "rbac.authorization.k8s.io"}}),
            ),
            (
                "ClusterRoleBinding subjects follow",
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "web-view"},
                    "subjects": [{"kind": "ServiceAccount", "name": "web", "namespace": "team-a"}],
                    "roleRef": {"kind": "ClusterRole", "name": "view", "apiGroup": "rbac.authorization.k8s.io"}}),
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "web-view"},
                    "subjects": [{"kind": "ServiceAccount", "name": "web", "namespace": "team-b"}],
                    "roleRef": {"kind": "ClusterRole", "name": "view", "apiGroup": "rbac.authorization.k8s.io"}}),
            ),
            (
                "VolumeSnapshotContent volumeSnapshotRef follows",
                json!({"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotContent", "metadata": {"name": "snapcontent-1"},
                    "spec": {"deletionPolicy": "Retain", "driver": "diskplugin.csi.alibabacloud.com",
                        "source": {"snapshotHandle": "s-2ze1"},
                        "volumeSnapshotRef": {"kind": "VolumeSnapshot", "name": "snap-1", "namespace": "source"}}}),
                json!({"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotContent", "metadata": {"name": "snapcontent-1"},
                    "spec": {"deletionPolicy": "Retain", "driver": "diskplugin.csi.alibabacloud.com",
                        "source": {"snapshotHandle": "s-2ze1"},
                        "volumeSnapshotRef": {"kind": "VolumeSnapshot", "name": "snap-1", "namespace": "target"}}}),
            ),
        ];
        for (name, input, expected) in cases {
            assert_eq!(run(&ctx(), input).unwrap(), expected, "{name}");
        }
    }

    #[test]
    fn chained_and_empty_mappings_are_refused_for_the_objects_they_concern() {
        let ctx = ctx_with(&[("a", "b"), ("b", "c")]);
        let err = run(&ctx, json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "a"}}))
            .unwrap_err();
        assert_eq!(err.field, "metadata.namespace");
        assert!(err.reason.contains("`a` → `b` and `b` → `c`"), "{err}");
        assert_eq!(err.object.name, "s");
        // Objects of `b` go to `c`, which is not mapped further: fine.
        let out = run(&ctx, json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "b"}})).unwrap();
        assert_eq!(out["metadata"]["namespace"], "c");

        let swap = ctx_with(&[("a", "b"), ("b", "a")]);
        let err = run(&swap, json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "x"},
            "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "b"}]})).unwrap_err();
        assert_eq!(err.field, "subjects[0].namespace");

        let empty = ctx_with(&[("a", "")]);
        let err = run(
            &empty,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}),
        )
        .unwrap_err();
        assert_eq!(err.field, "metadata.name");
        assert!(err.reason.contains("empty"), "{err}");
    }

    #[test]
    fn no_mapping_changes_nothing() {
        let value = json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv"},
            "spec": {"claimRef": {"name": "c", "namespace": "source"}}});
        assert_eq!(run(&ctx_with(&[]), value.clone()).unwrap(), value);
    }

    const TYPES: &[(&str, &str)] = &[
        ("v1", "Namespace"),
        ("v1", "PersistentVolume"),
        ("v1", "Pod"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        ("snapshot.storage.k8s.io/v1", "VolumeSnapshotContent"),
        ("example.com/v1", "Widget"),
    ];

    proptest! {
        #[test]
        fn laws_hold_on_arbitrary_objects(object in arb_kube_object(TYPES, arb_body(&KUBE_VOCABULARY, 5))) {
            let mut owned = vec!["/metadata/namespace"];
            match object.kind() {
                "Namespace" => owned.extend(["/metadata/name", "/metadata/labels/kubernetes.io~1metadata.name"]),
                "PersistentVolume" => owned.push("/spec/claimRef/namespace"),
                "VolumeSnapshotContent" => owned.push("/spec/volumeSnapshotRef/namespace"),
                "RoleBinding" | "ClusterRoleBinding" => owned.push("/subjects/*/namespace"),
                _ => {}
            }
            assert_transformation_laws(namespace_mapping, &ctx(), object, &owned);
        }
    }
}
