//! `csdr node-agent`: the node agent of one node (D3), run by the `csdr-node-agent`
//! DaemonSet that `csdr install` applies: it runs the node's PodVolumeBackups and
//! PodVolumeRestores one at a time (`csdr_kube::controller::node_agent::run_node_agent`),
//! copying volume files under the kubelet's folder (`KUBELET_ROOT_PATH`), until SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use csdr::core::ports::pod_volume::PodVolumeMover;
use csdr::kube::controller::node_agent::{
    NodeAgentOptions, REPOSITORY_KEY_SECRET, repository_password, run_node_agent,
};

use crate::targets::ClusterArg;
use crate::{CliError, parse_duration};

/// `csdr node-agent` arguments.
#[derive(Args, Debug)]
pub struct NodeAgentArgs {
    /// The cluster: kube or kube:<context> (in a pod, the pod's service account). Example: --cluster kube
    #[arg(long, value_name = "CLUSTER")]
    pub cluster: ClusterArg,
    /// The namespace of the backup center.
    #[arg(long, default_value = "csdr", value_name = "NAMESPACE")]
    pub namespace: String,
    /// The node this agent serves; from NODE_NAME by default (the DaemonSet sets it). Example: --node cn-hangzhou.192.168.0.1
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
    /// The kubelet's root folder on the node, mounted into the agent; from KUBELET_ROOT_PATH by default, else /var/lib/kubelet.
    #[arg(long, value_name = "PATH")]
    pub kubelet_root: Option<PathBuf>,
    /// How often the agent lists its volume jobs besides watching them.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub resync: Duration,
}

/// INTEGRATION POINT: the mover doing the file work on this node.
///
/// It is to be `csdr_storage::volume::mover::KubeletVolumeMover` over `kubelet_root`,
/// opening the repositories in `vault` with `password` (the Secret
/// `csdr/csdr-repository-key`); that type is not on this branch yet, so this returns an
/// error and `csdr node-agent` stops before taking any job.
fn local_mover(
    kubelet_root: &std::path::Path,
    password: &str,
) -> Result<Arc<dyn PodVolumeMover>, CliError> {
    let _ = password;
    Err(CliError::failed(format!(
        "csdr node-agent: the kubelet volume mover (over {}) is not wired yet",
        kubelet_root.display()
    )))
}

/// Runs `csdr node-agent`.
pub async fn run(args: NodeAgentArgs) -> Result<u8, CliError> {
    let node = args
        .node
        .clone()
        .or_else(|| std::env::var("NODE_NAME").ok())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            CliError::failed(
                "--node: missing; pass --node or set NODE_NAME (the DaemonSet sets it from spec.nodeName)",
            )
        })?;
    let kubelet_root = args
        .kubelet_root
        .clone()
        .or_else(|| std::env::var_os("KUBELET_ROOT_PATH").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/var/lib/kubelet"));
    let client = crate::install::client_for(&args.cluster, "node-agent").await?;
    let password = repository_password(&client, &args.namespace)
        .await
        .map_err(|e| {
            CliError::failed(format!("the repository key ({REPOSITORY_KEY_SECRET}): {e}"))
        })?;
    let local = local_mover(&kubelet_root, &password)?;
    let identity = std::env::var("POD_NAME")
        .unwrap_or_else(|_| format!("csdr-node-agent-{}", std::process::id()));
    eprintln!("csdr node-agent {identity}: serving node {node}");
    let options = NodeAgentOptions {
        namespace: args.namespace,
        node,
        identity,
        resync: args.resync,
    };
    run_node_agent(client, options, local, crate::server::terminated())
        .await
        .map_err(|e| CliError::failed(e.to_string()))?;
    Ok(0)
}
