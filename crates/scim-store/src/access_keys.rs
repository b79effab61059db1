//! Access keys: the SigV4 credentials of the AWS SDKs, each bound to one tenant.
//!
//! Unlike a bearer token, whose id alone is stored, an access key's secret is stored: SigV4
//! verification starts by keying an HMAC with the secret itself, so a verifier without it cannot
//! verify. It is the one secret the database keeps (the token signing keys live in a key file
//! apart): a copy of a database that holds access keys opens those tenants' AWS APIs, though
//! neither SCIM nor the admin API. Secrets are never logged or shown after creation.

use rusqlite::Row;

use crate::Error;
use crate::db::Db;

/// How many access keys a tenant may hold, as AWS allows an IAM user two.
pub const MAX_ACCESS_KEYS_PER_TENANT: i64 = 2;

/// One access key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccessKeyRecord {
    /// The access key id (`AKIA…`).
    pub id: String,
    /// The public id of the tenant the key opens.
    pub tenant_id: String,
    /// The secret access key.
    pub secret: String,
    /// When it was created, in unix seconds.
    pub created: i64,
}

const COLUMNS: &str = "k.id, t.id, k.secret, k.created";

fn record(row: &Row<'_>) -> rusqlite::Result<AccessKeyRecord> {
    Ok(AccessKeyRecord { id: row.get(0)?, tenant_id: row.get(1)?, secret: row.get(2)?, created: row.get(3)? })
}

impl Db<'_> {
    /// The tenant's access keys, oldest first; [`Error::NotFound`] for an unknown tenant.
    pub fn access_keys(&self, tenant_id: &str) -> Result<Vec<AccessKeyRecord>, Error> {
        let tenant = self.tenant_key(tenant_id)?.ok_or(Error::NotFound)?;
        let sql = format!(
            "SELECT {COLUMNS} FROM access_keys k JOIN tenants t ON t.seq = k.tenant
             WHERE k.tenant = ?1 ORDER BY k.created, k.id"
        );
        let rows = self.conn.prepare_cached(&sql)?.query_map([tenant.0], record)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Every tenant's access keys, for the server's in-memory verifier.
    pub fn all_access_keys(&self) -> Result<Vec<AccessKeyRecord>, Error> {
        let sql = format!("SELECT {COLUMNS} FROM access_keys k JOIN tenants t ON t.seq = k.tenant ORDER BY k.id");
        let rows = self.conn.prepare_cached(&sql)?.query_map([], record)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }
}

impl Db<'_> {
    /// Records a new access key of `record.tenant_id`.
    ///
    /// [`Error::NotFound`] for an unknown tenant, [`Error::AccessKeyLimit`] if it already holds
    /// [`MAX_ACCESS_KEYS_PER_TENANT`].
    pub fn add_access_key(&mut self, record: &AccessKeyRecord) -> Result<(), Error> {
        let tenant = self.tenant_key(&record.tenant_id)?.ok_or(Error::NotFound)?;
        let held: i64 = self
            .conn()
            .prepare_cached("SELECT COUNT(*) FROM access_keys WHERE tenant = ?1")?
            .query_row([tenant.0], |row| row.get(0))?;
        if held >= MAX_ACCESS_KEYS_PER_TENANT {
            return Err(Error::AccessKeyLimit);
        }
        self.conn()
            .prepare_cached("INSERT INTO access_keys (id, tenant, secret, created) VALUES (?1, ?2, ?3, ?4)")?
            .execute((&record.id, tenant.0, &record.secret, record.created))?;
        Ok(())
    }

    /// Deletes access key `key_id` of tenant `tenant_id`; [`Error::NotFound`] if there is none.
    pub fn delete_access_key(&mut self, tenant_id: &str, key_id: &str) -> Result<(), Error> {
        let deleted = self
            .conn()
            .prepare_cached(
                "DELETE FROM access_keys WHERE id = ?2 AND tenant = (SELECT seq FROM tenants WHERE id = ?1)",
            )?
            .execute((tenant_id, key_id))?;
        if deleted == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::Options;
    use crate::Store;
    use crate::testkit::TempDir;

    #[test]
    fn keys_belong_to_one_tenant_two_at_most_and_go_with_it() {
        let dir = TempDir::new();
        let store = Store::open(&dir.db(), Options::default()).unwrap();
        let (a, b) = (store.create_tenant(None, "identity-center").unwrap(), store.create_tenant(None, "rfc").unwrap());
        let key = |id: &str, tenant: &str| AccessKeyRecord {
            id: id.into(),
            tenant_id: tenant.into(),
            secret: format!("secret-{id}"),
            created: 1,
        };
        store.add_access_key(&key("K1", &a.id)).unwrap();
        store.add_access_key(&key("K2", &a.id)).unwrap();
        assert!(matches!(store.add_access_key(&key("K3", &a.id)), Err(Error::AccessKeyLimit)));
        store.add_access_key(&key("K3", &b.id)).unwrap();
        assert_eq!(store.access_keys(&a.id).unwrap(), [key("K1", &a.id), key("K2", &a.id)]);
        assert!(matches!(store.delete_access_key(&b.id, "K1"), Err(Error::NotFound)));
        store.delete_access_key(&a.id, "K1").unwrap();
        store.delete_tenant(&a.id).unwrap();
        assert_eq!(store.all_access_keys().unwrap(), [key("K3", &b.id)]);
        assert!(matches!(store.access_keys(&a.id), Err(Error::NotFound)));
    }
}
