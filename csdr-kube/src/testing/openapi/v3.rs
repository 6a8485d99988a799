//! OpenAPI v3 per-group-version documents derived mechanically from the v2 document (for the
//! releases whose official v2 document is stored, and for CRDs' group versions).
//!
//! The real server builds its v2 and v3 documents from the same Go types; this module rewrites
//! the v2 one instead: the paths of one group version are kept, `#/definitions/X` becomes
//! `#/components/schemas/X`, a `$ref` with sibling keys (a description) is wrapped in `allOf` as
//! the real v3 documents do, document-level parameters are inlined, body parameters become a
//! `requestBody` and response schemas a `content` per media type.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::definition_closure;

const V2_PREFIX: &str = "#/definitions/";
const V3_PREFIX: &str = "#/components/schemas/";

/// Rewrites a v2 schema into a v3 one.
pub fn schema(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                if k == "$ref" {
                    let target = v.as_str().unwrap_or("");
                    let target = match target.strip_prefix(V2_PREFIX) {
                        Some(name) => format!("{V3_PREFIX}{name}"),
                        None => target.to_string(),
                    };
                    out.insert(k.clone(), Value::String(target));
                } else if k == "properties" || k == "definitions" {
                    // Maps of names to schemas: keep the names.
                    let props = v
                        .as_object()
                        .map(|m| m.iter().map(|(n, s)| (n.clone(), schema(s))).collect())
                        .unwrap_or_default();
                    out.insert(k.clone(), Value::Object(props));
                } else if k.starts_with("x-") || k == "enum" || k == "default" || k == "example" {
                    out.insert(k.clone(), v.clone());
                } else {
                    out.insert(k.clone(), schema(v));
                }
            }
            if out.len() > 1
                && let Some(reference) = out.remove("$ref")
            {
                out.insert("allOf".into(), json!([{"$ref": reference}]));
            }
            Value::Object(out)
        }
        Value::Array(list) => Value::Array(list.iter().map(schema).collect()),
        other => other.clone(),
    }
}

/// A v2 parameter as a v3 one (`None` for a body parameter).
fn parameter(p: &Value) -> Option<Value> {
    let map = p.as_object()?;
    if map.get("in").and_then(Value::as_str) == Some("body") {
        return None;
    }
    let mut out = Map::new();
    let mut sch = Map::new();
    for (k, v) in map {
        match k.as_str() {
            "type" | "format" | "items" | "default" | "enum" | "uniqueItems" | "maximum"
            | "minimum" => {
                sch.insert(k.clone(), v.clone());
            }
            "collectionFormat" | "allowEmptyValue" => {}
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if !sch.is_empty() {
        out.insert("schema".into(), Value::Object(sch));
    }
    Some(Value::Object(out))
}

/// Resolves `#/parameters/X` against the v2 document.
fn resolve_parameter<'a>(p: &'a Value, doc: &'a Value) -> &'a Value {
    p.get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/parameters/"))
        .and_then(|name| doc.get("parameters").and_then(|ps| ps.get(name)))
        .unwrap_or(p)
}

fn operation(op: &Value, doc: &Value) -> Value {
    let Some(map) = op.as_object() else {
        return op.clone();
    };
    let produces: Vec<String> = map
        .get("produces")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_else(|| vec!["application/json".into()]);
    let mut out = Map::new();
    for (k, v) in map {
        match k.as_str() {
            "produces" | "consumes" | "schemes" => {}
            "parameters" => {
                let mut params = Vec::new();
                for p in v.as_array().into_iter().flatten() {
                    let p = resolve_parameter(p, doc);
                    match parameter(p) {
                        Some(converted) => params.push(converted),
                        None => {
                            let body_schema = schema(p.get("schema").unwrap_or(&Value::Null));
                            out.insert(
                                "requestBody".into(),
                                json!({"content": {"*/*": {"schema": body_schema}}, "required": p.get("required").and_then(Value::as_bool).unwrap_or(false)}),
                            );
                        }
                    }
                }
                if !params.is_empty() {
                    out.insert("parameters".into(), Value::Array(params));
                }
            }
            "responses" => {
                let mut responses = Map::new();
                for (code, r) in v.as_object().into_iter().flatten() {
                    let mut response =
                        json!({"description": r.get("description").cloned().unwrap_or(json!(""))});
                    if let Some(s) = r.get("schema") {
                        let s = schema(s);
                        let content: Map<String, Value> = produces
                            .iter()
                            .map(|mime| (mime.clone(), json!({"schema": s})))
                            .collect();
                        response["content"] = Value::Object(content);
                    }
                    responses.insert(code.clone(), response);
                }
                out.insert("responses".into(), Value::Object(responses));
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// The v3 document of one group version of a v2 document, `None` if it has no path of it.
pub fn group_version_document(v2: &Value, group: &str, version: &str) -> Option<Value> {
    let prefix = if group.is_empty() {
        format!("/api/{version}/")
    } else {
        format!("/apis/{group}/{version}/")
    };
    let mut paths = Map::new();
    for (path, item) in v2.get("paths")?.as_object()? {
        if !(path.starts_with(&prefix) || *path == prefix[..prefix.len() - 1]) {
            continue;
        }
        let mut converted = Map::new();
        for (k, v) in item.as_object().into_iter().flatten() {
            match k.as_str() {
                "parameters" => {
                    let params: Vec<Value> = v
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|p| parameter(resolve_parameter(p, v2)))
                        .collect();
                    converted.insert(k.clone(), Value::Array(params));
                }
                "get" | "put" | "post" | "delete" | "patch" | "head" | "options" => {
                    converted.insert(k.clone(), operation(v, v2));
                }
                _ => {
                    converted.insert(k.clone(), v.clone());
                }
            }
        }
        paths.insert(path.clone(), Value::Object(converted));
    }
    if paths.is_empty() {
        return None;
    }
    // The schemas the group version's paths use, from the v2 definitions.
    let mut roots = BTreeSet::new();
    for item in v2.get("paths")?.as_object()?.iter().filter_map(|(p, i)| {
        (p.starts_with(&prefix) || *p == prefix[..prefix.len() - 1]).then_some(i)
    }) {
        super::collect_refs(item, V2_PREFIX, &mut roots);
        let mut params = BTreeSet::new();
        super::collect_refs(item, "#/parameters/", &mut params);
        for name in params {
            if let Some(p) = v2.get("parameters").and_then(|ps| ps.get(&name)) {
                super::collect_refs(p, V2_PREFIX, &mut roots);
            }
        }
    }
    let empty = Map::new();
    let definitions = v2
        .get("definitions")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let schemas: Map<String, Value> = definition_closure(&roots, &[definitions])
        .into_iter()
        .map(|(name, s)| (name, schema(&s)))
        .collect();
    let info_version = v2
        .pointer("/info/version")
        .cloned()
        .unwrap_or(json!("unversioned"));
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": info_version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header"}},
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_move_and_gain_all_of_with_siblings() {
        let s = schema(&json!({"properties": {
            "metadata": {"$ref": "#/definitions/M", "description": "d"},
            "spec": {"$ref": "#/definitions/S"}}}));
        assert_eq!(
            s["properties"]["metadata"],
            json!({"allOf": [{"$ref": "#/components/schemas/M"}], "description": "d"})
        );
        assert_eq!(
            s["properties"]["spec"],
            json!({"$ref": "#/components/schemas/S"})
        );
    }
}
