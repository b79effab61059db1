//! [`Store`]: the façade the server holds, over whichever [`Backend`] the database is.
//!
//! It turns the caller's typed closures into the backend's object-safe jobs, and adds the small
//! conveniences (one read or one write) the command line and the server use for control data.

use std::fmt;
use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex, PoisonError};

use crate::contract::{Backend, Reader, WriteJob, Writer};
use crate::{
    AccessKeyRecord, AdminAction, AdminTokenRecord, CommitSnapshot, Error, Moved, RateLimit, Retention, Tenant,
    TenantKey, TokenRecord, transfer,
};

/// The store: every tenant's directory, in SQLite ([`Store::open`]) or another [`Backend`]
/// ([`Store::new`]).
///
/// `Store` is `Send + Sync` and not `Clone`: share it as `Arc<Store>`. Dropping it (or calling
/// [`Store::close`]) lets the backend finish every write already queued.
pub struct Store {
    backend: Box<dyn Backend>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish()
    }
}

impl Store {
    /// A store over `backend`.
    pub fn new(backend: impl Backend) -> Store {
        Store { backend: Box::new(backend) }
    }

    /// Runs `f` on one consistent snapshot of the last committed state.
    ///
    /// Runs on the caller's thread; it never waits on writers (only on the backend's pool of
    /// connections).
    pub fn read<T, E: From<Error>>(&self, f: impl FnOnce(&dyn Reader) -> Result<T, E>) -> Result<T, E> {
        let mut f = Some(f);
        let mut out = None;
        self.backend.read(&mut |r| {
            if let Some(f) = f.take() {
                out = Some(f(r));
            }
            Ok(())
        })?;
        out.unwrap_or_else(|| Err(E::from(Error::Closed)))
    }

    /// Runs `f` in a write transaction and returns once it is committed.
    ///
    /// If `f` returns `Err`, everything it wrote is rolled back and its error returned. If `f`
    /// panics, its writes are rolled back and the panic resumes on the caller's thread. If the
    /// commit fails, the backend's error is returned and nothing of `f` is kept. Calling `write`
    /// from inside a job returns [`Error::Nested`] (SQLite) or waits on a second connection
    /// (PostgreSQL): don't.
    pub fn write<T, E>(&self, f: impl FnOnce(&mut dyn Writer) -> Result<T, E> + Send + 'static) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        self.submit(|job| self.backend.write(job), f)
    }

    /// [`Store::write`] for a job that writes the tenant's resource `id`: jobs on one busy
    /// resource may share a transaction and its commit (see [`Backend::write_on`]).
    pub fn write_on<T, E>(
        &self,
        tenant: TenantKey,
        id: &str,
        f: impl FnOnce(&mut dyn Writer) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        self.submit(|job| self.backend.write_on(tenant, id, job), f)
    }

    /// Wraps `f` into a job, hands it to `submit`, and tells its outcome.
    fn submit<T, E>(
        &self,
        submit: impl FnOnce(WriteJob) -> Result<(), Error>,
        f: impl FnOnce(&mut dyn Writer) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        let slot: Arc<Mutex<Option<Result<T, E>>>> = Arc::new(Mutex::new(None));
        let filled = Arc::clone(&slot);
        let committed = submit(Box::new(move |w| {
            let result = f(w);
            let keep = result.is_ok();
            *filled.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
            keep
        }));
        let outcome = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
        match (outcome, committed) {
            // The job's own failure stands: it was rolled back whatever became of the commit.
            (Some(Err(e)), _) => Err(e),
            (_, Err(e)) => Err(E::from(e)),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (None, Ok(())) => Err(E::from(Error::Closed)),
        }
    }

    /// A number that changes whenever control data (tenants, tokens, keys, quotas) changes,
    /// whoever changed it; see [`Backend::data_version`].
    pub fn data_version(&self) -> Result<i64, Error> {
        self.backend.data_version()
    }

    /// The resources `keys` name, in one snapshot; see [`Backend::get_texts`].
    pub fn get_texts(
        &self,
        keys: &[(TenantKey, scim_schema::ResourceKind, &str)],
    ) -> Result<Vec<Option<crate::Stored<String>>>, Error> {
        self.backend.get_texts(keys)
    }

    /// How many gathered reads by id to run at once; see [`Backend::gather_width`].
    pub fn gather_width(&self) -> usize {
        self.backend.gather_width()
    }

    /// The backend's write queue and batch sizes so far.
    pub fn commit_stats(&self) -> CommitSnapshot {
        self.backend.commit_stats()
    }

    /// Where the data lives, without secrets.
    pub fn location(&self) -> String {
        self.backend.location()
    }

    /// Finishes every queued write and closes the database.
    ///
    /// Dropping the store does the same; this also says whether it ended well.
    pub fn close(self) -> Result<(), Error> {
        self.backend.close()
    }

    // One-call conveniences.

    /// Creates a tenant; see [`Writer::create_tenant`].
    pub fn create_tenant(&self, name: Option<&str>, profile: &str) -> Result<Tenant, Error> {
        let (name, profile) = (name.map(str::to_owned), profile.to_owned());
        self.write(move |w| w.create_tenant(name.as_deref(), &profile))
    }

    /// Every tenant, in creation order.
    pub fn tenants(&self) -> Result<Vec<Tenant>, Error> {
        self.read(|r| r.tenants())
    }

    /// The tenant with public id `id`, if any.
    pub fn tenant(&self, id: &str) -> Result<Option<Tenant>, Error> {
        self.read(|r| r.tenant(id))
    }

    /// Deletes a tenant and everything it holds; see [`Writer::delete_tenant`].
    pub fn delete_tenant(&self, id: &str) -> Result<(), Error> {
        let id = id.to_owned();
        self.write(move |w| w.delete_tenant(&id))
    }

    /// Changes a tenant's profile; see [`Writer::set_profile`].
    pub fn set_profile(&self, id: &str, profile: &str) -> Result<(), Error> {
        let (id, profile) = (id.to_owned(), profile.to_owned());
        self.write(move |w| w.set_profile(&id, &profile))
    }

    /// Sets or clears a tenant's rate limit; see [`Writer::set_rate_limit`].
    pub fn set_rate_limit(&self, id: &str, limit: Option<RateLimit>) -> Result<(), Error> {
        let id = id.to_owned();
        self.write(move |w| w.set_rate_limit(&id, limit))
    }

    /// Sets a tenant's quotas; see [`Writer::set_quota`].
    pub fn set_quota(&self, id: &str, max_users: i64, max_groups: i64) -> Result<(), Error> {
        let id = id.to_owned();
        self.write(move |w| w.set_quota(&id, max_users, max_groups))
    }

    /// Records a token; see [`Writer::add_token`].
    pub fn add_token(&self, record: &TokenRecord) -> Result<(), Error> {
        let record = record.clone();
        self.write(move |w| w.add_token(&record))
    }

    /// The tenant's token records, oldest first.
    pub fn tokens(&self, tenant_id: &str) -> Result<Vec<TokenRecord>, Error> {
        self.read(|r| r.tokens(tenant_id))
    }

    /// Every tenant's token records.
    pub fn all_tokens(&self) -> Result<Vec<TokenRecord>, Error> {
        self.read(|r| r.all_tokens())
    }

    /// Deletes a token; see [`Writer::delete_token`].
    pub fn delete_token(&self, tenant_id: &str, token_id: &str) -> Result<(), Error> {
        let (tenant_id, token_id) = (tenant_id.to_owned(), token_id.to_owned());
        self.write(move |w| w.delete_token(&tenant_id, &token_id))
    }

    /// Records an access key; see [`Writer::add_access_key`].
    pub fn add_access_key(&self, record: &AccessKeyRecord) -> Result<(), Error> {
        let record = record.clone();
        self.write(move |w| w.add_access_key(&record))
    }

    /// The tenant's access keys, oldest first.
    pub fn access_keys(&self, tenant_id: &str) -> Result<Vec<AccessKeyRecord>, Error> {
        self.read(|r| r.access_keys(tenant_id))
    }

    /// Every tenant's access keys.
    pub fn all_access_keys(&self) -> Result<Vec<AccessKeyRecord>, Error> {
        self.read(|r| r.all_access_keys())
    }

    /// Deletes an access key; see [`Writer::delete_access_key`].
    pub fn delete_access_key(&self, tenant_id: &str, key_id: &str) -> Result<(), Error> {
        let (tenant_id, key_id) = (tenant_id.to_owned(), key_id.to_owned());
        self.write(move |w| w.delete_access_key(&tenant_id, &key_id))
    }

    /// Appends to the administrators' log.
    pub fn record_admin_action(&self, entry: &AdminAction) -> Result<(), Error> {
        let entry = entry.clone();
        self.write(move |w| w.record_admin_action(&entry))
    }

    /// Administrators' tokens, oldest first.
    pub fn admin_tokens(&self) -> Result<Vec<AdminTokenRecord>, Error> {
        self.read(|r| r.admin_tokens())
    }

    /// Records an administrator's token.
    pub fn add_admin_token(&self, record: &AdminTokenRecord) -> Result<(), Error> {
        let record = record.clone();
        self.write(move |w| w.add_admin_token(&record))
    }

    /// Deletes an administrator's token; see [`Writer::delete_admin_token`].
    pub fn delete_admin_token(&self, id: &str) -> Result<(), Error> {
        let id = id.to_owned();
        self.write(move |w| w.delete_admin_token(&id))
    }

    /// Removes the audit rows `retention` no longer keeps, as of `now` (unix milliseconds), for
    /// every tenant; returns how many rows went.
    ///
    /// At most `budget` rows go per call, oldest first, so one call never holds the writer long:
    /// the server calls it every few seconds until nothing is left to remove. Finding where each
    /// tenant's newest `max_rows` begin walks that many index entries, so it is done on a reader,
    /// and the writer only deletes below the places found (rows added since are newer, so they
    /// are never among those removed).
    pub fn prune_audit(&self, retention: Retention, now: i64, budget: usize) -> Result<usize, Error> {
        let overflowing = self.read(|r| r.audit_overflow(retention.max_rows))?;
        self.write(move |w| w.prune_audit(now.saturating_sub(retention.max_age_millis), budget, &overflowing))
    }

    /// Writes tenant `tenant_id` to `out` from one snapshot, as JSON lines: the format line, the
    /// tenant, its attributes for access control, its users and groups in creation order, its
    /// memberships. [`Error::NotFound`] for an unknown tenant.
    pub fn export_tenant(&self, tenant_id: &str, out: &mut dyn Write) -> Result<Moved, Error> {
        self.read(|r| transfer::export(r, tenant_id, out))
    }

    /// Adds the tenant exported in `input`, all or nothing, with its ids, timestamps, resources,
    /// memberships, quotas, rate limit and attributes for access control. Returns the tenant's
    /// id and what was added.
    ///
    /// Any error ([`Error::Import`] naming the line, [`Error::TenantExists`], a resource id
    /// another tenant holds) leaves the database as it was.
    pub fn import_tenant(&self, mut input: impl BufRead + Send + 'static) -> Result<(String, Moved), Error> {
        self.write(move |w| transfer::import(w, &mut input))
    }
}
