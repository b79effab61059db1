//! The admin API under `/admin/v1`: its own credential, tenants, tokens, read-only views, the
//! audit log and the attributes for access control.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Req, Resp, Server, admin_token, cli, enc, user_body};

const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

fn wait_for(mut ok: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !ok() {
        assert!(Instant::now() < deadline, "{what} within two seconds");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Asserts an rfc-style admin error.
fn assert_admin_error(r: &Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json();
    assert_eq!(body["schemas"], json!([ERROR_URN]), "{body}");
    assert_eq!(body["status"], status.to_string(), "{body}");
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    body
}

fn ok(r: Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", r.text);
    if r.text.is_empty() { Value::Null } else { r.json() }
}

#[test]
fn the_admin_api_refuses_anonymous_and_scim_tokens_and_admin_tokens_open_no_tenant() {
    let s = Server::start();
    let admin = admin_token(&s.db);
    wait_for(|| s.admin(&admin, "GET", "/tenants").send().status == 200, "admin token accepted");
    for header in [None, Some("Bearer"), Some("Bearer nope"), Some("Basic YWRtaW46YWRtaW4=")] {
        let mut r = Req::new(&s.addr, "GET", "/admin/v1/tenants");
        if let Some(h) = header {
            r = r.header("Authorization", h);
        }
        let r = r.send();
        assert_admin_error(&r, 401);
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    }
    // A tenant's SCIM token is never an admin credential, on any admin route.
    for (method, path) in [("GET", "/tenants"), ("POST", "/tenants"), ("GET", &format!("/tenants/{}/tokens", s.tenant))]
    {
        assert_admin_error(&s.admin(&s.token, method, path).send(), 401);
    }
    // An admin token opens no SCIM endpoint.
    let r = Req::new(&s.addr, "GET", &format!("{}/Users", s.base())).bearer(&admin).send();
    r.assert_error(401, "The authorization header is invalid or missing.");
    // Unknown admin routes are JSON 404s, wrong methods 405s.
    assert_admin_error(&s.admin(&admin, "GET", "/nope").send(), 404);
    assert_admin_error(&s.admin(&admin, "PUT", "/tenants").send(), 405);
    // Deleting an admin token revokes it.
    let (_, listed, _) = cli(&s.db, &["admin", "token", "list", "--json"]);
    let listed: Value = serde_json::from_str(listed.trim()).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let id = listed[0]["token_id"].as_str().unwrap();
    let (code, _, err) = cli(&s.db, &["admin", "token", "delete", id]);
    assert_eq!(code, 0, "{err}");
    wait_for(|| s.admin(&admin, "GET", "/tenants").send().status == 401, "deleted admin token refused");
    assert!(!s.log().contains(&admin), "an admin token reached the log");
}

#[test]
fn an_admin_secret_given_at_start_up_works_and_a_short_one_is_refused() {
    let mut s = Server::start();
    s.kill9();
    let secret = "s3cr3t-".repeat(6);
    s.env.push(("SCIM_ADMIN_TOKEN".into(), secret.clone()));
    s.launch();
    assert_eq!(s.admin(&secret, "GET", "/tenants").send().status, 200);
    assert_eq!(s.admin(&format!("{secret}x"), "GET", "/tenants").send().status, 401);
    // The secret is a credential of the admin API only.
    let r = Req::new(&s.addr, "GET", &format!("{}/Users", s.base())).bearer(&secret).send();
    assert_eq!(r.status, 401);
    // From a file too; a short secret is a usage error.
    let file = s.dir.0.join("admin-token");
    std::fs::write(&file, "short\n").unwrap();
    let (code, _, err) =
        cli(&s.db, &["serve", "--listen", "127.0.0.1:0", "--admin-token-file", file.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("at least 32"), "{err}");
}

#[test]
fn enabling_provisioning_creates_a_tenant_whose_endpoint_and_token_work_at_once() {
    let s = Server::start();
    let admin = admin_token(&s.db);
    let created = ok(s.admin(&admin, "POST", "/tenants").json(&json!({"name": "okta", "profile": "rfc"})).send(), 201);
    let id = created["tenant_id"].as_str().unwrap();
    assert_eq!(created["name"], "okta");
    assert_eq!(created["profile"], "rfc");
    let endpoint = created["scim_endpoint"].as_str().unwrap();
    assert_eq!(endpoint, format!("http://{}/{id}/scim/v2", s.addr));
    let token = created["token"]["token"].as_str().unwrap();
    assert!(created["token"]["token_id"].is_string() && created["token"]["expires_at"].is_string());
    // No poll interval to wait for: the new tenant answers at once.
    let r = Req::new(&s.addr, "POST", &format!("/{id}/scim/v2/Users"))
        .bearer(token)
        .json(&user_body("a@example.com"))
        .send();
    assert_eq!(r.status, 201, "{}", r.text);
    // The token is shown once: the listing has ids and dates only.
    let tokens = ok(s.admin(&admin, "GET", &format!("/tenants/{id}/tokens")).send(), 200);
    assert_eq!(tokens["tokens"].as_array().unwrap().len(), 1);
    assert!(!tokens.to_string().contains(token));
    let listed = ok(s.admin(&admin, "GET", "/tenants").send(), 200);
    assert_eq!(listed["tenants"].as_array().unwrap().len(), 2);
    let one = ok(s.admin(&admin, "GET", &format!("/tenants/{id}")).send(), 200);
    assert_eq!(one["users"], 1);
    // Profile change, bad input.
    let changed = ok(
        s.admin(&admin, "PATCH", &format!("/tenants/{id}")).json(&json!({"profile": "identity-center"})).send(),
        200,
    );
    assert_eq!(changed["profile"], "identity-center");
    let bad = s.admin(&admin, "PATCH", &format!("/tenants/{id}")).json(&json!({"profile": "ldap"})).send();
    assert_eq!(assert_admin_error(&bad, 400)["scimType"], "invalidValue");
    assert_admin_error(&s.admin(&admin, "POST", "/tenants").raw_body(b"{", Some("application/json")).send(), 400);
    assert_admin_error(&s.admin(&admin, "POST", "/tenants").json(&json!({"name": 5})).send(), 400);
    assert_admin_error(&s.admin(&admin, "GET", "/tenants/nope").send(), 404);
    // Deleting the tenant closes its endpoint at once.
    ok(s.admin(&admin, "DELETE", &format!("/tenants/{id}")).send(), 204);
    let r = Req::new(&s.addr, "GET", &format!("/{id}/scim/v2/Users")).bearer(token).send();
    assert_eq!(r.status, 401);
    assert_admin_error(&s.admin(&admin, "DELETE", &format!("/tenants/{id}")).send(), 404);
}

#[test]
fn tokens_two_at_most_listed_with_expiry_and_deleted_at_once() {
    let s = Server::start();
    let admin = admin_token(&s.db);
    let path = format!("/tenants/{}/tokens", s.tenant);
    let second = ok(s.admin(&admin, "POST", &path).send(), 201);
    let second_token = second["token"].as_str().unwrap().to_owned();
    let third = s.admin(&admin, "POST", &path).send();
    assert_eq!(assert_admin_error(&third, 409)["scimType"], "tooMany");
    let listed = ok(s.admin(&admin, "GET", &path).send(), 200);
    let tokens = listed["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    assert_eq!(listed["max_tokens"], 2);
    assert_eq!(listed["warning_days"], 90);
    for t in tokens {
        assert_eq!(t["status"], "active");
        assert_eq!(t["days_left"], 365);
        assert!(t["created_at"].as_str().unwrap().ends_with('Z'));
    }
    let first_id = tokens.iter().map(|t| t["token_id"].as_str().unwrap()).find(|id| *id != second["token_id"]).unwrap();
    ok(s.admin(&admin, "DELETE", &format!("{path}/{first_id}")).send(), 204);
    // Stopped at once: the admin API reloads the server's token set before answering.
    assert_eq!(s.get("/Users").status, 401);
    let users = Req::new(&s.addr, "GET", &format!("{}/Users", s.base())).bearer(&second_token).send();
    assert_eq!(users.status, 200);
    assert_admin_error(&s.admin(&admin, "DELETE", &format!("{path}/{first_id}")).send(), 404);
    assert_admin_error(&s.admin(&admin, "GET", "/tenants/nope/tokens").send(), 404);
    // A token close to expiry is flagged from 90 days out.
    let (code, _, err) = cli(&s.db, &["token", "create", "--tenant", &s.tenant, "--days", "30"]);
    assert_eq!(code, 0, "{err}");
    let listed = ok(s.admin(&admin, "GET", &path).send(), 200);
    let soon: Vec<&Value> = listed["tokens"].as_array().unwrap().iter().filter(|t| t["status"] == "expiring").collect();
    assert_eq!(soon.len(), 1, "{listed}");
    assert_eq!(soon[0]["days_left"], 30);
}

#[test]
fn users_groups_and_memberships_are_searchable_and_paged() {
    let s = Server::start();
    let admin = admin_token(&s.db);
    let ids: Vec<String> = (0..7).map(|i| s.user(&format!("user{i}@example.com"))).collect();
    let eng = s.group("Engineering");
    s.group("Sales");
    let members: Vec<Value> = ids[..3].iter().map(|id| json!({"value": id})).collect();
    let r = s.patch(
        &format!("/Groups/{eng}"),
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": members}]}),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    let t = &s.tenant;
    let page = ok(s.admin(&admin, "GET", &format!("/tenants/{t}/users?count=3&startIndex=4")).send(), 200);
    assert_eq!(page["totalResults"], 7);
    assert_eq!(page["itemsPerPage"], 3);
    assert_eq!(page["Resources"][0]["userName"], "user3@example.com");
    let found = ok(s.admin(&admin, "GET", &format!("/tenants/{t}/users?q=USER5")).send(), 200);
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["id"], ids[5].as_str());
    let filtered =
        ok(s.admin(&admin, "GET", &format!("/tenants/{t}/users?filter={}", enc("userName sw \"user1\""))).send(), 200);
    assert_eq!(filtered["totalResults"], 1);
    let bad = s.admin(&admin, "GET", &format!("/tenants/{t}/users?filter={}", enc("nope eq"))).send();
    assert_eq!(assert_admin_error(&bad, 400)["scimType"], "invalidFilter");
    let quoted = ok(s.admin(&admin, "GET", &format!("/tenants/{t}/users?q={}", enc("a\"b)"))).send(), 200);
    assert_eq!(quoted["totalResults"], 0);
    let user = ok(s.admin(&admin, "GET", &format!("/tenants/{t}/users/{}", ids[0])).send(), 200);
    assert_eq!(user["user"]["userName"], "user0@example.com");
    assert_eq!(user["groups"][0]["display"], "Engineering");
    assert_admin_error(&s.admin(&admin, "GET", &format!("/tenants/{t}/users/nope")).send(), 404);
    let groups = ok(s.admin(&admin, "GET", &format!("/tenants/{t}/groups?q=eng")).send(), 200);
    assert_eq!(groups["totalResults"], 1);
    let group = ok(s.admin(&admin, "GET", &format!("/tenants/{t}/groups/{eng}?count=2&startIndex=2")).send(), 200);
    assert_eq!(group["group"]["displayName"], "Engineering");
    assert_eq!(group["members"]["totalResults"], 3);
    assert_eq!(group["members"]["itemsPerPage"], 2);
    // Read-only: no write method on the views.
    assert_admin_error(&s.admin(&admin, "DELETE", &format!("/tenants/{t}/users/{}", ids[0])).send(), 405);
}

#[test]
fn the_audit_log_keeps_writes_and_the_specific_reason_of_rejections() {
    let s = Server::start();
    let admin = admin_token(&s.db);
    let id = s.user("a@example.com");
    let mut bad = user_body("b@example.com");
    bad["emails"] = json!([{"value": "b@example.com", "primary": false}]);
    let r = s.post("/Users", &bad);
    r.assert_error(400, support::UNPARSABLE);
    let dup = s.post("/Users", &user_body("a@example.com"));
    assert_eq!(dup.status, 409);
    let anonymous = Req::new(&s.addr, "GET", &format!("{}/Users", s.base())).send();
    assert_eq!(anonymous.status, 401);
    let t = &s.tenant;
    let mut entries = Value::Null;
    wait_for(
        || {
            entries = ok(s.admin(&admin, "GET", &format!("/tenants/{t}/audit")).send(), 200);
            entries["entries"].as_array().unwrap().len() >= 4
        },
        "four audit entries",
    );
    let list = entries["entries"].as_array().unwrap();
    // Newest first; the rejection the client saw as AWS's fixed text keeps its reason here.
    assert_eq!(list.last().unwrap()["action"], "CreateUser");
    assert_eq!(list.last().unwrap()["resource_id"], id.as_str());
    assert!(list.iter().any(|e| e["status"] == 400 && e["detail"].as_str().unwrap().contains("primary")), "{entries}");
    assert!(list.iter().any(|e| e["status"] == 401 && e["detail"].as_str().unwrap().contains("no bearer token")));
    let rejected = ok(s.admin(&admin, "GET", &format!("/tenants/{t}/audit?outcome=rejected")).send(), 200);
    assert!(rejected["entries"].as_array().unwrap().iter().all(|e| e["status"].as_u64().unwrap() >= 400));
    assert_eq!(rejected["entries"].as_array().unwrap().len(), 3);
    let by_resource = ok(s.admin(&admin, "GET", &format!("/tenants/{t}/audit?resource={id}")).send(), 200);
    assert_eq!(by_resource["entries"].as_array().unwrap().len(), 1);
    let page = ok(s.admin(&admin, "GET", &format!("/tenants/{t}/audit?count=2")).send(), 200);
    let before = page["next_before"].as_i64().unwrap();
    let next = ok(s.admin(&admin, "GET", &format!("/tenants/{t}/audit?count=2&before={before}")).send(), 200);
    assert_eq!(next["entries"].as_array().unwrap().len(), 2);
    assert_ne!(next["entries"][0]["seq"], page["entries"][0]["seq"]);
    assert_admin_error(&s.admin(&admin, "GET", &format!("/tenants/{t}/audit?outcome=maybe")).send(), 400);
}

#[test]
fn attributes_for_access_control_resolve_a_users_tags_and_saml() {
    let s = Server::start();
    let admin = admin_token(&s.db);
    let mut body = user_body("jdoe@example.com");
    body["name"] = json!({"givenName": "Jane", "familyName": "Doe"});
    body["addresses"] = json!([{"type": "work", "streetAddress": "1 Main St", "locality": "Seattle",
        "region": "WA", "postalCode": "98101", "country": "US"}]);
    body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] =
        json!({"department": "Engineering", "costCenter": "blue", "manager": {"value": "boss-1"}});
    body["schemas"] = json!([
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    ]);
    let r = s.post("/Users", &body);
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let path = format!("/tenants/{}/access-control", s.tenant);
    let empty = ok(s.admin(&admin, "GET", &path).send(), 200);
    assert_eq!(empty["attributes"], json!([]));
    assert_eq!(empty["max_attributes"], 50);
    assert!(empty["sources"].as_array().unwrap().contains(&json!("${path:enterprise.manager.value}")));
    let attributes = json!({"attributes": [
        {"key": "CostCenter", "value": "${path:enterprise.costCenter}"},
        {"key": "Department", "value": "${path:enterprise.department}"},
        {"key": "City", "value": "${path:addresses[type eq \"work\"].locality}"},
        {"key": "Email", "value": "${path:emails[primary eq true].value}"},
        {"key": "Given", "value": "${path:name.givenName}"},
        {"key": "Manager", "value": "${path:enterprise.manager.value}"},
        {"key": "Nick", "value": "${path:nickName}"}
    ]});
    let saved = ok(s.admin(&admin, "PUT", &path).json(&attributes).send(), 200);
    assert_eq!(saved["attributes"], attributes["attributes"]);
    assert_eq!(ok(s.admin(&admin, "GET", &path).send(), 200)["attributes"], attributes["attributes"]);
    for bad in [
        json!({"attributes": [{"key": "a<b", "value": "${path:userName}"}]}),
        json!({"attributes": [{"key": "k", "value": "userName"}]}),
        json!({"attributes": [{"key": "k", "value": "${path:emails.value}"}]}),
        json!({"attributes": [{"key": "K", "value": "${path:userName}"}, {"key": "k", "value": "${path:title}"}]}),
        json!({"attributes": (0..51).map(|i| json!({"key": format!("k{i}"), "value": "${path:userName}"})).collect::<Vec<_>>()}),
        json!({"attributes": [{"key": "k"}]}),
        json!({"nope": []}),
    ] {
        assert_admin_error(&s.admin(&admin, "PUT", &path).json(&bad).send(), 400);
    }
    // A refused configuration changed nothing.
    assert_eq!(ok(s.admin(&admin, "GET", &path).send(), 200)["attributes"], attributes["attributes"]);
    let tags = ok(s.admin(&admin, "GET", &format!("/tenants/{}/users/{id}/access-control", s.tenant)).send(), 200);
    let pairs: Vec<(String, String)> = tags["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["key"].as_str().unwrap().to_owned(), t["value"].as_str().unwrap().to_owned()))
        .collect();
    let expected = [
        ("CostCenter", "blue"),
        ("Department", "Engineering"),
        ("City", "Seattle"),
        ("Email", "jdoe@example.com"),
        ("Given", "Jane"),
        ("Manager", "boss-1"),
    ];
    assert_eq!(pairs, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
    assert_eq!(tags["omitted"][0]["key"], "Nick");
    let saml = tags["saml"].as_str().unwrap();
    assert!(saml.starts_with("<saml:AttributeStatement>") && saml.ends_with("</saml:AttributeStatement>"));
    assert_eq!(saml.matches("<saml:Attribute ").count(), 6);
    assert_eq!(saml.matches("<saml:AttributeValue>").count(), 6);
    assert!(saml.contains(
        "<saml:Attribute Name=\"https://aws.amazon.com/SAML/Attributes/AccessControl:CostCenter\" \
         NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:uri\">\n    <saml:AttributeValue>blue</saml:AttributeValue>"
    ));
    assert!(!saml.contains("Nick"));
    assert_admin_error(
        &s.admin(&admin, "GET", &format!("/tenants/{}/users/nope/access-control", s.tenant)).send(),
        404,
    );
}
