//! Which API versions each Kubernetes release serves for each built-in resource.
//!
//! [`KubeRelease`] names a Kubernetes minor release from 1.16 to 1.32, and
//! [`KubeRelease::discovery`] builds the [`Discovery`] an API server of that release reports
//! with its default configuration: every group, every served version, the group's preferred
//! version and every resource (kind, plural, short names, scope, verbs), subresources left out.
//! KubernetesConvert uses it to know what a target release serves, the planner to know the
//! facts of a built-in kind ([`builtin_resource`]), and the simulated cluster to behave like a
//! real API server of that release.
//!
//! ```
//! use csdr_core::releases::{KubeRelease, builtin_resource};
//!
//! let old: KubeRelease = "v1.16.3".parse()?;
//! assert!(old.serves("extensions", "v1beta1", "ingresses"));
//! let new: KubeRelease = "1.22".parse()?;
//! assert!(!new.serves("extensions", "v1beta1", "ingresses"));
//! assert!(new.serves("networking.k8s.io", "v1", "ingresses"));
//!
//! // Per resource, the preferred version is the group's if it serves the resource.
//! let served = old.discovery().served_resources();
//! let ingress = served.iter().find(|s| s.group_resource() == "ingresses.networking.k8s.io").unwrap();
//! assert_eq!(ingress.preferred_version, "v1beta1");
//!
//! let pvc = builtin_resource("", "PersistentVolumeClaim").unwrap();
//! assert_eq!((pvc.plural, pvc.namespaced), ("persistentvolumeclaims", true));
//! # Ok::<(), csdr_core::Error>(())
//! ```
//!
//! # What a release serves
//!
//! Only versions the API server enables **by default** are listed: alpha versions
//! (`batch/v2alpha1`, `node.k8s.io/v1alpha1`, …) and the beta APIs that Kubernetes 1.24+ ships
//! disabled (`admissionregistration.k8s.io/v1beta1` ValidatingAdmissionPolicy,
//! `networking.k8s.io/v1beta1` IPAddress/ServiceCIDR, `resource.k8s.io`,
//! `storage.k8s.io/v1beta1` VolumeAttributesClass, `storagemigration.k8s.io`,
//! `internal.apiserver.k8s.io`) are left out.
//!
//! Two deliberate deviations from a stock API server:
//!
//! - **1.16 follows the backup-center FAQ** (DESIGN B5): "a Deployment in Kubernetes 1.16
//!   supports extensions/v1beta1, apps/v1beta1, apps/v1beta2, and apps/v1". Upstream 1.16
//!   stopped serving apps/v1beta1, apps/v1beta2 and the extensions/v1beta1 deployments,
//!   daemonsets, replicasets, networkpolicies and podsecuritypolicies unless
//!   `--runtime-config` re-enabled them; our 1.16 serves them as if it had. From 1.17 on the
//!   table follows upstream (extensions/v1beta1 keeps serving only ingresses, until 1.21).
//! - **`snapshot.storage.k8s.io`** (VolumeSnapshot, VolumeSnapshotContent,
//!   VolumeSnapshotClass) is not built in: real clusters get it from the CSI
//!   external-snapshotter add-on's CRDs. The engine needs it for volume snapshots, so every
//!   release from 1.17 serves it as the add-on of that era did: v1beta1 in 1.17–1.23
//!   (external-snapshotter 2.x–5.x), v1 from 1.20 (external-snapshotter 4.0+).
//!
//! # Preferred versions
//!
//! A group's preferred version is its highest-priority served version
//! ([`crate::version_priority`]), which is what the API server's scheme priority gives for
//! every group except these (the group discovery document `/apis/<group>`):
//!
//! - `autoscaling` prefers v1 through 1.26 although v2 is served from 1.23
//!   (kubernetes/kubernetes#114358 moved v2 to the front in 1.27);
//! - `flowcontrol.apiserver.k8s.io` prefers v1beta1 in 1.23–1.25, v1beta2 in 1.26, v1beta3 in
//!   1.27–1.29 and v1 from 1.30: each new version becomes preferred one release after it
//!   appears (kubernetes/kubernetes#104399, #112306, #114492, #121089, #122472).
//!
//! `batch` and `policy` need no exception: their v1 was already first when `batch/v1`
//! CronJob and `policy/v1` PodDisruptionBudget went GA in 1.21. Note that the aggregated
//! group list `/apis` orders versions by the APIService `versionPriority` table of
//! kube-aggregator, which may name the newer version a release earlier; csdr only ever
//! reads preferred versions from discovery, so either answer works with the engine.
//!
//! # Verbs
//!
//! Verbs are those `kubectl api-resources -o wide` shows: the eight standard verbs for stored
//! resources; `namespaces` without `deletecollection`; `services` without `deletecollection`
//! before 1.23 (the Service storage rewrite); `bindings` and the review resources
//! (`tokenreviews`, `selfsubjectreviews`, `*subjectaccessreviews`, `selfsubjectrulesreviews`)
//! `create` only; `componentstatuses` `get` and `list`.
//!
//! # Sources
//!
//! - The official deprecated API migration guide,
//!   <https://kubernetes.io/docs/reference/using-api/deprecation-guide/> (removal releases).
//! - The `k8s-openapi` crate (github.com/Arnavion/k8s-openapi), whose `v1_16` … `v1_32`
//!   modules are generated from each release's OpenAPI document: group, version, kind,
//!   plural (`URL_PATH_SEGMENT`), scope, and for 1.16–1.21 the operations behind the verbs.
//!   That document is generated with every API enabled, so the default-enablement rules
//!   above were applied on top.
//! - kubernetes/kubernetes `pkg/controlplane` default resource configuration (which betas are
//!   on by default), `pkg/apis/*/install` version priorities, and
//!   `cmd/kube-apiserver/app/aggregator.go` (group order).
//!
//! # Never restored
//!
//! [`NEVER_RESTORED`] lists the built-ins a restore skips even when a backup holds them
//! (DESIGN R3, Velero's default restore exclusions): `nodes`, `events` (core and
//! `events.k8s.io`), `csinodes` and `volumeattachments` (state of the old cluster's nodes),
//! plus the resources that cannot be stored at all (`bindings`, `componentstatuses`, the
//! review resources). `leases` are restored, as Velero does: they are ordinary namespaced
//! objects and a stale leader-election lease only delays the first election.

mod table;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::discovery::{ApiResource, DiscoveredGroup, DiscoveredVersion, Discovery};
use crate::object::group_resource;
use crate::version_priority::{highest_priority, sort_by_priority};

/// A Kubernetes minor release csdr knows the built-in APIs of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum KubeRelease {
    /// Kubernetes 1.16.
    V1_16,
    /// Kubernetes 1.17.
    V1_17,
    /// Kubernetes 1.18.
    V1_18,
    /// Kubernetes 1.19.
    V1_19,
    /// Kubernetes 1.20.
    V1_20,
    /// Kubernetes 1.21.
    V1_21,
    /// Kubernetes 1.22.
    V1_22,
    /// Kubernetes 1.23.
    V1_23,
    /// Kubernetes 1.24.
    V1_24,
    /// Kubernetes 1.25.
    V1_25,
    /// Kubernetes 1.26.
    V1_26,
    /// Kubernetes 1.27.
    V1_27,
    /// Kubernetes 1.28.
    V1_28,
    /// Kubernetes 1.29.
    V1_29,
    /// Kubernetes 1.30.
    V1_30,
    /// Kubernetes 1.31.
    V1_31,
    /// Kubernetes 1.32.
    V1_32,
}

/// A string that does not name a Kubernetes release csdr knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown Kubernetes release {input:?}: {reason}; write it as `1.N`, `v1.N` or `1.N.P` \
     with N from 16 to 32 (e.g. `1.28`)"
)]
pub struct ReleaseError {
    /// The text as given.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

impl KubeRelease {
    /// Every release, oldest first.
    pub const ALL: [KubeRelease; 17] = [
        KubeRelease::V1_16,
        KubeRelease::V1_17,
        KubeRelease::V1_18,
        KubeRelease::V1_19,
        KubeRelease::V1_20,
        KubeRelease::V1_21,
        KubeRelease::V1_22,
        KubeRelease::V1_23,
        KubeRelease::V1_24,
        KubeRelease::V1_25,
        KubeRelease::V1_26,
        KubeRelease::V1_27,
        KubeRelease::V1_28,
        KubeRelease::V1_29,
        KubeRelease::V1_30,
        KubeRelease::V1_31,
        KubeRelease::V1_32,
    ];

    /// The oldest release csdr knows.
    pub const OLDEST: KubeRelease = KubeRelease::V1_16;

    /// The newest release csdr knows.
    pub const NEWEST: KubeRelease = KubeRelease::V1_32;

    /// The minor version: 16 for 1.16.
    pub const fn minor(self) -> u32 {
        self as u32 + 16
    }

    /// The release with this minor version, if csdr knows it.
    pub fn from_minor(minor: u32) -> Option<KubeRelease> {
        Self::ALL.into_iter().find(|r| r.minor() == minor)
    }

    /// Whether this release serves `plural` in `group` at `version` (core group: `""`).
    pub fn serves(self, group: &str, version: &str, plural: &str) -> bool {
        builtin_resource_by_plural(group, plural).is_some_and(|r| {
            r.served
                .iter()
                .any(|s| s.version == version && s.contains(self))
        })
    }

    /// The versions this release serves a built-in at, most preferred first (empty when it
    /// serves none, or the resource is not a built-in).
    pub fn served_versions(self, group: &str, plural: &str) -> Vec<&'static str> {
        builtin_resource_by_plural(group, plural)
            .map(|r| r.versions_in(self))
            .unwrap_or_default()
    }

    /// The preferred version of a group in this release, if it serves the group.
    pub fn preferred_version(self, group: &str) -> Option<&'static str> {
        let mut versions: Vec<&'static str> = Vec::new();
        for resource in BUILTINS.iter().filter(|r| r.group == group) {
            for v in resource.versions_in(self) {
                if !versions.contains(&v) {
                    versions.push(v);
                }
            }
        }
        if versions.is_empty() {
            return None;
        }
        let exception = table::PREFERRED_EXCEPTIONS
            .iter()
            .find(|(g, first, last, v)| {
                *g == group && *first <= self && self <= *last && versions.contains(v)
            })
            .map(|(_, _, _, v)| *v);
        exception.or_else(|| highest_priority(versions.iter()).copied())
    }

    /// Everything an API server of this release serves by default (see the module
    /// documentation for the 1.16 and snapshot deviations): groups in the order the server
    /// lists them (core first), versions most preferred first, no subresources.
    pub fn discovery(self) -> Discovery {
        let mut groups: Vec<DiscoveredGroup> = Vec::new();
        for resource in BUILTINS {
            for version in resource.versions_in(self) {
                let group = match groups.iter().position(|g| g.name == resource.group) {
                    Some(i) => &mut groups[i],
                    None => {
                        groups.push(DiscoveredGroup {
                            name: resource.group.to_string(),
                            preferred_version: String::new(),
                            versions: Vec::new(),
                        });
                        let last = groups.len() - 1;
                        &mut groups[last]
                    }
                };
                let discovered = match group.versions.iter().position(|v| v.version == version) {
                    Some(i) => &mut group.versions[i],
                    None => {
                        group.versions.push(DiscoveredVersion {
                            version: version.to_string(),
                            resources: Vec::new(),
                        });
                        let last = group.versions.len() - 1;
                        &mut group.versions[last]
                    }
                };
                discovered.resources.push(resource.api_resource(self));
            }
        }
        for group in &mut groups {
            group
                .versions
                .sort_by(|a, b| crate::version_priority::compare_priority(&b.version, &a.version));
            group.preferred_version = self
                .preferred_version(&group.name)
                .unwrap_or_default()
                .to_string();
        }
        Discovery {
            groups,
            ..Default::default()
        }
    }
}

impl fmt::Display for KubeRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1.{}", self.minor())
    }
}

impl FromStr for KubeRelease {
    type Err = ReleaseError;

    /// Parses `1.16`, `v1.16` or `1.16.3` (the patch is ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = |reason: &str| ReleaseError {
            input: s.to_string(),
            reason: reason.to_string(),
        };
        let text = s.trim();
        let text = text.strip_prefix('v').unwrap_or(text);
        let mut parts = text.split('.');
        let major = parts.next().unwrap_or_default();
        let minor = parts
            .next()
            .ok_or_else(|| fail("expected a major and a minor version separated by `.`"))?;
        let patch = parts.next();
        if parts.next().is_some() {
            return Err(fail("expected at most major.minor.patch"));
        }
        let is_number = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !is_number(major) || !is_number(minor) || patch.is_some_and(|p| !is_number(p)) {
            return Err(fail("the version parts must be decimal numbers"));
        }
        if major != "1" {
            return Err(fail("only Kubernetes 1.x releases exist"));
        }
        let minor: u32 = minor
            .parse()
            .map_err(|_| fail("the minor version is too large"))?;
        KubeRelease::from_minor(minor).ok_or_else(|| fail("csdr knows releases 1.16 to 1.32"))
    }
}

impl TryFrom<String> for KubeRelease {
    type Error = ReleaseError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<KubeRelease> for String {
    fn from(release: KubeRelease) -> String {
        release.to_string()
    }
}

/// The verbs an API server allows on a resource, as discovery lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbs {
    /// create, delete, deletecollection, get, list, patch, update, watch.
    Standard,
    /// The standard verbs without deletecollection (namespaces).
    NoDeleteCollection,
    /// The standard verbs, deletecollection only from the given release on (services).
    DeleteCollectionFrom(KubeRelease),
    /// create only (bindings, the review resources).
    CreateOnly,
    /// get and list only (componentstatuses).
    GetList,
}

use crate::discovery::STANDARD_VERBS;
const NO_DELETECOLLECTION_VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

impl Verbs {
    /// The verb list in a release.
    pub fn in_release(self, release: KubeRelease) -> &'static [&'static str] {
        match self {
            Verbs::Standard => STANDARD_VERBS,
            Verbs::NoDeleteCollection => NO_DELETECOLLECTION_VERBS,
            Verbs::DeleteCollectionFrom(first) if release >= first => STANDARD_VERBS,
            Verbs::DeleteCollectionFrom(_) => NO_DELETECOLLECTION_VERBS,
            Verbs::CreateOnly => &["create"],
            Verbs::GetList => &["get", "list"],
        }
    }
}

/// The releases that serve a resource at one version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServedSpan {
    /// The API version, e.g. `v1beta1`.
    pub version: &'static str,
    /// The first release serving it.
    pub first: KubeRelease,
    /// The last release serving it; `None` when the newest known release still does.
    pub last: Option<KubeRelease>,
}

impl ServedSpan {
    /// Whether `release` serves the resource at this version.
    pub fn contains(&self, release: KubeRelease) -> bool {
        self.first <= release && self.last.is_none_or(|last| release <= last)
    }
}

/// A built-in resource type of one group: the facts that do not change across its versions,
/// and the versions each release serves it at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuiltinResource {
    /// The group; empty for the core group.
    pub group: &'static str,
    /// The kind, e.g. `Deployment`.
    pub kind: &'static str,
    /// The plural name used in URLs, e.g. `deployments`.
    pub plural: &'static str,
    /// Short names as `kubectl api-resources` shows them, e.g. `deploy`.
    pub short_names: &'static [&'static str],
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// The verbs the server allows.
    pub verbs: Verbs,
    /// Categories, e.g. `all`.
    pub categories: &'static [&'static str],
    /// The versions serving it and the releases that serve each.
    pub served: &'static [ServedSpan],
}

impl BuiltinResource {
    /// `plural.group`, or `plural` for the core group.
    pub fn group_resource(&self) -> String {
        group_resource(self.plural, self.group)
    }

    /// The singular name: the lower-case kind, as the API server gives it.
    pub fn singular(&self) -> String {
        self.kind.to_ascii_lowercase()
    }

    /// The versions `release` serves it at, most preferred first.
    pub fn versions_in(&self, release: KubeRelease) -> Vec<&'static str> {
        let mut versions: Vec<&'static str> = self
            .served
            .iter()
            .filter(|s| s.contains(release))
            .map(|s| s.version)
            .collect();
        sort_by_priority(&mut versions);
        versions
    }

    /// Whether `release` serves it at any version.
    pub fn is_served_by(&self, release: KubeRelease) -> bool {
        self.served.iter().any(|s| s.contains(release))
    }

    /// The resource as `release`'s discovery lists it.
    pub fn api_resource(&self, release: KubeRelease) -> ApiResource {
        let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        ApiResource {
            kind: self.kind.to_string(),
            plural: self.plural.to_string(),
            singular: self.singular(),
            short_names: strings(self.short_names),
            namespaced: self.namespaced,
            verbs: strings(self.verbs.in_release(release)),
            categories: strings(self.categories),
        }
    }
}

use table::BUILTINS;

/// Every built-in resource csdr knows, in discovery order.
pub fn builtin_resources() -> &'static [BuiltinResource] {
    BUILTINS
}

/// The built-in resource of a kind in a group (core group: `""`), e.g.
/// `("apps", "Deployment")`.
pub fn builtin_resource(group: &str, kind: &str) -> Option<&'static BuiltinResource> {
    BUILTINS.iter().find(|r| r.group == group && r.kind == kind)
}

/// The built-in resource of a plural in a group (core group: `""`), e.g.
/// `("apps", "deployments")`.
pub fn builtin_resource_by_plural(group: &str, plural: &str) -> Option<&'static BuiltinResource> {
    BUILTINS
        .iter()
        .find(|r| r.group == group && r.plural == plural)
}

/// Built-in resources a restore never creates, as (group, plural): see the module
/// documentation for why each is here.
pub const NEVER_RESTORED: &[(&str, &str)] = &[
    ("", "nodes"),
    ("", "events"),
    ("events.k8s.io", "events"),
    ("storage.k8s.io", "csinodes"),
    ("storage.k8s.io", "volumeattachments"),
    ("", "componentstatuses"),
    ("", "bindings"),
    ("authentication.k8s.io", "tokenreviews"),
    ("authentication.k8s.io", "selfsubjectreviews"),
    ("authorization.k8s.io", "localsubjectaccessreviews"),
    ("authorization.k8s.io", "selfsubjectaccessreviews"),
    ("authorization.k8s.io", "selfsubjectrulesreviews"),
    ("authorization.k8s.io", "subjectaccessreviews"),
];

/// Whether a restore never creates objects of this built-in (group, plural).
pub fn is_never_restored(group: &str, plural: &str) -> bool {
    NEVER_RESTORED
        .iter()
        .any(|(g, p)| *g == group && *p == plural)
}

#[cfg(test)]
mod tests;
