//! Volume backups side by side with the `restic` tool (issue 17, DESIGN D1).
//!
//! A plain harness binary (`harness = false`). It writes a tree of many small files and a few
//! large ones (half of them compressible text, half random bytes), then, in each round, in
//! fresh repositories on the local disk:
//! 1. first backup: `restic backup` into a local repository vs csdr's `VolumeRepository` into a
//!    `file://` vault (run in a child process: this binary with `child …`), same tree;
//! 2. second backup after rewriting 1 % of the files: csdr's uploaded bytes and time as a share
//!    of its first backup's;
//! 3. restore of the second snapshot: `restic restore` vs csdr's restore, into fresh folders;
//!
//! and finally csdr's peak RSS backing up a tree of many 100-byte files.
//! Both tools run as processes, without local caches (`--no-cache`; csdr keeps none); peaks
//! are `VmHWM` of the process, polled from `/proc/<pid>/status` until it exits.
//!
//! Goals (issue 17): first backup ≤ 0.8× restic; second backup uploads ≤ 2 % of the first's
//! bytes in ≤ 0.2× its time; restore ≤ 1.0× restic; 2,000,000 files of 100 bytes in ≤ 512 MiB.
//!
//! Scale: `CSDR_BENCH_VOLUME_FILES` small files (default 200,000 under `cargo bench`, 2,000
//! otherwise), large files of `CSDR_BENCH_VOLUME_LARGE_MIB` MiB (default 256, 8 otherwise;
//! four of them), `CSDR_BENCH_VOLUME_TINY_FILES` 100-byte files (default 2,000,000, 5,000
//! otherwise), `CSDR_BENCH_ROUNDS` rounds (default 1). Needs `restic` on the PATH.
//!
//! Run: `cargo bench --bench volume_vs_restic`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench harness: a failure stops it

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use csdr_core::model::VaultSpec;
use csdr_storage::StorageOptions;
use csdr_storage::volume::{RepositoryKey, VolumeBackupOptions, VolumeRepository};

const PASSWORD: &str = "bench password";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        child(&args[2..]);
        return;
    }
    let full = args.iter().any(|a| a == "--bench");
    let env = |name: &str, full_default: u64, test_default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if full { full_default } else { test_default })
    };
    let files = env("CSDR_BENCH_VOLUME_FILES", 200_000, 2_000);
    let large_mib = env("CSDR_BENCH_VOLUME_LARGE_MIB", 256, 8);
    let tiny = env("CSDR_BENCH_VOLUME_TINY_FILES", 2_000_000, 5_000);
    let rounds = env("CSDR_BENCH_ROUNDS", 1, 1).max(1);

    if Command::new("restic").arg("version").output().is_err() {
        println!("RESULT volume_vs_restic skipped: restic is not installed");
        return;
    }
    let work = tempfile::tempdir().expect("a temporary folder");
    let tree = work.path().join("tree");
    let started = Instant::now();
    let (count, bytes) = write_tree(&tree, files, large_mib);
    println!(
        "tree: {count} files, {:.0} MiB, written in {:.1} s",
        bytes as f64 / 1048576.0,
        started.elapsed().as_secs_f64()
    );

    let mut first_ratio = Vec::new();
    let mut second_bytes = Vec::new();
    let mut second_time = Vec::new();
    let mut restore_ratio = Vec::new();
    for round in 0..rounds {
        let dir = work.path().join(format!("round-{round}"));
        std::fs::create_dir_all(&dir).expect("round folder");
        let restic_repo = dir.join("restic-repo");
        let vault = format!("file://{}", dir.join("vault").display());
        run_ok(restic(&restic_repo).arg("init"));

        let t_restic = timed(
            restic(&restic_repo)
                .args(["backup", "--host", "bench"])
                .arg(&tree),
        )
        .0;
        let (t_csdr, _, first) = timed_child(&["backup", &vault, tree.to_str().unwrap_or("")]);
        let first_added = field(&first, "bytes_added");
        println!(
            "round {round}: first backup: restic {:.2} s, csdr {:.2} s (ratio {:.3}); csdr added {first_added} bytes",
            t_restic.as_secs_f64(),
            t_csdr.as_secs_f64(),
            t_csdr.as_secs_f64() / t_restic.as_secs_f64()
        );
        first_ratio.push(t_csdr.as_secs_f64() / t_restic.as_secs_f64());

        change_one_percent(&tree, files, round + 1);
        let (t_second, _, second) = timed_child(&["backup", &vault, tree.to_str().unwrap_or("")]);
        let t_restic_second = timed(
            restic(&restic_repo)
                .args(["backup", "--host", "bench"])
                .arg(&tree),
        )
        .0;
        let added = field(&second, "bytes_added");
        println!(
            "round {round}: second backup (1 % changed): csdr {:.2} s ({:.3} of its first), added {added} bytes ({:.4} of its first); restic {:.2} s",
            t_second.as_secs_f64(),
            t_second.as_secs_f64() / t_csdr.as_secs_f64(),
            added as f64 / first_added.max(1) as f64,
            t_restic_second.as_secs_f64()
        );
        second_bytes.push(added as f64 / first_added.max(1) as f64);
        second_time.push(t_second.as_secs_f64() / t_csdr.as_secs_f64());

        let id = text_field(&second, "id");
        let restic_out = dir.join("restic-restore");
        let t_restic_restore = timed(
            restic(&restic_repo)
                .args(["restore", "latest", "--target"])
                .arg(&restic_out),
        )
        .0;
        let csdr_out = dir.join("csdr-restore");
        let (t_csdr_restore, _, _) =
            timed_child(&["restore", &vault, &id, csdr_out.to_str().unwrap_or("")]);
        println!(
            "round {round}: restore: restic {:.2} s, csdr {:.2} s (ratio {:.3})",
            t_restic_restore.as_secs_f64(),
            t_csdr_restore.as_secs_f64(),
            t_csdr_restore.as_secs_f64() / t_restic_restore.as_secs_f64()
        );
        restore_ratio.push(t_csdr_restore.as_secs_f64() / t_restic_restore.as_secs_f64());
        let _ = std::fs::remove_dir_all(&dir);
    }
    let _ = std::fs::remove_dir_all(&tree);

    // Peak memory on many tiny files.
    let tiny_tree = work.path().join("tiny");
    let started = Instant::now();
    write_tiny(&tiny_tree, tiny);
    println!(
        "tiny tree: {tiny} files of 100 bytes, written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let vault = format!("file://{}", work.path().join("tiny-vault").display());
    let (t_tiny, peak, _) = timed_child(&["backup", &vault, tiny_tree.to_str().unwrap_or("")]);
    let restic_repo = work.path().join("tiny-restic");
    run_ok(restic(&restic_repo).arg("init"));
    let (t_restic_tiny, restic_peak) = timed(
        restic(&restic_repo)
            .args(["backup", "--host", "bench"])
            .arg(&tiny_tree),
    );
    println!(
        "tiny: csdr {:.1} s, peak {:.0} MiB; restic {:.1} s, peak {:.0} MiB",
        t_tiny.as_secs_f64(),
        peak as f64 / 1048576.0,
        t_restic_tiny.as_secs_f64(),
        restic_peak as f64 / 1048576.0
    );

    println!(
        "RESULT volume_vs_restic files={count} mib={:.0} first_backup_ratio={:.3} second_bytes_share={:.4} second_time_share={:.3} restore_ratio={:.3} tiny_files={tiny} tiny_peak_mib={:.0} restic_tiny_peak_mib={:.0}",
        bytes as f64 / 1048576.0,
        median(&mut first_ratio),
        median(&mut second_bytes),
        median(&mut second_time),
        median(&mut restore_ratio),
        peak as f64 / 1048576.0,
        restic_peak as f64 / 1048576.0
    );
}

/// `child backup <vault> <dir>` / `child restore <vault> <id> <dest>`: one csdr operation in
/// this process; prints the result as JSON on stdout.
fn child(args: &[String]) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let out = runtime.block_on(async {
        let spec = VaultSpec {
            name: "bench".into(),
            url: args[1].clone(),
            region: None,
            network: None,
        };
        let key = RepositoryKey::new(PASSWORD, "the bench").expect("a key");
        let repo = VolumeRepository::open_in_vault(&spec, &StorageOptions::default(), "bench", key)
            .await
            .expect("the repository");
        match args[0].as_str() {
            "backup" => {
                let options = VolumeBackupOptions {
                    host: Some("bench".into()),
                    ..Default::default()
                };
                let snap = repo
                    .backup(Path::new(&args[2]), &options)
                    .await
                    .expect("the backup");
                serde_json::to_string(&snap).expect("json")
            }
            "restore" => {
                let summary = repo
                    .restore(&args[2], Path::new(&args[3]))
                    .await
                    .expect("the restore");
                serde_json::to_string(&summary).expect("json")
            }
            other => panic!("unknown child command {other}"),
        }
    });
    println!("{out}");
}

fn restic(repo: &Path) -> Command {
    let mut cmd = Command::new("restic");
    cmd.arg("-r")
        .arg(repo)
        .args(["--no-cache", "-q"])
        .env("RESTIC_PASSWORD", PASSWORD);
    cmd
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().expect("the command runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `cmd` to the end: its time and peak RSS (bytes).
fn timed(cmd: &mut Command) -> (Duration, u64) {
    let (t, peak, out) = timed_with_output(cmd);
    let _ = out;
    (t, peak)
}

fn timed_child(args: &[&str]) -> (Duration, u64, String) {
    let exe = std::env::current_exe().expect("this binary");
    let mut cmd = Command::new(exe);
    cmd.arg("child").args(args);
    timed_with_output(&mut cmd)
}

fn timed_with_output(cmd: &mut Command) -> (Duration, u64, String) {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the command starts");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut s) = stdout {
            let _ = std::io::Read::read_to_string(&mut s, &mut text);
        }
        text
    });
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            peak = peak.max(vm_hwm(&text));
        }
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    let out = reader.join().unwrap_or_default();
    assert!(status.success(), "{cmd:?} failed");
    (elapsed, peak, out)
}

fn vm_hwm(status: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn field(json: &str, name: &str) -> u64 {
    serde_json::from_str::<serde_json::Value>(json.trim())
        .ok()
        .and_then(|v| v[name].as_u64())
        .unwrap_or(0)
}

fn text_field(json: &str, name: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json.trim())
        .ok()
        .and_then(|v| v[name].as_str().map(str::to_string))
        .unwrap_or_default()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A fast deterministic byte source.
struct XorShift(u64);

impl XorShift {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            let bytes = self.0.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// Compressible text: log-like lines.
fn text(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 80);
    let mut i = seed;
    while out.len() < len {
        let _ = writeln!(
            out,
            "2026-12-05T12:00:{:02}Z INFO request {} served in {} ms path=/api/v1/items/{}",
            i % 60,
            i,
            i % 997,
            i % 10_007
        );
        i += 1;
    }
    out.truncate(len);
    out
}

fn small_file(i: u64, salt: u64) -> Vec<u8> {
    let len = 1024 + (i.wrapping_mul(2_654_435_761) % 9216) as usize;
    if i.is_multiple_of(2) {
        text(len, i * 1000 + salt)
    } else {
        let mut buf = vec![0u8; len];
        XorShift(i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt ^ 1).fill(&mut buf);
        buf
    }
}

fn small_path(root: &Path, i: u64) -> PathBuf {
    root.join(format!("d{:03}", i % 500)).join(format!("f{i}"))
}

/// The tree: `files` small files (1–10 KiB) in 500 folders and four large files; returns the
/// file count and bytes.
fn write_tree(root: &Path, files: u64, large_mib: u64) -> (u64, u64) {
    let mut bytes = 0;
    for d in 0..500 {
        std::fs::create_dir_all(root.join(format!("d{d:03}"))).expect("folder");
    }
    for i in 0..files {
        let body = small_file(i, 0);
        bytes += body.len() as u64;
        std::fs::write(small_path(root, i), body).expect("small file");
    }
    for l in 0..4u64 {
        let mut f = std::fs::File::create(root.join(format!("large-{l}.bin"))).expect("large");
        let mut rng = XorShift(0xDEAD_BEEF ^ l);
        let mut buf = vec![0u8; 1 << 20];
        for m in 0..large_mib {
            if l.is_multiple_of(2) {
                buf = text(1 << 20, m * 100_000 + l);
            } else {
                rng.fill(&mut buf);
            }
            f.write_all(&buf).expect("large write");
            bytes += buf.len() as u64;
        }
    }
    (files + 4, bytes)
}

/// Rewrites every hundredth small file with new contents of the same kind.
fn change_one_percent(root: &Path, files: u64, salt: u64) {
    for i in (0..files).step_by(100) {
        std::fs::write(small_path(root, i), small_file(i, salt * 7919)).expect("change");
    }
}

fn write_tiny(root: &Path, files: u64) {
    let per_dir = 1000;
    for i in 0..files {
        if i.is_multiple_of(per_dir) {
            std::fs::create_dir_all(root.join(format!("d{}", i / per_dir))).expect("folder");
        }
        let body = format!("{i:0>100}");
        std::fs::write(
            root.join(format!("d{}", i / per_dir)).join(format!("f{i}")),
            &body.as_bytes()[..100],
        )
        .expect("tiny file");
    }
}
