//! Backups and tenant moves: `backup` under write load, and `export` / `import` round trips read
//! back over SCIM.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Db, Req, Server, TempDir, cli, user_body};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_backup_under_write_load_holds_every_write_acknowledged_before_it() {
    if support::sqlite_only("`backup` copies the SQLite file, and the restore starts a server on the copy") {
        return;
    }
    let s = Server::start();
    let stop = Arc::new(AtomicBool::new(false));
    // Two writers, bounded in count and time, each noting when every create was acknowledged.
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (addr, path, token, stop) =
                (s.addr.clone(), format!("{}/Users", s.base()), s.token.clone(), stop.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(20);
                let mut acked = Vec::new();
                for i in 0..1500 {
                    if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                        break;
                    }
                    let r = Req::new(&addr, "POST", &path).bearer(&token).json(&user_body(&format!("w{w}-{i}"))).send();
                    assert_eq!(r.status, 201, "{}", r.text);
                    acked.push((r.json()["id"].as_str().unwrap().to_owned(), Instant::now()));
                }
                acked
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(400));
    let out = s.dir.0.join("backup.db");
    let started = Instant::now();
    let (code, said, err) = cli(&s.db, &["backup", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(said.contains("holds no signing key"), "{said}");
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<(String, Instant)> = writers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    let before: Vec<&String> = acked.iter().filter(|(_, at)| *at < started).map(|(id, _)| id).collect();
    let after = acked.len() - before.len();
    assert!(
        !before.is_empty() && after > 0,
        "the load did not span the backup: {} before, {after} after",
        before.len()
    );
    assert_eq!(mode(&out), 0o600);
    let (code, _, err) = cli(&s.db, &["backup", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 1, "an existing backup must not be overwritten: {err}");

    // Restore: the backup and the key file, elsewhere.
    let restore = TempDir::new();
    let db = Db::sqlite(restore.0.join("scim.db"));
    std::fs::copy(&out, db.path()).unwrap();
    std::fs::copy(s.db.key_file(), db.key_file()).unwrap();
    let restored = Server::launched(restore, db, &s.tenant, &s.token);
    for id in &before {
        let r = restored.get(&format!("/Users/{id}"));
        assert_eq!(r.status, 200, "user {id}, acknowledged before the backup, is missing");
    }
    let total = restored.get("/Users?count=1").json()["totalResults"].as_u64().unwrap();
    assert!(total as usize >= before.len() && total as usize <= acked.len(), "{total}");
}

/// `value` with the address of the server that answered it (in `meta.location` and `$ref`)
/// replaced by `HOST`.
fn located_nowhere(value: Value, server: &Server) -> Value {
    let text = value.to_string().replace(&format!("http://{}/", server.addr), "http://HOST/");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_tenant_moves_with_its_ids_timestamps_memberships_limits_and_attributes() {
    let s = Server::start_with("rfc");
    let admin = support::admin_token(&s.db);
    let mut alice = user_body("alice@example.com");
    alice["externalId"] = json!("ext-alice");
    alice["schemas"] = json!([
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    ]);
    alice["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = json!({"department": "R&D"});
    let alice = s.post("/Users", &alice).json()["id"].as_str().unwrap().to_owned();
    let bob = s.user("bob@example.com");
    let group = s.post(
        "/Groups",
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Staff",
                "members": [{"value": alice}, {"value": bob}]}),
    );
    assert_eq!(group.status, 201, "{}", group.text);
    let group = group.json()["id"].as_str().unwrap().to_owned();
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                       "Operations": [{"op": "replace", "path": "active", "value": false}]});
    assert_eq!(s.patch(&format!("/Users/{bob}"), &patch).status, 200);
    let limits = ["tenant", "limit", &s.tenant, "--rate", "5", "--burst", "7", "--max-users", "90", "--json"];
    let (code, limited, err) = cli(&s.db, &limits);
    assert_eq!(code, 0, "{err}");
    let attributes = json!({"attributes": [{"key": "Dept", "value": "${path:enterprise.department}"}]});
    let acl = format!("/tenants/{}/access-control", s.tenant);
    assert_eq!(s.admin(&admin, "PUT", &acl).json(&attributes).send().status, 200);
    let paths = [format!("/Users/{alice}"), format!("/Users/{bob}"), format!("/Groups/{group}")];
    let originals: Vec<Value> = paths.iter().map(|p| located_nowhere(s.get(p).json(), &s)).collect();

    // Exported while the server runs.
    let file = s.dir.0.join("tenant.jsonl");
    let (code, _, err) = cli(&s.db, &["export", "--tenant", &s.tenant, "--out", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(mode(&file), 0o600);
    let text = std::fs::read_to_string(&file).unwrap();
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first, json!({"format": "scim-server tenant export", "version": 1}));

    let elsewhere = TempDir::new();
    let db = Db::fresh(&elsewhere);
    let (code, out, err) = cli(&db, &["import", "--in", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 users, 1 groups, 2 memberships"), "{out}");
    // Tokens do not travel: the source's token opens nothing at the destination.
    let (code, out, err) = cli(&db, &["token", "create", "--tenant", &s.tenant, "--json"]);
    assert_eq!(code, 0, "{err}");
    let token: Value = serde_json::from_str(out.trim()).unwrap();
    let moved = Server::launched(elsewhere, db.clone(), &s.tenant, token["token"].as_str().unwrap());
    for (path, original) in paths.iter().zip(&originals) {
        let r = moved.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert_eq!(&located_nowhere(r.json(), &moved), original, "{path}");
    }
    assert_eq!(moved.get("/Groups").json()["Resources"][0]["members"].as_array().unwrap().len(), 2);
    let with_old_token = Req::new(&moved.addr, "GET", &format!("{}/Users", moved.base())).bearer(&s.token).send();
    assert_eq!(with_old_token.status, 401);
    // Limits and attributes for access control came along.
    let (_, moved_limits, _) = cli(&db, &["tenant", "limit", &s.tenant, "--json"]);
    assert_eq!(moved_limits, limited);
    let moved_admin = support::admin_token(&db);
    let moved_acl = moved.admin(&moved_admin, "GET", &acl).send().json();
    assert_eq!(moved_acl["attributes"], s.admin(&admin, "GET", &acl).send().json()["attributes"]);

    // A second import of the same tenant is refused and changes nothing.
    let (code, _, err) = cli(&db, &["import", "--in", file.to_str().unwrap()]);
    assert_eq!((code, err.contains("already exists")), (1, true), "{err}");
    assert_eq!(moved.get("/Users").json()["totalResults"], 2);
    // A damaged file imports nothing at all.
    let damaged = s.dir.0.join("damaged.jsonl");
    std::fs::write(
        &damaged,
        format!("{text}{{\"type\": \"member\", \"group\": \"{group}\", \"member\": \"nobody\"}}\n"),
    )
    .unwrap();
    let empty_dir = TempDir::new();
    let empty = Db::fresh(&empty_dir);
    let (code, _, err) = cli(&empty, &["import", "--in", damaged.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("line {}", text.lines().count() + 1)), "{err}");
    let (_, listed, _) = cli(&empty, &["tenant", "list", "--json"]);
    assert_eq!(listed.trim(), "[]");
}
