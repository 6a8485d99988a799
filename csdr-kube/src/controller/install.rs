//! What `csdr install` applies (K4): the `csdr` namespace, the CRDs, the controller's
//! ServiceAccount and least-privilege roles, the FAQ's `csdr-console` ClusterRole for
//! operators, the `csdr-config` ConfigMap with defaults, and the controller Deployment.
//!
//! Manifests are plain JSON values in apply order; [`install_manifests`] is what
//! `csdr install --dry-run -o yaml` prints and what `csdr install --cluster` applies with
//! server-side apply (field manager [`FIELD_MANAGER`]).

use std::collections::BTreeMap;

use csdr_core::config::{CONFIGMAP_NAME, Config, ConfigError};
use serde_json::{Value, json};

use crate::resources::crds;

/// The field manager of everything csdr applies.
pub const FIELD_MANAGER: &str = "csdr-controller";
/// The controller's ServiceAccount, roles and Deployment.
pub const CONTROLLER_NAME: &str = "csdr-controller";
/// The label selecting the controller's pods (`kubectl -n csdr delete pod -l control-plane=csdr-controller`).
pub const CONTROL_PLANE_LABEL: (&str, &str) = ("control-plane", "csdr-controller");

/// What to install.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstallOptions {
    /// The namespace (`csdr`).
    pub namespace: String,
    /// The controller image.
    pub image: String,
    /// Controller replicas (more than one elect a leader).
    pub replicas: u32,
    /// The metrics and health port.
    pub metrics_port: u16,
}

impl Default for InstallOptions {
    fn default() -> Self {
        InstallOptions {
            namespace: "csdr".into(),
            image: "csdr:latest".into(),
            replicas: 1,
            metrics_port: 8080,
        }
    }
}

/// The `csdr-console` ClusterRole of the FAQ, verbatim: what backup center operators need.
pub fn console_cluster_role() -> Value {
    json!({
        "kind": "ClusterRole",
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "metadata": {"name": "csdr-console"},
        "rules": [
            {"apiGroups": ["csdr.alibabacloud.com", "velero.io"], "resources": ["*"],
             "verbs": ["get", "create", "delete", "update", "patch", "watch", "list", "deletecollection"]},
            {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list"]},
            {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": ["get", "list"]}
        ]
    })
}

/// Every manifest, in apply order (namespace and CRDs first).
pub fn install_manifests(options: &InstallOptions) -> Result<Vec<Value>, ConfigError> {
    let ns = options.namespace.as_str();
    let labels =
        json!({"app.kubernetes.io/name": "csdr", "app.kubernetes.io/component": "controller"});
    let mut out = vec![json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": ns, "labels": {"app.kubernetes.io/name": "csdr"}}
    })];
    for crd in crds() {
        let mut v = serde_json::to_value(&crd).unwrap_or(Value::Null);
        if let Some(obj) = v.as_object_mut() {
            obj.insert("apiVersion".into(), json!("apiextensions.k8s.io/v1"));
            obj.insert("kind".into(), json!("CustomResourceDefinition"));
        }
        out.push(v);
    }
    out.push(json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": CONTROLLER_NAME, "namespace": ns, "labels": labels}
    }));
    out.push(console_cluster_role());
    // Cluster-wide: a backup reads every served resource; a restore creates and patches
    // them (never deletes, R11); snapshots are created and, with their backup, deleted.
    out.push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": CONTROLLER_NAME, "labels": labels},
        "rules": [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch", "create", "update", "patch"]},
            {"apiGroups": ["snapshot.storage.k8s.io"],
             "resources": ["volumesnapshots", "volumesnapshotcontents"], "verbs": ["delete"]}
        ]
    }));
    out.push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": CONTROLLER_NAME, "labels": labels},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": CONTROLLER_NAME},
        "subjects": [{"kind": "ServiceAccount", "name": CONTROLLER_NAME, "namespace": ns}]
    }));
    // In its own namespace: its resources (and their status), Events, the leader Lease,
    // the configuration and the vault credentials.
    out.push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": CONTROLLER_NAME, "namespace": ns, "labels": labels},
        "rules": [
            {"apiGroups": ["csdr.alibabacloud.com"], "resources": ["*"],
             "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
            {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
             "verbs": ["get", "list", "watch", "create", "update", "patch"]},
            {"apiGroups": [""], "resources": ["configmaps", "secrets"], "verbs": ["get", "list", "watch"]}
        ]
    }));
    out.push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": CONTROLLER_NAME, "namespace": ns, "labels": labels},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": CONTROLLER_NAME},
        "subjects": [{"kind": "ServiceAccount", "name": CONTROLLER_NAME, "namespace": ns}]
    }));
    let data: BTreeMap<String, String> = Config::default().to_configmap_data()?;
    out.push(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": CONFIGMAP_NAME, "namespace": ns, "labels": labels},
        "data": data
    }));
    let (label_key, label_value) = CONTROL_PLANE_LABEL;
    let port = options.metrics_port;
    out.push(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": CONTROLLER_NAME, "namespace": ns, "labels": {label_key: label_value}},
        "spec": {
            "replicas": options.replicas,
            "selector": {"matchLabels": {label_key: label_value}},
            "template": {
                "metadata": {"labels": {label_key: label_value, "app": CONTROLLER_NAME}},
                "spec": {
                    "serviceAccountName": CONTROLLER_NAME,
                    "terminationGracePeriodSeconds": 60,
                    "containers": [{
                        "name": "controller",
                        "image": options.image,
                        "args": ["server", "--cluster", "kube", "--namespace", ns,
                                 "--metrics-port", port.to_string()],
                        "ports": [{"name": "metrics", "containerPort": port}],
                        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                        "livenessProbe": {"httpGet": {"path": "/healthz", "port": port}},
                        "readinessProbe": {"httpGet": {"path": "/readyz", "port": port}},
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                      "limits": {"memory": "1Gi"}}
                    }]
                }
            }
        }
    }));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_holds_everything_in_order() {
        let manifests = install_manifests(&InstallOptions::default()).unwrap();
        let kinds: Vec<_> = manifests
            .iter()
            .map(|m| m["kind"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(kinds[0], "Namespace");
        assert_eq!(
            kinds
                .iter()
                .filter(|k| *k == "CustomResourceDefinition")
                .count(),
            5
        );
        for k in [
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "ConfigMap",
            "Deployment",
        ] {
            assert!(kinds.iter().any(|x| x == k), "{k} missing");
        }
        let console = manifests
            .iter()
            .find(|m| m["metadata"]["name"] == "csdr-console")
            .unwrap();
        assert_eq!(console["rules"][0]["verbs"].as_array().unwrap().len(), 8);
        let cm = manifests.iter().find(|m| m["kind"] == "ConfigMap").unwrap();
        let data: BTreeMap<String, String> = serde_json::from_value(cm["data"].clone()).unwrap();
        assert_eq!(
            Config::from_configmap_data(&data).unwrap(),
            Config::default()
        );
        let deploy = manifests.last().unwrap();
        assert_eq!(
            deploy["spec"]["template"]["metadata"]["labels"]["control-plane"],
            "csdr-controller"
        );
        assert_eq!(
            deploy["spec"]["template"]["spec"]["containers"][0]["args"][0],
            "server"
        );
    }
}
