//! The simulated API server's state: objects keyed by canonical resource, namespace and name.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::history::{ChangeType, Entry, HISTORY_CAPACITY, History};
use super::options::{DeleteOptions, Deletion, Propagation, Subresource};
use super::snapshots::{CloudSnapshot, SnapshotController};
use super::{Converter, Rejection};
use crate::discovery::{
    ApiResource, DiscoveredGroup, DiscoveredVersion, Discovery, ServedResource,
};
use crate::label_selector::LabelSelector;
use crate::object::{GroupVersion, GroupVersionResource, KubeObject, group_resource, string_list};
use crate::ports::cluster::{ClusterError, ListOptions, ObjectPage};
use crate::resources::canonical_group;
use crate::version_priority::sort_by_priority;

/// What the simulator knows about the resource behind a request.
#[derive(Clone, Debug)]
pub(crate) struct Resolved {
    /// `plural.group` of the canonical group.
    pub key: String,
    pub kind: String,
    pub namespaced: bool,
    /// The version objects are stored at.
    pub storage: GroupVersion,
    /// Whether the resource is one of the release's own (converted with the converter) rather
    /// than a custom resource (served as-is at every version).
    pub builtin: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ObjectKey {
    pub resource: String,
    pub namespace: String,
    pub name: String,
}

#[derive(Clone)]
pub(crate) struct SimState {
    /// Objects carrying a `deletionTimestamp`, waiting for their finalizers.
    terminating: BTreeSet<ObjectKey>,
    builtin: Discovery,
    /// Shared: discovery documents are read on every client's start, and copied only when a
    /// CRD changes them.
    pub discovery: std::sync::Arc<Discovery>,
    /// `discovery.served_resources()`, computed when discovery changes: every request
    /// resolves its resource against it.
    served: std::sync::Arc<Vec<ServedResource>>,
    objects: BTreeMap<ObjectKey, KubeObject>,
    /// Every change, for watches.
    pub history: History,
    next_rv: u64,
    next_uid: u64,
    next_ip: u32,
    next_port: u32,
    converter: Converter,
    pub rejections: Vec<Rejection>,
    /// List continue tokens issued before this epoch have expired.
    continue_epoch: u64,
    /// Whether an expired continue token is answered with an inconsistent continuation.
    pub inconsistent_continue: bool,
    /// The CSI snapshot controller (see the `snapshots` module).
    pub snapshots: SnapshotController,
    /// During a dry run ([`SimState::dry_run`]): each object an operation wrote, with what
    /// was stored before (`None`: nothing), in order, so that the run can be undone.
    journal: Option<Vec<(ObjectKey, Option<KubeObject>)>>,
}

/// What a dry run puts back when it ends: every field an operation may change, except the
/// objects and the change log, whose changes it undoes one by one.
struct Checkpoint {
    terminating: BTreeSet<ObjectKey>,
    discovery: std::sync::Arc<Discovery>,
    served: std::sync::Arc<Vec<ServedResource>>,
    history: super::history::HistoryMark,
    next_rv: u64,
    next_uid: u64,
    next_ip: u32,
    next_port: u32,
    continue_epoch: u64,
    snapshots: SnapshotController,
}

/// Where a resource's `scale` subresource reads and writes (JSON pointers into the object).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScalePaths {
    /// The desired replicas (`specReplicasPath`).
    pub spec_replicas: String,
    /// The observed replicas (`statusReplicasPath`).
    pub status_replicas: String,
    /// The label selector (`labelSelectorPath`), if any.
    pub label_selector: Option<String>,
    /// Whether the selector there is already a string (custom resources) rather than a
    /// `LabelSelector` or a map of labels (built-in types).
    pub selector_is_string: bool,
}

/// The reason of a conflict on a stale resourceVersion, as the API server words it.
pub(crate) const MODIFIED: &str =
    "the object has been modified; please apply your changes to the latest version and try again";

/// The finalizer of an object deleted with `propagationPolicy=Foreground`.
const FOREGROUND: &str = "foregroundDeletion";

/// The built-in resources (`plural.group` of the canonical group) whose API server storage has
/// a `status` subresource.
pub(crate) const STATUS_RESOURCES: &[&str] = &[
    "pods",
    "services",
    "namespaces",
    "nodes",
    "persistentvolumes",
    "persistentvolumeclaims",
    "replicationcontrollers",
    "resourcequotas",
    "deployments.apps",
    "statefulsets.apps",
    "daemonsets.apps",
    "replicasets.apps",
    "jobs.batch",
    "cronjobs.batch",
    "horizontalpodautoscalers.autoscaling",
    "ingresses.networking.k8s.io",
    "poddisruptionbudgets.policy",
    "certificatesigningrequests.certificates.k8s.io",
    "customresourcedefinitions.apiextensions.k8s.io",
    "apiservices.apiregistration.k8s.io",
    "volumeattachments.storage.k8s.io",
    "flowschemas.flowcontrol.apiserver.k8s.io",
    "prioritylevelconfigurations.flowcontrol.apiserver.k8s.io",
    "validatingadmissionpolicies.admissionregistration.k8s.io",
    "volumesnapshots.snapshot.storage.k8s.io",
    "volumesnapshotcontents.snapshot.storage.k8s.io",
];

fn uid_of(obj: &KubeObject) -> String {
    obj.metadata()
        .and_then(|m| m.get("uid"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn owner_refs(obj: &KubeObject) -> Vec<Value> {
    obj.metadata()
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The object without `metadata` and `status`: what `metadata.generation` follows.
fn without_meta_and_status(obj: &KubeObject) -> Value {
    let mut v = obj.to_value();
    if let Some(map) = v.as_object_mut() {
        for k in ["metadata", "status", "apiVersion", "kind"] {
            map.remove(k);
        }
    }
    v
}

/// The object without `metadata.resourceVersion`: what an update compares to tell a change.
fn without_version(obj: &KubeObject) -> Value {
    let mut v = obj.to_value();
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
    v
}

fn invalid(what: &str, reason: impl Into<String>) -> ClusterError {
    ClusterError::Invalid {
        what: what.to_string(),
        reason: reason.into(),
    }
}

fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

impl SimState {
    pub fn new(discovery: Discovery, converter: Converter) -> Self {
        SimState {
            terminating: BTreeSet::new(),
            builtin: discovery.clone(),
            served: std::sync::Arc::new(discovery.served_resources()),
            discovery: std::sync::Arc::new(discovery),
            objects: BTreeMap::new(),
            history: History::new(HISTORY_CAPACITY),
            next_rv: 1,
            next_uid: 1,
            next_ip: 10,
            next_port: 30000,
            converter,
            rejections: Vec::new(),
            continue_epoch: 0,
            inconsistent_continue: true,
            snapshots: SnapshotController::default(),
            journal: None,
        }
    }

    /// Runs `op` as a server-side dry run (`dryRun=All`): on this state, every check and
    /// side effect as for a real write, then every change undone — the objects it wrote from
    /// a journal, the rest from a checkpoint of the few fields an operation changes — so a
    /// dry run costs what the write costs, not a copy of the whole store. Snapshot data lives
    /// in storage shared with other clusters: the run works on a copy of it.
    pub fn dry_run<T>(&mut self, op: impl FnOnce(&mut SimState) -> T) -> T {
        let checkpoint = self.checkpoint();
        self.snapshots.storage = self.snapshots.storage.detached_copy();
        self.journal = Some(Vec::new());
        // Undone even if the write panics, so that the store stays as it was.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| op(self)));
        self.roll_back(checkpoint);
        match result {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    fn checkpoint(&mut self) -> Checkpoint {
        // Every field is named: one added later must be put back here, or said to be one no
        // operation changes.
        let SimState {
            terminating,
            builtin: _,
            discovery,
            served,
            objects: _,
            history,
            next_rv,
            next_uid,
            next_ip,
            next_port,
            converter: _,
            rejections: _,
            continue_epoch,
            inconsistent_continue: _,
            snapshots,
            journal: _,
        } = self;
        Checkpoint {
            terminating: terminating.clone(),
            discovery: discovery.clone(),
            served: served.clone(),
            history: history.hold(),
            next_rv: *next_rv,
            next_uid: *next_uid,
            next_ip: *next_ip,
            next_port: *next_port,
            continue_epoch: *continue_epoch,
            snapshots: snapshots.clone(),
        }
    }

    fn roll_back(&mut self, checkpoint: Checkpoint) {
        for (key, previous) in self.journal.take().unwrap_or_default().into_iter().rev() {
            match previous {
                Some(object) => self.objects.insert(key, object),
                None => self.objects.remove(&key),
            };
        }
        let Checkpoint {
            terminating,
            discovery,
            served,
            history,
            next_rv,
            next_uid,
            next_ip,
            next_port,
            continue_epoch,
            snapshots,
        } = checkpoint;
        self.terminating = terminating;
        self.discovery = discovery;
        self.served = served;
        self.history.release(history);
        self.next_rv = next_rv;
        self.next_uid = next_uid;
        self.next_ip = next_ip;
        self.next_port = next_port;
        self.continue_epoch = continue_epoch;
        self.snapshots = snapshots;
    }

    /// Notes in the dry run's journal (if one runs) what `key` held before a write.
    fn journal_write(&mut self, key: &ObjectKey) {
        if let Some(journal) = self.journal.as_mut() {
            journal.push((key.clone(), self.objects.get(key).cloned()));
        }
    }

    /// Expires every list continue token issued so far (what etcd's compaction does to a
    /// real server's tokens).
    pub fn expire_continue_tokens(&mut self) {
        self.continue_epoch += 1;
    }

    /// A continue token: the epoch it was issued in and the last key listed.
    fn continue_token(&self, namespace: &str, name: &str) -> String {
        format!("{}:{namespace}/{name}", self.continue_epoch)
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// The last resourceVersion assigned (0 before any write).
    pub fn last_resource_version(&self) -> u64 {
        self.next_rv.saturating_sub(1)
    }

    pub fn objects(&self) -> impl Iterator<Item = (&ObjectKey, &KubeObject)> {
        self.objects.iter()
    }

    pub fn describe(&self, gvr: &GroupVersionResource, ns: Option<&str>, name: &str) -> String {
        match ns {
            Some(ns) => format!("{} {}/{}", gvr.group_resource(), ns, name),
            None => format!("{} {}", gvr.group_resource(), name),
        }
    }

    fn served(&self) -> &[ServedResource] {
        &self.served
    }

    /// Resolves a request's resource, or `NotFound` if the server does not serve it.
    pub fn resolve(&self, gvr: &GroupVersionResource) -> Result<Resolved, ClusterError> {
        let res = self
            .discovery
            .group(&gvr.group)
            .and_then(|g| g.versions.iter().find(|v| v.version == gvr.version))
            .and_then(|v| v.resources.iter().find(|r| r.plural == gvr.resource))
            .ok_or_else(|| ClusterError::NotFound {
                what: format!("the server could not find the requested resource {gvr}"),
            })?;
        let canonical = canonical_group(&gvr.group, &gvr.resource);
        let served = self.served();
        let storage_version = served
            .iter()
            .find(|s| s.group == canonical && s.resource.plural == gvr.resource)
            .or_else(|| {
                served
                    .iter()
                    .find(|s| s.group == gvr.group && s.resource.plural == gvr.resource)
            })
            .map(|s| GroupVersion::new(s.group.clone(), s.preferred_version.clone()))
            .unwrap_or_else(|| gvr.group_version());
        let builtin = self.builtin.serves(&gvr.group, &gvr.version, &gvr.resource);
        Ok(Resolved {
            key: group_resource(&gvr.resource, canonical),
            kind: res.kind.clone(),
            namespaced: res.namespaced,
            storage: storage_version,
            builtin,
        })
    }

    pub(crate) fn convert(
        &self,
        obj: &KubeObject,
        to: &GroupVersion,
        builtin: bool,
    ) -> Result<KubeObject, ClusterError> {
        if obj.group_version() == *to {
            return Ok(obj.clone());
        }
        if builtin {
            (self.converter)(obj, to).map_err(|reason| ClusterError::Protocol {
                what: obj.describe(),
                reason: format!("cannot convert to {to}: {reason}"),
            })
        } else {
            let mut out = obj.clone();
            out.set_api_version(to);
            Ok(out)
        }
    }

    fn key(&self, r: &Resolved, ns: Option<&str>, name: &str) -> ObjectKey {
        ObjectKey {
            resource: r.key.clone(),
            namespace: if r.namespaced {
                ns.unwrap_or("").to_string()
            } else {
                String::new()
            },
            name: name.to_string(),
        }
    }

    pub fn get(
        &self,
        gvr: &GroupVersionResource,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Option<KubeObject>, ClusterError> {
        let r = self.resolve(gvr)?;
        match self.objects.get(&self.key(&r, ns, name)) {
            Some(obj) => self.convert(obj, &gvr.group_version(), r.builtin).map(Some),
            None => Ok(None),
        }
    }

    pub fn list(
        &self,
        gvr: &GroupVersionResource,
        ns: Option<&str>,
        options: &ListOptions,
    ) -> Result<ObjectPage, ClusterError> {
        let r = self.resolve(gvr)?;
        let selector = match options.label_selector.as_deref() {
            Some(s) if !s.trim().is_empty() => {
                Some(LabelSelector::parse(s).map_err(|e| ClusterError::Invalid {
                    what: format!("labelSelector {s:?}"),
                    reason: e.to_string(),
                })?)
            }
            _ => None,
        };
        let after: Option<(String, String)> = match options.continue_token.as_deref() {
            Some(t) if !t.is_empty() => {
                let invalid = || ClusterError::Invalid {
                    what: "continue".into(),
                    reason: format!("continue key is not valid: {t:?}"),
                };
                let (epoch, key) = t.split_once(':').ok_or_else(invalid)?;
                let epoch: u64 = epoch.parse().map_err(|_| invalid())?;
                let (a, b) = key.split_once('/').ok_or_else(invalid)?;
                if epoch < self.continue_epoch {
                    return Err(ClusterError::Gone {
                        what: gvr.group_resource(),
                        reason: "the continue token is too old".into(),
                        continue_token: self
                            .inconsistent_continue
                            .then(|| self.continue_token(a, b)),
                    });
                }
                Some((a.to_string(), b.to_string()))
            }
            _ => None,
        };
        let limit = options
            .limit
            .map(|l| l.max(1) as usize)
            .unwrap_or(usize::MAX);
        let mut items = Vec::new();
        let mut last: Option<&ObjectKey> = None;
        let mut more = false;
        // Start at the continue token (or the namespace's first key) and stop at the end of
        // the resource (or namespace): a page costs O(page + log n), not a scan from the start.
        let namespace_filter = ns.filter(|_| r.namespaced);
        let start = match (&after, namespace_filter) {
            (Some((a_ns, a_name)), _) => std::ops::Bound::Excluded(ObjectKey {
                resource: r.key.clone(),
                namespace: a_ns.clone(),
                name: a_name.clone(),
            }),
            (None, ns) => std::ops::Bound::Included(ObjectKey {
                resource: r.key.clone(),
                namespace: ns.unwrap_or("").to_string(),
                name: String::new(),
            }),
        };
        for (key, obj) in self.objects.range((start, std::ops::Bound::Unbounded)) {
            if key.resource != r.key {
                break;
            }
            if let Some(ns) = namespace_filter {
                match key.namespace.as_str().cmp(ns) {
                    std::cmp::Ordering::Less => continue,
                    std::cmp::Ordering::Greater => break,
                    std::cmp::Ordering::Equal => {}
                }
            }
            if let Some((a_ns, a_name)) = &after
                && (&key.namespace, &key.name) <= (a_ns, a_name)
            {
                continue;
            }
            if let Some(sel) = &selector
                && !sel.matches_object(obj)
            {
                continue;
            }
            if items.len() == limit {
                more = true;
                break;
            }
            items.push(self.convert(obj, &gvr.group_version(), r.builtin)?);
            last = Some(key);
        }
        let continue_token = match (more, last) {
            (true, Some(k)) => Some(self.continue_token(&k.namespace, &k.name)),
            _ => None,
        };
        Ok(ObjectPage {
            items,
            continue_token,
        })
    }

    /// Assigns resourceVersion, uid and creationTimestamp. A load (`fresh == false`, `keep`)
    /// keeps the values a saved object carries and moves the counters past them.
    fn stamp(&mut self, meta: &mut Map<String, Value>, now: Timestamp, fresh: bool) {
        self.stamp_with(meta, now, fresh, false)
    }

    fn stamp_with(
        &mut self,
        meta: &mut Map<String, Value>,
        now: Timestamp,
        fresh: bool,
        keep: bool,
    ) {
        let saved_rv = meta
            .get("resourceVersion")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<u64>().ok());
        match saved_rv {
            Some(rv) if keep => self.next_rv = self.next_rv.max(rv + 1),
            _ => {
                let rv = self.next_rv;
                self.next_rv += 1;
                meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
            }
        }
        if let Some(n) = meta
            .get("uid")
            .and_then(Value::as_str)
            .and_then(|u| u.strip_prefix("5e1f0000-0000-4000-8000-"))
            .and_then(|h| u64::from_str_radix(h, 16).ok())
        {
            self.next_uid = self.next_uid.max(n + 1);
        }
        if fresh || !meta.contains_key("uid") {
            let uid = self.next_uid;
            self.next_uid += 1;
            meta.insert(
                "uid".into(),
                Value::String(format!("5e1f0000-0000-4000-8000-{uid:012x}")),
            );
        }
        if fresh || !meta.contains_key("creationTimestamp") {
            meta.insert("creationTimestamp".into(), Value::String(now.to_string()));
        }
    }

    fn check_admission(&self, what: &str, obj: &KubeObject) -> Result<(), ClusterError> {
        if !is_dns_subdomain(obj.name()) {
            return Err(invalid(
                what,
                format!(
                    "metadata.name: Invalid value: {:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'",
                    obj.name()
                ),
            ));
        }
        for rule in &self.rejections {
            if rule.kind == obj.kind() && rule.name.as_deref().is_none_or(|n| n == obj.name()) {
                return Err(invalid(what, rule.message.clone()));
            }
        }
        let gv = obj.group_version();
        if gv.group == "apps"
            && gv.version == "v1"
            && matches!(
                obj.kind(),
                "Deployment" | "DaemonSet" | "ReplicaSet" | "StatefulSet"
            )
            && obj.pointer("/spec/selector").is_none()
        {
            return Err(invalid(what, "spec.selector: Required value"));
        }
        Ok(())
    }

    pub fn create_namespace_if_missing(
        &mut self,
        name: &str,
        now: Timestamp,
    ) -> Result<(), ClusterError> {
        let gvr = GroupVersionResource::new("", "v1", "namespaces");
        if self.get(&gvr, None, name)?.is_some() {
            return Ok(());
        }
        let ns = KubeObject::new(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
        )
        .map_err(|e| invalid(name, e.to_string()))?;
        self.create(&gvr, &ns, now).map(|_| ())
    }

    pub fn create(
        &mut self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
        now: Timestamp,
    ) -> Result<KubeObject, ClusterError> {
        self.insert(gvr, object.clone(), now, true, None)
    }

    /// Inserts an object. `fresh`: a create (system fields assigned anew, side effects run);
    /// otherwise a load of saved state (system fields kept where present; side effects run
    /// only for objects without status).
    pub(super) fn insert(
        &mut self,
        gvr: &GroupVersionResource,
        mut object: KubeObject,
        now: Timestamp,
        fresh: bool,
        managed: Option<Value>,
    ) -> Result<KubeObject, ClusterError> {
        let r = self.resolve(gvr)?;
        let ns = object.namespace().map(str::to_string);
        let what = self.describe(gvr, ns.as_deref(), object.name());
        if object.group_version() != gvr.group_version() || object.kind() != r.kind {
            return Err(invalid(
                &what,
                format!(
                    "the object is {} {} but the request is for {} ({})",
                    object.api_version(),
                    object.kind(),
                    gvr.group_version(),
                    r.kind
                ),
            ));
        }
        if r.namespaced {
            let Some(ns_name) = ns.as_deref() else {
                return Err(invalid(&what, "metadata.namespace: Required value"));
            };
            if !self.namespace_exists(ns_name) {
                return Err(ClusterError::NotFound {
                    what: format!("namespaces {ns_name:?}"),
                });
            }
            if fresh && self.namespace_terminating(ns_name) {
                return Err(ClusterError::Forbidden {
                    what,
                    reason: format!(
                        "unable to create new content in namespace {ns_name} because it is being terminated"
                    ),
                });
            }
        } else if ns.is_some() {
            object.metadata_mut().remove("namespace");
        }
        self.check_admission(&what, &object)?;
        let key = self.key(&r, ns.as_deref(), object.name());
        if self.objects.contains_key(&key) {
            return Err(ClusterError::AlreadyExists { what });
        }
        let run_side_effects = fresh || object.fields().get("status").is_none();
        {
            let meta = object.metadata_mut();
            if fresh {
                for k in [
                    "uid",
                    "resourceVersion",
                    "creationTimestamp",
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                    "selfLink",
                    "managedFields",
                ] {
                    meta.remove(k);
                }
                meta.insert("generation".into(), json!(1));
                if let Some(m) = managed {
                    meta.insert("managedFields".into(), m);
                }
            }
        }
        let mut meta = std::mem::take(object.metadata_mut());
        self.stamp_with(&mut meta, now, fresh, !fresh);
        *object.metadata_mut() = meta;
        if run_side_effects {
            self.on_create(&mut object, now)?;
        }
        let stored = self.convert(&object, &r.storage, r.builtin)?;
        if stored
            .metadata()
            .is_some_and(|m| m.contains_key("deletionTimestamp"))
        {
            self.terminating.insert(key.clone());
        }
        self.put(key, stored);
        if object.kind() == "CustomResourceDefinition" {
            self.refresh_crds();
        }
        // The object is already at the request's version (checked above): the answer.
        Ok(object)
    }

    /// What an API server and its controllers do when an object is created.
    fn on_create(&mut self, object: &mut KubeObject, now: Timestamp) -> Result<(), ClusterError> {
        match object.kind() {
            "Namespace" => {
                object
                    .fields_mut()
                    .insert("status".into(), json!({"phase": "Active"}));
            }
            "CustomResourceDefinition" => {
                object.fields_mut().insert(
                    "status".into(),
                    json!({"conditions": [
                        {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
                        {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"}
                    ]}),
                );
            }
            "Service" => self.allocate_service(object),
            "PersistentVolumeClaim" => self.bind_claim(object, now)?,
            "VolumeSnapshot" => self.take_snapshot(object, now)?,
            "VolumeSnapshotContent" => {
                if let Some(handle) = object
                    .pointer("/spec/source/snapshotHandle")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                {
                    let status = match self.snapshots.storage.get(&handle) {
                        Some(cloud) => json!({"readyToUse": true, "snapshotHandle": handle,
                            "restoreSize": cloud.size, "creationTime": cloud.created.to_string()}),
                        None => json!({"readyToUse": false, "snapshotHandle": handle,
                            "error": {"message": format!("snapshot {handle} not found in the storage")}}),
                    };
                    object.fields_mut().insert("status".into(), status);
                }
            }
            "PersistentVolume" => {
                let phase = if object.pointer("/spec/claimRef").is_some() {
                    "Bound"
                } else {
                    "Available"
                };
                object
                    .fields_mut()
                    .insert("status".into(), json!({"phase": phase}));
            }
            _ => {}
        }
        Ok(())
    }

    fn allocate_service(&mut self, svc: &mut KubeObject) {
        let Some(Value::Object(spec)) = svc.fields_mut().get_mut("spec") else {
            return;
        };
        let ty = spec
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_string();
        if ty == "ExternalName" {
            return;
        }
        let wants_ip = match spec.get("clusterIP").and_then(Value::as_str) {
            None | Some("") => true,
            Some(_) => false,
        };
        if wants_ip {
            let n = self.next_ip;
            self.next_ip += 1;
            let ip = format!("10.96.{}.{}", n / 250, n % 250 + 1);
            spec.insert("clusterIP".into(), Value::String(ip.clone()));
            spec.insert("clusterIPs".into(), json!([ip]));
        }
        if (ty == "NodePort" || ty == "LoadBalancer")
            && let Some(Value::Array(ports)) = spec.get_mut("ports")
        {
            {
                for port in ports.iter_mut().filter_map(Value::as_object_mut) {
                    if port.get("nodePort").and_then(Value::as_u64).is_none() {
                        port.insert("nodePort".into(), json!(self.next_port));
                        self.next_port += 1;
                    }
                }
            }
        }
        if ty == "LoadBalancer"
            && spec.get("externalTrafficPolicy").and_then(Value::as_str) == Some("Local")
            && spec
                .get("healthCheckNodePort")
                .and_then(Value::as_u64)
                .is_none()
        {
            spec.insert("healthCheckNodePort".into(), json!(self.next_port));
            self.next_port += 1;
        }
    }

    /// The objects of one resource (`plural.group`), in key order: a range of the store, not
    /// a walk over every object.
    fn objects_of<'s>(&'s self, resource: &'s str) -> impl Iterator<Item = &'s KubeObject> + 's {
        let from = ObjectKey {
            resource: resource.to_string(),
            namespace: String::new(),
            name: String::new(),
        };
        self.objects
            .range(from..)
            .take_while(move |(k, _)| k.resource == resource)
            .map(|(_, o)| o)
    }

    fn storage_class(&self, name: &str) -> Option<KubeObject> {
        self.objects
            .get(&ObjectKey {
                resource: "storageclasses.storage.k8s.io".into(),
                namespace: String::new(),
                name: name.to_string(),
            })
            .cloned()
    }

    fn default_storage_class(&self) -> Option<KubeObject> {
        self.objects_of("storageclasses.storage.k8s.io")
            .find(|o| {
                o.annotation("storageclass.kubernetes.io/is-default-class") == Some("true")
                    || o.annotation("storageclass.beta.kubernetes.io/is-default-class")
                        == Some("true")
            })
            .cloned()
    }

    /// Binds a new claim: to its named PV if that exists, else by dynamic provisioning when its
    /// StorageClass exists (the simulator binds at once whatever the binding mode).
    fn bind_claim(&mut self, pvc: &mut KubeObject, now: Timestamp) -> Result<(), ClusterError> {
        let ns = pvc.namespace().unwrap_or("default").to_string();
        let name = pvc.name().to_string();
        let request = pvc
            .pointer("/spec/resources/requests/storage")
            .cloned()
            .unwrap_or(json!("1Gi"));
        let modes = pvc
            .pointer("/spec/accessModes")
            .cloned()
            .unwrap_or(json!(["ReadWriteOnce"]));
        let mut phase = "Pending";
        let volume_name = pvc
            .pointer("/spec/volumeName")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(pv_name) = volume_name.filter(|v| !v.is_empty()) {
            let key = ObjectKey {
                resource: "persistentvolumes".into(),
                namespace: String::new(),
                name: pv_name,
            };
            self.journal_write(&key);
            if let Some(pv) = self.objects.get_mut(&key) {
                let mut v = pv.to_value();
                v["spec"]["claimRef"] = json!({"kind": "PersistentVolumeClaim", "namespace": ns, "name": name, "apiVersion": "v1"});
                v["status"] = json!({"phase": "Bound"});
                if let Ok(bound) = KubeObject::new(v) {
                    *pv = bound;
                }
                phase = "Bound";
            }
        } else {
            let class_name = match pvc.pointer("/spec/storageClassName") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => None,
                None => self.default_storage_class().map(|sc| sc.name().to_string()),
            };
            // A claim restored from a snapshot is provisioned only once the snapshot is
            // usable, with its data.
            let from_snapshot = self.claim_snapshot_source(pvc, &ns);
            if let Some(sc) = class_name
                .as_deref()
                .filter(|s| !s.is_empty())
                .and_then(|s| self.storage_class(s))
                .filter(|_| from_snapshot.is_ok())
            {
                let provisioner = sc
                    .fields()
                    .get("provisioner")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let reclaim = sc
                    .fields()
                    .get("reclaimPolicy")
                    .and_then(Value::as_str)
                    .unwrap_or("Delete")
                    .to_string();
                let uid = pvc
                    .metadata()
                    .and_then(|m| m.get("uid"))
                    .and_then(Value::as_str)
                    .unwrap_or("x")
                    .to_string();
                let pv_name = format!("pvc-{uid}");
                let pv = KubeObject::new(json!({
                    "apiVersion": "v1", "kind": "PersistentVolume",
                    "metadata": {"name": pv_name, "annotations": {"pv.kubernetes.io/provisioned-by": provisioner}},
                    "spec": {
                        "capacity": {"storage": request},
                        "accessModes": modes,
                        "persistentVolumeReclaimPolicy": reclaim,
                        "storageClassName": sc.name(),
                        "csi": {"driver": provisioner, "volumeHandle": format!("vol-{uid}")},
                        "claimRef": {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": ns, "name": name, "uid": uid},
                    },
                }))
                .map_err(|e| invalid(&name, e.to_string()))?;
                self.insert(
                    &GroupVersionResource::new("", "v1", "persistentvolumes"),
                    pv,
                    now,
                    true,
                    None,
                )?;
                if let Ok(Some(snapshot)) = &from_snapshot
                    && let Some(data) = &snapshot.data
                {
                    self.snapshots
                        .volume_data
                        .insert(format!("vol-{uid}"), data.clone());
                }
                if let Some(Value::Object(spec)) = pvc.fields_mut().get_mut("spec") {
                    spec.insert("volumeName".into(), Value::String(pv_name));
                    if !spec.contains_key("storageClassName") {
                        spec.insert(
                            "storageClassName".into(),
                            Value::String(sc.name().to_string()),
                        );
                    }
                }
                phase = "Bound";
            }
        }
        let mut status = json!({"phase": phase});
        if phase == "Bound" {
            status["capacity"] = json!({"storage": request});
            status["accessModes"] = modes;
        }
        pvc.fields_mut().insert("status".into(), status);
        Ok(())
    }

    /// The CSI snapshot controller (see the `snapshots` module): a VolumeSnapshot of a bound
    /// claim is cut and gets a content; one naming an existing content binds to it
    /// (pre-provisioned).
    fn take_snapshot(&mut self, vs: &mut KubeObject, now: Timestamp) -> Result<(), ClusterError> {
        let ns = vs.namespace().unwrap_or("default").to_string();
        let source = vs.pointer("/spec/source").cloned().unwrap_or(Value::Null);
        let uid = vs
            .metadata()
            .and_then(|m| m.get("uid"))
            .and_then(Value::as_str)
            .unwrap_or("x")
            .to_string();
        let not_ready =
            |message: String| json!({"readyToUse": false, "error": {"message": message}});
        let status = if let Some(content_name) = source
            .get("volumeSnapshotContentName")
            .and_then(Value::as_str)
        {
            let key = ObjectKey {
                resource: "volumesnapshotcontents.snapshot.storage.k8s.io".into(),
                namespace: String::new(),
                name: content_name.to_string(),
            };
            match self.objects.get(&key) {
                Some(c) if c.pointer("/status/readyToUse") == Some(&json!(true)) => {
                    json!({"readyToUse": true, "boundVolumeSnapshotContentName": content_name,
                    "restoreSize": c.pointer("/status/restoreSize").cloned().unwrap_or(Value::Null)})
                }
                Some(c) => not_ready(
                    c.pointer("/status/error/message")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .unwrap_or_else(|| {
                            format!("VolumeSnapshotContent {content_name} is not ready")
                        }),
                ),
                None => not_ready(format!("VolumeSnapshotContent {content_name} not found")),
            }
        } else if let Some(claim) = source
            .get("persistentVolumeClaimName")
            .and_then(Value::as_str)
        {
            let key = ObjectKey {
                resource: "persistentvolumeclaims".into(),
                namespace: ns.clone(),
                name: claim.to_string(),
            };
            match self.objects.get(&key).cloned() {
                Some(pvc) if pvc.pointer("/status/phase") == Some(&json!("Bound")) => {
                    self.cut_snapshot(vs, &ns, &pvc, &uid, now)?
                }
                Some(_) => not_ready(format!("PersistentVolumeClaim {ns}/{claim} is not bound")),
                None => not_ready(format!("PersistentVolumeClaim {ns}/{claim} not found")),
            }
        } else {
            return Err(invalid(&vs.describe(), "spec.source: Required value"));
        };
        vs.fields_mut().insert("status".into(), status);
        Ok(())
    }

    /// Cuts a dynamic snapshot of a bound claim: the cloud snapshot and its content. Returns
    /// the VolumeSnapshot's status.
    fn cut_snapshot(
        &mut self,
        vs: &KubeObject,
        ns: &str,
        pvc: &KubeObject,
        uid: &str,
        now: Timestamp,
    ) -> Result<Value, ClusterError> {
        let claim = pvc.name();
        if let Some(message) = self.snapshots.behaviour.failure_for(ns, claim) {
            return Ok(
                json!({"readyToUse": false, "error": {"message": message, "time": now.to_string()}}),
            );
        }
        let size = pvc
            .pointer("/status/capacity/storage")
            .cloned()
            .unwrap_or(Value::Null);
        let pv_name = pvc
            .pointer("/spec/volumeName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let pv = self
            .objects
            .get(&ObjectKey {
                resource: "persistentvolumes".into(),
                namespace: String::new(),
                name: pv_name.clone(),
            })
            .cloned();
        let driver = pv
            .as_ref()
            .and_then(|pv| pv.pointer("/spec/csi/driver"))
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string();
        let volume_handle = pv
            .as_ref()
            .and_then(|pv| pv.pointer("/spec/csi/volumeHandle"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("vol-{claim}"));
        let class_name = vs
            .pointer("/spec/volumeSnapshotClassName")
            .and_then(Value::as_str)
            .map(str::to_string);
        let class = class_name.as_deref().and_then(|c| {
            self.objects
                .get(&ObjectKey {
                    resource: "volumesnapshotclasses.snapshot.storage.k8s.io".into(),
                    namespace: String::new(),
                    name: c.to_string(),
                })
                .cloned()
        });
        let policy = class
            .as_ref()
            .and_then(|c| c.fields().get("deletionPolicy"))
            .and_then(Value::as_str)
            .unwrap_or("Delete")
            .to_string();
        let retention_days = class
            .as_ref()
            .and_then(|c| c.pointer("/parameters/retentionDays"))
            .and_then(Value::as_str)
            .and_then(|d| d.parse::<u64>().ok());
        let handle = self.snapshots.storage.cut(CloudSnapshot {
            handle: String::new(),
            driver: driver.clone(),
            source_volume: volume_handle.clone(),
            size: size.as_str().map(str::to_string),
            data: self.snapshots.volume_data.get(&volume_handle).cloned(),
            retention_days,
            created: now,
        });
        let ready_at = self.snapshots.ready_at(now);
        let ready = ready_at <= now;
        if !ready {
            self.snapshots
                .pending
                .insert((ns.to_string(), vs.name().to_string()), ready_at);
        }
        let content_name = format!("snapcontent-{uid}");
        let content = KubeObject::new(json!({
            "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotContent",
            "metadata": {"name": content_name},
            "spec": {"deletionPolicy": policy, "driver": driver,
                "volumeSnapshotClassName": class_name,
                "source": {"volumeHandle": volume_handle},
                "volumeSnapshotRef": {"kind": "VolumeSnapshot", "apiVersion": "snapshot.storage.k8s.io/v1",
                    "name": vs.name(), "namespace": ns, "uid": uid}},
            "status": {"readyToUse": ready, "snapshotHandle": handle, "restoreSize": size,
                "creationTime": now.to_string()},
        }))
        .map_err(|e| invalid(vs.name(), e.to_string()))?;
        let gvr =
            GroupVersionResource::new("snapshot.storage.k8s.io", "v1", "volumesnapshotcontents");
        self.insert(&gvr, content, now, false, None)?;
        Ok(
            json!({"readyToUse": ready, "boundVolumeSnapshotContentName": content_name, "restoreSize": size,
                "creationTime": now.to_string()}),
        )
    }

    /// Makes the pending snapshots whose time has come ready (the controller's work up to
    /// `now`).
    pub fn tick_snapshots(&mut self, now: Timestamp) {
        for (ns, name) in self.snapshots.due(now) {
            self.complete_snapshot(&ns, &name, now);
        }
    }

    /// The instant a pending snapshot becomes ready, if it is pending.
    pub fn snapshot_ready_at(&self, ns: &str, name: &str) -> Option<Timestamp> {
        self.snapshots
            .pending
            .get(&(ns.to_string(), name.to_string()))
            .copied()
    }

    /// Marks a pending snapshot and its content ready.
    pub fn complete_snapshot(&mut self, ns: &str, name: &str, now: Timestamp) {
        self.snapshots
            .pending
            .remove(&(ns.to_string(), name.to_string()));
        let vs_key = ObjectKey {
            resource: "volumesnapshots.snapshot.storage.k8s.io".into(),
            namespace: ns.to_string(),
            name: name.to_string(),
        };
        let Some(vs) = self.objects.get(&vs_key).cloned() else {
            return;
        };
        let content_name = vs
            .pointer("/status/boundVolumeSnapshotContentName")
            .and_then(Value::as_str)
            .map(str::to_string);
        self.set_ready(vs_key, vs, now);
        if let Some(content_name) = content_name {
            let key = ObjectKey {
                resource: "volumesnapshotcontents.snapshot.storage.k8s.io".into(),
                namespace: String::new(),
                name: content_name,
            };
            if let Some(content) = self.objects.get(&key).cloned() {
                self.set_ready(key, content, now);
            }
        }
    }

    fn set_ready(&mut self, key: ObjectKey, mut obj: KubeObject, now: Timestamp) {
        if let Some(Value::Object(status)) = obj.fields_mut().get_mut("status") {
            status.insert("readyToUse".into(), json!(true));
        }
        let mut meta = std::mem::take(obj.metadata_mut());
        self.stamp(&mut meta, now, false);
        *obj.metadata_mut() = meta;
        self.put(key, obj);
    }

    /// What the snapshot controller does when a VolumeSnapshot or a content goes: a
    /// VolumeSnapshot takes its bound content along when the content's policy is `Delete`; a
    /// content whose policy is `Delete` takes its cloud snapshot along.
    fn on_snapshot_removed(&mut self, removed: &KubeObject) {
        match removed.kind() {
            "VolumeSnapshot" if removed.api_group() == "snapshot.storage.k8s.io" => {
                let ns = removed.namespace().unwrap_or("").to_string();
                self.snapshots
                    .pending
                    .remove(&(ns.clone(), removed.name().to_string()));
                let Some(content_name) = removed
                    .pointer("/status/boundVolumeSnapshotContentName")
                    .and_then(Value::as_str)
                else {
                    return;
                };
                let key = ObjectKey {
                    resource: "volumesnapshotcontents.snapshot.storage.k8s.io".into(),
                    namespace: String::new(),
                    name: content_name.to_string(),
                };
                let bound_here = self.objects.get(&key).is_some_and(|c| {
                    c.pointer("/spec/deletionPolicy").and_then(Value::as_str) == Some("Delete")
                        && c.pointer("/spec/volumeSnapshotRef/name")
                            .and_then(Value::as_str)
                            == Some(removed.name())
                        && c.pointer("/spec/volumeSnapshotRef/namespace")
                            .and_then(Value::as_str)
                            == Some(ns.as_str())
                });
                if bound_here {
                    self.take(&key);
                }
            }
            "VolumeSnapshotContent" if removed.api_group() == "snapshot.storage.k8s.io" => {
                if removed
                    .pointer("/spec/deletionPolicy")
                    .and_then(Value::as_str)
                    == Some("Delete")
                    && let Some(handle) = removed
                        .pointer("/status/snapshotHandle")
                        .and_then(Value::as_str)
                {
                    self.snapshots.storage.remove(handle);
                }
            }
            _ => {}
        }
    }

    /// The cloud snapshot a claim's `dataSource` VolumeSnapshot stands for: `Ok(None)` when the
    /// claim has no such data source, `Err` with the reason when it cannot be used (yet).
    fn claim_snapshot_source(
        &self,
        pvc: &KubeObject,
        ns: &str,
    ) -> Result<Option<CloudSnapshot>, String> {
        let source = pvc
            .pointer("/spec/dataSource")
            .or_else(|| pvc.pointer("/spec/dataSourceRef"));
        let Some(source) = source else {
            return Ok(None);
        };
        if source.get("kind").and_then(Value::as_str) != Some("VolumeSnapshot") {
            return Ok(None);
        }
        let name = source.get("name").and_then(Value::as_str).unwrap_or("");
        let vs = self
            .objects
            .get(&ObjectKey {
                resource: "volumesnapshots.snapshot.storage.k8s.io".into(),
                namespace: ns.to_string(),
                name: name.to_string(),
            })
            .ok_or_else(|| format!("VolumeSnapshot {ns}/{name} not found"))?;
        if vs.pointer("/status/readyToUse") != Some(&json!(true)) {
            return Err(format!("VolumeSnapshot {ns}/{name} is not ready to use"));
        }
        let content_name = vs
            .pointer("/status/boundVolumeSnapshotContentName")
            .and_then(Value::as_str)
            .unwrap_or("");
        let handle = self
            .objects
            .get(&ObjectKey {
                resource: "volumesnapshotcontents.snapshot.storage.k8s.io".into(),
                namespace: String::new(),
                name: content_name.to_string(),
            })
            .and_then(|c| c.pointer("/status/snapshotHandle"))
            .and_then(Value::as_str)
            .ok_or_else(|| format!("VolumeSnapshotContent {content_name} not found"))?;
        self.snapshots
            .storage
            .get(handle)
            .map(Some)
            .ok_or_else(|| format!("snapshot {handle} not found in the storage"))
    }

    /// Writes data to the volume a claim is bound to.
    pub fn write_volume(&mut self, ns: &str, claim: &str, data: &str) -> Result<(), ClusterError> {
        let handle = self.volume_handle_of(ns, claim)?;
        self.snapshots.volume_data.insert(handle, data.to_string());
        Ok(())
    }

    /// The data of the volume a claim is bound to (`None` when nothing was written to it).
    pub fn read_volume(&self, ns: &str, claim: &str) -> Result<Option<String>, ClusterError> {
        let handle = self.volume_handle_of(ns, claim)?;
        Ok(self.snapshots.volume_data.get(&handle).cloned())
    }

    fn volume_handle_of(&self, ns: &str, claim: &str) -> Result<String, ClusterError> {
        let what = format!("persistentvolumeclaims {ns}/{claim}");
        let pvc = self
            .objects
            .get(&ObjectKey {
                resource: "persistentvolumeclaims".into(),
                namespace: ns.to_string(),
                name: claim.to_string(),
            })
            .ok_or_else(|| ClusterError::NotFound { what: what.clone() })?;
        let pv_name = pvc
            .pointer("/spec/volumeName")
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| invalid(&what, "the claim is not bound to a volume"))?;
        let pv = self
            .objects
            .get(&ObjectKey {
                resource: "persistentvolumes".into(),
                namespace: String::new(),
                name: pv_name.to_string(),
            })
            .ok_or_else(|| ClusterError::NotFound {
                what: format!("persistentvolumes {pv_name}"),
            })?;
        Ok(pv
            .pointer("/spec/csi/volumeHandle")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| pv_name.to_string()))
    }

    pub fn update(
        &mut self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
        now: Timestamp,
    ) -> Result<KubeObject, ClusterError> {
        self.update_part(gvr, object, now, Subresource::Main)
    }

    /// Whether objects of a resource have a `status` subresource: the built-in types whose
    /// API server storage has one, and custom resources whose CRD version declares it.
    pub fn has_status_subresource(&self, r: &Resolved, version: &str) -> bool {
        if r.builtin {
            return STATUS_RESOURCES.contains(&r.key.as_str());
        }
        self.crd_version_subresource(&r.key, version, "status")
            .is_some()
    }

    /// The `subresources.<name>` block a CRD declares for a version of its resource `key`.
    pub fn crd_version_subresource(&self, key: &str, version: &str, name: &str) -> Option<Value> {
        let crd = self
            .objects_of("customresourcedefinitions.apiextensions.k8s.io")
            .find(|o| crd_resource_key(o).as_deref() == Some(key))?;
        let per_version = crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .and_then(|vs| {
                vs.iter()
                    .find(|v| v.get("name").and_then(Value::as_str) == Some(version))
            })
            .and_then(|v| v.get("subresources"))
            .and_then(|s| s.get(name));
        per_version
            .or_else(|| crd.pointer(&format!("/spec/subresources/{name}")))
            .cloned()
    }

    /// Where the replicas and selector of a resource's `scale` subresource live, if it has one.
    pub fn scale_paths(&self, r: &Resolved, version: &str) -> Option<ScalePaths> {
        if r.builtin {
            let scalable = matches!(
                r.key.as_str(),
                "deployments.apps"
                    | "statefulsets.apps"
                    | "replicasets.apps"
                    | "replicationcontrollers"
            );
            return scalable.then(|| ScalePaths {
                spec_replicas: "/spec/replicas".into(),
                status_replicas: "/status/replicas".into(),
                label_selector: Some("/spec/selector".into()),
                selector_is_string: false,
            });
        }
        let scale = self.crd_version_subresource(&r.key, version, "scale")?;
        let pointer = |k: &str| {
            scale
                .get(k)
                .and_then(Value::as_str)
                .map(|p| p.trim_start_matches('.').replace('.', "/"))
                .map(|p| format!("/{p}"))
        };
        Some(ScalePaths {
            spec_replicas: pointer("specReplicasPath")?,
            status_replicas: pointer("statusReplicasPath")?,
            label_selector: pointer("labelSelectorPath"),
            selector_is_string: true,
        })
    }

    /// An update of the object or of its `status` (see [`Subresource`]).
    pub fn update_part(
        &mut self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
        now: Timestamp,
        part: Subresource,
    ) -> Result<KubeObject, ClusterError> {
        let r = self.resolve(gvr)?;
        let ns = object.namespace().map(str::to_string);
        let what = self.describe(gvr, ns.as_deref(), object.name());
        if object.group_version() != gvr.group_version() || object.kind() != r.kind {
            return Err(invalid(&what, "apiVersion and kind must match the request"));
        }
        let key = self.key(&r, ns.as_deref(), object.name());
        let Some(current) = self.objects.get(&key).cloned() else {
            return Err(ClusterError::NotFound { what });
        };
        let current_meta = current.metadata().cloned().unwrap_or_default();
        if let Some(rv) = object
            .metadata()
            .and_then(|m| m.get("resourceVersion"))
            .and_then(Value::as_str)
        {
            let stored_rv = current_meta
                .get("resourceVersion")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !rv.is_empty() && rv != stored_rv {
                return Err(ClusterError::Conflict {
                    what,
                    reason: MODIFIED.into(),
                });
            }
        }
        let current_at_version = self.convert(&current, &gvr.group_version(), r.builtin)?;
        let with_status = self.has_status_subresource(&r, &gvr.version);
        let mut updated = match part {
            Subresource::Status => {
                // Only status (and the field managers tracking it) is taken from the request.
                let mut merged = current_at_version.clone();
                match object.fields().get("status") {
                    Some(s) => merged.fields_mut().insert("status".into(), s.clone()),
                    None => merged.fields_mut().remove("status"),
                };
                if let Some(mf) = object.metadata().and_then(|m| m.get("managedFields")) {
                    merged
                        .metadata_mut()
                        .insert("managedFields".into(), mf.clone());
                }
                merged
            }
            Subresource::Main => {
                let mut merged = object.clone();
                let stored_status = current_at_version.fields().get("status").cloned();
                if with_status || merged.fields().get("status").is_none() {
                    match stored_status {
                        Some(s) => merged.fields_mut().insert("status".into(), s),
                        None => merged.fields_mut().remove("status"),
                    };
                }
                merged
            }
        };
        self.check_admission(&what, &updated)?;
        if current_meta.contains_key("deletionTimestamp") {
            let old = string_list(current_meta.get("finalizers"));
            let added: Vec<String> =
                string_list(updated.metadata().and_then(|m| m.get("finalizers")))
                    .into_iter()
                    .filter(|f| !old.contains(f))
                    .collect();
            if !added.is_empty() {
                let list: Vec<String> = added.iter().map(|f| format!("{f:?}")).collect();
                return Err(invalid(
                    &what,
                    format!(
                        "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                        list.join(", ")
                    ),
                ));
            }
        }
        let spec_changed =
            without_meta_and_status(&current_at_version) != without_meta_and_status(&updated);
        {
            let meta = updated.metadata_mut();
            for k in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ] {
                match current_meta.get(k) {
                    Some(v) => meta.insert(k.to_string(), v.clone()),
                    None => meta.remove(k),
                };
            }
            let generation = current_meta
                .get("generation")
                .and_then(Value::as_u64)
                .unwrap_or(1);
            meta.insert(
                "generation".into(),
                json!(if spec_changed && part == Subresource::Main {
                    generation + 1
                } else {
                    generation
                }),
            );
        }
        // A write that changes nothing is not written, as etcd's guaranteed update keeps the
        // stored bytes: no new resourceVersion, no watch event.
        if without_version(&updated) == without_version(&current_at_version) {
            return Ok(current_at_version);
        }
        let mut meta = std::mem::take(updated.metadata_mut());
        self.stamp(&mut meta, now, false);
        *updated.metadata_mut() = meta;
        let stored = self.convert(&updated, &r.storage, r.builtin)?;
        let pending = stored
            .metadata()
            .is_some_and(|m| m.contains_key("deletionTimestamp"));
        self.put(key.clone(), stored);
        if updated.kind() == "CustomResourceDefinition" {
            self.refresh_crds();
        }
        if pending {
            self.terminating.insert(key);
            self.reconcile(now)?;
        }
        self.convert(&updated, &gvr.group_version(), r.builtin)
    }

    /// Deletes an object as a `DELETE` request with the default options does.
    pub fn delete(
        &mut self,
        gvr: &GroupVersionResource,
        ns: Option<&str>,
        name: &str,
        now: Timestamp,
    ) -> Result<(), ClusterError> {
        self.delete_with(gvr, ns, name, &DeleteOptions::default(), now)
            .map(|_| ())
    }

    /// A `DELETE` with options: preconditions, finalizers (the object is marked with a
    /// `deletionTimestamp` and kept), propagation to dependents, namespace termination.
    pub fn delete_with(
        &mut self,
        gvr: &GroupVersionResource,
        ns: Option<&str>,
        name: &str,
        options: &DeleteOptions,
        now: Timestamp,
    ) -> Result<Deletion, ClusterError> {
        let r = self.resolve(gvr)?;
        let key = self.key(&r, ns, name);
        let what = self.describe(gvr, ns, name);
        let Some(current) = self.objects.get(&key).cloned() else {
            return Err(ClusterError::NotFound { what });
        };
        let meta = current.metadata().cloned().unwrap_or_default();
        let field = |k: &str| {
            meta.get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        if let Some(uid) = &options.uid
            && *uid != field("uid")
        {
            return Err(ClusterError::Conflict {
                what,
                reason: format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    field("uid")
                ),
            });
        }
        if let Some(rv) = &options.resource_version
            && *rv != field("resourceVersion")
        {
            return Err(ClusterError::Conflict {
                what,
                reason: format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    field("resourceVersion")
                ),
            });
        }
        if current.kind() == "Namespace" && meta.contains_key("deletionTimestamp") {
            return Err(ClusterError::Conflict {
                what,
                reason: "The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system.".into(),
            });
        }
        let at_version = |st: &Self, o: &KubeObject| st.convert(o, &gvr.group_version(), r.builtin);
        let before = at_version(self, &current)?;
        self.delete_key(&key, options.propagation, now)?;
        self.reconcile(now)?;
        match self.objects.get(&key) {
            Some(still) => Ok(Deletion::Pending(at_version(self, still)?)),
            None => Ok(Deletion::Deleted(before)),
        }
    }

    /// Deletes the object at `key` (no preconditions): marks it when finalizers (or namespace
    /// content) hold it, removes it otherwise; dependents follow `propagation`.
    fn delete_key(
        &mut self,
        key: &ObjectKey,
        propagation: Propagation,
        now: Timestamp,
    ) -> Result<(), ClusterError> {
        let Some(mut obj) = self.objects.get(key).cloned() else {
            return Ok(());
        };
        let uid = uid_of(&obj);
        if propagation == Propagation::Orphan {
            self.orphan_dependents(&uid, now);
        }
        let mut finalizers = string_list(obj.metadata().and_then(|m| m.get("finalizers")));
        if propagation == Propagation::Foreground {
            for dependent in self.dependents(&uid) {
                self.delete_key(&dependent, Propagation::Foreground, now)?;
            }
            if self.blocking_dependents(&uid) && !finalizers.iter().any(|f| f == FOREGROUND) {
                finalizers.push(FOREGROUND.into());
            }
        }
        let is_namespace = key.resource == "namespaces";
        if finalizers.is_empty() && !is_namespace {
            self.remove_object(key, now)?;
            return Ok(());
        }
        if obj
            .metadata()
            .is_some_and(|m| m.contains_key("deletionTimestamp"))
        {
            return Ok(());
        }
        {
            let meta = obj.metadata_mut();
            meta.insert("deletionTimestamp".into(), json!(now.to_string()));
            meta.insert("deletionGracePeriodSeconds".into(), json!(0));
            if !finalizers.is_empty() {
                meta.insert("finalizers".into(), json!(finalizers));
            }
        }
        if is_namespace {
            obj.fields_mut()
                .insert("status".into(), json!({"phase": "Terminating"}));
        }
        let mut meta = std::mem::take(obj.metadata_mut());
        self.stamp(&mut meta, now, false);
        *obj.metadata_mut() = meta;
        self.put(key.clone(), obj);
        self.terminating.insert(key.clone());
        Ok(())
    }

    /// Runs what the namespace controller and garbage collector do until nothing changes:
    /// terminating namespaces lose their content and then go, objects whose finalizers are all
    /// removed go, foreground deletions finish once no blocking dependent is left.
    fn reconcile(&mut self, now: Timestamp) -> Result<(), ClusterError> {
        loop {
            let mut changed = false;
            let pending: Vec<ObjectKey> = self.terminating.iter().cloned().collect();
            for key in pending {
                let Some(obj) = self.objects.get(&key).cloned() else {
                    self.terminating.remove(&key);
                    continue;
                };
                let mut meta_finalizers =
                    string_list(obj.metadata().and_then(|m| m.get("finalizers")));
                let mut spec_finalizers = string_list(obj.pointer("/spec/finalizers"));
                let before = (meta_finalizers.len(), spec_finalizers.len());
                let mut content_left = false;
                if key.resource == "namespaces" {
                    let content: Vec<ObjectKey> = self
                        .objects
                        .keys()
                        .filter(|k| k.namespace == key.name)
                        .cloned()
                        .collect();
                    for c in &content {
                        if !self.terminating.contains(c) {
                            self.delete_key(c, Propagation::Background, now)?;
                            changed = true;
                        }
                    }
                    content_left = self.objects.keys().any(|k| k.namespace == key.name);
                    if !content_left {
                        spec_finalizers.retain(|f| f != "kubernetes");
                    }
                }
                if meta_finalizers.iter().any(|f| f == FOREGROUND)
                    && !self.blocking_dependents(&uid_of(&obj))
                {
                    meta_finalizers.retain(|f| f != FOREGROUND);
                }
                if meta_finalizers.is_empty() && spec_finalizers.is_empty() && !content_left {
                    self.remove_object(&key, now)?;
                    changed = true;
                } else if before != (meta_finalizers.len(), spec_finalizers.len()) {
                    let mut obj = obj;
                    obj.metadata_mut()
                        .insert("finalizers".into(), json!(meta_finalizers));
                    if let Some(Value::Object(spec)) = obj.fields_mut().get_mut("spec") {
                        spec.insert("finalizers".into(), json!(spec_finalizers));
                    }
                    let mut meta = std::mem::take(obj.metadata_mut());
                    self.stamp(&mut meta, now, false);
                    *obj.metadata_mut() = meta;
                    self.put(key.clone(), obj);
                    changed = true;
                }
            }
            if !changed {
                return Ok(());
            }
        }
    }

    /// Removes an object for good, with what goes with it (a CRD's custom resources), and
    /// lets the garbage collector delete its dependents in the background.
    fn remove_object(&mut self, key: &ObjectKey, now: Timestamp) -> Result<(), ClusterError> {
        self.terminating.remove(key);
        let Some(removed) = self.take(key) else {
            return Ok(());
        };
        match removed.kind() {
            "Namespace" => {
                let content: Vec<ObjectKey> = self
                    .objects
                    .keys()
                    .filter(|k| k.namespace == key.name)
                    .cloned()
                    .collect();
                for k in content {
                    self.take(&k);
                }
            }
            "CustomResourceDefinition" => {
                let crd_key = crd_resource_key(&removed);
                let content: Vec<ObjectKey> = self
                    .objects
                    .keys()
                    .filter(|k| Some(&k.resource) == crd_key.as_ref())
                    .cloned()
                    .collect();
                for k in content {
                    self.take(&k);
                }
                self.refresh_crds();
            }
            _ => {}
        }
        let uid = uid_of(&removed);
        if uid.is_empty() {
            return Ok(());
        }
        for dependent in self.dependents(&uid) {
            let Some(mut obj) = self.objects.get(&dependent).cloned() else {
                continue;
            };
            let refs = owner_refs(&obj);
            let others_alive = refs
                .iter()
                .filter(|r| r.get("uid").and_then(Value::as_str) != Some(uid.as_str()))
                .any(|r| {
                    let owner_uid = r.get("uid").and_then(Value::as_str).unwrap_or("");
                    self.objects.values().any(|o| uid_of(o) == owner_uid)
                });
            if others_alive {
                let kept: Vec<Value> = refs
                    .into_iter()
                    .filter(|r| r.get("uid").and_then(Value::as_str) != Some(uid.as_str()))
                    .collect();
                obj.metadata_mut()
                    .insert("ownerReferences".into(), json!(kept));
                let mut meta = std::mem::take(obj.metadata_mut());
                self.stamp(&mut meta, now, false);
                *obj.metadata_mut() = meta;
                self.put(dependent, obj);
            } else {
                self.delete_key(&dependent, Propagation::Background, now)?;
            }
        }
        Ok(())
    }

    /// The objects with an owner reference to `uid`.
    fn dependents(&self, uid: &str) -> Vec<ObjectKey> {
        if uid.is_empty() {
            return Vec::new();
        }
        self.objects
            .iter()
            .filter(|(_, o)| {
                owner_refs(o)
                    .iter()
                    .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid))
            })
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Whether a dependent of `uid` with `blockOwnerDeletion: true` still exists.
    fn blocking_dependents(&self, uid: &str) -> bool {
        self.objects.values().any(|o| {
            owner_refs(o).iter().any(|r| {
                r.get("uid").and_then(Value::as_str) == Some(uid)
                    && r.get("blockOwnerDeletion").and_then(Value::as_bool) == Some(true)
            })
        })
    }

    /// Removes the owner references to `uid` from its dependents (`propagationPolicy=Orphan`).
    fn orphan_dependents(&mut self, uid: &str, now: Timestamp) {
        for dependent in self.dependents(uid) {
            let Some(mut obj) = self.objects.get(&dependent).cloned() else {
                continue;
            };
            let kept: Vec<Value> = owner_refs(&obj)
                .into_iter()
                .filter(|r| r.get("uid").and_then(Value::as_str) != Some(uid))
                .collect();
            if kept.is_empty() {
                obj.metadata_mut().remove("ownerReferences");
            } else {
                obj.metadata_mut()
                    .insert("ownerReferences".into(), json!(kept));
            }
            let mut meta = std::mem::take(obj.metadata_mut());
            self.stamp(&mut meta, now, false);
            *obj.metadata_mut() = meta;
            self.put(dependent, obj);
        }
    }

    /// Stores an object, logging the change (`ADDED` or `MODIFIED`) at the resourceVersion
    /// it carries.
    fn put(&mut self, key: ObjectKey, obj: KubeObject) {
        self.journal_write(&key);
        let logged = obj.clone();
        let previous = self.objects.insert(key.clone(), obj);
        let resource_version = logged
            .metadata()
            .and_then(|m| m.get("resourceVersion"))
            .and_then(Value::as_str)
            .and_then(|rv| rv.parse().ok())
            .unwrap_or_else(|| self.last_resource_version());
        self.history.push(Entry {
            resource_version,
            change: if previous.is_some() {
                ChangeType::Modified
            } else {
                ChangeType::Added
            },
            key,
            object: logged,
            previous,
        });
    }

    /// Removes an object for good, logging a `DELETED` change at a new resourceVersion (an
    /// etcd delete is a revision of its own).
    fn take(&mut self, key: &ObjectKey) -> Option<KubeObject> {
        self.journal_write(key);
        let removed = self.objects.remove(key)?;
        self.terminating.remove(key);
        let resource_version = self.next_rv;
        self.next_rv += 1;
        let mut last = removed.clone();
        last.metadata_mut().insert(
            "resourceVersion".into(),
            Value::String(resource_version.to_string()),
        );
        self.history.push(Entry {
            resource_version,
            change: ChangeType::Deleted,
            key: key.clone(),
            object: last,
            previous: Some(removed.clone()),
        });
        self.on_snapshot_removed(&removed);
        Some(removed)
    }

    /// The changes to the objects of `gvr` (in namespace `ns` when given) after `since`, at
    /// `gvr`'s version, and the resourceVersion they run up to; `Gone` when the history no
    /// longer holds them all.
    pub fn changes_since(
        &self,
        gvr: &GroupVersionResource,
        ns: Option<&str>,
        since: u64,
    ) -> Result<(Vec<super::history::Change>, u64), ClusterError> {
        let r = self.resolve(gvr)?;
        let current = self.last_resource_version();
        let Some(entries) = self.history.since(since) else {
            return Err(ClusterError::Gone {
                what: gvr.group_resource(),
                reason: format!(
                    "too old resource version: {since} ({})",
                    self.history.oldest()
                ),
                continue_token: None,
            });
        };
        let ns = ns.filter(|_| r.namespaced);
        let to = gvr.group_version();
        let mut out = Vec::new();
        for e in entries {
            if e.key.resource != r.key || ns.is_some_and(|ns| e.key.namespace != ns) {
                continue;
            }
            let previous = match &e.previous {
                Some(p) => Some(self.convert(p, &to, r.builtin)?),
                None => None,
            };
            out.push(super::history::Change {
                resource_version: e.resource_version,
                change: e.change,
                object: self.convert(&e.object, &to, r.builtin)?,
                previous,
            });
        }
        Ok((out, current))
    }

    /// Whether the namespace exists and is being deleted.
    /// Whether namespace `ns` exists (terminating or not).
    pub fn namespace_exists(&self, ns: &str) -> bool {
        self.objects.contains_key(&ObjectKey {
            resource: "namespaces".into(),
            namespace: String::new(),
            name: ns.to_string(),
        })
    }

    pub fn namespace_terminating(&self, ns: &str) -> bool {
        self.objects
            .get(&ObjectKey {
                resource: "namespaces".into(),
                namespace: String::new(),
                name: ns.to_string(),
            })
            .and_then(|o| o.metadata())
            .is_some_and(|m| m.contains_key("deletionTimestamp"))
    }

    /// Rebuilds discovery: the release's groups plus every stored CRD's served versions.
    fn refresh_crds(&mut self) {
        let mut discovery = self.builtin.clone();
        let crds: Vec<KubeObject> = self
            .objects_of("customresourcedefinitions.apiextensions.k8s.io")
            .cloned()
            .collect();
        for crd in crds {
            let Some(spec) = crd.fields().get("spec") else {
                continue;
            };
            let group = spec
                .get("group")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let names = spec.get("names").cloned().unwrap_or(Value::Null);
            let kind = names.get("kind").and_then(Value::as_str).unwrap_or("");
            let plural = names.get("plural").and_then(Value::as_str).unwrap_or("");
            if group.is_empty() || kind.is_empty() || plural.is_empty() {
                continue;
            }
            let namespaced = spec.get("scope").and_then(Value::as_str) != Some("Cluster");
            let mut resource = ApiResource::new(kind, plural, namespaced);
            if let Some(s) = names.get("singular").and_then(Value::as_str) {
                resource.singular = s.to_string();
            }
            resource.short_names = string_list(names.get("shortNames"));
            resource.categories = string_list(names.get("categories"));
            let mut versions: Vec<String> = match spec.get("versions").and_then(Value::as_array) {
                Some(vs) => vs
                    .iter()
                    .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(true))
                    .filter_map(|v| v.get("name").and_then(Value::as_str).map(str::to_string))
                    .collect(),
                None => spec
                    .get("version")
                    .and_then(Value::as_str)
                    .map(|v| vec![v.to_string()])
                    .unwrap_or_default(),
            };
            if versions.is_empty() {
                continue;
            }
            sort_by_priority(&mut versions);
            let entry = match discovery.groups.iter().position(|g| g.name == group) {
                Some(i) => &mut discovery.groups[i],
                None => {
                    discovery.groups.push(DiscoveredGroup {
                        name: group.clone(),
                        preferred_version: versions[0].clone(),
                        versions: Vec::new(),
                    });
                    let last = discovery.groups.len() - 1;
                    &mut discovery.groups[last]
                }
            };
            for v in &versions {
                match entry.versions.iter_mut().find(|dv| &dv.version == v) {
                    Some(dv) => dv.resources.push(resource.clone()),
                    None => entry.versions.push(DiscoveredVersion {
                        version: v.clone(),
                        resources: vec![resource.clone()],
                    }),
                }
            }
            let mut all: Vec<String> = entry.versions.iter().map(|v| v.version.clone()).collect();
            sort_by_priority(&mut all);
            entry
                .versions
                .sort_by_key(|v| all.iter().position(|a| *a == v.version));
            entry.preferred_version = all[0].clone();
        }
        self.served = std::sync::Arc::new(discovery.served_resources());
        self.discovery = std::sync::Arc::new(discovery);
    }

    /// Loads parsed objects (see `SimCluster::load_documents`).
    pub fn load(
        &mut self,
        mut objects: Vec<(String, KubeObject)>,
        now: Timestamp,
    ) -> Result<usize, super::DocumentError> {
        // Definitions and containers first, as `kubectl apply` of a folder would need.
        let rank = |o: &KubeObject| match o.kind() {
            "CustomResourceDefinition" => 0,
            "Namespace" => 1,
            "StorageClass" => 2,
            "PersistentVolume" => 3,
            _ => 4,
        };
        objects.sort_by_key(|(_, o)| rank(o));
        let count = objects.len();
        for (origin, obj) in objects {
            let err = |e: ClusterError| super::DocumentError {
                origin: origin.clone(),
                reason: e.to_string(),
            };
            let gv = obj.group_version();
            let resource = self
                .discovery
                .resource_for_kind(&gv.group, &gv.version, obj.kind())
                .cloned()
                .ok_or_else(|| super::DocumentError {
                    origin: origin.clone(),
                    reason: format!(
                        "{} {} is not served by this cluster",
                        obj.api_version(),
                        obj.kind()
                    ),
                })?;
            if let (true, Some(ns)) = (resource.namespaced, obj.namespace()) {
                let ns = ns.to_string();
                self.create_namespace_if_missing(&ns, now).map_err(err)?;
            }
            let gvr = GroupVersionResource::new(gv.group, gv.version, resource.plural);
            if obj.kind() == "Namespace" && self.get(&gvr, None, obj.name()).map_err(err)?.is_some()
            {
                // A saved Namespace replaces the default one created at start.
                self.delete(&gvr, None, obj.name(), now).map_err(err)?;
            }
            let stored = self.insert(&gvr, obj, now, false, None).map_err(err)?;
            self.register_loaded_snapshot(&stored, now);
        }
        // Loaded objects keep their saved resourceVersions, out of order: watches start
        // after the load.
        let last = self.last_resource_version();
        self.history.reset(last);
        Ok(count)
    }

    /// A saved content's cloud snapshot exists: the storage learns its handle.
    fn register_loaded_snapshot(&mut self, obj: &KubeObject, now: Timestamp) {
        if obj.kind() != "VolumeSnapshotContent" {
            return;
        }
        let Some(handle) = obj
            .pointer("/status/snapshotHandle")
            .and_then(Value::as_str)
        else {
            return;
        };
        let text = |p: &str| obj.pointer(p).and_then(Value::as_str).map(str::to_string);
        self.snapshots.storage.register(CloudSnapshot {
            handle: handle.to_string(),
            driver: text("/spec/driver").unwrap_or_default(),
            source_volume: text("/spec/source/volumeHandle").unwrap_or_default(),
            size: text("/status/restoreSize"),
            data: None,
            retention_days: None,
            created: now,
        });
    }

    /// The preferred version for a stored object's resource (for export).
    pub fn preferred_for(&self, key: &ObjectKey) -> Option<(GroupVersion, String, bool)> {
        let served = self.served();
        let matching = |s: &&ServedResource| {
            group_resource(
                &s.resource.plural,
                canonical_group(&s.group, &s.resource.plural),
            ) == key.resource
        };
        let s = served
            .iter()
            .filter(matching)
            .find(|s| s.group_resource() == key.resource)
            .or_else(|| served.iter().find(matching))?;
        Some((
            GroupVersion::new(s.group.clone(), s.preferred_version.clone()),
            s.resource.plural.clone(),
            self.builtin
                .serves(&s.group, &s.preferred_version, &s.resource.plural),
        ))
    }

    /// An object converted for export.
    pub fn export_object(
        &self,
        obj: &KubeObject,
        to: &GroupVersion,
        builtin: bool,
    ) -> Result<KubeObject, ClusterError> {
        self.convert(obj, to, builtin)
    }
}

fn crd_resource_key(crd: &KubeObject) -> Option<String> {
    let group = crd.pointer("/spec/group")?.as_str()?;
    let plural = crd.pointer("/spec/names/plural")?.as_str()?;
    Some(group_resource(plural, group))
}
