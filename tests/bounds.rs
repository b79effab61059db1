//! What a caller can cost us: an unauthenticated flood leaves the database, the audit log and
//! memory flat; the audit log keeps to its retention; the rfc profile caps sizes and PATCH
//! operations; a Bulk request draws a rate-limit token per operation; a malformed precondition is
//! refused; cursors carry nothing shared across tenants.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Req, Resp, Server, admin_token, cli, create_tenant_with, user_body};

/// The database's size on disk (SQLite's WAL included).
fn db_bytes(server: &Server) -> u64 {
    server.db.size_bytes()
}

fn audit(server: &Server, admin: &str) -> Vec<Value> {
    let r = server.admin(admin, "GET", &format!("/tenants/{}/audit?count=100", server.tenant)).send();
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["entries"].as_array().unwrap().clone()
}

fn wait_for(within: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_unauthenticated_flood_leaves_the_database_the_log_table_and_memory_flat() {
    let server = Server::start();
    let admin = admin_token(&server.db);
    // Warm up, then measure: the first requests allocate what any server keeps.
    for _ in 0..50 {
        assert_eq!(Req::new(&server.addr, "GET", &format!("{}/Users", server.base())).send().status, 401);
    }
    std::thread::sleep(Duration::from_millis(300));
    let (disk_before, rss_before) = (db_bytes(&server), server.rss_kib().unwrap());
    // 1,500 requests, each with a 15 KB path (just under the header cap) and a wrong token:
    // 22 MB that must not be kept.
    let long = format!("{}/Users/{}", server.base(), "x".repeat(15_000));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (addr, long) = (server.addr.clone(), long.clone());
            std::thread::spawn(move || {
                for _ in 0..375 {
                    let r = Req::new(&addr, "GET", &long).bearer("not-a-token").send();
                    assert_eq!(r.status, 401, "{}", r.text);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    // The counted refusals are written as one row at the end of their window.
    wait_for(Duration::from_secs(15), "the sampled refusal row", || {
        audit(&server, &admin).iter().any(|e| e["detail"].as_str().unwrap_or("").contains("request(s) refused"))
    });
    let entries = audit(&server, &admin);
    let refused: Vec<&Value> = entries.iter().filter(|e| e["status"] == 401).collect();
    assert!(refused.len() <= 3, "one row at the first refusal, one per window: {refused:?}");
    for entry in &refused {
        let text = entry.to_string();
        assert!(text.len() < 4096, "an audit row is bounded: {} bytes", text.len());
    }
    let counted: u64 =
        refused.iter().filter_map(|e| e["detail"].as_str()?.split(' ').next()?.parse::<u64>().ok()).sum::<u64>()
            + refused.len() as u64;
    assert!(counted >= 1500, "every refusal is counted: {refused:?}");
    let (disk_after, rss_after) = (db_bytes(&server), server.rss_kib().unwrap());
    assert!(disk_after < disk_before + 512 * 1024, "database grew from {disk_before} to {disk_after} bytes");
    assert!(rss_after < rss_before + 64 * 1024, "memory grew from {rss_before} KiB to {rss_after} KiB");
}

#[test]
fn the_audit_log_keeps_to_its_retention() {
    let mut server = Server::start();
    let admin = admin_token(&server.db);
    for i in 0..12 {
        server.user(&format!("u{i}@example.com"));
    }
    assert_eq!(audit(&server, &admin).len(), 12);
    assert_eq!(server.terminate(), Some(0));
    server.env.push(("SCIM_AUDIT_MAX_ROWS".into(), "5".into()));
    server.launch();
    wait_for(Duration::from_secs(10), "retention to apply", || audit(&server, &admin).len() == 5);
    // The newest rows are the ones kept.
    let kept = audit(&server, &admin);
    assert!(kept.iter().all(|e| e["action"] == "CreateUser"));
    let (code, _, err) = cli(&server.db, &["serve", "--audit-max-rows", "0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--audit-max-rows"), "{err}");
}

fn rfc_user(user_name: &str) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name})
}

#[test]
fn the_rfc_profile_caps_sizes_counts_and_patch_operations() {
    let server = Server::start_with("rfc");
    let invalid = |r: &Resp, scim_type: &str| {
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(r.json()["scimType"], scim_type, "{}", r.text);
    };
    invalid(&server.post("/Users", &rfc_user(&"a".repeat(257))), "invalidValue");
    let mut long_title = rfc_user("title@example.com");
    long_title["title"] = json!("t".repeat(4097));
    invalid(&server.post("/Users", &long_title), "invalidValue");
    let mut many = rfc_user("many@example.com");
    many["emails"] = (0..101).map(|i| json!({"value": format!("e{i}@example.com")})).collect();
    invalid(&server.post("/Users", &many), "invalidValue");
    // At the limits, accepted.
    let mut full = rfc_user(&"a".repeat(256));
    full["title"] = json!("t".repeat(4096));
    full["emails"] = (0..100).map(|i| json!({"value": format!("e{i}@example.com")})).collect();
    let created = server.post("/Users", &full);
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    // A resource grown past 64 KiB by PATCH is refused, and nothing changes.
    let grow: Vec<Value> = (0..40)
        .map(|i| json!({"op": "add", "path": "addresses", "value": [{"formatted": "f".repeat(4000), "type": format!("t{i}")}]}))
        .collect();
    let r = server.patch(
        &format!("/Users/{id}"),
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": grow}),
    );
    invalid(&r, "invalidValue");
    assert!(server.get(&format!("/Users/{id}")).json().get("addresses").is_none());
    // More than 1,000 operations in one PATCH.
    let ops: Vec<Value> =
        (0..1001).map(|i| json!({"op": "replace", "path": "title", "value": format!("v{i}")})).collect();
    let r = server.patch(
        &format!("/Users/{id}"),
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}),
    );
    invalid(&r, "tooMany");
    assert_eq!(server.get(&format!("/Users/{id}")).json()["title"], "t".repeat(4096));
    // 1,000 are fine.
    let ops: Vec<Value> =
        (0..1000).map(|i| json!({"op": "replace", "path": "title", "value": format!("v{i}")})).collect();
    let r = server.patch(
        &format!("/Users/{id}"),
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["title"], "v999");
}

#[test]
fn a_malformed_precondition_is_refused_and_changes_nothing() {
    let server = Server::start_with("rfc");
    let id = server.post("/Users", &rfc_user("pre@example.com")).json()["id"].as_str().unwrap().to_owned();
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "title", "value": "changed"}]});
    for bad in ["W/1", "\"1", "\"\u{e9}\"", "\"1\", *", ""] {
        let r = server.req("PATCH", &format!("/Users/{id}")).header("If-Match", bad).json(&patch).send();
        assert_eq!(r.status, 400, "If-Match {bad:?}: {}", r.text);
        assert_eq!(r.json()["scimType"], "invalidSyntax");
        let r = server.req("GET", &format!("/Users/{id}")).header("If-None-Match", bad).send();
        assert_eq!(r.status, 400, "If-None-Match {bad:?}: {}", r.text);
    }
    assert!(server.get(&format!("/Users/{id}")).json().get("title").is_none());
    // Raw non-ASCII bytes in the header, as a careless client might send them.
    let r = server.req("DELETE", &format!("/Users/{id}")).header("If-Match", "\"caf\u{e9}\"").send();
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(server.get(&format!("/Users/{id}")).status, 200);
    // A well-formed one still works as before.
    let version = server.get(&format!("/Users/{id}")).header("etag").unwrap().to_owned();
    let r = server.req("PATCH", &format!("/Users/{id}")).header("If-Match", &version).json(&patch).send();
    assert_eq!(r.status, 200, "{}", r.text);
}

#[test]
fn cursors_carry_nothing_shared_across_tenants() {
    let server = Server::start();
    let other = create_tenant_with(&server.db, "identity-center");
    let (other_tenant, other_token) = (other["tenant_id"].as_str().unwrap(), other["token"].as_str().unwrap());
    let other_get = |path: &str| {
        Req::new(&server.addr, "GET", &format!("/{other_tenant}/scim/v2{path}")).bearer(other_token).send()
    };
    // The running server learns of the new tenant within a second.
    wait_for(Duration::from_secs(5), "the new tenant", || other_get("/Users").status == 200);
    for i in 0..3 {
        server.user(&format!("mine{i}@example.com"));
    }
    let first = server.get("/Users?count=1&cursor").json()["nextCursor"].as_str().unwrap().to_owned();
    // Another tenant's writes do not change this tenant's cursors.
    for i in 0..5 {
        let r = Req::new(&server.addr, "POST", &format!("/{other_tenant}/scim/v2/Users"))
            .bearer(other_token)
            .json(&user_body(&format!("theirs{i}@example.com")))
            .send();
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let again = server.get("/Users?count=1&cursor").json()["nextCursor"].as_str().unwrap().to_owned();
    assert_eq!(first, again);
    // Consecutive cursors are not numbers in sequence, and the next page is the right one.
    let page = server.get(&format!("/Users?count=1&cursor={first}")).json();
    assert_eq!(page["Resources"][0]["userName"], "mine1@example.com");
    let second = page["nextCursor"].as_str().unwrap();
    assert!(!first.contains(':') && !second.contains(':'), "{first} {second}");
    assert_ne!(first[..8], second[..8]);
    // A cursor of this tenant opens nothing in another, and a changed filter is refused.
    let r = other_get(&format!("/Users?count=1&cursor={first}"));
    r.assert_error(400, support::UNPARSABLE);
    let r = server.get(&format!("/Users?count=1&cursor={first}&filter=userName%20eq%20%22mine1@example.com%22"));
    r.assert_error(400, support::UNPARSABLE);
}

#[test]
fn a_bulk_request_draws_a_rate_limit_token_per_operation() {
    let server = Server::start_with("rfc");
    let (code, _, err) = cli(&server.db, &["tenant", "limit", &server.tenant, "--rate", "0.1", "--burst", "3"]);
    assert_eq!(code, 0, "{err}");
    std::thread::sleep(Duration::from_millis(1500));
    let operations: Vec<Value> = (0..5)
        .map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"), "data": rfc_user(&format!("bulk{i}@example.com"))}))
        .collect();
    let r = server.post(
        "/Bulk",
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": operations}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let statuses: Vec<String> =
        r.json()["Operations"].as_array().unwrap().iter().map(|o| o["status"].as_str().unwrap().to_owned()).collect();
    // A burst of three: the request's own token carries the first operation, two more follow.
    assert_eq!(statuses, ["201", "201", "201", "429", "429"], "{}", r.text);
}
