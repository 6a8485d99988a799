//! Paths inside the backup tarball: building and parsing Velero's layout.
//!
//! ```text
//! metadata/version                                                   "1.1.0\n"
//! resources/<resource>[.<group>]/namespaces/<ns>/<name>.json          preferred version (plain path)
//! resources/<resource>[.<group>]/cluster/<name>.json                  … cluster-scoped
//! resources/<resource>[.<group>]/<version>-preferredversion/namespaces/<ns>/<name>.json
//! resources/<resource>[.<group>]/<version>/cluster/<name>.json        another served version
//! ```
//!
//! The core group has no suffix (`resources/pods/…`); the group is everything after the first
//! dot of the directory name, as Velero's `extractGroupName` (`pkg/archive/parser.go`) reads it.
//!
//! ```
//! use csdr_core::archive::layout::{ArchivePath, ItemPath, VersionDir};
//!
//! let path = ItemPath::parse("resources/ingresses.networking.k8s.io/v1-preferredversion/namespaces/web/shop.json")?;
//! assert_eq!(path.resource, "ingresses");
//! assert_eq!(path.group, "networking.k8s.io");
//! assert_eq!(path.version_dir, VersionDir::Preferred("v1".into()));
//! assert_eq!(path.namespace.as_deref(), Some("web"));
//! assert_eq!(path.name, "shop");
//!
//! let plain = ItemPath::new("pods", "", VersionDir::Unversioned, None, "node-a")?;
//! assert_eq!(plain.to_string(), "resources/pods/cluster/node-a.json");
//! assert_eq!(ArchivePath::parse("metadata/version")?, ArchivePath::FormatVersion);
//! assert!(ArchivePath::parse("resources/../etc/passwd").is_err());
//! # Ok::<(), csdr_core::archive::layout::LayoutError>(())
//! ```

use std::fmt;

use crate::object::group_resource;

/// The top-level directory holding the objects (Velero's `ResourcesDir`).
pub const RESOURCES_DIR: &str = "resources";
/// The top-level directory holding the format version (Velero's `MetadataDir`).
pub const METADATA_DIR: &str = "metadata";
/// The path of the format-version entry.
pub const FORMAT_VERSION_PATH: &str = "metadata/version";
/// The format version Velero writes (`BackupFormatVersion` in `pkg/backup/backup.go`).
pub const FORMAT_VERSION: &str = "1.1.0";
/// The suffix that marks the preferred version's directory (Velero's `PreferredVersionDir`).
pub const PREFERRED_VERSION_SUFFIX: &str = "-preferredversion";
/// The scope directory of namespaced objects (Velero's `NamespaceScopedDir`).
pub const NAMESPACES_DIR: &str = "namespaces";
/// The scope directory of cluster-scoped objects (Velero's `ClusterScopedDir`).
pub const CLUSTER_DIR: &str = "cluster";

/// Why a path is not part of the archive layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutError {
    /// An absolute path (`/etc/passwd`).
    #[error("archive path {path:?} is absolute; entries must be relative to the archive root")]
    Absolute {
        /// The offending path.
        path: String,
    },
    /// A `..` component that would escape the archive root.
    #[error("archive path {path:?} contains `..`; entries may not leave the archive root")]
    ParentComponent {
        /// The offending path.
        path: String,
    },
    /// A backslash, which some extractors read as a separator.
    #[error("archive path {path:?} contains a backslash; only `/` separates components")]
    Backslash {
        /// The offending path.
        path: String,
    },
    /// An empty or `.` component (`a//b`, `./a`), or a NUL byte.
    #[error("archive path {path:?} has an empty, `.` or NUL-containing component")]
    EmptyComponent {
        /// The offending path.
        path: String,
    },
    /// A path that is not UTF-8.
    #[error("archive path {path:?} is not UTF-8")]
    NotUtf8 {
        /// The path, lossily decoded.
        path: String,
    },
    /// A top-level directory other than `metadata/` and `resources/`.
    #[error(
        "archive path {path:?} is under unknown top-level directory {top:?}; a backup holds only metadata/ and resources/"
    )]
    UnknownTopLevel {
        /// The offending path.
        path: String,
        /// Its first component.
        top: String,
    },
    /// A path under `resources/` that does not have the shape of an item.
    #[error("archive path {path:?} is not an item path: {reason}")]
    NotAnItem {
        /// The offending path.
        path: String,
        /// What is wrong with its shape.
        reason: String,
    },
    /// A name, namespace, resource, group or version that cannot be a path component.
    #[error("cannot place {what} {value:?} in the archive: {reason}")]
    InvalidComponent {
        /// Which part: `resource`, `group`, `version`, `namespace` or `name`.
        what: &'static str,
        /// The value given.
        value: String,
        /// Why it cannot be used.
        reason: &'static str,
    },
}

/// Which version directory an item sits in.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VersionDir {
    /// No version directory: the preferred version at the plain path, which Velero's restore
    /// reads (`resources/<gr>/namespaces/…`).
    Unversioned,
    /// `<version>-preferredversion/`: the preferred version (EnableAPIGroupVersions layout).
    Preferred(String),
    /// `<version>/`: another version the source served.
    Served(String),
}

impl VersionDir {
    /// The version named by the directory, if any (`None` for [`VersionDir::Unversioned`]).
    pub fn version(&self) -> Option<&str> {
        match self {
            VersionDir::Unversioned => None,
            VersionDir::Preferred(v) | VersionDir::Served(v) => Some(v),
        }
    }
}

/// Where one object sits under `resources/`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemPath {
    /// The plural resource name, e.g. `deployments` (never contains a dot).
    pub resource: String,
    /// The API group; empty for the core group.
    pub group: String,
    /// The version directory.
    pub version_dir: VersionDir,
    /// The namespace; `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// The object's name (the file name without `.json`).
    pub name: String,
}

fn check_component(what: &'static str, value: &str) -> Result<(), LayoutError> {
    let fail = |reason| {
        Err(LayoutError::InvalidComponent {
            what,
            value: value.to_string(),
            reason,
        })
    };
    if value.is_empty() {
        return fail("it is empty");
    }
    if value == "." || value == ".." {
        return fail("`.` and `..` are not names");
    }
    if value.contains('/') || value.contains('\\') || value.contains('\0') {
        return fail("it contains `/`, `\\` or NUL");
    }
    Ok(())
}

impl ItemPath {
    /// An item path, checking every part: no part may be empty, `.`, `..` or contain `/`, `\`
    /// or NUL; the resource may not contain a dot (the group starts at the first dot); a
    /// version may not be `namespaces` or `cluster` or end in `-preferredversion`.
    pub fn new(
        resource: &str,
        group: &str,
        version_dir: VersionDir,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Self, LayoutError> {
        check_component("resource", resource)?;
        if resource.contains('.') {
            return Err(LayoutError::InvalidComponent {
                what: "resource",
                value: resource.to_string(),
                reason: "a resource name may not contain a dot (the group starts at the first dot)",
            });
        }
        if !group.is_empty() {
            check_component("group", group)?;
        }
        if let Some(version) = version_dir.version() {
            check_component("version", version)?;
            if version == NAMESPACES_DIR
                || version == CLUSTER_DIR
                || version.ends_with(PREFERRED_VERSION_SUFFIX)
            {
                return Err(LayoutError::InvalidComponent {
                    what: "version",
                    value: version.to_string(),
                    reason: "it would be read back as a scope or preferred-version directory",
                });
            }
        }
        if let Some(ns) = namespace {
            check_component("namespace", ns)?;
        }
        check_component("name", name)?;
        Ok(ItemPath {
            resource: resource.to_string(),
            group: group.to_string(),
            version_dir,
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
        })
    }

    /// `resource.group`, or `resource` for the core group: the directory under `resources/`.
    pub fn group_resource(&self) -> String {
        group_resource(&self.resource, &self.group)
    }

    /// Parses an item path; anything else (including `metadata/version`) is an error.
    pub fn parse(path: &str) -> Result<Self, LayoutError> {
        match ArchivePath::parse(path)? {
            ArchivePath::Item(item) => Ok(item),
            _ => Err(LayoutError::NotAnItem {
                path: path.to_string(),
                reason: "it is not under resources/".into(),
            }),
        }
    }
}

impl fmt::Display for ItemPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{RESOURCES_DIR}/{}", self.group_resource())?;
        match &self.version_dir {
            VersionDir::Unversioned => {}
            VersionDir::Preferred(v) => write!(f, "/{v}{PREFERRED_VERSION_SUFFIX}")?,
            VersionDir::Served(v) => write!(f, "/{v}")?,
        }
        match &self.namespace {
            Some(ns) => write!(f, "/{NAMESPACES_DIR}/{ns}/{}.json", self.name),
            None => write!(f, "/{CLUSTER_DIR}/{}.json", self.name),
        }
    }
}

/// What an entry of the tarball is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArchivePath {
    /// `metadata/version`.
    FormatVersion,
    /// Another file under `metadata/` (none today; kept for newer Velero versions).
    OtherMetadata(String),
    /// An object under `resources/`.
    Item(ItemPath),
}

/// Splits a path into components after the checks every entry must pass: relative, no
/// backslash, no NUL, no empty, `.` or `..` component, top level `metadata` or `resources`.
/// One trailing `/` (a directory entry) is allowed.
pub(crate) fn checked_components(path: &str) -> Result<Vec<&str>, LayoutError> {
    let owned = || path.to_string();
    if path.starts_with('/') {
        return Err(LayoutError::Absolute { path: owned() });
    }
    if path.contains('\\') {
        return Err(LayoutError::Backslash { path: owned() });
    }
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    let parts: Vec<&str> = trimmed.split('/').collect();
    if parts.contains(&"..") {
        return Err(LayoutError::ParentComponent { path: owned() });
    }
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || p.contains('\0'))
    {
        return Err(LayoutError::EmptyComponent { path: owned() });
    }
    match parts.first() {
        Some(&RESOURCES_DIR) | Some(&METADATA_DIR) => Ok(parts),
        Some(top) => Err(LayoutError::UnknownTopLevel {
            path: owned(),
            top: top.to_string(),
        }),
        None => Err(LayoutError::EmptyComponent { path: owned() }),
    }
}

impl ArchivePath {
    /// Parses the path of a file entry.
    pub fn parse(path: &str) -> Result<Self, LayoutError> {
        let parts = checked_components(path)?;
        if parts[0] == METADATA_DIR {
            return match parts.as_slice() {
                [_, "version"] => Ok(ArchivePath::FormatVersion),
                [_, _] => Ok(ArchivePath::OtherMetadata(path.to_string())),
                _ => Err(LayoutError::NotAnItem {
                    path: path.to_string(),
                    reason: "metadata/ holds only files, no directories".into(),
                }),
            };
        }
        let not_item = |reason: &str| LayoutError::NotAnItem {
            path: path.to_string(),
            reason: reason.to_string(),
        };
        let [_, group_resource, rest @ ..] = parts.as_slice() else {
            return Err(not_item("expected resources/<resource>[.<group>]/…"));
        };
        let (resource, group) = group_resource
            .split_once('.')
            .unwrap_or((group_resource, ""));
        let (version_dir, rest) = match rest {
            [first, ..] if *first == NAMESPACES_DIR || *first == CLUSTER_DIR => {
                (VersionDir::Unversioned, rest)
            }
            [dir, tail @ ..] => match dir.strip_suffix(PREFERRED_VERSION_SUFFIX) {
                Some(v) => (VersionDir::Preferred(v.to_string()), tail),
                None => (VersionDir::Served(dir.to_string()), tail),
            },
            [] => return Err(not_item("no scope directory (namespaces/ or cluster/)")),
        };
        let (namespace, file) = match rest {
            [scope, ns, file] if *scope == NAMESPACES_DIR => (Some(*ns), *file),
            [scope, file] if *scope == CLUSTER_DIR => (None, *file),
            _ => {
                return Err(not_item(
                    "expected …/namespaces/<namespace>/<name>.json or …/cluster/<name>.json",
                ));
            }
        };
        let Some(name) = file.strip_suffix(".json") else {
            return Err(not_item("the file name does not end in .json"));
        };
        ItemPath::new(resource, group, version_dir, namespace, name)
            .map(ArchivePath::Item)
            .map_err(|e| not_item(&e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_velero_paths() {
        let ns = Some("shop");
        let cases = [
            (
                ItemPath::new("deployments", "apps", VersionDir::Unversioned, ns, "web"),
                "resources/deployments.apps/namespaces/shop/web.json",
            ),
            (
                ItemPath::new(
                    "deployments",
                    "apps",
                    VersionDir::Preferred("v1".into()),
                    ns,
                    "web",
                ),
                "resources/deployments.apps/v1-preferredversion/namespaces/shop/web.json",
            ),
            (
                ItemPath::new(
                    "deployments",
                    "apps",
                    VersionDir::Served("v1beta2".into()),
                    ns,
                    "web",
                ),
                "resources/deployments.apps/v1beta2/namespaces/shop/web.json",
            ),
            (
                ItemPath::new(
                    "persistentvolumes",
                    "",
                    VersionDir::Unversioned,
                    None,
                    "pv-1",
                ),
                "resources/persistentvolumes/cluster/pv-1.json",
            ),
            (
                ItemPath::new(
                    "clusterroles",
                    "rbac.authorization.k8s.io",
                    VersionDir::Preferred("v1".into()),
                    None,
                    "system:aggregate-to-edit",
                ),
                "resources/clusterroles.rbac.authorization.k8s.io/v1-preferredversion/cluster/system:aggregate-to-edit.json",
            ),
        ];
        for (item, text) in cases {
            let item = item.unwrap();
            assert_eq!(item.to_string(), text);
            assert_eq!(ItemPath::parse(text).unwrap(), item);
        }
    }

    #[test]
    fn rejects_paths_outside_the_layout() {
        let bad = [
            ("/resources/pods/cluster/a.json", "absolute"),
            ("resources/../../etc/passwd", "`..`"),
            ("resources/pods/namespaces/..\\x/a.json", "backslash"),
            ("resources//pods/cluster/a.json", "empty"),
            ("./resources/pods/cluster/a.json", "empty"),
            ("velero/pods/cluster/a.json", "unknown top-level"),
            ("resources/pods/cluster/a.yaml", "does not end in .json"),
            ("resources/pods/a.json", "expected"),
            ("resources/pods/v1/namespaces/a.json", "expected"),
            ("resources/pods/namespaces/ns/extra/a.json", "expected"),
            ("resources/pods/cluster/.json", "name"),
            ("metadata/a/b", "only files"),
            ("resources/pods", "no scope directory"),
        ];
        for (path, needle) in bad {
            let err = ArchivePath::parse(path).unwrap_err().to_string();
            assert!(err.contains(needle), "{path}: {err}");
            assert!(err.contains(&format!("{path:?}")), "{path}: {err}");
        }
        assert!(matches!(
            ItemPath::new("a.b", "", VersionDir::Unversioned, None, "x"),
            Err(LayoutError::InvalidComponent {
                what: "resource",
                ..
            })
        ));
        assert!(
            ItemPath::new("pods", "", VersionDir::Served("cluster".into()), None, "x").is_err()
        );
        assert!(ItemPath::new("pods", "", VersionDir::Unversioned, Some("a/b"), "x").is_err());
        assert!(ItemPath::new("pods", "", VersionDir::Unversioned, None, "..").is_err());
    }

    #[test]
    fn metadata_paths() {
        assert_eq!(
            ArchivePath::parse(FORMAT_VERSION_PATH).unwrap(),
            ArchivePath::FormatVersion
        );
        assert_eq!(
            ArchivePath::parse("metadata/other").unwrap(),
            ArchivePath::OtherMetadata("metadata/other".into())
        );
        assert!(ItemPath::parse("metadata/version").is_err());
    }
}
