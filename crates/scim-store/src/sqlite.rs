//! The SQLite [`Backend`]: one writer thread with group commit, a pool of readers, and [`Db`],
//! the connection view that implements [`Reader`] and [`Writer`].
//!
//! The methods [`Db`] forwards to live beside their tables (`tenants.rs`, `resources.rs`, ...);
//! this file only says which of them make up the contract.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::Connection;
use scim_schema::ResourceKind;
use serde_json::{Map, Value};

use crate::commit::Committer;
use crate::contract::{Backend, Exported, Reader, WriteJob, Writer};
use crate::pool::Pool;
use crate::{
    AccessControlAttribute, AccessKeyRecord, AdminAction, AdminTokenRecord, AuditEntry, AuditFilter, CommitSnapshot,
    CommitStats, Error, Keys, Membership, MembershipKey, NewAudit, Options, Page, Query, RateLimit, Store, Stored,
    Tenant, TenantKey, TokenRecord, connection,
};

/// Where [`Store::open_moving_key`] hands a signing key found in an older database: a function
/// that stores it durably (in the key file) or says why it could not.
pub type KeyExport<'a> = dyn FnMut(&[u8]) -> Result<(), String> + 'a;

/// The SQLite backend: one database file, one writer thread, a pool of readers.
struct Sqlite {
    // Dropped first: the writer finishes its queue before the readers close.
    committer: Committer,
    readers: Pool,
    watch: Mutex<Watch>,
    changes: Arc<AtomicI64>,
    stats: Arc<CommitStats>,
    path: PathBuf,
}

/// A connection that only polls `PRAGMA data_version`, and the last value it saw.
#[derive(Debug)]
struct Watch {
    conn: Connection,
    seen: i64,
}

impl fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sqlite").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if need be) the SQLite database at `path`, migrates it, and starts the
    /// writer.
    ///
    /// [`Error::TooNew`] if the file was written by a newer version; it is then left untouched.
    /// [`Error::KeyExport`] if it still holds a signing key (schema version 3 or older): only
    /// [`Store::open_moving_key`] can open that.
    pub fn open(path: &Path, options: Options) -> Result<Store, Error> {
        Store::open_moving_key(path, options, &mut |_| {
            Err("the database holds a signing key and no key file was given to receive it".into())
        })
    }

    /// Opens the SQLite database like [`Store::open`]; if it still holds the token signing key
    /// (schema version 3 and older did), hands the key to `export` first, which must keep it
    /// durably (in the key file), then deletes it from the database, zeroing its page.
    ///
    /// If `export` fails, the open fails with [`Error::KeyExport`] and the database keeps its key.
    /// The database file is made readable by its owner only (`0600`), new or not.
    pub fn open_moving_key(path: &Path, options: Options, export: &mut KeyExport<'_>) -> Result<Store, Error> {
        let writer = connection::open_writer(path, options.durability, export)?;
        let watch = connection::open_reader(path)?;
        let seen = data_version(&watch)?;
        let changes = Arc::new(AtomicI64::new(0));
        let stats = Arc::new(CommitStats::default());
        let committer = Committer::spawn(writer, changes.clone(), Arc::clone(&stats))?;
        tracing::debug!(path = %path.display(), ?options, "opened the store");
        Ok(Store::new(Sqlite {
            committer,
            readers: Pool::new(path.to_owned(), options.readers),
            watch: Mutex::new(Watch { conn: watch, seen }),
            changes,
            stats,
            path: path.to_owned(),
        }))
    }
}

impl Backend for Sqlite {
    fn read(&self, job: &mut dyn FnMut(&dyn Reader) -> Result<(), Error>) -> Result<(), Error> {
        self.readers.with(|conn| {
            connection::exec(conn, "BEGIN")?;
            let result = job(&Db::new(conn));
            // Ending a read-only snapshot cannot lose anything; the pool rolls back if this fails.
            if let Err(e) = connection::exec(conn, "COMMIT") {
                tracing::warn!(error = %e, "ending a read snapshot failed");
            }
            result
        })?
    }

    fn write(&self, job: WriteJob) -> Result<(), Error> {
        self.committer.submit(job)
    }

    /// One `PRAGMA data_version` on a dedicated connection, which changes on every commit by any
    /// other connection, combined with a counter this store's writer bumps on its own commits.
    fn data_version(&self) -> Result<i64, Error> {
        let mut watch = self.watch.lock().unwrap_or_else(PoisonError::into_inner);
        let now = data_version(&watch.conn)?;
        if now != watch.seen {
            watch.seen = now;
            self.changes.fetch_add(1, Ordering::SeqCst);
        }
        Ok(self.changes.load(Ordering::SeqCst))
    }

    fn commit_stats(&self) -> CommitSnapshot {
        self.stats.snapshot()
    }

    fn close(mut self: Box<Self>) -> Result<(), Error> {
        self.committer.shutdown()
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }
}

/// `PRAGMA data_version` of `conn`.
fn data_version(conn: &Connection) -> Result<i64, Error> {
    Ok(conn.prepare_cached("PRAGMA data_version")?.query_row([], |row| row.get(0))?)
}

/// A job's view of one SQLite connection: a reader's snapshot, or the writer inside a job's
/// savepoint (where jobs run one after another, so a read-modify-write cannot lose an update).
#[derive(Debug)]
pub(crate) struct Db<'a> {
    pub(crate) conn: &'a Connection,
}

impl<'a> Db<'a> {
    /// A view through `conn`.
    pub(crate) fn new(conn: &'a Connection) -> Db<'a> {
        Db { conn }
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
    fn exists(&self, tenant: TenantKey, kind: ResourceKind, id: &str) -> Result<bool, Error> {
        Db::exists(self, tenant, kind, id)
    }
    fn list(&self, tenant: TenantKey, kind: ResourceKind, query: &Query) -> Result<Page, Error> {
        Db::list(self, tenant, kind, query)
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
    fn touch(&mut self, tenant: TenantKey, kind: ResourceKind, id: &str, now: i64) -> Result<(), Error> {
        Db::touch(self, tenant, kind, id, now)
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
