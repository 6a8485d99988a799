//! How [`crate::KubeCluster`] retries transient failures: HTTP 429, 5xx and network errors.
//!
//! Each attempt after the first waits an exponentially growing backoff (doubling from
//! `initial_backoff`, capped at `max_backoff`), or the server's `Retry-After` when it sent one
//! (capped at `max_retry_after`). After `max_attempts` attempts the call fails with
//! `ClusterError::Unavailable`.
//!
//! ```
//! use std::time::Duration;
//! use csdr_kube::RetryPolicy;
//!
//! let policy = RetryPolicy::default();
//! assert_eq!(policy.delay(1, None), Duration::from_millis(200));
//! assert_eq!(policy.delay(2, None), Duration::from_millis(400));
//! assert_eq!(policy.delay(1, Some(Duration::from_secs(2))), Duration::from_secs(2));
//! assert_eq!(policy.delay(30, None), policy.max_backoff);
//! ```

use std::time::Duration;

/// Bounded retries with exponential backoff that honour `Retry-After`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// The wait before the second attempt.
    pub initial_backoff: Duration,
    /// The longest backoff between two attempts.
    pub max_backoff: Duration,
    /// The longest `Retry-After` honoured; longer ones are cut to this.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, 200 ms doubling up to 5 s, `Retry-After` up to 30 s.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// How long to wait before retry number `retry` (1 for the first retry), given the
    /// server's `Retry-After` if it sent one.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.max_retry_after);
        }
        let factor = 2u32.saturating_pow(retry.saturating_sub(1).min(31));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// Whether another attempt follows attempt number `attempt` (1-based).
    pub fn retries_after(&self, attempt: u32) -> bool {
        attempt < self.max_attempts.max(1)
    }
}

/// Parses a `Retry-After` header given in seconds (the form API servers send).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_retry_after_wins() {
        let p = RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            max_retry_after: Duration::from_secs(3),
        };
        assert_eq!(p.delay(1, None), Duration::from_millis(100));
        assert_eq!(p.delay(2, None), Duration::from_millis(200));
        assert_eq!(p.delay(3, None), Duration::from_millis(350));
        assert_eq!(p.delay(u32::MAX, None), Duration::from_millis(350));
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(60))),
            Duration::from_secs(3)
        );
        assert!(p.retries_after(3));
        assert!(!p.retries_after(4));
        assert!(!RetryPolicy::none().retries_after(1));
    }

    #[test]
    fn retry_after_in_seconds() {
        assert_eq!(parse_retry_after(" 2 "), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
