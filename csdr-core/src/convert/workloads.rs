//! Deployment, DaemonSet, ReplicaSet and StatefulSet: `extensions/v1beta1`, `apps/v1beta1` and
//! `apps/v1beta2` ⇄ `apps/v1`.
//!
//! The schemas barely differ; what changed is what an *unset* field means, so every upgrade
//! writes the old version's defaults out explicitly (a restored workload behaves exactly as it
//! did), and every downgrade writes the `apps/v1` defaults out explicitly. Sources:
//!
//! - Deprecation guide, "Deployment, DaemonSet, ReplicaSet, StatefulSet" (v1.16):
//!   `spec.selector` is required and immutable after creation in `apps/v1`;
//!   `spec.rollbackTo` is removed; `spec.templateGeneration` is removed.
//! - `pkg/apis/extensions/v1beta1/defaults.go` (1.12–1.15): selector defaults to
//!   `matchLabels` = the pod template's labels (Deployment, DaemonSet, ReplicaSet);
//!   Deployment `strategy.type` RollingUpdate with `maxUnavailable` 1 and `maxSurge` 1,
//!   `revisionHistoryLimit` and `progressDeadlineSeconds` `math.MaxInt32` (2147483647, "keep
//!   all"/"no deadline"); DaemonSet `updateStrategy.type` **OnDelete**, `revisionHistoryLimit`
//!   10.
//! - `pkg/apis/apps/v1beta1/defaults.go`: selector from template labels (Deployment,
//!   StatefulSet); Deployment 25%/25%, `revisionHistoryLimit` **2**, `progressDeadlineSeconds`
//!   600; StatefulSet `podManagementPolicy` OrderedReady, `updateStrategy.type` **OnDelete**,
//!   `revisionHistoryLimit` 10.
//! - `pkg/apis/apps/v1beta2/defaults.go` and `pkg/apis/apps/v1/defaults.go`: identical
//!   defaults (selector required; Deployment 25%/25%, 10, 600; DaemonSet RollingUpdate with
//!   `maxUnavailable` 1, 10; StatefulSet RollingUpdate with `partition` 0, OrderedReady, 10), so
//!   `apps/v1beta2` ⇄ `apps/v1` changes no meaning; the upgrade still writes the defaults out,
//!   so every upgrade to `apps/v1` yields the same explicit object whatever version it came
//!   from (and upgrade → downgrade → upgrade equals one upgrade).
//! - `pkg/apis/apps/v1/conversion.go`: `extensions/v1beta1` DaemonSet
//!   `spec.templateGeneration` round-trips through the `deprecated.daemonset.template.generation`
//!   annotation (both directions, as here); Deployment `spec.rollbackTo` through
//!   `deprecated.deployment.rollback.to`.
//!
//! `spec.rollbackTo` is **dropped** on upgrade: it is a one-shot request to roll back to a
//! revision of the *source* cluster, meaningless on restore; the downgrade does not invent
//! one. A missing selector with no template labels cannot be derived and is an error
//! (`apps/v1` would reject the object).
//!
//! ```
//! use csdr_core::convert::convert;
//! use csdr_core::object::{GroupVersion, KubeObject};
//! use serde_json::json;
//!
//! let old = KubeObject::new(json!({"apiVersion": "extensions/v1beta1", "kind": "DaemonSet",
//!     "metadata": {"name": "agent"},
//!     "spec": {"template": {"metadata": {"labels": {"app": "agent"}}}}}))?;
//! let new = convert(old, &GroupVersion::new("apps", "v1"))?;
//! assert_eq!(new.pointer("/spec/selector"), Some(&json!({"matchLabels": {"app": "agent"}})));
//! // extensions/v1beta1 defaulted to OnDelete; apps/v1 would default to RollingUpdate.
//! assert_eq!(new.pointer("/spec/updateStrategy/type"), Some(&json!("OnDelete")));
//! # Ok::<(), csdr_core::Error>(())
//! ```

use serde_json::{Map, Value, json};

use super::fields::{
    default_field, field_error, is_absent, object_entry, object_mut, set_annotation, spec_mut,
    take_annotation,
};
use super::{ConvertError, Migration, fields::keep};
use crate::object::KubeObject;

/// `math.MaxInt32`, the `extensions/v1beta1` "unlimited" default.
const MAX_INT32: i64 = 2_147_483_647;
const TEMPLATE_GENERATION: &str = "deprecated.daemonset.template.generation";

pub(super) fn migrations() -> Vec<Migration> {
    let mut m = vec![
        // Deployment
        Migration::new(
            "deployment-extensions-v1beta1-to-apps-v1",
            "extensions/v1beta1",
            "apps/v1",
            "Deployment",
            deployment_from_extensions,
        ),
        Migration::new(
            "deployment-apps-v1-to-extensions-v1beta1",
            "apps/v1",
            "extensions/v1beta1",
            "Deployment",
            write_apps_v1_deployment_defaults,
        ),
        Migration::new(
            "deployment-apps-v1beta1-to-apps-v1",
            "apps/v1beta1",
            "apps/v1",
            "Deployment",
            deployment_from_apps_v1beta1,
        ),
        Migration::new(
            "deployment-apps-v1-to-apps-v1beta1",
            "apps/v1",
            "apps/v1beta1",
            "Deployment",
            write_apps_v1_deployment_defaults,
        ),
        // DaemonSet
        Migration::new(
            "daemonset-extensions-v1beta1-to-apps-v1",
            "extensions/v1beta1",
            "apps/v1",
            "DaemonSet",
            daemonset_from_extensions,
        ),
        Migration::new(
            "daemonset-apps-v1-to-extensions-v1beta1",
            "apps/v1",
            "extensions/v1beta1",
            "DaemonSet",
            daemonset_to_extensions,
        ),
        // ReplicaSet
        Migration::new(
            "replicaset-extensions-v1beta1-to-apps-v1",
            "extensions/v1beta1",
            "apps/v1",
            "ReplicaSet",
            replicaset_from_extensions,
        ),
        Migration::new(
            "replicaset-apps-v1-to-extensions-v1beta1",
            "apps/v1",
            "extensions/v1beta1",
            "ReplicaSet",
            keep,
        ),
        // StatefulSet
        Migration::new(
            "statefulset-apps-v1beta1-to-apps-v1",
            "apps/v1beta1",
            "apps/v1",
            "StatefulSet",
            statefulset_from_apps_v1beta1,
        ),
        Migration::new(
            "statefulset-apps-v1-to-apps-v1beta1",
            "apps/v1",
            "apps/v1beta1",
            "StatefulSet",
            write_apps_v1_statefulset_defaults,
        ),
    ];
    // apps/v1beta2 has the apps/v1 schema and defaults.
    m.extend([
        Migration::new(
            "deployment-apps-v1beta2-to-apps-v1",
            "apps/v1beta2",
            "apps/v1",
            "Deployment",
            write_apps_v1_deployment_defaults,
        ),
        Migration::new(
            "deployment-apps-v1-to-apps-v1beta2",
            "apps/v1",
            "apps/v1beta2",
            "Deployment",
            keep,
        ),
        Migration::new(
            "daemonset-apps-v1beta2-to-apps-v1",
            "apps/v1beta2",
            "apps/v1",
            "DaemonSet",
            write_apps_v1_daemonset_defaults,
        ),
        Migration::new(
            "daemonset-apps-v1-to-apps-v1beta2",
            "apps/v1",
            "apps/v1beta2",
            "DaemonSet",
            keep,
        ),
        Migration::new(
            "replicaset-apps-v1beta2-to-apps-v1",
            "apps/v1beta2",
            "apps/v1",
            "ReplicaSet",
            keep,
        ),
        Migration::new(
            "replicaset-apps-v1-to-apps-v1beta2",
            "apps/v1",
            "apps/v1beta2",
            "ReplicaSet",
            keep,
        ),
        Migration::new(
            "statefulset-apps-v1beta2-to-apps-v1",
            "apps/v1beta2",
            "apps/v1",
            "StatefulSet",
            write_apps_v1_statefulset_defaults,
        ),
        Migration::new(
            "statefulset-apps-v1-to-apps-v1beta2",
            "apps/v1",
            "apps/v1beta2",
            "StatefulSet",
            keep,
        ),
    ]);
    m
}

/// The old defaulting of `spec.selector`: `matchLabels` = the pod template's labels.
fn derive_selector(obj: &mut KubeObject, migration: &str) -> Result<(), ConvertError> {
    let Some(spec) = spec_mut(obj) else {
        return Err(field_error(
            obj,
            migration,
            "spec",
            "missing; apps/v1 requires spec.selector and spec.template",
        ));
    };
    if !is_absent(spec.get("selector")) {
        return Ok(());
    }
    let labels = spec
        .get("template")
        .and_then(|t| t.get("metadata"))
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .filter(|l| !l.is_empty())
        .cloned();
    match labels {
        Some(labels) => {
            spec.insert("selector".into(), json!({"matchLabels": labels}));
            Ok(())
        }
        None => Err(field_error(
            obj,
            migration,
            "spec.selector",
            "missing and spec.template.metadata.labels is empty, so it cannot be derived; \
             apps/v1 requires a selector: add spec.selector to the backed-up object or deploy \
             it manually",
        )),
    }
}

/// Writes out a Deployment's strategy defaults: `RollingUpdate` with the given surge values.
fn default_deployment_strategy(
    spec: &mut Map<String, Value>,
    max_unavailable: Value,
    max_surge: Value,
    also_when_rolling_update_set: bool,
) {
    let Some(strategy) = object_entry(spec, "strategy") else {
        return;
    };
    default_field(strategy, "type", json!("RollingUpdate"));
    let rolling = strategy.get("type") == Some(&json!("RollingUpdate"))
        || (also_when_rolling_update_set && !is_absent(strategy.get("rollingUpdate")));
    if rolling && let Some(ru) = object_entry(strategy, "rollingUpdate") {
        default_field(ru, "maxUnavailable", max_unavailable);
        default_field(ru, "maxSurge", max_surge);
    }
}

fn deployment_from_extensions(mut obj: KubeObject) -> Result<KubeObject, ConvertError> {
    derive_selector(&mut obj, "deployment-extensions-v1beta1-to-apps-v1")?;
    if let Some(spec) = spec_mut(&mut obj) {
        default_deployment_strategy(spec, json!(1), json!(1), true);
        default_field(spec, "revisionHistoryLimit", json!(MAX_INT32));
        default_field(spec, "progressDeadlineSeconds", json!(MAX_INT32));
        spec.remove("rollbackTo");
    }
    Ok(obj)
}

fn deployment_from_apps_v1beta1(mut obj: KubeObject) -> Result<KubeObject, ConvertError> {
    derive_selector(&mut obj, "deployment-apps-v1beta1-to-apps-v1")?;
    if let Some(spec) = spec_mut(&mut obj) {
        default_deployment_strategy(spec, json!("25%"), json!("25%"), false);
        default_field(spec, "revisionHistoryLimit", json!(2));
        default_field(spec, "progressDeadlineSeconds", json!(600));
        spec.remove("rollbackTo");
    }
    Ok(obj)
}

/// apps/v1 → extensions/v1beta1 or apps/v1beta1, and apps/v1beta2 → apps/v1: write out the
/// apps/v1 defaults.
fn write_apps_v1_deployment_defaults(mut obj: KubeObject) -> Result<KubeObject, ConvertError> {
    if let Some(spec) = spec_mut(&mut obj) {
        default_deployment_strategy(spec, json!("25%"), json!("25%"), false);
        default_field(spec, "revisionHistoryLimit", json!(10));
        default_field(spec, "progressDeadlineSeconds", json!(600));
    }
    Ok(obj)
}

fn daemonset_from_extensions(mut obj: KubeObject) -> Result<KubeObject, ConvertError> {
    derive_selector(&mut obj, "daemonset-extensions-v1beta1-to-apps-v1")?;
    let mut generation = None;
    if let Some(spec) = spec_mut(&mut obj) {
        default_daemonset_rolling_update(spec, "OnDelete");
        generation = spec.remove("templateGeneration");
    }
    match generation {
        Some(Value::Number(n)) => set_annotation(&mut obj, TEMPLATE_GENERATION, n.to_string()),
        Some(Value::Null) | None => {}
        Some(other) => {
            return Err(field_error(
                &obj,
                "daemonset-extensions-v1beta1-to-apps-v1",
                "spec.templateGeneration",
                format!("expected an integer, found {other}"),
            ));
        }
    }
    Ok(obj)
}

/// `maxUnavailable` 1 for a RollingUpdate DaemonSet (the default in every version).
fn default_daemonset_rolling_update(spec: &mut Map<String, Value>, default_type: &str) {
    if let Some(strategy) = object_entry(spec, "updateStrategy") {
        default_field(strategy, "type", json!(default_type));
        if strategy.get("type") == Some(&json!("RollingUpdate"))
            && let Some(ru) = object_entry(strategy, "rollingUpdate")
        {
            default_field(ru, "maxUnavailable", json!(1));
        }
    }
}

/// apps/v1beta2 → apps/v1: write out the (identical) apps/v1 defaults.
fn write_apps_v1_daemonset_defaults(mut obj: KubeObject) -> Result<KubeObject, ConvertError> {
    if let Some(spec) = spec_mut(&mut obj) {
        default_daemonset_rolling_update(spec, "RollingUpdate");
    }
    Ok(obj)
}

fn daemonset_to_extensions(mut obj: KubeObject) -> Result<KubeObject, ConvertError> {
    if let Some(spec) = spec_mut(&mut obj) {
        default_daemonset_rolling_update(spec, "RollingUpdate");
    }
    let generation = obj
        .annotation(TEMPLATE_GENERATION)
        .and_then(|s| s.parse::<i64>().ok());
    if let Some(generation) = generation {
        take_annotation(&mut obj, TEMPLATE_GENERATION);
        if let Some(spec) = spec_mut(&mut obj) {
            spec.insert("templateGeneration".into(), json!(generation));
        }
    }
    Ok(obj)
}

fn replicaset_from_extensions(mut obj: KubeObject) -> Result<KubeObject, ConvertError> {
    derive_selector(&mut obj, "replicaset-extensions-v1beta1-to-apps-v1")?;
    Ok(obj)
}

/// A StatefulSet's update strategy defaults: `default_type` when unset (with an empty
/// `rollingUpdate` for RollingUpdate, as apps/v1 does), and `partition` 0 for a given
/// `rollingUpdate` (every version).
fn default_statefulset_strategy(obj: &mut KubeObject, default_type: &str) {
    if let Some(spec) = spec_mut(obj)
        && let Some(strategy) = object_entry(spec, "updateStrategy")
    {
        if is_absent(strategy.get("type")) {
            strategy.insert("type".into(), json!(default_type));
            if default_type == "RollingUpdate" {
                default_field(strategy, "rollingUpdate", json!({}));
            }
        }
        if strategy.get("type") == Some(&json!("RollingUpdate"))
            && let Some(ru) = object_mut(strategy, "rollingUpdate")
        {
            default_field(ru, "partition", json!(0));
        }
    }
}

fn statefulset_from_apps_v1beta1(mut obj: KubeObject) -> Result<KubeObject, ConvertError> {
    derive_selector(&mut obj, "statefulset-apps-v1beta1-to-apps-v1")?;
    default_statefulset_strategy(&mut obj, "OnDelete");
    Ok(obj)
}

/// apps/v1 → apps/v1beta1, and apps/v1beta2 → apps/v1: write out the apps/v1 defaults.
fn write_apps_v1_statefulset_defaults(mut obj: KubeObject) -> Result<KubeObject, ConvertError> {
    default_statefulset_strategy(&mut obj, "RollingUpdate");
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::super::convert;
    use crate::object::{GroupVersion, KubeObject};
    use serde_json::{Value, json};

    fn obj(v: Value) -> KubeObject {
        KubeObject::new(v).unwrap()
    }

    fn apps_v1() -> GroupVersion {
        GroupVersion::new("apps", "v1")
    }

    /// The nginx Deployment of the Kubernetes documentation, as an extensions/v1beta1
    /// manifest of the 1.8 era would be written (no selector, no strategy).
    fn nginx(api_version: &str) -> Value {
        json!({
            "apiVersion": api_version,
            "kind": "Deployment",
            "metadata": {"name": "nginx-deployment", "namespace": "shop", "labels": {"app": "nginx"}},
            "spec": {
                "replicas": 3,
                "template": {
                    "metadata": {"labels": {"app": "nginx"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.14.2",
                        "ports": [{"containerPort": 80}]}]}
                }
            }
        })
    }

    #[test]
    fn deployment_extensions_to_apps_v1_materialises_old_defaults() {
        let mut before = nginx("extensions/v1beta1");
        before["spec"]["rollbackTo"] = json!({"revision": 2});
        let after = convert(obj(before), &apps_v1()).unwrap();
        let mut expected = nginx("apps/v1");
        expected["spec"]["selector"] = json!({"matchLabels": {"app": "nginx"}});
        expected["spec"]["strategy"] =
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}});
        expected["spec"]["revisionHistoryLimit"] = json!(2147483647);
        expected["spec"]["progressDeadlineSeconds"] = json!(2147483647);
        assert_eq!(after.to_value(), expected);
    }

    #[test]
    fn deployment_explicit_values_are_kept() {
        let mut before = nginx("extensions/v1beta1");
        before["spec"]["selector"] =
            json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["nginx"]}]});
        before["spec"]["strategy"] = json!({"type": "Recreate"});
        before["spec"]["revisionHistoryLimit"] = json!(5);
        before["spec"]["progressDeadlineSeconds"] = json!(120);
        let after = convert(obj(before.clone()), &apps_v1()).unwrap();
        let mut expected = before;
        expected["apiVersion"] = json!("apps/v1");
        assert_eq!(after.to_value(), expected);
    }

    #[test]
    fn deployment_apps_v1beta1_to_apps_v1() {
        let after = convert(obj(nginx("apps/v1beta1")), &apps_v1()).unwrap();
        let mut expected = nginx("apps/v1");
        expected["spec"]["selector"] = json!({"matchLabels": {"app": "nginx"}});
        expected["spec"]["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}});
        expected["spec"]["revisionHistoryLimit"] = json!(2);
        expected["spec"]["progressDeadlineSeconds"] = json!(600);
        assert_eq!(after.to_value(), expected);
    }

    #[test]
    fn deployment_apps_v1beta2_writes_the_same_defaults_out() {
        let mut before = nginx("apps/v1beta2");
        before["spec"]["selector"] = json!({"matchLabels": {"app": "nginx"}});
        let after = convert(obj(before.clone()), &apps_v1()).unwrap();
        let mut expected = before.clone();
        expected["apiVersion"] = json!("apps/v1");
        expected["spec"]["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}});
        expected["spec"]["revisionHistoryLimit"] = json!(10);
        expected["spec"]["progressDeadlineSeconds"] = json!(600);
        assert_eq!(after.to_value(), expected);
        // The downgrade to apps/v1beta2 is a rename.
        let back = convert(after, &GroupVersion::new("apps", "v1beta2")).unwrap();
        expected["apiVersion"] = json!("apps/v1beta2");
        assert_eq!(back.to_value(), expected);
    }

    #[test]
    fn deployment_apps_v1_to_extensions_and_v1beta1_materialises_v1_defaults() {
        let mut v1 = nginx("apps/v1");
        v1["spec"]["selector"] = json!({"matchLabels": {"app": "nginx"}});
        let mut expected = v1.clone();
        expected["spec"]["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}});
        expected["spec"]["revisionHistoryLimit"] = json!(10);
        expected["spec"]["progressDeadlineSeconds"] = json!(600);
        for gv in [
            GroupVersion::new("extensions", "v1beta1"),
            GroupVersion::new("apps", "v1beta1"),
        ] {
            let down = convert(obj(v1.clone()), &gv).unwrap();
            expected["apiVersion"] = json!(gv.api_version());
            assert_eq!(down.to_value(), expected);
        }
        // extensions → apps/v1beta2 chains through apps/v1.
        let ext = obj(nginx("extensions/v1beta1"));
        let beta2 = convert(ext, &GroupVersion::new("apps", "v1beta2")).unwrap();
        assert_eq!(beta2.api_version(), "apps/v1beta2");
        assert_eq!(
            beta2.pointer("/spec/revisionHistoryLimit"),
            Some(&json!(2147483647))
        );
    }

    #[test]
    fn deployment_without_selector_or_labels_is_an_error() {
        let before = obj(
            json!({"apiVersion": "extensions/v1beta1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"template": {"spec": {"containers": []}}}}),
        );
        let err = convert(before, &apps_v1()).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "Deployment shop/web: migration deployment-extensions-v1beta1-to-apps-v1 cannot \
                 convert field spec.selector: missing and spec.template.metadata.labels is empty"
            ),
            "{err}"
        );
    }

    /// The fluentd-elasticsearch DaemonSet of the Kubernetes documentation.
    fn fluentd(api_version: &str) -> Value {
        json!({
            "apiVersion": api_version,
            "kind": "DaemonSet",
            "metadata": {"name": "fluentd-elasticsearch", "namespace": "kube-system",
                "labels": {"k8s-app": "fluentd-logging"}},
            "spec": {
                "template": {
                    "metadata": {"labels": {"name": "fluentd-elasticsearch"}},
                    "spec": {"tolerations": [{"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"}],
                        "containers": [{"name": "fluentd-elasticsearch",
                            "image": "quay.io/fluentd_elasticsearch/fluentd:v2.5.2"}]}
                }
            }
        })
    }

    #[test]
    fn daemonset_extensions_to_apps_v1_keeps_on_delete() {
        let mut before = fluentd("extensions/v1beta1");
        before["spec"]["templateGeneration"] = json!(3);
        let after = convert(obj(before), &apps_v1()).unwrap();
        let mut expected = fluentd("apps/v1");
        expected["metadata"]["annotations"] =
            json!({"deprecated.daemonset.template.generation": "3"});
        expected["spec"]["selector"] = json!({"matchLabels": {"name": "fluentd-elasticsearch"}});
        expected["spec"]["updateStrategy"] = json!({"type": "OnDelete"});
        assert_eq!(after.to_value(), expected);

        // And back: the annotation returns to spec.templateGeneration.
        let back = convert(after, &GroupVersion::new("extensions", "v1beta1")).unwrap();
        let mut expected = fluentd("extensions/v1beta1");
        expected["spec"]["selector"] = json!({"matchLabels": {"name": "fluentd-elasticsearch"}});
        expected["spec"]["updateStrategy"] = json!({"type": "OnDelete"});
        expected["spec"]["templateGeneration"] = json!(3);
        assert_eq!(back.to_value(), expected);
    }

    #[test]
    fn daemonset_apps_v1_to_extensions_writes_rolling_update() {
        let mut v1 = fluentd("apps/v1");
        v1["spec"]["selector"] = json!({"matchLabels": {"name": "fluentd-elasticsearch"}});
        let down = convert(obj(v1.clone()), &GroupVersion::new("extensions", "v1beta1")).unwrap();
        let mut expected = v1.clone();
        expected["apiVersion"] = json!("extensions/v1beta1");
        expected["spec"]["updateStrategy"] =
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}});
        assert_eq!(down.to_value(), expected);
        // The downgrade to apps/v1beta2 is a rename; the upgrade from it writes the defaults.
        let beta2 = convert(obj(v1.clone()), &GroupVersion::new("apps", "v1beta2")).unwrap();
        v1["apiVersion"] = json!("apps/v1beta2");
        assert_eq!(beta2.to_value(), v1);
        let up = convert(beta2, &apps_v1()).unwrap();
        expected["apiVersion"] = json!("apps/v1");
        assert_eq!(up.to_value(), expected);
    }

    /// The frontend ReplicaSet of the Kubernetes documentation.
    fn frontend(api_version: &str) -> Value {
        json!({
            "apiVersion": api_version,
            "kind": "ReplicaSet",
            "metadata": {"name": "frontend", "namespace": "shop", "labels": {"app": "guestbook", "tier": "frontend"}},
            "spec": {"replicas": 3, "template": {"metadata": {"labels": {"tier": "frontend"}},
                "spec": {"containers": [{"name": "php-redis", "image": "gcr.io/google_samples/gb-frontend:v3"}]}}}
        })
    }

    #[test]
    fn replicaset_both_ways() {
        let after = convert(obj(frontend("extensions/v1beta1")), &apps_v1()).unwrap();
        let mut expected = frontend("apps/v1");
        expected["spec"]["selector"] = json!({"matchLabels": {"tier": "frontend"}});
        assert_eq!(after.to_value(), expected);
        let back = convert(after, &GroupVersion::new("extensions", "v1beta1")).unwrap();
        expected["apiVersion"] = json!("extensions/v1beta1");
        assert_eq!(back.to_value(), expected);
        let beta2 = convert(back, &GroupVersion::new("apps", "v1beta2")).unwrap();
        expected["apiVersion"] = json!("apps/v1beta2");
        assert_eq!(beta2.to_value(), expected);
    }

    /// The `web` StatefulSet of the Kubernetes documentation.
    fn web(api_version: &str) -> Value {
        json!({
            "apiVersion": api_version,
            "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {
                "serviceName": "nginx",
                "replicas": 3,
                "template": {"metadata": {"labels": {"app": "nginx"}},
                    "spec": {"containers": [{"name": "nginx", "image": "registry.k8s.io/nginx-slim:0.8",
                        "volumeMounts": [{"name": "www", "mountPath": "/usr/share/nginx/html"}]}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "www"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "my-storage-class",
                        "resources": {"requests": {"storage": "1Gi"}}}}]
            }
        })
    }

    #[test]
    fn statefulset_apps_v1beta1_to_v1_keeps_on_delete() {
        let after = convert(obj(web("apps/v1beta1")), &apps_v1()).unwrap();
        let mut expected = web("apps/v1");
        expected["spec"]["selector"] = json!({"matchLabels": {"app": "nginx"}});
        expected["spec"]["updateStrategy"] = json!({"type": "OnDelete"});
        assert_eq!(after.to_value(), expected);
    }

    #[test]
    fn statefulset_v1_to_apps_v1beta1_writes_rolling_update() {
        let mut v1 = web("apps/v1");
        v1["spec"]["selector"] = json!({"matchLabels": {"app": "nginx"}});
        let down = convert(obj(v1.clone()), &GroupVersion::new("apps", "v1beta1")).unwrap();
        let mut expected = v1.clone();
        expected["apiVersion"] = json!("apps/v1beta1");
        expected["spec"]["updateStrategy"] =
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}});
        assert_eq!(down.to_value(), expected);
        let beta2 = convert(obj(v1.clone()), &GroupVersion::new("apps", "v1beta2")).unwrap();
        v1["apiVersion"] = json!("apps/v1beta2");
        assert_eq!(beta2.to_value(), v1);
    }
}
