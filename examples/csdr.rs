//! `csdr`: the reference command line of csdr, in the conventions of Velero's CLI and kubectl.
//!
//! ```text
//! alias csdr='cargo run -q --release --example csdr --'
//! csdr backup create shop-b --cluster sim:1.16:./cluster-116 --vault file:///tmp/vault --include-namespaces shop
//! csdr backup describe shop-b --vault file:///tmp/vault --details
//! csdr restore create shop-r --from-backup shop-b --vault file:///tmp/vault --cluster sim:1.28:./cluster-128 --dry-run -o json
//! ```
//!
//! `<CLUSTER>` is `sim:<release>[:<folder>]` (a simulated cluster whose state is a folder of
//! YAML files, loaded at start and saved at the end when the command wrote to it), `kube` (the
//! current kubeconfig context) or `kube:<context>`. `<VAULT>` is a vault URL: `file:///…` (the
//! folder is created), `s3://bucket/prefix?endpoint=…&region=…&path_style=true`, `memory://`.
//!
//! Exit codes: 0 success (Completed), 2 PartiallyFailed, 1 Failed or a usage error. Standard
//! output carries only the requested output; errors, logs (`-v`, `-vv`) and progress bars go
//! to standard error.

#[path = "csdr/commands.rs"]
mod commands;
#[path = "csdr/install.rs"]
mod install;
#[path = "csdr/node_agent.rs"]
mod node_agent;
#[path = "csdr/progress.rs"]
mod progress;
#[path = "csdr/render.rs"]
mod render;
#[path = "csdr/server.rs"]
mod server;
#[path = "csdr/targets.rs"]
mod targets;
#[path = "csdr/volume.rs"]
mod volume;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use csdr::core::model::{BackupScope, ExistingResourcePolicy, JobPhase};
use targets::ClusterArg;

/// Back up, restore and migrate Kubernetes applications.
#[derive(Parser, Debug)]
#[command(
    name = "csdr",
    version,
    about,
    after_help = "Examples:\n  csdr backup create shop-b --cluster sim:1.16:./cluster-116 --vault file:///tmp/csdr-vault --include-namespaces shop\n  csdr backup describe shop-b --vault file:///tmp/csdr-vault --details\n  csdr restore create shop-r --from-backup shop-b --vault file:///tmp/csdr-vault --cluster sim:1.28:./cluster-128\n  csdr schedule next \"0 2 15 * 1\" --count 4\n\nExit codes: 0 success (Completed), 2 PartiallyFailed, 1 Failed or usage error."
)]
pub struct Cli {
    /// More logs on stderr: -v info, -vv debug, -vvv trace (RUST_LOG overrides). Hides progress bars.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    /// The vault's name, recorded in the vault on first use; a location belongs to one name.
    /// Example: --vault-name prod-backups
    #[arg(long, global = true, default_value = "default", value_name = "NAME")]
    vault_name: String,

    /// How long to keep trying to reach a vault before giving up (connect and retries).
    /// Example: --vault-timeout 10s
    #[arg(long, global = true, default_value = "1m", value_parser = parse_duration, value_name = "DURATION")]
    vault_timeout: Duration,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Work with backup schedules.
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Create, list, describe and delete backups.
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Restore backups, or preview a restore with --dry-run.
    #[command(subcommand)]
    Restore(RestoreCommand),
    /// Convert a backup's file-system volume data to CSI snapshots of other StorageClasses (the FAQ's StorageClass conversion).
    #[command(subcommand)]
    Convert(ConvertCommand),
    /// Work with vaults (where backups are stored).
    #[command(subcommand)]
    Vault(VaultCommand),
    /// Check which backed-up resources a Kubernetes release can take: as-is, migrated, or not restorable.
    #[command(
        after_help = "Examples:\n  csdr check --from-backup shop-b --vault file:///tmp/csdr-vault --target-release 1.30\n  csdr check --from-backup shop-b --vault file:///tmp/csdr-vault --target-release 1.22 -o json\n\nExit code 2 when some resources cannot be restored to that release."
    )]
    Check(CheckArgs),
    /// Serve simulated clusters over HTTP for kubectl.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Delete expired backups and clean up unfinished uploads and deletions.
    #[command(
        after_help = "Examples:\n  csdr gc --vault file:///tmp/csdr-vault\n  csdr gc --vault file:///tmp/csdr-vault --now 2027-01-01T00:00:00Z"
    )]
    Gc(GcArgs),
    /// Back up and restore volume data: directories in the vault's restic-format repositories.
    #[command(subcommand)]
    Volume(volume::VolumeCommand),
}

#[derive(Subcommand, Debug)]
enum ScheduleCommand {
    /// Print the next fire times of a schedule, one RFC 3339 UTC instant per line.
    #[command(
        after_help = "Examples:\n  csdr schedule next \"0 2 15 * 1\" --after 2026-11-23T22:51:00Z --count 4\n  csdr schedule next @daily\n  csdr schedule next \"@every 6h30m\" --count 3\n  csdr schedule next \"0 2 * * *\" --time-zone Europe/Berlin\n\nCron fields: minute hour day-of-month month day-of-week (0-6 from Sunday, 7 = Sunday).\nWhen both day fields are restricted a day matches if either does (Vixie cron, Velero)."
    )]
    Next {
        /// A 5-field cron expression, a descriptor (@daily, @every 6h) or an interval (6h30m).
        /// Example: "0 2 * * *"
        #[arg(value_name = "EXPR")]
        expression: String,
        /// Print fire times after this instant (RFC 3339); now by default.
        /// Example: --after 2026-11-23T22:51:00Z
        #[arg(long, value_name = "RFC3339")]
        after: Option<String>,
        /// How many fire times to print. Example: --count 10
        #[arg(long, default_value_t = 5, value_name = "N")]
        count: usize,
        /// The IANA time zone the cron expression is read in; UTC by default. Example: --time-zone Europe/Berlin
        #[arg(long, value_name = "ZONE")]
        time_zone: Option<String>,
    },
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Human-readable text.
    Table,
    /// One JSON document.
    Json,
    /// One YAML document.
    Yaml,
}

/// `-o table|json|yaml`.
#[derive(Args, Debug)]
pub struct OutputArg {
    /// Output format. Example: -o json
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Table)]
    output: Output,
}

/// `--vault <URL>`.
#[derive(Args, Debug)]
pub struct VaultArg {
    /// The vault URL: file:///path (created if missing), s3://bucket/prefix?endpoint=…, memory://.
    /// Example: --vault file:///var/backups/csdr
    #[arg(long, value_name = "VAULT")]
    vault: String,
}

/// The key that opens an encrypted backup (E2).
#[derive(Args, Debug, Clone, Default)]
pub struct DecryptionKeyArg {
    /// The age identity file (as age-keygen writes it) of the recipient an encrypted backup was created for; needed to read an encrypted backup's contents, ignored for plain backups. Example: --decryption-key-file ~/.config/csdr/age-identity.txt
    #[arg(long, value_name = "FILE", conflicts_with = "decryption_key")]
    decryption_key_file: Option<std::path::PathBuf>,
    /// The AWS KMS key an encrypted backup was created with, as given to --encryption-key; credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY. Example: --decryption-key 'kms://arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab'
    #[arg(long, value_name = "kms://KEY")]
    decryption_key: Option<String>,
}

/// Where a simulated cluster's volumes keep their files, and the volume repository's key
/// (file-system volume backups, D1–D4).
#[derive(Args, Debug, Clone, Default)]
pub struct VolumeDataArgs {
    /// The simulated kubelet's folder of a sim: cluster (as `csdr cluster serve --kubelet-dir` keeps it): volumes the volume policy backs up through their files are copied from and to <DIR>/volumes/<pv> through the pods' folders under <DIR>/nodes/<node>/kubelet. In a real cluster the node agents do it (csdr install, csdr server). Example: --kubelet-dir ./cluster-116-kubelet
    #[arg(long, value_name = "DIR")]
    pub kubelet_dir: Option<std::path::PathBuf>,
    /// A file whose first line is the volume repositories' key; without it CSDR_REPOSITORY_PASSWORD is read, else the backup's encryption key protects a random repository key. Example: --repository-password-file /etc/csdr/volume-key
    #[arg(long, value_name = "FILE")]
    pub repository_password_file: Option<std::path::PathBuf>,
}

#[derive(Subcommand, Debug)]
enum BackupCommand {
    /// Back up namespaces of a cluster into a vault.
    #[command(
        after_help = "Examples:\n  csdr backup create shop-b --cluster sim:1.16:./cluster-116 --vault file:///tmp/csdr-vault --include-namespaces shop\n  csdr backup create nightly --cluster kube --vault 's3://backups/prod?region=eu-west-1' --exclude-namespaces 'test-*' --ttl 168h\n  csdr backup create web --cluster kube:prod --vault file:///tmp/csdr-vault --selector 'app in (web,api)' --backup-volumes\n\nBackups run in the foreground: the command returns when the backup has finished (--wait is accepted and changes nothing).\nExit code: 0 Completed, 2 PartiallyFailed, 1 Failed."
    )]
    Create(Box<BackupCreateArgs>),
    /// List the backups of a vault that can be restored (Completed and PartiallyFailed ones).
    #[command(
        after_help = "Examples:\n  csdr backup list --vault file:///tmp/csdr-vault\n  csdr backup list --vault file:///tmp/csdr-vault -o json"
    )]
    List {
        #[command(flatten)]
        vault: VaultArg,
        #[command(flatten)]
        output: OutputArg,
    },
    /// Describe a backup: phase, times, expiry, selection; with --details its resources, volume snapshots, errors and warnings.
    #[command(
        after_help = "Examples:\n  csdr backup describe shop-b --vault file:///tmp/csdr-vault\n  csdr backup describe shop-b --vault file:///tmp/csdr-vault --details\n  csdr backup describe shop-b --vault file:///tmp/csdr-vault -o yaml"
    )]
    Describe {
        /// The backup's name. Example: shop-b
        name: String,
        #[command(flatten)]
        vault: VaultArg,
        /// Also list every backed-up object by kind, the volume snapshots, and each error and warning.
        #[arg(long)]
        details: bool,
        #[command(flatten)]
        key: DecryptionKeyArg,
        #[command(flatten)]
        output: OutputArg,
    },
    /// Delete a backup, its volume snapshots (with --cluster) and its files from the vault (Failed backups included).
    #[command(
        after_help = "Examples:\n  csdr backup delete shop-b --vault file:///tmp/csdr-vault --cluster sim:1.28:./cluster-128\n  csdr backup delete shop-b --vault file:///tmp/csdr-vault\n\nWithout --cluster the backup's volume snapshots stay in the cluster and are listed."
    )]
    Delete {
        /// The backup's name. Example: shop-b
        name: String,
        #[command(flatten)]
        vault: VaultArg,
        /// The cluster holding the backup's volume snapshots: sim:<release>[:<folder>], kube or kube:<context>. Example: --cluster kube
        #[arg(long, value_name = "CLUSTER")]
        cluster: Option<ClusterArg>,
    },
    /// Print a backup's log from the vault: what it listed, each object, each warning and error, timings (Failed backups included).
    #[command(
        after_help = "Examples:\n  csdr backup logs shop-b --vault file:///tmp/csdr-vault\n  csdr backup logs shop-b --vault file:///tmp/csdr-vault | grep level=error"
    )]
    Logs {
        /// The backup's name. Example: shop-b
        name: String,
        #[command(flatten)]
        vault: VaultArg,
        #[command(flatten)]
        key: DecryptionKeyArg,
    },
}

/// Which namespaces, resources and labels a backup takes or a restore brings back.
#[derive(Args, Debug, Clone)]
struct ScopeArgs {
    /// Namespaces to take (* wildcards); by default a backup takes all but the system ones and a restore all in the backup. Example: --include-namespaces shop,web-*
    #[arg(long, value_delimiter = ',', value_name = "NS,…")]
    include_namespaces: Vec<String>,
    /// Namespaces to leave out (* wildcards). Example: --exclude-namespaces test-*
    #[arg(long, value_delimiter = ',', value_name = "NS,…")]
    exclude_namespaces: Vec<String>,
    /// Resources to take, by plural, singular, kind, short name or plural.group. Example: --include-resources deployments.apps,pvc
    #[arg(long, value_delimiter = ',', value_name = "RESOURCE,…")]
    include_resources: Vec<String>,
    /// Resources to leave out. Example: --exclude-resources secrets,events
    #[arg(long, value_delimiter = ',', value_name = "RESOURCE,…")]
    exclude_resources: Vec<String>,
    /// Only objects whose labels match this Kubernetes label selector. Example: --selector 'app=web,tier in (a,b)'
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    selector: Option<String>,
    /// Cluster-scoped resources: true = all, false = none; by default those the selected objects use (a restore of a whole backup: all). Example: --include-cluster-resources false
    #[arg(long, value_name = "true|false")]
    include_cluster_resources: Option<bool>,
}

impl From<ScopeArgs> for BackupScope {
    fn from(args: ScopeArgs) -> Self {
        BackupScope {
            included_namespaces: args.include_namespaces,
            excluded_namespaces: args.exclude_namespaces,
            included_resources: args.include_resources,
            excluded_resources: args.exclude_resources,
            label_selector: args.selector,
            include_cluster_resources: args.include_cluster_resources,
        }
    }
}

#[derive(Args, Debug)]
struct BackupCreateArgs {
    /// The backup's name, unique in the vault. Example: shop-b
    name: String,
    /// The cluster: sim:<release>[:<folder>], kube or kube:<context>. Example: --cluster sim:1.16:./cluster-116
    #[arg(long, value_name = "CLUSTER")]
    cluster: ClusterArg,
    #[command(flatten)]
    vault: VaultArg,
    /// Encrypt the backup's files for this age recipient (age1…, from age-keygen) or AWS KMS key (kms://<key id or ARN>?region=<region>[&endpoint=<url>]): a fresh data key per backup, wrapped by that key and recorded in the plain velero-backup.json; restoring needs the identity (--decryption-key-file) or the KMS key (--decryption-key). Example: --encryption-key age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
    #[arg(long, value_name = "RECIPIENT|kms://KEY")]
    encryption_key: Option<String>,
    #[command(flatten)]
    scope: ScopeArgs,
    /// How long the backup is kept before gc deletes it (Go or humantime duration). Example: --ttl 168h
    #[arg(long, default_value = "720h", value_parser = parse_duration, value_name = "DURATION")]
    ttl: Duration,
    /// Snapshot the volumes of selected workloads (pods, deployments, statefulsets, daemonsets, jobs, cronjobs) with CSI VolumeSnapshots (needs snapshot.storage.k8s.io/v1 and a VolumeSnapshotClass); the snapshots are retained until the backup is deleted or expires.
    #[arg(long)]
    backup_volumes: bool,
    /// The VolumeSnapshotClass for a CSI driver, driver=class (repeatable); other drivers use the class labelled csdr.io/default-snapshot-class=true, else their default class. Example: --volume-snapshot-class diskplugin.csi.alibabacloud.com=csdr-disk-snapshot-with-default-ttl
    #[arg(long, value_delimiter = ',', value_name = "DRIVER=CLASS,…")]
    volume_snapshot_class: Vec<String>,
    /// Snapshot these PersistentVolumeClaims whether or not a selected workload uses them (a data-protection backup). Example: --include-volumes shop/data,shop/logs
    #[arg(long, value_delimiter = ',', value_name = "NS/PVC,…")]
    include_volumes: Vec<String>,
    /// A volume policy in Velero's format (YAML file): per volume snapshot, fs-backup or skip by storage class, CSI driver, volume type or capacity; without one CSI volumes with a VolumeSnapshotClass are snapshotted and the rest backed up through their files. Example: --volume-policy ./volume-policy.yaml
    #[arg(long, value_name = "FILE")]
    volume_policy: Option<std::path::PathBuf>,
    #[command(flatten)]
    volume_data: VolumeDataArgs,
    /// Accepted for Velero compatibility: backups always run in the foreground until they finish.
    #[arg(long)]
    wait: bool,
    #[command(flatten)]
    output: OutputArg,
}

#[derive(Subcommand, Debug)]
enum RestoreCommand {
    /// Restore a backup into a cluster, transforming it on the way; --dry-run shows the plan and the final objects.
    #[command(
        after_help = "Examples:\n  csdr restore create shop-r --from-backup shop-b --vault file:///tmp/csdr-vault --cluster sim:1.28:./cluster-128\n  csdr restore create shop-r --from-backup shop-b --vault file:///tmp/csdr-vault --cluster kube --dry-run -o json\n  csdr restore create shop-r2 --from-backup shop-b --vault file:///tmp/csdr-vault --cluster kube:staging \\\n      --namespace-mapping shop:shop-staging --image-registry-mapping docker.io/library/=registry.example.com/mirror/ \\\n      --change-image 'nginx:1.17,nginx:1.25' --storage-class-mapping alicloud-disk-ssd=alicloud-disk-topology-alltype\n\nExit code: 0 Completed, 2 PartiallyFailed (some objects not restored), 1 Failed."
    )]
    Create(Box<RestoreCreateArgs>),
    /// Describe a restore: phase, times, its backup, errors and warnings.
    #[command(
        after_help = "Examples:\n  csdr restore describe shop-r --vault file:///tmp/csdr-vault\n  csdr restore describe shop-r --vault file:///tmp/csdr-vault -o json"
    )]
    Describe {
        /// The restore's name. Example: shop-r
        name: String,
        #[command(flatten)]
        vault: VaultArg,
        #[command(flatten)]
        output: OutputArg,
        #[command(flatten)]
        key: DecryptionKeyArg,
    },
    /// Print a restore's log from the vault: each object's outcome, each warning and error, timings (Failed restores included).
    #[command(after_help = "Examples:\n  csdr restore logs shop-r --vault file:///tmp/csdr-vault")]
    Logs {
        /// The restore's name. Example: shop-r
        name: String,
        #[command(flatten)]
        vault: VaultArg,
        #[command(flatten)]
        key: DecryptionKeyArg,
    },
}

#[derive(Subcommand, Debug)]
enum ConvertCommand {
    /// Convert the claims of a backup whose data was backed up through their files to retained snapshots of the classes --storage-class-mapping names, in the target cluster: each gets a temporary claim <pvc>-for-convert<YYYYmmddHHMM> of its new class, filled with its files, snapshotted and deleted. `-o json` prints the converted volumes for `csdr restore create --converted-volumes`.
    #[command(
        after_help = "Examples:\n  csdr convert create shop-b --vault file:///tmp/csdr-vault --cluster kube --storage-class-mapping alicloud-nas=alicloud-disk-topology-alltype --convert-to-access-modes ReadWriteOnce -o json > shop-b-converted.json\n  csdr restore create shop-r --from-backup shop-b --vault file:///tmp/csdr-vault --cluster kube --storage-class-mapping alicloud-nas=alicloud-disk-topology-alltype --converted-volumes shop-b-converted.json\n\nExit code: 0 Completed, 2 PartiallyFailed (some volumes not converted), 1 Failed."
    )]
    Create(Box<ConvertCreateArgs>),
}

#[derive(Args, Debug)]
struct ConvertCreateArgs {
    /// The backup whose volumes are converted (the conversion is named after it). Example: shop-b
    backup: String,
    #[command(flatten)]
    vault: VaultArg,
    #[command(flatten)]
    key: DecryptionKeyArg,
    #[command(flatten)]
    volume_data: VolumeDataArgs,
    /// The cluster the snapshots are made in (the restore's target): sim:<release>[:<folder>], kube or kube:<context>. Example: --cluster kube
    #[arg(long, value_name = "CLUSTER")]
    cluster: ClusterArg,
    /// The classes to convert to, old=new (a disk or NAS CSI class of the cluster). Example: --storage-class-mapping alicloud-nas=alicloud-disk-topology-alltype
    #[arg(long, value_delimiter = ',', value_name = "OLD=NEW,…", required = true)]
    storage_class_mapping: Vec<String>,
    /// Access modes for the converted claims. Example: --convert-to-access-modes ReadWriteOnce
    #[arg(long, value_delimiter = ',', value_name = "MODE,…")]
    convert_to_access_modes: Vec<String>,
    #[command(flatten)]
    output: OutputArg,
}

/// The R11 policy on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum PolicyArg {
    /// Leave existing objects; warn when they differ from the backup.
    None,
    /// Merge-patch existing objects to the backed-up state.
    Update,
}

impl From<PolicyArg> for ExistingResourcePolicy {
    fn from(p: PolicyArg) -> Self {
        match p {
            PolicyArg::None => ExistingResourcePolicy::None,
            PolicyArg::Update => ExistingResourcePolicy::Update,
        }
    }
}

#[derive(Args, Debug)]
struct RestoreCreateArgs {
    /// The restore's name, unique in the vault. Example: shop-r
    name: String,
    /// The backup to restore. Example: --from-backup shop-b
    #[arg(long, value_name = "BACKUP")]
    from_backup: String,
    #[command(flatten)]
    vault: VaultArg,
    #[command(flatten)]
    key: DecryptionKeyArg,
    #[command(flatten)]
    volume_data: VolumeDataArgs,
    /// The target cluster: sim:<release>[:<folder>], kube or kube:<context>. Example: --cluster sim:1.28:./cluster-128
    #[arg(long, value_name = "CLUSTER")]
    cluster: ClusterArg,
    /// Restore namespaces under other names, old:new. Example: --namespace-mapping shop:shop-copy,web:web-copy
    #[arg(long, value_delimiter = ',', value_name = "OLD:NEW,…")]
    namespace_mapping: Vec<String>,
    /// Replace image registry prefixes, from=to. Example: --image-registry-mapping docker.io/library/=registry.example.com/mirror/
    #[arg(long, value_delimiter = ',', value_name = "FROM=TO,…")]
    image_registry_mapping: Vec<String>,
    /// A change-image case in the FAQ's format, repeatable: "app1:v1,app2:v2", "app1,app2", "v1:v2" or full references. Example: --change-image 'nginx:1.17,nginx:1.25'
    #[arg(long, value_name = "CASE")]
    change_image: Vec<String>,
    /// Convert PVCs (and PVs) to other StorageClasses, old=new. Example: --storage-class-mapping alicloud-disk-ssd=alicloud-disk-topology-alltype
    #[arg(long, value_delimiter = ',', value_name = "OLD=NEW,…")]
    storage_class_mapping: Vec<String>,
    /// Access modes for claims converted to another StorageClass. Example: --convert-to-access-modes ReadWriteOnce
    #[arg(long, value_delimiter = ',', value_name = "MODE,…")]
    convert_to_access_modes: Vec<String>,
    /// Keep healthCheckNodePort of LoadBalancer Services with externalTrafficPolicy Local (node ports are always kept).
    #[arg(long)]
    preserve_node_ports: bool,
    /// What to do with objects that already exist. Example: --existing-resource-policy update
    #[arg(long, value_enum, default_value_t = PolicyArg::None)]
    existing_resource_policy: PolicyArg,
    #[command(flatten)]
    scope: ScopeArgs,
    /// Compute the plan and the final objects without writing anything. Example: --dry-run -o json
    #[arg(long)]
    dry_run: bool,
    /// Restore only these snapshotted PersistentVolumeClaims and their data, optionally under another namespace and name. Example: --include-volumes shop/data=shop-copy/data-restored
    #[arg(long, value_delimiter = ',', value_name = "NS/PVC[=NS/PVC],…")]
    include_volumes: Vec<String>,
    /// Before the first write, send every final object to the target with dryRun=All; any rejection stops the restore (exit 1), naming the object. Objects in namespaces or of CRDs the restore creates are checked once those exist, before any of them is written (with --dry-run they are reported as not checked). Example: --preflight
    #[arg(long)]
    preflight: bool,
    /// The volumes a StorageClass conversion of the backup made (`csdr convert create -o json` output): claims whose class --storage-class-mapping converts to the class they were converted to are restored from their snapshots instead of their files. Example: --converted-volumes shop-b-converted.json
    #[arg(long, value_name = "FILE")]
    converted_volumes: Option<std::path::PathBuf>,
    #[command(flatten)]
    output: OutputArg,
}

#[derive(Subcommand, Debug)]
enum VaultCommand {
    /// Check a vault by a real round trip; prints Available or Unavailable: <reason>.
    #[command(
        after_help = "Examples:\n  csdr vault validate file:///tmp/csdr-vault\n  csdr vault validate 's3://backups/csdr?endpoint=http://127.0.0.1:9000&path_style=true' --vault-timeout 5s\n\nExit code: 0 Available, 1 Unavailable."
    )]
    Validate {
        /// The vault URL. Example: file:///tmp/csdr-vault
        #[arg(value_name = "VAULT")]
        vault: String,
    },
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// The backup to check. Example: --from-backup shop-b
    #[arg(long, value_name = "BACKUP")]
    from_backup: String,
    #[command(flatten)]
    vault: VaultArg,
    /// The Kubernetes release to check against (1.16 to 1.32). Example: --target-release 1.30
    #[arg(long, value_name = "RELEASE")]
    target_release: csdr::core::releases::KubeRelease,
    #[command(flatten)]
    output: OutputArg,
}

#[derive(Subcommand, Debug)]
enum ClusterCommand {
    /// Serve a simulated cluster over HTTP on 127.0.0.1 until Ctrl-C, for kubectl.
    #[command(
        after_help = "Examples:\n  csdr cluster serve --release 1.16 --state ./cluster-116 --port 8116\n  kubectl --server http://127.0.0.1:8116 get ns\n\nThe URL is printed on stdout. With --state the folder is loaded at start and saved on Ctrl-C."
    )]
    Serve {
        /// The Kubernetes release to simulate. Example: --release 1.28
        #[arg(long, value_name = "RELEASE")]
        release: csdr::core::releases::KubeRelease,
        /// A folder of YAML files holding the cluster's state. Example: --state ./cluster-128
        #[arg(long, value_name = "FOLDER")]
        state: Option<std::path::PathBuf>,
        /// The port on 127.0.0.1; 0 picks a free one. Example: --port 8080
        #[arg(long, default_value_t = 0, value_name = "N")]
        port: u16,
        /// Keep simulated kubelets in this folder: <DIR>/nodes/<node>/kubelet per node, pods' volumes linked to <DIR>/volumes/<pv>; re-synced after every write. DaemonSets and Jobs get their pods, and pods of csdr's image (csdr install's node agents) run as processes of this program, logging to <DIR>/nodes/<node>/logs. Example: --kubelet-dir ./kubelets
        #[arg(long, value_name = "DIR")]
        kubelet_dir: Option<std::path::PathBuf>,
    },
}

#[derive(Args, Debug)]
struct GcArgs {
    #[command(flatten)]
    vault: VaultArg,
    /// Collect as if it were this instant (RFC 3339); now by default. Example: --now 2027-01-01T00:00:00Z
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    /// The cluster holding the backups' volume snapshots, deleted with them; without it they are listed. Example: --cluster kube
    #[arg(long, value_name = "CLUSTER")]
    cluster: Option<ClusterArg>,
    #[command(flatten)]
    output: OutputArg,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    csdr::core::model::duration_text::parse(text)
}

/// A command's failure: its message goes to stderr, the exit code says how bad it was.
#[derive(Debug)]
pub struct CliError {
    message: String,
    code: u8,
}

impl CliError {
    /// A failure (exit code 1).
    pub fn failed(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code: 1,
        }
    }
}

/// The exit code of a job's phase: 0 Completed, 2 PartiallyFailed, 1 Failed (or unfinished).
pub fn phase_exit(phase: JobPhase) -> u8 {
    match phase {
        JobPhase::Completed => 0,
        JobPhase::PartiallyFailed => 2,
        JobPhase::Failed | JobPhase::InProgress => 1,
    }
}

fn init_logs(verbose: u8) {
    let level = match verbose {
        0 => "error",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// The in-cluster commands (`install`, `server`), parsed beside [`Command`].
enum ClusterMode {
    Install(install::InstallArgs),
    Server(Box<server::ServerArgs>),
    NodeAgent(Box<node_agent::NodeAgentArgs>),
}

/// What the command line asks for.
enum Parsed {
    /// A command of [`Cli`].
    Cli(Box<Cli>),
    /// An in-cluster command, with `-v` and `--vault-timeout`.
    Cluster(ClusterMode, u8, Duration),
}

/// Parses the command line: the in-cluster subcommands, or [`Cli`].
fn parse() -> Result<Parsed, clap::Error> {
    let command = Cli::command()
        .subcommand(install::InstallArgs::augment_args(clap::Command::new("install"))
                .about("Install the backup center into a cluster (namespace csdr, CRDs, RBAC, csdr-config, the controller)")
                .after_help("Examples:\n  csdr install --dry-run -o yaml\n  csdr install --cluster kube:prod --image registry.example.com/csdr:0.1.0"),
        )
        .subcommand(server::ServerArgs::augment_args(clap::Command::new("server"))
                .about("Run the backup center controller: reconcile BackupLocations, ApplicationBackups, ApplicationRestores, BackupSchedules and DeleteRequests until SIGTERM")
                .after_help("Examples:\n  csdr server --cluster kube --namespace csdr --metrics-port 8080"),
        )
        .subcommand(node_agent::NodeAgentArgs::augment_args(clap::Command::new("node-agent"))
                .about("Run the node agent of one node: back up and restore the volume files of its PodVolumeBackups and PodVolumeRestores, one at a time, until SIGTERM")
                .after_help("Examples:\n  csdr node-agent --cluster kube --node cn-hangzhou.192.168.0.1\n  NODE_NAME=node-a csdr node-agent --cluster kube"),
        );
    let matches = command.try_get_matches()?;
    let verbose = matches.get_count("verbose");
    let vault_timeout = matches
        .get_one::<Duration>("vault_timeout")
        .copied()
        .unwrap_or(Duration::from_secs(60));
    Ok(match matches.subcommand() {
        Some(("install", m)) => Parsed::Cluster(
            ClusterMode::Install(install::InstallArgs::from_arg_matches(m)?),
            verbose,
            vault_timeout,
        ),
        Some(("server", m)) => Parsed::Cluster(
            ClusterMode::Server(Box::new(server::ServerArgs::from_arg_matches(m)?)),
            verbose,
            vault_timeout,
        ),
        Some(("node-agent", m)) => Parsed::Cluster(
            ClusterMode::NodeAgent(Box::new(node_agent::NodeAgentArgs::from_arg_matches(m)?)),
            verbose,
            vault_timeout,
        ),
        _ => Parsed::Cli(Box::new(Cli::from_arg_matches(&matches)?)),
    })
}

fn main() -> ExitCode {
    let parsed = match parse() {
        Ok(parsed) => parsed,
        Err(e) => {
            // --help and --version are successes; every usage error exits 1 (clap says 2).
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let cli = match parsed {
        Parsed::Cli(cli) => *cli,
        Parsed::Cluster(mode, verbose, vault_timeout) => {
            init_logs(verbose);
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: cannot start the async runtime: {e}");
                    return ExitCode::from(1);
                }
            };
            let result = runtime.block_on(async move {
                match mode {
                    ClusterMode::Install(args) => install::run(args).await,
                    ClusterMode::Server(args) => server::run(*args, vault_timeout).await,
                    ClusterMode::NodeAgent(args) => node_agent::run(*args, vault_timeout).await,
                }
            });
            return match result {
                Ok(code) => ExitCode::from(code),
                Err(e) => {
                    eprintln!("error: {}", e.message);
                    ExitCode::from(e.code)
                }
            };
        }
    };
    init_logs(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}
