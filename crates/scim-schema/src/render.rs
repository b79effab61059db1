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

/// Renders a resource. `location` is the resource's URL, published only by profiles that return
/// `meta.location`.
pub fn render(
    profile: &Profile,
    kind: ResourceKind,
    meta: Meta<'_>,
    attrs: &Map<String, Value>,
    memberships: Memberships,
    location: Option<&str>,
) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), Value::String(meta.id.to_owned()));
    if let Some(external_id) = attrs.get("externalId") {
        out.insert("externalId".into(), external_id.clone());
    }
    let mut meta_out = Map::new();
    meta_out.insert("resourceType".into(), Value::String(kind.name().to_owned()));
    meta_out.insert("created".into(), Value::String(format_datetime(meta.created)));
    meta_out.insert("lastModified".into(), Value::String(format_datetime(meta.modified)));
    if profile.return_memberships {
        if let Some(location) = location {
            meta_out.insert("location".into(), Value::String(location.to_owned()));
        }
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
            match &memberships {
                Memberships::Omitted => {}
                Memberships::Empty => {
                    out.insert(def.name.into(), Value::Array(Vec::new()));
                }
                Memberships::Listed(values) => {
                    out.insert(def.name.into(), Value::Array(values.clone()));
                }
            }
        } else if def.returned != Returned::Never
            && let Some(value) = attrs.get(def.name)
        {
            out.insert(def.name.into(), value.clone());
        }
    }
    for extension in kind.extensions() {
        if let Some(value) = attrs.get(extension.id) {
            out.insert(extension.id.into(), value.clone());
        }
    }
    Value::Object(out)
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
            attrs.as_object().unwrap(),
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
    fn group_members_empty_or_omitted() {
        let attrs = Map::from_iter([("displayName".to_owned(), json!("G"))]);
        let meta = Meta { id: "g", created: 0, modified: 0, version: 1 };
        let listed = render(&IDENTITY_CENTER, ResourceKind::Group, meta, &attrs, Memberships::Empty, None);
        assert_eq!(listed["members"], json!([]));
        let got = render(&IDENTITY_CENTER, ResourceKind::Group, meta, &attrs, Memberships::Omitted, None);
        assert!(got.get("members").is_none());
    }
}
