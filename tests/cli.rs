//! The reference CLI (`examples/csdr.rs`) against its contract (issue 7): every command, the
//! exit codes (0 Completed, 2 PartiallyFailed, 1 Failed or usage error), the `--dry-run -o
//! json` document, a full flow with `sim:` folders and a `file://` vault, the same flow on the
//! S3 test server, and `cluster serve` with kubectl.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn csdr() -> Command {
    let mut cmd = Command::new(support::csdr_binary());
    cmd.env_remove("RUST_LOG");
    cmd
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// A folder holding the shop application as a user wrote it for Kubernetes 1.16.
fn shop_folder(root: &Path) -> PathBuf {
    let folder = root.join("cluster-116");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("shop.yaml"), support::SHOP_YAML).unwrap();
    folder
}

fn sim(release: &str, folder: &Path) -> String {
    format!("sim:{release}:{}", folder.display())
}

fn json_out(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

#[test]
fn schedule_next_prints_the_fire_times_and_nothing_else() {
    csdr()
        .args(["schedule", "next", "0 2 15 * 1"])
        .args(["--after", "2026-11-23T22:51:00Z", "--count", "4"])
        .assert()
        .code(0)
        .stdout(
            "2026-11-30T02:00:00Z\n2026-12-07T02:00:00Z\n2026-12-14T02:00:00Z\n2026-12-15T02:00:00Z\n",
        );
    // Five by default.
    let out = csdr()
        .args([
            "schedule",
            "next",
            "@every 6h30m",
            "--after",
            "2026-01-01T00:00:00Z",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .collect::<Vec<_>>(),
        [
            "2026-01-01T06:30:00Z",
            "2026-01-01T13:00:00Z",
            "2026-01-01T19:30:00Z",
            "2026-01-02T02:00:00Z",
            "2026-01-02T08:30:00Z"
        ]
    );
}

#[test]
fn invalid_schedules_and_instants_exit_1_with_the_reason() {
    csdr()
        .args(["schedule", "next", "0 25 * * *"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains(
            r#"invalid cron expression "0 25 * * *": hour 25 out of range 0-23 at position 2"#,
        ));
    csdr()
        .args(["schedule", "next", "@daily", "--after", "yesterday"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains("--after: `yesterday`"));
}

#[test]
fn usage_errors_exit_1_and_help_exits_0_with_examples() {
    csdr()
        .args(["backup", "create", "b1"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--cluster"));
    csdr().args(["backup", "frobnicate"]).assert().code(1);
    csdr()
        .args([
            "backup",
            "create",
            "b1",
            "--cluster",
            "k8s:prod",
            "--vault",
            "memory://",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("`k8s:prod` is not a cluster"));
    csdr()
        .args(["schedule", "next", "@daily", "--count", "many"])
        .assert()
        .code(1);
    for command in [
        vec!["schedule", "next"],
        vec!["backup", "create"],
        vec!["backup", "list"],
        vec!["backup", "describe"],
        vec!["backup", "delete"],
        vec!["backup", "logs"],
        vec!["restore", "create"],
        vec!["restore", "describe"],
        vec!["restore", "logs"],
        vec!["vault", "validate"],
        vec!["check"],
        vec!["cluster", "serve"],
        vec!["gc"],
    ] {
        csdr()
            .args(&command)
            .arg("--help")
            .assert()
            .code(0)
            .stdout(predicate::str::contains("Examples:").and(predicate::str::contains("csdr ")));
    }
}

/// The whole life of a backup through the CLI: 1.16 folder → vault → 1.28 folder.
fn full_flow(vault: &str, extra_env: &[(&str, &str)]) {
    let root = tempfile::tempdir().unwrap();
    let source = shop_folder(root.path());
    let target = root.path().join("cluster-128");
    let run = |args: &[&str]| {
        let mut cmd = csdr();
        cmd.args(args);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        cmd
    };

    // backup create: the report, exit 0.
    run(&[
        "backup",
        "create",
        "shop-b",
        "--cluster",
        &sim("1.16", &source),
    ])
    .args(["--vault", vault, "--include-namespaces", "shop", "--wait"])
    .assert()
    .code(0)
    .stdout(
        predicate::str::contains("Phase:       Completed")
            .and(predicate::str::contains("apps/v1/Deployment"))
            .and(predicate::str::contains(
                "networking.k8s.io/v1beta1/Ingress",
            )),
    );
    // The source folder was only read.
    assert_eq!(std::fs::read_dir(&source).unwrap().count(), 1);

    // A second backup of the same name fails.
    run(&[
        "backup",
        "create",
        "shop-b",
        "--cluster",
        &sim("1.16", &source),
    ])
    .args(["--vault", vault])
    .assert()
    .code(1)
    .stderr(predicate::str::contains("backup already exists in vault"));

    // backup list, as a table and as JSON.
    run(&["backup", "list", "--vault", vault])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("NAME").and(predicate::str::contains("shop-b")));
    let out = run(&["backup", "list", "--vault", vault, "-o", "json"])
        .output()
        .unwrap();
    let list = json_out(&out);
    assert_eq!(list[0]["name"], "shop-b");
    assert_eq!(list[0]["status"]["phase"], "Completed");

    // backup describe --details: resources per kind with names.
    run(&[
        "backup",
        "describe",
        "shop-b",
        "--vault",
        vault,
        "--details",
    ])
    .assert()
    .code(0)
    .stdout(
        predicate::str::contains("Phase:        Completed")
            .and(predicate::str::contains(
                "  apps/v1/Deployment:\n    - shop/web\n",
            ))
            .and(predicate::str::contains(
                "  v1/PersistentVolumeClaim:\n    - shop/data\n",
            ))
            .and(predicate::str::contains("storage.k8s.io/v1/StorageClass"))
            .and(predicate::str::contains(
                "CSI Volume Snapshots:  <none included>",
            ))
            .and(predicate::str::contains("Errors:\n  Velero:     <none>")),
    );
    run(&["backup", "describe", "shop-b", "--vault", vault])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "<use --details for more information>",
        ));
    let out = run(&[
        "backup",
        "describe",
        "shop-b",
        "--vault",
        vault,
        "--details",
        "-o",
        "yaml",
    ])
    .output()
    .unwrap();
    let described: Value = serde_yaml_ng::from_slice(&out.stdout).unwrap();
    assert_eq!(
        described["resourceList"]["apps/v1/Deployment"][0],
        "shop/web"
    );

    // restore create --dry-run into 1.28 writes nothing.
    let out = run(&[
        "restore",
        "create",
        "shop-r",
        "--from-backup",
        "shop-b",
        "--vault",
        vault,
    ])
    .args(["--cluster", &sim("1.28", &target), "--dry-run"])
    .output()
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!target.exists());

    // restore create into 1.28: the folder holds the migrated objects.
    run(&[
        "restore",
        "create",
        "shop-r",
        "--from-backup",
        "shop-b",
        "--vault",
        vault,
    ])
    .args(["--cluster", &sim("1.28", &target)])
    .assert()
    .code(0)
    .stdout(predicate::str::contains("Phase:       Completed"));
    let ingress =
        std::fs::read_to_string(target.join("shop/ingresses.networking.k8s.io/web.yaml")).unwrap();
    assert!(
        ingress.contains("apiVersion: networking.k8s.io/v1"),
        "{ingress}"
    );
    let deployment =
        std::fs::read_to_string(target.join("shop/deployments.apps/web.yaml")).unwrap();
    assert!(
        deployment.contains("velero.io/restore-name: shop-r"),
        "{deployment}"
    );
    assert!(
        target
            .join("shop/persistentvolumeclaims.core/data.yaml")
            .exists()
    );

    // Restore names are unique in the vault.
    run(&[
        "restore",
        "create",
        "shop-r",
        "--from-backup",
        "shop-b",
        "--vault",
        vault,
    ])
    .args(["--cluster", &sim("1.28", &target)])
    .assert()
    .code(1)
    .stderr(predicate::str::contains("restore shop-r already exists"));

    // restore describe.
    run(&["restore", "describe", "shop-r", "--vault", vault])
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("Phase:        Completed")
                .and(predicate::str::contains("Backup:  shop-b")),
        );
    run(&["restore", "describe", "no-such-restore", "--vault", vault])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "restore no-such-restore not found",
        ));

    // backup logs and restore logs: the jobs' logs, decompressed, one logfmt line each.
    run(&["backup", "logs", "shop-b", "--vault", vault])
        .assert()
        .code(0)
        .stdout(
            predicate::str::starts_with("time=\"")
                .and(predicate::str::contains(
                    "level=info msg=\"backup shop-b started; upload attempt ",
                ))
                .and(predicate::str::contains(
                    "level=info msg=\"backed up apps/v1/Deployment shop/web\"",
                ))
                .and(predicate::str::contains(
                    "msg=\"listed deployments.apps at extensions/v1beta1 in shop: 1 objects\"",
                ))
                .and(predicate::str::contains("msg=\"backup shop-b Completed: ")),
        );
    run(&["restore", "logs", "shop-r", "--vault", vault])
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("msg=\"restore shop-r of backup shop-b started\"")
                .and(predicate::str::contains(
                    "level=info msg=\"created v1 ConfigMap shop/web-config\"",
                ))
                .and(predicate::str::contains(
                    "msg=\"restore shop-r from backup shop-b Completed: ",
                )),
        );
    run(&["backup", "logs", "no-such-backup", "--vault", vault])
        .assert()
        .code(1)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains(
            "backup no-such-backup not found in vault",
        ));
    run(&["restore", "logs", "no-such-restore", "--vault", vault])
        .assert()
        .code(1)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains(
            "restore no-such-restore not found in vault",
        ));

    // check against 1.30: the Ingress is migrated, the Deployment restored as-is.
    let out = run(&["check", "--from-backup", "shop-b", "--vault", vault])
        .args(["--target-release", "1.30", "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let check = json_out(&out);
    let row = |kind: &str| {
        check["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kind"] == kind)
            .cloned()
            .unwrap_or_else(|| panic!("no row for {kind}: {check:#}"))
    };
    let ingress = row("Ingress.networking.k8s.io");
    assert_eq!(ingress["result"], "migrated");
    assert!(
        ingress["detail"]
            .as_str()
            .unwrap()
            .contains("-> networking.k8s.io/v1 by "),
        "{ingress}"
    );
    assert_eq!(ingress["objects"], serde_json::json!(["shop/web"]));
    assert_eq!(row("Deployment.apps")["result"], "as-is");
    assert_eq!(row("Deployment.apps")["detail"], "apps/v1");
    run(&[
        "check",
        "--from-backup",
        "shop-b",
        "--vault",
        vault,
        "--target-release",
        "1.30",
    ])
    .assert()
    .code(0)
    .stdout(predicate::str::contains("KIND").and(predicate::str::contains("migrated")));

    // backup delete: gone from the list; deleting or describing it again fails.
    run(&["backup", "delete", "shop-b", "--vault", vault])
        .assert()
        .code(0);
    let out = run(&["backup", "list", "--vault", vault, "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(json_out(&out), serde_json::json!([]));
    run(&["backup", "describe", "shop-b", "--vault", vault])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("backup shop-b not found"));
    run(&["backup", "delete", "shop-b", "--vault", vault])
        .assert()
        .code(1);

    // gc: a backup with a short TTL is deleted once it has expired.
    run(&[
        "backup",
        "create",
        "short",
        "--cluster",
        &sim("1.16", &source),
    ])
    .args([
        "--vault",
        vault,
        "--include-namespaces",
        "shop",
        "--ttl",
        "1h",
    ])
    .assert()
    .code(0);
    run(&["gc", "--vault", vault])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Expired backups deleted:  <none>"));
    let out = run(&[
        "gc",
        "--vault",
        vault,
        "--now",
        "2100-01-01T00:00:00Z",
        "-o",
        "json",
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json_out(&out)["expired"], serde_json::json!(["short"]));
    let out = run(&["backup", "list", "--vault", vault, "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(json_out(&out), serde_json::json!([]));
}

#[test]
fn full_flow_with_sim_folders_and_a_file_vault() {
    let dir = tempfile::tempdir().unwrap();
    // A vault folder that does not exist yet: it is created.
    full_flow(&file_url(&dir.path().join("vault")), &[]);
    let vault = dir.path().join("vault");
    assert!(vault.join("csdr-vault.json").is_file());
    assert!(vault.join("restores").is_dir());
    // Every backup was deleted or collected: nothing of them is left, not even empty folders.
    let left: Vec<_> = walk(&vault.join("backups"));
    assert!(left.is_empty(), "{left:?}");
}

/// Every path below `dir` (none if it does not exist).
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            out.push(e.path());
            out.extend(walk(&e.path()));
        }
    }
    out
}

#[test]
fn full_flow_on_the_s3_test_server() {
    let Some((endpoint, bucket)) = support::s3_env("the S3 CLI flow") else {
        return;
    };
    let url = format!(
        "s3://{bucket}/{}?endpoint={endpoint}&region=us-east-1",
        support::unique_prefix("cli")
    );
    full_flow(&url, &[]);
}

/// A backup of the shop in a fresh `file://` vault; returns the vault URL.
fn backed_up_shop(root: &Path) -> String {
    let vault = file_url(&root.join("vault"));
    let source = shop_folder(root);
    csdr()
        .args([
            "backup",
            "create",
            "shop-b",
            "--cluster",
            &sim("1.16", &source),
        ])
        .args(["--vault", &vault, "--include-namespaces", "shop"])
        .assert()
        .code(0);
    vault
}

#[test]
fn dry_run_json_is_one_document_with_plan_objects_warnings_errors() {
    let root = tempfile::tempdir().unwrap();
    let vault = backed_up_shop(root.path());
    let target = root.path().join("cluster-128");
    let out = csdr()
        .args([
            "restore",
            "create",
            "shop-r",
            "--from-backup",
            "shop-b",
            "--vault",
            &vault,
        ])
        .args([
            "--cluster",
            &sim("1.28", &target),
            "--dry-run",
            "-o",
            "json",
        ])
        .args(["--namespace-mapping", "shop:shop-copy"])
        .args([
            "--image-registry-mapping",
            "docker.io/library/=registry.example.com/mirror/",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json_out(&out);
    let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["plan", "objects", "warnings", "errors"]);
    assert_eq!(doc["errors"], serde_json::json!([]));
    let objects = doc["objects"].as_array().unwrap();
    let find = |kind: &str| {
        objects
            .iter()
            .find(|o| o["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {objects:#?}"))
    };
    // Objects exactly as they would be created: migrated, mapped, sanitised, labelled.
    let ingress = find("Ingress");
    assert_eq!(ingress["apiVersion"], "networking.k8s.io/v1");
    assert_eq!(ingress["metadata"]["namespace"], "shop-copy");
    let deployment = find("Deployment");
    assert_eq!(deployment["apiVersion"], "apps/v1");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example.com/mirror/nginx:1.17"
    );
    assert_eq!(
        deployment["metadata"]["labels"]["velero.io/restore-name"],
        "shop-r"
    );
    assert!(deployment["metadata"].get("uid").is_none());
    assert_eq!(
        find("PersistentVolumeClaim")["spec"]["resources"]["requests"]["storage"],
        "20Gi"
    );
    // One plan entry per step, each create naming its object; the plan and objects agree.
    let plan = doc["plan"].as_array().unwrap();
    let creates: Vec<&Value> = plan.iter().filter(|s| s["step"] == "create").collect();
    assert_eq!(creates.len(), objects.len());
    for (step, object) in creates.iter().zip(objects) {
        assert_eq!(step["object"]["kind"], object["kind"]);
        assert_eq!(step["object"]["name"], object["metadata"]["name"]);
    }
    let ingress_step = creates
        .iter()
        .find(|s| s["object"]["kind"] == "Ingress")
        .unwrap();
    assert!(
        !ingress_step["version"]["migrations"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // The disk floor warning names its object.
    let warnings = doc["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w["object"]["name"] == "data"
                && w["message"].as_str().unwrap().contains("20Gi")),
        "{warnings:#?}"
    );
    // Nothing was written.
    assert!(!target.exists());

    // The same document in YAML.
    let out = csdr()
        .args([
            "restore",
            "create",
            "shop-r",
            "--from-backup",
            "shop-b",
            "--vault",
            &vault,
        ])
        .args(["--cluster", "sim:1.28", "--dry-run", "-o", "yaml"])
        .output()
        .unwrap();
    let yaml: Value = serde_yaml_ng::from_slice(&out.stdout).unwrap();
    let keys: Vec<&String> = yaml.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["plan", "objects", "warnings", "errors"]);
    assert_eq!(yaml["objects"].as_array().unwrap().len(), objects.len());
}

#[test]
fn a_restore_the_target_cannot_bind_exits_2_and_names_the_object() {
    let root = tempfile::tempdir().unwrap();
    let vault = backed_up_shop(root.path());
    let target = root.path().join("cluster-128");
    // Without the StorageClass the claim never binds: PartiallyFailed.
    let out = csdr()
        .args([
            "restore",
            "create",
            "shop-r",
            "--from-backup",
            "shop-b",
            "--vault",
            &vault,
        ])
        .args([
            "--cluster",
            &sim("1.28", &target),
            "--exclude-resources",
            "storageclasses",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("pvc shop/data not bound"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("Phase:       PartiallyFailed"));
    // What was restored is saved; the restore is recorded as PartiallyFailed.
    assert!(target.join("shop/deployments.apps/web.yaml").exists());
    csdr()
        .args(["restore", "describe", "shop-r", "--vault", &vault])
        .assert()
        .code(2)
        .stdout(predicate::str::contains("PartiallyFailed"));
}

#[test]
fn a_preflight_rejection_exits_1_names_the_object_and_writes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let vault = backed_up_shop(root.path());
    // The target's namespace shop is being deleted: the API server refuses new objects in it.
    let target = root.path().join("cluster-128");
    let ns_file = target.join("_cluster/namespaces.core/shop.yaml");
    std::fs::create_dir_all(ns_file.parent().unwrap()).unwrap();
    let terminating = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  \
        deletionTimestamp: \"2026-11-24T04:00:00Z\"\n  finalizers: [example.com/hold]\n\
        status: {phase: Terminating}\n";
    std::fs::write(&ns_file, terminating).unwrap();
    let before = walk(&target);
    let restore = |extra: &[&str]| {
        csdr()
            .args(["restore", "create", "shop-r", "--from-backup", "shop-b"])
            .args([
                "--vault",
                &vault,
                "--cluster",
                &sim("1.28", &target),
                "--preflight",
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = restore(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stderr}{stdout}");
    assert!(
        stderr.contains("ConfigMap shop/web-config")
            && stderr.contains("because it is being terminated"),
        "{stderr}"
    );
    assert!(stdout.contains("Pre-flight:"), "{stdout}");
    assert_eq!(walk(&target), before);
    assert_eq!(std::fs::read_to_string(&ns_file).unwrap(), terminating);
    // The dry run's JSON carries the pre-flight's results.
    let out = restore(&["--dry-run", "-o", "json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let value = json_out(&out);
    let rejected = value["preflight"]["rejected"].as_array().unwrap();
    assert!(
        rejected
            .iter()
            .any(|r| r["object"]["kind"] == "ConfigMap" && r["object"]["name"] == "web-config"),
        "{value:#}"
    );
    assert_eq!(walk(&target), before);
}

#[test]
fn a_missing_backup_or_a_bad_option_exits_1() {
    let root = tempfile::tempdir().unwrap();
    let vault = backed_up_shop(root.path());
    csdr()
        .args([
            "restore",
            "create",
            "r1",
            "--from-backup",
            "nope",
            "--vault",
            &vault,
        ])
        .args(["--cluster", "sim:1.28"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("backup nope not found"));
    csdr()
        .args([
            "restore",
            "create",
            "r1",
            "--from-backup",
            "shop-b",
            "--vault",
            &vault,
        ])
        .args(["--cluster", "sim:1.28", "--namespace-mapping", "shop"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "--namespace-mapping: `shop` is not old:new",
        ));
    csdr()
        .args([
            "check",
            "--from-backup",
            "nope",
            "--vault",
            &vault,
            "--target-release",
            "1.30",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("nope"));
    // A backup whose namespaces do not exist fails (B2).
    let source = root.path().join("cluster-116");
    csdr()
        .args(["backup", "create", "b2", "--cluster", &sim("1.16", &source)])
        .args(["--vault", &vault, "--include-namespaces", "absent"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("Phase:       Failed"))
        .stderr(predicate::str::contains("none of [absent] exists"));
}

#[test]
fn check_reports_resources_a_release_cannot_take() {
    let root = tempfile::tempdir().unwrap();
    let vault = file_url(&root.path().join("vault"));
    let source = shop_folder(root.path());
    std::fs::write(
        source.join("widgets.yaml"),
        r#"
apiVersion: apiextensions.k8s.io/v1beta1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions: [{name: v1, served: true, storage: true}]
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: shop}
spec: {size: 3}
"#,
    )
    .unwrap();
    // Without cluster-scoped resources the backup holds the Widget but not its CRD.
    csdr()
        .args([
            "backup",
            "create",
            "no-crd",
            "--cluster",
            &sim("1.16", &source),
            "--vault",
            &vault,
        ])
        .args([
            "--include-namespaces",
            "shop",
            "--include-cluster-resources",
            "false",
        ])
        .assert()
        .code(0);
    let out = csdr()
        .args([
            "check",
            "--from-backup",
            "no-crd",
            "--vault",
            &vault,
            "--target-release",
            "1.30",
        ])
        .args(["-o", "json"])
        .output()
        .unwrap();
    // Exit 2: the restore would be PartiallyFailed.
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json_out(&out);
    assert_eq!(doc["targetRelease"], "1.30");
    let row = |kind: &str| {
        doc["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kind"] == kind)
            .unwrap_or_else(|| panic!("no row for {kind}: {doc:#}"))
            .clone()
    };
    let widget = row("Widget.example.com");
    assert_eq!(widget["result"], "not restorable");
    assert_eq!(widget["objects"], serde_json::json!(["shop/w1"]));
    assert!(!widget["detail"].as_str().unwrap().is_empty());
    assert_eq!(row("Ingress.networking.k8s.io")["result"], "migrated");
    // The table names the reason too.
    csdr()
        .args([
            "check",
            "--from-backup",
            "no-crd",
            "--vault",
            &vault,
            "--target-release",
            "1.30",
        ])
        .assert()
        .code(2)
        .stdout(
            predicate::str::contains("Widget.example.com")
                .and(predicate::str::contains("not restorable")),
        );
}

#[test]
fn vault_validate_prints_available_or_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    csdr()
        .args(["vault", "validate", &file_url(&dir.path().join("v"))])
        .assert()
        .code(0)
        .stdout("Available\n");
    csdr()
        .args(["vault", "validate", "memory://"])
        .assert()
        .code(0)
        .stdout("Available\n");
    // A folder that cannot be created.
    csdr()
        .args(["vault", "validate", "file:///proc/csdr-cli-test/vault"])
        .assert()
        .code(1)
        .stdout(
            predicate::str::starts_with("Unavailable: ")
                .and(predicate::str::contains("/proc/csdr-cli-test")),
        );
    // An S3 endpoint nobody listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    csdr()
        .args(["vault", "validate", "--vault-timeout", "2s"])
        .arg(format!(
            "s3://nowhere/x?endpoint=http://127.0.0.1:{port}&region=us-east-1"
        ))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .assert()
        .code(1)
        .stdout(predicate::str::starts_with("Unavailable: VaultError: "));
    // Not a vault URL at all.
    csdr()
        .args(["vault", "validate", "ftp://example.com/x"])
        .assert()
        .code(1)
        .stdout(predicate::str::starts_with("Unavailable: "));
}

#[test]
fn cluster_serve_answers_kubectl_and_saves_its_state() {
    let kubectl_present = std::process::Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success());
    if !kubectl_present {
        eprintln!("note: skipping the cluster serve smoke test: kubectl is not installed");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let state = shop_folder(root.path());
    let mut child = std::process::Command::new(support::csdr_binary())
        .args([
            "cluster",
            "serve",
            "--release",
            "1.16",
            "--port",
            "0",
            "--state",
        ])
        .arg(&state)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let url = url.trim().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url:?}");
    let kubectl = |args: &[&str]| {
        std::process::Command::new("kubectl")
            .args(["--server", &url])
            .args(args)
            .env("KUBECONFIG", root.path().join("no-kubeconfig"))
            .output()
            .unwrap()
    };
    let out = kubectl(&["get", "ns"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("shop") && text.contains("kube-system"),
        "{text}"
    );
    let manifest = root.path().join("smoke.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: smoke}\n",
    )
    .unwrap();
    let out = kubectl(&["apply", "-f", manifest.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Ctrl-C stops the server and saves the state.
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(state.join("_cluster/namespaces.core/smoke.yaml").exists());
    assert!(state.join("shop/deployments.apps/web.yaml").exists());
}

/// `cluster serve` running in the background; killed when dropped.
struct Served {
    child: std::process::Child,
    url: String,
}

impl Served {
    fn start(release: &str, state: &Path) -> Served {
        let mut child = std::process::Command::new(support::csdr_binary())
            .args(["cluster", "serve", "--release", release, "--state"])
            .arg(state)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut url = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut url)
            .unwrap();
        Served {
            child,
            url: url.trim().to_string(),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn kube_clusters_are_reached_through_the_kubeconfig() {
    let root = tempfile::tempdir().unwrap();
    let served = Served::start("1.16", &shop_folder(root.path()));
    let kubeconfig = root.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: sim\n  cluster: {{server: '{}'}}\nusers:\n- name: anon\n  user: {{}}\ncontexts:\n- name: sim-116\n  context: {{cluster: sim, user: anon}}\n- name: broken\n  context: {{cluster: nowhere, user: anon}}\ncurrent-context: sim-116\n",
            served.url
        ),
    )
    .unwrap();
    let vault = file_url(&root.path().join("vault"));
    // The named context and the current one.
    for (name, cluster) in [("by-context", "kube:sim-116"), ("current", "kube")] {
        csdr()
            .env("KUBECONFIG", &kubeconfig)
            .args([
                "backup",
                "create",
                name,
                "--cluster",
                cluster,
                "--vault",
                &vault,
            ])
            .args(["--include-namespaces", "shop"])
            .assert()
            .code(0)
            .stdout(
                predicate::str::contains("Phase:       Completed")
                    .and(predicate::str::contains("apps/v1/Deployment")),
            );
    }
    // A restore into the served cluster (on a thread and connection of its own, as the
    // controller runs one), copying the namespace: everything is created, as a backup of the
    // copy then shows.
    csdr()
        .env("KUBECONFIG", &kubeconfig)
        .args(["restore", "create", "copy", "--from-backup", "current"])
        .args(["--cluster", "kube", "--vault", &vault])
        .args(["--namespace-mapping", "shop:shop-copy"])
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("Phase:       Completed")
                .and(predicate::str::contains("Created:     0").not()),
        );
    csdr()
        .env("KUBECONFIG", &kubeconfig)
        .args([
            "backup",
            "create",
            "of-copy",
            "--cluster",
            "kube",
            "--vault",
            &vault,
        ])
        .args(["--include-namespaces", "shop-copy"])
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("Phase:       Completed")
                .and(predicate::str::contains("apps/v1/Deployment")),
        );
    // A context that does not exist is named in the error.
    csdr()
        .env("KUBECONFIG", &kubeconfig)
        .args([
            "backup",
            "create",
            "x",
            "--cluster",
            "kube:staging",
            "--vault",
            &vault,
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("staging"));
}

#[test]
fn the_readme_tour_folder_backs_up_as_documented() {
    // The README's tour backs up this folder; it must load and must not be written to.
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/csdr/cluster-116");
    let before = std::fs::read_dir(&folder).unwrap().count();
    let dir = tempfile::tempdir().unwrap();
    csdr()
        .args([
            "backup",
            "create",
            "shop-b",
            "--cluster",
            &sim("1.16", &folder),
        ])
        .args([
            "--vault",
            &file_url(dir.path()),
            "--include-namespaces",
            "shop",
        ])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "networking.k8s.io/v1beta1/Ingress",
        ));
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), before);
}

/// A backup that fails is recorded: `describe` shows why (kind, whether to retry), `logs`
/// prints its log, it is not listed, and a restore from it is refused and recorded too.
#[test]
fn a_failed_backup_is_described_and_its_log_printed() {
    let root = tempfile::tempdir().unwrap();
    let source = shop_folder(root.path());
    let vault = file_url(&root.path().join("vault"));
    csdr()
        .args(["backup", "create", "pay-b", "--cluster", &sim("1.16", &source)])
        .args(["--vault", &vault, "--include-namespaces", "payments,billing"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "error: backup pay-b failed: get target namespace failed: none of [payments, billing] exists",
        ));

    csdr()
        .args(["backup", "describe", "pay-b", "--vault", &vault])
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("Phase:        Failed\n")
                .and(predicate::str::contains(
                    "Failure:      get target namespace failed: none of [payments, billing] exists\n",
                ))
                .and(predicate::str::contains(
                    "  Kind:       spec (not transient: it fails the same way until the cause is fixed)\n",
                ))
                .and(predicate::str::contains(
                    "Restorable:   no (only Completed and PartiallyFailed backups are restored)",
                ))
                .and(predicate::str::contains(format!(
                    "Logs:         csdr backup logs pay-b --vault {vault}"
                ))),
        );
    let out = csdr()
        .args([
            "backup",
            "describe",
            "pay-b",
            "--vault",
            &vault,
            "--details",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let described = json_out(&out);
    assert_eq!(described["status"]["phase"], "Failed");
    assert_eq!(described["status"]["failure"]["kind"], "spec");
    assert_eq!(described["status"]["failure"]["transient"], false);
    assert_eq!(
        described["status"]["failureReason"],
        "get target namespace failed: none of [payments, billing] exists"
    );
    assert!(described["status"]["startTimestamp"].is_string());
    assert_eq!(described["archive"], Value::Null);

    csdr()
        .args(["backup", "logs", "pay-b", "--vault", &vault])
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("level=info msg=\"backup pay-b started")
                .and(predicate::str::contains(
                    "level=error msg=\"backup failed (spec failure): get target namespace failed: none of [payments, billing] exists\"",
                ))
                .and(predicate::str::contains("msg=\"backup pay-b Failed: 0 objects")),
        );
    // Never listed, never restored (V5); the refused restore is recorded with its reason.
    csdr()
        .args(["backup", "list", "--vault", &vault])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("pay-b").not());
    let target = root.path().join("cluster-128");
    csdr()
        .args(["restore", "create", "pay-r", "--from-backup", "pay-b", "--vault", &vault])
        .args(["--cluster", &sim("1.28", &target)])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "error: restore pay-r failed: backup pay-b is Failed (get target namespace failed: none of [payments, billing] exists): only Completed and PartiallyFailed backups can be restored",
        ));
    csdr()
        .args(["restore", "describe", "pay-r", "--vault", &vault])
        .assert()
        .code(1)
        .stdout(
            predicate::str::contains("Phase:        Failed").and(predicate::str::contains(
                "Failure:      backup pay-b is Failed",
            )),
        );
    csdr()
        .args(["restore", "logs", "pay-r", "--vault", &vault])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "level=error msg=\"restore failed (spec failure): backup pay-b is Failed",
        ));
    // The failed backup holds its name until it is deleted; then the name is free.
    csdr()
        .args(["backup", "delete", "pay-b", "--vault", &vault])
        .assert()
        .code(0);
    csdr()
        .args(["backup", "logs", "pay-b", "--vault", &vault])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("backup pay-b not found in vault"));
}

/// A Kubernetes 1.28 folder with a CSI disk claim used by a Deployment and a snapshot class.
fn volume_folder(root: &Path) -> PathBuf {
    let folder = root.join("cluster-128");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("app.yaml"),
        r#"
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: alicloud-disk}
provisioner: diskplugin.csi.alibabacloud.com
---
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshotClass
metadata: {name: disk-snap}
driver: diskplugin.csi.alibabacloud.com
deletionPolicy: Delete
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: shop}
spec:
  storageClassName: alicloud-disk
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 20Gi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "nginx:1.25"}]
      volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]
"#,
    )
    .unwrap();
    folder
}

/// The VolumeSnapshots a saved folder holds.
fn saved_snapshots(folder: &Path) -> Vec<String> {
    let dir = folder
        .join("shop")
        .join("volumesnapshots.snapshot.storage.k8s.io");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn backup_volumes_snapshots_retains_describes_and_deletes_with_the_backup() {
    let root = tempfile::tempdir().unwrap();
    let folder = volume_folder(root.path());
    let vault = file_url(&root.path().join("vault"));
    let cluster = sim("1.28", &folder);
    let out = csdr()
        .args([
            "backup",
            "create",
            "b1",
            "--cluster",
            &cluster,
            "--vault",
            &vault,
        ])
        .args([
            "--include-namespaces",
            "shop",
            "--backup-volumes",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json_out(&out);
    let snapshots = report["volumeSnapshots"].as_array().unwrap();
    assert_eq!(snapshots.len(), 1, "{report:#}");
    assert_eq!(snapshots[0]["pvcName"], "data");
    let handle = snapshots[0]["snapshotHandle"].as_str().unwrap().to_string();
    assert_eq!(
        saved_snapshots(&folder).len(),
        1,
        "the snapshot is kept in the folder"
    );

    let details = csdr()
        .args(["backup", "describe", "b1", "--vault", &vault, "--details"])
        .output()
        .unwrap();
    assert_eq!(details.status.code(), Some(0));
    let text = String::from_utf8(details.stdout).unwrap();
    for expected in [
        "CSI Volume Snapshots:",
        "    PVC:                    data",
        "    Snapshot Class:         disk-snap",
        &format!("    Storage Snapshot ID:    {handle}"),
        "    Deletion Policy:        Retain",
        "    State:                  Retained",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }

    // Without --cluster the snapshot stays and is listed; with it, it goes.
    let out = csdr()
        .args([
            "backup",
            "create",
            "b2",
            "--cluster",
            &cluster,
            "--vault",
            &vault,
        ])
        .args(["--include-namespaces", "shop", "--backup-volumes"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(saved_snapshots(&folder).len(), 2);
    csdr()
        .args(["backup", "delete", "b1", "--vault", &vault])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "Volume snapshots left in the cluster",
        ))
        .stdout(predicate::str::contains(handle.as_str()));
    assert_eq!(saved_snapshots(&folder).len(), 2);
    csdr()
        .args([
            "backup",
            "delete",
            "b2",
            "--vault",
            &vault,
            "--cluster",
            &cluster,
        ])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "Deleted VolumeSnapshot shop/data-b2-",
        ))
        .stdout(predicate::str::contains("Backup \"b2\" deleted."));
    let left = saved_snapshots(&folder);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].starts_with("data-b1-"), "{left:?}");
}

#[test]
fn a_claim_restores_alone_from_its_snapshot_under_another_name() {
    let root = tempfile::tempdir().unwrap();
    let folder = volume_folder(root.path());
    let vault = file_url(&root.path().join("vault"));
    let cluster = sim("1.28", &folder);
    csdr()
        .args([
            "backup",
            "create",
            "dp",
            "--cluster",
            &cluster,
            "--vault",
            &vault,
        ])
        .args([
            "--include-namespaces",
            "shop",
            "--include-volumes",
            "shop/data",
        ])
        .args(["--include-resources", "pvc,pv"])
        .assert()
        .code(0);
    csdr()
        .args([
            "restore",
            "create",
            "one",
            "--from-backup",
            "dp",
            "--vault",
            &vault,
        ])
        .args([
            "--cluster",
            &cluster,
            "--include-volumes",
            "shop/data=copy/data-copy",
        ])
        .assert()
        .code(0);
    let restored = std::fs::read_to_string(
        folder
            .join("copy")
            .join("persistentvolumeclaims.core")
            .join("data-copy.yaml"),
    )
    .unwrap();
    assert!(restored.contains("kind: VolumeSnapshot"), "{restored}");
    assert!(restored.contains("phase: Bound"), "{restored}");
    csdr()
        .args([
            "restore",
            "create",
            "bad",
            "--from-backup",
            "dp",
            "--vault",
            &vault,
        ])
        .args(["--cluster", &cluster, "--include-volumes", "data"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "--include-volumes: `data` is not namespace/name",
        ));
}

#[test]
fn install_creates_the_faqs_snapshot_class_when_asked() {
    let out = csdr()
        .args([
            "install",
            "--dry-run",
            "-o",
            "yaml",
            "--default-snapshot-class",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("kind: VolumeSnapshotClass"), "{text}");
    assert!(
        text.contains("name: csdr-disk-snapshot-with-default-ttl"),
        "{text}"
    );
    assert!(
        text.contains("retentionDays: '30'") || text.contains("retentionDays: \"30\""),
        "{text}"
    );
    let plain = csdr()
        .args(["install", "--dry-run", "-o", "yaml"])
        .output()
        .unwrap();
    let plain = String::from_utf8(plain.stdout).unwrap();
    assert!(!plain.contains("kind: VolumeSnapshotClass"), "{plain}");
}

#[test]
fn an_encrypted_backup_restores_only_with_its_identity_and_describe_names_the_key() {
    let root = tempfile::tempdir().unwrap();
    let vault = file_url(&root.path().join("vault"));
    let source = shop_folder(root.path());
    let (identity, recipient) = support::age_identity(root.path());
    let identity = identity.display().to_string();
    csdr()
        .args([
            "backup",
            "create",
            "shop-enc",
            "--cluster",
            &sim("1.16", &source),
        ])
        .args(["--vault", &vault, "--include-namespaces", "shop"])
        .args(["--encryption-key", &recipient])
        .assert()
        .code(0);

    // No file of the vault holds the Secret's value (base64 as stored) or its name.
    let files: Vec<PathBuf> = walk(&root.path().join("vault"))
        .into_iter()
        .filter(|p| p.is_file())
        .collect();
    assert!(files.len() >= 8, "{files:?}");
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        for needle in ["cGFzc3dvcmQ=", "web-secret"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{} holds {needle}",
                file.display()
            );
        }
    }

    // describe names the key, in the table and in JSON, without any key material.
    let out = csdr()
        .args(["backup", "describe", "shop-enc", "--vault", &vault])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("Encryption:   age key {recipient}")),
        "{text}"
    );
    assert!(!text.contains("AGE-SECRET-KEY"), "{text}");
    let out = csdr()
        .args([
            "backup", "describe", "shop-enc", "--vault", &vault, "-o", "json",
        ])
        .output()
        .unwrap();
    let v = json_out(&out);
    assert_eq!(v["encryption"]["keyKind"], "age");
    assert_eq!(v["encryption"]["keyId"], recipient.as_str());

    // Without the identity: the restore fails naming the key, and the target stays empty.
    let target = root.path().join("cluster-128");
    csdr()
        .args([
            "restore",
            "create",
            "shop-nokey",
            "--from-backup",
            "shop-enc",
        ])
        .args(["--vault", &vault, "--cluster", &sim("1.28", &target)])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(recipient.as_str()));
    let applied: Vec<PathBuf> = walk(&target).into_iter().filter(|p| p.is_file()).collect();
    assert!(applied.is_empty(), "nothing was applied: {applied:?}");
    csdr()
        .args(["backup", "logs", "shop-enc", "--vault", &vault])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(recipient.as_str()));

    // With the identity: the restore completes, the Secret included, and the log reads.
    csdr()
        .args(["restore", "create", "shop-r", "--from-backup", "shop-enc"])
        .args(["--vault", &vault, "--cluster", &sim("1.28", &target)])
        .args(["--decryption-key-file", &identity])
        .args(["--namespace-mapping", "shop:shop-sealed-target"])
        .assert()
        .code(0);
    // The restore's record is sealed too: no file of the restore names the mapping target
    // or holds the Secret; describe lists it without the key and says which key seals the
    // details, and shows them with the key.
    for file in walk(&root.path().join("vault").join("restores")) {
        if file.is_file() {
            let bytes = std::fs::read(&file).unwrap();
            for needle in ["shop-sealed-target", "cGFzc3dvcmQ=", "web-secret"] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                    "{} holds {needle}",
                    file.display()
                );
            }
        }
    }
    let out = csdr()
        .args(["restore", "describe", "shop-r", "--vault", &vault])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Backup:       shop-enc"), "{text}");
    assert!(
        text.contains(&format!("encrypted with the age key {recipient}")),
        "{text}"
    );
    assert!(!text.contains("shop-sealed-target"), "{text}");
    let out = csdr()
        .args([
            "restore", "describe", "shop-r", "--vault", &vault, "-o", "json",
        ])
        .output()
        .unwrap();
    let v = json_out(&out);
    assert_eq!(v["encryption"]["keyId"], recipient.as_str());
    assert_eq!(v["encryption"]["detailsReadable"], false);
    csdr()
        .args(["restore", "describe", "shop-r", "--vault", &vault])
        .args(["--decryption-key-file", &identity])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("shop:shop-sealed-target"));
    let restored: Vec<String> = walk(&target)
        .into_iter()
        .filter(|p| p.is_file())
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert!(
        restored
            .iter()
            .any(|t| t.contains("web-secret") && t.contains("cGFzc3dvcmQ=")),
        "the Secret is restored"
    );
    csdr()
        .args(["backup", "logs", "shop-enc", "--vault", &vault])
        .args(["--decryption-key-file", &identity])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("shop/web-secret"));
    // The restore's log is sealed too: it reads with the identity only.
    csdr()
        .args(["restore", "logs", "shop-r", "--vault", &vault])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(recipient.as_str()));
    csdr()
        .args(["restore", "logs", "shop-r", "--vault", &vault])
        .args(["--decryption-key-file", &identity])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("web-secret"));
    // A malformed recipient is refused before anything is written.
    csdr()
        .args([
            "backup",
            "create",
            "shop-bad",
            "--cluster",
            &sim("1.16", &source),
        ])
        .args(["--vault", &vault, "--encryption-key", "age1nope"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--encryption-key"));
}

#[test]
fn a_backup_encrypted_with_a_kms_key_restores_with_that_key_on_the_s3_test_server() {
    let Some((endpoint, bucket)) = support::s3_env("the KMS encryption CLI flow") else {
        return;
    };
    let arn = support::moto_kms_key(&endpoint);
    let key = format!("kms://{arn}?endpoint={endpoint}");
    let vault = format!(
        "s3://{bucket}/{}?endpoint={endpoint}&region=us-east-1",
        support::unique_prefix("cli-kms")
    );
    let root = tempfile::tempdir().unwrap();
    let source = shop_folder(root.path());
    let target = root.path().join("cluster-128");
    let aws = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ];
    csdr()
        .envs(aws)
        .args([
            "backup",
            "create",
            "shop-kms",
            "--cluster",
            &sim("1.16", &source),
        ])
        .args(["--vault", &vault, "--include-namespaces", "shop"])
        .args(["--encryption-key", &key])
        .assert()
        .code(0);
    csdr()
        .envs(aws)
        .args(["backup", "describe", "shop-kms", "--vault", &vault])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(format!(
            "Encryption:   kms key {arn}"
        )));
    csdr()
        .envs(aws)
        .args([
            "restore",
            "create",
            "kms-nokey",
            "--from-backup",
            "shop-kms",
        ])
        .args(["--vault", &vault, "--cluster", &sim("1.28", &target)])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains(arn.as_str())
                .and(predicate::str::contains("--decryption-key kms://")),
        );
    csdr()
        .envs(aws)
        .args(["restore", "create", "kms-r", "--from-backup", "shop-kms"])
        .args(["--vault", &vault, "--cluster", &sim("1.28", &target)])
        .args(["--decryption-key", &key])
        .assert()
        .code(0);
}

#[test]
fn volume_commands_back_up_list_check_and_restore_a_directory() {
    let root = tempfile::tempdir().unwrap();
    let vault = file_url(&root.path().join("vault"));
    let data = root.path().join("data");
    std::fs::create_dir_all(data.join("db")).unwrap();
    std::fs::write(data.join("db/rows.csv"), "id,name\n1,ann\n").unwrap();
    let key = root.path().join("key.txt");
    std::fs::write(&key, "volume key\n").unwrap();
    let repo = |cmd: &mut Command| {
        cmd.args(["--vault", &vault, "--repository", "shop"]);
    };

    // Backup prints the snapshot id alone on stdout; the key comes from the environment.
    let mut backup = csdr();
    backup
        .args(["volume", "backup"])
        .arg(&data)
        .args(["--tag", "pvc=db"]);
    repo(&mut backup);
    let out = backup
        .env("CSDR_REPOSITORY_PASSWORD", "volume key")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(id.len(), 64, "{id}");

    let mut list = csdr();
    list.args(["volume", "snapshots", "-o", "json", "--password-file"])
        .arg(&key);
    repo(&mut list);
    let snaps = json_out(&list.output().unwrap());
    assert_eq!(snaps[0]["id"], id.as_str());
    assert_eq!(snaps[0]["tags"][0], "pvc=db");

    let mut check = csdr();
    check
        .args(["volume", "check", "--read-data", "--password-file"])
        .arg(&key);
    repo(&mut check);
    check
        .assert()
        .code(0)
        .stdout(predicate::str::contains("sound"));

    let dest = root.path().join("restored");
    let mut restore = csdr();
    restore
        .args(["volume", "restore", &id[..8]])
        .arg(&dest)
        .arg("--password-file")
        .arg(&key);
    repo(&mut restore);
    restore.assert().code(0);
    assert_eq!(
        std::fs::read_to_string(dest.join("db/rows.csv")).unwrap(),
        "id,name\n1,ann\n"
    );

    // No key, a wrong key, a missing directory, a bad tag: exit 1 with the reason.
    let mut nokey = csdr();
    nokey.args(["volume", "snapshots"]);
    repo(&mut nokey);
    nokey
        .env_remove("CSDR_REPOSITORY_PASSWORD")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("CSDR_REPOSITORY_PASSWORD"));
    let mut wrong = csdr();
    wrong.args(["volume", "snapshots"]);
    repo(&mut wrong);
    wrong
        .env("CSDR_REPOSITORY_PASSWORD", "not it")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("wrong key"));
    let mut missing = csdr();
    missing
        .args(["volume", "backup"])
        .arg(root.path().join("nope"))
        .arg("--password-file")
        .arg(&key);
    repo(&mut missing);
    missing
        .assert()
        .code(1)
        .stderr(predicate::str::contains("SOURCE_NOT_EXIST"));
    // A repository whose key is protected by the backups' age key instead of a password.
    let (identity, _) = support::age_identity(root.path());
    let mut kek_backup = csdr();
    kek_backup
        .args(["volume", "backup"])
        .arg(&data)
        .args([
            "--vault",
            &vault,
            "--repository",
            "sealed",
            "--decryption-key-file",
        ])
        .arg(&identity);
    kek_backup
        .env_remove("CSDR_REPOSITORY_PASSWORD")
        .assert()
        .code(0);
    assert!(
        root.path()
            .join("vault/restic/sealed/csdr-repository-key.json")
            .is_file()
    );
    let mut kek_list = csdr();
    kek_list
        .args([
            "volume",
            "snapshots",
            "--vault",
            &vault,
            "--repository",
            "sealed",
        ])
        .args(["-o", "json", "--decryption-key-file"])
        .arg(&identity);
    assert_eq!(
        json_out(&kek_list.output().unwrap())
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // As the node agent runs it: the pod's volume found under the kubelet root.
    let kubelet = root.path().join("kubelet");
    let mount = kubelet.join("pods/uid-1/volumes/kubernetes.io~csi/pv-db/mount");
    std::fs::create_dir_all(&mount).unwrap();
    std::fs::write(mount.join("wal.log"), "entry 1\n").unwrap();
    let mut agent = csdr();
    agent
        .args([
            "volume",
            "backup",
            "--pod-uid",
            "uid-1",
            "--volume",
            "pv-db",
        ])
        .args(["--as-path", "/shop/db", "-o", "json", "--password-file"])
        .arg(&key)
        .env("KUBELET_ROOT_PATH", &kubelet);
    repo(&mut agent);
    let snap = json_out(&agent.output().unwrap());
    assert_eq!(snap["paths"][0], "/shop/db");
    let mut gone = csdr();
    gone.args([
        "volume",
        "backup",
        "--pod-uid",
        "uid-1",
        "--volume",
        "pv-gone",
    ])
    .arg("--password-file")
    .arg(&key)
    .env("KUBELET_ROOT_PATH", &kubelet);
    repo(&mut gone);
    gone.assert().code(1).stderr(
        predicate::str::contains("SOURCE_NOT_EXIST").and(predicate::str::contains("pv-gone")),
    );
    let mut bad_tag = csdr();
    bad_tag
        .args(["volume", "backup"])
        .arg(&data)
        .args(["--tag", "oops", "--password-file"])
        .arg(&key);
    repo(&mut bad_tag);
    bad_tag
        .assert()
        .code(1)
        .stderr(predicate::str::contains("KEY=VALUE"));
}

#[test]
fn backup_and_restore_carry_nas_files_through_the_simulated_kubelet() {
    let root = tempfile::tempdir().unwrap();
    let vault = file_url(&root.path().join("vault"));
    let source = root.path().join("cluster-122");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("app.yaml"), support::NAS_APP).unwrap();
    let target = root.path().join("cluster-128");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(
        target.join("classes.yaml"),
        "apiVersion: v1\nkind: Node\nmetadata: {name: node-x}\n---\napiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: extreme-nas}\nprovisioner: nasplugin.csi.alibabacloud.com\n",
    )
    .unwrap();
    let source_kubelet = root.path().join("kubelet-122");
    let data = source_kubelet.join("volumes/nas-uploads");
    std::fs::create_dir_all(data.join("2026")).unwrap();
    std::fs::write(data.join("2026/cat.png"), vec![7u8; 100_000]).unwrap();
    std::fs::write(data.join("index.html"), "<h1>shop</h1>\n").unwrap();
    let key = root.path().join("volume-key.txt");
    std::fs::write(&key, "volume key\n").unwrap();

    // Without a repository key the backup is refused before it starts.
    let out = csdr()
        .args([
            "backup",
            "create",
            "b1",
            "--backup-volumes",
            "--vault",
            &vault,
        ])
        .args(["--cluster", &sim("1.22", &source)])
        .arg("--kubelet-dir")
        .arg(&source_kubelet)
        .env_remove("CSDR_REPOSITORY_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no volume repository key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = csdr()
        .args([
            "backup",
            "create",
            "b1",
            "--backup-volumes",
            "--vault",
            &vault,
        ])
        .args(["--cluster", &sim("1.22", &source)])
        .arg("--kubelet-dir")
        .arg(&source_kubelet)
        .arg("--repository-password-file")
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let out = csdr()
        .args(["backup", "describe", "b1", "--details", "--vault", &vault])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("shop/uploads"), "{text}");
    assert!(text.contains("node-a"), "{text}");
    assert!(text.contains("Completed"), "{text}");

    let target_kubelet = root.path().join("kubelet-128");
    let out = csdr()
        .args([
            "restore",
            "create",
            "r1",
            "--from-backup",
            "b1",
            "--vault",
            &vault,
        ])
        .args(["--cluster", &sim("1.28", &target)])
        .args(["--storage-class-mapping", "alicloud-nas=extreme-nas"])
        .arg("--kubelet-dir")
        .arg(&target_kubelet)
        .env("CSDR_REPOSITORY_PASSWORD", "volume key")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The claim got a fresh volume of the new class, holding the same files.
    let volumes: Vec<PathBuf> = std::fs::read_dir(target_kubelet.join("volumes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("index.html").exists())
        .collect();
    assert_eq!(volumes.len(), 1, "{volumes:?}");
    assert_ne!(volumes[0].file_name().unwrap(), "nas-uploads");
    assert_eq!(
        std::fs::read(volumes[0].join("2026/cat.png")).unwrap(),
        vec![7u8; 100_000]
    );
    assert_eq!(
        std::fs::read_to_string(volumes[0].join("index.html")).unwrap(),
        "<h1>shop</h1>\n"
    );

    // The FAQ's StorageClass conversion into a disk class: a retained snapshot per claim.
    let disks = root.path().join("cluster-128-disk");
    std::fs::create_dir_all(&disks).unwrap();
    std::fs::write(
        disks.join("classes.yaml"),
        "apiVersion: v1\nkind: Node\nmetadata: {name: node-x}\n---\napiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: alicloud-disk-topology-alltype}\nprovisioner: diskplugin.csi.alibabacloud.com\nvolumeBindingMode: WaitForFirstConsumer\n---\napiVersion: snapshot.storage.k8s.io/v1\nkind: VolumeSnapshotClass\nmetadata: {name: disk-snap}\ndriver: diskplugin.csi.alibabacloud.com\ndeletionPolicy: Delete\n",
    )
    .unwrap();
    let convert = |mapping: &str| {
        csdr()
            .args(["convert", "create", "b1", "--vault", &vault, "-o", "json"])
            .args(["--cluster", &sim("1.28", &disks)])
            .args(["--storage-class-mapping", mapping])
            .args(["--convert-to-access-modes", "ReadWriteOnce"])
            .arg("--kubelet-dir")
            .arg(root.path().join("kubelet-128-disk"))
            .env("CSDR_REPOSITORY_PASSWORD", "volume key")
            .output()
            .unwrap()
    };
    let out = convert("alicloud-nas=fast-ssd");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("shop/uploads") && err.contains("storageclass fast-ssd not exists"),
        "{err}"
    );
    let out = convert("alicloud-nas=alicloud-disk-topology-alltype");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json_out(&out);
    assert_eq!(report["status"]["phase"], "Completed", "{report}");
    let converted = &report["convertedVolumes"][0];
    assert_eq!(converted["pvcName"], "uploads");
    assert_eq!(converted["storageClass"], "alicloud-disk-topology-alltype");
    assert_eq!(converted["accessModes"][0], "ReadWriteOnce");
    assert!(
        converted["snapshot"]["pvcName"]
            .as_str()
            .unwrap()
            .starts_with("uploads-for-convert"),
        "{converted}"
    );
}
