//! Images (R9): changing the container images of restored workloads.
//!
//! [`images`] rewrites the `image` of every container, init container and ephemeral container
//! of core Pods and of every pod template: Deployment, StatefulSet, DaemonSet, ReplicaSet
//! (`apps` and the old `extensions`), ReplicationController, PodTemplate, Job, and CronJob
//! (`spec.jobTemplate.spec.template`). Two kinds of rules come from the restore spec:
//!
//! 1. **Change-image cases** (`restore.change_image_cases`, the FAQ's ConfigMap rows), tried in
//!    order, the first matching case wins:
//!    - `old,new` where both sides are image references: `app1:v1,app2:v2` (that exact image
//!      becomes `app2:v2`), `app1,app2` (repository only: any version of `app1` becomes `app2`
//!      with the same tag and digest), full references
//!      `docker.io/library/app1:v1,registry.cn-beijing.aliyuncs.com/my-registry/app2:v2`. When the
//!      old side names a version (tag or digest) the new side replaces the whole reference;
//!      when it names only the repository, a tag or digest on the new side replaces the
//!      image's version.
//!    - `old:new` without a comma changes the tag only: `v1:v2` turns every `…:v1` into `…:v2`.
//! 2. **Registry mapping** (`restore.image_registry_mapping`, prefix → prefix, e.g.
//!    `docker.io/library/` → `registry.cn-beijing.aliyuncs.com/my-registry/`), applied after the
//!    cases to the image's normalised name; the longest matching prefix wins, and prefixes match
//!    whole path components (`docker.io/lib` does not match `docker.io/library/nginx`). Tag and
//!    digest are kept (a mirror holds the same content).
//!
//! References are compared in normalised form ([`crate::image_reference`]: `nginx` is
//! `docker.io/library/nginx:latest`); digests (`@sha256:…`, also `name:tag@sha256:…`) are kept
//! through repository and registry changes and dropped, with a warning, when a rule changes the
//! tag (a pinned digest would otherwise pull the old content). A rewritten image keeps the
//! user's form where nothing was changed: `nginx` with the tag case `latest:1.27` becomes
//! `nginx:1.27`, not `docker.io/library/nginx:1.27`.
//!
//! **Applied once.** A restore changes an image once. A mapping whose replacement lies under
//! its own prefix (`docker.io/library/` → `docker.io/library/mirror/`) leaves images already
//! under the replacement alone, so a second pass does not map `docker.io/library/mirror/nginx`
//! to `docker.io/library/mirror/mirror/nginx`. Rules that chain otherwise (`app1,app2` then
//! `app2,app3`, a mapping onto another mapping's prefix, a case producing a name another rule
//! rewrites) are refused for the images they would change twice, with an error naming the
//! container and both results: a restore that applies them would not be idempotent.
//!
//! **Velero.** The cases are the format of Velero's `ChangeImageNameAction`
//! (`pkg/restore/actions/change_image_name_action.go`), which csdr follows in format and
//! deviates from in matching: Velero replaces *substrings* of the image string (`app1` also
//! matches `myapp1` and `registry.example.com/app1`; `5000,3000` changes a registry port), tries
//! the ConfigMap's rows in Go's random map order, ignores rows without a comma (so the FAQ's
//! tag-only `v1:v2` does nothing in Velero), and covers only `containers` and `initContainers`
//! of Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers, Jobs and
//! CronJobs. csdr matches normalised references component-wise (change a registry with
//! `image_registry_mapping`), tries cases in order, implements the tag-only case, and also
//! covers ephemeral containers and PodTemplates.
//!
//! ```
//! use csdr_core::model::RestoreSpec;
//! use csdr_core::object::KubeObject;
//! use csdr_core::transform::TransformContext;
//! use csdr_core::transform::images::images;
//! use serde_json::json;
//!
//! let mut spec = RestoreSpec::new("restore-1", "nightly");
//! spec.image_registry_mapping.insert(
//!     "docker.io/library/".into(), "registry.cn-beijing.aliyuncs.com/my-registry/".into());
//! spec.change_image_cases.push("app1:v1,app2:v2".into());
//! let ctx = TransformContext::new(spec);
//! let deploy = KubeObject::new(json!({
//!     "apiVersion": "apps/v1", "kind": "Deployment",
//!     "metadata": {"name": "web", "namespace": "shop"},
//!     "spec": {"template": {"spec": {"containers": [
//!         {"name": "web", "image": "nginx:1.25"},
//!         {"name": "app", "image": "app1:v1"},
//!     ]}}},
//! }))?;
//! let out = images(&ctx, deploy)?.object;
//! assert_eq!(out.pointer("/spec/template/spec/containers/0/image"),
//!            Some(&json!("registry.cn-beijing.aliyuncs.com/my-registry/nginx:1.25")));
//! assert_eq!(out.pointer("/spec/template/spec/containers/1/image"),
//!            Some(&json!("registry.cn-beijing.aliyuncs.com/my-registry/app2:v2")));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde_json::Value;

use crate::image_reference::{
    DOCKER_HUB, DOCKER_HUB_LEGACY, ImageReference, check_registry, check_repository, check_tag,
};
use crate::model::{Issue, ObjectRef, RestoreSpec};
use crate::object::{Fields, KubeObject, set_field};
use crate::transform::{CONTAINER_LISTS, TransformContext, TransformError, Transformed};

/// A change-image rule or registry mapping of the restore spec that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("image rule `{rule}`: {reason}")]
pub struct ImageRuleError {
    /// The rule as written (`app1:v1,app2:v2`, or `prefix → replacement`).
    pub rule: String,
    /// What is wrong and how to write it.
    pub reason: String,
}

/// One change-image case.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ChangeImageCase {
    /// `old,new`.
    Reference {
        text: String,
        old: ImageReference,
        /// `old`'s normalised name.
        old_name: String,
        new: ImageReference,
    },
    /// `oldtag:newtag`.
    Tag {
        text: String,
        old: String,
        new: String,
    },
}

/// One registry prefix mapping, both sides without a trailing `/`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct RegistryMapping {
    text: String,
    /// Normalised prefix (`docker.io/library`).
    prefix: String,
    /// The replacement as written (`registry.cn-beijing.aliyuncs.com/my-registry`).
    replacement: String,
    /// The replacement normalised like a prefix.
    replacement_normalised: String,
}

/// The image rules of a restore, parsed and checked: change-image cases and registry mappings.
///
/// [`images`] reads them from [`TransformContext::image_rules`], which parses them once per
/// context; the planner may call [`ImageRules::from_restore`] to report a malformed rule before
/// anything is restored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageRules {
    cases: Vec<ChangeImageCase>,
    mappings: Vec<RegistryMapping>,
}

/// The outcome of rewriting one image.
struct Rewrite {
    image: ImageReference,
    notes: Vec<String>,
}

impl ImageRules {
    /// Parses `change_image_cases` and `image_registry_mapping` of a restore spec.
    ///
    /// # Errors
    /// [`ImageRuleError`] for the first rule that is not in the FAQ's format or names an
    /// invalid reference, prefix or tag.
    pub fn from_restore(spec: &RestoreSpec) -> Result<Self, ImageRuleError> {
        let cases = spec
            .change_image_cases
            .iter()
            .map(|c| parse_case(c))
            .collect::<Result<_, _>>()?;
        let mappings = spec
            .image_registry_mapping
            .iter()
            .map(|(from, to)| parse_mapping(from, to))
            .collect::<Result<_, _>>()?;
        Ok(ImageRules { cases, mappings })
    }

    /// Whether there is nothing to change.
    pub fn is_empty(&self) -> bool {
        self.cases.is_empty() && self.mappings.is_empty()
    }

    /// One pass of the rules over one image: the first matching case, then the longest matching
    /// mapping. `None` when no rule matches (the image stays as it is).
    fn apply(&self, image: &ImageReference) -> Result<Option<Rewrite>, String> {
        let mut notes = Vec::new();
        let mut name = image.normalised_name();
        let cased = self
            .cases
            .iter()
            .find(|c| c.matches(image, &name))
            .map(|case| case.apply(image, &mut notes));
        let current = match &cased {
            Some(cased) => {
                name = cased.normalised_name();
                cased
            }
            None => image,
        };
        let best = self
            .mappings
            .iter()
            .filter(|m| under(&name, &m.prefix))
            .max_by_key(|m| m.prefix.len());
        let mapped = match best {
            Some(mapping) if !under(&name, &mapping.replacement_normalised) => {
                let rest = &name[mapping.prefix.len()..];
                let pieces = current.text_pieces();
                let mut text = String::with_capacity(
                    mapping.replacement.len()
                        + rest.len()
                        + pieces[3..].iter().map(|p| p.len()).sum::<usize>(),
                );
                text.push_str(&mapping.replacement);
                text.push_str(rest);
                pieces[3..].iter().for_each(|p| text.push_str(p));
                Some(
                    ImageReference::parse(&text)
                        .map_err(|e| format!("registry mapping `{}` produces {e}", mapping.text))?,
                )
            }
            _ => None,
        };
        Ok(mapped.or(cased).map(|image| Rewrite { image, notes }))
    }

    /// Rewrites one image; `Ok(None)` when nothing changes. Refuses rules that would change the
    /// result again on a second pass.
    fn rewrite(&self, image: &ImageReference) -> Result<Option<Rewrite>, String> {
        let Some(once) = self
            .apply(image)?
            .filter(|once| !once.image.same_text(image))
        else {
            return Ok(None);
        };
        if let Some(twice) = self.apply(&once.image)?
            && !twice.image.same_text(&once.image)
        {
            return Err(format!(
                "the image rules change `{image}` to `{}` and would change that again to `{}`; a \
                 restore changes each image once, so combine the chained rules into one",
                once.image, twice.image
            ));
        }
        Ok(Some(once))
    }
}

/// Whether `name` equals `prefix` or lies under it (whole path components).
fn under(name: &str, prefix: &str) -> bool {
    name == prefix || (name.starts_with(prefix) && name.as_bytes().get(prefix.len()) == Some(&b'/'))
}

fn parse_case(text: &str) -> Result<ChangeImageCase, ImageRuleError> {
    let fail = |reason: String| ImageRuleError {
        rule: text.to_string(),
        reason,
    };
    let trimmed = text.trim();
    if let Some((old, new)) = trimmed.split_once(',') {
        let (old, new) = (old.trim(), new.trim());
        let parse = |side: &str| {
            ImageReference::parse(side).map_err(|e| {
                fail(format!(
                    "{e}; a case is `old,new` with image references on both sides"
                ))
            })
        };
        let old = parse(old)?;
        Ok(ChangeImageCase::Reference {
            text: trimmed.to_string(),
            old_name: old.normalised_name(),
            old,
            new: parse(new)?,
        })
    } else if let Some((old, new)) = trimmed.split_once(':') {
        for tag in [old, new] {
            check_tag(tag)
                .map_err(|e| fail(format!("{e}; a case without a comma is `oldtag:newtag`")))?;
        }
        Ok(ChangeImageCase::Tag {
            text: trimmed.to_string(),
            old: old.to_string(),
            new: new.to_string(),
        })
    } else {
        Err(fail(
            "a case is `old,new` (`app1:v1,app2:v2`, `app1,app2`, full references) or \
             `oldtag:newtag` (`v1:v2`)"
                .into(),
        ))
    }
}

/// Normalises a registry prefix: trailing `/` removed, Docker Hub made explicit.
fn normalise_prefix(prefix: &str) -> Result<String, String> {
    let prefix = prefix.trim().trim_end_matches('/');
    if prefix.is_empty() {
        return Err("the prefix is empty".into());
    }
    let (first, rest) = match prefix.split_once('/') {
        Some((first, rest)) => (first, Some(rest)),
        None => (prefix, None),
    };
    let is_registry = first == "localhost"
        || first.contains(['.', ':'])
        || first.bytes().any(|b| b.is_ascii_uppercase());
    let (registry, path) = if is_registry {
        check_registry(first)?;
        let registry = if first == DOCKER_HUB_LEGACY {
            DOCKER_HUB
        } else {
            first
        };
        (registry, rest)
    } else {
        (DOCKER_HUB, Some(prefix))
    };
    match path {
        Some(path) => {
            check_repository(path)?;
            Ok(format!("{registry}/{path}"))
        }
        None => Ok(registry.to_string()),
    }
}

fn parse_mapping(from: &str, to: &str) -> Result<RegistryMapping, ImageRuleError> {
    let text = format!("{from} → {to}");
    let fail = |reason: String| ImageRuleError {
        rule: text.clone(),
        reason: format!(
            "{reason}; a registry mapping is `registry[/namespace]/` → `registry[/namespace]/`"
        ),
    };
    let prefix = normalise_prefix(from).map_err(fail)?;
    let replacement_normalised = normalise_prefix(to).map_err(fail)?;
    Ok(RegistryMapping {
        text: text.clone(),
        prefix,
        replacement: to.trim().trim_end_matches('/').to_string(),
        replacement_normalised,
    })
}

impl ChangeImageCase {
    /// Whether the case matches `image`, whose normalised name is `name`.
    fn matches(&self, image: &ImageReference, name: &str) -> bool {
        match self {
            ChangeImageCase::Tag { old, .. } => image.normalised_tag() == Some(old.as_str()),
            ChangeImageCase::Reference { old, old_name, .. } => {
                old_name == name
                    && (old.tag.is_none() || old.tag.as_deref() == image.normalised_tag())
                    && (old.digest.is_none() || old.digest == image.digest)
            }
        }
    }

    fn apply(&self, image: &ImageReference, notes: &mut Vec<String>) -> ImageReference {
        match self {
            ChangeImageCase::Tag { text, new, .. } => {
                if let Some(digest) = &image.digest {
                    notes.push(format!(
                        "digest {digest} dropped: case `{text}` changes the tag, so the image is \
                         pulled by its new tag"
                    ));
                }
                ImageReference {
                    tag: Some(new.clone()),
                    digest: None,
                    ..image.clone()
                }
            }
            ChangeImageCase::Reference { text, old, new, .. } => {
                let versioned = |r: &ImageReference| r.tag.is_some() || r.digest.is_some();
                let result = if versioned(old) || versioned(new) {
                    new.clone()
                } else {
                    ImageReference {
                        tag: image.tag.clone(),
                        digest: image.digest.clone(),
                        ..new.clone()
                    }
                };
                if let Some(digest) = &image.digest
                    && result.digest.as_ref() != Some(digest)
                {
                    notes.push(format!(
                        "digest {digest} dropped: case `{text}` replaces the image's version"
                    ));
                }
                result
            }
        }
    }
}

/// Where the pod specs of an object are, by group and kind.
fn pod_spec_paths(object: &KubeObject) -> &'static [&'static str] {
    match (object.api_group(), object.kind()) {
        ("", "Pod") => &["spec"],
        ("", "PodTemplate") => &["template", "spec"],
        ("", "ReplicationController")
        | ("apps" | "extensions", "Deployment" | "DaemonSet" | "ReplicaSet")
        | ("apps", "StatefulSet")
        | ("batch", "Job") => &["spec", "template", "spec"],
        ("batch", "CronJob") => &["spec", "jobTemplate", "spec", "template", "spec"],
        _ => &[],
    }
}

/// Applies the restore's change-image cases and registry mappings to every container image of
/// a Pod or pod template: see the [module documentation](self).
///
/// # Errors
/// A [`TransformError`] naming the container and its `image` field when the image is not a
/// valid reference, when a rule is malformed, or when the rules would change the image twice.
/// Objects without pod specs, and all objects when no rules are set, pass through unchanged.
pub fn images(ctx: &TransformContext, object: KubeObject) -> Result<Transformed, TransformError> {
    let path = pod_spec_paths(&object);
    let restore = &ctx.restore;
    if path.is_empty()
        || (restore.change_image_cases.is_empty() && restore.image_registry_mapping.is_empty())
    {
        return Ok(Transformed::unchanged(object));
    }
    let rules = ctx.image_rules();
    let mut object = object;
    let mut warnings = Vec::new();

    // Collect the images first, rewrite them, then write them back.
    let mut changes: Vec<(&'static str, usize, String)> = Vec::new();
    {
        let mut spec = object.fields().field(path[0]);
        for key in &path[1..] {
            spec = spec.and_then(|v| v.field(key));
        }
        for list in CONTAINER_LISTS {
            let Some(containers) = spec.and_then(|s| s.field(list)).and_then(Value::as_array)
            else {
                continue;
            };
            for (i, container) in containers.iter().enumerate() {
                let Some(image) = container.field("image").and_then(Value::as_str) else {
                    continue;
                };
                if image.is_empty() {
                    continue;
                }
                let container_name = container
                    .field("name")
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                let fail = |reason: String| {
                    TransformError::new(
                        &object,
                        format!("{}.{list}[{i}].image", path.join(".")),
                        format!("container `{container_name}`: {reason}"),
                    )
                };
                let rules = rules
                    .as_ref()
                    .map_err(|e| fail(format!("{e}; fix the restore's image rules")))?;
                let reference = ImageReference::parse(image).map_err(|e| {
                    fail(format!(
                        "{e}; the image rules cannot be applied to it — fix the image in the \
                         backed-up object or exclude it from the restore"
                    ))
                })?;
                if let Some(rewrite) = rules.rewrite(&reference).map_err(fail)? {
                    for note in rewrite.notes {
                        warnings.push(Issue::about(
                            ObjectRef::of(&object),
                            format!(
                                "{}: container `{container_name}` image `{image}` → `{}`: {note}",
                                object.describe(),
                                rewrite.image
                            ),
                        ));
                    }
                    changes.push((list, i, rewrite.image.text()));
                }
            }
        }
    }

    let mut changed = false;
    let mut spec = object.fields_mut().field_mut(path[0]);
    for key in &path[1..] {
        spec = spec.and_then(|v| v.field_mut(key));
    }
    if let Some(spec) = spec {
        for (list, i, image) in changes {
            if let Some(Value::Object(container)) = spec.field_mut(list).and_then(|l| l.get_mut(i))
            {
                changed |= set_field(container, "image", Value::String(image));
            }
        }
    }
    Ok(Transformed {
        object,
        warnings,
        changed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::testing::{
        arb_body_with_pod_specs, arb_kube_object, assert_transformation_laws,
    };
    use proptest::prelude::*;
    use serde_json::json;
    use std::borrow::Cow;

    const SHA: &str = "sha256:2f0a8f7c3a4e1c1d5f0e9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d";

    fn ctx(mapping: &[(&str, &str)], cases: &[&str]) -> TransformContext {
        let mut spec = RestoreSpec::new("restore-1", "nightly");
        for (from, to) in mapping {
            spec.image_registry_mapping
                .insert(from.to_string(), to.to_string());
        }
        spec.change_image_cases = cases.iter().map(|c| c.to_string()).collect();
        TransformContext::new(spec)
    }

    fn pod(images: &[&str]) -> KubeObject {
        let containers: Vec<Value> = images
            .iter()
            .enumerate()
            .map(|(i, image)| json!({"name": format!("c{i}"), "image": image, "ports": [{"containerPort": 80}]}))
            .collect();
        KubeObject::new(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"containers": containers, "restartPolicy": "Always"}})).unwrap()
    }

    fn container_images(object: &KubeObject, pointer: &str) -> Vec<String> {
        object
            .pointer(pointer)
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .map(|c| c["image"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn the_rules_are_parsed_once_per_context_and_follow_changes_to_the_spec() {
        let mut c = ctx(&[("docker.io/library/", "mirror.example.com/lib/")], &[]);
        let out = images(&c, pod(&["nginx:1.25"])).unwrap();
        assert!(out.changed);
        assert_eq!(
            container_images(&out.object, "/spec/containers"),
            ["mirror.example.com/lib/nginx:1.25"]
        );
        assert!(matches!(c.image_rules(), Ok(Cow::Borrowed(_))));
        // The spec changed after the first use: the new rules apply, not the parsed ones.
        c.restore.image_registry_mapping.clear();
        c.restore.change_image_cases.push("1.25:1.27".into());
        let out = images(&c, pod(&["nginx:1.25"])).unwrap();
        assert_eq!(
            container_images(&out.object, "/spec/containers"),
            ["nginx:1.27"]
        );
        assert_eq!(
            c.image_rules().unwrap().into_owned(),
            ImageRules::from_restore(&c.restore).unwrap()
        );
        // A clone carries what was parsed; comparisons ignore it.
        let fresh = ctx(&[], &["1.25:1.27"]);
        assert_eq!(c.clone(), fresh);
    }

    #[test]
    fn a_malformed_rule_is_reported_for_every_object_with_images() {
        let c = ctx(&[], &["not a case"]);
        let expected = ImageRules::from_restore(&c.restore).unwrap_err();
        assert_eq!(c.image_rules().unwrap_err(), expected);
        for _ in 0..2 {
            let err = images(&c, pod(&["nginx"])).unwrap_err();
            assert_eq!(err.field, "spec.containers[0].image");
            assert_eq!(
                err.reason,
                format!("container `c0`: {expected}; fix the restore's image rules")
            );
        }
        // Objects without images are not concerned.
        let cm = KubeObject::new(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}),
        )
        .unwrap();
        assert!(!images(&c, cm).unwrap().changed);
    }

    /// (rules, input image, expected image, warnings)
    #[test]
    fn rules_table() {
        const FAQ_MAPPING: &[(&str, &str)] = &[(
            "docker.io/library/",
            "registry.cn-beijing.aliyuncs.com/my-registry/",
        )];
        let digest = |s: &str| s.replace("SHA", SHA);
        type Case = (
            &'static str,
            &'static [(&'static str, &'static str)],
            &'static [&'static str],
            &'static str,
            &'static str,
            usize,
        );
        let cases: Vec<Case> = vec![
            (
                "FAQ mapping, familiar name",
                FAQ_MAPPING,
                &[],
                "nginx",
                "registry.cn-beijing.aliyuncs.com/my-registry/nginx",
                0,
            ),
            (
                "FAQ mapping, explicit name",
                FAQ_MAPPING,
                &[],
                "docker.io/library/nginx:1.25",
                "registry.cn-beijing.aliyuncs.com/my-registry/nginx:1.25",
                0,
            ),
            (
                "FAQ mapping, legacy hub name",
                FAQ_MAPPING,
                &[],
                "index.docker.io/library/redis:7",
                "registry.cn-beijing.aliyuncs.com/my-registry/redis:7",
                0,
            ),
            (
                "FAQ mapping keeps tag and digest",
                FAQ_MAPPING,
                &[],
                "nginx:1.25@SHA",
                "registry.cn-beijing.aliyuncs.com/my-registry/nginx:1.25@SHA",
                0,
            ),
            (
                "FAQ mapping: not an official image",
                FAQ_MAPPING,
                &[],
                "bitnami/redis:7.2",
                "bitnami/redis:7.2",
                0,
            ),
            (
                "FAQ mapping: registry with port untouched",
                FAQ_MAPPING,
                &[],
                "localhost:5000/nginx:v1",
                "localhost:5000/nginx:v1",
                0,
            ),
            (
                "mapping a registry with a port",
                &[(
                    "registry.example.com:5000",
                    "registry.cn-hangzhou.aliyuncs.com",
                )],
                &[],
                "registry.example.com:5000/team/app:v1",
                "registry.cn-hangzhou.aliyuncs.com/team/app:v1",
                0,
            ),
            (
                "prefixes match whole components",
                &[("docker.io/lib", "x.example.com")],
                &[],
                "nginx",
                "nginx",
                0,
            ),
            (
                "longest prefix wins",
                &[
                    ("docker.io/", "mirror.example.com/hub/"),
                    ("docker.io/library/", "mirror.example.com/official/"),
                ],
                &[],
                "nginx:1.25",
                "mirror.example.com/official/nginx:1.25",
                0,
            ),
            (
                "shorter prefix for the rest",
                &[
                    ("docker.io/", "mirror.example.com/hub/"),
                    ("docker.io/library/", "mirror.example.com/official/"),
                ],
                &[],
                "bitnami/redis",
                "mirror.example.com/hub/bitnami/redis",
                0,
            ),
            (
                "replacement under its prefix maps once",
                &[("docker.io/library/", "docker.io/library/mirror/")],
                &[],
                "nginx",
                "docker.io/library/mirror/nginx",
                0,
            ),
            (
                "…and leaves mapped images alone",
                &[("docker.io/library/", "docker.io/library/mirror/")],
                &[],
                "docker.io/library/mirror/nginx:1.25",
                "docker.io/library/mirror/nginx:1.25",
                0,
            ),
            (
                "case name:tag",
                &[],
                &["app1:v1,app2:v2"],
                "app1:v1",
                "app2:v2",
                0,
            ),
            (
                "case name:tag, normalised match",
                &[],
                &["app1:v1,app2:v2"],
                "docker.io/library/app1:v1",
                "app2:v2",
                0,
            ),
            (
                "case name:tag, other tag untouched",
                &[],
                &["app1:v1,app2:v2"],
                "app1:v2",
                "app1:v2",
                0,
            ),
            (
                "case name:tag, other registry untouched (Velero would change it)",
                &[],
                &["app1:v1,app2:v2"],
                "registry.example.com/app1:v1",
                "registry.example.com/app1:v1",
                0,
            ),
            (
                "case name:tag, no substring match (Velero would change it)",
                &[],
                &["app1:v1,app2:v2"],
                "myapp1:v1",
                "myapp1:v1",
                0,
            ),
            (
                "case name:tag, digest dropped",
                &[],
                &["app1:v1,app2:v2"],
                "app1:v1@SHA",
                "app2:v2",
                1,
            ),
            (
                "case repository only keeps the tag",
                &[],
                &["app1,app2"],
                "app1:v3",
                "app2:v3",
                0,
            ),
            (
                "case repository only keeps no tag",
                &[],
                &["app1,app2"],
                "app1",
                "app2",
                0,
            ),
            (
                "case repository only keeps the digest",
                &[],
                &["app1,app2"],
                "app1@SHA",
                "app2@SHA",
                0,
            ),
            (
                "case repository only, new tag",
                &[],
                &["app1,app2:v9"],
                "app1:v3@SHA",
                "app2:v9",
                1,
            ),
            ("case tag only", &[], &["v1:v2"], "app:v1", "app:v2", 0),
            (
                "case tag only, registry port is not a tag",
                &[],
                &["v1:v2"],
                "host:5000/app:v1",
                "host:5000/app:v2",
                0,
            ),
            (
                "case tag only, registry port untouched",
                &[],
                &["5000:6000"],
                "host:5000/app",
                "host:5000/app",
                0,
            ),
            (
                "case tag only, implicit latest",
                &[],
                &["latest:1.27"],
                "nginx",
                "nginx:1.27",
                0,
            ),
            (
                "case tag only, digest dropped",
                &[],
                &["v1:v2"],
                "app:v1@SHA",
                "app:v2",
                1,
            ),
            (
                "case tag only, digest-only untouched",
                &[],
                &["latest:v2"],
                "app@SHA",
                "app@SHA",
                0,
            ),
            (
                "case full references",
                &[],
                &["docker.io/library/app1:v1,registry.cn-beijing.aliyuncs.com/my-registry/app2:v2"],
                "app1:v1",
                "registry.cn-beijing.aliyuncs.com/my-registry/app2:v2",
                0,
            ),
            (
                "case with spaces",
                &[],
                &[" app1:v1 , app2:v2 "],
                "app1:v1",
                "app2:v2",
                0,
            ),
            (
                "cases in order, first wins",
                &[],
                &["app1:v1,app2:v2", "app1,app3"],
                "app1:v1",
                "app2:v2",
                0,
            ),
            (
                "cases in order, second for the rest",
                &[],
                &["app1:v1,app2:v2", "app1,app3"],
                "app1:v5",
                "app3:v5",
                0,
            ),
            (
                "case then mapping",
                FAQ_MAPPING,
                &["app1:v1,app2:v2"],
                "app1:v1",
                "registry.cn-beijing.aliyuncs.com/my-registry/app2:v2",
                0,
            ),
            (
                "case to another registry is not mapped again",
                FAQ_MAPPING,
                &["docker.io/library/app1:v1,registry.cn-beijing.aliyuncs.com/my-registry/app2:v2"],
                "app1:v1",
                "registry.cn-beijing.aliyuncs.com/my-registry/app2:v2",
                0,
            ),
        ];
        for (name, mapping, rules, input, expected, warnings) in cases {
            let (input, expected) = (digest(input), digest(expected));
            let out = images(&ctx(mapping, rules), pod(&[&input]))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                container_images(&out.object, "/spec/containers"),
                vec![expected.clone()],
                "{name}"
            );
            assert_eq!(out.warnings.len(), warnings, "{name}: {:?}", out.warnings);
            // Applying again changes nothing.
            let again = images(&ctx(mapping, rules), out.object.clone()).unwrap();
            assert_eq!(again.object, out.object, "{name}: idempotent");
        }
    }

    #[test]
    fn every_pod_template_and_container_list() {
        let ctx = ctx(
            &[(
                "docker.io/library/",
                "registry.cn-beijing.aliyuncs.com/my-registry/",
            )],
            &[],
        );
        let lists = json!({
            "containers": [{"name": "web", "image": "nginx:1.25"}],
            "initContainers": [{"name": "init", "image": "busybox:1.36"}],
            "ephemeralContainers": [{"name": "debug", "image": "busybox"}]
        });
        let expected = [
            "registry.cn-beijing.aliyuncs.com/my-registry/nginx:1.25",
            "registry.cn-beijing.aliyuncs.com/my-registry/busybox:1.36",
            "registry.cn-beijing.aliyuncs.com/my-registry/busybox",
        ];
        let template = json!({"metadata": {"labels": {"app": "web"}}, "spec": lists});
        let objects = [
            (
                json!({"apiVersion": "v1", "kind": "Pod", "spec": lists}),
                "/spec",
            ),
            (
                json!({"apiVersion": "v1", "kind": "PodTemplate", "template": template}),
                "/template/spec",
            ),
            (
                json!({"apiVersion": "v1", "kind": "ReplicationController", "spec": {"replicas": 1, "template": template}}),
                "/spec/template/spec",
            ),
            (
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": template}}),
                "/spec/template/spec",
            ),
            (
                json!({"apiVersion": "extensions/v1beta1", "kind": "Deployment", "spec": {"template": template}}),
                "/spec/template/spec",
            ),
            (
                json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "spec": {"serviceName": "web", "template": template}}),
                "/spec/template/spec",
            ),
            (
                json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "spec": {"template": template}}),
                "/spec/template/spec",
            ),
            (
                json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "spec": {"template": template}}),
                "/spec/template/spec",
            ),
            (
                json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {"backoffLimit": 4, "template": template}}),
                "/spec/template/spec",
            ),
            (
                json!({"apiVersion": "batch/v1", "kind": "CronJob", "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}}}),
                "/spec/jobTemplate/spec/template/spec",
            ),
        ];
        for (mut value, path) in objects {
            value["metadata"] = json!({"name": "web", "namespace": "shop"});
            let kind = value["kind"].as_str().unwrap().to_string();
            let out = images(&ctx, KubeObject::new(value).unwrap())
                .unwrap()
                .object;
            for (list, image) in ["containers", "initContainers", "ephemeralContainers"]
                .iter()
                .zip(expected)
            {
                assert_eq!(
                    container_images(&out, &format!("{path}/{list}")),
                    vec![image.to_string()],
                    "{kind} {list}"
                );
            }
        }
        // Not a workload, or a workload kind of another group: untouched.
        for value in [
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": lists}),
            json!({"apiVersion": "example.com/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"template": template}}),
        ] {
            let object = KubeObject::new(value).unwrap();
            assert_eq!(images(&ctx, object.clone()).unwrap().object, object);
        }
    }

    #[test]
    fn errors_name_the_container_and_field() {
        // Invalid image, with rules set.
        let err = images(
            &ctx(&[("docker.io/library/", "r.example.com/lib/")], &[]),
            pod(&["nginx", "Nginx:Latest"]),
        )
        .unwrap_err();
        assert_eq!(err.field, "spec.containers[1].image");
        assert!(err.reason.contains("container `c1`"), "{err}");
        assert!(err.reason.contains("Nginx:Latest"), "{err}");
        assert_eq!(err.object.name, "web");
        // Without rules, images are not looked at.
        let object = pod(&["Nginx:Latest"]);
        assert_eq!(
            images(&ctx(&[], &[]), object.clone()).unwrap().object,
            object
        );

        // Chained cases: app1 → app2 → app3 would not be idempotent.
        let chained = ctx(&[], &["app1,app2", "app2,app3"]);
        let err = images(&chained, pod(&["app1:v1"])).unwrap_err();
        assert_eq!(err.field, "spec.containers[0].image");
        assert!(
            err.reason.contains("`app1:v1` to `app2:v1`") && err.reason.contains("`app3:v1`"),
            "{err}"
        );
        // The second case alone is fine for images it changes once.
        let out = images(&chained, pod(&["app2:v1"])).unwrap();
        assert_eq!(
            container_images(&out.object, "/spec/containers"),
            vec!["app3:v1"]
        );

        // A mapping onto another mapping's prefix.
        let err = images(
            &ctx(
                &[
                    ("a.example.com", "b.example.com"),
                    ("b.example.com", "c.example.com"),
                ],
                &[],
            ),
            pod(&["a.example.com/app"]),
        )
        .unwrap_err();
        assert!(err.reason.contains("combine"), "{err}");

        // Malformed rules.
        for (mapping, cases, needle) in [
            (&[][..], &["app1"][..], "`old,new`"),
            (&[][..], &["app1:v1,Bad"][..], "lowercase"),
            (&[][..], &["v1:v2:v3"][..], "oldtag:newtag"),
            (&[("docker.io/library/", "")][..], &[][..], "empty"),
            (
                &[("Bad Prefix/", "x.example.com/")][..],
                &[][..],
                "registry mapping",
            ),
        ] {
            let err = images(&ctx(mapping, cases), pod(&["nginx"])).unwrap_err();
            assert!(err.reason.contains(needle), "{needle}: {err}");
            assert!(err.reason.contains("container `c0`"), "{err}");
            assert!(ImageRules::from_restore(&ctx(mapping, cases).restore).is_err());
        }
    }

    #[test]
    fn digest_warning_names_the_object_and_container() {
        let out = images(&ctx(&[], &["v1:v2"]), pod(&[&format!("app:v1@{SHA}")])).unwrap();
        let warning = &out.warnings[0];
        assert_eq!(
            warning.object.as_ref().map(|o| o.name.as_str()),
            Some("web")
        );
        assert!(
            warning.message.contains("container `c0`") && warning.message.contains("digest"),
            "{}",
            warning.message
        );
    }

    const TYPES: &[(&str, &str)] = &[
        ("v1", "Pod"),
        ("v1", "PodTemplate"),
        ("apps/v1", "Deployment"),
        ("apps/v1", "StatefulSet"),
        ("batch/v1", "Job"),
        ("batch/v1", "CronJob"),
        ("v1", "Service"),
        ("example.com/v1", "Deployment"),
    ];

    fn owned_paths(kind: &str, api_version: &str) -> Vec<String> {
        let object = KubeObject::new(
            json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}}),
        )
        .unwrap();
        let prefix: String = pod_spec_paths(&object)
            .iter()
            .map(|k| format!("/{k}"))
            .collect();
        if prefix.is_empty() {
            return Vec::new();
        }
        CONTAINER_LISTS
            .iter()
            .map(|l| format!("{prefix}/{l}/*/image"))
            .collect()
    }

    proptest! {
        #[test]
        fn laws_hold_on_arbitrary_objects(
            object in arb_kube_object(TYPES, arb_body_with_pod_specs()),
            rules in 0..3usize,
        ) {
            let ctx = match rules {
                0 => ctx(&[("docker.io/library/", "registry.cn-beijing.aliyuncs.com/my-registry/")], &["app1:v1,app2:v2", "v1:v2"]),
                1 => ctx(&[("docker.io/library/", "docker.io/library/mirror/"), ("localhost:5000", "registry.example.com:5000")], &["app1,app2", "latest:stable"]),
                _ => ctx(&[("docker.io/", "mirror.example.com/hub/")], &["app1,app2", "app2,app3", "1.25:1.26"]),
            };
            let owned = owned_paths(object.kind(), object.api_version());
            let owned: Vec<&str> = owned.iter().map(String::as_str).collect();
            assert_transformation_laws(images, &ctx, object, &owned);
        }
    }
}
