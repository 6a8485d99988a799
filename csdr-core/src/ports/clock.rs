//! The `Clock` port: the only way the core learns the time.
//!
//! ```
//! use csdr_core::ports::clock::{Clock, ManualClock};
//! use std::time::Duration;
//!
//! let clock = ManualClock::new("2026-11-24T04:00:00Z".parse()?);
//! clock.advance(Duration::from_secs(3600));
//! assert_eq!(clock.now().to_string(), "2026-11-24T05:00:00Z");
//! # Ok::<(), jiff::Error>(())
//! ```

use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;

/// A source of the current time. The engine reads it; pure functions take a `Timestamp`.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// A clock that only moves when told to: for tests, simulations and replays.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            now: Mutex::new(start),
        }
    }

    /// Sets the time.
    pub fn set(&self, to: Timestamp) {
        *self.lock() = to;
    }

    /// Moves the time forward, saturating at the largest representable instant.
    pub fn advance(&self, by: Duration) {
        let mut now = self.lock();
        let span = jiff::SignedDuration::try_from(by).unwrap_or(jiff::SignedDuration::MAX);
        *now = now.checked_add(span).unwrap_or(Timestamp::MAX);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Timestamp> {
        // A poisoned lock still holds a valid timestamp.
        self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.lock()
    }
}
