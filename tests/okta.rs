//! A replay of Okta's documented provisioning traffic (shared/spec/idp-clients.md section 1.3)
//! against the identity-center profile, request by request, with the bodies Okta sends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::json;
use support::{Req, Server, UNPARSABLE};

#[test]
fn okta_user_lifecycle() {
    let s = Server::start();
    // (1) Test API Credentials: the constant probes, with Okta's headers.
    for target in ["/Users?startIndex=1&count=2", "/Groups?startIndex=1&count=100"] {
        let r = s
            .req("GET", target)
            .header("Accept", "application/scim+json")
            .header("Accept-Charset", "utf-8")
            .header("User-Agent", "Okta SCIM Client 1.0.0")
            .send();
        assert_eq!(r.status, 200, "{target}: {}", r.text);
        let list = r.json();
        assert_eq!(list["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"]));
        for key in ["totalResults", "startIndex", "itemsPerPage"] {
            assert!(list[key].is_u64(), "{key} must be an integer: {list}");
        }
        assert_eq!(list["Resources"], json!([]));
    }
    // (2) Match before create: not found is an empty list, raw and encoded forms alike.
    let lookup = "/Users?filter=userName%20eq%20%22test.user%40okta.local%22&startIndex=1&count=100";
    assert_eq!(s.get(lookup).json()["totalResults"], 0);
    assert_eq!(s.get("/Users?filter=userName eq \"test.user@okta.local\"").json()["totalResults"], 0);
    // (4) Create, as the OIN app sends it (no password: the AWS app does not push passwords).
    let create = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "test.user@okta.local",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "active": true
    });
    let r = s.req("POST", "/Users").json(&create).header("User-Agent", "Okta SCIM Client 1.0.0").send();
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(s.post("/Users", &create).status, 409, "recreating with the same values");
    let mut with_password = create.clone();
    with_password["password"] = json!("1mz050nq");
    s.post("/Users", &with_password).assert_error(400, UNPARSABLE);
    // "Username Case Sensitivity Check".
    let caps = s.get("/Users?filter=userName eq \"TEST.USER@OKTA.LOCAL\"").json();
    assert_eq!(caps["Resources"][0]["id"], id.as_str());
    // (5) Update: GET, then PUT the merged object back with id, groups, meta and display echoed.
    let mut current = s.get(&format!("/Users/{id}")).json();
    current["name"] = json!({"givenName": "Another", "middleName": "Excited", "familyName": "User"});
    current["groups"] = json!([]);
    current["meta"] = json!({"resourceType": "User"});
    current["emails"][0]["display"] = json!("test.user@okta.local");
    let r = s.put(&format!("/Users/{id}"), &current);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["name"]["givenName"], "Another");
    // (6) Deactivate: path-less replace; the user stays readable and listed.
    let deactivate = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": false}}]});
    assert_eq!(s.patch(&format!("/Users/{id}"), &deactivate).json()["active"], false);
    assert_eq!(s.get(&format!("/Users/{id}")).json()["active"], false);
    assert_eq!(s.get("/Users?startIndex=1&count=100").json()["totalResults"], 1);
    // (7) Reactivate.
    let reactivate = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": true}}]});
    assert_eq!(s.patch(&format!("/Users/{id}"), &reactivate).status, 200);
    assert_eq!(s.get(&format!("/Users/{id}")).json()["active"], true);
    // (12) The spec test's error and shape checks.
    let missing = s.get("/Users/010101010101-0000-0000-000000000000");
    missing.assert_error(404, "Specified user does not exist.");
    let r = Req::new(&s.addr, "GET", &format!("{}/Users?filter=userName eq \"x\"", s.base()))
        .header("Authorization", "non-token")
        .send();
    r.assert_error(401, "The authorization header is invalid or missing.");
    let first = &s.get("/Users?count=1&startIndex=1").json()["Resources"][0];
    for key in ["id", "userName", "active"] {
        assert!(!first[key].is_null(), "{key}");
    }
    assert!(first["name"]["familyName"].is_string() && first["name"]["givenName"].is_string());
    assert!(first["emails"][0]["value"].is_string());
}
