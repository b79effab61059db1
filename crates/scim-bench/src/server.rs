//! The processes under test: the real `scim-server` binary, run as a child process on loopback
//! with a fresh database in a temporary folder, and the bare-hyper reference (`scim-bench
//! reference`, see [`crate::reference`]) in a process of its own; and what the operating system
//! says about them.
//!
//! [`Launch`] is the one place that knows how the server under test is started (its command
//! line, its database, its tenant); the fixed-time scenarios, the scale runs and the sync
//! scenario all start their servers through it, so another storage backend is one more case
//! there.

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
}

/// Runs a `scim-server` administration command on `db` and returns its standard output.
fn admin(binary: &Path, db: &Path, words: &[&str]) -> Result<String, String> {
    let out = Command::new(binary)
        .args(words)
        .arg("--db")
        .arg(db)
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
        let db = dir.join("scim.db");
        // From here on, dropping `server` kills the child and removes the folder.
        let mut server =
            Server { dir, db, tenant: String::new(), token: String::new(), process: None, keep: self.keep };
        let created: Value =
            serde_json::from_str(admin(&self.binary, &server.db, &["tenant", "create", "--json"])?.trim())
                .map_err(|e| format!("tenant create printed no JSON: {e}"))?;
        let field = |name: &str| created[name].as_str().map(str::to_owned).ok_or(format!("no {name} in {created}"));
        (server.tenant, server.token) = (field("tenant_id")?, field("token")?);
        if !limits.is_empty() {
            let mut words = vec!["tenant", "limit", server.tenant.as_str()];
            words.extend_from_slice(limits);
            admin(&self.binary, &server.db, &words)?;
        }
        let log = File::create(server.dir.join("server.log")).map_err(|e| format!("server log: {e}"))?;
        let mut command = Command::new(&self.binary);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--durability", &self.durability, "--db"])
            .arg(&server.db)
            .env("SCIM_LOG", "info")
            .env_remove("SCIM_PUBLIC_URL");
        server.process = Some(Process::spawn(&mut command, log)?);
        Ok(server)
    }
}

/// A running server under test and the tenant the bench uses.
#[derive(Debug)]
pub struct Server {
    /// The temporary folder holding the database and the server's log.
    pub dir: PathBuf,
    /// The database file.
    pub db: PathBuf,
    /// The tenant's id.
    pub tenant: String,
    /// A bearer token of the tenant.
    pub token: String,
    process: Option<Process>,
    keep: bool,
}

impl Server {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.process.as_ref().map_or_else(|| ([127, 0, 0, 1], 0).into(), |p| p.addr)
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(Process::pid)
    }

    /// The tenant's SCIM base path.
    pub fn base(&self) -> String {
        format!("/{}/scim/v2", self.tenant)
    }

    /// A field of the server's `/proc/<pid>/status` in KiB (`VmHWM`: the peak resident set).
    pub fn status_kib(&self, field: &str) -> Option<u64> {
        self.process.as_ref()?.status_kib(field)
    }

    /// The bytes of the database file and its WAL and shared-memory files.
    pub fn db_bytes(&self) -> u64 {
        ["", "-wal", "-shm"]
            .iter()
            .filter_map(|suffix| {
                let mut path = self.db.clone().into_os_string();
                path.push(suffix);
                std::fs::metadata(path).ok().map(|m| m.len())
            })
            .sum()
    }

    /// Stops the server with SIGTERM within `grace`, else kills it; says whether it stopped
    /// cleanly.
    pub fn stop(&mut self, grace: Duration) -> bool {
        self.process.as_mut().is_none_or(|p| p.stop(grace))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // The process first: the folder holds its database.
        drop(self.process.take());
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
