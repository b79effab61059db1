//! The typed reply every handler returns: a status, the headers the handler chose (`ETag`,
//! `Location`, `Allow`, ...), and a JSON body or none.
//!
//! A reply stays data until the router renders it to bytes, once, with `http::Writer::render`,
//! which adds what belongs to the request rather than the handler (the request id, the content
//! type of the tenant's profile). So `/Bulk` reads each operation's reply as it is, never parsing
//! a body back.

use hyper::StatusCode;
use hyper::body::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use serde_json::Value;

/// A handler's answer, not yet rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// Headers besides the content type and request id, in the order they are written.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body.
    pub body: ReplyBody,
}

/// The body of a [`Reply`].
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyBody {
    /// A JSON document.
    Json(Value),
    /// A JSON document already written out: a resource rendered straight from its stored text
    /// (`scim_schema::render::render_text`).
    Written(Bytes),
    /// No body (still typed as JSON, as AWS does).
    Empty,
}

impl Reply {
    /// A reply with `status` and a JSON body.
    pub fn json(status: StatusCode, value: Value) -> Reply {
        Reply { status, headers: Vec::new(), body: ReplyBody::Json(value) }
    }

    /// A reply with `status` and no body.
    pub fn empty(status: StatusCode) -> Reply {
        Reply { status, headers: Vec::new(), body: ReplyBody::Empty }
    }

    /// The reply with header `name` set to `value` (replacing an earlier value of `name`).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Reply {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value));
        self
    }

    /// A reply with `status` and a JSON body already written out.
    pub fn written(status: StatusCode, json: impl Into<Bytes>) -> Reply {
        Reply { status, headers: Vec::new(), body: ReplyBody::Written(json.into()) }
    }

    /// The JSON body taken out (`null` when there is none).
    pub fn into_json(self) -> Value {
        match self.body {
            ReplyBody::Json(value) => value,
            ReplyBody::Written(json) => serde_json::from_slice(&json).unwrap_or(Value::Null),
            ReplyBody::Empty => Value::Null,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_header_set_twice_keeps_the_last_value_once() {
        let reply = Reply::json(StatusCode::CREATED, json!({"id": "1"}))
            .with_header(hyper::header::ETAG, HeaderValue::from_static("W/\"1\""))
            .with_header(hyper::header::LOCATION, HeaderValue::from_static("/Users/1"))
            .with_header(hyper::header::ETAG, HeaderValue::from_static("W/\"2\""));
        let names: Vec<(&str, &str)> = reply.headers.iter().map(|(n, v)| (n.as_str(), v.to_str().unwrap())).collect();
        assert_eq!(names, [("location", "/Users/1"), ("etag", "W/\"2\"")]);
        assert_eq!(reply.into_json(), json!({"id": "1"}));
        assert_eq!(Reply::empty(StatusCode::NO_CONTENT).into_json(), Value::Null);
        assert_eq!(Reply::written(StatusCode::OK, b"{\"id\":\"1\"}".to_vec()).into_json(), json!({"id": "1"}));
    }
}
