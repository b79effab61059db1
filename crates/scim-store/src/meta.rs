//! The `meta` table: store-wide values, today only the token signing key.

use rusqlite::{Connection, OptionalExtension};

use crate::{Error, ids};

/// The `meta` key of the token signing key.
const SIGNING_KEY: &str = "signing_key";

/// Creates the 32-byte signing key if the database has none yet.
///
/// `INSERT OR IGNORE` keeps the first key if two processes create a new file at once.
pub(crate) fn ensure_signing_key(conn: &Connection) -> Result<(), Error> {
    if signing_key(conn)?.is_some() {
        return Ok(());
    }
    let key = ids::random::<32>()?;
    conn.prepare_cached("INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)")?.execute((SIGNING_KEY, &key[..]))?;
    Ok(())
}

/// The signing key, if created.
pub(crate) fn signing_key(conn: &Connection) -> Result<Option<Vec<u8>>, Error> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([SIGNING_KEY], |row| row.get(0))
        .optional()?)
}
