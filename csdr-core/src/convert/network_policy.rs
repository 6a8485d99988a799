//! NetworkPolicy: `extensions/v1beta1` ⇄ `networking.k8s.io/v1`.
//!
//! Sources:
//! - Deprecation guide, "NetworkPolicy" (v1.16): migrate to `networking.k8s.io/v1`, available
//!   since v1.8; no notable changes are listed.
//! - `pkg/apis/extensions/v1beta1/conversion.go` (`Convert_v1beta1_NetworkPolicySpec_To_networking_NetworkPolicySpec`
//!   and the peer, port, IPBlock and rule conversions): field-for-field copies.
//! - `pkg/apis/extensions/v1beta1/defaults.go` and `pkg/apis/networking/v1/defaults.go`:
//!   the same defaults (port `protocol` TCP; `policyTypes` `[Ingress]`, plus `Egress` when
//!   egress rules exist), so both directions are renames and lose nothing.
//!
//! ```
//! use csdr_core::convert::convert;
//! use csdr_core::object::{GroupVersion, KubeObject};
//! use serde_json::json;
//!
//! let old = KubeObject::new(json!({"apiVersion": "extensions/v1beta1", "kind": "NetworkPolicy",
//!     "metadata": {"name": "deny-all"}, "spec": {"podSelector": {}}}))?;
//! let new = convert(old, &GroupVersion::new("networking.k8s.io", "v1"))?;
//! assert_eq!(new.api_version(), "networking.k8s.io/v1");
//! assert_eq!(new.pointer("/spec"), Some(&json!({"podSelector": {}})));
//! # Ok::<(), csdr_core::Error>(())
//! ```

use super::{Migration, fields::keep};

pub(super) fn migrations() -> Vec<Migration> {
    vec![
        Migration::new(
            "networkpolicy-extensions-v1beta1-to-networking-v1",
            "extensions/v1beta1",
            "networking.k8s.io/v1",
            "NetworkPolicy",
            keep,
        ),
        Migration::new(
            "networkpolicy-networking-v1-to-extensions-v1beta1",
            "networking.k8s.io/v1",
            "extensions/v1beta1",
            "NetworkPolicy",
            keep,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::convert;
    use crate::object::{GroupVersion, KubeObject};
    use serde_json::{Value, json};

    /// The `test-network-policy` of the Kubernetes documentation.
    fn policy(api_version: &str) -> Value {
        json!({
            "apiVersion": api_version,
            "kind": "NetworkPolicy",
            "metadata": {"name": "test-network-policy", "namespace": "default"},
            "spec": {
                "podSelector": {"matchLabels": {"role": "db"}},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [
                    {"ipBlock": {"cidr": "172.17.0.0/16", "except": ["172.17.1.0/24"]}},
                    {"namespaceSelector": {"matchLabels": {"project": "myproject"}}},
                    {"podSelector": {"matchLabels": {"role": "frontend"}}}],
                    "ports": [{"protocol": "TCP", "port": 6379}]}],
                "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/24"}}],
                    "ports": [{"protocol": "TCP", "port": 5978}]}]
            }
        })
    }

    #[test]
    fn extensions_to_networking_v1_and_back() {
        let before = KubeObject::new(policy("extensions/v1beta1")).unwrap();
        let v1 = convert(
            before.clone(),
            &GroupVersion::new("networking.k8s.io", "v1"),
        )
        .unwrap();
        assert_eq!(v1.to_value(), policy("networking.k8s.io/v1"));
        let back = convert(v1, &GroupVersion::new("extensions", "v1beta1")).unwrap();
        assert_eq!(back, before);
    }
}
