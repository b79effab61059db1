//! The two views a job gets of the database: [`Reader`] and [`Writer`].

use std::ops::Deref;

use rusqlite::Connection;

/// A read-only view of one consistent snapshot of the database.
///
/// Handed to the closure of [`Store::read`](crate::Store::read); every method is scoped to the
/// tenant it names.
#[derive(Debug)]
pub struct Reader<'a> {
    pub(crate) conn: &'a Connection,
}

/// A read-write view inside one job's savepoint.
///
/// Handed to the closure of [`Store::write`](crate::Store::write). It dereferences to a
/// [`Reader`], so a job reads its own writes: a read-modify-write (a SCIM PATCH) done inside one
/// job cannot lose a concurrent update, because jobs run one after another on the writer thread.
#[derive(Debug)]
pub struct Writer<'a> {
    reader: Reader<'a>,
}

impl<'a> Reader<'a> {
    /// A view through `conn`.
    pub(crate) fn new(conn: &'a Connection) -> Reader<'a> {
        Reader { conn }
    }
}

impl<'a> Writer<'a> {
    /// A view through the write connection, inside an open savepoint.
    pub(crate) fn new(conn: &'a Connection) -> Writer<'a> {
        Writer { reader: Reader { conn } }
    }

    /// The write connection.
    pub(crate) fn conn(&self) -> &'a Connection {
        self.reader.conn
    }
}

impl<'a> Deref for Writer<'a> {
    type Target = Reader<'a>;

    fn deref(&self) -> &Reader<'a> {
        &self.reader
    }
}
