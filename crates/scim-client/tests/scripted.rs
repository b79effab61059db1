//! The client against a scripted peer on loopback: each test decides what the "service
//! provider" answers (throttling, 5xx, lost answers, short pages) and checks what the client
//! sent in reply.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use scim_client::{Client, Error, Options, PatchOp, RetryPolicy};
use scim_schema::ResourceKind;

/// One request as the peer saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    body: String,
}

/// The answer: status, extra headers, body (`Value::Null` for none); `None` drops the
/// connection without answering, as a crashed server does.
type Answer = Option<(u16, Vec<(&'static str, String)>, Value)>;

type Script = Arc<dyn Fn(&Seen, &[Seen]) -> Answer + Send + Sync>;

/// Starts a peer on loopback; answers its base URL and the log of requests.
async fn peer(script: impl Fn(&Seen, &[Seen]) -> Answer + Send + Sync + 'static) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/scim/v2", listener.local_addr().unwrap());
    let log: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let script: Script = Arc::new(script);
    let shared = log.clone();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let (log, script) = (shared.clone(), script.clone());
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                loop {
                    let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                        let mut chunk = [0u8; 4096];
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    while buffer.len() < end + 4 + length {
                        let mut chunk = [0u8; 4096];
                        let n = stream.read(&mut chunk).await.unwrap();
                        buffer.extend_from_slice(&chunk[..n]);
                    }
                    let body = String::from_utf8_lossy(&buffer[end + 4..end + 4 + length]).into_owned();
                    buffer.drain(..end + 4 + length);
                    let mut words = head.split(' ');
                    let seen =
                        Seen { method: words.next().unwrap().into(), target: words.next().unwrap().into(), body };
                    let answer = {
                        let mut log = log.lock().unwrap();
                        let answer = script(&seen, &log);
                        log.push(seen);
                        answer
                    };
                    let Some((status, headers, body)) = answer else { return };
                    let body = if body.is_null() { String::new() } else { body.to_string() };
                    let mut response = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
                    for (name, value) in headers {
                        response.push_str(&format!("{name}: {value}\r\n"));
                    }
                    response.push_str("\r\n");
                    response.push_str(&body);
                    stream.write_all(response.as_bytes()).await.unwrap();
                }
            });
        }
    });
    (base, log)
}

/// `/ServiceProviderConfig` of an identity-center-like provider (no bulk, sort or ETags).
fn identity_center() -> Value {
    json!({"patch": {"supported": true}, "bulk": {"supported": false}, "filter": {"supported": true, "maxResults": 100},
           "sort": {"supported": false}, "etag": {"supported": false}})
}

fn ok(body: Value) -> Answer {
    Some((200, Vec::new(), body))
}

fn fast() -> Options {
    let retry = RetryPolicy {
        max_retries: 3,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(20),
        ..RetryPolicy::default()
    };
    Options { retry, timeout: Duration::from_secs(5), max_throttled: 10 }
}

fn jane() -> Value {
    json!({"userName": "jane@example.com", "displayName": "Jane Doe", "name": {"givenName": "Jane", "familyName": "Doe"}})
}

fn count(log: &Arc<Mutex<Vec<Seen>>>, method: &str) -> usize {
    log.lock().unwrap().iter().filter(|s| s.method == method).count()
}

#[tokio::test]
async fn index_paging_reads_every_page_when_no_cursor_is_offered() {
    let config = json!({"patch": {"supported": true}, "bulk": {"supported": true}, "filter": {"maxResults": 2}});
    let (base, log) = peer(move |seen, _| {
        if seen.target.ends_with("/ServiceProviderConfig") {
            return ok(config.clone());
        }
        let start: usize = seen.target.split("startIndex=").nth(1).unwrap().split('&').next().unwrap().parse().unwrap();
        let items: Vec<Value> = (start..(start + 2).min(6)).map(|i| json!({"id": i.to_string()})).collect();
        ok(json!({"totalResults": 5, "Resources": items}))
    })
    .await;
    let client = Client::connect(&base, "t", fast()).await.unwrap();
    assert!(!client.capabilities().cursor && !client.capabilities().identity_center_like);
    let users = client.list(ResourceKind::User, None).await.unwrap();
    let ids: Vec<&str> = users.iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["1", "2", "3", "4", "5"]);
    assert_eq!(count(&log, "GET"), 4, "discovery and three pages");
}

#[tokio::test]
async fn cursor_paging_follows_next_cursor_with_the_same_filter() {
    let (base, log) = peer(move |seen, _| {
        if seen.target.ends_with("/ServiceProviderConfig") {
            return ok(identity_center());
        }
        assert!(seen.target.contains("filter=userName%20eq%20%22a%22"), "{}", seen.target);
        match seen.target.split("cursor=").nth(1).unwrap().split('&').next().unwrap() {
            "" => ok(json!({"Resources": [{"id": "1"}], "nextCursor": "c2"})),
            "c2" => ok(json!({"Resources": [{"id": "2"}]})),
            other => panic!("unexpected cursor {other}"),
        }
    })
    .await;
    let client = Client::connect(&base, "t", fast()).await.unwrap();
    let filter = scim_client::eq(scim_filter::AttrPath::new("userName"), "a");
    assert_eq!(client.list(ResourceKind::User, Some(&filter)).await.unwrap().len(), 2);
    assert_eq!(count(&log, "GET"), 3);
}

#[tokio::test]
async fn a_429_waits_for_retry_after_and_any_method_is_repeated() {
    let (base, log) = peer(move |seen, earlier| {
        if seen.target.ends_with("/ServiceProviderConfig") {
            return ok(identity_center());
        }
        if !earlier.iter().any(|s| s.method == "POST") {
            return Some((429, vec![("Retry-After", "1".into())], json!({"detail": "slow down"})));
        }
        Some((201, Vec::new(), json!({"id": "u1", "userName": "jane@example.com"})))
    })
    .await;
    let client = Client::connect(&base, "t", fast()).await.unwrap();
    let started = std::time::Instant::now();
    let created = client.create(ResourceKind::User, &jane()).await.unwrap();
    assert_eq!(created["id"], "u1");
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After was honoured");
    assert_eq!((count(&log, "POST"), client.stats().throttled), (2, 1));
}

#[tokio::test]
async fn idempotent_requests_back_off_on_5xx_and_give_up_after_the_budget() {
    let (base, log) = peer(move |seen, earlier| {
        if seen.target.ends_with("/ServiceProviderConfig") {
            return ok(identity_center());
        }
        let failures = earlier.iter().filter(|s| s.target == seen.target).count();
        match seen.target.as_str() {
            t if t.ends_with("/Users/flaky") && failures < 2 => Some((503, Vec::new(), Value::Null)),
            t if t.ends_with("/Users/flaky") => ok(json!({"id": "flaky"})),
            _ => Some((500, Vec::new(), json!({"detail": "broken"}))),
        }
    })
    .await;
    let client = Client::connect(&base, "t", fast()).await.unwrap();
    assert_eq!(client.get(ResourceKind::User, "flaky").await.unwrap()["id"], "flaky");
    let error = client.get(ResourceKind::User, "broken").await.unwrap_err();
    assert_eq!(error.status(), Some(500));
    assert_eq!(count(&log, "GET"), 1 + 3 + 4, "discovery, 2 retries then success, 1 try + 3 retries");
    assert_eq!(client.stats().retried, 5);
}

#[tokio::test]
async fn a_lost_post_is_resolved_by_a_lookup_not_repeated() {
    // The provider creates the user, then crashes before answering.
    let (base, log) = peer(move |seen, earlier| {
        if seen.target.ends_with("/ServiceProviderConfig") {
            return ok(identity_center());
        }
        if seen.method == "POST" {
            return None;
        }
        assert!(seen.target.contains("filter=userName%20eq%20%22jane%40example.com%22"), "{}", seen.target);
        let created = earlier.iter().any(|s| s.method == "POST");
        let resources = if created { vec![json!({"id": "u1", "userName": "jane@example.com"})] } else { vec![] };
        ok(json!({"totalResults": resources.len(), "Resources": resources}))
    })
    .await;
    let client = Client::connect(&base, "t", fast()).await.unwrap();
    let found = client.create(ResourceKind::User, &jane()).await.unwrap();
    assert_eq!(found["id"], "u1");
    assert_eq!(count(&log, "POST"), 1, "never sent twice");
}

#[tokio::test]
async fn a_lost_post_that_did_not_land_is_sent_again() {
    let (base, log) = peer(move |seen, earlier| {
        if seen.target.ends_with("/ServiceProviderConfig") {
            return ok(identity_center());
        }
        let posts = earlier.iter().filter(|s| s.method == "POST").count();
        match seen.method.as_str() {
            "POST" if posts == 0 => Some((502, Vec::new(), Value::Null)),
            "POST" => Some((201, Vec::new(), json!({"id": "u2"}))),
            _ => ok(json!({"totalResults": 0, "Resources": []})),
        }
    })
    .await;
    let client = Client::connect(&base, "t", fast()).await.unwrap();
    assert_eq!(client.create(ResourceKind::User, &jane()).await.unwrap()["id"], "u2");
    assert_eq!((count(&log, "POST"), count(&log, "GET")), (2, 2), "one lookup between the two POSTs");
}

#[tokio::test]
async fn member_changes_are_split_into_requests_of_100_and_refused_users_cost_nothing() {
    let (base, log) = peer(move |seen, _| {
        if seen.target.ends_with("/ServiceProviderConfig") {
            return ok(identity_center());
        }
        let body: Value = serde_json::from_str(&seen.body).unwrap();
        let changes: usize =
            body["Operations"].as_array().unwrap().iter().map(|op| op["value"].as_array().map_or(1, Vec::len)).sum();
        assert!(changes <= 100, "{changes} changes in one request");
        Some((204, Vec::new(), Value::Null))
    })
    .await;
    let client = Client::connect(&base, "t", fast()).await.unwrap();
    let ids: Vec<String> = (0..250).map(|i| format!("u{i}")).collect();
    client.patch(ResourceKind::Group, "g", PatchOp::new().add_members(ids.iter().map(String::as_str))).await.unwrap();
    assert_eq!(count(&log, "PATCH"), 3);

    let mut bad = jane();
    bad["addresses"] = json!([{"locality": "Paris"}]);
    let Err(Error::Refused(why)) = client.create(ResourceKind::User, &bad).await else { panic!("not refused") };
    assert!(why.detail.contains("needs all five"), "{why}");
    assert_eq!(count(&log, "POST"), 0);
}
