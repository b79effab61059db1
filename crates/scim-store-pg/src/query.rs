//! Listing resources: conditions, cursor and offset paging, totals.
//!
//! Filters (`Query::filter`), sorting (`Query::sort`) and `Condition::AttrEq` are answered by
//! the filter translation to `jsonb`; this module refuses them with [`Error::Backend`].

use postgres::GenericClient;
use postgres::types::ToSql;
use scim_schema::ResourceKind;
use scim_store::{Condition, Error, Page, Query, TenantKey};

use crate::error::db;
use crate::resources::{COLUMNS, code, stored};

/// A `WHERE` clause over `resources r` and its numbered parameters.
struct Where {
    sql: String,
    params: Vec<Box<dyn ToSql + Sync>>,
}

impl Where {
    /// Binds `value` as the next parameter and returns its placeholder.
    fn bind(&mut self, value: impl ToSql + Sync + 'static) -> String {
        self.params.push(Box::new(value));
        format!("${}", self.params.len())
    }

    fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect()
    }
}

/// One page of the tenant's resources of `kind` matching `query`, in creation order.
pub(crate) fn list(
    client: &mut impl GenericClient,
    tenant: TenantKey,
    kind: ResourceKind,
    query: &Query,
) -> Result<Page, Error> {
    if query.filter.is_some() || query.sort.is_some() {
        return Err(Error::Backend("filters and sorting are not translated for PostgreSQL yet".into()));
    }
    let mut clause = Where { sql: String::new(), params: Vec::new() };
    let (t, k) = (clause.bind(tenant.0), clause.bind(code(kind)));
    clause.sql = format!("r.tenant = {t} AND r.kind = {k}");
    for condition in &query.conditions {
        let sql = match condition {
            Condition::Id(id) => format!("r.id = {}", clause.bind(id.clone())),
            Condition::Name(name) => format!("r.name_key = {}", clause.bind(name.to_lowercase())),
            Condition::ExternalId(id) => format!("r.external_id = {}", clause.bind(id.clone())),
            Condition::Email(email) => format!("r.email_key = {}", clause.bind(email.to_lowercase())),
            Condition::MemberOf(group) => format!(
                "r.seq IN (SELECT m.member_seq FROM members m WHERE m.group_seq =
                   (SELECT g.seq FROM resources g WHERE g.id = {} AND g.tenant = {t} AND g.kind = 1))",
                clause.bind(group.clone())
            ),
            Condition::HasMember(user) => format!(
                "r.seq IN (SELECT m.group_seq FROM members m WHERE m.member_seq =
                   (SELECT u.seq FROM resources u WHERE u.id = {} AND u.tenant = {t} AND u.kind = 0))",
                clause.bind(user.clone())
            ),
        };
        clause.sql.push_str(" AND ");
        clause.sql.push_str(&sql);
    }
    let total = if query.with_total {
        let sql = format!("SELECT COUNT(*) FROM resources r WHERE {}", clause.sql);
        let row = client.query_one(&sql, &clause.refs()).map_err(db)?;
        let count: i64 = row.try_get(0).map_err(db)?;
        Some(u64::try_from(count).unwrap_or(0))
    } else {
        None
    };
    let mut sql = format!("SELECT {COLUMNS} FROM resources r WHERE {}", clause.sql);
    if let Some(after) = query.after {
        let after = clause.bind(after);
        sql.push_str(&format!(" AND r.seq > {after}"));
    }
    let fetch = clause.bind(i64::try_from(query.limit.saturating_add(1)).unwrap_or(i64::MAX));
    sql.push_str(&format!(" ORDER BY r.seq LIMIT {fetch}"));
    if query.after.is_none() && query.offset > 0 {
        let offset = clause.bind(i64::try_from(query.offset).unwrap_or(i64::MAX));
        sql.push_str(&format!(" OFFSET {offset}"));
    }
    let rows = client.query(&sql, &clause.refs()).map_err(db)?;
    let mut items = rows.iter().map(stored).collect::<Result<Vec<_>, _>>()?;
    let more = items.len() > query.limit;
    items.truncate(query.limit);
    Ok(Page { items, total, more })
}
