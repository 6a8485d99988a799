//! `kubectl` (the real one) against the HTTP `ApiServer`: the lifecycle commands — `scale`,
//! `apply --server-side` and its conflicts, `create --dry-run=server`, and `delete` of an
//! object held by a finalizer. Skipped, saying why, only when no `kubectl` is installed.
//!
//! Manifests are sent with `-f` (JSON bodies); kubectl validates them with the simulator's
//! OpenAPI documents, as it does against a real server.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

mod support;

use std::path::Path;

use csdr_core::releases::KubeRelease;
use csdr_kube::testing::ApiServer;
use serde_json::Value;
use support::kubectl::Kubectl;

fn write(path: &str, text: &str) {
    std::fs::write(Path::new(path), text).unwrap();
}

const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default, labels: {app: web}}
spec:
  replicas: REPLICAS
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: nginx}
";

async fn scale_on(release: KubeRelease) {
    let server = ApiServer::start(support::sim(release)).await.unwrap();
    let Some(kubectl) = Kubectl::find(&server) else {
        return;
    };
    let manifest = kubectl.path("web.yaml");
    write(&manifest, &DEPLOYMENT.replace("REPLICAS", "1"));
    kubectl.ok(&["create", "-f", &manifest]);
    let scaled = kubectl.ok(&["scale", "deployment", "web", "--replicas=3"]);
    assert!(scaled.contains("deployment.apps/web scaled"), "{scaled}");
    let web = kubectl.json(&["get", "deployment", "web", "-o", "json"]);
    assert_eq!(web["spec"]["replicas"], 3);
    assert_eq!(web["metadata"]["generation"], 2);
    // A precondition on the current replicas that no longer holds is refused.
    let refused = kubectl.fails(&[
        "scale",
        "deployment",
        "web",
        "--current-replicas=1",
        "--replicas=5",
    ]);
    assert!(
        refused.contains("Expected replicas to be 1, was 3"),
        "{refused}"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_scales_a_deployment_on_1_16() {
    scale_on(KubeRelease::V1_16).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_scales_a_deployment_on_1_28() {
    scale_on(KubeRelease::V1_28).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_server_side_with_field_managers_and_conflicts() {
    let server = ApiServer::start(support::sim(KubeRelease::V1_28))
        .await
        .unwrap();
    let Some(kubectl) = Kubectl::find(&server) else {
        return;
    };
    let manifest = kubectl.path("web.yaml");
    write(&manifest, &DEPLOYMENT.replace("REPLICAS", "2"));
    let applied = kubectl.ok(&["apply", "--server-side", "-f", &manifest]);
    assert!(
        applied.contains("deployment.apps/web serverside-applied"),
        "{applied}"
    );
    let web = kubectl.json(&[
        "get",
        "deployment",
        "web",
        "-o",
        "json",
        "--show-managed-fields",
    ]);
    assert_eq!(web["spec"]["replicas"], 2);
    let managers = web["metadata"]["managedFields"].as_array().unwrap();
    assert!(
        managers.iter().any(|m| m["manager"] == "kubectl"
            && m["operation"] == "Apply"
            && m["fieldsV1"]["f:spec"]["f:replicas"] == serde_json::json!({})),
        "{managers:?}"
    );

    // kubectl scale (an Update manager) takes spec.replicas; applying another value
    // conflicts until forced.
    kubectl.ok(&["scale", "deployment", "web", "--replicas=5"]);
    write(&manifest, &DEPLOYMENT.replace("REPLICAS", "3"));
    let conflict = kubectl.fails(&["apply", "--server-side", "-f", &manifest]);
    // The manager of `kubectl scale` is named after kubectl's User-Agent (`kubectl`), or
    // `kubectl-scale` where kubectl sends one.
    assert!(
        conflict.contains("Apply failed with 1 conflict: conflict with \"kubectl")
            && conflict.contains("using apps/v1: .spec.replicas"),
        "{conflict}"
    );
    kubectl.ok(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        &manifest,
    ]);
    let web = kubectl.json(&["get", "deployment", "web", "-o", "json"]);
    assert_eq!(web["spec"]["replicas"], 3);

    // A label the manager stops applying is removed.
    write(
        &manifest,
        &DEPLOYMENT
            .replace("REPLICAS", "3")
            .replace("labels: {app: web}}", "labels: {app: web, tier: front}}"),
    );
    kubectl.ok(&["apply", "--server-side", "-f", &manifest]);
    let web = kubectl.json(&["get", "deployment", "web", "-o", "json"]);
    assert_eq!(web["metadata"]["labels"]["tier"], "front");
    write(&manifest, &DEPLOYMENT.replace("REPLICAS", "3"));
    kubectl.ok(&["apply", "--server-side", "-f", &manifest]);
    let web = kubectl.json(&["get", "deployment", "web", "-o", "json"]);
    assert_eq!(web["metadata"]["labels"], serde_json::json!({"app": "web"}));
    server.shutdown().await.unwrap();
}

const HELD: &str = "\
apiVersion: v1
kind: ConfigMap
metadata: {name: held, namespace: default, finalizers: [example.com/keep]}
data: {a: \"1\"}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_server_dry_run_creates_nothing() {
    let server = ApiServer::start(support::sim(KubeRelease::V1_28))
        .await
        .unwrap();
    let Some(kubectl) = Kubectl::find(&server) else {
        return;
    };
    let manifest = kubectl.path("held.yaml");
    write(&manifest, HELD);
    let version = server.sim().resource_version();
    let would_be = kubectl.ok(&["create", "--dry-run=server", "-o", "json", "-f", &manifest]);
    let would_be: Value = serde_json::from_str(&would_be).unwrap();
    assert_eq!(would_be["metadata"]["name"], "held");
    assert!(would_be["metadata"]["uid"].is_string(), "{would_be}");
    assert!(
        would_be["metadata"]["creationTimestamp"].is_string(),
        "{would_be}"
    );
    let missing = kubectl.fails(&["get", "configmap", "held"]);
    assert!(
        missing.contains("configmaps \"held\" not found"),
        "{missing}"
    );
    assert_eq!(server.sim().resource_version(), version);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_delete_waits_for_the_finalizer() {
    let server = ApiServer::start(support::sim(KubeRelease::V1_28))
        .await
        .unwrap();
    let Some(kubectl) = Kubectl::find(&server) else {
        return;
    };
    let manifest = kubectl.path("held.yaml");
    write(&manifest, HELD);
    kubectl.ok(&["create", "-f", &manifest]);
    let deleted = kubectl.ok(&["delete", "configmap", "held", "--wait=false"]);
    assert!(deleted.contains("configmap \"held\" deleted"), "{deleted}");
    let held = kubectl.json(&["get", "configmap", "held", "-o", "json"]);
    assert!(held["metadata"]["deletionTimestamp"].is_string(), "{held}");
    assert_eq!(
        held["metadata"]["finalizers"],
        serde_json::json!(["example.com/keep"])
    );
    kubectl.ok(&[
        "patch",
        "configmap",
        "held",
        "--type=json",
        "-p",
        r#"[{"op": "remove", "path": "/metadata/finalizers"}]"#,
    ]);
    let missing = kubectl.fails(&["get", "configmap", "held"]);
    assert!(
        missing.contains("configmaps \"held\" not found"),
        "{missing}"
    );
    server.shutdown().await.unwrap();
}
