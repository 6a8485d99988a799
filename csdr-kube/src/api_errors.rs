//! How answers of a Kubernetes API server map to the core's [`ClusterError`].
//!
//! An API server answers a failed call with an HTTP status and (usually) a `Status` object
//! whose `reason` tells cases apart that share a code (`409` is `AlreadyExists` on create and
//! `Conflict` on a stale update) and whose `message` names the object and the field.
//!
//! ```
//! use csdr_core::ports::cluster::ClusterError;
//! use csdr_kube::api_errors::error_from_answer;
//!
//! let body = br#"{"kind":"Status","status":"Failure","reason":"AlreadyExists",
//!     "message":"deployments.apps \"web\" already exists","code":409}"#;
//! let err = error_from_answer("deployments.apps shop/web", 409, body);
//! assert_eq!(err, ClusterError::AlreadyExists { what: "deployments.apps shop/web".into() });
//! ```

use csdr_core::ports::cluster::ClusterError;
use serde_json::Value;

/// The `reason` and `message` of a `Status` body, if the body is one.
pub fn status_reason_and_message(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return (None, None);
    };
    let field = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_string);
    (field("reason"), field("message"))
}

/// The `metadata.continue` of a `Status` body: what a 410 for an expired list continue token
/// offers to go on with (the API server's inconsistent continuation).
pub fn status_continue_token(body: &[u8]) -> Option<String> {
    let value = serde_json::from_slice::<Value>(body).ok()?;
    value
        .pointer("/metadata/continue")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// Whether a status code is worth retrying (429 Too Many Requests and every 5xx).
pub fn is_transient_status(code: u16) -> bool {
    code == 429 || code >= 500
}

/// The error for a non-success answer about `what` (`deployments.apps shop/web`).
pub fn error_from_answer(what: &str, code: u16, body: &[u8]) -> ClusterError {
    let (reason, message) = status_reason_and_message(body);
    let message = message.unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        if text.is_empty() {
            format!("HTTP {code}")
        } else {
            format!(
                "HTTP {code}: {}",
                text.chars().take(300).collect::<String>()
            )
        }
    });
    let what = what.to_string();
    match code {
        404 => ClusterError::NotFound { what },
        409 if reason.as_deref() == Some("AlreadyExists") => ClusterError::AlreadyExists { what },
        409 => ClusterError::Conflict {
            what,
            reason: message,
        },
        410 => ClusterError::Gone {
            what,
            reason: message,
            continue_token: status_continue_token(body),
        },
        400 | 422 => ClusterError::Invalid {
            what,
            reason: message,
        },
        401 | 403 => ClusterError::Forbidden {
            what,
            reason: message,
        },
        c if is_transient_status(c) => ClusterError::Unavailable {
            reason: format!("{what}: HTTP {c}: {message}"),
        },
        c => ClusterError::Protocol {
            what,
            reason: format!("HTTP {c}: {message}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, reason: &str, message: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"kind": "Status", "apiVersion": "v1",
            "status": "Failure", "reason": reason, "message": message, "code": code}))
        .unwrap()
    }

    #[test]
    fn codes_and_reasons_map_to_the_port_errors() {
        let w = "deployments.apps shop/web";
        assert!(matches!(
            error_from_answer(w, 404, &status(404, "NotFound", "x")),
            ClusterError::NotFound { .. }
        ));
        assert!(matches!(
            error_from_answer(w, 409, &status(409, "Conflict", "stale")),
            ClusterError::Conflict { reason, .. } if reason == "stale"
        ));
        assert!(matches!(
            error_from_answer(w, 410, &status(410, "Expired", "too old")),
            ClusterError::Gone { .. }
        ));
        let invalid = error_from_answer(
            w,
            422,
            &status(422, "Invalid", "spec.replicas: Invalid value: -1"),
        );
        assert_eq!(
            invalid,
            ClusterError::Invalid {
                what: w.into(),
                reason: "spec.replicas: Invalid value: -1".into()
            }
        );
        assert!(matches!(
            error_from_answer(w, 403, &status(403, "Forbidden", "no")),
            ClusterError::Forbidden { .. }
        ));
        let unavailable = error_from_answer(w, 503, b"");
        assert!(unavailable.is_transient());
        assert!(unavailable.to_string().contains("HTTP 503"));
        assert!(matches!(
            error_from_answer(w, 405, b"nope"),
            ClusterError::Protocol { reason, .. } if reason.contains("nope")
        ));
    }
}
