//! Requests answered together: reads that arrive while others of their kind are out join the
//! next batch, and one store read answers the whole batch.
//!
//! On PostgreSQL a read by id costs the database little and the round trip much: a wake-up of
//! its backend and of the store thread on each side, the same on both of a small machine's
//! cores. Under load many such reads wait at once, so at most a few jobs (the backend's
//! `gather_width`) answer them, each taking up to [`MOST`] waiting requests at a time, in the
//! manner of a group commit: `Reader::get_texts` reads a batch with one statement. Alone, a
//! request is a batch of one and pays nothing extra. A backend whose width is 0 (SQLite, where
//! a read is in-process work) has each request answered alone.
//!
//! Each batch is read in one snapshot, taken after every request of the batch arrived and
//! before any is answered, so each answer is one a read of its own could have given.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

use crate::error::ApiError;
use crate::lanes;

/// The most requests one store read answers.
const MOST: usize = 64;

/// What a batch's store read gives: an outcome per key, in the keys' order; or the failure of
/// the whole read.
pub type Answers<T> = Result<Vec<Result<T, ApiError>>, ApiError>;

/// Requests of one kind (`K` asked, `T` answered) waiting to be answered together.
pub struct Gather<K, T> {
    pending: Arc<Mutex<Pending<K, T>>>,
}

impl<K, T> Default for Gather<K, T> {
    fn default() -> Self {
        Gather { pending: Arc::new(Mutex::new(Pending { asked: Vec::new(), jobs: 0 })) }
    }
}

impl<K, T> std::fmt::Debug for Gather<K, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pending = lock(&self.pending);
        f.debug_struct("Gather").field("asked", &pending.asked.len()).field("jobs", &pending.jobs).finish()
    }
}

/// The requests asked and not yet taken by a job, and the jobs queued to take them.
struct Pending<K, T> {
    asked: Vec<(K, oneshot::Sender<Result<T, ApiError>>)>,
    /// Jobs queued on the read lane or running: at most the width asked with, and at least one
    /// while any request is asked (a job ends only when it finds none left).
    jobs: usize,
}

fn lock<K, T>(pending: &Mutex<Pending<K, T>>) -> std::sync::MutexGuard<'_, Pending<K, T>> {
    pending.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<K: Send + 'static, T: Send + 'static> Gather<K, T> {
    /// Asks for `key` and waits, without blocking, for its answer.
    ///
    /// At most `width` jobs answer this `Gather`'s requests at once; with `width` 0 each
    /// request is answered alone, as a batch of one (see `Backend::gather_width`). `answer`
    /// reads the answers of a batch of keys on a store thread; it is used if this request is
    /// the one that starts a job, so every caller of one `Gather` must pass an equivalent
    /// `answer`. `Unavailable` when the read lane's queue is full.
    pub async fn ask(
        &self,
        key: K,
        width: usize,
        answer: impl Fn(&[K]) -> Answers<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        if width == 0 {
            return lanes::blocking_read(move || {
                answer(&[key])?.pop().unwrap_or_else(|| Err(ApiError::Internal("a read gave no answer".into())))
            })
            .await;
        }
        let (sender, outcome) = oneshot::channel();
        {
            let mut pending = lock(&self.pending);
            pending.asked.push((key, sender));
            if pending.jobs < width {
                let shared = Arc::clone(&self.pending);
                if !lanes::queue_read(move || answer_all(&shared, answer)) {
                    // Ours is the last request asked (the lock is held), and a job already
                    // started, if any, answers the others.
                    pending.asked.pop();
                    return Err(ApiError::Unavailable { retry_after: 1, queue: "store-read" });
                }
                pending.jobs += 1;
            }
        }
        outcome.await.map_err(|_| ApiError::Internal("a gathered read was lost".into()))?
    }
}

/// A job: takes up to [`MOST`] requests, reads their answers and hands each its own, and again
/// until none is left.
fn answer_all<K, T>(pending: &Mutex<Pending<K, T>>, answer: impl Fn(&[K]) -> Answers<T>) {
    loop {
        let taken: Vec<_> = {
            let mut pending = lock(pending);
            if pending.asked.is_empty() {
                pending.jobs = pending.jobs.saturating_sub(1);
                return;
            }
            let n = pending.asked.len().min(MOST);
            pending.asked.drain(..n).collect()
        };
        let (keys, senders): (Vec<K>, Vec<_>) = taken.into_iter().unzip();
        let answers = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| answer(&keys)))
            .unwrap_or_else(|_| Err(ApiError::Internal("a store task panicked".into())));
        let answers = match answers {
            Ok(answers) if answers.len() == senders.len() => answers,
            Ok(answers) => {
                let why = format!("a gathered read gave {} answers to {} requests", answers.len(), senders.len());
                senders.iter().map(|_| Err(ApiError::Internal(why.clone()))).collect()
            }
            Err(failure) => shared_failure(failure, senders.len()),
        };
        for (sender, answer) in senders.into_iter().zip(answers) {
            // A request whose client went away no longer waits.
            let _ = sender.send(answer);
        }
    }
}

/// The failure of a batch's whole read, once for each of its `n` requests.
///
/// A read fails as a whole only when the store does (unavailable, or broken), so the copies
/// keep what a client acts on (`Retry-After`) and the reason for the log.
fn shared_failure<T>(failure: ApiError, n: usize) -> Vec<Result<T, ApiError>> {
    let copy = |e: &ApiError| match e {
        ApiError::Unavailable { retry_after, queue } => ApiError::Unavailable { retry_after: *retry_after, queue },
        other => ApiError::Internal(other.reason()),
    };
    let mut out: Vec<Result<T, ApiError>> = (1..n).map(|_| Err(copy(&failure))).collect();
    out.push(Err(failure));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    /// A store thread's hold: the next batch read tells `started`, then waits for `released`.
    type Hold = Arc<Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>>;

    /// The one answer every request of a test passes: each key doubled, except that key 1,000
    /// is refused, 2,000 fails the whole batch (the database is unavailable), 3,000 panics and
    /// 4,000 gives no answers. Records each batch's size, and waits on `hold` if it is set.
    fn answer(sizes: &Arc<Mutex<Vec<usize>>>, hold: &Hold) -> impl Fn(&[u32]) -> Answers<u32> + Send + 'static {
        let (sizes, hold) = (Arc::clone(sizes), Arc::clone(hold));
        move |keys| {
            if let Some((started, released)) = hold.lock().unwrap().take() {
                started.send(()).unwrap();
                released.recv_timeout(Duration::from_secs(10)).unwrap();
            }
            sizes.lock().unwrap().push(keys.len());
            if keys.contains(&2_000) {
                return Err(ApiError::Unavailable { retry_after: 2, queue: "database" });
            }
            assert!(!keys.contains(&3_000), "a bug");
            if keys.contains(&4_000) {
                return Ok(Vec::new());
            }
            Ok(keys.iter().map(|&k| if k == 1_000 { Err(ApiError::NoEndpoint) } else { Ok(k * 2) }).collect())
        }
    }

    /// Waits for the jobs to end, as each does (after its answers are out) once it finds no
    /// request left.
    fn ended(gather: &Gather<u32, u32>) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while lock(&gather.pending).jobs > 0 {
            assert!(std::time::Instant::now() < deadline, "a job never ended");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
    }

    #[test]
    fn requests_that_arrive_while_a_batch_is_out_are_answered_together_each_with_its_own_answer() {
        let rt = runtime();
        let gather: Arc<Gather<u32, u32>> = Arc::default();
        let sizes = Arc::new(Mutex::new(Vec::new()));
        // The first batch holds its store thread until every other request is waiting.
        let (started, first_started) = mpsc::channel();
        let (release, released) = mpsc::channel();
        let hold: Hold = Arc::new(Mutex::new(Some((started, released))));
        let ask = |key: u32| {
            let (gather, answer) = (Arc::clone(&gather), answer(&sizes, &hold));
            rt.spawn(async move { gather.ask(key, 1, answer).await })
        };
        let first = ask(1);
        first_started.recv_timeout(Duration::from_secs(10)).unwrap();
        let others: Vec<_> = (2..=10).chain([1_000]).map(ask).collect();
        while lock(&gather.pending).asked.len() < 10 {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(lock(&gather.pending).jobs, 1, "one job at width 1");
        release.send(()).unwrap();
        assert_eq!(rt.block_on(first).unwrap().unwrap(), 2);
        let answers: Vec<_> = others.into_iter().map(|task| rt.block_on(task).unwrap()).collect();
        for (key, answer) in (2..=10).zip(&answers) {
            assert_eq!(answer.as_ref().unwrap(), &(key * 2));
        }
        assert!(matches!(answers.last(), Some(Err(ApiError::NoEndpoint))));
        assert_eq!(*sizes.lock().unwrap(), [1, 10]);
        ended(&gather);
    }

    #[test]
    fn a_failed_or_panicking_batch_fails_each_of_its_requests_and_the_next_batch_is_read_again() {
        let rt = runtime();
        let gather: Gather<u32, u32> = Gather::default();
        let (sizes, hold) = (Arc::new(Mutex::new(Vec::new())), Hold::default());
        let ask = |key| rt.block_on(gather.ask(key, 1, answer(&sizes, &hold)));
        let failed = ask(2_000);
        assert!(matches!(failed, Err(ApiError::Unavailable { retry_after: 2, queue: "database" })), "{failed:?}");
        assert!(matches!(ask(3_000), Err(ApiError::Internal(_))));
        assert!(matches!(ask(4_000), Err(ApiError::Internal(_))));
        assert_eq!(ask(4).unwrap(), 8);
        ended(&gather);
        // Every request of a failed batch gets the failure, with what a client acts on.
        let copies = shared_failure::<u32>(ApiError::Unavailable { retry_after: 2, queue: "database" }, 3);
        assert_eq!(copies.len(), 3);
        assert!(copies.iter().all(|c| matches!(c, Err(ApiError::Unavailable { retry_after: 2, queue: "database" }))));
        let copies = shared_failure::<u32>(ApiError::Internal("disk on fire".into()), 2);
        assert!(copies.iter().all(|c| matches!(c, Err(ApiError::Internal(why)) if why.contains("disk on fire"))));
    }

    #[test]
    fn at_width_zero_each_request_is_answered_alone() {
        let rt = runtime();
        let gather: Arc<Gather<u32, u32>> = Arc::default();
        let (sizes, hold) = (Arc::new(Mutex::new(Vec::new())), Hold::default());
        let tasks: Vec<_> = (1..=20)
            .map(|key| {
                let (gather, answer) = (Arc::clone(&gather), answer(&sizes, &hold));
                rt.spawn(async move { gather.ask(key, 0, answer).await })
            })
            .collect();
        for (key, task) in (1..=20).zip(tasks) {
            assert_eq!(rt.block_on(task).unwrap().unwrap(), key * 2);
        }
        assert_eq!(*sizes.lock().unwrap(), [1; 20]);
        assert_eq!(lock(&gather.pending).jobs, 0, "no job at width 0");
    }
}
