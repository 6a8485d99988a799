//! HorizontalPodAutoscaler: `autoscaling/v1`, `v2beta1` and `v2beta2` ⇄ `autoscaling/v2`.
//!
//! Sources:
//! - Deprecation guide, "HorizontalPodAutoscaler" (v1.25 for v2beta1, v1.26 for v2beta2):
//!   migrate to `autoscaling/v2`; `targetAverageUtilization` is replaced with
//!   `target.averageUtilization` and `target.type: Utilization`, `targetAverageValue` with
//!   `target.averageValue` and `target.type: AverageValue`. `v2beta2` → `v2` has no notable
//!   changes (a rename).
//! - `pkg/apis/autoscaling/v2beta1/conversion.go` (1.24): per metric source —
//!   Resource/ContainerResource `targetAverageUtilization` → `target {type: Utilization,
//!   averageUtilization}`, else `target {type: AverageValue, averageValue}`; Pods `metricName`,
//!   `selector`, `targetAverageValue` → `metric {name, selector}`, `target {type: AverageValue,
//!   averageValue}`; Object `target` → `describedObject`, `metricName`/`selector` → `metric`,
//!   `targetValue`/`averageValue` → `target {type: Value | AverageValue (when averageValue is
//!   set), value, averageValue}`; External `metricName`/`metricSelector` → `metric`,
//!   `targetValue`/`targetAverageValue` → `target {type: Value (when targetValue is set) |
//!   AverageValue}`; the status `current*` fields likewise into `current`. `spec.behavior`,
//!   which v2beta1 lacks, round-trips through the `autoscaling.alpha.kubernetes.io/behavior`
//!   annotation; the upgrade drops the round-trip annotations as the API server does.
//! - `pkg/apis/autoscaling/v1/conversion.go`: `targetCPUUtilizationPercentage` ⇄ a Resource
//!   `cpu` metric with `Utilization`; every other metric round-trips through the
//!   `autoscaling.alpha.kubernetes.io/metrics` annotation (in the v2beta1 shape), the status
//!   through `…/current-metrics` and `…/conditions`; a v1 HPA without any metric means 80 %
//!   CPU, written out explicitly on upgrade (`autoscaling.DefaultCPUUtilization`).
//!
//! Lossy: none of these downgrades loses information (the annotations carry what the old
//! version has no field for), but a metrics annotation that is not valid JSON is reported
//! as an error rather than silently dropped.
//!
//! ```
//! use csdr_core::convert::convert;
//! use csdr_core::object::{GroupVersion, KubeObject};
//! use serde_json::json;
//!
//! let old = KubeObject::new(json!({"apiVersion": "autoscaling/v2beta1",
//!     "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
//!     "spec": {"maxReplicas": 5, "metrics": [{"type": "Resource",
//!         "resource": {"name": "cpu", "targetAverageUtilization": 60}}]}}))?;
//! let new = convert(old, &GroupVersion::new("autoscaling", "v2"))?;
//! assert_eq!(
//!     new.pointer("/spec/metrics/0/resource"),
//!     Some(&json!({"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}))
//! );
//! # Ok::<(), csdr_core::Error>(())
//! ```

use serde_json::{Map, Value, json};

use super::fields::{
    field_error, is_absent, object_mut, set_annotation, spec_mut, take_annotation,
};
use super::{ConvertError, Migration, fields::keep};
use crate::object::KubeObject;

const BEHAVIOR: &str = "autoscaling.alpha.kubernetes.io/behavior";
const METRICS: &str = "autoscaling.alpha.kubernetes.io/metrics";
const CURRENT_METRICS: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
const CONDITIONS: &str = "autoscaling.alpha.kubernetes.io/conditions";
const KIND: &str = "HorizontalPodAutoscaler";

pub(super) fn migrations() -> Vec<Migration> {
    vec![
        Migration::new(
            "hpa-autoscaling-v2beta2-to-v2",
            "autoscaling/v2beta2",
            "autoscaling/v2",
            KIND,
            keep,
        ),
        Migration::new(
            "hpa-autoscaling-v2-to-v2beta2",
            "autoscaling/v2",
            "autoscaling/v2beta2",
            KIND,
            keep,
        ),
        Migration::new(
            "hpa-autoscaling-v2beta1-to-v2",
            "autoscaling/v2beta1",
            "autoscaling/v2",
            KIND,
            v2beta1_to_v2,
        ),
        Migration::new(
            "hpa-autoscaling-v2-to-v2beta1",
            "autoscaling/v2",
            "autoscaling/v2beta1",
            KIND,
            v2_to_v2beta1,
        ),
        Migration::new(
            "hpa-autoscaling-v1-to-v2",
            "autoscaling/v1",
            "autoscaling/v2",
            KIND,
            v1_to_v2,
        ),
        Migration::new(
            "hpa-autoscaling-v2-to-v1",
            "autoscaling/v2",
            "autoscaling/v1",
            KIND,
            v2_to_v1,
        ),
    ]
}

/// The JSON key of a metric source type: `Resource` → `resource`.
fn source_key(metric: &Map<String, Value>) -> Option<String> {
    let ty = metric.get("type")?.as_str()?;
    let mut chars = ty.chars();
    let first = chars.next()?;
    Some(first.to_ascii_lowercase().to_string() + chars.as_str())
}

fn move_to(from: &mut Map<String, Value>, key: &str, to: &mut Map<String, Value>, new_key: &str) {
    if let Some(v) = from.remove(key)
        && !v.is_null()
    {
        to.insert(new_key.to_string(), v);
    }
}

/// A v2beta1 metric spec (or status, when `current`) to the v2 shape, in place.
fn metric_to_v2(metric: &mut Map<String, Value>, current: bool) {
    let Some(key) = source_key(metric) else {
        return;
    };
    let Some(src) = object_mut(metric, &key) else {
        return;
    };
    let mut identifier = Map::new();
    move_to(src, "metricName", &mut identifier, "name");
    let selector_key = if key == "external" {
        "metricSelector"
    } else {
        "selector"
    };
    if key != "resource" && key != "containerResource" {
        move_to(src, selector_key, &mut identifier, "selector");
    }
    let described = if key == "object" {
        src.remove("target")
    } else {
        None
    };
    let mut value = Map::new();
    if current {
        move_to(
            src,
            "currentAverageUtilization",
            &mut value,
            "averageUtilization",
        );
        move_to(src, "currentAverageValue", &mut value, "averageValue");
        move_to(src, "currentValue", &mut value, "value");
        move_to(src, "averageValue", &mut value, "averageValue");
    } else {
        move_to(
            src,
            "targetAverageUtilization",
            &mut value,
            "averageUtilization",
        );
        move_to(src, "targetAverageValue", &mut value, "averageValue");
        move_to(src, "targetValue", &mut value, "value");
        move_to(src, "averageValue", &mut value, "averageValue");
        let ty = match key.as_str() {
            "resource" | "containerResource" if value.contains_key("averageUtilization") => {
                "Utilization"
            }
            "object" if !value.contains_key("averageValue") => "Value",
            "external" if value.contains_key("value") => "Value",
            _ => "AverageValue",
        };
        value.insert("type".into(), json!(ty));
    }
    if let Some(d) = described.filter(|d| !d.is_null()) {
        src.insert("describedObject".into(), d);
    }
    if !identifier.is_empty() {
        src.insert("metric".into(), Value::Object(identifier));
    }
    src.insert(
        if current { "current" } else { "target" }.into(),
        Value::Object(value),
    );
}

/// A v2 metric spec (or status) to the v2beta1 shape, in place.
fn metric_to_v2beta1(metric: &mut Map<String, Value>, current: bool) {
    let Some(key) = source_key(metric) else {
        return;
    };
    let Some(src) = object_mut(metric, &key) else {
        return;
    };
    let value_key = if current { "current" } else { "target" };
    let mut value = match src.remove(value_key) {
        Some(Value::Object(v)) => v,
        _ => Map::new(),
    };
    let mut identifier = match src.remove("metric") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    if let Some(d) = src.remove("describedObject") {
        src.insert("target".into(), d);
    }
    move_to(&mut identifier, "name", src, "metricName");
    let selector_key = if key == "external" {
        "metricSelector"
    } else {
        "selector"
    };
    move_to(&mut identifier, "selector", src, selector_key);
    let prefix = if current { "current" } else { "target" };
    match key.as_str() {
        "object" => {
            move_to(&mut value, "value", src, &format!("{prefix}Value"));
            move_to(&mut value, "averageValue", src, "averageValue");
        }
        _ => {
            move_to(
                &mut value,
                "averageUtilization",
                src,
                &format!("{prefix}AverageUtilization"),
            );
            move_to(
                &mut value,
                "averageValue",
                src,
                &format!("{prefix}AverageValue"),
            );
            move_to(&mut value, "value", src, &format!("{prefix}Value"));
        }
    }
}

fn for_each_metric(
    obj: &mut KubeObject,
    section: &str,
    list: &str,
    f: impl Fn(&mut Map<String, Value>),
) {
    if let Some(section) = object_mut(obj.fields_mut(), section)
        && let Some(Value::Array(metrics)) = section.get_mut(list)
    {
        metrics
            .iter_mut()
            .filter_map(Value::as_object_mut)
            .for_each(f);
    }
}

/// Parses a JSON annotation the API server wrote, naming it when it is not valid.
fn parse_annotation(
    obj: &KubeObject,
    migration: &str,
    key: &str,
) -> Result<Option<Value>, ConvertError> {
    match obj.annotation(key) {
        None => Ok(None),
        Some(text) => serde_json::from_str(text).map(Some).map_err(|e| {
            field_error(
                obj,
                migration,
                &format!("metadata.annotations[{key}]"),
                format!("not valid JSON ({e}); fix or remove the annotation"),
            )
        }),
    }
}

fn drop_round_trip_annotations(obj: &mut KubeObject) {
    for key in [BEHAVIOR, METRICS, CURRENT_METRICS, CONDITIONS] {
        take_annotation(obj, key);
    }
}

fn restore_behavior(obj: &mut KubeObject, migration: &str) -> Result<(), ConvertError> {
    if let Some(behavior) = parse_annotation(obj, migration, BEHAVIOR)?
        && behavior.as_object().is_some_and(|b| !b.is_empty())
        && let Some(spec) = spec_mut(obj)
    {
        spec.insert("behavior".into(), behavior);
    }
    Ok(())
}

fn v2beta1_to_v2(mut obj: KubeObject) -> Result<KubeObject, ConvertError> {
    restore_behavior(&mut obj, "hpa-autoscaling-v2beta1-to-v2")?;
    drop_round_trip_annotations(&mut obj);
    for_each_metric(&mut obj, "spec", "metrics", |m| metric_to_v2(m, false));
    for_each_metric(&mut obj, "status", "currentMetrics", |m| {
        metric_to_v2(m, true)
    });
    Ok(obj)
}

fn v2_to_v2beta1(mut obj: KubeObject) -> Result<KubeObject, ConvertError> {
    drop_round_trip_annotations(&mut obj);
    let behavior = spec_mut(&mut obj).and_then(|s| s.remove("behavior"));
    if let Some(b) = behavior.filter(|b| !b.is_null()) {
        set_annotation(&mut obj, BEHAVIOR, b.to_string());
    }
    for_each_metric(&mut obj, "spec", "metrics", |m| metric_to_v2beta1(m, false));
    for_each_metric(&mut obj, "status", "currentMetrics", |m| {
        metric_to_v2beta1(m, true)
    });
    Ok(obj)
}

fn is_cpu_resource(metric: &Value) -> bool {
    metric.get("type").and_then(Value::as_str) == Some("Resource")
        && metric.pointer("/resource/name").and_then(Value::as_str) == Some("cpu")
}

fn converted_list(value: Option<Value>, current: bool) -> Vec<Value> {
    let Some(Value::Array(items)) = value else {
        return Vec::new();
    };
    items
        .into_iter()
        .map(|mut m| {
            if let Some(map) = m.as_object_mut() {
                metric_to_v2(map, current);
            }
            m
        })
        .collect()
}

fn v1_to_v2(mut obj: KubeObject) -> Result<KubeObject, ConvertError> {
    const NAME: &str = "hpa-autoscaling-v1-to-v2";
    let other = parse_annotation(&obj, NAME, METRICS)?;
    let current = parse_annotation(&obj, NAME, CURRENT_METRICS)?;
    let conditions = parse_annotation(&obj, NAME, CONDITIONS)?;
    restore_behavior(&mut obj, NAME)?;
    drop_round_trip_annotations(&mut obj);
    if let Some(spec) = spec_mut(&mut obj) {
        let mut metrics = Vec::new();
        if let Some(cpu) = spec
            .remove("targetCPUUtilizationPercentage")
            .filter(|v| !v.is_null())
        {
            metrics.push(json!({"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": cpu}}}));
        }
        metrics.extend(converted_list(other, false));
        if metrics.is_empty() {
            metrics.push(json!({"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80}}}));
        }
        spec.insert("metrics".into(), Value::Array(metrics));
    }
    if let Some(status) = object_mut(obj.fields_mut(), "status") {
        let cpu = status
            .remove("currentCPUUtilizationPercentage")
            .filter(|v| !v.is_null());
        let current = converted_list(current, true);
        if !current.is_empty() {
            status.insert("currentMetrics".into(), Value::Array(current));
        } else if let Some(cpu) = cpu {
            status.insert(
                "currentMetrics".into(),
                json!([{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": cpu}}}]),
            );
        }
        if let Some(c) = conditions.filter(Value::is_array) {
            status.insert("conditions".into(), c);
        }
    }
    Ok(obj)
}

fn v2_to_v1(mut obj: KubeObject) -> Result<KubeObject, ConvertError> {
    drop_round_trip_annotations(&mut obj);
    let mut annotations: Vec<(&str, String)> = Vec::new();
    if let Some(spec) = spec_mut(&mut obj) {
        let metrics = match spec.remove("metrics") {
            Some(Value::Array(m)) => m,
            _ => Vec::new(),
        };
        let mut others = Vec::new();
        let mut cpu_done = false;
        for mut m in metrics {
            let utilization = m.pointer("/resource/target/averageUtilization").cloned();
            if is_cpu_resource(&m)
                && let Some(u) = utilization.filter(|u| !u.is_null())
            {
                if !cpu_done {
                    spec.insert("targetCPUUtilizationPercentage".into(), u);
                    cpu_done = true;
                }
                continue;
            }
            if let Some(map) = m.as_object_mut() {
                metric_to_v2beta1(map, false);
            }
            others.push(m);
        }
        if !others.is_empty() {
            annotations.push((METRICS, Value::Array(others).to_string()));
        }
        if let Some(b) = spec.remove("behavior").filter(|b| !b.is_null()) {
            annotations.push((BEHAVIOR, b.to_string()));
        }
    }
    if let Some(status) = object_mut(obj.fields_mut(), "status") {
        if let Some(Value::Array(current)) = status.remove("currentMetrics") {
            if let Some(u) = current
                .iter()
                .filter(|m| is_cpu_resource(m))
                .find_map(|m| m.pointer("/resource/current/averageUtilization").cloned())
            {
                status.insert("currentCPUUtilizationPercentage".into(), u);
            }
            if !current.is_empty() {
                let v2beta1: Vec<Value> = current
                    .into_iter()
                    .map(|mut m| {
                        if let Some(map) = m.as_object_mut() {
                            metric_to_v2beta1(map, true);
                        }
                        m
                    })
                    .collect();
                annotations.push((CURRENT_METRICS, Value::Array(v2beta1).to_string()));
            }
        }
        if let Some(c) = status.remove("conditions").filter(|c| !is_absent(Some(c))) {
            annotations.push((CONDITIONS, c.to_string()));
        }
    }
    for (key, value) in annotations {
        set_annotation(&mut obj, key, value);
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::super::convert;
    use crate::object::{GroupVersion, KubeObject};
    use serde_json::{Value, json};

    fn v2() -> GroupVersion {
        GroupVersion::new("autoscaling", "v2")
    }

    fn hpa(api_version: &str, spec: Value) -> Value {
        json!({"apiVersion": api_version, "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "php-apache", "namespace": "default"}, "spec": spec})
    }

    fn target_ref() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "php-apache"})
    }

    /// The multi-metric HPA of the Kubernetes HPA walkthrough, in both shapes.
    fn walkthrough_v2beta1() -> Value {
        hpa(
            "autoscaling/v2beta1",
            json!({
                "scaleTargetRef": target_ref(), "minReplicas": 1, "maxReplicas": 10,
                "metrics": [
                    {"type": "Resource", "resource": {"name": "cpu", "targetAverageUtilization": 50}},
                    {"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "500Mi"}},
                    {"type": "Pods", "pods": {"metricName": "packets-per-second", "targetAverageValue": "1k"}},
                    {"type": "Object", "object": {"metricName": "requests-per-second",
                        "target": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "main-route"},
                        "targetValue": "10k"}},
                    {"type": "External", "external": {"metricName": "queue_messages_ready",
                        "metricSelector": {"matchLabels": {"queue": "worker_tasks"}}, "targetAverageValue": "30"}}
                ]
            }),
        )
    }

    fn walkthrough_v2() -> Value {
        hpa(
            "autoscaling/v2",
            json!({
                "scaleTargetRef": target_ref(), "minReplicas": 1, "maxReplicas": 10,
                "metrics": [
                    {"type": "Resource", "resource": {"name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 50}}},
                    {"type": "Resource", "resource": {"name": "memory",
                        "target": {"type": "AverageValue", "averageValue": "500Mi"}}},
                    {"type": "Pods", "pods": {"metric": {"name": "packets-per-second"},
                        "target": {"type": "AverageValue", "averageValue": "1k"}}},
                    {"type": "Object", "object": {"metric": {"name": "requests-per-second"},
                        "describedObject": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "main-route"},
                        "target": {"type": "Value", "value": "10k"}}},
                    {"type": "External", "external": {"metric": {"name": "queue_messages_ready",
                        "selector": {"matchLabels": {"queue": "worker_tasks"}}},
                        "target": {"type": "AverageValue", "averageValue": "30"}}}
                ]
            }),
        )
    }

    #[test]
    fn v2beta1_to_v2_restructures_targets() {
        let o = KubeObject::new(walkthrough_v2beta1()).unwrap();
        assert_eq!(convert(o, &v2()).unwrap().to_value(), walkthrough_v2());
    }

    #[test]
    fn v2_to_v2beta1_and_back() {
        let o = KubeObject::new(walkthrough_v2()).unwrap();
        let down = convert(o.clone(), &GroupVersion::new("autoscaling", "v2beta1")).unwrap();
        assert_eq!(down.to_value(), walkthrough_v2beta1());
        assert_eq!(convert(down, &v2()).unwrap(), o);
    }

    #[test]
    fn behavior_round_trips_through_the_annotation() {
        let mut v = walkthrough_v2();
        v["spec"]["behavior"] = json!({"scaleDown": {"stabilizationWindowSeconds": 300,
            "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}});
        let o = KubeObject::new(v.clone()).unwrap();
        let down = convert(o.clone(), &GroupVersion::new("autoscaling", "v2beta1")).unwrap();
        assert_eq!(down.pointer("/spec/behavior"), None);
        let stored: Value = serde_json::from_str(
            down.annotation("autoscaling.alpha.kubernetes.io/behavior")
                .unwrap(),
        )
        .unwrap();
        assert_eq!(stored, v["spec"]["behavior"]);
        assert_eq!(convert(down, &v2()).unwrap(), o);
    }

    #[test]
    fn status_metrics_convert() {
        let mut v = walkthrough_v2beta1();
        v["status"] = json!({"currentReplicas": 1, "desiredReplicas": 1, "currentMetrics": [
            {"type": "Resource", "resource": {"name": "cpu", "currentAverageUtilization": 0, "currentAverageValue": "1m"}},
            {"type": "External", "external": {"metricName": "queue_messages_ready", "currentValue": "12"}}]});
        let up = convert(KubeObject::new(v).unwrap(), &v2()).unwrap();
        assert_eq!(
            up.pointer("/status/currentMetrics"),
            Some(&json!([
                {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 0, "averageValue": "1m"}}},
                {"type": "External", "external": {"metric": {"name": "queue_messages_ready"}, "current": {"value": "12"}}}]))
        );
    }

    #[test]
    fn v2beta2_is_a_rename() {
        let mut v = walkthrough_v2();
        v["apiVersion"] = json!("autoscaling/v2beta2");
        let up = convert(KubeObject::new(v).unwrap(), &v2()).unwrap();
        assert_eq!(up.to_value(), walkthrough_v2());
        let down = convert(up, &GroupVersion::new("autoscaling", "v2beta2")).unwrap();
        assert_eq!(down.api_version(), "autoscaling/v2beta2");
    }

    /// The `php-apache` autoscaling/v1 HPA of the HPA walkthrough.
    fn php_apache_v1() -> Value {
        hpa(
            "autoscaling/v1",
            json!({"scaleTargetRef": target_ref(), "minReplicas": 1,
            "maxReplicas": 10, "targetCPUUtilizationPercentage": 50}),
        )
    }

    #[test]
    fn v1_to_v2_and_back() {
        let up = convert(KubeObject::new(php_apache_v1()).unwrap(), &v2()).unwrap();
        let expected = hpa(
            "autoscaling/v2",
            json!({"scaleTargetRef": target_ref(), "minReplicas": 1,
            "maxReplicas": 10, "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 50}}}]}),
        );
        assert_eq!(up.to_value(), expected);
        let down = convert(up, &GroupVersion::new("autoscaling", "v1")).unwrap();
        assert_eq!(down.to_value(), php_apache_v1());
    }

    #[test]
    fn v1_without_target_means_80_percent_cpu() {
        let mut v = php_apache_v1();
        v["spec"]
            .as_object_mut()
            .unwrap()
            .remove("targetCPUUtilizationPercentage");
        let up = convert(KubeObject::new(v).unwrap(), &v2()).unwrap();
        assert_eq!(
            up.pointer("/spec/metrics"),
            Some(&json!([{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80}}}]))
        );
    }

    #[test]
    fn v2_to_v1_keeps_other_metrics_in_the_annotation() {
        let o = KubeObject::new(walkthrough_v2()).unwrap();
        let down = convert(o.clone(), &GroupVersion::new("autoscaling", "v1")).unwrap();
        assert_eq!(
            down.pointer("/spec/targetCPUUtilizationPercentage"),
            Some(&json!(50))
        );
        assert_eq!(down.pointer("/spec/metrics"), None);
        let others: Value = serde_json::from_str(
            down.annotation("autoscaling.alpha.kubernetes.io/metrics")
                .unwrap(),
        )
        .unwrap();
        assert_eq!(others.as_array().unwrap().len(), 4);
        assert_eq!(
            others[0],
            json!({"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "500Mi"}})
        );
        // Upgrading again restores every metric and removes the annotation.
        assert_eq!(convert(down, &v2()).unwrap(), o);
    }

    #[test]
    fn a_broken_metrics_annotation_is_named() {
        let mut v = php_apache_v1();
        v["metadata"]["annotations"] = json!({"autoscaling.alpha.kubernetes.io/metrics": "[{"});
        let err = convert(KubeObject::new(v).unwrap(), &v2()).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "HorizontalPodAutoscaler default/php-apache: migration hpa-autoscaling-v1-to-v2 \
                 cannot convert field metadata.annotations[autoscaling.alpha.kubernetes.io/metrics]: not valid JSON"
            ),
            "{err}"
        );
    }
}
