//! The PostgreSQL backend of a SCIM 2.0 service provider.
//!
//! `scim-store-pg` implements the [`scim_store::Backend`] contract on a PostgreSQL database, so
//! that any number of server processes on one database are one service.
#![deny(missing_docs)]
