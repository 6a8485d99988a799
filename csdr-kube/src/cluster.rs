//! [`KubeCluster`]: the core's [`Cluster`] port on a real Kubernetes API server through `kube`.
//!
//! Objects cross as JSON (`DynamicObject`-shaped [`KubeObject`]s) at an explicit group, version
//! and resource, so no Kubernetes version feature of `k8s-openapi` is needed and every resource,
//! built-in or custom, is handled alike. Requests go through [`kube::Client::send`]; answers
//! are mapped by [`crate::api_errors`], and transient failures (429 with `Retry-After`, 5xx,
//! network errors) are retried by a bounded [`RetryPolicy`] before they become
//! [`ClusterError::Unavailable`].
//!
//! ```no_run
//! use csdr_core::ports::cluster::Cluster;
//! use csdr_kube::KubeCluster;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let cluster = KubeCluster::try_default().await?; // kubeconfig or in-cluster
//! let discovery = cluster.discover().await?;
//! for warning in cluster.discovery_warnings() {
//!     eprintln!("{warning}");
//! }
//! println!("{} API groups", discovery.groups.len());
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use csdr_core::discovery::{DiscoveredGroup, DiscoveredVersion, Discovery};
use csdr_core::object::{GroupVersionResource, KubeObject};
use csdr_core::ports::cluster::{
    Cluster, ClusterError, ListOptions, ObjectPage, ObjectText, WaitCondition,
};
use futures::StreamExt;
use http_body_util::BodyExt;
use kube::api::{DeleteParams, GetParams, ListParams, Patch, PatchParams, PostParams, WatchParams};
use kube::client::Body;
use kube::core::Request;
use serde_json::Value;

use crate::api_errors::{error_from_answer, is_transient_status};
use crate::discovery::{
    AGGREGATED_ACCEPT, DiscoveryWarning, LegacyGroup, aggregated_groups, is_aggregated,
    legacy_core_versions, legacy_groups, legacy_resources,
};
use crate::retry::{RetryPolicy, parse_retry_after};

/// Why a [`KubeCluster`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL given is not a valid API server URL.
    #[error(
        "invalid Kubernetes API server URL {url:?}: {reason}; give one like http://127.0.0.1:6443"
    )]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
        /// The URI parser's error, when it rejected the URL.
        #[source]
        source: Option<http::uri::InvalidUri>,
    },
    /// No kubeconfig or in-cluster configuration could be loaded.
    #[error(
        "no Kubernetes configuration found: {source}; set KUBECONFIG or run inside a pod with a service account"
    )]
    Config {
        /// What kube reported.
        #[source]
        source: kube::config::InferConfigError,
    },
    /// The HTTP client could not be built from the configuration.
    #[error("cannot build a Kubernetes client: {source}")]
    Client {
        /// What kube reported.
        #[source]
        source: kube::Error,
    },
}

/// The facts a call needs about a resource, learnt from the last discovery.
#[derive(Clone, Debug)]
struct ResourceFacts {
    kind: String,
    namespaced: bool,
}

/// A Kubernetes API server reached through `kube`.
pub struct KubeCluster {
    client: kube::Client,
    /// The configuration the client was made from (`None` for [`KubeCluster::new`]).
    config: Option<kube::Config>,
    retry: RetryPolicy,
    warnings: Mutex<Vec<DiscoveryWarning>>,
    facts: Mutex<HashMap<GroupVersionResource, ResourceFacts>>,
}

impl std::fmt::Debug for KubeCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeCluster")
            .field("retry", &self.retry)
            .finish()
    }
}

/// One HTTP answer, body read.
struct Answer {
    body: Bytes,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn build_error(what: &str, e: impl std::fmt::Display) -> ClusterError {
    ClusterError::Protocol {
        what: what.to_string(),
        reason: format!("cannot build the request: {e}"),
    }
}

impl KubeCluster {
    /// A cluster behind an existing client. Calls are retried by this adapter's
    /// [`RetryPolicy`]; a client built with kube's own retry layer (`Config::default_retry`)
    /// retries 429/503/504 on top of it.
    pub fn new(client: kube::Client) -> Self {
        KubeCluster {
            client,
            config: None,
            retry: RetryPolicy::default(),
            warnings: Mutex::new(Vec::new()),
            facts: Mutex::new(HashMap::new()),
        }
    }

    /// The cluster of the local kubeconfig (`KUBECONFIG`, `~/.kube/config`) or, inside a pod,
    /// of its service account, as kube infers it.
    pub async fn try_default() -> Result<Self, ConnectError> {
        let mut config = kube::Config::infer()
            .await
            .map_err(|source| ConnectError::Config { source })?;
        config.default_retry = false;
        Self::from_config(config)
    }

    /// The API server at `url` without authentication (e.g. the test API server on loopback).
    pub fn from_url(url: &str) -> Result<Self, ConnectError> {
        let uri: http::Uri =
            url.parse()
                .map_err(|e: http::uri::InvalidUri| ConnectError::InvalidUrl {
                    url: url.to_string(),
                    reason: e.to_string(),
                    source: Some(e),
                })?;
        if uri.scheme().is_none() || uri.host().is_none() {
            return Err(ConnectError::InvalidUrl {
                url: url.to_string(),
                reason: "it needs a scheme and a host".into(),
                source: None,
            });
        }
        let mut config = kube::Config::new(uri);
        config.default_retry = false;
        Self::from_config(config)
    }

    /// A cluster from a kube configuration (kube's own retry layer is turned off: this adapter
    /// retries).
    pub fn from_config(mut config: kube::Config) -> Result<Self, ConnectError> {
        config.default_retry = false;
        let client = kube::Client::try_from(config.clone())
            .map_err(|source| ConnectError::Client { source })?;
        Ok(KubeCluster {
            config: Some(config),
            ..Self::new(client)
        })
    }

    /// Another connection to the same cluster, with the same retry policy: a client of its
    /// own, whose request queue and connections run on the runtime this is called on. A job
    /// that runs on a runtime of its own (the controller runs each backup and restore on a
    /// thread of its own) then sends its requests without a hop to the runtime this adapter
    /// was made on — a restore over HTTP takes about a tenth less time (BENCHMARKS.md). An
    /// adapter made from a client ([`KubeCluster::new`]) does not know its configuration:
    /// the copy shares that client.
    ///
    /// # Errors
    /// [`ConnectError::Client`] when the client cannot be built again.
    pub fn connect_again(&self) -> Result<KubeCluster, ConnectError> {
        let client = match &self.config {
            Some(config) => kube::Client::try_from(config.clone())
                .map_err(|source| ConnectError::Client { source })?,
            None => self.client.clone(),
        };
        Ok(KubeCluster {
            client,
            config: self.config.clone(),
            retry: self.retry.clone(),
            warnings: Mutex::new(Vec::new()),
            facts: Mutex::new(lock(&self.facts).clone()),
        })
    }

    /// The same cluster retrying by `retry`.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The underlying client.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// The groups the last [`Cluster::discover`] left out because they could not be read
    /// (empty when every group was read). The engine reports them as warnings.
    pub fn discovery_warnings(&self) -> Vec<DiscoveryWarning> {
        lock(&self.warnings).clone()
    }

    /// Sends a request, retrying transient failures; the body of a 2xx answer, or the error.
    async fn send(
        &self,
        what: &str,
        request: http::Request<Vec<u8>>,
    ) -> Result<Answer, ClusterError> {
        let (parts, body) = request.into_parts();
        self.send_body(what, &parts, Bytes::from(body)).await
    }

    /// [`Self::send`] with the request's head and body apart: the body is shared, not
    /// copied, by each attempt.
    async fn send_body(
        &self,
        what: &str,
        parts: &http::request::Parts,
        body: Bytes,
    ) -> Result<Answer, ClusterError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let mut req = http::Request::builder()
                .method(parts.method.clone())
                .uri(parts.uri.clone());
            if let Some(h) = req.headers_mut() {
                h.extend(parts.headers.clone());
            }
            let req = req
                .body(Body::from(body.clone()))
                .map_err(|e| build_error(what, e))?;
            let (error, retry_after) = match self.client.send(req).await {
                Ok(resp) => {
                    let code = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get(http::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after);
                    let bytes = match resp.into_body().collect().await {
                        Ok(b) => b.to_bytes(),
                        Err(e) => {
                            let err = ClusterError::Unavailable {
                                reason: format!("{what}: reading the answer failed: {e}"),
                            };
                            if self.retry.retries_after(attempt) {
                                tokio::time::sleep(self.retry.delay(attempt, None)).await;
                                continue;
                            }
                            return Err(err);
                        }
                    };
                    if (200..300).contains(&code) {
                        return Ok(Answer { body: bytes });
                    }
                    let err = error_from_answer(what, code, &bytes);
                    if !is_transient_status(code) {
                        return Err(err);
                    }
                    (err, retry_after)
                }
                Err(e) => (
                    ClusterError::Unavailable {
                        reason: format!("{what}: {e}"),
                    },
                    None,
                ),
            };
            if !self.retry.retries_after(attempt) {
                return Err(match error {
                    ClusterError::Unavailable { reason } => ClusterError::Unavailable {
                        reason: format!("{reason} (gave up after {attempt} attempts)"),
                    },
                    other => other,
                });
            }
            let delay = self.retry.delay(attempt, retry_after);
            tracing::debug!(%what, attempt, ?delay, error = %error, "retrying");
            tokio::time::sleep(delay).await;
        }
    }

    async fn get_json(&self, what: &str, path: &str, accept: &str) -> Result<Value, ClusterError> {
        let req = http::Request::get(path)
            .header(http::header::ACCEPT, accept)
            .body(Vec::new())
            .map_err(|e| build_error(what, e))?;
        let answer = self.send(what, req).await?;
        parse_json(what, &answer.body)
    }

    fn facts(&self, gvr: &GroupVersionResource) -> Option<ResourceFacts> {
        lock(&self.facts).get(gvr).cloned()
    }

    /// The collection URL; the namespace is dropped for a resource discovery says is
    /// cluster-scoped.
    fn collection_path(&self, gvr: &GroupVersionResource, namespace: Option<&str>) -> String {
        let base = if gvr.group.is_empty() {
            format!("/api/{}", gvr.version)
        } else {
            format!("/apis/{}/{}", gvr.group, gvr.version)
        };
        let namespaced = self.facts(gvr).is_none_or(|f| f.namespaced);
        match namespace {
            Some(ns) if namespaced && !ns.is_empty() => {
                format!("{base}/namespaces/{ns}/{}", gvr.resource)
            }
            _ => format!("{base}/{}", gvr.resource),
        }
    }

    fn describe(gvr: &GroupVersionResource, namespace: Option<&str>, name: &str) -> String {
        match namespace {
            Some(ns) if !ns.is_empty() => format!("{} {ns}/{name}", gvr.group_resource()),
            _ => format!("{} {name}", gvr.group_resource()),
        }
    }

    /// An object from an answer, apiVersion and kind filled in from the request when missing.
    fn object_from(
        &self,
        what: &str,
        gvr: &GroupVersionResource,
        kind_hint: Option<&str>,
        mut value: Value,
    ) -> Result<KubeObject, ClusterError> {
        if let Some(map) = value.as_object_mut() {
            let missing = |v: Option<&Value>| v.and_then(Value::as_str).is_none_or(str::is_empty);
            if missing(map.get("apiVersion")) {
                map.insert(
                    "apiVersion".into(),
                    Value::String(gvr.group_version().api_version()),
                );
            }
            if missing(map.get("kind")) {
                let kind = self
                    .facts(gvr)
                    .map(|f| f.kind)
                    .or_else(|| kind_hint.map(str::to_string))
                    .unwrap_or_default();
                map.insert("kind".into(), Value::String(kind));
            }
        }
        KubeObject::new(value).map_err(|e| ClusterError::Protocol {
            what: what.to_string(),
            reason: e.to_string(),
        })
    }

    async fn discover_legacy(&self) -> Result<(Discovery, Vec<DiscoveryWarning>), ClusterError> {
        let mut warnings = Vec::new();
        let mut discovery = Discovery::default();
        let core = self.get_json("/api", "/api", "application/json").await?;
        let mut core_versions = Vec::new();
        for version in legacy_core_versions(&core) {
            let path = format!("/api/{version}");
            let doc = self.get_json(&path, &path, "application/json").await?;
            core_versions.push(DiscoveredVersion {
                version,
                resources: legacy_resources(&doc),
            });
        }
        if let Some(first) = core_versions.first() {
            discovery.groups.push(DiscoveredGroup {
                name: String::new(),
                preferred_version: first.version.clone(),
                versions: core_versions,
            });
        }
        let apis = self.get_json("/apis", "/apis", "application/json").await?;
        let groups = legacy_groups(&apis);
        let fetches: Vec<_> = groups
            .into_iter()
            .map(|g| Box::pin(self.legacy_group(g)))
            .collect();
        let results: Vec<_> = futures::stream::iter(fetches).buffered(8).collect().await;
        for result in results {
            match result {
                Ok(group) => discovery.groups.push(group),
                Err(warning) => warnings.push(warning),
            }
        }
        Ok((discovery, warnings))
    }

    /// One group of legacy discovery: every version's resource list, or a warning.
    async fn legacy_group(&self, g: LegacyGroup) -> Result<DiscoveredGroup, DiscoveryWarning> {
        let mut versions = Vec::new();
        for version in &g.versions {
            let path = format!("/apis/{}/{version}", g.name);
            match self.get_json(&path, &path, "application/json").await {
                Ok(doc) => versions.push(DiscoveredVersion {
                    version: version.clone(),
                    resources: legacy_resources(&doc),
                }),
                Err(e) => {
                    return Err(DiscoveryWarning {
                        group: g.name.clone(),
                        version: Some(version.clone()),
                        reason: e.to_string(),
                    });
                }
            }
        }
        Ok(DiscoveredGroup {
            name: g.name,
            preferred_version: g.preferred_version,
            versions,
        })
    }

    async fn discover_aggregated(
        &self,
    ) -> Result<Option<(Discovery, Vec<DiscoveryWarning>)>, ClusterError> {
        let core = self.get_json("/api", "/api", AGGREGATED_ACCEPT).await?;
        if !is_aggregated(&core) {
            return Ok(None);
        }
        let apis = self.get_json("/apis", "/apis", AGGREGATED_ACCEPT).await?;
        if !is_aggregated(&apis) {
            return Ok(None);
        }
        let (mut groups, mut warnings) = aggregated_groups(&core);
        let (more, more_warnings) = aggregated_groups(&apis);
        groups.extend(more);
        warnings.extend(more_warnings);
        Ok(Some((
            Discovery {
                groups,
                ..Default::default()
            },
            warnings,
        )))
    }

    fn remember(&self, discovery: &Discovery) {
        let mut facts = lock(&self.facts);
        facts.clear();
        for g in &discovery.groups {
            for v in &g.versions {
                for r in &v.resources {
                    facts.insert(
                        GroupVersionResource::new(&g.name, &v.version, &r.plural),
                        ResourceFacts {
                            kind: r.kind.clone(),
                            namespaced: r.namespaced,
                        },
                    );
                }
            }
        }
    }

    async fn get_value(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<KubeObject>, ClusterError> {
        let what = Self::describe(gvr, namespace, name);
        let req = Request::new(self.collection_path(gvr, namespace))
            .get(name, &GetParams::default())
            .map_err(|e| build_error(&what, e))?;
        match self.send(&what, req).await {
            Ok(answer) => {
                let value = parse_json(&what, &answer.body)?;
                self.object_from(&what, gvr, None, value).map(Some)
            }
            Err(ClusterError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Watches one object until `condition` holds; `Ok(None)` when the watch ended first.
    async fn watch_until(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
        resource_version: &str,
        condition: WaitCondition,
        seconds: u32,
    ) -> Result<Option<KubeObject>, ClusterError> {
        let what = &Self::describe(gvr, namespace, name);
        let params = WatchParams::default()
            .fields(&format!("metadata.name={name}"))
            .timeout(seconds.clamp(1, 290));
        let req = Request::new(self.collection_path(gvr, namespace))
            .watch(&params, resource_version)
            .map_err(|e| build_error(what, e))?;
        let (parts, body) = req.into_parts();
        let req = http::Request::from_parts(parts, Body::from(body));
        let resp = self
            .client
            .send(req)
            .await
            .map_err(|e| ClusterError::Unavailable {
                reason: format!("{what}: {e}"),
            })?;
        let code = resp.status().as_u16();
        if !(200..300).contains(&code) {
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            return Err(error_from_answer(what, code, &bytes));
        }
        let mut body = resp.into_body().into_data_stream();
        let mut buffer: Vec<u8> = Vec::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| ClusterError::Unavailable {
                reason: format!("{what}: watch interrupted: {e}"),
            })?;
            buffer.extend_from_slice(&chunk);
            while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=end).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let event = parse_json(what, &line)?;
                let object = event.get("object").cloned().unwrap_or(Value::Null);
                match event.get("type").and_then(Value::as_str) {
                    Some("ADDED") | Some("MODIFIED") => {
                        let obj = self.object_from(what, gvr, None, object)?;
                        if obj.name() == name && condition.is_met(&obj) {
                            return Ok(Some(obj));
                        }
                    }
                    Some("ERROR") => {
                        let code = object.get("code").and_then(Value::as_u64).unwrap_or(500);
                        let bytes = serde_json::to_vec(&object).unwrap_or_default();
                        return Err(error_from_answer(what, code as u16, &bytes));
                    }
                    _ => {}
                }
            }
        }
        Ok(None)
    }
}

fn parse_json(what: &str, body: &[u8]) -> Result<Value, ClusterError> {
    serde_json::from_slice(body).map_err(|e| ClusterError::Protocol {
        what: what.to_string(),
        reason: format!("the answer is not JSON: {e}"),
    })
}

#[async_trait]
impl Cluster for KubeCluster {
    async fn discover(&self) -> Result<Discovery, ClusterError> {
        let (mut discovery, warnings) = match self.discover_aggregated().await {
            Ok(Some(found)) => found,
            Ok(None) | Err(ClusterError::NotFound { .. }) | Err(ClusterError::Invalid { .. }) => {
                self.discover_legacy().await?
            }
            Err(e) => return Err(e),
        };
        for w in &warnings {
            tracing::warn!("{w}");
        }
        discovery.unavailable = warnings
            .iter()
            .map(|w| csdr_core::discovery::UnavailableGroup {
                group: w.group.clone(),
                version: w.version.clone(),
                reason: w.reason.clone(),
            })
            .collect();
        self.remember(&discovery);
        *lock(&self.warnings) = warnings;
        Ok(discovery)
    }

    async fn list_page(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        options: &ListOptions,
    ) -> Result<ObjectPage, ClusterError> {
        let what = match namespace {
            Some(ns) => format!("{} in namespace {ns}", gvr.group_resource()),
            None => gvr.group_resource(),
        };
        let mut params = ListParams::default();
        if let Some(l) = options.limit {
            params = params.limit(l);
        }
        if let Some(t) = options.continue_token.as_deref().filter(|t| !t.is_empty()) {
            params = params.continue_token(t);
        }
        if let Some(s) = options.label_selector.as_deref().filter(|s| !s.is_empty()) {
            params = params.labels(s);
        }
        let req = Request::new(self.collection_path(gvr, namespace))
            .list(&params)
            .map_err(|e| build_error(&what, e))?;
        let answer = self.send(&what, req).await?;
        let list = parse_json(&what, &answer.body)?;
        let kind_hint = list
            .get("kind")
            .and_then(Value::as_str)
            .and_then(|k| k.strip_suffix("List"))
            .map(str::to_string);
        let items = match list.get("items") {
            Some(Value::Array(items)) => items.clone(),
            Some(Value::Null) | None => Vec::new(),
            Some(_) => {
                return Err(ClusterError::Protocol {
                    what,
                    reason: "the list's items is not an array".into(),
                });
            }
        };
        let items = items
            .into_iter()
            .map(|item| self.object_from(&what, gvr, kind_hint.as_deref(), item))
            .collect::<Result<Vec<_>, _>>()?;
        let continue_token = list
            .pointer("/metadata/continue")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        Ok(ObjectPage {
            items,
            continue_token,
        })
    }

    async fn get(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<KubeObject>, ClusterError> {
        self.get_value(gvr, namespace, name).await
    }

    async fn create(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<KubeObject, ClusterError> {
        let what = Self::describe(gvr, object.namespace(), object.name());
        let body = serde_json::to_vec(object.fields()).map_err(|e| build_error(&what, e))?;
        let req = Request::new(self.collection_path(gvr, object.namespace()))
            .create(&PostParams::default(), body)
            .map_err(|e| build_error(&what, e))?;
        let answer = self.send(&what, req).await?;
        let value = parse_json(&what, &answer.body)?;
        self.object_from(&what, gvr, Some(object.kind()), value)
    }

    async fn create_unread(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<(), ClusterError> {
        let what = Self::describe(gvr, object.namespace(), object.name());
        let body = serde_json::to_vec(object.fields()).map_err(|e| build_error(&what, e))?;
        let req = Request::new(self.collection_path(gvr, object.namespace()))
            .create(&PostParams::default(), body)
            .map_err(|e| build_error(&what, e))?;
        // A 2xx answer means the object was stored; its body (the stored object) is not read.
        self.send(&what, req).await.map(|_| ())
    }

    async fn create_text_unread(
        &self,
        gvr: &GroupVersionResource,
        object: &ObjectText<'_>,
    ) -> Result<(), ClusterError> {
        let what = Self::describe(gvr, object.namespace, object.name);
        // The text is sent as it is: no parse, no second serialization.
        let req = Request::new(self.collection_path(gvr, object.namespace))
            .create(&PostParams::default(), Vec::new())
            .map_err(|e| build_error(&what, e))?;
        let (parts, _) = req.into_parts();
        self.send_body(&what, &parts, object.json.clone())
            .await
            .map(|_| ())
    }

    async fn update(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<KubeObject, ClusterError> {
        let what = Self::describe(gvr, object.namespace(), object.name());
        let body = serde_json::to_vec(object.fields()).map_err(|e| build_error(&what, e))?;
        let req = Request::new(self.collection_path(gvr, object.namespace()))
            .replace(object.name(), &PostParams::default(), body)
            .map_err(|e| build_error(&what, e))?;
        let answer = self.send(&what, req).await?;
        let value = parse_json(&what, &answer.body)?;
        self.object_from(&what, gvr, Some(object.kind()), value)
    }

    async fn dry_run_create(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<KubeObject, ClusterError> {
        let what = Self::describe(gvr, object.namespace(), object.name());
        let body = serde_json::to_vec(object.fields()).map_err(|e| build_error(&what, e))?;
        let params = PostParams {
            dry_run: true,
            ..PostParams::default()
        };
        let req = Request::new(self.collection_path(gvr, object.namespace()))
            .create(&params, body)
            .map_err(|e| build_error(&what, e))?;
        let answer = self.send(&what, req).await?;
        let value = parse_json(&what, &answer.body)?;
        self.object_from(&what, gvr, Some(object.kind()), value)
    }

    async fn dry_run_update(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<KubeObject, ClusterError> {
        let what = Self::describe(gvr, object.namespace(), object.name());
        let body = serde_json::to_vec(object.fields()).map_err(|e| build_error(&what, e))?;
        let params = PostParams {
            dry_run: true,
            ..PostParams::default()
        };
        let req = Request::new(self.collection_path(gvr, object.namespace()))
            .replace(object.name(), &params, body)
            .map_err(|e| build_error(&what, e))?;
        let answer = self.send(&what, req).await?;
        let value = parse_json(&what, &answer.body)?;
        self.object_from(&what, gvr, Some(object.kind()), value)
    }

    async fn patch_merge(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> Result<KubeObject, ClusterError> {
        let what = Self::describe(gvr, namespace, name);
        let req = Request::new(self.collection_path(gvr, namespace))
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .map_err(|e| build_error(&what, e))?;
        let answer = self.send(&what, req).await?;
        let value = parse_json(&what, &answer.body)?;
        self.object_from(&what, gvr, None, value)
    }

    async fn delete(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(), ClusterError> {
        let what = Self::describe(gvr, namespace, name);
        let req = Request::new(self.collection_path(gvr, namespace))
            .delete(name, &DeleteParams::background())
            .map_err(|e| build_error(&what, e))?;
        self.send(&what, req).await.map(|_| ())
    }

    async fn wait_for(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
        condition: WaitCondition,
        timeout: Duration,
    ) -> Result<KubeObject, ClusterError> {
        let what = Self::describe(gvr, namespace, name);
        let timed_out = || ClusterError::Timeout {
            what: what.clone(),
            condition: condition.name().to_string(),
            timeout,
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let waiting = async {
            loop {
                let current = self
                    .get_value(gvr, namespace, name)
                    .await?
                    .ok_or_else(|| ClusterError::NotFound { what: what.clone() })?;
                if condition.is_met(&current) {
                    return Ok(current);
                }
                let rv = current
                    .metadata()
                    .and_then(|m| m.get("resourceVersion"))
                    .and_then(Value::as_str)
                    .unwrap_or("0")
                    .to_string();
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                let seconds = u32::try_from(left.as_secs().saturating_add(1)).unwrap_or(u32::MAX);
                match self
                    .watch_until(gvr, namespace, name, &rv, condition, seconds)
                    .await
                {
                    Ok(Some(obj)) => return Ok(obj),
                    // The watch ended or its resourceVersion expired: read again and rewatch.
                    Ok(None) | Err(ClusterError::Gone { .. }) => {}
                    Err(e) if e.is_transient() => {
                        tokio::time::sleep(self.retry.delay(1, None)).await;
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        match tokio::time::timeout_at(deadline, waiting).await {
            Ok(result) => result,
            Err(_) => Err(timed_out()),
        }
    }
}
