//! Running a scenario: N connections, each following its own script, for a fixed time or until
//! the scripts run out of work.
//!
//! Every connection is opened before the clock starts (a barrier), so the figures are of
//! requests on warm keep-alive connections, as identity providers send them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio::sync::Barrier;

use crate::client::{Conn, Endpoint};
use crate::stats::Latencies;

/// One request a script wants sent, and the status that counts as success.
#[derive(Debug, Clone)]
pub struct Call {
    /// The method.
    pub method: &'static str,
    /// The path and query, exactly as sent.
    pub path: String,
    /// The JSON body, if any.
    pub body: Option<String>,
    /// The status a correct answer has; anything else is an error.
    pub expect: u16,
}

/// What one connection sends, request after request.
pub trait Script: Send {
    /// The next request, or `None` when this connection has nothing left to do.
    fn next(&mut self) -> Option<Call>;

    /// The answer to the last request (called for correct answers only).
    fn answer(&mut self, _body: &[u8]) {}
}

/// When a scenario ends.
#[derive(Debug, Clone, Copy)]
pub enum Until {
    /// After this long (requests in flight then are finished and counted).
    Elapsed(Duration),
    /// When every script returns `None`, or after this long at most.
    Exhausted(Duration),
}

impl Until {
    fn limit(self) -> Duration {
        match self {
            Until::Elapsed(d) | Until::Exhausted(d) => d,
        }
    }
}

/// What one scenario measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The scenario's name.
    pub name: String,
    /// Connections used.
    pub connections: usize,
    /// Requests answered (correctly or not).
    pub requests: u64,
    /// Requests answered with another status than expected, or not answered.
    pub errors: u64,
    /// From the start signal to the last answer.
    pub elapsed: Duration,
    /// Every request's latency.
    pub latencies: Latencies,
    /// A few of the errors, for the report.
    pub samples: Vec<String>,
    /// Whether it ran out of time before the scripts ran out of work (`Until::Exhausted` only).
    pub timed_out: bool,
}

impl Outcome {
    /// Requests per second.
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { self.requests as f64 / secs } else { 0.0 }
    }
}

/// One connection's tally.
#[derive(Debug, Default)]
struct Tally {
    requests: u64,
    errors: u64,
    latencies: Latencies,
    samples: Vec<String>,
    timed_out: bool,
}

const SAMPLES: usize = 5;

impl Tally {
    fn error(&mut self, what: String) {
        self.errors += 1;
        if self.samples.len() < SAMPLES {
            self.samples.push(what);
        }
    }
}

/// Runs `connections` scripts made by `script` against `endpoint` on `runtime`.
pub fn run(
    runtime: &Runtime,
    endpoint: &Endpoint,
    name: &str,
    connections: usize,
    until: Until,
    mut script: impl FnMut(usize) -> Box<dyn Script>,
) -> Outcome {
    eprintln!("scim-bench: {name}: {connections} connections, at most {:.0} s", until.limit().as_secs_f64());
    let endpoint = Arc::new(endpoint.clone());
    let barrier = Arc::new(Barrier::new(connections + 1));
    let expected = match until {
        Until::Elapsed(d) => (d.as_secs_f64() * 60_000.0 / connections.max(1) as f64) as usize,
        Until::Exhausted(_) => 1024,
    };
    let workers: Vec<_> = (0..connections)
        .map(|i| {
            let (endpoint, barrier, script) = (Arc::clone(&endpoint), Arc::clone(&barrier), script(i));
            runtime.spawn(connection(endpoint, barrier, script, until, expected))
        })
        .collect();
    let (elapsed, tallies) = runtime.block_on(async move {
        barrier.wait().await;
        let started = Instant::now();
        let mut tallies = Vec::with_capacity(workers.len());
        for worker in workers {
            match worker.await {
                Ok(tally) => tallies.push(tally),
                Err(e) => {
                    let mut tally = Tally::default();
                    tally.error(format!("a connection task failed: {e}"));
                    tallies.push(tally);
                }
            }
        }
        (started.elapsed(), tallies)
    });
    let mut outcome = Outcome {
        name: name.to_owned(),
        connections,
        requests: 0,
        errors: 0,
        elapsed,
        latencies: Latencies::with_capacity(tallies.iter().map(|t| t.latencies.len()).sum()),
        samples: Vec::new(),
        timed_out: false,
    };
    for tally in tallies {
        outcome.requests += tally.requests;
        outcome.errors += tally.errors;
        outcome.latencies.merge(tally.latencies);
        outcome.timed_out |= tally.timed_out;
        for sample in tally.samples {
            if outcome.samples.len() < SAMPLES {
                outcome.samples.push(sample);
            }
        }
    }
    outcome
}

/// One connection: open, wait for the start, then send until the time or the work runs out.
async fn connection(
    endpoint: Arc<Endpoint>,
    barrier: Arc<Barrier>,
    mut script: Box<dyn Script>,
    until: Until,
    expected: usize,
) -> Tally {
    let mut tally = Tally { latencies: Latencies::with_capacity(expected), ..Tally::default() };
    let mut conn = Conn::open(&endpoint).await;
    barrier.wait().await;
    let deadline = Instant::now() + until.limit();
    loop {
        if Instant::now() >= deadline {
            tally.timed_out = matches!(until, Until::Exhausted(_));
            break;
        }
        let open = match &mut conn {
            Ok(open) => open,
            Err(e) => {
                tally.error(format!("connection: {e}"));
                tokio::time::sleep(Duration::from_millis(10)).await;
                conn = Conn::open(&endpoint).await;
                continue;
            }
        };
        let Some(call) = script.next() else { break };
        let sent = Instant::now();
        let answer = open.send(&endpoint, call.method, &call.path, call.body.as_deref().map(str::as_bytes)).await;
        tally.latencies.record(sent.elapsed());
        tally.requests += 1;
        match answer {
            Ok((status, body)) if status == call.expect => script.answer(body),
            Ok((status, body)) => {
                let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
                tally.error(format!("{} {} answered {status}: {text}", call.method, call.path));
            }
            Err(e) => {
                tally.error(format!("{} {}: {e}", call.method, call.path));
                conn = Conn::open(&endpoint).await;
            }
        }
    }
    tally
}
