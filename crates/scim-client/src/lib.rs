//! An async SCIM 2.0 client for the identity provider's side: it pushes Users and Groups into a
//! service provider such as AWS IAM Identity Center and survives what such providers do.
//!
//! - [`Client::connect`] reads `/ServiceProviderConfig` and keeps the [`Capabilities`] that
//!   decide what it may use: cursor or index paging, the page size, and whether the target is
//!   identity-center-like (AWS's attribute rules, at most 100 member changes per request,
//!   members read through `groups.value` filters).
//! - Filters are [`scim_filter::Filter`] trees ([`eq`], [`identity_filter`]), printed by the
//!   filter crate and percent-encoded, never assembled from strings; PATCH bodies come from the
//!   [`PatchOp`] builder, split by [`PatchOp::chunked`].
//! - Retries follow [`RetryPolicy`]: a 429 waits its `Retry-After` and is repeated whatever the
//!   method; a 5xx, timeout or broken connection is repeated with jittered back-off only for
//!   idempotent requests; a request that never left (connection refused) is always repeated.
//! - [`Client::create`] and [`Client::replace`] validate first with `scim-schema`'s own
//!   validator under the target's profile, so a refused user costs no request and gets one
//!   reason ([`Error::Refused`]).
//!
//! It is not a server-side library, and it has no types of its own for Users and Groups:
//! resources are `serde_json` values in SCIM's wire shape, as in `scim-schema`, whose validator
//! and tables it reuses rather than duplicating them in structs.
//!
//! The decision most worth questioning is what [`Client::create`] does when a POST's answer is
//! lost. Repeating it could create a duplicate, or meet a 409 for a user that the first attempt
//! did create; giving up leaves the caller unsure. The client instead looks the resource up by
//! `externalId`, else `userName` or `displayName`, returns it if it is there, and sends the POST
//! again only if it is not. A 409 after a lost attempt is resolved the same way.
//!
//! ```no_run
//! use scim_client::{Client, Options, PatchOp, eq};
//! use scim_filter::AttrPath;
//! use scim_schema::ResourceKind;
//! use serde_json::json;
//!
//! # async fn demo() -> scim_client::Result<()> {
//! let client = Client::connect("https://scim.example.com/t1/scim/v2", "TOKEN", Options::default()).await?;
//! let jane = json!({"userName": "jane@example.com", "displayName": "Jane Doe",
//!                   "name": {"givenName": "Jane", "familyName": "Doe"}});
//! let created = client.create(ResourceKind::User, &jane).await?;
//! let filter = eq(AttrPath::new("userName"), "jane@example.com");
//! assert!(client.find(ResourceKind::User, &filter).await?.is_some());
//! let group = client.create(ResourceKind::Group, &json!({"displayName": "Engineering"})).await?;
//! let id = created["id"].as_str().unwrap_or_default();
//! let patch = PatchOp::new().add_members([id]);
//! client.patch(ResourceKind::Group, group["id"].as_str().unwrap_or_default(), patch).await?;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod client;
pub mod discovery;
mod error;
pub mod patch;
pub mod retry;

pub use client::{Client, ListResponse, Options, Page, Stats, eq, identity_filter};
pub use discovery::Capabilities;
pub use error::{Error, Result};
pub use patch::{Operation, PatchOp};
pub use retry::RetryPolicy;
