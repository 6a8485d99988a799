//! Pre-flight against the target (R15): every final object is sent with `dryRun=All` after
//! the plan is made and before the first write.
//!
//! The target checks each object as it would check the real write — validation, admission
//! webhooks, quotas, a missing StorageClass or CRD, an immutable field of an existing object
//! (for `existingResourcePolicy: update` the backed-up state is dry-run as a replace of the
//! live object) — and each rejection is reported naming the object. With a rejection the
//! restore stops: nothing is written, and the restore is `Failed` (the CLI exits 1).
//!
//! An object cannot be dry-run before what it lives in exists: objects in a namespace the
//! restore itself creates, and custom resources of a CRD it creates, are *deferred*. A dry
//! run (`spec.dry_run`) reports them as not checked, counted per reason. A real restore first
//! creates only those namespaces and CRDs (after everything else passed), then dry-runs the
//! deferred objects before writing any of them; a rejection then stops the restore with only
//! those namespaces and CRDs written, and says so.

use std::collections::{BTreeMap, BTreeSet};

use futures::{StreamExt, stream};
use serde::Serialize;

use super::Engine;
use super::log::JobLog;
use super::restore::RestoreReport;
use crate::model::{FailureKind, Issue, JobFailure, JobStatus, ObjectRef, RestoreSpec};
use crate::object::{GroupVersionResource, KubeObject};
use crate::patch::apply_merge_patch;
use crate::plan::existing::{ExistingAction, existing_action};
use crate::plan::{CreateStep, RestorePlan};
use crate::ports::cluster::ClusterError;
use crate::ports::snapshot::VolumeSnapshotRecord;
use crate::transform::TransformContext;

/// What the pre-flight found (R15).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreflightReport {
    /// Objects the target accepted in a server-side dry run.
    pub accepted: u64,
    /// Objects that already exist and are left as they are (R11, policy `none` or equal).
    pub existing: u64,
    /// Objects the target rejected, each naming the object and the target's reason.
    pub rejected: Vec<Issue>,
    /// Objects that could not be dry-run before the restore creates what they need, counted
    /// per reason (`namespace shop is created by this restore`).
    pub deferred: BTreeMap<String, u64>,
    /// Whether the deferred objects were dry-run after their namespaces and CRDs were created
    /// (a real restore); `false` for a dry run, which leaves them not checked.
    pub deferred_checked: bool,
}

/// What one object's dry run said.
enum Verdict {
    Accepted,
    Existing,
    Rejected(Issue),
}

const NAMESPACES: (&str, &str, &str) = ("", "v1", "namespaces");

impl Engine {
    /// Runs a restore with pre-flight: see the [module documentation](self). Fills the report
    /// (its `preflight`, and a failure when the target rejected an object).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn restore_with_preflight(
        &self,
        spec: &RestoreSpec,
        ctx: &TransformContext,
        snapshots: &[VolumeSnapshotRecord],
        data: &super::pod_volumes::DataRestores,
        report: &mut RestoreReport,
        log: &mut JobLog,
        restored: &mut crate::vault_record::ResourceListWriter,
    ) {
        // What exists on the target already: the namespaces the plan writes into.
        let namespaces: BTreeSet<String> = report
            .plan
            .creates()
            .filter_map(|c| c.object.namespace().map(str::to_string))
            .collect();
        let mut missing = BTreeSet::new();
        let ns_gvr = GroupVersionResource::new(NAMESPACES.0, NAMESPACES.1, NAMESPACES.2);
        for ns in namespaces {
            match self.cluster.get(&ns_gvr, None, &ns).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    missing.insert(ns);
                }
                Err(e) => {
                    log.warning(format!("pre-flight: reading namespace {ns}: {e}"));
                    missing.insert(ns);
                }
            }
        }
        let deferral = |step: &CreateStep| -> Option<String> {
            if let Some(ns) = step.object.namespace()
                && missing.contains(ns)
            {
                return Some(format!("namespace {ns} is created by this restore"));
            }
            let r = &step.resource;
            (!ctx
                .target
                .discovery
                .serves(&r.group, &r.version, &r.resource))
            .then(|| {
                format!(
                    "{} is served only once this restore creates its CustomResourceDefinition",
                    r.group_resource()
                )
            })
        };
        let mut pre = PreflightReport::default();
        let mut now_checked = Vec::new();
        let mut deferred = Vec::new();
        for (i, step) in report.plan.creates().enumerate() {
            match deferral(step) {
                Some(reason) => {
                    *pre.deferred.entry(reason).or_default() += 1;
                    deferred.push(i);
                }
                None => now_checked.push(i),
            }
        }
        log.info(format!(
            "pre-flight: dry-running {} objects against the target; {} wait for namespaces or CRDs this restore creates",
            now_checked.len(),
            deferred.len()
        ));
        self.dry_run_all(spec, &report.plan, &now_checked, &mut pre)
            .await;
        if !pre.rejected.is_empty() {
            self.stop_on_rejections(report, pre, log, "nothing was written");
            return;
        }
        if spec.dry_run {
            report.created = report
                .plan
                .creates()
                .map(|c| ObjectRef::of(&c.object))
                .collect();
            report.counts.created = report.created.len() as u64;
            report.status.progress.items_done = report.status.progress.total_items;
            report.preflight = Some(pre);
            return;
        }
        if deferred.is_empty() {
            report.preflight = Some(pre);
            self.apply_concurrently(spec, ctx, snapshots, data, report, None, log, restored)
                .await;
            return;
        }
        // First the namespaces and CRDs the deferred objects need, then their dry run, then
        // the rest.
        let plan = std::mem::take(&mut report.plan);
        let (first, rest) = split_foundations(&plan);
        report.plan = first;
        self.apply_concurrently(spec, ctx, snapshots, data, report, None, log, restored)
            .await;
        let written: Vec<String> = report
            .created
            .iter()
            .map(|o| format!("{} {}", o.kind, o.name))
            .collect();
        report.plan = rest;
        // The deferred objects' places among the creates left.
        let deferred: BTreeSet<usize> = deferred.into_iter().collect();
        let indices: Vec<usize> = plan
            .creates()
            .enumerate()
            .filter(|(_, c)| !is_foundation(&c.resource))
            .enumerate()
            .filter(|(_, (i, _))| deferred.contains(i))
            .map(|(at, _)| at)
            .collect();
        pre.deferred_checked = true;
        log.info(format!(
            "pre-flight: dry-running the {} deferred objects",
            indices.len()
        ));
        self.dry_run_all(spec, &report.plan, &indices, &mut pre)
            .await;
        if !pre.rejected.is_empty() {
            report.plan = plan;
            let note = if written.is_empty() {
                "nothing was written".to_string()
            } else {
                format!(
                    "only the namespaces and CRDs they need were written ({})",
                    written.join(", ")
                )
            };
            self.stop_on_rejections(report, pre, log, &note);
            return;
        }
        report.preflight = Some(pre);
        self.apply_concurrently(spec, ctx, snapshots, data, report, None, log, restored)
            .await;
        report.plan = plan;
    }

    /// Dry-runs the creates at `indices` of `plan`, concurrently.
    async fn dry_run_all(
        &self,
        spec: &RestoreSpec,
        plan: &RestorePlan,
        indices: &[usize],
        pre: &mut PreflightReport,
    ) {
        let workers = self
            .options
            .config
            .application_backup
            .restore_max_worker_num
            .get();
        let creates: Vec<&CreateStep> = plan.creates().collect();
        let verdicts: Vec<Verdict> = stream::iter(indices.iter().map(|&i| creates[i]))
            .map(|step| self.dry_run_one(spec, step))
            .buffered(workers)
            .collect()
            .await;
        for verdict in verdicts {
            match verdict {
                Verdict::Accepted => pre.accepted += 1,
                Verdict::Existing => pre.existing += 1,
                Verdict::Rejected(issue) => pre.rejected.push(issue),
            }
        }
    }

    async fn dry_run_one(&self, spec: &RestoreSpec, step: &CreateStep) -> Verdict {
        // A pre-flight plans with its final objects held.
        let object = &step.object;
        let reject = |e: ClusterError| {
            Verdict::Rejected(Issue::about(
                ObjectRef::of(object),
                format!("rejected by the target in a server-side dry run: {e}"),
            ))
        };
        match self.cluster.dry_run_create(&step.resource, object).await {
            Ok(_) => Verdict::Accepted,
            Err(ClusterError::AlreadyExists { .. }) => {
                if object.kind() == "Namespace" {
                    return Verdict::Existing;
                }
                let live = match self
                    .cluster
                    .get(&step.resource, object.namespace(), object.name())
                    .await
                {
                    Ok(Some(live)) => live,
                    Ok(None) => return Verdict::Accepted, // removed meanwhile: a create
                    Err(e) => return reject(e),
                };
                match existing_action(spec.existing_resource_policy, object, &live) {
                    ExistingAction::CreatedByThisRestore
                    | ExistingAction::Skip
                    | ExistingAction::SkipWithWarning(_) => Verdict::Existing,
                    ExistingAction::Patch(patch) => {
                        let mut merged = live.into_value();
                        apply_merge_patch(&mut merged, &patch);
                        let merged = match KubeObject::new(merged) {
                            Ok(m) => m,
                            Err(e) => {
                                return Verdict::Rejected(Issue::about(
                                    ObjectRef::of(object),
                                    format!(
                                        "the backed-up state cannot be merged into the live object: {e}"
                                    ),
                                ));
                            }
                        };
                        match self.cluster.dry_run_update(&step.resource, &merged).await {
                            Ok(_) => Verdict::Accepted,
                            Err(e) => Verdict::Rejected(Issue::about(
                                ObjectRef::of(object),
                                format!(
                                    "already exists, and updating it to the backed-up state was rejected by the target in a server-side dry run: {e}"
                                ),
                            )),
                        }
                    }
                }
            }
            Err(e) => reject(e),
        }
    }

    /// Fails the restore with the pre-flight's rejections.
    fn stop_on_rejections(
        &self,
        report: &mut RestoreReport,
        pre: PreflightReport,
        log: &mut JobLog,
        note: &str,
    ) {
        for issue in &pre.rejected {
            log.error(format!("pre-flight: {issue}"));
        }
        let first = pre
            .rejected
            .first()
            .map(|i| format!(": {i}"))
            .unwrap_or_default();
        let message = format!(
            "pre-flight: the target rejected {} object{} in a server-side dry run, so the restore did not start; {note}{first}",
            pre.rejected.len(),
            if pre.rejected.len() == 1 { "" } else { "s" },
        );
        log.error(&message);
        let failed = JobStatus::failed(JobFailure::new(FailureKind::Spec, message));
        report.status.failure = failed.failure;
        report.status.failure_reason = failed.failure_reason;
        report.status.errors.extend(pre.rejected.iter().cloned());
        report.preflight = Some(pre);
    }
}

/// Whether a create is a namespace or a CRD: what deferred objects need first.
fn is_foundation(r: &GroupVersionResource) -> bool {
    (r.group.is_empty() && r.resource == "namespaces")
        || (r.group == "apiextensions.k8s.io" && r.resource == "customresourcedefinitions")
}

/// The plan split in two: the namespaces and CRDs with their waits, and everything else.
fn split_foundations(plan: &RestorePlan) -> (RestorePlan, RestorePlan) {
    let mut first = RestorePlan::default();
    let mut rest = RestorePlan::default();
    for step in &plan.steps {
        if step.create().is_some_and(|c| !is_foundation(c.resource())) {
            rest.steps.push(step.clone());
        } else {
            first.steps.push(step.clone());
        }
    }
    (first, rest)
}
