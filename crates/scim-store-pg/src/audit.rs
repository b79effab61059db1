//! The per-tenant audit log, bounded as the SQLite store bounds it: each text field cut to
//! [`MAX_FIELD_CHARS`](scim_store::MAX_FIELD_CHARS), old and surplus rows pruned in budgets.

use postgres::Row;
use scim_store::{AuditEntry, AuditFilter, Error, NewAudit, TenantKey};

use crate::credentials::max_chars;
use crate::session::{Session, col, count, int};

/// An [`AuditEntry`] from a row of `seq, at, request_id, action, resource_id, status, detail`.
fn entry(row: &Row) -> Result<AuditEntry, Error> {
    let status: i32 = col(row, 5)?;
    Ok(AuditEntry {
        seq: col(row, 0)?,
        at: col(row, 1)?,
        request_id: col(row, 2)?,
        action: col(row, 3)?,
        resource_id: col(row, 4)?,
        status: u16::try_from(status).unwrap_or_default(),
        detail: col(row, 6)?,
    })
}

impl Session<'_> {
    pub(crate) fn audit(&self, tenant: TenantKey, after: Option<i64>, limit: usize) -> Result<Vec<AuditEntry>, Error> {
        let rows = self.rows(
            "SELECT seq, at, request_id, action, resource_id, status, detail FROM audit
              WHERE tenant = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            &[&tenant.0, &after.unwrap_or(0), &int(limit)],
        )?;
        rows.iter().map(entry).collect()
    }

    pub(crate) fn audit_filtered(&self, tenant: TenantKey, filter: &AuditFilter) -> Result<Vec<AuditEntry>, Error> {
        let rows = self.rows(
            "SELECT seq, at, request_id, action, resource_id, status, detail FROM audit
              WHERE tenant = $1 AND seq < $2
                AND ($3::text IS NULL OR action = $3)
                AND ($4::text IS NULL OR resource_id = $4)
                AND ($5::boolean IS NULL OR (status >= 400) = $5)
              ORDER BY seq DESC LIMIT $6",
            &[
                &tenant.0,
                &filter.before.unwrap_or(i64::MAX),
                &filter.action,
                &filter.resource_id,
                &filter.rejected,
                &int(filter.limit),
            ],
        )?;
        rows.iter().map(entry).collect()
    }

    /// One statement: for each tenant, the `seq` of its newest row beyond the first `max_rows`.
    pub(crate) fn audit_overflow(&self, max_rows: u64) -> Result<Vec<(TenantKey, i64)>, Error> {
        let max_rows = i64::try_from(max_rows).unwrap_or(i64::MAX);
        let rows = self.rows(
            "SELECT t.seq, a.seq FROM tenants t
               CROSS JOIN LATERAL (SELECT seq FROM audit WHERE tenant = t.seq ORDER BY seq DESC OFFSET $1 LIMIT 1) a
              ORDER BY t.seq",
            &[&max_rows],
        )?;
        rows.iter().map(|row| Ok((TenantKey(col(row, 0)?), col(row, 1)?))).collect()
    }

    /// Records an entry; [`Error::NotFound`] for an unknown tenant (the insert selects the
    /// tenant's row, so an unknown one inserts nothing rather than failing the transaction).
    pub(crate) fn record_audit(&self, tenant: TenantKey, entry: &NewAudit) -> Result<(), Error> {
        // Held back to go with the commit: an unknown tenant fails the foreign key, which is
        // `NotFound`, and the whole job with it.
        self.defer(
            "INSERT INTO audit (tenant, at, request_id, action, resource_id, status, detail)
             VALUES ($1, $2, bounded($3, $8), bounded($4, $8), bounded($5, $8), $6, bounded($7, $8))",
            vec![
                Box::new(tenant.0),
                Box::new(entry.at),
                Box::new(entry.request_id.clone()),
                Box::new(entry.action.clone()),
                Box::new(entry.resource_id.clone()),
                Box::new(i32::from(entry.status)),
                Box::new(entry.detail.clone()),
                Box::new(max_chars()),
            ],
        )
    }

    /// Removes up to `budget` rows, oldest first: those before `cutoff`, then each overflowing
    /// tenant's rows up to its cursor.
    pub(crate) fn prune_audit(
        &self,
        cutoff: i64,
        budget: usize,
        overflowing: &[(TenantKey, i64)],
    ) -> Result<usize, Error> {
        let budget = int(budget);
        let mut removed = count(self.exec(
            "DELETE FROM audit WHERE seq IN (SELECT seq FROM audit ORDER BY seq LIMIT $2) AND at < $1",
            &[&cutoff, &budget],
        )?);
        for (tenant, last) in overflowing {
            let left = budget.saturating_sub(int(removed));
            if left <= 0 {
                break;
            }
            removed += count(self.exec(
                "DELETE FROM audit WHERE seq IN (
                     SELECT seq FROM audit WHERE tenant = $1 AND seq <= $2 ORDER BY seq LIMIT $3)",
                &[&tenant.0, last, &left],
            )?);
        }
        Ok(removed)
    }
}
