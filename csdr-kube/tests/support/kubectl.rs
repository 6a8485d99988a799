//! The real `kubectl`, pointed at one test API server with its own empty HOME and KUBECONFIG.

#![allow(dead_code)] // each test binary uses the methods it needs

use std::path::Path;
use std::process::{Command, Output};

use csdr_kube::testing::ApiServer;
use serde_json::Value;

/// kubectl pointed at one server, with its own empty HOME and KUBECONFIG.
pub struct Kubectl {
    server: String,
    home: tempfile::TempDir,
}

impl Kubectl {
    /// `None` (after saying why) when kubectl is not installed.
    pub fn find(server: &ApiServer) -> Option<Kubectl> {
        match Command::new("kubectl")
            .args(["version", "--client"])
            .output()
        {
            Ok(out) if out.status.success() => Some(Kubectl {
                server: server.url(),
                home: tempfile::tempdir().unwrap(),
            }),
            other => {
                eprintln!("SKIPPED: kubectl is not installed or does not run ({other:?})");
                None
            }
        }
    }

    /// The command, not started (for one that runs in the background, such as `get -w`).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("kubectl");
        command
            .arg("--server")
            .arg(&self.server)
            .args(args)
            .env("HOME", self.home.path())
            .env("KUBECONFIG", self.home.path().join("kubeconfig"));
        command
    }

    /// Runs with extra environment variables.
    pub fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.command(args)
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }

    /// Runs; the whole output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_env(args, &[])
    }

    /// Runs and expects success; (stdout, stderr).
    pub fn ok_with_stderr(&self, args: &[&str]) -> (String, String) {
        let out = self.run(args);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\n{stdout}\n{stderr}"
        );
        (stdout, stderr)
    }

    /// Runs and expects success; stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.ok_with_stderr(args).0
    }

    /// Runs and expects failure; stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} succeeded:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).to_string()
    }

    /// Creates the objects of a manifest (`kubectl create -f`).
    pub fn create(&self, manifest: &str) {
        let path = self.file("manifest.yaml", manifest);
        self.ok(&["create", "-f", &path]);
    }

    /// Runs and parses stdout as JSON.
    pub fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    /// A path in kubectl's private HOME.
    pub fn path(&self, name: &str) -> String {
        self.home.path().join(name).display().to_string()
    }

    /// Writes `text` to a file in kubectl's private HOME; its path.
    pub fn file(&self, name: &str, text: &str) -> String {
        let path = self.path(name);
        std::fs::write(Path::new(&path), text).unwrap();
        path
    }
}
