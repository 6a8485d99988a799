//! # csdr-kube: csdr on real Kubernetes clusters
//!
//! The `Cluster` and `VolumeSnapshotter` ports of `csdr-core` implemented on `kube` and
//! `k8s-openapi`, and (feature `testing`) an HTTP Kubernetes API simulator that serves a core
//! simulated cluster well enough for `kubectl`. This crate is being built; see the project's
//! issues.
