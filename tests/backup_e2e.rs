//! End-to-end backups: a simulated Kubernetes 1.16 cluster into memory and file vaults.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod support;

use std::sync::Arc;

use csdr::core::engine::Engine;
use csdr::core::model::{BackupSpec, JobPhase};
use csdr::core::releases::KubeRelease;
use support::*;

#[tokio::test]
async fn backs_up_every_served_version_of_the_selected_namespace() {
    for (vault, _guard) in [(memory_vault().await, None), {
        let (v, g) = file_vault().await;
        (v, Some(g))
    }] {
        let cluster = Arc::new(shop_cluster(KubeRelease::V1_16));
        let engine = Engine::builder()
            .cluster(cluster.clone())
            .vault(vault.clone())
            .build()
            .unwrap();
        let mut spec = BackupSpec::new("shop-1");
        spec.included_namespaces = vec!["shop".into()];
        let report = engine.backup(spec).await;
        assert_eq!(
            report.status.phase,
            JobPhase::Completed,
            "{:?}",
            report.status
        );
        let deployments = &report.resources["apps/v1/Deployment"];
        assert_eq!(deployments, &vec!["shop/web".to_string()]);
        assert_eq!(
            report.resources["networking.k8s.io/v1beta1/Ingress"],
            vec!["shop/web".to_string()]
        );
        assert_eq!(report.resources["v1/Namespace"], vec!["shop".to_string()]);
        // Related cluster-scoped objects: the claim's volume and class.
        assert_eq!(report.resources["v1/PersistentVolume"].len(), 1);
        assert_eq!(
            report.resources["storage.k8s.io/v1/StorageClass"],
            vec!["alicloud-disk-ssd".to_string()]
        );
        assert!(!report.resources.keys().any(|k| k.contains("kube-proxy")));
        assert!(
            !report
                .resources
                .values()
                .flatten()
                .any(|o| o.starts_with("kube-system/"))
        );
        let listed = vault.list_backups().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].name(), "shop-1");
        // Every served version of the Deployment is in the archive (B5).
        let archive = vault.download_archive("shop-1").await.unwrap();
        let entries: Vec<String> = csdr::core::archive::ArchiveReader::new(&archive.bytes[..])
            .map(|e| e.unwrap().path.to_string())
            .filter(|p| p.contains("deployments"))
            .collect();
        for dir in [
            "resources/deployments.apps/namespaces/shop/web.json",
            "resources/deployments.apps/v1-preferredversion/namespaces/shop/web.json",
            "resources/deployments.apps/v1beta2/namespaces/shop/web.json",
            "resources/deployments.apps/v1beta1/namespaces/shop/web.json",
            "resources/deployments.extensions/v1beta1/namespaces/shop/web.json",
        ] {
            assert!(
                entries.iter().any(|e| e == dir),
                "{dir} missing from {entries:?}"
            );
        }
        // A second backup with the same name fails and leaves the first intact (B7).
        let again = engine.backup(BackupSpec::new("shop-1")).await;
        assert_eq!(again.status.phase, JobPhase::Failed);
        assert!(
            again
                .status
                .failure_reason
                .as_deref()
                .unwrap()
                .contains("backup already exists in vault")
        );
        assert_eq!(vault.list_backups().await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn absent_namespaces_fail_the_backup() {
    let engine = Engine::builder()
        .cluster(Arc::new(shop_cluster(KubeRelease::V1_16)))
        .vault(memory_vault().await)
        .build()
        .unwrap();
    let mut spec = BackupSpec::new("none");
    spec.included_namespaces = vec!["a".into(), "b".into()];
    let report = engine.backup(spec).await;
    assert_eq!(report.status.phase, JobPhase::Failed);
    assert_eq!(
        report.status.failure_reason.as_deref(),
        Some("get target namespace failed: none of [a, b] exists")
    );
}
