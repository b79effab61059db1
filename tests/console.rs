//! The web console in a real browser: headless Chromium, driven over the DevTools protocol,
//! walks steps 1 and 4 of the seed guide (enable automatic provisioning and copy the endpoint
//! and token; configure attributes for access control) and every other page, against the real
//! binary.
//!
//! Each page's screenshot is saved; with `SCIM_UPDATE_SCREENSHOTS=1` they go to `docs/console/`
//! (the ones the documentation shows), otherwise to a temporary folder.
//! Without Chromium, the test installs it (Debian package `chromium`); only if that is impossible
//! does it skip, saying so loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::PathBuf;

use serde_json::{Value, json};
use support::browser::{Browser, chromium};
use support::{Req, Server, TempDir, admin_token, cli, user_body};

fn shots_dir(temp: &TempDir) -> PathBuf {
    if std::env::var_os("SCIM_UPDATE_SCREENSHOTS").is_some() {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/console"))
    } else {
        temp.0.clone()
    }
}

fn browser_or_skip() -> Option<Browser> {
    match chromium() {
        Some(binary) => Some(Browser::launch(&binary)),
        None => {
            eprintln!(
                "\n**********************************************************************\n\
                 SKIPPED: the console browser tests need Chromium, which is not installed\n\
                 and could not be installed (apt-get install chromium). The console is\n\
                 NOT tested in a browser in this run.\n\
                 **********************************************************************\n"
            );
            None
        }
    }
}

/// Provisions what an identity provider would: users (one with enterprise attributes), a group
/// with members, and one request the identity-center profile refuses.
fn provision(addr: &str, endpoint_path: &str, token: &str) -> String {
    let post = |path: &str, body: &Value| {
        Req::new(addr, "POST", &format!("{endpoint_path}{path}")).bearer(token).json(body).send()
    };
    let mut jane = user_body("jdoe@example.com");
    jane["schemas"] = json!([
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    ]);
    jane["name"] = json!({"givenName": "Jane", "familyName": "Doe"});
    jane["displayName"] = json!("Jane Doe");
    jane["addresses"] = json!([{"type": "work", "streetAddress": "1 Main St", "locality": "Seattle",
        "region": "WA", "postalCode": "98101", "country": "US"}]);
    jane["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] =
        json!({"department": "Engineering", "costCenter": "blue"});
    let r = post("/Users", &jane);
    assert_eq!(r.status, 201, "{}", r.text);
    let jane_id = r.json()["id"].as_str().unwrap().to_owned();
    let mut members = vec![json!({"value": jane_id})];
    for name in ["akim", "bsato", "cruiz"] {
        let r = post("/Users", &user_body(&format!("{name}@example.com")));
        assert_eq!(r.status, 201, "{}", r.text);
        if name != "cruiz" {
            members.push(json!({"value": r.json()["id"]}));
        }
    }
    let r = post("/Groups", &json!({"displayName": "Engineering", "members": members}));
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(post("/Groups", &json!({"displayName": "Sales"})).status, 201);
    let mut bad = user_body("nobody@example.com");
    bad["emails"] = json!([{"value": "nobody@example.com", "primary": false}]);
    assert_eq!(post("/Users", &bad).status, 400);
    jane_id
}

#[test]
fn an_administrator_enables_provisioning_and_configures_access_control_in_the_browser() {
    let Some(mut b) = browser_or_skip() else { return };
    let s = Server::start_empty();
    let admin = admin_token(&s.db);
    let temp = TempDir::new();
    let shots = shots_dir(&temp);
    let console = format!("http://{}/console", s.addr);

    // Anonymous: the login page, and no data without the token.
    b.navigate(&format!("{console}#/users"));
    b.wait("document.querySelector('#login-form')", "the login form");
    assert_eq!(b.eval("fetch('/admin/v1/tenants').then(r => r.status)"), json!(401));
    assert_eq!(b.eval("document.querySelector('nav').hidden"), json!(true));
    b.screenshot(&shots.join("login.png"));
    b.type_into("#admin-token", "not-a-token");
    b.click("#sign-in");
    b.wait("document.querySelector('#login-error').innerText.includes('refused')", "the refusal");

    // Sign in with the admin token.
    b.type_into("#admin-token", &admin);
    b.press_enter();
    b.wait("document.body.dataset.page === 'settings' && document.querySelector('#enable-provisioning')", "settings");

    // Step 1: Settings → Automatic provisioning → Enable; copy the endpoint and the token.
    b.type_into("#new-tenant-name", "Okta");
    b.click("#enable-provisioning");
    b.wait(
        "!document.querySelector('#dialog-backdrop').hidden && document.querySelector('#access-token')",
        "the dialog",
    );
    assert_eq!(b.text("#dialog-title"), "Inbound automatic provisioning");
    let endpoint = b.value("#scim-endpoint");
    let token = b.value("#access-token");
    b.click("#scim-endpoint-copy");
    b.click("#access-token-copy");
    b.wait("[...document.querySelectorAll('.copied')].filter(e => !e.hidden).length === 2", "copy feedback");
    b.screenshot(&shots.join("enable-provisioning.png"));
    let tenant = endpoint.rsplit('/').nth(2).unwrap().to_owned();
    assert_eq!(endpoint, format!("http://{}/{tenant}/scim/v2", s.addr));
    assert!(!endpoint.ends_with('/'), "Okta refuses a trailing slash");
    b.click("#dialog-close");
    b.wait("document.querySelector('#provisioning-panel')", "the provisioning panel");
    // Shown once: the token is gone from the page and from the API.
    assert_eq!(b.eval(&format!("document.documentElement.outerHTML.includes({})", json!(token))), json!(false));
    assert_eq!(b.value("#tenant-endpoint"), endpoint);

    // The identity provider uses what was copied.
    let base = format!("/{tenant}/scim/v2");
    let jane = provision(&s.addr, &base, &token);
    b.navigate(&format!("{console}#/settings"));
    b.wait(
        "document.querySelector('#tenant-users') && document.querySelector('#tenant-users').innerText.startsWith('4 ')",
        "4 users",
    );
    b.screenshot(&shots.join("settings.png"));

    // Token rotation: a second token close to expiry raises the banner; the limit is two.
    let (code, _, err) = cli(&s.db, &["token", "create", "--tenant", &tenant, "--days", "30"]);
    assert_eq!(code, 0, "{err}");
    b.navigate(&format!("{console}#/tokens"));
    b.wait("document.querySelectorAll('#tokens-table tbody tr').length === 2", "two tokens");
    assert!(b.text(".banner.warn").contains("expires in 30 days"), "{}", b.text("#view"));
    assert_eq!(b.eval("document.querySelector('#generate-token').disabled"), json!(true));
    b.screenshot(&shots.join("tokens.png"));
    let soon: String = b.eval("document.querySelector('.banner.warn').dataset.token").as_str().unwrap().to_owned();
    b.click(&format!("#delete-{soon}"));
    b.click(&format!("#delete-{soon}"));
    b.wait(
        "document.querySelectorAll('#tokens-table tbody tr').length === 1 && !document.querySelector('.banner.warn')",
        "deleted",
    );
    b.click("#generate-token");
    b.wait("document.querySelector('#new-access-token')", "the new token");
    let second = b.value("#new-access-token");
    b.click("#dialog-close");
    b.wait("document.querySelectorAll('#tokens-table tbody tr').length === 2", "two tokens again");
    let r = Req::new(&s.addr, "GET", &format!("{base}/Users")).bearer(&second).send();
    assert_eq!(r.status, 200, "the generated token works");

    // AWS access keys: the identity store's id, a key shown once that the Identity Store API accepts.
    b.navigate(&format!("{console}#/access-keys"));
    b.wait("document.querySelector('#create-access-key')", "the access keys page");
    b.click("#create-access-key");
    b.wait("document.querySelector('#new-secret-access-key')", "the new key");
    let key_id = b.value("#new-access-key-id");
    assert!(key_id.starts_with("AKIA") && b.value("#new-secret-access-key").len() == 40);
    assert_eq!(b.value("#new-key-identity-store-id"), format!("d-{}", &tenant[..10]));
    b.click("#dialog-close");
    b.wait("document.querySelectorAll('#access-keys-table tbody tr[data-key]').length === 1", "one key");
    b.screenshot(&shots.join("access-keys.png"));
    let (code, out, _) = cli(&s.db, &["access-key", "list", "--tenant", &tenant]);
    assert!(code == 0 && out.contains(&key_id), "{out}");

    // Users: search, details, groups.
    b.navigate(&format!("{console}#/users"));
    b.wait("document.querySelectorAll('#users-table tbody tr').length === 4", "four users");
    b.type_into("#user-search", "jdoe");
    b.click("#user-search-go");
    b.wait("document.querySelectorAll('#users-table tbody tr').length === 1", "one match");
    b.click(&format!("#users-table tr[data-id='{jane}']"));
    b.wait("document.querySelector('#user-detail') && document.querySelector('#user-detail').innerText.includes('Engineering')", "details");
    b.screenshot(&shots.join("users.png"));

    // Groups and members.
    b.navigate(&format!("{console}#/groups"));
    b.wait("document.querySelectorAll('#groups-table tbody tr').length === 2", "two groups");
    b.click("#groups-table tbody tr:first-child");
    b.wait("document.querySelectorAll('#members-table tbody tr').length === 3", "three members");
    b.screenshot(&shots.join("groups.png"));

    // Audit log: the refusal the client saw as AWS's fixed text keeps its reason here.
    b.navigate(&format!("{console}#/audit"));
    b.wait("document.querySelectorAll('#audit-table tbody tr').length >= 7", "audit entries");
    b.choose("#audit-outcome", "rejected");
    b.wait("document.querySelectorAll('#audit-table tbody tr').length === 1", "rejected only");
    assert!(b.text("#audit-table tbody").contains("primary"), "{}", b.text("#audit-table"));
    b.screenshot(&shots.join("audit.png"));

    // Step 4: attributes for access control.
    b.navigate(&format!("{console}#/access-control"));
    b.wait("document.querySelector('#abac-add')", "the editor");
    for (i, (key, value)) in [
        ("CostCenter", "${path:enterprise.costCenter}"),
        ("Department", "${path:enterprise.department}"),
        ("City", "${path:addresses[type eq \"work\"].locality}"),
        ("Email", "${path:emails[primary eq true].value}"),
    ]
    .into_iter()
    .enumerate()
    {
        b.click("#abac-add");
        let row = format!("#abac-rows .abac-row:nth-child({})", i + 1);
        b.type_into(&format!("{row} .abac-key"), key);
        b.type_into(&format!("{row} .abac-value"), value);
    }
    // A key outside STS's characters is refused with its reason, and nothing is saved.
    b.click("#abac-add");
    b.type_into("#abac-rows .abac-row:nth-child(5) .abac-key", "Bad<Key>");
    b.type_into("#abac-rows .abac-row:nth-child(5) .abac-value", "${path:title}");
    b.click("#abac-save");
    b.wait("document.querySelector('#abac-message .banner.error')", "the refusal");
    assert!(b.text("#abac-message").contains("Bad<Key>"), "{}", b.text("#abac-message"));
    b.click("#abac-rows .abac-row:nth-child(5) button");
    b.click("#abac-save");
    b.wait("document.querySelector('#abac-message .banner.ok')", "saved");
    let saved = s.admin(&admin, "GET", &format!("/tenants/{tenant}/access-control")).send().json();
    assert_eq!(saved["attributes"].as_array().unwrap().len(), 4, "{saved}");
    assert_eq!(saved["attributes"][2]["value"], "${path:addresses[type eq \"work\"].locality}");
    b.type_into("#abac-preview-user", "jdoe@example.com");
    b.click("#abac-preview-go");
    b.wait("document.querySelector('#saml-fragment')", "the SAML fragment");
    let saml = b.text("#saml-fragment");
    for (key, value) in
        [("CostCenter", "blue"), ("Department", "Engineering"), ("City", "Seattle"), ("Email", "jdoe@example.com")]
    {
        let expected = format!(
            "<saml:Attribute Name=\"https://aws.amazon.com/SAML/Attributes/AccessControl:{key}\" \
             NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:uri\">\n    <saml:AttributeValue>{value}</saml:AttributeValue>"
        );
        assert!(saml.contains(&expected), "{key}: {saml}");
    }
    b.screenshot(&shots.join("access-control.png"));

    // Signing out forgets the token: the console is anonymous again.
    b.click("#sign-out");
    b.wait("document.querySelector('#login-form')", "the login form");
    assert_eq!(b.eval("sessionStorage.length"), json!(0));
    b.navigate(&format!("{console}#/audit"));
    b.wait("document.querySelector('#login-form')", "the login form again");
    // A SCIM token is not an admin token, in the console either.
    b.type_into("#admin-token", &second);
    b.click("#sign-in");
    b.wait("document.querySelector('#login-error').innerText.includes('refused')", "the SCIM token refused");
}
