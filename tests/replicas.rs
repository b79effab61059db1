//! Several `scim-server` processes on one database are one service (issue 11): what one replica
//! acknowledges, every other one sees; concurrent writes through different replicas lose
//! nothing; control data changed anywhere acts everywhere within a second; a replica killed
//! under load loses no acknowledged write; and a database that goes away and comes back costs
//! clients `503`s with `Retry-After`, never a hang or a `500`.
//!
//! Meant for PostgreSQL, where replicas are the deployment; on SQLite the same tests run two
//! processes on one file, which the store also allows (one host), except the restart of the
//! database server, which only PostgreSQL has.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Db, Server, TempDir, cli, user_body};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Waits up to `limit` for `check` to hold; returns how long it took.
fn within(limit: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    loop {
        if check() {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn identical_creates_on_two_replicas_give_one_201_and_409s() {
    let a = Server::start_with("rfc");
    let b = a.replica();
    for round in 0..5 {
        let name = format!("twin-{round}");
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let (server, name) = (if i % 2 == 0 { &a } else { &b }, name.clone());
                    scope.spawn(move || server.post("/Users", &user_body(&name)).status)
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 7, "{statuses:?}");
        let listed = b.get(&format!("/Users?filter=userName%20eq%20%22{name}%22")).json();
        assert_eq!(listed["totalResults"], 1);
    }
}

#[test]
fn concurrent_patches_through_two_replicas_lose_nothing() {
    let a = Server::start_with("rfc");
    let b = a.replica();
    let group = a.group("everyone");
    let users: Vec<String> = (0..40).map(|i| a.user(&format!("member-{i}"))).collect();
    let target = a.user("many-phones");
    std::thread::scope(|scope| {
        for (i, user) in users.iter().enumerate() {
            let server = if i % 2 == 0 { &a } else { &b };
            let (group, target) = (group.clone(), target.clone());
            scope.spawn(move || {
                let add = json!({"schemas": [PATCH_OP], "Operations": [
                    {"op": "add", "path": "members", "value": [{"value": user}]}]});
                let resp = server.patch(&format!("/Groups/{group}"), &add);
                assert!(resp.status == 200 || resp.status == 204, "{} {}", resp.status, resp.text);
                // A read-modify-write of one user's attributes: each adds its own phone number.
                let phone = json!({"schemas": [PATCH_OP], "Operations": [
                    {"op": "add", "path": "phoneNumbers", "value": [{"value": format!("+1555000{i:04}"), "type": "work"}]}]});
                let resp = server.patch(&format!("/Users/{target}"), &phone);
                assert!(resp.status == 200 || resp.status == 204, "{} {}", resp.status, resp.text);
            });
        }
    });
    let members: BTreeSet<String> = a.get(&format!("/Groups/{group}")).json()["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(members, users.iter().cloned().collect::<BTreeSet<_>>());
    let phones = b.get(&format!("/Users/{target}")).json()["phoneNumbers"].as_array().unwrap().len();
    assert_eq!(phones, 40, "a concurrent PATCH lost another's update");
}

#[test]
fn control_data_changed_anywhere_acts_on_every_replica_within_a_second() {
    let a = Server::start_with("rfc");
    let b = a.replica();
    // A token revoked by the command line: both replicas refuse it within a second.
    let (code, out, err) = cli(&a.db, &["token", "create", "--tenant", &a.tenant, "--json"]);
    assert_eq!(code, 0, "{err}");
    let created: Value = serde_json::from_str(out.trim()).unwrap();
    let (token, token_id) = (created["token"].as_str().unwrap(), created["token_id"].as_str().unwrap());
    let with = |server: &Server| {
        support::Req::new(&server.addr, "GET", &format!("{}/Users", server.base())).bearer(token).send().status
    };
    within(Duration::from_secs(2), || with(&a) == 200 && with(&b) == 200);
    let (code, _, err) = cli(&a.db, &["token", "delete", token_id, "--tenant", &a.tenant]);
    assert_eq!(code, 0, "{err}");
    let took = within(Duration::from_millis(1500), || with(&a) == 401 && with(&b) == 401);
    eprintln!("a revoked token was refused by both replicas after {took:?}");

    // A tenant created by the command line is served by both.
    let created = support::create_tenant_with(&a.db, "rfc");
    let (tenant, token) = (created["tenant_id"].as_str().unwrap(), created["token"].as_str().unwrap());
    let path = format!("/{tenant}/scim/v2/Users");
    let on = |server: &Server| support::Req::new(&server.addr, "GET", &path).bearer(token).send().status;
    let took = within(Duration::from_millis(1500), || on(&a) == 200 && on(&b) == 200);
    eprintln!("a new tenant was served by both replicas after {took:?}");

    // A quota lowered through one replica's command line binds writes through the other.
    a.user("first");
    let (code, _, err) = cli(&a.db, &["tenant", "limit", &a.tenant, "--max-users", "1"]);
    assert_eq!(code, 0, "{err}");
    let resp = b.post("/Users", &user_body("second"));
    assert_eq!(resp.status, 400, "the quota holds on the database itself: {}", resp.text);
}

#[test]
fn rate_limits_are_per_replica() {
    let a = Server::start_with("rfc");
    let b = a.replica();
    let (code, _, err) = cli(&a.db, &["tenant", "limit", &a.tenant, "--rate", "0.5", "--burst", "3"]);
    assert_eq!(code, 0, "{err}");
    // Both replicas have reloaded the limit once each refuses a fourth request in a row.
    for server in [&a, &b] {
        within(Duration::from_secs(3), || (0..4).map(|_| server.get("/Users").status).any(|s| s == 429));
    }
    // Each replica keeps its own bucket (docs/DEPLOY.md): a fresh replica admits a full burst even
    // though the others' buckets are empty, so N replicas admit up to N times the limit.
    let c = a.replica();
    let statuses: Vec<u16> = (0..3).map(|_| c.get("/Users").status).collect();
    assert_eq!(statuses, [200, 200, 200]);
    assert_eq!(c.get("/Users").status, 429);
}

#[test]
fn a_replica_killed_under_load_loses_no_acknowledged_write() {
    let mut a = Server::start_with("rfc");
    let b = a.replica();
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let b_failures = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for worker in 0..4 {
            let (acknowledged, stop, b_failures) = (acknowledged.clone(), stop.clone(), b_failures.clone());
            let (a_addr, b_addr, tenant, token) = (a.addr.clone(), b.addr.clone(), a.tenant.clone(), a.token.clone());
            scope.spawn(move || {
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && i < 400 {
                    let (addr, on_b) = if (worker + i) % 2 == 0 { (&a_addr, false) } else { (&b_addr, true) };
                    let body = user_body(&format!("load-{worker}-{i}"));
                    let req =
                        support::Req::new(addr, "POST", &format!("/{tenant}/scim/v2/Users")).bearer(&token).json(&body);
                    match req.send_or_closed() {
                        Some(resp) if resp.status == 201 => {
                            acknowledged.lock().unwrap().push(resp.json()["id"].as_str().unwrap().to_owned())
                        }
                        Some(resp) if on_b => {
                            b_failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            eprintln!("replica b answered {}: {}", resp.status, resp.text);
                        }
                        None if on_b => {
                            b_failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        _ => {} // replica a, killed: its unanswered requests may or may not have landed.
                    }
                    i += 1;
                }
            });
        }
        std::thread::sleep(Duration::from_millis(700));
        a.kill9();
        std::thread::sleep(Duration::from_millis(700));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    assert_eq!(b_failures.load(std::sync::atomic::Ordering::Relaxed), 0, "the surviving replica failed requests");
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() > 20, "too little load to mean anything: {}", acknowledged.len());
    for id in &acknowledged {
        assert_eq!(b.get(&format!("/Users/{id}")).status, 200, "acknowledged user {id} is gone");
    }
    eprintln!("{} acknowledged writes, all present after kill -9 of one replica", acknowledged.len());
}

#[test]
fn a_database_restart_costs_503s_with_retry_after_and_every_replica_recovers() {
    let Some(cluster) = support::private_postgres() else {
        eprintln!("postgres-only: SQLite has no database server to restart");
        return;
    };
    let dir = TempDir::new();
    let db = Db::fresh_in(&cluster.admin_url(), &dir);
    let a = Server::prepared_on(dir, db, "rfc", |_| Vec::new());
    let b = a.replica();
    a.user("before");
    cluster.ctl(&["stop", "-m", "immediate"]).unwrap();
    for server in [&a, &b] {
        let started = Instant::now();
        let resp = server.post("/Users", &user_body("during"));
        let took = started.elapsed();
        assert!(took < Duration::from_secs(5), "the answer took {took:?}");
        assert_eq!(resp.status, 503, "{}", resp.text);
        assert!(resp.header("retry-after").is_some(), "no Retry-After: {:?}", resp.headers);
        let body = resp.json();
        assert_eq!(body["status"], "503", "{body}");
        let ready = support::Req::new(&server.addr, "GET", "/readyz").send();
        assert_eq!(ready.status, 503, "/readyz said ready while the database is down");
    }
    cluster.ctl(&["start", "-w"]).unwrap();
    for server in [&a, &b] {
        let took = within(Duration::from_secs(15), || {
            server.post("/Users", &user_body(&format!("after-{}", server.addr))).status == 201
        });
        eprintln!("replica {} wrote again {took:?} after PostgreSQL came back", server.addr);
        assert_eq!(support::Req::new(&server.addr, "GET", "/readyz").send().status, 200);
    }
    assert_eq!(b.get("/Users?filter=userName%20eq%20%22before%22").json()["totalResults"], 1);
}
