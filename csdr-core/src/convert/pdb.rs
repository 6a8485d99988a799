//! PodDisruptionBudget: `policy/v1beta1` ⇄ `policy/v1`, preserving what the selector selects.
//!
//! Sources:
//! - Deprecation guide, "PodDisruptionBudget" (v1.25): "an empty `spec.selector` (`{}`)
//!   written to a `policy/v1` PodDisruptionBudget selects all pods in the namespace (in
//!   `policy/v1beta1` an empty `spec.selector` selected no pods). An unset `spec.selector`
//!   selects no pods in either version."
//! - `pkg/apis/policy/helper.go` and `pkg/apis/policy/v1beta1/conversion.go`,
//!   `pkg/apis/policy/v1/conversion.go` (1.21+): the API server spells "no pods" in v1 as
//!   `matchExpressions: [{key: pdb.kubernetes.io/deprecated-v1beta1-empty-selector-match,
//!   operator: Exists}]` and "all pods" in v1beta1 as the same key with `DoesNotExist`. Upgrade:
//!   v1beta1 `{}` → v1 match-none; v1beta1 match-all → v1 `{}`; otherwise that key is stripped.
//!   Downgrade: v1 match-none → v1beta1 `{}`; v1 `{}` → v1beta1 match-all; otherwise stripped.
//!   Unset selectors stay unset. Nothing is lost in either direction.
//!
//! ```
//! use csdr_core::convert::convert;
//! use csdr_core::object::{GroupVersion, KubeObject};
//! use serde_json::json;
//!
//! // In policy/v1beta1 an empty selector selects no pods…
//! let old = KubeObject::new(json!({"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget",
//!     "metadata": {"name": "none"}, "spec": {"maxUnavailable": 1, "selector": {}}}))?;
//! let new = convert(old, &GroupVersion::new("policy", "v1"))?;
//! // …and still does in policy/v1.
//! assert_eq!(
//!     new.pointer("/spec/selector"),
//!     Some(&json!({"matchExpressions": [{"key":
//!         "pdb.kubernetes.io/deprecated-v1beta1-empty-selector-match", "operator": "Exists"}]}))
//! );
//! # Ok::<(), csdr_core::Error>(())
//! ```

use serde_json::{Map, Value, json};

use super::fields::{is_empty_selector, object_mut, spec_mut};
use super::{ConvertError, Migration};
use crate::object::KubeObject;

/// `policy.PDBV1beta1Label`.
pub const PDB_V1BETA1_LABEL: &str = "pdb.kubernetes.io/deprecated-v1beta1-empty-selector-match";

pub(super) fn migrations() -> Vec<Migration> {
    vec![
        Migration::new(
            "poddisruptionbudget-policy-v1beta1-to-policy-v1",
            "policy/v1beta1",
            "policy/v1",
            "PodDisruptionBudget",
            upgrade,
        ),
        Migration::new(
            "poddisruptionbudget-policy-v1-to-policy-v1beta1",
            "policy/v1",
            "policy/v1beta1",
            "PodDisruptionBudget",
            downgrade,
        ),
    ]
}

/// A selector made of the single `PDB_V1BETA1_LABEL` expression with `operator`.
fn label_selector(operator: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "matchExpressions".into(),
        json!([{"key": PDB_V1BETA1_LABEL, "operator": operator}]),
    );
    m
}

/// Whether the selector is exactly the single `PDB_V1BETA1_LABEL` expression with `operator`.
fn is_label_selector(selector: &Map<String, Value>, operator: &str) -> bool {
    let mut rest = selector.clone();
    let Some(Value::Array(exprs)) = rest.remove("matchExpressions") else {
        return false;
    };
    let [Value::Object(expr)] = exprs.as_slice() else {
        return false;
    };
    let values_empty = match expr.get("values") {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    };
    is_empty_selector(&rest)
        && expr.get("key").and_then(Value::as_str) == Some(PDB_V1BETA1_LABEL)
        && expr.get("operator").and_then(Value::as_str) == Some(operator)
        && values_empty
        && expr
            .keys()
            .all(|k| matches!(k.as_str(), "key" | "operator" | "values"))
}

/// `StripPDBV1beta1Label`: drops the compatibility expressions.
fn strip_label(selector: &mut Map<String, Value>) {
    if let Some(Value::Array(exprs)) = selector.get_mut("matchExpressions") {
        exprs.retain(|e| e.get("key").and_then(Value::as_str) != Some(PDB_V1BETA1_LABEL));
    }
}

fn rewrite(
    mut obj: KubeObject,
    empty_to: &str,
    to_empty: &str,
) -> Result<KubeObject, ConvertError> {
    let Some(selector) = spec_mut(&mut obj).and_then(|s| object_mut(s, "selector")) else {
        return Ok(obj);
    };
    if is_empty_selector(selector) {
        *selector = label_selector(empty_to);
    } else if is_label_selector(selector, to_empty) {
        selector.clear();
    } else {
        strip_label(selector);
    }
    Ok(obj)
}

fn upgrade(obj: KubeObject) -> Result<KubeObject, ConvertError> {
    // v1beta1 `{}` selects nothing → v1 match-none; v1beta1 match-all → v1 `{}`.
    rewrite(obj, "Exists", "DoesNotExist")
}

fn downgrade(obj: KubeObject) -> Result<KubeObject, ConvertError> {
    // v1 `{}` selects everything → v1beta1 match-all; v1 match-none → v1beta1 `{}`.
    rewrite(obj, "DoesNotExist", "Exists")
}

#[cfg(test)]
mod tests {
    use super::super::convert;
    use super::PDB_V1BETA1_LABEL;
    use crate::object::{GroupVersion, KubeObject};
    use serde_json::{Value, json};

    /// The `zk-pdb` of the Kubernetes documentation.
    fn zk(api_version: &str, selector: Value) -> KubeObject {
        KubeObject::new(json!({
            "apiVersion": api_version,
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "zk-pdb", "namespace": "zk"},
            "spec": {"minAvailable": 2, "selector": selector}
        }))
        .unwrap()
    }

    fn v1() -> GroupVersion {
        GroupVersion::new("policy", "v1")
    }
    fn v1beta1() -> GroupVersion {
        GroupVersion::new("policy", "v1beta1")
    }

    #[test]
    fn ordinary_selector_is_a_rename() {
        let sel = json!({"matchLabels": {"app": "zookeeper"}});
        let up = convert(zk("policy/v1beta1", sel.clone()), &v1()).unwrap();
        assert_eq!(up, zk("policy/v1", sel.clone()));
        assert_eq!(convert(up, &v1beta1()).unwrap(), zk("policy/v1beta1", sel));
    }

    #[test]
    fn empty_v1beta1_selector_still_selects_nothing_in_v1() {
        let none = json!({"matchExpressions": [{"key": PDB_V1BETA1_LABEL, "operator": "Exists"}]});
        let up = convert(zk("policy/v1beta1", json!({})), &v1()).unwrap();
        assert_eq!(up, zk("policy/v1", none.clone()));
        // And back to the v1beta1 spelling of "nothing".
        assert_eq!(
            convert(up, &v1beta1()).unwrap(),
            zk("policy/v1beta1", json!({}))
        );
        let empty_parts = convert(zk("policy/v1beta1", json!({"matchLabels": {}})), &v1()).unwrap();
        assert_eq!(empty_parts, zk("policy/v1", none));
    }

    #[test]
    fn empty_v1_selector_still_selects_everything_in_v1beta1() {
        let all =
            json!({"matchExpressions": [{"key": PDB_V1BETA1_LABEL, "operator": "DoesNotExist"}]});
        let down = convert(zk("policy/v1", json!({})), &v1beta1()).unwrap();
        assert_eq!(down, zk("policy/v1beta1", all));
        assert_eq!(convert(down, &v1()).unwrap(), zk("policy/v1", json!({})));
    }

    #[test]
    fn compatibility_label_is_stripped_from_other_selectors() {
        let mixed = json!({"matchLabels": {"app": "zookeeper"},
            "matchExpressions": [{"key": PDB_V1BETA1_LABEL, "operator": "Exists"},
                {"key": "tier", "operator": "In", "values": ["db"]}]});
        let up = convert(zk("policy/v1beta1", mixed), &v1()).unwrap();
        assert_eq!(
            up,
            zk(
                "policy/v1",
                json!({"matchLabels": {"app": "zookeeper"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["db"]}]})
            )
        );
    }

    #[test]
    fn unset_selector_stays_unset() {
        let o = KubeObject::new(
            json!({"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "p"}, "spec": {"maxUnavailable": 1}}),
        )
        .unwrap();
        let up = convert(o, &v1()).unwrap();
        assert_eq!(up.pointer("/spec"), Some(&json!({"maxUnavailable": 1})));
    }
}
