//! The admin API under `/admin/v1`: tenants, their provisioning tokens, read-only views of their
//! users, groups and memberships, their audit log, and their attributes for access control.
//!
//! It has its own credential, never a tenant's SCIM token: an admin token minted by
//! `scim-server admin token create` (a JWT with `scope: "admin"`, its id in `admin_tokens`), or
//! the secret given to `serve` with `--admin-token-file` / `SCIM_ADMIN_TOKEN`, which lives only
//! in the server's memory. Every change made here is written to the admin trail
//! (`GET /admin/v1/audit`) naming that credential. The credential travels as `Authorization: Bearer`, never in a cookie,
//! so a page of another origin cannot borrow it (no CSRF). Errors are rfc-style JSON bodies
//! (`schemas`, `status`, `detail`, `scimType`).

use std::sync::Arc;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, StatusCode};
use scim_schema::abac::{self, AccessControl};
use scim_schema::render::{self, Memberships};
use scim_schema::time::format_datetime;
use scim_schema::{ProfileName, ResourceKind};
use scim_store::{AccessControlAttribute, AuditFilter, Query, Stored, Tenant, TokenRecord};
use serde_json::{Map, Value, json};

use crate::error::{ApiError, Thing, missing};
use crate::http::{self, Target};
use crate::lanes::{blocking, blocking_read};
use crate::reply::Reply;
use crate::state::State;

/// How many days before expiry a token is flagged, as AWS's console banner does.
pub const EXPIRY_WARNING_DAYS: i64 = 90;

/// The largest admin request body.
const MAX_BODY: usize = 64 * 1024;

/// The most items of one page of users, groups, members or audit entries.
const MAX_PAGE: usize = 200;

/// A failed admin request: a status, an optional `scimType` and a detail shown as is.
#[derive(Debug)]
pub struct AdminError {
    status: StatusCode,
    scim_type: Option<&'static str>,
    detail: String,
}

impl AdminError {
    fn new(status: StatusCode, detail: impl Into<String>) -> AdminError {
        AdminError { status, scim_type: None, detail: detail.into() }
    }

    fn bad(scim_type: &'static str, detail: impl Into<String>) -> AdminError {
        AdminError { status: StatusCode::BAD_REQUEST, scim_type: Some(scim_type), detail: detail.into() }
    }

    fn not_found(what: &str) -> AdminError {
        AdminError::new(StatusCode::NOT_FOUND, format!("No such {what}."))
    }

    /// The reason for the log line.
    pub fn reason(&self) -> String {
        format!("admin: {}", self.detail)
    }
}

impl From<ApiError> for AdminError {
    fn from(e: ApiError) -> AdminError {
        match e {
            ApiError::Internal(why) => {
                tracing::error!(reason = %why, "admin request failed");
                AdminError::new(StatusCode::INTERNAL_SERVER_ERROR, "Service failed to process the request.")
            }
            ApiError::Schema(e) => AdminError::bad(e.kind.scim_type(), e.detail),
            other => {
                let rendered = other.render(ProfileName::Rfc.profile());
                AdminError { status: rendered.status, scim_type: rendered.scim_type, detail: rendered.detail }
            }
        }
    }
}

/// Through the one table in `error.rs`, under the rfc profile.
impl From<scim_store::Error> for AdminError {
    fn from(e: scim_store::Error) -> AdminError {
        ApiError::from(e).into()
    }
}

impl From<scim_auth::Error> for AdminError {
    fn from(e: scim_auth::Error) -> AdminError {
        ApiError::Internal(e.to_string()).into()
    }
}

/// An admin reply: JSON, never cached.
fn respond(status: StatusCode, value: Value) -> Reply {
    Reply::json(status, value).with_header(hyper::header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
}

fn no_content() -> Reply {
    Reply::empty(StatusCode::NO_CONTENT).with_header(hyper::header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
}

/// The rfc-style error reply of `error`.
fn error_reply(error: &AdminError) -> Reply {
    let mut body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": error.status.as_u16().to_string(),
        "detail": error.detail,
    });
    if let (Some(scim_type), Some(object)) = (error.scim_type, body.as_object_mut()) {
        object.insert("scimType".into(), Value::String(scim_type.to_owned()));
    }
    let reply = respond(error.status, body);
    if error.status == StatusCode::UNAUTHORIZED {
        return reply.with_header(hyper::header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    reply
}

/// Compares two byte strings in time independent of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks the request's admin credential; the reason of a refusal is for the log only.
///
/// A well-signed admin token whose id the server has not loaded yet (minted by the CLI a moment
/// ago) makes the server read the admin token ids again once, so it works at once; only tokens
/// signed with one of the server's keys can cause that read.
///
/// Returns the credential's name for the admin trail: `admin-token:<id>` or `startup-secret`.
async fn authenticate(state: &Arc<State>, request: &Request<Incoming>) -> Result<String, AdminError> {
    let refuse = |why: String| {
        tracing::debug!(reason = %why, "admin credential refused");
        AdminError::new(StatusCode::UNAUTHORIZED, "An admin token is required (Authorization: Bearer).")
    };
    let token = http::bearer(request.headers()).ok_or_else(|| refuse("no bearer token".into()))?;
    if let Some(secret) = &state.admin_secret
        && constant_time_eq(secret.as_bytes(), token.as_bytes())
    {
        return Ok(STARTUP_SECRET.to_owned());
    }
    let now = scim_schema::time::now_millis() / 1000;
    let actor = |id: String| format!("admin-token:{id}");
    match state.verifier.authenticate_admin(token, now) {
        Ok(id) => Ok(actor(id)),
        Err(scim_auth::Error::Revoked) => {
            let polled = Arc::clone(state);
            read(move || {
                let tokens = polled.store.admin_tokens()?;
                polled.verifier.set_active_admin(tokens.into_iter().map(|t| (t.id, t.expires)));
                Ok(())
            })
            .await?;
            state.verifier.authenticate_admin(token, now).map(actor).map_err(|e| refuse(e.to_string()))
        }
        Err(e) => Err(refuse(e.to_string())),
    }
}

/// The admin trail's name of the start-up secret (`--admin-token-file`, `SCIM_ADMIN_TOKEN`).
pub const STARTUP_SECRET: &str = "startup-secret";

/// Answers a request under `/admin/v1`; returns the reply and the reason of a failure.
///
/// Every authenticated request that may change something (any method but `GET` and `HEAD`) is
/// written to the admin trail with the credential used and the status answered; reads and
/// unauthenticated requests are not.
pub async fn handle(state: Arc<State>, request: Request<Incoming>, target: &Target) -> (Reply, Option<String>) {
    let actor = match authenticate(&state, &request).await {
        Ok(actor) => actor,
        Err(error) => return (error_reply(&error), Some(error.reason())),
    };
    let method = request.method().clone();
    let mut created = None;
    let (reply, failure) = match serve(Arc::clone(&state), request, target, &mut created).await {
        Ok(reply) => (reply, None),
        Err(error) => (error_reply(&error), Some(error)),
    };
    if !matches!(method, Method::GET | Method::HEAD) {
        let rest: Vec<&str> = target.segments.iter().skip(2).map(String::as_str).collect();
        let (action, tenant_id, object) = action_of(&method, &rest);
        let (tenant_id, object) = match (tenant_id, object) {
            (None, None) => (created.clone(), None),
            (tenant_id, None) => (tenant_id, created),
            other => other,
        };
        let entry = scim_store::AdminAction {
            at: scim_schema::time::now_millis(),
            actor,
            action: action.to_owned(),
            tenant_id,
            target: object,
            status: reply.status.as_u16(),
            detail: failure.as_ref().map(|e| e.detail.clone()),
        };
        let store = Arc::clone(&state.store);
        if let Err(e) = write(move || Ok(store.record_admin_action(&entry)?)).await {
            tracing::error!(error = ?e, "could not write the admin trail");
        }
    }
    (reply, failure.map(|e| e.reason()))
}

/// The admin trail's name of a changing request, with the tenant and object its path names.
fn action_of(method: &Method, rest: &[&str]) -> (&'static str, Option<String>, Option<String>) {
    let owned = |s: &&str| (*s).to_owned();
    let tenant = rest.get(1).map(owned);
    let action = match (rest, method) {
        (["tenants"], &Method::POST) => "CreateTenant",
        (["tenants", _], &Method::PATCH) => "UpdateTenant",
        (["tenants", _], &Method::DELETE) => "DeleteTenant",
        (["tenants", _, "tokens"], &Method::POST) => "CreateToken",
        (["tenants", _, "tokens", _], &Method::DELETE) => "DeleteToken",
        (["tenants", _, "access-control"], &Method::PUT) => "SetAccessControl",
        _ => "Refused",
    };
    (action, tenant, rest.get(3).map(owned))
}

/// Answers an authenticated admin request. `created` receives the id of what a `POST` made
/// (a tenant, a token), for the admin trail.
async fn serve(
    state: Arc<State>,
    request: Request<Incoming>,
    target: &Target,
    created: &mut Option<String>,
) -> Result<Reply, AdminError> {
    let method = request.method().clone();
    let body = read_body(request).await?;
    let rest: Vec<&str> = target.segments.iter().skip(2).map(String::as_str).collect();
    let ok = |value: Value| Ok(respond(StatusCode::OK, value));
    let wrong_method = |allow: &'static str| Err(AdminError::from(ApiError::MethodNotAllowed(allow)));
    match (rest.as_slice(), &method) {
        (["audit"], &Method::GET) => ok(admin_trail(&state, target).await?),
        (["audit"], _) => wrong_method("GET"),
        (["session"], &Method::GET) => ok(json!({"authenticated": true, "public_url": state.public_url})),
        (["tenants"], &Method::GET) => ok(list_tenants(&state).await?),
        (["tenants"], &Method::POST) => {
            let tenant = create_tenant(&state, body.unwrap_or(Value::Null)).await?;
            *created = tenant["tenant_id"].as_str().map(str::to_owned);
            Ok(respond(StatusCode::CREATED, tenant))
        }
        (["tenants"], _) => wrong_method("GET, POST"),
        (["tenants", id], &Method::GET) => ok(tenant_json(&state, &load_tenant(&state, id).await?)),
        (["tenants", id], &Method::PATCH) => ok(update_tenant(&state, id, body.unwrap_or(Value::Null)).await?),
        (["tenants", id], &Method::DELETE) => {
            let (store, id) = (Arc::clone(&state.store), (*id).to_owned());
            write(move || Ok(store.delete_tenant(&id).map_err(missing(Thing::Tenant))?)).await?;
            reload(&state).await;
            Ok(no_content())
        }
        (["tenants", _], _) => wrong_method("GET, PATCH, DELETE"),
        (["tenants", id, "tokens"], &Method::GET) => ok(list_tokens(&state, id).await?),
        (["tenants", id, "tokens"], &Method::POST) => {
            let token = create_token(&state, id).await?;
            *created = token["token_id"].as_str().map(str::to_owned);
            Ok(respond(StatusCode::CREATED, token))
        }
        (["tenants", _, "tokens"], _) => wrong_method("GET, POST"),
        (["tenants", id, "tokens", token_id], &Method::DELETE) => {
            let (store, id, token_id) = (Arc::clone(&state.store), (*id).to_owned(), (*token_id).to_owned());
            write(move || Ok(store.delete_token(&id, &token_id).map_err(missing(Thing::Token))?)).await?;
            reload(&state).await;
            Ok(no_content())
        }
        (["tenants", _, "tokens", _], _) => wrong_method("DELETE"),
        (["tenants", id, "access-keys"], &Method::GET) => ok(list_access_keys(&state, id).await?),
        (["tenants", id, "access-keys"], &Method::POST) => {
            Ok(respond(StatusCode::CREATED, create_access_key(&state, id).await?))
        }
        (["tenants", _, "access-keys"], _) => wrong_method("GET, POST"),
        (["tenants", id, "access-keys", key_id], &Method::DELETE) => {
            let (store, id, key_id) = (Arc::clone(&state.store), (*id).to_owned(), (*key_id).to_owned());
            write(move || Ok(store.delete_access_key(&id, &key_id).map_err(missing(Thing::AccessKey))?)).await?;
            reload(&state).await;
            Ok(no_content())
        }
        (["tenants", _, "access-keys", _], _) => wrong_method("DELETE"),
        (["tenants", id, "users"], &Method::GET) => ok(list(&state, id, ResourceKind::User, target).await?),
        (["tenants", id, "groups"], &Method::GET) => ok(list(&state, id, ResourceKind::Group, target).await?),
        (["tenants", id, "users", user], &Method::GET) => ok(user_detail(&state, id, user).await?),
        (["tenants", id, "groups", group], &Method::GET) => ok(group_detail(&state, id, group, target).await?),
        (["tenants", id, "users", user, "access-control"], &Method::GET) => ok(user_tags(&state, id, user).await?),
        (["tenants", _, "users" | "groups", ..], _) => wrong_method("GET"),
        (["tenants", id, "audit"], &Method::GET) => ok(audit(&state, id, target).await?),
        (["tenants", _, "audit"], _) => wrong_method("GET"),
        (["tenants", id, "access-control"], &Method::GET) => ok(access_control(&state, id).await?),
        (["tenants", id, "access-control"], &Method::PUT) => {
            ok(set_access_control(&state, id, body.unwrap_or(Value::Null)).await?)
        }
        (["tenants", _, "access-control"], _) => wrong_method("GET, PUT"),
        _ => Err(AdminError::new(StatusCode::NOT_FOUND, "No such admin endpoint.")),
    }
}

/// Runs store reads off the async threads (`lanes::blocking_read`).
async fn read<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, AdminError> + Send + 'static,
) -> Result<T, AdminError> {
    blocking_read(move || Ok(work())).await?
}

/// Runs store writes off the async threads (`lanes::blocking`).
async fn write<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, AdminError> + Send + 'static,
) -> Result<T, AdminError> {
    blocking(move || Ok(work())).await?
}

/// Reads a JSON body (or nothing) of at most [`MAX_BODY`] bytes.
async fn read_body(request: Request<Incoming>) -> Result<Option<Value>, AdminError> {
    if matches!(*request.method(), Method::POST | Method::PUT | Method::PATCH) {
        http::check_content_type(request.headers()).map_err(AdminError::from)?;
    }
    let bytes = Limited::new(request.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|_| AdminError::new(StatusCode::PAYLOAD_TOO_LARGE, "The request body exceeds 65536 bytes."))?
        .to_bytes();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| AdminError::bad("invalidSyntax", format!("The body is not JSON: {e}")))
}

/// Reloads the server's tenants and tokens now rather than at the next poll.
async fn reload(state: &Arc<State>) {
    let state = Arc::clone(state);
    if let Err(e) = read(move || Ok(state.reload()?)).await {
        tracing::warn!(error = ?e, "reloading after an admin change failed; the poller will retry");
    }
}

fn endpoint(state: &State, tenant_id: &str) -> String {
    format!("{}/{tenant_id}/scim/v2", state.public_url)
}

fn tenant_json(state: &State, t: &Tenant) -> Value {
    json!({
        "tenant_id": t.id,
        "name": t.name,
        "profile": t.profile,
        "scim_endpoint": endpoint(state, &t.id),
        "created_at": format_datetime(t.created),
        "users": t.users,
        "groups": t.groups,
        "max_users": t.max_users,
        "max_groups": t.max_groups,
        "rate_limit": t.rate_limit.map(|l| json!({"requests_per_second": l.per_second, "burst": l.burst})),
        "identity_store_id": crate::aws::identity_store_id(&t.id),
        "instance_arn": crate::aws::instance_arn(&t.id),
    })
}

async fn load_tenant(state: &Arc<State>, id: &str) -> Result<Tenant, AdminError> {
    let (store, id) = (Arc::clone(&state.store), id.to_owned());
    read(move || Ok(store.tenant(&id)?)).await?.ok_or_else(|| ApiError::NoSuch(Thing::Tenant).into())
}

async fn list_tenants(state: &Arc<State>) -> Result<Value, AdminError> {
    let store = Arc::clone(&state.store);
    let tenants = read(move || Ok(store.tenants()?)).await?;
    Ok(json!({"tenants": tenants.iter().map(|t| tenant_json(state, t)).collect::<Vec<_>>()}))
}

fn profile_of(body: &Value) -> Result<Option<ProfileName>, AdminError> {
    match body.get("profile") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => {
            text.parse::<ProfileName>().map(Some).map_err(|e| AdminError::bad("invalidValue", e))
        }
        Some(_) => Err(AdminError::bad("invalidValue", "profile must be \"identity-center\" or \"rfc\"")),
    }
}

fn name_of(body: &Value) -> Result<Option<String>, AdminError> {
    match body.get("name") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
        Some(Value::String(text)) if text.chars().count() <= 128 => Ok(Some(text.trim().to_owned())),
        Some(_) => Err(AdminError::bad("invalidValue", "name must be a string of at most 128 characters")),
    }
}

/// "Enable automatic provisioning": a new tenant and its first token, shown once.
async fn create_tenant(state: &Arc<State>, body: Value) -> Result<Value, AdminError> {
    if !(body.is_object() || body.is_null()) {
        return Err(AdminError::bad("invalidSyntax", "The body must be a JSON object."));
    }
    let profile = profile_of(&body)?.unwrap_or(ProfileName::IdentityCenter);
    let name = name_of(&body)?;
    let (store, signer) = (Arc::clone(&state.store), state.verifier.signer());
    let (tenant, token) = write(move || {
        let tenant = store.create_tenant(name.as_deref(), profile.as_str())?;
        let token = issue(&store, &signer, &tenant.id)?;
        Ok((tenant, token))
    })
    .await?;
    reload(state).await;
    let mut out = tenant_json(state, &tenant);
    if let Some(object) = out.as_object_mut() {
        object.insert("token".into(), token);
    }
    Ok(out)
}

async fn update_tenant(state: &Arc<State>, id: &str, body: Value) -> Result<Value, AdminError> {
    let profile = profile_of(&body)?;
    let (store, tenant_id) = (Arc::clone(&state.store), id.to_owned());
    if let Some(profile) = profile {
        write(move || Ok(store.set_profile(&tenant_id, profile.as_str()).map_err(missing(Thing::Tenant))?)).await?;
        reload(state).await;
    }
    Ok(tenant_json(state, &load_tenant(state, id).await?))
}

/// Issues a token of `tenant_id` and records its id; the token itself is returned once.
fn issue(store: &scim_store::Store, signer: &scim_auth::Signer, tenant_id: &str) -> Result<Value, AdminError> {
    // The store counts and inserts on its one writer: two racing requests cannot both get a third.
    let (issued, record) = crate::tokens::mint::<AdminError>(store, signer, tenant_id, scim_auth::DEFAULT_TTL_SECS)?;
    let mut out = token_json(&record, issued.created);
    if let Some(object) = out.as_object_mut() {
        object.insert("token".into(), Value::String(issued.token));
    }
    Ok(out)
}

fn token_json(t: &TokenRecord, now: i64) -> Value {
    // Whole days left, rounded up: a token made for 30 days shows 30 until a day has passed.
    let days_left = (t.expires - now + 86_399).div_euclid(86_400);
    let status = if now >= t.expires {
        "expired"
    } else if days_left <= EXPIRY_WARNING_DAYS {
        "expiring"
    } else {
        "active"
    };
    json!({
        "token_id": t.id,
        "created_at": format_datetime(t.created * 1000),
        "expires_at": format_datetime(t.expires * 1000),
        "days_left": days_left.max(0),
        "status": status,
    })
}

async fn list_tokens(state: &Arc<State>, id: &str) -> Result<Value, AdminError> {
    let (store, id) = (Arc::clone(&state.store), id.to_owned());
    let tokens = read(move || Ok(store.tokens(&id)?)).await?;
    let now = scim_schema::time::now_millis() / 1000;
    Ok(json!({
        "tokens": tokens.iter().map(|t| token_json(t, now)).collect::<Vec<_>>(),
        "max_tokens": scim_store::MAX_TOKENS_PER_TENANT,
        "warning_days": EXPIRY_WARNING_DAYS,
    }))
}

async fn create_token(state: &Arc<State>, id: &str) -> Result<Value, AdminError> {
    let (store, signer, tenant_id) = (Arc::clone(&state.store), state.verifier.signer(), id.to_owned());
    let created = write(move || issue(&store, &signer, &tenant_id)).await?;
    reload(state).await;
    Ok(created)
}

/// The tenant's access keys (ids and dates, never secrets) and what the SDKs need besides.
async fn list_access_keys(state: &Arc<State>, id: &str) -> Result<Value, AdminError> {
    let (store, tenant_id) = (Arc::clone(&state.store), id.to_owned());
    let keys = read(move || Ok(store.access_keys(&tenant_id)?)).await?;
    Ok(json!({
        "access_keys": keys
            .iter()
            .map(|k| json!({"access_key_id": k.id, "created_at": format_datetime(k.created * 1000)}))
            .collect::<Vec<_>>(),
        "max_access_keys": scim_store::MAX_ACCESS_KEYS_PER_TENANT,
        "identity_store_id": crate::aws::identity_store_id(id),
        "instance_arn": crate::aws::instance_arn(id),
        "region": region(state),
    }))
}

/// The region the AWS APIs are shown in: the first the server answers in.
fn region(state: &State) -> &str {
    state.aws_regions.first().map_or(crate::state::DEFAULT_REGION, String::as_str)
}

/// Makes an access key of tenant `id`; its secret is returned once.
async fn create_access_key(state: &Arc<State>, id: &str) -> Result<Value, AdminError> {
    let (store, tenant_id) = (Arc::clone(&state.store), id.to_owned());
    let record = write(move || crate::aws::mint_key::<AdminError>(&store, &tenant_id)).await?;
    reload(state).await;
    Ok(crate::aws::key_json(&record, region(state)))
}

/// The tenant's store key, or 404.
async fn tenant_key(state: &Arc<State>, id: &str) -> Result<scim_store::TenantKey, AdminError> {
    Ok(load_tenant(state, id).await?.key)
}

/// A resource as the admin views show it: the rfc rendering, without memberships.
fn render_one(kind: ResourceKind, stored: Stored) -> Value {
    let meta =
        render::Meta { id: &stored.id, created: stored.created, modified: stored.modified, version: stored.version };
    render::render(ProfileName::Rfc.profile(), kind, meta, stored.attrs, Memberships::Omitted, None)
}

/// `startIndex` (1-based) and `count` (1 to [`MAX_PAGE`], default 25) of a listing.
fn paging(target: &Target) -> Result<(usize, usize), AdminError> {
    let number = |name: &str, default: usize| -> Result<usize, AdminError> {
        match target.param(name).map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some(text) => text
                .parse::<usize>()
                .map_err(|_| AdminError::bad("invalidValue", format!("{name} must be a whole number"))),
        }
    };
    let start = number("startIndex", 1)?.max(1);
    let count = number("count", 25)?.clamp(1, MAX_PAGE);
    Ok((start, count))
}

/// A filter from `filter` (any SCIM filter) and `q` (a search box: the name or display name
/// contains the text), ANDed.
fn search_filter(kind: ResourceKind, target: &Target) -> Result<Option<scim_filter::Filter>, AdminError> {
    let mut parts = Vec::new();
    if let Some(filter) = target.param("filter").map(str::trim).filter(|f| !f.is_empty()) {
        parts.push(format!("({filter})"));
    }
    if let Some(q) = target.param("q").map(str::trim).filter(|q| !q.is_empty()) {
        let literal = serde_json::to_string(q).unwrap_or_default();
        parts.push(match kind {
            ResourceKind::User => format!(
                "(userName co {literal} or displayName co {literal} or emails.value co {literal} or externalId eq {literal} or id eq {literal})"
            ),
            ResourceKind::Group => format!("(displayName co {literal} or externalId eq {literal} or id eq {literal})"),
        });
    }
    if parts.is_empty() {
        return Ok(None);
    }
    scim_filter::parse_filter(&parts.join(" and "))
        .map(Some)
        .map_err(|e| AdminError::bad("invalidFilter", format!("The filter is not valid: {e}")))
}

async fn list(state: &Arc<State>, id: &str, kind: ResourceKind, target: &Target) -> Result<Value, AdminError> {
    let key = tenant_key(state, id).await?;
    let (start, count) = paging(target)?;
    let query = Query {
        filter: search_filter(kind, target)?,
        offset: start - 1,
        limit: count,
        with_total: true,
        ..Query::default()
    };
    let store = Arc::clone(&state.store);
    let page = read(move || Ok(store.read(|r| r.list(key, kind, &query))?)).await?;
    let items: Vec<Value> = page.items.into_iter().map(|s| render_one(kind, s)).collect();
    Ok(json!({
        "totalResults": page.total.unwrap_or(0),
        "startIndex": start,
        "itemsPerPage": items.len(),
        "Resources": items,
    }))
}

fn membership_json(m: &scim_store::Membership) -> Value {
    json!({
        "id": m.id,
        "type": if m.kind == ResourceKind::Group { "Group" } else { "User" },
        "display": m.display,
        "direct": m.direct,
    })
}

async fn user_detail(state: &Arc<State>, id: &str, user: &str) -> Result<Value, AdminError> {
    let key = tenant_key(state, id).await?;
    let (store, user) = (Arc::clone(&state.store), user.to_owned());
    let (stored, groups) = read(move || {
        Ok(store.read(|r| -> Result<_, scim_store::Error> {
            let Some(stored) = r.get(key, ResourceKind::User, &user)? else { return Ok(None) };
            let groups = r.groups_of(key, &[user.as_str()])?.into_iter().flatten().collect::<Vec<_>>();
            Ok(Some((stored, groups)))
        })?)
    })
    .await?
    .ok_or_else(|| AdminError::not_found("user"))?;
    Ok(json!({
        "user": render_one(ResourceKind::User, stored),
        "groups": groups.iter().map(membership_json).collect::<Vec<_>>(),
    }))
}

async fn group_detail(state: &Arc<State>, id: &str, group: &str, target: &Target) -> Result<Value, AdminError> {
    let key = tenant_key(state, id).await?;
    let (start, count) = paging(target)?;
    let (store, group) = (Arc::clone(&state.store), group.to_owned());
    let (stored, total, members) = read(move || {
        Ok(store.read(|r| -> Result<_, scim_store::Error> {
            let Some(stored) = r.get(key, ResourceKind::Group, &group)? else { return Ok(None) };
            let total = r.member_count(key, &group)?;
            let members =
                r.members(key, &[group.as_str()], start - 1, count)?.into_iter().flatten().collect::<Vec<_>>();
            Ok(Some((stored, total, members)))
        })?)
    })
    .await?
    .ok_or_else(|| AdminError::not_found("group"))?;
    let page: Vec<Value> = members.iter().map(membership_json).collect();
    Ok(json!({
        "group": render_one(ResourceKind::Group, stored),
        "members": {"totalResults": total, "startIndex": start, "itemsPerPage": page.len(), "Resources": page},
    }))
}

/// The `before` and `count` parameters of a page of audit entries, newest first.
fn audit_page(target: &Target) -> Result<(Option<i64>, usize), AdminError> {
    let text = |name: &str| target.param(name).map(str::trim).filter(|v| !v.is_empty());
    let before = match text("before") {
        None => None,
        Some(v) => {
            Some(v.parse::<i64>().map_err(|_| AdminError::bad("invalidValue", "before must be a whole number"))?)
        }
    };
    let limit = match text("count") {
        None => 50,
        Some(v) => v.parse::<usize>().map_err(|_| AdminError::bad("invalidValue", "count must be a whole number"))?,
    }
    .clamp(1, MAX_PAGE);
    Ok((before, limit))
}

/// `GET /admin/v1/audit`: the administrators' trail, newest first.
async fn admin_trail(state: &Arc<State>, target: &Target) -> Result<Value, AdminError> {
    let (before, limit) = audit_page(target)?;
    let store = Arc::clone(&state.store);
    let entries = read(move || Ok(store.read(|r| r.admin_audit(before, limit))?)).await?;
    let next = if entries.len() == limit { entries.last().map(|(seq, _)| *seq) } else { None };
    let entries: Vec<Value> = entries
        .iter()
        .map(|(seq, e)| {
            json!({"seq": seq, "at": format_datetime(e.at), "actor": e.actor, "action": e.action,
                   "tenant_id": e.tenant_id, "target": e.target, "status": e.status, "detail": e.detail})
        })
        .collect();
    Ok(json!({"entries": entries, "next_before": next}))
}

async fn audit(state: &Arc<State>, id: &str, target: &Target) -> Result<Value, AdminError> {
    let key = tenant_key(state, id).await?;
    let text = |name: &str| target.param(name).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    let (before, limit) = audit_page(target)?;
    let rejected = match text("outcome").as_deref() {
        None | Some("all") => None,
        Some("rejected") => Some(true),
        Some("succeeded") => Some(false),
        Some(_) => return Err(AdminError::bad("invalidValue", "outcome must be all, rejected or succeeded")),
    };
    let filter = AuditFilter { before, action: text("action"), resource_id: text("resource"), rejected, limit };
    let store = Arc::clone(&state.store);
    let entries = read(move || Ok(store.read(|r| r.audit_filtered(key, &filter))?)).await?;
    let next = if entries.len() == limit { entries.last().map(|e| e.seq) } else { None };
    let entries: Vec<Value> = entries
        .iter()
        .map(|e| {
            json!({
                "seq": e.seq,
                "at": format_datetime(e.at),
                "request_id": e.request_id,
                "action": e.action,
                "resource_id": e.resource_id,
                "status": e.status,
                "detail": e.detail,
            })
        })
        .collect();
    Ok(json!({"entries": entries, "next_before": next}))
}

async fn load_access_control(
    state: &Arc<State>,
    id: &str,
) -> Result<(scim_store::TenantKey, Vec<AccessControlAttribute>), AdminError> {
    let key = tenant_key(state, id).await?;
    let store = Arc::clone(&state.store);
    let attributes = read(move || Ok(store.read(|r| r.access_control(key))?)).await?;
    Ok((key, attributes))
}

fn access_control_json(attributes: &[AccessControlAttribute]) -> Value {
    json!({
        "attributes": attributes.iter().map(|a| json!({"key": a.key, "value": a.source})).collect::<Vec<_>>(),
        "max_attributes": abac::MAX_ATTRIBUTES,
        "sources": abac::IDENTITY_CENTER_SOURCES,
    })
}

async fn access_control(state: &Arc<State>, id: &str) -> Result<Value, AdminError> {
    Ok(access_control_json(&load_access_control(state, id).await?.1))
}

/// Replaces the tenant's attributes for access control with `{"attributes": [{"key", "value"}]}`.
async fn set_access_control(state: &Arc<State>, id: &str, body: Value) -> Result<Value, AdminError> {
    let key = tenant_key(state, id).await?;
    let items = body.get("attributes").and_then(Value::as_array).ok_or_else(|| {
        AdminError::bad("invalidSyntax", "The body must be {\"attributes\": [{\"key\", \"value\"}]}.")
    })?;
    let mut pairs = Vec::with_capacity(items.len());
    for item in items {
        match (item.get("key").and_then(Value::as_str), item.get("value").and_then(Value::as_str)) {
            (Some(k), Some(v)) => pairs.push((k.to_owned(), v.to_owned())),
            _ => return Err(AdminError::bad("invalidSyntax", "Each attribute needs a string key and a string value.")),
        }
    }
    AccessControl::parse(&pairs).map_err(|e| AdminError::bad(e.kind.scim_type(), e.detail))?;
    let attributes: Vec<AccessControlAttribute> =
        pairs.into_iter().map(|(key, source)| AccessControlAttribute { key, source }).collect();
    let store = Arc::clone(&state.store);
    let saved = attributes.clone();
    write(move || Ok(store.write(move |w| w.set_access_control(key, &saved))?)).await?;
    Ok(access_control_json(&attributes))
}

/// A user's session tags under the tenant's attributes, and the SAML fragment carrying them.
async fn user_tags(state: &Arc<State>, id: &str, user: &str) -> Result<Value, AdminError> {
    let (key, attributes) = load_access_control(state, id).await?;
    let (store, user_id) = (Arc::clone(&state.store), user.to_owned());
    let stored = read(move || Ok(store.read(|r| r.get(key, ResourceKind::User, &user_id))?))
        .await?
        .ok_or_else(|| AdminError::not_found("user"))?;
    let pairs: Vec<(&str, &str)> = attributes.iter().map(|a| (a.key.as_str(), a.source.as_str())).collect();
    // Stored rules were checked when saved; a rule a newer build refuses is reported, not fatal.
    let rules = AccessControl::parse(&pairs).map_err(|e| AdminError::bad(e.kind.scim_type(), e.detail))?;
    let user_value = Value::Object(stored.attrs);
    let resolved = abac::resolve_tags(&rules, &user_value);
    let tags: Vec<Value> = resolved.tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
    let omitted: Vec<Value> = resolved.omitted.iter().map(|(k, why)| json!({"key": k, "reason": why})).collect();
    let mut out = Map::new();
    out.insert("user_id".into(), Value::String(user.to_owned()));
    out.insert("tags".into(), Value::Array(tags));
    out.insert("omitted".into(), Value::Array(omitted));
    out.insert("saml".into(), abac::saml_attribute_statement(&resolved.tags).map_or(Value::Null, Value::String));
    Ok(Value::Object(out))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn token_status_warns_from_90_days() {
        let now = 1_000_000_000;
        let token =
            |days: i64| TokenRecord { id: "t".into(), tenant_id: "x".into(), created: 0, expires: now + days * 86_400 };
        assert_eq!(token_json(&token(365), now)["status"], "active");
        assert_eq!(token_json(&token(91), now)["status"], "active");
        assert_eq!(token_json(&token(90), now)["status"], "expiring");
        assert_eq!(token_json(&token(1), now)["days_left"], 1);
        // Made for 30 days and read a second later: still 30 days, not 29.
        assert_eq!(token_json(&token(30), now + 1)["days_left"], 30);
        assert_eq!(token_json(&token(0), now)["status"], "expired");
        assert_eq!(token_json(&token(-3), now)["days_left"], 0);
    }

    #[test]
    fn search_box_becomes_an_escaped_filter() {
        let target = Target::parse("/x", Some("q=a%22b"));
        let filter = search_filter(ResourceKind::User, &target).unwrap().unwrap();
        assert!(filter.to_string().contains(r#"userName co "a\"b""#), "{filter}");
        assert!(search_filter(ResourceKind::Group, &Target::parse("/x", Some("filter=nope"))).is_err());
        assert!(search_filter(ResourceKind::Group, &Target::parse("/x", None)).unwrap().is_none());
    }
}
