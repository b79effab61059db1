//! What the service provider says it supports (`/ServiceProviderConfig`), reduced to the
//! questions the client asks.

use serde_json::Value;

use scim_schema::{Profile, ProfileName};

/// The service provider's capabilities, read from its `/ServiceProviderConfig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// PATCH is supported (RFC 7644 section 3.5.2).
    pub patch: bool,
    /// RFC 9865 cursor paging is advertised.
    pub cursor: bool,
    /// The largest page the provider returns (`filter.maxResults`, else 100).
    pub page_size: usize,
    /// The provider behaves like AWS IAM Identity Center: no bulk, sort or ETags, no group
    /// members in Group responses, at most 100 member changes per request and AWS's
    /// attribute rules. Decided from the configuration, since AWS names itself nowhere in it.
    pub identity_center_like: bool,
}

impl Capabilities {
    /// Reads a `/ServiceProviderConfig` document. Missing parts count as unsupported.
    pub fn from_config(config: &Value) -> Capabilities {
        let supported = |name: &str| config[name]["supported"].as_bool().unwrap_or(false);
        let page_size = config["filter"]["maxResults"]
            .as_u64()
            .or_else(|| config["pagination"]["maxPageSize"].as_u64())
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0)
            .unwrap_or(100);
        Capabilities {
            patch: supported("patch"),
            cursor: config["pagination"]["cursor"].as_bool().unwrap_or(false),
            page_size,
            identity_center_like: !supported("bulk") && !supported("sort") && !supported("etag"),
        }
    }

    /// The rule set to validate resources against before sending them.
    pub fn profile(&self) -> &'static Profile {
        if self.identity_center_like { ProfileName::IdentityCenter.profile() } else { ProfileName::Rfc.profile() }
    }

    /// The most member additions or removals one request may carry.
    pub fn max_member_changes(&self) -> usize {
        self.profile().max_member_changes.unwrap_or(1000)
    }

    /// Whether Group responses carry their members (otherwise members are read by filtering
    /// Users on `groups.value`).
    pub fn returns_members(&self) -> bool {
        self.profile().return_memberships
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use scim_schema::discovery::service_provider_config;

    #[test]
    fn our_own_profiles_are_recognised() {
        let ic = Capabilities::from_config(&service_provider_config(ProfileName::IdentityCenter.profile()));
        assert!(ic.identity_center_like && ic.patch && !ic.cursor && !ic.returns_members());
        assert_eq!((ic.page_size, ic.max_member_changes()), (100, 100));
        let rfc = Capabilities::from_config(&service_provider_config(ProfileName::Rfc.profile()));
        assert!(!rfc.identity_center_like && rfc.patch && rfc.cursor && rfc.returns_members());
    }

    #[test]
    fn an_empty_config_supports_nothing_optional() {
        let caps = Capabilities::from_config(&serde_json::json!({}));
        assert!(!caps.patch && !caps.cursor);
        assert_eq!(caps.page_size, 100);
    }
}
