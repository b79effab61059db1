//! Profiles: the rules a tenant's endpoint follows, as data.
//!
//! There is one validator, one PATCH engine and one renderer; each consults the tenant's
//! [`Profile`] where AWS IAM Identity Center and RFC 7643/7644 differ. Adding a rule means adding
//! a field here and one check where it applies, never a second code path.

use std::fmt;
use std::str::FromStr;

use crate::definition::ResourceKind;

/// The name of a profile, as stored and as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProfileName {
    /// Behaves as AWS IAM Identity Center documents its SCIM endpoint.
    IdentityCenter,
    /// All of RFC 7643 and RFC 7644.
    Rfc,
}

impl ProfileName {
    /// The text form: `identity-center` or `rfc`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileName::IdentityCenter => "identity-center",
            ProfileName::Rfc => "rfc",
        }
    }

    /// The rules of this profile.
    pub fn profile(self) -> &'static Profile {
        match self {
            ProfileName::IdentityCenter => &IDENTITY_CENTER,
            ProfileName::Rfc => &RFC,
        }
    }
}

impl fmt::Display for ProfileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProfileName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "identity-center" => Ok(ProfileName::IdentityCenter),
            "rfc" => Ok(ProfileName::Rfc),
            other => Err(format!("unknown profile {other:?}: expected identity-center or rfc")),
        }
    }
}

/// A set of rules. See the module documentation.
#[derive(Debug)]
pub struct Profile {
    /// The profile's name.
    pub name: ProfileName,
    /// User attributes refused with 400 when they carry a value.
    pub refused_user_attributes: &'static [&'static str],
    /// Sub-attributes accepted on input but neither stored nor published, as `(attribute, sub)`.
    pub dropped_sub_attributes: &'static [(&'static str, &'static str)],
    /// The most values a multi-valued User attribute may hold.
    pub max_values: Option<usize>,
    /// Attribute paths a User must carry with a non-blank value, beyond the schema's own.
    pub required_user_paths: &'static [(&'static str, Option<&'static str>)],
    /// The longest string value, in characters.
    pub max_string_len: Option<usize>,
    /// Characters refused in string values other than references.
    pub forbidden_chars: &'static [char],
    /// Whether empty strings are refused everywhere.
    pub refuse_empty_strings: bool,
    /// The longest `userName`, in characters.
    pub max_user_name_len: Option<usize>,
    /// Whether whitespace is refused in `userName`.
    pub user_name_without_whitespace: bool,
    /// Whether an email must be marked `primary: true`.
    pub email_must_be_primary: bool,
    /// Whether an address with any street part must have all five.
    pub complete_addresses: bool,
    /// Whether a single-valued complex attribute with a `value` sub-attribute may arrive as that
    /// bare value or as a list of at most one, as Microsoft Entra ID sends the enterprise
    /// `manager` (`"manager": "id"`, `[{"$ref": ..., "value": "id"}]`); else only an object is.
    pub bare_single_values: bool,
    /// Whether a non-empty `groups` in a User body is refused (instead of ignored).
    pub refuse_user_groups: bool,
    /// Whether group members may be groups.
    pub nested_groups: bool,
    /// The most member changes one request may carry.
    pub max_member_changes: Option<usize>,
    /// The most operations one PATCH request may carry.
    pub max_patch_operations: usize,
    /// The most bytes a resource's attributes may take, as compact JSON (members not counted).
    pub max_resource_bytes: Option<usize>,
    /// User attributes a PATCH may target; `None` means every writable one.
    pub patchable_user_attributes: Option<&'static [&'static str]>,
    /// Whether a User PATCH may touch `userName` and `active` at most once each, never removing them.
    pub single_user_name_and_active_op: bool,
    /// Whether a path-less Group PATCH value may change only one attribute.
    pub pathless_group_patch_single_attribute: bool,
    /// Whether `replace` of `members` is refused.
    pub refuse_members_replace: bool,
    /// Whether `remove` of all members is refused.
    pub refuse_members_remove_all: bool,
    /// Whether value filters inside PATCH paths may use `eq` and `and` only.
    pub eq_only_path_filters: bool,
    /// Whether Group reads carry their members (and User reads their groups).
    pub return_memberships: bool,
    /// Whether error bodies hide the specific reason behind AWS's fixed texts and carry AWS's
    /// extra fields (`schema`, `exceptionRequestId`, `timeStamp`) instead of `scimType`.
    pub aws_errors: bool,
    /// Whether responses say `application/scim+json` (else `application/json`).
    pub scim_content_type: bool,
    /// Whether a successful Group PATCH answers 204 with no body (else 200 with the Group).
    pub group_patch_no_content: bool,
    /// Whether `/Me`, `/Bulk` and `/.search` exist.
    pub extended_endpoints: bool,
    /// Whether resources carry `meta.version`, responses an `ETag`, and `If-Match` /
    /// `If-None-Match` are honoured.
    pub etags: bool,
    /// Whether resources carry `meta.location` and a 201 a `Location` header.
    pub meta_location: bool,
    /// Whether a `count` outside 1 to the page maximum is refused (else clamped, 0 allowed).
    pub strict_count: bool,
    /// Whether list filters are limited to identity-center's indexed `eq` subset.
    pub filter_subset: bool,
    /// Whether `attributes`, `excludedAttributes`, `sortBy` and `sortOrder` are applied (else ignored).
    pub projection_and_sort: bool,
    /// Whether `/ServiceProviderConfig` advertises the paging methods (RFC 9865 `pagination`);
    /// AWS's document has no such block, though both profiles page by index and by cursor.
    pub advertise_pagination: bool,
}

impl Profile {
    /// Whether the User attribute `name` is refused when it has a value.
    pub fn refuses_user_attribute(&self, name: &str) -> bool {
        self.refused_user_attributes.iter().any(|a| a.eq_ignore_ascii_case(name))
    }

    /// Whether the sub-attribute `sub` of `attribute` is dropped on input.
    pub fn drops(&self, attribute: &str, sub: &str) -> bool {
        self.dropped_sub_attributes
            .iter()
            .any(|(a, s)| a.eq_ignore_ascii_case(attribute) && s.eq_ignore_ascii_case(sub))
    }

    /// Whether the profile supports the resource-level attribute `name` of `kind` at all.
    pub fn supports(&self, kind: ResourceKind, name: &str) -> bool {
        !(kind == ResourceKind::User && self.refuses_user_attribute(name))
    }
}

/// AWS IAM Identity Center, point by point (see `shared/spec/README.md` section 3).
pub static IDENTITY_CENTER: Profile = Profile {
    name: ProfileName::IdentityCenter,
    refused_user_attributes: &["entitlements", "ims", "photos", "x509Certificates", "password"],
    dropped_sub_attributes: &[
        ("emails", "display"),
        ("phoneNumbers", "display"),
        ("addresses", "display"),
        ("roles", "display"),
        ("manager", "displayName"),
        ("manager", "$ref"),
    ],
    max_values: Some(1),
    required_user_paths: &[("displayName", None), ("name", Some("givenName")), ("name", Some("familyName"))],
    max_string_len: Some(1024),
    forbidden_chars: &['<', '>', ';', ':', '%'],
    refuse_empty_strings: true,
    max_user_name_len: Some(128),
    user_name_without_whitespace: true,
    email_must_be_primary: true,
    complete_addresses: true,
    bare_single_values: true,
    refuse_user_groups: true,
    nested_groups: false,
    max_member_changes: Some(100),
    max_patch_operations: MAX_PATCH_OPERATIONS,
    // One value per attribute and 1,024 characters per string already bound a resource.
    max_resource_bytes: None,
    patchable_user_attributes: Some(&[
        "userName",
        "active",
        "externalId",
        "displayName",
        "nickName",
        "profileUrl",
        "title",
        "userType",
        "preferredLanguage",
        "locale",
        "timezone",
        "name",
        "emails",
        "addresses",
        "phoneNumbers",
        "employeeNumber",
        "costCenter",
        "organization",
        "division",
        "department",
        "manager",
    ]),
    single_user_name_and_active_op: true,
    pathless_group_patch_single_attribute: true,
    refuse_members_replace: true,
    refuse_members_remove_all: true,
    eq_only_path_filters: true,
    return_memberships: false,
    aws_errors: true,
    scim_content_type: false,
    group_patch_no_content: true,
    extended_endpoints: false,
    etags: false,
    meta_location: false,
    strict_count: true,
    filter_subset: true,
    projection_and_sort: false,
    advertise_pagination: false,
};

/// The most operations a PATCH may carry in either profile: far more than any identity provider
/// sends (Okta and Entra send one per changed attribute), few enough that one request cannot hold
/// the shared writer for long.
pub const MAX_PATCH_OPERATIONS: usize = 1000;

/// RFC 7643 and RFC 7644 in full.
///
/// RFC 7643 sets no sizes, so the limits here are the server's own, as RFC 7644 section 3.12 lets
/// a service provider have: generous for any real directory, and small enough that no tenant's
/// resources or requests can crowd out the others'.
pub static RFC: Profile = Profile {
    name: ProfileName::Rfc,
    refused_user_attributes: &[],
    dropped_sub_attributes: &[],
    max_values: Some(100),
    required_user_paths: &[],
    max_string_len: Some(4096),
    forbidden_chars: &[],
    refuse_empty_strings: false,
    max_user_name_len: Some(256),
    user_name_without_whitespace: false,
    email_must_be_primary: false,
    complete_addresses: false,
    bare_single_values: false,
    refuse_user_groups: false,
    nested_groups: true,
    max_member_changes: None,
    max_patch_operations: MAX_PATCH_OPERATIONS,
    max_resource_bytes: Some(64 * 1024),
    patchable_user_attributes: None,
    single_user_name_and_active_op: false,
    pathless_group_patch_single_attribute: false,
    refuse_members_replace: false,
    refuse_members_remove_all: false,
    eq_only_path_filters: false,
    return_memberships: true,
    aws_errors: false,
    scim_content_type: true,
    group_patch_no_content: false,
    extended_endpoints: true,
    etags: true,
    meta_location: true,
    strict_count: false,
    filter_subset: false,
    projection_and_sort: true,
    advertise_pagination: true,
};
