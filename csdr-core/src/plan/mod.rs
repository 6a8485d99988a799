//! Restore planning (DESIGN R1, R2, R3, R10, R11): what a restore will create, in which order,
//! at which API version, after which transformations — computed before the first write.
//!
//! [`plan_restore`] reads a [`BackupContents`] index, the [`TransformContext`] (restore spec,
//! backup facts, target facts including the target's discovery) and [`PlanOptions`], and
//! returns a [`RestorePlan`]. It is pure and deterministic: the same inputs give the same
//! plan, whatever order the archive entries were added in.
//!
//! 1. **Filters** (R1, [`filter`]): namespaces (source names, `*` wildcards), resources (every
//!    name form), the label selector, cluster-scoped resources. Then the rules: never restored
//!    are the resources of [`is_never_restored`] (nodes, events, csinodes,
//!    volumeattachments, …), mirror pods (annotation `kubernetes.io/config.mirror`), objects
//!    in the engine's namespace and that Namespace itself, and PersistentVolumes whose
//!    [`pv_disposition`] is Skip (R10). Those go to [`RestorePlan::skipped`] with the reason.
//! 2. **Version choice** (R2): per resource, [`choose_version`] between the backed-up versions
//!    and what the target serves: the target's discovery for every resource it serves (both
//!    groups of a cohabiting resource); for a custom resource the target does not serve yet,
//!    the served versions of its CRD restored by this plan (highest priority preferred).
//!    A resource with no CRD anywhere, no shared version or no replacement (PodSecurityPolicy)
//!    puts each of its objects in [`RestorePlan::not_restorable`]; the rest goes on. The chosen
//!    object is [`convert`]ed when a migration is needed.
//! 3. **Transformations** (R4–R10): the pipeline runs on each object; a [`TransformError`]
//!    puts the object in [`RestorePlan::errors`]; warnings are collected.
//! 4. **Order** (R3, [`order`]): every CRD is created first, then each is waited on until
//!    Established, then discovery is refreshed, then everything else in priority order.
//!    Every target namespace an object lands in (after namespace mapping) gets a Namespace
//!    create step: the backup's Namespace object, transformed, or a plain new one.
//!
//! What to do with objects that already exist (R11) is decided at apply time against the live
//! object: [`existing::existing_action`].
//!
//! ```
//! use csdr_core::model::RestoreSpec;
//! use csdr_core::object::KubeObject;
//! use csdr_core::plan::contents::BackupContents;
//! use csdr_core::plan::{PlanOptions, PlanStep, plan_restore};
//! use csdr_core::releases::KubeRelease;
//! use csdr_core::transform::TransformContext;
//! use serde_json::json;
//!
//! let mut contents = BackupContents::new();
//! contents.add("configmaps", "v1", true, KubeObject::new(json!({"apiVersion": "v1",
//!     "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "shop"}}))?)?;
//! contents.add("nodes", "v1", true, KubeObject::new(json!({"apiVersion": "v1",
//!     "kind": "Node", "metadata": {"name": "node-1"}}))?)?;
//!
//! let mut ctx = TransformContext::new(RestoreSpec::new("r1", "nightly"));
//! ctx.target.discovery = KubeRelease::V1_28.discovery();
//! let plan = plan_restore(&contents, &ctx, &PlanOptions::default())?;
//!
//! let created: Vec<String> = plan.creates().map(|c| c.object.describe()).collect();
//! assert_eq!(created, ["Namespace shop", "ConfigMap shop/settings"]);
//! assert_eq!(plan.skipped[0].0.kind, "Node");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod contents;
pub mod existing;
pub mod filter;
mod object_name;
pub mod order;
mod spooled_step;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::convert::{
    BackedUpVersions, ConvertError, TargetVersions, VersionChoice, choose_version, convert,
};
use crate::discovery::ServedResource;
use crate::label_selector::LabelSelectorError;
use crate::model::{Issue, ObjectRef};
use crate::object::{GroupVersion, GroupVersionResource, KubeObject};
use crate::ports::spool::SpoolFile;
use crate::releases::{builtin_resource_by_plural, is_never_restored};
use crate::resources::{ClusterResources, ResourceList, canonical_group};
use crate::selection::DEFAULT_ENGINE_NAMESPACE;
use crate::transform::pipeline::{DEFAULT_PIPELINE, NamedTransform, run};
use crate::transform::volumes::{PvDisposition, pv_disposition, storage_class_of};
use crate::transform::{TransformContext, TransformError};

use crate::version_priority::highest_priority;
pub use object_name::ObjectName;
pub use spooled_step::{SpooledCreate, SpooledObject};

use contents::{BackedUpObject, BackupContents, ObjectHead, ResourceContents, ResourceKey};
use filter::{RestoreFilter, backup_unit, known_resources};
use order::{ResourceRank, RestoreOrder};

/// The annotation the kubelet puts on mirror pods of static pods; such pods are never restored.
pub const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";

const CRD_GROUP: &str = "apiextensions.k8s.io";
const CRDS: &str = "customresourcedefinitions";

/// Why a restore cannot be planned at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A resource name of the restore designates nothing.
    #[error(
        "{list} resource {name:?} matches no resource in the backup, no built-in Kubernetes \
         resource and nothing the target cluster serves (by plural, singular, kind, short name \
         or plural.group); correct or remove it in the restore's {field}",
        field = .list.field()
    )]
    UnknownResource {
        /// The name as given.
        name: String,
        /// The list it came from.
        list: ResourceList,
    },
    /// The restore's label selector is invalid.
    #[error("restore labelSelector: {0}")]
    LabelSelector(#[from] LabelSelectorError),
}

/// What a plan is computed with, besides the restore and the facts.
#[derive(Clone, Debug)]
pub struct PlanOptions {
    /// The restore order (R3); default [`order::DEFAULT_RESTORE_PRIORITIES`].
    pub order: RestoreOrder,
    /// The transformations, in order; default [`DEFAULT_PIPELINE`].
    pub transforms: Vec<NamedTransform>,
    /// The engine's namespace: its objects, and it, are never restored.
    pub engine_namespace: String,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            order: RestoreOrder::default(),
            transforms: DEFAULT_PIPELINE.to_vec(),
            engine_namespace: DEFAULT_ENGINE_NAMESPACE.to_string(),
        }
    }
}

/// Creating one object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateStep {
    /// The object to create, final: converted and transformed.
    pub object: KubeObject,
    /// Where to create it: the target group, version and plural.
    pub resource: GroupVersionResource,
    /// The backed-up object it comes from (`None` for a Namespace the plan adds). Boxed, as
    /// is `version`: few readers need them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Box<ObjectRef>>,
    /// The version choice and its reason (`None` for a Namespace the plan adds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Box<VersionChoice>>,
    /// The names of the transformations that changed it, in order.
    pub transformations: Vec<String>,
}

/// One step of a restore.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "camelCase")]
pub enum PlanStep {
    /// Create an object.
    Create(Box<CreateStep>),
    /// Create an object whose final form waits in the plan's spool (a plan made by
    /// [`plan_restore_spooled`]).
    CreateSpooled(SpooledCreate),
    /// Wait until a CustomResourceDefinition (by name) reports the `Established` condition.
    WaitEstablished {
        /// The CRD's name, `plural.group`.
        crd: String,
    },
    /// Read the target's discovery again, so the new custom resources are served.
    RefreshDiscovery,
}

impl PlanStep {
    /// The object this step creates, when it creates one.
    pub fn create(&self) -> Option<PlannedCreate<'_>> {
        match self {
            PlanStep::Create(c) => Some(PlannedCreate::Whole(c)),
            PlanStep::CreateSpooled(c) => Some(PlannedCreate::Spooled(c)),
            PlanStep::WaitEstablished { .. } | PlanStep::RefreshDiscovery => None,
        }
    }
}

/// What a restore will do: see the [module documentation](self).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestorePlan {
    /// The steps, in order.
    pub steps: Vec<PlanStep>,
    /// Objects that cannot be restored to this target, with the reason (R2).
    pub not_restorable: Vec<Issue>,
    /// Objects a transformation refused: they cannot be restored as asked.
    pub errors: Vec<Issue>,
    /// Warnings of the transformations.
    pub warnings: Vec<Issue>,
    /// Objects the restore leaves out by rule, with the reason.
    pub skipped: Vec<(ObjectRef, String)>,
}

impl RestorePlan {
    /// The create steps that hold their final object, in order: every create of a plan not
    /// made by [`plan_restore_spooled`].
    pub fn creates(&self) -> impl Iterator<Item = &CreateStep> {
        self.steps.iter().filter_map(|s| match s {
            PlanStep::Create(c) => Some(c.as_ref()),
            _ => None,
        })
    }

    /// Every create step, in order, whether it holds its final object or it waits in the
    /// plan's spool.
    pub fn all_creates(&self) -> impl Iterator<Item = PlannedCreate<'_>> {
        self.steps.iter().filter_map(PlanStep::create)
    }

    /// How many objects the plan creates.
    pub fn create_count(&self) -> usize {
        self.all_creates().count()
    }
}

/// One create step of a plan, whether it holds its final object or not.
#[derive(Clone, Copy, Debug)]
pub enum PlannedCreate<'a> {
    /// It holds its final object.
    Whole(&'a CreateStep),
    /// Its final object waits in the plan's spool.
    Spooled(&'a SpooledCreate),
}

impl<'a> PlannedCreate<'a> {
    /// Where to create the object.
    pub fn resource(&self) -> &'a GroupVersionResource {
        match self {
            PlannedCreate::Whole(c) => &c.resource,
            PlannedCreate::Spooled(c) => &c.resource,
        }
    }

    /// The object's namespace; `None` when cluster-scoped.
    pub fn namespace(&self) -> Option<&'a str> {
        match self {
            PlannedCreate::Whole(c) => c.object.namespace(),
            PlannedCreate::Spooled(c) => c.object.namespace(),
        }
    }

    /// The object's name.
    pub fn name(&self) -> &'a str {
        match self {
            PlannedCreate::Whole(c) => c.object.name(),
            PlannedCreate::Spooled(c) => c.object.name(),
        }
    }

    /// The object's kind.
    pub fn kind(&self) -> &'a str {
        match self {
            PlannedCreate::Whole(c) => c.object.kind(),
            PlannedCreate::Spooled(c) => c.object.kind(),
        }
    }

    /// `Kind namespace/name`.
    pub fn describe(&self) -> String {
        match self {
            PlannedCreate::Whole(c) => c.object.describe(),
            PlannedCreate::Spooled(c) => c.object.describe(),
        }
    }

    /// The reference a report names the object by.
    pub fn object_ref(&self) -> ObjectRef {
        match self {
            PlannedCreate::Whole(c) => ObjectRef::of(&c.object),
            PlannedCreate::Spooled(c) => c.object.object_ref(),
        }
    }

    /// The whole step, when it holds its final object.
    pub fn whole(&self) -> Option<&'a CreateStep> {
        match self {
            PlannedCreate::Whole(c) => Some(c),
            PlannedCreate::Spooled(_) => None,
        }
    }
}

/// What the target serves (or will serve) for one resource.
struct TargetResource {
    versions: TargetVersions,
    /// The plural per served group.
    plurals: BTreeMap<String, String>,
}

/// One object the filters let through, as it is planned.
struct Candidate<'a> {
    /// The index, to read the whole object from when it keeps its head only (R13).
    contents: &'a BackupContents,
    key: &'a ResourceKey,
    resource: &'a ResourceContents,
    object: &'a BackedUpObject,
    head: ObjectHead<'a>,
}

/// What the filters chose, as marks on the index: per resource with something chosen, one
/// mark per object in index order (R13: no list of the chosen objects).
struct Selection {
    chosen: BTreeMap<ResourceKey, Vec<bool>>,
    /// Per Namespace object of the backup, in index order: `None` when the namespace filter
    /// leaves it out, else whether the other filters select it in its own right (else it is
    /// created only if an object lands in it).
    namespaces: Vec<Option<bool>>,
}

/// Plans a restore: see the [module documentation](self).
///
/// Works on a copy of `contents`; [`plan_restore_owned`] plans without the copy and frees
/// each backed-up object as soon as its final object is made.
///
/// # Errors
/// [`PlanError`] when the restore's resource names or label selector cannot be used; every
/// per-object problem is reported inside the plan instead.
pub fn plan_restore(
    contents: &BackupContents,
    ctx: &TransformContext,
    options: &PlanOptions,
) -> Result<RestorePlan, PlanError> {
    plan_restore_owned(contents.clone(), ctx, options)
}

/// Plans a restore as [`plan_restore`] does, consuming the index: each backed-up object is
/// taken out of it (and dropped) when its final object is made, so the backed-up objects and
/// the final ones are not all held at once (R13: a restore's memory).
///
/// # Errors
/// As [`plan_restore`].
pub fn plan_restore_owned(
    contents: BackupContents,
    ctx: &TransformContext,
    options: &PlanOptions,
) -> Result<RestorePlan, PlanError> {
    plan_consuming(contents, ctx, options, None)
}

/// Plans a restore as [`plan_restore_owned`] does, holding no final object it does not need
/// (R13): each final object is written to `finals` and its step
/// ([`PlanStep::CreateSpooled`]) holds only what names it, where it is (read it back with
/// [`contents::read_spooled`] when it is applied) and its target resource; its `source`,
/// `version` and `transformations` are left out (a dry run has them). Namespaces, volumes,
/// claims, StorageClasses, CRDs, Pods and the workloads that mount claims, whose fields the
/// apply reads, are planned as [`plan_restore_owned`] plans them.
///
/// # Errors
/// As [`plan_restore`]. An object that cannot be written to `finals` is in the plan's errors.
pub fn plan_restore_spooled(
    contents: BackupContents,
    ctx: &TransformContext,
    options: &PlanOptions,
    finals: &mut dyn SpoolFile,
) -> Result<RestorePlan, PlanError> {
    plan_consuming(contents, ctx, options, Some(finals))
}

fn plan_consuming(
    mut contents: BackupContents,
    ctx: &TransformContext,
    options: &PlanOptions,
    finals: Option<&mut dyn SpoolFile>,
) -> Result<RestorePlan, PlanError> {
    let served = ctx.target.discovery.served_resources();
    let known = known_resources(&contents, &served);
    let filter = RestoreFilter::new(&ctx.restore, &options.engine_namespace, &known)?;
    let mut planner = Planner {
        ctx,
        options,
        served,
        plan: RestorePlan::default(),
        crds: BTreeMap::new(),
        finals,
        resources: HashMap::new(),
    };

    // The selection marks what it chose in the index; each resource's objects are then taken
    // out of the index when they are planned, and dropped one by one (R13).
    let selection = planner.select(&contents, &filter);
    drop(filter);
    drop(known);

    // Pass 1: CRDs.
    let crds = ResourceKey {
        group: CRD_GROUP.to_string(),
        plural: CRDS.to_string(),
    };
    let mut crd_steps = Vec::new();
    if let Some(marks) = selection.chosen.get(&crds) {
        contents.plan_each(&crds, |i, c| {
            if marks.get(i) == Some(&true)
                && let Some(step) = planner.plan_object(c, None)
            {
                // CRDs are planned whole.
                if let PlanStep::Create(crd) = &step {
                    planner.note_crd(&crd.object);
                }
                crd_steps.push(step);
            }
        });
    }

    // Pass 2: everything else, resource by resource.
    let mut steps: Vec<PlanStep> = Vec::new();
    for (key, marks) in &selection.chosen {
        if *key == crds {
            continue;
        }
        let target = planner.target_resource(key);
        contents.plan_each(key, |i, c| {
            if marks.get(i) != Some(&true) {
                return;
            }
            match &target {
                Ok(target) => steps.extend(planner.plan_object(c, Some(target))),
                Err(reason) => planner
                    .plan
                    .not_restorable
                    .push(Issue::about(c.head.object_ref(), reason.clone())),
            }
        });
    }

    // Namespaces: every target namespace an object lands in, and the selected Namespace
    // objects of the backup.
    let needed: BTreeSet<String> = steps
        .iter()
        .filter_map(|s| s.create()?.namespace().map(String::from))
        .collect();
    steps.extend(planner.namespace_steps(&mut contents, &selection.namespaces, needed));
    drop(contents);

    // R3's order: by the rank of the target resource, then namespace and name. The steps of
    // one resource were made in index order (namespace, then name), and the Namespaces are
    // sorted by name, so a stable sort by rank alone gives that order.
    let order = &options.order;
    let ranks = RankTable::of(order, crd_steps.iter().chain(&steps));
    crd_steps.sort_by_cached_key(|s| ranks.rank(s));
    steps.sort_by_cached_key(|s| ranks.rank(s));
    let mut plan = planner.plan;
    let waits: Vec<PlanStep> = crd_steps
        .iter()
        .filter_map(PlanStep::create)
        .map(|c| PlanStep::WaitEstablished {
            crd: c.name().to_string(),
        })
        .collect();
    let any_crd = !crd_steps.is_empty();
    plan.steps = crd_steps;
    plan.steps.extend(waits);
    if any_crd {
        plan.steps.push(PlanStep::RefreshDiscovery);
    }
    if plan.steps.is_empty() {
        plan.steps = steps;
    } else {
        plan.steps.append(&mut steps);
    }
    Ok(plan)
}

/// The position of each target resource in R3's order: one entry per resource, so that
/// sorting a million steps compares integers (R13).
struct RankTable(HashMap<GroupVersionResource, usize>);

impl RankTable {
    fn of<'s>(order: &RestoreOrder, steps: impl Iterator<Item = &'s PlanStep>) -> Self {
        let mut ranks: HashMap<GroupVersionResource, ResourceRank> = HashMap::new();
        for resource in steps.filter_map(|s| Some(s.create()?.resource())) {
            if !ranks.contains_key(resource) {
                ranks.insert(resource.clone(), order.key(resource));
            }
        }
        let mut sorted: Vec<(GroupVersionResource, ResourceRank)> = ranks.into_iter().collect();
        sorted.sort_by(|a, b| a.1.cmp(&b.1));
        // Resources of equal rank (one resource at two versions) share a position.
        let mut positions = HashMap::with_capacity(sorted.len());
        let mut position = 0;
        for i in 0..sorted.len() {
            if i > 0 && sorted[i].1 != sorted[i - 1].1 {
                position += 1;
            }
            positions.insert(sorted[i].0.clone(), position);
        }
        RankTable(positions)
    }

    fn rank(&self, step: &PlanStep) -> usize {
        step.create()
            .and_then(|c| self.0.get(c.resource()).copied())
            .unwrap_or(usize::MAX)
    }
}

impl BackupContents {
    /// Takes the objects of `key` out of the index and gives each, with its position in
    /// index order, to `f` as a candidate; each is dropped once `f` returns (R13).
    fn plan_each(&mut self, key: &ResourceKey, mut f: impl FnMut(usize, &Candidate<'_>)) {
        let objects = self.take_objects(key);
        let Some(resource) = self.resource_by_key(key) else {
            return;
        };
        for (i, (object_key, object)) in objects.into_iter().enumerate() {
            let Some(head) = object.head(&object_key, resource.preferred()) else {
                continue;
            };
            f(
                i,
                &Candidate {
                    contents: self,
                    key,
                    resource,
                    object: &object,
                    head,
                },
            );
        }
    }
}

struct Planner<'a, 'f> {
    ctx: &'a TransformContext,
    options: &'a PlanOptions,
    served: Vec<ServedResource>,
    plan: RestorePlan,
    /// Restored CRDs, final objects, by (group, plural).
    crds: BTreeMap<(String, String), KubeObject>,
    /// Where [`plan_restore_spooled`] puts the final objects it does not hold.
    finals: Option<&'f mut dyn SpoolFile>,
    /// The target resources of spooled steps, one shared copy each.
    resources: HashMap<GroupVersionResource, Arc<GroupVersionResource>>,
}

impl<'a> Planner<'a, '_> {
    fn skip(&mut self, head: ObjectHead<'_>, reason: impl Into<String>) {
        self.plan.skipped.push((head.object_ref(), reason.into()));
    }

    /// Applies the filters and the never-restored rules.
    fn select(&mut self, contents: &BackupContents, filter: &RestoreFilter) -> Selection {
        let mut chosen: BTreeMap<ResourceKey, Vec<bool>> = BTreeMap::new();
        let mut namespaces = Vec::new();
        let mut related = RelatedNames::default();
        let mut cluster_related = Vec::new();
        let engine = self.options.engine_namespace.as_str();
        for (key, resource) in contents.resources() {
            let Some(kind) = resource.kind() else {
                continue;
            };
            let unit = backup_unit(key, kind, contents, &self.served);
            let resource_selected = filter.includes_resource(&unit);
            let never = resource
                .stored_groups()
                .chain(std::iter::once(key.group.as_str()))
                .any(|g| is_never_restored(g, &key.plural));
            let is_namespace = key.group.is_empty() && key.plural == "namespaces";
            let is_pod = key.group.is_empty() && key.plural == "pods";
            let mut marks = vec![false; if is_namespace { 0 } else { resource.len() }];
            for (i, (object_key, object)) in resource.objects().enumerate() {
                let head = object.head(object_key, resource.preferred());
                if is_namespace {
                    namespaces.push(head.and_then(|head| {
                        let name = head.name();
                        if name == engine {
                            self.skip(
                                head,
                                format!("the engine's own namespace {engine} is never restored"),
                            );
                            None
                        } else {
                            filter
                                .includes_namespace(name)
                                .then(|| resource_selected && filter.matches_labels(head.held()))
                        }
                    }));
                    continue;
                }
                let Some(head) = head else {
                    continue;
                };
                match head.namespace() {
                    Some(ns) if ns == engine => {
                        if resource_selected {
                            self.skip(
                                head,
                                format!(
                                    "objects in the engine's namespace {engine} are the \
                                     engine's own and never restored"
                                ),
                            );
                        }
                        continue;
                    }
                    Some(ns) if !filter.includes_namespace(ns) => continue,
                    _ => {}
                }
                if !resource_selected {
                    continue;
                }
                let cluster_scoped = head.namespace().is_none();
                let related_only =
                    cluster_scoped && filter.cluster_resources() == ClusterResources::Related;
                if cluster_scoped && filter.cluster_resources() == ClusterResources::None {
                    continue;
                }
                if !related_only && !filter.matches_labels(head.held()) {
                    continue;
                }
                if never {
                    self.skip(head, format!("{} are never restored", key.group_resource()));
                    continue;
                }
                if is_pod && head.held().is_mirror_pod() {
                    self.skip(
                        head,
                        "mirror pod of a static pod: the kubelet of the node that runs the \
                         static pod recreates it",
                    );
                    continue;
                }
                if related_only {
                    cluster_related.push((key, i, head));
                } else {
                    marks[i] = true;
                    related.note_chosen(key, head);
                }
            }
            if marks.contains(&true) {
                related.note_resource(key);
                chosen.insert(key.clone(), marks);
            }
        }
        for (key, i, _) in related.of(cluster_related) {
            let len = contents
                .resource_by_key(key)
                .map_or(0, ResourceContents::len);
            if let Some(mark) = chosen
                .entry(key.clone())
                .or_insert_with(|| vec![false; len])
                .get_mut(i)
            {
                *mark = true;
            }
        }
        // R10: a volume the restore would not keep is left out.
        let volumes = ResourceKey::canonical("", "persistentvolumes");
        if let (Some(marks), Some(pvs)) =
            (chosen.get_mut(&volumes), contents.resource_by_key(&volumes))
        {
            for ((object_key, object), mark) in pvs.objects().zip(marks.iter_mut()) {
                let Some(head) = object.head(object_key, pvs.preferred()) else {
                    continue;
                };
                if let Some(pv) = head.whole().filter(|_| *mark)
                    && let PvDisposition::Skip { reason } = pv_disposition(self.ctx, pv)
                {
                    self.skip(head, reason);
                    *mark = false;
                }
            }
        }
        Selection { chosen, namespaces }
    }

    fn note_crd(&mut self, crd: &KubeObject) {
        let text = |p: &str| crd.pointer(p).and_then(Value::as_str).map(String::from);
        if let (Some(group), Some(plural)) = (text("/spec/group"), text("/spec/names/plural")) {
            self.crds.insert((group, plural), crd.clone());
        }
    }

    /// What the target serves for a resource, or why nothing.
    fn target_resource(&self, key: &ResourceKey) -> Result<TargetResource, String> {
        let members: Vec<&ServedResource> = self
            .served
            .iter()
            .filter(|s| {
                s.resource.plural == key.plural
                    && canonical_group(&s.group, &s.resource.plural) == key.group
            })
            .collect();
        if let Some(first) = members.first() {
            let preferred_member = members
                .iter()
                .find(|m| m.group == key.group)
                .unwrap_or(first);
            let versions = members
                .iter()
                .flat_map(|m| {
                    m.versions
                        .iter()
                        .map(|v| GroupVersion::new(m.group.clone(), v.clone()))
                })
                .collect::<Vec<_>>();
            let preferred = GroupVersion::new(
                preferred_member.group.clone(),
                preferred_member.preferred_version.clone(),
            );
            return Ok(TargetResource {
                versions: TargetVersions::new(versions, preferred),
                plurals: members
                    .iter()
                    .map(|m| (m.group.clone(), m.resource.plural.clone()))
                    .collect(),
            });
        }
        let builtin = builtin_resource_by_plural(&key.group, &key.plural).is_some()
            || crate::resources::COHABITING_RESOURCES
                .iter()
                .any(|(p, modern, _)| *p == key.plural && *modern == key.group);
        if builtin {
            // Nothing served: choose_version says why (no shared version, or no replacement).
            return Ok(TargetResource {
                versions: TargetVersions::new([], GroupVersion::new(key.group.clone(), "")),
                plurals: BTreeMap::new(),
            });
        }
        let Some(crd) = self.crds.get(&(key.group.clone(), key.plural.clone())) else {
            return Err(format!(
                "{}: its CustomResourceDefinition {} is neither served by the target cluster \
                 nor restored from the backup; install the CRD in the target or include it in \
                 the restore",
                key.group_resource(),
                key.group_resource()
            ));
        };
        let served: Vec<String> = crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .map(|versions| {
                versions
                    .iter()
                    .filter(|v| v.get("served").and_then(Value::as_bool) == Some(true))
                    .filter_map(|v| v.get("name").and_then(Value::as_str))
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        let preferred = highest_priority(&served).cloned().unwrap_or_default();
        let plural = crd
            .pointer("/spec/names/plural")
            .and_then(Value::as_str)
            .unwrap_or(&key.plural)
            .to_string();
        Ok(TargetResource {
            versions: TargetVersions::new(
                served
                    .iter()
                    .map(|v| GroupVersion::new(key.group.clone(), v.clone())),
                GroupVersion::new(key.group.clone(), preferred),
            ),
            plurals: BTreeMap::from([(key.group.clone(), plural)]),
        })
    }

    /// Chooses the version, converts and transforms one object. `target` is `None` for CRDs,
    /// whose target versions come from the discovery.
    fn plan_object(
        &mut self,
        c: &Candidate<'_>,
        target: Option<&TargetResource>,
    ) -> Option<PlanStep> {
        let owned;
        let target = match target {
            Some(t) => t,
            None => match self.target_resource(c.key) {
                Ok(t) => {
                    owned = t;
                    &owned
                }
                Err(reason) => {
                    self.plan
                        .not_restorable
                        .push(Issue::about(c.head.object_ref(), reason));
                    return None;
                }
            },
        };
        let source = c.head.object_ref();
        let object_versions: Vec<GroupVersion> = c.object.versions.keys().cloned().collect();
        let preferred = c
            .resource
            .preferred()
            .filter(|p| c.object.versions.contains_key(p))
            .cloned()
            .unwrap_or_else(|| c.head.group_version().clone());
        let backed_up = BackedUpVersions::new(
            c.key.group_resource(),
            c.head.kind(),
            object_versions,
            preferred,
        );
        let not_restorable = |e: ConvertError| Issue::about(source.clone(), e.to_string());
        let choice = match choose_version(&backed_up, &target.versions) {
            Ok(choice) => choice,
            Err(e) => {
                self.plan.not_restorable.push(not_restorable(e));
                return None;
            }
        };
        let stored = match c.contents.load(c.object, &choice.backed_up)? {
            Ok(stored) => stored,
            Err(reason) => {
                self.plan.errors.push(Issue::about(source, reason));
                return None;
            }
        };
        let converted = match convert(stored, &choice.target) {
            Ok(o) => o,
            Err(e) => {
                self.plan.not_restorable.push(not_restorable(e));
                return None;
            }
        };
        let outcome = match run(&self.options.transforms, self.ctx, converted) {
            Ok(outcome) => outcome,
            Err(e) => {
                self.plan.errors.push(transform_issue(e));
                return None;
            }
        };
        self.plan.warnings.extend(outcome.warnings);
        let mut object = outcome.object;
        let plural = target
            .plurals
            .get(&choice.target.group)
            .cloned()
            .unwrap_or_else(|| c.key.plural.clone());
        let resource = GroupVersionResource::new(
            choice.target.group.clone(),
            choice.target.version.clone(),
            plural,
        );
        // The plan holds its final objects until they are applied (R13), or what names them.
        // Pods and the workloads that mount claims stay whole: the apply reads their claims
        // (a claim bound, or filled from a file-system backup, before its workload, D4).
        if let Some(finals) = self.finals.as_deref_mut()
            && !contents::kept_whole(c.key)
            && !(c.key.group.is_empty() && c.key.plural == "pods")
            && object.mounted_claims().is_empty()
        {
            return match contents::write_spooled(finals, &object) {
                // A spooled step holds where and what to create, not how it was made.
                Ok(span) => Some(PlanStep::CreateSpooled(SpooledCreate {
                    object: SpooledObject::new(&object, span),
                    resource: self.shared_resource(resource),
                })),
                Err(e) => {
                    self.plan.errors.push(Issue::about(
                        ObjectRef::of(&object),
                        format!(
                            "writing its final object to the restore's temporary storage \
                             failed: {e}; free space where temporary files go"
                        ),
                    ));
                    None
                }
            };
        }
        object.shrink_to_fit();
        Some(PlanStep::Create(Box::new(CreateStep {
            resource,
            object,
            source: Some(Box::new(source)),
            version: Some(Box::new(choice)),
            transformations: outcome.applied.iter().map(|s| s.to_string()).collect(),
        })))
    }

    /// The target resource, shared by the spooled steps that create in it.
    fn shared_resource(&mut self, resource: GroupVersionResource) -> Arc<GroupVersionResource> {
        if let Some(shared) = self.resources.get(&resource) {
            return Arc::clone(shared);
        }
        let shared = Arc::new(resource.clone());
        self.resources.insert(resource, Arc::clone(&shared));
        shared
    }

    /// Namespace create steps: the selected Namespace objects of the backup and every needed
    /// target namespace (from the backup's Namespace object if it maps there, else new),
    /// ordered by name.
    fn namespace_steps(
        &mut self,
        contents: &mut BackupContents,
        namespaces: &[Option<bool>],
        mut needed: BTreeSet<String>,
    ) -> Vec<PlanStep> {
        let core = TargetResource {
            versions: TargetVersions::new(
                [GroupVersion::new("", "v1")],
                GroupVersion::new("", "v1"),
            ),
            plurals: BTreeMap::from([(String::new(), "namespaces".to_string())]),
        };
        let mut steps = Vec::new();
        contents.plan_each(&ResourceKey::canonical("", "namespaces"), |i, c| {
            let Some(selected) = namespaces.get(i).copied().flatten() else {
                return;
            };
            let target = self.ctx.map_namespace(c.head.name());
            if !selected && !needed.contains(target) {
                return;
            }
            if let Some(step) = self.plan_object(c, Some(&core)) {
                if let Some(created) = step.create() {
                    needed.remove(created.name());
                }
                steps.push(step);
            }
        });
        for name in needed {
            if name == self.options.engine_namespace {
                continue;
            }
            let plain =
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
            let Ok(object) = KubeObject::new(plain) else {
                continue;
            };
            let labelled = crate::transform::sanitize::sanitize(self.ctx, object.clone())
                .map(|t| t.object)
                .unwrap_or(object);
            steps.push(PlanStep::Create(Box::new(CreateStep {
                object: labelled,
                resource: GroupVersionResource::new("", "v1", "namespaces"),
                source: None,
                version: None,
                transformations: vec!["sanitize".into()],
            })));
        }
        steps.sort_by(|a, b| {
            let name = |s: &PlanStep| s.create().map(|c| c.name().to_string());
            name(a).cmp(&name(b))
        });
        steps
    }
}

fn transform_issue(e: TransformError) -> Issue {
    Issue::about(*e.object, format!("{}: {}", e.field, e.reason))
}

/// Names of cluster-scoped objects, as (group, plural, name).
type ClusterNames = BTreeSet<(String, String, String)>;

fn storage_class_name(name: &str) -> (String, String, String) {
    (
        "storage.k8s.io".to_string(),
        "storageclasses".to_string(),
        name.to_string(),
    )
}

/// What makes a cluster-scoped object related to the chosen ones: PVs bound to chosen claims
/// (by the claim's `volumeName` or the volume's `claimRef`), the StorageClasses of those
/// claims and volumes, the CRDs of chosen custom resources. Noted as objects are chosen.
#[derive(Default)]
struct RelatedNames {
    names: ClusterNames,
    claims: BTreeSet<(String, String)>,
}

impl RelatedNames {
    /// Notes a chosen object (claims are held whole).
    fn note_chosen(&mut self, key: &ResourceKey, head: ObjectHead<'_>) {
        if !(key.group.is_empty() && key.plural == "persistentvolumeclaims") {
            return;
        }
        let Some(o) = head.whole() else {
            return;
        };
        if let Some(ns) = o.namespace() {
            self.claims.insert((ns.to_string(), o.name().to_string()));
        }
        if let Some(volume) = o.pointer("/spec/volumeName").and_then(Value::as_str) {
            self.names.insert((
                String::new(),
                "persistentvolumes".into(),
                volume.to_string(),
            ));
        }
        if let Some(class) = storage_class_of(o) {
            self.names.insert(storage_class_name(class));
        }
    }

    /// Notes a resource with chosen objects: a custom resource's CRD is related.
    fn note_resource(&mut self, key: &ResourceKey) {
        if !key.group.is_empty() && builtin_resource_by_plural(&key.group, &key.plural).is_none() {
            self.names.insert((
                CRD_GROUP.to_string(),
                CRDS.to_string(),
                key.group_resource(),
            ));
        }
    }

    /// Of the cluster-scoped candidates, those related to the chosen objects.
    fn of<'c, T>(
        mut self,
        cluster: Vec<(&'c ResourceKey, T, ObjectHead<'c>)>,
    ) -> Vec<(&'c ResourceKey, T, ObjectHead<'c>)> {
        let name_of = |key: &ResourceKey, head: &ObjectHead<'_>| {
            (
                key.group.clone(),
                key.plural.clone(),
                head.name().to_string(),
            )
        };
        let is_volume =
            |key: &ResourceKey| key.group.is_empty() && key.plural == "persistentvolumes";
        for (key, _, head) in cluster.iter().filter(|(key, _, _)| is_volume(key)) {
            let Some(o) = head.whole() else {
                continue;
            };
            let text = |p: &str| o.pointer(p).and_then(Value::as_str).map(String::from);
            let bound = text("/spec/claimRef/namespace")
                .zip(text("/spec/claimRef/name"))
                .is_some_and(|claim| self.claims.contains(&claim));
            if bound || self.names.contains(&name_of(key, head)) {
                self.names.insert(name_of(key, head));
                if let Some(class) = storage_class_of(o) {
                    self.names.insert(storage_class_name(class));
                }
            }
        }
        cluster
            .into_iter()
            .filter(|(key, _, head)| self.names.contains(&name_of(key, head)))
            .collect()
    }
}
