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
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
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
