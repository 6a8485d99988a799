//! What a backup takes: namespaces, resources, cluster-scoped resources and labels (B1–B5).
//!
//! - [`NamespaceFilter`] chooses namespaces from include/exclude patterns (`*` wildcards) and
//!   the namespaces that exist, with the default exclusions and B2's errors and warnings.
//! - [`ResourceFilter`] resolves include/exclude names (plural, singular, kind, short name or
//!   `plural.group`, case-insensitive) against a [`Discovery`] into [`SelectedResource`] units.
//!   A name that resolves to nothing is an error naming the name and its list, so a typo never
//!   silently backs up nothing. Resources served by two groups ("cohabiting": deployments in
//!   `apps` and `extensions`, …) form one unit, so each object is stored once with every
//!   served version of both groups.
//! - [`ClusterResources`] says which cluster-scoped resources are taken wholesale (B4), and
//!   [`RelatedClusterObjects`] collects the PVs, StorageClasses and CRDs that selected objects
//!   need when only related ones are taken.
//! - [`BackupSelection`] puts them together for a [`BackupSpec`], with its label selector.
//!
//! ```
//! use csdr_core::discovery::{ApiResource, DiscoveredGroup, DiscoveredVersion, Discovery};
//! use csdr_core::model::BackupSpec;
//! use csdr_core::selection::{BackupSelection, DEFAULT_ENGINE_NAMESPACE};
//!
//! let core = |resources| DiscoveredGroup {
//!     name: String::new(),
//!     preferred_version: "v1".into(),
//!     versions: vec![DiscoveredVersion { version: "v1".into(), resources }],
//! };
//! let discovery = Discovery {
//!     unavailable: vec![],
//!     groups: vec![core(vec![
//!         ApiResource::new("ConfigMap", "configmaps", true).with_short_names(&["cm"]),
//!         ApiResource::new("Secret", "secrets", true),
//!     ])],
//! };
//! let mut spec = BackupSpec::new("nightly");
//! spec.scope.included_namespaces = vec!["web-*".into(), "shop".into()];
//! spec.scope.included_resources = vec!["cm".into()];
//! let namespaces = ["web-a", "web-b", "kube-system", "csdr"];
//!
//! let selection = BackupSelection::resolve(&spec, &discovery, &namespaces, DEFAULT_ENGINE_NAMESPACE)?;
//! assert_eq!(selection.namespaces, ["web-a", "web-b"]);
//! assert_eq!(selection.resources.len(), 1);
//! assert_eq!(selection.resources[0].group_resource(), "configmaps");
//! // `shop` does not exist: the backup goes on with a warning (B2).
//! assert_eq!(selection.warnings[0].to_string(), "v1 Namespace shop: included namespace does not exist; it is skipped");
//! # Ok::<(), csdr_core::selection::SelectionError>(())
//! ```

use std::collections::BTreeSet;

use serde_json::Value;

use crate::discovery::{Discovery, ServedResource};
use crate::label_selector::{LabelSelector, LabelSelectorError};
use crate::model::{BackupSpec, Issue, ObjectRef};
use crate::object::KubeObject;
use crate::resources::{
    BUILT_IN_GROUPS, ClusterResources, ResourceList, ResourceName, SelectedResource, units_of,
    wildcard_match,
};
use crate::transform::volumes::LEGACY_STORAGE_CLASS_ANNOTATION;

/// The engine's own namespace unless configured otherwise; never backed up (B1).
pub const DEFAULT_ENGINE_NAMESPACE: &str = "csdr";

/// Namespaces left out unless included by exact name (B1), besides the engine's own.
pub const DEFAULT_EXCLUDED_NAMESPACES: [&str; 4] = [
    "ack-csi-fuse",
    "kube-system",
    "kube-public",
    "kube-node-lease",
];

/// Why a selection cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectionError {
    /// Include mode, and none of the included namespaces exists (B2).
    #[error("get target namespace failed: none of [{}] exists", .included.join(", "))]
    NoIncludedNamespaceExists {
        /// The included names and patterns, as given.
        included: Vec<String>,
    },
    /// An include or exclude name matches no resource the cluster serves (B3).
    #[error(
        "{list} resource {name:?} matches no resource the cluster serves by plural, singular, \
         kind, short name or plural.group; correct or remove it in {field} \
         (`kubectl api-resources` lists what the cluster serves)",
        field = .list.field()
    )]
    UnknownResource {
        /// The name as given.
        name: String,
        /// The list it came from.
        list: ResourceList,
    },
    /// An included name matches only resources the cluster cannot list (B3).
    #[error(
        "included resource {name:?} ({resources}) does not support `list` and `get`, so it \
         cannot be backed up; remove it from includedResources"
    )]
    ResourceNotListable {
        /// The name as given.
        name: String,
        /// The matching resources, `plural.group`, comma-separated.
        resources: String,
    },
    /// The backup's label selector is invalid.
    #[error(transparent)]
    LabelSelector(#[from] LabelSelectorError),
}

fn is_pattern(name: &str) -> bool {
    name.contains('*')
}

fn namespace_ref(name: &str) -> ObjectRef {
    ObjectRef {
        group: String::new(),
        version: "v1".into(),
        kind: "Namespace".into(),
        namespace: None,
        name: name.to_string(),
    }
}

fn dedup(names: &[String]) -> Vec<&str> {
    let mut seen = BTreeSet::new();
    names
        .iter()
        .map(String::as_str)
        .filter(|n| seen.insert(*n))
        .collect()
}

/// Namespace include/exclude patterns and the engine's own namespace (B1, B2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceFilter {
    /// Names or `*` patterns to back up; empty means every namespace.
    pub included: Vec<String>,
    /// Names or `*` patterns to leave out.
    pub excluded: Vec<String>,
    /// The engine's own namespace, always skipped.
    pub engine_namespace: String,
}

/// The namespaces chosen, sorted, and the warnings the choice raised.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamespaceSelection {
    /// The namespaces to back up, sorted, without duplicates.
    pub namespaces: Vec<String>,
    /// One warning per skipped explicit include, missing name or system namespace taken.
    pub warnings: Vec<Issue>,
}

impl NamespaceFilter {
    /// Include/exclude patterns with the default engine namespace.
    pub fn new(included: Vec<String>, excluded: Vec<String>) -> Self {
        NamespaceFilter {
            included,
            excluded,
            engine_namespace: DEFAULT_ENGINE_NAMESPACE.to_string(),
        }
    }

    /// The patterns of a backup spec, with the default engine namespace.
    pub fn of_backup(spec: &BackupSpec) -> Self {
        NamespaceFilter::new(
            spec.scope.included_namespaces.clone(),
            spec.scope.excluded_namespaces.clone(),
        )
    }

    /// The same filter with another engine namespace.
    pub fn with_engine_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.engine_namespace = namespace.into();
        self
    }

    fn is_excluded_by_default(&self, namespace: &str) -> bool {
        namespace == self.engine_namespace || DEFAULT_EXCLUDED_NAMESPACES.contains(&namespace)
    }

    /// Chooses among the namespaces that exist.
    ///
    /// - No includes: every namespace but the default exclusions. Includes: the namespaces they
    ///   match; a wildcard never brings in a default exclusion, an exact name of a system
    ///   namespace does (with a warning), the engine's namespace never does (with a warning).
    /// - Excludes then remove what they match; exclusion wins over inclusion.
    /// - An include that matches no existing namespace gives a warning; if no include matches
    ///   any, the selection fails with `get target namespace failed: none of [a, b] exists`.
    ///   An exclude that matches no existing namespace gives a warning.
    pub fn select<S: AsRef<str>>(
        &self,
        existing: &[S],
    ) -> Result<NamespaceSelection, SelectionError> {
        let existing: BTreeSet<&str> = existing.iter().map(AsRef::as_ref).collect();
        let mut chosen: BTreeSet<&str> = BTreeSet::new();
        let mut warnings = Vec::new();

        if self.included.is_empty() {
            chosen.extend(
                existing
                    .iter()
                    .filter(|ns| !self.is_excluded_by_default(ns)),
            );
        } else {
            let mut any_exists = false;
            for pattern in dedup(&self.included) {
                if is_pattern(pattern) {
                    let matched: Vec<&str> = existing
                        .iter()
                        .copied()
                        .filter(|ns| wildcard_match(pattern, ns))
                        .collect();
                    if matched.is_empty() {
                        warnings.push(Issue::general(format!(
                            "included namespace pattern {pattern} matches no namespace"
                        )));
                    }
                    any_exists |= !matched.is_empty();
                    chosen.extend(
                        matched
                            .into_iter()
                            .filter(|ns| !self.is_excluded_by_default(ns)),
                    );
                    continue;
                }
                let exists = existing.contains(pattern);
                any_exists |= exists;
                if pattern == self.engine_namespace {
                    warnings.push(Issue::about(
                        namespace_ref(pattern),
                        "the engine's own namespace is never backed up; it is skipped",
                    ));
                } else if !exists {
                    warnings.push(Issue::about(
                        namespace_ref(pattern),
                        "included namespace does not exist; it is skipped",
                    ));
                } else {
                    if DEFAULT_EXCLUDED_NAMESPACES.contains(&pattern) {
                        warnings.push(Issue::about(
                            namespace_ref(pattern),
                            "system namespace, excluded by default, is backed up because it is \
                             included by name; restoring it into another cluster is not supported",
                        ));
                    }
                    chosen.insert(pattern);
                }
            }
            if !any_exists {
                return Err(SelectionError::NoIncludedNamespaceExists {
                    included: dedup(&self.included)
                        .into_iter()
                        .map(String::from)
                        .collect(),
                });
            }
        }

        for pattern in dedup(&self.excluded) {
            let matched: Vec<&str> = existing
                .iter()
                .copied()
                .filter(|ns| wildcard_match(pattern, ns))
                .collect();
            if matched.is_empty() {
                warnings.push(if is_pattern(pattern) {
                    Issue::general(format!(
                        "excluded namespace pattern {pattern} matches no namespace"
                    ))
                } else {
                    Issue::about(namespace_ref(pattern), "excluded namespace does not exist")
                });
            }
            for ns in matched {
                chosen.remove(ns);
            }
        }

        Ok(NamespaceSelection {
            namespaces: chosen.into_iter().map(String::from).collect(),
            warnings,
        })
    }
}

/// Resource include/exclude names (B3).
///
/// A name is a plural (`deployments`), singular (`deployment`), kind (`Deployment`, any case),
/// short name (`deploy`, `pvc`) or any of these followed by `.group`
/// (`deployments.apps`, `ingresses.networking.k8s.io`); `*` means every resource. A bare name
/// selects that resource in every group serving it. Naming either group of a cohabiting pair
/// selects (or excludes) the whole unit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceFilter {
    /// Names to back up; empty (or containing `*`) means every resource.
    pub included: Vec<String>,
    /// Names to leave out; `*` leaves out everything.
    pub excluded: Vec<String>,
}

impl ResourceFilter {
    /// Include and exclude names.
    pub fn new(included: Vec<String>, excluded: Vec<String>) -> Self {
        ResourceFilter { included, excluded }
    }

    /// The names of a backup spec.
    pub fn of_backup(spec: &BackupSpec) -> Self {
        ResourceFilter::new(
            spec.scope.included_resources.clone(),
            spec.scope.excluded_resources.clone(),
        )
    }

    /// The units to back up, in discovery order.
    ///
    /// Errors: a name (other than `*`) that matches no served resource
    /// ([`SelectionError::UnknownResource`], naming the name and its list), and an included name
    /// that matches only resources without `list`/`get` ([`SelectionError::ResourceNotListable`]).
    pub fn select(&self, discovery: &Discovery) -> Result<Vec<SelectedResource>, SelectionError> {
        let served = discovery.served_resources();
        let units = units_of(&served);
        let check = |name: &str, list: ResourceList| -> Result<(), SelectionError> {
            if name.trim() == "*" || units.iter().any(|u| u.answers_to(name)) {
                return Ok(());
            }
            let parsed = ResourceName::parse(name);
            let unlistable: Vec<String> = served
                .iter()
                .filter(|s| parsed.designates(s))
                .map(ServedResource::group_resource)
                .collect();
            match (unlistable.is_empty(), list) {
                (true, _) => Err(SelectionError::UnknownResource {
                    name: name.to_string(),
                    list,
                }),
                (false, ResourceList::Included) => Err(SelectionError::ResourceNotListable {
                    name: name.to_string(),
                    resources: unlistable.join(", "),
                }),
                // Excluding something that cannot be listed anyway is harmless.
                (false, ResourceList::Excluded) => Ok(()),
            }
        };
        for name in &self.included {
            check(name, ResourceList::Included)?;
        }
        for name in &self.excluded {
            check(name, ResourceList::Excluded)?;
        }
        let everything = |names: &[String]| names.iter().any(|n| n.trim() == "*");
        let include_all = self.included.is_empty() || everything(&self.included);
        let exclude_all = everything(&self.excluded);
        Ok(units
            .into_iter()
            .filter(|u| include_all || self.included.iter().any(|n| u.answers_to(n)))
            .filter(|u| !exclude_all && !self.excluded.iter().any(|n| u.answers_to(n)))
            .collect())
    }
}

/// Names of the cluster-scoped objects that selected objects depend on (B4, mode `Related`).
///
/// Feed it every selected object with the unit it was listed from, then the PVs fetched by
/// name (so their StorageClasses are added too).
///
/// ```
/// # use csdr_core::discovery::{ApiResource, ServedResource};
/// # use csdr_core::object::KubeObject;
/// # use csdr_core::resources::SelectedResource;
/// # use csdr_core::selection::RelatedClusterObjects;
/// # use serde_json::json;
/// let pvcs = SelectedResource {
///     primary: ServedResource {
///         group: String::new(),
///         resource: ApiResource::new("PersistentVolumeClaim", "persistentvolumeclaims", true),
///         versions: vec!["v1".into()],
///         preferred_version: "v1".into(),
///     },
///     also_served_as: vec![],
/// };
/// let claim = KubeObject::new(json!({
///     "apiVersion": "v1", "kind": "PersistentVolumeClaim",
///     "metadata": {"name": "data", "namespace": "shop"},
///     "spec": {"volumeName": "pv-123", "storageClassName": "fast"},
/// }))?;
/// let mut related = RelatedClusterObjects::default();
/// related.note(&pvcs, &claim);
/// assert!(related.persistent_volumes.contains("pv-123"));
/// assert!(related.storage_classes.contains("fast"));
/// # Ok::<(), csdr_core::object::ObjectError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RelatedClusterObjects {
    /// PersistentVolumes bound to selected PVCs.
    pub persistent_volumes: BTreeSet<String>,
    /// StorageClasses of those PVCs and PVs.
    pub storage_classes: BTreeSet<String>,
    /// CustomResourceDefinitions (`plural.group`) of selected objects outside the built-in
    /// groups. A name that is not found is served by an aggregated API, not a CRD: skip it.
    pub custom_resource_definitions: BTreeSet<String>,
}

impl RelatedClusterObjects {
    /// Notes what one object, listed from `unit`, depends on.
    pub fn note(&mut self, unit: &SelectedResource, object: &KubeObject) {
        let group = unit.primary.group.as_str();
        let text = |pointer: &str| {
            object
                .pointer(pointer)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(String::from)
        };
        let storage_class = || {
            text("/spec/storageClassName").or_else(|| {
                object
                    .annotation(LEGACY_STORAGE_CLASS_ANNOTATION)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
            })
        };
        match (group, unit.plural()) {
            ("", "persistentvolumeclaims") => {
                self.persistent_volumes.extend(text("/spec/volumeName"));
                self.storage_classes.extend(storage_class());
            }
            ("", "persistentvolumes") => self.storage_classes.extend(storage_class()),
            _ if !BUILT_IN_GROUPS.contains(&group) => {
                self.custom_resource_definitions
                    .insert(unit.group_resource());
            }
            _ => {}
        }
    }

    /// Whether nothing is needed.
    pub fn is_empty(&self) -> bool {
        self.persistent_volumes.is_empty()
            && self.storage_classes.is_empty()
            && self.custom_resource_definitions.is_empty()
    }
}

/// Everything a backup spec selects, resolved against the cluster (B1–B5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupSelection {
    /// The namespaces to back up, sorted.
    pub namespaces: Vec<String>,
    /// The resource units to back up (namespaced and cluster-scoped), in discovery order.
    pub resources: Vec<SelectedResource>,
    /// How cluster-scoped resources are taken.
    pub cluster_resources: ClusterResources,
    /// The objects' labels must match it (matches everything when the spec has none).
    pub label_selector: LabelSelector,
    /// Warnings raised by the namespace choice.
    pub warnings: Vec<Issue>,
}

impl BackupSelection {
    /// Resolves a spec against the cluster's discovery and existing namespaces.
    pub fn resolve<S: AsRef<str>>(
        spec: &BackupSpec,
        discovery: &Discovery,
        existing_namespaces: &[S],
        engine_namespace: &str,
    ) -> Result<Self, SelectionError> {
        let label_selector = match &spec.scope.label_selector {
            Some(text) => LabelSelector::parse(text)?,
            None => LabelSelector::everything(),
        };
        let resources = ResourceFilter::of_backup(spec).select(discovery)?;
        let namespaces = NamespaceFilter::of_backup(spec)
            .with_engine_namespace(engine_namespace)
            .select(existing_namespaces)?;
        Ok(BackupSelection {
            namespaces: namespaces.namespaces,
            resources,
            cluster_resources: spec.scope.include_cluster_resources.into(),
            label_selector,
            warnings: namespaces.warnings,
        })
    }

    /// The namespaced units, to list in each selected namespace.
    pub fn namespaced_resources(&self) -> impl Iterator<Item = &SelectedResource> {
        self.resources.iter().filter(|u| u.namespaced())
    }

    /// The cluster-scoped units to list in full (see [`ClusterResources::wholesale`]).
    pub fn wholesale_cluster_resources(&self) -> Vec<&SelectedResource> {
        self.cluster_resources.wholesale(&self.resources)
    }

    /// Whether a listed object is taken: a namespaced object must be in a selected namespace,
    /// and every object's labels must match the label selector. (Related cluster-scoped objects
    /// fetched by name are taken regardless of labels.)
    pub fn selects(&self, object: &KubeObject) -> bool {
        let in_namespace = match object.namespace() {
            Some(ns) => self
                .namespaces
                .binary_search_by(|n| n.as_str().cmp(ns))
                .is_ok(),
            None => true,
        };
        in_namespace && self.label_selector.matches_object(object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::{ApiResource, DiscoveredGroup, DiscoveredVersion};
    use crate::object::{GroupVersion, GroupVersionResource};
    use crate::resources::selectable_resources;
    use serde_json::json;

    // ---- namespaces ----

    fn strings(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    const CLUSTER: [&str; 9] = [
        "default",
        "web-a",
        "web-b",
        "shop",
        "csdr",
        "ack-csi-fuse",
        "kube-system",
        "kube-public",
        "kube-node-lease",
    ];

    fn select(included: &[&str], excluded: &[&str]) -> Result<NamespaceSelection, SelectionError> {
        NamespaceFilter::new(strings(included), strings(excluded)).select(&CLUSTER)
    }

    fn messages(selection: &NamespaceSelection) -> Vec<String> {
        selection.warnings.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match("web-*", "web-a"));
        assert!(wildcard_match("web-*", "web-"));
        assert!(!wildcard_match("web-*", "web"));
        assert!(wildcard_match("*-a", "web-a"));
        assert!(wildcard_match("w*b*a", "web-a"));
        assert!(wildcard_match("a*b*c", "aXbYbZc"));
        assert!(!wildcard_match("a*b*c", "aXbYc-"));
        assert!(wildcard_match("shop", "shop"));
        assert!(!wildcard_match("shop", "shops"));
        assert!(wildcard_match("**", "x"));
    }

    #[test]
    fn namespace_table() {
        /// (included, excluded, chosen, warnings)
        type Case<'a> = (&'a [&'a str], &'a [&'a str], &'a [&'a str], &'a [&'a str]);
        let table: &[Case] = &[
            // Everything but the default exclusions.
            (&[], &[], &["default", "shop", "web-a", "web-b"], &[]),
            (&["*"], &[], &["default", "shop", "web-a", "web-b"], &[]),
            (&["web-*"], &[], &["web-a", "web-b"], &[]),
            // A wildcard never brings in a default exclusion.
            (&["kube-*", "shop"], &[], &["shop"], &[]),
            (&["c*"], &[], &[], &[]),
            // An exact system namespace is honoured with a warning.
            (
                &["kube-system", "shop"],
                &[],
                &["kube-system", "shop"],
                &[
                    "v1 Namespace kube-system: system namespace, excluded by default, is backed up \
                   because it is included by name; restoring it into another cluster is not supported",
                ],
            ),
            (
                &["ack-csi-fuse"],
                &[],
                &["ack-csi-fuse"],
                &[
                    "v1 Namespace ack-csi-fuse: system namespace, excluded by default, is backed up \
                   because it is included by name; restoring it into another cluster is not supported",
                ],
            ),
            // The engine's namespace, never.
            (
                &["csdr", "shop"],
                &[],
                &["shop"],
                &[
                    "v1 Namespace csdr: the engine's own namespace is never backed up; it is skipped",
                ],
            ),
            (
                &["csdr"],
                &[],
                &[],
                &[
                    "v1 Namespace csdr: the engine's own namespace is never backed up; it is skipped",
                ],
            ),
            // Some missing: the rest, one warning per missing name.
            (
                &["shop", "gone", "lost", "gone"],
                &[],
                &["shop"],
                &[
                    "v1 Namespace gone: included namespace does not exist; it is skipped",
                    "v1 Namespace lost: included namespace does not exist; it is skipped",
                ],
            ),
            (
                &["shop", "api-*"],
                &[],
                &["shop"],
                &["included namespace pattern api-* matches no namespace"],
            ),
            // Exclusions, and exclusion wins.
            (&[], &["web-*"], &["default", "shop"], &[]),
            (&["web-*", "shop"], &["web-b"], &["shop", "web-a"], &[]),
            (
                &["kube-system"],
                &["kube-*"],
                &[],
                &[
                    "v1 Namespace kube-system: system namespace, excluded by default, is backed up \
                 because it is included by name; restoring it into another cluster is not supported",
                ],
            ),
            (&[], &["*"], &[], &[]),
            (
                &[],
                &["shop", "gone"],
                &["default", "web-a", "web-b"],
                &["v1 Namespace gone: excluded namespace does not exist"],
            ),
            (
                &[],
                &["test-*"],
                &["default", "shop", "web-a", "web-b"],
                &["excluded namespace pattern test-* matches no namespace"],
            ),
        ];
        for (included, excluded, chosen, warnings) in table {
            let selection = select(included, excluded)
                .unwrap_or_else(|e| panic!("{included:?} / {excluded:?}: {e}"));
            assert_eq!(
                selection.namespaces,
                strings(chosen),
                "{included:?} / {excluded:?}"
            );
            assert_eq!(
                messages(&selection),
                strings(warnings),
                "{included:?} / {excluded:?}"
            );
        }
    }

    #[test]
    fn none_of_the_included_namespaces_exists() {
        let err = select(&["a", "b"], &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "get target namespace failed: none of [a, b] exists"
        );
        let err = select(&["gone", "api-*", "gone"], &["shop"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "get target namespace failed: none of [gone, api-*] exists"
        );
        // The engine's namespace exists, so this is not "none exists": it is skipped instead.
        assert!(select(&["csdr", "gone"], &[]).is_ok());
    }

    #[test]
    fn engine_namespace_is_configurable() {
        let filter = NamespaceFilter::new(vec![], vec![]).with_engine_namespace("backup-system");
        let selection = filter.select(&["csdr", "backup-system", "shop"]).unwrap();
        assert_eq!(selection.namespaces, ["csdr", "shop"]);
        let filter = NamespaceFilter::new(strings(&["backup-system"]), vec![])
            .with_engine_namespace("backup-system");
        let selection = filter.select(&["backup-system", "shop"]).unwrap();
        assert!(selection.namespaces.is_empty());
        assert_eq!(
            messages(&selection),
            [
                "v1 Namespace backup-system: the engine's own namespace is never backed up; it is skipped"
            ]
        );
    }

    // ---- discovery fixture: Kubernetes 1.16 as the FAQ describes it ----

    fn version(version: &str, resources: Vec<ApiResource>) -> DiscoveredVersion {
        DiscoveredVersion {
            version: version.into(),
            resources,
        }
    }

    fn group(name: &str, preferred: &str, versions: Vec<DiscoveredVersion>) -> DiscoveredGroup {
        DiscoveredGroup {
            name: name.into(),
            preferred_version: preferred.into(),
            versions,
        }
    }

    fn res(kind: &str, plural: &str, namespaced: bool, short: &[&str]) -> ApiResource {
        ApiResource::new(kind, plural, namespaced).with_short_names(short)
    }

    fn k8s_116() -> Discovery {
        let deploy = || res("Deployment", "deployments", true, &["deploy"]);
        let ds = || res("DaemonSet", "daemonsets", true, &["ds"]);
        let rs = || res("ReplicaSet", "replicasets", true, &["rs"]);
        let ing = || res("Ingress", "ingresses", true, &["ing"]);
        let netpol = || res("NetworkPolicy", "networkpolicies", true, &["netpol"]);
        let psp = || res("PodSecurityPolicy", "podsecuritypolicies", false, &["psp"]);
        let event = || res("Event", "events", true, &["ev"]);
        let mut binding = res("Binding", "bindings", true, &[]);
        binding.verbs = vec!["create".into()];
        let mut token_review = res("TokenReview", "tokenreviews", false, &[]);
        token_review.verbs = vec!["create".into()];
        Discovery {
            unavailable: Vec::new(),
            groups: vec![
                group(
                    "",
                    "v1",
                    vec![version(
                        "v1",
                        vec![
                            res("Pod", "pods", true, &["po"]),
                            res("Pod", "pods/log", true, &[]),
                            res("Service", "services", true, &["svc"]),
                            res("ConfigMap", "configmaps", true, &["cm"]),
                            res("Secret", "secrets", true, &[]),
                            res(
                                "PersistentVolumeClaim",
                                "persistentvolumeclaims",
                                true,
                                &["pvc"],
                            ),
                            res("PersistentVolume", "persistentvolumes", false, &["pv"]),
                            res("Namespace", "namespaces", false, &["ns"]),
                            event(),
                            binding,
                        ],
                    )],
                ),
                group(
                    "apps",
                    "v1",
                    vec![
                        version("v1", vec![deploy(), ds(), rs()]),
                        version("v1beta2", vec![deploy(), ds(), rs()]),
                        version("v1beta1", vec![deploy()]),
                    ],
                ),
                group(
                    "events.k8s.io",
                    "v1beta1",
                    vec![version("v1beta1", vec![event()])],
                ),
                group(
                    "extensions",
                    "v1beta1",
                    vec![version(
                        "v1beta1",
                        vec![deploy(), ds(), rs(), ing(), netpol(), psp()],
                    )],
                ),
                group(
                    "networking.k8s.io",
                    "v1",
                    vec![
                        version("v1", vec![netpol()]),
                        version("v1beta1", vec![ing()]),
                    ],
                ),
                group(
                    "authentication.k8s.io",
                    "v1",
                    vec![version("v1", vec![token_review])],
                ),
                group(
                    "storage.k8s.io",
                    "v1",
                    vec![version(
                        "v1",
                        vec![res("StorageClass", "storageclasses", false, &["sc"])],
                    )],
                ),
                group(
                    "stable.example.com",
                    "v1",
                    vec![version(
                        "v1",
                        vec![res("CronTab", "crontabs", true, &["ct"])],
                    )],
                ),
            ],
        }
    }

    fn gv_strings(unit: &SelectedResource) -> Vec<String> {
        unit.group_versions()
            .iter()
            .map(|gv| gv.to_string())
            .collect()
    }

    fn unit<'a>(units: &'a [SelectedResource], group_resource: &str) -> &'a SelectedResource {
        units
            .iter()
            .find(|u| u.group_resource() == group_resource)
            .unwrap_or_else(|| panic!("no unit {group_resource}"))
    }

    fn selected(included: &[&str], excluded: &[&str]) -> Result<Vec<String>, SelectionError> {
        ResourceFilter::new(strings(included), strings(excluded))
            .select(&k8s_116())
            .map(|units| units.iter().map(SelectedResource::group_resource).collect())
    }

    #[test]
    fn cohabiting_resources_form_one_unit_with_every_version() {
        let units = selectable_resources(&k8s_116());
        let table: &[(&str, &[&str])] = &[
            (
                "deployments.apps",
                &[
                    "apps/v1",
                    "apps/v1beta2",
                    "apps/v1beta1",
                    "extensions/v1beta1",
                ],
            ),
            (
                "daemonsets.apps",
                &["apps/v1", "apps/v1beta2", "extensions/v1beta1"],
            ),
            (
                "replicasets.apps",
                &["apps/v1", "apps/v1beta2", "extensions/v1beta1"],
            ),
            (
                "ingresses.networking.k8s.io",
                &["networking.k8s.io/v1beta1", "extensions/v1beta1"],
            ),
            (
                "networkpolicies.networking.k8s.io",
                &["networking.k8s.io/v1", "extensions/v1beta1"],
            ),
            // Not served by `policy` on this cluster: the old group is the primary.
            ("podsecuritypolicies.extensions", &["extensions/v1beta1"]),
            ("events.events.k8s.io", &["events.k8s.io/v1beta1", "v1"]),
            ("pods", &["v1"]),
        ];
        for (group_resource, versions) in table {
            assert_eq!(
                gv_strings(unit(&units, group_resource)),
                strings(versions),
                "{group_resource}"
            );
        }
        // One unit per real resource; non-listable bindings/tokenreviews are absent.
        let names: Vec<String> = units.iter().map(SelectedResource::group_resource).collect();
        assert_eq!(
            names,
            strings(&[
                "pods",
                "services",
                "configmaps",
                "secrets",
                "persistentvolumeclaims",
                "persistentvolumes",
                "namespaces",
                "events.events.k8s.io",
                "deployments.apps",
                "daemonsets.apps",
                "replicasets.apps",
                "ingresses.networking.k8s.io",
                "networkpolicies.networking.k8s.io",
                "podsecuritypolicies.extensions",
                "storageclasses.storage.k8s.io",
                "crontabs.stable.example.com",
            ])
        );
        let ingress = unit(&units, "ingresses.networking.k8s.io");
        assert_eq!(
            ingress.preferred(),
            GroupVersion::new("networking.k8s.io", "v1beta1")
        );
        assert!(ingress.is_served_as("extensions", "ingresses"));
        assert_eq!(
            ingress.gvrs()[1],
            GroupVersionResource::new("extensions", "v1beta1", "ingresses")
        );
        let netpol = unit(&units, "networkpolicies.networking.k8s.io");
        assert_eq!(
            netpol.preferred(),
            GroupVersion::new("networking.k8s.io", "v1")
        );
    }

    #[test]
    fn resource_names_resolve_by_every_form() {
        let table: &[(&[&str], &[&str], &[&str])] = &[
            (
                &["pvc", "pv"],
                &[],
                &["persistentvolumeclaims", "persistentvolumes"],
            ),
            (&["Deployment"], &[], &["deployments.apps"]),
            (&["deployment"], &[], &["deployments.apps"]),
            (&["DEPLOYMENTS"], &[], &["deployments.apps"]),
            (&["deploy"], &[], &["deployments.apps"]),
            (&["deployments.apps"], &[], &["deployments.apps"]),
            (&["deployments.extensions"], &[], &["deployments.apps"]),
            (&["Deployment.apps"], &[], &["deployments.apps"]),
            (
                &["ingresses.networking.k8s.io"],
                &[],
                &["ingresses.networking.k8s.io"],
            ),
            (
                &["ingresses.extensions"],
                &[],
                &["ingresses.networking.k8s.io"],
            ),
            (
                &["ing", "netpol"],
                &[],
                &[
                    "ingresses.networking.k8s.io",
                    "networkpolicies.networking.k8s.io",
                ],
            ),
            (&["events"], &[], &["events.events.k8s.io"]),
            (&["ev"], &[], &["events.events.k8s.io"]),
            (&["ct"], &[], &["crontabs.stable.example.com"]),
            (&["configmaps", "secrets"], &["secret"], &["configmaps"]),
            (&[], &["*"], &[]),
            (
                &["*"],
                &[
                    "pods", "svc", "cm", "secrets", "pvc", "pv", "ns", "events", "deploy", "ds",
                    "rs", "ing", "netpol", "psp", "sc",
                ],
                &["crontabs.stable.example.com"],
            ),
            // Excluding through the old group excludes the whole unit.
            (
                &["deploy", "ds"],
                &["deployments.extensions"],
                &["daemonsets.apps"],
            ),
            // Excluding a resource that cannot be listed is harmless.
            (&["cm"], &["bindings"], &["configmaps"]),
        ];
        for (included, excluded, expected) in table {
            assert_eq!(
                selected(included, excluded).unwrap(),
                strings(expected),
                "{included:?} / {excluded:?}"
            );
        }
        assert_eq!(selected(&[], &[]).unwrap().len(), 16);
    }

    #[test]
    fn unresolvable_names_are_errors() {
        let err = selected(&["deploymens"], &[]).unwrap_err();
        assert_eq!(
            err,
            SelectionError::UnknownResource {
                name: "deploymens".into(),
                list: ResourceList::Included
            }
        );
        assert_eq!(
            err.to_string(),
            "included resource \"deploymens\" matches no resource the cluster serves by plural, \
             singular, kind, short name or plural.group; correct or remove it in includedResources \
             (`kubectl api-resources` lists what the cluster serves)"
        );
        let err = selected(&[], &["secrest"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "excluded resource \"secrest\" matches no resource the cluster serves by plural, \
             singular, kind, short name or plural.group; correct or remove it in excludedResources \
             (`kubectl api-resources` lists what the cluster serves)"
        );
        // A group the resource is not served in.
        assert!(matches!(
            selected(&["deployments.batch"], &[]),
            Err(SelectionError::UnknownResource { .. })
        ));
        assert!(matches!(
            selected(&["podsecuritypolicies.policy"], &[]),
            Err(SelectionError::UnknownResource { .. })
        ));
        let err = selected(&["tokenreviews"], &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "included resource \"tokenreviews\" (tokenreviews.authentication.k8s.io) does not \
             support `list` and `get`, so it cannot be backed up; remove it from includedResources"
        );
    }

    #[test]
    fn modern_group_is_primary_when_served_and_old_group_otherwise() {
        // A cluster serving deployments only in extensions (before apps existed).
        let old = Discovery {
            unavailable: Vec::new(),
            groups: vec![group(
                "extensions",
                "v1beta1",
                vec![version(
                    "v1beta1",
                    vec![res("Deployment", "deployments", true, &[])],
                )],
            )],
        };
        let units = selectable_resources(&old);
        assert_eq!(units.len(), 1);
        assert_eq!(units[0].group_resource(), "deployments.extensions");
        assert!(units[0].answers_to("deployments.extensions"));
        assert!(units[0].answers_to("Deployment"));
        assert!(units[0].also_served_as.is_empty());
        // And a non-listable modern group does not take over.
        let mut d = k8s_116();
        for g in &mut d.groups {
            if g.name == "apps" {
                for v in &mut g.versions {
                    for r in &mut v.resources {
                        r.verbs.retain(|v| v != "list");
                    }
                }
            }
        }
        let units = selectable_resources(&d);
        assert_eq!(
            gv_strings(unit(&units, "deployments.extensions")),
            ["extensions/v1beta1"]
        );
    }

    #[test]
    fn bare_name_selects_every_group_qualified_name_one() {
        let crd = |group: &str| {
            group_version_with(group, res("Certificate", "certificates", true, &["cert"]))
        };
        let discovery = Discovery {
            unavailable: Vec::new(),
            groups: vec![crd("cert-manager.io"), crd("networking.internal.example")],
        };
        let names = |included: &[&str]| -> Vec<String> {
            ResourceFilter::new(strings(included), vec![])
                .select(&discovery)
                .unwrap()
                .iter()
                .map(SelectedResource::group_resource)
                .collect()
        };
        assert_eq!(
            names(&["certificates"]),
            [
                "certificates.cert-manager.io",
                "certificates.networking.internal.example"
            ]
        );
        assert_eq!(
            names(&["cert.cert-manager.io"]),
            ["certificates.cert-manager.io"]
        );
    }

    fn group_version_with(name: &str, resource: ApiResource) -> DiscoveredGroup {
        group(name, "v1", vec![version("v1", vec![resource])])
    }

    // ---- cluster-scoped resources ----

    #[test]
    fn cluster_resources_modes() {
        let units = selectable_resources(&k8s_116());
        assert_eq!(ClusterResources::from(None), ClusterResources::Related);
        assert_eq!(ClusterResources::from(Some(true)), ClusterResources::All);
        assert_eq!(ClusterResources::from(Some(false)), ClusterResources::None);
        let wholesale: Vec<String> = ClusterResources::All
            .wholesale(&units)
            .into_iter()
            .map(SelectedResource::group_resource)
            .collect();
        assert_eq!(
            wholesale,
            strings(&[
                "persistentvolumes",
                "namespaces",
                "podsecuritypolicies.extensions",
                "storageclasses.storage.k8s.io"
            ])
        );
        assert!(ClusterResources::None.wholesale(&units).is_empty());
        assert!(ClusterResources::Related.wholesale(&units).is_empty());
        assert!(ClusterResources::Related.adds_related());
        assert!(!ClusterResources::All.adds_related());
        assert!(!ClusterResources::None.adds_related());
    }

    fn object(value: serde_json::Value) -> KubeObject {
        KubeObject::new(value).unwrap()
    }

    #[test]
    fn related_cluster_objects() {
        let units = selectable_resources(&k8s_116());
        let mut related = RelatedClusterObjects::default();
        let pvc = |name: &str, spec: serde_json::Value, annotations: serde_json::Value| {
            object(json!({
                "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": name, "namespace": "shop", "annotations": annotations},
                "spec": spec,
            }))
        };
        let pvcs = unit(&units, "persistentvolumeclaims");
        related.note(
            pvcs,
            &pvc(
                "bound",
                json!({"volumeName": "pv-1", "storageClassName": "fast"}),
                json!({}),
            ),
        );
        related.note(
            pvcs,
            &pvc("pending", json!({"storageClassName": ""}), json!({})),
        );
        related.note(
            pvcs,
            &pvc(
                "legacy",
                json!({"volumeName": "pv-2"}),
                json!({"volume.beta.kubernetes.io/storage-class": "slow"}),
            ),
        );
        related.note(
            unit(&units, "persistentvolumes"),
            &object(json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv-3"}, "spec": {"storageClassName": "archive"}})),
        );
        related.note(
            unit(&units, "crontabs.stable.example.com"),
            &object(json!({"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "c", "namespace": "shop"}})),
        );
        related.note(
            unit(&units, "deployments.apps"),
            &object(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "shop"}})),
        );
        assert_eq!(
            related.persistent_volumes,
            BTreeSet::from(["pv-1".to_string(), "pv-2".to_string()])
        );
        assert_eq!(
            related.storage_classes,
            BTreeSet::from([
                "archive".to_string(),
                "fast".to_string(),
                "slow".to_string()
            ])
        );
        assert_eq!(
            related.custom_resource_definitions,
            BTreeSet::from(["crontabs.stable.example.com".to_string()])
        );
        assert!(RelatedClusterObjects::default().is_empty());
    }

    // ---- the whole selection ----

    #[test]
    fn backup_selection_applies_namespaces_and_labels() {
        let mut spec = BackupSpec::new("b");
        spec.scope.included_namespaces = strings(&["shop", "web-*"]);
        spec.scope.excluded_resources = strings(&["events"]);
        spec.scope.label_selector = Some("app=web,tier notin (cache)".into());
        spec.scope.include_cluster_resources = Some(true);
        let selection = BackupSelection::resolve(&spec, &k8s_116(), &CLUSTER, "csdr").unwrap();
        assert_eq!(selection.namespaces, strings(&["shop", "web-a", "web-b"]));
        assert!(selection.warnings.is_empty());
        assert_eq!(selection.cluster_resources, ClusterResources::All);
        assert!(!selection.resources.iter().any(|u| u.plural() == "events"));
        assert_eq!(selection.wholesale_cluster_resources().len(), 4);
        assert!(
            selection
                .namespaced_resources()
                .all(SelectedResource::namespaced)
        );

        let pod = |ns: Option<&str>, labels: serde_json::Value| {
            let mut metadata = json!({"name": "p", "labels": labels});
            if let Some(ns) = ns {
                metadata["namespace"] = json!(ns);
            }
            object(json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata}))
        };
        assert!(selection.selects(&pod(Some("shop"), json!({"app": "web"}))));
        assert!(selection.selects(&pod(Some("web-b"), json!({"app": "web", "tier": "front"}))));
        assert!(!selection.selects(&pod(Some("shop"), json!({"app": "web", "tier": "cache"}))));
        assert!(!selection.selects(&pod(Some("shop"), json!({}))));
        assert!(!selection.selects(&pod(Some("default"), json!({"app": "web"}))));
        assert!(selection.selects(&pod(None, json!({"app": "web"}))));
        assert!(!selection.selects(&pod(None, json!({"app": "db"}))));
    }

    #[test]
    fn backup_selection_errors() {
        let mut spec = BackupSpec::new("b");
        spec.scope.label_selector = Some("app=web tier".into());
        let err = BackupSelection::resolve(&spec, &k8s_116(), &CLUSTER, "csdr").unwrap_err();
        assert!(matches!(err, SelectionError::LabelSelector(_)), "{err}");
        assert!(err.to_string().contains("at position 8"), "{err}");

        let mut spec = BackupSpec::new("b");
        spec.scope.included_namespaces = strings(&["gone"]);
        let err = BackupSelection::resolve(&spec, &k8s_116(), &CLUSTER, "csdr").unwrap_err();
        assert_eq!(
            err.to_string(),
            "get target namespace failed: none of [gone] exists"
        );

        let mut spec = BackupSpec::new("b");
        spec.scope.included_resources = strings(&["deploymentz"]);
        let err = BackupSelection::resolve(&spec, &k8s_116(), &CLUSTER, "csdr").unwrap_err();
        assert!(matches!(err, SelectionError::UnknownResource { .. }));

        let spec = BackupSpec::new("b");
        let selection = BackupSelection::resolve(&spec, &k8s_116(), &CLUSTER, "csdr").unwrap();
        assert_eq!(selection.cluster_resources, ClusterResources::Related);
        assert!(selection.label_selector.is_everything());
        assert!(selection.wholesale_cluster_resources().is_empty());
    }
}
