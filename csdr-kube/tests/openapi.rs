//! The OpenAPI documents of the HTTP `ApiServer` and the field validation they drive: the real
//! `kubectl` applies, merges, explains and validates against 1.16, 1.20, 1.22–1.28 clusters
//! (1.23–1.27 each with a field only its official document describes; the kubectl tests are
//! skipped, saying why, only when no `kubectl` is installed), and the documents of every release
//! parse and reference only what they contain.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

mod support;

use std::collections::BTreeSet;

use csdr_core::object::{GroupVersionResource, KubeObject};
use csdr_core::ports::cluster::Cluster;
use csdr_core::releases::KubeRelease;
use csdr_core::sim::SimCluster;
use csdr_kube::testing::ApiServer;
use csdr_kube::testing::openapi::{self, fields};
use serde_json::{Value, json};
use support::kubectl::Kubectl;

const NAMESPACE: &str = "\
apiVersion: v1
kind: Namespace
metadata:
  name: shop
";

fn deployment(web_image: &str, extra_spec: &str) -> String {
    format!(
        "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {{app: web}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
{extra_spec}  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: web
        image: {web_image}
        ports: [{{containerPort: 80}}]
      - name: sidecar
        image: envoy:1
"
    )
}

const CRD: &str = "\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab, shortNames: [ct]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        description: A CronTab runs a command on a schedule.
        properties:
          spec:
            type: object
            properties:
              cronSpec: {type: string, description: 'The schedule of the crontab, in cron format.'}
              replicas: {type: integer}
";

fn crontab(extra: &str) -> String {
    format!(
        "\
apiVersion: stable.example.com/v1
kind: CronTab
metadata: {{name: every-minute, namespace: shop}}
spec: {{cronSpec: '* * * * *'{extra}}}
"
    )
}

async fn start(release: KubeRelease) -> (ApiServer, Option<Kubectl>) {
    let server = ApiServer::start(support::sim(release)).await.unwrap();
    let kubectl = Kubectl::find(&server);
    (server, kubectl)
}

fn container<'a>(deployment: &'a Value, name: &str) -> &'a Value {
    deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name} in {deployment}"))
}

/// `kubectl apply` creates a Namespace and a Deployment; a re-apply that changes one container's
/// image is a strategic merge patch merging the container list by name: the other container
/// keeps a field set on the live object since.
async fn apply_and_reapply(release: KubeRelease) {
    let (server, Some(kubectl)) = start(release).await else {
        return;
    };
    let ns = kubectl.file("ns.yaml", NAMESPACE);
    let out = kubectl.ok(&["apply", "-f", &ns]);
    assert!(out.contains("namespace/shop created"), "{out}");
    let v1 = kubectl.file("v1.yaml", &deployment("nginx:1", ""));
    let out = kubectl.ok(&["apply", "-f", &v1]);
    assert!(out.contains("deployment.apps/web created"), "{out}");
    let live = kubectl.json(&["get", "-n", "shop", "deployment", "web", "-o", "json"]);
    assert_eq!(live["spec"]["replicas"], 2);
    assert_eq!(container(&live, "web")["image"], "nginx:1");
    assert_eq!(
        kubectl.json(&["get", "namespace", "shop", "-o", "json"])["metadata"]["name"],
        "shop"
    );

    // Someone changes the sidecar on the live object.
    kubectl.ok(&[
        "patch", "-n", "shop", "deployment", "web", "--type", "json", "-p",
        r#"[{"op": "add", "path": "/spec/template/spec/containers/1/env", "value": [{"name": "MODE", "value": "live"}]}]"#,
    ]);
    let v2 = kubectl.file("v2.yaml", &deployment("nginx:2", ""));
    let out = kubectl.ok(&["apply", "-f", &v2]);
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    let live = kubectl.json(&["get", "-n", "shop", "deployment", "web", "-o", "json"]);
    let names: Vec<&str> = live["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web", "sidecar"], "{live}");
    assert_eq!(container(&live, "web")["image"], "nginx:2");
    assert_eq!(container(&live, "web")["ports"][0]["containerPort"], 80);
    assert_eq!(container(&live, "sidecar")["image"], "envoy:1");
    assert_eq!(
        container(&live, "sidecar")["env"],
        json!([{"name": "MODE", "value": "live"}]),
        "the sidecar was replaced rather than merged by name: {live}"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_and_reapply_1_16() {
    apply_and_reapply(KubeRelease::V1_16).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_and_reapply_1_20() {
    apply_and_reapply(KubeRelease::V1_20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_and_reapply_1_22() {
    apply_and_reapply(KubeRelease::V1_22).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_and_reapply_1_23() {
    apply_and_reapply(KubeRelease::V1_23).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_and_reapply_1_24() {
    apply_and_reapply(KubeRelease::V1_24).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_and_reapply_1_28() {
    apply_and_reapply(KubeRelease::V1_28).await;
}

/// `kubectl explain` of a built-in field prints the official description; of a served CRD's
/// field, the CRD's description.
async fn explain(release: KubeRelease) {
    let (server, Some(kubectl)) = start(release).await else {
        return;
    };
    let explain = |what: &str| {
        let out = kubectl.ok(&["explain", what]);
        out.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let out = explain("deployment.spec.replicas");
    assert!(out.contains("Deployment"), "{out}");
    assert!(out.contains("replicas <integer>"), "{out}");
    assert!(
        out.contains("Number of desired pods. This is a pointer to distinguish between explicit zero and not specified. Defaults to 1."),
        "{out}"
    );
    let out = explain("deployment.spec.template.spec.containers");
    assert!(out.contains("imagePullPolicy"), "{out}");

    let crd = kubectl.file("crd.yaml", CRD);
    kubectl.ok(&["apply", "-f", &crd]);
    let out = explain("crontab.spec.cronSpec");
    assert!(out.contains("CronTab"), "{out}");
    assert!(
        out.contains("The schedule of the crontab, in cron format."),
        "{out}"
    );
    let out = explain("crontab");
    assert!(
        out.contains("A CronTab runs a command on a schedule."),
        "{out}"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_1_16() {
    explain(KubeRelease::V1_16).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_1_20() {
    explain(KubeRelease::V1_20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_1_22() {
    explain(KubeRelease::V1_22).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_1_28() {
    explain(KubeRelease::V1_28).await;
}

/// `kubectl explain` of a field whose official description is that release's own (no other
/// stored release has the same text), so the release's official document is what is served:
/// 1.23 through `/openapi/v2` (its server serves no `/openapi/v3`), 1.24–1.27 through the official
/// `/openapi/v3` documents.
async fn explain_own_field(release: KubeRelease, field: &str, own: &str) {
    let (server, Some(kubectl)) = start(release).await else {
        return;
    };
    let (out, log) = kubectl.ok_with_stderr(&["explain", field, "-v=6"]);
    let out = out.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(out.contains(own), "{release:?} explain {field}: {out}");
    let document = if openapi::serves_v3(release) {
        "/openapi/v3/apis/"
    } else {
        "/openapi/v2"
    };
    assert!(
        log.lines()
            .any(|l| l.contains(document) && l.contains("200 OK")),
        "{release:?}: kubectl read no {document}: {log}"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_own_field_1_23() {
    explain_own_field(
        KubeRelease::V1_23,
        "job.status.ready",
        "This field is alpha-level. The job controller populates the field when the feature gate JobReadyPods is enabled (disabled by default).",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_own_field_1_24() {
    explain_own_field(
        KubeRelease::V1_24,
        "cronjob.spec.timeZone",
        "ALPHA: This field is in alpha and must be enabled via the `CronJobTimeZone` feature gate.",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_own_field_1_25() {
    explain_own_field(
        KubeRelease::V1_25,
        "job.spec.podFailurePolicy",
        "This field is alpha-level. To use this field, you must enable the `JobPodFailurePolicy` feature gate (disabled by default).",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_own_field_1_26() {
    explain_own_field(
        KubeRelease::V1_26,
        "statefulset.spec.ordinals",
        "Using the ordinals field requires the StatefulSetStartOrdinal feature gate to be enabled, which is alpha.",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_own_field_1_27() {
    explain_own_field(
        KubeRelease::V1_27,
        "job.spec.podFailurePolicy.rules.action",
        "- Count: indicates that the pod is handled in the default way - the counter towards the .backoffLimit is incremented. Additional values are considered to be added in the future.",
    )
    .await;
}

/// 1.23 and 1.24: the official documents advertise `fieldValidation` (the parameter exists from
/// 1.23), so `kubectl` 1.32 skips its client-side validation and sends
/// `fieldValidation=Strict`; but the server's `ServerSideFieldValidation` feature is alpha and
/// off there, so it ignores the parameter: `apply` of an object with an unknown field succeeds
/// with neither error nor warning, as against a real 1.23 or 1.24 server.
async fn unknown_fields_unchecked(release: KubeRelease) {
    let (server, Some(kubectl)) = start(release).await else {
        return;
    };
    kubectl.ok(&["apply", "-f", &kubectl.file("ns.yaml", NAMESPACE)]);
    let bad = kubectl.file("bad.yaml", &deployment("nginx:1", "  foo: bar\n"));
    let (out, stderr) = kubectl.ok_with_stderr(&["apply", "-f", &bad, "-v=6"]);
    assert!(out.contains("deployment.apps/web created"), "{out}");
    assert!(
        stderr.contains("POST ") && stderr.contains("fieldValidation=Strict"),
        "kubectl did not leave validation to the server: {stderr}"
    );
    assert!(
        !stderr.contains("unknown field") && !stderr.contains("Warning"),
        "{stderr}"
    );
    let live = kubectl.json(&["get", "-n", "shop", "deployment", "web", "-o", "json"]);
    assert_eq!(live["spec"]["replicas"], 2);

    kubectl.ok(&["apply", "-f", &kubectl.file("crd.yaml", CRD)]);
    let bad_cr = kubectl.file("ct.yaml", &crontab(", colour: red"));
    let (out, stderr) = kubectl.ok_with_stderr(&["apply", "-f", &bad_cr]);
    assert!(
        out.contains("crontab.stable.example.com/every-minute created"),
        "{out}"
    );
    assert!(!stderr.contains("unknown field"), "{stderr}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_unchecked_1_23() {
    unknown_fields_unchecked(KubeRelease::V1_23).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_unchecked_1_24() {
    unknown_fields_unchecked(KubeRelease::V1_24).await;
}

/// Before 1.25 `kubectl` validates on the client against `/openapi/v2`, as against a real 1.16
/// or 1.20 server: an unknown field fails `apply` naming field and type, nothing is created;
/// `--validate=warn` cannot be done there, so kubectl skips it and the object is created.
async fn unknown_fields_client_side(release: KubeRelease) {
    let (server, Some(kubectl)) = start(release).await else {
        return;
    };
    kubectl.ok(&["apply", "-f", &kubectl.file("ns.yaml", NAMESPACE)]);
    let bad = kubectl.file("bad.yaml", &deployment("nginx:1", "  foo: bar\n"));
    let err = kubectl.fails(&["apply", "-f", &bad]);
    assert!(
        err.contains("error validating data")
            && err.contains(
                r#"ValidationError(Deployment.spec): unknown field "foo" in io.k8s.api.apps.v1.DeploymentSpec"#
            ),
        "{err}"
    );
    let out = kubectl.run(&["get", "-n", "shop", "deployment", "web"]);
    assert!(!out.status.success(), "the invalid deployment was created");

    let crd = kubectl.file("crd.yaml", CRD);
    kubectl.ok(&["apply", "-f", &crd]);
    let bad_cr = kubectl.file("ct.yaml", &crontab(", colour: red"));
    let err = kubectl.fails(&["apply", "-f", &bad_cr]);
    assert!(
        err.contains(r#"ValidationError(CronTab.spec): unknown field "colour""#),
        "{err}"
    );

    let (out, stderr) = kubectl.ok_with_stderr(&["apply", "-f", &bad, "--validate=warn"]);
    assert!(out.contains("deployment.apps/web created"), "{out}");
    assert!(stderr.contains("skipping validation"), "{stderr}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_client_side_1_16() {
    unknown_fields_client_side(KubeRelease::V1_16).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_client_side_1_20() {
    unknown_fields_client_side(KubeRelease::V1_20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_server_side_1_25() {
    unknown_fields_server_side(KubeRelease::V1_25).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_server_side_1_26() {
    unknown_fields_server_side(KubeRelease::V1_26).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_server_side_1_27() {
    unknown_fields_server_side(KubeRelease::V1_27).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_server_side_1_28() {
    unknown_fields_server_side(KubeRelease::V1_28).await;
}

/// From 1.25 the server validates: `kubectl apply` (Strict) is answered 400 naming every
/// unknown field; `--validate=warn` creates the object and prints the server's warnings; the
/// same for a custom resource, and for the strategic merge patch of a re-apply.
async fn unknown_fields_server_side(release: KubeRelease) {
    let (server, Some(kubectl)) = start(release).await else {
        return;
    };
    kubectl.ok(&["apply", "-f", &kubectl.file("ns.yaml", NAMESPACE)]);
    let bad = kubectl.file("bad.yaml", &deployment("nginx:1", "  foo: bar\n"));
    let err = kubectl.fails(&["apply", "-f", &bad]);
    assert!(
        err.contains(r#"Error from server (BadRequest): error when creating"#)
            && err.contains(
                r#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.foo""#
            ),
        "{err}"
    );
    let out = kubectl.run(&["get", "-n", "shop", "deployment", "web"]);
    assert!(!out.status.success(), "the invalid deployment was created");

    let (out, stderr) = kubectl.ok_with_stderr(&["apply", "-f", &bad, "--validate=warn"]);
    assert!(out.contains("deployment.apps/web created"), "{out}");
    assert!(
        stderr.contains(r#"Warning: unknown field "spec.foo""#),
        "{stderr}"
    );
    let (_, stderr) = kubectl.ok_with_stderr(&["apply", "-f", &bad, "--validate=ignore"]);
    assert!(!stderr.contains("unknown field"), "{stderr}");

    // A re-apply adding an unknown field inside a container is a patch the server refuses.
    let good = kubectl.file("good.yaml", &deployment("nginx:1", ""));
    kubectl.ok(&["apply", "-f", &good, "--validate=ignore"]);
    let typo = kubectl.file(
        "typo.yaml",
        &deployment("nginx:2\n        imagePullPolicyy: Always", ""),
    );
    let err = kubectl.fails(&["apply", "-f", &typo]);
    assert!(
        err.contains(r#"strict decoding error: unknown field "spec.template.spec.containers[0].imagePullPolicyy""#),
        "{err}"
    );
    let live = kubectl.json(&["get", "-n", "shop", "deployment", "web", "-o", "json"]);
    assert_eq!(container(&live, "web")["image"], "nginx:1");

    kubectl.ok(&["apply", "-f", &kubectl.file("crd.yaml", CRD)]);
    let bad_cr = kubectl.file("ct.yaml", &crontab(", colour: red"));
    let err = kubectl.fails(&["apply", "-f", &bad_cr]);
    assert!(
        err.contains(r#"CronTab in version "v1" cannot be handled as a CronTab: strict decoding error: unknown field "spec.colour""#),
        "{err}"
    );
    let (_, stderr) = kubectl.ok_with_stderr(&["apply", "-f", &bad_cr, "--validate=warn"]);
    assert!(
        stderr.contains(r#"Warning: unknown field "spec.colour""#),
        "{stderr}"
    );
    // Duplicate members of a JSON body (kubectl's YAML parser never lets them through; a raw
    // body does).
    let dup = kubectl.file(
        "dup.json",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup","namespace":"shop"},"data":{"a":"1"},"data":{"b":"2"}}"#,
    );
    let err = kubectl.fails(&[
        "create",
        "--raw",
        "/api/v1/namespaces/shop/configmaps?fieldValidation=Strict",
        "-f",
        &dup,
    ]);
    assert!(
        err.contains(r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: duplicate field "data""#),
        "{err}"
    );
    let (out, stderr) = kubectl.ok_with_stderr(&[
        "create",
        "--raw",
        "/api/v1/namespaces/shop/configmaps",
        "-f",
        &dup,
    ]);
    assert!(
        stderr.contains(r#"Warning: duplicate field "data""#),
        "{stderr}"
    );
    let created: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        created["data"],
        json!({"b": "2"}),
        "the last duplicate wins"
    );

    // Server-side apply is strict whatever --validate says.
    let err = kubectl.fails(&["apply", "--server-side", "--validate=ignore", "-f", &bad_cr]);
    assert!(
        err.contains("failed to create typed patch object (shop/every-minute; stable.example.com/v1, Kind=CronTab): .spec.colour: field not declared in schema"),
        "{err}"
    );
    let good_cr = kubectl.file("ct-good.yaml", &crontab(", replicas: 3"));
    kubectl.ok(&["apply", "-f", &good_cr]);
    let cr = kubectl.json(&["get", "-n", "shop", "crontab", "every-minute", "-o", "json"]);
    assert_eq!(cr["spec"]["replicas"], 3);
    server.shutdown().await.unwrap();
}

/// Every `$ref` under a value.
fn refs(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(target)) => {
                        out.insert(target.clone());
                    }
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(list) => list.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// A v2 document references only definitions and parameters it contains.
fn assert_v2_closed(doc: &Value, what: &str) {
    assert_eq!(doc["swagger"], "2.0", "{what}");
    let mut found = BTreeSet::new();
    refs(doc, &mut found);
    assert!(!found.is_empty(), "{what}: no references at all");
    for target in found {
        let resolved = if let Some(name) = target.strip_prefix("#/definitions/") {
            doc["definitions"].get(name)
        } else if let Some(name) = target.strip_prefix("#/parameters/") {
            doc["parameters"].get(name)
        } else {
            None
        };
        assert!(resolved.is_some(), "{what}: dangling reference {target}");
    }
}

/// A v3 document references only schemas it contains.
fn assert_v3_closed(doc: &Value, what: &str) {
    assert_eq!(doc["openapi"], "3.0.0", "{what}");
    let mut found = BTreeSet::new();
    refs(doc, &mut found);
    for target in found {
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{what}: reference {target} outside components/schemas"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{what}: dangling reference {target}"
        );
    }
}

/// The (group, version) pairs of a v2 document's resource paths.
fn path_group_versions(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for path in doc["paths"].as_object().unwrap().keys() {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        match segments.as_slice() {
            ["api", version, ..] => out.insert((String::new(), version.to_string())),
            ["apis", group, version, ..] => out.insert((group.to_string(), version.to_string())),
            _ => false,
        };
    }
    out
}

fn served_group_versions(sim: &SimCluster) -> BTreeSet<(String, String)> {
    sim.discovery()
        .groups
        .iter()
        .flat_map(|g| {
            g.versions
                .iter()
                .map(move |v| (g.name.clone(), v.version.clone()))
        })
        .collect()
}

async fn sim_with_crd(release: KubeRelease) -> (SimCluster, KubeObject) {
    let sim = support::sim(release);
    let crd: Value = serde_yaml_ng::from_str(CRD).unwrap();
    let crd = KubeObject::new(crd).unwrap();
    let gvr = GroupVersionResource::new("apiextensions.k8s.io", "v1", "customresourcedefinitions");
    let crd = sim.create(&gvr, &crd).await.unwrap();
    (sim, crd)
}

/// For every release: the v2 document lists paths of served group versions only, and of every
/// served group version when the release's own specification is stored; a served CRD's schema
/// is there with its group-version-kind; references resolve, in v2 and in every v3 document.
#[tokio::test]
async fn documents_of_every_release_list_what_is_served_and_are_closed() {
    for release in KubeRelease::ALL {
        let (sim, crd) = sim_with_crd(release).await;
        let discovery = sim.discovery();
        let crds = vec![crd];
        let v2 = openapi::v2_document(release, &discovery, &crds).unwrap();
        let what = format!("{release:?} /openapi/v2");
        assert_v2_closed(&v2, &what);

        let served = served_group_versions(&sim);
        let listed = path_group_versions(&v2);
        let unserved: Vec<_> = listed.difference(&served).collect();
        assert!(unserved.is_empty(), "{what} lists unserved {unserved:?}");
        let spec = openapi::spec(release).unwrap();
        if openapi::has_own_spec(release) {
            // Every served group version the official specification has a kind of (not, e.g.,
            // snapshot.storage.k8s.io: CRDs on a real cluster).
            let missing: Vec<_> = served
                .difference(&listed)
                .filter(|(g, v)| {
                    discovery.group(g).unwrap().versions.iter().any(|dv| {
                        &dv.version == v
                            && dv
                                .resources
                                .iter()
                                .any(|r| spec.definition_of(g, v, &r.kind).is_some())
                    })
                })
                .collect();
            assert!(missing.is_empty(), "{what} lacks served {missing:?}");
        } else {
            assert!(listed.contains(&("apps".to_string(), "v1".to_string())));
        }
        // Paths of resources the cluster does not serve are left out, e.g. pod logs' siblings.
        for path in v2["paths"].as_object().unwrap().keys() {
            assert!(
                !path.starts_with("/logs") && !path.starts_with("/.well-known"),
                "{what}: {path}"
            );
        }

        let crontab = &v2["definitions"]["com.example.stable.v1.CronTab"];
        assert_eq!(
            crontab["x-kubernetes-group-version-kind"],
            json!([{"group": "stable.example.com", "kind": "CronTab", "version": "v1"}]),
            "{what}"
        );
        assert_eq!(
            crontab["properties"]["spec"]["properties"]["cronSpec"]["description"],
            "The schedule of the crontab, in cron format."
        );
        assert!(
            v2["paths"]
                .get("/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}")
                .is_some(),
            "{what}"
        );
        // The patch operations advertise fieldValidation as the release's official document
        // does: from 1.23 (where the parameter appeared; its server honours it from 1.25).
        let patch =
            &v2["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        let advertises = patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation");
        assert_eq!(advertises, release.minor() >= 23, "{what}");
        assert!(!openapi::validates_fields(release) || advertises, "{what}");

        let index = openapi::v3_index(release, &discovery, &crds).unwrap();
        assert_eq!(index.is_some(), openapi::serves_v3(release), "{release:?}");
        let Some(index) = index else { continue };
        let entries = index["paths"].as_object().unwrap();
        let mut listed = BTreeSet::new();
        for (key, entry) in entries {
            let url = entry["serverRelativeURL"].as_str().unwrap();
            assert!(
                url.starts_with(&format!("/openapi/v3/{key}?hash=")),
                "{url}"
            );
            let segments: Vec<&str> = key.split('/').collect();
            let (group, version) = match segments.as_slice() {
                ["api", v] => ("", *v),
                ["apis", g, v] => (*g, *v),
                other => panic!("unexpected index entry {other:?}"),
            };
            listed.insert((group.to_string(), version.to_string()));
            let doc = openapi::v3_group_version(release, &discovery, &crds, group, version)
                .unwrap()
                .unwrap_or_else(|| panic!("{release:?}: no document for {key}"));
            assert_v3_closed(&doc, &format!("{release:?} {key}"));
            // Only served resources' paths.
            for path in doc["paths"].as_object().unwrap().keys() {
                assert!(v2["paths"].get(path).is_some(), "{release:?} {key}: {path}");
            }
        }
        // The index lists the group versions the v2 document has paths of.
        assert_eq!(
            listed,
            path_group_versions(&v2),
            "{release:?} /openapi/v3 index"
        );
        // 1.24–1.27 serve the official v3 documents themselves (which, unlike the v2 ones, give
        // struct-typed fields a `default`).
        let apps = openapi::v3_group_version(release, &discovery, &crds, "apps", "v1")
            .unwrap()
            .unwrap();
        let official = spec.v3.is_some();
        assert_eq!(
            official,
            (24..=27).contains(&release.minor()),
            "{release:?}"
        );
        assert_eq!(
            apps["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"]["properties"]["spec"]
                .get("default"),
            official.then(|| json!({})).as_ref(),
            "{release:?}"
        );
        let crd_doc =
            openapi::v3_group_version(release, &discovery, &crds, "stable.example.com", "v1")
                .unwrap()
                .unwrap();
        assert_eq!(
            crd_doc["components"]["schemas"]["com.example.stable.v1.CronTab"]["x-kubernetes-group-version-kind"]
                [0]["kind"],
            "CronTab"
        );
        assert!(
            openapi::v3_group_version(release, &discovery, &crds, "apps", "v0")
                .unwrap()
                .is_none()
        );
    }
}

/// The documents the server answers over HTTP (read with `kubectl get --raw`, which asks for
/// JSON) parse and are closed; the v3 index changes a group version's hash when a CRD of it
/// changes; `/openapi/v3` is not served before 1.24.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_documents_parse_and_reference_only_what_they_contain() {
    for release in [KubeRelease::V1_16, KubeRelease::V1_24, KubeRelease::V1_28] {
        let (server, Some(kubectl)) = start(release).await else {
            return;
        };
        kubectl.ok(&["apply", "-f", &kubectl.file("crd.yaml", CRD)]);
        let v2 = kubectl.json(&["get", "--raw", "/openapi/v2"]);
        assert_v2_closed(&v2, &format!("{release:?} served /openapi/v2"));
        assert!(
            v2["definitions"]
                .get("com.example.stable.v1.CronTab")
                .is_some()
        );
        if !openapi::serves_v3(release) {
            let err = kubectl.fails(&["get", "--raw", "/openapi/v3"]);
            assert!(
                err.contains("NotFound") || err.contains("not find"),
                "{err}"
            );
            server.shutdown().await.unwrap();
            continue;
        }
        let index = kubectl.json(&["get", "--raw", "/openapi/v3"]);
        let entries = index["paths"].as_object().unwrap();
        assert!(entries.contains_key("apis/stable.example.com/v1"));
        for (key, entry) in entries {
            let url = entry["serverRelativeURL"].as_str().unwrap();
            let doc = kubectl.json(&["get", "--raw", url]);
            assert_v3_closed(&doc, &format!("{release:?} served {key}"));
        }
        let before = entries["apis/stable.example.com/v1"]["serverRelativeURL"].clone();
        let changed = CRD.replace(
            "replicas: {type: integer}",
            "replicas: {type: integer, minimum: 0}",
        );
        kubectl.ok(&["apply", "-f", &kubectl.file("crd2.yaml", &changed)]);
        let index = kubectl.json(&["get", "--raw", "/openapi/v3"]);
        assert_ne!(
            index["paths"]["apis/stable.example.com/v1"]["serverRelativeURL"],
            before
        );
        assert_eq!(
            index["paths"]["apis/apps/v1"]["serverRelativeURL"],
            entries["apis/apps/v1"]["serverRelativeURL"]
        );
        server.shutdown().await.unwrap();
    }
}

/// The field checker agrees with the official 1.28 schema on a Deployment: maps (labels), int-or-
/// string (ports' targetPort in a Service), embedded free-form types and metadata.
#[test]
fn field_checker_on_official_schemas() {
    let spec = openapi::spec(KubeRelease::V1_28).unwrap();
    let defs = spec.definitions();
    let deployment: Value =
        serde_yaml_ng::from_str(&deployment("nginx:1", "  foo: bar\n")).unwrap();
    assert_eq!(
        fields::unknown_fields(defs, "io.k8s.api.apps.v1.Deployment", &deployment),
        ["spec.foo"]
    );
    let service = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "s", "annotations": {"a": "b"}, "colour": "red"},
        "spec": {"ports": [{"port": 80, "targetPort": "http", "nodePorts": 1}], "selector": {"app": "web"}}});
    assert_eq!(
        fields::unknown_fields(defs, "io.k8s.api.core.v1.Service", &service),
        ["metadata.colour", "spec.ports[0].nodePorts"]
    );
    let crd: Value = serde_yaml_ng::from_str(CRD).unwrap();
    assert!(
        fields::unknown_fields(
            defs,
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
            &crd
        )
        .is_empty()
    );
}
