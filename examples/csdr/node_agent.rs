//! `csdr node-agent`: the node agent of one node (D3), run by the `csdr-node-agent`
//! DaemonSet that `csdr install` applies: it runs the node's PodVolumeBackups and
//! PodVolumeRestores one at a time (`csdr_kube::controller::node_agent::run_node_agent`),
//! copying volume files under the kubelet's folder (`KUBELET_ROOT_PATH`), until SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use std::collections::HashMap;

use csdr::core::ports::pod_volume::{
    PodVolumeBackupOutcome, PodVolumeBackupRequest, PodVolumeError, PodVolumeMover,
    PodVolumeRestoreOutcome, PodVolumeRestoreRequest,
};
use csdr::kube::controller::location::vault_request;
use csdr::kube::controller::node_agent::{
    LocationMover, NodeAgentOptions, REPOSITORY_KEY_SECRET, repository_password, run_node_agent,
};
use csdr::kube::resources::BackupLocation;
use csdr::storage::S3Credentials;
use csdr::storage::volume::{KubeletRoots, KubeletVolumeMover, MoverKey, RepositoryKey};

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
    /// How long a job waits for the kubelet to mount a volume of a pod that has just started before it fails with SOURCE_NOT_EXIST.
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub mount_wait: Duration,
}

/// The node agent's file work: a [`KubeletVolumeMover`] over this node's kubelet root for
/// each BackupLocation a job names, opened on first use (the location's URL, config and
/// credential Secret, as the controller opens it) with the repository key.
struct KubeletMovers {
    client: kube::Client,
    namespace: String,
    kubelet_root: PathBuf,
    password: String,
    timeout: Duration,
    mount_wait: Duration,
    opened: tokio::sync::Mutex<HashMap<String, Arc<KubeletVolumeMover>>>,
}

impl KubeletMovers {
    async fn mover(&self, location: &str) -> Result<Arc<KubeletVolumeMover>, String> {
        if location.is_empty() {
            return Err("the volume job names no BackupLocation (spec.backupLocation)".into());
        }
        let mut opened = self.opened.lock().await;
        if let Some(mover) = opened.get(location) {
            return Ok(mover.clone());
        }
        let api: kube::Api<BackupLocation> =
            kube::Api::namespaced(self.client.clone(), &self.namespace);
        let found = api
            .get_opt(location)
            .await
            .map_err(|e| format!("cannot read BackupLocation {location}: {e}"))?
            .ok_or_else(|| {
                format!(
                    "BackupLocation {location} not found in namespace {}",
                    self.namespace
                )
            })?;
        let request = vault_request(&self.client, &self.namespace, &found)
            .await
            .map_err(|e| format!("BackupLocation {location}: {e}"))?;
        let spec = crate::server::open_request(&request)
            .map_err(|e| format!("BackupLocation {location}: {e}"))?;
        let mut options = crate::targets::storage_options(self.timeout);
        options.credentials = request.credentials.as_ref().map(|c| S3Credentials {
            access_key_id: c.access_key_id.clone(),
            secret_access_key: c.secret_access_key.clone(),
            session_token: None,
        });
        let key = RepositoryKey::new(self.password.clone(), REPOSITORY_KEY_SECRET)
            .map_err(|e| e.to_string())?;
        let mover = KubeletVolumeMover::open(
            &spec,
            &options,
            MoverKey::Key(key),
            KubeletRoots::Fixed(self.kubelet_root.clone()),
        )
        .await
        .map_err(|e| format!("BackupLocation {location}: {e}"))?
        .with_mount_wait(self.mount_wait);
        let mover = Arc::new(mover);
        opened.insert(location.to_string(), mover.clone());
        Ok(mover)
    }
}

#[csdr::kube::controller::async_trait]
impl LocationMover for KubeletMovers {
    async fn back_up_in(
        &self,
        location: &str,
        request: &PodVolumeBackupRequest,
    ) -> Result<PodVolumeBackupOutcome, PodVolumeError> {
        let mover = self
            .mover(location)
            .await
            .map_err(|reason| PodVolumeError::Repository {
                volume: request.mount.to_string(),
                reason,
            })?;
        mover.back_up(request).await
    }

    async fn restore_in(
        &self,
        location: &str,
        request: &PodVolumeRestoreRequest,
    ) -> Result<PodVolumeRestoreOutcome, PodVolumeError> {
        let mover = self
            .mover(location)
            .await
            .map_err(|reason| PodVolumeError::Repository {
                volume: request.mount.to_string(),
                reason,
            })?;
        mover.restore(request).await
    }
}

/// Runs `csdr node-agent`.
pub async fn run(args: NodeAgentArgs, vault_timeout: Duration) -> Result<u8, CliError> {
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
    let local = Arc::new(KubeletMovers {
        client: client.clone(),
        namespace: args.namespace.clone(),
        kubelet_root,
        password,
        timeout: vault_timeout,
        mount_wait: args.mount_wait,
        opened: tokio::sync::Mutex::new(HashMap::new()),
    });
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
