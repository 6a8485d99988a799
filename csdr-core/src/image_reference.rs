//! Container image references (`[registry/]repository[:tag][@digest]`): the grammar of the
//! `distribution/reference` Go package, and Docker's normalisation.
//!
//! The grammar (`regexp.go`, `normalize.go`): lowercase path components separated by `.`, `_`,
//! `__` or dashes; a domain (DNS components or a bracketed IPv6 address) with an optional port;
//! tags `[\w][\w.-]{0,127}`; digests `algorithm:hex` with the lengths go-digest enforces
//! (sha256, sha384, sha512); a path of at most 255 characters; a bare 64-hex string is refused as
//! ambiguous with an image id. Where `ParseDockerRef` drops the tag of a `name:tag@digest`
//! reference, csdr keeps it (it is what the user wrote).
//!
//! Normalisation, as Docker does it: `nginx` is `docker.io/library/nginx:latest`, `user/app` is
//! `docker.io/user/app`, `index.docker.io/…` is `docker.io/…`; a first component with a `.` or
//! `:` or `localhost` is a registry (`host:5000/app:v1` has the registry `host:5000` and the tag
//! `v1`). The restore's image rules ([`crate::transform::images`]) match references in this
//! normalised form.
//!
//! ```
//! use csdr_core::image_reference::ImageReference;
//!
//! let image: ImageReference = "registry.example.com:5000/team/app:v1".parse()?;
//! assert_eq!(image.registry.as_deref(), Some("registry.example.com:5000"));
//! assert_eq!(image.tag.as_deref(), Some("v1"));
//! assert_eq!(ImageReference::parse("nginx")?.normalised().to_string(), "docker.io/library/nginx:latest");
//! assert!(ImageReference::parse("Nginx").is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::str::FromStr;

/// Docker Hub's canonical registry name.
pub(crate) const DOCKER_HUB: &str = "docker.io";
/// Docker Hub's legacy registry name, normalised to [`DOCKER_HUB`].
pub(crate) const DOCKER_HUB_LEGACY: &str = "index.docker.io";
/// The namespace of Docker Hub's official images.
const OFFICIAL_NAMESPACE: &str = "library";
/// The tag of a reference that names none.
const DEFAULT_TAG: &str = "latest";
/// The longest repository path `distribution/reference` accepts.
const PATH_MAX: usize = 255;
/// A container image reference: `[registry/]repository[:tag][@digest]`, as written.
///
/// [`ImageReference::parse`] keeps what the user wrote (no implicit registry, `library/` or
/// tag is added), so `parse(r.to_string()) == r`; [`ImageReference::normalised`] makes the
/// implicit parts explicit for comparisons.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageReference {
    /// The registry (`host[:port]`), when written; `None` means Docker Hub.
    pub registry: Option<String>,
    /// The repository path, e.g. `library/nginx`, `team/app`, `nginx`.
    pub repository: String,
    /// The tag, when written.
    pub tag: Option<String>,
    /// The digest (`sha256:…`), when written.
    pub digest: Option<String>,
}

/// An image reference that does not follow the `distribution/reference` grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference `{input}`: {reason}")]
pub struct ImageReferenceError {
    /// The text that was parsed.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ImageReference {
    /// Parses a reference as `distribution/reference`'s `ParseNormalizedNamed` accepts it,
    /// keeping the written form.
    ///
    /// # Errors
    /// [`ImageReferenceError`] naming the input and the offending part.
    pub fn parse(input: &str) -> Result<Self, ImageReferenceError> {
        let fail = |reason: String| ImageReferenceError {
            input: input.to_string(),
            reason,
        };
        if input.is_empty() {
            return Err(fail("the reference is empty".into()));
        }
        if input.len() == 64
            && input
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(fail(
                "a 64-character hexadecimal string is an image id, not a repository name".into(),
            ));
        }
        let (name_and_tag, digest) = match input.split_once('@') {
            Some((name, digest)) => (name, Some(digest)),
            None => (input, None),
        };
        if let Some(digest) = digest {
            check_digest(digest).map_err(fail)?;
        }
        let (name, tag) = match name_and_tag.rfind(':') {
            Some(i) if !name_and_tag[i + 1..].contains('/') => {
                (&name_and_tag[..i], Some(&name_and_tag[i + 1..]))
            }
            _ => (name_and_tag, None),
        };
        if let Some(tag) = tag {
            check_tag(tag).map_err(fail)?;
        }
        let (registry, repository) = split_registry(name);
        if let Some(registry) = registry {
            check_registry(registry).map_err(fail)?;
        }
        check_repository(repository).map_err(fail)?;
        Ok(ImageReference {
            registry: registry.map(str::to_string),
            repository: repository.to_string(),
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        })
    }

    /// The reference with its implicit parts made explicit: registry `docker.io` (also for
    /// `index.docker.io`), `library/` for single-component Docker Hub repositories, and the tag
    /// `latest` when neither tag nor digest is given.
    pub fn normalised(&self) -> ImageReference {
        let registry = self.normalised_registry();
        let repository = if self.is_official(registry) {
            format!("{OFFICIAL_NAMESPACE}/{}", self.repository)
        } else {
            self.repository.clone()
        };
        ImageReference {
            registry: Some(registry.to_string()),
            repository,
            tag: self.normalised_tag().map(str::to_string),
            digest: self.digest.clone(),
        }
    }

    /// The normalised name, `registry/repository`, e.g. `docker.io/library/nginx`.
    pub fn normalised_name(&self) -> String {
        let registry = self.normalised_registry();
        let official = self.is_official(registry);
        let mut name = String::with_capacity(
            registry.len() + OFFICIAL_NAMESPACE.len() + self.repository.len() + 2,
        );
        name.push_str(registry);
        name.push('/');
        if official {
            name.push_str(OFFICIAL_NAMESPACE);
            name.push('/');
        }
        name.push_str(&self.repository);
        name
    }

    /// The registry of [`ImageReference::normalised`].
    fn normalised_registry(&self) -> &str {
        match self.registry.as_deref() {
            None | Some(DOCKER_HUB_LEGACY) => DOCKER_HUB,
            Some(other) => other,
        }
    }

    /// Whether the normalised repository gets the `library/` namespace.
    fn is_official(&self, normalised_registry: &str) -> bool {
        normalised_registry == DOCKER_HUB && !self.repository.contains('/')
    }

    /// The tag of [`ImageReference::normalised`].
    pub(crate) fn normalised_tag(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (None, None) => Some(DEFAULT_TAG),
            (tag, _) => tag.as_deref(),
        }
    }

    /// The name as written, `[registry/]repository`.
    pub fn name(&self) -> String {
        match &self.registry {
            Some(registry) => format!("{registry}/{}", self.repository),
            None => self.repository.clone(),
        }
    }

    /// The pieces of the reference as written ([`fmt::Display`]), in order.
    pub(crate) fn text_pieces(&self) -> [&str; 7] {
        let (registry, slash) = match &self.registry {
            Some(registry) => (registry.as_str(), "/"),
            None => ("", ""),
        };
        let (colon, tag) = match &self.tag {
            Some(tag) => (":", tag.as_str()),
            None => ("", ""),
        };
        let (at, digest) = match &self.digest {
            Some(digest) => ("@", digest.as_str()),
            None => ("", ""),
        };
        [registry, slash, &self.repository, colon, tag, at, digest]
    }

    /// The reference as written, like `to_string()` but in one allocation.
    pub(crate) fn text(&self) -> String {
        let pieces = self.text_pieces();
        let mut text = String::with_capacity(pieces.iter().map(|p| p.len()).sum());
        pieces.iter().for_each(|p| text.push_str(p));
        text
    }

    /// Whether two references are written the same (`a.to_string() == b.to_string()`), without
    /// writing them.
    pub(crate) fn same_text(&self, other: &ImageReference) -> bool {
        let (a, b) = (self.text_pieces(), other.text_pieces());
        let len = |pieces: &[&str; 7]| pieces.iter().map(|p| p.len()).sum::<usize>();
        len(&a) == len(&b)
            && a.iter()
                .flat_map(|p| p.bytes())
                .eq(b.iter().flat_map(|p| p.bytes()))
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.text_pieces().iter().try_for_each(|p| f.write_str(p))
    }
}

impl FromStr for ImageReference {
    type Err = ImageReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageReference::parse(s)
    }
}

/// Splits `name` into (registry, repository) as `splitDockerDomain` does: the first component
/// is a registry if there is more than one and it contains `.` or `:`, is `localhost`, or has an
/// uppercase letter.
fn split_registry(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first == "localhost"
                || first.contains(['.', ':'])
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

/// `host[:port]`, host being DNS components or a bracketed IPv6 address.
pub(crate) fn check_registry(registry: &str) -> Result<(), String> {
    let bad =
        || format!("registry `{registry}` is not a host name or address with an optional port");
    let (host_valid, port) = if let Some(rest) = registry.strip_prefix('[') {
        let (address, after) = rest.split_once(']').ok_or_else(bad)?;
        let valid =
            !address.is_empty() && address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
        match after {
            "" => (valid, None),
            _ => (valid, Some(after.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else {
        let (host, port) = match registry.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (registry, None),
        };
        let valid_component = |c: &str| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !c.starts_with('-')
                && !c.ends_with('-')
        };
        (host.split('.').all(valid_component), port)
    };
    let port_valid = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if host_valid && port_valid {
        Ok(())
    } else {
        Err(bad())
    }
}

/// Lowercase path components separated by `/`, each `[a-z0-9]+` runs joined by `.`, `_`, `__`
/// or one or more `-`; at most 255 characters.
pub(crate) fn check_repository(repository: &str) -> Result<(), String> {
    if repository.is_empty() {
        return Err("the repository name is empty".into());
    }
    if repository.len() > PATH_MAX {
        return Err(format!(
            "the repository name is longer than {PATH_MAX} characters"
        ));
    }
    if repository.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!("repository name `{repository}` must be lowercase"));
    }
    for component in repository.split('/') {
        if !valid_path_component(component) {
            return Err(format!(
                "`{component}` in `{repository}` is not a valid path component (lowercase letters \
                 and digits, separated by `.`, `_`, `__` or dashes)"
            ));
        }
    }
    Ok(())
}

fn valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        match bytes[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if bytes.get(i) == Some(&b'_') {
                    i += 1;
                }
            }
            b'-' => {
                while bytes.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

/// `[\w][\w.-]{0,127}`.
pub(crate) fn check_tag(tag: &str) -> Result<(), String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    let valid = !bytes.is_empty()
        && bytes.len() <= 128
        && word(bytes[0])
        && bytes[1..]
            .iter()
            .all(|&b| word(b) || b == b'.' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "tag `{tag}` must be 1 to 128 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`"
        ))
    }
}

/// `algorithm:hex` with an algorithm go-digest supports and its exact length.
fn check_digest(digest: &str) -> Result<(), String> {
    let Some((algorithm, encoded)) = digest.split_once(':') else {
        return Err(format!("digest `{digest}` must be `algorithm:hex`"));
    };
    let length = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => {
            return Err(format!(
                "digest algorithm `{algorithm}` is not supported (sha256, sha384, sha512)"
            ));
        }
    };
    if encoded.len() != length
        || !encoded
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!(
            "digest `{digest}` must have {length} lowercase hexadecimal digits"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SHA: &str = "sha256:2f0a8f7c3a4e1c1d5f0e9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d";

    fn reference(
        registry: Option<&str>,
        repository: &str,
        tag: Option<&str>,
        digest: Option<&str>,
    ) -> ImageReference {
        ImageReference {
            registry: registry.map(str::to_string),
            repository: repository.to_string(),
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        }
    }

    #[test]
    fn parser_table() {
        let digest = format!("busybox@{SHA}");
        let tag_digest = format!("registry.example.com:5000/team/app:v1@{SHA}");
        let cases: Vec<(&str, ImageReference, &str)> = vec![
            (
                "nginx",
                reference(None, "nginx", None, None),
                "docker.io/library/nginx:latest",
            ),
            (
                "nginx:1.25",
                reference(None, "nginx", Some("1.25"), None),
                "docker.io/library/nginx:1.25",
            ),
            (
                "user/app",
                reference(None, "user/app", None, None),
                "docker.io/user/app:latest",
            ),
            (
                "docker.io/nginx",
                reference(Some("docker.io"), "nginx", None, None),
                "docker.io/library/nginx:latest",
            ),
            (
                "index.docker.io/library/nginx:1",
                reference(Some("index.docker.io"), "library/nginx", Some("1"), None),
                "docker.io/library/nginx:1",
            ),
            (
                "localhost/app",
                reference(Some("localhost"), "app", None, None),
                "localhost/app:latest",
            ),
            (
                "localhost:5000/app:v1",
                reference(Some("localhost:5000"), "app", Some("v1"), None),
                "localhost:5000/app:v1",
            ),
            (
                "host:5000/app",
                reference(Some("host:5000"), "app", None, None),
                "host:5000/app:latest",
            ),
            (
                "[::1]:5000/app:v1",
                reference(Some("[::1]:5000"), "app", Some("v1"), None),
                "[::1]:5000/app:v1",
            ),
            (
                "Registry.Example.com/a/b__c.d-e",
                reference(Some("Registry.Example.com"), "a/b__c.d-e", None, None),
                "Registry.Example.com/a/b__c.d-e:latest",
            ),
            (
                &digest,
                reference(None, "busybox", None, Some(SHA)),
                &*Box::leak(format!("docker.io/library/busybox@{SHA}").into_boxed_str()),
            ),
            (
                &tag_digest,
                reference(
                    Some("registry.example.com:5000"),
                    "team/app",
                    Some("v1"),
                    Some(SHA),
                ),
                &tag_digest,
            ),
            // A single component is always a repository, as in Docker: `localhost:5000` is
            // `localhost` tagged `5000`.
            (
                "localhost:5000",
                reference(None, "localhost", Some("5000"), None),
                "docker.io/library/localhost:5000",
            ),
        ];
        for (input, expected, normalised) in cases {
            let parsed = ImageReference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(parsed, expected, "{input}");
            assert_eq!(parsed.to_string(), input, "{input} keeps its written form");
            assert_eq!(parsed.normalised().to_string(), normalised, "{input}");
        }
    }

    #[test]
    fn parser_refuses_what_distribution_refuses() {
        let hex64 = "a".repeat(64);
        let long = format!("{}/app", "a".repeat(255));
        let cases = [
            ("", "empty"),
            ("Nginx", "lowercase"),
            ("team/Nginx:1", "lowercase"),
            ("nginx:", "tag"),
            ("nginx:-1", "tag"),
            ("nginx@sha256:abc", "64 lowercase"),
            (
                "nginx@md5:0123456789abcdef0123456789abcdef",
                "not supported",
            ),
            ("nginx@sha256", "algorithm:hex"),
            ("-nginx", "path component"),
            ("nginx-", "path component"),
            ("a//b", "path component"),
            ("a___b", "path component"),
            ("host:port/app", "registry"),
            ("[zz]:5000/app", "registry"),
            ("-bad.com/app", "registry"),
            (hex64.as_str(), "image id"),
            (long.as_str(), "255"),
        ];
        for (input, reason) in cases {
            let err = ImageReference::parse(input).unwrap_err();
            assert_eq!(err.input, input);
            assert!(err.reason.contains(reason), "{input}: {err}");
        }
    }

    fn arb_reference_text() -> impl Strategy<Value = String> {
        let registry = prop_oneof![
            Just(String::new()),
            prop::sample::select(
                &[
                    "localhost",
                    "localhost:5000",
                    "docker.io",
                    "index.docker.io",
                    "[::1]:5000",
                    "registry.cn-beijing.aliyuncs.com",
                    "192.168.1.10:8443"
                ][..]
            )
            .prop_map(str::to_string),
            "[a-z0-9]{1,5}(\\.[a-z0-9]([a-zA-Z0-9-]{0,3}[a-z0-9])?){1,2}(:[0-9]{1,5})?",
        ];
        let component = "[a-z0-9]{1,4}(([._]|__|-{1,2})[a-z0-9]{1,4}){0,2}";
        // A first component with a `.` would be a registry (as in Docker), so it has none.
        let first = "[a-z0-9]{1,4}((_|__|-{1,2})[a-z0-9]{1,4}){0,2}";
        let repository =
            (first, prop::collection::vec(component, 0..3)).prop_map(|(first, rest)| {
                std::iter::once(first)
                    .chain(rest)
                    .collect::<Vec<_>>()
                    .join("/")
            });
        let tag = prop::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,12}");
        let digest = prop::option::of("[a-f0-9]{64}");
        (registry, repository, tag, digest).prop_map(|(registry, repository, tag, digest)| {
            let mut text = if registry.is_empty() {
                repository
            } else {
                format!("{registry}/{repository}")
            };
            if let Some(tag) = tag {
                text = format!("{text}:{tag}");
            }
            if let Some(digest) = digest {
                text = format!("{text}@sha256:{digest}");
            }
            text
        })
    }

    proptest! {
        #[test]
        fn parser_never_panics(input in "\\PC{0,40}") {
            let _ = ImageReference::parse(&input);
        }

        #[test]
        fn parser_never_panics_on_reference_like_text(input in "[a-zA-Z0-9:/@._\\[\\]-]{0,40}") {
            if let Ok(reference) = ImageReference::parse(&input) {
                prop_assert_eq!(reference.to_string(), input);
                prop_assert_eq!(ImageReference::parse(&reference.to_string()).unwrap(), reference);
            }
        }

        #[test]
        fn valid_references_round_trip(text in arb_reference_text()) {
            let reference = ImageReference::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(reference.to_string(), text);
            prop_assert_eq!(ImageReference::parse(&reference.to_string()).unwrap(), reference.clone());
            let normalised = reference.normalised();
            prop_assert_eq!(ImageReference::parse(&normalised.to_string()).unwrap(), normalised.clone());
            prop_assert_eq!(normalised.normalised(), normalised);
        }
    }
}
