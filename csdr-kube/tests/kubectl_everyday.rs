//! The everyday `kubectl` commands a user runs on a migrated application — `label`, `annotate`,
//! `patch` (merge, JSON and strategic), `edit` through `KUBE_EDITOR`, `wait --for=condition`,
//! `delete` — against the HTTP `ApiServer` on the 1.16 and 1.28 profiles, each asserting the
//! resulting object. Skipped, saying why, only when no `kubectl` is installed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use csdr_core::releases::KubeRelease;
use csdr_kube::testing::ApiServer;
use serde_json::{Value, json};
use support::kubectl::Kubectl;

const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: 'nginx:1.25'}
      - {name: sidecar, image: 'busybox:1.36'}
";

async fn with_deployment(release: KubeRelease) -> Option<(ApiServer, Kubectl)> {
    let server = ApiServer::start(support::sim(release)).await.unwrap();
    let kubectl = Kubectl::find(&server)?;
    let file = kubectl.file("web.yaml", DEPLOYMENT);
    kubectl.ok(&["apply", "-f", &file]);
    Some((server, kubectl))
}

fn deployment(kubectl: &Kubectl) -> Value {
    kubectl.json(&["get", "deployment", "web", "-o", "json"])
}

async fn label_annotate_and_patch(release: KubeRelease) {
    let Some((server, kubectl)) = with_deployment(release).await else {
        return;
    };
    kubectl.ok(&["label", "deployment", "web", "tier=front"]);
    kubectl.ok(&["annotate", "deployment", "web", "example.com/owner=team-a"]);
    let d = deployment(&kubectl);
    assert_eq!(
        d["metadata"]["labels"],
        json!({"app": "web", "tier": "front"})
    );
    assert_eq!(d["metadata"]["annotations"]["example.com/owner"], "team-a");
    // Changing a label without --overwrite is refused, as by a real server's kubectl.
    let err = kubectl.fails(&["label", "deployment", "web", "tier=back"]);
    assert!(err.contains("already has a value"), "{err}");
    kubectl.ok(&["label", "deployment", "web", "tier-"]);
    assert_eq!(
        deployment(&kubectl)["metadata"]["labels"],
        json!({"app": "web"})
    );
    let generation = deployment(&kubectl)["metadata"]["generation"]
        .as_i64()
        .unwrap();

    kubectl.ok(&[
        "patch",
        "deployment",
        "web",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"replicas":4}}"#,
    ]);
    let d = deployment(&kubectl);
    assert_eq!(d["spec"]["replicas"], 4);
    assert_eq!(d["metadata"]["generation"], generation + 1);

    let ops = r#"[{"op":"replace","path":"/spec/replicas","value":3},{"op":"add","path":"/metadata/labels/patched","value":"json"}]"#;
    kubectl.ok(&["patch", "deployment", "web", "--type", "json", "-p", ops]);
    let d = deployment(&kubectl);
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(d["metadata"]["labels"]["patched"], "json");

    // A strategic merge patch merges the container list by name: the sidecar stays.
    let strategic =
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.27"}]}}}}"#;
    kubectl.ok(&[
        "patch",
        "deployment",
        "web",
        "--type",
        "strategic",
        "-p",
        strategic,
    ]);
    let containers = deployment(&kubectl)["spec"]["template"]["spec"]["containers"].clone();
    assert_eq!(
        containers,
        json!([{"name": "web", "image": "nginx:1.27"}, {"name": "sidecar", "image": "busybox:1.36"}])
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_labels_annotates_and_patches_on_1_16() {
    label_annotate_and_patch(KubeRelease::V1_16).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_labels_annotates_and_patches_on_1_28() {
    label_annotate_and_patch(KubeRelease::V1_28).await;
}

async fn edit_then_delete(release: KubeRelease) {
    let Some((server, kubectl)) = with_deployment(release).await else {
        return;
    };
    // kubectl edit writes the object to a file and runs $KUBE_EDITOR on it.
    let editor = kubectl.file(
        "editor.sh",
        "#!/bin/sh\nsed -i 's/replicas: 2/replicas: 5/' \"$1\"\n",
    );
    Command::new("chmod")
        .args(["+x", &editor])
        .status()
        .unwrap();
    let out = kubectl.run_with_env(&["edit", "deployment", "web"], &[("KUBE_EDITOR", &editor)]);
    assert!(
        out.status.success(),
        "kubectl edit failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("deployment.apps/web edited"));
    assert_eq!(deployment(&kubectl)["spec"]["replicas"], 5);

    // Deleting an object without finalizers removes it at once.
    let out = kubectl.ok(&["delete", "deployment", "web"]);
    assert!(out.contains("deployment.apps \"web\" deleted"), "{out}");
    let err = kubectl.fails(&["get", "deployment", "web"]);
    assert!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_edits_and_deletes_on_1_16() {
    edit_then_delete(KubeRelease::V1_16).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_edits_and_deletes_on_1_28() {
    edit_then_delete(KubeRelease::V1_28).await;
}

const POD: &str = "\
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: default}
spec:
  containers:
  - {name: main, image: 'nginx:1.25'}
";

/// `kubectl wait --for=condition=Ready` returns once a status write sets the condition.
async fn wait_for_condition(release: KubeRelease) {
    let server = ApiServer::start(support::sim(release)).await.unwrap();
    let Some(kubectl) = Kubectl::find(&server) else {
        return;
    };
    let file = kubectl.file("pod.yaml", POD);
    kubectl.ok(&["apply", "-f", &file]);
    let kubeconfig = kubectl.path("kubeconfig");
    let home = kubectl.path("");
    let mut wait = Command::new("kubectl")
        .args([
            "--server",
            &server.url(),
            "wait",
            "--for=condition=Ready",
            "pod/p",
            "--timeout=30s",
        ])
        .env("HOME", &home)
        .env("KUBECONFIG", &kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Not ready yet: the wait is still running.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        wait.try_wait().unwrap().is_none(),
        "kubectl wait returned before the condition"
    );
    let status =
        r#"{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}"#;
    kubectl.ok(&[
        "patch",
        "pod",
        "p",
        "--subresource=status",
        "--type",
        "merge",
        "-p",
        status,
    ]);
    let started = Instant::now();
    let out = wait.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kubectl wait failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("pod/p condition met"));
    assert!(started.elapsed() < Duration::from_secs(20));
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_waits_for_a_condition_on_1_16() {
    wait_for_condition(KubeRelease::V1_16).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_waits_for_a_condition_on_1_28() {
    wait_for_condition(KubeRelease::V1_28).await;
}

/// Logs kept per (pod, container), as a kubelet keeps them.
struct FixedLogs;

impl csdr_kube::testing::PodLogs for FixedLogs {
    fn log(&self, pod: &csdr_core::object::KubeObject, container: &str) -> Option<String> {
        (pod.name() == "talker" && container != "quiet")
            .then(|| format!("{container}: one\n{container}: two\n{container}: three\n"))
    }
}

/// `kubectl logs` reads a container's output through `…/pods/<name>/log` from where the
/// server keeps it: the only container by default, `-c` to choose, `--tail` for the last
/// lines; a pod with several containers and no `-c`, an unknown container and one that has
/// written nothing get the API server's errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_logs_reads_a_containers_output() {
    let server = ApiServer::start(support::sim(KubeRelease::V1_28))
        .await
        .unwrap();
    let Some(kubectl) = Kubectl::find(&server) else {
        return;
    };
    server.serve_pod_logs(std::sync::Arc::new(FixedLogs));
    kubectl.create(
        "apiVersion: v1
kind: Pod
metadata: {name: talker, namespace: default}
spec:
  containers: [{name: main, image: csdr}]
---
apiVersion: v1
kind: Pod
metadata: {name: pair, namespace: default}
spec:
  containers: [{name: main, image: csdr}, {name: quiet, image: csdr}]
",
    );
    assert_eq!(
        kubectl.ok(&["logs", "talker"]),
        "main: one\nmain: two\nmain: three\n"
    );
    assert_eq!(
        kubectl.ok(&["logs", "talker", "--tail", "1"]),
        "main: three\n"
    );
    // kubectl picks the first container itself; the API server asked without one refuses.
    let defaulted = kubectl.fails(&["logs", "pair"]);
    assert!(
        defaulted.contains("Defaulted container \"main\"")
            && defaulted.contains("container \"main\" in pod \"pair\" is waiting to start"),
        "{defaulted}"
    );
    let several = kubectl.fails(&["get", "--raw", "/api/v1/namespaces/default/pods/pair/log"]);
    assert!(
        several.contains(
            "a container name must be specified for pod pair, choose one of: [main quiet]"
        ),
        "{several}"
    );
    let unknown = kubectl.fails(&["logs", "talker", "-c", "nope"]);
    assert!(
        unknown.contains("container nope is not valid for pod talker"),
        "{unknown}"
    );
    let quiet = kubectl.fails(&["logs", "pair", "-c", "quiet"]);
    assert!(quiet.contains("is waiting to start"), "{quiet}");
    assert!(
        kubectl.fails(&["logs", "absent"]).contains("not found"),
        "a missing pod is NotFound"
    );
}
