//! Output: a stored resource as the client reads it.
//!
//! Attributes come out in schema order (`id`, `externalId`, `meta`, `schemas`, then the core
//! attributes as RFC 7643 lists them, then extensions), whatever order the client wrote them in,
//! so responses are stable and diffable. Nothing is emitted that the profile would refuse on
//! input: an Okta PUT that echoes a GET back must pass.

use serde_json::{Map, Value};

use crate::definition::{ResourceKind, Returned};
use crate::profile::Profile;
use crate::time::format_datetime;

/// What the store knows of a resource besides its attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta<'a> {
    /// The resource id.
    pub id: &'a str,
    /// Created, in milliseconds since the epoch.
    pub created: i64,
    /// Last modified, in milliseconds since the epoch.
    pub modified: i64,
    /// The version counter, bumped by every write.
    pub version: i64,
}

/// How a Group's members (or a User's groups) appear in a response.
#[derive(Debug, Clone, PartialEq)]
pub enum Memberships {
    /// Not at all (identity-center `GET /Groups/{id}`).
    Omitted,
    /// As an empty list (identity-center `GET /Groups`, as AWS's examples show).
    Empty,
    /// As these values.
    Listed(Vec<Value>),
}

/// Renders a resource, taking its attributes so their values move into the output rather than
/// being copied (this runs for every resource of every response). `location` is the resource's
/// URL, published only by profiles that return `meta.location`.
pub fn render(
    profile: &Profile,
    kind: ResourceKind,
    meta: Meta<'_>,
    mut attrs: Map<String, Value>,
    mut memberships: Memberships,
    location: Option<&str>,
) -> Value {
    let mut out = Map::with_capacity(attrs.len() + 4);
    out.insert("id".into(), Value::String(meta.id.to_owned()));
    if let Some(external_id) = attrs.remove("externalId") {
        out.insert("externalId".into(), external_id);
    }
    let mut meta_out = Map::new();
    meta_out.insert("resourceType".into(), Value::String(kind.name().to_owned()));
    meta_out.insert("created".into(), Value::String(format_datetime(meta.created)));
    meta_out.insert("lastModified".into(), Value::String(format_datetime(meta.modified)));
    if profile.meta_location
        && let Some(location) = location
    {
        meta_out.insert("location".into(), Value::String(location.to_owned()));
    }
    if profile.etags {
        meta_out.insert("version".into(), Value::String(etag(meta.version)));
    }
    out.insert("meta".into(), Value::Object(meta_out));
    let mut schemas = vec![Value::String(kind.schema().id.to_owned())];
    schemas
        .extend(kind.extensions().iter().filter(|e| attrs.contains_key(e.id)).map(|e| Value::String(e.id.to_owned())));
    out.insert("schemas".into(), Value::Array(schemas));
    let membership_name = match kind {
        ResourceKind::User => "groups",
        ResourceKind::Group => "members",
    };
    for def in kind.schema().attributes {
        if def.name == membership_name {
            match std::mem::replace(&mut memberships, Memberships::Omitted) {
                Memberships::Omitted => {}
                Memberships::Empty => {
                    out.insert(def.name.into(), Value::Array(Vec::new()));
                }
                Memberships::Listed(values) => {
                    out.insert(def.name.into(), Value::Array(values));
                }
            }
        } else if def.returned != Returned::Never
            && let Some(value) = attrs.remove(def.name)
        {
            out.insert(def.name.into(), value);
        }
    }
    for extension in kind.extensions() {
        if let Some(value) = attrs.remove(extension.id) {
            out.insert(extension.id.into(), value);
        }
    }
    Value::Object(out)
}

/// Which attributes a response carries: the `attributes` and `excludedAttributes` parameters
/// (RFC 7644 section 3.4.2.5).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Projection {
    /// Every attribute returned by default.
    #[default]
    All,
    /// Only these (and those returned always).
    Only(Vec<scim_filter::AttrPath>),
    /// All but these (those returned always stay).
    Except(Vec<scim_filter::AttrPath>),
}

/// Applies `projection` to a rendered resource. Paths naming no attribute are ignored, as the
/// RFC lets a client ask for attributes a resource does not have.
pub fn project(kind: ResourceKind, resource: &mut Value, projection: &Projection) {
    let Some(object) = resource.as_object_mut() else { return };
    match projection {
        Projection::All => {}
        Projection::Except(paths) => {
            for path in paths {
                let Ok((extension, def)) = crate::eval::resolve(kind, path) else { continue };
                if def.returned == Returned::Always {
                    continue;
                }
                let holder = match extension {
                    Some(urn) => object.get_mut(urn).and_then(Value::as_object_mut),
                    None => Some(&mut *object),
                };
                let Some(holder) = holder else { continue };
                match &path.sub_attr {
                    None => {
                        holder.remove(def.name);
                    }
                    Some(sub) => strip_sub(holder.get_mut(def.name), sub),
                }
            }
            prune_extensions(kind, object);
        }
        Projection::Only(paths) => {
            let mut kept = Map::new();
            for (key, value) in object.iter() {
                let always = key == "schemas"
                    || crate::definition::COMMON_SCHEMA.attribute(key).is_some_and(|d| d.returned == Returned::Always);
                if always {
                    kept.insert(key.clone(), value.clone());
                }
            }
            for path in paths {
                let Ok((extension, def)) = crate::eval::resolve(kind, path) else { continue };
                let source = match extension {
                    Some(urn) => object.get(urn).and_then(Value::as_object),
                    None => Some(&*object),
                };
                let Some(value) = source.and_then(|s| s.get(def.name)) else { continue };
                let picked = match &path.sub_attr {
                    None => value.clone(),
                    Some(sub) => only_sub(value, sub),
                };
                let target = match extension {
                    Some(urn) => match kept.entry(urn).or_insert_with(|| Value::Object(Map::new())) {
                        Value::Object(target) => target,
                        _ => continue,
                    },
                    None => &mut kept,
                };
                merge(target, def.name, picked);
            }
            *object = kept;
            prune_extensions(kind, object);
        }
    }
}

/// Removes `sub` from a complex value or from each element of a multi-valued one.
fn strip_sub(value: Option<&mut Value>, sub: &str) {
    match value {
        Some(Value::Object(fields)) => {
            fields.retain(|k, _| !k.eq_ignore_ascii_case(sub));
        }
        Some(Value::Array(items)) => {
            for item in items {
                strip_sub(Some(item), sub);
            }
        }
        _ => {}
    }
}

/// Keeps only `sub` of a complex value or of each element of a multi-valued one.
fn only_sub(value: &Value, sub: &str) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields.iter().filter(|(k, _)| k.eq_ignore_ascii_case(sub)).map(|(k, v)| (k.clone(), v.clone())).collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|item| only_sub(item, sub)).collect()),
        other => other.clone(),
    }
}

/// Adds `value` under `name`, merging sub-attributes asked for separately (`name.givenName`
/// and `name.familyName`).
fn merge(target: &mut Map<String, Value>, name: &str, value: Value) {
    match (target.get_mut(name), value) {
        (Some(Value::Object(existing)), Value::Object(more)) => existing.extend(more),
        (Some(Value::Array(existing)), Value::Array(more)) if existing.len() == more.len() => {
            for (item, extra) in existing.iter_mut().zip(more) {
                if let (Value::Object(item), Value::Object(extra)) = (item, extra) {
                    item.extend(extra);
                }
            }
        }
        (_, value) => {
            target.insert(name.to_owned(), value);
        }
    }
}

/// Drops emptied extension objects and keeps `schemas` naming only the extensions present.
fn prune_extensions(kind: ResourceKind, object: &mut Map<String, Value>) {
    for extension in kind.extensions() {
        if object.get(extension.id).and_then(Value::as_object).is_some_and(Map::is_empty) {
            object.remove(extension.id);
        }
        if !object.contains_key(extension.id)
            && let Some(Value::Array(schemas)) = object.get_mut("schemas")
        {
            schemas.retain(|s| s.as_str() != Some(extension.id));
        }
    }
}

/// The weak entity tag of a version: `W/"3"`.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::profile::IDENTITY_CENTER;

    #[test]
    fn identity_center_user_shape_and_order() {
        let attrs = json!({
            "active": true,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R"},
            "userName": "a",
            "externalId": "e",
            "password": "never",
        });
        let meta = Meta { id: "u1", created: 1_585_622_175_000, modified: 1_585_622_176_000, version: 2 };
        let out = render(
            &IDENTITY_CENTER,
            ResourceKind::User,
            meta,
            attrs.as_object().unwrap().clone(),
            Memberships::Omitted,
            Some("x"),
        );
        let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "id",
                "externalId",
                "meta",
                "schemas",
                "userName",
                "active",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
            ]
        );
        assert_eq!(
            out["meta"],
            json!({"resourceType": "User", "created": "2020-03-31T02:36:15Z", "lastModified": "2020-03-31T02:36:16Z"})
        );
        assert_eq!(out["schemas"][1], json!("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"));
    }

    #[test]
    fn projection_only_and_except() {
        let user = json!({
            "id": "u", "meta": {"resourceType": "User"},
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "userName": "a", "name": {"givenName": "G", "familyName": "F"},
            "emails": [{"value": "a@x", "type": "work"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "D"}
        });
        let paths = |text: &str| scim_filter::parse_attr_list(text).unwrap();
        let mut only = user.clone();
        project(ResourceKind::User, &mut only, &Projection::Only(paths("userName, name.givenName,emails.value,id")));
        assert_eq!(
            only,
            json!({"id": "u", "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "a",
                   "name": {"givenName": "G"}, "emails": [{"value": "a@x"}]})
        );
        let mut except = user.clone();
        project(ResourceKind::User, &mut except, &Projection::Except(paths("name,emails.type,department,id,nope")));
        assert!(except.get("name").is_none() && except["id"] == "u");
        assert_eq!(except["emails"], json!([{"value": "a@x"}]));
        assert!(except.get("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User").is_none());
        assert_eq!(except["schemas"], json!(["urn:ietf:params:scim:schemas:core:2.0:User"]));
        let mut ext = user;
        project(
            ResourceKind::User,
            &mut ext,
            &Projection::Only(paths("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department")),
        );
        assert_eq!(ext["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"], json!({"department": "D"}));
    }

    #[test]
    fn group_members_empty_or_omitted() {
        let attrs = Map::from_iter([("displayName".to_owned(), json!("G"))]);
        let meta = Meta { id: "g", created: 0, modified: 0, version: 1 };
        let listed = render(&IDENTITY_CENTER, ResourceKind::Group, meta, attrs.clone(), Memberships::Empty, None);
        assert_eq!(listed["members"], json!([]));
        let got = render(&IDENTITY_CENTER, ResourceKind::Group, meta, attrs, Memberships::Omitted, None);
        assert!(got.get("members").is_none());
    }
}
