//! The application: shared state, the per-request pipeline (request id, tenant, token, body),
//! and the router.
//!
//! Tenants and active tokens live in memory and are reloaded whenever the database changes,
//! whoever changed it: the server polls SQLite's `data_version`, so a token deleted by the CLI
//! in another process stops working within a second without a disk read per request. The same
//! poll reads the key file, so a key rotated by `scim-server key rotate` signs and verifies
//! within a second too.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex, Once, OnceLock, RwLock};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use scim_auth::{ActiveToken, Verifier};
use scim_schema::{Profile, ProfileName, ResourceKind, discovery};
use scim_store::{RateLimit, Store, TenantKey};
use serde_json::Value;

use crate::error::ApiError;
use crate::http::{self, Body, Target};
use crate::scim;

/// What the server knows of a tenant without asking the database.
#[derive(Debug, Clone, Copy)]
pub struct TenantEntry {
    /// The store's key for the tenant.
    pub key: TenantKey,
    /// The tenant's rules.
    pub profile: &'static Profile,
    /// The tenant's request rate limit, if it has one.
    pub rate_limit: Option<RateLimit>,
}

/// State shared by every request.
#[derive(Debug)]
pub struct State {
    /// The database.
    pub store: Arc<Store>,
    /// Token verification against the active set.
    pub verifier: Verifier,
    /// Tenants by id.
    pub tenants: RwLock<HashMap<String, TenantEntry>>,
    /// The URL clients reach the server at, without a trailing `/`.
    pub public_url: String,
    /// The token buckets of rate-limited tenants.
    pub limiter: crate::ratelimit::Limiter,
    /// The admin secret given at start-up (`--admin-token-file`, `SCIM_ADMIN_TOKEN`), kept in
    /// memory only.
    pub admin_secret: Option<String>,
    /// The key of the paging cursors.
    pub cursors: crate::cursor::CursorKey,
    /// Requests refused for want of a valid token, counted until the next audit flush.
    pub refusals: crate::upkeep::Refusals,
    /// What the server has done, for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Set once shutdown begins: `/readyz` then answers `503`.
    pub draining: AtomicBool,
    /// The key file, and the text of it the verifier's keys were last made from.
    key_file: (PathBuf, Mutex<String>),
    /// Access keys by id, for the AWS APIs' SigV4 verification.
    pub access_keys: RwLock<HashMap<String, crate::aws::KeyEntry>>,
    /// The regions the AWS APIs answer in (`--aws-regions`); the first is the one shown.
    pub aws_regions: Vec<String>,
}

impl State {
    /// Opens the state over `store`, loading tenants and tokens.
    ///
    /// `keyring` was read from `key_file`, which [`State::reload_keys`] reads again for rotations.
    pub fn new(
        store: Arc<Store>,
        public_url: String,
        admin_secret: Option<String>,
        key_file: PathBuf,
        keyring: &scim_auth::Keyring,
    ) -> Result<State, scim_store::Error> {
        let state = State {
            // Derived from the key signing at start-up: cursors outlive a rotation until the
            // next restart, when a client restarts its listing (invalidCursor, as AWS expires them).
            cursors: crate::cursor::CursorKey::derive(keyring.current().secret()),
            store,
            verifier: Verifier::new(scim_auth::Signer::from_keyring(keyring)),
            tenants: RwLock::new(HashMap::new()),
            public_url: public_url.trim_end_matches('/').to_owned(),
            limiter: crate::ratelimit::Limiter::default(),
            admin_secret,
            refusals: crate::upkeep::Refusals::default(),
            metrics: Arc::default(),
            draining: AtomicBool::new(false),
            key_file: (key_file, Mutex::new(keyring.render())),
            access_keys: RwLock::new(HashMap::new()),
            aws_regions: vec![crate::aws::DEFAULT_REGION.to_owned()],
        };
        state.reload()?;
        Ok(state)
    }

    /// Reads the key file again and, if it changed (a rotation), verifies and signs with its keys
    /// from now on. A file that is missing or unreadable keeps the keys in use, loudly.
    pub fn reload_keys(&self) {
        let (path, seen) = &self.key_file;
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot read the key file; keeping the keys in use");
                return;
            }
        };
        let mut seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if *seen == text {
            return;
        }
        match scim_auth::Keyring::parse(&text) {
            Ok(keyring) => {
                self.verifier.set_signer(scim_auth::Signer::from_keyring(&keyring));
                tracing::info!(kid = %keyring.current().kid, keys = keyring.keys().len(), "loaded rotated signing keys");
                *seen = text;
            }
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "the key file is invalid; keeping the keys in use")
            }
        }
    }

    /// Reloads tenants and active tokens from the database.
    pub fn reload(&self) -> Result<(), scim_store::Error> {
        let tenants: HashMap<String, TenantEntry> = self
            .store
            .tenants()?
            .into_iter()
            .filter_map(|t| {
                let profile = t.profile.parse::<ProfileName>().ok()?.profile();
                Some((t.id, TenantEntry { key: t.key, profile, rate_limit: t.rate_limit }))
            })
            .collect();
        let tokens = self.store.all_tokens()?.into_iter().map(|t| ActiveToken {
            id: t.id,
            tenant_id: t.tenant_id,
            expires: t.expires,
        });
        self.verifier.set_active(tokens);
        self.verifier.set_active_admin(self.store.admin_tokens()?.into_iter().map(|t| (t.id, t.expires)));
        let limited: std::collections::HashSet<TenantKey> =
            tenants.values().filter(|t| t.rate_limit.is_some()).map(|t| t.key).collect();
        self.limiter.retain(|key| limited.contains(&key));
        *self.tenants.write().unwrap_or_else(|p| p.into_inner()) = tenants;
        let keys = self
            .store
            .all_access_keys()?
            .into_iter()
            .map(|k| (k.id, crate::aws::KeyEntry { tenant_id: k.tenant_id, secret: k.secret }))
            .collect();
        *self.access_keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
        Ok(())
    }

    /// The tenant with public id `id`, if any.
    pub fn tenant(&self, id: &str) -> Option<TenantEntry> {
        self.tenants.read().unwrap_or_else(|p| p.into_inner()).get(id).copied()
    }
}

/// Polls the database for changes made by anyone and reloads tenants and tokens, and the key
/// file for rotations; runs forever.
pub async fn watch(state: Arc<State>) {
    let mut last = None;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        let polled = Arc::clone(&state);
        let outcome = tokio::task::spawn_blocking(move || {
            polled.reload_keys();
            let version = polled.store.data_version()?;
            if Some(version) != last {
                polled.reload()?;
            }
            Ok::<_, scim_store::Error>(version)
        })
        .await;
        match outcome {
            Ok(Ok(version)) => last = Some(version),
            Ok(Err(e)) => tracing::error!(error = %e, "reloading tenants and tokens failed"),
            Err(e) => tracing::error!(error = %e, "reload task failed"),
        }
    }
}

/// Runs blocking store work (a write, or anything else) off the async threads.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    Lane::get(&WRITES, "store-write", WRITE_THREADS).run(work).await
}

/// Queues store work nobody waits for (an audit row of a refused request) on the write lane.
///
/// Returns `false`, dropping the work, when the lane's queue is full: under overload such rows
/// are the first thing to give up, before any request is refused.
pub fn background(work: impl FnOnce() + Send + 'static) -> bool {
    Lane::get(&WRITES, "store-write", WRITE_THREADS).push(Box::new(work), QUEUE_LIMIT / 2).is_ok()
}

/// Runs blocking store work that only reads off the async threads.
///
/// Reads get their own few threads, as many as the store has reader connections, so they never
/// wait for a connection and, under load, a thread takes the next read without sleeping.
pub async fn blocking_read<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    Lane::get(&READS, "store-read", scim_store::Options::default().readers).run(work).await
}

static READS: OnceLock<Lane> = OnceLock::new();
static WRITES: OnceLock<Lane> = OnceLock::new();

/// Threads for writes: a write holds its thread until its group commit, and the more writes
/// wait on one commit the more share its fsync.
const WRITE_THREADS: usize = 64;

/// The most jobs a lane holds waiting for a thread; one more is refused with 503.
///
/// Each waiting job holds its request (body included, up to 1 MiB), so the queue's length bounds
/// the memory a burst can pin; 1,024 waiting writes are several group commits' worth of work.
const QUEUE_LIMIT: usize = 1024;

/// A fixed set of threads fed by one queue, where blocking store work runs.
///
/// Not tokio's blocking pool: that pool starts a thread for every task that finds none idle and
/// parks each thread the moment its task is done, so under load every request paid two thread
/// wake-ups and the threads outnumbered the two cores tenfold (measured: a read by id cost 79 µs
/// of server CPU, 35 µs on the read lane). Here a thread that finishes a job takes the next
/// one without sleeping, and a sleeping thread is woken only when one is needed.
#[derive(Debug)]
struct Lane {
    name: &'static str,
    queue: Mutex<Queue>,
    ready: Condvar,
    start: Once,
}

/// A lane's queued jobs and threads.
#[derive(Default)]
struct Queue {
    jobs: VecDeque<Box<dyn FnOnce() + Send>>,
    sleeping: usize,
    started: usize,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").field("jobs", &self.jobs.len()).field("sleeping", &self.sleeping).finish()
    }
}

impl Lane {
    /// The lane in `cell`, its `threads` threads started on first use.
    fn get(cell: &'static OnceLock<Lane>, name: &'static str, threads: usize) -> &'static Lane {
        let lane =
            cell.get_or_init(|| Lane { name, queue: Mutex::default(), ready: Condvar::new(), start: Once::new() });
        lane.start.call_once(|| {
            for i in 0..threads.max(1) {
                match std::thread::Builder::new().name(format!("{name}-{i}")).spawn(move || lane.serve()) {
                    Ok(_) => lane.lock().started += 1,
                    Err(e) => tracing::error!(error = %e, "could not start a store thread"),
                }
            }
        });
        lane
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `work` on the lane and waits, without blocking, for its outcome.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let (done, outcome) = tokio::sync::oneshot::channel();
        let job = Box::new(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
                .unwrap_or_else(|_| Err(ApiError::Internal("a store task panicked".into())));
            // The request may have been abandoned (its client went away); nobody waits then.
            let _ = done.send(outcome);
        });
        self.push(job, QUEUE_LIMIT).map_err(|()| ApiError::Unavailable { retry_after: 1, queue: self.name })?;
        outcome.await.map_err(|_| ApiError::Internal("a store task was lost".into()))?
    }

    /// Queues `job`, waking a thread only if one sleeps; refuses it when `limit` jobs wait.
    fn push(&self, job: Box<dyn FnOnce() + Send>, limit: usize) -> Result<(), ()> {
        let mut queue = self.lock();
        if queue.started == 0 {
            // No thread could be started: tokio's pool rather than no answer.
            drop(queue);
            drop(tokio::task::spawn_blocking(job));
            return Ok(());
        }
        if queue.jobs.len() >= limit {
            return Err(());
        }
        queue.jobs.push_back(job);
        let wake = queue.sleeping > 0;
        drop(queue);
        if wake {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// A thread's loop: the next job, or sleep until there is one.
    fn serve(&self) {
        loop {
            let mut queue = self.lock();
            let job = loop {
                if let Some(job) = queue.jobs.pop_front() {
                    break job;
                }
                queue.sleeping += 1;
                queue = self.ready.wait(queue).unwrap_or_else(std::sync::PoisonError::into_inner);
                queue.sleeping -= 1;
            };
            drop(queue);
            job();
        }
    }
}

/// One request as the handlers see it.
#[derive(Debug)]
pub struct Ctx {
    /// Shared state.
    pub state: Arc<State>,
    /// The tenant.
    pub tenant: TenantEntry,
    /// The request id.
    pub request_id: String,
    /// The decoded target.
    pub target: Target,
    /// The SCIM base URL of the tenant.
    pub base: String,
    /// The `If-Match` header, if any.
    pub if_match: Option<String>,
    /// The `If-None-Match` header, if any.
    pub if_none_match: Option<String>,
}

impl Ctx {
    /// The tenant's profile.
    pub fn profile(&self) -> &'static Profile {
        self.tenant.profile
    }

    /// The tenant's public id, the first segment of its endpoint's path.
    pub fn tenant_id(&self) -> &str {
        self.target.segments.first().map(String::as_str).unwrap_or_default()
    }

    /// The writer of this request's responses.
    pub fn writer(&self) -> http::Writer<'_> {
        http::Writer { request_id: &self.request_id, scim_content_type: self.profile().scim_content_type }
    }
}

/// The hyper service: never fails, always answers JSON.
///
/// `head` is what the edge saw of the request's head that hyper does not show.
pub async fn serve(
    state: Arc<State>,
    request: Request<Incoming>,
    head: crate::edge::Head,
) -> Result<Response<Body>, Infallible> {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let method = request.method().clone();
    let target = Target::parse(request.uri().path(), request.uri().query());
    let route = crate::metrics::route(&target);
    // The path and tenant are the client's words: bounded and escaped before they reach a log.
    let path = http::loggable(&target.path());
    let (response, tenant, reason) = pipeline(Arc::clone(&state), request, head, target, &request_id).await;
    let tenant = http::loggable(&tenant);
    let status = response.status().as_u16();
    let took = started.elapsed();
    state.metrics.request(route, &method, status, took);
    match response.status() {
        StatusCode::TOO_MANY_REQUESTS => state.metrics.throttled(),
        // Tenant credentials are counted where they are checked, by reason; admin ones here.
        StatusCode::UNAUTHORIZED if route == "/admin/v1" => state.metrics.auth_failure("admin"),
        _ => {}
    }
    let latency_us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
    match reason {
        Some(reason) => {
            let reason = http::loggable(&reason);
            tracing::info!(%method, %path, tenant = %tenant, status, latency_us, request_id = %request_id, reason = %reason, "request")
        }
        None => {
            tracing::info!(%method, %path, tenant = %tenant, status, latency_us, request_id = %request_id, "request")
        }
    }
    Ok(response)
}

/// The request's response, the tenant it named, and the specific reason of a failure.
async fn pipeline(
    state: Arc<State>,
    request: Request<Incoming>,
    head: crate::edge::Head,
    target: Target,
    request_id: &str,
) -> (Response<Body>, String, Option<String>) {
    let default_profile = ProfileName::IdentityCenter.profile();
    let fail = |profile: &Profile, error: ApiError| {
        let writer = http::Writer { request_id, scim_content_type: profile.scim_content_type };
        (writer.error(profile, &error), Some(error.reason()))
    };
    // Requests that two readers could take two ways are taken no way, before anything else.
    let ambiguity = if head.length_and_coding {
        Some("Content-Length together with Transfer-Encoding")
    } else if http::has_duplicate_authorization(request.headers()) {
        Some("more than one Authorization header")
    } else {
        None
    };
    if let Some(why) = ambiguity {
        let (response, reason) = fail(default_profile, ApiError::Ambiguous(why));
        return (response, String::new(), reason);
    }
    let probe = match target.segments.as_slice() {
        [only] if only == "healthz" => Some(false),
        [only] if only == "readyz" => Some(true),
        _ => None,
    };
    if let Some(ready) = probe {
        let writer = http::Writer { request_id, scim_content_type: false };
        return match crate::health::check(&state, request.method(), ready, writer).await {
            Ok(response) => (response, String::new(), None),
            Err(error) => {
                let (response, reason) = fail(default_profile, error);
                (response, String::new(), reason)
            }
        };
    }
    // The administrator's side, never a tenant's: its own credential, its own error bodies.
    match target.segments.first().map(String::as_str) {
        Some("admin") if target.segments.get(1).is_some_and(|v| v == "v1") => {
            let (response, reason) = crate::admin::handle(state, request, &target, request_id).await;
            return (response, String::new(), reason);
        }
        Some("console") => return (crate::console::serve(request.method(), &target, request_id), String::new(), None),
        None if request.headers().contains_key(crate::aws::TARGET_HEADER) => {
            return crate::aws::handle(state, request, request_id).await;
        }
        _ => {}
    }
    // `/{tenant}/scim/v2/...`
    let tenant_id = match target.segments.as_slice() {
        [tenant, scim, v2, ..] if scim == "scim" && v2 == "v2" => tenant.clone(),
        _ => {
            let (response, reason) = fail(default_profile, ApiError::NoEndpoint);
            return (response, String::new(), reason);
        }
    };
    let Some(tenant) = state.tenant(&tenant_id) else {
        state.metrics.auth_failure("unknown_tenant");
        let (response, reason) = fail(default_profile, ApiError::Unauthorized("unknown tenant".into()));
        return (response, tenant_id, reason);
    };
    let now = scim_schema::time::now_millis() / 1000;
    let verdict = match http::bearer(request.headers()) {
        None => Err(("no_token", "no bearer token".to_owned())),
        Some(token) => {
            state.verifier.authenticate(token, &tenant_id, now).map_err(|e| (auth_failure_label(&e), e.to_string()))
        }
    };
    if let Err((label, e)) = verdict {
        state.metrics.auth_failure(label);
        let (response, reason) = fail(tenant.profile, ApiError::Unauthorized(e));
        // Counted, not recorded one by one: the caller proved nothing, and must not grow the log.
        if state.refusals.note(tenant.key, request_id, reason.as_deref().unwrap_or_default()) {
            let action = scim::action(request.method(), &target);
            audit_rejection(
                &state,
                tenant,
                request_id,
                action,
                target.segments.get(4).cloned(),
                &response,
                reason.as_deref(),
            );
        }
        return (response, tenant_id, reason);
    }
    if let Err(error) = state.limiter.admit(tenant.key, tenant.rate_limit) {
        // Logged, not audited: a throttled client may send far more than the database should record.
        let (response, reason) = fail(tenant.profile, error);
        return (response, tenant_id, reason);
    }
    let base = format!("{}/{}/scim/v2", state.public_url, tenant_id);
    let method = request.method().clone();
    // Kept even when not ASCII, so that a malformed precondition is refused, never ignored.
    let header = |name: hyper::header::HeaderName| {
        request.headers().get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let (if_match, if_none_match) = (header(hyper::header::IF_MATCH), header(hyper::header::IF_NONE_MATCH));
    let ctx = Ctx {
        if_match,
        if_none_match,
        state: Arc::clone(&state),
        tenant,
        request_id: request_id.to_owned(),
        target,
        base,
    };
    let outcome = match read_body(request).await {
        Ok(body) => route(&ctx, &method, body).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(response) => (response, tenant_id, None),
        Err(error) => {
            let response = ctx.writer().error(tenant.profile, &error);
            let reason = error.reason();
            let action = scim::action(&method, &ctx.target);
            let resource_id = ctx.target.segments.get(4).cloned();
            audit_rejection(&state, tenant, request_id, action, resource_id, &response, Some(&reason));
            (response, tenant_id, Some(reason))
        }
    }
}

/// The metrics label of a refused tenant credential: one of a fixed few.
fn auth_failure_label(error: &scim_auth::Error) -> &'static str {
    match error {
        scim_auth::Error::Expired => "expired",
        scim_auth::Error::Revoked => "revoked",
        scim_auth::Error::WrongTenant => "wrong_tenant",
        scim_auth::Error::WrongScope => "wrong_scope",
        _ => "invalid",
    }
}

/// Records a refused request in the tenant's audit log, without delaying the response.
pub fn audit_rejection(
    state: &Arc<State>,
    tenant: TenantEntry,
    request_id: &str,
    action: String,
    resource_id: Option<String>,
    response: &Response<Body>,
    reason: Option<&str>,
) {
    let entry = scim_store::NewAudit {
        at: scim_schema::time::now_millis(),
        request_id: request_id.to_owned(),
        action,
        resource_id,
        status: response.status().as_u16(),
        detail: reason.map(str::to_owned),
    };
    let store = Arc::clone(&state.store);
    let queued = background(move || {
        if let Err(e) = store.write(move |w| w.record_audit(tenant.key, &entry)) {
            tracing::warn!(error = %e, "could not record a rejected request in the audit log");
        }
    });
    if !queued {
        tracing::warn!(request_id, "the store is saturated: a rejected request's audit row was dropped");
    }
}

/// Reads the body as JSON (or nothing), within the size limit.
async fn read_body(request: Request<Incoming>) -> Result<Option<Value>, ApiError> {
    let limit = discovery::MAX_PAYLOAD_BYTES;
    let declared = request
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    let expects_body = matches!(*request.method(), Method::POST | Method::PUT | Method::PATCH);
    if expects_body {
        http::check_content_type(request.headers())?;
    }
    let bytes = Limited::new(request.into_body(), limit)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadQuery(scim_schema::ErrorKind::InvalidSyntax, format!("reading the body failed: {e}"))
            }
        })?
        .to_bytes();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if !expects_body {
        return Ok(None);
    }
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        ApiError::Schema(scim_schema::Error::new(
            scim_schema::ErrorKind::InvalidSyntax,
            format!("body is not JSON: {e}"),
        ))
    })
}

/// The router: endpoint by path and method.
async fn route(ctx: &Ctx, method: &Method, body: Option<Value>) -> Result<Response<Body>, ApiError> {
    let rest: Vec<&str> = ctx.target.segments[3..].iter().map(String::as_str).collect();
    let profile = ctx.profile();
    let need_body = || {
        body.clone().ok_or_else(|| {
            ApiError::Schema(scim_schema::Error::new(scim_schema::ErrorKind::InvalidSyntax, "a JSON body is required"))
        })
    };
    let resource = |name: &str| match name {
        "Users" => Some(ResourceKind::User),
        "Groups" => Some(ResourceKind::Group),
        _ => None,
    };
    match rest.as_slice() {
        [collection] if resource(collection).is_some() => {
            let kind = resource(collection).ok_or(ApiError::NoEndpoint)?;
            match *method {
                Method::GET => scim::list(ctx, kind, scim::ListParams::from_query(&ctx.target)).await,
                Method::POST => scim::create(ctx, kind, need_body()?).await,
                _ => Err(ApiError::MethodNotAllowed("GET, POST")),
            }
        }
        [collection, ".search"] if resource(collection).is_some() && profile.extended_endpoints => {
            let kind = resource(collection).ok_or(ApiError::NoEndpoint)?;
            match *method {
                Method::POST => scim::list(ctx, kind, scim::ListParams::from_search(&need_body()?)?).await,
                _ => Err(ApiError::MethodNotAllowed("POST")),
            }
        }
        [collection, id] if resource(collection).is_some() => {
            let kind = resource(collection).ok_or(ApiError::NoEndpoint)?;
            let id = (*id).to_owned();
            match *method {
                Method::GET => scim::get(ctx, kind, id).await,
                Method::PUT => scim::replace(ctx, kind, id, need_body()?).await,
                Method::PATCH => scim::patch(ctx, kind, id, need_body()?).await,
                Method::DELETE => scim::delete(ctx, kind, id).await,
                _ => Err(ApiError::MethodNotAllowed("GET, PUT, PATCH, DELETE")),
            }
        }
        [".search"] if profile.extended_endpoints => match *method {
            Method::POST => scim::search_all(ctx, scim::ListParams::from_search(&need_body()?)?).await,
            _ => Err(ApiError::MethodNotAllowed("POST")),
        },
        ["Bulk"] if profile.extended_endpoints => match *method {
            Method::POST => crate::bulk::bulk(ctx, need_body()?).await,
            _ => Err(ApiError::MethodNotAllowed("POST")),
        },
        // Defined by RFC 7644 but meaningless for a provisioning endpoint: nobody signs in here.
        ["Me", ..] if profile.extended_endpoints => Err(ApiError::NotImplemented),
        ["ServiceProviderConfig"] => discovery_get(ctx, method, discovery::service_provider_config(profile)),
        ["Schemas"] => {
            let docs: Vec<Value> =
                discovery::schemas().iter().map(|s| discovery::schema_document(profile, s, &ctx.base)).collect();
            discovery_get(ctx, method, scim::list_response(docs))
        }
        ["Schemas", urn] => {
            let schema = discovery::schemas()
                .into_iter()
                .find(|s| s.id.eq_ignore_ascii_case(urn))
                .ok_or(ApiError::NoEndpoint)?;
            discovery_get(ctx, method, discovery::schema_document(profile, schema, &ctx.base))
        }
        ["ResourceTypes"] => {
            let docs = [ResourceKind::User, ResourceKind::Group].map(|k| discovery::resource_type(k, &ctx.base));
            discovery_get(ctx, method, scim::list_response(docs.to_vec()))
        }
        ["ResourceTypes", name] => {
            let kind = [ResourceKind::User, ResourceKind::Group]
                .into_iter()
                .find(|k| k.name().eq_ignore_ascii_case(name))
                .ok_or(ApiError::NoEndpoint)?;
            discovery_get(ctx, method, discovery::resource_type(kind, &ctx.base))
        }
        _ => Err(ApiError::NoEndpoint),
    }
}

fn discovery_get(ctx: &Ctx, method: &Method, document: Value) -> Result<Response<Body>, ApiError> {
    if *method != Method::GET {
        return Err(ApiError::MethodNotAllowed("GET"));
    }
    Ok(ctx.writer().json(StatusCode::OK, &document))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_full_lane_refuses_work_instead_of_growing() {
        // A lane whose one thread is busy elsewhere: nothing drains the queue.
        let lane = Lane { name: "test", queue: Mutex::default(), ready: Condvar::new(), start: Once::new() };
        lane.lock().started = 1;
        for _ in 0..QUEUE_LIMIT {
            assert!(lane.push(Box::new(|| {}), QUEUE_LIMIT).is_ok());
        }
        assert!(lane.push(Box::new(|| {}), QUEUE_LIMIT).is_err());
        assert_eq!(lane.lock().jobs.len(), QUEUE_LIMIT);
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let refused = runtime.block_on(lane.run(|| Ok(()))).map(|()| "ran").unwrap_err();
        assert!(matches!(refused, ApiError::Unavailable { retry_after: 1, queue: "test" }), "{refused:?}");
    }
}
