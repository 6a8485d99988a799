//! The discovery documents the test API server answers, shaped like a real API server's.
//!
//! `/version` (`version.Info`), `/api` (`APIVersions`), `/apis` (`APIGroupList`),
//! `/apis/<group>` (`APIGroup`), `/api/v1` and `/apis/<group>/<version>` (`APIResourceList`),
//! and the aggregated `APIGroupDiscoveryList` of `/api` and `/apis` (apidiscovery.k8s.io v2
//! or v2beta1, as asked for) — all built from the simulated cluster's [`Discovery`]. The
//! OpenAPI documents are built by [`super::openapi`].
//!
//! ```
//! use csdr_core::releases::KubeRelease;
//! use csdr_kube::testing::documents::{group_list, release_of};
//!
//! let discovery = KubeRelease::V1_16.discovery();
//! assert_eq!(release_of(&discovery), Some(KubeRelease::V1_16));
//! let apis = group_list(&discovery);
//! let apps = apis["groups"].as_array().unwrap().iter().find(|g| g["name"] == "apps").unwrap();
//! assert_eq!(apps["preferredVersion"]["groupVersion"], "apps/v1");
//! ```

use csdr_core::discovery::{ApiResource, DiscoveredGroup, Discovery};
use csdr_core::releases::KubeRelease;
use csdr_core::version_priority::compare_priority;
use serde_json::{Value, json};

/// The release whose built-in APIs the discovery serves: the release with the most resources
/// among those whose every (group, version, resource) the discovery serves.
pub fn release_of(discovery: &Discovery) -> Option<KubeRelease> {
    KubeRelease::ALL
        .into_iter()
        .filter_map(|release| {
            let table = release.discovery();
            let mut count = 0usize;
            for g in &table.groups {
                for v in &g.versions {
                    for r in &v.resources {
                        if !discovery.serves(&g.name, &v.version, &r.plural) {
                            return None;
                        }
                        count += 1;
                    }
                }
            }
            Some((count, release))
        })
        .max_by_key(|(count, release)| (*count, *release))
        .map(|(_, release)| release)
}

/// `/version` for a release.
pub fn version_info(release: Option<KubeRelease>) -> Value {
    let minor = release.map_or(KubeRelease::NEWEST.minor(), KubeRelease::minor);
    json!({
        "major": "1",
        "minor": minor.to_string(),
        "gitVersion": format!("v1.{minor}.0"),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.22.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// A group's versions with the preferred one first, then by priority.
fn ordered_versions(group: &DiscoveredGroup) -> Vec<&str> {
    let mut versions: Vec<&str> = group.versions.iter().map(|v| v.version.as_str()).collect();
    versions.sort_by(|a, b| {
        (*b == group.preferred_version)
            .cmp(&(*a == group.preferred_version))
            .then_with(|| compare_priority(b, a))
    });
    versions
}

/// `/api`: the core group's versions.
pub fn core_versions(discovery: &Discovery, server_address: &str) -> Value {
    let versions: Vec<&str> = discovery
        .group("")
        .map(ordered_versions)
        .unwrap_or_default();
    json!({
        "kind": "APIVersions",
        "versions": versions,
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn api_group(group: &DiscoveredGroup) -> Value {
    let versions: Vec<Value> = ordered_versions(group)
        .into_iter()
        .map(|v| json!({"groupVersion": group_version(&group.name, v), "version": v}))
        .collect();
    json!({
        "name": group.name,
        "versions": versions,
        "preferredVersion": {
            "groupVersion": group_version(&group.name, &group.preferred_version),
            "version": group.preferred_version,
        },
    })
}

/// `/apis`: every named group.
pub fn group_list(discovery: &Discovery) -> Value {
    let groups: Vec<Value> = discovery
        .groups
        .iter()
        .filter(|g| !g.name.is_empty())
        .map(api_group)
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`, if the group is served.
pub fn group(discovery: &Discovery, name: &str) -> Option<Value> {
    let group = discovery.group(name).filter(|_| !name.is_empty())?;
    let mut doc = api_group(group);
    if let Some(map) = doc.as_object_mut() {
        map.insert("kind".into(), json!("APIGroup"));
        map.insert("apiVersion".into(), json!("v1"));
    }
    Some(doc)
}

fn resource_entry(r: &ApiResource) -> Value {
    let mut entry = json!({
        "name": r.plural,
        "singularName": r.singular,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": r.verbs,
    });
    if let Some(map) = entry.as_object_mut() {
        if !r.short_names.is_empty() {
            map.insert("shortNames".into(), json!(r.short_names));
        }
        if !r.categories.is_empty() {
            map.insert("categories".into(), json!(r.categories));
        }
    }
    entry
}

/// `/api/<version>` or `/apis/<group>/<version>`, if served.
pub fn resource_list(discovery: &Discovery, group: &str, version: &str) -> Option<Value> {
    let served = discovery
        .group(group)?
        .versions
        .iter()
        .find(|v| v.version == version)?;
    let resources: Vec<Value> = served.resources.iter().map(resource_entry).collect();
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version(group, version),
        "resources": resources,
    }))
}

/// The aggregated discovery of the core group (`core == true`, for `/api`) or of the named
/// groups (for `/apis`), at `apidiscovery.k8s.io/<api_version>`.
pub fn aggregated(discovery: &Discovery, core: bool, api_version: &str) -> Value {
    let items: Vec<Value> = discovery
        .groups
        .iter()
        .filter(|g| g.name.is_empty() == core)
        .map(|g| {
            let versions: Vec<Value> = ordered_versions(g)
                .into_iter()
                .filter_map(|v| g.versions.iter().find(|dv| dv.version == v))
                .map(|dv| {
                    let resources: Vec<Value> = dv
                        .resources
                        .iter()
                        .map(|r| {
                            let mut entry = json!({
                                "resource": r.plural,
                                "responseKind": {"group": g.name, "version": dv.version, "kind": r.kind},
                                "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                                "singularResource": r.singular,
                                "verbs": r.verbs,
                            });
                            if let Some(map) = entry.as_object_mut() {
                                if !r.short_names.is_empty() {
                                    map.insert("shortNames".into(), json!(r.short_names));
                                }
                                if !r.categories.is_empty() {
                                    map.insert("categories".into(), json!(r.categories));
                                }
                            }
                            entry
                        })
                        .collect();
                    json!({"version": dv.version, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": g.name, "creationTimestamp": null}, "versions": versions})
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{api_version}"),
        "metadata": {},
        "items": items,
    })
}

/// Which aggregated discovery version an `Accept` header asks for (`v2` before `v2beta1`).
pub fn aggregated_version_accepted(accept: &str) -> Option<&'static str> {
    let mut found = None;
    for entry in accept.split(',') {
        let params: Vec<&str> = entry.split(';').map(str::trim).collect();
        if !params.contains(&"g=apidiscovery.k8s.io")
            || !params.contains(&"as=APIGroupDiscoveryList")
        {
            continue;
        }
        if params.contains(&"v=v2") {
            return Some("v2");
        }
        if params.contains(&"v=v2beta1") {
            found = Some("v2beta1");
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_inference_and_aggregated_accept() {
        for release in KubeRelease::ALL {
            let inferred = release_of(&release.discovery()).unwrap();
            assert_eq!(
                inferred.discovery(),
                release.discovery(),
                "{release:?} inferred as {inferred:?}"
            );
        }
        assert_eq!(
            aggregated_version_accepted(crate::discovery::AGGREGATED_ACCEPT),
            Some("v2")
        );
        assert_eq!(
            aggregated_version_accepted(
                "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
            ),
            Some("v2beta1")
        );
        assert_eq!(aggregated_version_accepted("application/json"), None);
    }

    #[test]
    fn preferred_version_comes_first() {
        let d = KubeRelease::V1_16.discovery();
        let apps = group(&d, "apps").unwrap();
        assert_eq!(apps["versions"][0]["version"], "v1");
        let list = resource_list(&d, "apps", "v1beta2").unwrap();
        assert_eq!(list["groupVersion"], "apps/v1beta2");
        assert!(resource_list(&d, "apps", "v9").is_none());
    }
}
