//! End to end through HTTP: an API simulator serving Kubernetes 1.16 → backup through
//! `KubeCluster` → vault → restore through `KubeCluster` into an API simulator serving 1.28,
//! with the same assertions as the in-memory end-to-end test.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod support;

use std::sync::Arc;

use csdr::core::engine::Engine;
use csdr::core::model::{BackupSpec, JobPhase, RestoreSpec};
use csdr::core::releases::KubeRelease;
use csdr::kube::KubeCluster;
use csdr::kube::testing::ApiServer;
use serde_json::json;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_restore_through_the_http_api() {
    let source_sim = shop_cluster(KubeRelease::V1_16);
    let target_sim = target_cluster(KubeRelease::V1_28);
    let source_server = ApiServer::start(source_sim.clone()).await.unwrap();
    let target_server = ApiServer::start(target_sim.clone()).await.unwrap();
    let vault = memory_vault().await;

    let source = Arc::new(KubeCluster::from_url(&source_server.url()).unwrap());
    let engine = Engine::builder()
        .cluster(source)
        .vault(vault.clone())
        .build()
        .unwrap();
    let mut spec = BackupSpec::new("http-b");
    spec.scope.included_namespaces = vec!["shop".into()];
    let backup = engine.backup(spec).await;
    assert_eq!(
        backup.status.phase,
        JobPhase::Completed,
        "{:#?}",
        backup.status
    );
    let resources = vault
        .backup_companions("http-b")
        .await
        .unwrap()
        .resource_list;
    assert_eq!(backup.resource_counts["apps/v1/Deployment"], 1);
    assert_eq!(
        resources["apps/v1/Deployment"],
        vec!["shop/web".to_string()]
    );
    assert_eq!(
        resources["networking.k8s.io/v1beta1/Ingress"],
        vec!["shop/web".to_string()]
    );

    let target = Arc::new(KubeCluster::from_url(&target_server.url()).unwrap());
    let engine = Engine::builder()
        .cluster(target.clone())
        .vault(vault)
        .build()
        .unwrap();
    let mut spec = RestoreSpec::new("http-r", "http-b");
    spec.image_registry_mapping.insert(
        "docker.io/library/".into(),
        "registry.cn-beijing.aliyuncs.com/my-registry/".into(),
    );
    let restore = engine.restore(spec).await;
    assert_eq!(
        restore.status.phase,
        JobPhase::Completed,
        "{:#?}",
        restore.status
    );

    // The same field-by-field checks as the in-memory test, read back over HTTP.
    let t: &dyn csdr::core::ports::cluster::Cluster = target.as_ref();
    let d = get(t, "apps", "v1", "deployments", Some("shop"), "web")
        .await
        .unwrap();
    assert_eq!(d.pointer("/spec/replicas"), Some(&json!(2)));
    assert_eq!(
        d.pointer("/spec/selector/matchLabels/app"),
        Some(&json!("web"))
    );
    assert_eq!(
        d.pointer("/spec/template/spec/containers/0/image"),
        Some(&json!(
            "registry.cn-beijing.aliyuncs.com/my-registry/nginx:1.17"
        ))
    );
    let ing = get(
        t,
        "networking.k8s.io",
        "v1",
        "ingresses",
        Some("shop"),
        "web",
    )
    .await
    .unwrap();
    assert_eq!(
        ing.pointer("/spec/rules/0/http/paths/0/backend/service"),
        Some(&json!({"name": "web", "port": {"number": 80}}))
    );
    let svc = get(t, "", "v1", "services", Some("shop"), "web")
        .await
        .unwrap();
    assert_eq!(svc.pointer("/spec/ports/0/nodePort"), Some(&json!(30080)));
    let pvc = get(t, "", "v1", "persistentvolumeclaims", Some("shop"), "data")
        .await
        .unwrap();
    assert_eq!(
        pvc.pointer("/spec/resources/requests/storage"),
        Some(&json!("20Gi"))
    );
    assert_eq!(
        pvc.pointer("/spec/accessModes"),
        Some(&json!(["ReadWriteOnce"]))
    );
    assert!(
        get(t, "", "v1", "secrets", Some("shop"), "web-secret")
            .await
            .is_some()
    );

    source_server.shutdown().await.unwrap();
    target_server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_api_group_is_skipped_with_a_warning() {
    let server = ApiServer::start(shop_cluster(KubeRelease::V1_16))
        .await
        .unwrap();
    server.set_aggregated_discovery(false);
    server.inject_failures(
        "/apis/batch/v1beta1",
        csdr::kube::testing::Failure::ServiceUnavailable,
        1000,
    );
    let cluster = Arc::new(KubeCluster::from_url(&server.url()).unwrap());
    let engine = Engine::builder()
        .cluster(cluster)
        .vault(memory_vault().await)
        .build()
        .unwrap();
    let mut spec = BackupSpec::new("partial-discovery");
    spec.scope.included_namespaces = vec!["shop".into()];
    let report = engine.backup(spec).await;
    assert_eq!(
        report.status.phase,
        JobPhase::Completed,
        "{:#?}",
        report.status
    );
    assert!(
        report.status.warnings.iter().any(|w| w
            .message
            .starts_with("API group batch/v1beta1 is unavailable and was skipped")),
        "{:#?}",
        report.status.warnings
    );
    assert_eq!(report.resource_counts["apps/v1/Deployment"], 1);
    server.shutdown().await.unwrap();
}

/// A create whose answer is lost (504 after the server stored it) is retried by the adapter,
/// meets `AlreadyExists` for the object it created itself, and counts as created: no warning,
/// no "already exists".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_retried_after_a_lost_answer_counts_as_created() {
    let source_server = ApiServer::start(shop_cluster(KubeRelease::V1_16))
        .await
        .unwrap();
    let target_server = ApiServer::start(target_cluster(KubeRelease::V1_28))
        .await
        .unwrap();
    let vault = memory_vault().await;
    let source = Arc::new(KubeCluster::from_url(&source_server.url()).unwrap());
    let engine = Engine::builder()
        .cluster(source)
        .vault(vault.clone())
        .build()
        .unwrap();
    let mut spec = BackupSpec::new("lost-b");
    spec.scope.included_namespaces = vec!["shop".into()];
    assert_eq!(engine.backup(spec).await.status.phase, JobPhase::Completed);

    let path = "/apis/apps/v1/namespaces/shop/deployments";
    target_server.inject_failures(path, csdr::kube::testing::Failure::LostAnswer, 1);
    let target = Arc::new(KubeCluster::from_url(&target_server.url()).unwrap());
    let engine = Engine::builder()
        .cluster(target.clone())
        .vault(vault)
        .build()
        .unwrap();
    let restore = engine.restore(RestoreSpec::new("lost-r", "lost-b")).await;
    assert_eq!(
        target_server.pending_failures(path),
        0,
        "the answer was lost"
    );
    assert_eq!(
        restore.status.phase,
        JobPhase::Completed,
        "{:#?}",
        restore.status
    );
    assert!(
        restore
            .created
            .iter()
            .any(|o| o.kind == "Deployment" && o.name == "web"),
        "{:#?}",
        restore.created
    );
    assert!(
        !restore
            .status
            .warnings
            .iter()
            .chain(&restore.status.errors)
            .any(|w| w.object.as_ref().is_some_and(|o| o.kind == "Deployment")),
        "{:#?}",
        restore.status
    );
    let t: &dyn csdr::core::ports::cluster::Cluster = target.as_ref();
    let web = get(t, "apps", "v1", "deployments", Some("shop"), "web")
        .await
        .unwrap();
    assert_eq!(web.label("velero.io/restore-name"), Some("lost-r"));
    source_server.shutdown().await.unwrap();
    target_server.shutdown().await.unwrap();
}
