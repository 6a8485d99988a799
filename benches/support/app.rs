//! The application the HTTP benches serve: 24 namespaces (`CSDR_BENCH_NAMESPACES`) of 128
//! realistic objects each (as a Kubernetes 1.16 user wrote them), plus a StorageClass.
#![allow(dead_code)]

use csdr_core::object::{GroupVersionResource, KubeObject};
use csdr_core::ports::cluster::Cluster;
use csdr_core::sim::SimCluster;
use serde_json::{Value, json};

pub const NAMESPACES: usize = 24;

/// The namespaces to serve: `CSDR_BENCH_NAMESPACES`, default [`NAMESPACES`].
pub fn namespaces() -> usize {
    std::env::var("CSDR_BENCH_NAMESPACES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(NAMESPACES)
}

/// One namespace's application: 128 objects.
pub fn application(n: usize) -> Vec<(GroupVersionResource, Value)> {
    let ns = format!("app-{n:02}");
    let gvr = GroupVersionResource::new;
    let mut out = vec![(
        gvr("", "v1", "namespaces"),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
    )];
    for i in 0..20 {
        let app = format!("web-{i}");
        let labels = json!({"app": app, "team": format!("team-{}", n % 5)});
        out.push((
            gvr("apps", "v1", "deployments"),
            json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": app, "namespace": ns, "labels": labels},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": app}},
                "template": {"metadata": {"labels": {"app": app}}, "spec": {"containers": [{
                    "name": "main", "image": format!("registry.example.com/{app}:1.{i}"),
                    "ports": [{"containerPort": 8080}],
                    "env": [{"name": "MODE", "value": "production"}],
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}}}}),
        ));
        out.push((gvr("", "v1", "pods"), json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("{app}-pod"), "namespace": ns, "labels": labels},
            "spec": {"containers": [{"name": "main", "image": format!("registry.example.com/{app}:1.{i}")}],
                "volumes": if i < 5 {
                    json!([{"name": "data", "persistentVolumeClaim": {"claimName": format!("data-{i}")}}])
                } else { json!([]) }}})));
        out.push((gvr("", "v1", "configmaps"), json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("{app}-config"), "namespace": ns, "labels": labels},
            "data": {"app.properties": format!("server.port=8080\nname={app}\n{}", "cache.size=1024\n".repeat(40))}})));
        out.push((
            gvr("", "v1", "configmaps"),
            json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("{app}-flags"), "namespace": ns},
            "data": {"flags": "a=1\nb=2\n"}}),
        ));
        out.push((
            gvr("", "v1", "secrets"),
            json!({
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": format!("{app}-secret"), "namespace": ns},
            "data": {"password": "cGFzc3dvcmQ=", "token": "dG9rZW4tdG9rZW4tdG9rZW4tdG9rZW4="}}),
        ));
    }
    for i in 0..15 {
        let spec = match i {
            0 => json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local",
                "selector": {"app": "web-0"}, "ports": [{"port": 443, "targetPort": 8080}]}),
            _ => {
                json!({"selector": {"app": format!("web-{i}")}, "ports": [{"port": 80, "targetPort": 8080}]})
            }
        };
        out.push((
            gvr("", "v1", "services"),
            json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": format!("web-{i}"), "namespace": ns}, "spec": spec}),
        ));
    }
    for i in 0..5 {
        out.push((
            gvr("", "v1", "persistentvolumeclaims"),
            json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": format!("data-{i}"), "namespace": ns},
            "spec": {"storageClassName": "alicloud-disk-ssd", "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "20Gi"}}}}),
        ));
    }
    // RBAC: the application's service account, a role and its binding.
    out.push((
        gvr("", "v1", "serviceaccounts"),
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "web", "namespace": ns}}),
    ));
    out.push((
        gvr("rbac.authorization.k8s.io", "v1", "roles"),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "web-reader", "namespace": ns},
            "rules": [{"apiGroups": [""], "resources": ["configmaps", "secrets"],
                "verbs": ["get", "list", "watch"]}]}),
    ));
    out.push((
        gvr("rbac.authorization.k8s.io", "v1", "rolebindings"),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "web-reader", "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "web-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "web", "namespace": ns}]}),
    ));
    for i in 0..3 {
        out.push((
            gvr("batch", "v1", "jobs"),
            json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": format!("migrate-{i}"), "namespace": ns},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "migrate", "image": "registry.example.com/migrate:1"}]}}}}),
        ));
    }
    for i in 0..2 {
        out.push((
            gvr("batch", "v1beta1", "cronjobs"),
            json!({
            "apiVersion": "batch/v1beta1", "kind": "CronJob",
            "metadata": {"name": format!("report-{i}"), "namespace": ns},
            "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure",
                "containers": [{"name": "report", "image": "registry.example.com/report:1"}]}}}}}}),
        ));
    }
    out
}

pub async fn populate(sim: &SimCluster) -> usize {
    let class = json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "alicloud-disk-ssd"},
        "provisioner": "diskplugin.csi.alibabacloud.com", "volumeBindingMode": "Immediate"});
    let mut objects = vec![(
        GroupVersionResource::new("storage.k8s.io", "v1", "storageclasses"),
        class,
    )];
    for n in 0..namespaces() {
        objects.extend(application(n));
    }
    let count = objects.len();
    for (gvr, value) in objects {
        let obj = match KubeObject::new(value) {
            Ok(o) => o,
            Err(e) => panic!("generated object is invalid: {e}"),
        };
        if let Err(e) = sim.create(&gvr, &obj).await {
            panic!("create {}: {e}", obj.describe());
        }
    }
    count
}
