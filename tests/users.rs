//! Users under the identity-center profile: every validation and uniqueness rule, PUT, PATCH,
//! DELETE and lists.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::thread;

use serde_json::{Value, json};
use support::{DUPLICATE, Server, UNPARSABLE, enc, user_body};

fn with(mut body: Value, key: &str, value: Value) -> Value {
    body[key] = value;
    body
}

fn total(s: &Server) -> u64 {
    s.get("/Users").json()["totalResults"].as_u64().unwrap()
}

#[test]
fn create_answers_the_full_user_and_get_returns_it() {
    let s = Server::start();
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": "00ujl29u0le5T6Aj10h7",
        "userName": "Test.User@Okta.local",
        "name": {"givenName": "Test", "familyName": "User", "middleName": "M"},
        "displayName": "Test User",
        "locale": "en-US",
        "profileUrl": "https://example.com/u/1",
        "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
        "addresses": [{"type": "work"}],
        "groups": [],
        "meta": {"resourceType": "User"},
        "roles": [],
        "title": null,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D", "manager": {"value": "m-1", "displayName": "Boss"}}
    });
    let r = s.post("/Users", &body);
    assert_eq!(r.status, 201, "{}", r.text);
    let user = r.json();
    let id = user["id"].as_str().unwrap();
    assert_eq!(id.len(), 36);
    assert_eq!(user["userName"], "Test.User@Okta.local", "case preserved");
    assert_eq!(user["active"], true, "active defaults to true");
    assert_eq!(user["meta"]["resourceType"], "User");
    let created = user["meta"]["created"].as_str().unwrap();
    assert!(created.len() == 20 && created.ends_with('Z'), "{created}");
    assert!(user.get("groups").is_none() && user.get("password").is_none() && user.get("title").is_none());
    assert_eq!(user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"], json!({"value": "m-1"}));
    assert_eq!(user["schemas"][1], "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User");
    let keys: Vec<&String> = user.as_object().unwrap().keys().collect();
    assert_eq!(&keys[..4], ["id", "externalId", "meta", "schemas"]);
    assert_eq!(s.get(&format!("/Users/{id}")).json(), user);
}

#[test]
fn every_validation_rule_answers_400_and_writes_nothing() {
    let s = Server::start();
    let base = user_body("rules@example.com");
    let mut cases = vec![
        ("missing userName", with(base.clone(), "userName", Value::Null)),
        ("blank userName", with(base.clone(), "userName", json!(""))),
        ("whitespace userName", with(base.clone(), "userName", json!("a b@example.com"))),
        ("long userName", with(base.clone(), "userName", json!("u".repeat(129)))),
        ("missing displayName", with(base.clone(), "displayName", Value::Null)),
        ("blank givenName", with(base.clone(), "name", json!({"givenName": " ", "familyName": "F"}))),
        ("missing familyName", with(base.clone(), "name", json!({"givenName": "G"}))),
        ("long string", with(base.clone(), "title", json!("t".repeat(1025)))),
        ("two emails", with(base.clone(), "emails", json!([{"value": "a@x", "primary": true}, {"value": "b@x"}]))),
        ("email not primary", with(base.clone(), "emails", json!([{"value": "a@x", "type": "work"}]))),
        ("two phones", with(base.clone(), "phoneNumbers", json!([{"value": "1"}, {"value": "2"}]))),
        ("two roles", with(base.clone(), "roles", json!([{"value": "1"}, {"value": "2"}]))),
        ("partial address", with(base.clone(), "addresses", json!([{"locality": "Paris", "type": "work"}]))),
        ("entitlements", with(base.clone(), "entitlements", json!([{"value": "e"}]))),
        ("ims", with(base.clone(), "ims", json!([{"value": "e"}]))),
        ("photos", with(base.clone(), "photos", json!([{"value": "https://x/p.png"}]))),
        ("x509Certificates", with(base.clone(), "x509Certificates", json!([{"value": "MIIB"}]))),
        ("password", with(base.clone(), "password", json!("1mz050nq"))),
        ("groups", with(base.clone(), "groups", json!([{"value": "g"}]))),
        ("wrong type", with(base.clone(), "active", json!("maybe"))),
        ("wrong type string", with(base.clone(), "displayName", json!(42))),
        ("not an object", json!(["userName"])),
    ];
    for c in ['<', '>', ';', ':', '%'] {
        cases.push(("forbidden char", with(base.clone(), "nickName", json!(format!("a{c}b")))));
    }
    for (what, body) in cases {
        s.post("/Users", &body).assert_error(400, UNPARSABLE);
        assert_eq!(total(&s), 0, "{what} must not write");
    }
    let ok = [
        with(base.clone(), "profileUrl", json!("https://x.example/a:b%20c;d")),
        with(
            base.clone(),
            "addresses",
            json!([{"streetAddress": "1 Main", "locality": "X", "region": "Y", "postalCode": "1", "country": "US", "type": "work", "primary": true}]),
        ),
        with(base.clone(), "active", json!("False")),
    ];
    for (i, body) in ok.into_iter().enumerate() {
        let body = with(with(body, "userName", json!(format!("ok{i}@example.com"))), "emails", Value::Null);
        assert_eq!(s.post("/Users", &body).status, 201, "case {i}");
    }
}

#[test]
fn uniqueness_is_per_tenant_and_case_insensitive() {
    let s = Server::start();
    let first = with(user_body("Alice@Example.com"), "externalId", json!("ext-1"));
    assert_eq!(s.post("/Users", &first).status, 201);
    for (key, value) in [
        ("userName", json!("alice@example.COM")),
        ("externalId", json!("ext-1")),
        ("emails", json!([{"value": "ALICE@example.com", "primary": true}])),
    ] {
        s.post("/Users", &with(user_body("bob@example.com"), key, value)).assert_error(409, DUPLICATE);
    }
    assert_eq!(
        s.post("/Users", &with(user_body("carol@example.com"), "externalId", json!("EXT-1"))).status,
        201,
        "externalId is exact"
    );
    // Another tenant on the same server may reuse everything.
    let created = support::create_tenant(&s.db);
    let tenant = created["tenant_id"].as_str().unwrap();
    let token = created["token"].as_str().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let r =
            support::Req::new(&s.addr, "POST", &format!("/{tenant}/scim/v2/Users")).bearer(token).json(&first).send();
        if r.status == 201 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "new tenant not served: {}", r.text);
        thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn concurrent_creates_of_one_user_yield_one_201() {
    let s = Server::start();
    let statuses: Vec<u16> = thread::scope(|scope| {
        let handles: Vec<_> =
            (0..16).map(|_| scope.spawn(|| s.post("/Users", &user_body("race@example.com")).status)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses.iter().filter(|&&c| c == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|&&c| c == 409).count(), 15, "{statuses:?}");
}

#[test]
fn put_replaces_and_tolerates_echoed_read_only_fields() {
    let s = Server::start();
    let full = with(with(user_body("put@example.com"), "title", json!("Boss")), "nickName", json!("P"));
    let user = s.post("/Users", &full).json();
    let id = user["id"].as_str().unwrap();
    let mut echo = user.clone();
    echo["name"] = json!({"givenName": "Another", "middleName": "Excited", "familyName": "User"});
    echo["groups"] = json!([]);
    echo["emails"][0]["display"] = json!("put@example.com");
    echo.as_object_mut().unwrap().remove("title");
    let r = s.put(&format!("/Users/{id}"), &echo);
    assert_eq!(r.status, 200, "{}", r.text);
    let out = r.json();
    assert_eq!(out["name"]["middleName"], "Excited");
    assert!(out.get("title").is_none(), "omitted attributes are cleared");
    assert_eq!(out["emails"], json!([{"value": "put@example.com", "type": "work", "primary": true}]));
    assert_eq!(out["meta"]["created"], user["meta"]["created"]);
    s.put("/Users/00000000-0000-4000-8000-000000000000", &echo).assert_error(404, "Specified user does not exist.");
    s.user("taken@example.com");
    s.put(&format!("/Users/{id}"), &with(echo.clone(), "userName", json!("TAKEN@example.com")))
        .assert_error(409, DUPLICATE);
    s.put(&format!("/Users/{id}"), &with(echo, "displayName", json!(""))).assert_error(400, UNPARSABLE);
    assert_eq!(s.get(&format!("/Users/{id}")).json()["userName"], "put@example.com", "failed PUTs change nothing");
}

#[test]
fn patch_forms_of_okta_and_entra() {
    let s = Server::start();
    let id = s.user("patch@example.com");
    let path = format!("/Users/{id}");
    let ops = |ops: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    let r = s.patch(&path, &ops(json!([{"op": "replace", "value": {"active": false}}])));
    assert_eq!((r.status, r.json()["active"].clone()), (200, json!(false)), "{}", r.text);
    assert_eq!(
        s.patch(&path, &ops(json!([{"op": "Replace", "path": "active", "value": "True"}]))).json()["active"],
        true
    );
    assert_eq!(
        s.patch(&path, &ops(json!([{"op": "Add", "path": "active", "value": "False"}]))).json()["active"],
        false
    );
    let r = s.patch(&path, &ops(json!([
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updated@example.com"},
        {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
        {"op": "replace", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 555"},
        {"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": [{"$ref": null, "value": "boss"}]},
        {"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Ops"},
    ])));
    assert_eq!(r.status, 200, "{}", r.text);
    let u = r.json();
    assert_eq!(u["emails"][0]["value"], "updated@example.com");
    assert_eq!(u["name"]["familyName"], "updatedFamilyName");
    assert_eq!(u["phoneNumbers"], json!([{"type": "work", "value": "+1 555"}]));
    assert_eq!(
        u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        json!({"manager": {"value": "boss"}, "department": "Ops"})
    );
    let r = s.patch(
        &path,
        &ops(json!([{"op": "replace", "value": {"displayName": "Bjfe", "name.givenName": "Kkom",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq"}}])),
    );
    assert_eq!(r.json()["name"]["givenName"], "Kkom", "{}", r.text);
    let before = s.get(&path).json();
    for same in [json!([]), json!([{"op": "replace", "path": "displayName", "value": "Bjfe"}])] {
        let r = s.patch(&path, &ops(same));
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["meta"]["lastModified"], before["meta"]["lastModified"]);
    }
    for bad in [
        json!([{"op": "remove", "path": "userName"}]),
        json!([{"op": "remove", "path": "active"}]),
        json!([{"op": "replace", "path": "active", "value": true}, {"op": "replace", "path": "active", "value": false}]),
        json!([{"op": "replace", "path": "nickName", "value": "ok"}, {"op": "replace", "path": "unknownAttr", "value": "x"}]),
        json!([{"op": "remove"}]),
        json!([{"op": "add", "path": "emails", "value": [{"value": "second@example.com", "primary": true}]}]),
        json!([{"op": "add", "path": "emails[type co \"w\"].value", "value": "x@y"}]),
        json!([{"op": "replace", "path": "userName eq", "value": "x"}]),
        json!("not a list"),
    ] {
        s.patch(&path, &ops(bad.clone())).assert_error(400, UNPARSABLE);
    }
    assert_eq!(s.get(&path).json(), before, "rejected PATCHes change nothing");
    s.patch("/Users/nope", &ops(json!([]))).assert_error(404, "Specified user does not exist.");
}

#[test]
fn delete_is_hard_and_a_recreated_user_gets_a_new_id() {
    let s = Server::start();
    let id = s.user("gone@example.com");
    let r = s.delete(&format!("/Users/{id}"));
    assert_eq!((r.status, r.text.as_str(), r.header("content-type")), (204, "", Some("application/json")));
    s.delete(&format!("/Users/{id}")).assert_error(404, "Specified user does not exist.");
    s.get(&format!("/Users/{id}")).assert_error(404, "Specified user does not exist.");
    assert_ne!(s.user("gone@example.com"), id);
}

#[test]
fn list_filters_and_paging() {
    let s = Server::start();
    let ids: Vec<String> = (0..7).map(|i| s.user(&format!("user{i}@example.com"))).collect();
    s.post("/Users", &with(user_body("ext@example.com"), "externalId", json!("E-9"))).json();
    let filtered = |f: &str| s.get(&format!("/Users?filter={}", enc(f)));
    assert_eq!(filtered("userName eq \"USER3@example.com\"").json()["Resources"][0]["id"], ids[3]);
    assert_eq!(filtered("username EQ \"user3@example.com\"").json()["totalResults"], 1);
    assert_eq!(filtered("externalId eq \"E-9\"").json()["totalResults"], 1);
    assert_eq!(filtered("externalId eq \"e-9\"").json()["totalResults"], 0);
    assert_eq!(filtered(&format!("id eq \"{}\"", ids[5])).json()["Resources"][0]["userName"], "user5@example.com");
    let miss = filtered("userName eq \"nobody\"").json();
    assert_eq!(
        miss,
        json!({"totalResults": 0, "itemsPerPage": 0, "startIndex": 1,
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "Resources": []})
    );
    for bad in [
        "userName co \"user\"",
        "emails.value eq \"a\"",
        "userName eq \"a\" or userName eq \"b\"",
        "userName eq user3",
        "title pr",
        "(",
        "displayName eq \"x\"",
    ] {
        filtered(bad).assert_error(400, UNPARSABLE);
    }
    for bad in ["count=0", "count=101", "count=x", "startIndex=x"] {
        s.get(&format!("/Users?{bad}")).assert_error(400, UNPARSABLE);
    }
    // startIndex paging reports the true total, in creation order.
    let page = s.get("/Users?startIndex=3&count=2").json();
    assert_eq!(
        (page["totalResults"].clone(), page["itemsPerPage"].clone(), page["startIndex"].clone()),
        (json!(8), json!(2), json!(3))
    );
    assert_eq!(page["Resources"][0]["id"], ids[2]);
    assert_eq!(s.get("/Users?startIndex=0&count=1").json()["Resources"][0]["id"], ids[0]);
    // Cursor paging walks everything once.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = s.get(&format!("/Users?count=3&cursor={cursor}")).json();
        assert!(page.get("totalResults").is_none());
        for u in page["Resources"].as_array().unwrap() {
            seen.push(u["id"].as_str().unwrap().to_owned());
        }
        match page["nextCursor"].as_str() {
            Some(next) => cursor = enc(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 8);
    assert_eq!(&seen[..7], &ids[..]);
    let first = s.get("/Users?count=2&cursor").json();
    let next = first["nextCursor"].as_str().unwrap();
    let changed = format!("/Users?count=2&cursor={}&filter={}", enc(next), enc("userName eq \"user1@example.com\""));
    s.get(&changed).assert_error(400, UNPARSABLE);
    s.get("/Users?cursor=VGVzdFVzZXJDdXJzb3I").assert_error(400, UNPARSABLE);
}
