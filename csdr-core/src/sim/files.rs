//! Loading a simulated cluster from YAML/JSON documents and exporting it as YAML documents.

use serde::Deserialize;
use serde_json::Value;

use super::store::SimState;
use crate::object::KubeObject;

/// One file's worth of text and the path it came from or goes to (relative to the state
/// folder, `/`-separated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimDocument {
    /// The relative path, e.g. `shop/deployments.apps/web.yaml`.
    pub path: String,
    /// The file's text.
    pub text: String,
}

/// A document that could not be loaded or exported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {reason}")]
pub struct DocumentError {
    /// The file (and document index within it) concerned.
    pub origin: String,
    /// What was wrong.
    pub reason: String,
}

/// Parses every document into objects, each with its origin (`path#index`).
pub(crate) fn parse_documents(
    documents: &[SimDocument],
) -> Result<Vec<(String, KubeObject)>, DocumentError> {
    let mut out = Vec::new();
    for doc in documents {
        let values: Vec<Value> = if doc.path.ends_with(".json") {
            let v: Value = serde_json::from_str(&doc.text).map_err(|e| DocumentError {
                origin: doc.path.clone(),
                reason: format!("malformed JSON: {e}"),
            })?;
            vec![v]
        } else {
            let mut values = Vec::new();
            for (i, de) in serde_yaml_ng::Deserializer::from_str(&doc.text).enumerate() {
                let v = Value::deserialize(de).map_err(|e| DocumentError {
                    origin: format!("{}#{}", doc.path, i + 1),
                    reason: format!("malformed YAML: {e}"),
                })?;
                values.push(v);
            }
            values
        };
        for (i, value) in values.into_iter().enumerate() {
            let origin = format!("{}#{}", doc.path, i + 1);
            if value.is_null() {
                continue; // an empty document (`---` at the end)
            }
            let items = match value.get("kind").and_then(Value::as_str) {
                Some(k) if k.ends_with("List") && value.get("items").is_some() => value
                    .get("items")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
                _ => vec![value],
            };
            for item in items {
                let obj = KubeObject::new(item).map_err(|e| DocumentError {
                    origin: origin.clone(),
                    reason: e.to_string(),
                })?;
                out.push((origin.clone(), obj));
            }
        }
    }
    Ok(out)
}

/// Every object as a YAML document at its resource's preferred version.
pub(crate) fn export(state: &SimState) -> Result<Vec<SimDocument>, DocumentError> {
    let mut docs = Vec::new();
    for (key, obj) in state.objects() {
        let (gv, plural, builtin) = state.preferred_for(key).ok_or_else(|| DocumentError {
            origin: obj.describe(),
            reason: format!("resource {} is no longer served", key.resource),
        })?;
        let obj = state
            .export_object(obj, &gv, builtin)
            .map_err(|e| DocumentError {
                origin: obj.describe(),
                reason: e.to_string(),
            })?;
        let group = if gv.group.is_empty() {
            "core"
        } else {
            gv.group.as_str()
        };
        let folder = if key.namespace.is_empty() {
            "_cluster"
        } else {
            key.namespace.as_str()
        };
        let path = format!("{folder}/{plural}.{group}/{}.yaml", key.name);
        let text = serde_yaml_ng::to_string(&obj.to_value()).map_err(|e| DocumentError {
            origin: path.clone(),
            reason: e.to_string(),
        })?;
        docs.push(SimDocument { path, text });
    }
    docs.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(docs)
}
