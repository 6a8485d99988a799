//! What each command does.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use csdr::core::engine::{Engine, EngineBuilder, RestoreReport, describe_snapshot};
use csdr::core::model::{BackupSpec, JobPhase, RestoreSpec, VolumeRestore};
use csdr::core::ports::clock::ManualClock;
use csdr::core::ports::vault::{Vault, VaultError, VaultPhase};
use csdr::core::releases::KubeRelease;
use csdr::core::schedule::Schedule;
use csdr::core::sim::SimCluster;
use csdr::kube::KubeCluster;
use csdr::kube::testing::ApiServer;
use csdr::sim_folder;
use csdr::sim_workloads::SimWorkloads;
use csdr::storage::TokioTimer;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::json;

use crate::progress::Progress;
use crate::render::{self, print};
use crate::targets::{
    ClusterArg, OpenCluster, connect_vault, decryption_key, encryption_key, open_vault,
    open_vault_with_key,
};
use crate::{
    BackupCommand, BackupCreateArgs, CheckArgs, Cli, CliError, ClusterCommand, Command,
    ConvertCommand, ConvertCreateArgs, GcArgs, RestoreCommand, RestoreCreateArgs, ScheduleCommand,
    VaultCommand, phase_exit,
};

/// Runs a parsed command line; the exit code on success.
pub async fn run(cli: Cli) -> Result<u8, CliError> {
    let ctx = Context {
        vault_name: cli.vault_name.clone(),
        vault_timeout: cli.vault_timeout,
        progress: cli.verbose == 0,
    };
    match cli.command {
        Command::Schedule(ScheduleCommand::Next {
            expression,
            after,
            count,
            time_zone,
        }) => schedule_next(&expression, after.as_deref(), count, time_zone.as_deref()),
        Command::Backup(BackupCommand::Create(args)) => ctx.backup_create(*args).await,
        Command::Volume(command) => {
            crate::volume::run(command, &ctx.vault_name, ctx.vault_timeout, ctx.progress).await
        }
        Command::Backup(BackupCommand::List { vault, output }) => {
            let vault = ctx.vault(&vault.vault).await?;
            let records = vault
                .list_backups()
                .await
                .map_err(|e| CliError::failed(e.to_string()))?;
            let location = vault.location();
            print(output.output, &render::backup_list_value(&records), || {
                render::backup_list_table(&records, &location)
            })?;
            Ok(0)
        }
        Command::Backup(BackupCommand::Describe {
            name,
            vault,
            details,
            key,
            output,
        }) => {
            let url = vault.vault;
            let kek = decryption_key(&key)?;
            let vault = ctx.keyed_vault(&url, kek).await?;
            let record = find_backup(vault.as_ref(), &name, &url).await?;
            // A Failed backup has no data and its companions are not offered (V5): its record
            // holds its failure, errors and warnings, and `backup logs` its log.
            let companions = if details && record.is_restorable() {
                Some(
                    vault
                        .backup_companions(&name)
                        .await
                        .map_err(|e| CliError::failed(format!("backup {name}: {e}")))?,
                )
            } else {
                None
            };
            let location = vault.location();
            print(
                output.output,
                &render::backup_describe_value(&record, companions.as_ref()),
                || render::backup_describe_table(&record, companions.as_ref(), &location, &url),
            )?;
            Ok(0)
        }
        Command::Backup(BackupCommand::Logs { name, vault, key }) => {
            let url = vault.vault;
            let kek = decryption_key(&key)?;
            let vault = ctx.keyed_vault(&url, kek).await?;
            let log = vault.backup_logs(&name).await.map_err(|e| match e {
                VaultError::NotFound { .. } => CliError::failed(format!(
                    "backup {name} not found in vault {url}; `csdr backup list --vault {url}` shows the backups there"
                )),
                e => CliError::failed(format!("backup {name}: {e}")),
            })?;
            print_log(&log)
        }
        Command::Restore(RestoreCommand::Logs { name, vault, key }) => {
            let url = vault.vault;
            let kek = decryption_key(&key)?;
            let vault = ctx.keyed_vault(&url, kek).await?;
            let log = vault.restore_logs(&name).await.map_err(|e| match e {
                VaultError::NotFound { .. } => CliError::failed(format!(
                    "restore {name} not found in vault {url}; `csdr restore create` records restores there"
                )),
                e => CliError::failed(format!("restore {name}: {e}")),
            })?;
            print_log(&log)
        }
        Command::Backup(BackupCommand::Delete {
            name,
            vault,
            cluster,
        }) => {
            ctx.backup_delete(&name, &vault.vault, cluster.as_ref())
                .await
        }
        Command::Restore(RestoreCommand::Create(args)) => ctx.restore_create(*args).await,
        Command::Convert(ConvertCommand::Create(args)) => ctx.convert_create(*args).await,
        Command::Restore(RestoreCommand::Describe {
            name,
            vault,
            output,
            key,
        }) => {
            let url = vault.vault;
            let kek = decryption_key(&key)?;
            let vault = ctx.keyed_vault(&url, kek).await?;
            let record = vault
                .restore(&name)
                .await
                .map_err(|e| CliError::failed(format!("restore {name}: {e}")))?
                .ok_or_else(|| {
                    CliError::failed(format!(
                        "restore {name} not found in vault {url}; `csdr restore create` records restores there"
                    ))
                })?;
            print(
                output.output,
                &render::restore_describe_value(&record),
                || render::restore_describe_table(&record),
            )?;
            Ok(phase_exit(record.status.phase))
        }
        Command::Vault(VaultCommand::Validate { vault }) => {
            let line = match connect_vault(&vault, &ctx.vault_name, ctx.vault_timeout) {
                Err(reason) => format!("Unavailable: {reason}"),
                Ok(v) => {
                    let validation = v.validate(Timestamp::now()).await;
                    match validation.phase {
                        VaultPhase::Available => "Available".to_string(),
                        VaultPhase::Unavailable => format!("Unavailable: {}", validation.message),
                    }
                }
            };
            println!("{line}");
            Ok(if line == "Available" { 0 } else { 1 })
        }
        Command::Check(args) => ctx.check(args).await,
        Command::Cluster(ClusterCommand::Serve {
            release,
            state,
            port,
            kubelet_dir,
        }) => serve(release, state, port, kubelet_dir).await,
        Command::Gc(args) => ctx.gc(args).await,
    }
}

struct Context {
    vault_name: String,
    vault_timeout: std::time::Duration,
    progress: bool,
}

fn parse_instant(option: &str, text: &str) -> Result<Timestamp, CliError> {
    text.parse().map_err(|e| {
        CliError::failed(format!(
            "{option}: `{text}` is not an RFC 3339 instant such as 2026-11-23T22:51:00Z: {e}"
        ))
    })
}

/// Resolves an IANA time zone name for the core, which takes only resolved zones.
fn time_zone(option: &str, name: Option<&str>) -> Result<TimeZone, CliError> {
    match name {
        None => Ok(TimeZone::UTC),
        Some(name) => TimeZone::get(name).map_err(|e| {
            CliError::failed(format!(
                "{option}: unknown time zone `{name}`; use an IANA name such as Europe/Berlin or Asia/Shanghai ({e})"
            ))
        }),
    }
}

fn schedule_next(
    expression: &str,
    after: Option<&str>,
    count: usize,
    zone: Option<&str>,
) -> Result<u8, CliError> {
    let tz = time_zone("--time-zone", zone)?;
    let schedule = Schedule::parse(expression).map_err(|e| CliError::failed(e.to_string()))?;
    let after = match after {
        Some(text) => parse_instant("--after", text)?,
        None => Timestamp::now(),
    };
    for t in schedule.iter_after(after, &tz).take(count) {
        println!("{t}");
    }
    Ok(0)
}

async fn find_backup(
    vault: &dyn Vault,
    name: &str,
    url: &str,
) -> Result<csdr::core::vault_record::BackupRecord, CliError> {
    vault
        .backup_record(name)
        .await
        .map_err(|e| CliError::failed(format!("backup {name}: {e}")))?
        .ok_or_else(|| {
            CliError::failed(format!(
                "backup {name} not found in vault {url}; `csdr backup list --vault {url}` shows the backups there"
            ))
        })
}

/// `old<sep>new,…` pairs of a mapping option.
fn mapping(
    option: &str,
    sep: char,
    entries: &[String],
) -> Result<BTreeMap<String, String>, CliError> {
    let mut out = BTreeMap::new();
    for entry in entries {
        match entry.split_once(sep) {
            Some((from, to)) if !from.is_empty() && !to.is_empty() => {
                out.insert(from.to_string(), to.to_string());
            }
            _ => {
                return Err(CliError::failed(format!(
                    "{option}: `{entry}` is not old{sep}new"
                )));
            }
        }
    }
    Ok(out)
}

/// Prints a job's log as it is.
fn print_log(log: &[u8]) -> Result<u8, CliError> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    out.write_all(log)
        .and_then(|()| out.flush())
        .map_err(|e| CliError::failed(format!("cannot write the log: {e}")))?;
    Ok(0)
}

/// The engine builder every command starts from: jobs wait on tokio's timer.
fn engine_builder() -> EngineBuilder {
    Engine::builder()
        .timer(Arc::new(TokioTimer))
        .spool(Arc::new(csdr::storage::TempFileSpool::default()))
}

/// The converted volumes in a file `csdr convert create -o json` wrote (its
/// `convertedVolumes`), or a bare JSON array of them.
fn converted_volumes(
    path: &std::path::Path,
) -> Result<Vec<csdr::core::engine::ConvertedVolume>, CliError> {
    let what = format!("--converted-volumes {}", path.display());
    let text =
        std::fs::read_to_string(path).map_err(|e| CliError::failed(format!("{what}: {e}")))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| CliError::failed(format!("{what}: not JSON: {e}")))?;
    let list = match value {
        serde_json::Value::Object(mut report) => report
            .remove("convertedVolumes")
            .ok_or_else(|| CliError::failed(format!("{what}: no convertedVolumes field")))?,
        other => other,
    };
    serde_json::from_value(list)
        .map_err(|e| CliError::failed(format!("{what}: convertedVolumes: {e}")))
}

fn report_issues(status: &csdr::core::model::JobStatus, job: &str, name: &str) {
    if let Some(reason) = &status.failure_reason {
        eprintln!("error: {job} {name} failed: {reason}");
    }
    if let Some(failure) = &status.failure {
        for cause in &failure.causes {
            eprintln!("  caused by: {cause}");
        }
    }
    for issue in &status.errors {
        eprintln!("error: {issue}");
    }
}

impl Context {
    /// The vault's spec for `url` (what the volume repositories open).
    fn vault_spec(&self, url: &str) -> csdr::core::model::VaultSpec {
        csdr::core::model::VaultSpec {
            name: self.vault_name.clone(),
            url: url.to_string(),
            region: None,
            network: None,
        }
    }

    async fn vault(&self, url: &str) -> Result<Arc<dyn Vault>, CliError> {
        open_vault(url, &self.vault_name, self.vault_timeout).await
    }

    /// The vault with a key-encryption key (E2), when one is given.
    async fn keyed_vault(
        &self,
        url: &str,
        kek: Option<Arc<dyn csdr::core::crypto::KeyEncryptionKey>>,
    ) -> Result<Arc<dyn Vault>, CliError> {
        open_vault_with_key(url, &self.vault_name, self.vault_timeout, kek).await
    }

    async fn backup_create(&self, args: BackupCreateArgs) -> Result<u8, CliError> {
        let mut spec = BackupSpec::new(&args.name);
        spec.scope = args.scope.into();
        spec.ttl = args.ttl;
        spec.backup_volumes = args.backup_volumes;
        spec.volume_snapshot_class =
            mapping("--volume-snapshot-class", '=', &args.volume_snapshot_class)?;
        spec.included_volumes = args.include_volumes.clone();
        spec.storage_location = Some(self.vault_name.clone());
        if let Some(file) = &args.volume_policy {
            spec.volume_policy = Some(std::fs::read_to_string(file).map_err(|e| {
                CliError::failed(format!("--volume-policy {}: {e}", file.display()))
            })?);
        }
        let snapshots = spec.backup_volumes || !spec.included_volumes.is_empty();
        let _ = args.wait; // backups always run to the end in the foreground

        let kek = encryption_key(args.encryption_key.as_deref())?;
        let cluster = OpenCluster::open(&args.cluster).await?;
        let vault = self.keyed_vault(&args.vault.vault, kek.clone()).await?;
        let progress = Progress::new(self.progress);
        let mut builder = engine_builder()
            .cluster(cluster.cluster())
            .vault(vault)
            .progress(progress.sink());
        if snapshots {
            builder = builder.snapshotter(cluster.snapshotter()?);
        }
        if let Some(mover) = cluster
            .pod_volume_mover(
                &args.volume_data,
                &self.vault_spec(&args.vault.vault),
                self.vault_timeout,
                kek,
            )
            .await?
        {
            builder = builder.pod_volume_mover(mover);
        }
        let engine = builder
            .build()
            .map_err(|e| CliError::failed(e.to_string()))?;
        let report = engine.backup(spec).await;
        progress.finish();
        if snapshots {
            // Volume snapshots are objects in the cluster: keep them.
            cluster.save()?;
        }
        report_issues(&report.status, "backup", &report.name);
        print(
            args.output.output,
            &render::backup_report_value(&report),
            || render::backup_report_table(&report),
        )?;
        Ok(phase_exit(report.status.phase))
    }

    fn restore_spec(args: &RestoreCreateArgs) -> Result<RestoreSpec, CliError> {
        let mut spec = RestoreSpec::new(&args.name, &args.from_backup);
        spec.namespace_mapping = mapping("--namespace-mapping", ':', &args.namespace_mapping)?;
        spec.image_registry_mapping = mapping(
            "--image-registry-mapping",
            '=',
            &args.image_registry_mapping,
        )?;
        spec.change_image_cases = args.change_image.clone();
        spec.storage_class_mapping =
            mapping("--storage-class-mapping", '=', &args.storage_class_mapping)?;
        spec.convert_to_access_modes = args.convert_to_access_modes.clone();
        spec.preserve_node_ports = args.preserve_node_ports;
        spec.existing_resource_policy = args.existing_resource_policy.into();
        spec.scope = args.scope.clone().into();
        spec.dry_run = args.dry_run;
        spec.included_volumes = args
            .include_volumes
            .iter()
            .map(|v| {
                v.parse::<VolumeRestore>()
                    .map_err(|e| CliError::failed(format!("--include-volumes: {e}")))
            })
            .collect::<Result<_, _>>()?;
        spec.preflight = args.preflight;
        if let Some(path) = &args.converted_volumes {
            spec.converted_volumes = converted_volumes(path)?;
        }
        Ok(spec)
    }

    async fn convert_create(&self, args: ConvertCreateArgs) -> Result<u8, CliError> {
        let mut spec = csdr::core::engine::ConvertSpec::new(&args.backup, &args.backup);
        spec.storage_class_mapping =
            mapping("--storage-class-mapping", '=', &args.storage_class_mapping)?;
        spec.convert_to_access_modes = args.convert_to_access_modes.clone();
        spec.attempt = format!("cli-{}", Timestamp::now().as_second());
        let kek = decryption_key(&args.key)?;
        let vault = self.keyed_vault(&args.vault.vault, kek.clone()).await?;
        let cluster = OpenCluster::open(&args.cluster).await?;
        let progress = Progress::new(self.progress);
        let mut builder = engine_builder()
            .cluster(cluster.cluster())
            .vault(vault)
            .snapshotter(cluster.snapshotter()?)
            .progress(progress.sink());
        if let Some(mover) = cluster
            .pod_volume_mover(
                &args.volume_data,
                &self.vault_spec(&args.vault.vault),
                self.vault_timeout,
                kek,
            )
            .await?
        {
            builder = builder.pod_volume_mover(mover);
        }
        let engine = builder
            .build()
            .map_err(|e| CliError::failed(e.to_string()))?;
        let report = engine.convert_to_snapshots(&spec).await;
        progress.finish();
        if report.status.phase != JobPhase::Failed {
            cluster.save()?;
        }
        report_issues(&report.status, "StorageClass conversion", &report.name);
        print(args.output.output, &render::to_value(&report), || {
            let mut table = vec![[
                "CLAIM".to_string(),
                "FROM".into(),
                "TO".into(),
                "SIZE".into(),
                "SNAPSHOT".into(),
            ]];
            for c in &report.converted {
                table.push([
                    format!("{}/{}", c.pvc_namespace, c.pvc_name),
                    c.source_storage_class.clone(),
                    c.storage_class.clone(),
                    c.size.clone().unwrap_or_default(),
                    format!(
                        "{}/{} ({})",
                        c.snapshot.pvc_namespace,
                        c.snapshot.snapshot_name,
                        c.snapshot.snapshot_handle
                    ),
                ]);
            }
            format!(
                "StorageClass conversion {} of backup {}: {}\n\n{}",
                report.name,
                report.backup_name,
                report.status.phase,
                render::table(&table)
            )
        })?;
        Ok(phase_exit(report.status.phase))
    }

    async fn restore_create(&self, args: RestoreCreateArgs) -> Result<u8, CliError> {
        let spec = Self::restore_spec(&args)?;
        let kek = decryption_key(&args.key)?;
        let vault = self.keyed_vault(&args.vault.vault, kek.clone()).await?;
        if !spec.dry_run {
            // Restore names are unique in a vault: refuse before writing anything.
            let existing = vault
                .restore(&spec.name)
                .await
                .map_err(|e| CliError::failed(format!("restore {}: {e}", spec.name)))?;
            if existing.is_some() {
                return Err(CliError::failed(format!(
                    "restore {} already exists in vault {}; choose another name",
                    spec.name, args.vault.vault
                )));
            }
        }
        let cluster = OpenCluster::open(&args.cluster).await?;
        let progress = Progress::new(self.progress);
        // The table of a restore that writes shows counts and issues, not the final objects:
        // they wait in the spool until applied instead of being held for the report (R13).
        let options = csdr::core::engine::EngineOptions {
            restore_report_objects: !matches!(args.output.output, crate::Output::Table),
            ..Default::default()
        };
        let mut builder = engine_builder()
            .options(options)
            .cluster(cluster.cluster())
            .vault(vault)
            .snapshotter(cluster.snapshotter()?)
            .progress(progress.sink());
        if let Some(mover) = cluster
            .pod_volume_mover(
                &args.volume_data,
                &self.vault_spec(&args.vault.vault),
                self.vault_timeout,
                kek,
            )
            .await?
        {
            builder = builder.pod_volume_mover(mover);
        }
        let engine = builder
            .build()
            .map_err(|e| CliError::failed(e.to_string()))?;
        let report = match &cluster {
            OpenCluster::Kube { cluster, .. } => {
                restore_on_own_thread(cluster.clone(), engine, spec).await?
            }
            OpenCluster::Sim { .. } => engine.restore(spec).await,
        };
        progress.finish();
        if !report.dry_run && report.status.phase != JobPhase::Failed {
            cluster.save()?;
        }
        report_issues(&report.status, "restore", &report.name);
        if matches!(args.output.output, crate::Output::Table) {
            print(args.output.output, &serde_json::Value::Null, || {
                render::restore_report_table(&report)
            })?;
        } else {
            let value = if report.dry_run {
                render::dry_run_value(&report)
            } else {
                render::to_value(&report)
            };
            print(args.output.output, &value, String::new)?;
        }
        Ok(phase_exit(report.status.phase))
    }

    async fn check(&self, args: CheckArgs) -> Result<u8, CliError> {
        let vault = self.vault(&args.vault.vault).await?;
        let target = SimCluster::new(args.target_release);
        let engine = engine_builder()
            .cluster(Arc::new(target))
            .vault(vault)
            .build()
            .map_err(|e| CliError::failed(e.to_string()))?;
        let mut spec = RestoreSpec::new(format!("check-{}", args.from_backup), &args.from_backup);
        spec.dry_run = true;
        let report = engine.restore(spec).await;
        if report.status.phase == JobPhase::Failed {
            report_issues(&report.status, "check of backup", &args.from_backup);
            return Ok(1);
        }
        let rows = check_rows(&report);
        let value = json!({
            "backup": args.from_backup,
            "targetRelease": args.target_release.to_string(),
            "resources": rows.iter().map(|r| json!({
                "kind": r.kind,
                "result": r.result,
                "objects": r.objects,
                "detail": r.detail,
            })).collect::<Vec<_>>(),
        });
        print(args.output.output, &value, || {
            let mut table = vec![[
                "KIND".to_string(),
                "OBJECTS".into(),
                "RESULT".into(),
                "DETAIL".into(),
            ]];
            for r in &rows {
                table.push([
                    r.kind.clone(),
                    r.objects.len().to_string(),
                    r.result.to_string(),
                    r.detail.clone(),
                ]);
            }
            format!(
                "Backup {} checked against Kubernetes {} (a dry-run restore into an empty cluster):\n\n{}",
                args.from_backup,
                args.target_release,
                render::table(&table)
            )
        })?;
        Ok(phase_exit(report.status.phase))
    }

    /// An engine on the vault and, when given, the cluster holding the volume snapshots
    /// (with a snapshotter); else on an empty simulated cluster without one, so that
    /// snapshots are listed, not deleted.
    async fn snapshot_engine(
        &self,
        vault: Arc<dyn Vault>,
        cluster: Option<&ClusterArg>,
    ) -> Result<(EngineBuilder, Option<OpenCluster>), CliError> {
        let builder = engine_builder().vault(vault);
        Ok(match cluster {
            Some(arg) => {
                let open = OpenCluster::open(arg).await?;
                let builder = builder
                    .cluster(open.cluster())
                    .snapshotter(open.snapshotter()?);
                (builder, Some(open))
            }
            None => (
                builder.cluster(Arc::new(SimCluster::new(KubeRelease::NEWEST))),
                None,
            ),
        })
    }

    async fn backup_delete(
        &self,
        name: &str,
        url: &str,
        cluster: Option<&ClusterArg>,
    ) -> Result<u8, CliError> {
        let vault = self.vault(url).await?;
        find_backup(vault.as_ref(), name, url).await?;
        let (builder, open) = self.snapshot_engine(vault, cluster).await?;
        let engine = builder
            .build()
            .map_err(|e| CliError::failed(e.to_string()))?;
        let cleanup = engine.delete_backup_and_snapshots(name).await;
        if let Some(open) = &open {
            open.save()?;
        }
        let cleanup = cleanup.map_err(|e| CliError::failed(format!("backup {name}: {e}")))?;
        for r in &cleanup.deleted {
            println!("Deleted {}.", describe_snapshot(r));
        }
        if !cleanup.left.is_empty() {
            println!(
                "Volume snapshots left in the cluster (their data is kept; pass --cluster to delete them):"
            );
            for r in &cleanup.left {
                println!("  {}", describe_snapshot(r));
            }
        }
        println!("Backup \"{name}\" deleted.");
        Ok(0)
    }

    async fn gc(&self, args: GcArgs) -> Result<u8, CliError> {
        let vault = self.vault(&args.vault.vault).await?;
        // Without --cluster GC touches only the vault (the engine gets an empty cluster).
        let (mut builder, open) = self.snapshot_engine(vault, args.cluster.as_ref()).await?;
        if let Some(text) = &args.now {
            // GC reads the engine's clock: --now stands it at that instant.
            builder = builder.clock(Arc::new(ManualClock::new(parse_instant("--now", text)?)));
        }
        let engine = builder
            .build()
            .map_err(|e| CliError::failed(e.to_string()))?;
        let report = engine.gc().await;
        if let Some(open) = &open {
            open.save()?;
        }
        let report = report.map_err(|e| CliError::failed(format!("gc: {e}")))?;
        for (name, reason) in &report.failed {
            eprintln!("error: backup {name}: {reason}");
        }
        print(args.output.output, &render::gc_value(&report), || {
            render::gc_table(&report)
        })?;
        Ok(if report.failed.is_empty() { 0 } else { 2 })
    }
}

/// One line of `check`: the objects of one kind with one outcome.
struct CheckRow {
    kind: String,
    result: &'static str,
    objects: Vec<String>,
    detail: String,
}

/// Summarises a dry-run restore per kind: restored as-is (no migration), migrated (with the
/// chain), not restorable or refused (with the reason), skipped by rule.
fn check_rows(report: &RestoreReport) -> Vec<CheckRow> {
    let mut rows: BTreeMap<(String, &'static str, String), Vec<String>> = BTreeMap::new();
    let kind_of = |group: &str, kind: &str| {
        if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        }
    };
    let name_of = |o: &csdr::core::model::ObjectRef| match &o.namespace {
        Some(ns) => format!("{ns}/{}", o.name),
        None => o.name.clone(),
    };
    for step in report.plan.creates() {
        let (Some(source), Some(version)) = (&step.source, &step.version) else {
            continue; // a Namespace the plan adds
        };
        let (result, detail) = if version.migrations.is_empty() {
            ("as-is", version.target.api_version())
        } else {
            (
                "migrated",
                format!(
                    "{} -> {} by {}",
                    version.backed_up.api_version(),
                    version.target.api_version(),
                    version.migrations.join(" -> ")
                ),
            )
        };
        rows.entry((kind_of(&source.group, &source.kind), result, detail))
            .or_default()
            .push(name_of(source));
    }
    for (result, issues) in [
        ("not restorable", &report.plan.not_restorable),
        ("refused", &report.plan.errors),
    ] {
        for issue in issues {
            let (kind, name) = match &issue.object {
                Some(o) => (kind_of(&o.group, &o.kind), name_of(o)),
                None => ("-".to_string(), "-".to_string()),
            };
            rows.entry((kind, result, issue.message.clone()))
                .or_default()
                .push(name);
        }
    }
    for (object, reason) in &report.plan.skipped {
        rows.entry((
            kind_of(&object.group, &object.kind),
            "skipped",
            reason.clone(),
        ))
        .or_default()
        .push(name_of(object));
    }
    rows.into_iter()
        .map(|((kind, result, detail), objects)| CheckRow {
            kind,
            result,
            objects,
            detail,
        })
        .collect()
}

async fn serve(
    release: KubeRelease,
    state: Option<std::path::PathBuf>,
    port: u16,
    kubelet_dir: Option<std::path::PathBuf>,
) -> Result<u8, CliError> {
    let sim = match &state {
        Some(folder) => sim_folder::load(release, folder)
            .map_err(|e| CliError::failed(format!("--state: {e}")))?,
        None => SimCluster::new(release),
    };
    // A served cluster stamps creation and deletion times from the system clock, so `kubectl
    // get` shows true ages.
    let sim = sim.with_clock(Arc::new(csdr::core::engine::SystemClock));
    let server = ApiServer::start_on(sim.clone(), SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .await
        .map_err(|e| CliError::failed(format!("--port {port}: {e}")))?;
    let url = server.url();
    let mut workloads = None;
    if let Some(dir) = kubelet_dir {
        let kubelet = csdr::sim_kubelet::SimKubelet::new(dir);
        kubelet
            .sync(&sim)
            .map_err(|e| CliError::failed(format!("--kubelet-dir: {e}")))?;
        // Pods of csdr's image (csdr install's node agents) run as processes of this binary.
        let program = std::env::current_exe().map_err(|e| {
            CliError::failed(format!("--kubelet-dir: cannot find this program: {e}"))
        })?;
        let runtime = SimWorkloads::new(kubelet.clone(), program, url.clone());
        runtime
            .sync(&sim)
            .map_err(|e| CliError::failed(format!("--kubelet-dir: {e}")))?;
        tokio::spawn(keep_kubelets_in_step(sim.clone(), kubelet, runtime.clone()));
        server.serve_pod_logs(Arc::new(WorkloadLogs(runtime.clone())));
        workloads = Some(runtime);
    }
    println!("{url}");
    match &state {
        Some(folder) => eprintln!(
            "Serving a simulated Kubernetes {release} cluster. Try: kubectl --server {url} get ns\nCtrl-C stops it and saves the state to {}.",
            folder.display()
        ),
        None => eprintln!(
            "Serving a simulated Kubernetes {release} cluster. Try: kubectl --server {url} get ns\nCtrl-C stops it."
        ),
    }
    wait_for_stop().await?;
    if let Some(workloads) = &workloads {
        workloads.stop_all();
    }
    server
        .shutdown()
        .await
        .map_err(|e| CliError::failed(e.to_string()))?;
    if let Some(folder) = &state {
        sim_folder::save(&sim, folder)
            .map_err(|e| CliError::failed(format!("--state: saving the state: {e}")))?;
        eprintln!("State saved to {}.", folder.display());
    }
    Ok(0)
}

/// `kubectl logs` of a served cluster: the simulated kubelets' log files.
struct WorkloadLogs(SimWorkloads);

impl csdr::kube::testing::PodLogs for WorkloadLogs {
    fn log(&self, pod: &csdr::core::object::KubeObject, container: &str) -> Option<String> {
        self.0.pod_log(pod, container)
    }
}

/// Re-syncs the simulated kubelets and their pods' processes whenever the served cluster was
/// written (polled every 100 ms), so node agents run and see pods' volumes; in between, notices
/// processes that exit.
async fn keep_kubelets_in_step(
    sim: SimCluster,
    kubelet: csdr::sim_kubelet::SimKubelet,
    workloads: SimWorkloads,
) {
    let mut seen = sim.resource_version();
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
    loop {
        tick.tick().await;
        let now = sim.resource_version();
        if now == seen {
            workloads.poll(&sim);
            continue;
        }
        // A failure is reported once; the next write tries again.
        seen = now;
        if let Err(e) = kubelet.sync(&sim) {
            tracing::warn!(error = %e, "the simulated kubelets are out of step");
        }
        if let Err(e) = workloads.sync(&sim) {
            tracing::warn!(error = %e, "the simulated kubelets' pods are out of step");
        }
    }
}

/// Waits for Ctrl-C (SIGINT) or, on Unix, SIGTERM.
async fn wait_for_stop() -> Result<(), CliError> {
    let fail = |e: std::io::Error| CliError::failed(format!("cannot listen for Ctrl-C: {e}"));
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).map_err(fail)?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.map_err(fail),
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map_err(fail)
    }
}

/// Runs a restore into a real cluster as the controller runs a restore job: on a thread of its
/// own with a current-thread runtime and a connection to the cluster made there
/// (`KubeCluster::connect_again`), so that its requests do not cross between threads
/// (BENCHMARKS.md, 2026-12-07). A connection that cannot be made again leaves the restore on
/// the one it has.
async fn restore_on_own_thread(
    cluster: Arc<KubeCluster>,
    engine: Engine,
    spec: RestoreSpec,
) -> Result<RestoreReport, CliError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("csdr-restore".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(format!("cannot start the restore's runtime: {e}")));
                    return;
                }
            };
            let report = runtime.block_on(async move {
                let engine = match cluster.connect_again() {
                    Ok(own) => engine.with_cluster(Arc::new(own)),
                    Err(e) => {
                        tracing::warn!(error = %e, "the restore shares the CLI's connection");
                        engine
                    }
                };
                engine.restore(spec).await
            });
            let _ = tx.send(Ok(report));
        })
        .map_err(|e| CliError::failed(format!("cannot start the restore's thread: {e}")))?;
    rx.await
        .map_err(|_| CliError::failed("the restore's thread stopped before it finished"))?
        .map_err(CliError::failed)
}
