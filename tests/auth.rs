//! Tenants and tokens: isolation, the two-token limit, and revocation of a running server's
//! tokens by the CLI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Req, Server, cli, create_tenant};

fn wait_for(mut ok: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(1);
    while !ok() {
        assert!(Instant::now() < deadline, "{what} within a second");
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn a_token_opens_its_own_tenant_only() {
    let s = Server::start();
    let other = create_tenant(&s.db);
    let other_id = other["tenant_id"].as_str().unwrap();
    let other_token = other["token"].as_str().unwrap();
    wait_for(
        || Req::new(&s.addr, "GET", &format!("/{other_id}/scim/v2/Users")).bearer(other_token).send().status == 200,
        "new tenant served",
    );
    let cross = Req::new(&s.addr, "GET", &format!("/{other_id}/scim/v2/Users")).bearer(&s.token).send();
    cross.assert_error(401, "The authorization header is invalid or missing.");
    let cross = Req::new(&s.addr, "GET", &format!("{}/Users", s.base())).bearer(other_token).send();
    cross.assert_error(401, "The authorization header is invalid or missing.");
    for header in ["", "Bearer", "Bearer nope", "Basic dXNlcjpwYXNz", &format!("Bearer {}x", s.token)] {
        let mut r = Req::new(&s.addr, "GET", &format!("{}/Users", s.base()));
        if !header.is_empty() {
            r = r.header("Authorization", header);
        }
        let r = r.send();
        r.assert_error(401, "The authorization header is invalid or missing.");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    }
}

#[test]
fn two_tokens_at_most_and_deletion_revokes_at_once() {
    let s = Server::start();
    let (code, out, err) = cli(&s.db, &["token", "create", "--tenant", &s.tenant, "--json"]);
    assert_eq!(code, 0, "{err}");
    let second: Value = serde_json::from_str(out.trim()).unwrap();
    let second_token = second["token"].as_str().unwrap().to_owned();
    let (code, _, err) = cli(&s.db, &["token", "create", "--tenant", &s.tenant]);
    assert_eq!(code, 1, "a third token is refused");
    assert!(err.contains("two tokens"), "{err}");
    let (_, listed, _) = cli(&s.db, &["token", "list", "--tenant", &s.tenant, "--json"]);
    let listed: Value = serde_json::from_str(listed.trim()).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(listed[0]["expires_at"].as_str().unwrap().ends_with('Z'));
    let users = format!("{}/Users", s.base());
    wait_for(|| Req::new(&s.addr, "GET", &users).bearer(&second_token).send().status == 200, "second token works");
    // Delete the first token while the server runs: it stops working, the second keeps working.
    let first_id = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["token_id"].as_str().unwrap())
        .find(|id| *id != second["token_id"])
        .unwrap();
    let (code, _, err) = cli(&s.db, &["token", "delete", first_id, "--tenant", &s.tenant]);
    assert_eq!(code, 0, "{err}");
    wait_for(|| Req::new(&s.addr, "GET", &users).bearer(&s.token).send().status == 401, "deleted token refused");
    assert_eq!(Req::new(&s.addr, "GET", &users).bearer(&second_token).send().status, 200);
    let (code, _, _) = cli(&s.db, &["token", "create", "--tenant", &s.tenant]);
    assert_eq!(code, 0, "room for a new token after a deletion");
}

#[test]
fn deleting_a_tenant_closes_its_endpoint() {
    let s = Server::start();
    s.user("t@example.com");
    let (code, _, err) = cli(&s.db, &["tenant", "delete", &s.tenant]);
    assert_eq!(code, 0, "{err}");
    wait_for(|| s.get("/Users").status == 401, "deleted tenant refused");
}
