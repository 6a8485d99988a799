//! `csdr install`: prints (`--dry-run -o yaml`) or applies (`--cluster`) the backup center —
//! namespace, CRDs, RBAC, `csdr-config`, the controller Deployment — with server-side apply,
//! idempotently. An existing `csdr-config` is kept: it is the operator's to edit.

use clap::Args;
use csdr::kube::controller::install::{FIELD_MANAGER, InstallOptions, install_manifests};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{Scope, pinned_kind};

use crate::targets::{ClusterArg, OpenCluster};
use crate::{CliError, Output};

/// `csdr install` arguments.
#[derive(Args, Debug)]
pub struct InstallArgs {
    /// The cluster to install into: kube or kube:<context>. Example: --cluster kube:prod
    #[arg(long, value_name = "CLUSTER", required_unless_present = "dry_run")]
    pub cluster: Option<ClusterArg>,
    /// Print the manifests instead of applying them.
    #[arg(long)]
    pub dry_run: bool,
    /// The output format of --dry-run. Example: -o yaml
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Yaml)]
    pub output: Output,
    /// The namespace of the backup center.
    #[arg(long, default_value = "csdr", value_name = "NAMESPACE")]
    pub namespace: String,
    /// The controller image. Example: --image registry.example.com/csdr:0.1.0
    #[arg(long, default_value = "csdr:latest", value_name = "IMAGE")]
    pub image: String,
    /// Controller replicas; more than one elect a leader.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub replicas: u32,
    /// The node scheduling policy of the node agents (exclude, include or prefer), written to a new csdr-config; an existing csdr-config's policy wins when installing into a cluster. Example: --node-schedule-policy include
    #[arg(long, default_value = "exclude", value_parser = parse_policy, value_name = "POLICY")]
    pub node_schedule_policy: csdr::core::node_policy::NodeSchedulePolicy,
    /// Also create the FAQ's csdr-disk-snapshot-with-default-ttl VolumeSnapshotClass (Retain, Alibaba Cloud disks, retentionDays 30), csdr's default snapshot class for disks.
    #[arg(long)]
    pub default_snapshot_class: bool,
}

fn parse_policy(text: &str) -> Result<csdr::core::node_policy::NodeSchedulePolicy, String> {
    text.parse()
        .map_err(|e: csdr::core::node_policy::NodePolicyError| e.to_string())
}

/// A kube client for a `--cluster` that names a real (or served) API server.
pub async fn client_for(arg: &ClusterArg, command: &str) -> Result<kube::Client, CliError> {
    if let ClusterArg::Sim { .. } = arg {
        return Err(CliError::failed(format!(
            "--cluster: `csdr {command}` needs an API server; serve the simulated cluster with `csdr cluster serve` and pass --cluster kube with a kubeconfig pointing at it"
        )));
    }
    match OpenCluster::open(arg).await? {
        OpenCluster::Kube { config, .. } => kube::Client::try_from(*config)
            .map_err(|e| CliError::failed(format!("--cluster: cannot build a client: {e}"))),
        OpenCluster::Sim { .. } => Err(CliError::failed("--cluster: not an API server")),
    }
}

/// Runs `csdr install`.
pub async fn run(args: InstallArgs) -> Result<u8, CliError> {
    let options = InstallOptions {
        namespace: args.namespace.clone(),
        image: args.image.clone(),
        replicas: args.replicas,
        node_schedule_policy: args.node_schedule_policy,
        ..InstallOptions::default()
    };
    let mut options = options;
    if !args.dry_run
        && let Some(cluster) = &args.cluster
    {
        // The DaemonSet follows the policy of the csdr-config already in the cluster.
        let client = client_for(cluster, "install").await?;
        let config_maps: Api<k8s_openapi::api::core::v1::ConfigMap> =
            Api::namespaced(client, &options.namespace);
        let existing = config_maps
            .get_opt(csdr::core::config::CONFIGMAP_NAME)
            .await
            .map_err(|e| CliError::failed(format!("reading csdr-config: {e}")))?;
        if let Some(cm) = existing {
            let config =
                csdr::core::config::Config::from_configmap_data(&cm.data.unwrap_or_default())
                    .map_err(|e| CliError::failed(format!("the existing csdr-config: {e}")))?;
            options.node_schedule_policy = config.application_backup.node_schedule_policy;
        }
    }
    let mut manifests = install_manifests(&options)
        .map_err(|e| CliError::failed(format!("the default csdr-config: {e}")))?;
    if args.default_snapshot_class {
        manifests.push(csdr::core::ports::snapshot::default_ttl_snapshot_class(30));
    }
    if args.dry_run {
        let text = match args.output {
            Output::Json => serde_json::to_string_pretty(&serde_json::json!({
                "apiVersion": "v1", "kind": "List", "items": manifests
            }))
            .map_err(|e| CliError::failed(e.to_string()))?,
            Output::Yaml | Output::Table => {
                let mut out = String::new();
                for m in &manifests {
                    out.push_str("---\n");
                    out.push_str(
                        &serde_yaml_ng::to_string(m)
                            .map_err(|e| CliError::failed(e.to_string()))?,
                    );
                }
                out
            }
        };
        print!("{text}");
        return Ok(0);
    }
    let Some(cluster) = &args.cluster else {
        return Err(CliError::failed("--cluster is required unless --dry-run"));
    };
    let client = client_for(cluster, "install").await?;
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for manifest in manifests {
        let api_version = manifest["apiVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let kind = manifest["kind"].as_str().unwrap_or_default().to_string();
        let name = manifest["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.clone()),
        };
        let gvk = GroupVersionKind::gvk(&group, &version, &kind);
        let (resource, caps) = pinned_kind(&client, &gvk).await.map_err(|e| {
            CliError::failed(format!(
                "{kind} {name}: the cluster does not serve {api_version} {kind}: {e}"
            ))
        })?;
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Namespaced => {
                Api::namespaced_with(client.clone(), &options.namespace, &resource)
            }
            Scope::Cluster => Api::all_with(client.clone(), &resource),
        };
        let shown = format!("{}/{name}", resource.plural);
        if kind == "ConfigMap"
            && api
                .get_opt(&name)
                .await
                .map_err(|e| CliError::failed(format!("{shown}: {e}")))?
                .is_some()
        {
            println!(
                "{shown} unchanged (kept: edit it with kubectl -n {} edit cm {name})",
                options.namespace
            );
            continue;
        }
        api.patch(&name, &params, &Patch::Apply(&manifest))
            .await
            .map_err(|e| CliError::failed(format!("applying {shown}: {e}")))?;
        println!("{shown} serverside-applied");
    }
    Ok(0)
}
