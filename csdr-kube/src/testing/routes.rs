//! What a request path of the Kubernetes REST API names.
//!
//! ```
//! use csdr_kube::testing::routes::{Route, ResourcePath};
//!
//! let route = Route::parse("/apis/apps/v1/namespaces/shop/deployments/web");
//! assert_eq!(route, Route::Resource(ResourcePath {
//!     group: "apps".into(), version: "v1".into(), namespace: Some("shop".into()),
//!     resource: "deployments".into(), name: Some("web".into()), subresource: None,
//! }));
//! assert_eq!(Route::parse("/api/v1/namespaces/shop"), Route::Resource(ResourcePath {
//!     group: "".into(), version: "v1".into(), namespace: None,
//!     resource: "namespaces".into(), name: Some("shop".into()), subresource: None,
//! }));
//! assert_eq!(Route::parse("/apis/apps"), Route::Group("apps".into()));
//! ```

/// A resource, collection or object named by a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourcePath {
    /// The group; empty for the core group.
    pub group: String,
    /// The version.
    pub version: String,
    /// The namespace in the path, if any.
    pub namespace: Option<String>,
    /// The resource plural.
    pub resource: String,
    /// The object name, for object paths.
    pub name: Option<String>,
    /// The subresource (`status`, `scale`), if any.
    pub subresource: Option<String>,
}

/// What a path names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `/version`.
    Version,
    /// `/api`.
    CoreVersions,
    /// `/apis`.
    Groups,
    /// `/apis/<group>`.
    Group(String),
    /// `/api/<version>` or `/apis/<group>/<version>`.
    GroupVersion {
        /// The group; empty for the core group.
        group: String,
        /// The version.
        version: String,
    },
    /// A collection or an object.
    Resource(ResourcePath),
    /// `/openapi/v3`: the index of per-group-version OpenAPI v3 documents.
    OpenApiV3Index,
    /// `/openapi/v3/api/<version>` or `/openapi/v3/apis/<group>/<version>`.
    OpenApiV3 {
        /// The group; empty for the core group.
        group: String,
        /// The version.
        version: String,
    },
    /// `/openapi/v2`: the OpenAPI v2 document.
    OpenApiV2,
    /// `/swagger.json`, `/swagger-2.0.0.pb-v1` and `/swaggerapi/...`: documents real servers
    /// stopped serving before 1.16 (answered 404).
    OpenApi,
    /// `/healthz`, `/livez`, `/readyz`.
    Health,
    /// Anything else.
    Unknown,
}

impl Route {
    /// Parses a request path (without the query).
    pub fn parse(path: &str) -> Route {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let (group, version, rest) = match segments.as_slice() {
            ["version"] => return Route::Version,
            ["healthz" | "livez" | "readyz", ..] => return Route::Health,
            ["openapi", "v3"] => return Route::OpenApiV3Index,
            ["openapi", "v3", "api", version] => {
                return Route::OpenApiV3 {
                    group: String::new(),
                    version: version.to_string(),
                };
            }
            ["openapi", "v3", "apis", group, version] => {
                return Route::OpenApiV3 {
                    group: group.to_string(),
                    version: version.to_string(),
                };
            }
            ["openapi", "v2"] => return Route::OpenApiV2,
            ["openapi", ..] | ["swagger.json" | "swagger-2.0.0.pb-v1"] | ["swaggerapi", ..] => {
                return Route::OpenApi;
            }
            ["api"] => return Route::CoreVersions,
            ["apis"] => return Route::Groups,
            ["apis", group] => return Route::Group(group.to_string()),
            ["api", version, rest @ ..] => ("", *version, rest),
            ["apis", group, version, rest @ ..] => (*group, *version, rest),
            _ => return Route::Unknown,
        };
        let (namespace, rest) = match rest {
            // The Namespace object's own subresources, not a collection inside it.
            ["namespaces", ns, sub @ ("status" | "finalize")] if group.is_empty() => {
                (None, vec!["namespaces", *ns, *sub])
            }
            ["namespaces", ns, resource, more @ ..] => (Some(ns.to_string()), {
                let mut v = vec![*resource];
                v.extend_from_slice(more);
                v
            }),
            other => (None, other.to_vec()),
        };
        match rest.as_slice() {
            [] => Route::GroupVersion {
                group: group.to_string(),
                version: version.to_string(),
            },
            [resource] => Route::Resource(ResourcePath {
                group: group.to_string(),
                version: version.to_string(),
                namespace,
                resource: resource.to_string(),
                name: None,
                subresource: None,
            }),
            [resource, name] => Route::Resource(ResourcePath {
                group: group.to_string(),
                version: version.to_string(),
                namespace,
                resource: resource.to_string(),
                name: Some(name.to_string()),
                subresource: None,
            }),
            [resource, name, sub] => Route::Resource(ResourcePath {
                group: group.to_string(),
                version: version.to_string(),
                namespace,
                resource: resource.to_string(),
                name: Some(name.to_string()),
                subresource: Some(sub.to_string()),
            }),
            _ => Route::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(Route::parse("/version"), Route::Version);
        assert_eq!(Route::parse("/api"), Route::CoreVersions);
        assert_eq!(Route::parse("/apis/"), Route::Groups);
        assert_eq!(Route::parse("/openapi/v2"), Route::OpenApiV2);
        assert_eq!(Route::parse("/swagger.json"), Route::OpenApi);
        assert_eq!(Route::parse("/openapi/v3"), Route::OpenApiV3Index);
        assert_eq!(
            Route::parse("/openapi/v3/apis/apps/v1"),
            Route::OpenApiV3 {
                group: "apps".into(),
                version: "v1".into()
            }
        );
        assert_eq!(
            Route::parse("/api/v1"),
            Route::GroupVersion {
                group: "".into(),
                version: "v1".into()
            }
        );
        let Route::Resource(all) = Route::parse("/apis/apps/v1/deployments") else {
            panic!()
        };
        assert_eq!((all.namespace, all.name), (None, None));
        let Route::Resource(ns) = Route::parse("/api/v1/namespaces") else {
            panic!()
        };
        assert_eq!((ns.resource.as_str(), ns.name), ("namespaces", None));
        let Route::Resource(list) = Route::parse("/api/v1/namespaces/a/configmaps") else {
            panic!()
        };
        assert_eq!(
            (list.namespace.as_deref(), list.resource.as_str()),
            (Some("a"), "configmaps")
        );
        let Route::Resource(status) =
            Route::parse("/apis/apps/v1/namespaces/a/deployments/web/status")
        else {
            panic!()
        };
        assert_eq!(status.subresource.as_deref(), Some("status"));
        let Route::Resource(ns_status) = Route::parse("/api/v1/namespaces/a/status") else {
            panic!()
        };
        assert_eq!(
            (
                ns_status.resource.as_str(),
                ns_status.name.as_deref(),
                ns_status.subresource.as_deref()
            ),
            ("namespaces", Some("a"), Some("status"))
        );
        assert_eq!(Route::parse("/foo"), Route::Unknown);
    }
}
