//! `cargo xtask conformance`: the third-party checker scim2-tester (PyPI, pinned) against a
//! freshly started server, once per profile.
//!
//! The rfc profile must pass every check. The identity-center profile fails exactly the checks
//! where AWS documents other behaviour; `docs/CONFORMANCE.md` lists each with its reason, and any
//! other failure, or a listed one that now passes, fails the task so the list stays true.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHECKER: &str = "scim2-tester[httpx2]==0.5.2";

/// One check's outcome: status, resource type, title, reason.
struct Check {
    status: String,
    resource_type: String,
    title: String,
    reason: String,
}

impl Check {
    fn passed(&self) -> bool {
        matches!(self.status.as_str(), "SUCCESS" | "COMPLIANT" | "ACCEPTABLE")
    }

    fn skipped(&self) -> bool {
        self.status == "SKIPPED"
    }

    fn key(&self) -> String {
        format!("{} {}", self.resource_type, self.title)
    }
}

/// Kills the server when the task ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn run(root: &Path, target: &Path, cargo: impl Fn() -> Command) -> Result<(), String> {
    let dir = target.join("conformance");
    let python = venv(&dir)?;
    let mut build = cargo();
    build.args(["build", "--quiet", "--package", "scim-server"]);
    crate::run(build)?;
    let binary = target.join("debug").join(format!("scim-server{}", std::env::consts::EXE_SUFFIX));
    let db = dir.join(format!("conformance-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let mut tenants = Vec::new();
    for profile in ["rfc", "identity-center"] {
        let mut create = Command::new(&binary);
        create.args(["tenant", "create", "--json", "--profile", profile, "--db"]).arg(&db);
        let out = crate::output(create)?;
        let token = json_field(&out, "token").ok_or("tenant create printed no token")?;
        let tenant = json_field(&out, "tenant_id").ok_or("tenant create printed no tenant id")?;
        tenants.push((profile, tenant, token));
    }
    let mut child = Command::new(&binary)
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(&db)
        .env("SCIM_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout from the server")?;
    let server = Running(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).map_err(|e| e.to_string())?;
    let addr = line.trim().rsplit("http://").next().unwrap_or_default().to_owned();
    let expected = expected_failures(&root.join("docs/CONFORMANCE.md"))?;
    let mut problems = Vec::new();
    for (profile, tenant, token) in &tenants {
        let endpoint = format!("http://{addr}/{tenant}/scim/v2");
        let checks = check(&python, &root.join("xtask/conformance.py"), &endpoint, token)?;
        let passed = checks.iter().filter(|c| c.passed()).count();
        let skipped = checks.iter().filter(|c| c.skipped()).count();
        let failed: Vec<&Check> = checks.iter().filter(|c| !c.passed() && !c.skipped()).collect();
        println!("{profile}: {passed} passed, {} failed, {skipped} skipped", failed.len());
        let failed_keys: BTreeSet<String> = failed.iter().map(|c| c.key()).collect();
        let allowed = if *profile == "rfc" { BTreeSet::new() } else { expected.clone() };
        for c in &failed {
            if !allowed.contains(&c.key()) {
                problems.push(format!("{profile}: unexpected {} `{}`: {}", c.status, c.key(), c.reason));
            }
        }
        for key in allowed.difference(&failed_keys) {
            problems
                .push(format!("{profile}: `{key}` is listed in docs/CONFORMANCE.md but now passes: update the list"));
        }
    }
    drop(server);
    let _ = std::fs::remove_file(&db);
    if problems.is_empty() { Ok(()) } else { Err(format!("conformance:\n{}", problems.join("\n"))) }
}

/// A virtualenv with the pinned checker, made once under `target/conformance/venv`.
fn venv(dir: &Path) -> Result<PathBuf, String> {
    let venv = dir.join("venv");
    let python = venv.join("bin/python");
    let marker = venv.join(".installed");
    if std::fs::read_to_string(&marker).is_ok_and(|m| m == CHECKER) {
        return Ok(python);
    }
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let mut make = Command::new("python3");
    make.args(["-m", "venv"]).arg(&venv);
    crate::run(make)?;
    let mut install = Command::new(&python);
    install.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", CHECKER]);
    crate::run(install)?;
    std::fs::write(&marker, CHECKER).map_err(|e| e.to_string())?;
    Ok(python)
}

/// Runs the checker, within five minutes.
fn check(python: &Path, script: &Path, endpoint: &str, token: &str) -> Result<Vec<Check>, String> {
    let mut child = Command::new(python)
        .arg(script)
        .args([endpoint, token])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run the checker: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout from the checker")?;
    let reader = std::thread::spawn(move || BufReader::new(stdout).lines().map_while(Result::ok).collect::<Vec<_>>());
    let deadline = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("the checker ran for more than five minutes".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let lines = reader.join().map_err(|_| "the checker's output could not be read")?;
    if !status.success() {
        return Err(format!("the checker failed with {status}"));
    }
    Ok(lines
        .iter()
        .filter_map(|line| {
            let mut fields = line.splitn(4, '\t');
            Some(Check {
                status: fields.next()?.to_owned(),
                resource_type: fields.next()?.to_owned(),
                title: fields.next()?.to_owned(),
                reason: fields.next().unwrap_or_default().to_owned(),
            })
        })
        .collect())
}

/// The identity-center failures `docs/CONFORMANCE.md` lists: lines `- \`Type title\`: reason`.
fn expected_failures(doc: &Path) -> Result<BTreeSet<String>, String> {
    let text = std::fs::read_to_string(doc).map_err(|e| format!("cannot read {}: {e}", doc.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| l.strip_prefix("- `"))
        .filter_map(|l| l.split_once("`:"))
        .map(|(key, _)| key.to_owned())
        .collect())
}

/// The string value of `"name"` in a one-line JSON object (enough for `tenant create --json`).
fn json_field(json: &str, name: &str) -> Option<String> {
    let start = json.find(&format!("\"{name}\":\""))? + name.len() + 4;
    let end = json[start..].find('"')?;
    Some(json[start..start + end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::json_field;

    #[test]
    fn reads_fields_of_tenant_create() {
        let line = r#"{"tenant_id":"abc","scim_endpoint":"http://x/abc/scim/v2","token":"t.k.n"}"#;
        assert_eq!(json_field(line, "tenant_id").as_deref(), Some("abc"));
        assert_eq!(json_field(line, "token").as_deref(), Some("t.k.n"));
        assert_eq!(json_field(line, "nope"), None);
    }
}
