//! Users and groups: one row each, indexed key columns beside the JSON attributes.

use rusqlite::types::Type;
use rusqlite::{OptionalExtension, Row};
use scim_schema::ResourceKind;
use serde_json::{Map, Value};

use crate::db::Db;
use crate::error::conflict;
use crate::{Error, TenantKey, ids};

/// The keys a resource is found and kept unique by, as the client gave them.
///
/// The store lowercases `name` and `email` (Unicode `to_lowercase`) for its key columns, so
/// uniqueness and lookups on them ignore case; `external_id` is kept and compared exactly.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Keys {
    /// A user's `userName` or a group's `displayName`.
    pub name: String,
    /// The `externalId`, if any.
    pub external_id: Option<String>,
    /// A user's primary email `value`, if any (always `None` for groups).
    pub email: Option<String>,
}

/// A user or group as stored; its attributes as a JSON object by default, or (`Stored<String>`,
/// from [`crate::Reader::get_text`]) as the object's text, for a caller that only writes them
/// out again.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored<A = Map<String, Value>> {
    /// Creation order within the database: the list order and the paging cursor.
    pub seq: i64,
    /// The server-generated id ([`crate::resource_id`]: a time-ordered UUID).
    pub id: String,
    /// When it was created, in the caller's clock (unix milliseconds by convention).
    pub created: i64,
    /// When it was last changed, in the same clock.
    pub modified: i64,
    /// 1 at creation, one more on every change (an ETag's source).
    pub version: i64,
    /// Every attribute as the schema layer gave it, without `id` or `meta`.
    pub attrs: A,
}

impl Stored {
    /// The same resource with its attributes as the text of a JSON object.
    pub fn into_text(self) -> Stored<String> {
        let Stored { seq, id, created, modified, version, attrs } = self;
        Stored { seq, id, created, modified, version, attrs: Value::Object(attrs).to_string() }
    }
}

/// The `resources` columns [`stored`] reads, in order, for a query aliasing the table `r`.
macro_rules! resource_columns {
    () => {
        "r.seq, r.id, r.created, r.modified, r.version, r.attrs"
    };
}

/// The `resources` columns [`stored`] reads, for statements built at run time.
pub(crate) const COLUMNS: &str = resource_columns!();

/// One resource by tenant, kind and id, as [`COLUMNS`].
const GET: &str =
    concat!("SELECT ", resource_columns!(), " FROM resources r WHERE r.id = ?3 AND r.tenant = ?1 AND r.kind = ?2");

/// [`GET`] at the row a hint names: the row itself, not the `id` index (see `hints`).
const GET_AT: &str = concat!(
    "SELECT ",
    resource_columns!(),
    " FROM resources r WHERE r.seq = ?4 AND r.id = ?3 AND r.tenant = ?1 AND r.kind = ?2"
);

/// A resource marked changed by tenant, kind and id: [`Db::touch`], [`Db::touch_later`].
const BUMP_VERSION: &str =
    "UPDATE resources SET modified = ?4, version = version + 1 WHERE id = ?3 AND tenant = ?1 AND kind = ?2";

/// A [`Stored`] from a row of [`COLUMNS`].
pub(crate) fn stored(row: &Row<'_>) -> rusqlite::Result<Stored> {
    // Parsed from the row's own text, not from a copy of it.
    let attrs = serde_json::from_str(row.get_ref(5)?.as_str()?)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(5, Type::Text, Box::new(e)))?;
    stored_with(row, attrs)
}

/// A [`Stored`] from a row of [`COLUMNS`], its attributes as the stored text: written by
/// `encode`, so compact JSON of an object.
pub(crate) fn stored_text(row: &Row<'_>) -> rusqlite::Result<Stored<String>> {
    stored_with(row, row.get(5)?)
}

fn stored_with<A>(row: &Row<'_>, attrs: A) -> rusqlite::Result<Stored<A>> {
    Ok(Stored {
        seq: row.get(0)?,
        id: row.get(1)?,
        created: row.get(2)?,
        modified: row.get(3)?,
        version: row.get(4)?,
        attrs,
    })
}

/// The JSON text of `attrs`.
fn encode(attrs: &Map<String, Value>) -> Result<String, Error> {
    serde_json::to_string(attrs).map_err(|e| Error::Sqlite(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))
}

/// The value of a kind's `kind` column.
pub(crate) trait KindCode {
    /// 0 for users, 1 for groups.
    fn code(self) -> i64;
}

impl KindCode for ResourceKind {
    fn code(self) -> i64 {
        match self {
            ResourceKind::User => 0,
            ResourceKind::Group => 1,
        }
    }
}

impl Keys {
    /// The lowercased name key.
    pub(crate) fn name_key(&self) -> String {
        self.name.to_lowercase()
    }

    /// The lowercased email key.
    pub(crate) fn email_key(&self) -> Option<String> {
        self.email.as_deref().map(str::to_lowercase)
    }
}

impl Db<'_> {
    /// The tenant's resource of this kind with this id, if any.
    pub fn get(&self, tenant: TenantKey, kind: ResourceKind, id: &str) -> Result<Option<Stored>, Error> {
        Ok(self.conn.prepare_cached(GET)?.query_row((tenant.0, kind.code(), id), stored).optional()?)
    }

    /// [`Db::get`] with the attributes left as their stored text, never parsed.
    ///
    /// The row a hint names is read first, and the row found through the index becomes the hint.
    pub fn get_text(&self, tenant: TenantKey, kind: ResourceKind, id: &str) -> Result<Option<Stored<String>>, Error> {
        let hints = self.hints;
        if let Some(seq) = hints.id(id) {
            let at = self.conn.prepare_cached(GET_AT)?.query_row((tenant.0, kind.code(), id, seq), stored_text);
            if let Some(found) = at.optional()? {
                return Ok(Some(found));
            }
        }
        let found = self.conn.prepare_cached(GET)?.query_row((tenant.0, kind.code(), id), stored_text).optional()?;
        if let Some(found) = &found {
            hints.note_id(id, found.seq);
        }
        Ok(found)
    }

    /// Whether the tenant has a resource of this kind with this id.
    pub fn exists(&self, tenant: TenantKey, kind: ResourceKind, id: &str) -> Result<bool, Error> {
        Ok(self.seq_of(tenant, kind, id)?.is_some())
    }

    /// The `seq` of the tenant's resource of this kind with this id, if any.
    pub(crate) fn seq_of(&self, tenant: TenantKey, kind: ResourceKind, id: &str) -> Result<Option<i64>, Error> {
        Ok(self
            .conn
            .prepare_cached("SELECT seq FROM resources WHERE id = ?3 AND tenant = ?1 AND kind = ?2")?
            .query_row((tenant.0, kind.code(), id), |row| row.get(0))
            .optional()?)
    }
}

impl Db<'_> {
    /// Creates a resource with a fresh time-ordered id ([`crate::resource_id`]), version 1, `created = modified = now`.
    ///
    /// [`Error::NotFound`] for an unknown tenant, [`Error::Quota`] when the tenant is full,
    /// [`Error::Conflict`] when a key is taken.
    pub fn insert(
        &mut self,
        tenant: TenantKey,
        kind: ResourceKind,
        keys: &Keys,
        attrs: &Map<String, Value>,
        now: i64,
    ) -> Result<Stored, Error> {
        let (held, max): (i64, i64) = self
            .conn()
            .prepare_cached(
                r#"SELECT CASE ?2 WHEN 0 THEN users ELSE "groups" END,
                          CASE ?2 WHEN 0 THEN max_users ELSE max_groups END
                   FROM tenants WHERE seq = ?1"#,
            )?
            .query_row((tenant.0, kind.code()), |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?
            .ok_or(Error::NotFound)?;
        if held >= max {
            return Err(Error::Quota(kind));
        }
        let id = ids::uuid_v7()?;
        let json = encode(attrs)?;
        let name_key = keys.name_key();
        self.conn()
            .prepare_cached(
                "INSERT INTO resources
                   (tenant, kind, id, name_key, external_id, email_key, created, modified, version, attrs)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, 1, ?8)",
            )?
            .execute((tenant.0, kind.code(), &id, &name_key, &keys.external_id, keys.email_key(), now, &json))
            .map_err(conflict)?;
        let seq = self.conn().last_insert_rowid();
        // Noted before the commit: if the transaction rolls back, the hints are merely stale.
        self.hints.note_id(&id, seq);
        self.hints.note_name(tenant, kind, &name_key, seq);
        Ok(Stored { seq, id, created: now, modified: now, version: 1, attrs: attrs.clone() })
    }

    /// Replaces a resource's keys and attributes: `version + 1`, `modified = now`, `created` kept.
    ///
    /// [`Error::NotFound`] if the tenant has no such resource, [`Error::Conflict`] when a key is
    /// taken by another resource.
    pub fn replace(
        &mut self,
        tenant: TenantKey,
        kind: ResourceKind,
        id: &str,
        keys: &Keys,
        attrs: &Map<String, Value>,
        now: i64,
    ) -> Result<Stored, Error> {
        let json = encode(attrs)?;
        let (name, email) = (keys.name_key(), keys.email_key());
        let params = (tenant.0, kind.code(), id, &name, &keys.external_id, &email, now, &json);
        let returned = |row: &rusqlite::Row<'_>| Ok((row.get(0)?, row.get(1)?, row.get(2)?));
        // Most replacements keep the resource's keys (an identity provider's PUT carries the
        // same userName): then only the row is written. SQLite rewrites the entry of every
        // index whose column an UPDATE sets, changed or not, so setting the three keys costs
        // three index writes (and at a million users, three pages read and written back).
        let kept = self
            .conn()
            .prepare_cached(
                "UPDATE resources SET modified = ?7, version = version + 1, attrs = ?8
                  WHERE id = ?3 AND tenant = ?1 AND kind = ?2
                    AND name_key IS ?4 AND external_id IS ?5 AND email_key IS ?6
                 RETURNING seq, created, version",
            )?
            .query_row(params, returned)
            .optional()?;
        let (seq, created, version) = match kept {
            Some(kept) => kept,
            None => self
                .conn()
                .prepare_cached(
                    "UPDATE resources
                        SET name_key = ?4, external_id = ?5, email_key = ?6, modified = ?7,
                            version = version + 1, attrs = ?8
                      WHERE id = ?3 AND tenant = ?1 AND kind = ?2
                     RETURNING seq, created, version",
                )?
                .query_row(params, returned)
                .optional()
                .map_err(conflict)?
                .ok_or(Error::NotFound)?,
        };
        self.hints.note_name(tenant, kind, &name, seq);
        Ok(Stored { seq, id: id.to_owned(), created, modified: now, version, attrs: attrs.clone() })
    }

    /// Marks a resource changed without touching its attributes (a membership change):
    /// `version + 1`, `modified = now`. [`Error::NotFound`] if the tenant has no such resource.
    pub fn touch(&mut self, tenant: TenantKey, kind: ResourceKind, id: &str, now: i64) -> Result<Stored, Error> {
        // SQLite's RETURNING names the table's columns unqualified.
        let sql = format!("{BUMP_VERSION} RETURNING {}", COLUMNS.replace("r.", ""));
        self.conn()
            .prepare_cached(&sql)?
            .query_row((tenant.0, kind.code(), id, now), stored)
            .optional()?
            .ok_or(Error::NotFound)
    }

    /// [`Db::touch`] for a caller that needs nothing back; an unknown resource is left alone.
    /// SQLite has one writer, so nothing is gained by waiting for the commit: it runs now.
    pub fn touch_later(&mut self, tenant: TenantKey, kind: ResourceKind, id: &str, now: i64) -> Result<(), Error> {
        self.conn().prepare_cached(BUMP_VERSION)?.execute((tenant.0, kind.code(), id, now))?;
        Ok(())
    }

    /// Deletes a resource for good; its memberships go with it (cascade).
    /// [`Error::NotFound`] if the tenant has no such resource.
    pub fn delete(&mut self, tenant: TenantKey, kind: ResourceKind, id: &str) -> Result<(), Error> {
        let deleted = self
            .conn()
            .prepare_cached("DELETE FROM resources WHERE id = ?3 AND tenant = ?1 AND kind = ?2")?
            .execute((tenant.0, kind.code(), id))?;
        if deleted == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::testkit::{Fixture, attrs, keys};
    use crate::{Store, Unique};

    fn insert(store: &Store, tenant: TenantKey, kind: ResourceKind, keys: Keys) -> Result<Stored, Error> {
        store.write(move |w| w.insert(tenant, kind, &keys, &attrs(&keys.name), 1000))
    }

    #[test]
    fn insert_get_replace_touch_delete() {
        let f = Fixture::new();
        let (store, t) = (&f.store, f.a);
        let user =
            insert(store, t, ResourceKind::User, keys("Alice", Some("ext-1"), Some("Alice@Example.com"))).unwrap();
        assert_eq!(user.version, 1);
        assert_eq!((user.created, user.modified), (1000, 1000));
        assert_eq!(user.attrs, attrs("Alice"));
        let got = store.read(|r| r.get(t, ResourceKind::User, &user.id)).unwrap();
        assert_eq!(got, Some(user.clone()));
        assert!(store.read(|r| r.exists(t, ResourceKind::User, &user.id)).unwrap());
        // The id is a user's, not a group's.
        assert_eq!(store.read(|r| r.get(t, ResourceKind::Group, &user.id)).unwrap(), None);
        assert!(!store.read(|r| r.exists(t, ResourceKind::Group, &user.id)).unwrap());

        let id = user.id.clone();
        let replaced = store
            .write(move |w| w.replace(t, ResourceKind::User, &id, &keys("alice2", None, None), &attrs("x"), 2000))
            .unwrap();
        assert_eq!((replaced.seq, replaced.created, replaced.modified, replaced.version), (user.seq, 1000, 2000, 2));
        assert_eq!(store.read(|r| r.get(t, ResourceKind::User, &user.id)).unwrap(), Some(replaced.clone()));
        // The text form is the stored text itself: what `get` parses.
        let text = store.read(|r| r.get_text(t, ResourceKind::User, &user.id)).unwrap().unwrap();
        assert_eq!(text, replaced.into_text());
        assert_eq!(store.read(|r| r.get_text(t, ResourceKind::Group, &user.id)).unwrap(), None);

        let id = user.id.clone();
        let touched = store.write(move |w| w.touch(t, ResourceKind::User, &id, 3000)).unwrap();
        let got = store.read(|r| r.get(t, ResourceKind::User, &user.id)).unwrap().unwrap();
        assert_eq!((got.modified, got.version, &got.attrs), (3000, 3, &attrs("x")));
        assert_eq!(touched, got);

        let id = user.id.clone();
        store.write(move |w| w.touch_later(t, ResourceKind::User, &id, 4000)).unwrap();
        let got = store.read(|r| r.get(t, ResourceKind::User, &user.id)).unwrap().unwrap();
        assert_eq!((got.modified, got.version), (4000, 4));
        store.write(move |w| w.touch_later(t, ResourceKind::User, "no-such-user", 5000)).unwrap();

        let id = user.id.clone();
        store.write(move |w| w.delete(t, ResourceKind::User, &id)).unwrap();
        assert_eq!(store.read(|r| r.get(t, ResourceKind::User, &user.id)).unwrap(), None);
    }

    #[test]
    fn missing_resources_are_not_found() {
        let f = Fixture::new();
        let (store, t) = (&f.store, f.a);
        let group = insert(store, t, ResourceKind::Group, keys("g", None, None)).unwrap();
        for kind in [ResourceKind::User, ResourceKind::Group] {
            let id = if kind == ResourceKind::User { group.id.clone() } else { "nope".to_owned() };
            let (a, b, c) = (id.clone(), id.clone(), id.clone());
            assert!(matches!(
                store.write(move |w| w.replace(t, kind, &a, &keys("n", None, None), &Map::new(), 1)),
                Err(Error::NotFound)
            ));
            assert!(matches!(store.write(move |w| w.touch(t, kind, &b, 1)), Err(Error::NotFound)));
            assert!(matches!(store.write(move |w| w.delete(t, kind, &c)), Err(Error::NotFound)));
        }
        // Another tenant's id is not found either.
        let (b, id) = (f.b, group.id.clone());
        assert!(matches!(store.write(move |w| w.delete(b, ResourceKind::Group, &id)), Err(Error::NotFound)));
        assert_eq!(store.read(|r| r.get(b, ResourceKind::Group, &group.id)).unwrap(), None);
        // An unknown tenant cannot get resources.
        assert!(matches!(
            insert(store, TenantKey(999), ResourceKind::User, keys("x", None, None)),
            Err(Error::NotFound)
        ));
    }

    #[test]
    fn names_and_emails_are_unique_ignoring_case_external_ids_exactly() {
        let f = Fixture::new();
        let (store, t) = (&f.store, f.a);
        insert(store, t, ResourceKind::User, keys("Ärger", Some("Ext"), Some("A@Example.COM"))).unwrap();
        let refused = |k: Keys| match insert(store, t, ResourceKind::User, k) {
            Err(Error::Conflict(which)) => which,
            other => panic!("expected a conflict, got {other:?}"),
        };
        assert_eq!(refused(keys("äRGER", None, None)), Unique::Name);
        assert_eq!(refused(keys("b", Some("Ext"), None)), Unique::ExternalId);
        assert_eq!(refused(keys("c", None, Some("a@example.com"))), Unique::Email);
        // externalId is case-sensitive; absent keys never collide.
        insert(store, t, ResourceKind::User, keys("d", Some("ext"), None)).unwrap();
        insert(store, t, ResourceKind::User, keys("e", None, None)).unwrap();
        insert(store, t, ResourceKind::User, keys("f", None, None)).unwrap();
        // Users and groups have separate name and externalId spaces.
        insert(store, t, ResourceKind::Group, keys("ärger", Some("Ext"), None)).unwrap();
        assert_eq!(
            match insert(store, t, ResourceKind::Group, keys("ÄRGER", None, None)) {
                Err(Error::Conflict(which)) => which,
                other => panic!("{other:?}"),
            },
            Unique::Name
        );
        // Every rule is per tenant.
        insert(store, f.b, ResourceKind::User, keys("Ärger", Some("Ext"), Some("A@Example.COM"))).unwrap();
    }

    #[test]
    fn replace_keeps_its_own_keys_and_refuses_anothers() {
        let f = Fixture::new();
        let (store, t) = (&f.store, f.a);
        let a = insert(store, t, ResourceKind::User, keys("a", Some("x"), Some("a@x"))).unwrap();
        insert(store, t, ResourceKind::User, keys("b", Some("y"), Some("b@x"))).unwrap();
        let id = a.id.clone();
        let same = store
            .write(move |w| w.replace(t, ResourceKind::User, &id, &keys("A", Some("x"), Some("A@X")), &Map::new(), 5))
            .unwrap();
        assert_eq!(same.version, 2);
        for (k, which) in [
            (keys("B", None, None), Unique::Name),
            (keys("a", Some("y"), None), Unique::ExternalId),
            (keys("a", None, Some("B@x")), Unique::Email),
        ] {
            let id = a.id.clone();
            match store.write(move |w| w.replace(t, ResourceKind::User, &id, &k, &Map::new(), 6)) {
                Err(Error::Conflict(got)) => assert_eq!(got, which),
                other => panic!("expected {which:?}, got {other:?}"),
            }
        }
        // The refused replaces changed nothing.
        let got = store.read(|r| r.get(t, ResourceKind::User, &a.id)).unwrap().unwrap();
        assert_eq!(got.version, 2);
        // Keys that change are moved in their indexes: the old ones are free, the new ones taken.
        let id = a.id.clone();
        let moved = store
            .write(move |w| w.replace(t, ResourceKind::User, &id, &keys("c", Some("z"), None), &Map::new(), 7))
            .unwrap();
        assert_eq!(moved.version, 3);
        insert(store, t, ResourceKind::User, keys("a", Some("x"), Some("a@x"))).unwrap();
        assert!(matches!(
            insert(store, t, ResourceKind::User, keys("C", None, None)),
            Err(Error::Conflict(Unique::Name))
        ));
    }

    #[test]
    fn quota_refuses_the_resource_past_the_limit() {
        let f = Fixture::new();
        let store = &f.store;
        store.set_quota(&f.a_id, 2, 1).unwrap();
        let t = f.a;
        let first = insert(store, t, ResourceKind::User, keys("u1", None, None)).unwrap();
        insert(store, t, ResourceKind::User, keys("u2", None, None)).unwrap();
        assert!(matches!(
            insert(store, t, ResourceKind::User, keys("u3", None, None)),
            Err(Error::Quota(ResourceKind::User))
        ));
        insert(store, t, ResourceKind::Group, keys("g1", None, None)).unwrap();
        assert!(matches!(
            insert(store, t, ResourceKind::Group, keys("g2", None, None)),
            Err(Error::Quota(ResourceKind::Group))
        ));
        // A delete frees a place.
        store.write(move |w| w.delete(t, ResourceKind::User, &first.id)).unwrap();
        insert(store, t, ResourceKind::User, keys("u3", None, None)).unwrap();
        // Other tenants have their own quota.
        insert(store, f.b, ResourceKind::User, keys("u4", None, None)).unwrap();
    }

    #[test]
    fn a_recreated_resource_gets_a_new_id() {
        let f = Fixture::new();
        let (store, t) = (&f.store, f.a);
        let a = insert(store, t, ResourceKind::User, keys("a", None, None)).unwrap();
        let id = a.id.clone();
        store.write(move |w| w.delete(t, ResourceKind::User, &id)).unwrap();
        let b = insert(store, t, ResourceKind::User, keys("a", None, None)).unwrap();
        assert_ne!(a.id, b.id);
        assert!(b.seq > a.seq);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod plan_tests {
    use crate::testkit::Fixture;

    #[test]
    fn a_read_at_a_hinted_row_goes_to_the_row_not_the_id_index() {
        let f = Fixture::new();
        let conn = crate::connection::open_reader(&f.dir.db()).unwrap();
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {}", super::GET_AT)).unwrap();
        let plan: Vec<String> =
            stmt.query_map((f.a.0, 0, "id", 1), |row| row.get(3)).unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(plan, ["SEARCH r USING INTEGER PRIMARY KEY (rowid=?)"]);
    }
}
