//! The tables, as DDL, one constant per schema version.
//!
//! A version's DDL is never edited once released: a change is a new constant appended to
//! [`crate::migrations`]'s list, applied on top of the previous ones.

/// Version 1: tenants, tokens, resources, memberships, audit and the meta table.
///
/// Relations are rows, not JSON arrays: a membership is one row of `members` keyed by
/// `(group_seq, member_seq)`, so adding one member is one indexed insert whatever the group's size.
/// The live `users`/`groups` counts on `tenants` are kept by triggers, so a quota check reads one
/// row and every path that adds or removes a resource (including a tenant's cascade) keeps them.
pub(crate) const V1: &str = r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB
);

CREATE TABLE tenants (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT UNIQUE NOT NULL,
    name       TEXT,
    profile    TEXT NOT NULL,
    created    INTEGER NOT NULL,
    max_users  INTEGER NOT NULL DEFAULT 100000,
    max_groups INTEGER NOT NULL DEFAULT 100000,
    users      INTEGER NOT NULL DEFAULT 0,
    "groups"   INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE tokens (
    id      TEXT PRIMARY KEY,
    tenant  INTEGER NOT NULL REFERENCES tenants(seq) ON DELETE CASCADE,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL
);
CREATE INDEX tokens_tenant ON tokens(tenant);

CREATE TABLE resources (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant      INTEGER NOT NULL REFERENCES tenants(seq) ON DELETE CASCADE,
    kind        INTEGER NOT NULL,
    id          TEXT NOT NULL UNIQUE,
    name_key    TEXT NOT NULL,
    external_id TEXT,
    email_key   TEXT,
    created     INTEGER NOT NULL,
    modified    INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    attrs       TEXT NOT NULL
);
CREATE UNIQUE INDEX resources_name ON resources(tenant, kind, name_key);
CREATE UNIQUE INDEX resources_external_id ON resources(tenant, kind, external_id);
CREATE UNIQUE INDEX resources_email ON resources(tenant, email_key) WHERE email_key IS NOT NULL;
CREATE INDEX resources_list ON resources(tenant, kind, seq);

CREATE TRIGGER resources_counted AFTER INSERT ON resources BEGIN
    UPDATE tenants
       SET users = users + (NEW.kind = 0), "groups" = "groups" + (NEW.kind = 1)
     WHERE seq = NEW.tenant;
END;
CREATE TRIGGER resources_uncounted AFTER DELETE ON resources BEGIN
    UPDATE tenants
       SET users = users - (OLD.kind = 0), "groups" = "groups" - (OLD.kind = 1)
     WHERE seq = OLD.tenant;
END;

CREATE TABLE members (
    group_seq  INTEGER NOT NULL REFERENCES resources(seq) ON DELETE CASCADE,
    member_seq INTEGER NOT NULL REFERENCES resources(seq) ON DELETE CASCADE,
    PRIMARY KEY (group_seq, member_seq)
) WITHOUT ROWID;
CREATE INDEX members_member ON members(member_seq, group_seq);

CREATE TABLE audit (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant      INTEGER NOT NULL REFERENCES tenants(seq) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    request_id  TEXT NOT NULL,
    action      TEXT NOT NULL,
    resource_id TEXT,
    status      INTEGER NOT NULL,
    detail      TEXT
);
CREATE INDEX audit_tenant ON audit(tenant, seq);
"#;

/// Version 2: each tenant's request rate limit, a token bucket (`NULL` in both: no limit).
///
/// `rate_limit_rps` is the refill rate in requests per second and `rate_limit_burst` the bucket's
/// size; the server enforces them in memory, so they are read with the tenants, never per request.
pub(crate) const V2: &str = r#"
ALTER TABLE tenants ADD COLUMN rate_limit_rps REAL;
ALTER TABLE tenants ADD COLUMN rate_limit_burst INTEGER;
"#;

/// Version 3: administrators' token ids, and each tenant's attributes for access control.
///
/// `admin_tokens` holds ids and dates only, like `tokens`: an admin token is never stored.
/// `access_control` maps a tenant's tag keys to source expressions, in the administrator's order
/// (`position`); keys are unique per tenant ignoring case, as STS session tag keys are.
pub(crate) const V3: &str = r#"
CREATE TABLE admin_tokens (
    id      TEXT PRIMARY KEY,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL
);

CREATE TABLE access_control (
    tenant   INTEGER NOT NULL REFERENCES tenants(seq) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    key      TEXT NOT NULL,
    source   TEXT NOT NULL,
    PRIMARY KEY (tenant, position)
) WITHOUT ROWID;
CREATE UNIQUE INDEX access_control_key ON access_control(tenant, lower(key));
"#;

/// Version 4: the token signing key leaves the database, and administrators' actions get a trail.
///
/// The key is handed to the caller's key file first ([`crate::Store::open_moving_key`]), in the
/// same upgrade, so a copy of the database opens nothing. `admin_audit` names the credential of
/// each administrator's action (`actor`); `tenant_id` is plain text, not a reference, so the trail
/// of a deleted tenant stays.
pub(crate) const V4: &str = r#"
DELETE FROM meta WHERE key = 'signing_key';

CREATE TABLE admin_audit (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    tenant_id TEXT,
    target    TEXT,
    status    INTEGER NOT NULL,
    detail    TEXT
);
"#;

/// Version 5: access keys, the SigV4 credentials of the AWS SDKs, each bound to one tenant.
///
/// The secret is stored because SigV4 verification needs it (see `access_keys`).
pub(crate) const V5: &str = r#"
CREATE TABLE access_keys (
    id      TEXT PRIMARY KEY,
    tenant  INTEGER NOT NULL REFERENCES tenants(seq) ON DELETE CASCADE,
    secret  TEXT NOT NULL,
    created INTEGER NOT NULL
);
CREATE INDEX access_keys_tenant ON access_keys(tenant);
"#;
