//! Connections: the parsed connection string with its bounded waits, and a small pool.
//!
//! The pool is hand-written rather than `r2d2`: it is forty lines, it needs no background
//! thread, and it lets every wait be bounded and every failure be a store [`Error`] (r2d2's
//! checkout timeout is an opaque error, and its reaper thread logs through `log`). A connection
//! is checked out for one job; one that is closed, or whose job met [`Error::Unavailable`], is
//! dropped on return instead of pooled, so after a database restart the next checkout simply
//! connects again.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use postgres::config::Host;
use postgres::{Client, Statement};
use scim_store::Error;
use tokio_postgres::Config;

use crate::error::db;
use crate::link::Link;
use crate::tls::MakeRustls;

/// How long opening a connection may take (TCP, TLS and authentication).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a job waits for a free connection when every one is busy.
pub const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one statement may run before the server cancels it.
pub const STATEMENT_TIMEOUT: &str = "30s";
/// How long unacknowledged data may sit on a connection before the kernel gives up on it; with
/// the keepalives below, a silently vanished database is noticed within about four seconds.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(4);

/// A connection string, parsed, with this crate's timeouts applied.
#[derive(Debug, Clone)]
pub struct Settings {
    config: Config,
    tls: MakeRustls,
}

impl Settings {
    /// Parses a libpq connection string (URL or `key=value` form).
    ///
    /// `sslmode` is honoured as libpq does (see the `tls` module); `verify-full` and `verify-ca`
    /// both verify the certificate and the host name. A `connect_timeout` in the string is kept
    /// if shorter than [`CONNECT_TIMEOUT`].
    pub fn parse(url: &str) -> Result<Settings, Error> {
        let mut verify = false;
        let mut text = url.to_owned();
        for strict in ["sslmode=verify-full", "sslmode=verify-ca"] {
            if text.contains(strict) {
                text = text.replace(strict, "sslmode=require");
                verify = true;
            }
        }
        let mut config =
            Config::from_str(&text).map_err(|e| Error::Backend(format!("not a PostgreSQL connection string: {e}")))?;
        let timeout = config.get_connect_timeout().map_or(CONNECT_TIMEOUT, |t| (*t).min(CONNECT_TIMEOUT));
        config
            .connect_timeout(timeout)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(2))
            .keepalives_interval(Duration::from_secs(1))
            .keepalives_retries(2)
            .tcp_user_timeout(TCP_USER_TIMEOUT);
        if config.get_application_name().is_none() {
            config.application_name("scim-server");
        }
        Ok(Settings { config, tls: MakeRustls::new(verify)? })
    }

    /// The database's address without the password: `postgres://user@host:port/dbname`.
    pub fn location(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(Host::Tcp(name)) => name.clone(),
            Some(Host::Unix(path)) => path.display().to_string(),
            None => "localhost".to_owned(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        let user = self.config.get_user().map(|u| format!("{u}@")).unwrap_or_default();
        let db = self.config.get_dbname().unwrap_or_default();
        format!("postgres://{user}{host}:{port}/{db}")
    }

    /// Opens a blocking client (for migrations, the control watch's listener and tests) with
    /// this crate's session settings.
    pub(crate) fn connect(&self) -> Result<Client, Error> {
        let mut client = postgres::Config::from(self.config.clone()).connect(self.tls.clone()).map_err(db)?;
        client.batch_execute(&session_settings()).map_err(db)?;
        Ok(client)
    }

    /// Opens a pooled connection with this crate's session settings.
    pub(crate) fn link(&self) -> Result<Link, Error> {
        Link::connect(&self.config, self.tls.clone(), &session_settings())
    }
}

/// Every connection's session: commits wait for the WAL flush (`synchronous_commit`, whatever
/// the server's default), statements are bounded.
fn session_settings() -> String {
    format!(
        "SET synchronous_commit = on; SET statement_timeout = '{STATEMENT_TIMEOUT}'; \
         SET idle_in_transaction_session_timeout = '60s'"
    )
}

/// A pooled connection and the statements prepared on it.
pub(crate) struct Conn {
    pub(crate) link: Link,
    /// The fixed statements of the code, by their text.
    pub(crate) statements: HashMap<&'static str, Statement>,
    /// Statements built at run time (listings), by their text; emptied when full.
    pub(crate) built: HashMap<String, Statement>,
    /// Since when a read-only snapshot has been done with but not ended: its `COMMIT` goes out
    /// with the next transaction's `BEGIN` (see `Session`), or [`Pool::end_idle_snapshots`]
    /// sends it once the connection has sat idle. Outside a `Session`, use [`Conn::link`].
    pub(crate) snapshot: Option<Instant>,
}

impl Conn {
    pub(crate) fn new(link: Link) -> Conn {
        Conn { link, statements: HashMap::new(), built: HashMap::new(), snapshot: None }
    }

    /// The link, with no snapshot left open on it: for a statement outside a `Session`.
    pub(crate) fn link(&mut self) -> Result<&mut Link, Error> {
        if self.snapshot.take().is_some() {
            self.link.call(&[], |client| client.batch_execute("COMMIT"))?;
        }
        Ok(&mut self.link)
    }
}

/// At most `max` connections to one database, handed out one job at a time.
pub struct Pool {
    settings: Settings,
    max: usize,
    state: Mutex<State>,
    freed: Condvar,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("location", &self.settings.location()).field("max", &self.max).finish()
    }
}

#[derive(Default)]
struct State {
    idle: Vec<Conn>,
    open: usize,
}

/// A checked-out connection; it goes back to the pool (or away, if broken) when dropped, even
/// if the job panicked.
struct Lease<'p> {
    pool: &'p Pool,
    conn: Option<Conn>,
    broken: bool,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let mut state = self.pool.state.lock().unwrap_or_else(PoisonError::into_inner);
        match self.conn.take() {
            Some(conn) if !self.broken && !conn.link.is_closed() && !std::thread::panicking() => {
                state.idle.push(conn);
            }
            _ => state.open = state.open.saturating_sub(1),
        }
        self.pool.freed.notify_one();
    }
}

impl Pool {
    /// A pool of at most `max` connections (at least one); none is opened yet.
    pub fn new(settings: Settings, max: usize) -> Pool {
        Pool { settings, max: max.max(1), state: Mutex::new(State::default()), freed: Condvar::new() }
    }

    /// Runs `f` on a pooled connection, connecting first if none is idle.
    ///
    /// [`Error::Unavailable`] if no connection is free within [`CHECKOUT_TIMEOUT`] or a new one
    /// cannot be opened within [`CONNECT_TIMEOUT`].
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T, Error>) -> Result<T, Error> {
        let mut lease = self.checkout()?;
        let result = match lease.conn.as_mut() {
            Some(conn) => f(conn),
            None => Err(Error::Backend("a pooled connection went missing".into())),
        };
        lease.broken = matches!(result, Err(Error::Unavailable(_)));
        result
    }

    /// Ends the read snapshots left open on connections idle for `age` or more.
    ///
    /// Under load the next job on a connection ends its predecessor's snapshot in the same
    /// flight as its own `BEGIN`; a connection that sits idle would otherwise hold a snapshot
    /// (and so hold back vacuum) until it is next used. Called a few times a second by the
    /// control watch's thread.
    pub(crate) fn end_idle_snapshots(&self, age: Duration) {
        let stale = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let (stale, fresh) = std::mem::take(&mut state.idle)
                .into_iter()
                .partition(|conn: &Conn| conn.snapshot.is_some_and(|since| since.elapsed() >= age));
            state.idle = fresh;
            stale
        };
        for conn in stale {
            let mut lease = Lease { pool: self, conn: Some(conn), broken: false };
            if let Some(conn) = lease.conn.as_mut() {
                lease.broken = conn.link().is_err();
            }
        }
    }

    fn checkout(&self) -> Result<Lease<'_>, Error> {
        let deadline = Instant::now() + CHECKOUT_TIMEOUT;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            while let Some(conn) = state.idle.pop() {
                if !conn.link.is_closed() {
                    return Ok(Lease { pool: self, conn: Some(conn), broken: false });
                }
                state.open = state.open.saturating_sub(1);
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                // The lease gives the slot back if connecting fails.
                let mut lease = Lease { pool: self, conn: None, broken: true };
                let link = self.settings.link()?;
                lease.conn = Some(Conn::new(link));
                lease.broken = false;
                return Ok(lease);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Unavailable(format!(
                    "no database connection was free within {} s",
                    CHECKOUT_TIMEOUT.as_secs()
                )));
            }
            state = self.freed.wait_timeout(state, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn location_drops_the_password_and_odd_strings_are_refused() {
        let s = Settings::parse("postgresql://scim:s3cret@db.example:6543/directory?sslmode=require").unwrap();
        assert_eq!(s.location(), "postgres://scim@db.example:6543/directory");
        let s = Settings::parse("host=/run/postgresql user=u password=p dbname=d").unwrap();
        assert_eq!(s.location(), "postgres://u@/run/postgresql:5432/d");
        assert!(Settings::parse("postgres://u@h/d?sslmode=verify-full").is_ok());
        assert!(matches!(Settings::parse("postgres://u@h/d?sslmode=bogus"), Err(Error::Backend(_))));
        assert!(matches!(Settings::parse("postgres://u@h/d?sslrootcert=/x"), Err(Error::Backend(_))));
    }

    #[test]
    fn an_unreachable_database_is_unavailable_quickly() {
        // A port nothing listens on: refused at once, never a hang.
        let pool = Pool::new(Settings::parse("postgres://u@127.0.0.1:1/d?sslmode=disable").unwrap(), 2);
        let started = Instant::now();
        for _ in 0..3 {
            assert!(matches!(pool.with(|_| Ok(())), Err(Error::Unavailable(_))));
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        // Failed connects gave their slots back.
        assert_eq!(pool.state.lock().unwrap().open, 0);
    }
}
