//! The tables, as DDL, one constant per schema version.
//!
//! A version's DDL is never edited once released: a change is a new constant appended to the
//! list in [`crate::migrations`].

/// Version 1: everything the SQLite store's version 5 holds, in PostgreSQL's types.
///
/// - `resources` keeps the attributes as `jsonb` beside the key columns; the keys are
///   lowercased by Rust before they arrive, and the unique indexes compare them byte for byte
///   (no collation, no `lower()`), with SQLite's scopes: name and externalId per tenant and
///   kind, primary email per tenant. Their names are what [`crate::error::unique_rule`] maps.
/// - `members` is one row per membership, keyed by `(group_seq, member_seq)`, with the reverse
///   index for "groups of a member"; rows go with either side (`ON DELETE CASCADE`).
/// - a tenant's live counts of users and groups are the sums of its `tenant_counts` shards,
///   kept by the statements that insert and delete resources, in the same transaction; the
///   shards let concurrent inserts of one tenant commit side by side while the quota still
///   holds exactly (see `resources::take_place`).
/// - `control_version` is one row bumped by trigger, with a `NOTIFY scim_control`, whenever the
///   data every server process caches changes (tenants but their counts, tokens, access keys,
///   administrators' tokens, access control): see [`crate::watch`].
/// - `bounded(text, n)` cuts audit text to `n` characters, marked `…`, as the SQLite store does.
pub(crate) const V1: &str = r#"
CREATE TABLE schema_version (version integer NOT NULL);
INSERT INTO schema_version VALUES (0);

CREATE TABLE control_version (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    version  bigint NOT NULL
);
INSERT INTO control_version VALUES (true, 0);

CREATE FUNCTION control_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE control_version SET version = version + 1;
    PERFORM pg_notify('scim_control', '');
    RETURN NULL;
END
$$;

CREATE FUNCTION bounded(value text, max_chars integer) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN char_length(value) > max_chars THEN left(value, max_chars) || '…' ELSE value END
$$;

CREATE TABLE tenants (
    seq              bigserial PRIMARY KEY,
    id               text UNIQUE NOT NULL,
    name             text,
    profile          text NOT NULL,
    created          bigint NOT NULL,
    max_users        bigint NOT NULL DEFAULT 100000,
    max_groups       bigint NOT NULL DEFAULT 100000,
    rate_limit_rps   double precision,
    rate_limit_burst bigint
);
CREATE TRIGGER tenants_control
    AFTER INSERT OR DELETE OR UPDATE OF id, name, profile, max_users, max_groups, rate_limit_rps, rate_limit_burst
    ON tenants FOR EACH STATEMENT EXECUTE FUNCTION control_changed();

-- The live count of each tenant's users (kind 0) and groups (kind 1), split over 16 shards so
-- that concurrent inserts of one tenant each update their own row (see `resources::take_place`).
CREATE TABLE tenant_counts (
    tenant bigint NOT NULL REFERENCES tenants(seq) ON DELETE CASCADE,
    kind   smallint NOT NULL,
    shard  smallint NOT NULL,
    n      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, kind, shard)
);
CREATE FUNCTION tenant_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tenant_counts (tenant, kind, shard)
    SELECT NEW.seq, k, s FROM generate_series(0, 1) k, generate_series(0, 15) s;
    RETURN NULL;
END
$$;
CREATE TRIGGER tenants_counted AFTER INSERT ON tenants FOR EACH ROW EXECUTE FUNCTION tenant_counted();

CREATE TABLE tokens (
    id      text PRIMARY KEY,
    tenant  bigint NOT NULL REFERENCES tenants(seq) ON DELETE CASCADE,
    created bigint NOT NULL,
    expires bigint NOT NULL
);
CREATE INDEX tokens_tenant ON tokens(tenant);
CREATE TRIGGER tokens_control AFTER INSERT OR UPDATE OR DELETE ON tokens
    FOR EACH STATEMENT EXECUTE FUNCTION control_changed();

CREATE TABLE access_keys (
    id      text PRIMARY KEY,
    tenant  bigint NOT NULL REFERENCES tenants(seq) ON DELETE CASCADE,
    secret  text NOT NULL,
    created bigint NOT NULL
);
CREATE INDEX access_keys_tenant ON access_keys(tenant);
CREATE TRIGGER access_keys_control AFTER INSERT OR UPDATE OR DELETE ON access_keys
    FOR EACH STATEMENT EXECUTE FUNCTION control_changed();

CREATE TABLE admin_tokens (
    id      text PRIMARY KEY,
    created bigint NOT NULL,
    expires bigint NOT NULL
);
CREATE TRIGGER admin_tokens_control AFTER INSERT OR UPDATE OR DELETE ON admin_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION control_changed();

CREATE TABLE admin_audit (
    seq       bigserial PRIMARY KEY,
    at        bigint NOT NULL,
    actor     text NOT NULL,
    action    text NOT NULL,
    tenant_id text,
    target    text,
    status    integer NOT NULL,
    detail    text
);

CREATE TABLE access_control (
    tenant   bigint NOT NULL REFERENCES tenants(seq) ON DELETE CASCADE,
    position integer NOT NULL,
    key      text NOT NULL,
    source   text NOT NULL,
    PRIMARY KEY (tenant, position)
);
CREATE UNIQUE INDEX access_control_key ON access_control(tenant, lower(key));
CREATE TRIGGER access_control_control AFTER INSERT OR UPDATE OR DELETE ON access_control
    FOR EACH STATEMENT EXECUTE FUNCTION control_changed();

CREATE TABLE resources (
    seq         bigserial PRIMARY KEY,
    tenant      bigint NOT NULL REFERENCES tenants(seq) ON DELETE CASCADE,
    kind        smallint NOT NULL,
    id          text NOT NULL CONSTRAINT resources_id UNIQUE,
    name_key    text NOT NULL,
    external_id text,
    email_key   text,
    created     bigint NOT NULL,
    modified    bigint NOT NULL,
    version     bigint NOT NULL,
    attrs       jsonb NOT NULL
);
CREATE UNIQUE INDEX resources_name ON resources(tenant, kind, name_key);
CREATE UNIQUE INDEX resources_external_id ON resources(tenant, kind, external_id);
CREATE UNIQUE INDEX resources_email ON resources(tenant, email_key) WHERE email_key IS NOT NULL;
CREATE INDEX resources_list ON resources(tenant, kind, seq);

CREATE TABLE members (
    group_seq  bigint NOT NULL REFERENCES resources(seq) ON DELETE CASCADE,
    member_seq bigint NOT NULL REFERENCES resources(seq) ON DELETE CASCADE,
    PRIMARY KEY (group_seq, member_seq)
);
CREATE INDEX members_member ON members(member_seq, group_seq);

CREATE TABLE audit (
    seq         bigserial PRIMARY KEY,
    tenant      bigint NOT NULL REFERENCES tenants(seq) ON DELETE CASCADE,
    at          bigint NOT NULL,
    request_id  text NOT NULL,
    action      text NOT NULL,
    resource_id text,
    status      integer NOT NULL,
    detail      text
);
CREATE INDEX audit_tenant ON audit(tenant, seq);
"#;

/// What listing needs beyond the tables (the `scim_fold` function and the listing index), run
/// after [`V1`] in the same step.
pub(crate) const LISTING: &str = include_str!("schema_list.sql");

/// Version 2: each shard of a tenant's count holds at most its share of the quota, so an
/// insert checks its own shard only (`resources::take_place`); the counts are spread evenly
/// once, which keeps every shard within its share wherever the total is within the quota.
pub(crate) const V2_QUOTA_SHARES: &str = r#"
CREATE FUNCTION quota_share(quota bigint, shard smallint) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT quota / 16 + CASE WHEN shard < quota % 16 THEN 1 ELSE 0 END
$$;
UPDATE tenant_counts c SET n = quota_share(t.total, c.shard)
  FROM (SELECT tenant, kind, sum(n)::bigint AS total FROM tenant_counts GROUP BY tenant, kind) t
 WHERE c.tenant = t.tenant AND c.kind = t.kind;
"#;
