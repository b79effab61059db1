//! [`Session`]: one job's transaction, and the helpers its statements share.
//!
//! The methods that make up the contract live beside their tables (`tenants.rs`,
//! `resources.rs`, ...); `access.rs` says which of them are the contract's [`Reader`] and
//! [`Writer`]. This file only opens and ends the transaction and runs statements.

use std::borrow::Cow;
use std::cell::{Cell, RefCell, RefMut};
use std::time::Instant;

use postgres::types::{FromSql, ToSql};
use postgres::{Row, Statement};
use scim_store::Error;
use tokio_postgres::Client;

use crate::error::db;
use crate::link::Ahead;
use crate::pool::Conn;

/// Statement parameters.
pub(crate) type Params<'p> = [&'p (dyn ToSql + Sync)];

/// How many statements built at run time a connection keeps prepared.
const BUILT_STATEMENTS: usize = 64;

/// One job's transaction on a pooled connection.
///
/// The transaction's `BEGIN` goes out with its first statement, in one flight (see `link`).
/// A read-only snapshot is not ended when its job is done: its `COMMIT` goes ahead of the next
/// transaction's `BEGIN` on the connection, in the same simple query, or is sent by
/// [`Pool::end_idle_snapshots`](crate::pool::Pool::end_idle_snapshots) once the connection has
/// sat idle. A job that runs one statement thus costs one round trip, and the database one
/// wake-up.
///
/// Reader methods take `&self`, and a statement needs the connection mutably, so it sits in a
/// `RefCell`; a job that re-enters the session from inside an export callback gets an error,
/// never a panic.
pub(crate) struct Session<'a> {
    conn: RefCell<&'a mut Conn>,
    /// The simple statements not sent yet (the `BEGIN`, a batch job's `SAVEPOINT`): they go
    /// with the next statement.
    begin: RefCell<Option<Cow<'static, str>>>,
    /// The connection's open snapshot that this transaction's `BEGIN` ends, if any.
    ends_snapshot: Option<Instant>,
    read_only: bool,
    /// Statements held back to go with the next statement or the commit (see [`Session::defer`]).
    deferred: RefCell<Vec<Deferred>>,
    /// Statements held back to go with the commit only (see [`Session::defer_to_commit`]).
    at_commit: RefCell<Vec<Deferred>>,
    /// How many of `at_commit` were held back before the current batch job's savepoint.
    job_start: Cell<usize>,
}

/// A statement held back, with its parameters.
struct Deferred {
    statement: Statement,
    params: Vec<Box<dyn ToSql + Sync>>,
}

/// What goes ahead of the next request: the `BEGIN` if not sent yet, then the held-back
/// statements, in the order the job made them.
fn ahead<'d>(begin: Option<&'d str>, deferred: &'d [Deferred]) -> Vec<Ahead<'d>> {
    let held = deferred.iter().map(|d| Ahead::Execute(&d.statement, d.params.iter().map(|p| &**p).collect()));
    begin.map(Ahead::Simple).into_iter().chain(held).collect()
}

/// Whether a statement's text is fixed in the code or built at run time.
#[derive(Clone, Copy)]
enum Text<'s> {
    Fixed(&'static str),
    Built(&'s str),
}

impl<'a> Session<'a> {
    /// Starts a `REPEATABLE READ READ ONLY` transaction (one snapshot) when `read_only`, else a
    /// `READ COMMITTED` one; nothing is sent until the first statement.
    pub(crate) fn begin(conn: &'a mut Conn, read_only: bool) -> Session<'a> {
        let ends_snapshot = conn.snapshot.take();
        let begin = match (read_only, ends_snapshot.is_some()) {
            (true, false) => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            (true, true) => "COMMIT; BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            (false, false) => "BEGIN ISOLATION LEVEL READ COMMITTED",
            (false, true) => "COMMIT; BEGIN ISOLATION LEVEL READ COMMITTED",
        };
        Session {
            conn: RefCell::new(conn),
            begin: RefCell::new(Some(Cow::Borrowed(begin))),
            ends_snapshot,
            read_only,
            deferred: RefCell::new(Vec::new()),
            at_commit: RefCell::new(Vec::new()),
            job_start: Cell::new(0),
        }
    }

    /// Commits (`keep`) or rolls back; `Ok` once the commit is durable.
    ///
    /// A commit goes out with the held-back statements, in one flight; if one of them fails,
    /// the transaction is rolled back and that failure returned. A read-only snapshot wrote
    /// nothing, so it is left open, to be ended by whatever next uses the connection: nothing
    /// can be lost.
    pub(crate) fn finish(self, keep: bool) -> Result<(), Error> {
        let Session { conn, begin, ends_snapshot, read_only, deferred, at_commit, .. } = self;
        let (conn, mut deferred, begin) = (conn.into_inner(), deferred.into_inner(), begin.into_inner());
        deferred.extend(at_commit.into_inner());
        match (read_only, keep, begin) {
            // No statement went out: there is no transaction to end, and the snapshot before
            // it is still open. Held-back statements are dropped unsent.
            (true, _, Some(_)) | (false, false, Some(_)) => {
                conn.snapshot = ends_snapshot;
                Ok(())
            }
            (false, true, Some(_)) if deferred.is_empty() => {
                conn.snapshot = ends_snapshot;
                Ok(())
            }
            (true, _, None) => {
                conn.snapshot = Some(Instant::now());
                Ok(())
            }
            (false, false, None) => conn.link.call(&[], |client| client.batch_execute("ROLLBACK")),
            (false, true, begin) => {
                let ahead = ahead(begin.as_deref(), &deferred);
                conn.link.call(&ahead, |client| client.batch_execute("COMMIT"))
            }
        }
    }

    /// Starts the next job of a batch (see `batch`) in a savepoint of its own, which goes out
    /// with the job's first statement.
    pub(crate) fn savepoint(&self) {
        self.job_start.set(self.at_commit.borrow().len());
        let mut begin = self.begin.borrow_mut();
        *begin = Some(match begin.take() {
            Some(before) => Cow::Owned(format!("{before}; SAVEPOINT job")),
            None => Cow::Borrowed("SAVEPOINT job"),
        });
    }

    /// Ends a batch job's savepoint: keeps what the job wrote, its held-back statements going
    /// first in the same flight, or rolls back to the savepoint, dropping them unsent. An
    /// error means the transaction can no longer be trusted: the batch must be abandoned.
    pub(crate) fn end_savepoint(&self, keep: bool) -> Result<(), Error> {
        let mut conn = self.conn()?;
        let (begin, mut deferred) = (self.begin.take(), self.deferred.take());
        if !keep {
            deferred.clear();
            self.at_commit.borrow_mut().truncate(self.job_start.get());
        }
        let sql = if keep { "RELEASE job" } else { "ROLLBACK TO job; RELEASE job" };
        conn.link.call(&ahead(begin.as_deref(), &deferred), |client| client.batch_execute(sql))
    }

    /// Holds `sql` back to go out with the job's next statement or its commit, in the same
    /// flight: for a statement whose answer the job does not need (its audit row). If it
    /// fails, the job's commit fails with its error and nothing is kept.
    pub(crate) fn defer(&self, sql: &'static str, params: Vec<Box<dyn ToSql + Sync>>) -> Result<(), Error> {
        let mut conn = self.conn()?;
        let statement = Self::prepared(&mut conn, Text::Fixed(sql))?;
        self.deferred.borrow_mut().push(Deferred { statement, params });
        Ok(())
    }

    /// Holds `sql` back to go out with the commit, after the job's other statements: for a
    /// statement that locks a row others wait for, and whose answer the job does not need. If
    /// it fails, the commit fails with its error and nothing is kept (in a batch: nothing of
    /// any job).
    pub(crate) fn defer_to_commit(&self, sql: &'static str, params: Vec<Box<dyn ToSql + Sync>>) -> Result<(), Error> {
        let mut conn = self.conn()?;
        let statement = Self::prepared(&mut conn, Text::Fixed(sql))?;
        self.at_commit.borrow_mut().push(Deferred { statement, params });
        Ok(())
    }

    /// The connection, for one statement.
    fn conn(&self) -> Result<RefMut<'_, &'a mut Conn>, Error> {
        self.conn
            .try_borrow_mut()
            .map_err(|_| Error::Backend("the session was used from inside its own callback".into()))
    }

    /// The statement of `text`, prepared once per connection (built ones while they fit).
    fn prepared(conn: &mut Conn, text: Text<'_>) -> Result<Statement, Error> {
        let cached = match text {
            Text::Fixed(sql) => conn.statements.get(sql),
            Text::Built(sql) => conn.built.get(sql),
        };
        if let Some(statement) = cached {
            return Ok(statement.clone());
        }
        let sql = match text {
            Text::Fixed(sql) | Text::Built(sql) => sql,
        };
        let statement = conn.link.call(&[], |client| client.prepare(sql))?;
        match text {
            Text::Fixed(sql) => {
                conn.statements.insert(sql, statement.clone());
            }
            Text::Built(sql) => {
                if conn.built.len() >= BUILT_STATEMENTS {
                    conn.built.clear();
                }
                conn.built.insert(sql.to_owned(), statement.clone());
            }
        }
        Ok(statement)
    }

    /// Every row of `text`; the transaction's `BEGIN` (if not sent yet) and the held-back
    /// statements go with it.
    fn query(&self, text: Text<'_>, params: &Params<'_>) -> Result<Vec<Row>, Error> {
        self.run(text, async |client, statement| client.query(statement, params).await)
    }

    /// Runs `work` with the prepared statement of `text`, the `BEGIN` (if not sent yet) and the
    /// held-back statements going ahead of it in one flight.
    fn run<T>(
        &self,
        text: Text<'_>,
        work: impl AsyncFnOnce(&Client, &Statement) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, Error> {
        let mut conn = self.conn()?;
        let statement = Self::prepared(&mut conn, text)?;
        let (begin, deferred) = (self.begin.take(), self.deferred.take());
        let ahead = ahead(begin.as_deref(), &deferred);
        conn.link.call(&ahead, |client| work(client, &statement))
    }

    /// Every row of `sql`, a statement built at run time.
    pub(crate) fn rows_built(&self, sql: &str, params: &Params<'_>) -> Result<Vec<Row>, Error> {
        self.query(Text::Built(sql), params)
    }

    /// Every row of `sql`.
    pub(crate) fn rows(&self, sql: &'static str, params: &Params<'_>) -> Result<Vec<Row>, Error> {
        self.query(Text::Fixed(sql), params)
    }

    /// The one row of `sql`, if any.
    pub(crate) fn row(&self, sql: &'static str, params: &Params<'_>) -> Result<Option<Row>, Error> {
        Ok(self.query(Text::Fixed(sql), params)?.into_iter().next())
    }

    /// Runs `sql`; returns how many rows it changed.
    pub(crate) fn exec(&self, sql: &'static str, params: &Params<'_>) -> Result<u64, Error> {
        self.run(Text::Fixed(sql), async |client, statement| client.execute(statement, params).await)
    }
}

/// Column `i` of `row`.
pub(crate) fn col<'r, T: FromSql<'r>>(row: &'r Row, i: usize) -> Result<T, Error> {
    row.try_get(i).map_err(db)
}

/// A count or size as a statement parameter.
pub(crate) fn int(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A statement's row count as the contract's `usize`.
pub(crate) fn count(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
