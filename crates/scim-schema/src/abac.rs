//! Attributes for access control: session tags taken from a stored user, as AWS IAM Identity
//! Center derives them from its identity store and sends them in SAML assertions.
//!
//! An administrator maps up to [`MAX_ATTRIBUTES`] tag keys to one source expression each,
//! `${path:...}` naming a value of the user (`${path:enterprise.department}`,
//! `${path:emails[primary eq true].value}`). The limits are AWS's: a key is 1-128 characters of
//! `[\p{L}\p{Z}\p{N}_.:/=+\-@]`, a source at most 256 characters, and a resolved value, which
//! becomes an STS session tag, 0-256 characters of the same set.
//!
//! Paths are parsed by `scim_filter::parse_path`, resolved with [`eval::resolve`] and their value
//! filters evaluated with [`eval::element_matches`]: the rules of filters and PATCH, not a second
//! path language. AWS's shorthand `enterprise.` stands for the enterprise extension's URN.
//! Any path that names one single-valued string, boolean or number of a User is accepted; the
//! paths AWS documents are listed in [`IDENTITY_CENTER_SOURCES`].
//!
//! ```
//! use scim_schema::abac::{AccessControl, resolve_tags, saml_attribute_statement};
//! use serde_json::json;
//!
//! let rules = AccessControl::parse(&[("CostCenter", "${path:enterprise.costCenter}")]).unwrap();
//! let user = json!({"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"costCenter": "blue"}});
//! let resolved = resolve_tags(&rules, &user);
//! assert_eq!(resolved.tags, [("CostCenter".to_owned(), "blue".to_owned())]);
//! assert!(saml_attribute_statement(&resolved.tags).unwrap().contains("AccessControl:CostCenter"));
//! ```

use std::fmt::Write as _;

use scim_filter::PatchPath;
use serde_json::Value;

use crate::definition::{Attribute, ENTERPRISE_USER, ResourceKind, Returned, Type};
use crate::error::{Error, ErrorKind, Result};
use crate::eval;

/// The most attributes for access control a tenant may configure (AWS's SAML limit).
pub const MAX_ATTRIBUTES: usize = 50;
/// The longest tag key, in characters.
pub const MAX_KEY_CHARS: usize = 128;
/// The longest source expression, in characters.
pub const MAX_SOURCE_CHARS: usize = 256;
/// The longest resolved value (an STS session tag value), in characters.
pub const MAX_VALUE_CHARS: usize = 256;
/// The SAML attribute name of a tag is this prefix followed by the key.
pub const SAML_NAME_PREFIX: &str = "https://aws.amazon.com/SAML/Attributes/AccessControl:";
/// The SAML `NameFormat` of each attribute ("URI reference", as Okta calls it).
pub const SAML_NAME_FORMAT: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri";

/// The source expressions AWS IAM Identity Center documents for SCIM-provisioned users.
pub const IDENTITY_CENTER_SOURCES: &[&str] = &[
    "${path:userName}",
    "${path:name.familyName}",
    "${path:name.givenName}",
    "${path:displayName}",
    "${path:nickName}",
    "${path:emails[primary eq true].value}",
    "${path:addresses[type eq \"work\"].streetAddress}",
    "${path:addresses[type eq \"work\"].locality}",
    "${path:addresses[type eq \"work\"].region}",
    "${path:addresses[type eq \"work\"].postalCode}",
    "${path:addresses[type eq \"work\"].country}",
    "${path:addresses[type eq \"work\"].formatted}",
    "${path:phoneNumbers[type eq \"work\"].value}",
    "${path:userType}",
    "${path:title}",
    "${path:locale}",
    "${path:timezone}",
    "${path:enterprise.employeeNumber}",
    "${path:enterprise.costCenter}",
    "${path:enterprise.organization}",
    "${path:enterprise.division}",
    "${path:enterprise.department}",
    "${path:enterprise.manager.value}",
];

fn invalid(detail: String) -> Error {
    Error::new(ErrorKind::InvalidValue, detail)
}

/// Whether `c` belongs to STS's tag character set `[\p{L}\p{Z}\p{N}_.:/=+\-@]`.
///
/// `\p{L}` is approximated by [`char::is_alphabetic`] (which also admits combining marks of
/// alphabetic scripts); `\p{Z}` is the space, line and paragraph separators.
pub fn is_tag_char(c: char) -> bool {
    let separator = matches!(
        c,
        ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    );
    c.is_alphabetic() || c.is_numeric() || separator || "_.:/=+-@".contains(c)
}

/// Checks a tag key: 1-128 characters of the tag set.
pub fn check_key(key: &str) -> Result<()> {
    let chars = key.chars().count();
    if chars == 0 || chars > MAX_KEY_CHARS {
        return Err(invalid(format!("a tag key must be 1 to {MAX_KEY_CHARS} characters, not {chars}")));
    }
    if let Some(bad) = key.chars().find(|c| !is_tag_char(*c)) {
        return Err(invalid(format!(
            "the tag key {key:?} holds {bad:?}, outside [\\p{{L}}\\p{{Z}}\\p{{N}}_.:/=+\\-@]"
        )));
    }
    Ok(())
}

/// A checked source expression: its text and the path it names on a User.
#[derive(Debug, Clone)]
pub struct Source {
    /// The expression as written, e.g. `${path:name.givenName}`.
    pub text: String,
    path: PatchPath,
    container: Option<&'static str>,
    def: &'static Attribute,
    leaf: Option<&'static Attribute>,
}

impl Source {
    /// Parses and checks one source expression: exactly `${path:PATH}`, at most 256 characters,
    /// `PATH` naming one single-valued simple value of a User (a multi-valued attribute needs a
    /// value filter, e.g. `emails[primary eq true].value`).
    pub fn parse(text: &str) -> Result<Source> {
        let chars = text.chars().count();
        if chars == 0 || chars > MAX_SOURCE_CHARS {
            return Err(invalid(format!("a source must be 1 to {MAX_SOURCE_CHARS} characters, not {chars}")));
        }
        let inner = text
            .strip_prefix("${path:")
            .and_then(|rest| rest.strip_suffix('}'))
            .ok_or_else(|| invalid(format!("the source {text:?} is not one expression ${{path:ATTRIBUTE}}")))?;
        let expanded = match inner.get(..11) {
            Some(prefix) if prefix.eq_ignore_ascii_case("enterprise.") => format!("{ENTERPRISE_USER}:{}", &inner[11..]),
            _ => inner.to_owned(),
        };
        let path = scim_filter::parse_path(&expanded)
            .map_err(|e| invalid(format!("the source {text:?} is not an attribute path: {e}")))?;
        let (container, def) = eval::resolve(ResourceKind::User, &path.attr)
            .map_err(|e| invalid(format!("the source {text:?} names no user attribute: {}", e.detail)))?;
        if def.returned == Returned::Never {
            return Err(invalid(format!("the source {text:?} names {}, which is never returned", def.name)));
        }
        let leaf = match (&path.attr.sub_attr, def.kind) {
            (Some(sub), Type::Complex) => {
                Some(def.sub(sub).ok_or_else(|| invalid(format!("the source {text:?}: {} has no {sub}", def.name)))?)
            }
            (Some(_), _) => return Err(invalid(format!("the source {text:?}: {} has no sub-attributes", def.name))),
            (None, Type::Complex) => {
                return Err(invalid(format!("the source {text:?} names {}, a structure, not a value", def.name)));
            }
            (None, _) => None,
        };
        if let Some(filter) = &path.filter {
            if !(def.multi_valued && def.kind == Type::Complex) {
                return Err(invalid(format!("the source {text:?} filters {}, which is not a list", def.name)));
            }
            // Checks the filter against the attribute whatever the data, as filters are checked.
            eval::element_matches(def, &Value::Null, filter)
                .map_err(|e| invalid(format!("the source {text:?} has a bad filter: {}", e.detail)))?;
        } else if def.multi_valued {
            return Err(invalid(format!(
                "the source {text:?} names {}, which holds many values: pick one with a filter such as [primary eq true]",
                def.name
            )));
        }
        if leaf.unwrap_or(def).multi_valued || matches!(leaf.unwrap_or(def).kind, Type::Complex | Type::Binary) {
            return Err(invalid(format!("the source {text:?} does not name a single value")));
        }
        Ok(Source { text: text.to_owned(), path, container, def, leaf })
    }

    /// The value this source names on `user` (a stored or rendered User), if it has one.
    ///
    /// Strings are taken as they are, booleans and numbers as their JSON text; a list filtered
    /// by a value filter gives its first matching element.
    pub fn value(&self, user: &Value) -> Option<String> {
        let holder = match self.container {
            Some(urn) => field(user, urn)?,
            None => user,
        };
        let top = field(holder, self.def.name)?;
        let element = match &self.path.filter {
            Some(filter) => {
                let items = match top {
                    Value::Array(items) => items.as_slice(),
                    one => std::slice::from_ref(one),
                };
                items.iter().find(|item| eval::element_matches(self.def, item, filter).unwrap_or(false))?
            }
            None => top,
        };
        let value = match self.leaf {
            Some(leaf) => field(element, leaf.name)?,
            None => element,
        };
        match value {
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// A member of a JSON object by exact name, else ignoring ASCII case.
fn field<'v>(value: &'v Value, name: &str) -> Option<&'v Value> {
    let object = value.as_object()?;
    object.get(name).or_else(|| object.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

impl PartialEq for Source {
    /// Two sources are equal when written alike.
    fn eq(&self, other: &Source) -> bool {
        self.text == other.text
    }
}

/// A tenant's checked attributes for access control, in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AccessControl {
    /// Each tag key with its source.
    pub attributes: Vec<(String, Source)>,
}

impl AccessControl {
    /// Checks a whole configuration: at most [`MAX_ATTRIBUTES`], each key valid and unique
    /// ignoring case (as STS compares keys), each source valid.
    pub fn parse<K: AsRef<str>, S: AsRef<str>>(pairs: &[(K, S)]) -> Result<AccessControl> {
        if pairs.len() > MAX_ATTRIBUTES {
            return Err(Error::new(
                ErrorKind::TooMany,
                format!("at most {MAX_ATTRIBUTES} attributes for access control, not {}", pairs.len()),
            ));
        }
        let mut attributes: Vec<(String, Source)> = Vec::with_capacity(pairs.len());
        for (key, source) in pairs {
            let key = key.as_ref();
            check_key(key)?;
            if attributes.iter().any(|(k, _)| k.to_lowercase() == key.to_lowercase()) {
                return Err(Error::new(ErrorKind::InvalidValue, format!("the tag key {key:?} is given twice")));
            }
            attributes.push((key.to_owned(), Source::parse(source.as_ref())?));
        }
        Ok(AccessControl { attributes })
    }
}

/// One user's tags, and the keys left out with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvedTags {
    /// `(key, value)` in configuration order: the session tags.
    pub tags: Vec<(String, String)>,
    /// `(key, reason)` of the tags omitted: no value, or a value STS would refuse.
    pub omitted: Vec<(String, String)>,
}

/// Resolves every attribute of `rules` on `user`.
///
/// A tag whose source has no value is omitted, and so is one whose value breaks STS's session
/// tag limits (longer than [`MAX_VALUE_CHARS`] or outside the tag character set): AWS would
/// refuse the whole sign-in, so the tag is dropped and the reason reported instead.
pub fn resolve_tags(rules: &AccessControl, user: &Value) -> ResolvedTags {
    let mut out = ResolvedTags::default();
    for (key, source) in &rules.attributes {
        match source.value(user) {
            None => out.omitted.push((key.clone(), "the user has no value for this source".into())),
            Some(value) if value.chars().count() > MAX_VALUE_CHARS => {
                out.omitted.push((key.clone(), format!("the value is longer than {MAX_VALUE_CHARS} characters")))
            }
            Some(value) if !value.chars().all(is_tag_char) => out
                .omitted
                .push((key.clone(), "the value holds characters outside [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]".into())),
            Some(value) => out.tags.push((key.clone(), value)),
        }
    }
    out
}

/// Escapes `text` for an XML attribute value or text node.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all, even escaped, are replaced.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The SAML `<saml:AttributeStatement>` carrying `tags`, one `<saml:Attribute>` per tag with a
/// single `<saml:AttributeValue>`; `None` when there is no tag (SAML requires a statement to hold
/// at least one attribute).
pub fn saml_attribute_statement(tags: &[(String, String)]) -> Option<String> {
    if tags.is_empty() {
        return None;
    }
    let mut out = String::from("<saml:AttributeStatement>\n");
    for (key, value) in tags {
        let _ = write!(
            out,
            "  <saml:Attribute Name=\"{}\" NameFormat=\"{SAML_NAME_FORMAT}\">\n    <saml:AttributeValue>{}</saml:AttributeValue>\n  </saml:Attribute>\n",
            xml_escape(&format!("{SAML_NAME_PREFIX}{key}")),
            xml_escape(value)
        );
    }
    out.push_str("</saml:AttributeStatement>");
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use serde_json::json;

    use super::*;

    fn user() -> Value {
        json!({
            "userName": "jdoe@example.com",
            "name": {"givenName": "Jane", "familyName": "Doe"},
            "displayName": "Jane Doe",
            "title": "Engineer",
            "active": true,
            "emails": [{"value": "other@example.com", "primary": false}, {"value": "jdoe@example.com", "primary": true}],
            "addresses": [{"type": "home", "locality": "Lyon"}, {"type": "work", "locality": "Paris", "country": "FR"}],
            "phoneNumbers": [{"type": "work", "value": "+33 1 23 45 67 89"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "department": "R&D", "costCenter": "blue", "manager": {"value": "boss-id"}
            }
        })
    }

    fn value(source: &str) -> Option<String> {
        Source::parse(source).unwrap().value(&user())
    }

    #[test]
    fn every_documented_source_is_accepted() {
        for source in IDENTITY_CENTER_SOURCES {
            Source::parse(source).unwrap_or_else(|e| panic!("{source}: {}", e.detail));
        }
    }

    #[test]
    fn sources_resolve_on_a_stored_user() {
        for (source, expected) in [
            ("${path:userName}", Some("jdoe@example.com")),
            ("${path:name.givenName}", Some("Jane")),
            ("${path:emails[primary eq true].value}", Some("jdoe@example.com")),
            ("${path:addresses[type eq \"work\"].locality}", Some("Paris")),
            ("${path:addresses[type eq \"work\"].region}", None),
            ("${path:phoneNumbers[type eq \"work\"].value}", Some("+33 1 23 45 67 89")),
            ("${path:enterprise.department}", Some("R&D")),
            ("${path:enterprise.costCenter}", Some("blue")),
            ("${path:enterprise.manager.value}", Some("boss-id")),
            ("${path:urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter}", Some("blue")),
            ("${path:active}", Some("true")),
            ("${path:nickName}", None),
            ("${path:enterprise.division}", None),
        ] {
            assert_eq!(value(source).as_deref(), expected, "{source}");
        }
    }

    #[test]
    fn bad_sources_are_refused() {
        for source in [
            "",
            "userName",
            "${path:userName} ",
            "x${path:userName}",
            "${path:userName}${path:title}",
            "${path:nope}",
            "${path:emails.value}",
            "${path:emails}",
            "${path:name}",
            "${path:password}",
            "${path:userName[type eq \"x\"]}",
            "${path:emails[nope eq \"x\"].value}",
            "${path:name.nope}",
            "${path:enterprise.manager}",
            &format!("${{path:{}}}", "a".repeat(250)),
        ] {
            assert!(Source::parse(source).is_err(), "{source:?} accepted");
        }
    }

    #[test]
    fn keys_follow_sts_limits() {
        for ok in ["Department", "cost-center", "a", "é_ü.:/=+-@ 1", &"k".repeat(128), "部署"] {
            check_key(ok).unwrap_or_else(|e| panic!("{ok}: {}", e.detail));
        }
        for bad in ["", &"k".repeat(129), "a<b", "a,b", "tab\t", "quote\"", "a&b"] {
            assert!(check_key(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn configurations_hold_at_most_50_unique_keys() {
        let fifty: Vec<(String, &str)> = (0..50).map(|i| (format!("k{i}"), "${path:userName}")).collect();
        assert_eq!(AccessControl::parse(&fifty).unwrap().attributes.len(), 50);
        let mut fifty_one = fifty.clone();
        fifty_one.push(("k50".into(), "${path:userName}"));
        assert_eq!(AccessControl::parse(&fifty_one).unwrap_err().kind, ErrorKind::TooMany);
        assert!(AccessControl::parse(&[("Dept", "${path:title}"), ("dept", "${path:title}")]).is_err());
    }

    #[test]
    fn tags_omit_missing_and_oversized_values() {
        let rules = AccessControl::parse(&[
            ("Given", "${path:name.givenName}"),
            ("Nick", "${path:nickName}"),
            ("Dept", "${path:enterprise.department}"),
            ("Title", "${path:title}"),
        ])
        .unwrap();
        let mut u = user();
        u["title"] = json!("t".repeat(257));
        let resolved = resolve_tags(&rules, &u);
        assert_eq!(resolved.tags, [("Given".to_owned(), "Jane".to_owned())]);
        let omitted: Vec<&str> = resolved.omitted.iter().map(|(k, _)| k.as_str()).collect();
        // R&D holds '&', outside STS's tag characters.
        assert_eq!(omitted, ["Nick", "Dept", "Title"]);
        u["title"] = json!("t".repeat(256));
        assert_eq!(resolve_tags(&rules, &u).tags.len(), 2);
    }

    #[test]
    fn saml_fragment_is_one_attribute_per_tag_escaped() {
        assert_eq!(saml_attribute_statement(&[]), None);
        let xml =
            saml_attribute_statement(&[("CostCenter".into(), "blue".into()), ("Who".into(), "a<b & \"c\" 'd'".into())])
                .unwrap();
        assert_eq!(
            xml,
            "<saml:AttributeStatement>\n  <saml:Attribute Name=\"https://aws.amazon.com/SAML/Attributes/AccessControl:CostCenter\" NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:uri\">\n    <saml:AttributeValue>blue</saml:AttributeValue>\n  </saml:Attribute>\n  <saml:Attribute Name=\"https://aws.amazon.com/SAML/Attributes/AccessControl:Who\" NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:uri\">\n    <saml:AttributeValue>a&lt;b &amp; &quot;c&quot; &apos;d&apos;</saml:AttributeValue>\n  </saml:Attribute>\n</saml:AttributeStatement>"
        );
        assert_eq!(xml_escape("a\u{1}b\n"), "a\u{FFFD}b\n");
    }
}
