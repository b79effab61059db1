//! Housekeeping that keeps the audit log bounded: every [`FLUSH_EVERY`] the refusals counted in
//! `refusals` become audit rows, and audit rows older or more numerous than the [`Retention`]
//! allows are removed.

use std::sync::Arc;
use std::time::Duration;

use scim_store::Retention;

use crate::lanes::blocking;
use crate::state::State;

/// How often counted refusals are written to the audit log.
pub const FLUSH_EVERY: Duration = Duration::from_secs(10);

/// How often the retention policy runs when the previous run left nothing behind.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// The most rows one pruning job removes, so it never holds the writer for long.
const PRUNE_BUDGET: usize = 5_000;

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
