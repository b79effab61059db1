//! The crate's one error type.

use scim_schema::ResourceKind;
use std::fmt;

use rusqlite::ffi;

/// Why a store operation failed.
///
/// The server holds the one table mapping each variant to a status code and detail per profile;
/// the store only says what happened.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A UNIQUE index refused the write: another resource of the tenant holds this key.
    Conflict(Unique),
    /// The resource, tenant or token does not exist (in this tenant).
    NotFound,
    /// `add_members` named an id that is not a user of the group's tenant (the first such id).
    NoSuchMember(String),
    /// `add_members` would make a group contain itself through this nested group.
    MemberCycle(String),
    /// The tenant already has two tokens (expired ones count), so a third is refused.
    TokenLimit,
    /// The tenant already has two access keys, so a third is refused.
    AccessKeyLimit,
    /// The tenant already holds its `max_users` users or `max_groups` groups.
    Quota(ResourceKind),
    /// The database was written by a newer version of this code; it was left untouched.
    TooNew {
        /// The database's `PRAGMA user_version`.
        found: i64,
        /// The newest schema version this code knows.
        supported: i64,
    },
    /// The writer thread is gone (the store is closing) or could not be started.
    Closed,
    /// `Store::write` was called from inside a write job, which would wait on itself forever.
    Nested,
    /// The operating system's random source failed while making an id or key.
    Random(String),
    /// A [`Query::filter`](crate::Query::filter) the store refused before running any SQL:
    /// always of kind [`scim_schema::ErrorKind::InvalidFilter`], for exactly the filters the
    /// in-memory evaluator refuses, plus the few naming what the store cannot know (see
    /// [`Query::filter`](crate::Query::filter)).
    Filter(scim_schema::Error),
    /// Any other SQLite failure: I/O, a full disk, a corrupt file, a busy database.
    Sqlite(rusqlite::Error),
    /// The database cannot be reached now (a server restarting, a network down, every
    /// connection busy past the wait): worth retrying in a few seconds.
    Unavailable(String),
    /// Any other failure of a database server backend.
    Backend(String),
    /// A signing key found in an older database could not be stored in the key file; the
    /// database was left as it was, key included.
    KeyExport(String),
    /// A file beside the database (its permissions, a backup, an export) could not be handled.
    Io(String),
    /// An import file is not a tenant export this version reads, or contradicts itself; nothing
    /// was imported.
    Import {
        /// The line of the file (1 for the first).
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// An import names a tenant id the database already has; nothing was imported.
    TenantExists(String),
}

/// Which uniqueness rule refused a write; every rule is scoped to one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unique {
    /// A user's `userName` or a group's `displayName`, compared case-insensitively.
    Name,
    /// A user's or a group's `externalId`, compared exactly.
    ExternalId,
    /// A user's primary email, compared case-insensitively.
    Email,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Conflict(Unique::Name) => f.write_str("another resource of the tenant has this name"),
            Error::Conflict(Unique::ExternalId) => f.write_str("another resource of the tenant has this externalId"),
            Error::Conflict(Unique::Email) => f.write_str("another user of the tenant has this primary email"),
            Error::NotFound => f.write_str("no such resource"),
            Error::NoSuchMember(id) => write!(f, "{id:?} is not a user of this tenant"),
            Error::MemberCycle(id) => write!(f, "adding group {id:?} would make a membership cycle"),
            Error::TokenLimit => f.write_str("the tenant already has two tokens"),
            Error::AccessKeyLimit => f.write_str("the tenant already has two access keys"),
            Error::Quota(ResourceKind::User) => f.write_str("the tenant's user quota is reached"),
            Error::Quota(ResourceKind::Group) => f.write_str("the tenant's group quota is reached"),
            Error::TooNew { found, supported } => {
                write!(f, "the database has schema version {found}, newer than the {supported} this build knows")
            }
            Error::Closed => f.write_str("the store's writer thread is gone"),
            Error::Nested => f.write_str("Store::write was called from inside a write job"),
            Error::Random(reason) => write!(f, "the random source failed: {reason}"),
            Error::Filter(e) => write!(f, "filter refused: {e}"),
            Error::Sqlite(e) => write!(f, "sqlite: {e}"),
            Error::Unavailable(why) => write!(f, "the database is unavailable: {why}"),
            Error::Backend(why) => write!(f, "database: {why}"),
            Error::KeyExport(why) => write!(f, "cannot move the signing key out of the database: {why}"),
            Error::Io(why) => f.write_str(why),
            Error::Import { line, reason } => write!(f, "line {line} of the import: {reason}"),
            Error::TenantExists(id) => write!(f, "tenant {id} already exists in this database"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Sqlite(e) => Some(e),
            Error::Filter(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Sqlite(e)
    }
}

/// Turns a UNIQUE violation on `resources` into the [`Unique`] rule it broke.
///
/// SQLite names the columns of the refusing index (`UNIQUE constraint failed: resources.tenant,
/// resources.kind, resources.name_key`), not the index, so the key column identifies the rule.
pub(crate) fn conflict(e: rusqlite::Error) -> Error {
    if let rusqlite::Error::SqliteFailure(failure, Some(message)) = &e
        && failure.extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE
    {
        for (column, rule) in [
            ("resources.name_key", Unique::Name),
            ("resources.external_id", Unique::ExternalId),
            ("resources.email_key", Unique::Email),
        ] {
            if message.contains(column) {
                return Error::Conflict(rule);
            }
        }
    }
    Error::Sqlite(e)
}

/// Whether `e` is a FOREIGN KEY violation (a row named a parent that does not exist).
pub(crate) fn is_missing_parent(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(failure, _)
        if failure.extended_code == ffi::SQLITE_CONSTRAINT_FOREIGNKEY)
}

/// A copy of `e` for each job of a batch that failed as a whole (`rusqlite::Error` is not `Clone`).
pub(crate) fn replicate(e: &rusqlite::Error) -> rusqlite::Error {
    match e {
        rusqlite::Error::SqliteFailure(failure, message) => rusqlite::Error::SqliteFailure(*failure, message.clone()),
        other => rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_ERROR), Some(other.to_string())),
    }
}
