//! `cargo xtask`: everything a person does with this repository, as one command each.
//!
//! - `cargo xtask serve`: run the server on `./data/scim.db`; on an empty database, create a
//!   default tenant and token first and print them.
//! - `cargo xtask test`: every check CI runs: formatting, clippy with warnings denied, and all
//!   tests (unit, end-to-end, architecture and docs-in-sync).
//! - `cargo xtask ci`: what `.github/workflows/ci.yml` runs (today, the same as `test`).
//!
//! Plain `std::process::Command`, no dependencies: this must compile in seconds on a fresh clone.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const HELP: &str = "\
cargo xtask <command>

COMMANDS:
    serve             run the server (default database ./data/scim.db, 127.0.0.1:8080); on an
                      empty database create a default tenant and print its SCIM endpoint and
                      token. Configure with SCIM_DB, SCIM_LISTEN, SCIM_PUBLIC_URL.
    test              formatting, clippy (warnings denied) and every test: what CI runs
    ci                the CI entry point (same as test)
";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let command = args.next();
    let rest: Vec<String> = args.collect();
    let outcome = match command.as_deref() {
        Some("serve") => serve(&rest),
        Some("test") | Some("ci") => test(),
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
    let started = std::time::Instant::now();
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    run(fmt).map_err(|e| format!("{e}\nformatting differs: run `cargo fmt --all`"))?;
    let mut clippy = cargo();
    clippy.args(["clippy", "--workspace", "--all-targets", "--quiet", "--", "-D", "warnings"]);
    run(clippy)?;
    let mut tests = cargo();
    tests.args(["test", "--workspace", "--quiet"]);
    run(tests)?;
    eprintln!("xtask: all checks passed in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
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
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    let binary = target.join("release").join(format!("scim-server{}", std::env::consts::EXE_SUFFIX));
    let server = |words: &[&str]| {
        let mut command = Command::new(&binary);
        command.current_dir(root()).args(words);
        command
    };
    if output(server(&["tenant", "list", "--json"]))?.trim() == "[]" {
        eprintln!("xtask: empty database: creating a default tenant and its first token");
        run(server(&["tenant", "create", "--name", "default"]))?;
    } else {
        println!("Existing tenants (a token is shown only when it is created):");
        run(server(&["tenant", "list"]))?;
        println!("Mint a token with: {} token create --tenant TENANT_ID", binary.display());
    }
    run(server(&["serve"]))
}
