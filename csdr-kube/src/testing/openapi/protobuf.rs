//! The OpenAPI v2 document in the protobuf form `kubectl` asks for first
//! (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`): the `openapi.v2.Document`
//! message of gnostic's `OpenAPIv2.proto`, written field by field from the JSON document.
//!
//! client-go's `OpenAPISchema()` accepts only this form (a JSON answer fails to unmarshal), so a
//! server `kubectl apply` validates against must speak it. Vendor extensions, defaults and enum
//! values are carried as gnostic's `Any.yaml` text (JSON, which is YAML). Keys of the JSON
//! document that the v2 message has no field for (v3-only keywords of CRD schemas such as
//! `nullable`, `anyOf`, `oneOf`) are left out, as a real server's conversion of CRD schemas to v2
//! leaves them out.

use serde_json::{Map, Value};

/// A protobuf message being written.
#[derive(Default)]
struct Message(Vec<u8>);

impl Message {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire));
    }

    fn bytes(&mut self, field: u32, bytes: &[u8]) {
        self.key(field, 2);
        self.varint(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
    }

    fn string(&mut self, field: u32, text: &str) {
        self.bytes(field, text.as_bytes());
    }

    fn message(&mut self, field: u32, message: Message) {
        self.bytes(field, &message.0);
    }

    fn bool(&mut self, field: u32, value: bool) {
        if value {
            self.key(field, 0);
            self.varint(1);
        }
    }

    fn int64(&mut self, field: u32, value: i64) {
        self.key(field, 0);
        self.varint(value as u64);
    }

    fn double(&mut self, field: u32, value: f64) {
        self.key(field, 1);
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    /// `field` from a JSON string member, if present.
    fn string_of(&mut self, field: u32, map: &Map<String, Value>, key: &str) {
        if let Some(text) = map.get(key).and_then(Value::as_str) {
            self.string(field, text);
        }
    }

    fn strings_of(&mut self, field: u32, map: &Map<String, Value>, key: &str) {
        for text in map
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            self.string(field, text);
        }
    }

    fn bool_of(&mut self, field: u32, map: &Map<String, Value>, key: &str) {
        self.bool(
            field,
            map.get(key).and_then(Value::as_bool).unwrap_or(false),
        );
    }

    fn int64_of(&mut self, field: u32, map: &Map<String, Value>, key: &str) {
        if let Some(n) = map.get(key).and_then(Value::as_i64) {
            self.int64(field, n);
        }
    }

    fn double_of(&mut self, field: u32, map: &Map<String, Value>, key: &str) {
        if let Some(n) = map.get(key).and_then(Value::as_f64) {
            self.double(field, n);
        }
    }

    /// An `Any` member (`default`, `example`) as YAML text.
    fn any_of(&mut self, field: u32, map: &Map<String, Value>, key: &str) {
        if let Some(value) = map.get(key) {
            self.message(field, any(value));
        }
    }

    fn enum_of(&mut self, field: u32, map: &Map<String, Value>) {
        for value in map
            .get("enum")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.message(field, any(value));
        }
    }

    /// Every `x-…` member as a `NamedAny`.
    fn extensions_of(&mut self, field: u32, map: &Map<String, Value>) {
        for (name, value) in map.iter().filter(|(k, _)| k.starts_with("x-")) {
            let mut named = Message::default();
            named.string(1, name);
            named.message(2, any(value));
            self.message(field, named);
        }
    }
}

/// gnostic's `Any` with `yaml` set (JSON is YAML).
fn any(value: &Value) -> Message {
    let mut m = Message::default();
    m.string(2, &value.to_string());
    m
}

fn schema(value: &Value) -> Message {
    let mut m = Message::default();
    let Some(map) = value.as_object() else {
        return m;
    };
    m.string_of(1, map, "$ref");
    m.string_of(2, map, "format");
    m.string_of(3, map, "title");
    m.string_of(4, map, "description");
    m.any_of(5, map, "default");
    m.double_of(6, map, "multipleOf");
    m.double_of(7, map, "maximum");
    m.bool_of(8, map, "exclusiveMaximum");
    m.double_of(9, map, "minimum");
    m.bool_of(10, map, "exclusiveMinimum");
    m.int64_of(11, map, "maxLength");
    m.int64_of(12, map, "minLength");
    m.string_of(13, map, "pattern");
    m.int64_of(14, map, "maxItems");
    m.int64_of(15, map, "minItems");
    m.bool_of(16, map, "uniqueItems");
    m.int64_of(17, map, "maxProperties");
    m.int64_of(18, map, "minProperties");
    m.strings_of(19, map, "required");
    m.enum_of(20, map);
    match map.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            let mut item = Message::default();
            item.key(2, 0);
            item.varint(u64::from(*b));
            m.message(21, item);
        }
        Some(inner @ Value::Object(_)) => {
            let mut item = Message::default();
            item.message(1, schema(inner));
            m.message(21, item);
        }
        _ => {}
    }
    if let Some(kind) = map.get("type").and_then(Value::as_str) {
        let mut item = Message::default();
        item.string(1, kind);
        m.message(22, item);
    }
    match map.get("items") {
        Some(inner @ Value::Object(_)) => {
            let mut item = Message::default();
            item.message(1, schema(inner));
            m.message(23, item);
        }
        Some(Value::Array(list)) => {
            let mut item = Message::default();
            for inner in list {
                item.message(1, schema(inner));
            }
            m.message(23, item);
        }
        _ => {}
    }
    for inner in map
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(24, schema(inner));
    }
    if let Some(properties) = map.get("properties").and_then(Value::as_object) {
        let mut props = Message::default();
        for (name, inner) in properties {
            let mut named = Message::default();
            named.string(1, name);
            named.message(2, schema(inner));
            props.message(1, named);
        }
        m.message(25, props);
    }
    m.string_of(26, map, "discriminator");
    m.bool_of(27, map, "readOnly");
    m.any_of(30, map, "example");
    m.extensions_of(31, map);
    m
}

/// A `Parameter` (body or non-body).
fn parameter(value: &Value) -> Message {
    let mut m = Message::default();
    let Some(map) = value.as_object() else {
        return m;
    };
    let place = map.get("in").and_then(Value::as_str).unwrap_or("");
    if place == "body" {
        let mut body = Message::default();
        body.string_of(1, map, "description");
        body.string_of(2, map, "name");
        body.string_of(3, map, "in");
        body.bool_of(4, map, "required");
        if let Some(s) = map.get("schema") {
            body.message(5, schema(s));
        }
        body.extensions_of(6, map);
        m.message(1, body);
        return m;
    }
    // Query and form-data sub-schemas number their fields alike; path and header ones too.
    let (sub, query_like) = match place {
        "query" => (3, true),
        "formData" => (2, true),
        "header" => (1, false),
        _ => (4, false),
    };
    let shift = u32::from(query_like);
    let mut p = Message::default();
    p.bool_of(1, map, "required");
    p.string_of(2, map, "in");
    p.string_of(3, map, "description");
    p.string_of(4, map, "name");
    if query_like {
        p.bool_of(5, map, "allowEmptyValue");
    }
    p.string_of(5 + shift, map, "type");
    p.string_of(6 + shift, map, "format");
    p.string_of(8 + shift, map, "collectionFormat");
    p.any_of(9 + shift, map, "default");
    p.bool_of(19 + shift, map, "uniqueItems");
    p.enum_of(20 + shift, map);
    p.extensions_of(22 + shift, map);
    let mut non_body = Message::default();
    non_body.message(sub, p);
    m.message(2, non_body);
    m
}

/// A `ParametersItem`: a parameter or a `$ref` to a document-level one.
fn parameters_item(value: &Value) -> Message {
    let mut m = Message::default();
    if let Some(reference) = value.get("$ref").and_then(Value::as_str) {
        let mut r = Message::default();
        r.string(1, reference);
        m.message(2, r);
    } else {
        m.message(1, parameter(value));
    }
    m
}

fn operation(value: &Value) -> Message {
    let mut m = Message::default();
    let Some(map) = value.as_object() else {
        return m;
    };
    m.strings_of(1, map, "tags");
    m.string_of(2, map, "summary");
    m.string_of(3, map, "description");
    m.string_of(5, map, "operationId");
    m.strings_of(6, map, "produces");
    m.strings_of(7, map, "consumes");
    for p in map
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(8, parameters_item(p));
    }
    if let Some(responses) = map.get("responses").and_then(Value::as_object) {
        let mut rs = Message::default();
        for (code, response) in responses {
            let mut r = Message::default();
            if let Some(rm) = response.as_object() {
                r.string_of(1, rm, "description");
                if let Some(s) = rm.get("schema") {
                    let mut item = Message::default();
                    item.message(1, schema(s));
                    r.message(2, item);
                }
                r.extensions_of(5, rm);
            }
            let mut value = Message::default();
            value.message(1, r);
            let mut named = Message::default();
            named.string(1, code);
            named.message(2, value);
            rs.message(1, named);
        }
        m.message(9, rs);
    }
    m.strings_of(10, map, "schemes");
    m.bool_of(11, map, "deprecated");
    m.extensions_of(13, map);
    m
}

fn path_item(value: &Value) -> Message {
    let mut m = Message::default();
    let Some(map) = value.as_object() else {
        return m;
    };
    m.string_of(1, map, "$ref");
    for (field, verb) in [
        (2, "get"),
        (3, "put"),
        (4, "post"),
        (5, "delete"),
        (6, "options"),
        (7, "head"),
        (8, "patch"),
    ] {
        if let Some(op) = map.get(verb) {
            m.message(field, operation(op));
        }
    }
    for p in map
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(9, parameters_item(p));
    }
    m.extensions_of(10, map);
    m
}

/// The `openapi.v2.Document` protobuf bytes of a Swagger 2.0 JSON document.
pub fn encode_document(doc: &Value) -> Vec<u8> {
    let mut m = Message::default();
    let Some(map) = doc.as_object() else {
        return m.0;
    };
    m.string_of(1, map, "swagger");
    if let Some(info) = map.get("info").and_then(Value::as_object) {
        let mut i = Message::default();
        i.string_of(1, info, "title");
        i.string_of(2, info, "version");
        i.string_of(3, info, "description");
        m.message(2, i);
    }
    if let Some(paths) = map.get("paths").and_then(Value::as_object) {
        let mut ps = Message::default();
        for (path, item) in paths {
            let mut named = Message::default();
            named.string(1, path);
            named.message(2, path_item(item));
            ps.message(2, named);
        }
        m.message(8, ps);
    }
    if let Some(definitions) = map.get("definitions").and_then(Value::as_object) {
        let mut ds = Message::default();
        for (name, s) in definitions {
            let mut named = Message::default();
            named.string(1, name);
            named.message(2, schema(s));
            ds.message(1, named);
        }
        m.message(9, ds);
    }
    if let Some(parameters) = map.get("parameters").and_then(Value::as_object) {
        let mut ps = Message::default();
        for (name, p) in parameters {
            let mut named = Message::default();
            named.string(1, name);
            named.message(2, parameter(p));
            ps.message(1, named);
        }
        m.message(10, ps);
    }
    for requirement in map
        .get("security")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut req = Message::default();
        for (name, scopes) in requirement.as_object().into_iter().flatten() {
            let mut list = Message::default();
            for scope in scopes
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                list.string(1, scope);
            }
            let mut named = Message::default();
            named.string(1, name);
            named.message(2, list);
            req.message(1, named);
        }
        m.message(12, req);
    }
    if let Some(definitions) = map.get("securityDefinitions").and_then(Value::as_object) {
        let mut ds = Message::default();
        for (name, d) in definitions {
            let Some(dm) = d.as_object() else { continue };
            if dm.get("type").and_then(Value::as_str) != Some("apiKey") {
                continue;
            }
            let mut key = Message::default();
            key.string_of(1, dm, "type");
            key.string_of(2, dm, "name");
            key.string_of(3, dm, "in");
            key.string_of(4, dm, "description");
            let mut item = Message::default();
            item.message(2, key);
            let mut named = Message::default();
            named.string(1, name);
            named.message(2, item);
            ds.message(1, named);
        }
        m.message(13, ds);
    }
    m.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn varints_and_nesting() {
        let mut m = Message::default();
        m.varint(300);
        assert_eq!(m.0, vec![0xac, 0x02]);
        let doc = json!({"swagger": "2.0", "definitions": {"A": {"type": "object"}}});
        let bytes = encode_document(&doc);
        // field 1 "2.0", then field 9 { field 1 { field 1 "A", field 2 { field 22 { "object" } } } }
        assert_eq!(&bytes[..5], &[0x0a, 3, b'2', b'.', b'0']);
        assert_eq!(bytes[5], 0x4a);
        assert!(bytes.windows(6).any(|w| w == b"object"));
    }
}
