//! AWS Signature Version 4: verifying the signed requests of the AWS SDKs and CLI, and making the
//! access keys they sign with.
//!
//! The verifier recomputes what the client signed (the canonical request, the string to sign and
//! the date-scoped signing key) from the request as received and the access key's secret, and
//! compares signatures in constant time. It refuses a request whose `X-Amz-Date` is more than
//! [`MAX_SKEW_SECS`] away from the server's clock, as AWS does, so a captured request cannot be
//! replayed later. It knows no HTTP library: the caller hands it method, raw path, raw query,
//! headers and body.
//!
//! The secret is needed in the clear to verify (the first HMAC is keyed with `AWS4` and the
//! secret itself), so whoever keeps access keys keeps the secret; see the store's notes.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::Error;

/// The only algorithm AWS signs with for these services.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// How far a request's `X-Amz-Date` may be from the server's clock: 15 minutes, as AWS allows.
pub const MAX_SKEW_SECS: i64 = 15 * 60;

type HmacSha256 = Hmac<Sha256>;

/// The parsed `Authorization` header of a SigV4 request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The access key id the client signed with.
    pub access_key_id: String,
    /// The credential scope's date, `YYYYMMDD`.
    pub date: String,
    /// The credential scope's region, e.g. `us-east-1`.
    pub region: String,
    /// The credential scope's service, e.g. `identitystore`.
    pub service: String,
    /// The names of the signed headers, lowercase, as the client listed them.
    pub signed_headers: Vec<String>,
    /// The signature, lowercase hex.
    pub signature: String,
}

impl Authorization {
    /// Parses `AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/identitystore/aws4_request,
    /// SignedHeaders=host;x-amz-date, Signature=hex`.
    pub fn parse(header: &str) -> Result<Authorization, Error> {
        let malformed = |why: &str| Error::MalformedSignature(why.to_owned());
        let rest = header
            .trim()
            .strip_prefix(ALGORITHM)
            .ok_or_else(|| malformed("the Authorization header is not AWS4-HMAC-SHA256"))?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let Some((name, value)) = part.trim().split_once('=') else {
                return Err(malformed("an Authorization component is not name=value"));
            };
            match name.trim() {
                "Credential" => credential = Some(value.trim()),
                "SignedHeaders" => signed = Some(value.trim()),
                "Signature" => signature = Some(value.trim()),
                _ => return Err(malformed("unknown Authorization component")),
            }
        }
        let credential = credential.ok_or_else(|| malformed("the Authorization header lacks Credential"))?;
        let signed = signed.ok_or_else(|| malformed("the Authorization header lacks SignedHeaders"))?;
        let signature = signature.ok_or_else(|| malformed("the Authorization header lacks Signature"))?;
        let scope: Vec<&str> = credential.split('/').collect();
        let [key, date, region, service, "aws4_request"] = scope.as_slice() else {
            return Err(malformed("the Credential is not KEY/DATE/REGION/SERVICE/aws4_request"));
        };
        if key.is_empty() || date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) || region.is_empty() {
            return Err(malformed("the Credential scope is malformed"));
        }
        if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(malformed("the Signature is not 64 hex digits"));
        }
        let signed_headers: Vec<String> = signed.split(';').map(str::to_ascii_lowercase).collect();
        if signed_headers.iter().any(String::is_empty) {
            return Err(malformed("SignedHeaders lists an empty name"));
        }
        Ok(Authorization {
            access_key_id: (*key).to_owned(),
            date: (*date).to_owned(),
            region: (*region).to_owned(),
            service: (*service).to_owned(),
            signed_headers,
            signature: signature.to_ascii_lowercase(),
        })
    }
}

/// A request as received, for verification.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The method, e.g. `POST`.
    pub method: &'a str,
    /// The path as sent, still percent-encoded, e.g. `/`.
    pub path: &'a str,
    /// The query as sent, without `?` (empty for none).
    pub query: &'a str,
    /// Every header as (name, value); names in any case, repeated names allowed.
    pub headers: &'a [(String, String)],
    /// The body's bytes.
    pub body: &'a [u8],
}

impl Request<'_> {
    /// The values of header `name` (case-insensitive), in order.
    fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }
}

/// Verifies `request`, signed as `auth` says, with `secret`, at `now` (unix seconds).
///
/// Refuses with [`Error::MalformedSignature`] when `host` or `x-amz-date` is not signed or the
/// date disagrees with the scope, [`Error::SignatureExpired`] when the date is more than
/// [`MAX_SKEW_SECS`] from `now`, and [`Error::SignatureMismatch`] when the signature is wrong.
pub fn verify(request: &Request<'_>, auth: &Authorization, secret: &str, now: i64) -> Result<(), Error> {
    let malformed = |why: &str| Error::MalformedSignature(why.to_owned());
    for required in ["host", "x-amz-date"] {
        if !auth.signed_headers.iter().any(|h| h == required) {
            return Err(malformed(&format!("{required} must be a signed header")));
        }
    }
    let amz_date = match request.header_values("x-amz-date").as_slice() {
        [one] => one.trim().to_owned(),
        _ => return Err(malformed("exactly one X-Amz-Date header is required")),
    };
    let signed_at = parse_amz_date(&amz_date).ok_or_else(|| malformed("X-Amz-Date is not YYYYMMDDTHHMMSSZ"))?;
    if !amz_date.starts_with(&auth.date) {
        return Err(malformed("the Credential's date is not the X-Amz-Date's"));
    }
    if (now - signed_at).abs() > MAX_SKEW_SECS {
        return Err(Error::SignatureExpired { signed: amz_date, now: format_amz_date(now) });
    }
    let canonical = canonical_request(request, &auth.signed_headers);
    let scope = format!("{}/{}/{}/aws4_request", auth.date, auth.region, auth.service);
    let to_sign = format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", hex(&Sha256::digest(canonical.as_bytes())));
    let key = signing_key(secret, &auth.date, &auth.region, &auth.service);
    let mut mac = HmacSha256::new_from_slice(&key).map_err(|_| Error::SignatureMismatch)?;
    mac.update(to_sign.as_bytes());
    let given = unhex(&auth.signature).ok_or(Error::SignatureMismatch)?;
    mac.verify_slice(&given).map_err(|_| Error::SignatureMismatch)
}

/// The canonical request of SigV4 for every service but S3 (whose paths are encoded once).
fn canonical_request(request: &Request<'_>, signed_headers: &[String]) -> String {
    let mut out = String::new();
    out.push_str(request.method);
    out.push('\n');
    let path = if request.path.is_empty() { "/" } else { request.path };
    out.push_str(&uri_encode(path, false));
    out.push('\n');
    out.push_str(&canonical_query(request.query));
    out.push('\n');
    for name in signed_headers {
        let values: Vec<String> =
            request.header_values(name).iter().map(|v| v.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed_headers.join(";"));
    out.push('\n');
    out.push_str(&hex(&Sha256::digest(request.body)));
    out
}

/// The query's pairs, decoded and re-encoded the AWS way, sorted by name then value.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (uri_encode(&percent_decode(k), true), uri_encode(&percent_decode(v), true))
        })
        .collect();
    pairs.sort();
    pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// AWS's URI encoding: unreserved characters stay, everything else is `%XX` (upper case);
/// `/` stays too unless `slash` says to encode it.
fn uri_encode(text: &str, slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') || (byte == b'/' && !slash) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped =
            (bytes[i] == b'%').then(|| text.get(i + 1..i + 3)).flatten().and_then(|h| u8::from_str_radix(h, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The date-scoped signing key: HMAC chained over date, region, service and `aws4_request`.
fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in [date, region, service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    key
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length, so this cannot fail; an empty result would only fail to verify.
    match HmacSha256::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    (0..text.len()).step_by(2).map(|i| text.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect()
}

/// `YYYYMMDDTHHMMSSZ` as unix seconds.
fn parse_amz_date(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(range)?;
        s.bytes().all(|c| c.is_ascii_digit()).then(|| s.parse().ok()).flatten()
    };
    let (y, m, d, hh, mm, ss) = (num(0..4)?, num(4..6)?, num(6..8)?, num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Unix seconds as `YYYYMMDDTHHMMSSZ`.
pub fn format_amz_date(secs: i64) -> String {
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

/// A new access key: its id and secret, shown once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    /// `AKIA` and 16 upper-case base-32 characters, as AWS's long-term keys look.
    pub id: String,
    /// 40 characters of base 64 (`A-Z a-z 0-9 + /`), as AWS's secrets look.
    pub secret: String,
}

impl AccessKey {
    /// Makes a key from the operating system's random source.
    pub fn generate() -> Result<AccessKey, Error> {
        const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut bytes = [0u8; 56];
        getrandom::fill(&mut bytes).map_err(|e| Error::Signing(format!("the random source failed: {e}")))?;
        let (id_bytes, secret_bytes) = bytes.split_at(16);
        let id = id_bytes.iter().map(|b| char::from(BASE32[usize::from(b % 32)]));
        let secret = secret_bytes.iter().map(|b| char::from(BASE64[usize::from(b % 64)]));
        Ok(AccessKey { id: format!("AKIA{}", id.collect::<String>()), secret: secret.collect() })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// AWS's published example (sig-v4 test suite, `get-vanilla`), signed with the example secret.
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const VANILLA: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                           SignedHeaders=host;x-amz-date, \
                           Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

    fn headers() -> Vec<(String, String)> {
        vec![("Host".into(), "example.amazonaws.com".into()), ("X-Amz-Date".into(), "20150830T123600Z".into())]
    }

    fn at(amz: &str) -> i64 {
        parse_amz_date(amz).unwrap()
    }

    #[test]
    fn aws_test_suite_get_vanilla_verifies() {
        let headers = headers();
        let request = Request { method: "GET", path: "/", query: "", headers: &headers, body: b"" };
        let auth = Authorization::parse(VANILLA).unwrap();
        assert_eq!((auth.access_key_id.as_str(), auth.service.as_str()), ("AKIDEXAMPLE", "service"));
        verify(&request, &auth, SECRET, at("20150830T123600Z")).unwrap();
        assert_eq!(verify(&request, &auth, "wrong", at("20150830T123600Z")), Err(Error::SignatureMismatch));
        let other = Request { method: "POST", ..request };
        assert_eq!(verify(&other, &auth, SECRET, at("20150830T123600Z")), Err(Error::SignatureMismatch));
    }

    #[test]
    fn a_skewed_clock_is_refused_either_way() {
        let headers = headers();
        let request = Request { method: "GET", path: "/", query: "", headers: &headers, body: b"" };
        let auth = Authorization::parse(VANILLA).unwrap();
        let signed = at("20150830T123600Z");
        verify(&request, &auth, SECRET, signed + MAX_SKEW_SECS).unwrap();
        for now in [signed + MAX_SKEW_SECS + 1, signed - MAX_SKEW_SECS - 1] {
            assert!(matches!(verify(&request, &auth, SECRET, now), Err(Error::SignatureExpired { .. })));
        }
    }

    #[test]
    fn unsigned_host_or_date_and_malformed_headers_are_refused() {
        let headers = headers();
        let request = Request { method: "GET", path: "/", query: "", headers: &headers, body: b"" };
        let mut auth = Authorization::parse(VANILLA).unwrap();
        auth.signed_headers = vec!["x-amz-date".into()];
        assert!(matches!(verify(&request, &auth, SECRET, at("20150830T123600Z")), Err(Error::MalformedSignature(_))));
        for bad in [
            "Bearer abc",
            "AWS4-HMAC-SHA256 Credential=AKID/2015/us-east-1/s/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/s/aws4_request, SignedHeaders=host",
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/s/x, SignedHeaders=host, Signature=00",
        ] {
            assert!(matches!(Authorization::parse(bad), Err(Error::MalformedSignature(_))), "{bad}");
        }
    }

    #[test]
    fn queries_are_canonicalised_the_aws_way() {
        assert_eq!(canonical_query("b=2&a=%7e+x&a=1"), "a=1&a=~%2Bx&b=2");
        assert_eq!(uri_encode("/a b/ü", false), "/a%20b/%C3%BC");
        assert_eq!(uri_encode("a/b", true), "a%2Fb");
    }

    #[test]
    fn dates_round_trip() {
        for secs in [0, 1_440_938_160, 1_709_251_199, 4_102_444_800] {
            assert_eq!(parse_amz_date(&format_amz_date(secs)), Some(secs));
        }
        assert_eq!(format_amz_date(1_440_938_160), "20150830T123600Z");
        assert_eq!(parse_amz_date("20151330T123600Z"), None);
    }

    #[test]
    fn generated_keys_look_like_aws_keys() {
        let a = AccessKey::generate().unwrap();
        let b = AccessKey::generate().unwrap();
        assert_ne!(a, b);
        assert!(a.id.starts_with("AKIA") && a.id.len() == 20);
        assert!(a.id.bytes().all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c)));
        assert_eq!(a.secret.len(), 40);
    }
}
