use std::collections::HashSet;

use super::KubeRelease::*;
use super::*;

/// The versions a release serves for (group, plural), most preferred first.
fn versions(release: KubeRelease, group: &str, plural: &str) -> Vec<&'static str> {
    release.served_versions(group, plural)
}

/// Asserts the exact releases serving (group, version, plural): `first..=last`.
fn assert_served_during(
    group: &str,
    version: &str,
    plural: &str,
    first: KubeRelease,
    last: Option<KubeRelease>,
) {
    for release in KubeRelease::ALL {
        let expected = first <= release && last.is_none_or(|l| release <= l);
        assert_eq!(
            release.serves(group, version, plural),
            expected,
            "{release} serving {plural} at {group}/{version}"
        );
        let in_discovery = release.discovery().serves(group, version, plural);
        assert_eq!(
            in_discovery, expected,
            "{release} discovery of {plural} at {group}/{version}"
        );
    }
}

#[test]
fn parses_and_prints_releases() {
    for text in ["1.16", "v1.16", "1.16.3", " v1.16.0 "] {
        assert_eq!(text.parse::<KubeRelease>().unwrap(), V1_16, "{text}");
    }
    assert_eq!("1.32".parse::<KubeRelease>().unwrap(), V1_32);
    assert_eq!(V1_16.to_string(), "1.16");
    assert_eq!(V1_28.to_string(), "1.28");
    for release in KubeRelease::ALL {
        assert_eq!(release.to_string().parse::<KubeRelease>().unwrap(), release);
    }
}

#[test]
fn rejects_unknown_releases_with_a_clear_message() {
    for text in [
        "1.15", "1.33", "2.16", "1", "", "1.x", "v", "1.16.3.1", "1.-16", "1.16-rc",
    ] {
        let err = text.parse::<KubeRelease>().unwrap_err();
        assert_eq!(err.input, text);
        let message = err.to_string();
        assert!(message.contains(&format!("{text:?}")), "{message}");
        assert!(message.contains("1.N"), "{message}");
    }
    let err = "1.15".parse::<KubeRelease>().unwrap_err();
    assert!(err.to_string().contains("1.16 to 1.32"), "{err}");
    let core: crate::Error = err.into();
    assert!(core.to_string().contains("\"1.15\""));
}

#[test]
fn releases_are_ordered_and_complete() {
    let minors: Vec<u32> = KubeRelease::ALL.iter().map(|r| r.minor()).collect();
    assert_eq!(minors, (16..=32).collect::<Vec<_>>());
    assert!(KubeRelease::ALL.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(KubeRelease::OLDEST, V1_16);
    assert_eq!(KubeRelease::NEWEST, V1_32);
    assert_eq!(KubeRelease::from_minor(22), Some(V1_22));
    assert_eq!(KubeRelease::from_minor(15), None);
}

#[test]
fn release_serde_is_the_display_form() {
    assert_eq!(serde_json::to_string(&V1_21).unwrap(), "\"1.21\"");
    assert_eq!(
        serde_json::from_str::<KubeRelease>("\"v1.21.4\"").unwrap(),
        V1_21
    );
    assert!(serde_json::from_str::<KubeRelease>("\"1.40\"").is_err());
}

// ---- spot checks against the deprecation guide (and the FAQ for 1.16) ----

#[test]
fn deployments_on_1_16_follow_the_faq() {
    assert_eq!(
        versions(V1_16, "apps", "deployments"),
        ["v1", "v1beta2", "v1beta1"]
    );
    assert_eq!(versions(V1_16, "extensions", "deployments"), ["v1beta1"]);
    for (group, plural) in [
        ("apps", "daemonsets"),
        ("apps", "replicasets"),
        ("apps", "statefulsets"),
        ("extensions", "daemonsets"),
        ("extensions", "replicasets"),
        ("extensions", "networkpolicies"),
        ("extensions", "podsecuritypolicies"),
    ] {
        assert!(
            !versions(V1_16, group, plural).is_empty(),
            "{plural}.{group}"
        );
        assert!(
            versions(V1_17, group, plural).iter().all(|v| *v == "v1"),
            "upstream 1.17 serves {plural}.{group} only at v1"
        );
    }
    let served = V1_16.discovery().served_resources();
    let deployments = served
        .iter()
        .find(|s| s.group_resource() == "deployments.apps")
        .unwrap();
    assert_eq!(deployments.preferred_version, "v1");
    assert_eq!(V1_16.preferred_version("extensions"), Some("v1beta1"));
}

#[test]
fn ingresses() {
    assert_served_during("extensions", "v1beta1", "ingresses", V1_16, Some(V1_21));
    assert_served_during(
        "networking.k8s.io",
        "v1beta1",
        "ingresses",
        V1_16,
        Some(V1_21),
    );
    assert_served_during("networking.k8s.io", "v1", "ingresses", V1_19, None);
    assert_eq!(versions(V1_22, "networking.k8s.io", "ingresses"), ["v1"]);
    assert!(versions(V1_22, "extensions", "ingresses").is_empty());
    assert_eq!(V1_22.preferred_version("extensions"), None);
    assert_served_during("networking.k8s.io", "v1", "ingressclasses", V1_19, None);
    assert_served_during(
        "networking.k8s.io",
        "v1beta1",
        "ingressclasses",
        V1_18,
        Some(V1_21),
    );
}

#[test]
fn cronjobs() {
    assert_eq!(versions(V1_20, "batch", "cronjobs"), ["v1beta1"]);
    assert_eq!(versions(V1_21, "batch", "cronjobs"), ["v1", "v1beta1"]);
    assert_eq!(versions(V1_24, "batch", "cronjobs"), ["v1", "v1beta1"]);
    assert_eq!(versions(V1_25, "batch", "cronjobs"), ["v1"]);
    assert!(
        !V1_16.serves("batch", "v2alpha1", "cronjobs"),
        "alpha is off by default"
    );
    for release in KubeRelease::ALL {
        assert_eq!(release.preferred_version("batch"), Some("v1"));
    }
}

#[test]
fn policy() {
    assert_served_during(
        "policy",
        "v1beta1",
        "poddisruptionbudgets",
        V1_16,
        Some(V1_24),
    );
    assert_served_during("policy", "v1", "poddisruptionbudgets", V1_21, None);
    assert_served_during(
        "policy",
        "v1beta1",
        "podsecuritypolicies",
        V1_16,
        Some(V1_24),
    );
    assert_eq!(V1_20.preferred_version("policy"), Some("v1beta1"));
    assert_eq!(V1_21.preferred_version("policy"), Some("v1"));
    assert_eq!(V1_25.preferred_version("policy"), Some("v1"));
    assert!(
        builtin_resources()
            .iter()
            .filter(|r| r.plural == "podsecuritypolicies")
            .all(|r| !r.is_served_by(V1_25))
    );
}

#[test]
fn horizontal_pod_autoscalers() {
    assert_served_during(
        "autoscaling",
        "v2beta1",
        "horizontalpodautoscalers",
        V1_16,
        Some(V1_24),
    );
    assert_served_during(
        "autoscaling",
        "v2beta2",
        "horizontalpodautoscalers",
        V1_16,
        Some(V1_25),
    );
    assert_served_during("autoscaling", "v2", "horizontalpodautoscalers", V1_23, None);
    assert_served_during("autoscaling", "v1", "horizontalpodautoscalers", V1_16, None);
    assert_eq!(
        versions(V1_26, "autoscaling", "horizontalpodautoscalers"),
        ["v2", "v1"]
    );
    // v2 is GA from 1.23 but preferred only from 1.27 (kubernetes#114358).
    assert_eq!(V1_22.preferred_version("autoscaling"), Some("v1"));
    assert_eq!(V1_26.preferred_version("autoscaling"), Some("v1"));
    assert_eq!(V1_27.preferred_version("autoscaling"), Some("v2"));
}

#[test]
fn flowcontrol() {
    for plural in ["flowschemas", "prioritylevelconfigurations"] {
        let g = "flowcontrol.apiserver.k8s.io";
        assert_served_during(g, "v1beta1", plural, V1_20, Some(V1_25));
        assert_served_during(g, "v1beta2", plural, V1_23, Some(V1_28));
        assert_served_during(g, "v1beta3", plural, V1_26, Some(V1_31));
        assert_served_during(g, "v1", plural, V1_29, None);
    }
    let preferred = |r: KubeRelease| r.preferred_version("flowcontrol.apiserver.k8s.io");
    assert_eq!(preferred(V1_19), None);
    assert_eq!(preferred(V1_20), Some("v1beta1"));
    assert_eq!(preferred(V1_25), Some("v1beta1"));
    assert_eq!(preferred(V1_26), Some("v1beta2"));
    assert_eq!(preferred(V1_27), Some("v1beta3"));
    assert_eq!(preferred(V1_29), Some("v1beta3"));
    assert_eq!(preferred(V1_30), Some("v1"));
    assert_eq!(preferred(V1_32), Some("v1"));
}

#[test]
fn removals_of_1_22() {
    for (group, plural) in [
        ("apiextensions.k8s.io", "customresourcedefinitions"),
        (
            "admissionregistration.k8s.io",
            "mutatingwebhookconfigurations",
        ),
        (
            "admissionregistration.k8s.io",
            "validatingwebhookconfigurations",
        ),
        ("apiregistration.k8s.io", "apiservices"),
        ("authentication.k8s.io", "tokenreviews"),
        ("authorization.k8s.io", "subjectaccessreviews"),
        ("certificates.k8s.io", "certificatesigningrequests"),
        ("coordination.k8s.io", "leases"),
        ("rbac.authorization.k8s.io", "roles"),
        ("rbac.authorization.k8s.io", "clusterrolebindings"),
        ("scheduling.k8s.io", "priorityclasses"),
        ("storage.k8s.io", "storageclasses"),
        ("storage.k8s.io", "csidrivers"),
        ("storage.k8s.io", "csinodes"),
        ("storage.k8s.io", "volumeattachments"),
    ] {
        assert!(V1_21.serves(group, "v1beta1", plural), "{plural}.{group}");
        assert!(!V1_22.serves(group, "v1beta1", plural), "{plural}.{group}");
        assert!(V1_22.serves(group, "v1", plural), "{plural}.{group}");
    }
    assert_served_during(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        V1_16,
        None,
    );
    assert_served_during(
        "certificates.k8s.io",
        "v1",
        "certificatesigningrequests",
        V1_19,
        None,
    );
    assert_served_during("storage.k8s.io", "v1", "csidrivers", V1_18, None);
    assert_served_during("storage.k8s.io", "v1", "csinodes", V1_17, None);
}

#[test]
fn removals_of_1_25_to_1_27() {
    assert_served_during(
        "discovery.k8s.io",
        "v1beta1",
        "endpointslices",
        V1_17,
        Some(V1_24),
    );
    assert_served_during("discovery.k8s.io", "v1", "endpointslices", V1_21, None);
    assert_served_during(
        "node.k8s.io",
        "v1beta1",
        "runtimeclasses",
        V1_16,
        Some(V1_24),
    );
    assert_served_during("node.k8s.io", "v1", "runtimeclasses", V1_20, None);
    assert_served_during("events.k8s.io", "v1beta1", "events", V1_16, Some(V1_24));
    assert_served_during("events.k8s.io", "v1", "events", V1_19, None);
    assert_served_during(
        "storage.k8s.io",
        "v1beta1",
        "csistoragecapacities",
        V1_21,
        Some(V1_26),
    );
    assert_served_during("storage.k8s.io", "v1", "csistoragecapacities", V1_24, None);
    assert_eq!(
        V1_16.discovery().group("discovery.k8s.io"),
        None,
        "only v1alpha1 in 1.16"
    );
}

#[test]
fn volume_snapshots_come_from_the_csi_add_on_era() {
    for plural in [
        "volumesnapshots",
        "volumesnapshotcontents",
        "volumesnapshotclasses",
    ] {
        assert_served_during(
            "snapshot.storage.k8s.io",
            "v1beta1",
            plural,
            V1_17,
            Some(V1_23),
        );
        assert_served_during("snapshot.storage.k8s.io", "v1", plural, V1_20, None);
    }
    assert_eq!(
        V1_21.preferred_version("snapshot.storage.k8s.io"),
        Some("v1")
    );
    assert!(
        builtin_resource("snapshot.storage.k8s.io", "VolumeSnapshot")
            .unwrap()
            .namespaced
    );
}

#[test]
fn verbs_are_faithful() {
    let discovery = V1_20.discovery();
    let verbs = |group: &str, version: &str, kind: &str| {
        discovery
            .resource_for_kind(group, version, kind)
            .unwrap_or_else(|| panic!("{kind}"))
            .verbs
            .clone()
    };
    assert_eq!(verbs("", "v1", "Binding"), ["create"]);
    assert_eq!(verbs("", "v1", "ComponentStatus"), ["get", "list"]);
    assert_eq!(
        verbs("authentication.k8s.io", "v1", "TokenReview"),
        ["create"]
    );
    assert_eq!(
        verbs("authorization.k8s.io", "v1", "SelfSubjectAccessReview"),
        ["create"]
    );
    assert_eq!(verbs("", "v1", "Event").len(), 8);
    assert!(verbs("", "v1", "Event").contains(&"deletecollection".to_string()));
    let namespace = verbs("", "v1", "Namespace");
    assert!(!namespace.contains(&"deletecollection".to_string()));
    assert!(namespace.contains(&"watch".to_string()));
    assert!(!verbs("", "v1", "Service").contains(&"deletecollection".to_string()));
    let services_1_23 = V1_23.discovery();
    let service = services_1_23
        .resource_for_kind("", "v1", "Service")
        .unwrap();
    assert!(service.supports("deletecollection"));
    let pods = discovery.resource_for_kind("", "v1", "Pod").unwrap();
    assert_eq!(pods.short_names, ["po"]);
    assert_eq!(pods.categories, ["all"]);
    assert_eq!(pods.singular, "pod");
}

#[test]
fn short_names_match_kubectl() {
    let short = |group: &str, plural: &str| {
        builtin_resource_by_plural(group, plural)
            .unwrap()
            .short_names
            .to_vec()
    };
    assert_eq!(short("", "persistentvolumeclaims"), ["pvc"]);
    assert_eq!(short("", "persistentvolumes"), ["pv"]);
    assert_eq!(short("", "services"), ["svc"]);
    assert_eq!(short("apps", "deployments"), ["deploy"]);
    assert_eq!(short("apps", "statefulsets"), ["sts"]);
    assert_eq!(short("autoscaling", "horizontalpodautoscalers"), ["hpa"]);
    assert_eq!(
        short("apiextensions.k8s.io", "customresourcedefinitions"),
        ["crd", "crds"]
    );
    assert_eq!(short("networking.k8s.io", "ingresses"), ["ing"]);
}

#[test]
fn builtin_lookups() {
    let deploy = builtin_resource("apps", "Deployment").unwrap();
    assert_eq!(deploy.plural, "deployments");
    assert!(deploy.namespaced);
    assert_eq!(deploy.group_resource(), "deployments.apps");
    assert!(!builtin_resource("", "Namespace").unwrap().namespaced);
    assert_eq!(builtin_resource("", "Event").unwrap().group, "");
    assert_eq!(
        builtin_resource("events.k8s.io", "Event").unwrap().group,
        "events.k8s.io"
    );
    assert!(builtin_resource("apps", "Ingress").is_none());
    assert!(builtin_resource("example.com", "Widget").is_none());
    assert!(!V1_28.serves("example.com", "v1", "widgets"));
    assert!(V1_28.served_versions("example.com", "widgets").is_empty());
}

#[test]
fn never_restored() {
    for (group, plural) in [
        ("", "nodes"),
        ("", "events"),
        ("events.k8s.io", "events"),
        ("storage.k8s.io", "csinodes"),
        ("storage.k8s.io", "volumeattachments"),
        ("", "componentstatuses"),
        ("", "bindings"),
        ("authorization.k8s.io", "subjectaccessreviews"),
        ("authentication.k8s.io", "tokenreviews"),
    ] {
        assert!(is_never_restored(group, plural), "{plural}.{group}");
    }
    for (group, plural) in [
        ("", "pods"),
        ("", "persistentvolumeclaims"),
        ("coordination.k8s.io", "leases"),
        ("apps", "deployments"),
        ("example.com", "events"),
    ] {
        assert!(!is_never_restored(group, plural), "{plural}.{group}");
    }
    for (group, plural) in NEVER_RESTORED {
        assert!(
            builtin_resource_by_plural(group, plural).is_some(),
            "{plural}.{group} is a built-in"
        );
    }
}

// ---- structural properties over every release ----

#[test]
fn every_preferred_version_is_served() {
    for release in KubeRelease::ALL {
        for group in release.discovery().groups {
            assert!(
                group
                    .versions
                    .iter()
                    .any(|v| v.version == group.preferred_version),
                "{release}: {} prefers {} which it does not serve",
                group.name,
                group.preferred_version
            );
        }
    }
}

#[test]
fn versions_are_unique_and_ordered_within_groups() {
    for release in KubeRelease::ALL {
        let discovery = release.discovery();
        let mut names = HashSet::new();
        for group in &discovery.groups {
            assert!(
                names.insert(group.name.as_str()),
                "{release}: group {} twice",
                group.name
            );
            assert!(
                !group.versions.is_empty(),
                "{release}: {} has no version",
                group.name
            );
            let mut seen = HashSet::new();
            for v in &group.versions {
                assert!(
                    seen.insert(v.version.as_str()),
                    "{release}: {}/{} twice",
                    group.name,
                    v.version
                );
                assert!(!v.resources.is_empty());
                assert!(
                    !v.version.contains("alpha"),
                    "{release}: alpha {}/{}",
                    group.name,
                    v.version
                );
            }
            let mut sorted: Vec<&str> = group.versions.iter().map(|v| v.version.as_str()).collect();
            sort_by_priority(&mut sorted);
            let listed: Vec<&str> = group.versions.iter().map(|v| v.version.as_str()).collect();
            assert_eq!(
                listed, sorted,
                "{release}: {} versions out of priority order",
                group.name
            );
        }
    }
}

#[test]
fn plurals_and_kinds_are_unique_per_group_version() {
    for release in KubeRelease::ALL {
        for group in release.discovery().groups {
            for version in &group.versions {
                let mut plurals = HashSet::new();
                let mut kinds = HashSet::new();
                for r in &version.resources {
                    assert!(
                        plurals.insert(&r.plural),
                        "{release}: {}/{} {}",
                        group.name,
                        version.version,
                        r.plural
                    );
                    assert!(
                        kinds.insert(&r.kind),
                        "{release}: {}/{} {}",
                        group.name,
                        version.version,
                        r.kind
                    );
                    assert!(!r.plural.contains('/'), "no subresources");
                }
            }
        }
    }
}

#[test]
fn a_resource_keeps_its_kind_plural_and_scope_across_versions() {
    for release in KubeRelease::ALL {
        let discovery = release.discovery();
        for group in &discovery.groups {
            let mut facts: Vec<(&str, &str, bool)> = Vec::new();
            for version in &group.versions {
                for r in &version.resources {
                    match facts.iter().find(|(_, plural, _)| *plural == r.plural) {
                        Some(known) => assert_eq!(
                            *known,
                            (r.kind.as_str(), r.plural.as_str(), r.namespaced),
                            "{release}: {} changes across versions of {}",
                            r.plural,
                            group.name
                        ),
                        None => facts.push((r.kind.as_str(), r.plural.as_str(), r.namespaced)),
                    }
                }
            }
        }
    }
}

#[test]
fn core_v1_is_always_served_first() {
    for release in KubeRelease::ALL {
        let discovery = release.discovery();
        let core = &discovery.groups[0];
        assert_eq!(core.name, "", "{release}");
        assert_eq!(core.preferred_version, "v1");
        let plurals: Vec<&str> = core.versions[0]
            .resources
            .iter()
            .map(|r| r.plural.as_str())
            .collect();
        for plural in [
            "pods",
            "services",
            "endpoints",
            "configmaps",
            "secrets",
            "serviceaccounts",
            "persistentvolumeclaims",
            "persistentvolumes",
            "namespaces",
            "nodes",
            "events",
            "limitranges",
            "resourcequotas",
            "replicationcontrollers",
            "podtemplates",
            "componentstatuses",
            "bindings",
        ] {
            assert!(
                plurals.contains(&plural),
                "{release}: core v1 lacks {plural}"
            );
        }
        assert_eq!(core.versions.len(), 1);
    }
}

#[test]
fn the_table_is_consistent() {
    let mut seen = HashSet::new();
    for r in builtin_resources() {
        assert!(
            seen.insert((r.group, r.plural)),
            "{} listed twice",
            r.group_resource()
        );
        assert!(!r.served.is_empty());
        let mut versions = HashSet::new();
        for s in r.served {
            assert!(
                versions.insert(s.version),
                "{} {} twice",
                r.group_resource(),
                s.version
            );
            assert!(
                s.last.is_none_or(|last| s.first <= last),
                "{} {}",
                r.group_resource(),
                s.version
            );
        }
        // Every built-in is served by at least one release csdr knows.
        assert!(KubeRelease::ALL.iter().any(|rel| r.is_served_by(*rel)));
    }
}

#[test]
fn served_resources_agree_with_serves() {
    for release in KubeRelease::ALL {
        let discovery = release.discovery();
        for served in discovery.served_resources() {
            let builtin =
                builtin_resource_by_plural(&served.group, &served.resource.plural).unwrap();
            assert_eq!(served.versions, builtin.versions_in(release));
            assert_eq!(served.resource.kind, builtin.kind);
            for v in &served.versions {
                assert!(release.serves(&served.group, v, &served.resource.plural));
            }
        }
        let listed = discovery.served_resources().len();
        let expected = builtin_resources()
            .iter()
            .filter(|r| r.is_served_by(release))
            .count();
        assert_eq!(listed, expected, "{release}");
    }
}
