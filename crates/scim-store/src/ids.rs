//! Server-generated identifiers and secrets, from the operating system's random source.

use std::fmt::Write as _;

use crate::Error;

/// `N` bytes from the operating system's random source.
pub(crate) fn random<const N: usize>() -> Result<[u8; N], Error> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| Error::Random(e.to_string()))?;
    Ok(bytes)
}

/// A random (version 4) UUID in its lowercase 8-4-4-4-12 text form.
pub(crate) fn uuid_v4() -> Result<String, Error> {
    let mut b = random::<16>()?;
    b[6] = (b[6] & 0x0f) | 0x40;
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
            let id = uuid_v4().unwrap();
            assert_eq!(id.len(), 36);
            let parts: Vec<&str> = id.split('-').collect();
            assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
            assert!(parts[2].starts_with('4'), "{id}");
            assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{id}");
            assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        }
        assert_ne!(uuid_v4().unwrap(), uuid_v4().unwrap());
    }

    #[test]
    fn tenant_id_is_32_lowercase_hex() {
        let id = tenant_id().unwrap();
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        assert_ne!(id, tenant_id().unwrap());
    }
}
