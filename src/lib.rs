//! # csdr: back up, restore and migrate Kubernetes applications
//!
//! A facade over the workspace's focused crates, re-exported here so a tool depends on one
//! crate:
//! - [`core`] (`csdr-core`): the pure model, selection, schedules, KubernetesConvert, restore
//!   transformations, archive format and the engine over ports;
//! - [`storage`] (`csdr-storage`): backup vaults on object storage;
//! - [`kube`] (`csdr-kube`): the Kubernetes adapter;
//! - [`sim_folder`]: a simulated cluster kept in a folder of YAML files;
//! - [`sim_kubelet`]: the simulated kubelets' folders, where a simulated cluster's pods see
//!   their volumes' files;
//! - [`sim_workloads`]: the simulated cluster's DaemonSet and Job controllers, and its kubelets
//!   running csdr's own image (the node agents) as processes;
//! - [`SimError`]: the one error type of the three simulator modules.
//!
//! ```
//! use csdr::core::model::BackupSpec;
//!
//! let spec = BackupSpec::new("nightly");
//! assert_eq!(spec.ttl.as_secs(), 30 * 24 * 3600);
//! ```

mod error;
pub mod sim_folder;
pub mod sim_kubelet;
pub mod sim_workloads;

pub use error::SimError;

pub use csdr_core as core;
pub use csdr_kube as kube;
pub use csdr_storage as storage;

/// The README's examples, run as doctests so the README stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
