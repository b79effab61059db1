//! The edge: health probes, metrics, timeouts, the connection and header caps, ambiguous
//! requests and what a client's path can do to the log. Timeouts are short here, set by flags.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Req, Resp, Server, UNPARSABLE, cli, user_body};

/// Sends `bytes` on a fresh connection and reads the answer until the server closes it.
fn raw(addr: &str, bytes: &[u8]) -> Resp {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(bytes).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    Resp::parse(&answer)
}

/// Sends one keep-alive request on `stream` and reads exactly its response.
fn keep_alive(stream: &mut TcpStream, path: &str) -> Resp {
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "closed mid-response");
        answer.push(byte[0]);
    }
    let head = Resp::parse(&answer);
    let length: usize = head.header("content-length").unwrap().parse().unwrap();
    let mut body = vec![0; length];
    stream.read_exact(&mut body).unwrap();
    answer.extend_from_slice(&body);
    Resp::parse(&answer)
}

/// How long until the server closes `stream` (EOF or reset), giving up after `limit`; if `drip`,
/// one more header byte is sent every 200 ms meanwhile.
fn time_to_close(stream: &mut TcpStream, limit: Duration, drip: bool) -> Option<Duration> {
    let started = Instant::now();
    stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut buf = [0u8; 256];
    while started.elapsed() < limit {
        if drip && stream.write_all(b"X").is_err() {
            return Some(started.elapsed());
        }
        match stream.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Some(started.elapsed()),
        }
    }
    None
}

fn healthy(s: &Server) -> bool {
    Req::new(&s.addr, "GET", "/healthz").send().status == 200
}

#[test]
fn health_probes_answer_without_credentials_or_tenant_data() {
    let s = Server::start();
    let health = Req::new(&s.addr, "GET", "/healthz").send();
    assert_eq!(health.status, 200, "{}", health.text);
    assert_eq!(health.json(), serde_json::json!({"status": "ok"}));
    let ready = Req::new(&s.addr, "GET", "/readyz").send();
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!(ready.json()["status"], "ready");
    assert_eq!(ready.header("content-type"), Some("application/json"));
    for r in [&health, &ready] {
        assert!(!r.text.contains(&s.tenant), "{}", r.text);
    }
    let post = Req::new(&s.addr, "POST", "/readyz").send();
    assert_eq!(post.status, 405, "{}", post.text);
}

#[test]
fn metrics_are_served_apart_by_route_template_without_tenant_ids() {
    let s = Server::start_args("identity-center", &["--metrics-listen", "127.0.0.1:0"]);
    let metrics_addr = s.metrics_addr.clone().expect("the metrics line");
    assert_eq!(s.post("/Users", &user_body("m@example.com")).status, 201);
    assert_eq!(s.get("/Users/no-such-1").status, 404);
    assert_eq!(s.get("/Users/no-such-2").status, 404);
    assert_eq!(Req::new(&s.addr, "GET", &format!("{}/Users", s.base())).send().status, 401);
    assert_eq!(Req::new(&s.addr, "GET", &format!("{}/Users", s.base())).bearer("forged").send().status, 401);
    // A rate limit of one request per 10 s: of three quick requests, two are throttled.
    let (code, _, err) = cli(&s.db, &["tenant", "limit", &s.tenant, "--rate", "0.1", "--burst", "1"]);
    assert_eq!(code, 0, "{err}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.get("/Users?count=1").status != 429 {
        assert!(Instant::now() < deadline, "the rate limit never applied");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Not on the SCIM address.
    assert_eq!(Req::new(&s.addr, "GET", "/metrics").send().status, 404);
    let r = Req::new(&metrics_addr, "GET", "/metrics").send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"));
    let text = r.text;
    let has = |line: &str| assert!(text.lines().any(|l| l == line), "no line {line:?} in:\n{text}");
    has(r#"scim_http_requests_total{route="/{tenant}/scim/v2/Users/{id}",method="GET",status="404"} 2"#);
    has(r#"scim_http_requests_total{route="/{tenant}/scim/v2/Users",method="POST",status="201"} 1"#);
    has(r#"scim_http_request_duration_seconds_count{route="/{tenant}/scim/v2/Users/{id}"} 2"#);
    has(r#"scim_http_request_duration_seconds_bucket{route="/{tenant}/scim/v2/Users/{id}",le="+Inf"} 2"#);
    has(r#"scim_auth_failures_total{reason="no_token"} 1"#);
    has(r#"scim_auth_failures_total{reason="invalid"} 1"#);
    has("scim_store_write_queue_depth 0");
    assert!(text.lines().any(|l| l.starts_with("scim_open_connections ")), "{text}");
    for prefix in ["scim_throttled_requests_total ", "scim_store_commit_batch_size_count "] {
        let value: u64 = text.lines().find_map(|l| l.strip_prefix(prefix)).unwrap().parse().unwrap();
        assert!(value >= 1, "{prefix}{value}");
    }
    assert!(!text.contains(&s.tenant), "a tenant id in the metrics:\n{text}");
    assert!(!text.contains("no-such-1"), "a raw path in the metrics:\n{text}");
}

#[test]
fn a_slow_head_is_closed_after_the_header_timeout() {
    let s = Server::start_args("identity-center", &["--header-timeout", "1", "--idle-timeout", "30"]);
    let mut slow = TcpStream::connect(&s.addr).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nX-Slow: ").unwrap();
    let closed = time_to_close(&mut slow, Duration::from_secs(8), true).expect("a slowloris connection stays open");
    assert!(closed >= Duration::from_millis(700) && closed < Duration::from_secs(4), "closed after {closed:?}");
    assert!(healthy(&s));
}

#[test]
fn idle_connections_close_after_the_idle_timeout_not_the_header_timeout() {
    let s = Server::start_args("identity-center", &["--header-timeout", "1", "--idle-timeout", "3"]);
    let mut stream = TcpStream::connect(&s.addr).unwrap();
    assert_eq!(keep_alive(&mut stream, "/healthz").status, 200);
    // Idle for longer than the header timeout: still open.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(keep_alive(&mut stream, "/healthz").status, 200);
    let closed = time_to_close(&mut stream, Duration::from_secs(8), false).expect("an idle connection stays open");
    assert!(closed >= Duration::from_millis(2500) && closed < Duration::from_secs(6), "closed after {closed:?}");
    // A connection that never sends a byte is idle too.
    let mut silent = TcpStream::connect(&s.addr).unwrap();
    let closed = time_to_close(&mut silent, Duration::from_secs(8), false).expect("a silent connection stays open");
    assert!(closed < Duration::from_secs(6), "closed after {closed:?}");
    assert!(healthy(&s));
}

#[test]
fn connections_over_the_cap_are_closed_and_the_server_recovers() {
    let s = Server::start_args("identity-center", &["--max-connections", "2"]);
    let held: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(&s.addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = TcpStream::connect(&s.addr).unwrap();
    let _ = extra.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let closed =
        time_to_close(&mut extra, Duration::from_secs(3), false).expect("a connection over the cap was served");
    assert!(closed < Duration::from_secs(2), "closed after {closed:?}");
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Req::new(&s.addr, "GET", "/healthz").send_or_closed().is_none_or(|r| r.status != 200) {
        assert!(Instant::now() < deadline, "the server did not serve again once below the cap");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn header_fields_over_the_cap_get_431_with_a_json_body() {
    let s = Server::start_args("identity-center", &["--max-header-bytes", "4096"]);
    let r = s.req("GET", "/Users").header("X-Big", &"a".repeat(5000)).send();
    r.assert_error(431, "The request's header fields are too large.");
    // Just under the cap is served.
    let r = s.req("GET", "/Users").header("X-Big", &"a".repeat(3000)).send();
    assert_eq!(r.status, 200, "{}", r.text);
    s.wait_for_log("request head refused");
}

#[test]
fn ambiguous_requests_are_refused_with_400_and_change_nothing() {
    let s = Server::start();
    let body = serde_json::to_string(&user_body("amb@example.com")).unwrap();
    let chunked = format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
    for (first, second) in
        [("Content-Length: 5", "Transfer-Encoding: chunked"), ("Transfer-Encoding: chunked", "Content-Length: 5")]
    {
        let request = format!(
            "POST {}/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/scim+json\r\n{first}\r\n{second}\r\nConnection: close\r\n\r\n{chunked}",
            s.base(),
            s.token
        );
        raw(&s.addr, request.as_bytes()).assert_error(400, UNPARSABLE);
    }
    // Two Authorization headers, the first one valid.
    let r = s.req("POST", "/Users").bearer("someone-else").json(&user_body("amb@example.com")).send();
    r.assert_error(400, UNPARSABLE);
    // An unparsable head gets the same JSON body rather than hyper's empty one.
    raw(&s.addr, b"GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n").assert_error(400, UNPARSABLE);
    let list = s.get("/Users");
    assert_eq!(list.json()["totalResults"], Value::from(0), "{}", list.text);
    s.wait_for_log("ambiguous request: Content-Length together with Transfer-Encoding");
    s.wait_for_log("ambiguous request: more than one Authorization header");
}

#[test]
fn a_path_cannot_forge_log_lines_or_write_control_bytes() {
    let s = Server::start();
    let forged = "/forged%0A2026-01-01T00:00:00Z%20INFO%20fake%1B%5B31m%00end/scim/v2/Users";
    assert_eq!(Req::new(&s.addr, "GET", forged).send().status, 401);
    assert_eq!(s.req("GET", &format!("/Users/{}", "x".repeat(12_000))).send().status, 404);
    s.wait_for_log("xxxxxxxx…");
    let log = s.log();
    assert!(!log.contains('\u{1b}') && !log.contains('\0'), "raw control bytes in the log");
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("forged")).collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(lines[0].contains(r"forged\u{a}2026-01-01T00:00:00Z INFO fake\u{1b}[31m\u{0}end"), "{}", lines[0]);
    assert!(!log.lines().any(|l| l.starts_with("2026-01-01T00:00:00Z")), "{log}");
    let longest = log.lines().map(str::len).max().unwrap();
    assert!(longest < 2000, "a log line of {longest} bytes");
}

#[test]
fn readyz_answers_503_while_draining_on_shutdown() {
    let mut s = Server::start_args("identity-center", &["--drain-delay", "2"]);
    let mut stream = TcpStream::connect(&s.addr).unwrap();
    assert_eq!(keep_alive(&mut stream, "/readyz").status, 200);
    s.signal("TERM");
    s.wait_for_log("draining: /readyz answers 503");
    let ready = keep_alive(&mut stream, "/readyz");
    assert_eq!(ready.status, 503, "{}", ready.text);
    assert_eq!(ready.json()["status"], "draining");
    // Everything else is still served, on open connections and new ones.
    assert_eq!(keep_alive(&mut stream, "/healthz").status, 200);
    assert_eq!(s.get("/Users").status, 200);
    assert_eq!(Req::new(&s.addr, "GET", "/readyz").send().status, 503);
    drop(stream);
    assert_eq!(s.terminate(), Some(0));
}

#[test]
fn connections_spread_over_several_workers_are_served_and_finished_on_shutdown() {
    let mut s = Server::start_args("identity-center", &["--workers", "3"]);
    // More connections than workers, each kept open: every worker serves some.
    let mut streams: Vec<TcpStream> = (0..7).map(|_| TcpStream::connect(&s.addr).unwrap()).collect();
    for round in 0..3 {
        for stream in &mut streams {
            assert_eq!(keep_alive(stream, "/healthz").status, 200, "round {round}");
        }
    }
    let created = s.post("/Users", &user_body("spread"));
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(s.get("/Users?filter=userName%20eq%20%22spread%22").json()["totalResults"], 1);
    // Open connections do not hold the shutdown: each worker finishes its own and stops.
    assert_eq!(s.terminate(), Some(0));
    assert!(s.log().contains("shutting down"), "{}", s.log());
}
