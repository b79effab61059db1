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

/// The `resources` columns [`stored`] reads, for statements built at run time.
pub(crate) const COLUMNS: &str = resource_columns!();

/// A [`Stored`] from a row of [`COLUMNS`].
pub(crate) fn stored(row: &Row) -> Result<Stored, Error> {
    let Json(attrs): Json<Map<String, Value>> = col(row, 5)?;
    Ok(Stored {
        seq: col(row, 0)?,
        id: col(row, 1)?,
        created: col(row, 2)?,
        modified: col(row, 3)?,
        version: col(row, 4)?,
        attrs,
    })
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
/// trigger makes them).
pub(crate) const SHARDS: i64 = 16;

/// The shard an insert waits for when every shard is busy: the process's waiters take the
/// shards in turn, skipping those this transaction already holds (`used`).
/// `None` when it holds them all.
fn next_shard(used: &[i16]) -> Option<i16> {
    static NEXT: AtomicI64 = AtomicI64::new(0);
    let start = NEXT.fetch_add(1, Ordering::Relaxed);
    (0..SHARDS).filter_map(|i| i16::try_from((start + i).rem_euclid(SHARDS)).ok()).find(|shard| !used.contains(shard))
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
    /// replica) need not wait for each other's commits, and the quota still holds exactly:
    /// - Far from the quota, an insert adds one to a shard no other transaction holds (`FOR
    ///   UPDATE SKIP LOCKED`, never waiting) and then, holding it, checks that the committed sum
    ///   plus one pending insert per other shard stays within the quota. Every insert that
    ///   commits after this check held another shard during it, so the final count cannot pass
    ///   the quota.
    /// - With every shard busy and the quota far, it waits for one shard (the process's waiters
    ///   take them in turn), then checks as above: the shard's previous holder has committed.
    /// - Near the quota, it locks all the tenant's shards of that kind in order, waiting for the
    ///   inserts in flight, and counts exactly.
    fn take_place(&self, tenant: TenantKey, kind: ResourceKind) -> Result<(), Error> {
        let k = code(kind);
        if !self.holds_every_shard(tenant, k) {
            let used = self.shards_used(tenant, k);
            let row = self.row(
                "UPDATE tenant_counts SET n = n + 1
                  WHERE tenant = $1 AND kind = $2 AND shard = (
                      SELECT shard FROM tenant_counts
                       WHERE tenant = $1 AND kind = $2 AND shard <> ALL($3::smallint[])
                         AND (SELECT sum(n)::bigint FROM tenant_counts WHERE tenant = $1 AND kind = $2) + $4::bigint
                             <= (SELECT CASE WHEN $2 = 0 THEN max_users ELSE max_groups END FROM tenants WHERE seq = $1)
                       LIMIT 1 FOR UPDATE SKIP LOCKED)
                 RETURNING shard",
                &[&tenant.0, &k, &used, &(2 * SHARDS)],
            )?;
            // Every shard busy: far from the quota, wait for one of them rather than for all.
            let row = match row {
                Some(row) => Some(row),
                None => match next_shard(&used) {
                    Some(shard) if self.far_from_quota(tenant, k)? => self.row(
                        "UPDATE tenant_counts SET n = n + 1 WHERE tenant = $1 AND kind = $2 AND shard = $3
                         RETURNING shard",
                        &[&tenant.0, &k, &shard],
                    )?,
                    _ => None,
                },
            };
            if let Some(row) = row {
                let shard: i16 = col(&row, 0)?;
                self.note_shard(tenant, k, shard);
                let within = self.row(
                    "SELECT (SELECT sum(n)::bigint FROM tenant_counts WHERE tenant = $1 AND kind = $2) + $3::bigint
                            <= (SELECT CASE WHEN $2 = 0 THEN max_users ELSE max_groups END FROM tenants WHERE seq = $1)",
                    &[&tenant.0, &k, &(SHARDS - 1)],
                )?;
                if within.map(|row| col::<Option<bool>>(&row, 0)).transpose()?.flatten().unwrap_or(false) {
                    return Ok(());
                }
                // Others filled the margin since the first look: count exactly instead.
                self.exec(
                    "UPDATE tenant_counts SET n = n - 1 WHERE tenant = $1 AND kind = $2 AND shard = $3",
                    &[&tenant.0, &k, &shard],
                )?;
            }
        }
        let rows = self.rows(
            "SELECT n FROM tenant_counts WHERE tenant = $1 AND kind = $2 ORDER BY shard FOR UPDATE",
            &[&tenant.0, &k],
        )?;
        if rows.is_empty() {
            return Err(Error::NotFound);
        }
        self.note_every_shard(tenant, k);
        let held = rows.iter().map(|row| col::<i64>(row, 0)).sum::<Result<i64, Error>>()?;
        let max = self.row(
            "SELECT CASE WHEN $2::smallint = 0 THEN max_users ELSE max_groups END FROM tenants WHERE seq = $1",
            &[&tenant.0, &k],
        )?;
        let max: i64 = max.map(|row| col(&row, 0)).transpose()?.ok_or(Error::NotFound)?;
        if held >= max {
            return Err(Error::Quota(kind));
        }
        self.exec(
            "UPDATE tenant_counts SET n = n + 1 WHERE tenant = $1 AND kind = $2 AND shard = 0",
            &[&tenant.0, &k],
        )?;
        Ok(())
    }

    /// Whether the tenant's committed count of `kind` is more than twice [`SHARDS`] below its
    /// quota (no lock taken: the caller checks again once it holds a shard).
    fn far_from_quota(&self, tenant: TenantKey, k: i16) -> Result<bool, Error> {
        let row = self.row(
            "SELECT (SELECT sum(n)::bigint FROM tenant_counts WHERE tenant = $1 AND kind = $2) + $3::bigint
                    <= (SELECT CASE WHEN $2 = 0 THEN max_users ELSE max_groups END FROM tenants WHERE seq = $1)",
            &[&tenant.0, &k, &(2 * SHARDS)],
        )?;
        Ok(row.map(|row| col::<Option<bool>>(&row, 0)).transpose()?.flatten().unwrap_or(false))
    }

    /// Adds `by` to the tenant's count of `kind` on any shard (a delete, an import, or an insert
    /// that conflicted giving its place back): taking from the count never needs the quota's
    /// care, and an import is not held to the quota.
    fn count(&self, tenant: TenantKey, kind: ResourceKind, by: i64) -> Result<(), Error> {
        let k = code(kind);
        let row = self.row(
            "UPDATE tenant_counts SET n = n + $3
              WHERE tenant = $1 AND kind = $2 AND shard = COALESCE(
                  (SELECT shard FROM tenant_counts WHERE tenant = $1 AND kind = $2 LIMIT 1 FOR UPDATE SKIP LOCKED), 0)
             RETURNING shard",
            &[&tenant.0, &k, &by],
        )?;
        if let Some(row) = row {
            self.note_shard(tenant, k, col(&row, 0)?);
        }
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
        let row = self.row(
            "INSERT INTO resources (tenant, kind, id, name_key, external_id, email_key, created, modified, version, attrs)
             VALUES ($1, $2, gen_random_uuid()::text, $3, $4, $5, $6, $6, 1, $7)
             ON CONFLICT DO NOTHING RETURNING seq, id",
            &[&tenant.0, &code(kind), &name_key, &keys.external_id, &email_key, &now, &Json(attrs)],
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

    pub(crate) fn touch(&self, tenant: TenantKey, kind: ResourceKind, id: &str, now: i64) -> Result<(), Error> {
        crate::tenants::found(self.exec(
            "UPDATE resources SET modified = $4, version = version + 1 WHERE id = $3 AND tenant = $1 AND kind = $2",
            &[&tenant.0, &code(kind), &id, &now],
        )?)
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
