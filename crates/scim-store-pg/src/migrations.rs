//! Schema migrations keyed on the one row of `schema_version`.
//!
//! Every replica migrates at start, possibly at the same instant, so the whole upgrade runs in
//! one transaction holding a transaction-level advisory lock: the first process applies the
//! missing steps, the others wait, then find the schema current. A database whose version is
//! newer than [`SCHEMA_VERSION`] is refused with [`Error::TooNew`] before anything is written
//! (the transaction is rolled back, having only read).

use postgres::Client;
use scim_store::Error;

use crate::error::db;
use crate::schema;

/// The DDL of each schema version, oldest first: entry `i` upgrades version `i` to `i + 1`.
const MIGRATIONS: &[&[&str]] = &[&[schema::V1, schema::LISTING], &[schema::V2_QUOTA_SHARES]];

/// The newest schema version this build knows and creates.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The advisory lock key migrations hold (an arbitrary constant: "scim" in ASCII).
const MIGRATION_LOCK: i64 = 0x7363_696d;

/// Brings the database up to [`SCHEMA_VERSION`], or refuses a newer one untouched.
pub(crate) fn migrate(client: &mut Client) -> Result<(), Error> {
    let mut tx = client.transaction().map_err(db)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).map_err(db)?;
    let found = version(&mut tx)?;
    if !(0..=SCHEMA_VERSION).contains(&found) {
        // Dropping the transaction rolls it back: the database is left as it was.
        return Err(Error::TooNew { found, supported: SCHEMA_VERSION });
    }
    let Ok(from) = usize::try_from(found) else {
        return Err(Error::TooNew { found, supported: SCHEMA_VERSION });
    };
    for (step, parts) in MIGRATIONS.iter().enumerate().skip(from) {
        for ddl in *parts {
            tx.batch_execute(ddl).map_err(db)?;
        }
        let to = i32::try_from(step + 1).unwrap_or(i32::MAX);
        tx.execute("UPDATE schema_version SET version = $1", &[&to]).map_err(db)?;
        tracing::info!(from = step, to, "migrated the PostgreSQL schema");
    }
    tx.commit().map_err(db)
}

/// The database's schema version: 0 when it has no `schema_version` table yet.
fn version(tx: &mut postgres::Transaction<'_>) -> Result<i64, Error> {
    let exists = tx.query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[]).map_err(db)?;
    if !exists.try_get::<_, bool>(0).map_err(db)? {
        return Ok(0);
    }
    let row = tx.query_opt("SELECT version FROM schema_version", &[]).map_err(db)?;
    match row {
        Some(row) => Ok(i64::from(row.try_get::<_, i32>(0).map_err(db)?)),
        None => Ok(0),
    }
}
