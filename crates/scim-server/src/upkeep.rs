//! Housekeeping that keeps the audit log bounded: refused unauthenticated requests counted and
//! sampled instead of recorded one by one, and the retention policy applied.
//!
//! Anyone who knows a tenant id (it is in the endpoint URL) can send requests without a token.
//! Recording each would let them grow the database at will, so only the first refusal of a
//! tenant in each window of [`FLUSH_EVERY`] is recorded as it happens (operators see the first
//! failure at once); the others only bump a counter in memory, one per tenant, which becomes one
//! audit row at the window's end ("N requests refused since …", with the latest reason and
//! request id as the sample): at most two rows per tenant per window, whatever the flood.
//! The same task removes audit rows older or more numerous than the [`Retention`] allows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use scim_store::{NewAudit, Retention, TenantKey};

use crate::app::{State, blocking};

/// How often counted refusals are written to the audit log.
pub const FLUSH_EVERY: Duration = Duration::from_secs(10);

/// How often the retention policy runs when the previous run left nothing behind.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// The most rows one pruning job removes, so it never holds the writer for long.
const PRUNE_BUDGET: usize = 5_000;

/// Unauthenticated refusals of each tenant since the last flush.
#[derive(Debug, Default)]
pub struct Refusals {
    tenants: Mutex<HashMap<TenantKey, Tally>>,
}

/// One tenant's refusals since the last flush.
#[derive(Debug)]
struct Tally {
    count: u64,
    since: i64,
    request_id: String,
    reason: String,
}

impl Refusals {
    /// Counts one refused request of `tenant`, keeping it as the sample; returns whether it is
    /// the first of its window, to be recorded on its own at once.
    ///
    /// Memory stays bounded: one entry per known tenant, the reason cut to the audit log's length.
    pub fn note(&self, tenant: TenantKey, request_id: &str, reason: &str) -> bool {
        let now = scim_schema::time::now_millis();
        let mut tenants = self.tenants.lock().unwrap_or_else(PoisonError::into_inner);
        let mut first = false;
        let tally = tenants.entry(tenant).or_insert_with(|| {
            first = true;
            Tally { count: 0, since: now, request_id: String::new(), reason: String::new() }
        });
        if first {
            return true;
        }
        if tally.count == 0 {
            tally.since = now;
        }
        tally.count += 1;
        tally.request_id.clear();
        tally.request_id.push_str(request_id);
        tally.reason = reason.chars().take(scim_store::MAX_FIELD_CHARS).collect();
        false
    }

    /// Ends the window: takes the counted refusals as audit rows, one per tenant that had any.
    fn drain(&self) -> Vec<(TenantKey, NewAudit)> {
        let tenants = std::mem::take(&mut *self.tenants.lock().unwrap_or_else(PoisonError::into_inner));
        let at = scim_schema::time::now_millis();
        tenants
            .into_iter()
            .filter(|(_, tally)| tally.count > 0)
            .map(|(tenant, tally)| {
                let since = scim_schema::time::format_error_timestamp(tally.since);
                let detail = format!(
                    "{} request(s) refused without a valid token since {since} UTC; the latest: {}",
                    tally.count, tally.reason
                );
                let entry = NewAudit {
                    at,
                    request_id: tally.request_id,
                    action: "Unauthenticated".into(),
                    resource_id: None,
                    status: 401,
                    detail: Some(detail),
                };
                (tenant, entry)
            })
            .collect()
    }
}

/// Writes counted refusals every [`FLUSH_EVERY`] and applies `retention`; runs forever.
pub async fn run(state: Arc<State>, retention: Retention) {
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_prune = tokio::time::Instant::now();
    loop {
        tick.tick().await;
        flush(&state).await;
        if tokio::time::Instant::now() >= next_prune {
            let removed = prune(&state, retention).await;
            // A full budget means more is left: come back at the next tick, not in a minute.
            next_prune = tokio::time::Instant::now() + if removed >= PRUNE_BUDGET { FLUSH_EVERY } else { PRUNE_EVERY };
        }
    }
}

/// Writes the counted refusals, one row per tenant.
pub async fn flush(state: &Arc<State>) {
    let rows = state.refusals.drain();
    if rows.is_empty() {
        return;
    }
    let store = Arc::clone(&state.store);
    let written = blocking(move || {
        store
            .write(move |w| {
                for (tenant, entry) in &rows {
                    match w.record_audit(*tenant, entry) {
                        // The tenant was deleted since: its refusals go with it.
                        Ok(()) | Err(scim_store::Error::NotFound) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            })
            .map_err(crate::error::ApiError::from)
    })
    .await;
    if let Err(e) = written {
        tracing::warn!(reason = %e.reason(), "could not record refused requests in the audit log");
    }
}

/// Applies the retention policy once; returns how many rows went.
async fn prune(state: &Arc<State>, retention: Retention) -> usize {
    let store = Arc::clone(&state.store);
    let now = scim_schema::time::now_millis();
    let removed =
        blocking(move || store.prune_audit(retention, now, PRUNE_BUDGET).map_err(crate::error::ApiError::from)).await;
    match removed {
        Ok(n) => {
            if n > 0 {
                tracing::info!(removed = n, "audit retention removed old rows");
            }
            n
        }
        Err(e) => {
            tracing::warn!(reason = %e.reason(), "applying the audit retention failed");
            0
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn refusals_become_one_row_per_tenant() {
        let refusals = Refusals::default();
        assert!(refusals.note(TenantKey(1), "req-first", "no bearer token"));
        for i in 0..1000 {
            assert!(!refusals.note(TenantKey(1), &format!("req-{i}"), &"x".repeat(10_000)));
        }
        assert!(refusals.note(TenantKey(2), "req-a", "no bearer token"));
        assert!(!refusals.note(TenantKey(2), "req-b", "no bearer token"));
        // Tenant 3 had only its first refusal, recorded at once: nothing is left to write.
        assert!(refusals.note(TenantKey(3), "req-c", "no bearer token"));
        let mut rows = refusals.drain();
        rows.sort_by_key(|(t, _)| t.0);
        assert_eq!(rows.len(), 2);
        let (_, a) = &rows[0];
        assert_eq!((a.status, a.request_id.as_str(), a.action.as_str()), (401, "req-999", "Unauthenticated"));
        let detail = a.detail.as_deref().unwrap();
        assert!(detail.starts_with("1000 request(s) refused"), "{detail}");
        assert!(detail.len() < 2 * scim_store::MAX_FIELD_CHARS, "{}", detail.len());
        assert!(rows[1].1.detail.as_deref().unwrap().ends_with("the latest: no bearer token"));
        assert!(refusals.drain().is_empty());
        // A new window starts with a refusal recorded at once again.
        assert!(refusals.note(TenantKey(1), "req-next", "no bearer token"));
    }
}
