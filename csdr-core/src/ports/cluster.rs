//! The `Cluster` port: what the engine needs from a Kubernetes API server.
//!
//! Implemented by `csdr_kube::KubeCluster` (a real API server through `kube`) and by the
//! core's simulated cluster. Objects cross it as [`KubeObject`]s at an explicit
//! [`GroupVersionResource`], so the engine can read one object at every version the server
//! serves (B5) and write it at the version the planner chose (R2).
//!
//! ```
//! use csdr_core::object::GroupVersionResource;
//! use csdr_core::ports::cluster::Cluster;
//! use csdr_core::releases::KubeRelease;
//! use csdr_core::sim::SimCluster;
//! use futures::StreamExt;
//!
//! # futures::executor::block_on(async {
//! let cluster = SimCluster::new(KubeRelease::V1_28);
//! let namespaces = GroupVersionResource::new("", "v1", "namespaces");
//! // Every object of a resource, page by page.
//! let names: Vec<String> = cluster
//!     .list(&namespaces, None, None, 2)
//!     .map(|ns| ns.map(|o| o.name().to_string()))
//!     .collect::<Vec<_>>()
//!     .await
//!     .into_iter()
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(names, ["default", "kube-node-lease", "kube-public", "kube-system"]);
//! # Ok::<(), csdr_core::ports::cluster::ClusterError>(()) })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use serde_json::Value;

use crate::discovery::Discovery;
use crate::object::{GroupVersionResource, KubeObject};

/// Why a cluster call failed. `what` names the object or resource concerned
/// (`deployments.apps shop/web`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The object or resource does not exist.
    #[error("{what} not found")]
    NotFound {
        /// The object or resource.
        what: String,
    },
    /// An object with that name already exists.
    #[error("{what} already exists")]
    AlreadyExists {
        /// The object.
        what: String,
    },
    /// The server rejected the object as invalid.
    #[error("{what} is invalid: {reason}")]
    Invalid {
        /// The object.
        what: String,
        /// The server's reason, naming the field where it does.
        reason: String,
    },
    /// A write conflicted with a concurrent change (stale resourceVersion).
    #[error("conflict writing {what}: {reason}")]
    Conflict {
        /// The object.
        what: String,
        /// The server's reason.
        reason: String,
    },
    /// The caller may not do this.
    #[error("forbidden: {what}: {reason}")]
    Forbidden {
        /// The object or resource.
        what: String,
        /// The server's reason.
        reason: String,
    },
    /// A list's continue token (or a watch's resourceVersion) is too old (HTTP 410).
    #[error("list of {what} expired: {reason}")]
    Gone {
        /// The resource being listed.
        what: String,
        /// The server's reason.
        reason: String,
        /// The token the server offers to continue an expired list with (the API server's
        /// "inconsistent continuation": the rest of the list at the latest state, in the same
        /// key order). `None` when the server offers none, or for a watch.
        continue_token: Option<String>,
    },
    /// A wait ran out of time.
    #[error("timed out after {timeout:?} waiting for {what} to be {condition}")]
    Timeout {
        /// The object waited for.
        what: String,
        /// The condition, e.g. `Bound`.
        condition: String,
        /// How long it waited.
        timeout: Duration,
    },
    /// The server could not be reached or asked to retry (429, 5xx, network); transient.
    #[error("cluster unavailable: {reason}")]
    Unavailable {
        /// What happened.
        reason: String,
    },
    /// The cluster returned something the adapter could not use.
    #[error("unexpected answer from the cluster about {what}: {reason}")]
    Protocol {
        /// The object or resource.
        what: String,
        /// What was wrong.
        reason: String,
    },
}

impl ClusterError {
    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, ClusterError::Unavailable { .. })
    }
}

/// An object as the JSON text of its manifest, with the names that place it: what
/// [`Cluster::create_text_unread`] sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectText<'a> {
    /// The object's namespace (`None` when cluster-scoped).
    pub namespace: Option<&'a str>,
    /// The object's name.
    pub name: &'a str,
    /// The whole object as JSON text (a JSON object with `apiVersion`, `kind` and
    /// `metadata`), as it is to be stored.
    pub json: Bytes,
}

impl ObjectText<'_> {
    /// The text parsed into an object.
    ///
    /// # Errors
    /// [`ClusterError::Invalid`] naming the object when the text is not an object's JSON.
    pub fn parse(&self) -> Result<KubeObject, ClusterError> {
        let what = || match self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.to_string(),
        };
        serde_json::from_slice::<Value>(&self.json)
            .map_err(|e| e.to_string())
            .and_then(|v| KubeObject::new(v).map_err(|e| e.to_string()))
            .map_err(|reason| ClusterError::Invalid {
                what: what(),
                reason: format!("its JSON text does not parse: {reason}"),
            })
    }
}

/// Options of a list call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// A label selector in Kubernetes syntax.
    pub label_selector: Option<String>,
    /// Page size; `None` lets the server choose.
    pub limit: Option<u32>,
    /// The continue token of the previous page.
    pub continue_token: Option<String>,
}

/// One page of a list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObjectPage {
    /// The objects, each with `apiVersion` and `kind` filled in.
    pub items: Vec<KubeObject>,
    /// The token for the next page; `None` on the last page.
    pub continue_token: Option<String>,
}

/// A state to wait for (R3, R12).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WaitCondition {
    /// A CustomResourceDefinition whose `Established` condition is `True`.
    Established,
    /// A PersistentVolumeClaim whose `status.phase` is `Bound`.
    Bound,
    /// A VolumeSnapshot whose `status.readyToUse` is `true`.
    ReadyToUse,
}

impl WaitCondition {
    /// Whether an object is in the state.
    pub fn is_met(self, obj: &KubeObject) -> bool {
        match self {
            WaitCondition::Established => obj
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|conds| {
                    conds.iter().any(|c| {
                        c.get("type").and_then(Value::as_str) == Some("Established")
                            && c.get("status").and_then(Value::as_str) == Some("True")
                    })
                }),
            WaitCondition::Bound => {
                obj.pointer("/status/phase").and_then(Value::as_str) == Some("Bound")
            }
            WaitCondition::ReadyToUse => {
                obj.pointer("/status/readyToUse").and_then(Value::as_bool) == Some(true)
            }
        }
    }

    /// The condition's name for messages.
    pub fn name(self) -> &'static str {
        match self {
            WaitCondition::Established => "Established",
            WaitCondition::Bound => "Bound",
            WaitCondition::ReadyToUse => "ReadyToUse",
        }
    }
}

/// A Kubernetes API server as the engine sees it.
#[async_trait]
pub trait Cluster: Send + Sync {
    /// Every group, version and resource the server serves.
    async fn discover(&self) -> Result<Discovery, ClusterError>;

    /// One page of objects of a resource at a version, in one namespace or (`None`) in all
    /// namespaces / cluster-wide.
    async fn list_page(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        options: &ListOptions,
    ) -> Result<ObjectPage, ClusterError>;

    /// One object, or `None` if it does not exist.
    async fn get(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<KubeObject>, ClusterError>;

    /// Creates an object (its namespace is taken from the object); returns it as stored.
    async fn create(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<KubeObject, ClusterError>;

    /// Creates an object like [`Self::create`] and only says whether it was created: for a
    /// caller that does not read the stored object back (a restore's creates, R13), so that
    /// an adapter can skip decoding the answer. The errors are [`Self::create`]'s.
    async fn create_unread(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<(), ClusterError> {
        self.create(gvr, object).await.map(|_| ())
    }

    /// Creates an object given as JSON text, like [`Self::create_unread`]: for a caller that
    /// holds the object as text already (a restore's spooled final objects, R13), so that an
    /// adapter can send the text as it is instead of parsing it and writing it out again. The
    /// default parses the text ([`ObjectText::parse`]) and calls [`Self::create_unread`].
    /// The errors are [`Self::create`]'s.
    async fn create_text_unread(
        &self,
        gvr: &GroupVersionResource,
        object: &ObjectText<'_>,
    ) -> Result<(), ClusterError> {
        let parsed = object.parse()?;
        self.create_unread(gvr, &parsed).await
    }

    /// Replaces an object; returns it as stored.
    async fn update(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<KubeObject, ClusterError>;

    /// Applies a JSON merge patch (RFC 7386) to an object; returns it as stored.
    async fn patch_merge(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> Result<KubeObject, ClusterError>;

    /// Deletes an object.
    async fn delete(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(), ClusterError>;

    /// Waits until an object meets a condition, or fails with [`ClusterError::Timeout`].
    async fn wait_for(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
        condition: WaitCondition,
        timeout: Duration,
    ) -> Result<KubeObject, ClusterError>;

    /// Sends a create with `dryRun=All` (server-side dry run): the server runs every check a
    /// create meets — validation, admission webhooks, quota, a missing namespace or CRD, an
    /// existing name ([`ClusterError::AlreadyExists`]) — and stores nothing; returns the
    /// object as it would be stored. Adapters that cannot dry-run answer
    /// [`ClusterError::Protocol`] saying so.
    async fn dry_run_create(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<KubeObject, ClusterError> {
        let _ = gvr;
        Err(dry_run_unsupported(object))
    }

    /// Sends a replace with `dryRun=All`: every check an update meets (immutable fields,
    /// validation, admission) runs and nothing is stored. The object carries the
    /// `resourceVersion` it replaces.
    async fn dry_run_update(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<KubeObject, ClusterError> {
        let _ = gvr;
        Err(dry_run_unsupported(object))
    }

    /// Every object of a resource at a version as a stream, page by page (`page_size` per
    /// request).
    ///
    /// **When the continue token expires** (HTTP 410 while the cluster changes under a long
    /// list), the list goes on with the continue token the 410 carries: the API server's
    /// *inconsistent continuation*, which yields the rest of the list in the same key order at
    /// the latest state. Every object that existed for the whole list is yielded exactly once;
    /// objects created or deleted meanwhile may or may not be. Restarting from the beginning
    /// instead would yield objects twice (or, skipping as many as were already yielded, drop
    /// some). A 410 that carries no token ends the list with [`ClusterError::Gone`] unless
    /// nothing was yielded yet, in which case the list starts over once.
    fn list<'a>(
        &'a self,
        gvr: &'a GroupVersionResource,
        namespace: Option<&'a str>,
        label_selector: Option<&'a str>,
        page_size: u32,
    ) -> BoxStream<'a, Result<KubeObject, ClusterError>> {
        struct State {
            token: Option<String>,
            done: bool,
            restarted: bool,
            yielded: bool,
        }
        let start = State {
            token: None,
            done: false,
            restarted: false,
            yielded: false,
        };
        stream::unfold(start, move |mut st| async move {
            loop {
                if st.done {
                    return None;
                }
                let options = ListOptions {
                    label_selector: label_selector.map(str::to_string),
                    limit: Some(page_size.max(1)),
                    continue_token: st.token.clone(),
                };
                match self.list_page(gvr, namespace, &options).await {
                    Ok(page) => {
                        st.token = page.continue_token.filter(|t| !t.is_empty());
                        st.done = st.token.is_none();
                        st.yielded |= !page.items.is_empty();
                        let out: Vec<_> = page.items.into_iter().map(Ok).collect();
                        if out.is_empty() && !st.done {
                            continue;
                        }
                        return Some((stream::iter(out), st));
                    }
                    Err(ClusterError::Gone {
                        continue_token: Some(token),
                        ..
                    }) if st.token.is_some() && !token.is_empty() => {
                        st.token = Some(token);
                    }
                    Err(ClusterError::Gone { .. }) if !st.yielded && !st.restarted => {
                        st.restarted = true;
                        st.token = None;
                    }
                    Err(e) => {
                        st.done = true;
                        return Some((stream::iter(vec![Err(e)]), st));
                    }
                }
            }
        })
        .flatten()
        .boxed()
    }
}

/// What an adapter without server-side dry run answers.
fn dry_run_unsupported(object: &KubeObject) -> ClusterError {
    ClusterError::Protocol {
        what: object.describe(),
        reason: "this cluster adapter does not support server-side dry run (dryRun=All)".into(),
    }
}

/// A shared cluster is a cluster: the engine and a snapshotter can use one connection.
#[async_trait]
impl<T: Cluster + ?Sized> Cluster for std::sync::Arc<T> {
    async fn discover(&self) -> Result<Discovery, ClusterError> {
        (**self).discover().await
    }
    async fn list_page(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        options: &ListOptions,
    ) -> Result<ObjectPage, ClusterError> {
        (**self).list_page(gvr, namespace, options).await
    }
    async fn get(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<KubeObject>, ClusterError> {
        (**self).get(gvr, namespace, name).await
    }
    async fn create(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<KubeObject, ClusterError> {
        (**self).create(gvr, object).await
    }
    async fn create_unread(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<(), ClusterError> {
        (**self).create_unread(gvr, object).await
    }
    async fn create_text_unread(
        &self,
        gvr: &GroupVersionResource,
        object: &ObjectText<'_>,
    ) -> Result<(), ClusterError> {
        (**self).create_text_unread(gvr, object).await
    }
    async fn update(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<KubeObject, ClusterError> {
        (**self).update(gvr, object).await
    }
    async fn patch_merge(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> Result<KubeObject, ClusterError> {
        (**self).patch_merge(gvr, namespace, name, patch).await
    }
    async fn delete(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(), ClusterError> {
        (**self).delete(gvr, namespace, name).await
    }
    async fn wait_for(
        &self,
        gvr: &GroupVersionResource,
        namespace: Option<&str>,
        name: &str,
        condition: WaitCondition,
        timeout: Duration,
    ) -> Result<KubeObject, ClusterError> {
        (**self)
            .wait_for(gvr, namespace, name, condition, timeout)
            .await
    }
    async fn dry_run_create(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<KubeObject, ClusterError> {
        (**self).dry_run_create(gvr, object).await
    }
    async fn dry_run_update(
        &self,
        gvr: &GroupVersionResource,
        object: &KubeObject,
    ) -> Result<KubeObject, ClusterError> {
        (**self).dry_run_update(gvr, object).await
    }
    fn list<'a>(
        &'a self,
        gvr: &'a GroupVersionResource,
        namespace: Option<&'a str>,
        label_selector: Option<&'a str>,
        page_size: u32,
    ) -> BoxStream<'a, Result<KubeObject, ClusterError>> {
        (**self).list(gvr, namespace, label_selector, page_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Mutex;

    /// Pages of `page_size` over 0..n ConfigMaps; the continue token is the offset. Fails
    /// once with `Gone` when asked for `gone_at`, offering the same offset to continue from
    /// when `offer` is set (as an API server offers its inconsistent continuation).
    struct Paged {
        n: usize,
        gone_at: Mutex<Option<usize>>,
        offer: bool,
    }

    fn cm(i: usize) -> KubeObject {
        KubeObject::new(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("cm{i}"), "namespace": "ns"}}))
        .unwrap()
    }

    #[async_trait]
    impl Cluster for Paged {
        async fn discover(&self) -> Result<Discovery, ClusterError> {
            Ok(Discovery::default())
        }
        async fn list_page(
            &self,
            _gvr: &GroupVersionResource,
            _ns: Option<&str>,
            o: &ListOptions,
        ) -> Result<ObjectPage, ClusterError> {
            let from: usize = o
                .continue_token
                .as_deref()
                .map_or(0, |t| t.parse().unwrap());
            let mut gone = self.gone_at.lock().unwrap();
            if *gone == Some(from) {
                *gone = None;
                return Err(ClusterError::Gone {
                    what: "configmaps".into(),
                    reason: "too old".into(),
                    continue_token: self.offer.then(|| format!("{from}")),
                });
            }
            let to = (from + o.limit.unwrap() as usize).min(self.n);
            Ok(ObjectPage {
                items: (from..to).map(cm).collect(),
                continue_token: (to < self.n).then(|| to.to_string()),
            })
        }
        async fn get(
            &self,
            _: &GroupVersionResource,
            _: Option<&str>,
            _: &str,
        ) -> Result<Option<KubeObject>, ClusterError> {
            Ok(None)
        }
        async fn create(
            &self,
            _: &GroupVersionResource,
            o: &KubeObject,
        ) -> Result<KubeObject, ClusterError> {
            Ok(o.clone())
        }
        async fn update(
            &self,
            _: &GroupVersionResource,
            o: &KubeObject,
        ) -> Result<KubeObject, ClusterError> {
            Ok(o.clone())
        }
        async fn patch_merge(
            &self,
            _: &GroupVersionResource,
            _: Option<&str>,
            name: &str,
            _: &Value,
        ) -> Result<KubeObject, ClusterError> {
            Err(ClusterError::NotFound { what: name.into() })
        }
        async fn delete(
            &self,
            _: &GroupVersionResource,
            _: Option<&str>,
            _: &str,
        ) -> Result<(), ClusterError> {
            Ok(())
        }
        async fn wait_for(
            &self,
            _: &GroupVersionResource,
            _: Option<&str>,
            name: &str,
            c: WaitCondition,
            t: Duration,
        ) -> Result<KubeObject, ClusterError> {
            Err(ClusterError::Timeout {
                what: name.into(),
                condition: c.name().into(),
                timeout: t,
            })
        }
    }

    fn listed(cluster: &Paged, page: u32) -> Vec<Result<KubeObject, ClusterError>> {
        let gvr = GroupVersionResource::new("", "v1", "configmaps");
        futures::executor::block_on(cluster.list(&gvr, None, None, page).collect::<Vec<_>>())
    }

    fn names(cluster: &Paged, page: u32) -> Vec<String> {
        listed(cluster, page)
            .into_iter()
            .map(|r| r.unwrap().name().to_string())
            .collect()
    }

    fn paged(n: usize, gone_at: Option<usize>, offer: bool) -> Paged {
        Paged {
            n,
            gone_at: Mutex::new(gone_at),
            offer,
        }
    }

    #[test]
    fn list_streams_every_page_in_order() {
        let c = paged(7, None, false);
        let expected: Vec<String> = (0..7).map(|i| format!("cm{i}")).collect();
        assert_eq!(names(&c, 3), expected);
        assert_eq!(names(&c, 100), expected);
        assert!(names(&paged(0, None, false), 3).is_empty());
    }

    #[test]
    fn expired_continue_token_goes_on_with_the_offered_continuation() {
        let expected: Vec<String> = (0..7).map(|i| format!("cm{i}")).collect();
        assert_eq!(names(&paged(7, Some(3), true), 3), expected);
        assert_eq!(names(&paged(7, Some(6), true), 3), expected);
    }

    #[test]
    fn expired_continue_token_without_continuation_fails_rather_than_guess() {
        let out = listed(&paged(7, Some(3), false), 3);
        assert_eq!(out.len(), 4, "three objects, then the error: {out:?}");
        assert!(out[..3].iter().all(Result::is_ok));
        assert!(matches!(out[3], Err(ClusterError::Gone { .. })), "{out:?}");
    }

    #[test]
    fn gone_before_anything_was_yielded_starts_over_once() {
        let expected: Vec<String> = (0..7).map(|i| format!("cm{i}")).collect();
        assert_eq!(names(&paged(7, Some(0), false), 3), expected);
    }

    #[test]
    fn wait_conditions() {
        let pvc = |phase: &str| {
            KubeObject::new(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "p"}, "status": {"phase": phase}}))
            .unwrap()
        };
        assert!(WaitCondition::Bound.is_met(&pvc("Bound")));
        assert!(!WaitCondition::Bound.is_met(&pvc("Pending")));
        let crd = KubeObject::new(json!({"apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition", "metadata": {"name": "x"},
            "status": {"conditions": [{"type": "NamesAccepted", "status": "True"},
                                      {"type": "Established", "status": "True"}]}}))
        .unwrap();
        assert!(WaitCondition::Established.is_met(&crd));
        assert!(!WaitCondition::ReadyToUse.is_met(&crd));
    }
}
