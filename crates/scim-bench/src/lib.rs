//! `scim-bench`: the load generator behind `cargo xtask bench`.
//!
//! For each directory size asked for (`--users 10000,1000000`; 100,000 by default) it starts the
//! real `scim-server` binary on loopback with a fresh database, seeds it through the SCIM API
//! itself (the users, 999 groups of 10 members, one group holding every user), then runs each
//! scenario for a fixed time over 64 keep-alive connections and writes what it measured
//! (requests/s, p50/p99 latency, errors, peak RSS, bytes on disk per user) as Markdown and JSON,
//! with the issues' targets marked met or missed, and how flat each scenario stays from the
//! smallest size to the largest.
//!
//! It is not a general HTTP benchmarking tool, and not a test: it asserts nothing, it reports.
//! Targets are printed as met or not; a miss is a finding to explain, not a failure to hide.
//!
//! # The decision a reader would question
//!
//! **Every figure is given as a ratio to a floor measured in the same run: a bare hyper server
//! (`reference`) answering a fixed user after a static token compare.** The load generator
//! shares the machine's cores with the server, so absolute numbers move with the machine, with
//! the other work on it and with the generator's own cost; the floor moves with them. It is what
//! HTTP alone costs here, so the ratio to it is what our whole pipeline costs. The floor runs in a
//! process of its own with the same hyper and the same runtime threads as the server, and is
//! measured by the same generator, connections and duration. Every figure is also given as a
//! ratio to the server's own cheapest endpoint (`GET /ServiceProviderConfig`: request id,
//! tenant, token, routing, JSON, log line, no database), which isolates the storage and SCIM
//! work.
//!
//! The generator itself is kept cheap, since every microsecond it spends is taken from the server:
//! one task per keep-alive connection speaking just enough HTTP/1.1 by hand (one `write` per
//! request, as wrk does; no pool, no cross-task hand-off), requests built from preformatted
//! strings, response ids found by a substring search rather than a JSON parse, and latencies kept
//! as plain `u32` microseconds sorted once at the end.
#![deny(missing_docs)]

pub mod client;
pub mod date;
pub mod reference;
pub mod report;
pub mod run;
pub mod scenarios;
pub mod server;
pub mod stats;
pub mod sync;
