//! The rfc profile: RFC 7643/7644 behaviour on the same parser, store and validator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{Value, json};
use support::{Server, enc};

fn rfc() -> Server {
    Server::start_with("rfc")
}

fn assert_scim_error(r: &support::Resp, status: u16, scim_type: Option<&str>) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    let body = r.json();
    assert_eq!(body["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:Error"]));
    assert_eq!(body["status"], status.to_string());
    assert!(body.get("schema").is_none() && body.get("exceptionRequestId").is_none(), "{body}");
    assert_eq!(body["scimType"].as_str(), scim_type, "{body}");
    assert!(!body["detail"].as_str().unwrap().is_empty());
}

#[test]
fn create_answers_location_etag_and_meta() {
    let s = rfc();
    // A password is accepted and never kept: nothing reads it back, and no filter finds it.
    let r = s.post("/Users", &json!({"userName": "pw", "password": "s3cret-Passw0rd"}));
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(!r.text.contains("s3cret"));
    assert_eq!(s.get(&format!("/Users?filter={}", enc("password pr"))).json()["totalResults"], 0);
    let r = s.post("/Users", &json!({"userName": "bjensen"}));
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    let user = r.json();
    let location = user["meta"]["location"].as_str().unwrap();
    assert!(location.ends_with(&format!("{}/Users/{}", s.base(), user["id"].as_str().unwrap())), "{location}");
    assert_eq!(r.header("location"), Some(location));
    assert_eq!(r.header("etag"), user["meta"]["version"].as_str());
    assert_eq!(user["active"], true);
    assert_scim_error(&s.post("/Users", &json!({"userName": "BJENSEN"})), 409, Some("uniqueness"));
    assert_scim_error(&s.post("/Users", &json!({"displayName": "x"})), 400, Some("invalidValue"));
    assert_scim_error(&s.get("/Users/nope"), 404, None);
}

#[test]
fn etags_guard_reads_and_writes() {
    let s = rfc();
    let user = s.post("/Users", &json!({"userName": "etag"})).json();
    let id = user["id"].as_str().unwrap();
    let tag = user["meta"]["version"].as_str().unwrap().to_owned();
    let path = format!("/Users/{id}");
    let r = s.req("GET", &path).header("If-None-Match", &tag).send();
    assert_eq!((r.status, r.text.as_str()), (304, ""));
    assert_eq!(s.req("GET", &path).header("If-None-Match", "W/\"999\"").send().status, 200);
    let body = json!({"userName": "etag", "title": "New"});
    assert_scim_error(
        &s.req("PUT", &path).header("If-Match", "W/\"999\"").json(&body).send(),
        412,
        Some("invalidVers"),
    );
    let r = s.req("PUT", &path).header("If-Match", &tag).json(&body).send();
    assert_eq!(r.status, 200, "{}", r.text);
    let newer = r.header("etag").unwrap().to_owned();
    assert_ne!(newer, tag);
    let patch = json!({"Operations": [{"op": "replace", "path": "title", "value": "Newer"}]});
    assert_eq!(s.req("PATCH", &path).header("If-Match", &tag).json(&patch).send().status, 412);
    assert_eq!(s.req("PATCH", &path).header("If-Match", "*").json(&patch).send().status, 200);
    assert_eq!(s.req("DELETE", &path).header("If-Match", &newer).send().status, 412);
    assert_eq!(s.delete(&path).status, 204);
}

#[test]
fn attributes_and_excluded_attributes() {
    let s = rfc();
    let id = s
        .post("/Users", &json!({"userName": "proj", "name": {"givenName": "G", "familyName": "F"}, "title": "T"}))
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let only = s.get(&format!("/Users/{id}?attributes=name.givenName,title")).json();
    let keys: Vec<&String> = only.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["id", "schemas", "name", "title"]);
    assert_eq!(only["name"], json!({"givenName": "G"}));
    let except = s.get(&format!("/Users?excludedAttributes=name,meta&filter={}", enc("userName eq \"proj\""))).json();
    let user = &except["Resources"][0];
    assert!(user.get("name").is_none() && user.get("meta").is_none() && user["title"] == "T", "{user}");
    let searched = s
        .post(
            "/Users/.search",
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "attributes": ["userName"], "filter": "userName eq \"proj\"", "startIndex": 1, "count": 10}),
        )
        .json();
    assert_eq!(searched["totalResults"], 1, "{searched}");
    assert_eq!(
        searched["Resources"][0],
        json!({"id": id, "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "proj"})
    );
}

#[test]
fn groups_return_members_and_users_their_groups_nested_without_cycles() {
    let s = rfc();
    let alice = s.post("/Users", &json!({"userName": "alice", "displayName": "Alice"})).json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let inner = s.post("/Groups", &json!({"displayName": "Inner", "members": [{"value": alice}]}));
    assert_eq!(inner.status, 201, "{}", inner.text);
    let inner = inner.json();
    assert!(inner["members"][0].get("display").is_none(), "RFC 7643 section 8.7.1: members have no display");
    assert_eq!(inner["members"][0]["type"], "User");
    let inner_id = inner["id"].as_str().unwrap().to_owned();
    let outer =
        s.post("/Groups", &json!({"displayName": "Outer", "members": [{"value": inner_id, "type": "Group"}]})).json();
    let outer_id = outer["id"].as_str().unwrap().to_owned();
    assert_eq!(outer["members"][0]["type"], "Group");
    let cycle = json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": outer_id}]}]});
    assert_scim_error(&s.patch(&format!("/Groups/{inner_id}"), &cycle), 400, Some("invalidValue"));
    let groups = s.get(&format!("/Users/{alice}")).json()["groups"].clone();
    assert_eq!(groups.as_array().unwrap().len(), 2, "{groups}");
    assert_eq!((groups[0]["type"].clone(), groups[0]["display"].clone()), (json!("direct"), json!("Inner")));
    assert_eq!(groups[1]["type"], "indirect");
    // PATCH answers 200 with the group, and replace of members is allowed here.
    let r = s.patch(
        &format!("/Groups/{outer_id}"),
        &json!({"Operations": [{"op": "replace", "path": "members", "value": [{"value": alice}]}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json()["members"],
        json!([{"value": alice, "$ref": format!("http://{}{}/Users/{alice}", s.addr, s.base()), "type": "User"}])
    );
    let r = s.patch(&format!("/Groups/{outer_id}"), &json!({"Operations": [{"op": "remove", "path": "members"}]}));
    assert_eq!(r.json()["members"], json!([]));
    let put = s.put(&format!("/Groups/{outer_id}"), &json!({"displayName": "Outer", "members": [{"value": alice}]}));
    assert_eq!(put.json()["members"][0]["value"], alice.as_str());
}

#[test]
fn paging_and_counts_the_rfc_way() {
    let s = rfc();
    for i in 0..5 {
        s.post("/Users", &json!({"userName": format!("p{i}")}));
    }
    let zero = s.get("/Users?count=0").json();
    assert_eq!((zero["totalResults"].clone(), zero["itemsPerPage"].clone()), (json!(5), json!(0)));
    assert_eq!(s.get("/Users?count=5000").json()["itemsPerPage"], 5);
    assert_eq!(s.get("/Users?count=-3").json()["itemsPerPage"], 0);
    let page = s.get("/Users?startIndex=4&count=10").json();
    assert_eq!((page["startIndex"].clone(), page["itemsPerPage"].clone()), (json!(4), json!(2)));
    let names = |page: Value| -> Vec<String> {
        page["Resources"].as_array().unwrap().iter().map(|u| u["userName"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(names(s.get("/Users?sortBy=userName&sortOrder=descending&count=3").json()), ["p4", "p3", "p2"]);
    assert_eq!(names(s.get("/Users?sortBy=userName&startIndex=2&count=2").json()), ["p1", "p2"]);
    assert_scim_error(&s.get("/Users?sortBy=userName&sortOrder=sideways"), 400, Some("invalidValue"));
    assert_scim_error(&s.get("/Users?sortBy=userName&cursor"), 400, Some("invalidValue"));
    // RFC 9865 cursor paging walks everything once; a foreign cursor is invalidCursor.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = s.get(&format!("/Users?count=2&cursor={cursor}")).json();
        seen.extend(names(page.clone()));
        match page["nextCursor"].as_str() {
            Some(next) => cursor = enc(next),
            None => break,
        }
    }
    assert_eq!(seen, ["p0", "p1", "p2", "p3", "p4"]);
    assert_scim_error(&s.get("/Users?cursor=nope"), 400, Some("invalidCursor"));
}

#[test]
fn filters_on_any_attribute_and_root_search() {
    let s = rfc();
    s.post(
        "/Users",
        &json!({"userName": "ann", "displayName": "Eng Ann", "title": "Engineer", "emails": [{"value": "ann@example.com", "type": "work"}]}),
    );
    s.post("/Users", &json!({"userName": "bob", "title": "Manager", "active": false}));
    s.post("/Groups", &json!({"displayName": "Engineers"}));
    let count = |path: &str, f: &str| s.get(&format!("{path}?filter={}", enc(f))).json()["totalResults"].clone();
    assert_eq!(count("/Users", "title sw \"eng\" or active eq false"), json!(2));
    assert_eq!(count("/Users", "emails[type eq \"work\" and value ew \"example.com\"]"), json!(1));
    assert_eq!(count("/Users", "not (title pr) or userName eq \"ann\""), json!(1));
    assert_eq!(count("/Groups", "displayName co \"gin\""), json!(1));
    assert_scim_error(&s.get(&format!("/Users?filter={}", enc("nickName gt true"))), 400, Some("invalidFilter"));
    assert_scim_error(&s.get(&format!("/Users?filter={}", enc("title eq"))), 400, Some("invalidFilter"));
    let all = s.post("/.search", &json!({"filter": "displayName sw \"Eng\"", "sortBy": "meta.created"})).json();
    assert_eq!(all["totalResults"], 2, "{all}");
    let types: Vec<&str> =
        all["Resources"].as_array().unwrap().iter().map(|r| r["meta"]["resourceType"].as_str().unwrap()).collect();
    assert_eq!(types, ["User", "Group"]);
    // An attribute only Users have matches no Group.
    let users_only =
        s.post("/.search", &json!({"filter": "userName eq \"ann\" or displayName eq \"Engineers\""})).json();
    assert_eq!(users_only["totalResults"], 1, "{users_only}");
    assert_scim_error(&s.post("/.search", &json!({"filter": "nope eq \"x\""})), 400, Some("invalidFilter"));
    let page = s.post("/.search", &json!({"startIndex": 2, "count": 5})).json();
    assert_eq!((page["totalResults"].clone(), page["Resources"][0]["userName"].clone()), (json!(3), json!("bob")));
}

#[test]
fn bulk_with_references_and_fail_on_errors() {
    let s = rfc();
    let r = s.post("/Bulk", &json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "POST", "path": "/Groups", "bulkId": "g", "data": {"displayName": "Team", "members": [{"value": "bulkId:u"}]}},
            {"method": "POST", "path": "/Users", "bulkId": "u", "data": {"userName": "bulky"}},
            {"method": "POST", "path": "/Users", "bulkId": "dup", "data": {"userName": "BULKY"}},
            {"method": "PATCH", "path": "/Users/bulkId:u", "data": {"Operations": [{"op": "replace", "path": "title", "value": "T"}]}},
            {"method": "POST", "path": "/Groups", "bulkId": "x", "data": {"displayName": "Dangling", "members": [{"value": "bulkId:nope"}]}}
        ]
    }));
    assert_eq!(r.status, 200, "{}", r.text);
    let ops = r.json()["Operations"].clone();
    let statuses: Vec<&str> = ops.as_array().unwrap().iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["201", "201", "409", "200", "409"], "{ops}");
    assert!(ops[0]["location"].as_str().unwrap().contains("/Groups/"));
    assert_eq!(ops[2]["response"]["scimType"], "uniqueness");
    let group = s.get(&format!("/Groups?filter={}", enc("displayName eq \"Team\""))).json();
    assert_eq!(group["Resources"][0]["members"].as_array().unwrap().len(), 1);
    // failOnErrors stops after the first failure.
    let r = s.post(
        "/Bulk",
        &json!({"failOnErrors": 1, "Operations": [
            {"method": "DELETE", "path": "/Users/nope"},
            {"method": "POST", "path": "/Users", "bulkId": "later", "data": {"userName": "never"}}
        ]}),
    );
    assert_eq!(r.json()["Operations"].as_array().unwrap().len(), 1);
    assert_eq!(s.get(&format!("/Users?filter={}", enc("userName eq \"never\""))).json()["totalResults"], 0);
    let too_many: Vec<Value> = (0..1001).map(|_| json!({"method": "DELETE", "path": "/Users/x"})).collect();
    assert_scim_error(&s.post("/Bulk", &json!({"Operations": too_many})), 400, Some("tooMany"));
}

#[test]
fn discovery_and_unimplemented_endpoints() {
    let s = rfc();
    let spc = s.get("/ServiceProviderConfig").json();
    for feature in ["bulk", "sort", "etag", "patch", "filter"] {
        assert_eq!(spc[feature]["supported"], true, "{feature}");
    }
    assert_eq!(spc["bulk"]["maxOperations"], 1000);
    assert_eq!(
        spc["pagination"],
        json!({"cursor": true, "index": true, "defaultPaginationMethod": "index", "defaultPageSize": 100, "maxPageSize": 100})
    );
    let user = s.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").json();
    let names: Vec<&str> = user["attributes"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"groups") && names.contains(&"x509Certificates"));
    assert_scim_error(&s.get("/Me"), 501, None);
    assert_scim_error(&s.req("PUT", "/Schemas").json(&json!({})).send(), 405, None);
}

/// RFC 7644 section 3.4.2.2: every operator on a multi-valued attribute, `ne` included, matches
/// when any one value matches; `not (... eq ...)` is "no value equals".
#[test]
fn ne_on_multi_valued_attributes_matches_when_any_value_differs() {
    let s = rfc();
    let user = |name: &str, emails: Value| {
        let r = s.post("/Users", &json!({"userName": name, "emails": emails}));
        assert_eq!(r.status, 201, "{}", r.text);
        r.json()["id"].as_str().unwrap().to_owned()
    };
    let both =
        user("both", json!([{"value": "w@x.example", "type": "work"}, {"value": "h@x.example", "type": "home"}]));
    let work = user("work", json!([{"value": "w2@x.example", "type": "work"}]));
    user("none", Value::Null);
    let group = s.post("/Groups", &json!({"displayName": "G", "members": [{"value": both}, {"value": work}]}));
    assert_eq!(group.status, 201, "{}", group.text);
    let names = |path: &str, filter: &str| -> Vec<String> {
        let sort = if path == "/Users" { "userName" } else { "displayName" };
        let r = s.get(&format!("{path}?filter={}&sortBy={sort}", enc(filter)));
        assert_eq!(r.status, 200, "{filter}: {}", r.text);
        let list = r.json()["Resources"].as_array().unwrap().clone();
        list.iter().map(|u| u["userName"].as_str().or(u["displayName"].as_str()).unwrap().to_owned()).collect()
    };
    assert_eq!(names("/Users", r#"emails.type ne "work""#), ["both"]);
    assert_eq!(names("/Users", r#"not (emails.type eq "work")"#), ["none"]);
    assert_eq!(names("/Users", r#"emails[type ne "work"]"#), ["both"]);
    assert_eq!(names("/Users", r#"emails.value ne "w2@x.example""#), ["both"]);
    assert_eq!(names("/Users", r#"emails.value gt "v""#), ["both", "work"]);
    assert_eq!(names("/Users", r#"emails.value lt "i""#), ["both"]);
    assert_eq!(names("/Users", r#"emails co "h@""#), ["both"]);
    assert_eq!(names("/Users", r#"title ne "x""#), Vec::<String>::new());
    assert_eq!(names("/Users", r#"not (title eq "x")"#), ["both", "none", "work"]);
    assert_eq!(names("/Groups", &format!(r#"members ne "{both}""#)), ["G"]);
    assert_eq!(names("/Groups", &format!(r#"not (members eq "{both}")"#)), Vec::<String>::new());
    // The same through POST /.search.
    let r = s.post("/Users/.search", &json!({"filter": "emails.type ne \"work\""})).json();
    assert_eq!(r["totalResults"], 1, "{r}");
}

/// RFC 7644 section 3.4.2.2: a literal that cannot be a value of the attribute's type is
/// `invalidFilter`, decided from the schema before any data is read (the tenant is empty).
#[test]
fn literals_of_the_wrong_type_are_invalid_filters() {
    let s = rfc();
    for filter in [
        r#"meta.created gt "yesterday""#,
        r#"meta.created gt "2026-13-45T25:61:00Z""#,
        r#"meta.lastModified lt "2026-02-30T10:00:00Z""#,
        "meta.created eq 2026",
        r#"active eq "yes""#,
        "active eq 1",
        "emails.primary ne 0",
        "title eq 5",
        "userName eq true",
        "active gt true",
        r#"active lt "true""#,
        r#"x509Certificates.value ge "MII""#,
    ] {
        assert_scim_error(&s.get(&format!("/Users?filter={}", enc(filter))), 400, Some("invalidFilter"));
        let search = s.post("/Users/.search", &json!({"filter": filter}));
        assert_scim_error(&search, 400, Some("invalidFilter"));
    }
    assert_scim_error(&s.get(&format!("/Groups?filter={}", enc("displayName eq 1"))), 400, Some("invalidFilter"));
    // Well-typed comparisons, and booleans as text the way identity providers send them, pass.
    for filter in [r#"meta.created gt "2011-05-13T04:42:34Z""#, r#"active eq "True""#, r#"meta.created sw "20""#] {
        let r = s.get(&format!("/Users?filter={}", enc(filter)));
        assert_eq!(r.status, 200, "{filter}: {}", r.text);
    }
}

/// RFC 7643 sections 2.3 and 2.4: a value shaped otherwise than its schema says is refused, and
/// nothing is written.
#[test]
fn values_shaped_otherwise_than_the_schema_are_refused() {
    let s = rfc();
    let ok = s.post("/Users", &json!({"userName": "kept", "emails": [{"value": "k@x.example"}]}));
    assert_eq!(ok.status, 201, "{}", ok.text);
    let id = ok.json()["id"].as_str().unwrap().to_owned();
    let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    for (key, value) in [
        ("emails", json!({"value": "a@x.example"})),
        ("emails", json!("a@x.example")),
        ("emails", json!(["a@x.example"])),
        ("phoneNumbers", json!({"value": "555"})),
        ("addresses", json!({"locality": "Paris"})),
        ("ims", json!("aim")),
        ("photos", json!({"value": "https://x.example/p"})),
        ("roles", json!("admin")),
        ("entitlements", json!({"value": "e"})),
        ("x509Certificates", json!("MII")),
        ("groups", json!({"value": "g"})),
        ("name", json!("Barbara Jensen")),
        ("name", json!([{"givenName": "B"}])),
        ("displayName", json!(["Babs"])),
        (enterprise, json!({"manager": "m-1"})),
        (enterprise, json!({"manager": [{"value": "m-1"}]})),
        (enterprise, json!("R&D")),
    ] {
        let body = json!({"userName": "new", key: value});
        assert_scim_error(&s.post("/Users", &body), 400, Some("invalidValue"));
        let body = json!({"userName": "kept", key: value});
        assert_scim_error(&s.put(&format!("/Users/{id}"), &body), 400, Some("invalidValue"));
    }
    let schemas_string = json!({"schemas": "urn:ietf:params:scim:schemas:core:2.0:User", "userName": "new"});
    assert_scim_error(&s.post("/Users", &schemas_string), 400, Some("invalidSyntax"));
    let schemas_string = json!({"schemas": "urn:ietf:params:scim:schemas:core:2.0:Group", "displayName": "G"});
    assert_scim_error(&s.post("/Groups", &schemas_string), 400, Some("invalidSyntax"));
    for members in [json!({"value": id}), json!(id)] {
        assert_scim_error(
            &s.post("/Groups", &json!({"displayName": "G", "members": members})),
            400,
            Some("invalidValue"),
        );
    }
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"emails": {"value": "p@x.example"}}}]});
    assert_scim_error(&s.patch(&format!("/Users/{id}"), &patch), 400, Some("invalidValue"));
    // Nothing was written.
    let users = s.get("/Users").json();
    assert_eq!(users["totalResults"], 1, "{users}");
    assert_eq!(users["Resources"][0]["emails"], json!([{"value": "k@x.example"}]));
    assert_eq!(s.get("/Groups").json()["totalResults"], 0);
    // A PATCH whose path names a multi-valued attribute adds one value (RFC 7644 section 3.5.2.1).
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "emails", "value": {"value": "p@x.example"}}]});
    let r = s.patch(&format!("/Users/{id}"), &patch);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["emails"], json!([{"value": "k@x.example"}, {"value": "p@x.example"}]));
}
