//! The store and the in-memory evaluator agree on every filter, on every backend.
//!
//! A fixed directory of users and groups (nested groups included) is written through a
//! backend. For each filter of the table, the ids the backend's `list` returns must be exactly
//! the ids of the resources `scim_schema::eval::matches` accepts once rendered as the server
//! renders them (rfc profile, memberships listed); a filter the evaluator refuses must be
//! refused by the store with `InvalidFilter` too.
//!
//! This file is the suite; each backend's test file includes it and supplies a [`Harness`]:
//! `scim-store/tests/filter_agreement.rs` (SQLite) and `scim-store-pg/src/query.rs`
//! (PostgreSQL, when `SCIM_TEST_POSTGRES` is set). The data and the filters are the same for
//! both; a backend that cannot hold U+0000 in text stores U+0001 in its place (one title).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::time::Instant;

use scim_filter::parse_filter;
use scim_schema::profile::RFC;
use scim_schema::render::{self, Memberships, Meta};
use scim_schema::{ErrorKind, ResourceKind, eval, resource};
use scim_store::{Error, Keys, Page, Query, Store, TenantKey};
use serde_json::{Map, Value, json};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const MANAGER: &str = "26118915-6090-4610-87e4-49d8ca9f808d";

/// The users: body, created and last modified (unix milliseconds; equal means never replaced).
fn users() -> Vec<(Value, i64, i64)> {
    vec![
        // u0: RFC 7643's full example user.
        (
            json!({
                "userName": "Bjensen@Example.com", "externalId": "bjensen",
                "name": {"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen", "givenName": "Barbara"},
                "displayName": "Babs Jensen", "nickName": "Babs", "profileUrl": "https://login.example.com/bjensen",
                "title": "Tour Guide", "userType": "Employee", "preferredLanguage": "en-US", "locale": "en-US",
                "timezone": "America/Los_Angeles", "active": true,
                "emails": [
                    {"value": "bjensen@example.com", "type": "work", "primary": true},
                    {"value": "babs@jensen.org", "type": "home"}
                ],
                "addresses": [
                    {"type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood",
                     "region": "CA", "postalCode": "91608", "country": "USA", "primary": true},
                    {"type": "home", "streetAddress": "456 Hollywood Blvd", "locality": "Hollywood",
                     "region": "CA", "postalCode": "91608", "country": "USA"}
                ],
                "phoneNumbers": [{"value": "555-555-5555", "type": "work"}, {"value": "555-555-4444", "type": "mobile"}],
                "ims": [{"value": "someaimhandle", "type": "aim"}],
                "photos": [{"value": "https://photos.example.com/profilephoto/72930000000Ccne/F", "type": "photo"}],
                "x509Certificates": [{"value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx"}],
                "password": "t1meMa$heen",
                ENTERPRISE: {
                    "employeeNumber": "701984", "costCenter": "4130", "organization": "Universal Studios",
                    "division": "Theme Park", "department": "Tour Operations",
                    "manager": {"value": MANAGER, "displayName": "John Smith"}
                }
            }),
            1_264_222_582_000,
            1_305_261_754_000,
        ),
        // u1: created half a second into the second u0 was last modified in.
        (
            json!({
                "userName": "JSMITH@example.com", "externalId": "jsmith",
                "name": {"givenName": "John", "familyName": "Smith"}, "nickName": "Johnny",
                "title": "Vice President", "userType": "Manager", "active": true,
                "emails": [{"value": "john.smith@example.com", "type": "work", "primary": true}],
                "roles": [{"value": "admin", "primary": true}], "entitlements": [{"value": "Read"}],
                ENTERPRISE: {"department": "Executive", "employeeNumber": "00042"}
            }),
            1_305_261_754_500,
            1_305_261_754_500,
        ),
        // u2: accented lowercase letters everywhere.
        (
            json!({
                "userName": "étienne@example.fr", "externalId": "Étienne",
                "name": {"givenName": "Étienne", "familyName": "Dupré"},
                "title": "Ingénieur", "userType": "Employee", "active": false,
                "emails": [{"value": "Etienne.Dupre@Example.FR", "type": "work", "primary": true}],
                "addresses": [{"locality": "Zürich", "country": "CH", "type": "work"}],
                "preferredLanguage": "fr-FR", "locale": "fr_FR"
            }),
            1_305_261_755_000,
            1_400_000_000_123,
        ),
        // u3: accented capitals, an empty nickName.
        (
            json!({
                "userName": "ÉMILE@example.fr", "name": {"givenName": "Émile"}, "title": "ÉLÈVE", "nickName": "",
                "active": false, "userType": "Student",
                "emails": [{"value": "emile@example.fr", "type": "home"}]
            }),
            1_305_261_753_999,
            1_305_261_754_999,
        ),
        // u4: an empty title, no emails.
        (
            json!({
                "userName": "ann.o'malley@example.com", "externalId": "Ann",
                "name": {"familyName": "O'Malley", "givenName": "Ann"}, "title": "", "userType": "Intern", "active": true
            }),
            1_500_000_000_000,
            1_500_000_000_000,
        ),
        // u5: externalId differing from u4's only by case; two emails, none primary.
        (
            json!({
                "userName": "ANN.OTHER@example.com", "externalId": "ann", "userType": "intern",
                "emails": [{"value": "ann@other.org", "type": "other", "primary": false},
                           {"value": "ANN@OTHER.ORG", "type": "home"}],
                "phoneNumbers": [{"value": "+1 555 0100", "type": "mobile", "primary": true}]
            }),
            1_500_000_000_001,
            1_500_000_000_001,
        ),
        // u6: LIKE's wildcards in its strings.
        (
            json!({
                "userName": "x%y_z@example.com", "title": "100% sure_thing", "displayName": "Percent_Underscore",
                "userType": "Contractor"
            }),
            1_600_000_000_000,
            1_600_000_000_000,
        ),
        // u7: nothing but a name (and the default `active`).
        (json!({"userName": "minimal"}), 1_600_000_000_000, 1_600_000_000_000),
        // u8: letters whose case folding is not ASCII's: ß, İ.
        (
            json!({
                "userName": "straße@example.de", "title": "Straße", "displayName": "İstanbul Office",
                "userType": "Employee",
                "emails": [{"value": "strasse@example.de", "type": "work", "primary": true}],
                ENTERPRISE: {"department": "tour operations", "costCenter": "", "manager": {"value": MANAGER}}
            }),
            1_650_000_000_000,
            1_650_000_000_000,
        ),
        // u9: non-BMP text, two roles, a certificate, a manager id in capitals.
        (
            json!({
                "userName": "zoë@example.com", "displayName": "Zoë 🦀", "title": "Tour guide", "userType": "Employee",
                "active": true,
                "emails": [{"value": "zoe@example.com", "type": "work", "primary": true},
                           {"value": "zoe@home.example", "type": "home", "primary": false}],
                "roles": [{"value": "Admin"}, {"value": "reader"}],
                "x509Certificates": [{"value": "MIIBxyz"}],
                ENTERPRISE: {"manager": {"value": MANAGER.to_uppercase()}, "department": "Tour Operations"}
            }),
            1_660_000_000_000,
            1_660_000_000_000,
        ),
        // u10: a NUL and a tab inside strings.
        (
            json!({"userName": "nul@example.com", "title": "a\u{0}b", "nickName": "tab\there", "userType": "Employee"}),
            1_670_000_000_000,
            1_670_000_000_000,
        ),
        // u11: last modified much later; an uppercase URL.
        (
            json!({
                "userName": "z-last@example.com", "title": "zzz", "userType": "employee",
                "profileUrl": "HTTPS://EXAMPLE.COM/Z", "timezone": "Europe/Paris",
                "emails": [{"value": "z@example.com", "type": "work", "display": "Z"}]
            }),
            1_680_000_000_000,
            1_700_000_000_000,
        ),
    ]
}

/// The groups: body, created, and members as indexes (`u3`, `g0`).
fn groups() -> Vec<(Value, i64, Vec<&'static str>)> {
    vec![
        (json!({"displayName": "Tour Guides", "externalId": "tg"}), 1_300_000_000_000, vec!["u0", "u9", "u4"]),
        (json!({"displayName": "Executives", "externalId": "EXEC"}), 1_300_000_000_500, vec!["u1"]),
        (json!({"displayName": "Émigrés"}), 1_400_000_000_000, vec!["u2", "u3"]),
        (json!({"displayName": "Empty", "externalId": ""}), 1_500_000_000_000, vec![]),
        (json!({"displayName": "All Staff", "externalId": "all"}), 1_600_000_000_000, vec!["g0", "g1", "u6"]),
        (json!({"displayName": "Everyone"}), 1_700_000_000_000, vec!["g4", "u11"]),
    ]
}

/// A backend under test: a [`Store`] on it, and whatever must live as long as the store (a
/// temporary folder, a database dropped at the end).
pub struct Harness {
    /// The store, written and listed through the contract only.
    pub store: Store,
    /// Dropped after the store.
    pub _guard: Box<dyn std::any::Any>,
}

impl Harness {
    fn tenant(&mut self, name: &str) -> TenantKey {
        self.store.create_tenant(Some(name), "rfc").unwrap().key
    }

    fn insert(
        &mut self,
        tenant: TenantKey,
        kind: ResourceKind,
        keys: &Keys,
        attrs: &Map<String, Value>,
        created: i64,
        modified: i64,
    ) -> String {
        let (keys, attrs) = (keys.clone(), attrs.clone());
        self.store
            .write(move |w| -> Result<String, Error> {
                let stored = w.insert(tenant, kind, &keys, &attrs, created)?;
                if modified != created {
                    w.replace(tenant, kind, &stored.id, &keys, &attrs, modified)?;
                }
                Ok(stored.id)
            })
            .unwrap()
    }

    fn add_members(&mut self, tenant: TenantKey, group: &str, members: &[String]) {
        let (group, members) = (group.to_owned(), members.to_vec());
        self.store.write(move |w| w.add_members(tenant, &group, &members, true)).unwrap();
    }

    fn list(&self, tenant: TenantKey, kind: ResourceKind, query: &Query) -> Result<Page, Error> {
        self.store.read(|r| r.list(tenant, kind, query))
    }
}

/// The directory written through a backend, and rendered as the server renders it.
pub struct Directory {
    harness: Harness,
    tenant: TenantKey,
    users: Vec<String>,
    groups: Vec<String>,
    rendered_users: Vec<(String, Value)>,
    rendered_groups: Vec<(String, Value)>,
}

fn keys(kind: ResourceKind, parsed: &resource::Resource) -> Keys {
    Keys {
        name: parsed.name(kind).to_owned(),
        external_id: parsed.external_id().map(str::to_owned),
        email: parsed.primary_email().map(str::to_owned),
    }
}

/// `value` with every U+0000 in its strings turned into U+0001: the schema layer refuses U+0000
/// in what is written (PostgreSQL's text cannot hold it), while filters may still name it.
fn without_nul(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace('\0', "\u{1}")),
        Value::Array(items) => Value::Array(items.iter().map(without_nul).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), without_nul(v))).collect()),
        other => other.clone(),
    }
}

fn insert(h: &mut Harness, tenant: TenantKey, kind: ResourceKind, body: &Value, created: i64, modified: i64) -> String {
    let body = without_nul(body);
    let parsed = resource::parse(&RFC, kind, &body).unwrap();
    h.insert(tenant, kind, &keys(kind, &parsed), &parsed.attrs, created, modified)
}

/// The indexes (`u3` is user 3, `g0` group 0) of the direct members of each group.
fn direct_members() -> Vec<Vec<(ResourceKind, usize)>> {
    groups()
        .iter()
        .map(|(_, _, members)| {
            members
                .iter()
                .map(|m| {
                    (if m.starts_with('u') { ResourceKind::User } else { ResourceKind::Group }, m[1..].parse().unwrap())
                })
                .collect()
        })
        .collect()
}

/// Whether group `g` holds `member`, directly or through nested groups.
fn holds(g: usize, member: (ResourceKind, usize)) -> bool {
    direct_members()[g].iter().any(|&m| m == member || (m.0 == ResourceKind::Group && holds(m.1, member)))
}

impl Directory {
    /// Writes the directory through `harness`.
    pub fn new(mut harness: Harness) -> Directory {
        let tenant = harness.tenant("a");
        // Another tenant with look-alike resources, which no filter of tenant `a` may return.
        let other = harness.tenant("b");
        let twin = insert(&mut harness, other, ResourceKind::User, &users()[0].0, 1, 1);
        let twin_group = insert(&mut harness, other, ResourceKind::Group, &groups()[0].0, 1, 1);
        harness.add_members(other, &twin_group, &[twin]);

        let users: Vec<String> = users()
            .iter()
            .map(|(body, created, modified)| {
                insert(&mut harness, tenant, ResourceKind::User, body, *created, *modified)
            })
            .collect();
        let mut group_ids: Vec<String> = Vec::new();
        for ((body, created, _), members) in groups().into_iter().zip(direct_members()) {
            let id = insert(&mut harness, tenant, ResourceKind::Group, &body, created, created);
            let ids: Vec<String> = members
                .iter()
                .map(|&(kind, i)| if kind == ResourceKind::User { users[i].clone() } else { group_ids[i].clone() })
                .collect();
            harness.add_members(tenant, &id, &ids);
            group_ids.push(id);
        }
        let mut directory = Directory {
            harness,
            tenant,
            users,
            groups: group_ids,
            rendered_users: Vec::new(),
            rendered_groups: Vec::new(),
        };
        directory.rendered_users = directory.render(ResourceKind::User);
        directory.rendered_groups = directory.render(ResourceKind::Group);
        directory
    }

    /// Every resource of `kind` as the server renders it under the rfc profile, read back from
    /// the backend, with its memberships listed by id (a user's groups direct and indirect, a
    /// group's direct members) as the directory above defines them.
    fn render(&self, kind: ResourceKind) -> Vec<(String, Value)> {
        let page = self.harness.list(self.tenant, kind, &Query { limit: 1000, ..Query::default() }).unwrap();
        page.items
            .iter()
            .map(|stored| {
                let listed: Vec<Value> = match kind {
                    ResourceKind::User => {
                        let me = (ResourceKind::User, self.users.iter().position(|u| *u == stored.id).unwrap());
                        (0..self.groups.len())
                            .filter(|&g| holds(g, me))
                            .map(|g| json!({"value": self.groups[g]}))
                            .collect()
                    }
                    ResourceKind::Group => {
                        let me = self.groups.iter().position(|g| *g == stored.id).unwrap();
                        direct_members()[me]
                            .iter()
                            .map(|&(kind, i)| {
                                let ids = if kind == ResourceKind::User { &self.users } else { &self.groups };
                                json!({"value": ids[i]})
                            })
                            .collect()
                    }
                };
                let meta = Meta {
                    id: &stored.id,
                    created: stored.created,
                    modified: stored.modified,
                    version: stored.version,
                };
                let json = render::render(&RFC, kind, meta, stored.attrs.clone(), Memberships::Listed(listed), None);
                (stored.id.clone(), json)
            })
            .collect()
    }

    /// `{u3}` → the id of user 3, `{U3}` → it in capitals, `{g1}`, `{G1}` likewise for groups,
    /// `{g1:8}` → its first 8 characters.
    fn expand(&self, filter: &str) -> String {
        let mut out = filter.to_owned();
        for (prefix, ids) in [("u", &self.users), ("g", &self.groups)] {
            for (i, id) in ids.iter().enumerate().rev() {
                out = out.replace(&format!("{{{prefix}{i}:8}}"), &id[..8]);
                out = out.replace(&format!("{{{prefix}{i}}}"), id);
                out = out.replace(&format!("{{{}{i}}}", prefix.to_uppercase()), &id.to_uppercase());
            }
        }
        out
    }

    /// What the evaluator says: the matching ids, or the error kind.
    fn evaluate(&self, kind: ResourceKind, filter: &scim_filter::Filter) -> Result<BTreeSet<String>, ErrorKind> {
        eval::validate(kind, filter).map_err(|e| e.kind)?;
        let rendered = if kind == ResourceKind::User { &self.rendered_users } else { &self.rendered_groups };
        let mut ids = BTreeSet::new();
        for (id, json) in rendered {
            if eval::matches(kind, json, filter).map_err(|e| e.kind)? {
                ids.insert(id.clone());
            }
        }
        Ok(ids)
    }

    /// What the store says: the listed ids (checked against the total), or the error kind.
    fn list(&self, kind: ResourceKind, filter: &scim_filter::Filter) -> Result<BTreeSet<String>, ErrorKind> {
        let query = Query { filter: Some(filter.clone()), limit: 1000, with_total: true, ..Query::default() };
        match self.harness.list(self.tenant, kind, &query) {
            Ok(page) => {
                assert_eq!(page.total, Some(page.items.len() as u64), "{filter}");
                assert!(!page.more);
                Ok(page.items.into_iter().map(|s| s.id).collect())
            }
            Err(Error::Filter(e)) => Err(e.kind),
            Err(other) => panic!("{filter}: the store failed: {other}"),
        }
    }

    fn name_of(&self, kind: ResourceKind, id: &str) -> String {
        let rendered = if kind == ResourceKind::User { &self.rendered_users } else { &self.rendered_groups };
        let json = &rendered.iter().find(|(i, _)| i == id).unwrap().1;
        json.get("userName").or_else(|| json.get("displayName")).unwrap().to_string()
    }
}

use ResourceKind::{Group as G, User as U};

/// Filters both sides must answer alike. Every operator on every type, grouping, value paths,
/// URN-qualified names, meta dates, memberships, `ne` on absent attributes, `pr` on empty
/// values, non-ASCII case folding, RFC 7644 section 3.4.2.2's examples and the IdPs' filters.
const AGREE: &[(ResourceKind, &str)] = &[
    // RFC 7644 section 3.4.2.2, in order.
    (U, r#"userName Eq "john""#),
    (U, r#"userName eq "bjensen@example.com""#),
    (U, r#"name.familyName co "O'Malley""#),
    (U, r#"userName sw "J""#),
    (U, r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#),
    (U, "title pr"),
    (U, r#"meta.lastModified gt "2011-05-13T04:42:34Z""#),
    (U, r#"meta.lastModified ge "2011-05-13T04:42:34Z""#),
    (U, r#"meta.lastModified lt "2011-05-13T04:42:34Z""#),
    (U, r#"meta.lastModified le "2011-05-13T04:42:34Z""#),
    (U, r#"title pr and userType eq "Employee""#),
    (U, r#"title pr or userType eq "Intern""#),
    (U, r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#),
    (U, r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#),
    (U, r#"userType eq "Employee" and (emails.type eq "work")"#),
    (U, r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#),
    (U, r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#),
    // Identity providers: Okta, Entra ID, OneLogin, Google, JumpCloud, AWS's own subset.
    (U, r#"userName eq "test.user@okta.local""#),
    (U, r#"userName eq "BJENSEN@EXAMPLE.COM""#),
    (U, r#"username eq "zoë@example.com""#),
    (U, r#"externalId eq "bjensen""#),
    (U, r#"externalId eq "Ann""#),
    (U, r#"externalId eq "ann""#),
    (U, r#"externalId eq "ANN""#),
    (U, r#"emails[type eq "work"].value eq "bjensen@example.com""#),
    (U, r#"emails[type eq "work"].value eq "BJENSEN@example.com""#),
    (U, r#"emails.value eq "ann@other.org""#),
    (U, r#"id eq "{u0}""#),
    (U, r#"id eq "{U0}""#),
    (U, r#"id eq "{g0}""#),
    (U, r#"id eq "{u0}" and manager eq "26118915-6090-4610-87e4-49d8ca9f808d""#),
    (U, r#"id eq "{u1}" and manager eq "26118915-6090-4610-87e4-49d8ca9f808d""#),
    (U, r#"manager eq "26118915-6090-4610-87e4-49d8ca9f808d""#),
    (U, r#"groups.value eq "{g0}""#),
    (U, r#"groups.value eq "{G0}""#),
    (U, r#"groups.value eq "{g4}""#),
    (U, r#"groups.value eq "{g5}""#),
    (U, r#"groups.value eq "{g3}""#),
    (U, r#"groups.value eq "{u0}""#),
    (U, r#"groups.value eq "no-such-group""#),
    (U, r#"userName eq "Bjensen@Example.com" and externalId eq "bjensen""#),
    (G, r#"displayName eq "Tour Guides""#),
    (G, r#"displayName eq "tour guides""#),
    (G, r#"externalId eq "tg""#),
    (G, r#"externalId eq "exec""#),
    (G, r#"id eq "{g0}" and members eq "{u0}""#),
    (G, r#"id eq "{g0}" and members eq "{u1}""#),
    (G, r#"members.value eq "{u0}""#),
    (G, r#"members.value eq "{U0}""#),
    (G, r#"members eq "{g0}""#),
    (G, r#"members eq "{g4}""#),
    (G, r#"members[value eq "{u6}"]"#),
    // Strings that ignore case (caseExact false), every operator.
    (U, r#"title eq "tour guide""#),
    (U, r#"title ne "tour guide""#),
    (U, r#"title co "GUIDE""#),
    (U, r#"title sw "tour""#),
    (U, r#"title ew "IDE""#),
    (U, r#"title gt "Tour Guide""#),
    (U, r#"title ge "Tour Guide""#),
    (U, r#"title lt "Tour Guide""#),
    (U, r#"title le "tour guide""#),
    (U, r#"title gt "Z""#),
    (U, r#"title lt "A""#),
    (U, r#"title gt """#),
    (U, r#"displayName le "babs jensen""#),
    (U, r#"nickName gt "b""#),
    (U, r#"name.givenName lt "c""#),
    (U, r#"name.formatted co "j jensen""#),
    (U, r#"userType eq "EMPLOYEE""#),
    (U, r#"userType ne "employee""#),
    (U, r#"locale ew "fr""#),
    (U, r#"preferredLanguage sw "EN""#),
    (U, r#"timezone co "/""#),
    // Strings compared exactly (caseExact true): id and externalId.
    (U, r#"externalId ne "bjensen""#),
    (U, r#"externalId co "nn""#),
    (U, r#"externalId sw "A""#),
    (U, r#"externalId ew "ENNE""#),
    (U, r#"externalId ew "enne""#),
    (U, r#"externalId gt "a""#),
    (U, r#"externalId lt "a""#),
    (U, r#"externalId le "Ann""#),
    (U, r#"id sw "{u3:8}""#),
    (U, r#"id co "-4""#),
    (U, r#"id gt "8""#),
    (U, r#"id ne "{u2}""#),
    // Empty strings: present only as a value, not for `pr`.
    (U, r#"title eq """#),
    (U, r#"title ne """#),
    (U, r#"title co """#),
    (U, r#"title sw """#),
    (U, r#"title ew """#),
    (U, r#"nickName eq """#),
    (U, "nickName pr"),
    (U, "not (nickName pr)"),
    (U, "nickName eq null"),
    (U, "nickName ne null"),
    (U, r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter eq """#),
    (U, "costCenter pr"),
    (G, r#"externalId eq """#),
    (G, "externalId pr"),
    (G, "externalId eq null"),
    // Non-ASCII case folding: É/é, ß, İ, ë, emoji; LIKE's wildcards are plain characters.
    (U, r#"userName eq "ÉTIENNE@EXAMPLE.FR""#),
    (U, r#"userName eq "émile@example.fr""#),
    (U, r#"userName sw "é""#),
    (U, r#"userName sw "É""#),
    (U, r#"title eq "élève""#),
    (U, r#"title co "È""#),
    (U, r#"title eq "ingénieur""#),
    (U, r#"title eq "INGÉNIEUR""#),
    (U, r#"title eq "INGENIEUR""#),
    (U, r#"title eq "straße""#),
    (U, r#"title eq "STRASSE""#),
    (U, r#"title co "SS""#),
    (U, r#"displayName sw "i̇stanbul""#),
    (U, r#"displayName sw "istanbul""#),
    (U, r#"displayName co "🦀""#),
    (U, r#"displayName ew "Ë 🦀""#),
    (U, r#"name.givenName eq "étienne""#),
    (U, r#"name.familyName ew "PRÉ""#),
    (U, r#"addresses.locality eq "ZÜRICH""#),
    (U, r#"userName co "%""#),
    (U, r#"userName co "_""#),
    (U, r#"userName sw "x%""#),
    (U, r#"title co "100%""#),
    (U, r#"title co "%s""#),
    (U, r#"displayName co "t_u""#),
    (U, r#"title co "a""#),
    (U, r#"title eq "a\u0000b""#),
    (U, r#"title sw "a\u0000""#),
    (U, r#"title ew "\u0000b""#),
    (U, r#"nickName co "\t""#),
    (G, r#"displayName eq "émigrés""#),
    (G, r#"displayName co "É""#),
    (G, r#"displayName sw "e""#),
    (G, r#"displayName gt "E""#),
    // Booleans: eq and ne only, also with "true"/"false" text (Entra ID's "True").
    (U, "active eq true"),
    (U, "active eq false"),
    (U, "active ne true"),
    (U, "active ne false"),
    (U, r#"active ne "False""#),
    (U, r#"active eq "True""#),
    (U, r#"active eq "FALSE""#),
    (U, "active pr"),
    (U, "emails.primary eq true"),
    (U, "emails.primary eq false"),
    (U, "emails.primary ne true"),
    (U, "emails[primary eq true]"),
    (U, "emails[not (primary eq true)]"),
    (U, "addresses.primary eq true"),
    (U, "roles[primary eq true]"),
    (U, "phoneNumbers[primary pr]"),
    // null.
    (U, "title eq null"),
    (U, "title ne null"),
    (U, "emails eq null"),
    (U, "emails ne null"),
    (U, "addresses eq null"),
    (U, "name eq null"),
    (U, "manager eq null"),
    (U, "manager.value eq null"),
    (U, "externalId eq null"),
    (U, "externalId ne null"),
    (U, "groups eq null"),
    (U, "emails.type eq null"),
    (U, "emails[type eq null]"),
    (G, "members eq null"),
    (G, "members ne null"),
    // pr on every shape.
    (U, "externalId pr"),
    (U, "id pr"),
    (U, "meta pr"),
    (U, "meta.created pr"),
    (U, "meta.version pr"),
    (U, "emails pr"),
    (U, "emails.value pr"),
    (U, "emails.display pr"),
    (U, "addresses pr"),
    (U, "addresses.region pr"),
    (U, "name pr"),
    (U, "name.middleName pr"),
    (U, "manager pr"),
    (U, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager pr"),
    (U, "groups pr"),
    (U, "groups.value pr"),
    (U, "roles pr"),
    (U, "x509Certificates pr"),
    (U, "password pr"),
    (U, r#"password eq "t1meMa$heen""#),
    (U, r#"password ne "x""#),
    (U, "profileUrl pr"),
    (G, "members pr"),
    (G, "not (members pr)"),
    (G, "members.value pr"),
    (G, "displayName pr"),
    // ne on absent attributes (no value, so no match), and on multi-valued ones (any value).
    (U, r#"title ne "Tour Guide""#),
    (U, r#"nickName ne "Johnny""#),
    (U, r#"manager.value ne "x""#),
    (U, r#"emails.type ne "work""#),
    (U, r#"emails ne "bjensen@example.com""#),
    (U, r#"department ne "Tour Operations""#),
    (U, r#"groups.value ne "{g0}""#),
    (G, r#"members ne "{u0}""#),
    (G, r#"displayName ne "empty""#),
    // RFC 7644 section 3.4.2.2: on a multi-valued attribute every operator, ne included,
    // matches when any one value does; `not (... eq ...)` is "no value equals".
    (U, r#"emails.type ne "home""#),
    (U, r#"not (emails.type eq "work")"#),
    (U, r#"not (emails.type eq "home")"#),
    (U, r#"emails.value ne "bjensen@example.com""#),
    (U, r#"emails.value ne "zoe@example.com""#),
    (U, r#"not (emails.value eq "zoe@example.com")"#),
    (U, r#"emails ne "ANN@other.org""#),
    (U, r#"emails.value eq "ANN@OTHER.ORG""#),
    (U, r#"emails.value co "HOME""#),
    (U, r#"emails.value sw "zoe@h""#),
    (U, r#"emails.value ew ".org""#),
    (U, r#"emails.value gt "y""#),
    (U, r#"emails.value ge "zoe@home.example""#),
    (U, r#"emails.value lt "b""#),
    (U, r#"emails.value le "ann@other.org""#),
    (U, r#"emails gt "s""#),
    (U, "emails.primary ne false"),
    (U, r#"emails.primary ne "TRUE""#),
    (U, "emails[primary ne true]"),
    (U, r#"emails[type ne "work"]"#),
    (U, r#"emails[type ne "work" and value co "example"]"#),
    (U, r#"emails[type ne "home"] and emails[type eq "home"]"#),
    (U, r#"addresses.locality ne "hollywood""#),
    (U, r#"addresses.type ne "work""#),
    (U, r#"addresses[type ne "work"]"#),
    (U, r#"addresses.postalCode gt "9""#),
    (U, r#"phoneNumbers.type ne "mobile""#),
    (U, r#"phoneNumbers.value ew "4444""#),
    (U, r#"roles.value ne "admin""#),
    (U, r#"roles.value gt "b""#),
    (U, r#"roles[value ne "reader"]"#),
    (U, r#"ims.value ne "someaimhandle""#),
    (U, r#"photos.value ne "https://x""#),
    (U, r#"entitlements.value ne "read""#),
    (U, r#"x509Certificates.value ne "MIIBxyz""#),
    (U, r#"x509Certificates.value ew "xyz""#),
    (U, r#"groups.value ne "{g4}""#),
    (U, r#"groups ne "{g0}""#),
    (U, r#"not (groups.value eq "{g0}")"#),
    (U, r#"groups[value ne "{g0}"]"#),
    (U, r#"groups.value lt "{g5}""#),
    (G, r#"members.value ne "{u0}""#),
    (G, r#"members[value ne "{u0}"]"#),
    (G, r#"not (members eq "{u0}")"#),
    (G, r#"members.value ge "{u3}""#),
    // Single-valued attributes are lists of at most one value: ne needs a value that differs.
    (U, r#"name.givenName ne "barbara""#),
    (U, r#"not (name.givenName eq "barbara")"#),
    (U, r#"name[givenName ne "barbara"]"#),
    (U, r#"manager.displayName ne "x""#),
    (U, r#"costCenter ne "4130""#),
    (U, r#"externalId ne "Ann""#),
    (U, r#"not (externalId eq "Ann")"#),
    (U, r#"meta.created ne "2011-05-13T04:42:34.5Z""#),
    (U, r#"meta.lastModified ne "2011-05-13T04:42:34Z""#),
    (U, r#"meta.resourceType ne "User""#),
    (G, r#"externalId ne "tg""#),
    // meta: dates at second precision, chronological; co, sw and ew compare the rendered text.
    (U, r#"meta.created eq "2011-05-13T04:42:34Z""#),
    (U, r#"meta.created eq "2011-05-13T04:42:34.500Z""#),
    (U, r#"meta.created gt "2011-05-13T04:42:34.5Z""#),
    (U, r#"meta.created ge "2011-05-13T04:42:34.5Z""#),
    (U, r#"meta.created lt "2011-05-13T04:42:35Z""#),
    (U, r#"meta.created le "2011-05-13T04:42:33.999Z""#),
    (U, r#"meta.created ge "2011-05-13T06:42:34+02:00""#),
    (U, r#"meta.created lt "2011-05-13T04:42:34""#),
    (U, r#"meta.created ne "2020-09-13T12:26:40Z""#),
    (U, r#"meta.lastModified gt "2014-01-01T00:00:00Z" and meta.lastModified lt "2024-01-01T00:00:00Z""#),
    (U, r#"meta.lastModified eq "2014-05-13T16:53:20Z""#),
    (U, r#"meta.created sw "2011-05-13""#),
    (U, r#"meta.created co "t04:42""#),
    (U, r#"meta.lastModified ew "z""#),
    (U, r#"meta.resourceType eq "User""#),
    (U, r#"meta.resourceType eq "user""#),
    (U, r#"meta.version eq "W/\"2\"""#),
    (U, r#"meta.version ne "W/\"1\"""#),
    (U, r#"meta[created lt "2011-05-13T04:42:35Z" and version eq "W/\"1\""]"#),
    (G, r#"meta.created ge "2011-05-13T04:42:34Z""#),
    (G, r#"meta.resourceType eq "Group""#),
    (G, r#"meta.lastModified gt "2020-01-01T00:00:00Z" or meta.created lt "2011-01-01T00:00:00Z""#),
    // References and binary.
    (U, r#"profileUrl co "EXAMPLE.com""#),
    (U, r#"profileUrl sw "https://""#),
    (U, r#"photos.value sw "https""#),
    (U, r#"photos[type eq "photo"]"#),
    (U, r#"x509Certificates.value eq "MIIBxyz""#),
    (U, r#"x509Certificates.value co "miib""#),
    (U, r#"x509Certificates.value sw "MIID""#),
    // The enterprise extension, qualified and not.
    (U, r#"department eq "Tour Operations""#),
    (U, r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "tour operations""#),
    (U, r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department co "OPER""#),
    (U, r#"employeeNumber gt "00100""#),
    (U, r#"employeeNumber lt "1""#),
    (U, r#"organization pr"#),
    (U, r#"manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#),
    (
        U,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87E4-49D8CA9F808D""#,
    ),
    (U, r#"manager.displayName pr"#),
    (U, r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[value sw "26118915"]"#),
    (U, r#"manager[not (value eq "x")]"#),
    (U, r#"manager[not (displayName pr)]"#),
    (U, r#"manager ne "26118915-6090-4610-87e4-49d8ca9f808d""#),
    // Value paths.
    (U, r#"emails[type eq "work"]"#),
    (U, r#"emails[type eq "WORK"]"#),
    (U, r#"emails[not (type eq "work")]"#),
    (U, r#"emails[type eq "home" and value ew ".org"]"#),
    (U, r#"emails[type eq "home" or primary eq true]"#),
    (U, r#"emails[value pr and not (display pr)]"#),
    (U, r#"emails[display eq "z"]"#),
    (U, r#"not (emails[type eq "work"])"#),
    (U, r#"emails[type eq "work"] and emails[type eq "home"]"#),
    (U, r#"addresses[locality eq "hollywood" and type eq "home"]"#),
    (U, r#"addresses[country eq "CH" or region pr]"#),
    (U, r#"phoneNumbers[type eq "mobile"]"#),
    (U, r#"phoneNumbers[value co "555"] and phoneNumbers[type eq "work"]"#),
    (U, r#"name[givenName eq "barbara"]"#),
    (U, r#"name[not (middleName pr)]"#),
    (U, r#"name[givenName sw "É" or familyName eq "smith"]"#),
    (U, r#"roles[value eq "ADMIN"]"#),
    (U, r#"ims[type eq "aim"]"#),
    (U, r#"entitlements[value co "ea"]"#),
    (U, r#"groups[value eq "{g1}"]"#),
    (U, r#"groups[not (value eq "{g0}")]"#),
    (U, r#"groups[value sw "{g2:8}"]"#),
    (G, r#"members[value eq "{u0}" or value eq "{u2}"]"#),
    (G, r#"members[not (value eq "{u1}")]"#),
    (G, r#"members[value pr]"#),
    (G, r#"meta[resourceType eq "Group"]"#),
    // Memberships beyond eq.
    (U, r#"groups co "{g5:8}""#),
    (U, r#"groups.value sw "{g0:8}""#),
    (U, r#"groups.value gt "8""#),
    (U, r#"not (groups pr)"#),
    (U, r#"groups.value eq "{g0}" or groups.value eq "{g2}""#),
    (G, r#"members.value co "{u9:8}""#),
    (G, r#"members.value lt "8""#),
    (G, r#"members eq "{u0}" and members eq "{u9}""#),
    // Grouping, not, precedence.
    (U, r#"not (not (title pr))"#),
    (U, r#"not (title pr and userType eq "Employee")"#),
    (U, r#"not (title pr) or not (userType eq "Employee")"#),
    (U, r#"title pr and (userType eq "Employee" or userType eq "Intern") and active eq true"#),
    (U, r#"title pr and userType eq "Employee" or userType eq "Intern" and active eq true"#),
    (U, r#"(title pr or nickName pr) and not (emails pr or addresses pr)"#),
    (U, r#"userName sw "a" or userName sw "b" or userName sw "é" or userName sw "z""#),
    (U, r#"not (userName eq "minimal") and not (meta.created gt "2015-01-01T00:00:00Z")"#),
    (U, r#"(active eq false or emails[primary eq true and type eq "work"]) and not (department pr)"#),
    (G, r#"not (displayName sw "E") and (members pr or externalId pr)"#),
    (G, r#"displayName eq "Tour Guides" or displayName eq "Émigrés" or id eq "{g3}""#),
];

/// Filters both sides refuse with `InvalidFilter`, whatever the data.
const REFUSED: &[(ResourceKind, &str)] = &[
    // RFC 7644 section 3.4.2.2: a literal that cannot be a value of the attribute's type.
    (U, r#"meta.created gt "yesterday""#),
    (U, r#"meta.created eq "2026-13-45T25:61:00Z""#),
    (U, r#"meta.lastModified ge "2026-02-29T00:00:00Z""#),
    (U, r#"meta.created gt "2011""#),
    (U, r#"meta.created lt "2011-05-13T04:42""#),
    (U, r#"meta.created ne "garbage""#),
    (U, "meta.created eq 1305261754"),
    (U, "meta.lastModified lt true"),
    (U, r#"meta[created gt "soon"]"#),
    (G, r#"meta.created le "2011-05-13 04:42:34""#),
    (U, r#"active eq "yes""#),
    (U, r#"active ne "yes""#),
    (U, "active eq 1"),
    (U, "active ne 0"),
    (U, r#"emails.primary eq "1""#),
    (U, "emails[primary ne 0]"),
    (U, "title eq 5"),
    (U, "title ne 5"),
    (U, "title gt 5"),
    (U, "title le -1.5e3"),
    (U, "emails.value lt 0"),
    (U, "emails ne false"),
    (U, "userName eq true"),
    (U, "externalId eq 42"),
    (U, "profileUrl ne 1"),
    (U, "manager.value eq 7"),
    (U, "groups.value eq 1"),
    (G, "members.value ne 1"),
    (G, "displayName eq false"),
    (U, "x509Certificates.value eq 1"),
    (U, r#"x509Certificates.value lt "MIIB""#),
    (U, "active le false"),
    (U, r#"foo eq "x""#),
    (U, r#"schemas eq "urn:ietf:params:scim:schemas:core:2.0:User""#),
    (U, "title gt true"),
    (U, "active gt true"),
    (U, r#"active lt "false""#),
    (U, "active ge 1"),
    (U, r#"active co "t""#),
    (U, "title co 5"),
    (U, "title sw true"),
    (U, "title gt null"),
    (U, "title co null"),
    (U, r#"emails[nope eq "x"]"#),
    (U, r#"urn:x:y:title eq "a""#),
    (U, r#"urn:ietf:params:scim:schemas:core:2.0:User:id eq "x""#),
    (U, r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "x""#),
    (U, r#"name eq "x""#),
    (U, r#"meta eq "x""#),
    (U, r#"addresses co "x""#),
    (U, r#"title.x eq "x""#),
    (U, r#"emails.foo pr"#),
    (U, r#"title[value eq "x"]"#),
    (U, r#"userName eq "nobody" and foo eq "x""#),
    (U, r#"userName pr or foo eq "x""#),
    (U, r#"emails[type eq "work" or nope pr]"#),
    (U, r#"x509Certificates.value gt "MII""#),
    (U, r#"emails.primary lt true"#),
    (U, r#"meta.created co 2011"#),
    (G, r#"userName eq "x""#),
    (G, r#"emails pr"#),
    (G, r#"members.foo eq "x""#),
    (G, r#"members[value gt true]"#),
    (G, r#"department eq "x""#),
    // RFC 7643 section 8.7.1 gives Group members no display.
    (G, r#"members.display co "a""#),
];

/// Filters the evaluator accepts but the store refuses, with `InvalidFilter`: they name what
/// only the server's rendering decides (URLs, membership types and names).
const STORE_REFUSES: &[(ResourceKind, &str)] = &[
    (U, "meta.location pr"),
    (U, r#"meta.location eq "https://example.com/Users/x""#),
    (U, r#"meta[location co "Users"]"#),
    (U, r#"groups.display eq "Tour Guides""#),
    (U, r#"groups[type eq "direct"]"#),
    (G, r#"members.type eq "User""#),
    (G, r#"members[value pr and $ref pr]"#),
];

/// Every filter of [`AGREE`] lists what the evaluator accepts; [`REFUSED`] and
/// [`STORE_REFUSES`] are refused. Returns how many filters agree.
pub fn store_and_evaluator_agree(d: &Directory) -> usize {
    let started = Instant::now();
    assert_eq!(d.rendered_users.len(), users().len());
    assert_eq!(d.rendered_groups.len(), groups().len());
    let mut failures = Vec::new();
    let (mut discriminating, mut empty) = (0, 0);
    for (kind, text) in AGREE {
        let text = d.expand(text);
        let filter = parse_filter(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let expected = d.evaluate(*kind, &filter);
        let got = d.list(*kind, &filter);
        let all = if *kind == U { d.users.len() } else { d.groups.len() };
        match &expected {
            Ok(ids) if ids.is_empty() => empty += 1,
            Ok(ids) if ids.len() < all => discriminating += 1,
            Ok(_) => {}
            Err(kind) => failures.push(format!("{text}: the evaluator refused it ({kind:?})")),
        }
        if expected != got {
            let names = |r: &Result<BTreeSet<String>, ErrorKind>| match r {
                Ok(ids) => format!("{:?}", ids.iter().map(|id| d.name_of(*kind, id)).collect::<Vec<_>>()),
                Err(e) => format!("{e:?}"),
            };
            failures.push(format!("{text}\n    evaluator: {}\n    store:     {}", names(&expected), names(&got)));
        }
    }
    for (kind, text) in REFUSED {
        let filter = parse_filter(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let (expected, got) = (d.evaluate(*kind, &filter), d.list(*kind, &filter));
        if expected != Err(ErrorKind::InvalidFilter) || got != Err(ErrorKind::InvalidFilter) {
            failures.push(format!("{text}: evaluator {expected:?}, store {got:?}"));
        }
    }
    for (kind, text) in STORE_REFUSES {
        let filter = parse_filter(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        if d.evaluate(*kind, &filter).is_err() || d.list(*kind, &filter) != Err(ErrorKind::InvalidFilter) {
            failures.push(format!("{text}: the store should refuse what the evaluator accepts"));
        }
    }
    // Trees the parser never builds: qualified or dotted paths inside a value path, a value
    // path inside a value path.
    let parsed = |text: &str| parse_filter(text).unwrap();
    let inner = scim_filter::AttrPath { schema: Some(ENTERPRISE.to_owned()), ..scim_filter::AttrPath::new("value") };
    for filter in [
        scim_filter::Filter::ValuePath {
            attr: scim_filter::AttrPath::new("emails"),
            filter: Box::new(scim_filter::Filter::Present(scim_filter::AttrPath::with_sub("value", "x"))),
        },
        scim_filter::Filter::ValuePath {
            attr: scim_filter::AttrPath::new("emails"),
            filter: Box::new(scim_filter::Filter::Present(inner)),
        },
        scim_filter::Filter::ValuePath {
            attr: scim_filter::AttrPath::new("emails"),
            filter: Box::new(parsed(r#"emails[type eq "work"]"#)),
        },
    ] {
        let (expected, got) = (d.evaluate(U, &filter), d.list(U, &filter));
        if expected != Err(ErrorKind::InvalidFilter) || got != Err(ErrorKind::InvalidFilter) {
            failures.push(format!("{filter:?}: evaluator {expected:?}, store {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} filters disagree:\n{}", failures.len(), AGREE.len(), failures.join("\n"));
    println!(
        "{} filters agree ({discriminating} select some but not all, {empty} select none), {} refused by both, {} by the store alone",
        AGREE.len(),
        REFUSED.len(),
        STORE_REFUSES.len()
    );
    assert!(AGREE.len() >= 150);
    assert!(discriminating * 10 >= AGREE.len() * 6, "too few filters tell resources apart: {discriminating}");
    assert!(started.elapsed().as_secs() < 5, "took {:?}", started.elapsed());
    AGREE.len()
}

/// Cursor and offset pages, totals and conditions with a filter.
pub fn paging_and_totals_follow_the_filter(d: &Directory) {
    for (kind, text) in
        [(U, r#"title pr or emails[type eq "work"]"#), (U, r#"groups.value eq "{g5}""#), (G, r#"members pr"#)]
    {
        let filter = parse_filter(&d.expand(text)).unwrap();
        let expected = d.evaluate(kind, &filter).unwrap();
        // Cursor pages of two.
        let (mut seen, mut after) = (Vec::new(), None);
        loop {
            let query = Query { filter: Some(filter.clone()), after, limit: 2, ..Query::default() };
            let page = d.harness.list(d.tenant, kind, &query).unwrap();
            seen.extend(page.items.iter().map(|s| s.id.clone()));
            after = page.items.last().map(|s| s.seq);
            if !page.more {
                break;
            }
        }
        assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), expected, "{text}");
        assert_eq!(seen.len(), expected.len());
        // Offset pages count the filtered rows, and the total ignores the page.
        let query = Query { filter: Some(filter.clone()), offset: 1, limit: 1, with_total: true, ..Query::default() };
        let page = d.harness.list(d.tenant, kind, &query).unwrap();
        assert_eq!(page.total, Some(expected.len() as u64), "{text}");
        assert_eq!(page.items.first().map(|s| s.id.clone()), seen.get(1).cloned());
        // A filter is ANDed with the conditions.
        let query = Query {
            filter: Some(filter.clone()),
            conditions: vec![scim_store::Condition::Id(seen[0].clone())],
            with_total: true,
            ..Query::default()
        };
        let page = d.harness.list(d.tenant, kind, &query).unwrap();
        assert_eq!((page.total, page.items[0].id.clone()), (Some(1), seen[0].clone()));
    }
}

/// Filters of the longest length the parser takes, chains and nesting.
pub fn longest_filters_neither_overflow_nor_hit_limits(d: &Directory) {
    let within = |clause: &str, joiner: &str| {
        let mut text = clause.to_owned();
        while text.len() + joiner.len() + clause.len() <= scim_filter::MAX_INPUT_LEN {
            text.push_str(joiner);
            text.push_str(clause);
        }
        text
    };
    let started = Instant::now();
    for (kind, text) in [
        (U, within("id pr", " or ")),
        (U, within(r#"title eq "x""#, " or ")),
        (U, within(r#"userName eq "x""#, " or ")),
        (U, within("not (id pr)", " or ")),
        (U, within("title pr", " and ")),
        (U, within(r#"emails[type eq "w"]"#, " or ")),
        (U, within(&d.expand(r#"groups.value eq "{g0}""#), " or ")),
        (G, within(&d.expand(r#"members eq "{u0}""#), " or ")),
        (U, within("id pr and title pr", " or ")),
        (U, within(r#"emails[type eq "w"]"#, " and ")),
        (U, within(r#"not (emails.value co "e")"#, " and ")),
        (U, within(&d.expand(r#"groups.value ne "{g0}""#), " and ")),
        (U, within(r#"meta.created gt "2011-05-13T04:42:34.5Z""#, " or ")),
        (U, format!("{}{}{}", "not (".repeat(60), "title pr", ")".repeat(60))),
        (U, format!("{}title pr{}", "(title pr or (title pr and ".repeat(31), "))".repeat(31))),
    ] {
        let filter = parse_filter(&text).unwrap_or_else(|e| panic!("{}...: {e}", &text[..40]));
        let expected = d.evaluate(kind, &filter);
        assert!(expected.is_ok(), "{}...", &text[..40]);
        assert_eq!(d.list(kind, &filter), expected, "{}...", &text[..40]);
    }
    assert!(started.elapsed().as_secs() < 5, "took {:?}", started.elapsed());
}

/// RFC 7644 section 3.4.2.2 with hand-written answers, on both sides: `ne` on a multi-valued
/// attribute (memberships included) holds when any value differs, an absent attribute has no
/// value to differ, and `not (... eq ...)` is "no value equals".
pub fn ne_is_any_value_differs_and_not_eq_is_no_value_equals(d: &Directory) {
    for (kind, text, expected) in [
        (U, r#"emails.type ne "work""#, "u0 u3 u5 u9"),
        (U, r#"not (emails.type eq "work")"#, "u3 u4 u5 u6 u7 u10"),
        (U, r#"emails[type ne "work"]"#, "u0 u3 u5 u9"),
        (U, r#"emails.value ne "ann@other.org""#, "u0 u1 u2 u3 u8 u9 u11"),
        (U, r#"title ne "Tour Guide""#, "u1 u2 u3 u4 u6 u8 u10 u11"),
        (U, r#"not (title eq "Tour Guide")"#, "u1 u2 u3 u4 u5 u6 u7 u8 u10 u11"),
        (U, r#"groups.value ne "{g0}""#, "u0 u1 u2 u3 u4 u6 u9 u11"),
        (U, r#"not (groups.value eq "{g0}")"#, "u1 u2 u3 u5 u6 u7 u8 u10 u11"),
        (G, r#"members ne "{u0}""#, "g0 g1 g2 g4 g5"),
        (G, r#"not (members eq "{u0}")"#, "g1 g2 g3 g4 g5"),
    ] {
        let filter = parse_filter(&d.expand(text)).unwrap();
        let ids = if kind == U { &d.users } else { &d.groups };
        let expected: BTreeSet<String> =
            expected.split(' ').map(|name| ids[name[1..].parse::<usize>().unwrap()].clone()).collect();
        assert_eq!(d.evaluate(kind, &filter), Ok(expected.clone()), "evaluator: {text}");
        assert_eq!(d.list(kind, &filter), Ok(expected), "store: {text}");
    }
}
