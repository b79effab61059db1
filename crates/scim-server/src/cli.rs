//! The command line: `serve`, and the administrator's `tenant`, `token`, `admin`, `key`, `backup`,
//! `export` and `import` commands, which work on the database and key file directly (also while a
//! server runs on them: the server notices within a second). Every change they make is written to
//! the admin trail as done by `cli`.
//!
//! Scripts depend on this interface; `docs/CLI.md` documents it and a test checks the two agree.

use std::collections::HashMap;
use std::path::PathBuf;

use scim_schema::ProfileName;
use scim_schema::time::format_datetime;
use scim_store::{Durability, Options, RateLimit, Store};
use serde_json::json;

use crate::error::{ApiError, Thing, missing};

/// The usage text, printed by `help` and on usage errors.
pub const USAGE: &str = "\
scim-server: a SCIM 2.0 service provider (AWS IAM Identity Center compatible)

USAGE:
    scim-server serve [--db PATH] [--listen ADDR] [--public-url URL]
                      [--durability full|normal] [--log-format human|json]
                      [--admin-token-file PATH] [--key-file PATH] [--aws-regions LIST]
                      [--audit-max-age DAYS] [--audit-max-rows N]
                      [--tls-cert FILE --tls-key FILE] [--metrics-listen ADDR]
                      [--header-timeout SECS] [--idle-timeout SECS]
                      [--max-connections N] [--max-header-bytes N] [--drain-delay SECS]
                      [--workers N]
    scim-server tenant create [--db PATH] [--profile identity-center|rfc] [--name NAME]
                              [--public-url URL] [--key-file PATH] [--json]
    scim-server tenant list [--db PATH] [--public-url URL] [--json]
    scim-server tenant delete TENANT_ID [--db PATH]
    scim-server tenant limit TENANT_ID [--db PATH] [--rate N [--burst N] | --off]
                             [--max-users N] [--max-groups N] [--json]
    scim-server token create --tenant TENANT_ID [--db PATH] [--days N] [--public-url URL]
                             [--key-file PATH] [--json]
    scim-server token list --tenant TENANT_ID [--db PATH] [--json]
    scim-server token delete TOKEN_ID --tenant TENANT_ID [--db PATH]
    scim-server admin token create [--db PATH] [--days N] [--public-url URL] [--key-file PATH] [--json]
    scim-server admin token list [--db PATH] [--json]
    scim-server admin token delete TOKEN_ID [--db PATH]
    scim-server key rotate [--db PATH] [--key-file PATH] [--grace DURATION]
    scim-server backup --out FILE [--db PATH]
    scim-server export --tenant TENANT_ID --out FILE.jsonl [--db PATH]
    scim-server import --in FILE.jsonl [--db PATH]
    scim-server access-key create --tenant TENANT_ID [--db PATH] [--aws-regions LIST] [--json]
    scim-server access-key list --tenant TENANT_ID [--db PATH] [--json]
    scim-server access-key delete KEY_ID --tenant TENANT_ID [--db PATH]
    scim-server help | --help | --version

ENVIRONMENT:
    SCIM_DB          database: a file (SQLite) or a postgres:// or postgresql:// URL
                                              (default ./data/scim.db)
    SCIM_LISTEN      address to listen on     (default 127.0.0.1:8080)
    SCIM_PUBLIC_URL  URL clients use          (default http://<listen address>)
    SCIM_DURABILITY  full or normal           (default full)
    SCIM_LOG_FORMAT  human or json            (default human)
    SCIM_LOG         log filter, e.g. debug   (default info)
    SCIM_ADMIN_TOKEN an admin secret for /admin/v1 and /console, 32+ characters
                     (or --admin-token-file; default none: admin tokens only)
    SCIM_AUDIT_MAX_AGE   days of audit log kept per tenant      (default 90)
    SCIM_AUDIT_MAX_ROWS  audit rows kept per tenant, the newest (default 100000)
    SCIM_TLS_CERT    PEM certificate chain    (with SCIM_TLS_KEY; default none: HTTP)
    SCIM_TLS_KEY     PEM private key          (SIGHUP reloads both)
    SCIM_METRICS_LISTEN  address of /metrics  (default none: no metrics)
    SCIM_HEADER_TIMEOUT  seconds for a request head     (default 10)
    SCIM_IDLE_TIMEOUT    seconds between requests       (default 60)
    SCIM_MAX_CONNECTIONS open connections at most       (default 1024)
    SCIM_MAX_HEADER_BYTES request line and headers      (default 16384)
    SCIM_DRAIN_DELAY     seconds /readyz says 503 before stopping (default 0)
    SCIM_KEY_FILE    the token signing keys   (default <database file>.key; required
                                              with a PostgreSQL --db)
    SCIM_AWS_REGIONS regions the AWS APIs answer in, comma-separated
                                              (default us-east-1)
";

/// A failed command: a usage error (exit 2) or a runtime failure (exit 1).
#[derive(Debug)]
pub enum CliError {
    /// The words of the command are wrong.
    Usage(String),
    /// The command could not be carried out.
    Failed(String),
}

/// A failure of the typed errors the server answers with, told by its specific reason.
impl From<ApiError> for CliError {
    fn from(e: ApiError) -> CliError {
        CliError::Failed(e.reason())
    }
}

/// Through the one table in `error.rs`, as the server's own answers go.
impl From<scim_store::Error> for CliError {
    fn from(e: scim_store::Error) -> CliError {
        ApiError::from(e).into()
    }
}

impl From<scim_auth::Error> for CliError {
    fn from(e: scim_auth::Error) -> CliError {
        CliError::Failed(e.to_string())
    }
}

/// Parsed words: positional arguments, `--key value` options and `--flag`s.
#[derive(Debug, Default)]
pub struct Args {
    /// Positional arguments, in order.
    pub positional: Vec<String>,
    options: HashMap<String, String>,
    flags: Vec<String>,
}

const FLAGS: &[&str] = &["json", "help", "version", "off"];
const OPTIONS: &[&str] = &[
    "db",
    "listen",
    "public-url",
    "profile",
    "name",
    "tenant",
    "durability",
    "log-format",
    "rate",
    "burst",
    "max-users",
    "max-groups",
    "days",
    "admin-token-file",
    "audit-max-age",
    "audit-max-rows",
    "tls-cert",
    "tls-key",
    "metrics-listen",
    "header-timeout",
    "idle-timeout",
    "max-connections",
    "max-header-bytes",
    "drain-delay",
    "workers",
    "key-file",
    "grace",
    "out",
    "in",
    "aws-regions",
];

impl Args {
    /// Parses `words` (without the program name).
    pub fn parse(words: impl IntoIterator<Item = String>) -> Result<Args, CliError> {
        let mut args = Args::default();
        let mut words = words.into_iter();
        while let Some(word) = words.next() {
            let Some(name) = word.strip_prefix("--") else {
                args.positional.push(word);
                continue;
            };
            let (name, inline) = match name.split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                None => (name.to_owned(), None),
            };
            if FLAGS.contains(&name.as_str()) && inline.is_none() {
                args.flags.push(name);
            } else if OPTIONS.contains(&name.as_str()) {
                let value = match inline {
                    Some(v) => v,
                    None => words.next().ok_or_else(|| CliError::Usage(format!("--{name} needs a value")))?,
                };
                args.options.insert(name, value);
            } else {
                return Err(CliError::Usage(format!("unknown option --{name}")));
            }
        }
        Ok(args)
    }

    /// The option `name`, else the environment variable `env`.
    pub fn get(&self, name: &str, env: &str) -> Option<String> {
        self.options.get(name).cloned().or_else(|| std::env::var(env).ok().filter(|v| !v.is_empty()))
    }

    /// Whether `--name` was given.
    pub fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    /// The database `--db` (or `SCIM_DB`) names: a PostgreSQL URL, else an SQLite file.
    pub fn db(&self) -> Database {
        let text = self.get("db", "SCIM_DB").unwrap_or_else(|| "./data/scim.db".into());
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Database::Postgres(text)
        } else {
            Database::File(PathBuf::from(text))
        }
    }

    /// The listen address.
    pub fn listen(&self) -> String {
        self.get("listen", "SCIM_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".into())
    }

    /// The public URL, defaulting to the listen address.
    pub fn public_url(&self) -> String {
        self.get("public-url", "SCIM_PUBLIC_URL")
            .unwrap_or_else(|| format!("http://{}", self.listen()))
            .trim_end_matches('/')
            .to_owned()
    }

    /// The audit log's retention from `--audit-max-age` (days) and `--audit-max-rows`.
    pub fn retention(&self) -> Result<scim_store::Retention, CliError> {
        let mut retention = scim_store::Retention::default();
        if let Some(days) = self.get("audit-max-age", "SCIM_AUDIT_MAX_AGE") {
            let days: i64 = days
                .parse()
                .ok()
                .filter(|d| (1..=36_500).contains(d))
                .ok_or_else(|| CliError::Usage(format!("--audit-max-age must be 1 to 36500 days, not {days:?}")))?;
            retention.max_age_millis = days * 24 * 3600 * 1000;
        }
        if let Some(rows) = self.get("audit-max-rows", "SCIM_AUDIT_MAX_ROWS") {
            retention.max_rows = rows.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                CliError::Usage(format!("--audit-max-rows must be a whole number from 1, not {rows:?}"))
            })?;
        }
        Ok(retention)
    }

    /// Store options from `--durability`.
    pub fn store_options(&self) -> Result<Options, CliError> {
        let durability = match self.get("durability", "SCIM_DURABILITY").as_deref() {
            None | Some("full") => Durability::Full,
            Some("normal") => Durability::Normal,
            Some(other) => return Err(CliError::Usage(format!("--durability must be full or normal, not {other:?}"))),
        };
        Ok(Options { durability, ..Options::default() })
    }

    /// Whether `--log-format` (`SCIM_LOG_FORMAT`) asks for JSON lines (`json`) rather than lines
    /// for people (`human`, the default).
    pub fn log_json(&self) -> Result<bool, CliError> {
        match self.get("log-format", "SCIM_LOG_FORMAT").as_deref() {
            None | Some("human") => Ok(false),
            Some("json") => Ok(true),
            Some(other) => Err(CliError::Usage(format!("--log-format must be human or json, not {other:?}"))),
        }
    }

    /// The edge's limits from `--header-timeout`, `--idle-timeout`, `--max-connections` and
    /// `--max-header-bytes`, each defaulting to [`crate::edge::Limits::default`].
    pub fn limits(&self) -> Result<crate::edge::Limits, CliError> {
        let defaults = crate::edge::Limits::default();
        let seconds = |name: &str, env: &str, default| self.seconds(name, env, default, false);
        let count =
            |name: &str, env: &str, default: usize, range: std::ops::RangeInclusive<usize>| match self.get(name, env) {
                None => Ok(default),
                Some(text) => text.trim().parse::<usize>().ok().filter(|n| range.contains(n)).ok_or_else(|| {
                    CliError::Usage(format!(
                        "--{name} must be a whole number from {} to {}, not {text:?}",
                        range.start(),
                        range.end()
                    ))
                }),
            };
        Ok(crate::edge::Limits {
            header_timeout: seconds("header-timeout", "SCIM_HEADER_TIMEOUT", defaults.header_timeout)?,
            idle_timeout: seconds("idle-timeout", "SCIM_IDLE_TIMEOUT", defaults.idle_timeout)?,
            max_connections: count("max-connections", "SCIM_MAX_CONNECTIONS", defaults.max_connections, 1..=1_000_000)?,
            max_header_bytes: count(
                "max-header-bytes",
                "SCIM_MAX_HEADER_BYTES",
                defaults.max_header_bytes,
                crate::edge::HEADER_BYTES_RANGE,
            )?,
        })
    }

    /// `--workers`: how many threads serve connections (see `workers`); one per core by default.
    pub fn workers(&self) -> Result<usize, CliError> {
        match self.get("workers", "SCIM_WORKERS") {
            None => Ok(crate::workers::default_count()),
            Some(text) => text.trim().parse::<usize>().ok().filter(|n| (1..=256).contains(n)).ok_or_else(|| {
                CliError::Usage(format!("--workers must be a whole number from 1 to 256, not {text:?}"))
            }),
        }
    }

    /// `--drain-delay`: how long `/readyz` answers `503` after `SIGTERM` while everything is
    /// still served, before the server stops accepting connections; none by default.
    pub fn drain_delay(&self) -> Result<std::time::Duration, CliError> {
        self.seconds("drain-delay", "SCIM_DRAIN_DELAY", std::time::Duration::ZERO, true)
    }

    /// The option `name` (else `env`) as seconds, up to a day; `default` when absent.
    fn seconds(
        &self,
        name: &str,
        env: &str,
        default: std::time::Duration,
        zero_allowed: bool,
    ) -> Result<std::time::Duration, CliError> {
        let Some(text) = self.get(name, env) else { return Ok(default) };
        let low = if zero_allowed { "from 0" } else { "over 0" };
        text.trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && (*s > 0.0 || (zero_allowed && *s == 0.0)) && *s <= 86_400.0)
            .map(std::time::Duration::from_secs_f64)
            .ok_or_else(|| {
                CliError::Usage(format!("--{name} must be a number of seconds {low} to 86400, not {text:?}"))
            })
    }

    /// The certificate and key of `--tls-cert` and `--tls-key`: both or neither.
    pub fn tls(&self) -> Result<Option<(PathBuf, PathBuf)>, CliError> {
        match (self.get("tls-cert", "SCIM_TLS_CERT"), self.get("tls-key", "SCIM_TLS_KEY")) {
            (Some(cert), Some(key)) => Ok(Some((PathBuf::from(cert), PathBuf::from(key)))),
            (None, None) => Ok(None),
            _ => Err(CliError::Usage("--tls-cert and --tls-key go together".into())),
        }
    }

    /// The key file: `--key-file`, else `SCIM_KEY_FILE`, else `<database file>.key` beside an
    /// SQLite file. A PostgreSQL database has no file to sit beside, and its replicas must
    /// share one key file, so it must be named.
    pub fn key_file(&self) -> Result<PathBuf, CliError> {
        if let Some(path) = self.get("key-file", "SCIM_KEY_FILE") {
            return Ok(PathBuf::from(path));
        }
        match self.db() {
            Database::File(path) => Ok(scim_auth::keyring::default_path(&path)),
            Database::Postgres(_) => Err(CliError::Usage(
                "a PostgreSQL --db needs --key-file PATH (or SCIM_KEY_FILE): every replica signs and \
                 verifies tokens with the same keys"
                    .into(),
            )),
        }
    }

    /// The option `name`, which the command requires.
    fn required(&self, name: &str, what: &str) -> Result<String, CliError> {
        self.options.get(name).cloned().ok_or_else(|| CliError::Usage(format!("--{name} {what} is required")))
    }

    fn tenant(&self) -> Result<String, CliError> {
        self.options.get("tenant").cloned().ok_or_else(|| CliError::Usage("--tenant TENANT_ID is required".into()))
    }
}

/// Where the data lives: `--db`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file, for one server process on one host.
    File(PathBuf),
    /// A PostgreSQL URL (libpq form), for any number of server processes.
    Postgres(String),
}

/// Opens the database: a PostgreSQL URL through `scim-store-pg`, else the SQLite file, creating
/// its folder (`0700`) when needed.
///
/// A signing key still inside an older SQLite database moves to the key file first (added to the
/// keys already there, if any), so whichever command opens the database first after an upgrade,
/// no token breaks.
pub fn open(args: &Args) -> Result<Store, CliError> {
    let path = match args.db() {
        Database::File(path) => path,
        Database::Postgres(url) => {
            args.key_file()?;
            return Ok(Store::new(scim_store_pg::connect(&url, &args.store_options()?)?));
        }
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let mut dir = std::fs::DirBuilder::new();
        dir.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut dir, 0o700);
        dir.create(parent).map_err(|e| CliError::Failed(format!("cannot create {}: {e}", parent.display())))?;
    }
    let key_file = args.key_file()?;
    let mut export = |secret: &[u8]| -> Result<(), String> {
        let now = now_secs();
        let mut keyring = scim_auth::Keyring::load(&key_file)
            .map_err(|e| e.to_string())?
            .unwrap_or_else(|| scim_auth::Keyring::single(scim_auth::LEGACY_KID, secret, now));
        keyring.adopt_legacy(secret, now);
        keyring.save(&key_file).map_err(|e| e.to_string())?;
        eprintln!("note: moved the token signing key out of the database into {}", key_file.display());
        Ok(())
    };
    Ok(Store::open_moving_key(&path, args.store_options()?, &mut export)?)
}

/// The signing keys from the key file, which is created with one fresh key if missing.
pub fn keyring(args: &Args) -> Result<scim_auth::Keyring, CliError> {
    Ok(scim_auth::Keyring::load_or_create(&args.key_file()?, now_secs())?)
}

/// A signer over the key file's keys.
fn signer(args: &Args) -> Result<scim_auth::Signer, CliError> {
    Ok(scim_auth::Signer::from_keyring(&keyring(args)?))
}

fn now_secs() -> i64 {
    scim_schema::time::now_millis() / 1000
}

/// Writes a change the command line made to the admin trail, as done by `cli`.
fn record(store: &Store, action: &str, tenant_id: Option<&str>, target: Option<&str>) -> Result<(), CliError> {
    Ok(store.record_admin_action(&scim_store::AdminAction {
        at: scim_schema::time::now_millis(),
        actor: "cli".into(),
        action: action.into(),
        tenant_id: tenant_id.map(str::to_owned),
        target: target.map(str::to_owned),
        status: 200,
        detail: None,
    })?)
}

fn endpoint(public_url: &str, tenant_id: &str) -> String {
    format!("{public_url}/{tenant_id}/scim/v2")
}

/// `--days N` (1 to 3650), else 365: how long a new token is valid.
fn days(args: &Args) -> Result<i64, CliError> {
    match args.options.get("days") {
        None => Ok(365),
        Some(text) => text
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|d| (1..=3650).contains(d))
            .ok_or_else(|| CliError::Usage(format!("--days must be a whole number from 1 to 3650, not {text:?}"))),
    }
}

/// Lists token ids with their dates (seconds since the epoch), as text or `--json`.
fn print_token_list<'a>(args: &Args, tokens: impl Iterator<Item = (&'a str, i64, i64)>) {
    let rows =
        tokens.map(|(id, created, expires)| (id, format_datetime(created * 1000), format_datetime(expires * 1000)));
    if args.flag("json") {
        let list: Vec<_> = rows
            .map(|(id, created, expires)| json!({"token_id": id, "created_at": created, "expires_at": expires}))
            .collect();
        println!("{}", serde_json::Value::Array(list));
    } else {
        for (id, created, expires) in rows {
            println!("{id}  created {created}  expires {expires}");
        }
    }
}

fn print_token(args: &Args, tenant_id: &str, issued: &scim_auth::Issued, headline: &str) {
    let scim_endpoint = endpoint(&args.public_url(), tenant_id);
    let expires_at = format_datetime(issued.expires * 1000);
    if args.flag("json") {
        let out = json!({
            "tenant_id": tenant_id,
            "scim_endpoint": scim_endpoint,
            "token": issued.token,
            "token_id": issued.token_id,
            "expires_at": expires_at,
        });
        println!("{out}");
    } else {
        println!("{headline}");
        println!("SCIM endpoint: {scim_endpoint}");
        println!("Access token (shown once; copy it now):");
        println!("{}", issued.token);
        println!("Token id: {} (expires {expires_at})", issued.token_id);
    }
}

/// `tenant create|list|delete`.
pub fn tenant(args: &Args) -> Result<(), CliError> {
    match args.positional.get(1).map(String::as_str) {
        Some("create") => {
            let profile = match args.get("profile", "SCIM_PROFILE") {
                None => ProfileName::IdentityCenter,
                Some(text) => text.parse::<ProfileName>().map_err(CliError::Usage)?,
            };
            let store = open(args)?;
            let name = args.get("name", "SCIM_TENANT_NAME");
            let signer = signer(args)?;
            let tenant = store.create_tenant(name.as_deref(), profile.as_str())?;
            let (issued, _) =
                crate::tokens::mint::<CliError>(&store, &signer, &tenant.id, scim_auth::DEFAULT_TTL_SECS)?;
            record(&store, "CreateTenant", Some(&tenant.id), Some(&issued.token_id))?;
            print_token(args, &tenant.id, &issued, &format!("Tenant {} created (profile {profile}).", tenant.id));
            Ok(())
        }
        Some("list") => {
            let store = open(args)?;
            let tenants = store.tenants()?;
            if args.flag("json") {
                let list: Vec<_> = tenants
                    .iter()
                    .map(|t| {
                        json!({"tenant_id": t.id, "name": t.name, "profile": t.profile,
                               "scim_endpoint": endpoint(&args.public_url(), &t.id),
                               "created_at": format_datetime(t.created)})
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else {
                for t in &tenants {
                    let name = t.name.as_deref().unwrap_or("-");
                    println!("{}  {}  {}  {}", t.id, t.profile, name, endpoint(&args.public_url(), &t.id));
                }
            }
            Ok(())
        }
        Some("delete") => {
            let id = args.positional.get(2).ok_or_else(|| CliError::Usage("tenant delete needs TENANT_ID".into()))?;
            let store = open(args)?;
            store.delete_tenant(id).map_err(missing(Thing::Tenant))?;
            record(&store, "DeleteTenant", Some(id), None)?;
            println!("Tenant {id} deleted with all its users, groups and tokens.");
            Ok(())
        }
        Some("limit") => limit(args),
        _ => Err(CliError::Usage("tenant needs create, list, delete or limit".into())),
    }
}

/// `tenant limit TENANT_ID`: sets any of the tenant's rate limit and quotas, then shows them.
///
/// A running server on the same database applies the change within a second.
fn limit(args: &Args) -> Result<(), CliError> {
    let id = args.positional.get(2).ok_or_else(|| CliError::Usage("tenant limit needs TENANT_ID".into()))?;
    let option = |name: &str| args.options.get(name).map(|text| text.trim());
    let rate = option("rate")
        .map(|text| {
            text.parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n > 0.0)
                .ok_or_else(|| CliError::Usage(format!("--rate must be a positive number of requests/s, not {text:?}")))
        })
        .transpose()?;
    let burst = option("burst")
        .map(|text| {
            text.parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| CliError::Usage(format!("--burst must be a whole number of at least 1, not {text:?}")))
        })
        .transpose()?;
    let quota = |name: &str| {
        option(name)
            .map(|text| {
                text.parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| CliError::Usage(format!("--{name} must be a whole number, not {text:?}")))
            })
            .transpose()
    };
    let (max_users, max_groups) = (quota("max-users")?, quota("max-groups")?);
    if args.flag("off") && (rate.is_some() || burst.is_some()) {
        return Err(CliError::Usage("--off cannot be combined with --rate or --burst".into()));
    }
    if burst.is_some() && rate.is_none() {
        return Err(CliError::Usage("--burst needs --rate".into()));
    }
    let store = open(args)?;
    let tenant = store.tenant(id)?.ok_or_else(|| CliError::Failed(format!("no tenant {id}")))?;
    if args.flag("off") {
        store.set_rate_limit(id, None).map_err(missing(Thing::Tenant))?;
    } else if let Some(per_second) = rate {
        // Without --burst, one second's worth of requests may arrive at once.
        let burst = burst.unwrap_or_else(|| per_second.ceil().clamp(1.0, f64::from(u32::MAX)) as u32);
        store.set_rate_limit(id, Some(RateLimit { per_second, burst })).map_err(missing(Thing::Tenant))?;
    }
    if max_users.is_some() || max_groups.is_some() {
        store
            .set_quota(id, max_users.unwrap_or(tenant.max_users), max_groups.unwrap_or(tenant.max_groups))
            .map_err(missing(Thing::Tenant))?;
    }
    record(&store, "LimitTenant", Some(id), None)?;
    let tenant = store.tenant(id)?.ok_or_else(|| CliError::Failed(format!("no tenant {id}")))?;
    if args.flag("json") {
        let rate_limit = tenant.rate_limit.map(|l| json!({"requests_per_second": l.per_second, "burst": l.burst}));
        let out = json!({"tenant_id": tenant.id, "rate_limit": rate_limit,
                         "max_users": tenant.max_users, "max_groups": tenant.max_groups});
        println!("{out}");
    } else {
        let rate = match tenant.rate_limit {
            Some(l) => format!("rate limit {} requests/s, burst {}", l.per_second, l.burst),
            None => "no rate limit".into(),
        };
        println!("Tenant {}: {rate}; at most {} users and {} groups.", tenant.id, tenant.max_users, tenant.max_groups);
    }
    Ok(())
}

/// `token create|list|delete`.
pub fn token(args: &Args) -> Result<(), CliError> {
    match args.positional.get(1).map(String::as_str) {
        Some("create") => {
            let tenant_id = args.tenant()?;
            let ttl_days = days(args)?;
            let store = open(args)?;
            let (issued, _) = crate::tokens::mint::<CliError>(&store, &signer(args)?, &tenant_id, ttl_days * 86_400)?;
            record(&store, "CreateToken", Some(&tenant_id), Some(&issued.token_id))?;
            print_token(args, &tenant_id, &issued, &format!("Token created for tenant {tenant_id}."));
            Ok(())
        }
        Some("list") => {
            let tenant_id = args.tenant()?;
            let tokens = open(args)?.tokens(&tenant_id)?;
            print_token_list(args, tokens.iter().map(|t| (t.id.as_str(), t.created, t.expires)));
            Ok(())
        }
        Some("delete") => {
            let tenant_id = args.tenant()?;
            let id = args.positional.get(2).ok_or_else(|| CliError::Usage("token delete needs TOKEN_ID".into()))?;
            let store = open(args)?;
            store.delete_token(&tenant_id, id).map_err(missing(Thing::Token))?;
            record(&store, "DeleteToken", Some(&tenant_id), Some(id))?;
            println!("Token {id} deleted; it stops working within a second.");
            Ok(())
        }
        _ => Err(CliError::Usage("token needs create, list or delete".into())),
    }
}

/// The regions of `--aws-regions` / `SCIM_AWS_REGIONS`, default `us-east-1`.
pub fn aws_regions(args: &Args) -> Vec<String> {
    crate::aws::regions(args.get("aws-regions", "SCIM_AWS_REGIONS").as_deref())
}

/// `access-key create|list|delete`.
pub fn access_key(args: &Args) -> Result<(), CliError> {
    match args.positional.get(1).map(String::as_str) {
        Some("create") => {
            let tenant_id = args.tenant()?;
            let store = open(args)?;
            let record = crate::aws::mint_key::<CliError>(&store, &tenant_id)?;
            let regions = aws_regions(args);
            let out =
                crate::aws::key_json(&record, regions.first().map_or(crate::state::DEFAULT_REGION, String::as_str));
            if args.flag("json") {
                println!("{out}");
            } else {
                println!("Access key created for tenant {tenant_id} (the secret is shown once; copy it now):");
                for (name, value) in out.as_object().into_iter().flatten() {
                    println!("{name}: {}", value.as_str().unwrap_or_default());
                }
            }
            Ok(())
        }
        Some("list") => {
            let tenant_id = args.tenant()?;
            let keys = open(args)?.access_keys(&tenant_id)?;
            if args.flag("json") {
                let list: Vec<_> = keys
                    .iter()
                    .map(|k| json!({"access_key_id": k.id, "created_at": format_datetime(k.created * 1000)}))
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else {
                for k in &keys {
                    println!("{}  created {}", k.id, format_datetime(k.created * 1000));
                }
            }
            Ok(())
        }
        Some("delete") => {
            let tenant_id = args.tenant()?;
            let id = args.positional.get(2).ok_or_else(|| CliError::Usage("access-key delete needs KEY_ID".into()))?;
            open(args)?.delete_access_key(&tenant_id, id).map_err(missing(Thing::AccessKey))?;
            println!("Access key {id} deleted; it stops working within a second.");
            Ok(())
        }
        _ => Err(CliError::Usage("access-key needs create, list or delete".into())),
    }
}

/// The shortest admin secret `serve` accepts.
const MIN_ADMIN_SECRET: usize = 32;

/// The admin secret of `serve`: the content of `--admin-token-file` (trimmed), else
/// `SCIM_ADMIN_TOKEN`; none by default. Kept in memory only, never written to the database.
pub fn admin_secret(args: &Args) -> Result<Option<String>, CliError> {
    let secret = match args.options.get("admin-token-file") {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| CliError::Failed(format!("cannot read the admin token file {path}: {e}")))?
                .trim()
                .to_owned(),
        ),
        None => std::env::var("SCIM_ADMIN_TOKEN").ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()),
    };
    match secret {
        Some(secret) if secret.chars().count() < MIN_ADMIN_SECRET || secret.chars().any(char::is_whitespace) => {
            Err(CliError::Usage(format!(
                "the admin secret must be at least {MIN_ADMIN_SECRET} characters without spaces (try `openssl rand -hex 32`)"
            )))
        }
        other => Ok(other),
    }
}

/// `admin token create|list|delete`: the credentials of the admin API and the console.
pub fn admin(args: &Args) -> Result<(), CliError> {
    let (Some("token"), action) =
        (args.positional.get(1).map(String::as_str), args.positional.get(2).map(String::as_str))
    else {
        return Err(CliError::Usage("admin needs token create, list or delete".into()));
    };
    match action {
        Some("create") => {
            let days = days(args)?;
            let store = open(args)?;
            let issued = signer(args)?.issue_admin(now_secs(), days * 86_400)?;
            store.add_admin_token(&scim_store::AdminTokenRecord {
                id: issued.token_id.clone(),
                created: issued.created,
                expires: issued.expires,
            })?;
            record(&store, "CreateAdminToken", None, Some(&issued.token_id))?;
            let console = format!("{}/console", args.public_url());
            let expires_at = format_datetime(issued.expires * 1000);
            if args.flag("json") {
                let out = json!({"token_id": issued.token_id, "token": issued.token,
                                 "expires_at": expires_at, "console_url": console});
                println!("{out}");
            } else {
                println!("Admin token created: it opens the admin API and the console, never a SCIM endpoint.");
                println!("Admin token (shown once; copy it now):");
                println!("{}", issued.token);
                println!("Token id: {} (expires {expires_at})", issued.token_id);
                println!("Console: {console}");
            }
            Ok(())
        }
        Some("list") => {
            let tokens = open(args)?.admin_tokens()?;
            print_token_list(args, tokens.iter().map(|t| (t.id.as_str(), t.created, t.expires)));
            Ok(())
        }
        Some("delete") => {
            let id =
                args.positional.get(3).ok_or_else(|| CliError::Usage("admin token delete needs TOKEN_ID".into()))?;
            let store = open(args)?;
            store.delete_admin_token(id).map_err(missing(Thing::Token))?;
            record(&store, "DeleteAdminToken", None, Some(id))?;
            println!("Admin token {id} deleted; it stops working within a second.");
            Ok(())
        }
        _ => Err(CliError::Usage("admin token needs create, list or delete".into())),
    }
}

/// The grace period of `key rotate` without `--grace`.
const DEFAULT_GRACE: &str = "30d";

/// A duration such as `90s`, `15m`, `12h` or `30d` (a bare number is seconds), in seconds.
fn duration_secs(text: &str) -> Option<i64> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last()? {
        (i, 's') => (&text[..i], 1),
        (i, 'm') => (&text[..i], 60),
        (i, 'h') => (&text[..i], 3_600),
        (i, 'd') => (&text[..i], 86_400),
        _ => (text, 1),
    };
    number.parse::<i64>().ok().filter(|n| *n >= 0).and_then(|n| n.checked_mul(unit))
}

/// `key rotate`: a new current key in the key file; older keys verify until the grace period ends.
pub fn key(args: &Args) -> Result<(), CliError> {
    if args.positional.get(1).map(String::as_str) != Some("rotate") {
        return Err(CliError::Usage("key needs rotate".into()));
    }
    let grace_text = args.options.get("grace").map_or(DEFAULT_GRACE, String::as_str);
    let grace = duration_secs(grace_text).ok_or_else(|| {
        CliError::Usage(format!("--grace must be a duration such as 90s, 15m, 12h or 30d, not {grace_text:?}"))
    })?;
    // Opening moves a key still inside an older database into the key file first.
    let store = open(args)?;
    let mut keyring = keyring(args)?;
    let now = now_secs();
    let kid = keyring.rotate(now, grace)?.kid.clone();
    let key_file = args.key_file()?;
    keyring.save(&key_file)?;
    record(&store, "RotateKey", None, Some(&kid))?;
    let until = format_datetime(now.saturating_add(grace).saturating_mul(1000));
    println!("Key {kid} now signs new tokens (key file {}).", key_file.display());
    println!("Tokens signed with older keys work until {until}; issue new ones before then.");
    println!("A running server on this key file picks the new key up within a second.");
    Ok(())
}

/// Creates `path`, which must not exist, readable by its owner only.
fn create_private(path: &std::path::Path) -> Result<std::fs::File, CliError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(|e| CliError::Failed(format!("cannot create {}: {e}", path.display())))
}

/// The database, which must exist already (`backup` and `export` never create an SQLite file).
fn open_existing(args: &Args) -> Result<Store, CliError> {
    if let Database::File(path) = args.db()
        && !path.exists()
    {
        return Err(CliError::Failed(format!("no database at {}", path.display())));
    }
    open(args)
}

/// `backup --out FILE`: a consistent copy of the database, taken online.
pub fn backup(args: &Args) -> Result<(), CliError> {
    let out = PathBuf::from(args.required("out", "FILE")?);
    let Database::File(db) = args.db() else {
        return Err(CliError::Usage(
            "backup copies an SQLite file; back up PostgreSQL with its own tools (pg_dump, a standby, \
             continuous archiving): docs/DEPLOY.md"
                .into(),
        ));
    };
    let store = open_existing(args)?;
    scim_store::backup(&db, &out)?;
    record(&store, "Backup", None, Some(&out.display().to_string()))?;
    println!("Backed up {} to {} (it holds no signing key: keep the key file apart).", db.display(), out.display());
    Ok(())
}

/// `export --tenant ID --out FILE.jsonl`: one tenant, without its tokens.
pub fn export(args: &Args) -> Result<(), CliError> {
    let tenant_id = args.tenant()?;
    let out = PathBuf::from(args.required("out", "FILE.jsonl")?);
    let store = open_existing(args)?;
    if store.tenant(&tenant_id)?.is_none() {
        return Err(CliError::Failed(format!("no tenant {tenant_id}")));
    }
    let mut file = std::io::BufWriter::new(create_private(&out)?);
    let written = store.export_tenant(&tenant_id, &mut file).and_then(|moved| {
        let file = file.into_inner().map_err(|e| scim_store::Error::Io(e.to_string()))?;
        file.sync_all().map_err(|e| scim_store::Error::Io(e.to_string()))?;
        Ok(moved)
    });
    let moved = match written {
        Ok(moved) => moved,
        Err(e) => {
            let _ = std::fs::remove_file(&out);
            return Err(e.into());
        }
    };
    record(&store, "ExportTenant", Some(&tenant_id), Some(&out.display().to_string()))?;
    println!(
        "Exported tenant {tenant_id}: {} users, {} groups, {} memberships, to {} (tokens are not exported).",
        moved.users,
        moved.groups,
        moved.members,
        out.display()
    );
    Ok(())
}

/// `import --in FILE.jsonl`: adds the exported tenant, all or nothing.
pub fn import(args: &Args) -> Result<(), CliError> {
    let input = PathBuf::from(args.required("in", "FILE.jsonl")?);
    let file =
        std::fs::File::open(&input).map_err(|e| CliError::Failed(format!("cannot read {}: {e}", input.display())))?;
    let store = open(args)?;
    let (tenant_id, moved) = store.import_tenant(std::io::BufReader::new(file))?;
    record(&store, "ImportTenant", Some(&tenant_id), Some(&input.display().to_string()))?;
    println!(
        "Imported tenant {tenant_id}: {} users, {} groups, {} memberships. It has no token yet: \
         scim-server token create --tenant {tenant_id}",
        moved.users, moved.groups, moved.members
    );
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn parse(words: &str) -> Result<Args, CliError> {
        Args::parse(words.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn options_flags_and_positionals() {
        let a = parse("token delete abc --tenant t1 --db=/tmp/x.db --json").unwrap();
        assert_eq!(a.positional, ["token", "delete", "abc"]);
        assert_eq!(a.tenant().unwrap(), "t1");
        assert_eq!(a.db(), Database::File(PathBuf::from("/tmp/x.db")));
        assert!(a.flag("json"));
        assert!(matches!(parse("serve --bogus"), Err(CliError::Usage(_))));
        assert!(matches!(parse("serve --db"), Err(CliError::Usage(_))));
    }

    #[test]
    fn edge_limits_parse_with_defaults_and_ranges() {
        let vars = ["SCIM_HEADER_TIMEOUT", "SCIM_IDLE_TIMEOUT", "SCIM_MAX_CONNECTIONS", "SCIM_MAX_HEADER_BYTES"];
        if vars.iter().any(|v| std::env::var(v).is_ok()) {
            return;
        }
        assert_eq!(parse("serve").unwrap().limits().unwrap(), crate::edge::Limits::default());
        let limits = parse("serve --header-timeout 0.5 --idle-timeout 2 --max-connections 3 --max-header-bytes 4096")
            .unwrap()
            .limits()
            .unwrap();
        assert_eq!(limits.header_timeout, std::time::Duration::from_millis(500));
        assert_eq!(limits.idle_timeout, std::time::Duration::from_secs(2));
        assert_eq!((limits.max_connections, limits.max_header_bytes), (3, 4096));
        for bad in ["--header-timeout 0", "--idle-timeout x", "--max-connections 0", "--max-header-bytes 100"] {
            let args = parse(&format!("serve {bad}")).unwrap();
            assert!(matches!(args.limits(), Err(CliError::Usage(_))), "{bad}");
        }
        assert!(matches!(parse("serve --tls-cert a.pem").unwrap().tls(), Err(CliError::Usage(_))));
        if std::env::var("SCIM_DRAIN_DELAY").is_err() {
            assert_eq!(parse("serve").unwrap().drain_delay().unwrap(), std::time::Duration::ZERO);
            assert_eq!(parse("serve --drain-delay 0").unwrap().drain_delay().unwrap(), std::time::Duration::ZERO);
            assert!(matches!(parse("serve --drain-delay -1").unwrap().drain_delay(), Err(CliError::Usage(_))));
            assert_eq!(parse("serve --workers 3").unwrap().workers().unwrap(), 3);
            for bad in ["0", "257", "two", "-1"] {
                let args = parse(&format!("serve --workers {bad}")).unwrap();
                assert!(matches!(args.workers(), Err(CliError::Usage(_))), "{bad}");
            }
        }
    }

    #[test]
    fn durations_and_the_default_key_file() {
        for (text, secs) in [("90", Some(90)), ("90s", Some(90)), ("15m", Some(900)), ("12h", Some(43_200))] {
            assert_eq!(duration_secs(text), secs, "{text}");
        }
        assert_eq!(duration_secs("30d"), Some(2_592_000));
        assert_eq!(duration_secs("0"), Some(0));
        for bad in ["", "d", "-1d", "1w", "1.5h", "99999999999999999d"] {
            assert_eq!(duration_secs(bad), None, "{bad}");
        }
        if std::env::var("SCIM_KEY_FILE").is_err() {
            assert_eq!(
                parse("serve --db /srv/scim.db").unwrap().key_file().unwrap(),
                PathBuf::from("/srv/scim.db.key")
            );
        }
        assert_eq!(parse("serve --key-file /k").unwrap().key_file().unwrap(), PathBuf::from("/k"));
    }

    #[test]
    fn public_url_defaults_to_listen_address() {
        let a = parse("serve --listen 127.0.0.1:9999").unwrap();
        if std::env::var("SCIM_PUBLIC_URL").is_err() {
            assert_eq!(a.public_url(), "http://127.0.0.1:9999");
        }
        let a = parse("serve --public-url https://scim.example.com/").unwrap();
        assert_eq!(a.public_url(), "https://scim.example.com");
    }
}
