//! Test fixtures: a temporary directory, a store with two tenants, keys and attributes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::{Keys, Options, Store, TenantKey, ids};

/// A fresh directory under the system's temp dir, removed with everything in it on drop.
#[derive(Debug)]
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new() -> TempDir {
        let name = format!("scim-store-{}-{}", std::process::id(), ids::hex(&ids::random::<8>().unwrap()));
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir(&path).unwrap();
        TempDir(path)
    }

    /// The database file's path inside the directory.
    pub(crate) fn db(&self) -> PathBuf {
        self.0.join("store.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A store in a temporary directory with two empty tenants, `a` and `b`.
#[derive(Debug)]
pub(crate) struct Fixture {
    // Declared before `dir`: the store closes before its directory is removed.
    pub(crate) store: Store,
    pub(crate) a: TenantKey,
    pub(crate) a_id: String,
    pub(crate) b: TenantKey,
    pub(crate) dir: TempDir,
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        let dir = TempDir::new();
        let store = Store::open(&dir.db(), Options::default()).unwrap();
        let a = store.create_tenant(Some("a"), "identity-center").unwrap();
        let b = store.create_tenant(Some("b"), "identity-center").unwrap();
        Fixture { store, a: a.key, a_id: a.id, b: b.key, dir }
    }
}

impl Fixture {
    /// The query plan SQLite chooses for listing `query` in tenant `a`, one step per line.
    pub(crate) fn plan(&self, kind: scim_schema::ResourceKind, query: &crate::Query) -> Vec<String> {
        let conn = crate::connection::open_reader(&self.dir.db()).unwrap();
        crate::db::Db::new(&conn, &crate::hints::Hints::default()).plan(self.a, kind, query).unwrap()
    }
}

impl Fixture {
    /// One integer from a raw SQL query on a fresh read-only connection (for checks the
    /// contract does not expose, such as row counts of internal tables).
    pub(crate) fn count(&self, sql: &str) -> i64 {
        let conn = crate::connection::open_reader(&self.dir.db()).unwrap();
        conn.query_row(sql, [], |row| row.get(0)).unwrap()
    }

    /// The plan SQLite chooses for `sql`, one step per line.
    pub(crate) fn explain(&self, sql: &str) -> Vec<String> {
        let conn = crate::connection::open_reader(&self.dir.db()).unwrap();
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        stmt.query_map([], |row| row.get::<_, String>(3)).unwrap().collect::<Result<_, _>>().unwrap()
    }
}

/// Keys from borrowed parts.
pub(crate) fn keys(name: &str, external_id: Option<&str>, email: Option<&str>) -> Keys {
    Keys { name: name.to_owned(), external_id: external_id.map(str::to_owned), email: email.map(str::to_owned) }
}

/// Keys with only a name.
pub(crate) fn user_keys(name: &str) -> Keys {
    keys(name, None, None)
}

/// `{"userName": name}`.
pub(crate) fn attrs(name: &str) -> Map<String, Value> {
    let mut attrs = Map::new();
    attrs.insert("userName".into(), Value::String(name.to_owned()));
    attrs
}
