//! Test fixtures: a throwaway database per test on the server named by `SCIM_TEST_POSTGRES`, a
//! backend with two tenants on it, and the façade's two calls (`read`, `write`) in miniature.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::mpsc;

use scim_store::contract::{Backend, Reader, WriteJob, Writer};
use scim_store::{Error, Keys, Options, TenantKey};
use serde_json::{Map, Value};

use crate::pool::Settings;
use crate::{Postgres, connect};

/// The variable naming an administrator's URL, e.g. `postgres://postgres@127.0.0.1:5432/postgres`.
pub(crate) const VARIABLE: &str = "SCIM_TEST_POSTGRES";

/// A database created for one test and dropped (`WITH (FORCE)`) after it.
#[derive(Debug)]
pub(crate) struct TestDb {
    admin: String,
    name: String,
    pub(crate) url: String,
}

impl TestDb {
    /// A fresh empty database, or `None` (after printing a skip line) when no server is named.
    pub(crate) fn new() -> Option<TestDb> {
        let Some(admin) = std::env::var(VARIABLE).ok().filter(|v| !v.is_empty()) else {
            eprintln!("skipped: {VARIABLE} is not set");
            return None;
        };
        let mut bytes = [0u8; 6];
        getrandom::fill(&mut bytes).unwrap();
        let suffix: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let name = format!("scim_test_{}_{suffix}", std::process::id());
        let mut client = Settings::parse(&admin).unwrap().connect().unwrap();
        client.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let url = with_database(&admin, &name);
        Some(TestDb { admin, name, url })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut client) = Settings::parse(&self.admin).and_then(|s| s.connect()) {
            let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

/// `url` (a URL, not key/value form) naming database `name` instead.
pub(crate) fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[host_start..].find('/') {
        Some(i) => &base[..host_start + i],
        None => base,
    };
    if query.is_empty() { format!("{base}/{name}") } else { format!("{base}/{name}?{query}") }
}

/// A backend on a fresh database with two empty tenants, `a` and `b`.
#[derive(Debug)]
pub(crate) struct Fixture {
    // Declared before `db`: the backend closes its connections before the database is dropped.
    pub(crate) pg: Postgres,
    pub(crate) a: TenantKey,
    pub(crate) a_id: String,
    pub(crate) b: TenantKey,
    pub(crate) db: TestDb,
}

impl Fixture {
    pub(crate) fn new() -> Option<Fixture> {
        let db = TestDb::new()?;
        let pg = connect(&db.url, &Options::default()).unwrap();
        let a = write(&pg, |w| w.create_tenant(Some("a"), "identity-center")).unwrap();
        let b = write(&pg, |w| w.create_tenant(Some("b"), "identity-center")).unwrap();
        Some(Fixture { pg, a: a.key, a_id: a.id, b: b.key, db })
    }

    /// Another backend on the same database: another replica.
    pub(crate) fn replica(&self) -> Postgres {
        connect(&self.db.url, &Options::default()).unwrap()
    }
}

/// Runs `f` in one write job, as the façade does: kept if `Ok`, rolled back if `Err`.
pub(crate) fn write<T: Send + 'static>(
    pg: &dyn Backend,
    f: impl FnOnce(&mut dyn Writer) -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    submit(|job| pg.write(job), f)
}

/// [`write`] for a job on the tenant's resource `id` (`Backend::write_on`).
pub(crate) fn write_on<T: Send + 'static>(
    pg: &dyn Backend,
    tenant: TenantKey,
    id: &str,
    f: impl FnOnce(&mut dyn Writer) -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    submit(|job| pg.write_on(tenant, id, job), f)
}

fn submit<T: Send + 'static>(
    submit: impl FnOnce(WriteJob) -> Result<(), Error>,
    f: impl FnOnce(&mut dyn Writer) -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    let (send, receive) = mpsc::channel();
    submit(Box::new(move |w| {
        let result = f(w);
        let keep = result.is_ok();
        let _ = send.send(result);
        keep
    }))?;
    receive.recv().unwrap()
}

/// Runs `f` on one snapshot.
pub(crate) fn read<T>(pg: &dyn Backend, f: impl FnOnce(&dyn Reader) -> Result<T, Error>) -> Result<T, Error> {
    let mut f = Some(f);
    let mut out = None;
    pg.read(&mut |r| {
        if let Some(f) = f.take() {
            out = Some(f(r)?);
        }
        Ok(())
    })?;
    Ok(out.unwrap())
}

/// Keys from borrowed parts.
pub(crate) fn keys(name: &str, external_id: Option<&str>, email: Option<&str>) -> Keys {
    Keys { name: name.to_owned(), external_id: external_id.map(str::to_owned), email: email.map(str::to_owned) }
}

/// `{"userName": name}`.
pub(crate) fn attrs(name: &str) -> Map<String, Value> {
    let mut attrs = Map::new();
    attrs.insert("userName".into(), Value::String(name.to_owned()));
    attrs
}
