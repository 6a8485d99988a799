//! Sanitising and labelling (R4): what every restored object loses and gains, whatever it is.
//!
//! [`sanitize`] removes the fields the source cluster's API server set and that would be wrong
//! or rejected in the target (`metadata.generateName` when `name` is set, `selfLink`, `uid`,
//! `resourceVersion`, `generation`, `creationTimestamp`, `deletionTimestamp`,
//! `deletionGracePeriodSeconds`, `ownerReferences`, `managedFields`, and `status`). Labels,
//! annotations and finalizers stay. Each object is labelled `velero.io/backup-name` and
//! `velero.io/restore-name`, names longer than 63 characters shortened exactly as Velero's
//! `label.GetValidName` does (the first 57 characters and the first 6 hex digits of the name's
//! SHA-256), so tools that select Velero-restored objects select csdr's too.
//!
//! Kind-specific rules follow Velero's restore item actions (`pkg/restore/actions`):
//! - core `Pod` (`pod_action.go`): `spec.nodeName` and `spec.priority` are cleared
//!   (`priorityClassName` stays; admission recomputes `priority` from it); service-account token
//!   volumes are dropped with their `volumeMounts` in every container, init container and
//!   ephemeral container. Token volumes are the legacy secret volumes named
//!   `<serviceAccountName>-token-…` (Velero's rule: by name only) and — beyond Velero — the
//!   projected `kube-api-access-…` volumes that the ServiceAccount admission plugin adds since
//!   Kubernetes 1.21 (by name *and* a `serviceAccountToken` projection, so a user's own volume
//!   of that name survives). The target's admission plugin adds a fresh token volume.
//!   Where Velero takes an empty service-account name as `""`, csdr takes Kubernetes' default
//!   `default`.
//! - `batch` `Job` (`job_action.go`): the labels `controller-uid` and
//!   `batch.kubernetes.io/controller-uid` are removed from `spec.selector.matchLabels` and
//!   `spec.template.metadata.labels`; the API server generates new ones for the new uid.
//!
//! ```
//! use csdr_core::model::RestoreSpec;
//! use csdr_core::object::KubeObject;
//! use csdr_core::transform::TransformContext;
//! use csdr_core::transform::sanitize::sanitize;
//! use serde_json::json;
//!
//! let ctx = TransformContext::new(RestoreSpec::new("restore-1", "nightly"));
//! let pod = KubeObject::new(json!({
//!     "apiVersion": "v1", "kind": "Pod",
//!     "metadata": {"name": "web", "namespace": "shop", "uid": "1f0c…", "resourceVersion": "42"},
//!     "spec": {"nodeName": "node-7", "containers": [{"name": "web", "image": "nginx"}]},
//!     "status": {"phase": "Running"},
//! }))?;
//! let out = sanitize(&ctx, pod)?.object;
//! assert_eq!(out.pointer("/metadata/uid"), None);
//! assert_eq!(out.pointer("/spec/nodeName"), None);
//! assert_eq!(out.pointer("/status"), None);
//! assert_eq!(out.label("velero.io/backup-name"), Some("nightly"));
//! assert_eq!(out.label("velero.io/restore-name"), Some("restore-1"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::collections::BTreeSet;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::names::LABEL_VALUE_MAX_LENGTH;
use crate::object::{Fields, KubeObject};
use crate::transform::{CONTAINER_LISTS, TransformContext, TransformError, Transformed};

/// The label naming the backup a restored object came from (Velero's `BackupNameLabel`).
pub const BACKUP_NAME_LABEL: &str = "velero.io/backup-name";
/// The label naming the restore that created an object (Velero's `RestoreNameLabel`).
pub const RESTORE_NAME_LABEL: &str = "velero.io/restore-name";

/// Metadata fields the source cluster set, dropped from every restored object.
pub const SERVER_SET_METADATA: [&str; 9] = [
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
    "managedFields",
];

/// Job labels that carry the source Job's uid.
const JOB_CONTROLLER_UID_LABELS: [&str; 2] =
    ["controller-uid", "batch.kubernetes.io/controller-uid"];

/// Prefix of the projected token volume the ServiceAccount admission plugin adds.
const KUBE_API_ACCESS_PREFIX: &str = "kube-api-access-";

/// Sanitises and labels one object (R4): see the [module documentation](self).
///
/// Never fails: fields of an unexpected shape are left as they are.
pub fn sanitize(ctx: &TransformContext, object: KubeObject) -> Result<Transformed, TransformError> {
    let mut object = object;
    let group = object.api_group();
    let is_pod = group.is_empty() && object.kind() == "Pod";
    let is_job = group == "batch" && object.kind() == "Job";

    let fields = object.fields_mut();
    let before = fields.len();
    fields.retain(|key, _| key != "status");
    let mut changed = fields.len() != before;
    let meta = object.metadata_mut();
    let has_name = meta
        .field("name")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    // One pass over the metadata, in place (the fields kept keep their order).
    let before = meta.len();
    meta.retain(|key, _| {
        !(SERVER_SET_METADATA.contains(&key.as_str()) || (has_name && key == "generateName"))
    });
    changed |= meta.len() != before;

    changed |= object.set_label(BACKUP_NAME_LABEL, &label_value(&ctx.backup.backup_name));
    changed |= object.set_label(RESTORE_NAME_LABEL, &label_value(&ctx.restore.name));

    if (is_pod || is_job)
        && let Some(spec) = object
            .fields_mut()
            .field_mut("spec")
            .and_then(Value::as_object_mut)
    {
        if is_pod {
            changed |= sanitize_pod_spec(spec);
        }
        if is_job {
            changed |= drop_job_controller_uid(spec);
        }
    }
    Ok(Transformed::new(object, changed))
}

/// A name as a label value, shortened the way Velero's `label.GetValidName` does when it is
/// longer than 63 characters: its first 57 characters followed by the first 6 hexadecimal
/// digits of its SHA-256.
pub fn valid_label_value(name: &str) -> String {
    label_value(name).into_owned()
}

/// [`valid_label_value`], borrowing `name` when it is short enough.
fn label_value(name: &str) -> Cow<'_, str> {
    if name.len() <= LABEL_VALUE_MAX_LENGTH {
        return Cow::Borrowed(name);
    }
    let hash = Sha256::digest(name.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    let mut keep = LABEL_VALUE_MAX_LENGTH - 6;
    // Velero slices bytes; Kubernetes names are ASCII, but never split a character.
    while !name.is_char_boundary(keep) {
        keep -= 1;
    }
    Cow::Owned(format!("{}{}", &name[..keep], &hex[..6]))
}

/// Whether a volume (or mount) name is a legacy service-account token volume,
/// `<service_account>-token-…`.
fn is_legacy_token_name(name: &str, service_account: &str) -> bool {
    name.strip_prefix(service_account)
        .is_some_and(|rest| rest.starts_with("-token-"))
}

/// Returns whether the spec changed.
fn sanitize_pod_spec(spec: &mut Map<String, Value>) -> bool {
    let mut changed = spec.remove("nodeName").is_some();
    changed |= spec.remove("priority").is_some();

    let service_account = ["serviceAccountName", "serviceAccount"]
        .iter()
        .filter_map(|f| spec.field(f).and_then(Value::as_str))
        .find(|s| !s.is_empty())
        .unwrap_or("default")
        .to_string();

    let mut dropped: BTreeSet<String> = BTreeSet::new();
    if let Some(Value::Array(volumes)) = spec.field_mut("volumes") {
        let before = volumes.len();
        volumes.retain(|volume| {
            let name = volume.field("name").and_then(Value::as_str).unwrap_or("");
            let is_token = is_legacy_token_name(name, &service_account)
                || (name.starts_with(KUBE_API_ACCESS_PREFIX) && projects_token(volume));
            if is_token {
                dropped.insert(name.to_string());
            }
            !is_token
        });
        changed |= volumes.len() != before;
    }
    for list in CONTAINER_LISTS {
        let Some(Value::Array(containers)) = spec.field_mut(list) else {
            continue;
        };
        for container in containers {
            if let Some(Value::Array(mounts)) = container.field_mut("volumeMounts") {
                let before = mounts.len();
                mounts.retain(|mount| {
                    let name = mount.field("name").and_then(Value::as_str).unwrap_or("");
                    !(is_legacy_token_name(name, &service_account) || dropped.contains(name))
                });
                changed |= mounts.len() != before;
            }
        }
    }
    changed
}

/// Whether a volume is a projected volume with a `serviceAccountToken` source.
fn projects_token(volume: &Value) -> bool {
    volume
        .field("projected")
        .and_then(|p| p.field("sources"))
        .and_then(Value::as_array)
        .is_some_and(|sources| {
            sources
                .iter()
                .any(|s| s.field("serviceAccountToken").is_some())
        })
}

/// Returns whether the spec changed.
fn drop_job_controller_uid(spec: &mut Map<String, Value>) -> bool {
    let selector = spec
        .field_mut("selector")
        .and_then(|s| s.field_mut("matchLabels"));
    let mut changed = remove_controller_uid_labels(selector);
    let template = spec
        .field_mut("template")
        .and_then(|t| t.field_mut("metadata"))
        .and_then(|m| m.field_mut("labels"));
    changed |= remove_controller_uid_labels(template);
    changed
}

/// Returns whether a label was removed.
fn remove_controller_uid_labels(labels: Option<&mut Value>) -> bool {
    let mut changed = false;
    if let Some(Value::Object(labels)) = labels {
        for label in JOB_CONTROLLER_UID_LABELS {
            changed |= labels.remove(label).is_some();
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RestoreSpec;
    use crate::transform::testing::{
        KUBE_VOCABULARY, arb_body, arb_body_with_pod_specs, arb_kube_object,
        assert_transformation_laws,
    };
    use proptest::prelude::*;
    use serde_json::json;

    fn ctx() -> TransformContext {
        TransformContext::new(RestoreSpec::new("restore-20240601", "nightly-20240531"))
    }

    fn obj(value: Value) -> KubeObject {
        KubeObject::new(value).unwrap()
    }

    fn run(value: Value) -> Value {
        sanitize(&ctx(), obj(value)).unwrap().object.into_value()
    }

    #[test]
    fn table() {
        struct Case {
            name: &'static str,
            input: Value,
            expected: Value,
        }
        let labels = json!({"velero.io/backup-name": "nightly-20240531", "velero.io/restore-name": "restore-20240601"});
        let cases = vec![
            Case {
                name: "ConfigMap: server-set metadata and status dropped, labels/annotations/finalizers kept",
                input: json!({
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {
                        "name": "settings", "generateName": "settings-", "namespace": "shop",
                        "selfLink": "/api/v1/namespaces/shop/configmaps/settings",
                        "uid": "3c6f7e0a-2f5b-4c5e-9d1e-0b9e6a1f2a11", "resourceVersion": "81234",
                        "generation": 3, "creationTimestamp": "2024-05-01T10:00:00Z",
                        "deletionTimestamp": "2024-05-31T10:00:00Z", "deletionGracePeriodSeconds": 0,
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "x"}],
                        "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
                        "labels": {"app": "web"}, "annotations": {"team": "a"},
                        "finalizers": ["example.com/keep"]
                    },
                    "data": {"mode": "prod"},
                    "status": {"anything": true}
                }),
                expected: json!({
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {
                        "name": "settings", "namespace": "shop",
                        "labels": {"app": "web", "velero.io/backup-name": "nightly-20240531", "velero.io/restore-name": "restore-20240601"},
                        "annotations": {"team": "a"}, "finalizers": ["example.com/keep"]
                    },
                    "data": {"mode": "prod"}
                }),
            },
            Case {
                name: "Pod: nodeName/priority cleared, kube-api-access projected volume and mounts dropped everywhere",
                input: json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "web-0", "namespace": "shop"},
                    "spec": {
                        "nodeName": "cn-beijing.10.0.0.7", "priority": 1000, "priorityClassName": "high",
                        "serviceAccountName": "web",
                        "containers": [{"name": "web", "image": "nginx:1.25", "volumeMounts": [
                            {"name": "data", "mountPath": "/data"},
                            {"name": "kube-api-access-7xk2p", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}
                        ]}],
                        "initContainers": [{"name": "init", "image": "busybox", "volumeMounts": [
                            {"name": "kube-api-access-7xk2p", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
                        ]}],
                        "ephemeralContainers": [{"name": "debug", "image": "busybox", "volumeMounts": [
                            {"name": "kube-api-access-7xk2p", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
                        ]}],
                        "volumes": [
                            {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0"}},
                            {"name": "kube-api-access-7xk2p", "projected": {"defaultMode": 420, "sources": [
                                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
                            ]}}
                        ]
                    },
                    "status": {"phase": "Running", "podIP": "172.20.1.5"}
                }),
                expected: json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "web-0", "namespace": "shop", "labels": labels.clone()},
                    "spec": {
                        "priorityClassName": "high", "serviceAccountName": "web",
                        "containers": [{"name": "web", "image": "nginx:1.25", "volumeMounts": [
                            {"name": "data", "mountPath": "/data"}
                        ]}],
                        "initContainers": [{"name": "init", "image": "busybox", "volumeMounts": []}],
                        "ephemeralContainers": [{"name": "debug", "image": "busybox", "volumeMounts": []}],
                        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0"}}]
                    }
                }),
            },
            Case {
                name: "Pod: legacy <sa>-token-* secret volume dropped (default SA when unnamed); a user volume named kube-api-access-* kept",
                input: json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "old", "namespace": "shop"},
                    "spec": {
                        "containers": [{"name": "app", "image": "app:v1", "volumeMounts": [
                            {"name": "default-token-x7k2q", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"},
                            {"name": "kube-api-access-mine", "mountPath": "/mine"}
                        ]}],
                        "volumes": [
                            {"name": "default-token-x7k2q", "secret": {"secretName": "default-token-x7k2q"}},
                            {"name": "kube-api-access-mine", "configMap": {"name": "mine"}}
                        ]
                    }
                }),
                expected: json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "old", "namespace": "shop", "labels": labels.clone()},
                    "spec": {
                        "containers": [{"name": "app", "image": "app:v1", "volumeMounts": [
                            {"name": "kube-api-access-mine", "mountPath": "/mine"}
                        ]}],
                        "volumes": [{"name": "kube-api-access-mine", "configMap": {"name": "mine"}}]
                    }
                }),
            },
            Case {
                name: "Job: controller-uid selector and template labels dropped, job-name kept",
                input: json!({
                    "apiVersion": "batch/v1", "kind": "Job",
                    "metadata": {"name": "pi", "namespace": "batch", "labels": {"job-name": "pi"}},
                    "spec": {
                        "selector": {"matchLabels": {
                            "controller-uid": "8d6b6c1c-1b1a-4c9e-9c52-1a9c5e0f1f00",
                            "batch.kubernetes.io/controller-uid": "8d6b6c1c-1b1a-4c9e-9c52-1a9c5e0f1f00"
                        }},
                        "template": {
                            "metadata": {"labels": {
                                "controller-uid": "8d6b6c1c-1b1a-4c9e-9c52-1a9c5e0f1f00",
                                "batch.kubernetes.io/controller-uid": "8d6b6c1c-1b1a-4c9e-9c52-1a9c5e0f1f00",
                                "batch.kubernetes.io/job-name": "pi", "job-name": "pi"
                            }},
                            "spec": {"containers": [{"name": "pi", "image": "perl:5.34.0", "command": ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"]}], "restartPolicy": "Never"}
                        },
                        "backoffLimit": 4
                    },
                    "status": {"succeeded": 1}
                }),
                expected: json!({
                    "apiVersion": "batch/v1", "kind": "Job",
                    "metadata": {"name": "pi", "namespace": "batch", "labels": {"job-name": "pi", "velero.io/backup-name": "nightly-20240531", "velero.io/restore-name": "restore-20240601"}},
                    "spec": {
                        "selector": {"matchLabels": {}},
                        "template": {
                            "metadata": {"labels": {"batch.kubernetes.io/job-name": "pi", "job-name": "pi"}},
                            "spec": {"containers": [{"name": "pi", "image": "perl:5.34.0", "command": ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"]}], "restartPolicy": "Never"}
                        },
                        "backoffLimit": 4
                    }
                }),
            },
            Case {
                name: "Deployment: pod template keeps nodeName (only Pods are pinned by the scheduler)",
                input: json!({
                    "apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "web", "namespace": "shop", "generation": 4},
                    "spec": {"template": {"spec": {"nodeName": "pinned", "containers": []}}},
                    "status": {"replicas": 3}
                }),
                expected: json!({
                    "apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "web", "namespace": "shop", "labels": labels.clone()},
                    "spec": {"template": {"spec": {"nodeName": "pinned", "containers": []}}}
                }),
            },
            Case {
                name: "a custom resource of kind Pod in another group is only sanitised",
                input: json!({
                    "apiVersion": "example.com/v1", "kind": "Pod",
                    "metadata": {"name": "p"},
                    "spec": {"nodeName": "n"}
                }),
                expected: json!({
                    "apiVersion": "example.com/v1", "kind": "Pod",
                    "metadata": {"name": "p", "labels": labels.clone()},
                    "spec": {"nodeName": "n"}
                }),
            },
        ];
        for case in cases {
            assert_eq!(run(case.input), case.expected, "{}", case.name);
        }
    }

    #[test]
    fn long_names_are_shortened_like_velero() {
        let short = "a".repeat(63);
        assert_eq!(valid_label_value(&short), short);
        // Known answer: the first 57 characters, then sha256(name)[..6] (computed independently).
        let long = "nightly-backup-of-the-production-namespace-with-a-very-long-name-2024";
        let value = valid_label_value(long);
        assert_eq!(
            value,
            "nightly-backup-of-the-production-namespace-with-a-very-lo69e091"
        );
        assert_eq!(value.len(), 63);

        let mut spec = RestoreSpec::new(long, "nightly");
        spec.backup_name = "nightly".into();
        let out = sanitize(
            &TransformContext::new(spec),
            obj(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}})),
        )
        .unwrap();
        assert_eq!(out.object.label(RESTORE_NAME_LABEL), Some(value.as_str()));
        assert!(out.warnings.is_empty());
    }

    fn owned_paths(kind: &str) -> Vec<&'static str> {
        let mut owned = vec![
            "/status/**",
            "/metadata/generateName/**",
            "/metadata/selfLink/**",
            "/metadata/uid/**",
            "/metadata/resourceVersion/**",
            "/metadata/generation/**",
            "/metadata/creationTimestamp/**",
            "/metadata/deletionTimestamp/**",
            "/metadata/deletionGracePeriodSeconds/**",
            "/metadata/ownerReferences/**",
            "/metadata/managedFields/**",
            "/metadata/labels",
            "/metadata/labels/velero.io~1backup-name",
            "/metadata/labels/velero.io~1restore-name",
        ];
        match kind {
            "Pod" => owned.extend([
                "/spec/nodeName/**",
                "/spec/priority/**",
                "/spec/volumes/**",
                "/spec/containers/*/volumeMounts/**",
                "/spec/initContainers/*/volumeMounts/**",
                "/spec/ephemeralContainers/*/volumeMounts/**",
            ]),
            "Job" => owned.extend([
                "/spec/selector/matchLabels/controller-uid/**",
                "/spec/selector/matchLabels/batch.kubernetes.io~1controller-uid/**",
                "/spec/template/metadata/labels/controller-uid/**",
                "/spec/template/metadata/labels/batch.kubernetes.io~1controller-uid/**",
            ]),
            _ => {}
        }
        owned
    }

    const TYPES: &[(&str, &str)] = &[
        ("v1", "Pod"),
        ("batch/v1", "Job"),
        ("v1", "Service"),
        ("apps/v1", "Deployment"),
        ("example.com/v1", "Widget"),
    ];

    proptest! {
        #[test]
        fn laws_hold_on_arbitrary_objects(object in prop_oneof![
            arb_kube_object(TYPES, arb_body(&KUBE_VOCABULARY, 5)),
            arb_kube_object(TYPES, arb_body_with_pod_specs()),
        ]) {
            let mut owned = owned_paths(object.kind());
            if object.labels().is_none() {
                // Labels of the wrong shape are replaced by a map holding the two labels.
                owned.push("/metadata/labels/**");
            }
            let once = assert_transformation_laws(sanitize, &ctx(), object, &owned);
            prop_assert!(once.is_some(), "sanitize never refuses an object");
        }
    }
}
