//! The connection workers: a few threads, each running its own single-threaded tokio runtime,
//! that serve the connections the acceptor hands them in turn.
//!
//! One work-stealing runtime over every core was measured against this (docs/BENCHMARKS.md):
//! there a wake-up from a store thread, or a task made ready on one worker, often woke the
//! other worker to steal it, and the two workers' shared queues, timers and locks moved between
//! the cores on every request. A connection that stays on one thread, with a runtime of its
//! own, pays none of that. What it gives up is moving a busy connection's neighbours to an
//! idle core; with as many workers as cores and connections dealt out in turn, each core still
//! takes its share (the manner of actix-web's workers).
//!
//! A worker that runs out of tasks yields its core once before it sleeps (measured in
//! docs/BENCHMARKS.md: the cheapest request 7.2 → 6.6 µs of server CPU, since the sleep and
//! the wake-up it saves cost more than the yield).
//!
//! A connection's task, and everything it spawns, stays on its worker's runtime: its socket,
//! timers and tasks are registered there. The acceptor, the upkeep and the other long-lived
//! tasks keep the main runtime.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The workers' runtimes and threads.
#[derive(Debug)]
pub struct Workers {
    handles: Vec<Handle>,
    /// The worker the next connection goes to, modulo their number.
    next: AtomicUsize,
    /// Each worker's thread and the sender whose drop tells it to stop.
    threads: Vec<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl Workers {
    /// Starts `n` workers (at least one), named `scim-worker-{i}`.
    pub fn start(n: usize) -> Result<Workers, String> {
        let mut workers = Workers { handles: Vec::new(), next: AtomicUsize::new(0), threads: Vec::new() };
        for i in 0..n.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                // A worker out of tasks gives its core away once before it sleeps in `epoll`:
                // the thread that runs instead (a client on the same machine, a store thread)
                // often makes the next event ready, and the worker then finds it without the
                // sleep and the wake-up. Idle, it sleeps after one `sched_yield`.
                .on_thread_park(std::thread::yield_now)
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start a worker's runtime: {e}"))?;
            let handle = runtime.handle().clone();
            let (stop, stopped) = oneshot::channel::<()>();
            let thread = std::thread::Builder::new()
                .name(format!("scim-worker-{i}"))
                // A current-thread runtime runs its spawned tasks only while `block_on` runs.
                .spawn(move || {
                    let _ = runtime.block_on(stopped);
                })
                .map_err(|e| format!("cannot start a worker thread: {e}"))?;
            workers.handles.push(handle);
            workers.threads.push((stop, thread));
        }
        Ok(workers)
    }

    /// Runs `task` on the next worker, in turn. Its body first runs there, so what it
    /// registers (a socket, a timer) belongs to that worker's runtime.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        if let Some(handle) = self.handles.get(i) {
            drop(handle.spawn(task));
        }
    }

    /// Stops every worker, dropping the tasks still on it, and waits for its thread.
    pub fn stop(self) {
        for (stop, thread) in self.threads {
            drop(stop);
            if thread.join().is_err() {
                tracing::error!("a worker thread panicked");
            }
        }
    }
}

/// How many workers `serve` starts by default: one per core.
pub fn default_count() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn futures_are_dealt_to_the_workers_in_turn_and_each_runs_on_its_worker_thread() {
        let workers = Workers::start(3).unwrap();
        let (sent, received) = std::sync::mpsc::channel();
        for i in 0..6 {
            let sent = sent.clone();
            workers.spawn(async move {
                // A timer works: the worker's runtime has its own driver.
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                let name = std::thread::current().name().unwrap().to_owned();
                sent.send((i, name)).unwrap();
            });
        }
        let mut seen: Vec<(usize, String)> = (0..6).map(|_| received.recv().unwrap()).collect();
        seen.sort();
        let names: Vec<&str> = seen.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(
            names,
            ["scim-worker-0", "scim-worker-1", "scim-worker-2", "scim-worker-0", "scim-worker-1", "scim-worker-2"]
        );
        workers.stop();
    }

    #[test]
    fn stopping_drops_the_tasks_left_and_ends_the_threads() {
        let workers = Workers::start(2).unwrap();
        let dropped = Arc::new(Mutex::new(0));
        struct Count(Arc<Mutex<usize>>);
        impl Drop for Count {
            fn drop(&mut self) {
                *self.0.lock().unwrap() += 1;
            }
        }
        for _ in 0..4 {
            let count = Count(Arc::clone(&dropped));
            workers.spawn(async move {
                let _count = count;
                std::future::pending::<()>().await;
            });
        }
        workers.stop();
        assert_eq!(*dropped.lock().unwrap(), 4);
    }
}
