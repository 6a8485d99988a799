//! `watch=true`: a stream of newline-delimited `WatchEvent`s for one resource.
//!
//! The simulated cluster keeps no event history, so a watch compares snapshots: it lists the
//! watched objects when it starts and again after every write made through the server (and
//! every 200 ms, for writes made on the [`SimCluster`](csdr_core::sim::SimCluster) directly),
//! and sends `ADDED`, `MODIFIED` and `DELETED` for the differences. Without a
//! `resourceVersion` (or with `0`, or with `sendInitialEvents=true`) it starts with an `ADDED`
//! per existing object; from a `resourceVersion` it starts with a `MODIFIED` per object
//! written after it. Deletions between the list and the start of a watch are not seen.
//! `allowWatchBookmarks=true` gets a `BOOKMARK` (only `kind`, `apiVersion` and
//! `metadata.resourceVersion`) every [`BOOKMARK_EVERY`]; `sendInitialEvents=true` ends the
//! initial `ADDED` events with a bookmark annotated `k8s.io/initial-events-end: "true"`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use csdr_core::object::{GroupVersionResource, KubeObject};
use csdr_core::ports::cluster::{Cluster, ListOptions};
use futures::Stream;
use serde_json::{Value, json};

use super::rest::{App, FieldSelector};
use super::status::Status;

/// How often a watch looks for writes made on the simulated cluster directly.
const POLL: Duration = Duration::from_millis(200);

/// How often a watch with `allowWatchBookmarks=true` sends a `BOOKMARK` (a real API server
/// sends one about every minute; the simulator more often, so tests see them).
pub(crate) const BOOKMARK_EVERY: Duration = Duration::from_secs(1);

/// What to watch.
pub(crate) struct WatchRequest {
    pub app: Arc<App>,
    pub gvr: GroupVersionResource,
    /// The kind of the watched objects (bookmarks carry it).
    pub kind: String,
    /// `allowWatchBookmarks=true`: send periodic bookmarks.
    pub bookmarks: bool,
    pub namespace: Option<String>,
    pub label_selector: Option<String>,
    pub fields: FieldSelector,
    /// Send only objects written after this resourceVersion first (`None`: every object).
    pub since: Option<u64>,
    /// Mark the end of the initial events with a bookmark (`sendInitialEvents=true`).
    pub initial_events_bookmark: bool,
    pub timeout: Duration,
}

type Snapshot = BTreeMap<(String, String), KubeObject>;

fn resource_version(obj: &KubeObject) -> &str {
    obj.metadata()
        .and_then(|m| m.get("resourceVersion"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn event(kind: &str, object: Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

async fn snapshot(req: &WatchRequest) -> Result<Snapshot, Status> {
    let mut out = Snapshot::new();
    let mut options = ListOptions {
        label_selector: req.label_selector.clone(),
        limit: Some(500),
        continue_token: None,
    };
    loop {
        let page = req
            .app
            .sim
            .list_page(&req.gvr, req.namespace.as_deref(), &options)
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        for obj in page.items.into_iter().filter(|o| req.fields.matches(o)) {
            let key = (
                obj.namespace().unwrap_or("").to_string(),
                obj.name().to_string(),
            );
            out.insert(key, obj);
        }
        match page.continue_token {
            Some(t) => options.continue_token = Some(t),
            None => return Ok(out),
        }
    }
}

struct State {
    req: WatchRequest,
    known: Option<Snapshot>,
    pending: VecDeque<Bytes>,
    deadline: tokio::time::Instant,
    changes: tokio::sync::watch::Receiver<u64>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    next_bookmark: tokio::time::Instant,
    done: bool,
}

impl State {
    /// A bookmark at `rv`, with the initial-events-end annotation when it closes the initial
    /// events.
    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        event(
            "BOOKMARK",
            json!({"kind": self.req.kind, "apiVersion": self.req.gvr.group_version().api_version(),
                "metadata": metadata}),
        )
    }
}

impl State {
    /// Lists again and queues the events since the last snapshot.
    async fn refresh(&mut self) {
        let listed_at = self.req.app.sim.resource_version();
        let current = match snapshot(&self.req).await {
            Ok(s) => s,
            Err(status) => {
                self.pending.push_back(event("ERROR", status.to_json()));
                self.done = true;
                return;
            }
        };
        match self.known.take() {
            None => {
                for obj in current.values() {
                    match self.req.since {
                        None => self.pending.push_back(event("ADDED", obj.to_value())),
                        Some(since) => {
                            if resource_version(obj)
                                .parse::<u64>()
                                .is_ok_and(|rv| rv > since)
                            {
                                self.pending.push_back(event("MODIFIED", obj.to_value()));
                            }
                        }
                    }
                }
                if self.req.initial_events_bookmark {
                    let mark = self.bookmark(listed_at, true);
                    self.pending.push_back(mark);
                }
            }
            Some(known) => {
                for (key, obj) in &current {
                    match known.get(key) {
                        None => self.pending.push_back(event("ADDED", obj.to_value())),
                        Some(old) if resource_version(old) != resource_version(obj) => {
                            self.pending.push_back(event("MODIFIED", obj.to_value()))
                        }
                        Some(_) => {}
                    }
                }
                for (key, old) in &known {
                    if !current.contains_key(key) {
                        let mut gone = old.clone();
                        gone.metadata_mut().insert(
                            "resourceVersion".into(),
                            Value::String(self.req.app.sim.resource_version().to_string()),
                        );
                        self.pending.push_back(event("DELETED", gone.into_value()));
                    }
                }
            }
        }
        self.known = Some(current);
        if self.req.bookmarks && tokio::time::Instant::now() >= self.next_bookmark {
            // Every change up to `listed_at` is queued before the bookmark.
            let mark = self.bookmark(listed_at, false);
            self.pending.push_back(mark);
            self.next_bookmark = tokio::time::Instant::now() + BOOKMARK_EVERY;
        }
    }
}

/// The event stream of a watch request.
pub(crate) fn events(req: WatchRequest) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
    let mut changes = req.app.changes.subscribe();
    changes.mark_unchanged();
    let state = State {
        deadline: tokio::time::Instant::now() + req.timeout,
        shutdown: req.app.shutdown.clone(),
        req,
        known: None,
        pending: VecDeque::new(),
        changes,
        next_bookmark: tokio::time::Instant::now() + BOOKMARK_EVERY,
        done: false,
    };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(line) = st.pending.pop_front() {
                return Some((Ok(line), st));
            }
            if st.done || *st.shutdown.borrow() {
                return None;
            }
            if st.known.is_some() {
                tokio::select! {
                    _ = st.changes.changed() => {}
                    _ = tokio::time::sleep(POLL) => {}
                    _ = tokio::time::sleep_until(st.next_bookmark), if st.req.bookmarks => {}
                    _ = tokio::time::sleep_until(st.deadline) => return None,
                    _ = st.shutdown.changed() => return None,
                }
            }
            st.refresh().await;
        }
    })
}
