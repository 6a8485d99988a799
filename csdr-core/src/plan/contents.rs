//! The backup contents index: every object a backup holds, at every version it was captured
//! at, keyed by canonical resource, namespace and name.
//!
//! The archive lists one entry per object *per version directory* (V4):
//! `resources/<resource>[.<group>]/<version>[-preferredversion]/…` and the plain path that
//! holds the preferred version. [`BackupContents`] folds those entries back into objects:
//!
//! - resources are keyed by their canonical group ([`canonical_group`]): `deployments.extensions`
//!   and `deployments.apps` are one resource, `ingresses.extensions` and
//!   `ingresses.networking.k8s.io` too — so an Ingress that Velero stored under both groups (V4b)
//!   is one object, restored once;
//! - each object keeps every backed-up version (`BTreeMap<GroupVersion, KubeObject>`);
//! - the source's preferred version is recorded per resource, from the `-preferredversion`
//!   directories and the plain path. When two groups of a cohabiting pair both claim it (Velero's
//!   double Ingress), the canonical group's claim wins, then the higher-priority version — so
//!   the index does not depend on the order entries are read.
//!
//! ```
//! use csdr_core::object::{GroupVersion, KubeObject};
//! use csdr_core::plan::contents::BackupContents;
//! use serde_json::json;
//!
//! let ingress = |api: &str| KubeObject::new(json!({"apiVersion": api, "kind": "Ingress",
//!     "metadata": {"name": "shop", "namespace": "web"}})).unwrap();
//! let mut contents = BackupContents::new();
//! contents.add("ingresses.extensions", "v1beta1", true, ingress("extensions/v1beta1"))?;
//! contents.add("ingresses.networking.k8s.io", "v1beta1", true, ingress("networking.k8s.io/v1beta1"))?;
//!
//! let resource = contents.resource("networking.k8s.io", "ingresses").unwrap();
//! assert_eq!(resource.objects().count(), 1);
//! assert_eq!(resource.preferred(), Some(&GroupVersion::new("networking.k8s.io", "v1beta1")));
//! # Ok::<(), csdr_core::plan::contents::ContentsError>(())
//! ```

mod table;

use std::collections::{BTreeMap, BTreeSet};

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::ObjectRef;

use crate::ports::spool::SpoolFile;
use table::SortedTable;

use super::ObjectName;

use crate::object::{GroupVersion, KubeObject, group_resource};
use crate::resources::canonical_group;
use crate::transform::{BackupFacts, PersistentVolumeFacts, StorageClassFacts};
use crate::version_priority::compare_priority;

/// Why an archive entry cannot be added to the index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContentsError {
    /// The resource directory is not `<plural>` or `<plural>.<group>`.
    #[error(
        "backup entry {object}: resource directory {dir:?} is not `<plural>` or \
         `<plural>.<group>`; the backup archive is damaged, take a new backup"
    )]
    BadResourceDir {
        /// The directory as given.
        dir: String,
        /// The object, `Kind namespace/name`.
        object: String,
    },
    /// The object's `apiVersion` is not the version its directory says.
    #[error(
        "backup entry {object} under {dir}: field apiVersion is {found:?} but the directory \
         holds {expected}; the backup archive is damaged, take a new backup"
    )]
    VersionMismatch {
        /// The resource directory.
        dir: String,
        /// The object, `Kind namespace/name`.
        object: String,
        /// `apiVersion` as the directory implies it.
        expected: String,
        /// `apiVersion` as the object has it.
        found: String,
    },
    /// The object's namespace or name is not the one its path says.
    #[error(
        "backup entry {dir}/{path}: the object inside is {object}; the backup archive is \
         damaged, take a new backup"
    )]
    PathMismatch {
        /// The resource directory.
        dir: String,
        /// `namespace/name` or `name` as the path says.
        path: String,
        /// The object, `Kind namespace/name`.
        object: String,
    },
}

/// The item an archive entry's path names.
fn archive_item(path: &crate::archive::ItemPath) -> ArchiveItem<'_> {
    use crate::archive::VersionDir;
    let version = match &path.version_dir {
        VersionDir::Unversioned => EntryVersion::Plain,
        VersionDir::Preferred(v) => EntryVersion::Preferred(v),
        VersionDir::Served(v) => EntryVersion::Served(v),
    };
    ArchiveItem {
        resource: &path.resource,
        group: &path.group,
        version,
        namespace: path.namespace.as_deref(),
        name: &path.name,
    }
}

/// Which version directory an archive entry came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryVersion<'a> {
    /// The plain path (no version directory): the source's preferred version; the version is
    /// the object's own `apiVersion`.
    Plain,
    /// `<version>-preferredversion/`.
    Preferred(&'a str),
    /// `<version>/`: another served version.
    Served(&'a str),
}

/// One archive entry, as the archive reader yields it.
#[derive(Clone, Copy, Debug)]
pub struct ArchiveItem<'a> {
    /// The plural resource, e.g. `deployments`.
    pub resource: &'a str,
    /// The group of the directory; empty for the core group.
    pub group: &'a str,
    /// The version directory.
    pub version: EntryVersion<'a>,
    /// The namespace of the path; `None` under `cluster/`.
    pub namespace: Option<&'a str>,
    /// The name of the path (file name without `.json`).
    pub name: &'a str,
}

/// A canonical resource: its plural and canonical group.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ResourceKey {
    /// The canonical group (`apps` for deployments, also those stored under `extensions`).
    pub group: String,
    /// The plural, e.g. `deployments`.
    pub plural: String,
}

impl ResourceKey {
    /// The canonical key of a resource stored under `group`.
    pub fn canonical(group: &str, plural: &str) -> Self {
        ResourceKey {
            group: canonical_group(group, plural).to_string(),
            plural: plural.to_string(),
        }
    }

    /// `plural.group`, or `plural` for the core group.
    pub fn group_resource(&self) -> String {
        group_resource(&self.plural, &self.group)
    }
}

/// An object's identity inside one resource: namespace (none when cluster-scoped) and name.
///
/// The namespace is shared by every object of the index in it (one allocation per
/// namespace), and most names are held in place ([`ObjectName`], R13).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// The namespace; `None` for cluster-scoped objects.
    pub namespace: Option<Arc<str>>,
    /// The name.
    pub name: ObjectName,
}

impl ObjectKey {
    /// The key of `name` in `namespace`.
    pub fn new(namespace: Option<&str>, name: &str) -> Self {
        ObjectKey {
            namespace: namespace.map(Arc::from),
            name: name.into(),
        }
    }
}

/// One backed-up object at every version the backup captured it at.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BackedUpObject {
    /// The object per version.
    pub versions: ObjectVersions,
}

/// The type of an object at one stored version: its group, version and kind. An index keeps
/// one per resource and version, shared by its objects (R13).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredType {
    /// The group and version.
    pub group_version: GroupVersion,
    /// The kind, as the objects say it.
    pub kind: String,
}

/// What an index holds of an object at one version.
#[derive(Clone, Debug, PartialEq)]
pub enum Held {
    /// The whole object.
    Whole(Box<KubeObject>),
    /// What selecting it reads (R1), and where its JSON text is in the index's spool: a
    /// spooled index ([`BackupContents::add_spooled_entry`]) holds this for every object of a
    /// resource it does not keep whole ([`kept_whole`]).
    Head(Head),
}

impl Held {
    /// The whole object; `None` when the index holds its head only (read it with
    /// [`BackupContents::load`]).
    pub fn whole(&self) -> Option<&KubeObject> {
        match self {
            Held::Whole(object) => Some(object),
            Held::Head(_) => None,
        }
    }

    /// The object's labels (a head holds them only when the restore selects by label,
    /// [`HeadLabels::Kept`]).
    pub fn labels(&self) -> Option<&Map<String, Value>> {
        match self {
            Held::Whole(object) => object.labels(),
            Held::Head(head) => head.extra.as_ref().and_then(|e| e.labels.as_ref()),
        }
    }

    /// Whether the object is the mirror pod of a static pod (annotation
    /// `kubernetes.io/config.mirror`).
    pub fn is_mirror_pod(&self) -> bool {
        match self {
            Held::Whole(object) => object.annotation(super::MIRROR_POD_ANNOTATION).is_some(),
            Held::Head(head) => head.extra.as_ref().is_some_and(|e| e.mirror),
        }
    }
}

/// An object a spooled index holds as its head: where its JSON text is, and the little R1's
/// filters read besides its type and key (labels, kept only for a label selector; whether it
/// is a mirror pod). Most heads are 24 bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Head {
    /// Where the object's JSON text is in the index's spool.
    pub span: EntrySpan,
    extra: Option<Box<HeadExtra>>,
}

#[derive(Clone, Debug, PartialEq)]
struct HeadExtra {
    labels: Option<Map<String, Value>>,
    mirror: bool,
}

/// One version of an object: its shared type and what the index holds.
#[derive(Clone, Debug, PartialEq)]
struct StoredVersion {
    ty: Arc<StoredType>,
    held: Held,
}

/// An object's versions, ordered by version: most objects are captured at one version,
/// which is held in place (R13: a restore's index holds every object).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObjectVersions(Versions);

#[derive(Clone, Debug, Default, PartialEq)]
enum Versions {
    #[default]
    None,
    One(StoredVersion),
    Many(Vec<StoredVersion>),
}

impl ObjectVersions {
    fn as_slice(&self) -> &[StoredVersion] {
        match &self.0 {
            Versions::None => &[],
            Versions::One(v) => std::slice::from_ref(v),
            Versions::Many(vs) => vs,
        }
    }

    /// Sets the whole object at `version`; returns what it replaces.
    pub fn insert(&mut self, version: GroupVersion, object: KubeObject) -> Option<Held> {
        let ty = Arc::new(StoredType {
            group_version: version,
            kind: object.kind().to_string(),
        });
        self.insert_held(ty, Held::Whole(Box::new(object)))
    }

    fn insert_held(&mut self, ty: Arc<StoredType>, held: Held) -> Option<Held> {
        let version = &ty.group_version;
        match self
            .as_slice()
            .binary_search_by(|v| v.ty.group_version.cmp(version))
        {
            Ok(i) => {
                let slot = match &mut self.0 {
                    Versions::One(v) => v,
                    Versions::Many(vs) => &mut vs[i],
                    Versions::None => return None,
                };
                slot.ty = ty;
                Some(std::mem::replace(&mut slot.held, held))
            }
            Err(i) => {
                let new = StoredVersion { ty, held };
                self.0 = match std::mem::take(&mut self.0) {
                    Versions::None => Versions::One(new),
                    Versions::One(old) => {
                        let mut vs = Vec::with_capacity(2);
                        vs.push(old);
                        vs.insert(i, new);
                        Versions::Many(vs)
                    }
                    Versions::Many(mut vs) => {
                        vs.reserve_exact(1);
                        vs.insert(i, new);
                        Versions::Many(vs)
                    }
                };
                None
            }
        }
    }

    /// What the index holds at `version` (the whole object, or its [`Head`]).
    pub fn get(&self, version: &GroupVersion) -> Option<&Held> {
        self.find(version).map(|v| &v.held)
    }

    fn find(&self, version: &GroupVersion) -> Option<&StoredVersion> {
        let versions = self.as_slice();
        versions
            .binary_search_by(|v| v.ty.group_version.cmp(version))
            .ok()
            .map(|i| &versions[i])
    }

    /// Whether the object was captured at `version`.
    pub fn contains_key(&self, version: &GroupVersion) -> bool {
        self.find(version).is_some()
    }

    /// The versions, in order.
    pub fn keys(&self) -> impl Iterator<Item = &GroupVersion> {
        self.as_slice().iter().map(|v| &v.ty.group_version)
    }

    /// Version and what the index holds, in version order.
    pub fn iter(&self) -> impl Iterator<Item = (&GroupVersion, &Held)> {
        self.as_slice()
            .iter()
            .map(|v| (&v.ty.group_version, &v.held))
    }

    /// How many versions.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }
}

/// A backed-up object at its representative version, as the index holds it: its key, its
/// type and the whole object or its head. What R1's filters and the plan's reports read.
#[derive(Clone, Copy, Debug)]
pub struct ObjectHead<'a> {
    key: &'a ObjectKey,
    ty: &'a StoredType,
    held: &'a Held,
}

impl<'a> ObjectHead<'a> {
    /// The name.
    pub fn name(&self) -> &'a str {
        &self.key.name
    }

    /// The namespace; `None` when cluster-scoped.
    pub fn namespace(&self) -> Option<&'a str> {
        self.key.namespace.as_deref()
    }

    /// The kind.
    pub fn kind(&self) -> &'a str {
        &self.ty.kind
    }

    /// The group and version it is held at.
    pub fn group_version(&self) -> &'a GroupVersion {
        &self.ty.group_version
    }

    /// What the index holds: the whole object or its head.
    pub fn held(&self) -> &'a Held {
        self.held
    }

    /// The whole object, when the index holds it.
    pub fn whole(&self) -> Option<&'a KubeObject> {
        self.held.whole()
    }

    /// The reference to the object, for reports.
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef {
            group: self.ty.group_version.group.clone(),
            version: self.ty.group_version.version.clone(),
            kind: self.ty.kind.clone(),
            namespace: self.key.namespace.as_deref().map(String::from),
            name: self.key.name.to_string(),
        }
    }
}

/// Where one archive entry's object is in a spooled index's spool: its JSON text at
/// `offset`, `len` bytes long (R13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntrySpan {
    /// The first byte.
    pub offset: u64,
    /// How many bytes (an entry is at most `ReadLimits::max_entry_size`, 16 MiB by default).
    pub len: u32,
}

/// The resources a spooled index keeps whole, because planning reads their fields (related
/// volumes and classes, CRDs' served versions, volume facts, Namespaces): few objects in any
/// backup. Every other object is kept as its [`Head`].
const KEPT_WHOLE: [(&str, &str); 5] = [
    ("", "namespaces"),
    ("", "persistentvolumes"),
    ("", "persistentvolumeclaims"),
    ("storage.k8s.io", "storageclasses"),
    ("apiextensions.k8s.io", "customresourcedefinitions"),
];

/// Whether a spooled index keeps the objects of this (canonical) resource whole.
pub fn kept_whole(key: &ResourceKey) -> bool {
    KEPT_WHOLE
        .iter()
        .any(|(g, p)| *g == key.group && *p == key.plural)
}

/// Whether the heads of a spooled index keep the objects' labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadLabels {
    /// Kept: the restore selects objects by label.
    Kept,
    /// Left out: nothing reads them before the object is planned from its whole text.
    Dropped,
}

/// The head of `object` at `span`: what R1's filters read besides its type and key.
fn head_of(object: &KubeObject, span: EntrySpan, labels: HeadLabels) -> Head {
    let labels = match labels {
        HeadLabels::Kept => object.labels().filter(|l| !l.is_empty()).cloned(),
        HeadLabels::Dropped => None,
    };
    let mirror = object.annotation(super::MIRROR_POD_ANNOTATION).is_some();
    let extra = (labels.is_some() || mirror).then(|| Box::new(HeadExtra { labels, mirror }));
    Head { span, extra }
}

/// Writes `object`'s JSON text at the end of `spool`; returns where it is.
///
/// # Errors
/// The spool's error.
pub fn write_spooled(spool: &mut dyn SpoolFile, object: &KubeObject) -> std::io::Result<EntrySpan> {
    let text = serde_json::to_vec(object).map_err(std::io::Error::other)?;
    let span = EntrySpan {
        offset: spool.len(),
        len: u32::try_from(text.len()).map_err(std::io::Error::other)?,
    };
    spool.append(&text)?;
    Ok(span)
}

/// Reads back the object [`write_spooled`] wrote at `span`.
///
/// # Errors
/// Why it cannot be read or parsed.
pub fn read_spooled(spool: &dyn SpoolFile, span: EntrySpan) -> Result<KubeObject, String> {
    let bytes = read_spooled_text(spool, span)?;
    serde_json::from_slice::<Value>(&bytes)
        .map_err(|e| e.to_string())
        .and_then(|v| KubeObject::new(v).map_err(|e| e.to_string()))
}

/// The JSON text [`write_spooled`] wrote at `span`, unparsed.
///
/// # Errors
/// Why it cannot be read.
pub fn read_spooled_text(spool: &dyn SpoolFile, span: EntrySpan) -> Result<Vec<u8>, String> {
    let mut bytes = vec![0; span.len as usize];
    let mut at = 0;
    while at < bytes.len() {
        match spool.read_at(span.offset + at as u64, &mut bytes[at..]) {
            Ok(0) => return Err("the entry is cut short".into()),
            Ok(n) => at += n,
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(bytes)
}

/// The spool a spooled index reads whole objects from.
#[derive(Clone)]
struct EntrySpool(Arc<dyn SpoolFile>);

impl std::fmt::Debug for EntrySpool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EntrySpool({} bytes)", self.0.len())
    }
}

impl PartialEq for EntrySpool {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl BackedUpObject {
    /// What the index holds of the object at the given version if captured there, else at
    /// its highest-priority version (the canonical group winning ties). `None` only for an
    /// empty entry.
    pub fn representative(&self, preferred: Option<&GroupVersion>) -> Option<&Held> {
        self.representative_version(preferred)
            .and_then(|v| self.versions.get(v))
    }

    /// The object as [`Self::representative`] picks it, with its key and type.
    pub fn head<'a>(
        &'a self,
        key: &'a ObjectKey,
        preferred: Option<&GroupVersion>,
    ) -> Option<ObjectHead<'a>> {
        let version = self.representative_version(preferred)?;
        let stored = self.versions.find(version)?;
        Some(ObjectHead {
            key,
            ty: &stored.ty,
            held: &stored.held,
        })
    }

    /// The version [`Self::representative`] picks; with [`BackupContents::load`] it reads the
    /// whole object from a spooled index.
    pub fn representative_version(
        &self,
        preferred: Option<&GroupVersion>,
    ) -> Option<&GroupVersion> {
        if let Some(p) = preferred.filter(|p| self.versions.contains_key(p)) {
            return self.versions.keys().find(|v| *v == p);
        }
        self.versions.keys().max_by(|a, b| {
            compare_priority(&a.version, &b.version).then_with(|| b.group.cmp(&a.group))
        })
    }
}

/// Everything the backup holds for one canonical resource.
#[derive(Clone, Debug, Default)]
pub struct ResourceContents {
    groups: BTreeSet<String>,
    preferred: Option<GroupVersion>,
    /// The types its objects are stored at, shared by them.
    types: Vec<Arc<StoredType>>,
    objects: SortedTable<ObjectKey, BackedUpObject>,
}

/// Equal when they hold the same objects, whatever order the shared types were met in.
impl PartialEq for ResourceContents {
    fn eq(&self, other: &Self) -> bool {
        self.groups == other.groups
            && self.preferred == other.preferred
            && self.objects == other.objects
    }
}

impl ResourceContents {
    /// The groups the resource was stored under (one, or both of a cohabiting pair).
    pub fn stored_groups(&self) -> impl Iterator<Item = &str> {
        self.groups.iter().map(String::as_str)
    }

    /// The source's preferred version, if any entry said so.
    pub fn preferred(&self) -> Option<&GroupVersion> {
        self.preferred.as_ref()
    }

    /// Every object, ordered by namespace then name.
    pub fn objects(&self) -> impl Iterator<Item = (&ObjectKey, &BackedUpObject)> {
        self.objects.iter()
    }

    /// Every object at its representative version, ordered by namespace then name.
    pub fn heads(&self) -> impl Iterator<Item = ObjectHead<'_>> {
        self.objects
            .iter()
            .filter_map(|(key, o)| o.head(key, self.preferred()))
    }

    /// The whole objects at their representative versions (those the index holds whole),
    /// ordered by namespace then name.
    pub fn whole_objects(&self) -> impl Iterator<Item = (&ObjectKey, &KubeObject)> {
        self.objects.iter().filter_map(|(key, o)| {
            o.representative(self.preferred())
                .and_then(Held::whole)
                .map(|w| (key, w))
        })
    }

    /// The kind of its objects (of the first, at its representative version).
    pub fn kind(&self) -> Option<&str> {
        self.heads().next().map(|h| h.kind())
    }

    /// How many objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether it holds no object.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The backed-up object `key`, if the backup holds it.
    pub fn get(&self, key: &ObjectKey) -> Option<&BackedUpObject> {
        self.objects.get(key)
    }

    /// Every version any object of the resource was captured at.
    pub fn versions(&self) -> BTreeSet<&GroupVersion> {
        self.objects
            .iter()
            .flat_map(|(_, o)| o.versions.keys())
            .collect()
    }

    /// The shared type `group/version` and `kind`.
    fn stored_type(&mut self, group: &str, version: &str, kind: &str) -> Arc<StoredType> {
        if let Some(ty) = self.types.iter().find(|t| {
            t.group_version.group == group && t.group_version.version == version && t.kind == kind
        }) {
            return Arc::clone(ty);
        }
        let ty = Arc::new(StoredType {
            group_version: GroupVersion::new(group, version),
            kind: kind.to_string(),
        });
        self.types.push(Arc::clone(&ty));
        ty
    }

    fn claim_preferred(&mut self, canonical: &str, gv: &GroupVersion) {
        if self.preferred.as_ref() == Some(gv) {
            return;
        }
        let better = match &self.preferred {
            None => true,
            Some(current) => {
                let in_canonical = |g: &GroupVersion| g.group == canonical;
                in_canonical(gv)
                    .cmp(&in_canonical(current))
                    .then_with(|| compare_priority(&gv.version, &current.version))
                    .then_with(|| current.group.cmp(&gv.group))
                    .then_with(|| current.version.cmp(&gv.version))
                    .is_gt()
            }
        };
        if better {
            self.preferred = Some(gv.clone());
        }
    }
}

/// The index of a backup's objects: see the [module documentation](self).
#[derive(Clone, Debug, Default)]
pub struct BackupContents {
    resources: BTreeMap<ResourceKey, ResourceContents>,
    /// The namespaces of its objects, each held once.
    namespaces: BTreeSet<Arc<str>>,
    /// Where the objects of a spooled index are (R13).
    spool: Option<EntrySpool>,
    /// The group and plural of the last entry's directory, and their canonical key.
    last_resource: (String, String, ResourceKey),
}

/// Whether `plural` and `group` make a resource directory `<plural>[.<group>]` that
/// [`split_resource_dir`] splits back into them.
fn valid_resource_dir(plural: &str, group: &str) -> bool {
    !plural.is_empty()
        && !plural.contains(['/', '.'])
        && !group.contains('/')
        && (group.is_empty() || !group.starts_with('.') && !group.ends_with('.'))
}

/// Equal when they index the same objects, whatever order they were added in.
impl PartialEq for BackupContents {
    fn eq(&self, other: &Self) -> bool {
        self.resources == other.resources
            && self.namespaces == other.namespaces
            && self.spool == other.spool
    }
}

/// Splits `deployments.apps` into (`deployments`, `apps`), `pods` into (`pods`, ``).
fn split_resource_dir(dir: &str) -> Option<(&str, &str)> {
    let (plural, group) = dir.split_once('.').unwrap_or((dir, ""));
    let valid = !plural.is_empty()
        && !plural.contains('/')
        && !group.contains('/')
        && (group.is_empty() || !group.starts_with('.') && !group.ends_with('.'));
    valid.then_some((plural, group))
}

impl BackupContents {
    /// An empty index.
    pub fn new() -> Self {
        BackupContents::default()
    }

    /// Adds the object found under `resources/<resource_dir>/<version>[-preferredversion]/…`;
    /// `resource_dir` is `<plural>` or `<plural>.<group>` (`deployments.apps`, `pods`,
    /// `ingresses.extensions`). The namespace and name are the object's.
    ///
    /// # Errors
    /// A malformed `resource_dir`, or an object whose `apiVersion` is not `<group>/<version>`.
    pub fn add(
        &mut self,
        resource_dir: &str,
        version: &str,
        preferred: bool,
        object: KubeObject,
    ) -> Result<(), ContentsError> {
        let entry = if preferred {
            EntryVersion::Preferred(version)
        } else {
            EntryVersion::Served(version)
        };
        self.add_dir_entry(resource_dir, entry, object)
    }

    /// Adds the object found at the plain path `resources/<resource_dir>/namespaces/<ns>/…`
    /// (or `…/cluster/…`): the source's preferred version, at the object's own `apiVersion`.
    ///
    /// # Errors
    /// As [`BackupContents::add`].
    pub fn add_plain(
        &mut self,
        resource_dir: &str,
        object: KubeObject,
    ) -> Result<(), ContentsError> {
        self.add_dir_entry(resource_dir, EntryVersion::Plain, object)
    }

    fn add_dir_entry(
        &mut self,
        resource_dir: &str,
        version: EntryVersion<'_>,
        object: KubeObject,
    ) -> Result<(), ContentsError> {
        let Some((resource, group)) = split_resource_dir(resource_dir) else {
            return Err(ContentsError::BadResourceDir {
                dir: resource_dir.to_string(),
                object: object.describe(),
            });
        };
        let namespace = object.namespace().map(str::to_string);
        let name = object.name().to_string();
        let item = ArchiveItem {
            resource,
            group,
            version,
            namespace: namespace.as_deref(),
            name: &name,
        };
        self.add_item(item, object)
    }

    /// Adds one entry read by [`crate::archive::ArchiveReader`].
    ///
    /// # Errors
    /// As [`BackupContents::add_item`].
    pub fn add_entry(
        &mut self,
        path: &crate::archive::ItemPath,
        object: KubeObject,
    ) -> Result<(), ContentsError> {
        self.add_item(archive_item(path), object)
    }

    /// Makes this a spooled index (R13): objects added with
    /// [`BackupContents::add_spooled_entry`] are read whole from `spool` when they are planned
    /// ([`BackupContents::load`]).
    pub fn attach_spool(&mut self, spool: Arc<dyn SpoolFile>) {
        self.spool = Some(EntrySpool(spool));
    }

    /// Adds one entry read by [`crate::archive::ArchiveReader`] to a spooled index: `object`
    /// is checked against its path as [`BackupContents::add_entry`] does, then kept whole
    /// (the resources of [`kept_whole`]) or as its [`Head`], with `span`, where the caller
    /// wrote the object's JSON text in the spool it then attaches
    /// ([`BackupContents::attach_spool`]). A head keeps the object's labels only with
    /// [`HeadLabels::Kept`]: a restore without a label selector reads none.
    ///
    /// # Errors
    /// As [`BackupContents::add_item`].
    pub fn add_spooled_entry(
        &mut self,
        path: &crate::archive::ItemPath,
        object: KubeObject,
        span: EntrySpan,
        labels: HeadLabels,
    ) -> Result<(), ContentsError> {
        let key = ResourceKey::canonical(&path.group, &path.resource);
        let spooled = (!kept_whole(&key)).then_some((span, labels));
        self.add_item_at(archive_item(path), object, spooled)
    }

    /// The whole object `object` holds at `version`: read from the spool when the index keeps
    /// its head only. `None` when it was not captured at `version`.
    ///
    /// # Errors
    /// A message naming the object when its entry cannot be read back from the spool.
    pub fn load(
        &self,
        object: &BackedUpObject,
        version: &GroupVersion,
    ) -> Option<Result<KubeObject, String>> {
        let stored = object.versions.find(version)?;
        let head = match &stored.held {
            Held::Whole(whole) => return Some(Ok(KubeObject::clone(whole))),
            Held::Head(head) => head,
        };
        let fail = |reason: String| {
            format!(
                "reading its backed-up {} at {} back from the restore's temporary storage \
                 failed: {reason}; free space where temporary files go and run the restore again",
                stored.ty.kind,
                version.api_version()
            )
        };
        let Some(spool) = &self.spool else {
            return Some(Err(fail("the index has no spool".into())));
        };
        Some(read_spooled(&*spool.0, head.span).map_err(fail))
    }

    /// Adds one archive entry as the archive reader yields it: the path's parts and the
    /// object. The path's namespace and name must be the object's, and a versioned directory's
    /// version the object's `apiVersion`.
    ///
    /// # Errors
    /// [`ContentsError`] naming the entry when path and object disagree.
    pub fn add_item(
        &mut self,
        item: ArchiveItem<'_>,
        object: KubeObject,
    ) -> Result<(), ContentsError> {
        self.add_item_at(item, object, None)
    }

    fn add_item_at(
        &mut self,
        item: ArchiveItem<'_>,
        object: KubeObject,
        spooled: Option<(EntrySpan, HeadLabels)>,
    ) -> Result<(), ContentsError> {
        // Checked without building strings: an index of a million objects adds two million
        // entries (R13); the directory is spelled out only in an error.
        let dir = || group_resource(item.resource, item.group);
        if !valid_resource_dir(item.resource, item.group) {
            return Err(ContentsError::BadResourceDir {
                dir: dir(),
                object: object.describe(),
            });
        }
        if item.namespace != object.namespace() || item.name != object.name() {
            let path = match item.namespace {
                Some(ns) => format!("{ns}/{}", item.name),
                None => item.name.to_string(),
            };
            return Err(ContentsError::PathMismatch {
                dir: dir(),
                path,
                object: object.describe(),
            });
        }
        let (object_group, object_version) = match object.api_version().split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", object.api_version()),
        };
        let version = match item.version {
            EntryVersion::Plain => object_version,
            EntryVersion::Preferred(v) | EntryVersion::Served(v) => v,
        };
        if object_group != item.group || object_version != version {
            return Err(ContentsError::VersionMismatch {
                dir: dir(),
                object: object.describe(),
                expected: GroupVersion::new(item.group, version).api_version(),
                found: object.api_version().to_string(),
            });
        }
        let namespace = item.namespace.map(|ns| match self.namespaces.get(ns) {
            Some(shared) => Arc::clone(shared),
            None => {
                let shared: Arc<str> = Arc::from(ns);
                self.namespaces.insert(Arc::clone(&shared));
                shared
            }
        });
        // An archive lists a resource's entries together: its canonical key is found once.
        let last = &mut self.last_resource;
        if last.0 != item.group || last.1 != item.resource {
            *last = (
                item.group.to_string(),
                item.resource.to_string(),
                ResourceKey::canonical(item.group, item.resource),
            );
        }
        let key = &self.last_resource.2;
        let contents = self.resources.entry(key.clone()).or_default();
        if !contents.groups.contains(item.group) {
            contents.groups.insert(item.group.to_string());
        }
        let ty = contents.stored_type(item.group, version, object.kind());
        if !matches!(item.version, EntryVersion::Served(_)) {
            contents.claim_preferred(&key.group, &ty.group_version);
        }
        let held = match spooled {
            Some((span, labels)) => Held::Head(head_of(&object, span, labels)),
            None => {
                let mut object = object;
                object.shrink_to_fit();
                Held::Whole(Box::new(object))
            }
        };
        let object_key = ObjectKey {
            namespace,
            name: ObjectName::from(item.name),
        };
        contents
            .objects
            .entry(object_key)
            .versions
            .insert_held(ty, held);
        Ok(())
    }

    /// Every resource, ordered by canonical group then plural.
    pub fn resources(&self) -> impl Iterator<Item = (&ResourceKey, &ResourceContents)> {
        self.resources.iter()
    }

    /// A resource by (any of its) group and plural.
    pub fn resource(&self, group: &str, plural: &str) -> Option<&ResourceContents> {
        self.resources.get(&ResourceKey::canonical(group, plural))
    }

    /// A resource by its canonical key.
    pub(crate) fn resource_by_key(&self, key: &ResourceKey) -> Option<&ResourceContents> {
        self.resources.get(key)
    }

    /// Takes the objects of one resource out of the index (the resource stays, with its
    /// preferred version), to be planned one at a time and dropped (R13).
    pub(crate) fn take_objects(&mut self, key: &ResourceKey) -> Vec<(ObjectKey, BackedUpObject)> {
        self.resources
            .get_mut(key)
            .map(|r| r.objects.take())
            .unwrap_or_default()
    }

    /// The number of objects (each counted once, whatever its versions).
    pub fn object_count(&self) -> usize {
        self.resources.values().map(|r| r.objects.len()).sum()
    }

    /// The StorageClasses and PersistentVolumes the backup holds, as the transformations need
    /// them (`snapshotted_pvcs` is left empty: volume snapshots are not in the archive).
    pub fn backup_facts(&self, backup_name: &str) -> BackupFacts {
        let at_preferred = |group: &str, plural: &str| -> Vec<&KubeObject> {
            self.resource(group, plural)
                .map(|r| r.whole_objects().map(|(_, o)| o).collect())
                .unwrap_or_default()
        };
        let text = |o: &KubeObject, p: &str| o.pointer(p).and_then(Value::as_str).map(String::from);
        let storage_classes = at_preferred("storage.k8s.io", "storageclasses")
            .into_iter()
            .map(|sc| StorageClassFacts {
                name: sc.name().to_string(),
                provisioner: text(sc, "/provisioner").unwrap_or_default(),
                volume_binding_mode: text(sc, "/volumeBindingMode"),
            })
            .collect();
        let persistent_volumes = at_preferred("", "persistentvolumes")
            .into_iter()
            .map(|pv| PersistentVolumeFacts {
                name: pv.name().to_string(),
                reclaim_policy: text(pv, "/spec/persistentVolumeReclaimPolicy")
                    .unwrap_or_else(|| "Retain".into()),
                storage_class: text(pv, "/spec/storageClassName"),
                csi_driver: text(pv, "/spec/csi/driver"),
                flex_driver: text(pv, "/spec/flexVolume/driver"),
                claim: text(pv, "/spec/claimRef/namespace").zip(text(pv, "/spec/claimRef/name")),
            })
            .collect();
        BackupFacts {
            backup_name: backup_name.to_string(),
            storage_classes,
            persistent_volumes,
            snapshotted_pvcs: BTreeSet::new(),
            fs_backed_up_pvcs: BTreeSet::new(),
        }
    }
}
