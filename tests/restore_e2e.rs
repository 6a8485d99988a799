//! End-to-end restores: a simulated Kubernetes 1.16 cluster, backed up to a vault, restored
//! into a simulated Kubernetes 1.28 cluster, asserted field by field (DESIGN §3 and §5).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod support;

use std::sync::Arc;
use std::time::Duration;

use csdr::core::engine::{Engine, EngineOptions, RestoreReport};
use csdr::core::model::{BackupSpec, ExistingResourcePolicy, JobPhase, RestoreSpec};
use csdr::core::ports::cluster::Cluster;
use csdr::core::ports::vault::Vault;
use csdr::core::releases::KubeRelease;
use csdr::core::sim::{Rejection, SimCluster};
use csdr::storage::StorageOptions;
use serde_json::{Value, json};
use support::*;

async fn backed_up(vault: Arc<dyn Vault>) -> SimCluster {
    let source = shop_cluster(KubeRelease::V1_16);
    let engine = Engine::builder()
        .cluster(Arc::new(source.clone()))
        .vault(vault)
        .build()
        .unwrap();
    let mut spec = BackupSpec::new("shop-b");
    spec.scope.included_namespaces = vec!["shop".into()];
    let report = engine.backup(spec).await;
    assert_eq!(
        report.status.phase,
        JobPhase::Completed,
        "{:?}",
        report.status
    );
    source
}

async fn restore_into(
    target: &SimCluster,
    vault: Arc<dyn Vault>,
    edit: impl FnOnce(&mut RestoreSpec),
) -> RestoreReport {
    let options = EngineOptions {
        pvc_bind_wait: Duration::from_millis(50),
        ..EngineOptions::default()
    };
    let engine = Engine::builder()
        .cluster(Arc::new(target.clone()))
        .vault(vault)
        .options(options)
        .build()
        .unwrap();
    let mut spec = RestoreSpec::new("shop-r", "shop-b");
    edit(&mut spec);
    engine.restore(spec).await
}

fn field<'a>(obj: &'a csdr::core::object::KubeObject, pointer: &str) -> &'a Value {
    obj.pointer(pointer).unwrap_or(&Value::Null)
}

#[tokio::test]
async fn a_1_16_application_restores_into_1_28_field_by_field() {
    for (vault, _guard) in [(memory_vault().await, None), {
        let (v, g) = file_vault().await;
        (v, Some(g))
    }] {
        let source = backed_up(vault.clone()).await;
        let target = target_cluster(KubeRelease::V1_28);
        let report = restore_into(&target, vault.clone(), |spec| {
            spec.image_registry_mapping.insert(
                "docker.io/library/".into(),
                "registry.cn-beijing.aliyuncs.com/my-registry/".into(),
            );
        })
        .await;
        assert_eq!(
            report.status.phase,
            JobPhase::Completed,
            "{:#?}",
            report.status
        );
        let t: &dyn Cluster = &target;

        // R2: Deployment restored as apps/v1, selector derived, image mapped (R9), labelled (R4).
        let d = get(t, "apps", "v1", "deployments", Some("shop"), "web")
            .await
            .unwrap();
        assert_eq!(field(&d, "/spec/replicas"), &json!(2));
        assert_eq!(field(&d, "/spec/selector/matchLabels/app"), &json!("web"));
        assert_eq!(
            field(&d, "/spec/template/spec/containers/0/image"),
            &json!("registry.cn-beijing.aliyuncs.com/my-registry/nginx:1.17")
        );
        assert_eq!(d.label("velero.io/restore-name"), Some("shop-r"));
        assert_eq!(d.label("velero.io/backup-name"), Some("shop-b"));
        let choice = report
            .plan
            .creates()
            .find(|c| c.object.kind() == "Deployment")
            .and_then(|c| c.version.clone())
            .unwrap();
        assert_eq!(choice.target.api_version(), "apps/v1");

        // R2: the Ingress is migrated from extensions/v1beta1 to networking.k8s.io/v1.
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
        let path = field(&ing, "/spec/rules/0/http/paths/0");
        assert_eq!(
            path["backend"]["service"],
            json!({"name": "web", "port": {"number": 80}})
        );
        assert_eq!(path["pathType"], "ImplementationSpecific");
        let ing_step = report
            .plan
            .creates()
            .find(|c| c.object.kind() == "Ingress")
            .unwrap();
        assert!(!ing_step.version.as_ref().unwrap().migrations.is_empty());

        // R6: the NodePort is kept, the cluster IP is the target's own.
        let src_svc = get(&source, "", "v1", "services", Some("shop"), "web")
            .await
            .unwrap();
        let svc = get(t, "", "v1", "services", Some("shop"), "web")
            .await
            .unwrap();
        assert_eq!(field(&svc, "/spec/ports/0/nodePort"), &json!(30080));
        assert_ne!(field(&svc, "/spec/clusterIP"), &Value::Null);
        let _ = src_svc;
        // R6: healthCheckNodePort dropped (the target assigns its own).
        let lb_src = get(&source, "", "v1", "services", Some("shop"), "web-public")
            .await
            .unwrap();
        let lb = get(t, "", "v1", "services", Some("shop"), "web-public")
            .await
            .unwrap();
        assert_eq!(
            field(&lb, "/spec/ports/0/nodePort"),
            field(&lb_src, "/spec/ports/0/nodePort")
        );
        let lb_step = report
            .plan
            .creates()
            .find(|c| c.object.name() == "web-public")
            .unwrap();
        assert_eq!(lb_step.object.pointer("/spec/healthCheckNodePort"), None);

        // R5, R7, R10: the 10Gi RWX disk claim comes back as 20Gi RWO, its Delete volume is
        // provisioned anew.
        let pvc = get(t, "", "v1", "persistentvolumeclaims", Some("shop"), "data")
            .await
            .unwrap();
        assert_eq!(
            field(&pvc, "/spec/resources/requests/storage"),
            &json!("20Gi")
        );
        assert_eq!(field(&pvc, "/spec/accessModes"), &json!(["ReadWriteOnce"]));
        let src_pvc = get(
            &source,
            "",
            "v1",
            "persistentvolumeclaims",
            Some("shop"),
            "data",
        )
        .await
        .unwrap();
        assert_ne!(
            field(&pvc, "/spec/volumeName"),
            field(&src_pvc, "/spec/volumeName")
        );
        assert!(
            report
                .status
                .warnings
                .iter()
                .any(|w| w.message.contains("20Gi")),
            "{:?}",
            report.status.warnings
        );

        // Config and secrets, and nothing from kube-system.
        assert!(
            get(t, "", "v1", "configmaps", Some("shop"), "web-config")
                .await
                .is_some()
        );
        assert!(
            get(t, "", "v1", "secrets", Some("shop"), "web-secret")
                .await
                .is_some()
        );
        assert!(
            get(t, "", "v1", "configmaps", Some("kube-system"), "kube-proxy")
                .await
                .is_none()
        );

        // The restore is recorded in the vault.
        let record = vault.restore("shop-r").await.unwrap().unwrap();
        assert_eq!(record.status.phase, JobPhase::Completed);
    }
}

#[tokio::test]
async fn preserve_node_ports_and_namespace_mapping() {
    let vault = memory_vault().await;
    let source = backed_up(vault.clone()).await;
    let target = target_cluster(KubeRelease::V1_28);
    let report = restore_into(&target, vault, |spec| {
        spec.preserve_node_ports = true;
        spec.namespace_mapping
            .insert("shop".into(), "shop-copy".into());
    })
    .await;
    assert_eq!(
        report.status.phase,
        JobPhase::Completed,
        "{:#?}",
        report.status
    );
    let lb_src = get(&source, "", "v1", "services", Some("shop"), "web-public")
        .await
        .unwrap();
    let lb = get(
        &target,
        "",
        "v1",
        "services",
        Some("shop-copy"),
        "web-public",
    )
    .await
    .unwrap();
    assert_eq!(
        field(&lb, "/spec/healthCheckNodePort"),
        field(&lb_src, "/spec/healthCheckNodePort")
    );
    assert!(
        get(&target, "", "v1", "namespaces", None, "shop-copy")
            .await
            .is_some()
    );
    assert!(
        get(&target, "", "v1", "namespaces", None, "shop")
            .await
            .is_none()
    );
}

#[tokio::test]
async fn dry_run_writes_nothing_and_returns_the_final_objects() {
    let vault = memory_vault().await;
    backed_up(vault.clone()).await;
    let target = target_cluster(KubeRelease::V1_28);
    let before = target.object_count();
    let report = restore_into(&target, vault.clone(), |spec| spec.dry_run = true).await;
    assert_eq!(
        report.status.phase,
        JobPhase::Completed,
        "{:#?}",
        report.status
    );
    assert_eq!(target.object_count(), before);
    assert!(
        report
            .objects()
            .any(|o| o.kind() == "Deployment" && o.api_version() == "apps/v1")
    );
    assert!(vault.restore("shop-r").await.unwrap().is_none());
}

#[tokio::test]
async fn rejected_objects_make_the_restore_partially_failed() {
    let vault = memory_vault().await;
    backed_up(vault.clone()).await;
    let target = target_cluster(KubeRelease::V1_28);
    target.reject(Rejection {
        kind: "ConfigMap".into(),
        name: Some("web-config".into()),
        message: "data.greeting: Forbidden: not in this cluster".into(),
    });
    let report = restore_into(&target, vault, |_| {}).await;
    assert_eq!(report.status.phase, JobPhase::PartiallyFailed);
    let err = &report.status.errors[0];
    assert_eq!(err.object.as_ref().unwrap().name, "web-config");
    assert!(err.message.contains("data.greeting: Forbidden"), "{err}");
    // Everything else was restored.
    assert!(
        get(&target, "apps", "v1", "deployments", Some("shop"), "web")
            .await
            .is_some()
    );
}

#[tokio::test]
async fn a_claim_that_never_binds_times_out_naming_it() {
    let vault = memory_vault().await;
    backed_up(vault.clone()).await;
    // No StorageClass in the target, and the backed-up one is left out of the restore.
    let target = SimCluster::new(KubeRelease::V1_28);
    let report = restore_into(&target, vault, |spec| {
        spec.scope.excluded_resources = vec!["storageclasses".into()];
    })
    .await;
    assert_eq!(report.status.phase, JobPhase::PartiallyFailed);
    assert!(
        report
            .status
            .errors
            .iter()
            .any(|e| e.message == "create cluster resources timeout: pvc shop/data not bound"),
        "{:#?}",
        report.status.errors
    );
}

#[tokio::test]
async fn existing_objects_follow_the_policy() {
    let vault = memory_vault().await;
    backed_up(vault.clone()).await;
    let target = target_cluster(KubeRelease::V1_28);
    assert_eq!(
        restore_into(&target, vault.clone(), |_| {})
            .await
            .status
            .phase,
        JobPhase::Completed
    );
    // Someone changes a ConfigMap; a second restore leaves it and warns.
    let cms = csdr::core::object::GroupVersionResource::new("", "v1", "configmaps");
    target
        .patch_merge(
            &cms,
            Some("shop"),
            "web-config",
            &json!({"data": {"greeting": "changed"}}),
        )
        .await
        .unwrap();
    let again = restore_into(&target, vault.clone(), |s| s.name = "shop-r2".into()).await;
    assert!(
        again.status.warnings.iter().any(|w| w
            .message
            .contains("ConfigMap shop/web-config already exists and differs from the backup")),
        "{:#?}",
        again.status.warnings
    );
    let cm = get(&target, "", "v1", "configmaps", Some("shop"), "web-config")
        .await
        .unwrap();
    assert_eq!(field(&cm, "/data/greeting"), &json!("changed"));
    // With policy update it is patched back.
    let updated = restore_into(&target, vault, |s| {
        s.name = "shop-r3".into();
        s.existing_resource_policy = ExistingResourcePolicy::Update;
    })
    .await;
    assert!(
        updated.patched.iter().any(|o| o.name == "web-config"),
        "{:?}",
        updated.patched
    );
    let cm = get(&target, "", "v1", "configmaps", Some("shop"), "web-config")
        .await
        .unwrap();
    assert_eq!(field(&cm, "/data/greeting"), &json!("hello"));
}

#[tokio::test]
async fn an_unavailable_vault_fails_the_jobs_with_vault_error() {
    let options = StorageOptions {
        max_retries: Some(0),
        connect_timeout: Some(Duration::from_millis(200)),
        request_timeout: Some(Duration::from_millis(500)),
        retry_timeout: Some(Duration::from_millis(500)),
        // Explicit, so that the client never looks for credentials elsewhere (the instance
        // metadata service) before it reaches the closed endpoint.
        credentials: Some(csdr::storage::S3Credentials {
            access_key_id: "testing".into(),
            secret_access_key: "testing".into(),
            session_token: None,
        }),
        ..StorageOptions::default()
    };
    let spec = csdr::core::model::VaultSpec {
        name: "down".into(),
        url: "s3://nowhere/prefix?endpoint=http://127.0.0.1:9&region=us-east-1&path_style=true"
            .into(),
        region: None,
        network: None,
    };
    let vault: Arc<dyn Vault> = Arc::new(csdr::storage::connect(&spec, &options).unwrap());
    let engine = Engine::builder()
        .cluster(Arc::new(shop_cluster(KubeRelease::V1_16)))
        .vault(vault)
        .build()
        .unwrap();
    let report = engine.backup(BackupSpec::new("b")).await;
    assert_eq!(report.status.phase, JobPhase::Failed);
    assert!(
        report
            .status
            .failure_reason
            .as_deref()
            .unwrap()
            .starts_with("VaultError: "),
        "{:?}",
        report.status
    );
    let restore = engine.restore(RestoreSpec::new("r", "b")).await;
    assert_eq!(restore.status.phase, JobPhase::Failed);
    assert!(
        restore
            .status
            .failure_reason
            .as_deref()
            .unwrap()
            .starts_with("VaultError: ")
    );
}

#[tokio::test]
async fn every_entry_is_checked_against_the_entry_digests_file() {
    let (vault, dir) = file_vault().await;
    backed_up(vault.clone()).await;
    let folder = dir.path().join("backups/shop-b");
    let gz = std::fs::read(folder.join("shop-b-entry-digests.jsonl.gz")).unwrap();
    let mut digests = csdr::core::vault_record::decode_entry_digests("shop-b", &gz).unwrap();

    // The file lists every entry of the tarball, in order, with its SHA-256 and size.
    let archive = vault.download_archive("shop-b").await.unwrap();
    assert_eq!(
        archive.entry_digests.map(|d| d.to_vec().unwrap()).as_ref(),
        Some(&digests)
    );
    let read: Vec<_> = csdr::core::archive::ArchiveReader::new(&archive.bytes[..])
        .map(|e| e.unwrap().digest)
        .collect();
    assert_eq!(digests[0].path, "metadata/version");
    assert_eq!(read, digests[1..]);

    // A digest that disagrees with the tarball (the file re-anchored in the metadata, as an
    // attacker or a bug would have to): the restore fails before it creates anything.
    let victim = digests
        .iter_mut()
        .find(|d| d.path == "resources/deployments.apps/namespaces/shop/web.json")
        .unwrap();
    victim.sha256 = "0".repeat(64);
    let mut w = csdr::core::vault_record::EntryDigestsWriter::new(Vec::new());
    for d in &digests {
        csdr::core::archive::EntryDigestSink::entry(&mut w, &d.path, &d.sha256, d.size).unwrap();
    }
    reanchor_entry_digests(&folder, &w.finish().unwrap());

    let target = target_cluster(KubeRelease::V1_28);
    let report = restore_into(&target, vault, |_| {}).await;
    assert_eq!(report.status.phase, JobPhase::Failed);
    let reason = report.status.failure_reason.unwrap();
    assert!(
        reason
            .contains("integrity error: entry resources/deployments.apps/namespaces/shop/web.json"),
        "{reason}"
    );
    assert!(
        get(&target, "", "v1", "namespaces", None, "shop")
            .await
            .is_none()
    );
}

/// Writes `gz` as backup shop-b's entry-digests file and records its digest in the metadata,
/// as an attacker or a bug would have to for the restore to read it.
fn reanchor_entry_digests(folder: &std::path::Path, gz: &[u8]) {
    std::fs::write(folder.join("shop-b-entry-digests.jsonl.gz"), gz).unwrap();
    let meta_path = folder.join("velero-backup.json");
    let mut meta: Value = serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
    for f in meta["csdr"]["files"].as_array_mut().unwrap() {
        if f["path"] == "shop-b-entry-digests.jsonl.gz" {
            f["sha256"] = json!(csdr::core::digest::sha256_hex(gz));
            f["size"] = json!(gz.len());
        }
    }
    std::fs::write(&meta_path, serde_json::to_vec(&meta).unwrap()).unwrap();
}

#[tokio::test]
async fn entry_digests_listed_in_another_order_still_verify_every_entry() {
    // The digests are read as the archive is (R13); a list in another order than the
    // archive's (another writer's) verifies the same entries.
    let (vault, dir) = file_vault().await;
    backed_up(vault.clone()).await;
    let folder = dir.path().join("backups/shop-b");
    let gz = std::fs::read(folder.join("shop-b-entry-digests.jsonl.gz")).unwrap();
    let mut digests = csdr::core::vault_record::decode_entry_digests("shop-b", &gz).unwrap();
    digests.reverse();
    let mut w = csdr::core::vault_record::EntryDigestsWriter::new(Vec::new());
    for d in &digests {
        csdr::core::archive::EntryDigestSink::entry(&mut w, &d.path, &d.sha256, d.size).unwrap();
    }
    reanchor_entry_digests(&folder, &w.finish().unwrap());
    let target = target_cluster(KubeRelease::V1_28);
    let report = restore_into(&target, vault, |_| {}).await;
    assert_eq!(
        report.status.phase,
        JobPhase::Completed,
        "{:?}",
        report.status
    );
    assert!(
        get(&target, "apps", "v1", "deployments", Some("shop"), "web")
            .await
            .is_some()
    );
}

#[tokio::test]
async fn an_unreadable_entry_digests_line_fails_the_restore_before_any_write() {
    let (vault, dir) = file_vault().await;
    backed_up(vault.clone()).await;
    let folder = dir.path().join("backups/shop-b");
    let gz = std::fs::read(folder.join("shop-b-entry-digests.jsonl.gz")).unwrap();
    let text = String::from_utf8(csdr::core::gzip::gunzip(&gz).unwrap()).unwrap();
    // The last line (the last entry's digest) damaged.
    let mut lines: Vec<&str> = text.lines().collect();
    let last = lines.len() - 1;
    lines[last] = "{\"path\": 3}";
    let damaged = csdr::core::gzip::gzip(format!("{}\n", lines.join("\n")).as_bytes());
    reanchor_entry_digests(&folder, &damaged);

    let target = target_cluster(KubeRelease::V1_28);
    let report = restore_into(&target, vault, |_| {}).await;
    assert_eq!(report.status.phase, JobPhase::Failed);
    let reason = report.status.failure_reason.unwrap();
    assert!(
        reason.contains("entry digests cannot be read")
            && reason.contains(&format!("shop-b-entry-digests.jsonl.gz: line {}", last + 1)),
        "{reason}"
    );
    assert!(
        get(&target, "", "v1", "namespaces", None, "shop")
            .await
            .is_none()
    );
}
