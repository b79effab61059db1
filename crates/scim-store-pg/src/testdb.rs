//! A throwaway database for the tests: created on the server named by `SCIM_TEST_POSTGRES`
//! (an admin URL such as `postgres://postgres@127.0.0.1:5432/postgres`), with the tables
//! listing reads, dropped on drop. Without the variable the tests say so and skip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};

use postgres::{Client, NoTls};
use scim_schema::ResourceKind;
use scim_store::{Error, Keys, Page, Query, TenantKey};
use serde_json::{Map, Value};

use crate::link::Link;
use crate::pool::Conn;
use crate::session::Session;
use crate::tls::MakeRustls;

/// A database of its own, dropped with this value.
pub(crate) struct TestDb {
    admin: String,
    name: String,
    /// A connection to it.
    pub(crate) client: Client,
    /// A pooled-style connection to it, for the backend's listing.
    conn: Conn,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDb").field("name", &self.name).finish_non_exhaustive()
    }
}

impl TestDb {
    /// A fresh database with the tables, or `None` (said on stdout) without `SCIM_TEST_POSTGRES`.
    pub(crate) fn create(test: &str) -> Option<TestDb> {
        let Ok(admin) = std::env::var("SCIM_TEST_POSTGRES") else {
            println!("{test}: skipped, SCIM_TEST_POSTGRES is not set");
            return None;
        };
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let name = format!("scim_pgquery_{}_{}", std::process::id(), COUNT.fetch_add(1, Ordering::SeqCst));
        let mut server = Client::connect(&admin, NoTls).unwrap();
        server.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).unwrap();
        server.batch_execute(&format!("CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0")).unwrap();
        let mut config: postgres::Config = admin.parse().unwrap();
        config.dbname(&name);
        let mut client = config.connect(NoTls).unwrap();
        // The real schema, and tenants 1 and 2 for the rows the tests write by plain SQL.
        crate::migrations::migrate(&mut client).unwrap();
        client
            .batch_execute("INSERT INTO tenants (id, profile, created) VALUES ('t1', 'rfc', 0), ('t2', 'rfc', 0)")
            .unwrap();
        let mut config: tokio_postgres::Config = admin.parse().unwrap();
        config.dbname(&name);
        let link = Link::connect(&config, MakeRustls::new(false).unwrap(), "SET synchronous_commit = on").unwrap();
        let conn = Conn::new(link);
        Some(TestDb { admin, name, client, conn })
    }

    /// A page of the tenant's resources, listed as the backend lists in one read snapshot.
    pub(crate) fn list(&mut self, tenant: TenantKey, kind: ResourceKind, query: &Query) -> Result<Page, Error> {
        let session = Session::begin(&mut self.conn, true);
        let page = crate::query::list(&session, tenant, kind, query);
        session.finish(false)?;
        page
    }

    /// Adds a resource as the backend writes one: a fresh UUID, the keys folded by Rust, version
    /// 1, or 2 when `modified` differs from `created` (it was replaced once).
    pub(crate) fn insert(
        &mut self,
        tenant: TenantKey,
        kind: ResourceKind,
        keys: &Keys,
        attrs: &Map<String, Value>,
        created: i64,
        modified: i64,
    ) -> String {
        let kind: i16 = if kind == ResourceKind::User { 0 } else { 1 };
        let version: i64 = if modified == created { 1 } else { 2 };
        let row = self
            .client
            .query_one(
                "INSERT INTO resources (tenant, kind, id, name_key, external_id, email_key, created, modified, version, attrs)
                 VALUES ($1, $2, gen_random_uuid()::text, $3, $4, $5, $6, $7, $8, $9::text::jsonb) RETURNING id",
                &[
                    &tenant.0,
                    &kind,
                    &keys.name.to_lowercase(),
                    &keys.external_id,
                    &keys.email.as_ref().map(|e| e.to_lowercase()),
                    &created,
                    &modified,
                    &version,
                    &serde_json::to_string(attrs).unwrap(),
                ],
            )
            .unwrap();
        row.get(0)
    }

    /// Makes `members` (ids of the same tenant) direct members of `group`.
    pub(crate) fn add_members(&mut self, group: &str, members: &[String]) {
        self.client
            .execute(
                "INSERT INTO members (group_seq, member_seq)
                 SELECT g.seq, m.seq FROM resources g JOIN resources m ON m.tenant = g.tenant
                 WHERE g.id = $1 AND m.id = ANY($2) ON CONFLICT DO NOTHING",
                &[&group, &members],
            )
            .unwrap();
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut server) = Client::connect(&self.admin, NoTls) {
            let _ = server.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}
