//! The SCIM schemas of RFC 7643 as static tables: core User, enterprise User, Group, and the
//! attributes common to every resource.
//!
//! A table holds the whole standard; a [`Profile`](crate::Profile) decides which attributes a
//! tenant accepts, ignores or refuses, and publishes the rest.

/// The data type of an attribute (RFC 7643 section 2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// A Unicode string.
    String,
    /// `true` or `false`.
    Boolean,
    /// A real number.
    Decimal,
    /// A whole number.
    Integer,
    /// An `xsd:dateTime` string.
    DateTime,
    /// Base64 data.
    Binary,
    /// A URI; the slice lists the `referenceTypes`.
    Reference(&'static [&'static str]),
    /// An object of sub-attributes.
    Complex,
}

impl Type {
    /// The name RFC 7643 uses in `/Schemas`.
    pub fn name(self) -> &'static str {
        match self {
            Type::String => "string",
            Type::Boolean => "boolean",
            Type::Decimal => "decimal",
            Type::Integer => "integer",
            Type::DateTime => "dateTime",
            Type::Binary => "binary",
            Type::Reference(_) => "reference",
            Type::Complex => "complex",
        }
    }
}

/// When a client may write an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    /// Set by the server only.
    ReadOnly,
    /// Read and written by clients.
    ReadWrite,
    /// Written once, at creation.
    Immutable,
    /// Written but never returned.
    WriteOnly,
}

/// When an attribute is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    /// Always, even when excluded.
    Always,
    /// Never.
    Never,
    /// Unless excluded.
    Default,
    /// Only when asked for.
    Request,
}

/// The uniqueness an attribute has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    /// None.
    None,
    /// Unique within the tenant.
    Server,
    /// Unique everywhere.
    Global,
}

/// One attribute definition.
#[derive(Debug)]
pub struct Attribute {
    /// Canonical name.
    pub name: &'static str,
    /// Data type.
    pub kind: Type,
    /// Whether it holds a list.
    pub multi_valued: bool,
    /// Whether a resource must have it.
    pub required: bool,
    /// Whether string comparison is case-sensitive.
    pub case_exact: bool,
    /// Mutability.
    pub mutability: Mutability,
    /// Returned.
    pub returned: Returned,
    /// Uniqueness.
    pub uniqueness: Uniqueness,
    /// Canonical values, when the RFC lists some.
    pub canonical_values: &'static [&'static str],
    /// Sub-attributes of a complex attribute.
    pub sub_attributes: &'static [Attribute],
    /// Human description.
    pub description: &'static str,
}

impl Attribute {
    /// The sub-attribute called `name`, compared ignoring ASCII case.
    pub fn sub(&self, name: &str) -> Option<&'static Attribute> {
        self.sub_attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// Whether the attribute is a complex one.
    pub fn is_complex(&self) -> bool {
        self.kind == Type::Complex
    }
}

/// A schema: an id (URN) and its attributes.
#[derive(Debug)]
pub struct Schema {
    /// The URN.
    pub id: &'static str,
    /// Short name.
    pub name: &'static str,
    /// Description.
    pub description: &'static str,
    /// The attributes.
    pub attributes: &'static [Attribute],
}

impl Schema {
    /// The attribute called `name`, compared ignoring ASCII case.
    pub fn attribute(&self, name: &str) -> Option<&'static Attribute> {
        self.attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// URN of the core User schema.
pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// URN of the enterprise User extension.
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// URN of the core Group schema.
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

const fn attr(name: &'static str, kind: Type, description: &'static str) -> Attribute {
    Attribute {
        name,
        kind,
        multi_valued: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        uniqueness: Uniqueness::None,
        canonical_values: &[],
        sub_attributes: &[],
        description,
    }
}

const fn string(name: &'static str, description: &'static str) -> Attribute {
    attr(name, Type::String, description)
}

const fn complex(
    name: &'static str,
    multi_valued: bool,
    sub_attributes: &'static [Attribute],
    description: &'static str,
) -> Attribute {
    Attribute { multi_valued, sub_attributes, ..attr(name, Type::Complex, description) }
}

const fn typed_values(types: &'static [&'static str], value: Attribute) -> [Attribute; 4] {
    [
        value,
        string("display", "A human-readable name, primarily used for display purposes."),
        Attribute { canonical_values: types, ..string("type", "A label indicating the attribute's function.") },
        attr("primary", Type::Boolean, "Whether this is the preferred value; true at most once."),
    ]
}

const EXTERNAL: &[&str] = &["external"];

static EMAIL: [Attribute; 4] =
    typed_values(&["work", "home", "other"], string("value", "Email address, canonicalized per RFC 5321."));
static PHONE: [Attribute; 4] = typed_values(
    &["work", "home", "mobile", "fax", "pager", "other"],
    string("value", "Phone number, canonicalized per RFC 3966 where possible."),
);
static IM: [Attribute; 4] = typed_values(
    &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
    string("value", "Instant messaging address."),
);
static PHOTO: [Attribute; 4] =
    typed_values(&["photo", "thumbnail"], attr("value", Type::Reference(EXTERNAL), "URL of a photo of the User."));
static VALUE_ONLY: [Attribute; 4] = typed_values(&[], string("value", "The value."));
static CERTIFICATE: [Attribute; 4] =
    typed_values(&[], attr("value", Type::Binary, "A DER-encoded X.509 certificate, base64."));

static NAME: [Attribute; 6] = [
    string("formatted", "The full name, formatted for display."),
    string("familyName", "The family name, or last name."),
    string("givenName", "The given name, or first name."),
    string("middleName", "The middle name(s)."),
    string("honorificPrefix", "The honorific prefix(es), or title."),
    string("honorificSuffix", "The honorific suffix(es)."),
];

static ADDRESS: [Attribute; 8] = [
    string("formatted", "The full mailing address, formatted for display."),
    string("streetAddress", "The full street address component."),
    string("locality", "The city or locality component."),
    string("region", "The state or region component."),
    string("postalCode", "The zip code or postal code component."),
    string("country", "The country name component, ISO 3166-1 alpha-2."),
    Attribute {
        canonical_values: &["work", "home", "other"],
        ..string("type", "A label indicating the address's function.")
    },
    attr("primary", Type::Boolean, "Whether this is the preferred mailing address."),
];

static GROUP_REF: [Attribute; 4] = [
    Attribute { mutability: Mutability::ReadOnly, ..string("value", "The identifier of the User's group.") },
    Attribute {
        mutability: Mutability::ReadOnly,
        ..attr("$ref", Type::Reference(&["User", "Group"]), "The URI of the Group resource.")
    },
    Attribute { mutability: Mutability::ReadOnly, ..string("display", "A human-readable name of the group.") },
    Attribute {
        mutability: Mutability::ReadOnly,
        canonical_values: &["direct", "indirect"],
        ..string("type", "Whether membership is direct or indirect.")
    },
];

static USER_ATTRIBUTES: [Attribute; 21] = [
    Attribute {
        required: true,
        uniqueness: Uniqueness::Server,
        ..string("userName", "Unique identifier for the User, used to authenticate.")
    },
    complex("name", false, &NAME, "The components of the user's real name."),
    string("displayName", "The name of the User, suitable for display."),
    string("nickName", "The casual way to address the user."),
    attr("profileUrl", Type::Reference(EXTERNAL), "A fully qualified URL to the User's online profile."),
    string("title", "The user's title, such as \"Vice President\"."),
    string("userType", "The relationship between the organization and the user."),
    string("preferredLanguage", "The User's preferred written or spoken language."),
    string("locale", "The User's default location, for localizing items."),
    string("timezone", "The User's time zone in IANA format."),
    attr("active", Type::Boolean, "The User's administrative status."),
    Attribute {
        mutability: Mutability::WriteOnly,
        returned: Returned::Never,
        case_exact: true,
        ..string("password", "The User's cleartext password, for setting or changing it.")
    },
    complex("emails", true, &EMAIL, "Email addresses for the user."),
    complex("phoneNumbers", true, &PHONE, "Phone numbers for the User."),
    complex("ims", true, &IM, "Instant messaging addresses for the User."),
    complex("photos", true, &PHOTO, "URLs of photos of the User."),
    complex("addresses", true, &ADDRESS, "A physical mailing address for this User."),
    Attribute {
        mutability: Mutability::ReadOnly,
        ..complex("groups", true, &GROUP_REF, "The groups the user belongs to.")
    },
    complex("entitlements", true, &VALUE_ONLY, "Entitlements of the User."),
    complex("roles", true, &VALUE_ONLY, "Roles of the User."),
    complex("x509Certificates", true, &CERTIFICATE, "X.509 certificates issued to the User."),
];

static MANAGER: [Attribute; 3] = [
    string("value", "The id of the SCIM resource representing the User's manager."),
    attr("$ref", Type::Reference(&["User"]), "The URI of the manager's User resource."),
    Attribute { mutability: Mutability::ReadOnly, ..string("displayName", "The displayName of the manager.") },
];

static ENTERPRISE_ATTRIBUTES: [Attribute; 6] = [
    string("employeeNumber", "Numeric or alphanumeric identifier assigned to a person."),
    string("costCenter", "Identifies the name of a cost center."),
    string("organization", "Identifies the name of an organization."),
    string("division", "Identifies the name of a division."),
    string("department", "Identifies the name of a department."),
    complex("manager", false, &MANAGER, "The User's manager."),
];

static MEMBER: [Attribute; 3] = [
    Attribute { mutability: Mutability::Immutable, ..string("value", "Identifier of the member.") },
    Attribute {
        mutability: Mutability::Immutable,
        ..attr("$ref", Type::Reference(&["User", "Group"]), "The URI of the member resource.")
    },
    Attribute {
        mutability: Mutability::Immutable,
        canonical_values: &["User", "Group"],
        ..string("type", "The type of the member.")
    },
];

static GROUP_ATTRIBUTES: [Attribute; 2] = [
    Attribute {
        required: true,
        uniqueness: Uniqueness::Server,
        ..string("displayName", "A human-readable name for the Group.")
    },
    complex("members", true, &MEMBER, "A list of members of the Group."),
];

static META: [Attribute; 5] = [
    Attribute { mutability: Mutability::ReadOnly, case_exact: true, ..string("resourceType", "The resource type.") },
    Attribute { mutability: Mutability::ReadOnly, ..attr("created", Type::DateTime, "When the resource was added.") },
    Attribute {
        mutability: Mutability::ReadOnly,
        ..attr("lastModified", Type::DateTime, "When the resource was last changed.")
    },
    Attribute {
        mutability: Mutability::ReadOnly,
        case_exact: true,
        ..attr("location", Type::Reference(&["uri"]), "The URI of the resource.")
    },
    Attribute { mutability: Mutability::ReadOnly, case_exact: true, ..string("version", "The resource's version.") },
];

static COMMON_ATTRIBUTES: [Attribute; 3] = [
    Attribute {
        mutability: Mutability::ReadOnly,
        returned: Returned::Always,
        case_exact: true,
        uniqueness: Uniqueness::Server,
        ..string("id", "Unique identifier for the resource, assigned by the service provider.")
    },
    Attribute { case_exact: true, ..string("externalId", "The identifier the provisioning client uses.") },
    Attribute { mutability: Mutability::ReadOnly, ..complex("meta", false, &META, "Resource metadata.") },
];

/// The core User schema.
pub static USER_SCHEMA: Schema =
    Schema { id: USER, name: "User", description: "User Account", attributes: &USER_ATTRIBUTES };
/// The enterprise User extension.
pub static ENTERPRISE_USER_SCHEMA: Schema = Schema {
    id: ENTERPRISE_USER,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: &ENTERPRISE_ATTRIBUTES,
};
/// The core Group schema.
pub static GROUP_SCHEMA: Schema =
    Schema { id: GROUP, name: "Group", description: "Group", attributes: &GROUP_ATTRIBUTES };
/// The attributes every resource has (`id`, `externalId`, `meta`); not published as a schema.
pub static COMMON_SCHEMA: Schema =
    Schema { id: "", name: "Common", description: "Common attributes", attributes: &COMMON_ATTRIBUTES };

/// The two resource types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// A User.
    User,
    /// A Group.
    Group,
}

impl ResourceKind {
    /// The resource type's name, as in `meta.resourceType`.
    pub fn name(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }

    /// The endpoint, relative to the SCIM base.
    pub fn endpoint(self) -> &'static str {
        match self {
            ResourceKind::User => "/Users",
            ResourceKind::Group => "/Groups",
        }
    }

    /// The core schema.
    pub fn schema(self) -> &'static Schema {
        match self {
            ResourceKind::User => &USER_SCHEMA,
            ResourceKind::Group => &GROUP_SCHEMA,
        }
    }

    /// The schema extensions the resource type has.
    pub fn extensions(self) -> &'static [&'static Schema] {
        static USER_EXTENSIONS: [&Schema; 1] = [&ENTERPRISE_USER_SCHEMA];
        match self {
            ResourceKind::User => &USER_EXTENSIONS,
            ResourceKind::Group => &[],
        }
    }

    /// The extension schema with this URN, compared ignoring ASCII case.
    pub fn extension(self, urn: &str) -> Option<&'static Schema> {
        self.extensions().iter().copied().find(|s| s.id.eq_ignore_ascii_case(urn))
    }
}
