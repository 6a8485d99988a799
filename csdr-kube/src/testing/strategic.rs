//! An approximation of Kubernetes' strategic merge patch, for what `kubectl apply` sends.
//!
//! The real algorithm reads each list's merge key from the Go types (`containers` by `name`,
//! container `ports` by `containerPort`, …); the simulator has no types, so it infers one: a
//! list of objects merges element by element on the first key of [`MERGE_KEYS`] that every
//! element of both lists carries; any other list is replaced. Maps merge as in a JSON merge
//! patch (`null` deletes). Directives are honoured where the result does not depend on the
//! types: `$patch: delete` on a list element removes the element with its merge key, `$patch:
//! replace` in a map replaces the map; `$setElementOrder/…`, `$retainKeys` and
//! `$deleteFromPrimitiveList/…` are dropped (new elements are appended in patch order).
//!
//! ```
//! use csdr_kube::testing::strategic::apply_strategic_merge_patch;
//! use serde_json::json;
//!
//! let mut deployment = json!({"spec": {"template": {"spec": {"containers": [
//!     {"name": "web", "image": "nginx:1.0"}, {"name": "sidecar", "image": "envoy"}]}}}});
//! apply_strategic_merge_patch(&mut deployment, &json!({"spec": {"template": {"spec": {
//!     "$setElementOrder/containers": [{"name": "web"}, {"name": "sidecar"}],
//!     "containers": [{"name": "web", "image": "nginx:2.0"}]}}}}));
//! assert_eq!(deployment["spec"]["template"]["spec"]["containers"], json!([
//!     {"name": "web", "image": "nginx:2.0"}, {"name": "sidecar", "image": "envoy"}]));
//! ```

use serde_json::{Map, Value};

/// The keys tried, in order, as the merge key of a list of objects.
pub const MERGE_KEYS: [&str; 8] = [
    "name",
    "containerPort",
    "port",
    "mountPath",
    "devicePath",
    "ip",
    "type",
    "topologyKey",
];

fn is_directive(key: &str) -> bool {
    key.starts_with('$')
}

/// A patch value with every directive removed, for places where it is stored as is.
fn without_directives(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !is_directive(k))
                .map(|(k, v)| (k.clone(), without_directives(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|v| v.get("$patch").and_then(Value::as_str) != Some("delete"))
                .map(without_directives)
                .collect(),
        ),
        other => other.clone(),
    }
}

fn merge_key(target: &[Value], patch: &[Value]) -> Option<&'static str> {
    if patch.is_empty() || !patch.iter().all(Value::is_object) {
        return None;
    }
    MERGE_KEYS
        .into_iter()
        .find(|key| patch.iter().chain(target).all(|e| e.get(*key).is_some()))
}

fn merge_list(target: &mut Vec<Value>, patch: &[Value], key: &str) {
    for element in patch {
        let id = element.get(key);
        let position = target.iter().position(|t| t.get(key) == id);
        if element.get("$patch").and_then(Value::as_str) == Some("delete") {
            if let Some(i) = position {
                target.remove(i);
            }
            continue;
        }
        match position {
            Some(i) => apply_strategic_merge_patch(&mut target[i], element),
            None => target.push(without_directives(element)),
        }
    }
}

/// Applies a strategic merge patch (approximated as described in the module docs) to `target`.
pub fn apply_strategic_merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = without_directives(patch);
        return;
    };
    if patch_map.get("$patch").and_then(Value::as_str) == Some("replace") {
        *target = without_directives(patch);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target_map) = target else {
        return;
    };
    for (key, value) in patch_map {
        if is_directive(key) {
            continue;
        }
        match value {
            Value::Null => {
                target_map.remove(key);
            }
            Value::Object(_) => {
                let slot = target_map.entry(key.clone()).or_insert(Value::Null);
                apply_strategic_merge_patch(slot, value);
            }
            Value::Array(items) => {
                let existing = match target_map.get_mut(key) {
                    Some(Value::Array(existing)) => Some(existing),
                    _ => None,
                };
                match existing {
                    Some(existing) => match merge_key(existing, items) {
                        Some(k) => merge_list(existing, items, k),
                        None => *existing = items.iter().map(without_directives).collect(),
                    },
                    None => {
                        target_map.insert(key.clone(), without_directives(value));
                    }
                }
            }
            scalar => {
                target_map.insert(key.clone(), scalar.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_merge_by_their_inferred_key_and_honour_delete() {
        let mut svc = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080},
            {"port": 443, "targetPort": 8443}], "selector": {"app": "web", "tier": "x"}}});
        apply_strategic_merge_patch(
            &mut svc,
            &json!({"spec": {"ports": [{"port": 443, "$patch": "delete"},
                {"port": 8081, "targetPort": 81}], "selector": {"tier": null}}}),
        );
        assert_eq!(
            svc,
            json!({"spec": {"ports": [{"port": 80, "targetPort": 8080},
            {"port": 8081, "targetPort": 81}], "selector": {"app": "web"}}})
        );
    }

    #[test]
    fn lists_without_a_common_key_are_replaced_and_maps_can_be_replaced() {
        let mut obj = json!({"args": ["a", "b"], "tolerations": [{"key": "k", "operator": "Exists"}],
            "labels": {"a": "1", "b": "2"}});
        apply_strategic_merge_patch(
            &mut obj,
            &json!({"args": ["c"], "tolerations": [{"key": "z", "operator": "Exists"}],
            "labels": {"$patch": "replace", "c": "3"},
            "$retainKeys": ["args"], "$deleteFromPrimitiveList/args": ["a"]}),
        );
        assert_eq!(
            obj,
            json!({"args": ["c"], "tolerations": [{"key": "z", "operator": "Exists"}],
            "labels": {"c": "3"}})
        );
    }
}
