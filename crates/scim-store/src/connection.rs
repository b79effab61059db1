//! Opening and configuring connections: every pragma is set explicitly, none is left to defaults.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::{Durability, Error, meta, migrations};

/// How long a statement waits for another connection's lock before failing with `SQLITE_BUSY`.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection; list queries have a few dozen shapes.
const STATEMENT_CACHE: usize = 64;

/// Opens the one read-write connection, migrating the schema and creating the signing key.
///
/// The version check comes before any pragma that could write: a file that is too new is
/// refused without being touched (switching to WAL would rewrite its header).
pub(crate) fn open_writer(path: &Path, durability: Durability) -> Result<Connection, Error> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    migrations::check(&conn)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        // Still correct, but readers now wait on the writer; say so loudly.
        tracing::warn!(%mode, "the database refused WAL mode; readers will block on writes");
    }
    let synchronous = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    migrations::migrate(&conn)?;
    meta::ensure_signing_key(&conn)?;
    Ok(conn)
}

/// Opens a read-only connection to a database that [`open_writer`] already prepared.
pub(crate) fn open_reader(path: &Path) -> Result<Connection, Error> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Runs one statement that returns no rows (transaction control) through the statement cache.
pub(crate) fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}
