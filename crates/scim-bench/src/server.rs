//! The server under test: the real `scim-server` binary, run as a child process on loopback with
//! a fresh database in a temporary folder, and what the operating system says about it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running server and the tenant the bench uses.
#[derive(Debug)]
pub struct Server {
    /// The binary.
    pub binary: PathBuf,
    /// The temporary folder holding the database and the server's log.
    pub dir: PathBuf,
    /// The database file.
    pub db: PathBuf,
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The tenant's id.
    pub tenant: String,
    /// A bearer token of the tenant.
    pub token: String,
    child: Option<Child>,
    keep: bool,
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

impl Server {
    /// Creates a database with one tenant in a fresh temporary folder, applies `limits` to the
    /// tenant (words of `scim-server tenant limit`), and starts the server on `127.0.0.1:0`.
    pub fn start(binary: &Path, durability: &str, limits: &[&str], keep: bool) -> Result<Server, String> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("scim-bench-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let db = dir.join("scim.db");
        let created: Value = serde_json::from_str(admin(binary, &db, &["tenant", "create", "--json"])?.trim())
            .map_err(|e| format!("tenant create printed no JSON: {e}"))?;
        let field = |name: &str| created[name].as_str().map(str::to_owned).ok_or(format!("no {name} in {created}"));
        let (tenant, token) = (field("tenant_id")?, field("token")?);
        if !limits.is_empty() {
            let mut words = vec!["tenant", "limit", tenant.as_str()];
            words.extend_from_slice(limits);
            admin(binary, &db, &words)?;
        }
        let log = std::fs::File::create(dir.join("server.log")).map_err(|e| format!("server log: {e}"))?;
        let mut child = Command::new(binary)
            .args(["serve", "--listen", "127.0.0.1:0", "--durability", durability, "--db"])
            .arg(&db)
            .env("SCIM_LOG", "info")
            .env_remove("SCIM_PUBLIC_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            let _ = BufReader::new(stdout).read_line(&mut line);
        }
        let addr = line.trim().rsplit("http://").next().unwrap_or_default().parse::<SocketAddr>();
        let mut server = Server {
            binary: binary.to_owned(),
            dir,
            db,
            addr: ([127, 0, 0, 1], 0).into(),
            tenant,
            token,
            child: Some(child),
            keep,
        };
        // On failure, dropping `server` kills the child and removes the folder.
        server.addr =
            addr.map_err(|_| format!("the server did not say where it listens (first line {line:?}); see its log"))?;
        Ok(server)
    }

    /// The server's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The tenant's SCIM base path.
    pub fn base(&self) -> String {
        format!("/{}/scim/v2", self.tenant)
    }

    /// Runs `scim-server tenant limit TENANT words...` against the running server's database.
    pub fn limit(&self, words: &[&str]) -> Result<(), String> {
        let mut all = vec!["tenant", "limit", self.tenant.as_str()];
        all.extend_from_slice(words);
        admin(&self.binary, &self.db, &all).map(drop)
    }

    /// A field of `/proc/<pid>/status` in KiB (`VmHWM` is the peak resident set), on Linux.
    pub fn status_kib(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?;
        line[field.len() + 1..].split_whitespace().next()?.parse().ok()
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

    /// Stops the server with SIGTERM (a clean shutdown: it finishes, commits and closes), within
    /// `grace`, else kills it; says whether it stopped cleanly.
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
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
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
