//! The store and the in-memory evaluator agree on every filter: the shared suite of
//! `agreement/mod.rs` on SQLite, the backend of this crate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod agreement;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use agreement::{Directory, Harness};
use scim_schema::ResourceKind;
use scim_store::{Error, Keys, Kind, Options, Page, Query, Store, TenantKey};
use serde_json::{Map, Value};

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let name = format!("scim-filter-agreement-{}-{}", std::process::id(), COUNT.fetch_add(1, Ordering::SeqCst));
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A store in a directory of its own.
struct Sqlite {
    store: Store,
    _dir: TempDir,
}

fn kind(kind: ResourceKind) -> Kind {
    if kind == ResourceKind::User { Kind::User } else { Kind::Group }
}

impl Harness for Sqlite {
    const HOLDS_NUL: bool = true;

    fn tenant(&mut self, name: &str) -> TenantKey {
        self.store.create_tenant(Some(name), "rfc").unwrap().key
    }

    fn insert(
        &mut self,
        tenant: TenantKey,
        resource: ResourceKind,
        keys: &Keys,
        attrs: &Map<String, Value>,
        created: i64,
        modified: i64,
    ) -> String {
        let (keys, attrs, kind) = (keys.clone(), attrs.clone(), kind(resource));
        self.store
            .write(move |w| -> Result<String, Error> {
                let stored = w.insert(tenant, kind, &keys, &attrs, created)?;
                if modified != created {
                    w.replace(tenant, kind, &stored.id, &keys, &attrs, modified)?;
                }
                Ok(stored.id)
            })
            .unwrap()
    }

    fn add_members(&mut self, tenant: TenantKey, group: &str, members: &[String]) {
        let (group, members) = (group.to_owned(), members.to_vec());
        self.store.write(move |w| w.add_members(tenant, &group, &members, true)).unwrap();
    }

    fn list(&self, tenant: TenantKey, resource: ResourceKind, query: &Query) -> Result<Page, Error> {
        self.store.read(|r| r.list(tenant, kind(resource), query))
    }
}

fn directory() -> Directory<Sqlite> {
    let dir = TempDir::new();
    let store = Store::open(&dir.0.join("store.db"), Options::default()).unwrap();
    Directory::new(Sqlite { store, _dir: dir })
}

#[test]
fn store_and_evaluator_agree() {
    agreement::store_and_evaluator_agree(&directory());
}

#[test]
fn paging_and_totals_follow_the_filter() {
    agreement::paging_and_totals_follow_the_filter(&directory());
}

#[test]
fn longest_filters_neither_overflow_nor_hit_sqlite_limits() {
    agreement::longest_filters_neither_overflow_nor_hit_limits(&directory());
}

#[test]
fn ne_is_any_value_differs_and_not_eq_is_no_value_equals() {
    agreement::ne_is_any_value_differs_and_not_eq_is_no_value_equals(&directory());
}
