//! Version choice (R2) table tests and the property tests over every migration.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;

fn gv(api_version: &str) -> GroupVersion {
    GroupVersion::parse(api_version)
}

fn backed(resource: &str, kind: &str, versions: &[&str], preferred: &str) -> BackedUpVersions {
    BackedUpVersions::new(
        resource,
        kind,
        versions.iter().map(|v| gv(v)),
        gv(preferred),
    )
}

fn target(versions: &[&str], preferred: &str) -> TargetVersions {
    TargetVersions::new(versions.iter().map(|v| gv(v)), gv(preferred))
}

#[test]
fn faq_deployment_from_116_to_128_uses_apps_v1() {
    // FAQ: "a Deployment in Kubernetes 1.16 supports extensions/v1beta1, apps/v1beta1,
    // apps/v1beta2, and apps/v1 … restoring to Kubernetes 1.28 uses apps/v1".
    let b = backed(
        "deployments.apps",
        "Deployment",
        &[
            "extensions/v1beta1",
            "apps/v1beta1",
            "apps/v1beta2",
            "apps/v1",
        ],
        "apps/v1",
    );
    let choice = choose_version(&b, &target(&["apps/v1"], "apps/v1")).unwrap();
    assert_eq!(
        choice,
        VersionChoice {
            backed_up: gv("apps/v1"),
            target: gv("apps/v1"),
            migrations: vec![],
            rule: ChoiceRule::TargetPreferred,
            reason: "target prefers apps/v1; backed up as apps/v1".into(),
        }
    );
}

#[test]
fn faq_ingress_from_116_to_122_is_migrated() {
    let b = backed(
        "ingresses.networking.k8s.io",
        "Ingress",
        &["extensions/v1beta1", "networking.k8s.io/v1beta1"],
        "networking.k8s.io/v1beta1",
    );
    let choice = choose_version(
        &b,
        &target(&["networking.k8s.io/v1"], "networking.k8s.io/v1"),
    )
    .unwrap();
    assert_eq!(choice.rule, ChoiceRule::Migration);
    assert_eq!(choice.backed_up, gv("networking.k8s.io/v1beta1"));
    assert_eq!(choice.target, gv("networking.k8s.io/v1"));
    assert_eq!(
        choice.migrations,
        ["ingress-networking-v1beta1-to-networking-v1"]
    );
    assert_eq!(
        choice.reason,
        "target prefers networking.k8s.io/v1; backed up as networking.k8s.io/v1beta1; migrated \
         by ingress-networking-v1beta1-to-networking-v1"
    );
}

#[test]
fn ingress_backed_up_only_as_extensions_chains_two_migrations() {
    let b = backed(
        "ingresses.extensions",
        "Ingress",
        &["extensions/v1beta1"],
        "extensions/v1beta1",
    );
    let choice = choose_version(
        &b,
        &target(&["networking.k8s.io/v1"], "networking.k8s.io/v1"),
    )
    .unwrap();
    assert_eq!(
        choice.reason,
        "target prefers networking.k8s.io/v1; backed up as extensions/v1beta1; migrated by \
         ingress-extensions-v1beta1-to-networking-v1beta1 then \
         ingress-networking-v1beta1-to-networking-v1"
    );
}

#[test]
fn source_preferred_when_target_preferred_was_not_backed_up() {
    // An HPA backed up on 1.22 (prefers autoscaling/v1), restored to 1.23 (prefers v2).
    let b = backed(
        "horizontalpodautoscalers.autoscaling",
        "HorizontalPodAutoscaler",
        &[
            "autoscaling/v1",
            "autoscaling/v2beta1",
            "autoscaling/v2beta2",
        ],
        "autoscaling/v1",
    );
    let t = target(
        &[
            "autoscaling/v2",
            "autoscaling/v1",
            "autoscaling/v2beta1",
            "autoscaling/v2beta2",
        ],
        "autoscaling/v2",
    );
    let choice = choose_version(&b, &t).unwrap();
    assert_eq!(choice.rule, ChoiceRule::SourcePreferred);
    assert_eq!(choice.target, gv("autoscaling/v1"));
    assert_eq!(
        choice.reason,
        "target prefers autoscaling/v2, which was not backed up; source preferred \
         autoscaling/v1, which the target serves"
    );
}

#[test]
fn highest_shared_version_otherwise() {
    // A custom resource: never converted, only chosen.
    let b = backed(
        "widgets.example.com",
        "Widget",
        &[
            "example.com/v1alpha1",
            "example.com/v1beta1",
            "example.com/v1beta2",
        ],
        "example.com/v1alpha1",
    );
    let t = target(
        &[
            "example.com/v1",
            "example.com/v1beta1",
            "example.com/v1beta2",
        ],
        "example.com/v1",
    );
    let choice = choose_version(&b, &t).unwrap();
    assert_eq!(choice.rule, ChoiceRule::HighestShared);
    assert_eq!(choice.target, gv("example.com/v1beta2"));
    assert!(choice.migrations.is_empty());
    assert_eq!(
        choice.reason,
        "target prefers example.com/v1 and source preferred example.com/v1alpha1, neither \
         shared; highest-priority version both serve: example.com/v1beta2"
    );
}

#[test]
fn highest_shared_ties_go_to_the_target_preferred_group() {
    let b = backed(
        "deployments.apps",
        "Deployment",
        &["extensions/v1beta1", "apps/v1beta1"],
        "extensions/v1beta2",
    );
    let t = target(
        &["extensions/v1beta1", "apps/v1beta1", "apps/v1beta2"],
        "apps/v1beta2",
    );
    let choice = choose_version(&b, &t).unwrap();
    assert_eq!(choice.target, gv("apps/v1beta1"));
}

#[test]
fn deployment_from_18_prefers_the_shortest_chain_from_the_best_version() {
    // 1.8 served extensions/v1beta1, apps/v1beta1 and apps/v1beta2; 1.16+ (upstream) only apps/v1.
    let b = backed(
        "deployments.apps",
        "Deployment",
        &["extensions/v1beta1", "apps/v1beta1", "apps/v1beta2"],
        "extensions/v1beta1",
    );
    let choice = choose_version(&b, &target(&["apps/v1"], "apps/v1")).unwrap();
    assert_eq!(choice.backed_up, gv("apps/v1beta2"));
    assert_eq!(choice.migrations, ["deployment-apps-v1beta2-to-apps-v1"]);
}

#[test]
fn migration_to_a_non_preferred_version_when_the_preferred_is_unreachable() {
    fn to_beta(o: KubeObject) -> Result<KubeObject, ConvertError> {
        Ok(o)
    }
    let registry = MigrationRegistry::new(vec![Migration {
        name: "widget-v1alpha1-to-v1beta1",
        from: GroupVersionKind::new("example.com", "v1alpha1", "Widget"),
        to: GroupVersionKind::new("example.com", "v1beta1", "Widget"),
        apply: to_beta,
    }]);
    let b = backed(
        "widgets.example.com",
        "Widget",
        &["example.com/v1alpha1"],
        "example.com/v1alpha1",
    );
    let t = target(&["example.com/v1", "example.com/v1beta1"], "example.com/v1");
    let choice = registry.choose_version(&b, &t).unwrap();
    assert_eq!(choice.target, gv("example.com/v1beta1"));
    assert_eq!(
        choice.reason,
        "target serves example.com/v1beta1 (its preferred example.com/v1 is not reachable); \
         backed up as example.com/v1alpha1; migrated by widget-v1alpha1-to-v1beta1"
    );
    // The shared registry knows nothing of widgets: the same input is an error there.
    assert!(matches!(
        choose_version(&b, &t),
        Err(ConvertError::NoSharedVersion { .. })
    ));
}

#[test]
fn nothing_shared_is_an_error_naming_the_resource() {
    let b = backed(
        "widgets.example.com",
        "Widget",
        &["example.com/v1alpha1"],
        "example.com/v1alpha1",
    );
    let err = choose_version(&b, &target(&["example.com/v1"], "example.com/v1")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "widgets.example.com: no API version shared between source and target; deploy it \
         manually (backed up as example.com/v1alpha1; the target serves example.com/v1)"
    );
    let err = choose_version(
        &backed("widgets.example.com", "Widget", &[], "example.com/v1"),
        &target(&["example.com/v1"], "example.com/v1"),
    )
    .unwrap_err();
    assert!(matches!(err, ConvertError::NothingBackedUp { .. }), "{err}");
}

#[test]
fn pod_security_policy_is_not_restorable() {
    let b = backed(
        "podsecuritypolicies.policy",
        "PodSecurityPolicy",
        &["policy/v1beta1"],
        "policy/v1beta1",
    );
    let err = choose_version(&b, &target(&[], "policy/v1")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "podsecuritypolicies.policy: not restorable: PodSecurityPolicy was removed in Kubernetes \
         1.25 and has no replacement; use Pod Security Admission"
    );
    // Restorable where it is still served.
    let ok = choose_version(&b, &target(&["policy/v1beta1"], "policy/v1beta1")).unwrap();
    assert_eq!(ok.target, gv("policy/v1beta1"));
    // Its two groups hold one schema: a rename moves it between them (the simulated 1.16
    // serves it at both).
    let ext = KubeObject::new(
        json!({"apiVersion": "extensions/v1beta1", "kind": "PodSecurityPolicy",
        "metadata": {"name": "restricted"}, "spec": {"privileged": false}}),
    )
    .unwrap();
    let moved = convert(ext, &gv("policy/v1beta1")).unwrap();
    assert_eq!(moved.api_version(), "policy/v1beta1");
    assert_eq!(moved.pointer("/spec/privileged"), Some(&json!(false)));

    let psp = KubeObject::new(
        json!({"apiVersion": "policy/v1beta1", "kind": "PodSecurityPolicy",
        "metadata": {"name": "restricted"}, "spec": {"privileged": false}}),
    )
    .unwrap();
    let err = convert(psp, &gv("policy/v1")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "PodSecurityPolicy restricted: not restorable: PodSecurityPolicy was removed in \
         Kubernetes 1.25 and has no replacement; use Pod Security Admission"
    );
}

#[test]
fn custom_resources_are_never_converted() {
    let cr = KubeObject::new(
        json!({"apiVersion": "stable.example.com/v1beta1", "kind": "CronTab",
        "metadata": {"name": "c"}, "spec": {"cronSpec": "* * * * */5"}}),
    )
    .unwrap();
    let err = convert(cr.clone(), &gv("stable.example.com/v1")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "CronTab c: no built-in migration from stable.example.com/v1beta1 to \
         stable.example.com/v1; restore it at a version the target serves or deploy it manually"
    );
    assert_eq!(
        convert(cr.clone(), &gv("stable.example.com/v1beta1")).unwrap(),
        cr
    );
}

#[test]
fn every_migration_has_its_reverse_and_a_unique_name() {
    let registry = MigrationRegistry::shared();
    let mut names = std::collections::HashSet::new();
    for m in registry.migrations() {
        assert!(names.insert(m.name), "duplicate name {}", m.name);
        assert!(
            registry
                .migrations()
                .iter()
                .any(|r| r.from == m.to && r.to == m.from),
            "{} has no reverse",
            m.name
        );
        assert_eq!(m.from.kind, m.to.kind, "{}", m.name);
    }
}

#[test]
fn error_converts_into_the_crate_error() {
    let e: crate::Error = ConvertError::NothingBackedUp {
        resource: "pods".into(),
    }
    .into();
    assert!(
        e.to_string()
            .starts_with("pods: the backup records no API version")
    );
}

// ---- property tests ------------------------------------------------------------------------

/// Every group/version a generated resource may be backed up at or served at.
const POOL: &[&str] = &[
    "extensions/v1beta1",
    "apps/v1beta1",
    "apps/v1beta2",
    "apps/v1",
    "networking.k8s.io/v1beta1",
    "networking.k8s.io/v1",
    "example.com/v1alpha1",
    "example.com/v1beta1",
    "example.com/v1",
];

fn gv_set() -> impl Strategy<Value = Vec<GroupVersion>> {
    proptest::sample::subsequence(POOL, 0..=POOL.len())
        .prop_map(|v| v.into_iter().map(gv).collect())
}

fn pick(set: &[GroupVersion], index: usize, fallback: &str) -> GroupVersion {
    if set.is_empty() {
        gv(fallback)
    } else {
        set[index % set.len()].clone()
    }
}

/// Arbitrary JSON built from the field names the migrations look at.
fn arb_json() -> impl Strategy<Value = Value> {
    const KEYS: &[&str] = &[
        "backend",
        "defaultBackend",
        "serviceName",
        "servicePort",
        "service",
        "port",
        "name",
        "number",
        "rules",
        "http",
        "paths",
        "pathType",
        "selector",
        "matchLabels",
        "matchExpressions",
        "template",
        "metadata",
        "labels",
        "annotations",
        "strategy",
        "type",
        "rollingUpdate",
        "updateStrategy",
        "templateGeneration",
        "revisionHistoryLimit",
        "metrics",
        "resource",
        "pods",
        "object",
        "external",
        "target",
        "metricName",
        "targetAverageUtilization",
        "targetCPUUtilizationPercentage",
        "behavior",
        "currentMetrics",
        "versions",
        "version",
        "validation",
        "schema",
        "openAPIV3Schema",
        "subresources",
        "additionalPrinterColumns",
        "JSONPath",
        "conversion",
        "webhook",
        "preserveUnknownFields",
        "endpoints",
        "topology",
        "deprecatedTopology",
        "webhooks",
        "sideEffects",
        "signerName",
        "limited",
        "assuredConcurrencyShares",
        "status",
        "spec",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (0i64..100).prop_map(|n| json!(n)),
        "[a-zA-Z%0-9]{0,6}".prop_map(Value::String),
        proptest::sample::select(vec![
            "RollingUpdate",
            "Resource",
            "Object",
            "External",
            "Pods",
            "cpu",
            "Webhook",
            "None",
            "Exists"
        ])
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((proptest::sample::select(KEYS), inner), 0..6).prop_map(
                |kv| {
                    Value::Object(
                        kv.into_iter()
                            .map(|(k, v)| (k.to_string(), v))
                            .collect::<Map<_, _>>(),
                    )
                }
            ),
        ]
    })
}

/// An object of the given type whose body is arbitrary JSON.
fn arbitrary_object(gvk: &GroupVersionKind, body: Value) -> KubeObject {
    let mut map = match body {
        Value::Object(m) => m,
        other => {
            let mut m = Map::new();
            m.insert("spec".into(), other);
            m
        }
    };
    map.insert("apiVersion".into(), json!(gv_of(gvk).api_version()));
    map.insert("kind".into(), json!(gvk.kind));
    let meta = match map.remove("metadata") {
        Some(Value::Object(mut m)) => {
            m.insert("name".into(), json!("x"));
            m.remove("namespace");
            m
        }
        _ => Map::from_iter([("name".to_string(), json!("x"))]),
    };
    map.insert("metadata".into(), Value::Object(meta));
    KubeObject::new(Value::Object(map)).unwrap()
}

fn ingress_strategy() -> impl Strategy<Value = KubeObject> {
    let port = prop_oneof![
        (1i64..65536).prop_map(|n| json!(n)),
        "[a-z]{1,8}".prop_map(|s| json!(s)),
    ];
    let backend = prop_oneof![
        ("[a-z]{1,8}", port.clone()).prop_map(|(n, p)| json!({"serviceName": n, "servicePort": p})),
        "[a-z]{1,8}".prop_map(
            |n| json!({"resource": {"apiGroup": "k8s.example.com", "kind": "Bucket", "name": n}})
        ),
    ];
    let path = (
        proptest::option::of("/[a-z]{0,6}"),
        proptest::option::of(proptest::sample::select(vec![
            "Exact",
            "Prefix",
            "ImplementationSpecific",
        ])),
        backend.clone(),
    )
        .prop_map(|(p, t, b)| {
            let mut m = Map::new();
            if let Some(p) = p {
                m.insert("path".into(), json!(p));
            }
            if let Some(t) = t {
                m.insert("pathType".into(), json!(t));
            }
            m.insert("backend".into(), b);
            Value::Object(m)
        });
    let rule = (
        proptest::option::of("[a-z]{1,6}\\.example\\.com"),
        proptest::collection::vec(path, 0..3),
    )
        .prop_map(|(h, paths)| {
            let mut m = Map::new();
            if let Some(h) = h {
                m.insert("host".into(), json!(h));
            }
            m.insert("http".into(), json!({"paths": paths}));
            Value::Object(m)
        });
    (
        proptest::sample::select(vec!["extensions/v1beta1", "networking.k8s.io/v1beta1"]),
        proptest::option::of(backend),
        proptest::collection::vec(rule, 0..3),
        any::<bool>(),
    )
        .prop_map(|(api, default, rules, class)| {
            let mut spec = Map::new();
            if let Some(d) = default {
                spec.insert("backend".into(), d);
            }
            if !rules.is_empty() {
                spec.insert("rules".into(), json!(rules));
            }
            let mut meta = json!({"name": "ing", "namespace": "web"});
            if class {
                meta["annotations"] = json!({"kubernetes.io/ingress.class": "nginx"});
            }
            KubeObject::new(
                json!({"apiVersion": api, "kind": "Ingress", "metadata": meta, "spec": spec}),
            )
            .unwrap()
        })
}

fn deployment_strategy() -> impl Strategy<Value = KubeObject> {
    let int_or_percent = prop_oneof![
        (0i64..5).prop_map(|n| json!(n)),
        (0i64..100).prop_map(|n| json!(format!("{n}%")))
    ];
    let strategy = prop_oneof![
        Just(None),
        Just(Some(json!({"type": "Recreate"}))),
        (
            proptest::option::of(int_or_percent.clone()),
            proptest::option::of(int_or_percent)
        )
            .prop_map(|(u, s)| {
                let mut ru = Map::new();
                if let Some(u) = u {
                    ru.insert("maxUnavailable".into(), u);
                }
                if let Some(s) = s {
                    ru.insert("maxSurge".into(), s);
                }
                Some(json!({"type": "RollingUpdate", "rollingUpdate": ru}))
            }),
    ];
    (
        proptest::sample::select(vec!["extensions/v1beta1", "apps/v1beta1", "apps/v1beta2"]),
        proptest::collection::btree_map("[a-z]{1,5}", "[a-z0-9]{1,5}", 1..3),
        any::<bool>(),
        strategy,
        proptest::option::of(0i64..20),
        proptest::option::of(60i64..1000),
        proptest::option::of(1i64..10),
        any::<bool>(),
    )
        .prop_map(|(api, labels, with_selector, strategy, history, deadline, rollback, paused)| {
            let mut spec = Map::new();
            spec.insert("replicas".into(), json!(3));
            spec.insert(
                "template".into(),
                json!({"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]}}),
            );
            // apps/v1beta2 requires a selector; the older versions defaulted it.
            if with_selector || api == "apps/v1beta2" {
                spec.insert("selector".into(), json!({"matchLabels": labels}));
            }
            if let Some(s) = strategy {
                spec.insert("strategy".into(), s);
            }
            if let Some(h) = history {
                spec.insert("revisionHistoryLimit".into(), json!(h));
            }
            if let Some(d) = deadline {
                spec.insert("progressDeadlineSeconds".into(), json!(d));
            }
            if let Some(r) = rollback.filter(|_| api != "apps/v1beta2") {
                spec.insert("rollbackTo".into(), json!({"revision": r}));
            }
            if paused {
                spec.insert("paused".into(), json!(true));
            }
            KubeObject::new(json!({"apiVersion": api, "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "shop"}, "spec": spec}))
            .unwrap()
        })
}

proptest! {
    #[test]
    fn choice_is_served_by_the_target_or_an_error(
        backed_set in gv_set(),
        served_set in gv_set(),
        bp in any::<usize>(),
        tp in any::<usize>(),
        kind in proptest::sample::select(vec!["Deployment", "Ingress", "Widget", "PodSecurityPolicy"]),
    ) {
        let b = BackedUpVersions::new("things", kind, backed_set.clone(), pick(&backed_set, bp, "apps/v1"));
        let t = TargetVersions::new(served_set.clone(), pick(&served_set, tp, "apps/v1"));
        match choose_version(&b, &t) {
            Ok(choice) => {
                prop_assert!(t.versions.contains(&choice.target), "{:?}", choice);
                prop_assert!(b.versions.contains(&choice.backed_up), "{:?}", choice);
                prop_assert_eq!(choice.migrations.is_empty(), choice.backed_up == choice.target);
                let chain = MigrationRegistry::shared()
                    .path(&choice.backed_up.with_kind(kind), &choice.target.with_kind(kind))
                    .unwrap();
                prop_assert_eq!(chain.iter().map(|m| m.name.to_string()).collect::<Vec<_>>(), choice.migrations);
            }
            Err(ConvertError::NoSharedVersion { .. } | ConvertError::NothingBackedUp { .. }) => {
                prop_assert!(!b.versions.iter().any(|v| t.versions.contains(v)));
            }
            Err(ConvertError::NotRestorable { .. }) => prop_assert_eq!(kind, "PodSecurityPolicy"),
            Err(other) => prop_assert!(false, "unexpected {other}"),
        }
    }

    #[test]
    fn converting_to_the_current_version_returns_the_object_unchanged(
        index in any::<usize>(),
        body in arb_json(),
    ) {
        let migrations = MigrationRegistry::shared().migrations();
        let m = &migrations[index % migrations.len()];
        let obj = arbitrary_object(&m.from, body);
        prop_assert_eq!(convert(obj.clone(), &gv_of(&m.from)).unwrap(), obj);
    }

    #[test]
    fn conversion_never_panics(index in any::<usize>(), body in arb_json()) {
        let registry = MigrationRegistry::shared();
        let m = &registry.migrations()[index % registry.migrations().len()];
        let obj = arbitrary_object(&m.from, body);
        if let Ok(out) = m.run(obj.clone()) {
            prop_assert_eq!(out.gvk(), m.to.clone());
            prop_assert_eq!(out.name(), "x");
        }
        // Every other version of the kind, through whatever chain exists.
        for other in registry.migrations().iter().filter(|o| o.to.kind == m.from.kind) {
            let _ = convert(obj.clone(), &gv_of(&other.to));
        }
    }

    #[test]
    fn ingress_upgrade_downgrade_upgrade_equals_one_upgrade(ing in ingress_strategy()) {
        let origin = ing.group_version();
        let v1 = gv("networking.k8s.io/v1");
        let up = convert(ing, &v1).unwrap();
        let down = convert(up.clone(), &origin).unwrap();
        prop_assert_eq!(convert(down, &v1).unwrap(), up.clone());
        // A v1 Ingress always has pathType and no v1beta1 backend fields.
        let text = up.to_value().to_string();
        prop_assert!(!text.contains("serviceName") && !text.contains("servicePort"));
    }

    #[test]
    fn deployment_upgrade_downgrade_upgrade_equals_one_upgrade(dep in deployment_strategy()) {
        let origin = dep.group_version();
        let v1 = gv("apps/v1");
        let up = convert(dep, &v1).unwrap();
        prop_assert!(up.pointer("/spec/selector").is_some());
        prop_assert!(up.pointer("/spec/rollbackTo").is_none());
        for down_to in [origin, gv("extensions/v1beta1"), gv("apps/v1beta1"), gv("apps/v1beta2")] {
            let down = convert(up.clone(), &down_to).unwrap();
            prop_assert_eq!(convert(down, &v1).unwrap(), up.clone());
        }
    }
}
