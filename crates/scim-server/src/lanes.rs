//! The store thread lanes: two fixed sets of threads where blocking store work runs, off the
//! async threads (`blocking` for writes, `blocking_read` for reads), each fed by one bounded queue.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, Once, OnceLock};

use crate::error::ApiError;

/// Runs blocking store work (a write, or anything else) off the async threads.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    Lane::get(&WRITES, "store-write", WRITE_THREADS, 0).run(work).await
}

/// Queues store work nobody waits for (an audit row of a refused request) on the write lane.
///
/// Returns `false`, dropping the work, when the lane's queue is full: under overload such rows
/// are the first thing to give up, before any request is refused.
pub fn background(work: impl FnOnce() + Send + 'static) -> bool {
    Lane::get(&WRITES, "store-write", WRITE_THREADS, 0).push(Box::new(work), QUEUE_LIMIT / 2).is_ok()
}

/// Runs blocking store work that only reads off the async threads.
///
/// Reads get their own few threads, as many as the store has reader connections, so they never
/// wait for a connection and, under load, a thread takes the next read without sleeping.
pub async fn blocking_read<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    read_lane().run(work).await
}

/// Queues read work that hands its outcome to its callers itself (`gather`).
///
/// Returns `false`, dropping the work, when the read lane's queue is full.
pub fn queue_read(work: impl FnOnce() + Send + 'static) -> bool {
    read_lane().push(Box::new(work), QUEUE_LIMIT).is_ok()
}

fn read_lane() -> &'static Lane {
    Lane::get(&READS, "store-read", scim_store::Options::default().readers, READ_SPINS)
}

static READS: OnceLock<Lane> = OnceLock::new();
static WRITES: OnceLock<Lane> = OnceLock::new();

/// Threads for writes: a write holds its thread until its group commit, and the more writes
/// wait on one commit the more share its fsync.
const WRITE_THREADS: usize = 64;

/// How many times a read thread that finds no job yields the CPU and looks again before it
/// sleeps. Reads come back to back under load, and a thread still awake takes the next one
/// without the futex wake-up that waking a sleeper costs the async thread (measured in
/// docs/BENCHMARKS.md). Two, since the connection workers yield before they sleep too: more
/// yields here took CPU the workers needed (8 measured 3% slower). Writes do not spin: 64
/// threads wait on group commits there.
const READ_SPINS: usize = 2;

/// The most jobs a lane holds waiting for a thread; one more is refused with 503.
///
/// Each waiting job holds its request (body included, up to 1 MiB), so the queue's length bounds
/// the memory a burst can pin; 1,024 waiting writes are several group commits' worth of work.
const QUEUE_LIMIT: usize = 1024;

/// A fixed set of threads fed by one queue, where blocking store work runs.
///
/// Not tokio's blocking pool: that pool starts a thread for every task that finds none idle and
/// parks each thread the moment its task is done, so under load every request paid two thread
/// wake-ups and the threads outnumbered the two cores tenfold (measured: a read by id cost 79 µs
/// of server CPU, 35 µs on the read lane). Here a thread that finishes a job takes the next
/// one without sleeping, and a sleeping thread is woken only when one is needed.
#[derive(Debug)]
struct Lane {
    name: &'static str,
    /// Yields before sleeping (see [`READ_SPINS`]).
    spins: usize,
    queue: Mutex<Queue>,
    ready: Condvar,
    start: Once,
}

/// A lane's queued jobs and threads.
#[derive(Default)]
struct Queue {
    jobs: VecDeque<Box<dyn FnOnce() + Send>>,
    sleeping: usize,
    started: usize,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").field("jobs", &self.jobs.len()).field("sleeping", &self.sleeping).finish()
    }
}

impl Lane {
    /// The lane in `cell`, its `threads` threads started on first use.
    fn get(cell: &'static OnceLock<Lane>, name: &'static str, threads: usize, spins: usize) -> &'static Lane {
        let lane = cell.get_or_init(|| Lane {
            name,
            spins,
            queue: Mutex::default(),
            ready: Condvar::new(),
            start: Once::new(),
        });
        lane.start.call_once(|| {
            for i in 0..threads.max(1) {
                match std::thread::Builder::new().name(format!("{name}-{i}")).spawn(move || lane.serve()) {
                    Ok(_) => lane.lock().started += 1,
                    Err(e) => tracing::error!(error = %e, "could not start a store thread"),
                }
            }
        });
        lane
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `work` on the lane and waits, without blocking, for its outcome.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let (done, outcome) = tokio::sync::oneshot::channel();
        let job = Box::new(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
                .unwrap_or_else(|_| Err(ApiError::Internal("a store task panicked".into())));
            // The request may have been abandoned (its client went away); nobody waits then.
            let _ = done.send(outcome);
        });
        self.push(job, QUEUE_LIMIT).map_err(|()| ApiError::Unavailable { retry_after: 1, queue: self.name })?;
        outcome.await.map_err(|_| ApiError::Internal("a store task was lost".into()))?
    }

    /// Queues `job`, waking a thread only if one sleeps; refuses it when `limit` jobs wait.
    fn push(&self, job: Box<dyn FnOnce() + Send>, limit: usize) -> Result<(), ()> {
        let mut queue = self.lock();
        if queue.started == 0 {
            // No thread could be started: tokio's pool rather than no answer.
            drop(queue);
            drop(tokio::task::spawn_blocking(job));
            return Ok(());
        }
        if queue.jobs.len() >= limit {
            return Err(());
        }
        queue.jobs.push_back(job);
        let wake = queue.sleeping > 0;
        drop(queue);
        if wake {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// A thread's loop: the next job, or (after `spins` yields find none) sleep until there is one.
    fn serve(&self) {
        loop {
            let mut queue = self.lock();
            let mut spun = 0;
            let job = loop {
                if let Some(job) = queue.jobs.pop_front() {
                    break job;
                }
                if spun < self.spins {
                    spun += 1;
                    drop(queue);
                    std::thread::yield_now();
                    queue = self.lock();
                    continue;
                }
                queue.sleeping += 1;
                queue = self.ready.wait(queue).unwrap_or_else(std::sync::PoisonError::into_inner);
                queue.sleeping -= 1;
            };
            drop(queue);
            job();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_full_lane_refuses_work_instead_of_growing() {
        // A lane whose one thread is busy elsewhere: nothing drains the queue.
        let lane = Lane { name: "test", spins: 0, queue: Mutex::default(), ready: Condvar::new(), start: Once::new() };
        lane.lock().started = 1;
        for _ in 0..QUEUE_LIMIT {
            assert!(lane.push(Box::new(|| {}), QUEUE_LIMIT).is_ok());
        }
        assert!(lane.push(Box::new(|| {}), QUEUE_LIMIT).is_err());
        assert_eq!(lane.lock().jobs.len(), QUEUE_LIMIT);
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let refused = runtime.block_on(lane.run(|| Ok(()))).map(|()| "ran").unwrap_err();
        assert!(matches!(refused, ApiError::Unavailable { retry_after: 1, queue: "test" }), "{refused:?}");
    }
}
