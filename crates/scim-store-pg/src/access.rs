//! The contract's [`Reader`] and [`Writer`] on a [`Session`]: which of the methods beside the
//! tables (`tenants.rs`, `resources.rs`, `members.rs`, ...) make up the contract, forwarded one
//! by one.

use scim_schema::ResourceKind;
use scim_store::contract::{Exported, Reader, Writer};
use scim_store::{
    AccessControlAttribute, AccessKeyRecord, AdminAction, AdminTokenRecord, AuditEntry, AuditFilter, Error, Keys,
    Membership, MembershipKey, NewAudit, Page, Query, RateLimit, Stored, Tenant, TenantKey, TokenRecord,
};
use serde_json::{Map, Value};

use crate::session::Session;

impl Reader for Session<'_> {
    fn tenants(&self) -> Result<Vec<Tenant>, Error> {
        Session::tenants(self)
    }
    fn tenant(&self, id: &str) -> Result<Option<Tenant>, Error> {
        Session::tenant(self, id)
    }
    fn tokens(&self, tenant_id: &str) -> Result<Vec<TokenRecord>, Error> {
        Session::tokens(self, tenant_id)
    }
    fn all_tokens(&self) -> Result<Vec<TokenRecord>, Error> {
        Session::all_tokens(self)
    }
    fn access_keys(&self, tenant_id: &str) -> Result<Vec<AccessKeyRecord>, Error> {
        Session::access_keys(self, tenant_id)
    }
    fn all_access_keys(&self) -> Result<Vec<AccessKeyRecord>, Error> {
        Session::all_access_keys(self)
    }
    fn admin_tokens(&self) -> Result<Vec<AdminTokenRecord>, Error> {
        Session::admin_tokens(self)
    }
    fn admin_audit(&self, before: Option<i64>, limit: usize) -> Result<Vec<(i64, AdminAction)>, Error> {
        Session::admin_audit(self, before, limit)
    }
    fn access_control(&self, tenant: TenantKey) -> Result<Vec<AccessControlAttribute>, Error> {
        Session::access_control(self, tenant)
    }
    fn audit(&self, tenant: TenantKey, after: Option<i64>, limit: usize) -> Result<Vec<AuditEntry>, Error> {
        Session::audit(self, tenant, after, limit)
    }
    fn audit_filtered(&self, tenant: TenantKey, filter: &AuditFilter) -> Result<Vec<AuditEntry>, Error> {
        Session::audit_filtered(self, tenant, filter)
    }
    fn audit_overflow(&self, max_rows: u64) -> Result<Vec<(TenantKey, i64)>, Error> {
        Session::audit_overflow(self, max_rows)
    }
    fn get(&self, tenant: TenantKey, kind: ResourceKind, id: &str) -> Result<Option<Stored>, Error> {
        Session::get(self, tenant, kind, id, false)
    }
    fn get_texts(&self, keys: &[(TenantKey, ResourceKind, &str)]) -> Result<Vec<Option<Stored<String>>>, Error> {
        Session::get_texts(self, keys)
    }
    fn exists(&self, tenant: TenantKey, kind: ResourceKind, id: &str) -> Result<bool, Error> {
        Ok(Session::seq_of(self, tenant, kind, id)?.is_some())
    }
    fn list(&self, tenant: TenantKey, kind: ResourceKind, query: &Query) -> Result<Page, Error> {
        crate::query::list(self, tenant, kind, query)
    }
    fn list_text(&self, tenant: TenantKey, kind: ResourceKind, query: &Query) -> Result<Page<String>, Error> {
        crate::query::list(self, tenant, kind, query)
    }
    fn membership_key(
        &self,
        tenant: TenantKey,
        group_id: &str,
        member_id: &str,
    ) -> Result<Option<MembershipKey>, Error> {
        Session::membership_key(self, tenant, group_id, member_id)
    }
    fn membership(&self, tenant: TenantKey, key: MembershipKey) -> Result<Option<(String, String)>, Error> {
        Session::membership(self, tenant, key)
    }
    fn member_ids(&self, tenant: TenantKey, group_id: &str) -> Result<Vec<String>, Error> {
        Session::member_ids(self, tenant, group_id)
    }
    fn members(
        &self,
        tenant: TenantKey,
        group_ids: &[&str],
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Vec<Membership>>, Error> {
        Session::members(self, tenant, group_ids, offset, limit)
    }
    fn member_count(&self, tenant: TenantKey, group_id: &str) -> Result<u64, Error> {
        Session::member_count(self, tenant, group_id)
    }
    fn groups_of(&self, tenant: TenantKey, member_ids: &[&str]) -> Result<Vec<Vec<Membership>>, Error> {
        Session::groups_of(self, tenant, member_ids)
    }
    fn export_resources(
        &self,
        tenant: TenantKey,
        each: &mut dyn FnMut(Exported) -> Result<(), Error>,
    ) -> Result<(), Error> {
        Session::export_resources(self, tenant, each)
    }
    fn export_members(
        &self,
        tenant: TenantKey,
        each: &mut dyn FnMut(&str, &str) -> Result<(), Error>,
    ) -> Result<(), Error> {
        Session::export_members(self, tenant, each)
    }
}

impl Writer for Session<'_> {
    fn create_tenant(&mut self, name: Option<&str>, profile: &str) -> Result<Tenant, Error> {
        Session::create_tenant(self, name, profile)
    }
    fn delete_tenant(&mut self, id: &str) -> Result<(), Error> {
        Session::delete_tenant(self, id)
    }
    fn set_profile(&mut self, id: &str, profile: &str) -> Result<(), Error> {
        Session::set_profile(self, id, profile)
    }
    fn set_rate_limit(&mut self, id: &str, limit: Option<RateLimit>) -> Result<(), Error> {
        Session::set_rate_limit(self, id, limit)
    }
    fn set_quota(&mut self, id: &str, max_users: i64, max_groups: i64) -> Result<(), Error> {
        Session::set_quota(self, id, max_users, max_groups)
    }
    fn add_token(&mut self, record: &TokenRecord) -> Result<(), Error> {
        Session::add_token(self, record)
    }
    fn delete_token(&mut self, tenant_id: &str, token_id: &str) -> Result<(), Error> {
        Session::delete_token(self, tenant_id, token_id)
    }
    fn add_access_key(&mut self, record: &AccessKeyRecord) -> Result<(), Error> {
        Session::add_access_key(self, record)
    }
    fn delete_access_key(&mut self, tenant_id: &str, key_id: &str) -> Result<(), Error> {
        Session::delete_access_key(self, tenant_id, key_id)
    }
    fn add_admin_token(&mut self, record: &AdminTokenRecord) -> Result<(), Error> {
        Session::add_admin_token(self, record)
    }
    fn delete_admin_token(&mut self, id: &str) -> Result<(), Error> {
        Session::delete_admin_token(self, id)
    }
    fn record_admin_action(&mut self, entry: &AdminAction) -> Result<(), Error> {
        Session::record_admin_action(self, entry)
    }
    fn set_access_control(&mut self, tenant: TenantKey, attributes: &[AccessControlAttribute]) -> Result<(), Error> {
        Session::set_access_control(self, tenant, attributes)
    }
    fn record_audit(&mut self, tenant: TenantKey, entry: &NewAudit) -> Result<(), Error> {
        Session::record_audit(self, tenant, entry)
    }
    fn prune_audit(&mut self, cutoff: i64, budget: usize, overflowing: &[(TenantKey, i64)]) -> Result<usize, Error> {
        Session::prune_audit(self, cutoff, budget, overflowing)
    }
    fn insert(
        &mut self,
        tenant: TenantKey,
        kind: ResourceKind,
        keys: &Keys,
        attrs: &Map<String, Value>,
        now: i64,
    ) -> Result<Stored, Error> {
        Session::insert(self, tenant, kind, keys, attrs, now)
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
        Session::replace(self, tenant, kind, id, keys, attrs, now)
    }
    fn touch(&mut self, tenant: TenantKey, kind: ResourceKind, id: &str, now: i64) -> Result<Stored, Error> {
        Session::touch(self, tenant, kind, id, now)
    }
    fn touch_later(&mut self, tenant: TenantKey, kind: ResourceKind, id: &str, now: i64) -> Result<(), Error> {
        Session::touch_later(self, tenant, kind, id, now)
    }
    fn delete(&mut self, tenant: TenantKey, kind: ResourceKind, id: &str) -> Result<(), Error> {
        Session::delete(self, tenant, kind, id)
    }
    /// `SELECT … FOR UPDATE`: the row stays locked until the job's transaction ends, so a
    /// concurrent read-modify-write of the same resource, in any process, waits for this one.
    fn get_for_update(&mut self, tenant: TenantKey, kind: ResourceKind, id: &str) -> Result<Option<Stored>, Error> {
        Session::get(self, tenant, kind, id, true)
    }
    fn add_members(&mut self, tenant: TenantKey, group_id: &str, ids: &[String], nested: bool) -> Result<usize, Error> {
        Session::add_members(self, tenant, group_id, ids, nested)
    }
    fn remove_members(&mut self, tenant: TenantKey, group_id: &str, ids: &[String]) -> Result<usize, Error> {
        Session::remove_members(self, tenant, group_id, ids)
    }
    fn import_tenant(&mut self, tenant: &Tenant) -> Result<TenantKey, Error> {
        Session::import_tenant(self, tenant)
    }
    fn import_resource(&mut self, tenant: TenantKey, resource: &Exported) -> Result<i64, Error> {
        Session::import_resource(self, tenant, resource)
    }
    fn import_member(&mut self, group: i64, member: i64) -> Result<(), Error> {
        Session::import_member(self, group, member)
    }
}
