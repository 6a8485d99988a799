//! Creating an object whose final form waits in a spool until it is applied (R13): a plan made
//! by [`super::plan_restore_spooled`] holds, for most of its objects, only what names the
//! object, where its JSON text is in the plan's spool and where to create it.
//!
//! A spooled step names its object in one small allocation (`apiVersion`, `kind`, namespace
//! and name) instead of a JSON tree, and shares its target resource with the other steps of
//! that resource, so a plan of a million objects holds a million short strings, not a million
//! maps. The apply reads each object back from the spool just before it creates it.
//!
//! ```
//! use std::sync::Arc;
//! use csdr_core::object::{GroupVersionResource, KubeObject};
//! use csdr_core::plan::SpooledObject;
//! use csdr_core::plan::contents::EntrySpan;
//! use serde_json::json;
//!
//! let map = KubeObject::new(json!({"apiVersion": "v1", "kind": "ConfigMap",
//!     "metadata": {"name": "settings", "namespace": "shop"}, "data": {"a": "1"}}))?;
//! let spooled = SpooledObject::new(&map, EntrySpan { offset: 0, len: 80 });
//! assert_eq!(spooled.describe(), "ConfigMap shop/settings");
//! assert_eq!(spooled.api_version(), "v1");
//! assert_eq!(spooled.namespace(), Some("shop"));
//! assert_eq!(spooled.at.len, 80);
//! # Ok::<(), csdr_core::object::ObjectError>(())
//! ```

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::contents::EntrySpan;
use crate::model::ObjectRef;
use crate::object::{GroupVersion, GroupVersionResource, KubeObject};

/// Creating one object whose final form waits in the plan's spool until it is applied: what
/// names it, where its JSON text is and where to create it (R13).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpooledCreate {
    /// What names the object, and where it is in the plan's spool.
    pub object: SpooledObject,
    /// Where to create it: the target group, version and plural, shared by the steps of one
    /// resource.
    pub resource: Arc<GroupVersionResource>,
}

/// What names a final object that waits in a spool, and where it is (R13).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpooledObject {
    /// `apiVersion`, `kind`, namespace (empty when cluster-scoped) and name, separated by
    /// NUL, which none of them can hold.
    names: Box<str>,
    /// Where the object's JSON text is in the plan's spool.
    pub at: EntrySpan,
}

const SEPARATOR: char = '\0';

impl SpooledObject {
    /// `object` as a spooled step names it, its JSON text at `at` in the plan's spool.
    pub fn new(object: &KubeObject, at: EntrySpan) -> Self {
        Self::of_parts(
            object.api_version(),
            object.kind(),
            object.namespace(),
            object.name(),
            at,
        )
    }

    fn of_parts(
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        at: EntrySpan,
    ) -> Self {
        let namespace = namespace.unwrap_or("");
        let mut names = String::with_capacity(
            api_version.len() + kind.len() + namespace.len() + name.len() + 3,
        );
        for (i, part) in [api_version, kind, namespace, name].into_iter().enumerate() {
            if i > 0 {
                names.push(SEPARATOR);
            }
            names.push_str(part);
        }
        SpooledObject {
            names: names.into_boxed_str(),
            at,
        }
    }

    fn parts(&self) -> (&str, &str, &str, &str) {
        let mut parts = self.names.splitn(4, SEPARATOR);
        let mut next = || parts.next().unwrap_or("");
        (next(), next(), next(), next())
    }

    /// The `apiVersion`, e.g. `apps/v1`.
    pub fn api_version(&self) -> &str {
        self.parts().0
    }

    /// The `kind`, e.g. `Deployment`.
    pub fn kind(&self) -> &str {
        self.parts().1
    }

    /// The namespace; `None` when cluster-scoped.
    pub fn namespace(&self) -> Option<&str> {
        Some(self.parts().2).filter(|ns| !ns.is_empty())
    }

    /// The name.
    pub fn name(&self) -> &str {
        self.parts().3
    }

    /// `Kind namespace/name`, or `Kind name` when cluster-scoped (as
    /// [`KubeObject::describe`]).
    pub fn describe(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{} {}/{}", self.kind(), ns, self.name()),
            None => format!("{} {}", self.kind(), self.name()),
        }
    }

    /// The reference a report names the object by.
    pub fn object_ref(&self) -> ObjectRef {
        let gv = GroupVersion::parse(self.api_version());
        ObjectRef {
            group: gv.group,
            version: gv.version,
            kind: self.kind().to_string(),
            namespace: self.namespace().map(str::to_string),
            name: self.name().to_string(),
        }
    }
}

/// How a spooled object is written out: what names it and where it is.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpooledObjectDocument {
    api_version: String,
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    name: String,
    offset: u64,
    len: u32,
}

impl Serialize for SpooledObject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SpooledObjectDocument {
            api_version: self.api_version().to_string(),
            kind: self.kind().to_string(),
            namespace: self.namespace().map(str::to_string),
            name: self.name().to_string(),
            offset: self.at.offset,
            len: self.at.len,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SpooledObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let d = SpooledObjectDocument::deserialize(deserializer)?;
        Ok(SpooledObject::of_parts(
            &d.api_version,
            &d.kind,
            d.namespace.as_deref(),
            &d.name,
            EntrySpan {
                offset: d.offset,
                len: d.len,
            },
        ))
    }
}
