//! Watches replay every change in order, as an API server's watch cache streams them: a
//! `kube::runtime::watcher` sees each write of a burst, a watch from an old
//! `resourceVersion` is told it is too old (410 `Expired`, what kube-runtime re-lists on).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

mod support;

use std::time::Duration;

use csdr_core::releases::KubeRelease;
use csdr_kube::testing::ApiServer;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher;
use serde_json::json;

async fn serve() -> (ApiServer, kube::Client) {
    let server = ApiServer::start(support::sim(KubeRelease::V1_28))
        .await
        .unwrap();
    let config = kube::Config::new(server.url().parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    (server, client)
}

fn cm(name: &str, v: &str) -> ConfigMap {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", "labels": {"burst": "yes"}},
        "data": {"v": v}}))
    .unwrap()
}

fn version(cm: &ConfigMap) -> String {
    cm.data.as_ref().unwrap()["v"].clone()
}

#[tokio::test]
async fn a_runtime_watcher_sees_every_write_of_a_burst_in_order() {
    let (server, client) = serve().await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client, "default");
    let config = watcher::Config::default().labels("burst=yes");
    let mut events = watcher(configmaps.clone(), config).boxed();
    // The initial (empty) list is done once InitDone arrives.
    loop {
        match events.try_next().await.unwrap().unwrap() {
            watcher::Event::InitDone => break,
            watcher::Event::Init | watcher::Event::InitApply(_) => {}
            other => panic!("unexpected event before InitDone: {other:?}"),
        }
    }
    // A burst, faster than any polling: create, three patches, delete; twice.
    for name in ["a", "b"] {
        configmaps
            .create(&PostParams::default(), &cm(name, "0"))
            .await
            .unwrap();
        for v in 1..=3 {
            configmaps
                .patch(
                    name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"data": {"v": v.to_string()}})),
                )
                .await
                .unwrap();
        }
        configmaps
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    while seen.len() < 10 {
        let event = tokio::time::timeout(Duration::from_secs(5), events.try_next())
            .await
            .expect("every event arrives")
            .unwrap()
            .unwrap();
        match event {
            watcher::Event::Apply(cm) => seen.push(format!(
                "apply {} {}",
                cm.metadata.name.clone().unwrap(),
                version(&cm)
            )),
            watcher::Event::Delete(cm) => seen.push(format!(
                "delete {} {}",
                cm.metadata.name.clone().unwrap(),
                version(&cm)
            )),
            other => panic!("unexpected event: {other:?}"),
        }
    }
    assert_eq!(
        seen,
        [
            "apply a 0",
            "apply a 1",
            "apply a 2",
            "apply a 3",
            "delete a 3",
            "apply b 0",
            "apply b 1",
            "apply b 2",
            "apply b 3",
            "delete b 3",
        ]
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_raw_watch_replays_the_history_with_every_resource_version() {
    let (server, client) = serve().await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client, "default");
    let start = configmaps
        .list(&Default::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    // Written before the watch starts: replayed from the history.
    let created = configmaps
        .create(&PostParams::default(), &cm("w", "1"))
        .await
        .unwrap();
    let patched = configmaps
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"v": "2"}})),
        )
        .await
        .unwrap();
    configmaps
        .delete("w", &DeleteParams::default())
        .await
        .unwrap();
    let mut stream = configmaps
        .watch(&WatchParams::default().timeout(3), &start)
        .await
        .unwrap()
        .boxed();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        match stream.try_next().await.unwrap().unwrap() {
            WatchEvent::Added(o) => {
                seen.push(("ADDED", version(&o), o.metadata.resource_version.unwrap()))
            }
            WatchEvent::Modified(o) => seen.push((
                "MODIFIED",
                version(&o),
                o.metadata.resource_version.unwrap(),
            )),
            WatchEvent::Deleted(o) => {
                seen.push(("DELETED", version(&o), o.metadata.resource_version.unwrap()))
            }
            other => panic!("unexpected event: {other:?}"),
        }
    }
    let rv = |o: &ConfigMap| o.metadata.resource_version.clone().unwrap();
    let deleted_at = (rv(&patched).parse::<u64>().unwrap() + 1).to_string();
    assert_eq!(
        seen,
        [
            ("ADDED", "1".to_string(), rv(&created)),
            ("MODIFIED", "2".to_string(), rv(&patched)),
            ("DELETED", "2".to_string(), deleted_at),
        ]
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_watch_from_a_forgotten_version_gets_a_410_expired_error_event() {
    let sim = support::sim(KubeRelease::V1_28);
    sim.set_history_capacity(2);
    let server = ApiServer::start(sim).await.unwrap();
    let client = kube::Client::try_from(kube::Config::new(server.url().parse().unwrap())).unwrap();
    let configmaps: Api<ConfigMap> = Api::namespaced(client, "default");
    let start = configmaps
        .list(&Default::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    for name in ["x", "y", "z"] {
        configmaps
            .create(&PostParams::default(), &cm(name, "1"))
            .await
            .unwrap();
    }
    let mut stream = configmaps
        .watch(&WatchParams::default().timeout(3), &start)
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap().unwrap() {
        WatchEvent::Error(e) => {
            assert_eq!(e.code, 410);
            assert_eq!(e.reason, "Expired");
            assert!(
                e.message
                    .starts_with(&format!("too old resource version: {start} (")),
                "{}",
                e.message
            );
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
    server.shutdown().await.unwrap();
}
