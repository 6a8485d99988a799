//! Test support shared by the transformation tests (compiled only under `cfg(test)`):
//! proptest strategies for arbitrary JSON values and Kubernetes objects, and helpers that
//! check a transformation's laws — idempotence and "touches only the JSON paths it owns".
//!
//! Paths are JSON pointers (`/spec/containers/0/image`, `/` inside a key written `~1`).
//! Ownership patterns are pointers whose segments may be `*` (any one segment) or a final
//! `**` (anything below, including the path itself). Being test-only, the module cannot be
//! shown as a doctest; a property test reads:
//!
//! ```text
//! proptest! {
//!     #[test]
//!     fn laws(obj in arb_kube_object(&[("v1", "Service")], arb_body(&KUBE_VOCABULARY, 4))) {
//!         assert_transformation_laws(services, &ctx(), obj, &["/spec/clusterIP"]);
//!     }
//! }
//! ```

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use serde_json::{Map, Value};

use crate::object::KubeObject;
use crate::transform::{TransformContext, TransformFn};

/// Keys and string values the generators draw from, so that random objects hit the fields
/// transformations look at.
pub(crate) struct Vocabulary {
    /// Object keys.
    pub keys: &'static [&'static str],
    /// String leaves (arbitrary short strings are generated as well).
    pub strings: &'static [&'static str],
}

/// A vocabulary of the Kubernetes fields the restore transformations read and write.
pub(crate) const KUBE_VOCABULARY: Vocabulary = Vocabulary {
    keys: &[
        "spec",
        "status",
        "metadata",
        "template",
        "jobTemplate",
        "containers",
        "initContainers",
        "ephemeralContainers",
        "image",
        "name",
        "namespace",
        "labels",
        "annotations",
        "volumes",
        "volumeMounts",
        "projected",
        "sources",
        "serviceAccountToken",
        "secret",
        "serviceAccountName",
        "nodeName",
        "priority",
        "priorityClassName",
        "selector",
        "matchLabels",
        "controller-uid",
        "batch.kubernetes.io/controller-uid",
        "type",
        "clusterIP",
        "clusterIPs",
        "externalTrafficPolicy",
        "healthCheckNodePort",
        "ports",
        "nodePort",
        "loadBalancer",
        "ingress",
        "claimRef",
        "subjects",
        "kind",
        "volumeSnapshotRef",
        "uid",
        "resourceVersion",
        "ownerReferences",
        "managedFields",
        "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-id",
        "kubernetes.io/metadata.name",
        "x",
    ],
    strings: &[
        "",
        "None",
        "ClusterIP",
        "NodePort",
        "LoadBalancer",
        "ExternalName",
        "Local",
        "Cluster",
        "ServiceAccount",
        "User",
        "default",
        "kube-api-access-7xk2p",
        "default-token-abcde",
        "nginx",
        "nginx:1.25",
        "docker.io/library/nginx:1.25",
        "localhost:5000/app:v1",
        "registry.example.com:5000/team/app:v1",
        "app1:v1",
        "app2",
        "busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        "Not A Valid Image",
        "source",
        "team-a",
        "10.96.0.10",
        "lb-2ze1234567890",
    ],
};

/// Any JSON value built from `vocab`, nested up to `depth` levels.
pub(crate) fn arb_json(vocab: &'static Vocabulary, depth: u32) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-2i64..70_000).prop_map(Value::from),
        prop::sample::select(vocab.strings).prop_map(|s| Value::String(s.to_string())),
        "[a-zA-Z0-9:/@._-]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(depth, 64, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(vocab.keys), inner), 0..5).prop_map(
                |entries| {
                    Value::Object(
                        entries
                            .into_iter()
                            .map(|(k, v)| (k.to_string(), v))
                            .collect(),
                    )
                }
            ),
        ]
    })
    .boxed()
}

/// A JSON object (the fields of an object besides `apiVersion`, `kind` and `metadata`) with
/// keys from `vocab`.
pub(crate) fn arb_body(
    vocab: &'static Vocabulary,
    depth: u32,
) -> BoxedStrategy<Map<String, Value>> {
    prop::collection::vec(
        (prop::sample::select(vocab.keys), arb_json(vocab, depth)),
        0..4,
    )
    .prop_map(|entries| {
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    })
    .boxed()
}

/// A Kubernetes object of one of `types` (`(apiVersion, kind)`), with a name, maybe a
/// namespace, random metadata (labels, annotations, server-set fields, junk) and `body` merged
/// in at the top level.
pub(crate) fn arb_kube_object(
    types: &'static [(&'static str, &'static str)],
    body: BoxedStrategy<Map<String, Value>>,
) -> BoxedStrategy<KubeObject> {
    let metadata = (
        "[a-z][a-z0-9-]{0,8}",
        prop::option::of(prop::sample::select(
            &["source", "team-a", "default", "other"][..],
        )),
        arb_body(&KUBE_VOCABULARY, 2),
    );
    (prop::sample::select(types), metadata, body)
        .prop_map(|((api_version, kind), (name, namespace, extra), body)| {
            let mut meta = extra;
            meta.insert("name".into(), Value::String(name));
            match namespace {
                Some(ns) => meta.insert("namespace".into(), Value::String(ns.to_string())),
                None => meta.remove("namespace"),
            };
            let mut fields = body;
            fields.insert("apiVersion".into(), Value::String(api_version.to_string()));
            fields.insert("kind".into(), Value::String(kind.to_string()));
            fields.insert("metadata".into(), Value::Object(meta));
            KubeObject::new(Value::Object(fields)).expect("generated objects have an identity")
        })
        .boxed()
}

/// Where pod specs live in the built-in kinds (`spec`, `spec.template.spec`, …), as JSON
/// object key paths.
pub(crate) const POD_SPEC_PATHS: &[&[&str]] = &[
    &["spec"],
    &["template", "spec"],
    &["spec", "template", "spec"],
    &["spec", "jobTemplate", "spec", "template", "spec"],
];

/// Image references, valid and not, as found in containers.
pub(crate) const IMAGES: &[&str] = &[
    "nginx",
    "nginx:1.25",
    "docker.io/library/nginx:1.25",
    "index.docker.io/library/redis:7",
    "bitnami/redis:7.2",
    "app1:v1",
    "app1",
    "app2:v1",
    "localhost:5000/app:v1",
    "registry.example.com:5000/team/app:v1",
    "[::1]:5000/app",
    "busybox@sha256:2f0a8f7c3a4e1c1d5f0e9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d",
    "nginx:1.25@sha256:2f0a8f7c3a4e1c1d5f0e9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d",
    "docker.io/library/mirror/nginx:1.25",
    "",
    "Not A Valid Image",
];

/// A container with a name, an image from [`IMAGES`] (or none), volume mounts and random
/// fields.
pub(crate) fn arb_container() -> BoxedStrategy<Value> {
    (
        "[a-z]{1,6}",
        prop::option::of(prop::sample::select(IMAGES)),
        prop::collection::vec(prop::sample::select(VOLUME_NAMES), 0..3),
        arb_body(&KUBE_VOCABULARY, 2),
    )
        .prop_map(|(name, image, mounts, extra)| {
            let mut container = extra;
            container.insert("name".into(), Value::String(name));
            match image {
                Some(image) => container.insert("image".into(), Value::String(image.into())),
                None => container.remove("image"),
            };
            let mounts = mounts
                .into_iter()
                .map(|m| serde_json::json!({"name": m, "mountPath": format!("/mnt/{m}")}))
                .collect();
            container.insert("volumeMounts".into(), Value::Array(mounts));
            Value::Object(container)
        })
        .boxed()
}

/// Volume names a pod spec may carry, service-account token volumes included.
const VOLUME_NAMES: &[&str] = &[
    "data",
    "kube-api-access-7xk2p",
    "default-token-abcde",
    "web-token-zzz",
];

/// A volume named from [`VOLUME_NAMES`], projected (with or without a token source), secret
/// or PVC.
pub(crate) fn arb_volume() -> BoxedStrategy<Value> {
    (prop::sample::select(VOLUME_NAMES), 0..4u8)
        .prop_map(|(name, source)| match source {
            0 => serde_json::json!({"name": name, "projected": {"sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt"}}]}}),
            1 => serde_json::json!({"name": name, "projected": {"sources": [{"configMap": {"name": "x"}}]}}),
            2 => serde_json::json!({"name": name, "secret": {"secretName": name}}),
            _ => serde_json::json!({"name": name, "persistentVolumeClaim": {"claimName": name}}),
        })
        .boxed()
}

/// A pod spec: container lists, volumes, scheduling fields and random fields.
pub(crate) fn arb_pod_spec() -> BoxedStrategy<Value> {
    (
        prop::collection::vec(arb_container(), 0..3),
        prop::collection::vec(arb_container(), 0..2),
        prop::collection::vec(arb_container(), 0..2),
        prop::collection::vec(arb_volume(), 0..3),
        prop::option::of(prop::sample::select(&["default", "web", ""][..])),
        arb_body(&KUBE_VOCABULARY, 2),
    )
        .prop_map(|(containers, init, ephemeral, volumes, sa, extra)| {
            let mut spec = extra;
            spec.insert("containers".into(), Value::Array(containers));
            spec.insert("initContainers".into(), Value::Array(init));
            spec.insert("ephemeralContainers".into(), Value::Array(ephemeral));
            spec.insert("volumes".into(), Value::Array(volumes));
            spec.insert("nodeName".into(), Value::String("node-1".into()));
            spec.insert("priority".into(), Value::from(1000));
            if let Some(sa) = sa {
                spec.insert("serviceAccountName".into(), Value::String(sa.into()));
            }
            Value::Object(spec)
        })
        .boxed()
}

/// A random body with a pod spec at every path of [`POD_SPEC_PATHS`], so a transformation
/// that looks in the wrong place for a kind is caught.
pub(crate) fn arb_body_with_pod_specs() -> BoxedStrategy<Map<String, Value>> {
    (
        arb_body(&KUBE_VOCABULARY, 3),
        prop::collection::vec(arb_pod_spec(), 4),
    )
        .prop_map(|(mut body, specs)| {
            for (path, pod_spec) in POD_SPEC_PATHS.iter().zip(specs) {
                let mut map = &mut body;
                for key in &path[..path.len() - 1] {
                    let entry = map
                        .entry(key.to_string())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if !entry.is_object() {
                        *entry = Value::Object(Map::new());
                    }
                    map = match entry {
                        Value::Object(m) => m,
                        _ => unreachable!("made an object above"),
                    };
                }
                let last = path[path.len() - 1];
                match (map.get_mut(last), pod_spec) {
                    (Some(Value::Object(existing)), Value::Object(spec)) => existing.extend(spec),
                    (_, spec) => {
                        map.insert(last.to_string(), spec);
                    }
                }
            }
            body
        })
        .boxed()
}

/// Every leaf of `value` by JSON pointer; empty objects and arrays count as leaves so that
/// `{}` and a missing field differ.
pub(crate) fn flatten(value: &Value) -> BTreeMap<String, Value> {
    fn walk(prefix: String, value: &Value, out: &mut BTreeMap<String, Value>) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (k, v) in map {
                    let key = k.replace('~', "~0").replace('/', "~1");
                    walk(format!("{prefix}/{key}"), v, out);
                }
            }
            Value::Array(items) if !items.is_empty() => {
                for (i, v) in items.iter().enumerate() {
                    walk(format!("{prefix}/{i}"), v, out);
                }
            }
            leaf => {
                out.insert(prefix, leaf.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(String::new(), value, &mut out);
    out
}

/// The leaf paths whose value differs between `before` and `after` (added, removed or
/// changed).
pub(crate) fn changed_paths(before: &Value, after: &Value) -> BTreeSet<String> {
    let (a, b) = (flatten(before), flatten(after));
    a.keys()
        .chain(b.keys())
        .filter(|p| a.get(*p) != b.get(*p))
        .cloned()
        .collect()
}

/// Whether a JSON pointer matches an ownership pattern (`*` = one segment, final `**` = the
/// path itself or anything below it).
pub(crate) fn path_matches(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('/').skip(1).collect();
    let path: Vec<&str> = path.split('/').skip(1).collect();
    for (i, segment) in pattern.iter().enumerate() {
        if *segment == "**" {
            return true;
        }
        match path.get(i) {
            Some(p) if *segment == "*" || segment == p => {}
            _ => return false,
        }
    }
    pattern.len() == path.len()
}

/// Panics unless every path changed between `before` and `after` matches one of `owned`.
/// A container left empty because every field removed from it was owned (removing the only
/// owned field of `spec` leaves `spec: {}`) is not a foreign change.
pub(crate) fn assert_only_paths_changed(before: &Value, after: &Value, owned: &[&str]) {
    let leaves_before = flatten(before);
    // Owning a field means owning everything below it: replacing or removing an owned field
    // whose value is an object changes the paths under it too.
    let is_owned = |p: &str| {
        let mut prefix = p;
        loop {
            if owned.iter().any(|o| path_matches(o, prefix)) {
                return true;
            }
            match prefix.rfind('/') {
                Some(0) | None => return false,
                Some(i) => prefix = &prefix[..i],
            }
        }
    };
    let emptied_by_owned_removals = |p: &str| {
        let emptied = matches!(after.pointer(p), Some(Value::Object(m)) if m.is_empty())
            || matches!(after.pointer(p), Some(Value::Array(a)) if a.is_empty());
        let prefix = format!("{p}/");
        let mut below = leaves_before
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .peekable();
        emptied && below.peek().is_some() && below.all(|k| is_owned(k))
    };
    let foreign: Vec<String> = changed_paths(before, after)
        .into_iter()
        .filter(|p| !is_owned(p) && !emptied_by_owned_removals(p))
        .collect();
    assert!(
        foreign.is_empty(),
        "changed paths it does not own: {foreign:?}\nbefore: {before}\nafter: {after}"
    );
}

/// Applies `transform` twice and panics unless the second application changes nothing, the
/// first changes only `owned` paths, the object keeps its identity (apiVersion, kind), and
/// both applications report `changed` exactly when their output differs from their input.
/// Returns the first result (or `None` if the transformation refused the object).
pub(crate) fn assert_transformation_laws(
    transform: TransformFn,
    ctx: &TransformContext,
    object: KubeObject,
    owned: &[&str],
) -> Option<crate::transform::Transformed> {
    let input = object.clone();
    let before = object.to_value();
    let once = transform(ctx, object).ok()?;
    assert_only_paths_changed(&before, &once.object.to_value(), owned);
    assert_changed_is_exact(&input, &once);
    let twice = transform(ctx, once.object.clone())
        .unwrap_or_else(|e| panic!("second application failed: {e}"));
    assert_eq!(
        twice.object, once.object,
        "not idempotent: the second application changed the object"
    );
    assert_changed_is_exact(&once.object, &twice);
    Some(once)
}

/// Panics unless `out.changed` says whether `out.object` differs from `input`.
pub(crate) fn assert_changed_is_exact(input: &KubeObject, out: &crate::transform::Transformed) {
    assert_eq!(
        out.changed,
        out.object != *input,
        "`changed` is {} but the output {} the input\ninput:  {}\noutput: {}",
        out.changed,
        if out.object != *input {
            "differs from"
        } else {
            "equals"
        },
        input.to_value(),
        out.object.to_value()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flatten_keeps_empty_containers_and_escapes_keys() {
        let flat = flatten(&json!({"a": {}, "b": [], "c": {"x/y": [1, {"z": null}]}}));
        assert_eq!(flat.get("/a"), Some(&json!({})));
        assert_eq!(flat.get("/b"), Some(&json!([])));
        assert_eq!(flat.get("/c/x~1y/0"), Some(&json!(1)));
        assert_eq!(flat.get("/c/x~1y/1/z"), Some(&Value::Null));
    }

    #[test]
    fn changed_paths_sees_additions_removals_and_changes() {
        let changed = changed_paths(
            &json!({"a": 1, "b": {"c": 2}, "d": 3}),
            &json!({"a": 1, "b": {}, "d": 4, "e": 5}),
        );
        let expected: BTreeSet<String> = ["/b", "/b/c", "/d", "/e"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(changed, expected);
    }

    #[test]
    fn patterns() {
        assert!(path_matches("/spec/clusterIP", "/spec/clusterIP"));
        assert!(!path_matches("/spec/clusterIP", "/spec/clusterIPs/0"));
        assert!(path_matches("/spec/clusterIPs/**", "/spec/clusterIPs"));
        assert!(path_matches("/spec/clusterIPs/**", "/spec/clusterIPs/1"));
        assert!(path_matches(
            "/spec/containers/*/image",
            "/spec/containers/3/image"
        ));
        assert!(!path_matches(
            "/spec/containers/*/image",
            "/spec/containers/3/name"
        ));
        assert!(!path_matches(
            "/spec/containers/*/image",
            "/spec/containers"
        ));
    }

    #[test]
    #[should_panic(expected = "does not own")]
    fn foreign_changes_are_reported() {
        assert_only_paths_changed(&json!({"a": 1, "b": 1}), &json!({"a": 2, "b": 2}), &["/a"]);
    }
}
