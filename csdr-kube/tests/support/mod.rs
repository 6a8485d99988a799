//! Shared test support: simulated clusters of a release.

#![allow(dead_code)]

use csdr_core::object::{GroupVersion, KubeObject};
use csdr_core::releases::KubeRelease;
use csdr_core::sim::SimCluster;
use serde_json::{Value, json};

/// A stand-in for the core's KubernetesConvert while it is being written: renames apiVersion
/// and, for apps/v1 workloads, adds the selector apps/v1 requires from the template labels.
pub fn rename(obj: &KubeObject, gv: &GroupVersion) -> Result<KubeObject, String> {
    let mut out = obj.clone();
    out.set_api_version(gv);
    if gv.group == "apps" && gv.version == "v1" && out.pointer("/spec/selector").is_none() {
        let labels = out
            .pointer("/spec/template/metadata/labels")
            .cloned()
            .unwrap_or(json!({}));
        if let Some(Value::Object(spec)) = out.fields_mut().get_mut("spec") {
            spec.insert("selector".into(), json!({"matchLabels": labels}));
        }
    }
    Ok(out)
}

/// A simulated cluster serving `release`'s built-in APIs.
pub fn sim(release: KubeRelease) -> SimCluster {
    SimCluster::from_discovery(release.discovery(), rename)
}
