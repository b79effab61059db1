//! Counters of what the server did, and their Prometheus text at `/metrics` on the separate
//! `--metrics-listen` address.
//!
//! Labels are only ever route templates (`/{tenant}/scim/v2/Users/{id}`), a closed set of
//! methods, status codes and fixed reasons: never a raw path and never a tenant id, so a client
//! cannot grow the series without bound.
//!
//! The text format is written by hand: it is a few stable lines per series, and the crates that
//! write it for you bring a registry, macros and their own HTTP stack for what is here a
//! hundred lines over one mutex and a few atomics.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::HeaderValue;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use scim_store::{BATCH_SIZE_BOUNDS, Store};
use tokio::net::TcpListener;

use crate::http::{Body, Target};

/// Upper bounds of the request-duration histogram, in seconds.
const DURATION_BOUNDS: [f64; 13] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Why a connection was closed by the edge rather than by its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// A request head took longer than the header timeout.
    HeaderTimeout,
    /// No request came within the idle timeout.
    IdleTimeout,
    /// The TLS handshake failed or took too long.
    Handshake,
}

/// Every counter the server exports.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<Requests>,
    open_connections: AtomicU64,
    refused_connections: AtomicU64,
    closed: [AtomicU64; 3],
    auth_failures: Mutex<BTreeMap<&'static str, u64>>,
    throttled: AtomicU64,
}

/// Request counts and durations, by route (a fixed array: no label is hashed per request).
#[derive(Debug, Default)]
struct Requests {
    routes: [RouteCounts; Route::COUNT],
}

/// One route's requests: counts by method and status (a few of each; looked up in turn), and
/// their durations.
#[derive(Debug, Default)]
struct RouteCounts {
    counts: Vec<(&'static str, u16, u64)>,
    durations: Histogram,
}

/// One route's duration histogram: counts per bucket (not cumulative), their sum and count.
#[derive(Debug, Default)]
struct Histogram {
    buckets: [u64; DURATION_BOUNDS.len()],
    sum: f64,
    count: u64,
}

impl Metrics {
    /// Counts one answered request.
    pub fn request(&self, route: Route, method: &Method, status: u16, took: Duration) {
        let method = method_label(method);
        let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(counts) = requests.routes.get_mut(route as usize) else { return };
        match counts.counts.iter_mut().find(|(m, s, _)| *m == method && *s == status) {
            Some((_, _, n)) => *n += 1,
            None => counts.counts.push((method, status, 1)),
        }
        let histogram = &mut counts.durations;
        let seconds = took.as_secs_f64();
        if let Some(i) = DURATION_BOUNDS.iter().position(|bound| seconds <= *bound) {
            histogram.buckets[i] += 1;
        }
        histogram.sum += seconds;
        histogram.count += 1;
    }

    /// Counts a refused credential; `reason` is one of a fixed few, never client text.
    pub fn auth_failure(&self, reason: &'static str) {
        *self.auth_failures.lock().unwrap_or_else(PoisonError::into_inner).entry(reason).or_default() += 1;
    }

    /// Counts a request refused by a tenant's rate limit.
    pub fn throttled(&self) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a connection opened; the returned guard counts it closed when dropped.
    pub fn opened(self: &Arc<Self>) -> OpenConnection {
        self.open_connections.fetch_add(1, Ordering::Relaxed);
        OpenConnection(Arc::clone(self))
    }

    /// Connections open now.
    pub fn open_connections(&self) -> u64 {
        self.open_connections.load(Ordering::Relaxed)
    }

    /// Counts a connection refused because the cap was reached.
    pub fn refused(&self) {
        self.refused_connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a connection the edge closed, and why.
    pub fn closed(&self, why: Closed) {
        self.closed[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of every counter, and of `store`'s writer.
    pub fn render(&self, store: &Store) -> String {
        let mut out = String::with_capacity(4096);
        let (counts, durations) = {
            let requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
            let mut counts = BTreeMap::new();
            let mut durations = BTreeMap::new();
            for (route, seen) in Route::ALL.iter().zip(&requests.routes) {
                for &(method, status, n) in &seen.counts {
                    counts.insert((route.template(), method, status), n);
                }
                let h = &seen.durations;
                if h.count > 0 {
                    durations.insert(route.template(), (h.buckets, h.sum, h.count));
                }
            }
            (counts, durations)
        };
        header(
            &mut out,
            "scim_http_requests_total",
            "counter",
            "Requests answered, by route template, method and status.",
        );
        for ((route, method, status), n) in counts {
            let _ = writeln!(
                out,
                "scim_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
            );
        }
        header(
            &mut out,
            "scim_http_request_duration_seconds",
            "histogram",
            "Time from request head to response, by route template.",
        );
        for (route, (buckets, sum, count)) in durations {
            let mut running = 0;
            for (bound, n) in DURATION_BOUNDS.iter().zip(buckets) {
                running += n;
                let _ = writeln!(
                    out,
                    "scim_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {running}"
                );
            }
            let _ = writeln!(out, "scim_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}");
            let _ = writeln!(out, "scim_http_request_duration_seconds_sum{{route=\"{route}\"}} {sum}");
            let _ = writeln!(out, "scim_http_request_duration_seconds_count{{route=\"{route}\"}} {count}");
        }
        header(&mut out, "scim_open_connections", "gauge", "Client connections open now.");
        let _ = writeln!(out, "scim_open_connections {}", self.open_connections());
        header(
            &mut out,
            "scim_refused_connections_total",
            "counter",
            "Connections closed at once: the cap was reached.",
        );
        let _ = writeln!(out, "scim_refused_connections_total {}", self.refused_connections.load(Ordering::Relaxed));
        header(&mut out, "scim_closed_connections_total", "counter", "Connections the server closed, by reason.");
        for (why, label) in [
            (Closed::HeaderTimeout, "header_timeout"),
            (Closed::IdleTimeout, "idle_timeout"),
            (Closed::Handshake, "tls_handshake"),
        ] {
            let n = self.closed[why as usize].load(Ordering::Relaxed);
            let _ = writeln!(out, "scim_closed_connections_total{{reason=\"{label}\"}} {n}");
        }
        header(&mut out, "scim_auth_failures_total", "counter", "Refused credentials, by reason.");
        for (reason, n) in self.auth_failures.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            let _ = writeln!(out, "scim_auth_failures_total{{reason=\"{reason}\"}} {n}");
        }
        header(&mut out, "scim_throttled_requests_total", "counter", "Requests refused by a tenant's rate limit.");
        let _ = writeln!(out, "scim_throttled_requests_total {}", self.throttled.load(Ordering::Relaxed));
        let stats = store.commit_stats();
        header(&mut out, "scim_store_write_queue_depth", "gauge", "Writes waiting for the store's writer.");
        let _ = writeln!(out, "scim_store_write_queue_depth {}", stats.queue_depth);
        header(&mut out, "scim_store_commit_batch_size", "histogram", "Writes per group commit.");
        for (bound, n) in BATCH_SIZE_BOUNDS.iter().zip(stats.batches_at_most) {
            let _ = writeln!(out, "scim_store_commit_batch_size_bucket{{le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "scim_store_commit_batch_size_bucket{{le=\"+Inf\"}} {}", stats.batches);
        let _ = writeln!(out, "scim_store_commit_batch_size_sum {}", stats.jobs);
        let _ = writeln!(out, "scim_store_commit_batch_size_count {}", stats.batches);
        out
    }
}

/// A connection counted open until dropped.
#[derive(Debug)]
pub struct OpenConnection(Arc<Metrics>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// The method as a label: the standard ones by name, anything else as `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// A request's route, labelled by its template: its path with the tenant and resource ids
/// replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Root,
    Healthz,
    Readyz,
    Admin,
    Console,
    Base,
    Users,
    UsersSearch,
    User,
    Groups,
    GroupsSearch,
    Group,
    Search,
    Bulk,
    Me,
    ServiceProviderConfig,
    Schemas,
    Schema,
    ResourceTypes,
    ResourceType,
    Other,
}

impl Route {
    const COUNT: usize = Route::ALL.len();
    /// Every route, each at its own index (`route as usize`).
    const ALL: [Route; 21] = [
        Route::Root,
        Route::Healthz,
        Route::Readyz,
        Route::Admin,
        Route::Console,
        Route::Base,
        Route::Users,
        Route::UsersSearch,
        Route::User,
        Route::Groups,
        Route::GroupsSearch,
        Route::Group,
        Route::Search,
        Route::Bulk,
        Route::Me,
        Route::ServiceProviderConfig,
        Route::Schemas,
        Route::Schema,
        Route::ResourceTypes,
        Route::ResourceType,
        Route::Other,
    ];

    /// The label: the path's template.
    pub fn template(self) -> &'static str {
        match self {
            Route::Root => "/",
            Route::Healthz => "/healthz",
            Route::Readyz => "/readyz",
            Route::Admin => "/admin/v1",
            Route::Console => "/console",
            Route::Base => "/{tenant}/scim/v2",
            Route::Users => "/{tenant}/scim/v2/Users",
            Route::UsersSearch => "/{tenant}/scim/v2/Users/.search",
            Route::User => "/{tenant}/scim/v2/Users/{id}",
            Route::Groups => "/{tenant}/scim/v2/Groups",
            Route::GroupsSearch => "/{tenant}/scim/v2/Groups/.search",
            Route::Group => "/{tenant}/scim/v2/Groups/{id}",
            Route::Search => "/{tenant}/scim/v2/.search",
            Route::Bulk => "/{tenant}/scim/v2/Bulk",
            Route::Me => "/{tenant}/scim/v2/Me",
            Route::ServiceProviderConfig => "/{tenant}/scim/v2/ServiceProviderConfig",
            Route::Schemas => "/{tenant}/scim/v2/Schemas",
            Route::Schema => "/{tenant}/scim/v2/Schemas/{id}",
            Route::ResourceTypes => "/{tenant}/scim/v2/ResourceTypes",
            Route::ResourceType => "/{tenant}/scim/v2/ResourceTypes/{id}",
            Route::Other => "other",
        }
    }
}

/// The route of a request.
pub fn route(target: &Target) -> Route {
    // Seven segments tell every template apart: the longest exact one has six, and a seventh
    // leaves only the templates that end in `..`.
    let mut segments = [""; 7];
    let n = target.segments.len().min(segments.len());
    for (slot, segment) in segments.iter_mut().zip(&target.segments) {
        *slot = segment.as_str();
    }
    match &segments[..n] {
        [] => Route::Root,
        ["healthz"] => Route::Healthz,
        ["readyz"] => Route::Readyz,
        ["admin", "v1", ..] => Route::Admin,
        ["console", ..] => Route::Console,
        [_, "scim", "v2", rest @ ..] => match rest {
            [] => Route::Base,
            ["Users"] => Route::Users,
            ["Users", ".search"] => Route::UsersSearch,
            ["Users", _] => Route::User,
            ["Groups"] => Route::Groups,
            ["Groups", ".search"] => Route::GroupsSearch,
            ["Groups", _] => Route::Group,
            [".search"] => Route::Search,
            ["Bulk"] => Route::Bulk,
            ["Me", ..] => Route::Me,
            ["ServiceProviderConfig"] => Route::ServiceProviderConfig,
            ["Schemas"] => Route::Schemas,
            ["Schemas", _] => Route::Schema,
            ["ResourceTypes"] => Route::ResourceTypes,
            ["ResourceTypes", _] => Route::ResourceType,
            _ => Route::Other,
        },
        _ => Route::Other,
    }
}

/// Serves `GET /metrics` on `listener` until the task is aborted.
///
/// Unauthenticated, like every Prometheus target: bind it to an address only the scraper
/// reaches. Its connections get a header timeout and no more.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, store: Arc<Store>, header_timeout: Duration) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (metrics, store) = (Arc::clone(&metrics), Arc::clone(&store));
        let service = service_fn(move |request: Request<Incoming>| {
            let response = exposition(&request, &metrics, &store);
            async move { Ok::<_, Infallible>(response) }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "metrics connection ended with an error");
            }
        });
    }
}

/// The answer of the metrics listener to `request`.
fn exposition(request: &Request<Incoming>, metrics: &Metrics, store: &Store) -> Response<Body> {
    let (status, content_type, body) = match (request.method(), request.uri().path()) {
        (&Method::GET, "/metrics") => {
            (StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", metrics.render(store))
        }
        (_, "/metrics") => (StatusCode::METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", "GET only\n".into()),
        _ => (StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "metrics are at /metrics\n".into()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_templates_without_ids() {
        let check =
            |path: &str, expected: &str| assert_eq!(route(&Target::parse(path, None)).template(), expected, "{path}");
        check("/t-123/scim/v2/Users", "/{tenant}/scim/v2/Users");
        check("/t-123/scim/v2/Users/abc", "/{tenant}/scim/v2/Users/{id}");
        check("/t-123/scim/v2/Groups/abc", "/{tenant}/scim/v2/Groups/{id}");
        check("/t-123/scim/v2/Schemas/urn:x", "/{tenant}/scim/v2/Schemas/{id}");
        check("/admin/v1/tenants/t-123", "/admin/v1");
        check("/healthz", "/healthz");
        check("/t-123/scim/v2/Users/abc/extra", "other");
        check("/anything/at/all", "other");
        // Past the seventh segment only the open-ended templates still match.
        check("/t-123/scim/v2/Me/a/b/c/d/e", "/{tenant}/scim/v2/Me");
        check("/admin/v1/a/b/c/d/e/f/g", "/admin/v1");
        check("/console/a/b/c/d/e/f/g", "/console");
        check("/t-123/scim/v2/Users/abc/d/e/f", "other");
        check("/", "/");
    }

    #[test]
    fn every_route_is_at_its_own_index() {
        for (i, route) in Route::ALL.iter().enumerate() {
            assert_eq!(*route as usize, i, "{route:?}");
        }
    }

    #[test]
    fn requests_render_as_counters_and_cumulative_histograms() {
        let metrics = Metrics::default();
        let route = Route::Users;
        metrics.request(route, &Method::GET, 200, Duration::from_millis(3));
        metrics.request(route, &Method::GET, 200, Duration::from_millis(30));
        metrics.request(route, &Method::from_bytes(b"BREW").unwrap(), 404, Duration::from_secs(60));
        let requests = metrics.requests.lock().unwrap();
        let seen = &requests.routes[route as usize];
        assert_eq!(seen.counts, [("GET", 200, 2), ("other", 404, 1)]);
        let h = &seen.durations;
        assert_eq!(h.count, 3);
        // 3 ms in the 5 ms bucket, 30 ms in the 50 ms one, 60 s only under +Inf.
        assert_eq!(h.buckets.iter().sum::<u64>(), 2);
        assert_eq!(h.buckets[2], 1);
        assert_eq!(h.buckets[5], 1);
    }
}
