//! The plain renames: kinds whose `v1beta1` and `v1` schemas are the same, so the migration
//! only changes `apiVersion` (in both directions).
//!
//! Source for every row: the deprecation guide
//! (<https://kubernetes.io/docs/reference/using-api/deprecation-guide/>), which lists "no
//! notable changes" for each, and the generated conversions in
//! `pkg/apis/<group>/v1beta1/zz_generated.conversion.go` (field-for-field copies through the
//! internal type):
//!
//! | kind | group | removed in | what differs |
//! |---|---|---|---|
//! | Role, RoleBinding, ClusterRole, ClusterRoleBinding | rbac.authorization.k8s.io | 1.22 | nothing |
//! | StorageClass, VolumeAttachment, CSIDriver, CSINode | storage.k8s.io | 1.22 | nothing |
//! | CSIStorageCapacity | storage.k8s.io | 1.27 | nothing |
//! | PriorityClass | scheduling.k8s.io | 1.22 | nothing |
//! | Lease | coordination.k8s.io | 1.22 | nothing |
//! | Event | events.k8s.io | 1.25 | nothing in the schema; v1 validates harder (`type` Normal or Warning, `reportingController`, `reportingInstance`, `action`, `reason` required), so an old, incomplete Event can be refused |
//! | RuntimeClass | node.k8s.io | 1.25 | nothing |
//! | APIService | apiregistration.k8s.io | 1.22 | nothing |
//!
//! Kinds with real field changes have their own modules (Ingress, workloads, CronJob,
//! PodDisruptionBudget, HorizontalPodAutoscaler, NetworkPolicy, CustomResourceDefinition,
//! EndpointSlice, webhooks, CertificateSigningRequest, API Priority and Fairness).
//!
//! ```
//! use csdr_core::convert::convert;
//! use csdr_core::object::{GroupVersion, KubeObject};
//! use serde_json::json;
//!
//! let old = KubeObject::new(json!({"apiVersion": "rbac.authorization.k8s.io/v1beta1",
//!     "kind": "Role", "metadata": {"name": "pod-reader", "namespace": "default"},
//!     "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}))?;
//! let new = convert(old.clone(), &GroupVersion::new("rbac.authorization.k8s.io", "v1"))?;
//! assert_eq!(new.api_version(), "rbac.authorization.k8s.io/v1");
//! assert_eq!(new.fields().get("rules"), old.fields().get("rules"));
//! # Ok::<(), csdr_core::Error>(())
//! ```

use super::{Migration, fields::keep};

/// (upgrade name, downgrade name, group, kind)
const RENAMES: &[(&str, &str, &str, &str)] = &[
    (
        "role-rbac-v1beta1-to-v1",
        "role-rbac-v1-to-v1beta1",
        "rbac.authorization.k8s.io",
        "Role",
    ),
    (
        "rolebinding-rbac-v1beta1-to-v1",
        "rolebinding-rbac-v1-to-v1beta1",
        "rbac.authorization.k8s.io",
        "RoleBinding",
    ),
    (
        "clusterrole-rbac-v1beta1-to-v1",
        "clusterrole-rbac-v1-to-v1beta1",
        "rbac.authorization.k8s.io",
        "ClusterRole",
    ),
    (
        "clusterrolebinding-rbac-v1beta1-to-v1",
        "clusterrolebinding-rbac-v1-to-v1beta1",
        "rbac.authorization.k8s.io",
        "ClusterRoleBinding",
    ),
    (
        "storageclass-storage-v1beta1-to-v1",
        "storageclass-storage-v1-to-v1beta1",
        "storage.k8s.io",
        "StorageClass",
    ),
    (
        "volumeattachment-storage-v1beta1-to-v1",
        "volumeattachment-storage-v1-to-v1beta1",
        "storage.k8s.io",
        "VolumeAttachment",
    ),
    (
        "csidriver-storage-v1beta1-to-v1",
        "csidriver-storage-v1-to-v1beta1",
        "storage.k8s.io",
        "CSIDriver",
    ),
    (
        "csinode-storage-v1beta1-to-v1",
        "csinode-storage-v1-to-v1beta1",
        "storage.k8s.io",
        "CSINode",
    ),
    (
        "csistoragecapacity-storage-v1beta1-to-v1",
        "csistoragecapacity-storage-v1-to-v1beta1",
        "storage.k8s.io",
        "CSIStorageCapacity",
    ),
    (
        "priorityclass-scheduling-v1beta1-to-v1",
        "priorityclass-scheduling-v1-to-v1beta1",
        "scheduling.k8s.io",
        "PriorityClass",
    ),
    (
        "lease-coordination-v1beta1-to-v1",
        "lease-coordination-v1-to-v1beta1",
        "coordination.k8s.io",
        "Lease",
    ),
    (
        "event-events-v1beta1-to-v1",
        "event-events-v1-to-v1beta1",
        "events.k8s.io",
        "Event",
    ),
    (
        "runtimeclass-node-v1beta1-to-v1",
        "runtimeclass-node-v1-to-v1beta1",
        "node.k8s.io",
        "RuntimeClass",
    ),
    (
        "apiservice-apiregistration-v1beta1-to-v1",
        "apiservice-apiregistration-v1-to-v1beta1",
        "apiregistration.k8s.io",
        "APIService",
    ),
];

pub(super) fn migrations() -> Vec<Migration> {
    let mut all: Vec<Migration> = RENAMES
        .iter()
        .flat_map(|&(up, down, group, kind)| {
            let beta = format!("{group}/v1beta1");
            let ga = format!("{group}/v1");
            [
                Migration::new(up, &beta, &ga, kind, keep),
                Migration::new(down, &ga, &beta, kind, keep),
            ]
        })
        .collect();
    // PodSecurityPolicy lived in two groups with one schema (`extensions/v1beta1` and
    // `policy/v1beta1`, pkg/apis/extensions/v1beta1 and pkg/apis/policy/v1beta1 types.go);
    // where a cluster serves it, it moves between them as a rename. It has no successor:
    // to a cluster without it, it is not restorable (see `POD_SECURITY_POLICY_REMOVED`).
    all.push(Migration::new(
        "podsecuritypolicy-extensions-v1beta1-to-policy-v1beta1",
        "extensions/v1beta1",
        "policy/v1beta1",
        "PodSecurityPolicy",
        keep,
    ));
    all.push(Migration::new(
        "podsecuritypolicy-policy-v1beta1-to-extensions-v1beta1",
        "policy/v1beta1",
        "extensions/v1beta1",
        "PodSecurityPolicy",
        keep,
    ));
    all
}

#[cfg(test)]
mod tests {
    use super::super::convert;
    use super::RENAMES;
    use crate::object::{GroupVersion, KubeObject};
    use serde_json::{Value, json};

    /// A realistic object of each renamed kind, as the Kubernetes documentation writes it.
    fn example(kind: &str) -> Value {
        match kind {
            "Role" => {
                json!({"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "watch", "list"]}]})
            }
            "ClusterRole" => {
                json!({"rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "watch", "list"]}],
                "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"rbac.example.com/aggregate-to-monitoring": "true"}}]}})
            }
            "RoleBinding" | "ClusterRoleBinding" => json!({
                "subjects": [{"kind": "User", "name": "jane", "apiGroup": "rbac.authorization.k8s.io"}],
                "roleRef": {"kind": "Role", "name": "pod-reader", "apiGroup": "rbac.authorization.k8s.io"}}),
            "StorageClass" => {
                json!({"provisioner": "kubernetes.io/aws-ebs", "parameters": {"type": "gp2"},
                "reclaimPolicy": "Retain", "allowVolumeExpansion": true, "volumeBindingMode": "WaitForFirstConsumer"})
            }
            "VolumeAttachment" => {
                json!({"spec": {"attacher": "ebs.csi.aws.com", "nodeName": "node-1",
                "source": {"persistentVolumeName": "pv-1"}}})
            }
            "CSIDriver" => json!({"spec": {"attachRequired": true, "podInfoOnMount": true,
                "volumeLifecycleModes": ["Persistent", "Ephemeral"]}}),
            "CSINode" => {
                json!({"spec": {"drivers": [{"name": "ebs.csi.aws.com", "nodeID": "i-0123", "topologyKeys": ["topology.ebs.csi.aws.com/zone"]}]}})
            }
            "CSIStorageCapacity" => json!({"storageClassName": "standard", "capacity": "100Gi",
                "nodeTopology": {"matchLabels": {"topology.kubernetes.io/zone": "us-east-1a"}}}),
            "PriorityClass" => json!({"value": 1000000, "globalDefault": false,
                "description": "This priority class should be used for XYZ service pods only."}),
            "Lease" => json!({"spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40}}),
            "Event" => {
                json!({"eventTime": "2021-01-01T00:00:00.000000Z", "reportingController": "kubelet",
                "reportingInstance": "node-1", "action": "Pulling", "reason": "Pulling", "type": "Normal",
                "regarding": {"kind": "Pod", "name": "web-0", "namespace": "default"}, "note": "Pulling image"})
            }
            "RuntimeClass" => {
                json!({"handler": "runsc", "scheduling": {"nodeSelector": {"runtime": "gvisor"}}})
            }
            "APIService" => {
                json!({"spec": {"group": "metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": 100,
                "versionPriority": 100, "service": {"namespace": "kube-system", "name": "metrics-server"}}})
            }
            other => panic!("no example for {other}"),
        }
    }

    #[test]
    fn every_rename_changes_only_the_api_version_both_ways() {
        for &(_, _, group, kind) in RENAMES {
            let mut value = example(kind);
            value["apiVersion"] = json!(format!("{group}/v1beta1"));
            value["kind"] = json!(kind);
            value["metadata"] = json!({"name": "example", "namespace": "default"});
            let before = KubeObject::new(value.clone()).unwrap();
            let up = convert(before.clone(), &GroupVersion::new(group, "v1")).unwrap();
            value["apiVersion"] = json!(format!("{group}/v1"));
            assert_eq!(up.to_value(), value, "{kind}");
            let down = convert(up, &GroupVersion::new(group, "v1beta1")).unwrap();
            assert_eq!(down, before, "{kind}");
        }
    }
}
