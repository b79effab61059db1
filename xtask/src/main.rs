//! `cargo xtask`: everything a person does with this repository, as one command each.
//!
//! - `cargo xtask serve`: run the server on `./data/scim.db`; on an empty database, create a
//!   default tenant and token and an admin token for the web console first, and print them.
//! - `cargo xtask test`: every check CI runs: formatting, clippy with warnings denied, and all
//!   tests (unit, end-to-end, architecture and docs-in-sync), on SQLite and then again on a
//!   throwaway PostgreSQL (`postgres`).
//! - `cargo xtask conformance`: the third-party checker scim2-tester against both profiles.
//! - `cargo xtask bench`: build release, seed a fresh server through its API and measure it
//!   beside a bare-hyper reference (`crates/scim-bench`; `--users N[,N...]` for the sizes), then
//!   time `scim-sync` against a fresh server; the report goes to `target/bench/`, and with
//!   `--record` into `docs/BENCHMARKS.md` too.
//! - `cargo xtask ci`: what CI runs: `test`, then `conformance`.
//!
//! Plain `std::process::Command`, no dependencies: this must compile in seconds on a fresh clone.

mod conformance;
mod postgres;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

const HELP: &str = "\
cargo xtask <command>

COMMANDS:
    serve             run the server (default database ./data/scim.db, 127.0.0.1:8080); on an
                      empty database create a default tenant and print its SCIM endpoint and
                      token, and an admin token for the web console at /console.
                      Configure with SCIM_DB, SCIM_LISTEN, SCIM_PUBLIC_URL.
    test              formatting, clippy (warnings denied) and every test, on SQLite, then
                      again with every test database on a throwaway PostgreSQL (the newest
                      /usr/lib/postgresql/*/bin, or SCIM_TEST_PG_BIN; initdb into
                      target/postgres/, removed afterwards); without PostgreSQL that pass is
                      skipped with a warning, except in CI (CI set), where it is a failure
    conformance       the third-party checker scim2-tester (pinned, in a virtualenv under
                      target/) against a fresh server, once per profile
    ci                what CI runs: test, then conformance
    bench             build release, start a fresh server on loopback, seed 100,000 users and
                      1,000 groups through the API and measure each scenario (a few minutes)
                      beside a bare-hyper reference measured in the same run, then time
                      scim-sync (initial sync of 10,000 users, 1,000 groups and 100,000
                      memberships; no change; 1% changed; --only sync for just that); writes
                      target/bench/report.md and report.json. --record also puts the report in
                      docs/BENCHMARKS.md. --users 10000,1000000 measures each size against a
                      fresh server and compares them (a million users take minutes to seed).
                      --db postgres runs it on a throwaway PostgreSQL with durable commits,
                      with one server process and then two on one database (reports in
                      target/bench/postgres-*); other options go to scim-bench (--seconds N, --durability normal,
                      --only TEXT, ...; see scim-bench --help)
";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let command = args.next();
    let rest: Vec<String> = args.collect();
    let outcome = match command.as_deref() {
        Some("serve") => serve(&rest),
        Some("test") => test(),
        Some("conformance") => conformance::run(&root(), &target_dir(), cargo),
        Some("bench") => bench(&rest),
        Some("ci") => test().and_then(|()| conformance::run(&root(), &target_dir(), cargo)),
        Some("help") | Some("--help") | Some("-h") | None => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command {other:?}\n\n{HELP}")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("xtask: {why}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Where cargo builds: `CARGO_TARGET_DIR`, else `target/` at the root.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(root());
    command
}

fn run(mut command: Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    eprintln!("xtask: running {shown}");
    let status = command.status().map_err(|e| format!("cannot run {shown}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{shown} failed with {status}")) }
}

fn output(mut command: Command) -> Result<String, String> {
    let shown = format!("{command:?}");
    let out = command.output().map_err(|e| format!("cannot run {shown}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{shown} failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn test() -> Result<(), String> {
    let started = Instant::now();
    timed("formatting", || {
        let mut fmt = cargo();
        fmt.args(["fmt", "--all", "--", "--check"]);
        run(fmt).map_err(|e| format!("{e}\nformatting differs: run `cargo fmt --all`"))
    })?;
    timed("clippy", || {
        let mut clippy = cargo();
        clippy.args(["clippy", "--workspace", "--all-targets", "--quiet", "--", "-D", "warnings"]);
        run(clippy)
    })?;
    timed("the tests on SQLite", || {
        let mut tests = cargo();
        tests.args(["test", "--workspace", "--quiet"]).env_remove("SCIM_TEST_POSTGRES");
        run(tests)
    })?;
    postgres_pass()?;
    eprintln!("xtask: all checks passed in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Runs `step`, then says how long it took and whether it passed.
fn timed(what: &str, step: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    let started = Instant::now();
    let outcome = step();
    let verdict = if outcome.is_ok() { "passed" } else { "FAILED" };
    eprintln!("xtask: {what}: {verdict} in {:.1} s", started.elapsed().as_secs_f64());
    outcome
}

/// The same test binaries again, with `SCIM_TEST_POSTGRES` set to the admin URL of a throwaway
/// cluster: the harness then gives every test a fresh PostgreSQL database instead of a file.
fn postgres_pass() -> Result<(), String> {
    let Some(bin) = postgres::find_bin() else {
        let why =
            "no PostgreSQL server found (no initdb in SCIM_TEST_PG_BIN, or else in /usr/lib/postgresql/<major>/bin)";
        if is_ci() {
            return Err(format!(
                "{why}: CI must run the tests on PostgreSQL too (.ci/run installs the package postgresql)"
            ));
        }
        eprintln!(
            "\nxtask: WARNING: {why}.\nxtask: WARNING: SKIPPING THE POSTGRESQL PASS: only SQLite was tested. \
             Install it with `apt-get install postgresql` (CI fails here instead).\n"
        );
        return Ok(());
    };
    let parent = target_dir().join("postgres");
    postgres::sweep(&bin, &parent);
    let cluster = postgres::Cluster::start(&bin, parent.join(format!("run-{}", std::process::id())))?;
    let dir = cluster.dir().to_owned();
    let url = cluster.admin_url();
    let version = postgres::psql(&bin, &url, "SELECT version()")?;
    eprintln!("xtask: started a throwaway PostgreSQL in {}: {url} ({})", dir.display(), version.trim());
    let outcome = timed("the tests on PostgreSQL", || {
        let mut tests = cargo();
        tests.args(["test", "--workspace", "--quiet"]).env("SCIM_TEST_POSTGRES", &url).env("SCIM_TEST_PG_BIN", &bin);
        run(tests)
    });
    match cluster.stop() {
        Ok(()) => eprintln!("xtask: stopped the throwaway PostgreSQL and removed {}", dir.display()),
        Err(why) => eprintln!("xtask: warning: the throwaway PostgreSQL did not stop cleanly: {why}"),
    }
    outcome
}

/// Whether this runs in CI (`CI` set, as `.ci/run` is run with `CI=true`).
fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn serve(extra: &[String]) -> Result<(), String> {
    if !extra.is_empty() {
        return Err("serve takes no arguments: configure it with SCIM_DB, SCIM_LISTEN, SCIM_PUBLIC_URL, \
             SCIM_DURABILITY and SCIM_LOG_FORMAT, which every scim-server command reads"
            .into());
    }
    let mut build = cargo();
    build.args(["build", "--quiet", "--release", "--package", "scim-server"]);
    run(build)?;
    let binary = target_dir().join("release").join(format!("scim-server{}", std::env::consts::EXE_SUFFIX));
    let server = |words: &[&str]| {
        let mut command = Command::new(&binary);
        command.current_dir(root()).args(words);
        command
    };
    if output(server(&["tenant", "list", "--json"]))?.trim() == "[]" {
        eprintln!("xtask: empty database: creating a default tenant and its first token");
        run(server(&["tenant", "create", "--name", "default"]))?;
        // The web console's credential (it prints the console URL too).
        run(server(&["admin", "token", "create"]))?;
        // The AWS SDKs' credential: the Identity Store API on the same server (docs/AWS.md).
        let listed = output(server(&["tenant", "list", "--json"]))?;
        let tenant = listed.split("\"tenant_id\":\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap_or("");
        run(server(&["access-key", "create", "--tenant", tenant]))?;
        println!(
            "Try: aws identitystore list-users --identity-store-id d-{} --endpoint-url {} (with the key above)",
            tenant.get(..10).unwrap_or(tenant),
            console_base()
        );
    } else {
        println!("Existing tenants (a token is shown only when it is created):");
        run(server(&["tenant", "list"]))?;
        println!("Mint a token with: {} token create --tenant TENANT_ID", binary.display());
        println!("AWS SDK access key: {} access-key create --tenant TENANT_ID (docs/AWS.md)", binary.display());
        println!("Console: {}/console (admin token: {} admin token create)", console_base(), binary.display());
    }
    run(server(&["serve"]))
}

/// The URL the server will be reached at, as `scim-server` derives it.
fn console_base() -> String {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    var("SCIM_PUBLIC_URL")
        .unwrap_or_else(|| format!("http://{}", var("SCIM_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".into())))
        .trim_end_matches('/')
        .to_owned()
}

fn bench(asked: &[String]) -> Result<(), String> {
    let record = asked.iter().any(|a| a == "--record");
    let postgres = match asked.iter().position(|a| a == "--db") {
        None => false,
        Some(i) => match asked.get(i + 1).map(String::as_str) {
            Some("postgres") => true,
            Some("sqlite") => false,
            _ => return Err("bench --db takes sqlite (the default) or postgres".into()),
        },
    };
    if postgres && record {
        return Err("--record writes the SQLite run into docs/BENCHMARKS.md; run --db postgres without it".into());
    }
    // The words scim-bench takes: all but `--db` and its value.
    let extra: Vec<String> = match asked.iter().position(|a| a == "--db") {
        Some(i) => asked.iter().enumerate().filter(|(j, _)| *j != i && *j != i + 1).map(|(_, a)| a.clone()).collect(),
        None => asked.to_vec(),
    };
    let mut build = cargo();
    build.args([
        "build",
        "--quiet",
        "--release",
        "--package",
        "scim-server",
        "--package",
        "scim-bench",
        "--package",
        "scim-sync",
    ]);
    run(build)?;
    let release = target_dir().join("release");
    let binary = |name: &str| release.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let mut bench = Command::new(binary("scim-bench"));
    bench.current_dir(root()).arg("--server").arg(binary("scim-server"));
    bench.arg("--out").arg(target_dir().join("bench"));
    bench.arg("--sync").arg(binary("scim-sync"));
    bench
        .arg("--command")
        .arg(["cargo xtask bench"].into_iter().chain(asked.iter().map(String::as_str)).collect::<Vec<_>>().join(" "));
    if record {
        bench.arg("--doc").arg(root().join("docs").join("BENCHMARKS.md"));
    }
    bench.args(extra.iter().filter(|a| *a != "--record"));
    if postgres { bench_postgres(bench, &target_dir().join("bench")) } else { run(bench) }
}

/// Runs `bench` on a throwaway PostgreSQL with durable commits (`fsync` and `full_page_writes`
/// on, unlike the tests' cluster) and PostgreSQL's stock `shared_buffers` (128 MB, where the
/// tests' many clusters make do with 32), with one server process and then two on one
/// database; the reports go to `out/postgres-1-replica` and `out/postgres-2-replicas`.
fn bench_postgres(bench: Command, out: &Path) -> Result<(), String> {
    let bin =
        postgres::find_bin().ok_or("bench --db postgres needs PostgreSQL's server (apt-get install postgresql)")?;
    let parent = target_dir().join("postgres");
    postgres::sweep(&bin, &parent);
    let cluster = postgres::Cluster::start(&bin, parent.join(format!("bench-{}", std::process::id())))?;
    let url = cluster.admin_url();
    let outcome = postgres::psql(&bin, &url, "ALTER SYSTEM SET fsync = on")
        .and_then(|_| postgres::psql(&bin, &url, "ALTER SYSTEM SET full_page_writes = on"))
        .and_then(|_| postgres::psql(&bin, &url, "ALTER SYSTEM SET shared_buffers = '128MB'"))
        .and_then(|_| cluster.ctl(&["restart", "--mode=fast"]))
        .and_then(|_| {
            for (replicas, name) in [(1, "postgres-1-replica"), (2, "postgres-2-replicas")] {
                let mut command = Command::new(bench.get_program());
                command.current_dir(root()).args(bench.get_args()).arg("--out").arg(out.join(name));
                command.arg("--postgres").arg(&url).arg("--psql").arg(bin.join("psql"));
                command.arg("--replicas").arg(replicas.to_string());
                run(command)?;
            }
            Ok(())
        });
    if let Err(why) = cluster.stop() {
        eprintln!("xtask: warning: the throwaway PostgreSQL did not stop cleanly: {why}");
    }
    outcome
}
