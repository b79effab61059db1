//! Groups and group push under the identity-center profile: Okta's, Entra's and ssosync's
//! membership forms, every PATCH rule, and membership checked through the filters each step.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::thread;

use serde_json::{Value, json};
use support::{DUPLICATE, Req, Server, UNPARSABLE, enc, user_body};

const PATHLESS: &str = "Current PATCH support allows omitting \"path\" attribute only for Add and Replace operations modifying a single attribute.";

fn ops(list: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": list})
}

fn add(ids: &[&str]) -> Value {
    let values: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    ops(json!([{"op": "add", "path": "members", "value": values}]))
}

/// The membership probe ssosync and AWS document: `id eq G and members eq U`.
fn is_member(s: &Server, group: &str, user: &str) -> bool {
    let r = s.get(&format!("/Groups?filter={}", enc(&format!("id eq \"{group}\" and members eq \"{user}\""))));
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["totalResults"] == 1
}

fn groups_of(s: &Server, user: &str) -> Vec<String> {
    let r = s.get(&format!("/Groups?filter={}", enc(&format!("members.value eq \"{user}\""))));
    r.json()["Resources"].as_array().unwrap().iter().map(|g| g["id"].as_str().unwrap().to_owned()).collect()
}

fn members_of(s: &Server, group: &str) -> Vec<String> {
    let r = s.get(&format!("/Users?filter={}", enc(&format!("groups.value eq \"{group}\""))));
    assert_eq!(r.status, 200, "{}", r.text);
    let mut ids: Vec<String> =
        r.json()["Resources"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_owned()).collect();
    ids.sort();
    ids
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}

#[test]
fn okta_group_push_flow() {
    let s = Server::start();
    let alice = s.user("alice@example.com");
    let bob = s.user("bob@example.com");
    // Push: lookup, then create with an empty member list.
    assert_eq!(s.get(&format!("/Groups?filter={}", enc("displayName eq \"Test SCIMv2\""))).json()["totalResults"], 0);
    let r = s.post("/Groups", &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Test SCIMv2", "members": []}));
    assert_eq!(r.status, 201, "{}", r.text);
    let group = r.json();
    let g = group["id"].as_str().unwrap().to_owned();
    assert!(group.get("members").is_none(), "AWS answers create without members");
    assert_eq!(group["meta"]["resourceType"], "Group");
    s.post("/Groups", &json!({"displayName": "test scimv2"})).assert_error(409, DUPLICATE);
    // Membership change with Okta's body (display, no type), then the rename Okta re-sends.
    let change = ops(json!([
        {"op": "remove", "path": format!("members[value eq \"{bob}\"]")},
        {"op": "add", "path": "members", "value": [{"value": alice, "display": "alice@example.com"}]}
    ]));
    let rename = ops(json!([{"op": "replace", "value": {"id": g, "displayName": "Test SCIMv2"}}]));
    for body in [&change, &rename] {
        let r = s.patch(&format!("/Groups/{g}"), body);
        assert_eq!((r.status, r.text.as_str()), (204, ""), "{}", r.text);
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    assert!(is_member(&s, &g, &alice) && !is_member(&s, &g, &bob));
    assert_eq!(groups_of(&s, &alice), vec![g.clone()]);
    assert_eq!(members_of(&s, &g), sorted(&[&alice]));
    // Reads never carry members; lists show an empty list.
    assert!(s.get(&format!("/Groups/{g}")).json().get("members").is_none());
    assert_eq!(s.get("/Groups").json()["Resources"][0]["members"], json!([]));
    assert_eq!(s.get(&format!("/Groups/{g}?excludedAttributes=members")).status, 200);
    // Add again (idempotent), add bob, remove alice by filter.
    assert_eq!(s.patch(&format!("/Groups/{g}"), &add(&[&alice, &bob])).status, 204);
    assert_eq!(members_of(&s, &g), sorted(&[&alice, &bob]));
    let remove = ops(json!([{"op": "remove", "path": format!("members[value eq \"{alice}\"]")}]));
    assert_eq!(s.patch(&format!("/Groups/{g}"), &remove).status, 204);
    assert_eq!(s.patch(&format!("/Groups/{g}"), &remove).status, 204, "removing a non-member succeeds");
    assert_eq!(members_of(&s, &g), sorted(&[&bob]));
    // A real rename.
    let renamed = ops(json!([{"op": "replace", "value": {"id": g, "displayName": "Renamed"}}]));
    assert_eq!(s.patch(&format!("/Groups/{g}"), &renamed).status, 204);
    assert_eq!(s.get(&format!("/Groups/{g}")).json()["displayName"], "Renamed");
    // Unlink with delete.
    let r = s.delete(&format!("/Groups/{g}"));
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    s.get(&format!("/Groups/{g}")).assert_error(404, "Specified group does not exist.");
    assert!(groups_of(&s, &bob).is_empty());
}

#[test]
fn entra_and_ssosync_membership_forms() {
    let s = Server::start();
    let users: Vec<String> = (0..3).map(|i| s.user(&format!("e{i}@example.com"))).collect();
    let g = s.post("/Groups", &json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "displayName", "meta": {"resourceType": "Group"}
    })).json()["id"].as_str().unwrap().to_owned();
    let lookup = s.get(&format!("/Groups?excludedAttributes=members&filter={}", enc("displayName eq \"displayName\"")));
    assert_eq!(lookup.json()["Resources"][0]["id"], g.as_str());
    assert_eq!(
        s.get(&format!("/Groups?filter={}", enc("externalId eq \"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159\""))).json()["totalResults"],
        1
    );
    let entra_add = ops(
        json!([{"op": "Add", "path": "members", "value": users.iter().map(|u| json!({"$ref": null, "value": u})).collect::<Vec<_>>()}]),
    );
    assert_eq!(s.patch(&format!("/Groups/{g}"), &entra_add).status, 204);
    // Entra's legacy remove: a value list removes only those members, never the whole group.
    let legacy = ops(json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": users[0]}]}]));
    assert_eq!(s.patch(&format!("/Groups/{g}"), &legacy).status, 204);
    assert_eq!(members_of(&s, &g), sorted(&[&users[1], &users[2]]));
    let rename = ops(json!([{"op": "Replace", "path": "displayName", "value": "Renamed"}]));
    assert_eq!(s.patch(&format!("/Groups/{g}"), &rename).status, 204);
    // ssosync: filter by name, add and remove with path members, probe by id and members.
    let found = s.get(&format!("/Groups?filter={}", enc("displayName eq \"renamed\""))).json();
    assert_eq!(found["Resources"][0]["id"], g.as_str());
    let sso_remove = ops(json!([{"op": "remove", "path": "members", "value": [{"value": users[1]}]}]));
    assert_eq!(s.patch(&format!("/Groups/{g}"), &sso_remove).status, 204);
    assert!(!is_member(&s, &g, &users[1]) && is_member(&s, &g, &users[2]));
    let reversed = s.get(&format!("/Groups?filter={}", enc(&format!("member eq \"{}\" and id eq \"{g}\"", users[2]))));
    assert_eq!(reversed.json()["totalResults"], 1);
}

#[test]
fn every_group_patch_rule() {
    let s = Server::start();
    let u = s.user("rule@example.com");
    let other = s.user("other@example.com");
    let g = s.group("Rules");
    assert_eq!(s.patch(&format!("/Groups/{g}"), &add(&[&u])).status, 204);
    let path = format!("/Groups/{g}");
    let before = (s.get(&path).json(), members_of(&s, &g));
    let hundred_and_one: Vec<Value> = (0..101).map(|i| json!({"value": format!("x{i}")})).collect();
    let fifty: Vec<Value> = (0..50).map(|i| json!({"value": format!("z{i}")})).collect();
    for (body, detail) in [
        (ops(json!([{"op": "replace", "path": "members", "value": [{"value": other}]}])), UNPARSABLE),
        (ops(json!([{"op": "replace", "path": "members", "value": []}])), UNPARSABLE),
        (ops(json!([{"op": "remove", "path": "members"}])), UNPARSABLE),
        (ops(json!([{"op": "remove", "path": "members", "value": []}])), UNPARSABLE),
        (ops(json!([{"op": "add", "path": "members", "value": hundred_and_one}])), UNPARSABLE),
        (
            ops(
                json!([{"op": "add", "path": "members", "value": [{"value": other}]}, {"op": "add", "path": "members", "value": fifty}, {"op": "remove", "path": "members", "value": (0..50).map(|i| json!({"value": format!("y{i}")})).collect::<Vec<_>>()}]),
            ),
            UNPARSABLE,
        ),
        (
            ops(json!([{"op": "add", "path": "members", "value": [{"value": other}, {"value": "no-such-user"}]}])),
            UNPARSABLE,
        ),
        (ops(json!([{"op": "add", "path": "members", "value": [{"value": g}]}])), UNPARSABLE),
        (ops(json!([{"op": "add", "path": "members", "value": [{"value": other, "type": "Group"}]}])), UNPARSABLE),
        (ops(json!([{"op": "replace", "value": {"displayName": "A", "externalId": "B"}}])), PATHLESS),
        (ops(json!([{"op": "replace", "value": "New name"}])), PATHLESS),
        (ops(json!([{"op": "replace", "path": "description", "value": "x"}])), UNPARSABLE),
        (
            ops(
                json!([{"op": "replace", "path": "displayName", "value": "ok"}, {"op": "remove", "path": "displayName"}]),
            ),
            UNPARSABLE,
        ),
        (ops(json!([{"op": "add", "path": "members[value eq \"x\"]", "value": [{"value": other}]}])), UNPARSABLE),
        (ops(json!([{"op": "remove", "path": "members[display eq \"x\"]"}])), UNPARSABLE),
    ] {
        s.patch(&path, &body).assert_error(400, detail);
        assert_eq!((s.get(&path).json(), members_of(&s, &g)), before, "a refused PATCH changes nothing: {body}");
    }
    // 100 changes across operations is the limit, not more.
    let batch: Vec<Value> = (0..99).map(|i| json!({"value": format!("gone-{i}")})).collect();
    let ok = ops(
        json!([{"op": "remove", "path": "members", "value": batch}, {"op": "add", "path": "members", "value": [{"value": other}]}]),
    );
    assert_eq!(s.patch(&path, &ok).status, 204);
    // Renaming onto another group's name conflicts.
    s.group("Taken");
    s.patch(&path, &ops(json!([{"op": "replace", "path": "displayName", "value": "TAKEN"}])))
        .assert_error(409, DUPLICATE);
    s.patch("/Groups/nope", &add(&[&u])).assert_error(404, "Specified group does not exist.");
    // A membership filter naming a user that does not exist is a 404, as AWS documents.
    s.get(&format!("/Groups?filter={}", enc("members.value eq \"no-such-user\"")))
        .assert_error(404, "Specified user does not exist.");
    s.get(&format!("/Groups?filter={}", enc(&format!("id eq \"{g}\" and members eq \"ghost\""))))
        .assert_error(404, "Specified user does not exist.");
    for bad in ["displayName co \"R\"", "members.display eq \"x\"", "displayName eq \"a\" and externalId eq \"b\""] {
        s.get(&format!("/Groups?filter={}", enc(bad))).assert_error(400, UNPARSABLE);
    }
}

#[test]
fn create_with_members_and_deletes_clean_memberships() {
    let s = Server::start();
    let users: Vec<String> = (0..100).map(|i| s.user(&format!("m{i}@example.com"))).collect();
    let members: Vec<Value> = users.iter().map(|u| json!({"value": u, "display": "x"})).collect();
    let r = s.post("/Groups", &json!({"displayName": "Big", "members": members}));
    assert_eq!(r.status, 201, "{}", r.text);
    let g = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(members_of(&s, &g).len(), 100);
    let mut too_many = members.clone();
    too_many.push(json!({"value": "one-more"}));
    s.post("/Groups", &json!({"displayName": "Bigger", "members": too_many})).assert_error(400, UNPARSABLE);
    s.post("/Groups", &json!({"displayName": "Ghosts", "members": [{"value": "ghost"}]})).assert_error(400, UNPARSABLE);
    assert_eq!(
        s.get(&format!("/Groups?filter={}", enc("displayName eq \"Ghosts\""))).json()["totalResults"],
        0,
        "no half-written group"
    );
    for bad in
        [json!({"members": []}), json!({"displayName": ""}), json!({"displayName": "a:b"}), json!({"displayName": 5})]
    {
        s.post("/Groups", &bad).assert_error(400, UNPARSABLE);
    }
    // Deleting a user drops its memberships.
    assert_eq!(s.delete(&format!("/Users/{}", users[0])).status, 204);
    assert_eq!(members_of(&s, &g).len(), 99);
    // Deleting a group drops its memberships.
    assert!(is_member(&s, &g, &users[1]));
    assert_eq!(s.delete(&format!("/Groups/{g}")).status, 204);
    assert!(groups_of(&s, &users[1]).is_empty());
}

#[test]
fn members_never_cross_tenants() {
    let s = Server::start();
    let g = s.group("Mine");
    let other = support::create_tenant(&s.db);
    let (tenant, token) = (other["tenant_id"].as_str().unwrap(), other["token"].as_str().unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let foreign = loop {
        let r = Req::new(&s.addr, "POST", &format!("/{tenant}/scim/v2/Users"))
            .bearer(token)
            .json(&user_body("f@example.com"))
            .send();
        if r.status == 201 {
            break r.json()["id"].as_str().unwrap().to_owned();
        }
        assert!(std::time::Instant::now() < deadline);
        thread::sleep(std::time::Duration::from_millis(50));
    };
    s.patch(&format!("/Groups/{g}"), &add(&[&foreign])).assert_error(400, UNPARSABLE);
    s.get(&format!("/Groups?filter={}", enc(&format!("members.value eq \"{foreign}\""))))
        .assert_error(404, "Specified user does not exist.");
    let theirs = Req::new(&s.addr, "GET", &format!("/{tenant}/scim/v2/Groups/{g}")).bearer(token).send();
    theirs.assert_error(404, "Specified group does not exist.");
}

#[test]
fn concurrent_patches_adding_different_members_all_land() {
    let s = Server::start();
    let g = s.group("Concurrent");
    let users: Vec<String> = (0..24).map(|i| s.user(&format!("c{i}@example.com"))).collect();
    thread::scope(|scope| {
        for u in &users {
            let (s, g) = (&s, &g);
            scope.spawn(move || assert_eq!(s.patch(&format!("/Groups/{g}"), &add(&[u])).status, 204));
        }
    });
    let mut expected = users.clone();
    expected.sort();
    assert_eq!(members_of(&s, &g), expected);
}

#[test]
fn a_group_of_ten_thousand_members_behaves_like_a_small_one() {
    let s = Server::start();
    let g = s.group("Everyone");
    let ids: Vec<String> = thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let s = &s;
                scope.spawn(move || (0..1250).map(|i| s.user(&format!("u{t}-{i}@example.com"))).collect::<Vec<_>>())
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(ids.len(), 10_000);
    thread::scope(|scope| {
        for chunk in ids.chunks(100 * 25) {
            let (s, g) = (&s, &g);
            scope.spawn(move || {
                for batch in chunk.chunks(100) {
                    let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
                    assert_eq!(s.patch(&format!("/Groups/{g}"), &add(&refs)).status, 204);
                }
            });
        }
    });
    let newcomer = s.user("newcomer@example.com");
    assert!(!is_member(&s, &g, &newcomer));
    assert_eq!(s.patch(&format!("/Groups/{g}"), &add(&[&newcomer])).status, 204);
    assert!(is_member(&s, &g, &newcomer) && is_member(&s, &g, &ids[9_999]));
    let remove = ops(json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", ids[0])}]));
    assert_eq!(s.patch(&format!("/Groups/{g}"), &remove).status, 204);
    assert!(!is_member(&s, &g, &ids[0]));
    let page = s.get(&format!("/Users?count=100&filter={}", enc(&format!("groups.value eq \"{g}\"")))).json();
    assert_eq!(page["totalResults"], 10_000);
    assert_eq!(page["itemsPerPage"], 100);
}
