//! Group memberships: one `members` row per (group, member), whatever the group's size.
//!
//! Members are users, and, where the caller allows it, groups: nested groups never form a cycle.

use rusqlite::OptionalExtension;
use scim_schema::ResourceKind;

use crate::db::Db;
use crate::{Error, TenantKey};

/// A member of a group, or a group a user belongs to, with what a response shows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The member's (or group's) id.
    pub id: String,
    /// Whether it is a user or a group.
    pub kind: ResourceKind,
    /// Its `displayName` (a user without one shows its `userName`).
    pub display: Option<String>,
    /// Whether the membership is direct (else it comes through a nested group).
    pub direct: bool,
}

/// A membership row's key: the group's and the member's internal sequence numbers.
///
/// Sequence numbers are never reused, so a key names one membership for ever; callers may show
/// it as an opaque id and hand it back, and [`Reader::membership`] checks it against the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MembershipKey {
    /// The group's `seq`.
    pub group_seq: i64,
    /// The member's `seq`.
    pub member_seq: i64,
}

/// `ids` as a JSON array, which `json_each` turns into rows (one bound value for any count).
fn ids_json(ids: &[&str]) -> String {
    serde_json::Value::from(ids.iter().map(|id| serde_json::Value::from(*id)).collect::<Vec<_>>()).to_string()
}

fn kind_of(code: i64) -> ResourceKind {
    if code == 1 { ResourceKind::Group } else { ResourceKind::User }
}

impl Db<'_> {
    /// The key of the direct membership of `member_id` in `group_id`, if the tenant has it.
    pub fn membership_key(
        &self,
        tenant: TenantKey,
        group_id: &str,
        member_id: &str,
    ) -> Result<Option<MembershipKey>, Error> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT m.group_seq, m.member_seq FROM resources g
                   JOIN members m ON m.group_seq = g.seq
                   JOIN resources u ON u.seq = m.member_seq
                  WHERE g.id = ?2 AND g.tenant = ?1 AND g.kind = 1 AND u.id = ?3 AND u.tenant = ?1",
            )?
            .query_row((tenant.0, group_id, member_id), |row| {
                Ok(MembershipKey { group_seq: row.get(0)?, member_seq: row.get(1)? })
            })
            .optional()?)
    }

    /// The group's and member's ids of the membership `key`, if the tenant has it.
    pub fn membership(&self, tenant: TenantKey, key: MembershipKey) -> Result<Option<(String, String)>, Error> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT g.id, u.id FROM members m
                   JOIN resources g ON g.seq = m.group_seq
                   JOIN resources u ON u.seq = m.member_seq
                  WHERE m.group_seq = ?2 AND m.member_seq = ?3 AND g.tenant = ?1",
            )?
            .query_row((tenant.0, key.group_seq, key.member_seq), |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?)
    }

    /// The ids of a group's members in their creation order; empty for an unknown group.
    pub fn member_ids(&self, tenant: TenantKey, group_id: &str) -> Result<Vec<String>, Error> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT u.id FROM resources g
               JOIN members m ON m.group_seq = g.seq
               JOIN resources u ON u.seq = m.member_seq
              WHERE g.id = ?2 AND g.tenant = ?1 AND g.kind = 1
              ORDER BY m.member_seq",
        )?;
        let rows = stmt.query_map((tenant.0, group_id), |row| row.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Up to `limit` direct members of each of `group_ids`, in creation order, skipping the
    /// first `offset`; one statement for all.
    pub fn members(
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
        let mut stmt = self.conn.prepare_cached(
            "SELECT x.k, u.id, u.kind, COALESCE(json_extract(u.attrs, '$.displayName'), json_extract(u.attrs, '$.userName'))
               FROM (SELECT w.key AS k, m.member_seq AS seq,
                            ROW_NUMBER() OVER (PARTITION BY w.key ORDER BY m.member_seq) AS n
                       FROM json_each(?2) w
                       JOIN resources g ON g.id = w.value AND g.tenant = ?1 AND g.kind = 1
                       JOIN members m ON m.group_seq = g.seq) x
               JOIN resources u ON u.seq = x.seq
              WHERE x.n > ?3 AND x.n <= ?3 + ?4
              ORDER BY x.k, x.seq",
        )?;
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX).min(i64::MAX - offset);
        let mut rows = stmt.query((tenant.0, ids_json(group_ids), offset, limit))?;
        while let Some(row) = rows.next()? {
            let k: usize = row.get(0)?;
            if let Some(list) = out.get_mut(k) {
                list.push(Membership {
                    id: row.get(1)?,
                    kind: kind_of(row.get(2)?),
                    display: row.get(3)?,
                    direct: true,
                });
            }
        }
        Ok(out)
    }

    /// The groups each of `member_ids` belongs to, directly or through nested groups, in
    /// creation order of the groups; one statement for all.
    pub fn groups_of(&self, tenant: TenantKey, member_ids: &[&str]) -> Result<Vec<Vec<Membership>>, Error> {
        let mut out = vec![Vec::new(); member_ids.len()];
        if member_ids.is_empty() {
            return Ok(out);
        }
        let mut stmt = self.conn.prepare_cached(
            "WITH RECURSIVE up(k, seq, direct) AS (
                 SELECT w.key, m.group_seq, 1 FROM json_each(?2) w
                   JOIN resources u ON u.id = w.value AND u.tenant = ?1
                   JOIN members m ON m.member_seq = u.seq
                 UNION
                 SELECT up.k, m.group_seq, 0 FROM up JOIN members m ON m.member_seq = up.seq
             )
             SELECT up.k, g.id, MAX(up.direct), json_extract(g.attrs, '$.displayName')
               FROM up JOIN resources g ON g.seq = up.seq
              GROUP BY up.k, g.seq ORDER BY up.k, g.seq",
        )?;
        let mut rows = stmt.query((tenant.0, ids_json(member_ids)))?;
        while let Some(row) = rows.next()? {
            let k: usize = row.get(0)?;
            if let Some(list) = out.get_mut(k) {
                list.push(Membership {
                    id: row.get(1)?,
                    kind: ResourceKind::Group,
                    direct: row.get::<_, i64>(2)? == 1,
                    display: row.get(3)?,
                });
            }
        }
        Ok(out)
    }

    /// How many direct members the group has.
    pub fn member_count(&self, tenant: TenantKey, group_id: &str) -> Result<u64, Error> {
        let count: i64 = self
            .conn
            .prepare_cached(
                "SELECT COUNT(*) FROM resources g JOIN members m ON m.group_seq = g.seq
                  WHERE g.id = ?2 AND g.tenant = ?1 AND g.kind = 1",
            )?
            .query_row((tenant.0, group_id), |row| row.get(0))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}

impl Db<'_> {
    /// Adds members to a group; ids already members are skipped. Returns how many rows were added.
    ///
    /// Members are users of this tenant, and also its groups when `nested` is true.
    /// [`Error::NotFound`] if the tenant has no such group; [`Error::NoSuchMember`] with the
    /// first id that is not an allowed member, and [`Error::MemberCycle`] with the first group
    /// that contains the target group (or is it); in both cases nothing is added. Each user costs
    /// one lookup by id and one insert into the membership primary key.
    pub fn add_members(
        &mut self,
        tenant: TenantKey,
        group_id: &str,
        user_ids: &[String],
        nested: bool,
    ) -> Result<usize, Error> {
        let group = self.seq_of(tenant, ResourceKind::Group, group_id)?.ok_or(Error::NotFound)?;
        let mut users = Vec::with_capacity(user_ids.len());
        for id in user_ids {
            if let Some(user) = self.seq_of(tenant, ResourceKind::User, id)? {
                users.push(user);
                continue;
            }
            let member = if nested { self.seq_of(tenant, ResourceKind::Group, id)? } else { None };
            let member = member.ok_or_else(|| Error::NoSuchMember(id.clone()))?;
            let contains_target: bool = self
                .conn()
                .prepare_cached(
                    "WITH RECURSIVE down(seq) AS (
                     SELECT ?1 UNION SELECT m.member_seq FROM down JOIN members m ON m.group_seq = down.seq
                 )
                 SELECT EXISTS (SELECT 1 FROM down WHERE seq = ?2)",
                )?
                .query_row((member, group), |row| row.get(0))?;
            if contains_target {
                return Err(Error::MemberCycle(id.clone()));
            }
            users.push(member);
        }
        let mut stmt =
            self.conn().prepare_cached("INSERT OR IGNORE INTO members (group_seq, member_seq) VALUES (?1, ?2)")?;
        let mut added = 0;
        for user in users {
            added += stmt.execute((group, user))?;
        }
        Ok(added)
    }

    /// Removes members from a group; ids that are not members are ignored.
    /// Returns how many rows were removed. [`Error::NotFound`] if the tenant has no such group.
    pub fn remove_members(&mut self, tenant: TenantKey, group_id: &str, user_ids: &[String]) -> Result<usize, Error> {
        let group = self.seq_of(tenant, ResourceKind::Group, group_id)?.ok_or(Error::NotFound)?;
        let mut stmt = self.conn().prepare_cached(
            "DELETE FROM members WHERE group_seq = ?1
                AND member_seq = (SELECT seq FROM resources WHERE id = ?3 AND tenant = ?2)",
        )?;
        let mut removed = 0;
        for id in user_ids {
            removed += stmt.execute((group, tenant.0, id))?;
        }
        Ok(removed)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use scim_schema::ResourceKind;
    use serde_json::Map;

    use crate::testkit::{Fixture, keys};
    use crate::{Error, Store, TenantKey};

    /// Creates users and groups named after `names` in `tenant`; returns their ids in order.
    fn create(store: &Store, tenant: TenantKey, kind: ResourceKind, names: &[&str]) -> Vec<String> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        store
            .write(move |w| -> Result<Vec<String>, Error> {
                names.iter().map(|n| Ok(w.insert(tenant, kind, &keys(n, None, None), &Map::new(), 1)?.id)).collect()
            })
            .unwrap()
    }

    fn add(store: &Store, tenant: TenantKey, group: &str, users: &[String]) -> Result<usize, Error> {
        let (group, users) = (group.to_owned(), users.to_vec());
        store.write(move |w| w.add_members(tenant, &group, &users, false))
    }

    /// The ids of the groups `user` belongs to, directly or not.
    fn group_ids(store: &Store, tenant: TenantKey, user: &str) -> Vec<String> {
        store.read(|r| r.groups_of(tenant, &[user])).unwrap().into_iter().flatten().map(|m| m.id).collect()
    }

    fn remove(store: &Store, tenant: TenantKey, group: &str, users: &[String]) -> Result<usize, Error> {
        let (group, users) = (group.to_owned(), users.to_vec());
        store.write(move |w| w.remove_members(tenant, &group, &users))
    }

    #[test]
    fn membership_keys_name_one_row_of_one_tenant() {
        let f = Fixture::new();
        let (s, t) = (&f.store, f.a);
        let u = create(s, t, ResourceKind::User, &["u1"]).remove(0);
        let g = create(s, t, ResourceKind::Group, &["g"]).remove(0);
        assert_eq!(s.read(|r| r.membership_key(t, &g, &u)).unwrap(), None);
        add(s, t, &g, std::slice::from_ref(&u)).unwrap();
        let key = s.read(|r| r.membership_key(t, &g, &u)).unwrap().unwrap();
        assert_eq!(s.read(|r| r.membership(t, key)).unwrap(), Some((g.clone(), u.clone())));
        assert_eq!(s.read(|r| r.membership(f.b, key)).unwrap(), None);
        assert_eq!(s.read(|r| r.membership_key(f.b, &g, &u)).unwrap(), None);
        remove(s, t, &g, std::slice::from_ref(&u)).unwrap();
        assert_eq!(s.read(|r| r.membership(t, key)).unwrap(), None);
    }

    #[test]
    fn add_and_remove_are_idempotent() {
        let f = Fixture::new();
        let (s, t) = (&f.store, f.a);
        let u = create(s, t, ResourceKind::User, &["u1", "u2", "u3"]);
        let g = create(s, t, ResourceKind::Group, &["g"]).remove(0);
        assert_eq!(add(s, t, &g, &u[..2]).unwrap(), 2);
        assert_eq!(add(s, t, &g, &u[..2]).unwrap(), 0);
        // A duplicate within one call is added once.
        assert_eq!(add(s, t, &g, &[u[2].clone(), u[2].clone()]).unwrap(), 1);
        assert_eq!(s.read(|r| r.member_ids(t, &g)).unwrap(), u);
        assert!(s.read(|r| r.member_ids(t, &g)).unwrap().contains(&u[1]));

        assert_eq!(remove(s, t, &g, &[u[1].clone(), "nope".into()]).unwrap(), 1);
        assert_eq!(remove(s, t, &g, &[u[1].clone()]).unwrap(), 0);
        assert!(!s.read(|r| r.member_ids(t, &g)).unwrap().contains(&u[1]));
        assert_eq!(s.read(|r| r.member_ids(t, &g)).unwrap(), [u[0].clone(), u[2].clone()]);
        assert_eq!(group_ids(s, t, &u[0]), std::slice::from_ref(&g));
        assert!(group_ids(s, t, &u[1]).is_empty());
    }

    #[test]
    fn members_must_be_users_of_the_same_tenant() {
        let f = Fixture::new();
        let (s, t) = (&f.store, f.a);
        let u = create(s, t, ResourceKind::User, &["u"]);
        let g = create(s, t, ResourceKind::Group, &["g", "h"]);
        let other = create(s, f.b, ResourceKind::User, &["u"]);
        let bad = |ids: &[String]| match add(s, t, &g[0], ids) {
            Err(Error::NoSuchMember(id)) => id,
            got => panic!("expected NoSuchMember, got {got:?}"),
        };
        assert_eq!(bad(&[u[0].clone(), "nope".into()]), "nope");
        assert_eq!(bad(&[other[0].clone()]), other[0]);
        assert_eq!(bad(&[g[1].clone()]), g[1]);
        // Nothing was added by the refused calls, not even the good id before the bad one.
        assert!(s.read(|r| r.member_ids(t, &g[0])).unwrap().is_empty());
        // Another tenant's group is not found, and its view never shows tenant a's rows.
        assert!(matches!(add(s, f.b, &g[0], &other), Err(Error::NotFound)));
        assert!(matches!(remove(s, f.b, &g[0], &other), Err(Error::NotFound)));
        assert!(matches!(add(s, t, &u[0], &u), Err(Error::NotFound)));
        add(s, t, &g[0], &u).unwrap();
        assert!(s.read(|r| r.member_ids(f.b, &g[0])).unwrap().is_empty());
        assert!(!s.read(|r| r.member_ids(f.b, &g[0])).unwrap().contains(&u[0]));
        assert!(group_ids(s, f.b, &u[0]).is_empty());
        // Removing another tenant's user id from a group is a no-op.
        assert_eq!(remove(s, t, &g[0], &other).unwrap(), 0);
    }

    #[test]
    fn nested_groups_never_form_a_cycle() {
        let f = Fixture::new();
        let (s, t) = (&f.store, f.a);
        let u = create(s, t, ResourceKind::User, &["u"]);
        let g = create(s, t, ResourceKind::Group, &["a", "b", "c"]);
        let nest = |parent: &str, child: &str| {
            let (parent, child) = (parent.to_owned(), vec![child.to_owned()]);
            s.write(move |w| w.add_members(t, &parent, &child, true))
        };
        assert!(matches!(add(s, t, &g[0], &g[1..2]), Err(Error::NoSuchMember(_))), "groups only when nested");
        assert_eq!(nest(&g[0], &g[1]).unwrap(), 1);
        assert_eq!(nest(&g[1], &g[2]).unwrap(), 1);
        add(s, t, &g[2], &u).unwrap();
        for (parent, child) in [(&g[2], &g[0]), (&g[1], &g[0]), (&g[0], &g[0])] {
            assert!(matches!(nest(parent, child), Err(Error::MemberCycle(_))), "{parent} <- {child}");
        }
        let groups = s.read(|r| r.groups_of(t, &[u[0].as_str()])).unwrap().remove(0);
        let summary: Vec<(String, bool)> = groups.into_iter().map(|m| (m.id, m.direct)).collect();
        assert_eq!(summary, [(g[0].clone(), false), (g[1].clone(), false), (g[2].clone(), true)]);
        let members = s.read(|r| r.members(t, &[g[1].as_str()], 0, usize::MAX)).unwrap().remove(0);
        assert_eq!((members[0].id.as_str(), members[0].kind), (g[2].as_str(), ResourceKind::Group));
        assert_eq!(remove(s, t, &g[1], &g[2..3]).unwrap(), 1);
    }

    #[test]
    fn deletes_cascade_to_memberships() {
        let f = Fixture::new();
        let (s, t) = (&f.store, f.a);
        let u = create(s, t, ResourceKind::User, &["u1", "u2"]);
        let g = create(s, t, ResourceKind::Group, &["g1", "g2"]);
        add(s, t, &g[0], &u).unwrap();
        add(s, t, &g[1], &u).unwrap();
        let gone = u[0].clone();
        s.write(move |w| w.delete(t, ResourceKind::User, &gone)).unwrap();
        assert_eq!(s.read(|r| r.member_ids(t, &g[0])).unwrap(), [u[1].clone()]);
        assert_eq!(s.read(|r| r.member_ids(t, &g[1])).unwrap(), [u[1].clone()]);
        let gone = g[0].clone();
        s.write(move |w| w.delete(t, ResourceKind::Group, &gone)).unwrap();
        assert_eq!(group_ids(s, t, &u[1]), [g[1].clone()]);
        assert_eq!(f.count("SELECT COUNT(*) FROM members"), 1);
    }

    #[test]
    fn adding_to_a_large_group_is_one_indexed_insert() {
        let f = Fixture::new();
        let (s, t) = (&f.store, f.a);
        let names: Vec<String> = (0..2000).map(|i| format!("u{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let u = create(s, t, ResourceKind::User, &refs);
        let g = create(s, t, ResourceKind::Group, &["big"]).remove(0);
        add(s, t, &g, &u[1..]).unwrap();
        // The plan for one insert touches the primary key only: no scan of the group.
        let plan = f.explain("SELECT 1 FROM members WHERE group_seq = 1 AND member_seq = 2");
        assert!(plan.iter().all(|step| !step.starts_with("SCAN")), "{plan:?}");
        assert_eq!(add(s, t, &g, &u[..1]).unwrap(), 1);
        assert_eq!(s.read(|r| r.member_ids(t, &g)).unwrap().len(), 2000);
    }
}
