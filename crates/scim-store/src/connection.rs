//! Opening and configuring connections: every pragma is set explicitly, none is left to defaults,
//! and every connection gets the SQL functions filter translation relies on.

use std::path::Path;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OpenFlags};

use crate::{Durability, Error, KeyExport, migrations};

/// How long a statement waits for another connection's lock before failing with `SQLITE_BUSY`.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection; list queries have a few dozen shapes.
const STATEMENT_CACHE: usize = 64;

/// Opens the one read-write connection and migrates the schema, handing a signing key found in an
/// older database to `export`.
///
/// The version check comes before any pragma that could write: a file that is too new is
/// refused without being touched (switching to WAL would rewrite its header).
pub(crate) fn open_writer(
    path: &Path,
    durability: Durability,
    export: &mut KeyExport<'_>,
) -> Result<Connection, Error> {
    private_files(path)?;
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
    prepare_statements(&conn)?;
    register_functions(&conn)?;
    let before = migrations::user_version(&conn)?;
    migrations::migrate(&conn, export)?;
    if before != migrations::user_version(&conn)? {
        // An upgrade may have zeroed the old key's page in the log; write it to the main file now,
        // so no copy of the database taken from here on holds the key.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    }
    conn.pragma_update(None, "secure_delete", "OFF")?;
    Ok(conn)
}

/// Makes the database file readable by its owner only: a new file is created `0600` (SQLite gives
/// its `-wal` and `-shm` files the database's mode), and an existing one, or its `-wal` and
/// `-shm`, loses any group and other permission.
fn private_files(path: &Path) -> Result<(), Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let io = |e: std::io::Error| Error::Io(format!("{}: {e}", path.display()));
        std::fs::OpenOptions::new().write(true).create(true).truncate(false).mode(0o600).open(path).map_err(io)?;
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            let file = Path::new(&name);
            let Ok(meta) = std::fs::metadata(file) else { continue };
            if meta.permissions().mode() & 0o077 != 0 {
                std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
            }
        }
    }
    Ok(())
}

/// Opens a read-only connection to a database that [`open_writer`] already prepared.
pub(crate) fn open_reader(path: &Path) -> Result<Connection, Error> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    prepare_statements(&conn)?;
    register_functions(&conn)?;
    Ok(conn)
}

/// Keeps prepared statements: a cache of them per connection, and the query planner stability
/// guarantee (`SQLITE_DBCONFIG_ENABLE_QPSG`), without which SQLite reads a bound `LIMIT ?` into
/// the plan and so re-prepares the listing statement at every new page size or cursor: 16% of
/// the server's CPU on a `userName eq` filter (docs/BENCHMARKS.md). No plan of this crate
/// depends on a bound value (the plan tests of `query` and `filter_sql` hold with it on).
fn prepare_statements(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

/// Adds the scalar functions filter translation ([`crate::filter_sql`]) uses:
///
/// - `scim_fold(x)`: text lowercased by Rust's `str::to_lowercase`, the fold the in-memory
///   evaluator and the `name_key` column use (SQLite's `lower()` folds ASCII only);
/// - `scim_datetime(ms)`: milliseconds since the epoch as `meta` renders them
///   (`2020-03-31T02:36:15Z`);
/// - `scim_instant(text)`: an `xsd:dateTime` as milliseconds since the epoch, `NULL` if it is not one.
///
/// Each returns any other argument type unchanged (`NULL` stays `NULL`), and all are
/// deterministic, so SQLite may use them anywhere an expression may appear.
fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC | FunctionFlags::SQLITE_INNOCUOUS;
    conn.create_scalar_function("scim_fold", 1, flags, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Text(text) => Value::Text(String::from_utf8_lossy(text).to_lowercase()),
            _ => passthrough(ctx),
        })
    })?;
    conn.create_scalar_function("scim_datetime", 1, flags, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Integer(ms) => Value::Text(scim_schema::time::format_datetime(ms)),
            _ => passthrough(ctx),
        })
    })?;
    conn.create_scalar_function("scim_instant", 1, flags, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Text(text) => std::str::from_utf8(text)
                .ok()
                .and_then(scim_schema::time::parse_datetime)
                .map_or(Value::Null, Value::Integer),
            _ => Value::Null,
        })
    })?;
    Ok(())
}

/// The first argument of a function call, unchanged.
fn passthrough(ctx: &Context<'_>) -> Value {
    Value::from(ctx.get_raw(0))
}

/// Runs one statement that returns no rows (transaction control) through the statement cache.
pub(crate) fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use rusqlite::StatementStatus;

    use crate::testkit::Fixture;

    #[test]
    fn a_bound_limit_does_not_re_prepare_the_statement() {
        let f = Fixture::new();
        let conn = super::open_reader(&f.dir.db()).unwrap();
        let mut stmt =
            conn.prepare_cached("SELECT seq FROM resources WHERE tenant = ?1 ORDER BY seq LIMIT ?2").unwrap();
        for limit in 1..=5 {
            stmt.query_map((f.a.0, limit), |row| row.get::<_, i64>(0)).unwrap().for_each(drop);
        }
        assert_eq!(stmt.get_status(StatementStatus::RePrepare), 0);
    }
}
