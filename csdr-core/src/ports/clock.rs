//! The `Clock` and `Timer` ports: the only ways the core learns the time and waits.
//!
//! The core has no runtime and no timer of its own. [`Clock::now`] dates jobs, records and
//! expiries; [`Timer::sleep`] is every wait the engine makes (the B8 backup timeout, waits for
//! CRDs, claims and snapshots), and [`within`] races a future against a deadline with
//! `futures::future::select`, so it works under any executor. Adapters pass a timer bound to
//! their runtime (`csdr_storage::TokioTimer` on tokio); [`SystemTimer`] works without one.
//!
//! [`ManualClock`] is both: a clock that moves only when told to, and a timer whose sleeps end
//! when the clock is advanced past them, so a timeout is tested without waiting.
//!
//! ```
//! use csdr_core::ports::clock::{Clock, ManualClock, within};
//! use std::time::Duration;
//!
//! let clock = ManualClock::new("2026-11-24T04:00:00Z".parse()?);
//! clock.advance(Duration::from_secs(3600));
//! assert_eq!(clock.now().to_string(), "2026-11-24T05:00:00Z");
//!
//! // A future that never finishes, given one minute: the deadline passes when the clock
//! // is advanced, without any real waiting.
//! let work = futures::future::pending::<()>();
//! let outcome = futures::executor::block_on(async {
//!     let (outcome, ()) = futures::join!(
//!         within(&clock, Duration::from_secs(60), work),
//!         async { clock.advance(Duration::from_secs(60)) },
//!     );
//!     outcome
//! });
//! assert!(outcome.is_err());
//! # Ok::<(), jiff::Error>(())
//! ```

use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, Either, select};
use jiff::Timestamp;

/// A source of the current time. The engine reads it; pure functions take a `Timestamp`.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// A way to wait: the engine's every wait and timeout goes through it.
pub trait Timer: Send + Sync {
    /// A future that completes once `duration` has passed (at once for zero). Dropping it
    /// cancels the wait.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// A deadline passed before the work finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("deadline of {} passed", crate::model::duration_text::format(.0))]
pub struct Elapsed(pub Duration);

/// Runs `work` until it finishes or `limit` passes on `timer`, whichever comes first; the
/// work is dropped (cancelled) when the deadline passes.
pub async fn within<T: Timer + ?Sized, F: Future>(
    timer: &T,
    limit: Duration,
    work: F,
) -> Result<F::Output, Elapsed> {
    let work = pin!(work);
    match select(work, timer.sleep(limit)).await {
        Either::Left((output, _)) => Ok(output),
        Either::Right(((), _)) => Err(Elapsed(limit)),
    }
}

/// A clock that only moves when told to, and a timer driven by it: for tests, simulations
/// and replays. Sleeps end when [`ManualClock::advance`] or [`ManualClock::set`] moves the
/// time to or past their deadline.
#[derive(Debug, Clone)]
pub struct ManualClock {
    state: Arc<ManualState>,
}

#[derive(Debug)]
struct ManualState {
    now: Mutex<Timestamp>,
    /// Sleeps waiting for the time to move.
    waiters: Mutex<Vec<Waker>>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            state: Arc::new(ManualState {
                now: Mutex::new(start),
                waiters: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Sets the time; sleeps whose deadline it reaches end.
    pub fn set(&self, to: Timestamp) {
        *self.state.lock() = to;
        self.state.wake_all();
    }

    /// Moves the time forward, saturating at the largest representable instant; sleeps
    /// whose deadline it reaches end.
    pub fn advance(&self, by: Duration) {
        {
            let mut now = self.state.lock();
            *now = later(*now, by);
        }
        self.state.wake_all();
    }
}

fn later(t: Timestamp, by: Duration) -> Timestamp {
    let span = jiff::SignedDuration::try_from(by).unwrap_or(jiff::SignedDuration::MAX);
    t.checked_add(span).unwrap_or(Timestamp::MAX)
}

impl ManualState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Timestamp> {
        // A poisoned lock still holds a valid timestamp.
        self.now.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake_all(&self) {
        let waiters = std::mem::take(&mut *self.waiters.lock().unwrap_or_else(|e| e.into_inner()));
        for w in waiters {
            w.wake();
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.state.lock()
    }
}

/// A sleep on a [`ManualClock`].
struct ManualSleep {
    state: Arc<ManualState>,
    until: Timestamp,
}

impl Future for ManualSleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Register before reading the time, so an advance in between is not missed.
        self.state
            .waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(cx.waker().clone());
        if *self.state.lock() >= self.until {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Timer for ManualClock {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let until = later(self.now(), duration);
        Box::pin(ManualSleep {
            state: self.state.clone(),
            until,
        })
    }
}

/// The system's clock: what the engine uses unless given another.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Real time without a runtime: one background thread (started on first use) holds the
/// pending deadlines and wakes each sleep when its time comes. Works under any executor;
/// the engine's default when no timer is given.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemTimer;

/// One pending deadline of [`SystemTimer`]: the earliest first.
struct Deadline {
    at: Instant,
    slot: Arc<Mutex<SleepSlot>>,
}

impl PartialEq for Deadline {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}
impl Eq for Deadline {}
impl PartialOrd for Deadline {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Deadline {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.at.cmp(&self.at) // BinaryHeap is a max-heap: reverse for the earliest first
    }
}

#[derive(Default)]
struct SleepSlot {
    done: bool,
    waker: Option<Waker>,
}

struct TimerThread {
    deadlines: Mutex<BinaryHeap<Deadline>>,
    changed: Condvar,
}

fn timer_thread() -> Option<&'static TimerThread> {
    static THREAD: OnceLock<Option<&'static TimerThread>> = OnceLock::new();
    *THREAD.get_or_init(|| {
        let shared: &'static TimerThread = Box::leak(Box::new(TimerThread {
            deadlines: Mutex::new(BinaryHeap::new()),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("csdr-timer".into())
            .spawn(move || run_timer(shared))
            .ok()
            .map(|_| shared)
    })
}

fn run_timer(shared: &TimerThread) {
    let mut deadlines = shared.deadlines.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let now = Instant::now();
        while deadlines.peek().is_some_and(|d| d.at <= now) {
            if let Some(d) = deadlines.pop() {
                let mut slot = d.slot.lock().unwrap_or_else(|e| e.into_inner());
                slot.done = true;
                if let Some(w) = slot.waker.take() {
                    w.wake();
                }
            }
        }
        deadlines = match deadlines.peek().map(|d| d.at) {
            Some(at) => {
                shared
                    .changed
                    .wait_timeout(deadlines, at.saturating_duration_since(now))
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
            None => shared
                .changed
                .wait(deadlines)
                .unwrap_or_else(|e| e.into_inner()),
        };
    }
}

/// A sleep on the [`SystemTimer`].
struct SystemSleep {
    slot: Arc<Mutex<SleepSlot>>,
    /// Set when no timer thread could be started: then the sleep falls back to a thread of its own.
    fallback: Option<Duration>,
}

impl Future for SystemSleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(duration) = self.fallback.take() {
            let slot = self.slot.clone();
            std::thread::spawn(move || {
                std::thread::sleep(duration);
                let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
                slot.done = true;
                if let Some(w) = slot.waker.take() {
                    w.wake();
                }
            });
        }
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        if slot.done {
            Poll::Ready(())
        } else {
            slot.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

impl Timer for SystemTimer {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let slot = Arc::new(Mutex::new(SleepSlot::default()));
        if duration.is_zero() {
            slot.lock().unwrap_or_else(|e| e.into_inner()).done = true;
            return Box::pin(SystemSleep {
                slot,
                fallback: None,
            });
        }
        let Some(at) = Instant::now().checked_add(duration) else {
            // Beyond the representable future: never ends.
            return Box::pin(futures::future::pending());
        };
        let fallback = match timer_thread() {
            Some(thread) => {
                thread
                    .deadlines
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(Deadline {
                        at,
                        slot: slot.clone(),
                    });
                thread.changed.notify_one();
                None
            }
            None => Some(duration),
        };
        Box::pin(SystemSleep { slot, fallback })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_sleeps_end_when_the_clock_passes_their_deadline() {
        let clock = ManualClock::new("2026-11-24T04:00:00Z".parse().unwrap());
        let mut sleep = clock.sleep(Duration::from_secs(10));
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(sleep.as_mut().poll(&mut cx).is_pending());
        clock.advance(Duration::from_secs(9));
        assert!(sleep.as_mut().poll(&mut cx).is_pending());
        clock.advance(Duration::from_secs(1));
        assert!(sleep.as_mut().poll(&mut cx).is_ready());
    }

    #[test]
    fn within_returns_the_work_when_it_finishes_first() {
        let clock = ManualClock::new("2026-11-24T04:00:00Z".parse().unwrap());
        let out = futures::executor::block_on(within(&clock, Duration::from_secs(1), async { 7 }));
        assert_eq!(out, Ok(7));
    }

    #[test]
    fn system_timer_sleeps_about_as_long_as_asked() {
        let start = Instant::now();
        futures::executor::block_on(async {
            let (a, b) = futures::join!(
                SystemTimer.sleep(Duration::from_millis(30)),
                SystemTimer.sleep(Duration::from_millis(10)),
            );
            (a, b)
        });
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(30), "{waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");
        let timed_out = futures::executor::block_on(within(
            &SystemTimer,
            Duration::from_millis(5),
            futures::future::pending::<()>(),
        ));
        assert_eq!(timed_out, Err(Elapsed(Duration::from_millis(5))));
    }
}
