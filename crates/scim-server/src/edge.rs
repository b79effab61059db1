//! The edge: each connection from accept to close, with the limits that keep a client who
//! sends nothing, sends slowly or sends too much from holding the server.
//!
//! A connection is in one of three phases: idle (between requests), reading a head (bytes came
//! in, no request yet), or busy (a handler runs). A watcher beside each connection closes it
//! when a head takes longer than the header timeout or an idle spell longer than the idle
//! timeout; a busy connection is never timed out here. hyper's own header timeout is not used:
//! it also runs while a keep-alive connection idles, which would make the two limits one.
//!
//! The same phases tell apart hyper's automatic answers to heads it cannot parse (empty `400`
//! and `431` bodies, written while reading a head) from the handlers' answers, so those are
//! rewritten into the JSON error body every other refusal has. And the head that starts on an
//! idle connection is scanned as it arrives for what hyper hides by the time a handler runs:
//! `Content-Length` together with `Transfer-Encoding` (hyper drops the length and reads the
//! chunks), which is refused. A head pipelined behind another request is not scanned; hyper
//! then closes the connection after it, so nothing can be smuggled behind it.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::Watcher;
use scim_schema::ProfileName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use crate::error::ApiError;
use crate::http::Head;
use crate::metrics::Closed;
use crate::state::State;

/// The edge's limits (`--header-timeout`, `--idle-timeout`, `--max-connections`,
/// `--max-header-bytes`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// The longest a request head may take to arrive, from its first byte (also bounds a TLS
    /// handshake).
    pub header_timeout: Duration,
    /// The longest a connection may stay open between requests.
    pub idle_timeout: Duration,
    /// The most client connections open at once; more are closed as soon as accepted.
    pub max_connections: usize,
    /// The most bytes of request line and header fields of one request.
    pub max_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
            max_header_bytes: 16 * 1024,
        }
    }
}

/// The range `--max-header-bytes` may take: hyper refuses a URI over 64 KiB with its own
/// answer, so the cap stays below that.
pub const HEADER_BYTES_RANGE: std::ops::RangeInclusive<usize> = 1024..=65_536;

/// Serves one accepted connection (plain or TLS) until it ends, times out or the server stops.
pub async fn serve<IO>(io: IO, state: Arc<State>, limits: Limits, graceful: Watcher)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::default());
    let watched = Watched { inner: io, activity: Arc::clone(&activity), replacing: None, swallow: false };
    let (service_activity, service_state) = (Arc::clone(&activity), Arc::clone(&state));
    let service = service_fn(move |request| {
        let busy = Busy::begin(&service_activity);
        let state = Arc::clone(&service_state);
        async move {
            let (response, ready) = crate::router::serve(state, request, busy.head).await;
            busy.end(Instant::from_std(ready));
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let connection = http1::Builder::new()
        .max_header_size(limits.max_header_bytes)
        // hyper refuses a head that outgrows its read buffer before it is complete.
        .max_buf_size(limits.max_header_bytes.max(8192))
        .serve_connection(TokioIo::new(watched), service);
    let connection = graceful.watch(connection);
    tokio::pin!(connection);
    // The watcher looks at the connection's phase at least once per `tick`, and nothing tells
    // it of a change: a phase that begins at `t` has its deadline at `t + tick` or later, past
    // the watcher's next look, so no deadline is missed and no request pays for a wake-up.
    let tick = limits.header_timeout.min(limits.idle_timeout);
    let sleep = tokio::time::sleep(tick);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            ended = &mut connection => {
                if let Err(e) = ended {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = &mut sleep => {
                let now = Instant::now();
                let deadline = activity.deadline(limits);
                if let Some((at, why)) = deadline
                    && at <= now
                {
                    tracing::debug!(reason = ?why, "closing a connection");
                    state.metrics.closed(why);
                    return;
                }
                let next = now + tick;
                sleep.as_mut().reset(deadline.map_or(next, |(at, _)| at.min(next)));
            }
        }
    }
}

/// Where a connection is between requests.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a request since the instant.
    Idle(Instant),
    /// Reading a request head whose first byte came at the instant.
    Head(Instant),
    /// A handler runs.
    Busy,
}

/// A connection's phase and the scan of the head it is reading.
#[derive(Debug)]
struct Activity {
    state: Mutex<(Phase, Scan)>,
}

impl Default for Activity {
    fn default() -> Activity {
        Activity { state: Mutex::new((Phase::Idle(Instant::now()), Scan::default())) }
    }
}

impl Activity {
    fn lock(&self) -> std::sync::MutexGuard<'_, (Phase, Scan)> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes came in: an idle connection starts reading a head.
    fn received(&self, bytes: &[u8]) {
        let mut state = self.lock();
        let (phase, scan) = &mut *state;
        match phase {
            Phase::Idle(_) => {
                *phase = Phase::Head(Instant::now());
                *scan = Scan::default();
                scan.feed(bytes);
            }
            Phase::Head(_) => scan.feed(bytes),
            Phase::Busy => {}
        }
    }

    fn is_reading_head(&self) -> bool {
        matches!(self.lock().0, Phase::Head(_))
    }

    /// When the connection times out unless something happens first, and why.
    fn deadline(&self, limits: Limits) -> Option<(Instant, Closed)> {
        match self.lock().0 {
            Phase::Idle(since) => Some((since + limits.idle_timeout, Closed::IdleTimeout)),
            Phase::Head(since) => Some((since + limits.header_timeout, Closed::HeaderTimeout)),
            Phase::Busy => None,
        }
    }
}

/// A handler running on a connection; the connection is idle again once this is dropped
/// (answered, or abandoned by its client).
struct Busy {
    activity: Arc<Activity>,
    head: Head,
    /// When the response was ready, if it was: the connection is idle from then.
    ended: Option<Instant>,
}

impl Busy {
    fn begin(activity: &Arc<Activity>) -> Busy {
        let mut state = activity.lock();
        let head = match state.0 {
            Phase::Head(_) if state.1.complete => state.1.found,
            _ => Head::default(),
        };
        *state = (Phase::Busy, Scan::default());
        // No wake-up: the watcher finds the connection busy when its current deadline comes.
        Busy { activity: Arc::clone(activity), head, ended: None }
    }

    /// The handler answered at `ready` (an instant it read anyway, saving a read of the clock).
    fn end(mut self, ready: Instant) {
        self.ended = Some(ready);
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.activity.lock().0 = Phase::Idle(self.ended.unwrap_or_else(Instant::now));
    }
}

/// The most bytes of a header line kept while scanning: enough for the longest name looked for.
const NAME_BYTES: usize = 20;

/// A scan of a head's header names, fed as bytes arrive.
#[derive(Debug, Default)]
struct Scan {
    /// The start of the current line, lower-cased: its first `kept` bytes, at most [`NAME_BYTES`].
    name: [u8; NAME_BYTES],
    kept: usize,
    /// The current line has a byte other than `\r` so far.
    has_text: bool,
    /// The request line is behind.
    past_request_line: bool,
    content_length: bool,
    transfer_encoding: bool,
    /// The empty line that ends the head was seen.
    complete: bool,
    found: Head,
}

impl Scan {
    fn feed(&mut self, mut bytes: &[u8]) {
        // A line at a time (`memchr` finds its end), keeping only its first bytes, where a
        // field's name is: every request's head passes through here.
        while !self.complete && !bytes.is_empty() {
            let (part, rest, ended) = match memchr::memchr(b'\n', bytes) {
                Some(at) => (&bytes[..at], &bytes[at + 1..], true),
                None => (bytes, &[][..], false),
            };
            self.has_text |= part.iter().any(|&b| b != b'\r');
            for &b in part.iter().filter(|&&b| b != b'\r') {
                let Some(slot) = self.name.get_mut(self.kept) else { break };
                *slot = b.to_ascii_lowercase();
                self.kept += 1;
            }
            if ended {
                self.end_line();
            }
            bytes = rest;
        }
    }

    fn end_line(&mut self) {
        if !self.past_request_line {
            self.past_request_line = true;
        } else if !self.has_text {
            self.complete = true;
            self.found = Head { length_and_coding: self.content_length && self.transfer_encoding };
        } else {
            let line = &self.name[..self.kept];
            let name = line.split(|b| *b == b':').next().unwrap_or_default().trim_ascii();
            self.content_length |= name == b"content-length";
            self.transfer_encoding |= name == b"transfer-encoding";
        }
        self.kept = 0;
        self.has_text = false;
    }
}

/// A connection's byte stream as hyper sees it, reporting arrivals to its [`Activity`] and
/// turning hyper's bodiless refusals of a head into JSON ones.
struct Watched<IO> {
    inner: IO,
    activity: Arc<Activity>,
    /// A JSON refusal being written in place of hyper's: the bytes, how many went out, and how
    /// many of hyper's bytes to report written once they all did.
    replacing: Option<(Vec<u8>, usize, usize)>,
    /// A refusal was written: the connection closes, and whatever hyper writes after is dropped.
    swallow: bool,
}

impl<IO> Watched<IO> {
    /// The JSON refusal to write instead of `hyper_bytes`, when they are hyper's own refusal of
    /// a head: a `400` or `431` written while no handler has run for the head being read.
    fn replacement(&self, hyper_bytes: &[u8]) -> Option<Vec<u8>> {
        let error = refusal(hyper_bytes)?;
        if !self.activity.is_reading_head() {
            return None;
        }
        let request_id = uuid::Uuid::new_v4().to_string();
        tracing::info!(status = error_status(&error), request_id = %request_id, reason = %error.reason(), "request head refused");
        let writer = crate::http::Writer { request_id: &request_id, scim_content_type: false };
        Some(writer.error_message(ProfileName::IdentityCenter.profile(), &error))
    }
}

/// The error of a response that starts with `bytes`, if it is one hyper writes by itself.
fn refusal(bytes: &[u8]) -> Option<ApiError> {
    match bytes.get(..13)? {
        b"HTTP/1.1 431 " | b"HTTP/1.0 431 " => Some(ApiError::HeaderTooLarge),
        b"HTTP/1.1 400 " | b"HTTP/1.0 400 " => Some(ApiError::Ambiguous("the request head cannot be parsed")),
        _ => None,
    }
}

fn error_status(error: &ApiError) -> u16 {
    error.render(ProfileName::IdentityCenter.profile()).status.as_u16()
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled
            && let Some(new) = buf.filled().get(before..)
            && !new.is_empty()
        {
            self.activity.received(new);
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        if self.swallow {
            return Poll::Ready(Ok(buf.len()));
        }
        if self.replacing.is_none()
            && let Some(message) = self.replacement(buf)
        {
            self.replacing = Some((message, 0, buf.len()));
        }
        let this = &mut *self;
        let Some((message, written, reported)) = &mut this.replacing else {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        };
        while let Some(rest) = message.get(*written..).filter(|rest| !rest.is_empty()) {
            match Pin::new(&mut this.inner).poll_write(cx, rest) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                other => return other,
            }
        }
        let reported = *reported;
        this.replacing = None;
        this.swallow = true;
        Poll::Ready(Ok(reported))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        // A refusal to replace starts a write; that write goes through `poll_write` alone
        // (a short write, which hyper resumes from).
        let first: &[u8] = bufs.iter().find(|b| !b.is_empty()).map_or(&[], |b| b);
        if self.swallow || self.replacing.is_some() || refusal(first).is_some() {
            return self.poll_write(cx, first);
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn scan(chunks: &[&[u8]]) -> Scan {
        let mut scan = Scan::default();
        for chunk in chunks {
            scan.feed(chunk);
        }
        scan
    }

    #[test]
    fn the_head_scan_finds_a_length_with_a_coding_in_any_split() {
        let both = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        for at in 0..both.len() {
            let s = scan(&[&both[..at], &both[at..]]);
            assert!(s.complete, "split at {at}");
            assert_eq!(s.found, Head { length_and_coding: true }, "split at {at}");
        }
        let s = scan(&[b"POST /x HTTP/1.1\r\ntransfer-encoding : chunked\r\ncontent-length:5\r\n\r\n"]);
        assert!(s.found.length_and_coding);
        let s = scan(&[b"POST /x HTTP/1.1\r\nContent-Length: 5\r\nX-Transfer-Encoding: chunked\r\n\r\n"]);
        assert!(s.complete && !s.found.length_and_coding);
        // A request line naming a header is not a header.
        let s = scan(&[b"GET /content-length: HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"]);
        assert!(!s.found.length_and_coding);
        let s = scan(&[b"GET / HTTP/1.1\r\nContent-Length: 5\r\n"]);
        assert!(!s.complete);
    }

    #[tokio::test]
    async fn phases_set_deadlines() {
        let limits = Limits {
            header_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(9),
            ..Limits::default()
        };
        let activity = Arc::new(Activity::default());
        assert!(matches!(activity.deadline(limits), Some((_, Closed::IdleTimeout))));
        activity.received(b"GET / HT");
        assert!(matches!(activity.deadline(limits), Some((_, Closed::HeaderTimeout))));
        let busy = Busy::begin(&activity);
        assert_eq!(busy.head, Head::default(), "an incomplete head reports nothing");
        assert!(activity.deadline(limits).is_none());
        activity.received(b"body bytes");
        assert!(activity.deadline(limits).is_none());
        drop(busy);
        assert!(matches!(activity.deadline(limits), Some((_, Closed::IdleTimeout))));
    }
}
