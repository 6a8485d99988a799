//! Decoding bodies kubectl 1.32 sent, the definitions' coverage, and JSON → protobuf → JSON
//! round trips of generated objects.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

/// A fixture pair from `tests/fixtures/protobuf`: the body kubectl 1.32 sent for a `kubectl
/// create …`, and what the same command prints with `--dry-run=client -o json` (the object as
/// kubectl would send it as JSON). See the README there.
fn fixture(name: &str) -> (Vec<u8>, Value) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/protobuf");
    let body = std::fs::read(dir.join(format!("{name}.pb"))).unwrap();
    let json =
        serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.json"))).unwrap()).unwrap();
    (body, json)
}

/// Decodes a captured body and checks it equals kubectl's JSON of the same object, key by key
/// (so a failure names the differing field), then returns it.
fn decoded(name: &str) -> Value {
    let (body, expected) = fixture(name);
    assert!(body.starts_with(MAGIC), "{name}: not a protobuf body");
    let got = decode(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_same(&got, &expected, name);
    got
}

fn assert_same(got: &Value, expected: &Value, path: &str) {
    match (got, expected) {
        (Value::Object(g), Value::Object(e)) => {
            for (key, value) in e {
                let Some(mine) = g.get(key) else {
                    panic!("{path}.{key}: missing, expected {value}");
                };
                assert_same(mine, value, &format!("{path}.{key}"));
            }
            for key in g.keys() {
                assert!(
                    e.contains_key(key),
                    "{path}.{key}: unexpected {}",
                    g[key.as_str()]
                );
            }
        }
        (Value::Array(g), Value::Array(e)) => {
            assert_eq!(g.len(), e.len(), "{path}: length");
            for (i, (a, b)) in g.iter().zip(e).enumerate() {
                assert_same(a, b, &format!("{path}[{i}]"));
            }
        }
        _ => assert_eq!(got, expected, "{path}"),
    }
}

#[test]
fn kubectl_create_namespace() {
    let ns = decoded("namespace");
    assert_eq!(ns["apiVersion"], "v1");
    assert_eq!(ns["kind"], "Namespace");
    assert_eq!(ns["metadata"]["name"], "shop2");
    assert!(ns["metadata"].get("namespace").is_none());
    assert_eq!(ns["spec"], json!({}));
}

#[test]
fn kubectl_create_configmap_keeps_empty_values() {
    let cm = decoded("configmap");
    assert_eq!(cm["data"], json!({"a": "b", "empty": ""}));
    assert_eq!(cm["metadata"]["namespace"], "shop");
}

#[test]
fn kubectl_create_secret_data_is_base64() {
    let secret = decoded("secret");
    assert_eq!(secret["data"]["user"], "YWRtaW4=");
    assert_eq!(secret["data"]["pass"], "czNjcjN0");
}

#[test]
fn kubectl_create_deployment() {
    let d = decoded("deployment");
    assert_eq!(d["spec"]["replicas"], 2);
    let container = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "nginx");
    assert_eq!(container["ports"], json!([{"containerPort": 8080}]));
    assert_eq!(container["resources"], json!({}));
}

#[test]
fn kubectl_create_deployment_with_zero_replicas_keeps_them() {
    let d = decoded("deployment_zero");
    assert_eq!(d["spec"]["replicas"], 0);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["command"],
        json!(["sleep", "3600"])
    );
}

#[test]
fn kubectl_create_service_int_or_string_ports() {
    let svc = decoded("service");
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 8080);
    assert_eq!(svc["spec"]["ports"][1]["targetPort"], "https");
    assert_eq!(svc["status"], json!({"loadBalancer": {}}));
}

#[test]
fn kubectl_create_job_and_cronjob() {
    let job = decoded("job");
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["command"],
        json!(["echo", "hi"])
    );
    let cron = decoded("cronjob");
    assert_eq!(cron["spec"]["schedule"], "0 2 * * *");
    assert_eq!(cron["spec"]["jobTemplate"]["metadata"]["name"], "nightly");
}

#[test]
fn kubectl_create_rbac() {
    let role = decoded("role");
    assert_eq!(role["rules"][0]["verbs"], json!(["get", "list"]));
    let binding = decoded("rolebinding");
    assert_eq!(binding["roleRef"]["kind"], "Role");
    let cluster_role = decoded("clusterrole");
    // A nil slice without omitempty is written as null, as Go writes it.
    assert_eq!(cluster_role["rules"], Value::Null);
    assert_eq!(
        cluster_role["aggregationRule"]["clusterRoleSelectors"][0]["matchLabels"]["x"],
        "y"
    );
}

#[test]
fn kubectl_create_ingress() {
    let ing = decoded("ingress");
    assert_eq!(ing["spec"]["ingressClassName"], "nginx");
    let path = &ing["spec"]["rules"][0]["http"]["paths"][0];
    assert_eq!(path["pathType"], "Prefix");
    assert_eq!(path["backend"]["service"]["port"]["number"], 80);
}

#[test]
fn kubectl_create_priorityclass_quota_pdb_serviceaccount() {
    let pc = decoded("priorityclass");
    assert_eq!(pc["value"], 1000);
    assert_eq!(pc["preemptionPolicy"], "Never");
    let quota = decoded("quota");
    assert_eq!(quota["spec"]["hard"]["memory"], "1Gi");
    let pdb = decoded("pdb");
    assert_eq!(pdb["spec"]["minAvailable"], "50%");
    assert_eq!(pdb["status"]["expectedPods"], 0);
    let sa = decoded("serviceaccount");
    assert_eq!(sa["metadata"]["name"], "robot");
}

#[test]
fn delete_options_bodies_read_in_any_group_version() {
    for api_version in ["v1", "apps/v1", "meta.k8s.io/v1"] {
        let options = json!({"apiVersion": api_version, "kind": "DeleteOptions",
            "propagationPolicy": "Foreground", "gracePeriodSeconds": 0,
            "preconditions": {"uid": "u-1", "resourceVersion": "7"}, "dryRun": ["All"]});
        let back = decode(&encode(&options).unwrap()).unwrap();
        assert_eq!(strip_nulls(back), options);
    }
}

#[test]
fn every_field_of_every_message_has_a_json_form() {
    let defs = definitions().unwrap();
    let mut missing = Vec::new();
    for message in defs.pool.all_messages() {
        if message.is_map_entry()
            || special(defs, &message).is_some()
            || message.full_name() == UNKNOWN
            // core/v1 List: a list of RawExtensions the API never sends as a body.
            || message.full_name() == "k8s.io.api.core.v1.List"
            || message.package_name() == "k8s.io.apimachinery.pkg.api.resource"
        {
            continue;
        }
        for field in message.fields() {
            if go_field(defs, &message, &field).is_err() {
                missing.push(format!("{}.{}", message.full_name(), field.name()));
            }
        }
    }
    assert!(missing.is_empty(), "no JSON form for {missing:?}");
}

#[test]
fn every_built_in_type_of_every_release_is_supported() {
    let mut unsupported = Vec::new();
    for resource in csdr_core::releases::builtin_resources() {
        // The CSI snapshot add-on's CRDs: a real API server takes no protobuf for them either.
        if resource.group == "snapshot.storage.k8s.io" {
            assert!(!supports(&format!("{}/v1", resource.group), resource.kind));
            continue;
        }
        for span in resource.served {
            let api_version = if resource.group.is_empty() {
                span.version.to_string()
            } else {
                format!("{}/{}", resource.group, span.version)
            };
            if !supports(&api_version, resource.kind) {
                unsupported.push(format!("{api_version} {}", resource.kind));
            }
        }
    }
    // Subresource bodies.
    for (api_version, kind) in [
        ("autoscaling/v1", "Scale"),
        ("apps/v1beta1", "Scale"),
        ("extensions/v1beta1", "Scale"),
        ("policy/v1", "Eviction"),
        ("policy/v1beta1", "Eviction"),
        ("authentication/v1", "TokenRequest"),
        ("v1", "Binding"),
    ] {
        if !supports(api_version, kind) {
            unsupported.push(format!("{api_version} {kind}"));
        }
    }
    assert!(unsupported.is_empty(), "no protobuf for {unsupported:?}");
    // Not objects: no metadata.
    assert!(!supports("v1", "ObjectMeta"));
    assert!(!supports("apps/v1", "DeploymentSpec"));
}

#[test]
fn a_custom_resource_body_is_refused_naming_its_type() {
    let err = encode(&json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {}}))
        .unwrap_err();
    assert!(matches!(err, ProtobufError::UnknownType { .. }));
    // A body of a custom resource, as a client would build it around a JSON object.
    let mut body =
        encode(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})).unwrap();
    let needle = b"ConfigMap";
    let at = body
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    body[at..at + needle.len()].copy_from_slice(b"Configmop");
    let status = decode_body(&body).unwrap_err();
    assert_eq!(status.code, 415);
    assert!(
        status.message.contains("v1, Kind=Configmop"),
        "{}",
        status.message
    );
}

#[test]
fn malformed_bodies_are_bad_requests() {
    assert_eq!(decode_body(b"{\"kind\":\"x\"}").unwrap_err().code, 400);
    // A Namespace whose typed message is cut short inside `metadata`.
    let body = encode(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}))
        .unwrap();
    let defs = definitions().unwrap();
    let unknown = defs.pool.get_message_by_name(UNKNOWN).unwrap();
    let mut envelope = DynamicMessage::decode(unknown, &body[4..]).unwrap();
    let Some(Proto::Bytes(raw)) = envelope.get_field_by_name("raw").map(|v| v.into_owned()) else {
        panic!("no raw field");
    };
    envelope.set_field_by_name("raw", Proto::Bytes(raw.slice(..raw.len() - 1)));
    let mut body = MAGIC.to_vec();
    body.extend(envelope.encode_to_vec());
    let status = decode_body(&body).unwrap_err();
    assert!(
        status.message.contains("v1, Kind=Namespace"),
        "{}",
        status.message
    );
    assert_eq!(status.code, 400, "{}", status.message);
}

#[test]
fn only_protobuf_accept_headers_are_refused() {
    assert!(not_acceptable("application/vnd.kubernetes.protobuf").is_some());
    assert!(not_acceptable("application/vnd.kubernetes.protobuf;type=watch").is_some());
    assert!(not_acceptable("application/vnd.kubernetes.protobuf,application/json").is_none());
    assert!(not_acceptable("application/vnd.kubernetes.protobuf, */*").is_none());
    assert!(not_acceptable("").is_none());
    assert!(not_acceptable("application/json").is_none());
}

#[test]
fn go_durations_read_and_write_as_go_does() {
    for (nanos, text) in [
        (0, "0s"),
        (1_500, "1.5µs"),
        (150_000_000, "150ms"),
        (90_000_000_000, "1m30s"),
        (3_600_000_000_000, "1h0m0s"),
        (3_723_500_000_000, "1h2m3.5s"),
        (-2_000_000_000, "-2s"),
    ] {
        assert_eq!(go_duration(nanos), text);
        assert_eq!(parse_go_duration(text), Some(nanos), "{text}");
    }
}

#[test]
fn special_types_round_trip() {
    // A Lease (MicroTime), an Event (Time, MicroTime), a CRD schema (JSON, $ref, x-kubernetes-*,
    // OrBool, OrArray, OrStringArray), a ControllerRevision (RawExtension) and managedFields
    // (FieldsV1).
    let objects = [
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "l", "namespace": "ns"},
            "spec": {"holderIdentity": "me", "leaseDurationSeconds": 0,
                     "renewTime": "2024-01-02T03:04:05.123456Z"}}),
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": {"type": "object",
                        "x-kubernetes-preserve-unknown-fields": true,
                        "properties": {
                            "spec": {"type": "object", "default": {"a": [1, "b"]},
                                "additionalProperties": {"type": "string"}},
                            "list": {"type": "array", "items": {"type": "integer", "maximum": 2.5}},
                            "tuple": {"type": "array", "items": [{"type": "string"}]},
                            "closed": {"type": "object", "additionalProperties": false},
                            "dep": {"type": "object",
                                "dependencies": {"a": ["b"], "c": {"required": ["d"]}}},
                            "ref": {"$ref": "#/x"}
                        }}}}]},
            "status": {"conditions": [{"type": "Established", "status": "True",
                "lastTransitionTime": "2024-01-02T03:04:05Z"}],
                "acceptedNames": {"plural": "widgets", "kind": "Widget"}, "storedVersions": ["v1"]}}),
        json!({"apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": "r", "namespace": "ns", "managedFields": [{"manager": "kubectl",
                "operation": "Update", "apiVersion": "apps/v1", "time": "2024-01-02T03:04:05Z",
                "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {}}}]},
            "data": {"spec": {"template": {"x": 1}}}, "revision": 3}),
    ];
    for object in objects {
        let back = decode(&encode(&object).unwrap()).unwrap();
        assert_same(
            &strip_nulls(back),
            &object,
            object["kind"].as_str().unwrap(),
        );
    }
}

/// `null` and absent are the same in Kubernetes JSON.
fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

// ---- generated objects: JSON → protobuf → JSON ----
//
// Each generator writes an object the way Go's encoding/json writes it (non-pointer structs
// always present, omitted empty strings, present zero pointers), so the round trip must give
// it back exactly, `null`s aside.

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,10}[a-z0-9]"
}

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ./:_-]{1,16}"
}

fn labels() -> impl Strategy<Value = Option<BTreeMap<String, String>>> {
    prop::option::of(prop::collection::btree_map(
        "[a-z]{1,5}(\\.io/[a-z]{1,5})?",
        "[a-z0-9]{0,6}",
        1..3,
    ))
}

fn time() -> impl Strategy<Value = String> {
    (0i64..4_000_000_000).prop_map(|s| {
        jiff::Timestamp::new(s, 0)
            .unwrap()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    })
}

fn micro_time() -> impl Strategy<Value = String> {
    (0i64..4_000_000_000, 0i32..1_000_000).prop_map(|(s, us)| {
        jiff::Timestamp::new(s, us * 1000)
            .unwrap()
            .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string()
    })
}

fn quantity() -> impl Strategy<Value = String> {
    prop_oneof![
        (1u32..64).prop_map(|n| format!("{n}Gi")),
        (1u32..999).prop_map(|n| format!("{n}m")),
        (1u32..16).prop_map(|n| n.to_string()),
    ]
}

/// Sets `key` when the value is present.
fn put(object: &mut Value, key: &str, value: Option<impl Into<Value>>) {
    if let Some(v) = value {
        object[key] = v.into();
    }
}

fn metadata(namespaced: bool) -> impl Strategy<Value = Value> {
    (
        name(),
        labels(),
        labels(),
        prop::option::of(time()),
        prop::option::of(1i64..100),
        prop::option::of("[0-9]{1,6}"),
        prop::option::of(prop::collection::vec("example.com/[a-z]{1,6}", 1..3)),
        prop::option::of((name(), any::<bool>())),
    )
        .prop_map(
            move |(name, labels, annotations, created, generation, rv, finalizers, owner)| {
                let mut m = json!({"name": name});
                if namespaced {
                    m["namespace"] = json!("shop");
                }
                put(&mut m, "labels", labels.map(|l| json!(l)));
                put(&mut m, "annotations", annotations.map(|l| json!(l)));
                put(&mut m, "creationTimestamp", created);
                put(&mut m, "generation", generation);
                put(&mut m, "resourceVersion", rv);
                put(&mut m, "finalizers", finalizers);
                put(
                    &mut m,
                    "ownerReferences",
                    owner.map(|(n, controller)| {
                        json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": n,
                            "uid": "0b7f-11", "controller": controller}])
                    }),
                );
                m
            },
        )
}

fn container() -> impl Strategy<Value = Value> {
    (
        name(),
        prop::option::of(text()),
        prop::option::of(prop::collection::vec(text(), 1..3)),
        prop::option::of((1i64..65535, prop::option::of(prop_oneof![Just("TCP"), Just("UDP")]))),
        prop::option::of((name(), text())),
        prop::option::of((quantity(), quantity())),
        prop::option::of(prop_oneof![
            (1i64..65535).prop_map(Value::from),
            name().prop_map(Value::from)
        ]),
    )
        .prop_map(|(name, image, command, port, env, resources, probe_port)| {
            let mut c = json!({"name": name, "resources": {}});
            put(&mut c, "image", image);
            put(&mut c, "command", command);
            put(
                &mut c,
                "ports",
                port.map(|(p, proto)| {
                    let mut port = json!({"containerPort": p});
                    put(&mut port, "protocol", proto);
                    json!([port])
                }),
            );
            put(
                &mut c,
                "env",
                env.map(|(n, v)| json!([{"name": n, "value": v},
                    {"name": "FROM", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}])),
            );
            if let Some((cpu, memory)) = resources {
                c["resources"] = json!({"limits": {"memory": memory}, "requests": {"cpu": cpu}});
            }
            put(
                &mut c,
                "livenessProbe",
                probe_port.map(|p| json!({"httpGet": {"path": "/healthz", "port": p},
                    "initialDelaySeconds": 3})),
            );
            c
        })
}

fn pod_spec() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(container(), 1..3),
        prop::option::of(prop_oneof![Just("Always"), Just("Never")]),
        prop::option::of(0i64..60),
        prop::option::of(name()),
        any::<bool>(),
    )
        .prop_map(|(containers, restart, grace, cm, empty_dir)| {
            let mut s = json!({"containers": containers});
            put(&mut s, "restartPolicy", restart);
            put(&mut s, "terminationGracePeriodSeconds", grace);
            let mut volumes = Vec::new();
            if let Some(cm) = cm {
                volumes
                    .push(json!({"name": "config", "configMap": {"name": cm, "defaultMode": 420}}));
            }
            if empty_dir {
                volumes.push(json!({"name": "scratch", "emptyDir": {}}));
            }
            if !volumes.is_empty() {
                s["volumes"] = json!(volumes);
            }
            s
        })
}

fn template() -> impl Strategy<Value = Value> {
    (labels(), pod_spec()).prop_map(|(labels, spec)| {
        let mut metadata = json!({});
        put(&mut metadata, "labels", labels.map(|l| json!(l)));
        json!({"metadata": metadata, "spec": spec})
    })
}

fn job_spec() -> impl Strategy<Value = Value> {
    (
        template(),
        prop::option::of(0i64..6),
        prop::option::of(0i64..100),
    )
        .prop_map(|(template, backoff, ttl)| {
            let mut spec = json!({"template": template});
            put(&mut spec, "backoffLimit", backoff);
            put(&mut spec, "ttlSecondsAfterFinished", ttl);
            spec
        })
}

fn object(api_version: &str, kind: &str, metadata: Value, rest: Value) -> Value {
    let mut o = json!({"apiVersion": api_version, "kind": kind, "metadata": metadata});
    if let Value::Object(rest) = rest {
        for (k, v) in rest {
            o[k] = v;
        }
    }
    o
}

fn common_object() -> impl Strategy<Value = Value> {
    let namespace = (metadata(false), prop::option::of(Just("Active"))).prop_map(|(m, phase)| {
        let mut status = json!({});
        put(&mut status, "phase", phase);
        object("v1", "Namespace", m, json!({"spec": {}, "status": status}))
    });
    let config_map = (
        metadata(true),
        prop::option::of(prop::collection::btree_map(
            "[a-z.]{1,8}",
            "[ -~]{0,12}",
            1..4,
        )),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..16)),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(m, data, binary, immutable)| {
            let mut o = object("v1", "ConfigMap", m, json!({}));
            put(&mut o, "data", data.map(|d| json!(d)));
            put(
                &mut o,
                "binaryData",
                binary.map(|b| json!({"bin": BASE64.encode(b)})),
            );
            put(&mut o, "immutable", immutable);
            o
        });
    let secret = (
        metadata(true),
        prop::collection::btree_map(
            "[a-z]{1,8}",
            prop::collection::vec(any::<u8>(), 0..24),
            1..4,
        ),
        prop::option::of(prop_oneof![Just("Opaque"), Just("kubernetes.io/tls")]),
    )
        .prop_map(|(m, data, kind)| {
            let data: BTreeMap<String, String> = data
                .into_iter()
                .map(|(k, v)| (k, BASE64.encode(v)))
                .collect();
            let mut o = object("v1", "Secret", m, json!({"data": data}));
            put(&mut o, "type", kind);
            o
        });
    let pod = (
        metadata(true),
        pod_spec(),
        prop::option::of((time(), "10\\.0\\.[0-9]{1,2}\\.[0-9]{1,2}")),
    )
        .prop_map(|(m, spec, started)| {
            let mut status = json!({});
            if let Some((t, ip)) = started {
                status = json!({"phase": "Running", "podIP": ip, "startTime": t,
                    "conditions": [{"type": "Ready", "status": "True",
                        "lastTransitionTime": t}]});
            }
            object("v1", "Pod", m, json!({"spec": spec, "status": status}))
        });
    let deployment = (
        metadata(true),
        prop::option::of(0i64..10),
        template(),
        prop::option::of((
            prop_oneof![Just(json!(1)), Just(json!("25%"))],
            prop_oneof![Just(json!(0)), Just(json!("50%"))],
        )),
        prop::option::of(1i64..20),
    )
        .prop_map(|(m, replicas, template, rolling, history)| {
            let mut spec = json!({"selector": {"matchLabels": {"app": "web"}},
                "template": template, "strategy": {}});
            put(&mut spec, "replicas", replicas);
            put(&mut spec, "revisionHistoryLimit", history);
            if let Some((surge, unavailable)) = rolling {
                spec["strategy"] = json!({"type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}});
            }
            object(
                "apps/v1",
                "Deployment",
                m,
                json!({"spec": spec, "status": {}}),
            )
        });
    let service = (
        metadata(true),
        prop::collection::vec(
            (
                1i64..65535,
                prop_oneof![
                    (1i64..65535).prop_map(Value::from),
                    name().prop_map(Value::from)
                ],
                prop::option::of(name()),
            ),
            1..3,
        ),
        prop::option::of(prop_oneof![Just("ClusterIP"), Just("NodePort")]),
        labels(),
    )
        .prop_map(|(m, ports, kind, selector)| {
            let ports: Vec<Value> = ports
                .into_iter()
                .map(|(port, target, name)| {
                    let mut p = json!({"port": port, "targetPort": target, "protocol": "TCP"});
                    put(&mut p, "name", name);
                    p
                })
                .collect();
            let mut spec = json!({"ports": ports});
            put(&mut spec, "type", kind);
            put(&mut spec, "selector", selector.map(|s| json!(s)));
            object(
                "v1",
                "Service",
                m,
                json!({"spec": spec, "status": {"loadBalancer": {}}}),
            )
        });
    let pvc = (
        metadata(true),
        quantity(),
        prop::option::of(prop_oneof![Just(String::new()), name()]),
        prop::option::of(Just("Filesystem")),
    )
        .prop_map(|(m, size, class, mode)| {
            let mut spec = json!({"accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": size}}});
            put(&mut spec, "storageClassName", class);
            put(&mut spec, "volumeMode", mode);
            object(
                "v1",
                "PersistentVolumeClaim",
                m,
                json!({"spec": spec, "status": {}}),
            )
        });
    let ingress = (
        metadata(true),
        prop::option::of(name()),
        name(),
        prop_oneof![
            (1i64..65535).prop_map(|n| json!({"number": n})),
            name().prop_map(|n| json!({"name": n}))
        ],
    )
        .prop_map(|(m, class, backend, port)| {
            let mut spec = json!({"rules": [{"host": "shop.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": backend, "port": port}}}]}}],
                "tls": [{"hosts": ["shop.example.com"], "secretName": "tls"}]});
            put(&mut spec, "ingressClassName", class);
            object(
                "networking.k8s.io/v1",
                "Ingress",
                m,
                json!({"spec": spec, "status": {"loadBalancer": {}}}),
            )
        });
    let job = (metadata(true), job_spec())
        .prop_map(|(m, spec)| object("batch/v1", "Job", m, json!({"spec": spec, "status": {}})));
    let cron_job = (
        metadata(true),
        job_spec(),
        prop::option::of(any::<bool>()),
        prop::option::of(Just("Forbid")),
    )
        .prop_map(|(m, spec, suspend, policy)| {
            let mut cron = json!({"schedule": "*/5 * * * *",
                "jobTemplate": {"metadata": {}, "spec": spec}});
            put(&mut cron, "suspend", suspend);
            put(&mut cron, "concurrencyPolicy", policy);
            object(
                "batch/v1",
                "CronJob",
                m,
                json!({"spec": cron, "status": {}}),
            )
        });
    let role = (
        metadata(true),
        prop::collection::vec(
            (
                prop::collection::vec("get|list|watch", 1..3),
                prop::option::of(prop::collection::vec(name(), 1..3)),
            ),
            1..3,
        ),
    )
        .prop_map(|(m, rules)| {
            let rules: Vec<Value> = rules
                .into_iter()
                .map(|(verbs, resources)| {
                    let mut r = json!({"verbs": verbs, "apiGroups": [""]});
                    put(&mut r, "resources", resources);
                    r
                })
                .collect();
            object(
                "rbac.authorization.k8s.io/v1",
                "Role",
                m,
                json!({"rules": rules}),
            )
        });
    let role_binding = (metadata(true), name(), prop::collection::vec(name(), 1..3)).prop_map(
        |(m, role, users)| {
            let subjects: Vec<Value> = users
                .into_iter()
                .map(|u| json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": u}))
                .collect();
            object("rbac.authorization.k8s.io/v1", "RoleBinding", m, json!({"subjects": subjects,
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role}}))
        },
    );
    let core_event = (metadata(true), name(), time(), prop::option::of(micro_time()), 1i64..50)
        .prop_map(|(m, pod, t, event_time, count)| {
            let mut o = object("v1", "Event", m, json!({
                "involvedObject": {"kind": "Pod", "namespace": "shop", "name": pod,
                    "apiVersion": "v1", "fieldPath": "spec.containers{web}"},
                "reason": "Pulled", "message": "pulled the image", "source": {"component": "kubelet"},
                "firstTimestamp": t, "lastTimestamp": t, "count": count, "type": "Normal",
                "reportingComponent": "", "reportingInstance": ""}));
            put(&mut o, "eventTime", event_time);
            o
        });
    let event = (
        metadata(true),
        micro_time(),
        prop::option::of((1i64..9, micro_time())),
    )
        .prop_map(|(m, t, series)| {
            let mut o = object(
                "events.k8s.io/v1",
                "Event",
                m,
                json!({"eventTime": t,
                "reportingController": "kubelet", "reportingInstance": "node-1", "action": "Pull",
                "reason": "Pulled", "regarding": {"kind": "Pod", "name": "web"}, "note": "ok",
                "type": "Normal", "deprecatedSource": {}}),
            );
            put(
                &mut o,
                "series",
                series.map(|(c, last)| json!({"count": c, "lastObservedTime": last})),
            );
            o
        });
    let lease = (
        metadata(true),
        prop::option::of(name()),
        prop::option::of(0i64..60),
        prop::option::of(micro_time()),
        prop::option::of(0i64..5),
    )
        .prop_map(|(m, holder, duration, renew, transitions)| {
            let mut spec = json!({});
            put(&mut spec, "holderIdentity", holder);
            put(&mut spec, "leaseDurationSeconds", duration);
            put(&mut spec, "renewTime", renew.clone());
            put(&mut spec, "acquireTime", renew);
            put(&mut spec, "leaseTransitions", transitions);
            object("coordination.k8s.io/v1", "Lease", m, json!({"spec": spec}))
        });
    prop_oneof![
        namespace,
        config_map,
        secret,
        pod,
        deployment,
        service,
        pvc,
        ingress,
        job,
        cron_job,
        role,
        role_binding,
        core_event,
        event,
        lease
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn common_kinds_round_trip_through_protobuf(object in common_object()) {
        let body = encode(&object).unwrap();
        prop_assert!(body.starts_with(MAGIC));
        let back = strip_nulls(decode(&body).unwrap());
        prop_assert_eq!(&back, &object);
    }
}
