//! The restore pipeline: every transformation, in a fixed order.
//!
//! | # | name | behaviour | module |
//! |---|------|-----------|--------|
//! | 1 | `sanitize` | R4: drop server-set fields and status, label with backup and restore | [`super::sanitize`] |
//! | 2 | `namespace-mapping` | R4: move to the mapped namespace, references follow | [`super::namespace_mapping`] |
//! | 3 | `services` | R6: cluster IPs, node ports, health-check port, existing load balancers | [`super::services`] |
//! | 4 | `images` | R9: change-image cases, then registry mapping | [`super::images`] |
//! | 5 | `access-modes` | R7: disks restored ReadWriteOnce; `convertToAccessModes` | [`super::access_modes`] |
//! | 6 | `storage-class` | R8: StorageClass conversion and its three errors | [`super::storage_class`] |
//! | 7 | `disk-floor` | R5: disks below 20 GiB raised to 20Gi | [`super::disk_floor`] |
//! | 8 | `volume-binding` | R10: binding fields, snapshot data sources | [`super::volumes`] |
//!
//! Why this order: sanitising first means later steps see only what the user wrote; access
//! modes read the claim's class *before* conversion (`convertToAccessModes` applies to claims
//! whose old class is mapped); the disk checks (5–7) read `volumeName` and the provisioner
//! annotations that volume binding (8) removes.
//!
//! ```
//! use csdr_core::model::RestoreSpec;
//! use csdr_core::object::KubeObject;
//! use csdr_core::transform::TransformContext;
//! use csdr_core::transform::pipeline::run_pipeline;
//! use serde_json::json;
//!
//! let ctx = TransformContext::new(RestoreSpec::new("r1", "b1"));
//! let svc = KubeObject::new(json!({"apiVersion": "v1", "kind": "Service",
//!     "metadata": {"name": "web", "namespace": "shop", "uid": "1234"},
//!     "spec": {"clusterIP": "10.0.0.7", "ports": [{"port": 80}]}}))?;
//! let out = run_pipeline(&ctx, svc)?;
//! assert_eq!(out.applied, ["sanitize", "services"]);
//! assert_eq!(out.object.pointer("/metadata/uid"), None);
//! assert_eq!(out.object.pointer("/spec/clusterIP"), None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::{
    TransformContext, TransformError, TransformFn, access_modes, disk_floor, images,
    namespace_mapping, sanitize, services, storage_class, volumes,
};
use crate::model::Issue;
use crate::object::KubeObject;

/// A transformation with the name plans and reports use.
#[derive(Clone, Copy, Debug)]
pub struct NamedTransform {
    /// A short name, e.g. `disk-floor`.
    pub name: &'static str,
    /// The behaviour id of DESIGN.md, e.g. `R5`.
    pub behaviour: &'static str,
    /// The transformation.
    pub apply: TransformFn,
}

/// Every transformation in pipeline order.
pub const DEFAULT_PIPELINE: &[NamedTransform] = &[
    NamedTransform {
        name: "sanitize",
        behaviour: "R4",
        apply: sanitize::sanitize,
    },
    NamedTransform {
        name: "namespace-mapping",
        behaviour: "R4",
        apply: namespace_mapping::namespace_mapping,
    },
    NamedTransform {
        name: "services",
        behaviour: "R6",
        apply: services::services,
    },
    NamedTransform {
        name: "images",
        behaviour: "R9",
        apply: images::images,
    },
    NamedTransform {
        name: "access-modes",
        behaviour: "R7",
        apply: access_modes::coerce_access_modes,
    },
    NamedTransform {
        name: "storage-class",
        behaviour: "R8",
        apply: storage_class::convert_storage_class,
    },
    NamedTransform {
        name: "disk-floor",
        behaviour: "R5",
        apply: disk_floor::apply_disk_floor,
    },
    NamedTransform {
        name: "volume-binding",
        behaviour: "R10",
        apply: volumes::restore_volume_binding,
    },
];

/// An object after the whole pipeline.
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineOutcome {
    /// The object to create.
    pub object: KubeObject,
    /// Every warning raised, in pipeline order.
    pub warnings: Vec<Issue>,
    /// The names of the transformations that changed the object, in order: those whose
    /// [`Transformed::changed`](super::Transformed::changed) was set, i.e. whose output
    /// differed from their input.
    pub applied: Vec<&'static str>,
}

/// Runs `transforms` in order; the first error stops the pipeline.
pub fn run(
    transforms: &[NamedTransform],
    ctx: &TransformContext,
    object: KubeObject,
) -> Result<PipelineOutcome, TransformError> {
    let mut current = object;
    let mut warnings = Vec::new();
    let mut applied = Vec::new();
    for t in transforms {
        let out = (t.apply)(ctx, current)?;
        if out.changed {
            applied.push(t.name);
        }
        warnings.extend(out.warnings);
        current = out.object;
    }
    Ok(PipelineOutcome {
        object: current,
        warnings,
        applied,
    })
}

/// Runs the [`DEFAULT_PIPELINE`].
pub fn run_pipeline(
    ctx: &TransformContext,
    object: KubeObject,
) -> Result<PipelineOutcome, TransformError> {
    run(DEFAULT_PIPELINE, ctx, object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RestoreSpec;
    use crate::transform::testing::{arb_body_with_pod_specs, arb_kube_object};
    use crate::transform::{StorageClassFacts, TransformContext};
    use proptest::prelude::*;
    use serde_json::json;

    fn ctx() -> TransformContext {
        let mut spec = RestoreSpec::new("r1", "b1");
        spec.namespace_mapping
            .insert("source".into(), "target".into());
        spec.image_registry_mapping.insert(
            "docker.io/library/".into(),
            "registry.example.com/lib/".into(),
        );
        spec.storage_class_mapping
            .insert("old-disk".into(), "alicloud-disk-topology-alltype".into());
        let mut ctx = TransformContext::new(spec);
        ctx.target.storage_classes.push(StorageClassFacts {
            name: "alicloud-disk-topology-alltype".into(),
            provisioner: "diskplugin.csi.alibabacloud.com".into(),
            volume_binding_mode: Some("WaitForFirstConsumer".into()),
        });
        ctx
    }

    #[test]
    fn a_disk_claim_goes_through_every_storage_step() {
        let pvc = KubeObject::new(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": "source", "uid": "u1",
                "annotations": {"pv.kubernetes.io/bind-completed": "yes"}},
            "spec": {"storageClassName": "old-disk", "accessModes": ["ReadWriteMany"],
                "resources": {"requests": {"storage": "10Gi"}}},
            "status": {"phase": "Bound"}}))
        .unwrap();
        let out = run_pipeline(&ctx(), pvc).unwrap();
        assert_eq!(
            out.applied,
            [
                "sanitize",
                "namespace-mapping",
                "access-modes",
                "storage-class",
                "disk-floor",
                "volume-binding"
            ]
        );
        let o = out.object.to_value();
        assert_eq!(o["metadata"]["namespace"], "target");
        assert_eq!(
            o["spec"]["storageClassName"],
            "alicloud-disk-topology-alltype"
        );
        assert_eq!(o["spec"]["accessModes"], json!(["ReadWriteOnce"]));
        assert_eq!(o["spec"]["resources"]["requests"]["storage"], "20Gi");
        assert!(o.get("status").is_none());
        assert!(
            o["metadata"]
                .get("annotations")
                .is_none_or(|a| a.get("pv.kubernetes.io/bind-completed").is_none())
        );
        assert_eq!(o["metadata"]["labels"]["velero.io/restore-name"], "r1");
        assert!(out.warnings.len() >= 2, "{:?}", out.warnings);
    }

    #[test]
    fn errors_stop_the_pipeline_naming_the_object() {
        let mut c = ctx();
        c.target.storage_classes.clear();
        let pvc = KubeObject::new(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": "source"},
            "spec": {"storageClassName": "old-disk"}}))
        .unwrap();
        let err = run_pipeline(&c, pvc).unwrap_err();
        assert!(
            err.to_string()
                .contains("storageclass alicloud-disk-topology-alltype not exists"),
            "{err}"
        );
        assert_eq!(err.object.name, "data");
    }

    const TYPES: &[(&str, &str)] = &[
        ("v1", "Pod"),
        ("v1", "Service"),
        ("apps/v1", "Deployment"),
        ("batch/v1", "Job"),
        ("batch/v1", "CronJob"),
        ("v1", "PersistentVolumeClaim"),
        ("v1", "PersistentVolume"),
        ("v1", "ConfigMap"),
        ("example.com/v1", "Widget"),
    ];

    /// `applied` as `pipeline::run` used to compute it: a copy of the object before each
    /// step, compared with the step's output.
    fn applied_by_comparison(
        c: &TransformContext,
        object: KubeObject,
    ) -> Result<Vec<&'static str>, TransformError> {
        let mut current = object;
        let mut applied = Vec::new();
        for t in DEFAULT_PIPELINE {
            let before = current.clone();
            let out = (t.apply)(c, current)?;
            if out.object != before {
                applied.push(t.name);
            }
            current = out.object;
        }
        Ok(applied)
    }

    /// A context in which every transformation has something to do.
    fn busy_ctx() -> TransformContext {
        let mut c = ctx();
        c.restore.change_image_cases.push("app1,app2".into());
        c.restore.convert_to_access_modes = vec!["ReadWriteOnce".into()];
        c.restore
            .namespace_mapping
            .insert("team-a".into(), "team-b".into());
        c.target.zones = ["z1".to_string(), "z2".to_string()].into();
        c.backup
            .snapshotted_pvcs
            .insert(("source".into(), "data".into()));
        c
    }

    #[test]
    fn applied_lists_exactly_the_steps_that_changed_the_object() {
        let c = busy_ctx();
        let pvc = KubeObject::new(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": "source",
                "labels": {"velero.io/backup-name": "b1", "velero.io/restore-name": "r1"}},
            "spec": {"storageClassName": "alicloud-disk-topology-alltype",
                "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "20Gi"}}}}))
        .unwrap();
        // Already sanitised and on a target class, but in a mapped namespace and snapshotted.
        let out = run_pipeline(&c, pvc.clone()).unwrap();
        assert_eq!(out.applied, ["namespace-mapping", "volume-binding"]);
        assert_eq!(out.applied, applied_by_comparison(&c, pvc).unwrap());
        // Once restored, nothing changes it any more.
        let again = run_pipeline(&c, out.object.clone()).unwrap();
        assert!(again.applied.is_empty(), "{:?}", again.applied);
        assert_eq!(again.object, out.object);
    }

    proptest! {
        #[test]
        fn applied_equals_the_steps_whose_output_differs_from_their_input(
            obj in arb_kube_object(TYPES, arb_body_with_pod_specs()),
            busy in any::<bool>(),
        ) {
            let c = if busy { busy_ctx() } else { ctx() };
            match (run_pipeline(&c, obj.clone()), applied_by_comparison(&c, obj)) {
                (Ok(out), Ok(expected)) => {
                    prop_assert_eq!(&out.applied, &expected);
                    // And on the pipeline's own output (mostly nothing left to change).
                    let again = run_pipeline(&c, out.object.clone());
                    let expected_again = applied_by_comparison(&c, out.object);
                    prop_assert_eq!(again.map(|o| o.applied).ok(), expected_again.ok());
                }
                (Err(e), Err(expected)) => prop_assert_eq!(e, expected),
                (out, expected) => prop_assert!(false, "{:?} vs {:?}", out, expected),
            }
        }

        #[test]
        fn applied_equals_the_steps_that_changed_storage_objects(
            c in crate::transform::volumes::testing::arbitrary_context(),
            obj in crate::transform::volumes::testing::any_object(),
        ) {
            let out = run_pipeline(&c, obj.clone()).map(|o| o.applied);
            prop_assert_eq!(out, applied_by_comparison(&c, obj));
        }

        #[test]
        fn the_pipeline_is_idempotent_and_never_panics(obj in arb_kube_object(TYPES, arb_body_with_pod_specs())) {
            let c = ctx();
            if let Ok(once) = run_pipeline(&c, obj) {
                let twice = run_pipeline(&c, once.object.clone());
                prop_assert!(twice.is_ok(), "second pass failed: {:?}", twice.err());
                prop_assert_eq!(twice.unwrap().object, once.object);
            }
        }
    }
}
