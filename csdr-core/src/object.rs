//! Kubernetes objects as JSON, and the names that identify their types.
//!
//! csdr handles every resource, built-in or custom, as a [`KubeObject`]: a JSON object that is
//! known to carry `apiVersion`, `kind` and `metadata.name`. Nothing is filtered through typed
//! structs, so fields the engine does not know about survive a backup and a restore unchanged.
//!
//! ```
//! use csdr_core::object::{GroupVersion, KubeObject};
//! use serde_json::json;
//!
//! let deploy = KubeObject::new(json!({
//!     "apiVersion": "apps/v1",
//!     "kind": "Deployment",
//!     "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
//! }))?;
//! assert_eq!(deploy.group_version(), GroupVersion::new("apps", "v1"));
//! assert_eq!(deploy.namespace(), Some("shop"));
//! assert_eq!(deploy.label("app"), Some("web"));
//! # Ok::<(), csdr_core::object::ObjectError>(())
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Why a JSON value is not a usable Kubernetes object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Kubernetes object{}: {reason}", describe_origin(.origin))]
pub struct ObjectError {
    /// `kind namespace/name` or whatever could be read of the object, if anything.
    pub origin: Option<String>,
    /// What is missing or malformed, naming the field.
    pub reason: String,
}

fn describe_origin(origin: &Option<String>) -> String {
    origin.as_ref().map(|o| format!(" {o}")).unwrap_or_default()
}

/// A Kubernetes object held as JSON: `apiVersion`, `kind` and `metadata.name` are guaranteed
/// to be strings by [`KubeObject::new`]; everything else is kept as it came.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "Value")]
pub struct KubeObject(Map<String, Value>);

/// Serialized as its JSON object, in place: serde's `into = "Value"` would copy the whole
/// object first, on every archive entry, spool record and request body.
impl Serialize for KubeObject {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl KubeObject {
    /// Wraps a JSON value, checking that it is an object with a string `apiVersion`, a string
    /// `kind` and a non-empty string `metadata.name`.
    pub fn new(value: Value) -> Result<Self, ObjectError> {
        let Value::Object(map) = value else {
            return Err(ObjectError {
                origin: None,
                reason: "expected a JSON object".into(),
            });
        };
        let origin = || {
            let kind = map.get("kind").and_then(Value::as_str).unwrap_or("?");
            let meta = map.get("metadata");
            let name = meta
                .and_then(|m| m.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("?");
            match meta
                .and_then(|m| m.get("namespace"))
                .and_then(Value::as_str)
            {
                Some(ns) => Some(format!("{kind} {ns}/{name}")),
                None => Some(format!("{kind} {name}")),
            }
        };
        let fail = |reason: &str| ObjectError {
            origin: origin(),
            reason: reason.to_string(),
        };
        match map.get("apiVersion") {
            Some(Value::String(s)) if !s.is_empty() => {}
            _ => return Err(fail("field apiVersion must be a non-empty string")),
        }
        match map.get("kind") {
            Some(Value::String(s)) if !s.is_empty() => {}
            _ => return Err(fail("field kind must be a non-empty string")),
        }
        let Some(Value::Object(meta)) = map.get("metadata") else {
            return Err(fail("field metadata must be an object"));
        };
        match meta.get("name") {
            Some(Value::String(s)) if !s.is_empty() => {}
            _ => return Err(fail("field metadata.name must be a non-empty string")),
        }
        match meta.get("namespace") {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            _ => return Err(fail("field metadata.namespace must be a string")),
        }
        Ok(KubeObject(map))
    }

    /// Parses an object from JSON text.
    pub fn from_json(text: &str) -> Result<Self, ObjectError> {
        let value: Value = serde_json::from_str(text).map_err(|e| ObjectError {
            origin: None,
            reason: format!("malformed JSON: {e}"),
        })?;
        Self::new(value)
    }

    /// The raw `apiVersion`, e.g. `apps/v1` or `v1`.
    pub fn api_version(&self) -> &str {
        self.0
            .field("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// The API group of `apiVersion`: `apps` for `apps/v1`, empty for the core group (`v1`).
    /// [`KubeObject::group_version`] without allocating.
    pub fn api_group(&self) -> &str {
        self.api_version()
            .split_once('/')
            .map_or("", |(group, _)| group)
    }

    /// The `apiVersion` split into group and version.
    pub fn group_version(&self) -> GroupVersion {
        GroupVersion::parse(self.api_version())
    }

    /// The `kind`, e.g. `Deployment`.
    pub fn kind(&self) -> &str {
        self.0.field("kind").and_then(Value::as_str).unwrap_or("")
    }

    /// Group, version and kind together.
    pub fn gvk(&self) -> GroupVersionKind {
        let gv = self.group_version();
        GroupVersionKind::new(gv.group, gv.version, self.kind())
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.metadata_str("name").unwrap_or("")
    }

    /// `metadata.namespace`, if set and not empty.
    pub fn namespace(&self) -> Option<&str> {
        self.metadata_str("namespace").filter(|s| !s.is_empty())
    }

    /// The `metadata` object.
    pub fn metadata(&self) -> Option<&Map<String, Value>> {
        self.0.field("metadata").and_then(Value::as_object)
    }

    /// The `metadata` object, created if it is missing.
    pub fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        object_field_mut(&mut self.0, "metadata")
    }

    fn metadata_str(&self, key: &str) -> Option<&str> {
        self.metadata()
            .and_then(|m| m.field(key))
            .and_then(Value::as_str)
    }

    /// `metadata.labels` as a JSON map, if present.
    pub fn labels(&self) -> Option<&Map<String, Value>> {
        self.metadata()
            .and_then(|m| m.field("labels"))
            .and_then(Value::as_object)
    }

    /// One label's value.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels()
            .and_then(|l| l.field(key))
            .and_then(Value::as_str)
    }

    /// `metadata.annotations` as a JSON map, if present.
    pub fn annotations(&self) -> Option<&Map<String, Value>> {
        self.metadata()
            .and_then(|m| m.field("annotations"))
            .and_then(Value::as_object)
    }

    /// One annotation's value.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations()
            .and_then(|a| a.field(key))
            .and_then(Value::as_str)
    }

    /// Where this object keeps its pod spec: `/spec` for a Pod, the pod template's spec for a
    /// workload (Deployment, ReplicaSet, ReplicationController, StatefulSet, DaemonSet, Job,
    /// CronJob); `None` for any other kind.
    pub fn pod_spec_pointer(&self) -> Option<&'static str> {
        match self.kind() {
            "Pod" => Some("/spec"),
            "Deployment"
            | "ReplicaSet"
            | "ReplicationController"
            | "StatefulSet"
            | "DaemonSet"
            | "Job" => Some("/spec/template/spec"),
            "CronJob" => Some("/spec/jobTemplate/spec/template/spec"),
            _ => None,
        }
    }

    /// The PersistentVolumeClaims its pod spec mounts (`volumes[].persistentVolumeClaim`),
    /// by name, in order; none for an object without a pod spec.
    ///
    /// ```
    /// use csdr_core::object::KubeObject;
    /// use serde_json::json;
    ///
    /// let cron = KubeObject::new(json!({"apiVersion": "batch/v1", "kind": "CronJob",
    ///     "metadata": {"name": "report", "namespace": "shop"},
    ///     "spec": {"jobTemplate": {"spec": {"template": {"spec": {"volumes": [
    ///         {"name": "out", "persistentVolumeClaim": {"claimName": "reports"}},
    ///         {"name": "tmp", "emptyDir": {}}]}}}}}}))?;
    /// assert_eq!(cron.mounted_claims(), ["reports"]);
    /// let map = KubeObject::new(json!({"apiVersion": "v1", "kind": "ConfigMap",
    ///     "metadata": {"name": "settings"}}))?;
    /// assert!(map.mounted_claims().is_empty());
    /// # Ok::<(), csdr_core::object::ObjectError>(())
    /// ```
    pub fn mounted_claims(&self) -> Vec<&str> {
        self.pod_spec_pointer()
            .and_then(|pointer| self.pointer(&format!("{pointer}/volumes")))
            .and_then(Value::as_array)
            .map(|volumes| {
                volumes
                    .iter()
                    .filter_map(|v| v.pointer("/persistentVolumeClaim/claimName"))
                    .filter_map(Value::as_str)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Sets a label, creating `metadata.labels` (or replacing it if it is not a JSON object)
    /// if needed. Returns whether the object changed, i.e. the label did not already have
    /// this value.
    pub fn set_label(&mut self, key: &str, value: &str) -> bool {
        // A replaced (or created) labels map lacks the key: the object changes.
        set_str_field(object_field_mut(self.metadata_mut(), "labels"), key, value)
    }

    /// Sets `metadata.namespace`. Returns whether the object changed, i.e. the namespace was
    /// not already this string.
    pub fn set_namespace(&mut self, namespace: &str) -> bool {
        set_str_field(self.metadata_mut(), "namespace", namespace)
    }

    /// Sets `apiVersion` (and so group and version).
    pub fn set_api_version(&mut self, gv: &GroupVersion) {
        self.0
            .insert("apiVersion".into(), Value::String(gv.api_version()));
    }

    /// A short reference for messages: `Kind namespace/name` or `Kind name`.
    pub fn describe(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{} {}/{}", self.kind(), ns, self.name()),
            None => format!("{} {}", self.kind(), self.name()),
        }
    }

    /// A field by JSON pointer (`/spec/replicas`; `~1` stands for `/` and `~0` for `~` inside
    /// a key, array elements are addressed by index). Reads without allocating unless a key is
    /// escaped.
    pub fn pointer(&self, pointer: &str) -> Option<&Value> {
        if pointer.is_empty() {
            return None;
        }
        let mut tokens = pointer.trim_start_matches('/').split('/');
        let first = tokens.next()?;
        let mut value = self.0.field(unescape_pointer_token(first).as_ref())?;
        for token in tokens {
            value = match value {
                Value::Object(map) => map.field(unescape_pointer_token(token).as_ref())?,
                Value::Array(list) => list.get(parse_pointer_index(token)?)?,
                _ => return None,
            };
        }
        Some(value)
    }

    /// All top-level fields. Changing `apiVersion`, `kind` or `metadata.name` through this
    /// breaks the guarantees of [`KubeObject::new`]; accessors then return empty strings.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.0
    }

    /// All top-level fields, mutable. See [`KubeObject::fields`].
    pub fn fields_mut(&mut self) -> &mut Map<String, Value> {
        &mut self.0
    }

    /// Gives back the spare capacity of every map, array and string inside the object, so an
    /// object held for long (a restore's index and plan, R13) takes only the memory its
    /// fields need: a parsed map keeps room for up to twice its fields. The object is unchanged.
    pub fn shrink_to_fit(&mut self) {
        shrink_map(&mut self.0);
    }

    /// The object as a JSON value.
    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }

    /// A copy of the object as a JSON value.
    pub fn to_value(&self) -> Value {
        Value::Object(self.0.clone())
    }
}

/// The largest map [`Fields`] scans in order instead of hashing the key.
const SCAN_MAX: usize = 12;

/// Field lookup by key for the small JSON objects Kubernetes objects are made of.
///
/// `serde_json`'s map (an `IndexMap` with `preserve_order`) hashes the key with SipHash and
/// then compares it with the stored key; for the few entries of a typical object, metadata
/// or container it is faster to walk the entries, which the map stores contiguously, and
/// compare lengths before bytes. Larger maps are looked up by hash. The result is the same as
/// `get` / `get_mut`.
pub(crate) trait Fields {
    /// The value under `key`, if this is an object holding it.
    fn field(&self, key: &str) -> Option<&Value>;
    /// The value under `key`, mutable, if this is an object holding it.
    fn field_mut(&mut self, key: &str) -> Option<&mut Value>;
}

impl Fields for Map<String, Value> {
    fn field(&self, key: &str) -> Option<&Value> {
        if self.len() > SCAN_MAX {
            return self.get(key);
        }
        self.iter().find(|(k, _)| k.as_str() == key).map(|(_, v)| v)
    }

    fn field_mut(&mut self, key: &str) -> Option<&mut Value> {
        if self.len() > SCAN_MAX {
            return self.get_mut(key);
        }
        self.iter_mut()
            .find(|(k, _)| k.as_str() == key)
            .map(|(_, v)| v)
    }
}

impl Fields for Value {
    fn field(&self, key: &str) -> Option<&Value> {
        self.as_object().and_then(|m| m.field(key))
    }

    fn field_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.as_object_mut().and_then(|m| m.field_mut(key))
    }
}

/// Sets `map[key]` to `value`; returns whether that changed the map (the key was missing or
/// held another value). An existing key keeps its position.
pub(crate) fn set_field(map: &mut Map<String, Value>, key: &str, value: Value) -> bool {
    match map.field_mut(key) {
        Some(slot) if *slot == value => false,
        Some(slot) => {
            *slot = value;
            true
        }
        None => {
            map.insert(key.to_string(), value);
            true
        }
    }
}

/// Sets `map[key]` to the string `value`, allocating only when it changes; returns whether it
/// changed.
pub(crate) fn set_str_field(map: &mut Map<String, Value>, key: &str, value: &str) -> bool {
    match map.field_mut(key) {
        Some(Value::String(s)) if s == value => false,
        Some(slot) => {
            *slot = Value::String(value.to_string());
            true
        }
        None => {
            map.insert(key.to_string(), Value::String(value.to_string()));
            true
        }
    }
}

/// The object under `key`, created empty if missing and replacing a value of another type.
fn object_field_mut<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    if !matches!(map.field(key), Some(Value::Object(_))) {
        map.insert(key.to_string(), Value::Object(Map::new()));
    }
    match map.field_mut(key) {
        Some(Value::Object(m)) => m,
        _ => unreachable!("{key} was just made an object"),
    }
}

/// A JSON pointer token with `~1` and `~0` unescaped (RFC 6901), borrowed when it has none.
fn unescape_pointer_token(token: &str) -> std::borrow::Cow<'_, str> {
    if token.contains('~') {
        std::borrow::Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
    } else {
        std::borrow::Cow::Borrowed(token)
    }
}

/// An array index in a JSON pointer, as `serde_json` reads one: decimal, without a sign or
/// leading zeros.
fn parse_pointer_index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
        return None;
    }
    token.parse().ok()
}

impl TryFrom<Value> for KubeObject {
    type Error = ObjectError;
    fn try_from(value: Value) -> Result<Self, Self::Error> {
        KubeObject::new(value)
    }
}

/// Rebuilds `map` at exactly its length, shrinking every value inside.
fn shrink_map(map: &mut Map<String, Value>) {
    let old = std::mem::take(map);
    let mut new = Map::with_capacity(old.len());
    for (key, mut value) in old {
        shrink_value(&mut value);
        new.insert(key, value);
    }
    *map = new;
}

fn shrink_value(value: &mut Value) {
    match value {
        Value::Object(map) => shrink_map(map),
        Value::Array(items) => {
            items.iter_mut().for_each(shrink_value);
            items.shrink_to_fit();
        }
        Value::String(text) => text.shrink_to_fit(),
        _ => {}
    }
}

impl From<KubeObject> for Value {
    fn from(obj: KubeObject) -> Value {
        obj.into_value()
    }
}

/// An API group and version, e.g. `apps/v1`; the core group is the empty string (`v1`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupVersion {
    /// The API group; empty for the core group.
    pub group: String,
    /// The version, e.g. `v1beta1`.
    pub version: String,
}

impl GroupVersion {
    /// A group and a version.
    pub fn new(group: impl Into<String>, version: impl Into<String>) -> Self {
        GroupVersion {
            group: group.into(),
            version: version.into(),
        }
    }

    /// Splits an `apiVersion` string: `apps/v1` → (`apps`, `v1`), `v1` → (``, `v1`).
    pub fn parse(api_version: &str) -> Self {
        match api_version.split_once('/') {
            Some((g, v)) => GroupVersion::new(g, v),
            None => GroupVersion::new("", api_version),
        }
    }

    /// The `apiVersion` string: `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// This group and version with a kind.
    pub fn with_kind(&self, kind: impl Into<String>) -> GroupVersionKind {
        GroupVersionKind::new(self.group.clone(), self.version.clone(), kind)
    }
}

impl fmt::Display for GroupVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.api_version())
    }
}

/// Group, version and kind: the type of an object.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupVersionKind {
    /// The API group; empty for the core group.
    pub group: String,
    /// The version.
    pub version: String,
    /// The kind, e.g. `Deployment`.
    pub kind: String,
}

impl GroupVersionKind {
    /// A group, version and kind.
    pub fn new(
        group: impl Into<String>,
        version: impl Into<String>,
        kind: impl Into<String>,
    ) -> Self {
        GroupVersionKind {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
        }
    }

    /// Parses `apps/v1/Deployment` or `v1/ConfigMap` (the keys of a backup's resource list).
    pub fn parse(text: &str) -> Option<Self> {
        let (gv, kind) = text.rsplit_once('/')?;
        if kind.is_empty() || gv.is_empty() {
            return None;
        }
        let gv = GroupVersion::parse(gv);
        Some(gv.with_kind(kind))
    }

    /// The group and version.
    pub fn group_version(&self) -> GroupVersion {
        GroupVersion::new(self.group.clone(), self.version.clone())
    }
}

impl fmt::Display for GroupVersionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.group_version(), self.kind)
    }
}

/// Group, version and resource (the plural, lower-case name used in URLs).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupVersionResource {
    /// The API group; empty for the core group.
    pub group: String,
    /// The version.
    pub version: String,
    /// The plural resource name, e.g. `deployments`.
    pub resource: String,
}

impl GroupVersionResource {
    /// A group, version and resource.
    pub fn new(
        group: impl Into<String>,
        version: impl Into<String>,
        resource: impl Into<String>,
    ) -> Self {
        GroupVersionResource {
            group: group.into(),
            version: version.into(),
            resource: resource.into(),
        }
    }

    /// The group and version.
    pub fn group_version(&self) -> GroupVersion {
        GroupVersion::new(self.group.clone(), self.version.clone())
    }

    /// `resource.group`, or just `resource` for the core group (Velero's directory name).
    pub fn group_resource(&self) -> String {
        group_resource(&self.resource, &self.group)
    }
}

impl fmt::Display for GroupVersionResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.group_version(), self.resource)
    }
}

/// The strings of a JSON array (non-strings skipped); empty when the value is not an array.
pub fn string_list(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `resource.group`, or `resource` alone for the core group.
pub fn group_resource(resource: &str, group: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shrinking_keeps_every_field_and_its_order() {
        let text = r#"{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a","namespace":"n","labels":{"z":"1","a":"2"}},"data":{"k":"v"},"list":[{"b":1,"a":[true,null,2.5]}]}"#;
        let mut object = KubeObject::new(serde_json::from_str(text).unwrap()).unwrap();
        let before = object.clone();
        object.shrink_to_fit();
        assert_eq!(object, before);
        assert_eq!(serde_json::to_string(&object).unwrap(), text);
    }

    #[test]
    fn rejects_objects_without_identity() {
        let err = KubeObject::new(json!({"kind": "Pod", "metadata": {"name": "a"}})).unwrap_err();
        assert!(err.to_string().contains("apiVersion"), "{err}");
        let err = KubeObject::new(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {}}))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid Kubernetes object Pod ?: field metadata.name must be a non-empty string"
        );
        assert!(KubeObject::new(json!([1, 2])).is_err());
        assert!(KubeObject::from_json("{not json").is_err());
    }

    #[test]
    fn group_version_parsing() {
        assert_eq!(GroupVersion::parse("v1"), GroupVersion::new("", "v1"));
        assert_eq!(
            GroupVersion::parse("networking.k8s.io/v1beta1"),
            GroupVersion::new("networking.k8s.io", "v1beta1")
        );
        assert_eq!(GroupVersion::new("", "v1").to_string(), "v1");
        assert_eq!(
            GroupVersionKind::parse("apps/v1/Deployment"),
            Some(GroupVersionKind::new("apps", "v1", "Deployment"))
        );
        assert_eq!(
            GroupVersionKind::parse("v1/ConfigMap"),
            Some(GroupVersionKind::new("", "v1", "ConfigMap"))
        );
        assert_eq!(group_resource("pods", ""), "pods");
        assert_eq!(group_resource("deployments", "apps"), "deployments.apps");
    }

    #[test]
    fn serde_round_trip_keeps_unknown_fields() {
        let v = json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w"}, "spec": {"x": [1, 2, {"y": null}]}});
        let obj: KubeObject = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&obj).unwrap(), v);
        assert_eq!(obj.pointer("/spec/x/0"), Some(&json!(1)));
        // The text keeps the fields' order, byte for byte as the JSON value writes it.
        assert_eq!(
            serde_json::to_string(&obj).unwrap(),
            serde_json::to_string(&v).unwrap()
        );
        assert!(
            serde_json::to_string(&obj)
                .unwrap()
                .starts_with("{\"apiVersion\"")
        );
    }

    #[test]
    fn mutators() {
        let mut obj = KubeObject::new(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "labels": "broken"}}))
        .unwrap();
        obj.set_label("a", "b");
        obj.set_namespace("ns");
        obj.set_api_version(&GroupVersion::new("", "v2"));
        assert_eq!(obj.label("a"), Some("b"));
        assert_eq!(obj.describe(), "ConfigMap ns/c");
        assert_eq!(obj.api_version(), "v2");
    }
}
