//! API Priority and Fairness: FlowSchema and PriorityLevelConfiguration,
//! `flowcontrol.apiserver.k8s.io/v1beta1`, `v1beta2` and `v1beta3` ⇄ `v1`.
//!
//! Sources:
//! - Deprecation guide, "FlowSchema and PriorityLevelConfiguration": v1beta1 removed in v1.26,
//!   v1beta2 in v1.29, v1beta3 in v1.32. From v1beta2 to v1beta3 (and so v1),
//!   `spec.limited.assuredConcurrencyShares` is renamed `spec.limited.nominalConcurrencyShares`;
//!   in v1, `nominalConcurrencyShares` only defaults to 30 when unspecified and an explicit 0
//!   stays 0.
//! - `pkg/apis/flowcontrol/v1beta1/defaults.go`, `…/v1beta2/defaults.go`, `…/v1beta3/defaults.go`:
//!   in every beta a zero or unset shares value means 30. The upgrade therefore writes 30 for a
//!   zero or unset value (a restored priority level keeps its share). FlowSchema has the same
//!   schema in every version (a rename).
//!
//! Lossy downgrade: a v1 `nominalConcurrencyShares: 0` becomes 30 once a beta server defaults
//! it; nothing else is lost.
//!
//! ```
//! use csdr_core::convert::convert;
//! use csdr_core::object::{GroupVersion, KubeObject};
//! use serde_json::json;
//!
//! let old = KubeObject::new(json!({"apiVersion": "flowcontrol.apiserver.k8s.io/v1beta2",
//!     "kind": "PriorityLevelConfiguration", "metadata": {"name": "low"},
//!     "spec": {"type": "Limited", "limited": {"assuredConcurrencyShares": 10}}}))?;
//! let new = convert(old, &GroupVersion::new("flowcontrol.apiserver.k8s.io", "v1"))?;
//! assert_eq!(new.pointer("/spec/limited"), Some(&json!({"nominalConcurrencyShares": 10})));
//! # Ok::<(), csdr_core::Error>(())
//! ```

use serde_json::{Value, json};

use super::fields::{object_mut, rename_field, spec_mut};
use super::{ConvertError, Migration, fields::keep};
use crate::object::KubeObject;

const V1: &str = "flowcontrol.apiserver.k8s.io/v1";
const V1BETA1: &str = "flowcontrol.apiserver.k8s.io/v1beta1";
const V1BETA2: &str = "flowcontrol.apiserver.k8s.io/v1beta2";
const V1BETA3: &str = "flowcontrol.apiserver.k8s.io/v1beta3";
const PLC: &str = "PriorityLevelConfiguration";

pub(super) fn migrations() -> Vec<Migration> {
    vec![
        Migration::new("flowschema-v1beta1-to-v1", V1BETA1, V1, "FlowSchema", keep),
        Migration::new("flowschema-v1-to-v1beta1", V1, V1BETA1, "FlowSchema", keep),
        Migration::new("flowschema-v1beta2-to-v1", V1BETA2, V1, "FlowSchema", keep),
        Migration::new("flowschema-v1-to-v1beta2", V1, V1BETA2, "FlowSchema", keep),
        Migration::new("flowschema-v1beta3-to-v1", V1BETA3, V1, "FlowSchema", keep),
        Migration::new("flowschema-v1-to-v1beta3", V1, V1BETA3, "FlowSchema", keep),
        Migration::new(
            "prioritylevelconfiguration-v1beta1-to-v1",
            V1BETA1,
            V1,
            PLC,
            from_assured,
        ),
        Migration::new(
            "prioritylevelconfiguration-v1-to-v1beta1",
            V1,
            V1BETA1,
            PLC,
            to_assured,
        ),
        Migration::new(
            "prioritylevelconfiguration-v1beta2-to-v1",
            V1BETA2,
            V1,
            PLC,
            from_assured,
        ),
        Migration::new(
            "prioritylevelconfiguration-v1-to-v1beta2",
            V1,
            V1BETA2,
            PLC,
            to_assured,
        ),
        Migration::new(
            "prioritylevelconfiguration-v1beta3-to-v1",
            V1BETA3,
            V1,
            PLC,
            from_nominal,
        ),
        Migration::new(
            "prioritylevelconfiguration-v1-to-v1beta3",
            V1,
            V1BETA3,
            PLC,
            keep,
        ),
    ]
}

fn limited(obj: &mut KubeObject) -> Option<&mut serde_json::Map<String, Value>> {
    spec_mut(obj).and_then(|s| object_mut(s, "limited"))
}

/// A zero or unset beta value means 30.
fn default_shares(limited: &mut serde_json::Map<String, Value>) {
    let zero_or_unset = match limited.get("nominalConcurrencyShares") {
        None | Some(Value::Null) => true,
        Some(v) => v.as_i64() == Some(0),
    };
    if zero_or_unset {
        limited.insert("nominalConcurrencyShares".into(), json!(30));
    }
}

fn from_assured(mut obj: KubeObject) -> Result<KubeObject, ConvertError> {
    if let Some(l) = limited(&mut obj) {
        rename_field(l, "assuredConcurrencyShares", "nominalConcurrencyShares");
        default_shares(l);
    }
    Ok(obj)
}

fn from_nominal(mut obj: KubeObject) -> Result<KubeObject, ConvertError> {
    if let Some(l) = limited(&mut obj) {
        default_shares(l);
    }
    Ok(obj)
}

fn to_assured(mut obj: KubeObject) -> Result<KubeObject, ConvertError> {
    if let Some(l) = limited(&mut obj) {
        rename_field(l, "nominalConcurrencyShares", "assuredConcurrencyShares");
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::super::convert;
    use crate::object::{GroupVersion, KubeObject};
    use serde_json::{Value, json};

    fn plc(api_version: &str, limited: Value) -> KubeObject {
        KubeObject::new(
            json!({"apiVersion": api_version, "kind": "PriorityLevelConfiguration",
            "metadata": {"name": "workload-low"},
            "spec": {"type": "Limited", "limited": limited}}),
        )
        .unwrap()
    }

    fn v1() -> GroupVersion {
        GroupVersion::new("flowcontrol.apiserver.k8s.io", "v1")
    }

    #[test]
    fn assured_shares_become_nominal_and_back() {
        let queuing = json!({"type": "Queue", "queuing": {"queues": 128, "handSize": 6, "queueLengthLimit": 50}});
        let before = plc(
            "flowcontrol.apiserver.k8s.io/v1beta2",
            json!({"assuredConcurrencyShares": 100, "limitResponse": queuing}),
        );
        let up = convert(before.clone(), &v1()).unwrap();
        assert_eq!(
            up,
            plc(
                "flowcontrol.apiserver.k8s.io/v1",
                json!({"nominalConcurrencyShares": 100, "limitResponse": queuing})
            )
        );
        let back = convert(
            up,
            &GroupVersion::new("flowcontrol.apiserver.k8s.io", "v1beta2"),
        )
        .unwrap();
        assert_eq!(back, before);
    }

    #[test]
    fn zero_beta_shares_mean_thirty() {
        for (v, field) in [
            ("v1beta1", "assuredConcurrencyShares"),
            ("v1beta3", "nominalConcurrencyShares"),
        ] {
            let before = plc(
                &format!("flowcontrol.apiserver.k8s.io/{v}"),
                json!({field: 0}),
            );
            let up = convert(before, &v1()).unwrap();
            assert_eq!(
                up.pointer("/spec/limited/nominalConcurrencyShares"),
                Some(&json!(30))
            );
        }
    }

    #[test]
    fn flow_schema_renames() {
        let fs = KubeObject::new(json!({"apiVersion": "flowcontrol.apiserver.k8s.io/v1beta3", "kind": "FlowSchema",
            "metadata": {"name": "health-for-strangers"},
            "spec": {"matchingPrecedence": 1000, "priorityLevelConfiguration": {"name": "exempt"},
                "rules": [{"nonResourceRules": [{"nonResourceURLs": ["/healthz"], "verbs": ["*"]}],
                    "subjects": [{"kind": "Group", "group": {"name": "system:unauthenticated"}}]}]}})).unwrap();
        let up = convert(fs.clone(), &v1()).unwrap();
        assert_eq!(up.api_version(), "flowcontrol.apiserver.k8s.io/v1");
        assert_eq!(up.fields().get("spec"), fs.fields().get("spec"));
    }
}
