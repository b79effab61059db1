//! The seam between the server and a database: [`Backend`], and the [`Reader`] and [`Writer`]
//! views a job gets.
//!
//! The server programs against these traits only, through the [`Store`](crate::Store) façade;
//! this crate implements them on SQLite, and `scim-store-pg` on PostgreSQL. Both pass the same
//! suites (the crate's contract tests and the filter agreement suite), so the contract is what
//! the docs below say, checked twice, not what one implementation happens to do.
//!
//! Every method is scoped to the tenant it names; ids of another tenant are unknown ids. Times
//! are the caller's clock in unix milliseconds. A name or email key is the value lowercased
//! with Rust's `str::to_lowercase` (the backend compares those keys, never its own collation).

use std::fmt;

use scim_schema::ResourceKind;
use serde_json::{Map, Value};

use crate::{
    AccessControlAttribute, AccessKeyRecord, AdminAction, AdminTokenRecord, AuditEntry, AuditFilter, CommitSnapshot,
    Error, Keys, Membership, MembershipKey, NewAudit, Page, Query, RateLimit, Stored, Tenant, TenantKey, TokenRecord,
};

/// A write job as a backend runs it: it returns whether to keep what it wrote.
///
/// The [`Store`](crate::Store) façade builds these from the caller's closure; `false` (the
/// closure failed) means "roll back everything this job wrote".
pub type WriteJob = Box<dyn FnOnce(&mut dyn Writer) -> bool + Send>;

/// A database that holds every tenant's directory.
///
/// # Contract
/// - [`Backend::read`] runs its job on one consistent snapshot of committed data, never waiting
///   for writers longer than the backend's pool takes to hand out a connection.
/// - [`Backend::write`] runs its job in a transaction of its own (or a savepoint of a shared one)
///   and returns `Ok` only once the job's writes are durably committed, or were rolled back
///   because the job returned `false`. Jobs that read and then write the same resource (a PATCH)
///   never lose a concurrent update, in this process or another on the same database.
///   A job runs at most once.
/// - A database that cannot be reached answers [`Error::Unavailable`] within a few seconds,
///   never hangs; once it is back, the backend recovers without a restart.
/// - [`Backend::data_version`] changes whenever tenants, tokens, access keys, admin tokens,
///   quotas, rate limits or profiles change, whoever changed them (another process included);
///   it may also change on other commits. Cheap enough to call four times a second.
pub trait Backend: Send + Sync + fmt::Debug + 'static {
    /// Runs `job` once on a snapshot; its error, or the backend's, is returned.
    fn read(&self, job: &mut dyn FnMut(&dyn Reader) -> Result<(), Error>) -> Result<(), Error>;

    /// Runs `job` once in a write transaction; see the trait's contract.
    fn write(&self, job: WriteJob) -> Result<(), Error>;

    /// Runs `job` as [`Backend::write`] does, for a job that writes the tenant's resource `id`
    /// (a group whose members it changes, say). Jobs on one resource may be run together in
    /// one transaction, one after another, each in a savepoint of its own, so that writes to
    /// a busy resource share a commit instead of each waiting for the one before to commit.
    /// Every other promise of `write` holds for each job. By default, just `write`.
    fn write_on(&self, tenant: TenantKey, id: &str, job: WriteJob) -> Result<(), Error> {
        let _ = (tenant, id);
        self.write(job)
    }

    /// [`Reader::get_texts`] in a snapshot of its own: the resources `keys` name.
    ///
    /// By default a [`Backend::read`] job ([`read_texts`]). A backend whose single statement is
    /// a snapshot of its own may read one key without opening a read transaction.
    fn get_texts(&self, keys: &[(TenantKey, ResourceKind, &str)]) -> Result<Vec<Option<Stored<String>>>, Error> {
        read_texts(self, keys)
    }

    /// How many gathered reads by id (see [`Reader::get_texts`]) the server should run at
    /// once; 0 to run each read by id alone.
    ///
    /// Gathering pays where a read's round trip costs more than its work: requests that arrive
    /// while a batch is out wait for the next one instead of each paying a round trip. By
    /// default 0: an in-process store gains nothing from it.
    fn gather_width(&self) -> usize {
        0
    }

    /// A number that changes whenever the control data changes (see the contract). Compare values
    /// for equality only.
    fn data_version(&self) -> Result<i64, Error>;

    /// The backend's write queue and batch counters, for `/metrics`.
    fn commit_stats(&self) -> CommitSnapshot;

    /// Finishes queued writes and closes the database.
    fn close(self: Box<Self>) -> Result<(), Error>;

    /// Where the data lives, for logs and messages, without secrets (a path, or a URL without its
    /// password).
    fn location(&self) -> String;
}

/// [`Backend::get_texts`] as a [`Backend::read`] job: its default, and what a backend's own
/// version does where it has no shortcut.
pub fn read_texts<B: Backend + ?Sized>(
    backend: &B,
    keys: &[(TenantKey, ResourceKind, &str)],
) -> Result<Vec<Option<Stored<String>>>, Error> {
    let mut found = Vec::new();
    backend.read(&mut |r| {
        found = r.get_texts(keys)?;
        Ok(())
    })?;
    Ok(found)
}

/// What a job may read: one consistent snapshot of the database.
pub trait Reader {
    // Tenants and credentials.

    /// Every tenant, in creation order.
    fn tenants(&self) -> Result<Vec<Tenant>, Error>;
    /// The tenant with public id `id`, if any.
    fn tenant(&self, id: &str) -> Result<Option<Tenant>, Error>;
    /// The tenant's token records, oldest first.
    fn tokens(&self, tenant_id: &str) -> Result<Vec<TokenRecord>, Error>;
    /// Every tenant's token records.
    fn all_tokens(&self) -> Result<Vec<TokenRecord>, Error>;
    /// The tenant's access keys, oldest first.
    fn access_keys(&self, tenant_id: &str) -> Result<Vec<AccessKeyRecord>, Error>;
    /// Every tenant's access keys.
    fn all_access_keys(&self) -> Result<Vec<AccessKeyRecord>, Error>;
    /// Administrators' tokens, oldest first.
    fn admin_tokens(&self) -> Result<Vec<AdminTokenRecord>, Error>;
    /// The administrators' log, newest first: up to `limit` entries older than the `before`
    /// cursor, each with its cursor.
    fn admin_audit(&self, before: Option<i64>, limit: usize) -> Result<Vec<(i64, AdminAction)>, Error>;
    /// The tenant's attributes for access control, in their order.
    fn access_control(&self, tenant: TenantKey) -> Result<Vec<AccessControlAttribute>, Error>;

    // The request log.

    /// Up to `limit` audit entries recorded after the `after` cursor, oldest first.
    fn audit(&self, tenant: TenantKey, after: Option<i64>, limit: usize) -> Result<Vec<AuditEntry>, Error>;
    /// The newest audit entries matching `filter`, newest first.
    fn audit_filtered(&self, tenant: TenantKey, filter: &AuditFilter) -> Result<Vec<AuditEntry>, Error>;
    /// Each tenant holding more than `max_rows` audit entries, with the cursor of its newest entry
    /// beyond them (what [`Writer::prune_audit`] may remove).
    fn audit_overflow(&self, max_rows: u64) -> Result<Vec<(TenantKey, i64)>, Error>;

    // Users and groups.

    /// The resource, if the tenant has one of this kind and id.
    fn get(&self, tenant: TenantKey, kind: ResourceKind, id: &str) -> Result<Option<Stored>, Error>;
    /// [`Reader::get`] for a caller that only writes the attributes out again: they come as the
    /// text of a JSON object, which a backend that stores text hands over without parsing it.
    fn get_text(&self, tenant: TenantKey, kind: ResourceKind, id: &str) -> Result<Option<Stored<String>>, Error> {
        Ok(self.get(tenant, kind, id)?.map(Stored::into_text))
    }
    /// [`Reader::get_text`] for several resources at once (each key a tenant, kind and id), in
    /// one snapshot: the answers in the keys' order, `None` where there is no such resource.
    ///
    /// The server gathers reads by id that arrive together into one call. The default asks
    /// [`Reader::get_text`] once per key; a backend where each statement costs a round trip to
    /// a database answers them all with one.
    fn get_texts(&self, keys: &[(TenantKey, ResourceKind, &str)]) -> Result<Vec<Option<Stored<String>>>, Error> {
        keys.iter().map(|&(tenant, kind, id)| self.get_text(tenant, kind, id)).collect()
    }
    /// Whether the tenant has a resource of this kind and id.
    fn exists(&self, tenant: TenantKey, kind: ResourceKind, id: &str) -> Result<bool, Error>;
    /// One page of the tenant's resources of `kind`; see [`Query`] for what each field means.
    fn list(&self, tenant: TenantKey, kind: ResourceKind, query: &Query) -> Result<Page, Error>;
    /// [`Reader::list`] for a caller that only writes the attributes out again, as
    /// [`Reader::get_text`] is to [`Reader::get`].
    fn list_text(&self, tenant: TenantKey, kind: ResourceKind, query: &Query) -> Result<Page<String>, Error> {
        let Page { items, total, more } = self.list(tenant, kind, query)?;
        Ok(Page { items: items.into_iter().map(Stored::into_text).collect(), total, more })
    }

    // Memberships.

    /// The key of the direct membership of `member_id` in `group_id`, if the tenant has it.
    fn membership_key(
        &self,
        tenant: TenantKey,
        group_id: &str,
        member_id: &str,
    ) -> Result<Option<MembershipKey>, Error>;
    /// The group's and member's ids of the membership `key`, if the tenant has it.
    fn membership(&self, tenant: TenantKey, key: MembershipKey) -> Result<Option<(String, String)>, Error>;
    /// The ids of a group's direct members in the order they were created; empty for an unknown
    /// group.
    fn member_ids(&self, tenant: TenantKey, group_id: &str) -> Result<Vec<String>, Error>;
    /// Up to `limit` direct members of each of `group_ids` (users and groups, with their display
    /// names), in the order the members were created, skipping the first `offset`; one entry
    /// per group id, in the order given (empty for an unknown group). One statement whatever
    /// the number of groups.
    fn members(
        &self,
        tenant: TenantKey,
        group_ids: &[&str],
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Vec<Membership>>, Error>;
    /// How many direct members the group has (0 for an unknown group), counted in the index.
    fn member_count(&self, tenant: TenantKey, group_id: &str) -> Result<u64, Error>;
    /// The groups each of `member_ids` belongs to, directly or through nested groups, in the
    /// order the groups were created; one entry per id, in the order given (empty for an
    /// unknown id). One statement whatever the number of ids.
    fn groups_of(&self, tenant: TenantKey, member_ids: &[&str]) -> Result<Vec<Vec<Membership>>, Error>;

    // Moving a tenant.

    /// Calls `each` with every resource of the tenant, in creation order.
    fn export_resources(
        &self,
        tenant: TenantKey,
        each: &mut dyn FnMut(Exported) -> Result<(), Error>,
    ) -> Result<(), Error>;
    /// Calls `each` with the group's and the member's id of every membership of the tenant, by
    /// group then member creation order.
    fn export_members(
        &self,
        tenant: TenantKey,
        each: &mut dyn FnMut(&str, &str) -> Result<(), Error>,
    ) -> Result<(), Error>;
}

/// What a write job may do; it reads its own writes.
pub trait Writer: Reader {
    // Tenants and credentials.

    /// Creates a tenant with a fresh id and the default quotas.
    fn create_tenant(&mut self, name: Option<&str>, profile: &str) -> Result<Tenant, Error>;
    /// Deletes a tenant with everything it holds; [`Error::NotFound`] if unknown.
    fn delete_tenant(&mut self, id: &str) -> Result<(), Error>;
    /// Changes a tenant's profile; [`Error::NotFound`] if unknown.
    fn set_profile(&mut self, id: &str, profile: &str) -> Result<(), Error>;
    /// Sets or clears a tenant's rate limit; [`Error::NotFound`] if unknown.
    fn set_rate_limit(&mut self, id: &str, limit: Option<RateLimit>) -> Result<(), Error>;
    /// Sets a tenant's quotas; [`Error::NotFound`] if unknown.
    fn set_quota(&mut self, id: &str, max_users: i64, max_groups: i64) -> Result<(), Error>;
    /// Records a token; [`Error::TokenLimit`] beyond two per tenant, [`Error::NotFound`] for an
    /// unknown tenant.
    fn add_token(&mut self, record: &TokenRecord) -> Result<(), Error>;
    /// Deletes a token; [`Error::NotFound`] if the tenant has no such token.
    fn delete_token(&mut self, tenant_id: &str, token_id: &str) -> Result<(), Error>;
    /// Records an access key; [`Error::AccessKeyLimit`] beyond two per tenant,
    /// [`Error::NotFound`] for an unknown tenant.
    fn add_access_key(&mut self, record: &AccessKeyRecord) -> Result<(), Error>;
    /// Deletes an access key; [`Error::NotFound`] if the tenant has no such key.
    fn delete_access_key(&mut self, tenant_id: &str, key_id: &str) -> Result<(), Error>;
    /// Records an administrator's token.
    fn add_admin_token(&mut self, record: &AdminTokenRecord) -> Result<(), Error>;
    /// Deletes an administrator's token; [`Error::NotFound`] if unknown.
    fn delete_admin_token(&mut self, id: &str) -> Result<(), Error>;
    /// Appends to the administrators' log (fields cut to [`MAX_FIELD_CHARS`](crate::MAX_FIELD_CHARS)).
    fn record_admin_action(&mut self, entry: &AdminAction) -> Result<(), Error>;
    /// Replaces the tenant's attributes for access control.
    fn set_access_control(&mut self, tenant: TenantKey, attributes: &[AccessControlAttribute]) -> Result<(), Error>;

    // The request log.

    /// Records an audit entry (fields cut to [`MAX_FIELD_CHARS`](crate::MAX_FIELD_CHARS));
    /// [`Error::NotFound`] for an unknown tenant.
    fn record_audit(&mut self, tenant: TenantKey, entry: &NewAudit) -> Result<(), Error>;
    /// Removes up to `budget` audit entries, oldest first: those recorded before `cutoff`, then
    /// for each `(tenant, cursor)` of `overflowing` its entries up to that cursor. Returns how
    /// many went.
    fn prune_audit(&mut self, cutoff: i64, budget: usize, overflowing: &[(TenantKey, i64)]) -> Result<usize, Error>;

    // Users and groups.

    /// Creates a resource with a fresh id ([`crate::resource_id`]), version 1.
    /// [`Error::Quota`] when the tenant holds its quota, [`Error::Conflict`] when a key is taken,
    /// [`Error::NotFound`] for an unknown tenant.
    fn insert(
        &mut self,
        tenant: TenantKey,
        kind: ResourceKind,
        keys: &Keys,
        attrs: &Map<String, Value>,
        now: i64,
    ) -> Result<Stored, Error>;
    /// Replaces a resource's keys and attributes, one version more.
    /// [`Error::NotFound`] if unknown, [`Error::Conflict`] when a key is taken.
    fn replace(
        &mut self,
        tenant: TenantKey,
        kind: ResourceKind,
        id: &str,
        keys: &Keys,
        attrs: &Map<String, Value>,
        now: i64,
    ) -> Result<Stored, Error>;
    /// Marks a resource changed (one version more) without changing its attributes; returns it
    /// as it now is. [`Error::NotFound`] if unknown.
    fn touch(&mut self, tenant: TenantKey, kind: ResourceKind, id: &str, now: i64) -> Result<Stored, Error>;
    /// Marks a resource changed as [`Writer::touch`] does, for a caller that needs nothing
    /// back: the backend may hold the statement back until the job commits, so that the row,
    /// which concurrent writers of the resource wait for, is held for the shortest time. A
    /// resource gone by then is left alone, without an error.
    fn touch_later(&mut self, tenant: TenantKey, kind: ResourceKind, id: &str, now: i64) -> Result<(), Error>;
    /// Deletes a resource and its memberships; [`Error::NotFound`] if unknown.
    fn delete(&mut self, tenant: TenantKey, kind: ResourceKind, id: &str) -> Result<(), Error>;
    /// Reads a resource and holds it against concurrent writers until the job ends: what a
    /// read-modify-write (a PATCH) reads first. `None` if unknown.
    fn get_for_update(&mut self, tenant: TenantKey, kind: ResourceKind, id: &str) -> Result<Option<Stored>, Error>;

    // Memberships.

    /// Adds members to a group, skipping ids already members; returns how many were added.
    /// Members are users of the tenant, and its groups too when `nested`. [`Error::NotFound`]
    /// for an unknown group; [`Error::NoSuchMember`] with the first id that is not an allowed
    /// member and [`Error::MemberCycle`] with the first group that contains the target group (or
    /// is it): then nothing is added. One indexed write per added member, whatever the group's
    /// size.
    fn add_members(&mut self, tenant: TenantKey, group_id: &str, ids: &[String], nested: bool) -> Result<usize, Error>;
    /// Removes members from a group, ignoring ids that are not members; returns how many went.
    /// [`Error::NotFound`] for an unknown group.
    fn remove_members(&mut self, tenant: TenantKey, group_id: &str, ids: &[String]) -> Result<usize, Error>;

    // Moving a tenant.

    /// Adds a tenant as exported (its id, name, profile, creation time, quotas and rate limit);
    /// [`Error::TenantExists`] if the id is taken.
    fn import_tenant(&mut self, tenant: &Tenant) -> Result<TenantKey, Error>;
    /// Adds a resource as exported, keys and versions included; returns its internal number for
    /// [`Writer::import_member`]. Fails if the id is used anywhere in the database or a key is
    /// taken.
    fn import_resource(&mut self, tenant: TenantKey, resource: &Exported) -> Result<i64, Error>;
    /// Adds a membership between two resources numbered by [`Writer::import_resource`].
    fn import_member(&mut self, group: i64, member: i64) -> Result<(), Error>;
}

/// A resource as a tenant export carries it: the row, keys and versions included.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    /// User or group.
    pub kind: ResourceKind,
    /// Its id.
    pub id: String,
    /// The lowercased name key.
    pub name_key: String,
    /// The externalId, if any.
    pub external_id: Option<String>,
    /// The lowercased primary email, if any.
    pub email_key: Option<String>,
    /// Creation time.
    pub created: i64,
    /// Last change.
    pub modified: i64,
    /// Version (1 at creation).
    pub version: i64,
    /// The attributes.
    pub attrs: Map<String, Value>,
}
