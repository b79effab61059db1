//! When to try a request again, and how long to wait first.
//!
//! A 429 means the request was not processed, so any request may be repeated once the
//! `Retry-After` delay has passed. A 5xx, a timeout or a broken connection leaves the outcome
//! unknown, so only idempotent requests are repeated, after an exponential back-off with full
//! jitter; a `POST` in that state is resolved by the caller with a lookup instead.

use std::time::Duration;

/// How many times and how long to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first one, for 429s and for transient failures each.
    pub max_retries: u32,
    /// The first back-off ceiling; it doubles with each attempt.
    pub base: Duration,
    /// The largest back-off.
    pub cap: Duration,
    /// The longest `Retry-After` waited for; a longer one is cut to this.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 6,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (0-based) after a transient failure: a uniformly
    /// random duration up to `min(cap, base * 2^attempt)` ("full jitter").
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self.base.saturating_mul(1u32 << attempt.min(16)).min(self.cap);
        let mut bytes = [0u8; 4];
        // Without entropy the wait is the ceiling itself: slower, never wrong.
        let fraction = match getrandom::fill(&mut bytes) {
            Ok(()) => f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX),
            Err(_) => 1.0,
        };
        ceiling.mul_f64(fraction)
    }

    /// The wait a 429 asks for: its `Retry-After` in seconds (RFC 9110 delay-seconds), at most
    /// `max_retry_after`;
    /// without a usable header, the back-off of `attempt`.
    pub fn after_throttle(&self, retry_after: Option<&str>, attempt: u32) -> Duration {
        match retry_after.and_then(|v| v.trim().parse::<u64>().ok()) {
            Some(seconds) => Duration::from_secs(seconds).min(self.max_retry_after),
            None => self.backoff(attempt).max(self.base),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_under_the_cap() {
        let policy =
            RetryPolicy { base: Duration::from_millis(100), cap: Duration::from_secs(1), ..RetryPolicy::default() };
        for attempt in 0..20 {
            let ceiling = Duration::from_millis(100).saturating_mul(1 << attempt.min(16)).min(policy.cap);
            assert!(policy.backoff(attempt) <= ceiling, "{attempt}");
        }
        let spread: std::collections::HashSet<Duration> = (0..20).map(|_| policy.backoff(3)).collect();
        assert!(spread.len() > 1, "the back-off is jittered");
    }

    #[test]
    fn throttling_honours_retry_after() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.after_throttle(Some("2"), 0), Duration::from_secs(2));
        assert_eq!(policy.after_throttle(Some(" 1 "), 5), Duration::from_secs(1));
        assert_eq!(policy.after_throttle(Some("45"), 0), Duration::from_secs(45));
        assert_eq!(policy.after_throttle(Some("3600"), 0), policy.max_retry_after);
        let fallback = policy.after_throttle(Some("Wed, 21 Oct 2015 07:28:00 GMT"), 0);
        assert!(fallback >= policy.base && fallback <= policy.cap);
        assert!(policy.after_throttle(None, 0) >= policy.base);
    }
}
