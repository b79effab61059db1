//! The AWS side of the directory: the Identity Store API (`AWSIdentityStore.*`) and the part of
//! the SSO Admin API that concerns an instance and its attributes for access control
//! (`SWBExternalService.*`), as the AWS SDKs and CLI call them.
//!
//! Requests arrive on the SCIM listener as `POST /` with `X-Amz-Target`, in AWS JSON 1.1, signed
//! with SigV4 by an access key of one tenant (`scim-server access-key create`). They read and
//! write the same store, through the same validator, quotas, rate limit and audit log as SCIM:
//! a user created by either API is the same row with the same id.
//!
//! A tenant's `IdentityStoreId` (`d-` and the first 10 characters of its id) and instance ARN
//! (`ssoins-` and the next 16) are derived from the tenant's id, never stored: they are stable,
//! unique with the tenant id's 128 random bits, and need no migration for existing tenants.

pub mod identity_store;
pub mod sso_admin;

use std::sync::Arc;

use http_body_util::{BodyExt, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, StatusCode};
use scim_auth::sigv4;
use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::refusals::audit_rejection;
use crate::reply::Reply;
use crate::state::{State, TenantEntry};

/// The header that names the operation.
pub const TARGET_HEADER: &str = "x-amz-target";

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The largest request body accepted, as for SCIM.
const MAX_BODY: usize = scim_schema::discovery::MAX_PAYLOAD_BYTES;

/// A tenant's `IdentityStoreId`: `d-` and the first 10 characters of its id.
pub fn identity_store_id(tenant_id: &str) -> String {
    format!("d-{}", tenant_id.get(..10).unwrap_or(tenant_id))
}

/// A tenant's IAM Identity Center instance ARN: `ssoins-` and characters 10 to 26 of its id.
pub fn instance_arn(tenant_id: &str) -> String {
    format!("arn:aws:sso:::instance/ssoins-{}", tenant_id.get(10..26).unwrap_or(tenant_id))
}

/// The 12-digit account id shown as the instance's owner, from the tenant id's last 8 characters.
pub fn owner_account_id(tenant_id: &str) -> String {
    let tail = tenant_id.get(tenant_id.len().saturating_sub(8)..).unwrap_or("");
    format!("{:012}", u64::from_str_radix(tail, 16).unwrap_or(0))
}

/// Makes an access key for `tenant_id` and records it (the store refuses a third key of a
/// tenant); the one place keys are made, for the command line and the admin API alike.
pub fn mint_key<E>(store: &scim_store::Store, tenant_id: &str) -> Result<scim_store::AccessKeyRecord, E>
where
    E: From<ApiError> + From<scim_auth::Error>,
{
    let key = sigv4::AccessKey::generate()?;
    let record = scim_store::AccessKeyRecord {
        id: key.id,
        tenant_id: tenant_id.to_owned(),
        secret: key.secret,
        created: scim_schema::time::now_millis() / 1000,
    };
    store.add_access_key(&record).map_err(crate::error::missing(crate::error::Thing::Tenant))?;
    Ok(record)
}

/// What a new access key's owner needs, shown once: `{"access_key_id", "secret_access_key",
/// "identity_store_id", "instance_arn", "region"}`.
pub fn key_json(record: &scim_store::AccessKeyRecord, region: &str) -> Value {
    json!({
        "access_key_id": record.id,
        "secret_access_key": record.secret,
        "identity_store_id": identity_store_id(&record.tenant_id),
        "instance_arn": instance_arn(&record.tenant_id),
        "region": region,
    })
}

/// The regions of `--aws-regions` (comma-separated), else [`DEFAULT_REGION`](crate::state::DEFAULT_REGION).
pub fn regions(list: Option<&str>) -> Vec<String> {
    let regions: Vec<String> =
        list.unwrap_or("").split(',').map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned).collect();
    if regions.is_empty() { vec![crate::state::DEFAULT_REGION.to_owned()] } else { regions }
}

/// The two services on this endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    IdentityStore,
    SsoAdmin,
}

impl Service {
    /// The service by `X-Amz-Target` prefix.
    fn from_prefix(prefix: &str) -> Option<Service> {
        match prefix {
            "AWSIdentityStore" => Some(Service::IdentityStore),
            "SWBExternalService" => Some(Service::SsoAdmin),
            _ => None,
        }
    }

    /// The SigV4 signing name.
    fn signing_name(self) -> &'static str {
        match self {
            Service::IdentityStore => "identitystore",
            Service::SsoAdmin => "sso",
        }
    }
}

/// One authenticated AWS API call as the operations see it.
#[derive(Debug)]
pub struct Call {
    /// Shared state.
    pub state: Arc<State>,
    /// The tenant the access key opens.
    pub tenant: TenantEntry,
    /// The tenant's public id.
    pub tenant_id: String,
    /// The request id.
    pub request_id: String,
    /// The full `X-Amz-Target`, e.g. `AWSIdentityStore.CreateUser`, as the audit log records it.
    pub action: String,
    /// The request's JSON object.
    pub input: Map<String, Value>,
}

impl Call {
    /// The string field `name`, if present; a field of another type is a ValidationException.
    pub fn string(&self, name: &str) -> Result<Option<&str>, ApiError> {
        string_in(&self.input, name)
    }

    /// The string field `name`, which the operation requires.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.string(name)?.ok_or_else(|| missing(name))
    }

    /// The audit entry of this call's write.
    pub fn audit(&self) -> scim_store::NewAudit {
        scim_store::NewAudit {
            at: scim_schema::time::now_millis(),
            request_id: self.request_id.clone(),
            action: self.action.clone(),
            resource_id: None,
            status: 0,
            detail: None,
        }
    }
}

/// The string field `name` of `object`, if present.
pub fn string_in<'a>(object: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, ApiError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => {
            Err(ApiError::Validation(format!("1 validation error detected: {name} must have length at least 1")))
        }
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::Validation(format!("{name} must be a string"))),
    }
}

/// The ValidationException of a missing required field.
pub fn missing(name: &str) -> ApiError {
    ApiError::Validation(format!(
        "1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null"
    ))
}

/// Answers one AWS API request: the reply, the tenant it opened (empty if none), and the
/// specific reason of a failure.
pub async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
    request_id: &str,
) -> (Reply, String, Option<String>) {
    let fail = |error: ApiError| (error_reply(&error, request_id), Some(error.reason()));
    let target =
        request.headers().get(TARGET_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default().trim().to_owned();
    let Some((service, operation)) =
        target.split_once('.').and_then(|(prefix, op)| Some((Service::from_prefix(prefix)?, op.to_owned())))
    else {
        let (reply, reason) = fail(ApiError::UnknownOperation(target));
        return (reply, String::new(), reason);
    };
    if request.method() != hyper::Method::POST {
        let (reply, reason) = fail(ApiError::MethodNotAllowed("POST"));
        return (reply, String::new(), reason);
    }
    let (parts, body) = request.into_parts();
    let bytes = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            let (reply, reason) = fail(ApiError::PayloadTooLarge);
            return (reply, String::new(), reason);
        }
    };
    let tenant_id = match authenticate(&state, &parts, &bytes, service) {
        Ok(tenant_id) => tenant_id,
        Err(error) => {
            let (reply, reason) = fail(error);
            return (reply, String::new(), reason);
        }
    };
    let Some(tenant) = state.tenant(&tenant_id) else {
        let (reply, reason) = fail(ApiError::AccessDenied("the access key's tenant is gone".into()));
        return (reply, tenant_id, reason);
    };
    if let Err(error) = state.limiter.admit(tenant.key, tenant.rate_limit) {
        // Logged, not audited, as for SCIM.
        let (reply, reason) = fail(error);
        return (reply, tenant_id, reason);
    }
    let input = if bytes.iter().all(u8::is_ascii_whitespace) {
        Ok(Map::new())
    } else {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(object)) => Ok(object),
            _ => Err(ApiError::Validation("the body is not a JSON object".into())),
        }
    };
    let call = Call {
        state: Arc::clone(&state),
        tenant,
        tenant_id: tenant_id.clone(),
        request_id: request_id.to_owned(),
        action: target,
        input: input.as_ref().cloned().unwrap_or_default(),
    };
    let outcome = match (input, service) {
        (Err(e), _) => Err(e),
        (Ok(_), Service::IdentityStore) => identity_store::dispatch(&call, &operation).await,
        (Ok(_), Service::SsoAdmin) => sso_admin::dispatch(&call, &operation).await,
    };
    match outcome {
        Ok(output) => (respond(StatusCode::OK, output), tenant_id, None),
        Err(error) => {
            let reply = error_reply(&error, request_id);
            let reason = error.reason();
            audit_rejection(
                &state.store,
                tenant.key,
                request_id,
                call.action,
                None,
                reply.status.as_u16(),
                Some(&reason),
            );
            (reply, tenant_id, Some(reason))
        }
    }
}

/// Verifies the request's SigV4 signature; the tenant id of its access key.
fn authenticate(
    state: &State,
    parts: &hyper::http::request::Parts,
    body: &Bytes,
    service: Service,
) -> Result<String, ApiError> {
    let refused = ApiError::Signature;
    let header = parts
        .headers
        .get(hyper::header::AUTHORIZATION)
        .ok_or(refused(scim_auth::Error::MissingSignature))?
        .to_str()
        .map_err(|_| refused(scim_auth::Error::MalformedSignature("the Authorization header is not text".into())))?;
    let auth = sigv4::Authorization::parse(header).map_err(refused)?;
    let key = state
        .access_keys
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(&auth.access_key_id)
        .cloned()
        .ok_or(refused(scim_auth::Error::UnknownAccessKey))?;
    if auth.service != service.signing_name() {
        return Err(refused(scim_auth::Error::MalformedSignature(format!(
            "Credential should be scoped to correct service: '{}'",
            service.signing_name()
        ))));
    }
    if !state.aws_regions.contains(&auth.region) {
        return Err(refused(scim_auth::Error::MalformedSignature(format!(
            "Credential should be scoped to a valid region, not '{}'",
            auth.region
        ))));
    }
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .collect();
    let request = sigv4::Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        body,
    };
    let now = scim_schema::time::now_millis() / 1000;
    sigv4::verify(&request, &auth, &key.secret, now).map_err(refused)?;
    Ok(key.tenant_id)
}

/// A JSON 1.1 response.
fn respond(status: StatusCode, value: Value) -> Reply {
    Reply::json(status, value).with_header(hyper::header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))
}

/// The JSON 1.1 error body of `error`: `__type`, `message`, `RequestId` and modelled fields.
fn error_reply(error: &ApiError, request_id: &str) -> Reply {
    let rendered = error.render_aws();
    let mut body = json!({"__type": rendered.code, "message": rendered.message, "RequestId": request_id});
    if let Some(object) = body.as_object_mut() {
        for (name, value) in rendered.fields {
            object.insert(name.to_owned(), value);
        }
    }
    let mut reply = respond(rendered.status, body);
    if let Ok(code) = HeaderValue::from_str(rendered.code) {
        reply = reply.with_header(HeaderName::from_static("x-amzn-errortype"), code);
    }
    if let ApiError::TooManyRequests { retry_after } = error {
        reply = reply.with_header(hyper::header::RETRY_AFTER, HeaderValue::from(*retry_after));
    }
    reply
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn ids_derive_from_the_tenant_id_in_aws_shapes() {
        let tenant = "0123456789abcdef0123456789abcdef";
        assert_eq!(identity_store_id(tenant), "d-0123456789");
        assert_eq!(instance_arn(tenant), "arn:aws:sso:::instance/ssoins-abcdef0123456789");
        assert_eq!(owner_account_id(tenant), format!("{:012}", 0x89ab_cdef_u64));
        assert_eq!(owner_account_id(tenant).len(), 12);
    }

    #[test]
    fn errors_carry_type_message_and_modelled_fields() {
        let error = ApiError::ResourceNotFound { resource_type: "USER", id: "u1".into() };
        let writer = crate::http::Writer { request_id: "r1", scim_content_type: false };
        let response = writer.render(error_reply(&error, "r1"));
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let names: Vec<&str> = response.headers().keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["content-type", "x-amzn-requestid", "x-amzn-errortype"]);
        assert_eq!(response.headers()["content-type"], CONTENT_TYPE);
        assert_eq!(response.headers()["x-amzn-RequestId"], "r1");
        let throttled = error_reply(&ApiError::TooManyRequests { retry_after: 2 }, "r2");
        assert_eq!(throttled.headers.last().unwrap().1, "2");
        assert_eq!(ApiError::TooManyRequests { retry_after: 2 }.render_aws().fields[0].1, json!(2));
        assert_eq!(
            ApiError::Signature(scim_auth::Error::MissingSignature).render_aws().code,
            "MissingAuthenticationTokenException"
        );
    }
}
