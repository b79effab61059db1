//! The floor: a bare hyper server answering every request with one fixed user of about 600
//! bytes after comparing its bearer token with a static one (`scim-bench reference`).
//!
//! It is what HTTP/1.1 costs on this machine with the same hyper as `scim-server`, the same
//! kind of runtime (tokio's multi-threaded one with its default of one worker thread per CPU, as
//! `scim-server serve` builds it) and the same load generator; every scenario is reported as a
//! ratio to it, measured in the same run. It runs in a process of its own, started by
//! [`crate::server::Reference`], so it shares neither a runtime nor an allocator with the load
//! generator, exactly as the server under test does not.

use std::convert::Infallible;
use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The path the scenario asks for (any path gets the same answer).
pub const PATH: &str = "/Users/2819c223-7f76-453a-919d-413861904646";

/// The user every request gets: a rendered identity-center User of 600 bytes or so.
pub const USER: &str = concat!(
    r#"{"id":"2819c223-7f76-453a-919d-413861904646","externalId":"ext-user42","#,
    r#""meta":{"resourceType":"User","created":"2026-11-30T12:00:00Z","lastModified":"2026-11-30T12:00:00Z"},"#,
    r#""schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"user000042@bench.example.com","#,
    r#""name":{"formatted":"Given42 Family42","familyName":"Family42","givenName":"Given42"},"#,
    r#""displayName":"Given42 Family42","title":"Engineer","userType":"Employee","#,
    r#""preferredLanguage":"en-US","locale":"en-US","timezone":"America/Los_Angeles","active":true,"#,
    r#""emails":[{"value":"user000042@bench.example.com","type":"work","primary":true}]}"#
);

/// Whether an `Authorization` header carries exactly `Bearer <token>`.
fn authorized(header: Option<&HeaderValue>, expected: &[u8]) -> bool {
    header.is_some_and(|value| value.as_bytes() == expected)
}

async fn answer(request: Request<Incoming>, expected: &'static [u8]) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = if authorized(request.headers().get(AUTHORIZATION), expected) {
        Response::new(Full::new(Bytes::from_static(USER.as_bytes())))
    } else {
        let mut denied = Response::new(Full::new(Bytes::new()));
        *denied.status_mut() = StatusCode::UNAUTHORIZED;
        denied
    };
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

/// Serves on `127.0.0.1:0` until the process is stopped: prints
/// `scim-bench reference listening on http://ADDR` first, as `scim-server serve` does.
pub fn serve(token: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(|e| format!("cannot listen: {e}"))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        println!("scim-bench reference listening on http://{local}");
        accept(listener, token).await;
        Ok(())
    })
}

/// Answers every connection `listener` accepts, for ever.
pub async fn accept(listener: TcpListener, token: &str) {
    // One per process, for the life of the process: leaking it gives every connection a
    // `'static` borrow instead of an `Arc` count per request.
    let expected: &'static [u8] = format!("Bearer {token}").into_bytes().leak();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of descriptors, say: wait rather than spin.
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(request, expected));
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_user_is_a_user_of_about_600_bytes() {
        let user: serde_json::Value = serde_json::from_str(USER).unwrap();
        assert_eq!(user["userName"], "user000042@bench.example.com");
        assert!(PATH.ends_with(user["id"].as_str().unwrap()));
        assert!((570..=630).contains(&USER.len()), "{} bytes", USER.len());
    }

    #[test]
    fn it_answers_the_user_to_the_token_and_401_to_anything_else() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(accept(listener, "secret"));
            let good = crate::client::Endpoint::new(addr, "secret").unwrap();
            let mut conn = crate::client::Conn::open(&good).await.unwrap();
            for _ in 0..2 {
                let (status, body) = conn.send(&good, "GET", PATH, None).await.unwrap();
                assert_eq!((status, body), (200, USER.as_bytes()));
            }
            let bad = crate::client::Endpoint::new(addr, "secret2").unwrap();
            let mut conn = crate::client::Conn::open(&bad).await.unwrap();
            assert_eq!(conn.send(&bad, "GET", PATH, None).await.unwrap(), (401, &b""[..]));
        });
    }

    #[test]
    fn only_the_exact_token_passes() {
        let expected = b"Bearer secret";
        assert!(authorized(Some(&HeaderValue::from_static("Bearer secret")), expected));
        assert!(!authorized(Some(&HeaderValue::from_static("Bearer secreT")), expected));
        assert!(!authorized(Some(&HeaderValue::from_static("Bearer secret2")), expected));
        assert!(!authorized(None, expected));
    }
}
