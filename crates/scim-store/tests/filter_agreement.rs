//! The store and the in-memory evaluator agree on every filter: the shared suite of
//! `agreement/mod.rs` on SQLite, the backend of this crate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod agreement;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use agreement::{Directory, Harness};
use scim_store::{Options, Store};

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
fn directory() -> Directory {
    let dir = TempDir::new();
    let store = Store::open(&dir.0.join("store.db"), Options::default()).unwrap();
    Directory::new(Harness { store, _guard: Box::new(dir) })
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
