//! Restore order (DESIGN R3): which resources are created first.
//!
//! Velero's default restore priorities, with RBAC and PriorityClasses added:
//! [`DEFAULT_RESTORE_PRIORITIES`]; everything else follows alphabetically by `resource.group`
//! (so an Ingress, `ingresses.networking.k8s.io`, comes after the Services it routes to);
//! within a resource, objects go by namespace (cluster-scoped first) then name.
//!
//! A priority entry is `plural.group` (matches that resource exactly) or a bare plural, which
//! matches the *built-in* resource of that plural in whatever group it lives (`roles` is
//! `roles.rbac.authorization.k8s.io`), never a custom resource that happens to share the
//! plural (`secrets.example.com` is not `secrets`).
//!
//! ```
//! use csdr_core::object::GroupVersionResource;
//! use csdr_core::plan::order::RestoreOrder;
//!
//! let order = RestoreOrder::default();
//! let key = |group: &str, plural: &str| order.key(&GroupVersionResource::new(group, "v1", plural));
//! assert!(key("apiextensions.k8s.io", "customresourcedefinitions") < key("", "namespaces"));
//! assert!(key("", "services") < key("networking.k8s.io", "ingresses"));
//! assert!(key("apps", "deployments") < key("networking.k8s.io", "ingresses"));
//! assert!(key("", "secrets") < key("example.com", "secrets"));
//! ```

use crate::object::GroupVersionResource;
use crate::releases::builtin_resource_by_plural;

/// Velero's default restore priorities with RBAC and PriorityClasses added (R3).
pub const DEFAULT_RESTORE_PRIORITIES: [&str; 21] = [
    "customresourcedefinitions",
    "namespaces",
    "storageclasses",
    "volumesnapshotclasses",
    "volumesnapshotcontents",
    "volumesnapshots",
    "persistentvolumes",
    "persistentvolumeclaims",
    "clusterroles",
    "roles",
    "serviceaccounts",
    "clusterrolebindings",
    "rolebindings",
    "secrets",
    "configmaps",
    "limitranges",
    "priorityclasses",
    "pods",
    "replicasets",
    "endpoints",
    "services",
];

/// A configurable priority list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreOrder {
    priorities: Vec<String>,
}

impl Default for RestoreOrder {
    fn default() -> Self {
        RestoreOrder::new(DEFAULT_RESTORE_PRIORITIES.iter().map(|s| s.to_string()))
    }
}

/// Where a resource goes: its position in the priority list (resources not in it after all
/// those that are), then its `resource.group` name.
pub type ResourceRank = (usize, String);

impl RestoreOrder {
    /// An order with these priorities (each `plural` or `plural.group`).
    pub fn new(priorities: impl IntoIterator<Item = String>) -> Self {
        RestoreOrder {
            priorities: priorities.into_iter().collect(),
        }
    }

    /// The priorities, first first.
    pub fn priorities(&self) -> &[String] {
        &self.priorities
    }

    /// The sort key of a resource; smaller goes first.
    pub fn key(&self, resource: &GroupVersionResource) -> ResourceRank {
        let full = resource.group_resource();
        let builtin = builtin_resource_by_plural(&resource.group, &resource.resource).is_some();
        let position = self.priorities.iter().position(|entry| {
            let entry = entry.trim().to_ascii_lowercase();
            entry == full || (builtin && entry == resource.resource)
        });
        (position.unwrap_or(self.priorities.len()), full)
    }
}
