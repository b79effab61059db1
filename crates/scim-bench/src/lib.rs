//! `scim-bench`: the load generator behind `cargo xtask bench`.
//!
//! It starts the real `scim-server` binary on loopback with a fresh database, seeds a directory
//! the size the issue names (100,000 users, 1,000 groups, one of them with 100,000 members)
//! through the SCIM API itself, then runs each scenario for a fixed time over 64 keep-alive
//! connections and writes what it measured (requests/s, p50/p99 latency, errors, peak RSS,
//! database size) as Markdown and JSON.
//!
//! It is not a general HTTP benchmarking tool, and not a test: it asserts nothing, it reports.
//! Targets are printed as met or not; a miss is a finding to explain, not a failure to hide.
//!
//! # The decision a reader would question
//!
//! **Every figure is also given as a ratio to the server's cheapest endpoint, measured in the
//! same run.** The load generator shares the machine's cores with the server (the reference
//! figures were taken the same way), so absolute numbers move with the machine and with the
//! generator's own cost. `GET /ServiceProviderConfig` goes through the whole pipeline (request
//! id, tenant, token, routing, JSON, log line) but touches no database; the ratio of a scenario
//! to it is what the storage and SCIM work cost, and stays comparable across machines.
//!
//! The generator itself is kept cheap, since every microsecond it spends is taken from the server:
//! one task per keep-alive connection speaking just enough HTTP/1.1 by hand (one `write` per
//! request, as wrk does; no pool, no cross-task hand-off), requests built from preformatted
//! strings, response ids found by a substring search rather than a JSON parse, and latencies kept
//! as plain `u32` microseconds sorted once at the end.
#![deny(missing_docs)]

pub mod client;
pub mod date;
pub mod report;
pub mod run;
pub mod scenarios;
pub mod server;
pub mod stats;
pub mod sync;
