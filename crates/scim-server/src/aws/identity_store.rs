//! The Identity Store API's 19 operations on users, groups and memberships.
//!
//! Writes are translated to what SCIM would write and go through the same validator
//! (`resource::parse`, `patch::apply`, `resource::check`) under the tenant's profile, and into
//! the same store job with its audit entry. Reads render stored resources in the API's shapes:
//! a SCIM attribute `name.givenName` is `Name.GivenName`, the same words capitalised.

use hyper::StatusCode;
use scim_schema::{ResourceKind, patch, resource};
use scim_store::{Condition, MembershipKey, Query, Stored, TenantKey};
use serde_json::{Map, Value, json};

use super::{Call, identity_store_id, missing, string_in};
use crate::error::ApiError;
use crate::lanes::{blocking, blocking_read};
use crate::scim::{audited, keys};

/// The User attributes the API and SCIM share, by their SCIM names.
const USER_FIELDS: [&str; 13] = [
    "userName",
    "name",
    "displayName",
    "nickName",
    "profileUrl",
    "emails",
    "addresses",
    "phoneNumbers",
    "userType",
    "title",
    "preferredLanguage",
    "locale",
    "timezone",
];

/// The issuer of every `ExternalIds` entry: the API cannot write external ids, so each is the
/// `externalId` an identity provider wrote over SCIM.
const SCIM_ISSUER: &str = "SCIM";

/// Where a Group's `Description` is kept; the SCIM Group schema has none, as in AWS.
const DESCRIPTION: &str = "description";

/// The page size when `MaxResults` is absent.
const DEFAULT_PAGE: usize = 100;

/// The operations this module answers.
const OPERATIONS: [&str; 19] = [
    "CreateUser",
    "CreateGroup",
    "DescribeUser",
    "DescribeGroup",
    "UpdateUser",
    "UpdateGroup",
    "DeleteUser",
    "DeleteGroup",
    "ListUsers",
    "ListGroups",
    "GetUserId",
    "GetGroupId",
    "CreateGroupMembership",
    "DescribeGroupMembership",
    "DeleteGroupMembership",
    "GetGroupMembershipId",
    "IsMemberInGroups",
    "ListGroupMemberships",
    "ListGroupMembershipsForMember",
];

/// Runs operation `op` of the Identity Store API.
pub async fn dispatch(call: &Call, op: &str) -> Result<Value, ApiError> {
    if !OPERATIONS.contains(&op) {
        return Err(ApiError::UnknownOperation(format!("AWSIdentityStore.{op}")));
    }
    check_store(call)?;
    match op {
        "CreateUser" => create(call, ResourceKind::User).await,
        "CreateGroup" => create(call, ResourceKind::Group).await,
        "DescribeUser" => describe(call, ResourceKind::User).await,
        "DescribeGroup" => describe(call, ResourceKind::Group).await,
        "UpdateUser" => update(call, ResourceKind::User).await,
        "UpdateGroup" => update(call, ResourceKind::Group).await,
        "DeleteUser" => delete(call, ResourceKind::User).await,
        "DeleteGroup" => delete(call, ResourceKind::Group).await,
        "ListUsers" => list(call, ResourceKind::User).await,
        "ListGroups" => list(call, ResourceKind::Group).await,
        "GetUserId" => get_id(call, ResourceKind::User).await,
        "GetGroupId" => get_id(call, ResourceKind::Group).await,
        "CreateGroupMembership" => create_membership(call).await,
        "DescribeGroupMembership" => describe_membership(call).await,
        "DeleteGroupMembership" => delete_membership(call).await,
        "GetGroupMembershipId" => get_membership_id(call).await,
        "IsMemberInGroups" => is_member_in_groups(call).await,
        "ListGroupMemberships" => list_memberships(call, false).await,
        "ListGroupMembershipsForMember" => list_memberships(call, true).await,
        other => Err(ApiError::UnknownOperation(format!("AWSIdentityStore.{other}"))),
    }
}

/// The request's `IdentityStoreId` must be the key's tenant's (an ARN form is accepted).
fn check_store(call: &Call) -> Result<(), ApiError> {
    let given = call.required("IdentityStoreId")?;
    let id = given.rsplit('/').next().unwrap_or(given);
    if id != identity_store_id(&call.tenant_id) {
        return Err(ApiError::AccessDenied(format!(
            "User is not authorized to perform: identitystore:{} on resource: {given}",
            call.action.rsplit('.').next().unwrap_or_default()
        )));
    }
    Ok(())
}

fn resource_type(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "USER",
        ResourceKind::Group => "GROUP",
    }
}

fn not_found(kind: ResourceKind, id: &str) -> ApiError {
    ApiError::ResourceNotFound { resource_type: resource_type(kind), id: id.to_owned() }
}

/// A resource id as the API takes it: a UUID, optionally after `xxxxxxxxxx-` or a resource ARN.
fn resource_id(given: &str, field: &str) -> Result<String, ApiError> {
    let id = given.rsplit('/').next().unwrap_or(given);
    let uuid = match id.len() {
        47 => id.get(11..).filter(|_| id.as_bytes().get(10) == Some(&b'-')).unwrap_or(""),
        _ => id,
    };
    let shape_ok = uuid.len() == 36
        && uuid.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    if !shape_ok {
        return Err(ApiError::Validation(format!(
            "1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern"
        )));
    }
    Ok(uuid.to_owned())
}

/// `name.givenName` as the API writes it: `Name.GivenName`.
fn pascal(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// `GivenName` as SCIM writes it: `givenName`.
fn camel(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_ascii_lowercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// `value` with every object key renamed by `rename`, at any depth.
fn renamed(value: &Value, rename: fn(&str) -> String) -> Value {
    match value {
        Value::Object(fields) => Value::Object(fields.iter().map(|(k, v)| (rename(k), renamed(v, rename))).collect()),
        Value::Array(items) => Value::Array(items.iter().map(|v| renamed(v, rename)).collect()),
        other => other.clone(),
    }
}

/// The SCIM body of a CreateUser or CreateGroup request.
fn scim_body(call: &Call, kind: ResourceKind) -> Result<Value, ApiError> {
    let known: &[&str] = match kind {
        ResourceKind::User => &USER_FIELDS,
        ResourceKind::Group => &["displayName"],
    };
    let mut body = Map::new();
    for (field, value) in &call.input {
        let scim_name = camel(field);
        match field.as_str() {
            "IdentityStoreId" => {}
            "Description" if kind == ResourceKind::Group => {
                string_in(&call.input, field)?;
            }
            _ if known.contains(&scim_name.as_str()) => {
                body.insert(scim_name, renamed(value, camel));
            }
            _ => return Err(ApiError::Validation(format!("{field} is not supported by this server"))),
        }
    }
    Ok(Value::Object(body))
}

/// The stored resource in the API's shape.
fn shape(call: &Call, kind: ResourceKind, stored: &Stored) -> Value {
    let store_id = identity_store_id(&call.tenant_id);
    let mut out = Map::new();
    let (id_field, arn_field, noun) = match kind {
        ResourceKind::User => ("UserId", "UserArn", "user"),
        ResourceKind::Group => ("GroupId", "GroupArn", "group"),
    };
    out.insert(id_field.into(), json!(stored.id));
    out.insert(arn_field.into(), json!(format!("arn:aws:identitystore:::{noun}/{}", stored.id)));
    out.insert("IdentityStoreId".into(), json!(store_id));
    out.insert("Revision".into(), json!(stored.version.to_string()));
    let fields: &[&str] = match kind {
        ResourceKind::User => &USER_FIELDS,
        ResourceKind::Group => &["displayName"],
    };
    for field in fields {
        if let Some(value) = stored.attrs.get(*field) {
            out.insert(pascal(field), renamed(value, pascal));
        }
    }
    if let Some(external_id) = stored.attrs.get("externalId").and_then(Value::as_str) {
        out.insert("ExternalIds".into(), json!([{"Issuer": SCIM_ISSUER, "Id": external_id}]));
    }
    match kind {
        ResourceKind::User => {
            let enabled = stored.attrs.get("active") != Some(&Value::Bool(false));
            out.insert("UserStatus".into(), json!(if enabled { "ENABLED" } else { "DISABLED" }));
        }
        ResourceKind::Group => {
            if let Some(description) = stored.attrs.get(DESCRIPTION) {
                out.insert("Description".into(), description.clone());
            }
        }
    }
    out.insert("CreatedAt".into(), json!(stored.created as f64 / 1000.0));
    out.insert("UpdatedAt".into(), json!(stored.modified as f64 / 1000.0));
    Value::Object(out)
}

/// `CreateUser`, `CreateGroup`.
async fn create(call: &Call, kind: ResourceKind) -> Result<Value, ApiError> {
    let profile = call.tenant.profile;
    let mut parsed = resource::parse(profile, kind, &scim_body(call, kind)?)?;
    if let Some(description) = call.string("Description")?.filter(|_| kind == ResourceKind::Group) {
        parsed.attrs.insert(DESCRIPTION.into(), json!(description));
    }
    let keys = keys(kind, &parsed);
    let (tenant, audit, store) = (call.tenant.key, call.audit(), call.state.store.clone());
    let stored = blocking(move || {
        store.write(move |w| {
            let stored = w.insert(tenant, kind, &keys, &parsed.attrs, audit.at)?;
            audited(w, tenant, audit, &stored.id, StatusCode::OK)?;
            Ok::<_, ApiError>(stored)
        })
    })
    .await?;
    let out = shape(call, kind, &stored);
    let id_field = if kind == ResourceKind::User { "UserId" } else { "GroupId" };
    let arn_field = if kind == ResourceKind::User { "UserArn" } else { "GroupArn" };
    Ok(json!({
        id_field: stored.id,
        arn_field: out[arn_field],
        "IdentityStoreId": out["IdentityStoreId"],
        "Revision": out["Revision"],
    }))
}

/// The id field of `kind` in a request (`UserId`, `GroupId`).
fn id_of(call: &Call, kind: ResourceKind) -> Result<String, ApiError> {
    let field = if kind == ResourceKind::User { "UserId" } else { "GroupId" };
    resource_id(call.required(field)?, field)
}

/// Reads resource `id` of `kind`, or ResourceNotFoundException.
async fn read_one(call: &Call, kind: ResourceKind, id: String) -> Result<Stored, ApiError> {
    let (tenant, store) = (call.tenant.key, call.state.store.clone());
    blocking_read(move || store.read(|r| r.get(tenant, kind, &id)?.ok_or_else(|| not_found(kind, &id)))).await
}

/// `DescribeUser`, `DescribeGroup`.
async fn describe(call: &Call, kind: ResourceKind) -> Result<Value, ApiError> {
    let stored = read_one(call, kind, id_of(call, kind)?).await?;
    Ok(shape(call, kind, &stored))
}

/// One `Operations` entry: its SCIM path and value (`None` removes).
fn operations(call: &Call) -> Result<Vec<(String, Option<Value>)>, ApiError> {
    let items = match call.input.get("Operations") {
        Some(Value::Array(items)) => items,
        None | Some(Value::Null) => return Err(missing("Operations")),
        Some(_) => return Err(ApiError::Validation("Operations must be a list".into())),
    };
    if items.is_empty() || items.len() > 100 {
        return Err(ApiError::Validation(format!("Operations holds {} entries; 1 to 100 are allowed", items.len())));
    }
    items
        .iter()
        .map(|item| {
            let object =
                item.as_object().ok_or_else(|| ApiError::Validation("an operation must be an object".into()))?;
            let path = string_in(object, "AttributePath")?.ok_or_else(|| missing("AttributePath"))?;
            if path.len() > 255 {
                return Err(ApiError::Validation("AttributePath is longer than 255 characters".into()));
            }
            let value = object.get("AttributeValue").filter(|v| !v.is_null()).map(|v| renamed(v, camel));
            Ok((path.to_owned(), value))
        })
        .collect()
}

/// `UpdateUser`, `UpdateGroup`: each operation replaces (or, without a value, removes) one
/// attribute, as a SCIM PATCH of the same paths would, checked by the same validator.
async fn update(call: &Call, kind: ResourceKind) -> Result<Value, ApiError> {
    let id = id_of(call, kind)?;
    let ops = operations(call)?;
    let revision = match call.string("Revision")? {
        Some(text) => Some(text.parse::<i64>().map_err(|_| ApiError::Validation("Revision must be digits".into()))?),
        None => None,
    };
    let profile = call.tenant.profile;
    let (tenant, audit, store) = (call.tenant.key, call.audit(), call.state.store.clone());
    blocking(move || {
        store.write(move |w| {
            let current = w.get_for_update(tenant, kind, &id)?.ok_or_else(|| not_found(kind, &id))?;
            if revision.is_some_and(|r| r != current.version) {
                return Err(ApiError::RevisionMismatch);
            }
            let attrs = updated_attrs(profile, kind, &id, &current.attrs, &ops)?;
            let resource = resource::Resource { attrs, members: Vec::new() };
            w.replace(tenant, kind, &id, &keys(kind, &resource), &resource.attrs, audit.at)?;
            audited(w, tenant, audit, &id, StatusCode::OK)
        })
    })
    .await?;
    Ok(json!({}))
}

/// The attributes after `ops`: SCIM PATCH `replace`/`remove` on the known paths, with a
/// Group's `description` kept beside them.
fn updated_attrs(
    profile: &scim_schema::Profile,
    kind: ResourceKind,
    id: &str,
    current: &Map<String, Value>,
    ops: &[(String, Option<Value>)],
) -> Result<Map<String, Value>, ApiError> {
    let mut description = current.get(DESCRIPTION).cloned();
    let mut scim_ops = Vec::new();
    for (path, value) in ops {
        let top = path.split('.').next().unwrap_or_default();
        let known = match kind {
            ResourceKind::User => USER_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(top)),
            ResourceKind::Group => top.eq_ignore_ascii_case("displayName"),
        };
        if kind == ResourceKind::Group && path.eq_ignore_ascii_case(DESCRIPTION) {
            description = value.clone();
            continue;
        }
        if !known {
            return Err(ApiError::Validation(format!("AttributePath {path} is not supported")));
        }
        scim_ops.push(match value {
            Some(value) => json!({"op": "replace", "path": path, "value": value}),
            None => json!({"op": "remove", "path": path}),
        });
    }
    let mut attrs = if scim_ops.is_empty() {
        current.clone()
    } else {
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": scim_ops});
        patch::apply(profile, kind, id, current, &body)?.resource.attrs
    };
    attrs.remove(DESCRIPTION);
    if let Some(description) = description {
        if !description.as_str().is_some_and(|d| !d.is_empty() && d.len() <= 1024) {
            return Err(ApiError::Validation("Description must be a string of 1 to 1024 characters".into()));
        }
        attrs.insert(DESCRIPTION.into(), description);
    }
    resource::check(profile, kind, &attrs)?;
    Ok(attrs)
}

/// `DeleteUser`, `DeleteGroup`: the resource and its memberships.
async fn delete(call: &Call, kind: ResourceKind) -> Result<Value, ApiError> {
    let id = id_of(call, kind)?;
    let (tenant, audit, store) = (call.tenant.key, call.audit(), call.state.store.clone());
    blocking(move || {
        store.write(move |w| {
            w.delete(tenant, kind, &id).map_err(|e| match e {
                scim_store::Error::NotFound => not_found(kind, &id),
                other => other.into(),
            })?;
            audited(w, tenant, audit, &id, StatusCode::OK)
        })
    })
    .await?;
    Ok(json!({}))
}

/// `MaxResults` (1 to 100), the position `NextToken` resumes after, and the query the tokens
/// of a listing whose parameters print as `what` are bound to.
///
/// Page tokens are the SCIM cursors' sealed positions (`crate::cursor`): bound to the tenant and
/// the listing, and telling nothing of other tenants.
fn paging(call: &Call, kind: ResourceKind, what: &str) -> Result<(usize, Option<i64>, String), ApiError> {
    let limit = match call.input.get("MaxResults") {
        None | Some(Value::Null) => DEFAULT_PAGE,
        Some(n) => n
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| ApiError::Validation("MaxResults must be an integer from 1 to 100".into()))?,
    };
    let bound_to = format!("aws\0{}\0{what}", kind.name());
    let after = match call.string("NextToken")? {
        Some(token) => Some(
            call.state
                .cursors
                .open(&call.tenant_id, &bound_to, token)
                .ok_or_else(|| ApiError::Validation("The NextToken is not valid for this request".into()))?,
        ),
        None => None,
    };
    Ok((limit, after, bound_to))
}

/// The `NextToken` after `seq` in the listing `bound_to`.
fn next_token(call: &Call, bound_to: &str, seq: i64) -> Value {
    Value::String(call.state.cursors.seal(&call.tenant_id, bound_to, seq))
}

/// `ListUsers`, `ListGroups`, with the one `Filters` entry the API allows (`UserName` or
/// `DisplayName`, exactly, ignoring case as the uniqueness rule does).
async fn list(call: &Call, kind: ResourceKind) -> Result<Value, ApiError> {
    let mut conditions = Vec::new();
    let mut what = String::from("list");
    match call.input.get("Filters") {
        None | Some(Value::Null) => {}
        Some(Value::Array(filters)) if filters.len() <= 1 => {
            for filter in filters {
                let object = filter.as_object().ok_or_else(|| ApiError::Validation("a filter is an object".into()))?;
                let path = string_in(object, "AttributePath")?.ok_or_else(|| missing("AttributePath"))?;
                let value = string_in(object, "AttributeValue")?.ok_or_else(|| missing("AttributeValue"))?;
                let name = if kind == ResourceKind::User { "UserName" } else { "DisplayName" };
                if !path.eq_ignore_ascii_case(name) {
                    return Err(ApiError::Validation(format!("Filters may only name {name}, not {path}")));
                }
                conditions.push(Condition::Name(value.to_owned()));
                what = format!("{name}={value}");
            }
        }
        Some(_) => return Err(ApiError::Validation("Filters holds at most one filter".into())),
    }
    let (limit, after, print) = paging(call, kind, &what)?;
    let query = Query { conditions, after, limit, ..Query::default() };
    let (tenant, store) = (call.tenant.key, call.state.store.clone());
    let page = blocking_read(move || Ok(store.read(|r| r.list(tenant, kind, &query))?)).await?;
    let items: Vec<Value> = page.items.iter().map(|s| shape(call, kind, s)).collect();
    let field = if kind == ResourceKind::User { "Users" } else { "Groups" };
    let mut out = json!({ field: items });
    if page.more
        && let (Some(last), Some(object)) = (page.items.last(), out.as_object_mut())
    {
        object.insert("NextToken".into(), next_token(call, &print, last.seq));
    }
    Ok(out)
}

/// `GetUserId`, `GetGroupId`: by `ExternalId` (issuer and id) or a `UniqueAttribute`
/// (`userName` or `emails.value` of a user, `displayName` of a group).
async fn get_id(call: &Call, kind: ResourceKind) -> Result<Value, ApiError> {
    let alternate = match call.input.get("AlternateIdentifier") {
        Some(Value::Object(o)) => o,
        None | Some(Value::Null) => return Err(missing("AlternateIdentifier")),
        Some(_) => return Err(ApiError::Validation("AlternateIdentifier must be an object".into())),
    };
    let (condition, issuer, shown) = match (alternate.get("ExternalId"), alternate.get("UniqueAttribute")) {
        (Some(Value::Object(external)), None) => {
            let issuer = string_in(external, "Issuer")?.ok_or_else(|| missing("Issuer"))?;
            let id = string_in(external, "Id")?.ok_or_else(|| missing("Id"))?;
            (Condition::ExternalId(id.to_owned()), Some(issuer.to_owned()), id.to_owned())
        }
        (None, Some(Value::Object(unique))) => {
            let path = string_in(unique, "AttributePath")?.ok_or_else(|| missing("AttributePath"))?;
            let value = match unique.get("AttributeValue") {
                Some(Value::String(s)) => s.clone(),
                _ => return Err(ApiError::Validation("AttributeValue must be a string".into())),
            };
            let condition = match (kind, path.to_ascii_lowercase().as_str()) {
                (ResourceKind::User, "username") => Condition::Name(value.clone()),
                (ResourceKind::User, "emails.value") => Condition::Email(value.clone()),
                (ResourceKind::Group, "displayname") => Condition::Name(value.clone()),
                _ => return Err(ApiError::Validation(format!("{path} is not a unique attribute"))),
            };
            (condition, None, value)
        }
        _ => {
            return Err(ApiError::Validation(
                "AlternateIdentifier must hold exactly one of ExternalId and UniqueAttribute".into(),
            ));
        }
    };
    let query = Query { conditions: vec![condition], limit: 1, ..Query::default() };
    let (tenant, store) = (call.tenant.key, call.state.store.clone());
    let page = blocking_read(move || Ok(store.read(|r| r.list(tenant, kind, &query))?)).await?;
    let found = page.items.into_iter().next().filter(|_| issuer.as_deref().is_none_or(|i| i == SCIM_ISSUER));
    let stored = found.ok_or_else(|| not_found(kind, &shown))?;
    let field = if kind == ResourceKind::User { "UserId" } else { "GroupId" };
    Ok(json!({ field: stored.id, "IdentityStoreId": identity_store_id(&call.tenant_id) }))
}

/// A membership's id: its key as a UUID-shaped string (group seq, then member seq, 64 bits each).
fn membership_id(key: MembershipKey) -> String {
    let n = (u128::from(key.group_seq.unsigned_abs()) << 64) | u128::from(key.member_seq.unsigned_abs());
    let hex = format!("{n:032x}");
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// The key a membership id names, if it is one this server issued.
fn membership_key(id: &str) -> Option<MembershipKey> {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    let n = u128::from_str_radix(&hex, 16).ok().filter(|_| hex.len() == 32)?;
    let group_seq = i64::try_from(n >> 64).ok()?;
    let member_seq = i64::try_from(n & u128::from(u64::MAX)).ok()?;
    Some(MembershipKey { group_seq, member_seq })
}

/// The user id of a `MemberId` field.
fn member_id(call: &Call) -> Result<String, ApiError> {
    match call.input.get("MemberId") {
        Some(Value::Object(member)) => {
            resource_id(string_in(member, "UserId")?.ok_or_else(|| missing("MemberId.UserId"))?, "MemberId.UserId")
        }
        None | Some(Value::Null) => Err(missing("MemberId")),
        Some(_) => Err(ApiError::Validation("MemberId must be an object".into())),
    }
}

/// A membership in the API's shape.
fn membership_shape(call: &Call, key: MembershipKey, group_id: &str, user_id: &str) -> Value {
    let id = membership_id(key);
    json!({
        "IdentityStoreId": identity_store_id(&call.tenant_id),
        "MembershipId": id,
        "MembershipArn": format!("arn:aws:identitystore:::membership/{id}"),
        "GroupId": group_id,
        "MemberId": {"UserId": user_id},
    })
}

/// Checks that the tenant has user `user` and group `group`, naming the first one missing.
fn both_exist(r: &dyn scim_store::Reader, tenant: TenantKey, group: &str, user: &str) -> Result<(), ApiError> {
    if !r.exists(tenant, ResourceKind::Group, group)? {
        return Err(not_found(ResourceKind::Group, group));
    }
    if !r.exists(tenant, ResourceKind::User, user)? {
        return Err(not_found(ResourceKind::User, user));
    }
    Ok(())
}

/// `CreateGroupMembership`: one membership row, the group's version bumped as a SCIM PATCH does.
async fn create_membership(call: &Call) -> Result<Value, ApiError> {
    let group = id_of(call, ResourceKind::Group)?;
    let user = member_id(call)?;
    let (tenant, audit, store) = (call.tenant.key, call.audit(), call.state.store.clone());
    let (g, u, group_id) = (group.clone(), user.clone(), group.clone());
    let key = blocking(move || {
        store.write_on(tenant, &group_id, move |w| {
            both_exist(w, tenant, &g, &u)?;
            if w.add_members(tenant, &g, std::slice::from_ref(&u), false)? == 0 {
                return Err(ApiError::AlreadyExists("GroupMembership".into()));
            }
            w.touch_later(tenant, ResourceKind::Group, &g, audit.at)?;
            let key = w.membership_key(tenant, &g, &u)?.ok_or_else(|| not_found(ResourceKind::Group, &g))?;
            audited(w, tenant, audit, &g, StatusCode::OK)?;
            Ok::<_, ApiError>(key)
        })
    })
    .await?;
    let shape = membership_shape(call, key, &group, &user);
    Ok(json!({
        "MembershipId": shape["MembershipId"],
        "MembershipArn": shape["MembershipArn"],
        "IdentityStoreId": shape["IdentityStoreId"],
    }))
}

/// The `MembershipId` field as a key; an id this server never issued is not found.
fn requested_membership(call: &Call) -> Result<(String, MembershipKey), ApiError> {
    let id = resource_id(call.required("MembershipId")?, "MembershipId")?;
    let key = membership_key(&id)
        .ok_or_else(|| ApiError::ResourceNotFound { resource_type: "GROUP_MEMBERSHIP", id: id.clone() })?;
    Ok((id, key))
}

/// `DescribeGroupMembership`.
async fn describe_membership(call: &Call) -> Result<Value, ApiError> {
    let (id, key) = requested_membership(call)?;
    let (tenant, store) = (call.tenant.key, call.state.store.clone());
    let (group, user) = blocking_read(move || {
        store.read(|r| {
            r.membership(tenant, key)?.ok_or(ApiError::ResourceNotFound { resource_type: "GROUP_MEMBERSHIP", id })
        })
    })
    .await?;
    Ok(membership_shape(call, key, &group, &user))
}

/// `DeleteGroupMembership`.
async fn delete_membership(call: &Call) -> Result<Value, ApiError> {
    let (id, key) = requested_membership(call)?;
    let (tenant, audit, store) = (call.tenant.key, call.audit(), call.state.store.clone());
    blocking(move || {
        store.write(move |w| {
            let (group, user) = w
                .membership(tenant, key)?
                .ok_or(ApiError::ResourceNotFound { resource_type: "GROUP_MEMBERSHIP", id })?;
            w.remove_members(tenant, &group, &[user])?;
            w.touch_later(tenant, ResourceKind::Group, &group, audit.at)?;
            audited(w, tenant, audit, &group, StatusCode::OK)
        })
    })
    .await?;
    Ok(json!({}))
}

/// `GetGroupMembershipId`.
async fn get_membership_id(call: &Call) -> Result<Value, ApiError> {
    let group = id_of(call, ResourceKind::Group)?;
    let user = member_id(call)?;
    let (tenant, store) = (call.tenant.key, call.state.store.clone());
    let key = blocking_read(move || {
        store.read(|r| {
            both_exist(r, tenant, &group, &user)?;
            r.membership_key(tenant, &group, &user)?
                .ok_or(ApiError::ResourceNotFound { resource_type: "GROUP_MEMBERSHIP", id: format!("{group}/{user}") })
        })
    })
    .await?;
    Ok(json!({"MembershipId": membership_id(key), "IdentityStoreId": identity_store_id(&call.tenant_id)}))
}

/// `IsMemberInGroups`: one result per group named (1 to 100), direct memberships.
async fn is_member_in_groups(call: &Call) -> Result<Value, ApiError> {
    let user = member_id(call)?;
    let groups = match call.input.get("GroupIds") {
        Some(Value::Array(ids)) if (1..=100).contains(&ids.len()) => ids
            .iter()
            .map(|v| resource_id(v.as_str().unwrap_or_default(), "GroupIds"))
            .collect::<Result<Vec<_>, _>>()?,
        None | Some(Value::Null) => return Err(missing("GroupIds")),
        Some(_) => return Err(ApiError::Validation("GroupIds must list 1 to 100 group ids".into())),
    };
    let (tenant, store, u) = (call.tenant.key, call.state.store.clone(), user.clone());
    let member_of = blocking_read(move || {
        store.read(|r| {
            if !r.exists(tenant, ResourceKind::User, &u)? {
                return Err(not_found(ResourceKind::User, &u));
            }
            Ok::<_, ApiError>(
                r.groups_of(tenant, &[u.as_str()])?
                    .into_iter()
                    .flatten()
                    .filter(|m| m.direct)
                    .map(|m| m.id)
                    .collect::<Vec<_>>(),
            )
        })
    })
    .await?;
    let results: Vec<Value> = groups
        .iter()
        .map(|g| json!({"GroupId": g, "MemberId": {"UserId": user}, "MembershipExists": member_of.contains(g)}))
        .collect();
    Ok(json!({"Results": results}))
}

/// `ListGroupMemberships` (a group's members) and `ListGroupMembershipsForMember` (a user's
/// groups), paged in the order memberships' other ends were created.
async fn list_memberships(call: &Call, for_member: bool) -> Result<Value, ApiError> {
    let (anchor_kind, listed_kind, anchor) = if for_member {
        (ResourceKind::User, ResourceKind::Group, member_id(call)?)
    } else {
        (ResourceKind::Group, ResourceKind::User, id_of(call, ResourceKind::Group)?)
    };
    let (limit, after, print) = paging(call, listed_kind, &format!("memberships of {anchor}"))?;
    let condition = if for_member { Condition::HasMember(anchor.clone()) } else { Condition::MemberOf(anchor.clone()) };
    let query = Query { conditions: vec![condition], after, limit, ..Query::default() };
    let (tenant, store, id) = (call.tenant.key, call.state.store.clone(), anchor.clone());
    let (anchor_row, page) = blocking_read(move || {
        store.read(|r| {
            let row = r.get(tenant, anchor_kind, &id)?.ok_or_else(|| not_found(anchor_kind, &id))?;
            Ok::<_, ApiError>((row, r.list(tenant, listed_kind, &query)?))
        })
    })
    .await?;
    let memberships: Vec<Value> = page
        .items
        .iter()
        .map(|other| {
            let (group, user) = if for_member { (other, &anchor_row) } else { (&anchor_row, other) };
            let key = MembershipKey { group_seq: group.seq, member_seq: user.seq };
            membership_shape(call, key, &group.id, &user.id)
        })
        .collect();
    let mut out = json!({"GroupMemberships": memberships});
    if page.more
        && let (Some(last), Some(object)) = (page.items.last(), out.as_object_mut())
    {
        object.insert("NextToken".into(), next_token(call, &print, last.seq));
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn membership_ids_round_trip_and_look_like_uuids() {
        let key = MembershipKey { group_seq: 7, member_seq: 123_456 };
        let id = membership_id(key);
        assert_eq!(id, "00000000-0000-0007-0000-00000001e240");
        assert_eq!(membership_key(&id), Some(key));
        assert!(resource_id(&id, "MembershipId").is_ok());
        assert_eq!(membership_key("not-an-id"), None);
    }

    #[test]
    fn resource_ids_follow_the_api_pattern() {
        let uuid = "0b0c9d3e-1f2a-4b5c-8d6e-7f8091a2b3c4";
        assert_eq!(resource_id(uuid, "UserId").unwrap(), uuid);
        assert_eq!(resource_id(&format!("arn:aws:identitystore:::user/{uuid}"), "UserId").unwrap(), uuid);
        assert_eq!(resource_id(&format!("9067230a3b-{uuid}"), "UserId").unwrap(), uuid);
        for bad in ["", "abc", "0b0c9d3e-1f2a-4b5c-8d6e-7f8091a2b3cz", "0b0c9d3e_1f2a-4b5c-8d6e-7f8091a2b3c4"] {
            assert!(matches!(resource_id(bad, "UserId"), Err(ApiError::Validation(_))), "{bad}");
        }
    }

    #[test]
    fn group_updates_keep_the_description_beside_scim_attributes() {
        let profile = scim_schema::ProfileName::IdentityCenter.profile();
        let current = json!({"displayName": "Eng", "description": "old"}).as_object().unwrap().clone();
        let op = |path: &str, value: Option<Value>| (path.to_owned(), value);
        let renamed =
            updated_attrs(profile, ResourceKind::Group, "g", &current, &[op("displayName", Some(json!("Ops")))])
                .unwrap();
        assert_eq!(Value::Object(renamed), json!({"displayName": "Ops", "description": "old"}));
        let cleared = updated_attrs(profile, ResourceKind::Group, "g", &current, &[op("description", None)]).unwrap();
        assert_eq!(Value::Object(cleared), json!({"displayName": "Eng"}));
        for bad in [op("members", Some(json!([]))), op("description", Some(json!(""))), op("displayName", None)] {
            assert!(
                updated_attrs(profile, ResourceKind::Group, "g", &current, std::slice::from_ref(&bad)).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn names_translate_both_ways_at_any_depth() {
        let aws = json!({"Name": {"GivenName": "J"}, "Emails": [{"Value": "a@b", "Primary": true}]});
        let scim = renamed(&aws, camel);
        assert_eq!(scim, json!({"name": {"givenName": "J"}, "emails": [{"value": "a@b", "primary": true}]}));
        assert_eq!(renamed(&scim, pascal), aws);
    }
}
