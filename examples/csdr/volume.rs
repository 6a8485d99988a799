//! `csdr volume …`: file-system volume backups in the vault's restic-format repositories (D1),
//! for the node agent and for people.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use csdr::storage::volume::{
    Progress, ProgressBars, ProgressType, REPOSITORY_PASSWORD_ENV, RepositoryKey, RusticProgress,
    VolumeBackupOptions, VolumeRepository, VolumeSnapshot,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::render::print;
use crate::{CliError, OutputArg, VaultArg};

/// The volume subcommands.
#[derive(Subcommand, Debug)]
pub enum VolumeCommand {
    /// Back up a directory into a volume repository; prints the new snapshot's id on stdout.
    #[command(
        after_help = "Examples:\n  CSDR_REPOSITORY_PASSWORD=… csdr volume backup /var/lib/kubelet/pods/<uid>/volumes/kubernetes.io~nfs/pv-1/mount --vault file:///tmp/csdr-vault --repository shop --tag pvc=data\n  csdr volume backup ./data --vault file:///tmp/csdr-vault --repository shop --password-file key.txt --parent 4f1c2a\n\nThe repository (restic format, at <vault>/restic/<repository>) is created on first use with the key given."
    )]
    Backup(Box<VolumeBackupArgs>),
    /// Restore a snapshot into an empty (or absent) directory.
    #[command(
        after_help = "Examples:\n  csdr volume restore 4f1c2a ./restored --vault file:///tmp/csdr-vault --repository shop --password-file key.txt\n  csdr volume restore 4f1c2a ./restored --vault s3://backups/velero --repository shop --velero\n\nThe data is written beside the destination's contents and moved into place only when all of it is there."
    )]
    Restore(Box<VolumeRestoreArgs>),
    /// List a volume repository's snapshots, oldest first.
    #[command(
        after_help = "Examples:\n  csdr volume snapshots --vault file:///tmp/csdr-vault --repository shop --password-file key.txt -o json"
    )]
    Snapshots(Box<VolumeRepositoryArgs>),
    /// Check a volume repository; with --read-data every pack is read and verified. Exit 1 when damaged.
    #[command(
        after_help = "Examples:\n  csdr volume check --vault file:///tmp/csdr-vault --repository shop --password-file key.txt --read-data"
    )]
    Check {
        #[command(flatten)]
        repository: Box<VolumeRepositoryArgs>,
        /// Read and verify every pack, not only the repository's structure.
        #[arg(long)]
        read_data: bool,
    },
}

/// Which repository, and its key.
#[derive(Args, Debug)]
pub struct VolumeRepositoryArgs {
    #[command(flatten)]
    vault: VaultArg,
    /// The repository: one per namespace, at <vault>/restic/<repository>. Example: --repository shop
    #[arg(long, value_name = "NAME")]
    repository: String,
    /// A file whose first line is the repository key; without it, CSDR_REPOSITORY_PASSWORD is read. Example: --password-file /etc/csdr/volume-key
    #[arg(long, value_name = "FILE", conflicts_with = "velero")]
    password_file: Option<PathBuf>,
    /// Open a repository Velero's restic integration wrote, with Velero's fixed password (read only).
    #[arg(long)]
    velero: bool,
    /// Protect the repository key with a key-encryption key instead of a password, as encrypted backups are: --decryption-key-file <age identity> or --decryption-key kms://… (the key is made on first use and stored wrapped in the vault).
    #[command(flatten)]
    kek: crate::DecryptionKeyArg,
    #[command(flatten)]
    output: OutputArg,
}

/// `csdr volume backup`.
#[derive(Args, Debug)]
pub struct VolumeBackupArgs {
    /// The directory to back up. Example: ./data
    #[arg(
        value_name = "DIR",
        required_unless_present = "pod_uid",
        conflicts_with = "pod_uid"
    )]
    dir: Option<PathBuf>,
    /// Instead of DIR: the volume --volume of the pod with this uid, found under the kubelet root (KUBELET_ROOT_PATH, default /var/lib/kubelet), as the node agent does. Example: --pod-uid 0c3e… --volume pv-data
    #[arg(long, value_name = "UID", requires = "volume")]
    pod_uid: Option<String>,
    /// The PersistentVolume's name, with --pod-uid. Example: --volume pvc-5e1f…
    #[arg(long, value_name = "PV", requires = "pod_uid")]
    volume: Option<String>,
    #[command(flatten)]
    repository: VolumeRepositoryArgs,
    /// A tag on the snapshot, key=value; repeatable. Example: --tag pvc=data --tag namespace=shop
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    tags: Vec<String>,
    /// The snapshot to compare with (its unchanged files are not read again); default: the latest of the same host and path. Example: --parent 4f1c2a
    #[arg(long, value_name = "ID")]
    parent: Option<String>,
    /// The host recorded in the snapshot; default: this machine's name. Example: --host node-1
    #[arg(long, value_name = "NAME")]
    host: Option<String>,
    /// The path recorded instead of DIR's own, so a volume's backups find their parent whichever pod mounted it. Example: --as-path /shop/data
    #[arg(long, value_name = "PATH")]
    as_path: Option<PathBuf>,
}

/// `csdr volume restore`.
#[derive(Args, Debug)]
pub struct VolumeRestoreArgs {
    /// The snapshot id, or a unique prefix of it. Example: 4f1c2a
    #[arg(value_name = "ID")]
    id: String,
    /// The directory to restore into: empty or absent. Example: ./restored
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    #[command(flatten)]
    repository: VolumeRepositoryArgs,
}

/// Runs a volume subcommand.
pub async fn run(
    command: VolumeCommand,
    vault_name: &str,
    timeout: Duration,
    progress: bool,
) -> Result<u8, CliError> {
    match command {
        VolumeCommand::Backup(args) => {
            for tag in &args.tags {
                if !tag.contains('=') {
                    return Err(CliError::failed(format!(
                        "--tag {tag}: expected KEY=VALUE, e.g. --tag pvc=data"
                    )));
                }
            }
            let dir = match (&args.dir, &args.pod_uid, &args.volume) {
                (Some(dir), _, _) => dir.clone(),
                (None, Some(uid), Some(volume)) => {
                    let root = csdr::storage::volume::kubelet::kubelet_root();
                    csdr::storage::volume::kubelet::find_volume(&root, uid, volume)
                        .map_err(|e| CliError::failed(e.to_string()))?
                }
                _ => {
                    return Err(CliError::failed(
                        "give the directory to back up, or --pod-uid and --volume",
                    ));
                }
            };
            let repo = open(&args.repository, vault_name, timeout, progress).await?;
            let options = VolumeBackupOptions {
                tags: args.tags.clone(),
                parent: args.parent.clone(),
                host: args.host.clone(),
                as_path: args.as_path.clone(),
            };
            let snap = repo
                .backup(&dir, &options)
                .await
                .map_err(|e| CliError::failed(e.to_string()))?;
            print(args.repository.output.output, &json(&snap)?, || {
                format!("{}\n", snap.id)
            })?;
            Ok(0)
        }
        VolumeCommand::Restore(args) => {
            let repo = open(&args.repository, vault_name, timeout, progress).await?;
            let summary = repo
                .restore(&args.id, &args.dir)
                .await
                .map_err(|e| CliError::failed(e.to_string()))?;
            print(args.repository.output.output, &json(&summary)?, || {
                format!(
                    "restored {} files, {} directories, {} into {}\n",
                    summary.files,
                    summary.dirs,
                    bytes_text(summary.bytes),
                    args.dir.display()
                )
            })?;
            Ok(0)
        }
        VolumeCommand::Snapshots(args) => {
            let repo = open(&args, vault_name, timeout, progress).await?;
            let snaps = repo
                .snapshots()
                .await
                .map_err(|e| CliError::failed(e.to_string()))?;
            print(args.output.output, &json(&snaps)?, || {
                snapshot_table(&snaps)
            })?;
            Ok(0)
        }
        VolumeCommand::Check {
            repository,
            read_data,
        } => {
            let repo = open(&repository, vault_name, timeout, progress).await?;
            let report = repo
                .check(read_data)
                .await
                .map_err(|e| CliError::failed(e.to_string()))?;
            print(repository.output.output, &json(&report)?, || {
                let mut text = String::new();
                for e in &report.errors {
                    text += &format!("error: {e}\n");
                }
                for w in &report.warnings {
                    text += &format!("warning: {w}\n");
                }
                if report.is_ok() {
                    text += &format!("volume repository restic/{} is sound\n", repo.name());
                }
                text
            })?;
            Ok(if report.is_ok() { 0 } else { 1 })
        }
    }
}

async fn open(
    args: &VolumeRepositoryArgs,
    vault_name: &str,
    timeout: Duration,
    progress: bool,
) -> Result<VolumeRepository, CliError> {
    let url = &args.vault.vault;
    let spec = csdr::core::model::VaultSpec {
        name: vault_name.to_string(),
        url: url.clone(),
        region: None,
        network: None,
    };
    let options = crate::targets::storage_options(timeout);
    let failed = |e: csdr::storage::StorageError| {
        CliError::failed(format!(
            "--vault {url} --repository {}: {e}",
            args.repository
        ))
    };
    let repo = if let Some(kek) = crate::targets::decryption_key(&args.kek)? {
        if args.velero || args.password_file.is_some() {
            return Err(CliError::failed(
                "give either a repository key (--password-file, --velero, CSDR_REPOSITORY_PASSWORD) or a key-encryption key (--decryption-key-file, --decryption-key), not both",
            ));
        }
        VolumeRepository::open_in_vault_with_kek(
            &spec,
            &options,
            &args.repository,
            kek.as_ref(),
            &csdr::storage::os_random(),
        )
        .await
        .map_err(failed)?
    } else {
        let key = if args.velero {
            RepositoryKey::velero()
        } else if let Some(file) = &args.password_file {
            RepositoryKey::from_file(file)
                .map_err(|e| CliError::failed(format!("--password-file: {e}")))?
        } else {
            RepositoryKey::from_env()
                .map_err(|e| CliError::failed(e.to_string()))?
                .ok_or_else(|| {
                    CliError::failed(format!(
                        "no repository key: give --password-file <FILE>, set {REPOSITORY_PASSWORD_ENV}, or protect it with --decryption-key-file/--decryption-key"
                    ))
                })?
        };
        VolumeRepository::open_in_vault(&spec, &options, &args.repository, key)
            .await
            .map_err(failed)?
    };
    Ok(if progress && std::io::stderr().is_terminal() {
        repo.with_progress(Arc::new(Bars))
    } else {
        repo
    })
}

fn json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, CliError> {
    serde_json::to_value(value).map_err(|e| CliError::failed(format!("cannot render: {e}")))
}

fn snapshot_table(snaps: &[VolumeSnapshot]) -> String {
    let mut text = format!(
        "{:<10} {:<25} {:<16} {:>8} {:>10}  {}\n",
        "ID", "TIME", "HOST", "FILES", "SIZE", "TAGS / PATHS"
    );
    for s in snaps {
        text += &format!(
            "{:<10} {:<25} {:<16} {:>8} {:>10}  {} {}\n",
            &s.id[..s.id.len().min(8)],
            s.time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            s.hostname,
            s.files,
            bytes_text(s.bytes),
            s.tags.join(","),
            s.paths.join(",")
        );
    }
    if snaps.is_empty() {
        text += "(no snapshots)\n";
    }
    text
}

fn bytes_text(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// rustic_core's progress drawn with indicatif on stderr.
#[derive(Debug)]
struct Bars;

impl ProgressBars for Bars {
    fn progress(&self, progress_type: ProgressType, prefix: &str) -> Progress {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let template = match progress_type {
            ProgressType::Spinner => "{spinner} {prefix}",
            ProgressType::Counter => "{spinner} {prefix} [{bar:30}] {pos}/{len}",
            ProgressType::Bytes => {
                "{spinner} {prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}"
            }
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(prefix.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress::new(Bar(bar))
    }
}

#[derive(Debug)]
struct Bar(ProgressBar);

impl RusticProgress for Bar {
    fn is_hidden(&self) -> bool {
        false
    }
    fn set_length(&self, len: u64) {
        self.0.set_length(len);
    }
    fn set_title(&self, title: &str) {
        self.0.set_prefix(title.to_string());
    }
    fn inc(&self, inc: u64) {
        self.0.inc(inc);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}
