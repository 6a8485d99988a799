//! The simulated cluster's DaemonSet and Job controllers and its kubelets' container runtime
//! for csdr's own image: `csdr install`'s node agents run as real `csdr node-agent` processes,
//! one per node the DaemonSet's scheduling allows, against the simulated kubelets' folders
//! (D3, C2), and a Job running `csdr volume …` runs it as a process.
//!
//! [`SimWorkloads::sync`] does what the controller manager and the kubelets of a real cluster
//! would, for the objects of a [`SimCluster`]:
//! - **DaemonSets.** Every DaemonSet gets one pod on every Node its pod template may run on:
//!   the template's `nodeSelector`, its required node affinity (`matchExpressions` with `In`,
//!   `NotIn`, `Exists`, `DoesNotExist`, `Gt`, `Lt`; `matchFields` on `metadata.name`) and the
//!   nodes' `NoSchedule`/`NoExecute` taints against its tolerations. A pod is named
//!   `<daemonset>-<5 characters>`, owned by the DaemonSet (so deleting the DaemonSet deletes
//!   it) and bound to its node (`spec.nodeName`); pods on nodes that no longer qualify are
//!   deleted. The DaemonSet's status counts them (`kubectl get ds` shows DESIRED, CURRENT,
//!   READY).
//! - **Jobs.** A Job's pods (`<job>-<5 characters>`, labelled `job-name` and
//!   `controller-uid`, owned by the Job) are placed on the Nodes its template may run on, in
//!   name order, as a scheduler would, up to `parallelism` at once, until `completions` of
//!   them succeeded (condition `Complete`, `completionTime`) or more than `backoffLimit`
//!   failed (condition `Failed`, reason `BackoffLimitExceeded`); the status counts `active`,
//!   `succeeded` and `failed` pods. A suspended Job gets no pods.
//! - **Pods of csdr's image.** A pod bound to a node whose containers all run an image named
//!   as csdr's (by default `csdr`, any registry and tag: `csdr:latest`,
//!   `registry.example.com/team/csdr:0.1.0`) runs each container as a process of `program`:
//!   the container's `command` after its first word (the image's binary), then its `args`.
//!   The process gets the container's `env` and `envFrom` (values, `fieldRef`,
//!   `secretKeyRef`, `configMapKeyRef`), `HOSTNAME` set to the pod's name, `KUBECONFIG`
//!   pointing at the simulated API server (instead of the in-cluster service account) and
//!   `PATH` from this process; nothing else. Its standard output and error go to
//!   `<dir>/nodes/<node>/logs/<namespace>_<pod>_<container>.log`. The pod's status follows the
//!   processes: `Running` and ready while they run; for `restartPolicy: Never` `Succeeded` or
//!   `Failed` with each container's exit code once all have exited; with `Always` (every
//!   DaemonSet pod) or `OnFailure` a container that exits is started again after a back-off
//!   of 1, 2, 4 … up to 30 seconds (`CrashLoopBackOff` meanwhile, with the restart count). A
//!   pod that is deleted, or that moved, has its processes sent SIGTERM and, after its
//!   `terminationGracePeriodSeconds` (at most 10 s here), SIGKILL.
//!
//! What differs from a real cluster: there are no containers. Processes share this machine's
//! file system, network and users: a `hostPath` volume is not mounted but its mount path is
//! rewritten in the container's environment values (`/var/lib/kubelet` becomes the node's
//! kubelet root of the [`SimKubelet`], any other host path `<dir>/nodes/<node>/host/<path>`);
//! `$(VAR)` references in values are not expanded; init containers, probes, resource limits
//! and `kubectl exec` are not served (`kubectl logs` is, when the API server reads
//! [`SimWorkloads::pod_log`], as `csdr cluster serve` does: the log file, without
//! `--follow`); pods of other images are left as they are (no
//! status is written for them); the back-off is shorter than the kubelet's 10 s to 5 min.
//! Deployments and ReplicaSets have no controller here: their pods exist only when created
//! directly; a Job's pods are not retried with a delay, and its `activeDeadlineSeconds`,
//! indexed completions and pod failure policy are not served.
//!
//! ```no_run
//! use csdr::core::releases::KubeRelease;
//! use csdr::core::sim::SimCluster;
//! use csdr::sim_kubelet::SimKubelet;
//! use csdr::sim_workloads::SimWorkloads;
//!
//! let sim = SimCluster::new(KubeRelease::V1_28);
//! let kubelet = SimKubelet::new("./kubelets");
//! // The simulated cluster served at this URL (csdr cluster serve --kubelet-dir does all this).
//! let workloads = SimWorkloads::new(kubelet.clone(), "/usr/local/bin/csdr", "http://127.0.0.1:6443");
//! kubelet.sync(&sim)?;
//! let report = workloads.sync(&sim)?;
//! println!("{} node agent processes running", report.running);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine as _;
use csdr_core::object::{GroupVersionResource, KubeObject};
use csdr_core::ports::cluster::ClusterError;
use csdr_core::sim::{DeleteOptions, SimCluster, Subresource, WriteOptions};
use serde_json::{Map, Value, json};

use crate::error::{SimError, io};
use crate::sim_kubelet::SimKubelet;

/// The image name csdr's manifests use (`csdr install --image`'s default is `csdr:latest`).
pub const CSDR_IMAGE_NAME: &str = "csdr";

/// The longest grace period a deleted pod's processes get before SIGKILL.
const MAX_GRACE: Duration = Duration::from_secs(10);

/// The longest back-off before a container that exited is started again.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What one [`SimWorkloads::sync`] found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkloadsReport {
    /// DaemonSet pods created.
    pub pods_created: usize,
    /// DaemonSet pods deleted (their node no longer qualifies).
    pub pods_deleted: usize,
    /// Job pods created.
    pub job_pods_created: usize,
    /// Container processes started (first starts and restarts).
    pub started: usize,
    /// Container processes running after the sync.
    pub running: usize,
    /// Container processes stopped because their pod was deleted or moved.
    pub stopped: usize,
}

/// The DaemonSet controller and csdr-image container runtime of a simulated cluster (see the
/// [module documentation](self)). Clones share the processes; dropping the last clone kills
/// them.
#[derive(Clone)]
pub struct SimWorkloads {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SimWorkloads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimWorkloads")
            .field("dir", &self.inner.kubelet.dir())
            .field("program", &self.inner.program)
            .field("images", &self.inner.images)
            .finish_non_exhaustive()
    }
}

struct Inner {
    kubelet: SimKubelet,
    program: PathBuf,
    api_url: String,
    images: Vec<String>,
    /// Running or waiting containers, by (pod uid, container name).
    containers: Mutex<BTreeMap<(String, String), Container>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let containers = match self.containers.get_mut() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        for container in containers.values_mut() {
            if let Some(child) = container.child.as_mut() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// How a container is started, kept for its restarts.
#[derive(Clone, Debug)]
struct Launch {
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: PathBuf,
    log: PathBuf,
}

/// One container of a pod this runtime runs.
struct Container {
    namespace: String,
    pod: String,
    node: String,
    image: String,
    restart_policy: String,
    grace: Duration,
    launch: Launch,
    child: Option<Child>,
    started_at: String,
    restarts: u32,
    /// The last exit: code, when it started and when it ended.
    last_exit: Option<(i32, String, String)>,
    /// When a container that exited starts again (`None`: it stays terminated).
    restart_at: Option<Instant>,
}

fn gvr(group: &str, resource: &str) -> GroupVersionResource {
    GroupVersionResource::new(group, "v1", resource)
}

fn text<'a>(object: &'a KubeObject, pointer: &str) -> Option<&'a str> {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn cluster_error(resource: &str) -> impl FnOnce(ClusterError) -> SimError {
    let resource = resource.to_string();
    move |source| SimError::Cluster { resource, source }
}

/// Whether `image` names one of `names`: the last path segment of the repository, without
/// tag or digest.
fn image_is(image: &str, names: &[String]) -> bool {
    let repository = image.split('@').next().unwrap_or(image);
    let last = repository.rsplit('/').next().unwrap_or(repository);
    let name = last.split(':').next().unwrap_or(last);
    names.iter().any(|n| n == name)
}

/// A DaemonSet pod's name suffix for `node`: 5 characters of the API server's generateName
/// alphabet, derived from the DaemonSet's uid and the node (FNV-1a).
fn pod_suffix(ds_uid: &str, node: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in ds_uid.bytes().chain([b'/']).chain(node.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (0..5)
        .map(|i| {
            let index = (hash >> (i * 8)) % ALPHABET.len() as u64;
            char::from(ALPHABET[usize::try_from(index).unwrap_or(0)])
        })
        .collect()
}

/// The labels of a node as a string map.
fn node_labels(node: &KubeObject) -> BTreeMap<String, String> {
    node.labels()
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether one node selector requirement (`{key, operator, values}`) holds for `value` (the
/// label's or field's value, `None` when absent).
fn requirement_holds(requirement: &Value, value: Option<&str>) -> bool {
    let values: Vec<&str> = requirement
        .get("values")
        .and_then(Value::as_array)
        .map(|v| v.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let number = |s: &str| s.parse::<i64>().ok();
    match requirement.get("operator").and_then(Value::as_str) {
        Some("In") => value.is_some_and(|v| values.contains(&v)),
        Some("NotIn") => !value.is_some_and(|v| values.contains(&v)),
        Some("Exists") => value.is_some(),
        Some("DoesNotExist") => value.is_none(),
        Some("Gt") => match (
            value.and_then(number),
            values.first().and_then(|v| number(v)),
        ) {
            (Some(v), Some(bound)) => v > bound,
            _ => false,
        },
        Some("Lt") => match (
            value.and_then(number),
            values.first().and_then(|v| number(v)),
        ) {
            (Some(v), Some(bound)) => v < bound,
            _ => false,
        },
        // The API server rejects other operators; a term with one matches nothing.
        _ => false,
    }
}

/// Whether a node selector term (`matchExpressions` on labels, `matchFields` on
/// `metadata.name`) selects the node. An empty term selects nothing, as in Kubernetes.
fn term_selects(term: &Value, name: &str, labels: &BTreeMap<String, String>) -> bool {
    let list = |field: &str| {
        term.get(field)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let (expressions, fields) = (list("matchExpressions"), list("matchFields"));
    if expressions.is_empty() && fields.is_empty() {
        return false;
    }
    expressions.iter().all(|r| {
        let key = r.get("key").and_then(Value::as_str).unwrap_or_default();
        requirement_holds(r, labels.get(key).map(String::as_str))
    }) && fields.iter().all(|r| {
        let key = r.get("key").and_then(Value::as_str).unwrap_or_default();
        requirement_holds(r, (key == "metadata.name").then_some(name))
    })
}

/// Whether a toleration tolerates a taint.
fn tolerates(toleration: &Value, taint: &Value) -> bool {
    fn field<'a>(v: &'a Value, f: &str) -> &'a str {
        v.get(f).and_then(Value::as_str).unwrap_or_default()
    }
    let effect = field(toleration, "effect");
    if !effect.is_empty() && effect != field(taint, "effect") {
        return false;
    }
    let key = field(toleration, "key");
    match field(toleration, "operator") {
        "Exists" => key.is_empty() || key == field(taint, "key"),
        // Equal is the default operator.
        _ => key == field(taint, "key") && field(toleration, "value") == field(taint, "value"),
    }
}

/// Whether a pod spec may run on `node`: its `nodeSelector`, required node affinity and the
/// node's scheduling taints.
fn schedulable_on(spec: &Value, node: &KubeObject) -> bool {
    let labels = node_labels(node);
    if let Some(selector) = spec.get("nodeSelector").and_then(Value::as_object) {
        let everything_matches = selector
            .iter()
            .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str());
        if !everything_matches {
            return false;
        }
    }
    if let Some(terms) = spec
        .pointer(
            "/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms",
        )
        .and_then(Value::as_array)
        && !terms.iter().any(|t| term_selects(t, node.name(), &labels))
    {
        return false;
    }
    let tolerations = spec
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let taints = node
        .pointer("/spec/taints")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    taints
        .iter()
        .filter(|t| {
            matches!(
                t.get("effect").and_then(Value::as_str),
                Some("NoSchedule" | "NoExecute")
            )
        })
        .all(|taint| tolerations.iter().any(|t| tolerates(t, taint)))
}

/// The uid of the object of `kind` (DaemonSet, Job) that controls `pod`, if any.
fn controller_uid<'a>(pod: &'a KubeObject, kind: &str) -> Option<&'a str> {
    pod.pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| {
            r.get("kind").and_then(Value::as_str) == Some(kind)
                && r.get("controller").and_then(Value::as_bool) == Some(true)
        })?
        .get("uid")?
        .as_str()
}

fn is_running_and_ready(pod: &KubeObject) -> bool {
    text(pod, "/status/phase") == Some("Running")
        && pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|c| {
                c.iter().any(|c| {
                    c.get("type").and_then(Value::as_str) == Some("Ready")
                        && c.get("status").and_then(Value::as_str) == Some("True")
                })
            })
}

impl SimWorkloads {
    /// The runtime for the simulated kubelets of `kubelet`, running containers of csdr's image
    /// as processes of `program` (a `csdr` binary) that reach the simulated cluster's API
    /// server at `api_url`. Relative folders are taken from the current folder now: the
    /// processes run in folders of their own.
    pub fn new(
        kubelet: SimKubelet,
        program: impl Into<PathBuf>,
        api_url: impl Into<String>,
    ) -> Self {
        let absolute = |path: PathBuf| std::path::absolute(&path).unwrap_or(path);
        let kubelet = SimKubelet::new(absolute(kubelet.dir().to_path_buf()));
        let program: PathBuf = program.into();
        // A bare name (`csdr`) is looked up in PATH, as Command does; a relative path is not.
        let program = if program.components().count() > 1 {
            absolute(program)
        } else {
            program
        };
        Self {
            inner: Arc::new(Inner {
                kubelet,
                program,
                api_url: api_url.into(),
                images: vec![CSDR_IMAGE_NAME.to_string()],
                containers: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// Runs the images named `names` (the repository's last segment, e.g. `csdr`) instead of
    /// csdr's alone. Call it before the first sync.
    pub fn with_images<I, S>(self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let inner = Inner {
            kubelet: self.inner.kubelet.clone(),
            program: self.inner.program.clone(),
            api_url: self.inner.api_url.clone(),
            images: names.into_iter().map(Into::into).collect(),
            containers: Mutex::new(BTreeMap::new()),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The kubeconfig file the processes reach the API server with: `<dir>/kubeconfig`.
    pub fn kubeconfig(&self) -> PathBuf {
        self.inner.kubelet.dir().join("kubeconfig")
    }

    /// The log of a pod's container: `<dir>/nodes/<node>/logs/<namespace>_<pod>_<container>.log`.
    pub fn log_path(&self, node: &str, namespace: &str, pod: &str, container: &str) -> PathBuf {
        self.inner
            .kubelet
            .dir()
            .join("nodes")
            .join(node)
            .join("logs")
            .join(format!("{namespace}_{pod}_{container}.log"))
    }

    /// What `container` of `pod` wrote so far (its log file, found by the pod's node), or
    /// `None` when it has not run here: what `kubectl logs` shows of a served cluster.
    pub fn pod_log(&self, pod: &KubeObject, container: &str) -> Option<String> {
        let node = text(pod, "/spec/nodeName")?;
        let namespace = pod.namespace().unwrap_or("default");
        std::fs::read_to_string(self.log_path(node, namespace, pod.name(), container)).ok()
    }

    fn containers(&self) -> MutexGuard<'_, BTreeMap<(String, String), Container>> {
        match self.inner.containers.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Container processes running now.
    pub fn running(&self) -> usize {
        self.containers()
            .values()
            .filter(|c| c.child.is_some())
            .count()
    }

    /// Brings DaemonSet pods, processes and pod statuses in step with the cluster (see the
    /// [module documentation](self)). Call it after the cluster changed, and
    /// [`Self::poll`] in between to notice processes that exit.
    pub fn sync(&self, sim: &SimCluster) -> Result<WorkloadsReport, SimError> {
        let mut report = WorkloadsReport::default();
        self.write_kubeconfig()?;
        self.schedule_daemon_sets(sim, &mut report)?;
        self.run_jobs(sim, &mut report)?;
        self.run_pods(sim, &mut report)?;
        self.poll_into(sim, &mut report);
        report.running = self.running();
        Ok(report)
    }

    /// Notices containers that exited (and writes their pods' status) and starts those whose
    /// back-off is over; cheap enough to call every 100 ms.
    pub fn poll(&self, sim: &SimCluster) -> WorkloadsReport {
        let mut report = WorkloadsReport::default();
        self.poll_into(sim, &mut report);
        report.running = self.running();
        report
    }

    /// Stops every process (SIGTERM, then SIGKILL after their grace period), as a node shutting
    /// down does; their pods keep their last status.
    pub fn stop_all(&self) {
        let stopped: Vec<Container> = std::mem::take(&mut *self.containers())
            .into_values()
            .collect();
        for container in stopped {
            terminate(container);
        }
    }

    fn write_kubeconfig(&self) -> Result<(), SimError> {
        let path = self.kubeconfig();
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: sim\n  cluster: {{server: '{}'}}\nusers:\n- name: pod\n  user: {{}}\ncontexts:\n- name: sim\n  context: {{cluster: sim, user: pod}}\ncurrent-context: sim\n",
            self.inner.api_url
        );
        if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
            return Ok(());
        }
        std::fs::create_dir_all(self.inner.kubelet.dir())
            .map_err(io(self.inner.kubelet.dir(), "create folder"))?;
        std::fs::write(&path, text).map_err(io(&path, "write"))
    }

    /// Creates and deletes DaemonSet pods, and writes the DaemonSets' status.
    fn schedule_daemon_sets(
        &self,
        sim: &SimCluster,
        report: &mut WorkloadsReport,
    ) -> Result<(), SimError> {
        let daemon_sets_gvr = GroupVersionResource::new("apps", "v1", "daemonsets");
        let daemon_sets = match sim.snapshot(&daemon_sets_gvr, None) {
            Ok((items, _)) => items,
            // A release without apps/v1 has no DaemonSets to run.
            Err(ClusterError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(cluster_error("daemonsets")(e)),
        };
        if daemon_sets.is_empty() {
            return Ok(());
        }
        let nodes = sim
            .snapshot(&gvr("", "nodes"), None)
            .map_err(cluster_error("nodes"))?
            .0;
        let pods = sim
            .snapshot(&gvr("", "pods"), None)
            .map_err(cluster_error("pods"))?
            .0;
        for ds in daemon_sets {
            if ds.pointer("/metadata/deletionTimestamp").is_some() {
                continue;
            }
            let (Some(uid), Some(namespace)) = (text(&ds, "/metadata/uid"), ds.namespace()) else {
                continue;
            };
            let template = ds
                .pointer("/spec/template")
                .cloned()
                .unwrap_or_else(|| json!({}));
            let spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
            let eligible: BTreeSet<&str> = nodes
                .iter()
                .filter(|n| schedulable_on(&spec, n))
                .map(KubeObject::name)
                .collect();
            let owned: Vec<&KubeObject> = pods
                .iter()
                .filter(|p| p.namespace() == Some(namespace))
                .filter(|p| controller_uid(p, "DaemonSet") == Some(uid))
                .collect();
            let mut placed = BTreeSet::new();
            for pod in &owned {
                let node = text(pod, "/spec/nodeName").unwrap_or_default();
                if eligible.contains(node) && placed.insert(node.to_string()) {
                    continue;
                }
                // On a node that no longer qualifies, or a second pod on one node.
                match sim.delete_with(
                    &gvr("", "pods"),
                    Some(namespace),
                    pod.name(),
                    &DeleteOptions::default(),
                ) {
                    Ok(_) | Err(ClusterError::NotFound { .. }) => report.pods_deleted += 1,
                    Err(e) => return Err(cluster_error("pods")(e)),
                }
            }
            for node in &eligible {
                if placed.contains(*node) {
                    continue;
                }
                let Some(pod) = daemon_set_pod(&ds, uid, namespace, &template, node) else {
                    tracing::warn!(
                        daemonset = ds.name(),
                        namespace,
                        "the pod template is no object"
                    );
                    break;
                };
                match sim.create_with(&gvr("", "pods"), &pod, &WriteOptions::default()) {
                    Ok(_) => report.pods_created += 1,
                    Err(ClusterError::AlreadyExists { .. }) => {}
                    Err(e) => return Err(cluster_error("pods")(e)),
                }
            }
            let status = json!({
                "desiredNumberScheduled": eligible.len(),
                "currentNumberScheduled": eligible.len(),
                "updatedNumberScheduled": eligible.len(),
                "numberMisscheduled": 0,
                "numberReady": owned.iter().filter(|p| is_running_and_ready(p)).count(),
                "numberAvailable": owned.iter().filter(|p| is_running_and_ready(p)).count(),
                "observedGeneration": ds.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
            });
            if ds.pointer("/status") != Some(&status) {
                let written = sim.modify(
                    &daemon_sets_gvr,
                    Some(namespace),
                    ds.name(),
                    &WriteOptions {
                        subresource: Subresource::Status,
                        ..WriteOptions::default()
                    },
                    |mut current| {
                        current.fields_mut().insert("status".into(), status);
                        Ok(current)
                    },
                );
                match written {
                    Ok(_) | Err(ClusterError::NotFound { .. } | ClusterError::Conflict { .. }) => {}
                    Err(e) => return Err(cluster_error("daemonsets")(e)),
                }
            }
        }
        Ok(())
    }

    /// Runs Jobs: creates their pods (on a node the template may run on, as the scheduler
    /// would), up to `parallelism` at once until `completions` succeeded or more than
    /// `backoffLimit` failed, and writes the Job's status and its `Complete` or `Failed`
    /// condition.
    fn run_jobs(&self, sim: &SimCluster, report: &mut WorkloadsReport) -> Result<(), SimError> {
        let jobs_gvr = GroupVersionResource::new("batch", "v1", "jobs");
        let jobs = match sim.snapshot(&jobs_gvr, None) {
            Ok((items, _)) => items,
            Err(ClusterError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(cluster_error("jobs")(e)),
        };
        if jobs.is_empty() {
            return Ok(());
        }
        let mut nodes = sim
            .snapshot(&gvr("", "nodes"), None)
            .map_err(cluster_error("nodes"))?
            .0;
        nodes.sort_by(|a, b| a.name().cmp(b.name()));
        let pods = sim
            .snapshot(&gvr("", "pods"), None)
            .map_err(cluster_error("pods"))?
            .0;
        let now = sim.now().to_string();
        for job in jobs {
            let finished = job
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|c| {
                    c.iter().any(|c| {
                        matches!(
                            c.get("type").and_then(Value::as_str),
                            Some("Complete" | "Failed")
                        ) && c.get("status").and_then(Value::as_str) == Some("True")
                    })
                });
            let suspended = job.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true);
            let (Some(uid), Some(namespace)) = (text(&job, "/metadata/uid"), job.namespace())
            else {
                continue;
            };
            if finished || suspended || job.pointer("/metadata/deletionTimestamp").is_some() {
                continue;
            }
            let count = |field: &str, default: u64| {
                job.pointer(&format!("/spec/{field}"))
                    .and_then(Value::as_u64)
                    .unwrap_or(default)
            };
            let (completions, parallelism, backoff_limit) = (
                count("completions", 1),
                count("parallelism", 1),
                count("backoffLimit", 6),
            );
            let owned: Vec<&KubeObject> = pods
                .iter()
                .filter(|p| p.namespace() == Some(namespace))
                .filter(|p| controller_uid(p, "Job") == Some(uid))
                .collect();
            let phase = |p: &&KubeObject| text(p, "/status/phase").unwrap_or("Pending").to_string();
            let succeeded = owned.iter().filter(|p| phase(p) == "Succeeded").count() as u64;
            let failed = owned.iter().filter(|p| phase(p) == "Failed").count() as u64;
            let mut active = owned.len() as u64 - succeeded - failed;
            let template = job
                .pointer("/spec/template")
                .cloned()
                .unwrap_or_else(|| json!({}));
            let spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
            let outcome = if succeeded >= completions {
                Some(("Complete", "", ""))
            } else if failed > backoff_limit {
                Some((
                    "Failed",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                ))
            } else {
                let eligible: Vec<&KubeObject> =
                    nodes.iter().filter(|n| schedulable_on(&spec, n)).collect();
                let wanted = parallelism.min(completions - succeeded);
                let mut index = owned.len() as u64;
                while active < wanted && !eligible.is_empty() {
                    let node = eligible[usize::try_from(index).unwrap_or(0) % eligible.len()];
                    let pod = job_pod(&job, uid, namespace, &template, node.name(), index);
                    index += 1;
                    match pod.map(|pod| {
                        sim.create_with(&gvr("", "pods"), &pod, &WriteOptions::default())
                    }) {
                        Some(Ok(_)) => {
                            report.job_pods_created += 1;
                            active += 1;
                        }
                        Some(Err(ClusterError::AlreadyExists { .. })) => {}
                        Some(Err(e)) => return Err(cluster_error("pods")(e)),
                        None => break,
                    }
                }
                None
            };
            let mut status = json!({
                "active": active,
                "succeeded": succeeded,
                "failed": failed,
                "startTime": job.pointer("/status/startTime").cloned().unwrap_or_else(|| json!(now)),
            });
            if let Some((kind, reason, message)) = outcome {
                status["active"] = json!(0);
                let mut c = condition(kind, true, &now);
                if !reason.is_empty() {
                    c["reason"] = json!(reason);
                    c["message"] = json!(message);
                }
                status["conditions"] = json!([c]);
                if kind == "Complete" {
                    status["completionTime"] = json!(now);
                }
            }
            let current = job.pointer("/status").cloned().unwrap_or(Value::Null);
            let same = ["active", "succeeded", "failed", "conditions"]
                .iter()
                .all(|k| current.get(k) == status.get(k))
                && current.get("startTime").is_some();
            if same {
                continue;
            }
            let written = sim.modify(
                &jobs_gvr,
                Some(namespace),
                job.name(),
                &WriteOptions {
                    subresource: Subresource::Status,
                    ..WriteOptions::default()
                },
                |mut current| {
                    current.fields_mut().insert("status".into(), status);
                    Ok(current)
                },
            );
            match written {
                Ok(_) | Err(ClusterError::NotFound { .. } | ClusterError::Conflict { .. }) => {}
                Err(e) => return Err(cluster_error("jobs")(e)),
            }
        }
        Ok(())
    }

    /// Starts the containers of csdr-image pods that have none yet, and stops those whose pod
    /// is gone, being deleted or moved.
    fn run_pods(&self, sim: &SimCluster, report: &mut WorkloadsReport) -> Result<(), SimError> {
        let pods = sim
            .snapshot(&gvr("", "pods"), None)
            .map_err(cluster_error("pods"))?
            .0;
        let nodes: BTreeSet<String> = sim
            .snapshot(&gvr("", "nodes"), None)
            .map_err(cluster_error("nodes"))?
            .0
            .iter()
            .map(|n| n.name().to_string())
            .collect();
        // (uid, node) of every pod whose containers this runtime runs.
        let mut wanted = BTreeMap::new();
        for pod in &pods {
            let (Some(uid), Some(node)) = (text(pod, "/metadata/uid"), text(pod, "/spec/nodeName"))
            else {
                continue;
            };
            let containers = pod
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let ours = !containers.is_empty()
                && containers.iter().all(|c| {
                    c.get("image")
                        .and_then(Value::as_str)
                        .is_some_and(|i| image_is(i, &self.inner.images))
                });
            if !ours
                || !nodes.contains(node)
                || pod.pointer("/metadata/deletionTimestamp").is_some()
            {
                continue;
            }
            wanted.insert(uid.to_string(), node.to_string());
        }
        let gone: Vec<(String, String)> = self
            .containers()
            .iter()
            .filter(|((uid, _), c)| wanted.get(uid) != Some(&c.node))
            .map(|(key, _)| key.clone())
            .collect();
        for key in gone {
            if let Some(container) = self.containers().remove(&key) {
                report.stopped += usize::from(container.child.is_some());
                terminate(container);
            }
        }
        for pod in &pods {
            let Some(uid) = text(pod, "/metadata/uid") else {
                continue;
            };
            let Some(node) = wanted.get(uid) else {
                continue;
            };
            let phase = text(pod, "/status/phase").unwrap_or("Pending");
            let started = self.containers().keys().any(|(u, _)| u == uid);
            if started || phase == "Succeeded" || phase == "Failed" {
                continue;
            }
            self.start_pod(sim, pod, uid, node, report);
        }
        Ok(())
    }

    /// Starts every container of `pod`; a container whose environment cannot be made leaves
    /// the pod Pending with the kubelet's `CreateContainerConfigError` (tried again on the
    /// next sync).
    fn start_pod(
        &self,
        sim: &SimCluster,
        pod: &KubeObject,
        uid: &str,
        node: &str,
        report: &mut WorkloadsReport,
    ) {
        let namespace = pod.namespace().unwrap_or("default").to_string();
        let containers = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut launches = Vec::new();
        for container in &containers {
            let name = container
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("main")
                .to_string();
            match self.launch_of(sim, pod, node, container, &name) {
                Ok(launch) => launches.push((name, container.clone(), launch)),
                Err(message) => {
                    // Tried again on every sync: the status is written once per message, or
                    // each write would trigger the next sync.
                    let shown = pod
                        .pointer("/status/containerStatuses/0/state/waiting/message")
                        .and_then(Value::as_str);
                    if shown == Some(message.as_str()) {
                        return;
                    }
                    let status = json!({
                        "phase": "Pending",
                        "hostIP": "127.0.0.1",
                        "conditions": [condition("PodScheduled", true, &sim.now().to_string())],
                        "containerStatuses": [{
                            "name": name, "ready": false, "restartCount": 0, "started": false,
                            "image": container.get("image").cloned().unwrap_or(Value::Null),
                            "imageID": "",
                            "state": {"waiting": {"reason": "CreateContainerConfigError", "message": message}},
                        }],
                    });
                    write_pod_status(sim, &namespace, pod.name(), uid, status);
                    return;
                }
            }
        }
        let restart_policy = text(pod, "/spec/restartPolicy")
            .unwrap_or("Always")
            .to_string();
        let grace = pod
            .pointer("/spec/terminationGracePeriodSeconds")
            .and_then(Value::as_u64)
            .map_or(MAX_GRACE, |s| Duration::from_secs(s).min(MAX_GRACE));
        let now = sim.now().to_string();
        {
            let mut running = self.containers();
            for (name, spec, launch) in launches {
                let mut container = Container {
                    namespace: namespace.clone(),
                    pod: pod.name().to_string(),
                    node: node.to_string(),
                    image: spec
                        .get("image")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    restart_policy: restart_policy.clone(),
                    grace,
                    launch,
                    child: None,
                    started_at: now.clone(),
                    restarts: 0,
                    last_exit: None,
                    restart_at: None,
                };
                self.spawn(&mut container);
                report.started += 1;
                running.insert((uid.to_string(), name), container);
            }
        }
        self.write_status(sim, uid);
    }

    /// Starts (or restarts) a container's process; a process that cannot start counts as one
    /// that exited with code 128 and a line in its log saying why.
    fn spawn(&self, container: &mut Container) {
        let launch = &container.launch;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&launch.log)
            .and_then(|out| Ok((out.try_clone()?, out)));
        let spawned = log.and_then(|(out, err)| {
            Command::new(&self.inner.program)
                .args(&launch.args)
                .env_clear()
                .envs(launch.env.iter().map(|(k, v)| (k, v)))
                .current_dir(&launch.cwd)
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
        });
        match spawned {
            Ok(child) => container.child = Some(child),
            Err(e) => {
                let _ = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&launch.log)
                    .and_then(|mut f| {
                        use std::io::Write;
                        writeln!(f, "cannot start {}: {e}", self.inner.program.display())
                    });
                container.child = None;
                container.last_exit = Some((
                    128,
                    container.started_at.clone(),
                    container.started_at.clone(),
                ));
                container.restart_at = restart_due(container, 128);
            }
        }
    }

    /// The process a container becomes: its arguments, environment, folder and log.
    fn launch_of(
        &self,
        sim: &SimCluster,
        pod: &KubeObject,
        node: &str,
        container: &Value,
        name: &str,
    ) -> Result<Launch, String> {
        let strings = |field: &str| -> Vec<String> {
            container
                .get(field)
                .and_then(Value::as_array)
                .map(|v| {
                    v.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut args: Vec<String> = strings("command").into_iter().skip(1).collect();
        args.extend(strings("args"));

        let mut env: Vec<(String, String)> = Vec::new();
        if let Ok(path) = std::env::var("PATH") {
            env.push(("PATH".into(), path));
        }
        env.push(("HOSTNAME".into(), pod.name().to_string()));
        env.push(("KUBECONFIG".into(), self.kubeconfig().display().to_string()));
        let namespace = pod.namespace().unwrap_or("default");
        for source in container
            .get("envFrom")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let prefix = source
                .get("prefix")
                .and_then(Value::as_str)
                .unwrap_or_default();
            for (kind, field) in [("secrets", "secretRef"), ("configmaps", "configMapRef")] {
                let Some(reference) = source.get(field) else {
                    continue;
                };
                let optional = reference.get("optional").and_then(Value::as_bool) == Some(true);
                let ref_name = reference
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                match read_data(sim, kind, namespace, ref_name)? {
                    Some(data) => {
                        env.extend(data.into_iter().map(|(k, v)| (format!("{prefix}{k}"), v)));
                    }
                    None if optional => {}
                    None => return Err(format!("{} \"{ref_name}\" not found", singular(kind))),
                }
            }
        }
        for var in container
            .get("env")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let Some(var_name) = var.get("name").and_then(Value::as_str) else {
                continue;
            };
            let value = match (var.get("value"), var.get("valueFrom")) {
                (_, Some(from)) => env_value_from(sim, pod, node, from)?,
                (Some(Value::String(value)), None) => Some(value.clone()),
                _ => Some(String::new()),
            };
            if let Some(value) = value {
                env.retain(|(k, _)| k != var_name);
                env.push((var_name.to_string(), value));
            }
        }
        // hostPath mounts: the container's path becomes the simulated node's folder.
        for (mount_path, host) in self.host_mounts(pod, node, container) {
            for (_, value) in env.iter_mut() {
                if let Some(rest) = value.strip_prefix(mount_path.as_str())
                    && (rest.is_empty() || rest.starts_with('/'))
                {
                    *value = format!("{}{rest}", host.display());
                }
            }
        }
        let io = |path: &Path, action: &'static str| {
            let path = path.to_path_buf();
            move |e: std::io::Error| format!("{}: cannot {action}: {e}", path.display())
        };
        let cwd = self
            .inner
            .kubelet
            .dir()
            .join("nodes")
            .join(node)
            .join("containers")
            .join(format!("{namespace}_{}_{name}", pod.name()));
        std::fs::create_dir_all(&cwd).map_err(io(&cwd, "create folder"))?;
        let log = self.log_path(node, namespace, pod.name(), name);
        if let Some(folder) = log.parent() {
            std::fs::create_dir_all(folder).map_err(io(folder, "create folder"))?;
        }
        Ok(Launch {
            args,
            env,
            cwd,
            log,
        })
    }

    /// The container's hostPath mounts: (mount path, the simulated node's folder).
    fn host_mounts(
        &self,
        pod: &KubeObject,
        node: &str,
        container: &Value,
    ) -> Vec<(String, PathBuf)> {
        let volumes = pod
            .pointer("/spec/volumes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        container
            .get("volumeMounts")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|mount| {
                let name = mount.get("name")?.as_str()?;
                let mount_path = mount.get("mountPath")?.as_str()?.trim_end_matches('/');
                let host = volumes
                    .iter()
                    .find(|v| v.get("name").and_then(Value::as_str) == Some(name))?
                    .pointer("/hostPath/path")?
                    .as_str()?;
                Some((mount_path.to_string(), self.host_path(node, host)))
            })
            .filter(|(mount_path, _)| !mount_path.is_empty())
            .collect()
    }

    /// Where a host path of `node` lives: the kubelet root for `/var/lib/kubelet` and what is
    /// under it, `<dir>/nodes/<node>/host/<path>` for anything else.
    pub fn host_path(&self, node: &str, host: &str) -> PathBuf {
        let host = host.trim_end_matches('/');
        match host.strip_prefix("/var/lib/kubelet") {
            Some("") => self.inner.kubelet.kubelet_root(node),
            Some(rest) if rest.starts_with('/') => self
                .inner
                .kubelet
                .kubelet_root(node)
                .join(rest.trim_start_matches('/')),
            _ => self
                .inner
                .kubelet
                .dir()
                .join("nodes")
                .join(node)
                .join("host")
                .join(host.trim_start_matches('/')),
        }
    }

    /// Checks every container for an exit and starts those whose back-off is over; writes the
    /// status of every pod that changed.
    fn poll_into(&self, sim: &SimCluster, report: &mut WorkloadsReport) {
        let mut changed = BTreeSet::new();
        {
            let mut containers = self.containers();
            let now = Instant::now();
            for ((uid, _), container) in containers.iter_mut() {
                if let Some(child) = container.child.as_mut() {
                    let code = match child.try_wait() {
                        Ok(None) => continue,
                        Ok(Some(status)) => status.code().unwrap_or(137),
                        Err(_) => 137,
                    };
                    container.child = None;
                    container.last_exit =
                        Some((code, container.started_at.clone(), sim.now().to_string()));
                    container.restart_at = restart_due(container, code);
                    changed.insert(uid.clone());
                } else if container.restart_at.is_some_and(|at| at <= now) {
                    container.restarts += 1;
                    container.started_at = sim.now().to_string();
                    container.restart_at = None;
                    self.spawn(container);
                    report.started += 1;
                    changed.insert(uid.clone());
                }
            }
        }
        for uid in changed {
            self.write_status(sim, &uid);
        }
    }

    /// Writes the status of pod `uid` from its containers.
    fn write_status(&self, sim: &SimCluster, uid: &str) {
        let (namespace, pod, status) = {
            let containers = self.containers();
            let mine: Vec<(&String, &Container)> = containers
                .iter()
                .filter(|((u, _), _)| u == uid)
                .map(|((_, name), c)| (name, c))
                .collect();
            let Some((_, first)) = mine.first() else {
                return;
            };
            (
                first.namespace.clone(),
                first.pod.clone(),
                pod_status(&mine, &sim.now().to_string()),
            )
        };
        write_pod_status(sim, &namespace, &pod, uid, status);
    }
}

/// When a container that exited with `code` starts again under its pod's restart policy.
fn restart_due(container: &Container, code: i32) -> Option<Instant> {
    let again = match container.restart_policy.as_str() {
        "Never" => false,
        "OnFailure" => code != 0,
        _ => true,
    };
    again.then(|| {
        let backoff = Duration::from_secs(1u64 << container.restarts.min(5)).min(MAX_BACKOFF);
        Instant::now() + backoff
    })
}

/// Sends SIGTERM, then SIGKILL after the grace period, without blocking the caller.
fn terminate(mut container: Container) {
    let Some(mut child) = container.child.take() else {
        return;
    };
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let grace = container.grace;
    std::thread::spawn(move || {
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    });
}

fn condition(kind: &str, status: bool, at: &str) -> Value {
    json!({"type": kind, "status": if status { "True" } else { "False" }, "lastTransitionTime": at})
}

/// A pod's status from its containers: Running while any runs or will restart; Succeeded or
/// Failed once all exited for good.
fn pod_status(containers: &[(&String, &Container)], now: &str) -> Value {
    let mut statuses = Vec::new();
    let (mut all_ready, mut all_done, mut any_failed) = (true, true, false);
    let mut start_time = None::<String>;
    for (name, c) in containers {
        let terminated = |(code, started, finished): &(i32, String, String)| {
            json!({"terminated": {
                "exitCode": code,
                "reason": if *code == 0 { "Completed" } else { "Error" },
                "startedAt": started,
                "finishedAt": finished,
            }})
        };
        let (state, last_state, ready) = if c.child.is_some() {
            all_done = false;
            let last = c.last_exit.as_ref().map_or(json!({}), terminated);
            (json!({"running": {"startedAt": c.started_at}}), last, true)
        } else if c.restart_at.is_some() {
            all_done = false;
            let last = c.last_exit.as_ref().map_or(json!({}), terminated);
            let message = format!(
                "back-off restarting failed container {name} in pod {}_{}",
                c.pod, c.namespace
            );
            (
                json!({"waiting": {"reason": "CrashLoopBackOff", "message": message}}),
                last,
                false,
            )
        } else {
            let state = c.last_exit.as_ref().map_or(json!({}), terminated);
            any_failed |= c.last_exit.as_ref().is_some_and(|(code, _, _)| *code != 0);
            (state, json!({}), false)
        };
        all_ready &= ready;
        if start_time.as_ref().is_none_or(|t| c.started_at < *t) && c.restarts == 0 {
            start_time = Some(c.started_at.clone());
        }
        statuses.push(json!({
            "name": name,
            "image": c.image,
            "imageID": "",
            "containerID": c.child.as_ref().map(|child| format!("sim://{}", child.id())),
            "ready": ready,
            "started": c.child.is_some(),
            "restartCount": c.restarts,
            "state": state,
            "lastState": last_state,
        }));
    }
    let phase = if !all_done {
        "Running"
    } else if any_failed {
        "Failed"
    } else {
        "Succeeded"
    };
    let ready = all_ready && !all_done;
    json!({
        "phase": phase,
        "hostIP": "127.0.0.1",
        "podIP": "127.0.0.1",
        "podIPs": [{"ip": "127.0.0.1"}],
        "startTime": start_time.unwrap_or_else(|| now.to_string()),
        "conditions": [
            condition("PodScheduled", true, now),
            condition("Initialized", true, now),
            condition("ContainersReady", ready, now),
            condition("Ready", ready, now),
        ],
        "containerStatuses": statuses,
    })
}

/// Writes a pod's status unless the pod is gone or is another pod by now.
fn write_pod_status(sim: &SimCluster, namespace: &str, pod: &str, uid: &str, status: Value) {
    let written = sim.modify(
        &gvr("", "pods"),
        Some(namespace),
        pod,
        &WriteOptions {
            subresource: Subresource::Status,
            ..WriteOptions::default()
        },
        |mut current| {
            if current.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid) {
                return Err(ClusterError::NotFound {
                    what: format!("pod {namespace}/{pod} with uid {uid}"),
                });
            }
            current.fields_mut().insert("status".into(), status);
            Ok(current)
        },
    );
    if let Err(e) = written {
        tracing::debug!(error = %e, pod, namespace, "pod status not written");
    }
}

fn singular(kind: &str) -> &'static str {
    if kind == "secrets" {
        "secret"
    } else {
        "configmap"
    }
}

/// The data of a Secret (decoded) or ConfigMap; `None` when it does not exist.
fn read_data(
    sim: &SimCluster,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<Option<BTreeMap<String, String>>, String> {
    let object = sim
        .get_object(&gvr("", kind), Some(namespace), name)
        .map_err(|e| e.to_string())?;
    let Some(object) = object else {
        return Ok(None);
    };
    let mut out = BTreeMap::new();
    let data = object
        .pointer("/data")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_else(Map::new);
    for (key, value) in data {
        let Some(value) = value.as_str() else {
            continue;
        };
        let value = if kind == "secrets" {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(value)
                .map_err(|e| format!("secret \"{name}\" key {key}: not base64: {e}"))?;
            String::from_utf8(bytes)
                .map_err(|_| format!("secret \"{name}\" key {key}: not UTF-8 text"))?
        } else {
            value.to_string()
        };
        out.insert(key, value);
    }
    if kind == "secrets"
        && let Some(string_data) = object.pointer("/stringData").and_then(Value::as_object)
    {
        for (key, value) in string_data {
            if let Some(value) = value.as_str() {
                out.insert(key.clone(), value.to_string());
            }
        }
    }
    Ok(Some(out))
}

/// An environment value from `valueFrom`; `None` for an optional reference that is missing.
fn env_value_from(
    sim: &SimCluster,
    pod: &KubeObject,
    node: &str,
    from: &Value,
) -> Result<Option<String>, String> {
    if let Some(path) = from.pointer("/fieldRef/fieldPath").and_then(Value::as_str) {
        let bracketed = |prefix: &str| {
            path.strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix("']"))
                .map(String::from)
        };
        let value = match path {
            "metadata.name" => pod.name().to_string(),
            "metadata.namespace" => pod.namespace().unwrap_or("default").to_string(),
            "metadata.uid" => text(pod, "/metadata/uid").unwrap_or_default().to_string(),
            "spec.nodeName" => node.to_string(),
            "spec.serviceAccountName" => text(pod, "/spec/serviceAccountName")
                .unwrap_or("default")
                .to_string(),
            "status.hostIP" | "status.podIP" => "127.0.0.1".to_string(),
            _ => {
                if let Some(key) = bracketed("metadata.labels['") {
                    pod.label(&key).unwrap_or_default().to_string()
                } else if let Some(key) = bracketed("metadata.annotations['") {
                    pod.annotation(&key).unwrap_or_default().to_string()
                } else {
                    return Err(format!(
                        "fieldRef {path}: not served by the simulated kubelet"
                    ));
                }
            }
        };
        return Ok(Some(value));
    }
    for (kind, field) in [
        ("secrets", "secretKeyRef"),
        ("configmaps", "configMapKeyRef"),
    ] {
        let Some(reference) = from.get(field) else {
            continue;
        };
        let name = reference
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let key = reference
            .get("key")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let optional = reference.get("optional").and_then(Value::as_bool) == Some(true);
        let namespace = pod.namespace().unwrap_or("default");
        return match read_data(sim, kind, namespace, name)?.map(|mut d| d.remove(key)) {
            Some(Some(value)) => Ok(Some(value)),
            _ if optional => Ok(None),
            None => Err(format!("{} \"{name}\" not found", singular(kind))),
            Some(None) => Err(format!(
                "couldn't find key {key} in {} {namespace}/{name}",
                if kind == "secrets" {
                    "Secret"
                } else {
                    "ConfigMap"
                }
            )),
        };
    }
    Err("valueFrom: only fieldRef, secretKeyRef and configMapKeyRef are served by the simulated kubelet".into())
}

/// The pod a DaemonSet runs on `node`; `None` when the template is no object.
fn daemon_set_pod(
    ds: &KubeObject,
    uid: &str,
    namespace: &str,
    template: &Value,
    node: &str,
) -> Option<KubeObject> {
    let name = format!("{}-{}", ds.name(), pod_suffix(uid, node));
    owned_pod(ds, uid, namespace, template, node, name, json!({}))
}

/// The `index`th pod of a Job, on `node`, with the Job's labels (`job-name`,
/// `controller-uid` and their `batch.kubernetes.io/` forms).
fn job_pod(
    job: &KubeObject,
    uid: &str,
    namespace: &str,
    template: &Value,
    node: &str,
    index: u64,
) -> Option<KubeObject> {
    let name = format!("{}-{}", job.name(), pod_suffix(uid, &index.to_string()));
    let labels = json!({
        "job-name": job.name(), "controller-uid": uid,
        "batch.kubernetes.io/job-name": job.name(), "batch.kubernetes.io/controller-uid": uid,
    });
    owned_pod(job, uid, namespace, template, node, name, labels)
}

/// A pod from `template` named `name`, controlled by `owner`, bound to `node`, with `labels`
/// added to the template's.
fn owned_pod(
    owner: &KubeObject,
    uid: &str,
    namespace: &str,
    template: &Value,
    node: &str,
    name: String,
    labels: Value,
) -> Option<KubeObject> {
    let mut metadata = template
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    metadata.insert("name".into(), json!(name));
    metadata.insert("namespace".into(), json!(namespace));
    if let Some(extra) = labels.as_object().filter(|l| !l.is_empty()) {
        let all = metadata
            .entry("labels")
            .or_insert_with(|| json!({}))
            .as_object_mut()?;
        all.extend(extra.clone());
    }
    metadata.insert(
        "ownerReferences".into(),
        json!([{
            "apiVersion": owner.api_version(), "kind": owner.kind(), "name": owner.name(),
            "uid": uid, "controller": true, "blockOwnerDeletion": true,
        }]),
    );
    let mut spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
    spec.as_object_mut()?.insert("nodeName".into(), json!(node));
    KubeObject::new(json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}))
        .ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use csdr_core::releases::KubeRelease;

    fn create(sim: &SimCluster, group: &str, resource: &str, value: Value) -> KubeObject {
        sim.create_with(
            &GroupVersionResource::new(group, "v1", resource),
            &KubeObject::new(value).unwrap(),
            &WriteOptions::default(),
        )
        .unwrap()
    }

    fn pods(sim: &SimCluster) -> Vec<KubeObject> {
        sim.snapshot(&gvr("", "pods"), None).unwrap().0
    }

    fn pod(sim: &SimCluster, name: &str) -> KubeObject {
        sim.get_object(&gvr("", "pods"), Some("csdr"), name)
            .unwrap()
            .unwrap()
    }

    /// Polls until `done` holds for pod `name` (10 s at most).
    fn wait_for(
        workloads: &SimWorkloads,
        sim: &SimCluster,
        name: &str,
        done: impl Fn(&KubeObject) -> bool,
    ) -> KubeObject {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            workloads.sync(sim).unwrap();
            let pod = pod(sim, name);
            if done(&pod) {
                return pod;
            }
            assert!(Instant::now() < deadline, "pod {name} stays {pod:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn sim_with_nodes() -> SimCluster {
        let sim = SimCluster::new(KubeRelease::V1_28);
        for name in [
            "node-a",
            "node-b",
            "node-excluded",
            "node-virtual",
            "node-tainted",
        ] {
            sim.add_node(name, "zone-1").unwrap();
        }
        let label = |node: &str, key: &str, value: &str| {
            sim.patch_json(
                &gvr("", "nodes"),
                None,
                node,
                &json!([{"op": "add", "path": "/metadata/labels", "value": {key: value}}]),
            )
            .unwrap();
        };
        label(
            "node-excluded",
            "csdr.alibabacloud.com/agent-excluded",
            "true",
        );
        label("node-virtual", "type", "virtual-kubelet");
        sim.patch_json(
            &gvr("", "nodes"),
            None,
            "node-tainted",
            &json!([{"op": "add", "path": "/spec", "value": {"taints": [{"key": "gpu", "value": "yes", "effect": "NoSchedule"}]}}]),
        )
        .unwrap();
        create(
            &sim,
            "",
            "namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "csdr"}}),
        );
        sim
    }

    /// `csdr install`'s own DaemonSet (exclude policy) gets a pod on every node but the
    /// excluded and the virtual one, tainted nodes included (it tolerates everything); a node
    /// labelled excluded later loses its pod; the DaemonSet's status counts them; deleting
    /// the DaemonSet deletes its pods.
    #[test]
    fn install_daemon_set_runs_one_pod_per_node_the_node_policy_allows() {
        let sim = sim_with_nodes();
        let manifests =
            csdr_kube::controller::install::install_manifests(&Default::default()).unwrap();
        let ds = manifests
            .into_iter()
            .find(|m| m["kind"] == "DaemonSet")
            .unwrap();
        create(&sim, "apps", "daemonsets", ds);
        let dir = tempfile::tempdir().unwrap();
        // No image is run: this test is about scheduling.
        let workloads = SimWorkloads::new(
            SimKubelet::new(dir.path()),
            "/bin/false",
            "http://127.0.0.1:1",
        )
        .with_images(["nothing"]);
        let report = workloads.sync(&sim).unwrap();
        assert_eq!(report.pods_created, 3);
        let on: BTreeSet<String> = pods(&sim)
            .iter()
            .map(|p| text(p, "/spec/nodeName").unwrap().to_string())
            .collect();
        assert_eq!(
            on,
            BTreeSet::from(["node-a".into(), "node-b".into(), "node-tainted".into()])
        );
        for p in pods(&sim) {
            assert!(p.name().starts_with("csdr-node-agent-"), "{}", p.name());
            assert_eq!(p.name().len(), "csdr-node-agent-".len() + 5);
            assert_eq!(p.label("app.kubernetes.io/component"), Some("node-agent"));
        }
        // A second sync changes nothing.
        assert_eq!(workloads.sync(&sim).unwrap().pods_created, 0);
        let ds = sim
            .get_object(
                &GroupVersionResource::new("apps", "v1", "daemonsets"),
                Some("csdr"),
                "csdr-node-agent",
            )
            .unwrap()
            .unwrap();
        assert_eq!(
            ds.pointer("/status/desiredNumberScheduled"),
            Some(&json!(3))
        );
        assert_eq!(ds.pointer("/status/numberReady"), Some(&json!(0)));

        sim.patch_json(
            &gvr("", "nodes"),
            None,
            "node-b",
            &json!([{"op": "add", "path": "/metadata/labels", "value": {"csdr.alibabacloud.com/agent-excluded": "true"}}]),
        )
        .unwrap();
        let report = workloads.sync(&sim).unwrap();
        assert_eq!(report.pods_deleted, 1);
        assert!(
            pods(&sim)
                .iter()
                .all(|p| text(p, "/spec/nodeName") != Some("node-b"))
        );

        sim.delete_with(
            &GroupVersionResource::new("apps", "v1", "daemonsets"),
            Some("csdr"),
            "csdr-node-agent",
            &DeleteOptions::default(),
        )
        .unwrap();
        workloads.sync(&sim).unwrap();
        assert!(pods(&sim).is_empty(), "{:?}", pods(&sim));
    }

    fn sh_pod(sim: &SimCluster, name: &str, script: &str, restart_policy: &str, env: Value) {
        create(
            sim,
            "",
            "pods",
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": "csdr", "labels": {"app": "probe"}},
                "spec": {
                    "nodeName": "node-a",
                    "restartPolicy": restart_policy,
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{
                        "name": "main", "image": "registry.example.com/tools/sh:1.0",
                        "command": ["/bin/sh", "-c", script],
                        "env": env,
                        "volumeMounts": [{"name": "kubelet", "mountPath": "/kubelet"}],
                    }],
                    "volumes": [{"name": "kubelet", "hostPath": {"path": "/var/lib/kubelet"}}],
                },
            }),
        );
    }

    /// A container runs as a process with the pod's environment (field references, a
    /// Secret's key, a hostPath mount path rewritten to the simulated node's folder); with
    /// `restartPolicy: Never` its exit code ends the pod Failed, and its output is in its log.
    #[test]
    fn a_container_runs_as_a_process_with_its_environment_and_its_exit_ends_the_pod() {
        let sim = sim_with_nodes();
        create(
            &sim,
            "",
            "secrets",
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "key", "namespace": "csdr"},
                   "data": {"password": "aHVudGVyMg=="}}),
        );
        let dir = tempfile::tempdir().unwrap();
        let kubelet = SimKubelet::new(dir.path());
        kubelet.sync(&sim).unwrap();
        let workloads =
            SimWorkloads::new(kubelet.clone(), "/bin/sh", "http://127.0.0.1:1").with_images(["sh"]);
        sh_pod(
            &sim,
            "probe",
            r#"echo "$NODE $POD $PASSWORD $KUBELET_ROOT_PATH $KUBECONFIG" > "$KUBELET_ROOT_PATH/seen"; echo done; exit 3"#,
            "Never",
            json!([
                {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "key", "key": "password"}}},
                {"name": "KUBELET_ROOT_PATH", "value": "/kubelet"},
            ]),
        );
        let ended = wait_for(&workloads, &sim, "probe", |p| {
            text(p, "/status/phase") == Some("Failed")
        });
        assert_eq!(
            ended.pointer("/status/containerStatuses/0/state/terminated/exitCode"),
            Some(&json!(3))
        );
        let root = kubelet.kubelet_root("node-a");
        let seen = std::fs::read_to_string(root.join("seen")).unwrap();
        assert_eq!(
            seen.trim(),
            format!(
                "node-a probe hunter2 {} {}",
                root.display(),
                workloads.kubeconfig().display()
            )
        );
        assert!(
            std::fs::read_to_string(workloads.kubeconfig())
                .unwrap()
                .contains("server: 'http://127.0.0.1:1'")
        );
        let log =
            std::fs::read_to_string(workloads.log_path("node-a", "csdr", "probe", "main")).unwrap();
        assert_eq!(log, "done\n");
        // A finished pod is not started again.
        assert_eq!(workloads.sync(&sim).unwrap().started, 0);
    }

    /// With `restartPolicy: Always` a container that exits waits in CrashLoopBackOff and starts
    /// again, counting restarts; a missing Secret leaves the pod Pending with the kubelet's
    /// CreateContainerConfigError naming it.
    #[test]
    fn exited_containers_restart_with_back_off_and_a_missing_secret_keeps_the_pod_pending() {
        let sim = sim_with_nodes();
        let dir = tempfile::tempdir().unwrap();
        let kubelet = SimKubelet::new(dir.path());
        kubelet.sync(&sim).unwrap();
        let workloads =
            SimWorkloads::new(kubelet, "/bin/sh", "http://127.0.0.1:1").with_images(["sh"]);
        sh_pod(&sim, "crash", "exit 1", "Always", json!([]));
        let waiting = wait_for(&workloads, &sim, "crash", |p| {
            text(p, "/status/containerStatuses/0/state/waiting/reason") == Some("CrashLoopBackOff")
        });
        assert_eq!(text(&waiting, "/status/phase"), Some("Running"));
        assert_eq!(
            waiting.pointer("/status/containerStatuses/0/lastState/terminated/exitCode"),
            Some(&json!(1))
        );
        wait_for(&workloads, &sim, "crash", |p| {
            p.pointer("/status/containerStatuses/0/restartCount")
                .and_then(Value::as_u64)
                .is_some_and(|n| n >= 1)
        });

        sh_pod(
            &sim,
            "no-secret",
            "exit 0",
            "Never",
            json!([{"name": "P", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k"}}}]),
        );
        let pending = wait_for(&workloads, &sim, "no-secret", |p| {
            p.pointer("/status/containerStatuses").is_some()
        });
        assert_eq!(text(&pending, "/status/phase"), Some("Pending"));
        assert_eq!(
            text(&pending, "/status/containerStatuses/0/state/waiting/reason"),
            Some("CreateContainerConfigError")
        );
        assert_eq!(
            text(
                &pending,
                "/status/containerStatuses/0/state/waiting/message"
            ),
            Some("secret \"absent\" not found")
        );
        // Retried on every sync, the unchanged status is not written again.
        let version = text(&pending, "/metadata/resourceVersion").map(String::from);
        workloads.sync(&sim).unwrap();
        workloads.sync(&sim).unwrap();
        assert_eq!(
            text(&pod(&sim, "no-secret"), "/metadata/resourceVersion").map(String::from),
            version
        );
    }

    /// Deleting a pod stops its process (SIGTERM), as the kubelet does.
    #[test]
    fn deleting_a_pod_stops_its_process() {
        let sim = sim_with_nodes();
        let dir = tempfile::tempdir().unwrap();
        let kubelet = SimKubelet::new(dir.path());
        kubelet.sync(&sim).unwrap();
        let workloads =
            SimWorkloads::new(kubelet.clone(), "/bin/sh", "http://127.0.0.1:1").with_images(["sh"]);
        sh_pod(
            &sim,
            "sleeper",
            r#"trap 'echo stopped > "$KUBELET_ROOT_PATH/term"; exit 0' TERM; echo $$ > "$KUBELET_ROOT_PATH/pid"; while true; do sleep 0.1; done"#,
            "Always",
            json!([{"name": "KUBELET_ROOT_PATH", "value": "/kubelet"}]),
        );
        let running = wait_for(&workloads, &sim, "sleeper", |p| {
            p.pointer("/status/containerStatuses/0/ready") == Some(&json!(true))
        });
        assert_eq!(text(&running, "/status/phase"), Some("Running"));
        assert_eq!(workloads.running(), 1);
        // The script has set its trap once it has written its pid: a SIGTERM before that
        // would end the shell without it (a race on a loaded machine, not what is tested).
        let pid = kubelet.kubelet_root("node-a").join("pid");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pid.exists() {
            assert!(
                Instant::now() < deadline,
                "the process never started its loop"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        sim.delete_with(
            &gvr("", "pods"),
            Some("csdr"),
            "sleeper",
            &DeleteOptions::default(),
        )
        .unwrap();
        let report = workloads.sync(&sim).unwrap();
        assert_eq!(report.stopped, 1);
        assert_eq!(workloads.running(), 0);
        let term = kubelet.kubelet_root("node-a").join("term");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !term.exists() {
            assert!(Instant::now() < deadline, "the process got no SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn job(sim: &SimCluster, name: &str, script: &str, completions: u64, backoff_limit: u64) {
        create(
            sim,
            "batch",
            "jobs",
            json!({
                "apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": name, "namespace": "csdr"},
                "spec": {
                    "completions": completions, "backoffLimit": backoff_limit,
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "main", "image": "sh",
                                            "command": ["sh", "-c", script]}],
                        },
                    },
                },
            }),
        );
    }

    fn job_status(sim: &SimCluster, name: &str) -> KubeObject {
        sim.get_object(
            &GroupVersionResource::new("batch", "v1", "jobs"),
            Some("csdr"),
            name,
        )
        .unwrap()
        .unwrap()
    }

    /// Polls until Job `name` has a condition (10 s at most).
    fn wait_for_job(workloads: &SimWorkloads, sim: &SimCluster, name: &str) -> KubeObject {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            workloads.sync(sim).unwrap();
            let job = job_status(sim, name);
            if job.pointer("/status/conditions/0/type").is_some() {
                return job;
            }
            assert!(Instant::now() < deadline, "job {name} stays {job:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A Job's pods run one after another on a schedulable node (not the excluded-by-taint
    /// one) until `completions` succeeded: `Complete`, with its counts; a Job whose pods fail
    /// stops after `backoffLimit` + 1 failures: `Failed`, `BackoffLimitExceeded`.
    #[test]
    fn jobs_run_their_pods_to_completion_or_to_the_backoff_limit() {
        let sim = sim_with_nodes();
        let dir = tempfile::tempdir().unwrap();
        let kubelet = SimKubelet::new(dir.path());
        kubelet.sync(&sim).unwrap();
        let workloads =
            SimWorkloads::new(kubelet, "/bin/sh", "http://127.0.0.1:1").with_images(["sh"]);

        job(&sim, "twice", "echo $HOSTNAME", 2, 6);
        let done = wait_for_job(&workloads, &sim, "twice");
        assert_eq!(text(&done, "/status/conditions/0/type"), Some("Complete"));
        assert_eq!(done.pointer("/status/succeeded"), Some(&json!(2)));
        assert_eq!(done.pointer("/status/failed"), Some(&json!(0)));
        assert!(done.pointer("/status/completionTime").is_some());
        let mine: Vec<KubeObject> = pods(&sim)
            .into_iter()
            .filter(|p| p.label("job-name") == Some("twice"))
            .collect();
        assert_eq!(mine.len(), 2);
        for pod in &mine {
            assert_eq!(text(pod, "/status/phase"), Some("Succeeded"));
            assert_eq!(pod.label("app"), Some("twice"));
            assert_ne!(text(pod, "/spec/nodeName"), Some("node-tainted"));
            let log = std::fs::read_to_string(workloads.log_path(
                text(pod, "/spec/nodeName").unwrap(),
                "csdr",
                pod.name(),
                "main",
            ))
            .unwrap();
            assert_eq!(log.trim(), pod.name());
        }

        job(&sim, "broken", "exit 4", 1, 1);
        let failed = wait_for_job(&workloads, &sim, "broken");
        assert_eq!(text(&failed, "/status/conditions/0/type"), Some("Failed"));
        assert_eq!(
            text(&failed, "/status/conditions/0/reason"),
            Some("BackoffLimitExceeded")
        );
        assert_eq!(failed.pointer("/status/failed"), Some(&json!(2)));
        // A finished Job gets no more pods.
        assert_eq!(workloads.sync(&sim).unwrap().job_pods_created, 0);
    }

    /// Processes run in folders of their own: a relative kubelet folder or program path is
    /// made absolute up front, a bare program name is left for PATH.
    #[test]
    fn relative_paths_are_made_absolute() {
        let workloads = SimWorkloads::new(SimKubelet::new("kubelets"), "target/csdr", "http://x");
        assert!(workloads.kubeconfig().is_absolute());
        assert!(
            workloads
                .host_path("node-a", "/var/lib/kubelet")
                .is_absolute()
        );
        assert!(workloads.inner.program.is_absolute());
        let bare = SimWorkloads::new(SimKubelet::new("/k"), "csdr", "http://x");
        assert_eq!(bare.inner.program, PathBuf::from("csdr"));
        assert_eq!(
            bare.host_path("node-a", "/var/lib/kubelet/pods"),
            PathBuf::from("/k/nodes/node-a/kubelet/pods")
        );
        assert_eq!(
            bare.host_path("node-a", "/var/log"),
            PathBuf::from("/k/nodes/node-a/host/var/log")
        );
    }

    #[test]
    fn image_names_match_any_registry_and_tag() {
        let names = vec!["csdr".to_string()];
        for image in [
            "csdr",
            "csdr:latest",
            "registry.example.com/team/csdr:0.1.0",
            "csdr@sha256:ab",
        ] {
            assert!(image_is(image, &names), "{image}");
        }
        for image in [
            "csdr-tools",
            "nginx",
            "csdr/nginx:1.0",
            "localhost:5000/other",
        ] {
            assert!(!image_is(image, &names), "{image}");
        }
    }
}
