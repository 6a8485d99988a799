//! `kubectl` (the real one) against the HTTP `ApiServer`. Skipped, saying why, only when no
//! `kubectl` is installed.

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

const MANIFEST: &str = "\
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:IMAGE
        ports: [{containerPort: 80}]
      - name: sidecar
        image: envoy:1
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop, labels: {app: web}}
data: {mode: fast}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: other, namespace: shop, labels: {app: db}}
data: {mode: slow}
";

fn lines_with<'a>(text: &'a str, first_column: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| l.split_whitespace().next() == Some(first_column))
        .collect()
}

// Several worker threads: kubectl blocks one while the server answers on another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_discovers_a_1_16_cluster() {
    let server = ApiServer::start(support::sim(KubeRelease::V1_16))
        .await
        .unwrap();
    let Some(kubectl) = Kubectl::find(&server) else {
        return;
    };
    let versions = kubectl.ok(&["api-versions"]);
    let versions: Vec<&str> = versions.lines().collect();
    for gv in [
        "apps/v1",
        "apps/v1beta1",
        "apps/v1beta2",
        "extensions/v1beta1",
        "v1",
    ] {
        assert!(versions.contains(&gv), "{gv} missing from {versions:?}");
    }

    let resources = kubectl.ok(&["api-resources"]);
    let header = resources.lines().next().unwrap();
    assert!(
        header.contains("SHORTNAMES") && header.contains("NAMESPACED"),
        "{header}"
    );
    let deployments = lines_with(&resources, "deployments");
    assert!(
        deployments.iter().any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols == ["deployments", "deploy", "apps/v1", "true", "Deployment"]
        }),
        "{deployments:?}"
    );
    let namespaces: Vec<Vec<&str>> = lines_with(&resources, "namespaces")
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        namespaces,
        [["namespaces", "ns", "v1", "false", "Namespace"]]
    );

    let version = kubectl.ok(&["version", "-o", "json"]);
    let version: Value = serde_json::from_str(&version).unwrap();
    assert_eq!(version["serverVersion"]["gitVersion"], "v1.16.0");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_reads_at_every_version_and_deletes() {
    let server = ApiServer::start(support::sim(KubeRelease::V1_16))
        .await
        .unwrap();
    let Some(kubectl) = Kubectl::find(&server) else {
        return;
    };
    let manifest = kubectl.path("app.yaml");
    write(&manifest, &MANIFEST.replace("IMAGE", "1.0"));
    let created = kubectl.ok(&["apply", "-f", &manifest]);
    assert!(created.contains("namespace/shop created"), "{created}");
    assert!(created.contains("deployment.apps/web created"), "{created}");
    assert!(created.contains("configmap/settings created"), "{created}");

    let all = kubectl.json(&["get", "deployments", "-A", "-o", "json"]);
    let items = all["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["apiVersion"], "apps/v1");
    assert_eq!(items[0]["kind"], "Deployment");
    assert_eq!(items[0]["metadata"]["namespace"], "shop");

    // The same object at another version the 1.16 profile serves.
    let beta2 = kubectl.json(&[
        "get",
        "deployments.v1beta2.apps",
        "-n",
        "shop",
        "-o",
        "json",
    ]);
    assert_eq!(beta2["items"][0]["apiVersion"], "apps/v1beta2");
    assert_eq!(beta2["items"][0]["metadata"]["name"], "web");
    let ext = kubectl.json(&[
        "get",
        "deployments.v1beta1.extensions",
        "web",
        "-n",
        "shop",
        "-o",
        "json",
    ]);
    assert_eq!(ext["apiVersion"], "extensions/v1beta1");

    // A second apply updates in place (strategic merge patch by container name).
    write(&manifest, &MANIFEST.replace("IMAGE", "2.0"));
    let configured = kubectl.ok(&["apply", "-f", &manifest]);
    assert!(
        configured.contains("deployment.apps/web configured"),
        "{configured}"
    );
    assert!(
        configured.contains("configmap/settings unchanged"),
        "{configured}"
    );
    let images = kubectl.ok(&[
        "get",
        "deployment",
        "web",
        "-n",
        "shop",
        "-o",
        "jsonpath={.spec.template.spec.containers[*].image}",
    ]);
    assert_eq!(images, "nginx:2.0 envoy:1");

    let labelled = kubectl.ok(&[
        "get",
        "configmaps,deployments",
        "-n",
        "shop",
        "-l",
        "app=web",
        "-o",
        "name",
    ]);
    let mut labelled: Vec<&str> = labelled.lines().collect();
    labelled.sort();
    assert_eq!(labelled, ["configmap/settings", "deployment.apps/web"]);
    let table = kubectl.ok(&["get", "configmaps", "-n", "shop", "-l", "app=db"]);
    assert!(table.lines().any(|l| l.starts_with("other ")), "{table}");
    assert!(!table.contains("settings"), "{table}");

    kubectl.ok(&["label", "configmap", "other", "-n", "shop", "tier=cold"]);
    let cold = kubectl.json(&["get", "configmap", "other", "-n", "shop", "-o", "json"]);
    assert_eq!(cold["metadata"]["labels"]["tier"], "cold");
    kubectl.ok(&[
        "patch",
        "configmap",
        "other",
        "-n",
        "shop",
        "--type",
        "json",
        "-p",
        r#"[{"op": "replace", "path": "/data/mode", "value": "warm"}]"#,
    ]);
    kubectl.ok(&[
        "patch",
        "configmap",
        "other",
        "-n",
        "shop",
        "--type",
        "merge",
        "-p",
        r#"{"data": {"extra": "1"}}"#,
    ]);
    let patched = kubectl.json(&["get", "configmap", "other", "-n", "shop", "-o", "json"]);
    assert_eq!(
        patched["data"],
        serde_json::json!({"mode": "warm", "extra": "1"})
    );

    let waited = kubectl.ok(&[
        "wait",
        "--for=jsonpath={.status.phase}=Active",
        "namespace/shop",
        "--timeout=10s",
    ]);
    assert!(waited.contains("namespace/shop condition met"), "{waited}");

    let deleted = kubectl.ok(&["delete", "deployment", "web", "-n", "shop"]);
    assert!(
        deleted.contains("deployment.apps \"web\" deleted"),
        "{deleted}"
    );
    let missing = kubectl.fails(&["get", "deployment", "web", "-n", "shop"]);
    assert!(
        missing.contains("Error from server (NotFound): deployments.apps \"web\" not found"),
        "{missing}"
    );
    let gone = kubectl.ok(&["delete", "-f", &manifest, "--ignore-not-found"]);
    assert!(gone.contains("namespace \"shop\" deleted"), "{gone}");
    let none = kubectl.ok(&["get", "configmaps", "-A", "-o", "name"]);
    assert!(none.trim().is_empty(), "{none}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_sees_what_a_1_28_cluster_serves() {
    let server = ApiServer::start(support::sim(KubeRelease::V1_28))
        .await
        .unwrap();
    let Some(kubectl) = Kubectl::find(&server) else {
        return;
    };
    let versions = kubectl.ok(&["api-versions"]);
    assert!(versions.lines().any(|l| l == "apps/v1"));
    assert!(
        !versions.lines().any(|l| l == "extensions/v1beta1"),
        "{versions}"
    );
    let err = kubectl.fails(&["get", "deployments.v1beta2.apps"]);
    assert!(
        err.contains("the server doesn't have a resource type"),
        "{err}"
    );
    server.shutdown().await.unwrap();
}
