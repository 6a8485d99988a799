//! What a cluster serves: API groups, their versions and resources.
//!
//! [`Discovery`] is a plain description of the API server's discovery documents
//! (`/api`, `/apis`, `/apis/<group>/<version>`), filled in by the `Cluster` adapters and by
//! the simulated cluster. Selection and restore planning read it; it does no I/O.
//!
//! ```
//! use csdr_core::discovery::{ApiResource, Discovery, DiscoveredGroup, DiscoveredVersion};
//!
//! let deployments = ApiResource::new("Deployment", "deployments", true).with_short_names(&["deploy"]);
//! let discovery = Discovery {
//!     unavailable: vec![],
//!     groups: vec![DiscoveredGroup {
//!         name: "apps".into(),
//!         preferred_version: "v1".into(),
//!         versions: vec![
//!             DiscoveredVersion { version: "v1".into(), resources: vec![deployments.clone()] },
//!             DiscoveredVersion { version: "v1beta2".into(), resources: vec![deployments] },
//!         ],
//!     }],
//! };
//! let served = discovery.served_resources();
//! assert_eq!(served.len(), 1);
//! assert_eq!(served[0].versions, ["v1", "v1beta2"]);
//! assert_eq!(served[0].preferred_version, "v1");
//! ```

use serde::{Deserialize, Serialize};

use crate::object::{GroupVersionKind, GroupVersionResource, group_resource};
use crate::version_priority::{compare_priority, sort_by_priority};

/// One resource type as discovery lists it for one group version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiResource {
    /// The kind, e.g. `Deployment`.
    pub kind: String,
    /// The plural name used in URLs, e.g. `deployments`.
    pub plural: String,
    /// The singular name, e.g. `deployment` (lower-case kind when the server gives none).
    pub singular: String,
    /// Short names, e.g. `deploy`.
    #[serde(default)]
    pub short_names: Vec<String>,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Verbs the server supports, e.g. `list`, `create`.
    #[serde(default)]
    pub verbs: Vec<String>,
    /// Categories, e.g. `all`.
    #[serde(default)]
    pub categories: Vec<String>,
}

/// The verbs of an ordinary resource.
pub const STANDARD_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

impl ApiResource {
    /// A resource with the usual verbs and `singular` = lower-case kind.
    pub fn new(kind: &str, plural: &str, namespaced: bool) -> Self {
        ApiResource {
            kind: kind.to_string(),
            plural: plural.to_string(),
            singular: kind.to_ascii_lowercase(),
            short_names: Vec::new(),
            namespaced,
            verbs: STANDARD_VERBS.iter().map(|s| s.to_string()).collect(),
            categories: Vec::new(),
        }
    }

    /// The same resource with short names.
    pub fn with_short_names(mut self, names: &[&str]) -> Self {
        self.short_names = names.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Whether the server allows a verb on it.
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }
}

/// One served version of a group and the resources it serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveredVersion {
    /// The version, e.g. `v1beta1`.
    pub version: String,
    /// Resources at this version (no subresources).
    pub resources: Vec<ApiResource>,
}

/// One API group with every version it serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveredGroup {
    /// The group name; empty for the core group.
    pub name: String,
    /// The version the server prefers for the group.
    pub preferred_version: String,
    /// Every served version.
    pub versions: Vec<DiscoveredVersion>,
}

/// Everything a cluster serves.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Discovery {
    /// Every API group, the core group (name `""`) included.
    pub groups: Vec<DiscoveredGroup>,
    /// Groups (or group versions) the server lists but whose discovery failed — an
    /// unavailable aggregated API such as `metrics.k8s.io` is the classic case. They are
    /// skipped; the engine reports each as a warning.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<UnavailableGroup>,
}

/// An API group whose discovery failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnavailableGroup {
    /// The group; empty for the core group.
    pub group: String,
    /// The version that failed, when one is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// What happened.
    pub reason: String,
}

/// A resource type of one group across every version that serves it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServedResource {
    /// The group; empty for the core group.
    pub group: String,
    /// The resource as listed at the preferred version.
    pub resource: ApiResource,
    /// Every version serving it, most preferred first.
    pub versions: Vec<String>,
    /// The version to treat as preferred for this resource: the group's preferred version if it
    /// serves the resource, else the highest-priority version that does.
    pub preferred_version: String,
}

impl ServedResource {
    /// `plural.group`, or `plural` for the core group.
    pub fn group_resource(&self) -> String {
        group_resource(&self.resource.plural, &self.group)
    }

    /// The resource at one version.
    pub fn gvr(&self, version: &str) -> GroupVersionResource {
        GroupVersionResource::new(&self.group, version, &self.resource.plural)
    }

    /// The kind at one version.
    pub fn gvk(&self, version: &str) -> GroupVersionKind {
        GroupVersionKind::new(&self.group, version, &self.resource.kind)
    }
}

impl Discovery {
    /// A group by name.
    pub fn group(&self, name: &str) -> Option<&DiscoveredGroup> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// Every (group, plural) the cluster serves, with its versions and preferred version,
    /// in the order groups and resources first appear. Subresources (`pods/log`) are skipped.
    pub fn served_resources(&self) -> Vec<ServedResource> {
        let mut out: Vec<ServedResource> = Vec::new();
        for group in &self.groups {
            let start = out.len();
            for version in &group.versions {
                for res in &version.resources {
                    if res.plural.contains('/') {
                        continue;
                    }
                    match out[start..]
                        .iter_mut()
                        .find(|s| s.resource.plural == res.plural)
                    {
                        Some(existing) => {
                            if !existing.versions.contains(&version.version) {
                                existing.versions.push(version.version.clone());
                            }
                            if version.version == group.preferred_version {
                                existing.resource = res.clone();
                            }
                        }
                        None => out.push(ServedResource {
                            group: group.name.clone(),
                            resource: res.clone(),
                            versions: vec![version.version.clone()],
                            preferred_version: String::new(),
                        }),
                    }
                }
            }
            for served in &mut out[start..] {
                sort_by_priority(&mut served.versions);
                served.preferred_version = if served.versions.contains(&group.preferred_version) {
                    group.preferred_version.clone()
                } else {
                    served
                        .versions
                        .iter()
                        .max_by(|a, b| compare_priority(a, b))
                        .cloned()
                        .unwrap_or_default()
                };
            }
        }
        out
    }

    /// The resource serving `kind` in `group` at `version`, if any.
    pub fn resource_for_kind(
        &self,
        group: &str,
        version: &str,
        kind: &str,
    ) -> Option<&ApiResource> {
        self.group(group)?
            .versions
            .iter()
            .find(|v| v.version == version)?
            .resources
            .iter()
            .find(|r| r.kind == kind && !r.plural.contains('/'))
    }

    /// Whether the cluster serves `group/version` for a resource plural.
    pub fn serves(&self, group: &str, version: &str, plural: &str) -> bool {
        self.group(group)
            .and_then(|g| g.versions.iter().find(|v| v.version == version))
            .is_some_and(|v| v.resources.iter().any(|r| r.plural == plural))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn networking_116() -> Discovery {
        Discovery {
            unavailable: Vec::new(),
            groups: vec![DiscoveredGroup {
                name: "networking.k8s.io".into(),
                preferred_version: "v1".into(),
                versions: vec![
                    DiscoveredVersion {
                        version: "v1".into(),
                        resources: vec![ApiResource::new("NetworkPolicy", "networkpolicies", true)],
                    },
                    DiscoveredVersion {
                        version: "v1beta1".into(),
                        resources: vec![
                            ApiResource::new("Ingress", "ingresses", true),
                            ApiResource::new("Ingress", "ingresses/status", true),
                        ],
                    },
                ],
            }],
        }
    }

    #[test]
    fn preferred_version_is_per_resource() {
        let served = networking_116().served_resources();
        assert_eq!(served.len(), 2);
        assert_eq!(served[0].resource.plural, "networkpolicies");
        assert_eq!(served[0].preferred_version, "v1");
        assert_eq!(served[1].resource.plural, "ingresses");
        assert_eq!(served[1].preferred_version, "v1beta1");
        assert_eq!(served[1].group_resource(), "ingresses.networking.k8s.io");
    }

    #[test]
    fn lookups() {
        let d = networking_116();
        assert!(d.serves("networking.k8s.io", "v1beta1", "ingresses"));
        assert!(!d.serves("networking.k8s.io", "v1", "ingresses"));
        assert_eq!(
            d.resource_for_kind("networking.k8s.io", "v1beta1", "Ingress")
                .map(|r| r.plural.as_str()),
            Some("ingresses")
        );
    }
}
