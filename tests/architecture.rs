//! Architecture invariants, checked: the crate layering of docs/ARCHITECTURE.md, and that the
//! map names every crate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use serde_json::Value;

/// Each workspace crate and the workspace crates it may depend on (normal dependencies).
const LAYERS: &[(&str, &[&str])] = &[
    ("scim-filter", &[]),
    ("scim-schema", &["scim-filter"]),
    ("scim-store", &["scim-filter", "scim-schema"]),
    ("scim-store-pg", &["scim-filter", "scim-schema", "scim-store"]),
    ("scim-auth", &[]),
    ("scim-server", &["scim-filter", "scim-schema", "scim-store", "scim-store-pg", "scim-auth"]),
    // The load generator speaks to the server over HTTP only, never through its crates.
    ("scim-bench", &["scim-schema"]),
    // The identity provider's side: a client and a sync tool, never the server's crates.
    ("scim-client", &["scim-filter", "scim-schema"]),
    ("scim-sync", &["scim-filter", "scim-schema", "scim-client"]),
    ("xtask", &[]),
];

/// Crates that must stay usable without an async runtime or HTTP stack.
const NO_RUNTIME: &[&str] = &["scim-filter", "scim-schema", "scim-store", "scim-auth"];

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn lower_crates_never_depend_on_higher_ones() {
    let meta = metadata();
    let packages = meta["packages"].as_array().unwrap();
    assert_eq!(packages.len(), LAYERS.len(), "a crate was added: put it in LAYERS and docs/ARCHITECTURE.md");
    for package in packages {
        let name = package["name"].as_str().unwrap();
        let allowed = LAYERS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("{name} is not in LAYERS"));
        for dep in package["dependencies"].as_array().unwrap() {
            let dep_name = dep["name"].as_str().unwrap();
            let normal = dep["kind"].is_null();
            let internal = LAYERS.iter().any(|(n, _)| *n == dep_name);
            if normal && internal {
                assert!(allowed.contains(&dep_name), "{name} must not depend on {dep_name}");
            }
            if normal && NO_RUNTIME.contains(&name) {
                assert!(!["tokio", "hyper", "hyper-util"].contains(&dep_name), "{name} must stay free of {dep_name}");
            }
        }
    }
}

#[test]
fn the_architecture_map_names_every_crate() {
    let map = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/ARCHITECTURE.md")).unwrap();
    for (name, _) in LAYERS {
        assert!(map.contains(&format!("### `{name}`")), "docs/ARCHITECTURE.md has no section for {name}");
    }
}

/// The workspace root.
fn root() -> std::path::PathBuf {
    std::fs::canonicalize(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).unwrap()
}

/// Every `.rs` file under `dir`, recursively, sorted.
fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The workspace's crates: name and directory.
fn crates() -> Vec<(String, std::path::PathBuf)> {
    let meta = metadata();
    let mut out: Vec<(String, std::path::PathBuf)> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let manifest = std::path::PathBuf::from(p["manifest_path"].as_str().unwrap());
            (p["name"].as_str().unwrap().to_owned(), manifest.parent().unwrap().to_path_buf())
        })
        .collect();
    out.sort();
    out
}

/// The module path of a source file relative to its crate's `src/` (`aws/sso_admin.rs` is
/// `aws::sso_admin`, `parser.rs` is `parser`); `None` for the crate root and `mod.rs`'s parent.
fn module_path(relative: &std::path::Path) -> Option<String> {
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let file = parts.pop()?;
    let stem = file.strip_suffix(".rs")?;
    if parts.is_empty() && matches!(stem, "lib" | "main") {
        return None;
    }
    if stem != "mod" {
        parts.push(stem.to_owned());
    }
    Some(parts.join("::"))
}

/// The top-level modules a source text names through `crate::` (`use crate::x`, `crate::x::y`,
/// `use crate::{x, y::z}`), comments and the unit tests (from `#[cfg(test)]` on) left out.
fn crate_references(text: &str) -> Vec<String> {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    let code: String = text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let mut out = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':' || c == '$') {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of the group only: `{a, b::{c, d}}` names `a` and `b`.
            let (mut depth, mut start) = (0usize, true);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && !c.is_whitespace() => {
                        start = false;
                        out.push(ident(&group[i..]));
                    }
                    _ => {}
                }
            }
        } else {
            out.push(ident(rest));
        }
    }
    out.retain(|m| !m.is_empty());
    out
}

/// Each crate's graph of top-level modules: who names whom through `crate::`.
fn module_graphs() -> Vec<(String, std::collections::BTreeMap<String, std::collections::BTreeSet<String>>)> {
    let mut graphs = Vec::new();
    for (name, dir) in crates() {
        let src = dir.join("src");
        let mut graph: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = Default::default();
        let files: Vec<(String, String)> = rust_files(&src)
            .into_iter()
            .filter_map(|f| {
                let module = module_path(f.strip_prefix(&src).unwrap())?;
                let top = module.split("::").next().unwrap().to_owned();
                Some((top, std::fs::read_to_string(&f).unwrap()))
            })
            .collect();
        for (top, _) in &files {
            graph.entry(top.clone()).or_default();
        }
        for (top, text) in &files {
            for used in crate_references(text) {
                if used != *top && graph.contains_key(&used) {
                    graph.get_mut(top).unwrap().insert(used);
                }
            }
        }
        graphs.push((name, graph));
    }
    graphs
}

/// The modules of `graph` that import each other in a circle: each strongly connected set of
/// more than one module, sorted.
fn circles(graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>) -> Vec<Vec<String>> {
    let reachable = |from: &str| {
        let mut seen = std::collections::BTreeSet::new();
        let mut next: Vec<&str> = vec![from];
        while let Some(node) = next.pop() {
            for to in graph.get(node).into_iter().flatten() {
                if seen.insert(to.clone()) {
                    next.push(to);
                }
            }
        }
        seen
    };
    let reach: std::collections::BTreeMap<&String, _> = graph.keys().map(|n| (n, reachable(n))).collect();
    let mut out: Vec<Vec<String>> = Vec::new();
    for node in graph.keys() {
        let circle: Vec<String> =
            graph.keys().filter(|m| reach[node].contains(*m) && reach[*m].contains(node)).cloned().collect();
        if circle.len() > 1 && !out.contains(&circle) {
            out.push(circle);
        }
    }
    out
}

/// Circles of modules known on this branch and removed elsewhere; each must still exist (so
/// the list cannot go stale): delete its line when the branch that breaks it is merged.
const KNOWN_CIRCLES: &[(&str, &[&str])] = &[
    // `scenarios` builds `report::Row`s and `report` names the scenarios: untouched here because
    // the bench is being extended on another branch.
    ("scim-bench", &["report", "scenarios"]),
];

#[test]
fn module_references_find_every_form() {
    let text = "use crate::a::B;\nuse crate::{b, c::{D, E}};\nlet x = crate::d::f();\n// crate::e\nuse scim_crate::g;";
    assert_eq!(crate_references(text), ["a", "b", "c", "d"]);
    assert!(crate_references("use crate::a;\n#[cfg(test)]\nmod tests { use crate::b; }") == ["a"]);
    let mut graph = std::collections::BTreeMap::new();
    graph.insert("a".to_owned(), std::collections::BTreeSet::from(["b".to_owned()]));
    graph.insert("b".to_owned(), std::collections::BTreeSet::from(["c".to_owned()]));
    graph.insert("c".to_owned(), std::collections::BTreeSet::new());
    graph.insert("d".to_owned(), std::collections::BTreeSet::from(["a".to_owned()]));
    assert!(circles(&graph).is_empty());
    graph.get_mut("c").unwrap().insert("b".to_owned());
    assert_eq!(circles(&graph), [["b", "c"]]);
    graph.get_mut("c").unwrap().insert("a".to_owned());
    assert_eq!(circles(&graph), [["a", "b", "c"]]);
}

#[test]
fn modules_import_one_way() {
    let mut problems = Vec::new();
    for (name, graph) in module_graphs() {
        let found = circles(&graph);
        for circle in &found {
            if !KNOWN_CIRCLES.iter().any(|(c, m)| *c == name && m == circle) {
                problems.push(format!("{name}: {} import each other (through crate::)", circle.join(", ")));
            }
        }
        for (_, modules) in KNOWN_CIRCLES.iter().filter(|(c, _)| *c == name) {
            if !found.iter().any(|c| c == modules) {
                problems.push(format!(
                    "{name}: {} no longer form a circle: drop it from KNOWN_CIRCLES",
                    modules.join(", ")
                ));
            }
        }
    }
    assert!(problems.is_empty(), "the module graph must be acyclic:\n{}", problems.join("\n"));
}

/// The `` `spans` `` of a Markdown text.
fn code_spans(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// The text of the `### `name`` section of the map, up to the next heading.
fn section<'a>(map: &'a str, name: &str) -> &'a str {
    let heading = format!("### `{name}`");
    let Some(start) = map.find(&heading) else { return "" };
    let rest = &map[start + heading.len()..];
    let end = rest.find("\n#").unwrap_or(rest.len());
    &rest[..end]
}

/// Whether `spans` name module `module` (`aws::identity_store`): as itself, with a prefix
/// (`scim_schema::render`), or through one of its items (`lanes::blocking`).
fn names_module(spans: &[&str], module: &str) -> bool {
    spans.iter().any(|s| *s == module || s.ends_with(&format!("::{module}")) || s.starts_with(&format!("{module}::")))
}

#[test]
fn the_architecture_map_names_every_module_and_test_file() {
    let root = root();
    let map = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).unwrap();
    let everywhere = code_spans(&map);
    let mut missing = Vec::new();
    for (name, dir) in crates() {
        let spans = code_spans(section(&map, &name));
        let src = dir.join("src");
        for file in rust_files(&src) {
            let Some(module) = module_path(file.strip_prefix(&src).unwrap()) else { continue };
            if !names_module(&spans, &module) {
                let path = file.strip_prefix(&root).unwrap().display().to_string();
                missing.push(format!("`{module}` in the `### `{name}`` section ({path})"));
            }
        }
        // A crate's own tests (`crates/x/tests/y.rs`) are named in its section as `tests/y.rs`.
        let tests = dir.join("tests");
        for file in rust_files(&tests) {
            let relative = format!("tests/{}", file.strip_prefix(&tests).unwrap().display());
            if !spans.contains(&relative.as_str()) {
                missing.push(format!("`{relative}` in the `### `{name}`` section"));
            }
        }
    }
    // The workspace's end-to-end tests: `tests/x.rs` as `x.rs` (or `tests/x.rs`), anything deeper
    // by its path (`tests/support/mod.rs`).
    let tests = root.join("tests");
    for file in rust_files(&tests) {
        let relative = file.strip_prefix(&tests).unwrap().display().to_string();
        let full = format!("tests/{relative}");
        let named =
            everywhere.contains(&full.as_str()) || (!relative.contains('/') && everywhere.contains(&relative.as_str()));
        if !named {
            missing
                .push(format!("`{}` in the Testing paragraph", if relative.contains('/') { &full } else { &relative }));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/ARCHITECTURE.md does not name these files; add each where shown, with a few words on its job:\n  {}",
        missing.join("\n  ")
    );
}
