//! Schema migrations keyed on `PRAGMA user_version`.
//!
//! Version `n` is reached by applying the `n`-th entry of [`MIGRATIONS`] to a database at
//! version `n - 1`, in one `BEGIN IMMEDIATE` transaction that also sets `user_version`, so a
//! crash mid-upgrade leaves the previous version intact and two processes opening the same file
//! at once apply each step exactly once. A database newer than [`SCHEMA_VERSION`] is refused
//! before anything writes to it.

use rusqlite::Connection;

use crate::{Error, KeyExport, meta, schema};

/// The DDL of each schema version, oldest first: entry `i` upgrades version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[schema::V1, schema::V2, schema::V3, schema::V4, schema::V5];

/// The newest schema version this build knows and creates.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The database's `PRAGMA user_version` (0 for a new file).
pub(crate) fn user_version(conn: &Connection) -> Result<i64, Error> {
    Ok(conn.pragma_query_value(None, "user_version", |row| row.get(0))?)
}

/// The database's schema version, or [`Error::TooNew`] if this build cannot read it.
///
/// A negative version was not written by this code either, so it is refused the same way.
pub(crate) fn check(conn: &Connection) -> Result<i64, Error> {
    let found = user_version(conn)?;
    if !(0..=SCHEMA_VERSION).contains(&found) {
        return Err(Error::TooNew { found, supported: SCHEMA_VERSION });
    }
    Ok(found)
}

/// Brings the database up to [`SCHEMA_VERSION`], one transaction per version step.
///
/// A signing key still inside the database is handed to `export` before the step that deletes it
/// (version 4) runs, so it is never lost: if the step fails, the database keeps it too.
pub(crate) fn migrate(conn: &Connection, export: &mut KeyExport<'_>) -> Result<(), Error> {
    loop {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        match step(conn, export) {
            Ok(true) => conn.execute_batch("COMMIT")?,
            Ok(false) => {
                conn.execute_batch("COMMIT")?;
                return Ok(());
            }
            Err(e) => {
                if let Err(rollback) = conn.execute_batch("ROLLBACK") {
                    tracing::error!(error = %rollback, "rolling back a failed migration failed");
                }
                return Err(e);
            }
        }
    }
}

/// Applies the next migration inside the caller's transaction; false when already current.
///
/// The version is read again here, under the write lock, because another process may have
/// migrated the file since this one looked.
fn step(conn: &Connection, export: &mut KeyExport<'_>) -> Result<bool, Error> {
    let found = check(conn)?;
    let Some(ddl) = usize::try_from(found).ok().and_then(|i| MIGRATIONS.get(i)) else {
        return Ok(false);
    };
    // Every version from 1 has `meta`; only those before 4 can hold the key. Its page is then
    // overwritten with zeros when deleted, not merely unlinked.
    if found >= 1 && meta::export_signing_key(conn, export)? {
        conn.pragma_update(None, "secure_delete", "ON")?;
    }
    conn.execute_batch(ddl)?;
    conn.pragma_update(None, "user_version", found + 1)?;
    tracing::info!(from = found, to = found + 1, "migrated the store's schema");
    Ok(true)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::testkit::TempDir;
    use crate::{Options, Store};

    #[test]
    fn a_fresh_file_gets_the_latest_schema() {
        let dir = TempDir::new();
        let store = Store::open(&dir.db(), Options::default()).unwrap();
        store.close().unwrap();
        let conn = Connection::open(dir.db()).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
        let mut tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        tables.sort();
        assert_eq!(
            tables,
            [
                "access_control",
                "access_keys",
                "admin_audit",
                "admin_tokens",
                "audit",
                "members",
                "meta",
                "resources",
                "tenants",
                "tokens"
            ]
        );
        let mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0)).unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn reopening_keeps_data() {
        let dir = TempDir::new();
        let store = Store::open(&dir.db(), Options::default()).unwrap();
        let tenant = store.create_tenant(Some("acme"), "identity-center").unwrap();
        store.close().unwrap();

        let store = Store::open(&dir.db(), Options::default()).unwrap();
        assert_eq!(store.tenant(&tenant.id).unwrap(), Some(tenant));
        store.close().unwrap();

        let conn = Connection::open(dir.db()).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn a_version_1_database_gains_rate_limits_off() {
        let dir = TempDir::new();
        {
            let conn = Connection::open(dir.db()).unwrap();
            conn.execute_batch(schema::V1).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute("INSERT INTO tenants (id, profile, created) VALUES ('t1', 'identity-center', 1)", []).unwrap();
        }
        let store = Store::open(&dir.db(), Options::default()).unwrap();
        let tenant = store.tenant("t1").unwrap().unwrap();
        assert_eq!((tenant.profile.as_str(), tenant.rate_limit), ("identity-center", None));
        store.close().unwrap();
        assert_eq!(user_version(&Connection::open(dir.db()).unwrap()).unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn a_version_2_database_gains_admin_tokens_access_control_and_access_keys() {
        let dir = TempDir::new();
        {
            let conn = Connection::open(dir.db()).unwrap();
            conn.execute_batch(schema::V1).unwrap();
            conn.execute_batch(schema::V2).unwrap();
            conn.pragma_update(None, "user_version", 2).unwrap();
            conn.execute("INSERT INTO tenants (id, profile, created) VALUES ('t1', 'identity-center', 1)", []).unwrap();
        }
        let store = Store::open(&dir.db(), Options::default()).unwrap();
        assert!(store.admin_tokens().unwrap().is_empty());
        let key = store.tenant("t1").unwrap().unwrap().key;
        assert!(store.read(|r| r.access_control(key)).unwrap().is_empty());
        assert!(store.all_access_keys().unwrap().is_empty());
        store.close().unwrap();
        assert_eq!(user_version(&Connection::open(dir.db()).unwrap()).unwrap(), SCHEMA_VERSION);
    }

    /// A database of version 3, as that version made it: with the signing key in `meta`.
    fn version_3_with_key(dir: &TempDir, key: &[u8]) {
        let conn = Connection::open(dir.db()).unwrap();
        for ddl in [schema::V1, schema::V2, schema::V3] {
            conn.execute_batch(ddl).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        conn.execute("INSERT INTO meta (key, value) VALUES ('signing_key', ?1)", [key]).unwrap();
        conn.execute("INSERT INTO tenants (id, profile, created) VALUES ('t1', 'identity-center', 1)", []).unwrap();
    }

    fn has_key_in_meta(dir: &TempDir) -> bool {
        let conn = Connection::open(dir.db()).unwrap();
        conn.query_row("SELECT COUNT(*) FROM meta WHERE key = 'signing_key'", [], |r| r.get::<_, i64>(0)).unwrap() > 0
    }

    #[test]
    fn a_version_3_database_hands_its_key_out_then_forgets_it() {
        let dir = TempDir::new();
        version_3_with_key(&dir, &[42u8; 32]);
        // An export that fails leaves the database at version 3, key included.
        let refused = Store::open_moving_key(&dir.db(), Options::default(), &mut |_| Err("disk full".into()));
        assert!(matches!(refused, Err(Error::KeyExport(ref why)) if why == "disk full"), "{refused:?}");
        assert_eq!(user_version(&Connection::open(dir.db()).unwrap()).unwrap(), 3);
        assert!(has_key_in_meta(&dir));
        // So does a plain open, which has nowhere to put the key.
        assert!(matches!(Store::open(&dir.db(), Options::default()), Err(Error::KeyExport(_))));

        let mut exported = Vec::new();
        let store = Store::open_moving_key(&dir.db(), Options::default(), &mut |key| {
            exported.push(key.to_vec());
            Ok(())
        })
        .unwrap();
        assert_eq!(exported, [vec![42u8; 32]]);
        assert!(store.tenant("t1").unwrap().is_some());
        store.close().unwrap();
        assert!(!has_key_in_meta(&dir));
        assert_eq!(user_version(&Connection::open(dir.db()).unwrap()).unwrap(), SCHEMA_VERSION);
        // No key material is left anywhere in the file, free pages included.
        let bytes = std::fs::read(dir.db()).unwrap();
        assert!(!bytes.windows(32).any(|w| w == [42u8; 32]));
    }

    #[test]
    fn a_newer_database_is_refused_and_left_untouched() {
        let dir = TempDir::new();
        Store::open(&dir.db(), Options::default()).unwrap().close().unwrap();
        {
            let conn = Connection::open(dir.db()).unwrap();
            conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
        }
        let before = std::fs::read(dir.db()).unwrap();
        let modified = std::fs::metadata(dir.db()).unwrap().modified().unwrap();

        match Store::open(&dir.db(), Options::default()) {
            Err(Error::TooNew { found, supported }) => {
                assert_eq!(found, SCHEMA_VERSION + 1);
                assert_eq!(supported, SCHEMA_VERSION);
            }
            other => panic!("expected TooNew, got {other:?}"),
        }
        assert_eq!(std::fs::read(dir.db()).unwrap(), before);
        assert_eq!(std::fs::metadata(dir.db()).unwrap().modified().unwrap(), modified);
    }

    #[test]
    fn a_half_applied_upgrade_is_not_possible() {
        // A migration that fails leaves the version where it was.
        let dir = TempDir::new();
        let conn = Connection::open(dir.db()).unwrap();
        conn.execute_batch("CREATE TABLE tenants (x)").unwrap();
        assert!(migrate(&conn, &mut |_| Ok(())).is_err());
        assert_eq!(user_version(&conn).unwrap(), 0);
        let tables: i64 =
            conn.query_row("SELECT COUNT(*) FROM sqlite_master WHERE name = 'meta'", [], |r| r.get(0)).unwrap();
        assert_eq!(tables, 0);
    }
}
