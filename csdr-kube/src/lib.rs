//! # csdr-kube: csdr on real Kubernetes clusters
//!
//! The core's [`Cluster`](csdr_core::ports::cluster::Cluster) port implemented on `kube`
//! ([`KubeCluster`]), and (feature `testing`) [`testing::ApiServer`], an HTTP Kubernetes API
//! server over the core's simulated cluster, good enough for `kubectl`.
//!
//! ```
//! use csdr_kube::{KubeCluster, RetryPolicy};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), csdr_kube::ConnectError> {
//! let cluster = KubeCluster::from_url("http://127.0.0.1:6443")?.with_retry(RetryPolicy::none());
//! assert!(cluster.discovery_warnings().is_empty());
//! # Ok(()) }
//! ```

pub mod api_errors;
pub mod cluster;
pub mod discovery;
pub mod retry;
#[cfg(feature = "testing")]
pub mod testing;

pub use cluster::{ConnectError, KubeCluster};
pub use discovery::DiscoveryWarning;
pub use retry::RetryPolicy;
