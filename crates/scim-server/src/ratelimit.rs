//! Per-tenant throttling, as AWS does it: a token bucket per tenant, answering 429 with
//! `Retry-After` once the bucket is empty.
//!
//! A tenant's limit (requests per second and burst) is set from the command line and stored
//! with the tenant; it reaches the server with the tenant cache (`state::TenantEntry`), reloaded
//! within a second of any change. The buckets themselves live only in memory: a restart refills
//! them, which errs on the side of the client.
//!
//! Limits are off by default, and an unlimited tenant costs one branch on an `Option` already in
//! hand: no lock, no clock, no map lookup. Only authenticated requests draw from the bucket, so
//! nobody without the tenant's token can spend its budget.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use scim_store::{RateLimit, TenantKey};

use crate::error::ApiError;

/// One tenant's bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Requests that may be admitted now (fractional while refilling).
    tokens: f64,
    /// When `tokens` was last brought up to date.
    updated: Instant,
    /// The limit the bucket was filled under.
    limit: RateLimit,
}

/// The buckets of every limited tenant.
#[derive(Debug, Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<TenantKey, Bucket>>,
}

impl Limiter {
    /// Admits one request of `tenant` under `limit`, or says how many whole seconds to wait.
    pub fn admit(&self, tenant: TenantKey, limit: Option<RateLimit>) -> Result<(), ApiError> {
        let Some(limit) = limit else { return Ok(()) };
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let bucket = buckets.entry(tenant).or_insert(Bucket { tokens: f64::from(limit.burst), updated: now, limit });
        take(bucket, limit, now).map_err(|retry_after| ApiError::TooManyRequests { retry_after })
    }

    /// Forgets the buckets of tenants that are gone or no longer limited.
    pub fn retain(&self, mut limited: impl FnMut(TenantKey) -> bool) {
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner).retain(|key, _| limited(*key));
    }
}

/// Refills `bucket` up to `now` and takes one token; else the seconds until one is there.
///
/// A changed limit applies at once: the bucket keeps what it holds, capped at the new burst.
/// A rate that is not positive (the command line never stores one) admits nothing.
fn take(bucket: &mut Bucket, limit: RateLimit, now: Instant) -> Result<(), u64> {
    let burst = f64::from(limit.burst.max(1));
    if bucket.limit != limit {
        bucket.limit = limit;
        bucket.tokens = bucket.tokens.min(burst);
    }
    let rate = if limit.per_second.is_finite() && limit.per_second > 0.0 { limit.per_second } else { 0.0 };
    let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
    bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
    bucket.updated = now;
    if bucket.tokens >= 1.0 {
        bucket.tokens -= 1.0;
        return Ok(());
    }
    let wait = if rate > 0.0 { (1.0 - bucket.tokens) / rate } else { 60.0 };
    // `Retry-After` counts whole seconds; round up so a client that waits is admitted.
    Err((wait.ceil() as u64).clamp(1, 3600))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limit(per_second: f64, burst: u32) -> RateLimit {
        RateLimit { per_second, burst }
    }

    #[test]
    fn a_burst_then_the_rate() {
        let t0 = Instant::now();
        let l = limit(2.0, 3);
        let mut b = Bucket { tokens: 3.0, updated: t0, limit: l };
        for _ in 0..3 {
            assert_eq!(take(&mut b, l, t0), Ok(()));
        }
        assert_eq!(take(&mut b, l, t0), Err(1));
        // Two tokens a second: one is back after half a second, not before.
        assert_eq!(take(&mut b, l, t0 + Duration::from_millis(400)), Err(1));
        assert_eq!(take(&mut b, l, t0 + Duration::from_millis(500)), Ok(()));
        // Idle time refills no more than the burst.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(take(&mut b, l, later), Ok(()));
        }
        assert!(take(&mut b, l, later).is_err());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let t0 = Instant::now();
        let l = limit(0.25, 1);
        let mut b = Bucket { tokens: 1.0, updated: t0, limit: l };
        assert_eq!(take(&mut b, l, t0), Ok(()));
        assert_eq!(take(&mut b, l, t0), Err(4));
        assert_eq!(take(&mut b, l, t0 + Duration::from_millis(3500)), Err(1));
        let zero = limit(0.0, 1);
        let mut b = Bucket { tokens: 1.0, updated: t0, limit: zero };
        assert_eq!(take(&mut b, zero, t0), Ok(()));
        assert_eq!(take(&mut b, zero, t0 + Duration::from_secs(20)), Err(60));
    }

    #[test]
    fn a_changed_limit_caps_the_bucket_at_once() {
        let t0 = Instant::now();
        let wide = limit(100.0, 100);
        let narrow = limit(1.0, 2);
        let mut b = Bucket { tokens: 100.0, updated: t0, limit: wide };
        assert_eq!(take(&mut b, narrow, t0), Ok(()));
        assert_eq!(take(&mut b, narrow, t0), Ok(()));
        assert_eq!(take(&mut b, narrow, t0), Err(1));
    }

    #[test]
    fn tenants_have_their_own_buckets_and_no_limit_costs_nothing() {
        let limiter = Limiter::default();
        let (a, b) = (TenantKey(1), TenantKey(2));
        let l = Some(limit(0.001, 1));
        assert!(limiter.admit(a, l).is_ok());
        assert!(matches!(limiter.admit(a, l), Err(ApiError::TooManyRequests { retry_after }) if retry_after >= 1));
        assert!(limiter.admit(b, l).is_ok());
        for _ in 0..1000 {
            assert!(limiter.admit(a, None).is_ok());
        }
        limiter.retain(|key| key == b);
        assert!(limiter.admit(a, l).is_ok(), "a forgotten bucket starts full");
    }
}
