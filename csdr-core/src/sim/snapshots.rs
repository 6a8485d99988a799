//! The simulated CSI snapshot controller and the cloud storage its snapshots live in.
//!
//! A `VolumeSnapshot` of a bound claim whose volume is a CSI volume is cut at once: the cloud
//! snapshot gets a handle in the [`SnapshotStorage`] (a copy of the volume's data, see
//! [`SimCluster::write_volume`](super::SimCluster::write_volume)), and a
//! `VolumeSnapshotContent` bound to it records the handle, the driver, the class, the source
//! volume and the size, with the class's `deletionPolicy` (`Delete` when the class does not
//! say) and its `retentionDays` parameter. It becomes `readyToUse` once
//! [`SnapshotBehaviour::ready_after`] has passed on the simulator's clock — a wait for
//! `ReadyToUse` lets the controller work up to the wait's deadline (the clock does not move)
//! — or never, with `status.error`, when a [`SnapshotFailure`] matches its claim.
//!
//! Deleting a `VolumeSnapshot` (itself or with its namespace) deletes its bound content when
//! the content's policy is `Delete`; deleting a content whose policy is `Delete` deletes the
//! cloud snapshot. A `Retain` content, and its cloud snapshot, stay. A content created with
//! `spec.source.snapshotHandle` (pre-provisioned) is ready when the storage holds the handle,
//! and a claim whose `dataSource` is a ready `VolumeSnapshot` is provisioned with the
//! snapshot's data; with the cloud snapshot gone it stays `Pending`.
//!
//! The storage is shared between clusters given the same [`SnapshotStorage`]
//! ([`SimCluster::with_snapshot_storage`](super::SimCluster::with_snapshot_storage)), as two
//! clusters of one cloud account share their disk snapshots. Nothing here reads a clock or
//! does I/O: times come from the simulator's clock through its callers.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use jiff::Timestamp;

/// One snapshot in the cloud's snapshot storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloudSnapshot {
    /// The snapshot's handle (`status.snapshotHandle` of its content).
    pub handle: String,
    /// The CSI driver that cut it.
    pub driver: String,
    /// The handle of the volume it was cut from.
    pub source_volume: String,
    /// The volume's size (`restoreSize`).
    pub size: Option<String>,
    /// The volume's data when it was cut (see `SimCluster::write_volume`).
    pub data: Option<String>,
    /// Its validity period in days, from the class's `retentionDays` parameter.
    pub retention_days: Option<u64>,
    /// When it was cut.
    pub created: Timestamp,
}

#[derive(Debug, Default, Clone)]
struct Storage {
    next: u64,
    snapshots: BTreeMap<String, CloudSnapshot>,
}

/// The cloud's snapshot storage: handle → snapshot. Cheap to clone: clones share it.
#[derive(Clone, Debug, Default)]
pub struct SnapshotStorage {
    inner: Arc<Mutex<Storage>>,
}

impl SnapshotStorage {
    /// An empty storage.
    pub fn new() -> Self {
        SnapshotStorage::default()
    }

    fn lock(&self) -> MutexGuard<'_, Storage> {
        // Every operation leaves the map consistent, so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The snapshot with this handle, if the storage holds it.
    pub fn get(&self, handle: &str) -> Option<CloudSnapshot> {
        self.lock().snapshots.get(handle).cloned()
    }

    /// Every handle the storage holds, sorted.
    pub fn handles(&self) -> Vec<String> {
        self.lock().snapshots.keys().cloned().collect()
    }

    /// How many snapshots the storage holds.
    pub fn len(&self) -> usize {
        self.lock().snapshots.len()
    }

    /// Whether the storage holds no snapshot.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Cuts a snapshot; returns its new handle (`snap-` and a number unique in the storage).
    pub(crate) fn cut(&self, mut snapshot: CloudSnapshot) -> String {
        let mut st = self.lock();
        st.next += 1;
        let handle = format!("snap-{:08x}", st.next);
        snapshot.handle = handle.clone();
        st.snapshots.insert(handle.clone(), snapshot);
        handle
    }

    /// Records a snapshot known from saved state (a loaded content), unless held already.
    pub(crate) fn register(&self, snapshot: CloudSnapshot) {
        self.lock()
            .snapshots
            .entry(snapshot.handle.clone())
            .or_insert(snapshot);
    }

    /// Deletes a snapshot; deleting a missing one does nothing.
    pub(crate) fn remove(&self, handle: &str) {
        self.lock().snapshots.remove(handle);
    }

    /// A storage of its own holding a copy of this one's snapshots (for dry runs).
    pub(crate) fn detached_copy(&self) -> Self {
        let copy = self.lock().clone();
        SnapshotStorage {
            inner: Arc::new(Mutex::new(copy)),
        }
    }
}

/// A snapshot that fails on demand: never ready, with `status.error.message` = `message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotFailure {
    /// The claim whose snapshots fail (`namespace/name` or `name`); every claim when `None`.
    pub claim: Option<String>,
    /// The error the snapshot reports.
    pub message: String,
}

/// How the simulated snapshot controller behaves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotBehaviour {
    /// How long after its creation a snapshot becomes `readyToUse` (zero: at once).
    pub ready_after: Duration,
    /// Snapshots that fail.
    pub failures: Vec<SnapshotFailure>,
}

impl SnapshotBehaviour {
    /// The failure message for a snapshot of claim `namespace/name`, if one is configured.
    pub(crate) fn failure_for(&self, namespace: &str, name: &str) -> Option<String> {
        let full = format!("{namespace}/{name}");
        self.failures
            .iter()
            .find(|f| f.claim.as_deref().is_none_or(|c| c == full || c == name))
            .map(|f| f.message.clone())
    }
}

/// The controller's state inside the simulator.
#[derive(Clone, Debug, Default)]
pub(crate) struct SnapshotController {
    pub storage: SnapshotStorage,
    pub behaviour: SnapshotBehaviour,
    /// VolumeSnapshots `(namespace, name)` waiting to become ready, with the instant they do.
    pub pending: BTreeMap<(String, String), Timestamp>,
    /// The data written to each volume, by volume handle.
    pub volume_data: BTreeMap<String, String>,
}

impl SnapshotController {
    /// When a snapshot created at `now` becomes ready.
    pub fn ready_at(&self, now: Timestamp) -> Timestamp {
        let span = jiff::SignedDuration::try_from(self.behaviour.ready_after)
            .unwrap_or(jiff::SignedDuration::MAX);
        now.checked_add(span).unwrap_or(Timestamp::MAX)
    }

    /// The pending snapshots ready at `now`.
    pub fn due(&self, now: Timestamp) -> Vec<(String, String)> {
        self.pending
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(k, _)| k.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_unique_and_shared_between_clones() {
        let storage = SnapshotStorage::new();
        let other = storage.clone();
        let snapshot = CloudSnapshot {
            handle: String::new(),
            driver: "disk".into(),
            source_volume: "vol-1".into(),
            size: Some("20Gi".into()),
            data: None,
            retention_days: None,
            created: Timestamp::UNIX_EPOCH,
        };
        let a = storage.cut(snapshot.clone());
        let b = other.cut(snapshot);
        assert_ne!(a, b);
        assert_eq!(storage.handles(), vec![a.clone(), b.clone()]);
        let copy = storage.detached_copy();
        copy.remove(&a);
        assert!(storage.get(&a).is_some(), "a dry run's copy is its own");
        other.remove(&a);
        assert!(storage.get(&a).is_none());
    }

    #[test]
    fn failures_match_by_claim() {
        let behaviour = SnapshotBehaviour {
            ready_after: Duration::ZERO,
            failures: vec![SnapshotFailure {
                claim: Some("shop/data".into()),
                message: "quota exceeded".into(),
            }],
        };
        assert_eq!(
            behaviour.failure_for("shop", "data").as_deref(),
            Some("quota exceeded")
        );
        assert_eq!(behaviour.failure_for("shop", "logs"), None);
        assert_eq!(behaviour.failure_for("other", "data"), None);
    }
}
