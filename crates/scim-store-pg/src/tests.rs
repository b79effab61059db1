//! The backend against a real PostgreSQL (skipped, with a line saying so, when
//! `SCIM_TEST_POSTGRES` is unset): the SQLite store's semantics, and what only a shared
//! database adds (several replicas, a database that goes away and comes back).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::time::{Duration, Instant};

use scim_schema::ResourceKind::{Group, User};
use scim_store::contract::{Backend, Exported};
use scim_store::{
    AccessControlAttribute, AccessKeyRecord, AdminAction, AdminTokenRecord, AuditFilter, Error, NewAudit, Options,
    Query, RateLimit, Tenant, TokenRecord, Unique,
};
use serde_json::{Map, json};

use crate::testkit::{Fixture, TestDb, attrs, keys, read, write, write_on};
use crate::{Postgres, SCHEMA_VERSION, connect};

fn token(id: &str, tenant_id: &str) -> TokenRecord {
    TokenRecord { id: id.into(), tenant_id: tenant_id.into(), created: 1, expires: 2 }
}

fn user(pg: &dyn Backend, t: scim_store::TenantKey, name: &str) -> Result<scim_store::Stored, Error> {
    let name = name.to_owned();
    write(pg, move |w| w.insert(t, User, &keys(&name, None, None), &attrs(&name), 1))
}

fn group(pg: &dyn Backend, t: scim_store::TenantKey, name: &str) -> String {
    let name = name.to_owned();
    let mut attrs = Map::new();
    attrs.insert("displayName".into(), json!(name));
    write(pg, move |w| w.insert(t, Group, &keys(&name, None, None), &attrs, 1)).unwrap().id
}

#[test]
fn tenants_credentials_and_administration() {
    let Some(f) = Fixture::new() else { return };
    let pg = &f.pg;
    let tenants = read(pg, |r| r.tenants()).unwrap();
    assert_eq!(tenants.iter().map(|t| t.name.as_deref()).collect::<Vec<_>>(), [Some("a"), Some("b")]);
    let a = &tenants[0];
    assert_eq!((a.id.len(), a.max_users, a.max_groups, a.users, a.rate_limit), (32, 100_000, 100_000, 0, None));
    let id = f.a_id.clone();
    write(pg, move |w| {
        w.set_profile(&id, "rfc")?;
        w.set_quota(&id, 5, 6)?;
        w.set_rate_limit(&id, Some(RateLimit { per_second: 2.5, burst: 7 }))
    })
    .unwrap();
    let a = read(pg, |r| r.tenant(&f.a_id)).unwrap().unwrap();
    assert_eq!((a.profile.as_str(), a.max_users, a.max_groups), ("rfc", 5, 6));
    assert_eq!(a.rate_limit, Some(RateLimit { per_second: 2.5, burst: 7 }));
    for missing in [
        write(pg, |w| w.set_profile("nope", "rfc")),
        write(pg, |w| w.set_quota("nope", 1, 1)),
        write(pg, |w| w.set_rate_limit("nope", None)),
        write(pg, |w| w.delete_tenant("nope")),
        write(pg, |w| w.add_token(&token("t", "nope"))),
        write(pg, |w| w.delete_token("nope", "t")),
    ] {
        assert!(matches!(missing, Err(Error::NotFound)), "{missing:?}");
    }
    assert!(matches!(read(pg, |r| r.tokens("nope")), Err(Error::NotFound)));

    // Two tokens per tenant, expired ones included; a token is deleted through its tenant only.
    let id = f.a_id.clone();
    write(pg, move |w| {
        w.add_token(&token("t1", &id))?;
        w.add_token(&token("t2", &id))
    })
    .unwrap();
    let id = f.a_id.clone();
    assert!(matches!(write(pg, move |w| w.add_token(&token("t3", &id))), Err(Error::TokenLimit)));
    assert_eq!(read(pg, |r| r.tokens(&f.a_id)).unwrap().len(), 2);
    let b_id = read(pg, |r| r.tenants()).unwrap()[1].id.clone();
    let b = b_id.clone();
    assert!(matches!(write(pg, move |w| w.delete_token(&b, "t1")), Err(Error::NotFound)));
    let id = f.a_id.clone();
    write(pg, move |w| w.delete_token(&id, "t1")).unwrap();
    assert_eq!(read(pg, |r| r.all_tokens()).unwrap(), [token("t2", &f.a_id)]);

    // Access keys: the same limit.
    let key = |id: &str, tenant: &str| AccessKeyRecord {
        id: id.into(),
        tenant_id: tenant.into(),
        secret: format!("s-{id}"),
        created: 1,
    };
    let (k1, k2, k3) = (key("K1", &f.a_id), key("K2", &f.a_id), key("K3", &f.a_id));
    write(pg, move |w| {
        w.add_access_key(&k1)?;
        w.add_access_key(&k2)
    })
    .unwrap();
    assert!(matches!(write(pg, move |w| w.add_access_key(&k3)), Err(Error::AccessKeyLimit)));
    assert_eq!(read(pg, |r| r.access_keys(&f.a_id)).unwrap(), [key("K1", &f.a_id), key("K2", &f.a_id)]);
    let id = f.a_id.clone();
    write(pg, move |w| w.delete_access_key(&id, "K1")).unwrap();

    // Administrators' tokens and trail (which outlives tenants; fields are cut).
    let admin = AdminTokenRecord { id: "adm".into(), created: 1, expires: 2 };
    let record = admin.clone();
    write(pg, move |w| w.add_admin_token(&record)).unwrap();
    assert_eq!(read(pg, |r| r.admin_tokens()).unwrap(), [admin]);
    write(pg, |w| w.delete_admin_token("adm")).unwrap();
    assert!(matches!(write(pg, |w| w.delete_admin_token("adm")), Err(Error::NotFound)));
    for n in 1..=3 {
        let action = AdminAction {
            at: n,
            actor: "cli".into(),
            action: format!("Action{n}"),
            tenant_id: Some(f.a_id.clone()),
            target: None,
            status: 200,
            detail: Some("é".repeat(600)),
        };
        write(pg, move |w| w.record_admin_action(&action)).unwrap();
    }
    let page = read(pg, |r| r.admin_audit(None, 2)).unwrap();
    assert_eq!(page.iter().map(|(_, a)| a.at).collect::<Vec<_>>(), [3, 2]);
    assert_eq!(page[0].1.detail.as_ref().unwrap().chars().count(), scim_store::MAX_FIELD_CHARS + 1);
    let rest = read(pg, |r| r.admin_audit(Some(page[1].0), 10)).unwrap();
    assert_eq!(rest.iter().map(|(_, a)| a.at).collect::<Vec<_>>(), [1]);

    // Access control: ordered, replaced whole, keys unique ignoring case, per tenant.
    let attr = |k: &str| AccessControlAttribute { key: k.into(), source: format!("${{path:{k}}}") };
    let list = vec![attr("Zeta"), attr("alpha")];
    let (t, set) = (f.a, list.clone());
    write(pg, move |w| w.set_access_control(t, &set)).unwrap();
    assert_eq!(read(pg, |r| r.access_control(t)).unwrap(), list);
    assert!(write(pg, move |w| w.set_access_control(t, &[attr("Key"), attr("KEY")])).is_err());
    assert_eq!(read(pg, |r| r.access_control(t)).unwrap(), list);
    let unknown = scim_store::TenantKey(999_999);
    assert!(matches!(write(pg, move |w| w.set_access_control(unknown, &[attr("k")])), Err(Error::NotFound)));

    // Deleting a tenant takes everything it holds.
    user(pg, f.a, "u").unwrap();
    let id = f.a_id.clone();
    write(pg, move |w| w.delete_tenant(&id)).unwrap();
    assert!(read(pg, |r| r.tenant(&f.a_id)).unwrap().is_none());
    assert!(read(pg, |r| r.all_tokens()).unwrap().is_empty());
    assert!(read(pg, |r| r.all_access_keys()).unwrap().is_empty());
    assert_eq!(read(pg, |r| r.admin_audit(None, 10)).unwrap().len(), 3);
}

#[test]
fn reads_by_id_gathered_into_one_statement_answer_as_one_read_each() {
    let Some(f) = Fixture::new() else { return };
    let pg = &f.pg;
    let ann = user(pg, f.a, "ann").unwrap().id;
    let bob = user(pg, f.b, "bob").unwrap().id;
    let staff = group(pg, f.a, "staff");
    // Found, missing, the wrong tenant, the wrong kind, the same key twice, another kind.
    let keys = [
        (f.a, User, ann.as_str()),
        (f.a, User, "no-such-id"),
        (f.a, User, bob.as_str()),
        (f.a, Group, ann.as_str()),
        (f.b, User, bob.as_str()),
        (f.a, User, ann.as_str()),
        (f.a, Group, staff.as_str()),
    ];
    let together = read(pg, |r| r.get_texts(&keys)).unwrap();
    assert_eq!(pg.get_texts(&keys).unwrap(), together, "Backend::get_texts");
    let alone: Vec<_> = keys.iter().map(|&(t, k, id)| read(pg, |r| r.get(t, k, id)).unwrap()).collect();
    // The text is compact JSON of the same attributes.
    let parsed: Vec<_> = together
        .iter()
        .map(|s| {
            s.clone().map(|s| {
                assert!(!s.attrs.contains(": ") && !s.attrs.contains(", "), "{}", s.attrs);
                let attrs = serde_json::from_str(&s.attrs).unwrap();
                scim_store::Stored {
                    seq: s.seq,
                    id: s.id,
                    created: s.created,
                    modified: s.modified,
                    version: s.version,
                    attrs,
                }
            })
        })
        .collect();
    assert_eq!(parsed, alone);
    let found: Vec<_> = together.iter().map(|s| s.as_ref().map(|s| s.id.as_str())).collect();
    assert_eq!(
        found,
        [Some(ann.as_str()), None, None, None, Some(bob.as_str()), Some(ann.as_str()), Some(staff.as_str())]
    );
    assert_eq!(read(pg, |r| r.get_texts(&[])).unwrap(), []);
}

#[test]
fn the_quota_holds_under_concurrent_inserts_from_two_replicas() {
    let Some(f) = Fixture::new() else { return };
    // Far enough from the quota for the sharded fast path at first, then exact counting.
    let id = f.a_id.clone();
    write(&f.pg, move |w| w.set_quota(&id, 45, 1)).unwrap();
    let replicas = [Arc::new(f.replica()), Arc::new(f.replica())];
    let start = Arc::new(Barrier::new(8));
    let t = f.a;
    let threads: Vec<_> = (0..8)
        .map(|n| {
            let (pg, start) = (replicas[n % 2].clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                (0..10).map(|i| user(&*pg, t, &format!("r{n}-{i}"))).collect::<Vec<_>>()
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert!(results.iter().all(|r| matches!(r, Ok(_) | Err(Error::Quota(User)))), "{results:?}");
    assert_eq!(ok, 45);
    let tenant = read(&f.pg, |r| r.tenant(&f.a_id)).unwrap().unwrap();
    assert_eq!((tenant.users, tenant.groups), (45, 0));
    let listed = read(&f.pg, |r| r.list(t, User, &Query { with_total: true, ..Query::default() })).unwrap();
    assert_eq!(listed.total, Some(45));
    // Groups have their own quota; a delete frees a place; an unknown tenant is not found.
    group(&f.pg, t, "g");
    let second = write(&f.pg, move |w| w.insert(t, Group, &keys("h", None, None), &Map::new(), 1));
    assert!(matches!(second, Err(Error::Quota(Group))));
    let first = results.iter().find_map(|r| r.as_ref().ok()).unwrap().id.clone();
    write(&f.pg, move |w| w.delete(t, User, &first)).unwrap();
    user(&f.pg, t, "again").unwrap();
    assert!(matches!(user(&f.pg, scim_store::TenantKey(999_999), "x"), Err(Error::NotFound)));
    // The trigger made as many shards as the code counts on.
    let shards: i64 =
        f.pg.pool
            .with(|conn| {
                let tenant = t.0;
                let row = conn.link()?.call(&[], |client| async move {
                    client.query_one("SELECT COUNT(*) FROM tenant_counts WHERE tenant = $1", &[&tenant]).await
                })?;
                row.try_get(0).map_err(crate::error::db)
            })
            .unwrap();
    assert_eq!(shards, 2 * crate::resources::SHARDS);
}

#[test]
fn keys_are_unique_by_rusts_lowercasing_per_tenant_and_kind() {
    let Some(f) = Fixture::new() else { return };
    let (pg, t) = (&f.pg, f.a);
    let insert = |kind, k: scim_store::Keys| write(pg, move |w| w.insert(t, kind, &k, &Map::new(), 1));
    insert(User, keys("ǅemal", Some("Ext"), Some("ΟΔΟΣ@Example.com"))).unwrap();
    let refused = |k| match insert(User, k) {
        Err(Error::Conflict(which)) => which,
        other => panic!("expected a conflict, got {other:?}"),
    };
    // Titlecase ǅ, upper Ǆ and lower ǆ are one letter to Rust; so are final and medial sigma
    // when Rust lowercases the capital at the end of a word.
    assert_eq!(refused(keys("Ǆemal", None, None)), Unique::Name);
    assert_eq!(refused(keys("ǆEMAL", None, None)), Unique::Name);
    assert_eq!(refused(keys("x", None, Some("οδος@example.COM"))), Unique::Email);
    assert_eq!(refused(keys("y", Some("Ext"), None)), Unique::ExternalId);
    // Not the same key once lowercased: a medial sigma where Rust wrote a final one.
    insert(User, keys("z", None, Some("οδοσ@example.com"))).unwrap();
    insert(User, keys("w", Some("ext"), None)).unwrap();
    insert(User, keys("v", None, None)).unwrap();
    insert(User, keys("u", None, None)).unwrap();
    // Groups have their own name space; every rule is per tenant.
    insert(Group, keys("ǅEMAL", Some("Ext"), None)).unwrap();
    let b = f.b;
    write(pg, move |w| w.insert(b, User, &keys("ǅemal", Some("Ext"), Some("ΟΔΟΣ@Example.com")), &Map::new(), 1))
        .unwrap();
    // Replace keeps its own keys and refuses another's.
    let other = insert(User, keys("other", None, None)).unwrap().id;
    let taken = write(pg, move |w| w.replace(t, User, &other, &keys("ǄEMAL", None, None), &Map::new(), 2));
    assert!(matches!(taken, Err(Error::Conflict(Unique::Name))), "{taken:?}");
    // A job that carries on after a conflicting insert still works and counts right.
    let counted = write(pg, move |w| {
        assert!(w.insert(t, User, &keys("ǅEMAL", None, None), &Map::new(), 1).is_err());
        w.insert(t, User, &keys("fresh", None, None), &Map::new(), 1)?;
        w.tenant(&w.tenants()?[0].id)
    })
    .unwrap()
    .unwrap();
    assert_eq!(counted.users, 7);
}

#[test]
fn identical_concurrent_creates_on_two_replicas_give_one_resource() {
    let Some(f) = Fixture::new() else { return };
    let replicas = [Arc::new(f.replica()), Arc::new(f.replica())];
    let t = f.a;
    for round in 0..10 {
        let start = Arc::new(Barrier::new(2));
        let threads: Vec<_> = replicas
            .iter()
            .map(|pg| {
                let (pg, start) = (pg.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    user(&*pg, t, &format!("Same-{round}"))
                })
            })
            .collect();
        let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let ok = results.iter().filter(|r| r.is_ok()).count();
        let conflicts = results.iter().filter(|r| matches!(r, Err(Error::Conflict(Unique::Name)))).count();
        assert_eq!((ok, conflicts), (1, 1), "{results:?}");
    }
    assert_eq!(read(&f.pg, |r| r.tenant(&f.a_id)).unwrap().unwrap().users, 10);
}

#[test]
fn get_for_update_makes_read_modify_writes_on_two_replicas_lose_nothing() {
    let Some(f) = Fixture::new() else { return };
    let t = f.a;
    let mut counter = Map::new();
    counter.insert("n".into(), json!(0));
    let id = write(&f.pg, move |w| w.insert(t, User, &keys("c", None, None), &counter, 0)).unwrap().id;
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (pg, id) = (f.replica(), id.clone());
            std::thread::spawn(move || {
                for _ in 0..25 {
                    let id = id.clone();
                    write(&pg, move |w| {
                        let mut row = w.get_for_update(t, User, &id)?.ok_or(Error::NotFound)?;
                        let n = row.attrs["n"].as_i64().unwrap();
                        row.attrs.insert("n".into(), json!(n + 1));
                        w.replace(t, User, &id, &keys("c", None, None), &row.attrs, n + 1)
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let row = read(&f.pg, |r| r.get(t, User, &id)).unwrap().unwrap();
    assert_eq!((row.attrs["n"].clone(), row.version), (json!(50), 51));
}

#[test]
fn a_job_that_returns_false_is_rolled_back_and_reads_see_one_snapshot() {
    let Some(f) = Fixture::new() else { return };
    let t = f.a;
    let failed: Result<(), Error> = write(&f.pg, move |w| {
        w.insert(t, User, &keys("ghost", None, None), &Map::new(), 1)?;
        Err(Error::NotFound)
    });
    assert!(matches!(failed, Err(Error::NotFound)));
    assert_eq!(read(&f.pg, |r| r.list(t, User, &Query::default())).unwrap().items.len(), 0);
    assert_eq!(read(&f.pg, |r| r.tenant(&f.a_id)).unwrap().unwrap().users, 0);
    // A write committed by another replica mid-read is not seen by that read.
    let other = f.replica();
    let (first, second) = read(&f.pg, |r| {
        let first = r.list(t, User, &Query { with_total: true, ..Query::default() })?.total;
        user(&other, t, "during").unwrap();
        Ok((first, r.list(t, User, &Query { with_total: true, ..Query::default() })?.total))
    })
    .unwrap();
    assert_eq!((first, second), (Some(0), Some(0)));
    assert_eq!(f.pg.commit_stats().batches, f.pg.commit_stats().jobs);
    assert!(f.pg.location().starts_with("postgres://") && !f.pg.location().contains('?'));
}

#[test]
fn a_read_snapshot_ends_with_the_next_job_on_its_connection_or_once_idle() {
    let Some(f) = Fixture::new() else { return };
    let t = f.a;
    let total = |pg: &Postgres| read(pg, |r| r.list(t, User, &Query { with_total: true, ..Query::default() })).unwrap();
    assert_eq!(total(&f.pg).total, Some(0));
    // Another replica commits; the next read here, on the connection whose snapshot was left
    // open, starts a new one and sees it.
    user(&f.replica(), t, "elsewhere").unwrap();
    assert_eq!(total(&f.pg).total, Some(1));
    // Left alone, the connection does not stay idle in its transaction.
    let mut admin = crate::pool::Settings::parse(&f.db.url).unwrap().connect().unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let open: i64 = admin
            .query_one(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND state = 'idle in transaction'",
                &[],
            )
            .unwrap()
            .get(0);
        if open == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{open} connections still idle in a transaction after 3 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn writes_on_one_busy_resource_share_a_transaction_and_keep_their_own_outcomes() {
    let Some(f) = Fixture::new() else { return };
    let (pg, t) = (&f.pg, f.a);
    let g = group(pg, t, "busy");
    let users: Vec<String> = (0..12).map(|i| user(pg, t, &format!("m{i}")).unwrap().id).collect();
    let version = |g: &str| read(pg, |r| r.get(t, Group, g)).unwrap().unwrap().version;
    let members = |g: &str| read(pg, |r| r.member_ids(t, g)).unwrap().len();
    // Odd jobs hold their version bump back for the commit (`touch_later`), even ones do not.
    let add = |g: &str, i: usize| {
        let (g, u) = (g.to_owned(), users[i].clone());
        move |w: &mut dyn scim_store::Writer| {
            w.add_members(t, &g, &[u], false)?;
            if i % 2 == 1 { w.touch_later(t, Group, &g, 2) } else { w.touch(t, Group, &g, 2).map(drop) }
        }
    };
    // The first job holds its line until eleven more wait in it; they then run as one batch,
    // in which one job fails, one panics and one records an audit row that cannot be written.
    let round = |g: &str, audit_fails: bool| {
        std::thread::scope(|scope| {
            let (started, running) = mpsc::channel();
            let (release, held) = mpsc::channel::<()>();
            let first = add(g, 0);
            let first = scope.spawn(move || {
                write_on(pg, t, g, move |w| {
                    started.send(()).unwrap();
                    held.recv().unwrap();
                    first(w)
                })
            });
            running.recv().unwrap();
            let others: Vec<_> = (1..12)
                .map(|i| {
                    let job = add(g, i);
                    scope.spawn(move || {
                        write_on(pg, t, g, move |w| match i {
                            5 => job(w).and(Err(Error::NotFound)),
                            7 => panic!("a job panics"),
                            9 if audit_fails => {
                                job(w)?;
                                let note = NewAudit {
                                    at: 1,
                                    request_id: "r".into(),
                                    action: "PatchGroup".into(),
                                    resource_id: None,
                                    status: 204,
                                    detail: None,
                                };
                                w.record_audit(scim_store::TenantKey(999_999), &note)
                            }
                            _ => job(w),
                        })
                    })
                })
                .collect();
            let deadline = Instant::now() + Duration::from_secs(10);
            while pg.commit_stats().queue_depth < 11 {
                assert!(Instant::now() < deadline, "the jobs did not queue behind the first");
                std::thread::sleep(Duration::from_millis(5));
            }
            release.send(()).unwrap();
            let first = first.join().unwrap();
            let others: Vec<_> = others.into_iter().map(|o| o.join()).collect();
            (first, others)
        })
    };
    let before = version(&g);
    let (first, others) = round(&g, false);
    assert!(first.is_ok());
    for (i, outcome) in (1..12).zip(&others) {
        match i {
            5 => assert!(matches!(outcome, Ok(Err(Error::NotFound)))),
            7 => assert!(outcome.is_err(), "the panic resumes on the job's own thread"),
            _ => assert!(matches!(outcome, Ok(Ok(()))), "job {i}: {outcome:?}"),
        }
    }
    // Each job that kept its writes added its member and bumped the version once; the bumps
    // held back by the failed and the panicked job went with them.
    assert_eq!((members(&g), version(&g)), (10, before + 10));
    let sizes = pg.commit_stats().batches_at_most;
    assert!(sizes[4] > sizes[3], "no batch of 9 to 16 jobs: {sizes:?}");

    // A batch whose transaction fails keeps nothing of any job in it.
    let other = group(pg, t, "other");
    let (first, others) = round(&other, true);
    assert!(first.is_ok());
    for (i, outcome) in (1..12).zip(&others) {
        match i {
            // The jobs run in the order they queued: the panicking one either ran before the
            // batch failed (its panic resumes) or was never reached (it gets the failure).
            7 => assert!(outcome.is_err() || matches!(outcome, Ok(Err(_))), "job 7: {outcome:?}"),
            _ => assert!(matches!(outcome, Ok(Err(_))), "job {i}: {outcome:?}"),
        }
    }
    assert_eq!(members(&other), 1);
}

#[test]
fn a_touch_held_for_the_commit_bumps_the_version_only_once_the_job_commits() {
    let Some(f) = Fixture::new() else { return };
    let (pg, t) = (&f.pg, f.a);
    let g = group(pg, t, "g");
    let version = || read(pg, |r| r.get(t, Group, &g)).unwrap().unwrap().version;
    let before = version();
    let id = g.clone();
    let inside = write(pg, move |w| {
        w.touch_later(t, Group, &id, 5)?;
        Ok(w.get(t, Group, &id)?.unwrap().version)
    });
    assert_eq!((inside.unwrap(), version()), (before, before + 1));
    let id = g.clone();
    let failed = write(pg, move |w| {
        w.touch_later(t, Group, &id, 6)?;
        Err::<(), _>(Error::NotFound)
    });
    assert!(matches!(failed, Err(Error::NotFound)));
    assert_eq!(version(), before + 1);
    write(pg, move |w| w.touch_later(t, Group, "no-such-group", 7)).unwrap();
}

#[test]
fn members_are_rows_listed_in_batches_and_never_cycle() {
    let Some(f) = Fixture::new() else { return };
    let (pg, t) = (&f.pg, f.a);
    let u: Vec<String> = (0..5).map(|i| user(pg, t, &format!("u{i}")).unwrap().id).collect();
    let g: Vec<String> = ["a", "b", "c"].iter().map(|n| group(pg, t, n)).collect();
    let add = |group: &str, ids: &[String], nested: bool| {
        let (group, ids) = (group.to_owned(), ids.to_vec());
        write(pg, move |w| w.add_members(t, &group, &ids, nested))
    };
    assert_eq!(add(&g[0], &u[..3], false).unwrap(), 3);
    assert_eq!(add(&g[0], &[u[2].clone(), u[3].clone(), u[3].clone()], false).unwrap(), 1);
    assert_eq!(add(&g[1], &u[4..], false).unwrap(), 1);
    // Groups only when nested; unknown or foreign ids refuse the whole call.
    assert!(matches!(add(&g[0], &g[1..2], false), Err(Error::NoSuchMember(ref id)) if *id == g[1]));
    let foreign = user(pg, f.b, "x").unwrap().id;
    assert!(
        matches!(add(&g[2], &[u[0].clone(), foreign.clone()], false), Err(Error::NoSuchMember(ref id)) if *id == foreign)
    );
    assert!(read(pg, |r| r.member_ids(t, &g[2])).unwrap().is_empty());
    assert!(matches!(add("nope", &u, false), Err(Error::NotFound)));
    // a ⊃ b ⊃ c, and nothing closes the loop.
    assert_eq!(add(&g[0], &g[1..2], true).unwrap(), 1);
    assert_eq!(add(&g[1], &g[2..3], true).unwrap(), 1);
    for (parent, child) in [(&g[2], &g[0]), (&g[1], &g[0]), (&g[0], &g[0]), (&g[2], &g[1])] {
        assert!(matches!(add(parent, std::slice::from_ref(child), true), Err(Error::MemberCycle(_))));
    }
    // Batched listing: every group at once, an offset and a limit, one entry per id given.
    let ids = [g[0].as_str(), "nope", g[1].as_str(), g[0].as_str()];
    let pages = read(pg, |r| r.members(t, &ids, 0, 3)).unwrap();
    let names = |page: &[scim_store::Membership]| page.iter().map(|m| m.display.clone().unwrap()).collect::<Vec<_>>();
    assert_eq!(names(&pages[0]), ["u0", "u1", "u2"]);
    assert!(pages[1].is_empty());
    assert_eq!(names(&pages[2]), ["u4", "c"]);
    assert_eq!((pages[2][1].kind, pages[2][0].kind), (Group, User));
    assert_eq!(pages[3], pages[0]);
    let next = read(pg, |r| r.members(t, &[g[0].as_str()], 3, 10)).unwrap();
    assert_eq!(names(&next[0]), ["u3", "b"]);
    assert_eq!(read(pg, |r| r.member_count(t, &g[0])).unwrap(), 5);
    assert!(read(pg, |r| r.members(t, &[g[0].as_str()], 5, 10)).unwrap()[0].is_empty());
    let groups = read(pg, |r| r.groups_of(t, &[u[4].as_str(), "nope", u[0].as_str()])).unwrap();
    let summary = |m: &[scim_store::Membership]| m.iter().map(|m| (m.id.clone(), m.direct)).collect::<Vec<_>>();
    assert_eq!(summary(&groups[0]), [(g[0].clone(), false), (g[1].clone(), true)]);
    assert!(groups[1].is_empty());
    assert_eq!(summary(&groups[2]), [(g[0].clone(), true)]);
    assert_eq!(read(pg, |r| r.member_ids(t, &g[0])).unwrap(), [&u[..4], &g[1..2]].concat());
    // Keys, removal, and cascade on delete.
    let key = read(pg, |r| r.membership_key(t, &g[0], &u[1])).unwrap().unwrap();
    assert_eq!(read(pg, |r| r.membership(t, key)).unwrap(), Some((g[0].clone(), u[1].clone())));
    assert_eq!(read(pg, |r| r.membership(f.b, key)).unwrap(), None);
    let (g0, gone) = (g[0].clone(), vec![u[1].clone(), "nope".to_owned()]);
    assert_eq!(write(pg, move |w| w.remove_members(t, &g0, &gone)).unwrap(), 1);
    let gone = u[0].clone();
    write(pg, move |w| w.delete(t, User, &gone)).unwrap();
    assert_eq!(read(pg, |r| r.member_ids(t, &g[0])).unwrap(), [u[2].clone(), u[3].clone(), g[1].clone()]);
}

#[test]
fn adding_to_a_large_group_is_an_index_insert() {
    let Some(f) = Fixture::new() else { return };
    let (pg, t) = (&f.pg, f.a);
    let g = group(pg, t, "big");
    let ids: Vec<String> = write(pg, move |w| {
        (0..3000).map(|i| Ok(w.insert(t, User, &keys(&format!("u{i}"), None, None), &Map::new(), 1)?.id)).collect()
    })
    .unwrap();
    let (group_id, all) = (g.clone(), ids[1..].to_vec());
    assert_eq!(write(pg, move |w| w.add_members(t, &group_id, &all, false)).unwrap(), 2999);
    let mut client = crate::pool::Settings::parse(&f.db.url).unwrap().connect().unwrap();
    client.batch_execute("ANALYZE members").unwrap();
    let plan: Vec<String> = client
        .query("EXPLAIN INSERT INTO members VALUES (1, 2) ON CONFLICT DO NOTHING", &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(plan.iter().all(|step| !step.contains("Seq Scan")), "{plan:?}");
    let (group_id, one) = (g.clone(), vec![ids[0].clone()]);
    assert_eq!(write(pg, move |w| w.add_members(t, &group_id, &one, false)).unwrap(), 1);
    assert_eq!(read(pg, |r| r.member_ids(t, &g)).unwrap().len(), 3000);
}

#[test]
fn the_audit_log_records_pages_filters_and_prunes() {
    let Some(f) = Fixture::new() else { return };
    let (pg, a, b) = (&f.pg, f.a, f.b);
    let note = |i: i64| NewAudit {
        at: i * 1000,
        request_id: format!("req-{i}"),
        action: "CreateUser".into(),
        resource_id: (i % 2 == 0).then(|| format!("res-{i}")),
        status: if i % 3 == 0 { 409 } else { 201 },
        detail: Some("x".repeat(if i == 9 { 1000 } else { 3 })),
    };
    write(pg, move |w| {
        for i in 0..10 {
            w.record_audit(a, &note(i))?;
            w.record_audit(b, &note(i))?;
        }
        Ok(())
    })
    .unwrap();
    let unknown = scim_store::TenantKey(999_999);
    assert!(matches!(write(pg, move |w| w.record_audit(unknown, &note(1))), Err(Error::NotFound)));
    // The audit row goes out with the commit: its failure still undoes the job's other writes.
    let both = write(pg, move |w| {
        w.insert(a, User, &keys("kept-with-its-audit-row", None, None), &Map::new(), 1)?;
        w.record_audit(unknown, &note(1))
    });
    assert!(matches!(both, Err(Error::NotFound)), "{both:?}");
    let listed = read(pg, |r| r.list(a, User, &scim_store::Query::default())).unwrap();
    assert!(listed.items.is_empty(), "{listed:?}");
    let first = read(pg, |r| r.audit(a, None, 3)).unwrap();
    assert_eq!(first.iter().map(|e| e.at).collect::<Vec<_>>(), [0, 1000, 2000]);
    assert_eq!((first[0].status, first[1].resource_id.clone()), (409, None));
    let rest = read(pg, |r| r.audit(a, Some(first[2].seq), 100)).unwrap();
    assert_eq!(rest.len(), 7);
    assert_eq!(rest[6].detail.as_ref().unwrap().chars().count(), scim_store::MAX_FIELD_CHARS + 1);
    let at = |filter: AuditFilter| -> Vec<i64> {
        read(pg, |r| r.audit_filtered(a, &filter)).unwrap().iter().map(|e| e.at / 1000).collect()
    };
    assert_eq!(at(AuditFilter { limit: 3, ..AuditFilter::default() }), [9, 8, 7]);
    assert_eq!(at(AuditFilter { limit: 10, rejected: Some(true), ..AuditFilter::default() }), [9, 6, 3, 0]);
    assert_eq!(at(AuditFilter { limit: 10, resource_id: Some("res-2".into()), ..AuditFilter::default() }), [2]);
    assert!(at(AuditFilter { limit: 10, action: Some("DeleteUser".into()), ..AuditFilter::default() }).is_empty());
    // Age first, within the budget; then each tenant down to its newest rows.
    assert_eq!(write(pg, |w| w.prune_audit(3000, 3, &[])).unwrap(), 3);
    assert_eq!(write(pg, |w| w.prune_audit(3000, 100, &[])).unwrap(), 3);
    let overflow = read(pg, |r| r.audit_overflow(4)).unwrap();
    assert_eq!(overflow.iter().map(|(t, _)| *t).collect::<Vec<_>>(), [a, b]);
    assert_eq!(write(pg, move |w| w.prune_audit(0, 100, &overflow)).unwrap(), 6);
    assert_eq!(
        read(pg, |r| r.audit(a, None, 100)).unwrap().iter().map(|e| e.at).collect::<Vec<_>>(),
        [6000, 7000, 8000, 9000]
    );
    assert!(read(pg, |r| r.audit_overflow(4)).unwrap().is_empty());
}

#[test]
fn a_tenant_moves_through_exported_rows() {
    let Some(f) = Fixture::new() else { return };
    let (pg, t) = (&f.pg, f.a);
    let alice = write(pg, move |w| w.insert(t, User, &keys("Alice", Some("x1"), Some("A@x.org")), &attrs("Alice"), 5))
        .unwrap()
        .id;
    let bob = user(pg, t, "bob").unwrap().id;
    let staff = group(pg, t, "Staff");
    let (g, members) = (staff.clone(), vec![alice.clone(), bob.clone()]);
    let touched = write(pg, move |w| {
        w.add_members(t, &g, &members, false)?;
        w.touch(t, Group, &g, 9)
    })
    .unwrap();
    assert_eq!((touched.id.as_str(), touched.modified, touched.version), (staff.as_str(), 9, 2));
    let exported = read(pg, |r| {
        let mut resources = Vec::new();
        r.export_resources(t, &mut |e| {
            resources.push(e);
            Ok(())
        })?;
        let mut members = Vec::new();
        r.export_members(t, &mut |g, m| {
            members.push((g.to_owned(), m.to_owned()));
            Ok(())
        })?;
        Ok((resources, members))
    })
    .unwrap();
    let (resources, members) = exported;
    assert_eq!(resources.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), [alice.clone(), bob.clone(), staff.clone()]);
    assert_eq!(
        resources[0],
        Exported {
            kind: User,
            id: alice.clone(),
            name_key: "alice".into(),
            external_id: Some("x1".into()),
            email_key: Some("a@x.org".into()),
            created: 5,
            modified: 5,
            version: 1,
            attrs: attrs("Alice"),
        }
    );
    assert_eq!(resources[2].version, 2);
    assert_eq!(members, [(staff.clone(), alice.clone()), (staff.clone(), bob.clone())]);

    // Into another database, all in one job.
    let Some(other_db) = TestDb::new() else { return };
    let other = connect(&other_db.url, &Options::default()).unwrap();
    let source = read(pg, |r| r.tenant(&f.a_id)).unwrap().unwrap();
    let (tenant, rows, links) = (source.clone(), resources.clone(), members.clone());
    let key = write(&other, move |w| {
        let key = w.import_tenant(&tenant)?;
        let mut seqs = std::collections::HashMap::new();
        for row in &rows {
            seqs.insert(row.id.clone(), w.import_resource(key, row)?);
        }
        for (g, m) in &links {
            w.import_member(seqs[g], seqs[m])?;
        }
        Ok(key)
    })
    .unwrap();
    let moved = read(&other, |r| r.tenant(&f.a_id)).unwrap().unwrap();
    assert_eq!(moved, Tenant { key, users: 2, groups: 1, ..source.clone() });
    assert_eq!(read(&other, |r| r.member_ids(key, &staff)).unwrap(), [alice.clone(), bob]);
    assert_eq!(
        read(&other, |r| r.get(key, User, &alice)).unwrap(),
        read(pg, |r| r.get(t, User, &alice))
            .unwrap()
            .map(|s| scim_store::Stored { seq: read(&other, |r| r.get(key, User, &alice)).unwrap().unwrap().seq, ..s })
    );
    // The keys still guard the moved resources; the tenant cannot arrive twice; ids stay unique.
    assert!(matches!(user(&other, key, "ALICE"), Err(Error::Conflict(Unique::Name))));
    let again = source.clone();
    assert!(matches!(write(&other, move |w| w.import_tenant(&again)), Err(Error::TenantExists(_))));
    let fresh = write(&other, |w| w.create_tenant(None, "rfc")).unwrap().key;
    let row = resources[0].clone();
    assert!(write(&other, move |w| w.import_resource(fresh, &row)).is_err());
}

#[test]
fn a_newer_database_is_refused_and_left_untouched() {
    let Some(db) = TestDb::new() else { return };
    drop(connect(&db.url, &Options::default()).unwrap());
    let mut client = crate::pool::Settings::parse(&db.url).unwrap().connect().unwrap();
    client.execute("UPDATE schema_version SET version = $1", &[&(SCHEMA_VERSION as i32 + 1)]).unwrap();
    let tables = |client: &mut postgres::Client| -> i64 {
        client.query_one("SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'", &[]).unwrap().get(0)
    };
    let before = tables(&mut client);
    match connect(&db.url, &Options::default()) {
        Err(Error::TooNew { found, supported }) => assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION)),
        other => panic!("expected TooNew, got {other:?}"),
    }
    let version: i32 = client.query_one("SELECT version FROM schema_version", &[]).unwrap().get(0);
    assert_eq!((i64::from(version), tables(&mut client)), (SCHEMA_VERSION + 1, before));
}

#[test]
fn version_2_spreads_each_count_within_the_shares_of_its_quota() {
    let Some(f) = Fixture::new() else { return };
    let t = f.a;
    let mut client = crate::pool::Settings::parse(&f.db.url).unwrap().connect().unwrap();
    client.execute("UPDATE tenants SET max_users = 40 WHERE seq = $1", &[&t.0]).unwrap();
    // A count as version 1 left it: 37 users, most of them on shard 0.
    client
        .batch_execute(&format!(
            "UPDATE tenant_counts SET n = CASE WHEN shard = 0 THEN 30 WHEN shard < 8 THEN 1 ELSE 0 END
              WHERE tenant = {} AND kind = 0;
             DROP FUNCTION quota_share; UPDATE schema_version SET version = 1",
            t.0
        ))
        .unwrap();
    drop(connect(&f.db.url, &Options::default()).unwrap());
    let rows =
        client.query("SELECT n FROM tenant_counts WHERE tenant = $1 AND kind = 0 ORDER BY shard", &[&t.0]).unwrap();
    let counts: Vec<i64> = rows.iter().map(|row| row.get(0)).collect();
    assert_eq!(counts, [3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]);
    // Three places are left, and only three, under concurrency.
    let pg = Arc::new(connect(&f.db.url, &Options::default()).unwrap());
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let pg = Arc::clone(&pg);
            std::thread::spawn(move || user(&*pg, t, &format!("late-{i}")))
        })
        .collect();
    let made = handles.into_iter().map(|h| h.join().unwrap()).filter(Result::is_ok).count();
    assert_eq!(made, 3);
}

#[test]
fn replicas_starting_together_migrate_once() {
    let Some(db) = TestDb::new() else { return };
    let url = Arc::new(db.url.clone());
    let start = Arc::new(Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (url, start) = (url.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                connect(&url, &Options::default()).map(|_| ())
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap().unwrap();
    }
}

#[test]
fn control_changes_reach_another_replica_within_a_second() {
    let Some(f) = Fixture::new() else { return };
    let cli = f.replica();
    let seen = |pg: &dyn Backend, before: i64| {
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline {
            if pg.data_version().unwrap() != before {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    };
    // Let the listener settle (its first connection counts as a change).
    let deadline = Instant::now() + Duration::from_secs(3);
    while !f.pg.watch.is_listening() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    let id = f.a_id.clone();
    type Change = Box<dyn Fn(&mut dyn scim_store::contract::Writer) -> Result<(), Error> + Send + Sync>;
    let changes: Vec<Change> = vec![
        Box::new(move |w| w.add_token(&token("t1", &id))),
        Box::new(|w| w.create_tenant(None, "rfc").map(|_| ())),
        Box::new(|w| w.add_admin_token(&AdminTokenRecord { id: "adm".into(), created: 1, expires: 2 })),
    ];
    for change in changes {
        let change = Arc::new(change);
        let before = f.pg.data_version().unwrap();
        write(&cli, move |w| change(w)).unwrap();
        assert!(seen(&f.pg, before), "a control change was not seen within a second");
    }
    let (id, before) = (f.a_id.clone(), f.pg.data_version().unwrap());
    write(&cli, move |w| w.set_quota(&id, 3, 3)).unwrap();
    assert!(seen(&f.pg, before));
    // Without the listener, polling sees the change.
    f.pg.watch.stop();
    let before = f.pg.data_version().unwrap();
    let id = f.a_id.clone();
    write(&cli, move |w| w.delete_token(&id, "t1")).unwrap();
    assert!(seen(&f.pg, before));
    let now = f.pg.data_version().unwrap();
    assert_eq!(f.pg.data_version().unwrap(), now, "nothing changed since");
}

/// A TCP forwarder between the backend and the database that can be cut (every connection
/// closed, new ones refused at once) and restored, as a database restart looks to a client.
struct Cut {
    port: u16,
    down: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Cut {
    fn new(target: u16) -> Cut {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (down, open) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Vec::<TcpStream>::new())));
        let (is_down, streams) = (down.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if is_down.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else { continue };
                let mut open = streams.lock().unwrap();
                open.push(client.try_clone().unwrap());
                open.push(server.try_clone().unwrap());
                for (mut from, mut to) in [(client.try_clone().unwrap(), server.try_clone().unwrap()), (server, client)]
                {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 || to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Cut { port, down, open }
    }

    fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

#[test]
fn a_vanished_database_is_unavailable_within_seconds_and_the_backend_recovers() {
    let Some(f) = Fixture::new() else { return };
    let settings = crate::pool::Settings::parse(&f.db.url).unwrap();
    let target = match settings.location().rsplit_once(':').and_then(|(_, rest)| rest.split('/').next()?.parse().ok()) {
        Some(port) => port,
        None => return,
    };
    let cut = Cut::new(target);
    let url = f.db.url.replacen(&format!(":{target}/"), &format!(":{}/", cut.port), 1);
    let pg = Arc::new(connect(&url, &Options::default()).unwrap());
    let t = f.a;
    user(&*pg, t, "before").unwrap();
    cut.cut();
    for attempt in 0..3 {
        let started = Instant::now();
        let result = user(&*pg, t, &format!("during-{attempt}"));
        assert!(matches!(result, Err(Error::Unavailable(_))), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
        let started = Instant::now();
        assert!(matches!(read(&*pg, |r| r.tenants()), Err(Error::Unavailable(_))));
        assert!(matches!(pg.data_version(), Err(Error::Unavailable(_))) || pg.watch.is_listening());
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    cut.restore();
    // The next jobs reconnect by themselves.
    user(&*pg, t, "after").unwrap();
    assert_eq!(read(&*pg, |r| r.list(t, User, &Query::default())).unwrap().items.len(), 2);
    let deadline = Instant::now() + Duration::from_secs(3);
    while !pg.watch.is_listening() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(pg.watch.is_listening(), "the listener reconnected");
}

#[test]
fn sslmode_is_honoured() {
    let Some(db) = TestDb::new() else { return };
    let base = db.url.split_once('?').map_or(db.url.as_str(), |(base, _)| base);
    let encrypted = |mode: &str| -> Result<bool, Error> {
        let mut client = crate::pool::Settings::parse(&format!("{base}?sslmode={mode}"))?.connect()?;
        let row = client.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).unwrap();
        Ok(row.get(0))
    };
    assert!(!encrypted("disable").unwrap());
    let offered = encrypted("prefer").unwrap();
    eprintln!("the server {} TLS", if offered { "offers" } else { "does not offer" });
    match encrypted("require") {
        Ok(ssl) => assert!(ssl && offered),
        Err(e) => assert!(!offered, "{e}"),
    }
    // Verified or refused, never in clear; a self-signed test certificate is refused.
    match encrypted("verify-full") {
        Ok(ssl) => assert!(ssl),
        Err(e) => assert!(matches!(e, Error::Backend(_)), "{e:?}"),
    }
}

#[test]
fn every_connection_commits_synchronously_whatever_the_database_default() {
    let Some(db) = TestDb::new() else { return };
    let mut admin = crate::pool::Settings::parse(&db.url).unwrap().connect().unwrap();
    let name: String = admin.query_one("SELECT current_database()", &[]).unwrap().get(0);
    admin.batch_execute(&format!("ALTER DATABASE {name} SET synchronous_commit = off")).unwrap();
    let pg = connect(&db.url, &Options::default()).unwrap();
    let settings = pg
        .pool
        .with(|conn| {
            let row = conn.link()?.call(&[], |client| {
                client.query_one(
                    "SELECT current_setting('synchronous_commit'), current_setting('statement_timeout')",
                    &[],
                )
            })?;
            Ok((row.get::<_, String>(0), row.get::<_, String>(1)))
        })
        .unwrap();
    assert_eq!(settings, ("on".to_owned(), "30s".to_owned()));
}

/// Rough write throughput against the server of `SCIM_TEST_POSTGRES`; run with
/// `cargo test -p scim-store-pg --release -- --ignored --nocapture throughput`.
#[test]
#[ignore = "a measurement, not a check"]
fn throughput() {
    let Some(f) = Fixture::new() else { return };
    let pg = Arc::new(f.replica());
    let t = f.a;
    let n = 2000;
    let started = Instant::now();
    for i in 0..n {
        user(&*pg, t, &format!("s{i}")).unwrap();
    }
    let single = f64::from(n) / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let threads: Vec<_> = (0..16)
        .map(|k| {
            let pg = pg.clone();
            std::thread::spawn(move || {
                for i in 0..n / 16 {
                    user(&*pg, t, &format!("p{k}-{i}")).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let parallel = f64::from(n) / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let ids: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
    let found = read(&*pg, |r| {
        let mut found = 0;
        for id in &ids {
            let query = Query { conditions: vec![scim_store::Condition::Name(id.clone())], ..Query::default() };
            found += r.list(t, User, &query)?.items.len();
        }
        Ok(found)
    })
    .unwrap();
    let lookups = f64::from(n) / started.elapsed().as_secs_f64();
    assert_eq!(found, ids.len());
    println!("{single:.0} inserts/s from one thread, {parallel:.0} inserts/s from 16 threads, {lookups:.0} lookups/s");
}

/// Runs the shell command in environment variable `name`; false when it is unset.
fn run_env_command(name: &str) -> bool {
    let Some(command) = std::env::var(name).ok().filter(|c| !c.is_empty()) else { return false };
    let status = std::process::Command::new("sh").args(["-c", &command]).status().unwrap();
    assert!(status.success(), "{name} failed: {command}");
    true
}

/// The real thing behind the forwarder test above: the server stopped (`pg_ctl stop -m fast`)
/// and started again. It stops the server every other test uses, so it runs alone:
/// `SCIM_TEST_POSTGRES_STOP='…' SCIM_TEST_POSTGRES_START='…' cargo test -p scim-store-pg -- --ignored restart`.
#[test]
#[ignore = "stops the database server: run alone, with SCIM_TEST_POSTGRES_STOP and SCIM_TEST_POSTGRES_START"]
fn a_restarted_server_is_unavailable_meanwhile_and_the_backend_recovers() {
    let Some(f) = Fixture::new() else { return };
    let t = f.a;
    user(&f.pg, t, "before").unwrap();
    if !run_env_command("SCIM_TEST_POSTGRES_STOP") {
        eprintln!("skipped: SCIM_TEST_POSTGRES_STOP is not set");
        return;
    }
    let mut slowest = Duration::ZERO;
    for attempt in 0..5 {
        let started = Instant::now();
        let result = user(&f.pg, t, &format!("during-{attempt}"));
        assert!(matches!(result, Err(Error::Unavailable(_))), "{result:?}");
        assert!(matches!(read(&f.pg, |r| r.tenants()), Err(Error::Unavailable(_))));
        slowest = slowest.max(started.elapsed());
    }
    assert!(slowest < Duration::from_secs(5), "{slowest:?}");
    assert!(run_env_command("SCIM_TEST_POSTGRES_START"));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(10);
    let recovered = loop {
        match user(&f.pg, t, "after") {
            Ok(_) => break started.elapsed(),
            Err(Error::Unavailable(_)) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => panic!("{e:?}"),
        }
    };
    eprintln!("answers while stopped: Unavailable within {slowest:?}; recovered {recovered:?} after the start");
    assert_eq!(read(&f.pg, |r| r.list(t, User, &Query::default())).unwrap().items.len(), 2);
}
