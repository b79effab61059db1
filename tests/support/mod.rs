//! The end-to-end harness: the real `scim-server` binary on a loopback port with a temporary
//! database, driven over HTTP/1.1 by a deliberately small client that sends bytes exactly as
//! written (raw quotes and spaces in queries, `//` in paths), as real identity providers do.
//!
//! The backend is the environment's choice, not the test's: with `SCIM_TEST_POSTGRES` set to a
//! PostgreSQL superuser's URL (as `cargo xtask test` does for its second pass), every [`Db`] is a
//! fresh database on that server, dropped when the test ends; otherwise it is a file in the test's
//! temporary directory. Tests pass a [`Db`] wherever `--db` goes and never look at which it is,
//! except the few about SQLite's own file, which say so through [`sqlite_only`].
//!
//! For the replica tests: [`Server::replica`] starts another server process on the same database
//! and key file, and [`private_postgres`] gives a test a PostgreSQL cluster of its own to restart
//! or stop (`Cluster::ctl`) without disturbing the tests running beside it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod browser;
/// The throwaway clusters of `cargo xtask test`, shared so both start PostgreSQL the same way.
#[path = "../../xtask/src/postgres.rs"]
pub mod pg;

pub const BIN: &str = env!("CARGO_BIN_EXE_scim-server");

/// How long a command may run, and a server may take to say where it listens, before the test
/// fails: a database that never answers must fail the test, not hang the run.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "scim-e2e-{}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            Instant::now().elapsed().as_nanos()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The PostgreSQL superuser's URL the tests run on (`SCIM_TEST_POSTGRES`), or `None` on SQLite.
pub fn postgres() -> Option<String> {
    std::env::var("SCIM_TEST_POSTGRES").ok().filter(|url| !url.is_empty())
}

/// True, after saying why on standard error, when the tests run on PostgreSQL: a test about
/// SQLite's own file (its bytes, its permissions, its copies) returns early then.
pub fn sqlite_only(why: &str) -> bool {
    let skip = postgres().is_some();
    if skip {
        eprintln!("sqlite-only, skipped on PostgreSQL: {why}");
    }
    skip
}

/// A private PostgreSQL cluster for a test that restarts or stops it (`Cluster::ctl`), from the
/// same packaged server as the run's (`SCIM_TEST_PG_BIN`); `None` when the tests run on SQLite.
/// It is removed when dropped (declare it before the servers and databases on it), and the
/// clusters of killed test processes are removed by the next one.
pub fn private_postgres() -> Option<pg::Cluster> {
    postgres()?;
    static N: AtomicU64 = AtomicU64::new(0);
    static SWEPT: std::sync::Once = std::sync::Once::new();
    let bin = pg::find_bin().expect("SCIM_TEST_POSTGRES is set, but no PostgreSQL server is installed");
    let parent = std::env::temp_dir().join("scim-e2e-pg");
    SWEPT.call_once(|| pg::sweep(&bin, &parent));
    let dir = parent.join(format!("run-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    Some(pg::Cluster::start(&bin, dir).unwrap_or_else(|why| panic!("cannot start a private PostgreSQL: {why}")))
}

/// A test's database: an SQLite file, or a PostgreSQL database made for the test (see the module
/// comment), with the key file its commands use. Clones share the database, which is dropped
/// with the last of them. `Command::arg(&db)` gives the value of `--db`.
#[derive(Clone, Debug)]
pub struct Db {
    target: OsString,
    key_file: PathBuf,
    /// Whether `SCIM_KEY_FILE` names the key file; if not, it is the default beside the file.
    explicit_key: bool,
    postgres: Option<Arc<PgDatabase>>,
}

impl Db {
    /// A fresh database for a test in `dir`, on the backend of the run, with the key file
    /// `dir/scim.key` (passed as `SCIM_KEY_FILE` on both backends).
    pub fn fresh(dir: &TempDir) -> Db {
        match postgres() {
            Some(admin) => Db::fresh_in(&admin, dir),
            None => Db {
                target: dir.0.join("scim.db").into_os_string(),
                key_file: dir.0.join("scim.key"),
                explicit_key: true,
                postgres: None,
            },
        }
    }

    /// A fresh database on the PostgreSQL server whose superuser's URL is `admin` (a
    /// [`private_postgres`] cluster's, say), with the key file `dir/scim.key`.
    pub fn fresh_in(admin: &str, dir: &TempDir) -> Db {
        let database = PgDatabase::create(admin);
        Db {
            target: database.url.clone().into(),
            key_file: dir.0.join("scim.key"),
            explicit_key: true,
            postgres: Some(Arc::new(database)),
        }
    }

    /// The SQLite file `path`, with its key file in the default place beside it (`<path>.key`,
    /// not passed, so that place is what runs): for tests about SQLite's files.
    pub fn sqlite(path: impl Into<PathBuf>) -> Db {
        let path = path.into();
        let mut key_file = path.clone().into_os_string();
        key_file.push(".key");
        Db { target: path.into_os_string(), key_file: key_file.into(), explicit_key: false, postgres: None }
    }

    /// The SQLite file; only for [`sqlite_only`] tests.
    pub fn path(&self) -> &Path {
        assert!(self.postgres.is_none(), "a PostgreSQL database has no file");
        Path::new(&self.target)
    }

    /// The PostgreSQL database's URL, or `None` for an SQLite file.
    pub fn url(&self) -> Option<&str> {
        self.postgres.as_ref().map(|database| database.url.as_str())
    }

    /// The key file that the server and the commands on this database use.
    pub fn key_file(&self) -> &Path {
        &self.key_file
    }

    /// The database's size in bytes: the file and its write-ahead log, or PostgreSQL's
    /// `pg_database_size`.
    pub fn size_bytes(&self) -> u64 {
        match &self.postgres {
            Some(database) => pg::psql(&psql_bin(), &database.url, "SELECT pg_database_size(current_database())")
                .unwrap_or_else(|why| panic!("{why}"))
                .trim()
                .parse()
                .unwrap(),
            None => ["", "-wal"]
                .iter()
                .filter_map(|suffix| {
                    let mut name = self.target.clone();
                    name.push(suffix);
                    std::fs::metadata(name).ok()
                })
                .map(|m| m.len())
                .sum(),
        }
    }

    /// On PostgreSQL, asserts (once per database) that the server made its tables there: a
    /// `scim-server` that took the URL for a file name would otherwise pass every test on SQLite.
    fn assert_used(&self) {
        let Some(database) = &self.postgres else { return };
        if database.used.load(Ordering::Relaxed) {
            return;
        }
        let sql = "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')";
        let tables: u64 =
            pg::psql(&psql_bin(), &database.url, sql).unwrap_or_else(|why| panic!("{why}")).trim().parse().unwrap();
        assert!(
            tables > 0,
            "SCIM_TEST_POSTGRES is set, but scim-server left the database {} empty: did it take the \
             postgres:// URL for a file name?",
            database.url
        );
        database.used.store(true, Ordering::Relaxed);
    }

    /// `command` with `--db` and the key file added; on PostgreSQL it runs in the test's
    /// directory, where a server that misread the URL as a file name leaves its file.
    pub fn command(&self, mut command: Command) -> Command {
        command.arg("--db").arg(&self.target);
        if let (Some(_), Some(dir)) = (&self.postgres, self.key_file.parent()) {
            command.current_dir(dir);
        }
        if self.explicit_key {
            command.env("SCIM_KEY_FILE", &self.key_file);
        } else {
            command.env_remove("SCIM_KEY_FILE");
        }
        command
    }
}

impl AsRef<OsStr> for Db {
    fn as_ref(&self) -> &OsStr {
        &self.target
    }
}

/// A PostgreSQL database created for one test, dropped (connections and all) with the last
/// [`Db`] on it.
#[derive(Debug)]
struct PgDatabase {
    admin: String,
    name: String,
    url: String,
    /// Whether the server was seen to make its tables here ([`Db::assert_used`]).
    used: AtomicBool,
}

impl PgDatabase {
    fn create(admin: &str) -> PgDatabase {
        static N: AtomicU64 = AtomicU64::new(0);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        let name = format!(
            "scim_e2e_{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            now.as_micros() % 1_000_000_000
        );
        pg::psql(&psql_bin(), admin, &format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|why| panic!("cannot create a test database: {why}"));
        PgDatabase { url: database_url(admin, &name), admin: admin.to_owned(), name, used: AtomicBool::new(false) }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(why) = pg::psql(&psql_bin(), &self.admin, &sql) {
            eprintln!("warning: cannot drop the test database {}: {why}", self.name);
        }
    }
}

/// The directory of `psql`: the run's PostgreSQL's, else the one on `PATH`.
fn psql_bin() -> PathBuf {
    pg::find_bin().unwrap_or_default()
}

/// `admin` (a libpq URL) with its database replaced by `name`, its parameters kept.
fn database_url(admin: &str, name: &str) -> String {
    let (base, query) = admin.split_once('?').map_or((admin, None), |(base, query)| (base, Some(query)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..].find('/').map_or(base.len(), |i| authority + i);
    let mut url = format!("{}/{name}", &base[..path]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// Runs a `scim-server` command on `db`; returns (exit code, stdout, stderr). It fails the test if
/// the command runs longer than [`PATIENCE`] (coreutils' `timeout` ends it).
pub fn cli(db: &Db, words: &[&str]) -> (i32, String, String) {
    let mut command = Command::new("timeout");
    command.args(["--kill-after=5", &PATIENCE.as_secs().to_string(), BIN]).args(words);
    let out = db.command(command).env_remove("SCIM_PUBLIC_URL").env_remove("SCIM_LISTEN").output().unwrap();
    // 124: `timeout` ended it; 137: it had to kill it.
    assert!(
        !matches!(out.status.code(), Some(124 | 137)),
        "scim-server {words:?} did not finish within {PATIENCE:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && words.first() != Some(&"help") {
        db.assert_used();
    }
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Creates an identity-center tenant through the CLI; returns its `--json` object.
pub fn create_tenant(db: &Db) -> Value {
    create_tenant_with(db, "identity-center")
}

/// Creates a tenant of `profile` through the CLI; returns its `--json` object.
pub fn create_tenant_with(db: &Db, profile: &str) -> Value {
    let (code, out, err) = cli(db, &["tenant", "create", "--json", "--profile", profile]);
    assert_eq!(code, 0, "tenant create failed: {err}");
    serde_json::from_str(out.trim()).unwrap()
}

/// Creates an admin token through the CLI; returns it.
pub fn admin_token(db: &Db) -> String {
    let (code, out, err) = cli(db, &["admin", "token", "create", "--json"]);
    assert_eq!(code, 0, "admin token create failed: {err}");
    let created: Value = serde_json::from_str(out.trim()).unwrap();
    created["token"].as_str().unwrap().to_owned()
}

/// A running server with one tenant.
pub struct Server {
    /// The test's directory, shared with its replicas (the key file is in it).
    pub dir: Arc<TempDir>,
    pub db: Db,
    pub addr: String,
    pub tenant: String,
    pub token: String,
    child: Option<Child>,
    pub stderr: PathBuf,
    /// Extra environment for the server process (set before [`Server::launch`]).
    pub env: Vec<(String, String)>,
    /// Extra words after `serve` (set before [`Server::launch`]).
    pub args: Vec<String>,
    /// The metrics listener's address, when `--metrics-listen` was given.
    pub metrics_addr: Option<String>,
}

impl Server {
    /// A server on a fresh database with one identity-center tenant.
    pub fn start() -> Server {
        Server::start_with("identity-center")
    }

    /// A server on a fresh database with one tenant of `profile`.
    pub fn start_with(profile: &str) -> Server {
        Server::start_args(profile, &[])
    }

    /// A server on a fresh database with one tenant of `profile`, started with `args` after
    /// `serve`.
    pub fn start_args(profile: &str, args: &[&str]) -> Server {
        Server::prepared(profile, |_| args.iter().map(|a| (*a).to_owned()).collect())
    }

    /// A server on a fresh database with one tenant of `profile`, started with the words
    /// `args` returns given the server's directory (for files such as certificates made there).
    pub fn prepared(profile: &str, args: impl FnOnce(&Path) -> Vec<String>) -> Server {
        let dir = TempDir::new();
        let db = Db::fresh(&dir);
        Server::prepared_on(dir, db, profile, args)
    }

    /// Like [`Server::prepared`], on `db` (made for `dir`): for a database on a
    /// [`private_postgres`] cluster, say.
    pub fn prepared_on(dir: TempDir, db: Db, profile: &str, args: impl FnOnce(&Path) -> Vec<String>) -> Server {
        let created = create_tenant_with(&db, profile);
        let (tenant, token) = (created["tenant_id"].as_str().unwrap(), created["token"].as_str().unwrap());
        let args = args(&dir.0);
        Server::launched_with(dir, db, tenant, token, args)
    }

    /// A server started on `db` in `dir`, addressing `tenant` with `token`.
    pub fn launched(dir: TempDir, db: Db, tenant: &str, token: &str) -> Server {
        Server::launched_with(dir, db, tenant, token, Vec::new())
    }

    fn launched_with(dir: TempDir, db: Db, tenant: &str, token: &str, args: Vec<String>) -> Server {
        let dir = Arc::new(dir);
        let mut server = Server {
            db,
            addr: String::new(),
            tenant: tenant.to_owned(),
            token: token.to_owned(),
            child: None,
            stderr: dir.0.join("server.log"),
            env: Vec::new(),
            args,
            metrics_addr: None,
            dir,
        };
        server.launch();
        server
    }

    /// Another server process on the same database and key file, with the same words and
    /// environment, addressing the same tenant: one more replica of one service (for PostgreSQL;
    /// on SQLite it is a second process on one file). Its log is its own.
    pub fn replica(&self) -> Server {
        static N: AtomicU64 = AtomicU64::new(0);
        let mut replica = Server {
            dir: self.dir.clone(),
            db: self.db.clone(),
            addr: String::new(),
            tenant: self.tenant.clone(),
            token: self.token.clone(),
            child: None,
            stderr: self.dir.0.join(format!("replica-{}.log", N.fetch_add(1, Ordering::Relaxed))),
            env: self.env.clone(),
            args: self.args.clone(),
            metrics_addr: None,
        };
        replica.launch();
        replica
    }

    /// A server on a fresh database with no tenant at all (`tenant` and `token` are empty).
    pub fn start_empty() -> Server {
        let dir = TempDir::new();
        let db = Db::fresh(&dir);
        let (code, _, err) = cli(&db, &["tenant", "list"]);
        assert_eq!(code, 0, "{err}");
        Server::launched(dir, db, "", "")
    }

    /// Starts (or restarts) the process on the same database.
    pub fn launch(&mut self) {
        let log = std::fs::File::create(&self.stderr).unwrap();
        let mut command = Command::new(BIN);
        command.args(["serve", "--listen", "127.0.0.1:0"]);
        let mut child = self
            .db
            .command(command)
            .args(&self.args)
            .env("SCIM_LOG", "info")
            .env_remove("SCIM_PUBLIC_URL")
            .env_remove("SCIM_ADMIN_TOKEN")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // Held before anything can fail, so that a failed start still kills the process on drop.
        self.child = Some(child);
        // The metrics line, if any, comes before the one that says the server listens. A reader
        // thread hands the lines over, so that a server that never says anything fails the test.
        let (lines, arrived) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            loop {
                let mut line = String::new();
                let last = stdout.read_line(&mut line).unwrap_or(0) == 0 || !line.contains("metrics on http://");
                if lines.send(line).is_err() || last {
                    break;
                }
            }
        });
        let deadline = Instant::now() + PATIENCE;
        let log = self.stderr.clone();
        let next = || {
            arrived.recv_timeout(deadline.saturating_duration_since(Instant::now())).unwrap_or_else(|_| {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("the server did not say where it listens within {PATIENCE:?}; log: {log}")
            })
        };
        let mut line = next();
        while line.contains("metrics on http://") {
            let metrics = line.trim().rsplit("http://").next().unwrap_or_default();
            self.metrics_addr = Some(metrics.trim_end_matches("/metrics").to_owned());
            line = next();
        }
        let addr = line.trim().rsplit("://").next().unwrap_or_default().to_owned();
        assert!(addr.starts_with("127.0.0.1:"), "unexpected first line {line:?}; log: {}", self.log());
        self.addr = addr;
        self.db.assert_used();
    }

    /// The server's resident memory in KiB (Linux), while it runs.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server runs").id()
    }

    /// Whether the server's process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|child| child.try_wait().unwrap().is_none())
    }

    /// Sends `signal` (a name such as `HUP`) to the server.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([&format!("-{signal}"), &self.pid().to_string()]).status().unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits up to 10 s for the log to contain `text`.
    pub fn wait_for_log(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.log().contains(text) {
            assert!(Instant::now() < deadline, "the log never said {text:?}: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Kills the process with SIGKILL and waits for it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Sends SIGTERM and waits for a clean exit; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The tenant's SCIM base path.
    pub fn base(&self) -> String {
        format!("/{}/scim/v2", self.tenant)
    }

    /// A request builder for `method` on `path` relative to the SCIM base, with the token.
    pub fn req(&self, method: &str, path: &str) -> Req {
        Req::new(&self.addr, method, &format!("{}{path}", self.base())).bearer(&self.token)
    }

    /// A request builder for `method` on `path` relative to `/admin/v1`, with `token`.
    pub fn admin(&self, token: &str, method: &str, path: &str) -> Req {
        Req::new(&self.addr, method, &format!("/admin/v1{path}")).bearer(token)
    }

    pub fn get(&self, path: &str) -> Resp {
        self.req("GET", path).send()
    }

    pub fn post(&self, path: &str, body: &Value) -> Resp {
        self.req("POST", path).json(body).send()
    }

    pub fn put(&self, path: &str, body: &Value) -> Resp {
        self.req("PUT", path).json(body).send()
    }

    pub fn patch(&self, path: &str, body: &Value) -> Resp {
        self.req("PATCH", path).json(body).send()
    }

    pub fn delete(&self, path: &str) -> Resp {
        self.req("DELETE", path).send()
    }

    /// Creates a user with the given userName and returns its id.
    pub fn user(&self, user_name: &str) -> String {
        let r = self.post("/Users", &user_body(user_name));
        assert_eq!(r.status, 201, "{}", r.text);
        r.json()["id"].as_str().unwrap().to_owned()
    }

    /// Creates a group and returns its id.
    pub fn group(&self, name: &str) -> String {
        let r = self.post("/Groups", &serde_json::json!({"displayName": name}));
        assert_eq!(r.status, 201, "{}", r.text);
        r.json()["id"].as_str().unwrap().to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A minimal valid identity-center user.
pub fn user_body(user_name: &str) -> Value {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "name": {"givenName": "Given", "familyName": "Family"},
        "displayName": "Given Family",
        "emails": [{"value": user_name, "type": "work", "primary": true}],
        "active": true
    })
}

/// One HTTP request.
pub struct Req {
    addr: String,
    head: String,
    body: Vec<u8>,
    content_type: Option<String>,
}

impl Req {
    /// A request for `target`; spaces and double quotes in it are sent as `%20` and `%22`, as
    /// HTTP client libraries do (neither may travel raw in a request line).
    pub fn new(addr: &str, method: &str, target: &str) -> Req {
        let target = target.replace(' ', "%20").replace('"', "%22");
        Req {
            addr: addr.to_owned(),
            head: format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\n"),
            body: Vec::new(),
            content_type: None,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Req {
        self.head.push_str(&format!("{name}: {value}\r\n"));
        self
    }

    pub fn bearer(self, token: &str) -> Req {
        self.header("Authorization", &format!("Bearer {token}"))
    }

    pub fn json(mut self, body: &Value) -> Req {
        self.body = serde_json::to_vec(body).unwrap();
        self.content_type.get_or_insert_with(|| "application/scim+json; charset=utf-8".into());
        self
    }

    pub fn raw_body(mut self, body: &[u8], content_type: Option<&str>) -> Req {
        self.body = body.to_vec();
        self.content_type = content_type.map(str::to_owned);
        self
    }

    pub fn send(self) -> Resp {
        let addr = self.addr.clone();
        Resp::parse(&self.exchange().unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}")))
    }

    /// Like [`Req::send`], but `None` when the server refuses the connection or closes it
    /// without an answer (a server being killed, say).
    pub fn send_or_closed(self) -> Option<Resp> {
        let raw = self.exchange().ok()?;
        raw.windows(4).any(|w| w == b"\r\n\r\n").then(|| Resp::parse(&raw))
    }

    /// Sends the request on a fresh connection and reads until the server closes it.
    fn exchange(self) -> std::io::Result<Vec<u8>> {
        let mut stream = TcpStream::connect(&self.addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut request = self.head.into_bytes();
        if let Some(ct) = &self.content_type {
            request.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        request
            .extend_from_slice(format!("Content-Length: {}\r\nConnection: close\r\n\r\n", self.body.len()).as_bytes());
        request.extend_from_slice(&self.body);
        // The server may answer (413) before reading all of a large body.
        let _ = stream.write_all(&request);
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        Ok(raw)
    }
}

/// One HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub text: String,
}

impl Resp {
    pub fn parse(raw: &[u8]) -> Resp {
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("no header end in response");
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = head.lines();
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Resp { status, headers, text: String::from_utf8_lossy(&raw[split + 4..]).into_owned() }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {} {:?}", self.status, self.text))
    }

    /// Asserts an identity-center error body with `status` and `detail`.
    pub fn assert_error(&self, status: u16, detail: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(self.header("content-type"), Some("application/json"));
        let body = self.json();
        let urn = serde_json::json!(["urn:ietf:params:scim:api:messages:2.0:Error"]);
        assert_eq!(body["schemas"], urn, "{body}");
        assert_eq!(body["schema"], urn, "{body}");
        assert_eq!(body["status"], Value::String(status.to_string()), "{body}");
        assert_eq!(body["detail"], detail, "{body}");
        assert_eq!(body["exceptionRequestId"].as_str(), self.header("x-amzn-requestid"), "{body}");
        let stamp = body["timeStamp"].as_str().unwrap();
        assert_eq!(stamp.len(), 23, "{stamp}");
        assert!(body.get("scimType").is_none(), "{body}");
    }
}

pub const UNPARSABLE: &str = "Request is unparsable, syntactically incorrect, or violates schema.";
pub const DUPLICATE: &str = "Refused to create a new, duplicate resource.";

/// Percent-encodes a query value (spaces as %20).
pub fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
