//! The discovery documents (RFC 7644 section 4): `/ServiceProviderConfig`, `/Schemas` and
//! `/ResourceTypes`, generated from the schema tables and the profile, so they publish exactly
//! what the tenant's endpoint accepts.

use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use crate::definition::{Attribute, ResourceKind, Returned, Schema, Type};
use crate::profile::{Profile, ProfileName};

/// The largest request body, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 1 << 20;
/// The largest page of a list.
pub const MAX_PAGE: usize = 100;
/// The most operations one `/Bulk` request may carry.
pub const MAX_BULK_OPERATIONS: usize = 1000;

/// [`service_provider_config`] as compact JSON, written once per profile: the document
/// depends on nothing else, and identity providers fetch it often.
pub fn service_provider_config_json(profile: &Profile) -> &'static [u8] {
    static WRITTEN: [OnceLock<Vec<u8>>; 2] = [OnceLock::new(), OnceLock::new()];
    let slot = match profile.name {
        ProfileName::IdentityCenter => &WRITTEN[0],
        ProfileName::Rfc => &WRITTEN[1],
    };
    slot.get_or_init(|| service_provider_config(profile).to_string().into_bytes())
}

/// `/ServiceProviderConfig`.
pub fn service_provider_config(profile: &Profile) -> Value {
    let bulk = profile.extended_endpoints;
    let mut config = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://docs.aws.amazon.com/singlesignon/latest/userguide/manage-your-identity-source-idp.html",
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication scheme using the OAuth Bearer Token Standard",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "documentationUri": "https://docs.aws.amazon.com/singlesignon/latest/userguide/provision-automatically.html",
            "primary": true
        }],
        "patch": {"supported": true},
        "bulk": {"supported": bulk, "maxOperations": if bulk { MAX_BULK_OPERATIONS } else { 1 }, "maxPayloadSize": MAX_PAYLOAD_BYTES},
        "filter": {"supported": true, "maxResults": MAX_PAGE},
        "changePassword": {"supported": false},
        "sort": {"supported": profile.projection_and_sort},
        "etag": {"supported": profile.etags}
    });
    if profile.advertise_pagination
        && let Some(object) = config.as_object_mut()
    {
        // RFC 9865: both methods; cursors never expire, so no cursorTimeout is given.
        object.insert(
            "pagination".into(),
            json!({"cursor": true, "index": true, "defaultPaginationMethod": "index",
                   "defaultPageSize": MAX_PAGE, "maxPageSize": MAX_PAGE}),
        );
    }
    config
}

/// The schemas every profile publishes (each filtered by [`schema_document`]), core first.
pub fn schemas() -> [&'static Schema; 3] {
    [&crate::definition::USER_SCHEMA, &crate::definition::ENTERPRISE_USER_SCHEMA, &crate::definition::GROUP_SCHEMA]
}

/// One `/Schemas/{urn}` document. `base` is the tenant's SCIM base URL.
pub fn schema_document(profile: &Profile, schema: &Schema, base: &str) -> Value {
    let kind = if schema.id == ResourceKind::Group.schema().id { ResourceKind::Group } else { ResourceKind::User };
    let attributes: Vec<Value> = schema
        .attributes
        .iter()
        .filter(|a| profile.supports(kind, a.name))
        .filter(|a| profile.return_memberships || !(kind == ResourceKind::User && a.name == "groups"))
        .map(|a| attribute(profile, kind, a))
        .collect();
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": schema.id,
        "name": schema.name,
        "description": schema.description,
        "attributes": attributes,
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{}", schema.id)}
    })
}

fn attribute(profile: &Profile, kind: ResourceKind, def: &Attribute) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!(def.name));
    out.insert("type".into(), json!(def.kind.name()));
    out.insert("multiValued".into(), json!(def.multi_valued));
    out.insert("description".into(), json!(def.description));
    out.insert("required".into(), json!(def.required));
    out.insert("caseExact".into(), json!(def.case_exact));
    let mutability = match def.mutability {
        crate::definition::Mutability::ReadOnly => "readOnly",
        crate::definition::Mutability::ReadWrite => "readWrite",
        crate::definition::Mutability::Immutable => "immutable",
        crate::definition::Mutability::WriteOnly => "writeOnly",
    };
    out.insert("mutability".into(), json!(mutability));
    // identity-center accepts members but never returns them.
    let returned = if kind == ResourceKind::Group && def.name == "members" && !profile.return_memberships {
        Returned::Never
    } else {
        def.returned
    };
    let returned = match returned {
        Returned::Always => "always",
        Returned::Never => "never",
        Returned::Default => "default",
        Returned::Request => "request",
    };
    out.insert("returned".into(), json!(returned));
    let uniqueness = match def.uniqueness {
        crate::definition::Uniqueness::None => "none",
        crate::definition::Uniqueness::Server => "server",
        crate::definition::Uniqueness::Global => "global",
    };
    out.insert("uniqueness".into(), json!(uniqueness));
    if !def.canonical_values.is_empty() {
        out.insert("canonicalValues".into(), json!(def.canonical_values));
    }
    if let Type::Reference(types) = def.kind {
        out.insert("referenceTypes".into(), json!(types));
    }
    if def.is_complex() {
        let subs: Vec<Value> = def
            .sub_attributes
            .iter()
            .filter(|s| !profile.drops(def.name, s.name))
            .filter(|s| {
                profile.return_memberships
                    || !(def.name == "members" && s.mutability == crate::definition::Mutability::ReadOnly)
            })
            .map(|s| attribute(profile, kind, s))
            .collect();
        out.insert("subAttributes".into(), Value::Array(subs));
    }
    Value::Object(out)
}

/// One `/ResourceTypes/{name}` document.
pub fn resource_type(kind: ResourceKind, base: &str) -> Value {
    let extensions: Vec<Value> = kind.extensions().iter().map(|e| json!({"schema": e.id, "required": false})).collect();
    let mut out = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": kind.name(),
        "name": kind.name(),
        "endpoint": kind.endpoint(),
        "description": kind.schema().description,
        "schema": kind.schema().id,
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", kind.name())}
    });
    if !extensions.is_empty()
        && let Some(object) = out.as_object_mut()
    {
        object.insert("schemaExtensions".into(), Value::Array(extensions));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::definition::USER_SCHEMA;
    use crate::profile::{IDENTITY_CENTER, RFC};

    fn names(doc: &Value) -> Vec<String> {
        doc["attributes"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap().to_owned()).collect()
    }

    #[test]
    fn identity_center_publishes_only_what_it_accepts() {
        let ic = schema_document(&IDENTITY_CENTER, &USER_SCHEMA, "https://h/t/scim/v2");
        let names = names(&ic);
        for gone in ["password", "ims", "photos", "entitlements", "x509Certificates", "groups"] {
            assert!(!names.contains(&gone.to_owned()), "{gone}");
        }
        let user_name = &ic["attributes"][0];
        assert_eq!(user_name["name"], "userName");
        assert_eq!((user_name["required"].clone(), user_name["caseExact"].clone()), (json!(true), json!(false)));
        assert_eq!(user_name["uniqueness"], "server");
        let emails = ic["attributes"].as_array().unwrap().iter().find(|a| a["name"] == "emails").unwrap();
        let subs: Vec<&str> =
            emails["subAttributes"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(subs, ["value", "type", "primary"]);
        assert!(self::names(&schema_document(&RFC, &USER_SCHEMA, "")).contains(&"ims".to_owned()));
    }

    #[test]
    fn the_written_service_provider_config_is_the_document_of_its_profile() {
        for profile in [&IDENTITY_CENTER, &crate::profile::RFC] {
            let written: Value = serde_json::from_slice(service_provider_config_json(profile)).unwrap();
            assert_eq!(written, service_provider_config(profile));
        }
        assert_ne!(service_provider_config_json(&IDENTITY_CENTER), service_provider_config_json(&crate::profile::RFC));
    }

    #[test]
    fn service_provider_config_matches_profile() {
        let ic = service_provider_config(&IDENTITY_CENTER);
        assert_eq!(ic["bulk"]["supported"], json!(false));
        assert_eq!(ic["etag"]["supported"], json!(false));
        assert_eq!(ic["authenticationSchemes"][0]["type"], json!("oauthbearertoken"));
    }
}
