//! Users and groups: one row each, the keys in indexed columns beside the `jsonb` attributes.

use std::sync::atomic::{AtomicI64, Ordering};

use postgres::Row;
use postgres::types::Json;
use scim_schema::ResourceKind;
use scim_store::{Error, Keys, Stored, TenantKey, Unique};
use serde_json::{Map, Value};

use crate::session::{Session, col};

/// The `resources` columns [`stored`] reads, in order, for a query aliasing the table `r`.
macro_rules! resource_columns {
    () => {
        "r.seq, r.id, r.created, r.modified, r.version, r.attrs"
    };
}

/// A resource marked changed by tenant, kind and id: [`Session::touch`], [`Session::touch_later`].
macro_rules! bump_version {
    () => {
        "UPDATE resources r SET modified = $4, version = version + 1 WHERE r.id = $3 AND r.tenant = $1 AND r.kind = $2"
    };
}

/// The `resources` columns [`stored`] reads, for statements built at run time; the attributes
/// come last, so [`Attrs::CAST`] can follow.
pub(crate) const COLUMNS: &str = resource_columns!();

/// How a row's attributes are read: parsed (`Map`), or as compact JSON text (`String`) for a
/// caller that only writes them out again (`Reader::get_text`), never built into a tree.
pub(crate) trait Attrs: Sized {
    /// What follows `r.attrs` in the select list.
    const CAST: &'static str;
    /// The attributes from column `i`.
    fn read(row: &Row, i: usize) -> Result<Self, Error>;
}

impl Attrs for Map<String, Value> {
    const CAST: &'static str = "";
    fn read(row: &Row, i: usize) -> Result<Self, Error> {
        let Json(attrs) = col(row, i)?;
        Ok(attrs)
    }
}

impl Attrs for String {
    const CAST: &'static str = "::text";
    fn read(row: &Row, i: usize) -> Result<Self, Error> {
        Ok(compact(col(row, i)?))
    }
}

/// A [`Stored`] from a row of [`COLUMNS`] (with `A`'s cast).
pub(crate) fn stored<A: Attrs>(row: &Row) -> Result<Stored<A>, Error> {
    Ok(Stored {
        seq: col(row, 0)?,
        id: col(row, 1)?,
        created: col(row, 2)?,
        modified: col(row, 3)?,
        version: col(row, 4)?,
        attrs: A::read(row, 5)?,
    })
}

/// JSON text without the spaces `jsonb` writes after each `:` and `,`: whitespace outside
/// strings dropped, everything else kept byte for byte (the text is valid JSON, as `jsonb`
/// output always is). What `serde_json` would write for the same value, but for the
/// spelling of numbers and escapes, which are equal as JSON.
fn compact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut quoted, mut escaped) = (false, false);
    for c in text.chars() {
        if quoted {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            }
        } else if c == '"' {
            quoted = true;
        } else if c.is_ascii_whitespace() {
            continue;
        }
        out.push(c);
    }
    out
}

/// The value of the `kind` column.
pub(crate) fn code(kind: ResourceKind) -> i16 {
    match kind {
        ResourceKind::User => 0,
        ResourceKind::Group => 1,
    }
}

/// The kind a `kind` column holds.
pub(crate) fn kind_of(code: i16) -> ResourceKind {
    if code == 1 { ResourceKind::Group } else { ResourceKind::User }
}

/// How many rows of `tenant_counts` hold each tenant's count of each kind (the `tenant_counted`
/// trigger makes them, and the SQL function `quota_share` divides the quota by this number).
pub(crate) const SHARDS: i64 = 16;

/// The shard an insert waits for when every shard below its share is busy: the process's
/// waiters take the shards in turn.
fn next_shard() -> i16 {
    static NEXT: AtomicI64 = AtomicI64::new(0);
    i16::try_from(NEXT.fetch_add(1, Ordering::Relaxed).rem_euclid(SHARDS)).unwrap_or(0)
}

/// The lowercased (Rust `to_lowercase`) name and email keys.
fn key_columns(keys: &Keys) -> (String, Option<String>) {
    (keys.name.to_lowercase(), keys.email.as_deref().map(str::to_lowercase))
}

impl Session<'_> {
    /// The resource, read plainly or (`lock`) held until the job ends.
    pub(crate) fn get(
        &self,
        tenant: TenantKey,
        kind: ResourceKind,
        id: &str,
        lock: bool,
    ) -> Result<Option<Stored>, Error> {
        let params: [&(dyn postgres::types::ToSql + Sync); 3] = [&tenant.0, &code(kind), &id];
        let row = if lock {
            self.row(
                concat!(
                    "SELECT ",
                    resource_columns!(),
                    " FROM resources r WHERE r.id = $3 AND r.tenant = $1 AND r.kind = $2 FOR UPDATE"
                ),
                &params,
            )?
        } else {
            self.row(
                concat!(
                    "SELECT ",
                    resource_columns!(),
                    " FROM resources r WHERE r.id = $3 AND r.tenant = $1 AND r.kind = $2"
                ),
                &params,
            )?
        };
        row.as_ref().map(stored).transpose()
    }

    /// Several resources by tenant, kind and id, with one statement: `Reader::get_texts`.
    ///
    /// The keys travel as three arrays joined to `resources` through its unique index on `id`;
    /// each row carries its key's position, so the answers come back in the keys' order.
    pub(crate) fn get_texts(
        &self,
        keys: &[(TenantKey, ResourceKind, &str)],
    ) -> Result<Vec<Option<Stored<String>>>, Error> {
        let tenants: Vec<i64> = keys.iter().map(|k| k.0.0).collect();
        let kinds: Vec<i16> = keys.iter().map(|k| code(k.1)).collect();
        let ids: Vec<&str> = keys.iter().map(|k| k.2).collect();
        let rows = self.rows(
            concat!(
                "SELECT ",
                resource_columns!(),
                "::text, k.n FROM unnest($1::bigint[], $2::smallint[], $3::text[]) WITH ORDINALITY AS k(tenant, kind, id, n) \
                 JOIN resources r ON r.id = k.id AND r.tenant = k.tenant AND r.kind = k.kind"
            ),
            &[&tenants, &kinds, &ids],
        )?;
        let mut found: Vec<Option<Stored<String>>> = keys.iter().map(|_| None).collect();
        for row in &rows {
            let n: i64 = col(row, 6)?;
            let slot = usize::try_from(n - 1).ok().and_then(|i| found.get_mut(i));
            *slot.ok_or_else(|| Error::Backend(format!("a read by id answered for key {n} of {}", keys.len())))? =
                Some(stored(row)?);
        }
        Ok(found)
    }

    /// The `seq` of the tenant's resource of this kind and id, if any.
    pub(crate) fn seq_of(&self, tenant: TenantKey, kind: ResourceKind, id: &str) -> Result<Option<i64>, Error> {
        let row = self.row(
            "SELECT seq FROM resources WHERE id = $3 AND tenant = $1 AND kind = $2",
            &[&tenant.0, &code(kind), &id],
        )?;
        row.map(|row| col(&row, 0)).transpose()
    }

    /// Takes one place of the tenant's quota for `kind`, in this transaction; [`Error::Quota`]
    /// when full, [`Error::NotFound`] for an unknown tenant.
    ///
    /// The count is split over [`SHARDS`] rows so that concurrent inserts of one tenant (on any
    /// replica) need not wait for each other's commits, and each shard may hold at most its
    /// share of the quota (`quota_share`: the quota divided evenly, the remainder to the first
    /// shards). The shares add up to the quota, so the count never passes it, and while the
    /// count is below it some shard is below its share:
    /// - an insert adds one to a shard below its share that no other transaction holds (`FOR
    ///   UPDATE SKIP LOCKED`, never waiting; the share is checked again on the row it locks);
    /// - with every such shard busy, it waits for one shard (the process's waiters take them in
    ///   turn) and adds to it if it is still below its share;
    /// - else (near the quota) it locks every shard of the tenant and kind in order, waiting for
    ///   the inserts in flight, and takes one still below its share, or refuses.
    fn take_place(&self, tenant: TenantKey, kind: ResourceKind) -> Result<(), Error> {
        let k = code(kind);
        let free = self.row(
            "UPDATE tenant_counts SET n = n + 1
              WHERE tenant = $1 AND kind = $2 AND shard = (
                  SELECT c.shard FROM tenant_counts c JOIN tenants t ON t.seq = c.tenant
                   WHERE c.tenant = $1 AND c.kind = $2
                     AND c.n < quota_share(CASE WHEN $2::smallint = 0 THEN t.max_users ELSE t.max_groups END, c.shard)
                   LIMIT 1 FOR UPDATE OF c SKIP LOCKED)
             RETURNING shard",
            &[&tenant.0, &k],
        )?;
        if free.is_some() {
            return Ok(());
        }
        let waited = self.row(
            "UPDATE tenant_counts c SET n = n + 1 FROM tenants t
              WHERE c.tenant = $1 AND c.kind = $2 AND c.shard = $3 AND t.seq = c.tenant
                AND c.n < quota_share(CASE WHEN $2::smallint = 0 THEN t.max_users ELSE t.max_groups END, c.shard)
             RETURNING c.shard",
            &[&tenant.0, &k, &next_shard()],
        )?;
        if waited.is_some() {
            return Ok(());
        }
        let below = self.rows(
            "SELECT c.shard, c.n < quota_share(CASE WHEN $2::smallint = 0 THEN t.max_users ELSE t.max_groups END, c.shard)
               FROM tenant_counts c JOIN tenants t ON t.seq = c.tenant
              WHERE c.tenant = $1 AND c.kind = $2 ORDER BY c.shard FOR UPDATE OF c",
            &[&tenant.0, &k],
        )?;
        if below.is_empty() {
            return Err(Error::NotFound);
        }
        let mut shard = None;
        for row in &below {
            if col::<bool>(row, 1)? {
                shard = Some(col::<i16>(row, 0)?);
                break;
            }
        }
        let shard = shard.ok_or(Error::Quota(kind))?;
        self.exec(
            "UPDATE tenant_counts SET n = n + 1 WHERE tenant = $1 AND kind = $2 AND shard = $3",
            &[&tenant.0, &k, &shard],
        )?;
        Ok(())
    }

    /// Adds `by` to the tenant's count of `kind` on any shard (a delete, an import, or an insert
    /// that conflicted giving its place back): taking from the count never needs the quota's
    /// care, and an import is not held to the quota.
    fn count(&self, tenant: TenantKey, kind: ResourceKind, by: i64) -> Result<(), Error> {
        let k = code(kind);
        self.exec(
            "UPDATE tenant_counts SET n = n + $3
              WHERE tenant = $1 AND kind = $2 AND shard = COALESCE(
                  (SELECT shard FROM tenant_counts WHERE tenant = $1 AND kind = $2 LIMIT 1 FOR UPDATE SKIP LOCKED), 0)",
            &[&tenant.0, &k, &by],
        )?;
        Ok(())
    }

    /// Which key of `keys` another resource holds, after an insert that conflicted.
    ///
    /// The insert used `ON CONFLICT DO NOTHING`, which waits for a concurrent insert of the same
    /// key to commit and leaves this transaction usable; this statement, in a fresh snapshot
    /// (`READ COMMITTED`), then sees the winner's row.
    fn taken(
        &self,
        tenant: TenantKey,
        kind: ResourceKind,
        name_key: &str,
        external_id: Option<&str>,
        email_key: Option<&str>,
    ) -> Result<Option<Unique>, Error> {
        let row = self.row(
            "SELECT CASE
                 WHEN EXISTS (SELECT 1 FROM resources WHERE tenant = $1 AND kind = $2 AND name_key = $3) THEN 0
                 WHEN EXISTS (SELECT 1 FROM resources WHERE tenant = $1 AND kind = $2 AND external_id = $4) THEN 1
                 WHEN EXISTS (SELECT 1 FROM resources WHERE tenant = $1 AND email_key = $5) THEN 2
             END",
            &[&tenant.0, &code(kind), &name_key, &external_id, &email_key],
        )?;
        let which: Option<i32> = row.map(|row| col(&row, 0)).transpose()?.flatten();
        Ok(match which {
            Some(0) => Some(Unique::Name),
            Some(1) => Some(Unique::ExternalId),
            Some(2) => Some(Unique::Email),
            _ => None,
        })
    }

    pub(crate) fn insert(
        &self,
        tenant: TenantKey,
        kind: ResourceKind,
        keys: &Keys,
        attrs: &Map<String, Value>,
        now: i64,
    ) -> Result<Stored, Error> {
        self.take_place(tenant, kind)?;
        let (name_key, email_key) = key_columns(keys);
        // Time-ordered, as SQLite's: a new id lands at the end of the `id` index.
        let id = scim_store::resource_id()?;
        let row = self.row(
            "INSERT INTO resources (tenant, kind, id, name_key, external_id, email_key, created, modified, version, attrs)
             VALUES ($1, $2, $8, $3, $4, $5, $6, $6, 1, $7)
             ON CONFLICT DO NOTHING RETURNING seq, id",
            &[&tenant.0, &code(kind), &name_key, &keys.external_id, &email_key, &now, &Json(attrs), &id],
        )?;
        let Some(row) = row else {
            // Give the place back, so a job that carries on after the conflict counts right.
            self.count(tenant, kind, -1)?;
            let which = self.taken(tenant, kind, &name_key, keys.external_id.as_deref(), email_key.as_deref())?;
            // No key is held any more: the conflicting row went again before this look.
            return Err(which.map_or_else(
                || Error::Backend("a concurrent write took and released a key; retry".into()),
                Error::Conflict,
            ));
        };
        Ok(Stored {
            seq: col(&row, 0)?,
            id: col(&row, 1)?,
            created: now,
            modified: now,
            version: 1,
            attrs: attrs.clone(),
        })
    }

    pub(crate) fn replace(
        &self,
        tenant: TenantKey,
        kind: ResourceKind,
        id: &str,
        keys: &Keys,
        attrs: &Map<String, Value>,
        now: i64,
    ) -> Result<Stored, Error> {
        let (name_key, email_key) = key_columns(keys);
        let row = self.row(
            "UPDATE resources
                SET name_key = $4, external_id = $5, email_key = $6, modified = $7, version = version + 1, attrs = $8
              WHERE id = $3 AND tenant = $1 AND kind = $2
             RETURNING seq, created, version",
            &[&tenant.0, &code(kind), &id, &name_key, &keys.external_id, &email_key, &now, &Json(attrs)],
        )?;
        let row = row.ok_or(Error::NotFound)?;
        Ok(Stored {
            seq: col(&row, 0)?,
            id: id.to_owned(),
            created: col(&row, 1)?,
            modified: now,
            version: col(&row, 2)?,
            attrs: attrs.clone(),
        })
    }

    pub(crate) fn touch(&self, tenant: TenantKey, kind: ResourceKind, id: &str, now: i64) -> Result<Stored, Error> {
        let row = self
            .row(concat!(bump_version!(), " RETURNING ", resource_columns!()), &[&tenant.0, &code(kind), &id, &now])?;
        row.as_ref().map(stored).transpose()?.ok_or(Error::NotFound)
    }

    /// [`Session::touch`] held back until the commit (see `Writer::touch_later`): the row is
    /// locked only by the commit's flight, and a batch's jobs (`batch`) touch it together there.
    pub(crate) fn touch_later(&self, tenant: TenantKey, kind: ResourceKind, id: &str, now: i64) -> Result<(), Error> {
        self.defer_to_commit(
            bump_version!(),
            vec![Box::new(tenant.0), Box::new(code(kind)), Box::new(id.to_owned()), Box::new(now)],
        )
    }

    /// Deletes the resource (its memberships go by cascade) and gives its quota place back.
    pub(crate) fn delete(&self, tenant: TenantKey, kind: ResourceKind, id: &str) -> Result<(), Error> {
        crate::tenants::found(self.exec(
            "DELETE FROM resources WHERE id = $3 AND tenant = $1 AND kind = $2",
            &[&tenant.0, &code(kind), &id],
        )?)?;
        self.count(tenant, kind, -1)
    }

    /// Adds a resource as exported; its id must be unused in the whole database and its keys
    /// free in the tenant. Counted, but not held to the quota (as the SQLite store imports).
    pub(crate) fn import_resource(
        &self,
        tenant: TenantKey,
        resource: &scim_store::contract::Exported,
    ) -> Result<i64, Error> {
        let r = resource;
        if self.row("SELECT seq FROM resources WHERE id = $1", &[&r.id])?.is_some() {
            return Err(Error::Import {
                line: 0,
                reason: format!("resource id {:?} is already used in this database", r.id),
            });
        }
        let row = self.row(
            "INSERT INTO resources (tenant, kind, id, name_key, external_id, email_key, created, modified, version, attrs)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT DO NOTHING RETURNING seq",
            &[
                &tenant.0,
                &code(r.kind),
                &r.id,
                &r.name_key,
                &r.external_id,
                &r.email_key,
                &r.created,
                &r.modified,
                &r.version,
                &Json(&r.attrs),
            ],
        )?;
        let Some(row) = row else {
            let which = self.taken(tenant, r.kind, &r.name_key, r.external_id.as_deref(), r.email_key.as_deref())?;
            return Err(which.map_or_else(
                || Error::Backend("a concurrent write took and released a key; retry".into()),
                Error::Conflict,
            ));
        };
        self.count(tenant, r.kind, 1)?;
        col(&row, 0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    #[test]
    fn compact_drops_the_spaces_jsonb_writes_and_nothing_inside_strings() {
        let jsonb = r#"{"a b": "x, y: z", "e": "say \"hi\", \\", "n": [1, 2.50, {"k": null}], "t": true}"#;
        assert_eq!(compact(jsonb), r#"{"a b":"x, y: z","e":"say \"hi\", \\","n":[1,2.50,{"k":null}],"t":true}"#);
        assert_eq!(compact("{ }"), "{}");
        assert_eq!(compact(r#"{"ü": "ß \u0000 ", "x": "\\"}"#), r#"{"ü":"ß \u0000 ","x":"\\"}"#);
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "[ -~\\\"\u{e9}\u{1F600}\n\t]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[ -~]{0,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Any JSON written with spaces after each `:` and `,` (as `jsonb` writes it) comes out
        /// as the same value, and as `serde_json`'s compact text of it.
        #[test]
        fn compact_keeps_the_value_and_gives_serde_jsons_bytes(v in value()) {
            let spaced = serde_json::to_string_pretty(&v).unwrap();
            let out = compact(&spaced);
            prop_assert_eq!(&serde_json::from_str::<Value>(&out).unwrap(), &v);
            prop_assert_eq!(out, serde_json::to_string(&v).unwrap());
        }
    }
}
