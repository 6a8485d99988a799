//! Reading an API server's discovery documents into the core's [`Discovery`](csdr_core::discovery::Discovery).
//!
//! Two shapes exist. The aggregated one (`apidiscovery.k8s.io/v2`, Kubernetes 1.26+): `/api`
//! and `/apis` asked for with [`AGGREGATED_ACCEPT`] answer every group, version and resource
//! in one `APIGroupDiscoveryList`. The legacy one: `/api` (`APIVersions`), `/apis`
//! (`APIGroupList` with preferred versions) and one `APIResourceList` per group version.
//! [`crate::KubeCluster`] asks for the aggregated shape and falls back to the legacy one; the
//! functions here only parse. Subresources (`deployments/scale`) are left out. A group that
//! cannot be read (an aggregated API whose backend is down: legacy discovery fails for its
//! group version, aggregated discovery marks it `Stale`) is left out whole and reported as a
//! [`DiscoveryWarning`], so one broken add-on does not stop a backup.
//!
//! ```
//! use csdr_kube::discovery::{aggregated_groups, is_aggregated};
//! use serde_json::json;
//!
//! let apis = json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
//!   "items": [{"metadata": {"name": "apps"}, "versions": [{"version": "v1", "resources": [
//!     {"resource": "deployments", "responseKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
//!      "scope": "Namespaced", "singularResource": "deployment", "verbs": ["get", "list"],
//!      "shortNames": ["deploy"]}]}]},
//!   {"metadata": {"name": "metrics.k8s.io"}, "versions": [{"version": "v1beta1", "freshness": "Stale"}]}]});
//! assert!(is_aggregated(&apis));
//! let (groups, warnings) = aggregated_groups(&apis);
//! assert_eq!(groups[0].preferred_version, "v1");
//! assert_eq!(groups[0].versions[0].resources[0].short_names, ["deploy"]);
//! assert_eq!(warnings[0].group, "metrics.k8s.io");
//! ```

use std::fmt;

use csdr_core::discovery::{ApiResource, DiscoveredGroup, DiscoveredVersion};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `Accept` header asking for aggregated discovery (v2, then v2beta1), with plain JSON
/// as the fallback a server without it answers.
pub const AGGREGATED_ACCEPT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

/// A group (or one of its versions) that discovery left out, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveryWarning {
    /// The group; empty for the core group.
    pub group: String,
    /// The version that failed, when one is known.
    pub version: Option<String>,
    /// What happened.
    pub reason: String,
}

impl fmt::Display for DiscoveryWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.group.is_empty() {
            "core"
        } else {
            &self.group
        };
        match &self.version {
            Some(v) => write!(
                f,
                "API group {group} version {v} skipped: {}; its resources are not backed up until the server serves it again",
                self.reason
            ),
            None => write!(
                f,
                "API group {group} skipped: {}; its resources are not backed up until the server serves it again",
                self.reason
            ),
        }
    }
}

/// Whether a `/api` or `/apis` answer is an aggregated `APIGroupDiscoveryList`.
pub fn is_aggregated(doc: &Value) -> bool {
    doc.get("kind").and_then(Value::as_str) == Some("APIGroupDiscoveryList")
}

use csdr_core::object::string_list as strings;

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The groups of an aggregated `APIGroupDiscoveryList` (versions listed most preferred first,
/// as the format defines), and a warning per group left out because a version is `Stale`.
pub fn aggregated_groups(doc: &Value) -> (Vec<DiscoveredGroup>, Vec<DiscoveryWarning>) {
    let mut groups = Vec::new();
    let mut warnings = Vec::new();
    for item in doc
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = item
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let mut versions = Vec::new();
        let mut stale = None;
        for v in item
            .get("versions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let version = text(v, "version").to_string();
            if text(v, "freshness") == "Stale" {
                stale = Some(version);
                break;
            }
            let resources = v
                .get("resources")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|r| {
                    let plural = text(r, "resource");
                    let kind = r
                        .pointer("/responseKind/kind")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    if plural.is_empty() || plural.contains('/') || kind.is_empty() {
                        return None;
                    }
                    let mut res = ApiResource::new(kind, plural, text(r, "scope") != "Cluster");
                    let singular = text(r, "singularResource");
                    if !singular.is_empty() {
                        res.singular = singular.to_string();
                    }
                    res.verbs = strings(r.get("verbs"));
                    res.short_names = strings(r.get("shortNames"));
                    res.categories = strings(r.get("categories"));
                    Some(res)
                })
                .collect();
            versions.push(DiscoveredVersion { version, resources });
        }
        if let Some(version) = stale {
            warnings.push(DiscoveryWarning {
                group: name,
                version: Some(version),
                reason: "the server reports its discovery as Stale (the backing API service is unavailable)".into(),
            });
            continue;
        }
        let Some(preferred) = versions.first().map(|v| v.version.clone()) else {
            continue;
        };
        groups.push(DiscoveredGroup {
            name,
            preferred_version: preferred,
            versions,
        });
    }
    (groups, warnings)
}

/// A group of a legacy `APIGroupList`: its name, served versions and preferred version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegacyGroup {
    /// The group name.
    pub name: String,
    /// Every served version, in the server's order.
    pub versions: Vec<String>,
    /// The preferred version (the first served one when the server names none).
    pub preferred_version: String,
}

/// The groups of a legacy `/apis` answer (`APIGroupList`).
pub fn legacy_groups(doc: &Value) -> Vec<LegacyGroup> {
    doc.get("groups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|g| {
            let name = text(g, "name").to_string();
            let versions: Vec<String> = g
                .get("versions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|v| text(v, "version").to_string())
                .filter(|v| !v.is_empty())
                .collect();
            let preferred = g
                .pointer("/preferredVersion/version")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| versions.first().cloned())?;
            Some(LegacyGroup {
                name,
                versions,
                preferred_version: preferred,
            })
        })
        .collect()
}

/// The versions of the core group from a legacy `/api` answer (`APIVersions`).
pub fn legacy_core_versions(doc: &Value) -> Vec<String> {
    strings(doc.get("versions"))
}

/// The resources of an `APIResourceList`, subresources left out.
pub fn legacy_resources(doc: &Value) -> Vec<ApiResource> {
    doc.get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let plural = text(r, "name");
            let kind = text(r, "kind");
            if plural.is_empty() || plural.contains('/') || kind.is_empty() {
                return None;
            }
            let namespaced = r
                .get("namespaced")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let mut res = ApiResource::new(kind, plural, namespaced);
            let singular = text(r, "singularName");
            if !singular.is_empty() {
                res.singular = singular.to_string();
            }
            res.verbs = strings(r.get("verbs"));
            res.short_names = strings(r.get("shortNames"));
            res.categories = strings(r.get("categories"));
            Some(res)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn legacy_documents() {
        let apis = json!({"kind": "APIGroupList", "groups": [
            {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"},
                {"groupVersion": "apps/v1beta2", "version": "v1beta2"}],
             "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}},
            {"name": "x.io", "versions": [{"groupVersion": "x.io/v2", "version": "v2"}]}]});
        let groups = legacy_groups(&apis);
        assert_eq!(groups[0].versions, ["v1", "v1beta2"]);
        assert_eq!(groups[0].preferred_version, "v1");
        assert_eq!(groups[1].preferred_version, "v2");
        let list = json!({"kind": "APIResourceList", "groupVersion": "apps/v1", "resources": [
            {"name": "deployments", "singularName": "", "namespaced": true, "kind": "Deployment",
             "verbs": ["get"], "shortNames": ["deploy"], "categories": ["all"]},
            {"name": "deployments/scale", "namespaced": true, "kind": "Scale", "verbs": ["get"]},
            {"name": "clusterroles", "singularName": "clusterrole", "namespaced": false,
             "kind": "ClusterRole", "verbs": ["get"]}]});
        let res = legacy_resources(&list);
        assert_eq!(res.len(), 2);
        assert_eq!(res[0].singular, "deployment");
        assert_eq!(res[0].categories, ["all"]);
        assert!(!res[1].namespaced);
        assert_eq!(
            legacy_core_versions(&json!({"kind": "APIVersions", "versions": ["v1"]})),
            ["v1"]
        );
    }

    #[test]
    fn warnings_name_the_group_and_say_what_follows() {
        let w = DiscoveryWarning {
            group: "metrics.k8s.io".into(),
            version: Some("v1beta1".into()),
            reason: "HTTP 503".into(),
        };
        let text = w.to_string();
        assert!(text.contains("metrics.k8s.io version v1beta1"));
        assert!(text.contains("not backed up"));
    }
}
