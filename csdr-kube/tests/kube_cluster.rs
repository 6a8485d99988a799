//! `KubeCluster` against the HTTP `ApiServer`: discovery, paging, conflicts, retries, waits.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use csdr_core::discovery::Discovery;
use csdr_core::object::{GroupVersionResource, KubeObject};
use csdr_core::ports::cluster::{Cluster, ClusterError, ListOptions, ObjectText, WaitCondition};
use csdr_core::releases::KubeRelease;
use csdr_kube::testing::{ApiServer, Failure};
use csdr_kube::{KubeCluster, RetryPolicy};
use futures::StreamExt;
use serde_json::json;

fn fast_retries(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts: attempts,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(1),
    }
}

async fn serve(release: KubeRelease) -> (ApiServer, KubeCluster) {
    let server = ApiServer::start(support::sim(release)).await.unwrap();
    let cluster = KubeCluster::from_url(&server.url())
        .unwrap()
        .with_retry(fast_retries(4));
    (server, cluster)
}

/// Group → (preferred version, version → resources sorted by plural), independent of order.
type Normalized = BTreeMap<
    String,
    (
        String,
        BTreeMap<String, Vec<csdr_core::discovery::ApiResource>>,
    ),
>;

fn normalized(d: &Discovery) -> Normalized {
    d.groups
        .iter()
        .map(|g| {
            let versions = g
                .versions
                .iter()
                .map(|v| {
                    let mut resources = v.resources.clone();
                    resources.sort_by(|a, b| a.plural.cmp(&b.plural));
                    (v.version.clone(), resources)
                })
                .collect();
            (g.name.clone(), (g.preferred_version.clone(), versions))
        })
        .collect()
}

fn obj(value: serde_json::Value) -> KubeObject {
    KubeObject::new(value).unwrap()
}

fn configmaps() -> GroupVersionResource {
    GroupVersionResource::new("", "v1", "configmaps")
}

async fn create_namespace(cluster: &KubeCluster, name: &str) {
    let ns = obj(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}));
    cluster
        .create(&GroupVersionResource::new("", "v1", "namespaces"), &ns)
        .await
        .unwrap();
}

#[tokio::test]
async fn discovery_matches_the_release_table_aggregated_and_legacy() {
    for release in [KubeRelease::V1_16, KubeRelease::V1_28] {
        let (server, cluster) = serve(release).await;
        let expected = release.discovery();
        for aggregated in [true, false] {
            server.set_aggregated_discovery(aggregated);
            let found = cluster.discover().await.unwrap();
            assert_eq!(
                normalized(&found),
                normalized(&expected),
                "{release:?} aggregated={aggregated}"
            );
            let mut served = found.served_resources();
            let mut want = expected.served_resources();
            served.sort_by_key(|s| s.group_resource());
            want.sort_by_key(|s| s.group_resource());
            assert_eq!(served, want, "{release:?} aggregated={aggregated}");
            assert!(cluster.discovery_warnings().is_empty());
        }
        let found = cluster.discover().await.unwrap();
        assert_eq!(
            found.serves("apps", "v1beta2", "deployments"),
            release == KubeRelease::V1_16
        );
        server.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn a_group_that_fails_discovery_is_skipped_and_reported() {
    let (server, cluster) = serve(KubeRelease::V1_16).await;
    server.set_aggregated_discovery(false);
    server.inject_failures("/apis/batch/v1beta1", Failure::ServiceUnavailable, 1000);
    let found = cluster.discover().await.unwrap();
    assert!(found.group("batch").is_none());
    assert!(found.serves("apps", "v1", "deployments"));
    // The engine sees the skipped group in the discovery itself.
    assert_eq!(found.unavailable.len(), 1);
    assert_eq!(found.unavailable[0].group, "batch");
    let warnings = cluster.discovery_warnings();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].group, "batch");
    assert_eq!(warnings[0].version.as_deref(), Some("v1beta1"));
    assert!(
        warnings[0].to_string().contains("HTTP 503"),
        "{}",
        warnings[0]
    );
}

#[tokio::test]
async fn lists_page_across_boundaries_and_fill_api_version_and_kind() {
    let (_server, cluster) = serve(KubeRelease::V1_28).await;
    create_namespace(&cluster, "paging").await;
    for i in 0..25 {
        let cm = obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("cm-{i:02}"), "namespace": "paging",
                "labels": {"even": (i % 2 == 0).to_string()}}}));
        cluster.create(&configmaps(), &cm).await.unwrap();
    }
    let first = cluster
        .list_page(
            &configmaps(),
            Some("paging"),
            &ListOptions {
                limit: Some(10),
                ..ListOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(first.items.len(), 10);
    assert!(first.continue_token.is_some());
    // The server leaves apiVersion and kind out of list items, as real ones do.
    assert_eq!(first.items[0].api_version(), "v1");
    assert_eq!(first.items[0].kind(), "ConfigMap");

    let all: Vec<String> = cluster
        .list(&configmaps(), Some("paging"), None, 10)
        .map(|r| r.unwrap().name().to_string())
        .collect()
        .await;
    let expected: Vec<String> = (0..25).map(|i| format!("cm-{i:02}")).collect();
    assert_eq!(all, expected);

    let even: Vec<KubeObject> = cluster
        .list(&configmaps(), None, Some("even=true"), 4)
        .map(|r| r.unwrap())
        .collect()
        .await;
    assert_eq!(even.len(), 13);
    assert!(even.iter().all(|o| o.label("even") == Some("true")));
}

fn configmap(name: &str) -> KubeObject {
    obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "paging"}}))
}

#[tokio::test]
async fn a_continue_token_that_is_not_one_is_a_bad_request() {
    let (_server, cluster) = serve(KubeRelease::V1_28).await;
    let bad = cluster
        .list_page(
            &configmaps(),
            Some("paging"),
            &ListOptions {
                limit: Some(10),
                continue_token: Some("not-a-token".into()),
                ..ListOptions::default()
            },
        )
        .await;
    assert!(
        matches!(&bad, Err(ClusterError::Invalid { reason, .. }) if reason.contains("invalid continue token")),
        "{bad:?}"
    );
}

/// A long list while the cluster changes: between pages, objects are created and deleted and
/// every continue token expires (etcd compaction). Each object that existed for the whole list
/// is yielded exactly once, and nothing is yielded twice.
#[tokio::test]
async fn a_list_under_churn_with_expiring_tokens_loses_and_doubles_nothing() {
    let (server, cluster) = serve(KubeRelease::V1_28).await;
    create_namespace(&cluster, "paging").await;
    let gvr = configmaps();
    for i in 0..60 {
        cluster
            .create(&gvr, &configmap(&format!("cm-{i:03}")))
            .await
            .unwrap();
    }
    // cm-000..cm-059 with every third deleted during the list; the rest exist throughout.
    let throughout: Vec<String> = (0..60)
        .filter(|i| i % 3 != 1)
        .map(|i| format!("cm-{i:03}"))
        .collect();
    let mut names: Vec<String> = Vec::new();
    let mut stream = cluster.list(&gvr, Some("paging"), None, 7);
    let mut round = 0;
    while let Some(item) = stream.next().await {
        names.push(item.unwrap().name().to_string());
        if names.len().is_multiple_of(7) {
            // A page was consumed: churn, then expire the token the next request carries.
            round += 1;
            for i in (0..60).filter(|i| i % 3 == 1).skip(round * 2).take(2) {
                cluster
                    .delete(&gvr, Some("paging"), &format!("cm-{i:03}"))
                    .await
                    .unwrap();
            }
            for name in [format!("cm-{:03}-new", round * 5), format!("a-{round:03}")] {
                cluster.create(&gvr, &configmap(&name)).await.unwrap();
            }
            server.sim().expire_continue_tokens();
        }
    }
    assert!(round >= 5, "the list spanned several expiries: {round}");
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        names.len(),
        "nothing yielded twice: {names:?}"
    );
    for name in &throughout {
        assert!(names.contains(name), "{name} was lost: {names:?}");
    }
}

/// A server that expires the token and offers no continuation: the list fails, naming what
/// it listed, rather than guess (restarting would yield the first page again).
#[tokio::test]
async fn an_expired_token_without_a_continuation_fails_the_list() {
    let (server, cluster) = serve(KubeRelease::V1_28).await;
    create_namespace(&cluster, "paging").await;
    let gvr = configmaps();
    for i in 0..25 {
        cluster
            .create(&gvr, &configmap(&format!("cm-{i:02}")))
            .await
            .unwrap();
    }
    let path = "/api/v1/namespaces/paging/configmaps";
    let mut stream = cluster.list(&gvr, Some("paging"), None, 10);
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.name(), "cm-00");
    // The first page is read; the request for the second answers 410 with no token.
    server.inject_failures(path, Failure::Expired, 1);
    let mut rest = Vec::new();
    while let Some(item) = stream.next().await {
        rest.push(item);
    }
    assert_eq!(server.pending_failures(path), 0, "the 410 was answered");
    assert_eq!(
        rest.len(),
        10,
        "the other nine of the first page, then the error"
    );
    assert!(rest[..9].iter().all(Result::is_ok));
    assert!(
        matches!(&rest[9], Err(ClusterError::Gone { what, continue_token: None, .. }) if what.contains("configmaps")),
        "{:?}",
        rest[9]
    );

    // The same expiry on a server that offers the continuation: nothing lost or doubled.
    let mut stream = cluster.list(&gvr, Some("paging"), None, 10);
    let mut names = vec![stream.next().await.unwrap().unwrap().name().to_string()];
    server.sim().expire_continue_tokens();
    while let Some(item) = stream.next().await {
        names.push(item.unwrap().name().to_string());
    }
    let expected: Vec<String> = (0..25).map(|i| format!("cm-{i:02}")).collect();
    assert_eq!(names, expected);
}

/// A create given as JSON text (a restore's spooled final objects) sends the text as it is:
/// the object is stored as a parsed create stores it, a refusal the server answers as
/// transient is retried with the same text, and the errors are those of a create.
#[tokio::test]
async fn a_create_given_as_text_is_stored_as_sent() {
    let (server, cluster) = serve(KubeRelease::V1_28).await;
    let value = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "as-text", "namespace": "default", "labels": {"app": "a"}},
        "data": {"k": "v", "quoted": "a \"b\" \\ c", "unicode": "é ✓"}});
    let text = |namespace, name| ObjectText {
        namespace,
        name,
        json: serde_json::to_vec(&value).unwrap().into(),
    };
    let path = "/api/v1/namespaces/default/configmaps";
    server.inject_failures(path, Failure::ServiceUnavailable, 2);
    cluster
        .create_text_unread(&configmaps(), &text(Some("default"), "as-text"))
        .await
        .unwrap();
    assert_eq!(server.pending_failures(path), 0, "retried past both 503s");
    let stored = cluster
        .get(&configmaps(), Some("default"), "as-text")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.pointer("/data"), value.pointer("/data"));
    assert_eq!(stored.pointer("/metadata/labels/app"), Some(&json!("a")));
    assert!(stored.pointer("/metadata/uid").is_some());

    assert_eq!(
        cluster
            .create_text_unread(&configmaps(), &text(Some("default"), "as-text"))
            .await,
        Err(ClusterError::AlreadyExists {
            what: "configmaps default/as-text".into()
        })
    );
    // The URL is the text's namespace; the server checks the body against it, as the API
    // server does.
    assert!(matches!(
        cluster
            .create_text_unread(&configmaps(), &text(Some("nowhere"), "as-text"))
            .await,
        Err(ClusterError::Invalid { what, reason })
            if what == "configmaps nowhere/as-text" && reason.contains("does not match the namespace")
    ));
    // Text that is no JSON is refused by the server as a bad request, naming the object.
    let broken = ObjectText {
        namespace: Some("default"),
        name: "broken",
        json: bytes::Bytes::from_static(b"{\"apiVersion\": \"v1\", \"kind\""),
    };
    let refused = cluster.create_text_unread(&configmaps(), &broken).await;
    assert!(
        matches!(&refused, Err(ClusterError::Invalid { what, reason })
            if what == "configmaps default/broken" && reason.contains("not valid JSON")),
        "{refused:?}"
    );
    // The port's default (for adapters that do not send text) parses it and says so.
    assert!(matches!(
        broken.parse(),
        Err(ClusterError::Invalid { what, reason })
            if what == "default/broken" && reason.contains("does not parse")
    ));
}

#[tokio::test]
async fn create_conflicts_and_update_conflicts() {
    let (_server, cluster) = serve(KubeRelease::V1_28).await;
    let cm = obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "default"}, "data": {"a": "1"}}));
    let stored = cluster.create(&configmaps(), &cm).await.unwrap();
    let again = cluster.create(&configmaps(), &cm).await;
    assert_eq!(
        again,
        Err(ClusterError::AlreadyExists {
            what: "configmaps default/settings".into()
        })
    );

    // The create that does not read its answer back: the same outcomes.
    let other = obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "unread", "namespace": "default"}, "data": {"k": "v"}}));
    cluster.create_unread(&configmaps(), &other).await.unwrap();
    let read = cluster
        .get(&configmaps(), Some("default"), "unread")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.pointer("/data/k"), Some(&json!("v")));
    assert_eq!(
        cluster.create_unread(&configmaps(), &other).await,
        Err(ClusterError::AlreadyExists {
            what: "configmaps default/unread".into()
        })
    );
    let nowhere = obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "x", "namespace": "nowhere"}}));
    assert!(matches!(
        cluster.create_unread(&configmaps(), &nowhere).await,
        Err(ClusterError::NotFound { .. })
    ));

    let mut fresh = stored.clone();
    fresh.fields_mut().insert("data".into(), json!({"a": "2"}));
    let updated = cluster.update(&configmaps(), &fresh).await.unwrap();
    assert_eq!(updated.pointer("/data/a"), Some(&json!("2")));

    // `stored` carries the resourceVersion from before the update: stale.
    let mut stale = stored;
    stale.fields_mut().insert("data".into(), json!({"a": "3"}));
    let conflict = cluster.update(&configmaps(), &stale).await;
    assert!(
        matches!(&conflict, Err(ClusterError::Conflict { what, .. }) if what == "configmaps default/settings"),
        "{conflict:?}"
    );

    let patched = cluster
        .patch_merge(
            &configmaps(),
            Some("default"),
            "settings",
            &json!({"data": {"b": "x"}}),
        )
        .await
        .unwrap();
    assert_eq!(patched.fields()["data"], json!({"a": "2", "b": "x"}));

    let missing_ns = obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "x", "namespace": "nowhere"}}));
    assert!(matches!(
        cluster.create(&configmaps(), &missing_ns).await,
        Err(ClusterError::NotFound { .. })
    ));
    let invalid = obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "Not_Valid", "namespace": "default"}}));
    let err = cluster.create(&configmaps(), &invalid).await;
    assert!(
        matches!(&err, Err(ClusterError::Invalid { reason, .. }) if reason.contains("metadata.name")),
        "{err:?}"
    );

    cluster
        .delete(&configmaps(), Some("default"), "settings")
        .await
        .unwrap();
    assert_eq!(
        cluster
            .get(&configmaps(), Some("default"), "settings")
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        cluster
            .delete(&configmaps(), Some("default"), "settings")
            .await,
        Err(ClusterError::NotFound { .. })
    ));
}

#[tokio::test]
async fn dry_runs_check_everything_and_store_nothing() {
    let (server, cluster) = serve(KubeRelease::V1_28).await;
    let cm = obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "default"}, "data": {"a": "1"}}));
    // A create dry run answers the object as it would be stored, and stores nothing.
    let answered = cluster.dry_run_create(&configmaps(), &cm).await.unwrap();
    assert_eq!(answered.pointer("/data/a"), Some(&json!("1")));
    assert_eq!(
        cluster
            .get(&configmaps(), Some("default"), "settings")
            .await
            .unwrap(),
        None
    );
    // Every check runs: a missing namespace, an invalid name, an admission rejection.
    let missing_ns = obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "x", "namespace": "nowhere"}}));
    assert!(matches!(
        cluster.dry_run_create(&configmaps(), &missing_ns).await,
        Err(ClusterError::NotFound { .. })
    ));
    server.sim().reject(csdr_core::sim::Rejection {
        kind: "ConfigMap".into(),
        name: Some("refused".into()),
        message: "admission webhook denied the request".into(),
    });
    let refused = obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "refused", "namespace": "default"}}));
    let err = cluster.dry_run_create(&configmaps(), &refused).await;
    assert!(
        matches!(&err, Err(ClusterError::Invalid { reason, .. }) if reason.contains("admission webhook denied")),
        "{err:?}"
    );
    // An update dry run checks against the stored object and changes nothing.
    let stored = cluster.create(&configmaps(), &cm).await.unwrap();
    assert!(matches!(
        cluster.dry_run_create(&configmaps(), &cm).await,
        Err(ClusterError::AlreadyExists { .. })
    ));
    let mut changed = stored.clone();
    changed
        .fields_mut()
        .insert("data".into(), json!({"a": "2"}));
    let answered = cluster
        .dry_run_update(&configmaps(), &changed)
        .await
        .unwrap();
    assert_eq!(answered.pointer("/data/a"), Some(&json!("2")));
    let live = cluster
        .get(&configmaps(), Some("default"), "settings")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live.pointer("/data/a"), Some(&json!("1")));
    assert_eq!(
        live.pointer("/metadata/resourceVersion"),
        stored.pointer("/metadata/resourceVersion")
    );
}

#[tokio::test]
async fn transient_failures_are_retried_then_succeed() {
    let (server, cluster) = serve(KubeRelease::V1_28).await;
    let path = "/api/v1/namespaces/default/configmaps";
    server.inject_failures(
        path,
        Failure::TooManyRequests {
            retry_after: Duration::from_secs(1),
        },
        2,
    );
    let page = cluster
        .list_page(&configmaps(), Some("default"), &ListOptions::default())
        .await
        .unwrap();
    assert!(page.items.is_empty());
    assert_eq!(server.pending_failures(path), 0);

    server.inject_failures(path, Failure::InternalError, 3);
    let cm = obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "after-500s", "namespace": "default"}}));
    cluster.create(&configmaps(), &cm).await.unwrap();
    assert_eq!(server.pending_failures(path), 0);
    assert!(
        cluster
            .get(&configmaps(), Some("default"), "after-500s")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn persistent_failures_end_unavailable_after_bounded_attempts() {
    let (server, cluster) = serve(KubeRelease::V1_28).await;
    let cluster = cluster.with_retry(fast_retries(3));
    let path = "/api/v1/namespaces/default/configmaps/settings";
    server.inject_failures(path, Failure::InternalError, 100);
    let err = cluster
        .get(&configmaps(), Some("default"), "settings")
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().contains("HTTP 500"), "{err}");
    assert!(err.to_string().contains("3 attempts"), "{err}");
    assert_eq!(server.pending_failures(path), 97, "exactly three attempts");
}

#[tokio::test]
async fn wait_for_watches_until_bound_or_times_out() {
    let (server, cluster) = serve(KubeRelease::V1_28).await;
    let pvcs = GroupVersionResource::new("", "v1", "persistentvolumeclaims");
    for name in ["data", "never"] {
        let pvc = obj(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"storageClassName": "missing", "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}}}}));
        let stored = cluster.create(&pvcs, &pvc).await.unwrap();
        assert_eq!(stored.pointer("/status/phase"), Some(&json!("Pending")));
    }

    let waiting = {
        let url = server.url();
        let pvcs = pvcs.clone();
        tokio::spawn(async move {
            let cluster = KubeCluster::from_url(&url).unwrap();
            cluster
                .wait_for(
                    &pvcs,
                    Some("default"),
                    "data",
                    WaitCondition::Bound,
                    Duration::from_secs(60),
                )
                .await
        })
    };
    // Bind the claim on the simulated cluster directly, as a provisioner would, once the
    // waiter has looked (its first read sees Pending).
    let sim = server.sim().clone();
    let mut current = sim
        .get(&pvcs, Some("default"), "data")
        .await
        .unwrap()
        .unwrap();
    current
        .fields_mut()
        .insert("status".into(), json!({"phase": "Bound"}));
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A provisioner reports binding through the status subresource.
    let status_write = csdr_core::sim::WriteOptions {
        subresource: csdr_core::sim::Subresource::Status,
        ..Default::default()
    };
    sim.update_with(&pvcs, &current, &status_write).unwrap();
    let bound = waiting.await.unwrap().unwrap();
    assert_eq!(bound.name(), "data");
    assert!(WaitCondition::Bound.is_met(&bound));

    let timeout = cluster
        .wait_for(
            &pvcs,
            Some("default"),
            "never",
            WaitCondition::Bound,
            Duration::from_secs(1),
        )
        .await;
    assert_eq!(
        timeout,
        Err(ClusterError::Timeout {
            what: "persistentvolumeclaims default/never".into(),
            condition: "Bound".into(),
            timeout: Duration::from_secs(1),
        })
    );
    let missing = cluster
        .wait_for(
            &pvcs,
            Some("default"),
            "absent",
            WaitCondition::Bound,
            Duration::from_secs(1),
        )
        .await;
    assert!(matches!(missing, Err(ClusterError::NotFound { .. })));
}

#[tokio::test]
async fn cluster_scoped_resources_and_other_versions() {
    let (_server, cluster) = serve(KubeRelease::V1_16).await;
    cluster.discover().await.unwrap();
    let classes = GroupVersionResource::new("storage.k8s.io", "v1", "storageclasses");
    let sc = obj(
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "fast"}, "provisioner": "csi.example.com"}),
    );
    cluster.create(&classes, &sc).await.unwrap();
    // A namespace given for a cluster-scoped resource is ignored, as discovery says.
    let got = cluster
        .get(&classes, Some("default"), "fast")
        .await
        .unwrap();
    assert_eq!(got.map(|o| o.name().to_string()), Some("fast".into()));

    let deployments_v1 = GroupVersionResource::new("apps", "v1", "deployments");
    let deploy = obj(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}}));
    cluster.create(&deployments_v1, &deploy).await.unwrap();
    for (group, version) in [
        ("apps", "v1beta2"),
        ("apps", "v1beta1"),
        ("extensions", "v1beta1"),
    ] {
        let gvr = GroupVersionResource::new(group, version, "deployments");
        let items: Vec<KubeObject> = cluster
            .list(&gvr, None, None, 100)
            .map(|r| r.unwrap())
            .collect()
            .await;
        assert_eq!(items.len(), 1, "{gvr}");
        assert_eq!(items[0].api_version(), format!("{group}/{version}"));
        assert_eq!(items[0].kind(), "Deployment");
    }
}
