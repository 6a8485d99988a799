//! `csdr cluster serve` stamps `creationTimestamp` from the system clock, so `kubectl get`
//! shows a true AGE (issue 12, part 5); in-process simulators keep their manual clock.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

/// `cluster serve` killed when dropped.
struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP/1.1 request; the answer's body as JSON.
fn request(address: &str, method: &str, path: &str, body: &str) -> serde_json::Value {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 201"), "{head}\n{body}");
    serde_json::from_str(body).unwrap()
}

#[test]
fn a_served_cluster_stamps_creation_times_from_the_system_clock() {
    let mut child = Command::new(support::csdr_binary())
        .args(["cluster", "serve", "--release", "1.28", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let served = Served(child);
    let mut url = String::new();
    BufReader::new(stdout).read_line(&mut url).unwrap();
    let address = url.trim().trim_start_matches("http://").to_string();

    let before = jiff::Timestamp::now().as_second();
    let created = request(
        &address,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "now"}}"#,
    );
    let after = jiff::Timestamp::now().as_second();
    let stamped: jiff::Timestamp = created["metadata"]["creationTimestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (before..=after).contains(&stamped.as_second()),
        "created at {stamped}, asked between {before} and {after} (unix seconds)"
    );
    drop(served);
}
