//! Tenants: one directory each, with its profile, quotas, live counts and rate limit.

use std::fmt::Write as _;

use postgres::Row;
use scim_store::{Error, RateLimit, Tenant, TenantKey};

use crate::session::{Session, col};

/// The columns [`tenant`] reads, in order.
macro_rules! tenant_columns {
    () => {
        "t.seq, t.id, t.name, t.profile, t.created, t.max_users, t.max_groups,
         (SELECT COALESCE(sum(n), 0) FROM tenant_counts c WHERE c.tenant = t.seq AND c.kind = 0)::bigint,
         (SELECT COALESCE(sum(n), 0) FROM tenant_counts c WHERE c.tenant = t.seq AND c.kind = 1)::bigint,
         t.rate_limit_rps, t.rate_limit_burst"
    };
}

/// A [`Tenant`] from a row of `tenant_columns!()`.
fn tenant(row: &Row) -> Result<Tenant, Error> {
    let rate_limit = match (col::<Option<f64>>(row, 9)?, col::<Option<i64>>(row, 10)?) {
        (Some(per_second), Some(burst)) => u32::try_from(burst).ok().map(|burst| RateLimit { per_second, burst }),
        _ => None,
    };
    Ok(Tenant {
        key: TenantKey(col(row, 0)?),
        id: col(row, 1)?,
        name: col(row, 2)?,
        profile: col(row, 3)?,
        created: col(row, 4)?,
        max_users: col(row, 5)?,
        max_groups: col(row, 6)?,
        users: col(row, 7)?,
        groups: col(row, 8)?,
        rate_limit,
    })
}

/// A tenant id: 128 random bits as 32 lowercase hex characters, as the SQLite store makes them.
fn tenant_id() -> Result<String, Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| Error::Random(e.to_string()))?;
    let mut id = String::with_capacity(32);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(id, "{b:02x}");
    }
    Ok(id)
}

/// `Ok` when `changed` rows were changed, [`Error::NotFound`] when none.
pub(crate) fn found(changed: u64) -> Result<(), Error> {
    if changed == 0 { Err(Error::NotFound) } else { Ok(()) }
}

impl Session<'_> {
    pub(crate) fn tenants(&self) -> Result<Vec<Tenant>, Error> {
        let rows = self.rows(concat!("SELECT ", tenant_columns!(), " FROM tenants t ORDER BY t.seq"), &[])?;
        rows.iter().map(tenant).collect()
    }

    pub(crate) fn tenant(&self, id: &str) -> Result<Option<Tenant>, Error> {
        let row = self.row(concat!("SELECT ", tenant_columns!(), " FROM tenants t WHERE t.id = $1"), &[&id])?;
        row.as_ref().map(tenant).transpose()
    }

    /// The internal key of the tenant with public id `id`, if any; `lock` holds its row until the
    /// job ends (what serialises two jobs counting the tenant's tokens, on any replica).
    pub(crate) fn tenant_key(&self, id: &str, lock: bool) -> Result<Option<TenantKey>, Error> {
        let row = if lock {
            self.row("SELECT seq FROM tenants WHERE id = $1 FOR UPDATE", &[&id])?
        } else {
            self.row("SELECT seq FROM tenants WHERE id = $1", &[&id])?
        };
        row.map(|row| col(&row, 0).map(TenantKey)).transpose()
    }

    pub(crate) fn create_tenant(&self, name: Option<&str>, profile: &str) -> Result<Tenant, Error> {
        let id = tenant_id()?;
        self.exec(
            "INSERT INTO tenants (id, name, profile, created) VALUES ($1, $2, $3, $4)",
            &[&id, &name, &profile, &scim_schema::time::now_millis()],
        )?;
        self.tenant(&id)?.ok_or_else(|| Error::Backend("a tenant just created is missing".into()))
    }

    pub(crate) fn delete_tenant(&self, id: &str) -> Result<(), Error> {
        found(self.exec("DELETE FROM tenants WHERE id = $1", &[&id])?)
    }

    pub(crate) fn set_profile(&self, id: &str, profile: &str) -> Result<(), Error> {
        found(self.exec("UPDATE tenants SET profile = $2 WHERE id = $1", &[&id, &profile])?)
    }

    pub(crate) fn set_rate_limit(&self, id: &str, limit: Option<RateLimit>) -> Result<(), Error> {
        let (rps, burst) = (limit.map(|l| l.per_second), limit.map(|l| i64::from(l.burst)));
        found(self.exec(
            "UPDATE tenants SET rate_limit_rps = $2, rate_limit_burst = $3 WHERE id = $1",
            &[&id, &rps, &burst],
        )?)
    }

    pub(crate) fn set_quota(&self, id: &str, max_users: i64, max_groups: i64) -> Result<(), Error> {
        found(self.exec(
            "UPDATE tenants SET max_users = $2, max_groups = $3 WHERE id = $1",
            &[&id, &max_users, &max_groups],
        )?)
    }

    /// Adds the tenant as exported; [`Error::TenantExists`] if its id is taken.
    pub(crate) fn import_tenant(&self, t: &Tenant) -> Result<TenantKey, Error> {
        if self.tenant_key(&t.id, false)?.is_some() {
            return Err(Error::TenantExists(t.id.clone()));
        }
        let (rps, burst) = (t.rate_limit.map(|l| l.per_second), t.rate_limit.map(|l| i64::from(l.burst)));
        let row = self.row(
            "INSERT INTO tenants (id, name, profile, created, max_users, max_groups, rate_limit_rps, rate_limit_burst)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING RETURNING seq",
            &[&t.id, &t.name, &t.profile, &t.created, &t.max_users, &t.max_groups, &rps, &burst],
        )?;
        match row {
            Some(row) => Ok(TenantKey(col(&row, 0)?)),
            None => Err(Error::TenantExists(t.id.clone())),
        }
    }
}
