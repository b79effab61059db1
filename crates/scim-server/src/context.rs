//! The request context: one authenticated SCIM request as the handlers see it.

use std::sync::Arc;

use scim_schema::Profile;

use crate::http::{self, Target};
use crate::state::{State, TenantEntry};

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

    /// The SCIM base URL of the tenant, without a trailing `/`; made when asked for, since most
    /// answers do not name it.
    pub fn base(&self) -> String {
        self.url(format_args!(""))
    }

    /// The tenant's SCIM base URL followed by `tail` (which starts with `/`, or is empty).
    pub fn url(&self, tail: std::fmt::Arguments<'_>) -> String {
        format!("{}/{}/scim/v2{tail}", self.state.public_url, self.tenant_id())
    }

    /// The writer of this request's responses.
    pub fn writer(&self) -> http::Writer<'_> {
        http::Writer { request_id: &self.request_id, scim_content_type: self.profile().scim_content_type }
    }
}
