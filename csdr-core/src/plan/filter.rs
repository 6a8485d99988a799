//! The restore's filters (DESIGN R1): namespaces, resources, labels, cluster-scoped resources.
//!
//! - Namespaces are matched on the **source** namespace (before `namespace_mapping`), with `*`
//!   wildcards ([`wildcard_match`]); no included namespace (or `*`) means all of them.
//! - Resource names are plural, singular, kind, short name or `plural.group` (`*` = all),
//!   resolved against the backup's resources (with the names of the built-in table, the
//!   target's discovery or the backed-up CRD) and, so that a name valid elsewhere is not an
//!   error, the built-in table and the target's discovery. A name none of them knows is a
//!   [`PlanError::UnknownResource`]. Naming either group of a cohabiting pair names the unit.
//! - The label selector has the full Kubernetes syntax ([`LabelSelector`]).
//! - Cluster-scoped resources ([`ClusterResources`]): `false` restores none; `true` every one
//!   the backup holds; unset restores every one the backup holds when the restore takes every
//!   namespace, and otherwise only those related to the restored objects (PVs bound to restored
//!   claims, their StorageClasses, CRDs of restored custom resources), as Velero does.
//!
//! ```
//! use csdr_core::model::RestoreSpec;
//! use csdr_core::plan::filter::RestoreFilter;
//!
//! let mut spec = RestoreSpec::new("r1", "nightly");
//! spec.scope.included_namespaces = vec!["web-*".into()];
//! spec.scope.excluded_namespaces = vec!["web-test".into()];
//! let filter = RestoreFilter::new(&spec, "csdr", &[])?;
//! assert!(filter.includes_namespace("web-prod"));
//! assert!(!filter.includes_namespace("web-test"));
//! assert!(!filter.includes_namespace("shop"));
//! # Ok::<(), csdr_core::plan::PlanError>(())
//! ```

use serde_json::Value;

use crate::discovery::{ApiResource, ServedResource};
use crate::label_selector::LabelSelector;
use crate::model::{BackupScope, RestoreSpec};
use crate::object::KubeObject;
use crate::releases::{KubeRelease, builtin_resource_by_plural, builtin_resources};
use crate::resources::{
    COHABITING_RESOURCES, ClusterResources, ResourceList, SelectedResource, wildcard_match,
};

use super::PlanError;
use super::contents::{BackupContents, Held, ResourceKey};

/// The filters of one restore, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreFilter {
    /// The spec's scope, with the engine namespace added to the excluded namespaces.
    scope: BackupScope,
    selector: LabelSelector,
    cluster: ClusterResources,
}

fn is_all(names: &[String]) -> bool {
    names.iter().any(|n| n.trim() == "*")
}

impl RestoreFilter {
    /// Resolves a restore spec's filters. `known` is every resource a name may designate
    /// ([`known_resources`]); the engine namespace is never included.
    ///
    /// # Errors
    /// An included or excluded resource name that designates nothing in `known`, or an invalid
    /// label selector.
    pub fn new(
        spec: &RestoreSpec,
        engine_namespace: &str,
        known: &[SelectedResource],
    ) -> Result<Self, PlanError> {
        for (names, list) in [
            (&spec.scope.included_resources, ResourceList::Included),
            (&spec.scope.excluded_resources, ResourceList::Excluded),
        ] {
            if let Some(unknown) = names
                .iter()
                .find(|n| n.trim() != "*" && !known.iter().any(|u| u.answers_to(n)))
            {
                return Err(PlanError::UnknownResource {
                    name: unknown.clone(),
                    list,
                });
            }
        }
        let selector = match &spec.scope.label_selector {
            Some(text) => LabelSelector::parse(text)?,
            None => LabelSelector::everything(),
        };
        let every_namespace = (spec.scope.included_namespaces.is_empty()
            || is_all(&spec.scope.included_namespaces))
            && spec.scope.excluded_namespaces.is_empty();
        let cluster = match ClusterResources::from(spec.scope.include_cluster_resources) {
            ClusterResources::Related if every_namespace => ClusterResources::All,
            other => other,
        };
        let mut scope = spec.scope.clone();
        scope.excluded_namespaces.push(engine_namespace.to_string());
        Ok(RestoreFilter {
            scope,
            selector,
            cluster,
        })
    }

    /// Whether objects of a source namespace are restored.
    pub fn includes_namespace(&self, namespace: &str) -> bool {
        let included = self.scope.included_namespaces.is_empty()
            || self
                .scope
                .included_namespaces
                .iter()
                .any(|p| wildcard_match(p.trim(), namespace));
        included
            && !self
                .scope
                .excluded_namespaces
                .iter()
                .any(|p| wildcard_match(p.trim(), namespace))
    }

    /// Whether a resource is restored by the include/exclude names.
    pub fn includes_resource(&self, unit: &SelectedResource) -> bool {
        let included = self.scope.included_resources.is_empty()
            || is_all(&self.scope.included_resources)
            || self
                .scope
                .included_resources
                .iter()
                .any(|n| unit.answers_to(n));
        included
            && !is_all(&self.scope.excluded_resources)
            && !self
                .scope
                .excluded_resources
                .iter()
                .any(|n| unit.answers_to(n))
    }

    /// Whether an object's labels (as the index holds them, [`Held::labels`]) match the label
    /// selector.
    pub fn matches_labels(&self, held: &Held) -> bool {
        match held.labels() {
            Some(labels) => self.selector.matches(labels),
            None => self.selector.matches(&serde_json::Map::new()),
        }
    }

    /// Which cluster-scoped objects are restored: [`ClusterResources::Related`] only when the
    /// spec leaves it unset and restores some namespaces, not all.
    pub fn cluster_resources(&self) -> ClusterResources {
        self.cluster
    }
}

fn served(group: &str, resource: ApiResource) -> ServedResource {
    ServedResource {
        group: group.to_string(),
        resource,
        versions: Vec::new(),
        preferred_version: String::new(),
    }
}

/// The names of a resource in one group: the built-in table's, else the target's discovery,
/// else the backed-up CRD's, else the plural and the kind.
fn names_in_group(
    group: &str,
    plural: &str,
    kind: &str,
    contents: &BackupContents,
    discovery: &[ServedResource],
) -> ApiResource {
    if let Some(builtin) = builtin_resource_by_plural(group, plural) {
        return builtin.api_resource(KubeRelease::NEWEST);
    }
    if let Some(s) = discovery
        .iter()
        .find(|s| s.group == group && s.resource.plural == plural)
    {
        return s.resource.clone();
    }
    let mut names = ApiResource::new(kind, plural, true);
    if let Some(crd) = backed_up_crd(contents, group, plural) {
        let text = |p: &str| crd.pointer(p).and_then(Value::as_str).map(String::from);
        if let Some(k) = text("/spec/names/kind") {
            names.kind = k;
        }
        if let Some(s) = text("/spec/names/singular") {
            names.singular = s;
        }
        if let Some(Value::Array(short)) = crd.pointer("/spec/names/shortNames") {
            names.short_names = short
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect();
        }
    }
    names
}

/// The backed-up CustomResourceDefinition of `plural.group`, at its representative version.
pub fn backed_up_crd<'a>(
    contents: &'a BackupContents,
    group: &str,
    plural: &str,
) -> Option<&'a KubeObject> {
    let crds = contents.resource("apiextensions.k8s.io", "customresourcedefinitions")?;
    crds.whole_objects().map(|(_, crd)| crd).find(|crd| {
        crd.pointer("/spec/group").and_then(Value::as_str) == Some(group)
            && crd.pointer("/spec/names/plural").and_then(Value::as_str) == Some(plural)
    })
}

/// A backed-up resource as a selection unit, with every name it answers to (both groups of
/// a cohabiting pair).
pub fn backup_unit(
    key: &ResourceKey,
    kind: &str,
    contents: &BackupContents,
    discovery: &[ServedResource],
) -> SelectedResource {
    let primary = served(
        &key.group,
        names_in_group(&key.group, &key.plural, kind, contents, discovery),
    );
    let also_served_as = COHABITING_RESOURCES
        .iter()
        .filter(|(p, modern, _)| *p == key.plural && *modern == key.group)
        .map(|(_, _, old)| {
            served(
                old,
                names_in_group(old, &key.plural, kind, contents, discovery),
            )
        })
        .collect();
    SelectedResource {
        primary,
        also_served_as,
    }
}

/// Every resource a restore's resource names may designate: the backup's, the built-in
/// table's and the target's.
pub fn known_resources(
    contents: &BackupContents,
    discovery: &[ServedResource],
) -> Vec<SelectedResource> {
    let mut known: Vec<SelectedResource> = contents
        .resources()
        .map(|(key, res)| backup_unit(key, res.kind().unwrap_or_default(), contents, discovery))
        .collect();
    known.extend(builtin_resources().iter().map(|b| SelectedResource {
        primary: served(b.group, b.api_resource(KubeRelease::NEWEST)),
        also_served_as: Vec::new(),
    }));
    known.extend(discovery.iter().map(|s| SelectedResource {
        primary: s.clone(),
        also_served_as: Vec::new(),
    }));
    known
}
