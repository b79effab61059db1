//! SCIM 2.0 resources: what a User and a Group are, what a client may write, and what it reads.
//!
//! This crate holds the schema knowledge of the server and nothing else: the RFC 7643 schema
//! tables ([`definition`]), the per-tenant rule sets ([`profile`]), input validation
//! ([`resource`]), PATCH ([`patch`]), in-memory filter evaluation ([`eval`]), the filters a
//! profile answers by index ([`query`]), output ([`render`]) and the discovery documents
//! ([`discovery`]), and the attributes for access control taken from a user ([`abac`]). It does no I/O: no HTTP, no SQL, no clock but [`time::now_millis`].
//!
//! The decision a reader may question is that resources stay `serde_json` values instead of
//! typed structs. SCIM resources are open-ended (extensions, sub-attributes, multi-valued
//! complex values), clients send every spelling of them, and the rules that matter (which
//! attribute may hold what, under which profile) are data in the schema tables. A typed struct
//! would duplicate those tables in Rust and still need a JSON walker for PATCH paths and filters.
//! Instead, [`resource::parse`] turns any accepted body into one canonical JSON shape, and every
//! other module may rely on that shape.
//!
//! ```
//! use scim_schema::{ProfileName, ResourceKind, resource};
//! use serde_json::json;
//!
//! let profile = ProfileName::IdentityCenter.profile();
//! let body = json!({"userName": "a@example.com", "displayName": "A",
//!                   "name": {"givenName": "A", "familyName": "B"}, "active": "True"});
//! let user = resource::parse(profile, ResourceKind::User, &body).unwrap();
//! assert_eq!(user.attrs["active"], json!(true));
//! assert!(resource::parse(profile, ResourceKind::User, &json!({"userName": "a"})).is_err());
//! ```
#![deny(missing_docs)]

pub mod abac;
pub mod definition;
pub mod discovery;
pub mod error;
pub mod eval;
pub mod patch;
pub mod profile;
pub mod query;
pub mod render;
pub mod resource;
pub mod time;

pub use definition::ResourceKind;
pub use error::{Error, ErrorKind};
pub use profile::{Profile, ProfileName};
