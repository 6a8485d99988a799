//! An HTTP Kubernetes API server over the core's [`SimCluster`], for tests and demos
//! (feature `testing`).
//!
//! [`ApiServer`] listens on a loopback address and answers the Kubernetes REST protocol well
//! enough for `kube` clients and `kubectl`: `/version`; discovery (`/api`, `/apis`,
//! `/apis/<group>`, `/api/v1`, `/apis/<group>/<version>`, and aggregated discovery when asked
//! for); list (with `limit`/`continue`, `labelSelector`, `fieldSelector` on `metadata.name` and
//! `metadata.namespace`, all namespaces), `watch=true`, get, create, update, patch (JSON merge,
//! JSON patch, strategic merge approximated as in [`strategic`], server-side apply), delete and
//! deletecollection, for namespaced and cluster-scoped resources at every version the cluster
//! serves; errors as `Status` objects. There is no authentication: it is for loopback only.
//!
//! Lifecycle, as the core's [`SimCluster`] keeps it (see its module docs): the `status`
//! subresource of built-in types and of CRDs declaring it, with the real split (writes to the
//! object keep the stored `status`, writes to `/status` change only `status`) and
//! `metadata.generation` moving on spec changes; the `scale` subresource (`autoscaling/v1`
//! `Scale`, or the group's own for `extensions/v1beta1` and `apps/v1beta1|2`) of Deployments,
//! StatefulSets, ReplicaSets, ReplicationControllers and CRDs declaring it; both listed in
//! discovery (`deployments/scale`, `deployments/status`). Finalizers (a DELETE answers the
//! object with its `deletionTimestamp` and keeps it until the last finalizer is removed; an
//! immediate DELETE answers a `Success` `Status`), namespace termination (`Terminating`, new
//! content refused with 403), garbage collection of `ownerReferences` (`propagationPolicy`
//! `Background`, `Foreground`, `Orphan`), `resourceVersion` preconditions on PUT and PATCH and
//! `DeleteOptions.preconditions` (409 with the API server's messages), `dryRun=All` on every
//! write (other values 422), server-side apply with `metadata.managedFields` per manager
//! (`fieldManager` required, conflicts listing manager and fields, `force`, fields a manager
//! stops applying removed; writes without `fieldManager` are recorded under the program name
//! of the `User-Agent`), watch `BOOKMARK`s with `allowWatchBookmarks=true` (every second, not
//! every minute), and lists by `resourceVersion`/`resourceVersionMatch` (`0` and `NotOlderThan`
//! serve the current state; `Exact` only the current version, an older one is 410 Expired; a
//! future version is 504 at once where a real server waits 3 s first).
//!
//! Differences that remain: the garbage collector and namespace controller run inside the
//! write that triggers them, so dependents are gone when the owner's DELETE answers; a create
//! keeps the `status` it is given and every object gets `metadata.generation` (an API server
//! resets `status` and gives no generation to, e.g., ConfigMaps); server-side apply knows list
//! types from a table of common merge keys (containers, env, volumes, ports, conditions, …)
//! rather than from schemas, treats other lists, including `finalizers`, as atomic, and keys
//! container ports by `containerPort` alone; a server-side apply to `/scale` is a merge patch.
//!
//! OpenAPI: `/openapi/v2` (protobuf when asked for, as `kubectl` asks, else JSON), and from 1.24
//! on `/openapi/v3` with one document per served group version, built from the official
//! specification of the release with the served CRDs' schemas added; field validation
//! (`fieldValidation=Strict|Warn|Ignore`) from 1.25 on. Where each release's specification
//! comes from, and what differs from a real server, is in [`openapi`].
//!
//! Request bodies may be JSON, YAML or Kubernetes protobuf
//! (`application/vnd.kubernetes.protobuf`, what `kubectl create namespace`/`create deployment`
//! and the other typed generators of kubectl 1.32+ send; 1.28 to 1.31 send JSON) for every
//! built-in type, read as described in [`protobuf`]; a protobuf body of a custom resource or an
//! unknown type is answered 415. Responses are always JSON: a client that accepts only protobuf
//! is answered 406.
//!
//! Watches stream the simulated cluster's change history (every change in order, from any
//! `resourceVersion` it still holds; an older one gets `410 Expired`).
//!
//! `kubectl get` is answered with `Table`s (a CRD's printer columns, the columns of the common
//! built-in kinds), as described in the `table` module.
//!
//! Not served: subresources other than `status` and `scale`.
//!
//! ```
//! use csdr_core::ports::cluster::Cluster;
//! use csdr_core::releases::KubeRelease;
//! use csdr_core::sim::SimCluster;
//! use csdr_kube::KubeCluster;
//! use csdr_kube::testing::ApiServer;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = ApiServer::start(SimCluster::new(KubeRelease::V1_28)).await?;
//! let cluster = KubeCluster::from_url(&server.url())?;
//! let discovery = cluster.discover().await?;
//! assert!(discovery.serves("apps", "v1", "deployments"));
//! server.shutdown().await?;
//! # Ok(()) }
//! ```

pub mod documents;
pub mod openapi;
pub mod protobuf;
mod rest;
pub mod routes;
pub mod status;
pub mod strategic;
mod subresources;
mod table;
mod watch;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use csdr_core::releases::KubeRelease;
use csdr_core::sim::SimCluster;
use tokio::task::JoinHandle;

use rest::{App, Injected};

/// A failure the server answers instead of serving a request (see
/// [`ApiServer::inject_failures`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// 429 Too Many Requests with a `Retry-After` header (whole seconds).
    TooManyRequests {
        /// The `Retry-After` sent.
        retry_after: Duration,
    },
    /// 500 Internal Server Error.
    InternalError,
    /// 503 Service Unavailable.
    ServiceUnavailable,
    /// 410 Gone with reason `Expired`, as for an expired continue token, offering no token
    /// to continue with.
    Expired,
    /// The request is carried out, but the client gets 504 `Timeout` instead of the answer
    /// (a write committed while its answer was lost: the client retries a create that
    /// already happened).
    LostAnswer,
}

/// Why the server could not start or stop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The address could not be listened on.
    #[error("cannot listen on {addr}: {reason}; choose another port (0 picks a free one)")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the system said.
        reason: String,
    },
    /// The server stopped with an error.
    #[error("the API server on {addr} failed: {reason}")]
    Serve {
        /// Its address.
        addr: SocketAddr,
        /// What happened.
        reason: String,
    },
}

/// A running HTTP Kubernetes API server over a simulated cluster. Dropping it stops it.
pub struct ApiServer {
    addr: SocketAddr,
    app: Arc<App>,
    stop: tokio::sync::watch::Sender<bool>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer")
            .field("addr", &self.addr)
            .finish()
    }
}

/// Where the simulated API server reads a pod's container output from, as a real one asks the
/// kubelet of the pod's node (`kubectl logs`).
pub trait PodLogs: Send + Sync {
    /// The output of `container` of `pod` so far, or `None` when it has not started.
    fn log(&self, pod: &csdr_core::object::KubeObject, container: &str) -> Option<String>;
}

impl ApiServer {
    /// Serves `sim` on a free port of 127.0.0.1.
    pub async fn start(sim: SimCluster) -> Result<ApiServer, ServeError> {
        Self::start_on(sim, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Serves `sim` on `addr` (port 0: any free port). `/version` reports the release whose
    /// built-in APIs the cluster serves (see [`documents::release_of`]).
    pub async fn start_on(sim: SimCluster, addr: SocketAddr) -> Result<ApiServer, ServeError> {
        let release = documents::release_of(&sim.discovery());
        Self::start_with(sim, addr, release).await
    }

    /// Serves `sim` on `addr`, reporting `release` (the newest known when `None`) in
    /// `/version`.
    pub async fn start_with(
        sim: SimCluster,
        addr: SocketAddr,
        release: Option<KubeRelease>,
    ) -> Result<ApiServer, ServeError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| ServeError::Bind {
                addr,
                reason: e.to_string(),
            })?;
        let local = listener.local_addr().map_err(|e| ServeError::Bind {
            addr,
            reason: e.to_string(),
        })?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (changes, _) = tokio::sync::watch::channel(0u64);
        let app = Arc::new(App {
            sim,
            release,
            address: local.to_string(),
            aggregated: AtomicBool::new(true),
            failures: Mutex::new(Vec::new()),
            changes,
            shutdown: stopped.clone(),
            generated: AtomicU64::new(0),
            pod_logs: std::sync::RwLock::new(None),
        });
        let router = axum::Router::new().fallback({
            let app = app.clone();
            move |req: axum::extract::Request| rest::handle(app.clone(), req)
        });
        let mut signal = stopped;
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = signal.wait_for(|stop| *stop).await;
                })
                .await
        });
        Ok(ApiServer {
            addr: local,
            app,
            stop,
            task: Some(task),
        })
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves containers' output at `GET …/pods/<name>/log` (`kubectl logs`) from `logs`,
    /// as a real API server does from the pod's kubelet. Without it, a log request is
    /// answered that the container is waiting to start.
    pub fn serve_pod_logs(&self, logs: Arc<dyn PodLogs>) {
        *self.app.pod_logs.write().unwrap_or_else(|e| e.into_inner()) = Some(logs);
    }

    /// The server's URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The simulated cluster served (shared: writes through either are seen by both).
    pub fn sim(&self) -> &SimCluster {
        &self.app.sim
    }

    /// Whether `/api` and `/apis` answer aggregated discovery when a client asks for it
    /// (default `true`). With `false` clients must read the legacy documents.
    pub fn set_aggregated_discovery(&self, enabled: bool) {
        self.app.aggregated.store(enabled, Ordering::Relaxed);
    }

    /// Makes the next `count` requests to `path` (the URL path, without query) answer
    /// `failure` instead of being served.
    pub fn inject_failures(&self, path: &str, failure: Failure, count: usize) {
        if count == 0 {
            return;
        }
        let mut failures = self.app.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.push(Injected {
            path: path.to_string(),
            failure,
            remaining: count,
        });
    }

    /// How many injected failures for `path` are still to be answered.
    pub fn pending_failures(&self, path: &str) -> usize {
        let failures = self.app.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures
            .iter()
            .filter(|f| f.path == path)
            .map(|f| f.remaining)
            .sum()
    }

    /// Stops accepting connections, ends open watches and waits for requests in flight.
    pub async fn shutdown(mut self) -> Result<(), ServeError> {
        let _ = self.stop.send(true);
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        match task.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ServeError::Serve {
                addr: self.addr,
                reason: e.to_string(),
            }),
            Err(e) => Err(ServeError::Serve {
                addr: self.addr,
                reason: e.to_string(),
            }),
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
