//! Tests of restore planning: an end-to-end 1.16 → 1.28 plan, filter and namespace tables,
//! existing objects, and properties (determinism, served versions, no panics).

use proptest::prelude::*;
use serde_json::{Value, json};

use super::contents::{ArchiveItem, BackupContents, ContentsError, EntryVersion};
use super::existing::{ExistingAction, existing_action};
use super::*;
use crate::convert::ChoiceRule;
use crate::model::{ExistingResourcePolicy, RestoreSpec};
use crate::releases::KubeRelease;
use crate::transform::StorageClassFacts;
use crate::transform::testing::{arb_body_with_pod_specs, arb_kube_object};

use crate::transform::{DISK_CSI_DRIVER as DISK, NAS_CSI_DRIVER as NAS};

fn obj(v: Value) -> KubeObject {
    KubeObject::new(v).unwrap()
}

/// `(resource dir, version, preferred, object)`: how the archive reader feeds the index.
type Entry = (&'static str, &'static str, bool, KubeObject);

fn with_api(o: &KubeObject, api: &str) -> KubeObject {
    let mut o = o.clone();
    o.set_api_version(&GroupVersion::parse(api));
    o
}

/// A backup of Kubernetes 1.16 as Velero with EnableAPIGroupVersions writes it.
fn backup_116() -> Vec<Entry> {
    let mut e: Vec<Entry> = Vec::new();
    let deployment = obj(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "uid": "d1", "resourceVersion": "10",
            "labels": {"app": "web"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.17"}]}}},
        "status": {"readyReplicas": 2}}));
    e.push(("deployments.apps", "v1", true, deployment.clone()));
    e.push((
        "deployments.apps",
        "v1beta2",
        false,
        with_api(&deployment, "apps/v1beta2"),
    ));
    e.push((
        "deployments.apps",
        "v1beta1",
        false,
        with_api(&deployment, "apps/v1beta1"),
    ));
    e.push((
        "deployments.extensions",
        "v1beta1",
        false,
        with_api(&deployment, "extensions/v1beta1"),
    ));

    let ingress = obj(
        json!({"apiVersion": "extensions/v1beta1", "kind": "Ingress",
        "metadata": {"name": "shop", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {"rules": [{"host": "shop.example.com", "http": {"paths": [
            {"path": "/", "backend": {"serviceName": "web-nodeport", "servicePort": 80}}]}}]}}),
    );
    e.push(("ingresses.extensions", "v1beta1", true, ingress.clone()));
    e.push((
        "ingresses.networking.k8s.io",
        "v1beta1",
        true,
        with_api(&ingress, "networking.k8s.io/v1beta1"),
    ));

    e.push((
        "services",
        "v1",
        true,
        obj(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web-nodeport", "namespace": "shop"},
        "spec": {"type": "NodePort", "clusterIP": "172.21.3.4", "selector": {"app": "web"},
            "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30080, "protocol": "TCP"}]}})),
    ));
    e.push((
        "services",
        "v1",
        true,
        obj(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web-lb", "namespace": "shop"},
        "spec": {"type": "LoadBalancer", "clusterIP": "172.21.9.9",
            "externalTrafficPolicy": "Local", "healthCheckNodePort": 31555,
            "selector": {"app": "web"},
            "ports": [{"port": 443, "targetPort": 8443, "nodePort": 31443, "protocol": "TCP"}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "47.0.0.1"}]}}})),
    ));

    e.push((
        "persistentvolumeclaims",
        "v1",
        true,
        obj(json!({"apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": "shop",
            "annotations": {"pv.kubernetes.io/bind-completed": "yes"}},
        "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "alicloud-disk",
            "resources": {"requests": {"storage": "10Gi"}}, "volumeName": "d-2ze1"},
        "status": {"phase": "Bound"}})),
    ));
    e.push((
        "persistentvolumes",
        "v1",
        true,
        obj(json!({"apiVersion": "v1",
        "kind": "PersistentVolume", "metadata": {"name": "d-2ze1"},
        "spec": {"accessModes": ["ReadWriteMany"], "capacity": {"storage": "10Gi"},
            "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "alicloud-disk",
            "csi": {"driver": DISK, "volumeHandle": "d-2ze1"},
            "claimRef": {"kind": "PersistentVolumeClaim", "namespace": "shop", "name": "data",
                "uid": "c1"}}})),
    ));
    e.push((
        "persistentvolumeclaims",
        "v1",
        true,
        obj(json!({"apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "logs", "namespace": "shop"},
        "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "alicloud-nas",
            "resources": {"requests": {"storage": "50Gi"}}, "volumeName": "nas-logs"}})),
    ));
    e.push((
        "persistentvolumes",
        "v1",
        true,
        obj(json!({"apiVersion": "v1",
        "kind": "PersistentVolume", "metadata": {"name": "nas-logs"},
        "spec": {"accessModes": ["ReadWriteMany"], "capacity": {"storage": "50Gi"},
            "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "alicloud-nas",
            "csi": {"driver": NAS, "volumeHandle": "nas-logs"},
            "claimRef": {"kind": "PersistentVolumeClaim", "namespace": "shop", "name": "logs",
                "uid": "c2", "resourceVersion": "77"}}})),
    ));

    for name in ["settings", "features"] {
        e.push((
            "configmaps",
            "v1",
            true,
            obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "shop"}, "data": {"k": "v"}})),
        ));
    }
    e.push((
        "secrets",
        "v1",
        true,
        obj(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db-password", "namespace": "shop"}, "type": "Opaque",
        "data": {"password": "czNjcjN0"}})),
    ));

    // The CRD was captured at apiextensions.k8s.io/v1beta1 only (an older Velero layout).
    e.push((
        "customresourcedefinitions.apiextensions.k8s.io",
        "v1beta1",
        true,
        obj(json!({"apiVersion": "apiextensions.k8s.io/v1beta1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                    "shortNames": ["wdg"]},
                "version": "v1",
                "versions": [{"name": "v1", "served": true, "storage": true}],
                "validation": {"openAPIV3Schema": {"type": "object"}}}})),
    ));
    e.push((
        "widgets.example.com",
        "v1",
        true,
        obj(json!({"apiVersion": "example.com/v1",
        "kind": "Widget", "metadata": {"name": "gizmo", "namespace": "shop"},
        "spec": {"size": 3}})),
    ));

    let psp = obj(
        json!({"apiVersion": "policy/v1beta1", "kind": "PodSecurityPolicy",
        "metadata": {"name": "restricted"},
        "spec": {"privileged": false, "runAsUser": {"rule": "MustRunAsNonRoot"},
            "seLinux": {"rule": "RunAsAny"}, "fsGroup": {"rule": "RunAsAny"},
            "supplementalGroups": {"rule": "RunAsAny"}}}),
    );
    e.push(("podsecuritypolicies.policy", "v1beta1", true, psp.clone()));
    e.push((
        "podsecuritypolicies.extensions",
        "v1beta1",
        false,
        with_api(&psp, "extensions/v1beta1"),
    ));

    let event = obj(json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "web.15f1", "namespace": "shop"},
        "reason": "ScalingReplicaSet", "message": "Scaled up"}));
    e.push(("events", "v1", true, event.clone()));
    e.push((
        "events.events.k8s.io",
        "v1beta1",
        true,
        with_api(&event, "events.k8s.io/v1beta1"),
    ));
    e.push((
        "nodes",
        "v1",
        true,
        obj(json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "cn-beijing.192.168.0.7"}})),
    ));
    e.push((
        "namespaces",
        "v1",
        true,
        obj(json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "shop", "uid": "n1", "labels": {"team": "web"}},
        "status": {"phase": "Active"}})),
    ));
    e
}

fn contents_of(entries: &[Entry]) -> BackupContents {
    let mut contents = BackupContents::new();
    for (dir, version, preferred, object) in entries {
        contents
            .add(dir, version, *preferred, object.clone())
            .unwrap();
    }
    contents
}

fn context_128(contents: &BackupContents, spec: RestoreSpec) -> TransformContext {
    let mut ctx = TransformContext::new(spec);
    ctx.backup = contents.backup_facts("nightly-116");
    ctx.target.discovery = KubeRelease::V1_28.discovery();
    ctx.target.storage_classes = vec![
        StorageClassFacts {
            name: "alicloud-disk".into(),
            provisioner: DISK.into(),
            volume_binding_mode: Some("WaitForFirstConsumer".into()),
        },
        StorageClassFacts {
            name: "alicloud-nas".into(),
            provisioner: NAS.into(),
            volume_binding_mode: Some("Immediate".into()),
        },
    ];
    ctx
}

fn plan_of(entries: &[Entry], spec: RestoreSpec) -> RestorePlan {
    let contents = contents_of(entries);
    let ctx = context_128(&contents, spec);
    plan_restore(&contents, &ctx, &PlanOptions::default()).unwrap()
}

fn step_names(plan: &RestorePlan) -> Vec<String> {
    plan.steps
        .iter()
        .map(|s| match s {
            PlanStep::Create(c) => format!("create {}", c.object.describe()),
            PlanStep::CreateSpooled(c) => format!("create {}", c.object.describe()),
            PlanStep::WaitEstablished { crd } => format!("wait {crd}"),
            PlanStep::RefreshDiscovery => "refresh".to_string(),
        })
        .collect()
}

fn create<'p>(plan: &'p RestorePlan, describe: &str) -> &'p CreateStep {
    plan.creates()
        .find(|c| c.object.describe() == describe)
        .unwrap_or_else(|| panic!("no create step for {describe}: {:?}", step_names(plan)))
}

// ---------------------------------------------------------------------------------------
// End to end: a Kubernetes 1.16 backup restored to 1.28.

#[test]
fn a_116_backup_restored_to_128() {
    let plan = plan_of(
        &backup_116(),
        RestoreSpec::new("move-to-128", "nightly-116"),
    );

    // R3: CRDs, their wait, a discovery refresh, then the priority list, then the rest by
    // resource.group; within a resource by namespace then name.
    assert_eq!(
        step_names(&plan),
        [
            "create CustomResourceDefinition widgets.example.com",
            "wait widgets.example.com",
            "refresh",
            "create Namespace shop",
            "create PersistentVolume nas-logs",
            "create PersistentVolumeClaim shop/data",
            "create PersistentVolumeClaim shop/logs",
            "create Secret shop/db-password",
            "create ConfigMap shop/features",
            "create ConfigMap shop/settings",
            "create Service shop/web-lb",
            "create Service shop/web-nodeport",
            "create Deployment shop/web",
            "create Ingress shop/shop",
            "create Widget shop/gizmo",
        ]
    );

    // R2: version choices.
    let deploy = create(&plan, "Deployment shop/web");
    let choice = deploy.version.as_ref().unwrap();
    assert_eq!(choice.target, GroupVersion::new("apps", "v1"));
    assert_eq!(choice.rule, ChoiceRule::TargetPreferred);
    assert_eq!(
        deploy.resource,
        GroupVersionResource::new("apps", "v1", "deployments")
    );

    let ingress = create(&plan, "Ingress shop/shop");
    let choice = ingress.version.as_ref().unwrap();
    assert_eq!(choice.rule, ChoiceRule::Migration);
    assert_eq!(
        choice.reason,
        "target prefers networking.k8s.io/v1; backed up as networking.k8s.io/v1beta1; \
         migrated by ingress-networking-v1beta1-to-networking-v1"
    );
    assert_eq!(
        ingress.resource,
        GroupVersionResource::new("networking.k8s.io", "v1", "ingresses")
    );
    assert_eq!(ingress.object.api_version(), "networking.k8s.io/v1");
    assert_eq!(
        ingress.object.pointer("/spec/rules/0/http/paths/0/backend"),
        Some(&json!({"service": {"name": "web-nodeport", "port": {"number": 80}}}))
    );
    assert_eq!(
        ingress
            .object
            .pointer("/spec/rules/0/http/paths/0/pathType"),
        Some(&json!("ImplementationSpecific"))
    );
    // Stored twice (V4b), restored once.
    assert_eq!(
        plan.creates()
            .filter(|c| c.object.kind() == "Ingress")
            .count(),
        1
    );

    let crd = create(&plan, "CustomResourceDefinition widgets.example.com");
    assert_eq!(crd.object.api_version(), "apiextensions.k8s.io/v1");
    assert_eq!(
        crd.version.as_ref().unwrap().migrations,
        ["crd-apiextensions-v1beta1-to-v1"]
    );
    assert_eq!(
        crd.object
            .pointer("/spec/versions/0/schema/openAPIV3Schema/type"),
        Some(&json!("object"))
    );

    // The custom resource is served by the CRD the plan restores first.
    let widget = create(&plan, "Widget shop/gizmo");
    assert_eq!(
        widget.resource,
        GroupVersionResource::new("example.com", "v1", "widgets")
    );
    assert_eq!(
        widget.version.as_ref().unwrap().reason,
        "target prefers example.com/v1; backed up as example.com/v1"
    );

    // PodSecurityPolicy: not restorable, with the reason; nothing else is.
    assert_eq!(plan.not_restorable.len(), 1, "{:?}", plan.not_restorable);
    let psp = &plan.not_restorable[0];
    assert_eq!(psp.object.as_ref().unwrap().kind, "PodSecurityPolicy");
    assert_eq!(psp.object.as_ref().unwrap().name, "restricted");
    assert!(
        psp.message
            .contains("PodSecurityPolicy was removed in Kubernetes 1.25"),
        "{}",
        psp.message
    );
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);

    // Never restored: the Event (stored under both groups: once) and the Node; the Delete PV.
    let skipped: Vec<(String, String)> = plan
        .skipped
        .iter()
        .map(|(o, reason)| (format!("{} {}", o.kind, o.name), reason.clone()))
        .collect();
    assert_eq!(
        skipped,
        [
            (
                "Node cn-beijing.192.168.0.7".to_string(),
                "nodes are never restored".to_string()
            ),
            (
                "Event web.15f1".to_string(),
                "events.events.k8s.io are never restored".to_string()
            ),
            (
                "PersistentVolume d-2ze1".to_string(),
                "reclaim policy Delete and no snapshot: its claim is provisioned dynamically, \
                 with a new, empty volume"
                    .to_string()
            ),
        ]
    );

    // Transformations.
    let names = |d: &str| create(&plan, d).transformations.clone();
    assert_eq!(
        names("PersistentVolumeClaim shop/data"),
        ["sanitize", "access-modes", "disk-floor", "volume-binding"]
    );
    let data = &create(&plan, "PersistentVolumeClaim shop/data").object;
    assert_eq!(
        data.pointer("/spec/accessModes"),
        Some(&json!(["ReadWriteOnce"]))
    );
    assert_eq!(
        data.pointer("/spec/resources/requests/storage"),
        Some(&json!("20Gi"))
    );
    assert_eq!(data.pointer("/spec/volumeName"), None);
    assert_eq!(
        names("PersistentVolume nas-logs"),
        ["sanitize", "volume-binding"]
    );
    assert_eq!(
        create(&plan, "PersistentVolume nas-logs")
            .object
            .pointer("/spec/claimRef/uid"),
        None
    );
    assert_eq!(names("PersistentVolumeClaim shop/logs"), ["sanitize"]);
    assert_eq!(names("Service shop/web-nodeport"), ["sanitize", "services"]);
    let nodeport = &create(&plan, "Service shop/web-nodeport").object;
    assert_eq!(nodeport.pointer("/spec/clusterIP"), None);
    assert_eq!(
        nodeport.pointer("/spec/ports/0/nodePort"),
        Some(&json!(30080))
    );
    let lb = &create(&plan, "Service shop/web-lb").object;
    assert_eq!(lb.pointer("/spec/healthCheckNodePort"), None);
    assert_eq!(lb.pointer("/spec/ports/0/nodePort"), Some(&json!(31443)));
    assert_eq!(lb.pointer("/status"), None);
    assert_eq!(names("Deployment shop/web"), ["sanitize"]);
    assert_eq!(
        create(&plan, "Deployment shop/web")
            .object
            .label("velero.io/restore-name"),
        Some("move-to-128")
    );
    let ns = create(&plan, "Namespace shop");
    assert_eq!(ns.object.label("team"), Some("web"));
    assert!(ns.source.is_some());

    // Warnings: the disk claim's access modes, its size, and its new volume.
    let warnings: Vec<String> = plan.warnings.iter().map(|w| w.message.clone()).collect();
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(
        warnings[0].contains("restored as [\"ReadWriteOnce\"]"),
        "{warnings:?}"
    );
    assert!(
        warnings[1].contains("raised from 10Gi to 20Gi"),
        "{warnings:?}"
    );
    assert!(
        warnings[2].contains("reclaim policy Delete and no snapshot"),
        "{warnings:?}"
    );
    assert!(
        plan.warnings
            .iter()
            .all(|w| w.object.as_ref().unwrap().name == "data")
    );

    // Deterministic, whatever order the archive was read in; and printable.
    let again = plan_of(
        &backup_116(),
        RestoreSpec::new("move-to-128", "nightly-116"),
    );
    assert_eq!(again, plan);
    let mut reversed = backup_116();
    reversed.reverse();
    assert_eq!(
        plan_of(&reversed, RestoreSpec::new("move-to-128", "nightly-116")),
        plan
    );
    let text = serde_json::to_string(&plan).unwrap();
    let back: RestorePlan = serde_json::from_str(&text).unwrap();
    assert_eq!(back, plan);
    assert!(
        serde_yaml_ng::to_string(&plan)
            .unwrap()
            .contains("step: waitEstablished")
    );
}

// ---------------------------------------------------------------------------------------
// The contents index.

#[test]
fn the_index_keeps_every_version_once_per_object() {
    let contents = contents_of(&backup_116());
    let deployments = contents.resource("extensions", "deployments").unwrap();
    assert_eq!(deployments.objects().count(), 1);
    let (_, web) = deployments.objects().next().unwrap();
    let versions: Vec<String> = web.versions.keys().map(GroupVersion::api_version).collect();
    assert_eq!(
        versions,
        [
            "apps/v1",
            "apps/v1beta1",
            "apps/v1beta2",
            "extensions/v1beta1"
        ]
    );
    assert_eq!(
        deployments.preferred(),
        Some(&GroupVersion::new("apps", "v1"))
    );
    let mut groups: Vec<&str> = deployments.stored_groups().collect();
    groups.sort();
    assert_eq!(groups, ["apps", "extensions"]);
    // Event in core and events.k8s.io, Ingress twice, PSP twice: each one object.
    assert_eq!(
        contents.resource("", "events").unwrap().objects().count(),
        1
    );
    assert_eq!(contents.object_count(), 17);
}

#[test]
fn the_preferred_version_does_not_depend_on_the_order_entries_come_in() {
    let ingress = obj(
        json!({"apiVersion": "extensions/v1beta1", "kind": "Ingress",
        "metadata": {"name": "a", "namespace": "n"}}),
    );
    let entries: Vec<Entry> = vec![
        ("ingresses.extensions", "v1beta1", true, ingress.clone()),
        (
            "ingresses.networking.k8s.io",
            "v1beta1",
            true,
            with_api(&ingress, "networking.k8s.io/v1beta1"),
        ),
    ];
    let forward = contents_of(&entries);
    let mut rev = entries.clone();
    rev.reverse();
    assert_eq!(forward, contents_of(&rev));
    assert_eq!(
        forward
            .resource("networking.k8s.io", "ingresses")
            .unwrap()
            .preferred(),
        Some(&GroupVersion::new("networking.k8s.io", "v1beta1"))
    );
}

#[test]
fn the_plain_path_records_the_preferred_version() {
    let mut contents = BackupContents::new();
    let cronjob = obj(json!({"apiVersion": "batch/v1beta1", "kind": "CronJob",
        "metadata": {"name": "report", "namespace": "ops"}}));
    contents
        .add_plain("cronjobs.batch", cronjob.clone())
        .unwrap();
    let res = contents.resource("batch", "cronjobs").unwrap();
    assert_eq!(
        res.preferred(),
        Some(&GroupVersion::new("batch", "v1beta1"))
    );
    // The same object again at its -preferredversion directory: still one version.
    contents
        .add("cronjobs.batch", "v1beta1", true, cronjob)
        .unwrap();
    let res = contents.resource("batch", "cronjobs").unwrap();
    assert_eq!(res.objects().next().unwrap().1.versions.len(), 1);
}

#[test]
fn damaged_entries_are_refused_naming_the_entry() {
    let mut contents = BackupContents::new();
    let deploy = obj(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"}}));
    let err = contents
        .add("deployments.apps", "v1beta2", false, deploy.clone())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "backup entry Deployment shop/web under deployments.apps: field apiVersion is \
         \"apps/v1\" but the directory holds apps/v1beta2; the backup archive is damaged, take \
         a new backup"
    );
    assert!(matches!(
        contents.add(".apps", "v1", true, deploy.clone()),
        Err(ContentsError::BadResourceDir { .. })
    ));
    assert!(matches!(
        contents.add_plain("deployments.extensions", deploy.clone()),
        Err(ContentsError::VersionMismatch { .. })
    ));
    let item = ArchiveItem {
        resource: "deployments",
        group: "apps",
        version: EntryVersion::Served("v1"),
        namespace: Some("other"),
        name: "web",
    };
    let err = contents.add_item(item, deploy).unwrap_err();
    assert!(matches!(err, ContentsError::PathMismatch { .. }));
    assert!(
        err.to_string().contains("deployments.apps/other/web"),
        "{err}"
    );
    assert_eq!(contents.object_count(), 0);
}

#[test]
fn backup_facts_come_from_the_backed_up_volumes() {
    let facts = contents_of(&backup_116()).backup_facts("nightly-116");
    assert_eq!(facts.backup_name, "nightly-116");
    let delete = facts
        .persistent_volumes
        .iter()
        .find(|p| p.name == "d-2ze1")
        .unwrap();
    assert_eq!(delete.reclaim_policy, "Delete");
    assert_eq!(delete.csi_driver.as_deref(), Some(DISK));
    assert_eq!(delete.claim, Some(("shop".to_string(), "data".to_string())));
}

// ---------------------------------------------------------------------------------------
// Filters (R1) and never-restored rules.

fn cm(ns: &str, name: &str, labels: Value) -> Entry {
    (
        "configmaps",
        "v1",
        true,
        obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "labels": labels}})),
    )
}

/// A backup of several namespaces with cluster-scoped objects of every relation.
fn backup_multi() -> Vec<Entry> {
    let mut e: Vec<Entry> = Vec::new();
    for ns in [
        "shop",
        "shop-staging",
        "web-a",
        "web-b",
        "kube-system",
        "csdr",
    ] {
        e.push(cm(ns, "settings", json!({"app": "web"})));
    }
    e.push(cm("shop", "plain", json!({})));
    let deployment = obj(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "web-a", "labels": {"app": "api"}},
        "spec": {"selector": {"matchLabels": {"app": "api"}},
            "template": {"metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "api", "image": "api:1"}]}}}}));
    e.push(("deployments.apps", "v1", true, deployment.clone()));
    e.push((
        "deployments.extensions",
        "v1beta1",
        false,
        with_api(&deployment, "extensions/v1beta1"),
    ));
    e.push((
        "ingresses.networking.k8s.io",
        "v1",
        true,
        obj(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "api", "namespace": "web-a"}})),
    ));
    e.push((
        "pods",
        "v1",
        true,
        obj(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "kube-apiserver-node-1", "namespace": "kube-system",
            "annotations": {"kubernetes.io/config.mirror": "0f3c"}},
        "spec": {"containers": [{"name": "a", "image": "k8s.gcr.io/kube-apiserver:v1.16.9"}]}})),
    ));
    let claim = |ns: &str, name: &str, volume: &str| -> Entry {
        (
            "persistentvolumeclaims",
            "v1",
            true,
            obj(json!({"apiVersion": "v1",
            "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": ns},
            "spec": {"storageClassName": "alicloud-nas", "accessModes": ["ReadWriteMany"],
                "resources": {"requests": {"storage": "50Gi"}}, "volumeName": volume}})),
        )
    };
    let volume = |name: &str, ns: &str, claim: &str| -> Entry {
        (
            "persistentvolumes",
            "v1",
            true,
            obj(json!({"apiVersion": "v1",
            "kind": "PersistentVolume", "metadata": {"name": name},
            "spec": {"persistentVolumeReclaimPolicy": "Retain", "storageClassName": "alicloud-nas",
                "csi": {"driver": NAS, "volumeHandle": name},
                "claimRef": {"namespace": ns, "name": claim}}})),
        )
    };
    e.push(claim("shop", "data", "pv-shop"));
    e.push(volume("pv-shop", "shop", "data"));
    e.push(claim("web-b", "cache", "pv-web-b"));
    e.push(volume("pv-web-b", "web-b", "cache"));
    for (name, provisioner) in [("alicloud-nas", NAS), ("unused", DISK)] {
        e.push((
            "storageclasses.storage.k8s.io",
            "v1",
            true,
            obj(json!({
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": name}, "provisioner": provisioner})),
        ));
    }
    e.push((
        "clusterroles.rbac.authorization.k8s.io",
        "v1",
        true,
        obj(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "reader", "labels": {"app": "web"}}, "rules": []})),
    ));
    e.push((
        "customresourcedefinitions.apiextensions.k8s.io",
        "v1",
        true,
        obj(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                "shortNames": ["wdg"]},
            "versions": [
                {"name": "v1alpha1", "served": true, "storage": false},
                {"name": "v1beta1", "served": true, "storage": true},
                {"name": "v0", "served": false, "storage": false}]}})),
    ));
    e.push((
        "widgets.example.com",
        "v1beta1",
        true,
        obj(json!({
        "apiVersion": "example.com/v1beta1", "kind": "Widget",
        "metadata": {"name": "w", "namespace": "web-b", "labels": {"app": "web"}}})),
    ));
    for ns in ["shop", "web-b", "csdr"] {
        e.push((
            "namespaces",
            "v1",
            true,
            obj(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "labels": {"team": ns}}})),
        ));
    }
    e
}

fn spec(edit: impl FnOnce(&mut RestoreSpec)) -> RestoreSpec {
    let mut s = RestoreSpec::new("r1", "b1");
    edit(&mut s);
    s
}

/// Created objects other than Namespaces, `Kind ns/name`, sorted.
fn created_objects(plan: &RestorePlan) -> Vec<String> {
    let mut v: Vec<String> = plan
        .creates()
        .filter(|c| c.object.kind() != "Namespace")
        .map(|c| c.object.describe())
        .collect();
    v.sort();
    v
}

fn created_namespaces(plan: &RestorePlan) -> Vec<String> {
    plan.creates()
        .filter(|c| c.object.kind() == "Namespace")
        .map(|c| c.object.name().to_string())
        .collect()
}

#[test]
fn namespace_filters_match_source_namespaces_with_wildcards() {
    let settings_in = |plan: &RestorePlan| -> Vec<String> {
        plan.creates()
            .filter(|c| c.object.kind() == "ConfigMap" && c.object.name() == "settings")
            .filter_map(|c| c.object.namespace().map(String::from))
            .collect()
    };
    let cases: &[(&[&str], &[&str], &[&str])] = &[
        (
            &[],
            &[],
            &["kube-system", "shop", "shop-staging", "web-a", "web-b"],
        ),
        (
            &["*"],
            &[],
            &["kube-system", "shop", "shop-staging", "web-a", "web-b"],
        ),
        (&["web-*"], &[], &["web-a", "web-b"]),
        (&["shop*"], &["*-staging"], &["shop"]),
        (
            &["*"],
            &["kube-*", "web-b"],
            &["shop", "shop-staging", "web-a"],
        ),
        (&["*-a", "shop"], &[], &["shop", "web-a"]),
        (&["csdr"], &[], &[]),
        (&["nothing-here"], &[], &[]),
    ];
    for (included, excluded, expected) in cases {
        let plan = plan_of(
            &backup_multi(),
            spec(|s| {
                s.scope.included_namespaces = included.iter().map(|s| s.to_string()).collect();
                s.scope.excluded_namespaces = excluded.iter().map(|s| s.to_string()).collect();
            }),
        );
        assert_eq!(
            settings_in(&plan),
            *expected,
            "included {included:?} excluded {excluded:?}"
        );
    }
}

#[test]
fn resources_are_named_by_every_name_form() {
    let kinds = |included: &[&str], excluded: &[&str]| -> Vec<String> {
        let plan = plan_of(
            &backup_multi(),
            spec(|s| {
                s.scope.included_namespaces = vec!["web-a".into(), "web-b".into()];
                s.scope.include_cluster_resources = Some(true);
                s.scope.included_resources = included.iter().map(|s| s.to_string()).collect();
                s.scope.excluded_resources = excluded.iter().map(|s| s.to_string()).collect();
            }),
        );
        let set: BTreeSet<String> = plan
            .creates()
            .filter(|c| c.object.kind() != "Namespace")
            .map(|c| c.object.kind().to_string())
            .collect();
        set.into_iter().collect()
    };
    for name in [
        "deployments",
        "deployment",
        "Deployment",
        "DEPLOYMENT",
        "deploy",
        "deployments.apps",
        "deployments.extensions",
        "deploy.extensions",
    ] {
        assert_eq!(kinds(&[name], &[]), ["Deployment"], "{name}");
    }
    for name in ["cm", "configmap", "ConfigMaps", "configmaps"] {
        assert_eq!(kinds(&[name], &[]), ["ConfigMap"], "{name}");
    }
    // Either group of a cohabiting pair names the unit.
    assert_eq!(kinds(&["ingresses.extensions"], &[]), ["Ingress"]);
    assert_eq!(kinds(&["ing"], &[]), ["Ingress"]);
    // A custom resource by the short name its CRD declares, with its CRD.
    assert_eq!(
        kinds(&["wdg", "crd"], &[]),
        ["CustomResourceDefinition", "Widget"]
    );
    assert_eq!(
        kinds(&["pv", "sc"], &[]),
        ["PersistentVolume", "StorageClass"]
    );
    // A name the target serves but the backup does not hold: nothing, no error.
    assert!(kinds(&["cronjobs"], &[]).is_empty());
    assert!(kinds(&["*"], &["*"]).is_empty());
    assert_eq!(
        kinds(
            &[],
            &[
                "cm",
                "deploy",
                "ingresses",
                "pvc",
                "pv",
                "storageclasses.storage.k8s.io",
                "clusterroles",
                "widgets.example.com",
                "crds"
            ]
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        kinds(
            &["*"],
            &[
                "cm",
                "deploy",
                "ingresses",
                "pvc",
                "pv",
                "sc",
                "clusterrole"
            ]
        ),
        ["CustomResourceDefinition", "Widget"]
    );
}

#[test]
fn an_unknown_resource_name_is_an_error_naming_it() {
    let contents = contents_of(&backup_multi());
    for (included, excluded, name, field) in [
        (
            vec!["deploymnets"],
            vec![],
            "deploymnets",
            "includedResources",
        ),
        (
            vec![],
            vec!["gadgets.example.com"],
            "gadgets.example.com",
            "excludedResources",
        ),
    ] {
        let ctx = context_128(
            &contents,
            spec(|s| {
                s.scope.included_resources = included.iter().map(|s| s.to_string()).collect();
                s.scope.excluded_resources = excluded.iter().map(|s| s.to_string()).collect();
            }),
        );
        let err = plan_restore(&contents, &ctx, &PlanOptions::default()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&format!("{name:?}")), "{text}");
        assert!(text.contains(field), "{text}");
    }
}

#[test]
fn the_label_selector_filters_objects() {
    let plan = plan_of(
        &backup_multi(),
        spec(|s| s.scope.label_selector = Some("app in (web, api)".into())),
    );
    let mut expected = vec![
        "ClusterRole reader",
        "ConfigMap kube-system/settings",
        "ConfigMap shop-staging/settings",
        "ConfigMap shop/settings",
        "ConfigMap web-a/settings",
        "ConfigMap web-b/settings",
        "Deployment web-a/api",
    ];
    expected.sort();
    assert_eq!(created_objects(&plan), expected);
    // The namespaces the objects land in are created although their Namespace objects do not
    // match: from the backup's Namespace object where there is one, else a new one.
    assert_eq!(
        create(&plan, "Namespace shop").object.label("team"),
        Some("shop")
    );
    assert!(create(&plan, "Namespace web-a").source.is_none());
    // The Widget matches but its CRD (no labels) does not, and the target does not serve it.
    assert_eq!(plan.not_restorable.len(), 1);
    assert_eq!(
        plan.not_restorable[0].object.as_ref().unwrap().kind,
        "Widget"
    );
    assert_eq!(
        plan.not_restorable[0].message,
        "widgets.example.com: its CustomResourceDefinition widgets.example.com is neither \
         served by the target cluster nor restored from the backup; install the CRD in the \
         target or include it in the restore"
    );

    let contents = contents_of(&backup_multi());
    let ctx = context_128(
        &contents,
        spec(|s| s.scope.label_selector = Some("app=web tier=db".into())),
    );
    let err = plan_restore(&contents, &ctx, &PlanOptions::default()).unwrap_err();
    assert!(matches!(err, PlanError::LabelSelector(_)), "{err}");
    assert!(
        err.to_string()
            .starts_with("restore labelSelector: invalid label selector"),
        "{err}"
    );
}

#[test]
fn cluster_scoped_resources_follow_include_cluster_resources() {
    let cluster = |included: &[&str], include: Option<bool>| -> Vec<String> {
        let plan = plan_of(
            &backup_multi(),
            spec(|s| {
                s.scope.included_namespaces = included.iter().map(|s| s.to_string()).collect();
                s.scope.include_cluster_resources = include;
            }),
        );
        plan.creates()
            .filter(|c| c.object.namespace().is_none() && c.object.kind() != "Namespace")
            .map(|c| c.object.describe())
            .collect()
    };
    let all = [
        "CustomResourceDefinition widgets.example.com",
        "StorageClass alicloud-nas",
        "StorageClass unused",
        "PersistentVolume pv-shop",
        "PersistentVolume pv-web-b",
        "ClusterRole reader",
    ];
    // Unset, every namespace: every cluster-scoped object the backup holds.
    assert_eq!(cluster(&[], None), all);
    assert_eq!(cluster(&[], Some(true)), all);
    assert_eq!(cluster(&["shop"], Some(true)), all);
    assert!(cluster(&[], Some(false)).is_empty());
    // Unset, some namespaces: only those related to the restored objects.
    assert_eq!(
        cluster(&["shop"], None),
        ["StorageClass alicloud-nas", "PersistentVolume pv-shop"]
    );
    assert_eq!(
        cluster(&["web-b"], None),
        [
            "CustomResourceDefinition widgets.example.com",
            "StorageClass alicloud-nas",
            "PersistentVolume pv-web-b"
        ]
    );
    assert!(cluster(&["web-a"], None).is_empty());
    // With none, the namespaces are still created.
    let plan = plan_of(
        &backup_multi(),
        spec(|s| s.scope.include_cluster_resources = Some(false)),
    );
    assert_eq!(
        created_namespaces(&plan),
        ["kube-system", "shop", "shop-staging", "web-a", "web-b"]
    );
}

#[test]
fn the_engine_namespace_mirror_pods_and_never_restored_objects_are_skipped() {
    let plan = plan_of(&backup_multi(), RestoreSpec::new("r1", "b1"));
    let skipped: Vec<String> = plan
        .skipped
        .iter()
        .map(|(o, why)| format!("{} {}: {why}", o.kind, o.name))
        .collect();
    assert_eq!(
        skipped,
        [
            "ConfigMap settings: objects in the engine's namespace csdr are the engine's own \
             and never restored",
            "Namespace csdr: the engine's own namespace csdr is never restored",
            "Pod kube-apiserver-node-1: mirror pod of a static pod: the kubelet of the node \
             that runs the static pod recreates it",
        ]
    );
    assert!(!created_namespaces(&plan).contains(&"csdr".to_string()));
    assert!(plan.creates().all(|c| c.object.namespace() != Some("csdr")));
}

#[test]
fn namespaces_are_created_after_mapping() {
    let plan = plan_of(
        &backup_multi(),
        spec(|s| {
            s.scope.included_namespaces = vec!["shop".into(), "web-a".into()];
            s.namespace_mapping
                .insert("shop".into(), "shop-restored".into());
        }),
    );
    assert_eq!(created_namespaces(&plan), ["shop-restored", "web-a"]);
    // From the backup's Namespace object, renamed, labels kept.
    let shop = create(&plan, "Namespace shop-restored");
    assert_eq!(shop.object.label("team"), Some("shop"));
    assert_eq!(shop.source.as_ref().unwrap().name, "shop");
    assert_eq!(shop.transformations, ["sanitize", "namespace-mapping"]);
    // No Namespace object in the backup: a plain new one, labelled with the restore.
    let web = create(&plan, "Namespace web-a");
    assert!(web.source.is_none() && web.version.is_none());
    assert_eq!(web.object.label("velero.io/restore-name"), Some("r1"));
    assert_eq!(
        web.resource,
        GroupVersionResource::new("", "v1", "namespaces")
    );
    // Everything lands in the mapped namespace; namespaces come right after the CRDs.
    assert!(plan.creates().all(|c| c.object.namespace() != Some("shop")));
    assert_eq!(
        create(&plan, "ConfigMap shop-restored/settings")
            .source
            .as_ref()
            .unwrap()
            .namespace
            .as_deref(),
        Some("shop")
    );
    let first_namespace = plan
        .steps
        .iter()
        .position(|s| matches!(s, PlanStep::Create(c) if c.object.kind() == "Namespace"))
        .unwrap();
    // No CRD in this restore, so no wait and no refresh: the namespaces come first.
    assert_eq!(first_namespace, 0);

    // A selected Namespace object with nothing in it is created too.
    let plan = plan_of(
        &backup_multi(),
        spec(|s| {
            s.scope.included_namespaces = vec!["web-b".into()];
            s.scope.included_resources = vec!["namespaces".into()];
        }),
    );
    assert_eq!(created_namespaces(&plan), ["web-b"]);
    assert!(created_objects(&plan).is_empty());
}

#[test]
fn a_transformation_error_puts_the_object_in_errors_and_the_plan_goes_on() {
    let plan = plan_of(
        &backup_multi(),
        spec(|s| {
            s.scope.included_namespaces = vec!["shop".into()];
            s.storage_class_mapping
                .insert("alicloud-nas".into(), "nas-gone".into());
        }),
    );
    let errors: Vec<String> = plan.errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors
            .iter()
            .all(|e| e.contains("storageclass nas-gone not exists")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("PersistentVolumeClaim shop/data"))
    );
    assert!(created_objects(&plan).contains(&"ConfigMap shop/settings".to_string()));
}

#[test]
fn custom_resources_take_the_versions_their_crd_serves() {
    let plan = plan_of(&backup_multi(), RestoreSpec::new("r1", "b1"));
    let widget = create(&plan, "Widget web-b/w");
    // Served: v1beta1 and v1alpha1 (v0 is not served); v1beta1 is the highest priority.
    assert_eq!(
        widget.resource,
        GroupVersionResource::new("example.com", "v1beta1", "widgets")
    );
    assert_eq!(
        widget.version.as_ref().unwrap().rule,
        ChoiceRule::TargetPreferred
    );
    // Without its CRD and not served by the target: not restorable, the rest goes on.
    let plan = plan_of(
        &backup_multi(),
        spec(|s| s.scope.excluded_resources = vec!["crd".into()]),
    );
    assert_eq!(plan.not_restorable.len(), 1);
    assert!(plan.creates().any(|c| c.object.kind() == "Deployment"));
}

#[test]
fn the_priority_list_is_configurable() {
    let contents = contents_of(&backup_multi());
    let ctx = context_128(
        &contents,
        spec(|s| s.scope.included_namespaces = vec!["web-a".into()]),
    );
    let options = PlanOptions {
        order: order::RestoreOrder::new(["ingresses.networking.k8s.io".to_string()]),
        ..PlanOptions::default()
    };
    let plan = plan_restore(&contents, &ctx, &options).unwrap();
    assert_eq!(
        step_names(&plan),
        [
            "create Ingress web-a/api",
            "create ConfigMap web-a/settings",
            "create Deployment web-a/api",
            "create Namespace web-a",
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Existing objects (R11).

#[test]
fn an_object_with_this_restores_own_labels_counts_as_created() {
    let desired = obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "shop",
            "labels": {"velero.io/backup-name": "b1", "velero.io/restore-name": "r2"}},
        "data": {"a": "1"}}));
    // What a create whose answer was lost left behind, with server-set fields.
    let mut ours = desired.clone();
    ours.fields_mut()["metadata"]["uid"] = json!("u1");
    for policy in [ExistingResourcePolicy::None, ExistingResourcePolicy::Update] {
        assert_eq!(
            existing_action(policy, &desired, &ours),
            ExistingAction::CreatedByThisRestore
        );
    }
    // Another restore's object (or one without labels) is not ours, even when equal.
    let mut theirs = desired.clone();
    theirs.fields_mut()["metadata"]["labels"]["velero.io/restore-name"] = json!("r1");
    assert_eq!(
        existing_action(ExistingResourcePolicy::None, &desired, &theirs),
        ExistingAction::Skip
    );
    let mut unlabelled = desired.clone();
    unlabelled.fields_mut()["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("labels");
    assert_eq!(
        existing_action(ExistingResourcePolicy::None, &unlabelled, &ours),
        ExistingAction::Skip
    );
}

#[test]
fn existing_objects_are_skipped_warned_about_or_patched() {
    let desired = obj(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop",
            "labels": {"app": "web", "velero.io/backup-name": "b1", "velero.io/restore-name": "r2"}},
        "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}}}));
    // The live object as the API server returns it: server-set metadata, status, defaults,
    // and the labels of an earlier restore.
    let live_same = obj(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "uid": "u1", "resourceVersion": "9",
            "generation": 4, "creationTimestamp": "2024-01-01T00:00:00Z",
            "managedFields": [{"manager": "kubectl"}],
            "labels": {"app": "web", "velero.io/backup-name": "b0", "velero.io/restore-name": "r1"}},
        "spec": {"replicas": 3, "progressDeadlineSeconds": 600,
            "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.25",
                "terminationMessagePath": "/dev/termination-log"}]}}},
        "status": {"readyReplicas": 3}}));
    let mut live_other = live_same.clone();
    live_other.fields_mut()["spec"]["replicas"] = json!(1);
    live_other.fields_mut()["spec"]["paused"] = json!(true);
    let cluster_desired = obj(json!({"apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole", "metadata": {"name": "reader"}, "rules": [{"verbs": ["get"]}]}));
    let cluster_live = obj(json!({"apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole", "metadata": {"name": "reader"}, "rules": []}));

    use ExistingResourcePolicy::{None as Keep, Update};
    let warn = |text: &str, o: &KubeObject| {
        ExistingAction::SkipWithWarning(Issue::about(ObjectRef::of(o), text))
    };
    let cases = [
        (Keep, &desired, &live_same, ExistingAction::Skip),
        (Update, &desired, &live_same, ExistingAction::Skip),
        (
            Keep,
            &desired,
            &live_other,
            warn(
                "Deployment shop/web already exists and differs from the backup",
                &desired,
            ),
        ),
        (
            Update,
            &desired,
            &live_other,
            // Only the field the backup holds; `paused` (not in the backup) stays.
            ExistingAction::Patch(json!({"spec": {"replicas": 3}})),
        ),
        (
            Keep,
            &cluster_desired,
            &cluster_live,
            warn(
                "ClusterRole reader already exists and differs from the backup",
                &cluster_desired,
            ),
        ),
        (
            Update,
            &cluster_desired,
            &cluster_live,
            ExistingAction::Patch(json!({"rules": [{"verbs": ["get"]}]})),
        ),
    ];
    for (policy, desired, live, expected) in cases {
        assert_eq!(
            existing_action(policy, desired, live),
            expected,
            "{policy:?} {}",
            live.describe()
        );
    }
}

#[test]
fn an_update_patch_brings_the_live_object_to_the_backup() {
    let desired = obj(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop", "annotations": {"a": "1"}},
        "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}}));
    let live = obj(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop", "uid": "x",
            "annotations": {"a": "2", "b": "server"}},
        "spec": {"type": "ClusterIP", "clusterIP": "10.0.0.1",
            "ports": [{"port": 80, "protocol": "TCP"}]}}));
    let ExistingAction::Patch(patch) =
        existing_action(ExistingResourcePolicy::Update, &desired, &live)
    else {
        panic!("expected a patch");
    };
    let mut patched = live.to_value();
    crate::patch::apply_merge_patch(&mut patched, &patch);
    let patched = obj(patched);
    assert_eq!(patched.pointer("/spec/clusterIP"), Some(&json!("10.0.0.1")));
    assert_eq!(patched.annotation("b"), Some("server"));
    assert_eq!(
        existing_action(ExistingResourcePolicy::None, &desired, &patched),
        ExistingAction::Skip
    );
}

// ---------------------------------------------------------------------------------------
// Properties.

/// Realistic archive entries across releases: (resource dir, apiVersion, kind, namespaced).
const ENTRY_TYPES: &[(&str, &str, &str, bool)] = &[
    ("deployments.apps", "apps/v1", "Deployment", true),
    ("deployments.apps", "apps/v1beta2", "Deployment", true),
    (
        "deployments.extensions",
        "extensions/v1beta1",
        "Deployment",
        true,
    ),
    (
        "ingresses.extensions",
        "extensions/v1beta1",
        "Ingress",
        true,
    ),
    (
        "ingresses.networking.k8s.io",
        "networking.k8s.io/v1beta1",
        "Ingress",
        true,
    ),
    (
        "ingresses.networking.k8s.io",
        "networking.k8s.io/v1",
        "Ingress",
        true,
    ),
    ("cronjobs.batch", "batch/v1beta1", "CronJob", true),
    ("cronjobs.batch", "batch/v1", "CronJob", true),
    ("configmaps", "v1", "ConfigMap", true),
    ("services", "v1", "Service", true),
    ("pods", "v1", "Pod", true),
    (
        "persistentvolumeclaims",
        "v1",
        "PersistentVolumeClaim",
        true,
    ),
    ("persistentvolumes", "v1", "PersistentVolume", false),
    ("namespaces", "v1", "Namespace", false),
    (
        "podsecuritypolicies.policy",
        "policy/v1beta1",
        "PodSecurityPolicy",
        false,
    ),
    (
        "priorityclasses.scheduling.k8s.io",
        "scheduling.k8s.io/v1beta1",
        "PriorityClass",
        false,
    ),
    ("events", "v1", "Event", true),
    ("nodes", "v1", "Node", false),
    ("widgets.example.com", "example.com/v1", "Widget", true),
    ("widgets.example.com", "example.com/v2beta1", "Widget", true),
    ("gadgets.example.org", "example.org/v1", "Gadget", true),
];

fn arb_entry() -> impl Strategy<Value = Entry> {
    (
        prop::sample::select(ENTRY_TYPES),
        prop::sample::select(&["a", "b", "c"][..]),
        prop::sample::select(&["shop", "web", "csdr", "kube-system"][..]),
        any::<bool>(),
    )
        .prop_map(|((dir, api, kind, namespaced), name, ns, preferred)| {
            let mut meta = json!({"name": name, "labels": {"app": name}});
            if namespaced {
                meta["namespace"] = json!(ns);
            }
            let version = GroupVersion::parse(api).version;
            let version: &'static str = Box::leak(version.into_boxed_str());
            (
                dir,
                version,
                preferred,
                obj(json!({"apiVersion": api, "kind": kind, "metadata": meta,
                    "spec": {"replicas": 1}})),
            )
        })
}

fn widget_crd(versions: &[&str]) -> Entry {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| json!({"name": v, "served": true, "storage": *v == "v1"}))
        .collect();
    (
        "customresourcedefinitions.apiextensions.k8s.io",
        "v1",
        true,
        obj(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"}, "versions": versions}})),
    )
}

fn arb_backup() -> impl Strategy<Value = Vec<Entry>> {
    (
        prop::collection::vec(arb_entry(), 0..25),
        prop::option::of(prop::sample::subsequence(
            vec!["v1", "v2beta1", "v1alpha1"],
            0..3,
        )),
    )
        .prop_map(|(mut entries, crd)| {
            if let Some(versions) = crd {
                entries.push(widget_crd(&versions));
            }
            entries
        })
}

const NAMESPACE_CHOICES: &[&[&str]] = &[&[], &["shop"], &["*", "web"]];
const RESOURCE_CHOICES: &[&[&str]] = &[&[], &["deploy", "ing"], &["crd", "widgets"]];

fn arb_spec() -> impl Strategy<Value = RestoreSpec> {
    (
        prop::sample::select(NAMESPACE_CHOICES),
        prop::sample::select(RESOURCE_CHOICES),
        prop::option::of(any::<bool>()),
        prop::option::of(prop::sample::select(&["app=a", "app!=b", "!app"][..])),
        any::<bool>(),
    )
        .prop_map(|(namespaces, resources, cluster, selector, map)| {
            spec(|s| {
                s.scope.included_namespaces = namespaces.iter().map(|s| s.to_string()).collect();
                s.scope.included_resources = resources.iter().map(|s| s.to_string()).collect();
                s.scope.include_cluster_resources = cluster;
                s.scope.label_selector = selector.map(String::from);
                if map {
                    s.namespace_mapping.insert("shop".into(), "shop-2".into());
                }
            })
        })
}

/// The index of entries that may be damaged: damaged ones are left out.
fn contents_of_lenient(entries: &[Entry]) -> BackupContents {
    let mut contents = BackupContents::new();
    for (dir, version, preferred, object) in entries {
        let _ = contents.add(dir, version, *preferred, object.clone());
    }
    contents
}

fn plan_for(entries: &[Entry], spec: RestoreSpec, release: KubeRelease) -> Option<RestorePlan> {
    let contents = contents_of_lenient(entries);
    let mut ctx = context_128(&contents, spec);
    ctx.target.discovery = release.discovery();
    plan_restore(&contents, &ctx, &PlanOptions::default()).ok()
}

/// Whether an earlier CRD step of the plan serves `gvr`.
fn served_by_crd(steps: &[&CreateStep], gvr: &GroupVersionResource) -> bool {
    steps.iter().any(|s| {
        let o = &s.object;
        o.kind() == "CustomResourceDefinition"
            && o.pointer("/spec/group") == Some(&json!(gvr.group))
            && o.pointer("/spec/names/plural") == Some(&json!(gvr.resource))
            && o.pointer("/spec/versions")
                .and_then(Value::as_array)
                .is_some_and(|vs| {
                    vs.iter()
                        .any(|v| v["name"] == json!(gvr.version) && v["served"] == json!(true))
                })
    })
}

/// The index the restore builds (R13): heads in memory, objects in a spool, as the engine
/// adds the archive reader's entries.
fn spooled_contents_of(entries: &[Entry], spec: &RestoreSpec) -> BackupContents {
    use crate::archive::{ItemPath, VersionDir};
    use crate::plan::contents::EntrySpan;
    use crate::plan::contents::HeadLabels;
    use crate::ports::spool::{MemorySpool, Spool};
    let mut spool = MemorySpool.create().unwrap();
    let mut contents = BackupContents::new();
    for (dir, version, preferred, object) in entries {
        let (resource, group) = dir.split_once('.').unwrap_or((dir, ""));
        let path = ItemPath {
            resource: resource.to_string(),
            group: group.to_string(),
            version_dir: if *preferred {
                VersionDir::Preferred(version.to_string())
            } else {
                VersionDir::Served(version.to_string())
            },
            namespace: object.namespace().map(String::from),
            name: object.name().to_string(),
        };
        let text = serde_json::to_vec(object).unwrap();
        let span = EntrySpan {
            offset: spool.len(),
            len: text.len() as u32,
        };
        spool.append(&text).unwrap();
        let labels = match spec.scope.label_selector {
            Some(_) => HeadLabels::Kept,
            None => HeadLabels::Dropped,
        };
        let _ = contents.add_spooled_entry(&path, object.clone(), span, labels);
    }
    contents.attach_spool(std::sync::Arc::from(spool));
    contents
}

#[test]
fn a_spooled_index_holds_heads_and_plans_as_the_whole_one() {
    let entries = backup_116();
    let selecting = spec(|s| s.scope.label_selector = Some("app=web".into()));
    let spooled = spooled_contents_of(&entries, &selecting);
    let whole = contents_of(&entries);
    // The Deployment is held as its head; volumes, claims and namespaces whole.
    let deployments = spooled.resource("apps", "deployments").unwrap();
    let (_, web) = deployments.objects().next().unwrap();
    let head = web.representative(deployments.preferred()).unwrap();
    let app = head.labels().and_then(|l| l.get("app"));
    assert_eq!(app.and_then(|v| v.as_str()), Some("web"));
    assert!(head.whole().is_none(), "the Deployment is held as its head");
    assert!(!head.is_mirror_pod());
    let named = deployments.heads().next().unwrap();
    assert_eq!(
        (named.kind(), named.name(), named.namespace()),
        ("Deployment", "web", Some("shop"))
    );
    // Claims are held whole.
    let claims = spooled.resource("", "persistentvolumeclaims").unwrap();
    assert!(claims.heads().all(|h| h.whole().is_some()));
    // Without a label selector the heads keep no labels.
    let unselecting = spooled_contents_of(&entries, &RestoreSpec::new("r1", "nightly-116"));
    let deployments = unselecting.resource("apps", "deployments").unwrap();
    let (_, bare) = deployments.objects().next().unwrap();
    let bare_head = bare.representative(deployments.preferred()).unwrap();
    assert_eq!(bare_head.labels(), None);
    let v1 = GroupVersion::new("apps", "v1");
    let loaded = spooled.load(web, &v1).unwrap().unwrap();
    let (_, whole_web) = whole
        .resource("apps", "deployments")
        .unwrap()
        .objects()
        .next()
        .unwrap();
    assert_eq!(Some(&loaded), whole_web.versions.get(&v1).unwrap().whole());
    assert_eq!(spooled.backup_facts("b"), whole.backup_facts("b"));
    for spec in [
        RestoreSpec::new("r1", "nightly-116"),
        spec(|s| s.scope.label_selector = Some("app=web".into())),
        spec(|s| {
            s.namespace_mapping.insert("shop".into(), "shop-2".into());
        }),
    ] {
        let spooled = spooled_contents_of(&entries, &spec);
        let ctx = context_128(&whole, spec);
        let a = plan_restore(&whole, &ctx, &PlanOptions::default()).unwrap();
        let b = plan_restore_owned(spooled, &ctx, &PlanOptions::default()).unwrap();
        assert_eq!(a, b);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_spooled_index_plans_as_the_whole_one(entries in arb_backup(), spec in arb_spec()) {
        let whole = contents_of_lenient(&entries);
        let spooled = spooled_contents_of(&entries, &spec);
        let ctx = context_128(&whole, spec);
        let a = plan_restore(&whole, &ctx, &PlanOptions::default());
        let b = plan_restore_owned(spooled, &ctx, &PlanOptions::default());
        prop_assert_eq!(a, b);
    }

    #[test]
    fn the_plan_does_not_depend_on_the_order_entries_are_added(
        (entries, shuffled) in arb_backup().prop_flat_map(|e| (Just(e.clone()), Just(e).prop_shuffle())),
        spec in arb_spec(),
    ) {
        let a = plan_for(&entries, spec.clone(), KubeRelease::V1_28);
        let b = plan_for(&shuffled, spec, KubeRelease::V1_28);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn every_create_step_is_served_by_the_target_or_an_earlier_crd(
        entries in arb_backup(),
        spec in arb_spec(),
        release in prop::sample::select(&KubeRelease::ALL[..]),
    ) {
        let Some(plan) = plan_for(&entries, spec, release) else { return Ok(()); };
        let discovery = release.discovery();
        let mut earlier: Vec<&CreateStep> = Vec::new();
        for step in &plan.steps {
            if let PlanStep::Create(c) = step {
                let r = &c.resource;
                prop_assert!(
                    discovery.serves(&r.group, &r.version, &r.resource) || served_by_crd(&earlier, r),
                    "{} is created at {} which {} does not serve", c.object.describe(), r, release
                );
                prop_assert_eq!(c.object.api_version(), r.group_version().api_version());
                earlier.push(c);
            }
        }
        // Never restored: nodes, events, the engine's namespace.
        prop_assert!(plan.creates().all(|c| !matches!(c.object.kind(), "Node" | "Event")));
        prop_assert!(plan.creates().all(|c| c.object.namespace() != Some("csdr")));
    }

    #[test]
    fn planning_never_panics_on_arbitrary_objects(
        objects in prop::collection::vec(
            (
                prop::sample::select(&["deployments", "ingresses", "customresourcedefinitions",
                    "namespaces", "persistentvolumes", "persistentvolumeclaims", "pods",
                    "services", "widgets", "events", "x", ""][..]),
                prop::bool::ANY,
                arb_kube_object(ARBITRARY_TYPES, arb_body_with_pod_specs()),
            ),
            0..12,
        ),
        junk_dir in "[a-z.]{0,12}",
        spec in arb_spec(),
    ) {
        let mut contents = BackupContents::new();
        for (plural, plain, object) in objects {
            let gv = object.group_version();
            let dir = crate::object::group_resource(plural, &gv.group);
            let _ = if plain {
                contents.add_plain(&dir, object.clone())
            } else {
                contents.add(&dir, &gv.version, false, object.clone())
            };
            let _ = contents.add(&junk_dir, &gv.version, true, object);
        }
        let ctx = context_128(&contents, spec);
        let _ = plan_restore(&contents, &ctx, &PlanOptions::default());
    }
}

const ARBITRARY_TYPES: &[(&str, &str)] = &[
    ("apps/v1beta1", "Deployment"),
    ("extensions/v1beta1", "Ingress"),
    ("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition"),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
    ("v1", "Namespace"),
    ("v1", "PersistentVolume"),
    ("v1", "PersistentVolumeClaim"),
    ("v1", "Pod"),
    ("v1", "Service"),
    ("example.com/v1", "Widget"),
    ("events.k8s.io/v1beta1", "Event"),
    ("policy/v1beta1", "PodSecurityPolicy"),
];

/// A spooled index fed thousands of entries out of key order (a writer that lists namespaces
/// in another collation, or none) holds and plans them exactly as one fed in order: the
/// entries that come late are merged in, none lost or doubled (R13).
#[test]
fn a_spooled_index_fed_out_of_order_plans_as_one_fed_in_order() {
    let mut entries: Vec<Entry> = Vec::new();
    for ns in ["a", "a-b", "a.b", "b"] {
        entries.push((
            "namespaces",
            "v1",
            true,
            obj(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})),
        ));
        for i in 0..900 {
            entries.push((
                "configmaps",
                "v1",
                true,
                obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": format!("cm-{i:04}"), "namespace": ns},
                    "data": {"i": i.to_string()}})),
            ));
        }
    }
    let spec = RestoreSpec::new("r1", "nightly-116");
    let in_order = spooled_contents_of(&entries, &spec);
    let mut reversed = entries.clone();
    reversed.reverse();
    let mut interleaved = entries.clone();
    // Every other entry from the back: neither order nor reverse order.
    interleaved.sort_by_key(|(_, _, _, o)| {
        let name = o.name().to_string();
        (name.len() % 3, name.chars().rev().collect::<String>())
    });
    for other in [&reversed, &interleaved] {
        // Each index has its own spool, so the objects' places differ: compare what they hold.
        let contents = spooled_contents_of(other, &spec);
        assert_eq!(contents.object_count(), 4 * 900 + 4);
        let keys = |c: &BackupContents| -> Vec<(Option<String>, String)> {
            c.resource("", "configmaps")
                .unwrap()
                .heads()
                .map(|h| (h.namespace().map(String::from), h.name().to_string()))
                .collect()
        };
        let got = keys(&contents);
        let mut sorted = got.clone();
        sorted.sort();
        sorted.dedup();
        assert!(got == sorted, "ordered by namespace then name, each once");
        assert!(got == keys(&in_order));
        let ctx = context_128(&contents, spec.clone());
        let plan = plan_restore_owned(contents, &ctx, &PlanOptions::default()).unwrap();
        let ctx = context_128(&in_order, spec.clone());
        let want = plan_restore(&in_order, &ctx, &PlanOptions::default()).unwrap();
        assert_eq!(plan.create_count(), 4 * 900 + 4);
        assert!(plan == want, "the same plan");
    }
}
