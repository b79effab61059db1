//! Refused requests in the audit log, without letting a flood grow it.
//!
//! Anyone who knows a tenant id (it is in the endpoint URL) can send requests without a token.
//! Recording each would let them grow the database at will, so only the first refusal of a
//! tenant in each window of `upkeep::FLUSH_EVERY` is recorded as it happens (operators see the
//! first failure at once); the others only bump a counter in memory ([`Refusals`]), one per
//! tenant, which becomes one audit row at the window's end ("N requests refused since …", with
//! the latest reason and request id as the sample): at most two rows per tenant per window,
//! whatever the flood. Other refusals (a bad body, a missing resource) are recorded one by one
//! ([`audit_rejection`]), on the write lane, without delaying the response.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use scim_store::{NewAudit, Store, TenantKey};

use crate::lanes::background;

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
    pub fn drain(&self) -> Vec<(TenantKey, NewAudit)> {
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

/// Records a refused request in the tenant's audit log, without delaying the response.
pub fn audit_rejection(
    store: &Arc<Store>,
    tenant: TenantKey,
    request_id: &str,
    action: String,
    resource_id: Option<String>,
    status: u16,
    reason: Option<&str>,
) {
    let entry = NewAudit {
        at: scim_schema::time::now_millis(),
        request_id: request_id.to_owned(),
        action,
        resource_id,
        status,
        detail: reason.map(str::to_owned),
    };
    let store = Arc::clone(store);
    let queued = background(move || {
        if let Err(e) = store.write(move |w| w.record_audit(tenant, &entry)) {
            tracing::warn!(error = %e, "could not record a rejected request in the audit log");
        }
    });
    if !queued {
        tracing::warn!(request_id, "the store is saturated: a rejected request's audit row was dropped");
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
