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
pub mod controller;
pub mod discovery;
pub mod resources;
pub mod retry;
#[cfg(feature = "testing")]
pub mod testing;

pub use cluster::{ConnectError, KubeCluster};
pub use discovery::DiscoveryWarning;
pub use retry::RetryPolicy;

/// Volume snapshots on a real cluster (B6, R10): the core's CSI snapshotter over
/// [`KubeCluster`]. CSI snapshots are plain `snapshot.storage.k8s.io/v1` objects, so the same
/// code serves the simulated cluster and real ones: it picks the VolumeSnapshotClass of the
/// PVC's driver, creates a VolumeSnapshot, waits for `readyToUse` (by watching) and records
/// the content's snapshot handle; restores pre-provision a VolumeSnapshotContent from it.
/// The engine bounds how many run at once with `batch_snapshot_max_num`.
///
/// ```no_run
/// use csdr_kube::{KubeCluster, KubeSnapshotter};
/// # async fn run() -> Result<(), csdr_kube::ConnectError> {
/// let cluster = std::sync::Arc::new(KubeCluster::try_default().await?);
/// // The engine and the snapshotter share one connection.
/// let snapshotter = KubeSnapshotter::new(cluster.clone());
/// # Ok(()) }
/// ```
pub type KubeSnapshotter = csdr_core::ports::snapshot::CsiSnapshotter<std::sync::Arc<KubeCluster>>;
