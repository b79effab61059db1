//! Where a resource's row is, remembered: its `seq` by id, and by tenant, kind and folded name,
//! so that a read by id, or a listing by `userName` or `displayName` equality, can go straight to
//! the row instead of first descending an index.
//!
//! At a million users the `id` index is some 45 MB, far beyond a reader's page cache, and its
//! descent costs a read of a cold page on every read by id (docs/BENCHMARKS.md); the `name_key`
//! index is the same for the lookup by `userName` an identity provider makes before each create.
//! A hint costs 16 bytes and a hash.
//!
//! A hint is only ever a place to look first. The read that uses it asks for the row at that
//! `seq` *and* with that id (or name), tenant and kind, and when that finds nothing it looks
//! through the index as before. A row keeps its `seq` and its id for life (no statement of this
//! crate changes either, and ids are unique); its name may change, and then the hint by its old
//! name finds a row whose name is another, so nothing. So a hint may be stale (its resource
//! deleted or renamed, its insert rolled back) but can never make a read answer another
//! resource, or miss one.
//!
//! Hints are noted where a `seq` is learnt anyway: by the writer's inserts and replaces, and by
//! reads that had to use an index. Their number is capped ([`MOST`] of each kind); past it new
//! ones are not kept.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::{Mutex, PoisonError};

use scim_schema::ResourceKind;

use crate::TenantKey;

/// Shards of the map, each behind its own lock, so the read threads and the writer rarely meet.
const SHARDS: usize = 16;

/// The most hints of each kind kept, all shards together: at most about 40 MB of memory each
/// (computed from 16-byte entries and tables at least half full, not measured).
const MOST: usize = 1 << 21;

/// Resources' `seq` by id, and by tenant, kind and folded name.
#[derive(Debug, Default)]
pub(crate) struct Hints {
    ids: Map,
    names: Map,
    /// Keys the names' hash: names are the clients' words, unlike ids.
    keys: RandomState,
}

impl Hints {
    /// The row `id` was last seen at, if it was.
    pub(crate) fn id(&self, id: &str) -> Option<i64> {
        self.ids.get(hash(id))
    }

    /// Notes that `id` is at row `seq`.
    pub(crate) fn note_id(&self, id: &str, seq: i64) {
        self.ids.note(hash(id), seq);
    }

    /// The row the tenant's resource of `kind` named `name_key` (folded) was last seen at.
    pub(crate) fn name(&self, tenant: TenantKey, kind: ResourceKind, name_key: &str) -> Option<i64> {
        self.names.get(self.keys.hash_one((tenant.0, kind, name_key)))
    }

    /// Notes that the tenant's resource of `kind` named `name_key` (folded) is at row `seq`.
    pub(crate) fn note_name(&self, tenant: TenantKey, kind: ResourceKind, name_key: &str, seq: i64) {
        self.names.note(self.keys.hash_one((tenant.0, kind, name_key)), seq);
    }
}

/// `seq`s by a hash, in shards.
#[derive(Debug)]
struct Map {
    shards: [Mutex<HashMap<u64, i64, BuildHasherDefault<Hashed>>>; SHARDS],
    /// The most hints a shard keeps.
    per_shard: usize,
}

impl Default for Map {
    fn default() -> Map {
        Map::capped(MOST)
    }
}

impl Map {
    /// A map keeping at most about `most` entries.
    fn capped(most: usize) -> Map {
        Map { shards: Default::default(), per_shard: most.div_ceil(SHARDS) }
    }

    fn get(&self, hash: u64) -> Option<i64> {
        self.shard(hash).get(&hash).copied()
    }

    fn note(&self, hash: u64, seq: i64) {
        let mut shard = self.shard(hash);
        if shard.len() < self.per_shard || shard.contains_key(&hash) {
            shard.insert(hash, seq);
        }
    }

    fn shard(&self, hash: u64) -> std::sync::MutexGuard<'_, HashMap<u64, i64, BuildHasherDefault<Hashed>>> {
        // Middle bits pick the shard; the map inside uses the low ones, and the top ones tag.
        let at = usize::try_from((hash >> 32) % SHARDS as u64).unwrap_or(0);
        self.shards[at].lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An id's hash: its bytes folded eight at a time, then mixed.
///
/// Not keyed, and it need not be: only ids of rows that exist are kept, and those the store
/// makes (UUIDs with 74 random bits after the time), so no client can fill a shard with
/// colliding keys; two ids that do collide only cost a read at the wrong row, which finds
/// nothing, then the index.
fn hash(id: &str) -> u64 {
    let mut hash = 0x9e37_79b9_7f4a_7c15_u64;
    for chunk in id.as_bytes().chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        hash = (hash.rotate_left(23) ^ u64::from_le_bytes(word)).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    hash ^ (hash >> 29)
}

/// A key that is already a hash, used as it is.
#[derive(Debug, Default)]
struct Hashed(u64);

impl Hasher for Hashed {
    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed here (`write_u64`); anything else is folded in whole.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_is_the_last_seq_noted_for_its_id_or_name() {
        let hints = Hints::default();
        assert_eq!(hints.id("a"), None);
        hints.note_id("a", 7);
        hints.note_id("b", 9);
        assert_eq!((hints.id("a"), hints.id("b"), hints.id("c")), (Some(7), Some(9), None));
        hints.note_id("a", 11);
        assert_eq!(hints.id("a"), Some(11));
        let (t, u) = (TenantKey(1), TenantKey(2));
        hints.note_name(t, ResourceKind::User, "ann", 3);
        assert_eq!(hints.name(t, ResourceKind::User, "ann"), Some(3));
        // Another tenant, another kind, another name, or an id: not this hint.
        assert_eq!(hints.name(u, ResourceKind::User, "ann"), None);
        assert_eq!(hints.name(t, ResourceKind::Group, "ann"), None);
        assert_eq!(hints.name(t, ResourceKind::User, "bob"), None);
        assert_eq!(hints.id("ann"), None);
    }

    #[test]
    fn past_the_cap_new_hints_are_not_kept_and_known_ones_still_move() {
        let most = 64 * SHARDS;
        let map = Map::capped(most);
        for i in 0..4 * most {
            map.note(hash(&i.to_string()), i64::try_from(i).unwrap());
        }
        let kept: Vec<usize> = map.shards.iter().map(|shard| shard.lock().unwrap().len()).collect();
        assert!(kept.iter().all(|&n| n == 64), "{kept:?}");
        let known = (0..most).map(|i| hash(&i.to_string())).find(|&h| map.get(h).is_some()).unwrap();
        map.note(known, -1);
        assert_eq!(map.get(known), Some(-1));
    }
}
