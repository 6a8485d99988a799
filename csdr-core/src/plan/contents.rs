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

use std::collections::{BTreeMap, BTreeSet};

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ports::spool::SpoolFile;

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
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectKey {
    /// The namespace; `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
}

/// One backed-up object at every version the backup captured it at.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BackedUpObject {
    /// The object per version.
    pub versions: ObjectVersions,
}

/// An object's versions, ordered by version: a map that takes no more memory than its
/// entries (most objects are captured at one version; a restore's index holds them all, R13).
///
/// A version read into a spooled index ([`BackupContents::add_spooled_entry`]) holds the object's
/// [`head`] and where its entry is in the spool; the whole object is read from there when it
/// is planned ([`BackupContents::load`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObjectVersions(Vec<(GroupVersion, KubeObject, Option<EntrySpan>)>);

impl ObjectVersions {
    /// Sets the object at `version`; returns the one it replaces.
    pub fn insert(&mut self, version: GroupVersion, object: KubeObject) -> Option<KubeObject> {
        self.insert_at(version, object, None)
    }

    fn insert_at(
        &mut self,
        version: GroupVersion,
        object: KubeObject,
        span: Option<EntrySpan>,
    ) -> Option<KubeObject> {
        match self.0.binary_search_by(|(v, _, _)| v.cmp(&version)) {
            Ok(i) => {
                self.0[i].2 = span;
                Some(std::mem::replace(&mut self.0[i].1, object))
            }
            Err(i) => {
                self.0.reserve_exact(1);
                self.0.insert(i, (version, object, span));
                None
            }
        }
    }

    /// The object at `version` (its [`head`] when the index is spooled and the resource is
    /// not one the planner reads whole).
    pub fn get(&self, version: &GroupVersion) -> Option<&KubeObject> {
        self.position(version).map(|i| &self.0[i].1)
    }

    fn position(&self, version: &GroupVersion) -> Option<usize> {
        self.0.binary_search_by(|(v, _, _)| v.cmp(version)).ok()
    }

    /// Whether the object was captured at `version`.
    pub fn contains_key(&self, version: &GroupVersion) -> bool {
        self.get(version).is_some()
    }

    /// The versions, in order.
    pub fn keys(&self) -> impl Iterator<Item = &GroupVersion> {
        self.0.iter().map(|(v, _, _)| v)
    }

    /// Version and object, in version order.
    pub fn iter(&self) -> impl Iterator<Item = (&GroupVersion, &KubeObject)> {
        self.0.iter().map(|(v, o, _)| (v, o))
    }

    /// How many versions.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
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
/// backup. Every other object is kept as its [`head`].
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

/// What selecting an object reads of it (R1's filters and rules): `apiVersion`, `kind`,
/// name, namespace, labels and the mirror-pod annotation. A spooled index holds this instead
/// of the object.
pub fn head(object: &KubeObject) -> KubeObject {
    head_with(object, true)
}

/// Whether the heads of a spooled index keep the objects' labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadLabels {
    /// Kept: the restore selects objects by label.
    Kept,
    /// Left out: nothing reads them before the object is planned from its whole text.
    Dropped,
}

fn head_with(object: &KubeObject, labels: bool) -> KubeObject {
    let mut meta = serde_json::Map::new();
    meta.insert("name".into(), Value::String(object.name().to_string()));
    if let Some(ns) = object.namespace() {
        meta.insert("namespace".into(), Value::String(ns.to_string()));
    }
    if labels
        && let Some(labels) = object.labels()
        && !labels.is_empty()
    {
        meta.insert("labels".into(), Value::Object(labels.clone()));
    }
    let mirror = super::MIRROR_POD_ANNOTATION;
    if let Some(value) = object.annotation(mirror) {
        let mut annotations = serde_json::Map::new();
        annotations.insert(mirror.into(), Value::String(value.to_string()));
        meta.insert("annotations".into(), Value::Object(annotations));
    }
    let mut map = serde_json::Map::new();
    map.insert(
        "apiVersion".into(),
        Value::String(object.api_version().to_string()),
    );
    map.insert("kind".into(), Value::String(object.kind().to_string()));
    map.insert("metadata".into(), Value::Object(meta));
    let mut head = KubeObject::new(Value::Object(map)).unwrap_or_else(|_| object.clone());
    head.shrink_to_fit();
    head
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
    let mut bytes = vec![0; span.len as usize];
    let mut at = 0;
    while at < bytes.len() {
        match spool.read_at(span.offset + at as u64, &mut bytes[at..]) {
            Ok(0) => return Err("the entry is cut short".into()),
            Ok(n) => at += n,
            Err(e) => return Err(e.to_string()),
        }
    }
    serde_json::from_slice::<Value>(&bytes)
        .map_err(|e| e.to_string())
        .and_then(|v| KubeObject::new(v).map_err(|e| e.to_string()))
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
    /// The object at the given version if captured there, else at its highest-priority
    /// version (the canonical group winning ties). `None` only for an empty entry.
    pub fn representative(&self, preferred: Option<&GroupVersion>) -> Option<&KubeObject> {
        self.representative_version(preferred)
            .and_then(|v| self.versions.get(v))
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
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResourceContents {
    groups: BTreeSet<String>,
    preferred: Option<GroupVersion>,
    objects: BTreeMap<ObjectKey, BackedUpObject>,
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

    /// The backed-up object `key`, if the backup holds it.
    pub fn get(&self, key: &ObjectKey) -> Option<&BackedUpObject> {
        self.objects.get(key)
    }

    /// Every version any object of the resource was captured at.
    pub fn versions(&self) -> BTreeSet<&GroupVersion> {
        self.objects
            .values()
            .flat_map(|o| o.versions.keys())
            .collect()
    }

    fn claim_preferred(&mut self, canonical: &str, gv: GroupVersion) {
        let better = match &self.preferred {
            None => true,
            Some(current) => {
                let in_canonical = |g: &GroupVersion| g.group == canonical;
                in_canonical(&gv)
                    .cmp(&in_canonical(current))
                    .then_with(|| compare_priority(&gv.version, &current.version))
                    .then_with(|| current.group.cmp(&gv.group))
                    .then_with(|| current.version.cmp(&gv.version))
                    .is_gt()
            }
        };
        if better {
            self.preferred = Some(gv);
        }
    }
}

/// The index of a backup's objects: see the [module documentation](self).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BackupContents {
    resources: BTreeMap<ResourceKey, ResourceContents>,
    /// Where the objects of a spooled index are (R13).
    spool: Option<EntrySpool>,
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
    /// (the resources of [`kept_whole`]) or as its [`head`], with `span`, where the caller
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
        let (object, span) = if kept_whole(&key) {
            (object, None)
        } else {
            let with_labels = labels == HeadLabels::Kept;
            (head_with(&object, with_labels), Some(span))
        };
        self.add_item_at(archive_item(path), object, span)
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
        let i = object.versions.position(version)?;
        let (_, held, span) = &object.versions.0[i];
        let Some(span) = span else {
            return Some(Ok(held.clone()));
        };
        let fail = |reason: String| {
            format!(
                "{} at {}: reading it back from the restore's temporary storage failed: {reason}; \
                 free space where temporary files go and run the restore again",
                held.describe(),
                version.api_version()
            )
        };
        let Some(spool) = &self.spool else {
            return Some(Err(fail("the index has no spool".into())));
        };
        Some(read_spooled(&*spool.0, *span).map_err(fail))
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
        span: Option<EntrySpan>,
    ) -> Result<(), ContentsError> {
        let dir = group_resource(item.resource, item.group);
        if split_resource_dir(&dir) != Some((item.resource, item.group)) {
            return Err(ContentsError::BadResourceDir {
                dir,
                object: object.describe(),
            });
        }
        if item.namespace != object.namespace() || item.name != object.name() {
            let path = match item.namespace {
                Some(ns) => format!("{ns}/{}", item.name),
                None => item.name.to_string(),
            };
            return Err(ContentsError::PathMismatch {
                dir,
                path,
                object: object.describe(),
            });
        }
        let gv = match item.version {
            EntryVersion::Plain => object.group_version(),
            EntryVersion::Preferred(v) | EntryVersion::Served(v) => {
                GroupVersion::new(item.group, v)
            }
        };
        if gv.group != item.group || object.group_version() != gv {
            return Err(ContentsError::VersionMismatch {
                dir,
                object: object.describe(),
                expected: GroupVersion::new(item.group, gv.version).api_version(),
                found: object.api_version().to_string(),
            });
        }
        let key = ResourceKey::canonical(item.group, item.resource);
        let canonical = key.group.clone();
        let contents = self.resources.entry(key).or_default();
        contents.groups.insert(item.group.to_string());
        if !matches!(item.version, EntryVersion::Served(_)) {
            contents.claim_preferred(&canonical, gv.clone());
        }
        let object_key = ObjectKey {
            namespace: item.namespace.map(str::to_string),
            name: item.name.to_string(),
        };
        contents
            .objects
            .entry(object_key)
            .or_default()
            .versions
            .insert_at(gv, object, span);
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

    /// Takes one object out of the index (the resource stays, with its preferred version).
    pub(crate) fn take_object(
        &mut self,
        key: &ResourceKey,
        object: &ObjectKey,
    ) -> Option<BackedUpObject> {
        self.resources.get_mut(key)?.objects.remove(object)
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
                .map(|r| {
                    r.objects()
                        .filter_map(|(_, o)| o.representative(r.preferred()))
                        .collect()
                })
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
