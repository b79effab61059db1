//! The processes under test: the real `scim-server` binary, run as a child process on loopback
//! with a fresh database in a temporary folder, and the bare-hyper reference (`scim-bench
//! reference`, see [`crate::reference`]) in a process of its own; and what the operating system
//! says about them.
//!
//! [`Launch`] is the one place that knows how the server under test is started (its command
//! line, its database, its tenant); the fixed-time scenarios, the scale runs and the sync
//! scenario all start their servers through it, so another storage backend is one more case
//! there.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A child process serving HTTP on loopback, killed when dropped.
#[derive(Debug)]
pub struct Process {
    /// The address it listens on.
    pub addr: SocketAddr,
    child: Option<Child>,
}

impl Process {
    /// Starts `command` with its standard error going to `log`, and reads the address it listens
    /// on from the end of the first line of its standard output (`... http://127.0.0.1:PORT`),
    /// as `scim-server serve` and `scim-bench reference` print it.
    pub fn spawn(command: &mut Command, log: File) -> Result<Process, String> {
        let shown = format!("{command:?}");
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| format!("cannot start {shown}: {e}"))?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            let _ = BufReader::new(stdout).read_line(&mut line);
        }
        let addr = line.trim().rsplit("http://").next().unwrap_or_default().parse::<SocketAddr>();
        // On failure, dropping the process kills it.
        let mut process = Process { addr: ([127, 0, 0, 1], 0).into(), child: Some(child) };
        process.addr =
            addr.map_err(|_| format!("{shown} did not say where it listens (first line {line:?}); see its log"))?;
        Ok(process)
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A field of `/proc/<pid>/status` in KiB (`VmHWM` is the peak resident set), on Linux.
    pub fn status_kib(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status_field_kib(&status, field)
    }

    /// Stops the process with SIGTERM (for the server a clean shutdown: it finishes, commits and
    /// closes), within `grace`, else kills it; says whether it stopped cleanly.
    pub fn stop(&mut self, grace: Duration) -> bool {
        let Some(mut child) = self.child.take() else { return true };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Kills the process at once.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The value of `field` (in KiB) in the text of a `/proc/<pid>/status` file.
fn status_field_kib(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?;
    line[field.len() + 1..].split_whitespace().next()?.parse().ok()
}

/// How to start the server under test. Every server the bench measures is started by
/// [`Launch::start`], so this is where its command line lives.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The `scim-server` binary (a release build).
    pub binary: PathBuf,
    /// Its `--durability`: `full` or `normal`.
    pub durability: String,
    /// Keep the temporary folder (database and log) after the run.
    pub keep: bool,
    /// Where the data lives.
    pub database: Database,
    /// How many server processes share the database (1 for SQLite).
    pub replicas: usize,
}

/// The backend the server under test runs on.
#[derive(Debug, Clone)]
pub enum Database {
    /// A fresh SQLite file in the server's folder.
    Sqlite,
    /// A fresh database on a PostgreSQL server, made and dropped with `psql`.
    Postgres {
        /// The superuser's URL of the server (`postgres://user:password@host:port/postgres`).
        admin_url: String,
        /// The `psql` client.
        psql: PathBuf,
    },
}

/// Runs `psql` on `url` with one SQL command; returns its output (tuples only, unaligned).
fn psql(psql: &Path, url: &str, sql: &str) -> Result<String, String> {
    let out = Command::new(psql)
        .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", psql.display()))?;
    if !out.status.success() {
        return Err(format!("psql {sql:?} failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `url` naming database `name` instead of its own.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let path_start = base.find("://").map_or(0, |i| i + 3);
    let base = base[path_start..].find('/').map_or(base, |i| &base[..path_start + i]);
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// Runs a `scim-server` administration command on `db` (with its key file) and returns its
/// standard output.
fn admin(binary: &Path, db: &OsStr, key_file: &Path, words: &[&str]) -> Result<String, String> {
    let out = Command::new(binary)
        .args(words)
        .arg("--db")
        .arg(db)
        .arg("--key-file")
        .arg(key_file)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    if !out.status.success() {
        return Err(format!("scim-server {} failed: {}", words.join(" "), String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A fresh temporary folder for one process's files.
fn fresh_dir(what: &str) -> Result<PathBuf, String> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!("scim-bench-{what}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

impl Launch {
    /// Creates a database with one tenant in a fresh temporary folder, applies `limits` to the
    /// tenant (words of `scim-server tenant limit`, such as `--max-users N`), and starts the
    /// server on `127.0.0.1:0`, logging one line per request at `info` to a file, as in
    /// production.
    pub fn start(&self, limits: &[&str]) -> Result<Server, String> {
        let dir = fresh_dir("server")?;
        let key_file = dir.join("scim.key");
        // From here on, dropping `server` kills the children, drops the database and removes the
        // folder.
        let mut server = Server {
            db: dir.join("scim.db").into_os_string(),
            dir,
            key_file,
            postgres: None,
            tenant: String::new(),
            token: String::new(),
            processes: Vec::new(),
            keep: self.keep,
        };
        if let Database::Postgres { admin_url, psql: client } = &self.database {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            let name = format!("scim_bench_{}_{nanos}", std::process::id());
            psql(client, admin_url, &format!("CREATE DATABASE {name}"))?;
            server.db = with_database(admin_url, &name).into();
            server.postgres = Some(Postgres { admin_url: admin_url.clone(), psql: client.clone(), name });
        }
        let created: Value = serde_json::from_str(
            admin(&self.binary, &server.db, &server.key_file, &["tenant", "create", "--json"])?.trim(),
        )
        .map_err(|e| format!("tenant create printed no JSON: {e}"))?;
        let field = |name: &str| created[name].as_str().map(str::to_owned).ok_or(format!("no {name} in {created}"));
        (server.tenant, server.token) = (field("tenant_id")?, field("token")?);
        if !limits.is_empty() {
            let mut words = vec!["tenant", "limit", server.tenant.as_str()];
            words.extend_from_slice(limits);
            admin(&self.binary, &server.db, &server.key_file, &words)?;
        }
        for replica in 0..self.replicas.max(1) {
            let log = File::create(server.dir.join(format!("server-{replica}.log")))
                .map_err(|e| format!("server log: {e}"))?;
            let mut command = Command::new(&self.binary);
            command
                .args(["serve", "--listen", "127.0.0.1:0", "--durability", &self.durability, "--db"])
                .arg(&server.db)
                .arg("--key-file")
                .arg(&server.key_file)
                .env("SCIM_LOG", "info")
                .env_remove("SCIM_PUBLIC_URL");
            server.processes.push(Process::spawn(&mut command, log)?);
        }
        Ok(server)
    }
}

/// The PostgreSQL database a server runs on, dropped with it.
#[derive(Debug)]
struct Postgres {
    admin_url: String,
    psql: PathBuf,
    name: String,
}

/// A running server under test and the tenant the bench uses.
#[derive(Debug)]
pub struct Server {
    /// The temporary folder holding the database file (SQLite), the key file and the logs.
    pub dir: PathBuf,
    /// The value of `--db`: the SQLite file, or the PostgreSQL URL.
    pub db: OsString,
    /// The key file every replica shares.
    pub key_file: PathBuf,
    postgres: Option<Postgres>,
    /// The tenant's id.
    pub tenant: String,
    /// A bearer token of the tenant.
    pub token: String,
    processes: Vec<Process>,
    keep: bool,
}

impl Server {
    /// The address the first replica listens on.
    pub fn addr(&self) -> SocketAddr {
        self.processes.first().map_or_else(|| ([127, 0, 0, 1], 0).into(), |p| p.addr)
    }

    /// The addresses of every replica.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.processes.iter().map(|p| p.addr).collect()
    }

    /// The first replica's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.processes.first().and_then(Process::pid)
    }

    /// The tenant's SCIM base path.
    pub fn base(&self) -> String {
        format!("/{}/scim/v2", self.tenant)
    }

    /// A field of the server's `/proc/<pid>/status` in KiB (`VmHWM`: the peak resident set).
    pub fn status_kib(&self, field: &str) -> Option<u64> {
        self.processes.first()?.status_kib(field)
    }

    /// The bytes of the database: the SQLite file with its WAL and shared-memory files, or
    /// PostgreSQL's `pg_database_size`.
    pub fn db_bytes(&self) -> u64 {
        if let Some(pg) = &self.postgres {
            let size = psql(&pg.psql, &pg.admin_url, &format!("SELECT pg_database_size('{}')", pg.name));
            return size.ok().and_then(|s| s.parse().ok()).unwrap_or(0);
        }
        ["", "-wal", "-shm"]
            .iter()
            .filter_map(|suffix| {
                let mut path = self.db.clone();
                path.push(suffix);
                std::fs::metadata(path).ok().map(|m| m.len())
            })
            .sum()
    }

    /// Lets the database settle after the seeding, as it would by itself within a minute: on
    /// PostgreSQL, `VACUUM ANALYZE` (what autovacuum runs after a bulk load), so the scenarios
    /// measure plans made with statistics rather than the minute before autovacuum's next round;
    /// SQLite needs nothing.
    pub fn settle(&self) -> Result<(), String> {
        match &self.postgres {
            Some(pg) => psql(&pg.psql, &with_database(&pg.admin_url, &pg.name), "VACUUM ANALYZE").map(drop),
            None => Ok(()),
        }
    }

    /// Stops the server with SIGTERM within `grace`, else kills it; says whether it stopped
    /// cleanly.
    pub fn stop(&mut self, grace: Duration) -> bool {
        // Every replica is stopped, even after one that did not stop cleanly.
        let stopped: Vec<bool> = self.processes.iter_mut().map(|p| p.stop(grace)).collect();
        stopped.into_iter().all(|clean| clean)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // The processes first: the folder holds their database.
        self.processes.clear();
        if let Some(pg) = self.postgres.take().filter(|_| !self.keep) {
            let dropped = psql(&pg.psql, &pg.admin_url, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", pg.name));
            if let Err(e) = dropped {
                eprintln!("scim-bench: {e}");
            }
        }
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The bare-hyper reference (`scim-bench reference`), started from this very binary in a process
/// of its own, so that it has its own runtime with the same number of threads as the server's
/// and does not share the load generator's.
#[derive(Debug)]
pub struct Reference {
    /// The running process.
    pub process: Process,
    /// The token it accepts.
    pub token: String,
    dir: PathBuf,
}

impl Reference {
    /// Starts `EXE reference --token TOKEN` on `127.0.0.1:0`, where `exe` is the `scim-bench`
    /// binary (`std::env::current_exe()` when the bench runs).
    pub fn start(exe: &Path, token: &str) -> Result<Reference, String> {
        let dir = fresh_dir("reference")?;
        let log = File::create(dir.join("reference.log")).map_err(|e| format!("reference log: {e}"));
        let started = log.and_then(|log| Process::spawn(Command::new(exe).args(["reference", "--token", token]), log));
        match started {
            Ok(process) => Ok(Reference { process, token: token.to_owned(), dir }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        self.process.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Total CPU time (user + system) process `pid` (or `"self"`) has used so far, from
/// `/proc/<pid>/stat`, on Linux.
pub fn cpu_time(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux kernel this runs on.
    Some(Duration::from_millis(ticks * 10))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_in_kib() {
        let status = "Name:\tscim-server\nVmPeak:\t  900 kB\nVmHWM:\t  121344 kB\nVmHWMx:\t 1 kB\n";
        assert_eq!(status_field_kib(status, "VmHWM"), Some(121_344));
        assert_eq!(status_field_kib(status, "VmPeak"), Some(900));
        assert_eq!(status_field_kib(status, "VmRSS"), None);
    }
}
