//! `csdr server`: the in-cluster backup center controller (`csdr_kube::controller`), with
//! vaults opened by csdr-storage, until SIGTERM or Ctrl-C.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use csdr::core::crypto::KeyEncryptionKey;
use csdr::core::ports::vault::Vault;
use csdr::kube::KubeCluster;
use csdr::kube::controller::{
    Context, ControllerOptions, JobConnections, KeyRequest, Metrics, VaultOpener, VaultRequest,
    run as run_controller,
};

use crate::targets::{ClusterArg, OpenCluster, storage_options};
use crate::{CliError, parse_duration};

/// `csdr server` arguments.
#[derive(Args, Debug)]
pub struct ServerArgs {
    /// The cluster to serve: kube or kube:<context>. Example: --cluster kube
    #[arg(long, value_name = "CLUSTER")]
    pub cluster: ClusterArg,
    /// The namespace of the backup center's resources.
    #[arg(long, default_value = "csdr", value_name = "NAMESPACE")]
    pub namespace: String,
    /// The port of /metrics, /healthz and /readyz; 0 picks a free one (printed on stderr).
    #[arg(long, default_value_t = 8080, value_name = "N")]
    pub metrics_port: u16,
    /// This instance's name in the Lease and in the jobs it claims; $POD_NAME by default.
    #[arg(long, value_name = "NAME")]
    pub identity: Option<String>,
    /// How often each BackupLocation's backups are synced. Example: --sync-period 30s
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub sync_period: Duration,
    /// How often an Available BackupLocation is revalidated.
    #[arg(long, default_value = "5m", value_parser = parse_duration, value_name = "DURATION")]
    pub validation_period: Duration,
    /// How often a running job's heartbeat is renewed (two missed: the job is orphaned).
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub heartbeat_period: Duration,
    /// How long the leader Lease lasts without renewal, in seconds.
    #[arg(long, default_value_t = 15, value_name = "SECONDS")]
    pub lease_seconds: u64,
    /// On SIGTERM, how long to let running jobs finish before handing them back.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub shutdown_grace: Duration,
}

/// Opens vaults with csdr-storage: `spec.config`'s `region` and `network` become the vault's,
/// other keys override the `s3://` URL's query parameters; credentials come from the Secret.
pub struct StorageOpener {
    /// How long to keep trying to reach a vault.
    pub timeout: Duration,
}

/// The vault spec of a request: for `s3://` vaults every `spec.config` key overrides the
/// URL's query parameter of the same name (so `network`, `region` switch the endpoint); for
/// other vaults only `region` and `network` apply.
pub fn open_request(request: &VaultRequest) -> Result<csdr::core::model::VaultSpec, String> {
    let mut spec = csdr::core::model::VaultSpec {
        name: request.name.clone(),
        url: request.url.clone(),
        region: None,
        network: None,
    };
    if let Some(network) = request.config.get("network") {
        let _: csdr::core::model::VaultNetwork =
            serde_json::from_value(serde_json::Value::String(network.clone())).map_err(|_| {
                format!("spec.config.network: `{network}` is not internal or public")
            })?;
    }
    if request.url.starts_with("s3://") {
        if request.config.is_empty() {
            return Ok(spec);
        }
        let (base, query) = request
            .url
            .split_once('?')
            .unwrap_or((request.url.as_str(), ""));
        let mut params: Vec<(String, String)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .filter_map(|p| {
                p.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .filter(|(k, _)| !request.config.contains_key(k))
            .collect();
        params.extend(request.config.iter().map(|(k, v)| (k.clone(), v.clone())));
        let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        spec.url = format!("{base}?{}", query.join("&"));
        return Ok(spec);
    }
    let extra: Vec<&str> = request
        .config
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "region" && *k != "network")
        .collect();
    if !extra.is_empty() {
        return Err(format!(
            "spec.config: {} apply only to s3:// vaults",
            extra.join(", ")
        ));
    }
    spec.region = request.config.get("region").cloned();
    spec.network = request
        .config
        .get("network")
        .and_then(|n| serde_json::from_value(serde_json::Value::String(n.clone())).ok());
    Ok(spec)
}

impl StorageOpener {
    /// The request's vault, not yet keyed.
    async fn open_blob(&self, request: &VaultRequest) -> Result<csdr::storage::BlobVault, String> {
        let spec = open_request(request)?;
        let mut options = storage_options(self.timeout);
        options.credentials = request
            .credentials
            .as_ref()
            .map(|c| csdr::storage::S3Credentials {
                access_key_id: c.access_key_id.clone(),
                secret_access_key: c.secret_access_key.clone(),
                session_token: None,
            });
        csdr::storage::open(&spec, &options)
            .await
            .map_err(|e| e.to_string())
    }
}

#[csdr::kube::controller::async_trait]
impl VaultOpener for StorageOpener {
    async fn open(&self, request: &VaultRequest) -> Result<Arc<dyn Vault>, String> {
        Ok(Arc::new(self.open_blob(request).await?))
    }

    async fn key(&self, request: &KeyRequest) -> Result<Arc<dyn KeyEncryptionKey>, String> {
        match request {
            KeyRequest::Spec(spec) => crate::targets::key_of_spec(spec).map_err(|e| e.to_string()),
            KeyRequest::AgeIdentity { source, text } => {
                csdr::storage::AgeKey::from_identity_text(text, source)
                    .map(|k| Arc::new(k) as Arc<dyn KeyEncryptionKey>)
                    .map_err(|e| e.to_string())
            }
            _ => Err("this kind of key is not supported by this csdr".into()),
        }
    }

    async fn open_with_key(
        &self,
        request: &VaultRequest,
        key: Arc<dyn KeyEncryptionKey>,
    ) -> Result<Arc<dyn Vault>, String> {
        let vault = self.open_blob(request).await?;
        Ok(Arc::new(
            vault.with_encryption(key, csdr::storage::os_random()),
        ))
    }
}

pub(crate) async fn terminated() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs `csdr server`.
pub async fn run(args: ServerArgs, vault_timeout: Duration) -> Result<u8, CliError> {
    let client = crate::install::client_for(&args.cluster, "server").await?;
    let cluster = match OpenCluster::open(&args.cluster).await? {
        OpenCluster::Kube { config, .. } => Arc::new(
            KubeCluster::from_config(*config)
                .map_err(|e| CliError::failed(format!("--cluster: {e}")))?,
        ),
        OpenCluster::Sim { .. } => {
            return Err(CliError::failed("--cluster: not an API server"));
        }
    };
    // Each job connects on its own thread (see `JobConnections`).
    let job_connections = Some(JobConnections::again(cluster.clone()));
    let identity = args
        .identity
        .clone()
        .or_else(|| std::env::var("POD_NAME").ok())
        .unwrap_or_else(|| format!("csdr-controller-{}", std::process::id()));
    let metrics = Arc::new(Metrics::default());
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", args.metrics_port))
        .await
        .map_err(|e| CliError::failed(format!("--metrics-port {}: {e}", args.metrics_port)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::failed(e.to_string()))?;
    eprintln!("csdr server {identity}: metrics on http://{addr}/metrics");
    tokio::spawn(metrics.clone().serve(listener));
    let options = ControllerOptions {
        namespace: args.namespace,
        identity,
        validation_period: args.validation_period,
        sync_period: args.sync_period,
        heartbeat_period: args.heartbeat_period,
        lease_seconds: args.lease_seconds,
        shutdown_grace: args.shutdown_grace,
        job_connections,
        ..ControllerOptions::default()
    };
    let opener = Arc::new(StorageOpener {
        timeout: vault_timeout,
    });
    let ctx = Context::new(client, cluster.clone(), opener, options, metrics);
    run_controller(ctx, terminated())
        .await
        .map_err(|e| CliError::failed(e.to_string()))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(url: &str, config: &[(&str, &str)]) -> VaultRequest {
        VaultRequest {
            name: "oss".into(),
            url: url.into(),
            config: config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            credentials: None,
        }
    }

    #[test]
    fn spec_config_is_merged_into_the_url() {
        let spec = open_request(&request(
            "s3://bucket/csdr?provider=oss&network=internal&region=cn-beijing",
            &[
                ("network", "public"),
                ("region", "cn-hangzhou"),
                ("endpoint", "http://x"),
            ],
        ))
        .unwrap();
        assert_eq!(
            spec.url,
            "s3://bucket/csdr?provider=oss&endpoint=http://x&network=public&region=cn-hangzhou"
        );
        let file = open_request(&request("file:///tmp/v", &[("region", "cn-hangzhou")])).unwrap();
        assert_eq!(file.region.as_deref(), Some("cn-hangzhou"));
        assert!(open_request(&request("file:///tmp/v", &[("endpoint", "x")])).is_err());
        assert!(
            open_request(&request("s3://b", &[("network", "vpc")]))
                .unwrap_err()
                .contains("spec.config.network")
        );
    }
}
