//! Input validation: a client's JSON body becomes a canonical [`Resource`], or an [`Error`].
//!
//! Two steps, both shared by POST, PUT and PATCH. [`normalize`] gives one attribute value its
//! canonical shape: attribute names in their schema spelling, string booleans turned into
//! booleans, nulls and empty lists dropped.
//! [`check`] then applies the profile's rules to the whole resource. PATCH edits an already
//! canonical resource and runs [`check`] again, so no write can produce what a POST could not.
//!
//! A value must have the shape its schema gives it (RFC 7643 sections 2.3 and 2.4), or it is
//! refused with `invalidValue`, never reshaped into what the client may not have meant: a
//! multi-valued attribute is a JSON array (`"emails": {...}` and `"emails": "a@x"` are
//! refused), each value of a complex one an object, a single-valued attribute never an array,
//! and `schemas` an array of strings (`invalidSyntax` otherwise).
//! The one variant tolerated is a rule of the profile, for what identity providers really send
//! ([`Profile::bare_single_values`]): identity-center takes the enterprise `manager` as a bare
//! id, an object, or a list of one, as Microsoft Entra ID sends it, and stores `{"value": id}`.

use serde_json::{Map, Value};

use crate::definition::{Attribute, COMMON_SCHEMA, ResourceKind, Type};
use crate::error::{Error, ErrorKind, Result};
use crate::profile::Profile;

/// A resource as a client may write it, in canonical form.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Resource {
    /// The attributes, keyed by canonical name; an extension's attributes sit in an object under
    /// the extension's URN. Never holds `id`, `meta`, `schemas`, `members` or `groups`.
    pub attrs: Map<String, Value>,
    /// A Group's members from the body, in order and without duplicates.
    pub members: Vec<MemberRef>,
}

/// One member named in a Group body or PATCH value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    /// The member's id.
    pub value: String,
    /// The member's declared type (`User` or `Group`), when given.
    pub kind: Option<String>,
}

impl Resource {
    /// The value the store keeps unique per tenant case-insensitively: `userName` of a User,
    /// `displayName` of a Group.
    pub fn name(&self, kind: ResourceKind) -> &str {
        let key = match kind {
            ResourceKind::User => "userName",
            ResourceKind::Group => "displayName",
        };
        self.attrs.get(key).and_then(Value::as_str).unwrap_or("")
    }

    /// `externalId`, when set.
    pub fn external_id(&self) -> Option<&str> {
        self.attrs.get("externalId").and_then(Value::as_str)
    }

    /// The value of the email marked primary, when there is one.
    pub fn primary_email(&self) -> Option<&str> {
        self.attrs.get("emails")?.as_array()?.iter().find_map(|email| {
            (email.get("primary") == Some(&Value::Bool(true))).then(|| email.get("value")?.as_str())?
        })
    }
}

/// Parses and validates a POST or PUT body.
pub fn parse(profile: &Profile, kind: ResourceKind, body: &Value) -> Result<Resource> {
    let object = body.as_object().ok_or_else(|| Error::syntax("the body must be a JSON object"))?;
    let schema = kind.schema();
    let mut resource = Resource::default();
    for (key, value) in object {
        if key.eq_ignore_ascii_case("schemas") {
            schemas(value)?;
            continue;
        }
        if value.is_null() {
            continue;
        }
        if let Some(extension) = kind.extension(key) {
            let fields =
                value.as_object().ok_or_else(|| Error::value(format!("{} must be an object", extension.id)))?;
            let mut canonical = Map::new();
            for (name, v) in fields {
                // Unknown extension attributes are ignored, like unknown core ones.
                if let Some(def) = extension.attribute(name)
                    && let Some(v) = normalize(profile, def, v)?
                {
                    canonical.insert(def.name.to_owned(), v);
                }
            }
            if !canonical.is_empty() {
                resource.attrs.insert(extension.id.to_owned(), Value::Object(canonical));
            }
            continue;
        }
        if kind == ResourceKind::Group && key.eq_ignore_ascii_case("members") {
            resource.members = members(profile, value, false)?;
            continue;
        }
        let Some(def) = schema.attribute(key).or_else(|| COMMON_SCHEMA.attribute(key)) else {
            // Unknown attributes and unknown schema URNs are ignored: clients send their own.
            continue;
        };
        if def.mutability == crate::definition::Mutability::ReadOnly {
            // Read-only values are ignored, but not in a shape the schema cannot hold.
            shape(def, value)?;
        }
        if kind == ResourceKind::User && def.name == "groups" {
            if profile.refuse_user_groups && value.as_array().is_some_and(|a| !a.is_empty()) {
                return Err(Error::new(ErrorKind::Mutability, "groups cannot be set on a User"));
            }
            continue;
        }
        if def.mutability == crate::definition::Mutability::ReadOnly {
            continue;
        }
        if let Some(v) = normalize(profile, def, value)? {
            if kind == ResourceKind::User && profile.refuses_user_attribute(def.name) {
                return Err(Error::value(format!("{} is not supported", def.name)));
            }
            // Write-only values (`password`) are accepted and never kept: this service provider
            // authenticates nobody, and a value it keeps is a value it can leak.
            if def.mutability != crate::definition::Mutability::WriteOnly {
                resource.attrs.insert(def.name.to_owned(), v);
            }
        }
    }
    if kind == ResourceKind::User && !resource.attrs.contains_key("active") {
        // A user created or replaced without `active` is active.
        resource.attrs.insert("active".to_owned(), Value::Bool(true));
    }
    check(profile, kind, &resource.attrs)?;
    Ok(resource)
}

/// Refuses a `schemas` member that is not an array of strings; `null` is absent. Which URNs it
/// lists is not checked: unknown ones are ignored, as clients send their own.
fn schemas(value: &Value) -> Result<()> {
    match value {
        Value::Null => Ok(()),
        Value::Array(items) if items.iter().all(Value::is_string) => Ok(()),
        _ => Err(Error::syntax("schemas must be a list of schema URNs")),
    }
}

/// Refuses a value whose shape the attribute cannot have, without reading it further: for the
/// read-only attributes a body may echo (`groups`, `meta`) and that are then ignored.
fn shape(def: &Attribute, value: &Value) -> Result<()> {
    let complex = def.kind == Type::Complex;
    let fits = match value {
        Value::Null => true,
        Value::Array(items) => def.multi_valued && (!complex || items.iter().all(|v| v.is_object() || v.is_null())),
        Value::Object(_) => complex && !def.multi_valued,
        _ => !complex && !def.multi_valued,
    };
    if fits { Ok(()) } else { Err(wrong_shape(def)) }
}

/// The error for a value of the wrong shape, naming the shape the schema wants.
fn wrong_shape(def: &Attribute) -> Error {
    let wanted = match (def.multi_valued, def.kind == Type::Complex) {
        (true, true) => "a list of objects",
        (true, false) => "a list",
        (false, true) => "an object",
        (false, false) => "a single value, not a list",
    };
    let valued = if def.multi_valued { "multi-valued" } else { "single-valued" };
    Error::value(format!("{} is {valued}: it must be {wanted}", def.name))
}

/// Gives one attribute value its canonical shape; `None` means "no value".
///
/// # Errors
///
/// `invalidValue` for a value of the wrong type or shape (see the module documentation).
pub fn normalize(profile: &Profile, def: &Attribute, value: &Value) -> Result<Option<Value>> {
    if value.is_null() {
        return Ok(None);
    }
    if def.multi_valued {
        let Value::Array(items) = value else { return Err(wrong_shape(def)) };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(v) = single(profile, def, item)? {
                out.push(v);
            }
        }
        return Ok((!out.is_empty()).then_some(Value::Array(out)));
    }
    match value {
        // A list of at most one for a single-valued attribute (Entra's manager) is its element.
        Value::Array(items) if items.len() <= 1 && bare_allowed(profile, def) => match items.first() {
            Some(item) => single(profile, def, item),
            None => Ok(None),
        },
        Value::Array(_) => Err(wrong_shape(def)),
        other => single(profile, def, other),
    }
}

/// Whether the profile takes a bare value, or a list of one, for the single-valued complex
/// attribute `def` (the enterprise `manager`: the one with a `value` sub-attribute).
fn bare_allowed(profile: &Profile, def: &Attribute) -> bool {
    profile.bare_single_values && !def.multi_valued && def.kind == Type::Complex && def.sub("value").is_some()
}

/// One value (one element of a multi-valued attribute).
fn single(profile: &Profile, def: &Attribute, value: &Value) -> Result<Option<Value>> {
    if value.is_null() {
        return Ok(None);
    }
    if def.kind != Type::Complex {
        return scalar(def, value).map(Some);
    }
    let fields = match value {
        Value::Object(fields) => fields,
        // A bare value for the complex attribute's `value` sub-attribute: `"manager": "id"`.
        Value::String(_) | Value::Bool(_) | Value::Number(_) if bare_allowed(profile, def) => {
            let mut fields = Map::new();
            fields.insert("value".to_owned(), value.clone());
            return single(profile, def, &Value::Object(fields));
        }
        _ if def.multi_valued => {
            return Err(Error::value(format!("each value of {} must be an object", def.name)));
        }
        _ => return Err(wrong_shape(def)),
    };
    let mut out = Map::new();
    for (name, v) in fields {
        let Some(sub) = def.sub(name) else { continue };
        if sub.mutability == crate::definition::Mutability::ReadOnly || profile.drops(def.name, sub.name) {
            continue;
        }
        if v.is_null() {
            continue;
        }
        out.insert(
            sub.name.to_owned(),
            scalar(sub, v).map_err(|e| Error::value(format!("{}.{}", def.name, e.detail)))?,
        );
    }
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}

/// A scalar of the attribute's type; booleans also from `"true"`/`"False"` strings.
fn scalar(def: &Attribute, value: &Value) -> Result<Value> {
    let wrong = || Error::value(format!("{} must be a {}", def.name, def.kind.name()));
    match def.kind {
        Type::Boolean => match value {
            Value::Bool(_) => Ok(value.clone()),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            _ => Err(wrong()),
        },
        Type::Integer if value.as_i64().is_some() => Ok(value.clone()),
        Type::Decimal if value.is_number() => Ok(value.clone()),
        Type::DateTime => match value.as_str() {
            Some(s) if crate::time::parse_datetime(s).is_some() => Ok(value.clone()),
            _ => Err(wrong()),
        },
        // U+0000 is no character of any real attribute, and PostgreSQL text cannot hold it:
        // refused on every backend, so both store the same values.
        Type::String | Type::Binary | Type::Reference(_) => match value.as_str() {
            Some(s) if s.contains('\0') => Err(Error::value(format!("{} must not contain U+0000", def.name))),
            Some(_) => Ok(value.clone()),
            None => Err(wrong()),
        },
        _ => Err(wrong()),
    }
}

/// Parses a Group's `members` value: a list of member objects, or, when `lone` (a PATCH whose
/// path names `members` may add a single value, RFC 7644 section 3.5.2.1), one member object.
///
/// # Errors
///
/// `invalidValue` for anything else, as for a body's `"members": {...}`.
pub fn members(profile: &Profile, value: &Value, lone: bool) -> Result<Vec<MemberRef>> {
    let items: Vec<&Value> = match value {
        Value::Null => Vec::new(),
        Value::Array(items) => items.iter().filter(|v| !v.is_null()).collect(),
        single if lone => vec![single],
        _ => return Err(Error::value("members is multi-valued: it must be a list")),
    };
    if let Some(max) = profile.max_member_changes
        && items.len() > max
    {
        return Err(Error::new(ErrorKind::TooMany, format!("{} members in one request; at most {max}", items.len())));
    }
    let mut out: Vec<MemberRef> = Vec::with_capacity(items.len());
    for item in items {
        let fields = item.as_object().ok_or_else(|| Error::value("a member must be an object"))?;
        let field = |name: &str| fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
        let id = match field("value") {
            Some(Value::String(id)) if !id.trim().is_empty() && !id.contains('\0') => id.clone(),
            _ => return Err(Error::value("a member needs a non-empty string value")),
        };
        let kind = match field("type") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) if t.eq_ignore_ascii_case("User") => Some("User".to_owned()),
            Some(Value::String(t)) if t.eq_ignore_ascii_case("Group") && profile.nested_groups => {
                Some("Group".to_owned())
            }
            Some(other) => return Err(Error::value(format!("member type {other} is not supported"))),
        };
        if !out.iter().any(|m| m.value == id) {
            out.push(MemberRef { value: id, kind });
        }
    }
    Ok(out)
}

/// Applies the profile's rules to a canonical resource.
pub fn check(profile: &Profile, kind: ResourceKind, attrs: &Map<String, Value>) -> Result<()> {
    if let Some(max) = profile.max_resource_bytes {
        let size = serde_json::to_vec(attrs).map(|bytes| bytes.len()).unwrap_or(usize::MAX);
        if size > max {
            return Err(Error::value(format!("the resource takes {size} bytes; at most {max}")));
        }
    }
    let schema = kind.schema();
    for (name, value) in attrs {
        let def = match kind.extension(name) {
            Some(extension) => {
                for (sub_name, sub_value) in value.as_object().into_iter().flatten() {
                    if let Some(def) = extension.attribute(sub_name) {
                        strings(profile, def, sub_value)?;
                    }
                }
                continue;
            }
            None => schema.attribute(name).or_else(|| COMMON_SCHEMA.attribute(name)),
        };
        let Some(def) = def else { continue };
        if kind == ResourceKind::User && profile.refuses_user_attribute(def.name) {
            return Err(Error::value(format!("{} is not supported", def.name)));
        }
        strings(profile, def, value)?;
        if let Value::Array(items) = value {
            if let Some(max) = profile.max_values
                && items.len() > max
            {
                return Err(Error::value(format!("{} holds {} values; at most {max} allowed", def.name, items.len())));
            }
            let primaries = items.iter().filter(|v| v.get("primary") == Some(&Value::Bool(true))).count();
            if primaries > 1 {
                return Err(Error::value(format!("{} has more than one primary value", def.name)));
            }
        }
    }
    for def in schema.attributes.iter().filter(|a| a.required) {
        required(attrs, def.name, None)?;
    }
    if kind == ResourceKind::User {
        for (name, sub) in profile.required_user_paths {
            required(attrs, name, *sub)?;
        }
        user_rules(profile, attrs)?;
    }
    Ok(())
}

fn required(attrs: &Map<String, Value>, name: &str, sub: Option<&str>) -> Result<()> {
    let mut value = attrs.get(name);
    if let Some(sub) = sub {
        value = value.and_then(|v| v.get(sub));
    }
    match value.and_then(Value::as_str) {
        Some(s) if !s.trim().is_empty() => Ok(()),
        _ => {
            let path = sub.map_or_else(|| name.to_owned(), |sub| format!("{name}.{sub}"));
            Err(Error::value(format!("{path} is required and must not be blank")))
        }
    }
}

fn user_rules(profile: &Profile, attrs: &Map<String, Value>) -> Result<()> {
    if let Some(user_name) = attrs.get("userName").and_then(Value::as_str) {
        if profile.max_user_name_len.is_some_and(|max| user_name.chars().count() > max) {
            return Err(Error::value("userName is too long"));
        }
        if profile.user_name_without_whitespace && user_name.chars().any(char::is_whitespace) {
            return Err(Error::value("userName must not contain whitespace"));
        }
    }
    let list = |name: &str| attrs.get(name).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    for email in list("emails") {
        if email.get("value").and_then(Value::as_str).is_none() {
            return Err(Error::value("an email needs a value"));
        }
        if profile.email_must_be_primary && email.get("primary") != Some(&Value::Bool(true)) {
            return Err(Error::value("the email must be marked primary"));
        }
    }
    if profile.complete_addresses {
        const PARTS: [&str; 5] = ["streetAddress", "locality", "region", "postalCode", "country"];
        for address in list("addresses") {
            let present = PARTS.iter().filter(|p| address.get(**p).is_some()).count();
            if present != 0 && present != PARTS.len() {
                return Err(Error::value(
                    "an address with any of streetAddress, locality, region, postalCode, country needs all five",
                ));
            }
        }
    }
    Ok(())
}

/// The profile's string rules, applied to every string inside `value`.
fn strings(profile: &Profile, def: &Attribute, value: &Value) -> Result<()> {
    match value {
        Value::Array(items) => items.iter().try_for_each(|v| strings(profile, def, v)),
        Value::Object(fields) => fields.iter().try_for_each(|(name, v)| match def.sub(name) {
            Some(sub) => strings(profile, sub, v),
            None => Ok(()),
        }),
        Value::String(s) => {
            if profile.refuse_empty_strings && s.is_empty() {
                return Err(Error::value(format!("{} must not be empty", def.name)));
            }
            if profile.max_string_len.is_some_and(|max| s.chars().count() > max) {
                return Err(Error::value(format!("{} is too long", def.name)));
            }
            let is_uri = matches!(def.kind, Type::Reference(_));
            if !is_uri && let Some(c) = s.chars().find(|c| profile.forbidden_chars.contains(c)) {
                return Err(Error::value(format!("{} contains the forbidden character {c:?}", def.name)));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::profile::{IDENTITY_CENTER, RFC};

    fn user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "Test.User@okta.local",
            "name": {"givenName": "Test", "familyName": "User"},
            "displayName": "Test User",
            "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
        })
    }

    fn with(mut base: Value, key: &str, value: Value) -> Value {
        base.as_object_mut().unwrap().insert(key.to_owned(), value);
        base
    }

    fn ic(body: &Value) -> Result<Resource> {
        parse(&IDENTITY_CENTER, ResourceKind::User, body)
    }

    #[test]
    fn okta_create_body_is_accepted_with_read_only_and_password_rules() {
        let okta = with(with(user(), "groups", json!([])), "externalId", json!("00ujl29u0le5T6Aj10h7"));
        let r = ic(&with(okta.clone(), "meta", json!({"resourceType": "User"}))).unwrap();
        assert_eq!(r.name(ResourceKind::User), "Test.User@okta.local");
        assert_eq!(r.external_id(), Some("00ujl29u0le5T6Aj10h7"));
        assert_eq!(r.primary_email(), Some("test.user@okta.local"));
        assert!(!r.attrs.contains_key("groups") && !r.attrs.contains_key("meta"));
        assert_eq!(ic(&with(okta, "password", json!("x"))).unwrap_err().kind, ErrorKind::InvalidValue);
    }

    #[test]
    fn required_names_and_blank_values() {
        for (key, value) in [("userName", json!(" ")), ("displayName", json!("")), ("name", json!({"givenName": "a"}))]
        {
            assert!(ic(&with(user(), key, value)).is_err(), "{key}");
        }
        let mut body = user();
        body.as_object_mut().unwrap().remove("displayName");
        assert!(ic(&body).is_err());
        assert!(parse(&RFC, ResourceKind::User, &body).is_ok());
    }

    #[test]
    fn identity_center_string_rules() {
        assert!(ic(&with(user(), "userName", json!("has space"))).is_err());
        assert!(ic(&with(user(), "userName", json!("x".repeat(129)))).is_err());
        assert!(ic(&with(user(), "userName", json!("x".repeat(128)))).is_ok());
        assert!(ic(&with(user(), "title", json!("y".repeat(1025)))).is_err());
        for c in ["<", ">", ";", ":", "%"] {
            assert!(ic(&with(user(), "title", json!(format!("a{c}b")))).is_err(), "{c}");
        }
        assert!(ic(&with(user(), "profileUrl", json!("https://x.example/a:b%20"))).is_ok());
    }

    #[test]
    fn single_values_primary_email_and_addresses() {
        let two = json!([{"value": "a@x", "primary": true}, {"value": "b@x"}]);
        assert!(ic(&with(user(), "emails", two.clone())).is_err());
        assert!(parse(&RFC, ResourceKind::User, &with(user(), "emails", two)).is_ok());
        assert!(ic(&with(user(), "emails", json!([{"value": "a@x"}]))).is_err());
        assert!(ic(&with(user(), "emails", json!([{"value": "a@x", "primary": "True"}]))).is_ok());
        assert!(ic(&with(user(), "addresses", json!([{"type": "work"}]))).is_ok());
        assert!(ic(&with(user(), "addresses", json!([{"locality": "Paris"}]))).is_err());
        let full =
            json!([{"streetAddress": "1 Main", "locality": "X", "region": "Y", "postalCode": "1", "country": "US"}]);
        assert!(ic(&with(user(), "addresses", full)).is_ok());
        assert!(ic(&with(user(), "roles", json!([]))).is_ok());
    }

    #[test]
    fn unsupported_attributes_and_non_empty_groups() {
        for key in ["entitlements", "ims", "photos", "x509Certificates"] {
            assert!(ic(&with(user(), key, json!([{"value": "v"}]))).is_err(), "{key}");
            assert!(ic(&with(user(), key, json!([]))).is_ok(), "{key} empty");
        }
        assert!(ic(&with(user(), "groups", json!([{"value": "g"}]))).is_err());
    }

    #[test]
    fn nulls_unknowns_and_string_booleans() {
        let body = with(with(with(user(), "title", Value::Null), "active", json!("False")), "foo", json!(1));
        let r = ic(&with(body, "addresses", Value::Null)).unwrap();
        assert_eq!(r.attrs["active"], json!(false));
        assert!(!r.attrs.contains_key("title") && !r.attrs.contains_key("foo"));
        assert!(ic(&with(user(), "active", json!("yes"))).is_err());
        assert!(ic(&with(user(), "userName", json!(5))).is_err());
        assert!(ic(&json!([1])).is_err());
    }

    #[test]
    fn enterprise_manager_forms_round_trip_to_one_shape() {
        let urn = crate::definition::ENTERPRISE_USER;
        for manager in
            [json!("m-1"), json!({"value": "m-1", "displayName": "Boss"}), json!([{"$ref": null, "value": "m-1"}])]
        {
            let body = with(user(), urn, json!({"department": "R&D", "manager": manager}));
            let r = ic(&body).unwrap();
            assert_eq!(r.attrs[urn], json!({"department": "R&D", "manager": {"value": "m-1"}}));
        }
    }

    /// RFC 7643 sections 2.3 and 2.4: every multi-valued attribute is a list (of objects, for a
    /// complex one), every single-valued one is not, and `schemas` is a list of strings.
    #[test]
    fn values_must_have_their_schema_shape_in_both_profiles() {
        let urn = crate::definition::ENTERPRISE_USER;
        let group = |key: &str, value: Value| json!({"displayName": "G", key: value});
        for profile in [&IDENTITY_CENTER, &RFC] {
            let user = |key: &str, value: Value| parse(profile, ResourceKind::User, &with(user(), key, value));
            for name in [
                "emails",
                "phoneNumbers",
                "ims",
                "photos",
                "addresses",
                "entitlements",
                "roles",
                "x509Certificates",
                "groups",
            ] {
                for bad in [json!({"value": "v"}), json!("v"), json!(["v"]), json!([["v"]]), json!(true)] {
                    let err = user(name, bad.clone()).unwrap_err();
                    assert_eq!(err.kind, ErrorKind::InvalidValue, "{}: {name} = {bad}", profile.name);
                }
            }
            for (name, bad) in [
                ("name", json!("Barbara Jensen")),
                ("name", json!([{"givenName": "B", "familyName": "J"}])),
                ("displayName", json!(["Babs"])),
                ("displayName", json!([])),
                ("userName", json!({"value": "a"})),
                ("active", json!([true])),
                ("meta", json!("x")),
                ("meta", json!([{"resourceType": "User"}])),
                ("id", json!(["x"])),
                (urn, json!("x")),
                (urn, json!({"department": ["R&D"]})),
                (urn, json!({"manager": {"value": ["m"]}})),
                (urn, json!({"manager": [{"value": "a"}, {"value": "b"}]})),
            ] {
                let err = user(name, bad.clone()).unwrap_err();
                assert_eq!(err.kind, ErrorKind::InvalidValue, "{}: {name} = {bad}", profile.name);
            }
            for bad in [json!({"value": "u1"}), json!("u1"), json!(["u1"]), json!(5)] {
                let err = parse(profile, ResourceKind::Group, &group("members", bad.clone())).unwrap_err();
                assert_eq!(err.kind, ErrorKind::InvalidValue, "{}: members = {bad}", profile.name);
            }
            for bad in [json!(crate::definition::USER), json!([1]), json!({"a": 1}), json!([[crate::definition::USER]])]
            {
                let err = user("schemas", bad.clone()).unwrap_err();
                assert_eq!(err.kind, ErrorKind::InvalidSyntax, "{}: schemas = {bad}", profile.name);
                let err = parse(profile, ResourceKind::Group, &group("schemas", bad.clone())).unwrap_err();
                assert_eq!(err.kind, ErrorKind::InvalidSyntax, "{}: group schemas = {bad}", profile.name);
            }
            // What is well shaped still passes: explicit nulls, empty lists, unknown URNs.
            for (name, good) in [
                ("schemas", json!(null)),
                ("schemas", json!(["urn:scim:schemas:core:2.0", crate::definition::USER])),
                ("emails", json!(null)),
                ("roles", json!([])),
                ("groups", json!([])),
                ("meta", json!({"resourceType": "User"})),
                ("emails", json!([null, {"value": "a@x", "primary": true}])),
            ] {
                assert!(user(name, good.clone()).is_ok(), "{}: {name} = {good}", profile.name);
            }
            assert!(parse(profile, ResourceKind::Group, &group("members", json!([]))).is_ok());
        }
    }

    /// identity-center keeps taking the enterprise `manager` as Microsoft Entra ID sends it (a
    /// bare id, an object, a list of one); rfc takes only the object RFC 7643 section 4.3 defines.
    #[test]
    fn manager_variants_are_a_profile_rule() {
        let urn = crate::definition::ENTERPRISE_USER;
        let body = |manager: Value| with(user(), urn, json!({"manager": manager}));
        for manager in [json!("m-1"), json!([{"$ref": null, "value": "m-1"}]), json!(["m-1"]), json!([])] {
            assert!(ic(&body(manager.clone())).is_ok(), "{manager}");
            let err = parse(&RFC, ResourceKind::User, &body(manager.clone())).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidValue, "{manager}");
        }
        let r = parse(&RFC, ResourceKind::User, &body(json!({"value": "m-1", "displayName": "Boss"}))).unwrap();
        assert_eq!(r.attrs[urn], json!({"manager": {"value": "m-1"}}));
    }

    #[test]
    fn display_sub_attributes_echoed_by_okta_are_dropped() {
        let body = with(user(), "emails", json!([{"primary": true, "value": "a@x", "display": "a@x"}]));
        assert_eq!(ic(&body).unwrap().attrs["emails"], json!([{"primary": true, "value": "a@x"}]));
    }

    #[test]
    fn write_only_values_are_accepted_and_never_kept() {
        let body = with(user(), "password", json!("s3cret-Passw0rd"));
        let r = parse(&RFC, ResourceKind::User, &body).unwrap();
        assert!(!r.attrs.contains_key("password"));
        assert!(!serde_json::to_string(&r.attrs).unwrap().contains("s3cret"));
        assert!(ic(&body).is_err(), "identity-center refuses it, as AWS does");
    }

    #[test]
    fn group_members() {
        let g = |members: Value| {
            parse(&IDENTITY_CENTER, ResourceKind::Group, &json!({"displayName": "G", "members": members}))
        };
        let r =
            g(json!([{"value": "u1", "display": "x"}, {"value": "u1"}, {"value": "u2", "$ref": null, "type": "User"}]))
                .unwrap();
        assert_eq!(r.members.iter().map(|m| m.value.as_str()).collect::<Vec<_>>(), ["u1", "u2"]);
        assert!(g(json!([{"value": "g", "type": "Group"}])).is_err());
        assert!(g(json!([{"display": "x"}])).is_err());
        let many: Vec<Value> = (0..101).map(|i| json!({"value": format!("u{i}")})).collect();
        assert_eq!(g(Value::Array(many)).unwrap_err().kind, ErrorKind::TooMany);
        assert!(parse(&IDENTITY_CENTER, ResourceKind::Group, &json!({"members": []})).is_err());
    }

    #[test]
    fn no_text_holds_u0000() {
        for body in [
            json!({"userName": "a\u{0}b"}),
            json!({"userName": "a", "emails": [{"value": "x\u{0}@example.com"}]}),
            json!({"userName": "a", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "\u{0}"}}),
        ] {
            let err = parse(&crate::profile::RFC, ResourceKind::User, &body).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidValue, "{body}");
        }
        let group = json!({"displayName": "g", "members": [{"value": "u\u{0}"}]});
        assert_eq!(parse(&crate::profile::RFC, ResourceKind::Group, &group).unwrap_err().kind, ErrorKind::InvalidValue);
    }
}
