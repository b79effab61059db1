//! The pool of read-only connections.
//!
//! In WAL mode a reader never waits on the writer, so reads scale with the pool's size.
//! Connections are opened on demand up to the limit and handed out one per call; a caller finding
//! every connection busy waits on a condition variable until one comes back.

use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use rusqlite::Connection;

use crate::Error;
use crate::connection::{exec, open_reader};

/// Up to `max` read-only connections to one database file.
#[derive(Debug)]
pub(crate) struct Pool {
    path: PathBuf,
    max: usize,
    state: Mutex<Idle>,
    returned: Condvar,
}

/// The pool's connections not in use, how many exist in all, and how many callers wait for one.
#[derive(Debug)]
struct Idle {
    connections: Vec<Connection>,
    open: usize,
    /// Callers asleep in [`Pool::take`]. A condition variable's `notify_one` is a system call
    /// even with nobody waiting, so a connection coming back wakes only when someone waits:
    /// in the server nobody does, for each read thread has a connection of its own.
    waiting: usize,
}

/// A place a checked-out connection holds in the pool's count until it comes back.
///
/// If the caller panics, the connection is dropped during unwinding and this frees its place.
struct Vacancy<'p> {
    pool: &'p Pool,
    filled: bool,
}

impl Drop for Vacancy<'_> {
    fn drop(&mut self) {
        if !self.filled {
            let mut state = self.pool.lock();
            state.open -= 1;
            self.pool.wake(state);
        }
    }
}

impl Pool {
    /// A pool of at most `max` connections (at least one) to `path`, none opened yet.
    pub(crate) fn new(path: PathBuf, max: usize) -> Pool {
        Pool {
            path,
            max: max.max(1),
            state: Mutex::new(Idle { connections: Vec::new(), open: 0, waiting: 0 }),
            returned: Condvar::new(),
        }
    }

    /// Runs `f` with a connection of the pool, opening one if the pool is below its size, else
    /// waiting for one to come back.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&Connection) -> T) -> Result<T, Error> {
        let conn = self.take()?;
        let mut vacancy = Vacancy { pool: self, filled: false };
        let out = f(&conn);
        vacancy.filled = true;
        self.give_back(conn);
        Ok(out)
    }

    /// An idle connection, a new one, or the next one given back.
    fn take(&self) -> Result<Connection, Error> {
        let mut state = self.lock();
        loop {
            if let Some(conn) = state.connections.pop() {
                return Ok(conn);
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return open_reader(&self.path).inspect_err(|_| {
                    let mut state = self.lock();
                    state.open -= 1;
                    self.wake(state);
                });
            }
            state.waiting += 1;
            state = self.returned.wait(state).unwrap_or_else(PoisonError::into_inner);
            state.waiting -= 1;
        }
    }

    /// Puts `conn` back, or drops it if its read transaction cannot be ended.
    fn give_back(&self, conn: Connection) {
        // A snapshot left open would hand stale data to the next caller.
        let healthy = conn.is_autocommit() || exec(&conn, "ROLLBACK").is_ok();
        let mut state = self.lock();
        if healthy {
            state.connections.push(conn);
        } else {
            state.open -= 1;
        }
        self.wake(state);
    }

    /// Releases `state`, waking one waiting caller if there is one.
    fn wake(&self, state: MutexGuard<'_, Idle>) {
        let waiting = state.waiting > 0;
        drop(state);
        if waiting {
            self.returned.notify_one();
        }
    }

    /// The pool's state; a panic elsewhere while holding the lock leaves it consistent.
    fn lock(&self) -> MutexGuard<'_, Idle> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
