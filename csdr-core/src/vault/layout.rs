//! Where a vault keeps each object, relative to its prefix (V4).
//!
//! ```text
//! csdr-vault.json                                   the vault's identity (V3)
//! csdr-vault-deleted.json                           tombstone of a deleted vault (V3)
//! csdr-probe-<id>.json                              validation probes (removed at once)
//! backups/<name>/velero-backup.json                 metadata: the commit point (create-only)
//! backups/<name>/<name>.tar.gz                      the tarball (Velero's key)
//! backups/<name>/<name>-logs.gz                     companions, as Velero names them
//! backups/<name>/<name>-results.gz
//! backups/<name>/<name>-resource-list.json.gz
//! backups/<name>/<name>-csi-volumesnapshots.json.gz
//! backups/<name>/<name>-csi-volumesnapshotcontents.json.gz
//! backups/<name>/<name>-entry-digests.jsonl.gz      csdr's: every tarball entry's SHA-256 (V7)
//! backups/<name>/csdr-deleting.json                 deletion marker (V6)
//! backups/<name>/csdr-attempts/<attempt>/attempt.json      an upload attempt's claim
//! backups/<name>/csdr-attempts/<attempt>/<name>.tar.gz     its data before commit
//! backups/<name>/csdr-attempts/<attempt>/<name>-….gz       its companions before commit
//! restores/<name>/csdr-restore.json                 a restore's record
//! restores/<name>/restore-<name>-logs.gz            …and its files, as Velero names them
//! ```
//!
//! Velero rejects a storage location whose prefix holds unknown top-level folders; csdr adds
//! only top-level files and files inside `backups/<name>/`, which Velero ignores.
//!
//! ```
//! use csdr_core::vault::layout::{self, BackupKey};
//!
//! assert_eq!(layout::backup_metadata("nightly"), "backups/nightly/velero-backup.json");
//! assert_eq!(
//!     layout::classify("backups/nightly/csdr-attempts/a1/nightly.tar.gz"),
//!     Some(("nightly".to_string(), BackupKey::Attempt("a1".into(), "nightly.tar.gz".into())))
//! );
//! assert!(layout::check_name("backup", "../etc").is_err());
//! ```

use crate::ports::vault::VaultError;

/// The vault's identity marker (V3).
pub const VAULT_MARKER: &str = "csdr-vault.json";
/// The tombstone a deleted vault leaves (V3).
pub const VAULT_TOMBSTONE: &str = "csdr-vault-deleted.json";
/// The prefix of validation probe objects.
pub const PROBE_PREFIX: &str = "csdr-probe-";
/// The folder of backups.
pub const BACKUPS: &str = "backups/";
/// The folder of restores.
pub const RESTORES: &str = "restores/";
/// The metadata file inside a backup's folder.
pub const METADATA_FILE: &str = "velero-backup.json";
/// The deletion marker inside a backup's folder.
pub const DELETION_MARKER_FILE: &str = "csdr-deleting.json";
/// The folder of upload attempts inside a backup's folder.
pub const ATTEMPTS_DIR: &str = "csdr-attempts";
/// The claim file inside an attempt's folder.
pub const ATTEMPT_CLAIM_FILE: &str = "attempt.json";

/// `backups/<name>/`
pub fn backup_dir(name: &str) -> String {
    format!("{BACKUPS}{name}/")
}

/// `backups/<name>/velero-backup.json`
pub fn backup_metadata(name: &str) -> String {
    format!("{BACKUPS}{name}/{METADATA_FILE}")
}

/// `backups/<name>/<file>`
pub fn backup_file(name: &str, file: &str) -> String {
    format!("{BACKUPS}{name}/{file}")
}

/// `backups/<name>/csdr-deleting.json`
pub fn deletion_marker(name: &str) -> String {
    format!("{BACKUPS}{name}/{DELETION_MARKER_FILE}")
}

/// `backups/<name>/csdr-attempts/<attempt>/`
pub fn attempt_dir(name: &str, attempt: &str) -> String {
    format!("{BACKUPS}{name}/{ATTEMPTS_DIR}/{attempt}/")
}

/// `backups/<name>/csdr-attempts/<attempt>/<file>`
pub fn attempt_file(name: &str, attempt: &str, file: &str) -> String {
    format!("{BACKUPS}{name}/{ATTEMPTS_DIR}/{attempt}/{file}")
}

/// A restore's encryption record (E2), beside its sealed files: `csdr-encryption.json`.
pub const RESTORE_ENCRYPTION_FILE: &str = "csdr-encryption.json";

/// `restores/<name>/`
pub fn restore_dir(name: &str) -> String {
    format!("{RESTORES}{name}/")
}

/// `restores/<name>/<file>`
pub fn restore_file(name: &str, file: &str) -> String {
    format!("{RESTORES}{name}/{file}")
}

/// What an object inside `backups/<name>/` is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackupKey {
    /// `velero-backup.json`
    Metadata,
    /// `csdr-deleting.json`
    DeletionMarker,
    /// A file of an upload attempt: the attempt id and the file name.
    Attempt(String, String),
    /// Any other file: the tarball or a companion at Velero's key.
    File(String),
}

/// Splits a key relative to the vault's prefix into the backup's name and what it is; `None`
/// for keys outside `backups/<name>/`.
pub fn classify(rel: &str) -> Option<(String, BackupKey)> {
    let rest = rel.strip_prefix(BACKUPS)?;
    let (name, file) = rest.split_once('/')?;
    if name.is_empty() || file.is_empty() {
        return None;
    }
    let key = match file {
        METADATA_FILE => BackupKey::Metadata,
        DELETION_MARKER_FILE => BackupKey::DeletionMarker,
        _ => match file
            .strip_prefix(ATTEMPTS_DIR)
            .and_then(|f| f.strip_prefix('/'))
        {
            Some(attempt_part) => {
                let (attempt, f) = attempt_part.split_once('/').unwrap_or((attempt_part, ""));
                BackupKey::Attempt(attempt.to_string(), f.to_string())
            }
            None => BackupKey::File(file.to_string()),
        },
    };
    Some((name.to_string(), key))
}

/// Checks a backup or restore name: 1–253 characters of `a-z`, `A-Z`, `0-9`, `-`, `.`, `_`,
/// not starting with `.` (Kubernetes object names fit).
pub fn check_name(what: &str, name: &str) -> Result<(), VaultError> {
    let invalid = |reason: &str| VaultError::InvalidInput {
        what: format!("{what} name `{name}`"),
        reason: reason.to_string(),
    };
    if name.is_empty() || name.len() > 253 {
        return Err(invalid("must have 1 to 253 characters"));
    }
    if name.starts_with('.') {
        return Err(invalid("must not start with `.`"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        return Err(invalid(
            "may contain only letters, digits, `-`, `.` and `_`",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_every_kind_of_key() {
        assert_eq!(
            classify("backups/b/velero-backup.json"),
            Some(("b".into(), BackupKey::Metadata))
        );
        assert_eq!(
            classify("backups/b/csdr-deleting.json"),
            Some(("b".into(), BackupKey::DeletionMarker))
        );
        assert_eq!(
            classify("backups/b/b-logs.gz"),
            Some(("b".into(), BackupKey::File("b-logs.gz".into())))
        );
        assert_eq!(
            classify("backups/b/csdr-attempts/x/attempt.json"),
            Some((
                "b".into(),
                BackupKey::Attempt("x".into(), "attempt.json".into())
            ))
        );
        assert_eq!(classify("restores/r/x"), None);
        assert_eq!(classify("backups/b"), None);
    }

    #[test]
    fn names_are_checked() {
        for ok in ["nightly-20240101", "a", "b.c_d"] {
            check_name("backup", ok).unwrap();
        }
        for bad in ["", ".x", "a/b", "..", "a b"] {
            let e = check_name("backup", bad).unwrap_err().to_string();
            assert!(e.starts_with("VaultError: invalid backup name"), "{e}");
        }
    }
}
