//! The log: lines formatted by `tracing` on the thread that logs, written to standard error by
//! a thread of its own.
//!
//! Every request logs a line, so the path a line takes is on every request's path. A line is
//! appended to one shared buffer under a lock (no allocation, no channel message, and no
//! wake-up unless the writing thread sleeps on an empty buffer); the writing thread waits a few
//! milliseconds after the first line so that more gather, then swaps the buffer for an empty one
//! and writes it in one `write`. Under load that is one system call per batch of hundreds of
//! lines; idle, a line is out within [`GATHER`]. Not lossy: while [`CAPACITY`] bytes wait,
//! loggers wait too, so a stalled standard error slows requests rather than losing lines or
//! growing without bound. The guard [`init`] returns writes what is left when dropped.

use std::cell::RefCell;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use tracing_subscriber::fmt::MakeWriter;

/// How long the writing thread lets lines gather after the first one.
const GATHER: Duration = Duration::from_millis(10);

/// The most bytes waiting to be written before loggers wait.
const CAPACITY: usize = 4 << 20;

/// Sets up logging to standard error, as JSON lines or (`json` false) for people (`--log-format`),
/// with the levels `SCIM_LOG` names (default `info`).
pub fn init(json: bool) -> Result<Guard, String> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SCIM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = start(std::io::stderr())?;
    if !ansi {
        // Colours are for a person at a terminal, who is not sending 100,000 requests a second.
        let _ = REQUESTS.set(Requests { shared: Arc::clone(&writer.shared), json });
    }
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(ansi);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
    Ok(guard)
}

/// One request's log line, its values already made safe for a log (`http::loggable`).
#[derive(Debug)]
pub struct RequestLine<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub tenant: &'a str,
    pub status: u16,
    pub latency_us: u64,
    pub request_id: &'a str,
    /// The specific reason of a refusal.
    pub reason: Option<&'a str>,
    /// When the request was answered: the line's timestamp.
    pub at: SystemTime,
}

/// Where request lines go straight to the log's buffer: set by [`init`] unless the log is in
/// colour.
static REQUESTS: OnceLock<Requests> = OnceLock::new();

#[derive(Debug)]
struct Requests {
    shared: Arc<Shared>,
    json: bool,
}

/// The target request lines are logged under.
const REQUEST_TARGET: &str = "scim_server::router";

/// Logs a request's line: `request` at level `INFO`, target `scim_server::router`.
///
/// Every request logs one, and `tracing`'s formatting of it took a sixth of the cheapest
/// request's CPU (docs/BENCHMARKS.md), so once [`init`] has run without colours the line is
/// written here, in the bytes `tracing-subscriber`'s human or JSON format gives it (a test
/// holds the two equal), straight into the log's buffer. `SCIM_LOG` still decides whether it
/// is written at all.
pub fn request(line: &RequestLine<'_>) {
    if !tracing::enabled!(target: REQUEST_TARGET, tracing::Level::INFO) {
        return;
    }
    let Some(requests) = REQUESTS.get() else { return emit(line) };
    LINE.with_borrow_mut(|buffer| {
        buffer.clear();
        write_request(buffer, line, requests.json);
        requests.shared.append(buffer);
    });
}

/// The line as a `tracing` event, for a log in colour (and before [`init`]).
fn emit(line: &RequestLine<'_>) {
    let RequestLine { method, path, tenant, status, latency_us, request_id, reason, at: _ } = line;
    match reason {
        Some(reason) => {
            tracing::info!(target: REQUEST_TARGET, %method, %path, %tenant, status, latency_us, %request_id, %reason, "request")
        }
        None => {
            tracing::info!(target: REQUEST_TARGET, %method, %path, %tenant, status, latency_us, %request_id, "request")
        }
    }
}

thread_local! {
    /// The line being written, reused by the thread's next one.
    static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// `2026-12-01T13:13:46` for the second of the thread's last line.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Writes `line` as `tracing-subscriber` would at `line.at`.
fn write_request(out: &mut Vec<u8>, line: &RequestLine<'_>, json: bool) {
    let since = line.at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let mut timestamp = [0u8; 27];
    SECOND.with_borrow_mut(|(second, text)| {
        if *second != since.as_secs() {
            *second = since.as_secs();
            let ms = i64::try_from(since.as_secs()).unwrap_or(i64::MAX / 1000).saturating_mul(1000);
            *text = scim_schema::time::format_datetime(ms).trim_end_matches('Z').to_owned();
        }
        let (date, rest) = timestamp.split_at_mut(text.len().min(19));
        date.copy_from_slice(&text.as_bytes()[..date.len()]);
        let micros = since.subsec_micros();
        rest[0] = b'.';
        for (i, digit) in rest[1..7].iter_mut().enumerate() {
            // Six digits, most significant first.
            let place = 10u32.pow(5 - u32::try_from(i).unwrap_or(0));
            *digit = b'0' + u8::try_from(micros / place % 10).unwrap_or(0);
        }
        rest[7] = b'Z';
    });
    let timestamp = &timestamp[..];
    let RequestLine { method, path, tenant, status, latency_us, request_id, reason, at: _ } = line;
    if json {
        let text = |out: &mut Vec<u8>, value: &str| {
            // A `&str` always serializes.
            let _ = serde_json::to_writer(&mut *out, value);
        };
        out.extend_from_slice(b"{\"timestamp\":\"");
        out.extend_from_slice(timestamp);
        out.extend_from_slice(b"\",\"level\":\"INFO\",\"message\":\"request\",\"method\":");
        text(out, method);
        out.extend_from_slice(b",\"path\":");
        text(out, path);
        out.extend_from_slice(b",\"tenant\":");
        text(out, tenant);
        let _ = write!(out, ",\"status\":{status},\"latency_us\":{latency_us},\"request_id\":");
        text(out, request_id);
        if let Some(reason) = reason {
            out.extend_from_slice(b",\"reason\":");
            text(out, reason);
        }
        let _ = writeln!(out, ",\"target\":\"{REQUEST_TARGET}\"}}");
    } else {
        out.extend_from_slice(timestamp);
        let _ = write!(
            out,
            "  INFO {REQUEST_TARGET}: request method={method} path={path} tenant={tenant} status={status} latency_us={latency_us} request_id={request_id}"
        );
        if let Some(reason) = reason {
            let _ = write!(out, " reason={reason}");
        }
        out.push(b'\n');
    }
}

/// Starts the writing thread over `out`.
fn start(out: impl Write + Send + 'static) -> Result<(LogWriter, Guard), String> {
    let shared = Arc::new(Shared::default());
    let thread = {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("scim-log".into())
            .spawn(move || shared.write_out(out))
            .map_err(|e| format!("cannot start the logging thread: {e}"))?
    };
    Ok((LogWriter { shared: Arc::clone(&shared) }, Guard { shared, thread: Some(thread) }))
}

/// The lines waiting, and what the two sides wait on.
#[derive(Debug, Default)]
struct Shared {
    pending: Mutex<Pending>,
    /// Signalled when the first line arrives in an empty buffer, and at close.
    filled: Condvar,
    /// Signalled when the writing thread takes the buffer.
    drained: Condvar,
}

#[derive(Debug, Default)]
struct Pending {
    bytes: Vec<u8>,
    /// The writing thread sleeps on `filled`: the next line must wake it.
    idle: bool,
    /// No more lines: write what is left and stop.
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends one formatted line (or any bytes), waiting while the buffer is full.
    fn append(&self, line: &[u8]) {
        let mut pending = self.lock();
        while pending.bytes.len() >= CAPACITY && !pending.closed {
            pending = self.drained.wait(pending).unwrap_or_else(PoisonError::into_inner);
        }
        pending.bytes.extend_from_slice(line);
        if pending.idle {
            pending.idle = false;
            self.filled.notify_one();
        }
    }

    /// The writing thread: gather, swap, write, until closed and empty.
    fn write_out(&self, mut out: impl Write) {
        let mut spare = Vec::new();
        loop {
            let mut pending = self.lock();
            while pending.bytes.is_empty() && !pending.closed {
                pending.idle = true;
                pending = self.filled.wait(pending).unwrap_or_else(PoisonError::into_inner);
            }
            pending.idle = false;
            if pending.bytes.is_empty() {
                return;
            }
            if !pending.closed {
                drop(pending);
                std::thread::sleep(GATHER);
                pending = self.lock();
            }
            std::mem::swap(&mut pending.bytes, &mut spare);
            drop(pending);
            self.drained.notify_all();
            // Nowhere to report a failed write of the log: the lines are dropped.
            let _ = out.write_all(&spare).and_then(|()| out.flush());
            spare.clear();
        }
    }
}

/// The writer `tracing` formats into: each line goes to the shared buffer.
#[derive(Debug, Clone)]
struct LogWriter {
    shared: Arc<Shared>,
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = &'a Shared;

    fn make_writer(&'a self) -> &'a Shared {
        &self.shared
    }
}

impl Write for &Shared {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.append(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Keeps the writing thread; dropped, it writes what is left and stops the thread.
#[derive(Debug)]
pub struct Guard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.filled.notify_one();
        self.shared.drained.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// An output the test can read while the writing thread holds it.
    #[derive(Clone, Default)]
    struct Out(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Out {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().push(bytes.to_vec());
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What `tracing-subscriber` writes for `line` in the format `init` sets up (without colour).
    fn formatted_by_tracing(line: &RequestLine<'_>, json: bool) -> String {
        let out = Out::default();
        let writer = {
            let out = out.clone();
            move || out.clone()
        };
        let builder = tracing_subscriber::fmt().with_writer(writer).with_ansi(false);
        if json {
            tracing::subscriber::with_default(builder.json().flatten_event(true).finish(), || emit(line));
        } else {
            tracing::subscriber::with_default(builder.finish(), || emit(line));
        }
        String::from_utf8(out.0.lock().unwrap().concat()).unwrap()
    }

    #[test]
    fn request_lines_are_the_bytes_tracing_writes() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_micros(1_796_130_826_085_642);
        let refused = RequestLine {
            method: "PATCH",
            path: "/t/scim/v2/Users/\\u{1b}[31m \"quoted\" ü \\\\ x",
            tenant: "t",
            status: 401,
            latency_us: 86,
            request_id: "b66a8823-fd51-40b2-85f0-ef4942e4b2a8",
            reason: Some("unauthorized: token is \"malformed\""),
            at: now,
        };
        let served = RequestLine { method: "GET", path: "/", tenant: "", status: 200, reason: None, ..refused };
        for line in [&refused, &served] {
            for json in [false, true] {
                let mut ours = Vec::new();
                write_request(&mut ours, line, json);
                let ours = String::from_utf8(ours).unwrap();
                let theirs = formatted_by_tracing(line, json);
                // The timestamps differ (tracing's is the time of the test); their shape does not.
                let (stamp, rest) = if json { (&ours[14..41], &ours[41..]) } else { (&ours[..27], &ours[27..]) };
                assert_eq!(stamp, "2026-12-01T13:13:46.085642Z");
                let (their_stamp, their_rest) =
                    if json { (&theirs[14..41], &theirs[41..]) } else { (&theirs[..27], &theirs[27..]) };
                assert!(their_stamp.ends_with('Z') && their_stamp.as_bytes()[19] == b'.', "{theirs}");
                assert_eq!(rest, their_rest, "json: {json}");
                if json {
                    assert_eq!(ours[..14], theirs[..14], "what comes before the timestamp");
                }
            }
        }
    }

    #[test]
    fn lines_from_many_threads_come_out_whole_in_few_writes_and_the_rest_at_close() {
        let out = Out::default();
        let (writer, guard) = start(out.clone()).unwrap();
        std::thread::scope(|scope| {
            for t in 0..4 {
                let writer = writer.clone();
                scope.spawn(move || {
                    for i in 0..1000 {
                        writer.make_writer().write_all(format!("thread {t} line {i}\n").as_bytes()).unwrap();
                    }
                });
            }
        });
        drop(guard);
        let writes = out.0.lock().unwrap();
        let text = String::from_utf8(writes.concat()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4000);
        for t in 0..4 {
            let mine: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with(&format!("thread {t} "))).collect();
            let expected: Vec<String> = (0..1000).map(|i| format!("thread {t} line {i}")).collect();
            assert_eq!(mine, expected, "thread {t}'s lines out of order or torn");
        }
        assert!(writes.len() < 4000, "one write per line: {}", writes.len());
    }

    #[test]
    fn an_idle_line_is_written_without_waiting_for_more() {
        let out = Out::default();
        let (writer, _guard) = start(out.clone()).unwrap();
        writer.make_writer().write_all(b"alone\n").unwrap();
        let started = Instant::now();
        while out.0.lock().unwrap().is_empty() {
            assert!(started.elapsed() < Duration::from_secs(5), "the line was never written");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(out.0.lock().unwrap().concat(), b"alone\n");
    }

    #[test]
    fn a_full_buffer_makes_loggers_wait_instead_of_growing() {
        /// An output that blocks until told to go on.
        struct Stalled(std::sync::mpsc::Receiver<()>);
        impl Write for Stalled {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                let _ = self.0.recv();
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let (go, stalled) = std::sync::mpsc::channel();
        let (writer, guard) = start(Stalled(stalled)).unwrap();
        let line = vec![b'x'; 64 * 1024];
        let logger = {
            let writer = writer.clone();
            std::thread::spawn(move || {
                for _ in 0..(3 * CAPACITY / line.len()) {
                    writer.make_writer().write_all(&line).unwrap();
                }
            })
        };
        // The first batch is stuck in the output; the buffer fills to its capacity and stops
        // there, with the logger waiting (three capacities' worth cannot all have fit).
        let started = Instant::now();
        while writer.shared.lock().bytes.len() < CAPACITY {
            assert!(started.elapsed() < Duration::from_secs(10), "the buffer never filled");
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(100));
        assert!(!logger.is_finished());
        let waiting = writer.shared.lock().bytes.len();
        assert!(waiting < CAPACITY + 64 * 1024, "{waiting} bytes waiting");
        for _ in 0..64 {
            let _ = go.send(());
        }
        drop(go);
        logger.join().unwrap();
        drop(guard);
    }
}
