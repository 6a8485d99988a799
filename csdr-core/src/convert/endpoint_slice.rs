//! EndpointSlice: `discovery.k8s.io/v1beta1` ⇄ `discovery.k8s.io/v1`.
//!
//! Sources:
//! - Deprecation guide, "EndpointSlice" (v1.25): per-endpoint `topology` is removed; use
//!   `nodeName` for `topology["kubernetes.io/hostname"]` and `zone` for
//!   `topology["topology.kubernetes.io/zone"]`; `topology` is replaced by the read-only
//!   `deprecatedTopology`.
//! - `pkg/apis/discovery/v1beta1/conversion.go` (`Convert_v1beta1_Endpoint_To_discovery_Endpoint`
//!   and its reverse): the zone key moves to `zone`; the hostname key is dropped only when it
//!   equals `nodeName`; the remaining keys go to `deprecatedTopology` (omitted when empty). The
//!   downgrade rebuilds `topology` from `deprecatedTopology`, `zone` (which v1beta1 lacks, so
//!   it is removed) and `nodeName` (hostname only when not already present; v1beta1 keeps
//!   `nodeName` too). Nothing is lost in either direction.
//!
//! ```
//! use csdr_core::convert::convert;
//! use csdr_core::object::{GroupVersion, KubeObject};
//! use serde_json::json;
//!
//! let old = KubeObject::new(json!({"apiVersion": "discovery.k8s.io/v1beta1",
//!     "kind": "EndpointSlice", "metadata": {"name": "web-abc"}, "addressType": "IPv4",
//!     "endpoints": [{"addresses": ["10.0.0.1"],
//!         "topology": {"topology.kubernetes.io/zone": "eu-1a"}}]}))?;
//! let new = convert(old, &GroupVersion::new("discovery.k8s.io", "v1"))?;
//! assert_eq!(new.pointer("/endpoints/0"), Some(&json!({"addresses": ["10.0.0.1"], "zone": "eu-1a"})));
//! # Ok::<(), csdr_core::Error>(())
//! ```

use serde_json::{Map, Value};

use super::fields::objects_in;
use super::{ConvertError, Migration};
use crate::object::KubeObject;

const ZONE: &str = "topology.kubernetes.io/zone";
const HOSTNAME: &str = "kubernetes.io/hostname";

pub(super) fn migrations() -> Vec<Migration> {
    vec![
        Migration::new(
            "endpointslice-discovery-v1beta1-to-v1",
            "discovery.k8s.io/v1beta1",
            "discovery.k8s.io/v1",
            "EndpointSlice",
            upgrade,
        ),
        Migration::new(
            "endpointslice-discovery-v1-to-v1beta1",
            "discovery.k8s.io/v1",
            "discovery.k8s.io/v1beta1",
            "EndpointSlice",
            downgrade,
        ),
    ]
}

/// EndpointSlices keep their endpoints at the top level, not under `spec`.
fn endpoints(obj: &mut KubeObject) -> impl Iterator<Item = &mut Map<String, Value>> {
    objects_in(obj.fields_mut(), "endpoints")
}

fn upgrade(mut obj: KubeObject) -> Result<KubeObject, ConvertError> {
    for ep in endpoints(&mut obj) {
        let Some(Value::Object(mut topology)) = ep.remove("topology") else {
            continue;
        };
        if let Some(zone) = topology.remove(ZONE) {
            ep.insert("zone".into(), zone);
        }
        if let Some(host) = topology.get(HOSTNAME)
            && ep.get("nodeName") == Some(host)
        {
            topology.remove(HOSTNAME);
        }
        if !topology.is_empty() {
            ep.insert("deprecatedTopology".into(), Value::Object(topology));
        }
    }
    Ok(obj)
}

fn downgrade(mut obj: KubeObject) -> Result<KubeObject, ConvertError> {
    for ep in endpoints(&mut obj) {
        let deprecated = ep.remove("deprecatedTopology");
        let zone = ep.remove("zone").filter(|z| !z.is_null());
        let node = ep.get("nodeName").filter(|n| !n.is_null()).cloned();
        if deprecated.is_none() && zone.is_none() && node.is_none() {
            continue;
        }
        let mut topology = match deprecated {
            Some(Value::Object(t)) => t,
            _ => Map::new(),
        };
        if let Some(zone) = zone {
            topology.insert(ZONE.into(), zone);
        }
        if let Some(node) = node
            && topology
                .get(HOSTNAME)
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
        {
            topology.insert(HOSTNAME.into(), node);
        }
        ep.insert("topology".into(), Value::Object(topology));
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::super::convert;
    use crate::object::{GroupVersion, KubeObject};
    use serde_json::{Value, json};

    fn slice(api_version: &str, endpoint: Value) -> KubeObject {
        KubeObject::new(json!({
            "apiVersion": api_version, "kind": "EndpointSlice",
            "metadata": {"name": "example-abc", "namespace": "default",
                "labels": {"kubernetes.io/service-name": "example"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "protocol": "TCP", "port": 80}],
            "endpoints": [endpoint]
        }))
        .unwrap()
    }

    #[test]
    fn topology_becomes_zone_and_node() {
        let before = slice(
            "discovery.k8s.io/v1beta1",
            json!({"addresses": ["10.1.2.3"],
            "conditions": {"ready": true}, "nodeName": "node-1",
            "topology": {"kubernetes.io/hostname": "node-1", "topology.kubernetes.io/zone": "us-west2-a",
                "example.com/rack": "r1"}}),
        );
        let after = convert(before.clone(), &GroupVersion::new("discovery.k8s.io", "v1")).unwrap();
        assert_eq!(
            after,
            slice(
                "discovery.k8s.io/v1",
                json!({"addresses": ["10.1.2.3"],
                "conditions": {"ready": true}, "nodeName": "node-1", "zone": "us-west2-a",
                "deprecatedTopology": {"example.com/rack": "r1"}})
            )
        );
        let back = convert(after, &GroupVersion::new("discovery.k8s.io", "v1beta1")).unwrap();
        assert_eq!(back, before);
    }

    #[test]
    fn a_hostname_other_than_node_name_is_kept() {
        let before = slice(
            "discovery.k8s.io/v1beta1",
            json!({"addresses": ["10.1.2.3"],
            "nodeName": "node-1", "topology": {"kubernetes.io/hostname": "other"}}),
        );
        let after = convert(before, &GroupVersion::new("discovery.k8s.io", "v1")).unwrap();
        assert_eq!(
            after.pointer("/endpoints/0/deprecatedTopology"),
            Some(&json!({"kubernetes.io/hostname": "other"}))
        );
        assert_eq!(after.pointer("/endpoints/0/topology"), None);
    }
}
