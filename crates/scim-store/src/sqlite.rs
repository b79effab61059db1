//! The SQLite [`Backend`]: one writer thread with group commit (`commit`), a pool of readers
//! (`pool`), and the watch on `PRAGMA data_version`. Jobs see the database through `db::Db`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::Connection;
use scim_schema::ResourceKind;

use crate::commit::Committer;
use crate::contract::{Backend, Reader, WriteJob, read_texts};
use crate::db::Db;
use crate::hints::Hints;
use crate::pool::Pool;
use crate::{CommitSnapshot, CommitStats, Error, Options, Store, Stored, TenantKey, connection};

/// Where [`Store::open_moving_key`] hands a signing key found in an older database: a function
/// that stores it durably (in the key file) or says why it could not.
pub type KeyExport<'a> = dyn FnMut(&[u8]) -> Result<(), String> + 'a;

/// The SQLite backend: one database file, one writer thread, a pool of readers.
struct Sqlite {
    // Dropped first: the writer finishes its queue before the readers close.
    committer: Committer,
    readers: Pool,
    /// Where rows are, by id and by name: noted by the writer and by reads (see `hints`).
    hints: Arc<Hints>,
    watch: Mutex<Watch>,
    changes: Arc<AtomicI64>,
    stats: Arc<CommitStats>,
    path: PathBuf,
}

/// A connection that only polls `PRAGMA data_version`, and the last value it saw.
#[derive(Debug)]
struct Watch {
    conn: Connection,
    seen: i64,
}

impl fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sqlite").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if need be) the SQLite database at `path`, migrates it, and starts the
    /// writer.
    ///
    /// [`Error::TooNew`] if the file was written by a newer version; it is then left untouched.
    /// [`Error::KeyExport`] if it still holds a signing key (schema version 3 or older): only
    /// [`Store::open_moving_key`] can open that.
    pub fn open(path: &Path, options: Options) -> Result<Store, Error> {
        Store::open_moving_key(path, options, &mut |_| {
            Err("the database holds a signing key and no key file was given to receive it".into())
        })
    }

    /// Opens the SQLite database like [`Store::open`]; if it still holds the token signing key
    /// (schema version 3 and older did), hands the key to `export` first, which must keep it
    /// durably (in the key file), then deletes it from the database, zeroing its page.
    ///
    /// If `export` fails, the open fails with [`Error::KeyExport`] and the database keeps its key.
    /// The database file is made readable by its owner only (`0600`), new or not.
    pub fn open_moving_key(path: &Path, options: Options, export: &mut KeyExport<'_>) -> Result<Store, Error> {
        let writer = connection::open_writer(path, options.durability, export)?;
        let watch = connection::open_reader(path)?;
        let seen = data_version(&watch)?;
        let changes = Arc::new(AtomicI64::new(0));
        let stats = Arc::new(CommitStats::default());
        let hints = Arc::new(Hints::default());
        let committer = Committer::spawn(writer, changes.clone(), Arc::clone(&stats), Arc::clone(&hints))?;
        tracing::debug!(path = %path.display(), ?options, "opened the store");
        Ok(Store::new(Sqlite {
            committer,
            readers: Pool::new(path.to_owned(), options.readers),
            hints,
            watch: Mutex::new(Watch { conn: watch, seen }),
            changes,
            stats,
            path: path.to_owned(),
        }))
    }
}

impl Backend for Sqlite {
    fn read(&self, job: &mut dyn FnMut(&dyn Reader) -> Result<(), Error>) -> Result<(), Error> {
        self.readers.with(|conn| {
            connection::exec(conn, "BEGIN")?;
            let result = job(&Db::new(conn, &self.hints));
            // Ending a read-only snapshot cannot lose anything; the pool rolls back if this fails.
            if let Err(e) = connection::exec(conn, "COMMIT") {
                tracing::warn!(error = %e, "ending a read snapshot failed");
            }
            result
        })?
    }

    /// One key is one statement, which SQLite runs in a read transaction of its own: no
    /// `BEGIN` and `COMMIT` around it (a read by id cost about 4% more with them).
    fn get_texts(&self, keys: &[(TenantKey, ResourceKind, &str)]) -> Result<Vec<Option<Stored<String>>>, Error> {
        match keys {
            &[(tenant, kind, id)] => {
                self.readers.with(|conn| Ok(vec![Db::new(conn, &self.hints).get_text(tenant, kind, id)?]))?
            }
            _ => read_texts(self, keys),
        }
    }

    fn write(&self, job: WriteJob) -> Result<(), Error> {
        self.committer.submit(job)
    }

    /// One `PRAGMA data_version` on a dedicated connection, which changes on every commit by any
    /// other connection, combined with a counter this store's writer bumps on its own commits.
    fn data_version(&self) -> Result<i64, Error> {
        let mut watch = self.watch.lock().unwrap_or_else(PoisonError::into_inner);
        let now = data_version(&watch.conn)?;
        if now != watch.seen {
            watch.seen = now;
            self.changes.fetch_add(1, Ordering::SeqCst);
        }
        Ok(self.changes.load(Ordering::SeqCst))
    }

    fn commit_stats(&self) -> CommitSnapshot {
        self.stats.snapshot()
    }

    fn close(mut self: Box<Self>) -> Result<(), Error> {
        self.committer.shutdown()
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }
}

/// `PRAGMA data_version` of `conn`.
fn data_version(conn: &Connection) -> Result<i64, Error> {
    Ok(conn.prepare_cached("PRAGMA data_version")?.query_row([], |row| row.get(0))?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use scim_schema::ResourceKind::{Group, User};

    use crate::Error;
    use crate::testkit::{Fixture, attrs, user_keys};

    #[test]
    fn reads_by_id_alone_answer_as_a_read_job_does() {
        let f = Fixture::new();
        let (a, b) = (f.a, f.b);
        let (ann, bob) = f
            .store
            .write(move |w| -> Result<_, Error> {
                let ann = w.insert(a, User, &user_keys("ann"), &attrs("ann"), 1)?.id;
                let bob = w.insert(b, User, &user_keys("bob"), &attrs("bob"), 1)?.id;
                Ok((ann, bob))
            })
            .unwrap();
        let one = |t, k, id: &str| f.store.get_texts(&[(t, k, id)]).unwrap();
        let in_a_job = |keys: &[_]| f.store.read(|r| r.get_texts(keys)).unwrap();
        // One key (the statement alone): found, missing, another tenant's, the wrong kind.
        for (t, k, id) in [(a, User, ann.as_str()), (a, User, "no-such-id"), (a, User, bob.as_str()), (a, Group, &ann)]
        {
            assert_eq!(one(t, k, id), in_a_job(&[(t, k, id)]), "{id}");
        }
        assert_eq!(one(a, User, &ann)[0].as_ref().map(|s| s.id.as_str()), Some(ann.as_str()));
        assert_eq!(one(a, User, &bob), [None]);
        // None, and several (a read job).
        assert_eq!(f.store.get_texts(&[]).unwrap(), []);
        let keys = [(a, User, ann.as_str()), (b, User, bob.as_str()), (a, User, "no-such-id")];
        let found = f.store.get_texts(&keys).unwrap();
        assert_eq!(found, in_a_job(&keys));
        assert_eq!(found.iter().map(Option::is_some).collect::<Vec<_>>(), [true, true, false]);
    }
}
