//! What a create step creates: the final object itself, or, in a plan that keeps its final
//! objects in a spool (R13), what names it and where it waits.
//!
//! A spooled step names its object in one small allocation (`apiVersion`, `kind`, namespace
//! and name) instead of a JSON tree of them, so a plan of a million objects holds a million
//! short strings, not a million maps. Reading what only a whole object has
//! ([`StepObject::whole`]) is explicit: a spooled object is read back from the spool when it is
//! applied.
//!
//! ```
//! use csdr_core::object::KubeObject;
//! use csdr_core::plan::StepObject;
//! use csdr_core::plan::contents::EntrySpan;
//! use serde_json::json;
//!
//! let map = KubeObject::new(json!({"apiVersion": "v1", "kind": "ConfigMap",
//!     "metadata": {"name": "settings", "namespace": "shop"}, "data": {"a": "1"}}))?;
//! let spooled = StepObject::spooled(&map, EntrySpan { offset: 0, len: 80 });
//! assert_eq!(spooled.describe(), "ConfigMap shop/settings");
//! assert_eq!(spooled.api_version(), "v1");
//! assert!(spooled.whole().is_none());
//! assert_eq!(StepObject::Whole(map).whole().and_then(|m| m.pointer("/data/a")), Some(&json!("1")));
//! # Ok::<(), csdr_core::object::ObjectError>(())
//! ```

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::json;

use super::contents::EntrySpan;
use crate::model::ObjectRef;
use crate::object::{GroupVersion, KubeObject};

/// What a create step creates: the final object itself, or, in a plan that keeps its final
/// objects in a spool (R13), what names it (one short string) and where it waits; what only a
/// whole object has is read through [`StepObject::whole`].
#[derive(Clone, Debug, PartialEq)]
pub enum StepObject {
    /// The final object, converted and transformed.
    Whole(KubeObject),
    /// A final object that waits in the plan's spool until it is applied (a plan made by
    /// [`super::plan_restore_spooled`]).
    Spooled(SpooledObject),
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
    fn parts(&self) -> (&str, &str, &str, &str) {
        let mut parts = self.names.splitn(4, SEPARATOR);
        let mut next = || parts.next().unwrap_or("");
        (next(), next(), next(), next())
    }
}

impl StepObject {
    /// `object` as a spooled step names it, its JSON text at `at` in the plan's spool.
    pub fn spooled(object: &KubeObject, at: EntrySpan) -> Self {
        let mut names = String::with_capacity(
            object.api_version().len()
                + object.kind().len()
                + object.namespace().map_or(0, str::len)
                + object.name().len()
                + 3,
        );
        for (i, part) in [
            object.api_version(),
            object.kind(),
            object.namespace().unwrap_or(""),
            object.name(),
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                names.push(SEPARATOR);
            }
            names.push_str(part);
        }
        StepObject::Spooled(SpooledObject {
            names: names.into_boxed_str(),
            at,
        })
    }

    /// The whole final object; `None` when it waits in the spool.
    pub fn whole(&self) -> Option<&KubeObject> {
        match self {
            StepObject::Whole(object) => Some(object),
            StepObject::Spooled(_) => None,
        }
    }

    /// Where the final object is in the plan's spool, when it waits there.
    pub fn spooled_at(&self) -> Option<EntrySpan> {
        match self {
            StepObject::Whole(_) => None,
            StepObject::Spooled(s) => Some(s.at),
        }
    }

    /// The `apiVersion`, e.g. `apps/v1`.
    pub fn api_version(&self) -> &str {
        match self {
            StepObject::Whole(o) => o.api_version(),
            StepObject::Spooled(s) => s.parts().0,
        }
    }

    /// The `kind`, e.g. `Deployment`.
    pub fn kind(&self) -> &str {
        match self {
            StepObject::Whole(o) => o.kind(),
            StepObject::Spooled(s) => s.parts().1,
        }
    }

    /// The namespace; `None` when cluster-scoped.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            StepObject::Whole(o) => o.namespace(),
            StepObject::Spooled(s) => Some(s.parts().2).filter(|ns| !ns.is_empty()),
        }
    }

    /// The name.
    pub fn name(&self) -> &str {
        match self {
            StepObject::Whole(o) => o.name(),
            StepObject::Spooled(s) => s.parts().3,
        }
    }

    /// `Kind namespace/name`, or `Kind name` when cluster-scoped (as
    /// [`KubeObject::describe`]).
    pub fn describe(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{} {}/{}", self.kind(), ns, self.name()),
            None => format!("{} {}", self.kind(), self.name()),
        }
    }

    /// The claims the object's pod spec mounts ([`KubeObject::mounted_claims`]); none for a
    /// spooled object (a plan keeps the objects that mount claims whole).
    pub fn mounted_claims(&self) -> Vec<&str> {
        self.whole()
            .map(KubeObject::mounted_claims)
            .unwrap_or_default()
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

/// Serialized as the object, or for a spooled one as what names it (`apiVersion`, `kind`,
/// `metadata.name` and `metadata.namespace`).
impl Serialize for StepObject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            StepObject::Whole(object) => object.serialize(serializer),
            StepObject::Spooled(_) => {
                let mut metadata = json!({"name": self.name()});
                if let Some(ns) = self.namespace() {
                    metadata["namespace"] = json!(ns);
                }
                json!({"apiVersion": self.api_version(), "kind": self.kind(), "metadata": metadata})
                    .serialize(serializer)
            }
        }
    }
}

/// Read back as a whole object.
impl<'de> Deserialize<'de> for StepObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        KubeObject::deserialize(deserializer).map(StepObject::Whole)
    }
}

impl From<KubeObject> for StepObject {
    fn from(object: KubeObject) -> Self {
        StepObject::Whole(object)
    }
}
