//! ValidatingWebhookConfiguration and MutatingWebhookConfiguration:
//! `admissionregistration.k8s.io/v1beta1` ⇄ `admissionregistration.k8s.io/v1`.
//!
//! Sources:
//! - Deprecation guide, "MutatingWebhookConfiguration and ValidatingWebhookConfiguration"
//!   (v1.22): in v1 the `webhooks[*].failurePolicy` default changes from Ignore to Fail,
//!   `matchPolicy` from Exact to Equivalent, `timeoutSeconds` from 30s to 10s;
//!   `sideEffects` has no default, is required, and only `None` and `NoneOnDryRun` are
//!   permitted; `admissionReviewVersions` has no default and is required; webhook names must
//!   be unique in the list.
//! - `pkg/apis/admissionregistration/v1beta1/defaults.go`: `failurePolicy` Ignore,
//!   `matchPolicy` Exact, `timeoutSeconds` 30, `sideEffects` Unknown, `admissionReviewVersions`
//!   `[v1beta1]`, empty `namespaceSelector`/`objectSelector`; `pkg/apis/admissionregistration/v1/defaults.go`:
//!   Fail, Equivalent, 10.
//!
//! The upgrade writes the v1beta1 defaults out, so a restored webhook fails open and waits
//! 30 seconds as before. A webhook whose side effects are `Unknown` or `Some` (or unset, which
//! meant Unknown) cannot be expressed in v1 and is reported as an error naming the webhook;
//! so are duplicate webhook names. The downgrade writes the v1 defaults out and loses nothing.
//!
//! ```
//! use csdr_core::convert::convert;
//! use csdr_core::object::{GroupVersion, KubeObject};
//! use serde_json::json;
//!
//! let old = KubeObject::new(json!({"apiVersion": "admissionregistration.k8s.io/v1beta1",
//!     "kind": "ValidatingWebhookConfiguration", "metadata": {"name": "policy"},
//!     "webhooks": [{"name": "policy.example.com", "sideEffects": "None"}]}))?;
//! let new = convert(old, &GroupVersion::new("admissionregistration.k8s.io", "v1"))?;
//! assert_eq!(new.pointer("/webhooks/0/failurePolicy"), Some(&json!("Ignore")));
//! assert_eq!(new.pointer("/webhooks/0/timeoutSeconds"), Some(&json!(30)));
//! # Ok::<(), csdr_core::Error>(())
//! ```

use serde_json::{Value, json};

use super::fields::{default_field, field_error, objects_in};
use super::{ConvertError, Migration};
use crate::object::KubeObject;

const GROUP_V1BETA1: &str = "admissionregistration.k8s.io/v1beta1";
const GROUP_V1: &str = "admissionregistration.k8s.io/v1";

pub(super) fn migrations() -> Vec<Migration> {
    vec![
        Migration::new(
            "validatingwebhookconfiguration-v1beta1-to-v1",
            GROUP_V1BETA1,
            GROUP_V1,
            "ValidatingWebhookConfiguration",
            validating_upgrade,
        ),
        Migration::new(
            "validatingwebhookconfiguration-v1-to-v1beta1",
            GROUP_V1,
            GROUP_V1BETA1,
            "ValidatingWebhookConfiguration",
            downgrade,
        ),
        Migration::new(
            "mutatingwebhookconfiguration-v1beta1-to-v1",
            GROUP_V1BETA1,
            GROUP_V1,
            "MutatingWebhookConfiguration",
            mutating_upgrade,
        ),
        Migration::new(
            "mutatingwebhookconfiguration-v1-to-v1beta1",
            GROUP_V1,
            GROUP_V1BETA1,
            "MutatingWebhookConfiguration",
            downgrade,
        ),
    ]
}

fn validating_upgrade(obj: KubeObject) -> Result<KubeObject, ConvertError> {
    upgrade(obj, "validatingwebhookconfiguration-v1beta1-to-v1")
}

fn mutating_upgrade(obj: KubeObject) -> Result<KubeObject, ConvertError> {
    upgrade(obj, "mutatingwebhookconfiguration-v1beta1-to-v1")
}

fn upgrade(mut obj: KubeObject, migration: &str) -> Result<KubeObject, ConvertError> {
    let mut problem = None;
    let mut names: Vec<String> = Vec::new();
    for (i, hook) in objects_in(obj.fields_mut(), "webhooks").enumerate() {
        let name = hook
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if problem.is_none() && !name.is_empty() && names.contains(&name) {
            problem = Some((
                format!("webhooks[{i}].name"),
                format!("{name:?} is used twice; v1 requires unique webhook names: rename one"),
            ));
        }
        names.push(name.clone());
        let side_effects = hook
            .get("sideEffects")
            .and_then(Value::as_str)
            .unwrap_or("Unknown");
        if problem.is_none() && !matches!(side_effects, "None" | "NoneOnDryRun") {
            problem = Some((
                format!("webhooks[{i}].sideEffects"),
                format!(
                    "webhook {name:?} declares side effects {side_effects} (unset means Unknown); \
                     v1 accepts only None or NoneOnDryRun: make the webhook free of side effects \
                     on dry run, set sideEffects, and deploy it manually"
                ),
            ));
        }
        default_field(hook, "failurePolicy", json!("Ignore"));
        default_field(hook, "matchPolicy", json!("Exact"));
        default_field(hook, "timeoutSeconds", json!(30));
        default_field(hook, "admissionReviewVersions", json!(["v1beta1"]));
    }
    match problem {
        Some((field, reason)) => Err(field_error(&obj, migration, &field, reason)),
        None => Ok(obj),
    }
}

fn downgrade(mut obj: KubeObject) -> Result<KubeObject, ConvertError> {
    for hook in objects_in(obj.fields_mut(), "webhooks") {
        default_field(hook, "failurePolicy", json!("Fail"));
        default_field(hook, "matchPolicy", json!("Equivalent"));
        default_field(hook, "timeoutSeconds", json!(10));
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::super::convert;
    use crate::object::{GroupVersion, KubeObject};
    use serde_json::{Value, json};

    fn config(api_version: &str, kind: &str, hook: Value) -> KubeObject {
        KubeObject::new(json!({"apiVersion": api_version, "kind": kind,
            "metadata": {"name": "pod-policy.example.com"}, "webhooks": [hook]}))
        .unwrap()
    }

    /// The webhook of the "Dynamic Admission Control" documentation.
    fn hook() -> Value {
        json!({"name": "pod-policy.example.com",
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                "resources": ["pods"], "scope": "Namespaced"}],
            "clientConfig": {"service": {"namespace": "example-namespace", "name": "example-service"},
                "caBundle": "Ci0tLS0tQk"},
            "sideEffects": "None"})
    }

    #[test]
    fn upgrade_writes_v1beta1_defaults() {
        for kind in [
            "ValidatingWebhookConfiguration",
            "MutatingWebhookConfiguration",
        ] {
            let up = convert(
                config("admissionregistration.k8s.io/v1beta1", kind, hook()),
                &GroupVersion::new("admissionregistration.k8s.io", "v1"),
            )
            .unwrap();
            let mut expected = hook();
            expected["failurePolicy"] = json!("Ignore");
            expected["matchPolicy"] = json!("Exact");
            expected["timeoutSeconds"] = json!(30);
            expected["admissionReviewVersions"] = json!(["v1beta1"]);
            assert_eq!(
                up,
                config("admissionregistration.k8s.io/v1", kind, expected)
            );
        }
    }

    #[test]
    fn downgrade_writes_v1_defaults() {
        let mut v1 = hook();
        v1["admissionReviewVersions"] = json!(["v1"]);
        let down = convert(
            config(
                "admissionregistration.k8s.io/v1",
                "ValidatingWebhookConfiguration",
                v1.clone(),
            ),
            &GroupVersion::new("admissionregistration.k8s.io", "v1beta1"),
        )
        .unwrap();
        v1["failurePolicy"] = json!("Fail");
        v1["matchPolicy"] = json!("Equivalent");
        v1["timeoutSeconds"] = json!(10);
        assert_eq!(
            down,
            config(
                "admissionregistration.k8s.io/v1beta1",
                "ValidatingWebhookConfiguration",
                v1
            )
        );
    }

    #[test]
    fn unknown_side_effects_are_refused() {
        let mut h = hook();
        h.as_object_mut().unwrap().remove("sideEffects");
        let err = convert(
            config(
                "admissionregistration.k8s.io/v1beta1",
                "MutatingWebhookConfiguration",
                h,
            ),
            &GroupVersion::new("admissionregistration.k8s.io", "v1"),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with(
            "MutatingWebhookConfiguration pod-policy.example.com: migration \
             mutatingwebhookconfiguration-v1beta1-to-v1 cannot convert field webhooks[0].sideEffects: \
             webhook \"pod-policy.example.com\" declares side effects Unknown"), "{err}");
    }
}
