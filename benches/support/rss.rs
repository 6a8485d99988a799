//! What the peak-memory benches share: reading `/proc/self/status`, resetting `VmHWM`, and
//! the generated objects (96% small ConfigMaps, 2% Deployments, 2% Services in five
//! namespaces).
#![allow(dead_code)]

use csdr_core::object::{GroupVersionResource, KubeObject};
use serde_json::json;

pub const NAMESPACES: usize = 5;
pub const MIB: f64 = 1024.0 * 1024.0;

/// A field of `/proc/self/status` in bytes (`VmRSS`, `VmHWM`).
pub fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB
}

/// Resets `VmHWM` to the current RSS; says whether the kernel did.
pub fn reset_high_water_mark() -> bool {
    let before = status_bytes("VmHWM");
    // Touch and free 64 MiB so that VmHWM is visibly above VmRSS before the reset.
    let mut block = vec![1u8; 64 << 20];
    block[12345] = 2;
    std::hint::black_box(&block);
    drop(block);
    let raised = status_bytes("VmHWM");
    if std::fs::write("/proc/self/clear_refs", "5").is_err() {
        return false;
    }
    let after = status_bytes("VmHWM");
    let rss = status_bytes("VmRSS");
    println!(
        "VmHWM reset check: {:.0} MiB before, {:.0} MiB after touching 64 MiB, {:.0} MiB after writing 5 to /proc/self/clear_refs (VmRSS {:.0} MiB)",
        mib(before),
        mib(raised),
        mib(after),
        mib(rss)
    );
    after < raised && after <= rss + (8 << 20)
}

/// The object with index `i`: 96% ConfigMaps of 100–400 bytes of data, 2% Deployments, 2%
/// Services.
pub fn object(i: usize) -> (GroupVersionResource, KubeObject) {
    let ns = format!("team-{}", i % NAMESPACES);
    let app = format!("app-{}", i % 1000);
    let (gvr, value) = match i % 50 {
        0 => (
            GroupVersionResource::new("apps", "v1", "deployments"),
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": format!("{app}-{i}"), "namespace": ns, "labels": {"app": app}},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": app}},
                    "template": {"metadata": {"labels": {"app": app}}, "spec": {"containers": [{
                        "name": "main", "image": format!("registry.example.com/{app}:1.{}", i % 30),
                        "ports": [{"containerPort": 8080}],
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}}}}),
        ),
        1 => (
            GroupVersionResource::new("", "v1", "services"),
            json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": format!("{app}-svc-{i}"), "namespace": ns, "labels": {"app": app}},
                "spec": {"selector": {"app": app}, "ports": [{"port": 80, "targetPort": 8080}]}}),
        ),
        _ => {
            let filler = "x".repeat(100 + (i * 7919) % 300);
            (
                GroupVersionResource::new("", "v1", "configmaps"),
                json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": format!("{app}-config-{i}"), "namespace": ns, "labels": {"app": app}},
                    "data": {"app.properties": format!("id={i}\nfill={filler}\n")}}),
            )
        }
    };
    match KubeObject::new(value) {
        Ok(obj) => (gvr, obj),
        Err(e) => panic!("generated object {i} is invalid: {e}"),
    }
}
