//! Kubernetes' name syntax (apimachinery's `validation` package): how long names and label
//! values may be and which characters they take. One home for these rules, so the label
//! selector parser, the restore's label values and generated object names agree.
//!
//! ```
//! use csdr_core::names::{DNS_LABEL_MAX_LENGTH, is_dns_subdomain, is_qualified_name_part};
//!
//! assert!(is_dns_subdomain("app.kubernetes.io"));
//! assert!(!is_dns_subdomain("App.example.com"));
//! assert!(is_qualified_name_part("my_value.1"));
//! assert!(!is_qualified_name_part("-x"));
//! assert_eq!(DNS_LABEL_MAX_LENGTH, 63);
//! ```

/// The longest DNS-1123 label (`DNS1123LabelMaxLength`): namespace names, Service names and
/// most generated object names.
pub const DNS_LABEL_MAX_LENGTH: usize = 63;
/// The longest DNS-1123 subdomain (`DNS1123SubdomainMaxLength`): most object names and the
/// prefix of a label key.
pub const DNS_SUBDOMAIN_MAX_LENGTH: usize = 253;
/// The longest name part of a qualified name such as a label key (`qualifiedNameMaxLength`).
pub const QUALIFIED_NAME_MAX_LENGTH: usize = 63;
/// The longest label value (`LabelValueMaxLength`).
pub const LABEL_VALUE_MAX_LENGTH: usize = 63;

/// A qualified name without prefix: `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, at most 63.
pub fn is_qualified_name_part(name: &str) -> bool {
    let bytes = name.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// A lower-case RFC 1123 subdomain: dot-separated labels `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
pub fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= DNS_SUBDOMAIN_MAX_LENGTH
        && name.split('.').all(|label| {
            let bytes = label.as_bytes();
            match (bytes.first(), bytes.last()) {
                (Some(first), Some(last)) => {
                    (first.is_ascii_lowercase() || first.is_ascii_digit())
                        && (last.is_ascii_lowercase() || last.is_ascii_digit())
                        && bytes
                            .iter()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
                }
                _ => false,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains_and_name_parts() {
        for ok in ["a", "a-b.c", "0.example.com", &"a".repeat(63)] {
            assert!(is_dns_subdomain(ok), "{ok}");
        }
        let too_long = format!("{}.{}", "a".repeat(200), "b".repeat(60));
        for bad in ["", "A", "-a", "a-", "a..b", ".a", "a_b", too_long.as_str()] {
            assert!(!is_dns_subdomain(bad), "{bad}");
        }
        for ok in ["a", "A.b_c-1", "9"] {
            assert!(is_qualified_name_part(ok), "{ok}");
        }
        for bad in ["", "_a", "a.", "a b", "a/b"] {
            assert!(!is_qualified_name_part(bad), "{bad}");
        }
    }
}
