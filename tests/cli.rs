//! The command line: its documented interface and its errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::Value;
use support::{Db, TempDir, cli};

#[test]
fn tenant_create_json_shape_and_listing() {
    let dir = TempDir::new();
    let db = Db::fresh(&dir);
    let (code, out, err) =
        cli(&db, &["tenant", "create", "--json", "--name", "acme", "--public-url", "https://scim.example.com/"]);
    assert_eq!(code, 0, "{err}");
    let created: Value = serde_json::from_str(out.trim()).unwrap();
    let keys: Vec<&String> = created.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["tenant_id", "scim_endpoint", "token", "token_id", "expires_at"]);
    let id = created["tenant_id"].as_str().unwrap();
    assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{id}");
    assert_eq!(created["scim_endpoint"], format!("https://scim.example.com/{id}/scim/v2"));
    let (code, out, _) = cli(&db, &["tenant", "list", "--json"]);
    assert_eq!(code, 0);
    let list: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(list[0]["tenant_id"], id);
    assert_eq!(list[0]["name"], "acme");
    assert_eq!(list[0]["profile"], "identity-center");
    let (code, out, _) = cli(&db, &["tenant", "create"]);
    assert_eq!(code, 0);
    assert!(out.contains("SCIM endpoint: http://127.0.0.1:8080/") && out.contains("shown once"), "{out}");
}

#[test]
fn usage_errors_exit_2_and_failures_exit_1() {
    let dir = TempDir::new();
    let db = Db::fresh(&dir);
    for words in [
        &["tenant", "create", "--profile", "ldap"][..],
        &["token", "create"],
        &["bogus"],
        &["serve", "--nope"],
        &["tenant"],
    ] {
        let (code, _, err) = cli(&db, words);
        assert_eq!(code, 2, "{words:?}: {err}");
        assert!(err.contains("error:"), "{err}");
    }
    let (code, _, err) = cli(&db, &["tenant", "delete", "missing"]);
    assert_eq!(code, 1, "{err}");
    let (code, _, err) = cli(&db, &["token", "list", "--tenant", "missing"]);
    assert_eq!(code, 1, "{err}");
    let (code, out, _) = cli(&db, &["help"]);
    assert_eq!(code, 0);
    assert!(out.contains("scim-server serve"));
}

#[test]
fn the_documented_interface_matches_the_binary() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/CLI.md")).unwrap();
    let (_, usage, _) = cli(&Db::sqlite("/nonexistent/x.db"), &["help"]);
    for line in usage.lines().filter(|l| l.trim_start().starts_with("scim-server ")) {
        let command = line.trim();
        assert!(doc.contains(command), "docs/CLI.md lacks the usage line {command:?}");
    }
    for env in ["SCIM_DB", "SCIM_LISTEN", "SCIM_PUBLIC_URL", "SCIM_DURABILITY", "SCIM_LOG_FORMAT", "SCIM_LOG"] {
        assert!(doc.contains(env), "docs/CLI.md lacks {env}");
    }
}
