//! The watch history: every change in order, filtered per watcher, bounded.

use futures::executor::block_on;
use serde_json::{Value, json};

use super::*;
use crate::label_selector::LabelSelector;

fn sim() -> SimCluster {
    SimCluster::new(KubeRelease::V1_28)
}

fn obj(v: Value) -> KubeObject {
    KubeObject::new(v).unwrap()
}

fn configmaps() -> GroupVersionResource {
    GroupVersionResource::new("", "v1", "configmaps")
}

fn cm(name: &str, ns: &str, v: &str) -> KubeObject {
    obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}}, "data": {"v": v}}))
}

fn rv(o: &KubeObject) -> u64 {
    o.metadata().unwrap()["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn summary(changes: &[Change]) -> Vec<(ChangeType, String, String, u64)> {
    changes
        .iter()
        .map(|c| {
            (
                c.change,
                c.object.name().to_string(),
                c.object
                    .pointer("/data/v")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                rv(&c.object),
            )
        })
        .collect()
}

#[test]
fn every_change_is_replayed_in_order_with_its_resource_version() {
    let sim = sim();
    let start = sim.resource_version();
    let created = block_on(sim.create(&configmaps(), &cm("a", "default", "1"))).unwrap();
    let mut patched = created.clone();
    for v in ["2", "3"] {
        patched = block_on(sim.patch_merge(
            &configmaps(),
            Some("default"),
            "a",
            &json!({"data": {"v": v}}),
        ))
        .unwrap();
    }
    block_on(sim.delete(&configmaps(), Some("default"), "a")).unwrap();
    let (changes, upto) = sim.changes_since(&configmaps(), None, start).unwrap();
    assert_eq!(
        summary(&changes),
        vec![
            (ChangeType::Added, "a".into(), "1".into(), rv(&created)),
            (
                ChangeType::Modified,
                "a".into(),
                "2".into(),
                rv(&created) + 1
            ),
            (ChangeType::Modified, "a".into(), "3".into(), rv(&patched)),
            // The deleted object's last state, at the deletion's own resourceVersion.
            (
                ChangeType::Deleted,
                "a".into(),
                "3".into(),
                rv(&patched) + 1
            ),
        ]
    );
    assert_eq!(upto, rv(&patched) + 1);
    assert_eq!(sim.resource_version(), upto);
    // From the middle: only what came after.
    let (later, _) = sim
        .changes_since(&configmaps(), None, rv(&created) + 1)
        .unwrap();
    assert_eq!(later.len(), 2);
    assert_eq!(
        later[0].previous.as_ref().unwrap().pointer("/data/v"),
        Some(&json!("2"))
    );
}

#[test]
fn changes_are_filtered_by_resource_and_namespace_and_converted_to_the_watched_version() {
    let sim = SimCluster::new(KubeRelease::V1_16);
    let start = sim.resource_version();
    let ns = obj(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}));
    block_on(sim.create(&GroupVersionResource::new("", "v1", "namespaces"), &ns)).unwrap();
    block_on(sim.create(&configmaps(), &cm("a", "default", "1"))).unwrap();
    block_on(sim.create(&configmaps(), &cm("b", "shop", "1"))).unwrap();
    let deploy = obj(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}}));
    block_on(sim.create(
        &GroupVersionResource::new("apps", "v1", "deployments"),
        &deploy,
    ))
    .unwrap();

    let (all, _) = sim.changes_since(&configmaps(), None, start).unwrap();
    assert_eq!(
        summary(&all)
            .iter()
            .map(|s| s.1.as_str())
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
    let (shop, _) = sim
        .changes_since(&configmaps(), Some("shop"), start)
        .unwrap();
    assert_eq!(
        summary(&shop)
            .iter()
            .map(|s| s.1.as_str())
            .collect::<Vec<_>>(),
        ["b"]
    );
    // The same Deployment watched as extensions/v1beta1: converted.
    let (v1beta2, _) = sim
        .changes_since(
            &GroupVersionResource::new("extensions", "v1beta1", "deployments"),
            None,
            start,
        )
        .unwrap();
    assert_eq!(v1beta2.len(), 1);
    assert_eq!(v1beta2[0].object.api_version(), "extensions/v1beta1");
}

#[test]
fn a_label_selector_sees_objects_enter_and_leave_it() {
    let sim = sim();
    let start = sim.resource_version();
    block_on(sim.create(&configmaps(), &cm("a", "default", "1"))).unwrap();
    let unlabel = json!({"metadata": {"labels": {"app": "other"}}});
    block_on(sim.patch_merge(&configmaps(), Some("default"), "a", &unlabel)).unwrap();
    let relabel = json!({"metadata": {"labels": {"app": "a"}}});
    block_on(sim.patch_merge(&configmaps(), Some("default"), "a", &relabel)).unwrap();
    block_on(sim.patch_merge(&configmaps(), Some("default"), "a", &unlabel)).unwrap();
    let (changes, _) = sim.changes_since(&configmaps(), None, start).unwrap();
    let selector = LabelSelector::parse("app=a").unwrap();
    let seen: Vec<(ChangeType, u64, Option<String>)> = changes
        .iter()
        .filter_map(|c| c.as_seen_by(|o| selector.matches_object(o)))
        .map(|(t, o)| {
            (
                t,
                rv(&o),
                o.pointer("/metadata/labels/app")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            )
        })
        .collect();
    let first = rv(&changes[0].object);
    assert_eq!(
        seen,
        vec![
            (ChangeType::Added, first, Some("a".into())),
            // Leaving the selector: the state it last matched, at the change's version.
            (ChangeType::Deleted, first + 1, Some("a".into())),
            (ChangeType::Added, first + 2, Some("a".into())),
            (ChangeType::Deleted, first + 3, Some("a".into())),
        ]
    );
}

#[test]
fn a_watch_from_a_version_older_than_the_history_is_gone() {
    let sim = sim();
    sim.set_history_capacity(3);
    let start = sim.resource_version();
    for i in 0..5 {
        block_on(sim.create(&configmaps(), &cm(&format!("c{i}"), "default", "1"))).unwrap();
    }
    let err = sim.changes_since(&configmaps(), None, start).unwrap_err();
    match err {
        ClusterError::Gone { reason, .. } => {
            assert_eq!(
                reason,
                format!("too old resource version: {start} ({})", start + 2)
            );
        }
        other => panic!("expected Gone, got {other:?}"),
    }
    // The last three changes are still there.
    let (kept, _) = sim.changes_since(&configmaps(), None, start + 2).unwrap();
    assert_eq!(kept.len(), 3);
}

#[test]
fn finalizers_cascades_and_namespace_deletion_are_all_in_the_history() {
    let sim = sim();
    let ns = obj(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}));
    let namespaces = GroupVersionResource::new("", "v1", "namespaces");
    block_on(sim.create(&namespaces, &ns)).unwrap();
    let start = sim.resource_version();
    let mut held = cm("held", "shop", "1");
    held.metadata_mut()
        .insert("finalizers".into(), json!(["example.com/keep"]));
    block_on(sim.create(&configmaps(), &held)).unwrap();
    block_on(sim.delete(&configmaps(), Some("shop"), "held")).unwrap();
    let release = json!({"metadata": {"finalizers": null}});
    block_on(sim.patch_merge(&configmaps(), Some("shop"), "held", &release)).unwrap();
    block_on(sim.create(&configmaps(), &cm("plain", "shop", "1"))).unwrap();
    block_on(sim.delete(&namespaces, None, "shop")).unwrap();
    let (changes, _) = sim
        .changes_since(&configmaps(), Some("shop"), start)
        .unwrap();
    let kinds: Vec<(ChangeType, &str, bool)> = changes
        .iter()
        .map(|c| {
            (
                c.change,
                c.object.name(),
                c.object
                    .metadata()
                    .unwrap()
                    .contains_key("deletionTimestamp"),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            (ChangeType::Added, "held", false),
            (ChangeType::Modified, "held", true),
            (ChangeType::Modified, "held", true),
            (ChangeType::Deleted, "held", true),
            (ChangeType::Added, "plain", false),
            (ChangeType::Deleted, "plain", false),
        ]
    );
    let versions: Vec<u64> = changes.iter().map(|c| rv(&c.object)).collect();
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
}

#[test]
fn a_dry_run_leaves_no_change_in_the_history() {
    let sim = sim();
    let start = sim.resource_version();
    let options = WriteOptions {
        dry_run: true,
        ..WriteOptions::default()
    };
    sim.create_with(&configmaps(), &cm("a", "default", "1"), &options)
        .unwrap();
    let (changes, upto) = sim.changes_since(&configmaps(), None, start).unwrap();
    assert!(changes.is_empty());
    assert_eq!(upto, start);
}

#[test]
fn a_load_starts_the_history_after_the_loaded_state() {
    let sim = sim();
    let start = sim.resource_version();
    let doc = SimDocument {
        path: "cm.yaml".into(),
        text: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: default, resourceVersion: \"900\"}\ndata: {v: \"1\"}\n".into(),
    };
    sim.load_documents(&[doc]).unwrap();
    assert!(matches!(
        sim.changes_since(&configmaps(), None, start),
        Err(ClusterError::Gone { .. })
    ));
    let (changes, upto) = sim.changes_since(&configmaps(), None, 900).unwrap();
    assert!(changes.is_empty());
    assert_eq!(upto, 900);
}
