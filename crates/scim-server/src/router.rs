//! The router: the hyper service behind the edge. It gives each request its id, checks the
//! transport's ambiguities, sends the probes, the admin API, the console and the AWS APIs to
//! their handlers, and takes a tenant's request through the pipeline (tenant, token, rate limit,
//! body) to the SCIM endpoint its path and method name.
//!
//! Nothing imports the router: the edge calls [`serve`], and the router calls the handlers.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use scim_schema::{Profile, ProfileName, ResourceKind, discovery};
use serde_json::Value;

use crate::context::Ctx;
use crate::error::ApiError;
use crate::http::{self, Body, Head, Target};
use crate::refusals::audit_rejection;
use crate::reply::Reply;
use crate::scim;
use crate::state::State;

/// The hyper service: always answers JSON. Returns the response and the instant it was ready.
///
/// `head` is what the edge saw of the request's head that hyper does not show. The clocks are
/// read three times a request, each read being a measurable part of the cheapest one: the
/// instant and the wall-clock time at the start, the instant at the end. The end's wall-clock
/// time (the log line's) is the start's plus the time taken, and the end's instant is the one
/// the edge counts the connection idle from.
pub async fn serve(state: Arc<State>, request: Request<Incoming>, head: Head) -> (Response<Body>, Instant) {
    let started = Instant::now();
    let wall = SystemTime::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let method = request.method().clone();
    let target = Target::parse(request.uri().path(), request.uri().query());
    let route = crate::metrics::route(&target);
    // The path and tenant are the client's words: bounded and escaped before they reach a log.
    let path = target.path();
    let path = http::loggable(&path);
    let now = wall.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let (response, tenant, reason) = pipeline(Arc::clone(&state), request, head, target, &request_id, now).await;
    let tenant = http::loggable(&tenant);
    let status = response.status().as_u16();
    let ended = Instant::now();
    let took = ended.saturating_duration_since(started);
    state.metrics.request(route, &method, status, took);
    match response.status() {
        StatusCode::TOO_MANY_REQUESTS => state.metrics.throttled(),
        // Tenant credentials are counted where they are checked, by reason; admin ones here.
        StatusCode::UNAUTHORIZED if route == crate::metrics::Route::Admin => state.metrics.auth_failure("admin"),
        _ => {}
    }
    let reason = reason.as_deref().map(http::loggable);
    crate::logging::request(&crate::logging::RequestLine {
        method: method.as_str(),
        path: &path,
        tenant: &tenant,
        status,
        latency_us: u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
        request_id: &request_id,
        reason: reason.as_deref(),
        at: wall + took,
    });
    (response, ended)
}

/// The request's response, the tenant it named, and the specific reason of a failure.
async fn pipeline(
    state: Arc<State>,
    request: Request<Incoming>,
    head: Head,
    target: Target,
    request_id: &str,
    now: i64,
) -> (Response<Body>, String, Option<String>) {
    let default_profile = ProfileName::IdentityCenter.profile();
    let fail = |profile: &Profile, error: ApiError| {
        let writer = http::Writer { request_id, scim_content_type: profile.scim_content_type };
        (writer.render(writer.error(profile, &error)), Some(error.reason()))
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
        return match crate::health::check(&state, request.method(), ready).await {
            Ok(reply) => (writer.render(reply), String::new(), None),
            Err(error) => {
                let (response, reason) = fail(default_profile, error);
                (response, String::new(), reason)
            }
        };
    }
    // The administrator's side, never a tenant's: its own credential, its own error bodies.
    match target.segments.first().map(String::as_str) {
        Some("admin") if target.segments.get(1).is_some_and(|v| v == "v1") => {
            let (reply, reason) = crate::admin::handle(state, request, &target).await;
            let writer = http::Writer { request_id, scim_content_type: false };
            return (writer.render(reply), String::new(), reason);
        }
        Some("console") => return (crate::console::serve(request.method(), &target, request_id), String::new(), None),
        None if request.headers().contains_key(crate::aws::TARGET_HEADER) => {
            let (reply, tenant, reason) = crate::aws::handle(state, request, request_id).await;
            // The AWS APIs' replies name their own content type, which replaces the writer's.
            let writer = http::Writer { request_id, scim_content_type: false };
            return (writer.render(reply), tenant, reason);
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
            let (resource_id, status) = (target.segments.get(4).cloned(), response.status().as_u16());
            audit_rejection(&state.store, tenant.key, request_id, action, resource_id, status, reason.as_deref());
        }
        return (response, tenant_id, reason);
    }
    if let Err(error) = state.limiter.admit(tenant.key, tenant.rate_limit) {
        // Logged, not audited: a throttled client may send far more than the database should record.
        let (response, reason) = fail(tenant.profile, error);
        return (response, tenant_id, reason);
    }
    let method = request.method().clone();
    // Kept even when not ASCII, so that a malformed precondition is refused, never ignored.
    let header = |name: hyper::header::HeaderName| {
        request.headers().get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let (if_match, if_none_match) = (header(hyper::header::IF_MATCH), header(hyper::header::IF_NONE_MATCH));
    let ctx =
        Ctx { if_match, if_none_match, state: Arc::clone(&state), tenant, request_id: request_id.to_owned(), target };
    let outcome = match read_body(request).await {
        Ok(body) => route(&ctx, &method, body).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(reply) => (ctx.writer().render(reply), tenant_id, None),
        Err(error) => {
            let response = ctx.writer().render(ctx.writer().error(tenant.profile, &error));
            let reason = error.reason();
            let action = scim::action(&method, &ctx.target);
            let resource_id = ctx.target.segments.get(4).cloned();
            audit_rejection(
                &state.store,
                tenant.key,
                request_id,
                action,
                resource_id,
                response.status().as_u16(),
                Some(&reason),
            );
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
async fn route(ctx: &Ctx, method: &Method, body: Option<Value>) -> Result<Reply, ApiError> {
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
        ["ServiceProviderConfig"] => match *method {
            Method::GET => Ok(Reply::written(
                StatusCode::OK,
                hyper::body::Bytes::from_static(discovery::service_provider_config_json(profile)),
            )),
            _ => Err(ApiError::MethodNotAllowed("GET")),
        },
        ["Schemas"] => {
            let docs: Vec<Value> =
                discovery::schemas().iter().map(|s| discovery::schema_document(profile, s, &ctx.base())).collect();
            discovery_get(method, scim::list_response(docs))
        }
        ["Schemas", urn] => {
            let schema = discovery::schemas()
                .into_iter()
                .find(|s| s.id.eq_ignore_ascii_case(urn))
                .ok_or(ApiError::NoEndpoint)?;
            discovery_get(method, discovery::schema_document(profile, schema, &ctx.base()))
        }
        ["ResourceTypes"] => {
            let docs = [ResourceKind::User, ResourceKind::Group].map(|k| discovery::resource_type(k, &ctx.base()));
            discovery_get(method, scim::list_response(docs.to_vec()))
        }
        ["ResourceTypes", name] => {
            let kind = [ResourceKind::User, ResourceKind::Group]
                .into_iter()
                .find(|k| k.name().eq_ignore_ascii_case(name))
                .ok_or(ApiError::NoEndpoint)?;
            discovery_get(method, discovery::resource_type(kind, &ctx.base()))
        }
        _ => Err(ApiError::NoEndpoint),
    }
}

fn discovery_get(method: &Method, document: Value) -> Result<Reply, ApiError> {
    if *method != Method::GET {
        return Err(ApiError::MethodNotAllowed("GET"));
    }
    Ok(Reply::json(StatusCode::OK, document))
}
