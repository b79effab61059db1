//! The writer thread and its group commit.
//!
//! One thread owns the only read-write connection and takes jobs from a channel. It blocks for
//! the first job, drains whatever else is already queued (up to [`MAX_BATCH`]), and runs the lot
//! in one `BEGIN IMMEDIATE` transaction, each job inside its own `SAVEPOINT`. A job that fails (or
//! panics) is rolled back to its savepoint and the others go on. After `COMMIT` succeeds (and so,
//! with `synchronous=FULL`, the WAL is on disk) each caller gets its job's result; if the batch
//! cannot commit, every caller gets the error. Under load this turns many fsyncs into one, while a
//! lone request still commits at once: nothing ever waits for a batch to fill.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::Instant;

use rusqlite::{Connection, ffi};

use crate::connection::exec;
use crate::db::Db;
use crate::error::replicate;
use crate::hints::Hints;
use crate::{Error, WriteJob};

/// The most jobs one transaction takes; more wait for the next batch.
const MAX_BATCH: usize = 256;

/// The upper bounds of the batch-size histogram of [`CommitStats`], in jobs.
pub const BATCH_SIZE_BOUNDS: [u64; 9] = [1, 2, 4, 8, 16, 32, 64, 128, MAX_BATCH as u64];

/// What the writer has done, as plain counters anyone may read at any time.
///
/// Atomics, not a metrics crate: the server turns them into whatever format it exports, and this
/// crate stays free of that choice.
#[derive(Debug, Default)]
pub struct CommitStats {
    queued: AtomicU64,
    batches: AtomicU64,
    jobs: AtomicU64,
    sizes: [AtomicU64; BATCH_SIZE_BOUNDS.len()],
}

/// A reading of [`CommitStats`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitSnapshot {
    /// Jobs submitted and not yet taken into a batch.
    pub queue_depth: u64,
    /// Batches run (committed or not).
    pub batches: u64,
    /// Jobs run in those batches.
    pub jobs: u64,
    /// Batches of at most each of [`BATCH_SIZE_BOUNDS`] jobs (cumulative, as in a histogram).
    pub batches_at_most: [u64; BATCH_SIZE_BOUNDS.len()],
}

impl CommitStats {
    /// The counters now.
    pub fn snapshot(&self) -> CommitSnapshot {
        let mut batches_at_most = [0; BATCH_SIZE_BOUNDS.len()];
        let mut running = 0;
        for (slot, count) in batches_at_most.iter_mut().zip(&self.sizes) {
            running += count.load(Ordering::Relaxed);
            *slot = running;
        }
        CommitSnapshot {
            queue_depth: self.queued.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            jobs: self.jobs.load(Ordering::Relaxed),
            batches_at_most,
        }
    }

    /// Counts a job submitted and waiting to be taken into a batch.
    pub fn record_queued(&self) {
        self.queued.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `jobs` queued jobs as taken from the queue (into a batch, or away).
    pub fn record_taken(&self, jobs: usize) {
        self.queued.fetch_sub(jobs as u64, Ordering::Relaxed);
    }

    /// Counts a batch of `jobs` run in one transaction.
    pub fn record_batch(&self, jobs: usize) {
        let jobs = jobs as u64;
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.jobs.fetch_add(jobs, Ordering::Relaxed);
        let bucket = BATCH_SIZE_BOUNDS.iter().position(|bound| jobs <= *bound).unwrap_or(BATCH_SIZE_BOUNDS.len() - 1);
        if let Some(count) = self.sizes.get(bucket) {
            count.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What a job's closure panicked with, carried back to re-raise on the caller's thread.
type Panic = Box<dyn Any + Send + 'static>;

/// What a caller gets back: whether its job was kept and committed (or failed as a whole), or
/// the panic it raised.
type Answer = Result<Result<(), Error>, Panic>;

/// A queued job, its outcome once run, and the channel to answer on.
struct Pending {
    work: Option<WriteJob>,
    /// Whether the job kept its writes, or the panic it raised; `None` until it ran.
    outcome: Option<Result<bool, Panic>>,
    reply: Sender<Answer>,
}

impl Pending {
    /// Runs the job in its own savepoint on `conn`, inside the batch's transaction.
    ///
    /// `Err` means the transaction can no longer be trusted (a savepoint could not be rolled
    /// back), and the whole batch must be abandoned.
    fn run(&mut self, conn: &Connection, hints: &Hints) -> rusqlite::Result<()> {
        let Some(work) = self.work.take() else {
            return Ok(());
        };
        let (outcome, intact) = in_savepoint(conn, hints, work);
        self.outcome = Some(outcome);
        intact
    }

    /// Sends the outcome to the caller once the batch's fate is known.
    fn deliver(self, batch: Result<(), &rusqlite::Error>) {
        let answer = match (self.outcome, batch) {
            // A panic stands whatever became of the batch; a job that failed was rolled back either
            // way, and the caller's façade keeps the job's own error over the batch's.
            (Some(Err(panic)), _) => Err(panic),
            (Some(Ok(_)), Ok(())) => Ok(Ok(())),
            (_, Err(e)) => Ok(Err(Error::Sqlite(replicate(e)))),
            (None, Ok(())) => Ok(Err(Error::Closed)),
        };
        // The caller may have gone (its thread died); the result then has no one to go to.
        let _ = self.reply.send(answer);
    }
}

/// Runs `work` inside `SAVEPOINT job`, rolling back to it unless `work` kept its writes.
///
/// Returns whether the job kept them (or its panic), and whether the enclosing transaction is
/// still sound. A savepoint that cannot be opened or released fails the batch.
fn in_savepoint(conn: &Connection, hints: &Hints, work: WriteJob) -> (Result<bool, Panic>, rusqlite::Result<()>) {
    if let Err(e) = exec(conn, "SAVEPOINT job") {
        return (Ok(false), Err(e));
    }
    let mut db = Db::new(conn, hints);
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| work(&mut db)));
    if matches!(outcome, Ok(true)) {
        match exec(conn, "RELEASE job") {
            Ok(()) => return (outcome, Ok(())),
            Err(e) => {
                let _ = undo(conn);
                return (Ok(false), Err(e));
            }
        }
    }
    let intact = undo(conn);
    (outcome, intact)
}

/// Rolls back to the job's savepoint and drops it.
fn undo(conn: &Connection) -> rusqlite::Result<()> {
    exec(conn, "ROLLBACK TO job")?;
    exec(conn, "RELEASE job")
}

/// The handle on the writer thread: its queue and its join handle.
#[derive(Debug)]
pub(crate) struct Committer {
    queue: Option<Sender<Pending>>,
    thread: Option<JoinHandle<()>>,
    thread_id: ThreadId,
    stats: Arc<CommitStats>,
}

impl Committer {
    /// Starts the writer thread on `conn`; `commits` is bumped after every successful commit,
    /// `stats` as jobs are queued and run; inserts note where their rows went in `hints`.
    pub(crate) fn spawn(
        conn: Connection,
        commits: Arc<AtomicI64>,
        stats: Arc<CommitStats>,
        hints: Arc<Hints>,
    ) -> Result<Committer, Error> {
        let (queue, jobs) = mpsc::channel::<Pending>();
        let counted = Arc::clone(&stats);
        let thread = thread::Builder::new()
            .name("scim-store-writer".into())
            .spawn(move || serve(conn, jobs, &commits, &counted, &hints))
            .map_err(|e| {
                tracing::error!(error = %e, "could not start the store's writer thread");
                Error::Closed
            })?;
        Ok(Committer { queue: Some(queue), thread_id: thread.thread().id(), thread: Some(thread), stats })
    }

    /// Queues `work` and blocks until its batch has committed (or failed).
    ///
    /// A panic inside `work` is rolled back and re-raised here, on the caller's thread.
    pub(crate) fn submit(&self, work: WriteJob) -> Result<(), Error> {
        if thread::current().id() == self.thread_id {
            return Err(Error::Nested);
        }
        let Some(queue) = &self.queue else {
            return Err(Error::Closed);
        };
        let (reply, answer) = mpsc::channel();
        let job = Pending { work: Some(work), outcome: None, reply };
        self.stats.record_queued();
        if queue.send(job).is_err() {
            self.stats.record_taken(1);
            return Err(Error::Closed);
        }
        match answer.recv() {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => panic::resume_unwind(panic),
            Err(_) => Err(Error::Closed),
        }
    }

    /// Closes the queue, lets the thread finish every queued job, and joins it.
    pub(crate) fn shutdown(&mut self) -> Result<(), Error> {
        drop(self.queue.take());
        match self.thread.take() {
            Some(thread) => thread.join().map_err(|_| Error::Closed),
            None => Ok(()),
        }
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::error!(error = %e, "the store's writer thread ended badly");
        }
    }
}

/// The writer thread's loop: batch, run, commit, answer; until every sender is gone.
fn serve(conn: Connection, jobs: Receiver<Pending>, commits: &AtomicI64, stats: &CommitStats, hints: &Hints) {
    // `recv` keeps returning queued jobs after the last sender is dropped, so closing the store
    // finishes everything already submitted.
    while let Ok(first) = jobs.recv() {
        let mut batch = Vec::with_capacity(8);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        stats.record_taken(batch.len());
        stats.record_batch(batch.len());
        run_batch(&conn, hints, batch, commits);
    }
    if let Err((_, e)) = conn.close() {
        tracing::error!(error = %e, "closing the store's write connection failed");
    }
}

/// Runs one batch in one transaction and answers every job in it.
fn run_batch(conn: &Connection, hints: &Hints, mut batch: Vec<Pending>, commits: &AtomicI64) {
    let started = Instant::now();
    let result = transact(conn, hints, &mut batch);
    match &result {
        Ok(()) => {
            commits.fetch_add(1, Ordering::SeqCst);
            tracing::debug!(jobs = batch.len(), micros = started.elapsed().as_micros(), "group commit");
        }
        Err(e) => tracing::error!(jobs = batch.len(), error = %e, "group commit failed"),
    }
    let outcome = result.as_ref().map(|_| ());
    for job in batch {
        job.deliver(outcome);
    }
}

/// `BEGIN IMMEDIATE`, every job in its savepoint, `COMMIT`; on failure nothing is kept.
fn transact(conn: &Connection, hints: &Hints, batch: &mut [Pending]) -> rusqlite::Result<()> {
    exec(conn, "BEGIN IMMEDIATE")?;
    for job in batch.iter_mut() {
        let intact = job.run(conn, hints);
        // SQLite rolls a whole transaction back by itself on some errors (a full disk, an I/O
        // error); the jobs that ran before are then lost too, so the batch fails as a whole.
        let intact = intact.and_then(|()| {
            if conn.is_autocommit() {
                Err(rusqlite::Error::SqliteFailure(
                    ffi::Error::new(ffi::SQLITE_ABORT),
                    Some("SQLite rolled back the batch's transaction".into()),
                ))
            } else {
                Ok(())
            }
        });
        if let Err(e) = intact {
            abandon(conn);
            return Err(e);
        }
    }
    if let Err(e) = exec(conn, "COMMIT") {
        abandon(conn);
        return Err(e);
    }
    Ok(())
}

/// Rolls back the batch's transaction if it is still open.
fn abandon(conn: &Connection) {
    if !conn.is_autocommit()
        && let Err(e) = exec(conn, "ROLLBACK")
    {
        tracing::error!(error = %e, "rolling back a failed batch failed");
    }
}
