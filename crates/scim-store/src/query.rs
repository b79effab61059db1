//! Listing resources: conditions turned into SQL, cursor and offset paging, totals.

use rusqlite::params_from_iter;
use rusqlite::types::Value;

use crate::resources::{COLUMNS, Stored, stored};
use crate::{Error, Kind, Reader, TenantKey};

/// One predicate of a [`Query`]; a query's conditions are ANDed.
///
/// Each one but [`Condition::AttrEq`] is answered from an index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Condition {
    /// The resource's id is exactly this.
    Id(String),
    /// The `userName` or group `displayName` equals this, ignoring case.
    Name(String),
    /// The `externalId` is exactly this.
    ExternalId(String),
    /// The primary email equals this, ignoring case.
    Email(String),
    /// Users: member of the group with this id (of the same tenant).
    MemberOf(String),
    /// Groups: have the user with this id (of the same tenant) as a member.
    HasMember(String),
    /// The string at a JSON path of the attributes equals `value` exactly.
    ///
    /// Not indexed: the rows are read and their JSON parsed, so use it beside an indexed
    /// condition (in practice [`Condition::Id`], for `id eq ... and manager.value eq ...`).
    AttrEq {
        /// An SQLite JSON path built by the server, e.g.
        /// `$."urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".manager.value`.
        pointer: String,
        /// The string the value at `pointer` must equal.
        value: String,
    },
}

/// What to list: conditions, where to start, how many.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Query {
    /// Predicates every listed resource meets; none lists all.
    pub conditions: Vec<Condition>,
    /// Cursor: list only resources whose `seq` is greater (the last `seq` of the previous page).
    pub after: Option<i64>,
    /// Matches to skip (`startIndex - 1`), only when `after` is `None`.
    pub offset: usize,
    /// The most items to return.
    pub limit: usize,
    /// Whether to count every match (ignoring `after`, `offset` and `limit`).
    pub with_total: bool,
}

impl Default for Query {
    /// Every resource, first page of 100 (the SCIM default `count`), no total.
    fn default() -> Query {
        Query { conditions: Vec::new(), after: None, offset: 0, limit: 100, with_total: false }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The resources, in creation (`seq`) order.
    pub items: Vec<Stored>,
    /// How many resources match in all, when the query asked for it.
    pub total: Option<u64>,
    /// Whether another matching resource exists after the last one returned.
    pub more: bool,
}

/// The `WHERE` clause of a query over `resources r`, and its parameters.
struct Filter {
    sql: String,
    params: Vec<Value>,
}

impl Filter {
    /// `r.tenant = ? AND r.kind = ?` and every condition.
    fn new(tenant: TenantKey, kind: Kind, conditions: &[Condition]) -> Filter {
        let mut filter = Filter {
            sql: "r.tenant = ? AND r.kind = ?".to_owned(),
            params: vec![Value::Integer(tenant.0), Value::Integer(kind.code())],
        };
        for condition in conditions {
            filter.push(tenant, condition);
        }
        filter
    }

    /// ANDs one condition.
    fn push(&mut self, tenant: TenantKey, condition: &Condition) {
        let text = |s: &str| Value::Text(s.to_owned());
        let (sql, params) = match condition {
            Condition::Id(id) => ("r.id = ?", vec![text(id)]),
            Condition::Name(name) => ("r.name_key = ?", vec![Value::Text(name.to_lowercase())]),
            Condition::ExternalId(id) => ("r.external_id = ?", vec![text(id)]),
            Condition::Email(email) => ("r.email_key = ?", vec![Value::Text(email.to_lowercase())]),
            // The subqueries are uncorrelated (the tenant is a parameter, not `r.tenant`), so
            // SQLite runs each once and probes its result by `seq`.
            Condition::MemberOf(group) => (
                "r.seq IN (SELECT m.member_seq FROM members m WHERE m.group_seq =
                   (SELECT g.seq FROM resources g WHERE g.id = ? AND g.tenant = ? AND g.kind = 1))",
                vec![text(group), Value::Integer(tenant.0)],
            ),
            Condition::HasMember(user) => (
                "r.seq IN (SELECT m.group_seq FROM members m WHERE m.member_seq =
                   (SELECT u.seq FROM resources u WHERE u.id = ? AND u.tenant = ? AND u.kind = 0))",
                vec![text(user), Value::Integer(tenant.0)],
            ),
            Condition::AttrEq { pointer, value } => ("json_extract(r.attrs, ?) = ?", vec![text(pointer), text(value)]),
        };
        self.sql.push_str(" AND ");
        self.sql.push_str(sql);
        self.params.extend(params);
    }
}

impl Reader<'_> {
    /// A page of the tenant's resources of `kind` matching `query`, in creation order.
    ///
    /// With a cursor (`after`) the page starts by `seq > after` through the index, never by
    /// skipping rows, so deep pages cost what the first one does; one extra row is fetched to
    /// tell whether there is `more`. The total, when asked for, is a `COUNT(*)` with the same
    /// conditions, inside the same snapshot as the page.
    pub fn list(&self, tenant: TenantKey, kind: Kind, query: &Query) -> Result<Page, Error> {
        let mut filter = Filter::new(tenant, kind, &query.conditions);
        let total = if query.with_total {
            let sql = format!("SELECT COUNT(*) FROM resources r WHERE {}", filter.sql);
            let count: i64 =
                self.conn.prepare_cached(&sql)?.query_row(params_from_iter(&filter.params), |row| row.get(0))?;
            Some(u64::try_from(count).unwrap_or(0))
        } else {
            None
        };

        if let Some(after) = query.after {
            filter.sql.push_str(" AND r.seq > ?");
            filter.params.push(Value::Integer(after));
        }
        let mut sql = format!("SELECT {COLUMNS} FROM resources r WHERE {} ORDER BY r.seq LIMIT ?", filter.sql);
        let fetch = query.limit.saturating_add(1);
        filter.params.push(Value::Integer(i64::try_from(fetch).unwrap_or(i64::MAX)));
        if query.after.is_none() && query.offset > 0 {
            sql.push_str(" OFFSET ?");
            filter.params.push(Value::Integer(i64::try_from(query.offset).unwrap_or(i64::MAX)));
        }
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(&filter.params), stored)?;
        let mut items = rows.collect::<Result<Vec<_>, _>>()?;
        let more = items.len() > query.limit;
        items.truncate(query.limit);
        Ok(Page { items, total, more })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use serde_json::{Map, json};

    use super::*;
    use crate::Store;
    use crate::testkit::{Fixture, keys};

    fn names(page: &Page) -> Vec<String> {
        page.items.iter().map(|s| s.attrs["name"].as_str().unwrap_or_default().to_owned()).collect()
    }

    fn create(store: &Store, tenant: TenantKey, kind: Kind, names: &[&str]) -> Vec<String> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        store
            .write(move |w| -> Result<Vec<String>, Error> {
                names
                    .iter()
                    .map(|n| {
                        let mut attrs = Map::new();
                        attrs.insert("name".into(), json!(n));
                        let keys = keys(n, Some(&format!("ext-{n}")), Some(&format!("{n}@Example.com")));
                        let keys = if kind == Kind::Group { crate::Keys { email: None, ..keys } } else { keys };
                        Ok(w.insert(tenant, kind, &keys, &attrs, 1)?.id)
                    })
                    .collect()
            })
            .unwrap()
    }

    fn list(store: &Store, tenant: TenantKey, kind: Kind, query: Query) -> Page {
        store.read(|r| r.list(tenant, kind, &query)).unwrap()
    }

    #[test]
    fn cursor_paging_survives_inserts_and_deletes() {
        let f = Fixture::new();
        let (s, t) = (&f.store, f.a);
        let ids = create(s, t, Kind::User, &["a", "b", "c", "d", "e"]);
        let q = |after| Query { after, limit: 2, ..Query::default() };
        let p1 = list(s, t, Kind::User, q(None));
        assert_eq!((names(&p1), p1.more, p1.total), (vec!["a".to_owned(), "b".into()], true, None));

        // Between pages: delete the next item and one already seen, add a new one at the end.
        let (c, a) = (ids[2].clone(), ids[0].clone());
        s.write(move |w| -> Result<(), Error> {
            w.delete(t, Kind::User, &c)?;
            w.delete(t, Kind::User, &a)
        })
        .unwrap();
        create(s, t, Kind::User, &["f"]);

        let p2 = list(s, t, Kind::User, q(Some(p1.items[1].seq)));
        assert_eq!((names(&p2), p2.more), (vec!["d".to_owned(), "e".into()], true));
        let p3 = list(s, t, Kind::User, q(Some(p2.items[1].seq)));
        assert_eq!((names(&p3), p3.more), (vec!["f".to_owned()], false));
        let p4 = list(s, t, Kind::User, q(Some(p3.items[0].seq)));
        assert!(p4.items.is_empty() && !p4.more);
    }

    #[test]
    fn offset_paging_and_totals() {
        let f = Fixture::new();
        let (s, t) = (&f.store, f.a);
        create(s, t, Kind::User, &["a", "b", "c", "d", "e"]);
        create(s, t, Kind::Group, &["g"]);
        create(s, f.b, Kind::User, &["x"]);
        let q = |offset, limit| Query { offset, limit, with_total: true, ..Query::default() };
        let p = list(s, t, Kind::User, q(0, 2));
        assert_eq!((names(&p), p.total, p.more), (vec!["a".to_owned(), "b".into()], Some(5), true));
        let p = list(s, t, Kind::User, q(3, 2));
        assert_eq!((names(&p), p.total, p.more), (vec!["d".to_owned(), "e".into()], Some(5), false));
        let p = list(s, t, Kind::User, q(9, 2));
        assert_eq!((p.items.len(), p.total, p.more), (0, Some(5), false));
        let p = list(s, t, Kind::User, q(0, 0));
        assert_eq!((p.items.len(), p.total, p.more), (0, Some(5), true));
        // The total ignores the cursor; offset is ignored with a cursor.
        let first = list(s, t, Kind::User, q(0, 1)).items[0].seq;
        let p = list(s, t, Kind::User, Query { after: Some(first), offset: 3, ..q(0, 10) });
        assert_eq!((names(&p).len(), p.total), (4, Some(5)));
        let p = list(s, t, Kind::Group, q(0, 10));
        assert_eq!((names(&p), p.total), (vec!["g".to_owned()], Some(1)));
    }

    #[test]
    fn every_condition() {
        let f = Fixture::new();
        let (s, t) = (&f.store, f.a);
        let u = create(s, t, Kind::User, &["Ann", "Bob", "Cy"]);
        let g = create(s, t, Kind::Group, &["Staff", "Ops"]);
        let bu = create(s, f.b, Kind::User, &["Ann"]);
        let bg = create(s, f.b, Kind::Group, &["Staff"]);
        let (g0, g1, members) = (g[0].clone(), g[1].clone(), vec![u[0].clone(), u[2].clone()]);
        let (bg0, bmembers) = (bg[0].clone(), bu.clone());
        s.write(move |w| -> Result<(), Error> {
            w.add_members(t, &g0, &members)?;
            w.add_members(t, &g1, &members[1..])?;
            w.add_members(f.b, &bg0, &bmembers)?;
            let mut attrs = Map::new();
            attrs.insert("name".into(), json!("Bob"));
            attrs.insert(
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".into(),
                json!({"manager": {"value": "boss-1"}}),
            );
            let bob =
                w.list(t, Kind::User, &Query { conditions: vec![Condition::Name("bob".into())], ..Query::default() })?;
            w.replace(
                t,
                Kind::User,
                &bob.items[0].id,
                &keys("Bob", Some("ext-Bob"), Some("Bob@Example.com")),
                &attrs,
                2,
            )?;
            Ok(())
        })
        .unwrap();

        let find = |kind, conditions: Vec<Condition>| {
            names(&list(s, t, kind, Query { conditions, with_total: true, ..Query::default() }))
        };
        use Condition::*;
        assert_eq!(find(Kind::User, vec![Id(u[1].clone())]), ["Bob"]);
        assert!(find(Kind::User, vec![Id(bu[0].clone())]).is_empty());
        assert!(find(Kind::Group, vec![Id(u[1].clone())]).is_empty());
        assert_eq!(find(Kind::User, vec![Name("ANN".into())]), ["Ann"]);
        assert_eq!(find(Kind::Group, vec![Name("staff".into())]), ["Staff"]);
        assert_eq!(find(Kind::User, vec![ExternalId("ext-Cy".into())]), ["Cy"]);
        assert!(find(Kind::User, vec![ExternalId("EXT-CY".into())]).is_empty());
        assert_eq!(find(Kind::User, vec![Email("CY@example.COM".into())]), ["Cy"]);
        assert_eq!(find(Kind::User, vec![MemberOf(g[0].clone())]), ["Ann", "Cy"]);
        assert_eq!(find(Kind::User, vec![MemberOf(g[1].clone())]), ["Cy"]);
        assert!(find(Kind::User, vec![MemberOf(bg[0].clone())]).is_empty());
        assert!(find(Kind::User, vec![MemberOf("nope".into())]).is_empty());
        assert_eq!(find(Kind::Group, vec![HasMember(u[2].clone())]), ["Staff", "Ops"]);
        assert!(find(Kind::Group, vec![HasMember(u[1].clone())]).is_empty());
        assert!(find(Kind::Group, vec![HasMember(bu[0].clone())]).is_empty());
        let manager = |id: &str, value: &str| {
            vec![
                Id(id.to_owned()),
                AttrEq {
                    pointer: r#"$."urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".manager.value"#.into(),
                    value: value.into(),
                },
            ]
        };
        assert_eq!(find(Kind::User, manager(&u[1], "boss-1")), ["Bob"]);
        assert!(find(Kind::User, manager(&u[1], "BOSS-1")).is_empty());
        assert!(find(Kind::User, manager(&u[0], "boss-1")).is_empty());
        // Conditions are ANDed.
        assert_eq!(find(Kind::Group, vec![Id(g[0].clone()), HasMember(u[0].clone())]), ["Staff"]);
        assert!(find(Kind::Group, vec![Id(g[1].clone()), HasMember(u[0].clone())]).is_empty());
        assert_eq!(find(Kind::User, vec![MemberOf(g[0].clone()), Name("cy".into())]), ["Cy"]);
        let page = list(
            s,
            t,
            Kind::User,
            Query { conditions: vec![MemberOf(g[0].clone())], limit: 1, with_total: true, ..Query::default() },
        );
        assert_eq!((names(&page), page.total, page.more), (vec!["Ann".to_owned()], Some(2), true));
    }

    #[test]
    fn membership_filters_use_indexes() {
        let f = Fixture::new();
        let plan = |sql: &str| -> Vec<String> {
            f.store
                .read(|r| -> Result<Vec<String>, Error> {
                    let mut stmt = r.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                    let n = stmt.parameter_count();
                    let params: Vec<Value> = (0..n).map(|_| Value::Integer(1)).collect();
                    let rows = stmt.query_map(params_from_iter(&params), |row| row.get::<_, String>(3))?;
                    Ok(rows.collect::<Result<_, _>>()?)
                })
                .unwrap()
        };
        for condition in [Condition::MemberOf("g".into()), Condition::HasMember("u".into())] {
            let filter = Filter::new(f.a, Kind::User, &[condition]);
            let steps = plan(&format!(
                "SELECT {COLUMNS} FROM resources r WHERE {} AND r.seq > ? ORDER BY r.seq LIMIT ?",
                filter.sql
            ));
            // No step reads a whole table without an index.
            assert!(steps.iter().all(|s| !s.starts_with("SCAN") || s.contains("INDEX")), "{steps:?}");
        }
    }
}
