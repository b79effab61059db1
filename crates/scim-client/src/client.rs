//! The client: one base URL and token, its capabilities, and the resource calls.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode, header};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use scim_filter::{AttrPath, CompValue, CompareOp, Filter};
use scim_schema::{ResourceKind, resource};

use crate::discovery::Capabilities;
use crate::error::{Error, Result};
use crate::patch::PatchOp;
use crate::retry::RetryPolicy;

/// How the client waits and retries.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// When and how long to retry.
    pub retry: RetryPolicy,
    /// How long one attempt may take, answer included.
    pub timeout: Duration,
    /// How many 429s one request may meet before giving up.
    pub max_throttled: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options { retry: RetryPolicy::default(), timeout: Duration::from_secs(30), max_throttled: 50 }
    }
}

/// Counts of what the client sent, for summaries and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// GET requests sent, retries included.
    pub reads: u64,
    /// POST, PUT, PATCH and DELETE requests sent, retries included.
    pub writes: u64,
    /// Answers of 429 Too Many Requests, each waited out.
    pub throttled: u64,
    /// Attempts repeated after a transient failure (5xx, timeout, broken connection).
    pub retried: u64,
}

#[derive(Debug, Default)]
struct Counters {
    reads: AtomicU64,
    writes: AtomicU64,
    throttled: AtomicU64,
    retried: AtomicU64,
}

/// One page of a list (RFC 7644 section 3.4.2, and RFC 9865 for cursors).
#[derive(Debug, Clone, PartialEq)]
pub struct ListResponse {
    /// `totalResults`.
    pub total_results: usize,
    /// The resources of this page.
    pub resources: Vec<Value>,
    /// `nextCursor`, when cursor paging goes on.
    pub next_cursor: Option<String>,
}

/// Where a page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// Index paging: the 1-based `startIndex`.
    Index(usize),
    /// Cursor paging: the `cursor` (empty for the first page).
    Cursor(String),
}

/// A SCIM service provider, reached at one base URL with one bearer token.
///
/// Cloning is cheap and shares the connection pool and the counters.
#[derive(Debug, Clone)]
pub struct Client {
    http: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
    base: Arc<str>,
    authorization: Arc<str>,
    options: Options,
    capabilities: Capabilities,
    counters: Arc<Counters>,
}

/// What one sent attempt came back with.
struct Reply {
    status: StatusCode,
    retry_after: Option<String>,
    body: Value,
}

/// Why an attempt got no answer.
enum Failure {
    /// The request never left: nothing happened on the provider.
    Unsent(String),
    /// It left, and no answer came: the outcome is unknown.
    Lost(Error),
}

/// `attr eq "value"` as a filter tree.
pub fn eq(attr: AttrPath, value: &str) -> Filter {
    Filter::Compare { path: attr, op: CompareOp::Eq, value: CompValue::Str(value.to_owned()) }
}

/// The filter that finds the resource `body` describes, by `externalId` when it has one, else
/// by `userName` (Users) or `displayName` (Groups).
pub fn identity_filter(kind: ResourceKind, body: &Value) -> Option<Filter> {
    if let Some(external_id) = body["externalId"].as_str().filter(|s| !s.is_empty()) {
        return Some(eq(AttrPath::new("externalId"), external_id));
    }
    let name = match kind {
        ResourceKind::User => "userName",
        _ => "displayName",
    };
    body[name].as_str().map(|value| eq(AttrPath::new(name), value))
}

impl Client {
    /// Connects to the provider at `base_url` (`https://…/scim/v2`; `http` is accepted for
    /// loopback and tests) and reads its `/ServiceProviderConfig`.
    pub async fn connect(base_url: &str, token: &str, options: Options) -> Result<Client> {
        let base = base_url.trim_end_matches('/');
        let uri: hyper::Uri = base.parse().map_err(|e| Error::InvalidUrl(format!("{base}: {e}")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(Error::InvalidUrl(format!("{base}: expected http:// or https:// and a host")));
        }
        let tls = match hyper_rustls::HttpsConnectorBuilder::new().with_native_roots() {
            Ok(builder) => builder,
            // A machine without root certificates (a slim container) can still speak plain
            // http, to loopback or a sidecar; https needs them.
            Err(_) if uri.scheme_str() == Some("http") => {
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| Error::Transport(format!("TLS configuration: {e}")))?
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth();
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config)
            }
            Err(e) => return Err(Error::Transport(format!("no TLS root certificates: {e}"))),
        };
        let https = tls.https_or_http().enable_http1().build();
        let http = HyperClient::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(https);
        let mut client = Client {
            http,
            base: base.into(),
            authorization: format!("Bearer {}", token.trim()).into(),
            options,
            capabilities: Capabilities::from_config(&Value::Null),
            counters: Arc::default(),
        };
        let config = client.send(Method::GET, "/ServiceProviderConfig", None, true).await?;
        client.capabilities = Capabilities::from_config(&config);
        Ok(client)
    }

    /// What the provider supports, as discovered.
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// What the client has sent so far (shared by its clones).
    pub fn stats(&self) -> Stats {
        let c = &self.counters;
        Stats {
            reads: c.reads.load(Ordering::Relaxed),
            writes: c.writes.load(Ordering::Relaxed),
            throttled: c.throttled.load(Ordering::Relaxed),
            retried: c.retried.load(Ordering::Relaxed),
        }
    }

    /// Checks `body` against the target's rules (AWS's on an identity-center-like target)
    /// without sending anything; the error names the one rule broken.
    pub fn validate(&self, kind: ResourceKind, body: &Value) -> Result<()> {
        resource::parse(self.capabilities.profile(), kind, body).map(drop).map_err(Error::Refused)
    }

    /// Reads one resource.
    pub async fn get(&self, kind: ResourceKind, id: &str) -> Result<Value> {
        self.send(Method::GET, &format!("{}/{}", kind.endpoint(), encode(id)), None, true).await
    }

    /// Reads one page of `kind`, filtered by `filter` if given.
    pub async fn list_page(&self, kind: ResourceKind, filter: Option<&Filter>, page: &Page) -> Result<ListResponse> {
        let mut query = format!("count={}", self.capabilities.page_size);
        match page {
            Page::Index(start) => query.push_str(&format!("&startIndex={start}")),
            Page::Cursor(cursor) => query.push_str(&format!("&cursor={}", encode(cursor))),
        }
        if let Some(filter) = filter {
            query.push_str(&format!("&filter={}", encode(&filter.to_string())));
        }
        let body = self.send(Method::GET, &format!("{}?{query}", kind.endpoint()), None, true).await?;
        let resources = match &body["Resources"] {
            Value::Array(items) => items.clone(),
            Value::Null => Vec::new(),
            _ => return Err(Error::InvalidResponse("Resources is not a list".into())),
        };
        let total_results = body["totalResults"].as_u64().and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
        let next_cursor = body["nextCursor"].as_str().filter(|c| !c.is_empty()).map(str::to_owned);
        Ok(ListResponse { total_results, resources, next_cursor })
    }

    /// Reads every resource of `kind` matching `filter`, page by page: by cursor where the
    /// provider offers it (a list that changes meanwhile is then neither skipped nor
    /// repeated), else by index.
    pub async fn list(&self, kind: ResourceKind, filter: Option<&Filter>) -> Result<Vec<Value>> {
        let mut all = Vec::new();
        if self.capabilities.cursor || self.capabilities.identity_center_like {
            let mut cursor = String::new();
            loop {
                let page = self.list_page(kind, filter, &Page::Cursor(cursor)).await?;
                all.extend(page.resources);
                match page.next_cursor {
                    Some(next) => cursor = next,
                    None => return Ok(all),
                }
            }
        }
        let mut start = 1;
        loop {
            let page = self.list_page(kind, filter, &Page::Index(start)).await?;
            let got = page.resources.len();
            all.extend(page.resources);
            if got == 0 || start - 1 + got >= page.total_results {
                return Ok(all);
            }
            start += got;
        }
    }

    /// The first resource of `kind` matching `filter`, if any.
    pub async fn find(&self, kind: ResourceKind, filter: &Filter) -> Result<Option<Value>> {
        let page = self.list_page(kind, Some(filter), &Page::Index(1)).await?;
        Ok(page.resources.into_iter().next())
    }

    /// The ids of a Group's members: from the Group itself where the provider returns members,
    /// else by listing the Users whose `groups.value` is the Group (Identity Center's way).
    pub async fn group_members(&self, group_id: &str) -> Result<Vec<String>> {
        let ids = |items: &[Value], key: &str| -> Vec<String> {
            items.iter().filter_map(|m| m[key].as_str().map(str::to_owned)).collect()
        };
        if self.capabilities.returns_members() {
            let group = self.get(ResourceKind::Group, group_id).await?;
            return Ok(ids(group["members"].as_array().map(Vec::as_slice).unwrap_or_default(), "value"));
        }
        let users = self.list(ResourceKind::User, Some(&eq(AttrPath::with_sub("groups", "value"), group_id))).await?;
        Ok(ids(&users, "id"))
    }

    /// Creates a resource after validating it. A POST whose answer was lost (timeout, broken
    /// connection, 5xx) is never repeated blindly: the resource is looked up by
    /// [`identity_filter`] first, and sent again only if it is not there.
    pub async fn create(&self, kind: ResourceKind, body: &Value) -> Result<Value> {
        self.validate(kind, body)?;
        let lookup = identity_filter(kind, body);
        let mut attempt = 0;
        let mut lost_before = false;
        loop {
            let outcome = self.send(Method::POST, kind.endpoint(), Some(body), false).await;
            let lost = match &outcome {
                Err(Error::Timeout | Error::Transport(_)) => true,
                Err(Error::Status { status, .. }) => *status >= 500 || (*status == 409 && lost_before),
                _ => false,
            };
            let (true, Some(filter)) = (lost, &lookup) else { return outcome };
            if let Some(found) = self.find(kind, filter).await? {
                return Ok(found);
            }
            if attempt >= self.options.retry.max_retries {
                return outcome;
            }
            lost_before = true;
            self.counters.retried.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(self.options.retry.backoff(attempt)).await;
            attempt += 1;
        }
    }

    /// Replaces a resource (PUT) after validating it.
    pub async fn replace(&self, kind: ResourceKind, id: &str, body: &Value) -> Result<Value> {
        self.validate(kind, body)?;
        self.send(Method::PUT, &format!("{}/{}", kind.endpoint(), encode(id)), Some(body), true).await
    }

    /// Sends a PATCH, split into requests of at most the provider's member-change limit.
    /// Every operation the builders make is idempotent (replace, remove, add to a set), so a
    /// PATCH is retried like a PUT.
    pub async fn patch(&self, kind: ResourceKind, id: &str, patch: PatchOp) -> Result<()> {
        let path = format!("{}/{}", kind.endpoint(), encode(id));
        for chunk in patch.chunked(self.capabilities.max_member_changes()) {
            self.send(Method::PATCH, &path, Some(&chunk.to_json()), true).await?;
        }
        Ok(())
    }

    /// Deletes a resource; one already gone counts as deleted.
    pub async fn delete(&self, kind: ResourceKind, id: &str) -> Result<()> {
        match self.send(Method::DELETE, &format!("{}/{}", kind.endpoint(), encode(id)), None, true).await {
            Err(Error::Status { status: 404, .. }) => Ok(()),
            other => other.map(drop),
        }
    }

    /// Sends one request with the retry rules of [`RetryPolicy`]; answers the JSON body
    /// (`Null` when empty) of a 2xx.
    async fn send(&self, method: Method, path: &str, body: Option<&Value>, idempotent: bool) -> Result<Value> {
        let payload = match body {
            Some(body) => Bytes::from(serde_json::to_vec(body).map_err(|e| Error::InvalidResponse(e.to_string()))?),
            None => Bytes::new(),
        };
        let (mut throttled, mut failed) = (0, 0);
        loop {
            let counter = if method == Method::GET { &self.counters.reads } else { &self.counters.writes };
            counter.fetch_add(1, Ordering::Relaxed);
            let error = match self.attempt(&method, path, body.is_some(), payload.clone()).await {
                Ok(reply)
                    if reply.status == StatusCode::TOO_MANY_REQUESTS && throttled < self.options.max_throttled =>
                {
                    self.counters.throttled.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(self.options.retry.after_throttle(reply.retry_after.as_deref(), throttled))
                        .await;
                    throttled += 1;
                    continue;
                }
                Ok(reply) if reply.status.is_success() => return Ok(reply.body),
                Ok(reply) => {
                    let error = status_error(reply.status, &reply.body);
                    if !(reply.status.is_server_error() && idempotent) {
                        return Err(error);
                    }
                    error
                }
                Err(Failure::Unsent(why)) => Error::Transport(why),
                Err(Failure::Lost(error)) if idempotent => error,
                Err(Failure::Lost(error)) => return Err(error),
            };
            if failed >= self.options.retry.max_retries {
                return Err(error);
            }
            self.counters.retried.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(self.options.retry.backoff(failed)).await;
            failed += 1;
        }
    }

    async fn attempt(
        &self,
        method: &Method,
        path: &str,
        has_body: bool,
        payload: Bytes,
    ) -> std::result::Result<Reply, Failure> {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.base))
            .header(header::AUTHORIZATION, &*self.authorization)
            .header(header::ACCEPT, "application/scim+json, application/json");
        if has_body {
            request = request.header(header::CONTENT_TYPE, "application/scim+json");
        }
        let request = request.body(Full::new(payload)).map_err(|e| Failure::Unsent(e.to_string()))?;
        let exchange = async {
            let response = self.http.request(request).await.map_err(|e| {
                if e.is_connect() { Failure::Unsent(chain(&e)) } else { Failure::Lost(Error::Transport(chain(&e))) }
            })?;
            let status = response.status();
            let retry_after =
                response.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| Failure::Lost(Error::Transport(chain(&e))))?
                .to_bytes();
            let body = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes)
                    .map_err(|e| Failure::Lost(Error::InvalidResponse(format!("{status}: body is not JSON ({e})"))))?
            };
            Ok(Reply { status, retry_after, body })
        };
        tokio::time::timeout(self.options.timeout, exchange).await.unwrap_or(Err(Failure::Lost(Error::Timeout)))
    }
}

fn status_error(status: StatusCode, body: &Value) -> Error {
    let detail = body["detail"].as_str().map_or_else(|| body.to_string(), str::to_owned);
    Error::Status { status: status.as_u16(), scim_type: body["scimType"].as_str().map(str::to_owned), detail }
}

/// An error and its causes, `outer: inner: innermost`, since hyper's own text hides the cause.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(&format!(": {inner}"));
        cause = inner.source();
    }
    text
}

/// Percent-encodes a path segment or query value (RFC 3986 unreserved characters stay).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(byte)),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identity_prefers_external_id() {
        let user = json!({"userName": "a@x", "externalId": "e\"1"});
        assert_eq!(identity_filter(ResourceKind::User, &user).unwrap().to_string(), r#"externalId eq "e\"1""#);
        let group = json!({"displayName": "Ops"});
        assert_eq!(identity_filter(ResourceKind::Group, &group).unwrap().to_string(), r#"displayName eq "Ops""#);
        assert!(identity_filter(ResourceKind::User, &json!({})).is_none());
    }

    #[test]
    fn encoding_keeps_only_unreserved_characters() {
        assert_eq!(encode(r#"userName eq "a+b@x""#), "userName%20eq%20%22a%2Bb%40x%22");
        assert_eq!(encode("é"), "%C3%A9");
    }

    #[test]
    fn error_bodies_give_their_detail() {
        let body = json!({"detail": "Duplicate", "scimType": "uniqueness"});
        let error = status_error(StatusCode::CONFLICT, &body);
        assert_eq!(error.to_string(), "409 (uniqueness): Duplicate");
        assert_eq!(status_error(StatusCode::BAD_GATEWAY, &Value::Null).status(), Some(502));
    }
}
