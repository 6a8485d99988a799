//! `Status` objects: how the test API server reports failures, as a real one does.
//!
//! ```
//! use csdr_kube::testing::status::Status;
//!
//! let s = Status::not_found("deployments", "apps", "web");
//! assert_eq!(s.code, 404);
//! assert_eq!(s.to_json()["message"], "deployments.apps \"web\" not found");
//! assert_eq!(s.to_json()["details"]["group"], "apps");
//! ```

use serde_json::{Value, json};

/// The object a [`Status`] is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusDetails {
    /// The resource plural (or the kind, for `Invalid`).
    pub kind: String,
    /// The group; empty for the core group.
    pub group: String,
    /// The object's name.
    pub name: String,
}

/// A failure as the Kubernetes API reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// The HTTP status code.
    pub code: u16,
    /// The machine-readable reason (`NotFound`, `AlreadyExists`, …).
    pub reason: String,
    /// The human-readable message.
    pub message: String,
    /// The object concerned, when there is one.
    pub details: Option<Box<StatusDetails>>,
    /// `metadata.continue`: the token a 410 for an expired list offers to go on with.
    pub continue_token: Option<String>,
}

fn group_resource(resource: &str, group: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

impl Status {
    /// A status without details.
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        Status {
            code,
            reason: reason.to_string(),
            message: message.into(),
            details: None,
            continue_token: None,
        }
    }

    /// The same status offering `token` in `metadata.continue` (the inconsistent continuation
    /// a real server offers with a 410 for an expired continue token).
    pub fn with_continue(mut self, token: String) -> Self {
        self.continue_token = Some(token);
        self
    }

    fn about(mut self, resource: &str, group: &str, name: &str) -> Self {
        self.details = Some(Box::new(StatusDetails {
            kind: resource.to_string(),
            group: group.to_string(),
            name: name.to_string(),
        }));
        self
    }

    /// 404: the object does not exist.
    pub fn not_found(resource: &str, group: &str, name: &str) -> Self {
        Status::new(
            404,
            "NotFound",
            format!("{} {name:?} not found", group_resource(resource, group)),
        )
        .about(resource, group, name)
    }

    /// 404: the path names no resource the server serves.
    pub fn no_such_resource() -> Self {
        Status::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    /// 409: an object with the name exists.
    pub fn already_exists(resource: &str, group: &str, name: &str) -> Self {
        Status::new(
            409,
            "AlreadyExists",
            format!(
                "{} {name:?} already exists",
                group_resource(resource, group)
            ),
        )
        .about(resource, group, name)
    }

    /// 409: the write conflicts with a concurrent change.
    pub fn conflict(resource: &str, group: &str, name: &str, reason: &str) -> Self {
        Status::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} {name:?}: {reason}",
                group_resource(resource, group)
            ),
        )
        .about(resource, group, name)
    }

    /// 422: the object is invalid.
    pub fn invalid(kind: &str, group: &str, name: &str, reason: &str) -> Self {
        Status::new(
            422,
            "Invalid",
            format!("{kind} {name:?} is invalid: {reason}"),
        )
        .about(kind, group, name)
    }

    /// 400: the request itself is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Status::new(400, "BadRequest", message)
    }

    /// 405: the verb is not allowed on the resource.
    pub fn method_not_allowed(verb: &str, resource: &str, group: &str) -> Self {
        Status::new(
            405,
            "MethodNotAllowed",
            format!(
                "the server does not allow this method on the requested resource ({verb} {})",
                group_resource(resource, group)
            ),
        )
    }

    /// 410: a continue token or resourceVersion is too old or not valid.
    pub fn expired(message: impl Into<String>) -> Self {
        Status::new(410, "Expired", message)
    }

    /// 415: the content type of a patch is not one the server knows.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Status::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {content_type:?})"
            ),
        )
    }

    /// 500: the simulator failed.
    pub fn internal(message: impl Into<String>) -> Self {
        Status::new(500, "InternalError", message)
    }

    /// The `Status` object.
    pub fn to_json(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(token) = &self.continue_token {
            status["metadata"]["continue"] = Value::String(token.clone());
        }
        if let (Some(d), Some(map)) = (&self.details, status.as_object_mut()) {
            map.insert(
                "details".into(),
                json!({"name": d.name, "group": d.group, "kind": d.kind}),
            );
        }
        status
    }
}
