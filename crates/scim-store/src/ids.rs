//! Server-generated identifiers and secrets, from the operating system's random source.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::Error;

/// `N` bytes from the operating system's random source.
pub(crate) fn random<const N: usize>() -> Result<[u8; N], Error> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| Error::Random(e.to_string()))?;
    Ok(bytes)
}

/// A time-ordered (version 7, RFC 9562) UUID in its lowercase 8-4-4-4-12 text form: the Unix
/// time in milliseconds (48 bits), then 74 random bits.
///
/// Time-ordered, so that a new row's id lands at the end of the `id` index, in a page the
/// writer already holds, rather than in a random page of it: at a million users that page was
/// one cold read and one more page written per create (docs/BENCHMARKS.md). Identity Center's
/// newer stores give ids of this version too. 74 random bits keep ids unguessable; what they
/// tell of the time, `meta.created` tells anyone who may read the resource.
pub fn uuid_v7() -> Result<String, Error> {
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    uuid_v7_at(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// [`uuid_v7`] at `ms` milliseconds since the epoch.
fn uuid_v7_at(ms: u64) -> Result<String, Error> {
    let mut b = random::<16>()?;
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    b[6] = (b[6] & 0x0f) | 0x70;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = hex(&b);
    Ok(format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]))
}

/// A tenant id: 128 random bits as 32 lowercase hex characters, opaque and URL-safe.
pub(crate) fn tenant_id() -> Result<String, Error> {
    Ok(hex(&random::<16>()?))
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn uuid_has_version_and_variant_bits() {
        for _ in 0..100 {
            let id = uuid_v7().unwrap();
            assert_eq!(id.len(), 36);
            let parts: Vec<&str> = id.split('-').collect();
            assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
            assert!(parts[2].starts_with('7'), "{id}");
            assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{id}");
            assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        }
        assert_ne!(uuid_v7().unwrap(), uuid_v7().unwrap());
    }

    #[test]
    fn uuids_sort_by_their_millisecond_and_carry_it_in_the_first_48_bits() {
        let (early, late) = (uuid_v7_at(1_700_000_000_000).unwrap(), uuid_v7_at(1_700_000_000_001).unwrap());
        assert!(early < late, "{early} {late}");
        // 1,700,000,000,000 ms is 0x018b_cfe5_6800.
        assert!(early.starts_with("018bcfe5-6800-7"), "{early}");
        let now = uuid_v7().unwrap();
        assert!(now.as_str() > late.as_str(), "{now}");
        // Two ids of one millisecond differ in their random bits.
        assert_ne!(uuid_v7_at(5).unwrap(), uuid_v7_at(5).unwrap());
    }

    #[test]
    fn tenant_id_is_32_lowercase_hex() {
        let id = tenant_id().unwrap();
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        assert_ne!(id, tenant_id().unwrap());
    }
}
