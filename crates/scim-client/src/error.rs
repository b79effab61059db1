//! The one error type of the client.

use std::fmt;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The base URL cannot be used (not `http` or `https`, or not a URL at all).
    InvalidUrl(String),
    /// The connection could not be made or broke, and retrying did not help.
    Transport(String),
    /// No answer came within the request timeout, and retrying did not help (or was not safe).
    Timeout,
    /// The service provider answered with an error status.
    Status {
        /// The HTTP status.
        status: u16,
        /// The SCIM `scimType`, when the body had one.
        scim_type: Option<String>,
        /// The error body's `detail`, or the body itself.
        detail: String,
    },
    /// The answer was not the JSON that SCIM promises.
    InvalidResponse(String),
    /// The resource breaks a rule of the target, found before anything was sent.
    Refused(scim_schema::Error),
}

impl Error {
    /// The HTTP status of a [`Error::Status`], else `None`.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidUrl(why) => write!(f, "invalid base URL: {why}"),
            Error::Transport(why) => write!(f, "connection failed: {why}"),
            Error::Timeout => f.write_str("no answer within the timeout"),
            Error::Status { status, scim_type: Some(scim_type), detail } => {
                write!(f, "{status} ({scim_type}): {detail}")
            }
            Error::Status { status, scim_type: None, detail } => write!(f, "{status}: {detail}"),
            Error::InvalidResponse(why) => write!(f, "invalid response: {why}"),
            Error::Refused(why) => write!(f, "refused before sending: {}", why.detail),
        }
    }
}

impl std::error::Error for Error {}

/// The client's result type.
pub type Result<T> = std::result::Result<T, Error>;
