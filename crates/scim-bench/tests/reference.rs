//! The reference as the bench runs it: `scim-bench reference` in a process of its own, measured
//! like any scenario, then stopped and cleaned up.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use scim_bench::client::Endpoint;
use scim_bench::scenarios::{Bench, REFERENCE, Settings};
use scim_bench::server::Reference;

#[test]
fn the_reference_runs_in_its_own_process_and_is_measured_like_a_scenario() {
    let exe = Path::new(env!("CARGO_BIN_EXE_scim-bench"));
    let floor = Reference::start(exe, "bench-token").unwrap();
    let pid = floor.process.pid().unwrap();
    assert_ne!(pid, std::process::id());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let settings = Settings { connections: 4, duration: Duration::from_millis(300), ..Settings::default() };
    let endpoint = Endpoint::new(floor.process.addr, &floor.token).unwrap();
    let bench =
        Bench { runtime: &runtime, endpoint: endpoint.clone(), base: String::new(), settings, server_pid: None };
    let row = bench.reference(endpoint, Some(pid));
    assert_eq!(row.outcome.name, REFERENCE);
    assert_eq!((row.outcome.errors, row.outcome.samples.len()), (0, 0), "{:?}", row.outcome.samples);
    assert!(row.outcome.requests > 0 && row.outcome.connections == 4);
    // The CPU it spent is read from its own process.
    assert!(row.server_cpu_us.is_some());
    // Dropping it kills and reaps the process.
    drop(floor);
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "the reference still runs");
}
