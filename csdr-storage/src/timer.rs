//! [`TokioTimer`]: csdr-core's [`Timer`] port on tokio's timer, for programs that run the
//! engine on a tokio runtime (the CLI, the controller). Sleeps need a tokio runtime with its
//! time driver enabled; under any other executor use csdr-core's `SystemTimer`.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! use std::time::Duration;
//! use csdr_core::ports::clock::within;
//! use csdr_storage::TokioTimer;
//!
//! let late = within(&TokioTimer, Duration::from_millis(5), std::future::pending::<()>()).await;
//! assert!(late.is_err());
//! assert_eq!(within(&TokioTimer, Duration::from_secs(5), async { 1 }).await, Ok(1));
//! # });
//! ```

use std::time::Duration;

use csdr_core::ports::clock::Timer;
use futures::future::BoxFuture;

/// tokio's timer as csdr-core's [`Timer`].
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioTimer;

impl Timer for TokioTimer {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}
