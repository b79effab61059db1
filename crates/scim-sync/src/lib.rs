//! `scim-sync`: push a desired state of users and groups into a SCIM 2.0 service provider, the
//! way Okta pushes to AWS IAM Identity Center, from a JSON document or another SCIM endpoint.
//!
//! A run reads the desired state ([`source`]), maps its attributes ([`mapping`]), reads the
//! target and computes a [`plan::Plan`] ([`plan`]), and then either prints it (`plan`) or makes
//! it ([`apply`]) through `scim-client`, which owns paging, throttling and retries. The command
//! line is [`cli`]; `docs/SYNC.md` documents it.
//!
//! The decision a reader may question is that scim-sync keeps no state file. What it manages
//! is marked in the target itself: each User and Group it creates or adopts carries an
//! `externalId` starting with [`plan::MARKER`]. A run therefore needs nothing but the source
//! and the target, two machines running it agree, a run killed half way leaves nothing to
//! repair (its creations are marked and matched next time), and resources someone else made,
//! which carry no marker and match nothing in the source, are never written. The price is
//! that an adopted resource's `externalId` is rewritten to the marked form.
#![deny(missing_docs)]

pub mod apply;
pub mod cli;
pub mod error;
pub mod mapping;
pub mod plan;
pub mod source;

pub use error::{Error, Result};
