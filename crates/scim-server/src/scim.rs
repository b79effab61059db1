//! The SCIM resource endpoints: `/Users` and `/Groups`, create, read, list, replace, patch and
//! delete.
//!
//! Each write is one store job: read, change, validate and write happen inside one savepoint of
//! the writer's transaction, with the audit entry, so a failed request changes nothing and two
//! concurrent PATCHes of one resource cannot lose each other's change.

use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};
use scim_schema::patch::{self, MemberChange};
use scim_schema::query::{self, Clause};
use scim_schema::render::{self, Memberships, Projection};
use scim_schema::{ErrorKind, ResourceKind, discovery, resource, time};
use scim_store::{Keys, Membership, NewAudit, Query, Sort, Store, Stored, TenantKey, Writer};
use serde_json::{Map, Value, json};

use crate::context::Ctx;
use crate::error::{ApiError, found};
use crate::gather::Answers;
use crate::http::Target;
use crate::lanes::{blocking, blocking_read};
use crate::reply::Reply;
use crate::state::{ById, Found};

const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// The AWS operation name of a request, for the audit log (`CreateUser`, `ListGroups`, ...).
pub fn action(method: &Method, target: &Target) -> String {
    let rest = target.segments.get(3..).unwrap_or_default();
    let (noun, by_id) = match rest {
        [c] if c == "Users" => ("User", false),
        [c, _] if c == "Users" => ("User", true),
        [c] if c == "Groups" => ("Group", false),
        [c, _] if c == "Groups" => ("Group", true),
        _ => return format!("{method} {}", target.path()),
    };
    match (method.as_str(), by_id) {
        ("GET", false) => format!("List{noun}s"),
        ("POST", false) => format!("Create{noun}"),
        ("GET", true) => format!("Get{noun}"),
        ("PUT", true) => format!("Put{noun}"),
        ("PATCH", true) => format!("Patch{noun}"),
        ("DELETE", true) => format!("Delete{noun}"),
        _ => format!("{method} {}", target.path()),
    }
}

/// The uniqueness keys the store indexes.
pub(crate) fn keys(kind: ResourceKind, resource: &resource::Resource) -> Keys {
    Keys {
        name: resource.name(kind).to_owned(),
        external_id: resource.external_id().map(str::to_owned),
        email: match kind {
            ResourceKind::User => resource.primary_email().map(str::to_owned),
            ResourceKind::Group => None,
        },
    }
}

/// A ListResponse of everything in `resources` (discovery endpoints).
pub fn list_response(resources: Vec<Value>) -> Value {
    json!({
        "totalResults": resources.len(),
        "itemsPerPage": resources.len(),
        "startIndex": 1,
        "schemas": [LIST_RESPONSE],
        "Resources": resources,
    })
}

impl Ctx {
    fn audit(&self, method: &Method) -> NewAudit {
        NewAudit {
            at: time::now_millis(),
            request_id: self.request_id.clone(),
            action: action(method, &self.target),
            resource_id: None,
            status: 0,
            detail: None,
        }
    }

    fn location(&self, kind: ResourceKind, id: &str) -> String {
        self.url(format_args!("{}/{id}", kind.endpoint()))
    }

    fn render(&self, kind: ResourceKind, stored: Stored, memberships: Memberships, projection: &Projection) -> Value {
        let meta = render::Meta {
            id: &stored.id,
            created: stored.created,
            modified: stored.modified,
            version: stored.version,
        };
        let location = self.location(kind, &stored.id);
        let mut out = render::render(self.profile(), kind, meta, stored.attrs, memberships, Some(&location));
        render::project(kind, &mut out, projection);
        out
    }

    /// A single-resource response: rendered, projected, with `ETag` and (on 201) `Location`
    /// where the profile has them.
    fn respond(
        &self,
        status: StatusCode,
        kind: ResourceKind,
        stored: Stored,
        memberships: Memberships,
    ) -> Result<Reply, ApiError> {
        let (version, location) = (stored.version, self.location(kind, &stored.id));
        let body = self.render(kind, stored, memberships, &self.projection()?);
        Ok(self.with_headers(Reply::json(status, body), version, &location))
    }

    /// A single resource read back: written straight from its stored text where nothing is
    /// projected (the common case, and the cheap one), else as [`Ctx::respond`] does.
    fn respond_text(
        &self,
        kind: ResourceKind,
        stored: Stored<String>,
        memberships: Memberships,
    ) -> Result<Reply, ApiError> {
        let projection = self.projection()?;
        if projection != Projection::All {
            return self.respond(StatusCode::OK, kind, parsed(stored)?, memberships);
        }
        let (version, location) = (stored.version, self.location(kind, &stored.id));
        let json = self.written(kind, stored, memberships, &location)?;
        Ok(self.with_headers(Reply::written(StatusCode::OK, json), version, &location))
    }

    /// A resource rendered without projection and written out: from its stored text, or (for
    /// a text `render_text` declines) through the tree. `location` is its URL.
    fn written(
        &self,
        kind: ResourceKind,
        stored: Stored<String>,
        memberships: Memberships,
        location: &str,
    ) -> Result<Vec<u8>, ApiError> {
        let meta = render::Meta {
            id: &stored.id,
            created: stored.created,
            modified: stored.modified,
            version: stored.version,
        };
        if let Some(json) = render::render_text(self.profile(), kind, meta, &stored.attrs, &memberships, Some(location))
        {
            return Ok(json);
        }
        let tree = self.render(kind, parsed(stored)?, memberships, &Projection::All);
        serde_json::to_vec(&tree).map_err(|e| ApiError::Internal(format!("cannot write a resource: {e}")))
    }

    /// `reply` with the `ETag` of `version` and, on 201, the `Location`, where the profile has them.
    fn with_headers(&self, mut reply: Reply, version: i64, location: &str) -> Reply {
        if self.profile().etags
            && let Ok(tag) = HeaderValue::from_str(&render::etag(version))
        {
            reply = reply.with_header(hyper::header::ETAG, tag);
        }
        if reply.status == StatusCode::CREATED
            && self.profile().meta_location
            && let Ok(location) = HeaderValue::from_str(location)
        {
            reply = reply.with_header(hyper::header::LOCATION, location);
        }
        reply
    }

    /// The `If-Match` precondition of a write, where the profile honours ETags; a malformed one
    /// is refused.
    fn precondition(&self) -> Result<Option<Vec<String>>, ApiError> {
        match self.if_match.as_deref() {
            Some(value) if self.profile().etags => crate::http::entity_tags(value).map(Some),
            _ => Ok(None),
        }
    }

    /// The projection the query string asks for, for single-resource responses.
    fn projection(&self) -> Result<Projection, ApiError> {
        let target = &self.target;
        projection(self.profile(), target.param("attributes"), target.param("excludedAttributes"))
    }

    /// The memberships a single-resource response shows: a Group's members, a User's groups.
    fn memberships(&self, kind: ResourceKind, rows: Option<Vec<Membership>>) -> Memberships {
        let Some(rows) = rows else { return Memberships::Omitted };
        let values = rows
            .into_iter()
            .map(|m| {
                let member_kind = m.kind;
                let kind_label = match kind {
                    ResourceKind::Group => member_kind.name(),
                    ResourceKind::User if m.direct => "direct",
                    ResourceKind::User => "indirect",
                };
                let mut value = json!({"value": m.id, "$ref": self.location(member_kind, &m.id), "type": kind_label});
                // RFC 7643 gives User.groups a display; Group.members has none (section 8.7.1).
                if kind == ResourceKind::User
                    && let (Some(display), Some(object)) = (m.display, value.as_object_mut())
                {
                    object.insert("display".into(), Value::String(display));
                }
                value
            })
            .collect();
        Memberships::Listed(values)
    }
}

/// Records a successful write in the same transaction as the write.
pub(crate) fn audited(
    w: &mut dyn Writer,
    tenant: TenantKey,
    mut entry: NewAudit,
    id: &str,
    status: StatusCode,
) -> Result<(), ApiError> {
    entry.resource_id = Some(id.to_owned());
    entry.status = status.as_u16();
    w.record_audit(tenant, &entry).map_err(ApiError::from)
}

/// Checks an `If-Match` precondition against the stored version (RFC 7232: `*` matches any).
fn check_precondition(expected: &Option<Vec<String>>, current: &Stored) -> Result<(), ApiError> {
    match expected {
        Some(tags) if !tags.iter().any(|t| t == "*" || etag_matches(t, current.version)) => {
            Err(ApiError::PreconditionFailed)
        }
        _ => Ok(()),
    }
}

/// Whether an entity tag (weak or strong form) names `version`.
fn etag_matches(tag: &str, version: i64) -> bool {
    tag.trim_start_matches("W/").trim_matches('"') == version.to_string()
}

/// Applies membership changes to `group_id`; returns whether anything changed.
fn apply_members(
    w: &mut dyn Writer,
    tenant: TenantKey,
    group_id: &str,
    changes: &[MemberChange],
    nested: bool,
) -> Result<bool, ApiError> {
    let mut changed = false;
    for change in changes {
        let n = match change {
            MemberChange::Add(members) => {
                let ids: Vec<String> = members.iter().map(|m| m.value.clone()).collect();
                w.add_members(tenant, group_id, &ids, nested)?
            }
            MemberChange::Remove(ids) => w.remove_members(tenant, group_id, ids)?,
            MemberChange::Replace(members) => {
                let wanted: Vec<String> = members.iter().map(|m| m.value.clone()).collect();
                let current = w.member_ids(tenant, group_id)?;
                let gone: Vec<String> = current.iter().filter(|id| !wanted.contains(id)).cloned().collect();
                w.remove_members(tenant, group_id, &gone)? + w.add_members(tenant, group_id, &wanted, nested)?
            }
        };
        changed |= n > 0;
    }
    Ok(changed)
}

/// `POST /Users`, `POST /Groups`.
pub async fn create(ctx: &Ctx, kind: ResourceKind, body: Value) -> Result<Reply, ApiError> {
    let profile = ctx.profile();
    let parsed = resource::parse(profile, kind, &body)?;
    let keys = keys(kind, &parsed);
    let (tenant, audit, store) = (ctx.tenant.key, ctx.audit(&Method::POST), ctx.state.store.clone());
    let stored = blocking(move || {
        store.write(move |w| {
            let stored = w.insert(tenant, kind, &keys, &parsed.attrs, audit.at)?;
            if !parsed.members.is_empty() {
                let ids: Vec<String> = parsed.members.iter().map(|m| m.value.clone()).collect();
                w.add_members(tenant, &stored.id, &ids, profile.nested_groups)?;
            }
            audited(w, tenant, audit, &stored.id, StatusCode::CREATED)?;
            Ok::<_, ApiError>(stored)
        })
    })
    .await?;
    let memberships = memberships_of(ctx, kind, &stored.id).await?;
    ctx.respond(StatusCode::CREATED, kind, stored, memberships)
}

/// `GET /Users/{id}`, `GET /Groups/{id}`.
pub async fn get(ctx: &Ctx, kind: ResourceKind, id: String) -> Result<Reply, ApiError> {
    let (tenant, store, with_members) = (ctx.tenant.key, ctx.state.store.clone(), ctx.profile().return_memberships);
    let if_none_match = match ctx.if_none_match.as_deref() {
        Some(value) if ctx.profile().etags => Some(crate::http::entity_tags(value)?),
        _ => None,
    };
    let width = store.gather_width();
    let (stored, ids) =
        ctx.state.gets.ask((tenant, kind, id, with_members), width, move |asked| read_by_ids(&store, asked)).await?;
    if let Some(tags) = if_none_match
        && tags.iter().any(|t| t == "*" || etag_matches(t, stored.version))
    {
        let mut reply = Reply::empty(StatusCode::NOT_MODIFIED);
        if let Ok(tag) = HeaderValue::from_str(&render::etag(stored.version)) {
            reply = reply.with_header(hyper::header::ETAG, tag);
        }
        return Ok(reply);
    }
    ctx.respond_text(kind, stored, ctx.memberships(kind, ids))
}

/// Reads by id gathered by `State::gets`: each resource, with its memberships if wanted, all in
/// one snapshot. Where none is wanted, the store reads the resources alone (`Store::get_texts`:
/// on SQLite one key is one statement, with no read transaction around it).
fn read_by_ids(store: &Store, asked: &[ById]) -> Answers<Found> {
    let keys: Vec<_> = asked.iter().map(|(tenant, kind, id, _)| (*tenant, *kind, id.as_str())).collect();
    if asked.iter().all(|&(.., with_members)| !with_members) {
        let found = store.get_texts(&keys)?;
        return Ok(asked
            .iter()
            .zip(found)
            .map(|(&(_, kind, ..), stored)| stored.map(|stored| (stored, None)).ok_or(ApiError::NotFound(kind)))
            .collect());
    }
    Ok(store.read(|r| {
        let found = r.get_texts(&keys)?;
        asked
            .iter()
            .zip(found)
            .map(|(&(tenant, kind, ref id, with_members), stored)| {
                let Some(stored) = stored else { return Ok(Err(ApiError::NotFound(kind))) };
                let ids = match with_members {
                    false => None,
                    true => listed_memberships(r, tenant, kind, &[id.as_str()])?.pop(),
                };
                Ok(Ok((stored, ids)))
            })
            .collect::<Result<Vec<_>, scim_store::Error>>()
    })?)
}

/// How a list request pages.
enum Paging {
    /// `startIndex` (1-based) and a true `totalResults`.
    Index(usize),
    /// AWS cursor paging: after this sequence number, for the query `bound_to` names
    /// ([`cursor_query`]), which the next page's cursor is sealed to.
    Cursor { after: Option<i64>, bound_to: String },
}

fn bad_query(why: impl Into<String>) -> ApiError {
    ApiError::BadQuery(ErrorKind::InvalidValue, why.into())
}

/// The query a cursor is bound to: the resource type and the filter in canonical spelling.
fn cursor_query(kind: ResourceKind, filter: &str) -> String {
    format!("{}\0{filter}", kind.name())
}

/// The place a `cursor` parameter names (`None`: the start), if this server issued it for this
/// tenant and query.
fn decode_cursor(ctx: &Ctx, query: &str, cursor: &str) -> Result<Option<i64>, ApiError> {
    if cursor.is_empty() {
        return Ok(None);
    }
    ctx.state.cursors.open(ctx.tenant_id(), query, cursor).map(Some).ok_or_else(|| {
        ApiError::BadQuery(ErrorKind::InvalidCursor, "the cursor was not issued for this query of this tenant".into())
    })
}

/// The parameters of a list or search request, from a query string or a SearchRequest body.
#[derive(Debug, Default)]
pub struct ListParams {
    filter: Option<String>,
    count: Option<String>,
    start_index: Option<String>,
    cursor: Option<String>,
    attributes: Option<String>,
    excluded: Option<String>,
    sort_by: Option<String>,
    sort_order: Option<String>,
}

impl ListParams {
    /// From `?filter=…&count=…` (names case-insensitive).
    pub fn from_query(target: &Target) -> ListParams {
        let get = |name: &str| target.param(name).map(str::to_owned);
        ListParams {
            filter: get("filter"),
            count: get("count"),
            start_index: get("startIndex"),
            cursor: get("cursor"),
            attributes: get("attributes"),
            excluded: get("excludedAttributes"),
            sort_by: get("sortBy"),
            sort_order: get("sortOrder"),
        }
    }

    /// From a `POST .search` body (RFC 7644 section 3.4.3).
    pub fn from_search(body: &Value) -> Result<ListParams, ApiError> {
        let object = body.as_object().ok_or_else(|| bad_query("a SearchRequest must be an object"))?;
        let field = |name: &str| object.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
        let text = |name: &str| -> Result<Option<String>, ApiError> {
            match field(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|i| {
                        i.as_str().map(str::to_owned).ok_or_else(|| bad_query(format!("{name} must list strings")))
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(|names| Some(names.join(","))),
                Some(_) => Err(bad_query(format!("{name} has the wrong type"))),
            }
        };
        Ok(ListParams {
            filter: text("filter")?,
            count: text("count")?,
            start_index: text("startIndex")?,
            cursor: text("cursor")?,
            attributes: text("attributes")?,
            excluded: text("excludedAttributes")?,
            sort_by: text("sortBy")?,
            sort_order: text("sortOrder")?,
        })
    }

    /// Page size, projection, order and filter, under the profile's rules.
    fn shape(&self, profile: &scim_schema::Profile) -> Result<Shape, ApiError> {
        let filter = match self.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
            Some(text) => Some(scim_filter::parse_filter(text)?),
            None => None,
        };
        Ok(Shape {
            count: page_size(profile, self.count.as_deref())?,
            projection: self.projection(profile)?,
            sort: self.sort(profile)?,
            filter,
        })
    }

    /// The 1-based `startIndex`; below 1 means 1 (RFC 7644 section 3.4.2.4).
    fn start_index(&self) -> Result<usize, ApiError> {
        let start = match self.start_index.as_deref().map(str::trim) {
            None | Some("") => 1,
            Some(text) => text.parse::<i64>().map_err(|_| bad_query(format!("startIndex {text:?} is not a number")))?,
        };
        Ok(usize::try_from(start.max(1)).unwrap_or(1))
    }

    /// The order these parameters ask for, where the profile sorts (RFC 7644 section 3.4.2.3).
    fn sort(&self, profile: &scim_schema::Profile) -> Result<Option<Sort>, ApiError> {
        let Some(by) = self.sort_by.as_deref().map(str::trim).filter(|b| !b.is_empty()) else { return Ok(None) };
        if !profile.projection_and_sort {
            return Ok(None);
        }
        if self.cursor.is_some() {
            return Err(bad_query("a cursor pages in creation order; sortBy needs startIndex paging"));
        }
        let by = scim_filter::parse_attr_path(by).map_err(|e| bad_query(format!("sortBy: {e}")))?;
        let descending = match self.sort_order.as_deref().map(str::trim) {
            None | Some("") => false,
            Some(order) if order.eq_ignore_ascii_case("ascending") => false,
            Some(order) if order.eq_ignore_ascii_case("descending") => true,
            Some(order) => return Err(bad_query(format!("sortOrder must be ascending or descending, not {order:?}"))),
        };
        Ok(Some(Sort { by, descending }))
    }

    /// The projection these parameters ask for, where the profile applies one.
    fn projection(&self, profile: &scim_schema::Profile) -> Result<Projection, ApiError> {
        projection(profile, self.attributes.as_deref(), self.excluded.as_deref())
    }
}

/// What a list request asks for besides paging.
struct Shape {
    count: usize,
    projection: Projection,
    sort: Option<Sort>,
    filter: Option<scim_filter::Filter>,
}

/// The `attributes` / `excludedAttributes` projection, where the profile applies one.
fn projection(
    profile: &scim_schema::Profile,
    attributes: Option<&str>,
    excluded: Option<&str>,
) -> Result<Projection, ApiError> {
    if !profile.projection_and_sort {
        return Ok(Projection::All);
    }
    let parse =
        |text: &str| scim_filter::parse_attr_list(text).map_err(|e| bad_query(format!("attribute list {text:?}: {e}")));
    match (attributes.map(str::trim).filter(|a| !a.is_empty()), excluded.map(str::trim).filter(|e| !e.is_empty())) {
        (Some(only), _) => Ok(Projection::Only(parse(only)?)),
        (None, Some(except)) => Ok(Projection::Except(parse(except)?)),
        (None, None) => Ok(Projection::All),
    }
}

/// The page size a request asks for, under the profile's rule.
fn page_size(profile: &scim_schema::Profile, count: Option<&str>) -> Result<usize, ApiError> {
    let Some(text) = count.map(str::trim) else { return Ok(discovery::MAX_PAGE) };
    let refuse = || bad_query(format!("count must be 1 to {}, not {text:?}", discovery::MAX_PAGE));
    let n = text.parse::<i64>().map_err(|_| refuse())?;
    if profile.strict_count {
        return usize::try_from(n).ok().filter(|n| (1..=discovery::MAX_PAGE).contains(n)).ok_or_else(refuse);
    }
    // RFC 7644 section 3.4.2.4: negative means 0; more than the maximum gets the maximum.
    Ok(usize::try_from(n.max(0)).unwrap_or(0).min(discovery::MAX_PAGE))
}

/// `GET /Users`, `GET /Groups`, and their `POST .search`.
pub async fn list(ctx: &Ctx, kind: ResourceKind, params: ListParams) -> Result<Reply, ApiError> {
    let profile = ctx.profile();
    let Shape { count, projection, sort, filter } = params.shape(profile)?;
    let paging = match params.cursor.as_deref() {
        Some(cursor) => {
            // Only cursors name the query in canonical spelling: a page by index never needs it.
            let bound_to = cursor_query(kind, &filter.as_ref().map(ToString::to_string).unwrap_or_default());
            Paging::Cursor { after: decode_cursor(ctx, &bound_to, cursor.trim())?, bound_to }
        }
        None => Paging::Index(params.start_index()?),
    };
    // identity-center answers only its documented subset, handed to the store in canonical
    // spelling; the store answers any filter.
    let mut member_to_check = None;
    let filter = match filter {
        Some(f) if profile.filter_subset => {
            let clauses = query::identity_center_clauses(kind, &f)?;
            member_to_check = clauses.iter().find_map(|c| match c {
                Clause::HasMember(user) => Some(user.clone()),
                _ => None,
            });
            query::to_filter(kind, &clauses)
        }
        other => other,
    };
    let query = match paging {
        Paging::Index(start) => {
            Query { filter, sort, offset: start - 1, limit: count, with_total: true, ..Query::default() }
        }
        Paging::Cursor { after, .. } => Query { filter, after, limit: count, ..Query::default() },
    };
    let Fetched { total, more, last_seq, resources } = fetch(ctx, kind, query, member_to_check, &projection).await?;
    let mut out = Map::new();
    match paging {
        Paging::Index(start) => {
            out.insert("totalResults".into(), json!(total.unwrap_or(resources.len() as u64)));
            out.insert("itemsPerPage".into(), json!(resources.len()));
            out.insert("startIndex".into(), json!(start));
        }
        Paging::Cursor { bound_to, .. } => {
            out.insert("itemsPerPage".into(), json!(resources.len()));
            if more && let Some(last) = last_seq {
                out.insert(
                    "nextCursor".into(),
                    Value::String(ctx.state.cursors.seal(ctx.tenant_id(), &bound_to, last)),
                );
            }
        }
    }
    out.insert("schemas".into(), json!([LIST_RESPONSE]));
    list_reply(out, resources)
}

/// Runs a list query and renders its page (with each resource's memberships where the profile
/// returns them). `member_to_check` must name an existing user, else 404.
async fn fetch(
    ctx: &Ctx,
    kind: ResourceKind,
    query: Query,
    member_to_check: Option<String>,
    projection: &Projection,
) -> Result<Fetched, ApiError> {
    let (tenant, store, with_members) = (ctx.tenant.key, ctx.state.store.clone(), ctx.profile().return_memberships);
    let (page, memberships) = blocking_read(move || {
        store.read(|r| {
            if let Some(user) = &member_to_check
                && !r.exists(tenant, ResourceKind::User, user)?
            {
                return Err(ApiError::MemberNotFound);
            }
            let page = r.list_text(tenant, kind, &query)?;
            let memberships = if with_members {
                let ids: Vec<&str> = page.items.iter().map(|item| item.id.as_str()).collect();
                listed_memberships(r, tenant, kind, &ids)?
            } else {
                Vec::new()
            };
            Ok((page, memberships))
        })
    })
    .await?;
    let mut memberships = memberships.into_iter();
    let last_seq = page.items.last().map(|s| s.seq);
    let items = page.items.into_iter().map(|s| {
        let shown = match (memberships.next(), kind) {
            (Some(rows), _) => ctx.memberships(kind, Some(rows)),
            // identity-center lists show an empty member list, as AWS's examples do.
            (None, ResourceKind::Group) => Memberships::Empty,
            (None, ResourceKind::User) => Memberships::Omitted,
        };
        (s, shown)
    });
    let resources = if *projection == Projection::All {
        let written = |(s, shown): (Stored<String>, Memberships)| {
            let location = ctx.location(kind, &s.id);
            ctx.written(kind, s, shown, &location)
        };
        Rendered::Written(items.map(written).collect::<Result<_, _>>()?)
    } else {
        Rendered::Trees(
            items
                .map(|(s, shown)| Ok(ctx.render(kind, parsed(s)?, shown, projection)))
                .collect::<Result<_, ApiError>>()?,
        )
    };
    Ok(Fetched { total: page.total, more: page.more, last_seq, resources })
}

/// A rendered page of a list.
struct Fetched {
    /// Every match, when counted.
    total: Option<u64>,
    /// Whether more matches follow the page.
    more: bool,
    /// The sequence number of the page's last resource, for the next cursor.
    last_seq: Option<i64>,
    /// The page's resources, rendered.
    resources: Rendered,
}

/// A page's resources, rendered: written out where nothing is projected (the common case,
/// straight from the stored text), else as trees to project.
enum Rendered {
    Written(Vec<Vec<u8>>),
    Trees(Vec<Value>),
}

impl Rendered {
    fn len(&self) -> usize {
        match self {
            Rendered::Written(items) => items.len(),
            Rendered::Trees(items) => items.len(),
        }
    }

    /// These resources followed by `more`, rendered the same way (one projection renders every
    /// page of a response alike).
    fn append(&mut self, more: Rendered) -> Result<(), ApiError> {
        match (self, more) {
            (Rendered::Written(items), Rendered::Written(more)) => items.extend(more),
            (Rendered::Trees(items), Rendered::Trees(more)) => items.extend(more),
            _ => return Err(ApiError::Internal("the pages of one list were rendered two ways".into())),
        }
        Ok(())
    }
}

/// A list response: `envelope` (every member but `Resources`), then `resources`, written out
/// without building a tree where they were written.
fn list_reply(mut envelope: Map<String, Value>, resources: Rendered) -> Result<Reply, ApiError> {
    let items = match resources {
        Rendered::Trees(items) => {
            envelope.insert("Resources".into(), Value::Array(items));
            return Ok(Reply::json(StatusCode::OK, Value::Object(envelope)));
        }
        Rendered::Written(items) => items,
    };
    let mut out = serde_json::to_vec(&Value::Object(envelope))
        .map_err(|e| ApiError::Internal(format!("cannot write a list: {e}")))?;
    // The envelope is never empty (it has `schemas`): its closing brace gives way to one more
    // member.
    out.pop();
    out.extend_from_slice(b",\"Resources\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item);
    }
    out.extend_from_slice(b"]}");
    Ok(Reply::written(StatusCode::OK, out))
}

/// A resource's stored text parsed, for the tree rendering.
fn parsed(stored: Stored<String>) -> Result<Stored, ApiError> {
    let attrs = serde_json::from_str(&stored.attrs)
        .map_err(|e| ApiError::Internal(format!("a stored resource is not a JSON object: {e}")))?;
    let Stored { seq, id, created, modified, version, .. } = stored;
    Ok(Stored { seq, id, created, modified, version, attrs })
}

/// `POST /.search` (RFC 7644 section 3.4.3): Users, then Groups, as one list, each sorted by
/// `sortBy` when given. A filter naming an attribute only one resource type has matches
/// nothing of the other.
pub async fn search_all(ctx: &Ctx, params: ListParams) -> Result<Reply, ApiError> {
    if params.cursor.is_some() {
        return Err(bad_query("cursor paging is per resource type; search /Users or /Groups"));
    }
    let Shape { count, projection, sort, filter } = params.shape(ctx.profile())?;
    let start = params.start_index()?;
    let mut skip = start - 1;
    let (mut total, mut refusals) = (0u64, Vec::new());
    let mut listed: Option<Rendered> = None;
    for kind in [ResourceKind::User, ResourceKind::Group] {
        if let Some(f) = &filter
            && let Err(e) = scim_schema::eval::validate(kind, f)
        {
            refusals.push(e);
            continue;
        }
        let limit = count - listed.as_ref().map_or(0, Rendered::len);
        let query = Query {
            filter: filter.clone(),
            sort: sort.clone(),
            offset: skip,
            limit,
            with_total: true,
            ..Query::default()
        };
        let page = fetch(ctx, kind, query, None, &projection).await?;
        let matched = page.total.unwrap_or(0);
        total += matched;
        skip = skip.saturating_sub(usize::try_from(matched).unwrap_or(usize::MAX));
        match &mut listed {
            Some(listed) => listed.append(page.resources)?,
            None => listed = Some(page.resources),
        }
    }
    if let (2, Some(e)) = (refusals.len(), refusals.pop()) {
        return Err(ApiError::Schema(e));
    }
    // At least one kind was listed: a search both refuse was refused above.
    let listed = listed.unwrap_or(Rendered::Written(Vec::new()));
    let mut envelope = Map::new();
    envelope.insert("totalResults".into(), json!(total));
    envelope.insert("itemsPerPage".into(), json!(listed.len()));
    envelope.insert("startIndex".into(), json!(start));
    envelope.insert("schemas".into(), json!([LIST_RESPONSE]));
    list_reply(envelope, listed)
}

/// The memberships a response about `id` shows under the profile, read after a write.
async fn memberships_of(ctx: &Ctx, kind: ResourceKind, id: &str) -> Result<Memberships, ApiError> {
    if !ctx.profile().return_memberships {
        return Ok(Memberships::Omitted);
    }
    let (tenant, store, id) = (ctx.tenant.key, ctx.state.store.clone(), id.to_owned());
    let ids = blocking_read(move || Ok(store.read(|r| listed_memberships(r, tenant, kind, &[id.as_str()]))?)).await?;
    Ok(ctx.memberships(kind, ids.into_iter().next()))
}

/// What a response shows as the memberships of each of `ids`: a user's groups, or a group's
/// members; one store statement for all of them.
fn listed_memberships(
    r: &dyn scim_store::Reader,
    tenant: TenantKey,
    kind: ResourceKind,
    ids: &[&str],
) -> Result<Vec<Vec<Membership>>, scim_store::Error> {
    match kind {
        ResourceKind::User => r.groups_of(tenant, ids),
        ResourceKind::Group => r.members(tenant, ids, 0, usize::MAX),
    }
}

/// `PUT /Users/{id}`, `PUT /Groups/{id}`.
pub async fn replace(ctx: &Ctx, kind: ResourceKind, id: String, body: Value) -> Result<Reply, ApiError> {
    let profile = ctx.profile();
    let parsed = resource::parse(profile, kind, &body)?;
    let keys = keys(kind, &parsed);
    let expected = ctx.precondition()?;
    let (tenant, audit, store) = (ctx.tenant.key, ctx.audit(&Method::PUT), ctx.state.store.clone());
    let stored = blocking(move || {
        store.write(move |w| {
            if expected.is_some() {
                let current = w.get_for_update(tenant, kind, &id)?.ok_or(ApiError::NotFound(kind))?;
                check_precondition(&expected, &current)?;
            }
            let stored = w.replace(tenant, kind, &id, &keys, &parsed.attrs, audit.at).map_err(found(kind))?;
            if kind == ResourceKind::Group {
                apply_members(w, tenant, &id, &[MemberChange::Replace(parsed.members)], profile.nested_groups)?;
            }
            audited(w, tenant, audit, &id, StatusCode::OK)?;
            Ok::<_, ApiError>(stored)
        })
    })
    .await?;
    let memberships = memberships_of(ctx, kind, &stored.id).await?;
    ctx.respond(StatusCode::OK, kind, stored, memberships)
}

/// `PATCH /Users/{id}`, `PATCH /Groups/{id}`.
pub async fn patch(ctx: &Ctx, kind: ResourceKind, id: String, body: Value) -> Result<Reply, ApiError> {
    let profile = ctx.profile();
    let expected = ctx.precondition()?;
    let (tenant, audit, store) = (ctx.tenant.key, ctx.audit(&Method::PATCH), ctx.state.store.clone());
    let stored = blocking(move || {
        // PATCHes of one busy group may share a transaction and its commit (`write_on`).
        let on = id.clone();
        store.write_on(tenant, &on, move |w| {
            // A group's PATCH that only adds or removes members writes no attribute, so it need
            // not hold the group from its first read: member rows commute, and `touch` bumps
            // the version in one statement at the end (with the commit, when the answer has no
            // body), holding the group (on PostgreSQL) only from there to the commit, so
            // PATCHes of one busy group overlap. A change of attributes, a members replace or a
            // precondition holds it from the read.
            let held = kind == ResourceKind::User || expected.is_some();
            let read = |w: &mut dyn Writer, hold: bool| {
                if hold { w.get_for_update(tenant, kind, &id) } else { w.get(tenant, kind, &id) }
            };
            let mut current = read(w, held)?.ok_or(ApiError::NotFound(kind))?;
            check_precondition(&expected, &current)?;
            let mut patched = patch::apply(profile, kind, &id, &current.attrs, &body)?;
            let replaces = patched.members.iter().any(|m| matches!(m, MemberChange::Replace(_)));
            if !held && (replaces || patched.resource.attrs != current.attrs) {
                current = read(w, true)?.ok_or(ApiError::NotFound(kind))?;
                patched = patch::apply(profile, kind, &id, &current.attrs, &body)?;
            }
            let attrs_changed = patched.resource.attrs != current.attrs;
            let mut stored = current;
            if attrs_changed {
                let keys = keys(kind, &patched.resource);
                stored = w.replace(tenant, kind, &id, &keys, &patched.resource.attrs, audit.at)?;
            }
            if apply_members(w, tenant, &id, &patched.members, profile.nested_groups)? && !attrs_changed {
                if kind == ResourceKind::Group && profile.group_patch_no_content {
                    // The answer has no body: the version bump can wait for the commit.
                    w.touch_later(tenant, kind, &id, audit.at)?;
                } else {
                    stored = w.touch(tenant, kind, &id, audit.at).map_err(found(kind))?;
                }
            }
            audited(w, tenant, audit, &id, StatusCode::OK)?;
            Ok::<_, ApiError>(stored)
        })
    })
    .await?;
    if kind == ResourceKind::Group && profile.group_patch_no_content {
        return Ok(Reply::empty(StatusCode::NO_CONTENT));
    }
    let memberships = memberships_of(ctx, kind, &stored.id).await?;
    ctx.respond(StatusCode::OK, kind, stored, memberships)
}

/// `DELETE /Users/{id}`, `DELETE /Groups/{id}`.
pub async fn delete(ctx: &Ctx, kind: ResourceKind, id: String) -> Result<Reply, ApiError> {
    let expected = ctx.precondition()?;
    let (tenant, audit, store) = (ctx.tenant.key, ctx.audit(&Method::DELETE), ctx.state.store.clone());
    blocking(move || {
        store.write(move |w| {
            if expected.is_some() {
                let current = w.get_for_update(tenant, kind, &id)?.ok_or(ApiError::NotFound(kind))?;
                check_precondition(&expected, &current)?;
            }
            w.delete(tenant, kind, &id).map_err(found(kind))?;
            audited(w, tenant, audit, &id, StatusCode::NO_CONTENT)
        })
    })
    .await?;
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn action_names_follow_aws() {
        let t = |p: &str| Target::parse(p, None);
        assert_eq!(action(&Method::POST, &t("/t/scim/v2/Users")), "CreateUser");
        assert_eq!(action(&Method::GET, &t("/t/scim/v2/Groups")), "ListGroups");
        assert_eq!(action(&Method::PATCH, &t("/t/scim/v2/Groups/g")), "PatchGroup");
        assert_eq!(action(&Method::GET, &t("/t/scim/v2/Schemas")), "GET /t/scim/v2/Schemas");
    }
}
