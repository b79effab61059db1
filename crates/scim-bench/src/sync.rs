//! The sync scenario: the real `scim-sync` binary pushing a directory into a fresh server, three
//! times: the initial sync, a run with no change (which must write nothing), and a run with 1%
//! of the users and groups changed. Each run is timed from process start to exit, and its
//! request counts come from its own `--json` report.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde_json::{Value, json};

use crate::server::{Launch, Server};

/// The size of the directory: `users` users, `users / 10` groups of 100 members each (every
/// user in 10 groups), so `users * 10` memberships.
#[derive(Debug, Clone, Copy)]
pub struct SyncSize {
    /// Users in the source.
    pub users: usize,
}

impl SyncSize {
    fn groups(self) -> usize {
        (self.users / 10).max(1)
    }
}

/// One timed `scim-sync apply`.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncRun {
    /// What changed in the source before this run.
    pub name: &'static str,
    /// Wall-clock seconds, process start to exit.
    pub seconds: f64,
    /// Changes applied.
    pub applied: u64,
    /// Write requests sent (POST, PUT, PATCH, DELETE).
    pub writes: u64,
    /// Read requests sent.
    pub reads: u64,
    /// 429 answers waited out.
    pub throttled: u64,
    /// Failed changes (must be 0).
    pub failures: usize,
    /// The target for this run, in seconds, if the issue sets one.
    pub target_seconds: f64,
}

/// The source document. `changed` alters the title of 1% of the users and rotates the members
/// of 1% of the groups (one member out, one in).
fn document(size: SyncSize, changed: bool) -> Value {
    let groups = size.groups();
    let one_percent = |n: usize| (n / 100).max(1);
    let users: Vec<Value> = (0..size.users)
        .map(|i| {
            let title = if changed && i % 100 == 0 { "Principal" } else { "Engineer" };
            json!({"userName": format!("sync{i:06}@example.com"), "displayName": format!("Sync User {i}"),
                   "name": {"givenName": "Sync", "familyName": format!("User{i}")}, "title": title,
                   "emails": [{"value": format!("sync{i:06}@example.com"), "type": "work", "primary": true}]})
        })
        .collect();
    let mut members: Vec<Vec<String>> = vec![Vec::new(); groups];
    for i in 0..size.users {
        for j in 0..10 {
            members[(i + j * groups / 10) % groups].push(format!("sync{i:06}@example.com"));
        }
    }
    if changed {
        for list in members.iter_mut().take(one_percent(groups)) {
            list.rotate_left(1);
            list.pop();
            list.push(format!("sync{:06}@example.com", size.users - 1));
        }
    }
    let groups: Vec<Value> = members
        .into_iter()
        .enumerate()
        .map(|(g, members)| json!({"displayName": format!("Sync Group {g}"), "externalId": format!("sg{g}"), "members": members}))
        .collect();
    json!({"users": users, "groups": groups})
}

fn apply(
    sync: &Path,
    server: &Server,
    source: &Path,
    token: &Path,
    name: &'static str,
    target: f64,
) -> Result<SyncRun, String> {
    let started = Instant::now();
    let out = Command::new(sync)
        .arg("apply")
        .arg("--source")
        .arg(source)
        .arg("--target")
        .arg(format!("http://{}{}", server.addr(), server.base()))
        .arg("--token-file")
        .arg(token)
        .args(["--json", "--concurrency", "16", "--max-deletes", "0"])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", sync.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    let report: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("scim-sync printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)))?;
    let count = |key: &str| report["requests"][key].as_u64().unwrap_or(0);
    Ok(SyncRun {
        name,
        seconds,
        applied: report["applied"].as_u64().unwrap_or(0),
        writes: count("writes"),
        reads: count("reads"),
        throttled: count("throttled"),
        failures: report["failures"].as_array().map_or(0, Vec::len),
        target_seconds: target,
    })
}

/// Runs the three syncs against a fresh server started by `launch`.
pub fn run(sync: &Path, launch: &Launch, size: SyncSize) -> Result<Vec<SyncRun>, String> {
    let server = launch.start(&["--max-users", "10000000"])?;
    let token = server.dir.join("token.txt");
    let source = server.dir.join("source.json");
    std::fs::write(&token, &server.token).map_err(|e| format!("cannot write {}: {e}", token.display()))?;
    let write = |changed: bool| {
        std::fs::write(&source, document(size, changed).to_string())
            .map_err(|e| format!("cannot write {}: {e}", source.display()))
    };
    write(false)?;
    let initial = apply(sync, &server, &source, &token, "initial sync", 60.0)?;
    let unchanged = apply(sync, &server, &source, &token, "no change", 5.0)?;
    write(true)?;
    let changed = apply(sync, &server, &source, &token, "1% changed", 5.0)?;
    Ok(vec![initial, unchanged, changed])
}

/// The scenario as a Markdown section.
pub fn markdown(size: SyncSize, runs: &[SyncRun]) -> String {
    let mut out = format!(
        "### Sync: `scim-sync apply` of {} users, {} groups, {} memberships\n\n\
         | run | seconds | target | met | changes | writes | reads | throttled | failures |\n\
         | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |\n",
        size.users,
        size.groups(),
        size.users * 10
    );
    for run in runs {
        let met = run.seconds < run.target_seconds && run.failures == 0 && (run.name != "no change" || run.writes == 0);
        out.push_str(&format!(
            "| {} | {:.2} | < {} s | {} | {} | {} | {} | {} | {} |\n",
            run.name,
            run.seconds,
            run.target_seconds,
            if met { "yes" } else { "no" },
            run.applied,
            run.writes,
            run.reads,
            run.throttled,
            run.failures
        ));
    }
    out
}

/// The scenario as JSON.
pub fn json(size: SyncSize, runs: &[SyncRun]) -> Value {
    let runs: Vec<Value> = runs
        .iter()
        .map(|r| {
            json!({"run": r.name, "seconds": r.seconds, "target_seconds": r.target_seconds, "changes": r.applied,
                        "writes": r.writes, "reads": r.reads, "throttled": r.throttled, "failures": r.failures})
        })
        .collect();
    json!({"users": size.users, "groups": size.groups(), "memberships": size.users * 10, "runs": runs})
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_has_the_stated_shape() {
        let size = SyncSize { users: 1000 };
        let doc = document(size, false);
        let groups = doc["groups"].as_array().unwrap();
        assert_eq!((doc["users"].as_array().unwrap().len(), groups.len()), (1000, 100));
        assert!(groups.iter().all(|g| g["members"].as_array().unwrap().len() == 100));
        let changed = document(size, true);
        let titles = changed["users"].as_array().unwrap().iter().filter(|u| u["title"] == "Principal").count();
        assert_eq!(titles, 10);
        assert_ne!(changed["groups"][0], doc["groups"][0]);
        assert_eq!(changed["groups"][1], doc["groups"][1]);
    }
}
