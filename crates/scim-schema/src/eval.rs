//! In-memory filter evaluation with SCIM semantics (RFC 7644 section 3.4.2.2).
//!
//! The grammar crate knows shapes; this module knows meaning, because meaning depends on the
//! schema: whether a string compares with or without case (`caseExact`), whether a string is a
//! date-time, and that a filter on a multi-valued attribute matches when any value does. A
//! complex attribute named without a sub-attribute in a comparison (`emails co "x"`) is compared
//! by its `value` sub-attribute; in `pr` (and `eq null`) it is present when it holds a non-empty
//! value, as RFC 7644 defines `pr` for complex attributes.
//!
//! # One rule for every operator
//!
//! A path names a list of values: none for an absent attribute, one for a single-valued one,
//! one per element for a multi-valued one (`emails.type` is the `type` of each email that has
//! one). A comparison holds when any one of those values satisfies it (RFC 7644 section
//! 3.4.2.2: "the filter matches if any of the values of the specified attribute match"), and
//! `ne` is no exception: `emails.type ne "work"` holds for a user with some email whose type is
//! not `work`, whatever its other emails, and for no user without a typed email.
//! "No value equals" is spelled `not (emails.type eq "work")`, which also holds when there is no
//! value at all. The two differ exactly on resources with several values, or with none.
//! `null` is the exception RFC 7643 section 2.5 makes it: `attr eq null` holds when the
//! attribute has no value, `attr ne null` when it has one (`pr`).
//!
//! # Validity is decided by the schema
//!
//! Whether a filter is valid never depends on the data: [`validate`] walks the whole filter
//! before anything is evaluated, so `userName eq "nobody" and foo eq "x"` is refused even when
//! no resource gets past its first half. A literal that cannot be a value of the attribute's
//! type is refused there too (RFC 7644 section 3.4.2.2, `invalidFilter`): a date-time compared
//! with text that is not one (an impossible calendar date included), a boolean with a number or
//! with text other than `"true"`/`"false"` (which identity providers send for booleans), a
//! string with a number or boolean, and ordering on booleans and binary data. The SQL
//! translation in `scim-store` relies on this to refuse exactly the filters this module refuses.

use std::cmp::Ordering;

use scim_filter::{AttrPath, CompValue, CompareOp, Filter};
use serde_json::Value;

use crate::definition::{Attribute, COMMON_SCHEMA, ResourceKind, Type};
use crate::error::{Error, ErrorKind, Result};

/// Whether `resource`, a resource as rendered (with `id`, `meta` and any memberships), satisfies
/// `filter`.
///
/// # Errors
///
/// [`ErrorKind::InvalidFilter`] when [`validate`] refuses the filter, whatever the resource.
pub fn matches(kind: ResourceKind, resource: &Value, filter: &Filter) -> Result<bool> {
    check(Scope::Resource(kind), filter)?;
    eval(Scope::Resource(kind), resource, filter)
}

/// Whether `element`, one value of the multi-valued complex attribute `def`, satisfies `filter`
/// (the inside of a value path such as `emails[type eq "work"]`).
///
/// # Errors
///
/// [`ErrorKind::InvalidFilter`] when `filter` names something `def` has no sub-attribute for,
/// or uses an operator its literal or attribute does not allow, whatever the element.
pub fn element_matches(def: &'static Attribute, element: &Value, filter: &Filter) -> Result<bool> {
    check(Scope::Complex(def), filter)?;
    eval(Scope::Complex(def), element, filter)
}

/// Checks that `filter` can be evaluated on resources of `kind`, without looking at any data.
///
/// Every attribute it names must exist (see [`resolve`]), every sub-attribute must belong to its
/// attribute, value paths must name complex attributes and hold no value path, and every
/// literal and operator must suit the attribute's type (see the module documentation); with `null`,
/// nothing but `eq` and `ne`.
/// [`matches()`] calls it first, so a filter is valid or not whatever the resources hold.
///
/// The walk uses a heap stack, not recursion: the left-nested chains of `and` and `or` the
/// parser builds (about a thousand nodes deep within its input limit) cost no stack.
///
/// # Errors
///
/// [`ErrorKind::InvalidFilter`] naming the first problem found.
pub fn validate(kind: ResourceKind, filter: &Filter) -> Result<()> {
    check(Scope::Resource(kind), filter)
}

#[derive(Clone, Copy)]
enum Scope {
    Resource(ResourceKind),
    Complex(&'static Attribute),
}

fn invalid(detail: String) -> Error {
    Error::new(ErrorKind::InvalidFilter, detail)
}

/// Finds the definition of `path`'s attribute and the JSON value it names, if any.
fn lookup<'v>(scope: Scope, value: &'v Value, path: &AttrPath) -> Result<(&'static Attribute, Option<&'v Value>)> {
    match scope {
        Scope::Complex(parent) => {
            let def = match (&path.schema, &path.sub_attr) {
                (None, None) => parent.sub(&path.name),
                _ => None,
            }
            .ok_or_else(|| invalid(format!("{} has no sub-attribute {path}", parent.name)))?;
            Ok((def, field(value, def.name)))
        }
        Scope::Resource(kind) => resolve(kind, path).map(|(container, def)| {
            let holder = match container {
                Some(urn) => field(value, urn),
                None => Some(value),
            };
            (def, holder.and_then(|h| field(h, def.name)))
        }),
    }
}

/// Finds the top-level attribute `path` names on `kind`: the extension URN that holds it (if any)
/// and its definition; `path.sub_attr` is ignored.
///
/// A path qualified by the core schema's URN names a core attribute, one qualified by an
/// extension's URN an attribute of that extension. An unqualified name is looked up in the core
/// schema, then among the common attributes (`id`, `externalId`, `meta`, held by no extension),
/// then in the extensions in order. Names and URNs compare ignoring ASCII case.
/// This is the one resolution rule: filters, PATCH paths and projections here use it, and so
/// does the SQL translation of filters in `scim-store`.
///
/// ```
/// use scim_schema::{ResourceKind, eval::resolve};
///
/// let path = scim_filter::parse_attr_path("manager.value").unwrap();
/// let (container, def) = resolve(ResourceKind::User, &path).unwrap();
/// assert_eq!(container, Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"));
/// assert_eq!(def.name, "manager");
/// ```
///
/// # Errors
///
/// [`ErrorKind::InvalidFilter`] when `kind` has no such attribute.
pub fn resolve(kind: ResourceKind, path: &AttrPath) -> Result<(Option<&'static str>, &'static Attribute)> {
    let unknown = || invalid(format!("unknown attribute {path}"));
    if let Some(urn) = &path.schema {
        if let Some(extension) = kind.extension(urn) {
            return extension.attribute(&path.name).map(|def| (Some(extension.id), def)).ok_or_else(unknown);
        }
        if kind.schema().id.eq_ignore_ascii_case(urn) {
            return kind.schema().attribute(&path.name).map(|def| (None, def)).ok_or_else(unknown);
        }
        return Err(unknown());
    }
    if let Some(def) = kind.schema().attribute(&path.name).or_else(|| COMMON_SCHEMA.attribute(&path.name)) {
        return Ok((None, def));
    }
    kind.extensions()
        .iter()
        .find_map(|extension| extension.attribute(&path.name).map(|def| (Some(extension.id), def)))
        .ok_or_else(unknown)
}

/// A member of a JSON object by exact name, falling back to a case-insensitive match.
fn field<'v>(value: &'v Value, name: &str) -> Option<&'v Value> {
    let object = value.as_object()?;
    object.get(name).or_else(|| object.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

/// The definition a comparison on `path` applies to: the attribute's, a sub-attribute's, or the
/// `value` sub-attribute's for a complex attribute named alone.
fn leaf_def(def: &'static Attribute, path: &AttrPath) -> Result<&'static Attribute> {
    let sub_name = match (&path.sub_attr, def.kind) {
        (Some(sub), _) => sub.as_str(),
        (None, Type::Complex) => "value",
        (None, _) => return Ok(def),
    };
    def.sub(sub_name).ok_or_else(|| invalid(format!("{} has no sub-attribute {sub_name}", def.name)))
}

/// The values of a looked-up attribute: the elements of a list, else the value itself.
fn items(top: Option<&Value>) -> Vec<&Value> {
    match top {
        None => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
    }
}

/// The scalar values a path names, with the definition that types them.
fn leaves<'v>(scope: Scope, value: &'v Value, path: &AttrPath) -> Result<(&'static Attribute, Vec<&'v Value>)> {
    let (def, top) = lookup(scope, value, path)?;
    let leaf = leaf_def(def, path)?;
    if std::ptr::eq(leaf, def) {
        return Ok((def, items(top)));
    }
    Ok((leaf, items(top).into_iter().filter_map(|item| field(item, leaf.name)).collect()))
}

/// Whether `path` has a value: `pr`, and the negation of `eq null`.
///
/// A complex attribute named alone is present when one of its values is a non-empty object
/// (RFC 7644: "if it contains a non-empty node for complex attributes"); anything else when one
/// of its scalar values is non-empty.
fn present(scope: Scope, value: &Value, path: &AttrPath) -> Result<bool> {
    let (def, top) = lookup(scope, value, path)?;
    if path.sub_attr.is_none() && def.kind == Type::Complex {
        return Ok(items(top).into_iter().any(is_present));
    }
    Ok(leaves(scope, value, path)?.1.into_iter().any(is_present))
}

/// Evaluates a filter [`check`] accepted. Chains of `and` and `or` are flattened, so recursion
/// only follows nesting (`not`, parentheses that change the operator, value paths), which the
/// parser bounds.
fn eval(scope: Scope, value: &Value, filter: &Filter) -> Result<bool> {
    match filter {
        Filter::And(..) => {
            for operand in filter.operands() {
                if !eval(scope, value, operand)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Filter::Or(..) => {
            for operand in filter.operands() {
                if eval(scope, value, operand)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Filter::Not(inner) => Ok(!eval(scope, value, inner)?),
        Filter::Present(path) => present(scope, value, path),
        Filter::Compare { path, op, value: CompValue::Null } => {
            let present = present(scope, value, path)?;
            match op {
                CompareOp::Eq => Ok(!present),
                CompareOp::Ne => Ok(present),
                _ => Err(invalid(format!("{path} cannot be compared with null by {op}"))),
            }
        }
        Filter::Compare { path, op, value: literal } => {
            let (def, values) = leaves(scope, value, path)?;
            Ok(values.iter().any(|value| compare(def, value, *op, literal)))
        }
        Filter::ValuePath { attr, filter } => {
            let (def, top) = lookup(scope, value, attr)?;
            if def.kind != Type::Complex || !matches!(scope, Scope::Resource(_)) {
                return Err(invalid(format!("{attr} is not a complex attribute")));
            }
            for item in items(top) {
                if eval(Scope::Complex(def), item, filter)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
    }
}

/// Checks a filter without data: see [`validate`].
fn check(scope: Scope, filter: &Filter) -> Result<()> {
    let empty = Value::Object(serde_json::Map::new());
    let mut stack = vec![(scope, filter)];
    while let Some((scope, node)) = stack.pop() {
        match node {
            Filter::And(a, b) | Filter::Or(a, b) => stack.extend([(scope, &**b), (scope, &**a)]),
            Filter::Not(inner) => stack.push((scope, inner)),
            Filter::Present(path) => {
                present(scope, &empty, path)?;
            }
            Filter::Compare { path, op, value: CompValue::Null } => {
                present(scope, &empty, path)?;
                if !matches!(op, CompareOp::Eq | CompareOp::Ne) {
                    return Err(invalid(format!("{path} cannot be compared with null by {op}")));
                }
            }
            Filter::Compare { path, op, value: literal } => {
                let (def, _) = leaves(scope, &empty, path)?;
                check_operator(def, *op, literal)?;
            }
            Filter::ValuePath { attr, filter } => {
                let (def, _) = lookup(scope, &empty, attr)?;
                if def.kind != Type::Complex || !matches!(scope, Scope::Resource(_)) {
                    return Err(invalid(format!("{attr} is not a complex attribute")));
                }
                stack.push((Scope::Complex(def), filter));
            }
        }
    }
    Ok(())
}

fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// Whether a boolean literal may be written as text: `"true"` or `"false"` in any case, as
/// identity providers send booleans (Entra ID's `"True"`).
fn text_boolean(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Refuses a comparison whose literal cannot be a value of the attribute's type, or whose
/// operator makes no sense for it (RFC 7644 section 3.4.2.2, `invalidFilter`), from the schema
/// alone. `literal` is never `null` here.
///
/// - boolean: `eq` and `ne` only, with `true`/`false` (or their text, see [`text_boolean`]);
/// - integer and decimal: a number;
/// - dateTime: a string; for every operator but `co`/`sw`/`ew`, an `xsd:dateTime`
///   ([`crate::time::parse_datetime`]: a real calendar date and time of day);
/// - string, reference and binary: a string; no `gt`/`ge`/`lt`/`le` on binary.
fn check_operator(def: &Attribute, op: CompareOp, literal: &CompValue) -> Result<()> {
    let ordered = matches!(op, CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le);
    let substring = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
    let fits = match (def.kind, literal) {
        (Type::Boolean, CompValue::Bool(_)) => !ordered && !substring,
        (Type::Boolean, CompValue::Str(text)) => !ordered && !substring && text_boolean(text).is_some(),
        (Type::Integer | Type::Decimal, CompValue::Number(_)) => !substring,
        (Type::DateTime, CompValue::Str(text)) => substring || crate::time::parse_datetime(text).is_some(),
        (Type::Binary, CompValue::Str(_)) => !ordered,
        (Type::String | Type::Reference(_), CompValue::Str(_)) => true,
        _ => false,
    };
    if fits {
        Ok(())
    } else {
        Err(invalid(format!("{} {op} {literal}: not a comparison a {} attribute has", def.name, def.kind.name())))
    }
}

/// Whether one value compares true. A value and a literal of different types never do.
fn compare(def: &Attribute, value: &Value, op: CompareOp, literal: &CompValue) -> bool {
    let ordering = match (value, literal) {
        (Value::Bool(b), CompValue::Bool(l)) => Some(b.cmp(l)),
        // A boolean attribute compared with "true"/"false" text, as some clients send it.
        (Value::Bool(b), CompValue::Str(s)) => text_boolean(s).map(|l| b.cmp(&l)),
        (Value::Number(n), CompValue::Number(l)) => match (n.as_f64(), l.parse::<f64>().ok()) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            _ => None,
        },
        (Value::String(s), CompValue::Str(l)) => {
            if def.kind == Type::DateTime
                && let (Some(a), Some(b)) = (crate::time::parse_datetime(s), crate::time::parse_datetime(l))
                && !matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
            {
                Some(a.cmp(&b))
            } else {
                return string_compare(def.case_exact, s, op, l);
            }
        }
        _ => None,
    };
    let Some(ordering) = ordering else { return false };
    match op {
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::Ne => ordering != Ordering::Equal,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

fn string_compare(case_exact: bool, value: &str, op: CompareOp, literal: &str) -> bool {
    let (a, b) = if case_exact {
        (value.to_owned(), literal.to_owned())
    } else {
        (value.to_lowercase(), literal.to_lowercase())
    };
    match op {
        CompareOp::Eq => a == b,
        CompareOp::Ne => a != b,
        CompareOp::Co => a.contains(&b),
        CompareOp::Sw => a.starts_with(&b),
        CompareOp::Ew => a.ends_with(&b),
        CompareOp::Gt => a > b,
        CompareOp::Ge => a >= b,
        CompareOp::Lt => a < b,
        CompareOp::Le => a <= b,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use serde_json::json;

    use super::*;

    fn bjensen() -> Value {
        json!({
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "Bjensen",
            "userName": "Bjensen@example.com",
            "name": {"familyName": "O'Malley", "givenName": "Barbara"},
            "title": "Tour Guide",
            "userType": "Employee",
            "active": true,
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "groups": [{"value": "g1"}],
            "meta": {"created": "2010-01-23T04:56:22Z", "lastModified": "2011-05-13T04:42:34Z"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "m1"}, "department": "Tour"}
        })
    }

    fn check(filter: &str, expected: bool) {
        let parsed = scim_filter::parse_filter(filter).unwrap();
        assert_eq!(matches(ResourceKind::User, &bjensen(), &parsed), Ok(expected), "{filter}");
    }

    #[test]
    fn rfc_examples_and_idp_filters() {
        check(r#"userName eq "bjensen@example.com""#, true);
        check(r#"USERNAME EQ "BJENSEN@EXAMPLE.COM""#, true);
        check(r#"externalId eq "bjensen""#, false);
        check(r#"externalId eq "Bjensen""#, true);
        check(r#"id eq "2819C223-7F76-453A-919D-413861904646""#, false);
        check(r#"name.familyName co "O'Malley""#, true);
        check(r#"userName sw "J""#, false);
        check(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "bj""#, true);
        check("title pr", true);
        check("nickName pr", false);
        check(r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, false);
        check(r#"meta.lastModified ge "2011-05-13T06:42:34+02:00""#, true);
        check(r#"meta.lastModified lt "2011-05-13T04:42:35Z""#, true);
        check(r#"title pr and userType eq "Employee""#, true);
        check(r#"title pr or userType eq "Intern""#, true);
        check(r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#, true);
        check(r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#, false);
        check(r#"emails[type eq "work" and value co "@example.com"]"#, true);
        check(r#"emails[type eq "home" and value co "@example.com"]"#, false);
        check(r#"emails[type eq "work"].value eq "bjensen@example.com""#, true);
        check(r#"emails ne "nobody@x""#, true);
        // Some email is not babs@jensen.org: RFC 7644's "any value" rule holds for `ne` too.
        check(r#"emails.value ne "babs@jensen.org""#, true);
        check(r#"not (emails.value eq "babs@jensen.org")"#, false);
        check("active eq true", true);
        check(r#"active eq "True""#, true);
        check("nickName eq null", true);
        check(r#"groups.value eq "g1""#, true);
        check(r#"manager.value eq "m1""#, true);
        check(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "tour""#, true);
    }

    #[test]
    fn invalid_filters_are_errors_whatever_the_data() {
        for bad in
            [r#"foo eq "x""#, "active gt true", r#"emails[nope eq "x"]"#, "title co 5", r#"urn:x:y:title eq "a""#]
        {
            let parsed = scim_filter::parse_filter(bad).unwrap_or_else(|e| panic!("{bad}: {e}"));
            let err = matches(ResourceKind::User, &json!({}), &parsed).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidFilter, "{bad}");
        }
    }

    #[test]
    fn validity_does_not_depend_on_short_circuits() {
        // The first operand decides the result for bjensen, yet the second is still checked.
        for bad in [
            r#"userName eq "nobody" and foo eq "x""#,
            r#"userName pr or foo eq "x""#,
            r#"emails[type eq "work" or nope eq "x"]"#,
            r#"nickName pr and emails[type eq "work" and value gt true]"#,
            r#"not (title pr) and x509Certificates.value gt "a""#,
        ] {
            let parsed = scim_filter::parse_filter(bad).unwrap();
            for resource in [bjensen(), json!({})] {
                let err = matches(ResourceKind::User, &resource, &parsed).unwrap_err();
                assert_eq!(err.kind, ErrorKind::InvalidFilter, "{bad}");
            }
            assert_eq!(validate(ResourceKind::User, &parsed).unwrap_err().kind, ErrorKind::InvalidFilter, "{bad}");
        }
        let element = &crate::definition::USER_SCHEMA.attribute("emails").unwrap();
        let inner = scim_filter::parse_filter(r#"type eq "x" and nope eq "y""#).unwrap();
        assert!(element_matches(element, &json!({"type": "home"}), &inner).is_err());
    }

    #[test]
    fn complex_attributes_are_present_when_they_hold_something() {
        check("name pr", true);
        check("addresses pr", false);
        check("emails pr", true);
        check("meta pr", true);
        check("manager pr", true);
        check("name eq null", false);
        check("addresses eq null", true);
        check("name ne null", true);
        check("not (addresses pr)", true);
        let with_address = |address: Value| {
            let mut user = bjensen();
            user["addresses"] = address;
            user
        };
        let pr = scim_filter::parse_filter("addresses pr").unwrap();
        assert!(matches(ResourceKind::User, &with_address(json!([{"locality": "Paris"}])), &pr).unwrap());
        assert!(!matches(ResourceKind::User, &with_address(json!([{}])), &pr).unwrap());
        // Compared, a complex attribute named alone is still its `value`.
        assert!(validate(ResourceKind::User, &scim_filter::parse_filter(r#"name eq "x""#).unwrap()).is_err());
    }

    #[test]
    fn ordering_applies_to_neither_booleans_nor_binary() {
        for bad in
            ["active gt 1", r#"active le "true""#, r#"x509Certificates.value ge "MII""#, "emails.primary lt false"]
        {
            let parsed = scim_filter::parse_filter(bad).unwrap();
            assert_eq!(validate(ResourceKind::User, &parsed).unwrap_err().kind, ErrorKind::InvalidFilter, "{bad}");
        }
        for good in ["active eq false", r#"active ne "TRUE""#, r#"x509Certificates.value eq "MII""#, "title gt \"5\""] {
            assert!(validate(ResourceKind::User, &scim_filter::parse_filter(good).unwrap()).is_ok(), "{good}");
        }
    }

    /// RFC 7644 section 3.4.2.2: a literal that cannot be a value of the attribute's type is
    /// `invalidFilter`, decided from the schema.
    #[test]
    fn literals_must_fit_the_attribute_type() {
        for bad in [
            r#"meta.created gt "yesterday""#,
            r#"meta.created eq "2026-13-45T25:61:00Z""#,
            r#"meta.lastModified lt "2026-02-30T00:00:00Z""#,
            r#"meta.lastModified ne "2011-05-13""#,
            "meta.created ge 2011",
            "meta.created eq true",
            r#"active eq "yes""#,
            r#"active ne "1""#,
            "active eq 1",
            "active ne 0",
            "emails.primary eq 1",
            r#"emails[primary eq "y"]"#,
            "title eq 5",
            "title ne true",
            "emails.value gt 0",
            "userName eq false",
            "profileUrl eq 1",
            "x509Certificates.value eq 1",
            "x509Certificates.value lt \"M\"",
            "active gt true",
            "active le false",
        ] {
            let parsed = scim_filter::parse_filter(bad).unwrap_or_else(|e| panic!("{bad}: {e}"));
            assert_eq!(validate(ResourceKind::User, &parsed).unwrap_err().kind, ErrorKind::InvalidFilter, "{bad}");
        }
        for good in [
            r#"meta.created gt "2011-05-13T04:42:34Z""#,
            r#"meta.created lt "2024-02-29T23:59:60.5+01:00""#,
            r#"meta.created sw "2011-05""#,
            r#"emails[primary eq "True"]"#,
            "emails[primary ne false]",
            r#"userName eq "5""#,
        ] {
            assert!(validate(ResourceKind::User, &scim_filter::parse_filter(good).unwrap()).is_ok(), "{good}");
        }
    }

    /// RFC 7644 section 3.4.2.2: on a multi-valued attribute every operator, `ne` included,
    /// matches when any one value does; `not (... eq ...)` is "no value equals".
    #[test]
    fn every_operator_matches_on_any_value() {
        // bjensen's emails are work (bjensen@example.com, primary) and home (babs@jensen.org).
        for (filter, expected) in [
            (r#"emails.type ne "work""#, true),
            (r#"emails.type ne "home""#, true),
            (r#"not (emails.type eq "work")"#, false),
            (r#"emails.type eq "work""#, true),
            (r#"emails.value co "jensen.org""#, true),
            (r#"emails.value sw "babs""#, true),
            (r#"emails.value ew "example.com""#, true),
            (r#"emails.value gt "bjensen""#, true),
            (r#"emails.value ge "babs@jensen.org""#, true),
            (r#"emails.value lt "b""#, false),
            (r#"emails.value le "babs@jensen.org""#, true),
            (r#"emails ne "bjensen@example.com""#, true),
            ("emails.type pr", true),
            ("emails.display pr", false),
            ("emails.primary ne true", false),
            ("emails.primary eq true", true),
            (r#"emails[type ne "work"]"#, true),
            (r#"emails[type ne "work" and value co "example.com"]"#, false),
            (r#"emails[not (type eq "work")]"#, true),
            (r#"groups.value ne "g1""#, false),
            (r#"groups.value ne "g2""#, true),
            (r#"not (groups.value eq "g2")"#, true),
            // Absent attributes have no value to differ.
            (r#"nickName ne "x""#, false),
            (r#"not (nickName eq "x")"#, true),
            (r#"addresses.locality ne "x""#, false),
            (r#"emails.display ne "x""#, false),
            (r#"manager.displayName ne "x""#, false),
            (r#"manager.value ne "m1""#, false),
            (r#"manager.value ne "m2""#, true),
        ] {
            check(filter, expected);
        }
    }

    #[test]
    fn long_chains_cost_no_stack() {
        let mut chain = String::from(r#"title eq "x""#);
        while chain.len() + 18 <= scim_filter::MAX_INPUT_LEN {
            chain.push_str(r#" or title eq "x""#);
        }
        let filter = scim_filter::parse_filter(&chain).unwrap();
        assert_eq!(matches(ResourceKind::User, &bjensen(), &filter), Ok(false));
        let deep = (0..3000).fold(Filter::Present(AttrPath::new("title")), |acc, _| {
            Filter::And(Box::new(acc), Box::new(Filter::Present(AttrPath::new("userName"))))
        });
        assert_eq!(matches(ResourceKind::User, &bjensen(), &deep), Ok(true));
    }
}
