//! CronJob: `batch/v1beta1` and `batch/v2alpha1` ⇄ `batch/v1`.
//!
//! Sources:
//! - Deprecation guide, "CronJob" (v1.25): `batch/v1beta1` → `batch/v1`, no notable changes.
//! - `pkg/apis/batch/v1beta1/defaults.go` and `pkg/apis/batch/v1/defaults.go`: the same
//!   defaults (`concurrencyPolicy` Allow, `suspend` false, `successfulJobsHistoryLimit` 3,
//!   `failedJobsHistoryLimit` 1), so `batch/v1beta1` ⇄ `batch/v1` is a rename.
//! - `pkg/apis/batch/v2alpha1/defaults.go`: only `concurrencyPolicy` and `suspend` are
//!   defaulted; unset history limits mean "keep every finished Job". Upgrading from
//!   `batch/v2alpha1` therefore writes `2147483647` (`math.MaxInt32`) for an unset limit so the
//!   restored CronJob keeps its history as before; downgrading to it writes the v1 defaults
//!   (3 and 1).
//!
//! ```
//! use csdr_core::convert::convert;
//! use csdr_core::object::{GroupVersion, KubeObject};
//! use serde_json::json;
//!
//! let old = KubeObject::new(json!({"apiVersion": "batch/v1beta1", "kind": "CronJob",
//!     "metadata": {"name": "hello"}, "spec": {"schedule": "*/1 * * * *"}}))?;
//! let new = convert(old, &GroupVersion::new("batch", "v1"))?;
//! assert_eq!(new.api_version(), "batch/v1");
//! assert_eq!(new.pointer("/spec/schedule"), Some(&json!("*/1 * * * *")));
//! # Ok::<(), csdr_core::Error>(())
//! ```

use serde_json::json;

use super::fields::{default_field, spec_mut};
use super::{ConvertError, Migration, fields::keep};
use crate::object::KubeObject;

pub(super) fn migrations() -> Vec<Migration> {
    vec![
        Migration::new(
            "cronjob-batch-v1beta1-to-batch-v1",
            "batch/v1beta1",
            "batch/v1",
            "CronJob",
            keep,
        ),
        Migration::new(
            "cronjob-batch-v1-to-batch-v1beta1",
            "batch/v1",
            "batch/v1beta1",
            "CronJob",
            keep,
        ),
        Migration::new(
            "cronjob-batch-v2alpha1-to-batch-v1",
            "batch/v2alpha1",
            "batch/v1",
            "CronJob",
            from_v2alpha1,
        ),
        Migration::new(
            "cronjob-batch-v1-to-batch-v2alpha1",
            "batch/v1",
            "batch/v2alpha1",
            "CronJob",
            to_v2alpha1,
        ),
    ]
}

fn history_limits(mut obj: KubeObject, successful: i64, failed: i64) -> KubeObject {
    if let Some(spec) = spec_mut(&mut obj) {
        default_field(spec, "successfulJobsHistoryLimit", json!(successful));
        default_field(spec, "failedJobsHistoryLimit", json!(failed));
    }
    obj
}

fn from_v2alpha1(obj: KubeObject) -> Result<KubeObject, ConvertError> {
    Ok(history_limits(obj, 2_147_483_647, 2_147_483_647))
}

fn to_v2alpha1(obj: KubeObject) -> Result<KubeObject, ConvertError> {
    Ok(history_limits(obj, 3, 1))
}

#[cfg(test)]
mod tests {
    use super::super::convert;
    use crate::object::{GroupVersion, KubeObject};
    use serde_json::{Value, json};

    /// The `hello` CronJob of the Kubernetes documentation.
    fn hello(api_version: &str) -> Value {
        json!({
            "apiVersion": api_version,
            "kind": "CronJob",
            "metadata": {"name": "hello", "namespace": "jobs"},
            "spec": {
                "schedule": "* * * * *",
                "jobTemplate": {"spec": {"template": {"spec": {
                    "containers": [{"name": "hello", "image": "busybox:1.28", "imagePullPolicy": "IfNotPresent",
                        "command": ["/bin/sh", "-c", "date; echo Hello from the Kubernetes cluster"]}],
                    "restartPolicy": "OnFailure"}}}}
            }
        })
    }

    #[test]
    fn v1beta1_to_v1_and_back_is_a_rename() {
        let before = KubeObject::new(hello("batch/v1beta1")).unwrap();
        let v1 = convert(before.clone(), &GroupVersion::new("batch", "v1")).unwrap();
        assert_eq!(v1.to_value(), hello("batch/v1"));
        let back = convert(v1, &GroupVersion::new("batch", "v1beta1")).unwrap();
        assert_eq!(back, before);
    }

    #[test]
    fn v2alpha1_to_v1_keeps_unlimited_history() {
        let mut before = hello("batch/v2alpha1");
        before["spec"]["failedJobsHistoryLimit"] = json!(5);
        let v1 = convert(
            KubeObject::new(before).unwrap(),
            &GroupVersion::new("batch", "v1"),
        )
        .unwrap();
        let mut expected = hello("batch/v1");
        expected["spec"]["failedJobsHistoryLimit"] = json!(5);
        expected["spec"]["successfulJobsHistoryLimit"] = json!(2147483647);
        assert_eq!(v1.to_value(), expected);
    }

    #[test]
    fn v1_to_v2alpha1_writes_v1_defaults() {
        let v1 = KubeObject::new(hello("batch/v1")).unwrap();
        let alpha = convert(v1, &GroupVersion::new("batch", "v2alpha1")).unwrap();
        let mut expected = hello("batch/v2alpha1");
        expected["spec"]["successfulJobsHistoryLimit"] = json!(3);
        expected["spec"]["failedJobsHistoryLimit"] = json!(1);
        assert_eq!(alpha.to_value(), expected);
    }
}
