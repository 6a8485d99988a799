//! The resource vocabulary that backup selection, restore filtering, planning and the
//! simulated cluster share: which groups are built in, which resources live in two groups at
//! once ("cohabiting", B5) and which group is canonical for them, a backup's unit of resources
//! ([`SelectedResource`]), `*` patterns, and the `includeClusterResources` modes (B4).
//!
//! ```
//! use csdr_core::resources::{canonical_group, wildcard_match};
//!
//! assert_eq!(canonical_group("extensions", "deployments"), "apps");
//! assert_eq!(canonical_group("", "events"), "events.k8s.io");
//! assert_eq!(canonical_group("", "configmaps"), "");
//! assert!(wildcard_match("web-*", "web-a"));
//! assert!(!wildcard_match("web-*", "shop"));
//! ```

use std::fmt;

use crate::discovery::{Discovery, ServedResource};
use crate::object::{GroupVersion, GroupVersionResource};

/// Groups compiled into the Kubernetes API server (and the metrics API): their resources are
/// not custom resources, so they have no CRD.
pub const BUILT_IN_GROUPS: [&str; 25] = [
    "",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "apps",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "extensions",
    "flowcontrol.apiserver.k8s.io",
    "internal.apiserver.k8s.io",
    "metrics.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "resource.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
    "storagemigration.k8s.io",
];

/// Resources served by two groups that are the same objects: (plural, modern group, old
/// group). The unit's primary is the modern group when the cluster serves it (B5).
pub const COHABITING_RESOURCES: [(&str, &str, &str); 7] = [
    ("deployments", "apps", "extensions"),
    ("daemonsets", "apps", "extensions"),
    ("replicasets", "apps", "extensions"),
    ("ingresses", "networking.k8s.io", "extensions"),
    ("networkpolicies", "networking.k8s.io", "extensions"),
    ("podsecuritypolicies", "policy", "extensions"),
    ("events", "events.k8s.io", ""),
];

/// The (modern, old) group pair of a cohabiting resource, if it is one.
fn cohabiting_groups(group: &str, plural: &str) -> Option<(&'static str, &'static str)> {
    COHABITING_RESOURCES
        .iter()
        .find(|(p, modern, old)| *p == plural && (*modern == group || *old == group))
        .map(|(_, modern, old)| (*modern, *old))
}

/// The group whose copy of a resource is canonical: the modern group of a cohabiting pair
/// (`extensions` deployments → `apps`, core events → `events.k8s.io`), else the group itself.
pub fn canonical_group<'a>(group: &'a str, plural: &str) -> &'a str {
    match cohabiting_groups(group, plural) {
        Some((modern, _)) => modern,
        None => group,
    }
}

/// One real resource to back up: served by one group, or by two cohabiting groups (B5).
///
/// List objects once, at [`SelectedResource::preferred`]; capture each of them at every
/// [`SelectedResource::group_versions`] entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectedResource {
    /// The group the objects are stored under: the modern one of a cohabiting pair when served.
    pub primary: ServedResource,
    /// The other group serving the same objects (empty unless cohabiting).
    pub also_served_as: Vec<ServedResource>,
}

impl SelectedResource {
    /// The kind, e.g. `Deployment`.
    pub fn kind(&self) -> &str {
        &self.primary.resource.kind
    }

    /// The plural, e.g. `deployments` (the same in every group of the unit).
    pub fn plural(&self) -> &str {
        &self.primary.resource.plural
    }

    /// Whether its objects live in namespaces.
    pub fn namespaced(&self) -> bool {
        self.primary.resource.namespaced
    }

    /// `plural.group` of the primary (`deployments.apps`), `plural` for the core group.
    pub fn group_resource(&self) -> String {
        self.primary.group_resource()
    }

    /// The primary group and every other group serving the objects.
    pub fn members(&self) -> impl Iterator<Item = &ServedResource> {
        std::iter::once(&self.primary).chain(&self.also_served_as)
    }

    /// The primary's preferred version for this resource: where to list the objects.
    pub fn preferred(&self) -> GroupVersion {
        GroupVersion::new(
            self.primary.group.clone(),
            self.primary.preferred_version.clone(),
        )
    }

    /// Every (group, version) serving the objects, most preferred first: the primary's
    /// preferred version, its other versions by priority, then each other group the same way.
    /// A Deployment on Kubernetes 1.16: `apps/v1`, `apps/v1beta2`, `apps/v1beta1`,
    /// `extensions/v1beta1`.
    pub fn group_versions(&self) -> Vec<GroupVersion> {
        let mut out = Vec::new();
        for member in self.members() {
            out.push(GroupVersion::new(
                member.group.clone(),
                member.preferred_version.clone(),
            ));
            out.extend(
                member
                    .versions
                    .iter()
                    .filter(|v| **v != member.preferred_version)
                    .map(|v| GroupVersion::new(member.group.clone(), v.clone())),
            );
        }
        out
    }

    /// [`SelectedResource::group_versions`] as resources, ready to list or get.
    pub fn gvrs(&self) -> Vec<GroupVersionResource> {
        self.group_versions()
            .into_iter()
            .map(|gv| GroupVersionResource::new(gv.group, gv.version, self.plural()))
            .collect()
    }

    /// Whether `group` serves these objects under `plural`.
    pub fn is_served_as(&self, group: &str, plural: &str) -> bool {
        self.members()
            .any(|m| m.group == group && m.resource.plural == plural)
    }

    /// Whether an include/exclude name designates this unit (through any of its groups).
    pub fn answers_to(&self, name: &str) -> bool {
        let name = ResourceName::parse(name);
        self.members().any(|m| name.designates(m))
    }
}

/// A resource name as a user writes it: `base` or `base.group`, lower-cased.
pub(crate) struct ResourceName {
    base: String,
    group: Option<String>,
}

impl ResourceName {
    pub(crate) fn parse(name: &str) -> Self {
        let name = name.trim().to_ascii_lowercase();
        match name.split_once('.') {
            Some((base, group)) => ResourceName {
                base: base.to_string(),
                group: Some(group.to_string()),
            },
            None => ResourceName {
                base: name,
                group: None,
            },
        }
    }

    /// Plural, singular, kind (any case) or short name, in the given group if one is named.
    pub(crate) fn designates(&self, served: &ServedResource) -> bool {
        if self
            .group
            .as_ref()
            .is_some_and(|g| *g != served.group.to_ascii_lowercase())
        {
            return false;
        }
        let resource = &served.resource;
        std::iter::once(&resource.plural)
            .chain(std::iter::once(&resource.singular))
            .chain(std::iter::once(&resource.kind))
            .chain(&resource.short_names)
            .any(|n| !n.is_empty() && n.to_ascii_lowercase() == self.base)
    }
}

fn is_listable(served: &ServedResource) -> bool {
    served.resource.supports("list") && served.resource.supports("get")
}

/// Every resource the cluster serves that can be backed up (verbs `list` and `get`), as units:
/// cohabiting resources are merged into one unit (B5). In discovery order.
pub fn selectable_resources(discovery: &Discovery) -> Vec<SelectedResource> {
    units_of(&discovery.served_resources())
}

pub(crate) fn units_of(served: &[ServedResource]) -> Vec<SelectedResource> {
    let listable: Vec<&ServedResource> = served.iter().filter(|s| is_listable(s)).collect();
    let mut used = vec![false; listable.len()];
    let mut units = Vec::new();
    for i in 0..listable.len() {
        if used[i] {
            continue;
        }
        used[i] = true;
        let this = listable[i];
        let Some((modern, old)) = cohabiting_groups(&this.group, &this.resource.plural) else {
            units.push(SelectedResource {
                primary: this.clone(),
                also_served_as: Vec::new(),
            });
            continue;
        };
        let partner_group = if this.group == modern { old } else { modern };
        let partner = (i + 1..listable.len()).find(|&j| {
            !used[j]
                && listable[j].group == partner_group
                && listable[j].resource.plural == this.resource.plural
        });
        let unit = match partner {
            None => SelectedResource {
                primary: this.clone(),
                also_served_as: Vec::new(),
            },
            Some(j) => {
                used[j] = true;
                let (primary, other) = if this.group == modern {
                    (this, listable[j])
                } else {
                    (listable[j], this)
                };
                SelectedResource {
                    primary: primary.clone(),
                    also_served_as: vec![other.clone()],
                }
            }
        };
        units.push(unit);
    }
    units
}

/// Which resource list of a spec a name came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResourceList {
    /// `includedResources`.
    Included,
    /// `excludedResources`.
    Excluded,
}

impl ResourceList {
    /// The spec field: `includedResources` or `excludedResources`.
    pub fn field(self) -> &'static str {
        match self {
            ResourceList::Included => "includedResources",
            ResourceList::Excluded => "excludedResources",
        }
    }
}

impl fmt::Display for ResourceList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResourceList::Included => "included",
            ResourceList::Excluded => "excluded",
        })
    }
}

/// Whether `name` matches `pattern`, where `*` stands for any run of characters (none too).
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    let (mut p, mut n) = (0, 0);
    // Where the last `*` was, and where in `name` it currently ends.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, n));
            p += 1;
        } else if p < pattern.len() && pattern[p] == name[n] {
            p += 1;
            n += 1;
        } else if let Some((star_p, star_n)) = star {
            p = star_p + 1;
            n = star_n + 1;
            star = Some((star_p, star_n + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// Which cluster-scoped resources a backup takes (B4), from `includeClusterResources`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ClusterResources {
    /// Unset: only those related to selected objects (PVs bound to selected PVCs, their
    /// StorageClasses, CRDs of selected custom resources) — see [`RelatedClusterObjects`](crate::selection::RelatedClusterObjects).
    #[default]
    Related,
    /// `true`: every selected cluster-scoped resource, wholesale.
    All,
    /// `false`: none.
    None,
}

impl From<Option<bool>> for ClusterResources {
    fn from(include: Option<bool>) -> Self {
        match include {
            None => ClusterResources::Related,
            Some(true) => ClusterResources::All,
            Some(false) => ClusterResources::None,
        }
    }
}

impl ClusterResources {
    /// The selected cluster-scoped units to list in full: all of them for `All`, none
    /// otherwise (for `Related`, the engine fetches [`RelatedClusterObjects`](crate::selection::RelatedClusterObjects) by name).
    pub fn wholesale(self, selected: &[SelectedResource]) -> Vec<&SelectedResource> {
        match self {
            ClusterResources::All => selected.iter().filter(|u| !u.namespaced()).collect(),
            ClusterResources::Related | ClusterResources::None => Vec::new(),
        }
    }

    /// Whether the engine adds the cluster-scoped objects related to selected ones.
    pub fn adds_related(self) -> bool {
        self == ClusterResources::Related
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `*` matching written as plain recursion.
    fn reference_wildcard(pattern: &[char], name: &[char]) -> bool {
        match pattern.split_first() {
            None => name.is_empty(),
            Some(('*', rest)) => {
                (0..=name.len()).any(|skip| reference_wildcard(rest, &name[skip..]))
            }
            Some((c, rest)) => name.first() == Some(c) && reference_wildcard(rest, &name[1..]),
        }
    }

    proptest::proptest! {
        #[test]
        fn wildcard_agrees_with_reference(pattern in "[ab*]{0,8}", name in "[ab]{0,10}") {
            let p: Vec<char> = pattern.chars().collect();
            let n: Vec<char> = name.chars().collect();
            proptest::prop_assert_eq!(wildcard_match(&pattern, &name), reference_wildcard(&p, &n));
        }
    }
}
