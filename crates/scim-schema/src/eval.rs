//! In-memory filter evaluation with SCIM semantics (RFC 7644 section 3.4.2.2).
//!
//! The grammar crate knows shapes; this module knows meaning, because meaning depends on the
//! schema: whether a string compares with or without case (`caseExact`), whether a string is a
//! date-time, and that a filter on a multi-valued attribute matches when any value does. A
//! complex multi-valued attribute named without a sub-attribute (`emails co "x"`) is compared by
//! its `value` sub-attribute.
//!
//! Two choices the RFC leaves open: `ne` is the negation of `eq` (a user none of whose emails is
//! `x` satisfies `emails ne "x"`), and `attr eq null` holds when the attribute has no value.

use std::cmp::Ordering;

use scim_filter::{AttrPath, CompValue, CompareOp, Filter};
use serde_json::Value;

use crate::definition::{Attribute, COMMON_SCHEMA, ResourceKind, Type};
use crate::error::{Error, ErrorKind, Result};

/// Whether `resource`, a resource as rendered (with `id`, `meta` and any memberships), satisfies
/// `filter`.
pub fn matches(kind: ResourceKind, resource: &Value, filter: &Filter) -> Result<bool> {
    eval(Scope::Resource(kind), resource, filter)
}

/// Whether `element`, one value of the multi-valued complex attribute `def`, satisfies `filter`
/// (the inside of a value path such as `emails[type eq "work"]`).
pub fn element_matches(def: &'static Attribute, element: &Value, filter: &Filter) -> Result<bool> {
    eval(Scope::Complex(def), element, filter)
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
/// and its definition. Unqualified names are looked up in the core schema, then the common
/// attributes, then the extensions.
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

/// The scalar values a path names, with the definition that types them.
fn leaves<'v>(scope: Scope, value: &'v Value, path: &AttrPath) -> Result<(&'static Attribute, Vec<&'v Value>)> {
    let (def, top) = lookup(scope, value, path)?;
    let items: Vec<&Value> = match top {
        None => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
    };
    let sub_name = match (&path.sub_attr, def.kind) {
        (Some(sub), _) => Some(sub.as_str()),
        (None, Type::Complex) => Some("value"),
        (None, _) => None,
    };
    let Some(sub_name) = sub_name else { return Ok((def, items)) };
    let sub = def.sub(sub_name).ok_or_else(|| invalid(format!("{} has no sub-attribute {sub_name}", def.name)))?;
    Ok((sub, items.into_iter().filter_map(|item| field(item, sub.name)).collect()))
}

fn eval(scope: Scope, value: &Value, filter: &Filter) -> Result<bool> {
    match filter {
        Filter::And(a, b) => Ok(eval(scope, value, a)? && eval(scope, value, b)?),
        Filter::Or(a, b) => Ok(eval(scope, value, a)? || eval(scope, value, b)?),
        Filter::Not(inner) => Ok(!eval(scope, value, inner)?),
        Filter::Present(path) => Ok(leaves(scope, value, path)?.1.into_iter().any(is_present)),
        Filter::Compare { path, op, value: literal } => {
            let (def, values) = leaves(scope, value, path)?;
            match op {
                CompareOp::Ne => Ok(!any_compare(def, &values, CompareOp::Eq, literal)?),
                _ => any_compare(def, &values, *op, literal),
            }
        }
        Filter::ValuePath { attr, filter } => {
            let (def, top) = lookup(scope, value, attr)?;
            if def.kind != Type::Complex || !matches!(scope, Scope::Resource(_)) {
                return Err(invalid(format!("{attr} is not a complex attribute")));
            }
            let items: Vec<&Value> = match top {
                None => Vec::new(),
                Some(Value::Array(items)) => items.iter().collect(),
                Some(one) => vec![one],
            };
            if items.is_empty() {
                // Validate the inner filter even with nothing to match.
                eval(Scope::Complex(def), &Value::Object(serde_json::Map::new()), filter)?;
            }
            for item in items {
                if eval(Scope::Complex(def), item, filter)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
    }
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

fn any_compare(def: &Attribute, values: &[&Value], op: CompareOp, literal: &CompValue) -> Result<bool> {
    if let CompValue::Null = literal {
        return match op {
            CompareOp::Eq => Ok(!values.iter().any(|v| is_present(v))),
            _ => Err(invalid(format!("{} cannot be compared with null by {op}", def.name))),
        };
    }
    for value in values {
        if compare(def, value, op, literal)? {
            return Ok(true);
        }
    }
    // Operators that make no sense for the literal are refused even when there is nothing to
    // compare, so a filter's validity never depends on the data.
    check_operator(def, op, literal)?;
    Ok(false)
}

fn check_operator(def: &Attribute, op: CompareOp, literal: &CompValue) -> Result<()> {
    let ordered = matches!(op, CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le);
    let substring = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
    let bad = match literal {
        CompValue::Bool(_) => ordered || substring,
        CompValue::Number(_) => substring,
        CompValue::Str(_) => def.kind == Type::Boolean && (ordered || substring),
        CompValue::Null => false,
    };
    if bad { Err(invalid(format!("{op} does not apply to {literal} on {}", def.name))) } else { Ok(()) }
}

fn compare(def: &Attribute, value: &Value, op: CompareOp, literal: &CompValue) -> Result<bool> {
    check_operator(def, op, literal)?;
    let ordering = match (value, literal) {
        (Value::Bool(b), CompValue::Bool(l)) => Some(b.cmp(l)),
        // A boolean attribute compared with "true"/"false" text, as some clients send it.
        (Value::Bool(b), CompValue::Str(s)) if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") => {
            Some(b.cmp(&s.eq_ignore_ascii_case("true")))
        }
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
                return Ok(string_compare(def.case_exact, s, op, l));
            }
        }
        _ => None,
    };
    let Some(ordering) = ordering else { return Ok(false) };
    Ok(match op {
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::Ne => ordering != Ordering::Equal,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    })
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
        check(r#"emails.value ne "babs@jensen.org""#, false);
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
}
