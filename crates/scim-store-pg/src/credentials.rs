//! Credentials and administration: tenants' token records and access keys, administrators'
//! tokens and trail, and each tenant's attributes for access control.

use postgres::Row;
use scim_store::{
    AccessControlAttribute, AccessKeyRecord, AdminAction, AdminTokenRecord, Error, MAX_ACCESS_KEYS_PER_TENANT,
    MAX_FIELD_CHARS, MAX_TOKENS_PER_TENANT, TenantKey, TokenRecord,
};

use crate::session::{Session, col, int};
use crate::tenants::found;

fn token(row: &Row) -> Result<TokenRecord, Error> {
    Ok(TokenRecord { id: col(row, 0)?, tenant_id: col(row, 1)?, created: col(row, 2)?, expires: col(row, 3)? })
}

fn access_key(row: &Row) -> Result<AccessKeyRecord, Error> {
    Ok(AccessKeyRecord { id: col(row, 0)?, tenant_id: col(row, 1)?, secret: col(row, 2)?, created: col(row, 3)? })
}

/// `MAX_FIELD_CHARS` as the `bounded()` SQL function takes it.
pub(crate) fn max_chars() -> i32 {
    i32::try_from(MAX_FIELD_CHARS).unwrap_or(i32::MAX)
}

impl Session<'_> {
    pub(crate) fn tokens(&self, tenant_id: &str) -> Result<Vec<TokenRecord>, Error> {
        let tenant = self.tenant_key(tenant_id, false)?.ok_or(Error::NotFound)?;
        let rows = self.rows(
            "SELECT k.id, t.id, k.created, k.expires FROM tokens k JOIN tenants t ON t.seq = k.tenant
              WHERE k.tenant = $1 ORDER BY k.created, k.id",
            &[&tenant.0],
        )?;
        rows.iter().map(token).collect()
    }

    pub(crate) fn all_tokens(&self) -> Result<Vec<TokenRecord>, Error> {
        let rows = self.rows(
            "SELECT k.id, t.id, k.created, k.expires FROM tokens k JOIN tenants t ON t.seq = k.tenant
              ORDER BY k.tenant, k.created, k.id",
            &[],
        )?;
        rows.iter().map(token).collect()
    }

    /// The tenant's row is locked first, so two jobs (on any replica) cannot both take the last
    /// of the [`MAX_TOKENS_PER_TENANT`] places.
    pub(crate) fn add_token(&self, record: &TokenRecord) -> Result<(), Error> {
        let tenant = self.tenant_key(&record.tenant_id, true)?.ok_or(Error::NotFound)?;
        let held = self.row("SELECT COUNT(*) FROM tokens WHERE tenant = $1", &[&tenant.0])?;
        if held.map(|row| col::<i64>(&row, 0)).transpose()?.unwrap_or(0) >= MAX_TOKENS_PER_TENANT {
            return Err(Error::TokenLimit);
        }
        self.exec(
            "INSERT INTO tokens (id, tenant, created, expires) VALUES ($1, $2, $3, $4)",
            &[&record.id, &tenant.0, &record.created, &record.expires],
        )?;
        Ok(())
    }

    pub(crate) fn delete_token(&self, tenant_id: &str, token_id: &str) -> Result<(), Error> {
        found(self.exec(
            "DELETE FROM tokens WHERE id = $2 AND tenant = (SELECT seq FROM tenants WHERE id = $1)",
            &[&tenant_id, &token_id],
        )?)
    }

    pub(crate) fn access_keys(&self, tenant_id: &str) -> Result<Vec<AccessKeyRecord>, Error> {
        let tenant = self.tenant_key(tenant_id, false)?.ok_or(Error::NotFound)?;
        let rows = self.rows(
            "SELECT k.id, t.id, k.secret, k.created FROM access_keys k JOIN tenants t ON t.seq = k.tenant
              WHERE k.tenant = $1 ORDER BY k.created, k.id",
            &[&tenant.0],
        )?;
        rows.iter().map(access_key).collect()
    }

    pub(crate) fn all_access_keys(&self) -> Result<Vec<AccessKeyRecord>, Error> {
        let rows = self.rows(
            "SELECT k.id, t.id, k.secret, k.created FROM access_keys k JOIN tenants t ON t.seq = k.tenant ORDER BY k.id",
            &[],
        )?;
        rows.iter().map(access_key).collect()
    }

    /// Locks the tenant's row first, as [`Session::add_token`] does.
    pub(crate) fn add_access_key(&self, record: &AccessKeyRecord) -> Result<(), Error> {
        let tenant = self.tenant_key(&record.tenant_id, true)?.ok_or(Error::NotFound)?;
        let held = self.row("SELECT COUNT(*) FROM access_keys WHERE tenant = $1", &[&tenant.0])?;
        if held.map(|row| col::<i64>(&row, 0)).transpose()?.unwrap_or(0) >= MAX_ACCESS_KEYS_PER_TENANT {
            return Err(Error::AccessKeyLimit);
        }
        self.exec(
            "INSERT INTO access_keys (id, tenant, secret, created) VALUES ($1, $2, $3, $4)",
            &[&record.id, &tenant.0, &record.secret, &record.created],
        )?;
        Ok(())
    }

    pub(crate) fn delete_access_key(&self, tenant_id: &str, key_id: &str) -> Result<(), Error> {
        found(self.exec(
            "DELETE FROM access_keys WHERE id = $2 AND tenant = (SELECT seq FROM tenants WHERE id = $1)",
            &[&tenant_id, &key_id],
        )?)
    }

    pub(crate) fn admin_tokens(&self) -> Result<Vec<AdminTokenRecord>, Error> {
        let rows = self.rows("SELECT id, created, expires FROM admin_tokens ORDER BY created, id", &[])?;
        rows.iter()
            .map(|row| Ok(AdminTokenRecord { id: col(row, 0)?, created: col(row, 1)?, expires: col(row, 2)? }))
            .collect()
    }

    pub(crate) fn add_admin_token(&self, record: &AdminTokenRecord) -> Result<(), Error> {
        self.exec(
            "INSERT INTO admin_tokens (id, created, expires) VALUES ($1, $2, $3)",
            &[&record.id, &record.created, &record.expires],
        )?;
        Ok(())
    }

    pub(crate) fn delete_admin_token(&self, id: &str) -> Result<(), Error> {
        found(self.exec("DELETE FROM admin_tokens WHERE id = $1", &[&id])?)
    }

    pub(crate) fn admin_audit(&self, before: Option<i64>, limit: usize) -> Result<Vec<(i64, AdminAction)>, Error> {
        let rows = self.rows(
            "SELECT seq, at, actor, action, tenant_id, target, status, detail FROM admin_audit
              WHERE seq < $1 ORDER BY seq DESC LIMIT $2",
            &[&before.unwrap_or(i64::MAX), &int(limit)],
        )?;
        rows.iter()
            .map(|row| {
                let status: i32 = col(row, 6)?;
                Ok((
                    col(row, 0)?,
                    AdminAction {
                        at: col(row, 1)?,
                        actor: col(row, 2)?,
                        action: col(row, 3)?,
                        tenant_id: col(row, 4)?,
                        target: col(row, 5)?,
                        status: u16::try_from(status).unwrap_or_default(),
                        detail: col(row, 7)?,
                    },
                ))
            })
            .collect()
    }

    pub(crate) fn record_admin_action(&self, entry: &AdminAction) -> Result<(), Error> {
        self.exec(
            "INSERT INTO admin_audit (at, actor, action, tenant_id, target, status, detail)
             VALUES ($1, bounded($2, $8), bounded($3, $8), bounded($4, $8), bounded($5, $8), $6, bounded($7, $8))",
            &[
                &entry.at,
                &entry.actor,
                &entry.action,
                &entry.tenant_id,
                &entry.target,
                &i32::from(entry.status),
                &entry.detail,
                &max_chars(),
            ],
        )?;
        Ok(())
    }

    pub(crate) fn access_control(&self, tenant: TenantKey) -> Result<Vec<AccessControlAttribute>, Error> {
        let rows =
            self.rows("SELECT key, source FROM access_control WHERE tenant = $1 ORDER BY position", &[&tenant.0])?;
        rows.iter().map(|row| Ok(AccessControlAttribute { key: col(row, 0)?, source: col(row, 1)? })).collect()
    }

    /// Replaces the list whole; two keys equal but for case are refused by the unique index
    /// ([`Error::Backend`]), an unknown tenant is [`Error::NotFound`].
    pub(crate) fn set_access_control(
        &self,
        tenant: TenantKey,
        attributes: &[AccessControlAttribute],
    ) -> Result<(), Error> {
        if self.row("SELECT seq FROM tenants WHERE seq = $1 FOR KEY SHARE", &[&tenant.0])?.is_none() {
            return Err(Error::NotFound);
        }
        self.exec("DELETE FROM access_control WHERE tenant = $1", &[&tenant.0])?;
        let keys: Vec<&str> = attributes.iter().map(|a| a.key.as_str()).collect();
        let sources: Vec<&str> = attributes.iter().map(|a| a.source.as_str()).collect();
        self.exec(
            "INSERT INTO access_control (tenant, position, key, source)
             SELECT $1, a.ord - 1, a.key, a.source FROM unnest($2::text[], $3::text[]) WITH ORDINALITY a(key, source, ord)",
            &[&tenant.0, &keys, &sources],
        )?;
        Ok(())
    }
}
