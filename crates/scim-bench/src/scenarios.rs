//! What the bench sends: the seeding of the directory and the measured scenarios, as scripts.
//!
//! Everything goes through the SCIM API, as an identity provider would send it: users are
//! created one `POST` at a time, groups with up to 100 `members` in their `POST`, and the big
//! group filled by `PATCH`es of 100 members each (the profile's limit per request).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::runtime::Runtime;

use crate::client::Endpoint;
use crate::report::{Row, grouped};
use crate::run::{Call, Outcome, Script, Until, run};
use crate::server::cpu_time;

/// How big the directory is and how long each scenario runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Connections per scenario.
    pub connections: usize,
    /// How long each fixed-time scenario runs.
    pub duration: Duration,
    /// Users seeded.
    pub users: usize,
    /// Groups seeded, the big one included.
    pub groups: usize,
    /// Members of each small group.
    pub small_members: usize,
    /// New users of the simulated initial sync.
    pub sync_users: usize,
    /// Run only the scenarios whose name contains this text (seeding always runs).
    pub only: Option<String>,
}

impl Default for Settings {
    /// The issue's figures: 100,000 users, 1,000 groups, 64 connections, 5 s per scenario.
    fn default() -> Settings {
        Settings {
            connections: 64,
            duration: Duration::from_secs(5),
            users: 100_000,
            groups: 1_000,
            small_members: 10,
            sync_users: 10_000,
            only: None,
        }
    }
}

/// A small, fast, seedable random number generator (xorshift64*), one per connection.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded from `seed` (any value).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        if n == 0 { 0 } else { (x % n as u64) as usize }
    }
}

/// The string value of the first `"key":"..."` in a JSON text, without parsing it.
///
/// Good for the server's own ids and cursors, which hold no escapes.
pub fn find_str<'a>(json: &'a [u8], key: &str) -> Option<&'a str> {
    let needle = format!("\"{key}\":\"");
    let start = json.windows(needle.len()).position(|w| w == needle.as_bytes())? + needle.len();
    let len = json[start..].iter().position(|&b| b == b'"')?;
    std::str::from_utf8(&json[start..start + len]).ok()
}

/// The userName of the `i`-th user with `prefix`.
pub fn user_name(prefix: &str, i: usize) -> String {
    format!("{prefix}{i:06}@bench.example.com")
}

/// A full identity-center user of about 900 bytes, as Okta sends one.
pub fn user_json(prefix: &str, i: usize, title: &str) -> String {
    let name = user_name(prefix, i);
    format!(
        concat!(
            r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","#,
            r#""urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],"#,
            r#""userName":"{name}","externalId":"ext-{prefix}{i}","#,
            r#""name":{{"formatted":"Given{i} Family{i}","givenName":"Given{i}","familyName":"Family{i}"}},"#,
            r#""displayName":"Given{i} Family{i}","nickName":"G{i}","title":"{title}","userType":"Employee","#,
            r#""preferredLanguage":"en-US","locale":"en-US","timezone":"America/Los_Angeles","active":true,"#,
            r#""emails":[{{"value":"{name}","type":"work","primary":true}}],"#,
            r#""addresses":[{{"streetAddress":"{i} Main Street","locality":"Springfield","region":"OR","#,
            r#""postalCode":"97477","country":"US","type":"work","primary":true}}],"#,
            r#""phoneNumbers":[{{"value":"+1-555-{i:06}","type":"work"}}],"#,
            r#""urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{{"employeeNumber":"{i}","#,
            r#""costCenter":"CC-{cc}","organization":"Bench","division":"Load","department":"Dept-{cc}","#,
            r#""manager":{{"value":"mgr-{cc}"}}}}}}"#
        ),
        name = name,
        prefix = prefix,
        i = i,
        title = title,
        cc = i % 97,
    )
}

/// Where seeding keeps the id of each created resource, with its index.
type Ids = Arc<Mutex<Vec<(usize, String)>>>;

/// The request of the `i`-th item of a shared sequence.
type MakeEach = Arc<dyn Fn(usize) -> Call + Send + Sync>;

/// A connection's next request, from its random numbers and its count of requests sent.
type MakeRandom = Arc<dyn Fn(&mut Rng, u64) -> Call + Send + Sync>;

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn members_json(ids: &[&str]) -> String {
    let values: Vec<String> = ids.iter().map(|id| format!(r#"{{"value":"{id}"}}"#)).collect();
    values.join(",")
}

fn add_members_patch(ids: &[&str]) -> String {
    format!(
        r#"{{"schemas":["{PATCH_OP}"],"Operations":[{{"op":"add","path":"members","value":[{}]}}]}}"#,
        members_json(ids)
    )
}

fn call(method: &'static str, path: String, body: Option<String>, expect: u16) -> Call {
    Call { method, path, body, expect }
}

/// `%22` and `%20` for the quotes and spaces of a filter, as HTTP clients send them.
fn filter_query(attribute: &str, value: &str) -> String {
    format!("filter={attribute}%20eq%20%22{value}%22")
}

/// Sends `make(i)` for i = 0, 1, 2, ... shared by all connections, until `total`; optionally
/// keeps the `id` of each answer with its `i`.
struct Each {
    make: MakeEach,
    next: Arc<AtomicUsize>,
    total: usize,
    last: usize,
    ids: Option<Ids>,
}

impl Script for Each {
    fn next(&mut self) -> Option<Call> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        if i >= self.total {
            return None;
        }
        self.last = i;
        Some((self.make)(i))
    }

    fn answer(&mut self, body: &[u8]) {
        if let (Some(ids), Some(id)) = (&self.ids, find_str(body, "id")) {
            ids.lock().unwrap_or_else(PoisonError::into_inner).push((self.last, id.to_owned()));
        }
    }
}

/// Sends `make(rng, n)` forever, with the connection's own random numbers and request count.
struct Random {
    make: MakeRandom,
    rng: Rng,
    sent: u64,
}

impl Script for Random {
    fn next(&mut self) -> Option<Call> {
        self.sent += 1;
        Some((self.make)(&mut self.rng, self.sent))
    }
}

/// Pages through every user with the cursor, from the start again after the last page.
struct Walk {
    base: String,
    cursor: String,
    walks: Arc<AtomicU64>,
}

impl Script for Walk {
    fn next(&mut self) -> Option<Call> {
        Some(call("GET", format!("{}/Users?count=100&cursor={}", self.base, self.cursor), None, 200))
    }

    fn answer(&mut self, body: &[u8]) {
        match find_str(body, "nextCursor") {
            Some(cursor) => self.cursor = cursor.to_owned(),
            None => {
                self.cursor.clear();
                self.walks.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// An identity provider's initial sync: for each new user, look it up by `userName`, then
/// create it.
struct InitialSync {
    base: String,
    next: Arc<AtomicUsize>,
    total: usize,
    pending: Option<usize>,
}

impl Script for InitialSync {
    fn next(&mut self) -> Option<Call> {
        if let Some(i) = self.pending.take() {
            return Some(call("POST", format!("{}/Users", self.base), Some(user_json("sync", i, "Engineer")), 201));
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        if i >= self.total {
            return None;
        }
        self.pending = Some(i);
        let query = filter_query("userName", &user_name("sync", i));
        Some(call("GET", format!("{}/Users?{query}", self.base), None, 200))
    }
}

/// The seeded directory.
#[derive(Debug, Default)]
pub struct Directory {
    /// The seeded users' ids, by index (shared with the scenarios' request makers).
    pub users: Arc<Vec<String>>,
    /// The big group's id.
    pub big_group: String,
    /// The small groups' ids.
    pub small_groups: Vec<String>,
}

/// Runs the seeding and the scenarios against one server.
#[derive(Debug)]
pub struct Bench<'a> {
    /// The runtime the connections run on.
    pub runtime: &'a Runtime,
    /// The server.
    pub endpoint: Endpoint,
    /// The tenant's SCIM base path.
    pub base: String,
    /// Sizes and times.
    pub settings: Settings,
    /// The server's process id, to read the CPU time it spends on each scenario.
    pub server_pid: Option<u32>,
}

/// How long one seeding step may take at most. A step is at most [`SEED_BLOCK`] users (or the
/// groups, or the big group's PATCHes), which take well under a minute here.
pub const SEEDING_LIMIT: Duration = Duration::from_secs(300);

/// Users are seeded in blocks of this many (when there are more), each its own row in the report.
pub const SEED_BLOCK: usize = 100_000;

/// The `[start, end)` ranges of users seeded as one step each.
pub fn seed_blocks(users: usize) -> Vec<(usize, usize)> {
    (0..users.div_ceil(SEED_BLOCK)).map(|b| (b * SEED_BLOCK, ((b + 1) * SEED_BLOCK).min(users))).collect()
}

/// Sorts `(index, id)` pairs and checks that none is missing.
fn ordered(pairs: &Mutex<Vec<(usize, String)>>, total: usize, what: &str) -> Result<Vec<String>, String> {
    let mut pairs = std::mem::take(&mut *pairs.lock().unwrap_or_else(PoisonError::into_inner));
    pairs.sort_unstable_by_key(|(i, _)| *i);
    if pairs.len() != total {
        return Err(format!("seeding {what}: {} of {total} created", pairs.len()));
    }
    Ok(pairs.into_iter().map(|(_, id)| id).collect())
}

impl Bench<'_> {
    fn wanted(&self, name: &str) -> bool {
        self.settings.only.as_deref().is_none_or(|only| name.contains(only))
    }

    /// Runs `scenario`, with the CPU time the server and this process spent on it.
    fn measure(&self, scenario: impl FnOnce() -> Outcome) -> Row {
        let server = self.server_pid.map(|pid| pid.to_string());
        let sample = || (server.as_deref().and_then(cpu_time), cpu_time("self"));
        let before = sample();
        let outcome = scenario();
        let after = sample();
        let per_request = |a: Option<Duration>, b: Option<Duration>| {
            let spent = b?.checked_sub(a?)?;
            (outcome.requests > 0).then(|| spent.as_secs_f64() * 1e6 / outcome.requests as f64)
        };
        let (server_cpu_us, bench_cpu_us) = (per_request(before.0, after.0), per_request(before.1, after.1));
        eprintln!(
            "scim-bench: {}: {} requests, {:.0}/s, {} errors",
            outcome.name,
            outcome.requests,
            outcome.rate(),
            outcome.errors
        );
        Row { outcome, server_cpu_us, bench_cpu_us }
    }

    fn each(&self, name: &str, total: usize, make: MakeEach, ids: Option<Ids>) -> Outcome {
        let next = Arc::new(AtomicUsize::new(0));
        let until = Until::Exhausted(SEEDING_LIMIT);
        run(self.runtime, &self.endpoint, name, self.settings.connections, until, |_| {
            Box::new(Each { make: Arc::clone(&make), next: Arc::clone(&next), total, last: 0, ids: ids.clone() })
        })
    }

    fn timed(&self, name: &str, make: MakeRandom) -> Outcome {
        let until = Until::Elapsed(self.settings.duration);
        run(self.runtime, &self.endpoint, name, self.settings.connections, until, |i| {
            Box::new(Random { make: Arc::clone(&make), rng: Rng::new(i as u64 + 1), sent: 0 })
        })
    }

    /// Seeds the users, the small groups with their members and the big group with every user;
    /// returns the directory and what each step measured.
    pub fn seed(&self) -> Result<(Directory, Vec<Row>), String> {
        let s = &self.settings;
        let base = self.base.clone();
        let mut steps = Vec::new();

        // In blocks, so the report shows the create rate as the tenant grows.
        let mut users = Vec::with_capacity(s.users);
        for (start, end) in seed_blocks(s.users) {
            let ids = Arc::new(Mutex::new(Vec::with_capacity(end - start)));
            let base = base.clone();
            let make = Arc::new(move |i: usize| {
                call("POST", format!("{base}/Users"), Some(user_json("user", start + i, "Engineer")), 201)
            });
            let name = if (start, end) == (0, s.users) {
                format!("seed: POST {} users", s.users)
            } else {
                format!("seed: POST users {}–{}", grouped(start as u64 + 1), grouped(end as u64))
            };
            steps.push(self.measure(|| self.each(&name, end - start, make, Some(Arc::clone(&ids)))));
            users.extend(ordered(&ids, end - start, "users")?);
        }
        let users = Arc::new(users);

        let small = s.groups.saturating_sub(1);
        let (base, members, per) = (self.base.clone(), Arc::clone(&users), s.small_members);
        let make = Arc::new(move |i: usize| {
            let chosen: Vec<&str> = (0..per).map(|k| members[(i * per + k) % members.len()].as_str()).collect();
            let body = format!(
                r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Group {i:04}","externalId":"ext-group-{i}","members":[{}]}}"#,
                members_json(&chosen)
            );
            call("POST", format!("{base}/Groups"), Some(body), 201)
        });
        let ids = Arc::new(Mutex::new(Vec::with_capacity(small)));
        let name = format!("seed: POST {small} groups of {per} members");
        steps.push(self.measure(|| self.each(&name, small, make, Some(Arc::clone(&ids)))));
        let small_groups = ordered(&ids, small, "groups")?;

        let base = self.base.clone();
        let make = Arc::new(move |_| {
            let body = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Everyone"}"#;
            call("POST", format!("{base}/Groups"), Some(body.to_owned()), 201)
        });
        let ids = Arc::new(Mutex::new(Vec::new()));
        steps.push(self.measure(|| self.each("seed: POST the big group", 1, make, Some(Arc::clone(&ids)))));
        let big_group = ordered(&ids, 1, "the big group")?.remove(0);

        let (base, members, group) = (self.base.clone(), Arc::clone(&users), big_group.clone());
        let patches = s.users.div_ceil(100);
        let make = Arc::new(move |i: usize| {
            let chunk: Vec<&str> =
                members[i * 100..((i + 1) * 100).min(members.len())].iter().map(String::as_str).collect();
            call("PATCH", format!("{base}/Groups/{group}"), Some(add_members_patch(&chunk)), 204)
        });
        let name = format!("seed: {patches} PATCHes of 100 members into the big group");
        steps.push(self.measure(|| self.each(&name, patches, make, None)));

        Ok((Directory { users, big_group, small_groups }, steps))
    }

    /// Measures the reference server at `endpoint` (process `pid`) like any scenario: the same
    /// runtime, connections and duration, a `GET` of its fixed user.
    pub fn reference(&self, endpoint: Endpoint, pid: Option<u32>) -> Row {
        let floor = Bench { endpoint, base: String::new(), server_pid: pid, settings: self.settings.clone(), ..*self };
        let make = Arc::new(|_: &mut Rng, _| call("GET", crate::reference::PATH.to_owned(), None, 200));
        floor.measure(|| floor.timed(REFERENCE, make))
    }

    /// Runs every measured scenario (or those `only` names), the cheapest endpoint first.
    pub fn scenarios(&self, dir: &Directory) -> Vec<Row> {
        let mut out = Vec::new();
        let users = Arc::clone(&dir.users);
        let fixed = Until::Elapsed(self.settings.duration);

        if self.wanted(CHEAPEST) {
            let base = self.base.clone();
            let make = Arc::new(move |_: &mut Rng, _| call("GET", format!("{base}/ServiceProviderConfig"), None, 200));
            out.push(self.measure(|| self.timed(CHEAPEST, make)));
        }

        if self.wanted(GET_BY_ID) {
            let (base, ids) = (self.base.clone(), Arc::clone(&users));
            let make = Arc::new(move |rng: &mut Rng, _| {
                call("GET", format!("{base}/Users/{}", ids[rng.below(ids.len())]), None, 200)
            });
            out.push(self.measure(|| self.timed(GET_BY_ID, make)));
        }

        if self.wanted(FILTER) {
            let (base, n) = (self.base.clone(), users.len());
            let make = Arc::new(move |rng: &mut Rng, _| {
                let query = filter_query("userName", &user_name("user", rng.below(n)));
                call("GET", format!("{base}/Users?{query}"), None, 200)
            });
            out.push(self.measure(|| self.timed(FILTER, make)));
        }

        // The users created here are the members added below, so each add is a real insert.
        let created = Arc::new(Mutex::new(Vec::new()));
        if self.wanted(CREATE) {
            let base = self.base.clone();
            let next = Arc::new(AtomicUsize::new(0));
            let make: MakeEach =
                Arc::new(move |i| call("POST", format!("{base}/Users"), Some(user_json("post", i, "Engineer")), 201));
            out.push(self.measure(|| {
                run(self.runtime, &self.endpoint, CREATE, self.settings.connections, fixed, |_| {
                    Box::new(Each {
                        make: Arc::clone(&make),
                        next: Arc::clone(&next),
                        total: usize::MAX,
                        last: 0,
                        ids: Some(Arc::clone(&created)),
                    })
                })
            }));
        }
        let mut spare = std::mem::take(&mut *created.lock().unwrap_or_else(PoisonError::into_inner));
        spare.sort_unstable_by_key(|(i, _)| *i);
        let spare: Vec<String> = spare.into_iter().map(|(_, id)| id).collect();

        if self.wanted(PUT) {
            let (base, ids) = (self.base.clone(), Arc::clone(&users));
            let make = Arc::new(move |rng: &mut Rng, n| {
                let i = rng.below(ids.len());
                let title = if n % 2 == 0 { "Engineer" } else { "Manager" };
                let body = user_json("user", i, title);
                call("PUT", format!("{base}/Users/{}", ids[i]), Some(body), 200)
            });
            out.push(self.measure(|| self.timed(PUT, make)));
        }

        if self.wanted(DEACTIVATE) {
            let (base, ids) = (self.base.clone(), Arc::clone(&users));
            let make = Arc::new(move |rng: &mut Rng, n| {
                // Alternating values keep most requests real changes rather than no-ops.
                let value = if n % 2 == 0 { "true" } else { "false" };
                let body = format!(
                    r#"{{"schemas":["{PATCH_OP}"],"Operations":[{{"op":"replace","path":"active","value":{value}}}]}}"#
                );
                call("PATCH", format!("{base}/Users/{}", ids[rng.below(ids.len())]), Some(body), 200)
            });
            out.push(self.measure(|| self.timed(DEACTIVATE, make)));
        }

        // Once the new users run out, adds repeat: idempotent no-ops that still read and write.
        let pool = if spare.is_empty() { Arc::clone(&users) } else { Arc::new(spare) };
        for (name, groups) in [(ADD_BIG, vec![dir.big_group.clone()]), (ADD_SMALL, dir.small_groups.clone())] {
            if !self.wanted(name) {
                continue;
            }
            let (base, pool, next) = (self.base.clone(), Arc::clone(&pool), Arc::new(AtomicUsize::new(0)));
            let make = Arc::new(move |rng: &mut Rng, _| {
                let member = &pool[next.fetch_add(1, Ordering::Relaxed) % pool.len()];
                let group = &groups[rng.below(groups.len())];
                call("PATCH", format!("{base}/Groups/{group}"), Some(add_members_patch(&[member])), 204)
            });
            out.push(self.measure(|| self.timed(name, make)));
        }

        if self.wanted(PAGING) {
            let walks = Arc::new(AtomicU64::new(0));
            let base = self.base.clone();
            out.push(self.measure(|| {
                run(self.runtime, &self.endpoint, PAGING, self.settings.connections, fixed, |_| {
                    Box::new(Walk { base: base.clone(), cursor: String::new(), walks: Arc::clone(&walks) })
                })
            }));
        }

        if self.wanted(SYNC) {
            let next = Arc::new(AtomicUsize::new(0));
            let (base, total) = (self.base.clone(), self.settings.sync_users);
            let until = Until::Exhausted(Duration::from_secs(120));
            out.push(self.measure(|| {
                run(self.runtime, &self.endpoint, SYNC, self.settings.connections, until, |_| {
                    Box::new(InitialSync { base: base.clone(), next: Arc::clone(&next), total, pending: None })
                })
            }));
        }
        out
    }
}

/// The floor: the bare-hyper reference server (`crate::reference`), not ours.
pub const REFERENCE: &str = "reference: bare hyper, fixed 600-byte user, static token";
/// The cheapest endpoint: the whole pipeline, no database.
pub const CHEAPEST: &str = "GET /ServiceProviderConfig (cheapest)";
/// A user by id.
pub const GET_BY_ID: &str = "GET /Users/{id}";
/// A user by `userName`.
pub const FILTER: &str = "GET /Users?filter=userName eq";
/// Creating users.
pub const CREATE: &str = "POST /Users";
/// Replacing users.
pub const PUT: &str = "PUT /Users/{id}";
/// Deactivating users.
pub const DEACTIVATE: &str = "PATCH /Users/{id} active";
/// Adding a member to the group of every seeded user.
pub const ADD_BIG: &str = "PATCH /Groups add member (group of every user)";
/// Adding a member to a 10-member group.
pub const ADD_SMALL: &str = "PATCH /Groups add member (10-member groups)";
/// Paging through every user.
pub const PAGING: &str = "GET /Users?cursor (pages of 100)";
/// The initial sync.
pub const SYNC: &str = "initial sync (lookup + POST per user)";

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn user_bodies_are_json_and_ids_are_found_without_parsing() {
        let body: serde_json::Value = serde_json::from_str(&user_json("user", 42, "Engineer")).unwrap();
        assert_eq!(body["userName"], "user000042@bench.example.com");
        assert_eq!(body["emails"][0]["value"], body["userName"]);
        assert_eq!(find_str(br#"{"id":"abc","x":{"id":"no"}}"#, "id"), Some("abc"));
        assert_eq!(find_str(br#"{"nextCursor":"1f:00ab"}"#, "nextCursor"), Some("1f:00ab"));
        assert_eq!(find_str(br#"{"ids":"x"}"#, "id"), None);
        let patch: serde_json::Value = serde_json::from_str(&add_members_patch(&["a", "b"])).unwrap();
        assert_eq!(patch["Operations"][0]["value"][1]["value"], "b");
    }

    #[test]
    fn users_are_seeded_in_blocks_of_100_000() {
        assert_eq!(seed_blocks(10_000), vec![(0, 10_000)]);
        assert_eq!(seed_blocks(100_000), vec![(0, 100_000)]);
        assert_eq!(seed_blocks(250_000), vec![(0, 100_000), (100_000, 200_000), (200_000, 250_000)]);
        assert_eq!(seed_blocks(1_000_000).len(), 10);
    }

    #[test]
    fn random_numbers_stay_in_range() {
        let mut rng = Rng::new(7);
        assert!((0..10_000).all(|_| rng.below(10) < 10));
        assert_eq!(rng.below(0), 0);
    }
}
