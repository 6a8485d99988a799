//! Kubernetes API version priority: which of `v1`, `v1beta2`, `v1alpha1`, `foo` is preferred.
//!
//! This is the order `kubectl api-versions` and the API server's discovery use
//! (`CompareKubeAwareVersionStrings` in k8s.io/apimachinery `version/helpers.go`): versions
//! of the form `v<major>[(alpha|beta)<minor>]` come first, GA before beta before alpha, then
//! the higher major, then the higher minor; every other string comes after them, in lexical
//! order.
//!
//! ```
//! use csdr_core::version_priority::sort_by_priority;
//!
//! let mut versions = vec!["v1alpha1", "v1beta1", "v2", "v1", "v1beta2", "foo", "bar"];
//! sort_by_priority(&mut versions);
//! assert_eq!(versions, ["v2", "v1", "v1beta2", "v1beta1", "v1alpha1", "bar", "foo"]);
//! ```

use std::cmp::Ordering;

/// Maturity of a Kubernetes-style version; the derive order is the priority order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Maturity {
    /// `v1alpha1`
    Alpha,
    /// `v1beta1`
    Beta,
    /// `v1`
    Ga,
}

/// A parsed Kubernetes-style version: `v<major>[(alpha|beta)<minor>]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KubeVersion {
    /// The number after `v`.
    pub major: u64,
    /// GA, beta or alpha.
    pub maturity: Maturity,
    /// The number after `alpha`/`beta`; 0 for GA.
    pub minor: u64,
}

impl KubeVersion {
    /// Parses `v1`, `v1beta2`, `v2alpha1`; `None` for anything else (`v1beta`, `foo`, `V1`).
    pub fn parse(version: &str) -> Option<Self> {
        let rest = version.strip_prefix('v')?;
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let major: u64 = rest[..digits].parse().ok()?;
        let rest = &rest[digits..];
        if rest.is_empty() {
            return Some(KubeVersion {
                major,
                maturity: Maturity::Ga,
                minor: 0,
            });
        }
        let (maturity, tail) = if let Some(t) = rest.strip_prefix("alpha") {
            (Maturity::Alpha, t)
        } else if let Some(t) = rest.strip_prefix("beta") {
            (Maturity::Beta, t)
        } else {
            return None;
        };
        if tail.is_empty() || !tail.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let minor: u64 = tail.parse().ok()?;
        Some(KubeVersion {
            major,
            maturity,
            minor,
        })
    }
}

/// Compares two versions by priority: `Greater` means `a` is preferred over `b`.
///
/// This is a total order: equal only for equal strings.
pub fn compare_priority(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    match (KubeVersion::parse(a), KubeVersion::parse(b)) {
        (None, None) => b.cmp(a),
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => x
            .maturity
            .cmp(&y.maturity)
            .then(x.major.cmp(&y.major))
            .then(x.minor.cmp(&y.minor))
            // Equal parses of different strings (`v01` vs `v1`): fall back to the strings so
            // the order stays total.
            .then_with(|| b.cmp(a)),
    }
}

/// Sorts versions from most to least preferred.
pub fn sort_by_priority<S: AsRef<str>>(versions: &mut [S]) {
    versions.sort_by(|a, b| compare_priority(b.as_ref(), a.as_ref()));
}

/// The most preferred of some versions.
pub fn highest_priority<'a, I, S>(versions: I) -> Option<&'a S>
where
    I: IntoIterator<Item = &'a S>,
    S: AsRef<str> + 'a + ?Sized,
{
    versions
        .into_iter()
        .max_by(|a, b| compare_priority(a.as_ref(), b.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn kubectl_order() {
        let mut v = vec![
            "v11alpha2",
            "v10beta3",
            "v10",
            "v2",
            "v1",
            "v12alpha1",
            "foo10",
            "v10beta1",
            "foo1",
            "v1beta1",
            "v3beta1",
        ];
        sort_by_priority(&mut v);
        // The example from the Kubernetes CRD versioning documentation.
        assert_eq!(
            v,
            [
                "v10",
                "v2",
                "v1",
                "v10beta3",
                "v10beta1",
                "v3beta1",
                "v1beta1",
                "v12alpha1",
                "v11alpha2",
                "foo1",
                "foo10"
            ]
        );
    }

    #[test]
    fn parse_edges() {
        assert_eq!(KubeVersion::parse("v1beta"), None);
        assert_eq!(KubeVersion::parse("v"), None);
        assert_eq!(KubeVersion::parse("V1"), None);
        assert_eq!(KubeVersion::parse("v1gamma1"), None);
        assert_eq!(KubeVersion::parse("v99999999999999999999999"), None);
        assert_eq!(
            KubeVersion::parse("v2beta3"),
            Some(KubeVersion {
                major: 2,
                maturity: Maturity::Beta,
                minor: 3
            })
        );
        assert_eq!(
            highest_priority(&["v1beta1", "v1", "v2alpha1"]),
            Some(&"v1")
        );
    }

    fn version_strategy() -> impl Strategy<Value = String> {
        prop_oneof![
            (0u64..20).prop_map(|m| format!("v{m}")),
            (0u64..20, 0u64..5).prop_map(|(m, n)| format!("v{m}beta{n}")),
            (0u64..20, 0u64..5).prop_map(|(m, n)| format!("v{m}alpha{n}")),
            "[a-z0-9]{0,6}",
        ]
    }

    proptest! {
        #[test]
        fn total_order(a in version_strategy(), b in version_strategy(), c in version_strategy()) {
            // antisymmetric
            prop_assert_eq!(compare_priority(&a, &b), compare_priority(&b, &a).reverse());
            // equal only when the same string
            prop_assert_eq!(compare_priority(&a, &b) == Ordering::Equal, a == b);
            // transitive
            if compare_priority(&a, &b) == Ordering::Greater
                && compare_priority(&b, &c) == Ordering::Greater
            {
                prop_assert_eq!(compare_priority(&a, &c), Ordering::Greater);
            }
        }

        #[test]
        fn ga_beats_beta_beats_alpha(m1 in 0u64..50, m2 in 0u64..50, n1 in 0u64..50, n2 in 0u64..50) {
            let ga = format!("v{m1}");
            let beta = format!("v{m2}beta{n1}");
            let alpha = format!("v{m1}alpha{n2}");
            prop_assert_eq!(compare_priority(&ga, &beta), Ordering::Greater);
            prop_assert_eq!(compare_priority(&beta, &alpha), Ordering::Greater);
            prop_assert_eq!(compare_priority(&alpha, "zzz"), Ordering::Greater);
        }

        #[test]
        fn parse_never_panics(s in ".*") {
            let _ = KubeVersion::parse(&s);
        }
    }
}
