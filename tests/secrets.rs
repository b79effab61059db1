//! Secrets: the signing keys live in a key file apart from the database, files are private, keys
//! rotate with a grace period, and every administrator's change is on the admin trail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Db, Req, Server, TempDir, cli};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every secret in `db`'s key file.
fn secrets(db: &Db) -> Vec<Vec<u8>> {
    let text = std::fs::read_to_string(db.key_file()).unwrap();
    scim_auth::Keyring::parse(&text).unwrap().keys().iter().map(|k| k.secret().to_vec()).collect()
}

fn holds_any(bytes: &[u8], secrets: &[Vec<u8>]) -> bool {
    secrets.iter().any(|s| bytes.windows(s.len()).any(|w| w == s.as_slice()))
}

fn admin_token_with_id(db: &Db) -> (String, String) {
    let (code, out, err) = cli(db, &["admin", "token", "create", "--json"]);
    assert_eq!(code, 0, "{err}");
    let created: Value = serde_json::from_str(out.trim()).unwrap();
    (created["token"].as_str().unwrap().to_owned(), created["token_id"].as_str().unwrap().to_owned())
}

/// Polls `check` for up to `within`; true once it holds.
fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn database_directory_and_key_file_are_private() {
    if support::sqlite_only("the modes of the SQLite file, its directories, side files and default key file") {
        return;
    }
    let dir = TempDir::new();
    let db = Db::sqlite(dir.0.join("data/nested/scim.db"));
    let (code, _, err) = cli(&db, &["tenant", "create"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(mode(db.path().parent().unwrap()), 0o700);
    assert_eq!(mode(&dir.0.join("data")), 0o700);
    assert_eq!(mode(db.path()), 0o600);
    assert_eq!(mode(db.key_file()), 0o600);
    // SQLite gives its side files the database's mode; check them while a server holds them open.
    let mut s = Server::start();
    s.user("private");
    for side in ["-wal", "-shm"] {
        let mut name = s.db.path().as_os_str().to_owned();
        name.push(side);
        assert_eq!(mode(Path::new(&name)), 0o600, "{side}");
    }
    s.terminate();
    // A database made world-readable by someone else is tightened on the next open.
    std::fs::set_permissions(db.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(cli(&db, &["tenant", "list"]).0, 0);
    assert_eq!(mode(db.path()), 0o600);
}

#[test]
fn a_copy_of_the_database_alone_opens_nothing() {
    if support::sqlite_only("copies the SQLite file and its write-ahead log as a thief would") {
        return;
    }
    let mut s = Server::start();
    let (admin, _) = admin_token_with_id(&s.db);
    s.user("alice");
    assert_eq!(s.get("/Users").status, 200);
    assert_eq!(s.admin(&admin, "GET", "/session").send().status, 200);
    assert_eq!(s.terminate(), Some(0));

    // The database and its write-ahead log, copied as a thief would: neither holds a key.
    let copy_database = |to: &Db| {
        for side in ["", "-wal"] {
            let (mut from, mut into) = (s.db.path().as_os_str().to_owned(), to.path().as_os_str().to_owned());
            from.push(side);
            into.push(side);
            if let Ok(bytes) = std::fs::read(&from) {
                assert!(!holds_any(&bytes, &secrets(&s.db)), "the database{side} holds key material");
                std::fs::write(&into, bytes).unwrap();
            }
        }
    };

    // The thief's copy, without the key file: a server on it makes itself a fresh key.
    let thief = TempDir::new();
    let copy = Db::sqlite(thief.0.join("scim.db"));
    copy_database(&copy);
    let (tenant, token) = (s.tenant.clone(), s.token.clone());
    let stolen = Server::launched(thief, copy.clone(), &tenant, &token);
    assert_ne!(secrets(&copy), secrets(&s.db));
    assert_eq!(stolen.get("/Users").status, 401);
    assert_eq!(stolen.admin(&admin, "GET", "/session").send().status, 401);
    // With the key file, the same copy is a working restore.
    drop(stolen);
    let restore = TempDir::new();
    let copy = Db::sqlite(restore.0.join("scim.db"));
    copy_database(&copy);
    std::fs::copy(s.db.key_file(), copy.key_file()).unwrap();
    let restored = Server::launched(restore, copy, &tenant, &token);
    let r = restored.get("/Users");
    assert_eq!(r.json()["totalResults"], 1, "{} {}", r.text, restored.log());
}

#[test]
fn an_older_database_hands_its_key_to_the_key_file_and_its_tokens_keep_working() {
    if support::sqlite_only("rewrites an SQLite file into schema version 3, which kept the key inside") {
        return;
    }
    let dir = TempDir::new();
    let db = Db::sqlite(dir.0.join("scim.db"));
    let created = support::create_tenant(&db);
    let tenant = created["tenant_id"].as_str().unwrap().to_owned();
    // Turn the file back into what version 3 made: the key inside, tokens signed with it.
    let secret = [0x5au8; 32];
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let legacy = scim_auth::Signer::new(&secret).issue(&tenant, now, 86_400).unwrap();
    {
        let conn = rusqlite::Connection::open(db.path()).unwrap();
        conn.execute_batch("DROP TABLE access_keys; DROP TABLE admin_audit; PRAGMA user_version = 3;").unwrap();
        conn.execute("INSERT INTO meta (key, value) VALUES ('signing_key', ?1)", [&secret[..]]).unwrap();
        conn.execute(
            "INSERT INTO tokens (id, tenant, created, expires) SELECT ?1, seq, ?2, ?3 FROM tenants WHERE id = ?4",
            (&legacy.token_id, legacy.created, legacy.expires, &tenant),
        )
        .unwrap();
    }
    std::fs::remove_file(db.key_file()).unwrap();

    let s = Server::launched(dir, db.clone(), &tenant, &legacy.token);
    assert_eq!(s.get("/Users").status, 200, "{}", s.log());
    let keys = std::fs::read_to_string(db.key_file()).unwrap();
    assert!(keys.contains(" legacy "), "{keys}");
    assert_eq!(mode(db.key_file()), 0o600);
    let conn = rusqlite::Connection::open(db.path()).unwrap();
    let left: i64 = conn.query_row("SELECT COUNT(*) FROM meta WHERE key = 'signing_key'", [], |r| r.get(0)).unwrap();
    assert_eq!(left, 0);
    assert_eq!(conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0)).unwrap(), 5);
    assert!(
        !holds_any(&std::fs::read(db.path()).unwrap(), &[secret.to_vec()]),
        "the key's bytes are still in the file"
    );
}

#[test]
fn a_rotated_key_reaches_a_running_server_and_old_tokens_last_the_grace_period() {
    let s = Server::start();
    let (admin, _) = admin_token_with_id(&s.db);
    assert_eq!(s.get("/Users").status, 200);
    let rotated = Instant::now();
    let (code, out, err) = cli(&s.db, &["key", "rotate", "--grace", "3s"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("now signs new tokens"), "{out}");
    // A token signed with the new key works on the running server within a second.
    let (code, out, err) = cli(&s.db, &["token", "create", "--tenant", &s.tenant, "--json"]);
    assert_eq!(code, 0, "{err}");
    let fresh: Value = serde_json::from_str(out.trim()).unwrap();
    let fresh = fresh["token"].as_str().unwrap().to_owned();
    let with_fresh = || Req::new(&s.addr, "GET", &format!("{}/Users", s.base())).bearer(&fresh).send();
    let new_works = || with_fresh().status == 200;
    assert!(eventually(Duration::from_millis(1500), new_works), "the server never loaded the new key");
    // The old tenant and admin tokens still work during the grace period...
    assert_eq!(s.get("/Users").status, 200);
    assert_eq!(s.admin(&admin, "GET", "/session").send().status, 200);
    // ...and stop after it, while the new one goes on.
    std::thread::sleep(Duration::from_secs(3).saturating_sub(rotated.elapsed()));
    assert!(eventually(Duration::from_secs(1), || s.get("/Users").status == 401));
    assert_eq!(s.admin(&admin, "GET", "/session").send().status, 401);
    assert!(new_works());
    assert!(s.log().contains("loaded rotated signing keys"));
    let (code, _, err) = cli(&s.db, &["key", "rotate", "--grace", "soon"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn admin_changes_are_on_the_admin_trail_with_their_credential() {
    let mut s = Server::start();
    let secret = "a-start-up-secret-of-at-least-32-characters";
    s.env.push(("SCIM_ADMIN_TOKEN".into(), secret.into()));
    s.kill9();
    s.launch();
    let (admin, admin_id) = admin_token_with_id(&s.db);
    let created = s.admin(&admin, "POST", "/tenants").json(&json!({"name": "acme"})).send();
    assert_eq!(created.status, 201, "{}", created.text);
    let tenant = created.json()["tenant_id"].as_str().unwrap().to_owned();
    assert_eq!(s.admin(secret, "DELETE", &format!("/tenants/{tenant}")).send().status, 204);
    let refused = s.admin(&admin, "DELETE", &format!("/tenants/{tenant}")).send();
    assert_eq!(refused.status, 404);
    // Reads and unauthenticated attempts are not recorded.
    assert_eq!(s.admin(&admin, "GET", "/tenants").send().status, 200);
    assert_eq!(s.admin("wrong", "DELETE", &format!("/tenants/{}", s.tenant)).send().status, 401);

    let trail = s.admin(&admin, "GET", "/audit").send();
    assert_eq!(trail.status, 200, "{}", trail.text);
    let entries: Vec<(String, String, Value, u64)> = trail.json()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
                e["tenant_id"].clone(),
                e["status"].as_u64().unwrap(),
            )
        })
        .collect();
    let by_token = format!("admin-token:{admin_id}");
    assert_eq!(
        entries,
        [
            (by_token.clone(), "DeleteTenant".into(), json!(tenant), 404),
            ("startup-secret".into(), "DeleteTenant".into(), json!(tenant), 204),
            (by_token, "CreateTenant".into(), json!(tenant), 201),
            ("cli".into(), "CreateAdminToken".into(), Value::Null, 200),
            ("cli".into(), "CreateTenant".into(), json!(s.tenant), 200),
        ]
    );
    assert_eq!(s.admin(&admin, "GET", "/audit?count=1").send().json()["entries"].as_array().unwrap().len(), 1);
}
