//! Services (R6): what a restore changes in a core `Service`.
//!
//! [`services`] follows the backup center's FAQ ("What changes does a restore job make to
//! backed-up YAML resources?") and, where the FAQ is silent, Velero's `service_action.go`:
//! - `spec.clusterIP` and `spec.clusterIPs` are removed so the target allocates addresses from
//!   its own range — except for headless Services (`clusterIP: None`), which keep them.
//!   ExternalName Services never have a cluster IP (the API server rejects one), so theirs are
//!   removed even when `None`.
//! - NodePort and LoadBalancer `nodePort`s are kept (the FAQ: "Service ports are retained by
//!   default during cross-cluster restoration"). Velero instead drops node ports that
//!   `kubectl apply` did not set explicitly unless `--preserve-nodeports`.
//! - `spec.healthCheckNodePort` of a LoadBalancer with `externalTrafficPolicy: Local` is
//!   removed, so the target picks a free port, unless `restore.preserve_node_ports`. Velero
//!   additionally keeps it when the last-applied configuration or managed fields show it was
//!   set explicitly; csdr follows the FAQ's rule only.
//! - A LoadBalancer bound to an existing Alibaba Cloud SLB instance (annotation
//!   `service.beta.kubernetes.io/alibaba-cloud-loadbalancer-id`) is restored onto the same
//!   instance with listener override disabled
//!   (`service.beta.kubernetes.io/alibaba-cloud-loadbalancer-force-override-listeners: "false"`),
//!   and a warning tells the user to configure the listeners in the SLB console; traffic is not
//!   switched.
//! - Load-balancer status is never restored: `sanitize` drops `status` and this function never
//!   writes it.
//!
//! Objects other than core Services (a Knative `serving.knative.dev` Service, say) pass through
//! unchanged.
//!
//! ```
//! use csdr_core::model::RestoreSpec;
//! use csdr_core::object::KubeObject;
//! use csdr_core::transform::TransformContext;
//! use csdr_core::transform::services::services;
//! use serde_json::json;
//!
//! let ctx = TransformContext::new(RestoreSpec::new("restore-1", "nightly"));
//! let svc = KubeObject::new(json!({
//!     "apiVersion": "v1", "kind": "Service",
//!     "metadata": {"name": "web", "namespace": "shop"},
//!     "spec": {"type": "NodePort", "clusterIP": "172.21.3.4", "clusterIPs": ["172.21.3.4"],
//!              "ports": [{"port": 80, "nodePort": 30080}]},
//! }))?;
//! let out = services(&ctx, svc)?.object;
//! assert_eq!(out.pointer("/spec/clusterIP"), None);
//! assert_eq!(out.pointer("/spec/ports/0/nodePort"), Some(&json!(30080)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde_json::Value;

use crate::model::{Issue, ObjectRef};
use crate::object::{Fields, KubeObject, set_str_field};
use crate::transform::{TransformContext, TransformError, Transformed};

/// The annotation binding a LoadBalancer Service to an existing SLB instance.
pub const LOADBALANCER_ID_ANNOTATION: &str =
    "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-id";
/// The annotation that lets the cloud controller overwrite an existing SLB's listeners.
pub const FORCE_OVERRIDE_LISTENERS_ANNOTATION: &str =
    "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-force-override-listeners";

/// Prepares a core Service for the target cluster: see the [module documentation](self).
///
/// Never fails; fields of an unexpected shape are left as they are.
pub fn services(ctx: &TransformContext, object: KubeObject) -> Result<Transformed, TransformError> {
    if !(object.api_group().is_empty() && object.kind() == "Service") {
        return Ok(Transformed::unchanged(object));
    }
    let mut object = object;
    let mut warnings = Vec::new();
    let existing_lb = object
        .annotation(LOADBALANCER_ID_ANNOTATION)
        .filter(|id| !id.is_empty())
        .map(str::to_string);

    let Some(spec) = object
        .fields_mut()
        .field_mut("spec")
        .and_then(Value::as_object_mut)
    else {
        return Ok(Transformed::unchanged(object));
    };
    let service_type = spec.field("type").and_then(Value::as_str);
    let is_external_name = service_type == Some("ExternalName");
    let is_load_balancer = service_type == Some("LoadBalancer");

    let mut changed = false;
    let headless = spec.field("clusterIP").and_then(Value::as_str) == Some("None");
    if !headless || is_external_name {
        changed |= spec.remove("clusterIP").is_some();
        changed |= spec.remove("clusterIPs").is_some();
    }

    let local_policy = spec.field("externalTrafficPolicy").and_then(Value::as_str) == Some("Local");
    if is_load_balancer && local_policy && !ctx.restore.preserve_node_ports {
        changed |= spec.remove("healthCheckNodePort").is_some();
    }

    if is_load_balancer && let Some(id) = existing_lb {
        let meta = object.metadata_mut();
        let annotations = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()));
        if !annotations.is_object() {
            *annotations = Value::Object(Default::default());
        }
        if let Value::Object(annotations) = annotations {
            changed |= set_str_field(annotations, FORCE_OVERRIDE_LISTENERS_ANNOTATION, "false");
        }
        warnings.push(Issue::about(
            ObjectRef::of(&object),
            format!(
                "Service {} is restored onto the existing load balancer {id} with its listeners \
                 left as they are (override disabled); configure the listeners in the SLB \
                 console — traffic is not switched automatically",
                object.describe()
            ),
        ));
    }
    Ok(Transformed {
        object,
        warnings,
        changed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RestoreSpec;
    use crate::transform::testing::{
        KUBE_VOCABULARY, arb_body, arb_kube_object, assert_transformation_laws,
    };
    use proptest::prelude::*;
    use serde_json::json;

    fn ctx(preserve_node_ports: bool) -> TransformContext {
        let mut spec = RestoreSpec::new("restore-1", "nightly");
        spec.preserve_node_ports = preserve_node_ports;
        TransformContext::new(spec)
    }

    fn service(metadata: Value, spec: Value) -> KubeObject {
        KubeObject::new(
            json!({"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}),
        )
        .unwrap()
    }

    #[test]
    fn table() {
        let meta = json!({"name": "web", "namespace": "shop"});
        let lb_meta = json!({"name": "web", "namespace": "shop", "annotations": {
            "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-id": "lb-2zeabc123",
            "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-force-override-listeners": "true"}});
        let local_lb = json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "healthCheckNodePort": 32012,
            "clusterIP": "172.21.0.9", "clusterIPs": ["172.21.0.9"], "ipFamilies": ["IPv4"],
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 31080, "protocol": "TCP"}],
            "selector": {"app": "web"}});
        // (name, preserve_node_ports, metadata, spec, expected metadata, expected spec, warnings)
        let cases: Vec<(&str, bool, Value, Value, Value, Value, usize)> = vec![
            (
                "ClusterIP: addresses cleared",
                false,
                meta.clone(),
                json!({"clusterIP": "172.21.3.4", "clusterIPs": ["172.21.3.4"], "ports": [{"port": 80, "targetPort": 8080}], "selector": {"app": "web"}}),
                meta.clone(),
                json!({"ports": [{"port": 80, "targetPort": 8080}], "selector": {"app": "web"}}),
                0,
            ),
            (
                "headless Service keeps None",
                false,
                meta.clone(),
                json!({"clusterIP": "None", "clusterIPs": ["None"], "ports": [{"port": 5432}], "selector": {"app": "db"}}),
                meta.clone(),
                json!({"clusterIP": "None", "clusterIPs": ["None"], "ports": [{"port": 5432}], "selector": {"app": "db"}}),
                0,
            ),
            (
                "NodePort keeps its node ports",
                false,
                meta.clone(),
                json!({"type": "NodePort", "clusterIP": "172.21.3.4", "clusterIPs": ["172.21.3.4"], "ports": [{"port": 80, "nodePort": 30007}]}),
                meta.clone(),
                json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30007}]}),
                0,
            ),
            (
                "ExternalName has no cluster IP, even None",
                false,
                meta.clone(),
                json!({"type": "ExternalName", "externalName": "my.database.example.com", "clusterIP": "None"}),
                meta.clone(),
                json!({"type": "ExternalName", "externalName": "my.database.example.com"}),
                0,
            ),
            (
                "LoadBalancer Local: healthCheckNodePort dropped, node ports kept",
                false,
                meta.clone(),
                local_lb.clone(),
                meta.clone(),
                json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "ipFamilies": ["IPv4"],
                    "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 31080, "protocol": "TCP"}],
                    "selector": {"app": "web"}}),
                0,
            ),
            (
                "LoadBalancer Local with preserve_node_ports keeps healthCheckNodePort",
                true,
                meta.clone(),
                local_lb.clone(),
                meta.clone(),
                json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "healthCheckNodePort": 32012, "ipFamilies": ["IPv4"],
                    "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 31080, "protocol": "TCP"}],
                    "selector": {"app": "web"}}),
                0,
            ),
            (
                "LoadBalancer Cluster policy: nothing about health checks",
                false,
                meta.clone(),
                json!({"type": "LoadBalancer", "externalTrafficPolicy": "Cluster", "ports": [{"port": 443, "nodePort": 30443}]}),
                meta.clone(),
                json!({"type": "LoadBalancer", "externalTrafficPolicy": "Cluster", "ports": [{"port": 443, "nodePort": 30443}]}),
                0,
            ),
            (
                "existing SLB: same instance, listener override disabled, warning",
                false,
                lb_meta,
                json!({"type": "LoadBalancer", "clusterIP": "172.21.0.9", "ports": [{"port": 80, "nodePort": 31080}]}),
                json!({"name": "web", "namespace": "shop", "annotations": {
                    "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-id": "lb-2zeabc123",
                    "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-force-override-listeners": "false"}}),
                json!({"type": "LoadBalancer", "ports": [{"port": 80, "nodePort": 31080}]}),
                1,
            ),
            (
                "SLB annotation on a ClusterIP Service is not a load balancer",
                false,
                json!({"name": "web", "namespace": "shop", "annotations": {"service.beta.kubernetes.io/alibaba-cloud-loadbalancer-id": "lb-1"}}),
                json!({"type": "ClusterIP"}),
                json!({"name": "web", "namespace": "shop", "annotations": {"service.beta.kubernetes.io/alibaba-cloud-loadbalancer-id": "lb-1"}}),
                json!({"type": "ClusterIP"}),
                0,
            ),
        ];
        for (name, preserve, metadata, spec, expected_meta, expected_spec, warnings) in cases {
            let out = services(&ctx(preserve), service(metadata, spec)).unwrap();
            assert_eq!(
                out.object.to_value(),
                json!({"apiVersion": "v1", "kind": "Service", "metadata": expected_meta, "spec": expected_spec}),
                "{name}"
            );
            assert_eq!(out.warnings.len(), warnings, "{name}");
        }
    }

    #[test]
    fn existing_load_balancer_warning_names_the_object_and_instance() {
        let out = services(&ctx(false), service(
            json!({"name": "web", "namespace": "shop", "annotations": {LOADBALANCER_ID_ANNOTATION: "lb-2zeabc123"}}),
            json!({"type": "LoadBalancer"}),
        )).unwrap();
        let warning = &out.warnings[0];
        assert_eq!(
            warning.object.as_ref().map(|o| o.name.as_str()),
            Some("web")
        );
        assert!(
            warning.message.contains("lb-2zeabc123"),
            "{}",
            warning.message
        );
        assert!(
            warning.message.contains("configure the listeners"),
            "{}",
            warning.message
        );
    }

    #[test]
    fn status_is_never_added_and_other_groups_pass_through() {
        let out = services(
            &ctx(false),
            service(
                json!({"name": "web"}),
                json!({"type": "LoadBalancer", "clusterIP": "10.0.0.1"}),
            ),
        )
        .unwrap();
        assert_eq!(out.object.pointer("/status"), None);
        let knative = KubeObject::new(
            json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": {"name": "hello"}, "spec": {"clusterIP": "10.0.0.1"}}),
        )
        .unwrap();
        assert_eq!(
            services(&ctx(false), knative.clone()).unwrap().object,
            knative
        );
    }

    const TYPES: &[(&str, &str)] = &[
        ("v1", "Service"),
        ("v1", "Pod"),
        ("serving.knative.dev/v1", "Service"),
    ];

    proptest! {
        #[test]
        fn laws_hold_on_arbitrary_objects(
            object in arb_kube_object(TYPES, arb_body(&KUBE_VOCABULARY, 4)),
            preserve in any::<bool>(),
        ) {
            let mut owned = vec![
                "/spec/clusterIP", "/spec/clusterIPs/**", "/spec/healthCheckNodePort/**",
                "/metadata/annotations/service.beta.kubernetes.io~1alibaba-cloud-loadbalancer-force-override-listeners",
            ];
            if object.annotations().is_none() {
                owned.push("/metadata/annotations/**");
            }
            let once = assert_transformation_laws(services, &ctx(preserve), object, &owned);
            prop_assert!(once.is_some(), "services never refuses an object");
        }
    }
}
