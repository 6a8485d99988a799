//! The API server semantics a controller relies on: status split, generation, finalizers,
//! namespace termination, garbage collection, preconditions, dry run, server-side apply.

use futures::executor::block_on;
use serde_json::{Value, json};

use super::*;
use crate::ports::cluster::ClusterError;

fn sim() -> SimCluster {
    SimCluster::new(KubeRelease::V1_28)
}

fn obj(v: Value) -> KubeObject {
    KubeObject::new(v).unwrap()
}

fn deployments() -> GroupVersionResource {
    GroupVersionResource::new("apps", "v1", "deployments")
}

fn configmaps() -> GroupVersionResource {
    GroupVersionResource::new("", "v1", "configmaps")
}

fn namespaces() -> GroupVersionResource {
    GroupVersionResource::new("", "v1", "namespaces")
}

fn deployment(name: &str, replicas: u64) -> KubeObject {
    obj(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1"}]}}}}))
}

fn meta<'a>(o: &'a KubeObject, k: &str) -> Option<&'a Value> {
    o.metadata().and_then(|m| m.get(k))
}

fn get(
    s: &SimCluster,
    gvr: &GroupVersionResource,
    ns: Option<&str>,
    name: &str,
) -> Option<KubeObject> {
    block_on(s.get(gvr, ns, name)).unwrap()
}

#[test]
fn writes_to_the_object_keep_status_and_status_writes_change_only_status() {
    let s = sim();
    let mut d = deployment("web", 1);
    d.fields_mut()
        .insert("status".into(), json!({"replicas": 0}));
    let created = block_on(s.create(&deployments(), &d)).unwrap();
    assert_eq!(meta(&created, "generation"), Some(&json!(1)));

    // A main write changing only status: status ignored, generation unchanged.
    let mut v = created.to_value();
    v["status"] = json!({"replicas": 7});
    let same = block_on(s.update(&deployments(), &obj(v))).unwrap();
    assert_eq!(same.fields()["status"], json!({"replicas": 0}));
    assert_eq!(meta(&same, "generation"), Some(&json!(1)));

    // A label change is metadata: no generation bump.
    let mut v = same.to_value();
    v["metadata"]["labels"]["tier"] = json!("front");
    let labelled = block_on(s.update(&deployments(), &obj(v))).unwrap();
    assert_eq!(meta(&labelled, "generation"), Some(&json!(1)));

    // A spec change bumps the generation.
    let mut v = labelled.to_value();
    v["spec"]["replicas"] = json!(3);
    let scaled = block_on(s.update(&deployments(), &obj(v))).unwrap();
    assert_eq!(meta(&scaled, "generation"), Some(&json!(2)));

    // /status: spec and labels in the request are ignored, status taken.
    let mut v = scaled.to_value();
    v["spec"]["replicas"] = json!(9);
    v["metadata"]["labels"]["tier"] = json!("back");
    v["status"] = json!({"replicas": 3, "observedGeneration": 2});
    let status = WriteOptions {
        subresource: Subresource::Status,
        ..WriteOptions::default()
    };
    let reported = s.update_with(&deployments(), &obj(v), &status).unwrap();
    assert_eq!(reported.fields()["status"]["replicas"], 3);
    assert_eq!(reported.fields()["spec"]["replicas"], 3);
    assert_eq!(reported.fields()["metadata"]["labels"]["tier"], "front");
    assert_eq!(meta(&reported, "generation"), Some(&json!(2)));

    // A ConfigMap has no status subresource: nothing to split, data changes bump generation.
    let cm = obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "default"}, "data": {"a": "1"}}));
    let cm = block_on(s.create(&configmaps(), &cm)).unwrap();
    let mut v = cm.to_value();
    v["data"]["a"] = json!("2");
    let cm = block_on(s.update(&configmaps(), &obj(v))).unwrap();
    assert_eq!(cm.fields()["data"]["a"], "2");
}

#[test]
fn stale_resource_versions_and_delete_preconditions_conflict_with_the_api_server_message() {
    let s = sim();
    let created = block_on(s.create(&deployments(), &deployment("web", 1))).unwrap();
    let mut v = created.to_value();
    v["spec"]["replicas"] = json!(2);
    block_on(s.update(&deployments(), &obj(v.clone()))).unwrap();
    let err = block_on(s.update(&deployments(), &obj(v))).unwrap_err();
    assert_eq!(
        err,
        ClusterError::Conflict {
            what: "deployments.apps default/web".into(),
            reason: "the object has been modified; please apply your changes to the latest version and try again".into(),
        }
    );
    // A patch carrying a stale resourceVersion is a precondition too.
    let stale = meta(&created, "resourceVersion").cloned().unwrap();
    let err = s
        .modify(
            &deployments(),
            Some("default"),
            "web",
            &WriteOptions::default(),
            |mut o| {
                o.metadata_mut().insert("resourceVersion".into(), stale);
                Ok(o)
            },
        )
        .unwrap_err();
    assert!(matches!(err, ClusterError::Conflict { .. }), "{err}");

    let wrong_uid = DeleteOptions {
        uid: Some("not-the-uid".into()),
        ..DeleteOptions::default()
    };
    let err = s
        .delete_with(&deployments(), Some("default"), "web", &wrong_uid)
        .unwrap_err();
    let ClusterError::Conflict { reason, .. } = err else {
        panic!("{err}")
    };
    assert!(
        reason.starts_with(
            "Precondition failed: UID in precondition: not-the-uid, UID in object meta: 5e1f"
        ),
        "{reason}"
    );
    let wrong_rv = DeleteOptions {
        resource_version: Some("1".into()),
        ..DeleteOptions::default()
    };
    assert!(
        s.delete_with(&deployments(), Some("default"), "web", &wrong_rv)
            .is_err()
    );
    assert!(get(&s, &deployments(), Some("default"), "web").is_some());
}

#[test]
fn finalizers_keep_a_deleted_object_until_the_last_is_removed() {
    let s = sim();
    let cm = obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "held", "namespace": "default", "finalizers": ["example.com/keep"]}}));
    block_on(s.create(&configmaps(), &cm)).unwrap();
    let deletion = s
        .delete_with(
            &configmaps(),
            Some("default"),
            "held",
            &DeleteOptions::default(),
        )
        .unwrap();
    let Deletion::Pending(pending) = deletion else {
        panic!("{deletion:?}")
    };
    assert_eq!(meta(&pending, "deletionTimestamp"), Some(&json!(SIM_EPOCH)));
    assert_eq!(
        meta(&pending, "deletionGracePeriodSeconds"),
        Some(&json!(0))
    );
    assert!(get(&s, &configmaps(), Some("default"), "held").is_some());

    // No new finalizer once deletion started.
    let mut v = pending.to_value();
    v["metadata"]["finalizers"] = json!(["example.com/keep", "example.com/more"]);
    let err = block_on(s.update(&configmaps(), &obj(v))).unwrap_err();
    let ClusterError::Invalid { reason, .. } = err else {
        panic!("{err}")
    };
    assert!(
        reason.contains("no new finalizers can be added if the object is being deleted"),
        "{reason}"
    );

    // Removing the last finalizer deletes it.
    let mut v = pending.to_value();
    v["metadata"]["finalizers"] = json!([]);
    block_on(s.update(&configmaps(), &obj(v))).unwrap();
    assert!(get(&s, &configmaps(), Some("default"), "held").is_none());
}

#[test]
fn a_deleted_namespace_is_terminating_until_its_content_is_gone() {
    let s = sim();
    let ns = obj(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"},
        "spec": {"finalizers": ["kubernetes"]}}),
    );
    block_on(s.create(&namespaces(), &ns)).unwrap();
    for (name, finalizers) in [("plain", json!([])), ("held", json!(["example.com/keep"]))] {
        let cm = obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "shop", "finalizers": finalizers}}));
        block_on(s.create(&configmaps(), &cm)).unwrap();
    }
    let deletion = s
        .delete_with(&namespaces(), None, "shop", &DeleteOptions::default())
        .unwrap();
    let Deletion::Pending(ns) = deletion else {
        panic!("{deletion:?}")
    };
    assert_eq!(ns.fields()["status"]["phase"], "Terminating");
    assert!(get(&s, &configmaps(), Some("shop"), "plain").is_none());
    let held = get(&s, &configmaps(), Some("shop"), "held").unwrap();
    assert!(meta(&held, "deletionTimestamp").is_some());

    let new = obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "late", "namespace": "shop"}}));
    let err = block_on(s.create(&configmaps(), &new)).unwrap_err();
    assert_eq!(
        err,
        ClusterError::Forbidden {
            what: "configmaps shop/late".into(),
            reason: "unable to create new content in namespace shop because it is being terminated"
                .into(),
        }
    );
    let again = s.delete_with(&namespaces(), None, "shop", &DeleteOptions::default());
    assert!(
        matches!(again, Err(ClusterError::Conflict { .. })),
        "{again:?}"
    );

    let mut v = held.to_value();
    v["metadata"]["finalizers"] = json!([]);
    block_on(s.update(&configmaps(), &obj(v))).unwrap();
    assert!(get(&s, &configmaps(), Some("shop"), "held").is_none());
    assert!(get(&s, &namespaces(), None, "shop").is_none());

    // A namespace without `spec.finalizers` also waits for its content.
    let ns = obj(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bare"}}));
    block_on(s.create(&namespaces(), &ns)).unwrap();
    let cm = obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "held", "namespace": "bare", "finalizers": ["example.com/keep"]}}));
    let held = block_on(s.create(&configmaps(), &cm)).unwrap();
    let deletion = s
        .delete_with(&namespaces(), None, "bare", &DeleteOptions::default())
        .unwrap();
    assert!(matches!(deletion, Deletion::Pending(_)), "{deletion:?}");
    let mut v = get(&s, &configmaps(), Some("bare"), "held")
        .unwrap()
        .to_value();
    assert_eq!(v["metadata"]["uid"], held.to_value()["metadata"]["uid"]);
    v["metadata"]["finalizers"] = json!([]);
    block_on(s.update(&configmaps(), &obj(v))).unwrap();
    assert!(get(&s, &namespaces(), None, "bare").is_none());
}

fn owned(
    s: &SimCluster,
    owner: &KubeObject,
    name: &str,
    block: bool,
    finalizers: Value,
) -> KubeObject {
    let uid = meta(owner, "uid").cloned().unwrap();
    let cm = obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", "finalizers": finalizers,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                "name": owner.name(), "uid": uid, "blockOwnerDeletion": block}]}}));
    block_on(s.create(&configmaps(), &cm)).unwrap()
}

#[test]
fn deleting_an_owner_collects_or_orphans_its_dependents() {
    let s = sim();
    let owner = block_on(s.create(&deployments(), &deployment("web", 1))).unwrap();
    owned(&s, &owner, "dep", false, json!([]));
    block_on(s.delete(&deployments(), Some("default"), "web")).unwrap();
    assert!(get(&s, &configmaps(), Some("default"), "dep").is_none());

    let owner = block_on(s.create(&deployments(), &deployment("web", 1))).unwrap();
    owned(&s, &owner, "kept", false, json!([]));
    let orphan = DeleteOptions {
        propagation: Propagation::Orphan,
        ..DeleteOptions::default()
    };
    s.delete_with(&deployments(), Some("default"), "web", &orphan)
        .unwrap();
    let kept = get(&s, &configmaps(), Some("default"), "kept").unwrap();
    assert!(meta(&kept, "ownerReferences").is_none());

    // Foreground: the owner waits for its blocking dependent.
    let owner = block_on(s.create(&deployments(), &deployment("api", 1))).unwrap();
    owned(&s, &owner, "blocker", true, json!(["example.com/keep"]));
    let foreground = DeleteOptions {
        propagation: Propagation::Foreground,
        ..DeleteOptions::default()
    };
    let deletion = s
        .delete_with(&deployments(), Some("default"), "api", &foreground)
        .unwrap();
    let Deletion::Pending(pending) = deletion else {
        panic!("{deletion:?}")
    };
    assert_eq!(
        meta(&pending, "finalizers"),
        Some(&json!(["foregroundDeletion"]))
    );
    let blocker = get(&s, &configmaps(), Some("default"), "blocker").unwrap();
    assert!(meta(&blocker, "deletionTimestamp").is_some());
    let mut v = blocker.to_value();
    v["metadata"]["finalizers"] = json!([]);
    block_on(s.update(&configmaps(), &obj(v))).unwrap();
    assert!(get(&s, &configmaps(), Some("default"), "blocker").is_none());
    assert!(get(&s, &deployments(), Some("default"), "api").is_none());
}

#[test]
fn dry_runs_check_everything_and_persist_nothing() {
    let s = sim();
    let dry = WriteOptions {
        dry_run: true,
        ..WriteOptions::default()
    };
    let (count, rv) = (s.object_count(), s.resource_version());
    let would_be = s
        .create_with(&deployments(), &deployment("web", 1), &dry)
        .unwrap();
    assert!(meta(&would_be, "uid").is_some());
    assert!(meta(&would_be, "creationTimestamp").is_some());
    assert!(meta(&would_be, "resourceVersion").is_none());
    assert_eq!((s.object_count(), s.resource_version()), (count, rv));
    assert!(get(&s, &deployments(), Some("default"), "web").is_none());

    // Checks still run: missing namespace, admission rejections.
    let mut elsewhere = deployment("web", 1).to_value();
    elsewhere["metadata"]["namespace"] = json!("nowhere");
    assert!(matches!(
        s.create_with(&deployments(), &obj(elsewhere), &dry),
        Err(ClusterError::NotFound { .. })
    ));
    s.reject(Rejection {
        kind: "Deployment".into(),
        name: Some("bad".into()),
        message: "spec: Forbidden: rejected by policy".into(),
    });
    assert!(matches!(
        s.create_with(&deployments(), &deployment("bad", 1), &dry),
        Err(ClusterError::Invalid { .. })
    ));

    let created = block_on(s.create(&deployments(), &deployment("web", 1))).unwrap();
    let rv = s.resource_version();
    let mut v = created.to_value();
    v["spec"]["replicas"] = json!(5);
    let would_be = s
        .update_with(&deployments(), &obj(v.clone()), &dry)
        .unwrap();
    assert_eq!(would_be.fields()["spec"]["replicas"], 5);
    assert_eq!(
        meta(&would_be, "resourceVersion"),
        meta(&created, "resourceVersion")
    );
    v["metadata"]["resourceVersion"] = json!("1");
    assert!(matches!(
        s.update_with(&deployments(), &obj(v), &dry),
        Err(ClusterError::Conflict { .. })
    ));
    let dry_delete = DeleteOptions {
        dry_run: true,
        ..DeleteOptions::default()
    };
    let deletion = s
        .delete_with(&deployments(), Some("default"), "web", &dry_delete)
        .unwrap();
    assert!(matches!(deletion, Deletion::Deleted(_)));
    let stored = get(&s, &deployments(), Some("default"), "web").unwrap();
    assert_eq!(stored.fields()["spec"]["replicas"], 1);
    assert_eq!(s.resource_version(), rv);
}

fn apply(
    s: &SimCluster,
    manager: &str,
    force: bool,
    o: Value,
) -> Result<(KubeObject, bool), ClusterError> {
    s.apply(
        &deployments(),
        &obj(o),
        &ApplyOptions {
            field_manager: manager.into(),
            force,
            ..ApplyOptions::default()
        },
    )
}

#[test]
fn server_side_apply_tracks_managers_conflicts_forces_and_removes_fields() {
    let s = sim();
    let mut config = deployment("web", 1).to_value();
    config["metadata"]["labels"]["tier"] = json!("front");
    let (created, fresh) = apply(&s, "alice", false, config.clone()).unwrap();
    assert!(fresh);
    let managed = meta(&created, "managedFields").unwrap();
    assert_eq!(managed[0]["manager"], "alice");
    assert_eq!(managed[0]["operation"], "Apply");
    assert_eq!(managed[0]["fieldsV1"]["f:spec"]["f:replicas"], json!({}));

    // Another manager applying a different value of an owned field conflicts.
    let bob = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"}, "spec": {"replicas": 3}});
    let err = apply(&s, "bob", false, bob.clone()).unwrap_err();
    let ClusterError::Conflict { reason, .. } = err else {
        panic!("{err}")
    };
    assert_eq!(
        reason,
        "Apply failed with 1 conflict: conflict with \"alice\" using apps/v1: .spec.replicas"
    );
    // The same value is shared ownership, not a conflict.
    let mut same = bob.clone();
    same["spec"]["replicas"] = json!(1);
    apply(&s, "bob", false, same).unwrap();
    // force takes the field.
    let (forced, _) = apply(&s, "bob", true, bob).unwrap();
    assert_eq!(forced.fields()["spec"]["replicas"], 3);
    assert_eq!(meta(&forced, "generation"), Some(&json!(2)));

    // Keyed lists merge per key: bob adds a sidecar, alice's container stays.
    let sidecar = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "envoy"}]}}}});
    let (merged, _) = apply(&s, "carol", false, sidecar).unwrap();
    let names: Vec<&str> = merged.fields()["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web", "sidecar"]);

    // alice stops applying the tier label and replicas: the label goes (only she owned it),
    // replicas stay (bob owns them).
    config["metadata"]["labels"] = json!({"app": "web"});
    config["spec"].as_object_mut().unwrap().remove("replicas");
    let (reapplied, _) = apply(&s, "alice", false, config).unwrap();
    assert_eq!(
        reapplied.fields()["metadata"]["labels"],
        json!({"app": "web"})
    );
    assert_eq!(reapplied.fields()["spec"]["replicas"], 3);

    // Status apply changes only status.
    let status = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 10}, "status": {"readyReplicas": 3}});
    let (reported, _) = s
        .apply(
            &deployments(),
            &obj(status),
            &ApplyOptions {
                field_manager: "controller".into(),
                subresource: Subresource::Status,
                ..ApplyOptions::default()
            },
        )
        .unwrap();
    assert_eq!(reported.fields()["status"]["readyReplicas"], 3);
    assert_eq!(reported.fields()["spec"]["replicas"], 3);
    let entry = meta(&reported, "managedFields")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["manager"] == "controller")
        .unwrap()
        .clone();
    assert_eq!(entry["subresource"], "status");

    // An Update by another manager takes the fields it changes.
    let mut v = reported.to_value();
    v["spec"]["replicas"] = json!(4);
    let updated = s
        .update_with(
            &deployments(),
            &obj(v),
            &WriteOptions {
                field_manager: Some("kubectl-edit".into()),
                ..WriteOptions::default()
            },
        )
        .unwrap();
    let managers: Vec<(String, bool)> = meta(&updated, "managedFields")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["manager"].as_str().unwrap().to_string(),
                e["fieldsV1"]["f:spec"].get("f:replicas").is_some(),
            )
        })
        .collect();
    assert!(
        managers.contains(&("kubectl-edit".into(), true)),
        "{managers:?}"
    );
    // bob owned nothing else: his entry is gone, as the API server drops empty entries.
    assert!(!managers.iter().any(|(m, _)| m == "bob"), "{managers:?}");
}

#[test]
fn custom_resources_get_the_subresources_their_crd_declares() {
    let s = sim();
    let crds = GroupVersionResource::new("apiextensions.k8s.io", "v1", "customresourcedefinitions");
    let crd = obj(
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "versions": [
                {"name": "v1", "served": true, "storage": true,
                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                 "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.size",
                    "statusReplicasPath": ".status.size", "labelSelectorPath": ".status.selector"}}},
                {"name": "v1alpha1", "served": true, "storage": false,
                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}}),
    );
    block_on(s.create(&crds, &crd)).unwrap();
    let widgets = GroupVersionResource::new("example.com", "v1", "widgets");
    let alpha = GroupVersionResource::new("example.com", "v1alpha1", "widgets");
    assert_eq!(s.subresources(&widgets), ["scale", "status"]);
    assert!(s.subresources(&alpha).is_empty());
    assert_eq!(
        s.scale_paths(&widgets),
        Some(ScalePaths {
            spec_replicas: "/spec/size".into(),
            status_replicas: "/status/size".into(),
            label_selector: Some("/status/selector".into()),
            selector_is_string: true,
        })
    );
    assert!(s.scale_paths(&deployments()).is_some());
    assert!(s.scale_paths(&configmaps()).is_none());

    let w = obj(json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w", "namespace": "default"}, "spec": {"size": 1}}));
    let created = block_on(s.create(&widgets, &w)).unwrap();
    let mut v = created.to_value();
    v["status"] = json!({"size": 1});
    let kept = block_on(s.update(&widgets, &obj(v.clone()))).unwrap();
    assert!(kept.fields().get("status").is_none());
    let status = WriteOptions {
        subresource: Subresource::Status,
        ..WriteOptions::default()
    };
    v["metadata"]["resourceVersion"] = meta(&kept, "resourceVersion").cloned().unwrap();
    let reported = s.update_with(&widgets, &obj(v), &status).unwrap();
    assert_eq!(reported.fields()["status"], json!({"size": 1}));
}

#[test]
fn leases_and_events_are_ordinary_resources() {
    let s = sim();
    let leases = GroupVersionResource::new("coordination.k8s.io", "v1", "leases");
    let lease = obj(
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "leader", "namespace": "kube-system"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}),
    );
    let created = block_on(s.create(&leases, &lease)).unwrap();
    let mut v = created.to_value();
    v["spec"]["holderIdentity"] = json!("b");
    block_on(s.update(&leases, &obj(v.clone()))).unwrap();
    v["spec"]["holderIdentity"] = json!("c");
    assert!(matches!(
        block_on(s.update(&leases, &obj(v))),
        Err(ClusterError::Conflict { .. })
    ));
    // events.k8s.io/v1 is the storage version (core v1 Events need the conversion rules).
    let events = GroupVersionResource::new("events.k8s.io", "v1", "events");
    let event = obj(json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "web.1", "namespace": "default"},
        "eventTime": "2026-01-01T00:00:00.000000Z", "action": "Scale",
        "reportingController": "deployment-controller", "reportingInstance": "cm-1",
        "regarding": {"kind": "Deployment", "name": "web", "namespace": "default"},
        "reason": "ScalingReplicaSet", "note": "Scaled up", "type": "Normal"}));
    block_on(s.create(&events, &event)).unwrap();
    let page = block_on(s.list_page(&events, Some("default"), &ListOptions::default())).unwrap();
    assert_eq!(page.items.len(), 1);
}

#[test]
fn an_update_that_changes_nothing_keeps_the_resource_version_and_sends_no_event() {
    let s = sim();
    let created = block_on(s.create(&deployments(), &deployment("web", 1))).unwrap();
    let rv = meta(&created, "resourceVersion").cloned();
    let (_, before) = s.changes_since(&deployments(), None, 0).unwrap();
    // The stored object sent back as it is, with or without its resourceVersion.
    let same = block_on(s.update(&deployments(), &created)).unwrap();
    assert_eq!(meta(&same, "resourceVersion").cloned(), rv);
    let mut unversioned = created.clone();
    unversioned.metadata_mut().remove("resourceVersion");
    let same = block_on(s.update(&deployments(), &unversioned)).unwrap();
    assert_eq!(meta(&same, "resourceVersion").cloned(), rv);
    assert_eq!(meta(&same, "generation"), Some(&json!(1)));
    let (changes, _) = s.changes_since(&deployments(), None, before).unwrap();
    assert!(changes.is_empty(), "{changes:?}");
    // A real change is written: a new resourceVersion and one MODIFIED event.
    let changed = block_on(s.update(&deployments(), &deployment("web", 2))).unwrap();
    assert_ne!(meta(&changed, "resourceVersion").cloned(), rv);
    let (changes, _) = s.changes_since(&deployments(), None, before).unwrap();
    assert_eq!(changes.len(), 1);
}

/// A dry run undoes everything its write did — the objects it stored, bound or deleted, the
/// change log (even one at capacity), discovery, the counters behind uids, resourceVersions
/// and cluster IPs, the terminating set — without copying the store: a cluster that ran
/// every kind of dry run goes on exactly as its twin that ran none.
#[test]
fn a_dry_run_of_any_write_leaves_the_cluster_as_its_twin_without_it() {
    let clock = Arc::new(crate::ports::clock::ManualClock::new(
        "2026-12-07T00:00:00Z".parse().unwrap(),
    ));
    let twin = || {
        let s = sim().with_clock(clock.clone());
        s.set_history_capacity(4);
        let pv = json!({"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": "pv-a"},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                "hostPath": {"path": "/data"}}});
        let class = json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": "fast"}, "provisioner": "disk.csi.example.com",
            "volumeBindingMode": "Immediate"});
        let guarded = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "guarded", "namespace": "default", "finalizers": ["example.com/keep"]}});
        let owner = block_on(s.create(&deployments(), &deployment("owner", 1))).unwrap();
        let owned = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "owned", "namespace": "default", "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "Deployment", "name": "owner",
                "uid": meta(&owner, "uid").unwrap()}]}});
        for (gvr, o) in [
            (GroupVersionResource::new("", "v1", "persistentvolumes"), pv),
            (
                GroupVersionResource::new("storage.k8s.io", "v1", "storageclasses"),
                class,
            ),
            (configmaps(), guarded),
            (configmaps(), owned),
        ] {
            block_on(s.create(&gvr, &obj(o))).unwrap();
        }
        s
    };
    let (tried, plain) = (twin(), twin());
    // The log kept (4 changes) as a watch from 3 changes back reads it.
    let state = |s: &SimCluster| {
        let since = s.resource_version() - 3;
        (
            s.export_documents().unwrap(),
            s.resource_version(),
            s.discovery(),
            s.changes_since(&configmaps(), None, since).map(|(c, _)| c),
            s.changes_since(&deployments(), None, since).map(|(c, _)| c),
        )
    };
    let before = state(&tried);
    assert_eq!(before, state(&plain));

    let dry = WriteOptions {
        dry_run: true,
        ..WriteOptions::default()
    };
    let creates = [
        (
            namespaces(),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
        ),
        (
            GroupVersionResource::new("", "v1", "services"),
            json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {"type": "NodePort", "ports": [{"port": 80}]}}),
        ),
        // Binds the existing volume (a write to another object).
        (
            GroupVersionResource::new("", "v1", "persistentvolumeclaims"),
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "static", "namespace": "default"},
                "spec": {"volumeName": "pv-a", "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}}}}),
        ),
        // Provisions a new volume.
        (
            GroupVersionResource::new("", "v1", "persistentvolumeclaims"),
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "dynamic", "namespace": "default"},
                "spec": {"storageClassName": "fast", "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}}}}),
        ),
        // Changes discovery.
        (
            GroupVersionResource::new("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
            json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": "widgets.example.com"},
                "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"kind": "Widget", "plural": "widgets"},
                    "versions": [{"name": "v1", "served": true, "storage": true}]}}),
        ),
    ];
    for (gvr, o) in &creates {
        let would_be = tried.create_with(gvr, &obj(o.clone()), &dry).unwrap();
        assert!(meta(&would_be, "uid").is_some(), "{}", would_be.describe());
    }
    // Deletes: one that waits for a finalizer (terminating), one that collects a dependent.
    let dry_delete = DeleteOptions {
        dry_run: true,
        ..DeleteOptions::default()
    };
    tried
        .delete_with(&configmaps(), Some("default"), "guarded", &dry_delete)
        .unwrap();
    tried
        .delete_with(&deployments(), Some("default"), "owner", &dry_delete)
        .unwrap();
    // An update.
    let mut v = get(&tried, &deployments(), Some("default"), "owner")
        .unwrap()
        .to_value();
    v["spec"]["replicas"] = json!(3);
    tried.update_with(&deployments(), &obj(v), &dry).unwrap();
    assert_eq!(state(&tried), before);

    // The twins go on alike: the same uids, resourceVersions and IPs, the same log.
    for s in [&tried, &plain] {
        for (gvr, o) in &creates {
            block_on(s.create(gvr, &obj(o.clone()))).unwrap();
        }
        s.delete_with(
            &configmaps(),
            Some("default"),
            "guarded",
            &DeleteOptions::default(),
        )
        .unwrap();
        s.delete_with(
            &deployments(),
            Some("default"),
            "owner",
            &DeleteOptions::default(),
        )
        .unwrap();
    }
    assert_eq!(state(&tried), state(&plain));
}
