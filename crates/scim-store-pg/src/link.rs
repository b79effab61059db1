//! [`Link`]: one pooled connection, driven on the store thread that uses it, sending requests
//! back to back where the answer to one is not needed before the next is sent.
//!
//! The `postgres` crate waits for each statement's answer before sending anything else, so a
//! read by id cost three round trips (`BEGIN`, `SELECT`, `COMMIT`), each a wake-up of the
//! database's backend and of the store thread, on a machine whose two cores both sides share.
//! `tokio-postgres` underneath pipelines requests: a request goes out when its future is first
//! polled, and answers come back in order. [`Link::call`] uses that to send a transaction's
//! `BEGIN` (with the end of the read snapshot before it, see `Session`) together with its first
//! statement, and a write's held-back statements (its audit row) with its `COMMIT`.
//!
//! Like `postgres::Client`, a link owns a current-thread runtime and polls the connection
//! itself whenever it waits, so no other thread is involved.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::{Context, Poll};

use scim_store::Error;
use tokio_postgres::Config;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement};

use crate::error::db;
use crate::tls::MakeRustls;

/// The connection's half that talks to the socket.
type Connection = Pin<Box<dyn Future<Output = Result<(), tokio_postgres::Error>> + Send>>;

/// A connection to the database and the runtime that drives it.
pub(crate) struct Link {
    runtime: tokio::runtime::Runtime,
    driver: Driver,
    client: Client,
}

/// The connection's socket half, polled whenever the link waits.
struct Driver {
    /// `None` once the connection has ended (closed by the database, or broken): dropping it
    /// fails the requests still waiting for an answer, which would otherwise wait forever.
    connection: Option<Connection>,
}

impl Link {
    /// Connects (TCP, TLS, authentication, within the config's connect timeout) and runs
    /// `setup`, a batch of session settings.
    pub(crate) fn connect(config: &Config, tls: MakeRustls, setup: &str) -> Result<Link, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Error::Backend(format!("cannot start a database connection's runtime: {e}")))?;
        let (client, connection) = runtime.block_on(config.connect(tls)).map_err(db)?;
        let mut link = Link { runtime, driver: Driver { connection: Some(Box::pin(connection)) }, client };
        link.call(&[], |client| client.batch_execute(setup))?;
        Ok(link)
    }

    /// Whether the connection has ended; a pool drops such a link.
    pub(crate) fn is_closed(&self) -> bool {
        self.driver.connection.is_none() || self.client.is_closed()
    }

    /// Runs `work` on the client and waits for it, sending the requests of `ahead` (in order)
    /// just before `work`'s first request, in the same flight.
    ///
    /// If one of `ahead` fails, so does the call, with the first such failure, whatever `work`
    /// answered (in a transaction, what follows a failure fails too, or commits nothing).
    pub(crate) fn call<'c, T, F>(
        &'c mut self,
        ahead: &'c [Ahead<'c>],
        work: impl FnOnce(&'c Client) -> F,
    ) -> Result<T, Error>
    where
        F: Future<Output = Result<T, tokio_postgres::Error>> + 'c,
    {
        let Link { runtime, driver, client } = self;
        let client: &'c Client = client;
        let outcome = if ahead.is_empty() {
            driver.block_on(runtime, work(client))
        } else {
            let sent = ahead.iter().map(|request| request.send(client)).collect();
            let (ahead, outcome) = driver.block_on(runtime, in_order(all(sent), work(client)));
            ahead.and(outcome)
        };
        outcome.map_err(db)
    }
}

impl Driver {
    /// Waits for `work`, driving the connection meanwhile.
    fn block_on<F: Future>(&mut self, runtime: &tokio::runtime::Runtime, work: F) -> F::Output {
        let mut work = pin!(work);
        runtime.block_on(poll_fn(|cx| {
            self.poll_connection(cx);
            work.as_mut().poll(cx)
        }))
    }

    /// Lets the connection read answers and write requests; drops it once it has ended.
    fn poll_connection(&mut self, cx: &mut Context<'_>) {
        let Some(connection) = self.connection.as_mut() else { return };
        if let Poll::Ready(outcome) = connection.as_mut().poll(cx) {
            self.connection = None;
            if let Err(e) = outcome {
                tracing::debug!(error = %e, "a database connection ended");
            }
        }
    }
}

/// A request sent ahead of a statement, in its flight.
pub(crate) enum Ahead<'a> {
    /// A statement of the simple protocol, such as `BEGIN …`.
    Simple(&'a str),
    /// A prepared statement whose row count nobody needs.
    Execute(&'a Statement, Vec<&'a (dyn ToSql + Sync)>),
}

/// A request's answer: only whether it failed.
type Answer<'c> = Pin<Box<dyn Future<Output = Result<(), tokio_postgres::Error>> + 'c>>;

impl<'a> Ahead<'a> {
    /// The request, as a future whose first poll sends it.
    fn send<'c>(&'c self, client: &'c Client) -> Answer<'c> {
        match self {
            Ahead::Simple(sql) => Box::pin(client.batch_execute(sql)),
            Ahead::Execute(statement, params) => {
                Box::pin(async move { client.execute(*statement, params).await.map(drop) })
            }
        }
    }
}

/// Every answer, polled in order (so the requests go out in order); the first failure, if any.
async fn all(mut answers: Vec<Answer<'_>>) -> Result<(), tokio_postgres::Error> {
    let mut failure = None;
    poll_fn(|cx| {
        let mut i = 0;
        while i < answers.len() {
            match answers[i].as_mut().poll(cx) {
                Poll::Ready(outcome) => {
                    drop(answers.remove(i));
                    if let (Err(e), None) = (outcome, &failure) {
                        failure = Some(e);
                    }
                }
                Poll::Pending => i += 1,
            }
        }
        if answers.is_empty() { Poll::Ready(()) } else { Poll::Pending }
    })
    .await;
    failure.map_or(Ok(()), Err)
}

/// Both futures, `first` polled before `second` so that its request is sent first.
async fn in_order<A: Future, B: Future>(first: A, second: B) -> (A::Output, B::Output) {
    let (mut first, mut second) = (pin!(first), pin!(second));
    let (mut a, mut b) = (None, None);
    poll_fn(|cx| {
        if a.is_none()
            && let Poll::Ready(out) = first.as_mut().poll(cx)
        {
            a = Some(out);
        }
        if b.is_none()
            && let Poll::Ready(out) = second.as_mut().poll(cx)
        {
            b = Some(out);
        }
        match (a.take(), b.take()) {
            (Some(a), Some(b)) => Poll::Ready((a, b)),
            (x, y) => {
                (a, b) = (x, y);
                Poll::Pending
            }
        }
    })
    .await
}
