//! The ports: traits csdr-core owns and its sibling crates implement.
//!
//! The engine talks to the outside world only through these, so everything else in the core
//! stays pure and testable. `csdr-kube` implements [`cluster::Cluster`] on a real API server,
//! `csdr-storage` implements [`blob_store::BlobStore`] on object storage (the vault protocol over
//! it is [`crate::vault`]), and the core's simulated cluster
//! implements [`cluster::Cluster`] in memory. Time comes in through [`clock::Clock`], and every
//! wait and timeout goes through [`clock::Timer`] (the core has no runtime of its own).
//!
//! ```
//! use csdr_core::ports::clock::{Clock, ManualClock};
//!
//! let clock = ManualClock::new("2026-11-24T04:00:00Z".parse()?);
//! clock.advance(std::time::Duration::from_secs(60));
//! assert_eq!(clock.now().to_string(), "2026-11-24T04:01:00Z");
//! # Ok::<(), jiff::Error>(())
//! ```

pub mod blob_store;
pub mod clock;
pub mod cluster;
pub mod pod_volume;
pub mod snapshot;
pub mod spool;
pub mod vault;
