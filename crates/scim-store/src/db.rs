//! [`Db`]: a job's view of one SQLite connection, and which of the methods beside the tables
//! (`tenants.rs`, `resources.rs`, ...) make up the contract's [`Reader`] and [`Writer`].

use rusqlite::Connection;
use scim_schema::ResourceKind;
use serde_json::{Map, Value};

use crate::contract::{Exported, Reader, Writer};
use crate::hints::Hints;
use crate::{
    AccessControlAttribute, AccessKeyRecord, AdminAction, AdminTokenRecord, AuditEntry, AuditFilter, Error, Keys,
    Membership, MembershipKey, NewAudit, Page, Query, RateLimit, Stored, Tenant, TenantKey, TokenRecord,
};

/// A job's view of one SQLite connection: a reader's snapshot, or the writer inside a job's
/// savepoint (where jobs run one after another, so a read-modify-write cannot lose an update).
#[derive(Debug)]
pub(crate) struct Db<'a> {
    pub(crate) conn: &'a Connection,
    /// Where rows are, to read by id or name without their index, and to note where rows went.
    pub(crate) hints: &'a Hints,
}

impl<'a> Db<'a> {
    /// A view through `conn` that uses and keeps `hints`.
    pub(crate) fn new(conn: &'a Connection, hints: &'a Hints) -> Db<'a> {
        Db { conn, hints }
    }

    /// The connection.
    pub(crate) fn conn(&self) -> &'a Connection {
        self.conn
    }
}

impl Reader for Db<'_> {
    fn tenants(&self) -> Result<Vec<Tenant>, Error> {
        Db::tenants(self)
    }
    fn tenant(&self, id: &str) -> Result<Option<Tenant>, Error> {
        Db::tenant(self, id)
    }
    fn tokens(&self, tenant_id: &str) -> Result<Vec<TokenRecord>, Error> {
        Db::tokens(self, tenant_id)
    }
    fn all_tokens(&self) -> Result<Vec<TokenRecord>, Error> {
        Db::all_tokens(self)
    }
    fn access_keys(&self, tenant_id: &str) -> Result<Vec<AccessKeyRecord>, Error> {
        Db::access_keys(self, tenant_id)
    }
    fn all_access_keys(&self) -> Result<Vec<AccessKeyRecord>, Error> {
        Db::all_access_keys(self)
    }
    fn admin_tokens(&self) -> Result<Vec<AdminTokenRecord>, Error> {
        Db::admin_tokens(self)
    }
    fn admin_audit(&self, before: Option<i64>, limit: usize) -> Result<Vec<(i64, AdminAction)>, Error> {
        Db::admin_audit(self, before, limit)
    }
    fn access_control(&self, tenant: TenantKey) -> Result<Vec<AccessControlAttribute>, Error> {
        Db::access_control(self, tenant)
    }
    fn audit(&self, tenant: TenantKey, after: Option<i64>, limit: usize) -> Result<Vec<AuditEntry>, Error> {
        Db::audit(self, tenant, after, limit)
    }
    fn audit_filtered(&self, tenant: TenantKey, filter: &AuditFilter) -> Result<Vec<AuditEntry>, Error> {
        Db::audit_filtered(self, tenant, filter)
    }
    fn audit_overflow(&self, max_rows: u64) -> Result<Vec<(TenantKey, i64)>, Error> {
        Db::audit_overflow(self, max_rows)
    }
    fn get(&self, tenant: TenantKey, kind: ResourceKind, id: &str) -> Result<Option<Stored>, Error> {
        Db::get(self, tenant, kind, id)
    }
    fn get_text(&self, tenant: TenantKey, kind: ResourceKind, id: &str) -> Result<Option<Stored<String>>, Error> {
        Db::get_text(self, tenant, kind, id)
    }
    fn exists(&self, tenant: TenantKey, kind: ResourceKind, id: &str) -> Result<bool, Error> {
        Db::exists(self, tenant, kind, id)
    }
    fn list(&self, tenant: TenantKey, kind: ResourceKind, query: &Query) -> Result<Page, Error> {
        Db::list(self, tenant, kind, query)
    }
    fn list_text(&self, tenant: TenantKey, kind: ResourceKind, query: &Query) -> Result<Page<String>, Error> {
        Db::list_text(self, tenant, kind, query)
    }
    fn membership_key(
        &self,
        tenant: TenantKey,
        group_id: &str,
        member_id: &str,
    ) -> Result<Option<MembershipKey>, Error> {
        Db::membership_key(self, tenant, group_id, member_id)
    }
    fn membership(&self, tenant: TenantKey, key: MembershipKey) -> Result<Option<(String, String)>, Error> {
        Db::membership(self, tenant, key)
    }
    fn member_ids(&self, tenant: TenantKey, group_id: &str) -> Result<Vec<String>, Error> {
        Db::member_ids(self, tenant, group_id)
    }
    fn members(
        &self,
        tenant: TenantKey,
        group_ids: &[&str],
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Vec<Membership>>, Error> {
        Db::members(self, tenant, group_ids, offset, limit)
    }
    fn member_count(&self, tenant: TenantKey, group_id: &str) -> Result<u64, Error> {
        Db::member_count(self, tenant, group_id)
    }
    fn groups_of(&self, tenant: TenantKey, member_ids: &[&str]) -> Result<Vec<Vec<Membership>>, Error> {
        Db::groups_of(self, tenant, member_ids)
    }
    fn export_resources(
        &self,
        tenant: TenantKey,
        each: &mut dyn FnMut(Exported) -> Result<(), Error>,
    ) -> Result<(), Error> {
        Db::export_resources(self, tenant, each)
    }
    fn export_members(
        &self,
        tenant: TenantKey,
        each: &mut dyn FnMut(&str, &str) -> Result<(), Error>,
    ) -> Result<(), Error> {
        Db::export_members(self, tenant, each)
    }
}

impl Writer for Db<'_> {
    fn create_tenant(&mut self, name: Option<&str>, profile: &str) -> Result<Tenant, Error> {
        Db::create_tenant(self, name, profile)
    }
    fn delete_tenant(&mut self, id: &str) -> Result<(), Error> {
        Db::delete_tenant(self, id)
    }
    fn set_profile(&mut self, id: &str, profile: &str) -> Result<(), Error> {
        Db::set_profile(self, id, profile)
    }
    fn set_rate_limit(&mut self, id: &str, limit: Option<RateLimit>) -> Result<(), Error> {
        Db::set_rate_limit(self, id, limit)
    }
    fn set_quota(&mut self, id: &str, max_users: i64, max_groups: i64) -> Result<(), Error> {
        Db::set_quota(self, id, max_users, max_groups)
    }
    fn add_token(&mut self, record: &TokenRecord) -> Result<(), Error> {
        Db::add_token(self, record)
    }
    fn delete_token(&mut self, tenant_id: &str, token_id: &str) -> Result<(), Error> {
        Db::delete_token(self, tenant_id, token_id)
    }
    fn add_access_key(&mut self, record: &AccessKeyRecord) -> Result<(), Error> {
        Db::add_access_key(self, record)
    }
    fn delete_access_key(&mut self, tenant_id: &str, key_id: &str) -> Result<(), Error> {
        Db::delete_access_key(self, tenant_id, key_id)
    }
    fn add_admin_token(&mut self, record: &AdminTokenRecord) -> Result<(), Error> {
        Db::add_admin_token(self, record)
    }
    fn delete_admin_token(&mut self, id: &str) -> Result<(), Error> {
        Db::delete_admin_token(self, id)
    }
    fn record_admin_action(&mut self, entry: &AdminAction) -> Result<(), Error> {
        Db::record_admin_action(self, entry)
    }
    fn set_access_control(&mut self, tenant: TenantKey, attributes: &[AccessControlAttribute]) -> Result<(), Error> {
        Db::set_access_control(self, tenant, attributes)
    }
    fn record_audit(&mut self, tenant: TenantKey, entry: &NewAudit) -> Result<(), Error> {
        Db::record_audit(self, tenant, entry)
    }
    fn prune_audit(&mut self, cutoff: i64, budget: usize, overflowing: &[(TenantKey, i64)]) -> Result<usize, Error> {
        Db::prune_audit(self, cutoff, budget, overflowing)
    }
    fn insert(
        &mut self,
        tenant: TenantKey,
        kind: ResourceKind,
        keys: &Keys,
        attrs: &Map<String, Value>,
        now: i64,
    ) -> Result<Stored, Error> {
        Db::insert(self, tenant, kind, keys, attrs, now)
    }
    fn replace(
        &mut self,
        tenant: TenantKey,
        kind: ResourceKind,
        id: &str,
        keys: &Keys,
        attrs: &Map<String, Value>,
        now: i64,
    ) -> Result<Stored, Error> {
        Db::replace(self, tenant, kind, id, keys, attrs, now)
    }
    fn touch(&mut self, tenant: TenantKey, kind: ResourceKind, id: &str, now: i64) -> Result<Stored, Error> {
        Db::touch(self, tenant, kind, id, now)
    }
    fn touch_later(&mut self, tenant: TenantKey, kind: ResourceKind, id: &str, now: i64) -> Result<(), Error> {
        Db::touch_later(self, tenant, kind, id, now)
    }
    fn delete(&mut self, tenant: TenantKey, kind: ResourceKind, id: &str) -> Result<(), Error> {
        Db::delete(self, tenant, kind, id)
    }
    /// The writer thread runs one job at a time, so a plain read already holds the row.
    fn get_for_update(&mut self, tenant: TenantKey, kind: ResourceKind, id: &str) -> Result<Option<Stored>, Error> {
        Db::get(self, tenant, kind, id)
    }
    fn add_members(&mut self, tenant: TenantKey, group_id: &str, ids: &[String], nested: bool) -> Result<usize, Error> {
        Db::add_members(self, tenant, group_id, ids, nested)
    }
    fn remove_members(&mut self, tenant: TenantKey, group_id: &str, ids: &[String]) -> Result<usize, Error> {
        Db::remove_members(self, tenant, group_id, ids)
    }
    fn import_tenant(&mut self, tenant: &Tenant) -> Result<TenantKey, Error> {
        Db::import_tenant(self, tenant)
    }
    fn import_resource(&mut self, tenant: TenantKey, resource: &Exported) -> Result<i64, Error> {
        Db::import_resource(self, tenant, resource)
    }
    fn import_member(&mut self, group: i64, member: i64) -> Result<(), Error> {
        Db::import_member(self, group, member)
    }
}
