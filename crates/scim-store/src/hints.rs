//! Where a resource's row is, remembered: its `seq` by id, so that a read by id can go straight
//! to the row instead of first descending the `id` index.
//!
//! At a million users the `id` index is some 45 MB, far beyond a reader's page cache, and its
//! descent costs a read of a cold page on every read by id (docs/BENCHMARKS.md). A hint costs
//! 16 bytes and a hash.
//!
//! A hint is only ever a place to look first. The read that uses it asks for the row at that
//! `seq` *and* with that id, tenant and kind, and when that finds nothing it looks the id up
//! through its index as before. A row keeps its `seq` and its id for life (no statement of this
//! crate changes either, and ids are unique), so a hint may be stale (its resource deleted, its
//! insert rolled back) but can never make a read answer another resource, or miss one.
//!
//! Hints are noted where a `seq` is learnt anyway: by the writer's inserts and by reads that
//! had to use the index. Their number is capped ([`MOST`]); past it new ones are not kept.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Mutex, PoisonError};

/// Shards of the map, each behind its own lock, so the read threads and the writer rarely meet.
const SHARDS: usize = 16;

/// The most hints kept, all shards together: about 40 MB of memory at most.
const MOST: usize = 1 << 21;

/// A resource's `seq` by (a hash of) its id.
#[derive(Debug)]
pub(crate) struct Hints {
    shards: [Mutex<HashMap<u64, i64, BuildHasherDefault<Hashed>>>; SHARDS],
    /// The most hints a shard keeps.
    per_shard: usize,
}

impl Default for Hints {
    fn default() -> Hints {
        Hints::capped(MOST)
    }
}

impl Hints {
    /// Hints keeping at most about `most` entries.
    fn capped(most: usize) -> Hints {
        Hints { shards: Default::default(), per_shard: most.div_ceil(SHARDS) }
    }

    /// The row `id` was last seen at, if it was.
    pub(crate) fn get(&self, id: &str) -> Option<i64> {
        let hash = hash(id);
        self.shard(hash).get(&hash).copied()
    }

    /// Notes that `id` is at row `seq`.
    pub(crate) fn note(&self, id: &str, seq: i64) {
        let hash = hash(id);
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
/// makes (random UUIDs), so no client can fill a shard with colliding keys; two ids that do
/// collide only cost a read at the wrong row, which finds nothing, then the index.
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
    fn a_hint_is_the_last_seq_noted_for_its_id() {
        let hints = Hints::default();
        assert_eq!(hints.get("a"), None);
        hints.note("a", 7);
        hints.note("b", 9);
        assert_eq!((hints.get("a"), hints.get("b"), hints.get("c")), (Some(7), Some(9), None));
        hints.note("a", 11);
        assert_eq!(hints.get("a"), Some(11));
    }

    #[test]
    fn past_the_cap_new_hints_are_not_kept_and_known_ones_still_move() {
        let most = 64 * SHARDS;
        let hints = Hints::capped(most);
        for i in 0..4 * most {
            hints.note(&i.to_string(), i64::try_from(i).unwrap());
        }
        let kept: Vec<usize> = hints.shards.iter().map(|shard| shard.lock().unwrap().len()).collect();
        assert!(kept.iter().all(|&n| n == 64), "{kept:?}");
        let known = (0..most).map(|i| i.to_string()).find(|id| hints.get(id).is_some()).unwrap();
        hints.note(&known, -1);
        assert_eq!(hints.get(&known), Some(-1));
    }
}
