//! The per-tenant audit log: one row per request worth remembering, rejected ones included.

use rusqlite::Row;

use crate::error::is_missing_parent;
use crate::{Error, Reader, TenantKey, Writer};

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

impl Reader<'_> {
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

impl Writer<'_> {
    /// Records an audit entry for the tenant; [`Error::NotFound`] for an unknown tenant.
    pub fn record_audit(&mut self, tenant: TenantKey, entry: &NewAudit) -> Result<(), Error> {
        self.conn()
            .prepare_cached(
                "INSERT INTO audit (tenant, at, request_id, action, resource_id, status, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute((
                tenant.0,
                entry.at,
                &entry.request_id,
                &entry.action,
                &entry.resource_id,
                entry.status,
                &entry.detail,
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
