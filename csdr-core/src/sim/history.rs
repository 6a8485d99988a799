//! The simulated API server's watch history: every change to every object, in
//! `resourceVersion` order, as an API server's watch cache keeps them.
//!
//! Each write that changes the stored objects appends one [`Entry`]: the new
//! `resourceVersion`, whether the object was added, modified or deleted, the object as stored
//! (a deleted object's last state, carrying the deletion's `resourceVersion`) and its state
//! before the change. A watch replays the entries after its start `resourceVersion` and then
//! follows new ones. The log is bounded ([`HISTORY_CAPACITY`] entries, the oldest dropped
//! first); a watch starting before the oldest kept entry is told its version is too old (410
//! `Expired`), as a real API server says once its watch cache has moved on.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::object::KubeObject;

use super::store::ObjectKey;

/// How many changes the simulator keeps for watches (a real API server's watch cache keeps
/// about 75 seconds of changes per resource, at least 100).
pub const HISTORY_CAPACITY: usize = 10_000;

/// What a change did to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeType {
    /// The object was created.
    Added,
    /// The object was written and still exists (including a delete that only marked it with
    /// a `deletionTimestamp`).
    Modified,
    /// The object is gone.
    Deleted,
}

impl ChangeType {
    /// The watch event type: `ADDED`, `MODIFIED` or `DELETED`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Added => "ADDED",
            ChangeType::Modified => "MODIFIED",
            ChangeType::Deleted => "DELETED",
        }
    }
}

/// One logged change, objects at their storage version.
#[derive(Debug)]
pub(crate) struct Entry {
    pub resource_version: u64,
    pub change: ChangeType,
    pub key: ObjectKey,
    /// The object as stored after the change; for a deletion, its last state with the
    /// deletion's resourceVersion.
    pub object: KubeObject,
    /// The object before the change (none for an addition).
    pub previous: Option<KubeObject>,
}

/// The bounded change log.
/// Where the change log was when a dry run began ([`History::hold`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct HistoryMark {
    len: usize,
    capacity: usize,
    complete_after: u64,
}

#[derive(Clone, Debug)]
pub(crate) struct History {
    entries: VecDeque<Arc<Entry>>,
    capacity: usize,
    /// Every change after this resourceVersion is in the log.
    complete_after: u64,
}

impl History {
    pub fn new(capacity: usize) -> Self {
        History {
            entries: VecDeque::new(),
            capacity: capacity.max(1),
            complete_after: 0,
        }
    }

    pub fn push(&mut self, entry: Entry) {
        while self.entries.len() >= self.capacity {
            if let Some(dropped) = self.entries.pop_front() {
                self.complete_after = dropped.resource_version;
            }
        }
        self.entries.push_back(Arc::new(entry));
    }

    /// Marks where the log is, for [`Self::release`], and keeps every change from now on
    /// (none is dropped for capacity until then).
    pub fn hold(&mut self) -> HistoryMark {
        let mark = HistoryMark {
            len: self.entries.len(),
            capacity: self.capacity,
            complete_after: self.complete_after,
        };
        self.capacity = usize::MAX;
        mark
    }

    /// Forgets the changes logged since `mark` was taken ([`Self::hold`]).
    pub fn release(&mut self, mark: HistoryMark) {
        self.entries.truncate(mark.len);
        self.capacity = mark.capacity;
        self.complete_after = mark.complete_after;
    }

    /// Forgets every change: a watch can only start at `resource_version` or later (after a
    /// load of saved state, whose objects keep their saved versions).
    pub fn reset(&mut self, resource_version: u64) {
        self.entries.clear();
        self.complete_after = resource_version;
    }

    /// The oldest resourceVersion a watch can start from.
    pub fn oldest(&self) -> u64 {
        self.complete_after
    }

    /// The changes after `since`, oldest first; `None` when some of them are no longer kept.
    pub fn since(&self, since: u64) -> Option<impl Iterator<Item = &Arc<Entry>>> {
        if since < self.complete_after {
            return None;
        }
        // Entries are in resourceVersion order: skip the older ones by binary search.
        let start = self
            .entries
            .partition_point(|e| e.resource_version <= since);
        Some(self.entries.range(start..))
    }

    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(1);
        while self.entries.len() > self.capacity {
            if let Some(dropped) = self.entries.pop_front() {
                self.complete_after = dropped.resource_version;
            }
        }
    }
}

/// A change as a watcher of one resource version sees it (see
/// [`crate::sim::SimCluster::changes_since`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// The resourceVersion of the change.
    pub resource_version: u64,
    /// What the change did.
    pub change: ChangeType,
    /// The object after the change, at the watched version; for a deletion its last state
    /// carrying the deletion's resourceVersion.
    pub object: KubeObject,
    /// The object before the change, at the watched version (none for an addition).
    pub previous: Option<KubeObject>,
}

impl Change {
    /// The event a watch filtered by `matches` (label and field selectors) sends for this
    /// change, as an API server's watch cache decides it: an object that starts matching is
    /// `ADDED`, one that stops matching is `DELETED` (its previous state at the change's
    /// resourceVersion), one that keeps matching is `MODIFIED`; none when it matches neither
    /// before nor after.
    pub fn as_seen_by(
        &self,
        matches: impl Fn(&KubeObject) -> bool,
    ) -> Option<(ChangeType, KubeObject)> {
        let now = self.change != ChangeType::Deleted && matches(&self.object);
        let before = self.previous.as_ref().is_some_and(&matches);
        match (before, now) {
            (false, true) => Some((ChangeType::Added, self.object.clone())),
            (true, true) => Some((ChangeType::Modified, self.object.clone())),
            (true, false) => {
                let mut gone = self.previous.clone()?;
                gone.metadata_mut().insert(
                    "resourceVersion".into(),
                    serde_json::Value::String(self.resource_version.to_string()),
                );
                Some((ChangeType::Deleted, gone))
            }
            (false, false) => None,
        }
    }
}
