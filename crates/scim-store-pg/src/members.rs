//! Group memberships: one `members` row per (group, member), whatever the group's size.
//!
//! Listing is batched: [`Session::members`] and [`Session::groups_of`] answer for any number of
//! ids in one statement (`unnest($2::text[]) WITH ORDINALITY`), so a page of groups costs one
//! round trip to the database, not one per group.

use scim_schema::ResourceKind;
use scim_store::{Error, Membership, MembershipKey, TenantKey};

use crate::resources::{code, kind_of};
use crate::session::{Session, col, count, int};

impl Session<'_> {
    pub(crate) fn membership_key(
        &self,
        tenant: TenantKey,
        group_id: &str,
        member_id: &str,
    ) -> Result<Option<MembershipKey>, Error> {
        let row = self.row(
            "SELECT m.group_seq, m.member_seq FROM resources g
               JOIN members m ON m.group_seq = g.seq
               JOIN resources u ON u.seq = m.member_seq
              WHERE g.id = $2 AND g.tenant = $1 AND g.kind = 1 AND u.id = $3 AND u.tenant = $1",
            &[&tenant.0, &group_id, &member_id],
        )?;
        row.map(|row| Ok(MembershipKey { group_seq: col(&row, 0)?, member_seq: col(&row, 1)? })).transpose()
    }

    pub(crate) fn membership(&self, tenant: TenantKey, key: MembershipKey) -> Result<Option<(String, String)>, Error> {
        let row = self.row(
            "SELECT g.id, u.id FROM members m
               JOIN resources g ON g.seq = m.group_seq
               JOIN resources u ON u.seq = m.member_seq
              WHERE m.group_seq = $2 AND m.member_seq = $3 AND g.tenant = $1",
            &[&tenant.0, &key.group_seq, &key.member_seq],
        )?;
        row.map(|row| Ok((col(&row, 0)?, col(&row, 1)?))).transpose()
    }

    pub(crate) fn member_ids(&self, tenant: TenantKey, group_id: &str) -> Result<Vec<String>, Error> {
        let rows = self.rows(
            "SELECT u.id FROM resources g
               JOIN members m ON m.group_seq = g.seq
               JOIN resources u ON u.seq = m.member_seq
              WHERE g.id = $2 AND g.tenant = $1 AND g.kind = 1
              ORDER BY m.member_seq",
            &[&tenant.0, &group_id],
        )?;
        rows.iter().map(|row| col(row, 0)).collect()
    }

    /// Up to `limit` direct members of each group, skipping the first `offset`: one statement,
    /// each group's page an index range scan of `members`.
    /// How many direct members the group has: an index-only count of its `members` rows.
    pub(crate) fn member_count(&self, tenant: TenantKey, group_id: &str) -> Result<u64, Error> {
        let row = self.row(
            "SELECT COUNT(*) FROM resources g JOIN members m ON m.group_seq = g.seq
              WHERE g.id = $2 AND g.tenant = $1 AND g.kind = 1",
            &[&tenant.0, &group_id],
        )?;
        let count: i64 = match row {
            Some(row) => col(&row, 0)?,
            None => 0,
        };
        Ok(u64::try_from(count).unwrap_or(0))
    }

    pub(crate) fn members(
        &self,
        tenant: TenantKey,
        group_ids: &[&str],
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Vec<Membership>>, Error> {
        let mut out = vec![Vec::new(); group_ids.len()];
        if group_ids.is_empty() {
            return Ok(out);
        }
        let rows = self.rows(
            "SELECT q.ord, p.id, p.kind, COALESCE(p.attrs->>'displayName', p.attrs->>'userName')
               FROM unnest($2::text[]) WITH ORDINALITY AS q(id, ord)
               JOIN resources g ON g.id = q.id AND g.tenant = $1 AND g.kind = 1
               CROSS JOIN LATERAL (
                   SELECT u.id, u.kind, u.attrs, m.member_seq FROM members m
                     JOIN resources u ON u.seq = m.member_seq
                    WHERE m.group_seq = g.seq
                    ORDER BY m.member_seq OFFSET $3 LIMIT $4
               ) p
              ORDER BY q.ord, p.member_seq",
            &[&tenant.0, &group_ids, &int(offset), &int(limit)],
        )?;
        for row in &rows {
            let ord: i64 = col(row, 0)?;
            let slot = usize::try_from(ord - 1).ok().and_then(|i| out.get_mut(i));
            if let Some(slot) = slot {
                slot.push(Membership {
                    id: col(row, 1)?,
                    kind: kind_of(col(row, 2)?),
                    display: col(row, 3)?,
                    direct: true,
                });
            }
        }
        Ok(out)
    }

    /// The groups each id belongs to, directly or through nested groups, in the groups' creation
    /// order: one recursive statement for all ids.
    pub(crate) fn groups_of(&self, tenant: TenantKey, member_ids: &[&str]) -> Result<Vec<Vec<Membership>>, Error> {
        let mut out = vec![Vec::new(); member_ids.len()];
        if member_ids.is_empty() {
            return Ok(out);
        }
        let rows = self.rows(
            "WITH RECURSIVE up(ord, seq, direct) AS (
                 SELECT q.ord, m.group_seq, true
                   FROM unnest($2::text[]) WITH ORDINALITY AS q(id, ord)
                   JOIN resources u ON u.id = q.id AND u.tenant = $1
                   JOIN members m ON m.member_seq = u.seq
                 UNION
                 SELECT up.ord, m.group_seq, false FROM up JOIN members m ON m.member_seq = up.seq
             )
             SELECT up.ord, g.id, bool_or(up.direct), g.attrs->>'displayName'
               FROM up JOIN resources g ON g.seq = up.seq
              GROUP BY up.ord, g.seq
              ORDER BY up.ord, g.seq",
            &[&tenant.0, &member_ids],
        )?;
        for row in &rows {
            let ord: i64 = col(row, 0)?;
            if let Some(slot) = usize::try_from(ord - 1).ok().and_then(|i| out.get_mut(i)) {
                slot.push(Membership {
                    id: col(row, 1)?,
                    kind: ResourceKind::Group,
                    direct: col(row, 2)?,
                    display: col(row, 3)?,
                });
            }
        }
        Ok(out)
    }

    /// Adds members: one primary-key row per member (`INSERT … ON CONFLICT DO NOTHING`).
    ///
    /// Users only, the common case, take one statement: it finds the group, resolves the ids
    /// and inserts only if every id is a user of the tenant; its rows say which id is not.
    /// With a group among the ids (and `nested`), [`Session::add_nested`] does it in steps.
    pub(crate) fn add_members(
        &self,
        tenant: TenantKey,
        group_id: &str,
        ids: &[String],
        nested: bool,
    ) -> Result<usize, Error> {
        if ids.is_empty() {
            self.seq_of(tenant, ResourceKind::Group, group_id)?.ok_or(Error::NotFound)?;
            return Ok(0);
        }
        let rows = self.rows(
            "WITH g AS (SELECT seq FROM resources WHERE id = $2 AND tenant = $1 AND kind = 1),
                  q AS (SELECT q.ord, r.seq, r.kind FROM unnest($3::text[]) WITH ORDINALITY AS q(id, ord)
                          LEFT JOIN resources r ON r.id = q.id AND r.tenant = $1),
                  added AS (INSERT INTO members (group_seq, member_seq)
                            SELECT g.seq, q.seq FROM g, q
                             WHERE NOT EXISTS (SELECT 1 FROM q WHERE q.seq IS NULL OR q.kind <> 0)
                            ON CONFLICT DO NOTHING RETURNING 1)
             SELECT (SELECT seq FROM g), (SELECT count(*) FROM added), q.kind FROM q ORDER BY q.ord",
            &[&tenant.0, &group_id, &ids],
        )?;
        let mut added = 0;
        for (id, row) in ids.iter().zip(&rows) {
            let group: Option<i64> = col(row, 0)?;
            if group.is_none() {
                return Err(Error::NotFound);
            }
            added = col::<i64>(row, 1)?;
            match col::<Option<i16>>(row, 2)? {
                Some(k) if k == code(ResourceKind::User) => {}
                Some(k) if nested && k == code(ResourceKind::Group) => {
                    return self.add_nested(tenant, group_id, ids);
                }
                _ => return Err(Error::NoSuchMember(id.clone())),
            }
        }
        Ok(count(u64::try_from(added).unwrap_or(0)))
    }

    /// Adds members of which some are groups: the ids are resolved in one statement, groups are
    /// checked for a cycle, then one `INSERT` adds the rows.
    ///
    /// It first takes the tenant's nesting lock (a transaction advisory lock), so two replicas
    /// nesting A in B and B in A at once cannot both pass the cycle check.
    fn add_nested(&self, tenant: TenantKey, group_id: &str, ids: &[String]) -> Result<usize, Error> {
        let group = self.seq_of(tenant, ResourceKind::Group, group_id)?.ok_or(Error::NotFound)?;
        let rows = self.rows(
            "SELECT r.seq, r.kind FROM unnest($2::text[]) WITH ORDINALITY AS q(id, ord)
               LEFT JOIN resources r ON r.id = q.id AND r.tenant = $1
              ORDER BY q.ord",
            &[&tenant.0, &ids],
        )?;
        let mut members = Vec::with_capacity(ids.len());
        let mut locked = false;
        for (id, row) in ids.iter().zip(&rows) {
            let seq: Option<i64> = col(row, 0)?;
            let kind: Option<i16> = col(row, 1)?;
            match (seq, kind) {
                (Some(seq), Some(k)) if k == code(ResourceKind::User) => members.push(seq),
                (Some(seq), Some(k)) if k == code(ResourceKind::Group) => {
                    if !locked {
                        self.exec("SELECT pg_advisory_xact_lock(1, ($1::bigint % 2147483647)::integer)", &[&tenant.0])?;
                        locked = true;
                    }
                    let cycle = self.row(
                        "WITH RECURSIVE down(seq) AS (
                             SELECT $1::bigint UNION SELECT m.member_seq FROM down JOIN members m ON m.group_seq = down.seq
                         )
                         SELECT EXISTS (SELECT 1 FROM down WHERE seq = $2)",
                        &[&seq, &group],
                    )?;
                    if cycle.map(|row| col::<bool>(&row, 0)).transpose()?.unwrap_or(false) {
                        return Err(Error::MemberCycle(id.clone()));
                    }
                    members.push(seq);
                }
                _ => return Err(Error::NoSuchMember(id.clone())),
            }
        }
        if members.is_empty() {
            return Ok(0);
        }
        let added = self.exec(
            "INSERT INTO members (group_seq, member_seq) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING",
            &[&group, &members],
        )?;
        Ok(count(added))
    }

    pub(crate) fn remove_members(&self, tenant: TenantKey, group_id: &str, ids: &[String]) -> Result<usize, Error> {
        let group = self.seq_of(tenant, ResourceKind::Group, group_id)?.ok_or(Error::NotFound)?;
        let removed = self.exec(
            "DELETE FROM members WHERE group_seq = $1
                AND member_seq IN (SELECT seq FROM resources WHERE tenant = $2 AND id = ANY($3::text[]))",
            &[&group, &tenant.0, &ids],
        )?;
        Ok(count(removed))
    }

    /// Adds a membership between two imported resources.
    pub(crate) fn import_member(&self, group: i64, member: i64) -> Result<(), Error> {
        self.exec("INSERT INTO members (group_seq, member_seq) VALUES ($1, $2)", &[&group, &member])?;
        Ok(())
    }
}
