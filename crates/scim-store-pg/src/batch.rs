//! [`Lines`]: write jobs on one busy resource share a transaction and its commit.
//!
//! A job that changes a group's members bumps the group's version, and on PostgreSQL that row
//! stays locked until the job's commit is durable. Adds to one group from many clients thus
//! queued on that row, each waiting for the one before it to flush the WAL: 500 adds a second
//! to the group of every user against 1,600 to groups of ten, whatever the group's size.
//!
//! Jobs given a resource ([`Backend::write_on`](scim_store::Backend::write_on)) form a line per
//! resource instead. The first job of an empty line runs at once, alone, as any write does.
//! Jobs that arrive while it runs wait in the line; when it is done, its thread hands the
//! waiting jobs (up to [`MAX_BATCH`]) to the first of them, whose thread runs them in one
//! transaction, one after another, each in a savepoint of its own, then commits once and
//! answers each, and so on until the line is empty. So at most one transaction per resource
//! runs at a time in this process, and under load its commit serves a whole batch, as the
//! SQLite store's group commit does. A job whose savepoint is rolled back (it failed, or
//! panicked) leaves the others' writes alone; if the transaction fails, every job in it fails
//! and nothing of any is kept.
//!
//! Savepoints are subtransactions: a transaction with more than 64 that wrote makes every
//! other snapshot in the database consult `pg_subtrans`, so a batch holds at most
//! [`MAX_BATCH`] jobs.

use std::any::Any;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Mutex, MutexGuard, PoisonError};

use scim_store::{CommitStats, Error, TenantKey, WriteJob};

use crate::pool::Pool;
use crate::session::Session;

/// The most jobs one transaction takes (see the module's docs).
pub(crate) const MAX_BATCH: usize = 32;

/// The lines of jobs waiting for their resource, by tenant and resource id; a resource is
/// here only while a transaction on it runs.
#[derive(Debug, Default)]
pub(crate) struct Lines {
    waiting: Mutex<HashMap<(TenantKey, String), Vec<Queued>>>,
}

/// A job waiting in a line, and where to tell its thread what became of it.
struct Queued {
    job: WriteJob,
    turn: Sender<Turn>,
}

impl std::fmt::Debug for Queued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queued").finish_non_exhaustive()
    }
}

/// What a waiting job's thread is told.
enum Turn {
    /// The job ran and its transaction ended: committed, or failed with this error.
    Done(Result<(), Error>),
    /// The job panicked; the panic resumes on its own thread.
    Panicked(Box<dyn Any + Send>),
    /// Run these jobs (this thread's own first) in one transaction, then pass the line on.
    Lead(Vec<Queued>),
}

impl Lines {
    /// Runs `job` on `pool`, in a transaction of its own or in a batch with other jobs on
    /// the tenant's resource `id`; returns once its transaction has committed (or failed).
    pub(crate) fn write(
        &self,
        pool: &Pool,
        stats: &CommitStats,
        tenant: TenantKey,
        id: &str,
        job: WriteJob,
    ) -> Result<(), Error> {
        let key = (tenant, id.to_owned());
        let (turn, told) = mpsc::channel();
        let me = Queued { job, turn };
        let mut lead = match self.lock().entry(key.clone()) {
            Entry::Vacant(line) => {
                line.insert(Vec::new());
                Some(vec![me])
            }
            Entry::Occupied(mut line) => {
                line.get_mut().push(me);
                stats.record_queued();
                None
            }
        };
        let mut panicked = None;
        while let Some(batch) = match lead.take() {
            Some(batch) => Some(batch),
            None => match wait(&told) {
                Ok(batch) => Some(batch),
                Err(done) => return done,
            },
        } {
            stats.record_batch(batch.len());
            // Nothing in `run` should panic (a job's panic is caught there); if something did,
            // the line is still passed on, or the jobs waiting in it would wait forever.
            let ran = panic::catch_unwind(AssertUnwindSafe(|| run(pool, batch)));
            panicked = panicked.or(ran.err());
            // Pass the line on to the first job waiting in it, or close it.
            let mut lines = self.lock();
            let Some(line) = lines.get_mut(&key) else { break };
            if line.is_empty() {
                lines.remove(&key);
                break;
            }
            let next: Vec<Queued> = line.drain(..line.len().min(MAX_BATCH)).collect();
            drop(lines);
            stats.record_taken(next.len());
            let Some(first) = next.first().map(|q| q.turn.clone()) else { break };
            match first.send(Turn::Lead(next)) {
                Ok(()) => break,
                // A thread gone from its wait cannot lead: this one runs the batch instead.
                Err(mpsc::SendError(Turn::Lead(next))) => lead = Some(next),
                Err(_) => break,
            }
        }
        if let Some(panic) = panicked {
            panic::resume_unwind(panic);
        }
        match wait(&told) {
            Ok(_) => Err(Error::Backend("a batch was handed to a job that had already run".into())),
            Err(done) => done,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<(TenantKey, String), Vec<Queued>>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Waits for this thread's turn: a batch to lead (`Ok`), or its job's outcome (`Err`); a
/// panic of its job resumes here.
fn wait(told: &Receiver<Turn>) -> Result<Vec<Queued>, Result<(), Error>> {
    match told.recv() {
        Ok(Turn::Lead(batch)) => Ok(batch),
        Ok(Turn::Done(outcome)) => Err(outcome),
        Ok(Turn::Panicked(panic)) => panic::resume_unwind(panic),
        Err(_) => Err(Err(Error::Closed)),
    }
}

/// Runs `batch` in one transaction on a pooled connection and tells every job's thread; a job
/// the batch never reached (its transaction failed first) gets the batch's failure.
fn run(pool: &Pool, batch: Vec<Queued>) {
    let (jobs, turns): (Vec<WriteJob>, Vec<Sender<Turn>>) = batch.into_iter().map(|q| (q.job, q.turn)).unzip();
    let alone = jobs.len() == 1;
    let mut panics = Vec::new();
    let outcome = pool.with(|conn| {
        let mut session = Session::begin(conn, false);
        for (i, job) in jobs.into_iter().enumerate() {
            if !alone {
                session.savepoint();
            }
            let keep = match panic::catch_unwind(AssertUnwindSafe(|| job(&mut session))) {
                Ok(keep) => keep,
                Err(panic) => {
                    panics.push((i, panic));
                    false
                }
            };
            if alone {
                // A transaction of its own, as any write.
                return session.finish(keep);
            }
            if let Err(e) = session.end_savepoint(keep) {
                // The transaction can no longer be trusted: it ends, keeping nothing; a
                // connection that cannot even roll back is dropped, not pooled.
                return match session.finish(false) {
                    Ok(()) => Err(e),
                    Err(also) => Err(Error::Unavailable(format!("{e}; then rolling back: {also}"))),
                };
            }
        }
        session.finish(true)
    });
    let mut panics = panics.into_iter().peekable();
    for (i, turn) in turns.into_iter().enumerate() {
        let told = match panics.next_if(|(at, _)| *at == i) {
            Some((_, panic)) => Turn::Panicked(panic),
            None => Turn::Done(outcome.as_ref().map(|_| ()).map_err(again)),
        };
        // The leader reads its own turn after it has passed the line on; the others wait.
        let _ = turn.send(told);
    }
}

/// The batch's failure, for each of its jobs.
fn again(e: &Error) -> Error {
    match e {
        Error::Unavailable(why) => Error::Unavailable(why.clone()),
        other => Error::Backend(other.to_string()),
    }
}
