//! # csdr-core: the pure heart of csdr
//!
//! csdr backs up the resources of selected Kubernetes namespaces (and their volumes) to object
//! storage and restores them into the same or another cluster — often a newer Kubernetes
//! release, another region, another storage class or image registry.
//!
//! This crate holds everything that can be decided without I/O: the backup model, namespace
//! and resource selection, Kubernetes quantities, schedules, API-version choice and migration
//! ("KubernetesConvert"), restore transformations, restore planning and the archive format —
//! and the [`engine`], which sequences the I/O of a backup or restore only through ports.
//! It owns the ports (`Cluster`, `Vault`, `BlobStore`, `VolumeSnapshotter`, `Clock`, `Timer`)
//! that its sibling crates implement: `csdr-kube` binds them to Kubernetes, `csdr-storage` to
//! object storage and to tokio's timer. The vault protocol itself ([`vault`]) is written here
//! once, over `BlobStore`; the `testing` feature adds the conformance suites every store must
//! pass (module `testing`).
//!
//! It has no runtime: no tokio, no executor of its own; its futures run under any executor.
//! Time comes in through the [`Clock`](ports::clock::Clock) and every wait and timeout through
//! the [`Timer`](ports::clock::Timer) port, so a `ManualClock` drives both in tests. When a
//! caller passes none, the engine reads the system clock and waits with
//! [`SystemTimer`](ports::clock::SystemTimer) (one background thread). Time zones are resolved
//! by the caller: the core takes a `jiff::tz::TimeZone`, never a name.
//!
//! ```
//! use csdr_core::object::KubeObject;
//! use csdr_core::version_priority::sort_by_priority;
//! use serde_json::json;
//!
//! // Objects are JSON with a known identity…
//! let ingress = KubeObject::new(json!({
//!     "apiVersion": "extensions/v1beta1", "kind": "Ingress",
//!     "metadata": {"name": "shop", "namespace": "web"},
//! }))?;
//! assert_eq!(ingress.describe(), "Ingress web/shop");
//!
//! // …and versions are ordered the way the API server orders them.
//! let mut versions = vec!["v1beta1", "v1"];
//! sort_by_priority(&mut versions);
//! assert_eq!(versions[0], "v1");
//! # Ok::<(), csdr_core::Error>(())
//! ```

pub mod archive;
pub mod config;
pub mod convert;
pub mod crypto;
pub mod digest;
pub mod discovery;
pub mod engine;
pub mod error;
pub mod gzip;
pub mod image_reference;
pub mod label_selector;
pub mod model;
pub mod names;
pub mod node_policy;
pub mod object;
pub mod patch;
pub mod plan;
pub mod ports;
pub mod quantity;
pub mod releases;
pub mod resources;
pub mod schedule;
pub mod selection;
pub mod sim;
#[cfg(feature = "testing")]
pub mod testing;
pub mod transform;
pub mod vault;
pub mod vault_record;
pub mod version_priority;
pub mod volume_policy;

pub use error::{Error, Result};
