//! `POST /Bulk` (RFC 7644 section 3.7), for the profiles that have it.
//!
//! Each operation runs through the very handler its method and path would reach on its own, as
//! its own transaction, so Bulk shares every rule, status and audit entry of the single
//! endpoints; it reads each handler's typed [`Reply`] (status and JSON) as it is, never a
//! rendered body. `bulkId:` references are resolved to the ids of resources created earlier in
//! the request; an operation naming a `bulkId` whose POST has not run yet waits until it has, and
//! one that can never be resolved fails with 409.
//! Each operation draws its own token from the tenant's rate limit: a throttled operation fails
//! alone with 429, so one Bulk request cannot do more than the same operations sent one by one.

use hyper::{Method, StatusCode};
use scim_schema::{ErrorKind, ResourceKind, discovery};
use serde_json::{Map, Value, json};

use crate::context::Ctx;
use crate::error::ApiError;
use crate::http::Target;
use crate::reply::Reply;
use crate::scim;

const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

fn invalid(why: impl Into<String>) -> ApiError {
    ApiError::Schema(scim_schema::Error::new(ErrorKind::InvalidSyntax, why))
}

/// One operation of a BulkRequest.
#[derive(Debug)]
struct Operation {
    method: Method,
    bulk_id: Option<String>,
    version: Option<String>,
    path: String,
    data: Option<Value>,
}

fn operations(body: &Value) -> Result<(Vec<Operation>, Option<usize>), ApiError> {
    let object = body.as_object().ok_or_else(|| invalid("a BulkRequest must be an object"))?;
    let field = |o: &Map<String, Value>, name: &str| {
        o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    };
    let fail_on_errors = match field(object, "failOnErrors") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| invalid("failOnErrors must be a whole number"))?,
        ),
    };
    let Some(Value::Array(list)) = field(object, "Operations") else {
        return Err(invalid("Operations must be a list"));
    };
    if list.len() > discovery::MAX_BULK_OPERATIONS {
        return Err(ApiError::Schema(scim_schema::Error::new(
            ErrorKind::TooMany,
            format!("{} operations; at most {}", list.len(), discovery::MAX_BULK_OPERATIONS),
        )));
    }
    let mut out = Vec::with_capacity(list.len());
    for item in &list {
        let op = item.as_object().ok_or_else(|| invalid("an operation must be an object"))?;
        let text = |name: &str| field(op, name).and_then(|v| v.as_str().map(str::to_owned));
        let method = match text("method").map(|m| m.to_ascii_uppercase()).as_deref() {
            Some("POST") => Method::POST,
            Some("PUT") => Method::PUT,
            Some("PATCH") => Method::PATCH,
            Some("DELETE") => Method::DELETE,
            _ => return Err(invalid("an operation's method must be POST, PUT, PATCH or DELETE")),
        };
        let path = text("path").ok_or_else(|| invalid("an operation needs a path"))?;
        let bulk_id = text("bulkId");
        if method == Method::POST && bulk_id.is_none() {
            return Err(invalid("a POST operation needs a bulkId"));
        }
        out.push(Operation { method, bulk_id, version: text("version"), path, data: field(op, "data") });
    }
    Ok((out, fail_on_errors))
}

/// Replaces every `"bulkId:X"` string in `value` by the id X was created with; returns the
/// first reference not resolved yet.
fn resolve(value: &mut Value, created: &Map<String, Value>) -> Option<String> {
    match value {
        Value::String(s) => {
            let key = s.strip_prefix("bulkId:")?;
            match created.get(key).and_then(Value::as_str) {
                Some(id) => {
                    *s = id.to_owned();
                    None
                }
                None => Some(key.to_owned()),
            }
        }
        Value::Array(items) => items.iter_mut().find_map(|v| resolve(v, created)),
        Value::Object(fields) => fields.values_mut().find_map(|v| resolve(v, created)),
        _ => None,
    }
}

/// `POST /Bulk`.
pub async fn bulk(ctx: &Ctx, body: Value) -> Result<Reply, ApiError> {
    let (mut pending, fail_on_errors) = operations(&body)?;
    let mut created = Map::new();
    let mut results: Vec<(usize, Value)> = Vec::new();
    let (mut errors, mut ran) = (0, 0);
    let mut order: Vec<(usize, String)> = (0..pending.len()).map(|i| (i, String::new())).collect();
    // Run what can run; operations waiting on a bulkId go round again until nothing moves.
    while !order.is_empty() {
        let mut waiting = Vec::new();
        let mut progressed = false;
        for (index, _) in order {
            let Some(op) = pending.get_mut(index) else { continue };
            // A path names a bulkId as one of its segments: `/Users/bulkId:qwerty`.
            let mut segments: Vec<Value> = op.path.split('/').map(|s| Value::String(s.to_owned())).collect();
            let unresolved = op
                .data
                .as_mut()
                .and_then(|d| resolve(d, &created))
                .or_else(|| segments.iter_mut().find_map(|s| resolve(s, &created)));
            if let Some(reference) = unresolved {
                waiting.push((index, reference));
                continue;
            }
            let path: Vec<&str> = segments.iter().filter_map(Value::as_str).collect();
            let path = path.join("/");
            // One rate-limit token per operation, as if each were its own request; the first
            // runs on the token the Bulk request itself drew.
            let admitted =
                if ran == 0 { Ok(()) } else { ctx.state.limiter.admit(ctx.tenant.key, ctx.tenant.rate_limit) };
            progressed = true;
            ran += 1;
            let outcome = match admitted {
                Ok(()) => run(ctx, op, &path).await,
                Err(throttled) => Err(throttled),
            };
            let reply = outcome.unwrap_or_else(|error| ctx.writer().error(ctx.profile(), &error));
            let status = reply.status;
            let resource = reply.into_json();
            let mut entry = Map::new();
            entry.insert("method".into(), json!(op.method.as_str()));
            if let Some(bulk_id) = &op.bulk_id {
                entry.insert("bulkId".into(), json!(bulk_id));
            }
            if status.is_success() {
                if let Some(id) = resource.get("id").and_then(Value::as_str) {
                    if let Some(bulk_id) = &op.bulk_id {
                        created.insert(bulk_id.clone(), json!(id));
                    }
                    if let Some(location) = resource.pointer("/meta/location") {
                        entry.insert("location".into(), location.clone());
                    }
                    if let Some(version) = resource.pointer("/meta/version") {
                        entry.insert("version".into(), version.clone());
                    }
                }
            } else {
                errors += 1;
                entry.insert("response".into(), resource);
            }
            entry.insert("status".into(), json!(status.as_u16().to_string()));
            results.push((index, Value::Object(entry)));
            if fail_on_errors.is_some_and(|max| errors >= max) {
                return Ok(respond(results));
            }
        }
        if !progressed {
            // Circular or dangling references: each waiting operation fails on its own.
            for (index, reference) in waiting {
                let Some(op) = pending.get(index) else { continue };
                let error = ApiError::BulkReference(reference);
                let reply = ctx.writer().error(ctx.profile(), &error);
                let mut entry = Map::new();
                entry.insert("method".into(), json!(op.method.as_str()));
                if let Some(bulk_id) = &op.bulk_id {
                    entry.insert("bulkId".into(), json!(bulk_id));
                }
                entry.insert("status".into(), json!(reply.status.as_u16().to_string()));
                entry.insert("response".into(), reply.into_json());
                results.push((index, Value::Object(entry)));
            }
            break;
        }
        order = waiting;
    }
    Ok(respond(results))
}

fn respond(mut results: Vec<(usize, Value)>) -> Reply {
    results.sort_by_key(|(index, _)| *index);
    let operations: Vec<Value> = results.into_iter().map(|(_, v)| v).collect();
    Reply::json(StatusCode::OK, json!({"schemas": [BULK_RESPONSE], "Operations": operations}))
}

/// Runs one operation through the endpoint its method and path name.
async fn run(ctx: &Ctx, op: &Operation, path: &str) -> Result<Reply, ApiError> {
    let prefix: String = ctx.target.segments.get(..3).unwrap_or_default().iter().map(|s| format!("/{s}")).collect();
    let target = Target::parse(&format!("{prefix}{path}"), None);
    let sub = Ctx {
        state: ctx.state.clone(),
        tenant: ctx.tenant,
        request_id: ctx.request_id.clone(),
        target,
        if_match: op.version.clone(),
        if_none_match: None,
    };
    let rest: Vec<&str> = sub.target.segments.get(3..).unwrap_or_default().iter().map(String::as_str).collect();
    let kind = |name: &str| match name {
        "Users" => Ok(ResourceKind::User),
        "Groups" => Ok(ResourceKind::Group),
        _ => Err(ApiError::NoEndpoint),
    };
    let data = || op.data.clone().ok_or_else(|| invalid("this operation needs data"));
    match (&op.method, rest.as_slice()) {
        (&Method::POST, [collection]) => scim::create(&sub, kind(collection)?, data()?).await,
        (&Method::PUT, [collection, id]) => scim::replace(&sub, kind(collection)?, (*id).to_owned(), data()?).await,
        (&Method::PATCH, [collection, id]) => scim::patch(&sub, kind(collection)?, (*id).to_owned(), data()?).await,
        (&Method::DELETE, [collection, id]) => scim::delete(&sub, kind(collection)?, (*id).to_owned()).await,
        _ => Err(ApiError::NoEndpoint),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn bulk_ids_resolve_deeply_and_report_the_missing_one() {
        let created = Map::from_iter([("a".to_owned(), json!("id-a"))]);
        let mut data = json!({"members": [{"value": "bulkId:a"}, {"value": "plain"}]});
        assert_eq!(resolve(&mut data, &created), None);
        assert_eq!(data, json!({"members": [{"value": "id-a"}, {"value": "plain"}]}));
        let mut data = json!({"members": [{"value": "bulkId:b"}]});
        assert_eq!(resolve(&mut data, &created), Some("b".to_owned()));
    }

    #[test]
    fn operations_are_validated() {
        assert!(operations(&json!({"Operations": [{"method": "GET", "path": "/Users"}]})).is_err());
        assert!(operations(&json!({"Operations": [{"method": "POST", "path": "/Users", "data": {}}]})).is_err());
        let (ops, fail) =
            operations(&json!({"failOnErrors": 1, "Operations": [{"method": "delete", "path": "/Users/x"}]})).unwrap();
        assert_eq!((ops.len(), fail), (1, Some(1)));
    }
}
