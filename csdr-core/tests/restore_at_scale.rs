//! Restore at scale (R13–R15): objects applied concurrently in R3's dependency order, waits
//! that block only their dependents, pre-flight against the target, and a verified archive.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use csdr_core::discovery::Discovery;
use csdr_core::engine::{Engine, EngineOptions, RestoreReport};
use csdr_core::model::{BackupSpec, JobPhase, RestoreSpec};
use csdr_core::object::{GroupVersion, GroupVersionResource, KubeObject};
use csdr_core::plan::PlanStep;
use csdr_core::plan::order::RestoreOrder;
use csdr_core::ports::cluster::{Cluster, ClusterError, ListOptions, ObjectPage, WaitCondition};
use csdr_core::ports::vault::Vault;
use csdr_core::releases::KubeRelease;
use csdr_core::sim::{Rejection, SimCluster, SimDocument};
use csdr_core::vault::{BlobVault, MemoryBlobStore, VaultIdentity, VaultOptions};
use serde_json::Value;

/// An application in `namespaces` namespaces: a CRD and its custom resources, RBAC, a
/// StorageClass that binds at once, and per namespace a ServiceAccount, a Secret, ConfigMaps,
/// a claim, a Pod mounting it, a Pod without volumes, a Deployment, a Service, an Ingress.
fn application(namespaces: usize) -> String {
    let mut yaml = String::from(
        r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: fast}
provisioner: example.com/fast
volumeBindingMode: Immediate
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}
subjects: [{kind: ServiceAccount, name: app, namespace: ns0}]
"#,
    );
    for n in 0..namespaces {
        yaml.push_str(&format!(
            r#"
---
apiVersion: v1
kind: Namespace
metadata: {{name: ns{n}}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: app, namespace: ns{n}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: token, namespace: ns{n}}}
data: {{key: dmFsdWU=}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: settings-a, namespace: ns{n}}}
data: {{a: "1"}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: settings-b, namespace: ns{n}}}
data: {{b: "2"}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: data, namespace: ns{n}}}
spec:
  storageClassName: fast
  accessModes: [ReadWriteOnce]
  resources: {{requests: {{storage: 1Gi}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: db, namespace: ns{n}}}
spec:
  containers: [{{name: db, image: "postgres:16"}}]
  volumes: [{{name: data, persistentVolumeClaim: {{claimName: data}}}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: cache, namespace: ns{n}}}
spec:
  containers: [{{name: cache, image: "redis:7"}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: ns{n}, labels: {{app: web}}}}
spec:
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: web, image: "nginx:1.25"}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: ns{n}}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: web, namespace: ns{n}}}
spec:
  rules: [{{http: {{paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: web, port: {{number: 80}}}}}}}}]}}}}]
---
apiVersion: example.com/v1
kind: Widget
metadata: {{name: w, namespace: ns{n}}}
spec: {{size: 3}}
"#
        ));
    }
    yaml
}

fn source(namespaces: usize) -> SimCluster {
    let sim = SimCluster::new(KubeRelease::V1_28);
    sim.load_documents(&[SimDocument {
        path: "app.yaml".into(),
        text: application(namespaces),
    }])
    .unwrap();
    sim
}

async fn memory_vault_on(store: MemoryBlobStore) -> Arc<dyn Vault> {
    Arc::new(
        BlobVault::open(
            VaultIdentity::new("unit", "memory://"),
            Arc::new(store),
            VaultOptions::default(),
        )
        .await
        .unwrap(),
    )
}

/// The resource list a restore stored beside its record
/// (`restores/<name>/restore-<name>-resource-list.json.gz`): every object it created, by type.
async fn restored_list(store: &MemoryBlobStore, restore: &str) -> BTreeMap<String, Vec<String>> {
    let key = format!("restores/{restore}/restore-{restore}-resource-list.json.gz");
    let gz = csdr_core::ports::blob_store::BlobStore::get(store, &key)
        .await
        .unwrap();
    serde_json::from_slice(&csdr_core::gzip::gunzip(&gz).unwrap()).unwrap()
}

/// `Kind` names as the resource list keys them (`<group>/<version>/<Kind>`), with
/// `namespace/name` of each object, from the report's plan in order.
fn planned_list(report: &RestoreReport) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in report.plan.all_creates() {
        let o = c.object_ref();
        let name = match &o.namespace {
            Some(ns) => format!("{ns}/{}", o.name),
            None => o.name.clone(),
        };
        let api_version = GroupVersion::new(o.group.as_str(), o.version.as_str()).api_version();
        out.entry(format!("{api_version}/{}", o.kind))
            .or_default()
            .push(name);
    }
    out
}

async fn backed_up(namespaces: usize) -> Arc<dyn Vault> {
    backed_up_on(namespaces, MemoryBlobStore::new()).await
}

async fn backed_up_on(namespaces: usize, store: MemoryBlobStore) -> Arc<dyn Vault> {
    let vault = memory_vault_on(store).await;
    let engine = Engine::builder()
        .cluster(Arc::new(source(namespaces)))
        .vault(vault.clone())
        .build()
        .unwrap();
    let mut spec = BackupSpec::new("app-b");
    spec.scope.excluded_namespaces = vec![
        "kube-system".into(),
        "kube-public".into(),
        "kube-node-lease".into(),
        "default".into(),
    ];
    let report = engine.backup(spec).await;
    assert_eq!(
        report.status.phase,
        JobPhase::Completed,
        "{:?}",
        report.status
    );
    vault
}

/// One thing the recording cluster saw, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    /// A create started (resource, namespace, name).
    Start(GroupVersionResource, Option<String>, String),
    /// That create finished.
    End(GroupVersionResource, Option<String>, String),
    /// A wait started / ended on (condition, namespace, name).
    WaitStart(WaitCondition, Option<String>, String),
    WaitEnd(WaitCondition, Option<String>, String),
}

/// A simulated cluster that records every create and wait and lets other work run in
/// between (each call yields a few times before it is served).
struct Recording {
    inner: SimCluster,
    seen: Mutex<Vec<Seen>>,
    in_flight: Mutex<usize>,
    max_in_flight: Mutex<usize>,
    /// How many times a wait yields before it is answered: long waits.
    wait_yields: usize,
    /// Creates after this many fail as if the connection was lost.
    fail_after: Option<usize>,
    /// Names whose first create is refused with a 429.
    throttled_once: Mutex<Vec<String>>,
}

impl Recording {
    fn new(inner: SimCluster, wait_yields: usize) -> Self {
        Recording {
            inner,
            seen: Mutex::new(Vec::new()),
            in_flight: Mutex::new(0),
            max_in_flight: Mutex::new(0),
            wait_yields,
            fail_after: None,
            throttled_once: Mutex::new(Vec::new()),
        }
    }
    fn push(&self, s: Seen) {
        self.seen.lock().unwrap().push(s);
    }
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Lets the executor poll other work `n` times before going on.
async fn yield_times(n: usize) {
    for _ in 0..n {
        let mut yielded = false;
        std::future::poll_fn(|cx| {
            if yielded {
                std::task::Poll::Ready(())
            } else {
                yielded = true;
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            }
        })
        .await;
    }
}

#[async_trait]
impl Cluster for Recording {
    async fn discover(&self) -> Result<Discovery, ClusterError> {
        self.inner.discover().await
    }
    async fn list_page(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        options: &ListOptions,
    ) -> Result<ObjectPage, ClusterError> {
        self.inner.list_page(gvr, namespace, options).await
    }
    async fn get(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<KubeObject>, ClusterError> {
        self.inner.get(gvr, namespace, name).await
    }
    async fn create(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<KubeObject, ClusterError> {
        let ns = object.namespace().map(str::to_string);
        let name = object.name().to_string();
        let started = self
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| matches!(s, Seen::Start(..)))
            .count();
        {
            let mut throttled = self.throttled_once.lock().unwrap();
            if let Some(at) = throttled.iter().position(|n| *n == name) {
                throttled.remove(at);
                return Err(ClusterError::Unavailable {
                    reason: "429 Too Many Requests".into(),
                });
            }
        }
        if self.fail_after.is_some_and(|n| started >= n) {
            return Err(ClusterError::Unavailable {
                reason: "connection reset by peer".into(),
            });
        }
        self.push(Seen::Start(gvr.clone(), ns.clone(), name.clone()));
        {
            let mut n = self.in_flight.lock().unwrap();
            *n += 1;
            let mut max = self.max_in_flight.lock().unwrap();
            *max = (*max).max(*n);
        }
        // Objects of higher tiers take longer, so a wrong order would show.
        yield_times(3 + name.len() % 4).await;
        let out = self.inner.create(gvr, object).await;
        *self.in_flight.lock().unwrap() -= 1;
        self.push(Seen::End(gvr.clone(), ns, name));
        out
    }
    async fn update(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<KubeObject, ClusterError> {
        self.inner.update(gvr, object).await
    }
    async fn dry_run_create(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<KubeObject, ClusterError> {
        self.inner.dry_run_create(gvr, object).await
    }
    async fn dry_run_update(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<KubeObject, ClusterError> {
        self.inner.dry_run_update(gvr, object).await
    }
    async fn patch_merge(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> Result<KubeObject, ClusterError> {
        self.inner.patch_merge(gvr, namespace, name, patch).await
    }
    async fn delete(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(), ClusterError> {
        self.inner.delete(gvr, namespace, name).await
    }
    async fn wait_for(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
        condition: WaitCondition,
        timeout: Duration,
    ) -> Result<KubeObject, ClusterError> {
        let ns = namespace.map(str::to_string);
        self.push(Seen::WaitStart(condition, ns.clone(), name.to_string()));
        yield_times(self.wait_yields).await;
        let out = self
            .inner
            .wait_for(gvr, namespace, name, condition, timeout)
            .await;
        self.push(Seen::WaitEnd(condition, ns, name.to_string()));
        out
    }
}

async fn restore(cluster: Arc<Recording>, vault: Arc<dyn Vault>, name: &str) -> RestoreReport {
    restore_with(cluster, vault, RestoreSpec::new(name, "app-b")).await
}

async fn restore_with(
    cluster: Arc<Recording>,
    vault: Arc<dyn Vault>,
    spec: RestoreSpec,
) -> RestoreReport {
    restore_configured(cluster, vault, spec, true).await
}

/// A restore whose report holds the final objects (`report_objects`, the default; a small
/// backup's index is then held in memory), or whose backed-up and final objects wait in the
/// engine's spools until they are planned and applied (R13).
async fn restore_configured(
    cluster: Arc<Recording>,
    vault: Arc<dyn Vault>,
    spec: RestoreSpec,
    report_objects: bool,
) -> RestoreReport {
    let held = match report_objects {
        true => EngineOptions::default().restore_index_held_bytes,
        false => 0,
    };
    restore_holding(cluster, vault, spec, report_objects, held).await
}

/// [`restore_configured`] with the index holding the first `index_held_bytes` of entries
/// whole and spooling the rest.
async fn restore_holding(
    cluster: Arc<Recording>,
    vault: Arc<dyn Vault>,
    spec: RestoreSpec,
    report_objects: bool,
    index_held_bytes: u64,
) -> RestoreReport {
    let engine = Engine::builder()
        .cluster(cluster)
        .vault(vault)
        .options(EngineOptions {
            pvc_bind_wait: Duration::from_secs(5),
            restore_transient_retries: 0,
            restore_report_objects: report_objects,
            restore_index_held_bytes: index_held_bytes,
            ..EngineOptions::default()
        })
        .build()
        .unwrap();
    engine.restore(spec).await
}

fn tier(gvr: &GroupVersionResource) -> usize {
    RestoreOrder::default().key(gvr).0
}

#[test]
fn every_dependency_is_created_before_its_dependents_under_concurrency() {
    futures::executor::block_on(dependencies_first(true));
}

#[test]
fn every_dependency_is_created_first_when_the_final_objects_wait_in_the_spool() {
    futures::executor::block_on(dependencies_first(false));
}

async fn dependencies_first(report_objects: bool) {
    let store = MemoryBlobStore::new();
    let vault = backed_up_on(6, store.clone()).await;
    let target = Arc::new(Recording::new(SimCluster::new(KubeRelease::V1_28), 2));
    let spec = RestoreSpec::new("r1", "app-b");
    let report = restore_configured(target.clone(), vault, spec, report_objects).await;
    assert_eq!(
        report.status.phase,
        JobPhase::Completed,
        "{:#?}",
        report.status
    );
    let seen = target.seen();
    let mut started: BTreeMap<(String, Option<String>, String), usize> = BTreeMap::new();
    let mut ended: BTreeMap<(String, Option<String>, String), (usize, GroupVersionResource)> =
        BTreeMap::new();
    for (at, s) in seen.iter().enumerate() {
        match s {
            Seen::Start(gvr, ns, name) => {
                started.insert((gvr.group_resource(), ns.clone(), name.clone()), at);
            }
            Seen::End(gvr, ns, name) => {
                ended.insert(
                    (gvr.group_resource(), ns.clone(), name.clone()),
                    (at, gvr.clone()),
                );
            }
            _ => {}
        }
    }
    assert_eq!(started.len() as u64, report.counts.created);
    // R3: an object starts only after every object of a lower tier it may depend on — every
    // cluster-scoped one, and those of its own namespace — has been created.
    let mut checked = 0;
    for (b, &b_start) in &started {
        let b_gvr = &ended[b].1;
        for (a, (a_end, a_gvr)) in &ended {
            let related = a.1.is_none() || b.1.is_none() || a.1 == b.1;
            if related && tier(a_gvr) < tier(b_gvr) {
                assert!(
                    *a_end < b_start,
                    "{} {:?}/{} started before its dependency {} {:?}/{} was created",
                    b.0,
                    b.1,
                    b.2,
                    a.0,
                    a.1,
                    a.2
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 500, "{checked} dependencies checked");
    // Custom resources start only after their CRD was waited on.
    let established = seen
        .iter()
        .position(|s| matches!(s, Seen::WaitEnd(WaitCondition::Established, None, n) if n == "widgets.example.com"))
        .expect("the CRD was waited on");
    for (b, &b_start) in &started {
        if b.0 == "widgets.example.com" {
            assert!(
                b_start > established,
                "widget {:?}/{} before its CRD was established",
                b.1,
                b.2
            );
        }
    }
    // And it ran concurrently, within the worker count, across resource types.
    let max = *target.max_in_flight.lock().unwrap();
    assert!(max > 1 && max <= 5, "{max} creates in flight at most");
    let mut in_flight: Vec<String> = Vec::new();
    let mut mixed = false;
    for s in &seen {
        match s {
            Seen::Start(gvr, _, _) => {
                in_flight.push(gvr.group_resource());
                mixed |= in_flight.iter().any(|r| *r != gvr.group_resource());
            }
            Seen::End(gvr, _, _) => {
                let at = in_flight
                    .iter()
                    .position(|r| *r == gvr.group_resource())
                    .unwrap();
                in_flight.remove(at);
            }
            _ => {}
        }
    }
    assert!(
        mixed,
        "objects of different resources were never applied together"
    );
    // The report stays in plan order, its lists only when it holds objects (R13); the
    // restore's resource list names every object created, whatever the report holds.
    let planned: Vec<_> = report.plan.all_creates().map(|c| c.object_ref()).collect();
    assert_eq!(report.counts.created, planned.len() as u64);
    if report_objects {
        assert_eq!(report.created, planned);
    } else {
        assert!(report.created.is_empty());
    }
    assert_eq!(restored_list(&store, "r1").await, planned_list(&report));
}

#[test]
fn waits_block_only_the_objects_that_depend_on_them() {
    futures::executor::block_on(waits_block_only_dependents());
}

async fn waits_block_only_dependents() {
    let vault = backed_up(3).await;
    // Waits take long: many other creates could run meanwhile.
    let target = Arc::new(Recording::new(SimCluster::new(KubeRelease::V1_28), 400));
    let report = restore(target.clone(), vault, "r1").await;
    assert_eq!(
        report.status.phase,
        JobPhase::Completed,
        "{:#?}",
        report.status
    );
    let seen = target.seen();
    let span = |cond: WaitCondition, ns: Option<&str>, name: &str| {
        let ns = ns.map(str::to_string);
        let start = seen
            .iter()
            .position(|s| *s == Seen::WaitStart(cond, ns.clone(), name.to_string()))
            .unwrap_or_else(|| panic!("no wait on {ns:?}/{name}"));
        let end = seen
            .iter()
            .position(|s| *s == Seen::WaitEnd(cond, ns.clone(), name.to_string()))
            .unwrap();
        (start, end)
    };
    let created_at = |plural: &str, ns: &str, name: &str| {
        seen.iter()
            .position(|s| {
                matches!(s, Seen::Start(g, n, m)
                if g.resource == plural && n.as_deref() == Some(ns) && m == name)
            })
            .unwrap_or_else(|| panic!("{plural} {ns}/{name} not created"))
    };
    // The CRD's wait holds back the widgets, not the built-in objects.
    let (crd_start, crd_end) = span(WaitCondition::Established, None, "widgets.example.com");
    let during_crd_wait = seen[crd_start..crd_end]
        .iter()
        .filter(|s| matches!(s, Seen::Start(..)))
        .count();
    assert!(
        during_crd_wait > 10,
        "only {during_crd_wait} creates while the CRD was waited on"
    );
    let mut cache_during_a_claim_wait = false;
    for n in 0..3 {
        let ns = format!("ns{n}");
        assert!(created_at("widgets", &ns, "w") > crd_end);
        // The claim's wait holds back the Pod that mounts it, not the Pod that does not.
        let (bind_start, bind_end) = span(WaitCondition::Bound, Some(&ns), "data");
        assert!(
            created_at("pods", &ns, "db") > bind_end,
            "pod {ns}/db before its claim bound"
        );
        let cache = created_at("pods", &ns, "cache");
        cache_during_a_claim_wait |= (bind_start..bind_end).contains(&cache);
    }
    assert!(
        cache_during_a_claim_wait,
        "no Pod without a claim was created while its namespace's claim was waited on"
    );
}

/// Creates the recording cluster saw (resource, namespace, name).
fn creates(cluster: &Recording) -> Vec<(String, Option<String>, String)> {
    cluster
        .seen()
        .into_iter()
        .filter_map(|s| match s {
            Seen::Start(g, ns, name) => Some((g.group_resource(), ns, name)),
            _ => None,
        })
        .collect()
}

/// A target that refuses ConfigMap `settings-b` (an admission webhook, say).
fn refusing_target() -> SimCluster {
    let target = SimCluster::new(KubeRelease::V1_28);
    target.reject(Rejection {
        kind: "ConfigMap".into(),
        name: Some("settings-b".into()),
        message:
            "admission webhook \"policy.example.com\" denied the request: data.b is not allowed"
                .into(),
    });
    target
}

#[test]
fn a_preflight_rejection_writes_nothing_and_names_the_object() {
    futures::executor::block_on(async {
        let vault = backed_up(2).await;
        // The namespaces exist in the target, so every object can be dry-run at once.
        let target = refusing_target();
        target
            .load_documents(&[SimDocument {
                path: "ns.yaml".into(),
                text: "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns0}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ns1}\n".into(),
            }])
            .unwrap();
        let target = Arc::new(Recording::new(target, 0));
        let mut spec = RestoreSpec::new("r1", "app-b");
        spec.preflight = true;
        spec.scope.excluded_resources = vec![
            "customresourcedefinitions".into(),
            "widgets.example.com".into(),
        ];
        let report = restore_with(target.clone(), vault, spec).await;
        assert_eq!(
            report.status.phase,
            JobPhase::Failed,
            "{:#?}",
            report.status
        );
        assert_eq!(creates(&target), Vec::new(), "something was written");
        let pre = report.preflight.as_ref().expect("a pre-flight report");
        let rejected: Vec<String> = pre.rejected.iter().map(|i| i.to_string()).collect();
        assert_eq!(rejected.len(), 2, "{rejected:#?}");
        for ns in ["ns0", "ns1"] {
            assert!(
                rejected
                    .iter()
                    .any(|r| r.contains(&format!("ConfigMap {ns}/settings-b"))
                        && r.contains("denied the request: data.b is not allowed")),
                "{rejected:#?}"
            );
        }
        assert!(pre.deferred.is_empty(), "{:?}", pre.deferred);
        assert!(pre.accepted > 15, "{} accepted", pre.accepted);
        let reason = report.status.failure_reason.clone().unwrap_or_default();
        assert!(reason.contains("nothing was written"), "{reason}");
        assert!(reason.contains("ConfigMap ns0/settings-b"), "{reason}");
    });
}

#[test]
fn objects_in_namespaces_the_restore_creates_are_checked_before_any_of_them_is_written() {
    futures::executor::block_on(async {
        let vault = backed_up(2).await;
        let target = Arc::new(Recording::new(refusing_target(), 0));
        let mut spec = RestoreSpec::new("r1", "app-b");
        spec.preflight = true;
        let report = restore_with(target.clone(), vault, spec).await;
        assert_eq!(
            report.status.phase,
            JobPhase::Failed,
            "{:#?}",
            report.status
        );
        // Only the namespaces and the CRD were written.
        let written: Vec<String> = creates(&target).into_iter().map(|(r, _, _)| r).collect();
        assert!(!written.is_empty());
        assert!(
            written.iter().all(|r| r == "namespaces" || r == "customresourcedefinitions.apiextensions.k8s.io"),
            "{written:?}"
        );
        let pre = report.preflight.as_ref().expect("a pre-flight report");
        assert!(pre.deferred_checked);
        assert_eq!(
            pre.deferred
                .get("namespace ns0 is created by this restore")
                .copied(),
            Some(11),
            "{:?}",
            pre.deferred
        );
        assert!(
            pre.rejected
                .iter()
                .any(|i| i.to_string().contains("ConfigMap ns1/settings-b"))
        );
        let reason = report.status.failure_reason.clone().unwrap_or_default();
        assert!(
            reason.contains("only the namespaces and CRDs they need were written"),
            "{reason}"
        );
    });
}

#[test]
fn a_dry_run_with_preflight_reports_what_it_could_not_check_and_writes_nothing() {
    futures::executor::block_on(async {
        let vault = backed_up(2).await;
        let target = Arc::new(Recording::new(SimCluster::new(KubeRelease::V1_28), 0));
        let mut spec = RestoreSpec::new("r1", "app-b");
        spec.preflight = true;
        spec.dry_run = true;
        let report = restore_with(target.clone(), vault, spec).await;
        assert_eq!(
            report.status.phase,
            JobPhase::Completed,
            "{:#?}",
            report.status
        );
        assert_eq!(creates(&target), Vec::new());
        let pre = report.preflight.as_ref().expect("a pre-flight report");
        assert!(!pre.deferred_checked);
        assert_eq!(pre.rejected, Vec::new());
        assert_eq!(
            pre.deferred
                .get("namespace ns1 is created by this restore")
                .copied(),
            Some(11)
        );
        let cluster_scoped: Vec<String> = report
            .plan
            .creates()
            .filter(|c| c.object.namespace().is_none())
            .map(|c| c.object.describe())
            .collect();
        assert_eq!(
            pre.accepted,
            cluster_scoped.len() as u64,
            "{cluster_scoped:?}"
        );
        assert_eq!(report.created.len(), report.plan.creates().count());
    });
}

#[test]
fn a_restore_that_passes_its_preflight_restores_everything() {
    futures::executor::block_on(async {
        let vault = backed_up(2).await;
        let target = Arc::new(Recording::new(SimCluster::new(KubeRelease::V1_28), 0));
        let mut spec = RestoreSpec::new("r1", "app-b");
        spec.preflight = true;
        let report = restore_with(target.clone(), vault, spec).await;
        assert_eq!(
            report.status.phase,
            JobPhase::Completed,
            "{:#?}",
            report.status
        );
        let planned: Vec<_> = report.plan.all_creates().map(|c| c.object_ref()).collect();
        assert_eq!(report.created, planned);
        let pre = report.preflight.as_ref().expect("a pre-flight report");
        assert!(pre.deferred_checked);
        assert_eq!(pre.rejected, Vec::new());
    });
}

#[test]
fn a_flipped_byte_in_the_last_entry_fails_the_restore_before_any_write() {
    futures::executor::block_on(flipped_byte_fails_before_any_write(true));
}

#[test]
fn a_flipped_byte_in_the_last_entry_fails_before_any_write_when_objects_wait_in_the_spool() {
    futures::executor::block_on(flipped_byte_fails_before_any_write(false));
}

async fn flipped_byte_fails_before_any_write(report_objects: bool) {
    use csdr_core::ports::blob_store::BlobStore;
    {
        let store = MemoryBlobStore::new();
        let vault = backed_up_on(2, store.clone()).await;
        // Flip one byte of the tarball's last entry, keeping it valid JSON, and re-anchor the
        // tarball's own digest in the metadata (as a bug or an attacker would have to): only
        // the entry's digest can catch it, and the archive is streamed before it is checked.
        let key = "backups/app-b/app-b.tar.gz";
        let tar = csdr_core::gzip::gunzip(&store.get(key).await.unwrap()).unwrap();
        let mut tar = tar;
        let at = tar
            .windows(8)
            .rposition(|w| w == b"\"name\":\"")
            .expect("the last entry names its object")
            + 8;
        tar[at] = tar[at].to_ascii_uppercase();
        let damaged = csdr_core::gzip::gzip(&tar);
        store.put(key, damaged.clone().into()).await.unwrap();
        let meta_key = "backups/app-b/velero-backup.json";
        let mut meta: Value = serde_json::from_slice(&store.get(meta_key).await.unwrap()).unwrap();
        meta["csdr"]["archive"]["sha256"] = Value::from(csdr_core::digest::sha256_hex(&damaged));
        meta["csdr"]["archive"]["size"] = Value::from(damaged.len());
        store
            .put(meta_key, serde_json::to_vec(&meta).unwrap().into())
            .await
            .unwrap();

        let target = Arc::new(Recording::new(SimCluster::new(KubeRelease::V1_28), 0));
        let spec = RestoreSpec::new("r1", "app-b");
        let report = restore_configured(target.clone(), vault, spec, report_objects).await;
        assert_eq!(
            report.status.phase,
            JobPhase::Failed,
            "{:#?}",
            report.status
        );
        let failure = report.status.failure.clone().unwrap();
        assert_eq!(
            failure.kind,
            csdr_core::model::FailureKind::Integrity,
            "{failure:?}"
        );
        assert!(
            failure
                .message
                .contains("integrity error: entry resources/"),
            "{}",
            failure.message
        );
        assert_eq!(creates(&target), Vec::new(), "something was written");
    }
}

/// A live object without what the server sets.
fn as_restored(mut live: KubeObject) -> KubeObject {
    for key in csdr_core::transform::sanitize::SERVER_SET_METADATA {
        live.metadata_mut().remove(key);
    }
    live
}

#[test]
fn final_objects_that_wait_in_the_spool_are_restored_exactly_as_held_ones() {
    futures::executor::block_on(async {
        // Two vaults with the same backup: a restore's name is taken once per vault.
        let (store, other_store) = (MemoryBlobStore::new(), MemoryBlobStore::new());
        let vault = backed_up_on(3, store.clone()).await;
        let other_vault = backed_up_on(3, other_store.clone()).await;
        let held_target = SimCluster::new(KubeRelease::V1_28);
        let spooled_target = SimCluster::new(KubeRelease::V1_28);
        let spec = RestoreSpec::new("r1", "app-b");
        let held = restore_configured(
            Arc::new(Recording::new(held_target.clone(), 1)),
            vault,
            spec.clone(),
            true,
        )
        .await;
        let spooled = restore_configured(
            Arc::new(Recording::new(spooled_target.clone(), 1)),
            other_vault,
            spec,
            false,
        )
        .await;
        assert_eq!(held.status.phase, JobPhase::Completed, "{:#?}", held.status);
        assert_eq!(
            spooled.status.phase,
            JobPhase::Completed,
            "{:#?}",
            spooled.status
        );
        // The spooled restore's report counts what it did without listing it; both restores
        // list the same objects in the vault.
        assert_eq!(spooled.counts, held.counts);
        assert_eq!(spooled.counts.created, held.created.len() as u64);
        assert!(spooled.created.is_empty());
        assert_eq!(
            restored_list(&other_store, "r1").await,
            restored_list(&store, "r1").await
        );
        // The report of the spooled restore names the ConfigMaps; their data waited in the
        // spool.
        let config_map = spooled
            .plan
            .steps
            .iter()
            .find_map(|s| match s {
                PlanStep::CreateSpooled(c) if c.object.kind() == "ConfigMap" => Some(c),
                _ => None,
            })
            .expect("a spooled ConfigMap step");
        assert!(config_map.object.at.len > 0);
        assert!(
            spooled
                .plan
                .creates()
                .all(|c| c.object.kind() != "ConfigMap")
        );
        assert_eq!(
            serde_json::to_value(&config_map.object).unwrap()["namespace"],
            config_map.object.namespace().unwrap()
        );
        assert_eq!(spooled.plan.create_count(), held.plan.create_count());
        // Every object is in the target exactly as the restore that held it created it.
        let mut compared = 0;
        for step in held.plan.creates() {
            let o = &step.object;
            let get = |c: &SimCluster| {
                let c = c.clone();
                let (gvr, ns, name) = (
                    step.resource.clone(),
                    o.namespace().map(String::from),
                    o.name().to_string(),
                );
                async move { c.get(&gvr, ns.as_deref(), &name).await.unwrap() }
            };
            let want = get(&held_target).await.map(as_restored);
            let got = get(&spooled_target).await.map(as_restored);
            assert!(want.is_some(), "{} missing", o.describe());
            assert_eq!(got, want, "{}", o.describe());
            compared += 1;
        }
        assert!(compared > 30, "{compared} objects compared");
    });
}

#[test]
fn an_index_partly_held_and_partly_spooled_restores_the_same_objects() {
    futures::executor::block_on(async {
        let (vault, other_vault) = (backed_up(3).await, backed_up(3).await);
        let (held_target, mixed_target) = (
            SimCluster::new(KubeRelease::V1_28),
            SimCluster::new(KubeRelease::V1_28),
        );
        let spec = RestoreSpec::new("r1", "app-b");
        let held = restore_configured(
            Arc::new(Recording::new(held_target.clone(), 1)),
            vault,
            spec.clone(),
            true,
        )
        .await;
        // About a tenth of the entries fit in 4 KiB: the rest wait in the spool.
        let mixed = restore_holding(
            Arc::new(Recording::new(mixed_target.clone(), 1)),
            other_vault,
            spec,
            true,
            4096,
        )
        .await;
        assert_eq!(held.status.phase, JobPhase::Completed, "{:#?}", held.status);
        assert_eq!(
            mixed.status.phase,
            JobPhase::Completed,
            "{:#?}",
            mixed.status
        );
        assert_eq!(mixed.created, held.created);
        assert_eq!(mixed.plan, held.plan);
        let mut compared = 0;
        for step in held.plan.creates() {
            let o = &step.object;
            let get = |c: &SimCluster| {
                let c = c.clone();
                let (gvr, ns, name) = (
                    step.resource.clone(),
                    o.namespace().map(String::from),
                    o.name().to_string(),
                );
                async move { c.get(&gvr, ns.as_deref(), &name).await.unwrap() }
            };
            let want = get(&held_target).await.map(as_restored);
            assert!(want.is_some(), "{} missing", o.describe());
            assert_eq!(
                get(&mixed_target).await.map(as_restored),
                want,
                "{}",
                o.describe()
            );
            compared += 1;
        }
        assert!(compared > 30, "{compared} objects compared");
    });
}

#[test]
fn an_interrupted_restore_run_again_under_another_name_with_update_converges() {
    futures::executor::block_on(interrupted_restore_converges(true));
}

/// The same with the final objects waiting in the spool: they are sent as the text the plan
/// wrote, and parsed only to settle an `AlreadyExists`.
#[test]
fn an_interrupted_restore_converges_when_the_final_objects_wait_in_the_spool() {
    futures::executor::block_on(interrupted_restore_converges(false));
}

async fn interrupted_restore_converges(report_objects: bool) {
    use csdr_core::model::ExistingResourcePolicy;
    use csdr_core::plan::existing::{ExistingAction, existing_action};
    let vault = backed_up(3).await;
    let inner = SimCluster::new(KubeRelease::V1_28);
    // The first attempt loses its connection after 20 creates.
    let mut cut = Recording::new(inner.clone(), 0);
    cut.fail_after = Some(20);
    let first = restore_configured(
        Arc::new(cut),
        vault.clone(),
        RestoreSpec::new("r1", "app-b"),
        report_objects,
    )
    .await;
    assert_eq!(first.status.phase, JobPhase::PartiallyFailed);
    assert_eq!(
        first.status.progress.items_done,
        first.plan.create_count() as u64
    );
    assert_eq!(first.status.errors.len(), first.plan.create_count() - 20);
    // Meanwhile someone edits a restored object.
    let cms = GroupVersionResource::new("", "v1", "configmaps");
    let edited = inner.get(&cms, Some("ns0"), "settings-a").await.unwrap();
    if let Some(cm) = &edited {
        inner
            .patch_merge(
                &cms,
                Some("ns0"),
                cm.name(),
                &serde_json::json!({"data": {"a": "edited"}}),
            )
            .await
            .unwrap();
    }
    // Run again under another name, updating what exists.
    let mut spec = RestoreSpec::new("r2", "app-b");
    spec.existing_resource_policy = ExistingResourcePolicy::Update;
    let second = restore_configured(
        Arc::new(Recording::new(inner.clone(), 0)),
        vault.clone(),
        spec.clone(),
        report_objects,
    )
    .await;
    assert_eq!(
        second.status.phase,
        JobPhase::Completed,
        "{:#?}",
        second.status
    );
    let counts = second.counts;
    assert_eq!(
        counts.created + counts.existing + counts.patched,
        second.plan.create_count() as u64
    );
    assert!(counts.existing + counts.patched >= 20, "{counts:?}");
    assert!(
        counts.patched >= 1,
        "the edited ConfigMap is patched back: {counts:?}"
    );
    if report_objects {
        assert_eq!(
            second.created.len() + second.existing.len() + second.patched.len(),
            second.plan.create_count()
        );
        assert!(
            second
                .patched
                .iter()
                .any(|o| o.kind == "ConfigMap" && o.name == "settings-a"),
            "the edited ConfigMap is patched back: {:?}",
            second.patched
        );
    }
    assert!(edited.is_some(), "the first attempt created ns0/settings-a");
    // Every object is in the target as the backup has it: the final objects as a dry run of
    // the same restore plans them.
    spec.dry_run = true;
    let desired = restore_configured(
        Arc::new(Recording::new(SimCluster::new(KubeRelease::V1_28), 0)),
        vault,
        spec,
        true,
    )
    .await;
    assert_eq!(desired.plan.creates().count(), second.plan.create_count());
    for step in desired.plan.creates() {
        let o = &step.object;
        let live = inner
            .get(&step.resource, o.namespace(), o.name())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{} missing", o.describe()));
        if o.kind() != "Namespace" {
            // Compared without the restore's own label (which alone would make the live
            // object count as this restore's creation).
            let mut desired = o.clone();
            if let Some(labels) = desired.metadata_mut().get_mut("labels")
                && let Some(labels) = labels.as_object_mut()
            {
                labels.remove("velero.io/restore-name");
            }
            assert_eq!(
                existing_action(ExistingResourcePolicy::Update, &desired, &live),
                ExistingAction::Skip,
                "{} differs from the backup",
                o.describe()
            );
        }
    }
}

#[test]
fn the_vault_streams_the_tarball_and_reports_damage_as_its_last_item() {
    use csdr_core::ports::blob_store::BlobStore;
    use futures::StreamExt;
    futures::executor::block_on(async {
        let store = MemoryBlobStore::new();
        let vault = backed_up_on(2, store.clone()).await;
        let key = "backups/app-b/app-b.tar.gz";
        let stored = store.get(key).await.unwrap();
        let stream = vault.archive_stream("app-b").await.unwrap();
        assert!(stream.entry_digests.is_some() && stream.warning.is_none());
        let chunks: Vec<_> = stream.chunks.collect().await;
        let bytes: Vec<u8> = chunks
            .into_iter()
            .flat_map(|c| c.unwrap().to_vec())
            .collect();
        assert_eq!(bytes, stored.to_vec());

        // One byte flipped: every chunk is handed over, then the integrity error, naming the key.
        let mut damaged = stored.to_vec();
        let last = damaged.len() - 10;
        damaged[last] ^= 0x01;
        store.put(key, damaged.into()).await.unwrap();
        let chunks: Vec<_> = vault
            .archive_stream("app-b")
            .await
            .unwrap()
            .chunks
            .collect()
            .await;
        let (end, before) = chunks.split_last().unwrap();
        assert!(before.iter().all(Result::is_ok));
        let err = end.as_ref().unwrap_err().to_string();
        assert!(
            err.contains("integrity check failed for") && err.contains("app-b.tar.gz"),
            "{err}"
        );

        // Truncated: refused before any byte is handed over.
        store
            .put(key, stored.slice(..stored.len() / 2))
            .await
            .unwrap();
        let err = vault.archive_stream("app-b").await.unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
    });
}

#[test]
fn a_write_the_cluster_throttles_is_retried_after_a_back_off() {
    futures::executor::block_on(async {
        let vault = backed_up(1).await;
        let target = Recording::new(SimCluster::new(KubeRelease::V1_28), 0);
        *target.throttled_once.lock().unwrap() = vec!["settings-a".into(), "web".into()];
        let target = Arc::new(target);
        let engine = Engine::builder()
            .cluster(target.clone())
            .vault(vault)
            .build()
            .unwrap();
        let report = engine.restore(RestoreSpec::new("r1", "app-b")).await;
        assert_eq!(
            report.status.phase,
            JobPhase::Completed,
            "{:#?}",
            report.status
        );
        assert!(target.throttled_once.lock().unwrap().is_empty());
        let created = creates(&target);
        assert!(created.contains(&("configmaps".into(), Some("ns0".into()), "settings-a".into())));
        assert!(created.contains(&("deployments.apps".into(), Some("ns0".into()), "web".into())));
    });
}
