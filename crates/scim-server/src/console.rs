//! The web console at `/console`: hand-written HTML, CSS and JavaScript embedded in the binary,
//! so it needs no CDN, no build step and no files beside the binary.
//!
//! The pages hold no data and no secret: every datum comes from the admin API (`/admin/v1`) with
//! the admin token the administrator typed in, kept in the tab's `sessionStorage` and sent as
//! `Authorization: Bearer`. A strict Content-Security-Policy allows only these files.

use hyper::body::Bytes;
use hyper::header::HeaderValue;
use hyper::{Method, Response, StatusCode};

use crate::http::{Body, Target};

const INDEX: &str = include_str!("../console/index.html");
const SCRIPT: &str = include_str!("../console/app.js");
const STYLE: &str = include_str!("../console/app.css");
const ICON: &str = include_str!("../console/icon.svg");

/// What the console's pages may load and do: only this origin, no inline code, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The embedded file at `name` (relative to `/console/`) and its content type.
fn asset(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "" | "index.html" => Some((INDEX, "text/html; charset=utf-8")),
        "app.js" => Some((SCRIPT, "text/javascript; charset=utf-8")),
        "app.css" => Some((STYLE, "text/css; charset=utf-8")),
        "icon.svg" => Some((ICON, "image/svg+xml")),
        _ => None,
    }
}

/// Answers `GET /console/...`.
pub fn serve(method: &Method, target: &Target, request_id: &str) -> Response<Body> {
    let name = target.segments.get(1..).unwrap_or_default().join("/");
    let found = asset(&name);
    let (status, body, content_type) = match (found, method) {
        (Some((body, content_type)), &Method::GET | &Method::HEAD) => (StatusCode::OK, body, content_type),
        (Some(_), _) => (StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.\n", "text/plain; charset=utf-8"),
        (None, _) => (StatusCode::NOT_FOUND, "Not found.\n", "text/plain; charset=utf-8"),
    };
    let body = if method == Method::HEAD { Bytes::new() } else { Bytes::from_static(body.as_bytes()) };
    let mut response = Response::new(http_body_util::Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(hyper::header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(hyper::header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(hyper::header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(hyper::header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if status == StatusCode::METHOD_NOT_ALLOWED {
        headers.insert(hyper::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-RequestId", id);
    }
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_embedded_and_reference_only_this_origin() {
        for name in ["", "index.html", "app.js", "app.css", "icon.svg"] {
            let (body, _) = asset(name).unwrap();
            assert!(!body.is_empty());
            for remote in ["src=\"http", "href=\"http", "url(http", "fetch(\"http", "//cdn"] {
                assert!(!body.contains(remote), "{name} loads from elsewhere ({remote})");
            }
        }
        assert!(asset("../Cargo.toml").is_none());
        // No inline script or style: the Content-Security-Policy would block it.
        assert!(!INDEX.contains("<script>") && !INDEX.contains("style="));
    }

    #[test]
    fn unknown_files_are_404_and_writes_405() {
        let r = serve(&Method::GET, &Target::parse("/console/nope.js", None), "r");
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = serve(&Method::POST, &Target::parse("/console", None), "r");
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        let r = serve(&Method::GET, &Target::parse("/console/", None), "r");
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers().get("content-security-policy").is_some());
    }
}
