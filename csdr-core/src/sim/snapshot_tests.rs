//! The simulated CSI snapshot controller: readiness over time, failures, deletion policies,
//! snapshot storage shared between clusters, restores with data.

use std::sync::Arc;
use std::time::Duration;

use futures::executor::block_on;
use serde_json::{Value, json};

use super::*;
use crate::ports::clock::ManualClock;

const DRIVER: &str = "disk.csi.example.com";

fn gvr(group: &str, resource: &str) -> GroupVersionResource {
    let version = "v1";
    GroupVersionResource::new(group, version, resource)
}

fn snap(resource: &str) -> GroupVersionResource {
    gvr("snapshot.storage.k8s.io", resource)
}

fn obj(v: Value) -> KubeObject {
    KubeObject::new(v).unwrap()
}

/// A 1.28 cluster with a CSI StorageClass, a snapshot class of `policy` and namespace `shop`.
fn cluster(clock: &ManualClock, policy: &str) -> SimCluster {
    let s = SimCluster::new(KubeRelease::V1_28).with_clock(Arc::new(clock.clone()));
    block_on(s.create(
        &gvr("storage.k8s.io", "storageclasses"),
        &obj(
            json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": "disk"}, "provisioner": DRIVER}),
        ),
    ))
    .unwrap();
    block_on(s.create(
        &snap("volumesnapshotclasses"),
        &obj(
            json!({"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotClass",
            "metadata": {"name": "disk-snap"}, "driver": DRIVER, "deletionPolicy": policy,
            "parameters": {"retentionDays": "7"}}),
        ),
    ))
    .unwrap();
    block_on(s.create(
        &gvr("", "namespaces"),
        &obj(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})),
    ))
    .unwrap();
    s
}

fn claim(s: &SimCluster, name: &str, data_source: Option<&str>) -> KubeObject {
    let mut pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"storageClassName": "disk", "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "20Gi"}}}});
    if let Some(vs) = data_source {
        pvc["spec"]["dataSource"] =
            json!({"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": vs});
    }
    block_on(s.create(&gvr("", "persistentvolumeclaims"), &obj(pvc))).unwrap()
}

fn snapshot_of(s: &SimCluster, name: &str, pvc: &str) -> KubeObject {
    block_on(s.create(
        &snap("volumesnapshots"),
        &obj(
            json!({"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"volumeSnapshotClassName": "disk-snap",
                "source": {"persistentVolumeClaimName": pvc}}}),
        ),
    ))
    .unwrap()
}

fn get(s: &SimCluster, resource: &str, ns: Option<&str>, name: &str) -> Option<KubeObject> {
    block_on(s.get(&snap(resource), ns, name)).unwrap()
}

fn content_of(s: &SimCluster, vs: &str) -> KubeObject {
    let vs = get(s, "volumesnapshots", Some("shop"), vs).unwrap();
    let name = vs
        .pointer("/status/boundVolumeSnapshotContentName")
        .and_then(Value::as_str)
        .unwrap();
    get(s, "volumesnapshotcontents", None, name).unwrap()
}

#[test]
fn a_snapshot_becomes_ready_once_its_time_has_passed_on_the_clock() {
    let clock = ManualClock::new(SIM_EPOCH.parse().unwrap());
    let s = cluster(&clock, "Delete");
    s.set_snapshot_behaviour(SnapshotBehaviour {
        ready_after: Duration::from_secs(300),
        failures: vec![],
    });
    claim(&s, "data", None);
    let vs = snapshot_of(&s, "data-1", "data");
    assert_eq!(vs.pointer("/status/readyToUse"), Some(&json!(false)));
    let content = content_of(&s, "data-1");
    assert_eq!(
        content.pointer("/spec/deletionPolicy"),
        Some(&json!("Delete"))
    );
    let handle = content
        .pointer("/status/snapshotHandle")
        .unwrap()
        .as_str()
        .unwrap();
    assert_eq!(
        s.snapshot_storage().get(handle).unwrap().retention_days,
        Some(7),
        "the class's retentionDays is the snapshot's validity period"
    );
    // A wait shorter than the remaining time times out; the clock moving makes it ready.
    let short = block_on(s.wait_for(
        &snap("volumesnapshots"),
        Some("shop"),
        "data-1",
        WaitCondition::ReadyToUse,
        Duration::from_secs(60),
    ));
    assert!(
        matches!(short, Err(ClusterError::Timeout { .. })),
        "{short:?}"
    );
    clock.advance(Duration::from_secs(300));
    let vs = get(&s, "volumesnapshots", Some("shop"), "data-1").unwrap();
    assert_eq!(vs.pointer("/status/readyToUse"), Some(&json!(true)));
    assert_eq!(
        content_of(&s, "data-1").pointer("/status/readyToUse"),
        Some(&json!(true))
    );
    // A wait long enough lets the controller finish.
    snapshot_of(&s, "data-2", "data");
    let ready = block_on(s.wait_for(
        &snap("volumesnapshots"),
        Some("shop"),
        "data-2",
        WaitCondition::ReadyToUse,
        Duration::from_secs(600),
    ))
    .unwrap();
    assert_eq!(ready.pointer("/status/readyToUse"), Some(&json!(true)));
}

#[test]
fn a_snapshot_fails_on_demand_and_cuts_nothing() {
    let clock = ManualClock::new(SIM_EPOCH.parse().unwrap());
    let s = cluster(&clock, "Delete");
    s.set_snapshot_behaviour(SnapshotBehaviour {
        ready_after: Duration::ZERO,
        failures: vec![SnapshotFailure {
            claim: Some("shop/data".into()),
            message: "InvalidDiskCategory.NotSupported".into(),
        }],
    });
    claim(&s, "data", None);
    let vs = snapshot_of(&s, "data-1", "data");
    assert_eq!(vs.pointer("/status/readyToUse"), Some(&json!(false)));
    assert_eq!(
        vs.pointer("/status/error/message"),
        Some(&json!("InvalidDiskCategory.NotSupported"))
    );
    assert!(s.snapshot_storage().is_empty());
}

#[test]
fn deleting_the_namespace_deletes_delete_snapshots_and_keeps_retained_ones() {
    for (policy, survives) in [("Delete", false), ("Retain", true)] {
        let clock = ManualClock::new(SIM_EPOCH.parse().unwrap());
        let s = cluster(&clock, policy);
        claim(&s, "data", None);
        snapshot_of(&s, "data-1", "data");
        let content = content_of(&s, "data-1");
        let handle = content
            .pointer("/status/snapshotHandle")
            .unwrap()
            .as_str()
            .unwrap();
        block_on(s.delete(&gvr("", "namespaces"), None, "shop")).unwrap();
        assert!(get(&s, "volumesnapshots", Some("shop"), "data-1").is_none());
        assert_eq!(
            get(&s, "volumesnapshotcontents", None, content.name()).is_some(),
            survives,
            "{policy}"
        );
        assert_eq!(
            s.snapshot_storage().get(handle).is_some(),
            survives,
            "{policy}"
        );
    }
}

#[test]
fn a_retained_snapshot_restores_its_data_in_another_cluster_sharing_the_storage() {
    let clock = ManualClock::new(SIM_EPOCH.parse().unwrap());
    let source = cluster(&clock, "Retain");
    claim(&source, "data", None);
    source.write_volume("shop", "data", "orders: 42").unwrap();
    snapshot_of(&source, "data-1", "data");
    let content = content_of(&source, "data-1");
    let handle = content
        .pointer("/status/snapshotHandle")
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();

    let target = cluster(&clock, "Retain").with_snapshot_storage(source.snapshot_storage());
    block_on(target.create(
        &snap("volumesnapshotcontents"),
        &obj(
            json!({"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotContent",
            "metadata": {"name": "restored"},
            "spec": {"deletionPolicy": "Retain", "driver": DRIVER,
                "source": {"snapshotHandle": handle},
                "volumeSnapshotRef": {"name": "data-1", "namespace": "shop"}}}),
        ),
    ))
    .unwrap();
    block_on(target.create(
        &snap("volumesnapshots"),
        &obj(
            json!({"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
            "metadata": {"name": "data-1", "namespace": "shop"},
            "spec": {"source": {"volumeSnapshotContentName": "restored"}}}),
        ),
    ))
    .unwrap();
    let pvc = claim(&target, "data", Some("data-1"));
    assert_eq!(pvc.pointer("/status/phase"), Some(&json!("Bound")));
    assert_eq!(
        target.read_volume("shop", "data").unwrap().as_deref(),
        Some("orders: 42")
    );

    // A handle the storage no longer holds: the claim stays Pending.
    source.snapshot_storage().remove(&handle);
    block_on(target.create(
        &snap("volumesnapshotcontents"),
        &obj(
            json!({"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotContent",
            "metadata": {"name": "gone"},
            "spec": {"deletionPolicy": "Retain", "driver": DRIVER,
                "source": {"snapshotHandle": handle},
                "volumeSnapshotRef": {"name": "data-2", "namespace": "shop"}}}),
        ),
    ))
    .unwrap();
    let vs = block_on(target.create(
        &snap("volumesnapshots"),
        &obj(
            json!({"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
            "metadata": {"name": "data-2", "namespace": "shop"},
            "spec": {"source": {"volumeSnapshotContentName": "gone"}}}),
        ),
    ))
    .unwrap();
    assert_eq!(vs.pointer("/status/readyToUse"), Some(&json!(false)));
    let pvc = claim(&target, "data-again", Some("data-2"));
    assert_eq!(pvc.pointer("/status/phase"), Some(&json!("Pending")));
}

#[test]
fn a_dry_run_snapshot_cuts_nothing_in_the_storage() {
    let clock = ManualClock::new(SIM_EPOCH.parse().unwrap());
    let s = cluster(&clock, "Retain");
    claim(&s, "data", None);
    let vs = obj(
        json!({"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
        "metadata": {"name": "data-1", "namespace": "shop"},
        "spec": {"volumeSnapshotClassName": "disk-snap",
            "source": {"persistentVolumeClaimName": "data"}}}),
    );
    s.create_with(
        &snap("volumesnapshots"),
        &vs,
        &WriteOptions {
            dry_run: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(s.snapshot_storage().is_empty());
}
