//! The OpenAPI documents of the test API server (`/openapi/v2`, `/openapi/v3` and its
//! per-group-version documents), built from the official specifications of each simulated
//! release, with the served CustomResourceDefinitions' schemas added; and the server-side field
//! validation (`fieldValidation=Strict|Warn|Ignore`) driven by those schemas.
//!
//! # Where each release's specification comes from
//!
//! The repository stores, gzip-compressed and minified (JSON re-serialized with sorted keys and
//! no indentation, content unchanged), the official specification of fifteen releases in
//! `csdr-kube/openapi/` (about 5 MB together; see its README): the OpenAPI v2 document
//! (`swagger.json`, `v1.<minor>.json.gz`) of 1.17–1.21 and 1.28–1.32, and the OpenAPI v3
//! documents by group version (`api/openapi-spec/v3/*_openapi.json`, in one JSON object keyed
//! `api/v1`, `apis/apps/v1`, …: `v1.<minor>.v3.json.gz`) of 1.23–1.27. None is edited; the served
//! documents are filtered from them.
//!
//! | simulated release | document served | origin |
//! | --- | --- | --- |
//! | 1.16 | 1.17.0's (see below) | — |
//! | 1.17 | v1.17.0 | `/openapi/v2` of a kind v1.17.0 API server, as kubernetes-sigs/kustomize committed it (go-bindata of the JSON in `kyaml/openapi/kubernetesapi/swagger.go`, commit 096bd192) |
//! | 1.18 | v1.18.8 | same, `kyaml/openapi/kubernetesapi/v1188/swagger.go` (kustomize commit b61a115e) |
//! | 1.19 | v1.19.1 | same, `kyaml/openapi/kubernetesapi/v1191/swagger.go` (b61a115e) |
//! | 1.20 | v1.20.4 | same, `kyaml/openapi/kubernetesapi/v1204/swagger.go` (kustomize commit 9ff910a9) |
//! | 1.21 | v1.21.2 | same, fetched as protobuf: `kyaml/openapi/kubernetesapi/v1_21_2/swagger.pb.gz` (kustomize commit 9216c6f5), decoded field by field into JSON (every field of the protobuf has its JSON counterpart; vendor extensions' YAML parsed) |
//! | 1.22 | 1.21.2's (see below) | — |
//! | 1.23–1.27 | upstream `api/openapi-spec/v3/` of the release branch | kubernetes-sigs/kubectl-validate's copies in `pkg/openapiclient/builtins/1.<minor>/` (downloaded unmodified from kubernetes' `release-1.<minor>` branch; commit a97ccfac), except `apis/apiregistration.k8s.io/v1`, which kubernetes only published from 1.27 on: 1.23–1.26 have 1.27's (kubectl-validate's choice too) |
//! | 1.28–1.32 | upstream `api/openapi-spec/swagger.json` of the release | kubernetes-client/python's `kubernetes/swagger.json.unprocessed` (the release's swagger.json as the generator downloaded it, unmodified) at tags v28.1.0, v29.0.0, v30.1.0, v31.0.0, v32.0.1 |
//!
//! For 1.23–1.27 the `/openapi/v2` document is derived from the v3 documents (see [`from_v3`]);
//! the v3 documents themselves are served as they are (filtered).
//!
//! No official document of 1.16 or 1.22 could be had here (the kubernetes repository is too
//! large to fetch, and the copies other projects keep of those releases are post-processed or
//! absent from their history; the README says what was searched). Those releases are served
//! **the nearest stored release's document, filtered to what the simulated cluster serves**:
//! 1.16 gets 1.17's, 1.22 gets 1.21's (rather than 1.23's, which advertises the
//! `fieldValidation` parameter a real 1.22 document lacks). Consequences: group versions the
//! nearest document lacks have no schemas — 1.16's `apps/v1beta1`, `apps/v1beta2` and
//! `extensions/v1beta1` workloads (the 1.17 server no longer served them), 1.22's
//! additions over 1.21 — and field descriptions are those of the nearest release. Objects of a
//! kind without a schema are not field-validated, and `kubectl` skips its client-side validation
//! for them. Group versions the simulator serves that are CRDs on a real cluster
//! (`snapshot.storage.k8s.io`) have no schema either.
//!
//! # What is served
//!
//! Every document lists only what the simulated cluster serves: paths whose group, version and
//! resource its discovery lists (with their subresources), and the definitions they reference.
//! `/openapi/v2` answers protobuf (`openapi.v2.Document`, see [`protobuf`]) when the client
//! accepts it, as `kubectl` asks, and JSON otherwise. `/openapi/v3` is served from 1.24 on (a real
//! server serves it from 1.24, where the feature became beta; before it answers 404 and `kubectl`
//! uses `/openapi/v2`). For 1.24–1.27 its per-group-version documents are the official ones; for
//! 1.28 on, and for CRDs' group versions, they are derived mechanically from the v2 document
//! (the real server builds both from the same Go types; see [`v3`]): `#/definitions/X` becomes
//! `#/components/schemas/X`, body parameters become `requestBody`, response schemas `content`,
//! document-level parameters are inlined. Its index names each document with a `?hash=` that
//! changes when the CRDs of the group version change.
//!
//! Served CRDs add, per served version, a definition named as the real server names it (reversed
//! group, version, kind: `com.example.stable.v1.CronTab`) from `openAPIV3Schema` (a CRD without
//! one gets a schema that preserves unknown fields), with `metadata` as `ObjectMeta` and
//! `x-kubernetes-group-version-kind`, its `…List` definition, and its collection and object paths.
//!
//! # Field validation
//!
//! The official documents carry the `fieldValidation` query parameter from 1.23 on (the
//! `ServerSideFieldValidation` feature: alpha and off by default in 1.23 and 1.24, beta and on
//! in 1.25, GA in 1.27). From 1.25 on the server checks the fields of create, update and patch
//! bodies against the kind's schema (see [`fields`]): `fieldValidation=Strict` answers 400
//! `strict decoding error: unknown field "spec.foo"`, `Warn` (the default) answers a `Warning:
//! 299 - "unknown field \"spec.foo\""` header per field, `Ignore` nothing. Before 1.25 the
//! parameter is ignored, as a real server with the feature off ignores it. What `kubectl` 1.32
//! does follows from the document: up to 1.22 the document lacks the parameter, so `kubectl`
//! validates on the client against `/openapi/v2` (an unknown field fails `apply`, naming it);
//! on 1.23 and 1.24 the document advertises it, so `kubectl` skips its client-side validation
//! and sends `fieldValidation=Strict`, which the server ignores: the object is accepted with
//! neither error nor warning, as by a real 1.23 or 1.24 server; from 1.25 on the server reports.
//! Duplicate members of a JSON body are reported the same way (`duplicate field
//! "spec.replicas"`; `kubectl` never sends them: its YAML parser refuses them first).
//!
//! Differences from a real server: unknown fields are reported but kept in the stored object (a
//! real server drops them while decoding, whatever the directive; on 1.23 and 1.24 too, where
//! nothing is reported); duplicates in YAML bodies
//! are not reported; patches are checked as sent (directives such
//! as `$setElementOrder/…` and deletions skipped), not after being applied; protobuf bodies are
//! not checked. Server-side apply is strict whatever the directive, as on a real server (`failed
//! to create typed patch object (…): .spec.foo: field not declared in schema`), but from 1.25 on
//! only, and list items are named by index (`containers[0]`) where a real server names them by
//! key (`containers[name="web"]`).

pub mod fields;
pub mod from_v3;
pub mod protobuf;
pub(crate) mod serve;
pub mod v3;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};

use csdr_core::discovery::Discovery;
use csdr_core::object::KubeObject;
use csdr_core::releases::KubeRelease;
use serde_json::{Map, Value, json};

/// Why an OpenAPI document could not be built.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum OpenApiError {
    /// A stored specification does not decompress or parse (the build is broken).
    #[error(
        "the stored OpenAPI specification of Kubernetes 1.{minor} (csdr-kube/openapi/v1.{minor}.json.gz) is unreadable: {reason}"
    )]
    Corrupt {
        /// The minor version of the stored specification.
        minor: u32,
        /// What failed.
        reason: String,
    },
}

/// How a stored specification is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// The OpenAPI v2 document (`v1.<minor>.json.gz`).
    V2,
    /// The OpenAPI v3 documents by group version, in one JSON object keyed `api/v1`,
    /// `apis/apps/v1`, … (`v1.<minor>.v3.json.gz`).
    V3,
}

/// One stored specification.
struct Stored {
    minor: u32,
    format: Format,
    data: &'static [u8],
}

macro_rules! stored {
    ($minor:literal, V2) => {
        Stored {
            minor: $minor,
            format: Format::V2,
            data: include_bytes!(concat!("../../openapi/v1.", $minor, ".json.gz")),
        }
    };
    ($minor:literal, V3) => {
        Stored {
            minor: $minor,
            format: Format::V3,
            data: include_bytes!(concat!("../../openapi/v1.", $minor, ".v3.json.gz")),
        }
    };
}

const STORED: [Stored; 15] = [
    stored!(17, V2),
    stored!(18, V2),
    stored!(19, V2),
    stored!(20, V2),
    stored!(21, V2),
    stored!(23, V3),
    stored!(24, V3),
    stored!(25, V3),
    stored!(26, V3),
    stored!(27, V3),
    stored!(28, V2),
    stored!(29, V2),
    stored!(30, V2),
    stored!(31, V2),
    stored!(32, V2),
];

/// A parsed official specification with its kinds indexed.
#[derive(Debug)]
pub struct Spec {
    /// The minor version of the release the document is of.
    pub minor: u32,
    /// The whole OpenAPI v2 document (for 1.23–1.27 derived from the v3 ones, see [`from_v3`]).
    pub document: Value,
    /// The official OpenAPI v3 documents by group version (`api/v1`, `apis/apps/v1`, …), where
    /// they are what is stored (1.23–1.27).
    pub v3: Option<Map<String, Value>>,
    /// Definition name by (group, version, kind), from `x-kubernetes-group-version-kind`.
    kinds: HashMap<(String, String, String), String>,
    /// Whether some operation takes the `fieldValidation` query parameter.
    field_validation: bool,
}

impl Spec {
    /// The document's definitions.
    pub fn definitions(&self) -> &Map<String, Value> {
        static EMPTY: OnceLock<Map<String, Value>> = OnceLock::new();
        self.document
            .get("definitions")
            .and_then(Value::as_object)
            .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
    }

    /// The definition name of a built-in kind, if the document has it.
    pub fn definition_of(&self, group: &str, version: &str, kind: &str) -> Option<&str> {
        self.kinds
            .get(&(group.to_string(), version.to_string(), kind.to_string()))
            .map(String::as_str)
    }

    /// Whether the document's write operations take the `fieldValidation` query parameter (from
    /// 1.23 on: the parameter exists, whether the server honours it or not).
    pub fn advertises_field_validation(&self) -> bool {
        self.field_validation
    }
}

/// The minor version of the stored specification served for a release (see the module docs).
pub fn spec_minor(release: KubeRelease) -> u32 {
    match release.minor() {
        16 => 17,
        22 => 21,
        minor => minor,
    }
}

/// Whether the release's own specification is stored (else the nearest one is served).
pub fn has_own_spec(release: KubeRelease) -> bool {
    spec_minor(release) == release.minor()
}

/// The official specification served for a release, parsed once.
pub fn spec(release: KubeRelease) -> Result<Arc<Spec>, OpenApiError> {
    static PARSED: [OnceLock<Result<Arc<Spec>, OpenApiError>>; STORED.len()] =
        [const { OnceLock::new() }; STORED.len()];
    let minor = spec_minor(release);
    let index = STORED
        .iter()
        .position(|s| s.minor == minor)
        .ok_or_else(|| OpenApiError::Corrupt {
            minor,
            reason: "not stored".into(),
        })?;
    PARSED[index]
        .get_or_init(|| parse(&STORED[index]).map(Arc::new))
        .clone()
}

fn parse(stored: &Stored) -> Result<Spec, OpenApiError> {
    let corrupt = |reason: String| OpenApiError::Corrupt {
        minor: stored.minor,
        reason,
    };
    let text = csdr_core::gzip::gunzip(stored.data).map_err(|e| corrupt(e.to_string()))?;
    let stored_value: Value = serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))?;
    let (document, v3) = match (stored.format, stored_value) {
        (Format::V2, document) => (document, None),
        (Format::V3, Value::Object(documents)) => {
            (from_v3::v2_document(&documents), Some(documents))
        }
        (Format::V3, _) => {
            return Err(corrupt(
                "not an object of documents by group version".into(),
            ));
        }
    };
    let mut kinds = HashMap::new();
    for (name, schema) in document
        .get("definitions")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let gvks = schema
            .get("x-kubernetes-group-version-kind")
            .and_then(Value::as_array);
        // Shared types (DeleteOptions, WatchEvent) list many kinds; a kind's own type lists one.
        if let Some([gvk]) = gvks.map(Vec::as_slice) {
            let field = |k: &str| gvk.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            kinds.insert(
                (field("group"), field("version"), field("kind")),
                name.clone(),
            );
        }
    }
    let field_validation = takes_field_validation(&document);
    Ok(Spec {
        minor: stored.minor,
        document,
        v3,
        kinds,
        field_validation,
    })
}

/// Whether a v2 document's operations (or shared parameters) take `fieldValidation`.
fn takes_field_validation(doc: &Value) -> bool {
    let named = |p: &Value| p.get("name").and_then(Value::as_str) == Some("fieldValidation");
    let shared = doc
        .get("parameters")
        .and_then(Value::as_object)
        .is_some_and(|ps| ps.values().any(named));
    shared
        || doc
            .get("paths")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(_, item)| item.get("patch")?.get("parameters")?.as_array())
            .any(|ps| ps.iter().any(named))
}

/// Whether the real server of a release serves `/openapi/v3`.
pub fn serves_v3(release: KubeRelease) -> bool {
    release.minor() >= 24
}

/// Whether the real server of a release validates fields itself (`fieldValidation`).
pub fn validates_fields(release: KubeRelease) -> bool {
    release.minor() >= 25
}

/// One served version of a CustomResourceDefinition.
#[derive(Clone, Debug, PartialEq)]
pub struct CrdVersion {
    /// The group.
    pub group: String,
    /// The version.
    pub version: String,
    /// The kind.
    pub kind: String,
    /// The list kind.
    pub list_kind: String,
    /// The resource plural.
    pub plural: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// `openAPIV3Schema`, if the CRD declares one for this version.
    pub schema: Option<Value>,
    /// The CRD's `metadata.resourceVersion` (for document hashes).
    pub resource_version: String,
}

impl CrdVersion {
    /// The definition name a real server gives it: the group reversed, the version, the kind.
    pub fn definition_name(&self) -> String {
        definition_name(&self.group, &self.version, &self.kind)
    }

    /// The definition name of its list.
    pub fn list_definition_name(&self) -> String {
        definition_name(&self.group, &self.version, &self.list_kind)
    }
}

fn definition_name(group: &str, version: &str, kind: &str) -> String {
    let reversed: Vec<&str> = group.split('.').rev().collect();
    format!("{}.{version}.{kind}", reversed.join("."))
}

/// The served versions of CRD objects (`apiextensions.k8s.io` `v1` or `v1beta1`), those the
/// discovery lists only.
pub fn crd_versions(crds: &[KubeObject], discovery: &Discovery) -> Vec<CrdVersion> {
    let mut out = Vec::new();
    for crd in crds {
        let spec = crd.fields().get("spec");
        let text = |v: Option<&Value>, key: &str| {
            v.and_then(|v| v.get(key))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let names = spec.and_then(|s| s.get("names"));
        let group = text(spec, "group");
        let kind = text(names, "kind");
        let plural = text(names, "plural");
        let list_kind = match text(names, "listKind") {
            l if l.is_empty() => format!("{kind}List"),
            l => l,
        };
        let namespaced = text(spec, "scope") != "Cluster";
        let shared_schema = spec
            .and_then(|s| s.pointer("/validation/openAPIV3Schema"))
            .cloned();
        let mut versions: Vec<(String, Option<Value>)> = spec
            .and_then(|s| s.get("versions"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|v| v.get("served").and_then(Value::as_bool) != Some(false))
            .map(|v| {
                let schema = v
                    .pointer("/schema/openAPIV3Schema")
                    .cloned()
                    .or_else(|| shared_schema.clone());
                (text(Some(v), "name"), schema)
            })
            .collect();
        if versions.is_empty() {
            let version = text(spec, "version");
            if !version.is_empty() {
                versions.push((version, shared_schema.clone()));
            }
        }
        for (version, schema) in versions {
            if !discovery.serves(&group, &version, &plural) {
                continue;
            }
            out.push(CrdVersion {
                group: group.clone(),
                version,
                kind: kind.clone(),
                list_kind: list_kind.clone(),
                plural: plural.clone(),
                namespaced,
                schema,
                resource_version: crd
                    .metadata()
                    .and_then(|m| m.get("resourceVersion"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            });
        }
    }
    out
}

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.";

fn gvk_extension(group: &str, version: &str, kind: &str) -> Value {
    json!([{"group": group, "kind": kind, "version": version}])
}

/// The v2 definition of a CRD version (and of its list).
pub fn crd_definitions(crd: &CrdVersion) -> [(String, Value); 2] {
    let mut schema = crd
        .schema
        .clone()
        .unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    if let Some(map) = schema.as_object_mut() {
        let props = map
            .entry("properties")
            .or_insert_with(|| json!({}))
            .as_object_mut();
        if let Some(props) = props {
            props.insert("apiVersion".into(), json!({"type": "string",
                "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"}));
            props.insert("kind".into(), json!({"type": "string",
                "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"}));
            props.insert("metadata".into(), json!({"$ref": format!("#/definitions/{META}ObjectMeta"),
                "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"}));
        }
        map.insert(
            "x-kubernetes-group-version-kind".into(),
            gvk_extension(&crd.group, &crd.version, &crd.kind),
        );
    }
    let list = json!({
        "description": format!("{} is a list of {}", crd.list_kind, crd.kind),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."},
            "items": {"type": "array", "description": format!("List of {}. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md", crd.plural),
                "items": {"$ref": format!("#/definitions/{}", crd.definition_name())}},
            "kind": {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."},
            "metadata": {"$ref": format!("#/definitions/{META}ListMeta"), "description": "Standard list metadata."},
        },
        "x-kubernetes-group-version-kind": gvk_extension(&crd.group, &crd.version, &crd.list_kind),
    });
    [
        (crd.definition_name(), schema),
        (crd.list_definition_name(), list),
    ]
}

/// The v2 paths of a CRD version, with the `fieldValidation` parameter when `field_validation`.
fn crd_paths(crd: &CrdVersion, field_validation: bool) -> Vec<(String, Value)> {
    let mut base = format!("/apis/{}/{}", crd.group, crd.version);
    if crd.namespaced {
        base.push_str("/namespaces/{namespace}");
    }
    let collection = format!("{base}/{}", crd.plural);
    let item = format!("{collection}/{{name}}");
    let def = |name: String| json!({"$ref": format!("#/definitions/{name}")});
    let gvk = json!({"group": crd.group, "kind": crd.kind, "version": crd.version});
    let scope = if crd.namespaced { "Namespaced" } else { "" };
    let op = |verb: &str, action: &str, body: Option<Value>, response: Value| {
        let mut parameters = Vec::new();
        if let Some(schema) = body {
            parameters
                .push(json!({"in": "body", "name": "body", "required": true, "schema": schema}));
        }
        if matches!(action, "post" | "put" | "patch") {
            parameters.push(json!({"name": "dryRun", "in": "query", "type": "string", "uniqueItems": true,
                "description": "When present, indicates that modifications should not be persisted."}));
            parameters.push(json!({"name": "fieldManager", "in": "query", "type": "string", "uniqueItems": true,
                "description": "fieldManager is a name associated with the actor or entity that is making these changes."}));
            if field_validation {
                parameters.push(json!({"name": "fieldValidation", "in": "query", "type": "string", "uniqueItems": true,
                    "description": "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore - Warn - Strict"}));
            }
        }
        let mut operation = json!({
            "operationId": format!("{verb}{scope}{}", crd.kind),
            "tags": [format!("{}_{}", crd.group, crd.version)],
            "consumes": ["application/json", "application/yaml"],
            "produces": ["application/json", "application/yaml"],
            "schemes": ["https"],
            "parameters": parameters,
            "responses": {"200": {"description": "OK", "schema": response}, "401": {"description": "Unauthorized"}},
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
        });
        if action == "patch" {
            operation["consumes"] = json!([
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/apply-patch+yaml"
            ]);
        }
        operation
    };
    let status = def(format!("{META}Status"));
    let object = def(crd.definition_name());
    let mut path_params = vec![
        json!({"name": "pretty", "in": "query", "type": "string", "uniqueItems": true,
        "description": "If 'true', then the output is pretty printed."}),
    ];
    if crd.namespaced {
        path_params.push(json!({"name": "namespace", "in": "path", "required": true, "type": "string", "uniqueItems": true,
            "description": "object name and auth scope, such as for teams and projects"}));
    }
    let mut item_params = path_params.clone();
    item_params.push(json!({"name": "name", "in": "path", "required": true, "type": "string", "uniqueItems": true,
        "description": format!("name of the {}", crd.kind)}));
    vec![
        (
            collection,
            json!({
                "get": op("list", "list", None, def(crd.list_definition_name())),
                "post": op("create", "post", Some(object.clone()), object.clone()),
                "delete": op("deletecollection", "deletecollection", None, status.clone()),
                "parameters": path_params,
            }),
        ),
        (
            item,
            json!({
                "get": op("read", "get", None, object.clone()),
                "put": op("replace", "put", Some(object.clone()), object.clone()),
                "patch": op("patch", "patch", Some(def(format!("{META}Patch"))), object.clone()),
                "delete": op("delete", "delete", None, status),
                "parameters": item_params,
            }),
        ),
    ]
}

/// The group, version and resource a v2 path is about: `None` for paths of no group version
/// (`/version/`, `/logs/`); resource `None` for a group's or group version's own path.
fn path_target(path: &str) -> Option<(String, Option<String>, Option<String>)> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api"] | ["apis"] => return Some((String::new(), None, None)),
        ["apis", group] => return Some((group.to_string(), None, None)),
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    let rest = match rest {
        ["watch", more @ ..] => more,
        other => other,
    };
    let rest = match rest {
        ["namespaces", "{namespace}", more @ ..] if !more.is_empty() => more,
        other => other,
    };
    Some((
        group.to_string(),
        Some(version.to_string()),
        rest.first().map(|r| r.to_string()),
    ))
}

fn path_served(path: &str, discovery: &Discovery) -> bool {
    match path_target(path) {
        None => path == "/version/",
        Some((group, None, None)) => group.is_empty() || discovery.group(&group).is_some(),
        Some((group, Some(version), None)) => discovery
            .group(&group)
            .is_some_and(|g| g.versions.iter().any(|v| v.version == version)),
        Some((group, Some(version), Some(resource))) => {
            discovery.serves(&group, &version, &resource)
        }
        Some((_, None, Some(_))) => false,
    }
}

/// Every `$ref` target under a value, by prefix (`#/definitions/` or `#/parameters/`).
fn collect_refs(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref"
                    && let Some(target) = v.as_str().and_then(|t| t.strip_prefix(prefix))
                {
                    out.insert(target.to_string());
                } else {
                    collect_refs(v, prefix, out);
                }
            }
        }
        Value::Array(list) => list.iter().for_each(|v| collect_refs(v, prefix, out)),
        _ => {}
    }
}

/// The definitions `roots` reference, transitively, found in `pools` (first match wins).
pub fn definition_closure(
    roots: &BTreeSet<String>,
    pools: &[&Map<String, Value>],
) -> BTreeMap<String, Value> {
    closure(roots, pools, "#/definitions/")
}

/// The schemas `roots` reference through `$ref`s starting with `prefix`, transitively.
fn closure(
    roots: &BTreeSet<String>,
    pools: &[&Map<String, Value>],
    prefix: &str,
) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut todo: Vec<String> = roots.iter().cloned().collect();
    while let Some(name) = todo.pop() {
        if out.contains_key(&name) {
            continue;
        }
        let Some(schema) = pools.iter().find_map(|p| p.get(&name)) else {
            continue;
        };
        let mut refs = BTreeSet::new();
        collect_refs(schema, prefix, &mut refs);
        todo.extend(refs.into_iter().filter(|r| !out.contains_key(r)));
        out.insert(name, schema.clone());
    }
    out
}

/// The `/openapi/v2` document of a release for what `discovery` serves, with the CRDs' schemas.
pub fn v2_document(
    release: KubeRelease,
    discovery: &Discovery,
    crds: &[KubeObject],
) -> Result<Value, OpenApiError> {
    let spec = spec(release)?;
    let doc = &spec.document;
    let mut paths = Map::new();
    for (path, item) in doc
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if path_served(path, discovery) {
            paths.insert(path.clone(), item.clone());
        }
    }
    let mut extra = Map::new();
    for crd in crd_versions(crds, discovery) {
        for (name, schema) in crd_definitions(&crd) {
            extra.insert(name, schema);
        }
        for (path, item) in crd_paths(&crd, spec.advertises_field_validation()) {
            paths.insert(path, item);
        }
    }
    let paths = Value::Object(paths);
    let mut parameter_names = BTreeSet::new();
    collect_refs(&paths, "#/parameters/", &mut parameter_names);
    let all_parameters = doc.get("parameters").and_then(Value::as_object);
    let parameters: Map<String, Value> = parameter_names
        .into_iter()
        .filter_map(|name| {
            let p = all_parameters?.get(&name)?.clone();
            Some((name, p))
        })
        .collect();
    let mut roots = BTreeSet::new();
    collect_refs(&paths, "#/definitions/", &mut roots);
    collect_refs(
        &Value::Object(parameters.clone()),
        "#/definitions/",
        &mut roots,
    );
    roots.extend(extra.keys().cloned());
    let definitions = definition_closure(&roots, &[&extra, spec.definitions()]);
    let mut out = json!({
        "swagger": "2.0",
        "info": doc.get("info").cloned().unwrap_or_else(|| json!({"title": "Kubernetes", "version": "unversioned"})),
        "paths": paths,
        "definitions": definitions,
    });
    if !parameters.is_empty() {
        out["parameters"] = Value::Object(parameters);
    }
    for key in ["security", "securityDefinitions"] {
        if let Some(v) = doc.get(key) {
            out[key] = v.clone();
        }
    }
    Ok(out)
}

/// `/openapi/v3`: the index of the served group versions' documents, `None` before 1.24. Group
/// versions the specification has no kind of (e.g. `snapshot.storage.k8s.io`, CRDs on a real
/// cluster, built in here) are left out.
pub fn v3_index(
    release: KubeRelease,
    discovery: &Discovery,
    crds: &[KubeObject],
) -> Result<Option<Value>, OpenApiError> {
    if !serves_v3(release) {
        return Ok(None);
    }
    let v2 = v2_document(release, discovery, crds)?;
    let documented: BTreeSet<(String, String)> = v2
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(path, _)| match path_target(path) {
            Some((group, Some(version), _)) => Some((group, version)),
            _ => None,
        })
        .collect();
    let crds = crd_versions(crds, discovery);
    let mut paths = Map::new();
    for g in &discovery.groups {
        for v in &g.versions {
            if !documented.contains(&(g.name.clone(), v.version.clone())) {
                continue;
            }
            let key = if g.name.is_empty() {
                format!("api/{}", v.version)
            } else {
                format!("apis/{}/{}", g.name, v.version)
            };
            let mut hasher = Fnv::default();
            hasher.write(format!("{}|{key}", spec_minor(release)).as_bytes());
            for c in crds
                .iter()
                .filter(|c| c.group == g.name && c.version == v.version)
            {
                hasher.write(format!("|{}:{}", c.plural, c.resource_version).as_bytes());
            }
            for r in &v.resources {
                hasher.write(format!("|{}", r.plural).as_bytes());
            }
            paths.insert(
                key.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={:016X}{:016X}", hasher.0, hasher.0.rotate_left(29) ^ 0x9E37_79B9_7F4A_7C15)}),
            );
        }
    }
    Ok(Some(json!({"paths": paths})))
}

/// FNV-1a, for document hashes.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// `/openapi/v3/api/<version>` or `/openapi/v3/apis/<group>/<version>`, if served (and the
/// release serves v3).
pub fn v3_group_version(
    release: KubeRelease,
    discovery: &Discovery,
    crds: &[KubeObject],
    group: &str,
    version: &str,
) -> Result<Option<Value>, OpenApiError> {
    if !serves_v3(release)
        || !discovery
            .group(group)
            .is_some_and(|g| g.versions.iter().any(|v| v.version == version))
    {
        return Ok(None);
    }
    let key = if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    };
    let spec = spec(release)?;
    if let Some(official) = spec.v3.as_ref().and_then(|docs| docs.get(&key)) {
        return Ok(official_v3_document(official, discovery));
    }
    let v2 = v2_document(release, discovery, crds)?;
    Ok(v3::group_version_document(&v2, group, version))
}

/// An official v3 group-version document filtered to what `discovery` serves (`None` if
/// nothing): its paths of served resources and the schemas they reference.
fn official_v3_document(official: &Value, discovery: &Discovery) -> Option<Value> {
    const PREFIX: &str = "#/components/schemas/";
    let paths: Map<String, Value> = official
        .get("paths")?
        .as_object()?
        .iter()
        .filter(|(path, _)| path_served(path, discovery))
        .map(|(path, item)| (path.clone(), item.clone()))
        .collect();
    if paths.is_empty() {
        return None;
    }
    let paths = Value::Object(paths);
    let mut roots = BTreeSet::new();
    collect_refs(&paths, PREFIX, &mut roots);
    let empty = Map::new();
    let all = official
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let schemas: Map<String, Value> = closure(&roots, &[all], PREFIX).into_iter().collect();
    let mut out = official.clone();
    out["paths"] = paths;
    out["components"]["schemas"] = Value::Object(schemas);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stored_spec_parses_and_indexes_deployments() {
        for release in KubeRelease::ALL {
            let spec = spec(release).unwrap();
            assert_eq!(
                spec.definition_of("apps", "v1", "Deployment"),
                Some("io.k8s.api.apps.v1.Deployment"),
                "{release:?}"
            );
        }
    }

    /// The v2 documents derived from the stored v3 ones carry what `kubectl` reads in a real
    /// one: every resource operation's action and the kind of the patch operations (1.23's v3
    /// documents lack both), and `fieldValidation` from 1.23 on.
    #[test]
    fn derived_v2_documents_name_actions_and_kinds() {
        for minor in 23..=27 {
            let release = KubeRelease::ALL
                .into_iter()
                .find(|r| r.minor() == minor)
                .unwrap();
            let spec = spec(release).unwrap();
            assert!(spec.v3.is_some() && has_own_spec(release), "1.{minor}");
            assert!(spec.advertises_field_validation(), "1.{minor}");
            let paths = spec.document["paths"].as_object().unwrap();
            for (path, item) in paths {
                for (method, op) in item.as_object().unwrap() {
                    if method == "parameters" || path_target(path).is_some_and(|t| t.2.is_none()) {
                        continue;
                    }
                    assert!(
                        op.get("x-kubernetes-action").is_some(),
                        "1.{minor} {method} {path}"
                    );
                    if method == "patch" && op["x-kubernetes-action"] != "connect" {
                        assert!(
                            op.get("x-kubernetes-group-version-kind").is_some(),
                            "1.{minor} {method} {path}"
                        );
                    }
                }
            }
            let patch = &paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
            assert_eq!(
                patch["x-kubernetes-group-version-kind"],
                json!({"group": "apps", "kind": "Deployment", "version": "v1"})
            );
            assert_eq!(patch["x-kubernetes-action"], "patch");
            let scale =
                &paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["put"];
            assert_eq!(scale["x-kubernetes-group-version-kind"]["kind"], "Scale");
        }
        assert!(
            !spec(KubeRelease::V1_21)
                .unwrap()
                .advertises_field_validation()
        );
        assert!(
            !spec(KubeRelease::V1_22)
                .unwrap()
                .advertises_field_validation()
        );
        assert!(
            spec(KubeRelease::V1_28)
                .unwrap()
                .advertises_field_validation()
        );
    }

    #[test]
    fn paths_name_their_resources() {
        assert_eq!(
            path_target("/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"),
            Some(("apps".into(), Some("v1".into()), Some("deployments".into())))
        );
        assert_eq!(
            path_target("/api/v1/namespaces/{name}/status"),
            Some(("".into(), Some("v1".into()), Some("namespaces".into())))
        );
        assert_eq!(
            path_target("/apis/apps/v1/watch/namespaces/{namespace}/deployments"),
            Some(("apps".into(), Some("v1".into()), Some("deployments".into())))
        );
        assert_eq!(path_target("/logs/"), None);
        assert_eq!(
            definition_name("stable.example.com", "v1", "CronTab"),
            "com.example.stable.v1.CronTab"
        );
    }
}
