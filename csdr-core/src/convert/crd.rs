//! CustomResourceDefinition: `apiextensions.k8s.io/v1beta1` ⇄ `apiextensions.k8s.io/v1`.
//!
//! Sources:
//! - Deprecation guide, "CustomResourceDefinition" (v1.22): `spec.scope` is no longer
//!   defaulted to `Namespaced`; `spec.version` is removed (use `spec.versions`);
//!   `spec.validation`, `spec.subresources`, `spec.additionalPrinterColumns` are removed (use
//!   `spec.versions[*].schema`, `.subresources`, `.additionalPrinterColumns`);
//!   `spec.conversion.webhookClientConfig` moves to `spec.conversion.webhook.clientConfig` and
//!   `spec.conversion.conversionReviewVersions` to `spec.conversion.webhook.conversionReviewVersions`;
//!   `spec.versions[*].schema.openAPIV3Schema` is required and must be structural;
//!   `spec.preserveUnknownFields: true` is disallowed and must be written as
//!   `x-kubernetes-preserve-unknown-fields: true` in the schema; printer column `JSONPath` is
//!   renamed `jsonPath`.
//! - `staging/src/k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1beta1/defaults.go`:
//!   `scope` Namespaced, `preserveUnknownFields` **true**, `conversion.strategy` None,
//!   webhook `conversionReviewVersions` `[v1beta1]`; a lone `version` becomes
//!   `versions: [{name, served: true, storage: true}]`.
//! - `…/apiextensions/v1beta1/conversion.go` and `…/apiextensions/v1/conversion.go`: the
//!   top-level schema, subresources and columns are copied into every version, and on the way
//!   back hoisted to the top level when every version has the same one; `version` is
//!   `versions[0].name`.
//!
//! When a v1beta1 CRD has no schema at all (allowed there, not in v1), the upgrade gives each
//! version `{type: object, x-kubernetes-preserve-unknown-fields: true}` — it accepts exactly
//! what the old CRD accepted. A schema whose root has no `type` gets `type: object` (a
//! structural schema requires it). Downgrades write `preserveUnknownFields: false` explicitly,
//! since v1beta1 would otherwise default it to true; nothing else is lost.
//!
//! ```
//! use csdr_core::convert::convert;
//! use csdr_core::object::{GroupVersion, KubeObject};
//! use serde_json::json;
//!
//! let old = KubeObject::new(json!({"apiVersion": "apiextensions.k8s.io/v1beta1",
//!     "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.example.com"},
//!     "spec": {"group": "example.com", "version": "v1",
//!         "names": {"plural": "widgets", "kind": "Widget"}}}))?;
//! let new = convert(old, &GroupVersion::new("apiextensions.k8s.io", "v1"))?;
//! assert_eq!(
//!     new.pointer("/spec/versions"),
//!     Some(&json!([{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema":
//!         {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]))
//! );
//! # Ok::<(), csdr_core::Error>(())
//! ```

use serde_json::{Map, Value, json};

use super::fields::{
    default_field, is_absent, object_entry, object_mut, objects_in, rename_field, spec_mut,
};
use super::{ConvertError, Migration};
use crate::object::KubeObject;

const KIND: &str = "CustomResourceDefinition";
const PRESERVE: &str = "x-kubernetes-preserve-unknown-fields";

pub(super) fn migrations() -> Vec<Migration> {
    vec![
        Migration::new(
            "crd-apiextensions-v1beta1-to-v1",
            "apiextensions.k8s.io/v1beta1",
            "apiextensions.k8s.io/v1",
            KIND,
            upgrade,
        ),
        Migration::new(
            "crd-apiextensions-v1-to-v1beta1",
            "apiextensions.k8s.io/v1",
            "apiextensions.k8s.io/v1beta1",
            KIND,
            downgrade,
        ),
    ]
}

/// Renames `from` to `to` in every printer column of a list.
fn rename_columns(holder: &mut Map<String, Value>, from: &str, to: &str) {
    for column in objects_in(holder, "additionalPrinterColumns") {
        rename_field(column, from, to);
    }
}

fn upgrade(mut obj: KubeObject) -> Result<KubeObject, ConvertError> {
    let Some(spec) = spec_mut(&mut obj) else {
        return Ok(obj);
    };
    default_field(spec, "scope", json!("Namespaced"));
    // `version` folds into `versions`.
    let version = spec.remove("version");
    let has_versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .is_some_and(|v| !v.is_empty());
    if !has_versions && let Some(Value::String(name)) = version {
        spec.insert(
            "versions".into(),
            json!([{"name": name, "served": true, "storage": true}]),
        );
    }
    // Top-level validation, subresources and columns move into every version.
    let schema = spec.remove("validation").filter(|v| !v.is_null());
    let subresources = spec.remove("subresources").filter(|v| !v.is_null());
    let columns = spec
        .remove("additionalPrinterColumns")
        .filter(|v| !v.is_null());
    let preserve = !matches!(spec.get("preserveUnknownFields"), Some(Value::Bool(false)));
    for v in objects_in(spec, "versions") {
        if let Some(s) = &schema {
            default_field(v, "schema", s.clone());
        }
        if let Some(s) = &subresources {
            default_field(v, "subresources", s.clone());
        }
        if let Some(c) = &columns {
            default_field(v, "additionalPrinterColumns", c.clone());
        }
        rename_columns(v, "JSONPath", "jsonPath");
        let Some(schema) = object_entry(v, "schema") else {
            continue;
        };
        if is_absent(schema.get("openAPIV3Schema")) {
            schema.insert(
                "openAPIV3Schema".into(),
                json!({"type": "object", PRESERVE: true}),
            );
        }
        if let Some(root) = object_mut(schema, "openAPIV3Schema") {
            default_field(root, "type", json!("object"));
            if preserve {
                default_field(root, PRESERVE, json!(true));
            }
        }
    }
    spec.insert("preserveUnknownFields".into(), json!(false));
    // Conversion webhook settings move under `webhook`.
    if let Some(conversion) = object_mut(spec, "conversion") {
        let client = conversion
            .remove("webhookClientConfig")
            .filter(|v| !v.is_null());
        let mut review = conversion
            .remove("conversionReviewVersions")
            .filter(|v| !v.is_null());
        if conversion.get("strategy") == Some(&json!("Webhook")) && review.is_none() {
            review = Some(json!(["v1beta1"]));
        }
        if (client.is_some() || review.is_some())
            && let Some(webhook) = object_entry(conversion, "webhook")
        {
            if let Some(c) = client {
                default_field(webhook, "clientConfig", c);
            }
            if let Some(r) = review {
                default_field(webhook, "conversionReviewVersions", r);
            }
        }
    }
    Ok(obj)
}

/// The value every version holds at `key`, if they all hold the same one.
fn common(versions: &[Value], key: &str) -> Option<Value> {
    let first = versions.first()?.get(key)?;
    if first.is_null() {
        return None;
    }
    versions
        .iter()
        .all(|v| v.get(key) == Some(first))
        .then(|| first.clone())
}

fn downgrade(mut obj: KubeObject) -> Result<KubeObject, ConvertError> {
    let Some(spec) = spec_mut(&mut obj) else {
        return Ok(obj);
    };
    let versions: Vec<Value> = spec
        .get("versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(name) = versions.first().and_then(|v| v.get("name")).cloned() {
        spec.insert("version".into(), name);
    }
    for (key, top) in [
        ("schema", "validation"),
        ("subresources", "subresources"),
        ("additionalPrinterColumns", "additionalPrinterColumns"),
    ] {
        if let Some(value) = common(&versions, key) {
            spec.insert(top.into(), value);
            for v in objects_in(spec, "versions") {
                v.remove(key);
            }
        }
    }
    rename_columns(spec, "jsonPath", "JSONPath");
    for v in objects_in(spec, "versions") {
        rename_columns(v, "jsonPath", "JSONPath");
    }
    default_field(spec, "preserveUnknownFields", json!(false));
    if let Some(conversion) = object_mut(spec, "conversion")
        && let Some(Value::Object(mut webhook)) = conversion.remove("webhook")
    {
        if let Some(c) = webhook.remove("clientConfig") {
            conversion.insert("webhookClientConfig".into(), c);
        }
        if let Some(r) = webhook.remove("conversionReviewVersions") {
            conversion.insert("conversionReviewVersions".into(), r);
        }
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::super::convert;
    use crate::object::{GroupVersion, KubeObject};
    use serde_json::{Value, json};

    fn v1() -> GroupVersion {
        GroupVersion::new("apiextensions.k8s.io", "v1")
    }

    fn schema() -> Value {
        json!({"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object",
            "properties": {"cronSpec": {"type": "string"}, "image": {"type": "string"},
                "replicas": {"type": "integer"}}}}}})
    }

    /// The CronTab CRD of the Kubernetes documentation, as v1beta1 wrote it.
    fn crontab_v1beta1() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1beta1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "crontabs.stable.example.com"},
            "spec": {
                "group": "stable.example.com",
                "version": "v1",
                "scope": "Namespaced",
                "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]},
                "validation": schema(),
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                    "statusReplicasPath": ".status.replicas"}},
                "additionalPrinterColumns": [{"name": "Spec", "type": "string", "JSONPath": ".spec.cronSpec"}]
            }
        })
    }

    fn crontab_v1(preserve: bool) -> Value {
        let mut s = schema();
        if preserve {
            s["openAPIV3Schema"]["x-kubernetes-preserve-unknown-fields"] = json!(true);
        }
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "crontabs.stable.example.com"},
            "spec": {
                "group": "stable.example.com",
                "scope": "Namespaced",
                "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]},
                "versions": [{"name": "v1", "served": true, "storage": true, "schema": s,
                    "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                        "statusReplicasPath": ".status.replicas"}},
                    "additionalPrinterColumns": [{"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"}]}],
                "preserveUnknownFields": false
            }
        })
    }

    #[test]
    fn v1beta1_to_v1_moves_everything_into_versions() {
        // preserveUnknownFields unset means true in v1beta1: kept as the schema extension.
        let up = convert(KubeObject::new(crontab_v1beta1()).unwrap(), &v1()).unwrap();
        assert_eq!(up.to_value(), crontab_v1(true));
        let mut pruned = crontab_v1beta1();
        pruned["spec"]["preserveUnknownFields"] = json!(false);
        let up = convert(KubeObject::new(pruned).unwrap(), &v1()).unwrap();
        assert_eq!(up.to_value(), crontab_v1(false));
    }

    #[test]
    fn v1_to_v1beta1_hoists_identical_per_version_fields() {
        let down = convert(
            KubeObject::new(crontab_v1(false)).unwrap(),
            &GroupVersion::new("apiextensions.k8s.io", "v1beta1"),
        )
        .unwrap();
        let mut expected = crontab_v1beta1();
        expected["spec"]["preserveUnknownFields"] = json!(false);
        expected["spec"]["versions"] = json!([{"name": "v1", "served": true, "storage": true}]);
        assert_eq!(down.to_value(), expected);
        assert_eq!(convert(down, &v1()).unwrap().to_value(), crontab_v1(false));
    }

    #[test]
    fn schemaless_crd_gets_a_preserving_schema_and_scope() {
        let o = KubeObject::new(json!({"apiVersion": "apiextensions.k8s.io/v1beta1",
            "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "names": {"plural": "widgets", "kind": "Widget"},
                "versions": [{"name": "v1alpha1", "served": true, "storage": false},
                    {"name": "v1", "served": true, "storage": true}]}}))
        .unwrap();
        let up = convert(o, &v1()).unwrap();
        let preserving = json!({"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}});
        assert_eq!(up.pointer("/spec/scope"), Some(&json!("Namespaced")));
        assert_eq!(up.pointer("/spec/versions/0/schema"), Some(&preserving));
        assert_eq!(up.pointer("/spec/versions/1/schema"), Some(&preserving));
        assert_eq!(
            up.pointer("/spec/preserveUnknownFields"),
            Some(&json!(false))
        );
    }

    #[test]
    fn conversion_webhook_settings_move() {
        let mut v = crontab_v1beta1();
        v["spec"]["conversion"] = json!({"strategy": "Webhook",
            "webhookClientConfig": {"service": {"namespace": "default", "name": "example-conversion-webhook-server", "path": "/crdconvert"},
                "caBundle": "Ci0tLS0tQk"}});
        let up = convert(KubeObject::new(v).unwrap(), &v1()).unwrap();
        assert_eq!(
            up.pointer("/spec/conversion"),
            Some(
                &json!({"strategy": "Webhook", "webhook": {"clientConfig": {"service": {"namespace": "default",
                "name": "example-conversion-webhook-server", "path": "/crdconvert"}, "caBundle": "Ci0tLS0tQk"},
                "conversionReviewVersions": ["v1beta1"]}})
            )
        );
        let down = convert(up, &GroupVersion::new("apiextensions.k8s.io", "v1beta1")).unwrap();
        assert_eq!(
            down.pointer("/spec/conversion/webhookClientConfig/service/path"),
            Some(&json!("/crdconvert"))
        );
        assert_eq!(
            down.pointer("/spec/conversion/conversionReviewVersions"),
            Some(&json!(["v1beta1"]))
        );
        assert_eq!(down.pointer("/spec/conversion/webhook"), None);
    }
}
