//! KubernetesConvert (DESIGN R2): which API version a backed-up resource is restored at, and
//! the built-in migrations that rewrite an object from a removed API version to a served one.
//!
//! A backup holds every version the source served for a resource (B5). At restore,
//! [`choose_version`] picks, per resource, with this exact precedence:
//!
//! 1. the target's preferred version, if it was backed up;
//! 2. else the source's preferred version, if the target serves it;
//! 3. else the highest-priority version both share (GA > beta > alpha, higher number first,
//!    see [`crate::version_priority`]);
//! 4. else a built-in [`Migration`] chain from a backed-up version to a version the target
//!    serves (the target's preferred version first; the shortest chain, then the
//!    highest-priority backed-up version);
//! 5. else [`ConvertError::NoSharedVersion`]: `no API version shared between source and
//!    target; deploy it manually`.
//!
//! Custom resources and anything else without a registered migration are only ever chosen,
//! never converted. PodSecurityPolicy is reported as [`ConvertError::NotRestorable`].
//!
//! The migrations form a registry of pure functions ([`MigrationRegistry`]); [`convert`]
//! finds the shortest chain (e.g. `extensions/v1beta1` Ingress → `networking.k8s.io/v1beta1`
//! → `networking.k8s.io/v1`). Every family is registered in both directions, so an object
//! stored at one version can be served at every version a release serves; where a downgrade
//! loses information that is said in the family's module. Every migration sets `apiVersion`
//! and leaves every field it does not own unchanged.
//!
//! ## Sources of truth
//! The field rules follow the official deprecation guide
//! (<https://kubernetes.io/docs/reference/using-api/deprecation-guide/>) and the Kubernetes
//! conversion and defaulting code (`pkg/apis/<group>/<version>/{conversion,defaults}.go` in
//! kubernetes/kubernetes); each family module cites the files its rules come from:
//!
//! | module | kinds |
//! |---|---|
//! | `ingress` | Ingress, IngressClass |
//! | `workloads` | Deployment, DaemonSet, ReplicaSet, StatefulSet |
//! | `cronjob` | CronJob |
//! | `pdb` | PodDisruptionBudget |
//! | `hpa` | HorizontalPodAutoscaler |
//! | `network_policy` | NetworkPolicy |
//! | `crd` | CustomResourceDefinition |
//! | `endpoint_slice` | EndpointSlice |
//! | `webhooks` | Validating/MutatingWebhookConfiguration |
//! | `csr` | CertificateSigningRequest |
//! | `flowcontrol` | FlowSchema, PriorityLevelConfiguration |
//! | `events` | Event: core `v1` ⇄ `events.k8s.io` |
//! | `renames` | RBAC, storage.k8s.io, PriorityClass, Lease, events.k8s.io Event, RuntimeClass, APIService |
//!
//! ```
//! use csdr_core::convert::{BackedUpVersions, TargetVersions, choose_version, convert};
//! use csdr_core::object::{GroupVersion, KubeObject};
//! use serde_json::json;
//!
//! // An Ingress backed up on Kubernetes 1.16, restored to 1.22.
//! let backed_up = BackedUpVersions::new(
//!     "ingresses.networking.k8s.io",
//!     "Ingress",
//!     [GroupVersion::new("extensions", "v1beta1"), GroupVersion::new("networking.k8s.io", "v1beta1")],
//!     GroupVersion::new("extensions", "v1beta1"),
//! );
//! let target = TargetVersions::new(
//!     [GroupVersion::new("networking.k8s.io", "v1")],
//!     GroupVersion::new("networking.k8s.io", "v1"),
//! );
//! let choice = choose_version(&backed_up, &target)?;
//! assert_eq!(choice.target, GroupVersion::new("networking.k8s.io", "v1"));
//! assert_eq!(
//!     choice.reason,
//!     "target prefers networking.k8s.io/v1; backed up as networking.k8s.io/v1beta1; \
//!      migrated by ingress-networking-v1beta1-to-networking-v1"
//! );
//!
//! let old = KubeObject::new(json!({
//!     "apiVersion": "networking.k8s.io/v1beta1", "kind": "Ingress",
//!     "metadata": {"name": "shop", "namespace": "web"},
//!     "spec": {"backend": {"serviceName": "shop", "servicePort": 80}},
//! }))?;
//! let new = convert(old, &choice.target)?;
//! assert_eq!(new.api_version(), "networking.k8s.io/v1");
//! assert_eq!(
//!     new.pointer("/spec/defaultBackend"),
//!     Some(&json!({"service": {"name": "shop", "port": {"number": 80}}}))
//! );
//! # Ok::<(), csdr_core::Error>(())
//! ```

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::object::{GroupVersion, GroupVersionKind, KubeObject};
use crate::version_priority::compare_priority;

mod crd;
mod cronjob;
mod csr;
mod endpoint_slice;
mod events;
mod fields;
mod flowcontrol;
mod hpa;
mod ingress;
mod network_policy;
mod pdb;
mod renames;
mod webhooks;
mod workloads;

#[cfg(test)]
mod tests;

/// The reason PodSecurityPolicy cannot be restored to a cluster that does not serve it.
pub const POD_SECURITY_POLICY_REMOVED: &str = "PodSecurityPolicy was removed in Kubernetes 1.25 \
     and has no replacement; use Pod Security Admission";

/// Why a version could not be chosen or an object could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    /// R2 step 5: no backed-up version is served by the target and no migration reaches one.
    #[error(
        "{resource}: no API version shared between source and target; deploy it manually \
         (backed up as {backed_up}; the target serves {served})"
    )]
    NoSharedVersion {
        /// The resource, e.g. `ingresses.networking.k8s.io`.
        resource: String,
        /// The backed-up versions, comma-separated.
        backed_up: String,
        /// The versions the target serves, comma-separated.
        served: String,
    },
    /// The backup lists no version at all for a resource.
    #[error(
        "{resource}: the backup records no API version for it; the backup index is damaged, \
         take a new backup"
    )]
    NothingBackedUp {
        /// The resource, e.g. `deployments.apps`.
        resource: String,
    },
    /// The resource has no replacement in the target (PodSecurityPolicy).
    #[error("{object}: not restorable: {reason}")]
    NotRestorable {
        /// The object or resource, e.g. `PodSecurityPolicy restricted`.
        object: String,
        /// Why, and what to use instead.
        reason: String,
    },
    /// [`convert`] was asked for a version no chain of built-in migrations reaches.
    #[error(
        "{object}: no built-in migration from {from} to {to}; restore it at a version the \
         target serves or deploy it manually"
    )]
    NoMigration {
        /// The object, e.g. `Ingress web/shop`.
        object: String,
        /// Its `apiVersion`.
        from: String,
        /// The requested `apiVersion`.
        to: String,
    },
    /// A migration met a field it cannot convert without changing the object's meaning.
    #[error("{object}: migration {migration} cannot convert field {field}: {reason}")]
    Field {
        /// The object, e.g. `Deployment shop/web`.
        object: String,
        /// The migration's name.
        migration: String,
        /// The field, e.g. `spec.selector`.
        field: String,
        /// What is wrong and what to do.
        reason: String,
    },
}

/// One built-in migration: a pure function from one group/version/kind to another.
#[derive(Clone)]
pub struct Migration {
    /// A stable name printed in version-choice reasons, e.g.
    /// `ingress-networking-v1beta1-to-networking-v1`.
    pub name: &'static str,
    /// The type it reads.
    pub from: GroupVersionKind,
    /// The type it writes.
    pub to: GroupVersionKind,
    /// Rewrites the fields; [`Migration::run`] also sets `apiVersion`.
    pub apply: fn(KubeObject) -> Result<KubeObject, ConvertError>,
}

impl fmt::Debug for Migration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Migration")
            .field("name", &self.name)
            .field("from", &self.from)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

impl Migration {
    /// A migration between two types of the same kind.
    fn new(
        name: &'static str,
        from: &str,
        to: &str,
        kind: &str,
        apply: fn(KubeObject) -> Result<KubeObject, ConvertError>,
    ) -> Self {
        Migration {
            name,
            from: GroupVersion::parse(from).with_kind(kind),
            to: GroupVersion::parse(to).with_kind(kind),
            apply,
        }
    }

    /// Applies the migration and sets `apiVersion` to [`Migration::to`]. The object must be of
    /// type [`Migration::from`].
    pub fn run(&self, obj: KubeObject) -> Result<KubeObject, ConvertError> {
        if obj.gvk() != self.from {
            return Err(ConvertError::NoMigration {
                object: obj.describe(),
                from: obj.api_version().to_string(),
                to: gv_of(&self.to).api_version(),
            });
        }
        let mut out = (self.apply)(obj)?;
        out.set_api_version(&gv_of(&self.to));
        Ok(out)
    }
}

fn gv_of(gvk: &GroupVersionKind) -> GroupVersion {
    GroupVersion::new(gvk.group.clone(), gvk.version.clone())
}

/// The set of migrations [`convert`] and [`choose_version`] search.
#[derive(Debug, Clone)]
pub struct MigrationRegistry {
    migrations: Vec<Migration>,
}

static BUILTIN: LazyLock<MigrationRegistry> = LazyLock::new(MigrationRegistry::builtin);

impl MigrationRegistry {
    /// A registry of the given migrations (searched in this order on ties).
    pub fn new(migrations: Vec<Migration>) -> Self {
        MigrationRegistry { migrations }
    }

    /// Every built-in migration, both directions of every family.
    pub fn builtin() -> Self {
        let mut all = Vec::new();
        all.extend(ingress::migrations());
        all.extend(workloads::migrations());
        all.extend(cronjob::migrations());
        all.extend(pdb::migrations());
        all.extend(hpa::migrations());
        all.extend(network_policy::migrations());
        all.extend(crd::migrations());
        all.extend(endpoint_slice::migrations());
        all.extend(webhooks::migrations());
        all.extend(csr::migrations());
        all.extend(flowcontrol::migrations());
        all.extend(events::migrations());
        all.extend(renames::migrations());
        MigrationRegistry::new(all)
    }

    /// The shared built-in registry.
    pub fn shared() -> &'static MigrationRegistry {
        &BUILTIN
    }

    /// Every migration in the registry.
    pub fn migrations(&self) -> &[Migration] {
        &self.migrations
    }

    /// The shortest chain of migrations from one type to another: `Some(vec![])` when they
    /// are equal, `None` when no chain exists. Breadth-first, so deterministic.
    pub fn path(&self, from: &GroupVersionKind, to: &GroupVersionKind) -> Option<Vec<&Migration>> {
        if from == to {
            return Some(Vec::new());
        }
        let mut came_by: HashMap<&GroupVersionKind, &Migration> = HashMap::new();
        let mut queue: VecDeque<&GroupVersionKind> = VecDeque::from([from]);
        while let Some(node) = queue.pop_front() {
            for m in self.migrations.iter().filter(|m| &m.from == node) {
                if &m.to == from || came_by.contains_key(&m.to) {
                    continue;
                }
                came_by.insert(&m.to, m);
                if &m.to == to {
                    let mut chain = vec![m];
                    let mut at = &m.from;
                    while at != from {
                        let step = came_by.get(at)?;
                        chain.push(step);
                        at = &step.from;
                    }
                    chain.reverse();
                    return Some(chain);
                }
                queue.push_back(&m.to);
            }
        }
        None
    }

    /// Converts an object to another group/version of its kind by the shortest chain of
    /// migrations. An object already at `to` is returned unchanged.
    pub fn convert(&self, obj: KubeObject, to: &GroupVersion) -> Result<KubeObject, ConvertError> {
        if &obj.group_version() == to {
            return Ok(obj);
        }
        let target = to.with_kind(obj.kind());
        let Some(chain) = self.path(&obj.gvk(), &target) else {
            if obj.kind() == "PodSecurityPolicy" {
                return Err(ConvertError::NotRestorable {
                    object: obj.describe(),
                    reason: POD_SECURITY_POLICY_REMOVED.to_string(),
                });
            }
            return Err(ConvertError::NoMigration {
                object: obj.describe(),
                from: obj.api_version().to_string(),
                to: to.api_version(),
            });
        };
        chain.into_iter().try_fold(obj, |o, m| m.run(o))
    }

    /// [`choose_version`] with this registry's migrations.
    pub fn choose_version(
        &self,
        backed_up: &BackedUpVersions,
        target: &TargetVersions,
    ) -> Result<VersionChoice, ConvertError> {
        choose_with(self, backed_up, target)
    }
}

/// Converts an object to another group/version of its kind with the built-in migrations.
/// An object already at `to` is returned unchanged.
pub fn convert(obj: KubeObject, to: &GroupVersion) -> Result<KubeObject, ConvertError> {
    MigrationRegistry::shared().convert(obj, to)
}

/// What the backup holds for one resource: every version captured and the source's
/// preferred one (B5). Cohabiting resources list versions of both groups
/// (`extensions/v1beta1` and `apps/v1` for deployments).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackedUpVersions {
    /// The resource as the backup names it, e.g. `deployments.apps`; used in messages.
    pub resource: String,
    /// The kind, e.g. `Deployment`; migrations are looked up by it.
    pub kind: String,
    /// Every backed-up version.
    pub versions: Vec<GroupVersion>,
    /// The version the source preferred for this resource.
    pub preferred: GroupVersion,
}

impl BackedUpVersions {
    /// The backed-up versions of one resource.
    pub fn new(
        resource: impl Into<String>,
        kind: impl Into<String>,
        versions: impl IntoIterator<Item = GroupVersion>,
        preferred: GroupVersion,
    ) -> Self {
        BackedUpVersions {
            resource: resource.into(),
            kind: kind.into(),
            versions: versions.into_iter().collect(),
            preferred,
        }
    }
}

/// What the target cluster serves for one resource (from its discovery): every version,
/// across groups for cohabiting resources, and its preferred one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetVersions {
    /// Every served version.
    pub versions: Vec<GroupVersion>,
    /// The version the target prefers for this resource.
    pub preferred: GroupVersion,
}

impl TargetVersions {
    /// The served versions of one resource.
    pub fn new(versions: impl IntoIterator<Item = GroupVersion>, preferred: GroupVersion) -> Self {
        TargetVersions {
            versions: versions.into_iter().collect(),
            preferred,
        }
    }
}

/// Which R2 rule made a [`VersionChoice`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ChoiceRule {
    /// Step 1: the target's preferred version was backed up.
    TargetPreferred,
    /// Step 2: the source's preferred version is served by the target.
    SourcePreferred,
    /// Step 3: the highest-priority version both share.
    HighestShared,
    /// Step 4: a built-in migration chain.
    Migration,
}

/// The outcome of [`choose_version`] for one resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionChoice {
    /// The backed-up version to read.
    pub backed_up: GroupVersion,
    /// The version to create the objects at in the target.
    pub target: GroupVersion,
    /// The names of the migrations to apply, in order; empty when no conversion is needed.
    pub migrations: Vec<String>,
    /// The rule that decided.
    pub rule: ChoiceRule,
    /// A sentence for dry-run and describe, e.g. `target prefers networking.k8s.io/v1; backed
    /// up as extensions/v1beta1; migrated by …`.
    pub reason: String,
}

/// Chooses the version to restore one resource at (R2), with the built-in migrations. See the
/// module documentation for the precedence. On success the target version is always one the
/// target serves.
pub fn choose_version(
    backed_up: &BackedUpVersions,
    target: &TargetVersions,
) -> Result<VersionChoice, ConvertError> {
    MigrationRegistry::shared().choose_version(backed_up, target)
}

fn by_priority(a: &GroupVersion, b: &GroupVersion, favoured_group: &str) -> std::cmp::Ordering {
    // Most preferred first; on equal versions the favoured group, then the group name.
    compare_priority(&b.version, &a.version)
        .then_with(|| (b.group == favoured_group).cmp(&(a.group == favoured_group)))
        .then_with(|| a.group.cmp(&b.group))
}

fn choose_with(
    registry: &MigrationRegistry,
    backed_up: &BackedUpVersions,
    target: &TargetVersions,
) -> Result<VersionChoice, ConvertError> {
    if backed_up.versions.is_empty() {
        return Err(ConvertError::NothingBackedUp {
            resource: backed_up.resource.clone(),
        });
    }
    let is_backed_up = |gv: &GroupVersion| backed_up.versions.contains(gv);
    let is_served = |gv: &GroupVersion| target.versions.contains(gv);
    let direct = |gv: &GroupVersion, rule: ChoiceRule, reason: String| VersionChoice {
        backed_up: gv.clone(),
        target: gv.clone(),
        migrations: Vec::new(),
        rule,
        reason,
    };

    // 1. The target's preferred version, if backed up.
    if is_served(&target.preferred) && is_backed_up(&target.preferred) {
        return Ok(direct(
            &target.preferred,
            ChoiceRule::TargetPreferred,
            format!(
                "target prefers {}; backed up as {}",
                target.preferred, target.preferred
            ),
        ));
    }
    // 2. The source's preferred version, if the target serves it.
    if is_backed_up(&backed_up.preferred) && is_served(&backed_up.preferred) {
        return Ok(direct(
            &backed_up.preferred,
            ChoiceRule::SourcePreferred,
            format!(
                "target prefers {}, which was not backed up; source preferred {}, which the \
                 target serves",
                target.preferred, backed_up.preferred
            ),
        ));
    }
    // 3. The highest-priority version both share.
    let mut shared: Vec<&GroupVersion> = backed_up
        .versions
        .iter()
        .filter(|gv| is_served(gv))
        .collect();
    shared.sort_by(|a, b| by_priority(a, b, &target.preferred.group));
    if let Some(best) = shared.first() {
        return Ok(direct(
            best,
            ChoiceRule::HighestShared,
            format!(
                "target prefers {} and source preferred {}, neither shared; highest-priority \
                 version both serve: {}",
                target.preferred, backed_up.preferred, best
            ),
        ));
    }
    // 4. A built-in migration: the target's preferred version first, then the others by
    //    priority; for each, the shortest chain, then the highest-priority backed-up version.
    let mut targets: Vec<&GroupVersion> = target.versions.iter().collect();
    targets.sort_by(|a, b| by_priority(a, b, &target.preferred.group));
    targets.sort_by_key(|gv| *gv != &target.preferred);
    let mut sources: Vec<&GroupVersion> = backed_up.versions.iter().collect();
    sources.sort_by(|a, b| by_priority(a, b, &backed_up.preferred.group));
    {
        for to in targets {
            let to_gvk = to.with_kind(&backed_up.kind);
            let best = sources
                .iter()
                .filter_map(|from| {
                    registry
                        .path(&from.with_kind(&backed_up.kind), &to_gvk)
                        .map(|chain| (*from, chain))
                })
                .min_by_key(|(_, chain)| chain.len());
            if let Some((from, chain)) = best {
                let names: Vec<String> = chain.iter().map(|m| m.name.to_string()).collect();
                let head = if to == &target.preferred {
                    format!("target prefers {to}")
                } else {
                    format!(
                        "target serves {to} (its preferred {} is not reachable)",
                        target.preferred
                    )
                };
                return Ok(VersionChoice {
                    backed_up: from.clone(),
                    target: to.clone(),
                    reason: format!(
                        "{head}; backed up as {from}; migrated by {}",
                        names.join(" then ")
                    ),
                    migrations: names,
                    rule: ChoiceRule::Migration,
                });
            }
        }
    }
    // 5. Nothing.
    if backed_up.kind == "PodSecurityPolicy" {
        return Err(ConvertError::NotRestorable {
            object: backed_up.resource.clone(),
            reason: POD_SECURITY_POLICY_REMOVED.to_string(),
        });
    }
    let list = |v: &[GroupVersion]| {
        if v.is_empty() {
            "nothing".to_string()
        } else {
            v.iter()
                .map(GroupVersion::api_version)
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    Err(ConvertError::NoSharedVersion {
        resource: backed_up.resource.clone(),
        backed_up: list(&backed_up.versions),
        served: list(&target.versions),
    })
}
