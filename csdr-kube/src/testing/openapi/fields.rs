//! Unknown-field detection against an OpenAPI v2 schema, as the API server's strict decoding
//! reports it: a field is unknown when the object schema at its path has no such property and
//! no `additionalProperties` schema; `x-kubernetes-preserve-unknown-fields` and schemas that are
//! free-form objects (`RawExtension`, `JSON`, `FieldsV1`: `type: object` without properties)
//! accept anything below them, `x-kubernetes-int-or-string` and other scalars have no fields.
//! Inside a CRD's own schema an object without `properties` and `additionalProperties` accepts
//! no fields (the structural-schema pruning of a real server), except where
//! `x-kubernetes-embedded-resource` allows `apiVersion`, `kind` and `metadata`.
//!
//! Paths are written as the server writes them: `spec.template.spec.containers[0].foo`.
//!
//! ```
//! use csdr_kube::testing::openapi::fields::unknown_fields;
//! use serde_json::json;
//!
//! let defs = json!({
//!     "Thing": {"type": "object", "properties": {
//!         "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
//!         "labels": {"type": "object", "additionalProperties": {"type": "string"}}}}});
//! let found = unknown_fields(
//!     defs.as_object().unwrap(),
//!     "Thing",
//!     &json!({"spec": {"size": 1, "colour": "red"}, "labels": {"a": "b"}, "extra": 1}),
//! );
//! assert_eq!(found, vec!["extra", "spec.colour"]);
//! ```

use serde_json::{Map, Value};

const REF_PREFIX: &str = "#/definitions/";

struct Walk<'a> {
    pools: &'a [&'a Map<String, Value>],
    found: Vec<String>,
}

/// The unknown fields of `value` against the definition `root` of `definitions`, sorted.
pub fn unknown_fields(definitions: &Map<String, Value>, root: &str, value: &Value) -> Vec<String> {
    unknown_fields_in(&[definitions], root, value)
}

/// [`unknown_fields`] with definitions looked up in several maps (first match wins), e.g. a
/// CRD's definitions before the built-in ones.
pub fn unknown_fields_in(pools: &[&Map<String, Value>], root: &str, value: &Value) -> Vec<String> {
    let Some(schema) = pools.iter().find_map(|p| p.get(root)) else {
        return Vec::new();
    };
    let mut walk = Walk {
        pools,
        found: Vec::new(),
    };
    // A CRD's definition is structural; built-in ones are free-form where they have no
    // properties.
    let structural = !is_built_in(root);
    walk.visit(schema, value, "", structural, 0);
    walk.found.sort();
    walk.found
}

/// Whether a definition name is one of the Kubernetes API's own types (CRD definitions are named
/// after their reversed group, e.g. `io.k8s.storage.snapshot.v1.VolumeSnapshot`).
fn is_built_in(name: &str) -> bool {
    [
        "io.k8s.api.",
        "io.k8s.apimachinery.pkg.",
        "io.k8s.apiextensions-apiserver.pkg.",
        "io.k8s.kube-aggregator.pkg.",
    ]
    .iter()
    .any(|prefix| name.starts_with(prefix))
}

/// The schema a `$ref` (or a single-element `allOf`) names, and the name of the definition it
/// ends at, if any (then built-in rules apply below it unless it is a CRD's).
fn resolve<'s>(
    pools: &[&'s Map<String, Value>],
    schema: &'s Value,
) -> (&'s Value, Option<&'s str>) {
    let mut current = schema;
    let mut name = None;
    for _ in 0..8 {
        if let Some(target) = current
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix(REF_PREFIX))
        {
            match pools.iter().find_map(|p| p.get(target)) {
                Some(next) => {
                    current = next;
                    name = Some(target);
                    continue;
                }
                None => break,
            }
        }
        if let Some([only]) = current
            .get("allOf")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            current = only;
            continue;
        }
        break;
    }
    (current, name)
}

impl<'a> Walk<'a> {
    fn visit<'s>(
        &mut self,
        schema: &'s Value,
        value: &Value,
        path: &str,
        structural: bool,
        depth: u32,
    ) where
        'a: 's,
    {
        if depth > 64 {
            return;
        }
        let (schema, name) = resolve(self.pools, schema);
        let structural = match name {
            Some(n) => !is_built_in(n),
            None => structural,
        };
        let flag = |key: &str| schema.get(key).and_then(Value::as_bool).unwrap_or(false);
        if flag("x-kubernetes-preserve-unknown-fields") || flag("x-kubernetes-int-or-string") {
            return;
        }
        match value {
            Value::Object(fields) => {
                let properties = schema.get("properties").and_then(Value::as_object);
                let additional = schema.get("additionalProperties");
                let embedded = flag("x-kubernetes-embedded-resource");
                if properties.is_none() && additional.is_none() && !structural {
                    return; // free-form built-in type
                }
                for (key, inner) in fields {
                    let child = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    if let Some(s) = properties.and_then(|p| p.get(key)) {
                        self.visit(s, inner, &child, structural, depth + 1);
                    } else if let Some(a) = additional {
                        match a {
                            Value::Bool(false) => self.found.push(child),
                            Value::Bool(true) => {}
                            s => self.visit(s, inner, &child, structural, depth + 1),
                        }
                    } else if embedded && matches!(key.as_str(), "apiVersion" | "kind") {
                    } else if embedded && key == "metadata" {
                        let meta = serde_json::json!({"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"});
                        self.visit(&meta, inner, &child, false, depth + 1);
                    } else {
                        self.found.push(child);
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (i, inner) in items.iter().enumerate() {
                        self.visit(
                            item_schema,
                            inner,
                            &format!("{path}[{i}]"),
                            structural,
                            depth + 1,
                        );
                    }
                }
            }
            _ => {}
        }
    }
}

/// The patch directives of strategic merge patches (`$patch`, `$setElementOrder/…`,
/// `$retainKeys`, `$deleteFromPrimitiveList/…`) and the deletions (`null` members) removed,
/// recursively, so a patch can be checked like an object: removing a field is never an unknown
/// field.
pub fn without_patch_directives(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, v)| !k.starts_with('$') && !v.is_null())
                .map(|(k, v)| (k.clone(), without_patch_directives(v)))
                .collect(),
        ),
        Value::Array(list) => Value::Array(list.iter().map(without_patch_directives).collect()),
        other => other.clone(),
    }
}

/// The fields a JSON text sets more than once in the same object, as the server's strict
/// decoding names them (`spec.replicas`, `spec.containers[0].name`), in the order met; empty
/// for text that is not JSON.
pub fn duplicate_fields(json: &[u8]) -> Vec<String> {
    use serde::de::DeserializeSeed;
    let mut found = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let seed = Duplicates {
        path: String::new(),
        found: &mut found,
    };
    if seed.deserialize(&mut deserializer).is_err() {
        return Vec::new();
    }
    found
}

/// A JSON value walked only to find duplicate members.
struct Duplicates<'a> {
    path: String,
    found: &'a mut Vec<String>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Duplicates<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Duplicates<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        loop {
            let seed = Duplicates {
                path: format!("{}[{i}]", self.path),
                found: &mut *self.found,
            };
            if seq.next_element_seed(seed)?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            if !seen.insert(key) {
                self.found.push(path.clone());
            }
            map.next_value_seed(Duplicates {
                path,
                found: &mut *self.found,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn defs() -> Map<String, Value> {
        json!({
            "io.k8s.api.t.Pod": {"type": "object", "properties": {
                "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "description": "m"},
                "spec": {"allOf": [{"$ref": "#/definitions/io.k8s.api.t.PodSpec"}]},
                "raw": {"$ref": "#/definitions/io.k8s.api.t.Raw"}}},
            "io.k8s.api.t.PodSpec": {"type": "object", "properties": {
                "containers": {"type": "array", "items": {"$ref": "#/definitions/io.k8s.api.t.Container"}}}},
            "io.k8s.api.t.Container": {"type": "object", "properties": {"name": {"type": "string"},
                "port": {"type": "string", "format": "int-or-string"}}},
            "io.k8s.api.t.Raw": {"type": "object"},
            "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": {"type": "object", "properties": {
                "name": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
            "com.example.v1.Crab": {"type": "object", "properties": {
                "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
                "spec": {"type": "object", "properties": {
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "closed": {"type": "object"},
                    "inner": {"type": "object", "x-kubernetes-embedded-resource": true,
                        "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
                    "size": {"x-kubernetes-int-or-string": true}}}}},
        })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn built_in_paths_arrays_and_free_form_types() {
        let found = unknown_fields(
            &defs(),
            "io.k8s.api.t.Pod",
            &json!({"metadata": {"name": "a", "labels": {"x": "y"}, "colour": 1},
                "spec": {"containers": [{"name": "a"}, {"name": "b", "imagex": "n", "port": 80}]},
                "raw": {"anything": {"at": "all"}}}),
        );
        assert_eq!(found, vec!["metadata.colour", "spec.containers[1].imagex"]);
    }

    #[test]
    fn crds_of_k8s_io_groups_are_structural_too() {
        let mut defs = defs();
        defs.insert(
            "io.k8s.storage.snapshot.v1.Snap".into(),
            json!({"type": "object", "properties": {"spec": {"type": "object"}}}),
        );
        assert_eq!(
            unknown_fields(
                &defs,
                "io.k8s.storage.snapshot.v1.Snap",
                &json!({"spec": {"x": 1}})
            ),
            ["spec.x"]
        );
    }

    #[test]
    fn crd_schemas_are_structural() {
        let found = unknown_fields(
            &defs(),
            "com.example.v1.Crab",
            &json!({"metadata": {"name": "c"}, "spec": {
                "free": {"x": 1}, "closed": {"y": 2}, "size": "50%",
                "inner": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "bad": 1}, "spec": {"z": 3}},
                "extra": true}}),
        );
        assert_eq!(
            found,
            vec!["spec.closed.y", "spec.extra", "spec.inner.metadata.bad"]
        );
    }

    #[test]
    fn duplicates_are_named_by_path() {
        let text = br#"{"spec": {"replicas": 1, "replicas": 2, "containers": [{"name": "a", "name": "b"}]}, "kind": "X"}"#;
        assert_eq!(
            duplicate_fields(text),
            ["spec.replicas", "spec.containers[0].name"]
        );
        assert!(duplicate_fields(b"{\"a\": {\"a\": 1}}").is_empty());
        assert!(duplicate_fields(b"a: 1").is_empty());
    }

    #[test]
    fn patch_directives_are_not_fields() {
        let patch = json!({"spec": {"$setElementOrder/containers": [{"name": "a"}],
            "containers": [{"name": "a", "$patch": "delete"}], "colour": null}});
        assert_eq!(
            without_patch_directives(&patch),
            json!({"spec": {"containers": [{"name": "a"}]}})
        );
    }
}
