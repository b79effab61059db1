//! A throwaway PostgreSQL cluster from the machine's packaged server, for tests.
//!
//! `cargo xtask test` starts one for the PostgreSQL pass of the tests and removes it afterwards;
//! the end-to-end harness includes this same file (`tests/support/mod.rs`) so that a test which
//! restarts or stops PostgreSQL does it to a private cluster and disturbs no other test.
//!
//! The cluster lives in a directory of its own (data directory, log, unix socket), listens on
//! 127.0.0.1 only, on a free port, and admits only the user `postgres` with a password generated
//! for this cluster (scram-sha-256). A password rather than `trust`: the machine is shared, and
//! with `trust` any local user's program could connect to, and drop, the databases of a run in
//! progress. It is a fence, not a vault: the URL travels on the command lines of the tests'
//! processes, which other local users can list.
//! The server runs as the OS user `postgres` when the caller is root, since PostgreSQL refuses to
//! run as root.
//!
//! Settings are written into the data directory's `postgresql.conf`, so `pg_ctl restart` keeps
//! them. `synchronous_commit` stays on: a test's 2xx must mean committed. `fsync` and
//! `full_page_writes` are off for speed, which loses data only when the operating system itself
//! crashes; no test simulates that (a killed or restarted PostgreSQL keeps every committed write,
//! because the kernel still holds what was written). `max_connections` is 500 because tests run
//! in parallel and every server process holds a pool.
//!
//! Plain `std::process::Command`, no dependency, like the rest of `xtask`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long to wait for the server to accept connections, to stop, or for `pg_ctl` to finish.
const PATIENCE: Duration = Duration::from_secs(60);

/// The settings of every throwaway cluster; the port and socket directory are appended per cluster.
const SETTINGS: &str = "
# A throwaway cluster for tests (xtask/src/postgres.rs says why each setting).
listen_addresses = '127.0.0.1'
max_connections = 500
shared_buffers = 32MB
synchronous_commit = on
fsync = off
full_page_writes = off
";

/// The bin directory of the server to use: `SCIM_TEST_PG_BIN` if set (`None` if it holds no
/// `initdb`), else the newest `/usr/lib/postgresql/<major>/bin` (Debian's layout) that holds one.
pub fn find_bin() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("SCIM_TEST_PG_BIN").filter(|b| !b.is_empty()) {
        return Some(PathBuf::from(bin)).filter(|bin| bin.join("initdb").is_file());
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let major: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

/// A running throwaway cluster; dropping it stops the server and removes its directory.
#[derive(Debug)]
pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    password: String,
    /// Whether the server's commands run as the OS user `postgres` (the caller is root).
    as_postgres: bool,
    /// The server as first started; after a `pg_ctl restart` its successor is not our child.
    postmaster: Option<Child>,
}

impl Cluster {
    /// Creates `dir` (which must not exist yet), initialises a cluster in it with the server in
    /// `bin`, starts it and waits until it accepts connections.
    pub fn start(bin: &Path, dir: PathBuf) -> Result<Cluster, String> {
        if dir.to_str().is_none_or(|d| d.contains('\'')) {
            return Err(format!("{} cannot be written into postgresql.conf", dir.display()));
        }
        let as_postgres = is_root()?;
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        // From here on, dropping the cluster removes the directory, whatever fails next.
        let mut cluster =
            Cluster { bin: bin.to_owned(), dir, port: 0, password: random_hex(16)?, as_postgres, postmaster: None };
        let password_file = cluster.dir.join("password");
        std::fs::write(&password_file, &cluster.password)
            .map_err(|e| format!("cannot write the password file: {e}"))?;
        cluster.give_to_postgres(&cluster.dir)?;
        cluster.give_to_postgres(&password_file)?;
        let mut initdb = cluster.as_user("initdb");
        initdb.arg("--pgdata").arg(cluster.data()).args([
            "--username=postgres",
            "--auth-host=scram-sha-256",
            "--auth-local=peer",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-instructions",
            "--no-sync",
        ]);
        initdb.arg(format!("--pwfile={}", password_file.display()));
        quiet(initdb)?;
        let _ = std::fs::remove_file(&password_file);
        let conf = cluster.data().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).map_err(|e| format!("cannot read {}: {e}", conf.display()))?;
        text.push_str(SETTINGS);
        text.push_str(&format!("unix_socket_directories = '{}'\n", cluster.dir.display()));
        // Another process may take the free port before the server binds it: then try another.
        for _ in 0..3 {
            cluster.port = free_port()?;
            std::fs::write(&conf, format!("{text}port = {}\n", cluster.port))
                .map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
            match cluster.launch() {
                Ok(()) => return Ok(cluster),
                Err(why) if why.contains("Address already in use") => continue,
                Err(why) => return Err(why),
            }
        }
        Err("no free port for PostgreSQL after 3 tries".into())
    }

    /// The superuser's URL of the `postgres` database, password included.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres:{}@127.0.0.1:{}/postgres", self.password, self.port)
    }

    /// The cluster's directory: data directory, log and unix socket.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs `pg_ctl <words>` on this cluster as the right user, waiting for it to finish: for
    /// instance `["restart", "-m", "immediate"]` (a crash and recovery), `["stop", "-m", "fast"]`
    /// or `["start"]`. A server it starts logs to the cluster's log and keeps its settings.
    pub fn ctl(&self, words: &[&str]) -> Result<(), String> {
        let mut pg_ctl = self.as_user("pg_ctl");
        pg_ctl.args(words).arg("--pgdata").arg(self.data()).arg("--log").arg(self.log()).arg("--wait");
        pg_ctl.arg(format!("--timeout={}", PATIENCE.as_secs()));
        quiet(pg_ctl)
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    /// Stops the server and removes the directory, saying what went wrong if anything did.
    pub fn stop(mut self) -> Result<(), String> {
        self.shutdown()
    }

    /// Stops the server (fast, then immediate if that fails) if it runs, and removes the directory.
    /// Once done, doing it again changes nothing.
    fn shutdown(&mut self) -> Result<(), String> {
        let mut outcome = Ok(());
        if self.data().join("postmaster.pid").exists()
            && let Err(fast) = self.ctl(&["stop", "--mode=fast"])
        {
            outcome = self.ctl(&["stop", "--mode=immediate"]).map_err(|immediate| format!("{fast}\n{immediate}"));
        }
        if let Some(mut postmaster) = self.postmaster.take() {
            if outcome.is_err() {
                let _ = postmaster.kill();
            }
            let _ = postmaster.wait();
        }
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(format!("cannot remove {}: {e}", self.dir.display()))
            }
            _ => outcome,
        }
    }

    /// Starts the server as our child and waits until it accepts connections.
    fn launch(&mut self) -> Result<(), String> {
        let log = std::fs::File::create(self.log()).map_err(|e| format!("cannot create the log: {e}"))?;
        self.give_to_postgres(&self.log())?;
        let mut postgres = self.as_user("postgres");
        postgres.arg("-D").arg(self.data()).stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
        let mut child = postgres.spawn().map_err(|e| format!("cannot start {postgres:?}: {e}"))?;
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("PostgreSQL exited with {status} while starting; its log:\n{}", self.log_text()));
            }
            let mut ready = Command::new(self.bin.join("pg_isready"));
            ready.args(["--host=127.0.0.1", "--timeout=1", "--quiet"]).arg(format!("--port={}", self.port));
            if ready.status().is_ok_and(|s| s.success()) {
                self.postmaster = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("PostgreSQL was not ready within {PATIENCE:?}; its log:\n{}", self.log_text()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// The server's program `name`, run as `postgres` if we are root, in the cluster's directory
    /// (the caller's may be closed to that user).
    fn as_user(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        let mut command = if self.as_postgres {
            let mut runuser = Command::new("runuser");
            runuser.args(["-u", "postgres", "--"]).arg(program);
            runuser
        } else {
            Command::new(program)
        };
        command.current_dir(&self.dir);
        command
    }

    /// Makes `path` the `postgres` user's, when the server runs as that user.
    fn give_to_postgres(&self, path: &Path) -> Result<(), String> {
        if !self.as_postgres {
            return Ok(());
        }
        let mut chown = Command::new("chown");
        chown.arg("postgres:postgres").arg(path);
        quiet(chown)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(why) = self.shutdown() {
            eprintln!("warning: the throwaway PostgreSQL in {} did not shut down cleanly: {why}", self.dir.display());
        }
    }
}

/// Stops and removes the clusters that runs killed before they could clean up left in `parent`,
/// each in a directory named `run-<pid>` (or `run-<pid>-<n>`) after the process that made it.
pub fn sweep(bin: &Path, parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name.to_str().and_then(|n| n.strip_prefix("run-")?.split('-').next()?.parse::<u32>().ok());
        let Some(pid) = pid else { continue };
        if is_alive(pid) {
            continue;
        }
        let stale = Cluster {
            bin: bin.to_owned(),
            dir: entry.path(),
            port: 0,
            password: String::new(),
            as_postgres: is_root().unwrap_or(false),
            postmaster: None,
        };
        eprintln!("xtask: removing the PostgreSQL an interrupted run left in {}", stale.dir.display());
        drop(stale);
    }
}

/// Whether process `pid` runs (a zombie, killed but not yet reaped, does not).
fn is_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, Some('Z' | 'X') | None)
}

/// Runs `sql` through `psql` from `bin` on the database at `url`; returns what it printed
/// (unaligned, rows only). Connecting gives up after 10 s rather than hang.
pub fn psql(bin: &Path, url: &str, sql: &str) -> Result<String, String> {
    let mut psql = Command::new(bin.join("psql"));
    psql.args(["--no-psqlrc", "--quiet", "--no-align", "--tuples-only", "--set=ON_ERROR_STOP=1"]);
    psql.arg(format!("--dbname={url}")).arg(format!("--command={sql}")).env("PGCONNECT_TIMEOUT", "10");
    output(psql)
}

/// Runs `command`, returning its output as the error when it fails.
fn quiet(command: Command) -> Result<(), String> {
    output(command).map(drop)
}

/// Runs `command` and returns its standard output, or all it printed as the error when it fails.
fn output(mut command: Command) -> Result<String, String> {
    let shown = format!("{command:?}");
    let out = command.stdin(Stdio::null()).output().map_err(|e| format!("cannot run {shown}: {e}"))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    Err(format!(
        "{shown} failed with {}:\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

fn is_root() -> Result<bool, String> {
    let out = Command::new("id").arg("-u").output().map_err(|e| format!("cannot run id -u: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| format!("no free port: {e}"))
}

/// `bytes` random bytes from the kernel, as hex.
fn random_hex(bytes: usize) -> Result<String, String> {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}
