//! Field managers: `metadata.managedFields` kept on writes that name a manager, and
//! server-side apply (merge, conflicts, `force`, removal of fields a manager stops applying).

use jiff::Timestamp;
use serde_json::{Value, json};

use super::fields::{self, FieldSet, Path};
use super::options::{ApplyOptions, Subresource, WriteOptions};
use super::store::SimState;
use crate::object::{GroupVersionResource, KubeObject};
use crate::ports::cluster::ClusterError;

/// One `managedFields` entry.
#[derive(Clone, Debug)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: String,
    subresource: Option<String>,
    fields: FieldSet,
}

impl Entry {
    fn same_identity(&self, other: &Entry) -> bool {
        self.manager == other.manager
            && self.operation == other.operation
            && self.subresource == other.subresource
    }
}

fn parse_entries(value: Option<&Value>) -> Vec<Entry> {
    let Some(items) = value.and_then(Value::as_array) else {
        return Vec::new();
    };
    items
        .iter()
        .map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            Entry {
                manager: s("manager"),
                operation: s("operation"),
                api_version: s("apiVersion"),
                time: s("time"),
                subresource: e
                    .get("subresource")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                fields: e
                    .get("fieldsV1")
                    .map(fields::from_fields_v1)
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// The `managedFields` of an object `manager` creates: the fields it sets, the status left out
/// when it is a subresource (`skip_status`). An object without status needs no state to
/// compute it, so the simulator does that before it locks its store.
pub(super) fn create_entry(
    manager: &str,
    gvr: &GroupVersionResource,
    now: Timestamp,
    object: &KubeObject,
    skip_status: bool,
) -> Value {
    render(&[Entry {
        manager: manager.to_string(),
        operation: "Update".into(),
        api_version: gvr.group_version().api_version(),
        time: now.to_string(),
        subresource: None,
        fields: fields::map_fields(object.fields(), false, skip_status),
    }])
}

fn render(entries: &[Entry]) -> Value {
    Value::Array(
        entries
            .iter()
            .filter(|e| !e.fields.is_empty())
            .map(|e| {
                let mut v = json!({
                    "manager": e.manager,
                    "operation": e.operation,
                    "apiVersion": e.api_version,
                    "time": e.time,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": fields::to_fields_v1(&e.fields),
                });
                if let (Some(sub), Some(map)) = (&e.subresource, v.as_object_mut()) {
                    map.insert("subresource".into(), json!(sub));
                }
                v
            })
            .collect(),
    )
}

/// Paths of `set` that no other path of `set` extends (fields, not list elements).
fn leaves(set: &FieldSet) -> Vec<&Path> {
    set.iter()
        .filter(|p| {
            !set.range((*p).clone()..)
                .nth(1)
                .is_some_and(|next| next.starts_with(p))
        })
        .collect()
}

/// The value written: only `status` for a status write, no `status` for a main write of a
/// type with a status subresource.
fn written_part(value: &Value, status_only: bool, skip_status: bool) -> Value {
    let mut v = value.clone();
    if let Some(map) = v.as_object_mut() {
        if status_only {
            map.retain(|k, _| matches!(k.as_str(), "status" | "metadata" | "apiVersion" | "kind"));
            if let Some(Value::Object(meta)) = map.get_mut("metadata") {
                meta.retain(|k, _| matches!(k.as_str(), "name" | "namespace" | "resourceVersion"));
            }
        } else if skip_status {
            map.remove("status");
        }
        if let Some(Value::Object(meta)) = map.get_mut("metadata") {
            for k in ["managedFields", "uid", "creationTimestamp", "generation"] {
                meta.remove(k);
            }
        }
    }
    v
}

fn conflict_message(conflicts: &[(String, String, String)]) -> String {
    let count = conflicts.len();
    if let [(manager, api_version, path)] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {manager:?} using {api_version}: {path}"
        );
    }
    let mut managers: Vec<(&str, &str)> = conflicts
        .iter()
        .map(|(m, v, _)| (m.as_str(), v.as_str()))
        .collect();
    managers.dedup();
    let groups: Vec<String> = managers
        .iter()
        .map(|(m, v)| {
            let paths: Vec<String> = conflicts
                .iter()
                .filter(|(cm, cv, _)| cm == m && cv == v)
                .map(|(_, _, p)| format!("- {p}"))
                .collect();
            format!("conflicts with {m:?} using {v}:\n{}", paths.join("\n"))
        })
        .collect();
    format!("Apply failed with {count} conflicts: {}", groups.join("\n"))
}

impl SimState {
    fn split(
        &self,
        gvr: &GroupVersionResource,
        part: Subresource,
    ) -> Result<(bool, bool), ClusterError> {
        let r = self.resolve(gvr)?;
        let status_only = part == Subresource::Status;
        Ok((
            status_only,
            !status_only && self.has_status_subresource(&r, &gvr.version),
        ))
    }

    /// A create recording `manager` (operation `Update`) as owner of the fields it sets;
    /// `managed` is those fields when the caller computed them ([`create_entry`]).
    pub fn create_managed(
        &mut self,
        gvr: &GroupVersionResource,
        object: KubeObject,
        now: Timestamp,
        manager: Option<&str>,
        managed: Option<Value>,
    ) -> Result<KubeObject, ClusterError> {
        let managed = match (managed, manager) {
            (Some(managed), _) => Some(managed),
            (None, Some(m)) => {
                let (_, skip_status) = self.split(gvr, Subresource::Main)?;
                Some(create_entry(m, gvr, now, &object, skip_status))
            }
            (None, None) => None,
        };
        self.insert(gvr, object, now, true, managed)
    }

    /// An update (or patch) recording its field manager as owner of the fields it changed,
    /// which other managers lose.
    pub fn update_managed(
        &mut self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
        now: Timestamp,
        options: &WriteOptions,
    ) -> Result<KubeObject, ClusterError> {
        let part = options.subresource;
        let (Some(manager), Some(current)) = (
            options.field_manager.as_deref(),
            self.get(gvr, object.namespace(), object.name())?,
        ) else {
            return self.update_part(gvr, object, now, part);
        };
        let (status_only, skip_status) = self.split(gvr, part)?;
        let old = current.to_value();
        let new = object.to_value();
        let old_set = fields::object_fields(&old, status_only, skip_status);
        let new_set = fields::object_fields(&new, status_only, skip_status);
        let changed: FieldSet = new_set
            .iter()
            .filter(|p| fields::value_at(&new, p) != fields::value_at(&old, p))
            .cloned()
            .collect();
        let removed: FieldSet = old_set.difference(&new_set).cloned().collect();
        let stored_managed = current.metadata().and_then(|m| m.get("managedFields"));
        let sent_managed = object.metadata().and_then(|m| m.get("managedFields"));
        let mut entries = match sent_managed {
            Some(sent) if Some(sent) != stored_managed => parse_entries(Some(sent)),
            _ => parse_entries(stored_managed),
        };
        for e in &mut entries {
            e.fields
                .retain(|p| !changed.contains(p) && !removed.contains(p));
        }
        let me = Entry {
            manager: manager.to_string(),
            operation: "Update".into(),
            api_version: gvr.group_version().api_version(),
            time: now.to_string(),
            subresource: status_only.then(|| "status".to_string()),
            fields: FieldSet::new(),
        };
        let index = match entries.iter().position(|e| e.same_identity(&me)) {
            Some(i) => i,
            None => {
                entries.push(me.clone());
                entries.len() - 1
            }
        };
        if !changed.is_empty() {
            entries[index].time = me.time.clone();
            entries[index].api_version = me.api_version.clone();
        }
        entries[index].fields.extend(changed);
        let mut obj = object.clone();
        obj.metadata_mut()
            .insert("managedFields".into(), render(&entries));
        self.update_part(gvr, &obj, now, part)
    }

    /// Server-side apply (see `SimCluster::apply`).
    pub fn apply(
        &mut self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
        now: Timestamp,
        options: &ApplyOptions,
    ) -> Result<(KubeObject, bool), ClusterError> {
        let part = options.subresource;
        let (status_only, skip_status) = self.split(gvr, part)?;
        let applied = written_part(&object.to_value(), status_only, skip_status);
        let applied_set = fields::object_fields(&applied, status_only, skip_status);
        let me = Entry {
            manager: options.field_manager.clone(),
            operation: "Apply".into(),
            api_version: gvr.group_version().api_version(),
            time: now.to_string(),
            subresource: status_only.then(|| "status".to_string()),
            fields: applied_set.clone(),
        };
        let what = self.describe(gvr, object.namespace(), object.name());
        let Some(current) = self.get(gvr, object.namespace(), object.name())? else {
            if status_only {
                return Err(ClusterError::NotFound { what });
            }
            let created = self.insert(gvr, object.clone(), now, true, Some(render(&[me])))?;
            return Ok((created, true));
        };
        let live = current.to_value();
        let mut entries = parse_entries(current.metadata().and_then(|m| m.get("managedFields")));
        let mut conflicts: Vec<(String, String, String)> = Vec::new();
        let mut taken: Vec<(usize, Path)> = Vec::new();
        for path in leaves(&applied_set) {
            if fields::value_at(&applied, path) == fields::value_at(&live, path) {
                continue;
            }
            for (i, e) in entries.iter().enumerate() {
                if !e.same_identity(&me) && e.fields.contains(path) {
                    conflicts.push((
                        e.manager.clone(),
                        e.api_version.clone(),
                        fields::display(path),
                    ));
                    taken.push((i, path.clone()));
                }
            }
        }
        if !conflicts.is_empty() && !options.force {
            return Err(ClusterError::Conflict {
                what,
                reason: conflict_message(&conflicts),
            });
        }
        for (i, path) in taken {
            entries[i].fields.remove(&path);
        }
        let mut merged = live.clone();
        fields::merge(&mut merged, &applied, "");
        let previous = entries
            .iter()
            .find(|e| e.same_identity(&me))
            .map(|e| e.fields.clone())
            .unwrap_or_default();
        for path in previous.difference(&applied_set) {
            let owned_elsewhere = entries
                .iter()
                .any(|e| !e.same_identity(&me) && e.fields.iter().any(|f| f.starts_with(path)));
            if !owned_elsewhere {
                fields::remove_at(&mut merged, path);
            }
        }
        entries.retain(|e| !e.same_identity(&me));
        entries.push(me);
        if let Some(meta) = merged.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("managedFields".into(), render(&entries));
        }
        let obj = KubeObject::new(merged).map_err(|e| ClusterError::Invalid {
            what,
            reason: e.to_string(),
        })?;
        let updated = self.update_part(gvr, &obj, now, part)?;
        Ok((updated, false))
    }
}
