//! SCIM filters as SQL: a parsed [`Filter`] becomes one boolean expression over `resources r`,
//! with every value bound as a parameter.
//!
//! The reference is the in-memory evaluator, [`scim_schema::eval`]: for every filter, the rows
//! this predicate keeps are exactly the resources `eval::matches` accepts once rendered (under
//! the rfc profile, memberships listed as `{"value": id}`). Paths are resolved by
//! [`eval::resolve`], and [`eval::validate`] runs first, so both refuse the same filters with the
//! same [`ErrorKind::InvalidFilter`]. Attribute names reach the SQL only from the schema tables,
//! as bound JSON paths; nothing the client wrote is ever spliced into the statement.
//!
//! # Where values come from
//!
//! | Path | SQL |
//! |---|---|
//! | `id` | the `id` column (UNIQUE index) |
//! | `userName` (Users), `displayName` (Groups) | `name_key`, the folded name (UNIQUE index with tenant and kind) |
//! | `externalId` | the `external_id` column (UNIQUE index with tenant and kind) |
//! | `meta.created`, `meta.lastModified` | the `created` and `modified` columns, as milliseconds |
//! | `meta.resourceType`, `meta.version` | the kind's name, `W/"<version>"` |
//! | `groups.value` (Users) | `members` rows: the groups holding the user directly or through nested groups, walked down from the matching groups by a recursive `r.seq IN (WITH RECURSIVE ...)` |
//! | `members.value`, `members` (Groups) | `members` rows: the direct members, users and groups, by `r.seq IN (SELECT group_seq ...)` |
//! | a single-valued attribute | `json_extract(r.attrs, '$."title"')`, `'$."urn:...:User"."manager"."value"'` |
//! | a multi-valued attribute | `EXISTS (SELECT 1 FROM json_each(r.attrs, '$."emails"') ...)`, comparing the element's `value` or named sub-attribute |
//! | `attr[filter]` | one `json_each` row (or the single object, or one membership) the whole inner filter holds for |
//! | `password` and anything else never returned | never a value |
//!
//! Equalities on `id`, `userName`/`displayName`, `externalId`, `groups.value` and
//! `members.value` are therefore index lookups (the membership forms are uncorrelated, so SQLite
//! runs them once, starting from the id index, and probes the result by `seq`); everything else
//! reads the tenant's rows of the kind (through the `resources_list` index) and their JSON.
//! The unit tests hold `EXPLAIN QUERY PLAN` to this.
//!
//! # Semantics, as the evaluator has them
//!
//! - Strings of `caseExact: false` attributes compare after `scim_fold`, a SQL function running
//!   Rust's `str::to_lowercase` (SQLite's `lower()` folds ASCII only), on both sides.
//! - `co`, `sw` and `ew` compare bytes of the (folded) UTF-8: `instr` and `substr` over
//!   `CAST(... AS BLOB)`, never `LIKE`, whose wildcards and ASCII-only case rules differ.
//!   `gt`, `ge`, `lt` and `le` on strings use the `BINARY` collation, byte order, which on
//!   UTF-8 is code-point order, as Rust's `String` ordering.
//! - `meta.created` and `meta.lastModified` are rendered at second precision, so a comparison
//!   with a date-time literal becomes a range on the millisecond column that reproduces the
//!   truncation (`gt "...:34Z"` is `created >= ...:35.000`). A literal that is not a date-time,
//!   and `co`/`sw`/`ew`, compare the rendered text (`scim_datetime`).
//!   Other dateTime attributes compare chronologically through `scim_instant` when both sides
//!   parse, as text otherwise.
//!   Validation has already refused a literal that cannot be of the attribute's type (a
//!   date-time that is not one, a number for a string, ...), so those never reach here.
//! - Booleans compare with `eq` and `ne` only (also with the strings `"true"`/`"false"`),
//!   numbers numerically.
//! - Every operator, `ne` included, holds when some value satisfies it: `ne` is `<>` inside the
//!   same `EXISTS` over `json_each` (or membership rows) as `eq`, never `NOT` of `eq`, so a
//!   resource with no value satisfies no comparison (RFC 7644 section 3.4.2.2's "any value"
//!   rule; `not (... eq ...)` is the filter for "no value equals").
//!   `eq null` is `NOT` of `pr`; `pr` holds for a value that is not null, `""`, `[]` or `{}`,
//!   and for a complex attribute named alone when one of its values is a non-empty object.
//!   Every generated predicate is two-valued (never SQL `NULL`), so `NOT` means "not".
//! - The attributes are assumed canonical, as `scim_schema::resource` leaves them: each
//!   attribute holds values of its schema type under its schema name. The key columns are
//!   assumed to be those of the attributes (`name_key` the folded `userName`/`displayName`,
//!   `external_id` the `externalId`), which is how the server writes them. Ids are lowercase
//!   UUIDs, their own fold, so the case-insensitive membership `value` needs only its literal
//!   folded, and stays an index lookup.
//! - `meta.version` is there, as the rfc profile renders it; identity-center renders none, but
//!   it never sends a filter beyond its indexed equalities.
//!
//! Two things the store cannot know are refused with `InvalidFilter` rather than answered
//! wrongly: `meta.location` and the membership sub-attributes other than `value` (`$ref`,
//! `type`, `display`), which hold URLs and names the server decides when it renders.
//!
//! # Size and depth
//!
//! A filter of [`scim_filter::MAX_INPUT_LEN`] bytes can be a left-nested chain of about a
//! thousand `or`. Chains of one operator are flattened without recursion and emitted as a
//! balanced tree of parentheses, so neither this code's stack nor SQLite's expression depth
//! limit (1000) grows with the chain's length; recursion only follows changes of operator,
//! `not` and value paths, which the parser bounds and [`MAX_NESTING`] caps. A JSON path used
//! twice is bound once.

use std::collections::HashMap;

use rusqlite::types::Value;
use scim_filter::{AttrPath, CompValue, CompareOp, Filter};
use scim_schema::definition::{Attribute, COMMON_SCHEMA, ResourceKind, Returned, Type};
use scim_schema::time::parse_datetime;
use scim_schema::{Error, ErrorKind, eval};

use crate::TenantKey;

/// The deepest nesting of `not`, value paths and changes between `and` and `or` translated.
/// Parsed filters stay far below it (the parser allows 64 levels of parentheses); a tree built
/// by hand that goes deeper is refused rather than allowed to exhaust the stack.
const MAX_NESTING: usize = 256;

/// Translates `filter` on resources of `kind` in `tenant` into a boolean SQL expression over
/// `resources r`, binding its values into `params` (numbered placeholders).
///
/// # Errors
///
/// An [`ErrorKind::InvalidFilter`] error for every filter [`eval::validate`] refuses, and for
/// the paths the store cannot answer (see the module documentation).
pub(crate) fn translate(
    tenant: TenantKey,
    kind: ResourceKind,
    filter: &Filter,
    params: &mut Vec<Value>,
) -> Result<String, Error> {
    eval::validate(kind, filter)?;
    let mut translator = Translator { tenant, kind, params, paths: HashMap::new(), aliases: 0 };
    translator.filter(&Scope::Resource, filter, 0)
}

/// The SQL of the value resources are sorted by for `sortBy` (RFC 7644 section 3.4.2.3): the
/// attribute as rendered, folded when it compares without case; for a multi-valued attribute
/// its primary value, else its first. `NULL` where a resource has no value.
pub(crate) fn sort_key(
    tenant: TenantKey,
    kind: ResourceKind,
    path: &AttrPath,
    params: &mut Vec<Value>,
) -> Result<String, Error> {
    let mut translator = Translator { tenant, kind, params, paths: HashMap::new(), aliases: 0 };
    let (leaf, values) = translator.resource_leaf(path)?;
    let fold = |sql: String, folded: bool| {
        if !folded && leaf.kind == Type::String && !leaf.case_exact { format!("scim_fold({sql})") } else { sql }
    };
    Ok(match values {
        Values::Nothing => "NULL".to_owned(),
        Values::One(scalar) => fold(scalar.sql, scalar.folded),
        Values::Instant(column) => column.to_owned(),
        Values::Each { path, sub } => {
            let p = translator.path(&path);
            let value = match sub {
                Some(sub) => {
                    let q = translator.path(&json_path([sub]));
                    format!("json_extract(e.value, {q})")
                }
                None => "e.atom".to_owned(),
            };
            let primary = translator.path(&json_path(["primary"]));
            let value = fold(value, false);
            format!(
                "(SELECT {value} FROM json_each(r.attrs, {p}) AS e \
                 ORDER BY coalesce(json_extract(e.value, {primary}), 0) DESC, e.key LIMIT 1)"
            )
        }
        Values::Memberships => {
            return Err(Error::new(ErrorKind::InvalidValue, format!("resources cannot be sorted by {path}")));
        }
    })
}

fn invalid(detail: String) -> Error {
    Error::new(ErrorKind::InvalidFilter, detail)
}

/// Where the paths of a filter are resolved.
enum Scope {
    /// The resource: paths are resolved by [`eval::resolve`].
    Resource,
    /// Inside `attr[...]`: paths are sub-attributes of `def`, the value is at `at`.
    Element { def: &'static Attribute, at: Element },
}

/// One value of a complex attribute, inside a value path.
enum Element {
    /// A row of `json_each` over a multi-valued attribute, by its alias.
    Row(String),
    /// The object of a single-valued attribute of `r.attrs`, in an extension or not.
    Object { container: Option<&'static str>, name: &'static str },
    /// A membership, by the alias of the other resource's row.
    Membership(String),
    /// The resource's `meta`.
    Meta,
}

/// Where the values a path names come from.
enum Values {
    /// Nowhere: an attribute that is never rendered.
    Nothing,
    /// At most one value.
    One(Scalar),
    /// One per row of `json_each(r.attrs, path)`: the element, or its sub-attribute `sub`.
    Each { path: String, sub: Option<&'static str> },
    /// The ids of the other side of the resource's memberships.
    Memberships,
    /// A column of milliseconds rendered as an `xsd:dateTime` at second precision.
    Instant(&'static str),
}

/// One value as SQL.
struct Scalar {
    /// The value, `NULL` when absent.
    sql: String,
    /// True (never `NULL`) when the value is present: not null, `""`, `[]` or `{}`.
    present: String,
    /// Whether `sql` is already folded (`name_key`, ids), so it needs no `scim_fold`.
    folded: bool,
    /// Whether `sql` is never `NULL`: comparisons then need no `coalesce`, and stay visible to
    /// the query planner for index lookups.
    not_null: bool,
}

/// The SQL true when a `json_each` row's value is present.
fn row_present(alias: &str) -> String {
    format!(
        "CASE {alias}.type WHEN 'null' THEN 0 WHEN 'text' THEN {alias}.atom <> '' \
         WHEN 'array' THEN {alias}.value <> '[]' WHEN 'object' THEN {alias}.value <> '{{}}' ELSE 1 END"
    )
}

/// `$."a"."b"`: a JSON path of quoted labels. They are `'static`: names and URNs of the schema
/// tables, never text from the filter.
fn json_path(labels: impl IntoIterator<Item = &'static str>) -> String {
    let mut path = String::from("$");
    for label in labels {
        path.push_str(".\"");
        path.push_str(label);
        path.push('"');
    }
    path
}

/// `parts` joined by `op` as a balanced tree of parentheses, so its depth is logarithmic.
fn balanced(mut parts: Vec<String>, op: &str) -> String {
    while parts.len() > 1 {
        let mut next = Vec::with_capacity(parts.len().div_ceil(2));
        let mut iter = parts.into_iter();
        while let Some(a) = iter.next() {
            next.push(match iter.next() {
                Some(b) => format!("({a} {op} {b})"),
                None => a,
            });
        }
        parts = next;
    }
    parts.pop().unwrap_or_else(|| if op == "AND" { "1".to_owned() } else { "0".to_owned() })
}

/// The SQL of an ordering or equality operator.
fn sql_operator(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => "=",
        CompareOp::Ne => "<>",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        // Substring operators are never spelled this way; see `string_compare`.
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => "=",
    }
}

fn is_substring(op: CompareOp) -> bool {
    matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
}

/// The definition a comparison on `path` applies to, as the evaluator picks it: the named
/// sub-attribute, `value` for a complex attribute named alone, else the attribute itself.
fn leaf_def(def: &'static Attribute, path: &AttrPath) -> Result<&'static Attribute, Error> {
    let name = match (&path.sub_attr, def.kind) {
        (Some(sub), _) => sub.as_str(),
        (None, Type::Complex) => "value",
        (None, _) => return Ok(def),
    };
    def.sub(name).ok_or_else(|| invalid(format!("{} has no sub-attribute {name}", def.name)))
}

struct Translator<'p> {
    tenant: TenantKey,
    kind: ResourceKind,
    params: &'p mut Vec<Value>,
    /// JSON paths already bound, by text, with their placeholders.
    paths: HashMap<String, String>,
    /// Subquery aliases handed out so far.
    aliases: usize,
}

impl Translator<'_> {
    fn bind(&mut self, value: Value) -> String {
        bind(self.params, value)
    }

    fn text(&mut self, text: &str) -> String {
        self.bind(Value::Text(text.to_owned()))
    }

    /// A JSON path's placeholder, binding it the first time.
    fn path(&mut self, path: &str) -> String {
        if let Some(placeholder) = self.paths.get(path) {
            return placeholder.clone();
        }
        let placeholder = self.text(path);
        self.paths.insert(path.to_owned(), placeholder.clone());
        placeholder
    }

    /// A fresh alias for a subquery's table.
    fn alias(&mut self, prefix: &str) -> String {
        self.aliases += 1;
        format!("{prefix}{}", self.aliases)
    }

    /// The multi-valued membership attribute of this kind.
    fn membership_name(&self) -> &'static str {
        match self.kind {
            ResourceKind::User => "groups",
            ResourceKind::Group => "members",
        }
    }

    /// The attribute whose folded value is `name_key`.
    fn name_key_attribute(&self) -> &'static str {
        match self.kind {
            ResourceKind::User => "userName",
            ResourceKind::Group => "displayName",
        }
    }

    fn filter(&mut self, scope: &Scope, filter: &Filter, depth: usize) -> Result<String, Error> {
        if depth > MAX_NESTING {
            return Err(invalid(format!("the filter is nested more than {MAX_NESTING} levels deep")));
        }
        match filter {
            Filter::And(..) | Filter::Or(..) => {
                let is_or = matches!(filter, Filter::Or(..));
                let parts = filter
                    .operands()
                    .into_iter()
                    .map(|operand| self.filter(scope, operand, depth + 1))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(balanced(parts, if is_or { "OR" } else { "AND" }))
            }
            Filter::Not(inner) => Ok(format!("NOT ({})", self.filter(scope, inner, depth + 1)?)),
            Filter::Present(path) => self.present(scope, path),
            Filter::Compare { path, op, value } => self.compare(scope, path, *op, value),
            Filter::ValuePath { attr, filter } => self.value_path(scope, attr, filter, depth),
        }
    }

    /// `attr[inner]`: some value of `attr` satisfies `inner`.
    fn value_path(&mut self, scope: &Scope, attr: &AttrPath, inner: &Filter, depth: usize) -> Result<String, Error> {
        let Scope::Resource = scope else {
            return Err(invalid(format!("{attr} is not a complex attribute")));
        };
        let (container, def) = eval::resolve(self.kind, attr)?;
        if def.kind != Type::Complex {
            return Err(invalid(format!("{attr} is not a complex attribute")));
        }
        if COMMON_SCHEMA.attributes.iter().any(|common| std::ptr::eq(common, def)) {
            // `meta`, the one complex common attribute, always has a value.
            return self.filter(&Scope::Element { def, at: Element::Meta }, inner, depth + 1);
        }
        if container.is_none() && def.name == self.membership_name() {
            let o = self.alias("o");
            let scope = Scope::Element { def, at: Element::Membership(o.clone()) };
            let inner = self.filter(&scope, inner, depth + 1)?;
            return Ok(self.memberships(&o, &inner));
        }
        if def.returned == Returned::Never {
            return Ok("0".to_owned());
        }
        let path = json_path(container.into_iter().chain([def.name]));
        if def.multi_valued {
            let e = self.alias("e");
            let inner = self.filter(&Scope::Element { def, at: Element::Row(e.clone()) }, inner, depth + 1)?;
            let p = self.path(&path);
            return Ok(format!("EXISTS (SELECT 1 FROM json_each(r.attrs, {p}) AS {e} WHERE {inner})"));
        }
        let at = Element::Object { container, name: def.name };
        let inner = self.filter(&Scope::Element { def, at }, inner, depth + 1)?;
        let p = self.path(&path);
        // Like the evaluator, an absent single value satisfies nothing, not even `not (...)`.
        Ok(format!("(json_type(r.attrs, {p}) IS NOT NULL AND {inner})"))
    }

    /// SQL true when one of the resource's memberships satisfies `condition`, which reads the
    /// other resource's row as `o`: for a Group its direct members (users and groups), for a
    /// User every group holding it, directly or through nested groups, as the server lists them.
    ///
    /// Both forms are uncorrelated `r.seq IN (...)`: SQLite runs the subquery once and probes
    /// its result by `seq`, and a condition `o.id = ?` starts it with a lookup of the id index.
    fn memberships(&mut self, o: &str, condition: &str) -> String {
        let tenant = self.bind(Value::Integer(self.tenant.0));
        let m = self.alias("m");
        match self.kind {
            ResourceKind::Group => format!(
                "r.seq IN (SELECT {m}.group_seq FROM members {m} JOIN resources {o} ON {o}.seq = {m}.member_seq \
                 WHERE {o}.tenant = {tenant} AND {condition})"
            ),
            ResourceKind::User => {
                let down = self.alias("d");
                format!(
                    "r.seq IN (WITH RECURSIVE {down}(seq) AS (SELECT {o}.seq FROM resources {o} \
                     WHERE {o}.tenant = {tenant} AND {o}.kind = 1 AND {condition} \
                     UNION SELECT {m}.member_seq FROM {down} JOIN members {m} ON {m}.group_seq = {down}.seq) \
                     SELECT seq FROM {down})"
                )
            }
        }
    }

    /// SQL true when the resource has any membership (a User's indirect groups need a direct one).
    fn has_memberships(&mut self) -> String {
        let m = self.alias("m");
        let own = match self.kind {
            ResourceKind::User => "member_seq",
            ResourceKind::Group => "group_seq",
        };
        format!("EXISTS (SELECT 1 FROM members {m} WHERE {m}.{own} = r.seq)")
    }

    /// A value at a JSON path of the JSON document `base`.
    fn json_scalar(&mut self, base: &str, path: &str) -> Scalar {
        let p = self.path(path);
        Scalar {
            sql: format!("json_extract({base}, {p})"),
            present: format!("coalesce((({base}) -> {p}) NOT IN ('null', '\"\"', '[]', '{{}}'), 0)"),
            folded: false,
            not_null: false,
        }
    }

    /// A constant value, never absent.
    fn constant(sql: String) -> Scalar {
        Scalar { sql, present: "1".to_owned(), folded: false, not_null: true }
    }

    /// The values of a sub-attribute of `meta`.
    fn meta(&mut self, sub: &'static Attribute) -> Result<Values, Error> {
        Ok(match sub.name {
            "created" => Values::Instant("r.created"),
            "lastModified" => Values::Instant("r.modified"),
            "resourceType" => Values::One(Self::constant(self.text(self.kind.name()))),
            "version" => Values::One(Self::constant(r#"('W/"' || r.version || '"')"#.to_owned())),
            other => {
                return Err(invalid(format!(
                    "meta.{other} cannot be filtered: it is made when the server renders a resource"
                )));
            }
        })
    }

    /// The definition a comparison on `path` applies to, and where its values come from.
    fn leaf(&mut self, scope: &Scope, path: &AttrPath) -> Result<(&'static Attribute, Values), Error> {
        let Scope::Element { def: parent, at } = scope else { return self.resource_leaf(path) };
        let def = match (&path.schema, &path.sub_attr) {
            (None, None) => parent.sub(&path.name),
            _ => None,
        }
        .ok_or_else(|| invalid(format!("{} has no sub-attribute {path}", parent.name)))?;
        let values = match at {
            Element::Row(e) => Values::One(
                self.json_scalar(&format!("CASE WHEN {e}.type = 'object' THEN {e}.value END"), &json_path([def.name])),
            ),
            Element::Object { container, name } => {
                Values::One(self.json_scalar("r.attrs", &json_path(container.iter().copied().chain([*name, def.name]))))
            }
            Element::Membership(o) if def.name == "value" => {
                Values::One(Scalar { sql: format!("{o}.id"), present: "1".to_owned(), folded: true, not_null: true })
            }
            Element::Membership(_) => return Err(self.membership_refused(parent, def)),
            Element::Meta => self.meta(def)?,
        };
        Ok((def, values))
    }

    fn membership_refused(&self, parent: &Attribute, sub: &Attribute) -> Error {
        invalid(format!(
            "{}.{} cannot be filtered: only the value of a membership is stored, the rest is made when the server renders it",
            parent.name, sub.name
        ))
    }

    fn resource_leaf(&mut self, path: &AttrPath) -> Result<(&'static Attribute, Values), Error> {
        let (container, top) = eval::resolve(self.kind, path)?;
        let leaf = leaf_def(top, path)?;
        if COMMON_SCHEMA.attributes.iter().any(|common| std::ptr::eq(common, top)) {
            let values = match top.name {
                "id" => Values::One(Self::constant("r.id".to_owned())),
                "externalId" => Values::One(Scalar {
                    sql: "r.external_id".to_owned(),
                    present: "coalesce(r.external_id <> '', 0)".to_owned(),
                    folded: false,
                    not_null: false,
                }),
                _ => self.meta(leaf)?,
            };
            return Ok((leaf, values));
        }
        if container.is_none() && top.name == self.membership_name() {
            if leaf.name != "value" {
                return Err(self.membership_refused(top, leaf));
            }
            return Ok((leaf, Values::Memberships));
        }
        if container.is_none() && top.name == self.name_key_attribute() {
            let name_key = Scalar {
                sql: "r.name_key".to_owned(),
                present: "r.name_key <> ''".to_owned(),
                folded: true,
                not_null: true,
            };
            return Ok((leaf, Values::One(name_key)));
        }
        if top.returned == Returned::Never {
            return Ok((leaf, Values::Nothing));
        }
        let path = json_path(container.into_iter().chain([top.name]));
        let sub = (!std::ptr::eq(leaf, top)).then_some(leaf.name);
        if top.multi_valued {
            return Ok((leaf, Values::Each { path, sub }));
        }
        let path = match sub {
            Some(sub) => json_path(container.into_iter().chain([top.name, sub])),
            None => path,
        };
        Ok((leaf, Values::One(self.json_scalar("r.attrs", &path))))
    }

    /// SQL true when some value satisfies `predicate`, which gets each value as a [`Scalar`].
    fn any(&mut self, values: Values, mut predicate: impl FnMut(&mut Self, &Scalar) -> String) -> String {
        match values {
            Values::Nothing => "0".to_owned(),
            Values::One(scalar) => predicate(self, &scalar),
            Values::Each { path, sub } => {
                let e = self.alias("e");
                let scalar = match sub {
                    Some(sub) => self
                        .json_scalar(&format!("CASE WHEN {e}.type = 'object' THEN {e}.value END"), &json_path([sub])),
                    None => {
                        Scalar { sql: format!("{e}.atom"), present: row_present(&e), folded: false, not_null: false }
                    }
                };
                let condition = predicate(self, &scalar);
                let p = self.path(&path);
                format!("EXISTS (SELECT 1 FROM json_each(r.attrs, {p}) AS {e} WHERE {condition})")
            }
            Values::Memberships => {
                let o = self.alias("o");
                let scalar = Scalar { sql: format!("{o}.id"), present: "1".to_owned(), folded: true, not_null: true };
                match predicate(self, &scalar).as_str() {
                    "1" => self.has_memberships(),
                    condition => self.memberships(&o, condition),
                }
            }
            Values::Instant(column) => predicate(self, &Self::constant(format!("scim_datetime({column})"))),
        }
    }

    /// `path pr`.
    fn present(&mut self, scope: &Scope, path: &AttrPath) -> Result<String, Error> {
        if let Scope::Resource = scope
            && path.sub_attr.is_none()
        {
            let (container, def) = eval::resolve(self.kind, path)?;
            if def.kind == Type::Complex {
                return Ok(self.complex_present(container, def));
            }
        }
        let (_, values) = self.leaf(scope, path)?;
        Ok(self.any(values, |_, scalar| scalar.present.clone()))
    }

    /// A complex attribute named alone is present when one of its values is a non-empty object.
    fn complex_present(&mut self, container: Option<&'static str>, def: &'static Attribute) -> String {
        if COMMON_SCHEMA.attributes.iter().any(|common| std::ptr::eq(common, def)) {
            return "1".to_owned();
        }
        if container.is_none() && def.name == self.membership_name() {
            return self.has_memberships();
        }
        if def.returned == Returned::Never {
            return "0".to_owned();
        }
        let path = json_path(container.into_iter().chain([def.name]));
        if def.multi_valued {
            let e = self.alias("e");
            let p = self.path(&path);
            return format!("EXISTS (SELECT 1 FROM json_each(r.attrs, {p}) AS {e} WHERE {})", row_present(&e));
        }
        self.json_scalar("r.attrs", &path).present
    }

    /// `path op literal`.
    fn compare(&mut self, scope: &Scope, path: &AttrPath, op: CompareOp, literal: &CompValue) -> Result<String, Error> {
        if let CompValue::Null = literal {
            let present = self.present(scope, path)?;
            return match op {
                CompareOp::Eq => Ok(format!("NOT ({present})")),
                CompareOp::Ne => Ok(present),
                _ => Err(invalid(format!("{path} cannot be compared with null by {op}"))),
            };
        }
        let (def, values) = self.leaf(scope, path)?;
        Ok(match values {
            Values::Instant(column) => self.instant_compare(def, column, op, literal),
            values => self.any(values, |t, scalar| t.compare_one(def, scalar, op, literal)),
        })
    }

    /// One value against a literal, for an operator validation accepted; false where the value
    /// is absent, whatever the operator (`ne` included).
    fn compare_one(&mut self, def: &Attribute, scalar: &Scalar, op: CompareOp, literal: &CompValue) -> String {
        // A boolean literal, or its text as identity providers send it (`"True"`).
        let boolean = match literal {
            CompValue::Bool(b) => Some(*b),
            CompValue::Str(text) if text.eq_ignore_ascii_case("true") => Some(true),
            CompValue::Str(text) if text.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        };
        match (def.kind, literal) {
            (Type::Boolean, _) => match (boolean, op) {
                (Some(b), CompareOp::Eq) => self.equals(scalar, Value::Integer(i64::from(b))),
                (Some(b), CompareOp::Ne) => {
                    let v = self.bind(Value::Integer(i64::from(b)));
                    self.two_valued(scalar, format!("{} <> {v}", scalar.sql))
                }
                _ => "0".to_owned(),
            },
            (Type::Integer | Type::Decimal, CompValue::Number(number)) => match number.parse::<f64>() {
                Ok(number) => {
                    let n = self.bind(Value::Real(number));
                    self.two_valued(scalar, format!("{} {} {n}", scalar.sql, sql_operator(op)))
                }
                Err(_) => "0".to_owned(),
            },
            (Type::DateTime, CompValue::Str(text)) => {
                let as_text = self.string_compare(def.case_exact, scalar, op, text);
                let Some(instant) = parse_datetime(text).filter(|_| !is_substring(op)) else { return as_text };
                // Chronological when the value parses too, as text when it does not.
                let l = self.bind(Value::Integer(instant));
                let value = format!("scim_instant({})", scalar.sql);
                format!(
                    "coalesce(CASE WHEN {value} IS NULL THEN {as_text} ELSE {value} {} {l} END, 0)",
                    sql_operator(op)
                )
            }
            (Type::String | Type::Reference(_) | Type::Binary, CompValue::Str(text)) => {
                self.string_compare(def.case_exact, scalar, op, text)
            }
            _ => "0".to_owned(),
        }
    }

    /// `scalar = value`, two-valued; an index can serve it when the column is never `NULL`,
    /// and `IS` keeps it indexable otherwise.
    fn equals(&mut self, scalar: &Scalar, value: Value) -> String {
        let v = self.bind(value);
        if scalar.not_null { format!("{} = {v}", scalar.sql) } else { format!("{} IS {v}", scalar.sql) }
    }

    /// `condition` made two-valued: false where the value is absent.
    fn two_valued(&self, scalar: &Scalar, condition: String) -> String {
        if scalar.not_null { condition } else { format!("coalesce({condition}, 0)") }
    }

    /// A string comparison as the evaluator's: both sides folded unless the attribute is
    /// `caseExact`, then compared as bytes of UTF-8.
    fn string_compare(&mut self, case_exact: bool, scalar: &Scalar, op: CompareOp, literal: &str) -> String {
        let value = if case_exact || scalar.folded { scalar.sql.clone() } else { format!("scim_fold({})", scalar.sql) };
        let literal = if case_exact { literal.to_owned() } else { literal.to_lowercase() };
        let folded = Scalar { sql: value, present: String::new(), folded: true, not_null: scalar.not_null };
        if !is_substring(op) {
            if op == CompareOp::Eq {
                return self.equals(&folded, Value::Text(literal));
            }
            let l = self.text(&literal);
            return self.two_valued(&folded, format!("{} {} {l}", folded.sql, sql_operator(op)));
        }
        if literal.is_empty() {
            // Every string contains, starts and ends with "".
            return if folded.not_null { "1".to_owned() } else { format!("({} IS NOT NULL)", folded.sql) };
        }
        let bytes = i64::try_from(literal.len()).unwrap_or(i64::MAX);
        let blob = self.bind(Value::Blob(literal.into_bytes()));
        let value = format!("CAST({} AS BLOB)", folded.sql);
        let condition = match op {
            CompareOp::Co => format!("instr({value}, {blob}) > 0"),
            CompareOp::Sw => {
                let n = self.bind(Value::Integer(bytes));
                format!("substr({value}, 1, {n}) = {blob}")
            }
            _ => {
                let n = self.bind(Value::Integer(-bytes));
                format!("substr({value}, {n}) = {blob}")
            }
        };
        self.two_valued(&folded, condition)
    }

    /// A comparison on `meta.created` or `meta.lastModified`, rendered at second precision.
    fn instant_compare(&mut self, def: &Attribute, column: &'static str, op: CompareOp, literal: &CompValue) -> String {
        let CompValue::Str(text) = literal else { return "0".to_owned() };
        let instant = if is_substring(op) { None } else { parse_datetime(text) };
        let Some(instant) = instant else {
            let rendered = Self::constant(format!("scim_datetime({column})"));
            return self.string_compare(def.case_exact, &rendered, op, text);
        };
        // The rendered value is the column floored to a second, s(c). Each comparison of s(c)
        // with the literal is one of c with a whole second derived from the literal.
        let floor = instant.div_euclid(1000).saturating_mul(1000);
        let exact = instant.rem_euclid(1000) == 0;
        let ceil = if exact { floor } else { floor.saturating_add(1000) };
        let next = floor.saturating_add(1000);
        let at_least = |t: &mut Self, bound: i64| format!("{column} >= {}", t.bind(Value::Integer(bound)));
        match op {
            CompareOp::Eq if !exact => "0".to_owned(),
            CompareOp::Eq => {
                let low = at_least(self, floor);
                format!("({low} AND {column} < {})", self.bind(Value::Integer(next)))
            }
            // The column is never NULL: a rendered second differs from a literal with a fraction.
            CompareOp::Ne if !exact => "1".to_owned(),
            CompareOp::Ne => {
                let low = self.bind(Value::Integer(floor));
                format!("({column} < {low} OR {column} >= {})", self.bind(Value::Integer(next)))
            }
            CompareOp::Gt => at_least(self, next),
            CompareOp::Ge => at_least(self, ceil),
            CompareOp::Lt => format!("{column} < {}", self.bind(Value::Integer(ceil))),
            _ => format!("{column} < {}", self.bind(Value::Integer(next))),
        }
    }
}

/// Binds `value` as the next numbered parameter of `params` and returns its placeholder.
pub(crate) fn bind(params: &mut Vec<Value>, value: Value) -> String {
    params.push(value);
    format!("?{}", params.len())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use serde_json::Map;

    use super::*;
    use crate::testkit::{Fixture, keys};
    use crate::{Error as StoreError, Query};

    fn sql(kind: ResourceKind, filter: &str) -> String {
        let filter = scim_filter::parse_filter(filter).unwrap();
        translate(TenantKey(1), kind, &filter, &mut Vec::new()).unwrap()
    }

    /// The query plan of a filtered page, one step per line, with a small directory behind it.
    fn plan(f: &Fixture, kind: ResourceKind, filter: &str) -> Vec<String> {
        let query = Query { filter: Some(scim_filter::parse_filter(filter).unwrap()), ..Query::default() };
        f.plan(kind, &query)
    }

    #[test]
    fn indexed_equalities_are_index_lookups() {
        let f = Fixture::new();
        let t = f.a;
        f.store
            .write(move |w| -> Result<(), StoreError> {
                for i in 0..50 {
                    let name = format!("u{i}");
                    w.insert(t, ResourceKind::User, &keys(&name, Some(&name), None), &Map::new(), 1)?;
                    w.insert(t, ResourceKind::Group, &keys(&name, Some(&name), None), &Map::new(), 1)?;
                }
                Ok(())
            })
            .unwrap();
        let cases = [
            (ResourceKind::User, r#"id eq "x""#, "USING INDEX sqlite_autoindex_resources_1 (id=?)"),
            (
                ResourceKind::User,
                r#"userName eq "X""#,
                "USING INDEX resources_name (tenant=? AND kind=? AND name_key=?)",
            ),
            (ResourceKind::User, r#"USERNAME eq "X" and title pr"#, "USING INDEX resources_name"),
            (
                ResourceKind::User,
                r#"externalId eq "x""#,
                "USING INDEX resources_external_id (tenant=? AND kind=? AND external_id=?)",
            ),
            (ResourceKind::User, r#"groups.value eq "g""#, "USING PRIMARY KEY (group_seq=?)"),
            (
                ResourceKind::Group,
                r#"displayName eq "G""#,
                "USING INDEX resources_name (tenant=? AND kind=? AND name_key=?)",
            ),
            (ResourceKind::Group, r#"members.value eq "u""#, "USING COVERING INDEX members_member (member_seq=?)"),
            (ResourceKind::Group, r#"members eq "u""#, "USING COVERING INDEX members_member (member_seq=?)"),
            (ResourceKind::Group, r#"id eq "g" and members eq "u""#, "USING INDEX sqlite_autoindex_resources_1 (id=?)"),
            (ResourceKind::Group, r#"members[value eq "u"]"#, "USING COVERING INDEX members_member (member_seq=?)"),
        ];
        for (kind, filter, expected) in cases {
            let steps = plan(&f, kind, filter);
            println!("{kind:?} {filter}\n  {}", steps.join("\n  "));
            // No step reads the resources or members tables whole: the only scans are of the
            // recursive walk's own queue.
            assert!(steps.iter().all(|s| !s.starts_with("SCAN") || s.starts_with("SCAN d")), "{filter}: {steps:?}");
            assert!(steps.iter().any(|s| s.contains(expected)), "{filter}: {steps:?}");
        }
        // The rest reads the tenant's rows of the kind through the list index, never the table;
        // the only scans are of `json_each` over one row's attributes.
        for filter in [r#"title co "x""#, r#"emails[type eq "work"]"#, r#"userName co "x" or externalId ne "y""#] {
            let steps = plan(&f, ResourceKind::User, filter);
            assert!(steps.iter().all(|s| !s.starts_with("SCAN") || s.starts_with("SCAN e")), "{filter}: {steps:?}");
            assert!(steps.iter().any(|s| s.contains("resources_list (tenant=? AND kind=?)")), "{filter}: {steps:?}");
        }
    }

    #[test]
    fn shapes_of_the_sql() {
        let s = sql(ResourceKind::User, r#"userName eq "ÉMILE" and title co "É""#);
        assert!(s.contains("r.name_key = ?") && s.contains("instr(CAST(scim_fold(json_extract(r.attrs, ?"), "{s}");
        assert!(!s.contains("LIKE") && !s.contains("ÉMILE") && !s.contains("lower("), "{s}");
        let s = sql(ResourceKind::User, r#"emails[type eq "work"] and emails.value ew "x""#);
        assert_eq!(s.matches("json_each(r.attrs, ?").count(), 2, "{s}");
        // The path of `emails` is bound once however often it is used.
        let filter = scim_filter::parse_filter(r#"emails co "a" or emails co "b" or emails co "c""#).unwrap();
        let mut params = Vec::new();
        translate(TenantKey(1), ResourceKind::User, &filter, &mut params).unwrap();
        let paths = params.iter().filter(|v| matches!(v, Value::Text(t) if t.starts_with('$'))).count();
        assert_eq!(paths, 2, "{params:?}");
        assert_eq!(sql(ResourceKind::User, "password pr"), "0");
        assert_eq!(sql(ResourceKind::User, "meta pr or id pr"), "(1 OR 1)");
    }

    #[test]
    fn chains_become_balanced_trees() {
        assert_eq!(balanced(vec!["a".into(), "b".into(), "c".into()], "OR"), "((a OR b) OR c)");
        assert_eq!(balanced(Vec::new(), "AND"), "1");
        let parts: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
        let tree = balanced(parts, "OR");
        let mut depth: i32 = 0;
        let deepest = tree
            .chars()
            .map(|c| {
                depth += i32::from(c == '(') - i32::from(c == ')');
                depth
            })
            .max();
        assert_eq!(deepest, Some(10));
    }

    #[test]
    fn refusals_are_invalid_filter() {
        for (kind, filter) in [
            (ResourceKind::User, r#"foo eq "x""#),
            (ResourceKind::User, "meta.location pr"),
            (ResourceKind::User, r#"groups.display eq "x""#),
            (ResourceKind::Group, r#"members[type eq "User"]"#),
            (ResourceKind::Group, "meta[location pr]"),
        ] {
            let parsed = scim_filter::parse_filter(filter).unwrap();
            let err = translate(TenantKey(1), kind, &parsed, &mut Vec::new()).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidFilter, "{filter}");
        }
        // A tree deeper than any parsed filter is refused, not followed down.
        let deep =
            (0..MAX_NESTING + 5).fold(Filter::Present(AttrPath::new("title")), |acc, _| Filter::Not(Box::new(acc)));
        let err = translate(TenantKey(1), ResourceKind::User, &deep, &mut Vec::new()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidFilter);
    }
}
