//! Field sets of server-side apply: which fields of an object a field manager owns, as the
//! API server records them in `metadata.managedFields` (`fieldsType: FieldsV1`).
//!
//! A path steps through map fields (`f:<name>`) and through list elements identified by their
//! merge key (`k:{"name":"web"}`). The API server reads each list's type from the schema; the
//! simulator has none and uses the merge keys of the common built-in lists
//! ([`list_key`]: containers, env, volumes and ports by name or port, conditions by type, …).
//! Every other list — and every list of scalars, which the API server treats as a set or as
//! atomic by schema — is atomic here: owned and replaced as a whole.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Step {
    /// A field of a map.
    Field(String),
    /// A list element, by its merge key fields (`(field, JSON value)`, sorted by field).
    Key(Vec<(String, String)>),
}

/// A path from the object's root.
pub(crate) type Path = Vec<Step>;

/// The set of fields a manager owns.
pub(crate) type FieldSet = BTreeSet<Path>;

/// The merge key of a list field, when its elements are all objects carrying it.
pub(crate) fn list_key(field: &str, items: &[&Value]) -> Option<&'static str> {
    let key = match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "readinessGates" => "name",
        "volumeMounts" | "volumeDevices" => "mountPath",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "hostAliases" => "ip",
        "ports" => {
            if items.iter().all(|i| i.get("containerPort").is_some()) {
                "containerPort"
            } else {
                "port"
            }
        }
        _ => return None,
    };
    items
        .iter()
        .all(|i| i.is_object() && i.get(key).is_some())
        .then_some(key)
}

fn key_step(key: &str, item: &Value) -> Step {
    Step::Key(vec![(
        key.to_string(),
        item.get(key).map(Value::to_string).unwrap_or_default(),
    )])
}

/// The leaf fields (and keyed list elements) set in `value`, under `prefix`.
pub(crate) fn collect(value: &Value, prefix: &mut Path, out: &mut FieldSet) {
    let Value::Object(map) = value else {
        out.insert(prefix.clone());
        return;
    };
    if map.is_empty() {
        out.insert(prefix.clone());
        return;
    }
    for (k, v) in map {
        prefix.push(Step::Field(k.clone()));
        match v {
            Value::Object(m) if !m.is_empty() => collect(v, prefix, out),
            Value::Array(items) => {
                let refs: Vec<&Value> = items.iter().collect();
                match list_key(k, &refs).filter(|_| !items.is_empty()) {
                    Some(key) => {
                        for item in items {
                            prefix.push(key_step(key, item));
                            out.insert(prefix.clone());
                            collect(item, prefix, out);
                            prefix.pop();
                        }
                    }
                    None => {
                        out.insert(prefix.clone());
                    }
                }
            }
            _ => {
                out.insert(prefix.clone());
            }
        }
        prefix.pop();
    }
}

/// The fields an object written to `part` sets, without the ones the server owns
/// (`apiVersion`, `kind`, name, namespace, uid, resourceVersion, …).
pub(crate) fn object_fields(obj: &Value, status_only: bool, skip_status: bool) -> FieldSet {
    match obj.as_object() {
        Some(map) => map_fields(map, status_only, skip_status),
        None => FieldSet::new(),
    }
}

/// [`object_fields`] of an object's top-level map (a [`crate::object::KubeObject`]'s fields,
/// read without copying them into a `Value`).
pub(crate) fn map_fields(
    map: &serde_json::Map<String, Value>,
    status_only: bool,
    skip_status: bool,
) -> FieldSet {
    let mut out = FieldSet::new();
    for (k, v) in map {
        let wanted = match k.as_str() {
            "apiVersion" | "kind" => false,
            "status" => !skip_status || status_only,
            _ => !status_only,
        };
        if !wanted {
            continue;
        }
        if k == "metadata" {
            let Some(meta) = v.as_object() else { continue };
            for (mk, mv) in meta {
                if matches!(
                    mk.as_str(),
                    "name"
                        | "namespace"
                        | "uid"
                        | "resourceVersion"
                        | "generation"
                        | "creationTimestamp"
                        | "deletionTimestamp"
                        | "deletionGracePeriodSeconds"
                        | "managedFields"
                        | "selfLink"
                        | "generateName"
                ) {
                    continue;
                }
                let mut wrapper = Map::new();
                wrapper.insert(mk.clone(), mv.clone());
                let mut prefix = vec![Step::Field("metadata".into())];
                collect(&Value::Object(wrapper), &mut prefix, &mut out);
            }
            continue;
        }
        let mut wrapper = Map::new();
        wrapper.insert(k.clone(), v.clone());
        collect(&Value::Object(wrapper), &mut Vec::new(), &mut out);
    }
    out
}

/// The value at `path` in `value`, if set.
pub(crate) fn value_at<'a>(value: &'a Value, path: &[Step]) -> Option<&'a Value> {
    let mut at = value;
    for step in path {
        at = match step {
            Step::Field(f) => at.get(f)?,
            Step::Key(k) => at.as_array()?.iter().find(|item| matches_key(item, k))?,
        };
    }
    Some(at)
}

fn matches_key(item: &Value, key: &[(String, String)]) -> bool {
    key.iter()
        .all(|(f, v)| item.get(f).map(Value::to_string).as_deref() == Some(v.as_str()))
}

/// Removes the field or list element at `path` from `value`.
pub(crate) fn remove_at(value: &mut Value, path: &[Step]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let mut at = value;
    for step in parent_path {
        let next = match step {
            Step::Field(f) => at.get_mut(f),
            Step::Key(k) => at
                .as_array_mut()
                .and_then(|items| items.iter_mut().find(|item| matches_key(item, k))),
        };
        match next {
            Some(n) => at = n,
            None => return,
        }
    }
    match last {
        Step::Field(f) => {
            if let Some(map) = at.as_object_mut() {
                map.remove(f);
            }
        }
        Step::Key(k) => {
            if let Some(items) = at.as_array_mut() {
                items.retain(|item| !matches_key(item, k));
            }
        }
    }
}

/// Merges an applied configuration into the live object: maps field by field, keyed lists
/// element by element (new elements appended), everything else replaced.
pub(crate) fn merge(target: &mut Value, applied: &Value, field: &str) {
    match (target, applied) {
        (Value::Object(t), Value::Object(a)) => {
            for (k, v) in a {
                match t.get_mut(k) {
                    Some(existing) => merge(existing, v, k),
                    None => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(t), Value::Array(a)) => {
            let all: Vec<&Value> = t.iter().chain(a.iter()).collect();
            match list_key(field, &all) {
                Some(key) => {
                    for item in a {
                        match t.iter_mut().find(|e| e.get(key) == item.get(key)) {
                            Some(existing) => merge(existing, item, ""),
                            None => t.push(item.clone()),
                        }
                    }
                }
                None => *t = a.clone(),
            }
        }
        (t, a) => *t = a.clone(),
    }
}

fn step_name(step: &Step) -> String {
    match step {
        Step::Field(f) => format!("f:{f}"),
        Step::Key(k) => {
            let inner: Vec<String> = k
                .iter()
                .map(|(f, v)| format!("{}:{v}", Value::String(f.clone())))
                .collect();
            format!("k:{{{}}}", inner.join(","))
        }
    }
}

fn parse_step(name: &str) -> Option<Step> {
    if let Some(f) = name.strip_prefix("f:") {
        return Some(Step::Field(f.to_string()));
    }
    let k = name.strip_prefix("k:")?;
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(k) else {
        return None;
    };
    let mut key: Vec<(String, String)> = map
        .iter()
        .map(|(f, v)| (f.clone(), v.to_string()))
        .collect();
    key.sort();
    Some(Step::Key(key))
}

/// The `fieldsV1` tree of a set.
pub(crate) fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = json!({});
    for path in set {
        let mut at = &mut root;
        for step in path {
            at = match at {
                Value::Object(map) => map.entry(step_name(step)).or_insert_with(|| json!({})),
                other => other,
            };
        }
        let is_prefix = set
            .range(path.clone()..)
            .nth(1)
            .is_some_and(|next| next.starts_with(path));
        if is_prefix && let Some(map) = at.as_object_mut() {
            map.insert(".".into(), json!({}));
        }
    }
    root
}

/// The set a `fieldsV1` tree describes (unknown entries skipped).
pub(crate) fn from_fields_v1(tree: &Value) -> FieldSet {
    fn walk(tree: &Value, prefix: &mut Path, out: &mut FieldSet) {
        let Some(map) = tree.as_object() else { return };
        for (name, sub) in map {
            if name == "." {
                out.insert(prefix.clone());
                continue;
            }
            let Some(step) = parse_step(name) else {
                continue;
            };
            prefix.push(step);
            if sub.as_object().is_none_or(Map::is_empty) {
                out.insert(prefix.clone());
            } else {
                walk(sub, prefix, out);
            }
            prefix.pop();
        }
    }
    let mut out = FieldSet::new();
    walk(tree, &mut Vec::new(), &mut out);
    out
}

/// A path as the API server prints it in a conflict: `.spec.replicas`,
/// `.spec.template.spec.containers[name="web"].image`.
pub(crate) fn display(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Field(f) => {
                out.push('.');
                out.push_str(f);
            }
            Step::Key(k) => {
                let inner: Vec<String> = k.iter().map(|(f, v)| format!("{f}={v}")).collect();
                out.push('[');
                out.push_str(&inner.join(","));
                out.push(']');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_v1_round_trips_and_keys_lists() {
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}]}}}});
        let set = object_fields(&obj, false, true);
        let tree = to_fields_v1(&set);
        assert_eq!(
            tree["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"]["."],
            json!({})
        );
        assert_eq!(tree["f:metadata"]["f:labels"]["f:app"], json!({}));
        assert_eq!(tree["f:spec"]["f:replicas"], json!({}));
        assert_eq!(from_fields_v1(&tree), set);
        let image: Path = vec![
            Step::Field("spec".into()),
            Step::Field("template".into()),
            Step::Field("spec".into()),
            Step::Field("containers".into()),
            Step::Key(vec![("name".into(), "\"web\"".into())]),
            Step::Field("image".into()),
        ];
        assert!(set.contains(&image));
        assert_eq!(value_at(&obj, &image), Some(&json!("nginx")));
        assert_eq!(
            display(&image),
            ".spec.template.spec.containers[name=\"web\"].image"
        );
    }
}
