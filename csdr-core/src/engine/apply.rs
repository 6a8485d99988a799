//! Parallel, dependency-ordered apply of a restore plan (R3, R12, R14).
//!
//! R3's order is the contract; what it orders is read as dependencies, and objects with no
//! dependency between them are applied concurrently, up to `restore_max_worker_num` writes in
//! flight:
//! - every resource has a *tier*: its position in the restore priorities (CRDs, namespaces,
//!   storage, RBAC, config, pods, …); the resources after the list ("everything else",
//!   Deployments, Ingresses, custom resources, …) share the last tier, so they are applied
//!   together rather than one resource after another;
//! - a cluster-scoped object depends on every object of a lower tier;
//! - a namespaced object depends on the cluster-scoped objects of a lower tier and on the
//!   objects of a lower tier in its own namespace — never on another namespace's;
//! - a custom resource of a CRD the plan creates depends on those CRDs being Established and
//!   on discovery being refreshed after that (R3's two passes); built-in objects wait for
//!   none of it;
//! - a Pod that mounts a claim the restore created, of a class that binds at once, depends
//!   on that claim being Bound (R12); other objects do not wait for claims.
//!
//! A dependency that failed (an error, a timed-out wait) does not hold its dependents back
//! for ever: they are applied once it has finished, and fail or succeed on their own.
//! Writes are paced by `EngineOptions::restore_writes_per_second` when set, and a write the
//! cluster refused as transient (429, 5xx, network) is retried after a growing back-off.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::Value;

use super::log::JobLog;
use super::pod_volumes::DataRestores;
use super::restore::{Applied, Outcome, RestoreReport};
use super::{Engine, ProgressEvent};
use crate::model::{Issue, ObjectRef, RestoreSpec};
use crate::object::{GroupVersionResource, KubeObject};
use crate::plan::order::RestoreOrder;
use crate::plan::{PlanStep, PlannedCreate};
use crate::ports::cluster::{ClusterError, WaitCondition};
use crate::ports::snapshot::VolumeSnapshotRecord;
use crate::ports::spool::SpoolFile;
use crate::transform::TransformContext;

/// Something the apply waits for besides R3's tiers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Gate {
    /// Every CRD the plan creates is Established and discovery was refreshed.
    CustomResources,
    /// A claim (namespace, name) the restore created is Bound, or its wait ended.
    Claim(String, String),
}

/// One group: the objects of one tier in one lane (a namespace, or cluster-scoped).
struct Group {
    tier: usize,
    objects: Vec<usize>,
    remaining: usize,
}

/// Which objects may be applied now: see the [module documentation](self).
struct Schedule {
    /// Per object: its lane (0 is cluster-scoped) and its group's index in the lane.
    place: Vec<(usize, usize)>,
    /// Per lane, its groups in tier order.
    lanes: Vec<Vec<Group>>,
    /// Per lane, the next group not yet released.
    next: Vec<usize>,
    /// Objects not finished, per tier, in every lane and in the cluster lane.
    open_all: Vec<u64>,
    open_cluster: Vec<u64>,
}

impl Schedule {
    /// Groups `creates` (in plan order) by tier and lane.
    fn new(creates: &[PlannedCreate<'_>], order: &RestoreOrder) -> Self {
        let mut lane_of: HashMap<Option<&str>, usize> = HashMap::new();
        lane_of.insert(None, 0);
        let mut lanes: Vec<Vec<Group>> = vec![Vec::new()];
        let mut place = Vec::with_capacity(creates.len());
        let mut tiers = 0;
        let mut tier_of: HashMap<&GroupVersionResource, usize> = HashMap::new();
        for (i, step) in creates.iter().enumerate() {
            let resource = step.resource();
            let tier = *tier_of
                .entry(resource)
                .or_insert_with(|| order.key(resource).0);
            tiers = tiers.max(tier + 1);
            let next_lane = lanes.len();
            let lane = *lane_of.entry(step.namespace()).or_insert(next_lane);
            if lane == lanes.len() {
                lanes.push(Vec::new());
            }
            let groups = &mut lanes[lane];
            // Plan order is sorted by tier, so a lane's groups come in tier order; a tier
            // seen again after a higher one (a custom priority list) joins the last group.
            match groups.last_mut() {
                Some(g) if g.tier >= tier => {
                    g.objects.push(i);
                    g.remaining += 1;
                }
                _ => groups.push(Group {
                    tier,
                    objects: vec![i],
                    remaining: 1,
                }),
            }
            place.push((lane, groups.len() - 1));
        }
        let mut open_all = vec![0; tiers];
        let mut open_cluster = vec![0; tiers];
        for (lane, groups) in lanes.iter().enumerate() {
            for g in groups {
                open_all[g.tier] += g.remaining as u64;
                if lane == 0 {
                    open_cluster[g.tier] += g.remaining as u64;
                }
            }
        }
        let next = vec![0; lanes.len()];
        Schedule {
            place,
            lanes,
            next,
            open_all,
            open_cluster,
        }
    }

    /// Releases the next group of `lane` if its dependencies are done; returns its objects.
    fn release(&mut self, lane: usize) -> Option<&[usize]> {
        let g = self.next[lane];
        let groups = &self.lanes[lane];
        let group = groups.get(g)?;
        if g > 0 && groups[g - 1].remaining > 0 {
            return None;
        }
        let below = if lane == 0 {
            &self.open_all
        } else {
            &self.open_cluster
        };
        if below[..group.tier].iter().any(|&n| n > 0) {
            return None;
        }
        self.next[lane] += 1;
        Some(&self.lanes[lane][g].objects)
    }

    /// Every object of every group that can be released now.
    fn release_all(&mut self) -> Vec<usize> {
        let mut out = Vec::new();
        for lane in 0..self.lanes.len() {
            if let Some(objects) = self.release(lane) {
                out.extend_from_slice(objects);
            }
        }
        out
    }

    /// Marks object `i` finished; returns the objects this releases.
    fn finish(&mut self, i: usize) -> Vec<usize> {
        let (lane, g) = self.place[i];
        let group = &mut self.lanes[lane][g];
        group.remaining -= 1;
        let tier = group.tier;
        let group_done = group.remaining == 0;
        self.open_all[tier] -= 1;
        if lane == 0 {
            self.open_cluster[tier] -= 1;
        }
        let mut out = Vec::new();
        if !group_done {
            return out;
        }
        if lane == 0 {
            // A cluster-scoped tier done may unblock every namespace.
            out = self.release_all();
        } else {
            if let Some(objects) = self.release(lane) {
                out.extend_from_slice(objects);
            }
            if self.open_all[tier] == 0
                && let Some(objects) = self.release(0)
            {
                out.extend_from_slice(objects);
            }
        }
        out
    }
}

/// Paces writes to at most a given rate (a client-side rate limit).
struct Pacer {
    interval: Option<Duration>,
    next: Mutex<Option<jiff::Timestamp>>,
}

impl Pacer {
    fn new(per_second: Option<std::num::NonZeroU32>) -> Self {
        Pacer {
            interval: per_second.map(|n| Duration::from_secs(1) / n.get()),
            next: Mutex::new(None),
        }
    }

    /// How long the caller must wait for its slot (zero when unpaced).
    fn claim(&self, now: jiff::Timestamp) -> Duration {
        let Some(interval) = self.interval else {
            return Duration::ZERO;
        };
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let slot = next.filter(|n| *n > now).unwrap_or(now);
        let step = jiff::SignedDuration::try_from(interval).unwrap_or(jiff::SignedDuration::ZERO);
        *next = Some(slot.checked_add(step).unwrap_or(slot));
        Duration::try_from(slot.duration_since(now)).unwrap_or(Duration::ZERO)
    }
}

/// What a task of the apply reports.
enum Done {
    /// An object was applied (its index among the creates).
    Object(usize, Applied),
    /// A CRD's wait ended.
    Established(String, Result<(), ClusterError>),
    /// Discovery was read again.
    Refreshed(Result<(), ClusterError>),
    /// A claim's wait ended.
    Bound(KubeObject, Result<(), ClusterError>),
    /// A claim's data restore (D4) ended: the log line, or an issue that is an error when
    /// `true` (a warning otherwise).
    Filled(KubeObject, Result<String, (Issue, bool)>),
}

/// The first back-off after a transient failure of a write; it doubles on each retry.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

impl Engine {
    /// Creates an object, retrying a transient refusal (429, 5xx, network) after a growing
    /// back-off, `EngineOptions::restore_transient_retries` times at most.
    pub(super) async fn create_with_backoff(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<(), ClusterError> {
        self.with_backoff(
            || object.describe(),
            || self.cluster.create_unread(gvr, object),
        )
        .await
    }

    /// Runs `write`, retrying a transient refusal (429, 5xx, network) after a growing
    /// back-off, `EngineOptions::restore_transient_retries` times at most; `what` names the
    /// object in the debug log.
    pub(super) async fn with_backoff<W, F>(
        &self,
        what: impl Fn() -> String,
        mut write: W,
    ) -> Result<(), ClusterError>
    where
        W: FnMut() -> F,
        F: Future<Output = Result<(), ClusterError>>,
    {
        let mut delay = FIRST_BACKOFF;
        let mut retries = 0;
        loop {
            match write().await {
                Err(e) if e.is_transient() && retries < self.options.restore_transient_retries => {
                    tracing::debug!(object = %what(), error = %e, "retrying after {delay:?}");
                    retries += 1;
                    self.timer.sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
                other => return other,
            }
        }
    }

    /// Applies the plan's creates concurrently in dependency order (see [`self`]), waits for
    /// CRDs and claims, and fills the report in plan order.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn apply_concurrently(
        &self,
        spec: &RestoreSpec,
        ctx: &TransformContext,
        snapshots: &[VolumeSnapshotRecord],
        data: &DataRestores,
        report: &mut RestoreReport,
        finals: Option<&dyn SpoolFile>,
        log: &mut JobLog,
        restored: &mut crate::vault_record::ResourceListWriter,
    ) {
        let workers = self
            .options
            .config
            .application_backup
            .restore_max_worker_num
            .get();
        let plan = std::mem::take(&mut report.plan);
        let creates: Vec<PlannedCreate<'_>> = plan.all_creates().collect();
        let order = RestoreOrder::default();
        let mut schedule = Schedule::new(&creates, &order);

        // CRD waits and the discovery refresh (R3's second pass).
        let mut crd_waits: BTreeSet<String> = BTreeSet::new();
        let mut refresh = false;
        for step in &plan.steps {
            match step {
                PlanStep::WaitEstablished { crd } => {
                    crd_waits.insert(crd.clone());
                }
                PlanStep::RefreshDiscovery => refresh = true,
                PlanStep::Create(_) | PlanStep::CreateSpooled(_) => {}
            }
        }
        let custom: BTreeSet<String> = crd_waits.clone();
        let crd_creates: BTreeSet<&str> = creates
            .iter()
            .filter(|c| is_crd(c.resource()))
            .map(|c| c.name())
            .collect();
        let mut open_gates: BTreeSet<Gate> = BTreeSet::new();
        if !crd_waits.is_empty() || refresh {
            open_gates.insert(Gate::CustomResources);
        }
        // Claims a pod may wait for: restored claims of a class that binds at once.
        let immediate = |claim: &KubeObject| claim_binds_at_once(ctx, claim);
        let claims: BTreeSet<(String, String)> = creates
            .iter()
            .filter(|c| {
                c.kind() == "PersistentVolumeClaim"
                    && c.whole().is_some_and(|claim| immediate(&claim.object))
            })
            .map(|c| {
                (
                    c.namespace().unwrap_or("default").to_string(),
                    c.name().to_string(),
                )
            })
            .collect();
        // Claims filled from a file-system backup (D4): every workload mounting one waits
        // for its data.
        let filled: BTreeSet<(String, String)> = creates
            .iter()
            .filter(|c| c.kind() == "PersistentVolumeClaim")
            .map(|c| {
                (
                    c.namespace().unwrap_or("default").to_string(),
                    c.name().to_string(),
                )
            })
            .filter(|(ns, name)| data.has(ns, name))
            .collect();
        for (ns, name) in claims.iter().chain(&filled) {
            open_gates.insert(Gate::Claim(ns.clone(), name.clone()));
        }
        let gates_of = |step: PlannedCreate<'_>| -> Vec<Gate> {
            let mut gates = Vec::new();
            if !custom.is_empty() && custom.contains(&step.resource().group_resource()) {
                gates.push(Gate::CustomResources);
            }
            // A spooled step mounts no claim: the plan holds those whole (R13).
            let Some(whole) = step.whole() else {
                return gates;
            };
            let ns = whole.object.namespace().unwrap_or("default");
            for claim in whole.object.mounted_claims() {
                let key = (ns.to_string(), claim.to_string());
                let waits = filled.contains(&key)
                    || (whole.object.kind() == "Pod" && claims.contains(&key));
                if waits {
                    gates.push(Gate::Claim(key.0, key.1));
                }
            }
            gates
        };

        let pacer = Pacer::new(self.options.restore_writes_per_second);
        let mut tasks: FuturesUnordered<BoxFuture<'_, Done>> = FuturesUnordered::new();
        let mut ready: VecDeque<usize> = VecDeque::new();
        let mut held: HashMap<Gate, Vec<usize>> = HashMap::new();
        let mut results: Vec<Option<Applied>> = (0..creates.len()).map(|_| None).collect();
        let mut in_flight = 0usize;
        let mut done = report.status.progress.items_done;
        let total = report.status.progress.total_items;
        let mut announced: BTreeSet<String> = BTreeSet::new();
        let mut waits_left = crd_waits.len();

        // A wait on a CRD the plan does not create starts at once.
        for crd in &crd_waits {
            if !crd_creates.contains(crd.as_str()) {
                tasks.push(Box::pin(self.establish(ctx, crd.clone())));
            }
        }
        if crd_waits.is_empty() && refresh {
            tasks.push(Box::pin(self.refresh()));
        }

        let mut admit = |objects: Vec<usize>,
                         ready: &mut VecDeque<usize>,
                         held: &mut HashMap<Gate, Vec<usize>>,
                         open_gates: &BTreeSet<Gate>| {
            for i in objects {
                let step = creates[i];
                let resource = step.resource().to_string();
                if !announced.contains(&resource) {
                    self.emit(ProgressEvent::Resource {
                        resource: resource.clone(),
                    });
                    announced.insert(resource);
                }
                match gates_of(step).into_iter().find(|g| open_gates.contains(g)) {
                    Some(gate) => held.entry(gate).or_default().push(i),
                    None => ready.push_back(i),
                }
            }
        };
        admit(schedule.release_all(), &mut ready, &mut held, &open_gates);

        loop {
            while in_flight < workers {
                let Some(i) = ready.pop_front() else { break };
                in_flight += 1;
                let step = creates[i];
                let pacer = &pacer;
                tasks.push(Box::pin(async move {
                    let wait = pacer.claim(self.clock.now());
                    if !wait.is_zero() {
                        self.timer.sleep(wait).await;
                    }
                    let applied = match step {
                        PlannedCreate::Whole(step) => {
                            self.apply_create(spec, snapshots, step).await
                        }
                        // The final object, read back just before it is applied (R13).
                        PlannedCreate::Spooled(spooled) => {
                            self.apply_spooled(spec, finals, spooled).await
                        }
                    };
                    Done::Object(i, applied)
                }));
            }
            let Some(event) = tasks.next().await else {
                break;
            };
            let mut opened: Vec<Gate> = Vec::new();
            match event {
                Done::Object(i, applied) => {
                    in_flight -= 1;
                    let step = creates[i];
                    let object = step.object_ref();
                    match &applied {
                        Applied::Created => {
                            log.info(format!("created {object}"));
                            // Claims are planned whole (R13).
                            if let Some(claim) = step.whole().map(|c| &c.object)
                                && claim.kind() == "PersistentVolumeClaim"
                            {
                                let key = (
                                    claim.namespace().unwrap_or("default").to_string(),
                                    claim.name().to_string(),
                                );
                                if filled.contains(&key) {
                                    let bind_first = claims.contains(&key);
                                    tasks.push(Box::pin(self.fill(
                                        &spec.name,
                                        claim.clone(),
                                        data,
                                        bind_first,
                                    )));
                                } else if claims.contains(&key) {
                                    tasks.push(Box::pin(self.bind(claim.clone())));
                                }
                            }
                        }
                        Applied::Existing(warning) => match warning {
                            Some(w) => log.warning(w.to_string()),
                            None => log.info(format!("{object} already exists; left as it is")),
                        },
                        Applied::Patched => {
                            log.info(format!("patched {object} to the backed-up state"))
                        }
                        Applied::Failed(issue) => {
                            log.error(issue.to_string());
                            self.emit(ProgressEvent::Issue {
                                error: true,
                                issue: (**issue).clone(),
                            });
                        }
                    }
                    // A claim that was not created here is not waited for.
                    if step.kind() == "PersistentVolumeClaim"
                        && !matches!(applied, Applied::Created)
                    {
                        opened.push(Gate::Claim(
                            step.namespace().unwrap_or("default").to_string(),
                            step.name().to_string(),
                        ));
                    }
                    if is_crd(step.resource()) && crd_waits.contains(step.name()) {
                        tasks.push(Box::pin(self.establish(ctx, step.name().to_string())));
                    }
                    results[i] = Some(applied);
                    done += 1;
                    report.status.progress.items_done = done;
                    if done.is_multiple_of(256) || done == total {
                        self.emit(ProgressEvent::Items {
                            done,
                            total: Some(total),
                            estimated: false,
                        });
                    }
                    let released = schedule.finish(i);
                    admit(released, &mut ready, &mut held, &open_gates);
                }
                Done::Established(crd, outcome) => {
                    match outcome {
                        Ok(()) => log.info(format!("crd {crd} established")),
                        Err(e) => {
                            let issue = Issue::general(format!(
                                "create cluster resources timeout: crd {crd} not established: {e}"
                            ));
                            log.error(issue.to_string());
                            report.status.errors.push(issue);
                        }
                    }
                    waits_left -= 1;
                    if waits_left == 0 {
                        if refresh {
                            tasks.push(Box::pin(self.refresh()));
                        } else {
                            opened.push(Gate::CustomResources);
                        }
                    }
                }
                Done::Refreshed(outcome) => {
                    if let Err(e) = outcome {
                        let issue = Issue::general(format!("refreshing discovery: {e}"));
                        log.error(issue.to_string());
                        report.status.errors.push(issue);
                    }
                    opened.push(Gate::CustomResources);
                }
                Done::Bound(claim, outcome) => {
                    let ns = claim.namespace().unwrap_or("default").to_string();
                    match outcome {
                        Ok(()) => log.info(format!("pvc {ns}/{} bound", claim.name())),
                        Err(e) => {
                            let reason = match e {
                                ClusterError::Timeout { .. } => format!(
                                    "create cluster resources timeout: pvc {ns}/{} not bound",
                                    claim.name()
                                ),
                                other => format!(
                                    "waiting for pvc {ns}/{} to bind: {other}",
                                    claim.name()
                                ),
                            };
                            let issue = Issue::about(ObjectRef::of(&claim), reason);
                            log.error(issue.to_string());
                            report.status.errors.push(issue);
                        }
                    }
                    opened.push(Gate::Claim(ns, claim.name().to_string()));
                }
                Done::Filled(claim, outcome) => {
                    match outcome {
                        Ok(line) => log.info(line),
                        Err((issue, true)) => {
                            log.error(issue.to_string());
                            report.status.errors.push(issue);
                        }
                        Err((issue, false)) => {
                            log.warning(issue.to_string());
                            report.status.warnings.push(issue);
                        }
                    }
                    opened.push(Gate::Claim(
                        claim.namespace().unwrap_or("default").to_string(),
                        claim.name().to_string(),
                    ));
                }
            }
            for gate in opened {
                if open_gates.remove(&gate) {
                    let waiting = held.remove(&gate).unwrap_or_default();
                    // An object may wait on several gates: hold it on the next one still open.
                    admit(waiting, &mut ready, &mut held, &open_gates);
                }
            }
        }

        // The report, in plan order; the lists only when the report holds objects (R13).
        let listed = self.options.restore_report_objects;
        for (step, applied) in creates.iter().zip(results) {
            let object = step.object_ref();
            match applied {
                Some(Applied::Created) => report.note(Outcome::Created, object, listed, restored),
                Some(Applied::Existing(warning)) => {
                    report.status.warnings.extend(warning.map(|w| *w));
                    report.note(Outcome::Existing, object, listed, restored);
                }
                Some(Applied::Patched) => report.note(Outcome::Patched, object, listed, restored),
                Some(Applied::Failed(issue)) => report.status.errors.push(*issue),
                None => report.status.errors.push(Issue::about(
                    object,
                    "was not applied: a dependency never finished",
                )),
            }
        }
        drop(tasks);
        drop(creates);
        report.plan = plan;
        self.emit(ProgressEvent::Items {
            done,
            total: Some(total),
            estimated: false,
        });
    }

    /// Waits for a CRD to be Established.
    async fn establish(&self, ctx: &TransformContext, crd: String) -> Done {
        let v1 =
            GroupVersionResource::new("apiextensions.k8s.io", "v1", "customresourcedefinitions");
        let gvr = if ctx
            .target
            .discovery
            .serves(&v1.group, &v1.version, &v1.resource)
        {
            v1
        } else {
            GroupVersionResource::new(
                "apiextensions.k8s.io",
                "v1beta1",
                "customresourcedefinitions",
            )
        };
        let outcome = self
            .wait_for(
                &gvr,
                None,
                &crd,
                WaitCondition::Established,
                self.options.crd_wait,
            )
            .await;
        Done::Established(crd, outcome)
    }

    /// Reads discovery again.
    async fn refresh(&self) -> Done {
        Done::Refreshed(self.cluster.discover().await.map(|_| ()))
    }

    /// Fills a restored claim from its file-system backup (D4), after it is Bound when
    /// `bind_first` (a claim of a class that binds at once; others bind when the data
    /// restore's pod is scheduled).
    async fn fill(
        &self,
        restore: &str,
        claim: KubeObject,
        data: &DataRestores,
        bind_first: bool,
    ) -> Done {
        if bind_first && let Done::Bound(claim, Err(e)) = self.bind(claim.clone()).await {
            return Done::Bound(claim, Err(e));
        }
        let ns = claim.namespace().unwrap_or("default").to_string();
        let key = (ns.clone(), claim.name().to_string());
        let Some((record, velero)) = data.by_claim.get(&key) else {
            return Done::Filled(claim, Ok(String::new()));
        };
        if self.pod_volume_mover.is_none() {
            let issue = Issue::about(
                ObjectRef::of(&claim),
                format!(
                    "restored without its data: it is in file-system backup snapshot {} but the engine has no pod volume mover",
                    record.snapshot_id
                ),
            );
            return Done::Filled(claim, Err((issue, false)));
        }
        let outcome = self
            .restore_claim_data(restore, &ns, claim.name(), record, *velero)
            .await
            .map_err(|issue| (issue, true));
        Done::Filled(claim, outcome)
    }

    /// Waits for a claim to be Bound.
    async fn bind(&self, claim: KubeObject) -> Done {
        let gvr = GroupVersionResource::new("", "v1", "persistentvolumeclaims");
        let ns = claim.namespace().unwrap_or("default").to_string();
        let outcome = self
            .wait_for(
                &gvr,
                Some(&ns),
                claim.name(),
                WaitCondition::Bound,
                self.options.pvc_bind_wait,
            )
            .await;
        Done::Bound(claim, outcome)
    }
}

fn is_crd(gvr: &GroupVersionResource) -> bool {
    gvr.group == "apiextensions.k8s.io" && gvr.resource == "customresourcedefinitions"
}

/// R12: a claim whose class binds immediately must bind during the restore;
/// WaitForFirstConsumer claims bind when their pods are scheduled, which a restore cannot
/// wait for.
fn claim_binds_at_once(ctx: &TransformContext, claim: &KubeObject) -> bool {
    match claim
        .pointer("/spec/storageClassName")
        .and_then(Value::as_str)
    {
        Some(class) => ctx
            .target_storage_class(class)
            .map(|sc| sc.volume_binding_mode.as_deref().unwrap_or("Immediate") == "Immediate")
            .unwrap_or(true),
        None => true,
    }
}

/// Kept for the unit tests: which tier a resource is in.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::CreateStep;
    use serde_json::json;

    fn step(group: &str, plural: &str, kind: &str, ns: Option<&str>, name: &str) -> CreateStep {
        let mut meta = json!({"name": name});
        if let Some(ns) = ns {
            meta["namespace"] = json!(ns);
        }
        let api = if group.is_empty() {
            "v1".to_string()
        } else {
            format!("{group}/v1")
        };
        CreateStep {
            object: KubeObject::new(json!({"apiVersion": api, "kind": kind, "metadata": meta}))
                .unwrap_or_else(|e| panic!("{e}")),
            resource: GroupVersionResource::new(group, "v1", plural),
            source: None,
            version: None,
            transformations: Vec::new(),
        }
    }

    #[test]
    fn namespaces_do_not_wait_for_each_other_and_the_tail_is_one_tier() {
        let steps = [
            step("", "namespaces", "Namespace", None, "a"),
            step("", "namespaces", "Namespace", None, "b"),
            step("", "configmaps", "ConfigMap", Some("a"), "c1"),
            step("", "configmaps", "ConfigMap", Some("b"), "c2"),
            step("apps", "deployments", "Deployment", Some("a"), "d"),
            step("networking.k8s.io", "ingresses", "Ingress", Some("a"), "i"),
        ];
        let refs: Vec<PlannedCreate<'_>> = steps.iter().map(PlannedCreate::Whole).collect();
        let mut s = Schedule::new(&refs, &RestoreOrder::default());
        assert_eq!(s.release_all(), vec![0, 1]);
        assert_eq!(s.finish(0), Vec::<usize>::new());
        // Both namespaces exist: each namespace's config goes.
        let mut released = s.finish(1);
        released.sort();
        assert_eq!(released, vec![2, 3]);
        // Namespace a's config done: its Deployment and Ingress go together, b plays no part.
        assert_eq!(s.finish(2), vec![4, 5]);
        assert_eq!(s.finish(3), Vec::<usize>::new());
    }

    #[test]
    fn the_pacer_spaces_writes() {
        let pacer = Pacer::new(std::num::NonZeroU32::new(4));
        let now: jiff::Timestamp = "2026-12-05T00:00:00Z"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pacer.claim(now), Duration::ZERO);
        assert_eq!(pacer.claim(now), Duration::from_millis(250));
        assert_eq!(pacer.claim(now), Duration::from_millis(500));
        assert_eq!(Pacer::new(None).claim(now), Duration::ZERO);
    }
}
