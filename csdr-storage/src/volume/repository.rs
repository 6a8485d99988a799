//! A volume repository: backups of directories into a restic-format repository in the vault,
//! restores out of it, its snapshots and its check.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use csdr_core::ports::blob_store::BlobStore;
use jiff::Timestamp;
use rustic_core::{
    BackupOptions, CheckOptions, ConfigOptions, Credentials, KeyOptions, LocalDestination,
    LsOptions, ParentOptions, PathList, Progress, ProgressBars, ProgressType, Repository,
    RepositoryBackends, RepositoryOptions, RestoreOptions, RusticError, SnapshotOptions,
    repofile::SnapshotFile,
};
use tokio::runtime::Handle;
use zeroize::Zeroizing;

use super::backend::{RESTIC_FOLDER, VaultBackend};
use crate::{StorageError, StorageOptions};
use csdr_core::crypto::KeyEncryptionKey;
use csdr_core::model::VaultSpec;
use csdr_core::vault::RandomSource;

/// The password Velero's restic integration gives every repository it creates. Accepted only
/// to read what Velero wrote ([`RepositoryKey::velero`]); csdr never writes with it.
const VELERO_PASSWORD: &str = "static-passw0rd";

/// The environment variable the CLI reads a repository key from.
pub const REPOSITORY_PASSWORD_ENV: &str = "CSDR_REPOSITORY_PASSWORD";

/// The key (restic's password) of a volume repository. Never printed: its `Debug` shows only
/// where it came from.
#[derive(Clone)]
pub struct RepositoryKey {
    secret: Zeroizing<String>,
    origin: String,
    velero: bool,
}

impl fmt::Debug for RepositoryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RepositoryKey")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl RepositoryKey {
    /// A key given directly; `origin` says where it came from in messages (never the key).
    pub fn new(secret: impl Into<String>, origin: impl Into<String>) -> Result<Self, StorageError> {
        let secret = Zeroizing::new(secret.into());
        let origin = origin.into();
        if secret.trim().is_empty() {
            return Err(StorageError::Key {
                source_name: origin,
                reason: "the repository key is empty".into(),
            });
        }
        Ok(Self {
            secret,
            origin,
            velero: false,
        })
    }

    /// The first line of the file at `path` (restic's `--password-file`).
    pub fn from_file(path: &Path) -> Result<Self, StorageError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| StorageError::Key {
            source_name: origin.clone(),
            reason: format!("cannot read the repository key file: {e}"),
        })?;
        let text = Zeroizing::new(text);
        let line = text.lines().next().unwrap_or_default();
        Self::new(line.to_string(), origin)
    }

    /// The key in [`REPOSITORY_PASSWORD_ENV`], if set.
    pub fn from_env() -> Result<Option<Self>, StorageError> {
        match std::env::var(REPOSITORY_PASSWORD_ENV) {
            Ok(v) => Self::new(v, REPOSITORY_PASSWORD_ENV).map(Some),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(StorageError::Key {
                source_name: REPOSITORY_PASSWORD_ENV.into(),
                reason: "the repository key is not valid UTF-8".into(),
            }),
        }
    }

    /// Velero's fixed restic password: opens Velero's repositories read-only.
    pub fn velero() -> Self {
        Self {
            secret: Zeroizing::new(VELERO_PASSWORD.to_string()),
            origin: "Velero's fixed restic password".into(),
            velero: true,
        }
    }

    /// Where the key came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// A snapshot of a volume repository: one backup of one directory.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct VolumeSnapshot {
    /// Its id (64 hex digits; restic accepts any unique prefix).
    pub id: String,
    /// When it was taken.
    pub time: Timestamp,
    /// The host (or pod) it was taken on.
    pub hostname: String,
    /// The paths backed up.
    pub paths: Vec<String>,
    /// Its tags (`key=value` for the CLI's `--tag`).
    pub tags: Vec<String>,
    /// The snapshot it was taken against, if any.
    pub parent: Option<String>,
    /// Files in the snapshot.
    pub files: u64,
    /// Bytes of file contents in the snapshot.
    pub bytes: u64,
    /// Bytes this snapshot added to the repository after deduplication and compression.
    pub bytes_added: u64,
}

impl VolumeSnapshot {
    fn from_file(snap: &SnapshotFile) -> Self {
        let summary = snap.summary.as_ref();
        Self {
            id: snap.id.to_hex().as_str().to_string(),
            time: snap.time.timestamp(),
            hostname: snap.hostname.clone(),
            paths: snap.paths.iter().cloned().collect(),
            tags: snap.tags.iter().cloned().collect(),
            parent: snap.parent.map(|p| p.to_hex().as_str().to_string()),
            files: summary.map_or(0, |s| s.total_files_processed),
            bytes: summary.map_or(0, |s| s.total_bytes_processed),
            bytes_added: summary.map_or(0, |s| s.data_added_packed),
        }
    }
}

/// What a volume backup records besides the data.
#[derive(Clone, Debug, Default)]
pub struct VolumeBackupOptions {
    /// Tags on the snapshot (`key=value` by convention).
    pub tags: Vec<String>,
    /// The snapshot to compare with (its unchanged files are not read again). Without one,
    /// the latest snapshot of the same host and path is used, as restic does.
    pub parent: Option<String>,
    /// The host name recorded (default: this machine's).
    pub host: Option<String>,
    /// The path recorded instead of the directory's own (e.g. `/<namespace>/<claim>`, so
    /// backups of a volume find their parent whichever pod mounted it).
    pub as_path: Option<PathBuf>,
}

/// What a volume restore did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct VolumeRestoreSummary {
    /// Files written.
    pub files: u64,
    /// Directories created.
    pub dirs: u64,
    /// Bytes of file contents written.
    pub bytes: u64,
}

/// The findings of a repository check; empty when the repository is sound.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct VolumeCheckReport {
    /// Severe findings: the repository is damaged.
    pub errors: Vec<String>,
    /// Findings that do not lose data (e.g. unused packs).
    pub warnings: Vec<String>,
}

impl VolumeCheckReport {
    /// Whether no severe finding was made.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// A restic-format volume repository at `restic/<name>/` in a vault.
///
/// Every call runs `rustic_core` on a blocking thread; the store is reached through the tokio
/// runtime the repository was opened on.
#[derive(Clone, Debug)]
pub struct VolumeRepository {
    name: String,
    backend: VaultBackend,
    key: RepositoryKey,
    progress: Option<Arc<dyn ProgressBars>>,
}

/// [`ProgressBars`] shared between the repository's commands.
#[derive(Debug)]
struct SharedBars(Arc<dyn ProgressBars>);

impl ProgressBars for SharedBars {
    fn progress(&self, progress_type: ProgressType, prefix: &str) -> Progress {
        self.0.progress(progress_type, prefix)
    }
}

/// Where a repository lives in its vault, for messages.
fn place(name: &str) -> String {
    format!("{RESTIC_FOLDER}/{name}")
}

impl VolumeRepository {
    /// The repository `name` (a namespace's name, as Velero names them) of the vault whose
    /// store is `store`, opened with `key`. Nothing is read yet. Must be called on a tokio
    /// runtime.
    pub fn new(
        store: Arc<dyn BlobStore>,
        name: &str,
        key: RepositoryKey,
    ) -> Result<Self, StorageError> {
        check_name(name)?;
        let runtime = Handle::try_current().map_err(|e| StorageError::Client {
            location: place(name),
            reason: "volume repositories must be opened on a tokio runtime".into(),
            source: Box::new(e),
        })?;
        Ok(Self {
            name: name.to_string(),
            backend: VaultBackend::new(store, name, runtime),
            key,
            progress: None,
        })
    }

    /// Reports the progress of long work (scanning, bytes backed up or restored, packs
    /// checked) to `bars`: `rustic_core`'s progress interface, e.g. drawn with `indicatif`.
    #[must_use]
    pub fn with_progress(mut self, bars: Arc<dyn ProgressBars>) -> Self {
        self.progress = Some(bars);
        self
    }

    /// The repository `name` of the vault `spec` names, after checking the vault's identity
    /// (V3: a location belongs to one vault name) as [`crate::open`] does.
    pub async fn open_in_vault(
        spec: &VaultSpec,
        options: &StorageOptions,
        name: &str,
        key: RepositoryKey,
    ) -> Result<Self, StorageError> {
        let store = checked_store(spec, options).await?;
        Self::new(store, name, key)
    }

    /// [`Self::open_in_vault`] with the repository key protected by `kek`, the key-encryption
    /// key of encrypted backups (see [`super::key_file`]); `random` makes a new repository's key.
    pub async fn open_in_vault_with_kek(
        spec: &VaultSpec,
        options: &StorageOptions,
        name: &str,
        kek: &dyn KeyEncryptionKey,
        random: &RandomSource,
    ) -> Result<Self, StorageError> {
        check_name(name)?;
        let store = checked_store(spec, options).await?;
        let key = super::key_file::repository_key_from_kek(&store, name, kek, random).await?;
        Self::new(store, name, key)
    }

    /// The repository's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Backs up the directory `dir` and returns the new snapshot. Creates the repository (with
    /// this key) if the vault holds none yet. Nothing but unreferenced data is left behind if
    /// it fails: the snapshot is written last.
    pub async fn backup(
        &self,
        dir: &Path,
        options: &VolumeBackupOptions,
    ) -> Result<VolumeSnapshot, StorageError> {
        let meta = std::fs::metadata(dir).map_err(|e| StorageError::VolumeSource {
            path: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        if !meta.is_dir() {
            return Err(StorageError::VolumeSource {
                path: dir.display().to_string(),
                reason: "not a directory".into(),
            });
        }
        if self.key.velero {
            return Err(StorageError::Key {
                source_name: self.key.origin.clone(),
                reason: "Velero's fixed password only reads Velero's repositories; give csdr's own repository key to write".into(),
            });
        }
        let dir = std::fs::canonicalize(dir).map_err(|e| StorageError::VolumeSource {
            path: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let this = self.clone();
        let options = options.clone();
        self.blocking("back up", move || this.backup_blocking(&dir, &options))
            .await
    }

    fn backup_blocking(
        &self,
        dir: &Path,
        options: &VolumeBackupOptions,
    ) -> Result<VolumeSnapshot, StorageError> {
        let repo = self
            .open_or_init()?
            .to_indexed_ids()
            .map_err(|e| self.fail("index", e))?;
        let mut snap_opts = SnapshotOptions::default();
        for tag in &options.tags {
            snap_opts = snap_opts
                .add_tags(tag)
                .map_err(|e| self.fail("tag the snapshot", e))?;
        }
        if let Some(host) = &options.host {
            snap_opts = snap_opts.host(Some(host.clone()));
        }
        let snap = snap_opts
            .to_snapshot()
            .map_err(|e| self.fail("prepare the snapshot", e))?;
        let parents = options.parent.iter().cloned().collect::<Vec<_>>();
        let backup_opts = BackupOptions::default()
            .as_path(options.as_path.clone())
            .parent_opts(ParentOptions::default().parents(parents));
        let source = PathList::from_iter([dir.to_path_buf()])
            .sanitize()
            .map_err(|e| StorageError::VolumeSource {
                path: dir.display().to_string(),
                reason: e.to_string(),
            })?;
        let snap = repo
            .backup(&backup_opts, &source, snap)
            .map_err(|e| self.fail("back up", e))?;
        Ok(VolumeSnapshot::from_file(&snap))
    }

    /// Restores snapshot `id` (or a unique prefix of it) into the directory `dest`, which must
    /// be empty or absent (a fresh volume's `lost+found` is allowed). The data is written into
    /// a staging folder inside `dest` and moved into place only once all of it is there: a
    /// failed restore leaves `dest` as it was.
    pub async fn restore(
        &self,
        id: &str,
        dest: &Path,
    ) -> Result<VolumeRestoreSummary, StorageError> {
        check_destination(dest)?;
        let this = self.clone();
        let id = id.to_string();
        let dest = dest.to_path_buf();
        self.blocking("restore", move || this.restore_blocking(&id, &dest))
            .await
    }

    fn restore_blocking(
        &self,
        id: &str,
        dest: &Path,
    ) -> Result<VolumeRestoreSummary, StorageError> {
        let repo = self
            .open()?
            .to_indexed()
            .map_err(|e| self.fail("index", e))?;
        let snap = self.find_snapshot(&repo, id)?;
        // csdr, and `restic backup <folder>`, store the files under the folder's path, which
        // the snapshot records; `restic backup .` in the folder — how Velero's restic uploader
        // runs — records the folder's path too but stores its files at the tree's root.
        let path = snap.paths.iter().next().cloned().unwrap_or_default();
        let node = repo
            .node_from_snapshot_and_path(&snap, &path)
            .or_else(|_| repo.node_from_snapshot_and_path(&snap, ""))
            .map_err(|e| self.fail("read the snapshot's tree", e))?;
        std::fs::create_dir_all(dest).map_err(|e| StorageError::VolumeDestination {
            path: dest.display().to_string(),
            reason: format!("cannot create it: {e}"),
        })?;
        let staging = Staging(dest.join(format!(
            ".csdr-restore-{}",
            &snap.id.to_hex().as_str()[..16]
        )));
        let _ = std::fs::remove_dir_all(&staging.0);
        // rustic_core 0.13 panics on a worker thread when a pack does not authenticate during
        // a restore (`restore.rs` unwraps the decryption): caught here and reported as the
        // damage it is, the staging folder removed either way.
        let work = std::panic::AssertUnwindSafe(|| {
            let staging_str = format!("{}/", staging.0.display());
            let destination = LocalDestination::new(&staging_str, true, !node.is_dir())
                .map_err(|e| self.fail("prepare the destination", e))?;
            let ls = repo
                .ls(&node, &LsOptions::default())
                .map_err(|e| self.fail("list the snapshot", e))?;
            let opts = restore_options();
            let plan = repo
                .prepare_restore(&opts, ls.clone(), &destination, false)
                .map_err(|e| self.fail("plan the restore", e))?;
            let summary = VolumeRestoreSummary {
                files: plan.stats.files.restore,
                dirs: plan.stats.dirs.restore,
                bytes: plan.restore_size,
            };
            repo.restore(plan, &opts, ls, &destination)
                .map_err(|e| self.fail("restore", e))?;
            move_contents(&staging.0, dest)?;
            Ok(summary)
        });
        std::panic::catch_unwind(work).unwrap_or_else(|panic| {
            Err(StorageError::VolumeRepository {
                repository: place(&self.name),
                action: "restore".into(),
                reason: format!(
                    "the repository's data is damaged: {}; run `csdr volume check --read-data`",
                    panic_reason(panic.as_ref())
                ),
                source: "restore stopped".into(),
            })
        })
    }

    /// The repository's snapshots, oldest first.
    pub async fn snapshots(&self) -> Result<Vec<VolumeSnapshot>, StorageError> {
        let this = self.clone();
        self.blocking("list snapshots", move || {
            let repo = this.open()?;
            let mut snaps = repo
                .get_all_snapshots()
                .map_err(|e| this.fail("list snapshots", e))?;
            snaps.sort_by(|a, b| a.time.cmp(&b.time));
            Ok(snaps.iter().map(VolumeSnapshot::from_file).collect())
        })
        .await
    }

    /// Checks the repository's structure, and with `read_data` every pack's contents too.
    pub async fn check(&self, read_data: bool) -> Result<VolumeCheckReport, StorageError> {
        let this = self.clone();
        self.blocking("check", move || {
            let repo = this.open()?;
            let results = repo
                .check(CheckOptions::default().read_data(read_data))
                .map_err(|e| this.fail("check", e))?;
            let mut report = VolumeCheckReport::default();
            for (level, finding) in &results.0 {
                match format!("{level:?}").as_str() {
                    "Error" => report.errors.push(finding.to_string()),
                    _ => report.warnings.push(finding.to_string()),
                }
            }
            Ok(report)
        })
        .await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        action: &str,
        work: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| StorageError::VolumeRepository {
                repository: place(&self.name),
                action: action.to_string(),
                reason: "the worker thread stopped".into(),
                source: Box::new(e),
            })?
    }

    fn backends(&self) -> RepositoryBackends {
        RepositoryBackends::new(Arc::new(self.backend.clone()), None)
    }

    fn unopened(&self) -> Result<Repository<()>, StorageError> {
        // No local cache: nothing is written outside the vault and the destination (a node
        // agent's host is not csdr's), and every read is of what the vault holds.
        let options = RepositoryOptions::default().no_cache(true);
        match &self.progress {
            Some(bars) => {
                Repository::new_with_progress(&options, &self.backends(), SharedBars(bars.clone()))
            }
            None => Repository::new(&options, &self.backends()),
        }
        .map_err(|e| self.fail("open", e))
    }

    fn open(&self) -> Result<Repository<rustic_core::OpenStatus>, StorageError> {
        let repo = self.unopened()?;
        let exists = repo
            .config_id()
            .map_err(|e| self.fail("open", e))?
            .is_some();
        if !exists {
            return Err(StorageError::NoVolumeRepository {
                repository: place(&self.name),
            });
        }
        repo.open(&Credentials::password(self.key.secret.as_str()))
            .map_err(|e| self.open_error(e))
    }

    fn open_or_init(&self) -> Result<Repository<rustic_core::OpenStatus>, StorageError> {
        let repo = self.unopened()?;
        let exists = repo
            .config_id()
            .map_err(|e| self.fail("open", e))?
            .is_some();
        let credentials = Credentials::password(self.key.secret.as_str());
        if exists {
            repo.open(&credentials).map_err(|e| self.open_error(e))
        } else {
            repo.init(
                &credentials,
                &KeyOptions::default(),
                &ConfigOptions::default(),
            )
            .map_err(|e| self.fail("create", e))
        }
    }

    fn find_snapshot<S: rustic_core::Open>(
        &self,
        repo: &Repository<S>,
        id: &str,
    ) -> Result<SnapshotFile, StorageError> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StorageError::UnknownVolumeSnapshot {
                repository: place(&self.name),
                id: id.to_string(),
                reason: "a snapshot id is hexadecimal".into(),
            });
        }
        repo.get_snapshot_from_str(id, |_| true)
            .map_err(|e| StorageError::UnknownVolumeSnapshot {
                repository: place(&self.name),
                id: id.to_string(),
                reason: e.to_string(),
            })
    }

    fn open_error(&self, e: Box<RusticError>) -> StorageError {
        if e.is_incorrect_password() {
            StorageError::WrongRepositoryKey {
                repository: place(&self.name),
                origin: self.key.origin.clone(),
            }
        } else {
            self.fail("open", e)
        }
    }

    fn fail(&self, action: &str, e: Box<RusticError>) -> StorageError {
        // rustic_core's text spans several lines (message, docs link, context): one line here.
        let text = e.display_log();
        let mut reason = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .take_while(|l| !l.starts_with("For more information"))
            .collect::<Vec<_>>()
            .join(" ");
        if is_damage(&e) {
            reason = format!(
                "the repository's data is damaged: {reason}; run `csdr volume check --read-data`"
            );
        }
        StorageError::VolumeRepository {
            repository: place(&self.name),
            action: action.to_string(),
            reason,
            source: e,
        }
    }
}

/// The store of the vault `spec` names, after checking the vault's identity (V3).
async fn checked_store(
    spec: &VaultSpec,
    options: &StorageOptions,
) -> Result<Arc<dyn BlobStore>, StorageError> {
    crate::open(spec, options).await?;
    Ok(crate::connect_store(spec, options)?.0)
}

/// How volumes are restored: owners by number (a container's users are not the node's), and
/// runs of zeros written as holes, so sparse files stay sparse.
fn restore_options() -> RestoreOptions {
    let mut opts = RestoreOptions::default().numeric_id(true);
    // rustic_core 0.13 does not export the name of its `SparseRestore` type; it is
    // deserializable, so the variant is named through serde.
    opts.sparse = serde_json::from_value(serde_json::Value::from("ByContent")).ok();
    opts
}

/// Whether `e`, or an error it was caused by, is rustic_core's C001: data that does not
/// authenticate (a damaged or tampered pack).
fn is_damage(e: &RusticError) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let rustic = err
            .downcast_ref::<RusticError>()
            .or_else(|| err.downcast_ref::<Box<RusticError>>().map(AsRef::as_ref));
        if rustic.is_some_and(|r| r.is_code("C001")) {
            return true;
        }
        cur = err.source();
    }
    // Wrapped in one of rustic_core's own error types: its text still names the code.
    e.display_log().contains("/errors/C001")
}

/// A repository name is one folder name: a namespace's name in practice.
fn check_name(name: &str) -> Result<(), StorageError> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(StorageError::BadUrl {
            url: place(name),
            part: "repository".into(),
            reason:
                "must be one folder name of letters, digits, `-`, `_` and `.` (a namespace's name)"
                    .into(),
        })
    }
}

/// A restore's staging folder, removed when the restore ends however it ends.
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The guidance of a `RusticError` a panic carries (its `Debug` text), or the panic's text.
fn panic_reason(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a worker stopped");
    match text.split_once("guidance: \"") {
        Some((_, rest)) => rest.split('"').next().unwrap_or(rest).to_string(),
        None => text.to_string(),
    }
}

/// A restore goes into an empty or absent directory (a volume's `lost+found` aside).
fn check_destination(dest: &Path) -> Result<(), StorageError> {
    let bad = |reason: String| StorageError::VolumeDestination {
        path: dest.display().to_string(),
        reason,
    };
    match std::fs::read_dir(dest) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry.map_err(|e| bad(e.to_string()))?;
                if entry.file_name() != "lost+found" {
                    return Err(bad(format!(
                        "is not empty (it holds {:?}); restore into an empty directory",
                        entry.file_name()
                    )));
                }
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            Err(bad("is not a directory".into()))
        }
        Err(e) => Err(bad(e.to_string())),
    }
}

/// Moves everything in `from` into `to` (same file system: renames).
fn move_contents(from: &Path, to: &Path) -> Result<(), StorageError> {
    let bad = |reason: String| StorageError::VolumeDestination {
        path: to.display().to_string(),
        reason,
    };
    let entries = std::fs::read_dir(from).map_err(|e| bad(e.to_string()))?;
    for entry in entries {
        let entry = entry.map_err(|e| bad(e.to_string()))?;
        let target = to.join(entry.file_name());
        std::fs::rename(entry.path(), &target).map_err(|e| {
            bad(format!(
                "cannot move {:?} into place: {e}",
                entry.file_name()
            ))
        })?;
    }
    // The staging folder's own mode and times are the snapshot root's: give them to `to`.
    if let Ok(meta) = std::fs::metadata(from) {
        let _ = std::fs::set_permissions(to, meta.permissions());
    }
    Ok(())
}
