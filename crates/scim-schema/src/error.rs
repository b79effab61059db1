//! The one error type of this crate: a kind that maps to a SCIM `scimType`, and the specific
//! reason, which the server logs even when a profile hides it from the client.

use std::fmt;

/// What class of rule a request broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The body is not JSON, not an object, or not shaped as the message requires.
    InvalidSyntax,
    /// A value has the wrong type or breaks a rule of the profile.
    InvalidValue,
    /// A PATCH path does not name an attribute that may be changed this way.
    InvalidPath,
    /// A PATCH path's value filter matched nothing where something was required.
    NoTarget,
    /// An attempt to change a read-only or immutable attribute.
    Mutability,
    /// A filter is malformed, or outside what the profile supports.
    InvalidFilter,
    /// Too many values, members or operations.
    TooMany,
    /// A pagination cursor this server did not issue, or issued for another query (RFC 9865).
    InvalidCursor,
    /// identity-center's rule that a path-less PATCH value may change a single attribute.
    PathlessMultiAttribute,
}

impl ErrorKind {
    /// The RFC 7644 `scimType` keyword of this kind.
    pub fn scim_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidSyntax => "invalidSyntax",
            ErrorKind::InvalidValue => "invalidValue",
            ErrorKind::InvalidPath | ErrorKind::PathlessMultiAttribute => "invalidPath",
            ErrorKind::NoTarget => "noTarget",
            ErrorKind::Mutability => "mutability",
            ErrorKind::InvalidFilter => "invalidFilter",
            ErrorKind::TooMany => "tooMany",
            ErrorKind::InvalidCursor => "invalidCursor",
        }
    }
}

/// A request that a schema or profile rule refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The class of rule broken.
    pub kind: ErrorKind,
    /// The specific reason, for logs, audit and the profiles that show it.
    pub detail: String,
}

impl Error {
    /// An error of `kind` with the reason `detail`.
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Error {
        Error { kind, detail: detail.into() }
    }

    pub(crate) fn value(detail: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidValue, detail)
    }

    pub(crate) fn syntax(detail: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidSyntax, detail)
    }

    pub(crate) fn path(detail: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidPath, detail)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.scim_type(), self.detail)
    }
}

impl std::error::Error for Error {}

impl From<scim_filter::Error> for Error {
    fn from(e: scim_filter::Error) -> Error {
        let kind = match e.kind() {
            scim_filter::ErrorKind::InvalidFilter => ErrorKind::InvalidFilter,
            _ => ErrorKind::InvalidPath,
        };
        Error::new(kind, e.to_string())
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
