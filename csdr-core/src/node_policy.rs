//! Which nodes may run file-system volume backups (DESIGN C2, the FAQ's node scheduling
//! policies).
//!
//! | policy | eligible nodes |
//! |---|---|
//! | `exclude` (default) | all, except nodes labelled `csdr.alibabacloud.com/agent-excluded="true"` |
//! | `include` | only nodes labelled `csdr.alibabacloud.com/agent-included="true"` |
//! | `prefer` | all: included nodes first, unlabelled next, excluded nodes last |
//!
//! Virtual nodes (label `type=virtual-kubelet`) are never eligible. A label counts only when
//! its value is exactly `true`. A node carrying both labels is treated as excluded: it is
//! never chosen under `exclude` or `include`, and comes last under `prefer`.
//!
//! ```
//! use std::collections::BTreeMap;
//! use csdr_core::node_policy::{NodeSchedulePolicy, eligible_nodes, AGENT_EXCLUDED_LABEL};
//!
//! let plain = BTreeMap::new();
//! let excluded = BTreeMap::from([(AGENT_EXCLUDED_LABEL.to_string(), "true".to_string())]);
//! let nodes = [("node-a", &excluded), ("node-b", &plain)];
//!
//! let policy: NodeSchedulePolicy = "prefer".parse()?;
//! assert_eq!(eligible_nodes(policy, nodes), ["node-b", "node-a"]);
//! assert_eq!(eligible_nodes(NodeSchedulePolicy::Exclude, nodes), ["node-b"]);
//! # Ok::<(), csdr_core::node_policy::NodePolicyError>(())
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Label that keeps a node from running volume backups (`"true"`).
pub const AGENT_EXCLUDED_LABEL: &str = "csdr.alibabacloud.com/agent-excluded";
/// Label that enables a node under the `include` policy and prefers it under `prefer`.
pub const AGENT_INCLUDED_LABEL: &str = "csdr.alibabacloud.com/agent-included";
/// Label key that marks a virtual node, together with [`VIRTUAL_NODE_TYPE`].
pub const NODE_TYPE_LABEL: &str = "type";
/// Value of [`NODE_TYPE_LABEL`] on virtual nodes, which never run volume backups.
pub const VIRTUAL_NODE_TYPE: &str = "virtual-kubelet";

/// How nodes are chosen for file-system volume backups (`node_schedule_policy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeSchedulePolicy {
    /// All nodes except those labelled `agent-excluded="true"`.
    #[default]
    Exclude,
    /// Only nodes labelled `agent-included="true"`.
    Include,
    /// All nodes; `agent-included` first, `agent-excluded` last.
    Prefer,
}

impl NodeSchedulePolicy {
    /// The policy as written in the ConfigMap: `exclude`, `include` or `prefer`.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeSchedulePolicy::Exclude => "exclude",
            NodeSchedulePolicy::Include => "include",
            NodeSchedulePolicy::Prefer => "prefer",
        }
    }
}

impl fmt::Display for NodeSchedulePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown node scheduling policy name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown node scheduling policy {0:?}: set node_schedule_policy to exclude (the default), \
     include or prefer"
)]
pub struct NodePolicyError(pub String);

impl FromStr for NodeSchedulePolicy {
    type Err = NodePolicyError;

    /// Parses `exclude`, `include` or `prefer` (exactly, lower case, as the FAQ writes them).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "exclude" => Ok(NodeSchedulePolicy::Exclude),
            "include" => Ok(NodeSchedulePolicy::Include),
            "prefer" => Ok(NodeSchedulePolicy::Prefer),
            other => Err(NodePolicyError(other.to_owned())),
        }
    }
}

/// Read access to a node's labels, so nodes can come from typed maps or raw JSON objects.
pub trait NodeLabels {
    /// The value of one label, if present and a string.
    fn label(&self, key: &str) -> Option<&str>;
}

impl NodeLabels for BTreeMap<String, String> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl NodeLabels for HashMap<String, String> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl NodeLabels for serde_json::Map<String, serde_json::Value> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(serde_json::Value::as_str)
    }
}

/// Where a node stands under the labels, before the policy is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Standing {
    Included,
    Unlabelled,
    Excluded,
}

fn standing<L: NodeLabels + ?Sized>(labels: &L) -> Option<Standing> {
    if labels.label(NODE_TYPE_LABEL) == Some(VIRTUAL_NODE_TYPE) {
        return None;
    }
    Some(if labels.label(AGENT_EXCLUDED_LABEL) == Some("true") {
        Standing::Excluded
    } else if labels.label(AGENT_INCLUDED_LABEL) == Some("true") {
        Standing::Included
    } else {
        Standing::Unlabelled
    })
}

/// The names of the nodes that may run file-system volume backups under `policy`, most
/// preferred first. Only `prefer` reorders (included, unlabelled, excluded); otherwise and
/// within a preference level, nodes keep their input order.
pub fn eligible_nodes<'a, L>(
    policy: NodeSchedulePolicy,
    nodes: impl IntoIterator<Item = (&'a str, &'a L)>,
) -> Vec<&'a str>
where
    L: NodeLabels + ?Sized + 'a,
{
    let mut ranked: Vec<(Standing, &'a str)> = nodes
        .into_iter()
        .filter_map(|(name, labels)| Some((standing(labels)?, name)))
        .filter(|(standing, _)| match policy {
            NodeSchedulePolicy::Exclude => *standing != Standing::Excluded,
            NodeSchedulePolicy::Include => *standing == Standing::Included,
            NodeSchedulePolicy::Prefer => true,
        })
        .collect();
    if policy == NodeSchedulePolicy::Prefer {
        // Stable: equal standings keep the caller's order.
        ranked.sort_by_key(|(standing, _)| *standing);
    }
    ranked.into_iter().map(|(_, name)| name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A cluster with one node of every kind, in a deliberately mixed order.
    fn cluster() -> Vec<(&'static str, BTreeMap<String, String>)> {
        vec![
            ("excluded", labels(&[(AGENT_EXCLUDED_LABEL, "true")])),
            ("plain-1", labels(&[("zone", "a")])),
            ("included-1", labels(&[(AGENT_INCLUDED_LABEL, "true")])),
            ("virtual", labels(&[("type", "virtual-kubelet")])),
            (
                "virtual-included",
                labels(&[("type", "virtual-kubelet"), (AGENT_INCLUDED_LABEL, "true")]),
            ),
            ("plain-2", labels(&[])),
            ("included-2", labels(&[(AGENT_INCLUDED_LABEL, "true")])),
            (
                "both",
                labels(&[
                    (AGENT_INCLUDED_LABEL, "true"),
                    (AGENT_EXCLUDED_LABEL, "true"),
                ]),
            ),
            ("excluded-false", labels(&[(AGENT_EXCLUDED_LABEL, "false")])),
            ("included-yes", labels(&[(AGENT_INCLUDED_LABEL, "yes")])),
        ]
    }

    #[test]
    fn each_policy_selects_and_orders_nodes_as_the_faq_table_says() {
        let nodes = cluster();
        let view = || nodes.iter().map(|(n, l)| (*n, l));
        let table: [(NodeSchedulePolicy, &[&str]); 3] = [
            (
                NodeSchedulePolicy::Exclude,
                &[
                    "plain-1",
                    "included-1",
                    "plain-2",
                    "included-2",
                    "excluded-false",
                    "included-yes",
                ],
            ),
            (NodeSchedulePolicy::Include, &["included-1", "included-2"]),
            (
                NodeSchedulePolicy::Prefer,
                &[
                    "included-1",
                    "included-2",
                    "plain-1",
                    "plain-2",
                    "excluded-false",
                    "included-yes",
                    "excluded",
                    "both",
                ],
            ),
        ];
        for (policy, expected) in table {
            assert_eq!(eligible_nodes(policy, view()), expected, "policy {policy}");
        }
    }

    #[test]
    fn virtual_nodes_are_never_eligible() {
        let nodes = [
            ("v", labels(&[("type", "virtual-kubelet")])),
            (
                "v-in",
                labels(&[("type", "virtual-kubelet"), (AGENT_INCLUDED_LABEL, "true")]),
            ),
        ];
        for policy in [
            NodeSchedulePolicy::Exclude,
            NodeSchedulePolicy::Include,
            NodeSchedulePolicy::Prefer,
        ] {
            assert!(eligible_nodes(policy, nodes.iter().map(|(n, l)| (*n, l))).is_empty());
        }
    }

    #[test]
    fn include_with_no_labelled_nodes_selects_nothing() {
        let nodes = [("a", labels(&[])), ("b", labels(&[]))];
        let view = nodes.iter().map(|(n, l)| (*n, l));
        assert!(eligible_nodes(NodeSchedulePolicy::Include, view).is_empty());
    }

    #[test]
    fn labels_from_raw_node_json_work() {
        let json_labels = |v: serde_json::Value| v.as_object().cloned().unwrap();
        let a = json_labels(json!({"csdr.alibabacloud.com/agent-included": "true"}));
        let b = json_labels(json!({"type": "virtual-kubelet"}));
        let c = json_labels(json!({}));
        let nodes = [("a", &a), ("b", &b), ("c", &c)];
        assert_eq!(
            eligible_nodes(NodeSchedulePolicy::Prefer, nodes),
            ["a", "c"]
        );
    }

    #[test]
    fn policy_text_round_trips_and_rejects_unknown_names() {
        for policy in [
            NodeSchedulePolicy::Exclude,
            NodeSchedulePolicy::Include,
            NodeSchedulePolicy::Prefer,
        ] {
            assert_eq!(policy.to_string().parse::<NodeSchedulePolicy>(), Ok(policy));
            let json = serde_json::to_string(&policy).unwrap();
            assert_eq!(json, format!("\"{policy}\""));
            assert_eq!(
                serde_json::from_str::<NodeSchedulePolicy>(&json).unwrap(),
                policy
            );
        }
        assert_eq!(NodeSchedulePolicy::default(), NodeSchedulePolicy::Exclude);
        let err = "Prefered".parse::<NodeSchedulePolicy>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown node scheduling policy \"Prefered\": set node_schedule_policy to exclude \
             (the default), include or prefer"
        );
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(text in "\\PC{0,40}") {
            let _ = text.parse::<NodeSchedulePolicy>();
        }
    }
}
