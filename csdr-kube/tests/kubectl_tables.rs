//! What `kubectl get` prints (the server's `Table` output: a CRD's printer columns, the
//! built-in kinds' columns) and what `kubectl describe` lists under `Events:` (core Events
//! matched by field selectors, including Events written as `events.k8s.io/v1`), with the real
//! kubectl. Skipped, saying why, only when no `kubectl` is installed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

mod support;

use csdr_core::releases::KubeRelease;
use csdr_kube::testing::ApiServer;
use support::kubectl::Kubectl;

/// The cells of each line, cut where the header's columns start (an empty cell stays empty).
fn table(text: &str) -> Vec<Vec<String>> {
    let Some(header) = text.lines().next() else {
        return Vec::new();
    };
    let mut starts = vec![0];
    let bytes = header.as_bytes();
    for i in 2..bytes.len() {
        if bytes[i] != b' ' && bytes[i - 1] == b' ' && bytes[i - 2] == b' ' {
            starts.push(i);
        }
    }
    text.lines()
        .map(|line| {
            starts
                .iter()
                .enumerate()
                .map(|(n, &start)| {
                    let end = starts
                        .get(n + 1)
                        .copied()
                        .unwrap_or(line.len())
                        .min(line.len());
                    line.get(start.min(end)..end)
                        .unwrap_or("")
                        .trim()
                        .to_string()
                })
                .collect()
        })
        .collect()
}

/// The CRD of the FAQ's `kubectl -n csdr get backuplocation`.
const BACKUP_LOCATION_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: backuplocations.csdr.alibabacloud.com}
spec:
  group: csdr.alibabacloud.com
  scope: Namespaced
  names: {kind: BackupLocation, plural: backuplocations, singular: backuplocation, listKind: BackupLocationList}
  versions:
  - name: v1beta1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Phase, type: string, jsonPath: .status.phase}
    - {name: Last Validated, type: date, jsonPath: .status.lastValidationTime}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties: {bucket: {type: string}}
          status:
            type: object
            properties:
              phase: {type: string}
              lastValidationTime: {type: string, format: date-time}
"#;

const VAULT: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: csdr}
---
apiVersion: csdr.alibabacloud.com/v1beta1
kind: BackupLocation
metadata: {name: vault-a, namespace: csdr}
spec: {bucket: b}
"#;

async fn backup_location_columns(release: KubeRelease) {
    let server = ApiServer::start(support::sim(release)).await.unwrap();
    let Some(kubectl) = Kubectl::find(&server) else {
        return;
    };
    kubectl.create(BACKUP_LOCATION_CRD);
    kubectl.create(VAULT);
    // Validated 3m36s before the simulated clock's now (the status subresource is the only
    // way to write status).
    let validated = server.sim().now().as_second() - 216;
    let validated = jiff::Timestamp::from_second(validated).unwrap().to_string();
    kubectl.ok(&[
        "patch",
        "-n",
        "csdr",
        "backuplocation",
        "vault-a",
        "--subresource=status",
        "--type=merge",
        "-p",
        &format!(r#"{{"status": {{"phase": "Available", "lastValidationTime": "{validated}"}}}}"#),
    ]);
    let out = kubectl.ok(&["get", "-n", "csdr", "backuplocation"]);
    assert_eq!(
        table(&out),
        [
            vec!["NAME", "PHASE", "LAST VALIDATED", "AGE"],
            vec!["vault-a", "Available", "3m36s", "0s"],
        ],
        "{out}"
    );
    // One object by name, and one without status: empty cells (the server sends null).
    kubectl.create(
        "apiVersion: csdr.alibabacloud.com/v1beta1\nkind: BackupLocation\nmetadata: {name: vault-b, namespace: csdr}\nspec: {bucket: c}\n",
    );
    let out = kubectl.ok(&["get", "-n", "csdr", "backuplocation", "vault-b"]);
    assert_eq!(
        table(&out),
        [
            vec!["NAME", "PHASE", "LAST VALIDATED", "AGE"],
            vec!["vault-b", "", "", "0s"],
        ],
        "{out}"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_prints_a_crds_printer_columns_on_1_16() {
    backup_location_columns(KubeRelease::V1_16).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_prints_a_crds_printer_columns_on_1_28() {
    backup_location_columns(KubeRelease::V1_28).await;
}

const SHOP: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "nginx:1"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: shop, labels: {app: web}}
spec: {containers: [{name: web, image: "nginx:1"}, {name: log, image: "busybox:1"}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 80, protocol: TCP}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {a: "1", b: "2"}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: shop}
type: Opaque
data: {user: YWRtaW4=}
---
apiVersion: v1
kind: Event
metadata: {name: web.1, namespace: shop}
involvedObject: {kind: Deployment, name: web, namespace: shop, apiVersion: apps/v1}
type: Normal
reason: ScalingReplicaSet
message: Scaled up replica set web-1 to 2
source: {component: deployment-controller}
firstTimestamp: "2026-01-01T00:00:00Z"
lastTimestamp: "2026-01-01T00:00:00Z"
count: 1
"#;

async fn builtin_columns(release: KubeRelease) {
    let server = ApiServer::start(support::sim(release)).await.unwrap();
    let Some(kubectl) = Kubectl::find(&server) else {
        return;
    };
    kubectl.create(SHOP);
    let get = |what: &str| table(&kubectl.ok(&["get", "-n", "shop", what]));
    let deploy = get("deploy");
    assert_eq!(
        deploy[0],
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    );
    assert_eq!(deploy[1], ["web", "0/2", "0", "0", "0s"]);
    let pods = get("pods");
    assert_eq!(pods[0], ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    assert_eq!(pods[1][..2], ["web-0", "0/2"]);
    let svc = get("svc");
    assert_eq!(
        svc[0],
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ]
    );
    assert_eq!(svc[1][..2], ["web", "NodePort"]);
    assert!(svc[1][2].parse::<std::net::Ipv4Addr>().is_ok(), "{svc:?}");
    assert_eq!(svc[1][3], "<none>");
    assert!(
        svc[1][4].starts_with("80:3") && svc[1][4].ends_with("/TCP"),
        "{svc:?}"
    );
    let cm = get("configmap");
    assert_eq!(cm[0], ["NAME", "DATA", "AGE"]);
    assert!(
        cm.contains(&vec!["settings".to_string(), "2".into(), "0s".into()]),
        "{cm:?}"
    );
    let secrets = get("secrets");
    assert_eq!(secrets[0], ["NAME", "TYPE", "DATA", "AGE"]);
    assert!(
        secrets.contains(&vec![
            "creds".to_string(),
            "Opaque".into(),
            "1".into(),
            "0s".into()
        ]),
        "{secrets:?}"
    );
    let events = get("events");
    assert_eq!(
        events[0],
        ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    );
    assert_eq!(
        events[1],
        [
            "0s",
            "Normal",
            "ScalingReplicaSet",
            "deployment/web",
            "Scaled up replica set web-1 to 2"
        ]
    );
    let namespaces = table(&kubectl.ok(&["get", "namespace", "shop"]));
    assert_eq!(
        namespaces,
        [vec!["NAME", "STATUS", "AGE"], vec!["shop", "Active", "0s"]]
    );
    // A kind without its own printer: NAME and AGE.
    let leases = table(&kubectl.ok(&[
        "get",
        "-n",
        "kube-node-lease",
        "leases",
        "--ignore-not-found",
    ]));
    assert!(
        leases.is_empty() || leases[0] == ["NAME", "AGE"],
        "{leases:?}"
    );
    // -o wide shows the priority-1 columns.
    let wide = table(&kubectl.ok(&["get", "-n", "shop", "deploy", "-o", "wide"]));
    assert_eq!(
        wide[0],
        [
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ]
    );
    assert_eq!(wide[1][5..], ["web", "nginx:1", "app=web"]);
    // get -w: the list, then each change as a row (the watch answers Tables too).
    let mut watching = kubectl
        .command(&["get", "-n", "shop", "configmaps", "-w"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    kubectl.ok(&[
        "create",
        "configmap",
        "-n",
        "shop",
        "later",
        "--from-literal=x=1",
    ]);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    watching.kill().unwrap();
    let out = watching.wait_with_output().unwrap();
    let watched = table(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(watched[0], ["NAME", "DATA", "AGE"], "{watched:?}");
    assert!(
        watched.contains(&vec!["later".to_string(), "1".into(), "0s".into()]),
        "{watched:?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_prints_the_built_in_columns_on_1_16() {
    builtin_columns(KubeRelease::V1_16).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_prints_the_built_in_columns_on_1_28() {
    builtin_columns(KubeRelease::V1_28).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_describe_lists_the_events_about_a_custom_resource() {
    let server = ApiServer::start(support::sim(KubeRelease::V1_28))
        .await
        .unwrap();
    let Some(kubectl) = Kubectl::find(&server) else {
        return;
    };
    kubectl.create(BACKUP_LOCATION_CRD);
    kubectl.create(VAULT);
    let uid = kubectl.ok(&[
        "get",
        "-n",
        "csdr",
        "backuplocation",
        "vault-a",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    // A MicroTime, as the API server writes it (six fractional digits).
    let now = server.sim().now().strftime("%Y-%m-%dT%H:%M:%S.000000Z");
    // What kube-runtime's Recorder writes: an events.k8s.io/v1 Event `regarding` the object.
    let event = |name: &str, regarding_uid: &str, note: &str| {
        format!(
            "apiVersion: events.k8s.io/v1\nkind: Event\nmetadata: {{name: {name}, namespace: csdr}}\n\
             eventTime: \"{now}\"\nreportingController: csdr.io/vault-controller\n\
             reportingInstance: vault-controller-0\naction: Validate\nreason: VaultValidated\n\
             type: Normal\nnote: {note}\n\
             regarding: {{apiVersion: csdr.alibabacloud.com/v1beta1, kind: BackupLocation, \
             name: vault-a, namespace: csdr, uid: \"{regarding_uid}\"}}\n"
        )
    };
    kubectl.create(&event("vault-a.1", &uid, "the bucket answered"));
    // About an earlier object of the same name: not listed.
    kubectl.create(&event("vault-a.2", "another-uid", "an older vault"));
    let out = kubectl.ok(&["describe", "-n", "csdr", "backuplocation", "vault-a"]);
    let events = out
        .split("Events:")
        .nth(1)
        .unwrap_or_else(|| panic!("{out}"));
    // The section is indented by two spaces.
    let section: Vec<&str> = events
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .map(|l| l.strip_prefix("  ").unwrap_or(l))
        .collect();
    let rows = table(&section.join("\n"));
    assert_eq!(rows[0][..3], ["Type", "Reason", "Age"], "{out}");
    assert!(
        rows.iter()
            .any(|r| r.first().map(String::as_str) == Some("Normal")
                && r.contains(&"VaultValidated".to_string())
                && r.last().map(String::as_str) == Some("the bucket answered")),
        "{out}"
    );
    assert!(!out.contains("an older vault"), "{out}");
    server.shutdown().await.unwrap();
}
