//! Why a job stopped: [`JobError`], the engine's typed failure with its source error, and
//! the [`JobFailure`] it becomes in the report and the record.

use std::error::Error as StdError;

use crate::model::{FailureKind, JobFailure};
use crate::ports::cluster::ClusterError;
use crate::ports::vault::VaultError;

/// A failure that ends a job: its kind, whether it is transient, an optional context put
/// before the error's message, and the error itself (its `source()` chain is kept).
#[derive(Debug)]
pub(crate) struct JobError {
    kind: FailureKind,
    transient: bool,
    context: Option<String>,
    error: Box<dyn StdError + Send + Sync + 'static>,
}

/// A failure that is only a message (a timeout, a missing backup).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Message(String);

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.context {
            Some(c) => write!(f, "{c}: {}", self.error),
            None => write!(f, "{}", self.error),
        }
    }
}

impl StdError for JobError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.context {
            // With a context, the error itself is the first cause.
            Some(_) => Some(self.error.as_ref()),
            None => self.error.source(),
        }
    }
}

impl JobError {
    /// A failure of `kind` with only a message.
    pub(crate) fn message(kind: FailureKind, message: impl Into<String>) -> Self {
        JobError {
            kind,
            transient: false,
            context: None,
            error: Box::new(Message(message.into())),
        }
    }

    /// A failure of `kind` caused by `error`.
    pub(crate) fn new(
        kind: FailureKind,
        transient: bool,
        error: impl StdError + Send + Sync + 'static,
    ) -> Self {
        JobError {
            kind,
            transient,
            context: None,
            error: Box::new(error),
        }
    }

    /// The same failure, its message prefixed by `context` (the error becomes a cause).
    pub(crate) fn context(mut self, context: impl Into<String>) -> Self {
        self.context = Some(match self.context.take() {
            Some(inner) => format!("{}: {inner}", context.into()),
            None => context.into(),
        });
        self
    }

    /// The failure as the report and the record keep it: the whole message, and as causes
    /// the wrapped error (when there is a context) and its own sources.
    pub(crate) fn failure(&self) -> JobFailure {
        JobFailure::from_error(self.kind, self.transient, self)
    }
}

impl From<VaultError> for JobError {
    fn from(e: VaultError) -> Self {
        let kind = match e {
            VaultError::Integrity { .. } | VaultError::Corrupt { .. } => FailureKind::Integrity,
            _ => FailureKind::Vault,
        };
        JobError::new(kind, e.is_transient(), e)
    }
}

impl From<ClusterError> for JobError {
    fn from(e: ClusterError) -> Self {
        JobError::new(FailureKind::Cluster, e.is_transient(), e)
    }
}

impl From<crate::Error> for JobError {
    fn from(e: crate::Error) -> Self {
        match e {
            crate::Error::Vault(v) => v.into(),
            crate::Error::Archive(_) | crate::Error::Contents(_) => {
                JobError::new(FailureKind::Integrity, false, e)
            }
            _ => JobError::new(FailureKind::Spec, false, e),
        }
    }
}

macro_rules! via_core_error {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for JobError {
            fn from(e: $t) -> Self {
                crate::Error::from(e).into()
            }
        }
    )*};
}

via_core_error!(
    crate::selection::SelectionError,
    crate::archive::ArchiveError,
    crate::plan::PlanError,
    crate::plan::contents::ContentsError,
);

impl From<crate::vault_record::RecordError> for JobError {
    fn from(e: crate::vault_record::RecordError) -> Self {
        JobError::new(FailureKind::Vault, false, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_keeps_its_kind_message_and_causes() {
        let e = JobError::from(VaultError::Unreachable {
            endpoint: "http://s3".into(),
            reason: "connection refused".into(),
            source: None,
        })
        .context("starting the upload");
        let f = e.failure();
        assert_eq!(f.kind, FailureKind::Vault);
        assert!(f.transient);
        assert_eq!(
            f.message,
            "starting the upload: VaultError: endpoint http://s3 unreachable: connection refused; check the endpoint and the network (internal or public access)"
        );
        assert_eq!(
            f.causes,
            vec!["VaultError: endpoint http://s3 unreachable: connection refused; check the endpoint and the network (internal or public access)".to_string()]
        );
        let source = e.source().map(ToString::to_string).unwrap_or_default();
        assert!(source.starts_with("VaultError: endpoint"), "{source}");

        let integrity = JobError::from(VaultError::Integrity {
            key: "k".into(),
            reason: "r".into(),
        });
        assert_eq!(integrity.failure().kind, FailureKind::Integrity);
    }
}
