//! `csdr cluster serve --kubelet-dir` keeps simulated kubelets in step with the served
//! cluster: a pod created with kubectl sees its claim's volume as a symlink to the
//! PersistentVolume's data (D3).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `cluster serve` killed when dropped.
struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
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
