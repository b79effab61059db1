//! Token records: the ids (JWT `jti`) of each tenant's bearer tokens, never the tokens.

use rusqlite::Row;

use crate::Error;
use crate::db::Db;

/// How many tokens a tenant may hold, expired ones included (as AWS counts them).
pub const MAX_TOKENS_PER_TENANT: i64 = 2;

/// One bearer token's record: enough to list, expire and revoke it, nothing to forge it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenRecord {
    /// The token's id (its JWT `jti`).
    pub id: String,
    /// The public id of the tenant the token opens.
    pub tenant_id: String,
    /// When it was issued, in the caller's unit (scim-auth uses unix seconds).
    pub created: i64,
    /// When it expires, in the same unit as `created`.
    pub expires: i64,
}

/// The columns [`record`] reads, in order.
const COLUMNS: &str = "k.id, t.id, k.created, k.expires";

/// A [`TokenRecord`] from a row of [`COLUMNS`].
fn record(row: &Row<'_>) -> rusqlite::Result<TokenRecord> {
    Ok(TokenRecord { id: row.get(0)?, tenant_id: row.get(1)?, created: row.get(2)?, expires: row.get(3)? })
}

impl Db<'_> {
    /// The tenant's token records, oldest first; [`Error::NotFound`] for an unknown tenant.
    pub fn tokens(&self, tenant_id: &str) -> Result<Vec<TokenRecord>, Error> {
        let tenant = self.tenant_key(tenant_id)?.ok_or(Error::NotFound)?;
        let sql = format!(
            "SELECT {COLUMNS} FROM tokens k JOIN tenants t ON t.seq = k.tenant
             WHERE k.tenant = ?1 ORDER BY k.created, k.id"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([tenant.0], record)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every tenant's token records, for the server's in-memory verifier.
    pub fn all_tokens(&self) -> Result<Vec<TokenRecord>, Error> {
        let sql = format!(
            "SELECT {COLUMNS} FROM tokens k JOIN tenants t ON t.seq = k.tenant
             ORDER BY k.tenant, k.created, k.id"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([], record)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl Db<'_> {
    /// Records a new token of `record.tenant_id`.
    ///
    /// [`Error::NotFound`] for an unknown tenant, [`Error::TokenLimit`] if it already has
    /// [`MAX_TOKENS_PER_TENANT`]. The count and the insert run on the one writer, so two
    /// concurrent requests cannot both take the last slot.
    pub fn add_token(&mut self, record: &TokenRecord) -> Result<(), Error> {
        let tenant = self.tenant_key(&record.tenant_id)?.ok_or(Error::NotFound)?;
        let held: i64 = self
            .conn()
            .prepare_cached("SELECT COUNT(*) FROM tokens WHERE tenant = ?1")?
            .query_row([tenant.0], |row| row.get(0))?;
        if held >= MAX_TOKENS_PER_TENANT {
            return Err(Error::TokenLimit);
        }
        self.conn()
            .prepare_cached("INSERT INTO tokens (id, tenant, created, expires) VALUES (?1, ?2, ?3, ?4)")?
            .execute((&record.id, tenant.0, record.created, record.expires))?;
        Ok(())
    }

    /// Deletes token `token_id` of tenant `tenant_id`; [`Error::NotFound`] if there is none.
    pub fn delete_token(&mut self, tenant_id: &str, token_id: &str) -> Result<(), Error> {
        let deleted = self
            .conn()
            .prepare_cached(
                "DELETE FROM tokens WHERE id = ?2
                 AND tenant = (SELECT seq FROM tenants WHERE id = ?1)",
            )?
            .execute((tenant_id, token_id))?;
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

    fn token(id: &str, tenant_id: &str, created: i64, expires: i64) -> TokenRecord {
        TokenRecord { id: id.into(), tenant_id: tenant_id.into(), created, expires }
    }

    #[test]
    fn add_list_delete() {
        let dir = TempDir::new();
        let store = Store::open(&dir.db(), Options::default()).unwrap();
        let a = store.create_tenant(None, "identity-center").unwrap();
        let b = store.create_tenant(None, "identity-center").unwrap();
        let t1 = token("t1", &a.id, 10, 20);
        let t2 = token("t2", &a.id, 11, 21);
        let t3 = token("t3", &b.id, 12, 22);
        store.add_token(&t2).unwrap();
        store.add_token(&t1).unwrap();
        store.add_token(&t3).unwrap();
        assert_eq!(store.tokens(&a.id).unwrap(), [t1.clone(), t2.clone()]);
        assert_eq!(store.tokens(&b.id).unwrap(), std::slice::from_ref(&t3));
        assert_eq!(store.all_tokens().unwrap(), [t1, t2.clone(), t3]);

        // A token is deleted only through its own tenant.
        assert!(matches!(store.delete_token(&b.id, "t1"), Err(Error::NotFound)));
        store.delete_token(&a.id, "t1").unwrap();
        assert!(matches!(store.delete_token(&a.id, "t1"), Err(Error::NotFound)));
        assert_eq!(store.tokens(&a.id).unwrap(), [t2]);
    }

    #[test]
    fn unknown_tenant_is_not_found() {
        let dir = TempDir::new();
        let store = Store::open(&dir.db(), Options::default()).unwrap();
        assert!(matches!(store.tokens("nope"), Err(Error::NotFound)));
        assert!(matches!(store.add_token(&token("t", "nope", 1, 2)), Err(Error::NotFound)));
        assert!(matches!(store.delete_token("nope", "t"), Err(Error::NotFound)));
    }

    #[test]
    fn a_third_token_is_refused_even_if_one_has_expired() {
        let dir = TempDir::new();
        let store = Store::open(&dir.db(), Options::default()).unwrap();
        let a = store.create_tenant(None, "identity-center").unwrap();
        let b = store.create_tenant(None, "identity-center").unwrap();
        store.add_token(&token("old", &a.id, 1, 2)).unwrap();
        store.add_token(&token("new", &a.id, 3, i64::MAX)).unwrap();
        assert!(matches!(store.add_token(&token("third", &a.id, 4, i64::MAX)), Err(Error::TokenLimit)));
        // The limit is per tenant.
        store.add_token(&token("b1", &b.id, 4, i64::MAX)).unwrap();
        store.delete_token(&a.id, "old").unwrap();
        store.add_token(&token("third", &a.id, 4, i64::MAX)).unwrap();
        assert_eq!(store.tokens(&a.id).unwrap().len(), 2);
    }

    #[test]
    fn the_limit_holds_under_concurrent_adds() {
        let dir = TempDir::new();
        let store = std::sync::Arc::new(Store::open(&dir.db(), Options::default()).unwrap());
        let a = store.create_tenant(None, "identity-center").unwrap();
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                let tenant = a.id.clone();
                std::thread::spawn(move || store.add_token(&token(&format!("t{i}"), &tenant, i, 9)))
            })
            .collect();
        let ok = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|result| match result {
                Ok(()) => true,
                Err(Error::TokenLimit) => false,
                Err(e) => panic!("{e}"),
            })
            .count();
        assert_eq!(ok, 2);
        assert_eq!(store.tokens(&a.id).unwrap().len(), 2);
    }
}
