//! `scim-bench --server PATH`: seeds and measures a fresh `scim-server`; see the crate docs.
//! `cargo xtask bench` builds both binaries in release mode and runs this.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use scim_bench::client::{Conn, Endpoint};
use scim_bench::report::{Report, Size, splice};
use scim_bench::scenarios::{Bench, Settings};
use scim_bench::server::{Database, Launch, Reference};
use scim_bench::sync::SyncSize;

const USAGE: &str = "\
scim-bench: seed a fresh scim-server through its API and measure it (run by `cargo xtask bench`)

USAGE:
    scim-bench --server PATH [--out DIR] [--seconds N] [--connections N] [--users N[,N...]]
               [--durability full|normal] [--threads N] [--only TEXT] [--doc PATH]
               [--command TEXT] [--keep] [--sync PATH] [--sync-users N]
               [--postgres URL --psql PATH [--replicas N]]
    scim-bench reference --token TOKEN

    --server PATH       the scim-server binary (a release build)
    --out DIR           where report.md and report.json go (default target/bench)
    --seconds N         length of each fixed-time scenario (default 5)
    --connections N     keep-alive connections per scenario (default 64)
    --users N[,N...]    users seeded, and members of the big group (default 100000); with
                        several sizes (10000,1000000) each gets a fresh server, its own seeding,
                        reference and scenarios, and the report compares them (flat ≥ 0.8)
    --durability MODE   the server's --durability (default full)
    --threads N         threads of the load generator's runtime (default 1)
    --only TEXT         run only the scenarios whose name contains TEXT (seeding always runs)
    --doc PATH          also write the report between the bench markers of this Markdown file
    --command TEXT      the command line quoted in the report (default `cargo xtask bench`)
    --keep              keep the temporary database folder
    --sync PATH         the scim-sync binary: also run the sync scenario (initial sync, no
                        change, 1% changed) against its own fresh server; --only sync runs
                        only that
    --sync-users N      users of the sync scenario; groups are N/10, memberships N*10
                        (default 10000)
    --postgres URL      run the server on PostgreSQL: a fresh database per size on the server
                        whose superuser's URL this is, made and dropped with --psql PATH
    --replicas N        server processes on that one database, connections spread over them
                        in turn (default 1; PostgreSQL only)

    reference           serve the bare-hyper reference on 127.0.0.1:0 (a fixed user to every
                        request bearing exactly `Bearer TOKEN`) until stopped; the bench starts
                        it by itself in a process of its own
";

#[derive(Debug)]
struct Args {
    server: PathBuf,
    out: PathBuf,
    seconds: f64,
    connections: usize,
    users: Vec<usize>,
    durability: String,
    threads: usize,
    only: Option<String>,
    doc: Option<PathBuf>,
    command: String,
    keep: bool,
    sync: Option<PathBuf>,
    sync_users: usize,
    postgres: Option<String>,
    psql: Option<PathBuf>,
    replicas: usize,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        server: PathBuf::new(),
        out: PathBuf::from("target/bench"),
        seconds: 5.0,
        connections: 64,
        users: vec![100_000],
        durability: "full".into(),
        threads: 1,
        only: None,
        doc: None,
        command: "cargo xtask bench".into(),
        keep: false,
        sync: None,
        sync_users: 10_000,
        postgres: None,
        psql: None,
        replicas: 1,
    };
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        if word == "--keep" {
            args.keep = true;
            continue;
        }
        if word == "--help" || word == "-h" {
            return Err(String::new());
        }
        let value = words.next().ok_or_else(|| format!("{word} needs a value"))?;
        let number = |what: &str| value.parse::<f64>().map_err(|_| format!("{what} takes a number, not {value:?}"));
        match word.as_str() {
            "--server" => args.server = PathBuf::from(&value),
            "--out" => args.out = PathBuf::from(&value),
            "--seconds" => args.seconds = number("--seconds")?.max(0.1),
            "--connections" => args.connections = number("--connections")?.max(1.0) as usize,
            "--users" => args.users = sizes(&value)?,
            "--threads" => args.threads = number("--threads")?.max(1.0) as usize,
            "--durability" if value == "full" || value == "normal" => args.durability = value,
            "--only" => args.only = Some(value),
            "--doc" => args.doc = Some(PathBuf::from(&value)),
            "--command" => args.command = value,
            "--sync" => args.sync = Some(PathBuf::from(&value)),
            "--sync-users" => args.sync_users = number("--sync-users")?.max(10.0) as usize,
            "--postgres" => args.postgres = Some(value),
            "--psql" => args.psql = Some(PathBuf::from(&value)),
            "--replicas" => args.replicas = number("--replicas")?.clamp(1.0, 16.0) as usize,
            _ => return Err(format!("unknown option {word} {value}")),
        }
    }
    if args.server.as_os_str().is_empty() {
        return Err("--server PATH is required".into());
    }
    if args.postgres.is_some() != args.psql.is_some() {
        return Err("--postgres URL and --psql PATH go together".into());
    }
    if args.replicas > 1 && args.postgres.is_none() {
        return Err("--replicas is for PostgreSQL (--postgres URL): SQLite serves one process".into());
    }
    Ok(args)
}

/// `10000,1000000`: the sizes, smallest first, each at least 100.
fn sizes(value: &str) -> Result<Vec<usize>, String> {
    let mut sizes = value
        .split(',')
        .map(|n| match n.trim().parse::<usize>() {
            Ok(n) if n >= 100 => Ok(n),
            _ => Err(format!("--users takes numbers of at least 100 separated by commas, not {value:?}")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    sizes.sort_unstable();
    sizes.dedup();
    Ok(sizes)
}

/// `scim-bench reference --token TOKEN`.
fn reference(words: &[String]) -> ExitCode {
    let served = match words {
        [flag, token] if flag == "--token" => scim_bench::reference::serve(token),
        _ => Err(format!("reference takes --token TOKEN\n\n{USAGE}")),
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("scim-bench reference: {why}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let words: Vec<String> = std::env::args().skip(1).collect();
    if words.first().is_some_and(|w| w == "reference") {
        return reference(&words[1..]);
    }
    match parse() {
        Err(why) if why.is_empty() => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("scim-bench: {why}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Ok(args) => match bench(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(why) => {
                eprintln!("scim-bench: {why}");
                ExitCode::FAILURE
            }
        },
    }
}

/// `git rev-parse --short HEAD`, with `-dirty` when the work tree has changes; best effort.
fn commit() -> Option<String> {
    let git = |words: &[&str]| {
        let out = Command::new("git").args(words).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let head = git(&["rev-parse", "--short", "HEAD"])?;
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{head}-dirty") } else { head })
}

fn bench(args: &Args) -> Result<(), String> {
    let sync_only = args.only.as_deref() == Some("sync");
    let database = match (&args.postgres, &args.psql) {
        (Some(admin_url), Some(psql)) => Database::Postgres { admin_url: admin_url.clone(), psql: psql.clone() },
        _ => Database::Sqlite,
    };
    let launch = Launch {
        binary: args.server.clone(),
        durability: args.durability.clone(),
        keep: args.keep,
        database,
        replicas: args.replicas,
    };
    let report = if sync_only { None } else { Some(measure(args, &launch)?) };
    let failure = report.as_ref().and_then(|r| r.failure.clone());
    let (mut markdown, mut json) =
        report.map_or_else(|| (String::new(), serde_json::json!({})), |r| (r.markdown(), r.json()));
    if let Some(sync) = args.sync.as_deref().filter(|_| (args.only.is_none() && failure.is_none()) || sync_only) {
        let size = SyncSize { users: args.sync_users };
        eprintln!("scim-bench: sync scenario with {} users", size.users);
        let runs = scim_bench::sync::run(sync, &launch, size)?;
        markdown.push_str(&format!("\n{}", scim_bench::sync::markdown(size, &runs)));
        json["sync"] = scim_bench::sync::json(size, &runs);
    }
    std::fs::create_dir_all(&args.out).map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let write = |name: &str, text: &str| {
        let path = args.out.join(name);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    write("report.md", &markdown)?;
    let json = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
    write("report.json", &json)?;
    if let Some(doc) = &args.doc {
        let text = std::fs::read_to_string(doc).map_err(|e| format!("cannot read {}: {e}", doc.display()))?;
        let updated = splice(&text, &markdown)
            .ok_or_else(|| format!("{} has no <!-- bench:begin --> / <!-- bench:end --> markers", doc.display()))?;
        std::fs::write(doc, updated).map_err(|e| format!("cannot write {}: {e}", doc.display()))?;
    }
    println!("{markdown}");
    eprintln!("scim-bench: wrote {} and report.json", args.out.join("report.md").display());
    failure.map_or(Ok(()), Err)
}

/// For each size, seeds a fresh server and measures the reference and every scenario; answers
/// the report as Markdown and JSON. A size that fails ends the run, but the sizes measured
/// before it are still reported, with the failure.
fn measure(args: &Args, launch: &Launch) -> Result<Report, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let (mut sizes, mut failure) = (Vec::new(), None);
    for &users in &args.users {
        match measure_size(args, launch, &runtime, users) {
            Ok(size) => sizes.push(size),
            Err(why) => {
                failure = Some(format!("{users} users: {why}"));
                break;
            }
        }
    }
    drop(runtime);
    let report = Report {
        date: scim_bench::date::now_utc(),
        command: args.command.clone(),
        commit: commit(),
        durability: args.durability.clone(),
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        bench_threads: args.threads,
        connections: args.connections,
        seconds: args.seconds,
        sizes,
        failure,
    };
    Ok(report)
}

/// Seeds a fresh server with `users` users, measures the reference (in its own process, while the
/// server idles) and then every scenario.
fn measure_size(args: &Args, launch: &Launch, runtime: &tokio::runtime::Runtime, users: usize) -> Result<Size, String> {
    let settings = Settings {
        connections: args.connections,
        duration: Duration::from_secs_f64(args.seconds),
        users,
        only: args.only.clone(),
        ..Settings::default()
    };
    // The seeding, the POST scenario and the initial sync add users: lift the quota well above.
    let quota = (users.saturating_mul(2)).max(10_000_000).to_string();
    let mut server = launch.start(&["--max-users", &quota])?;
    eprintln!(
        "scim-bench: {users} users: server {} on {} with database {}",
        launch.binary.display(),
        server.addr(),
        server.db.to_string_lossy()
    );
    let endpoint = Endpoint::spread(server.addrs(), &server.token)?;
    let bench = Bench { runtime, endpoint: endpoint.clone(), base: server.base(), settings, server_pid: server.pid() };
    let (directory, seeding) = bench.seed()?;
    server.settle()?;
    // The same token, so the requests are the same size as those the server gets.
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let floor = Reference::start(&exe, &server.token)?;
    let mut scenarios = vec![bench.reference(Endpoint::new(floor.process.addr, &floor.token)?, floor.process.pid())];
    drop(floor);
    scenarios.extend(bench.scenarios(&directory));
    let peak_rss_kib = server.status_kib("VmHWM");
    let db_bytes = server.db_bytes();
    let base = server.base();
    let users_at_end = runtime
        .block_on(async {
            let mut conn = Conn::open(&endpoint).await?;
            let (_, body) = conn.send(&endpoint, "GET", &format!("{base}/Users?count=1"), None).await?;
            let text = String::from_utf8_lossy(body).into_owned();
            let total = text.split("\"totalResults\":").nth(1).and_then(|rest| {
                rest.split(|c: char| !c.is_ascii_digit()).find(|s| !s.is_empty()).and_then(|n| n.parse().ok())
            });
            total.ok_or_else(|| format!("no totalResults in {text}"))
        })
        .unwrap_or_else(|e: String| {
            eprintln!("scim-bench: could not count users: {e}");
            0
        });
    if !server.stop(Duration::from_secs(30)) {
        eprintln!("scim-bench: the server did not stop cleanly on SIGTERM");
    }
    Ok(Size { users, seeding, scenarios, peak_rss_kib, db_bytes, users_at_end })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_sorted_and_checked() {
        assert_eq!(sizes("1000000,10000").unwrap(), vec![10_000, 1_000_000]);
        assert_eq!(sizes("2000").unwrap(), vec![2_000]);
        assert_eq!(sizes("2000, 2000").unwrap(), vec![2_000]);
        assert!(sizes("99").is_err());
        assert!(sizes("10k").is_err());
        assert!(sizes("10000,").is_err());
    }
}
