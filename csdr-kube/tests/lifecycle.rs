//! The API simulator through the `kube` client as a controller uses it: status by server-side
//! apply, conflicts, finalizers, namespace termination, garbage collection, dry run, the scale
//! subresource, watch bookmarks and list semantics.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

mod support;

use std::time::Duration;

use csdr_core::releases::KubeRelease;
use csdr_kube::testing::ApiServer;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, PropagationPolicy, WatchEvent,
    WatchParams,
};
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

fn deployment(name: &str) -> Deployment {
    serde_json::from_value(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1"}]}}}}))
    .unwrap()
}

fn api_error(err: kube::Error) -> (u16, String) {
    match err {
        kube::Error::Api(status) => (status.code, status.message),
        other => panic!("not an API error: {other}"),
    }
}

#[tokio::test]
async fn status_is_written_by_server_side_apply_only_through_the_status_subresource() {
    let (server, client) = serve().await;
    let deployments: Api<Deployment> = Api::namespaced(client, "default");
    deployments
        .create(&PostParams::default(), &deployment("web"))
        .await
        .unwrap();
    let status = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"}, "status": {"readyReplicas": 1, "observedGeneration": 1}});
    let reported = deployments
        .patch_status(
            "web",
            &PatchParams::apply("controller").force(),
            &Patch::Apply(&status),
        )
        .await
        .unwrap();
    assert_eq!(reported.status.unwrap().ready_replicas, Some(1));
    assert_eq!(reported.metadata.generation, Some(1));
    let managers = reported.metadata.managed_fields.unwrap();
    let entry = managers
        .iter()
        .find(|m| m.manager.as_deref() == Some("controller"))
        .unwrap();
    assert_eq!(entry.operation.as_deref(), Some("Apply"));
    assert_eq!(entry.subresource.as_deref(), Some("status"));

    // Status sent to the object itself is ignored; a spec change moves the generation. The
    // creator (an Update manager) owns spec.replicas, so taking it needs force.
    let mut main = status.clone();
    main["status"]["readyReplicas"] = json!(5);
    main["spec"] = json!({"replicas": 2});
    let applied = deployments
        .patch(
            "web",
            &PatchParams::apply("owner").force(),
            &Patch::Apply(&main),
        )
        .await
        .unwrap();
    assert_eq!(applied.status.unwrap().ready_replicas, Some(1));
    assert_eq!(applied.spec.replicas, Some(2));
    assert_eq!(applied.metadata.generation, Some(2));

    // Another manager applying a different replicas conflicts, unless forced.
    let other = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"}, "spec": {"replicas": 4}});
    let err = deployments
        .patch(
            "web",
            &PatchParams::apply("intruder"),
            &Patch::Apply(&other),
        )
        .await
        .unwrap_err();
    assert_eq!(
        api_error(err),
        (
            409,
            "Apply failed with 1 conflict: conflict with \"owner\" using apps/v1: .spec.replicas"
                .to_string()
        )
    );
    let forced = deployments
        .patch(
            "web",
            &PatchParams::apply("intruder").force(),
            &Patch::Apply(&other),
        )
        .await
        .unwrap();
    assert_eq!(forced.spec.replicas, Some(4));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn stale_replaces_conflict_and_leases_elect_one_leader() {
    let (server, client) = serve().await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let created = deployments
        .create(&PostParams::default(), &deployment("web"))
        .await
        .unwrap();
    let mut first = created.clone();
    first.spec.replicas = Some(2);
    deployments
        .replace("web", &PostParams::default(), &first)
        .await
        .unwrap();
    let mut stale = created;
    stale.spec.replicas = Some(3);
    let err = deployments
        .replace("web", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert_eq!(
        api_error(err),
        (409, "Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified; please apply your changes to the latest version and try again".to_string())
    );

    // Leader election: two candidates update the same Lease from the same read; one wins.
    let leases: Api<Lease> = Api::namespaced(client, "default");
    let lease: Lease = serde_json::from_value(json!({"apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease", "metadata": {"name": "leader"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}))
    .unwrap();
    let read = leases.create(&PostParams::default(), &lease).await.unwrap();
    let mut by_b = read.clone();
    by_b.spec.as_mut().unwrap().holder_identity = Some("b".into());
    let mut by_c = read;
    by_c.spec.as_mut().unwrap().holder_identity = Some("c".into());
    leases
        .replace("leader", &PostParams::default(), &by_b)
        .await
        .unwrap();
    let (code, _) = api_error(
        leases
            .replace("leader", &PostParams::default(), &by_c)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 409);
    let held = leases.get("leader").await.unwrap();
    assert_eq!(held.spec.unwrap().holder_identity.as_deref(), Some("b"));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_delete_waits_for_finalizers_and_namespaces_terminate() {
    let (server, client) = serve().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "shop"}})).unwrap(),
        )
        .await
        .unwrap();
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    let held: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "held",
        "finalizers": ["example.com/keep"]}, "data": {"a": "1"}}))
    .unwrap();
    configmaps
        .create(&PostParams::default(), &held)
        .await
        .unwrap();

    let pending = configmaps
        .delete("held", &DeleteParams::default())
        .await
        .unwrap();
    let pending = pending.left().expect("the object, still there");
    assert!(pending.metadata.deletion_timestamp.is_some());
    assert!(configmaps.get_opt("held").await.unwrap().is_some());

    // The namespace is Terminating while its content is held, and takes nothing new.
    let ns = namespaces
        .delete("shop", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Terminating"));
    let late: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "late"}})).unwrap();
    let err = configmaps
        .create(&PostParams::default(), &late)
        .await
        .unwrap_err();
    assert_eq!(
        api_error(err),
        (403, "configmaps \"late\" is forbidden: unable to create new content in namespace shop because it is being terminated".to_string())
    );
    let err = configmaps
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Json::<()>(
                serde_json::from_value(json!([{"op": "add", "path": "/metadata/finalizers/-",
                    "value": "example.com/more"}]))
                .unwrap(),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(api_error(err).0, 422);

    configmaps
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Json::<()>(
                serde_json::from_value(json!([{"op": "remove", "path": "/metadata/finalizers"}]))
                    .unwrap(),
            ),
        )
        .await
        .unwrap();
    assert!(configmaps.get_opt("held").await.unwrap().is_none());
    assert!(namespaces.get_opt("shop").await.unwrap().is_none());
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn owners_take_their_dependents_unless_orphaned() {
    let (server, client) = serve().await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let configmaps: Api<ConfigMap> = Api::namespaced(client, "default");
    for (owner, dependent) in [("web", "web-config"), ("api", "api-config")] {
        let created = deployments
            .create(&PostParams::default(), &deployment(owner))
            .await
            .unwrap();
        let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": dependent,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": owner,
                "uid": created.metadata.uid.unwrap()}]}}))
        .unwrap();
        configmaps
            .create(&PostParams::default(), &cm)
            .await
            .unwrap();
    }
    let deleted = deployments
        .delete("web", &DeleteParams::background())
        .await
        .unwrap();
    assert!(deleted.is_right(), "an immediate delete answers a Status");
    assert!(configmaps.get_opt("web-config").await.unwrap().is_none());
    deployments
        .delete(
            "api",
            &DeleteParams {
                propagation_policy: Some(PropagationPolicy::Orphan),
                ..DeleteParams::default()
            },
        )
        .await
        .unwrap();
    let orphan = configmaps.get("api-config").await.unwrap();
    assert!(
        orphan
            .metadata
            .owner_references
            .unwrap_or_default()
            .is_empty()
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn dry_runs_answer_the_would_be_object_and_keep_nothing() {
    let (server, client) = serve().await;
    let deployments: Api<Deployment> = Api::namespaced(client, "default");
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let version = server.sim().resource_version();
    let would_be = deployments.create(&dry, &deployment("web")).await.unwrap();
    assert!(would_be.metadata.uid.is_some());
    assert!(would_be.metadata.creation_timestamp.is_some());
    assert!(deployments.get_opt("web").await.unwrap().is_none());
    assert_eq!(server.sim().resource_version(), version);

    let created = deployments
        .create(&PostParams::default(), &deployment("web"))
        .await
        .unwrap();
    let patched = deployments
        .patch(
            "web",
            &PatchParams::default().dry_run(),
            &Patch::Merge(json!({"spec": {"replicas": 9}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.spec.replicas, Some(9));
    let dry_delete = DeleteParams {
        dry_run: true,
        ..DeleteParams::default()
    };
    deployments.delete("web", &dry_delete).await.unwrap();
    let stored = deployments.get("web").await.unwrap();
    assert_eq!(stored.spec.replicas, Some(1));
    assert_eq!(
        stored.metadata.resource_version,
        created.metadata.resource_version
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_scale_subresource_reads_and_writes_replicas() {
    let (server, client) = serve().await;
    let deployments: Api<Deployment> = Api::namespaced(client, "default");
    deployments
        .create(&PostParams::default(), &deployment("web"))
        .await
        .unwrap();
    let scale = deployments.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(1));
    assert_eq!(scale.status.unwrap().selector.as_deref(), Some("app=web"));
    let scaled = deployments
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(scaled.spec.unwrap().replicas, Some(3));
    let stored = deployments.get("web").await.unwrap();
    assert_eq!(stored.spec.replicas, Some(3));
    assert_eq!(stored.metadata.generation, Some(2));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn watches_send_bookmarks_and_honour_field_selectors() {
    let (server, client) = serve().await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client, "default");
    let params = WatchParams::default()
        .fields("metadata.name=wanted")
        .timeout(10);
    let mut stream = configmaps.watch(&params, "0").await.unwrap().boxed();
    for name in ["other", "wanted"] {
        let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        configmaps
            .create(&PostParams::default(), &cm)
            .await
            .unwrap();
    }
    let mut added = Vec::new();
    let mut bookmark = None;
    while bookmark.is_none() {
        match tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("a bookmark within the interval")
            .unwrap()
            .unwrap()
        {
            WatchEvent::Added(cm) => added.push(cm.metadata.name.unwrap()),
            WatchEvent::Bookmark(b) => bookmark = Some(b.metadata.resource_version),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(added, ["wanted"]);
    assert_eq!(
        bookmark.unwrap(),
        server.sim().resource_version().to_string()
    );

    // A kube-runtime watcher of one object (by field selector) sees it.
    let config = watcher::Config::default().fields("metadata.name=wanted");
    let seen: Vec<String> = watcher::watcher(configmaps.clone(), config)
        .take_while(|e| futures::future::ready(!matches!(e, Ok(watcher::Event::InitDone))))
        .try_filter_map(|e| async move {
            Ok(match e {
                watcher::Event::InitApply(cm) | watcher::Event::Apply(cm) => cm.metadata.name,
                _ => None,
            })
        })
        .try_collect()
        .await
        .unwrap();
    assert_eq!(seen, ["wanted"]);
    // The same through a streaming list (sendInitialEvents, ended by the annotated bookmark).
    let streaming = watcher::Config::default()
        .fields("metadata.name=wanted")
        .streaming_lists();
    let seen: Vec<String> = tokio::time::timeout(
        Duration::from_secs(10),
        watcher::watcher(configmaps.clone(), streaming)
            .take_while(|e| futures::future::ready(!matches!(e, Ok(watcher::Event::InitDone))))
            .try_filter_map(|e| async move {
                Ok(match e {
                    watcher::Event::InitApply(cm) | watcher::Event::Apply(cm) => cm.metadata.name,
                    _ => None,
                })
            })
            .try_collect(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(seen, ["wanted"]);

    // Lists: an old exact version is gone, the current one and 0 serve the current state.
    // (A future version answers 504, which the kube client retries for minutes: not tested
    // here.)
    let current = server.sim().resource_version();
    let list = |rv: String, exact: bool| {
        let configmaps = configmaps.clone();
        async move {
            let params = if exact {
                ListParams::default()
                    .at(&rv)
                    .matching(kube::api::VersionMatch::Exact)
            } else {
                ListParams::default().at(&rv)
            };
            configmaps.list(&params).await
        }
    };
    assert_eq!(list("0".into(), false).await.unwrap().items.len(), 2);
    let (code, message) = api_error(list("3".into(), true).await.unwrap_err());
    assert_eq!(
        (code, message),
        (410, format!("too old resource version: 3 ({current})"))
    );
    assert_eq!(
        list(current.to_string(), true).await.unwrap().items.len(),
        2
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn discovery_lists_the_scale_and_status_subresources() {
    let (server, client) = serve().await;
    let apps = client.list_api_group_resources("apps/v1").await.unwrap();
    let find = |name: &str| {
        apps.resources
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("{name} missing"))
            .clone()
    };
    let scale = find("deployments/scale");
    assert_eq!(
        (
            scale.kind.as_str(),
            scale.group.as_deref(),
            scale.version.as_deref()
        ),
        ("Scale", Some("autoscaling"), Some("v1"))
    );
    assert_eq!(scale.verbs, ["get", "patch", "update"]);
    assert_eq!(find("deployments/status").kind, "Deployment");
    assert_eq!(find("statefulsets/scale").kind, "Scale");
    let core = client.list_core_api_resources("v1").await.unwrap();
    let names: Vec<&str> = core.resources.iter().map(|r| r.name.as_str()).collect();
    assert!(names.contains(&"pods/status"), "{names:?}");
    assert!(names.contains(&"replicationcontrollers/scale"), "{names:?}");
    assert!(!names.contains(&"configmaps/status"), "{names:?}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn custom_resources_scale_through_the_subresource_their_crd_declares() {
    let (server, client) = serve().await;
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    let crd = serde_json::from_value(json!({"apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object",
                    "x-kubernetes-preserve-unknown-fields": true}},
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.size",
                    "statusReplicasPath": ".status.size",
                    "labelSelectorPath": ".status.selector"}}}]}}))
    .unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap();
    let resource = kube::api::ApiResource {
        group: "example.com".into(),
        version: "v1".into(),
        api_version: "example.com/v1".into(),
        kind: "Widget".into(),
        plural: "widgets".into(),
    };
    let widgets: Api<kube::api::DynamicObject> = Api::namespaced_with(client, "default", &resource);
    let widget: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w"}, "spec": {"size": 1}}))
    .unwrap();
    widgets
        .create(&PostParams::default(), &widget)
        .await
        .unwrap();
    widgets
        .patch_status(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"size": 1, "selector": "app=w"}})),
        )
        .await
        .unwrap();
    let scale = widgets.get_scale("w").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(1));
    assert_eq!(scale.status.unwrap().selector.as_deref(), Some("app=w"));
    widgets
        .patch_scale(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await
        .unwrap();
    let stored = widgets.get("w").await.unwrap();
    assert_eq!(stored.data["spec"]["size"], 4);
    assert_eq!(stored.data["status"]["size"], 1);
    server.shutdown().await.unwrap();
}
