//! The per-tenant audit log: one row per request worth remembering, rejected ones included.
//!
//! The log is bounded on every side, because a caller who is refused still makes it grow: each
//! field of a row is cut to a fixed length ([`MAX_FIELD_CHARS`]), and [`Store::prune_audit`]
//! keeps at most a given age and number of rows per tenant ([`Retention`]).

use rusqlite::{OptionalExtension, Row};

use crate::db::Db;
use crate::error::is_missing_parent;
use crate::{Error, TenantKey};

/// An audit entry to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAudit {
    /// When the request was answered, in unix milliseconds.
    pub at: i64,
    /// The request id sent back to the client (`x-amzn-RequestId`).
    pub request_id: String,
    /// What was asked, e.g. `CreateUser`.
    pub action: String,
    /// The resource concerned, if any.
    pub resource_id: Option<String>,
    /// The HTTP status answered.
    pub status: u16,
    /// The specific reason, kept even when the wire hides it.
    pub detail: Option<String>,
}

/// A recorded audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Recording order: the paging cursor.
    pub seq: i64,
    /// When the request was answered, in unix milliseconds.
    pub at: i64,
    /// The request id sent back to the client.
    pub request_id: String,
    /// What was asked, e.g. `CreateUser`.
    pub action: String,
    /// The resource concerned, if any.
    pub resource_id: Option<String>,
    /// The HTTP status answered.
    pub status: u16,
    /// The specific reason, if any.
    pub detail: Option<String>,
}

/// An [`AuditEntry`] from a row of `seq, at, request_id, action, resource_id, status, detail`.
fn entry(row: &Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        seq: row.get(0)?,
        at: row.get(1)?,
        request_id: row.get(2)?,
        action: row.get(3)?,
        resource_id: row.get(4)?,
        status: row.get(5)?,
        detail: row.get(6)?,
    })
}

/// Which audit entries to list, newest first: the administrator's view of the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only entries recorded before this `seq` (the last `seq` of the previous page).
    pub before: Option<i64>,
    /// Only this action, e.g. `CreateUser` (exact).
    pub action: Option<String>,
    /// Only entries about this resource id.
    pub resource_id: Option<String>,
    /// `Some(true)`: only refused requests (status 400 and up); `Some(false)`: only successes.
    pub rejected: Option<bool>,
    /// The most entries to return.
    pub limit: usize,
}

impl Db<'_> {
    /// The tenant's audit entries meeting `filter`, newest first.
    pub fn audit_filtered(&self, tenant: TenantKey, filter: &AuditFilter) -> Result<Vec<AuditEntry>, Error> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, at, request_id, action, resource_id, status, detail FROM audit
              WHERE tenant = ?1 AND seq < ?2
                AND (?3 IS NULL OR action = ?3)
                AND (?4 IS NULL OR resource_id = ?4)
                AND (?5 IS NULL OR (status >= 400) = ?5)
              ORDER BY seq DESC LIMIT ?6",
        )?;
        let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(
            (tenant.0, filter.before.unwrap_or(i64::MAX), &filter.action, &filter.resource_id, filter.rejected, limit),
            entry,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Up to `limit` of the tenant's audit entries recorded after `after` (a `seq`), oldest first.
    pub fn audit(&self, tenant: TenantKey, after: Option<i64>, limit: usize) -> Result<Vec<AuditEntry>, Error> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, at, request_id, action, resource_id, status, detail FROM audit
              WHERE tenant = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map((tenant.0, after.unwrap_or(0), limit), entry)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// The most characters an audit row keeps of any text field; longer text is cut and marked `…`.
///
/// A request's path can be hundreds of kilobytes; its audit row must not be.
pub const MAX_FIELD_CHARS: usize = 512;

/// `text` cut to [`MAX_FIELD_CHARS`] characters, marked when cut.
fn bounded(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(MAX_FIELD_CHARS) {
        None => std::borrow::Cow::Borrowed(text),
        Some((end, _)) => std::borrow::Cow::Owned(format!("{}…", &text[..end])),
    }
}

/// How much of the audit log each tenant keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Rows older than this many milliseconds before now are removed.
    pub max_age_millis: i64,
    /// At most this many of a tenant's newest rows are kept.
    pub max_rows: u64,
}

impl Default for Retention {
    /// 90 days and 100,000 rows per tenant.
    fn default() -> Retention {
        Retention { max_age_millis: 90 * 24 * 3600 * 1000, max_rows: 100_000 }
    }
}

impl Db<'_> {
    /// Each tenant holding more than `max_rows` audit rows, with the `seq` of its newest row
    /// beyond them.
    pub fn audit_overflow(&self, max_rows: u64) -> Result<Vec<(TenantKey, i64)>, Error> {
        let max_rows = i64::try_from(max_rows).unwrap_or(i64::MAX);
        let tenants: Vec<i64> = self
            .conn
            .prepare_cached("SELECT seq FROM tenants")?
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        let mut beyond =
            self.conn.prepare_cached("SELECT seq FROM audit WHERE tenant = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2")?;
        let mut out = Vec::new();
        for tenant in tenants {
            if let Some(seq) = beyond.query_row((tenant, max_rows), |row| row.get(0)).optional()? {
                out.push((TenantKey(tenant), seq));
            }
        }
        Ok(out)
    }
}

impl Db<'_> {
    /// Removes up to `budget` audit rows, oldest first: those recorded before `cutoff` (unix
    /// milliseconds), then each `(tenant, seq)` of `overflowing`'s rows up to that `seq`.
    pub fn prune_audit(
        &mut self,
        cutoff: i64,
        budget: usize,
        overflowing: &[(TenantKey, i64)],
    ) -> Result<usize, Error> {
        let budget = i64::try_from(budget).unwrap_or(i64::MAX);
        let conn = self.conn();
        // Rows are recorded in time order, so the old ones are the lowest `seq`s: looking at the
        // oldest `budget` rows walks the table's own order and never scans the young rest.
        let mut removed = conn
            .prepare_cached("DELETE FROM audit WHERE seq IN (SELECT seq FROM audit ORDER BY seq LIMIT ?2) AND at < ?1")?
            .execute((cutoff, budget))?;
        let mut trim = conn.prepare_cached(
            "DELETE FROM audit WHERE seq IN (
                 SELECT seq FROM audit WHERE tenant = ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3)",
        )?;
        for (tenant, last) in overflowing {
            let left = budget.saturating_sub(i64::try_from(removed).unwrap_or(i64::MAX));
            if left <= 0 {
                break;
            }
            removed += trim.execute((tenant.0, last, left))?;
        }
        Ok(removed)
    }

    /// Records an audit entry for the tenant; [`Error::NotFound`] for an unknown tenant.
    ///
    /// Text fields longer than [`MAX_FIELD_CHARS`] are cut.
    pub fn record_audit(&mut self, tenant: TenantKey, entry: &NewAudit) -> Result<(), Error> {
        self.conn()
            .prepare_cached(
                "INSERT INTO audit (tenant, at, request_id, action, resource_id, status, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute((
                tenant.0,
                entry.at,
                bounded(&entry.request_id),
                bounded(&entry.action),
                entry.resource_id.as_deref().map(bounded),
                entry.status,
                entry.detail.as_deref().map(bounded),
            ))
            .map_err(|e| if is_missing_parent(&e) { Error::NotFound } else { Error::Sqlite(e) })?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::testkit::Fixture;

    fn note(i: i64) -> NewAudit {
        NewAudit {
            at: i,
            request_id: format!("req-{i}"),
            action: "CreateUser".into(),
            resource_id: (i % 2 == 0).then(|| format!("res-{i}")),
            status: if i % 3 == 0 { 409 } else { 201 },
            detail: (i % 3 == 0).then(|| "userName taken".to_owned()),
        }
    }

    #[test]
    fn record_and_page() {
        let f = Fixture::new();
        let (s, a, b) = (&f.store, f.a, f.b);
        s.write(move |w| -> Result<(), Error> {
            for i in 0..5 {
                w.record_audit(a, &note(i))?;
            }
            w.record_audit(b, &note(99))
        })
        .unwrap();
        let first = s.read(|r| r.audit(a, None, 3)).unwrap();
        assert_eq!(first.iter().map(|e| e.at).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(first[0].status, 409);
        assert_eq!(first[0].detail.as_deref(), Some("userName taken"));
        assert_eq!(first[1].resource_id, None);
        let rest = s.read(|r| r.audit(a, Some(first[2].seq), 10)).unwrap();
        assert_eq!(rest.iter().map(|e| e.at).collect::<Vec<_>>(), [3, 4]);
        assert_eq!(s.read(|r| r.audit(b, None, 10)).unwrap().len(), 1);
        assert!(matches!(s.write(|w| w.record_audit(TenantKey(999), &note(1))), Err(Error::NotFound)));
    }

    #[test]
    fn filtered_newest_first() {
        let f = Fixture::new();
        let (s, a) = (&f.store, f.a);
        s.write(move |w| -> Result<(), Error> {
            for i in 0..6 {
                w.record_audit(a, &note(i))?;
            }
            Ok(())
        })
        .unwrap();
        let at = |filter: AuditFilter| -> Vec<i64> {
            s.read(|r| r.audit_filtered(a, &filter)).unwrap().iter().map(|e| e.at).collect()
        };
        assert_eq!(at(AuditFilter { limit: 10, ..AuditFilter::default() }), [5, 4, 3, 2, 1, 0]);
        assert_eq!(at(AuditFilter { limit: 10, rejected: Some(true), ..AuditFilter::default() }), [3, 0]);
        assert_eq!(at(AuditFilter { limit: 2, rejected: Some(false), ..AuditFilter::default() }), [5, 4]);
        assert_eq!(at(AuditFilter { limit: 10, resource_id: Some("res-2".into()), ..AuditFilter::default() }), [2]);
        assert!(at(AuditFilter { limit: 10, action: Some("DeleteUser".into()), ..AuditFilter::default() }).is_empty());
        let page = s.read(|r| r.audit_filtered(a, &AuditFilter { limit: 2, ..AuditFilter::default() })).unwrap();
        let next = AuditFilter { limit: 2, before: Some(page[1].seq), ..AuditFilter::default() };
        assert_eq!(at(next), [3, 2]);
    }

    #[test]
    fn long_fields_are_cut() {
        let f = Fixture::new();
        let (s, a) = (&f.store, f.a);
        let long = "é".repeat(100_000);
        let entry = NewAudit {
            action: format!("GET /{long}"),
            resource_id: Some(long.clone()),
            detail: Some(long.clone()),
            ..note(1)
        };
        s.write(move |w| w.record_audit(a, &entry)).unwrap();
        let row = &s.read(|r| r.audit(a, None, 1)).unwrap()[0];
        for field in [Some(&row.action), row.resource_id.as_ref(), row.detail.as_ref()] {
            let field = field.unwrap();
            assert_eq!(field.chars().count(), MAX_FIELD_CHARS + 1, "{}", &field[..20]);
            assert!(field.ends_with('…'));
        }
    }

    #[test]
    fn retention_removes_old_rows_and_keeps_the_newest_per_tenant() {
        let f = Fixture::new();
        let (s, a, b) = (&f.store, f.a, f.b);
        s.write(move |w| -> Result<(), Error> {
            for i in 0..10 {
                w.record_audit(a, &note(i * 1000))?;
                w.record_audit(b, &note(i * 1000))?;
            }
            Ok(())
        })
        .unwrap();
        let ats = |t| s.read(|r| r.audit(t, None, 100)).unwrap().iter().map(|e| e.at).collect::<Vec<_>>();
        // Everything before 3000 is too old; a budget of 3 takes the oldest three first.
        let retention = Retention { max_age_millis: 7000, max_rows: 100 };
        assert_eq!(s.prune_audit(retention, 10_000, 3).unwrap(), 3);
        assert_eq!(s.prune_audit(retention, 10_000, 100).unwrap(), 3);
        assert_eq!(ats(a), [3000, 4000, 5000, 6000, 7000, 8000, 9000]);
        // At most 4 rows per tenant, the newest.
        let retention = Retention { max_age_millis: i64::MAX, max_rows: 4 };
        assert_eq!(s.prune_audit(retention, 10_000, 100).unwrap(), 6);
        assert_eq!(ats(a), [6000, 7000, 8000, 9000]);
        assert_eq!(ats(b), [6000, 7000, 8000, 9000]);
        assert_eq!(s.prune_audit(retention, 10_000, 100).unwrap(), 0);
    }

    #[test]
    fn an_audit_row_survives_its_requests_failure() {
        // A rejected request records its audit row in its own job, after the failed one.
        let f = Fixture::new();
        let (s, a) = (&f.store, f.a);
        let failed: Result<(), Error> = s.write(move |w| {
            w.record_audit(a, &note(1))?;
            Err(Error::NotFound)
        });
        assert!(failed.is_err());
        s.write(move |w| w.record_audit(a, &note(2))).unwrap();
        let log = s.read(|r| r.audit(a, None, 10)).unwrap();
        assert_eq!(log.iter().map(|e| e.at).collect::<Vec<_>>(), [2]);
    }
}
