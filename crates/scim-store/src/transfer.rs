//! Copies out of the database: an online backup of the whole file, and one tenant's export and
//! import as JSON lines (the format is documented in `docs/DEPLOY.md`, "Moving a tenant").
//!
//! An export is read in one snapshot and an import written in one job, so an import either adds
//! the whole tenant or nothing. Tokens never travel: the destination's administrator issues new
//! ones, signed with the destination's key.

use scim_schema::ResourceKind;
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde_json::{Map, Value, json};

use crate::contract::{Exported, Reader, Writer};
use crate::db::Db;
use crate::error::conflict;
use crate::resources::KindCode;
use crate::{AccessControlAttribute, Error, RateLimit, Tenant, TenantKey, connection};

/// The first line of every export: what the file is and the version of its format.
pub const EXPORT_FORMAT: &str = "scim-server tenant export";

/// The version of the export format this build writes and reads.
pub const EXPORT_VERSION: i64 = 1;

/// What an export or import moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Moved {
    /// Users.
    pub users: u64,
    /// Groups.
    pub groups: u64,
    /// Membership rows.
    pub members: u64,
}

/// Copies the database at `db` to a new file `out` (mode `0600`), consistently, while other
/// processes may be writing to it: `VACUUM INTO` reads one snapshot, so the copy holds every
/// write committed before it started and none half-done. `out` must not exist.
pub fn backup(db: &Path, out: &Path) -> Result<(), Error> {
    let io = |what: &Path, e: std::io::Error| Error::Io(format!("{}: {e}", what.display()));
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(connection::BUSY_TIMEOUT)?;
    crate::migrations::check(&conn)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    // Created empty and private first: VACUUM INTO fills an empty file and keeps its mode.
    drop(options.open(out).map_err(|e| io(out, e))?);
    let copied = out
        .to_str()
        .ok_or_else(|| Error::Io(format!("{}: not a UTF-8 path", out.display())))
        .and_then(|target| Ok(conn.execute("VACUUM INTO ?1", [target])?))
        .and_then(|_| std::fs::File::open(out).and_then(|f| f.sync_all()).map_err(|e| io(out, e)));
    if copied.is_err() {
        let _ = std::fs::remove_file(out);
    }
    copied
}

/// One line of an import being read: its number and its fields.
struct Line {
    number: usize,
    fields: Map<String, Value>,
}

impl Line {
    fn bad(&self, reason: impl Into<String>) -> Error {
        Error::Import { line: self.number, reason: reason.into() }
    }

    fn field(&self, name: &str) -> Option<&Value> {
        self.fields.get(name).filter(|v| !v.is_null())
    }

    fn text(&self, name: &str) -> Result<&str, Error> {
        self.field(name).and_then(Value::as_str).ok_or_else(|| self.bad(format!("{name:?} must be a string")))
    }

    fn optional_text(&self, name: &str) -> Result<Option<&str>, Error> {
        match self.field(name) {
            None => Ok(None),
            Some(v) => v.as_str().map(Some).ok_or_else(|| self.bad(format!("{name:?} must be a string or null"))),
        }
    }

    fn integer(&self, name: &str) -> Result<i64, Error> {
        self.field(name).and_then(Value::as_i64).ok_or_else(|| self.bad(format!("{name:?} must be an integer")))
    }
}

/// Reads the lines of an import, skipping blank ones.
struct Lines<R> {
    input: R,
    number: usize,
}

impl<R: BufRead> Lines<R> {
    fn next(&mut self) -> Result<Option<Line>, Error> {
        let mut text = String::new();
        loop {
            text.clear();
            self.number += 1;
            let read = self
                .input
                .read_line(&mut text)
                .map_err(|e| Error::Import { line: self.number, reason: format!("cannot read: {e}") })?;
            if read == 0 {
                return Ok(None);
            }
            if text.trim().is_empty() {
                continue;
            }
            let bad = |reason: String| Error::Import { line: self.number, reason };
            return match serde_json::from_str(&text) {
                Ok(Value::Object(fields)) => Ok(Some(Line { number: self.number, fields })),
                Ok(_) => Err(bad("not a JSON object".into())),
                Err(e) => Err(bad(format!("not JSON: {e}"))),
            };
        }
    }
}

/// Whether `id` may name a tenant: the characters of a URL path segment that need no escaping.
fn is_tenant_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Writes tenant `tenant_id` as JSON lines to `out`; see [`Store::export_tenant`](crate::Store::export_tenant).
pub(crate) fn export(r: &dyn Reader, tenant_id: &str, out: &mut dyn Write) -> Result<Moved, Error> {
    let tenant = r.tenant(tenant_id)?.ok_or(Error::NotFound)?;
    let mut moved = Moved::default();
    let mut line = |value: Value| -> Result<(), Error> {
        serde_json::to_writer(&mut *out, &value)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
            .map_err(|e| Error::Io(format!("writing the export: {e}")))
    };
    line(json!({"format": EXPORT_FORMAT, "version": EXPORT_VERSION}))?;
    let rate_limit = tenant.rate_limit.map(|l| json!({"per_second": l.per_second, "burst": l.burst}));
    line(json!({"type": "tenant", "id": tenant.id, "name": tenant.name, "profile": tenant.profile,
                "created": tenant.created, "max_users": tenant.max_users, "max_groups": tenant.max_groups,
                "rate_limit": rate_limit}))?;
    for attribute in r.access_control(tenant.key)? {
        line(json!({"type": "access_control", "key": attribute.key, "source": attribute.source}))?;
    }
    r.export_resources(tenant.key, &mut |resource| {
        let kind = match resource.kind {
            ResourceKind::User => {
                moved.users += 1;
                "User"
            }
            ResourceKind::Group => {
                moved.groups += 1;
                "Group"
            }
        };
        line(json!({"type": "resource", "kind": kind, "id": resource.id, "name_key": resource.name_key,
                    "external_id": resource.external_id, "email_key": resource.email_key,
                    "created": resource.created, "modified": resource.modified, "version": resource.version,
                    "attrs": resource.attrs}))
    })?;
    r.export_members(tenant.key, &mut |group, member| {
        moved.members += 1;
        line(json!({"type": "member", "group": group, "member": member}))
    })?;
    out.flush().map_err(|e| Error::Io(format!("writing the export: {e}")))?;
    Ok(moved)
}

/// Adds the tenant exported in `input`; see [`Store::import_tenant`](crate::Store::import_tenant).
/// Run as one job, so any error leaves the database as it was.
pub(crate) fn import(w: &mut dyn Writer, input: &mut dyn BufRead) -> Result<(String, Moved), Error> {
    let mut lines = Lines { input, number: 0 };
    let missing = |what: &str| Error::Import { line: 1, reason: format!("the file ends before {what}") };
    let header = lines.next()?.ok_or_else(|| missing("its format line"))?;
    if header.field("format").and_then(Value::as_str) != Some(EXPORT_FORMAT) {
        return Err(header.bad(format!("the first line must be {{\"format\": {EXPORT_FORMAT:?}, ...}}")));
    }
    if header.field("version").and_then(Value::as_i64) != Some(EXPORT_VERSION) {
        return Err(header.bad(format!("this build reads version {EXPORT_VERSION} only")));
    }
    let line = lines.next()?.ok_or_else(|| missing("its tenant line"))?;
    if line.field("type").and_then(Value::as_str) != Some("tenant") {
        return Err(line.bad("the second line must be the tenant"));
    }
    let tenant = tenant_of(&line)?;
    let key = w.import_tenant(&tenant)?;
    let mut moved = Moved::default();
    let mut seqs: HashMap<String, (ResourceKind, i64)> = HashMap::new();
    let mut access_control = Vec::new();
    while let Some(line) = lines.next()? {
        match line.field("type").and_then(Value::as_str) {
            Some("access_control") => access_control.push(AccessControlAttribute {
                key: line.text("key")?.to_owned(),
                source: line.text("source")?.to_owned(),
            }),
            Some("resource") => {
                let resource = resource_of(&line)?;
                let seq = w.import_resource(key, &resource).map_err(|e| match e {
                    Error::Import { reason, .. } => line.bad(reason),
                    other => line.bad(other.to_string()),
                })?;
                match resource.kind {
                    ResourceKind::User => moved.users += 1,
                    ResourceKind::Group => moved.groups += 1,
                }
                seqs.insert(resource.id, (resource.kind, seq));
            }
            Some("member") => {
                let find = |name: &str| -> Result<(ResourceKind, i64), Error> {
                    let id = line.text(name)?;
                    seqs.get(id).copied().ok_or_else(|| line.bad(format!("{name} {id:?} is not a resource above")))
                };
                let (group, member) = (find("group")?, find("member")?);
                if group.0 != ResourceKind::Group {
                    return Err(line.bad("\"group\" names a user"));
                }
                w.import_member(group.1, member.1).map_err(|e| line.bad(format!("membership refused: {e}")))?;
                moved.members += 1;
            }
            _ => return Err(line.bad("\"type\" must be access_control, resource or member")),
        }
    }
    w.set_access_control(key, &access_control)?;
    Ok((tenant.id, moved))
}

/// The tenant a tenant line describes, checked.
fn tenant_of(line: &Line) -> Result<Tenant, Error> {
    let id = line.text("id")?;
    if !is_tenant_id(id) {
        return Err(line.bad("the tenant id must be 1 to 64 letters, digits, - or _"));
    }
    let profile = line.text("profile")?;
    if profile.parse::<scim_schema::ProfileName>().is_err() {
        return Err(line.bad(format!("unknown profile {profile:?}")));
    }
    let rate_limit = match line.field("rate_limit") {
        None => None,
        Some(limit) => {
            let per_second = limit.get("per_second").and_then(Value::as_f64).filter(|r| r.is_finite() && *r > 0.0);
            let burst = limit.get("burst").and_then(Value::as_u64).and_then(|b| u32::try_from(b).ok());
            match (per_second, burst) {
                (Some(per_second), Some(burst)) if burst >= 1 => Some(RateLimit { per_second, burst }),
                _ => return Err(line.bad("\"rate_limit\" must be null or {\"per_second\" > 0, \"burst\" >= 1}")),
            }
        }
    };
    let (max_users, max_groups) = (line.integer("max_users")?, line.integer("max_groups")?);
    if max_users < 0 || max_groups < 0 {
        return Err(line.bad("quotas cannot be negative"));
    }
    Ok(Tenant {
        key: TenantKey(0),
        id: id.to_owned(),
        name: line.optional_text("name")?.map(str::to_owned),
        profile: profile.to_owned(),
        created: line.integer("created")?,
        max_users,
        max_groups,
        users: 0,
        groups: 0,
        rate_limit,
    })
}

/// The resource a resource line describes, checked.
fn resource_of(line: &Line) -> Result<Exported, Error> {
    let kind = match line.text("kind")? {
        "User" => ResourceKind::User,
        "Group" => ResourceKind::Group,
        _ => return Err(line.bad("\"kind\" must be User or Group")),
    };
    let name_key = line.text("name_key")?;
    let email_key = line.optional_text("email_key")?;
    if name_key.is_empty() || name_key.to_lowercase() != name_key {
        return Err(line.bad("\"name_key\" must be a non-empty lowercase string"));
    }
    if kind == ResourceKind::Group && email_key.is_some() {
        return Err(line.bad("a group has no \"email_key\""));
    }
    let Some(Value::Object(attrs)) = line.field("attrs") else {
        return Err(line.bad("\"attrs\" must be an object"));
    };
    let version = line.integer("version")?;
    if version < 1 {
        return Err(line.bad("\"version\" must be at least 1"));
    }
    Ok(Exported {
        kind,
        id: line.text("id")?.to_owned(),
        name_key: name_key.to_owned(),
        external_id: line.optional_text("external_id")?.map(str::to_owned),
        email_key: email_key.map(str::to_owned),
        created: line.integer("created")?,
        modified: line.integer("modified")?,
        version,
        attrs: attrs.clone(),
    })
}

impl Db<'_> {
    /// Every resource of the tenant, in creation order.
    pub fn export_resources(
        &self,
        tenant: TenantKey,
        each: &mut dyn FnMut(Exported) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT kind, id, name_key, external_id, email_key, created, modified, version, attrs
               FROM resources WHERE tenant = ?1 ORDER BY seq",
        )?;
        let mut rows = stmt.query([tenant.0])?;
        while let Some(row) = rows.next()? {
            let attrs: String = row.get(8)?;
            let attrs = match serde_json::from_str(&attrs) {
                Ok(Value::Object(attrs)) => attrs,
                _ => return Err(Error::Io("a stored resource is not a JSON object".into())),
            };
            each(Exported {
                kind: if row.get::<_, i64>(0)? == ResourceKind::Group.code() {
                    ResourceKind::Group
                } else {
                    ResourceKind::User
                },
                id: row.get(1)?,
                name_key: row.get(2)?,
                external_id: row.get(3)?,
                email_key: row.get(4)?,
                created: row.get(5)?,
                modified: row.get(6)?,
                version: row.get(7)?,
                attrs,
            })?;
        }
        Ok(())
    }

    /// Every membership of the tenant, as (group id, member id).
    pub fn export_members(
        &self,
        tenant: TenantKey,
        each: &mut dyn FnMut(&str, &str) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT g.id, u.id FROM members m
               JOIN resources g ON g.seq = m.group_seq JOIN resources u ON u.seq = m.member_seq
              WHERE g.tenant = ?1 ORDER BY m.group_seq, m.member_seq",
        )?;
        let mut rows = stmt.query([tenant.0])?;
        while let Some(row) = rows.next()? {
            each(&row.get::<_, String>(0)?, &row.get::<_, String>(1)?)?;
        }
        Ok(())
    }

    /// Adds an exported tenant's row.
    pub fn import_tenant(&mut self, tenant: &Tenant) -> Result<TenantKey, Error> {
        if self.tenant_key(&tenant.id)?.is_some() {
            return Err(Error::TenantExists(tenant.id.clone()));
        }
        let seq = self
            .conn()
            .prepare_cached(
                "INSERT INTO tenants (id, name, profile, created, max_users, max_groups, rate_limit_rps, rate_limit_burst)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING seq",
            )?
            .query_row(
                (
                    &tenant.id,
                    &tenant.name,
                    &tenant.profile,
                    tenant.created,
                    tenant.max_users,
                    tenant.max_groups,
                    tenant.rate_limit.map(|l| l.per_second),
                    tenant.rate_limit.map(|l| l.burst),
                ),
                |row| row.get(0),
            )?;
        Ok(TenantKey(seq))
    }

    /// Adds an exported resource's row; returns its `seq`.
    pub fn import_resource(&mut self, tenant: TenantKey, resource: &Exported) -> Result<i64, Error> {
        let taken: Option<i64> = self
            .conn()
            .prepare_cached("SELECT tenant FROM resources WHERE id = ?1")?
            .query_row([&resource.id], |r| r.get(0))
            .optional()?;
        if taken.is_some() {
            let reason = format!("resource id {:?} is already used in this database", resource.id);
            return Err(Error::Import { line: 0, reason });
        }
        let attrs = serde_json::to_string(&resource.attrs).map_err(|e| Error::Io(e.to_string()))?;
        self.conn()
            .prepare_cached(
                "INSERT INTO resources (tenant, kind, id, name_key, external_id, email_key, created, modified, version, attrs)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING seq",
            )?
            .query_row(
                (
                    tenant.0,
                    resource.kind.code(),
                    &resource.id,
                    &resource.name_key,
                    &resource.external_id,
                    &resource.email_key,
                    resource.created,
                    resource.modified,
                    resource.version,
                    attrs,
                ),
                |row| row.get(0),
            )
            .map_err(conflict)
    }

    /// Adds a membership between two imported resources.
    pub fn import_member(&mut self, group: i64, member: i64) -> Result<(), Error> {
        self.conn()
            .prepare_cached("INSERT INTO members (group_seq, member_seq) VALUES (?1, ?2)")?
            .execute((group, member))?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::Store;
    use crate::testkit::{Fixture, TempDir, attrs, keys};
    use crate::{AccessControlAttribute, Options, RateLimit};

    fn export(store: &Store, id: &str) -> String {
        let mut out = Vec::new();
        store.export_tenant(id, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Tenant `a` of a fixture with two users, a group holding both, quotas, a rate limit and an
    /// attribute for access control.
    fn populated() -> Fixture {
        let f = Fixture::new();
        let a = f.a;
        f.store.set_quota(&f.a_id, 50, 7).unwrap();
        f.store.set_rate_limit(&f.a_id, Some(RateLimit { per_second: 2.5, burst: 4 })).unwrap();
        let attribute = AccessControlAttribute { key: "Dept".into(), source: "${path:title}".into() };
        f.store.write(move |w| w.set_access_control(a, &[attribute])).unwrap();
        f.store
            .write(move |w| {
                let alice =
                    w.insert(a, ResourceKind::User, &keys("Alice", Some("x1"), Some("A@x.org")), &attrs("Alice"), 5)?;
                let bob = w.insert(a, ResourceKind::User, &keys("bob", None, None), &attrs("bob"), 6)?;
                let group = w.insert(a, ResourceKind::Group, &keys("Staff", None, None), &Map::new(), 7)?;
                w.add_members(a, &group.id, &[alice.id, bob.id], false)?;
                w.touch(a, ResourceKind::Group, &group.id, 9)
            })
            .unwrap();
        f
    }

    #[test]
    fn export_then_import_elsewhere_is_the_same_tenant() {
        let f = populated();
        let text = export(&f.store, &f.a_id);
        assert!(text.starts_with(r#"{"format":"scim-server tenant export","version":1}"#), "{text}");

        let dir = TempDir::new();
        let other = Store::open(&dir.db(), Options::default()).unwrap();
        let (id, moved) = other.import_tenant(std::io::Cursor::new(text.clone())).unwrap();
        assert_eq!((id.as_str(), moved), (f.a_id.as_str(), Moved { users: 2, groups: 1, members: 2 }));
        assert_eq!(export(&other, &f.a_id), text);
        let (src, dst) = (f.store.tenant(&f.a_id).unwrap().unwrap(), other.tenant(&f.a_id).unwrap().unwrap());
        assert_eq!((dst.created, dst.users, dst.groups, dst.rate_limit), (src.created, 2, 1, src.rate_limit));
        // Keys still find and guard the resources: a second "ALICE" is a conflict.
        let key = dst.key;
        let dup =
            other.write(move |w| w.insert(key, ResourceKind::User, &keys("ALICE", None, None), &attrs("ALICE"), 1));
        assert!(matches!(dup, Err(Error::Conflict(_))));
    }

    #[test]
    fn import_refuses_an_existing_tenant_and_bad_files_changing_nothing() {
        let f = populated();
        let text = export(&f.store, &f.a_id);
        assert!(matches!(f.store.import_tenant(std::io::Cursor::new(text.clone())), Err(Error::TenantExists(_))));

        let dir = TempDir::new();
        let other = Store::open(&dir.db(), Options::default()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let last = lines.len();
        let broken_member = text.replace(r#""type":"member","group""#, r#""type":"member","group":"nope","x""#);
        for (bad, line) in [
            (String::new(), 1),
            (text.replacen("\"version\":1", "\"version\":2", 1), 1),
            (lines[1..].join("\n"), 1),
            (format!("{text}{{\"type\":\"spam\"}}\n"), last + 1),
            (format!("{text}not json\n"), last + 1),
            (broken_member, last - 1),
            (text.replacen("identity-center", "bogus", 1), 2),
        ] {
            match other.import_tenant(std::io::Cursor::new(bad.clone())) {
                Err(Error::Import { line: at, .. }) => assert_eq!(at, line, "{bad}"),
                other => panic!("expected an import error, got {other:?} for {bad}"),
            }
            assert!(other.tenants().unwrap().is_empty(), "a failed import left a tenant: {bad}");
        }
        // A resource id held by another tenant of the destination fails the whole import.
        other.import_tenant(std::io::Cursor::new(text.clone())).unwrap();
        let renamed = text.replace(&f.a_id, "another-tenant");
        assert!(matches!(other.import_tenant(std::io::Cursor::new(renamed)), Err(Error::Import { line: 4, .. })));
        assert_eq!(other.tenants().unwrap().len(), 1);
    }

    #[test]
    fn backup_copies_a_consistent_private_file_once() {
        let f = populated();
        let dir = TempDir::new();
        let out = dir.db().with_extension("bak");
        backup(&f.dir.db(), &out).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let copy = Store::open(&out, Options::default()).unwrap();
        assert_eq!(export(&copy, &f.a_id), export(&f.store, &f.a_id));
        assert!(matches!(backup(&f.dir.db(), &out), Err(Error::Io(_))), "an existing file is not overwritten");
    }
}
