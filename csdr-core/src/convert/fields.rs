//! Small JSON helpers the migrations share. They never panic: a field of an unexpected type
//! is left alone (the API server will name it) unless the caller decides to report it.

use serde_json::{Map, Value};

use super::ConvertError;
use crate::object::KubeObject;

/// The object at `key` in `map`, if it is a JSON object.
pub(super) fn object_mut<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    map.get_mut(key).and_then(Value::as_object_mut)
}

/// The object at `key`, created when missing or null; `None` if it holds something else.
pub(super) fn object_entry<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    if is_absent(map.get(key)) {
        map.insert(key.to_string(), Value::Object(Map::new()));
    }
    object_mut(map, key)
}

/// `spec` of an object, if it is a JSON object.
pub(super) fn spec_mut(obj: &mut KubeObject) -> Option<&mut Map<String, Value>> {
    object_mut(obj.fields_mut(), "spec")
}

/// Whether a field is missing or null (the API server treats both as unset).
pub(super) fn is_absent(value: Option<&Value>) -> bool {
    matches!(value, None | Some(Value::Null))
}

/// Sets `key` to `value` when it is missing or null.
pub(super) fn default_field(map: &mut Map<String, Value>, key: &str, value: Value) {
    if is_absent(map.get(key)) {
        map.insert(key.to_string(), value);
    }
}

/// Moves `from` to `to` when `from` is set and `to` is not; a null `from` is removed.
pub(super) fn rename_field(map: &mut Map<String, Value>, from: &str, to: &str) {
    match map.get(from) {
        None => {}
        Some(Value::Null) => {
            map.remove(from);
        }
        Some(_) => {
            if is_absent(map.get(to))
                && let Some(v) = map.remove(from)
            {
                map.insert(to.to_string(), v);
            }
        }
    }
}

/// The items of the array at `key` that are objects.
pub(super) fn objects_in<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> impl Iterator<Item = &'a mut Map<String, Value>> {
    map.get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

/// `metadata.annotations`, created when missing; `None` if it holds something else.
pub(super) fn annotations_mut(obj: &mut KubeObject) -> Option<&mut Map<String, Value>> {
    object_entry(obj.metadata_mut(), "annotations")
}

/// Removes an annotation, dropping an emptied `annotations` map.
pub(super) fn take_annotation(obj: &mut KubeObject, key: &str) -> Option<Value> {
    let meta = obj.metadata_mut();
    let annotations = object_mut(meta, "annotations")?;
    let value = annotations.remove(key)?;
    if annotations.is_empty() {
        meta.remove("annotations");
    }
    Some(value)
}

/// Sets an annotation (when `metadata.annotations` is an object or absent).
pub(super) fn set_annotation(obj: &mut KubeObject, key: &str, value: String) {
    if let Some(a) = annotations_mut(obj) {
        a.insert(key.to_string(), Value::String(value));
    }
}

/// A [`ConvertError::Field`] for `obj`.
pub(super) fn field_error(
    obj: &KubeObject,
    migration: &str,
    field: &str,
    reason: impl Into<String>,
) -> ConvertError {
    ConvertError::Field {
        object: obj.describe(),
        migration: migration.to_string(),
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// Whether a label selector is empty (`{}`, or only empty `matchLabels`/`matchExpressions`),
/// the way the API server's semantic equality sees it.
pub(super) fn is_empty_selector(selector: &Map<String, Value>) -> bool {
    selector.iter().all(|(k, v)| match (k.as_str(), v) {
        (_, Value::Null) => true,
        ("matchLabels", Value::Object(m)) => m.is_empty(),
        ("matchExpressions", Value::Array(a)) => a.is_empty(),
        _ => false,
    })
}

/// Identity: for migrations that only rename the group or version.
pub(super) fn keep(obj: KubeObject) -> Result<KubeObject, ConvertError> {
    Ok(obj)
}
