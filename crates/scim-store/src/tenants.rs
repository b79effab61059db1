//! Tenants: one directory each, with its profile and quotas.

use rusqlite::{OptionalExtension, Row};

use crate::db::Db;
use crate::{Error, TenantKey, ids};

/// One tenant (one Identity Center instance): a directory of users and groups behind its own
/// SCIM endpoint and tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    /// The internal key every resource operation takes; never shown outside the server.
    pub key: TenantKey,
    /// The public id in the endpoint's URL: 32 lowercase hex characters, server-generated.
    pub id: String,
    /// An administrator's label, if any.
    pub name: Option<String>,
    /// The behaviour profile (`identity-center` or `rfc`), as the server names it.
    pub profile: String,
    /// When the tenant was created, in unix milliseconds.
    pub created: i64,
    /// How many users the tenant may hold.
    pub max_users: i64,
    /// How many groups the tenant may hold.
    pub max_groups: i64,
    /// How many users it holds now.
    pub users: i64,
    /// How many groups it holds now.
    pub groups: i64,
    /// Its request rate limit; `None` (the default) for none.
    pub rate_limit: Option<RateLimit>,
}

/// A tenant's request rate limit: a token bucket of `burst` requests refilled at `per_second`.
///
/// The store keeps it; the server enforces it. The store does not judge the values (the command
/// line refuses a rate or burst that is not positive).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained requests per second (the bucket's refill rate).
    pub per_second: f64,
    /// Requests that may arrive at once (the bucket's size).
    pub burst: u32,
}

/// The columns [`tenant`] reads, in order.
const COLUMNS: &str =
    r#"seq, id, name, profile, created, max_users, max_groups, users, "groups", rate_limit_rps, rate_limit_burst"#;

/// A [`Tenant`] from a row of [`COLUMNS`].
fn tenant(row: &Row<'_>) -> rusqlite::Result<Tenant> {
    Ok(Tenant {
        key: TenantKey(row.get(0)?),
        id: row.get(1)?,
        name: row.get(2)?,
        profile: row.get(3)?,
        created: row.get(4)?,
        max_users: row.get(5)?,
        max_groups: row.get(6)?,
        users: row.get(7)?,
        groups: row.get(8)?,
        rate_limit: match (row.get::<_, Option<f64>>(9)?, row.get::<_, Option<u32>>(10)?) {
            (Some(per_second), Some(burst)) => Some(RateLimit { per_second, burst }),
            _ => None,
        },
    })
}

/// The current time in unix milliseconds (0 if the clock is before 1970).
pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Db<'_> {
    /// Every tenant, oldest first.
    pub fn tenants(&self) -> Result<Vec<Tenant>, Error> {
        let sql = format!("SELECT {COLUMNS} FROM tenants ORDER BY seq");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([], tenant)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The tenant with public id `id`, if any.
    pub fn tenant(&self, id: &str) -> Result<Option<Tenant>, Error> {
        let sql = format!("SELECT {COLUMNS} FROM tenants WHERE id = ?1");
        Ok(self.conn.prepare_cached(&sql)?.query_row([id], tenant).optional()?)
    }

    /// The internal key of the tenant with public id `id`, if any.
    pub(crate) fn tenant_key(&self, id: &str) -> Result<Option<TenantKey>, Error> {
        Ok(self
            .conn
            .prepare_cached("SELECT seq FROM tenants WHERE id = ?1")?
            .query_row([id], |row| row.get(0).map(TenantKey))
            .optional()?)
    }
}

impl Db<'_> {
    /// Creates a tenant with a fresh random id, the default quotas and no resources.
    pub fn create_tenant(&mut self, name: Option<&str>, profile: &str) -> Result<Tenant, Error> {
        let id = ids::tenant_id()?;
        let sql =
            format!("INSERT INTO tenants (id, name, profile, created) VALUES (?1, ?2, ?3, ?4) RETURNING {COLUMNS}");
        Ok(self.conn().prepare_cached(&sql)?.query_row((&id, name, profile, now_millis()), tenant)?)
    }

    /// Deletes a tenant and, by cascade, its tokens, resources, memberships and audit log.
    pub fn delete_tenant(&mut self, id: &str) -> Result<(), Error> {
        let deleted = self.conn().prepare_cached("DELETE FROM tenants WHERE id = ?1")?.execute([id])?;
        if deleted == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    /// Sets a tenant's profile.
    pub fn set_profile(&mut self, id: &str, profile: &str) -> Result<(), Error> {
        let updated =
            self.conn().prepare_cached("UPDATE tenants SET profile = ?2 WHERE id = ?1")?.execute((id, profile))?;
        if updated == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    /// Sets or (with `None`) removes a tenant's request rate limit.
    pub fn set_rate_limit(&mut self, id: &str, limit: Option<RateLimit>) -> Result<(), Error> {
        let updated = self
            .conn()
            .prepare_cached("UPDATE tenants SET rate_limit_rps = ?2, rate_limit_burst = ?3 WHERE id = ?1")?
            .execute((id, limit.map(|l| l.per_second), limit.map(|l| l.burst)))?;
        if updated == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    /// Sets a tenant's quotas; resources beyond a lowered quota stay, new ones are refused.
    pub fn set_quota(&mut self, id: &str, max_users: i64, max_groups: i64) -> Result<(), Error> {
        let updated = self
            .conn()
            .prepare_cached("UPDATE tenants SET max_users = ?2, max_groups = ?3 WHERE id = ?1")?
            .execute((id, max_users, max_groups))?;
        if updated == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::RateLimit;
    use crate::testkit::{TempDir, user_keys};
    use crate::{Error, NewAudit, Options, Store, TokenRecord};
    use scim_schema::ResourceKind;
    use serde_json::Map;

    #[test]
    fn create_list_get_delete() {
        let dir = TempDir::new();
        let store = Store::open(&dir.db(), Options::default()).unwrap();
        assert!(store.tenants().unwrap().is_empty());
        let a = store.create_tenant(Some("acme"), "identity-center").unwrap();
        let b = store.create_tenant(None, "rfc").unwrap();
        assert_eq!(a.id.len(), 32);
        assert_ne!(a.id, b.id);
        assert_eq!(a.name.as_deref(), Some("acme"));
        assert_eq!(b.name, None);
        assert_eq!(b.profile, "rfc");
        assert_eq!((a.max_users, a.max_groups), (100_000, 100_000));
        assert_eq!((a.users, a.groups), (0, 0));
        assert!(a.created > 1_600_000_000_000);
        assert_eq!(store.tenants().unwrap(), [a.clone(), b.clone()]);
        assert_eq!(store.tenant(&b.id).unwrap(), Some(b.clone()));
        assert_eq!(store.tenant("nope").unwrap(), None);

        store.delete_tenant(&a.id).unwrap();
        assert!(matches!(store.delete_tenant(&a.id), Err(Error::NotFound)));
        assert_eq!(store.tenants().unwrap(), [b]);
    }

    #[test]
    fn profile_and_quota_can_change() {
        let dir = TempDir::new();
        let store = Store::open(&dir.db(), Options::default()).unwrap();
        let t = store.create_tenant(None, "identity-center").unwrap();
        store.set_profile(&t.id, "rfc").unwrap();
        store.set_quota(&t.id, 5, 6).unwrap();
        let t = store.tenant(&t.id).unwrap().unwrap();
        assert_eq!((t.profile.as_str(), t.max_users, t.max_groups), ("rfc", 5, 6));
        assert!(matches!(store.set_profile("x", "rfc"), Err(Error::NotFound)));
        assert!(matches!(store.set_quota("x", 1, 1), Err(Error::NotFound)));
    }

    #[test]
    fn rate_limit_is_off_by_default_and_can_be_set_and_removed() {
        let dir = TempDir::new();
        let store = Store::open(&dir.db(), Options::default()).unwrap();
        let t = store.create_tenant(None, "identity-center").unwrap();
        assert_eq!(t.rate_limit, None);
        let limit = RateLimit { per_second: 2.5, burst: 7 };
        store.set_rate_limit(&t.id, Some(limit)).unwrap();
        assert_eq!(store.tenant(&t.id).unwrap().unwrap().rate_limit, Some(limit));
        store.set_rate_limit(&t.id, None).unwrap();
        assert_eq!(store.tenant(&t.id).unwrap().unwrap().rate_limit, None);
        assert!(matches!(store.set_rate_limit("x", Some(limit)), Err(Error::NotFound)));
    }

    #[test]
    fn counts_follow_inserts_and_deletes() {
        let dir = TempDir::new();
        let store = Store::open(&dir.db(), Options::default()).unwrap();
        let t = store.create_tenant(None, "identity-center").unwrap();
        let key = t.key;
        let ids = store
            .write(move |w| -> Result<Vec<String>, Error> {
                let mut ids = Vec::new();
                for name in ["a", "b", "c"] {
                    ids.push(w.insert(key, ResourceKind::User, &user_keys(name), &Map::new(), 1)?.id);
                }
                w.insert(key, ResourceKind::Group, &user_keys("g"), &Map::new(), 1)?;
                Ok(ids)
            })
            .unwrap();
        let t2 = store.tenant(&t.id).unwrap().unwrap();
        assert_eq!((t2.users, t2.groups), (3, 1));
        let first = ids[0].clone();
        store.write(move |w| w.delete(key, ResourceKind::User, &first)).unwrap();
        let t2 = store.tenant(&t.id).unwrap().unwrap();
        assert_eq!((t2.users, t2.groups), (2, 1));
    }

    #[test]
    fn deleting_a_tenant_cascades_to_everything_it_holds() {
        let dir = TempDir::new();
        let store = Store::open(&dir.db(), Options::default()).unwrap();
        let a = store.create_tenant(None, "identity-center").unwrap();
        let b = store.create_tenant(None, "identity-center").unwrap();
        for t in [&a, &b] {
            let key = t.key;
            store
                .write(move |w| -> Result<(), Error> {
                    let u = w.insert(key, ResourceKind::User, &user_keys("u"), &Map::new(), 1)?;
                    let g = w.insert(key, ResourceKind::Group, &user_keys("g"), &Map::new(), 1)?;
                    w.add_members(key, &g.id, &[u.id], false)?;
                    w.record_audit(
                        key,
                        &NewAudit {
                            at: 1,
                            request_id: "r".into(),
                            action: "CreateUser".into(),
                            resource_id: None,
                            status: 201,
                            detail: None,
                        },
                    )
                })
                .unwrap();
            store
                .add_token(&TokenRecord {
                    id: format!("tok-{}", t.id),
                    tenant_id: t.id.clone(),
                    created: 1,
                    expires: 2,
                })
                .unwrap();
        }
        store.delete_tenant(&a.id).unwrap();
        let conn = crate::connection::open_reader(&dir.db()).unwrap();
        let counts: Vec<i64> = ["resources", "members", "tokens", "audit"]
            .iter()
            .map(|table| conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| row.get(0)).unwrap())
            .collect();
        // Only tenant b's rows remain.
        assert_eq!(counts, [2, 1, 1, 1]);
        assert_eq!(store.all_tokens().unwrap().len(), 1);
    }
}
