//! The OpenAPI v2 document of a release whose official specification is stored as its OpenAPI v3
//! per-group-version documents (1.23–1.27, see the parent module).
//!
//! A real server builds `/openapi/v2` and `/openapi/v3` from the same Go types; this module
//! rewrites the v3 documents back: `#/components/schemas/X` becomes `#/definitions/X` (the
//! documents of all group versions merged: shared types such as `ObjectMeta` are identical in
//! each), a single-element `allOf` around a `$ref` becomes the `$ref` with its sibling keys (as v2
//! writes it), a parameter's `schema` is flattened into it, a `requestBody` becomes the `body`
//! parameter and `consumes`, response `content` a `schema` and `produces`. What v2 has no word
//! for is dropped: `default` (the v3 documents add `default: {}` to every struct-typed field; the
//! v2 ones carry none of those) and `oneOf` (int-or-string and quantities: the v2 documents give
//! them `type: string`, as done here when the schema has no `type`).
//!
//! The 1.23 documents (OpenAPI v3 was alpha there) lack the operations' `x-kubernetes-action`
//! and `x-kubernetes-group-version-kind`, which the v2 document of every release has and
//! `kubectl` reads (to find whether the patch operation of a kind takes `fieldValidation`):
//! missing ones are filled in from the method and path (`get` of a collection is `list`, under
//! `/watch/` `watch`/`watchlist`, …) and from the kind of the path's object (the response of its
//! read, replace or patch operation, or the item of a list response), and the patch operations'
//! request body gets the four patch media types every v2 document lists for them.

use serde_json::{Map, Value, json};

const V3_PREFIX: &str = "#/components/schemas/";
const V2_PREFIX: &str = "#/definitions/";
const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

/// Rewrites a v3 schema into a v2 one.
pub fn schema(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                match k.as_str() {
                    "$ref" => {
                        let target = v.as_str().unwrap_or("");
                        let target = match target.strip_prefix(V3_PREFIX) {
                            Some(name) => format!("{V2_PREFIX}{name}"),
                            None => target.to_string(),
                        };
                        out.insert(k.clone(), Value::String(target));
                    }
                    "properties" => {
                        let props = v
                            .as_object()
                            .map(|m| m.iter().map(|(n, s)| (n.clone(), schema(s))).collect())
                            .unwrap_or_default();
                        out.insert(k.clone(), Value::Object(props));
                    }
                    "default" | "oneOf" | "anyOf" | "nullable" => {}
                    _ if k.starts_with("x-") || k == "enum" || k == "example" => {
                        out.insert(k.clone(), v.clone());
                    }
                    _ => {
                        out.insert(k.clone(), schema(v));
                    }
                }
            }
            if let Some(Value::Array(list)) = out.get("allOf")
                && let [only] = list.as_slice()
                && let Some(reference) = only.get("$ref").cloned()
                && only.as_object().is_some_and(|m| m.len() == 1)
            {
                out.remove("allOf");
                out.insert("$ref".into(), reference);
            }
            if map.contains_key("oneOf") && !out.contains_key("type") {
                out.insert("type".into(), json!("string"));
            }
            Value::Object(out)
        }
        Value::Array(list) => Value::Array(list.iter().map(schema).collect()),
        other => other.clone(),
    }
}

/// A v3 parameter as a v2 one (its `schema` flattened into it).
fn parameter(p: &Value) -> Value {
    let Some(map) = p.as_object() else {
        return p.clone();
    };
    let mut out = Map::new();
    for (k, v) in map {
        if k == "schema" {
            for (sk, sv) in v.as_object().into_iter().flatten() {
                if sk != "default" {
                    out.insert(sk.clone(), schema(sv));
                }
            }
        } else {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// The media types of a `content` map, and the schema of the first.
fn content(value: Option<&Value>) -> (Vec<Value>, Option<Value>) {
    let Some(map) = value.and_then(Value::as_object) else {
        return (Vec::new(), None);
    };
    let types = map.keys().map(|k| Value::String(k.clone())).collect();
    let first = map.values().find_map(|m| m.get("schema")).map(schema);
    (types, first)
}

fn operation(op: &Value) -> Value {
    let Some(map) = op.as_object() else {
        return op.clone();
    };
    let mut out = Map::new();
    let mut params = Vec::new();
    let mut produces: Vec<Value> = Vec::new();
    for (k, v) in map {
        match k.as_str() {
            "parameters" => {
                params.extend(v.as_array().into_iter().flatten().map(parameter));
            }
            "requestBody" => {
                let (types, body) = content(v.get("content"));
                // The v2 documents list the body parameter first.
                params.insert(
                    0,
                    json!({"in": "body", "name": "body", "required": true,
                        "schema": body.unwrap_or_else(|| json!({"type": "object"}))}),
                );
                out.insert("consumes".into(), Value::Array(types));
            }
            "responses" => {
                let mut responses = Map::new();
                for (code, r) in v.as_object().into_iter().flatten() {
                    let (types, body) = content(r.get("content"));
                    for t in types {
                        if !produces.contains(&t) {
                            produces.push(t);
                        }
                    }
                    let mut response =
                        json!({"description": r.get("description").cloned().unwrap_or(json!(""))});
                    if let Some(body) = body {
                        response["schema"] = body;
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
    if !params.is_empty() {
        out.insert("parameters".into(), Value::Array(params));
    }
    if !produces.is_empty() {
        out.insert("produces".into(), Value::Array(produces));
    }
    out.insert("schemes".into(), json!(["https"]));
    Value::Object(out)
}

/// The `x-kubernetes-action` of an operation by method and path.
fn action(method: &str, path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // A group version's own path (`/apis/apps/v1/`) is no resource's.
    let group_version_len = if segments.first() == Some(&"api") {
        2
    } else {
        3
    };
    if segments.len() <= group_version_len {
        return None;
    }
    let named = segments.last().is_some_and(|s| *s == "{name}");
    let watch = segments.contains(&"watch");
    let subresource = segments
        .iter()
        .position(|s| *s == "{name}")
        .is_some_and(|i| i + 1 < segments.len());
    let connect = subresource
        && matches!(
            segments.last(),
            Some(&("proxy" | "exec" | "attach" | "portforward" | "{path}"))
        );
    Some(match method {
        _ if connect => "connect",
        "get" if watch && named => "watch",
        "get" if watch => "watchlist",
        "get" if named || subresource => "get",
        "get" => "list",
        "post" => "post",
        "put" => "put",
        "patch" => "patch",
        "delete" if named || subresource => "delete",
        "delete" => "deletecollection",
        _ => return None,
    })
}

/// The single group-version-kind of a definition, following a list to its items.
fn kind_of(definitions: &Map<String, Value>, reference: &str) -> Option<Value> {
    let def = definitions.get(reference.strip_prefix(V2_PREFIX)?)?;
    let Some([gvk]) = def
        .get("x-kubernetes-group-version-kind")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    else {
        return None;
    };
    let is_list = gvk
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"));
    if is_list
        && let Some(item) = def
            .pointer("/properties/items/items/$ref")
            .and_then(Value::as_str)
        && let Some(item_gvk) = kind_of(definitions, item)
    {
        return Some(item_gvk);
    }
    Some(gvk.clone())
}

/// The kind a path's operations are about: the response of its (or, for a watch path, its
/// non-watch twin's) read, replace, patch or create operation.
fn kind_of_path(
    paths: &Map<String, Value>,
    definitions: &Map<String, Value>,
    path: &str,
) -> Option<Value> {
    let twin = path.replacen("/watch/", "/", 1);
    [path, twin.as_str()].iter().find_map(|p| {
        let item = paths.get(*p)?;
        ["get", "put", "patch", "post"].iter().find_map(|m| {
            let reference = item
                .pointer(&format!("/{m}/responses/200/schema/$ref"))?
                .as_str()?;
            kind_of(definitions, reference)
        })
    })
}

/// The v2 document of a release from its v3 documents by group version (`api/v1`,
/// `apis/apps/v1`, …).
pub fn v2_document(documents: &Map<String, Value>) -> Value {
    let mut definitions = Map::new();
    let mut paths = Map::new();
    let mut security_definitions = Map::new();
    for doc in documents.values() {
        for (name, s) in doc
            .pointer("/components/schemas")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if !definitions.contains_key(name) {
                definitions.insert(name.clone(), schema(s));
            }
        }
        for (name, s) in doc
            .pointer("/components/securitySchemes")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            security_definitions.insert(name.clone(), s.clone());
        }
        for (path, item) in doc
            .get("paths")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let mut converted = Map::new();
            for (k, v) in item.as_object().into_iter().flatten() {
                match k.as_str() {
                    "parameters" => {
                        let params = v.as_array().into_iter().flatten().map(parameter).collect();
                        converted.insert(k.clone(), Value::Array(params));
                    }
                    m if METHODS.contains(&m) => {
                        converted.insert(k.clone(), operation(v));
                    }
                    _ => {
                        converted.insert(k.clone(), v.clone());
                    }
                }
            }
            paths.insert(path.clone(), Value::Object(converted));
        }
    }
    // The extensions the 1.23 documents lack.
    let mut fills = Vec::new();
    for (path, item) in &paths {
        for (method, op) in item.as_object().into_iter().flatten() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            let act = match op.get("x-kubernetes-action") {
                Some(a) => a.as_str().map(str::to_string),
                None => action(method, path).map(str::to_string),
            };
            let gvk = match op.get("x-kubernetes-group-version-kind") {
                Some(_) => None,
                None if matches!(act.as_deref(), None | Some("connect")) => None,
                None => kind_of_path(&paths, &definitions, path),
            };
            fills.push((path.clone(), method.clone(), act, gvk));
        }
    }
    for (path, method, act, gvk) in fills {
        let Some(op) = paths
            .get_mut(&path)
            .and_then(|item| item.get_mut(&method))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        if let Some(act) = act {
            if act == "patch"
                && !op
                    .get("consumes")
                    .and_then(Value::as_array)
                    .is_some_and(|c| c.iter().any(|t| t == "application/apply-patch+yaml"))
            {
                op.insert(
                    "consumes".into(),
                    json!([
                        "application/json-patch+json",
                        "application/merge-patch+json",
                        "application/strategic-merge-patch+json",
                        "application/apply-patch+yaml"
                    ]),
                );
            }
            op.entry("x-kubernetes-action")
                .or_insert(Value::String(act));
        }
        if let Some(gvk) = gvk {
            op.insert("x-kubernetes-group-version-kind".into(), gvk);
        }
    }
    if security_definitions.is_empty() {
        security_definitions.insert(
            "BearerToken".into(),
            json!({"description": "Bearer Token authentication", "in": "header", "name": "authorization", "type": "apiKey"}),
        );
    }
    let info = documents
        .values()
        .find_map(|d| d.get("info").cloned())
        .unwrap_or_else(|| json!({"title": "Kubernetes", "version": "unversioned"}));
    json!({
        "swagger": "2.0",
        "info": info,
        "paths": paths,
        "definitions": definitions,
        "security": [{"BearerToken": []}],
        "securityDefinitions": security_definitions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_lose_all_of_defaults_and_one_of() {
        let s = schema(&json!({"properties": {
            "metadata": {"allOf": [{"$ref": "#/components/schemas/M"}], "default": {}, "description": "d"},
            "port": {"format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}]},
            "default": {"type": "string"}}}));
        assert_eq!(
            s["properties"]["metadata"],
            json!({"$ref": "#/definitions/M", "description": "d"})
        );
        assert_eq!(
            s["properties"]["port"],
            json!({"format": "int-or-string", "type": "string"})
        );
        assert_eq!(s["properties"]["default"], json!({"type": "string"}));
    }

    #[test]
    fn actions_by_method_and_path() {
        let ns = "/apis/apps/v1/namespaces/{namespace}/deployments";
        assert_eq!(action("get", ns), Some("list"));
        assert_eq!(action("get", &format!("{ns}/{{name}}")), Some("get"));
        assert_eq!(action("get", &format!("{ns}/{{name}}/scale")), Some("get"));
        assert_eq!(action("delete", ns), Some("deletecollection"));
        assert_eq!(action("delete", &format!("{ns}/{{name}}")), Some("delete"));
        assert_eq!(
            action(
                "get",
                "/apis/apps/v1/watch/namespaces/{namespace}/deployments/{name}"
            ),
            Some("watch")
        );
        assert_eq!(
            action("get", "/apis/apps/v1/watch/deployments"),
            Some("watchlist")
        );
        assert_eq!(action("get", "/apis/apps/v1/"), None);
        assert_eq!(
            action("post", "/api/v1/namespaces/{namespace}/pods/{name}/exec"),
            Some("connect")
        );
    }

    #[test]
    fn operations_get_body_parameters_and_kinds() {
        let docs = json!({"apis/apps/v1": {
            "components": {"schemas": {
                "D": {"type": "object", "x-kubernetes-group-version-kind": [{"group": "apps", "kind": "Deployment", "version": "v1"}]},
                "DL": {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/D"}}},
                    "x-kubernetes-group-version-kind": [{"group": "apps", "kind": "DeploymentList", "version": "v1"}]},
                "P": {"type": "object"}}},
            "paths": {
                "/apis/apps/v1/deployments": {"get": {"responses": {"200": {"description": "OK",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DL"}}}}}}},
                "/apis/apps/v1/namespaces/{namespace}/deployments/{name}": {
                    "parameters": [{"in": "path", "name": "name", "required": true, "schema": {"type": "string", "uniqueItems": true}}],
                    "patch": {
                        "parameters": [{"in": "query", "name": "fieldValidation", "schema": {"type": "string", "uniqueItems": true}}],
                        "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/P"}}}},
                        "responses": {"200": {"description": "OK",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/D"}},
                                "application/yaml": {"schema": {"$ref": "#/components/schemas/D"}}}}}}}}}});
        let v2 = v2_document(docs.as_object().unwrap());
        let gvk = json!({"group": "apps", "kind": "Deployment", "version": "v1"});
        let patch =
            &v2["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-action"], "patch");
        assert_eq!(patch["x-kubernetes-group-version-kind"], gvk);
        assert_eq!(
            patch["parameters"],
            json!([{"in": "body", "name": "body", "required": true, "schema": {"$ref": "#/definitions/P"}},
                {"in": "query", "name": "fieldValidation", "type": "string", "uniqueItems": true}])
        );
        assert_eq!(
            patch["produces"],
            json!(["application/json", "application/yaml"])
        );
        assert_eq!(patch["consumes"].as_array().unwrap().len(), 4);
        assert_eq!(
            patch["responses"]["200"]["schema"],
            json!({"$ref": "#/definitions/D"})
        );
        let list = &v2["paths"]["/apis/apps/v1/deployments"]["get"];
        assert_eq!(list["x-kubernetes-action"], "list");
        assert_eq!(list["x-kubernetes-group-version-kind"], gvk);
        assert_eq!(
            v2["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["parameters"][0]
                ["type"],
            "string"
        );
        assert_eq!(
            v2["definitions"]["DL"]["properties"]["items"]["items"]["$ref"],
            "#/definitions/D"
        );
    }
}
