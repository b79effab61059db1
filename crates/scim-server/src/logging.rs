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

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

use crate::cli::{Args, CliError};

/// How long the writing thread lets lines gather after the first one.
const GATHER: Duration = Duration::from_millis(10);

/// The most bytes waiting to be written before loggers wait.
const CAPACITY: usize = 4 << 20;

/// Sets up logging to standard error, in the format `--log-format` names (`human` or `json`),
/// with the levels `SCIM_LOG` names (default `info`).
pub fn init(args: &Args) -> Result<Guard, CliError> {
    let format = args.get("log-format", "SCIM_LOG_FORMAT");
    let json = match format.as_deref() {
        None | Some("human") => false,
        Some("json") => true,
        Some(other) => return Err(CliError::Usage(format!("--log-format must be human or json, not {other:?}"))),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SCIM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = start(std::io::stderr())?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(ansi);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
    Ok(guard)
}

/// Starts the writing thread over `out`.
fn start(out: impl Write + Send + 'static) -> Result<(LogWriter, Guard), CliError> {
    let shared = Arc::new(Shared::default());
    let thread = {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("scim-log".into())
            .spawn(move || shared.write_out(out))
            .map_err(|e| CliError::Failed(format!("cannot start the logging thread: {e}")))?
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
