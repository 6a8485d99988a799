//! The REST verbs of the test API server: list, watch, get, create, update, patch, delete and
//! deletecollection on the simulated cluster, with answers and `Status` errors shaped like a
//! real API server's.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Query;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use csdr_core::discovery::ApiResource;
use csdr_core::label_selector::LabelSelector;
use csdr_core::object::{GroupVersionResource, KubeObject};
use csdr_core::ports::cluster::{Cluster, ClusterError, ListOptions};
use csdr_core::releases::KubeRelease;
use csdr_core::sim::{
    ApplyOptions, DeleteOptions, Deletion, Propagation, SimCluster, Subresource, WriteOptions,
};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::openapi::serve as openapi;
use super::routes::{ResourcePath, Route};
use super::status::Status;
use super::strategic::apply_strategic_merge_patch;
use super::table::{Printer, TableRequest};
use super::{Failure, subresources, watch as watching};
use super::{documents, protobuf};

/// Injected failures still to be answered for one path.
#[derive(Clone, Debug)]
pub(crate) struct Injected {
    pub path: String,
    pub failure: Failure,
    pub remaining: usize,
}

/// The server's shared state.
pub(crate) struct App {
    pub sim: SimCluster,
    pub release: Option<KubeRelease>,
    pub address: String,
    pub aggregated: AtomicBool,
    pub failures: Mutex<Vec<Injected>>,
    /// Bumped after every write made through the server, to wake watches.
    pub changes: watch::Sender<u64>,
    /// Becomes `true` (or closes) when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
    pub generated: AtomicU64,
    /// Where `GET …/pods/<name>/log` reads containers' output (a real API server asks the
    /// kubelet of the pod's node); `None`: no kubelet keeps logs.
    pub pod_logs: std::sync::RwLock<Option<Arc<dyn super::PodLogs>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn json_response(code: u16, value: &Value) -> Response {
    json_response_typed(code, value, "application/json")
}

fn json_response_typed(code: u16, value: &Value, content_type: &str) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .unwrap_or_default()
}

fn status_response(status: &Status) -> Response {
    json_response(status.code, &status.to_json())
}

impl App {
    fn notify(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    /// The injected failure for a path, if one is still due (consumes it).
    fn take_failure(&self, path: &str) -> Option<Failure> {
        let mut failures = lock(&self.failures);
        let index = failures
            .iter()
            .position(|f| f.path == path && f.remaining > 0)?;
        let injected = &mut failures[index];
        injected.remaining -= 1;
        let failure = injected.failure;
        if injected.remaining == 0 {
            failures.remove(index);
        }
        Some(failure)
    }
}

fn failure_response(failure: Failure) -> Response {
    match failure {
        Failure::TooManyRequests { retry_after } => {
            let status = Status::new(
                429,
                "TooManyRequests",
                "the server has received too many requests and has asked us to try again later",
            );
            let mut resp = status_response(&status);
            if let Ok(v) = retry_after.as_secs().to_string().parse() {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            resp
        }
        Failure::InternalError => status_response(&Status::internal(
            "an error on the server (\"injected failure\") has prevented the request from succeeding",
        )),
        Failure::Expired => status_response(&Status::expired(
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
        )),
        Failure::LostAnswer => status_response(&Status::new(
            504,
            "Timeout",
            "Timeout: request did not complete within requested timeout - context deadline exceeded",
        )),
        Failure::ServiceUnavailable => status_response(&Status::new(
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
        )),
    }
}

/// Answers one request, or the failure injected for its path.
pub(crate) async fn handle(app: Arc<App>, req: axum::extract::Request) -> Response {
    let path = req.uri().path().to_string();
    match app.take_failure(&path) {
        None => serve(app, req).await,
        Some(Failure::LostAnswer) => {
            // The request is carried out; only its answer is lost.
            let _ = serve(app, req).await;
            failure_response(Failure::LostAnswer)
        }
        Some(failure) => failure_response(failure),
    }
}

/// Serves one request.
async fn serve(app: Arc<App>, req: axum::extract::Request) -> Response {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let headers = req.headers().clone();
    let query: HashMap<String, String> = Query::try_from_uri(req.uri())
        .map(|q: Query<HashMap<String, String>>| q.0)
        .unwrap_or_default();
    let route = Route::parse(&path);
    if !matches!(route, Route::Resource(_)) && method != Method::GET {
        return status_response(&Status::new(
            405,
            "MethodNotAllowed",
            format!(
                "the server does not allow this method on the requested resource ({method} {path})"
            ),
        ));
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if let Some(refusal) = protobuf::not_acceptable(&accept) {
        return status_response(&refusal);
    }
    let aggregated = if app.aggregated.load(Ordering::Relaxed) {
        documents::aggregated_version_accepted(&accept)
    } else {
        None
    };
    let discovery_answer = |core: bool, legacy: Value| match aggregated {
        Some(v) => json_response_typed(
            200,
            &{
                let mut doc = documents::aggregated(&app.sim.shared_discovery(), core, v);
                subresources::add_to_aggregated(&app.sim, &mut doc);
                doc
            },
            &format!("application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList"),
        ),
        None => json_response(200, &legacy),
    };
    match route {
        Route::Version => json_response(200, &documents::version_info(app.release)),
        Route::Health => Response::new(Body::from("ok")),
        Route::CoreVersions => discovery_answer(
            true,
            documents::core_versions(&app.sim.shared_discovery(), &app.address),
        ),
        Route::Groups => {
            discovery_answer(false, documents::group_list(&app.sim.shared_discovery()))
        }
        Route::Group(name) => match documents::group(&app.sim.shared_discovery(), &name) {
            Some(doc) => json_response(200, &doc),
            None => status_response(&Status::no_such_resource()),
        },
        Route::GroupVersion { group, version } => {
            match documents::resource_list(&app.sim.shared_discovery(), &group, &version) {
                Some(mut doc) => {
                    subresources::add_to_resource_list(&app.sim, &group, &version, &mut doc);
                    json_response(200, &doc)
                }
                None => status_response(&Status::no_such_resource()),
            }
        }
        Route::OpenApiV2 | Route::OpenApiV3Index | Route::OpenApiV3 { .. } => {
            openapi::serve(&app, &route, &headers)
                .await
                .unwrap_or_else(|| status_response(&Status::no_such_resource()))
        }
        Route::OpenApi | Route::Unknown => status_response(&Status::no_such_resource()),
        Route::Resource(p) => {
            let body = match axum::body::to_bytes(req.into_body(), 64 << 20).await {
                Ok(b) => b,
                Err(e) => {
                    return status_response(&Status::bad_request(format!(
                        "cannot read the request body: {e}"
                    )));
                }
            };
            let warnings =
                match openapi::check_fields(&app, &method, &p, &query, &headers, &body).await {
                    Ok(warnings) => warnings,
                    Err(status) => return status_response(&status),
                };
            let request = ResourceRequest {
                app: app.clone(),
                path: path.clone(),
                method,
                headers,
                query,
                body,
            };
            let mut response = match request.serve(p).await {
                Ok(resp) => resp,
                Err(status) => status_response(&status),
            };
            openapi::add_warnings(&mut response, &warnings);
            response
        }
    }
}

/// The fields of core `v1` Events a field selector may name besides `metadata.name` and
/// `metadata.namespace` (the API server's event strategy), with where they are read.
const CORE_EVENT_FIELDS: &[(&str, &str)] = &[
    ("involvedObject.kind", "/involvedObject/kind"),
    ("involvedObject.namespace", "/involvedObject/namespace"),
    ("involvedObject.name", "/involvedObject/name"),
    ("involvedObject.uid", "/involvedObject/uid"),
    ("involvedObject.apiVersion", "/involvedObject/apiVersion"),
    (
        "involvedObject.resourceVersion",
        "/involvedObject/resourceVersion",
    ),
    ("involvedObject.fieldPath", "/involvedObject/fieldPath"),
    ("reason", "/reason"),
    ("reportingComponent", "/reportingComponent"),
    ("source", "/source/component"),
    ("type", "/type"),
];

/// The same for `events.k8s.io` Events (the API server converts these field labels to the
/// core ones).
const EVENTS_GROUP_FIELDS: &[(&str, &str)] = &[
    ("regarding.kind", "/regarding/kind"),
    ("regarding.namespace", "/regarding/namespace"),
    ("regarding.name", "/regarding/name"),
    ("regarding.uid", "/regarding/uid"),
    ("regarding.apiVersion", "/regarding/apiVersion"),
    ("regarding.resourceVersion", "/regarding/resourceVersion"),
    ("regarding.fieldPath", "/regarding/fieldPath"),
    ("reason", "/reason"),
    ("reportingController", "/reportingController"),
    ("type", "/type"),
];

/// A field selector of the forms the API server supports: `metadata.name` and
/// `metadata.namespace` on every resource, and the Event fields on Events.
#[derive(Clone, Debug, Default)]
pub(crate) struct FieldSelector {
    terms: Vec<(String, bool, String)>,
}

impl FieldSelector {
    /// A selector of the fields the resource `gvr` supports.
    pub fn parse_for(text: Option<&str>, gvr: &GroupVersionResource) -> Result<Self, Status> {
        let extra = match (gvr.group.as_str(), gvr.resource.as_str()) {
            ("", "events") => CORE_EVENT_FIELDS,
            ("events.k8s.io", "events") => EVENTS_GROUP_FIELDS,
            _ => &[],
        };
        Self::parse_fields(text, extra)
    }

    fn parse_fields(text: Option<&str>, extra: &[(&str, &str)]) -> Result<Self, Status> {
        let mut terms = Vec::new();
        for term in text
            .unwrap_or("")
            .split(',')
            .filter(|t| !t.trim().is_empty())
        {
            let (field, equal, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, true, v)
            } else {
                return Err(Status::bad_request(format!(
                    "invalid selector: '{term}'; can't understand '{term}'"
                )));
            };
            let field = field.trim();
            let path = match field {
                "metadata.name" | "metadata.namespace" => field.to_string(),
                _ => match extra.iter().find(|(f, _)| *f == field) {
                    Some((_, path)) => path.to_string(),
                    None => {
                        return Err(Status::bad_request(format!(
                            "field label not supported: {field}"
                        )));
                    }
                },
            };
            terms.push((path, equal, value.trim().to_string()));
        }
        Ok(FieldSelector { terms })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    pub fn matches(&self, obj: &KubeObject) -> bool {
        self.terms.iter().all(|(field, equal, value)| {
            let text = |path: &str| obj.pointer(path).and_then(Value::as_str).unwrap_or("");
            let actual = match field.as_str() {
                "metadata.name" => obj.name(),
                "metadata.namespace" => obj.namespace().unwrap_or(""),
                // An Event's source is its reporting component when it names none.
                "/source/component" if text(field).is_empty() => text("/reportingComponent"),
                path => text(path),
            };
            (actual == value) == *equal
        })
    }
}

struct ResourceRequest {
    app: Arc<App>,
    /// The URL path, for messages.
    path: String,
    method: Method,
    headers: HeaderMap,
    query: HashMap<String, String>,
    body: Bytes,
}

/// The resource of a request, as discovery describes it.
struct Target {
    path: ResourcePath,
    resource: ApiResource,
    gvr: GroupVersionResource,
    namespace: Option<String>,
}

impl Target {
    fn name(&self) -> &str {
        self.path.name.as_deref().unwrap_or("")
    }

    fn api_version(&self) -> String {
        self.gvr.group_version().api_version()
    }

    /// The Status for a simulator error about this request's object.
    fn status(&self, err: ClusterError, name: &str) -> Status {
        let (plural, group) = (&self.resource.plural, &self.path.group);
        match err {
            ClusterError::NotFound { .. } => Status::not_found(plural, group, name),
            ClusterError::AlreadyExists { .. } => Status::already_exists(plural, group, name),
            ClusterError::Conflict { reason, .. } if reason.starts_with("Apply failed with") => {
                Status::new(409, "Conflict", reason)
            }
            ClusterError::Conflict { reason, .. } => Status::conflict(plural, group, name, &reason),
            ClusterError::Invalid { reason, .. } => {
                Status::invalid(&self.resource.kind, group, name, &reason)
            }
            ClusterError::Forbidden { reason, .. } => Status::new(
                403,
                "Forbidden",
                format!(
                    "{} {name:?} is forbidden: {reason}",
                    if group.is_empty() {
                        plural.clone()
                    } else {
                        format!("{plural}.{group}")
                    }
                ),
            ),
            ClusterError::Gone {
                continue_token: Some(token),
                ..
            } => Status::expired(
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
            )
            .with_continue(token),
            ClusterError::Gone { reason, .. } => Status::expired(format!(
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter. ({reason})"
            )),
            other => Status::internal(other.to_string()),
        }
    }
}

/// An object without the fields list items of a real API server lack.
fn list_item(obj: KubeObject) -> Value {
    let mut value = obj.into_value();
    if let Some(map) = value.as_object_mut() {
        map.remove("apiVersion");
        map.remove("kind");
    }
    value
}

impl ResourceRequest {
    fn param(&self, key: &str) -> Option<&str> {
        self.query
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn content_type(&self) -> String {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }

    fn body_value(&self) -> Result<Value, Status> {
        let content_type = self.content_type();
        if content_type == protobuf::MEDIA_TYPE {
            return protobuf::decode_body(&self.body);
        }
        if content_type.contains("protobuf") || content_type.contains("cbor") {
            return Err(Status::new(
                415,
                "UnsupportedMediaType",
                format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {content_type:?})"
                ),
            ));
        }
        let value: Value = match serde_json::from_slice(&self.body) {
            Ok(v) => v,
            Err(json_error) => serde_yaml_ng::from_slice(&self.body).map_err(|_| {
                Status::bad_request(format!(
                    "the request body is not valid JSON or YAML: {json_error}"
                ))
            })?,
        };
        if value.is_object() {
            Ok(value)
        } else {
            Err(Status::bad_request(
                "the request body must be a JSON object",
            ))
        }
    }

    fn resolve(&self, path: ResourcePath) -> Result<Target, Status> {
        let resource = self
            .app
            .sim
            .api_resource(&path.group, &path.version, &path.resource)
            .ok_or_else(Status::no_such_resource)?;
        if path.namespace.is_some() && !resource.namespaced {
            return Err(Status::no_such_resource());
        }
        if path.name.is_some() && resource.namespaced && path.namespace.is_none() {
            return Err(Status::no_such_resource());
        }
        let gvr = GroupVersionResource::new(&path.group, &path.version, &path.resource);
        let namespace = path.namespace.clone();
        Ok(Target {
            path,
            resource,
            gvr,
            namespace,
        })
    }

    fn require_verb(&self, target: &Target, verb: &str) -> Result<(), Status> {
        if target.resource.supports(verb) {
            Ok(())
        } else {
            Err(Status::method_not_allowed(
                verb,
                &target.resource.plural,
                &target.path.group,
            ))
        }
    }

    async fn serve(&self, path: ResourcePath) -> Result<Response, Status> {
        let target = self.resolve(path)?;
        if let Some(sub) = target.path.subresource.as_deref() {
            if sub == "log"
                && target.gvr.group.is_empty()
                && target.gvr.resource == "pods"
                && self.method == Method::GET
            {
                self.require_verb(&target, "get")?;
                return self.pod_log(&target);
            }
            if !self.app.sim.subresources(&target.gvr).contains(&sub) {
                return Err(Status::no_such_resource());
            }
            if sub == "scale" {
                return self.scale(&target).await;
            }
        }
        // As the API server reads a bool query parameter: present means true unless it is
        // `0` or `false` (any case); the Python client sends `watch=True`.
        let watch = self
            .param("watch")
            .is_some_and(|v| !v.eq_ignore_ascii_case("false") && v != "0");
        match (&self.method, target.path.name.is_some()) {
            (&Method::GET, false) if watch => {
                self.require_verb(&target, "watch")?;
                self.watch(&target)
            }
            (&Method::GET, false) => {
                self.require_verb(&target, "list")?;
                self.list(&target).await
            }
            (&Method::GET, true) => {
                self.require_verb(&target, "get")?;
                self.get(&target).await
            }
            (&Method::POST, false) => {
                self.require_verb(&target, "create")?;
                self.create(&target).await
            }
            (&Method::PUT, true) => {
                self.require_verb(&target, "update")?;
                self.update(&target).await
            }
            (&Method::PATCH, true) => {
                self.require_verb(&target, "patch")?;
                self.patch(&target).await
            }
            (&Method::DELETE, true) => {
                self.require_verb(&target, "delete")?;
                self.delete(&target).await
            }
            (&Method::DELETE, false) => {
                self.require_verb(&target, "deletecollection")?;
                self.delete_collection(&target).await
            }
            (method, _) => Err(Status::new(
                405,
                "MethodNotAllowed",
                format!(
                    "the server does not allow this method on the requested resource ({method})"
                ),
            )),
        }
    }

    /// Every object of the target matching the label and field selectors.
    async fn list_all(
        &self,
        target: &Target,
        fields: &FieldSelector,
    ) -> Result<Vec<KubeObject>, Status> {
        let mut out = Vec::new();
        let mut options = ListOptions {
            label_selector: self.param("labelSelector").map(str::to_string),
            limit: Some(500),
            continue_token: None,
        };
        loop {
            let page = self
                .app
                .sim
                .list_page(&target.gvr, target.namespace.as_deref(), &options)
                .await
                .map_err(|e| self.selector_status(target, e))?;
            out.extend(page.items.into_iter().filter(|o| fields.matches(o)));
            match page.continue_token {
                Some(t) => options.continue_token = Some(t),
                None => return Ok(out),
            }
        }
    }

    fn selector_status(&self, target: &Target, err: ClusterError) -> Status {
        match err {
            ClusterError::Invalid { what, reason } if what == "continue" => {
                Status::bad_request(format!("invalid continue token: {reason}"))
            }
            ClusterError::Invalid { what, reason } => {
                Status::bad_request(format!("unable to parse requirement: {what}: {reason}"))
            }
            other => target.status(other, ""),
        }
    }

    /// `resourceVersion` and `resourceVersionMatch` of a list, for a store that keeps only the
    /// current state: `0`, `NotOlderThan` (or no match) of a version not newer than the
    /// current one are served the current state; `Exact` is served only for the current
    /// version (an older one is gone); a version newer than the current one times out.
    fn check_list_version(&self) -> Result<(), Status> {
        let current = self.app.sim.resource_version();
        let invalid = |message: &str| {
            Status::new(
                422,
                "Invalid",
                format!("ListOptions.meta.k8s.io \"\" is invalid: {message}"),
            )
        };
        let version = self.param("resourceVersion");
        let exact = match self.param("resourceVersionMatch") {
            None => false,
            Some(_) if version.is_none() => {
                return Err(invalid(
                    "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
                ));
            }
            Some("Exact") => true,
            Some("NotOlderThan") => false,
            Some(other) => {
                return Err(invalid(&format!(
                    "resourceVersionMatch: Unsupported value: {other:?}: supported values: \"Exact\", \"NotOlderThan\", \"\""
                )));
            }
        };
        let Some(version) = version else {
            return Ok(());
        };
        if version == "0" {
            return if exact {
                Err(invalid(
                    "resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                ))
            } else {
                Ok(())
            };
        }
        let Ok(asked) = version.parse::<u64>() else {
            return Err(Status::bad_request(format!(
                "invalid resource version: {version:?}"
            )));
        };
        if asked > current {
            return Err(Status::new(
                504,
                "Timeout",
                format!("Too large resource version: {asked}, current: {current}"),
            ));
        }
        if exact && asked < current {
            return Err(Status::new(
                410,
                "Expired",
                format!("too old resource version: {asked} ({current})"),
            ));
        }
        Ok(())
    }

    async fn list(&self, target: &Target) -> Result<Response, Status> {
        self.check_list_version()?;
        let fields = FieldSelector::parse_for(self.param("fieldSelector"), &target.gvr)?;
        let (items, token) = if fields.is_empty() {
            let options = ListOptions {
                label_selector: self.param("labelSelector").map(str::to_string),
                limit: self
                    .param("limit")
                    .and_then(|l| l.parse::<u32>().ok())
                    .filter(|l| *l > 0),
                continue_token: self.param("continue").map(str::to_string),
            };
            let page = self
                .app
                .sim
                .list_page(&target.gvr, target.namespace.as_deref(), &options)
                .await
                .map_err(|e| self.selector_status(target, e))?;
            (page.items, page.continue_token)
        } else {
            (self.list_all(target, &fields).await?, None)
        };
        let mut metadata = json!({"resourceVersion": self.app.sim.resource_version().to_string()});
        if let (Some(t), Some(m)) = (token, metadata.as_object_mut()) {
            m.insert("continue".into(), Value::String(t));
        }
        if let Some((printer, request)) = self.table(target) {
            let table = printer.table(&items, &request, self.app.sim.now(), metadata);
            return Ok(json_response(200, &table));
        }
        let items: Vec<Value> = items.into_iter().map(list_item).collect();
        Ok(json_response(
            200,
            &json!({
                "kind": format!("{}List", target.resource.kind),
                "apiVersion": target.api_version(),
                "metadata": metadata,
                "items": items,
            }),
        ))
    }

    /// The printer and request of a `Table` answer, when the client asks for one.
    fn table(&self, target: &Target) -> Option<(Printer, TableRequest)> {
        let accept = self
            .headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let request = TableRequest::from_accept(accept, self.param("includeObject"))?;
        let printer = Printer::for_resource(
            &self.app.sim,
            self.app.release,
            &target.gvr,
            &target.resource.kind,
        );
        Some((printer, request))
    }

    fn watch(&self, target: &Target) -> Result<Response, Status> {
        let fields = FieldSelector::parse_for(self.param("fieldSelector"), &target.gvr)?;
        let labels = match self.param("labelSelector").filter(|s| !s.trim().is_empty()) {
            Some(s) => Some(LabelSelector::parse(s).map_err(|e| {
                Status::bad_request(format!("unable to parse requirement: {s:?}: {e}"))
            })?),
            None => None,
        };
        let since = self
            .param("resourceVersion")
            .and_then(|rv| rv.parse::<u64>().ok())
            .filter(|rv| *rv > 0);
        let initial_events = self.param("sendInitialEvents") == Some("true");
        let timeout = self
            .param("timeoutSeconds")
            .and_then(|t| t.parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or(Duration::from_secs(1800));
        let stream = watching::events(watching::WatchRequest {
            app: self.app.clone(),
            kind: target.resource.kind.clone(),
            bookmarks: self.param("allowWatchBookmarks") == Some("true"),
            gvr: target.gvr.clone(),
            namespace: target.namespace.clone(),
            labels,
            fields,
            since: if initial_events { None } else { since },
            initial_events_bookmark: initial_events,
            table: self.table(target),
            timeout,
        });
        Ok(Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from_stream(stream))
            .unwrap_or_default())
    }

    /// `GET …/pods/<name>/log`: the container's output as the pod's kubelet keeps it, as
    /// plain text; `container` names the container (required when the pod has several),
    /// `tailLines` keeps the last lines. `follow` is answered with what is there now.
    fn pod_log(&self, target: &Target) -> Result<Response, Status> {
        let name = target.name();
        let pod = self
            .app
            .sim
            .get_object(&target.gvr, target.namespace.as_deref(), name)
            .map_err(|e| Status::internal(e.to_string()))?
            .ok_or_else(|| Status::not_found("pods", "", name))?;
        let containers: Vec<String> = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c.get("name").and_then(Value::as_str).map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let container = match (self.param("container"), containers.as_slice()) {
            (Some(c), _) if containers.iter().any(|n| n == c) => c.to_string(),
            (Some(c), _) => {
                return Err(Status::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )));
            }
            (None, [only]) => only.clone(),
            (None, _) => {
                return Err(Status::bad_request(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    containers.join(" ")
                )));
            }
        };
        let logs = self
            .app
            .pod_logs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let text = logs
            .and_then(|logs| logs.log(&pod, &container))
            .ok_or_else(|| {
                Status::bad_request(format!(
                    "container \"{container}\" in pod \"{name}\" is waiting to start: no log has been written for it"
                ))
            })?;
        let text = match self
            .param("tailLines")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) => {
                let lines: Vec<&str> = text.lines().collect();
                let kept = &lines[lines.len().saturating_sub(n)..];
                let mut out = kept.join("\n");
                if !out.is_empty() {
                    out.push('\n');
                }
                out
            }
            None => text,
        };
        Ok(Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from(text))
            .unwrap_or_default())
    }

    async fn get(&self, target: &Target) -> Result<Response, Status> {
        let name = target.name();
        match self
            .app
            .sim
            .get(&target.gvr, target.namespace.as_deref(), name)
            .await
        {
            Ok(Some(obj)) => match self.table(target) {
                Some((printer, request)) => {
                    let metadata =
                        json!({"resourceVersion": self.app.sim.resource_version().to_string()});
                    let table = printer.table(&[obj], &request, self.app.sim.now(), metadata);
                    Ok(json_response(200, &table))
                }
                None => Ok(json_response(200, &obj.into_value())),
            },
            Ok(None) => Err(Status::not_found(
                &target.resource.plural,
                &target.path.group,
                name,
            )),
            Err(e) => Err(target.status(e, name)),
        }
    }

    /// The body as an object of the target: apiVersion, kind and namespace checked against the
    /// request and filled in when missing; a `generateName` turned into a name.
    fn object_from_body(&self, target: &Target, mut value: Value) -> Result<KubeObject, Status> {
        let api_version = target.api_version();
        let kind = target.resource.kind.clone();
        let Some(map) = value.as_object_mut() else {
            return Err(Status::bad_request(
                "the request body must be a JSON object",
            ));
        };
        match map.get("apiVersion").and_then(Value::as_str) {
            None | Some("") => {
                map.insert("apiVersion".into(), Value::String(api_version.clone()));
            }
            Some(v) if v == api_version => {}
            Some(v) => {
                return Err(Status::bad_request(format!(
                    "the API version in the data ({v}) does not match the expected API version ({api_version})"
                )));
            }
        }
        match map.get("kind").and_then(Value::as_str) {
            None | Some("") => {
                map.insert("kind".into(), Value::String(kind.clone()));
            }
            Some(k) if k == kind => {}
            Some(k) => {
                return Err(Status::bad_request(format!(
                    "the kind in the data ({k}) does not match the expected kind ({kind})"
                )));
            }
        }
        let meta = map
            .entry("metadata")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .ok_or_else(|| Status::bad_request("metadata must be an object"))?;
        if target.resource.namespaced {
            let url_ns = target.namespace.clone().unwrap_or_default();
            match meta.get("namespace").and_then(Value::as_str) {
                None | Some("") => {
                    meta.insert("namespace".into(), Value::String(url_ns));
                }
                Some(ns) if ns == url_ns => {}
                Some(_) => {
                    return Err(Status::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
            }
        } else {
            meta.remove("namespace");
        }
        let has_name = meta
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        if !has_name {
            if let Some(prefix) = meta.get("generateName").and_then(Value::as_str) {
                let n = self.app.generated.fetch_add(1, Ordering::Relaxed);
                let name = format!("{prefix}{}", suffix(n));
                meta.insert("name".into(), Value::String(name));
            } else if let Some(name) = target.path.name.as_deref() {
                meta.insert("name".into(), Value::String(name.to_string()));
            } else {
                return Err(Status::invalid(
                    &kind,
                    &target.path.group,
                    "",
                    "metadata.name: Required value: name or generateName is required",
                ));
            }
        }
        KubeObject::new(value).map_err(|e| Status::bad_request(e.to_string()))
    }

    async fn namespace_must_exist(&self, target: &Target) -> Result<(), Status> {
        let Some(ns) = target
            .namespace
            .as_deref()
            .filter(|_| target.resource.namespaced)
        else {
            return Ok(());
        };
        if self.app.sim.namespace_exists(ns) {
            Ok(())
        } else {
            Err(Status::not_found("namespaces", "", ns))
        }
    }

    /// `dryRun`: absent, or `All`; anything else is refused as the API server refuses it.
    fn dry_run(&self, options_kind: &str) -> Result<bool, Status> {
        match self.query.get("dryRun").map(String::as_str) {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(Status::new(
                422,
                "Invalid",
                format!(
                    "{options_kind}.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: []string{{{other:?}}}: supported values: \"All\""
                ),
            )),
        }
    }

    /// The field manager of a write: `fieldManager`, else the client's program from its
    /// `User-Agent`, as the API server defaults it.
    fn field_manager(&self) -> String {
        if let Some(m) = self.param("fieldManager") {
            return m.to_string();
        }
        let agent = self
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("unknown");
        agent.split('/').next().unwrap_or("unknown").to_string()
    }

    fn write_options(&self, target: &Target, options_kind: &str) -> Result<WriteOptions, Status> {
        Ok(WriteOptions {
            dry_run: self.dry_run(options_kind)?,
            subresource: match target.path.subresource.as_deref() {
                Some("status") => Subresource::Status,
                _ => Subresource::Main,
            },
            field_manager: Some(self.field_manager()),
        })
    }

    fn notify_unless(&self, dry_run: bool) {
        if !dry_run {
            self.app.notify();
        }
    }

    async fn create(&self, target: &Target) -> Result<Response, Status> {
        let options = self.write_options(target, "CreateOptions")?;
        let obj = self.object_from_body(target, self.body_value()?)?;
        self.namespace_must_exist(target).await?;
        let name = obj.name().to_string();
        let created = self
            .app
            .sim
            .create_owned(&target.gvr, obj, &options)
            .map_err(|e| target.status(e, &name))?;
        self.notify_unless(options.dry_run);
        Ok(json_response(201, &created.into_value()))
    }

    async fn update(&self, target: &Target) -> Result<Response, Status> {
        let options = self.write_options(target, "UpdateOptions")?;
        let obj = self.object_from_body(target, self.body_value()?)?;
        if obj.name() != target.name() {
            return Err(Status::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({})",
                obj.name(),
                target.name()
            )));
        }
        let updated = self
            .app
            .sim
            .update_with(&target.gvr, &obj, &options)
            .map_err(|e| target.status(e, obj.name()))?;
        self.notify_unless(options.dry_run);
        Ok(json_response(200, &updated.into_value()))
    }

    async fn current(&self, target: &Target) -> Result<KubeObject, Status> {
        let name = target.name();
        self.app
            .sim
            .get(&target.gvr, target.namespace.as_deref(), name)
            .await
            .map_err(|e| target.status(e, name))?
            .ok_or_else(|| Status::not_found(&target.resource.plural, &target.path.group, name))
    }

    /// The patch document of a PATCH request (YAML allowed for apply).
    fn patch_document(&self) -> Result<Value, Status> {
        match serde_json::from_slice(&self.body) {
            Ok(v) => Ok(v),
            Err(e) if self.content_type() == "application/apply-patch+yaml" => {
                serde_yaml_ng::from_slice(&self.body)
                    .map_err(|_| Status::bad_request(format!("the patch is not valid YAML: {e}")))
            }
            Err(e) => Err(Status::bad_request(format!(
                "the patch is not valid JSON: {e}"
            ))),
        }
    }

    /// Applies a JSON, merge or strategic merge patch to an object's JSON.
    fn apply_patch(&self, target: &Target, value: &mut Value, patch: &Value) -> Result<(), Status> {
        match self.content_type().as_str() {
            "application/json-patch+json" => csdr_core::patch::apply_json_patch(value, patch)
                .map_err(|e| {
                    Status::invalid(
                        &target.resource.kind,
                        &target.path.group,
                        target.name(),
                        &e.to_string(),
                    )
                }),
            "application/merge-patch+json" => {
                csdr_core::patch::apply_merge_patch(value, &without_identity(patch));
                Ok(())
            }
            "application/strategic-merge-patch+json" => {
                apply_strategic_merge_patch(value, &without_identity(patch));
                Ok(())
            }
            other => Err(Status::unsupported_media_type(other)),
        }
    }

    async fn patch(&self, target: &Target) -> Result<Response, Status> {
        let name = target.name().to_string();
        let ns = target.namespace.as_deref();
        let content_type = self.content_type();
        let options = self.write_options(target, "PatchOptions")?;
        let patch = self.patch_document()?;
        if content_type == "application/apply-patch+yaml" {
            let Some(manager) = self.param("fieldManager") else {
                return Err(Status::bad_request(format!(
                    "PATCH {}: fieldManager is required for apply requests",
                    self.path
                )));
            };
            let applied = self.object_from_body(target, patch)?;
            if applied.name() != name {
                return Err(Status::bad_request(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    applied.name()
                )));
            }
            if options.subresource == Subresource::Main {
                self.namespace_must_exist(target).await?;
            }
            let force = match self.param("force") {
                None | Some("false") => false,
                Some("true") => true,
                Some(other) => {
                    return Err(Status::bad_request(format!(
                        "force: Invalid value: {other:?}: must be true or false"
                    )));
                }
            };
            let apply = ApplyOptions {
                field_manager: manager.to_string(),
                force,
                dry_run: options.dry_run,
                subresource: options.subresource,
            };
            let (obj, created) = self
                .app
                .sim
                .apply(&target.gvr, &applied, &apply)
                .map_err(|e| target.status(e, &name))?;
            self.notify_unless(options.dry_run);
            return Ok(json_response(
                if created { 201 } else { 200 },
                &obj.into_value(),
            ));
        }
        if !matches!(
            content_type.as_str(),
            "application/json-patch+json"
                | "application/merge-patch+json"
                | "application/strategic-merge-patch+json"
        ) {
            return Err(Status::unsupported_media_type(&content_type));
        }
        let mut failure = None;
        let result = self
            .app
            .sim
            .modify(&target.gvr, ns, &name, &options, |current| {
                let mut value = current.into_value();
                if let Err(status) = self.apply_patch(target, &mut value, &patch) {
                    let reason = status.message.clone();
                    failure = Some(status);
                    return Err(ClusterError::Invalid {
                        what: name.clone(),
                        reason,
                    });
                }
                KubeObject::new(value).map_err(|e| ClusterError::Invalid {
                    what: name.clone(),
                    reason: e.to_string(),
                })
            });
        let obj = match (result, failure) {
            (Ok(obj), _) => obj,
            (Err(_), Some(status)) => return Err(status),
            (Err(e), None) => return Err(target.status(e, &name)),
        };
        self.notify_unless(options.dry_run);
        Ok(json_response(200, &obj.into_value()))
    }

    /// `DeleteOptions` from the body (if any) and the query.
    fn delete_options(&self) -> Result<DeleteOptions, Status> {
        let body: Value = if self.body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            self.body_value()?
        };
        let dry_run = match body.get("dryRun").and_then(Value::as_array) {
            Some(values) if !values.is_empty() => {
                let all: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
                if all != ["All"] {
                    return Err(Status::new(
                        422,
                        "Invalid",
                        format!(
                            "DeleteOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: {all:?}: supported values: \"All\""
                        ),
                    ));
                }
                true
            }
            _ => self.dry_run("DeleteOptions")?,
        };
        let policy = body
            .get("propagationPolicy")
            .and_then(Value::as_str)
            .or_else(|| self.param("propagationPolicy"));
        let orphan = body
            .get("orphanDependents")
            .and_then(Value::as_bool)
            .or_else(|| self.param("orphanDependents").map(|v| v == "true"));
        let propagation = match (policy, orphan) {
            (Some(p), _) => p.parse::<Propagation>().map_err(|reason| {
                Status::new(
                    422,
                    "Invalid",
                    format!("DeleteOptions.meta.k8s.io \"\" is invalid: {reason}"),
                )
            })?,
            (None, Some(true)) => Propagation::Orphan,
            (None, _) => Propagation::Background,
        };
        let precondition = |k: &str| {
            body.pointer(&format!("/preconditions/{k}"))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        Ok(DeleteOptions {
            dry_run,
            propagation,
            uid: precondition("uid"),
            resource_version: precondition("resourceVersion"),
        })
    }

    async fn delete(&self, target: &Target) -> Result<Response, Status> {
        let options = self.delete_options()?;
        let name = target.name();
        let deletion = self
            .app
            .sim
            .delete_with(&target.gvr, target.namespace.as_deref(), name, &options)
            .map_err(|e| target.status(e, name))?;
        self.notify_unless(options.dry_run);
        Ok(match deletion {
            Deletion::Pending(obj) => json_response(200, &obj.into_value()),
            Deletion::Deleted(obj) => {
                let uid = obj
                    .metadata()
                    .and_then(|m| m.get("uid"))
                    .cloned()
                    .unwrap_or(Value::Null);
                json_response(
                    200,
                    &json!({
                        "kind": "Status", "apiVersion": "v1", "metadata": {},
                        "status": "Success",
                        "details": {"name": name, "group": target.path.group,
                            "kind": target.resource.plural, "uid": uid},
                    }),
                )
            }
        })
    }

    async fn delete_collection(&self, target: &Target) -> Result<Response, Status> {
        let options = self.delete_options()?;
        let fields = FieldSelector::parse_for(self.param("fieldSelector"), &target.gvr)?;
        let objects = self.list_all(target, &fields).await?;
        let mut items = Vec::new();
        for obj in &objects {
            let deletion = self
                .app
                .sim
                .delete_with(&target.gvr, obj.namespace(), obj.name(), &options)
                .map_err(|e| target.status(e, obj.name()))?;
            items.push(list_item(deletion.into_object()));
        }
        self.notify_unless(options.dry_run);
        Ok(json_response(
            200,
            &json!({
                "kind": format!("{}List", target.resource.kind),
                "apiVersion": target.api_version(),
                "metadata": {"resourceVersion": self.app.sim.resource_version().to_string()},
                "items": items,
            }),
        ))
    }

    /// GET, PUT and PATCH of `.../scale`.
    async fn scale(&self, target: &Target) -> Result<Response, Status> {
        let Some(paths) = self.app.sim.scale_paths(&target.gvr) else {
            return Err(Status::no_such_resource());
        };
        let name = target.name().to_string();
        let ns = target.namespace.as_deref();
        let requested = match self.method {
            Method::GET => {
                self.require_verb(target, "get")?;
                let current = self.current(target).await?;
                return Ok(json_response(
                    200,
                    &subresources::scale_of(&current, &target.gvr, &paths),
                ));
            }
            Method::PUT => {
                self.require_verb(target, "update")?;
                self.body_value()?
            }
            Method::PATCH => {
                self.require_verb(target, "patch")?;
                let current = self.current(target).await?;
                let mut scale = subresources::scale_of(&current, &target.gvr, &paths);
                let patch = self.patch_document()?;
                if self.content_type() == "application/apply-patch+yaml" {
                    csdr_core::patch::apply_merge_patch(&mut scale, &without_identity(&patch));
                } else {
                    self.apply_patch(target, &mut scale, &patch)?;
                }
                scale
            }
            _ => {
                return Err(Status::method_not_allowed(
                    self.method.as_str(),
                    &target.resource.plural,
                    &target.path.group,
                ));
            }
        };
        let replicas = subresources::requested_replicas(&requested)?;
        let precondition = requested
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .filter(|rv| !rv.is_empty())
            .map(str::to_string);
        let options = WriteOptions {
            subresource: Subresource::Main,
            ..self.write_options(target, "UpdateOptions")?
        };
        let spec_path = paths.spec_replicas.clone();
        let updated = self
            .app
            .sim
            .modify(&target.gvr, ns, &name, &options, |mut obj| {
                let mut value = obj.to_value();
                set_pointer(&mut value, &spec_path, json!(replicas));
                obj = KubeObject::new(value).map_err(|e| ClusterError::Invalid {
                    what: name.clone(),
                    reason: e.to_string(),
                })?;
                if let Some(rv) = precondition {
                    obj.metadata_mut()
                        .insert("resourceVersion".into(), Value::String(rv));
                }
                Ok(obj)
            })
            .map_err(|e| target.status(e, &name))?;
        self.notify_unless(options.dry_run);
        Ok(json_response(
            200,
            &subresources::scale_of(&updated, &target.gvr, &paths),
        ))
    }
}

/// Sets the value at a JSON pointer, creating the maps on the way.
fn set_pointer(value: &mut Value, pointer: &str, new: Value) {
    let mut at = value;
    let parts: Vec<&str> = pointer.split('/').skip(1).collect();
    let Some((last, parents)) = parts.split_last() else {
        return;
    };
    for part in parents {
        if !at.get(*part).is_some_and(Value::is_object)
            && let Some(map) = at.as_object_mut()
        {
            map.insert(part.to_string(), json!({}));
        }
        at = match at {
            Value::Object(map) => map.entry(part.to_string()).or_insert_with(|| json!({})),
            other => other,
        };
    }
    if let Some(map) = at.as_object_mut() {
        map.insert(last.to_string(), new);
    }
}

/// A patch without `apiVersion` and `kind`: a patch never moves an object to another kind.
fn without_identity(patch: &Value) -> Value {
    let mut patch = patch.clone();
    if let Some(map) = patch.as_object_mut() {
        map.remove("apiVersion");
        map.remove("kind");
    }
    patch
}

/// A 5-character suffix for `generateName`, from a counter (lower-case letters and digits,
/// as the API server's random suffixes).
fn suffix(n: u64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut n = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16;
    (0..5)
        .map(|_| {
            let c = ALPHABET[(n % ALPHABET.len() as u64) as usize] as char;
            n /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_selectors() {
        let cms = GroupVersionResource::new("", "v1", "configmaps");
        let obj = KubeObject::new(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "n"}}))
        .unwrap();
        let sel =
            FieldSelector::parse_for(Some("metadata.name=a,metadata.namespace==n"), &cms).unwrap();
        assert!(sel.matches(&obj));
        assert!(
            !FieldSelector::parse_for(Some("metadata.name!=a"), &cms)
                .unwrap()
                .matches(&obj)
        );
        let events = GroupVersionResource::new("", "v1", "events");
        let event = KubeObject::new(json!({"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "e", "namespace": "n"}, "type": "Normal", "reason": "Synced",
            "involvedObject": {"kind": "Widget", "name": "w", "namespace": "n", "uid": "u1"},
            "reportingComponent": "widget-controller"}))
        .unwrap();
        let about = FieldSelector::parse_for(
            Some("involvedObject.name=w,involvedObject.namespace=n,involvedObject.kind=Widget,involvedObject.uid=u1"),
            &events,
        )
        .unwrap();
        assert!(about.matches(&event));
        let other = FieldSelector::parse_for(Some("involvedObject.uid=u2"), &events).unwrap();
        assert!(!other.matches(&event));
        let source = FieldSelector::parse_for(
            Some("source=widget-controller,type=Normal,reason!=Failed"),
            &events,
        )
        .unwrap();
        assert!(source.matches(&event));
        // Event fields are for Events only.
        let configmaps = GroupVersionResource::new("", "v1", "configmaps");
        assert!(FieldSelector::parse_for(Some("involvedObject.name=w"), &configmaps).is_err());
        let err = FieldSelector::parse_for(Some("spec.nodeName=x"), &cms).unwrap_err();
        assert_eq!(err.code, 400);
        assert!(err.message.contains("spec.nodeName"));
    }

    #[test]
    fn generated_suffixes_differ() {
        let names: std::collections::BTreeSet<String> = (0..1000).map(suffix).collect();
        assert_eq!(names.len(), 1000);
        assert!(names.iter().all(|n| n.len() == 5));
    }
}
