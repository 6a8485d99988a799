//! `watch=true`: a stream of newline-delimited `WatchEvent`s for one resource.
//!
//! A watch replays the simulated cluster's change history
//! ([`SimCluster::changes_since`](csdr_core::sim::SimCluster::changes_since)) as an API
//! server streams its watch cache: every `ADDED`, `MODIFIED` and `DELETED` after the start
//! `resourceVersion`, in order, each object at the watched version, filtered by namespace,
//! label selector and field selector (an object that starts matching a selector is `ADDED`,
//! one that stops matching is `DELETED`). Without a `resourceVersion` (or with `0`, or with
//! `sendInitialEvents=true`) it starts with an `ADDED` per existing object and follows the
//! changes after them. A `resourceVersion` older than the history gets an `ERROR` event with
//! the `410 Expired` Status `too old resource version` once the stream is established, as a
//! real API server sends it (clients re-list on it). The history is read after every write
//! made through the server and every 200 ms, for writes made on the
//! [`SimCluster`](csdr_core::sim::SimCluster) directly. `allowWatchBookmarks=true` gets a
//! `BOOKMARK` (only `kind`, `apiVersion` and `metadata.resourceVersion`) every
//! [`BOOKMARK_EVERY`]; `sendInitialEvents=true` ends the initial `ADDED` events with a
//! bookmark annotated `k8s.io/initial-events-end: "true"`. Differences: a `resourceVersion`
//! newer than the cluster's is watched from at once (a real server waits for it, then
//! answers `Too large resource version`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use csdr_core::label_selector::LabelSelector;
use csdr_core::object::{GroupVersionResource, KubeObject};
use csdr_core::ports::cluster::ClusterError;
use futures::Stream;
use serde_json::{Value, json};

use super::rest::{App, FieldSelector};
use super::status::Status;
use super::table::{Printer, TableRequest};

fn resource_version(obj: &KubeObject) -> String {
    obj.metadata()
        .and_then(|m| m.get("resourceVersion"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

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
    pub labels: Option<LabelSelector>,
    pub fields: FieldSelector,
    /// Send the changes after this resourceVersion (`None`: an `ADDED` per existing object
    /// first).
    pub since: Option<u64>,
    /// Mark the end of the initial events with a bookmark (`sendInitialEvents=true`).
    pub initial_events_bookmark: bool,
    /// Send each object as a one-row `Table` (what `kubectl get -w` asks for).
    pub table: Option<(Printer, TableRequest)>,
    pub timeout: Duration,
}

impl WatchRequest {
    fn matches(&self, obj: &KubeObject) -> bool {
        self.labels.as_ref().is_none_or(|l| l.matches_object(obj)) && self.fields.matches(obj)
    }

    /// The event of a change to `obj`: the object, or a `Table` of it.
    fn event(&self, kind: &str, obj: KubeObject) -> Bytes {
        match &self.table {
            Some((printer, request)) => {
                let metadata = json!({"resourceVersion": resource_version(&obj)});
                let table = printer.table(&[obj], request, self.app.sim.now(), metadata);
                event(kind, table)
            }
            None => event(kind, obj.into_value()),
        }
    }
}

fn event(kind: &str, object: Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

struct State {
    req: WatchRequest,
    /// The resourceVersion the events sent so far run up to (`None` before the initial
    /// events).
    cursor: Option<u64>,
    /// Whether the history was read once.
    started: bool,
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

    /// Ends the stream with an `ERROR` event.
    fn fail(&mut self, err: ClusterError) {
        let status = match err {
            ClusterError::Gone { reason, .. } => Status::new(410, "Expired", reason),
            other => Status::internal(other.to_string()),
        };
        self.pending.push_back(event("ERROR", status.to_json()));
        self.done = true;
    }

    /// Queues the initial events, or the changes since the last read of the history.
    fn refresh(&mut self) {
        let sim = &self.req.app.sim;
        let namespace = self.req.namespace.as_deref();
        let upto = match self.cursor {
            None => match sim.snapshot(&self.req.gvr, namespace) {
                Ok((objects, rv)) => {
                    for obj in objects.into_iter().filter(|o| self.req.matches(o)) {
                        let line = self.req.event("ADDED", obj);
                        self.pending.push_back(line);
                    }
                    if self.req.initial_events_bookmark {
                        let mark = self.bookmark(rv, true);
                        self.pending.push_back(mark);
                    }
                    rv
                }
                Err(e) => return self.fail(e),
            },
            Some(since) => match sim.changes_since(&self.req.gvr, namespace, since) {
                Ok((changes, upto)) => {
                    for change in &changes {
                        if let Some((kind, obj)) = change.as_seen_by(|o| self.req.matches(o)) {
                            let line = self.req.event(kind.as_str(), obj);
                            self.pending.push_back(line);
                        }
                    }
                    upto.max(since)
                }
                Err(e) => return self.fail(e),
            },
        };
        self.cursor = Some(upto);
        if self.req.bookmarks && tokio::time::Instant::now() >= self.next_bookmark {
            // Every change up to `upto` is queued before the bookmark.
            let mark = self.bookmark(upto, false);
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
        cursor: req.since,
        started: false,
        pending: VecDeque::new(),
        changes,
        next_bookmark: tokio::time::Instant::now() + BOOKMARK_EVERY,
        done: false,
        req,
    };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(line) = st.pending.pop_front() {
                return Some((Ok(line), st));
            }
            if st.done || *st.shutdown.borrow() {
                return None;
            }
            if st.started {
                tokio::select! {
                    _ = st.changes.changed() => {}
                    _ = tokio::time::sleep(POLL) => {}
                    _ = tokio::time::sleep_until(st.next_bookmark), if st.req.bookmarks => {}
                    _ = tokio::time::sleep_until(st.deadline) => return None,
                    _ = st.shutdown.changed() => return None,
                }
            }
            st.started = true;
            st.refresh();
        }
    })
}
