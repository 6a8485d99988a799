//! Ingress: `extensions/v1beta1` ⇄ `networking.k8s.io/v1beta1` ⇄ `networking.k8s.io/v1`, and
//! IngressClass `networking.k8s.io/v1beta1` ⇄ `v1`.
//!
//! Sources:
//! - Deprecation guide, "Ingress" (v1.22): `spec.backend` → `spec.defaultBackend`; backend
//!   `serviceName` → `service.name`; `servicePort` → `service.port.name` (string) or
//!   `service.port.number` (number); `pathType` is required in v1. "IngressClass" (v1.22):
//!   no notable changes.
//! - kubernetes/kubernetes `pkg/apis/networking/v1beta1/conversion.go`
//!   (`Convert_v1beta1_IngressBackend_To_networking_IngressBackend` and its reverse: a string
//!   `servicePort` becomes `port.name`, a number `port.number`; `port.name` wins on the way
//!   back) and `pkg/apis/networking/v1beta1/defaults.go` (`SetDefaults_HTTPIngressPath`:
//!   missing `pathType` defaults to `ImplementationSpecific`, which v1 no longer does).
//! - `extensions/v1beta1` Ingress has the same schema as `networking.k8s.io/v1beta1`
//!   (`pkg/apis/extensions/v1beta1/conversion.go` converts both through the same internal
//!   type), so that step is a rename.
//!
//! The `kubernetes.io/ingress.class` annotation is **not** turned into `spec.ingressClassName`:
//! neither the deprecation guide nor the API server's conversion does that (the annotation
//! keeps working; the Ingress documentation calls it deprecated but controllers still read
//! it), so the annotation is kept as it is and `ingressClassName` only moves when it is set.
//!
//! Downgrade v1 → v1beta1 is lossless for fields v1beta1 has (`pathType`, `ingressClassName`
//! and `resource` backends exist in v1beta1 since 1.18). A v1 `port.name` wins over
//! `port.number` when both are set, as in the API server.
//!
//! ```
//! use csdr_core::convert::convert;
//! use csdr_core::object::{GroupVersion, KubeObject};
//! use serde_json::json;
//!
//! let old = KubeObject::new(json!({"apiVersion": "extensions/v1beta1", "kind": "Ingress",
//!     "metadata": {"name": "shop"},
//!     "spec": {"rules": [{"http": {"paths": [{"path": "/",
//!         "backend": {"serviceName": "shop", "servicePort": "http"}}]}}]}}))?;
//! let new = convert(old, &GroupVersion::new("networking.k8s.io", "v1"))?;
//! assert_eq!(
//!     new.pointer("/spec/rules/0/http/paths/0"),
//!     Some(&json!({"path": "/", "pathType": "ImplementationSpecific",
//!         "backend": {"service": {"name": "shop", "port": {"name": "http"}}}}))
//! );
//! # Ok::<(), csdr_core::Error>(())
//! ```

use serde_json::{Map, Value, json};

use super::fields::{field_error, is_absent, object_mut, objects_in, rename_field, spec_mut};
use super::{ConvertError, Migration, fields::keep};
use crate::object::KubeObject;

const V1BETA1_TO_V1: &str = "ingress-networking-v1beta1-to-networking-v1";
const V1_TO_V1BETA1: &str = "ingress-networking-v1-to-networking-v1beta1";

pub(super) fn migrations() -> Vec<Migration> {
    vec![
        Migration::new(
            "ingress-extensions-v1beta1-to-networking-v1beta1",
            "extensions/v1beta1",
            "networking.k8s.io/v1beta1",
            "Ingress",
            keep,
        ),
        Migration::new(
            "ingress-networking-v1beta1-to-extensions-v1beta1",
            "networking.k8s.io/v1beta1",
            "extensions/v1beta1",
            "Ingress",
            keep,
        ),
        Migration::new(
            V1BETA1_TO_V1,
            "networking.k8s.io/v1beta1",
            "networking.k8s.io/v1",
            "Ingress",
            upgrade,
        ),
        Migration::new(
            V1_TO_V1BETA1,
            "networking.k8s.io/v1",
            "networking.k8s.io/v1beta1",
            "Ingress",
            downgrade,
        ),
        Migration::new(
            "ingressclass-networking-v1beta1-to-v1",
            "networking.k8s.io/v1beta1",
            "networking.k8s.io/v1",
            "IngressClass",
            keep,
        ),
        Migration::new(
            "ingressclass-networking-v1-to-v1beta1",
            "networking.k8s.io/v1",
            "networking.k8s.io/v1beta1",
            "IngressClass",
            keep,
        ),
    ]
}

/// Every backend of an Ingress spec (default and per path), with its JSON path.
fn for_each_backend(
    spec: &mut Map<String, Value>,
    default_key: &str,
    mut f: impl FnMut(&mut Map<String, Value>, String) -> Result<(), (String, String)>,
) -> Result<(), (String, String)> {
    if let Some(b) = object_mut(spec, default_key) {
        f(b, format!("spec.{default_key}"))?;
    }
    for (r, rule) in objects_in(spec, "rules").enumerate() {
        let Some(http) = object_mut(rule, "http") else {
            continue;
        };
        for (p, path) in objects_in(http, "paths").enumerate() {
            if let Some(b) = object_mut(path, "backend") {
                f(b, format!("spec.rules[{r}].http.paths[{p}].backend"))?;
            }
        }
    }
    Ok(())
}

fn upgrade(mut obj: KubeObject) -> Result<KubeObject, ConvertError> {
    let Some(spec) = spec_mut(&mut obj) else {
        return Ok(obj);
    };
    rename_field(spec, "backend", "defaultBackend");
    let result = for_each_backend(spec, "defaultBackend", |backend, at| {
        let name = backend.remove("serviceName");
        let port = backend.remove("servicePort");
        let name = match name {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s,
            Some(other) => {
                return Err((
                    format!("{at}.serviceName"),
                    format!("expected a string, found {other}"),
                ));
            }
        };
        let port = match port {
            None | Some(Value::Null) => json!({}),
            Some(Value::String(s)) if s.is_empty() => json!({}),
            Some(Value::String(s)) => json!({"name": s}),
            Some(Value::Number(n)) if n.as_i64().is_some_and(|n| n == 0) => json!({}),
            Some(Value::Number(n)) if n.as_i64().is_some_and(|n| i32::try_from(n).is_ok()) => {
                json!({"number": n})
            }
            Some(other) => {
                return Err((
                    format!("{at}.servicePort"),
                    format!("expected a port number or name, found {other}"),
                ));
            }
        };
        let has_port = port.as_object().is_some_and(|p| !p.is_empty());
        if !name.is_empty() || has_port {
            backend.insert("service".into(), json!({"name": name, "port": port}));
        }
        Ok(())
    });
    if let Err((field, reason)) = result {
        return Err(field_error(&obj, V1BETA1_TO_V1, &field, reason));
    }
    for rule in objects_in(spec, "rules") {
        let Some(http) = object_mut(rule, "http") else {
            continue;
        };
        for path in objects_in(http, "paths") {
            if is_absent(path.get("pathType")) {
                path.insert("pathType".into(), json!("ImplementationSpecific"));
            }
        }
    }
    Ok(obj)
}

fn downgrade(mut obj: KubeObject) -> Result<KubeObject, ConvertError> {
    let Some(spec) = spec_mut(&mut obj) else {
        return Ok(obj);
    };
    rename_field(spec, "defaultBackend", "backend");
    let result = for_each_backend(spec, "backend", |backend, at| {
        let Some(service) = backend.remove("service") else {
            return Ok(());
        };
        let Value::Object(mut service) = service else {
            if service.is_null() {
                return Ok(());
            }
            return Err((
                format!("{at}.service"),
                format!("expected an object, found {service}"),
            ));
        };
        if let Some(name) = service.remove("name") {
            backend.insert("serviceName".into(), name);
        }
        let port = service.remove("port").unwrap_or(Value::Null);
        let port_name = port
            .get("name")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let value = match port_name {
            Some(name) => json!(name),
            None => port.get("number").cloned().unwrap_or(json!(0)),
        };
        backend.insert("servicePort".into(), value);
        Ok(())
    });
    if let Err((field, reason)) = result {
        return Err(field_error(&obj, V1_TO_V1BETA1, &field, reason));
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::super::convert;
    use crate::object::{GroupVersion, KubeObject};
    use serde_json::json;

    fn obj(v: serde_json::Value) -> KubeObject {
        KubeObject::new(v).unwrap()
    }

    /// The "simple fanout" Ingress of the Kubernetes 1.18 Ingress documentation, as
    /// `extensions/v1beta1`, and the same Ingress as the 1.22 documentation writes it.
    fn fanout_v1beta1() -> KubeObject {
        obj(json!({
            "apiVersion": "extensions/v1beta1",
            "kind": "Ingress",
            "metadata": {"name": "simple-fanout-example", "namespace": "web",
                "annotations": {"kubernetes.io/ingress.class": "nginx",
                    "nginx.ingress.kubernetes.io/rewrite-target": "/"}},
            "spec": {
                "backend": {"serviceName": "default-http-backend", "servicePort": "http"},
                "tls": [{"hosts": ["foo.bar.com"], "secretName": "tls-secret"}],
                "rules": [{"host": "foo.bar.com", "http": {"paths": [
                    {"path": "/foo", "backend": {"serviceName": "service1", "servicePort": 4200}},
                    {"path": "/bar", "pathType": "Prefix",
                        "backend": {"serviceName": "service2", "servicePort": 8080}},
                    {"path": "/icons", "backend": {"resource": {"apiGroup": "k8s.example.com",
                        "kind": "StorageBucket", "name": "icon-assets"}}}
                ]}}]
            },
            "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}
        }))
    }

    fn fanout_v1() -> serde_json::Value {
        json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "simple-fanout-example", "namespace": "web",
                "annotations": {"kubernetes.io/ingress.class": "nginx",
                    "nginx.ingress.kubernetes.io/rewrite-target": "/"}},
            "spec": {
                "defaultBackend": {"service": {"name": "default-http-backend", "port": {"name": "http"}}},
                "tls": [{"hosts": ["foo.bar.com"], "secretName": "tls-secret"}],
                "rules": [{"host": "foo.bar.com", "http": {"paths": [
                    {"path": "/foo", "pathType": "ImplementationSpecific",
                        "backend": {"service": {"name": "service1", "port": {"number": 4200}}}},
                    {"path": "/bar", "pathType": "Prefix",
                        "backend": {"service": {"name": "service2", "port": {"number": 8080}}}},
                    {"path": "/icons", "pathType": "ImplementationSpecific",
                        "backend": {"resource": {"apiGroup": "k8s.example.com",
                        "kind": "StorageBucket", "name": "icon-assets"}}}
                ]}}]
            },
            "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}
        })
    }

    #[test]
    fn extensions_v1beta1_to_networking_v1() {
        let v1 = convert(
            fanout_v1beta1(),
            &GroupVersion::new("networking.k8s.io", "v1"),
        )
        .unwrap();
        assert_eq!(v1.to_value(), fanout_v1());
        // The class annotation stays an annotation; no ingressClassName is invented.
        assert_eq!(v1.pointer("/spec/ingressClassName"), None);
        assert_eq!(v1.annotation("kubernetes.io/ingress.class"), Some("nginx"));
    }

    #[test]
    fn networking_v1_to_v1beta1_and_extensions() {
        let v1 = obj(fanout_v1());
        let back = convert(
            v1.clone(),
            &GroupVersion::new("networking.k8s.io", "v1beta1"),
        )
        .unwrap();
        let mut expected = fanout_v1beta1().to_value();
        expected["apiVersion"] = json!("networking.k8s.io/v1beta1");
        // pathType survives the downgrade (v1beta1 has it since 1.18).
        expected["spec"]["rules"][0]["http"]["paths"][0]["pathType"] =
            json!("ImplementationSpecific");
        expected["spec"]["rules"][0]["http"]["paths"][2]["pathType"] =
            json!("ImplementationSpecific");
        assert_eq!(back.to_value(), expected);
        let ext = convert(v1, &GroupVersion::new("extensions", "v1beta1")).unwrap();
        expected["apiVersion"] = json!("extensions/v1beta1");
        assert_eq!(ext.to_value(), expected);
    }

    #[test]
    fn ingress_class_name_field_moves_unchanged() {
        let o = obj(
            json!({"apiVersion": "networking.k8s.io/v1beta1", "kind": "Ingress",
            "metadata": {"name": "i"},
            "spec": {"ingressClassName": "external-lb",
                "rules": [{"http": {"paths": [{"path": "/", "pathType": "Exact",
                    "backend": {"serviceName": "s", "servicePort": 80}}]}}]}}),
        );
        let v1 = convert(o, &GroupVersion::new("networking.k8s.io", "v1")).unwrap();
        assert_eq!(
            v1.pointer("/spec/ingressClassName"),
            Some(&json!("external-lb"))
        );
        assert_eq!(
            v1.pointer("/spec/rules/0/http/paths/0"),
            Some(&json!({"path": "/", "pathType": "Exact",
                "backend": {"service": {"name": "s", "port": {"number": 80}}}}))
        );
    }

    #[test]
    fn a_malformed_port_is_named() {
        let o = obj(
            json!({"apiVersion": "extensions/v1beta1", "kind": "Ingress",
            "metadata": {"name": "i", "namespace": "web"},
            "spec": {"rules": [{"http": {"paths": [{"backend": {"serviceName": "s", "servicePort": true}}]}}]}}),
        );
        let err = convert(o, &GroupVersion::new("networking.k8s.io", "v1")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Ingress web/i: migration ingress-networking-v1beta1-to-networking-v1 cannot convert \
             field spec.rules[0].http.paths[0].backend.servicePort: expected a port number or \
             name, found true"
        );
    }

    #[test]
    fn ingress_class_renames() {
        let o = obj(
            json!({"apiVersion": "networking.k8s.io/v1beta1", "kind": "IngressClass",
            "metadata": {"name": "external-lb"},
            "spec": {"controller": "example.com/ingress-controller",
                "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external-lb"}}}),
        );
        let v1 = convert(o.clone(), &GroupVersion::new("networking.k8s.io", "v1")).unwrap();
        let mut expected = o.to_value();
        expected["apiVersion"] = json!("networking.k8s.io/v1");
        assert_eq!(v1.to_value(), expected);
        let back = convert(v1, &GroupVersion::new("networking.k8s.io", "v1beta1")).unwrap();
        assert_eq!(back, o);
    }
}
