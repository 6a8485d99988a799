//! Existing objects (DESIGN R11): what a restore does when the object it would create is
//! already in the target cluster.
//!
//! [`existing_action`] compares the object the plan wants (`desired`, already transformed)
//! with the live one after sanitising both the same way ([`crate::transform::sanitize`]:
//! server-set metadata and `status` dropped, the pod rules applied) and ignoring the restore
//! labels (`velero.io/backup-name`, `velero.io/restore-name`).
//!
//! **How "equal" is decided.** A live object always carries fields its API server added
//! (defaults such as a Service's `clusterIP` or a container's `terminationMessagePath`) that
//! the desired object may lack — the restore even removes some on purpose. So the comparison
//! is restricted to the fields the backup holds: the live object equals the desired one when
//! every field the desired object sets has the same value in the live object (objects compared
//! key by key, recursively; arrays and scalars compared whole, arrays element by element in
//! the same way). Fields only the live object has are the server's and are left alone.
//!
//! **The patch** (policy `update`) is [`merge_patch_between`] from live to desired, restricted
//! the same way: deletions (`null`s, i.e. fields the server added) are removed, and so is any
//! replacement whose desired value the live value already holds. What is left sets exactly
//! the fields where the backup differs; applying it to the live object makes it equal to the
//! desired one by the rule above.
//!
//! ```
//! use csdr_core::model::ExistingResourcePolicy;
//! use csdr_core::object::KubeObject;
//! use csdr_core::plan::existing::{ExistingAction, existing_action};
//! use serde_json::json;
//!
//! let desired = KubeObject::new(json!({"apiVersion": "v1", "kind": "ConfigMap",
//!     "metadata": {"name": "settings", "namespace": "shop"}, "data": {"mode": "fast"}}))?;
//! let live = KubeObject::new(json!({"apiVersion": "v1", "kind": "ConfigMap",
//!     "metadata": {"name": "settings", "namespace": "shop", "uid": "42", "resourceVersion": "7"},
//!     "data": {"mode": "slow", "extra": "kept"}}))?;
//!
//! let action = existing_action(ExistingResourcePolicy::Update, &desired, &live);
//! assert_eq!(action, ExistingAction::Patch(json!({"data": {"mode": "fast"}})));
//! # Ok::<(), csdr_core::object::ObjectError>(())
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::{ExistingResourcePolicy, Issue, ObjectRef, RestoreSpec};
use crate::object::KubeObject;
use crate::patch::merge_patch_between;
use crate::transform::TransformContext;
use crate::transform::sanitize::{BACKUP_NAME_LABEL, RESTORE_NAME_LABEL, sanitize};

/// What to do with an object that already exists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ExistingAction {
    /// It carries this restore's own `velero.io/restore-name` label: this restore created it
    /// (a create retried after a lost answer meets its own first attempt). It counts as
    /// created.
    CreatedByThisRestore,
    /// It equals the backup: nothing to do, nothing to say.
    Skip,
    /// It differs and the policy is `none`: leave it, with this warning.
    SkipWithWarning(Issue),
    /// It differs and the policy is `update`: apply this merge patch to it.
    Patch(Value),
}

/// Decides what to do with `live`, the existing object, given `desired`, the object the
/// restore would create: see the [module documentation](self).
pub fn existing_action(
    policy: ExistingResourcePolicy,
    desired: &KubeObject,
    live: &KubeObject,
) -> ExistingAction {
    if let Some(restore) = desired.label(RESTORE_NAME_LABEL)
        && live.label(RESTORE_NAME_LABEL) == Some(restore)
        && live.label(BACKUP_NAME_LABEL) == desired.label(BACKUP_NAME_LABEL)
    {
        return ExistingAction::CreatedByThisRestore;
    }
    let desired_value = comparable(desired);
    let live_value = comparable(live);
    let patch = restrict(
        merge_patch_between(&live_value, &desired_value),
        &live_value,
        &desired_value,
    );
    let unchanged = patch.as_object().is_some_and(Map::is_empty);
    if unchanged {
        return ExistingAction::Skip;
    }
    match policy {
        ExistingResourcePolicy::None => ExistingAction::SkipWithWarning(Issue::about(
            ObjectRef::of(desired),
            format!(
                "{} already exists and differs from the backup",
                desired.describe()
            ),
        )),
        ExistingResourcePolicy::Update => ExistingAction::Patch(patch),
    }
}

/// An object sanitised as the restore sanitises, without the restore labels.
fn comparable(object: &KubeObject) -> Value {
    let ctx = TransformContext::new(RestoreSpec::new("", ""));
    let mut clean = match sanitize(&ctx, object.clone()) {
        Ok(t) => t.object,
        Err(_) => object.clone(),
    };
    let meta = clean.metadata_mut();
    if let Some(Value::Object(labels)) = meta.get_mut("labels") {
        labels.remove(BACKUP_NAME_LABEL);
        labels.remove(RESTORE_NAME_LABEL);
        if labels.is_empty() {
            meta.remove("labels");
        }
    }
    clean.into_value()
}

/// Whether every field `desired` sets has the same value in `live`.
fn holds(live: &Value, desired: &Value) -> bool {
    match (live, desired) {
        (Value::Object(l), Value::Object(d)) => d
            .iter()
            .all(|(k, dv)| l.get(k).is_some_and(|lv| holds(lv, dv))),
        (Value::Array(l), Value::Array(d)) => {
            l.len() == d.len() && l.iter().zip(d).all(|(lv, dv)| holds(lv, dv))
        }
        _ => live == desired,
    }
}

/// The merge patch `patch` (from `live` to `desired`) without deletions and without
/// replacements the live value already holds.
fn restrict(patch: Value, live: &Value, desired: &Value) -> Value {
    let Value::Object(entries) = patch else {
        return patch;
    };
    let mut kept = Map::new();
    for (key, value) in entries {
        let (Some(lv), Some(dv)) = (live.get(&key), desired.get(&key)) else {
            if !value.is_null() {
                kept.insert(key, value);
            }
            continue;
        };
        if value.is_null() || holds(lv, dv) {
            continue;
        }
        if lv.is_object() && dv.is_object() {
            let inner = restrict(value, lv, dv);
            if inner.as_object().is_none_or(|m| !m.is_empty()) {
                kept.insert(key, inner);
            }
        } else {
            kept.insert(key, value);
        }
    }
    Value::Object(kept)
}
