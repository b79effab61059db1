//! A std-only micro benchmark: parses representative filters and paths and prints the time
//! per parse.
//!
//! `cargo bench -p scim-filter` runs each case for about a second.
//! Run any other way (`cargo test --benches`), or with `SCIM_BENCH_QUICK` set, it only loops a
//! few times, so that it checks the cases still parse without taking time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // A benchmark may fail loudly.

use std::hint::black_box;
use std::time::{Duration, Instant};

use scim_filter::{parse_attr_list, parse_filter, parse_path};

/// One case: a name, the entry point, and its input.
type Case = (&'static str, fn(&str) -> bool, String);

fn filter(input: &str) -> bool {
    parse_filter(input).is_ok()
}

fn path(input: &str) -> bool {
    parse_path(input).is_ok()
}

fn attr_list(input: &str) -> bool {
    parse_attr_list(input).is_ok()
}

fn cases() -> Vec<Case> {
    let or_chain = r#"userName eq "1" or "#.repeat(400) + "title pr";
    let nested = format!("{}title pr{}", "(".repeat(64), ")".repeat(64));
    vec![
        ("filter userName eq", filter, r#"userName eq "bjensen""#.into()),
        ("filter id and members", filter, r#"id eq "2819c223" and members eq "902c246b""#.into()),
        (
            "filter enterprise urn",
            filter,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915""#.into(),
        ),
        (
            "filter rfc not/or",
            filter,
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#.into(),
        ),
        (
            "filter value path",
            filter,
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#
                .into(),
        ),
        ("filter entra form", filter, r#"emails[type eq "work"].value eq "x@example.com""#.into()),
        ("filter escapes", filter, r#"displayName eq "caf\u00e9 \"quoted\" \ud83d\ude00""#.into()),
        ("filter 8 KiB or-chain", filter, or_chain),
        ("filter 64-deep", filter, nested),
        ("path members[value eq]", path, r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#.into()),
        ("path emails[...].value", path, r#"emails[type eq "work"].value"#.into()),
        (
            "attributes list",
            attr_list,
            "userName, name.familyName, emails, urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"
                .into(),
        ),
    ]
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench") && std::env::var_os("SCIM_BENCH_QUICK").is_none();
    for (name, parse, input) in cases() {
        assert!(parse(&input), "{name} must parse");
        let (iterations, elapsed) =
            if full { run_for(parse, &input, Duration::from_secs(1)) } else { run(parse, &input, 10) };
        let nanos = elapsed.as_nanos() / u128::from(iterations.max(1));
        println!("{name:<26} {:>6} bytes {nanos:>10} ns/parse", input.len());
    }
}

/// Parses `input` `iterations` times.
fn run(parse: fn(&str) -> bool, input: &str, iterations: u32) -> (u32, Duration) {
    let started = Instant::now();
    for _ in 0..iterations {
        black_box(parse(black_box(input)));
    }
    (iterations, started.elapsed())
}

/// Parses `input` in doubling batches until `budget` is spent, after a short warm-up.
fn run_for(parse: fn(&str) -> bool, input: &str, budget: Duration) -> (u32, Duration) {
    run(parse, input, 100);
    let mut total = (0, Duration::ZERO);
    let mut batch = 16;
    while total.1 < budget {
        let (n, took) = run(parse, input, batch);
        total = (total.0 + n, total.1 + took);
        batch = batch.saturating_mul(2).min(1 << 20);
    }
    total
}
