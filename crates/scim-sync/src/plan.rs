//! The plan: the difference between the desired state and the target, as the writes that
//! would close it.
//!
//! Ownership lives in the target itself. Everything `apply` creates or adopts gets an
//! `externalId` of [`MARKER`] followed by its key (the source's `externalId`, else `userName`
//! or `displayName`). A desired resource matches a target one by that marked `externalId`,
//! then by the source's own `externalId`, then by `userName` (Users) or `displayName` (Groups);
//! a match is adopted. Only marked resources are ever deactivated or deleted, and resources
//! that match nothing desired and carry no marker are never written.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde_json::{Map, Value, json};

use scim_client::{Capabilities, Client};
use scim_filter::{AttrPath, Filter};
use scim_schema::definition::USER;
use scim_schema::{Profile, ResourceKind, eval, resource};

use tokio::task::JoinSet;

use crate::error::{Error, Result};
use crate::source::Desired;

/// The prefix of the `externalId` of every resource scim-sync manages. It avoids the
/// characters Identity Center refuses (`: ; < > %`).
pub const MARKER: &str = "scim-sync.";

const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// Which part of the source and target a run may touch.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Users must match this filter to be in scope.
    pub include_users: Option<Filter>,
    /// Users matching this filter are out of scope.
    pub exclude_users: Option<Filter>,
    /// Groups must match this filter to be in scope.
    pub include_groups: Option<Filter>,
    /// Groups matching this filter are out of scope.
    pub exclude_groups: Option<Filter>,
}

impl Scope {
    fn admits(kind: ResourceKind, include: &Option<Filter>, exclude: &Option<Filter>, resource: &Value) -> bool {
        let test = |filter: &Filter| eval::matches(kind, resource, filter).unwrap_or(false);
        include.as_ref().is_none_or(test) && !exclude.as_ref().is_some_and(test)
    }

    fn user(&self, user: &Value) -> bool {
        Scope::admits(ResourceKind::User, &self.include_users, &self.exclude_users, user)
    }

    fn group(&self, group: &Value) -> bool {
        Scope::admits(ResourceKind::Group, &self.include_groups, &self.exclude_groups, group)
    }
}

/// What the target holds now, as far as the plan needs it.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// Every User.
    pub users: Vec<Value>,
    /// Every Group.
    pub groups: Vec<Value>,
    /// The member ids of the Groups that match a desired group, by Group id.
    pub members: HashMap<String, BTreeSet<String>>,
}

/// Reads the target: all Users and Groups, and the members of the Groups the plan may change,
/// `concurrency` Groups at a time.
pub async fn read_target(client: &Client, desired: &Desired, concurrency: usize) -> Result<Target> {
    let users = client.list(ResourceKind::User, None).await?;
    let groups = client.list(ResourceKind::Group, None).await?;
    let mut target = Target { users, groups, members: HashMap::new() };
    let wanted: Vec<Value> = desired.groups.iter().map(group_body).collect();
    let mut ids = match_all(&wanted, &target.groups, ResourceKind::Group)
        .into_iter()
        .flatten()
        .map(|i| text(&target.groups[i], "id").to_owned());
    let mut reads = JoinSet::new();
    loop {
        while reads.len() < concurrency.max(1) {
            let Some(id) = ids.next() else { break };
            let client = client.clone();
            reads.spawn(async move {
                let members = client.group_members(&id).await;
                (id, members)
            });
        }
        let Some(joined) = reads.join_next().await else { return Ok(target) };
        let (id, members) =
            joined.map_err(|e| Error::Client(scim_client::Error::Transport(format!("a read task failed: {e}"))))?;
        target.members.insert(id, members?.into_iter().collect());
    }
}

/// A change to one User.
#[derive(Debug, Clone, PartialEq)]
pub enum UserAction {
    /// Create it with this body.
    Create {
        /// The `userName`.
        user_name: String,
        /// The POST body.
        body: Value,
    },
    /// Replace the attributes that differ.
    Update {
        /// The target id.
        id: String,
        /// The `userName` (the new one, when it changes).
        user_name: String,
        /// The changed attributes and their new values, by path.
        changes: Vec<(AttrPath, Value)>,
    },
}

/// A user or group that left the source.
#[derive(Debug, Clone, PartialEq)]
pub enum Removal {
    /// Set the user's `active` to false (the default).
    DeactivateUser {
        /// The target id.
        id: String,
        /// The `userName`.
        user_name: String,
    },
    /// Delete the user (`--delete-missing`).
    DeleteUser {
        /// The target id.
        id: String,
        /// The `userName`.
        user_name: String,
    },
    /// Delete the group (`--delete-missing`).
    DeleteGroup {
        /// The target id.
        id: String,
        /// The `displayName`.
        display_name: String,
    },
}

/// A change to one Group's own attributes.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupAction {
    /// Create it with this body (members follow as a membership change).
    Create {
        /// The `displayName`.
        display_name: String,
        /// The POST body.
        body: Value,
    },
    /// Rename it, or mark it as managed.
    Update {
        /// The target id.
        id: String,
        /// The `displayName` it has now.
        from: String,
        /// The `displayName` it gets.
        display_name: String,
        /// The changed attributes and their new values.
        changes: Vec<(AttrPath, Value)>,
    },
}

/// Member additions and removals of one Group.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberChange {
    /// The Group's `displayName` (the new one).
    pub group: String,
    /// The Group's id, `None` while it is still to be created.
    pub group_id: Option<String>,
    /// The `userName`s to add.
    pub add: Vec<String>,
    /// The members to remove: id and a label (`userName` when known).
    pub remove: Vec<(String, String)>,
}

/// A desired resource that the target would refuse, with the one reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `user` or `group`.
    pub kind: &'static str,
    /// Its `userName` or `displayName`.
    pub name: String,
    /// Why.
    pub reason: String,
}

/// Every write a run would make, in the order `apply` makes them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// User changes.
    pub users: Vec<UserAction>,
    /// Group changes.
    pub groups: Vec<GroupAction>,
    /// Membership changes.
    pub members: Vec<MemberChange>,
    /// Deactivations and deletions, made last.
    pub removals: Vec<Removal>,
    /// Desired resources refused before sending.
    pub refused: Vec<Refusal>,
    /// Target id of every matched desired user, by `userName`.
    pub user_ids: HashMap<String, String>,
}

impl Plan {
    /// Whether the plan writes nothing.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.groups.is_empty() && self.members.is_empty() && self.removals.is_empty()
    }
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or_default()
}

/// The key of a desired resource: its `externalId`, else its name.
fn key<'a>(body: &'a Value, name: &str) -> &'a str {
    body["externalId"].as_str().filter(|e| !e.is_empty() && !e.starts_with(MARKER)).unwrap_or_else(|| text(body, name))
}

fn group_body(group: &crate::source::DesiredGroup) -> Value {
    let external_id = group.external_id.as_deref().unwrap_or(&group.display_name);
    json!({"schemas": [GROUP], "displayName": group.display_name, "externalId": format!("{MARKER}{external_id}")})
}

/// For each desired resource (already carrying its marked `externalId`), the index of the target
/// resource it matches, each target matched at most once.
fn match_all(desired: &[Value], target: &[Value], kind: ResourceKind) -> Vec<Option<usize>> {
    let name = if kind == ResourceKind::User { "userName" } else { "displayName" };
    let mut by_external: HashMap<&str, usize> = HashMap::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for (i, resource) in target.iter().enumerate() {
        if let Some(external_id) = resource["externalId"].as_str() {
            by_external.entry(external_id).or_insert(i);
        }
        by_name.entry(text(resource, name).to_lowercase()).or_insert(i);
    }
    let mut taken = HashSet::new();
    desired
        .iter()
        .map(|body| {
            let marked = text(body, "externalId");
            let plain = marked.strip_prefix(MARKER).unwrap_or(marked);
            let candidates = [
                by_external.get(marked).copied(),
                by_external.get(plain).copied(),
                by_name.get(&text(body, name).to_lowercase()).copied(),
            ];
            let found = candidates.into_iter().flatten().find(|i| !taken.contains(i));
            if let Some(i) = found {
                taken.insert(i);
            }
            found
        })
        .collect()
}

/// The desired User body: the source user with its marked `externalId`, `active` (true unless
/// the source says otherwise) and `schemas`, without what a client never writes.
pub fn user_body(user: &Value) -> Value {
    let mut body = user.as_object().cloned().unwrap_or_default();
    for read_only in ["id", "meta", "groups", "schemas"] {
        body.remove(read_only);
    }
    body.retain(|_, v| !v.is_null());
    let external_id = format!("{MARKER}{}", key(user, "userName"));
    body.insert("externalId".into(), Value::String(external_id));
    body.entry("active").or_insert(Value::Bool(true));
    let mut schemas = vec![Value::from(USER)];
    schemas.extend(body.keys().filter(|k| k.starts_with("urn:")).map(|k| Value::from(k.as_str())));
    body.insert("schemas".into(), Value::Array(schemas));
    Value::Object(body)
}

/// The attributes of `desired` whose canonical value differs in `current`, as replace paths.
fn changes(
    profile: &Profile,
    kind: ResourceKind,
    desired: &Map<String, Value>,
    current: &Value,
) -> Vec<(AttrPath, Value)> {
    let current = resource::parse(profile, kind, current).map(|r| r.attrs).unwrap_or_default();
    let mut out = Vec::new();
    for (name, value) in desired {
        if kind.extension(name).is_some() {
            let now = current.get(name).and_then(Value::as_object);
            for (sub, sub_value) in value.as_object().into_iter().flatten() {
                if now.and_then(|n| n.get(sub)) != Some(sub_value) {
                    let path = AttrPath { schema: Some(name.clone()), name: sub.clone(), sub_attr: None };
                    out.push((path, sub_value.clone()));
                }
            }
        } else if current.get(name) != Some(value) {
            out.push((AttrPath::new(name.as_str()), value.clone()));
        }
    }
    out
}

/// Computes the plan.
pub fn diff(caps: &Capabilities, desired: &Desired, target: &Target, scope: &Scope, delete_missing: bool) -> Plan {
    let profile = caps.profile();
    let mut plan = Plan::default();

    // Users.
    // A refused user is still matched: it is left exactly as it is, never deactivated, and
    // keeps its memberships; one that does not exist yet is simply not created.
    let in_scope: Vec<_> = desired
        .users
        .iter()
        .filter(|u| scope.user(u))
        .map(|user| {
            let body = user_body(user);
            let parsed = resource::parse(profile, ResourceKind::User, &body).map(|r| r.attrs).map_err(|e| e.detail);
            (body, parsed)
        })
        .collect();
    let bodies: Vec<Value> = in_scope.iter().map(|(b, _)| b.clone()).collect();
    let matched = match_all(&bodies, &target.users, ResourceKind::User);
    let mut kept: HashSet<usize> = HashSet::new();
    let mut desired_names: BTreeSet<String> = BTreeSet::new();
    for ((body, parsed), found) in in_scope.into_iter().zip(&matched) {
        let user_name = text(&body, "userName").to_owned();
        if let Some(i) = found {
            kept.insert(*i);
            plan.user_ids.insert(user_name.clone(), text(&target.users[*i], "id").to_owned());
        }
        let attrs = match parsed {
            Ok(attrs) => attrs,
            Err(reason) => {
                if found.is_some() {
                    desired_names.insert(user_name.clone());
                }
                plan.refused.push(Refusal { kind: "user", name: user_name, reason });
                continue;
            }
        };
        desired_names.insert(user_name.clone());
        match found {
            None => plan.users.push(UserAction::Create { user_name, body }),
            Some(i) => {
                let current = &target.users[*i];
                let changes = changes(profile, ResourceKind::User, &attrs, current);
                if !changes.is_empty() {
                    let id = text(current, "id").to_owned();
                    plan.users.push(UserAction::Update { id, user_name, changes });
                }
            }
        }
    }
    for (i, user) in target.users.iter().enumerate() {
        if kept.contains(&i) || !text(user, "externalId").starts_with(MARKER) || !scope.user(user) {
            continue;
        }
        let (id, user_name) = (text(user, "id").to_owned(), text(user, "userName").to_owned());
        if delete_missing {
            plan.removals.push(Removal::DeleteUser { id, user_name });
        } else if user["active"] != Value::Bool(false) {
            plan.removals.push(Removal::DeactivateUser { id, user_name });
        }
    }

    // Groups.
    let groups: Vec<_> = desired.groups.iter().map(|g| (g, group_body(g))).filter(|(_, b)| scope.group(b)).collect();
    let bodies: Vec<Value> = groups.iter().map(|(_, b)| b.clone()).collect();
    let matched = match_all(&bodies, &target.groups, ResourceKind::Group);
    let user_names: HashMap<&str, &Value> = target.users.iter().map(|u| (text(u, "id"), u)).collect();
    let mut kept = HashSet::new();
    for ((group, body), found) in groups.into_iter().zip(matched) {
        let display_name = group.display_name.clone();
        let wanted: BTreeSet<&str> =
            group.members.iter().map(String::as_str).filter(|n| desired_names.contains(*n)).collect();
        let Some(i) = found else {
            if let Err(why) = resource::parse(profile, ResourceKind::Group, &body) {
                plan.refused.push(Refusal { kind: "group", name: display_name, reason: why.detail });
                continue;
            }
            plan.groups.push(GroupAction::Create { display_name: display_name.clone(), body });
            if !wanted.is_empty() {
                let add = wanted.iter().map(|n| (*n).to_owned()).collect();
                plan.members.push(MemberChange { group: display_name, group_id: None, add, remove: Vec::new() });
            }
            continue;
        };
        kept.insert(i);
        let current = &target.groups[i];
        let id = text(current, "id").to_owned();
        let attrs = resource::parse(profile, ResourceKind::Group, &body).map(|r| r.attrs).unwrap_or_default();
        let changes = changes(profile, ResourceKind::Group, &attrs, current);
        if !changes.is_empty() {
            let from = text(current, "displayName").to_owned();
            plan.groups.push(GroupAction::Update { id: id.clone(), from, display_name: display_name.clone(), changes });
        }
        let now = target.members.get(&id).cloned().unwrap_or_default();
        let wanted_ids: HashSet<&str> =
            wanted.iter().filter_map(|n| plan.user_ids.get(*n).map(String::as_str)).collect();
        let add: Vec<String> = wanted
            .iter()
            .filter(|n| plan.user_ids.get(**n).is_none_or(|id| !now.contains(id)))
            .map(|n| (*n).to_owned())
            .collect();
        let remove: Vec<(String, String)> = now
            .iter()
            .filter(|m| !wanted_ids.contains(m.as_str()))
            // A member the scope excludes is none of this run's business.
            .filter(|m| user_names.get(m.as_str()).is_none_or(|u| scope.user(u)))
            .map(|m| {
                (m.clone(), user_names.get(m.as_str()).map_or_else(|| m.clone(), |u| text(u, "userName").to_owned()))
            })
            .collect();
        if !add.is_empty() || !remove.is_empty() {
            plan.members.push(MemberChange { group: display_name, group_id: Some(id), add, remove });
        }
    }
    if delete_missing {
        for (i, group) in target.groups.iter().enumerate() {
            if !kept.contains(&i) && text(group, "externalId").starts_with(MARKER) && scope.group(group) {
                let (id, display_name) = (text(group, "id").to_owned(), text(group, "displayName").to_owned());
                plan.removals.push(Removal::DeleteGroup { id, display_name });
            }
        }
    }
    plan
}

/// The plan as JSON, for `--json`.
pub fn to_json(plan: &Plan) -> Value {
    let changed =
        |changes: &[(AttrPath, Value)]| -> Vec<String> { changes.iter().map(|(p, _)| p.to_string()).collect() };
    let users: Vec<Value> = plan
        .users
        .iter()
        .map(|action| match action {
            UserAction::Create { user_name, .. } => json!({"action": "create", "userName": user_name}),
            UserAction::Update { id, user_name, changes } => {
                json!({"action": "update", "id": id, "userName": user_name, "attributes": changed(changes)})
            }
        })
        .collect();
    let groups: Vec<Value> = plan
        .groups
        .iter()
        .map(|action| match action {
            GroupAction::Create { display_name, .. } => json!({"action": "create", "displayName": display_name}),
            GroupAction::Update { id, from, display_name, changes } => {
                json!({"action": if from == display_name { "update" } else { "rename" },
                "id": id, "from": from, "displayName": display_name, "attributes": changed(changes)})
            }
        })
        .collect();
    let removals: Vec<Value> = plan
        .removals
        .iter()
        .map(|removal| match removal {
            Removal::DeactivateUser { id, user_name } => {
                json!({"action": "deactivate", "id": id, "userName": user_name})
            }
            Removal::DeleteUser { id, user_name } => json!({"action": "delete", "id": id, "userName": user_name}),
            Removal::DeleteGroup { id, display_name } => {
                json!({"action": "delete group", "id": id, "displayName": display_name})
            }
        })
        .collect();
    let members: Vec<Value> = plan
        .members
        .iter()
        .map(|m| {
            let removed: Vec<&str> = m.remove.iter().map(|(_, label)| label.as_str()).collect();
            json!({"group": m.group, "add": m.add, "remove": removed})
        })
        .collect();
    let refused: Vec<Value> =
        plan.refused.iter().map(|r| json!({"kind": r.kind, "name": r.name, "reason": r.reason})).collect();
    json!({"users": users, "groups": groups, "members": members, "removals": removals, "refused": refused,
           "summary": summary(plan)})
}

/// Counts by kind of change.
pub fn summary(plan: &Plan) -> BTreeMap<&'static str, usize> {
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for action in &plan.users {
        let name = match action {
            UserAction::Create { .. } => "users_create",
            UserAction::Update { .. } => "users_update",
        };
        *counts.entry(name).or_default() += 1;
    }
    for action in &plan.groups {
        let name = match action {
            GroupAction::Create { .. } => "groups_create",
            GroupAction::Update { .. } => "groups_update",
        };
        *counts.entry(name).or_default() += 1;
    }
    for removal in &plan.removals {
        let name = match removal {
            Removal::DeactivateUser { .. } => "users_deactivate",
            Removal::DeleteUser { .. } => "users_delete",
            Removal::DeleteGroup { .. } => "groups_delete",
        };
        *counts.entry(name).or_default() += 1;
    }
    counts.insert("members_add", plan.members.iter().map(|m| m.add.len()).sum());
    counts.insert("members_remove", plan.members.iter().map(|m| m.remove.len()).sum());
    counts.insert("refused", plan.refused.len());
    counts
}

/// The plan for people, one line per change.
pub fn to_text(plan: &Plan) -> String {
    let mut out = String::new();
    for action in &plan.users {
        let line = match action {
            UserAction::Create { user_name, .. } => format!("+ user {user_name}"),
            UserAction::Update { user_name, changes, .. } => {
                let names: Vec<String> = changes.iter().map(|(p, _)| p.to_string()).collect();
                format!("~ user {user_name}: {}", names.join(", "))
            }
        };
        out.push_str(&line);
        out.push('\n');
    }
    for action in &plan.groups {
        let line = match action {
            GroupAction::Create { display_name, .. } => format!("+ group {display_name}"),
            GroupAction::Update { from, display_name, .. } if from != display_name => {
                format!("~ group {from} -> {display_name} (rename)")
            }
            GroupAction::Update { display_name, changes, .. } => {
                let names: Vec<String> = changes.iter().map(|(p, _)| p.to_string()).collect();
                format!("~ group {display_name}: {}", names.join(", "))
            }
        };
        out.push_str(&line);
        out.push('\n');
    }
    for removal in &plan.removals {
        let line = match removal {
            Removal::DeactivateUser { user_name, .. } => format!("- user {user_name} (deactivate)"),
            Removal::DeleteUser { user_name, .. } => format!("- user {user_name} (delete)"),
            Removal::DeleteGroup { display_name, .. } => format!("- group {display_name} (delete)"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    for change in &plan.members {
        let removed: Vec<&str> = change.remove.iter().map(|(_, label)| label.as_str()).collect();
        out.push_str(&format!("~ group {} members:", change.group));
        if !change.add.is_empty() {
            out.push_str(&format!(" +{} ({})", change.add.len(), names(change.add.iter().map(String::as_str))));
        }
        if !removed.is_empty() {
            out.push_str(&format!(" -{} ({})", removed.len(), names(removed.iter().copied())));
        }
        out.push('\n');
    }
    for refusal in &plan.refused {
        out.push_str(&format!("! {} {} refused: {}\n", refusal.kind, refusal.name, refusal.reason));
    }
    let counts: Vec<String> = summary(plan).iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{k} {n}")).collect();
    if counts.is_empty() {
        out.push_str("Plan: no changes.\n");
    } else {
        out.push_str(&format!("Plan: {}.\n", counts.join(", ")));
    }
    out
}

/// At most five names, then how many more.
fn names<'a>(all: impl ExactSizeIterator<Item = &'a str>) -> String {
    let total = all.len();
    let shown: Vec<&str> = all.take(5).collect();
    if total > shown.len() {
        format!("{}, and {} more", shown.join(", "), total - shown.len())
    } else {
        shown.join(", ")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::source::from_document;
    use scim_schema::ProfileName;
    use scim_schema::discovery::service_provider_config;

    fn caps() -> Capabilities {
        Capabilities::from_config(&service_provider_config(ProfileName::IdentityCenter.profile()))
    }

    fn user(name: &str) -> Value {
        json!({"userName": name, "displayName": "D", "name": {"givenName": "G", "familyName": "F"}})
    }

    /// What the target would hold after creating `body` with `id`.
    fn stored(body: &Value, id: &str) -> Value {
        let mut stored = body.clone();
        stored["id"] = json!(id);
        stored["meta"] = json!({"resourceType": "User"});
        stored
    }

    #[test]
    fn creates_adopts_updates_and_deactivates_only_what_it_manages() {
        let desired =
            from_document(&json!({"users": [user("new"), user("adopt"), user("same"), user("bad name")]})).unwrap();
        let mut changed = user("adopt");
        changed["displayName"] = json!("Old");
        let target = Target {
            users: vec![
                stored(&changed, "1"),
                stored(&user_body(&user("same")), "2"),
                stored(&user_body(&user("gone")), "3"),
                stored(&user("stranger"), "4"),
            ],
            ..Target::default()
        };
        let plan = diff(&caps(), &desired, &target, &Scope::default(), false);
        assert!(matches!(&plan.users[0], UserAction::Create { user_name, .. } if user_name == "new"));
        let UserAction::Update { id, changes, .. } = &plan.users[1] else { unreachable!() };
        let names: Vec<String> = changes.iter().map(|(p, _)| p.to_string()).collect();
        assert_eq!((id.as_str(), names), ("1", vec!["displayName".to_owned(), "externalId".into()]));
        assert_eq!(plan.users.len(), 2, "the unchanged user is left alone");
        assert_eq!(plan.removals, [Removal::DeactivateUser { id: "3".into(), user_name: "gone".into() }]);
        assert_eq!(plan.refused.len(), 1);
        assert_eq!(plan.refused[0].name, "bad name");
        assert!(plan.refused[0].reason.contains("whitespace"), "{:?}", plan.refused);
        let mut broken = user("same");
        broken["title"] = json!("a<b");
        let refusing = from_document(&json!({"users": [broken]})).unwrap();
        let plan_refusing = diff(&caps(), &refusing, &target, &Scope::default(), false);
        assert!(plan_refusing.users.is_empty());
        assert_eq!(plan_refusing.refused.len(), 1);
        assert!(
            !plan_refusing.removals.iter().any(|r| matches!(r, Removal::DeactivateUser { id, .. } if id == "2")),
            "a refused user is left alone: {:?}",
            plan_refusing.removals
        );
        let deleting = diff(&caps(), &desired, &target, &Scope::default(), true);
        assert_eq!(deleting.removals, [Removal::DeleteUser { id: "3".into(), user_name: "gone".into() }]);
    }

    #[test]
    fn scope_filters_protect_users_outside_them() {
        let desired = from_document(&json!({"users": [user("a@x"), user("b@y")]})).unwrap();
        let target = Target { users: vec![stored(&user_body(&user("c@y")), "9")], ..Target::default() };
        let scope = Scope {
            include_users: Some(scim_filter::parse_filter(r#"userName ew "@x""#).unwrap()),
            ..Scope::default()
        };
        let plan = diff(&caps(), &desired, &target, &scope, true);
        assert_eq!(plan.users.len(), 1);
        assert!(plan.removals.is_empty(), "c@y is outside the scope");
    }

    #[test]
    fn memberships_are_diffed_by_id_and_groups_renamed_by_external_id() {
        let desired = from_document(&json!({"users": [user("a"), user("b")], "groups": [
            {"displayName": "New name", "externalId": "g1", "members": ["a", "b"]},
            {"displayName": "Fresh", "members": ["b"]}
        ]}))
        .unwrap();
        let target = Target {
            users: vec![
                stored(&user_body(&user("a")), "ua"),
                stored(&user_body(&user("b")), "ub"),
                stored(&user("x"), "ux"),
            ],
            groups: vec![json!({"id": "g", "displayName": "Old name", "externalId": "scim-sync.g1"})],
            members: HashMap::from([("g".to_owned(), BTreeSet::from(["ua".to_owned(), "ux".to_owned()]))]),
        };
        let plan = diff(&caps(), &desired, &target, &Scope::default(), false);
        assert!(matches!(&plan.groups[0], GroupAction::Update { from, display_name, .. }
            if from == "Old name" && display_name == "New name"));
        assert!(matches!(&plan.groups[1], GroupAction::Create { display_name, .. } if display_name == "Fresh"));
        assert_eq!(plan.members[0].add, ["b"]);
        assert_eq!(plan.members[0].remove, [("ux".to_owned(), "x".to_owned())]);
        assert_eq!((plan.members[1].group.as_str(), plan.members[1].group_id.as_deref()), ("Fresh", None));
        let text = to_text(&plan);
        assert!(text.contains("~ group Old name -> New name (rename)"), "{text}");
        assert!(text.contains("Plan: groups_create 1, groups_update 1, members_add 2, members_remove 1."), "{text}");
    }
}
