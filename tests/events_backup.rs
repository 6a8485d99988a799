//! Events in a cluster folder (issue 12, part 7): a folder holding what `kubectl get events -o
//! yaml` dumps (core `v1` Events) loads into the simulated cluster of every release, each Event
//! is readable through the core API and through `events.k8s.io` as on a real server, and a
//! backup captures both groups' versions (DESIGN B5, cohabiting resources).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod support;

use std::sync::Arc;

use csdr::core::archive::ArchiveReader;
use csdr::core::engine::Engine;
use csdr::core::model::{BackupSpec, JobPhase};
use csdr::core::releases::KubeRelease;
use csdr::sim_folder;
use serde_json::{Value, json};
use support::*;

/// Two Events of the `shop` namespace as `kubectl get events -n shop -o yaml` prints them.
const EVENTS_YAML: &str =
    include_str!("../csdr-core/src/convert/testdata/event-core-v1-kubectl.yaml");
const KUBELET_EVENT: &str = "web-7c5ddbdf54-x2x8k.187c3a5e2f4b1a9d";
const SCHEDULER_EVENT: &str = "web-7c5ddbdf54-x2x8k.187c3a5e1d0c8e4f";

/// A cluster folder with the `shop` namespace and its events, as a user dumps them (the shop
/// application itself is written for 1.16 only, so every release gets just its namespace).
fn folder_with_events() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("namespace.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("events.yaml"), EVENTS_YAML).unwrap();
    dir
}

/// The events.k8s.io version a release serves and prefers.
fn events_version(release: KubeRelease) -> &'static str {
    if release.serves("events.k8s.io", "v1", "events") {
        "v1"
    } else {
        "v1beta1"
    }
}

#[tokio::test]
async fn a_folder_of_core_events_loads_on_every_release_and_reads_through_both_groups() {
    let dir = folder_with_events();
    for release in KubeRelease::ALL {
        let sim = sim_folder::load(release, dir.path())
            .unwrap_or_else(|e| panic!("{release}: the folder with events does not load: {e}"));
        let core = get(&sim, "", "v1", "events", Some("shop"), KUBELET_EVENT)
            .await
            .unwrap_or_else(|| panic!("{release}: the kubelet event is not served by v1"));
        assert_eq!(
            core.pointer("/message"),
            Some(&json!("Pulling image \"nginx:1.25\""))
        );
        assert_eq!(core.pointer("/count"), Some(&json!(3)));
        assert_eq!(core.pointer("/source/host"), Some(&json!("worker-2")));
        assert_eq!(core.pointer("/involvedObject/kind"), Some(&json!("Pod")));

        let version = events_version(release);
        let ev = get(
            &sim,
            "events.k8s.io",
            version,
            "events",
            Some("shop"),
            KUBELET_EVENT,
        )
        .await
        .unwrap_or_else(|| panic!("{release}: not served by events.k8s.io/{version}"));
        assert_eq!(ev.api_version(), format!("events.k8s.io/{version}"));
        assert_eq!(
            ev.pointer("/note"),
            Some(&json!("Pulling image \"nginx:1.25\""))
        );
        assert_eq!(ev.pointer("/deprecatedCount"), Some(&json!(3)));
        assert_eq!(
            ev.pointer("/deprecatedSource"),
            Some(&json!({"component": "kubelet", "host": "worker-2"}))
        );
        assert_eq!(
            ev.pointer("/deprecatedFirstTimestamp"),
            Some(&json!("2026-11-30T09:12:03Z"))
        );
        assert_eq!(
            ev.pointer("/regarding/name"),
            Some(&json!("web-7c5ddbdf54-x2x8k"))
        );
        assert_eq!(ev.pointer("/reportingController"), Some(&json!("kubelet")));
        for core_only in [
            "message",
            "involvedObject",
            "source",
            "count",
            "firstTimestamp",
        ] {
            assert!(
                ev.fields().get(core_only).is_none(),
                "{release}: {core_only} in {ev:?}"
            );
        }

        let scheduled = get(
            &sim,
            "events.k8s.io",
            version,
            "events",
            Some("shop"),
            SCHEDULER_EVENT,
        )
        .await
        .unwrap();
        assert_eq!(
            scheduled.pointer("/series"),
            Some(&json!({"count": 2, "lastObservedTime": "2026-11-30T09:13:02.101234Z"}))
        );
        assert_eq!(scheduled.pointer("/action"), Some(&json!("Scheduling")));
    }
}

#[tokio::test]
async fn a_backup_of_a_folder_with_events_captures_both_groups() {
    let dir = folder_with_events();
    for release in [KubeRelease::V1_16, KubeRelease::V1_28] {
        let cluster = Arc::new(sim_folder::load(release, dir.path()).unwrap());
        let vault = memory_vault().await;
        let engine = Engine::builder()
            .cluster(cluster)
            .vault(vault.clone())
            .build()
            .unwrap();
        let mut spec = BackupSpec::new("shop-events");
        spec.scope.included_namespaces = vec!["shop".into()];
        let report = engine.backup(spec).await;
        assert_eq!(
            report.status.phase,
            JobPhase::Completed,
            "{release}: {:?}",
            report.status
        );

        let archive = vault.download_archive("shop-events").await.unwrap();
        let entries: Vec<(String, Value)> = ArchiveReader::new(&archive.bytes[..])
            .map(|e| e.unwrap())
            .filter(|e| e.path.to_string().contains(KUBELET_EVENT))
            .map(|e| (e.path.to_string(), e.object.into_value()))
            .collect();
        let paths: Vec<&str> = entries.iter().map(|(p, _)| p.as_str()).collect();
        let version = events_version(release);
        let core_path = format!("resources/events/v1/namespaces/shop/{KUBELET_EVENT}.json");
        let events_path = format!(
            "resources/events.events.k8s.io/{version}-preferredversion/namespaces/shop/{KUBELET_EVENT}.json"
        );
        let entry = |path: &str| {
            entries
                .iter()
                .find(|(p, _)| p == path)
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("{release}: no {path} in {paths:?}"))
        };
        assert_eq!(entry(&core_path)["apiVersion"], json!("v1"));
        assert_eq!(
            entry(&core_path)["message"],
            json!("Pulling image \"nginx:1.25\"")
        );
        assert_eq!(
            entry(&events_path)["apiVersion"],
            json!(format!("events.k8s.io/{version}"))
        );
        assert_eq!(
            entry(&events_path)["note"],
            json!("Pulling image \"nginx:1.25\"")
        );
        assert_eq!(
            entry(&events_path)["deprecatedSource"]["host"],
            json!("worker-2")
        );
    }
}
