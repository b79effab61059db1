//! PATCH (RFC 7644 section 3.5.2) applied to a canonical resource in memory.
//!
//! [`apply`] reads a PatchOp body, resolves each operation's target, edits a copy of the
//! resource's attributes, and validates the result with the same [`check`](crate::resource::check)
//! as a POST. Group membership is not part of the attributes: member operations come back as
//! [`MemberChange`]s for the store to apply as row writes, one per member.
//!
//! What real clients send is accepted here: `op` in any case, path-less values whose keys are
//! paths (`name.givenName`, URN-qualified extension attributes), value filters that match no value
//! yet (`emails[type eq "work"].value` on a user without a work email creates it), `"False"` for
//! `false`, and an empty `Operations` list.

use scim_filter::{AttrPath, CompValue, CompareOp, Filter, PatchPath};
use serde_json::{Map, Value};

use crate::definition::{Attribute, Mutability, ResourceKind, Schema, Type};
use crate::error::{Error, ErrorKind, Result};
use crate::eval;
use crate::profile::Profile;
use crate::resource::{self, MemberRef, Resource};

/// AWS's detail for a path-less Group PATCH that changes more than one attribute.
pub const PATHLESS_DETAIL: &str = "Current PATCH support allows omitting \"path\" attribute only for Add and Replace operations modifying a single attribute.";

/// A PATCH operation's verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `add`.
    Add,
    /// `replace`.
    Replace,
    /// `remove`.
    Remove,
}

/// A change to a Group's membership, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    /// Add these members (idempotent).
    Add(Vec<MemberRef>),
    /// Remove these member ids (idempotent).
    Remove(Vec<String>),
    /// Make these the only members.
    Replace(Vec<MemberRef>),
}

/// The outcome of a PATCH: the new attributes, validated, and the membership changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Patched {
    /// The resource after the operations (its `members` field is unused).
    pub resource: Resource,
    /// Membership changes, for Groups.
    pub members: Vec<MemberChange>,
}

/// Applies the PatchOp `body` to the resource `id` of `kind` whose attributes are `current`.
pub fn apply(
    profile: &Profile,
    kind: ResourceKind,
    id: &str,
    current: &Map<String, Value>,
    body: &Value,
) -> Result<Patched> {
    let operations = operations(body)?;
    if operations.len() > profile.max_patch_operations {
        let max = profile.max_patch_operations;
        return Err(Error::new(
            ErrorKind::TooMany,
            format!("{} operations in one PATCH; at most {max}", operations.len()),
        ));
    }
    let mut edits = Vec::new();
    for operation in operations {
        expand(profile, kind, id, operation, &mut edits)?;
    }
    if profile.single_user_name_and_active_op && kind == ResourceKind::User {
        for name in ["userName", "active"] {
            let touching: Vec<&Edit> = edits.iter().filter(|e| e.target.is_top(name)).collect();
            if touching.len() > 1 {
                return Err(Error::path(format!("more than one operation on {name}")));
            }
            if touching.iter().any(|e| e.op == Op::Remove) {
                return Err(Error::path(format!("{name} cannot be removed")));
            }
        }
    }
    let mut attrs = current.clone();
    let mut members = Vec::new();
    for edit in edits {
        edit.run(profile, &mut attrs, &mut members)?;
    }
    if let Some(max) = profile.max_member_changes {
        let changes: usize = members
            .iter()
            .map(|c| match c {
                MemberChange::Add(m) | MemberChange::Replace(m) => m.len(),
                MemberChange::Remove(ids) => ids.len(),
            })
            .sum();
        if changes > max {
            return Err(Error::new(ErrorKind::TooMany, format!("{changes} member changes; at most {max}")));
        }
    }
    demote_old_primaries(current, &mut attrs);
    resource::check(profile, kind, &attrs)?;
    Ok(Patched { resource: Resource { attrs, members: Vec::new() }, members })
}

/// RFC 7644 section 3.5.2: a PATCH that makes a value primary makes the previously primary value
/// of the same attribute non-primary. Values primary before the PATCH lose the flag wherever a
/// value newly primary sits beside them; two values made primary by one PATCH stay an error.
fn demote_old_primaries(current: &Map<String, Value>, attrs: &mut Map<String, Value>) {
    let is_primary = |v: &Value| v.get("primary") == Some(&Value::Bool(true));
    for (name, value) in attrs.iter_mut() {
        let Value::Array(items) = value else { continue };
        if items.iter().filter(|v| is_primary(v)).count() < 2 {
            continue;
        }
        let before: Vec<&Value> = match current.get(name) {
            Some(Value::Array(old)) => old.iter().filter(|v| is_primary(v)).collect(),
            _ => Vec::new(),
        };
        let new_primaries = items.iter().filter(|v| is_primary(v) && !before.contains(v)).count();
        if new_primaries == 0 {
            continue;
        }
        for item in items.iter_mut() {
            if is_primary(item)
                && before.contains(&&*item)
                && let Value::Object(fields) = item
            {
                fields.insert("primary".to_owned(), Value::Bool(false));
            }
        }
    }
}

/// A member of a JSON object, matching the key case-insensitively.
fn key<'v>(object: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    object.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

/// One operation of a PatchOp body, nulls read as absent.
#[derive(Debug)]
struct Operation {
    op: Op,
    path: Option<String>,
    value: Option<Value>,
}

/// The operations of a PatchOp body.
fn operations(body: &Value) -> Result<Vec<Operation>> {
    let object = body.as_object().ok_or_else(|| Error::syntax("the body must be a JSON object"))?;
    let list = match key(object, "Operations") {
        Some(Value::Array(list)) => list,
        _ => return Err(Error::syntax("Operations must be a list")),
    };
    list.iter()
        .map(|item| {
            let fields = item.as_object().ok_or_else(|| Error::syntax("an operation must be an object"))?;
            let op = match key(fields, "op").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
                Some("add") => Op::Add,
                Some("replace") => Op::Replace,
                Some("remove") => Op::Remove,
                _ => return Err(Error::syntax("op must be add, replace or remove")),
            };
            let path = match key(fields, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) => Some(p.clone()),
                Some(_) => return Err(Error::syntax("path must be a string")),
            };
            let value = key(fields, "value").filter(|v| !v.is_null()).cloned();
            if op != Op::Remove && value.is_none() {
                return Err(Error::syntax("add and replace need a value"));
            }
            Ok(Operation { op, path, value })
        })
        .collect()
}

/// What an operation changes.
#[derive(Debug)]
enum Target {
    /// An attribute, in the core schema or in an extension's object.
    Attr {
        extension: Option<&'static str>,
        def: &'static Attribute,
        filter: Option<Filter>,
        sub: Option<&'static Attribute>,
    },
    /// A whole extension object.
    Extension(&'static Schema),
    /// A Group's members, optionally narrowed by a value filter.
    Members(Option<Filter>),
    /// A write-only attribute (`password`): accepted, never kept.
    Discarded,
}

impl Target {
    fn is_top(&self, name: &str) -> bool {
        matches!(self, Target::Attr { extension: None, def, .. } if def.name == name)
    }
}

#[derive(Debug)]
struct Edit {
    op: Op,
    target: Target,
    value: Option<Value>,
    /// Whether the operation named its target with a `path`: a multi-valued target then takes
    /// one value as well as a list ("a new value is added", RFC 7644 section 3.5.2.1). The
    /// attributes of a path-less value object are whole attribute values, shaped as in a body.
    by_path: bool,
}

/// A lone value of a multi-valued attribute as the list of it.
fn as_list(value: Value) -> Value {
    match value {
        Value::Array(_) | Value::Null => value,
        lone => Value::Array(vec![lone]),
    }
}

/// Turns one operation into edits: a path-less value object gives one edit per key.
fn expand(
    profile: &Profile,
    kind: ResourceKind,
    id: &str,
    Operation { op, path, value }: Operation,
    edits: &mut Vec<Edit>,
) -> Result<()> {
    let group_rule = profile.pathless_group_patch_single_attribute && kind == ResourceKind::Group;
    let Some(path) = path else {
        let fields = match value {
            Some(Value::Object(fields)) if op != Op::Remove => fields,
            _ if group_rule => return Err(Error::new(ErrorKind::PathlessMultiAttribute, PATHLESS_DETAIL)),
            _ if op == Op::Remove => return Err(Error::syntax("remove needs a path")),
            _ => return Err(Error::syntax("a path-less operation needs an object value")),
        };
        let mut targets = Vec::new();
        for (name, v) in fields {
            // Okta's rename carries the group's own id beside the new name.
            if name.eq_ignore_ascii_case("id") {
                if v.as_str() == Some(id) {
                    continue;
                }
                return Err(Error::new(ErrorKind::Mutability, "id cannot be changed"));
            }
            if name.eq_ignore_ascii_case("schemas") {
                continue;
            }
            targets.push((name, v));
        }
        if group_rule && targets.len() > 1 {
            return Err(Error::new(ErrorKind::PathlessMultiAttribute, PATHLESS_DETAIL));
        }
        for (name, v) in targets {
            let target = if let Some(extension) = kind.extension(&name) {
                Target::Extension(extension)
            } else {
                target(profile, kind, &scim_filter::parse_path(&name)?)?
            };
            edits.push(Edit { op, target, value: Some(v), by_path: false });
        }
        return Ok(());
    };
    let target = match kind.extension(path.trim()) {
        Some(extension) => Target::Extension(extension),
        None => target(profile, kind, &scim_filter::parse_path(&path)?)?,
    };
    edits.push(Edit { op, target, value, by_path: true });
    Ok(())
}

/// Resolves a parsed path against the schema and the profile.
fn target(profile: &Profile, kind: ResourceKind, path: &PatchPath) -> Result<Target> {
    let top = AttrPath { sub_attr: None, ..path.attr.clone() };
    let (extension, def) = eval::resolve(kind, &top).map_err(|_| Error::path(format!("unknown attribute {top}")))?;
    if kind == ResourceKind::Group && extension.is_none() && def.name == "members" {
        if path.attr.sub_attr.is_some() {
            return Err(Error::path("members can only be targeted as a whole or by a value filter"));
        }
        if let Some(filter) = &path.filter {
            check_path_filter(profile, def, filter)?;
        }
        return Ok(Target::Members(path.filter.clone()));
    }
    if matches!(def.mutability, Mutability::ReadOnly) {
        return Err(Error::new(ErrorKind::Mutability, format!("{} is read-only", def.name)));
    }
    if kind == ResourceKind::User && profile.refuses_user_attribute(def.name) {
        return Err(Error::value(format!("{} is not supported", def.name)));
    }
    if def.mutability == Mutability::WriteOnly {
        return Ok(Target::Discarded);
    }
    if kind == ResourceKind::User
        && let Some(allowed) = profile.patchable_user_attributes
        && !allowed.iter().any(|a| a.eq_ignore_ascii_case(def.name))
    {
        return Err(Error::path(format!("{} cannot be changed by PATCH", def.name)));
    }
    let sub = match &path.attr.sub_attr {
        Some(name) => {
            let sub = def.sub(name).ok_or_else(|| Error::path(format!("{} has no sub-attribute {name}", def.name)))?;
            if sub.mutability == Mutability::ReadOnly {
                return Err(Error::new(ErrorKind::Mutability, format!("{}.{} is read-only", def.name, sub.name)));
            }
            Some(sub)
        }
        None => None,
    };
    if let Some(filter) = &path.filter {
        if !def.multi_valued || def.kind != Type::Complex {
            return Err(Error::path(format!("{} is not a multi-valued complex attribute", def.name)));
        }
        check_path_filter(profile, def, filter)?;
    } else if def.multi_valued && sub.is_some() {
        return Err(Error::path(format!("{} needs a value filter to target a sub-attribute", def.name)));
    }
    Ok(Target::Attr { extension, def, filter: path.filter.clone(), sub })
}

fn check_path_filter(profile: &Profile, def: &'static Attribute, filter: &Filter) -> Result<()> {
    fn eq_only(filter: &Filter) -> bool {
        match filter {
            Filter::Compare { op: CompareOp::Eq, .. } => true,
            Filter::And(a, b) => eq_only(a) && eq_only(b),
            _ => false,
        }
    }
    if profile.eq_only_path_filters && !eq_only(filter) {
        return Err(Error::path(format!("only eq filters are supported in paths: {filter}")));
    }
    // Evaluating against an empty element surfaces unknown sub-attributes and bad operators.
    eval::element_matches(def, &Value::Object(Map::new()), filter).map_err(|e| Error::path(e.detail))?;
    Ok(())
}

impl Edit {
    fn run(self, profile: &Profile, attrs: &mut Map<String, Value>, members: &mut Vec<MemberChange>) -> Result<()> {
        let Edit { op, target, value, by_path } = self;
        match target {
            Target::Discarded => {}
            Target::Members(filter) => members.push(member_change(profile, op, filter, value, by_path)?),
            Target::Extension(extension) => {
                match (op, value) {
                    (Op::Remove, _) => {
                        attrs.remove(extension.id);
                    }
                    (_, Some(Value::Object(fields))) => {
                        // A client may echo the extension's `schemas` inside it; it names nothing.
                        for (name, v) in fields.into_iter().filter(|(name, _)| !name.eq_ignore_ascii_case("schemas")) {
                            let def = extension
                                .attribute(&name)
                                .ok_or_else(|| Error::path(format!("unknown attribute {}:{name}", extension.id)))?;
                            let target = Target::Attr { extension: Some(extension.id), def, filter: None, sub: None };
                            Edit { op, target, value: Some(v), by_path: false }.run(profile, attrs, members)?;
                        }
                    }
                    _ => return Err(Error::value(format!("{} needs an object value", extension.id))),
                }
                prune(attrs, extension.id);
            }
            Target::Attr { extension, def, filter, sub } => {
                let holder = match extension {
                    Some(urn) => match attrs.entry(urn).or_insert_with(|| Value::Object(Map::new())) {
                        Value::Object(holder) => holder,
                        _ => return Err(Error::value(format!("{urn} must be an object"))),
                    },
                    None => &mut *attrs,
                };
                match filter {
                    Some(filter) => edit_filtered(profile, holder, def, &filter, sub, op, value)?,
                    None => {
                        let value = if by_path && def.multi_valued { value.map(as_list) } else { value };
                        edit_attribute(profile, holder, def, sub, op, value)?;
                    }
                }
                if let Some(urn) = extension {
                    prune(attrs, urn);
                }
            }
        }
        Ok(())
    }
}

/// Drops `name` from `attrs` when it became an empty object.
fn prune(attrs: &mut Map<String, Value>, name: &str) {
    if attrs.get(name).and_then(Value::as_object).is_some_and(Map::is_empty) {
        attrs.remove(name);
    }
}

fn normalized(profile: &Profile, def: &Attribute, value: Option<Value>) -> Result<Option<Value>> {
    match value {
        Some(v) => resource::normalize(profile, def, &v),
        None => Ok(None),
    }
}

/// An edit of a whole attribute, or of a sub-attribute of a single-valued complex one.
fn edit_attribute(
    profile: &Profile,
    holder: &mut Map<String, Value>,
    def: &'static Attribute,
    sub: Option<&'static Attribute>,
    op: Op,
    value: Option<Value>,
) -> Result<()> {
    if let Some(sub) = sub {
        // `name.givenName`, `manager.value`: a single-valued complex attribute's part.
        let object = holder.entry(def.name).or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(object) = object else {
            return Err(Error::value(format!("{} must be an object", def.name)));
        };
        match normalized(profile, sub, value)? {
            Some(v) if op != Op::Remove => {
                object.insert(sub.name.to_owned(), v);
            }
            _ => {
                object.remove(sub.name);
            }
        }
        prune(holder, def.name);
        return Ok(());
    }
    let value = if op == Op::Remove { None } else { normalized(profile, def, value)? };
    match (op, value) {
        (Op::Remove, _) | (Op::Replace, None) => {
            holder.remove(def.name);
        }
        (Op::Add, None) => {}
        (_, Some(Value::Array(new))) if op == Op::Add => {
            let list = holder.entry(def.name).or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = list {
                for item in new {
                    if !list.contains(&item) {
                        list.push(item);
                    }
                }
            }
        }
        (_, Some(Value::Object(new))) if !def.multi_valued => {
            // RFC 7644: sub-attributes not named in the value are left unchanged.
            let object = holder.entry(def.name).or_insert_with(|| Value::Object(Map::new()));
            match object {
                Value::Object(object) => object.extend(new),
                other => *other = Value::Object(new),
            }
        }
        (_, Some(v)) => {
            holder.insert(def.name.to_owned(), v);
        }
    }
    Ok(())
}

/// An edit through a value filter: `emails[type eq "work"].value`, `addresses[type eq "work"]`.
fn edit_filtered(
    profile: &Profile,
    holder: &mut Map<String, Value>,
    def: &'static Attribute,
    filter: &Filter,
    sub: Option<&'static Attribute>,
    op: Op,
    value: Option<Value>,
) -> Result<()> {
    let mut list = match holder.remove(def.name) {
        Some(Value::Array(list)) => list,
        _ => Vec::new(),
    };
    let mut hits = Vec::new();
    for (i, item) in list.iter().enumerate() {
        if eval::element_matches(def, item, filter)? {
            hits.push(i);
        }
    }
    match op {
        Op::Remove => {
            for &i in hits.iter().rev() {
                match sub {
                    Some(sub) => {
                        if let Some(Value::Object(item)) = list.get_mut(i) {
                            item.remove(sub.name);
                        }
                    }
                    None => {
                        list.remove(i);
                    }
                }
            }
        }
        Op::Add | Op::Replace => {
            // The new content of a matched (or created) element, as sub-attribute fields.
            let fields: Map<String, Value> = match sub {
                Some(sub) => match normalized(profile, sub, value)? {
                    Some(v) => Map::from_iter([(sub.name.to_owned(), v)]),
                    None => Map::new(),
                },
                None => match value.map(|v| resource::normalize(profile, def, &as_list(v))).transpose()?.flatten() {
                    Some(Value::Array(items)) => match items.into_iter().next() {
                        Some(Value::Object(fields)) => fields,
                        _ => Map::new(),
                    },
                    _ => Map::new(),
                },
            };
            if hits.is_empty() {
                // A filter of `eq` clauses describes the element to create; anything else has no target.
                let mut created = equalities(filter).ok_or_else(|| {
                    Error::new(ErrorKind::NoTarget, format!("no value of {} matches {filter}", def.name))
                })?;
                created.extend(fields.clone());
                let element = resource::normalize(profile, def, &as_list(Value::Object(created)))?;
                if let Some(Value::Array(items)) = element {
                    list.extend(items);
                }
            }
            for &i in &hits {
                if let Some(Value::Object(item)) = list.get_mut(i) {
                    item.extend(fields.clone());
                }
            }
        }
    }
    list.retain(|item| item.as_object().is_none_or(|o| !o.is_empty()));
    if !list.is_empty() {
        holder.insert(def.name.to_owned(), Value::Array(list));
    }
    Ok(())
}

/// The `name = value` pairs of a filter made only of `eq` comparisons joined by `and`.
fn equalities(filter: &Filter) -> Option<Map<String, Value>> {
    match filter {
        Filter::Compare { path, op: CompareOp::Eq, value } if path.schema.is_none() && path.sub_attr.is_none() => {
            let v = match value {
                CompValue::Str(s) => Value::String(s.clone()),
                CompValue::Bool(b) => Value::Bool(*b),
                CompValue::Number(n) => serde_json::from_str(n).ok()?,
                CompValue::Null => return None,
            };
            Some(Map::from_iter([(path.name.clone(), v)]))
        }
        Filter::And(a, b) => {
            let mut pairs = equalities(a)?;
            pairs.extend(equalities(b)?);
            Some(pairs)
        }
        _ => None,
    }
}

fn member_change(
    profile: &Profile,
    op: Op,
    filter: Option<Filter>,
    value: Option<Value>,
    by_path: bool,
) -> Result<MemberChange> {
    if let Some(filter) = filter {
        if op != Op::Remove {
            return Err(Error::path("a member value filter can only be used to remove"));
        }
        let mut ids = Vec::new();
        member_ids(&filter, &mut ids)?;
        return Ok(MemberChange::Remove(ids));
    }
    let listed = match &value {
        Some(v) => resource::members(profile, v, by_path)?,
        None => Vec::new(),
    };
    match op {
        Op::Add => Ok(MemberChange::Add(listed)),
        Op::Remove if listed.is_empty() => {
            if profile.refuse_members_remove_all {
                return Err(Error::path("removing all members is not supported"));
            }
            Ok(MemberChange::Replace(Vec::new()))
        }
        Op::Remove => Ok(MemberChange::Remove(listed.into_iter().map(|m| m.value).collect())),
        Op::Replace => {
            if profile.refuse_members_replace {
                return Err(Error::path("replacing members is not supported"));
            }
            Ok(MemberChange::Replace(listed))
        }
    }
}

/// The member ids named by `value eq "id"` clauses joined by `or`.
fn member_ids(filter: &Filter, ids: &mut Vec<String>) -> Result<()> {
    match filter {
        Filter::Compare { path, op: CompareOp::Eq, value: CompValue::Str(id) } if path.is("value") => {
            ids.push(id.clone());
            Ok(())
        }
        Filter::Or(a, b) => {
            member_ids(a, ids)?;
            member_ids(b, ids)
        }
        other => Err(Error::path(format!("members can be selected by value eq only, not {other}"))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::definition::ENTERPRISE_USER;
    use crate::profile::{IDENTITY_CENTER, RFC};

    fn user() -> Map<String, Value> {
        let body = json!({
            "userName": "bjensen",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "displayName": "Babs",
            "active": true,
            "emails": [{"value": "b@x.example", "type": "work", "primary": true}],
        });
        resource::parse(&IDENTITY_CENTER, ResourceKind::User, &body).unwrap().attrs
    }

    fn patch_user(ops: Value) -> Result<Map<String, Value>> {
        apply(&IDENTITY_CENTER, ResourceKind::User, "u1", &user(), &json!({"Operations": ops}))
            .map(|p| p.resource.attrs)
    }

    fn patch_group(ops: Value) -> Result<Patched> {
        let current = Map::from_iter([("displayName".to_owned(), json!("G"))]);
        apply(&IDENTITY_CENTER, ResourceKind::Group, "g1", &current, &json!({"Operations": ops}))
    }

    #[test]
    fn okta_deactivate_and_entra_string_booleans() {
        assert_eq!(patch_user(json!([{"op": "replace", "value": {"active": false}}])).unwrap()["active"], json!(false));
        assert_eq!(
            patch_user(json!([{"op": "Replace", "path": "active", "value": "False"}])).unwrap()["active"],
            json!(false)
        );
        assert_eq!(
            patch_user(json!([{"op": "Add", "path": "active", "value": "True"}])).unwrap()["active"],
            json!(true)
        );
        assert_eq!(patch_user(json!([{"op": "REPLACE", "path": "active", "value": true}])).unwrap(), user());
    }

    #[test]
    fn empty_operations_is_a_no_op() {
        assert_eq!(patch_user(json!([])).unwrap(), user());
        assert!(apply(&IDENTITY_CENTER, ResourceKind::User, "u1", &user(), &json!({})).is_err());
    }

    #[test]
    fn entra_pathless_dotted_and_urn_keys() {
        let out = patch_user(json!([{"op": "replace", "value": {
            "displayName": "Bjfe", "name.givenName": "Kkom", "name.familyName": "Unua",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq"}}]))
        .unwrap();
        assert_eq!(out["displayName"], json!("Bjfe"));
        assert_eq!(out["name"], json!({"givenName": "Kkom", "familyName": "Unua"}));
        assert_eq!(out[ENTERPRISE_USER], json!({"employeeNumber": "Aklq"}));
    }

    #[test]
    fn value_paths_update_or_create() {
        let out = patch_user(json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@x.example"},
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
            {"op": "replace", "path": "addresses[type eq \"work\"].locality", "value": "Paris"},
        ]));
        // An address with only a locality breaks the completeness rule.
        assert!(out.is_err());
        let out = patch_user(json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@x.example"},
            {"op": "replace", "path": "phoneNumbers[type eq \"work\"].value", "value": "555"},
        ]))
        .unwrap();
        assert_eq!(out["emails"], json!([{"value": "new@x.example", "type": "work", "primary": true}]));
        assert_eq!(out["phoneNumbers"], json!([{"type": "work", "value": "555"}]));
        assert!(
            patch_user(json!([{"op": "remove", "path": "emails[type eq \"work\"]"}])).unwrap().get("emails").is_none()
        );
        assert!(patch_user(json!([{"op": "add", "path": "emails[type co \"w\"].value", "value": "a@b"}])).is_err());
    }

    #[test]
    fn manager_forms() {
        for value in [json!("m1"), json!({"value": "m1"}), json!([{"$ref": "https://x/Users/m1", "value": "m1"}])] {
            let out = patch_user(json!([{"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": value}])).unwrap();
            assert_eq!(out[ENTERPRISE_USER], json!({"manager": {"value": "m1"}}));
        }
        let out = patch_user(json!([{"op": "add", "path": "manager", "value": "m2"}])).unwrap();
        assert_eq!(out[ENTERPRISE_USER]["manager"]["value"], json!("m2"));
        let out = patch_user(json!([
            {"op": "add", "path": "manager", "value": "m2"},
            {"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}
        ]))
        .unwrap();
        assert!(!out.contains_key(ENTERPRISE_USER));
    }

    /// A path-less value object holds whole attribute values, shaped as in a body (RFC 7643
    /// section 2.4); a path naming a multi-valued attribute takes one value or a list (RFC 7644
    /// section 3.5.2.1: "a new value is added").
    #[test]
    fn value_shapes_with_and_without_a_path() {
        let rfc = |ops: Value| apply(&RFC, ResourceKind::User, "u1", &user(), &json!({"Operations": ops}));
        let home = json!({"value": "h@x", "type": "home"});
        for ops in [
            json!([{"op": "replace", "value": {"emails": home}}]),
            json!([{"op": "add", "value": {"phoneNumbers": "555"}}]),
            json!([{"op": "add", "value": {"name": "Barbara Jensen"}}]),
            json!([{"op": "replace", "value": {"displayName": ["Babs"]}}]),
            json!([{"op": "add", "path": "emails", "value": "h@x"}]),
            json!([{"op": "add", "path": "emails", "value": ["h@x"]}]),
            json!([{"op": "replace", "path": "name", "value": [{"givenName": "B"}]}]),
            json!([{"op": "add", "path": "manager", "value": "m1"}]),
            json!([{"op": "add", "path": "manager", "value": [{"value": "m1"}]}]),
            json!([{"op": "add", "value": {ENTERPRISE_USER: {"manager": "m1"}}}]),
        ] {
            assert_eq!(rfc(ops.clone()).unwrap_err().kind, ErrorKind::InvalidValue, "{ops}");
        }
        let out = rfc(json!([{"op": "add", "path": "emails", "value": home}])).unwrap().resource.attrs;
        assert_eq!(out["emails"][1], home);
        let out = rfc(json!([{"op": "replace", "path": "emails[type eq \"work\"]", "value": {"display": "B"}}]))
            .unwrap()
            .resource
            .attrs;
        assert_eq!(out["emails"][0]["display"], json!("B"));
        let group = |ops: Value| {
            let current = Map::from_iter([("displayName".to_owned(), json!("G"))]);
            apply(&RFC, ResourceKind::Group, "g1", &current, &json!({"Operations": ops}))
        };
        let err = group(json!([{"op": "add", "value": {"members": {"value": "u1"}}}])).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidValue);
        let one = group(json!([{"op": "add", "path": "members", "value": {"value": "u1"}}])).unwrap();
        assert_eq!(one.members, vec![MemberChange::Add(vec![MemberRef { value: "u1".into(), kind: None }])]);
    }

    #[test]
    fn identity_center_user_rules() {
        for ops in [
            json!([{"op": "remove", "path": "userName"}]),
            json!([{"op": "remove", "path": "active"}]),
            json!([{"op": "replace", "path": "active", "value": false}, {"op": "replace", "value": {"active": true}}]),
            json!([{"op": "replace", "path": "userName", "value": "a"}, {"op": "replace", "path": "userName", "value": "b"}]),
            json!([{"op": "remove"}]),
            json!([{"op": "replace", "path": "nope", "value": "x"}]),
            json!([{"op": "add", "path": "roles", "value": [{"value": "r"}]}]),
            json!([{"op": "add", "path": "ims", "value": [{"value": "r"}]}]),
            json!([{"op": "replace", "path": "id", "value": "x"}]),
            json!([{"op": "replace", "path": "groups", "value": []}]),
            json!([{"op": "add", "path": "emails", "value": [{"value": "2@x", "primary": true}]}]),
            json!([{"op": "replace", "path": "name.givenName", "value": "a;b"}]),
            json!([{"op": "remove", "path": "displayName"}]),
            json!([{"op": "move", "path": "displayName"}]),
            json!([{"op": "replace", "path": "displayName"}]),
        ] {
            assert!(patch_user(ops.clone()).is_err(), "{ops}");
        }
        assert!(
            apply(
                &RFC,
                ResourceKind::User,
                "u1",
                &user(),
                &json!({"Operations": [{"op": "remove", "path": "displayName"}]})
            )
            .is_ok()
        );
    }

    #[test]
    fn a_new_primary_value_demotes_the_old_one() {
        let rfc = |ops: Value| apply(&RFC, ResourceKind::User, "u1", &user(), &json!({"Operations": ops}));
        let out = rfc(
            json!([{"op": "add", "path": "emails", "value": [{"value": "new@x", "type": "home", "primary": true}]}]),
        )
        .unwrap();
        assert_eq!(
            out.resource.attrs["emails"],
            json!([{"value": "b@x.example", "type": "work", "primary": false}, {"value": "new@x", "type": "home", "primary": true}])
        );
        let out = rfc(json!([{"op": "add", "path": "emails", "value": [{"value": "new@x", "type": "home"}]},
            {"op": "replace", "path": "emails[value eq \"new@x\"].primary", "value": true}]))
        .unwrap();
        assert_eq!(out.resource.attrs["emails"][0]["primary"], json!(false));
        assert!(rfc(json!([{"op": "add", "path": "emails", "value": [{"value": "a@x", "primary": true}, {"value": "c@x", "primary": true}]}])).is_err());
        let kept = rfc(json!([{"op": "replace", "path": "password", "value": "s3cret"}])).unwrap();
        assert!(!kept.resource.attrs.contains_key("password"));
    }

    #[test]
    fn group_member_forms() {
        let p = patch_group(json!([
            {"op": "remove", "path": "members[value eq \"89bb\"]"},
            {"op": "add", "path": "members", "value": [{"value": "23a3", "display": "x"}]},
            {"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "f648"}]},
        ]))
        .unwrap();
        assert_eq!(
            p.members,
            vec![
                MemberChange::Remove(vec!["89bb".into()]),
                MemberChange::Add(vec![MemberRef { value: "23a3".into(), kind: None }]),
                MemberChange::Remove(vec!["f648".into()]),
            ]
        );
        assert!(patch_group(json!([{"op": "replace", "path": "members", "value": []}])).is_err());
        assert!(patch_group(json!([{"op": "remove", "path": "members"}])).is_err());
        assert!(patch_group(json!([{"op": "replace", "value": {"members": [{"value": "u"}]}}])).is_err());
        let hundred: Vec<Value> = (0..100).map(|i| json!({"value": format!("u{i}")})).collect();
        assert!(patch_group(json!([{"op": "add", "path": "members", "value": hundred}])).is_ok());
        assert_eq!(
            patch_group(json!([{"op": "add", "path": "members", "value": hundred},
                {"op": "remove", "path": "members[value eq \"x\"]"}]))
            .unwrap_err()
            .kind,
            ErrorKind::TooMany
        );
    }

    #[test]
    fn group_pathless_rule_and_okta_rename() {
        let p = patch_group(json!([{"op": "replace", "value": {"id": "g1", "displayName": "New"}}])).unwrap();
        assert_eq!(p.resource.attrs["displayName"], json!("New"));
        let err =
            patch_group(json!([{"op": "replace", "value": {"displayName": "New", "externalId": "e"}}])).unwrap_err();
        assert_eq!((err.kind, err.detail.as_str()), (ErrorKind::PathlessMultiAttribute, PATHLESS_DETAIL));
        assert_eq!(
            patch_group(json!([{"op": "replace", "value": "New"}])).unwrap_err().kind,
            ErrorKind::PathlessMultiAttribute
        );
        assert!(patch_group(json!([{"op": "replace", "value": {"id": "other", "displayName": "N"}}])).is_err());
        assert!(patch_group(json!([{"op": "replace", "path": "displayName", "value": "G"}])).is_ok());
        assert!(patch_group(json!([{"op": "remove", "path": "displayName"}])).is_err());
    }
}
