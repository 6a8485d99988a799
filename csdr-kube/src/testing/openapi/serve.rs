//! The OpenAPI routes and the field validation of write requests, for the REST handler.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use csdr_core::discovery::Discovery;
use csdr_core::object::{GroupVersionResource, KubeObject};
use csdr_core::ports::cluster::{Cluster, ListOptions};
use csdr_core::releases::KubeRelease;
use serde_json::{Map, Value};

use super::super::rest::{App, json_response};
use super::super::routes::{ResourcePath, Route};
use super::super::status::Status;
use super::fields::{duplicate_fields, unknown_fields_in, without_patch_directives};
use super::{
    crd_definitions, crd_versions, protobuf, spec, v2_document, v3_group_version, v3_index,
};

/// The media type of the protobuf OpenAPI v2 document as a real server answers it (clients ask
/// for `…spec.v2@v1.0+protobuf`, which Go cannot parse back).
pub const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

fn release(app: &App) -> KubeRelease {
    app.release.unwrap_or(KubeRelease::NEWEST)
}

fn status(s: &Status) -> Response {
    json_response(s.code, &s.to_json())
}

/// The CRD objects of the cluster (none when it serves no `apiextensions.k8s.io`).
async fn crds(app: &App, discovery: &Discovery) -> Result<Vec<KubeObject>, Status> {
    let Some(group) = discovery.group("apiextensions.k8s.io") else {
        return Ok(Vec::new());
    };
    let gvr = GroupVersionResource::new(
        "apiextensions.k8s.io",
        &group.preferred_version,
        "customresourcedefinitions",
    );
    app.sim
        .list_page(&gvr, None, &ListOptions::default())
        .await
        .map(|page| page.items)
        .map_err(|e| Status::internal(format!("cannot list CustomResourceDefinitions: {e}")))
}

/// Answers `/openapi/v2`, `/openapi/v3` and `/openapi/v3/...`; `None` for other routes.
pub(crate) async fn serve(app: &App, route: &Route, headers: &HeaderMap) -> Option<Response> {
    let discovery = app.sim.shared_discovery();
    let release = release(app);
    let crds = match route {
        Route::OpenApiV2 | Route::OpenApiV3Index | Route::OpenApiV3 { .. } => {
            match crds(app, &discovery).await {
                Ok(c) => c,
                Err(s) => return Some(status(&s)),
            }
        }
        _ => return None,
    };
    let internal = |e: super::OpenApiError| status(&Status::internal(e.to_string()));
    Some(match route {
        Route::OpenApiV2 => match v2_document(release, &discovery, &crds) {
            Ok(doc) => {
                let accept = headers
                    .get(header::ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if accept.contains("protobuf") {
                    Response::builder()
                        .status(StatusCode::OK)
                        .header(header::CONTENT_TYPE, V2_PROTOBUF)
                        .body(Body::from(protobuf::encode_document(&doc)))
                        .unwrap_or_default()
                } else {
                    json_response(200, &doc)
                }
            }
            Err(e) => internal(e),
        },
        Route::OpenApiV3Index => match v3_index(release, &discovery, &crds) {
            Ok(Some(doc)) => json_response(200, &doc),
            Ok(None) => status(&Status::no_such_resource()),
            Err(e) => internal(e),
        },
        Route::OpenApiV3 { group, version } => {
            match v3_group_version(release, &discovery, &crds, group, version) {
                Ok(Some(doc)) => json_response(200, &doc),
                Ok(None) => status(&Status::no_such_resource()),
                Err(e) => internal(e),
            }
        }
        _ => return None,
    })
}

/// How the request asks unknown fields to be handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Directive {
    Strict,
    Warn,
}

/// Checks the fields of a create, update or patch body against the kind's schema (from 1.25
/// on): `Err` 400 for unknown fields under `fieldValidation=Strict` and for any server-side
/// apply, else the warnings to send.
pub(crate) async fn check_fields(
    app: &App,
    method: &Method,
    path: &ResourcePath,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<String>, Status> {
    let release = release(app);
    if !super::validates_fields(release)
        || !matches!(*method, Method::POST | Method::PUT | Method::PATCH)
        || !matches!(path.subresource.as_deref(), None | Some("status"))
    {
        return Ok(Vec::new());
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    // Server-side apply is strict whatever the directive.
    let apply = content_type == "application/apply-patch+yaml";
    let directive = match query.get("fieldValidation").map(String::as_str) {
        Some("Strict") => Directive::Strict,
        Some("Ignore") if !apply => return Ok(Vec::new()),
        _ => Directive::Warn,
    };
    let value: Value = match content_type.as_str() {
        "application/json-patch+json" => return Ok(Vec::new()),
        t if t.contains("protobuf") || t.contains("cbor") => return Ok(Vec::new()),
        _ => match serde_json::from_slice(body) {
            Ok(v) => v,
            // Not JSON: YAML, or a body the handler rejects itself.
            Err(_) => match serde_yaml_ng::from_slice(body) {
                Ok(v) => v,
                Err(_) => return Ok(Vec::new()),
            },
        },
    };
    if !value.is_object() {
        return Ok(Vec::new());
    }
    let value = if *method == Method::PATCH {
        without_patch_directives(&value)
    } else {
        value
    };
    let discovery = app.sim.shared_discovery();
    let Some(kind) = discovery
        .group(&path.group)
        .and_then(|g| g.versions.iter().find(|v| v.version == path.version))
        .and_then(|v| v.resources.iter().find(|r| r.plural == path.resource))
        .map(|r| r.kind.clone())
    else {
        return Ok(Vec::new());
    };
    let spec = spec(release).map_err(|e| Status::internal(e.to_string()))?;
    let mut extra = Map::new();
    let root = match spec.definition_of(&path.group, &path.version, &kind) {
        Some(name) => name.to_string(),
        None => {
            let crds = crds(app, &discovery).await?;
            let Some(crd) = crd_versions(&crds, &discovery).into_iter().find(|c| {
                c.group == path.group && c.version == path.version && c.plural == path.resource
            }) else {
                return Ok(Vec::new());
            };
            let [(name, schema), _] = crd_definitions(&crd);
            extra.insert(name.clone(), schema);
            name
        }
    };
    let unknown = unknown_fields_in(&[&extra, spec.definitions()], &root, &value);
    let duplicates = duplicate_fields(body);
    if unknown.is_empty() && duplicates.is_empty() {
        return Ok(Vec::new());
    }
    if apply && !unknown.is_empty() {
        let group_version = if path.group.is_empty() {
            format!("/{}", path.version)
        } else {
            format!("{}/{}", path.group, path.version)
        };
        let errors: Vec<String> = unknown
            .iter()
            .map(|f| format!(".{f}: field not declared in schema"))
            .collect();
        return Err(Status::bad_request(format!(
            "failed to create typed patch object ({}/{}; {group_version}, Kind={kind}): {}",
            path.namespace.as_deref().unwrap_or(""),
            path.name.as_deref().unwrap_or(""),
            errors.join("\n")
        )));
    }
    let messages: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .chain(
            duplicates
                .iter()
                .map(|f| format!("duplicate field \"{f}\"")),
        )
        .collect();
    match directive {
        Directive::Strict => Err(Status::bad_request(format!(
            "{kind} in version \"{}\" cannot be handled as a {kind}: strict decoding error: {}",
            path.version,
            messages.join(", ")
        ))),
        Directive::Warn => Ok(messages),
    }
}

/// Adds a `Warning: 299 - "…"` header per warning.
pub(crate) fn add_warnings(response: &mut Response, warnings: &[String]) {
    for warning in warnings {
        let escaped = warning.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(value) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            response.headers_mut().append(header::WARNING, value);
        }
    }
}
