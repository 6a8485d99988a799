//! The `scale` and `status` subresources: the `Scale` object a scalable resource answers, and
//! the discovery entries (`deployments/scale`, `deployments/status`, …) a real API server lists.
//!
//! `Scale` is `autoscaling/v1` except for the groups that had their own (`extensions/v1beta1`,
//! `apps/v1beta1`, `apps/v1beta2`), where `status.selector` is a map of labels and
//! `status.targetSelector` the string form, as upstream.

use csdr_core::object::{GroupVersionResource, KubeObject};
use csdr_core::sim::{ScalePaths, SimCluster};
use serde_json::{Value, json};

use super::status::Status;

/// The apiVersion of the `Scale` a resource version answers.
pub(crate) fn scale_api_version(gvr: &GroupVersionResource) -> String {
    match (gvr.group.as_str(), gvr.version.as_str()) {
        ("extensions", "v1beta1") | ("apps", "v1beta1") | ("apps", "v1beta2") => {
            format!("{}/{}", gvr.group, gvr.version)
        }
        _ => "autoscaling/v1".into(),
    }
}

/// A label selector (`LabelSelector` or a plain map of labels) as a selector string.
pub(crate) fn selector_string(selector: &Value) -> String {
    let Some(map) = selector.as_object() else {
        return selector.as_str().unwrap_or("").to_string();
    };
    let labels = match map.get("matchLabels") {
        Some(Value::Object(m)) => Some(m),
        Some(_) => None,
        None if !map.contains_key("matchExpressions") => Some(map),
        None => None,
    };
    let mut terms: Vec<String> = labels
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    for expr in map
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = expr.get("key").and_then(Value::as_str).unwrap_or("");
        let values: Vec<&str> = expr
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        terms.push(match expr.get("operator").and_then(Value::as_str) {
            Some("In") => format!("{key} in ({})", values.join(",")),
            Some("NotIn") => format!("{key} notin ({})", values.join(",")),
            Some("DoesNotExist") => format!("!{key}"),
            _ => key.to_string(),
        });
    }
    terms.join(",")
}

/// The `Scale` of an object.
pub(crate) fn scale_of(obj: &KubeObject, gvr: &GroupVersionResource, paths: &ScalePaths) -> Value {
    let meta = obj.metadata().cloned().unwrap_or_default();
    let mut metadata = serde_json::Map::new();
    for k in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = meta.get(k) {
            metadata.insert(k.into(), v.clone());
        }
    }
    let api_version = scale_api_version(gvr);
    let spec_replicas = obj
        .pointer(&paths.spec_replicas)
        .cloned()
        .unwrap_or(json!(0));
    let status_replicas = obj
        .pointer(&paths.status_replicas)
        .cloned()
        .unwrap_or(json!(0));
    let selector = paths
        .label_selector
        .as_deref()
        .and_then(|p| obj.pointer(p))
        .cloned();
    let mut status = json!({"replicas": status_replicas});
    if let Some(sel) = selector {
        let text = selector_string(&sel);
        if api_version == "autoscaling/v1" {
            status["selector"] = json!(text);
        } else {
            status["selector"] = sel
                .get("matchLabels")
                .cloned()
                .unwrap_or_else(|| sel.clone());
            status["targetSelector"] = json!(text);
        }
    }
    json!({
        "kind": "Scale",
        "apiVersion": api_version,
        "metadata": metadata,
        "spec": {"replicas": spec_replicas},
        "status": status,
    })
}

/// The desired replicas a `Scale` asks for.
pub(crate) fn requested_replicas(scale: &Value) -> Result<i64, Status> {
    match scale.pointer("/spec/replicas") {
        None | Some(Value::Null) => Ok(0),
        Some(v) => match v.as_i64() {
            Some(n) if n >= 0 => Ok(n),
            _ => Err(Status::new(
                422,
                "Invalid",
                format!(
                    "Scale.autoscaling {:?} is invalid: spec.replicas: Invalid value: {v}: must be greater than or equal to 0",
                    scale
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                ),
            )),
        },
    }
}

fn entries(
    sim: &SimCluster,
    group: &str,
    version: &str,
    plural: &str,
    kind: &str,
) -> Vec<(String, Value, String)> {
    let gvr = GroupVersionResource::new(group, version, plural);
    sim.subresources(&gvr)
        .into_iter()
        .map(|sub| {
            let response = if sub == "scale" {
                let av = scale_api_version(&gvr);
                let (g, v) = av.split_once('/').unwrap_or(("", av.as_str()));
                json!({"group": g, "version": v, "kind": "Scale"})
            } else {
                json!({"group": group, "version": version, "kind": kind})
            };
            (sub.to_string(), response, plural.to_string())
        })
        .collect()
}

/// Adds the subresource entries to an `APIResourceList` (`/api/v1`, `/apis/<g>/<v>`).
pub(crate) fn add_to_resource_list(sim: &SimCluster, group: &str, version: &str, doc: &mut Value) {
    let Some(resources) = doc.get_mut("resources").and_then(Value::as_array_mut) else {
        return;
    };
    let mut added = Vec::new();
    for r in resources.iter() {
        let plural = r.get("name").and_then(Value::as_str).unwrap_or("");
        let kind = r.get("kind").and_then(Value::as_str).unwrap_or("");
        let namespaced = r.get("namespaced").cloned().unwrap_or(json!(false));
        for (sub, response, plural) in entries(sim, group, version, plural, kind) {
            let mut entry = json!({
                "name": format!("{plural}/{sub}"),
                "singularName": "",
                "namespaced": namespaced,
                "kind": response["kind"],
                "verbs": ["get", "patch", "update"],
            });
            if sub == "scale" {
                entry["group"] = response["group"].clone();
                entry["version"] = response["version"].clone();
            }
            added.push(entry);
        }
    }
    resources.extend(added);
}

/// Adds `subresources` to each resource of an aggregated discovery document.
pub(crate) fn add_to_aggregated(sim: &SimCluster, doc: &mut Value) {
    let Some(groups) = doc.get_mut("items").and_then(Value::as_array_mut) else {
        return;
    };
    for g in groups {
        let group = g
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        for v in g
            .get_mut("versions")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let version = v
                .get("version")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            for r in v
                .get_mut("resources")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                let plural = r
                    .get("resource")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let kind = r
                    .pointer("/responseKind/kind")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let subs: Vec<Value> = entries(sim, &group, &version, &plural, &kind)
                    .into_iter()
                    .map(|(sub, response, _)| {
                        json!({"subresource": sub, "responseKind": response,
                            "verbs": ["get", "patch", "update"]})
                    })
                    .collect();
                if !subs.is_empty()
                    && let Some(map) = r.as_object_mut()
                {
                    map.insert("subresources".into(), Value::Array(subs));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_print_as_the_api_server_prints_them() {
        assert_eq!(
            selector_string(&json!({"matchLabels": {"app": "web"}})),
            "app=web"
        );
        assert_eq!(
            selector_string(&json!({"app": "web", "tier": "x"})),
            "app=web,tier=x"
        );
        assert_eq!(
            selector_string(&json!({"matchExpressions": [
                {"key": "env", "operator": "In", "values": ["a", "b"]},
                {"key": "gone", "operator": "DoesNotExist"}]})),
            "env in (a,b),!gone"
        );
    }
}
