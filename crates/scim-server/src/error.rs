//! Every way a request can fail, and the one table that turns each into a status, a `scimType`
//! and a detail, per profile.
//!
//! identity-center answers as AWS does: a handful of fixed texts, the specific reason hidden.
//! The specific reason is never lost: [`ApiError::reason`] goes to the log line and the tenant's
//! audit log.

use hyper::StatusCode;
use scim_schema::{ErrorKind, Profile, ResourceKind};
use scim_store::Unique;

/// A failed request.
#[derive(Debug)]
pub enum ApiError {
    /// No usable bearer token for this tenant, or no such tenant.
    Unauthorized(String),
    /// The addressed resource does not exist.
    NotFound(ResourceKind),
    /// A membership filter names a user that does not exist.
    MemberNotFound,
    /// No endpoint at this path.
    NoEndpoint,
    /// The endpoint exists but not with this method.
    MethodNotAllowed(&'static str),
    /// The body is over the size limit.
    PayloadTooLarge,
    /// The body is not JSON by its content type.
    UnsupportedMediaType(String),
    /// A schema, profile, PATCH or filter rule refused the request.
    Schema(scim_schema::Error),
    /// A query parameter or cursor is unusable.
    BadQuery(ErrorKind, String),
    /// A uniqueness rule refused the write.
    Conflict(Unique),
    /// A member named in a write is not a user of this tenant.
    NoSuchMember(String),
    /// The tenant holds as many resources of this kind as it may.
    Quota(ResourceKind),
    /// The tenant's rate limit is exhausted for now.
    TooManyRequests {
        /// Whole seconds until a request would be admitted (the `Retry-After` header).
        retry_after: u64,
    },
    /// A Bulk operation names a `bulkId` that no operation of the request created.
    BulkReference(String),
    /// The endpoint is defined by SCIM but not implemented here.
    NotImplemented,
    /// An `If-Match` precondition names another version than the stored one.
    PreconditionFailed,
    /// The server is at capacity (a bounded queue is full); the client should retry.
    Unavailable {
        /// Whole seconds to wait before retrying (the `Retry-After` header).
        retry_after: u64,
        /// Which queue was full (a store lane), or `database` when the database cannot be
        /// reached, for the log.
        queue: &'static str,
    },
    /// The request could be read more than one way (two `Authorization` headers, a length and a
    /// transfer coding, an unparsable head), so it is read no way at all.
    Ambiguous(&'static str),
    /// The request's line and header fields together are over the server's cap.
    HeaderTooLarge,
    /// The server failed; the reason is logged, never shown.
    Internal(String),
    /// An AWS API request's SigV4 signature is missing or refused.
    Signature(scim_auth::Error),
    /// An AWS API request names an identity store or instance its access key does not open.
    AccessDenied(String),
    /// An AWS API request names an operation this server does not have.
    UnknownOperation(String),
    /// An AWS API request's input breaks a rule of the API reference (the reason is shown).
    Validation(String),
    /// An AWS API request names a resource the tenant does not have.
    ResourceNotFound {
        /// `USER`, `GROUP`, `GROUP_MEMBERSHIP` or `IDENTITY_STORE`, as AWS names them.
        resource_type: &'static str,
        /// The id as the request gave it.
        id: String,
    },
    /// An AWS API write would duplicate what exists (a membership, a configuration).
    AlreadyExists(String),
    /// An AWS API update names another revision than the stored one.
    RevisionMismatch,
    /// A tenant, token, access key or resource the request names does not exist: the store's
    /// `NotFound`, named by the caller where it knows what was looked up (see [`missing`]).
    NoSuch(Thing),
    /// The tenant already holds as many tokens or access keys as it may.
    Limit(Limited),
}

/// What a [`ApiError::NoSuch`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Thing {
    /// A tenant.
    Tenant,
    /// A tenant's or an administrator's token.
    Token,
    /// An access key of the AWS APIs.
    AccessKey,
    /// Something the caller did not name: the table's answer to a bare store `NotFound`.
    Resource,
}

impl Thing {
    fn name(self) -> &'static str {
        match self {
            Thing::Tenant => "tenant",
            Thing::Token => "token",
            Thing::AccessKey => "access key",
            Thing::Resource => "resource",
        }
    }
}

/// What a [`ApiError::Limit`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    /// A tenant's tokens (expired ones count).
    Tokens,
    /// A tenant's access keys.
    AccessKeys,
}

/// Names the store's `NotFound` as `thing`; every other store error goes through the table.
pub fn missing(thing: Thing) -> impl Fn(scim_store::Error) -> ApiError {
    move |e| match e {
        scim_store::Error::NotFound => ApiError::NoSuch(thing),
        other => other.into(),
    }
}

/// Names the store's `NotFound` as the resource of `kind` (its profile's 404 text).
pub fn found(kind: ResourceKind) -> impl Fn(scim_store::Error) -> ApiError {
    move |e| match e {
        scim_store::Error::NotFound => ApiError::NotFound(kind),
        other => other.into(),
    }
}

/// An error ready for the wire.
#[derive(Debug)]
pub struct Rendered {
    pub status: StatusCode,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

const UNPARSABLE: &str = "Request is unparsable, syntactically incorrect, or violates schema.";

impl ApiError {
    /// The specific reason, for logs and audit.
    pub fn reason(&self) -> String {
        match self {
            ApiError::Unauthorized(why) => format!("unauthorized: {why}"),
            ApiError::NotFound(kind) => format!("{} not found", kind.name()),
            ApiError::MemberNotFound => "the member named in the filter does not exist".into(),
            ApiError::NoEndpoint => "no such endpoint".into(),
            ApiError::MethodNotAllowed(allow) => format!("method not allowed; allowed: {allow}"),
            ApiError::PayloadTooLarge => "request body over 1 MiB".into(),
            ApiError::UnsupportedMediaType(ct) => format!("unsupported content type {ct:?}"),
            ApiError::Schema(e) => e.to_string(),
            ApiError::BadQuery(kind, why) => format!("{}: {why}", kind.scim_type()),
            ApiError::Conflict(unique) => format!("duplicate {}", unique_name(*unique)),
            ApiError::NoSuchMember(id) => format!("member {id:?} is not a user of this tenant"),
            ApiError::Quota(kind) => format!("the tenant's {} quota is reached", kind.name()),
            ApiError::TooManyRequests { retry_after } => {
                format!("the tenant's rate limit is exhausted; retry after {retry_after} s")
            }
            ApiError::PreconditionFailed => "If-Match names another version".into(),
            ApiError::BulkReference(id) => format!("bulkId {id:?} cannot be resolved"),
            ApiError::NotImplemented => "not implemented".into(),
            ApiError::Unavailable { queue: "database", .. } => "the database is unavailable".into(),
            ApiError::Unavailable { queue, .. } => format!("the {queue} queue is full"),
            ApiError::Ambiguous(why) => format!("ambiguous request: {why}"),
            ApiError::HeaderTooLarge => "request header fields over the cap".into(),
            ApiError::Internal(why) => format!("internal error: {why}"),
            ApiError::Signature(e) => format!("signature refused: {e}"),
            ApiError::AccessDenied(why) => format!("access denied: {why}"),
            ApiError::UnknownOperation(op) => format!("unknown operation {op:?}"),
            ApiError::Validation(why) => format!("validation: {why}"),
            ApiError::ResourceNotFound { resource_type, id } => format!("{resource_type} {id:?} not found"),
            ApiError::AlreadyExists(what) => format!("{what} already exists"),
            ApiError::RevisionMismatch => "Revision names another version".into(),
            ApiError::NoSuch(thing) => format!("no such {}", thing.name()),
            ApiError::Limit(Limited::Tokens) => "the tenant already has two tokens".into(),
            ApiError::Limit(Limited::AccessKeys) => "the tenant already has two access keys".into(),
        }
    }

    /// The table: status, `scimType` and client-facing detail under `profile`.
    pub fn render(&self, profile: &Profile) -> Rendered {
        use ApiError::*;
        let hide = profile.aws_errors;
        let (status, scim_type, detail): (StatusCode, Option<&'static str>, String) = match self {
            Unauthorized(_) => {
                (StatusCode::UNAUTHORIZED, None, "The authorization header is invalid or missing.".into())
            }
            NotFound(ResourceKind::User) => (StatusCode::NOT_FOUND, None, "Specified user does not exist.".into()),
            NotFound(ResourceKind::Group) => (StatusCode::NOT_FOUND, None, "Specified group does not exist.".into()),
            MemberNotFound => (StatusCode::NOT_FOUND, None, "Specified user does not exist.".into()),
            NoEndpoint => (StatusCode::NOT_FOUND, None, "Specified resource or endpoint does not exist.".into()),
            MethodNotAllowed(_) => {
                (StatusCode::METHOD_NOT_ALLOWED, None, "The HTTP method is not supported on this endpoint.".into())
            }
            PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, None, "The request body exceeds 1048576 bytes.".into()),
            UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
                "Content-Type must be application/scim+json or application/json.".into(),
            ),
            Schema(e) => (StatusCode::BAD_REQUEST, Some(e.kind.scim_type()), e.detail.clone()),
            BadQuery(kind, why) => (StatusCode::BAD_REQUEST, Some(kind.scim_type()), why.clone()),
            NoSuchMember(id) => {
                (StatusCode::BAD_REQUEST, Some("invalidValue"), format!("Member {id} is not a user of this tenant."))
            }
            Quota(kind) => (
                StatusCode::BAD_REQUEST,
                Some("tooMany"),
                format!("The tenant holds its maximum number of {}s.", kind.name()),
            ),
            TooManyRequests { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, None, "Too many requests exceeded the limits.".into())
            }
            Conflict(unique) => (
                StatusCode::CONFLICT,
                Some("uniqueness"),
                format!("Refused to create a new, duplicate resource: {} is taken.", unique_name(*unique)),
            ),
            BulkReference(id) => {
                (StatusCode::CONFLICT, Some("invalidValue"), format!("The bulkId {id} cannot be resolved."))
            }
            NotImplemented => (StatusCode::NOT_IMPLEMENTED, None, "This endpoint is not implemented.".into()),
            PreconditionFailed => (
                StatusCode::PRECONDITION_FAILED,
                Some("invalidVers"),
                "Failed to update. Resource changed on the server.".into(),
            ),
            Unavailable { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, None, "The service is busy; retry the request later.".into())
            }
            Ambiguous(why) => {
                (StatusCode::BAD_REQUEST, Some("invalidSyntax"), format!("The request is ambiguous: {why}."))
            }
            HeaderTooLarge => {
                (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, None, "The request's header fields are too large.".into())
            }
            Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, None, "Service failed to process the request.".into()),
            // The AWS API's own failures never reach a SCIM client; these rows keep the table total.
            Signature(_) | AccessDenied(_) => {
                (StatusCode::UNAUTHORIZED, None, "The authorization header is invalid or missing.".into())
            }
            UnknownOperation(_) => {
                (StatusCode::NOT_FOUND, None, "Specified resource or endpoint does not exist.".into())
            }
            Validation(why) => (StatusCode::BAD_REQUEST, Some("invalidValue"), why.clone()),
            ResourceNotFound { .. } => (StatusCode::NOT_FOUND, None, "Specified resource does not exist.".into()),
            AlreadyExists(_) => (StatusCode::CONFLICT, Some("uniqueness"), "The resource already exists.".into()),
            RevisionMismatch => (
                StatusCode::PRECONDITION_FAILED,
                Some("invalidVers"),
                "Failed to update. Resource changed on the server.".into(),
            ),
            NoSuch(Thing::Resource) => (StatusCode::NOT_FOUND, None, "Specified resource does not exist.".into()),
            NoSuch(thing) => (StatusCode::NOT_FOUND, None, format!("No such {}.", thing.name())),
            Limit(Limited::Tokens) => (
                StatusCode::CONFLICT,
                Some("tooMany"),
                "The tenant already has two tokens; delete one before generating another.".into(),
            ),
            Limit(Limited::AccessKeys) => (
                StatusCode::CONFLICT,
                Some("tooMany"),
                "The tenant already has two access keys; delete one before creating another.".into(),
            ),
        };
        if !hide {
            return Rendered { status, scim_type, detail };
        }
        let detail = match self {
            Schema(e) if e.kind == ErrorKind::PathlessMultiAttribute => detail,
            Schema(_) | BadQuery(..) | NoSuchMember(_) | Quota(_) | Ambiguous(_) | Validation(_) => UNPARSABLE.into(),
            Conflict(_) => "Refused to create a new, duplicate resource.".into(),
            _ => detail,
        };
        Rendered { status, scim_type: None, detail }
    }
}

/// An error ready for an AWS JSON 1.1 body: `__type`, `message` and the error's modelled fields.
#[derive(Debug)]
pub struct AwsRendered {
    pub status: StatusCode,
    /// The exception's name, e.g. `ResourceNotFoundException`.
    pub code: &'static str,
    pub message: String,
    /// Modelled fields besides `Message` and `RequestId`, e.g. `ResourceType`.
    pub fields: Vec<(&'static str, serde_json::Value)>,
}

impl ApiError {
    /// The table for the AWS APIs (Identity Store, SSO Admin): exception, status and message.
    ///
    /// Client errors answer 400 as AWS's JSON services do, except where the service models
    /// another status (access denied 403, throttling 429); the SDKs read `__type` either way.
    pub fn render_aws(&self) -> AwsRendered {
        use ApiError::*;
        use serde_json::json;
        let plain = |status, code, message: String| AwsRendered { status, code, message, fields: Vec::new() };
        let bad = StatusCode::BAD_REQUEST;
        match self {
            Signature(scim_auth::Error::MissingSignature) => plain(
                StatusCode::FORBIDDEN,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token".into(),
            ),
            Signature(scim_auth::Error::MalformedSignature(why)) => {
                plain(bad, "IncompleteSignatureException", format!("The request signature is malformed: {why}."))
            }
            Signature(scim_auth::Error::UnknownAccessKey) => plain(
                bad,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.".into(),
            ),
            Signature(scim_auth::Error::SignatureExpired { signed, now }) => plain(
                bad,
                "InvalidSignatureException",
                format!("Signature expired: {signed} is now earlier or later than {now} by more than 15 min."),
            ),
            Signature(_) => plain(
                bad,
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. \
                 Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
                    .into(),
            ),
            AccessDenied(why) => plain(StatusCode::FORBIDDEN, "AccessDeniedException", why.clone()),
            UnknownOperation(op) => plain(bad, "UnknownOperationException", format!("Unknown operation {op}.")),
            Validation(why) => plain(bad, "ValidationException", why.clone()),
            Schema(e) => plain(bad, "ValidationException", e.detail.clone()),
            BadQuery(_, why) => plain(bad, "ValidationException", why.clone()),
            PayloadTooLarge => plain(bad, "ValidationException", "The request body exceeds 1048576 bytes.".into()),
            ResourceNotFound { resource_type, id } => AwsRendered {
                status: bad,
                code: "ResourceNotFoundException",
                message: format!("{} not found.", resource_label(resource_type)),
                fields: vec![("ResourceType", json!(resource_type)), ("ResourceId", json!(id))],
            },
            NotFound(kind) => AwsRendered {
                status: bad,
                code: "ResourceNotFoundException",
                message: format!("{} not found.", kind.name()),
                fields: vec![("ResourceType", json!(kind.name().to_ascii_uppercase()))],
            },
            NoSuchMember(id) => AwsRendered {
                status: bad,
                code: "ResourceNotFoundException",
                message: "User not found.".into(),
                fields: vec![("ResourceType", json!("USER")), ("ResourceId", json!(id))],
            },
            Conflict(unique) => AwsRendered {
                status: bad,
                code: "ConflictException",
                message: format!("Duplicate {}", unique_name(*unique)),
                fields: vec![("Reason", json!("UNIQUENESS_CONSTRAINT_VIOLATION"))],
            },
            AlreadyExists(what) => AwsRendered {
                status: bad,
                code: "ConflictException",
                message: format!("{what} already exists."),
                fields: vec![("Reason", json!("UNIQUENESS_CONSTRAINT_VIOLATION"))],
            },
            RevisionMismatch | PreconditionFailed => AwsRendered {
                status: bad,
                code: "ConflictException",
                message: "The resource changed since the given revision.".into(),
                fields: vec![("Reason", json!("CONCURRENT_MODIFICATION"))],
            },
            Quota(kind) => plain(
                StatusCode::PAYMENT_REQUIRED,
                "ServiceQuotaExceededException",
                format!("The identity store holds its maximum number of {}s.", kind.name()),
            ),
            TooManyRequests { retry_after } => AwsRendered {
                status: StatusCode::TOO_MANY_REQUESTS,
                code: "ThrottlingException",
                message: "Rate exceeded".into(),
                fields: vec![("RetryAfterSeconds", json!(retry_after))],
            },
            Unauthorized(why) => plain(StatusCode::FORBIDDEN, "AccessDeniedException", why.clone()),
            MemberNotFound => AwsRendered {
                status: bad,
                code: "ResourceNotFoundException",
                message: "User not found.".into(),
                fields: vec![("ResourceType", json!("USER"))],
            },
            NoEndpoint | MethodNotAllowed(_) | NotImplemented => {
                plain(bad, "UnknownOperationException", "The operation is not supported.".into())
            }
            UnsupportedMediaType(ct) => plain(bad, "ValidationException", format!("Unsupported content type {ct}.")),
            BulkReference(id) => plain(bad, "ValidationException", format!("The bulkId {id} cannot be resolved.")),
            Ambiguous(why) => plain(bad, "ValidationException", format!("The request is ambiguous: {why}.")),
            HeaderTooLarge => plain(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "ValidationException",
                "The request's header fields are too large.".into(),
            ),
            // Identity Store models `RetryAfterSeconds` on InternalServerException; SDKs retry a 503.
            Unavailable { retry_after, .. } => AwsRendered {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "InternalServerException",
                message: "The service is busy; retry the request later.".into(),
                fields: vec![("RetryAfterSeconds", json!(retry_after))],
            },
            NoSuch(thing) => AwsRendered {
                status: bad,
                code: "ResourceNotFoundException",
                message: format!("No such {}.", thing.name()),
                fields: Vec::new(),
            },
            Limit(_) => plain(
                bad,
                "ServiceQuotaExceededException",
                "The tenant holds its maximum number of tokens or access keys.".into(),
            ),
            Internal(_) => AwsRendered {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                code: "InternalServerException",
                message: "The request processing has failed because of an unknown error.".into(),
                fields: Vec::new(),
            },
        }
    }
}

/// `USER` as a message shows it: `User`.
fn resource_label(resource_type: &str) -> &'static str {
    match resource_type {
        "USER" => "User",
        "GROUP" => "Group",
        "GROUP_MEMBERSHIP" => "GroupMembership",
        "IDENTITY_STORE" => "IdentityStore",
        _ => "Resource",
    }
}

fn unique_name(unique: Unique) -> &'static str {
    match unique {
        Unique::Name => "the name",
        Unique::ExternalId => "the externalId",
        Unique::Email => "the primary email",
    }
}

impl From<scim_schema::Error> for ApiError {
    fn from(e: scim_schema::Error) -> ApiError {
        ApiError::Schema(e)
    }
}

impl From<scim_filter::Error> for ApiError {
    fn from(e: scim_filter::Error) -> ApiError {
        ApiError::Schema(e.into())
    }
}

/// The table's store column: every store error becomes a typed [`ApiError`] here, and nowhere
/// else (the admin API and the command line convert through it). A bare `NotFound` is the
/// profile's 404, never a 500: a caller that knows what it looked up names it with [`missing`] or
/// [`found`].
impl From<scim_store::Error> for ApiError {
    fn from(e: scim_store::Error) -> ApiError {
        match e {
            scim_store::Error::NotFound => ApiError::NoSuch(Thing::Resource),
            scim_store::Error::TokenLimit => ApiError::Limit(Limited::Tokens),
            scim_store::Error::AccessKeyLimit => ApiError::Limit(Limited::AccessKeys),
            scim_store::Error::TenantExists(id) => ApiError::AlreadyExists(format!("tenant {id}")),
            e @ scim_store::Error::Import { .. } => {
                ApiError::Schema(scim_schema::Error::new(scim_schema::ErrorKind::InvalidValue, e.to_string()))
            }
            scim_store::Error::Conflict(unique) => ApiError::Conflict(unique),
            scim_store::Error::NoSuchMember(id) => ApiError::NoSuchMember(id),
            scim_store::Error::Filter(e) => ApiError::Schema(e),
            scim_store::Error::MemberCycle(id) => ApiError::Schema(scim_schema::Error::new(
                scim_schema::ErrorKind::InvalidValue,
                format!("adding group {id} would make a membership cycle"),
            )),
            scim_store::Error::Quota(ResourceKind::User) => ApiError::Quota(ResourceKind::User),
            scim_store::Error::Quota(ResourceKind::Group) => ApiError::Quota(ResourceKind::Group),
            scim_store::Error::Unavailable(why) => {
                tracing::warn!(%why, "the database is unavailable");
                ApiError::Unavailable { retry_after: 2, queue: "database" }
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use scim_schema::ProfileName;

    use super::*;

    #[test]
    fn identity_center_hides_reasons_behind_aws_texts() {
        let ic = ProfileName::IdentityCenter.profile();
        let e = ApiError::Schema(scim_schema::Error::new(ErrorKind::InvalidValue, "emails holds 2 values"));
        let r = e.render(ic);
        assert_eq!((r.status, r.scim_type, r.detail.as_str()), (StatusCode::BAD_REQUEST, None, UNPARSABLE));
        assert!(e.reason().contains("emails holds 2 values"));
        let r = ApiError::Conflict(Unique::Name).render(ic);
        assert_eq!(
            (r.status, r.detail.as_str()),
            (StatusCode::CONFLICT, "Refused to create a new, duplicate resource.")
        );
        let pathless = scim_schema::Error::new(ErrorKind::PathlessMultiAttribute, scim_schema::patch::PATHLESS_DETAIL);
        assert_eq!(ApiError::Schema(pathless).render(ic).detail, scim_schema::patch::PATHLESS_DETAIL);
    }

    #[test]
    fn throttling_answers_429_with_aws_text_in_both_profiles() {
        for profile in [ProfileName::IdentityCenter.profile(), ProfileName::Rfc.profile()] {
            let r = ApiError::TooManyRequests { retry_after: 3 }.render(profile);
            assert_eq!(
                (r.status, r.scim_type, r.detail.as_str()),
                (StatusCode::TOO_MANY_REQUESTS, None, "Too many requests exceeded the limits.")
            );
        }
    }

    #[test]
    fn rfc_shows_reasons_and_scim_type() {
        let rfc = ProfileName::Rfc.profile();
        let e = ApiError::Schema(scim_schema::Error::new(ErrorKind::InvalidFilter, "bad"));
        let r = e.render(rfc);
        assert_eq!((r.scim_type, r.detail.as_str()), (Some("invalidFilter"), "bad"));
    }

    /// Every store error, as the table sees it: status under each profile and the AWS column.
    fn store_errors() -> Vec<scim_store::Error> {
        use scim_store::Error as E;
        vec![
            E::Conflict(Unique::Name),
            E::NotFound,
            E::NoSuchMember("u1".into()),
            E::MemberCycle("g1".into()),
            E::TokenLimit,
            E::AccessKeyLimit,
            E::Quota(ResourceKind::User),
            E::Quota(ResourceKind::Group),
            E::TooNew { found: 9, supported: 8 },
            E::Closed,
            E::Nested,
            E::Random("no entropy".into()),
            E::Filter(scim_schema::Error::new(ErrorKind::InvalidFilter, "bad")),
            E::Sqlite(rusqlite::Error::InvalidQuery),
            E::KeyExport("read-only".into()),
            E::Io("disk full".into()),
            E::Import { line: 3, reason: "not a tenant export".into() },
            E::TenantExists("t1".into()),
        ]
    }

    #[test]
    fn every_store_error_maps_to_its_row_in_both_profiles() {
        let expected = [
            (StatusCode::CONFLICT, Some("uniqueness")),
            (StatusCode::NOT_FOUND, None),
            (StatusCode::BAD_REQUEST, Some("invalidValue")),
            (StatusCode::BAD_REQUEST, Some("invalidValue")),
            (StatusCode::CONFLICT, Some("tooMany")),
            (StatusCode::CONFLICT, Some("tooMany")),
            (StatusCode::BAD_REQUEST, Some("tooMany")),
            (StatusCode::BAD_REQUEST, Some("tooMany")),
            (StatusCode::INTERNAL_SERVER_ERROR, None),
            (StatusCode::INTERNAL_SERVER_ERROR, None),
            (StatusCode::INTERNAL_SERVER_ERROR, None),
            (StatusCode::INTERNAL_SERVER_ERROR, None),
            (StatusCode::BAD_REQUEST, Some("invalidFilter")),
            (StatusCode::INTERNAL_SERVER_ERROR, None),
            (StatusCode::INTERNAL_SERVER_ERROR, None),
            (StatusCode::INTERNAL_SERVER_ERROR, None),
            (StatusCode::BAD_REQUEST, Some("invalidValue")),
            (StatusCode::CONFLICT, Some("uniqueness")),
        ];
        let errors = store_errors();
        assert_eq!(errors.len(), expected.len());
        for (store_error, (status, scim_type)) in errors.into_iter().zip(expected) {
            let shown = format!("{store_error:?}");
            let error = ApiError::from(store_error);
            let rfc = error.render(ProfileName::Rfc.profile());
            assert_eq!((rfc.status, rfc.scim_type), (status, scim_type), "{shown}");
            let ic = error.render(ProfileName::IdentityCenter.profile());
            assert_eq!(ic.status, status, "{shown}");
            assert!(!error.reason().is_empty(), "{shown}");
            // The AWS column answers the same class: a client error stays one, a 500 stays a 500.
            let aws = error.render_aws();
            assert_eq!(aws.status.is_server_error(), status.is_server_error(), "{shown}");
        }
    }

    #[test]
    fn a_bare_not_found_is_the_profiles_404_and_a_named_one_says_what() {
        for profile in [ProfileName::IdentityCenter.profile(), ProfileName::Rfc.profile()] {
            let bare = ApiError::from(scim_store::Error::NotFound).render(profile);
            assert_eq!(
                (bare.status, bare.detail.as_str()),
                (StatusCode::NOT_FOUND, "Specified resource does not exist.")
            );
            let user = found(ResourceKind::User)(scim_store::Error::NotFound).render(profile);
            assert_eq!((user.status, user.detail.as_str()), (StatusCode::NOT_FOUND, "Specified user does not exist."));
        }
        let token = missing(Thing::Token)(scim_store::Error::NotFound);
        assert_eq!(token.render(ProfileName::Rfc.profile()).detail, "No such token.");
        assert_eq!(token.reason(), "no such token");
        // Naming the missing thing leaves every other error to the table.
        let other = missing(Thing::Tenant)(scim_store::Error::TokenLimit);
        assert!(matches!(other, ApiError::Limit(Limited::Tokens)), "{other:?}");
        assert_eq!(other.reason(), "the tenant already has two tokens");
    }
}
