//! kubectl's typed generators (`kubectl create namespace`, `create configmap`, `create secret
//! generic`, `create deployment`, `create service clusterip`) send protobuf bodies; the
//! `ApiServer` reads them into the same objects JSON bodies give. Each command is checked to
//! have sent protobuf (from kubectl's `-v=8` request log) and the stored object is read back
//! with `kubectl get -o json`. Skipped, saying why, only when no kubectl is installed.
//!
//! Which kubectl: kubectl 1.32 and later send protobuf (1.28 to 1.31 send JSON). The machine's
//! `kubectl` may be a dispatcher that runs the kubectl matching the server's version (for a 1.28
//! server, 1.28's), so a `kubectl.1.32` beside the real `kubectl` binary is preferred when there
//! is one.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

use std::path::PathBuf;
use std::process::{Command, Output};

use csdr_core::releases::KubeRelease;
use csdr_core::sim::SimCluster;
use csdr_kube::testing::ApiServer;
use serde_json::{Value, json};

/// kubectl pointed at one server, with its own empty HOME and KUBECONFIG.
struct Kubectl {
    binary: PathBuf,
    server: String,
    home: tempfile::TempDir,
}

/// The kubectl to run: `kubectl.1.32` beside the real `kubectl` when there is one (a
/// dispatcher would pick an older, JSON-sending kubectl for a 1.28 server), else `kubectl`.
fn binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join("kubectl");
        if let Ok(real) = std::fs::canonicalize(&candidate) {
            let pinned = real.with_file_name("kubectl.1.32");
            if pinned.is_file() {
                return pinned;
            }
            return candidate;
        }
    }
    PathBuf::from("kubectl")
}

impl Kubectl {
    /// `None` (after saying why) when kubectl is not installed.
    fn find(server: &ApiServer) -> Option<Kubectl> {
        let binary = binary();
        match Command::new(&binary).args(["version", "--client"]).output() {
            Ok(out) if out.status.success() => Some(Kubectl {
                binary,
                server: server.url(),
                home: tempfile::tempdir().unwrap(),
            }),
            other => {
                eprintln!("SKIPPED: kubectl is not installed or does not run ({other:?})");
                None
            }
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(&self.binary)
            .arg("--server")
            .arg(&self.server)
            .args(args)
            .env("HOME", self.home.path())
            .env("KUBECONFIG", self.home.path().join("kubeconfig"))
            .output()
            .unwrap()
    }

    /// Runs a create with `-v=8`, expects success, and checks its body went as protobuf.
    fn create_as_protobuf(&self, args: &[&str]) {
        let mut all = vec!["-v=8"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\n{}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        );
        let sent_protobuf = stderr
            .lines()
            .any(|l| l.contains("Content-Type: application/vnd.kubernetes.protobuf"));
        assert!(
            sent_protobuf,
            "kubectl {args:?} did not send protobuf (kubectl older than 1.32?):\n{stderr}"
        );
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

async fn typed_generators_create_what_they_say(release: KubeRelease) {
    let server = ApiServer::start(SimCluster::new(release)).await.unwrap();
    let Some(kubectl) = Kubectl::find(&server) else {
        return;
    };

    kubectl.create_as_protobuf(&["create", "namespace", "shop"]);
    let ns = kubectl.json(&["get", "namespace", "shop", "-o", "json"]);
    assert_eq!(ns["kind"], "Namespace");
    assert_eq!(ns["metadata"]["name"], "shop");

    kubectl.create_as_protobuf(&[
        "-n",
        "shop",
        "create",
        "configmap",
        "cfg",
        "--from-literal=a=b",
        "--from-literal=empty=",
    ]);
    let cm = kubectl.json(&["-n", "shop", "get", "configmap", "cfg", "-o", "json"]);
    assert_eq!(cm["data"], json!({"a": "b", "empty": ""}));
    assert_eq!(cm["metadata"]["namespace"], "shop");

    kubectl.create_as_protobuf(&[
        "-n",
        "shop",
        "create",
        "secret",
        "generic",
        "creds",
        "--from-literal=user=admin",
        "--from-literal=pass=s3cr3t",
    ]);
    let secret = kubectl.json(&["-n", "shop", "get", "secret", "creds", "-o", "json"]);
    // (A real server also defaults `type: Opaque`; the simulator applies no defaults.)
    assert_eq!(
        secret["data"],
        json!({"user": "YWRtaW4=", "pass": "czNjcjN0"})
    );

    kubectl.create_as_protobuf(&[
        "-n",
        "shop",
        "create",
        "deployment",
        "web",
        "--image=nginx:1.27",
        "--replicas=2",
        "--port=8080",
    ]);
    kubectl.create_as_protobuf(&[
        "-n",
        "shop",
        "create",
        "deployment",
        "idle",
        "--image=busybox",
        "--replicas=0",
    ]);
    let web = kubectl.json(&["-n", "shop", "get", "deployment", "web", "-o", "json"]);
    assert_eq!(web["apiVersion"], "apps/v1");
    assert_eq!(web["spec"]["replicas"], 2);
    assert_eq!(
        web["spec"]["selector"],
        json!({"matchLabels": {"app": "web"}})
    );
    assert_eq!(
        web["spec"]["template"]["metadata"]["labels"],
        json!({"app": "web"})
    );
    let container = &web["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["name"], "nginx");
    assert_eq!(container["image"], "nginx:1.27");
    assert_eq!(container["ports"], json!([{"containerPort": 8080}]));
    let idle = kubectl.json(&["-n", "shop", "get", "deployment", "idle", "-o", "json"]);
    assert_eq!(idle["spec"]["replicas"], 0, "zero replicas must stay zero");

    kubectl.create_as_protobuf(&[
        "-n",
        "shop",
        "create",
        "service",
        "clusterip",
        "web",
        "--tcp=80:8080",
        "--tcp=443:https",
    ]);
    let svc = kubectl.json(&["-n", "shop", "get", "service", "web", "-o", "json"]);
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    assert_eq!(svc["spec"]["selector"], json!({"app": "web"}));
    assert_eq!(
        svc["spec"]["ports"],
        json!([
            {"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080},
            {"name": "443-https", "protocol": "TCP", "port": 443, "targetPort": "https"}
        ])
    );

    server.shutdown().await.unwrap();
}

// Several worker threads: kubectl blocks one while the server answers on another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_typed_generators_send_protobuf_to_a_1_16_cluster() {
    typed_generators_create_what_they_say(KubeRelease::V1_16).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_typed_generators_send_protobuf_to_a_1_28_cluster() {
    typed_generators_create_what_they_say(KubeRelease::V1_28).await;
}

/// One HTTP/1.1 request over a fresh connection; the status code and body.
async fn request(server: &ApiServer, head: &str, body: &[u8]) -> (u16, Value) {
    use std::io::{Read, Write};
    let address = server.url().trim_start_matches("http://").to_string();
    let mut bytes = format!(
        "{head}\r\nHost: {address}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream.write_all(&bytes).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        answer
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&answer);
    let code = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let (_, payload) = text.split_once("\r\n\r\n").unwrap();
    (code, serde_json::from_str(payload).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_of_a_custom_resource_is_415_and_a_protobuf_only_client_is_406() {
    use csdr_kube::testing::protobuf;
    let server = ApiServer::start(SimCluster::new(KubeRelease::V1_28))
        .await
        .unwrap();

    // A built-in type over raw HTTP: created, answered in JSON to a client accepting both.
    let ns = protobuf::encode(&json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "raw"}}))
    .unwrap();
    let (code, created) = request(
        &server,
        "POST /api/v1/namespaces HTTP/1.1\r\nContent-Type: application/vnd.kubernetes.protobuf\r\nAccept: application/vnd.kubernetes.protobuf, application/json",
        &ns,
    )
    .await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["metadata"]["name"], "raw");

    // A type without protobuf definitions (as a custom resource): refused, naming the type.
    let unknown = protobuf::encode(&json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "x"}}))
    .unwrap();
    let mut unknown = unknown;
    let at = unknown
        .windows(b"ConfigMap".len())
        .position(|w| w == b"ConfigMap")
        .unwrap();
    unknown[at..at + 9].copy_from_slice(b"Configmop");
    let (code, status) = request(
        &server,
        "POST /api/v1/namespaces/raw/configmaps HTTP/1.1\r\nContent-Type: application/vnd.kubernetes.protobuf",
        &unknown,
    )
    .await;
    assert_eq!(code, 415, "{status}");
    assert_eq!(status["reason"], "UnsupportedMediaType");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("v1, Kind=Configmop"),
        "{status}"
    );

    let (code, status) = request(
        &server,
        "GET /api/v1/namespaces HTTP/1.1\r\nAccept: application/vnd.kubernetes.protobuf",
        b"",
    )
    .await;
    assert_eq!(code, 406, "{status}");
    assert_eq!(status["reason"], "NotAcceptable");

    server.shutdown().await.unwrap();
}
