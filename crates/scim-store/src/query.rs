//! Listing resources: conditions and filters turned into SQL, cursor and offset paging, totals.

use rusqlite::types::Value;
use rusqlite::{OptionalExtension, params_from_iter};
use scim_schema::ResourceKind;

use crate::db::Db;
use crate::filter_sql::{self, bind};
use crate::resources::{COLUMNS, KindCode, Stored, stored, stored_text};
use crate::{Error, TenantKey};

/// One predicate of a [`Query`]; a query's conditions are ANDed.
///
/// Each one is answered from an index.
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
}

/// What to list: conditions, a filter, where to start, how many.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Predicates every listed resource meets; none lists all.
    pub conditions: Vec<Condition>,
    /// A SCIM filter every listed resource also meets (ANDed with `conditions`).
    ///
    /// It is translated to one SQL predicate, never evaluated row by row in Rust, and lists
    /// exactly the resources [`scim_schema::eval::matches`] accepts once rendered by
    /// [`scim_schema::render::render`] under the rfc profile with their memberships listed as
    /// `{"value": id}`: the same attributes, case folding, operators, `ne`, `pr` and `null`
    /// rules. `id`, `userName` (Users), `displayName` (Groups) and `externalId` equalities and
    /// `groups.value` / `members.value` equalities are index lookups; see the `filter_sql`
    /// module for the rest.
    ///
    /// [`Reader::list`] refuses with [`Error::Filter`], before running any SQL, every filter the
    /// evaluator refuses, and also `meta.location` and the membership sub-attributes other than
    /// `value` (`$ref`, `type`, `display`), which are made of URLs and names the server, not
    /// the store, decides.
    pub filter: Option<scim_filter::Filter>,
    /// The order: by an attribute (`sortBy`/`sortOrder`), else creation order. Resources
    /// without a value for the attribute come last either way; ties keep creation order.
    /// Only for offset paging: a cursor pages in creation order.
    pub sort: Option<Sort>,
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
        Query {
            conditions: Vec::new(),
            filter: None,
            sort: None,
            after: None,
            offset: 0,
            limit: 100,
            with_total: false,
        }
    }
}

/// The `sortBy` and `sortOrder` of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Sort {
    /// The attribute to sort by, resolved as a filter's paths are.
    pub by: scim_filter::AttrPath,
    /// Whether the order is descending.
    pub descending: bool,
}

/// One page of a listing; its resources' attributes as [`Stored`] holds them (a JSON object by
/// default, its text from [`crate::Reader::list_text`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<A = serde_json::Map<String, serde_json::Value>> {
    /// The resources, in creation (`seq`) order.
    pub items: Vec<Stored<A>>,
    /// How many resources match in all, when the query asked for it.
    pub total: Option<u64>,
    /// Whether another matching resource exists after the last one returned.
    pub more: bool,
}

/// The `WHERE` clause of a query over `resources r`, and its parameters.
///
/// Parameters are numbered (`?3`), so a fragment may be built before or after another, or
/// repeated, without the order of `params` having to follow the text. A value may also be bound
/// and then not be used, when filter translation folds its fragment to a constant (`title eq
/// 5` is `0`): a statement is given the parameters up to the highest number it names
/// (`Where::params_for`), and one it never names in between is bound and ignored.
#[derive(Debug)]
struct Where {
    sql: String,
    params: Vec<Value>,
}

impl Where {
    /// `r.tenant = ? AND r.kind = ?`, every condition, and the filter.
    fn new(tenant: TenantKey, kind: ResourceKind, query: &Query) -> Result<Where, Error> {
        let mut params = Vec::new();
        let sql = format!(
            "r.tenant = {} AND r.kind = {}",
            bind(&mut params, Value::Integer(tenant.0)),
            bind(&mut params, Value::Integer(kind.code()))
        );
        let mut clause = Where { sql, params };
        for condition in &query.conditions {
            clause.push(tenant, condition);
        }
        if let Some(filter) = &query.filter {
            let predicate = filter_sql::translate(tenant, kind, filter, &mut clause.params).map_err(Error::Filter)?;
            clause.sql.push_str(" AND (");
            clause.sql.push_str(&predicate);
            clause.sql.push(')');
        }
        Ok(clause)
    }

    /// ANDs one condition.
    fn push(&mut self, tenant: TenantKey, condition: &Condition) {
        let params = &mut self.params;
        let mut text = |s: &str| bind(params, Value::Text(s.to_owned()));
        let sql = match condition {
            Condition::Id(id) => format!("r.id = {}", text(id)),
            Condition::Name(name) => format!("r.name_key = {}", text(&name.to_lowercase())),
            Condition::ExternalId(id) => format!("r.external_id = {}", text(id)),
            Condition::Email(email) => format!("r.email_key = {}", text(&email.to_lowercase())),
            // The subqueries are uncorrelated (the tenant is a parameter, not `r.tenant`), so
            // SQLite runs each once and probes its result by `seq`.
            Condition::MemberOf(group) => format!(
                "r.seq IN (SELECT m.member_seq FROM members m WHERE m.group_seq =
                   (SELECT g.seq FROM resources g WHERE g.id = {} AND g.tenant = {} AND g.kind = 1))",
                text(group),
                bind(params, Value::Integer(tenant.0))
            ),
            Condition::HasMember(user) => format!(
                "r.seq IN (SELECT m.group_seq FROM members m WHERE m.member_seq =
                   (SELECT u.seq FROM resources u WHERE u.id = {} AND u.tenant = {} AND u.kind = 0))",
                text(user),
                bind(params, Value::Integer(tenant.0))
            ),
        };
        self.sql.push_str(" AND ");
        self.sql.push_str(&sql);
    }

    /// The folded name the clause asks for, when it is exactly the tenant, the kind and one
    /// name: `userName eq "…"` (Users) or `displayName eq "…"` (Groups), from a filter or a
    /// condition, and nothing else. Such a clause matches one resource at most (the unique
    /// index on tenant, kind and `name_key`). Read from the SQL the translation wrote, so it is
    /// exactly the case where that SQL is one `name_key` equality.
    fn exact_name(&self) -> Option<&str> {
        const SHAPES: [&str; 2] = [
            "r.tenant = ?1 AND r.kind = ?2 AND r.name_key = ?3",
            "r.tenant = ?1 AND r.kind = ?2 AND (r.name_key = ?3)",
        ];
        match self.params.as_slice() {
            [_, _, Value::Text(name)] if SHAPES.contains(&self.sql.as_str()) => Some(name),
            _ => None,
        }
    }

    /// The parameters of a statement prepared from this clause that names `count` of them.
    fn params_for(&self, count: usize) -> impl rusqlite::Params + use<'_> {
        params_from_iter(self.params.iter().take(count))
    }

    /// The `COUNT(*)` of every match.
    fn count(&self) -> String {
        format!("SELECT COUNT(*) FROM resources r WHERE {}", self.sql)
    }

    /// The page's `SELECT`: the cursor or offset, the order, and one row more than the limit.
    fn page(&mut self, tenant: TenantKey, kind: ResourceKind, query: &Query) -> Result<String, Error> {
        let mut sql = format!("SELECT {COLUMNS} FROM resources r WHERE {}", self.sql);
        if let Some(after) = query.after {
            sql.push_str(&format!(" AND r.seq > {}", bind(&mut self.params, Value::Integer(after))));
        }
        let order = match &query.sort {
            Some(sort) => {
                let key = filter_sql::sort_key(tenant, kind, &sort.by, &mut self.params).map_err(Error::Filter)?;
                let direction = if sort.descending { "DESC" } else { "ASC" };
                format!("({key}) IS NULL, {key} {direction}, r.seq")
            }
            None => "r.seq".to_owned(),
        };
        let fetch = i64::try_from(query.limit.saturating_add(1)).unwrap_or(i64::MAX);
        sql.push_str(&format!(" ORDER BY {order} LIMIT {}", bind(&mut self.params, Value::Integer(fetch))));
        if query.after.is_none() && query.offset > 0 {
            let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
            sql.push_str(&format!(" OFFSET {}", bind(&mut self.params, Value::Integer(offset))));
        }
        Ok(sql)
    }
}

/// Statements longer than this are prepared afresh rather than through the statement cache:
/// they come from long, one-off filters, and caching them would only evict the common shapes.
const CACHED_SQL_MAX: usize = 8 * 1024;

/// Runs `f` on `sql` prepared through the connection's statement cache, unless it is longer
/// than [`CACHED_SQL_MAX`].
fn with_statement<T>(
    conn: &rusqlite::Connection,
    sql: &str,
    f: impl FnOnce(&mut rusqlite::Statement<'_>) -> Result<T, Error>,
) -> Result<T, Error> {
    if sql.len() <= CACHED_SQL_MAX { f(&mut *conn.prepare_cached(sql)?) } else { f(&mut conn.prepare(sql)?) }
}

/// The statement of `Db::hinted_name`: the clause's row at the hinted `seq` (parameter 4).
fn at_hinted_row(clause: &Where) -> String {
    format!("SELECT {COLUMNS} FROM resources r WHERE r.seq = ?4 AND {}", clause.sql)
}

impl Db<'_> {
    /// A page of the tenant's resources of `kind` matching `query`, in creation order.
    ///
    /// With a cursor (`after`) the page starts by `seq > after` through the index, never by
    /// skipping rows, so deep pages cost what the first one does; one extra row is fetched to
    /// tell whether there is `more`. The total, when asked for, is a `COUNT(*)` with the same
    /// conditions and filter, inside the same snapshot as the page.
    ///
    /// [`Error::Filter`] when [`Query::filter`] is refused; nothing is run then.
    pub fn list(&self, tenant: TenantKey, kind: ResourceKind, query: &Query) -> Result<Page, Error> {
        self.list_as(tenant, kind, query, stored)
    }

    /// [`Db::list`] with the attributes left as their stored text, never parsed.
    pub fn list_text(&self, tenant: TenantKey, kind: ResourceKind, query: &Query) -> Result<Page<String>, Error> {
        self.list_as(tenant, kind, query, stored_text)
    }

    fn list_as<A>(
        &self,
        tenant: TenantKey,
        kind: ResourceKind,
        query: &Query,
        read: fn(&rusqlite::Row<'_>) -> rusqlite::Result<Stored<A>>,
    ) -> Result<Page<A>, Error> {
        let mut clause = Where::new(tenant, kind, query)?;
        if let Some(page) = self.hinted_name(tenant, kind, query, &clause, read)? {
            return Ok(page);
        }
        // Taken before the page's parameters join the clause's.
        let exact_name = clause.exact_name().map(str::to_owned);
        let total = if query.with_total {
            let count: i64 = with_statement(self.conn, &clause.count(), |stmt| {
                let params = clause.params_for(stmt.parameter_count());
                Ok(stmt.query_row(params, |row| row.get(0))?)
            })?;
            Some(u64::try_from(count).unwrap_or(0))
        } else {
            None
        };
        let sql = clause.page(tenant, kind, query)?;
        let mut items = with_statement(self.conn, &sql, |stmt| {
            let params = clause.params_for(stmt.parameter_count());
            let rows = stmt.query_map(params, read)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })?;
        let more = items.len() > query.limit;
        items.truncate(query.limit);
        if let (Some(name), [found]) = (exact_name, items.as_slice()) {
            self.hints.note_name(tenant, kind, &name, found.seq);
        }
        Ok(Page { items, total, more })
    }

    /// The first page of a listing by exact name (`Where::exact_name`) read at the row a hint
    /// names, without the `name_key` index or a count: the clause matches that row or none, so
    /// a found row is the whole listing. `None` (look through the index) when there is no
    /// hint, or its row no longer has this name.
    fn hinted_name<A>(
        &self,
        tenant: TenantKey,
        kind: ResourceKind,
        query: &Query,
        clause: &Where,
        read: fn(&rusqlite::Row<'_>) -> rusqlite::Result<Stored<A>>,
    ) -> Result<Option<Page<A>>, Error> {
        let Some(name) = clause.exact_name() else { return Ok(None) };
        if query.after.is_some() || query.offset > 0 || query.limit == 0 {
            return Ok(None);
        }
        let Some(seq) = self.hints.name(tenant, kind, name) else { return Ok(None) };
        let sql = at_hinted_row(clause);
        let seq = Value::Integer(seq);
        let params = params_from_iter(clause.params.iter().chain([&seq]));
        let found = self.conn.prepare_cached(&sql)?.query_row(params, read).optional()?;
        Ok(found.map(|found| Page { items: vec![found], total: query.with_total.then_some(1), more: false }))
    }

    /// The steps of `EXPLAIN QUERY PLAN` for the page `list` would run (its `detail` column).
    #[cfg(test)]
    pub(crate) fn plan(&self, tenant: TenantKey, kind: ResourceKind, query: &Query) -> Result<Vec<String>, Error> {
        let mut clause = Where::new(tenant, kind, query)?;
        let sql = format!("EXPLAIN QUERY PLAN {}", clause.page(tenant, kind, query)?);
        let mut stmt = self.conn.prepare(&sql)?;
        let params = clause.params_for(stmt.parameter_count());
        let rows = stmt.query_map(params, |row| row.get::<_, String>(3))?;
        Ok(rows.collect::<Result<_, _>>()?)
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

    fn create(store: &Store, tenant: TenantKey, kind: ResourceKind, names: &[&str]) -> Vec<String> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        store
            .write(move |w| -> Result<Vec<String>, Error> {
                names
                    .iter()
                    .map(|n| {
                        let mut attrs = Map::new();
                        attrs.insert("name".into(), json!(n));
                        let keys = keys(n, Some(&format!("ext-{n}")), Some(&format!("{n}@Example.com")));
                        let keys = if kind == ResourceKind::Group { crate::Keys { email: None, ..keys } } else { keys };
                        Ok(w.insert(tenant, kind, &keys, &attrs, 1)?.id)
                    })
                    .collect()
            })
            .unwrap()
    }

    fn list(store: &Store, tenant: TenantKey, kind: ResourceKind, query: Query) -> Page {
        store.read(|r| r.list(tenant, kind, &query)).unwrap()
    }

    #[test]
    fn sort_by_attribute_folds_case_puts_missing_last_and_uses_primary_values() {
        let f = Fixture::new();
        let (s, t) = (&f.store, f.a);
        let users = [
            (
                "b",
                json!({"userName": "b", "title": "beta", "emails": [{"value": "z@x"}, {"value": "a@x", "primary": true}]}),
            ),
            ("A", json!({"userName": "A", "title": "Alpha", "emails": [{"value": "m@x"}]})),
            ("c", json!({"userName": "c"})),
            ("é", json!({"userName": "é", "title": "Émile"})),
        ];
        s.write(move |w| -> Result<(), Error> {
            for (name, attrs) in users {
                w.insert(t, ResourceKind::User, &keys(name, None, None), attrs.as_object().unwrap_or(&Map::new()), 1)?;
            }
            Ok(())
        })
        .unwrap();
        let order = |by: &str, descending: bool| -> Vec<String> {
            let sort = Sort { by: scim_filter::parse_attr_path(by).unwrap(), descending };
            let page = list(s, t, ResourceKind::User, Query { sort: Some(sort), ..Query::default() });
            page.items.iter().map(|i| i.attrs["userName"].as_str().unwrap().to_owned()).collect()
        };
        assert_eq!(order("userName", false), ["A", "b", "c", "é"]);
        assert_eq!(order("userName", true), ["é", "c", "b", "A"]);
        assert_eq!(order("title", false), ["A", "b", "é", "c"], "missing values last");
        assert_eq!(order("title", true), ["é", "b", "A", "c"], "missing values last, descending too");
        assert_eq!(order("emails", false), ["b", "A", "c", "é"], "the primary email a@x sorts b first");
        assert_eq!(order("meta.created", false), ["b", "A", "c", "é"], "ties keep creation order");
        let members = Sort { by: scim_filter::parse_attr_path("groups.value").unwrap(), descending: false };
        assert!(s.read(|r| r.list(t, ResourceKind::User, &Query { sort: Some(members), ..Query::default() })).is_err());
    }

    #[test]
    fn cursor_paging_survives_inserts_and_deletes() {
        let f = Fixture::new();
        let (s, t) = (&f.store, f.a);
        let ids = create(s, t, ResourceKind::User, &["a", "b", "c", "d", "e"]);
        let q = |after| Query { after, limit: 2, ..Query::default() };
        let p1 = list(s, t, ResourceKind::User, q(None));
        assert_eq!((names(&p1), p1.more, p1.total), (vec!["a".to_owned(), "b".into()], true, None));

        // Between pages: delete the next item and one already seen, add a new one at the end.
        let (c, a) = (ids[2].clone(), ids[0].clone());
        s.write(move |w| -> Result<(), Error> {
            w.delete(t, ResourceKind::User, &c)?;
            w.delete(t, ResourceKind::User, &a)
        })
        .unwrap();
        create(s, t, ResourceKind::User, &["f"]);

        let p2 = list(s, t, ResourceKind::User, q(Some(p1.items[1].seq)));
        assert_eq!((names(&p2), p2.more), (vec!["d".to_owned(), "e".into()], true));
        let p3 = list(s, t, ResourceKind::User, q(Some(p2.items[1].seq)));
        assert_eq!((names(&p3), p3.more), (vec!["f".to_owned()], false));
        let p4 = list(s, t, ResourceKind::User, q(Some(p3.items[0].seq)));
        assert!(p4.items.is_empty() && !p4.more);
    }

    #[test]
    fn offset_paging_and_totals() {
        let f = Fixture::new();
        let (s, t) = (&f.store, f.a);
        create(s, t, ResourceKind::User, &["a", "b", "c", "d", "e"]);
        create(s, t, ResourceKind::Group, &["g"]);
        create(s, f.b, ResourceKind::User, &["x"]);
        let q = |offset, limit| Query { offset, limit, with_total: true, ..Query::default() };
        let p = list(s, t, ResourceKind::User, q(0, 2));
        assert_eq!((names(&p), p.total, p.more), (vec!["a".to_owned(), "b".into()], Some(5), true));
        let p = list(s, t, ResourceKind::User, q(3, 2));
        assert_eq!((names(&p), p.total, p.more), (vec!["d".to_owned(), "e".into()], Some(5), false));
        let p = list(s, t, ResourceKind::User, q(9, 2));
        assert_eq!((p.items.len(), p.total, p.more), (0, Some(5), false));
        let p = list(s, t, ResourceKind::User, q(0, 0));
        assert_eq!((p.items.len(), p.total, p.more), (0, Some(5), true));
        // The total ignores the cursor; offset is ignored with a cursor.
        let first = list(s, t, ResourceKind::User, q(0, 1)).items[0].seq;
        let p = list(s, t, ResourceKind::User, Query { after: Some(first), offset: 3, ..q(0, 10) });
        assert_eq!((names(&p).len(), p.total), (4, Some(5)));
        let p = list(s, t, ResourceKind::Group, q(0, 10));
        assert_eq!((names(&p), p.total), (vec!["g".to_owned()], Some(1)));
    }

    #[test]
    fn every_condition() {
        let f = Fixture::new();
        let (s, t) = (&f.store, f.a);
        let u = create(s, t, ResourceKind::User, &["Ann", "Bob", "Cy"]);
        let g = create(s, t, ResourceKind::Group, &["Staff", "Ops"]);
        let bu = create(s, f.b, ResourceKind::User, &["Ann"]);
        let bg = create(s, f.b, ResourceKind::Group, &["Staff"]);
        let (g0, g1, members) = (g[0].clone(), g[1].clone(), vec![u[0].clone(), u[2].clone()]);
        let (bg0, bmembers) = (bg[0].clone(), bu.clone());
        s.write(move |w| -> Result<(), Error> {
            w.add_members(t, &g0, &members, false)?;
            w.add_members(t, &g1, &members[1..], false)?;
            w.add_members(f.b, &bg0, &bmembers, false)?;
            let mut attrs = Map::new();
            attrs.insert("name".into(), json!("Bob"));
            attrs.insert(
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".into(),
                json!({"manager": {"value": "boss-1"}}),
            );
            let bob = w.list(
                t,
                ResourceKind::User,
                &Query { conditions: vec![Condition::Name("bob".into())], ..Query::default() },
            )?;
            w.replace(
                t,
                ResourceKind::User,
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
        assert_eq!(find(ResourceKind::User, vec![Id(u[1].clone())]), ["Bob"]);
        assert!(find(ResourceKind::User, vec![Id(bu[0].clone())]).is_empty());
        assert!(find(ResourceKind::Group, vec![Id(u[1].clone())]).is_empty());
        assert_eq!(find(ResourceKind::User, vec![Name("ANN".into())]), ["Ann"]);
        assert_eq!(find(ResourceKind::Group, vec![Name("staff".into())]), ["Staff"]);
        assert_eq!(find(ResourceKind::User, vec![ExternalId("ext-Cy".into())]), ["Cy"]);
        assert!(find(ResourceKind::User, vec![ExternalId("EXT-CY".into())]).is_empty());
        assert_eq!(find(ResourceKind::User, vec![Email("CY@example.COM".into())]), ["Cy"]);
        assert_eq!(find(ResourceKind::User, vec![MemberOf(g[0].clone())]), ["Ann", "Cy"]);
        assert_eq!(find(ResourceKind::User, vec![MemberOf(g[1].clone())]), ["Cy"]);
        assert!(find(ResourceKind::User, vec![MemberOf(bg[0].clone())]).is_empty());
        assert!(find(ResourceKind::User, vec![MemberOf("nope".into())]).is_empty());
        assert_eq!(find(ResourceKind::Group, vec![HasMember(u[2].clone())]), ["Staff", "Ops"]);
        assert!(find(ResourceKind::Group, vec![HasMember(u[1].clone())]).is_empty());
        assert!(find(ResourceKind::Group, vec![HasMember(bu[0].clone())]).is_empty());
        // Conditions are ANDed.
        assert_eq!(find(ResourceKind::Group, vec![Id(g[0].clone()), HasMember(u[0].clone())]), ["Staff"]);
        assert!(find(ResourceKind::Group, vec![Id(g[1].clone()), HasMember(u[0].clone())]).is_empty());
        assert_eq!(find(ResourceKind::User, vec![MemberOf(g[0].clone()), Name("cy".into())]), ["Cy"]);
        let page = list(
            s,
            t,
            ResourceKind::User,
            Query { conditions: vec![MemberOf(g[0].clone())], limit: 1, with_total: true, ..Query::default() },
        );
        assert_eq!((names(&page), page.total, page.more), (vec!["Ann".to_owned()], Some(2), true));
    }

    #[test]
    fn membership_filters_use_indexes() {
        let f = Fixture::new();
        for (kind, condition) in [
            (ResourceKind::User, Condition::MemberOf("g".into())),
            (ResourceKind::Group, Condition::HasMember("u".into())),
        ] {
            let query = Query { conditions: vec![condition], after: Some(1), ..Query::default() };
            let steps = f.plan(kind, &query);
            // No step reads a whole table without an index.
            assert!(steps.iter().all(|s| !s.starts_with("SCAN") || s.contains("INDEX")), "{steps:?}");
        }
    }

    #[test]
    fn exact_names_are_recognised_in_the_sql_the_translation_wrote() {
        let name = |kind, filter: Option<&str>, conditions: Vec<Condition>| -> Option<String> {
            let query =
                Query { conditions, filter: filter.map(|f| scim_filter::parse_filter(f).unwrap()), ..Query::default() };
            // A filter the translation refuses has no clause at all.
            Where::new(TenantKey(1), kind, &query).ok()?.exact_name().map(str::to_owned)
        };
        use ResourceKind::{Group, User};
        assert_eq!(name(User, Some(r#"userName eq "Ann""#), vec![]).as_deref(), Some("ann"));
        assert_eq!(
            name(User, Some(r#"urn:ietf:params:scim:schemas:core:2.0:User:USERNAME eq "Ann""#), vec![]).as_deref(),
            Some("ann")
        );
        assert_eq!(name(Group, Some(r#"displayName eq "Staff""#), vec![]).as_deref(), Some("staff"));
        assert_eq!(name(User, None, vec![Condition::Name("Ann".into())]).as_deref(), Some("ann"));
        for (kind, filter) in [
            (User, r#"userName eq "Ann" and title eq "x""#),
            (User, r#"userName eq "Ann" or userName eq "Bob""#),
            (User, r#"not (userName eq "Ann")"#),
            (User, r#"userName co "Ann""#),
            (User, r#"userName ne "Ann""#),
            (User, r#"displayName eq "Ann""#),
            (Group, r#"userName eq "Ann""#),
        ] {
            assert_eq!(name(kind, Some(filter), vec![]), None, "{filter}");
        }
        assert_eq!(name(User, Some(r#"userName eq "Ann""#), vec![Condition::Email("a@x".into())]), None);
        assert_eq!(name(User, None, vec![]), None);
    }

    #[test]
    fn a_listing_by_name_at_a_hinted_row_answers_as_the_index_does() {
        let f = Fixture::new();
        let (s, t) = (&f.store, f.a);
        let u = create(s, t, ResourceKind::User, &["Ann", "Bob"]);
        create(s, f.b, ResourceKind::User, &["Ann"]);
        let plain = crate::connection::open_reader(&f.dir.db()).unwrap();
        // Each listing through the store (with its hints) and through a connection without any
        // (a fresh set each time, so the listing goes through the index).
        let check = |filter: &str, offset: usize, after: Option<i64>, why: &str| {
            let query = Query {
                filter: Some(scim_filter::parse_filter(filter).unwrap()),
                with_total: true,
                offset,
                after,
                ..Query::default()
            };
            let hinted = s.read(|r| r.list(t, ResourceKind::User, &query)).unwrap();
            let none = crate::hints::Hints::default();
            let indexed = crate::db::Db::new(&plain, &none).list(t, ResourceKind::User, &query).unwrap();
            assert_eq!(hinted, indexed, "{why}: {filter}");
            names(&hinted)
        };
        // Hinted by the inserts; any case of the name.
        assert_eq!(check(r#"userName eq "ann""#, 0, None, "found"), ["Ann"]);
        assert_eq!(check(r#"userName eq "ANN""#, 0, None, "folded"), ["Ann"]);
        assert!(check(r#"userName eq "ann""#, 1, None, "past it").is_empty());
        assert!(check(r#"userName eq "ann""#, 0, Some(i64::MAX), "after it").is_empty());
        assert!(check(r#"userName eq "nobody""#, 0, None, "no such name").is_empty());
        // Renamed: the old name's hint finds a row named otherwise, the new name is found.
        let (ann, bob) = (u[0].clone(), u[1].clone());
        s.write(move |w| -> Result<(), Error> {
            let mut attrs = Map::new();
            attrs.insert("name".into(), json!("Cat"));
            w.replace(t, ResourceKind::User, &ann, &keys("Cat", None, None), &attrs, 2)?;
            w.delete(t, ResourceKind::User, &bob)
        })
        .unwrap();
        assert!(check(r#"userName eq "ann""#, 0, None, "renamed away").is_empty());
        assert_eq!(check(r#"userName eq "cat""#, 0, None, "renamed to"), ["Cat"]);
        assert!(check(r#"userName eq "bob""#, 0, None, "deleted").is_empty());
        // A new resource takes the old name: its own row, not the renamed one.
        create(s, t, ResourceKind::User, &["Ann"]);
        let found = check(r#"userName eq "ann""#, 0, None, "name taken again");
        assert_eq!(found, ["Ann"]);
        // The hinted read goes to the row, not the name index.
        let query =
            Query { filter: Some(scim_filter::parse_filter(r#"userName eq "ann""#).unwrap()), ..Query::default() };
        let clause = Where::new(t, ResourceKind::User, &query).unwrap();
        let plan: Vec<String> = plain
            .prepare(&format!("EXPLAIN QUERY PLAN {}", at_hinted_row(&clause)))
            .unwrap()
            .query_map((t.0, 0, "ann", 1), |row| row.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(plan, ["SEARCH r USING INTEGER PRIMARY KEY (rowid=?)"]);
        // Hints a process has not noted yet (it restarted, another process wrote) are noted by
        // the listing that went through the index.
        let fresh = crate::hints::Hints::default();
        let db = crate::db::Db::new(&plain, &fresh);
        let query =
            Query { filter: Some(scim_filter::parse_filter(r#"userName eq "CAT""#).unwrap()), ..Query::default() };
        let listed = db.list(t, ResourceKind::User, &query).unwrap();
        assert_eq!(fresh.name(t, ResourceKind::User, "cat"), Some(listed.items[0].seq));
    }
}
