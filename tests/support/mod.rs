//! Shared fixtures for the end-to-end tests: a small realistic application on a simulated
//! Kubernetes 1.16 cluster.
#![allow(dead_code)]

use std::sync::Arc;

use csdr::core::object::{GroupVersionResource, KubeObject};
use csdr::core::ports::cluster::Cluster;
use csdr::core::ports::vault::Vault;
use csdr::core::releases::KubeRelease;
use csdr::core::sim::{SimCluster, SimDocument};
use csdr::storage::StorageOptions;
use serde_json::json;

#[path = "../../csdr-storage/tests/common/tools.rs"]
mod tools;

/// The reference CLI (`examples/csdr.rs`), built once per test binary with the profile of the
/// running test.
///
/// The build names the whole workspace and all its features, as `scripts/test.sh` runs
/// `cargo test`: the example then shares every dependency artifact with the test build instead
/// of compiling a second copy of the workspace under another feature set (which once filled
/// the CI machine's disk).
pub fn csdr_binary() -> &'static std::path::Path {
    static BINARY: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BINARY.get_or_init(|| {
        // <target>/<profile>/deps/<test>-<hash>
        let exe = std::env::current_exe().expect("the test binary has a path");
        let profile_dir = exe
            .parent()
            .and_then(std::path::Path::parent)
            .expect("the test binary lies in <target>/<profile>/deps")
            .to_path_buf();
        let target_dir = profile_dir
            .parent()
            .expect("the profile folder lies in the target folder");
        let mut build = std::process::Command::new(env!("CARGO"));
        build
            .args([
                "build",
                "-q",
                "--workspace",
                "--all-features",
                "--example",
                "csdr",
                "--target-dir",
            ])
            .arg(target_dir);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building the csdr example failed");
        profile_dir.join("examples").join("csdr")
    })
}

/// The shop application as YAML, in the API versions a 1.16 user wrote.
pub const SHOP_YAML: &str = include_str!("../../examples/csdr/cluster-116/shop.yaml");

/// The target cluster's StorageClasses.
pub const TARGET_STORAGE_YAML: &str = include_str!("../../examples/data/target-storage.yaml");

/// A NAS volume with its PersistentVolume named, mounted by pod `web-1` on `node-a`; node
/// `node-0` is excluded from volume jobs (C2), and class `extreme-nas` is a NAS class to
/// restore into.
pub const NAS_APP: &str = r#"
apiVersion: v1
kind: Node
metadata:
  name: node-0
  labels: {csdr.alibabacloud.com/agent-excluded: "true"}
---
apiVersion: v1
kind: Node
metadata: {name: node-a}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: alicloud-nas}
provisioner: nasplugin.csi.alibabacloud.com
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: extreme-nas}
provisioner: nasplugin.csi.alibabacloud.com
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: nas-uploads}
spec:
  storageClassName: alicloud-nas
  capacity: {storage: 50Gi}
  accessModes: [ReadWriteMany]
  persistentVolumeReclaimPolicy: Retain
  csi: {driver: nasplugin.csi.alibabacloud.com, volumeHandle: nas-uploads}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: uploads, namespace: shop}
spec:
  storageClassName: alicloud-nas
  volumeName: nas-uploads
  accessModes: [ReadWriteMany]
  resources: {requests: {storage: 50Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop}
spec:
  nodeName: node-a
  containers: [{name: web, image: "nginx:1.25"}]
  volumes:
  - {name: files, persistentVolumeClaim: {claimName: uploads}}
"#;

/// A simulated cluster of `release` holding the shop application.
pub fn shop_cluster(release: KubeRelease) -> SimCluster {
    let sim = SimCluster::new(release);
    sim.load_documents(&[SimDocument {
        path: "shop.yaml".into(),
        text: SHOP_YAML.into(),
    }])
    .expect("the shop fixture loads");
    sim
}

/// A simulated target cluster with the storage classes and zones a restore needs.
pub fn target_cluster(release: KubeRelease) -> SimCluster {
    let sim = SimCluster::new(release);
    sim.load_documents(&[SimDocument {
        path: "target.yaml".into(),
        text: TARGET_STORAGE_YAML.into(),
    }])
    .expect("the target fixture loads");
    sim.add_node("node-a", "cn-hangzhou-a").expect("node");
    sim.add_node("node-b", "cn-hangzhou-b").expect("node");
    sim
}

/// A fresh in-memory vault.
pub async fn memory_vault() -> Arc<dyn Vault> {
    Arc::new(
        csdr::storage::open_url("test", "memory://", &StorageOptions::default())
            .await
            .expect("memory vault"),
    )
}

/// A vault in a temporary folder (kept alive by the returned guard).
pub async fn file_vault() -> (Arc<dyn Vault>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("file://{}", dir.path().display());
    let vault = csdr::storage::open_url("test", &url, &StorageOptions::default())
        .await
        .expect("file vault");
    (Arc::new(vault), dir)
}

/// One object from a cluster.
pub async fn get(
    cluster: &dyn Cluster,
    group: &str,
    version: &str,
    resource: &str,
    ns: Option<&str>,
    name: &str,
) -> Option<KubeObject> {
    cluster
        .get(
            &GroupVersionResource::new(group, version, resource),
            ns,
            name,
        )
        .await
        .expect("get")
}

/// A JSON value shortcut for assertions.
pub fn j(v: serde_json::Value) -> serde_json::Value {
    json!(v)
}

/// The S3 test server from `scripts/test.sh` (`CSDR_TEST_S3_ENDPOINT`, `CSDR_TEST_S3_BUCKET`):
/// `None`, with a note naming `what` is skipped, when it is not configured; a failure when it
/// is not configured under `CI`.
pub fn s3_env(what: &str) -> Option<(String, String)> {
    match (
        std::env::var("CSDR_TEST_S3_ENDPOINT"),
        std::env::var("CSDR_TEST_S3_BUCKET"),
    ) {
        (Ok(endpoint), Ok(bucket)) => Some((endpoint, bucket)),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but CSDR_TEST_S3_ENDPOINT/CSDR_TEST_S3_BUCKET are not: {what} must run in CI (use scripts/test.sh)"
            );
            eprintln!(
                "note: skipping {what}: CSDR_TEST_S3_ENDPOINT/CSDR_TEST_S3_BUCKET are not set (run scripts/test.sh)"
            );
            None
        }
    }
}

/// A prefix of the S3 test bucket no other test run uses: `<what>-<pid>-<nanos>`.
pub fn unique_prefix(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{what}-{}-{nanos:x}", std::process::id())
}

/// A new age identity file in `dir` (age-keygen, which scripts/test.sh installs); its path
/// and public recipient.
pub fn age_identity(dir: &std::path::Path) -> (std::path::PathBuf, String) {
    tools::keygen(dir, "age-identity.txt")
}

/// A new KMS key on the S3 test server's KMS (moto, at `endpoint`); its ARN.
pub fn moto_kms_key(endpoint: &str) -> String {
    tools::boto3(endpoint, "print(kms.create_key()['KeyMetadata']['Arn'])")
}
