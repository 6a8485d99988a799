//! The external tools the tests drive (age-keygen, Python with boto3), shared by the storage
//! tests and the workspace's own tests (`tests/support`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

/// Runs Python with boto3 (the venv `scripts/test.sh` made) against the test server.
pub fn boto3(endpoint: &str, script: &str) -> String {
    let venv = std::env::var("CSDR_VENV").unwrap_or_else(|_| ".venv".into());
    let out = std::process::Command::new(format!("{venv}/bin/python"))
        .arg("-c")
        .arg(format!(
            "import boto3\nE = {endpoint:?}\ns3 = boto3.client('s3', endpoint_url=E, region_name='us-east-1')\nkms = boto3.client('kms', endpoint_url=E, region_name='us-east-1')\n{script}"
        ))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .expect("the test venv's python (scripts/test.sh sets CSDR_VENV)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A new identity file written by `age-keygen` in `dir`; its path and public recipient.
pub fn keygen(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, String) {
    let path = dir.join(name);
    let out = std::process::Command::new("age-keygen")
        .arg("-o")
        .arg(&path)
        .output()
        .expect("the age-keygen tool (scripts/test.sh installs age)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_string();
    (path, recipient)
}
