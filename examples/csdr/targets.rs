//! `<CLUSTER>` and `<VAULT>` arguments: what they name and how they are opened.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use csdr::core::crypto::KeyEncryptionKey;
use csdr::core::model::VaultSpec;
use csdr::core::ports::cluster::Cluster;
use csdr::core::ports::pod_volume::PodVolumeMover;
use csdr::core::ports::snapshot::{CsiSnapshotter, VolumeSnapshotter};
use csdr::core::ports::vault::Vault;
use csdr::core::releases::KubeRelease;
use csdr::core::sim::SimCluster;
use csdr::kube::KubeCluster;
use csdr::sim_folder;
use csdr::sim_kubelet::{SimKubelet, SimKubeletMover};
use csdr::storage::volume::{KubeletVolumeMover, MoverKey, RepositoryKey};
use csdr::storage::{AgeKey, BlobVault, KmsKey, StorageOptions};

use crate::CliError;

/// A `<CLUSTER>` argument: `sim:<release>[:<folder>]`, `kube` or `kube:<context>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterArg {
    /// The simulated cluster of a release, its state in a folder (none: starts empty, not kept).
    Sim {
        /// The Kubernetes release it serves.
        release: KubeRelease,
        /// Where its state is loaded from and saved to.
        folder: Option<PathBuf>,
    },
    /// A real cluster from the kubeconfig: its current context, or the named one.
    Kube {
        /// The kubeconfig context; the current one when `None`.
        context: Option<String>,
    },
}

impl FromStr for ClusterArg {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut parts = text.splitn(3, ':');
        match parts.next().unwrap_or_default() {
            "sim" => {
                let release = parts.next().filter(|r| !r.is_empty()).ok_or_else(|| {
                    format!("`{text}` names no release; write sim:<release>[:<folder>], e.g. sim:1.16:./cluster-116")
                })?;
                let release: KubeRelease = release.parse().map_err(|e| format!("`{text}`: {e}"))?;
                let folder = parts.next().filter(|f| !f.is_empty()).map(PathBuf::from);
                Ok(ClusterArg::Sim { release, folder })
            }
            "kube" => {
                let context = text
                    .strip_prefix("kube:")
                    .filter(|c| !c.is_empty())
                    .map(str::to_string);
                Ok(ClusterArg::Kube { context })
            }
            _ => Err(format!(
                "`{text}` is not a cluster; write sim:<release>[:<folder>], kube or kube:<context>"
            )),
        }
    }
}

/// An opened cluster.
pub enum OpenCluster {
    /// A simulated one, saved back to its folder by [`OpenCluster::save`].
    Sim {
        /// The cluster.
        sim: SimCluster,
        /// Its folder, if it has one.
        folder: Option<PathBuf>,
    },
    /// A real one; kube's configuration is kept to open a second client for the snapshotter.
    Kube {
        /// The cluster.
        cluster: Arc<KubeCluster>,
        /// The configuration it was built from.
        config: Box<kube::Config>,
    },
}

impl OpenCluster {
    /// Opens (loads or connects to) a cluster.
    pub async fn open(arg: &ClusterArg) -> Result<OpenCluster, CliError> {
        match arg {
            ClusterArg::Sim { release, folder } => {
                let sim = match folder {
                    Some(folder) => sim_folder::load(*release, folder)
                        .map_err(|e| CliError::failed(format!("--cluster: {e}")))?,
                    None => SimCluster::new(*release),
                };
                tracing::info!(release = %release, objects = sim.object_count(), "simulated cluster loaded");
                Ok(OpenCluster::Sim {
                    sim,
                    folder: folder.clone(),
                })
            }
            ClusterArg::Kube { context } => {
                let config = match context {
                    None => kube::Config::infer().await.map_err(|e| {
                        CliError::failed(format!("--cluster kube: cannot read the kubeconfig: {e}"))
                    })?,
                    Some(ctx) => kube::Config::from_kubeconfig(&kube::config::KubeConfigOptions {
                        context: Some(ctx.clone()),
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| {
                        CliError::failed(format!(
                            "--cluster kube:{ctx}: cannot use kubeconfig context {ctx:?}: {e}"
                        ))
                    })?,
                };
                let cluster = KubeCluster::from_config(config.clone())
                    .map_err(|e| CliError::failed(format!("--cluster: {e}")))?;
                Ok(OpenCluster::Kube {
                    cluster: Arc::new(cluster),
                    config: Box::new(config),
                })
            }
        }
    }

    /// The cluster as the engine's port.
    pub fn cluster(&self) -> Arc<dyn Cluster> {
        match self {
            OpenCluster::Sim { sim, .. } => Arc::new(sim.clone()),
            OpenCluster::Kube { cluster, .. } => cluster.clone(),
        }
    }

    /// A CSI volume snapshotter working on the same cluster.
    pub fn snapshotter(&self) -> Result<Arc<dyn VolumeSnapshotter>, CliError> {
        Ok(match self {
            OpenCluster::Sim { sim, .. } => Arc::new(CsiSnapshotter::new(sim.clone())),
            OpenCluster::Kube { config, .. } => {
                let cluster = KubeCluster::from_config(config.as_ref().clone())
                    .map_err(|e| CliError::failed(format!("--cluster: {e}")))?;
                Arc::new(CsiSnapshotter::new(cluster))
            }
        })
    }

    /// The mover of volumes' files (D1–D4) for `--kubelet-dir`: the kubelet mover over the
    /// simulated kubelet's folders, the repository key from `--repository-password-file`,
    /// `CSDR_REPOSITORY_PASSWORD` or else the backup's key-encryption key. `None` without
    /// `--kubelet-dir`.
    pub async fn pod_volume_mover(
        &self,
        args: &crate::VolumeDataArgs,
        vault: &VaultSpec,
        timeout: Duration,
        kek: Option<Arc<dyn KeyEncryptionKey>>,
    ) -> Result<Option<Arc<dyn PodVolumeMover>>, CliError> {
        let Some(dir) = &args.kubelet_dir else {
            return Ok(None);
        };
        let OpenCluster::Sim { sim, .. } = self else {
            return Err(CliError::failed(
                "--kubelet-dir is for simulated clusters; in a real cluster the node agents copy volumes' files (csdr install, csdr server)",
            ));
        };
        let key = if let Some(file) = &args.repository_password_file {
            MoverKey::Key(
                RepositoryKey::from_file(file)
                    .map_err(|e| CliError::failed(format!("--repository-password-file: {e}")))?,
            )
        } else if let Some(key) =
            RepositoryKey::from_env().map_err(|e| CliError::failed(e.to_string()))?
        {
            MoverKey::Key(key)
        } else if let Some(kek) = kek {
            MoverKey::Kek {
                kek,
                random: csdr::storage::os_random(),
            }
        } else {
            return Err(CliError::failed(format!(
                "--kubelet-dir: no volume repository key: give --repository-password-file <FILE>, set {}, or encrypt the backup (--encryption-key)",
                csdr::storage::volume::REPOSITORY_PASSWORD_ENV
            )));
        };
        let kubelet = SimKubelet::new(dir);
        let inner =
            KubeletVolumeMover::open(vault, &storage_options(timeout), key, kubelet.roots())
                .await
                .map_err(|e| CliError::failed(format!("--kubelet-dir: {e}")))?;
        Ok(Some(Arc::new(SimKubeletMover::new(
            sim.clone(),
            kubelet,
            Arc::new(inner),
        ))))
    }

    /// Saves a simulated cluster's state to its folder (nothing to do otherwise).
    pub fn save(&self) -> Result<(), CliError> {
        if let OpenCluster::Sim {
            sim,
            folder: Some(folder),
        } = self
        {
            sim_folder::save(sim, folder)
                .map_err(|e| CliError::failed(format!("--cluster: saving the state: {e}")))?;
            tracing::info!(folder = %folder.display(), "simulated cluster saved");
        }
        Ok(())
    }
}

/// Client settings for `<VAULT>`: `timeout` bounds connecting and retrying.
pub fn storage_options(timeout: Duration) -> StorageOptions {
    StorageOptions {
        connect_timeout: Some(timeout),
        retry_timeout: Some(timeout),
        ..StorageOptions::default()
    }
}

/// Opens a vault by URL under the vault name (V3: a location belongs to one vault name).
pub async fn open_vault(
    url: &str,
    name: &str,
    timeout: Duration,
) -> Result<Arc<dyn Vault>, CliError> {
    open_vault_with_key(url, name, timeout, None).await
}

/// A `kms://…` spec's key, or an `age1…` recipient's (which wraps only).
pub fn key_of_spec(spec: &str) -> Result<Arc<dyn KeyEncryptionKey>, csdr::storage::StorageError> {
    if spec.starts_with("kms://") {
        Ok(Arc::new(KmsKey::from_spec(spec)?))
    } else {
        Ok(Arc::new(AgeKey::recipient(spec)?))
    }
}

/// The key-encryption key of `--encryption-key <age1…|kms://…>`, if given.
pub fn encryption_key(spec: Option<&str>) -> Result<Option<Arc<dyn KeyEncryptionKey>>, CliError> {
    spec.map(|s| key_of_spec(s).map_err(|e| CliError::failed(format!("--encryption-key: {e}"))))
        .transpose()
}

/// The key-encryption key of `--decryption-key-file <identity>` or
/// `--decryption-key <kms://…>`, if given.
pub fn decryption_key(
    arg: &crate::DecryptionKeyArg,
) -> Result<Option<Arc<dyn KeyEncryptionKey>>, CliError> {
    if let Some(f) = &arg.decryption_key_file {
        return AgeKey::from_identity_file(f)
            .map(|k| Some(Arc::new(k) as Arc<dyn KeyEncryptionKey>))
            .map_err(|e| CliError::failed(format!("--decryption-key-file: {e}")));
    }
    match &arg.decryption_key {
        None => Ok(None),
        Some(spec) if spec.starts_with("kms://") => KmsKey::from_spec(spec)
            .map(|k| Some(Arc::new(k) as Arc<dyn KeyEncryptionKey>))
            .map_err(|e| CliError::failed(format!("--decryption-key: {e}"))),
        Some(_) => Err(CliError::failed(
            "--decryption-key takes a kms://… key; pass an age identity with --decryption-key-file",
        )),
    }
}

/// [`open_vault`], encrypting new backups and opening encrypted ones with `kek` (E2).
pub async fn open_vault_with_key(
    url: &str,
    name: &str,
    timeout: Duration,
    kek: Option<Arc<dyn KeyEncryptionKey>>,
) -> Result<Arc<dyn Vault>, CliError> {
    let spec = VaultSpec {
        name: name.to_string(),
        url: url.to_string(),
        region: None,
        network: None,
    };
    let vault = csdr::storage::open(&spec, &storage_options(timeout))
        .await
        .map_err(|e| CliError::failed(format!("--vault {url}: {e}")))?;
    Ok(match kek {
        Some(kek) => Arc::new(vault.with_encryption(kek, csdr::storage::os_random())),
        None => Arc::new(vault),
    })
}

/// Connects to a vault without checking its identity (for `vault validate`, which reports
/// every problem as `Unavailable`).
pub fn connect_vault(url: &str, name: &str, timeout: Duration) -> Result<BlobVault, String> {
    let spec = VaultSpec {
        name: name.to_string(),
        url: url.to_string(),
        region: None,
        network: None,
    };
    csdr::storage::connect(&spec, &storage_options(timeout)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_arguments() {
        assert_eq!(
            "sim:1.16:./state".parse::<ClusterArg>().unwrap(),
            ClusterArg::Sim {
                release: KubeRelease::V1_16,
                folder: Some(PathBuf::from("./state"))
            }
        );
        assert_eq!(
            "sim:1.28".parse::<ClusterArg>().unwrap(),
            ClusterArg::Sim {
                release: KubeRelease::V1_28,
                folder: None
            }
        );
        assert_eq!(
            "kube:prod".parse::<ClusterArg>().unwrap(),
            ClusterArg::Kube {
                context: Some("prod".into())
            }
        );
        assert_eq!(
            "kube".parse::<ClusterArg>().unwrap(),
            ClusterArg::Kube { context: None }
        );
        assert!("sim".parse::<ClusterArg>().is_err());
        assert!("sim:1.99".parse::<ClusterArg>().is_err());
        assert!("k8s".parse::<ClusterArg>().is_err());
    }
}
