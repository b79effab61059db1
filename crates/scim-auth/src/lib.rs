//! Bearer tokens for a multi-tenant SCIM service provider.
//!
//! An identity provider authenticates every SCIM request with a long-lived bearer token that an
//! administrator copied from the console once. This crate issues such tokens and verifies them:
//! a token is an HS256 JSON Web Token whose claims bind it to one tenant (`tid`), name it (`jti`,
//! the token id an administrator sees and deletes) and bound its life (`iat`, `exp`).
//!
//! The crate is not a store. It never sees a database: the caller tells a [`Verifier`] which token
//! ids are active (with their tenant and expiry) and refreshes that set whenever it changes. That
//! split is the design decision a reader may question: why sign tokens at all if the server keeps
//! a list of active ids anyway? Because the list then holds nothing secret. The database stores
//! token ids, never tokens, so a copy of it opens no tenant; and the signature lets the verifier
//! reject forged or mangled tokens before any lookup. Revocation is the list's job: a deleted id
//! stops working as soon as the caller refreshes the set.
//!
//! The keys live in their own file, never in the database ([`keyring`]): a token names its key in
//! its JWT header (`kid`), so a key can be rotated while tokens signed with the previous one keep
//! working for a grace period.
//!
//! Verification of a token already seen is a hash-map hit; the HMAC and JSON work is done once per
//! distinct token and active set.
//!
//! Administrators hold a second kind of token, signed with the same keys but carrying
//! `scope: "admin"` and no tenant ([`Signer::issue_admin`], [`Verifier::authenticate_admin`]).
//! The two kinds never cross: a tenant's SCIM token is refused as an admin credential because it
//! lacks the scope, and an admin token is refused by every tenant because it carries the scope;
//! their ids also live in separate active sets.
//!
//! ```
//! use scim_auth::{ActiveToken, Signer, Verifier};
//!
//! let signer = Signer::new(b"a secret of at least thirty-two bytes!!");
//! let issued = signer.issue("tenant-a", 1_700_000_000, 3600).unwrap();
//! let verifier = Verifier::new(signer);
//! verifier.set_active([ActiveToken {
//!     id: issued.token_id.clone(),
//!     tenant_id: "tenant-a".into(),
//!     expires: issued.expires,
//! }]);
//! assert_eq!(verifier.authenticate(&issued.token, "tenant-a", 1_700_000_001).unwrap(), issued.token_id);
//! assert!(verifier.authenticate(&issued.token, "tenant-b", 1_700_000_001).is_err());
//! ```
#![deny(missing_docs)]

pub mod sigv4;

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, RwLock};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

pub mod keyring;

pub use keyring::{Keyring, LEGACY_KID};

/// The default life of a token: one year, as AWS IAM Identity Center issues them.
pub const DEFAULT_TTL_SECS: i64 = 365 * 24 * 60 * 60;

/// How many distinct verified tokens the verifier remembers; beyond this it verifies each time.
const VERIFIED_CACHE_LIMIT: usize = 4096;

/// Why a token or a signed request was refused, or why keys could not be used.
///
/// A token's refusal answers 401 on the wire and a signature's refusal the AWS error its variant
/// names; either way the variant's text is for the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The text is not a well-formed token signed by this server's key.
    Invalid,
    /// The token's id is not active: it was deleted, or never existed.
    Revoked,
    /// The token belongs to another tenant than the one addressed.
    WrongTenant,
    /// The token is past its expiry.
    Expired,
    /// The token is of the other kind: an admin token offered to a tenant, or a tenant's token
    /// offered as an admin credential.
    WrongScope,
    /// The token's key was rotated out and its grace period is over.
    Retired,
    /// Signing failed (a broken key); only issuing can see this.
    Signing(String),
    /// The key file could not be read, parsed or written.
    KeyFile(String),
    /// A SigV4 request carries no `Authorization` header (AWS: `MissingAuthenticationTokenException`).
    MissingSignature,
    /// A SigV4 `Authorization` or `X-Amz-Date` header is malformed (AWS: `IncompleteSignatureException`).
    MalformedSignature(String),
    /// A SigV4 request's access key id is unknown (AWS: `UnrecognizedClientException`).
    UnknownAccessKey,
    /// A SigV4 request was signed more than 15 minutes from now (AWS: `InvalidSignatureException`).
    SignatureExpired {
        /// The request's `X-Amz-Date`.
        signed: String,
        /// The server's time, in the same form.
        now: String,
    },
    /// A SigV4 signature does not match the request and the key's secret (AWS: `InvalidSignatureException`).
    SignatureMismatch,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Invalid => f.write_str("token is malformed or not signed by this server"),
            Error::Revoked => f.write_str("token id is not active (deleted or unknown)"),
            Error::WrongTenant => f.write_str("token belongs to another tenant"),
            Error::Expired => f.write_str("token has expired"),
            Error::WrongScope => f.write_str("token is not meant for this endpoint (admin versus tenant)"),
            Error::Retired => f.write_str("token was signed with a key retired by rotation"),
            Error::Signing(why) => write!(f, "could not sign token: {why}"),
            Error::KeyFile(why) => write!(f, "key file: {why}"),
            Error::MissingSignature => f.write_str("the request is not signed"),
            Error::MalformedSignature(why) => write!(f, "malformed signature: {why}"),
            Error::UnknownAccessKey => f.write_str("unknown access key id"),
            Error::SignatureExpired { signed, now } => {
                write!(f, "signed at {signed}, more than 15 minutes from the server's {now}")
            }
            Error::SignatureMismatch => f.write_str("the signature does not match"),
        }
    }
}

impl std::error::Error for Error {}

/// The claims a token carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The tenant the token opens.
    pub tid: String,
    /// The token's id.
    pub jti: String,
    /// Issued at, in seconds since the Unix epoch.
    pub iat: i64,
    /// Expires at, in seconds since the Unix epoch.
    pub exp: i64,
    /// `Some("admin")` for an administrator's token; absent from tenant tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// The `scope` claim of administrators' tokens.
pub const ADMIN_SCOPE: &str = "admin";

/// A freshly issued token. `token` is shown to the administrator once and kept nowhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The bearer token itself.
    pub token: String,
    /// Its id, which is what a store keeps.
    pub token_id: String,
    /// Issued at, in seconds since the Unix epoch.
    pub created: i64,
    /// Expires at, in seconds since the Unix epoch.
    pub expires: i64,
}

/// Signs tokens with the current key of a [`Keyring`] and checks them with any of its live keys.
pub struct Signer {
    /// Oldest first; the last one signs.
    keys: Vec<SigningKey>,
    validation: Validation,
}

/// One key of a [`Signer`], ready for HMAC.
struct SigningKey {
    kid: String,
    retires: Option<i64>,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        let kids: Vec<&str> = self.keys.iter().map(|k| k.kid.as_str()).collect();
        f.debug_struct("Signer").field("kids", &kids).finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer of one secret key (use at least 32 random bytes), with id [`LEGACY_KID`].
    pub fn new(secret: &[u8]) -> Signer {
        Signer::from_keyring(&Keyring::single(LEGACY_KID, secret, 0))
    }

    /// A signer over every key of `keyring`; the current key signs.
    pub fn from_keyring(keyring: &Keyring) -> Signer {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked against the caller's clock and the active set, not the system clock.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let keys = keyring
            .keys()
            .iter()
            .map(|key| SigningKey {
                kid: key.kid.clone(),
                retires: key.retires,
                encoding: EncodingKey::from_secret(key.secret()),
                decoding: DecodingKey::from_secret(key.secret()),
            })
            .collect();
        Signer { keys, validation }
    }

    /// Issues a token for `tenant_id`, valid from `now` for `ttl_secs` seconds.
    pub fn issue(&self, tenant_id: &str, now: i64, ttl_secs: i64) -> Result<Issued, Error> {
        let claims = Claims {
            tid: tenant_id.to_owned(),
            jti: uuid::Uuid::new_v4().to_string(),
            iat: now,
            exp: now.saturating_add(ttl_secs),
            scope: None,
        };
        self.sign(claims)
    }

    /// Issues an administrator's token (no tenant, `scope: "admin"`), valid from `now` for
    /// `ttl_secs` seconds. It opens the admin API only, never a tenant's SCIM endpoint.
    pub fn issue_admin(&self, now: i64, ttl_secs: i64) -> Result<Issued, Error> {
        let claims = Claims {
            tid: String::new(),
            jti: uuid::Uuid::new_v4().to_string(),
            iat: now,
            exp: now.saturating_add(ttl_secs),
            scope: Some(ADMIN_SCOPE.to_owned()),
        };
        self.sign(claims)
    }

    fn sign(&self, claims: Claims) -> Result<Issued, Error> {
        let key = self.keys.last().ok_or_else(|| Error::Signing("the keyring is empty".into()))?;
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &key.encoding).map_err(|e| Error::Signing(e.to_string()))?;
        Ok(Issued { token, token_id: claims.jti, created: claims.iat, expires: claims.exp })
    }

    /// Checks the signature and shape of `token` with the key its `kid` names (a token without
    /// one: the [`LEGACY_KID`] key) and returns its claims (expiry not checked) and when that key
    /// retires. [`Error::Retired`] if the key retired before `now`.
    pub fn decode(&self, token: &str, now: i64) -> Result<(Claims, Option<i64>), Error> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| Error::Invalid)?;
        let kid = header.kid.as_deref().unwrap_or(LEGACY_KID);
        let key = self.keys.iter().find(|k| k.kid == kid).ok_or(Error::Invalid)?;
        let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| Error::Invalid)?;
        if key.retires.is_some_and(|at| now >= at) {
            return Err(Error::Retired);
        }
        Ok((claims, key.retires))
    }
}

/// A token id the verifier accepts, with what the store knows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveToken {
    /// The token id (`jti`).
    pub id: String,
    /// The tenant it belongs to.
    pub tenant_id: String,
    /// When it expires, in seconds since the Unix epoch.
    pub expires: i64,
}

#[derive(Debug, Default)]
struct State {
    active: HashMap<String, ActiveToken>,
    /// Active admin token ids and their expiry.
    admin: HashMap<String, i64>,
    /// Tokens whose signature was already checked, mapped to their claims and when their key
    /// retires.
    verified: HashMap<Box<str>, (Claims, Option<i64>), BuildHasherDefault<SignatureTail>>,
}

/// Hashes a token by its last 16 bytes only: the end of its signature.
///
/// Every request looks its token up here, and SipHash over a whole token (some 250 bytes) was a
/// measurable part of the cheapest request. Only tokens whose signature verified go in, so no
/// client can choose keys that collide; a lookup of any other text costs one probe sequence,
/// as with any hash.
#[derive(Debug, Default)]
struct SignatureTail(u64);

impl Hasher for SignatureTail {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes[bytes.len().saturating_sub(16)..].chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Authenticates requests against a [`Signer`] and the set of active token ids.
#[derive(Debug)]
pub struct Verifier {
    signer: RwLock<Arc<Signer>>,
    state: RwLock<State>,
}

impl Verifier {
    /// A verifier with no active tokens: it refuses everything until [`Verifier::set_active`].
    pub fn new(signer: Signer) -> Verifier {
        Verifier { signer: RwLock::new(Arc::new(signer)), state: RwLock::new(State::default()) }
    }

    /// The signer, to issue tokens with the same keys.
    pub fn signer(&self) -> Arc<Signer> {
        Arc::clone(&self.signer.read().unwrap_or_else(|poison| poison.into_inner()))
    }

    /// Replaces the keys (after a rotation). Tokens whose key is gone stop working at once.
    pub fn set_signer(&self, signer: Signer) {
        let mut state = self.state.write().unwrap_or_else(|poison| poison.into_inner());
        *self.signer.write().unwrap_or_else(|poison| poison.into_inner()) = Arc::new(signer);
        state.verified.clear();
    }

    /// Replaces the set of active token ids. Tokens not in it stop working at once.
    pub fn set_active(&self, tokens: impl IntoIterator<Item = ActiveToken>) {
        let active: HashMap<String, ActiveToken> = tokens.into_iter().map(|t| (t.id.clone(), t)).collect();
        let mut state = self.state.write().unwrap_or_else(|poison| poison.into_inner());
        state.verified.retain(|_, (claims, _)| active.contains_key(&claims.jti));
        state.active = active;
    }

    /// Replaces the set of active admin token ids (with their expiry, in seconds).
    pub fn set_active_admin(&self, tokens: impl IntoIterator<Item = (String, i64)>) {
        let admin = tokens.into_iter().collect();
        self.state.write().unwrap_or_else(|poison| poison.into_inner()).admin = admin;
    }

    /// Checks that `token` is an active admin token at time `now` (seconds); returns its id.
    ///
    /// Admin requests are rare, so this verifies the signature every time rather than caching.
    pub fn authenticate_admin(&self, token: &str, now: i64) -> Result<String, Error> {
        let (claims, _) = self.signer().decode(token, now)?;
        if claims.scope.as_deref() != Some(ADMIN_SCOPE) {
            return Err(Error::WrongScope);
        }
        let state = self.state.read().unwrap_or_else(|poison| poison.into_inner());
        let expires = *state.admin.get(&claims.jti).ok_or(Error::Revoked)?;
        if now >= expires.min(claims.exp) {
            return Err(Error::Expired);
        }
        Ok(claims.jti)
    }

    /// Checks that `token` opens `tenant_id` at time `now` (seconds); returns the token id.
    pub fn authenticate(&self, token: &str, tenant_id: &str, now: i64) -> Result<String, Error> {
        {
            let state = self.state.read().unwrap_or_else(|poison| poison.into_inner());
            if let Some((claims, retires)) = state.verified.get(token) {
                if retires.is_some_and(|at| now >= at) {
                    return Err(Error::Retired);
                }
                return check(&state.active, claims, tenant_id, now);
            }
        }
        let (claims, retires) = self.signer().decode(token, now)?;
        let mut state = self.state.write().unwrap_or_else(|poison| poison.into_inner());
        let outcome = check(&state.active, &claims, tenant_id, now);
        // Only tokens of the active set are remembered, so the cache cannot be filled by
        // well-signed but revoked tokens, and it stays bounded.
        if state.active.contains_key(&claims.jti) && state.verified.len() < VERIFIED_CACHE_LIMIT {
            state.verified.insert(token.into(), (claims, retires));
        }
        outcome
    }
}

fn check(active: &HashMap<String, ActiveToken>, claims: &Claims, tenant_id: &str, now: i64) -> Result<String, Error> {
    if claims.scope.is_some() {
        return Err(Error::WrongScope);
    }
    let known = active.get(&claims.jti).ok_or(Error::Revoked)?;
    if known.tenant_id != claims.tid || claims.tid != tenant_id {
        return Err(Error::WrongTenant);
    }
    if now >= known.expires.min(claims.exp) {
        return Err(Error::Expired);
    }
    Ok(claims.jti.clone())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn setup() -> (Verifier, Issued) {
        let signer = Signer::new(&[7u8; 32]);
        let issued = signer.issue("t1", NOW, DEFAULT_TTL_SECS).unwrap();
        let verifier = Verifier::new(signer);
        verifier.set_active([active(&issued, "t1")]);
        (verifier, issued)
    }

    fn active(issued: &Issued, tenant: &str) -> ActiveToken {
        ActiveToken { id: issued.token_id.clone(), tenant_id: tenant.into(), expires: issued.expires }
    }

    #[test]
    fn issued_token_opens_its_tenant_only() {
        let (v, t) = setup();
        assert_eq!(v.authenticate(&t.token, "t1", NOW + 1), Ok(t.token_id.clone()));
        // Twice, so the cached path is exercised too.
        assert_eq!(v.authenticate(&t.token, "t1", NOW + 2), Ok(t.token_id.clone()));
        assert_eq!(v.authenticate(&t.token, "t2", NOW + 1), Err(Error::WrongTenant));
    }

    #[test]
    fn one_year_by_default_and_expiry_enforced() {
        let (v, t) = setup();
        assert_eq!(t.expires - t.created, 365 * 86_400);
        assert_eq!(v.authenticate(&t.token, "t1", t.expires - 1), Ok(t.token_id.clone()));
        assert_eq!(v.authenticate(&t.token, "t1", t.expires), Err(Error::Expired));
    }

    #[test]
    fn store_expiry_wins_when_earlier() {
        let (v, t) = setup();
        v.set_active([ActiveToken { expires: NOW + 10, ..active(&t, "t1") }]);
        assert_eq!(v.authenticate(&t.token, "t1", NOW + 10), Err(Error::Expired));
    }

    #[test]
    fn revocation_is_immediate_even_for_cached_tokens() {
        let (v, t) = setup();
        assert!(v.authenticate(&t.token, "t1", NOW).is_ok());
        v.set_active([]);
        assert_eq!(v.authenticate(&t.token, "t1", NOW), Err(Error::Revoked));
    }

    #[test]
    fn active_record_of_another_tenant_does_not_open() {
        let (v, t) = setup();
        v.set_active([active(&t, "t2")]);
        assert_eq!(v.authenticate(&t.token, "t2", NOW), Err(Error::WrongTenant));
    }

    #[test]
    fn forged_and_mangled_tokens_are_invalid() {
        let (v, t) = setup();
        let other = Signer::new(&[8u8; 32]).issue("t1", NOW, 60).unwrap();
        v.set_active([active(&t, "t1"), active(&other, "t1")]);
        assert_eq!(v.authenticate(&other.token, "t1", NOW), Err(Error::Invalid));
        for bad in ["", "non-token", "a.b.c", &t.token[..t.token.len() - 2], &format!("{}x", t.token)] {
            assert_eq!(v.authenticate(bad, "t1", NOW), Err(Error::Invalid), "{bad}");
        }
    }

    #[test]
    fn admin_and_tenant_tokens_never_cross() {
        let (v, t) = setup();
        let admin = v.signer().issue_admin(NOW, 3600).unwrap();
        // Not yet active: refused.
        assert_eq!(v.authenticate_admin(&admin.token, NOW), Err(Error::Revoked));
        v.set_active_admin([(admin.token_id.clone(), admin.expires)]);
        assert_eq!(v.authenticate_admin(&admin.token, NOW + 1), Ok(admin.token_id.clone()));
        assert_eq!(v.authenticate_admin(&admin.token, admin.expires), Err(Error::Expired));
        // A tenant token is not an admin credential, even if its id were in the admin set.
        v.set_active_admin([(t.token_id.clone(), t.expires), (admin.token_id.clone(), admin.expires)]);
        assert_eq!(v.authenticate_admin(&t.token, NOW), Err(Error::WrongScope));
        // An admin token opens no tenant, even one whose active set names its id.
        v.set_active([active(&t, "t1"), active(&admin, "")]);
        assert_eq!(v.authenticate(&admin.token, "", NOW), Err(Error::WrongScope));
        assert_eq!(v.authenticate(&admin.token, "t1", NOW), Err(Error::WrongScope));
        // Revocation is immediate.
        v.set_active_admin([]);
        assert_eq!(v.authenticate_admin(&admin.token, NOW), Err(Error::Revoked));
        assert_eq!(v.authenticate_admin("garbage", NOW), Err(Error::Invalid));
    }

    #[test]
    fn rotated_keys_verify_until_they_retire_and_name_themselves() {
        let mut ring = Keyring::generate(NOW).unwrap();
        let old = Signer::from_keyring(&ring).issue("t1", NOW, DEFAULT_TTL_SECS).unwrap();
        ring.rotate(NOW + 10, 100).unwrap();
        let verifier = Verifier::new(Signer::new(&[1u8; 32]));
        verifier.set_signer(Signer::from_keyring(&ring));
        let new = verifier.signer().issue("t1", NOW + 10, DEFAULT_TTL_SECS).unwrap();
        let header = jsonwebtoken::decode_header(&new.token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(ring.current().kid.as_str()));
        verifier.set_active([active(&old, "t1"), active(&new, "t1")]);
        assert_eq!(verifier.authenticate(&old.token, "t1", NOW + 109), Ok(old.token_id.clone()));
        // Cached or not, the old key's tokens stop at the end of the grace period.
        assert_eq!(verifier.authenticate(&old.token, "t1", NOW + 110), Err(Error::Retired));
        assert_eq!(verifier.authenticate(&new.token, "t1", NOW + 110), Ok(new.token_id.clone()));
        // A keyring without the old key refuses its tokens outright.
        ring.rotate(NOW + 200, 0).unwrap();
        let newest = Keyring::parse(&ring.render()).unwrap();
        verifier.set_signer(Signer::from_keyring(&newest));
        assert_eq!(verifier.authenticate(&new.token, "t1", NOW + 200), Err(Error::Retired));
    }

    #[test]
    fn tokens_without_kid_verify_with_the_legacy_key_only() {
        // What the store's key signed before keys had ids: an HS256 JWT with no `kid`.
        let secret = [5u8; 32];
        let claims = Claims { tid: "t1".into(), jti: "j".into(), iat: NOW, exp: NOW + 60, scope: None };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&secret)).unwrap();
        let mut ring = Keyring::generate(NOW).unwrap();
        assert_eq!(Signer::from_keyring(&ring).decode(&token, NOW), Err(Error::Invalid));
        ring.adopt_legacy(&secret, NOW);
        assert_eq!(Signer::from_keyring(&ring).decode(&token, NOW).unwrap().0, claims);
    }

    #[test]
    fn debug_never_shows_key() {
        let signer = Signer::new(b"super-secret-key-material-0123456789");
        assert!(!format!("{signer:?}").contains("secret"));
    }
}
