//! A simulated Kubernetes API server in memory: the embedded default cluster.
//!
//! [`SimCluster`] implements the [`Cluster`] port over a [`Discovery`] (for a Kubernetes
//! release: every group, version and resource that release serves) and an object store keyed
//! the way an API server keys etcd: one stored copy per object, at the resource's storage
//! version, readable at every version served for it — including the other group of a
//! cohabiting resource (a Deployment created as `extensions/v1beta1` is read as `apps/v1`).
//! It behaves like an API server where the engine can tell: namespaces must exist,
//! `resourceVersion`s advance on every change (an update that changes nothing is not written:
//! it keeps its version and sends no watch event) and conflict, `AlreadyExists` / `NotFound` /
//! `Invalid` errors, PersistentVolumeClaims bind when their StorageClass exists (dynamic
//! provisioning creates the PV), CustomResourceDefinitions become `Established` and add their
//! resources to discovery, Services get cluster IPs and node ports.
//!
//! The lifecycle a controller relies on is the API server's: writes to an object of a type
//! with a `status` subresource keep the stored `status`, writes to [`Subresource::Status`]
//! change only `status`; `metadata.generation` starts at 1 and moves on changes outside
//! `metadata` and `status`; a delete of an object with finalizers marks it with a
//! `deletionTimestamp` and keeps it until an update removes the last one (no finalizer may be
//! added meanwhile); a deleted namespace is `Terminating`, refuses new content, deletes its
//! content and goes once that is gone; deleting an owner deletes its dependents
//! (`ownerReferences`) or orphans them ([`Propagation`]); stale `resourceVersion`s and
//! [`DeleteOptions`] preconditions conflict; dry runs ([`WriteOptions::dry_run`]) run every
//! check and keep nothing; server-side apply ([`SimCluster::apply`]) records field managers in
//! `metadata.managedFields`, conflicts on fields other managers own unless forced, and removes
//! the fields a manager stops applying. Differences: the garbage collector and namespace
//! controller run at once, within the write that triggers them; a create keeps the `status`
//! it is given (an API server resets it for most types); list types come from a table of the
//! common merge keys, not from schemas (see the `fields` module); writes through the
//! [`Cluster`] port record no field manager.
//!
//! Every change is kept in a bounded history, as an API server's watch cache keeps it:
//! [`SimCluster::changes_since`] replays each addition, modification and deletion after a
//! `resourceVersion` in order (a deletion is a change of its own, with a new
//! `resourceVersion`, carrying the object's last state), and [`Change::as_seen_by`] decides
//! what a filtered watcher sees, as the watch cache does. A version older than the history
//! ([`HISTORY_CAPACITY`] changes; a real server keeps a time window per resource) is `Gone`;
//! a load of saved state starts the history after it.
//!
//! It does no I/O: state is loaded from and exported to YAML documents by
//! [`SimCluster::load_documents`] and [`SimCluster::export_documents`]; the caller reads and
//! writes the files. Nothing changes by itself: a wait for a condition that is not met times
//! out at once, except that a wait for a VolumeSnapshot lets the simulated CSI snapshot
//! controller work up to the wait's deadline (see [`SnapshotBehaviour`]; snapshots live in a
//! [`SnapshotStorage`] several clusters can share).
//!
//! ```
//! use csdr_core::discovery::{ApiResource, DiscoveredGroup, DiscoveredVersion, Discovery};
//! use csdr_core::object::{GroupVersion, GroupVersionResource, KubeObject};
//! use csdr_core::ports::cluster::Cluster;
//! use csdr_core::sim::SimCluster;
//! use serde_json::json;
//!
//! let discovery = Discovery { unavailable: vec![], groups: vec![DiscoveredGroup {
//!     name: "".into(), preferred_version: "v1".into(),
//!     versions: vec![DiscoveredVersion { version: "v1".into(), resources: vec![
//!         ApiResource::new("Namespace", "namespaces", false),
//!         ApiResource::new("ConfigMap", "configmaps", true),
//!     ]}],
//! }]};
//! let sim = SimCluster::from_discovery(discovery, |obj, gv| {
//!     let mut obj = obj.clone();
//!     obj.set_api_version(gv);
//!     Ok(obj)
//! });
//! let gvr = GroupVersionResource::new("", "v1", "configmaps");
//! let cm = KubeObject::new(json!({"apiVersion": "v1", "kind": "ConfigMap",
//!     "metadata": {"name": "settings", "namespace": "default"}, "data": {"a": "1"}}))?;
//! # futures::executor::block_on(async {
//! let stored = sim.create(&gvr, &cm).await?;
//! assert_eq!(stored.metadata().unwrap()["resourceVersion"], "5"); // after 4 default namespaces
//! assert!(sim.create(&gvr, &cm).await.is_err()); // AlreadyExists
//! # Ok::<(), csdr_core::ports::cluster::ClusterError>(()) })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod fields;
mod files;
mod history;
mod managed;
mod options;
mod snapshots;
mod store;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::convert;
use crate::discovery::{ApiResource, Discovery};
use crate::object::{GroupVersion, GroupVersionResource, KubeObject};
use crate::patch::{apply_json_patch, apply_merge_patch};
use crate::ports::clock::{Clock, ManualClock};
use crate::ports::cluster::{Cluster, ClusterError, ListOptions, ObjectPage, WaitCondition};
use crate::releases::KubeRelease;

pub use files::{DocumentError, SimDocument};
pub use history::{Change, ChangeType, HISTORY_CAPACITY};
pub use options::{ApplyOptions, DeleteOptions, Deletion, Propagation, Subresource, WriteOptions};
pub use snapshots::{CloudSnapshot, SnapshotBehaviour, SnapshotFailure, SnapshotStorage};
pub use store::ScalePaths;
use store::SimState;

/// Converts a built-in object to another version of its resource (the core's
/// KubernetesConvert rules); `Err` carries the reason.
pub type Converter = fn(&KubeObject, &GroupVersion) -> Result<KubeObject, String>;

/// An admission rule for tests: objects of `kind` named `name` (any name when `None`) are
/// rejected as invalid with `message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The kind to reject.
    pub kind: String,
    /// The name to reject, or every object of the kind.
    pub name: Option<String>,
    /// The message of the `Invalid` error.
    pub message: String,
}

/// A simulated Kubernetes API server. Cheap to clone: clones share state.
#[derive(Clone)]
pub struct SimCluster {
    state: Arc<Mutex<SimState>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SimCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.lock();
        f.debug_struct("SimCluster")
            .field("objects", &st.len())
            .finish()
    }
}

/// The instant a simulated cluster's clock starts at unless told otherwise.
pub const SIM_EPOCH: &str = "2026-01-01T00:00:00Z";

impl SimCluster {
    /// A simulated cluster of a Kubernetes release: the release's served versions, preferred
    /// versions, resource names and scopes (see [`crate::releases`]), with built-in objects
    /// converted between versions by the core's KubernetesConvert rules
    /// ([`crate::convert::convert`]).
    pub fn new(release: KubeRelease) -> Self {
        Self::from_discovery(release.discovery(), convert_builtin)
    }

    /// A simulated cluster serving `discovery`, converting built-in objects between versions
    /// with `converter`. It starts with the namespaces `default`, `kube-system`, `kube-public`
    /// and `kube-node-lease`, and a manual clock at [`SIM_EPOCH`].
    pub fn from_discovery(discovery: Discovery, converter: Converter) -> Self {
        let start = SIM_EPOCH.parse().unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(start));
        let sim = SimCluster {
            state: Arc::new(Mutex::new(SimState::new(discovery, converter))),
            clock,
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            // Cannot fail on a fresh state: the names are valid and unused.
            let _ = sim.lock().create_namespace_if_missing(ns, sim.now());
        }
        sim
    }

    /// The same cluster reading time from `clock` (creation timestamps).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The clock's time in whole seconds, as the API server stamps `metav1.Time` fields.
    pub fn now(&self) -> jiff::Timestamp {
        let now = self.clock.now();
        jiff::Timestamp::from_second(now.as_second()).unwrap_or(now)
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        // The state stays consistent between operations, so a poisoned lock is still usable.
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // The snapshot controller catches up with the clock before anyone looks.
        if !st.snapshots.pending.is_empty() {
            let now = self.now();
            st.tick_snapshots(now);
        }
        st
    }

    /// The same cluster keeping its volume snapshots in `storage`, shared with every cluster
    /// given the same storage (a cross-cluster restore finds a snapshot by its handle). Call it
    /// before taking snapshots: the snapshots of the storage it had are not moved.
    pub fn with_snapshot_storage(self, storage: SnapshotStorage) -> Self {
        self.lock().snapshots.storage = storage;
        self
    }

    /// The storage this cluster's volume snapshots live in.
    pub fn snapshot_storage(&self) -> SnapshotStorage {
        self.lock().snapshots.storage.clone()
    }

    /// How the snapshot controller behaves from now on: how long snapshots take to become
    /// ready, which fail (see [`SnapshotBehaviour`]).
    pub fn set_snapshot_behaviour(&self, behaviour: SnapshotBehaviour) {
        self.lock().snapshots.behaviour = behaviour;
    }

    /// Writes `data` to the volume a claim is bound to (what an application would store):
    /// snapshots copy it, and claims restored from them start with it.
    pub fn write_volume(
        &self,
        namespace: &str,
        claim: &str,
        data: &str,
    ) -> Result<(), ClusterError> {
        self.lock().write_volume(namespace, claim, data)
    }

    /// The data of the volume a claim is bound to; `None` when nothing was written to it.
    pub fn read_volume(
        &self,
        namespace: &str,
        claim: &str,
    ) -> Result<Option<String>, ClusterError> {
        self.lock().read_volume(namespace, claim)
    }

    /// Adds an admission rule that rejects matching objects as invalid (for tests of partial
    /// failures).
    pub fn reject(&self, rule: Rejection) {
        self.lock().rejections.push(rule);
    }

    /// Adds a node with a zone label (`topology.kubernetes.io/zone`).
    pub fn add_node(&self, name: &str, zone: &str) -> Result<KubeObject, ClusterError> {
        let node = KubeObject::new(serde_json::json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {
                "kubernetes.io/hostname": name,
                "topology.kubernetes.io/zone": zone,
                "failure-domain.beta.kubernetes.io/zone": zone,
            }},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }))
        .map_err(|e| ClusterError::Invalid {
            what: format!("nodes {name}"),
            reason: e.to_string(),
        })?;
        let now = self.now();
        self.lock()
            .create(&GroupVersionResource::new("", "v1", "nodes"), &node, now)
    }

    /// The last `resourceVersion` the cluster assigned, as a number (0 before any write).
    /// An HTTP front end reports it as a list's `metadata.resourceVersion` and starts watches
    /// from it; every object written later carries a higher one.
    pub fn resource_version(&self) -> u64 {
        self.lock().last_resource_version()
    }

    /// The changes to the objects of `gvr` (in `namespace` when given) after the
    /// resourceVersion `since`, oldest first, at `gvr`'s version, and the resourceVersion the
    /// answer runs up to (a watch continues from it). Every write is there: an object created,
    /// modified twice and deleted gives four changes. `Gone` (`too old resource version`) when
    /// `since` is older than the history kept ([`HISTORY_CAPACITY`] changes).
    pub fn changes_since(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        since: u64,
    ) -> Result<(Vec<Change>, u64), ClusterError> {
        self.lock().changes_since(gvr, namespace, since)
    }

    /// Every object of `gvr` (in `namespace` when given) and the resourceVersion they are
    /// current at, read at once: a watch's initial state.
    pub fn snapshot(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
    ) -> Result<(Vec<KubeObject>, u64), ClusterError> {
        let st = self.lock();
        let page = st.list(gvr, namespace, &ListOptions::default())?;
        Ok((page.items, st.last_resource_version()))
    }

    /// Keeps only the last `capacity` changes for watches (at least one; the default is
    /// [`HISTORY_CAPACITY`]); a watch from an older resourceVersion is `Gone`.
    pub fn set_history_capacity(&self, capacity: usize) {
        self.lock().history.set_capacity(capacity);
    }

    /// Expires every list continue token issued so far, as etcd's compaction does on a real
    /// server: a list continued with one gets `Gone`, carrying an inconsistent continuation
    /// token unless [`SimCluster::set_inconsistent_continue`] turned that off.
    pub fn expire_continue_tokens(&self) {
        self.lock().expire_continue_tokens();
    }

    /// Whether an expired continue token is answered with a token to go on with (the API
    /// server's inconsistent continuation; on by default, as on every real server).
    pub fn set_inconsistent_continue(&self, offer: bool) {
        self.lock().inconsistent_continue = offer;
    }

    /// An object at `gvr`'s version, if it exists (what [`Cluster::get`] answers, without
    /// waiting).
    pub fn get_object(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<KubeObject>, ClusterError> {
        self.lock().get(gvr, namespace, name)
    }

    /// Whether namespace `name` exists (terminating or not), without reading it.
    pub fn namespace_exists(&self, name: &str) -> bool {
        self.lock().namespace_exists(name)
    }

    /// How many objects the cluster holds.
    pub fn object_count(&self) -> usize {
        self.lock().len()
    }

    /// Applies an RFC 6902 JSON patch to an object (what `kubectl patch --type json` sends).
    pub fn patch_json(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> Result<KubeObject, ClusterError> {
        self.patch_with(gvr, namespace, name, |value| {
            apply_json_patch(value, patch).map_err(|e| e.to_string())
        })
    }

    /// Reads an object, changes its JSON with `edit`, and writes it back (one lock held
    /// throughout); an `edit` error or a result that is no object is `Invalid`.
    fn patch_with(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
        edit: impl FnOnce(&mut Value) -> Result<(), String>,
    ) -> Result<KubeObject, ClusterError> {
        let now = self.now();
        let mut st = self.lock();
        let what = st.describe(gvr, namespace, name);
        let current = st
            .get(gvr, namespace, name)?
            .ok_or_else(|| ClusterError::NotFound { what: what.clone() })?;
        let mut value = current.into_value();
        edit(&mut value).map_err(|reason| ClusterError::Invalid {
            what: what.clone(),
            reason,
        })?;
        let obj = KubeObject::new(value).map_err(|e| ClusterError::Invalid {
            what,
            reason: e.to_string(),
        })?;
        st.update(gvr, &obj, now)
    }

    /// Runs a write on the state, or as a dry run that is undone once it has run (every check
    /// runs; nothing is kept, no resourceVersion is used, no watch sees it).
    fn write<T>(
        &self,
        dry_run: bool,
        op: impl FnOnce(&mut SimState, jiff::Timestamp) -> Result<T, ClusterError>,
    ) -> Result<T, ClusterError> {
        self.write_at(self.now(), dry_run, op)
    }

    /// [`Self::write`] at the time `now`.
    fn write_at<T>(
        &self,
        now: jiff::Timestamp,
        dry_run: bool,
        op: impl FnOnce(&mut SimState, jiff::Timestamp) -> Result<T, ClusterError>,
    ) -> Result<T, ClusterError> {
        let mut st = self.lock();
        if dry_run {
            st.dry_run(|st| op(st, now))
        } else {
            op(&mut st, now)
        }
    }

    /// The resourceVersion a dry-run answer carries: the stored object's (an update), or
    /// none (a create).
    fn dry_run_answer(&self, gvr: &GroupVersionResource, mut obj: KubeObject) -> KubeObject {
        let stored = self
            .lock()
            .get(gvr, obj.namespace(), obj.name())
            .ok()
            .flatten()
            .and_then(|o| o.metadata().and_then(|m| m.get("resourceVersion")).cloned());
        match stored {
            Some(rv) => obj.metadata_mut().insert("resourceVersion".into(), rv),
            None => obj.metadata_mut().remove("resourceVersion"),
        };
        obj
    }

    /// Creates an object with request options (dry run; field manager).
    pub fn create_with(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
        options: &WriteOptions,
    ) -> Result<KubeObject, ClusterError> {
        self.create_owned(gvr, object.clone(), options)
    }

    /// [`Self::create_with`], taking the object: an API server's request body is its own, so
    /// nothing is copied while the store is locked.
    pub fn create_owned(
        &self,
        gvr: &GroupVersionResource,
        object: KubeObject,
        options: &WriteOptions,
    ) -> Result<KubeObject, ClusterError> {
        let now = self.now();
        let manager = options.field_manager.as_deref();
        // Without a status the status subresource plays no part: the managed fields are
        // computed before the store is locked, so concurrent creates do not wait for them.
        let managed = manager
            .filter(|_| !object.fields().contains_key("status"))
            .map(|m| managed::create_entry(m, gvr, now, &object, false));
        let created = self.write_at(now, options.dry_run, |st, now| {
            st.create_managed(gvr, object, now, manager, managed)
        })?;
        Ok(if options.dry_run {
            self.dry_run_answer(gvr, created)
        } else {
            created
        })
    }

    /// Replaces an object (or its status, see [`Subresource`]) with request options.
    pub fn update_with(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
        options: &WriteOptions,
    ) -> Result<KubeObject, ClusterError> {
        let updated = self.write(options.dry_run, |st, now| {
            st.update_managed(gvr, object, now, options)
        })?;
        Ok(if options.dry_run {
            self.dry_run_answer(gvr, updated)
        } else {
            updated
        })
    }

    /// Reads an object and writes back what `edit` makes of it, under one lock (a patch):
    /// a `metadata.resourceVersion` the edit leaves differing from the stored one is a
    /// precondition that conflicts.
    pub fn modify(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
        options: &WriteOptions,
        edit: impl FnOnce(KubeObject) -> Result<KubeObject, ClusterError>,
    ) -> Result<KubeObject, ClusterError> {
        let updated = self.write(options.dry_run, |st, now| {
            let what = st.describe(gvr, namespace, name);
            let current = st
                .get(gvr, namespace, name)?
                .ok_or(ClusterError::NotFound { what })?;
            let edited = edit(current)?;
            st.update_managed(gvr, &edited, now, options)
        })?;
        Ok(if options.dry_run {
            self.dry_run_answer(gvr, updated)
        } else {
            updated
        })
    }

    /// Server-side apply of `object` by `options.field_manager`: creates the object when
    /// absent (`true` in the answer), else merges it as the API server's structured merge does
    /// (see [`crate::sim`]'s apply rules), conflicting with other managers' fields unless
    /// `force`.
    pub fn apply(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
        options: &ApplyOptions,
    ) -> Result<(KubeObject, bool), ClusterError> {
        let (obj, created) = self.write(options.dry_run, |st, now| {
            st.apply(gvr, object, now, options)
        })?;
        Ok(if options.dry_run {
            (self.dry_run_answer(gvr, obj), created)
        } else {
            (obj, created)
        })
    }

    /// Deletes an object with `DeleteOptions`: preconditions, propagation to dependents, dry
    /// run. An object with finalizers (and a namespace still holding content) is marked with a
    /// `deletionTimestamp` and kept: [`Deletion::Pending`].
    pub fn delete_with(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<Deletion, ClusterError> {
        self.write(options.dry_run, |st, now| {
            st.delete_with(gvr, namespace, name, options, now)
        })
    }

    /// The subresources a resource serves besides the object: `scale` (Deployments,
    /// StatefulSets, ReplicaSets, ReplicationControllers, custom resources whose CRD version
    /// declares it) and `status` (built-in types whose API server storage has it, custom
    /// resources whose CRD version declares it), sorted.
    pub fn subresources(&self, gvr: &GroupVersionResource) -> Vec<&'static str> {
        let st = self.lock();
        let Ok(r) = st.resolve(gvr) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if st.scale_paths(&r, &gvr.version).is_some() {
            out.push("scale");
        }
        if st.has_status_subresource(&r, &gvr.version) {
            out.push("status");
        }
        out
    }

    /// Where the `scale` subresource of a resource reads and writes, if it has one.
    pub fn scale_paths(&self, gvr: &GroupVersionResource) -> Option<ScalePaths> {
        let st = self.lock();
        let r = st.resolve(gvr).ok()?;
        st.scale_paths(&r, &gvr.version)
    }

    /// Loads objects from documents (YAML, multi-document allowed, or JSON; `List` kinds are
    /// expanded). System fields present in a document (uid, resourceVersion,
    /// creationTimestamp, status) are kept, so state exported by
    /// [`SimCluster::export_documents`] loads back unchanged; objects without status go
    /// through creation as the API server would (PVCs bind, CRDs become Established).
    /// Missing namespaces are created. Returns how many objects were loaded.
    pub fn load_documents(&self, documents: &[SimDocument]) -> Result<usize, DocumentError> {
        let objects = files::parse_documents(documents)?;
        let now = self.now();
        let mut st = self.lock();
        st.load(objects, now)
    }

    /// Every object as one YAML document at the release's preferred version, with the path
    /// `<namespace>/<resource>.<group>/<name>.yaml` (cluster-scoped objects under `_cluster/`,
    /// the core group written as `core`), sorted by path.
    pub fn export_documents(&self) -> Result<Vec<SimDocument>, DocumentError> {
        let st = self.lock();
        files::export(&st)
    }

    /// The discovery document as it is now (the release's resources plus established CRDs).
    pub fn discovery(&self) -> Discovery {
        Discovery::clone(&self.lock().discovery)
    }

    /// [`Self::discovery`], shared instead of copied: what the API server's discovery
    /// endpoints read on every request.
    pub fn shared_discovery(&self) -> std::sync::Arc<Discovery> {
        self.lock().discovery.clone()
    }

    /// The resource `plural` of `group`/`version` as discovery serves it now, if it does:
    /// what a request's path resolves to, without copying the whole discovery document.
    pub fn api_resource(&self, group: &str, version: &str, plural: &str) -> Option<ApiResource> {
        self.lock()
            .discovery
            .group(group)
            .and_then(|g| g.versions.iter().find(|v| v.version == version))
            .and_then(|v| v.resources.iter().find(|r| r.plural == plural))
            .cloned()
    }
}

/// The [`Converter`] of [`SimCluster::new`]: the core's KubernetesConvert rules.
pub fn convert_builtin(obj: &KubeObject, to: &GroupVersion) -> Result<KubeObject, String> {
    convert::convert(obj.clone(), to).map_err(|e| e.to_string())
}

#[async_trait]
impl Cluster for SimCluster {
    async fn discover(&self) -> Result<Discovery, ClusterError> {
        Ok(self.discovery())
    }

    async fn list_page(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        options: &ListOptions,
    ) -> Result<ObjectPage, ClusterError> {
        self.lock().list(gvr, namespace, options)
    }

    async fn get(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<KubeObject>, ClusterError> {
        self.lock().get(gvr, namespace, name)
    }

    async fn create(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<KubeObject, ClusterError> {
        let now = self.now();
        self.lock().create(gvr, object, now)
    }

    async fn update(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<KubeObject, ClusterError> {
        let now = self.now();
        self.lock().update(gvr, object, now)
    }

    async fn patch_merge(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> Result<KubeObject, ClusterError> {
        // The merge patch must not move the object: keep its identity fields.
        let mut patch = patch.clone();
        if let Some(p) = patch.as_object_mut() {
            p.remove("apiVersion");
            p.remove("kind");
        }
        self.patch_with(gvr, namespace, name, |value| {
            apply_merge_patch(value, &patch);
            Ok(())
        })
    }

    async fn delete(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(), ClusterError> {
        let now = self.now();
        self.lock().delete(gvr, namespace, name, now)
    }

    async fn dry_run_create(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<KubeObject, ClusterError> {
        let options = WriteOptions {
            dry_run: true,
            ..WriteOptions::default()
        };
        self.create_with(gvr, object, &options)
    }

    async fn dry_run_update(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<KubeObject, ClusterError> {
        let options = WriteOptions {
            dry_run: true,
            ..WriteOptions::default()
        };
        self.update_with(gvr, object, &options)
    }

    async fn wait_for(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
        condition: WaitCondition,
        timeout: Duration,
    ) -> Result<KubeObject, ClusterError> {
        let mut st = self.lock();
        let what = st.describe(gvr, namespace, name);
        // A wait lets the snapshot controller work up to its deadline.
        if condition == WaitCondition::ReadyToUse
            && gvr.resource == "volumesnapshots"
            && let Some(ns) = namespace
            && let Some(at) = st.snapshot_ready_at(ns, name)
        {
            let deadline = jiff::SignedDuration::try_from(timeout)
                .ok()
                .and_then(|t| self.now().checked_add(t).ok())
                .unwrap_or(jiff::Timestamp::MAX);
            if at <= deadline {
                st.complete_snapshot(ns, name, self.now());
            }
        }
        match st.get(gvr, namespace, name)? {
            Some(obj) if condition.is_met(&obj) => Ok(obj),
            Some(_) => Err(ClusterError::Timeout {
                what,
                condition: condition.name().to_string(),
                timeout,
            }),
            None => Err(ClusterError::NotFound { what }),
        }
    }
}

#[cfg(test)]
mod history_tests;
#[cfg(test)]
mod lifecycle_tests;
#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod tests;
