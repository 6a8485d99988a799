//! Shared fixtures for the end-to-end tests: a small realistic application on a simulated
//! Kubernetes 1.16 cluster.
#![allow(dead_code)]

use std::sync::Arc;

use csdr::core::object::{GroupVersionResource, KubeObject};
use csdr::core::ports::cluster::Cluster;
use csdr::core::ports::vault::Vault;
use csdr::core::releases::KubeRelease;
use csdr::core::sim::{SimCluster, SimDocument};
use csdr::storage::{ObjectVault, StorageOptions};
use serde_json::json;

/// The shop application as YAML, in the API versions a 1.16 user wrote.
pub const SHOP_YAML: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: alicloud-disk-ssd}
provisioner: diskplugin.csi.alibabacloud.com
reclaimPolicy: Delete
volumeBindingMode: Immediate
---
apiVersion: extensions/v1beta1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  replicas: 2
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.17
        ports: [{containerPort: 80}]
        volumeMounts: [{name: data, mountPath: /data}]
      volumes:
      - name: data
        persistentVolumeClaim: {claimName: data}
---
apiVersion: extensions/v1beta1
kind: Ingress
metadata: {name: web, namespace: shop}
spec:
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /
        backend: {serviceName: web, servicePort: 80}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 80, nodePort: 30080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-public, namespace: shop}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {app: web}
  ports: [{port: 443, targetPort: 80}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: shop}
spec:
  storageClassName: alicloud-disk-ssd
  accessModes: [ReadWriteMany]
  resources: {requests: {storage: 10Gi}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config, namespace: shop, labels: {app: web}}
data: {greeting: hello}
---
apiVersion: v1
kind: Secret
metadata: {name: web-secret, namespace: shop}
type: Opaque
data: {password: cGFzc3dvcmQ=}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: kube-proxy, namespace: kube-system}
data: {mode: iptables}
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
        text: r#"
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: alicloud-disk-ssd}
provisioner: diskplugin.csi.alibabacloud.com
reclaimPolicy: Delete
volumeBindingMode: WaitForFirstConsumer
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: alicloud-disk-topology-alltype}
provisioner: diskplugin.csi.alibabacloud.com
volumeBindingMode: WaitForFirstConsumer
"#
        .into(),
    }])
    .expect("the target fixture loads");
    sim.add_node("node-a", "cn-hangzhou-a").expect("node");
    sim.add_node("node-b", "cn-hangzhou-b").expect("node");
    sim
}

/// A fresh in-memory vault.
pub async fn memory_vault() -> Arc<dyn Vault> {
    Arc::new(
        ObjectVault::open_url("test", "memory://", &StorageOptions::default())
            .await
            .expect("memory vault"),
    )
}

/// A vault in a temporary folder (kept alive by the returned guard).
pub async fn file_vault() -> (Arc<dyn Vault>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("file://{}", dir.path().display());
    let vault = ObjectVault::open_url("test", &url, &StorageOptions::default())
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
