//! What `csdr install` applies (K4): the `csdr` namespace, the CRDs, the controller's
//! ServiceAccount and least-privilege roles, the FAQ's `csdr-console` ClusterRole for
//! operators, the `csdr-config` ConfigMap with defaults, the controller Deployment, and the
//! node agents' DaemonSet `csdr-node-agent` with its own ServiceAccount and roles (D3): it
//! runs `csdr node-agent` on the nodes the `node_schedule_policy` allows (C2), with the
//! kubelet's folder mounted (`mountPropagation: HostToContainer`).
//!
//! Manifests are plain JSON values in apply order; [`install_manifests`] is what
//! `csdr install --dry-run -o yaml` prints and what `csdr install --cluster` applies with
//! server-side apply (field manager [`FIELD_MANAGER`]).

use std::collections::BTreeMap;

use csdr_core::config::{CONFIGMAP_NAME, Config, ConfigError};
use csdr_core::node_policy::{
    AGENT_EXCLUDED_LABEL, AGENT_INCLUDED_LABEL, NODE_TYPE_LABEL, NodeSchedulePolicy,
    VIRTUAL_NODE_TYPE,
};
use serde_json::{Value, json};

use super::node_agent::{NODE_AGENT_NAME, NODE_AGENT_POD_LABEL};
use crate::resources::crds;

/// The kubelet's root folder on the nodes, mounted into the node agents at the same path.
pub const KUBELET_ROOT_PATH: &str = "/var/lib/kubelet";

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
    /// The node scheduling policy (C2) of the node agents' DaemonSet and of the
    /// `csdr-config` applied with it (an existing `csdr-config`'s policy, when installing
    /// into a cluster that has one).
    pub node_schedule_policy: NodeSchedulePolicy,
}

impl Default for InstallOptions {
    fn default() -> Self {
        InstallOptions {
            namespace: "csdr".into(),
            image: "csdr:latest".into(),
            replicas: 1,
            metrics_port: 8080,
            node_schedule_policy: NodeSchedulePolicy::Exclude,
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

/// The node affinity of the node agents under `policy` (C2): `exclude` keeps them off nodes
/// labelled `agent-excluded=true`, `include` puts them only on nodes labelled
/// `agent-included=true`, `prefer` prefers the included ones; never on virtual nodes.
pub fn node_agent_affinity(policy: NodeSchedulePolicy) -> Value {
    let not_virtual =
        json!({"key": NODE_TYPE_LABEL, "operator": "NotIn", "values": [VIRTUAL_NODE_TYPE]});
    let mut required = vec![not_virtual];
    let mut preferred = Vec::new();
    match policy {
        NodeSchedulePolicy::Exclude => required
            .push(json!({"key": AGENT_EXCLUDED_LABEL, "operator": "NotIn", "values": ["true"]})),
        NodeSchedulePolicy::Include => required
            .push(json!({"key": AGENT_INCLUDED_LABEL, "operator": "In", "values": ["true"]})),
        NodeSchedulePolicy::Prefer => preferred.push(json!({
            "weight": 100,
            "preference": {"matchExpressions": [
                {"key": AGENT_INCLUDED_LABEL, "operator": "In", "values": ["true"]}
            ]}
        })),
    }
    let mut affinity = json!({
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": required}]
        }
    });
    if !preferred.is_empty() {
        affinity["preferredDuringSchedulingIgnoredDuringExecution"] = json!(preferred);
    }
    json!({"nodeAffinity": affinity})
}

/// The node agents' ServiceAccount, least-privilege Role and ClusterRole (with bindings)
/// and DaemonSet.
pub fn node_agent_manifests(options: &InstallOptions) -> Vec<Value> {
    let ns = options.namespace.as_str();
    let labels =
        json!({"app.kubernetes.io/name": "csdr", "app.kubernetes.io/component": "node-agent"});
    let (pod_key, pod_value) = NODE_AGENT_POD_LABEL;
    let binding_subject =
        json!([{"kind": "ServiceAccount", "name": NODE_AGENT_NAME, "namespace": ns}]);
    vec![
        json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": NODE_AGENT_NAME, "namespace": ns, "labels": labels}
        }),
        // In the csdr namespace: its volume jobs (read, and their status written), the
        // BackupLocations they name and the Secrets those read (the repository key and each
        // location's `spec.credential`, whose names users choose: hence every Secret of this
        // namespace, read only).
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": NODE_AGENT_NAME, "namespace": ns, "labels": labels},
            "rules": [
                {"apiGroups": ["csdr.alibabacloud.com"],
                 "resources": ["podvolumebackups", "podvolumerestores"],
                 "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["csdr.alibabacloud.com"],
                 "resources": ["podvolumebackups/status", "podvolumerestores/status"],
                 "verbs": ["get", "patch"]},
                {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
                {"apiGroups": ["csdr.alibabacloud.com"], "resources": ["backuplocations"],
                 "verbs": ["get"]}
            ]
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": NODE_AGENT_NAME, "namespace": ns, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NODE_AGENT_NAME},
            "subjects": binding_subject
        }),
        // Cluster-wide reads only: the pods whose volumes it copies and its node.
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": NODE_AGENT_NAME, "labels": labels},
            "rules": [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
                {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}
            ]
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": NODE_AGENT_NAME, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NODE_AGENT_NAME},
            "subjects": binding_subject
        }),
        json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": NODE_AGENT_NAME, "namespace": ns, "labels": labels},
            "spec": {
                "selector": {"matchLabels": {pod_key: pod_value}},
                "template": {
                    "metadata": {"labels": {pod_key: pod_value, "app.kubernetes.io/name": "csdr",
                                            "app.kubernetes.io/component": "node-agent"}},
                    "spec": {
                        "serviceAccountName": NODE_AGENT_NAME,
                        "affinity": node_agent_affinity(options.node_schedule_policy),
                        "tolerations": [{"operator": "Exists"}],
                        "terminationGracePeriodSeconds": 30,
                        "containers": [{
                            "name": "node-agent",
                            "image": options.image,
                            "args": ["node-agent", "--cluster", "kube", "--namespace", ns],
                            "env": [
                                {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                                {"name": "KUBELET_ROOT_PATH", "value": KUBELET_ROOT_PATH}
                            ],
                            "securityContext": {"privileged": true},
                            "volumeMounts": [{
                                "name": "kubelet-root",
                                "mountPath": KUBELET_ROOT_PATH,
                                "mountPropagation": "HostToContainer"
                            }],
                            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                          "limits": {"memory": "2Gi"}}
                        }],
                        "volumes": [{
                            "name": "kubelet-root",
                            "hostPath": {"path": KUBELET_ROOT_PATH, "type": "Directory"}
                        }]
                    }
                }
            }
        }),
    ]
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
    // them (never deletes, R11); snapshots are created and, with their backup, deleted; the
    // short-lived pods reaching volumes and a StorageClass conversion's temporary claims are
    // deleted once used.
    out.push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": CONTROLLER_NAME, "labels": labels},
        "rules": [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch", "create", "update", "patch"]},
            {"apiGroups": ["snapshot.storage.k8s.io"],
             "resources": ["volumesnapshots", "volumesnapshotcontents"], "verbs": ["delete"]},
            {"apiGroups": [""], "resources": ["pods", "persistentvolumeclaims"], "verbs": ["delete"]}
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
    let mut config = Config::default();
    config.application_backup.node_schedule_policy = options.node_schedule_policy;
    let data: BTreeMap<String, String> = config.to_configmap_data()?;
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
    out.extend(node_agent_manifests(options));
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
            8
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
        let deploy = manifests
            .iter()
            .find(|m| m["kind"] == "Deployment")
            .unwrap();
        assert_eq!(
            deploy["spec"]["template"]["metadata"]["labels"]["control-plane"],
            "csdr-controller"
        );
        assert_eq!(
            deploy["spec"]["template"]["spec"]["containers"][0]["args"][0],
            "server"
        );
    }

    fn daemon_set(policy: NodeSchedulePolicy) -> Value {
        let manifests = install_manifests(&InstallOptions {
            node_schedule_policy: policy,
            ..InstallOptions::default()
        })
        .unwrap();
        let cm = manifests.iter().find(|m| m["kind"] == "ConfigMap").unwrap();
        let data: BTreeMap<String, String> = serde_json::from_value(cm["data"].clone()).unwrap();
        assert_eq!(
            Config::from_configmap_data(&data)
                .unwrap()
                .application_backup
                .node_schedule_policy,
            policy
        );
        manifests
            .into_iter()
            .find(|m| m["kind"] == "DaemonSet")
            .unwrap()
    }

    #[test]
    fn the_node_agent_daemon_set_follows_the_node_policy() {
        for policy in [
            NodeSchedulePolicy::Exclude,
            NodeSchedulePolicy::Include,
            NodeSchedulePolicy::Prefer,
        ] {
            let ds = daemon_set(policy);
            assert_eq!(ds["metadata"]["name"], "csdr-node-agent");
            assert_eq!(ds["metadata"]["namespace"], "csdr");
            let spec = &ds["spec"]["template"]["spec"];
            let container = &spec["containers"][0];
            assert_eq!(container["args"][0], "node-agent");
            assert_eq!(
                container["env"][0]["valueFrom"]["fieldRef"]["fieldPath"],
                "spec.nodeName"
            );
            assert_eq!(container["env"][2]["value"], "/var/lib/kubelet");
            assert_eq!(
                container["volumeMounts"][0]["mountPropagation"],
                "HostToContainer"
            );
            assert_eq!(spec["volumes"][0]["hostPath"]["path"], "/var/lib/kubelet");
            let affinity = &spec["affinity"]["nodeAffinity"];
            let required = &affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
                [0]["matchExpressions"];
            assert_eq!(
                required[0],
                json!({"key": "type", "operator": "NotIn", "values": ["virtual-kubelet"]})
            );
            let preferred = &affinity["preferredDuringSchedulingIgnoredDuringExecution"];
            match policy {
                NodeSchedulePolicy::Exclude => {
                    assert_eq!(required[1]["key"], AGENT_EXCLUDED_LABEL);
                    assert_eq!(required[1]["operator"], "NotIn");
                    assert!(preferred.is_null());
                }
                NodeSchedulePolicy::Include => {
                    assert_eq!(required[1]["key"], AGENT_INCLUDED_LABEL);
                    assert_eq!(required[1]["operator"], "In");
                    assert!(preferred.is_null());
                }
                NodeSchedulePolicy::Prefer => {
                    assert_eq!(required.as_array().unwrap().len(), 1);
                    let expr = &preferred[0]["preference"]["matchExpressions"][0];
                    assert_eq!(expr["key"], AGENT_INCLUDED_LABEL);
                    assert_eq!(expr["operator"], "In");
                }
            }
        }
    }

    #[test]
    fn the_controller_may_run_conversions() {
        let manifests = install_manifests(&InstallOptions::default()).unwrap();
        let crd = manifests
            .iter()
            .find(|m| {
                m["kind"] == "CustomResourceDefinition"
                    && m["metadata"]["name"] == "converttosnapshots.csdr.alibabacloud.com"
            })
            .expect("the ConvertToSnapshot CRD is installed");
        assert_eq!(crd["spec"]["names"]["kind"], "ConvertToSnapshot");
        let role = manifests
            .iter()
            .find(|m| m["kind"] == "Role" && m["metadata"]["name"] == CONTROLLER_NAME)
            .unwrap();
        let own = &role["rules"][0];
        assert_eq!(own["apiGroups"], json!(["csdr.alibabacloud.com"]));
        assert_eq!(own["resources"], json!(["*"]));
        for verb in ["get", "list", "watch", "patch", "delete"] {
            assert!(
                own["verbs"].as_array().unwrap().iter().any(|v| v == verb),
                "{verb}"
            );
        }
        // Its temporary claims and pods are deleted cluster-wide, nothing else of the core group.
        let cluster_role = manifests
            .iter()
            .find(|m| m["kind"] == "ClusterRole" && m["metadata"]["name"] == CONTROLLER_NAME)
            .unwrap();
        let core_delete = cluster_role["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["apiGroups"] == json!([""]))
            .unwrap();
        assert_eq!(core_delete["verbs"], json!(["delete"]));
        assert_eq!(
            core_delete["resources"],
            json!(["pods", "persistentvolumeclaims"])
        );
    }

    #[test]
    fn the_node_agent_role_is_least_privilege() {
        let manifests = install_manifests(&InstallOptions::default()).unwrap();
        let role = manifests
            .iter()
            .find(|m| m["kind"] == "Role" && m["metadata"]["name"] == "csdr-node-agent")
            .unwrap();
        let verbs: Vec<_> = role["rules"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["verbs"].as_array().unwrap().clone())
            .collect();
        for forbidden in ["create", "delete", "update"] {
            assert!(!verbs.iter().any(|v| v == forbidden), "{forbidden}");
        }
        assert_eq!(
            role["kind"], "Role",
            "Secrets are read in the csdr namespace only"
        );
        assert_eq!(role["rules"][2]["resources"], json!(["secrets"]));
        assert_eq!(role["rules"][2]["verbs"], json!(["get"]));
        let cluster_role = manifests
            .iter()
            .find(|m| m["kind"] == "ClusterRole" && m["metadata"]["name"] == "csdr-node-agent")
            .unwrap();
        assert_eq!(cluster_role["rules"][0]["verbs"], json!(["get"]));
    }
}
