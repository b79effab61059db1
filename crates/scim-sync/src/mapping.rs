//! The attribute map: how a source user becomes a target user.
//!
//! The map file is a JSON object from a target attribute path to a rule:
//!
//! - `"source.path"`: copy the value at that source path (nothing when the source has none);
//! - `{"template": "{name.givenName}.{name.familyName}@example.com"}`: a string computed from
//!   source values (nothing when one is missing);
//! - `{"value": ...}`: a constant;
//! - `null`: drop the attribute.
//!
//! Paths are SCIM attribute paths (`title`, `name.givenName`,
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`), parsed by the
//! filter crate. Every rule reads the source user as it was, so the order of rules never
//! matters; to rename, copy to the new path and drop the old one.

use serde_json::{Map, Value};

use scim_filter::{AttrPath, parse_attr_path};
use scim_schema::definition::USER;

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
enum Rule {
    Copy(AttrPath),
    Template(Vec<Piece>),
    Constant(Value),
    Drop,
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Path(AttrPath),
}

/// A parsed attribute map.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AttributeMap {
    rules: Vec<(AttrPath, Rule)>,
}

fn path(text: &str) -> Result<AttrPath> {
    parse_attr_path(text).map_err(|e| Error::Map(format!("{text:?} is not an attribute path: {e}")))
}

impl AttributeMap {
    /// Reads a map document.
    pub fn parse(document: &Value) -> Result<AttributeMap> {
        let object = document.as_object().ok_or_else(|| Error::Map("the map must be a JSON object".into()))?;
        let mut rules = Vec::with_capacity(object.len());
        for (target, rule) in object {
            let rule = match rule {
                Value::String(source) => Rule::Copy(path(source)?),
                Value::Null => Rule::Drop,
                Value::Object(o) if o.len() == 1 && o.contains_key("value") => Rule::Constant(o["value"].clone()),
                Value::Object(o) if o.len() == 1 && o.get("template").is_some_and(Value::is_string) => {
                    Rule::Template(template(o["template"].as_str().unwrap_or_default())?)
                }
                other => {
                    return Err(Error::Map(format!(
                        "{target}: a rule is a source path, {{\"template\": ...}}, {{\"value\": ...}} or null, not {other}"
                    )));
                }
            };
            rules.push((path(target)?, rule));
        }
        Ok(AttributeMap { rules })
    }

    /// The target user for the source user `user`.
    pub fn apply(&self, user: &Value) -> Value {
        let mut out = user.clone();
        for (target, rule) in &self.rules {
            let value = match rule {
                Rule::Copy(source) => get(user, source).cloned(),
                Rule::Constant(value) => Some(value.clone()),
                Rule::Drop => None,
                Rule::Template(pieces) => pieces
                    .iter()
                    .map(|piece| match piece {
                        Piece::Text(text) => Some(text.clone()),
                        Piece::Path(path) => get(user, path).and_then(|v| match v {
                            Value::String(s) => Some(s.clone()),
                            Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
                            _ => None,
                        }),
                    })
                    .collect::<Option<String>>()
                    .map(Value::String),
            };
            set(&mut out, target, value);
        }
        out
    }
}

fn template(text: &str) -> Result<Vec<Piece>> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').ok_or_else(|| Error::Map(format!("unclosed {{ in template {text:?}")))?;
        if open > 0 {
            pieces.push(Piece::Text(rest[..open].to_owned()));
        }
        pieces.push(Piece::Path(path(&rest[open + 1..open + close])?));
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_owned()));
    }
    Ok(pieces)
}

/// The object an attribute path's name lives in: the resource, or its extension's object.
fn container<'a>(user: &'a Value, path: &AttrPath) -> Option<&'a Map<String, Value>> {
    match &path.schema {
        Some(urn) if !urn.eq_ignore_ascii_case(USER) => field(user.as_object()?, urn)?.as_object(),
        _ => user.as_object(),
    }
}

fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

fn get<'a>(user: &'a Value, path: &AttrPath) -> Option<&'a Value> {
    let value = field(container(user, path)?, &path.name)?;
    let value = match &path.sub_attr {
        Some(sub) => field(value.as_object()?, sub)?,
        None => value,
    };
    (!value.is_null()).then_some(value)
}

fn entry<'a>(object: &'a mut Map<String, Value>, name: &str) -> &'a mut Value {
    let key = object.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned().unwrap_or_else(|| name.to_owned());
    object.entry(key).or_insert(Value::Null)
}

fn set(user: &mut Value, path: &AttrPath, value: Option<Value>) {
    let Some(mut object) = user.as_object_mut() else { return };
    if let Some(urn) = path.schema.as_deref().filter(|urn| !urn.eq_ignore_ascii_case(USER)) {
        let slot = entry(object, urn);
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Some(inner) = slot.as_object_mut() else { return };
        object = inner;
    }
    let slot = match &path.sub_attr {
        Some(sub) => {
            let parent = entry(object, &path.name);
            if !parent.is_object() {
                *parent = Value::Object(Map::new());
            }
            let Some(parent) = parent.as_object_mut() else { return };
            entry(parent, sub)
        }
        None => entry(object, &path.name),
    };
    *slot = value.unwrap_or(Value::Null);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    #[test]
    fn rules_copy_compute_set_and_drop() {
        let map = AttributeMap::parse(&json!({
            "title": "department",
            "department": null,
            "displayName": {"template": "{name.givenName} {name.familyName}"},
            "nickName": {"template": "{missing}!"},
            "userType": {"value": "Employee"},
            (format!("{ENTERPRISE}:costCenter")): "costCenter"
        }))
        .unwrap();
        let source = json!({"userName": "a", "department": "R&D", "costCenter": "42",
                            "name": {"givenName": "Ada", "familyName": "Lovelace"}});
        let out = map.apply(&source);
        assert_eq!(out["title"], "R&D");
        assert_eq!(out["department"], Value::Null);
        assert_eq!(out["displayName"], "Ada Lovelace");
        assert_eq!(out["nickName"], Value::Null);
        assert_eq!(out["userType"], "Employee");
        assert_eq!(out[ENTERPRISE]["costCenter"], "42");
        assert_eq!(out["userName"], "a");
    }

    #[test]
    fn bad_maps_are_refused() {
        for (map, why) in [
            (json!([]), "must be a JSON object"),
            (json!({"title": 3}), "a rule is"),
            (json!({"title": "not a path!"}), "not an attribute path"),
            (json!({"title": {"template": "{oops"}}), "unclosed"),
        ] {
            let error = AttributeMap::parse(&map).unwrap_err().to_string();
            assert!(error.contains(why), "{error}");
        }
    }
}
