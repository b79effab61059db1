//! The PostgreSQL backend of a SCIM 2.0 service provider.
//!
//! `scim-store-pg` implements the [`scim_store::Backend`] contract on a PostgreSQL database, so
//! that any number of server processes on one database are one service. It holds the same
//! tables as the SQLite store (tenants, tokens, access keys, administrators' tokens and trail,
//! users and groups with their key columns, membership rows, the audit log), keeps the same
//! rules (keys lowercased by Rust, never by a collation; two tokens per tenant; quotas), and
//! answers with the same [`scim_store::Error`]s, so the server cannot tell the two apart except
//! by [`Backend::location`].
//!
//! It needs PostgreSQL 13 or newer and a role that may create tables and functions in the
//! database's default schema, for the migrations.
//!
//! It is blocking, like the contract: the server calls it from its store threads. Each pooled
//! connection is a `link`: `tokio-postgres` driven on the calling thread by a small runtime of
//! its own, which pipelines a transaction's `BEGIN` with its first statement; a read snapshot is
//! ended by the next transaction's `BEGIN` on its connection, in the same flight, so a read by
//! id is one round trip and one wake-up of the database. A pool of its own (`pool`) hands
//! connections out with bounded waits.
//!
//! # The decision a reader would question
//!
//! **No writer thread; the database serialises.** The SQLite store funnels every write through
//! one thread because SQLite has one writer. PostgreSQL has many, and several processes share
//! it, so an in-process queue would serialise nothing that matters. Each write job runs in its
//! own `READ COMMITTED` transaction on a pooled connection, and the rules that SQLite gets from
//! running jobs one at a time come from the database instead:
//! - uniqueness from `UNIQUE` indexes on the key columns (a concurrent identical create waits
//!   for the first one's commit, then conflicts);
//! - quotas from a count split over sixteen shard rows per tenant and kind, updated in the
//!   insert's transaction: far from the quota an insert takes a shard no one holds and checks
//!   the sum with a margin for the other shards' inserts in flight, near it an insert locks
//!   every shard and counts exactly; so concurrent inserts of one tenant commit side by side
//!   (one counter row would make each wait for the previous one's WAL flush) and the quota is
//!   never passed;
//! - read-modify-write from [`Writer::get_for_update`](scim_store::contract::Writer::get_for_update),
//!   a `SELECT … FOR UPDATE` that holds the row until the job commits.
//!
//! One exception queues in the process: jobs on one resource
//! ([`Backend::write_on`](scim_store::Backend::write_on), a group's PATCH). A member change
//! bumps the group's version, which holds its row until the commit is durable, so adds to one
//! busy group would commit one at a time; instead the jobs that wait while one runs are run
//! next as one transaction, a savepoint each, and share its commit (`batch`).
//!
//! Reads run in a `REPEATABLE READ READ ONLY` transaction: one snapshot per job.
//!
//! # Failures
//!
//! A database that is stopped, restarting or unreachable answers [`Error::Unavailable`] within
//! a few seconds (connect timeout 2 s, pool wait 3 s, TCP user timeout and keepalives, a 30 s
//! `statement_timeout`), never a hang: the server turns it into `503` with `Retry-After`. A
//! broken connection is dropped when it goes back to the pool and the next checkout connects
//! anew, so the backend recovers by itself once the database is back.
//!
//! # Control data on every replica
//!
//! Tenants, tokens, access keys, administrators' tokens, quotas, rate limits, profiles and
//! access control are cached by each server process. Every write to them bumps a counter row
//! (`control_version`) by trigger, in the same transaction, and sends `NOTIFY scim_control`; a
//! listening connection on its own thread moves [`Backend::data_version`]
//! on each notification, and `data_version` also reads the counter row itself (one indexed
//! single-row `SELECT`) whenever the listener is down, so a change is seen within one poll
//! whatever happens to the listener (`watch`).
//!
//! # Listing
//!
//! Listing ([`query`]) answers every filter of the rfc profile in one SQL statement over the
//! jsonb attributes ([`filter_sql`]), with the SQLite backend's meaning: both run the same
//! agreement suite against the in-memory evaluator. The index and the case-folding function
//! listing needs are in `schema_list.sql`, applied by the migrations.
#![deny(missing_docs)]

mod access;
mod audit;
mod batch;
mod credentials;
mod error;
mod filter_sql;
mod link;
mod members;
mod migrations;
mod params;
mod pool;
mod query;
mod resources;
mod schema;
mod session;
mod tenants;
mod tls;
mod transfer;
mod watch;

#[cfg(test)]
#[path = "../../scim-store/tests/agreement/mod.rs"]
mod agreement;
#[cfg(test)]
mod testdb;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

use scim_store::contract::{Backend, Reader, WriteJob};
use scim_store::{CommitSnapshot, CommitStats, Error, Options, TenantKey};

pub use migrations::SCHEMA_VERSION;
use pool::{Pool, Settings};
use session::Session;
use watch::Watch;

/// Connections for concurrent write jobs, beyond the readers': PostgreSQL commits concurrent
/// transactions together (one WAL flush for several), so writes gain from running side by side,
/// while the server's write threads beyond this many wait for a connection (at most 3 s).
pub const WRITE_CONNECTIONS: usize = 16;

/// The PostgreSQL [`Backend`]: a pool of connections to one database and the control watch.
pub struct Postgres {
    pool: Arc<Pool>,
    watch: Watch,
    lines: batch::Lines,
    stats: CommitStats,
    location: String,
    /// See [`Backend::gather_width`].
    gather_width: usize,
}

impl fmt::Debug for Postgres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Postgres").field("location", &self.location).finish_non_exhaustive()
    }
}

/// Connects to the database at `url` (libpq URL or key/value form), migrates it, and starts the
/// control watch.
///
/// At most `options.readers` + [`WRITE_CONNECTIONS`] connections are open at once, plus the
/// listener's. [`Error::TooNew`]
/// when the database was migrated by a newer version (it is left untouched),
/// [`Error::Unavailable`] when it cannot be reached in time, [`Error::Backend`] for a URL that
/// is not a PostgreSQL connection string.
pub fn connect(url: &str, options: &Options) -> Result<Postgres, Error> {
    let settings = Settings::parse(url)?;
    let location = settings.location();
    let pool = Arc::new(Pool::new(settings.clone(), options.readers.max(1) + WRITE_CONNECTIONS));
    migrations::migrate(&mut settings.connect()?)?;
    let watch = Watch::start(settings, pool.clone())?;
    // Made once per process: the first filter that folds case should not pay for them.
    filter_sql::fold_tables();
    tracing::debug!(%location, "opened the PostgreSQL store");
    // One batch out per two cores: measured on two cores, one gave 49,700 reads by id a second
    // and two 38,300 (each batch smaller, so more round trips for the same reads); see
    // docs/BENCHMARKS.md. Asked once: the answer reads cgroup files.
    let gather_width = std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1));
    Ok(Postgres { pool, watch, lines: batch::Lines::default(), stats: CommitStats::default(), location, gather_width })
}

impl Backend for Postgres {
    fn read(&self, job: &mut dyn FnMut(&dyn Reader) -> Result<(), Error>) -> Result<(), Error> {
        self.pool.with(|conn| {
            let session = Session::begin(conn, true);
            let result = job(&session);
            // The snapshot wrote nothing: ending it cannot lose anything, and a connection whose
            // end fails is dropped by the pool.
            if let Err(e) = session.finish(false) {
                tracing::debug!(error = %e, "ending a read snapshot failed");
            }
            result
        })
    }

    fn write(&self, job: WriteJob) -> Result<(), Error> {
        self.stats.record_batch(1);
        self.pool.with(|conn| {
            let mut session = Session::begin(conn, false);
            let keep = job(&mut session);
            session.finish(keep)
        })
    }

    fn write_on(&self, tenant: TenantKey, id: &str, job: WriteJob) -> Result<(), Error> {
        self.lines.write(&self.pool, &self.stats, tenant, id, job)
    }

    fn gather_width(&self) -> usize {
        self.gather_width
    }

    fn data_version(&self) -> Result<i64, Error> {
        self.watch.version(&self.pool)
    }

    /// A write is a batch of one job, and jobs on one busy resource form larger ones (`batch`).
    fn commit_stats(&self) -> CommitSnapshot {
        self.stats.snapshot()
    }

    fn close(self: Box<Self>) -> Result<(), Error> {
        self.watch.stop();
        Ok(())
    }

    fn location(&self) -> String {
        self.location.clone()
    }
}
