//! The facade's one error type: what can go wrong keeping a simulated cluster's folder, its
//! kubelets' folders and its pods' processes. Each message names the file, folder or resource
//! and says what to do.

use std::path::{Path, PathBuf};

use csdr_core::ports::cluster::ClusterError;
use csdr_core::sim::DocumentError;

/// Why a simulated cluster's folder ([`crate::sim_folder`]), kubelets
/// ([`crate::sim_kubelet`]) or pods ([`crate::sim_workloads`]) could not be loaded, saved or
/// kept in step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A file, folder or symlink could not be read, written, made or removed.
    #[error("{path}: cannot {action}: {source}; check that the folder exists and is writable")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// `read`, `write`, `rename`, `remove`, `list`, `create folder`, `link`, `resolve`.
        action: &'static str,
        /// The system's error.
        source: std::io::Error,
    },
    /// A file is not UTF-8 text.
    #[error("{path}: not UTF-8 text; save it as UTF-8")]
    NotText {
        /// The file.
        path: PathBuf,
    },
    /// A document of a cluster folder could not be loaded into the cluster.
    #[error("{folder}/{document}; correct or remove that document")]
    Document {
        /// The folder.
        folder: String,
        /// The core's error, naming the file (relative to the folder) and document.
        document: DocumentError,
    },
    /// An object could not be exported for saving.
    #[error("{folder}: cannot save {document}")]
    Export {
        /// The folder.
        folder: String,
        /// The core's error, naming the object.
        document: DocumentError,
    },
    /// The simulated cluster's objects could not be read or written.
    #[error("the simulated kubelet cannot list {resource}: {source}")]
    Cluster {
        /// The resource.
        resource: String,
        /// The cluster's error.
        source: ClusterError,
    },
}

/// A mapper from an I/O error on `path` to [`SimError::Io`].
pub(crate) fn io(path: &Path, action: &'static str) -> impl FnOnce(std::io::Error) -> SimError {
    let path = path.to_path_buf();
    move |source| SimError::Io {
        path,
        action,
        source,
    }
}
