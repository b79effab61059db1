//! `scim-sync` against our own server: both profiles, a throttled tenant, a server killed half
//! way through `apply`, SCIM to SCIM, and the guards (max deletes, cycles, refused users).
//!
//! The sync tool runs in-process through `scim_sync::cli::main`, exactly what its binary's
//! `main` calls, so each test sees its output and exit code; the server is the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Server, cli, enc};

/// Runs `scim-sync` with `words`; answers the exit code and standard output.
fn sync(words: &[String]) -> (u8, String) {
    let mut out = Vec::new();
    let code = scim_sync::cli::main(words, &mut out);
    (code, String::from_utf8(out).unwrap())
}

/// The files and flags of one sync into `server`'s tenant.
struct Setup {
    source: PathBuf,
    common: Vec<String>,
}

impl Setup {
    fn new(server: &Server, name: &str) -> Setup {
        let token = server.dir.0.join(format!("{name}.token"));
        std::fs::write(&token, &server.token).unwrap();
        let source = server.dir.0.join(format!("{name}.json"));
        let target = format!("http://{}{}", server.addr, server.base());
        let common = vec![
            "--source".into(),
            source.display().to_string(),
            "--target".into(),
            target,
            "--token-file".into(),
            token.display().to_string(),
        ];
        Setup { source, common }
    }

    fn write(&self, document: &Value) {
        std::fs::write(&self.source, document.to_string()).unwrap();
    }

    fn run(&self, command: &str, extra: &[&str]) -> (u8, String) {
        let mut words = vec![command.to_owned()];
        words.extend(self.common.iter().cloned());
        words.extend(extra.iter().map(|w| (*w).to_owned()));
        sync(&words)
    }

    /// `apply --json`; asserts success and answers the report.
    fn apply(&self, extra: &[&str]) -> Value {
        let mut extra = extra.to_vec();
        extra.push("--json");
        let (code, out) = self.run("apply", &extra);
        assert_eq!(code, 0, "{out}");
        serde_json::from_str(out.trim()).unwrap()
    }
}

fn person(name: &str) -> Value {
    json!({"userName": name, "displayName": format!("{name} Person"),
           "name": {"givenName": name, "familyName": "Person"},
           "emails": [{"value": format!("{name}@example.com"), "type": "work", "primary": true}]})
}

fn document(users: usize) -> Value {
    let users: Vec<Value> = (0..users).map(|i| person(&format!("user{i}"))).collect();
    json!({"users": users, "groups": [
        {"displayName": "Everyone", "externalId": "all", "members": ["user0"], "groups": ["Engineering", "Ops"]},
        {"displayName": "Engineering", "members": ["user1", "user2"], "groups": ["Ops"]},
        {"displayName": "Ops", "members": ["user3"]}
    ]})
}

/// Write requests the server has logged so far (after a moment for its logging thread).
fn writes_logged(server: &Server) -> usize {
    std::thread::sleep(Duration::from_millis(300));
    let log = server.log();
    ["POST", "PUT", "PATCH", "DELETE"].iter().map(|m| log.matches(&format!("method={m} ")).count()).sum()
}

fn total(server: &Server, path: &str) -> u64 {
    let r = server.get(path);
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["totalResults"].as_u64().unwrap()
}

fn find(server: &Server, kind: &str, attr: &str, value: &str) -> Value {
    let r = server.get(&format!("/{kind}?filter={}", enc(&format!("{attr} eq \"{value}\""))));
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["Resources"][0].clone()
}

fn members(server: &Server, group: &str) -> Vec<String> {
    let id = find(server, "Groups", "displayName", group)["id"].as_str().unwrap().to_owned();
    let r = server.get(&format!("/Users?count=100&filter={}", enc(&format!("groups.value eq \"{id}\""))));
    let mut names: Vec<String> =
        r.json()["Resources"].as_array().unwrap().iter().map(|u| u["userName"].as_str().unwrap().to_owned()).collect();
    names.sort();
    names
}

#[test]
fn plan_apply_and_idempotence_on_both_profiles() {
    for profile in ["identity-center", "rfc"] {
        let server = Server::start_with(profile);
        let stranger = server.user("stranger@example.com");
        let outsiders = server.group("Outsiders");
        let adopted = server.user("user0");
        let setup = Setup::new(&server, "s");
        setup.write(&document(12));

        let (code, out) = setup.run("plan", &[]);
        assert_eq!(code, 4, "{profile}: {out}");
        assert!(out.contains("+ user user11") && out.contains("+ group Everyone"), "{out}");
        assert_eq!(total(&server, "/Users"), 2, "plan writes nothing");

        let report = setup.apply(&[]);
        assert!(report["failures"].as_array().unwrap().is_empty(), "{report}");
        assert_eq!(total(&server, "/Users"), 13, "user0 was adopted, not created again");
        let user0 = find(&server, "Users", "userName", "user0");
        assert_eq!(
            (user0["id"].as_str(), user0["externalId"].as_str()),
            (Some(adopted.as_str()), Some("scim-sync.user0"))
        );
        assert_eq!(
            members(&server, "Everyone"),
            ["user0", "user1", "user2", "user3"],
            "{profile}: nested groups flattened"
        );
        assert_eq!(members(&server, "Engineering"), ["user1", "user2", "user3"]);

        let logged = writes_logged(&server);
        assert!(logged > 0);
        let again = setup.apply(&[]);
        assert_eq!(again["requests"]["writes"], 0, "{profile}: a second apply writes nothing: {again}");
        assert_eq!(writes_logged(&server), logged, "{profile}: and the server saw none");
        let (code, out) = setup.run("plan", &[]);
        assert_eq!((code, out.trim()), (0, "Plan: no changes."), "{profile}");

        // Change one user, drop another, rename a group known by externalId, move a member.
        let mut changed = document(12);
        changed["users"][5]["displayName"] = json!("Renamed Person");
        changed["users"].as_array_mut().unwrap().remove(11);
        changed["groups"][0]["displayName"] = json!("All hands");
        changed["groups"][2]["members"] = json!(["user4"]);
        setup.write(&changed);
        let (code, out) = setup.run("plan", &[]);
        assert_eq!(code, 4, "{out}");
        for line in
            ["~ user user5: displayName", "- user user11 (deactivate)", "~ group Everyone -> All hands (rename)"]
        {
            assert!(out.contains(line), "{profile}: no {line:?} in {out}");
        }
        let report = setup.apply(&[]);
        assert!(report["failures"].as_array().unwrap().is_empty(), "{report}");
        assert_eq!(find(&server, "Users", "userName", "user5")["displayName"], "Renamed Person");
        assert_eq!(find(&server, "Users", "userName", "user11")["active"], false);
        assert_eq!(members(&server, "Ops"), ["user4"]);
        assert_eq!(members(&server, "All hands"), ["user0", "user1", "user2", "user4"]);
        let stranger = server.get(&format!("/Users/{stranger}")).json();
        assert_eq!((stranger["active"].clone(), stranger.get("externalId")), (json!(true), None), "never touched");
        assert_eq!(setup.apply(&[])["requests"]["writes"], 0, "{profile}");

        // --delete-missing removes the deactivated user, within --max-deletes.
        let (code, out) = setup.run("apply", &["--delete-missing", "--max-deletes", "0"]);
        assert_eq!(code, 3, "{out}");
        assert_eq!(total(&server, "/Users"), 13, "a refused run changes nothing");
        setup.apply(&["--delete-missing", "--max-deletes", "1"]);
        assert_eq!(total(&server, "/Users"), 12);

        // Groups that leave the source are deleted only with --delete-missing; others never.
        let mut no_groups = changed.clone();
        no_groups["groups"] = json!([]);
        setup.write(&no_groups);
        let (code, out) = setup.run("plan", &[]);
        assert!(!out.contains("(delete)"), "{code}: {out}");
        let (code, out) = setup.run("plan", &["--delete-missing"]);
        assert_eq!(code, 4, "{out}");
        for group in ["All hands", "Engineering", "Ops"] {
            assert!(out.contains(&format!("- group {group} (delete)")), "{profile}: {out}");
        }
        assert!(!out.contains("Outsiders"), "{out}");
        assert_eq!(server.get(&format!("/Groups/{outsiders}")).status, 200);
    }
}

#[test]
fn a_throttled_tenant_is_waited_out_with_zero_errors() {
    let server = Server::start();
    let (code, _, err) = cli(&server.db, &["tenant", "limit", &server.tenant, "--rate", "20", "--burst", "5"]);
    assert_eq!(code, 0, "{err}");
    std::thread::sleep(Duration::from_millis(600)); // the server polls the database every 250 ms
    let setup = Setup::new(&server, "s");
    setup.write(&document(40));
    let report = setup.apply(&["--concurrency", "8"]);
    assert!(report["failures"].as_array().unwrap().is_empty(), "{report}");
    assert!(report["requests"]["throttled"].as_u64().unwrap() > 0, "the limit was reached: {report}");
    // The apply left the tenant's bucket empty: let it refill (5 at 20 a second) before reading.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(total(&server, "/Users"), 40);
    assert!(server.log().contains("status=429"));
    assert_eq!(setup.apply(&[])["requests"]["writes"], 0);
}

#[test]
fn a_server_killed_during_apply_converges_on_the_next_run() {
    let mut server = Server::start();
    // Throttle so the apply is still running when the server dies.
    let (code, _, err) = cli(&server.db, &["tenant", "limit", &server.tenant, "--rate", "60", "--burst", "10"]);
    assert_eq!(code, 0, "{err}");
    std::thread::sleep(Duration::from_millis(600));
    let setup = Setup::new(&server, "s");
    setup.write(&document(200));
    let words: Vec<String> = ["apply", "--retries", "1", "--timeout", "2"]
        .iter()
        .map(|w| (*w).to_owned())
        .chain(setup.common.iter().cloned())
        .collect();
    let running = std::thread::spawn(move || sync(&words));
    let deadline = Instant::now() + Duration::from_secs(30);
    // The test's own reads share the throttled tenant: a 429 just means "look again".
    while server.get("/Users?count=1").json()["totalResults"].as_u64().unwrap_or(0) < 30 {
        assert!(Instant::now() < deadline, "the apply made no progress");
        std::thread::sleep(Duration::from_millis(50));
    }
    server.kill9();
    let (code, out) = running.join().unwrap();
    assert_eq!(code, 1, "the interrupted run reports failure: {out}");
    assert!(out.contains("The target stopped answering"), "it gives up instead of failing every change: {out}");
    server.launch();
    cli(&server.db, &["tenant", "limit", &server.tenant, "--off"]);
    let setup = Setup::new(&server, "s2");
    setup.write(&document(200));
    let report = setup.apply(&[]);
    assert!(report["failures"].as_array().unwrap().is_empty(), "{report}");
    assert_eq!(total(&server, "/Users"), 200, "each user exactly once");
    assert_eq!(members(&server, "Everyone"), ["user0", "user1", "user2", "user3"]);
    assert_eq!(setup.apply(&[])["requests"]["writes"], 0);
}

#[test]
fn scim_to_scim_copies_one_tenant_into_another() {
    let source = Server::start_with("rfc");
    let seed = Setup::new(&source, "seed");
    seed.write(&document(8));
    seed.apply(&[]);
    let target = Server::start();
    let setup = Setup::new(&target, "t");
    let source_token = source.dir.0.join("source.token");
    std::fs::write(&source_token, &source.token).unwrap();
    let source_url = format!("http://{}{}", source.addr, source.base());
    let mut words: Vec<String> = vec!["apply".into(), "--json".into(), "--source-url".into(), source_url];
    words.extend(["--source-token-file".into(), source_token.display().to_string()]);
    words.extend(setup.common[2..].iter().cloned());
    let (code, out) = sync(&words);
    assert_eq!(code, 0, "{out}");
    assert_eq!(total(&target, "/Users"), 8);
    assert_eq!(members(&target, "Everyone"), ["user0", "user1", "user2", "user3"]);
    words[0] = "plan".into();
    let (code, out) = sync(&words);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn bad_sources_and_refused_users_are_reported() {
    let server = Server::start();
    let setup = Setup::new(&server, "s");
    setup.write(&json!({"groups": [{"displayName": "A", "groups": ["B"]}, {"displayName": "B", "groups": ["A"]}]}));
    let (code, _) = setup.run("plan", &[]);
    assert_eq!(code, 2, "a cycle is an input error");

    let mut bad = person("has space");
    bad["userName"] = json!("has space");
    setup.write(&json!({"users": [person("good"), bad]}));
    let (code, out) = setup.run("apply", &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("! user has space refused: userName must not contain whitespace"), "{out}");
    assert_eq!(total(&server, "/Users"), 1, "the valid user is created, the refused one never sent");
    assert!(!server.log().contains("status=400"), "nothing refused reached the server");

    let map = server.dir.0.join("map.json");
    std::fs::write(&map, json!({"title": {"template": "{name.givenName} at work"}}).to_string()).unwrap();
    setup.write(&json!({"users": [person("good")]}));
    setup.apply(&["--map", map.to_str().unwrap()]);
    assert_eq!(find(&server, "Users", "userName", "good")["title"], "good at work");
}
