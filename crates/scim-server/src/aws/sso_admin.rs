//! The SSO Admin API's instance operations and the instance's attributes for access control,
//! backed by the same attributes the console and the admin API edit.

use hyper::StatusCode;
use scim_schema::abac::AccessControl;
use scim_store::AccessControlAttribute;
use serde_json::{Value, json};

use super::{Call, identity_store_id, instance_arn, missing, owner_account_id};
use crate::error::ApiError;
use crate::lanes::{blocking, blocking_read};

/// Runs operation `op` of the SSO Admin API.
pub async fn dispatch(call: &Call, op: &str) -> Result<Value, ApiError> {
    match op {
        "ListInstances" => Ok(json!({"Instances": [instance(call).await?]})),
        "DescribeInstance" => {
            check_instance(call)?;
            instance(call).await
        }
        "CreateInstanceAccessControlAttributeConfiguration" => write(call, Change::Create).await,
        "UpdateInstanceAccessControlAttributeConfiguration" => write(call, Change::Update).await,
        "DeleteInstanceAccessControlAttributeConfiguration" => write(call, Change::Delete).await,
        "DescribeInstanceAccessControlAttributeConfiguration" => describe_attributes(call).await,
        other => Err(ApiError::UnknownOperation(format!("SWBExternalService.{other}"))),
    }
}

/// The request's `InstanceArn` must be the key's tenant's.
fn check_instance(call: &Call) -> Result<(), ApiError> {
    let given = call.required("InstanceArn")?;
    if given != instance_arn(&call.tenant_id) {
        return Err(ApiError::AccessDenied(format!(
            "User is not authorized to perform: sso:{} on resource: {given}",
            call.action.rsplit('.').next().unwrap_or_default()
        )));
    }
    Ok(())
}

/// The tenant as an instance.
async fn instance(call: &Call) -> Result<Value, ApiError> {
    let (store, id) = (call.state.store.clone(), call.tenant_id.clone());
    let tenant = blocking_read(move || Ok(store.tenant(&id)?)).await?.ok_or_else(|| ApiError::ResourceNotFound {
        resource_type: "IDENTITY_STORE",
        id: identity_store_id(&call.tenant_id),
    })?;
    let region = call.state.aws_regions.first().map_or(crate::state::DEFAULT_REGION, String::as_str);
    let mut out = json!({
        "InstanceArn": instance_arn(&tenant.id),
        "IdentityStoreId": identity_store_id(&tenant.id),
        "OwnerAccountId": owner_account_id(&tenant.id),
        "CreatedDate": tenant.created as f64 / 1000.0,
        "Status": "ACTIVE",
        "PrimaryRegion": region,
    });
    if let (Some(name), Some(object)) = (tenant.name, out.as_object_mut()) {
        object.insert("Name".into(), json!(name));
    }
    Ok(out)
}

/// The tenant's stored attributes for access control.
async fn stored(call: &Call) -> Result<Vec<AccessControlAttribute>, ApiError> {
    let (store, key) = (call.state.store.clone(), call.tenant.key);
    blocking_read(move || Ok(store.read(|r| r.access_control(key))?)).await
}

/// `DescribeInstanceAccessControlAttributeConfiguration`; none configured is not found.
async fn describe_attributes(call: &Call) -> Result<Value, ApiError> {
    check_instance(call)?;
    let attributes = stored(call).await?;
    if attributes.is_empty() {
        return Err(not_configured(call));
    }
    let list: Vec<Value> = attributes.iter().map(|a| json!({"Key": a.key, "Value": {"Source": [a.source]}})).collect();
    Ok(json!({
        "Status": "ENABLED",
        "InstanceAccessControlAttributeConfiguration": {"AccessControlAttributes": list},
    }))
}

fn not_configured(call: &Call) -> ApiError {
    ApiError::ResourceNotFound { resource_type: "IDENTITY_STORE", id: instance_arn(&call.tenant_id) }
}

/// The three writes of the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// Only when none is configured.
    Create,
    /// Only when one is configured.
    Update,
    /// Removes every attribute.
    Delete,
}

/// The `AccessControlAttributes` of the request as (key, source) pairs, checked by the same
/// rules as the console's.
fn requested(call: &Call) -> Result<Vec<AccessControlAttribute>, ApiError> {
    let config = call
        .input
        .get("InstanceAccessControlAttributeConfiguration")
        .ok_or_else(|| missing("InstanceAccessControlAttributeConfiguration"))?;
    let items = config
        .get("AccessControlAttributes")
        .and_then(Value::as_array)
        .ok_or_else(|| missing("InstanceAccessControlAttributeConfiguration.AccessControlAttributes"))?;
    let mut pairs = Vec::with_capacity(items.len());
    for item in items {
        let key = item.get("Key").and_then(Value::as_str);
        let sources = item.get("Value").and_then(|v| v.get("Source")).and_then(Value::as_array);
        match (key, sources.map(Vec::as_slice)) {
            (Some(key), Some([Value::String(source)])) => pairs.push((key.to_owned(), source.clone())),
            _ => {
                return Err(ApiError::Validation(
                    "Each attribute needs a Key and a Value with exactly one Source string".into(),
                ));
            }
        }
    }
    AccessControl::parse(&pairs).map_err(|e| ApiError::Validation(e.detail))?;
    Ok(pairs.into_iter().map(|(key, source)| AccessControlAttribute { key, source }).collect())
}

/// `Create`, `Update` and `DeleteInstanceAccessControlAttributeConfiguration`.
async fn write(call: &Call, change: Change) -> Result<Value, ApiError> {
    check_instance(call)?;
    let wanted = if change == Change::Delete { Vec::new() } else { requested(call)? };
    let (tenant, audit, store) = (call.tenant.key, call.audit(), call.state.store.clone());
    let missing_config = not_configured(call);
    let arn = instance_arn(&call.tenant_id);
    blocking(move || {
        store.write(move |w| {
            let configured = !w.access_control(tenant)?.is_empty();
            match (change, configured) {
                (Change::Create, true) => {
                    return Err(ApiError::AlreadyExists("The access control attribute configuration".into()));
                }
                (Change::Update | Change::Delete, false) => return Err(missing_config),
                _ => {}
            }
            w.set_access_control(tenant, &wanted)?;
            crate::scim::audited(w, tenant, audit, &arn, StatusCode::OK)
        })
    })
    .await?;
    Ok(json!({}))
}
