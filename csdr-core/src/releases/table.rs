//! The data: every built-in resource csdr knows, with the versions each release serves.
//!
//! One entry per (group, plural). `served` lists, per API version, the first and the last
//! release (inclusive) that serve the resource there by default; `None` = still served in
//! the newest release csdr knows. Entries are in discovery order: groups in the order the
//! API server's aggregator lists them, resources in the order `kubectl api-resources` shows.
//! Sources and deviations are listed in the parent module's documentation.

use super::KubeRelease::{self, *};
use super::{BuiltinResource, ServedSpan, Verbs};

const fn span(version: &'static str, first: KubeRelease, last: Option<KubeRelease>) -> ServedSpan {
    ServedSpan {
        version,
        first,
        last,
    }
}

/// Served from `first` on, still served in the newest known release.
const fn from(version: &'static str, first: KubeRelease) -> ServedSpan {
    span(version, first, None)
}

/// Served from `first` through `last`, both inclusive.
const fn during(version: &'static str, first: KubeRelease, last: KubeRelease) -> ServedSpan {
    span(version, first, Some(last))
}

#[allow(clippy::too_many_arguments)]
const fn res(
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    short_names: &'static [&'static str],
    namespaced: bool,
    verbs: Verbs,
    categories: &'static [&'static str],
    served: &'static [ServedSpan],
) -> BuiltinResource {
    BuiltinResource {
        group,
        kind,
        plural,
        short_names,
        namespaced,
        verbs,
        categories,
        served,
    }
}

const NS: bool = true;
const CLUSTER: bool = false;
const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];
const STD: Verbs = Verbs::Standard;

/// The GA version of a long-stable resource: served by every release csdr knows.
const V1_ALWAYS: &[ServedSpan] = &[from("v1", V1_16)];
/// GA since before 1.16, v1beta1 removed in 1.22 (the big 1.22 clean-up).
const V1_AND_BETA_UNTIL_1_21: &[ServedSpan] = &[from("v1", V1_16), during("v1beta1", V1_16, V1_21)];
/// apps/v1beta1, apps/v1beta2 and extensions/v1beta1 workloads: the backup-center FAQ's 1.16.
const APPS_FAQ_1_16: &[ServedSpan] = &[
    from("v1", V1_16),
    during("v1beta1", V1_16, V1_16),
    during("v1beta2", V1_16, V1_16),
];
const APPS_V1BETA2_FAQ_1_16: &[ServedSpan] = &[from("v1", V1_16), during("v1beta2", V1_16, V1_16)];
const ONLY_FAQ_1_16: &[ServedSpan] = &[during("v1beta1", V1_16, V1_16)];
const FLOWCONTROL: &[ServedSpan] = &[
    from("v1", V1_29),
    during("v1beta3", V1_26, V1_31),
    during("v1beta2", V1_23, V1_28),
    during("v1beta1", V1_20, V1_25),
];
const SNAPSHOT: &[ServedSpan] = &[from("v1", V1_20), during("v1beta1", V1_17, V1_23)];

/// Every built-in resource, in discovery order.
#[rustfmt::skip]
pub(super) static BUILTINS: &[BuiltinResource] = &[
    // core (the legacy group, `/api/v1`)
    res("", "Binding", "bindings", &[], NS, Verbs::CreateOnly, NONE, V1_ALWAYS),
    res("", "ComponentStatus", "componentstatuses", &["cs"], CLUSTER, Verbs::GetList, NONE, V1_ALWAYS),
    res("", "ConfigMap", "configmaps", &["cm"], NS, STD, NONE, V1_ALWAYS),
    res("", "Endpoints", "endpoints", &["ep"], NS, STD, NONE, V1_ALWAYS),
    res("", "Event", "events", &["ev"], NS, STD, NONE, V1_ALWAYS),
    res("", "LimitRange", "limitranges", &["limits"], NS, STD, NONE, V1_ALWAYS),
    res("", "Namespace", "namespaces", &["ns"], CLUSTER, Verbs::NoDeleteCollection, NONE, V1_ALWAYS),
    res("", "Node", "nodes", &["no"], CLUSTER, STD, NONE, V1_ALWAYS),
    res("", "PersistentVolumeClaim", "persistentvolumeclaims", &["pvc"], NS, STD, NONE, V1_ALWAYS),
    res("", "PersistentVolume", "persistentvolumes", &["pv"], CLUSTER, STD, NONE, V1_ALWAYS),
    res("", "Pod", "pods", &["po"], NS, STD, ALL, V1_ALWAYS),
    res("", "PodTemplate", "podtemplates", &[], NS, STD, NONE, V1_ALWAYS),
    res("", "ReplicationController", "replicationcontrollers", &["rc"], NS, STD, ALL, V1_ALWAYS),
    res("", "ResourceQuota", "resourcequotas", &["quota"], NS, STD, NONE, V1_ALWAYS),
    res("", "Secret", "secrets", &[], NS, STD, NONE, V1_ALWAYS),
    res("", "ServiceAccount", "serviceaccounts", &["sa"], NS, STD, NONE, V1_ALWAYS),
    res("", "Service", "services", &["svc"], NS, Verbs::DeleteCollectionFrom(V1_23), ALL, V1_ALWAYS),
    // apps
    res("apps", "ControllerRevision", "controllerrevisions", &[], NS, STD, NONE, APPS_FAQ_1_16),
    res("apps", "DaemonSet", "daemonsets", &["ds"], NS, STD, ALL, APPS_V1BETA2_FAQ_1_16),
    res("apps", "Deployment", "deployments", &["deploy"], NS, STD, ALL, APPS_FAQ_1_16),
    res("apps", "ReplicaSet", "replicasets", &["rs"], NS, STD, ALL, APPS_V1BETA2_FAQ_1_16),
    res("apps", "StatefulSet", "statefulsets", &["sts"], NS, STD, ALL, APPS_FAQ_1_16),
    // events.k8s.io
    res("events.k8s.io", "Event", "events", &["ev"], NS, STD, NONE, &[from("v1", V1_19), during("v1beta1", V1_16, V1_24)]),
    // authentication.k8s.io
    res("authentication.k8s.io", "SelfSubjectReview", "selfsubjectreviews", &[], CLUSTER, Verbs::CreateOnly, NONE, &[from("v1", V1_28), from("v1beta1", V1_27)]),
    res("authentication.k8s.io", "TokenReview", "tokenreviews", &[], CLUSTER, Verbs::CreateOnly, NONE, V1_AND_BETA_UNTIL_1_21),
    // authorization.k8s.io
    res("authorization.k8s.io", "LocalSubjectAccessReview", "localsubjectaccessreviews", &[], NS, Verbs::CreateOnly, NONE, V1_AND_BETA_UNTIL_1_21),
    res("authorization.k8s.io", "SelfSubjectAccessReview", "selfsubjectaccessreviews", &[], CLUSTER, Verbs::CreateOnly, NONE, V1_AND_BETA_UNTIL_1_21),
    res("authorization.k8s.io", "SelfSubjectRulesReview", "selfsubjectrulesreviews", &[], CLUSTER, Verbs::CreateOnly, NONE, V1_AND_BETA_UNTIL_1_21),
    res("authorization.k8s.io", "SubjectAccessReview", "subjectaccessreviews", &[], CLUSTER, Verbs::CreateOnly, NONE, V1_AND_BETA_UNTIL_1_21),
    // autoscaling
    res("autoscaling", "HorizontalPodAutoscaler", "horizontalpodautoscalers", &["hpa"], NS, STD, ALL, &[
        from("v2", V1_23),
        from("v1", V1_16),
        during("v2beta2", V1_16, V1_25),
        during("v2beta1", V1_16, V1_24),
    ]),
    // batch
    res("batch", "CronJob", "cronjobs", &["cj"], NS, STD, ALL, &[from("v1", V1_21), during("v1beta1", V1_16, V1_24)]),
    res("batch", "Job", "jobs", &[], NS, STD, ALL, V1_ALWAYS),
    // certificates.k8s.io
    res("certificates.k8s.io", "CertificateSigningRequest", "certificatesigningrequests", &["csr"], CLUSTER, STD, NONE, &[from("v1", V1_19), during("v1beta1", V1_16, V1_21)]),
    // networking.k8s.io
    res("networking.k8s.io", "IngressClass", "ingressclasses", &[], CLUSTER, STD, NONE, &[from("v1", V1_19), during("v1beta1", V1_18, V1_21)]),
    res("networking.k8s.io", "Ingress", "ingresses", &["ing"], NS, STD, NONE, &[from("v1", V1_19), during("v1beta1", V1_16, V1_21)]),
    res("networking.k8s.io", "NetworkPolicy", "networkpolicies", &["netpol"], NS, STD, NONE, V1_ALWAYS),
    // extensions
    res("extensions", "DaemonSet", "daemonsets", &["ds"], NS, STD, ALL, ONLY_FAQ_1_16),
    res("extensions", "Deployment", "deployments", &["deploy"], NS, STD, ALL, ONLY_FAQ_1_16),
    res("extensions", "Ingress", "ingresses", &["ing"], NS, STD, NONE, &[during("v1beta1", V1_16, V1_21)]),
    res("extensions", "NetworkPolicy", "networkpolicies", &["netpol"], NS, STD, NONE, ONLY_FAQ_1_16),
    res("extensions", "PodSecurityPolicy", "podsecuritypolicies", &["psp"], CLUSTER, STD, NONE, ONLY_FAQ_1_16),
    res("extensions", "ReplicaSet", "replicasets", &["rs"], NS, STD, ALL, ONLY_FAQ_1_16),
    // policy
    res("policy", "PodDisruptionBudget", "poddisruptionbudgets", &["pdb"], NS, STD, NONE, &[from("v1", V1_21), during("v1beta1", V1_16, V1_24)]),
    res("policy", "PodSecurityPolicy", "podsecuritypolicies", &["psp"], CLUSTER, STD, NONE, &[during("v1beta1", V1_16, V1_24)]),
    // rbac.authorization.k8s.io
    res("rbac.authorization.k8s.io", "ClusterRoleBinding", "clusterrolebindings", &[], CLUSTER, STD, NONE, V1_AND_BETA_UNTIL_1_21),
    res("rbac.authorization.k8s.io", "ClusterRole", "clusterroles", &[], CLUSTER, STD, NONE, V1_AND_BETA_UNTIL_1_21),
    res("rbac.authorization.k8s.io", "RoleBinding", "rolebindings", &[], NS, STD, NONE, V1_AND_BETA_UNTIL_1_21),
    res("rbac.authorization.k8s.io", "Role", "roles", &[], NS, STD, NONE, V1_AND_BETA_UNTIL_1_21),
    // storage.k8s.io
    res("storage.k8s.io", "CSIDriver", "csidrivers", &[], CLUSTER, STD, NONE, &[from("v1", V1_18), during("v1beta1", V1_16, V1_21)]),
    res("storage.k8s.io", "CSINode", "csinodes", &[], CLUSTER, STD, NONE, &[from("v1", V1_17), during("v1beta1", V1_16, V1_21)]),
    res("storage.k8s.io", "CSIStorageCapacity", "csistoragecapacities", &[], NS, STD, NONE, &[from("v1", V1_24), during("v1beta1", V1_21, V1_26)]),
    res("storage.k8s.io", "StorageClass", "storageclasses", &["sc"], CLUSTER, STD, NONE, V1_AND_BETA_UNTIL_1_21),
    res("storage.k8s.io", "VolumeAttachment", "volumeattachments", &[], CLUSTER, STD, NONE, V1_AND_BETA_UNTIL_1_21),
    // admissionregistration.k8s.io
    res("admissionregistration.k8s.io", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", &[], CLUSTER, STD, NONE, V1_AND_BETA_UNTIL_1_21),
    res("admissionregistration.k8s.io", "ValidatingAdmissionPolicy", "validatingadmissionpolicies", &[], CLUSTER, STD, NONE, &[from("v1", V1_30)]),
    res("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding", "validatingadmissionpolicybindings", &[], CLUSTER, STD, NONE, &[from("v1", V1_30)]),
    res("admissionregistration.k8s.io", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations", &[], CLUSTER, STD, NONE, V1_AND_BETA_UNTIL_1_21),
    // apiextensions.k8s.io
    res("apiextensions.k8s.io", "CustomResourceDefinition", "customresourcedefinitions", &["crd", "crds"], CLUSTER, STD, NONE, V1_AND_BETA_UNTIL_1_21),
    // scheduling.k8s.io
    res("scheduling.k8s.io", "PriorityClass", "priorityclasses", &["pc"], CLUSTER, STD, NONE, V1_AND_BETA_UNTIL_1_21),
    // coordination.k8s.io
    res("coordination.k8s.io", "Lease", "leases", &[], NS, STD, NONE, V1_AND_BETA_UNTIL_1_21),
    // node.k8s.io
    res("node.k8s.io", "RuntimeClass", "runtimeclasses", &[], CLUSTER, STD, NONE, &[from("v1", V1_20), during("v1beta1", V1_16, V1_24)]),
    // discovery.k8s.io (1.16 has only v1alpha1, which is off by default)
    res("discovery.k8s.io", "EndpointSlice", "endpointslices", &[], NS, STD, NONE, &[from("v1", V1_21), during("v1beta1", V1_17, V1_24)]),
    // flowcontrol.apiserver.k8s.io (1.18 and 1.19 have only v1alpha1, off by default)
    res("flowcontrol.apiserver.k8s.io", "FlowSchema", "flowschemas", &[], CLUSTER, STD, NONE, FLOWCONTROL),
    res("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration", "prioritylevelconfigurations", &[], CLUSTER, STD, NONE, FLOWCONTROL),
    // apiregistration.k8s.io (served by the aggregator)
    res("apiregistration.k8s.io", "APIService", "apiservices", &[], CLUSTER, STD, NONE, V1_AND_BETA_UNTIL_1_21),
    // snapshot.storage.k8s.io: CRDs of the CSI external-snapshotter add-on, not the API server
    res("snapshot.storage.k8s.io", "VolumeSnapshotClass", "volumesnapshotclasses", &["vsclass", "vsclasses"], CLUSTER, STD, NONE, SNAPSHOT),
    res("snapshot.storage.k8s.io", "VolumeSnapshotContent", "volumesnapshotcontents", &["vsc", "vscs"], CLUSTER, STD, NONE, SNAPSHOT),
    res("snapshot.storage.k8s.io", "VolumeSnapshot", "volumesnapshots", &["vs"], NS, STD, NONE, SNAPSHOT),
];

/// Groups whose preferred version is not simply the highest-priority served one, as
/// (group, first release, last release, preferred version).
pub(super) static PREFERRED_EXCEPTIONS: &[(&str, KubeRelease, KubeRelease, &str)] = &[
    // autoscaling/v2 went GA in 1.23 but stayed behind v1 in the scheme's version priority
    // until kubernetes/kubernetes#114358 (1.27).
    ("autoscaling", V1_23, V1_26, "v1"),
    // flowcontrol: each new version becomes preferred one release after it appears
    // (kubernetes/kubernetes#104399, #112306, #114492, #121089, #122472).
    ("flowcontrol.apiserver.k8s.io", V1_23, V1_25, "v1beta1"),
    ("flowcontrol.apiserver.k8s.io", V1_26, V1_26, "v1beta2"),
    ("flowcontrol.apiserver.k8s.io", V1_29, V1_29, "v1beta3"),
];
