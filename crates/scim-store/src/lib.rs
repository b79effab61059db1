//! The store of a SCIM 2.0 service provider: its contract, and its SQLite implementation.
//!
//! `scim-store` says what a database holding every tenant's directory must do (the [`Backend`],
//! [`Reader`] and [`Writer`] traits of the `contract` module, the seam the server programs
//! against through the [`Store`] façade) and does it on one SQLite file (`sqlite`). Another
//! crate, `scim-store-pg`, does it on PostgreSQL for several server processes at once; both
//! pass the same suites.
//!
//! The SQLite file holds every tenant's directory: the tenants themselves,
//! the ids of their bearer tokens, their users and groups, group memberships, an audit log
//! of requests, each tenant's attributes for access control, the ids of administrators'
//! tokens, and the access keys (with their secrets, which SigV4 verification needs) of the AWS
//! APIs. A [`Store`] is opened once per process and shared (`Arc<Store>`) by every
//! request.
//!
//! It is not a SCIM implementation. It never sees an HTTP type, a filter's text or a token; it
//! does not validate attributes or apply PATCH operations. The schema layer hands it a
//! resource's [`Keys`] (name, externalId, primary email) already extracted, and a JSON object of
//! attributes it stores as given. Everything is blocking: an async server calls it from
//! `spawn_blocking`, never from an executor thread.
//!
//! It does answer parsed SCIM filters ([`Query::filter`]), because only the store can answer
//! them with indexes: the filter's tree becomes one SQL predicate, reading the `scim-schema`
//! tables for what each attribute is (its type, `caseExact`, multi-valued or not). The result is
//! held to the in-memory evaluator of `scim-schema`, filter by filter, by a test over a fixed
//! directory (`tests/filter_agreement.rs`).
//!
//! # Two decisions a reader would question
//!
//! **One writer thread with group commit, one savepoint per request.**
//! SQLite allows one writer at a time, and a durable commit costs an fsync. Rather than let
//! request threads fight over the write lock, every write is a job sent to a single thread that
//! owns the only read-write connection. It takes the first queued job, drains whatever else is
//! waiting (up to 256), and runs them all in one `BEGIN IMMEDIATE` transaction, each job inside
//! its own `SAVEPOINT`: a job that fails is rolled back to its savepoint without disturbing its
//! neighbours. Only after `COMMIT` returns does any caller get its answer, so an acknowledged
//! write is on disk (with the default [`Durability::Full`]) and survives `kill -9` the next
//! instant; if the commit fails, every job of the batch gets the error. Under load many requests
//! share one fsync; alone, a request commits at once. Since jobs run one after another, a
//! read-modify-write done inside one job (a PATCH) can never lose a concurrent update. Reads
//! never queue behind the writer: a small pool of read-only connections reads the last committed
//! state (WAL mode), each [`Store::read`] call in one consistent snapshot.
//!
//! **A JSON `attrs` column beside indexed key columns.**
//! A user or group is one row: the attributes as a JSON object, plus the few values the server
//! must find or keep unique (lowercased name, externalId, lowercased primary email) copied into
//! columns with UNIQUE indexes per tenant. Uniqueness is then enforced by SQLite inside the same
//! transaction as the write, with no race, and every filter the identity-center profile allows
//! is an index lookup; the attributes stay free-form, so a schema change needs no migration.
//! Other filters read the attributes with SQLite's JSON functions (`json_extract`,
//! `json_each`) in the same statement, never row by row in Rust.
//! Relations are rows, not JSON arrays: a membership is a row of `members`, so adding one member
//! to a group of 100,000 is one primary-key insert.
//!
//! # Example
//!
//! ```no_run
//! use scim_schema::ResourceKind;
//! use scim_store::{Error, Keys, Options, Query, Store};
//!
//! # fn main() -> Result<(), Error> {
//! let store = Store::open("scim.db".as_ref(), Options::default())?;
//! let tenant = store.create_tenant(Some("acme"), "identity-center")?;
//! let key = tenant.key;
//! let keys = Keys { name: "Alice".into(), external_id: None, email: Some("alice@example.com".into()) };
//! let alice = store.write(move |w| w.insert(key, ResourceKind::User, &keys, &serde_json::Map::new(), 0))?;
//! let page = store.read(|r| r.list(key, ResourceKind::User, &Query::default()))?;
//! assert_eq!(page.items[0].id, alice.id);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod access_keys;
mod admin;
mod audit;
mod commit;
mod connection;
pub mod contract;
mod db;
mod error;
mod filter_sql;
mod hints;
mod ids;
mod members;
mod meta;
mod migrations;
mod pool;
mod query;
mod resources;
mod schema;
mod sqlite;
mod store;
mod tenants;
mod tokens;
mod transfer;

#[cfg(test)]
mod testkit;

pub use access_keys::{AccessKeyRecord, MAX_ACCESS_KEYS_PER_TENANT};
pub use admin::{AccessControlAttribute, AdminAction, AdminTokenRecord};
pub use audit::{AuditEntry, AuditFilter, MAX_FIELD_CHARS, NewAudit, Retention};
pub use commit::{BATCH_SIZE_BOUNDS, CommitSnapshot, CommitStats};
pub use contract::{Backend, Exported, Reader, WriteJob, Writer};
pub use error::{Error, Unique};
pub use ids::uuid_v7 as resource_id;
pub use members::{Membership, MembershipKey};
pub use migrations::SCHEMA_VERSION;
pub use query::{Condition, Page, Query, Sort};
pub use resources::{Keys, Stored};
pub use sqlite::KeyExport;
pub use store::Store;
pub use tenants::{RateLimit, Tenant};
pub use tokens::{MAX_TOKENS_PER_TENANT, TokenRecord};
pub use transfer::{EXPORT_FORMAT, EXPORT_VERSION, Moved, backup};

/// A tenant's internal key (its row's `seq`), taken by every resource operation.
///
/// The server resolves a tenant's public id to this once (from its cache of [`Tenant`]s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantKey(pub i64);

/// How hard a commit tries to reach the disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Durability {
    /// `synchronous=FULL`: an acknowledged write survives a crash of the machine.
    #[default]
    Full,
    /// `synchronous=NORMAL`: an acknowledged write survives a crash of the process; a power
    /// loss may lose the last commits (never corrupting the file).
    Normal,
}

/// How to open a store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Options {
    /// How hard a commit tries to reach the disk.
    pub durability: Durability,
    /// The most read-only connections open at once (at least one is used).
    pub readers: usize,
}

impl Default for Options {
    /// Full durability, eight readers.
    ///
    /// Eight, not four, on a two-core machine: under 64 connections reads by id and by filter
    /// ran about 4% faster (docs/BENCHMARKS.md), and each reader's page cache (2 MB at most)
    /// is the memory it costs. Sixteen and more gave no more.
    fn default() -> Options {
        Options { durability: Durability::Full, readers: 8 }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::sync::{Arc, Barrier};
    use std::time::{Duration, Instant};

    use scim_schema::ResourceKind;
    use serde_json::{Map, json};

    use super::*;
    use crate::testkit::{Fixture, TempDir, attrs, user_keys};

    #[test]
    fn store_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Store>();
        assert_send_sync::<Arc<Store>>();
    }

    #[test]
    fn commit_stats_count_jobs_and_batches_and_drain_the_queue() {
        let dir = TempDir::new();
        let store = Store::open(&dir.db(), Options::default()).unwrap();
        assert_eq!(
            store.commit_stats(),
            CommitSnapshot { queue_depth: 0, batches: 0, jobs: 0, batches_at_most: [0; 9] }
        );
        for _ in 0..3 {
            store.write(|_| Ok::<_, Error>(())).unwrap();
        }
        let stats = store.commit_stats();
        assert_eq!((stats.queue_depth, stats.batches, stats.jobs), (0, 3, 3), "{stats:?}");
        // Three lone jobs: three batches of one, counted under every bound.
        assert_eq!(stats.batches_at_most, [3; 9]);
    }

    #[test]
    fn pragmas_are_set_explicitly() {
        for (durability, expected) in [(Durability::Full, 2), (Durability::Normal, 1)] {
            let dir = TempDir::new();
            let options = Options { durability, readers: 2 };
            let c = connection::open_writer(&dir.db(), options.durability, &mut |_| Err(String::new())).unwrap();
            let (sync, fk, mode, timeout): (i64, i64, String, i64) = (
                c.pragma_query_value(None, "synchronous", |r| r.get(0)).unwrap(),
                c.pragma_query_value(None, "foreign_keys", |r| r.get(0)).unwrap(),
                c.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap(),
                c.pragma_query_value(None, "busy_timeout", |r| r.get(0)).unwrap(),
            );
            assert_eq!((sync, fk, mode.as_str(), timeout), (expected, 1, "wal", 5000));
        }
    }

    #[test]
    fn a_failing_job_changes_nothing_and_others_in_its_batch_land() {
        let f = Fixture::new();
        let store = Arc::new(f.store);
        let t = f.a;
        let start = Arc::new(Barrier::new(32));
        let threads: Vec<_> = (0..32)
            .map(|i| {
                let (store, start) = (store.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    store.write(move |w| -> Result<String, Error> {
                        let user = w.insert(t, ResourceKind::User, &user_keys(&format!("u{i}")), &attrs("x"), i)?;
                        w.touch(t, ResourceKind::User, &user.id, i)?;
                        if i % 3 == 0 {
                            // Fails after writing: the insert and touch must vanish.
                            w.touch(t, ResourceKind::Group, "no-such-group", i)?;
                        }
                        Ok(user.id)
                    })
                })
            })
            .collect();
        let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        for (i, result) in results.iter().enumerate() {
            match result {
                Ok(id) => {
                    assert_ne!(i % 3, 0);
                    let user = store.read(|r| r.get(t, ResourceKind::User, id)).unwrap().unwrap();
                    assert_eq!(user.version, 2);
                }
                Err(Error::NotFound) => assert_eq!(i % 3, 0),
                Err(e) => panic!("job {i}: {e}"),
            }
        }
        let page =
            store.read(|r| r.list(t, ResourceKind::User, &Query { with_total: true, ..Query::default() })).unwrap();
        assert_eq!(page.total, Some(21));
        let names: Vec<String> = (0..32).filter(|i| i % 3 != 0).map(|i| format!("u{i}")).collect();
        for name in names {
            let found = store
                .read(|r| {
                    r.list(
                        t,
                        ResourceKind::User,
                        &Query { conditions: vec![Condition::Name(name.clone())], ..Query::default() },
                    )
                })
                .unwrap();
            assert_eq!(found.items.len(), 1, "{name}");
        }
        assert_eq!(store.tenant(&f.a_id).unwrap().unwrap().users, 21);
    }

    #[test]
    fn jobs_queued_behind_a_running_batch_share_the_next_commit() {
        let f = Fixture::new();
        let t = f.a;
        let store = Arc::new(f.store);
        let commits_before = store.commit_stats().batches;
        let (started, running) = std::sync::mpsc::channel();
        let slow = {
            let store = store.clone();
            std::thread::spawn(move || {
                store.write(move |w| {
                    let _ = started.send(());
                    std::thread::sleep(Duration::from_millis(300));
                    w.insert(t, ResourceKind::Group, &user_keys("slow"), &Map::new(), 0)
                })
            })
        };
        running.recv().unwrap();
        let queued: Vec<_> = (0..10)
            .map(|i| {
                let store = store.clone();
                std::thread::spawn(move || {
                    store.write(move |w| w.insert(t, ResourceKind::User, &user_keys(&format!("q{i}")), &Map::new(), 0))
                })
            })
            .collect();
        slow.join().unwrap().unwrap();
        for thread in queued {
            thread.join().unwrap().unwrap();
        }
        // One commit for the slow job, one for the ten queued behind it.
        assert_eq!(store.commit_stats().batches - commits_before, 2);
    }

    #[test]
    fn concurrent_read_modify_writes_never_lose_an_update() {
        let f = Fixture::new();
        let store = Arc::new(f.store);
        let t = f.a;
        let mut counter = Map::new();
        counter.insert("n".into(), json!(0));
        let id = store.write(move |w| w.insert(t, ResourceKind::User, &user_keys("c"), &counter, 0)).unwrap().id;
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (store, id) = (store.clone(), id.clone());
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        let id = id.clone();
                        store
                            .write(move |w| -> Result<(), Error> {
                                let mut row = w.get(t, ResourceKind::User, &id)?.ok_or(Error::NotFound)?;
                                let n = row.attrs["n"].as_i64().unwrap_or_default();
                                row.attrs.insert("n".into(), json!(n + 1));
                                w.replace(t, ResourceKind::User, &id, &user_keys("c"), &row.attrs, n + 1)?;
                                Ok(())
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let row = store.read(|r| r.get(t, ResourceKind::User, &id)).unwrap().unwrap();
        assert_eq!(row.attrs["n"], json!(320));
        assert_eq!(row.version, 321);
    }

    #[test]
    fn a_panicking_job_is_rolled_back_and_the_panic_reaches_its_caller() {
        let f = Fixture::new();
        let t = f.a;
        let store = Arc::new(f.store);
        let s = store.clone();
        let caught = std::thread::spawn(move || {
            s.write(move |w| -> Result<(), Error> {
                w.insert(t, ResourceKind::User, &user_keys("ghost"), &Map::new(), 0)?;
                panic!("job failed");
            })
        })
        .join();
        assert!(caught.is_err());
        // The writer survived and the insert is gone.
        store.write(move |w| w.insert(t, ResourceKind::User, &user_keys("real"), &Map::new(), 0)).unwrap();
        let page = store.read(|r| r.list(t, ResourceKind::User, &Query::default())).unwrap();
        assert_eq!(page.items.len(), 1);
    }

    #[test]
    fn a_read_sees_a_consistent_snapshot_and_a_panicking_read_returns_its_connection() {
        let f = Fixture::new();
        let (s, t) = (&f.store, f.a);
        let hit = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            s.read(|_| -> Result<(), Error> { panic!("reader failed") })
        }));
        assert!(hit.is_err());
        // Readers keep working; more reads than pooled connections run fine.
        for _ in 0..10 {
            s.read(|r| r.list(t, ResourceKind::User, &Query::default())).unwrap();
        }
    }

    #[test]
    fn nested_writes_are_refused_instead_of_deadlocking() {
        let f = Fixture::new();
        let store = Arc::new(f.store);
        let inner = store.clone();
        let nested = store
            .write(move |_| -> Result<Result<(), Error>, Error> { Ok(inner.write(|_| Ok::<(), Error>(()))) })
            .unwrap();
        assert!(matches!(nested, Err(Error::Nested)));
    }

    #[test]
    fn an_acknowledged_write_is_seen_by_a_fresh_store() {
        let dir = TempDir::new();
        let store = Store::open(&dir.db(), Options::default()).unwrap();
        let tenant = store.create_tenant(None, "rfc").unwrap();
        let key = tenant.key;
        let user = store.write(move |w| w.insert(key, ResourceKind::User, &user_keys("u"), &attrs("u"), 1)).unwrap();
        // Opened while the first store is still running: the commit is in the WAL already.
        let fresh = Store::open(&dir.db(), Options::default()).unwrap();
        assert_eq!(fresh.read(|r| r.get(key, ResourceKind::User, &user.id)).unwrap(), Some(user.clone()));
        drop(fresh);
        store.close().unwrap();
        let reopened = Store::open(&dir.db(), Options::default()).unwrap();
        assert_eq!(reopened.tenant(&tenant.id).unwrap(), Some(Tenant { users: 1, ..tenant }));
        assert_eq!(reopened.read(|r| r.get(key, ResourceKind::User, &user.id)).unwrap(), Some(user));
    }

    #[test]
    fn close_finishes_queued_jobs() {
        let f = Fixture::new();
        let t = f.a;
        let store = Arc::new(f.store);
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                std::thread::spawn(move || {
                    store.write(move |w| w.insert(t, ResourceKind::Group, &user_keys(&format!("g{i}")), &Map::new(), 0))
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap().unwrap();
        }
        let store = Arc::try_unwrap(store).unwrap();
        let path = f.dir.db();
        store.close().unwrap();
        let store = Store::open(&path, Options::default()).unwrap();
        let page = store.read(|r| r.list(t, ResourceKind::Group, &Query::default())).unwrap();
        assert_eq!(page.items.len(), 8);
    }

    #[test]
    fn data_version_changes_on_commits_from_this_or_another_store() {
        let dir = TempDir::new();
        let server = Store::open(&dir.db(), Options::default()).unwrap();
        let v0 = server.data_version().unwrap();
        assert_eq!(server.data_version().unwrap(), v0);

        let tenant = server.create_tenant(None, "identity-center").unwrap();
        let v1 = server.data_version().unwrap();
        assert_ne!(v1, v0);
        assert_eq!(server.data_version().unwrap(), v1);

        // Another "process" (a second store on the file, as the CLI would open) revokes a token.
        let cli = Store::open(&dir.db(), Options::default()).unwrap();
        let record = TokenRecord { id: "t1".into(), tenant_id: tenant.id.clone(), created: 0, expires: 1 };
        cli.add_token(&record).unwrap();
        let v2 = server.data_version().unwrap();
        assert_ne!(v2, v1);
        cli.delete_token(&tenant.id, "t1").unwrap();
        let v3 = server.data_version().unwrap();
        assert_ne!(v3, v2);
        assert!(server.all_tokens().unwrap().is_empty());
        // A rolled-back job commits nothing new from the other side's point of view.
        let _ = cli.write(|_| Err::<(), Error>(Error::NotFound));
        assert_eq!(server.data_version().unwrap(), v3);
    }

    /// Environment variable that turns [`crash_child`] into the writer of the crash test.
    const CRASH_DB: &str = "SCIM_STORE_CRASH_DB";

    /// The child process of [`an_acknowledged_write_survives_kill_9`]: writes users from four
    /// threads and prints `ACK <id>` after each acknowledged write, until killed (or 20 s pass).
    #[test]
    #[ignore = "run by an_acknowledged_write_survives_kill_9 in a child process"]
    fn crash_child() {
        let Some(path) = std::env::var_os(CRASH_DB) else {
            return;
        };
        let store = Arc::new(Store::open(std::path::Path::new(&path), Options::default()).unwrap());
        let tenant = store.create_tenant(None, "identity-center").unwrap();
        println!("TENANT {}", tenant.key.0);
        let deadline = Instant::now() + Duration::from_secs(20);
        let threads: Vec<_> = (0..4)
            .map(|thread| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let mut i = 0;
                    while Instant::now() < deadline {
                        let name = format!("t{thread}-{i}");
                        let key = tenant.key;
                        let user = store
                            .write(move |w| w.insert(key, ResourceKind::User, &user_keys(&name), &attrs(&name), 0))
                            .unwrap();
                        println!("ACK {}", user.id);
                        i += 1;
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
    }

    #[test]
    fn an_acknowledged_write_survives_kill_9() {
        let dir = TempDir::new();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "tests::crash_child", "--ignored", "--nocapture", "--test-threads=1"])
            .env(CRASH_DB, dir.db())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut tenant = None;
        let mut acked = Vec::new();
        let mut killed = false;
        for line in stdout.lines() {
            let line = line.unwrap();
            // The test harness prints `test tests::crash_child ... ` before the first line.
            if let Some((_, seq)) = line.split_once("TENANT ") {
                tenant = Some(TenantKey(seq.parse().unwrap()));
            } else if let Some((_, id)) = line.split_once("ACK ") {
                acked.push(id.to_owned());
                if acked.len() == 200 && !killed {
                    child.kill().unwrap();
                    killed = true;
                }
            }
        }
        child.wait().unwrap();
        assert!(killed, "the child ended before 200 writes");
        let tenant = tenant.unwrap();
        let store = Store::open(&dir.db(), Options::default()).unwrap();
        let missing: Vec<&String> =
            acked.iter().filter(|id| !store.read(|r| r.exists(tenant, ResourceKind::User, id)).unwrap()).collect();
        assert!(missing.is_empty(), "{} of {} acknowledged writes lost", missing.len(), acked.len());
        let found = store
            .read(|r| r.list(tenant, ResourceKind::User, &Query { with_total: true, ..Query::default() }))
            .unwrap();
        eprintln!("{} writes acknowledged before kill -9, {:?} found after", acked.len(), found.total);
    }

    /// Rough write throughput; run with
    /// `cargo test -p scim-store --release -- --ignored --nocapture throughput`.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn throughput() {
        for durability in [Durability::Full, Durability::Normal] {
            let dir = TempDir::new();
            let store = Arc::new(Store::open(&dir.db(), Options { durability, readers: 4 }).unwrap());
            let t = store.create_tenant(None, "identity-center").unwrap().key;
            let n = 2000;
            let started = Instant::now();
            for i in 0..n {
                store
                    .write(move |w| w.insert(t, ResourceKind::User, &user_keys(&format!("s{i}")), &attrs("x"), 0))
                    .unwrap();
            }
            let single = f64::from(n) / started.elapsed().as_secs_f64();
            let started = Instant::now();
            let threads: Vec<_> = (0..16)
                .map(|k| {
                    let store = store.clone();
                    std::thread::spawn(move || {
                        for i in 0..n / 16 {
                            store
                                .write(move |w| {
                                    w.insert(t, ResourceKind::User, &user_keys(&format!("p{k}-{i}")), &attrs("x"), 0)
                                })
                                .unwrap();
                        }
                    })
                })
                .collect();
            for thread in threads {
                thread.join().unwrap();
            }
            let parallel = f64::from(n) / started.elapsed().as_secs_f64();
            println!("{durability:?}: {single:.0} inserts/s from one thread, {parallel:.0} inserts/s from 16 threads");
        }
    }
}
