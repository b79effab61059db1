//! Throttling: a tenant's token bucket, set from the command line, answered with 429 and
//! `Retry-After` in the AWS envelope; off by default; other tenants unaffected.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Req, Resp, Server, cli, create_tenant};

const THROTTLED: &str = "Too many requests exceeded the limits.";

/// Sends requests until one answers `status`, for at most `within`; returns it.
fn until_status(within: Duration, status: u16, send: impl Fn() -> Resp) -> Resp {
    let deadline = Instant::now() + within;
    loop {
        let response = send();
        if response.status == status {
            return response;
        }
        assert!(Instant::now() < deadline, "no {status} within {within:?}; last {} {}", response.status, response.text);
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn limit(server: &Server, words: &[&str]) -> Value {
    let mut all = vec!["tenant", "limit", server.tenant.as_str(), "--json"];
    all.extend_from_slice(words);
    let (code, out, err) = cli(&server.db, &all);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(out.trim()).unwrap()
}

#[test]
fn no_limit_by_default() {
    let server = Server::start();
    let shown = limit(&server, &[]);
    assert_eq!(shown["rate_limit"], Value::Null, "{shown}");
    assert_eq!((shown["max_users"].as_i64(), shown["max_groups"].as_i64()), (Some(100_000), Some(100_000)));
    for _ in 0..300 {
        assert_eq!(server.get("/ServiceProviderConfig").status, 200);
    }
}

#[test]
fn an_empty_bucket_answers_429_with_retry_after_and_other_tenants_go_on() {
    let server = Server::start();
    let other = create_tenant(&server.db);
    let (other_id, other_token) = (other["tenant_id"].as_str().unwrap(), other["token"].as_str().unwrap());
    let shown = limit(&server, &["--rate", "0.5", "--burst", "3"]);
    assert_eq!(shown["rate_limit"], serde_json::json!({"requests_per_second": 0.5, "burst": 3}), "{shown}");

    let throttled = until_status(Duration::from_secs(10), 429, || server.get("/Users"));
    throttled.assert_error(429, THROTTLED);
    let retry_after: u64 = throttled.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
    // Still empty: half a request per second has not refilled a whole one yet.
    server.get("/Users").assert_error(429, THROTTLED);
    // The logging thread writes the line after the answer has gone.
    server.wait_for_log("status=429");
    let log = server.log();
    assert!(log.contains("status=429") && log.contains("rate limit"), "{log}");

    // The other tenant (seen by the running server within a second) is not throttled.
    let get_other = || Req::new(&server.addr, "GET", &format!("/{other_id}/scim/v2/Users")).bearer(other_token).send();
    until_status(Duration::from_secs(10), 200, get_other);
    for _ in 0..50 {
        assert_eq!(get_other().status, 200);
    }
    // A request without a valid token is refused as unauthorized, never counted or throttled.
    let anonymous = Req::new(&server.addr, "GET", &format!("{}/Users", server.base())).send();
    assert_eq!(anonymous.status, 401);
}

#[test]
fn a_limit_set_or_lifted_by_the_cli_applies_to_a_running_server() {
    let server = Server::start();
    assert_eq!(server.get("/Users").status, 200);
    limit(&server, &["--rate", "1", "--burst", "1"]);
    // The server reloads tenants within a second of the change; a loaded machine gets slack.
    until_status(Duration::from_secs(10), 429, || server.get("/Users")).assert_error(429, THROTTLED);
    let shown = limit(&server, &["--off"]);
    assert_eq!(shown["rate_limit"], Value::Null);
    until_status(Duration::from_secs(10), 200, || server.get("/Users"));
    for _ in 0..20 {
        assert_eq!(server.get("/Users").status, 200);
    }
}

#[test]
fn the_limit_command_checks_its_words() {
    let server = Server::start();
    let t = server.tenant.as_str();
    for words in [
        &["tenant", "limit", t, "--rate", "0"][..],
        &["tenant", "limit", t, "--rate", "-1"],
        &["tenant", "limit", t, "--rate", "fast"],
        &["tenant", "limit", t, "--rate", "5", "--burst", "0"],
        &["tenant", "limit", t, "--burst", "5"],
        &["tenant", "limit", t, "--off", "--rate", "5"],
        &["tenant", "limit", t, "--max-users", "-3"],
        &["tenant", "limit"],
    ] {
        let (code, _, err) = cli(&server.db, words);
        assert_eq!(code, 2, "{words:?}: {err}");
    }
    let (code, _, err) = cli(&server.db, &["tenant", "limit", "no-such-tenant", "--rate", "5"]);
    assert_eq!(code, 1, "{err}");
    // Without --burst, one second's worth; quotas change alone.
    let shown = limit(&server, &["--rate", "2.5"]);
    assert_eq!(shown["rate_limit"], serde_json::json!({"requests_per_second": 2.5, "burst": 3}));
    let shown = limit(&server, &["--max-users", "7"]);
    assert_eq!((shown["max_users"].as_i64(), shown["max_groups"].as_i64()), (Some(7), Some(100_000)));
    assert_eq!(shown["rate_limit"]["burst"], 3);
    let (code, out, _) = cli(&server.db, &["tenant", "limit", t]);
    assert_eq!(code, 0);
    assert!(out.contains("rate limit 2.5 requests/s, burst 3") && out.contains("at most 7 users"), "{out}");
}
