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
        spec.scope.included_namespaces = vec!["shop".into()];
        let report = engine.backup(spec).await;
        assert_eq!(
            report.status.phase,
            JobPhase::Completed,
            "{:?}",
            report.status
        );
        // The names are in the stored resource list; the report counts them.
        let resources = vault
            .backup_companions("shop-1")
            .await
            .unwrap()
            .resource_list;
        let counted: std::collections::BTreeMap<String, u64> = resources
            .iter()
            .map(|(k, v)| (k.clone(), v.len() as u64))
            .collect();
        assert_eq!(report.resource_counts, counted);
        let deployments = &resources["apps/v1/Deployment"];
        assert_eq!(deployments, &vec!["shop/web".to_string()]);
        assert_eq!(
            resources["networking.k8s.io/v1beta1/Ingress"],
            vec!["shop/web".to_string()]
        );
        assert_eq!(resources["v1/Namespace"], vec!["shop".to_string()]);
        // Related cluster-scoped objects: the claim's volume and class.
        assert_eq!(resources["v1/PersistentVolume"].len(), 1);
        assert_eq!(
            resources["storage.k8s.io/v1/StorageClass"],
            vec!["alicloud-disk-ssd".to_string()]
        );
        assert!(!resources.keys().any(|k| k.contains("kube-proxy")));
        assert!(
            !resources
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
    spec.scope.included_namespaces = vec!["a".into(), "b".into()];
    let report = engine.backup(spec).await;
    assert_eq!(report.status.phase, JobPhase::Failed);
    assert_eq!(
        report.status.failure_reason.as_deref(),
        Some("get target namespace failed: none of [a, b] exists")
    );
}

#[tokio::test]
async fn gc_deletes_expired_backups_and_schedules_fire_named_runs() {
    use csdr::core::engine::ScheduleTick;
    use csdr::core::model::ScheduleSpec;
    use csdr::core::ports::clock::ManualClock;
    use std::time::Duration;

    // The schedule names no time zone: UTC, resolved here as a controller would.
    let utc = jiff::tz::TimeZone::UTC;

    let vault = memory_vault().await;
    let clock = Arc::new(ManualClock::new("2026-11-24T04:00:00Z".parse().unwrap()));
    let engine = Engine::builder()
        .cluster(Arc::new(shop_cluster(KubeRelease::V1_16)))
        .vault(vault.clone())
        .clock(clock.clone())
        .timer(clock.clone())
        .build()
        .unwrap();
    let mut template = BackupSpec::new("unused");
    template.scope.included_namespaces = vec!["shop".into()];
    template.ttl = Duration::from_secs(3600);
    let schedule = ScheduleSpec {
        name: "hourly-shop".into(),
        schedule: "0 * * * *".into(),
        paused: false,
        time_zone: None,
        template,
    };
    let created: jiff::Timestamp = "2026-11-24T03:30:00Z".parse().unwrap();
    // At 04:00 the 04:00 run is due: it is named after its scheduled time (S3).
    let tick = engine
        .run_schedule_tick(&schedule, &utc, created, None, false)
        .await
        .unwrap();
    let ScheduleTick::Ran {
        scheduled_for,
        report,
    } = tick
    else {
        panic!("{tick:?}")
    };
    assert_eq!(scheduled_for.to_string(), "2026-11-24T04:00:00Z");
    assert_eq!(report.name, "hourly-shop-20261124040000");
    assert_eq!(report.status.phase, JobPhase::Completed);
    // A run in progress is not overlapped; a paused schedule fires nothing.
    clock.set("2026-11-24T05:00:00Z".parse().unwrap());
    let busy = engine
        .run_schedule_tick(&schedule, &utc, created, Some(scheduled_for), true)
        .await
        .unwrap();
    assert!(matches!(busy, ScheduleTick::Skipped { .. }), "{busy:?}");
    let paused = ScheduleSpec {
        paused: true,
        ..schedule.clone()
    };
    let tick = engine
        .run_schedule_tick(&paused, &utc, created, Some(scheduled_for), false)
        .await
        .unwrap();
    assert!(matches!(tick, ScheduleTick::Skipped { .. }), "{tick:?}");
    // Nothing due yet between runs.
    clock.set("2026-11-24T04:30:00Z".parse().unwrap());
    let tick = engine
        .run_schedule_tick(&schedule, &utc, created, Some(scheduled_for), false)
        .await
        .unwrap();
    assert!(
        matches!(tick, ScheduleTick::Waiting { next: Some(_) }),
        "{tick:?}"
    );

    // The backup expires one hour after it was taken (B10): GC before keeps it, after deletes it.
    clock.set("2026-11-24T04:30:00Z".parse().unwrap());
    let kept = engine.gc().await.unwrap();
    assert!(kept.expired.is_empty());
    assert_eq!(vault.list_backups().await.unwrap().len(), 1);
    clock.set("2026-11-24T06:00:00Z".parse().unwrap());
    let collected = engine.gc().await.unwrap();
    assert_eq!(
        collected.expired,
        vec!["hourly-shop-20261124040000".to_string()]
    );
    assert!(vault.list_backups().await.unwrap().is_empty());
    // Deleting again is harmless (V6).
    engine
        .delete_backup("hourly-shop-20261124040000")
        .await
        .unwrap();
}
