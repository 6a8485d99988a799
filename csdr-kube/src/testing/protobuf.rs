//! Kubernetes protobuf bodies (`application/vnd.kubernetes.protobuf`) for every built-in type
//! the simulated releases serve, read into (and, for tests, written from) the same JSON objects
//! a JSON body gives.
//!
//! A protobuf body is the 4-byte magic `k8s\0` followed by a `runtime.Unknown` message: the
//! object's `apiVersion` and `kind`, and the typed message in its `raw` field. The typed
//! messages are described by the official `generated.proto` files of `k8s.io/api`,
//! `k8s.io/apimachinery`, `k8s.io/apiextensions-apiserver` and `k8s.io/kube-aggregator`,
//! compiled into the descriptor set `protobuf/kubernetes.desc.gz` and read with `prost-reflect`.
//! Each group version is taken from the newest release that serves it (fields are only ever
//! added, so that version reads a body of any served release): `protobuf/generate.py`
//! regenerates the files and lists the versions.
//!
//! The protobuf field names are not always the JSON names (`$ref`,
//! `x-kubernetes-preserve-unknown-fields`, `uid`, `apiGroup`), and the protobuf encoding cannot
//! tell the JSON encoding which fields are inlined (a `Volume`'s `VolumeSource`), which empty
//! values are omitted and which are written as `null`. That comes from the Go types'
//! `json:"…"` tags, read by the same script into `protobuf/go-fields.tsv.gz`: a field is written
//! as Go's `encoding/json` would write the Go object the API server decodes the body into. So
//! an object reads exactly as `kubectl create … --dry-run=client -o json` prints it, down to
//! `"creationTimestamp": null` and `"replicas": 0` (a pointer) versus an omitted empty
//! `namespace` (a plain string with `omitempty`).
//!
//! Types with their own JSON form: `Time` (RFC 3339 seconds), `MicroTime` (RFC 3339 with
//! microseconds), `Duration` (Go's duration string), `Quantity` (its string), `IntOrString`,
//! `RawExtension`, `FieldsV1` and the CRD schema's `JSON` (embedded JSON),
//! `JSONSchemaPropsOrArray`/`OrBool`/`OrStringArray`, and the string-list types (`ExtraValue`,
//! `Verbs`).
//!
//! Differences from a real API server: a body of a custom resource, or of a type the bundled
//! definitions do not hold, is refused (a real server refuses custom resources too);
//! `contentEncoding` other than none is refused; responses are never protobuf: a client that
//! accepts only protobuf is answered 406 (see [`not_acceptable`]), every other client gets
//! JSON.

use std::collections::HashMap;
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use prost::Message;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor,
    ReflectMessage, Value as Proto,
};
use serde_json::{Map, Value};

use super::status::Status;

/// The media type of Kubernetes protobuf bodies.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The four bytes every Kubernetes protobuf body starts with.
pub const MAGIC: &[u8; 4] = b"k8s\0";

const DESCRIPTORS: &[u8] = include_bytes!("protobuf/kubernetes.desc.gz");
const GO_FIELDS: &[u8] = include_bytes!("protobuf/go-fields.tsv.gz");
const UNKNOWN: &str = "k8s.io.apimachinery.pkg.runtime.Unknown";
/// The `meta/v1` option kinds, registered in every group version.
const OPTIONS: &[&str] = &[
    "DeleteOptions",
    "CreateOptions",
    "UpdateOptions",
    "PatchOptions",
];

/// Why a protobuf body could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtobufError {
    /// The body does not start with `k8s\0`.
    #[error("the protobuf body does not start with the Kubernetes magic number `k8s\\0`")]
    NoMagic,
    /// The `runtime.Unknown` envelope is not valid protobuf, or uses a content encoding.
    #[error("the protobuf envelope (runtime.Unknown) is malformed: {0}")]
    Envelope(String),
    /// The type is not a built-in type the bundled definitions hold (e.g. a custom resource).
    #[error(
        "protobuf bodies are not available for {api_version}, Kind={kind}: send it as application/json"
    )]
    UnknownType {
        /// The body's `apiVersion`.
        api_version: String,
        /// The body's `kind`.
        kind: String,
    },
    /// The typed message does not match its type's definition.
    #[error("the protobuf body of {api_version}, Kind={kind} is malformed: {reason}")]
    Malformed {
        /// The body's `apiVersion`.
        api_version: String,
        /// The body's `kind`.
        kind: String,
        /// What is wrong, naming the field.
        reason: String,
    },
    /// The object cannot be written as protobuf (see [`encode`]).
    #[error("cannot write {api_version}, Kind={kind} as protobuf: {reason}")]
    Encode {
        /// The object's `apiVersion`.
        api_version: String,
        /// The object's `kind`.
        kind: String,
        /// What is wrong, naming the field.
        reason: String,
    },
    /// The bundled definitions could not be read (a build problem, not a request problem).
    #[error("the bundled Kubernetes protobuf definitions are unreadable: {0}")]
    Definitions(String),
}

impl ProtobufError {
    /// The `Status` a real API server answers a request whose body fails so.
    pub fn to_status(&self) -> Status {
        match self {
            ProtobufError::UnknownType { .. } => Status::new(
                415,
                "UnsupportedMediaType",
                format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml ({self})"
                ),
            ),
            ProtobufError::Definitions(_) => Status::internal(self.to_string()),
            _ => Status::bad_request(self.to_string()),
        }
    }
}

/// How Go's `encoding/json` writes one field of a message.
#[derive(Debug, Clone)]
struct GoField {
    /// The JSON name (empty for an inlined field).
    json: String,
    /// A pointer: written whenever set, even when zero.
    pointer: bool,
    /// `omitempty`.
    omitempty: bool,
    /// `,inline`: the field's own fields are written into the parent object.
    inline: bool,
    /// A slice or map (or `[]byte`): nil when absent.
    slice: bool,
}

struct Definitions {
    pool: DescriptorPool,
    go: HashMap<String, HashMap<u32, GoField>>,
}

fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    csdr_core::gzip::gunzip(bytes).map_err(|e| e.to_string())
}

fn load() -> Result<Definitions, String> {
    let pool = DescriptorPool::decode(gunzip(DESCRIPTORS)?.as_slice())
        .map_err(|e| format!("kubernetes.desc.gz: {e}"))?;
    let text = String::from_utf8(gunzip(GO_FIELDS)?).map_err(|e| e.to_string())?;
    let mut go: HashMap<String, HashMap<u32, GoField>> = HashMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let [message, number, json, flags] = cols[..] else {
            return Err(format!("go-fields.tsv.gz: bad line {line:?}"));
        };
        let number: u32 = number
            .parse()
            .map_err(|_| format!("go-fields.tsv.gz: bad field number in {line:?}"))?;
        go.entry(message.to_string()).or_default().insert(
            number,
            GoField {
                json: json.to_string(),
                pointer: flags.contains('p'),
                omitempty: flags.contains('o'),
                inline: flags.contains('i'),
                slice: flags.contains('s'),
            },
        );
    }
    Ok(Definitions { pool, go })
}

fn definitions() -> Result<&'static Definitions, ProtobufError> {
    static DEFINITIONS: OnceLock<Result<Definitions, String>> = OnceLock::new();
    DEFINITIONS
        .get_or_init(load)
        .as_ref()
        .map_err(|e| ProtobufError::Definitions(e.clone()))
}

/// The protobuf package of a group version.
fn package(api_version: &str) -> String {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    match group {
        "" => format!("k8s.io.api.core.{version}"),
        "apiextensions.k8s.io" => {
            format!("k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.{version}")
        }
        "apiregistration.k8s.io" => {
            format!("k8s.io.kube_aggregator.pkg.apis.apiregistration.{version}")
        }
        "internal.apiserver.k8s.io" => format!("k8s.io.api.apiserverinternal.{version}"),
        _ => {
            let first = group.split('.').next().unwrap_or(group);
            format!("k8s.io.api.{first}.{version}")
        }
    }
}

fn message_for(defs: &Definitions, api_version: &str, kind: &str) -> Option<MessageDescriptor> {
    if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    // The option types every group version registers, sent as bodies of deletes (and by
    // clients that send options as bodies).
    if OPTIONS.contains(&kind) {
        return defs
            .pool
            .get_message_by_name(&format!("k8s.io.apimachinery.pkg.apis.meta.v1.{kind}"));
    }
    let name = format!("{}.{kind}", package(api_version));
    // Only messages that are Go structs with an ObjectMeta/ListMeta `metadata` are API objects.
    let desc = defs.pool.get_message_by_name(&name)?;
    let metadata = desc.get_field_by_name("metadata")?;
    match metadata.kind() {
        Kind::Message(m)
            if m.full_name() == "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta"
                || m.full_name() == "k8s.io.apimachinery.pkg.apis.meta.v1.ListMeta" =>
        {
            Some(desc)
        }
        _ => None,
    }
}

/// Whether protobuf bodies of this type can be read: a built-in object type (with
/// `metadata`, including subresource bodies such as `Scale` and `Eviction`) of a group version
/// some simulated release serves, or a `meta/v1` option type such as `DeleteOptions`.
pub fn supports(api_version: &str, kind: &str) -> bool {
    definitions().is_ok_and(|defs| message_for(defs, api_version, kind).is_some())
}

/// Reads a protobuf body into the JSON object a JSON body of the same object gives.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let defs = definitions()?;
    let raw_envelope = body.strip_prefix(MAGIC).ok_or(ProtobufError::NoMagic)?;
    let envelope_desc = defs
        .pool
        .get_message_by_name(UNKNOWN)
        .ok_or_else(|| ProtobufError::Definitions(format!("{UNKNOWN} is missing")))?;
    let envelope = DynamicMessage::decode(envelope_desc, raw_envelope)
        .map_err(|e| ProtobufError::Envelope(e.to_string()))?;
    let type_meta = match envelope.get_field_by_name("typeMeta").as_deref() {
        Some(Proto::Message(m)) => m.clone(),
        _ => return Err(ProtobufError::Envelope("typeMeta is missing".into())),
    };
    let text = |m: &DynamicMessage, name: &str| match m.get_field_by_name(name).as_deref() {
        Some(Proto::String(s)) => s.clone(),
        _ => String::new(),
    };
    let api_version = text(&type_meta, "apiVersion");
    let kind = text(&type_meta, "kind");
    let encoding = text(&envelope, "contentEncoding");
    if !encoding.is_empty() {
        return Err(ProtobufError::Envelope(format!(
            "contentEncoding {encoding:?} is not supported"
        )));
    }
    let raw = match envelope.get_field_by_name("raw").as_deref() {
        Some(Proto::Bytes(b)) => b.clone(),
        _ => bytes::Bytes::new(),
    };
    let malformed = |reason: String| ProtobufError::Malformed {
        api_version: api_version.clone(),
        kind: kind.clone(),
        reason,
    };
    let desc =
        message_for(defs, &api_version, &kind).ok_or_else(|| ProtobufError::UnknownType {
            api_version: api_version.clone(),
            kind: kind.clone(),
        })?;
    let message = DynamicMessage::decode(desc, raw).map_err(|e| malformed(e.to_string()))?;
    let Value::Object(fields) = message_json(defs, &message).map_err(malformed)? else {
        return Err(malformed("the object is not a JSON object".into()));
    };
    let mut object = Map::new();
    object.insert("kind".into(), Value::String(kind));
    object.insert("apiVersion".into(), Value::String(api_version));
    object.extend(fields);
    Ok(object.into())
}

/// Writes a JSON object as a protobuf body (the inverse of [`decode`]; for tests and clients
/// of the simulator). Fields the type does not define are an error, as is a value of the wrong
/// JSON type.
pub fn encode(object: &Value) -> Result<Vec<u8>, ProtobufError> {
    let defs = definitions()?;
    let text = |key: &str| {
        object
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    let desc =
        message_for(defs, &api_version, &kind).ok_or_else(|| ProtobufError::UnknownType {
            api_version: api_version.clone(),
            kind: kind.clone(),
        })?;
    let fail = |reason: String| ProtobufError::Encode {
        api_version: api_version.clone(),
        kind: kind.clone(),
        reason,
    };
    let Some(map) = object.as_object() else {
        return Err(fail("the object is not a JSON object".into()));
    };
    let mut rest = map.clone();
    rest.remove("apiVersion");
    rest.remove("kind");
    let message = object_message(defs, &desc, &rest, "").map_err(fail)?;
    let envelope_desc = defs
        .pool
        .get_message_by_name(UNKNOWN)
        .ok_or_else(|| ProtobufError::Definitions(format!("{UNKNOWN} is missing")))?;
    let mut envelope = DynamicMessage::new(envelope_desc.clone());
    let type_meta_desc = match envelope_desc
        .get_field_by_name("typeMeta")
        .map(|f| f.kind())
    {
        Some(Kind::Message(m)) => m,
        _ => {
            return Err(ProtobufError::Definitions(
                "runtime.TypeMeta is missing".into(),
            ));
        }
    };
    let mut type_meta = DynamicMessage::new(type_meta_desc);
    type_meta.set_field_by_name("apiVersion", Proto::String(api_version.clone()));
    type_meta.set_field_by_name("kind", Proto::String(kind.clone()));
    envelope.set_field_by_name("typeMeta", Proto::Message(type_meta));
    envelope.set_field_by_name("raw", Proto::Bytes(message.encode_to_vec().into()));
    envelope.set_field_by_name("contentEncoding", Proto::String(String::new()));
    envelope.set_field_by_name("contentType", Proto::String(String::new()));
    let mut body = MAGIC.to_vec();
    body.extend(envelope.encode_to_vec());
    Ok(body)
}

/// Reads a request body sent as [`MEDIA_TYPE`], answering what a real API server answers when
/// it cannot: 415 for a type without protobuf definitions, 400 for a malformed body.
pub fn decode_body(body: &[u8]) -> Result<Value, Status> {
    decode(body).map_err(|e| e.to_status())
}

/// The 406 answered to a client whose `Accept` allows only protobuf responses (the simulator
/// writes JSON only); `None` when JSON is acceptable (any `Accept` naming a JSON type, `*/*`,
/// or none).
pub fn not_acceptable(accept: &str) -> Option<Status> {
    let ranges: Vec<&str> = accept
        .split(',')
        .map(|r| r.split(';').next().unwrap_or("").trim())
        .filter(|r| !r.is_empty())
        .collect();
    let only_protobuf =
        !ranges.is_empty() && ranges.iter().all(|r| r.eq_ignore_ascii_case(MEDIA_TYPE));
    only_protobuf.then(|| {
        Status::new(
            406,
            "NotAcceptable",
            format!(
                "only the following media types are accepted: application/json, application/yaml (the simulator does not write {MEDIA_TYPE})"
            ),
        )
    })
}

// ---- protobuf → JSON ----

fn go_fields<'a>(
    defs: &'a Definitions,
    desc: &MessageDescriptor,
) -> Option<&'a HashMap<u32, GoField>> {
    defs.go.get(desc.full_name())
}

fn go_field<'a>(
    defs: &'a Definitions,
    desc: &MessageDescriptor,
    field: &FieldDescriptor,
) -> Result<&'a GoField, String> {
    go_fields(defs, desc)
        .and_then(|f| f.get(&field.number()))
        .ok_or_else(|| format!("{}.{} has no JSON form", desc.full_name(), field.name()))
}

/// The JSON of one message, as Go writes the struct it decodes into.
fn message_json(defs: &Definitions, message: &DynamicMessage) -> Result<Value, String> {
    if let Some(special) = special_json(defs, message)? {
        return Ok(special);
    }
    let mut out = Map::new();
    write_fields(defs, message, &mut out)?;
    Ok(Value::Object(out))
}

fn write_fields(
    defs: &Definitions,
    message: &DynamicMessage,
    out: &mut Map<String, Value>,
) -> Result<(), String> {
    let desc = message.descriptor();
    for field in desc.fields() {
        let go = go_field(defs, &desc, &field)?;
        if go.inline {
            if let Proto::Message(inner) = message.get_field(&field).as_ref() {
                write_fields(defs, inner, out)?;
            }
            continue;
        }
        if let Some(value) = field_json(defs, message, &field, go)? {
            out.insert(go.json.clone(), value);
        }
    }
    Ok(())
}

/// What Go writes for a nil pointer, slice or map.
fn nil(go: &GoField) -> Option<Value> {
    (!go.omitempty).then_some(Value::Null)
}

fn field_json(
    defs: &Definitions,
    message: &DynamicMessage,
    field: &FieldDescriptor,
    go: &GoField,
) -> Result<Option<Value>, String> {
    let at = |e: String| format!("{}: {e}", go.json);
    if field.is_map() {
        let Proto::Map(entries) = message.get_field(field).into_owned() else {
            return Ok(nil(go));
        };
        if entries.is_empty() {
            return Ok(nil(go));
        }
        let value_kind = match field.kind() {
            Kind::Message(entry) => entry.map_entry_value_field().kind(),
            _ => return Err(at("a map without an entry type".into())),
        };
        let mut sorted: Vec<(String, Proto)> =
            entries.into_iter().map(|(k, v)| (map_key(&k), v)).collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = Map::new();
        for (key, value) in sorted {
            let json =
                value_json(defs, &value_kind, &value).map_err(|e| at(format!("{key}: {e}")))?;
            out.insert(key, json);
        }
        return Ok(Some(Value::Object(out)));
    }
    if field.is_list() {
        let Proto::List(items) = message.get_field(field).into_owned() else {
            return Ok(nil(go));
        };
        if items.is_empty() {
            return Ok(nil(go));
        }
        let kind = field.kind();
        let items = items
            .iter()
            .map(|v| value_json(defs, &kind, v))
            .collect::<Result<Vec<_>, _>>()
            .map_err(at)?;
        return Ok(Some(Value::Array(items)));
    }
    if !message.has_field(field) {
        if go.pointer || go.slice {
            return Ok(nil(go));
        }
        // A plain Go value: its zero.
        return match field.kind() {
            Kind::Message(m) => Ok(Some(
                message_json(defs, &DynamicMessage::new(m)).map_err(at)?,
            )),
            kind => Ok((!go.omitempty).then(|| scalar_zero(&kind))),
        };
    }
    let value = message.get_field(field);
    if !go.pointer && go.omitempty && is_zero(&value) {
        return Ok(None);
    }
    value_json(defs, &field.kind(), &value)
        .map(Some)
        .map_err(at)
}

fn map_key(key: &MapKey) -> String {
    match key {
        MapKey::String(s) => s.clone(),
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(n) => n.to_string(),
        MapKey::I64(n) => n.to_string(),
        MapKey::U32(n) => n.to_string(),
        MapKey::U64(n) => n.to_string(),
    }
}

fn is_zero(value: &Proto) -> bool {
    match value {
        Proto::Bool(b) => !b,
        Proto::I32(n) | Proto::EnumNumber(n) => *n == 0,
        Proto::I64(n) => *n == 0,
        Proto::U32(n) => *n == 0,
        Proto::U64(n) => *n == 0,
        Proto::F32(n) => *n == 0.0,
        Proto::F64(n) => *n == 0.0,
        Proto::String(s) => s.is_empty(),
        Proto::Bytes(b) => b.is_empty(),
        Proto::List(l) => l.is_empty(),
        Proto::Map(m) => m.is_empty(),
        Proto::Message(_) => false,
    }
}

fn scalar_zero(kind: &Kind) -> Value {
    match kind {
        Kind::Bool => Value::Bool(false),
        Kind::String | Kind::Bytes => Value::String(String::new()),
        _ => Value::from(0),
    }
}

/// A float as Go writes it: whole numbers without a fraction.
fn float_json(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        #[allow(clippy::cast_possible_truncation)]
        return Value::from(f as i64);
    }
    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
}

fn value_json(defs: &Definitions, kind: &Kind, value: &Proto) -> Result<Value, String> {
    Ok(match (kind, value) {
        (_, Proto::Message(m)) => message_json(defs, m)?,
        (_, Proto::Bool(b)) => Value::Bool(*b),
        (_, Proto::I32(n) | Proto::EnumNumber(n)) => Value::from(*n),
        (_, Proto::I64(n)) => Value::from(*n),
        (_, Proto::U32(n)) => Value::from(*n),
        (_, Proto::U64(n)) => Value::from(*n),
        (_, Proto::F32(n)) => float_json(f64::from(*n)),
        (_, Proto::F64(n)) => float_json(*n),
        (_, Proto::String(s)) => Value::String(s.clone()),
        (_, Proto::Bytes(b)) => Value::String(BASE64.encode(b)),
        (_, Proto::List(_) | Proto::Map(_)) => {
            return Err("a nested list or map where a single value belongs".into());
        }
    })
}

/// The Kubernetes types whose JSON is not their fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Special {
    Time,
    MicroTime,
    Duration,
    Quantity,
    IntOrString,
    /// `RawExtension`, `FieldsV1`, apiextensions `JSON`: embedded JSON in one bytes field.
    RawJson(&'static str),
    SchemaOrArray,
    SchemaOrBool,
    SchemaOrStringArray,
    /// A Go named slice of strings (`ExtraValue`, `Verbs`).
    StringList,
}

fn special(defs: &Definitions, desc: &MessageDescriptor) -> Option<Special> {
    const META: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.";
    let name = desc.full_name();
    if let Some(short) = name.strip_prefix(META) {
        match short {
            "Time" => return Some(Special::Time),
            "MicroTime" => return Some(Special::MicroTime),
            "Duration" => return Some(Special::Duration),
            "FieldsV1" => return Some(Special::RawJson("Raw")),
            _ => {}
        }
    }
    match name {
        "k8s.io.apimachinery.pkg.api.resource.Quantity" => return Some(Special::Quantity),
        "k8s.io.apimachinery.pkg.util.intstr.IntOrString" => return Some(Special::IntOrString),
        "k8s.io.apimachinery.pkg.runtime.RawExtension" => return Some(Special::RawJson("raw")),
        _ => {}
    }
    if name.starts_with("k8s.io.apiextensions_apiserver.") {
        match desc.name() {
            "JSON" => return Some(Special::RawJson("raw")),
            "JSONSchemaPropsOrArray" => return Some(Special::SchemaOrArray),
            "JSONSchemaPropsOrBool" => return Some(Special::SchemaOrBool),
            "JSONSchemaPropsOrStringArray" => return Some(Special::SchemaOrStringArray),
            _ => {}
        }
    }
    // A Go named slice: a message that is no Go struct, holding one repeated `items`.
    let mut fields = desc.fields();
    if go_fields(defs, desc).is_none()
        && let (Some(only), None) = (fields.next(), fields.next())
        && only.name() == "items"
        && only.is_list()
        && matches!(only.kind(), Kind::String)
    {
        return Some(Special::StringList);
    }
    None
}

fn get<'a>(message: &'a DynamicMessage, name: &str) -> Option<std::borrow::Cow<'a, Proto>> {
    message
        .descriptor()
        .get_field_by_name(name)
        .filter(|f| message.has_field(f))
        .map(|f| message.get_field(&f))
}

fn get_i64(message: &DynamicMessage, name: &str) -> Option<i64> {
    match get(message, name)?.as_ref() {
        Proto::I64(n) => Some(*n),
        Proto::I32(n) => Some(i64::from(*n)),
        _ => None,
    }
}

fn get_string(message: &DynamicMessage, name: &str) -> Option<String> {
    match get(message, name)?.as_ref() {
        Proto::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn get_list(message: &DynamicMessage, name: &str) -> Vec<Proto> {
    match get(message, name).as_deref() {
        Some(Proto::List(l)) => l.clone(),
        _ => Vec::new(),
    }
}

fn special_json(defs: &Definitions, message: &DynamicMessage) -> Result<Option<Value>, String> {
    let Some(special) = special(defs, &message.descriptor()) else {
        return Ok(None);
    };
    let strings = |items: Vec<Proto>| {
        Value::Array(
            items
                .into_iter()
                .map(|v| match v {
                    Proto::String(s) => Value::String(s),
                    _ => Value::Null,
                })
                .collect(),
        )
    };
    let schema = || -> Result<Option<Value>, String> {
        match get(message, "schema").as_deref() {
            Some(Proto::Message(m)) => message_json(defs, m).map(Some),
            _ => Ok(None),
        }
    };
    Ok(Some(match special {
        Special::Time | Special::MicroTime => {
            let seconds = get_i64(message, "seconds");
            let nanos = get_i64(message, "nanos");
            if seconds.is_none() && nanos.is_none() {
                // Go's zero time, which it writes as null.
                Value::Null
            } else {
                time_json(
                    seconds.unwrap_or(0),
                    nanos.unwrap_or(0),
                    special == Special::MicroTime,
                )?
            }
        }
        Special::Duration => Value::String(go_duration(get_i64(message, "duration").unwrap_or(0))),
        Special::Quantity => {
            Value::String(get_string(message, "string").unwrap_or_else(|| "0".into()))
        }
        Special::IntOrString => {
            if get_i64(message, "type") == Some(1) {
                Value::String(get_string(message, "strVal").unwrap_or_default())
            } else {
                Value::from(get_i64(message, "intVal").unwrap_or(0))
            }
        }
        Special::RawJson(field) => match get(message, field).as_deref() {
            Some(Proto::Bytes(raw)) if !raw.is_empty() => raw_json(raw)?,
            _ => Value::Null,
        },
        Special::SchemaOrArray => {
            let items = get_list(message, "jSONSchemas");
            if items.is_empty() {
                schema()?.unwrap_or(Value::Null)
            } else {
                Value::Array(
                    items
                        .iter()
                        .map(|v| match v {
                            Proto::Message(m) => message_json(defs, m),
                            _ => Ok(Value::Null),
                        })
                        .collect::<Result<_, _>>()?,
                )
            }
        }
        Special::SchemaOrBool => match schema()? {
            Some(s) => s,
            None => Value::Bool(matches!(
                get(message, "allows").as_deref(),
                Some(Proto::Bool(true))
            )),
        },
        Special::SchemaOrStringArray => {
            let property = get_list(message, "property");
            if property.is_empty() {
                schema()?.unwrap_or(Value::Null)
            } else {
                strings(property)
            }
        }
        Special::StringList => {
            let items = get_list(message, "items");
            if items.is_empty() {
                Value::Null
            } else {
                strings(items)
            }
        }
    }))
}

fn raw_json(raw: &[u8]) -> Result<Value, String> {
    match serde_json::from_slice(raw) {
        Ok(v) => Ok(v),
        Err(_) if raw.starts_with(MAGIC) => decode(raw).map_err(|e| e.to_string()),
        Err(e) => Err(format!("embedded object is neither JSON nor protobuf: {e}")),
    }
}

fn time_json(seconds: i64, nanos: i64, micro: bool) -> Result<Value, String> {
    let nanos = i32::try_from(nanos)
        .ok()
        .filter(|n| (0..1_000_000_000).contains(n))
        .ok_or_else(|| format!("time nanos {nanos} out of range"))?;
    let time = jiff::Timestamp::new(seconds, nanos)
        .map_err(|e| format!("time {seconds}s is out of range: {e}"))?;
    let format = if micro {
        "%Y-%m-%dT%H:%M:%S%.6fZ"
    } else {
        "%Y-%m-%dT%H:%M:%SZ"
    };
    Ok(Value::String(time.strftime(format).to_string()))
}

/// Go's `time.Duration.String()`.
fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    let fraction = |value: u64, unit: u64| {
        let whole = value / unit;
        let rest = value % unit;
        if rest == 0 {
            whole.to_string()
        } else {
            let digits = unit.to_string().len() - 1;
            let frac = format!("{rest:0digits$}");
            format!("{whole}.{}", frac.trim_end_matches('0'))
        }
    };
    if n < 1_000 {
        return format!("{sign}{n}ns");
    }
    if n < 1_000_000 {
        return format!("{sign}{}µs", fraction(n, 1_000));
    }
    if n < 1_000_000_000 {
        return format!("{sign}{}ms", fraction(n, 1_000_000));
    }
    let hours = n / 3_600_000_000_000;
    let minutes = (n / 60_000_000_000) % 60;
    let seconds = fraction(n % 60_000_000_000, 1_000_000_000);
    if hours > 0 {
        format!("{sign}{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{sign}{minutes}m{seconds}s")
    } else {
        format!("{sign}{seconds}s")
    }
}

/// Parses Go's duration string (`1h2m3.5s`, `150ms`).
fn parse_go_duration(text: &str) -> Option<i64> {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Some(0);
    }
    let mut total: f64 = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 6e10,
            "h" => 3.6e12,
            _ => return None,
        };
        total += number * unit;
        rest = &rest[unit_end..];
    }
    #[allow(clippy::cast_possible_truncation)]
    let nanos = total.round() as i64;
    Some(if negative { -nanos } else { nanos })
}

// ---- JSON → protobuf ----

fn object_message(
    defs: &Definitions,
    desc: &MessageDescriptor,
    object: &Map<String, Value>,
    path: &str,
) -> Result<DynamicMessage, String> {
    let mut message = DynamicMessage::new(desc.clone());
    let mut known = Vec::new();
    fill_fields(defs, &mut message, object, path, &mut known)?;
    if let Some(extra) = object.keys().find(|k| !known.contains(k)) {
        return Err(format!("{path}{extra}: no such field in {}", desc.name()));
    }
    Ok(message)
}

fn fill_fields(
    defs: &Definitions,
    message: &mut DynamicMessage,
    object: &Map<String, Value>,
    path: &str,
    known: &mut Vec<String>,
) -> Result<(), String> {
    let desc = message.descriptor();
    for field in desc.fields() {
        let go = go_field(defs, &desc, &field)?;
        if go.inline {
            let Kind::Message(inner_desc) = field.kind() else {
                return Err(format!(
                    "{path}: inlined field {} is no message",
                    field.name()
                ));
            };
            let mut inner = DynamicMessage::new(inner_desc);
            fill_fields(defs, &mut inner, object, path, known)?;
            message
                .try_set_field(&field, Proto::Message(inner))
                .map_err(|e| format!("{path}: {e}"))?;
            continue;
        }
        known.push(go.json.clone());
        let Some(json) = object.get(&go.json).filter(|v| !v.is_null()) else {
            continue;
        };
        let here = format!("{path}{}", go.json);
        let value = if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                return Err(format!("{here}: a map without an entry type"));
            };
            let value_kind = entry.map_entry_value_field().kind();
            let Some(map) = json.as_object() else {
                return Err(format!("{here}: expected an object"));
            };
            let mut entries = HashMap::new();
            for (k, v) in map {
                entries.insert(
                    MapKey::String(k.clone()),
                    json_value(defs, &value_kind, v, &format!("{here}.{k}"))?,
                );
            }
            Proto::Map(entries)
        } else if field.is_list() {
            let Some(items) = json.as_array() else {
                return Err(format!("{here}: expected an array"));
            };
            let kind = field.kind();
            Proto::List(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| json_value(defs, &kind, v, &format!("{here}[{i}]")))
                    .collect::<Result<_, _>>()?,
            )
        } else {
            json_value(defs, &field.kind(), json, &here)?
        };
        message
            .try_set_field(&field, value)
            .map_err(|e| format!("{here}: {e}"))?;
    }
    Ok(())
}

fn json_value(defs: &Definitions, kind: &Kind, json: &Value, path: &str) -> Result<Proto, String> {
    let wrong = || format!("{path}: {json} is not a valid {kind:?}");
    Ok(match kind {
        Kind::Message(desc) => Proto::Message(json_message(defs, desc, json, path)?),
        Kind::Bool => Proto::Bool(json.as_bool().ok_or_else(wrong)?),
        Kind::String => Proto::String(json.as_str().ok_or_else(wrong)?.to_string()),
        Kind::Bytes => Proto::Bytes(
            BASE64
                .decode(json.as_str().ok_or_else(wrong)?)
                .map_err(|e| format!("{path}: not base64: {e}"))?
                .into(),
        ),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Proto::I32(
            json.as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(wrong)?,
        ),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Proto::I64(json.as_i64().ok_or_else(wrong)?),
        Kind::Uint32 | Kind::Fixed32 => Proto::U32(
            json.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(wrong)?,
        ),
        Kind::Uint64 | Kind::Fixed64 => Proto::U64(json.as_u64().ok_or_else(wrong)?),
        #[allow(clippy::cast_possible_truncation)]
        Kind::Float => Proto::F32(json.as_f64().ok_or_else(wrong)? as f32),
        Kind::Double => Proto::F64(json.as_f64().ok_or_else(wrong)?),
        Kind::Enum(_) => Proto::EnumNumber(
            json.as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(wrong)?,
        ),
    })
}

fn set(message: &mut DynamicMessage, name: &str, value: Proto) -> Result<(), String> {
    let field = message
        .descriptor()
        .get_field_by_name(name)
        .ok_or_else(|| format!("{} has no field {name}", message.descriptor().full_name()))?;
    message
        .try_set_field(&field, value)
        .map_err(|e| format!("{}.{name}: {e}", message.descriptor().full_name()))
}

fn field_message(desc: &MessageDescriptor, name: &str) -> Result<MessageDescriptor, String> {
    match desc.get_field_by_name(name).map(|f| f.kind()) {
        Some(Kind::Message(m)) => Ok(m),
        _ => Err(format!("{} has no message field {name}", desc.full_name())),
    }
}

fn json_message(
    defs: &Definitions,
    desc: &MessageDescriptor,
    json: &Value,
    path: &str,
) -> Result<DynamicMessage, String> {
    let Some(special) = special(defs, desc) else {
        let Some(object) = json.as_object() else {
            return Err(format!("{path}: expected an object, got {json}"));
        };
        return object_message(defs, desc, object, &format!("{path}."));
    };
    let mut message = DynamicMessage::new(desc.clone());
    let wrong = |what: &str| format!("{path}: expected {what}, got {json}");
    let strings = |items: &Vec<Value>| -> Result<Proto, String> {
        items
            .iter()
            .map(|v| v.as_str().map(|s| Proto::String(s.to_string())))
            .collect::<Option<Vec<_>>>()
            .map(Proto::List)
            .ok_or_else(|| wrong("an array of strings"))
    };
    match special {
        Special::Time | Special::MicroTime => {
            let text = json.as_str().ok_or_else(|| wrong("an RFC 3339 time"))?;
            let time: jiff::Timestamp = text
                .parse()
                .map_err(|e| format!("{path}: {text:?} is not an RFC 3339 time: {e}"))?;
            set(&mut message, "seconds", Proto::I64(time.as_second()))?;
            set(&mut message, "nanos", Proto::I32(time.subsec_nanosecond()))?;
        }
        Special::Duration => {
            let text = json.as_str().ok_or_else(|| wrong("a duration"))?;
            let nanos = parse_go_duration(text).ok_or_else(|| wrong("a duration like 1h2m3s"))?;
            set(&mut message, "duration", Proto::I64(nanos))?;
        }
        Special::Quantity => {
            let text = match json {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Err(wrong("a quantity")),
            };
            set(&mut message, "string", Proto::String(text))?;
        }
        Special::IntOrString => match json {
            Value::String(s) => {
                set(&mut message, "type", Proto::I64(1))?;
                set(&mut message, "strVal", Proto::String(s.clone()))?;
            }
            Value::Number(n) => {
                let n = n
                    .as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or_else(|| wrong("a 32-bit integer or a string"))?;
                set(&mut message, "type", Proto::I64(0))?;
                set(&mut message, "intVal", Proto::I32(n))?;
            }
            _ => return Err(wrong("an integer or a string")),
        },
        Special::RawJson(field) => {
            let raw = serde_json::to_vec(json).map_err(|e| format!("{path}: {e}"))?;
            set(&mut message, field, Proto::Bytes(raw.into()))?;
        }
        Special::SchemaOrArray => match json {
            Value::Array(items) => {
                let item_desc = field_message(desc, "jSONSchemas")?;
                let items = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        json_message(defs, &item_desc, v, &format!("{path}[{i}]"))
                            .map(Proto::Message)
                    })
                    .collect::<Result<_, _>>()?;
                set(&mut message, "jSONSchemas", Proto::List(items))?;
            }
            other => {
                let schema = json_message(defs, &field_message(desc, "schema")?, other, path)?;
                set(&mut message, "schema", Proto::Message(schema))?;
            }
        },
        Special::SchemaOrBool => match json {
            Value::Bool(b) => set(&mut message, "allows", Proto::Bool(*b))?,
            other => {
                let schema = json_message(defs, &field_message(desc, "schema")?, other, path)?;
                set(&mut message, "allows", Proto::Bool(true))?;
                set(&mut message, "schema", Proto::Message(schema))?;
            }
        },
        Special::SchemaOrStringArray => match json {
            Value::Array(items) => set(&mut message, "property", strings(items)?)?,
            other => {
                let schema = json_message(defs, &field_message(desc, "schema")?, other, path)?;
                set(&mut message, "schema", Proto::Message(schema))?;
            }
        },
        Special::StringList => {
            let items = json
                .as_array()
                .ok_or_else(|| wrong("an array of strings"))?;
            set(&mut message, "items", strings(items)?)?;
        }
    }
    Ok(message)
}

#[cfg(test)]
mod tests;
