//! The control watch: how every replica learns within a second that control data changed.
//!
//! Control data (tenants, tokens, access keys, administrators' tokens, quotas, rate limits,
//! profiles, access control) is cached in each server process, which reloads it when
//! [`Backend::data_version`](scim_store::Backend::data_version) changes. On PostgreSQL:
//! - every write to those tables bumps the one row of `control_version` by trigger, in the
//!   writing transaction, and sends `NOTIFY scim_control` (delivered at commit);
//! - a thread holds its own connection with `LISTEN scim_control` and adds one to an in-process
//!   counter on each notification, and once each time it (re)connects, since notifications sent
//!   while it was away are lost;
//! - while that thread is not listening (the database restarted, say), [`Watch::version`] reads
//!   `control_version` itself, one primary-key `SELECT`, and adds one to the counter when the
//!   row moved.
//!
//! So a change is seen on the next call after it commits, by notification or by polling; the
//! server polls four times a second.
//!
//! The listener thread also ends, at each wake, the read snapshots left open on pooled
//! connections that sat idle (see `Pool::end_idle_snapshots`).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use scim_store::Error;

use crate::error::db;
use crate::pool::{Pool, Settings};
use crate::session::{Session, col};

/// The channel the triggers notify.
pub const CHANNEL: &str = "scim_control";

/// How long the listener waits for a notification before it checks whether to stop.
const WAKE: Duration = Duration::from_millis(250);

/// The in-process side of the control watch.
#[derive(Debug)]
pub struct Watch {
    shared: Arc<Shared>,
    /// The last `control_version` read by polling.
    polled: Mutex<Option<i64>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug, Default)]
struct Shared {
    version: AtomicI64,
    listening: AtomicBool,
    stop: AtomicBool,
}

impl Watch {
    /// Starts the listener thread on its own connection.
    pub(crate) fn start(settings: Settings, pool: Arc<Pool>) -> Result<Watch, Error> {
        let shared = Arc::new(Shared::default());
        let listener = shared.clone();
        let thread = std::thread::Builder::new()
            .name("scim-pg-listen".into())
            .spawn(move || listen(&settings, &listener, &pool))
            .map_err(|e| Error::Backend(format!("cannot start the LISTEN thread: {e}")))?;
        Ok(Watch { shared, polled: Mutex::new(None), thread: Mutex::new(Some(thread)) })
    }

    /// The counter; polled from the database while the listener is down.
    pub(crate) fn version(&self, pool: &Pool) -> Result<i64, Error> {
        if !self.shared.listening.load(Ordering::SeqCst) {
            let now = pool.with(|conn| {
                let session = Session::begin(conn, true);
                let row = session.row("SELECT version FROM control_version", &[]);
                session.finish(false)?;
                col::<i64>(&row?.ok_or_else(|| Error::Backend("control_version is empty".into()))?, 0)
            })?;
            let mut polled = self.polled.lock().unwrap_or_else(PoisonError::into_inner);
            if *polled != Some(now) {
                *polled = Some(now);
                self.shared.version.fetch_add(1, Ordering::SeqCst);
            }
        }
        Ok(self.shared.version.load(Ordering::SeqCst))
    }

    /// Whether the listener is connected and listening.
    #[cfg(test)]
    pub(crate) fn is_listening(&self) -> bool {
        self.shared.listening.load(Ordering::SeqCst)
    }

    /// Stops the listener thread and waits for it (at most [`WAKE`] plus a statement).
    pub(crate) fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.lock().unwrap_or_else(PoisonError::into_inner).take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The listener thread: connect, `LISTEN`, count notifications; on any failure mark itself
/// deaf (so [`Watch::version`] polls) and try again a second later.
fn listen(settings: &Settings, shared: &Shared, pool: &Pool) {
    while !shared.stop.load(Ordering::SeqCst) {
        if let Err(e) = listen_once(settings, shared, pool) {
            tracing::debug!(error = %e, "the control LISTEN connection failed; polling until it is back");
        }
        shared.listening.store(false, Ordering::SeqCst);
        for _ in 0..4 {
            if shared.stop.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(WAKE);
            pool.end_idle_snapshots(WAKE);
        }
    }
}

fn listen_once(settings: &Settings, shared: &Shared, pool: &Pool) -> Result<(), Error> {
    let mut client = settings.connect()?;
    client.batch_execute(&format!("LISTEN {CHANNEL}")).map_err(db)?;
    // Whatever changed while nobody listened is announced by this one step.
    shared.version.fetch_add(1, Ordering::SeqCst);
    shared.listening.store(true, Ordering::SeqCst);
    while !shared.stop.load(Ordering::SeqCst) {
        let next = client.notifications().timeout_iter(WAKE).next();
        pool.end_idle_snapshots(WAKE);
        match next {
            Ok(Some(_)) => {
                shared.version.fetch_add(1, Ordering::SeqCst);
            }
            Ok(None) => {
                // A closed connection may also end the wait quietly.
                if client.is_closed() {
                    return Err(Error::Unavailable("the LISTEN connection closed".into()));
                }
            }
            Err(e) => return Err(db(e)),
        }
    }
    Ok(())
}
