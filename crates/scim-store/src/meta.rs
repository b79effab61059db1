//! The `meta` table: store-wide values. It once held the token signing key; schema version 4
//! moves that key out to the key file (see [`crate::Store::open_moving_key`]) and deletes it.

use rusqlite::{Connection, OptionalExtension};

use crate::{Error, KeyExport};

/// The `meta` key under which versions 1 to 3 kept the token signing key.
const SIGNING_KEY: &str = "signing_key";

/// Hands a signing key still kept in the database to `export`, which must store it durably
/// elsewhere before returning `Ok`; the migration that follows deletes it from the database.
/// True if there was one.
pub(crate) fn export_signing_key(conn: &Connection, export: &mut KeyExport<'_>) -> Result<bool, Error> {
    let key: Option<Vec<u8>> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([SIGNING_KEY], |row| row.get(0))
        .optional()?;
    match key {
        Some(key) => export(&key).map(|()| true).map_err(Error::KeyExport),
        None => Ok(false),
    }
}
