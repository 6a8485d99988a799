use std::time::Duration;

use futures::StreamExt;
use futures::executor::block_on;
use serde_json::json;

use super::*;
use crate::discovery::{ApiResource, DiscoveredGroup, DiscoveredVersion, Discovery};

fn group(name: &str, preferred: &str, versions: &[(&str, Vec<ApiResource>)]) -> DiscoveredGroup {
    DiscoveredGroup {
        name: name.into(),
        preferred_version: preferred.into(),
        versions: versions
            .iter()
            .map(|(v, r)| DiscoveredVersion {
                version: v.to_string(),
                resources: r.clone(),
            })
            .collect(),
    }
}

/// A small 1.16-like discovery: deployments in apps and extensions, storage classes, CRDs.
fn fixture() -> Discovery {
    let deploy = ApiResource::new("Deployment", "deployments", true).with_short_names(&["deploy"]);
    Discovery {
        unavailable: Vec::new(),
        groups: vec![
            group(
                "",
                "v1",
                &[(
                    "v1",
                    vec![
                        ApiResource::new("Namespace", "namespaces", false)
                            .with_short_names(&["ns"]),
                        ApiResource::new("ConfigMap", "configmaps", true).with_short_names(&["cm"]),
                        ApiResource::new("Service", "services", true).with_short_names(&["svc"]),
                        ApiResource::new("PersistentVolumeClaim", "persistentvolumeclaims", true)
                            .with_short_names(&["pvc"]),
                        ApiResource::new("PersistentVolume", "persistentvolumes", false)
                            .with_short_names(&["pv"]),
                        ApiResource::new("Node", "nodes", false).with_short_names(&["no"]),
                    ],
                )],
            ),
            group(
                "apps",
                "v1",
                &[
                    ("v1", vec![deploy.clone()]),
                    ("v1beta2", vec![deploy.clone()]),
                ],
            ),
            group("extensions", "v1beta1", &[("v1beta1", vec![deploy])]),
            group(
                "storage.k8s.io",
                "v1",
                &[(
                    "v1",
                    vec![
                        ApiResource::new("StorageClass", "storageclasses", false)
                            .with_short_names(&["sc"]),
                    ],
                )],
            ),
            group(
                "snapshot.storage.k8s.io",
                "v1",
                &[(
                    "v1",
                    vec![
                        ApiResource::new("VolumeSnapshot", "volumesnapshots", true),
                        ApiResource::new("VolumeSnapshotContent", "volumesnapshotcontents", false),
                        ApiResource::new("VolumeSnapshotClass", "volumesnapshotclasses", false),
                    ],
                )],
            ),
            group(
                "apiextensions.k8s.io",
                "v1",
                &[(
                    "v1",
                    vec![
                        ApiResource::new(
                            "CustomResourceDefinition",
                            "customresourcedefinitions",
                            false,
                        )
                        .with_short_names(&["crd"]),
                    ],
                )],
            ),
        ],
    }
}

/// Test converter: renames apiVersion, and (like apps/v1 defaulting) adds a selector.
fn rename(obj: &KubeObject, gv: &GroupVersion) -> Result<KubeObject, String> {
    let mut out = obj.clone();
    out.set_api_version(gv);
    if gv.group == "apps" && gv.version == "v1" && out.pointer("/spec/selector").is_none() {
        let labels = out
            .pointer("/spec/template/metadata/labels")
            .cloned()
            .unwrap_or(json!({}));
        if let Some(Value::Object(spec)) = out.fields_mut().get_mut("spec") {
            spec.insert("selector".into(), json!({"matchLabels": labels}));
        }
    }
    Ok(out)
}

fn sim() -> SimCluster {
    SimCluster::from_discovery(fixture(), rename)
}

fn obj(v: Value) -> KubeObject {
    KubeObject::new(v).unwrap()
}

fn gvr(g: &str, v: &str, r: &str) -> GroupVersionResource {
    GroupVersionResource::new(g, v, r)
}

#[test]
fn cohabiting_resources_are_one_object_readable_at_every_version() {
    let s = sim();
    let d = obj(
        json!({"apiVersion": "extensions/v1beta1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"template": {"metadata": {"labels": {"app": "web"}}}}}),
    );
    block_on(s.create(&gvr("extensions", "v1beta1", "deployments"), &d)).unwrap();
    let as_v1 = block_on(s.get(&gvr("apps", "v1", "deployments"), Some("default"), "web"))
        .unwrap()
        .unwrap();
    assert_eq!(as_v1.api_version(), "apps/v1");
    assert_eq!(
        as_v1.pointer("/spec/selector/matchLabels/app"),
        Some(&json!("web"))
    );
    let as_beta2 = block_on(s.get(
        &gvr("apps", "v1beta2", "deployments"),
        Some("default"),
        "web",
    ))
    .unwrap()
    .unwrap();
    assert_eq!(as_beta2.api_version(), "apps/v1beta2");
    // Creating it again through the other group is a conflict on the same object.
    let again = rename(&d, &GroupVersion::new("apps", "v1")).unwrap();
    let err = block_on(s.create(&gvr("apps", "v1", "deployments"), &again)).unwrap_err();
    assert!(matches!(err, ClusterError::AlreadyExists { .. }), "{err}");
    let page = block_on(s.list_page(
        &gvr("apps", "v1", "deployments"),
        None,
        &ListOptions::default(),
    ))
    .unwrap();
    assert_eq!(page.items.len(), 1);
}

#[test]
fn api_server_errors() {
    let s = sim();
    let cm = |ns: &str, name: &str| {
        obj(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}}),
        )
    };
    let cms = gvr("", "v1", "configmaps");
    let err = block_on(s.create(&cms, &cm("nope", "a"))).unwrap_err();
    assert_eq!(err.to_string(), "namespaces \"nope\" not found");
    let err = block_on(s.create(&cms, &cm("default", "Bad_Name"))).unwrap_err();
    assert!(
        matches!(err, ClusterError::Invalid { .. }) && err.to_string().contains("metadata.name"),
        "{err}"
    );
    let err = block_on(s.create(&gvr("", "v1", "secrets"), &cm("default", "a"))).unwrap_err();
    assert!(matches!(err, ClusterError::NotFound { .. }), "{err}");
    let err = block_on(s.create(
        &gvr("apps", "v1", "deployments"),
        &obj(json!({"apiVersion": "apps/v1",
        "kind": "Deployment", "metadata": {"name": "d", "namespace": "default"}, "spec": {}})),
    ))
    .unwrap_err();
    assert!(
        err.to_string().contains("spec.selector: Required value"),
        "{err}"
    );
    s.reject(Rejection {
        kind: "ConfigMap".into(),
        name: Some("evil".into()),
        message: "data: Too long".into(),
    });
    let err = block_on(s.create(&cms, &cm("default", "evil"))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "configmaps default/evil is invalid: data: Too long"
    );
    let err = block_on(s.delete(&cms, Some("default"), "ghost")).unwrap_err();
    assert!(matches!(err, ClusterError::NotFound { .. }));
}

#[test]
fn updates_conflict_on_stale_resource_versions() {
    let s = sim();
    let cms = gvr("", "v1", "configmaps");
    let created = block_on(s.create(
        &cms,
        &obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "a", "namespace": "default"}, "data": {"k": "1"}})),
    ))
    .unwrap();
    let mut v = created.to_value();
    v["data"]["k"] = json!("2");
    let updated = block_on(s.update(&cms, &obj(v.clone()))).unwrap();
    assert_ne!(
        updated.metadata().unwrap()["resourceVersion"],
        created.metadata().unwrap()["resourceVersion"]
    );
    assert_eq!(
        updated.metadata().unwrap()["uid"],
        created.metadata().unwrap()["uid"]
    );
    let err = block_on(s.update(&cms, &obj(v))).unwrap_err();
    assert!(matches!(err, ClusterError::Conflict { .. }), "{err}");
    let patched = block_on(s.patch_merge(
        &cms,
        Some("default"),
        "a",
        &json!({"data": {"k": null, "j": "3"}}),
    ))
    .unwrap();
    assert_eq!(patched.fields()["data"], json!({"j": "3"}));
    let patched = s
        .patch_json(
            &cms,
            Some("default"),
            "a",
            &json!([{"op": "add", "path": "/data/x", "value": "4"}]),
        )
        .unwrap();
    assert_eq!(patched.fields()["data"], json!({"j": "3", "x": "4"}));
}

#[test]
fn claims_bind_when_their_storage_class_exists() {
    let s = sim();
    let sc = obj(
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "disk"}, "provisioner": "diskplugin.csi.alibabacloud.com", "reclaimPolicy": "Retain"}),
    );
    block_on(s.create(&gvr("storage.k8s.io", "v1", "storageclasses"), &sc)).unwrap();
    let pvcs = gvr("", "v1", "persistentvolumeclaims");
    let pvc = |name: &str, class: &str| {
        obj(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"storageClassName": class, "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "20Gi"}}}}))
    };
    let bound = block_on(s.create(&pvcs, &pvc("data", "disk"))).unwrap();
    assert_eq!(bound.pointer("/status/phase"), Some(&json!("Bound")));
    let pv_name = bound
        .pointer("/spec/volumeName")
        .and_then(Value::as_str)
        .unwrap()
        .to_string();
    let pv = block_on(s.get(&gvr("", "v1", "persistentvolumes"), None, &pv_name))
        .unwrap()
        .unwrap();
    assert_eq!(
        pv.pointer("/spec/persistentVolumeReclaimPolicy"),
        Some(&json!("Retain"))
    );
    assert_eq!(pv.pointer("/spec/claimRef/name"), Some(&json!("data")));
    let t = Duration::from_secs(5);
    assert!(block_on(s.wait_for(&pvcs, Some("default"), "data", WaitCondition::Bound, t)).is_ok());
    block_on(s.create(&pvcs, &pvc("orphan", "missing"))).unwrap();
    let err = block_on(s.wait_for(&pvcs, Some("default"), "orphan", WaitCondition::Bound, t))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "timed out after 5s waiting for persistentvolumeclaims default/orphan to be Bound"
    );
}

#[test]
fn crds_become_established_and_serve_their_resources() {
    let s = sim();
    let crd = obj(
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "shortNames": ["wd"]},
            "versions": [{"name": "v1alpha1", "served": true, "storage": false}, {"name": "v1", "served": true, "storage": true}]}}),
    );
    let crds = gvr("apiextensions.k8s.io", "v1", "customresourcedefinitions");
    block_on(s.create(&crds, &crd)).unwrap();
    let t = Duration::from_secs(1);
    assert!(
        block_on(s.wait_for(
            &crds,
            None,
            "widgets.example.com",
            WaitCondition::Established,
            t
        ))
        .is_ok()
    );
    let d = block_on(s.discover()).unwrap();
    let g = d.group("example.com").unwrap();
    assert_eq!(g.preferred_version, "v1");
    assert_eq!(g.versions.len(), 2);
    let w = obj(
        json!({"apiVersion": "example.com/v1alpha1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default"}, "spec": {"size": 3}}),
    );
    block_on(s.create(&gvr("example.com", "v1alpha1", "widgets"), &w)).unwrap();
    let as_v1 = block_on(s.get(&gvr("example.com", "v1", "widgets"), Some("default"), "w"))
        .unwrap()
        .unwrap();
    assert_eq!(as_v1.api_version(), "example.com/v1");
    assert_eq!(as_v1.pointer("/spec/size"), Some(&json!(3)));
    block_on(s.delete(&crds, None, "widgets.example.com")).unwrap();
    assert!(
        block_on(s.discover())
            .unwrap()
            .group("example.com")
            .is_none()
    );
    assert!(block_on(s.get(&gvr("example.com", "v1", "widgets"), Some("default"), "w")).is_err());
}

#[test]
fn lists_paginate_filter_and_namespaces_cascade() {
    let s = sim();
    let cms = gvr("", "v1", "configmaps");
    block_on(s.create(
        &gvr("", "v1", "namespaces"),
        &obj(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})),
    ))
    .unwrap();
    for (ns, i) in [
        ("default", 0),
        ("shop", 1),
        ("default", 2),
        ("shop", 3),
        ("shop", 4),
    ] {
        let tier = if i % 2 == 0 { "web" } else { "db" };
        block_on(s.create(
            &cms,
            &obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("c{i}"), "namespace": ns, "labels": {"tier": tier}}})),
        ))
        .unwrap();
    }
    let all: Vec<String> = block_on(s.list(&cms, None, None, 2).collect::<Vec<_>>())
        .into_iter()
        .map(|r| r.unwrap().describe())
        .collect();
    assert_eq!(
        all,
        [
            "ConfigMap default/c0",
            "ConfigMap default/c2",
            "ConfigMap shop/c1",
            "ConfigMap shop/c3",
            "ConfigMap shop/c4"
        ]
    );
    let shop_web: Vec<String> = block_on(
        s.list(&cms, Some("shop"), Some("tier=web"), 1)
            .collect::<Vec<_>>(),
    )
    .into_iter()
    .map(|r| r.unwrap().name().to_string())
    .collect();
    assert_eq!(shop_web, ["c4"]);
    block_on(s.delete(&gvr("", "v1", "namespaces"), None, "shop")).unwrap();
    let left = block_on(s.list_page(&cms, None, &ListOptions::default())).unwrap();
    assert_eq!(left.items.len(), 2);
}

#[test]
fn services_get_addresses_and_node_ports() {
    let s = sim();
    let svcs = gvr("", "v1", "services");
    let lb = block_on(s.create(&svcs, &obj(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "lb", "namespace": "default"},
        "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local", "ports": [{"port": 80}, {"port": 443, "nodePort": 31443}]}})))).unwrap();
    assert!(
        lb.pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .unwrap()
            .starts_with("10.96.")
    );
    assert_eq!(lb.pointer("/spec/ports/0/nodePort"), Some(&json!(30000)));
    assert_eq!(lb.pointer("/spec/ports/1/nodePort"), Some(&json!(31443)));
    assert!(lb.pointer("/spec/healthCheckNodePort").is_some());
    let headless = block_on(s.create(
        &svcs,
        &obj(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "h", "namespace": "default"}, "spec": {"clusterIP": "None"}})),
    ))
    .unwrap();
    assert_eq!(headless.pointer("/spec/clusterIP"), Some(&json!("None")));
}

#[test]
fn documents_load_and_export_round_trip() {
    let s = sim();
    let docs = [SimDocument {
        path: "app.yaml".into(),
        text: "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n---\n\
               apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\n\
               spec:\n  template:\n    metadata:\n      labels: {app: web}\n---\n\
               apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: auto\n  namespace: made-up\ndata: {a: \"1\"}\n---\n".into(),
    }, SimDocument {
        path: "list.json".into(),
        text: r#"{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j", "namespace": "shop"}}]}"#.into(),
    }];
    assert_eq!(s.load_documents(&docs).unwrap(), 4);
    let exported = s.export_documents().unwrap();
    let paths: Vec<&str> = exported.iter().map(|d| d.path.as_str()).collect();
    assert!(
        paths.contains(&"shop/deployments.apps/web.yaml"),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"_cluster/namespaces.core/made-up.yaml"),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"made-up/configmaps.core/auto.yaml"),
        "{paths:?}"
    );
    let web = exported
        .iter()
        .find(|d| d.path == "shop/deployments.apps/web.yaml")
        .unwrap();
    assert!(web.text.contains("apiVersion: apps/v1"), "{}", web.text);
    // Loading the export into a fresh cluster reproduces it exactly.
    let again = sim();
    again.load_documents(&exported).unwrap();
    assert_eq!(again.export_documents().unwrap(), exported);

    let bad = [SimDocument {
        path: "bad.yaml".into(),
        text: "apiVersion: v1\nkind: Widget\nmetadata: {name: w}\n".into(),
    }];
    let err = sim().load_documents(&bad).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad.yaml#1: v1 Widget is not served by this cluster"
    );
    let bad = [SimDocument {
        path: "bad.yaml".into(),
        text: "a: [\n".into(),
    }];
    assert!(
        sim()
            .load_documents(&bad)
            .unwrap_err()
            .to_string()
            .starts_with("bad.yaml#1: malformed YAML")
    );
}

#[test]
fn nodes_carry_zones() {
    let s = sim();
    s.add_node("n1", "cn-hangzhou-a").unwrap();
    let n = block_on(s.get(&gvr("", "v1", "nodes"), None, "n1"))
        .unwrap()
        .unwrap();
    assert_eq!(
        n.label("topology.kubernetes.io/zone"),
        Some("cn-hangzhou-a")
    );
}

#[test]
fn csi_snapshots_round_trip_through_the_snapshotter() {
    use crate::ports::snapshot::{
        CsiSnapshotter, SnapshotError, SnapshotRequest, VolumeSnapshotter,
    };
    let s = sim();
    block_on(s.create(&gvr("storage.k8s.io", "v1", "storageclasses"), &obj(json!({"apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass", "metadata": {"name": "disk"}, "provisioner": "disk.csi.example.com"})))).unwrap();
    let pvc = block_on(s.create(
        &gvr("", "v1", "persistentvolumeclaims"),
        &obj(json!({"apiVersion": "v1",
        "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "default"},
        "spec": {"storageClassName": "disk", "resources": {"requests": {"storage": "20Gi"}}}})),
    ))
    .unwrap();
    let snapper = CsiSnapshotter::new(s.clone());
    let t = Duration::from_secs(1);
    let mut request = SnapshotRequest::new("data-b1", "disk.csi.example.com", "b1", "a1");
    request.timeout = t;
    let err = block_on(snapper.snapshot(&pvc, &request)).unwrap_err();
    assert!(
        matches!(err, SnapshotError::NoSnapshotClass { .. }),
        "{err}"
    );
    block_on(s.create(&gvr("snapshot.storage.k8s.io", "v1", "volumesnapshotclasses"), &obj(json!({
        "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotClass",
        "metadata": {"name": "disk-snap"}, "driver": "disk.csi.example.com", "deletionPolicy": "Retain"})))).unwrap();
    let record = block_on(snapper.snapshot(&pvc, &request)).unwrap();
    assert_eq!(record.class_name, "disk-snap");
    assert!(record.snapshot_handle.starts_with("snap-"));
    assert_eq!(record.restore_size.as_deref(), Some("20Gi"));
    // Restoring into another namespace pre-provisions a content from the handle.
    block_on(s.create(
        &gvr("", "v1", "namespaces"),
        &obj(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})),
    ))
    .unwrap();
    let source = block_on(snapper.prepare_restore(&record, "other", "data-b1", t)).unwrap();
    assert_eq!(
        source,
        json!({"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": "data-b1"})
    );
    let vs = block_on(s.get(
        &gvr("snapshot.storage.k8s.io", "v1", "volumesnapshots"),
        Some("other"),
        "data-b1",
    ))
    .unwrap()
    .unwrap();
    assert_eq!(vs.pointer("/status/readyToUse"), Some(&json!(true)));
}

#[test]
fn resource_version_is_the_last_one_assigned() {
    let sim = sim();
    let before = sim.resource_version();
    assert_eq!(before, 4, "the four default namespaces");
    let gvr = GroupVersionResource::new("", "v1", "configmaps");
    let cm = KubeObject::new(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "default"}}))
    .unwrap();
    let stored = block_on(sim.create(&gvr, &cm)).unwrap();
    assert_eq!(sim.resource_version(), before + 1);
    assert_eq!(
        stored.metadata().unwrap()["resourceVersion"],
        json!((before + 1).to_string())
    );
}

#[test]
fn a_release_serves_one_object_at_every_version_by_the_conversion_rules() {
    use crate::releases::KubeRelease;
    let s = SimCluster::new(KubeRelease::V1_16);
    let d = obj(
        json!({"apiVersion": "extensions/v1beta1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.17"}]}}}}),
    );
    block_on(s.create(&gvr("extensions", "v1beta1", "deployments"), &d)).unwrap();
    for (g, v) in [
        ("apps", "v1"),
        ("apps", "v1beta2"),
        ("apps", "v1beta1"),
        ("extensions", "v1beta1"),
    ] {
        let got = block_on(s.get(&gvr(g, v, "deployments"), Some("default"), "web"))
            .unwrap()
            .unwrap();
        assert_eq!(got.group_version(), GroupVersion::new(g, v));
        assert_eq!(got.pointer("/spec/replicas"), Some(&json!(2)));
    }
    let v1 = block_on(s.get(&gvr("apps", "v1", "deployments"), Some("default"), "web"))
        .unwrap()
        .unwrap();
    assert_eq!(
        v1.pointer("/spec/selector/matchLabels/app"),
        Some(&json!("web"))
    );
    // Ingress on 1.16: extensions/v1beta1 and networking.k8s.io/v1beta1 are one object.
    let ing = obj(
        json!({"apiVersion": "extensions/v1beta1", "kind": "Ingress",
        "metadata": {"name": "shop", "namespace": "default"},
        "spec": {"backend": {"serviceName": "web", "servicePort": 80}}}),
    );
    block_on(s.create(&gvr("extensions", "v1beta1", "ingresses"), &ing)).unwrap();
    let n = block_on(s.get(
        &gvr("networking.k8s.io", "v1beta1", "ingresses"),
        Some("default"),
        "shop",
    ))
    .unwrap()
    .unwrap();
    assert_eq!(n.api_version(), "networking.k8s.io/v1beta1");
    assert_eq!(n.pointer("/spec/backend/serviceName"), Some(&json!("web")));
    assert!(
        block_on(s.get(
            &gvr("networking.k8s.io", "v1", "ingresses"),
            Some("default"),
            "shop"
        ))
        .is_err()
    );
}

#[test]
fn a_pod_security_policy_on_1_16_is_read_in_both_groups() {
    use crate::releases::KubeRelease;
    let s = SimCluster::new(KubeRelease::V1_16);
    let psp = obj(
        json!({"apiVersion": "policy/v1beta1", "kind": "PodSecurityPolicy",
        "metadata": {"name": "restricted"}, "spec": {"privileged": false}}),
    );
    block_on(s.create(&gvr("policy", "v1beta1", "podsecuritypolicies"), &psp)).unwrap();
    let ext = block_on(s.get(
        &gvr("extensions", "v1beta1", "podsecuritypolicies"),
        None,
        "restricted",
    ))
    .unwrap()
    .unwrap();
    assert_eq!(ext.api_version(), "extensions/v1beta1");
}
