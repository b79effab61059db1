//! Paging cursors that carry nothing shared across tenants.
//!
//! A cursor marks a place in a tenant's list: the store's sequence number of the last resource
//! returned. That number is global (every tenant's creations advance it), so a plain one would
//! tell a client how much every other tenant writes. Here it travels enciphered by a keyed
//! permutation (a four-round Feistel network over 64 bits, HMAC-SHA-256 as its round function)
//! whose key depends on the tenant, and sealed with a tag that binds it to the tenant, the
//! resource type and the filter; a cursor that fails the tag is refused as `invalidCursor`,
//! whether it was forged, issued to another tenant or reused with another filter.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The key of every cursor this server issues, derived from the server's secret.
#[derive(Clone)]
pub struct CursorKey([u8; 32]);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

impl CursorKey {
    /// The cursor key derived from `secret` (a key that never leaves the server).
    pub fn derive(secret: &[u8]) -> CursorKey {
        CursorKey(mac(secret, &[b"scim-rs paging cursor v1"]))
    }

    /// The cursor after `seq` in the list of `tenant` that `query` (resource type and filter)
    /// names.
    pub fn seal(&self, tenant: &str, query: &str, seq: i64) -> String {
        let hidden = self.permute(tenant, u64::from_ne_bytes(seq.to_ne_bytes()), false);
        let tag = self.tag(tenant, query, hidden);
        format!("{hidden:016x}{tag:016x}")
    }

    /// The sequence number in `cursor`, if this server issued it for `tenant` and `query`.
    pub fn open(&self, tenant: &str, query: &str, cursor: &str) -> Option<i64> {
        if cursor.len() != 32 || !cursor.is_ascii() {
            return None;
        }
        let hidden = u64::from_str_radix(cursor.get(..16)?, 16).ok()?;
        let tag = u64::from_str_radix(cursor.get(16..)?, 16).ok()?;
        if self.tag(tenant, query, hidden) != tag {
            return None;
        }
        Some(i64::from_ne_bytes(self.permute(tenant, hidden, true).to_ne_bytes()))
    }

    fn tag(&self, tenant: &str, query: &str, hidden: u64) -> u64 {
        let full = mac(&self.0, &[b"tag", tenant.as_bytes(), &[0], query.as_bytes(), &hidden.to_be_bytes()]);
        u64::from_be_bytes([full[0], full[1], full[2], full[3], full[4], full[5], full[6], full[7]])
    }

    /// The Feistel network, forwards or backwards.
    fn permute(&self, tenant: &str, value: u64, backwards: bool) -> u64 {
        const ROUNDS: u8 = 4;
        let round = |i: u8, half: u32| {
            let out = mac(&self.0, &[b"round", tenant.as_bytes(), &[0, i], &half.to_be_bytes()]);
            u32::from_be_bytes([out[0], out[1], out[2], out[3]])
        };
        let (mut left, mut right) = ((value >> 32) as u32, value as u32);
        if backwards {
            for i in (0..ROUNDS).rev() {
                (left, right) = (right ^ round(i, left), left);
            }
        } else {
            for i in 0..ROUNDS {
                (left, right) = (right, left ^ round(i, right));
            }
        }
        (u64::from(left) << 32) | u64::from(right)
    }
}

/// HMAC-SHA-256 of the concatenated `parts` under `key`.
fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes a key of any length, so this never fails.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return [0; 32],
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_opens_only_for_its_tenant_and_query() {
        let key = CursorKey::derive(b"secret");
        for seq in [0, 1, 42, 1 << 40, i64::MAX] {
            let cursor = key.seal("t1", "User\0", seq);
            assert_eq!(cursor.len(), 32);
            assert_eq!(key.open("t1", "User\0", &cursor), Some(seq));
            assert_eq!(key.open("t2", "User\0", &cursor), None);
            assert_eq!(key.open("t1", "Group\0", &cursor), None);
            assert_eq!(CursorKey::derive(b"other").open("t1", "User\0", &cursor), None);
        }
        for bad in ["", "zz", "2a:00000000000000ff", &"g".repeat(32), &"é".repeat(16)] {
            assert_eq!(key.open("t1", "User\0", bad), None, "{bad}");
        }
    }

    #[test]
    fn neighbouring_positions_look_unrelated_and_differ_between_tenants() {
        let key = CursorKey::derive(b"secret");
        let (a, b) = (key.seal("t1", "q", 1000), key.seal("t1", "q", 1001));
        // The hidden halves share no long prefix, and another tenant's cursor at the same place
        // is another string.
        assert_ne!(a[..8], b[..8]);
        assert_ne!(key.seal("t2", "q", 1000)[..16], a[..16]);
    }
}
