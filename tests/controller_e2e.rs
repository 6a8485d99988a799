//! The backup center end to end through HTTP (issue 14): `csdr install` into two simulated
//! clusters (1.16 and 1.28, the HTTP `ApiServer`), `csdr server` processes on each sharing
//! one vault (`file://`, and moto S3 when `CSDR_TEST_S3_ENDPOINT` is set), and kubectl
//! driving everything as the FAQ does: BackupLocations (Available; an unreachable vault
//! Unavailable with `VaultError: …` on its jobs), an ApplicationBackup in 1.16 (`kubectl
//! describe` shows its status), its sync into 1.28, an ApplicationRestore there with the
//! migrated objects, the FAQ's DeleteRequests (the restore's record leaves the vault; the
//! backup leaves the vault and both clusters), BackupSchedules (named backups; a paused one
//! none), `/metrics`, and a killed controller's InProgress job taken over by a second
//! replica through the Lease.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use csdr::core::releases::KubeRelease;
use csdr_kube::testing::{ApiServer, Failure};

fn kubectl_available() -> bool {
    Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A simulated cluster served over HTTP, with a kubeconfig naming it.
struct Site {
    api: ApiServer,
    kubeconfig: PathBuf,
}

impl Site {
    async fn start(sim: csdr::core::sim::SimCluster, dir: &Path, name: &str) -> Site {
        let server = ApiServer::start(sim).await.unwrap();
        let kubeconfig = dir.join(format!("kubeconfig-{name}"));
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: {name}\n  cluster: {{server: '{}'}}\nusers:\n- name: anon\n  user: {{}}\ncontexts:\n- name: {name}\n  context: {{cluster: {name}, user: anon}}\ncurrent-context: {name}\n",
                server.url()
            ),
        )
        .unwrap();
        Site {
            api: server,
            kubeconfig,
        }
    }

    fn csdr(&self, args: &[&str]) -> std::process::Output {
        Command::new(support::csdr_binary())
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    }

    fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        let mut child = Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        } else {
            drop(child.stdin.take());
        }
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn apply(&self, yaml: &str) {
        let (ok, out, err) = self.kubectl(&["apply", "-f", "-"], Some(yaml));
        assert!(ok, "kubectl apply failed: {out}{err}\n{yaml}");
    }

    /// `kubectl -n csdr get <what> -o jsonpath=<path>`, empty when missing.
    fn get(&self, what: &str, path: &str) -> String {
        let (_, out, _) = self.kubectl(
            &["-n", "csdr", "get", what, "-o", &format!("jsonpath={path}")],
            None,
        );
        out
    }

    fn exists(&self, what: &str) -> bool {
        self.kubectl(&["-n", "csdr", "get", what], None).0
    }

    fn server(&self, identity: &str, vault_timeout: &str) -> Server {
        let args = [
            "--vault-timeout",
            vault_timeout,
            "server",
            "--cluster",
            "kube",
            "--identity",
            identity,
            "--metrics-port",
            "0",
            "--sync-period",
            "1s",
            "--heartbeat-period",
            "1s",
            "--lease-seconds",
            "3",
            "--shutdown-grace",
            "5s",
        ];
        self.spawn(&args, &[])
    }

    /// A `csdr` process on this site with `args` and `envs`, its stderr kept.
    fn spawn(&self, args: &[&str], envs: &[(&str, &Path)]) -> Server {
        let mut child = Command::new(support::csdr_binary())
            .args(args)
            .envs(envs.iter().copied())
            .env("KUBECONFIG", &self.kubeconfig)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Server { child, log }
    }
}

/// A `csdr server` process; killed (SIGKILL) when dropped.
struct Server {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Server {
    fn metrics_url(&self) -> String {
        wait("the metrics address", Duration::from_secs(20), || {
            let log = self.log.lock().unwrap();
            log.lines()
                .find_map(|l| l.split("metrics on ").nth(1))
                .map(|u| u.trim().replace("0.0.0.0", "127.0.0.1"))
        })
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn wait<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn http_get(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    let request = format!("GET /{path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(&mut stream, &mut out).unwrap();
    out
}

const LOCATION: &str = "apiVersion: csdr.alibabacloud.com/v1beta1
kind: BackupLocation
metadata: {name: NAME, namespace: csdr}
spec: {url: 'URL'}
";

fn backup_yaml(name: &str, location: &str) -> String {
    format!(
        "apiVersion: csdr.alibabacloud.com/v1beta1
kind: ApplicationBackup
metadata: {{name: {name}, namespace: csdr}}
spec: {{includedNamespaces: [shop], backupLocation: {location}, ttl: 720h}}
"
    )
}

/// The FAQ's DeleteRequest YAML for `object` of `kind`, applied in `site`; waits until the
/// request removed itself.
fn delete_request(site: &Site, object: &str, kind: &str) {
    let name = format!("{object}-dbr");
    site.apply(&format!(
        "apiVersion: csdr.alibabacloud.com/v1beta1
kind: DeleteRequest
metadata:
  name: {name}
  namespace: csdr
spec:
  deleteObjectName: \"{object}\"
  deleteObjectType: \"{kind}\"
"
    ));
    wait(
        &format!("DeleteRequest {name} to remove itself"),
        Duration::from_secs(30),
        || (!site.exists(&format!("deleterequest/{name}"))).then_some(()),
    );
}

/// Two simulated clusters with the backup center installed and a `csdr server` each, their
/// BackupLocation `oss` Available on one vault.
struct SharedVault {
    old: Site,
    new: Site,
    old_a: Server,
    new_a: Server,
}

/// A vault URL's vault, opened in this process to check what the controllers left in it.
async fn open_vault(url: &str) -> Arc<dyn csdr::core::ports::vault::Vault> {
    Arc::new(
        csdr::storage::open_url("oss", url, &csdr::storage::StorageOptions::default())
            .await
            .unwrap(),
    )
}

/// The flow every vault kind runs: `csdr install` (twice: idempotent) in 1.16 and 1.28, a
/// `csdr server` in each, BackupLocation `oss` on `vault_url` Available in both (with the
/// Secret `credential` when given), an ApplicationBackup in 1.16 that completes, its sync into
/// 1.28, an ApplicationRestore there with the migrated objects, then DeleteRequests: the
/// restore's record leaves the vault, and the backup leaves the vault and both clusters.
async fn shared_vault_flow(
    dir: &Path,
    vault_url: &str,
    credential: Option<(&str, &str)>,
) -> SharedVault {
    let old = Site::start(support::shop_cluster(KubeRelease::V1_16), dir, "c116").await;
    let new = Site::start(support::target_cluster(KubeRelease::V1_28), dir, "c128").await;

    // Install, twice: the second run changes nothing and keeps csdr-config.
    for site in [&old, &new] {
        for round in 0..2 {
            let out = site.csdr(&["install", "--cluster", "kube"]);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "install: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(stdout.contains("customresourcedefinitions/applicationbackups.csdr.alibabacloud.com serverside-applied"), "{stdout}");
            if round == 1 {
                assert!(
                    stdout.contains("configmaps/csdr-config unchanged"),
                    "{stdout}"
                );
            }
        }
        assert!(site.exists("deployment/csdr-controller"));
        assert!(
            site.get("cm/csdr-config", "{.data.applicationBackup}")
                .contains("backup_max_worker_num")
        );
    }

    let old_a = old.server("c116-a", "3s");
    let new_a = new.server("c128-a", "3s");

    // A BackupLocation in each cluster, on the same vault: Available.
    for site in [&old, &new] {
        let mut location = LOCATION.replace("NAME", "oss").replace("URL", vault_url);
        if let Some((access_key_id, secret_access_key)) = credential {
            let (ok, out, err) = site.kubectl(
                &[
                    "-n",
                    "csdr",
                    "create",
                    "secret",
                    "generic",
                    "oss-credentials",
                    &format!("--from-literal=access_key_id={access_key_id}"),
                    &format!("--from-literal=secret_access_key={secret_access_key}"),
                ],
                None,
            );
            assert!(ok, "{out}{err}");
            location = location.replace("'}\n", "', credential: {name: oss-credentials}}\n");
        }
        site.apply(&location);
        wait("oss Available", Duration::from_secs(30), || {
            (site.get("backuplocation/oss", "{.status.phase}") == "Available").then_some(())
        });
        assert!(
            !site
                .get("backuplocation/oss", "{.status.lastValidationTime}")
                .is_empty()
        );
    }

    // An ApplicationBackup in 1.16: Completed, and `kubectl describe` shows its status.
    old.apply(&backup_yaml("shop-b", "oss"));
    let phase = wait("shop-b to finish", Duration::from_secs(60), || {
        let p = old.get("applicationbackup/shop-b", "{.status.phase}");
        (!p.is_empty() && p != "InProgress").then_some(p)
    });
    assert_eq!(phase, "Completed");
    let (ok, describe, err) = old.kubectl(
        &["-n", "csdr", "describe", "applicationbackup", "shop-b"],
        None,
    );
    assert!(ok, "{err}");
    assert!(describe.contains("Completed"), "{describe}");
    assert!(describe.contains("Items Backed Up"), "{describe}");

    // It appears in 1.28 by sync, and restores there with the objects migrated.
    wait("shop-b synced into 1.28", Duration::from_secs(30), || {
        (new.get("applicationbackup/shop-b", "{.status.phase}") == "Completed").then_some(())
    });
    assert_eq!(
        new.get(
            "applicationbackup/shop-b",
            "{.metadata.labels.csdr\\.alibabacloud\\.com/synced}"
        ),
        "true"
    );
    new.apply(
        "apiVersion: csdr.alibabacloud.com/v1beta1
kind: ApplicationRestore
metadata: {name: shop-r, namespace: csdr}
spec: {backupName: shop-b}
",
    );
    let phase = wait("shop-r to finish", Duration::from_secs(60), || {
        let p = new.get("applicationrestore/shop-r", "{.status.phase}");
        (!p.is_empty() && p != "InProgress").then_some(p)
    });
    let (_, describe, _) = new.kubectl(
        &["-n", "csdr", "describe", "applicationrestore", "shop-r"],
        None,
    );
    assert!(
        phase == "Completed" || phase == "PartiallyFailed",
        "{describe}"
    );
    let (ok, ingress, err) = new.kubectl(
        &[
            "-n",
            "shop",
            "get",
            "ingress.networking.k8s.io",
            "web",
            "-o",
            "jsonpath={.apiVersion}",
        ],
        None,
    );
    assert!(ok, "the Ingress was not restored: {err}\n{describe}");
    assert_eq!(ingress, "networking.k8s.io/v1");
    assert!(
        new.kubectl(&["-n", "shop", "get", "deployment", "web"], None)
            .0
    );

    // A DeleteRequest for the restore: its record leaves the vault, the ApplicationRestore
    // the cluster; the restored objects and the backup stay.
    let vault = open_vault(vault_url).await;
    assert!(vault.restore("shop-r").await.unwrap().is_some());
    delete_request(&new, "shop-r", "Restore");
    assert!(vault.restore("shop-r").await.unwrap().is_none());
    assert!(!new.exists("applicationrestore/shop-r"));
    assert!(
        new.kubectl(&["-n", "shop", "get", "deployment", "web"], None)
            .0
    );
    assert!(vault.backup("shop-b").await.unwrap().is_some());

    // The FAQ's DeleteRequest, in 1.28: the backup leaves the vault and both clusters.
    delete_request(&new, "shop-b", "Backup");
    assert!(!new.exists("applicationbackup/shop-b"));
    wait("shop-b gone from 1.16", Duration::from_secs(30), || {
        (!old.exists("applicationbackup/shop-b")).then_some(())
    });
    assert!(vault.backup("shop-b").await.unwrap().is_none());
    let out = old.csdr(&[
        "backup",
        "list",
        "--vault",
        vault_url,
        "--vault-name",
        "oss",
        "-o",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("\"shop-b\""));

    SharedVault {
        old,
        new,
        old_a,
        new_a,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_backup_center_from_kubectl_on_two_clusters_sharing_a_vault() {
    if !kubectl_available() {
        eprintln!("note: skipping the backup center end-to-end test: kubectl is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let vault_url = format!("file://{}", dir.path().join("vault").display());
    let SharedVault {
        old,
        new,
        old_a: _old_a,
        new_a,
    } = shared_vault_flow(dir.path(), &vault_url, None).await;

    // An unreachable vault: the location turns Unavailable, and its jobs fail with VaultError.
    old.apply(&LOCATION.replace("NAME", "down").replace(
        "URL",
        "s3://nowhere/csdr?endpoint=http://127.0.0.1:9&region=us-east-1&path_style=true",
    ));
    wait("down Unavailable", Duration::from_secs(60), || {
        (old.get("backuplocation/down", "{.status.phase}") == "Unavailable").then_some(())
    });
    old.apply(&backup_yaml("down-b", "down"));
    let reason = wait("down-b to fail", Duration::from_secs(30), || {
        let r = old.get("applicationbackup/down-b", "{.status.failureReason}");
        (!r.is_empty()).then_some(r)
    });
    assert!(reason.starts_with("VaultError: "), "{reason}");
    assert_eq!(
        old.get("applicationbackup/down-b", "{.status.phase}"),
        "Failed"
    );

    // Schedules: a short interval fires named backups; a paused one none.
    for (name, paused) in [("every", false), ("paused", true)] {
        old.apply(&format!(
            "apiVersion: csdr.alibabacloud.com/v1beta1
kind: BackupSchedule
metadata: {{name: {name}, namespace: csdr}}
spec: {{schedule: 3s, paused: {paused}, template: {{includedNamespaces: [shop], backupLocation: oss}}}}
"
        ));
    }
    let names = wait("two scheduled backups", Duration::from_secs(60), || {
        let out = old.get(
            "applicationbackups",
            "{range .items[*]}{.metadata.name}{\"\\n\"}{end}",
        );
        let names: Vec<String> = out
            .lines()
            .filter(|l| l.starts_with("every-"))
            .map(str::to_string)
            .collect();
        (names.len() >= 2).then_some(names)
    });
    for name in &names {
        let stamp = name.strip_prefix("every-").unwrap();
        assert!(
            stamp.len() == 14 && stamp.chars().all(|c| c.is_ascii_digit()),
            "{name}"
        );
    }
    assert!(
        !old.get("applicationbackups", "{.items[*].metadata.name}")
            .contains("paused-")
    );
    assert_eq!(
        old.get("backupschedule/paused", "{.status.phase}"),
        "Paused"
    );
    assert!(
        old.kubectl(&["-n", "csdr", "delete", "backupschedule", "every"], None)
            .0
    );

    // Metrics and health.
    let metrics = http_get(&new_a.metrics_url());
    assert!(
        metrics.contains("csdr_jobs_total{kind=\"restore\",phase="),
        "{metrics}"
    );
    assert!(metrics.contains("csdr_leader 1"), "{metrics}");
    let ready = http_get(&new_a.metrics_url().replace("/metrics", "/readyz"));
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");

    // A second replica in 1.28 waits; the leader is killed with a job InProgress; the
    // replica takes the Lease and fails the orphaned job with a reason.
    let _new_b = new.server("c128-b", "3s");
    std::thread::sleep(Duration::from_secs(1));
    let mut new_a = new_a;
    new_a.kill();
    new.apply(&backup_yaml("orphan", "oss"));
    let (ok, _, err) = new.kubectl(
        &["-n", "csdr", "patch", "applicationbackup", "orphan", "--subresource=status", "--type=merge", "-p",
          "{\"status\":{\"phase\":\"InProgress\",\"controller\":\"c128-a\",\"startTimestamp\":\"2026-01-01T00:00:00Z\",\"heartbeatTime\":\"2026-01-01T00:00:00Z\"}}"],
        None,
    );
    assert!(ok, "{err}");
    let reason = wait(
        "the orphan to be taken over",
        Duration::from_secs(60),
        || {
            let r = new.get("applicationbackup/orphan", "{.status.failureReason}");
            (!r.is_empty()).then_some(r)
        },
    );
    assert!(reason.contains("c128-a"), "{reason}");
    assert_eq!(
        new.get("lease/csdr-controller-leader", "{.spec.holderIdentity}"),
        "c128-b"
    );
}

/// The same flow on a moto S3 vault (`CSDR_TEST_S3_ENDPOINT`, see `scripts/test.sh`), in a
/// prefix of its own, with the access key in a Secret the BackupLocations name.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_backup_center_on_an_s3_vault() {
    let Some((endpoint, bucket)) = support::s3_env("the backup center on S3") else {
        return;
    };
    if !kubectl_available() {
        eprintln!("note: skipping the backup center on S3: kubectl is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let vault_url = format!(
        "s3://{bucket}/{}?endpoint={endpoint}&region=us-east-1",
        support::unique_prefix("center")
    );
    let access_key_id = std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "testing".into());
    let secret_access_key =
        std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| "testing".into());
    shared_vault_flow(
        dir.path(),
        &vault_url,
        Some((&access_key_id, &secret_access_key)),
    )
    .await;
}

/// `kubectl get` prints the CRDs' printer columns (`NAME PHASE LAST VALIDATED AGE`, as the
/// FAQ shows) and `kubectl describe` lists the controller's Events. Both depend on the
/// simulator answering Table requests and `involvedObject` field selectors on Events.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kubectl_shows_printer_columns_and_events() {
    if !kubectl_available() {
        eprintln!("note: skipping: kubectl is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let vault_url = format!("file://{}", dir.path().join("vault").display());
    let site = Site::start(
        support::target_cluster(KubeRelease::V1_28),
        dir.path(),
        "c128",
    )
    .await;
    assert!(
        site.csdr(&["install", "--cluster", "kube"])
            .status
            .success()
    );
    let _server = site.server("c128-a", "3s");
    site.apply(&LOCATION.replace("NAME", "oss").replace("URL", &vault_url));
    wait("oss Available", Duration::from_secs(30), || {
        (site.get("backuplocation/oss", "{.status.phase}") == "Available").then_some(())
    });
    let (ok, table, err) = site.kubectl(&["-n", "csdr", "get", "backuplocation"], None);
    assert!(ok, "{err}");
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        header,
        ["NAME", "PHASE", "LAST VALIDATED", "AGE"],
        "{table}"
    );
    assert!(
        table.lines().nth(1).unwrap().contains("Available"),
        "{table}"
    );
    let (ok, describe, err) =
        site.kubectl(&["-n", "csdr", "describe", "backuplocation", "oss"], None);
    assert!(ok, "{err}");
    let events = describe.split("Events:").nth(1).unwrap_or_default();
    assert!(events.contains("Available"), "{describe}");
}

/// Every file under `dir` (none when it does not exist).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.map_while(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// A simulated 1.16 cluster with the shop, `csdr install`ed, a `csdr server` (`c116-a`) and
/// BackupLocation `oss` Available on a `file://` vault in `dir/vault`.
async fn installed_site(dir: &Path) -> (Site, Server, PathBuf) {
    let vault_dir = dir.join("vault");
    let vault_url = format!("file://{}", vault_dir.display());
    let site = Site::start(support::shop_cluster(KubeRelease::V1_16), dir, "c116").await;
    assert!(
        site.csdr(&["install", "--cluster", "kube"])
            .status
            .success()
    );
    let server = site.server("c116-a", "3s");
    site.apply(&LOCATION.replace("NAME", "oss").replace("URL", &vault_url));
    wait("oss Available", Duration::from_secs(30), || {
        (site.get("backuplocation/oss", "{.status.phase}") == "Available").then_some(())
    });
    (site, server, vault_dir)
}

/// The path the backup of the shop lists ConfigMaps on, and how long the API server makes it
/// wait per injected 429.
const SLOW_PATH: &str = "/api/v1/namespaces/shop/configmaps";
const RETRY_AFTER: Duration = Duration::from_secs(30);

/// Creates backup `name` kept InProgress by the API server: its lists of the shop's
/// ConfigMaps are answered 429 with `Retry-After: 30`, twice, so it needs a minute more.
/// Returns once it is InProgress, waiting, with its upload started in `vault_dir`.
fn slow_backup(site: &Site, vault_dir: &Path, name: &str) -> PathBuf {
    site.api.inject_failures(
        SLOW_PATH,
        Failure::TooManyRequests {
            retry_after: RETRY_AFTER,
        },
        2,
    );
    site.apply(&backup_yaml(name, "oss"));
    wait(
        &format!("{name} InProgress, waiting for the API server"),
        Duration::from_secs(60),
        || {
            (site.get(&format!("applicationbackup/{name}"), "{.status.phase}") == "InProgress"
                && site.api.pending_failures(SLOW_PATH) < 2)
                .then_some(())
        },
    );
    let backup_dir = vault_dir.join("backups").join(name);
    assert!(
        !files_under(&backup_dir).is_empty(),
        "the backup's upload has started"
    );
    backup_dir
}

/// Answers the injected failures still pending, so the next job runs at full speed.
fn drain_failures(site: &Site) {
    while site.api.pending_failures(SLOW_PATH) > 0 {
        http_get(&format!("{}{SLOW_PATH}", site.api.url()));
    }
}

/// `csdr server` stops on SIGTERM without leaving its job stuck: a backup kept InProgress by
/// the API server (its lists of the shop's ConfigMaps answered 429 with `Retry-After: 30`,
/// twice, so the job needs a minute more) outlives the shutdown grace (5 s); the process
/// exits well before the job could have finished, the job is handed back (status cleared,
/// no controller) and its half-written upload is gone from the vault, so a second replica
/// runs it again under the same name to Completed. The stopped controller released the Lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_hands_an_unfinished_job_back_without_its_upload() {
    if !kubectl_available() {
        eprintln!("note: skipping: kubectl is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (site, mut first, vault_dir) = installed_site(dir.path()).await;
    let backup_dir = slow_backup(&site, &vault_dir, "slow");

    assert_eq!(
        site.get("lease/csdr-controller-leader", "{.spec.holderIdentity}"),
        "c116-a"
    );
    let pid = first.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    // The job still needs at least one more Retry-After; the process must not wait for it.
    let exit = wait("csdr server to exit on SIGTERM", RETRY_AFTER, || {
        first.child.try_wait().unwrap()
    });
    let log = first.log.lock().unwrap().clone();
    assert!(exit.success(), "csdr server exited with {exit}: {log}");
    assert_eq!(
        site.get("applicationbackup/slow", "{.status.phase}"),
        "",
        "the job was handed back: {log}"
    );
    assert_eq!(
        site.get("applicationbackup/slow", "{.status.controller}"),
        ""
    );
    assert_ne!(
        site.get("lease/csdr-controller-leader", "{.spec.holderIdentity}"),
        "c116-a",
        "the stopped controller released the Lease"
    );
    assert_eq!(
        files_under(&backup_dir),
        Vec::<PathBuf>::new(),
        "the unfinished upload was removed"
    );

    // A second replica runs the job again, under the same name, to the end.
    drain_failures(&site);
    let _second = site.server("c116-b", "3s");
    let phase = wait("slow to finish", Duration::from_secs(60), || {
        let p = site.get("applicationbackup/slow", "{.status.phase}");
        (!p.is_empty() && p != "InProgress").then_some(p)
    });
    assert_eq!(
        phase,
        "Completed",
        "{}",
        site.get("applicationbackup/slow", "{.status.failureReason}")
    );
    assert_eq!(
        site.get("applicationbackup/slow", "{.status.controller}"),
        "c116-b"
    );
}

/// No finalizers: `kubectl delete` of a Completed ApplicationBackup removes only the cluster
/// object (the backup stays in the vault, and sync shows it again as synced); `kubectl
/// delete` of an InProgress one returns at once, and the controller cancels the job and
/// removes its unfinished upload; deleting the `csdr` namespace while the controller runs
/// is never held in Terminating.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kubectl_delete_keeps_the_vault_and_never_blocks_the_namespace() {
    if !kubectl_available() {
        eprintln!("note: skipping: kubectl is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (site, _server, vault_dir) = installed_site(dir.path()).await;
    let vault = open_vault(&format!("file://{}", vault_dir.display())).await;

    site.apply(&backup_yaml("kept", "oss"));
    wait("kept Completed", Duration::from_secs(60), || {
        (site.get("applicationbackup/kept", "{.status.phase}") == "Completed").then_some(())
    });
    assert_eq!(
        site.get("applicationbackup/kept", "{.metadata.finalizers}"),
        ""
    );
    let (ok, out, err) = site.kubectl(&["-n", "csdr", "delete", "applicationbackup", "kept"], None);
    assert!(ok, "{out}{err}");
    assert!(vault.backup("kept").await.unwrap().is_some());
    assert!(vault.download_archive("kept").await.is_ok());
    wait("kept shown again by sync", Duration::from_secs(30), || {
        (site.get(
            "applicationbackup/kept",
            "{.metadata.labels.csdr\\.alibabacloud\\.com/synced}",
        ) == "true")
            .then_some(())
    });

    let doomed = slow_backup(&site, &vault_dir, "doomed");
    assert_eq!(
        site.get("applicationbackup/doomed", "{.metadata.finalizers}"),
        ""
    );
    let (ok, out, err) = site.kubectl(
        &[
            "-n",
            "csdr",
            "delete",
            "applicationbackup",
            "doomed",
            "--timeout=20s",
        ],
        None,
    );
    assert!(ok, "{out}{err}");
    wait(
        "the cancelled job's upload to be removed",
        Duration::from_secs(20),
        || files_under(&doomed).is_empty().then_some(()),
    );
    assert!(vault.backup("doomed").await.unwrap().is_none());
    drain_failures(&site);

    let (ok, out, err) = site.kubectl(&["delete", "namespace", "csdr", "--timeout=60s"], None);
    assert!(ok, "the csdr namespace stayed Terminating: {out}{err}");
    assert!(!site.kubectl(&["get", "namespace", "csdr"], None).0);
}

/// Client-side encryption in the controller (E2, E3): an ApplicationBackup with
/// `spec.encryptionKey: age1…` completes with no Secret value in the vault and its status
/// (and `kubectl describe`) naming the key; ApplicationRestores without a key, with a
/// missing Secret or with another identity end Failed before anything is applied, naming
/// the key id and the Secret; with `spec.decryptionKeySecretRef` to the right identity the
/// objects are restored, the restore's files and record sealed. The identity never shows in
/// a status, an Event or the controller's log.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_encrypted_application_backup_restores_only_with_its_identity_secret() {
    if !kubectl_available() {
        eprintln!("note: skipping: kubectl is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (site, server, vault_dir) = installed_site(dir.path()).await;
    let (identity, recipient) = support::age_identity(dir.path());
    let other_dir = dir.path().join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let (other_identity, _) = support::age_identity(&other_dir);
    let material: Vec<String> = [&identity, &other_identity]
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .find(|l| l.starts_with("AGE-SECRET-KEY-"))
                .unwrap()
                .to_string()
        })
        .collect();
    for (name, path) in [("shop-age", &identity), ("wrong-age", &other_identity)] {
        let (ok, out, err) = site.kubectl(
            &[
                "-n",
                "csdr",
                "create",
                "secret",
                "generic",
                name,
                &format!("--from-file=identity.txt={}", path.display()),
            ],
            None,
        );
        assert!(ok, "{out}{err}");
    }

    site.apply(&format!(
        "apiVersion: csdr.alibabacloud.com/v1beta1
kind: ApplicationBackup
metadata: {{name: shop-enc, namespace: csdr}}
spec: {{includedNamespaces: [shop], backupLocation: oss, encryptionKey: '{recipient}'}}
"
    ));
    let phase = wait("shop-enc to finish", Duration::from_secs(60), || {
        let p = site.get("applicationbackup/shop-enc", "{.status.phase}");
        (!p.is_empty() && p != "InProgress").then_some(p)
    });
    assert_eq!(
        phase,
        "Completed",
        "{}",
        site.get("applicationbackup/shop-enc", "{.status.failureReason}")
    );
    assert_eq!(
        site.get("applicationbackup/shop-enc", "{.status.encryption.keyId}"),
        recipient
    );
    assert_eq!(
        site.get("applicationbackup/shop-enc", "{.status.encryption.keyKind}"),
        "age"
    );
    let (ok, describe, err) = site.kubectl(
        &["-n", "csdr", "describe", "applicationbackup", "shop-enc"],
        None,
    );
    assert!(ok, "{err}");
    assert!(describe.contains(&recipient), "{describe}");
    let leaks = |what: &str, needles: &[&str]| {
        for file in files_under(&vault_dir.join(what)) {
            let bytes = std::fs::read(&file).unwrap();
            for needle in needles {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                    "{} holds {needle}",
                    file.display()
                );
            }
        }
    };
    assert!(!files_under(&vault_dir.join("backups/shop-enc")).is_empty());
    leaks("backups", &["cGFzc3dvcmQ=", "web-secret"]);

    // Without a key, with a Secret that does not exist, with another identity: Failed
    // before anything is applied, naming the key id and the Secret.
    let restore = |name: &str, target: &str, secret: Option<&str>| {
        let key = secret
            .map(|s| format!(", decryptionKeySecretRef: {{name: {s}, key: identity.txt}}"))
            .unwrap_or_default();
        site.apply(&format!(
            "apiVersion: csdr.alibabacloud.com/v1beta1
kind: ApplicationRestore
metadata: {{name: {name}, namespace: csdr}}
spec: {{backupName: shop-enc, namespaceMapping: {{shop: {target}}}{key}}}
"
        ));
        wait(
            &format!("{name} to finish"),
            Duration::from_secs(60),
            || {
                let p = site.get(&format!("applicationrestore/{name}"), "{.status.phase}");
                (!p.is_empty() && p != "InProgress").then_some(p)
            },
        )
    };
    for (name, target, secret, names) in [
        ("r-nokey", "shop-nokey", None, "spec.decryptionKeySecretRef"),
        (
            "r-absent",
            "shop-absent",
            Some("absent-age"),
            "Secret csdr/absent-age not found",
        ),
        (
            "r-wrong",
            "shop-wrong",
            Some("wrong-age"),
            "Secret csdr/wrong-age key identity.txt",
        ),
    ] {
        let phase = restore(name, target, secret);
        let reason = site.get(
            &format!("applicationrestore/{name}"),
            "{.status.failureReason}",
        );
        assert_eq!(phase, "Failed", "{name}: {reason}");
        assert!(reason.contains(&recipient), "{name}: {reason}");
        assert!(reason.contains(names), "{name}: {reason}");
        let (applied, out, _) = site.kubectl(&["-n", target, "get", "secret,deployment"], None);
        assert!(
            !applied || out.trim().is_empty(),
            "{name}: nothing is applied: {out}"
        );
    }

    // With the identity's Secret: restored, the Secret's value included.
    let phase = restore("r-ok", "shop-sealed", Some("shop-age"));
    assert!(
        phase == "Completed" || phase == "PartiallyFailed",
        "{phase}: {}",
        site.get("applicationrestore/r-ok", "{.status.failureReason}")
    );
    let (ok, password, err) = site.kubectl(
        &[
            "-n",
            "shop-sealed",
            "get",
            "secret",
            "web-secret",
            "-o",
            "jsonpath={.data.password}",
        ],
        None,
    );
    assert!(ok, "{err}");
    assert_eq!(password, "cGFzc3dvcmQ=");
    assert!(
        site.kubectl(&["-n", "shop-sealed", "get", "deployment", "web"], None)
            .0
    );
    assert_eq!(
        site.get("applicationrestore/r-ok", "{.status.encryption.keyId}"),
        recipient
    );
    // The restore's record and files are sealed: no mapping target, no Secret value.
    assert!(!files_under(&vault_dir.join("restores/r-ok")).is_empty());
    leaks("restores", &["shop-sealed", "cGFzc3dvcmQ=", "web-secret"]);

    // A StorageClass conversion reads the backup too: without the key it fails naming the
    // key and the field; with the identity's Secret it reads the backup (it has no volume
    // data to convert) and its status names the key.
    let convert = |name: &str, secret: Option<&str>| {
        let key = secret
            .map(|s| format!(", decryptionKeySecretRef: {{name: {s}, key: identity.txt}}"))
            .unwrap_or_default();
        site.apply(&format!(
            "apiVersion: csdr.alibabacloud.com/v1beta1
kind: ConvertToSnapshot
metadata: {{name: {name}, namespace: csdr}}
spec: {{backupName: shop-enc, storageClassMapping: {{alicloud-nas: alicloud-disk}}{key}}}
"
        ));
        wait(
            &format!("{name} to finish"),
            Duration::from_secs(60),
            || {
                let p = site.get(&format!("converttosnapshot/{name}"), "{.status.phase}");
                (!p.is_empty() && p != "InProgress").then_some(p)
            },
        )
    };
    assert_eq!(convert("c-nokey", None), "Failed");
    let reason = site.get("converttosnapshot/c-nokey", "{.status.failureReason}");
    assert!(
        reason.contains(&recipient)
            && reason.contains("spec.decryptionKeySecretRef")
            && reason.contains("nothing was converted"),
        "{reason}"
    );
    let phase = convert("c-key", Some("shop-age"));
    assert_eq!(
        phase,
        "Completed",
        "{}",
        site.get("converttosnapshot/c-key", "{.status.failureReason}")
    );
    assert_eq!(
        site.get("converttosnapshot/c-key", "{.status.encryption.keyId}"),
        recipient
    );

    // No key material in any status, Event or log line.
    let mut seen = Vec::new();
    for what in [
        "applicationbackup",
        "applicationrestore",
        "converttosnapshot",
        "events",
    ] {
        let (ok, out, err) = site.kubectl(&["-n", "csdr", "get", what, "-o", "yaml"], None);
        assert!(ok, "{what}: {err}");
        seen.push((what.to_string(), out));
    }
    for name in ["r-nokey", "r-absent", "r-wrong", "r-ok"] {
        let (_, out, _) = site.kubectl(
            &["-n", "csdr", "describe", "applicationrestore", name],
            None,
        );
        assert!(out.contains(&recipient), "{name}: {out}");
        seen.push((format!("describe {name}"), out));
    }
    seen.push((
        "the controller's log".into(),
        server.log.lock().unwrap().clone(),
    ));
    for (what, text) in &seen {
        for secret in &material {
            assert!(!text.contains(secret.as_str()), "{what} holds key material");
        }
        assert!(
            !text.contains("AGE-SECRET-KEY"),
            "{what} holds key material"
        );
    }
}

/// An ApplicationBackup encrypted with a KMS key (the S3 test server's KMS) restores with no
/// Secret, the controller using its own AWS credentials (`AWS_ACCESS_KEY_ID`/
/// `AWS_SECRET_ACCESS_KEY`, which scripts/test.sh exports); `spec.decryptionKey` naming
/// another KMS key ends Failed before anything is applied, naming the backup's key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kms_encrypted_application_backup_restores_with_the_controllers_credentials() {
    let Some((endpoint, _)) = support::s3_env("the controller's KMS encryption flow") else {
        return;
    };
    if !kubectl_available() || std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        eprintln!("note: skipping: kubectl or AWS_ACCESS_KEY_ID (scripts/test.sh) is missing");
        return;
    }
    let arn = support::moto_kms_key(&endpoint);
    let other = support::moto_kms_key(&endpoint);
    let dir = tempfile::tempdir().unwrap();
    let (site, _server, _) = installed_site(dir.path()).await;
    site.apply(&format!(
        "apiVersion: csdr.alibabacloud.com/v1beta1
kind: ApplicationBackup
metadata: {{name: shop-kms, namespace: csdr}}
spec: {{includedNamespaces: [shop], backupLocation: oss, encryptionKey: 'kms://{arn}?endpoint={endpoint}'}}
"
    ));
    let phase = wait("shop-kms to finish", Duration::from_secs(60), || {
        let p = site.get("applicationbackup/shop-kms", "{.status.phase}");
        (!p.is_empty() && p != "InProgress").then_some(p)
    });
    assert_eq!(
        phase,
        "Completed",
        "{}",
        site.get("applicationbackup/shop-kms", "{.status.failureReason}")
    );
    assert_eq!(
        site.get("applicationbackup/shop-kms", "{.status.encryption.keyKind}"),
        "kms"
    );
    assert_eq!(
        site.get("applicationbackup/shop-kms", "{.status.encryption.keyId}"),
        arn
    );
    for (name, target, key) in [
        ("r-other", "shop-other", &other),
        ("r-kms", "shop-kms", &arn),
    ] {
        site.apply(&format!(
            "apiVersion: csdr.alibabacloud.com/v1beta1
kind: ApplicationRestore
metadata: {{name: {name}, namespace: csdr}}
spec: {{backupName: shop-kms, namespaceMapping: {{shop: {target}}}, decryptionKey: 'kms://{key}?endpoint={endpoint}'}}
"
        ));
    }
    let finished = |name: &str| {
        wait(
            &format!("{name} to finish"),
            Duration::from_secs(60),
            || {
                let p = site.get(&format!("applicationrestore/{name}"), "{.status.phase}");
                (!p.is_empty() && p != "InProgress").then_some(p)
            },
        )
    };
    let reason = |name: &str| {
        site.get(
            &format!("applicationrestore/{name}"),
            "{.status.failureReason}",
        )
    };
    assert_eq!(finished("r-other"), "Failed", "{}", reason("r-other"));
    assert!(reason("r-other").contains(&arn), "{}", reason("r-other"));
    let (applied, out, _) = site.kubectl(&["-n", "shop-other", "get", "secret,deployment"], None);
    assert!(
        !applied || out.trim().is_empty(),
        "nothing is applied: {out}"
    );
    let phase = finished("r-kms");
    assert!(
        phase == "Completed" || phase == "PartiallyFailed",
        "{phase}: {}",
        reason("r-kms")
    );
    let (ok, password, err) = site.kubectl(
        &[
            "-n",
            "shop-kms",
            "get",
            "secret",
            "web-secret",
            "-o",
            "jsonpath={.data.password}",
        ],
        None,
    );
    assert!(ok, "{err}");
    assert_eq!(password, "cGFzc3dvcmQ=");
}

/// The phase of `what` once it left InProgress; on anything but Completed, fails the test with
/// `kubectl describe`, the processes' logs and the log files of processes the simulated
/// kubelet runs.
fn assert_completed(site: &Site, what: &str, processes: &[&Server], log_files: &[&Path]) {
    let phase = wait(
        &format!("{what} to finish"),
        Duration::from_secs(90),
        || {
            let p = site.get(what, "{.status.phase}");
            (!p.is_empty() && p != "InProgress" && p != "New").then_some(p)
        },
    );
    if phase != "Completed" {
        let (_, describe, _) = site.kubectl(&["-n", "csdr", "describe", what], None);
        let logs: Vec<String> = processes
            .iter()
            .map(|p| p.log.lock().unwrap().clone())
            .chain(
                log_files
                    .iter()
                    .map(|f| std::fs::read_to_string(f).unwrap_or_default()),
            )
            .collect();
        panic!(
            "{what} ended {phase}:\n{describe}\n--- logs:\n{}",
            logs.join("\n---\n")
        );
    }
}

/// Issue 17's node agents through the backup center: `csdr install`, a `csdr server`, and the
/// DaemonSet's `csdr node-agent` process for node-a reading the simulated kubelet's folders. An
/// ApplicationBackup with backupVolumes copies the NAS claim's files into the vault's restic
/// repository through a PodVolumeBackup the agent runs (kubectl lists it Completed on
/// node-a); an ApplicationRestore into another namespace and NAS class gives the new claim a
/// fresh volume holding the same files, through a PodVolumeRestore. The agent is the pod of
/// `csdr install`'s DaemonSet on node-a (node-0 is excluded by the node policy), run by the
/// simulated kubelet (`csdr::sim_workloads`) as a `csdr node-agent` process.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn node_agents_copy_nas_files_for_application_backups_and_restores() {
    if !kubectl_available() {
        eprintln!("skipped: kubectl is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sim = csdr::core::sim::SimCluster::new(KubeRelease::V1_22);
    sim.load_documents(&[csdr::core::sim::SimDocument {
        path: "app.yaml".into(),
        text: support::NAS_APP.into(),
    }])
    .unwrap();
    let site = Site::start(sim.clone(), dir.path(), "c122").await;

    // The simulated kubelet follows the cluster, as the kubelet mounts pods' volumes.
    let kubelet = csdr::sim_kubelet::SimKubelet::new(dir.path().join("kubelet"));
    kubelet.sync(&sim).unwrap();
    let data = kubelet.volume_data("nas-uploads");
    std::fs::create_dir_all(data.join("2026")).unwrap();
    std::fs::write(data.join("2026/cat.png"), vec![7u8; 100_000]).unwrap();
    std::fs::write(data.join("index.html"), "<h1>shop</h1>\n").unwrap();
    // ... and runs the pods of csdr's image (the node agents) as processes.
    let workloads = csdr::sim_workloads::SimWorkloads::new(
        kubelet.clone(),
        support::csdr_binary(),
        site.api.url(),
    );
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let syncing = {
        let (kubelet, workloads, sim, stop) = (
            kubelet.clone(),
            workloads.clone(),
            sim.clone(),
            stop.clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                kubelet.sync(&sim).unwrap();
                workloads.sync(&sim).unwrap();
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };

    let vault_dir = dir.path().join("vault");
    let out = site.csdr(&["install", "--cluster", "kube"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, _, err) = site.kubectl(
        &[
            "-n",
            "csdr",
            "create",
            "secret",
            "generic",
            "csdr-repository-key",
            "--from-literal=password=correct horse battery staple",
        ],
        None,
    );
    assert!(ok, "{err}");
    let server = site.server("c122-a", "10s");
    site.apply(
        &LOCATION
            .replace("NAME", "oss")
            .replace("URL", &format!("file://{}", vault_dir.display())),
    );
    wait("oss Available", Duration::from_secs(30), || {
        (site.get("backuplocation/oss", "{.status.phase}") == "Available").then_some(())
    });

    // The DaemonSet `csdr install` made has one pod, on node-a (node-0 is excluded), whose
    // `csdr node-agent` process the simulated kubelet runs.
    let (ok, agents, err) = site.kubectl(
        &[
            "-n",
            "csdr",
            "get",
            "pods",
            "-l",
            "app.kubernetes.io/component=node-agent",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName}{\"\\n\"}{end}",
        ],
        None,
    );
    assert!(ok, "{err}");
    let (agent_pod, agent_node) = agents.trim().split_once(' ').unwrap();
    assert_eq!(agent_node, "node-a", "one agent, on node-a: {agents}");
    let agent_log = workloads.log_path("node-a", "csdr", agent_pod, "node-agent");
    wait(
        "the node agent serving node-a",
        Duration::from_secs(60),
        || {
            std::fs::read_to_string(&agent_log)
                .ok()
                .filter(|log| log.contains("serving node node-a"))
                .map(|_| ())
        },
    );

    site.apply(
        "apiVersion: csdr.alibabacloud.com/v1beta1
kind: ApplicationBackup
metadata: {name: shop-files, namespace: csdr}
spec: {includedNamespaces: [shop], backupLocation: oss, backupVolumes: true}
",
    );
    assert_completed(
        &site,
        "applicationbackup/shop-files",
        &[&server],
        &[&agent_log],
    );
    let (ok, listed, err) = site.kubectl(&["-n", "csdr", "get", "podvolumebackups"], None);
    assert!(ok, "{err}");
    let row = listed
        .lines()
        .find(|l| l.contains("shop-files"))
        .unwrap_or_else(|| panic!("no PodVolumeBackup of shop-files:\n{listed}"));
    assert!(
        row.contains("node-a") && row.contains("Completed"),
        "{listed}"
    );
    assert!(vault_dir.join("restic/shop/config").exists());

    site.apply(
        "apiVersion: csdr.alibabacloud.com/v1beta1
kind: ApplicationRestore
metadata: {name: shop-files-r, namespace: csdr}
spec:
  backupName: shop-files
  namespaceMapping: {shop: shop2}
  storageClassMapping: {alicloud-nas: extreme-nas}
",
    );
    assert_completed(
        &site,
        "applicationrestore/shop-files-r",
        &[&server],
        &[&agent_log],
    );
    let (ok, new_pv, err) = site.kubectl(
        &[
            "-n",
            "shop2",
            "get",
            "pvc",
            "uploads",
            "-o",
            "jsonpath={.spec.volumeName}",
        ],
        None,
    );
    assert!(ok && !new_pv.is_empty(), "{err}");
    assert_ne!(new_pv, "nas-uploads");
    let restored = kubelet.volume_data(&new_pv);
    assert_eq!(
        std::fs::read(restored.join("2026/cat.png")).unwrap(),
        vec![7u8; 100_000]
    );
    assert_eq!(
        std::fs::read_to_string(restored.join("index.html")).unwrap(),
        "<h1>shop</h1>\n"
    );
    let (ok, listed, err) = site.kubectl(&["-n", "csdr", "get", "podvolumerestores"], None);
    assert!(ok, "{err}");
    assert!(
        listed
            .lines()
            .any(|l| l.contains("shop-files-r") && l.contains("Completed")),
        "{listed}"
    );

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    syncing.join().unwrap();
}
