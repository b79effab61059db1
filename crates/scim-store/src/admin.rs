//! Administrators' token ids, their trail of actions, and each tenant's attributes for access
//! control.

use crate::db::Db;
use crate::{Error, TenantKey};

/// One administrator's token record: its id and dates, never the token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AdminTokenRecord {
    /// The token's id (its JWT `jti`).
    pub id: String,
    /// When it was issued, in unix seconds.
    pub created: i64,
    /// When it expires, in unix seconds.
    pub expires: i64,
}

/// One attribute for access control: a session tag key and the source expression of its value.
///
/// The store keeps what it is given; `scim_schema::abac` judges keys and sources.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccessControlAttribute {
    /// The tag key, case preserved.
    pub key: String,
    /// The source expression, e.g. `${path:enterprise.department}`.
    pub source: String,
}

/// One administrator's action, for the admin trail (`admin_audit`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AdminAction {
    /// When it was done, in unix milliseconds.
    pub at: i64,
    /// The credential used: `admin-token:<id>`, `startup-secret` or `cli`.
    pub actor: String,
    /// What was done, e.g. `CreateTenant`.
    pub action: String,
    /// The tenant concerned, if any (kept after the tenant is deleted).
    pub tenant_id: Option<String>,
    /// The object concerned within it (a token id, say), if any.
    pub target: Option<String>,
    /// The HTTP status answered (the command line records 200 or 500).
    pub status: u16,
    /// The reason of a failure, if any.
    pub detail: Option<String>,
}

impl Db<'_> {
    /// Up to `limit` entries of the admin trail recorded before `before` (a `seq`), newest first,
    /// each with its `seq` (the paging cursor).
    pub fn admin_audit(&self, before: Option<i64>, limit: usize) -> Result<Vec<(i64, AdminAction)>, Error> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, at, actor, action, tenant_id, target, status, detail FROM admin_audit
              WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map((before.unwrap_or(i64::MAX), limit), |row| {
            Ok((
                row.get(0)?,
                AdminAction {
                    at: row.get(1)?,
                    actor: row.get(2)?,
                    action: row.get(3)?,
                    tenant_id: row.get(4)?,
                    target: row.get(5)?,
                    status: row.get(6)?,
                    detail: row.get(7)?,
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every admin token record, oldest first.
    pub fn admin_tokens(&self) -> Result<Vec<AdminTokenRecord>, Error> {
        let mut stmt =
            self.conn.prepare_cached("SELECT id, created, expires FROM admin_tokens ORDER BY created, id")?;
        let rows = stmt.query_map([], |row| {
            Ok(AdminTokenRecord { id: row.get(0)?, created: row.get(1)?, expires: row.get(2)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The tenant's attributes for access control, in the administrator's order.
    pub fn access_control(&self, tenant: TenantKey) -> Result<Vec<AccessControlAttribute>, Error> {
        let mut stmt =
            self.conn.prepare_cached("SELECT key, source FROM access_control WHERE tenant = ?1 ORDER BY position")?;
        let rows =
            stmt.query_map([tenant.0], |row| Ok(AccessControlAttribute { key: row.get(0)?, source: row.get(1)? }))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl Db<'_> {
    /// Appends an entry to the admin trail.
    pub fn record_admin_action(&mut self, entry: &AdminAction) -> Result<(), Error> {
        self.conn()
            .prepare_cached(
                "INSERT INTO admin_audit (at, actor, action, tenant_id, target, status, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute((
                entry.at,
                &entry.actor,
                &entry.action,
                &entry.tenant_id,
                &entry.target,
                entry.status,
                &entry.detail,
            ))?;
        Ok(())
    }

    /// Records a new admin token.
    pub fn add_admin_token(&mut self, record: &AdminTokenRecord) -> Result<(), Error> {
        self.conn()
            .prepare_cached("INSERT INTO admin_tokens (id, created, expires) VALUES (?1, ?2, ?3)")?
            .execute((&record.id, record.created, record.expires))?;
        Ok(())
    }

    /// Deletes admin token `id`; [`Error::NotFound`] if there is none.
    pub fn delete_admin_token(&mut self, id: &str) -> Result<(), Error> {
        if self.conn().prepare_cached("DELETE FROM admin_tokens WHERE id = ?1")?.execute([id])? == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    /// Replaces the tenant's attributes for access control with `attributes`, in order.
    ///
    /// Two keys equal but for case are refused by a unique index ([`Error::Sqlite`]); callers
    /// validate first.
    pub fn set_access_control(
        &mut self,
        tenant: TenantKey,
        attributes: &[AccessControlAttribute],
    ) -> Result<(), Error> {
        self.conn().prepare_cached("DELETE FROM access_control WHERE tenant = ?1")?.execute([tenant.0])?;
        let mut insert = self
            .conn()
            .prepare_cached("INSERT INTO access_control (tenant, position, key, source) VALUES (?1, ?2, ?3, ?4)")?;
        for (position, attribute) in attributes.iter().enumerate() {
            let position = i64::try_from(position).unwrap_or(i64::MAX);
            insert
                .execute((tenant.0, position, &attribute.key, &attribute.source))
                .map_err(|e| if crate::error::is_missing_parent(&e) { Error::NotFound } else { Error::Sqlite(e) })?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::testkit::Fixture;

    fn attr(key: &str, source: &str) -> AccessControlAttribute {
        AccessControlAttribute { key: key.into(), source: source.into() }
    }

    #[test]
    fn admin_tokens_add_list_delete() {
        let f = Fixture::new();
        let t = AdminTokenRecord { id: "a1".into(), created: 1, expires: 2 };
        f.store.add_admin_token(&t).unwrap();
        assert_eq!(f.store.admin_tokens().unwrap(), [t]);
        f.store.delete_admin_token("a1").unwrap();
        assert!(matches!(f.store.delete_admin_token("a1"), Err(Error::NotFound)));
        assert!(f.store.admin_tokens().unwrap().is_empty());
    }

    #[test]
    fn the_admin_trail_pages_newest_first_and_outlives_tenants() {
        let f = Fixture::new();
        let action = |n: i64| AdminAction {
            at: n,
            actor: "cli".into(),
            action: format!("Action{n}"),
            tenant_id: Some(f.a_id.clone()),
            target: None,
            status: 200,
            detail: None,
        };
        for n in 1..=3 {
            f.store.record_admin_action(&action(n)).unwrap();
        }
        f.store.delete_tenant(&f.a_id).unwrap();
        let page = f.store.read(|r| r.admin_audit(None, 2)).unwrap();
        assert_eq!(page.iter().map(|(_, a)| a.clone()).collect::<Vec<_>>(), [action(3), action(2)]);
        let rest = f.store.read(|r| r.admin_audit(Some(page[1].0), 10)).unwrap();
        assert_eq!(rest.into_iter().map(|(_, a)| a).collect::<Vec<_>>(), [action(1)]);
    }

    #[test]
    fn access_control_is_per_tenant_ordered_and_replaced_whole() {
        let f = Fixture::new();
        let (a, b) = (f.a, f.b);
        let first = vec![attr("Zeta", "${path:userName}"), attr("alpha", "${path:title}")];
        let set = first.clone();
        f.store.write(move |w| w.set_access_control(a, &set)).unwrap();
        f.store.write(move |w| w.set_access_control(b, &[attr("x", "${path:locale}")])).unwrap();
        assert_eq!(f.store.read(|r| r.access_control(a)).unwrap(), first);
        let dup = vec![attr("Key", "${path:userName}"), attr("KEY", "${path:title}")];
        assert!(f.store.write(move |w| w.set_access_control(a, &dup)).is_err());
        // The failed replacement changed nothing.
        assert_eq!(f.store.read(|r| r.access_control(a)).unwrap(), first);
        f.store.write(move |w| w.set_access_control(a, &[])).unwrap();
        assert!(f.store.read(|r| r.access_control(a)).unwrap().is_empty());
        assert_eq!(f.store.read(|r| r.access_control(b)).unwrap().len(), 1);
        assert!(matches!(
            f.store.write(|w| w.set_access_control(TenantKey(999), &[attr("k", "v")])),
            Err(Error::NotFound)
        ));
    }
}
