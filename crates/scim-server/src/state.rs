//! The state every request shares: the store, the tenants, tokens and access keys cached in
//! memory, and the server's keys and limits.
//!
//! Tenants and active tokens live in memory and are reloaded whenever the database changes,
//! whoever changed it (see `watch`), so a token deleted by the CLI in another process stops
//! working within a second without a disk read per request. [`State::reload_keys`] reads the key
//! file again, so a key rotated by `scim-server key rotate` signs and verifies within a second too.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};

use scim_auth::{ActiveToken, Verifier};
use scim_schema::{Profile, ProfileName, ResourceKind};
use scim_store::{Membership, RateLimit, Store, Stored, TenantKey};

/// The region the AWS APIs answer in unless `--aws-regions` says otherwise.
pub const DEFAULT_REGION: &str = "us-east-1";

/// What the server keeps in memory of an access key of the AWS APIs.
#[derive(Clone)]
pub struct KeyEntry {
    /// The tenant the key opens.
    pub tenant_id: String,
    /// The secret, for SigV4 verification.
    pub secret: String,
}

impl std::fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEntry").field("tenant_id", &self.tenant_id).finish_non_exhaustive()
    }
}

/// What the server knows of a tenant without asking the database.
#[derive(Debug, Clone, Copy)]
pub struct TenantEntry {
    /// The store's key for the tenant.
    pub key: TenantKey,
    /// The tenant's rules.
    pub profile: &'static Profile,
    /// The tenant's request rate limit, if it has one.
    pub rate_limit: Option<RateLimit>,
}

/// A read by id (`scim::get`): the tenant, kind and id, and whether the resource's memberships
/// are wanted.
pub type ById = (TenantKey, ResourceKind, String, bool);

/// The answer to a [`ById`]: the resource, and its memberships if they were wanted.
pub type Found = (Stored<String>, Option<Vec<Membership>>);

/// State shared by every request.
#[derive(Debug)]
pub struct State {
    /// The database.
    pub store: Arc<Store>,
    /// Token verification against the active set.
    pub verifier: Verifier,
    /// Tenants by id.
    pub tenants: RwLock<HashMap<String, TenantEntry>>,
    /// The URL clients reach the server at, without a trailing `/`.
    pub public_url: String,
    /// The token buckets of rate-limited tenants.
    pub limiter: crate::ratelimit::Limiter,
    /// The admin secret given at start-up (`--admin-token-file`, `SCIM_ADMIN_TOKEN`), kept in
    /// memory only.
    pub admin_secret: Option<String>,
    /// The key of the paging cursors.
    pub cursors: crate::cursor::CursorKey,
    /// Requests refused for want of a valid token, counted until the next audit flush.
    pub refusals: crate::refusals::Refusals,
    /// What the server has done, for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Set once shutdown begins: `/readyz` then answers `503`.
    pub draining: AtomicBool,
    /// The key file, and the text of it the verifier's keys were last made from.
    key_file: (PathBuf, Mutex<String>),
    /// Access keys by id, for the AWS APIs' SigV4 verification.
    pub access_keys: RwLock<HashMap<String, KeyEntry>>,
    /// The regions the AWS APIs answer in (`--aws-regions`); the first is the one shown.
    pub aws_regions: Vec<String>,
    /// Reads by id waiting to be answered together (`scim::get`).
    pub gets: crate::gather::Gather<ById, Found>,
}

impl State {
    /// Opens the state over `store`, loading tenants and tokens.
    ///
    /// `keyring` was read from `key_file`, which [`State::reload_keys`] reads again for rotations.
    pub fn new(
        store: Arc<Store>,
        public_url: String,
        admin_secret: Option<String>,
        key_file: PathBuf,
        keyring: &scim_auth::Keyring,
    ) -> Result<State, scim_store::Error> {
        let state = State {
            // Derived from the key signing at start-up: cursors outlive a rotation until the
            // next restart, when a client restarts its listing (invalidCursor, as AWS expires them).
            cursors: crate::cursor::CursorKey::derive(keyring.current().secret()),
            store,
            verifier: Verifier::new(scim_auth::Signer::from_keyring(keyring)),
            tenants: RwLock::new(HashMap::new()),
            public_url: public_url.trim_end_matches('/').to_owned(),
            limiter: crate::ratelimit::Limiter::default(),
            admin_secret,
            refusals: crate::refusals::Refusals::default(),
            metrics: Arc::default(),
            draining: AtomicBool::new(false),
            key_file: (key_file, Mutex::new(keyring.render())),
            access_keys: RwLock::new(HashMap::new()),
            aws_regions: vec![DEFAULT_REGION.to_owned()],
            gets: crate::gather::Gather::default(),
        };
        state.reload()?;
        Ok(state)
    }

    /// Reads the key file again and, if it changed (a rotation), verifies and signs with its keys
    /// from now on. A file that is missing or unreadable keeps the keys in use, loudly.
    pub fn reload_keys(&self) {
        let (path, seen) = &self.key_file;
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot read the key file; keeping the keys in use");
                return;
            }
        };
        let mut seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if *seen == text {
            return;
        }
        match scim_auth::Keyring::parse(&text) {
            Ok(keyring) => {
                self.verifier.set_signer(scim_auth::Signer::from_keyring(&keyring));
                tracing::info!(kid = %keyring.current().kid, keys = keyring.keys().len(), "loaded rotated signing keys");
                *seen = text;
            }
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "the key file is invalid; keeping the keys in use")
            }
        }
    }

    /// Reloads tenants and active tokens from the database.
    pub fn reload(&self) -> Result<(), scim_store::Error> {
        let tenants: HashMap<String, TenantEntry> = self
            .store
            .tenants()?
            .into_iter()
            .filter_map(|t| {
                let profile = t.profile.parse::<ProfileName>().ok()?.profile();
                Some((t.id, TenantEntry { key: t.key, profile, rate_limit: t.rate_limit }))
            })
            .collect();
        let tokens = self.store.all_tokens()?.into_iter().map(|t| ActiveToken {
            id: t.id,
            tenant_id: t.tenant_id,
            expires: t.expires,
        });
        self.verifier.set_active(tokens);
        self.verifier.set_active_admin(self.store.admin_tokens()?.into_iter().map(|t| (t.id, t.expires)));
        let limited: std::collections::HashSet<TenantKey> =
            tenants.values().filter(|t| t.rate_limit.is_some()).map(|t| t.key).collect();
        self.limiter.retain(|key| limited.contains(&key));
        *self.tenants.write().unwrap_or_else(|p| p.into_inner()) = tenants;
        let keys = self
            .store
            .all_access_keys()?
            .into_iter()
            .map(|k| (k.id, KeyEntry { tenant_id: k.tenant_id, secret: k.secret }))
            .collect();
        *self.access_keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
        Ok(())
    }

    /// The tenant with public id `id`, if any.
    pub fn tenant(&self, id: &str) -> Option<TenantEntry> {
        self.tenants.read().unwrap_or_else(|p| p.into_inner()).get(id).copied()
    }
}
