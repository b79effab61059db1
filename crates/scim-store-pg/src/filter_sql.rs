//! SCIM filters as PostgreSQL: a parsed [`Filter`] becomes one boolean expression over
//! `resources r`, reading the `attrs` jsonb, with every value bound as a parameter.
//!
//! This is the SQLite translation of `scim_store` (its `filter_sql` module) carried over to
//! jsonb, and held to the same reference, the in-memory evaluator [`scim_schema::eval`]: the
//! rows this predicate keeps are exactly the resources `eval::matches` accepts once rendered
//! (rfc profile, memberships listed as `{"value": id}`). Paths are resolved by
//! [`eval::resolve`] and [`eval::validate`] runs first, so both refuse the same filters with
//! [`ErrorKind::InvalidFilter`]. Attribute names reach the SQL only from the schema tables, as
//! bound `text[]` paths; nothing the client wrote is spliced into the statement. The shared
//! agreement suite (`scim-store/tests/agreement`) runs on both backends.
//!
//! # Where values come from
//!
//! | Path | SQL |
//! |---|---|
//! | `id` | the `id` column (UNIQUE index) |
//! | `userName` (Users), `displayName` (Groups) | `name_key`, the folded name (UNIQUE index with tenant and kind) |
//! | `externalId` | the `external_id` column (index with tenant and kind) |
//! | `meta.created`, `meta.lastModified` | the `created` and `modified` columns, as milliseconds |
//! | `meta.resourceType`, `meta.version` | the kind's name, `W/"<version>"` |
//! | `groups.value` (Users) | `members` rows walked down from the matching groups by `WITH RECURSIVE` |
//! | `members.value`, `members` (Groups) | `members` rows: `SELECT group_seq ...` |
//! | a single-valued attribute | `r.attrs #>> $n::text[]`, the path bound |
//! | a multi-valued attribute | `EXISTS (SELECT 1 FROM jsonb_array_elements(...) AS e(value) WHERE ...)` |
//! | `attr[filter]` | one element (or the single object, or one membership) the whole inner filter holds for |
//! | `password` and anything else never returned | never a value |
//!
//! Equalities on `id`, `userName`/`displayName`, `externalId`, `groups.value` and
//! `members.value` are index lookups (the tests hold `EXPLAIN` to it). A membership walk that
//! is a conjunct of the whole filter runs once, from the id index, and its rows are fetched by
//! primary key (`r.seq = ANY (ARRAY(walk))`): the planner cannot estimate a recursive walk's
//! size and would otherwise join it against every row of the tenant. Under `or` or `not` it is
//! a hashed `r.seq IN (walk)`. Everything else reads the tenant's rows of the kind in `seq`
//! order through an index, and their jsonb.
//!
//! # Semantics that differ in the SQL, not in the answers
//!
//! - Folding (`caseExact: false`) is Rust's `str::to_lowercase`, never the database's
//!   `lower()`, whose answer depends on the collation (`C` folds ASCII only, libc and ICU follow
//!   their own tables). [`Fold`] carries Rust's tables into the statement as bound text, for
//!   the `scim_fold` function of `schema_list.sql`: a string with no character beyond ASCII
//!   that lowercases differently goes through `lower(... COLLATE "C")`, which is exactly
//!   ASCII folding, and the rest through `translate` with every one-to-one mapping Rust knows,
//!   `replace` for `İ` (the one letter that lowercases to two characters) and a regular
//!   expression for the final-sigma rule, built from the character classes Rust's own
//!   lowercasing reveals. A test compares it with `to_lowercase` on every character.
//! - Order comparisons use `COLLATE "C"`: byte order of UTF-8, which is code-point order, as
//!   Rust's `String` ordering; equality is byte equality under any deterministic collation, so
//!   it keeps the indexes' collation. `co`, `sw` and `ew` are `strpos`, `starts_with` and
//!   `right`, never `LIKE`.
//! - PostgreSQL text cannot hold U+0000, so no stored string contains it. A literal that does
//!   is never bound: `eq`, `co`, `sw` and `ew` are false, `ne` holds for every value, and an
//!   order comparison is made against the text before the first NUL, which orders every
//!   NUL-free string the same way (`x > "a\0b"` exactly when `x > "a"`).
//! - `meta.created` and `meta.lastModified` compare as instants at the second precision they
//!   are rendered with, as on SQLite; `co`, `sw` and `ew` compare the rendered text, made by
//!   `to_char` in UTC. No other attribute of the schema is a `dateTime`; one stored in the
//!   attributes is refused rather than compared as text.
//! - Every generated predicate is two-valued (never SQL `NULL`), so `NOT` means "not"; `ne` is
//!   any value that differs (RFC 7644 section 3.4.2.2), `eq null` is `NOT` of `pr`.
//!
//! `meta.location` and the membership sub-attributes other than `value` are refused with
//! `InvalidFilter`, as on SQLite: the server, not the store, makes them.
//!
//! # Size and depth
//!
//! Chains of one operator are flattened and emitted as a balanced tree, so neither this code's
//! stack nor PostgreSQL's expression depth grows with a chain's length; [`MAX_NESTING`] caps the
//! rest. A path or folding table used twice is bound once.

use std::collections::HashMap;
use std::sync::OnceLock;

use scim_filter::{AttrPath, CompValue, CompareOp, Filter};
use scim_schema::definition::{Attribute, COMMON_SCHEMA, ResourceKind, Returned, Type};
use scim_schema::time::parse_datetime;
use scim_schema::{Error, ErrorKind, eval};
use scim_store::TenantKey;

use crate::params::{Param, Params};

/// The deepest nesting of `not`, value paths and changes between `and` and `or` translated.
const MAX_NESTING: usize = 256;

/// Translates `filter` on resources of `kind` in `tenant` into a boolean SQL expression over
/// `resources r`, binding its values into `params`.
///
/// # Errors
///
/// An [`ErrorKind::InvalidFilter`] error for every filter [`eval::validate`] refuses, and for
/// the paths the store cannot answer (see the module documentation).
pub(crate) fn translate(
    tenant: TenantKey,
    kind: ResourceKind,
    filter: &Filter,
    params: &mut Params,
) -> Result<String, Error> {
    eval::validate(kind, filter)?;
    let mut translator = Translator { tenant, kind, params, bound: HashMap::new(), aliases: 0, top: true };
    translator.filter(&Scope::Resource, filter, 0)
}

/// The SQL of the value resources are sorted by for `sortBy`: the attribute as rendered, folded
/// when it compares without case; for a multi-valued attribute its primary value, else its
/// first. `NULL` where a resource has no value.
pub(crate) fn sort_key(
    tenant: TenantKey,
    kind: ResourceKind,
    path: &AttrPath,
    params: &mut Params,
) -> Result<String, Error> {
    let mut translator = Translator { tenant, kind, params, bound: HashMap::new(), aliases: 0, top: true };
    let (leaf, values) = translator.resource_leaf(path)?;
    let typed = |t: &mut Translator<'_>, scalar: &Scalar| match (leaf.kind, &scalar.json) {
        (Type::Boolean, Some(json)) => {
            format!("(CASE WHEN jsonb_typeof({json}) = 'boolean' THEN ({json})::boolean END)")
        }
        (Type::Integer | Type::Decimal, Some(json)) => number(json),
        (Type::String, _) if !leaf.case_exact && !scalar.folded => format!("{} COLLATE \"C\"", t.fold(&scalar.sql)),
        _ => format!("{} COLLATE \"C\"", scalar.sql),
    };
    Ok(match values {
        Values::Nothing => "NULL".to_owned(),
        Values::One(scalar) => typed(&mut translator, &scalar),
        Values::Instant(column) => column.to_owned(),
        Values::Each { path, sub } => {
            let e = translator.alias("e");
            let scalar = translator.element(&e, sub);
            let value = typed(&mut translator, &scalar);
            let primary = translator.path(&["primary"]);
            format!(
                "(SELECT {value} FROM {} ORDER BY coalesce({e}.value #> {primary} = 'true'::jsonb, false) DESC, \
                 {e}.i LIMIT 1)",
                translator.elements(&path, &e)
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

/// A jsonb number as `float8`, `NULL` for anything else.
fn number(json: &str) -> String {
    format!("(CASE WHEN jsonb_typeof({json}) = 'number' THEN ({json})::numeric::float8 END)")
}

/// Rust's `str::to_lowercase` as the text bound into a statement (see the module documentation).
#[derive(Debug)]
pub(crate) struct Fold {
    /// Every character Rust lowercases to one other character, `Σ` included.
    from: String,
    /// Their lowercase, in the same order.
    to: String,
    /// A `Σ` that Rust lowercases to the final `ς`: preceded by a cased letter and not followed
    /// by one, case-ignorable characters skipped on either side.
    final_sigma: String,
    /// Any character beyond ASCII that lowercases to something else: a string without one
    /// folds by ASCII's rules alone, so it never pays for `translate`.
    changing: String,
}

/// The folding tables, made once from this build's Rust.
pub(crate) fn fold_tables() -> &'static Fold {
    static TABLES: OnceLock<Fold> = OnceLock::new();
    TABLES.get_or_init(|| {
        let (mut from, mut to) = (String::new(), String::new());
        // Cased letters that are not case-ignorable, and case-ignorable characters, as Rust's
        // final-sigma rule sees them: `cΣ` lowercases to end in `ς` exactly when `c` is of the
        // first kind, `AcΣ` when it is of either.
        let (mut cased, mut ignorable, mut changing) = (Vec::new(), Vec::new(), Vec::new());
        let mut probe = String::new();
        let mut sigma_after = |prefix: &str, c: char| {
            probe.clear();
            probe.push_str(prefix);
            probe.push(c);
            probe.push('Σ');
            probe.to_lowercase().ends_with('ς')
        };
        for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
            let mut lower = c.to_lowercase();
            // `İ`, the one character that lowercases to two, is replaced before `translate`.
            if let (Some(l), None) = (lower.next(), lower.next())
                && l != c
            {
                from.push(c);
                to.push(l);
            }
            if !c.is_ascii() && !c.to_lowercase().eq([c]) {
                changing.push(c);
            }
            if sigma_after("A", c) {
                if sigma_after("", c) {
                    cased.push(c);
                } else {
                    ignorable.push(c);
                }
            }
        }
        let (cased, ignorable) = (bracket(&cased), bracket(&ignorable));
        let final_sigma = format!("(?<={cased}{ignorable}*)Σ(?!{ignorable}*{cased})");
        Fold { from, to, final_sigma, changing: bracket(&changing) }
    })
}

/// A regular-expression bracket of `chars` (ascending), as ranges of `\U` escapes.
fn bracket(chars: &[char]) -> String {
    let mut out = String::from("[");
    let mut i = 0;
    while i < chars.len() {
        let start = chars[i];
        let mut end = start;
        while i + 1 < chars.len() && u32::from(chars[i + 1]) == u32::from(end) + 1 {
            i += 1;
            end = chars[i];
        }
        out.push_str(&format!("\\U{:08X}", u32::from(start)));
        if end != start {
            out.push_str(&format!("-\\U{:08X}", u32::from(end)));
        }
        i += 1;
    }
    out.push(']');
    out
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
    /// An element of a multi-valued attribute, by its alias.
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
    /// One per element of the array at `path`: the element, or its sub-attribute `sub`.
    Each { path: Vec<&'static str>, sub: Option<&'static str> },
    /// The ids of the other side of the resource's memberships.
    Memberships,
    /// A column of milliseconds rendered as an `xsd:dateTime` at second precision.
    Instant(&'static str),
}

/// One value as SQL.
struct Scalar {
    /// The value as text, `NULL` when absent.
    sql: String,
    /// The value as jsonb, for booleans and numbers; `None` for a column.
    json: Option<String>,
    /// True (never `NULL`) when the value is present: not null, `""`, `[]` or `{}`.
    present: String,
    /// Whether `sql` is already folded (`name_key`, ids).
    folded: bool,
    /// Whether `sql` is never `NULL`.
    not_null: bool,
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
    parts.pop().unwrap_or_else(|| if op == "AND" { "TRUE".to_owned() } else { "FALSE".to_owned() })
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

/// The definition a comparison on `path` applies to, as the evaluator picks it.
fn leaf_def(def: &'static Attribute, path: &AttrPath) -> Result<&'static Attribute, Error> {
    let name = match (&path.sub_attr, def.kind) {
        (Some(sub), _) => sub.as_str(),
        (None, Type::Complex) => "value",
        (None, _) => return Ok(def),
    };
    def.sub(name).ok_or_else(|| invalid(format!("{} has no sub-attribute {name}", def.name)))
}

/// The labels of the JSON path of an attribute, in an extension or not.
fn labels(container: Option<&'static str>, names: &[&'static str]) -> Vec<&'static str> {
    container.into_iter().chain(names.iter().copied()).collect()
}

struct Translator<'p> {
    tenant: TenantKey,
    kind: ResourceKind,
    params: &'p mut Params,
    /// Paths and folding tables already bound, by a key, with their placeholders.
    bound: HashMap<String, String>,
    /// Subquery aliases handed out so far.
    aliases: usize,
    /// Whether the node being translated is a conjunct of the whole predicate (not under `or`,
    /// `not` or a value path), where a membership walk may start the statement (see
    /// [`Translator::memberships`]).
    top: bool,
}

impl Translator<'_> {
    fn bind(&mut self, value: Param) -> String {
        self.params.bind(value)
    }

    /// Binds `text`, which must hold no NUL (callers check literals first).
    fn text(&mut self, text: &str) -> String {
        self.bind(Param::Text(text.to_owned()))
    }

    /// A value bound once per statement under `key`.
    fn once(&mut self, key: String, value: impl FnOnce() -> Param) -> String {
        if let Some(placeholder) = self.bound.get(&key) {
            return placeholder.clone();
        }
        let placeholder = self.bind(value());
        self.bound.insert(key, placeholder.clone());
        placeholder
    }

    /// A JSON path's placeholder (a `text[]`), binding it the first time.
    fn path(&mut self, labels: &[&'static str]) -> String {
        let owned: Vec<String> = labels.iter().map(|l| (*l).to_owned()).collect();
        self.once(format!("path {owned:?}"), || Param::Path(owned.clone()))
    }

    /// `x` folded as Rust's `str::to_lowercase` folds it (see [`Fold`] and `scim_fold` in
    /// `schema_list.sql`).
    fn fold(&mut self, x: &str) -> String {
        let tables = fold_tables();
        let from = self.once("fold from".into(), || Param::Text(tables.from.clone()));
        let to = self.once("fold to".into(), || Param::Text(tables.to.clone()));
        let sigma = self.once("fold sigma".into(), || Param::Text(tables.final_sigma.clone()));
        let changing = self.once("fold changing".into(), || Param::Text(tables.changing.clone()));
        format!("(scim_fold({x}, {from}, {to}, {sigma}, {changing}) COLLATE \"C\")")
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
        let top = self.top;
        let sql = match filter {
            Filter::And(..) | Filter::Or(..) => {
                let is_or = matches!(filter, Filter::Or(..));
                let parts = filter
                    .operands()
                    .into_iter()
                    .map(|operand| {
                        self.top = top && !is_or;
                        self.filter(scope, operand, depth + 1)
                    })
                    .collect::<Result<Vec<_>, _>>();
                parts.map(|parts| balanced(parts, if is_or { "OR" } else { "AND" }))
            }
            Filter::Not(inner) => {
                self.top = false;
                self.filter(scope, inner, depth + 1).map(|inner| format!("NOT ({inner})"))
            }
            Filter::Present(path) => self.present(scope, path),
            Filter::Compare { path, op, value } => self.compare(scope, path, *op, value),
            Filter::ValuePath { attr, filter } => self.value_path(scope, attr, filter, depth),
        };
        self.top = top;
        sql
    }

    /// The rows of the array at `path` of `r.attrs`, as `alias(value, i)`; none when it is not
    /// an array.
    fn elements(&mut self, path: &[&'static str], alias: &str) -> String {
        let p = self.path(path);
        format!(
            "jsonb_array_elements(CASE WHEN jsonb_typeof(r.attrs #> {p}) = 'array' THEN r.attrs #> {p} END) \
             WITH ORDINALITY AS {alias}(value, i)"
        )
    }

    /// The value of an element row: the element itself, or its sub-attribute `sub`.
    fn element(&mut self, e: &str, sub: Option<&'static str>) -> Scalar {
        match sub {
            Some(sub) => {
                self.json_scalar(&format!("(CASE WHEN jsonb_typeof({e}.value) = 'object' THEN {e}.value END)"), &[sub])
            }
            None => {
                let json = format!("(CASE WHEN jsonb_typeof({e}.value) NOT IN ('object', 'array') THEN {e}.value END)");
                Scalar {
                    sql: format!("({json} #>> '{{}}')"),
                    present: format!("({e}.value NOT IN ('null'::jsonb, '\"\"'::jsonb, '[]'::jsonb, '{{}}'::jsonb))"),
                    json: Some(json),
                    folded: false,
                    not_null: false,
                }
            }
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
            let top = std::mem::replace(&mut self.top, false);
            let inner = self.filter(&scope, inner, depth + 1);
            self.top = top;
            return Ok(self.memberships(&o, &inner?));
        }
        if def.returned == Returned::Never {
            return Ok("FALSE".to_owned());
        }
        let path = labels(container, &[def.name]);
        if def.multi_valued {
            let e = self.alias("e");
            let inner = self.filter(&Scope::Element { def, at: Element::Row(e.clone()) }, inner, depth + 1)?;
            return Ok(format!("EXISTS (SELECT 1 FROM {} WHERE {inner})", self.elements(&path, &e)));
        }
        let at = Element::Object { container, name: def.name };
        let inner = self.filter(&Scope::Element { def, at }, inner, depth + 1)?;
        let p = self.path(&path);
        // Like the evaluator, an absent single value satisfies nothing, not even `not (...)`.
        Ok(format!("(r.attrs #> {p} IS NOT NULL AND {inner})"))
    }

    /// SQL true when one of the resource's memberships satisfies `condition`, which reads the
    /// other resource's row as `o`: for a Group its direct members, for a User every group
    /// holding it, directly or through nested groups. A condition `o.id = $n` starts either
    /// walk with a lookup of the id index.
    ///
    /// As a conjunct of the whole predicate the walk runs once and its rows are looked up by
    /// `seq` (`r.seq = ANY (ARRAY(...))`), however many rows the planner guesses a recursive
    /// walk yields; elsewhere it is a hashed `r.seq IN (...)`, probed once per row.
    fn memberships(&mut self, o: &str, condition: &str) -> String {
        let tenant = self.bind(Param::Int(self.tenant.0));
        let m = self.alias("m");
        let walk = match self.kind {
            ResourceKind::Group => format!(
                "SELECT {m}.group_seq FROM members {m} JOIN resources {o} ON {o}.seq = {m}.member_seq \
                 WHERE {o}.tenant = {tenant} AND {condition}"
            ),
            ResourceKind::User => {
                let down = self.alias("d");
                format!(
                    "WITH RECURSIVE {down}(seq) AS (SELECT {o}.seq FROM resources {o} \
                     WHERE {o}.tenant = {tenant} AND {o}.kind = 1 AND {condition} \
                     UNION SELECT {m}.member_seq FROM {down} JOIN members {m} ON {m}.group_seq = {down}.seq) \
                     SELECT seq FROM {down}"
                )
            }
        };
        if self.top { format!("r.seq = ANY (ARRAY({walk}))") } else { format!("r.seq IN ({walk})") }
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

    /// A value at a JSON path of the jsonb `base`.
    fn json_scalar(&mut self, base: &str, path: &[&'static str]) -> Scalar {
        let p = self.path(path);
        let json = format!("({base} #> {p})");
        Scalar {
            sql: format!("({base} #>> {p})"),
            present: format!(
                "coalesce({json} NOT IN ('null'::jsonb, '\"\"'::jsonb, '[]'::jsonb, '{{}}'::jsonb), false)"
            ),
            json: Some(json),
            folded: false,
            not_null: false,
        }
    }

    /// A constant value, never absent.
    fn constant(sql: String) -> Scalar {
        Scalar { sql, json: None, present: "TRUE".to_owned(), folded: false, not_null: true }
    }

    /// A membership's value: the other resource's id, already its own fold.
    fn membership_id(o: &str) -> Scalar {
        Scalar { sql: format!("{o}.id"), json: None, present: "TRUE".to_owned(), folded: true, not_null: true }
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
            Element::Row(e) => Values::One(self.element(e, Some(def.name))),
            Element::Object { container, name } => {
                Values::One(self.json_scalar("r.attrs", &labels(*container, &[*name, def.name])))
            }
            Element::Membership(o) if def.name == "value" => Values::One(Self::membership_id(o)),
            Element::Membership(_) => return Err(membership_refused(parent, def)),
            Element::Meta => self.meta(def)?,
        };
        Ok((def, values))
    }

    fn resource_leaf(&mut self, path: &AttrPath) -> Result<(&'static Attribute, Values), Error> {
        let (container, top) = eval::resolve(self.kind, path)?;
        let leaf = leaf_def(top, path)?;
        if COMMON_SCHEMA.attributes.iter().any(|common| std::ptr::eq(common, top)) {
            let values = match top.name {
                "id" => Values::One(Self::constant("r.id".to_owned())),
                "externalId" => Values::One(Scalar {
                    sql: "r.external_id".to_owned(),
                    json: None,
                    present: "coalesce(r.external_id <> '', false)".to_owned(),
                    folded: false,
                    not_null: false,
                }),
                _ => self.meta(leaf)?,
            };
            return Ok((leaf, values));
        }
        if container.is_none() && top.name == self.membership_name() {
            if leaf.name != "value" {
                return Err(membership_refused(top, leaf));
            }
            return Ok((leaf, Values::Memberships));
        }
        if container.is_none() && top.name == self.name_key_attribute() {
            let name_key = Scalar {
                sql: "r.name_key".to_owned(),
                json: None,
                present: "r.name_key <> ''".to_owned(),
                folded: true,
                not_null: true,
            };
            return Ok((leaf, Values::One(name_key)));
        }
        if top.returned == Returned::Never {
            return Ok((leaf, Values::Nothing));
        }
        let sub = (!std::ptr::eq(leaf, top)).then_some(leaf.name);
        if top.multi_valued {
            return Ok((leaf, Values::Each { path: labels(container, &[top.name]), sub }));
        }
        let path = match sub {
            Some(sub) => labels(container, &[top.name, sub]),
            None => labels(container, &[top.name]),
        };
        Ok((leaf, Values::One(self.json_scalar("r.attrs", &path))))
    }

    /// SQL true when some value satisfies `predicate`, which gets each value as a [`Scalar`].
    fn any(
        &mut self,
        values: Values,
        mut predicate: impl FnMut(&mut Self, &Scalar) -> Result<String, Error>,
    ) -> Result<String, Error> {
        Ok(match values {
            Values::Nothing => "FALSE".to_owned(),
            Values::One(scalar) => predicate(self, &scalar)?,
            Values::Each { path, sub } => {
                let e = self.alias("e");
                let scalar = self.element(&e, sub);
                let condition = predicate(self, &scalar)?;
                format!("EXISTS (SELECT 1 FROM {} WHERE {condition})", self.elements(&path, &e))
            }
            Values::Memberships => {
                let o = self.alias("o");
                match predicate(self, &Self::membership_id(&o))?.as_str() {
                    "TRUE" => self.has_memberships(),
                    condition => self.memberships(&o, condition),
                }
            }
            Values::Instant(column) => predicate(self, &Self::constant(rendered(column)))?,
        })
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
        self.any(values, |_, scalar| Ok(scalar.present.clone()))
    }

    /// A complex attribute named alone is present when one of its values is a non-empty object.
    fn complex_present(&mut self, container: Option<&'static str>, def: &'static Attribute) -> String {
        if COMMON_SCHEMA.attributes.iter().any(|common| std::ptr::eq(common, def)) {
            return "TRUE".to_owned();
        }
        if container.is_none() && def.name == self.membership_name() {
            return self.has_memberships();
        }
        if def.returned == Returned::Never {
            return "FALSE".to_owned();
        }
        let path = labels(container, &[def.name]);
        if def.multi_valued {
            let e = self.alias("e");
            let scalar = self.element(&e, None);
            return format!("EXISTS (SELECT 1 FROM {} WHERE {})", self.elements(&path, &e), scalar.present);
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
        match values {
            Values::Instant(column) => Ok(self.instant_compare(def, column, op, literal)),
            values => self.any(values, |t, scalar| t.compare_one(def, scalar, op, literal)),
        }
    }

    /// One value against a literal, for an operator validation accepted; false where the value
    /// is absent, whatever the operator (`ne` included).
    fn compare_one(
        &mut self,
        def: &Attribute,
        scalar: &Scalar,
        op: CompareOp,
        literal: &CompValue,
    ) -> Result<String, Error> {
        // A boolean literal, or its text as identity providers send it (`"True"`).
        let boolean = match literal {
            CompValue::Bool(b) => Some(*b),
            CompValue::Str(text) if text.eq_ignore_ascii_case("true") => Some(true),
            CompValue::Str(text) if text.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        };
        Ok(match (def.kind, literal, &scalar.json) {
            (Type::Boolean, _, Some(json)) => match (boolean, op) {
                (Some(b), CompareOp::Eq | CompareOp::Ne) => {
                    let b = self.bind(Param::Bool(b));
                    let value = format!("(CASE WHEN jsonb_typeof({json}) = 'boolean' THEN ({json})::boolean END)");
                    format!("coalesce({value} {} {b}, false)", sql_operator(op))
                }
                _ => "FALSE".to_owned(),
            },
            (Type::Integer | Type::Decimal, CompValue::Number(text), Some(json)) => match text.parse::<f64>() {
                Ok(n) => {
                    let n = self.bind(Param::Real(n));
                    format!("coalesce({} {} {n}, false)", number(json), sql_operator(op))
                }
                Err(_) => "FALSE".to_owned(),
            },
            (Type::DateTime, CompValue::Str(_), _) => {
                return Err(invalid(format!(
                    "{} cannot be filtered: only meta.created and meta.lastModified compare as dates here",
                    def.name
                )));
            }
            (Type::String | Type::Reference(_) | Type::Binary, CompValue::Str(text), _) => {
                self.string_compare(def.case_exact, scalar, op, text)
            }
            _ => "FALSE".to_owned(),
        })
    }

    /// `condition` made two-valued: false where the value is absent.
    fn two_valued(scalar: &Scalar, condition: String) -> String {
        if scalar.not_null { condition } else { format!("coalesce({condition}, false)") }
    }

    /// A string comparison as the evaluator's: both sides folded unless the attribute is
    /// `caseExact`, then compared as code points.
    fn string_compare(&mut self, case_exact: bool, scalar: &Scalar, op: CompareOp, literal: &str) -> String {
        let value = if case_exact || scalar.folded { scalar.sql.clone() } else { self.fold(&scalar.sql) };
        let literal = if case_exact { literal.to_owned() } else { literal.to_lowercase() };
        let exists = if scalar.not_null { "TRUE".to_owned() } else { format!("({value} IS NOT NULL)") };
        if let Some(nul) = literal.find('\0') {
            // No stored text holds a NUL (see the module documentation).
            return match op {
                CompareOp::Ne => exists,
                CompareOp::Gt | CompareOp::Ge => self.ordered(scalar, &value, ">", &literal[..nul]),
                CompareOp::Lt | CompareOp::Le => self.ordered(scalar, &value, "<=", &literal[..nul]),
                _ => "FALSE".to_owned(),
            };
        }
        if !is_substring(op) {
            if op == CompareOp::Eq {
                let l = self.text(&literal);
                // `AND ... IS NOT NULL` keeps it two-valued and the equality visible to an index.
                return if scalar.not_null {
                    format!("{value} = {l}")
                } else {
                    format!("({value} = {l} AND {exists})")
                };
            }
            return self.ordered(scalar, &value, sql_operator(op), &literal);
        }
        if literal.is_empty() {
            // Every string contains, starts and ends with "".
            return exists;
        }
        let count = i64::try_from(literal.chars().count()).unwrap_or(i64::MAX);
        let l = self.text(&literal);
        let condition = match op {
            CompareOp::Co => format!("strpos({value}, {l}) > 0"),
            CompareOp::Sw => format!("starts_with({value}, {l})"),
            _ => format!("right({value}, {}::integer) = {l}", self.bind(Param::Int(count))),
        };
        Self::two_valued(scalar, condition)
    }

    /// `value op literal` in code-point order.
    fn ordered(&mut self, scalar: &Scalar, value: &str, op: &str, literal: &str) -> String {
        let l = self.text(literal);
        Self::two_valued(scalar, format!("{value} COLLATE \"C\" {op} {l}"))
    }

    /// A comparison on `meta.created` or `meta.lastModified`, rendered at second precision.
    fn instant_compare(&mut self, def: &Attribute, column: &'static str, op: CompareOp, literal: &CompValue) -> String {
        let CompValue::Str(text) = literal else { return "FALSE".to_owned() };
        let instant = if is_substring(op) { None } else { parse_datetime(text) };
        let Some(instant) = instant else {
            return self.string_compare(def.case_exact, &Self::constant(rendered(column)), op, text);
        };
        // The rendered value is the column floored to a second, s(c). Each comparison of s(c)
        // with the literal is one of c with a whole second derived from the literal.
        let floor = instant.div_euclid(1000).saturating_mul(1000);
        let exact = instant.rem_euclid(1000) == 0;
        let ceil = if exact { floor } else { floor.saturating_add(1000) };
        let next = floor.saturating_add(1000);
        let bound = |t: &mut Self, cmp: &str, ms: i64| format!("{column} {cmp} {}", t.bind(Param::Int(ms)));
        match op {
            CompareOp::Eq if !exact => "FALSE".to_owned(),
            CompareOp::Eq => format!("({} AND {})", bound(self, ">=", floor), bound(self, "<", next)),
            // The column is never NULL: a rendered second differs from a literal with a fraction.
            CompareOp::Ne if !exact => "TRUE".to_owned(),
            CompareOp::Ne => format!("({} OR {})", bound(self, "<", floor), bound(self, ">=", next)),
            CompareOp::Gt => bound(self, ">=", next),
            CompareOp::Ge => bound(self, ">=", ceil),
            CompareOp::Lt => bound(self, "<", ceil),
            _ => bound(self, "<", next),
        }
    }
}

/// A column of milliseconds as `meta` renders it (`2020-03-31T02:36:15Z`, UTC).
fn rendered(column: &str) -> String {
    format!("to_char(to_timestamp(floor({column} / 1000.0)) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
}

fn membership_refused(parent: &Attribute, sub: &Attribute) -> Error {
    invalid(format!(
        "{}.{} cannot be filtered: only the value of a membership is stored, the rest is made when the server renders it",
        parent.name, sub.name
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use scim_store::Query;

    use super::*;
    use crate::query::plan;
    use crate::testdb::TestDb;

    fn sql(kind: ResourceKind, filter: &str) -> (String, Params) {
        let filter = scim_filter::parse_filter(filter).unwrap();
        let mut params = Params::default();
        let sql = translate(TenantKey(1), kind, &filter, &mut params).unwrap();
        (sql, params)
    }

    /// `scim_fold` with the tables bound, on each of `texts`, in one statement.
    fn fold_all(db: &mut TestDb, texts: &[String]) -> Vec<String> {
        let t = fold_tables();
        let rows = db
            .client
            .query(
                "SELECT scim_fold(x, $2, $3, $4, $5) FROM unnest($1::text[]) WITH ORDINALITY AS u(x, i) ORDER BY i",
                &[&texts, &t.from, &t.to, &t.final_sigma, &t.changing],
            )
            .unwrap();
        rows.iter().map(|row| row.get(0)).collect()
    }

    #[test]
    fn fold_is_rusts_lowercase_for_every_character_and_every_sigma() {
        let Some(mut db) = TestDb::create("fold_is_rusts_lowercase") else { return };
        // Every character but NUL, which PostgreSQL text cannot hold, alone and after a capital.
        let chars: Vec<char> = (1..=u32::from(char::MAX)).filter_map(char::from_u32).collect();
        for chunk in chars.chunks(200_000) {
            let texts: Vec<String> = chunk.iter().flat_map(|c| [c.to_string(), format!("É{c}")]).collect();
            let folded = fold_all(&mut db, &texts);
            for (text, folded) in texts.iter().zip(folded) {
                assert_eq!(folded, text.to_lowercase(), "{:?}", text.chars().map(u32::from).collect::<Vec<_>>());
            }
        }
        // The final sigma in every context: letters, case-ignorable marks and punctuation,
        // spaces, digits on either side, and the other characters that fold specially.
        let pool = ['Σ', 'Σ', 'Α', 'a', 'ß', 'İ', '\'', '.', '\u{301}', 'ʰ', ' ', '1', 'ǅ', '🦀', 'É', 'x'];
        let mut seed: u64 = 0x5eed;
        let texts: Vec<String> = (0..20_000)
            .map(|_| {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let len = 1 + (seed >> 60) as usize % 8;
                (0..len).map(|i| pool[(seed >> (i * 4 + 8)) as usize % pool.len()]).collect()
            })
            .collect();
        for (text, folded) in texts.iter().zip(fold_all(&mut db, &texts)) {
            assert_eq!(folded, text.to_lowercase(), "{text:?}");
        }
        // The database's own lower() is not it, whatever its collation: the reason for all this.
        let lower: String = db.client.query_one("SELECT lower('ΟΔΟΣ İ' COLLATE \"C\")", &[]).unwrap().get(0);
        assert_ne!(lower, "ΟΔΟΣ İ".to_lowercase());
    }

    #[test]
    fn indexed_equalities_are_index_lookups() {
        let Some(mut db) = TestDb::create("indexed_equalities_are_index_lookups") else { return };
        // Directories of the size the indexes are for, in a database shared by tenants: tenant 1
        // holds 30,000 users and 3,000 groups, tenant 2 (the one listed) 3,000 users and 300
        // groups; every group has ten members.
        db.client
            .batch_execute(
                "INSERT INTO resources (tenant, kind, id, name_key, external_id, created, modified, version, attrs)
                 SELECT t, k, gen_random_uuid()::text, 'n' || i, 'n' || i, 1, 1, 1, '{}'
                 FROM generate_series(1, 2) t, generate_series(0, 1) k, generate_series(1, 30000) i
                 WHERE i <= 30000 / power(10, t - 1 + k)::int;
                 ANALYZE resources;
                 INSERT INTO members (group_seq, member_seq)
                 SELECT g.seq, u.seq FROM resources g, generate_series(0, 9) j, resources u
                 WHERE g.kind = 1 AND u.tenant = g.tenant AND u.kind = 0
                   AND u.name_key = 'n' || ((substr(g.name_key, 2)::int * 10 + j) % (30000 / power(10, g.tenant - 1)::int) + 1);",
            )
            .unwrap();
        db.client.batch_execute("ANALYZE").unwrap();
        let t = TenantKey(2);
        let mut explain = |kind, filter: &str| {
            let query = Query { filter: Some(scim_filter::parse_filter(filter).unwrap()), ..Query::default() };
            let lines = plan(&mut db.client, t, kind, &query).unwrap();
            println!("{kind:?} {filter}\n  {}", lines.join("\n  "));
            lines
        };
        use ResourceKind::{Group as G, User as U};
        for (kind, filter, expected) in [
            (U, r#"id eq "x""#, "Index Scan using resources_id on resources r"),
            (U, r#"userName eq "X""#, "Index Scan using resources_name on resources r"),
            (U, r#"USERNAME eq "X" and title pr"#, "Index Scan using resources_name on resources r"),
            (U, r#"externalId eq "x""#, "using resources_external_id on resources r"),
            (U, r#"groups.value eq "g""#, "Index Scan using resources_id on resources o"),
            (G, r#"displayName eq "G""#, "Index Scan using resources_name on resources r"),
            (G, r#"members.value eq "u""#, "Index Scan using resources_id on resources o"),
            (G, r#"members eq "u""#, "Index Scan using resources_id on resources o"),
            (G, r#"id eq "g" and members eq "u""#, "Index Scan using resources_id on resources r"),
            (G, r#"members[value eq "u"]"#, "Index Scan using resources_id on resources o"),
        ] {
            let lines = explain(kind, filter);
            // No step reads the resources or members tables whole.
            assert!(lines.iter().all(|l| !l.contains("Seq Scan")), "{filter}: {lines:#?}");
            assert!(lines.iter().any(|l| l.contains(expected)), "{filter}: {lines:#?}");
        }
        // The membership walks reach the other side by the members' indexes.
        let lines = explain(U, r#"groups.value eq "g""#);
        assert!(lines.iter().any(|l| l.contains("members_pkey")), "{lines:#?}");
        let lines = explain(G, r#"members.value eq "u""#);
        assert!(lines.iter().any(|l| l.contains("members_member")), "{lines:#?}");
        // The rest reads rows in `seq` order through an index (`resources_list`, or the primary
        // key when the planner expects a page of matches soon), stopping at the page's end.
        for filter in [r#"title co "x""#, r#"emails[type eq "work"]"#, r#"userName co "x" or externalId ne "y""#] {
            let lines = explain(U, filter);
            assert!(lines.iter().all(|l| !l.contains("Seq Scan") && !l.contains("Sort")), "{filter}: {lines:#?}");
        }
        // So are the server's membership conditions, on a cursor page.
        for (kind, condition) in
            [(U, scim_store::Condition::MemberOf("g".into())), (G, scim_store::Condition::HasMember("u".into()))]
        {
            let query = Query { conditions: vec![condition], after: Some(1), ..Query::default() };
            let lines = plan(&mut db.client, t, kind, &query).unwrap();
            println!("{kind:?} {:?}\n  {}", query.conditions, lines.join("\n  "));
            assert!(lines.iter().all(|l| !l.contains("Seq Scan")), "{lines:#?}");
            assert!(lines.iter().any(|l| l.contains("Index Scan using resources_id on resources")), "{lines:#?}");
        }
    }

    #[test]
    fn shapes_of_the_sql() {
        let (s, params) = sql(ResourceKind::User, r#"userName eq "ÉMILE" and title co "É""#);
        assert!(s.contains("r.name_key = $") && s.contains("strpos((scim_fold((r.attrs #>> $"), "{s}");
        assert!(!s.contains("LIKE") && !s.contains("ÉMILE") && !s.contains("lower("), "{s}");
        assert!(params_hold(&params, &Param::Text("émile".into())), "{params:?}");
        let (s, _) = sql(ResourceKind::User, r#"emails[type eq "work"] and emails.value ew "x""#);
        assert_eq!(s.matches("jsonb_array_elements(").count(), 2, "{s}");
        // A path is bound once however often it is used.
        let (_, params) = sql(ResourceKind::User, r#"emails co "a" or emails co "b" or emails co "c""#);
        assert_eq!(params.count(|p| matches!(p, Param::Path(_))), 2, "{params:?}");
        // A membership walk at the top is looked up by seq; under `or` or `not`, probed.
        for (kind, filter, expected) in [
            (ResourceKind::User, r#"groups.value eq "g" and title pr"#, "r.seq = ANY (ARRAY(WITH RECURSIVE"),
            (ResourceKind::User, r#"not (groups.value eq "g")"#, "r.seq IN (WITH RECURSIVE"),
            (ResourceKind::Group, r#"members eq "u" or members eq "v""#, "r.seq IN (SELECT"),
            (ResourceKind::Group, r#"members[value eq "u"]"#, "r.seq = ANY (ARRAY(SELECT"),
        ] {
            let (s, _) = sql(kind, filter);
            assert!(s.starts_with(expected) || s.contains(&format!("({expected}")), "{filter}: {s}");
        }
        assert_eq!(sql(ResourceKind::User, "password pr").0, "FALSE");
        assert_eq!(sql(ResourceKind::User, "meta pr or id pr").0, "(TRUE OR TRUE)");
        // A NUL in a literal is never bound: PostgreSQL text cannot hold one.
        for (filter, expected) in [
            (r#"title eq "a\u0000b""#, "FALSE"),
            (r#"title co "\u0000""#, "FALSE"),
            (r#"id ne "a\u0000""#, "TRUE"),
            (r#"title ne "a\u0000""#, " IS NOT NULL"),
            (r#"title gt "a\u0000b""#, " > $"),
            (r#"title le "a\u0000b""#, " <= $"),
        ] {
            let (s, params) = sql(ResourceKind::User, filter);
            assert!(s.contains(expected), "{filter}: {s}");
            assert_eq!(params.count(|p| matches!(p, Param::Text(t) if t.contains('\0'))), 0, "{filter}");
        }
    }

    fn params_hold(params: &Params, value: &Param) -> bool {
        params.count(|p| p == value) > 0
    }

    #[test]
    fn chains_become_balanced_trees() {
        assert_eq!(balanced(vec!["a".into(), "b".into(), "c".into()], "OR"), "((a OR b) OR c)");
        assert_eq!(balanced(Vec::new(), "AND"), "TRUE");
        let tree = balanced((0..1000).map(|i| i.to_string()).collect(), "OR");
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
            let err = translate(TenantKey(1), kind, &parsed, &mut Params::default()).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidFilter, "{filter}");
        }
        let deep =
            (0..MAX_NESTING + 5).fold(Filter::Present(AttrPath::new("title")), |acc, _| Filter::Not(Box::new(acc)));
        let err = translate(TenantKey(1), ResourceKind::User, &deep, &mut Params::default()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidFilter);
    }

    #[test]
    fn brackets_are_ranges_of_escapes() {
        assert_eq!(bracket(&['a', 'b', 'c', 'x', 'Σ']), r"[\U00000061-\U00000063\U00000078\U000003A3]");
    }
}
