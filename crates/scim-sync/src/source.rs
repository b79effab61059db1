//! The desired state: what the target should hold, read from a JSON document or another SCIM
//! endpoint, with nested groups flattened into their users.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Value, json};

use scim_client::Client;
use scim_schema::ResourceKind;

use crate::error::{Error, Result};

/// One group of the desired state, its nested groups already flattened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredGroup {
    /// `displayName`.
    pub display_name: String,
    /// `externalId`, when the source gives one.
    pub external_id: Option<String>,
    /// The `userName`s of its members, direct and through nested groups, sorted.
    pub members: BTreeSet<String>,
}

/// The desired state.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Desired {
    /// SCIM User objects, as the source gives them.
    pub users: Vec<Value>,
    /// Groups with their flattened members.
    pub groups: Vec<DesiredGroup>,
}

/// A group as the document gives it, before flattening.
#[derive(Debug)]
struct RawGroup {
    name: String,
    external_id: Option<String>,
    members: Vec<String>,
    nested: Vec<String>,
}

/// Reads the document `{"users": [...], "groups": [{"displayName", "externalId"?, "members":
/// [userName...], "groups": [displayName...]?}]}`.
pub fn from_document(document: &Value) -> Result<Desired> {
    let list = |key: &str| match &document[key] {
        Value::Array(items) => Ok(items.as_slice()),
        Value::Null => Ok(&[][..]),
        _ => Err(Error::Source(format!("{key} must be a list"))),
    };
    let users = list("users")?.to_vec();
    let mut user_names = BTreeSet::new();
    for user in &users {
        let name = user["userName"].as_str().ok_or_else(|| Error::Source(format!("a user has no userName: {user}")))?;
        if !user_names.insert(name.to_owned()) {
            return Err(Error::Source(format!("userName {name:?} appears twice")));
        }
    }
    let strings = |group: &Value, key: &str, name: &str| -> Result<Vec<String>> {
        match &group[key] {
            Value::Null => Ok(Vec::new()),
            Value::Array(items) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<String>>>()
                .ok_or_else(|| Error::Source(format!("group {name:?}: {key} must be a list of names"))),
            _ => Err(Error::Source(format!("group {name:?}: {key} must be a list of names"))),
        }
    };
    let mut raw: Vec<RawGroup> = Vec::new();
    for group in list("groups")? {
        let name = group["displayName"]
            .as_str()
            .ok_or_else(|| Error::Source(format!("a group has no displayName: {group}")))?
            .to_owned();
        if raw.iter().any(|g| g.name == name) {
            return Err(Error::Source(format!("group {name:?} appears twice")));
        }
        let members = strings(group, "members", &name)?;
        if let Some(unknown) = members.iter().find(|m| !user_names.contains(*m)) {
            return Err(Error::Source(format!("group {name:?} names the unknown user {unknown:?}")));
        }
        let external_id = group["externalId"].as_str().map(str::to_owned);
        let nested = strings(group, "groups", &name)?;
        raw.push(RawGroup { name, external_id, members, nested });
    }
    let index: HashMap<&str, usize> = raw.iter().enumerate().map(|(i, g)| (g.name.as_str(), i)).collect();
    let nested: Vec<Vec<usize>> = raw
        .iter()
        .map(|RawGroup { name, nested, .. }| {
            nested
                .iter()
                .map(|g| {
                    index
                        .get(g.as_str())
                        .copied()
                        .ok_or_else(|| Error::Source(format!("group {name:?} nests the unknown group {g:?}")))
                })
                .collect()
        })
        .collect::<Result<_>>()?;
    let mut groups = Vec::with_capacity(raw.len());
    for (i, group) in raw.iter().enumerate() {
        let mut members = BTreeSet::new();
        collect(i, &raw, &nested, &mut vec![i], &mut members)?;
        groups.push(DesiredGroup { display_name: group.name.clone(), external_id: group.external_id.clone(), members });
    }
    Ok(Desired { users, groups })
}

/// Adds group `i`'s direct members and those of its nested groups, depth first; `path` is the
/// chain of groups being expanded, so a group met again on it is a cycle.
fn collect(
    i: usize,
    raw: &[RawGroup],
    nested: &[Vec<usize>],
    path: &mut Vec<usize>,
    members: &mut BTreeSet<String>,
) -> Result<()> {
    members.extend(raw[i].members.iter().cloned());
    for &child in &nested[i] {
        if let Some(start) = path.iter().position(|&g| g == child) {
            let mut names: Vec<String> = path[start..].iter().map(|&g| raw[g].name.clone()).collect();
            names.push(raw[child].name.clone());
            return Err(Error::Cycle(names));
        }
        path.push(child);
        collect(child, raw, nested, path, members)?;
        path.pop();
    }
    Ok(())
}

/// Reads the desired state from another SCIM endpoint: its Users as they are (without `id`,
/// `meta` and `groups`), its Groups with members by `userName` and nested groups by name.
pub async fn from_endpoint(source: &Client) -> Result<Desired> {
    let users = source.list(ResourceKind::User, None).await?;
    let groups = source.list(ResourceKind::Group, None).await?;
    let user_names: HashMap<&str, &str> =
        users.iter().filter_map(|u| Some((u["id"].as_str()?, u["userName"].as_str()?))).collect();
    let group_names: HashMap<&str, &str> =
        groups.iter().filter_map(|g| Some((g["id"].as_str()?, g["displayName"].as_str()?))).collect();
    let mut document_groups = Vec::with_capacity(groups.len());
    for group in &groups {
        let id = group["id"].as_str().unwrap_or_default();
        let member_ids = if source.capabilities().returns_members() {
            group["members"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["value"].as_str())
                .map(str::to_owned)
                .collect()
        } else {
            source.group_members(id).await?
        };
        let members: Vec<&str> = member_ids.iter().filter_map(|m| user_names.get(m.as_str()).copied()).collect();
        let nested: Vec<&str> = member_ids.iter().filter_map(|m| group_names.get(m.as_str()).copied()).collect();
        document_groups.push(json!({"displayName": group["displayName"], "externalId": group["externalId"],
                                    "members": members, "groups": nested}));
    }
    let users: Vec<Value> = users
        .into_iter()
        .map(|mut user| {
            if let Some(object) = user.as_object_mut() {
                for key in ["id", "meta", "groups", "schemas"] {
                    object.remove(key);
                }
            }
            user
        })
        .collect();
    from_document(&json!({"users": users, "groups": document_groups}))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn user(name: &str) -> Value {
        json!({"userName": name})
    }

    #[test]
    fn nested_groups_are_flattened() {
        let doc = json!({"users": [user("a"), user("b"), user("c")], "groups": [
            {"displayName": "All", "members": ["a"], "groups": ["Eng"]},
            {"displayName": "Eng", "externalId": "e1", "members": ["b"], "groups": ["Ops"]},
            {"displayName": "Ops", "members": ["c", "b"]}
        ]});
        let desired = from_document(&doc).unwrap();
        let members: Vec<Vec<&str>> =
            desired.groups.iter().map(|g| g.members.iter().map(String::as_str).collect()).collect();
        assert_eq!(members, [vec!["a", "b", "c"], vec!["b", "c"], vec!["b", "c"]]);
        assert_eq!(desired.groups[1].external_id.as_deref(), Some("e1"));
    }

    #[test]
    fn a_cycle_is_named() {
        let doc = json!({"users": [], "groups": [
            {"displayName": "A", "groups": ["B"]},
            {"displayName": "B", "groups": ["C"]},
            {"displayName": "C", "groups": ["A"]}
        ]});
        match from_document(&doc) {
            Err(Error::Cycle(names)) => assert_eq!(names, ["A", "B", "C", "A"]),
            other => panic!("{other:?}"),
        }
        let doc = json!({"groups": [{"displayName": "S", "groups": ["S"]}]});
        assert_eq!(from_document(&doc).unwrap_err().to_string(), "source: nested groups form a cycle: S -> S");
    }

    #[test]
    fn inconsistent_documents_are_refused() {
        for (doc, why) in [
            (json!({"users": {}}), "users must be a list"),
            (json!({"users": [{}]}), "a user has no userName"),
            (json!({"users": [user("a"), user("a")]}), "appears twice"),
            (json!({"groups": [{"displayName": "G", "members": ["x"]}]}), "unknown user \"x\""),
            (json!({"groups": [{"displayName": "G", "groups": ["H"]}]}), "unknown group \"H\""),
            (json!({"groups": [{"displayName": "G", "members": [1]}]}), "list of names"),
        ] {
            let error = from_document(&doc).unwrap_err().to_string();
            assert!(error.contains(why), "{error}");
        }
    }

    #[test]
    fn the_example_document_reads_and_its_users_pass_identity_centers_rules() {
        let text = include_str!("../examples/people.json");
        let desired = from_document(&serde_json::from_str(text).unwrap()).unwrap();
        let everyone = desired.groups.iter().find(|g| g.display_name == "Everyone").unwrap();
        assert_eq!(everyone.members.len(), 3, "nested through Engineering and Platform");
        let map =
            crate::mapping::AttributeMap::parse(&serde_json::from_str(include_str!("../examples/map.json")).unwrap());
        let map = map.unwrap();
        let profile = scim_schema::ProfileName::IdentityCenter.profile();
        for user in &desired.users {
            let body = crate::plan::user_body(&map.apply(user));
            scim_schema::resource::parse(profile, ResourceKind::User, &body).unwrap();
        }
    }
}
