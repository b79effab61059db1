//! The key file: the HMAC keys tokens are signed with, kept apart from the database.
//!
//! A copy of the database (or of a backup of it) must open nothing, so the keys live in their own
//! small file, created with mode `0600` and replaced atomically (write a temporary file, then
//! rename). The file holds one key per line, oldest first; the last line is the current key, which
//! signs new tokens. Older keys still verify tokens until their `retires` instant, which
//! [`Keyring::rotate`] sets to the end of a grace period:
//!
//! ```text
//! scim-keyring 1
//! key <kid> <created, unix seconds> <retires, unix seconds, or -> <secret, hex>
//! ```
//!
//! A token names its key in its JWT header (`kid`). Tokens signed before keys had ids carry no
//! `kid`; they verify with the key whose id is [`LEGACY_KID`], the key moved out of an older
//! database, and with no other.

use std::fmt;
use std::fs;
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};

use crate::Error;

/// The id of the key moved out of a database that kept it inside (schema version 3 and older);
/// tokens without a `kid` header were signed with it.
pub const LEGACY_KID: &str = "legacy";

/// The first line of a key file.
const HEADER: &str = "scim-keyring 1";

/// The length in bytes of a generated key.
const KEY_BYTES: usize = 32;

/// One signing key.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    /// Its id, carried by the tokens it signs as the JWT header's `kid`.
    pub kid: String,
    /// When it was made, in unix seconds.
    pub created: i64,
    /// From when (unix seconds) it no longer verifies anything; `None` while it is current or
    /// was never rotated out.
    pub retires: Option<i64>,
    secret: Vec<u8>,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("created", &self.created)
            .field("retires", &self.retires)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// The secret bytes.
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// Whether the key still verifies tokens at `now` (unix seconds).
    pub fn is_live(&self, now: i64) -> bool {
        self.retires.is_none_or(|retires| now < retires)
    }
}

/// The signing keys, oldest first; the last one is current. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyring {
    keys: Vec<Key>,
}

impl Keyring {
    /// A keyring of one fresh random key made at `now` (unix seconds).
    pub fn generate(now: i64) -> Result<Keyring, Error> {
        Ok(Keyring { keys: vec![fresh_key(now)?] })
    }

    /// A keyring of the one given key (at least 32 bytes advised), with id `kid`.
    pub fn single(kid: &str, secret: &[u8], now: i64) -> Keyring {
        Keyring { keys: vec![Key { kid: kid.to_owned(), created: now, retires: None, secret: secret.to_vec() }] }
    }

    /// The keys, oldest first.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// The key that signs new tokens.
    pub fn current(&self) -> &Key {
        // A keyring is never empty: every constructor and `parse` make sure of it.
        &self.keys[self.keys.len() - 1]
    }

    /// Makes a new current key; every older key still live retires `grace_secs` after `now`
    /// (an earlier retirement already set is kept), and keys already retired are dropped.
    pub fn rotate(&mut self, now: i64, grace_secs: i64) -> Result<&Key, Error> {
        let fresh = fresh_key(now)?;
        let until = now.saturating_add(grace_secs.max(0));
        self.keys.retain(|key| key.is_live(now));
        for key in &mut self.keys {
            key.retires = Some(key.retires.map_or(until, |at| at.min(until)));
        }
        self.keys.push(fresh);
        Ok(self.current())
    }

    /// Adds `secret` as the oldest key with id [`LEGACY_KID`], unless the keyring holds it
    /// already: the key a database of schema version 3 or older kept inside.
    pub fn adopt_legacy(&mut self, secret: &[u8], now: i64) {
        if self.keys.iter().any(|key| key.secret == secret) {
            return;
        }
        self.keys.retain(|key| key.kid != LEGACY_KID);
        self.keys.insert(0, Key { kid: LEGACY_KID.to_owned(), created: now, retires: None, secret: secret.to_vec() });
    }

    /// Parses a key file's text.
    pub fn parse(text: &str) -> Result<Keyring, Error> {
        let bad = |line: usize, why: &str| Error::KeyFile(format!("line {line}: {why}"));
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())).filter(|(_, l)| !l.is_empty());
        match lines.next() {
            Some((_, HEADER)) => {}
            Some((n, _)) => return Err(bad(n, "not a scim-server key file (expected `scim-keyring 1`)")),
            None => return Err(Error::KeyFile("the key file is empty".into())),
        }
        let mut keys: Vec<Key> = Vec::new();
        for (n, line) in lines {
            let words: Vec<&str> = line.split_ascii_whitespace().collect();
            let ["key", kid, created, retires, secret] = words.as_slice() else {
                return Err(bad(n, "expected `key KID CREATED RETIRES|- SECRET`"));
            };
            let created = created.parse().map_err(|_| bad(n, "the creation time is not a number"))?;
            let retires = match *retires {
                "-" => None,
                at => Some(at.parse().map_err(|_| bad(n, "the retirement time is not a number or -"))?),
            };
            let secret = unhex(secret).ok_or_else(|| bad(n, "the secret is not hex"))?;
            if secret.len() < KEY_BYTES {
                return Err(bad(n, "the secret is shorter than 32 bytes"));
            }
            if keys.iter().any(|k| k.kid == *kid) {
                return Err(bad(n, "two keys have the same id"));
            }
            keys.push(Key { kid: (*kid).to_owned(), created, retires, secret });
        }
        if keys.is_empty() {
            return Err(Error::KeyFile("the key file holds no key".into()));
        }
        Ok(Keyring { keys })
    }

    /// The key file's text.
    pub fn render(&self) -> String {
        let mut out = format!("{HEADER}\n");
        for key in &self.keys {
            let retires = key.retires.map_or_else(|| "-".to_owned(), |at| at.to_string());
            out.push_str(&format!("key {} {} {retires} {}\n", key.kid, key.created, hex(&key.secret)));
        }
        out
    }

    /// Reads the key file at `path`; `Ok(None)` if there is none.
    pub fn load(path: &Path) -> Result<Option<Keyring>, Error> {
        match fs::read_to_string(path) {
            Ok(text) => {
                restrict(path)?;
                Keyring::parse(&text).map(Some).map_err(|e| Error::KeyFile(format!("{}: {e}", path.display())))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(path, &e)),
        }
    }

    /// Reads the key file at `path`, creating it with one fresh key if there is none.
    ///
    /// Creation is atomic and exclusive: two processes creating it at once end up with the same
    /// key, whichever wrote first.
    pub fn load_or_create(path: &Path, now: i64) -> Result<Keyring, Error> {
        if let Some(found) = Keyring::load(path)? {
            return Ok(found);
        }
        let fresh = Keyring::generate(now)?;
        match fresh.write(path, false) {
            Ok(()) => Ok(fresh),
            Err(Error::KeyFile(_)) if path.exists() => Keyring::load(path)?.ok_or_else(|| io_missing(path)),
            Err(e) => Err(e),
        }
    }

    /// Replaces the key file at `path` (or creates it) with this keyring, atomically, mode `0600`.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        self.write(path, true)
    }

    /// Writes a temporary file beside `path` and renames it over `path` (`replace`), or links
    /// it to `path` only if `path` does not exist yet.
    fn write(&self, path: &Path, replace: bool) -> Result<(), Error> {
        let temp = temp_path(path)?;
        let written = write_private(&temp, self.render().as_bytes()).and_then(|()| {
            if replace { fs::rename(&temp, path) } else { fs::hard_link(&temp, path) }.map_err(|e| io(path, &e))
        });
        // After a rename the temporary name is gone already; after a link or a failure, remove it.
        let _ = fs::remove_file(&temp);
        written?;
        sync_parent(path);
        Ok(())
    }
}

/// The default key file of the database at `db`: `<db>.key`, beside it.
pub fn default_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

fn fresh_key(now: i64) -> Result<Key, Error> {
    let mut secret = vec![0u8; KEY_BYTES];
    getrandom::fill(&mut secret).map_err(|e| Error::KeyFile(format!("the random source failed: {e}")))?;
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).map_err(|e| Error::KeyFile(format!("the random source failed: {e}")))?;
    Ok(Key { kid: hex(&id), created: now, retires: None, secret })
}

fn temp_path(path: &Path) -> Result<PathBuf, Error> {
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| Error::KeyFile(format!("the random source failed: {e}")))?;
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".tmp-{}", hex(&nonce)));
    Ok(PathBuf::from(name))
}

/// Creates `path` (which must not exist) readable by its owner only, writes `bytes` and syncs.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| io(path, &e))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(|e| io(path, &e))
}

/// Takes group and other permissions off an existing key file.
fn restrict(path: &Path) -> Result<(), Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path).map_err(|e| io(path, &e))?.permissions().mode();
        if mode & 0o077 != 0 {
            fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(|e| io(path, &e))?;
        }
    }
    Ok(())
}

/// Syncs the directory holding `path`, so a rename survives a crash; best effort.
fn sync_parent(path: &Path) {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Ok(dir) = fs::File::open(parent)
    {
        let _ = dir.sync_all();
    }
}

fn io(path: &Path, e: &std::io::Error) -> Error {
    Error::KeyFile(format!("{}: {e}", path.display()))
}

fn io_missing(path: &Path) -> Error {
    Error::KeyFile(format!("{}: vanished while being created", path.display()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("scim-auth-{}-{}", std::process::id(), temp_nonce()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn temp_nonce() -> String {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).unwrap();
        hex(&b)
    }

    #[test]
    fn render_and_parse_round_trip() {
        let mut ring = Keyring::generate(100).unwrap();
        ring.rotate(200, 50).unwrap();
        ring.adopt_legacy(&[9u8; 32], 1);
        let parsed = Keyring::parse(&ring.render()).unwrap();
        assert_eq!(parsed, ring);
        assert_eq!(parsed.keys().len(), 3);
        assert_eq!(parsed.keys()[0].kid, LEGACY_KID);
    }

    #[test]
    fn parse_refuses_what_it_cannot_trust() {
        let key = format!("key a 1 - {}", "ab".repeat(32));
        for bad in [
            "",
            "hello",
            "scim-keyring 1",
            "scim-keyring 1\nkey a 1 - zz",
            "scim-keyring 1\nkey a 1 - abab",
            &format!("scim-keyring 1\n{key}\n{key}"),
            &format!("scim-keyring 1\nkey a x - {}", "ab".repeat(32)),
            &format!("scim-keyring 2\n{key}"),
        ] {
            assert!(matches!(Keyring::parse(bad), Err(Error::KeyFile(_))), "{bad:?}");
        }
        assert!(Keyring::parse(&format!("scim-keyring 1\n{key}\n")).is_ok());
    }

    #[test]
    fn rotation_retires_older_keys_after_the_grace_period() {
        let mut ring = Keyring::generate(100).unwrap();
        let first = ring.current().clone();
        let second = ring.rotate(1_000, 60).unwrap().clone();
        assert_ne!(first.kid, second.kid);
        assert_eq!(ring.keys()[0].retires, Some(1_060));
        assert!(ring.keys()[0].is_live(1_059) && !ring.keys()[0].is_live(1_060));
        assert_eq!(ring.current(), &second);
        // A second rotation keeps the earlier retirement and drops keys already retired.
        ring.rotate(1_010, 3_600).unwrap();
        assert_eq!(ring.keys()[0].retires, Some(1_060));
        assert_eq!(ring.keys()[1].retires, Some(4_610));
        ring.rotate(2_000, 0).unwrap();
        assert_eq!(ring.keys().len(), 3, "the first key, retired at 1060, is gone");
        assert!(ring.keys().iter().all(|k| k.kid != first.kid));
    }

    #[test]
    fn files_are_private_and_created_once() {
        let dir = temp_dir();
        let path = dir.join("db.key");
        let made = Keyring::load_or_create(&path, 5).unwrap();
        assert_eq!(Keyring::load_or_create(&path, 6).unwrap(), made);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            Keyring::load(&path).unwrap().unwrap();
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let mut rotated = made.clone();
        rotated.rotate(10, 10).unwrap();
        rotated.save(&path).unwrap();
        assert_eq!(Keyring::load(&path).unwrap(), Some(rotated));
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        assert_eq!(Keyring::load(&dir.join("none")).unwrap(), None);
        assert_eq!(default_path(Path::new("/x/scim.db")), PathBuf::from("/x/scim.db.key"));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn debug_never_shows_secrets() {
        let ring = Keyring::single("k", &[0xab; 32], 1);
        assert!(!format!("{ring:?}").contains("abab"));
    }
}
