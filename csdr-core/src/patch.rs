//! JSON patches: RFC 7386 merge patches (apply and compute) and RFC 6902 JSON patches (apply).
//!
//! The restore uses merge patches to bring an existing object to its backed-up state (R11);
//! the simulated cluster and the HTTP API simulator apply the patches clients send.
//!
//! ```
//! use csdr_core::patch::{apply_merge_patch, merge_patch_between};
//! use serde_json::json;
//!
//! let live = json!({"spec": {"replicas": 1, "paused": true}});
//! let wanted = json!({"spec": {"replicas": 3}});
//! let patch = merge_patch_between(&live, &wanted);
//! assert_eq!(patch, json!({"spec": {"replicas": 3, "paused": null}}));
//! let mut doc = live.clone();
//! apply_merge_patch(&mut doc, &patch);
//! assert_eq!(doc, wanted);
//! ```

use serde_json::{Map, Value};

/// Applies an RFC 7386 merge patch in place: objects merge recursively, `null` removes a
/// field, anything else replaces.
pub fn apply_merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target_map) = target {
        for (key, value) in patch_map {
            if value.is_null() {
                target_map.remove(key);
            } else {
                let entry = target_map.entry(key.clone()).or_insert(Value::Null);
                apply_merge_patch(entry, value);
            }
        }
    }
}

/// The merge patch that turns `from` into `to` (for values without explicit `null`s in `to`,
/// which merge patches cannot express).
pub fn merge_patch_between(from: &Value, to: &Value) -> Value {
    match (from, to) {
        (Value::Object(f), Value::Object(t)) => {
            let mut patch = Map::new();
            for (key, fv) in f {
                match t.get(key) {
                    None => {
                        patch.insert(key.clone(), Value::Null);
                    }
                    Some(tv) if tv != fv => {
                        patch.insert(key.clone(), merge_patch_between(fv, tv));
                    }
                    Some(_) => {}
                }
            }
            for (key, tv) in t {
                if !f.contains_key(key) {
                    patch.insert(key.clone(), tv.clone());
                }
            }
            Value::Object(patch)
        }
        _ => to.clone(),
    }
}

/// Why a JSON patch could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("JSON patch operation {index} ({op} {path}): {reason}")]
pub struct JsonPatchError {
    /// The 0-based index of the failing operation.
    pub index: usize,
    /// The operation name.
    pub op: String,
    /// Its path.
    pub path: String,
    /// What went wrong.
    pub reason: String,
}

/// Applies an RFC 6902 JSON patch (an array of operations). All or nothing: on error the
/// document is left unchanged.
pub fn apply_json_patch(doc: &mut Value, patch: &Value) -> Result<(), JsonPatchError> {
    let err = |index: usize, op: &str, path: &str, reason: &str| JsonPatchError {
        index,
        op: op.to_string(),
        path: path.to_string(),
        reason: reason.to_string(),
    };
    let Value::Array(ops) = patch else {
        return Err(err(
            0,
            "",
            "",
            "a JSON patch must be an array of operations",
        ));
    };
    let mut work = doc.clone();
    for (i, op) in ops.iter().enumerate() {
        let name = op.get("op").and_then(Value::as_str).unwrap_or("");
        let path = op.get("path").and_then(Value::as_str);
        let Some(path) = path else {
            return Err(err(i, name, "", "missing string field \"path\""));
        };
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| err(i, name, path, "missing field \"value\""))
        };
        let from = || {
            op.get("from")
                .and_then(Value::as_str)
                .ok_or_else(|| err(i, name, path, "missing string field \"from\""))
        };
        let result = match name {
            "add" => add(&mut work, path, value()?),
            "remove" => remove(&mut work, path).map(|_| ()),
            "replace" => {
                let v = value()?;
                remove(&mut work, path).and_then(|_| add(&mut work, path, v))
            }
            "move" => {
                let f = from()?;
                remove(&mut work, f).and_then(|v| add(&mut work, path, v))
            }
            "copy" => {
                let f = from()?;
                match work.pointer(f).cloned() {
                    Some(v) => add(&mut work, path, v),
                    None => Err(format!("nothing at {f}")),
                }
            }
            "test" => {
                let expected = value()?;
                match work.pointer(path) {
                    Some(actual) if *actual == expected => Ok(()),
                    // As the API server's JSON patch library does: `null` tests a missing path
                    // as equal (kube's finalizer helper tests `/metadata/finalizers` so).
                    None if expected.is_null() => Ok(()),
                    _ => Err("test failed: value differs".to_string()),
                }
            }
            other => Err(format!("unknown operation {other:?}")),
        };
        result.map_err(|reason| err(i, name, path, &reason))?;
    }
    *doc = work;
    Ok(())
}

fn split_pointer(path: &str) -> Result<(String, String), String> {
    if path.is_empty() {
        return Err("the root cannot be the target".into());
    }
    if !path.starts_with('/') {
        return Err("a JSON pointer must start with '/'".into());
    }
    let (parent, last) = path.rsplit_once('/').unwrap_or(("", path));
    Ok((
        parent.to_string(),
        last.replace("~1", "/").replace("~0", "~"),
    ))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let (parent, key) = split_pointer(path)?;
    match doc.pointer_mut(&parent) {
        Some(Value::Object(map)) => {
            map.insert(key, value);
            Ok(())
        }
        Some(Value::Array(items)) => {
            if key == "-" {
                items.push(value);
                return Ok(());
            }
            let idx: usize = key
                .parse()
                .map_err(|_| format!("bad array index {key:?}"))?;
            if idx > items.len() {
                return Err(format!("array index {idx} out of bounds"));
            }
            items.insert(idx, value);
            Ok(())
        }
        Some(_) => Err(format!("{parent} is not a container")),
        None => Err(format!("no such path {parent}")),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, key) = split_pointer(path)?;
    match doc.pointer_mut(&parent) {
        Some(Value::Object(map)) => map
            .remove(&key)
            .ok_or_else(|| format!("no such path {path}")),
        Some(Value::Array(items)) => {
            let idx: usize = key
                .parse()
                .map_err(|_| format!("bad array index {key:?}"))?;
            if idx >= items.len() {
                return Err(format!("array index {idx} out of bounds"));
            }
            Ok(items.remove(idx))
        }
        _ => Err(format!("no such path {path}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn rfc7386_examples() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
        ];
        for (mut doc, patch, want) in cases {
            apply_merge_patch(&mut doc, &patch);
            assert_eq!(doc, want);
        }
    }

    #[test]
    fn json_patch_operations() {
        let mut doc = json!({"metadata": {"labels": {"a": "1"}}, "items": [1, 2]});
        apply_json_patch(
            &mut doc,
            &json!([
                {"op": "add", "path": "/metadata/labels/b~1c", "value": "2"},
                {"op": "replace", "path": "/metadata/labels/a", "value": "9"},
                {"op": "add", "path": "/items/-", "value": 3},
                {"op": "remove", "path": "/items/0"},
                {"op": "test", "path": "/items/0", "value": 2},
                {"op": "copy", "from": "/items/1", "path": "/copied"},
                {"op": "move", "from": "/copied", "path": "/moved"}
            ]),
        )
        .unwrap();
        assert_eq!(
            doc,
            json!({"metadata": {"labels": {"a": "9", "b/c": "2"}}, "items": [2, 3], "moved": 3})
        );
    }

    #[test]
    fn json_patch_test_of_null_passes_on_a_missing_path_only() {
        let mut doc = json!({"metadata": {"name": "w"}});
        apply_json_patch(
            &mut doc,
            &json!([
                {"op": "test", "path": "/metadata/finalizers", "value": null},
                {"op": "add", "path": "/metadata/finalizers", "value": ["f"]}
            ]),
        )
        .unwrap();
        assert_eq!(doc["metadata"]["finalizers"], json!(["f"]));
        // Present, so `null` no longer matches.
        let err = apply_json_patch(
            &mut doc,
            &json!([{"op": "test", "path": "/metadata/finalizers", "value": null}]),
        );
        assert!(err.is_err());
    }

    #[test]
    fn json_patch_is_all_or_nothing() {
        let mut doc = json!({"a": 1});
        let err = apply_json_patch(
            &mut doc,
            &json!([{"op": "add", "path": "/b", "value": 2}, {"op": "remove", "path": "/zzz"}]),
        )
        .unwrap_err();
        assert_eq!(err.index, 1);
        assert!(err.to_string().contains("no such path /zzz"), "{err}");
        assert_eq!(doc, json!({"a": 1}));
        assert!(apply_json_patch(&mut doc, &json!({"op": "add"})).is_err());
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i32>().prop_map(Value::from),
            "[a-z]{0,3}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                prop::collection::btree_map("[a-d]", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn strip_nulls(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k.clone(), strip_nulls(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    proptest! {
        #[test]
        fn diff_then_apply_reaches_the_target(from in json_value(), to in json_value()) {
            let to = strip_nulls(&to);
            let patch = merge_patch_between(&from, &to);
            let mut doc = from.clone();
            apply_merge_patch(&mut doc, &patch);
            prop_assert_eq!(doc, to);
        }

        #[test]
        fn json_patch_never_panics(doc in json_value(), patch in json_value()) {
            let mut d = doc;
            let _ = apply_json_patch(&mut d, &patch);
        }
    }
}
