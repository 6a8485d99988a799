//! Volume repositories (D1): directories round-trip exactly through a restic-format repository
//! in the vault; the `restic` tool reads what csdr wrote and csdr reads what restic (Velero)
//! wrote; bad input gets a clear error and leaves nothing half-written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use csdr_core::ports::blob_store::BlobStore;
use csdr_storage::StorageError;
use csdr_storage::volume::{RepositoryKey, VolumeBackupOptions, VolumeRepository};

const PASSWORD: &str = "a volume key for tests";

fn key() -> RepositoryKey {
    RepositoryKey::new(PASSWORD, "the test").unwrap()
}

/// A `file://` vault in a temporary folder: its folder and its store.
fn file_vault() -> (tempfile::TempDir, PathBuf, Arc<dyn BlobStore>) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("vault");
    let url = format!("file://{}", root.display());
    let (store, _) =
        csdr_storage::connect_store(&common::spec_for("v", url), &common::options()).unwrap();
    (dir, root, store)
}

/// A tree with every kind of thing a volume holds.
fn sample_tree(root: &Path) {
    fs::create_dir_all(root.join("app/empty")).unwrap();
    fs::write(root.join("app/config.yaml"), "replicas: 3\n").unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(root.join("app/blob.bin"), &big).unwrap();
    fs::write(root.join("app/script.sh"), "#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(
        root.join("app/script.sh"),
        fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    fs::set_permissions(root.join("app/empty"), fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink("config.yaml", root.join("app/link")).unwrap();
    std::os::unix::fs::symlink("/does/not/exist", root.join("app/dangling")).unwrap();
    fs::hard_link(root.join("app/config.yaml"), root.join("app/hard")).unwrap();
    let odd = OsStr::from_bytes(b"caf\xe9-latin1.txt");
    fs::write(root.join("app").join(odd), "not utf-8 name").unwrap();
    // Sparse: 16 MiB with 4 KiB of data at the end.
    let sparse = fs::File::create(root.join("app/sparse.img")).unwrap();
    sparse.set_len(16 << 20).unwrap();
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = &sparse;
        f.seek(SeekFrom::Start((16 << 20) - 4096)).unwrap();
        f.write_all(&[7u8; 4096]).unwrap();
    }
    drop(sparse);
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    fs::File::options()
        .write(true)
        .open(root.join("app/config.yaml"))
        .unwrap()
        .set_modified(when)
        .unwrap();
    if is_root() {
        std::os::unix::fs::chown(root.join("app/script.sh"), Some(1234), Some(5678)).unwrap();
    }
    xattr::set(root.join("app/blob.bin"), "user.csdr.test", b"kept").unwrap();
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false)
}

/// Everything about a file the round trip keeps, by relative path.
fn describe(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .as_os_str()
            .as_bytes()
            .to_vec();
        let rel = String::from_utf8_lossy(&rel).into_owned();
        let meta = fs::symlink_metadata(&path).unwrap();
        let kind = meta.file_type();
        let mut line = format!(
            "{rel} mode={:o} uid={} gid={}",
            meta.mode(),
            meta.uid(),
            meta.gid()
        );
        if kind.is_symlink() {
            line += &format!(" -> {}", fs::read_link(&path).unwrap().display());
        } else if kind.is_dir() {
            line += " dir";
            walk(root, &path, out);
        } else {
            let bytes = fs::read(&path).unwrap();
            line += &format!(
                " size={} sha={} mtime={} nlink={}",
                bytes.len(),
                csdr_core::digest::sha256_hex(&bytes),
                meta.mtime(),
                meta.nlink()
            );
            if let Ok(Some(v)) = xattr::get(&path, "user.csdr.test") {
                line += &format!(" xattr={}", String::from_utf8_lossy(&v));
            }
        }
        out.push(line);
    }
}

#[tokio::test]
async fn a_directory_round_trips_exactly() {
    let (_guard, vault_root, store) = file_vault();
    let src = tempfile::tempdir().unwrap();
    sample_tree(src.path());
    let repo = VolumeRepository::new(store, "shop", key()).unwrap();
    let options = VolumeBackupOptions {
        tags: vec!["pvc=data".into()],
        ..Default::default()
    };
    let snap = repo.backup(src.path(), &options).await.unwrap();
    assert_eq!(snap.tags, vec!["pvc=data".to_string()]);
    assert!(snap.files >= 8, "{snap:?}");
    assert!(vault_root.join("restic/shop/config").is_file());

    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("volume");
    let summary = repo.restore(&snap.id, &dest).await.unwrap();
    assert!(summary.files >= 5, "{summary:?}");
    assert!(summary.bytes >= 16 << 20, "{summary:?}");
    assert_eq!(describe(&dest), describe(src.path()));
    // Hard links stay linked, the sparse file stays sparse, nothing of the staging remains.
    assert_eq!(
        fs::metadata(dest.join("app/hard")).unwrap().ino(),
        fs::metadata(dest.join("app/config.yaml")).unwrap().ino()
    );
    let sparse = fs::metadata(dest.join("app/sparse.img")).unwrap();
    assert_eq!(sparse.len(), 16 << 20);
    assert!(
        sparse.blocks() * 512 < 2 << 20,
        "{} blocks",
        sparse.blocks()
    );
    let names: Vec<_> = fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![OsStr::new("app").to_owned()]);

    // Listed with what a user needs to pick one.
    let snaps = repo.snapshots().await.unwrap();
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0].id, snap.id);
    assert!(repo.check(true).await.unwrap().is_ok());
}

#[tokio::test]
async fn a_second_backup_uploads_only_what_changed() {
    let (_guard, _root, store) = file_vault();
    let src = tempfile::tempdir().unwrap();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..200 {
        // Incompressible, so the figures are the data's and not the trees'.
        let body: Vec<u8> = (0..20_000)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 24) as u8
            })
            .collect();
        fs::write(src.path().join(format!("f{i}")), body).unwrap();
    }
    let repo = VolumeRepository::new(store, "shop", key()).unwrap();
    let first = repo
        .backup(src.path(), &VolumeBackupOptions::default())
        .await
        .unwrap();
    fs::write(src.path().join("f3"), "changed").unwrap();
    let second = repo
        .backup(src.path(), &VolumeBackupOptions::default())
        .await
        .unwrap();
    assert_eq!(second.parent.as_deref(), Some(first.id.as_str()));
    assert!(
        second.bytes_added * 50 < first.bytes_added,
        "first added {}, second {}",
        first.bytes_added,
        second.bytes_added
    );
}

fn restic(repo: &Path, password: &str, args: &[&str]) -> std::process::Output {
    Command::new("restic")
        .arg("-r")
        .arg(repo)
        .args(args)
        .env("RESTIC_PASSWORD", password)
        .env(
            "RESTIC_CACHE_DIR",
            repo.parent().unwrap().join("restic-cache"),
        )
        .output()
        .expect("the restic tool (scripts/test.sh installs it)")
}

#[tokio::test]
async fn the_restic_tool_lists_checks_and_restores_what_csdr_wrote() {
    let (_guard, vault_root, store) = file_vault();
    let src = tempfile::tempdir().unwrap();
    sample_tree(src.path());
    let repo = VolumeRepository::new(store, "shop", key()).unwrap();
    let snap = repo
        .backup(src.path(), &VolumeBackupOptions::default())
        .await
        .unwrap();
    let repo_dir = vault_root.join("restic/shop");

    let out = restic(&repo_dir, PASSWORD, &["snapshots", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["id"], snap.id.as_str());

    let out = restic(&repo_dir, PASSWORD, &["check", "--read-data"]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let target = tempfile::tempdir().unwrap();
    let out = restic(
        &repo_dir,
        PASSWORD,
        &[
            "restore",
            &snap.id,
            "--target",
            target.path().to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let restored = target.path().join(src.path().strip_prefix("/").unwrap());
    assert_eq!(
        fs::read(restored.join("app/blob.bin")).unwrap(),
        fs::read(src.path().join("app/blob.bin")).unwrap()
    );

    // A wrong key is refused by both, naming where csdr's key came from.
    let out = restic(&repo_dir, "wrong", &["snapshots"]);
    assert!(!out.status.success());
    let (store, _) = csdr_storage::connect_store(
        &common::spec_for("v", format!("file://{}", vault_root.display())),
        &common::options(),
    )
    .unwrap();
    let wrong = VolumeRepository::new(
        store,
        "shop",
        RepositoryKey::new("wrong", "key.txt").unwrap(),
    )
    .unwrap();
    let err = wrong.snapshots().await.unwrap_err();
    assert!(
        matches!(err, StorageError::WrongRepositoryKey { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("key.txt"), "{err}");
    assert!(err.to_string().contains("restic/shop"), "{err}");
}

#[tokio::test]
async fn velero_restic_repositories_are_read_with_veleros_password() {
    let (_guard, vault_root, store) = file_vault();
    let repo_dir = vault_root.join("restic/legacy");
    fs::create_dir_all(repo_dir.parent().unwrap()).unwrap();
    let out = restic(&repo_dir, "static-passw0rd", &["init"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("db.dump"), "rows").unwrap();
    let out = restic(
        &repo_dir,
        "static-passw0rd",
        &["backup", "--host", "velero", src.path().to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let repo = VolumeRepository::new(store, "legacy", RepositoryKey::velero()).unwrap();
    let snaps = repo.snapshots().await.unwrap();
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0].hostname, "velero");
    let dest = tempfile::tempdir().unwrap().keep().join("out");
    repo.restore(&snaps[0].id[..10], &dest).await.unwrap();
    assert_eq!(fs::read_to_string(dest.join("db.dump")).unwrap(), "rows");
    // Velero's password never writes.
    let err = repo
        .backup(src.path(), &VolumeBackupOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Velero"), "{err}");
    fs::remove_dir_all(dest.parent().unwrap()).unwrap();
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_leaves_nothing_half_written() {
    let (_guard, vault_root, store) = file_vault();
    let repo = VolumeRepository::new(store.clone(), "shop", key()).unwrap();

    // No repository yet.
    let err = repo.snapshots().await.unwrap_err();
    assert!(
        matches!(err, StorageError::NoVolumeRepository { .. }),
        "{err:?}"
    );

    // A source that is not there: the FAQ's SOURCE_NOT_EXIST, naming the path.
    let err = repo
        .backup(
            Path::new("/var/lib/kubelet/pods/nope/volumes"),
            &VolumeBackupOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("SOURCE_NOT_EXIST"), "{err}");
    assert!(
        err.to_string()
            .contains("/var/lib/kubelet/pods/nope/volumes"),
        "{err}"
    );
    assert!(!vault_root.join("restic/shop").exists());

    // A bad repository name.
    assert!(VolumeRepository::new(store.clone(), "../etc", key()).is_err());

    let src = tempfile::tempdir().unwrap();
    let body: Vec<u8> = (0..2_000_000u32).map(|i| (i * 31 % 241) as u8).collect();
    fs::write(src.path().join("data.bin"), &body).unwrap();
    let snap = repo
        .backup(src.path(), &VolumeBackupOptions::default())
        .await
        .unwrap();

    // An unknown snapshot, a destination that is not empty.
    let out = tempfile::tempdir().unwrap();
    let err = repo
        .restore("abcdef", &out.path().join("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StorageError::UnknownVolumeSnapshot { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("abcdef"), "{err}");
    fs::write(out.path().join("keep.txt"), "mine").unwrap();
    let err = repo.restore(&snap.id, out.path()).await.unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    assert_eq!(
        fs::read_to_string(out.path().join("keep.txt")).unwrap(),
        "mine"
    );

    // Corrupt packs: the restore fails naming the damage and the destination stays empty,
    // whether the damage is in the file's data (read by rustic_core's workers) or in the
    // trees (read first).
    let mut packs = walkdir(&vault_root.join("restic/shop/data"));
    packs.sort_by_key(|p| std::cmp::Reverse(fs::metadata(p).unwrap().len()));
    assert!(packs.len() >= 2, "{packs:?}");
    let flip = |pack: &Path| {
        let mut bytes = fs::read(pack).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        fs::write(pack, bytes).unwrap();
    };
    flip(&packs[0]);
    for (round, dest) in ["data-damaged", "all-damaged"].into_iter().enumerate() {
        if round == 1 {
            packs[1..].iter().for_each(|p| flip(p));
        }
        let dest = out.path().join(dest);
        let err = repo.restore(&snap.id, &dest).await.unwrap_err();
        assert!(err.to_string().contains("restic/shop"), "{err}");
        assert!(err.to_string().contains("damaged"), "{err}");
        assert!(!err.to_string().contains('\n'), "{err}");
        let left: Vec<_> = fs::read_dir(&dest)
            .map(|d| d.map(|e| e.unwrap().file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{left:?}");
    }
    let report = repo.check(true).await.unwrap();
    assert!(!report.is_ok(), "{report:?}");
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walkdir(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn every_store_holds_volume_data() {
    let mut stores = vec![common::object_memory_store()];
    if let Some(s3) = common::s3_store() {
        stores.push(s3);
    }
    for store in stores {
        let src = tempfile::tempdir().unwrap();
        sample_tree(src.path());
        let repo = VolumeRepository::new(store.store.clone(), "shop", key()).unwrap();
        let snap = repo
            .backup(src.path(), &VolumeBackupOptions::default())
            .await
            .unwrap();
        let out = tempfile::tempdir().unwrap();
        repo.restore(&snap.id, &out.path().join("v")).await.unwrap();
        assert_eq!(
            describe(&out.path().join("v")),
            describe(src.path()),
            "{}",
            store.location
        );
        assert!(
            repo.check(false).await.unwrap().is_ok(),
            "{}",
            store.location
        );
    }
}

#[test]
fn the_key_never_shows_in_debug_output() {
    let key = RepositoryKey::new("hunter2-secret", "CSDR_REPOSITORY_PASSWORD").unwrap();
    let text = format!("{key:?}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("CSDR_REPOSITORY_PASSWORD"), "{text}");
    assert!(RepositoryKey::new("  ", "empty").is_err());
}

#[tokio::test]
async fn the_backups_key_encryption_key_protects_the_repository_key() {
    use csdr_core::crypto::KeyEncryptionKey;
    use csdr_storage::AgeKey;
    use csdr_storage::volume::{REPOSITORY_KEY_FILE, repository_key_from_kek};

    let (_guard, vault_root, store) = file_vault();
    let keys = tempfile::tempdir().unwrap();
    let (identity, recipient) = common::keygen(keys.path(), "id.txt");
    let kek: Arc<dyn KeyEncryptionKey> = Arc::new(AgeKey::from_identity_file(&identity).unwrap());
    let random = csdr_storage::os_random();

    // First use: a random key, wrapped for the recipient, stored beside the repository.
    let key = repository_key_from_kek(&store, "shop", kek.as_ref(), &random)
        .await
        .unwrap();
    assert!(format!("{key:?}").contains(&recipient));
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("a.txt"), "secret rows").unwrap();
    let repo = VolumeRepository::new(store.clone(), "shop", key).unwrap();
    let snap = repo
        .backup(src.path(), &VolumeBackupOptions::default())
        .await
        .unwrap();
    let record: serde_json::Value = serde_json::from_slice(
        &fs::read(vault_root.join("restic/shop").join(REPOSITORY_KEY_FILE)).unwrap(),
    )
    .unwrap();
    assert_eq!(record["keyId"], recipient.as_str());

    // Later uses unwrap the same key.
    let again = repository_key_from_kek(&store, "shop", kek.as_ref(), &random)
        .await
        .unwrap();
    let snaps = VolumeRepository::new(store.clone(), "shop", again)
        .unwrap()
        .snapshots()
        .await
        .unwrap();
    assert_eq!(snaps[0].id, snap.id);

    // Another key is refused, naming the one that protects the repository.
    let (other, _) = common::keygen(keys.path(), "other.txt");
    let other: Arc<dyn KeyEncryptionKey> = Arc::new(AgeKey::from_identity_file(&other).unwrap());
    let err = repository_key_from_kek(&store, "shop", other.as_ref(), &random)
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&recipient), "{err}");

    // Offline, with standard tools only: age unwraps the key, restic opens the repository.
    let wrapped = record["wrappedKey"].as_str().unwrap().to_string();
    let script = format!(
        "echo {wrapped} | base64 -d | age -d -i {}",
        identity.display()
    );
    let out = Command::new("sh").arg("-c").arg(script).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let password: String = out.stdout.iter().map(|b| format!("{b:02x}")).collect();
    let out = restic(
        &vault_root.join("restic/shop"),
        &password,
        &["snapshots", "--json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&snap.id));
}
