//! Event: core `v1` ⇄ `events.k8s.io/v1` and `events.k8s.io/v1beta1`.
//!
//! An API server stores one Event and serves it through both groups (DESIGN B5, cohabiting
//! resources): what `kubectl get events` shows through the core API is the same object as
//! `kubectl get events.v1.events.k8s.io`. Both versions convert through the internal
//! `core.Event`, which has every field of both, so the mapping is lossless both ways.
//!
//! Sources:
//! - `pkg/apis/events/v1/conversion.go` and `pkg/apis/events/v1beta1/conversion.go`
//!   (`Convert_v1_Event_To_core_Event`, `Convert_core_Event_To_v1_Event`): `regarding` ⇄
//!   `involvedObject`, `deprecatedSource` ⇄ `source`, `note` ⇄ `message`,
//!   `deprecatedFirstTimestamp` / `deprecatedLastTimestamp` / `deprecatedCount` ⇄
//!   `firstTimestamp` / `lastTimestamp` / `count`; every other field is copied by the
//!   generated code (`zz_generated.conversion.go`).
//! - `staging/src/k8s.io/api/core/v1/types.go`: the core field that holds the internal
//!   `ReportingController` is spelled `reportingComponent` in JSON; it is `reportingController`
//!   in `events.k8s.io`.
//! - The JSON tags of both types, which decide what a real server writes for an unset field:
//!   the core type always writes `involvedObject`, `source` (`{}`), `firstTimestamp`,
//!   `lastTimestamp`, `eventTime` (`null` when unset) and `reportingComponent`,
//!   `reportingInstance` (`""` when unset); `events.k8s.io` always writes `regarding`,
//!   `deprecatedSource` (`{}`), `eventTime`, `deprecatedFirstTimestamp`,
//!   `deprecatedLastTimestamp` (`null` when unset). Every other field is left out when empty
//!   (`""`, `0`, `null`). The migrations write the same, so an Event read through the other
//!   group looks as a real server shows it.
//!
//! | core `v1` | `events.k8s.io/v1`, `v1beta1` |
//! |---|---|
//! | `involvedObject` | `regarding` |
//! | `message` | `note` |
//! | `source` (`component`, `host`) | `deprecatedSource` |
//! | `count` | `deprecatedCount` |
//! | `firstTimestamp` | `deprecatedFirstTimestamp` |
//! | `lastTimestamp` | `deprecatedLastTimestamp` |
//! | `reportingComponent` | `reportingController` |
//! | `reportingInstance`, `eventTime`, `series`, `action`, `reason`, `related`, `type` | same name |
//!
//! `source` is **not** copied into `reportingController`/`reportingInstance`: the conversion
//! code does not do it (client-go's event recorders fill both when they create an Event).
//! Fields neither type knows are kept unchanged, except one spelled like a field of the
//! other side (a core Event carrying `note`, say), which a real server would have dropped as
//! unknown when it was stored: it is dropped so it cannot shadow the converted field.
//! Validation is not the conversion's business: `events.k8s.io/v1` requires `eventTime`,
//! `reportingController`, `reportingInstance`, `action` and a `type` of Normal or Warning on
//! create, but serves any stored Event, including core ones that lack them.
//!
//! ```
//! use csdr_core::convert::convert;
//! use csdr_core::object::{GroupVersion, KubeObject};
//! use serde_json::json;
//!
//! let core = KubeObject::new(json!({"apiVersion": "v1", "kind": "Event",
//!     "metadata": {"name": "web-0.1", "namespace": "shop"},
//!     "involvedObject": {"kind": "Pod", "name": "web-0", "namespace": "shop"},
//!     "reason": "Pulling", "message": "Pulling image \"nginx\"", "count": 2,
//!     "source": {"component": "kubelet", "host": "worker-1"}, "type": "Normal"}))?;
//! let ev = convert(core.clone(), &GroupVersion::new("events.k8s.io", "v1"))?;
//! assert_eq!(ev.pointer("/regarding/name"), Some(&json!("web-0")));
//! assert_eq!(ev.pointer("/note"), Some(&json!("Pulling image \"nginx\"")));
//! assert_eq!(ev.pointer("/deprecatedSource/host"), Some(&json!("worker-1")));
//! assert_eq!(ev.pointer("/deprecatedCount"), Some(&json!(2)));
//! let back = convert(ev, &GroupVersion::new("", "v1"))?;
//! assert_eq!(back.pointer("/message"), core.pointer("/message"));
//! # Ok::<(), csdr_core::Error>(())
//! ```

use serde_json::{Map, Value, json};

use super::{ConvertError, Migration};
use crate::object::KubeObject;

/// What a real server writes for a field that is unset (the field's JSON tag).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unset {
    /// `omitempty` on a string, number or pointer: left out when `""`, `0` or `null`.
    Omitted,
    /// A `Time`/`MicroTime`: written as `null`.
    Null,
    /// A string without `omitempty`: written as `""`.
    EmptyString,
    /// A struct (`omitempty` does not apply): written as `{}`.
    EmptyObject,
}

use Unset::{EmptyObject, EmptyString, Null, Omitted};

/// Every field of both types: (core `v1` name, how core writes it unset, `events.k8s.io`
/// name, how `events.k8s.io` writes it unset).
const FIELDS: &[(&str, Unset, &str, Unset)] = &[
    ("involvedObject", EmptyObject, "regarding", EmptyObject),
    ("message", Omitted, "note", Omitted),
    ("source", EmptyObject, "deprecatedSource", EmptyObject),
    ("count", Omitted, "deprecatedCount", Omitted),
    ("firstTimestamp", Null, "deprecatedFirstTimestamp", Null),
    ("lastTimestamp", Null, "deprecatedLastTimestamp", Null),
    (
        "reportingComponent",
        EmptyString,
        "reportingController",
        Omitted,
    ),
    (
        "reportingInstance",
        EmptyString,
        "reportingInstance",
        Omitted,
    ),
    ("eventTime", Null, "eventTime", Null),
    ("series", Omitted, "series", Omitted),
    ("action", Omitted, "action", Omitted),
    ("reason", Omitted, "reason", Omitted),
    ("related", Omitted, "related", Omitted),
    ("type", Omitted, "type", Omitted),
];

pub(super) fn migrations() -> Vec<Migration> {
    let mut all = Vec::new();
    for (version, up, down) in [
        (
            "events.k8s.io/v1",
            "event-core-v1-to-events-v1",
            "event-events-v1-to-core-v1",
        ),
        (
            "events.k8s.io/v1beta1",
            "event-core-v1-to-events-v1beta1",
            "event-events-v1beta1-to-core-v1",
        ),
    ] {
        all.push(Migration::new(up, "v1", version, "Event", to_events));
        all.push(Migration::new(down, version, "v1", "Event", to_core));
    }
    all
}

/// Whether a value is what a real server leaves out or writes as the unset value.
fn is_unset(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_i64() == Some(0) || n.as_u64() == Some(0),
        Value::Object(m) => m.is_empty(),
        Value::Array(_) | Value::Bool(_) => false,
    }
}

/// Which side of [`FIELDS`] an object is read from.
#[derive(Clone, Copy)]
enum Direction {
    CoreToEvents,
    EventsToCore,
}

fn remap(mut obj: KubeObject, direction: Direction) -> KubeObject {
    let fields = obj.fields_mut();
    let mut moved: Map<String, Value> = Map::new();
    for &(core, core_unset, events, events_unset) in FIELDS {
        let (from, to, unset) = match direction {
            Direction::CoreToEvents => (core, events, events_unset),
            Direction::EventsToCore => (events, core, core_unset),
        };
        let value = fields.remove(from);
        // A field of the other side found on this one is unknown here: drop it.
        if to != from {
            fields.remove(to);
        }
        let written = match (value, unset) {
            (Some(v), _) if !is_unset(&v) => Some(v),
            (_, Omitted) => None,
            (_, Null) => Some(Value::Null),
            (_, EmptyString) => Some(json!("")),
            (_, EmptyObject) => Some(json!({})),
        };
        if let Some(v) = written {
            moved.insert(to.to_string(), v);
        }
    }
    fields.extend(moved);
    obj
}

fn to_events(obj: KubeObject) -> Result<KubeObject, ConvertError> {
    Ok(remap(obj, Direction::CoreToEvents))
}

fn to_core(obj: KubeObject) -> Result<KubeObject, ConvertError> {
    Ok(remap(obj, Direction::EventsToCore))
}

#[cfg(test)]
mod tests {
    use super::super::convert;
    use super::FIELDS;
    use crate::object::{GroupVersion, KubeObject};
    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    const FIXTURE: &str = include_str!("testdata/event-core-v1-kubectl.yaml");

    fn fixture_items() -> Vec<Value> {
        let list: Value = serde_yaml_ng::from_str(FIXTURE).unwrap();
        list["items"].as_array().unwrap().clone()
    }

    fn events_v1() -> GroupVersion {
        GroupVersion::new("events.k8s.io", "v1")
    }

    fn core_v1() -> GroupVersion {
        GroupVersion::new("", "v1")
    }

    #[test]
    fn kubelet_event_from_a_kubectl_dump_reads_as_events_v1_field_by_field() {
        let core = KubeObject::new(fixture_items()[0].clone()).unwrap();
        let ev = convert(core, &events_v1()).unwrap();
        let expected = json!({
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {
                "creationTimestamp": "2026-11-30T09:12:03Z",
                "name": "web-7c5ddbdf54-x2x8k.187c3a5e2f4b1a9d",
                "namespace": "shop",
                "resourceVersion": "48377",
                "uid": "9e3c0c1f-55a4-4f0a-b4a0-6a7d2f1c8b20"
            },
            "regarding": {
                "apiVersion": "v1",
                "fieldPath": "spec.containers{web}",
                "kind": "Pod",
                "name": "web-7c5ddbdf54-x2x8k",
                "namespace": "shop",
                "resourceVersion": "48211",
                "uid": "4b0d5f0e-7e0b-4a57-9a61-2f5f7c1d9e11"
            },
            "note": "Pulling image \"nginx:1.25\"",
            "reason": "Pulling",
            "type": "Normal",
            "deprecatedSource": {"component": "kubelet", "host": "worker-2"},
            "deprecatedCount": 3,
            "deprecatedFirstTimestamp": "2026-11-30T09:12:03Z",
            "deprecatedLastTimestamp": "2026-11-30T09:14:41Z",
            "eventTime": null,
            "reportingController": "kubelet",
            "reportingInstance": "worker-2"
        });
        assert_eq!(ev.to_value(), expected);
    }

    #[test]
    fn scheduler_event_from_a_kubectl_dump_reads_as_events_v1beta1_field_by_field() {
        let core = KubeObject::new(fixture_items()[1].clone()).unwrap();
        let ev = convert(core, &GroupVersion::new("events.k8s.io", "v1beta1")).unwrap();
        let expected = json!({
            "apiVersion": "events.k8s.io/v1beta1",
            "kind": "Event",
            "metadata": {
                "creationTimestamp": "2026-11-30T09:12:02Z",
                "name": "web-7c5ddbdf54-x2x8k.187c3a5e1d0c8e4f",
                "namespace": "shop",
                "resourceVersion": "48205",
                "uid": "2a9f4c61-0b3e-4c8e-8f2d-5e7a1c3b9d02"
            },
            "action": "Scheduling",
            "eventTime": "2026-11-30T09:12:02.913571Z",
            "regarding": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": "web-7c5ddbdf54-x2x8k",
                "namespace": "shop",
                "resourceVersion": "48198",
                "uid": "4b0d5f0e-7e0b-4a57-9a61-2f5f7c1d9e11"
            },
            "note": "Successfully assigned shop/web-7c5ddbdf54-x2x8k to worker-2",
            "reason": "Scheduled",
            "reportingController": "default-scheduler",
            "reportingInstance": "default-scheduler-control-plane",
            "series": {"count": 2, "lastObservedTime": "2026-11-30T09:13:02.101234Z"},
            "deprecatedSource": {},
            "deprecatedFirstTimestamp": null,
            "deprecatedLastTimestamp": null,
            "type": "Normal"
        });
        assert_eq!(ev.to_value(), expected);
    }

    #[test]
    fn kubectl_dump_round_trips_through_both_event_versions_unchanged() {
        for item in fixture_items() {
            let core = KubeObject::new(item).unwrap();
            for via in [events_v1(), GroupVersion::new("events.k8s.io", "v1beta1")] {
                let ev = convert(core.clone(), &via).unwrap();
                assert_eq!(ev.api_version(), via.api_version());
                let back = convert(ev, &core_v1()).unwrap();
                assert_eq!(back, core, "via {via}");
            }
        }
    }

    #[test]
    fn an_events_v1_event_reads_through_the_core_api_as_a_real_server_shows_it() {
        // What client-go's events.k8s.io recorder (kube-rs `Recorder` too) creates.
        let ev = KubeObject::new(json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "widget.1", "namespace": "default"},
            "eventTime": "2026-12-01T10:00:00.000000Z",
            "action": "Reconciling", "reason": "Reconciled", "type": "Normal",
            "reportingController": "widget-controller", "reportingInstance": "widget-0",
            "regarding": {"apiVersion": "example.com/v1", "kind": "Widget", "name": "w", "namespace": "default"},
            "note": "ok"
        }))
        .unwrap();
        let core = convert(ev.clone(), &core_v1()).unwrap();
        assert_eq!(
            core.to_value(),
            json!({
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": "widget.1", "namespace": "default"},
                "eventTime": "2026-12-01T10:00:00.000000Z",
                "action": "Reconciling", "reason": "Reconciled", "type": "Normal",
                "reportingComponent": "widget-controller", "reportingInstance": "widget-0",
                "involvedObject": {"apiVersion": "example.com/v1", "kind": "Widget", "name": "w", "namespace": "default"},
                "message": "ok",
                "source": {},
                "firstTimestamp": null,
                "lastTimestamp": null
            })
        );
        // And back: the events.k8s.io form a real server writes (unset timestamps as null).
        let again = convert(core, &events_v1()).unwrap();
        let mut expected = ev.to_value();
        expected["deprecatedSource"] = json!({});
        expected["deprecatedFirstTimestamp"] = Value::Null;
        expected["deprecatedLastTimestamp"] = Value::Null;
        assert_eq!(again.to_value(), expected);
    }

    #[test]
    fn fields_of_the_other_side_are_dropped_not_shadowing_the_mapped_ones() {
        let core = KubeObject::new(json!({
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
            "message": "real", "note": "stray", "regarding": {"name": "stray"},
            "involvedObject": {"name": "real"}, "x-unknown": 1
        }))
        .unwrap();
        let ev = convert(core, &events_v1()).unwrap();
        assert_eq!(ev.pointer("/note"), Some(&json!("real")));
        assert_eq!(ev.pointer("/regarding/name"), Some(&json!("real")));
        assert_eq!(ev.pointer("/x-unknown"), Some(&json!(1)));
        assert_eq!(ev.pointer("/message"), None);
        assert_eq!(ev.pointer("/involvedObject"), None);
    }

    /// A core Event as a real server writes it, with each field set or unset at random.
    fn core_event() -> impl Strategy<Value = KubeObject> {
        let text = || proptest::option::of("[a-zA-Z0-9 ./-]{1,12}");
        let time = || proptest::option::of("2026-0[1-9]-1[0-9]T0[0-9]:[0-5][0-9]:[0-5][0-9]Z");
        let micro =
            proptest::option::of("2026-0[1-9]-1[0-9]T0[0-9]:[0-5][0-9]:[0-5][0-9]\\.[0-9]{6}Z");
        (
            (
                text(),
                text(),
                text(),
                text(),
                proptest::option::of(1i64..1000),
            ),
            (time(), time(), micro, text(), text()),
            (
                proptest::option::of((1i64..50, "2026-01-01T00:00:0[0-9]\\.[0-9]{6}Z")),
                proptest::option::of("[a-z]{1,8}"),
                text(),
                proptest::sample::select(vec!["", "Normal", "Warning"]),
                proptest::option::of(("[A-Z][a-z]{1,6}", "[a-z]{1,8}")),
            ),
        )
            .prop_map(
                |(
                    (message, reason, component, host, count),
                    (first, last, event_time, controller, instance),
                    (series, related, action, type_, involved),
                )| {
                    let mut m = Map::new();
                    m.insert("apiVersion".into(), json!("v1"));
                    m.insert("kind".into(), json!("Event"));
                    m.insert("metadata".into(), json!({"name": "e.1", "namespace": "ns"}));
                    let mut put = |k: &str, v: Option<Value>| {
                        if let Some(v) = v {
                            m.insert(k.to_string(), v);
                        }
                    };
                    put("message", message.map(Value::String));
                    put("reason", reason.map(Value::String));
                    put("count", count.map(|c| json!(c)));
                    put("action", action.map(Value::String));
                    put(
                        "related",
                        related.map(|r| json!({"kind": "Node", "name": r})),
                    );
                    put(
                        "series",
                        series.map(|(c, t)| json!({"count": c, "lastObservedTime": t})),
                    );
                    if !type_.is_empty() {
                        put("type", Some(json!(type_)));
                    }
                    let mut source = Map::new();
                    if let Some(c) = component {
                        source.insert("component".into(), json!(c));
                    }
                    if let Some(h) = host {
                        source.insert("host".into(), json!(h));
                    }
                    put("source", Some(Value::Object(source)));
                    put(
                        "involvedObject",
                        Some(involved.map_or(json!({}), |(k, n)| json!({"kind": k, "name": n}))),
                    );
                    put(
                        "firstTimestamp",
                        Some(first.map_or(Value::Null, Value::String)),
                    );
                    put(
                        "lastTimestamp",
                        Some(last.map_or(Value::Null, Value::String)),
                    );
                    put(
                        "eventTime",
                        Some(event_time.map_or(Value::Null, Value::String)),
                    );
                    put(
                        "reportingComponent",
                        Some(json!(controller.unwrap_or_default())),
                    );
                    put(
                        "reportingInstance",
                        Some(json!(instance.unwrap_or_default())),
                    );
                    KubeObject::new(Value::Object(m)).unwrap()
                },
            )
    }

    /// Arbitrary JSON under the field names of both Event types.
    fn arb_event_json() -> impl Strategy<Value = Value> {
        let mut keys: Vec<&'static str> = FIELDS.iter().flat_map(|f| [f.0, f.2]).collect();
        keys.extend(["component", "host", "count", "name", "metadata", "other"]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            Just(json!(0)),
            Just(json!("")),
            "[a-z]{0,5}".prop_map(Value::String),
            any::<f64>().prop_map(|f| json!(f)),
        ];
        leaf.prop_recursive(3, 32, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                proptest::collection::vec((proptest::sample::select(keys.clone()), inner), 0..8)
                    .prop_map(|kv| Value::Object(
                        kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
                    )),
            ]
        })
    }

    proptest! {
        #[test]
        fn generated_core_events_round_trip_through_every_events_version(ev in core_event()) {
            for via in [events_v1(), GroupVersion::new("events.k8s.io", "v1beta1")] {
                let out = convert(ev.clone(), &via).unwrap();
                // Every core field name is gone unless both sides share it.
                for (core, _, events, _) in FIELDS {
                    if core != events {
                        prop_assert!(out.fields().get(*core).is_none(), "{} left in {:?}", core, out);
                    }
                }
                prop_assert_eq!(convert(out, &core_v1()).unwrap(), ev.clone());
            }
        }

        #[test]
        fn event_conversion_never_panics_and_is_stable_after_one_pass(body in arb_event_json()) {
            let mut map = match body {
                Value::Object(m) => m,
                other => Map::from_iter([("message".to_string(), other)]),
            };
            for (api_version, other) in [("v1", events_v1()), ("events.k8s.io/v1", core_v1())] {
                map.insert("apiVersion".into(), json!(api_version));
                map.insert("kind".into(), json!("Event"));
                map.insert("metadata".into(), json!({"name": "x"}));
                let obj = KubeObject::new(Value::Object(map.clone())).unwrap();
                let there = convert(obj.clone(), &other).unwrap();
                prop_assert_eq!(there.name(), "x");
                let back = convert(there.clone(), &obj.group_version()).unwrap();
                // Once in a server's form, converting there and back changes nothing.
                prop_assert_eq!(convert(back.clone(), &other).unwrap(), there);
                prop_assert_eq!(convert(convert(back.clone(), &other).unwrap(), &obj.group_version()).unwrap(), back);
            }
        }
    }
}
