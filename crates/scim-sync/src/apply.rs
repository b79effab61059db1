//! Running a plan against the target: users first, then groups, then memberships (which need
//! the ids of both), then deactivations and deletions, each phase with bounded concurrency.
//!
//! A failed write is reported and the run goes on; what it left undone is in the next plan.

use std::collections::HashMap;
use std::future::Future;
use std::io::{IsTerminal, Write};

use serde_json::Value;
use tokio::task::JoinSet;

use scim_client::{Client, PatchOp};
use scim_filter::AttrPath;
use scim_schema::ResourceKind;

use crate::plan::{GroupAction, Plan, Removal, UserAction};

/// What an apply did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Changes made (one per plan line).
    pub done: usize,
    /// Changes that failed, each with its reason.
    pub failures: Vec<String>,
    /// Changes not attempted because the target stopped answering.
    pub skipped: usize,
    consecutive_unreachable: usize,
}

/// After this many changes in a row fail for want of any answer, the run stops trying: the
/// target is down, and the next run will do the rest.
const GIVE_UP_AFTER: usize = 8;

impl Outcome {
    /// Whether the run gave up on an unreachable target.
    pub fn gave_up(&self) -> bool {
        self.consecutive_unreachable >= GIVE_UP_AFTER
    }
}

/// A progress line on standard error, drawn only when standard error is a terminal.
#[derive(Debug)]
struct Progress {
    total: usize,
    done: usize,
    enabled: bool,
}

impl Progress {
    fn new(total: usize, enabled: bool) -> Progress {
        Progress { total, done: 0, enabled: enabled && std::io::stderr().is_terminal() }
    }

    fn step(&mut self) {
        self.done += 1;
        if self.enabled {
            let width = 30;
            let filled = (self.done * width).checked_div(self.total).unwrap_or(width);
            let bar = format!("{}{}", "#".repeat(filled), " ".repeat(width - filled.min(width)));
            let _ = write!(std::io::stderr(), "\r[{bar}] {}/{}", self.done, self.total);
        }
    }

    fn finish(&self) {
        if self.enabled {
            let _ = writeln!(std::io::stderr());
        }
    }
}

/// Runs `jobs` at most `concurrency` at a time; each answers a name and its result. A failure
/// is reported as `{kind} {name}: {why}`.
async fn run_all<F>(
    kind: &str,
    jobs: Vec<F>,
    concurrency: usize,
    progress: &mut Progress,
    outcome: &mut Outcome,
) -> Vec<(String, Value)>
where
    F: Future<Output = (String, scim_client::Result<Value>)> + Send + 'static,
{
    let mut set = JoinSet::new();
    let mut results = Vec::new();
    let mut pending = jobs.into_iter();
    loop {
        while set.len() < concurrency.max(1) && !outcome.gave_up() {
            let Some(job) = pending.next() else { break };
            set.spawn(job);
        }
        let Some(joined) = set.join_next().await else {
            outcome.skipped += pending.len();
            return results;
        };
        progress.step();
        match joined {
            Ok((name, Ok(value))) => {
                outcome.done += 1;
                outcome.consecutive_unreachable = 0;
                results.push((name, value));
            }
            Ok((name, Err(why))) => {
                if matches!(why, scim_client::Error::Transport(_) | scim_client::Error::Timeout) {
                    outcome.consecutive_unreachable += 1;
                }
                outcome.failures.push(format!("{kind} {name}: {why}"));
            }
            Err(why) => outcome.failures.push(format!("a task failed: {why}")),
        }
    }
}

/// Applies `plan` through `client`.
pub async fn apply(client: &Client, plan: Plan, concurrency: usize, show_progress: bool) -> Outcome {
    let total = plan.users.len() + plan.groups.len() + plan.members.len() + plan.removals.len();
    let mut progress = Progress::new(total, show_progress);
    let mut outcome = Outcome::default();
    let mut user_ids = plan.user_ids.clone();

    // 1. Users created and updated.
    let jobs: Vec<_> = plan
        .users
        .into_iter()
        .map(|action| {
            let client = client.clone();
            async move {
                match action {
                    UserAction::Create { user_name, body } => {
                        let created = client.create(ResourceKind::User, &body).await;
                        (user_name, created)
                    }
                    UserAction::Update { id, user_name, changes } => {
                        let patch = changes.into_iter().fold(PatchOp::new(), |p, (path, v)| p.replace(path, v));
                        (user_name, client.patch(ResourceKind::User, &id, patch).await.map(|()| Value::Null))
                    }
                }
            }
        })
        .collect();
    for (user_name, created) in run_all("user", jobs, concurrency, &mut progress, &mut outcome).await {
        if let Some(id) = created["id"].as_str() {
            user_ids.insert(user_name, id.to_owned());
        }
    }

    // 2. Groups created and renamed.
    let jobs: Vec<_> = plan
        .groups
        .into_iter()
        .map(|action| {
            let client = client.clone();
            async move {
                match action {
                    GroupAction::Create { display_name, body } => {
                        let created = client.create(ResourceKind::Group, &body).await;
                        (display_name, created)
                    }
                    GroupAction::Update { id, display_name, changes, .. } => {
                        let patch = changes.into_iter().fold(PatchOp::new(), |p, (path, v)| p.replace(path, v));
                        (display_name, client.patch(ResourceKind::Group, &id, patch).await.map(|()| Value::Null))
                    }
                }
            }
        })
        .collect();
    let mut group_ids: HashMap<String, String> = HashMap::new();
    for (display_name, created) in run_all("group", jobs, concurrency, &mut progress, &mut outcome).await {
        if let Some(id) = created["id"].as_str() {
            group_ids.insert(display_name, id.to_owned());
        }
    }

    // 3. Memberships, by id now that every user and group has one.
    let mut jobs = Vec::new();
    for change in plan.members {
        let Some(group_id) = change.group_id.clone().or_else(|| group_ids.get(&change.group).cloned()) else {
            progress.step();
            outcome.failures.push(format!("members of group {}: the group was not created", change.group));
            continue;
        };
        let add: Vec<String> = change.add.iter().filter_map(|name| user_ids.get(name).cloned()).collect();
        let missing = change.add.len() - add.len();
        if missing > 0 {
            outcome
                .failures
                .push(format!("members of group {}: {missing} not added, their users were not created", change.group));
        }
        let mut patch = PatchOp::new().add_members(add.iter().map(String::as_str));
        for (id, _) in &change.remove {
            patch = patch.remove_member(id);
        }
        let client = client.clone();
        let label = change.group.clone();
        jobs.push(
            async move { (label, client.patch(ResourceKind::Group, &group_id, patch).await.map(|()| Value::Null)) },
        );
    }
    run_all("members of group", jobs, concurrency, &mut progress, &mut outcome).await;

    // 4. Users and groups that left the source.
    let jobs: Vec<_> = plan
        .removals
        .into_iter()
        .map(|removal| {
            let client = client.clone();
            async move {
                match removal {
                    Removal::DeactivateUser { id, user_name } => {
                        let patch = PatchOp::new().replace(AttrPath::new("active"), Value::Bool(false));
                        (
                            format!("user {user_name}"),
                            client.patch(ResourceKind::User, &id, patch).await.map(|()| Value::Null),
                        )
                    }
                    Removal::DeleteUser { id, user_name } => (
                        format!("user {user_name}"),
                        client.delete(ResourceKind::User, &id).await.map(|()| Value::Null),
                    ),
                    Removal::DeleteGroup { id, display_name } => (
                        format!("group {display_name}"),
                        client.delete(ResourceKind::Group, &id).await.map(|()| Value::Null),
                    ),
                }
            }
        })
        .collect();
    run_all("removal of", jobs, concurrency, &mut progress, &mut outcome).await;
    progress.finish();
    outcome
}
