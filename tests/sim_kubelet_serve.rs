//! `csdr cluster serve --kubelet-dir` keeps simulated kubelets in step with the served
//! cluster: a pod created with kubectl sees its claim's volume as a symlink to the
//! PersistentVolume's data (D3).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `cluster serve`, stopped when dropped: SIGTERM, so it stops the processes of its pods too,
/// then SIGKILL if it is still there after 10 s.
struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const MANIFESTS: &str = r#"
apiVersion: v1
kind: Node
metadata: {name: node-a}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv-nas}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteMany]
  nfs: {server: nas.example, path: /exports/shop}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: uploads, namespace: default}
spec:
  accessModes: [ReadWriteMany]
  resources: {requests: {storage: 1Gi}}
  volumeName: pv-nas
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default}
spec:
  nodeName: node-a
  containers: [{name: app, image: nginx}]
  volumes: [{name: uploads, persistentVolumeClaim: {claimName: uploads}}]
"#;

#[test]
fn pods_created_with_kubectl_see_their_volumes_in_the_kubelet_dir() {
    let kubelet = tempfile::tempdir().unwrap();
    let mut child = Command::new(support::csdr_binary())
        .args([
            "cluster",
            "serve",
            "--release",
            "1.28",
            "--port",
            "0",
            "--kubelet-dir",
        ])
        .arg(kubelet.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let served = Served(child);
    let mut url = String::new();
    BufReader::new(stdout).read_line(&mut url).unwrap();
    let url = url.trim().to_string();

    let manifest = kubelet.path().join("objects.yaml");
    std::fs::write(&manifest, MANIFESTS).unwrap();
    let out = Command::new("kubectl")
        .args([
            "--server",
            &url,
            "create",
            "--validate=false",
            "-o",
            "name",
            "-f",
        ])
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("kubectl")
        .args([
            "--server",
            &url,
            "get",
            "pod",
            "web",
            "-o",
            "jsonpath={.metadata.uid}",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let uid = String::from_utf8(out.stdout).unwrap();
    assert!(!uid.is_empty());

    let mount = kubelet.path().join(format!(
        "nodes/node-a/kubelet/pods/{uid}/volumes/kubernetes.io~nfs/pv-nas/mount"
    ));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::symlink_metadata(&mount).is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let target = std::fs::read_link(&mount).expect("the pod's mount symlink appears");
    assert_eq!(
        target,
        kubelet
            .path()
            .canonicalize()
            .unwrap()
            .join("volumes/pv-nas")
    );
    assert!(mount.is_dir());

    // The pod goes: its folder goes within a poll or two, the data stays.
    std::fs::write(target.join("kept.txt"), "kept").unwrap();
    let out = Command::new("kubectl")
        .args(["--server", &url, "delete", "pod", "web", "--wait=false"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pod_dir = kubelet
        .path()
        .join(format!("nodes/node-a/kubelet/pods/{uid}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while pod_dir.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!pod_dir.exists(), "the gone pod's folder is removed");
    assert_eq!(
        std::fs::read_to_string(target.join("kept.txt")).unwrap(),
        "kept"
    );
    drop(served);
}

/// Runs kubectl against `url`; panics with its error output when it fails.
fn kubectl(url: &str, args: &[&str]) -> String {
    let out = Command::new("kubectl")
        .args(["--server", url])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Polls `check` for 30 s.
fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Issue 17's node agents on a served cluster: `csdr install` (through the kubeconfig the
/// served cluster writes into its kubelet folder) creates the node agents' DaemonSet, which
/// gets a pod on node-a but none on node-0, labelled excluded (C2); the pod's `csdr
/// node-agent` process fails without the repository key (CrashLoopBackOff, its error in the
/// node's log), runs once the key's Secret exists (Running and ready, `kubectl logs` shows
/// both runs, kubectl shows the DaemonSet READY 1), and stops when the DaemonSet is deleted.
#[test]
fn csdr_install_runs_node_agents_as_processes_on_the_nodes_the_policy_allows() {
    let kubelet = tempfile::tempdir().unwrap();
    let mut child = Command::new(support::csdr_binary())
        .args([
            "cluster",
            "serve",
            "--release",
            "1.28",
            "--port",
            "0",
            "--kubelet-dir",
        ])
        .arg(kubelet.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let served = Served(child);
    let mut url = String::new();
    BufReader::new(stdout).read_line(&mut url).unwrap();
    let url = url.trim().to_string();

    let nodes = kubelet.path().join("nodes.yaml");
    std::fs::write(
        &nodes,
        "apiVersion: v1\nkind: Node\nmetadata: {name: node-a}\n---\napiVersion: v1\nkind: Node\nmetadata:\n  name: node-0\n  labels: {csdr.alibabacloud.com/agent-excluded: \"true\"}\n",
    )
    .unwrap();
    kubectl(&url, &["create", "-f", nodes.to_str().unwrap()]);
    let kubeconfig = kubelet.path().join("kubeconfig");
    let out = Command::new(support::csdr_binary())
        .args(["install", "--cluster", "kube"])
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let pods = |field: &str| {
        kubectl(
            &url,
            &[
                "-n",
                "csdr",
                "get",
                "pods",
                "-l",
                "app.kubernetes.io/component=node-agent",
                "-o",
                &format!("jsonpath={{range .items[*]}}{field}{{\"\\n\"}}{{end}}"),
            ],
        )
    };
    let pod = eventually("the node agent's pod", || {
        let names = pods("{.metadata.name} {.spec.nodeName}");
        (!names.trim().is_empty()).then(|| names.trim().to_string())
    });
    let (pod, node) = pod.split_once(' ').unwrap();
    assert_eq!(node, "node-a", "one pod, on node-a only: {pod} {node}");
    assert!(pod.starts_with("csdr-node-agent-"), "{pod}");

    // Without the repository key the agent exits and is restarted with back-off.
    let log = kubelet
        .path()
        .join(format!("nodes/node-a/logs/csdr_{pod}_node-agent.log"));
    eventually(
        "the agent's failure in its log and its pod's status",
        || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let waiting = pods("{.status.containerStatuses[0].state.waiting.reason}");
            (text.contains("csdr-repository-key") && waiting.trim() == "CrashLoopBackOff")
                .then_some(())
        },
    );

    kubectl(
        &url,
        &[
            "-n",
            "csdr",
            "create",
            "secret",
            "generic",
            "csdr-repository-key",
            "--from-literal=password=correct horse battery staple",
        ],
    );
    eventually("the agent serving node-a", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let ready = pods("{.status.phase} {.status.containerStatuses[0].ready}");
        (text.contains("serving node node-a") && ready.trim() == "Running true").then_some(())
    });
    let ready = eventually("the DaemonSet's status", || {
        let ready = kubectl(
            &url,
            &[
                "-n",
                "csdr",
                "get",
                "ds",
                "csdr-node-agent",
                "-o",
                "jsonpath={.status.desiredNumberScheduled} {.status.numberReady}",
            ],
        );
        (ready == "1 1").then_some(ready)
    });
    assert_eq!(ready, "1 1");
    // kubectl logs reads the agent's output from the simulated kubelet.
    let logs = kubectl(&url, &["-n", "csdr", "logs", pod]);
    assert!(logs.contains("serving node node-a"), "{logs}");
    assert!(logs.contains("csdr-repository-key"), "{logs}");
    let table = kubectl(&url, &["-n", "csdr", "get", "ds"]);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        [
            "NAME",
            "DESIRED",
            "CURRENT",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "NODE",
            "SELECTOR",
            "AGE"
        ],
        "{table}"
    );
    assert_eq!(
        rows[1][..7],
        ["csdr-node-agent", "1", "1", "1", "1", "1", "<none>"],
        "{table}"
    );

    kubectl(&url, &["-n", "csdr", "delete", "ds", "csdr-node-agent"]);
    eventually("the agent's pod to go", || {
        pods("{.metadata.name}").trim().is_empty().then_some(())
    });
    drop(served);
}

/// Issue 17's "Job pods run `csdr volume` as real processes": a Job of csdr's image on a
/// served cluster backs up the volume of pod `web` through the simulated kubelet's path
/// (`--pod-uid`, `--volume`, `KUBELET_ROOT_PATH` from a hostPath mount), with the repository
/// key from a Secret; the Job completes, its log holds the snapshot id, and `csdr volume
/// snapshots` lists it with the file's bytes in the repository.
#[test]
fn a_job_of_csdr_volume_backs_up_a_pods_volume_through_the_kubelet_path() {
    let kubelet = tempfile::tempdir().unwrap();
    let mut child = Command::new(support::csdr_binary())
        .args([
            "cluster",
            "serve",
            "--release",
            "1.28",
            "--port",
            "0",
            "--kubelet-dir",
        ])
        .arg(kubelet.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let served = Served(child);
    let mut url = String::new();
    BufReader::new(stdout).read_line(&mut url).unwrap();
    let url = url.trim().to_string();

    let manifest = kubelet.path().join("objects.yaml");
    std::fs::write(&manifest, MANIFESTS).unwrap();
    kubectl(
        &url,
        &[
            "create",
            "--validate=false",
            "-f",
            manifest.to_str().unwrap(),
        ],
    );
    let data = kubelet.path().join("volumes/pv-nas");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("hello.txt"), "hello from the NAS\n").unwrap();
    let uid = kubectl(
        &url,
        &["get", "pod", "web", "-o", "jsonpath={.metadata.uid}"],
    );
    kubectl(
        &url,
        &[
            "create",
            "secret",
            "generic",
            "repo-key",
            "--from-literal=password=correct horse battery staple",
        ],
    );
    let vault = format!("file://{}", kubelet.path().join("vault").display());
    let job = kubelet.path().join("job.yaml");
    std::fs::write(
        &job,
        format!(
            r#"apiVersion: batch/v1
kind: Job
metadata: {{name: backup-uploads, namespace: default}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: volume
        image: registry.example.com/csdr:0.1.0
        args: [volume, backup, --pod-uid, "{uid}", --volume, pv-nas, --vault, "{vault}", --repository, default, --tag, pvc=uploads]
        env:
        - {{name: KUBELET_ROOT_PATH, value: /var/lib/kubelet}}
        - name: CSDR_REPOSITORY_PASSWORD
          valueFrom: {{secretKeyRef: {{name: repo-key, key: password}}}}
        volumeMounts: [{{name: kubelet, mountPath: /var/lib/kubelet}}]
      volumes: [{{name: kubelet, hostPath: {{path: /var/lib/kubelet}}}}]
"#
        ),
    )
    .unwrap();
    kubectl(&url, &["create", "-f", job.to_str().unwrap()]);
    let condition = eventually("the Job to finish", || {
        let c = kubectl(
            &url,
            &[
                "get",
                "job",
                "backup-uploads",
                "-o",
                "jsonpath={.status.conditions[0].type}",
            ],
        );
        (!c.is_empty()).then_some(c)
    });
    let pod = kubectl(
        &url,
        &[
            "get",
            "pods",
            "-l",
            "job-name=backup-uploads",
            "-o",
            "jsonpath={.items[0].metadata.name}",
        ],
    );
    let log = std::fs::read_to_string(
        kubelet
            .path()
            .join(format!("nodes/node-a/logs/default_{pod}_volume.log")),
    )
    .unwrap_or_default();
    assert_eq!(condition, "Complete", "{log}");
    let id = log
        .split_whitespace()
        .find(|w| w.len() == 64 && w.chars().all(|c| c.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no snapshot id in the Job's log: {log}"));

    let out = Command::new(support::csdr_binary())
        .args([
            "volume",
            "snapshots",
            "--vault",
            &vault,
            "--repository",
            "default",
            "-o",
            "json",
        ])
        .env("CSDR_REPOSITORY_PASSWORD", "correct horse battery staple")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8(out.stdout).unwrap();
    assert!(listed.contains(id), "{listed}");
    assert!(listed.contains("pvc=uploads"), "{listed}");
    drop(served);
}
