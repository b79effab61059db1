//! The wire: what a request looks like once the transport's quirks are ironed out, and how a
//! response is written.
//!
//! Clients join URLs themselves and encode queries every way there is: `//Users`, a trailing `/`,
//! `?` or `&`, spaces as `+` or `%20` or raw. [`Target::parse`] accepts all of them and yields
//! decoded path segments and query pairs, so the router never sees the difference.

use std::borrow::Cow;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::reply::{Reply, ReplyBody};

/// The body type of every response.
pub type Body = Full<Bytes>;

/// What the scan of a request's head found that hyper does not show the handler
/// (found by the edge, read by the router).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Head {
    /// The head carried both `Content-Length` and `Transfer-Encoding`.
    pub length_and_coding: bool,
}

/// A request's decoded path and query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Path segments, percent-decoded, without empty ones.
    pub segments: Vec<String>,
    /// Query pairs in order, decoded (`+` is a space); a bare `key` has an empty value.
    pub query: Vec<(String, String)>,
}

impl Target {
    /// Parses the request target (path and query) of a request line.
    pub fn parse(path: &str, query: Option<&str>) -> Target {
        let segments = path.split('/').filter(|s| !s.is_empty()).map(|s| percent_decode(s, false)).collect();
        let query = query
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) => (percent_decode(k, true), percent_decode(v, true)),
                None => (percent_decode(pair, true), String::new()),
            })
            .collect();
        Target { segments, query }
    }

    /// The value of the first query parameter named `name` (case-insensitive), if present.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The path as logged: segments joined, starting with `/`.
    pub fn path(&self) -> String {
        let mut out = String::with_capacity(self.segments.iter().map(|s| s.len() + 1).sum::<usize>().max(1));
        for s in &self.segments {
            out.push('/');
            out.push_str(s);
        }
        if out.is_empty() {
            out.push('/');
        }
        out
    }
}

/// Decodes `%XX` escapes (and `+` as a space in queries); invalid escapes stay as written, and
/// invalid UTF-8 is replaced rather than refused.
pub fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let plain = match plus_is_space {
        true => memchr::memchr2(b'%', b'+', bytes).is_none(),
        false => memchr::memchr(b'%', bytes).is_none(),
    };
    if plain { text.to_owned() } else { decode_escapes(text, plus_is_space) }
}

/// [`percent_decode`]'s work on a text that has something to decode.
fn decode_escapes(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                    }
                    _ => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Checks a request's `Content-Type`: JSON or SCIM JSON, any parameters; absent is accepted.
pub fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(hyper::header::CONTENT_TYPE) else { return Ok(()) };
    let text = value.to_str().unwrap_or("");
    let essence = text.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/json" | "application/scim+json" => Ok(()),
        _ => Err(ApiError::UnsupportedMediaType(text.to_owned())),
    }
}

/// The entity tags of an `If-Match` or `If-None-Match` value (RFC 9110 section 13.1): `*`, or a
/// comma-separated list of `"opaque"` or `W/"opaque"` tags, kept whole.
///
/// Anything else, non-ASCII bytes included, is an error rather than a header to ignore: a
/// precondition the server cannot read must not let the write through.
pub fn entity_tags(value: &str) -> Result<Vec<String>, ApiError> {
    let malformed =
        || ApiError::BadQuery(scim_schema::ErrorKind::InvalidSyntax, format!("malformed entity-tag list {value:?}"));
    if value.trim() == "*" {
        return Ok(vec!["*".to_owned()]);
    }
    let mut tags = Vec::new();
    for item in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let opaque = item.strip_prefix("W/").unwrap_or(item);
        let inner = opaque.strip_prefix('"').and_then(|o| o.strip_suffix('"')).ok_or_else(malformed)?;
        if !inner.bytes().all(|b| b == 0x21 || (0x23..=0x7e).contains(&b)) {
            return Err(malformed());
        }
        tags.push(item.to_owned());
    }
    if tags.is_empty() {
        return Err(malformed());
    }
    Ok(tags)
}

/// The bearer token of the `Authorization` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(hyper::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// How responses of one request are written.
#[derive(Debug, Clone, Copy)]
pub struct Writer<'a> {
    /// The request id, echoed in `x-amzn-RequestId` and in error bodies.
    pub request_id: &'a str,
    /// Whether to say `application/scim+json` rather than `application/json`.
    pub scim_content_type: bool,
}

impl Writer<'_> {
    /// Renders `reply` to the bytes sent: its status, the content type, the request id, the
    /// reply's own headers (one naming the content type replaces the writer's in place, as the
    /// AWS APIs' does), and its body serialised.
    pub fn render(&self, reply: Reply) -> Response<Body> {
        let bytes = match reply.body {
            ReplyBody::Json(value) => {
                // Sized for a typical resource, so its bytes are written without regrowing.
                let mut bytes = Vec::with_capacity(1024);
                match serde_json::to_writer(&mut bytes, &value) {
                    Ok(()) => Bytes::from(bytes),
                    Err(_) => Bytes::new(),
                }
            }
            ReplyBody::Written(json) => json,
            ReplyBody::Empty => Bytes::new(),
        };
        let mut response = Response::new(Full::new(bytes));
        *response.status_mut() = reply.status;
        let headers = response.headers_mut();
        let content_type = if self.scim_content_type { "application/scim+json" } else { "application/json" };
        headers.insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if let Ok(id) = HeaderValue::from_str(self.request_id) {
            headers.insert("x-amzn-RequestId", id);
        }
        for (name, value) in reply.headers {
            headers.insert(name, value);
        }
        response
    }

    /// The reply of `error` under `profile`: its body, and any headers the status calls for.
    pub fn error(&self, profile: &scim_schema::Profile, error: &ApiError) -> Reply {
        let (status, body) = self.error_body(profile, error);
        let reply = Reply::json(status, body);
        match error {
            ApiError::MethodNotAllowed(allow) => {
                reply.with_header(hyper::header::ALLOW, HeaderValue::from_static(allow))
            }
            ApiError::Unauthorized(_) => {
                reply.with_header(hyper::header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
            }
            ApiError::TooManyRequests { retry_after } | ApiError::Unavailable { retry_after, .. } => {
                reply.with_header(hyper::header::RETRY_AFTER, HeaderValue::from(*retry_after))
            }
            _ => reply,
        }
    }

    /// The same error as a whole HTTP/1.1 message that closes the connection: what the edge
    /// writes itself when a request head fails before any handler runs.
    pub fn error_message(&self, profile: &scim_schema::Profile, error: &ApiError) -> Vec<u8> {
        let (status, body) = self.error_body(profile, error);
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let content_type = if self.scim_content_type { "application/scim+json" } else { "application/json" };
        let mut message = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: {content_type}\r\nx-amzn-RequestId: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            self.request_id,
            body.len()
        )
        .into_bytes();
        message.extend_from_slice(&body);
        message
    }

    /// The status and JSON body of `error` under `profile`.
    fn error_body(&self, profile: &scim_schema::Profile, error: &ApiError) -> (StatusCode, Value) {
        const URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
        let rendered = error.render(profile);
        let status = rendered.status.as_u16().to_string();
        let body = if profile.aws_errors {
            json!({
                "schema": [URN],
                "schemas": [URN],
                "detail": rendered.detail,
                "status": status,
                "exceptionRequestId": self.request_id,
                "timeStamp": scim_schema::time::format_error_timestamp(scim_schema::time::now_millis()),
            })
        } else {
            let mut body = json!({"schemas": [URN], "detail": rendered.detail, "status": status});
            if let (Some(scim_type), Some(object)) = (rendered.scim_type, body.as_object_mut()) {
                object.insert("scimType".into(), Value::String(scim_type.to_owned()));
            }
            body
        };
        (rendered.status, body)
    }
}

/// The most bytes of a client-chosen text (a path, a tenant id) that reach a log line.
pub const LOGGED_BYTES: usize = 256;

/// `text` made safe for one log line: at most [`LOGGED_BYTES`] bytes of it (then `…`), every
/// control character (newline, ESC, NUL, ...) and bidirectional override written as a `\u{..}`
/// escape and `\` doubled, so a client can neither forge a line nor drive a terminal.
pub fn loggable(text: &str) -> Cow<'_, str> {
    // Most paths and ids are short printable ASCII, which needs nothing done.
    if text.len() <= LOGGED_BYTES && text.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b'\\') {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(escape_for_log(text))
    }
}

/// [`loggable`]'s work on a text that has something to escape or cut.
fn escape_for_log(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(LOGGED_BYTES) + 8);
    for (at, c) in text.char_indices() {
        if at >= LOGGED_BYTES {
            out.push('…');
            break;
        }
        let invisible = matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c == '\\' {
            out.push_str("\\\\");
        } else if c.is_control() || invisible {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether the request carries more than one `Authorization` header: which one counts would
/// depend on who reads it, so none does.
pub fn has_duplicate_authorization(headers: &HeaderMap) -> bool {
    headers.get_all(hyper::header::AUTHORIZATION).iter().nth(1).is_some()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn pairs(t: &Target) -> Vec<(&str, &str)> {
        t.query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    #[test]
    fn the_shortcuts_for_plain_text_give_what_the_full_decoding_and_escaping_give() {
        let long = "a".repeat(LOGGED_BYTES + 1);
        let texts =
            ["", "Users", "a+b", "a%20b", "100%", "ü", "a\\b", "tab\there", "\u{7f}", "\u{200b}x", &long, "~ !\"#"];
        for text in texts {
            assert_eq!(percent_decode(text, true), decode_escapes(text, true), "{text:?}");
            assert_eq!(percent_decode(text, false), decode_escapes(text, false), "{text:?}");
            assert_eq!(loggable(text), escape_for_log(text), "{text:?}");
        }
    }

    #[test]
    fn client_url_quirks() {
        let t = Target::parse("/t1/scim/v2//Users/", Some("filter=userName+eq+%22onelogin-test-user01%22&"));
        assert_eq!(t.segments, ["t1", "scim", "v2", "Users"]);
        assert_eq!(pairs(&t), [("filter", "userName eq \"onelogin-test-user01\"")]);
        let t = Target::parse("/t1/scim/v2/Users/abc", Some(""));
        assert_eq!(t.path(), "/t1/scim/v2/Users/abc");
        assert!(t.query.is_empty());
        let t = Target::parse("/x", Some("cursor&count=2&filter=userName eq \"a b\""));
        assert_eq!(pairs(&t), [("cursor", ""), ("count", "2"), ("filter", "userName eq \"a b\"")]);
        assert_eq!(t.param("COUNT"), Some("2"));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%3A%", false), "a b:%");
        assert_eq!(percent_decode("%zz%4", false), "%zz%4");
        assert_eq!(percent_decode("a+b", false), "a+b");
        assert_eq!(percent_decode("a+b", true), "a b");
        assert_eq!(percent_decode("%C3%A9", true), "é");
        assert_eq!(percent_decode("%FF", true), "\u{FFFD}");
    }

    #[test]
    fn entity_tag_lists() {
        assert_eq!(entity_tags("*").unwrap(), ["*"]);
        assert_eq!(entity_tags(r#"W/"3", "4""#).unwrap(), [r#"W/"3""#, r#""4""#]);
        for bad in ["", " , ", "3", r#""3"#, r#"W/3"#, "\"é\"", r#""a"b""#, r#""3", *"#, "\"\u{1b}\""] {
            assert!(entity_tags(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn logged_text_is_escaped_and_bounded() {
        assert_eq!(loggable("/t1/scim/v2/Users"), "/t1/scim/v2/Users");
        assert_eq!(loggable("a\nb\u{1b}[31mc\0d\\e\u{202e}f"), "a\\u{a}b\\u{1b}[31mc\\u{0}d\\\\e\\u{202e}f");
        let long = "é".repeat(1000);
        let logged = loggable(&long);
        assert!(logged.len() <= LOGGED_BYTES + '…'.len_utf8(), "{}", logged.len());
        assert!(logged.ends_with('…'));
        assert!(!loggable("x\ry\u{7f}\u{85}").chars().any(char::is_control));
    }

    #[test]
    fn duplicate_authorization_is_seen() {
        let mut h = HeaderMap::new();
        assert!(!has_duplicate_authorization(&h));
        h.append("authorization", HeaderValue::from_static("Bearer a"));
        assert!(!has_duplicate_authorization(&h));
        h.append("authorization", HeaderValue::from_static("Bearer b"));
        assert!(has_duplicate_authorization(&h));
    }

    #[test]
    fn an_error_message_is_a_whole_json_response() {
        let writer = Writer { request_id: "r1", scim_content_type: false };
        let message =
            writer.error_message(scim_schema::ProfileName::IdentityCenter.profile(), &ApiError::HeaderTooLarge);
        let text = String::from_utf8(message).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{head}");
        assert!(head.contains(&format!("content-length: {}\r\n", body.len())), "{head}");
        assert!(head.contains("connection: close"), "{head}");
        let json: Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["status"], "431");
        assert_eq!(json["exceptionRequestId"], "r1");
    }

    #[test]
    fn bearer_and_content_types() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert("authorization", HeaderValue::from_static("Bearer abc"));
        assert_eq!(bearer(&h), Some("abc"));
        h.insert("authorization", HeaderValue::from_static("non-token"));
        assert_eq!(bearer(&h), None);
        for ok in ["application/json", "application/scim+json; charset=utf-8", "Application/JSON;charset=UTF-8"] {
            h.insert("content-type", HeaderValue::from_static(ok));
            assert!(check_content_type(&h).is_ok(), "{ok}");
        }
        h.insert("content-type", HeaderValue::from_static("text/plain"));
        assert!(check_content_type(&h).is_err());
    }

    #[test]
    fn a_reply_is_rendered_once_with_the_request_id_and_content_type() {
        let writer = Writer { request_id: "r1", scim_content_type: true };
        let reply = Reply::json(StatusCode::CREATED, json!({"id": "u1"}))
            .with_header(hyper::header::LOCATION, HeaderValue::from_static("http://x/Users/u1"));
        let response = writer.render(reply);
        assert_eq!(response.status(), StatusCode::CREATED);
        let headers: Vec<(&str, &str)> =
            response.headers().iter().map(|(n, v)| (n.as_str(), v.to_str().unwrap())).collect();
        assert_eq!(
            headers,
            [("content-type", "application/scim+json"), ("x-amzn-requestid", "r1"), ("location", "http://x/Users/u1")]
        );
        let body = http_body_util::BodyExt::collect(response.into_body());
        let bytes = tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(body).unwrap().to_bytes();
        assert_eq!(&bytes[..], br#"{"id":"u1"}"#);
        let empty = Writer { request_id: "r2", scim_content_type: false }.render(Reply::empty(StatusCode::NO_CONTENT));
        assert_eq!(empty.headers()[hyper::header::CONTENT_TYPE], "application/json");
    }

    #[test]
    fn an_error_reply_carries_the_headers_its_status_calls_for() {
        let writer = Writer { request_id: "r1", scim_content_type: false };
        let rfc = scim_schema::ProfileName::Rfc.profile();
        let reply = writer.error(rfc, &ApiError::MethodNotAllowed("GET, POST"));
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(reply.headers, [(hyper::header::ALLOW, HeaderValue::from_static("GET, POST"))]);
        let reply = writer.error(rfc, &ApiError::Unavailable { retry_after: 2, queue: "q" });
        assert_eq!(reply.headers, [(hyper::header::RETRY_AFTER, HeaderValue::from(2u64))]);
        assert_eq!(reply.into_json()["status"], "503");
    }
}
