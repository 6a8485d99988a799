//! Shared test support: simulated clusters of a release.

use csdr_core::releases::KubeRelease;
use csdr_core::sim::SimCluster;

/// A simulated cluster serving `release`'s built-in APIs, converting with KubernetesConvert.
pub fn sim(release: KubeRelease) -> SimCluster {
    SimCluster::new(release)
}

pub mod kubectl;
