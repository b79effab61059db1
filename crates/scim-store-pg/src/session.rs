//! [`Session`]: one job's transaction, and the helpers its statements share.
//!
//! The methods that make up the contract live beside their tables (`tenants.rs`,
//! `resources.rs`, ...); `access.rs` says which of them are the contract's [`Reader`] and
//! [`Writer`]. This file only opens and ends the transaction and runs statements.

use std::cell::{RefCell, RefMut};
use std::collections::HashMap;

use postgres::types::{FromSql, ToSql};
use postgres::{IsolationLevel, Row, Statement, Transaction};
use scim_store::{Error, TenantKey};

use crate::error::db;
use crate::pool::Conn;

/// Statement parameters.
pub(crate) type Params<'p> = [&'p (dyn ToSql + Sync)];

/// One job's transaction on a pooled connection.
///
/// Reader methods take `&self`, and the `postgres` client needs `&mut` for every statement, so
/// the transaction sits in a `RefCell`; a job that re-enters the session from inside an
/// export callback gets an error, never a panic.
pub(crate) struct Session<'a> {
    tx: RefCell<Transaction<'a>>,
    statements: RefCell<&'a mut HashMap<&'static str, Statement>>,
    /// The quota shards this transaction has locked: `(tenant, kind, shard)`, with shard `-1`
    /// for "every shard of that tenant and kind".
    shards: RefCell<Vec<(i64, i16, i16)>>,
}

impl<'a> Session<'a> {
    /// Opens a `REPEATABLE READ READ ONLY` transaction (one snapshot) when `read_only`, else a
    /// `READ COMMITTED` one.
    pub(crate) fn begin(conn: &'a mut Conn, read_only: bool) -> Result<Session<'a>, Error> {
        let Conn { client, statements } = conn;
        let level = if read_only { IsolationLevel::RepeatableRead } else { IsolationLevel::ReadCommitted };
        let tx = client.build_transaction().isolation_level(level).read_only(read_only).start().map_err(db)?;
        Ok(Session { tx: RefCell::new(tx), statements: RefCell::new(statements), shards: RefCell::new(Vec::new()) })
    }

    /// Commits (`keep`) or rolls back; `Ok` once the commit is durable.
    pub(crate) fn finish(self, keep: bool) -> Result<(), Error> {
        let tx = self.tx.into_inner();
        if keep { tx.commit() } else { tx.rollback() }.map_err(db)
    }

    /// The transaction, for one statement.
    pub(crate) fn tx(&self) -> Result<RefMut<'_, Transaction<'a>>, Error> {
        self.tx.try_borrow_mut().map_err(|_| Error::Backend("the session was used from inside its own callback".into()))
    }

    /// `sql` prepared once per connection.
    fn prepared(&self, sql: &'static str) -> Result<Statement, Error> {
        let mut cache = self
            .statements
            .try_borrow_mut()
            .map_err(|_| Error::Backend("the session was used from inside its own callback".into()))?;
        if let Some(statement) = cache.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.tx()?.prepare(sql).map_err(db)?;
        cache.insert(sql, statement.clone());
        Ok(statement)
    }

    /// The quota shards of `tenant` and `kind` this transaction holds.
    pub(crate) fn shards_used(&self, tenant: TenantKey, kind: i16) -> Vec<i16> {
        self.shards.borrow().iter().filter(|(t, k, _)| *t == tenant.0 && *k == kind).map(|(_, _, s)| *s).collect()
    }

    /// Whether this transaction holds every quota shard of `tenant` and `kind`.
    pub(crate) fn holds_every_shard(&self, tenant: TenantKey, kind: i16) -> bool {
        self.shards_used(tenant, kind).contains(&-1)
    }

    /// Notes that this transaction holds `shard` of `tenant` and `kind`.
    pub(crate) fn note_shard(&self, tenant: TenantKey, kind: i16, shard: i16) {
        self.shards.borrow_mut().push((tenant.0, kind, shard));
    }

    /// Notes that this transaction holds every shard of `tenant` and `kind`.
    pub(crate) fn note_every_shard(&self, tenant: TenantKey, kind: i16) {
        self.note_shard(tenant, kind, -1);
    }

    /// Every row of `sql`.
    pub(crate) fn rows(&self, sql: &'static str, params: &Params<'_>) -> Result<Vec<Row>, Error> {
        let statement = self.prepared(sql)?;
        self.tx()?.query(&statement, params).map_err(db)
    }

    /// The one row of `sql`, if any.
    pub(crate) fn row(&self, sql: &'static str, params: &Params<'_>) -> Result<Option<Row>, Error> {
        let statement = self.prepared(sql)?;
        self.tx()?.query_opt(&statement, params).map_err(db)
    }

    /// Runs `sql`; returns how many rows it changed.
    pub(crate) fn exec(&self, sql: &'static str, params: &Params<'_>) -> Result<u64, Error> {
        let statement = self.prepared(sql)?;
        self.tx()?.execute(&statement, params).map_err(db)
    }
}

/// Column `i` of `row`.
pub(crate) fn col<'r, T: FromSql<'r>>(row: &'r Row, i: usize) -> Result<T, Error> {
    row.try_get(i).map_err(db)
}

/// A count or size as a statement parameter.
pub(crate) fn int(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A statement's row count as the contract's `usize`.
pub(crate) fn count(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
