//! CertificateSigningRequest: `certificates.k8s.io/v1beta1` ⇄ `certificates.k8s.io/v1`.
//!
//! Sources:
//! - Deprecation guide, "CertificateSigningRequest" (v1.22): `signerName` is required;
//!   `kubernetes.io/legacy-unknown` may not be requested through v1; `usages` is required;
//!   status conditions may not repeat a type and need `status`; `status.certificate` must be
//!   PEM CERTIFICATE blocks.
//! - `pkg/apis/certificates/v1beta1/defaults.go`: `usages` defaults to
//!   `[digital signature, key encipherment]`; `signerName` is derived from the PEM request
//!   (kubelet client or serving signers, else `kubernetes.io/legacy-unknown`).
//!
//! The upgrade writes the default `usages` out. A request without `signerName` (only possible
//! from clusters before 1.18, which did not derive it) or with `kubernetes.io/legacy-unknown`
//! cannot be created through v1 and is reported as an error; csdr does not parse the PEM
//! request to guess a signer. The downgrade is a rename.
//!
//! ```
//! use csdr_core::convert::convert;
//! use csdr_core::object::{GroupVersion, KubeObject};
//! use serde_json::json;
//!
//! let old = KubeObject::new(json!({"apiVersion": "certificates.k8s.io/v1beta1",
//!     "kind": "CertificateSigningRequest", "metadata": {"name": "jane"},
//!     "spec": {"request": "LS0t", "signerName": "kubernetes.io/kube-apiserver-client"}}))?;
//! let new = convert(old, &GroupVersion::new("certificates.k8s.io", "v1"))?;
//! assert_eq!(new.pointer("/spec/usages"), Some(&json!(["digital signature", "key encipherment"])));
//! # Ok::<(), csdr_core::Error>(())
//! ```

use serde_json::{Value, json};

use super::fields::{default_field, field_error, spec_mut};
use super::{ConvertError, Migration, fields::keep};
use crate::object::KubeObject;

const UP: &str = "certificatesigningrequest-v1beta1-to-v1";

pub(super) fn migrations() -> Vec<Migration> {
    vec![
        Migration::new(
            UP,
            "certificates.k8s.io/v1beta1",
            "certificates.k8s.io/v1",
            "CertificateSigningRequest",
            upgrade,
        ),
        Migration::new(
            "certificatesigningrequest-v1-to-v1beta1",
            "certificates.k8s.io/v1",
            "certificates.k8s.io/v1beta1",
            "CertificateSigningRequest",
            keep,
        ),
    ]
}

fn upgrade(mut obj: KubeObject) -> Result<KubeObject, ConvertError> {
    let signer = obj
        .pointer("/spec/signerName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if signer.is_empty() || signer == "kubernetes.io/legacy-unknown" {
        let shown = if signer.is_empty() {
            "unset"
        } else {
            signer.as_str()
        };
        return Err(field_error(
            &obj,
            UP,
            "spec.signerName",
            format!(
                "{shown}; certificates.k8s.io/v1 requires a signer other than \
                 kubernetes.io/legacy-unknown: create a new request for the intended signer"
            ),
        ));
    }
    if let Some(spec) = spec_mut(&mut obj) {
        default_field(
            spec,
            "usages",
            json!(["digital signature", "key encipherment"]),
        );
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::super::convert;
    use crate::object::{GroupVersion, KubeObject};
    use serde_json::{Value, json};

    fn csr(api_version: &str, spec: Value) -> KubeObject {
        KubeObject::new(
            json!({"apiVersion": api_version, "kind": "CertificateSigningRequest",
            "metadata": {"name": "myuser"}, "spec": spec}),
        )
        .unwrap()
    }

    #[test]
    fn upgrade_writes_default_usages_and_downgrade_renames() {
        let spec = json!({"request": "LS0tLS1CRUdJTi", "signerName": "kubernetes.io/kube-apiserver-client",
            "expirationSeconds": 86400});
        let up = convert(
            csr("certificates.k8s.io/v1beta1", spec.clone()),
            &GroupVersion::new("certificates.k8s.io", "v1"),
        )
        .unwrap();
        let mut expected = spec;
        expected["usages"] = json!(["digital signature", "key encipherment"]);
        assert_eq!(up, csr("certificates.k8s.io/v1", expected.clone()));
        let down = convert(up, &GroupVersion::new("certificates.k8s.io", "v1beta1")).unwrap();
        assert_eq!(down, csr("certificates.k8s.io/v1beta1", expected));
    }

    #[test]
    fn legacy_or_missing_signer_is_refused() {
        for spec in [
            json!({"request": "LS0t"}),
            json!({"request": "LS0t", "signerName": "kubernetes.io/legacy-unknown"}),
        ] {
            let err = convert(
                csr("certificates.k8s.io/v1beta1", spec),
                &GroupVersion::new("certificates.k8s.io", "v1"),
            )
            .unwrap_err();
            assert!(err.to_string().contains("field spec.signerName"), "{err}");
        }
    }
}
