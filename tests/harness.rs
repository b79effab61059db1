//! The harness's own plumbing, which every other test trusts: a replica shares its server's
//! database and key file; on PostgreSQL, a test's database is made and dropped, and a private
//! cluster keeps its committed writes through a crash and comes back after a stop.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::{Db, Server, TempDir, pg};

#[test]
fn a_replica_shares_the_database_and_the_key_file() {
    let s = Server::start();
    let id = s.user("alice@example.com");
    let replica = s.replica();
    assert_ne!(replica.addr, s.addr);
    assert_eq!(replica.db.key_file(), s.db.key_file());
    // The tenant's token verifies there (one key file) and the user is there (one database).
    let r = replica.get(&format!("/Users/{id}"));
    assert_eq!(r.status, 200, "{} {}", r.text, replica.log());
    drop(s);
    assert_eq!(replica.get(&format!("/Users/{id}")).status, 200, "the replica outlives the first server");
}

/// Rows of `sql` on `url`, one per line.
fn psql(url: &str, sql: &str) -> String {
    pg::psql(&pg::find_bin().unwrap(), url, sql).unwrap_or_else(|why| panic!("{why}")).trim().to_owned()
}

#[test]
fn a_test_database_is_dropped_with_its_last_handle() {
    let Some(admin) = support::postgres() else {
        eprintln!("postgres-only: SCIM_TEST_POSTGRES is not set");
        return;
    };
    let dir = TempDir::new();
    let db = Db::fresh(&dir);
    let url = db.url().unwrap().to_owned();
    let name = url.rsplit('/').next().unwrap().split('?').next().unwrap().to_owned();
    psql(&url, "CREATE TABLE t (x int)");
    let exists = format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'");
    let copy = db.clone();
    drop(db);
    assert_eq!(psql(&admin, &exists), "1", "a clone still holds it");
    drop(copy);
    assert_eq!(psql(&admin, &exists), "0");
}

#[test]
fn a_private_cluster_keeps_committed_writes_through_a_crash_and_restarts_after_a_stop() {
    let Some(cluster) = support::private_postgres() else {
        eprintln!("postgres-only: SCIM_TEST_POSTGRES is not set");
        return;
    };
    let dir = TempDir::new();
    let db = Db::fresh_in(&cluster.admin_url(), &dir);
    let url = db.url().unwrap().to_owned();
    psql(&url, "CREATE TABLE t (x int); INSERT INTO t VALUES (1)");
    cluster.ctl(&["restart", "--mode=immediate"]).unwrap();
    assert_eq!(psql(&url, "SELECT count(*) FROM t"), "1", "{}", cluster.log_text());
    cluster.ctl(&["stop", "--mode=fast"]).unwrap();
    assert!(pg::psql(&pg::find_bin().unwrap(), &url, "SELECT 1").is_err(), "a stopped cluster answered");
    cluster.ctl(&["start"]).unwrap();
    assert_eq!(psql(&url, "SELECT count(*) FROM t"), "1");
    let root = cluster.dir().to_owned();
    drop(db);
    drop(cluster);
    assert!(!root.exists(), "the private cluster's directory is left behind");
}
