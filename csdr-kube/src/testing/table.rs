//! `Table` output: what `kubectl get` asks for (`Accept: application/json;as=Table;v=v1;
//! g=meta.k8s.io`, or `v1beta1`) and prints as columns.
//!
//! A list, a get or each event of a watch is answered as a `meta.k8s.io` `Table`:
//! `columnDefinitions`, and a row per object with its `cells` and, per `includeObject`, its
//! `PartialObjectMetadata` (the default), the whole object (`Object`) or nothing (`None`). As a
//! real API server does, every column is filled (the `-o wide` ones have `priority: 1` and
//! kubectl hides them) and ages are rendered by the server (`5m`, `2d3h`).
//!
//! Custom resources get `Name` and the `additionalPrinterColumns` of their CRD version (simple
//! JSONPath: fields, `[n]` indexes and `[?(@.field=="value")]` filters), or `Name` and `Age`
//! when the version declares none. Built-in kinds get the columns of kubernetes'
//! `pkg/printers/internalversion/printers.go` for Namespaces, Pods, Deployments, Services,
//! ConfigMaps, Secrets, PersistentVolumeClaims and Events (core and `events.k8s.io`), and
//! `Name`, `Age` for the others. Differences: other built-in kinds (ReplicaSets, Jobs,
//! Nodes, …) print `NAME AGE` instead of their own columns; a Pod's status is derived from its
//! phase and container states only (no init-container progress), and its restarts carry no
//! `(5m ago)`.

use csdr_core::object::{GroupVersion, GroupVersionResource, KubeObject};
use csdr_core::releases::KubeRelease;
use csdr_core::sim::SimCluster;
use serde_json::{Value, json};

use super::subresources::selector_string;

/// What a `Table` request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TableRequest {
    /// `v1` or `v1beta1` of `meta.k8s.io`.
    pub version: &'static str,
    /// `includeObject`: `None`, `Metadata` (default) or `Object`.
    pub include: String,
}

impl TableRequest {
    /// The Table an `Accept` header asks for before any plain JSON, if any.
    pub fn from_accept(accept: &str, include_object: Option<&str>) -> Option<Self> {
        for entry in accept.split(',') {
            let mut parts = entry.split(';').map(str::trim);
            let media = parts.next().unwrap_or("");
            let params: Vec<(&str, &str)> = parts
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.trim(), v.trim()))
                .collect();
            let param = |k: &str| params.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
            if media != "application/json" && media != "*/*" {
                continue;
            }
            match param("as") {
                Some("Table") if param("g") == Some("meta.k8s.io") => {
                    let version = match param("v") {
                        Some("v1") => "v1",
                        Some("v1beta1") => "v1beta1",
                        _ => continue,
                    };
                    return Some(TableRequest {
                        version,
                        include: include_object.unwrap_or("Metadata").to_string(),
                    });
                }
                None => return None,
                Some(_) => continue,
            }
        }
        None
    }

    fn api_version(&self) -> String {
        format!("meta.k8s.io/{}", self.version)
    }
}

/// How cells are made for one resource.
#[derive(Clone, Debug)]
enum Cells {
    /// A CRD's printer columns: type and JSONPath of each column after `Name`.
    Custom(Vec<(String, String)>),
    /// A built-in kind's printer.
    Builtin(Builtin),
    /// `Name`, `Age`.
    Default,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Builtin {
    Namespace,
    Pod,
    Deployment,
    DaemonSet,
    Service,
    ConfigMap,
    Secret,
    Claim { volume_attributes_class: bool },
    Event,
}

/// The printer of one resource: column definitions and cells.
#[derive(Clone, Debug)]
pub(crate) struct Printer {
    columns: Vec<Value>,
    cells: Cells,
}

fn column(name: &str, kind: &str, format: &str, priority: u32, description: &str) -> Value {
    json!({"name": name, "type": kind, "format": format, "description": description,
        "priority": priority})
}

fn name_column() -> Value {
    column(
        "Name",
        "string",
        "name",
        0,
        "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
    )
}

fn age_column(kind: &str) -> Value {
    column(
        "Age",
        kind,
        "",
        0,
        "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
    )
}

impl Printer {
    /// The printer for the objects of `gvr` (kind `kind`) on `sim`.
    pub fn for_resource(
        sim: &SimCluster,
        release: Option<KubeRelease>,
        gvr: &GroupVersionResource,
        kind: &str,
    ) -> Printer {
        if let Some(columns) = crd_columns(sim, gvr) {
            let mut definitions = vec![name_column()];
            let mut cells = Vec::new();
            let columns = if columns.is_empty() {
                vec![json!({"name": "Age", "type": "date",
                    "jsonPath": ".metadata.creationTimestamp"})]
            } else {
                columns
            };
            for c in &columns {
                let text = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                let path = if c.get("jsonPath").is_some() {
                    text("jsonPath")
                } else {
                    text("JSONPath")
                };
                let priority = c.get("priority").and_then(Value::as_u64).unwrap_or(0) as u32;
                definitions.push(column(
                    &text("name"),
                    &text("type"),
                    &text("format"),
                    priority,
                    &text("description"),
                ));
                cells.push((text("type"), path));
            }
            return Printer {
                columns: definitions,
                cells: Cells::Custom(cells),
            };
        }
        let builtin = match (kind, gvr.group.as_str()) {
            ("Namespace", "") => Some(Builtin::Namespace),
            ("Pod", "") => Some(Builtin::Pod),
            ("Deployment", "apps" | "extensions") => Some(Builtin::Deployment),
            ("DaemonSet", "apps" | "extensions") => Some(Builtin::DaemonSet),
            ("Service", "") => Some(Builtin::Service),
            ("ConfigMap", "") => Some(Builtin::ConfigMap),
            ("Secret", "") => Some(Builtin::Secret),
            ("PersistentVolumeClaim", "") => Some(Builtin::Claim {
                volume_attributes_class: release.is_some_and(|r| r >= KubeRelease::V1_29),
            }),
            ("Event", "" | "events.k8s.io") => Some(Builtin::Event),
            _ => None,
        };
        let s = |name: &str| column(name, "string", "", 0, "");
        let int = |name: &str| column(name, "integer", "", 0, "");
        let wide = |name: &str| column(name, "string", "", 1, "");
        let columns = match builtin {
            None => vec![name_column(), age_column("date")],
            Some(Builtin::Namespace) => vec![name_column(), s("Status"), s("Age")],
            Some(Builtin::Pod) => vec![
                name_column(),
                s("Ready"),
                s("Status"),
                s("Restarts"),
                s("Age"),
                wide("IP"),
                wide("Node"),
                wide("Nominated Node"),
                wide("Readiness Gates"),
            ],
            Some(Builtin::Deployment) => vec![
                name_column(),
                s("Ready"),
                int("Up-to-date"),
                int("Available"),
                s("Age"),
                wide("Containers"),
                wide("Images"),
                wide("Selector"),
            ],
            Some(Builtin::DaemonSet) => vec![
                name_column(),
                int("Desired"),
                int("Current"),
                int("Ready"),
                int("Up-to-date"),
                int("Available"),
                s("Node Selector"),
                s("Age"),
                wide("Containers"),
                wide("Images"),
                wide("Selector"),
            ],
            Some(Builtin::Service) => vec![
                name_column(),
                s("Type"),
                s("Cluster-IP"),
                s("External-IP"),
                s("Port(s)"),
                s("Age"),
                wide("Selector"),
            ],
            Some(Builtin::ConfigMap) => vec![name_column(), int("Data"), s("Age")],
            Some(Builtin::Secret) => vec![name_column(), s("Type"), int("Data"), s("Age")],
            Some(Builtin::Claim {
                volume_attributes_class,
            }) => {
                let mut c = vec![
                    name_column(),
                    s("Status"),
                    s("Volume"),
                    s("Capacity"),
                    s("Access Modes"),
                    s("StorageClass"),
                ];
                if volume_attributes_class {
                    c.push(s("VolumeAttributesClass"));
                }
                c.extend([s("Age"), wide("VolumeMode")]);
                c
            }
            Some(Builtin::Event) => vec![
                s("Last Seen"),
                s("Type"),
                s("Reason"),
                s("Object"),
                wide("Subobject"),
                wide("Source"),
                s("Message"),
                wide("First Seen"),
                wide("Count"),
                wide("Name"),
            ],
        };
        Printer {
            columns,
            cells: builtin.map(Cells::Builtin).unwrap_or(Cells::Default),
        }
    }

    /// The row of one object.
    fn row(&self, obj: &KubeObject, request: &TableRequest, now: jiff::Timestamp) -> Value {
        let cells = match &self.cells {
            Cells::Default => vec![json!(obj.name()), json!(age(obj, now))],
            Cells::Custom(columns) => {
                let mut cells = vec![json!(obj.name())];
                let value = obj.to_value();
                for (kind, path) in columns {
                    cells.push(custom_cell(kind, json_path(&value, path), now));
                }
                cells
            }
            Cells::Builtin(b) => builtin_cells(*b, obj, now),
        };
        let mut row = json!({"cells": cells});
        match request.include.as_str() {
            "None" => {}
            "Object" => row["object"] = obj.to_value(),
            _ => {
                row["object"] = json!({"kind": "PartialObjectMetadata",
                    "apiVersion": request.api_version(),
                    "metadata": obj.metadata().cloned().unwrap_or_default()})
            }
        }
        row
    }

    /// A `Table` of `objects`, with the list's `metadata`.
    pub fn table(
        &self,
        objects: &[KubeObject],
        request: &TableRequest,
        now: jiff::Timestamp,
        metadata: Value,
    ) -> Value {
        let rows: Vec<Value> = objects.iter().map(|o| self.row(o, request, now)).collect();
        json!({"kind": "Table", "apiVersion": request.api_version(), "metadata": metadata,
            "columnDefinitions": self.columns, "rows": rows})
    }
}

/// The printer columns of the CRD version serving `gvr`, if `gvr` is a custom resource.
fn crd_columns(sim: &SimCluster, gvr: &GroupVersionResource) -> Option<Vec<Value>> {
    if gvr.group.is_empty() {
        return None;
    }
    let name = format!("{}.{}", gvr.resource, gvr.group);
    let crd = ["v1", "v1beta1"].iter().find_map(|v| {
        let crds =
            GroupVersionResource::new("apiextensions.k8s.io", *v, "customresourcedefinitions");
        sim.get_object(&crds, None, &name).ok().flatten()
    })?;
    if crd.pointer("/spec/group").and_then(Value::as_str) != Some(gvr.group.as_str()) {
        return None;
    }
    let version = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .and_then(|vs| {
            vs.iter()
                .find(|v| v.get("name").and_then(Value::as_str) == Some(gvr.version.as_str()))
        });
    let columns = version
        .and_then(|v| v.get("additionalPrinterColumns"))
        .or_else(|| crd.pointer("/spec/additionalPrinterColumns"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Some(columns)
}

/// The value at a simple JSONPath (`.a.b`, `.a[0].b`, `.a[?(@.type=="Ready")].status`,
/// optionally in `{}`), if any.
pub(crate) fn json_path<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.trim();
    let path = path
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(path);
    let mut rest = path.strip_prefix('$').unwrap_or(path);
    let mut current = value;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            if !key.is_empty() {
                current = current.get(key)?;
            }
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = &r[..end];
            rest = &r[end + 1..];
            if let Some(filter) = inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')')) {
                let (field, wanted) = filter.split_once("==")?;
                let wanted = wanted.trim().trim_matches(|c| c == '"' || c == '\'');
                let field = field.trim();
                current = current.as_array()?.iter().find(|item| {
                    match json_path(item, &format!(".{field}")) {
                        Some(Value::String(s)) => s == wanted,
                        Some(other) => other.to_string().as_str() == wanted,
                        None => false,
                    }
                })?;
            } else {
                let index: i64 = inner.trim().parse().ok()?;
                let items = current.as_array()?;
                let i = if index < 0 {
                    items.len().checked_sub(index.unsigned_abs() as usize)?
                } else {
                    index as usize
                };
                current = items.get(i)?;
            }
        } else {
            return None;
        }
    }
    Some(current)
}

/// A custom column's cell, as the API server's CRD table convertor renders it.
fn custom_cell(kind: &str, value: Option<&Value>, now: jiff::Timestamp) -> Value {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Value::Null;
    };
    match kind {
        "date" => match value
            .as_str()
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
        {
            Some(t) => json!(human_duration(now.as_second() - t.as_second())),
            None => Value::Null,
        },
        "integer" => value.as_i64().map(Value::from).unwrap_or(Value::Null),
        "number" => value.as_f64().map(Value::from).unwrap_or(Value::Null),
        "boolean" => value.as_bool().map(Value::from).unwrap_or(Value::Null),
        _ => match value {
            Value::String(s) => json!(s),
            other => json!(other.to_string()),
        },
    }
}

/// How long ago, as kubernetes' `duration.HumanDuration` writes it.
pub(crate) fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// The time since an RFC 3339 timestamp, or `<unknown>`.
fn since(value: Option<&Value>, now: jiff::Timestamp) -> String {
    match value
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
    {
        Some(t) => human_duration(now.as_second() - t.as_second()),
        None => "<unknown>".into(),
    }
}

fn age(obj: &KubeObject, now: jiff::Timestamp) -> String {
    since(obj.pointer("/metadata/creationTimestamp"), now)
}

fn text<'a>(obj: &'a KubeObject, path: &str) -> &'a str {
    obj.pointer(path).and_then(Value::as_str).unwrap_or("")
}

fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".into()
    } else {
        s.to_string()
    }
}

fn items<'a>(obj: &'a KubeObject, path: &str) -> &'a [Value] {
    obj.pointer(path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn count(obj: &KubeObject, path: &str) -> i64 {
    obj.pointer(path)
        .and_then(Value::as_object)
        .map(|m| m.len() as i64)
        .unwrap_or(0)
}

fn builtin_cells(kind: Builtin, obj: &KubeObject, now: jiff::Timestamp) -> Vec<Value> {
    let name = json!(obj.name());
    let age = json!(age(obj, now));
    let deleting = obj
        .metadata()
        .is_some_and(|m| m.contains_key("deletionTimestamp"));
    match kind {
        Builtin::Namespace => vec![name, json!(text(obj, "/status/phase")), age],
        Builtin::ConfigMap => vec![
            name,
            json!(count(obj, "/data") + count(obj, "/binaryData")),
            age,
        ],
        Builtin::Secret => vec![
            name,
            json!(text(obj, "/type")),
            json!(count(obj, "/data")),
            age,
        ],
        Builtin::Deployment => {
            let int = |p: &str| obj.pointer(p).and_then(Value::as_i64).unwrap_or(0);
            let containers = items(obj, "/spec/template/spec/containers");
            let join = |k: &str| {
                containers
                    .iter()
                    .map(|c| c.get(k).and_then(Value::as_str).unwrap_or(""))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let selector = obj
                .pointer("/spec/selector")
                .map(selector_string)
                .unwrap_or_default();
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    int("/status/readyReplicas"),
                    obj.pointer("/spec/replicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(1)
                )),
                json!(int("/status/updatedReplicas")),
                json!(int("/status/availableReplicas")),
                age,
                json!(join("name")),
                json!(join("image")),
                json!(or_none(&selector)),
            ]
        }
        Builtin::DaemonSet => {
            let int = |p: &str| obj.pointer(p).and_then(Value::as_i64).unwrap_or(0);
            let containers = items(obj, "/spec/template/spec/containers");
            let join = |k: &str| {
                containers
                    .iter()
                    .map(|c| c.get(k).and_then(Value::as_str).unwrap_or(""))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            // labels.FormatLabels: key=value pairs sorted by key.
            let node_selector = obj
                .pointer("/spec/template/spec/nodeSelector")
                .and_then(Value::as_object)
                .map(|m| {
                    let mut pairs: Vec<String> = m
                        .iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                        .collect();
                    pairs.sort();
                    pairs.join(",")
                })
                .unwrap_or_default();
            let selector = obj
                .pointer("/spec/selector")
                .map(selector_string)
                .unwrap_or_default();
            vec![
                name,
                json!(int("/status/desiredNumberScheduled")),
                json!(int("/status/currentNumberScheduled")),
                json!(int("/status/numberReady")),
                json!(int("/status/updatedNumberScheduled")),
                json!(int("/status/numberAvailable")),
                json!(or_none(&node_selector)),
                age,
                json!(join("name")),
                json!(join("image")),
                json!(or_none(&selector)),
            ]
        }
        Builtin::Pod => pod_cells(obj, name, age, deleting),
        Builtin::Service => service_cells(obj, name, age),
        Builtin::Claim {
            volume_attributes_class,
        } => {
            let volume = text(obj, "/spec/volumeName");
            let (capacity, modes) = if volume.is_empty() {
                (String::new(), String::new())
            } else {
                let modes: Vec<&str> = [
                    ("ReadWriteOnce", "RWO"),
                    ("ReadOnlyMany", "ROX"),
                    ("ReadWriteMany", "RWX"),
                    ("ReadWriteOncePod", "RWOP"),
                ]
                .iter()
                .filter(|(mode, _)| {
                    items(obj, "/status/accessModes")
                        .iter()
                        .any(|m| m.as_str() == Some(mode))
                })
                .map(|(_, short)| *short)
                .collect();
                (
                    text(obj, "/status/capacity/storage").to_string(),
                    modes.join(","),
                )
            };
            let class = match text(obj, "/spec/storageClassName") {
                "" => obj
                    .pointer("/metadata/annotations/volume.beta.kubernetes.io~1storage-class")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
                c => c,
            };
            let phase = if deleting {
                "Terminating"
            } else {
                text(obj, "/status/phase")
            };
            let mut cells = vec![
                name,
                json!(phase),
                json!(volume),
                json!(capacity),
                json!(modes),
                json!(class),
            ];
            if volume_attributes_class {
                cells.push(json!(match text(obj, "/spec/volumeAttributesClassName") {
                    "" => "<unset>",
                    c => c,
                }));
            }
            let mode = match text(obj, "/spec/volumeMode") {
                "" => "<unset>",
                m => m,
            };
            cells.extend([age, json!(mode)]);
            cells
        }
        Builtin::Event => event_cells(obj, now),
    }
}

fn pod_cells(obj: &KubeObject, name: Value, age: Value, deleting: bool) -> Vec<Value> {
    let statuses = items(obj, "/status/containerStatuses");
    let total = items(obj, "/spec/containers").len();
    let ready = statuses
        .iter()
        .filter(|s| s.get("ready").and_then(Value::as_bool) == Some(true))
        .count();
    let restarts: i64 = statuses
        .iter()
        .filter_map(|s| s.get("restartCount").and_then(Value::as_i64))
        .sum();
    let mut reason = match text(obj, "/status/reason") {
        "" => text(obj, "/status/phase").to_string(),
        r => r.to_string(),
    };
    for s in statuses.iter().rev() {
        let state = |k: &str| {
            s.pointer(&format!("/state/{k}/reason"))
                .and_then(Value::as_str)
        };
        if let Some(r) = state("waiting").or_else(|| state("terminated")) {
            reason = r.to_string();
        }
    }
    if deleting {
        reason = if text(obj, "/status/reason") == "NodeLost" {
            "Unknown".into()
        } else {
            "Terminating".into()
        };
    }
    let gates = items(obj, "/spec/readinessGates");
    let gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let met = gates
            .iter()
            .filter(|g| {
                let kind = g.get("conditionType").and_then(Value::as_str);
                items(obj, "/status/conditions").iter().any(|c| {
                    c.get("type").and_then(Value::as_str) == kind
                        && c.get("status").and_then(Value::as_str) == Some("True")
                })
            })
            .count();
        format!("{met}/{}", gates.len())
    };
    vec![
        name,
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts.to_string()),
        age,
        json!(or_none(text(obj, "/status/podIP"))),
        json!(or_none(text(obj, "/spec/nodeName"))),
        json!(or_none(text(obj, "/status/nominatedNodeName"))),
        json!(gates),
    ]
}

fn service_cells(obj: &KubeObject, name: Value, age: Value) -> Vec<Value> {
    let kind = match text(obj, "/spec/type") {
        "" => "ClusterIP",
        t => t,
    };
    let external_ips: Vec<String> = items(obj, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    let external = match kind {
        "LoadBalancer" => {
            let mut ips: Vec<String> = items(obj, "/status/loadBalancer/ingress")
                .iter()
                .filter_map(|i| {
                    i.get("ip")
                        .or_else(|| i.get("hostname"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .collect();
            ips.extend(external_ips);
            if ips.is_empty() {
                "<pending>".to_string()
            } else {
                ips.join(",")
            }
        }
        "ExternalName" => text(obj, "/spec/externalName").to_string(),
        _ => or_none(&external_ips.join(",")),
    };
    let ports: Vec<String> = items(obj, "/spec/ports")
        .iter()
        .map(|p| {
            let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
            let protocol = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            match p.get("nodePort").and_then(Value::as_i64).filter(|n| *n > 0) {
                Some(node) => format!("{port}:{node}/{protocol}"),
                None => format!("{port}/{protocol}"),
            }
        })
        .collect();
    let selector: Vec<String> = obj
        .pointer("/spec/selector")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    vec![
        name,
        json!(kind),
        json!(or_none(text(obj, "/spec/clusterIP"))),
        json!(external),
        json!(or_none(&ports.join(","))),
        age,
        json!(or_none(&selector.join(","))),
    ]
}

/// An Event's cells (the core `v1` form; `events.k8s.io` Events are converted first).
fn event_cells(obj: &KubeObject, now: jiff::Timestamp) -> Vec<Value> {
    let core = if obj.group_version().group == "events.k8s.io" {
        csdr_core::convert::convert(obj.clone(), &GroupVersion::new("", "v1"))
            .unwrap_or_else(|_| obj.clone())
    } else {
        obj.clone()
    };
    let obj = &core;
    let present = |p: &str| !text(obj, p).is_empty();
    let first = if present("/firstTimestamp") {
        since(obj.pointer("/firstTimestamp"), now)
    } else {
        since(obj.pointer("/eventTime"), now)
    };
    let mut last = if present("/lastTimestamp") {
        since(obj.pointer("/lastTimestamp"), now)
    } else {
        first.clone()
    };
    let mut count = obj.pointer("/count").and_then(Value::as_i64).unwrap_or(0);
    if obj.pointer("/series").is_some_and(|s| !s.is_null()) {
        last = since(obj.pointer("/series/lastObservedTime"), now);
        count = obj
            .pointer("/series/count")
            .and_then(Value::as_i64)
            .unwrap_or(0);
    } else if count == 0 {
        count = 1;
    }
    let kind = text(obj, "/involvedObject/kind").to_lowercase();
    let target = match text(obj, "/involvedObject/name") {
        "" => kind,
        n => format!("{kind}/{n}"),
    };
    let first_of = |a: &str, b: &str| {
        if text(obj, a).is_empty() {
            text(obj, b).to_string()
        } else {
            text(obj, a).to_string()
        }
    };
    let component = first_of("/source/component", "/reportingComponent");
    let instance = first_of("/source/host", "/reportingInstance");
    let source = if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    };
    vec![
        json!(last),
        json!(text(obj, "/type")),
        json!(text(obj, "/reason")),
        json!(target),
        json!(text(obj, "/involvedObject/fieldPath")),
        json!(source),
        json!(text(obj, "/message").trim()),
        json!(first),
        json!(count),
        json!(obj.name()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_as_kubernetes_writes_them() {
        for (s, want) in [
            (-5, "<invalid>"),
            (-1, "0s"),
            (59, "59s"),
            (119, "119s"),
            (125, "2m5s"),
            (600, "10m"),
            (3 * 3600 + 5 * 60, "3h5m"),
            (10 * 3600, "10h"),
            (3 * 86400 + 3600, "3d1h"),
            (30 * 86400, "30d"),
            (800 * 86400, "2y70d"),
        ] {
            assert_eq!(human_duration(s), want, "{s}");
        }
    }

    #[test]
    fn json_paths_with_indexes_and_filters() {
        let v = json!({"status": {"phase": "Ready", "conditions": [
            {"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}]}});
        assert_eq!(json_path(&v, ".status.phase"), Some(&json!("Ready")));
        assert_eq!(
            json_path(&v, ".status.conditions[?(@.type==\"Ready\")].status"),
            Some(&json!("True"))
        );
        assert_eq!(
            json_path(&v, "{.status.conditions[0].type}"),
            Some(&json!("Synced"))
        );
        assert_eq!(
            json_path(&v, ".status.conditions[-1].type"),
            Some(&json!("Ready"))
        );
        assert_eq!(json_path(&v, ".status.missing"), None);
    }

    #[test]
    fn accept_headers_asking_for_tables() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(
            TableRequest::from_accept(kubectl, None).unwrap().version,
            "v1"
        );
        let old = "application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json";
        let req = TableRequest::from_accept(old, Some("Object")).unwrap();
        assert_eq!((req.version, req.include.as_str()), ("v1beta1", "Object"));
        assert_eq!(TableRequest::from_accept("application/json", None), None);
        assert_eq!(
            TableRequest::from_accept(
                "application/json, application/json;as=Table;v=v1;g=meta.k8s.io",
                None
            ),
            None
        );
    }
}
