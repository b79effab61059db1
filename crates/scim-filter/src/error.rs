//! The one error type of the crate, and what kind of failure it reports.

use std::fmt;

use crate::{MAX_DEPTH, MAX_INPUT_LEN};

/// What went wrong, coarsely enough for a server to pick a `scimType` from it.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// [`parse_filter`](crate::parse_filter) met text outside the filter grammar.
    InvalidFilter,
    /// [`parse_path`](crate::parse_path), [`parse_attr_path`](crate::parse_attr_path) or [`parse_attr_list`](crate::parse_attr_list) met text outside the path grammar.
    InvalidPath,
    /// The input is longer than [`MAX_INPUT_LEN`] bytes.
    TooLong,
    /// Parentheses, `not` and brackets nest deeper than [`MAX_DEPTH`] levels.
    TooDeep,
}

/// Which grammar an entry point parses; it only words the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grammar {
    Filter,
    Path,
}

impl Grammar {
    fn noun(self) -> &'static str {
        match self {
            Grammar::Filter => "filter",
            Grammar::Path => "path",
        }
    }
}

/// Why a filter or path was refused, and where.
///
/// [`position`](Error::position) is a byte offset into the text that was parsed, so a server can
/// point at the offending character; [`expected`](Error::expected) names what the grammar would
/// have accepted there.
///
/// ```
/// use scim_filter::{parse_filter, ErrorKind};
///
/// let err = parse_filter("userName eq bjensen").unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::InvalidFilter);
/// assert_eq!(err.position(), 12);
/// assert_eq!(err.expected(), "string literal");
/// assert_eq!(err.to_string(), "invalid filter at position 12: expected string literal");
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    grammar: Grammar,
    position: usize,
    expected: &'static str,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, grammar: Grammar, position: usize, expected: &'static str) -> Self {
        Error { kind, grammar, position, expected }
    }

    /// What kind of failure this is.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The byte offset in the input where parsing stopped.
    ///
    /// It is always at most the input's length and on a `char` boundary.
    /// For [`ErrorKind::TooLong`] it is [`MAX_INPUT_LEN`].
    #[must_use]
    pub fn position(&self) -> usize {
        self.position
    }

    /// What the grammar would have accepted at [`position`](Error::position), in words:
    /// `"comparison operator"`, `"closing ']'"`, `"string literal"` and so on.
    #[must_use]
    pub fn expected(&self) -> &str {
        self.expected
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let noun = self.grammar.noun();
        match self.kind {
            ErrorKind::TooLong => write!(f, "{noun} too long: more than {MAX_INPUT_LEN} bytes"),
            ErrorKind::TooDeep => write!(
                f,
                "{noun} nested too deeply at position {}: at most {MAX_DEPTH} levels of parentheses, 'not' and brackets",
                self.position
            ),
            ErrorKind::InvalidFilter | ErrorKind::InvalidPath => {
                write!(f, "invalid {noun} at position {}: expected {}", self.position, self.expected)
            }
        }
    }
}

impl std::error::Error for Error {}
