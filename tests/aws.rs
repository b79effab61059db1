//! The AWS side of the directory, driven by the real clients: boto3 and the AWS CLI, installed
//! into a virtualenv under `target/aws/venv` on first use (as `cargo xtask conformance` does).
//! The checks themselves are in `tests/aws/identitystore.py`, one scenario per test here.
//!
//! Without Python or the package index the tests skip loudly, except in CI (`CI=true`), where
//! they fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Server, cli, create_tenant};

/// The pinned clients: boto3 and the AWS CLI v1 resolve to the same botocore.
const PACKAGES: &[&str] = &["boto3==1.44.8", "awscli==1.46.3"];

/// The virtualenv's directory, made once per checkout (tests share it, one at a time).
fn venv() -> Option<PathBuf> {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/aws/venv");
    let marker = root.join(".installed");
    let wanted = PACKAGES.join(" ");
    if std::fs::read_to_string(&marker).is_ok_and(|m| m == wanted) {
        return Some(root);
    }
    let made = Command::new("python3").args(["-m", "venv"]).arg(&root).status().is_ok_and(|s| s.success())
        && Command::new(root.join("bin/python"))
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
            .args(PACKAGES)
            .status()
            .is_ok_and(|s| s.success());
    if made {
        std::fs::write(&marker, wanted).unwrap();
        return Some(root);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI: could not install {wanted} into {}", root.display());
    }
    eprintln!("SKIPPED: could not install {wanted} (python3 -m venv and pip); the AWS API tests did not run");
    None
}

/// A tenant's access key, from `scim-server access-key create --json`, with the tenant's id.
fn access_key(db: &support::Db, tenant: &str) -> Value {
    let (code, out, err) = cli(db, &["access-key", "create", "--tenant", tenant, "--json"]);
    assert_eq!(code, 0, "{err}");
    let mut key: Value = serde_json::from_str(out.trim()).unwrap();
    key["tenant_id"] = json!(tenant);
    key
}

/// A server with tenants A (with an access key, a SCIM token and an admin token) and B (with a
/// key), each tenant's key known to the server.
fn setup(server: &Server) -> Value {
    let a = access_key(&server.db, &server.tenant);
    let b_tenant = create_tenant(&server.db)["tenant_id"].as_str().unwrap().to_owned();
    let b = access_key(&server.db, &b_tenant);
    let admin = support::admin_token(&server.db);
    // The server reloads keys when the database changes; it polls every 250 ms.
    std::thread::sleep(Duration::from_millis(1200));
    json!({
        "endpoint": format!("http://{}", server.addr),
        "a": a,
        "b": b,
        "scim_endpoint": format!("http://{}{}", server.addr, server.base()),
        "scim_token": server.token,
        "admin_token": admin,
    })
}

/// Runs one scenario of the script against `server`; fails with its output.
fn scenario(server: &Server, name: &str) {
    if venv().is_some() {
        run_script(server, name, &setup(server));
    }
}

/// Runs scenario `name` of the script with `env`.
fn run_script(server: &Server, name: &str, env: &Value) {
    let Some(venv) = venv() else { return };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/aws/identitystore.py");
    let out = Command::new(venv.join("bin/python"))
        .arg(script)
        .arg(name)
        .env("AWS_E2E", env.to_string())
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{name} failed:\n{stdout}\n{stderr}\nserver log:\n{}", server.log());
    print!("{stdout}");
}

#[test]
fn the_wire_answers_aws_json_errors_without_any_client() {
    let server = Server::start();
    let call = |target: &str, method: &str| {
        support::Req::new(&server.addr, method, "/")
            .header("X-Amz-Target", target)
            .raw_body(b"{}", Some("application/x-amz-json-1.1"))
            .send()
    };
    let unsigned = call("AWSIdentityStore.ListUsers", "POST");
    assert_eq!(unsigned.status, 403);
    assert_eq!(unsigned.header("content-type"), Some("application/x-amz-json-1.1"));
    let body = unsigned.json();
    assert_eq!(body["__type"], "MissingAuthenticationTokenException");
    assert_eq!(body["message"], "Missing Authentication Token");
    assert_eq!(Some(body["RequestId"].as_str().unwrap()), unsigned.header("x-amzn-RequestId"));
    let forged = support::Req::new(&server.addr, "POST", "/")
        .header("X-Amz-Target", "AWSIdentityStore.ListUsers")
        .header("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAUNKNOWN/20240101/us-east-1/identitystore/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000")
        .header("X-Amz-Date", "20240101T000000Z")
        .raw_body(b"{}", Some("application/x-amz-json-1.1"))
        .send();
    assert_eq!(forged.json()["__type"], "UnrecognizedClientException");
    for (target, method) in [("AWSIdentityStore.ListUsers", "GET"), ("Nothing.ListUsers", "POST"), ("", "POST")] {
        let answer = call(target, method);
        assert_eq!(
            (answer.status, answer.json()["__type"].as_str()),
            (400, Some("UnknownOperationException")),
            "{target}"
        );
    }
    // SCIM is untouched by the AWS routes.
    assert_eq!(server.get("/Users").status, 200);
}

#[test]
fn every_identity_store_operation_paginator_and_exception_through_boto3() {
    scenario(&Server::start(), "identity_store");
}

#[test]
fn sso_admin_instances_and_access_control_attributes_through_boto3() {
    scenario(&Server::start(), "sso_admin");
}

#[test]
fn unsigned_wrong_secret_skewed_and_foreign_requests_are_refused() {
    scenario(&Server::start(), "signatures");
}

#[test]
fn scim_and_identity_store_are_one_directory() {
    let server = Server::start();
    scenario(&server, "one_directory");
    // Both APIs' writes are in the one audit log, under their own action names.
    let admin = support::admin_token(&server.db);
    std::thread::sleep(Duration::from_millis(600));
    let audit = server.admin(&admin, "GET", &format!("/tenants/{}/audit", server.tenant)).send().json();
    let actions: Vec<&str> = audit["entries"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    for expected in
        ["CreateUser", "PatchGroup", "AWSIdentityStore.UpdateUser", "AWSIdentityStore.CreateGroupMembership"]
    {
        assert!(actions.contains(&expected), "{expected} missing from {actions:?}");
    }
}

#[test]
fn quotas_apply_to_both_apis() {
    let server = Server::start();
    let (code, _, err) = cli(&server.db, &["tenant", "limit", &server.tenant, "--max-users", "1"]);
    assert_eq!(code, 0, "{err}");
    scenario(&server, "limits");
}

#[test]
fn the_tenant_rate_limit_throttles_both_apis() {
    let server = Server::start();
    let (code, _, err) = cli(&server.db, &["tenant", "limit", &server.tenant, "--rate", "0.01", "--burst", "1"]);
    assert_eq!(code, 0, "{err}");
    scenario(&server, "throttled");
}

#[test]
fn the_aws_cli_lists_users_as_the_readme_shows() {
    let Some(venv) = venv() else { return };
    let server = Server::start();
    let env = setup(&server);
    let key = &env["a"];
    assert_eq!(server.post("/Users", &support::user_body("cli.user@example.com")).status, 201);
    let out = Command::new(venv.join("bin/aws"))
        .args(["identitystore", "list-users", "--output", "json", "--identity-store-id"])
        .arg(key["identity_store_id"].as_str().unwrap())
        .arg("--endpoint-url")
        .arg(format!("http://{}", server.addr))
        .env("AWS_ACCESS_KEY_ID", key["access_key_id"].as_str().unwrap())
        .env("AWS_SECRET_ACCESS_KEY", key["secret_access_key"].as_str().unwrap())
        .env("AWS_DEFAULT_REGION", key["region"].as_str().unwrap())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = listed["Users"].as_array().unwrap().iter().filter_map(|u| u["UserName"].as_str()).collect();
    assert_eq!(names, ["cli.user@example.com"]);
}

#[test]
fn access_keys_are_shown_once_listed_limited_to_two_and_deleted() {
    let server = Server::start();
    let key = access_key(&server.db, &server.tenant);
    let id = key["access_key_id"].as_str().unwrap();
    assert!(key["identity_store_id"].as_str().unwrap().starts_with("d-"));
    assert_eq!(key["identity_store_id"].as_str().unwrap().len(), 12);
    assert!(key["instance_arn"].as_str().unwrap().starts_with("arn:aws:sso:::instance/ssoins-"));
    assert_eq!(key["region"], "us-east-1");
    let (code, out, _) = cli(&server.db, &["access-key", "list", "--tenant", &server.tenant, "--json"]);
    assert_eq!(code, 0);
    let listed: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(listed[0]["access_key_id"], id);
    assert!(!out.contains(key["secret_access_key"].as_str().unwrap()), "list never shows a secret");
    access_key(&server.db, &server.tenant);
    let (code, _, err) = cli(&server.db, &["access-key", "create", "--tenant", &server.tenant]);
    assert_eq!(code, 1, "a third key is refused");
    assert!(err.contains("two access keys"), "{err}");
    let (code, _, err) = cli(&server.db, &["access-key", "delete", id, "--tenant", &server.tenant]);
    assert_eq!(code, 0, "{err}");
    let (code, _, _) = cli(&server.db, &["access-key", "delete", id, "--tenant", &server.tenant]);
    assert_eq!(code, 1);
}

#[test]
fn the_admin_api_makes_lists_and_revokes_access_keys() {
    let server = Server::start();
    let admin = support::admin_token(&server.db);
    let mut env = setup(&server);
    let path = format!("/tenants/{}/access-keys", server.tenant);
    let created = server.admin(&admin, "POST", &path).send();
    assert_eq!(created.status, 201);
    let mut key = created.json();
    for field in ["access_key_id", "secret_access_key", "identity_store_id", "instance_arn", "region"] {
        assert!(key[field].is_string(), "{field} in {key}");
    }
    let listed = server.admin(&admin, "GET", &path).send().json();
    let ids: Vec<&str> =
        listed["access_keys"].as_array().unwrap().iter().filter_map(|k| k["access_key_id"].as_str()).collect();
    assert_eq!(ids, [env["a"]["access_key_id"].as_str().unwrap(), key["access_key_id"].as_str().unwrap()]);
    assert!(!listed.to_string().contains(key["secret_access_key"].as_str().unwrap()), "a secret is shown once");
    assert_eq!(server.admin(&admin, "POST", &path).send().status, 409, "a third key is refused");
    let tenant = server.admin(&admin, "GET", &format!("/tenants/{}", server.tenant)).send().json();
    assert_eq!(tenant["identity_store_id"], key["identity_store_id"]);
    // The new key works at once; once deleted, it is refused at once.
    key["tenant_id"] = json!(server.tenant);
    env["a"] = key.clone();
    run_script(&server, "accepted", &env);
    let id = key["access_key_id"].as_str().unwrap();
    assert_eq!(server.admin(&admin, "DELETE", &format!("{path}/{id}")).send().status, 204);
    assert_eq!(server.admin(&admin, "DELETE", &format!("{path}/{id}")).send().status, 404);
    run_script(&server, "revoked", &env);
}
