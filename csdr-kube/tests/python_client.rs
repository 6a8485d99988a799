//! The official Kubernetes Python client (`kubernetes` on PyPI) against the HTTP `ApiServer`
//! of the 1.16 and 1.28 profiles: `tests/python/client_suite.py` drives the typed APIs
//! (Namespace, ConfigMap, Secret, apps/v1 Deployment), label selectors and pagination,
//! `watch.Watch().stream`, 404/409 `ApiException`s and the dynamic client on a CRD.
//!
//! The interpreter is `$CSDR_VENV/bin/python` (what `scripts/test.sh` exports), else the
//! workspace's `.venv/bin/python`, else `python3`. When it cannot import `kubernetes` the test
//! is skipped with a message, unless `CI` is set: then it fails. A suite that runs and fails
//! always fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use csdr_core::releases::KubeRelease;
use csdr_kube::testing::ApiServer;

/// The whole suite must finish within this.
const SUITE_TIMEOUT: Duration = Duration::from_secs(300);

fn suite_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/client_suite.py")
}

/// The candidate interpreters, most specific first.
fn interpreters() -> Vec<PathBuf> {
    let mut found = Vec::new();
    if let Some(venv) = std::env::var_os("CSDR_VENV") {
        found.push(PathBuf::from(venv).join("bin/python"));
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    found.push(workspace.join(".venv/bin/python"));
    found.push(PathBuf::from("python3"));
    found
}

/// The first interpreter that imports the `kubernetes` client, or why there is none.
fn python_with_client() -> Result<PathBuf, String> {
    let mut tried = Vec::new();
    for python in interpreters() {
        let out = std::process::Command::new(&python)
            .args(["-c", "import kubernetes; print(kubernetes.__version__)"])
            .output();
        match out {
            Ok(out) if out.status.success() => {
                eprintln!(
                    "using {} with kubernetes {}",
                    python.display(),
                    String::from_utf8_lossy(&out.stdout).trim()
                );
                return Ok(python);
            }
            Ok(out) => tried.push(format!(
                "{}: {}",
                python.display(),
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("no output")
            )),
            Err(e) => tried.push(format!("{}: {e}", python.display())),
        }
    }
    Err(tried.join("; "))
}

fn kubeconfig(server: &ApiServer) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: sim
  cluster: {{server: \"{}\"}}
users:
- name: sim
  user: {{}}
contexts:
- name: sim
  context: {{cluster: sim, user: sim, namespace: default}}
current-context: sim
",
        server.url()
    )
}

async fn run_suite(release: KubeRelease) {
    let python = match python_with_client() {
        Ok(python) => python,
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("CI is set but no Python has the kubernetes client ({why}); run scripts/test.sh")
        }
        Err(why) => {
            eprintln!(
                "SKIPPED: no Python with the kubernetes client is installed ({why}); \
                 scripts/test.sh installs it into .venv"
            );
            return;
        }
    };
    let server = ApiServer::start(support::sim(release)).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("kubeconfig");
    std::fs::write(&config, kubeconfig(&server)).unwrap();

    let child = tokio::process::Command::new(&python)
        .arg(suite_script())
        .env("KUBECONFIG", &config)
        .env("HOME", home.path())
        .env("CSDR_RELEASE", release.to_string())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("TMPDIR", home.path())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(SUITE_TIMEOUT, child)
        .await
        .unwrap_or_else(|_| panic!("the Python client suite ran longer than {SUITE_TIMEOUT:?}"))
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the Python client suite failed against the {release} simulator:\n{stdout}\n{stderr}"
    );
    // unittest reports on stderr; make sure the suite really ran every test.
    assert!(stderr.contains("\nOK"), "{stderr}");
    assert!(!stderr.contains("skipped"), "{stderr}");
    eprintln!("{stderr}");
    server.shutdown().await.unwrap();
}

// Several worker threads: the server answers while the test waits for Python.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_suite_against_1_16() {
    run_suite(KubeRelease::V1_16).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_suite_against_1_28() {
    run_suite(KubeRelease::V1_28).await;
}
