//! The one error type of the sync engine.

use std::fmt;

/// Why a run could not be planned or applied.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The command line is wrong.
    Usage(String),
    /// The desired state cannot be read or is inconsistent.
    Source(String),
    /// Nested groups form a cycle; the names are the cycle, first name repeated last.
    Cycle(Vec<String>),
    /// The attribute map file cannot be read or used.
    Map(String),
    /// The target or the source endpoint refused or failed.
    Client(scim_client::Error),
    /// The run would remove more users and groups than `--max-deletes` allows.
    TooManyDeletes {
        /// Deactivations and deletions planned.
        planned: usize,
        /// The limit.
        limit: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(why) => write!(f, "{why}"),
            Error::Source(why) => write!(f, "source: {why}"),
            Error::Cycle(names) => write!(f, "source: nested groups form a cycle: {}", names.join(" -> ")),
            Error::Map(why) => write!(f, "attribute map: {why}"),
            Error::Client(why) => write!(f, "{why}"),
            Error::TooManyDeletes { planned, limit } => write!(
                f,
                "the run would deactivate or delete {planned} users and groups, more than --max-deletes {limit}; \
                 nothing was changed"
            ),
        }
    }
}

impl std::error::Error for Error {}

impl From<scim_client::Error> for Error {
    fn from(error: scim_client::Error) -> Self {
        Error::Client(error)
    }
}

/// The engine's result type.
pub type Result<T> = std::result::Result<T, Error>;
