//! The SCIM 2.0 filter, attribute-path and PATCH-path grammar (RFC 7644 sections 3.4.2.2,
//! 3.10 and 3.5.2), parsed into a typed syntax tree.
//!
//! This crate turns text into the types of [`ast`] and back:
//!
//! - [`parse_filter`] reads the `filter` query parameter (`userName eq "bjensen"`) into a
//!   [`Filter`];
//! - [`parse_path`] reads a PATCH operation's `path` (`emails[type eq "work"].value`) into a
//!   [`PatchPath`];
//! - [`parse_attr_path`] and [`parse_attr_list`] read `sortBy`, `attributes` and
//!   `excludedAttributes` into [`AttrPath`]s;
//! - `Display` on every type prints a canonical form that parses back to the same tree, for
//!   every tree the parser can produce.
//!
//! ```
//! use scim_filter::{parse_filter, AttrPath, CompValue, CompareOp, Filter};
//!
//! let filter = parse_filter(r#"userName Eq "bjensen" AND (title pr OR userType eq "Intern")"#)?;
//! let Filter::And(left, _) = &filter else { unreachable!() };
//! assert_eq!(
//!     **left,
//!     Filter::Compare {
//!         path: AttrPath::new("userName"),
//!         op: CompareOp::Eq,
//!         value: CompValue::Str("bjensen".into()),
//!     }
//! );
//! assert_eq!(
//!     filter.to_string(),
//!     r#"userName eq "bjensen" and (title pr or userType eq "Intern")"#
//! );
//! # Ok::<(), scim_filter::Error>(())
//! ```
//!
//! It is pure grammar.
//! It does not know which attributes a resource has, which are multi-valued, or whether a
//! string is a date-time: `meta.lastModified gt "2011-05-13T04:42:34Z"` is a comparison with a
//! string, and whoever evaluates it decides how strings compare for that attribute.
//! It does not evaluate filters, build SQL or speak HTTP, and depends on nothing but `nom`.
//!
//! # The tree records meaning, not spelling
//!
//! The choice most worth questioning is what the tree leaves out.
//! Grouping parentheses leave no node: `(a pr)` and `a pr` are the same [`Filter::Present`],
//! and `a or (b and c)` is the same tree as `a or b and c`, because `and` binds tighter.
//! Keywords and literals are case-insensitive and lose their case; strings lose their escapes.
//! A consumer therefore never has to strip a `Paren` node or compare `"EQ"` with `"eq"`, and
//! two filters that mean the same, in the same shape, compare equal with `==`.
//! The price is that the input cannot be reproduced byte for byte; `Display` prints the one
//! canonical spelling instead, with lowercase keywords, single spaces and only the parentheses
//! the tree needs.
//!
//! Names go the other way: attribute names and schema URNs stay exactly as written.
//! SCIM compares them ignoring case, but folding them here would hide from error messages and
//! logs what the client sent, so consumers compare with [`AttrPath::is`] and
//! [`AttrPath::is_sub`] rather than `==`.
//!
//! One non-RFC form is accepted because Microsoft Entra ID sends it:
//! the filter `emails[type eq "work"].value eq "x"` is read as the value path
//! `emails[type eq "work" and value eq "x"]`, which means the same.
//!
//! ```
//! use scim_filter::parse_filter;
//!
//! let entra = parse_filter(r#"emails[type eq "work"].value eq "x@example.com""#)?;
//! let rfc = parse_filter(r#"emails[type eq "work" and value eq "x@example.com"]"#)?;
//! assert_eq!(entra, rfc);
//! # Ok::<(), scim_filter::Error>(())
//! ```
//!
//! # What the operators mean
//!
//! The tree keeps `ne` and `not (... eq ...)` apart because SCIM gives them different meanings
//! on a multi-valued attribute, and on an attribute with no value. RFC 7644 section 3.4.2.2
//! says a comparison on a multi-valued attribute matches when *any* of its values matches,
//! and that holds for every operator, `ne` included; a single-valued attribute is a list of at
//! most one value, and an absent one has none.
//!
//! - `emails.type ne "work"`: some email has a type, and it is not `work`. A user with a work
//!   and a home email matches; one whose only email is `work`, or who has no email, does not.
//! - `not (emails.type eq "work")`: no email's type is `work`. A user with a work and a home
//!   email does not match; one with no email does.
//! - `title ne "x"` needs a title other than `x`; `not (title eq "x")` also matches a user
//!   without a title.
//! - `null` is the exception: `attr eq null` means the attribute has no value, `attr ne null`
//!   that it has one, like `attr pr`.
//!
//! Evaluating is the caller's work; this is the meaning every consumer in this workspace gives
//! them (`scim_schema::eval` in memory, `scim-store` in SQL).
//!
//! # Paths
//!
//! A schema URN prefix runs to the last `:` of the path, because schema URNs hold dots
//! (`...:enterprise:2.0:User`): `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`
//! has that schema, the name `manager` and the sub-attribute `value`.
//! A path that is only a schema URN splits the same way: its last segment becomes the name.
//!
//! ```
//! use scim_filter::{parse_path, AttrPath};
//!
//! let path = parse_path(r#"emails[type eq "work"].value"#)?;
//! assert_eq!(path.attr, AttrPath::with_sub("emails", "value"));
//! assert_eq!(path.filter.unwrap().to_string(), r#"type eq "work""#);
//!
//! let manager = parse_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager")?;
//! assert_eq!(
//!     manager.attr.schema.as_deref(),
//!     Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
//! );
//! assert!(manager.attr.is("manager") && manager.filter.is_none());
//! # Ok::<(), scim_filter::Error>(())
//! ```
//!
//! # Limits
//!
//! Input longer than [`MAX_INPUT_LEN`] bytes, or nested deeper than [`MAX_DEPTH`] levels of
//! parentheses, `not` and brackets, is refused before it can cost much.
//! Parsing never panics, takes time linear in the input, and recurses only a few frames per
//! level of nesting.
//! A chain such as `a pr or b pr or ...` is a tree as deep as the chain is long (up to about a
//! thousand nodes within [`MAX_INPUT_LEN`]), down its left side; code that walks such trees
//! should loop down the left spine, as `Display` and [`Filter::eq_conjunction`] do.
//!
//! Printing can make text longer (`not(` becomes `not (`), so a tree parsed from input close to
//! [`MAX_INPUT_LEN`] may print to text over it.
#![deny(missing_docs)]

pub mod ast;
mod display;
mod error;
mod parser;
mod token;

pub use ast::{AttrPath, CompValue, CompareOp, Filter, PatchPath};
pub use error::{Error, ErrorKind};

/// The README's examples, run as doctests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The longest input, in bytes, that any entry point accepts; longer input is
/// [`ErrorKind::TooLong`].
pub const MAX_INPUT_LEN: usize = 8192;

/// The deepest nesting of parentheses, `not (...)` and value-filter brackets that any entry
/// point accepts; deeper input is [`ErrorKind::TooDeep`].
///
/// `not (...)` counts once, not once for `not` and again for its parentheses.
/// The Entra form `attr[filter].sub op value` counts its brackets twice, because it prints as
/// `attr[(filter) and sub op value]`.
pub const MAX_DEPTH: usize = 64;

/// Parses a filter (RFC 7644 section 3.4.2.2), as found in the `filter` query parameter.
///
/// Keywords, operators and the literals `true`, `false` and `null` may be in any case.
/// Tokens are separated by one or more spaces or tabs, and whitespace is optional inside
/// parentheses and brackets and around the whole input.
/// Unquoted words are not values: `externalId eq jyoung` fails, expecting a string literal.
///
/// # Errors
///
/// [`ErrorKind::InvalidFilter`] when the input is not a filter, [`ErrorKind::TooLong`] and
/// [`ErrorKind::TooDeep`] past the limits; [`Error::position`] says where.
///
/// ```
/// use scim_filter::{parse_filter, ErrorKind};
///
/// let filter = parse_filter(r#"title pr and not (userType eq "Intern")"#)?;
/// assert_eq!(filter.to_string(), r#"title pr and not (userType eq "Intern")"#);
///
/// let err = parse_filter(r#"userName equals "x""#).unwrap_err();
/// assert_eq!((err.kind(), err.position(), err.expected()), (ErrorKind::InvalidFilter, 9, "comparison operator"));
/// # Ok::<(), scim_filter::Error>(())
/// ```
pub fn parse_filter(input: &str) -> Result<Filter, Error> {
    parser::filter(input)
}

/// Parses a PATCH operation's `path` (RFC 7644 section 3.5.2):
/// `attrPath`, or `attrPath "[" valFilter "]" ["." subAttr]`.
///
/// The sub-attribute after the brackets goes into [`PatchPath::attr`]: `emails[type eq "work"].value`
/// has `attr` `emails.value` and `filter` `type eq "work"`.
///
/// # Errors
///
/// [`ErrorKind::InvalidPath`] when the input is not a PATCH path, [`ErrorKind::TooLong`] and
/// [`ErrorKind::TooDeep`] past the limits; [`Error::position`] says where.
///
/// ```
/// use scim_filter::parse_path;
///
/// let path = parse_path(r#"members[value eq "2819c223"]"#)?;
/// assert!(path.attr.is("members"));
/// assert_eq!(path.to_string(), r#"members[value eq "2819c223"]"#);
/// # Ok::<(), scim_filter::Error>(())
/// ```
pub fn parse_path(input: &str) -> Result<PatchPath, Error> {
    parser::patch_path(input)
}

/// Parses one attribute path, `[schemaURN ":"] name ["." subAttr]`, as in `sortBy`.
///
///
/// # Errors
///
/// [`ErrorKind::InvalidPath`] when the input is not an attribute path, [`ErrorKind::TooLong`] past
/// [`MAX_INPUT_LEN`]; [`Error::position`] says where.
///
/// ```
/// use scim_filter::{parse_attr_path, AttrPath};
///
/// assert_eq!(parse_attr_path("name.familyName")?, AttrPath::with_sub("name", "familyName"));
/// # Ok::<(), scim_filter::Error>(())
/// ```
pub fn parse_attr_path(input: &str) -> Result<AttrPath, Error> {
    parser::attr_path(input)
}

/// Parses a comma-separated list of attribute paths, as in `attributes` and
/// `excludedAttributes`; spaces and tabs around the commas are allowed.
///
/// The list has at least one path: empty input, an empty item and a trailing comma are errors.
///
/// # Errors
///
/// [`ErrorKind::InvalidPath`] when the input is not a list of attribute paths, [`ErrorKind::TooLong`] past
/// [`MAX_INPUT_LEN`]; [`Error::position`] says where.
///
/// ```
/// use scim_filter::{parse_attr_list, AttrPath};
///
/// let list = parse_attr_list("userName, name.givenName,emails")?;
/// assert_eq!(list, [AttrPath::new("userName"), AttrPath::with_sub("name", "givenName"), AttrPath::new("emails")]);
/// # Ok::<(), scim_filter::Error>(())
/// ```
pub fn parse_attr_list(input: &str) -> Result<Vec<AttrPath>, Error> {
    parser::attr_list(input)
}

impl std::str::FromStr for Filter {
    type Err = Error;

    /// Same as [`parse_filter`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_filter(s)
    }
}

impl std::str::FromStr for PatchPath {
    type Err = Error;

    /// Same as [`parse_path`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_path(s)
    }
}

impl std::str::FromStr for AttrPath {
    type Err = Error;

    /// Same as [`parse_attr_path`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_attr_path(s)
    }
}
