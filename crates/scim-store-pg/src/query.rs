//! Listing resources on PostgreSQL: conditions and filters turned into SQL, cursor and offset
//! paging, totals, with the meaning [`scim_store::Query`] documents.
//!
//! The statement reads `resources r` through `resources_list (tenant, kind, seq)` unless a
//! condition or filter names an indexed key; see [`crate::filter_sql`] for filters and
//! `schema_list.sql` for the indexes listing relies on.

use scim_schema::ResourceKind;
use scim_store::{Condition, Error, Page, Query, TenantKey};

use crate::filter_sql;
use crate::params::{Param, Params};
use crate::resources::{Attrs, COLUMNS, code, stored};
use crate::session::{Session, col};

/// `s` bound as text, or `None` when it holds U+0000, which no stored text holds.
fn text(params: &mut Params, s: &str) -> Option<String> {
    (!s.contains('\0')).then(|| params.bind(Param::Text(s.to_owned())))
}

/// The `WHERE` clause of a query over `resources r`, and its parameters.
#[derive(Debug)]
struct Where {
    sql: String,
    params: Params,
}

impl Where {
    /// `r.tenant = $1 AND r.kind = $2`, every condition, and the filter.
    fn new(tenant: TenantKey, kind: ResourceKind, query: &Query) -> Result<Where, Error> {
        let mut params = Params::default();
        let sql = format!(
            "r.tenant = {} AND r.kind = {}",
            params.bind(Param::Int(tenant.0)),
            params.bind(Param::Int(i64::from(code(kind))))
        );
        let mut clause = Where { sql, params };
        for condition in &query.conditions {
            clause.push(tenant, condition)?;
        }
        if let Some(filter) = &query.filter {
            let predicate = filter_sql::translate(tenant, kind, filter, &mut clause.params).map_err(Error::Filter)?;
            clause.sql.push_str(" AND (");
            clause.sql.push_str(&predicate);
            clause.sql.push(')');
        }
        Ok(clause)
    }

    /// ANDs one condition. A value holding U+0000 matches nothing: no stored text holds one.
    fn push(&mut self, tenant: TenantKey, condition: &Condition) -> Result<(), Error> {
        let params = &mut self.params;
        let sql = match condition {
            Condition::Id(id) => text(params, id).map(|id| format!("r.id = {id}")),
            Condition::Name(name) => text(params, &name.to_lowercase()).map(|name| format!("r.name_key = {name}")),
            Condition::ExternalId(id) => text(params, id).map(|id| format!("r.external_id = {id}")),
            Condition::Email(email) => {
                text(params, &email.to_lowercase()).map(|email| format!("r.email_key = {email}"))
            }
            Condition::MemberOf(group) => text(params, group).map(|group| {
                format!(
                    "r.seq IN (SELECT m.member_seq FROM members m JOIN resources g ON g.seq = m.group_seq \
                     WHERE g.id = {group} AND g.tenant = {} AND g.kind = 1)",
                    params.bind(Param::Int(tenant.0))
                )
            }),
            Condition::HasMember(user) => text(params, user).map(|user| {
                format!(
                    "r.seq IN (SELECT m.group_seq FROM members m JOIN resources u ON u.seq = m.member_seq \
                     WHERE u.id = {user} AND u.tenant = {} AND u.kind = 0)",
                    params.bind(Param::Int(tenant.0))
                )
            }),
        };
        self.sql.push_str(" AND ");
        self.sql.push_str(sql.as_deref().unwrap_or("FALSE"));
        Ok(())
    }

    /// The `count(*)` of every match.
    fn count(&self) -> String {
        format!("SELECT count(*) FROM resources r WHERE {}", self.sql)
    }

    /// The page's `SELECT`: the cursor or offset, the order, and one row more than the limit.
    fn page<A: Attrs>(&mut self, tenant: TenantKey, kind: ResourceKind, query: &Query) -> Result<String, Error> {
        let mut sql = format!("SELECT {COLUMNS}{} FROM resources r WHERE {}", A::CAST, self.sql);
        if let Some(after) = query.after {
            sql.push_str(&format!(" AND r.seq > {}", self.params.bind(Param::Int(after))));
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
        sql.push_str(&format!(" ORDER BY {order} LIMIT {}", self.params.bind(Param::Int(fetch))));
        if query.after.is_none() && query.offset > 0 {
            let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
            sql.push_str(&format!(" OFFSET {}", self.params.bind(Param::Int(offset))));
        }
        Ok(sql)
    }
}

/// A page of the tenant's resources of `kind` matching `query`, in creation order (or the
/// query's sort).
///
/// With a cursor (`after`) the page starts by `seq > after` through the index, never by skipping
/// rows; one extra row is fetched to tell whether there is `more`. The total, when asked for,
/// is a `count(*)` with the same conditions and filter: inside the same snapshot as the page
/// when `session` is a `REPEATABLE READ` transaction, as the backend's readers are.
///
/// [`Error::Filter`] when [`Query::filter`] (or the sort) is refused; nothing is run then.
pub(crate) fn list<A: Attrs>(
    session: &Session<'_>,
    tenant: TenantKey,
    kind: ResourceKind,
    query: &Query,
) -> Result<Page<A>, Error> {
    let mut clause = Where::new(tenant, kind, query)?;
    let count = clause.count();
    let page = clause.page::<A>(tenant, kind, query)?;
    let total = if query.with_total {
        let (sql, values) = clause.params.finish(&count);
        let rows = session.rows_built(&sql, &values)?;
        let count: i64 = rows.first().map_or(Ok(0), |row| col(row, 0))?;
        Some(u64::try_from(count).unwrap_or(0))
    } else {
        None
    };
    let (sql, values) = clause.params.finish(&page);
    let rows = session.rows_built(&sql, &values)?;
    let mut items = rows.iter().map(stored).collect::<Result<Vec<_>, _>>()?;
    let more = items.len() > query.limit;
    items.truncate(query.limit);
    Ok(Page { items, total, more })
}

/// The lines of `EXPLAIN` for the page `list` would run.
#[cfg(test)]
pub(crate) fn plan(
    client: &mut impl postgres::GenericClient,
    tenant: TenantKey,
    kind: ResourceKind,
    query: &Query,
) -> Result<Vec<String>, Error> {
    let mut clause = Where::new(tenant, kind, query)?;
    let page = clause.page::<String>(tenant, kind, query)?;
    let (sql, values) = clause.params.finish(&format!("EXPLAIN {page}"));
    let rows = client.query(&sql, &values).map_err(crate::error::db)?;
    rows.iter().map(|row| row.try_get(0).map_err(crate::error::db)).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use scim_store::{Keys, Sort};
    use serde_json::{Map, json};

    use super::*;
    use crate::agreement::{self, Directory, Harness};
    use crate::testdb::TestDb;

    /// The agreement suite on a fresh database, written and listed through the backend.
    fn directory(_test: &str) -> Option<Directory> {
        let db = crate::testkit::TestDb::new()?;
        let store = scim_store::Store::new(crate::connect(&db.url, &scim_store::Options::default()).unwrap());
        Some(Directory::new(Harness { store, _guard: Box::new(db) }))
    }

    #[test]
    fn store_and_evaluator_agree() {
        let Some(d) = directory("store_and_evaluator_agree") else { return };
        let agreed = agreement::store_and_evaluator_agree(&d);
        println!("PostgreSQL: {agreed} filters agree");
    }

    #[test]
    fn paging_and_totals_follow_the_filter() {
        let Some(d) = directory("paging_and_totals_follow_the_filter") else { return };
        agreement::paging_and_totals_follow_the_filter(&d);
    }

    #[test]
    fn longest_filters_neither_overflow_nor_hit_limits() {
        let Some(d) = directory("longest_filters_neither_overflow_nor_hit_limits") else { return };
        agreement::longest_filters_neither_overflow_nor_hit_limits(&d);
    }

    #[test]
    fn ne_is_any_value_differs_and_not_eq_is_no_value_equals() {
        let Some(d) = directory("ne_is_any_value_differs_and_not_eq_is_no_value_equals") else { return };
        agreement::ne_is_any_value_differs_and_not_eq_is_no_value_equals(&d);
    }

    fn keys(name: &str, external_id: Option<&str>, email: Option<&str>) -> Keys {
        Keys { name: name.to_owned(), external_id: external_id.map(str::to_owned), email: email.map(str::to_owned) }
    }

    fn names(page: &Page) -> Vec<String> {
        page.items.iter().map(|s| s.attrs["name"].as_str().unwrap_or_default().to_owned()).collect()
    }

    /// Resources named `names`, each with `{"name": n}`, keys `n`, `ext-n`, `n@Example.com`.
    fn create(db: &mut TestDb, tenant: TenantKey, kind: ResourceKind, names: &[&str]) -> Vec<String> {
        names
            .iter()
            .map(|n| {
                let mut attrs = Map::new();
                attrs.insert("name".into(), json!(n));
                let email = (kind == ResourceKind::User).then(|| format!("{n}@Example.com"));
                db.insert(tenant, kind, &keys(n, Some(&format!("ext-{n}")), email.as_deref()), &attrs, 1, 1)
            })
            .collect()
    }

    #[test]
    fn cursor_paging_survives_inserts_and_deletes() {
        let Some(mut db) = TestDb::create("cursor_paging_survives_inserts_and_deletes") else { return };
        let t = TenantKey(1);
        let ids = create(&mut db, t, ResourceKind::User, &["a", "b", "c", "d", "e"]);
        let q = |after| Query { after, limit: 2, ..Query::default() };
        let p1 = db.list(t, ResourceKind::User, &q(None)).unwrap();
        assert_eq!((names(&p1), p1.more, p1.total), (vec!["a".to_owned(), "b".into()], true, None));
        // Between pages: delete the next item and one already seen, add a new one at the end.
        db.client
            .execute("DELETE FROM resources WHERE id = ANY($1)", &[&vec![ids[2].clone(), ids[0].clone()]])
            .unwrap();
        create(&mut db, t, ResourceKind::User, &["f"]);
        let p2 = db.list(t, ResourceKind::User, &q(Some(p1.items[1].seq))).unwrap();
        assert_eq!((names(&p2), p2.more), (vec!["d".to_owned(), "e".into()], true));
        let p3 = db.list(t, ResourceKind::User, &q(Some(p2.items[1].seq))).unwrap();
        assert_eq!((names(&p3), p3.more), (vec!["f".to_owned()], false));
        let p4 = db.list(t, ResourceKind::User, &q(Some(p3.items[0].seq))).unwrap();
        assert!(p4.items.is_empty() && !p4.more);
    }

    #[test]
    fn offset_paging_and_totals() {
        let Some(mut db) = TestDb::create("offset_paging_and_totals") else { return };
        let (t, other) = (TenantKey(1), TenantKey(2));
        create(&mut db, t, ResourceKind::User, &["a", "b", "c", "d", "e"]);
        create(&mut db, t, ResourceKind::Group, &["g"]);
        create(&mut db, other, ResourceKind::User, &["x"]);
        let q = |offset, limit| Query { offset, limit, with_total: true, ..Query::default() };
        let mut page = |kind, query: Query| db.list(t, kind, &query).unwrap();
        let p = page(ResourceKind::User, q(0, 2));
        assert_eq!((names(&p), p.total, p.more), (vec!["a".to_owned(), "b".into()], Some(5), true));
        let p = page(ResourceKind::User, q(3, 2));
        assert_eq!((names(&p), p.total, p.more), (vec!["d".to_owned(), "e".into()], Some(5), false));
        let p = page(ResourceKind::User, q(9, 2));
        assert_eq!((p.items.len(), p.total, p.more), (0, Some(5), false));
        let p = page(ResourceKind::User, q(0, 0));
        assert_eq!((p.items.len(), p.total, p.more), (0, Some(5), true));
        // The total ignores the cursor; offset is ignored with a cursor.
        let first = page(ResourceKind::User, q(0, 1)).items[0].seq;
        let p = page(ResourceKind::User, Query { after: Some(first), offset: 3, ..q(0, 10) });
        assert_eq!((names(&p).len(), p.total), (4, Some(5)));
        let p = page(ResourceKind::Group, q(0, 10));
        assert_eq!((names(&p), p.total), (vec!["g".to_owned()], Some(1)));
    }

    #[test]
    fn every_condition() {
        let Some(mut db) = TestDb::create("every_condition") else { return };
        let (t, b) = (TenantKey(1), TenantKey(2));
        let u = create(&mut db, t, ResourceKind::User, &["Ann", "Bob", "Cy"]);
        let g = create(&mut db, t, ResourceKind::Group, &["Staff", "Ops"]);
        let bu = create(&mut db, b, ResourceKind::User, &["Ann"]);
        let bg = create(&mut db, b, ResourceKind::Group, &["Staff"]);
        db.add_members(&g[0], &[u[0].clone(), u[2].clone()]);
        db.add_members(&g[1], &[u[2].clone()]);
        db.add_members(&bg[0], &bu);
        let manager = json!({"manager": {"value": "boss-1"}});
        db.client
            .execute(
                "UPDATE resources SET attrs = attrs || jsonb_build_object($1::text, $2::text::jsonb) WHERE id = $3",
                &[&"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", &manager.to_string(), &u[1]],
            )
            .unwrap();
        let mut find = |kind, conditions: Vec<Condition>| {
            names(&db.list(t, kind, &Query { conditions, with_total: true, ..Query::default() }).unwrap())
        };
        use Condition::*;
        use ResourceKind::{Group as G, User as U};
        assert_eq!(find(U, vec![Id(u[1].clone())]), ["Bob"]);
        assert!(find(U, vec![Id(bu[0].clone())]).is_empty());
        assert!(find(G, vec![Id(u[1].clone())]).is_empty());
        assert_eq!(find(U, vec![Name("ANN".into())]), ["Ann"]);
        assert_eq!(find(G, vec![Name("staff".into())]), ["Staff"]);
        assert_eq!(find(U, vec![ExternalId("ext-Cy".into())]), ["Cy"]);
        assert!(find(U, vec![ExternalId("EXT-CY".into())]).is_empty());
        assert!(find(U, vec![ExternalId("ext\0Cy".into())]).is_empty());
        assert_eq!(find(U, vec![Email("CY@example.COM".into())]), ["Cy"]);
        assert_eq!(find(U, vec![MemberOf(g[0].clone())]), ["Ann", "Cy"]);
        assert_eq!(find(U, vec![MemberOf(g[1].clone())]), ["Cy"]);
        assert!(find(U, vec![MemberOf(bg[0].clone())]).is_empty());
        assert!(find(U, vec![MemberOf("nope".into())]).is_empty());
        assert_eq!(find(G, vec![HasMember(u[2].clone())]), ["Staff", "Ops"]);
        assert!(find(G, vec![HasMember(u[1].clone())]).is_empty());
        assert!(find(G, vec![HasMember(bu[0].clone())]).is_empty());
        // Conditions are ANDed.
        assert_eq!(find(G, vec![Id(g[0].clone()), HasMember(u[0].clone())]), ["Staff"]);
        assert!(find(G, vec![Id(g[1].clone()), HasMember(u[0].clone())]).is_empty());
        assert_eq!(find(U, vec![MemberOf(g[0].clone()), Name("cy".into())]), ["Cy"]);
    }

    #[test]
    fn sort_by_attribute_folds_case_puts_missing_last_and_uses_primary_values() {
        let Some(mut db) = TestDb::create("sort_by_attribute") else { return };
        let t = TenantKey(1);
        let users = [
            (
                "b",
                json!({"userName": "b", "title": "beta", "emails": [{"value": "z@x"}, {"value": "a@x", "primary": true}]}),
            ),
            ("A", json!({"userName": "A", "title": "Alpha", "emails": [{"value": "m@x"}]})),
            ("c", json!({"userName": "c"})),
            ("é", json!({"userName": "é", "title": "Émile"})),
        ];
        for (name, attrs) in &users {
            db.insert(t, ResourceKind::User, &keys(name, None, None), attrs.as_object().unwrap(), 1, 1);
        }
        let mut order = |by: &str, descending: bool| -> Vec<String> {
            let sort = Sort { by: scim_filter::parse_attr_path(by).unwrap(), descending };
            let page = db.list(t, ResourceKind::User, &Query { sort: Some(sort), ..Query::default() });
            page.unwrap().items.iter().map(|i| i.attrs["userName"].as_str().unwrap().to_owned()).collect()
        };
        assert_eq!(order("userName", false), ["A", "b", "c", "é"]);
        assert_eq!(order("userName", true), ["é", "c", "b", "A"]);
        assert_eq!(order("title", false), ["A", "b", "é", "c"], "missing values last");
        assert_eq!(order("title", true), ["é", "b", "A", "c"], "missing values last, descending too");
        assert_eq!(order("emails", false), ["b", "A", "c", "é"], "the primary email a@x sorts b first");
        assert_eq!(order("meta.created", false), ["b", "A", "c", "é"], "ties keep creation order");
        let members = Sort { by: scim_filter::parse_attr_path("groups.value").unwrap(), descending: false };
        let refused = db.list(t, ResourceKind::User, &Query { sort: Some(members), ..Query::default() });
        assert!(matches!(refused, Err(Error::Filter(_))));
    }

    #[test]
    fn unused_parameters_are_dropped_and_the_rest_renumbered() {
        let mut params = Params::default();
        let a = params.bind(Param::Int(1));
        let b = params.bind(Param::Text("x".into()));
        let c = params.bind(Param::Bool(true));
        let (sql, values) = params.finish(&format!("{c} AND {a} = {a} -- $99 $x"));
        assert_eq!(sql, "$1::boolean AND $2::bigint = $2::bigint -- $99 $x");
        assert_eq!(values.len(), 2);
        assert_eq!(b, "$2::text");
    }
}
