//! Output: a stored resource as the client reads it.
//!
//! Attributes come out in schema order (`id`, `externalId`, `meta`, `schemas`, then the core
//! attributes as RFC 7643 lists them, then extensions), whatever order the client wrote them in,
//! so responses are stable and diffable. Nothing is emitted that the profile would refuse on
//! input: an Okta PUT that echoes a GET back must pass.

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::definition::{ResourceKind, Returned};
use crate::profile::Profile;
use crate::time::Datetime;

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
    layout(kind, &mut attrs, |part| match part {
        Part::Id => {
            out.insert("id".into(), Value::String(meta.id.to_owned()));
        }
        Part::Meta => {
            // Only strings inside: it always converts.
            out.insert("meta".into(), serde_json::to_value(meta_of(profile, kind, meta, location)).unwrap_or_default());
        }
        Part::Schemas(schemas) => {
            out.insert("schemas".into(), Value::Array(schemas.map(|s| Value::String(s.to_owned())).collect()));
        }
        Part::Memberships(name) => {
            if let Some(values) = std::mem::replace(&mut memberships, Memberships::Omitted).into_value() {
                out.insert(name.into(), values);
            }
        }
        Part::Attribute(name, value) => {
            out.insert(name.into(), value);
        }
    });
    Value::Object(out)
}

/// [`render`] written straight out as compact JSON, from attributes left as the text of a JSON
/// object (`attrs`): nothing beneath the top level is parsed, so a resource read back is not
/// built into a tree only to be written out again. For attributes that `serde_json` wrote
/// (compact), the bytes are exactly those of [`render`]'s output serialized. `None` if `attrs`
/// is not a JSON object whose keys need no unescaping: [`render`] is then the way.
pub fn render_text(
    profile: &Profile,
    kind: ResourceKind,
    meta: Meta<'_>,
    attrs: &str,
    memberships: &Memberships,
    location: Option<&str>,
) -> Option<Vec<u8>> {
    let mut attrs: TextAttrs<'_> = serde_json::from_str(attrs).ok()?;
    let mut out = Vec::with_capacity(1024);
    out.push(b'{');
    let mut first = true;
    let mut failed = false;
    layout(kind, &mut attrs, |part| {
        let mut key = |out: &mut Vec<u8>, name: &str| {
            if !std::mem::take(&mut first) {
                out.push(b',');
            }
            failed |= serde_json::to_writer(&mut *out, name).is_err();
            out.push(b':');
        };
        let written = match part {
            Part::Id => {
                key(&mut out, "id");
                serde_json::to_writer(&mut out, meta.id)
            }
            Part::Meta => {
                key(&mut out, "meta");
                serde_json::to_writer(&mut out, &meta_of(profile, kind, meta, location))
            }
            Part::Schemas(schemas) => {
                key(&mut out, "schemas");
                serde_json::to_writer(&mut out, &schemas.collect::<Vec<_>>())
            }
            Part::Memberships(name) => match memberships {
                Memberships::Omitted => Ok(()),
                Memberships::Empty => {
                    key(&mut out, name);
                    out.extend_from_slice(b"[]");
                    Ok(())
                }
                Memberships::Listed(values) => {
                    key(&mut out, name);
                    serde_json::to_writer(&mut out, values)
                }
            },
            Part::Attribute(name, value) => {
                key(&mut out, name);
                out.extend_from_slice(value.get().as_bytes());
                Ok(())
            }
        };
        failed |= written.is_err();
    });
    out.push(b'}');
    (!failed).then_some(out)
}

/// The `meta` attribute, serialized as it is (no tree, no owned strings): its members in the
/// order rendered, `location` and `version` where the profile has them.
#[derive(serde::Serialize)]
struct MetaOf<'a> {
    #[serde(rename = "resourceType")]
    resource_type: &'static str,
    created: Shown<Datetime>,
    #[serde(rename = "lastModified")]
    last_modified: Shown<Datetime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<Shown<Etag>>,
}

fn meta_of<'a>(profile: &Profile, kind: ResourceKind, meta: Meta<'_>, location: Option<&'a str>) -> MetaOf<'a> {
    MetaOf {
        resource_type: kind.name(),
        created: Shown(Datetime(meta.created)),
        last_modified: Shown(Datetime(meta.modified)),
        location: location.filter(|_| profile.meta_location),
        version: profile.etags.then_some(Shown(Etag(meta.version))),
    }
}

/// A value serialized as the string it displays as, written straight out.
struct Shown<T>(T);

impl<T: std::fmt::Display> serde::Serialize for Shown<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

/// A version, displayed as its entity tag ([`etag`]).
struct Etag(i64);

impl std::fmt::Display for Etag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "W/\"{}\"", self.0)
    }
}

impl Memberships {
    /// The attribute's value, or `None` when it is omitted.
    fn into_value(self) -> Option<Value> {
        match self {
            Memberships::Omitted => None,
            Memberships::Empty => Some(Value::Array(Vec::new())),
            Memberships::Listed(values) => Some(Value::Array(values)),
        }
    }
}

/// One part of a rendered resource, as [`layout`] orders them.
enum Part<V, S> {
    /// `id`.
    Id,
    /// `meta`.
    Meta,
    /// `schemas`: the core schema, then each extension the resource has.
    Schemas(S),
    /// The memberships' attribute (`groups` or `members`), at its place among the attributes.
    Memberships(&'static str),
    /// A stored attribute (`externalId`, a core attribute, an extension) and its value.
    Attribute(&'static str, V),
}

/// Attributes the two renderings take their values from, by name.
trait Attributes {
    type Value;
    fn has(&self, name: &str) -> bool;
    fn take(&mut self, name: &str) -> Option<Self::Value>;
}

impl Attributes for Map<String, Value> {
    type Value = Value;
    fn has(&self, name: &str) -> bool {
        self.contains_key(name)
    }
    fn take(&mut self, name: &str) -> Option<Value> {
        self.remove(name)
    }
}

/// A JSON object's top-level members, their values left as text. Keys are borrowed from the
/// text, so one that needs unescaping fails to parse (and [`render`] takes over).
struct TextAttrs<'a>(Vec<(&'a str, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for TextAttrs<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = TextAttrs<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<TextAttrs<'de>, M::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(TextAttrs(members))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

impl<'a> Attributes for TextAttrs<'a> {
    type Value = &'a RawValue;
    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(key, _)| *key == name)
    }
    fn take(&mut self, name: &str) -> Option<&'a RawValue> {
        let at = self.0.iter().position(|(key, _)| *key == name)?;
        Some(self.0.swap_remove(at).1)
    }
}

/// The order of a rendered resource, the one place it is decided: `id`, `externalId`, `meta`,
/// `schemas`, then the core attributes as the schema lists them (never those returned never;
/// the memberships at their place), then the extensions. Attributes the schema does not name
/// are left out.
fn layout<A: Attributes>(
    kind: ResourceKind,
    attrs: &mut A,
    mut put: impl FnMut(Part<A::Value, &mut dyn Iterator<Item = &'static str>>),
) {
    put(Part::Id);
    if let Some(external_id) = attrs.take("externalId") {
        put(Part::Attribute("externalId", external_id));
    }
    put(Part::Meta);
    let extensions = kind.extensions().iter().filter(|e| attrs.has(e.id)).map(|e| e.id);
    put(Part::Schemas(&mut std::iter::once(kind.schema().id).chain(extensions)));
    let membership_name = match kind {
        ResourceKind::User => "groups",
        ResourceKind::Group => "members",
    };
    for def in kind.schema().attributes {
        if def.name == membership_name {
            put(Part::Memberships(def.name));
        } else if def.returned != Returned::Never
            && let Some(value) = attrs.take(def.name)
        {
            put(Part::Attribute(def.name, value));
        }
    }
    for extension in kind.extensions() {
        if let Some(value) = attrs.take(extension.id) {
            put(Part::Attribute(extension.id, value));
        }
    }
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
    Etag(version).to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use proptest::strategy::Strategy;
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

    /// `render_text` over the stored text must give exactly the bytes of `render` serialized.
    fn same_bytes(profile: &Profile, kind: ResourceKind, attrs: &Map<String, Value>, memberships: Memberships) {
        let meta = Meta { id: "i\"d", created: 1_585_622_175_000, modified: 1_585_622_176_123, version: 7 };
        let text = Value::Object(attrs.clone()).to_string();
        let expected =
            serde_json::to_vec(&render(profile, kind, meta, attrs.clone(), memberships.clone(), Some("https://h/U/1")))
                .unwrap();
        let got = render_text(profile, kind, meta, &text, &memberships, Some("https://h/U/1"));
        if attrs.keys().any(|k| serde_json::to_string(k).unwrap().len() != k.len() + 2) {
            // A key that needs escaping is not borrowed: the caller renders the tree instead.
            assert_eq!(got, None);
        } else {
            let got = got.unwrap();
            assert_eq!(String::from_utf8(got).unwrap(), String::from_utf8(expected).unwrap());
        }
    }

    #[test]
    fn rendering_the_stored_text_gives_the_bytes_of_rendering_the_tree() {
        let user = json!({
            "password": "never", "nickName": "n\u{1}\"\\é😀", "userName": "a", "externalId": "e",
            "unknown": 1, "emails": [{"value": "a@x", "primary": true}], "active": false,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R", "n": 1.5e300},
            "name": {"givenName": "G", "familyName": null},
        });
        let user = user.as_object().unwrap();
        let group = json!({"displayName": "G", "externalId": "x"});
        let group = group.as_object().unwrap();
        let listed = Memberships::Listed(vec![json!({"value": "u1", "$ref": "https://h/Users/u1"})]);
        for profile in [&IDENTITY_CENTER, &crate::profile::RFC] {
            same_bytes(profile, ResourceKind::User, user, Memberships::Omitted);
            same_bytes(profile, ResourceKind::User, user, listed.clone());
            same_bytes(profile, ResourceKind::User, &Map::new(), Memberships::Empty);
            same_bytes(profile, ResourceKind::Group, group, listed.clone());
            same_bytes(profile, ResourceKind::Group, group, Memberships::Empty);
            same_bytes(profile, ResourceKind::Group, group, Memberships::Omitted);
        }
        let mut escaped = user.clone();
        escaped.insert("we\"ird".into(), json!(1));
        same_bytes(&IDENTITY_CENTER, ResourceKind::User, &escaped, Memberships::Omitted);
        let meta = Meta { id: "u", created: 0, modified: 0, version: 1 };
        for text in ["[]", "1", "{", "{\"a\":1}x", ""] {
            assert_eq!(
                render_text(&IDENTITY_CENTER, ResourceKind::User, meta, text, &Memberships::Omitted, None),
                None
            );
        }
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec((".{0,6}", inner), 0..4)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        #[test]
        fn any_stored_object_renders_the_same_from_text_as_from_the_tree(
            members in proptest::collection::vec((
                proptest::prop_oneof![
                    proptest::sample::select(vec![
                        "userName", "name", "displayName", "emails", "externalId", "password", "active",
                        "members", "groups", "title", "addresses",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
                    ]).prop_map(str::to_owned),
                    ".{0,8}",
                ],
                json_value(),
            ), 0..10),
            group in proptest::prelude::any::<bool>(),
            rfc in proptest::prelude::any::<bool>(),
        ) {
            let attrs: Map<String, Value> = members.into_iter().collect();
            let kind = if group { ResourceKind::Group } else { ResourceKind::User };
            let profile = if rfc { &crate::profile::RFC } else { &IDENTITY_CENTER };
            same_bytes(profile, kind, &attrs, Memberships::Omitted);
        }
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
