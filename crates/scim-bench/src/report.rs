//! The report: per directory size, one table of scenarios with their ratios to the bare-hyper
//! reference and to the cheapest endpoint, the seeding, the process figures and the targets;
//! across sizes, how flat each scenario stays; as Markdown and as JSON.

use serde_json::{Value, json};

use crate::run::Outcome;
use crate::scenarios;

/// One scenario's figures, with the CPU each side spent on it.
#[derive(Debug, Clone)]
pub struct Row {
    /// What was measured.
    pub outcome: Outcome,
    /// Server CPU time (user + system) per request, in microseconds, if known.
    pub server_cpu_us: Option<f64>,
    /// Load generator CPU time per request, in microseconds, if known.
    pub bench_cpu_us: Option<f64>,
}

impl Row {
    fn rate(&self) -> f64 {
        self.outcome.rate()
    }

    fn quantile(&self, q: f64) -> u32 {
        self.outcome.latencies.clone().quantile(q)
    }
}

/// A target of the issues and whether this run met it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// What is measured.
    pub what: String,
    /// The goal, as text.
    pub goal: String,
    /// The figure measured, as text.
    pub measured: String,
    /// Whether it was met.
    pub met: bool,
}

/// Everything measured against one fresh server seeded with one number of users.
#[derive(Debug, Clone)]
pub struct Size {
    /// Users seeded.
    pub users: usize,
    /// The seeding steps.
    pub seeding: Vec<Row>,
    /// The measured scenarios: the reference first, then the cheapest endpoint, then the rest.
    pub scenarios: Vec<Row>,
    /// The server's peak resident set (`VmHWM`), in KiB.
    pub peak_rss_kib: Option<u64>,
    /// The database's size (file, WAL and shared memory) at the end, in bytes.
    pub db_bytes: u64,
    /// Users in the tenant at the end (the seeded ones and those the scenarios created).
    pub users_at_end: usize,
}

/// A scenario at a larger size against its figure at the smallest size measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Flat {
    /// The scenario.
    pub scenario: &'static str,
    /// The smallest size and its requests per second.
    pub from: (usize, f64),
    /// The larger size and its requests per second.
    pub to: (usize, f64),
}

impl Flat {
    /// The larger size's rate over the smallest's.
    pub fn ratio(&self) -> f64 {
        if self.from.1 > 0.0 { self.to.1 / self.from.1 } else { 0.0 }
    }

    /// Whether it stays flat: at least [`FLAT`] of the smaller size's rate; `None` for the
    /// reference, which has no target and shows how much of a change is the machine's.
    pub fn met(&self) -> Option<bool> {
        (self.scenario != scenarios::REFERENCE).then(|| self.ratio() >= FLAT)
    }
}

/// The least a scenario's rate may keep at a larger size, as a fraction of its rate at the
/// smallest (issue 12: at 1,000,000 users, 0.8 of the figure at 10,000).
pub const FLAT: f64 = 0.8;

/// The scenarios that must stay flat as the tenant grows.
pub const FLAT_SCENARIOS: [&str; 5] =
    [scenarios::GET_BY_ID, scenarios::FILTER, scenarios::CREATE, scenarios::ADD_BIG, scenarios::ADD_SMALL];

/// Reads whose rate is compared with the reference, and whose p99 must stay under 10 ms.
/// Paging is left out: a page of 100 users costs milliseconds of CPU, so with 64 connections in
/// flight its latency is the queue (Little's law), not the endpoint.
const READS: [(&str, f64); 3] = [(scenarios::CHEAPEST, 0.80), (scenarios::GET_BY_ID, 0.50), (scenarios::FILTER, 0.40)];

/// Writes and the rate each must reach, in requests per second.
const WRITES: [(&str, f64); 5] = [
    (scenarios::CREATE, 10_000.0),
    (scenarios::PUT, 8_000.0),
    (scenarios::DEACTIVATE, 10_000.0),
    (scenarios::ADD_BIG, 10_000.0),
    (scenarios::ADD_SMALL, 10_000.0),
];

/// The p99 every read must stay under, in microseconds.
const READ_P99_US: u32 = 10_000;

/// `12345678` as `12,345,678`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

fn shown(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"))
}

/// The peak-RSS goal for a directory of `users`, in MiB: 200 at a million users and more (issue
/// 12), else 150 (issue 11, at 100,000).
pub fn rss_goal_mib(users: usize) -> u64 {
    if users >= 1_000_000 { 200 } else { 150 }
}

impl Size {
    fn find(&self, name: &str) -> Option<&Row> {
        self.scenarios.iter().find(|r| r.outcome.name == name)
    }

    /// The requests per second of the reference, if it was measured.
    fn reference_rate(&self) -> Option<f64> {
        self.find(scenarios::REFERENCE).map(Row::rate)
    }

    fn cheapest(&self) -> Option<&Row> {
        self.find(scenarios::CHEAPEST)
    }

    /// Database bytes per user at the end.
    pub fn bytes_per_user(&self) -> Option<f64> {
        (self.users_at_end > 0).then(|| self.db_bytes as f64 / self.users_at_end as f64)
    }

    /// The issues' targets, judged on this size's run; `durability` is the server's.
    pub fn targets(&self, durability: &str) -> Vec<Target> {
        let mut targets = Vec::new();
        let reference = self.reference_rate();
        for (name, goal) in READS {
            let Some(row) = self.find(name) else { continue };
            if let Some(floor) = reference {
                let r = ratio(row.rate(), floor).unwrap_or(0.0);
                targets.push(Target {
                    what: format!("{name}: req/s ÷ reference"),
                    goal: format!("≥ {goal:.2}"),
                    measured: format!("{r:.3} ({:.0} vs {floor:.0} req/s)", row.rate()),
                    met: r >= goal,
                });
            }
        }
        for (name, goal) in WRITES {
            let Some(row) = self.find(name) else { continue };
            let full = name != scenarios::CREATE || durability == "full";
            targets.push(Target {
                what: if name == scenarios::CREATE { format!("{name} (durability {durability})") } else { name.into() },
                goal: format!("≥ {}/s{}", grouped(goal as u64), if name == scenarios::CREATE { ", full" } else { "" }),
                measured: format!("{:.0}/s", row.rate()),
                met: row.rate() >= goal && full,
            });
        }
        for (name, _) in READS {
            let Some(row) = self.find(name) else { continue };
            let p99 = row.quantile(0.99);
            targets.push(Target {
                what: format!("{name}: p99"),
                goal: format!("< {} ms", READ_P99_US / 1000),
                measured: format!("{:.1} ms", f64::from(p99) / 1000.0),
                met: p99 < READ_P99_US,
            });
        }
        if let (Some(big), Some(small)) = (self.find(scenarios::ADD_BIG), self.find(scenarios::ADD_SMALL)) {
            // With a fixed number of connections, the time per request is the inverse of the rate.
            let times = ratio(small.rate(), big.rate()).unwrap_or(f64::INFINITY);
            targets.push(Target {
                what: format!("add member, group of all {} users vs 10-member groups", grouped(self.users as u64)),
                goal: "< 2× the time".into(),
                measured: format!(
                    "{times:.2}× (p50 {} vs {} µs)",
                    grouped(u64::from(big.quantile(0.5))),
                    grouped(u64::from(small.quantile(0.5)))
                ),
                met: times < 2.0,
            });
        }
        if let Some(row) = self.find(scenarios::SYNC) {
            let secs = row.outcome.elapsed.as_secs_f64();
            targets.push(Target {
                what: "initial sync of 10,000 users (lookup + create, 64 clients)".into(),
                goal: "< 2 s".into(),
                measured: format!("{secs:.2} s"),
                met: secs < 2.0 && !row.outcome.timed_out,
            });
        }
        if let Some(kib) = self.peak_rss_kib {
            let goal = rss_goal_mib(self.users);
            targets.push(Target {
                what: "server peak RSS (VmHWM)".into(),
                goal: format!("< {goal} MiB"),
                measured: format!("{:.1} MiB", kib as f64 / 1024.0),
                met: kib < goal * 1024,
            });
        }
        let errors: u64 = self.seeding.iter().chain(&self.scenarios).map(|r| r.outcome.errors).sum();
        targets.push(Target {
            what: "errors, seeding and every scenario".into(),
            goal: "0".into(),
            measured: errors.to_string(),
            met: errors == 0,
        });
        targets
    }

    fn markdown(&self, durability: &str) -> String {
        let mut md = format!("### {} users\n\n", grouped(self.users as u64));
        md.push_str(
            "| scenario | requests | req/s | p50 µs | p99 µs | errors | req/s ÷ reference | req/s ÷ cheapest | p50 ÷ cheapest | server CPU µs/req | bench CPU µs/req |\n",
        );
        md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        let reference = self.reference_rate().unwrap_or(0.0);
        let (cheapest, cheapest_p50) = self.cheapest().map_or((0.0, 0.0), |r| (r.rate(), f64::from(r.quantile(0.5))));
        let micros = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
        for row in &self.scenarios {
            let o = &row.outcome;
            let (p50, p99) = (row.quantile(0.5), row.quantile(0.99));
            let name = if o.name == scenarios::SYNC {
                format!("{} — **{:.2} s** for all", o.name, o.elapsed.as_secs_f64())
            } else {
                o.name.clone()
            };
            md.push_str(&format!(
                "| {name} | {} | {:.0} | {p50} | {p99} | {} | {} | {} | {} | {} | {} |\n",
                o.requests,
                row.rate(),
                o.errors,
                shown(ratio(row.rate(), reference)),
                shown(ratio(row.rate(), cheapest)),
                shown(ratio(f64::from(p50), cheapest_p50)),
                micros(row.server_cpu_us),
                micros(row.bench_cpu_us),
            ));
        }
        md.push_str("\nSeeding, through the API:\n\n| step | requests | seconds | req/s | errors |\n|---|---:|---:|---:|---:|\n");
        for row in &self.seeding {
            let o = &row.outcome;
            md.push_str(&format!(
                "| {} | {} | {:.1} | {:.0} | {} |\n",
                o.name,
                o.requests,
                o.elapsed.as_secs_f64(),
                row.rate(),
                o.errors
            ));
        }
        md.push_str(&format!(
            "\nServer peak RSS (VmHWM): {}. Database at the end ({} users): {:.1} MiB (file + WAL), {} bytes per user.\n",
            self.peak_rss_kib.map_or_else(|| "unknown".to_owned(), |k| format!("{:.1} MiB", k as f64 / 1024.0)),
            grouped(self.users_at_end as u64),
            self.db_bytes as f64 / 1_048_576.0,
            self.bytes_per_user().map_or_else(|| "-".to_owned(), |b| grouped(b.round() as u64)),
        ));
        md.push_str("\nTargets:\n\n| target | goal | measured | met |\n|---|---|---|---|\n");
        for t in self.targets(durability) {
            md.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                t.what,
                t.goal,
                t.measured,
                if t.met { "yes" } else { "**no**" }
            ));
        }
        let samples: Vec<&String> =
            self.seeding.iter().chain(&self.scenarios).flat_map(|r| &r.outcome.samples).collect();
        if !samples.is_empty() {
            md.push_str("\nFirst errors:\n\n");
            for sample in samples.iter().take(10) {
                md.push_str(&format!("- `{}`\n", sample.replace('`', "'")));
            }
        }
        md
    }

    fn json(&self, durability: &str) -> Value {
        let reference = self.reference_rate().unwrap_or(0.0);
        let (cheapest, cheapest_p50) = self.cheapest().map_or((0.0, 0.0), |r| (r.rate(), f64::from(r.quantile(0.5))));
        let scenarios: Vec<Value> = self
            .scenarios
            .iter()
            .map(|r| {
                let mut v = row_json(r);
                let p50 = f64::from(r.quantile(0.5));
                if let Some(object) = v.as_object_mut() {
                    object.insert("rate_ratio_to_reference".into(), json!(ratio(r.rate(), reference)));
                    object.insert("rate_ratio_to_cheapest".into(), json!(ratio(r.rate(), cheapest)));
                    object.insert("p50_ratio_to_cheapest".into(), json!(ratio(p50, cheapest_p50)));
                }
                v
            })
            .collect();
        json!({
            "users": self.users,
            "scenarios": scenarios,
            "seeding": self.seeding.iter().map(row_json).collect::<Vec<_>>(),
            "peak_rss_kib": self.peak_rss_kib,
            "db_bytes": self.db_bytes,
            "db_bytes_per_user": self.bytes_per_user(),
            "users_at_end": self.users_at_end,
            "targets": self.targets(durability).iter().map(target_json).collect::<Vec<_>>(),
        })
    }
}

fn row_json(r: &Row) -> Value {
    let o = &r.outcome;
    let mut lat = o.latencies.clone();
    json!({
        "name": o.name,
        "connections": o.connections,
        "requests": o.requests,
        "errors": o.errors,
        "seconds": o.elapsed.as_secs_f64(),
        "requests_per_second": o.rate(),
        "p50_us": lat.quantile(0.5),
        "p99_us": lat.quantile(0.99),
        "mean_us": lat.mean(),
        "server_cpu_us_per_request": r.server_cpu_us,
        "bench_cpu_us_per_request": r.bench_cpu_us,
        "timed_out": o.timed_out,
        "error_samples": o.samples,
    })
}

fn target_json(t: &Target) -> Value {
    json!({"what": t.what, "goal": t.goal, "measured": t.measured, "met": t.met})
}

/// Everything one run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// When it ran (UTC).
    pub date: String,
    /// The command that produced it.
    pub command: String,
    /// The commit measured, if known.
    pub commit: Option<String>,
    /// `full` or `normal`.
    pub durability: String,
    /// Logical CPUs of the machine.
    pub cpus: usize,
    /// Threads of the load generator's runtime.
    pub bench_threads: usize,
    /// Connections per scenario.
    pub connections: usize,
    /// Seconds per fixed-time scenario.
    pub seconds: f64,
    /// One run per directory size, smallest first.
    pub sizes: Vec<Size>,
    /// The size that could not be measured, and why (the run stopped there).
    pub failure: Option<String>,
}

impl Report {
    /// The reference and every scenario of [`FLAT_SCENARIOS`] at each larger size against the
    /// smallest size.
    pub fn flat(&self) -> Vec<Flat> {
        let Some((first, rest)) = self.sizes.split_first() else { return Vec::new() };
        let mut out = Vec::new();
        for size in rest {
            for scenario in std::iter::once(scenarios::REFERENCE).chain(FLAT_SCENARIOS) {
                if let (Some(from), Some(to)) = (first.find(scenario), size.find(scenario)) {
                    out.push(Flat { scenario, from: (first.users, from.rate()), to: (size.users, to.rate()) });
                }
            }
        }
        out
    }

    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let mut md = format!("Measured {} with `{}`", self.date, self.command);
        if let Some(commit) = &self.commit {
            md.push_str(&format!(" at commit `{commit}`"));
        }
        md.push_str(&format!(
            ".\nDurability `{}`; {} CPUs shared by the server, the reference and the load generator ({} runtime thread{}); \
             {} connections; {} s per fixed-time scenario.\n",
            self.durability,
            self.cpus,
            self.bench_threads,
            if self.bench_threads == 1 { "" } else { "s" },
            self.connections,
            self.seconds
        ));
        for size in &self.sizes {
            md.push('\n');
            md.push_str(&size.markdown(&self.durability));
        }
        if let Some(why) = &self.failure {
            md.push_str(&format!("\n**Not measured, the run stopped here:** {why}\n"));
        }
        let flat = self.flat();
        if !flat.is_empty() {
            md.push_str(&format!(
                "\n### Flat as the tenant grows\n\nEach scenario's req/s at the larger size over its req/s at the smaller (target ≥ {FLAT}); \
                 the reference's own ratio is how much the machine changed between the two.\n\n\
                 | scenario | users | req/s | users | req/s | ratio | met |\n|---|---:|---:|---:|---:|---:|---|\n"
            ));
            for f in flat {
                md.push_str(&format!(
                    "| {} | {} | {:.0} | {} | {:.0} | {:.3} | {} |\n",
                    f.scenario,
                    grouped(f.from.0 as u64),
                    f.from.1,
                    grouped(f.to.0 as u64),
                    f.to.1,
                    f.ratio(),
                    match f.met() {
                        Some(true) => "yes",
                        Some(false) => "**no**",
                        None => "(the machine)",
                    }
                ));
            }
        }
        md
    }

    /// The report as JSON.
    pub fn json(&self) -> Value {
        let flat: Vec<Value> = self
            .flat()
            .iter()
            .map(|f| {
                json!({"scenario": f.scenario, "from_users": f.from.0, "from_requests_per_second": f.from.1,
                       "to_users": f.to.0, "to_requests_per_second": f.to.1, "ratio": f.ratio(), "met": f.met()})
            })
            .collect();
        json!({
            "date": self.date,
            "command": self.command,
            "commit": self.commit,
            "durability": self.durability,
            "cpus": self.cpus,
            "bench_threads": self.bench_threads,
            "connections": self.connections,
            "seconds_per_scenario": self.seconds,
            "reference": scenarios::REFERENCE,
            "cheapest": scenarios::CHEAPEST,
            "sizes": self.sizes.iter().map(|s| s.json(&self.durability)).collect::<Vec<_>>(),
            "flat": flat,
            "failure": self.failure,
        })
    }
}

/// Replaces the text between `<!-- bench:begin -->` and `<!-- bench:end -->` in `doc` with
/// `table`; `None` if the markers are missing.
pub fn splice(doc: &str, table: &str) -> Option<String> {
    const BEGIN: &str = "<!-- bench:begin -->";
    const END: &str = "<!-- bench:end -->";
    let start = doc.find(BEGIN)? + BEGIN.len();
    let end = start + doc[start..].find(END)?;
    Some(format!("{}\n{}\n{}", &doc[..start], table.trim_end(), &doc[end..]))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::stats::Latencies;

    /// A scenario of `rate` requests per second over one second, every latency `micros`.
    fn row(name: &str, rate: u64, micros: u64) -> Row {
        let mut latencies = Latencies::default();
        for _ in 0..rate.min(1000) {
            latencies.record(Duration::from_micros(micros));
        }
        let outcome = Outcome {
            name: name.to_owned(),
            connections: 64,
            requests: rate,
            errors: 0,
            elapsed: Duration::from_secs(1),
            latencies,
            samples: Vec::new(),
            timed_out: false,
        };
        Row { outcome, server_cpu_us: Some(10.0), bench_cpu_us: Some(5.0) }
    }

    fn size(users: usize, scenarios: Vec<Row>) -> Size {
        Size {
            users,
            seeding: Vec::new(),
            scenarios,
            peak_rss_kib: Some(190 * 1024),
            db_bytes: 3_000_000,
            users_at_end: 1_000,
        }
    }

    fn target<'a>(targets: &'a [Target], what: &str) -> &'a Target {
        targets.iter().find(|t| t.what == what).unwrap_or_else(|| panic!("no target {what:?} in {targets:?}"))
    }

    #[test]
    fn reads_are_judged_against_the_reference_of_the_same_run() {
        let s = size(
            10_000,
            vec![
                row(scenarios::REFERENCE, 100_000, 600),
                row(scenarios::CHEAPEST, 79_000, 800),
                row(scenarios::GET_BY_ID, 50_000, 12_000),
                row(scenarios::FILTER, 39_999, 2_000),
            ],
        );
        let targets = s.targets("full");
        let cheapest = target(&targets, &format!("{}: req/s ÷ reference", scenarios::CHEAPEST));
        assert_eq!((cheapest.met, cheapest.measured.as_str()), (false, "0.790 (79000 vs 100000 req/s)"));
        assert!(target(&targets, &format!("{}: req/s ÷ reference", scenarios::GET_BY_ID)).met);
        assert!(!target(&targets, &format!("{}: req/s ÷ reference", scenarios::FILTER)).met);
        // p99 is judged on its own: the fast GET misses it, the slow filter meets it.
        assert!(!target(&targets, &format!("{}: p99", scenarios::GET_BY_ID)).met);
        assert_eq!(target(&targets, &format!("{}: p99", scenarios::FILTER)).measured, "2.0 ms");
        assert!(target(&targets, "errors, seeding and every scenario").met);
        // Without a reference there is no ratio to judge, and no target pretends otherwise.
        let alone = size(10_000, vec![row(scenarios::GET_BY_ID, 50_000, 100)]);
        assert!(alone.targets("full").iter().all(|t| !t.what.ends_with("÷ reference")));
    }

    #[test]
    fn writes_need_their_rates_and_create_needs_full_durability() {
        let s = size(
            10_000,
            vec![
                row(scenarios::CREATE, 10_000, 100),
                row(scenarios::PUT, 7_999, 100),
                row(scenarios::DEACTIVATE, 12_000, 100),
                row(scenarios::ADD_BIG, 10_000, 100),
                row(scenarios::ADD_SMALL, 25_000, 100),
            ],
        );
        let full = s.targets("full");
        assert!(target(&full, &format!("{} (durability full)", scenarios::CREATE)).met);
        assert!(!target(&full, scenarios::PUT).met);
        assert!(target(&full, scenarios::DEACTIVATE).met);
        // Adding to the big group takes 2.5× the time of adding to a small one.
        let add = target(&full, "add member, group of all 10,000 users vs 10-member groups");
        assert_eq!((add.met, add.measured.as_str()), (false, "2.50× (p50 100 vs 100 µs)"));
        let normal = s.targets("normal");
        assert!(!target(&normal, &format!("{} (durability normal)", scenarios::CREATE)).met);
    }

    #[test]
    fn rss_goal_and_bytes_per_user_follow_the_size() {
        let small = size(100_000, Vec::new());
        assert!(!target(&small.targets("full"), "server peak RSS (VmHWM)").met);
        let large = size(1_000_000, Vec::new());
        let rss = target(&large.targets("full"), "server peak RSS (VmHWM)").clone();
        assert_eq!((rss.goal.as_str(), rss.met), ("< 200 MiB", true));
        assert_eq!(large.bytes_per_user(), Some(3_000.0));
        assert_eq!(Size { users_at_end: 0, ..large }.bytes_per_user(), None);
    }

    #[test]
    fn flatness_compares_each_larger_size_with_the_smallest() {
        let small = size(
            10_000,
            vec![
                row(scenarios::REFERENCE, 90_000, 100),
                row(scenarios::GET_BY_ID, 40_000, 100),
                row(scenarios::CREATE, 10_000, 100),
            ],
        );
        let large = size(
            1_000_000,
            vec![
                row(scenarios::REFERENCE, 45_000, 100),
                row(scenarios::GET_BY_ID, 32_000, 100),
                row(scenarios::CREATE, 7_000, 100),
                row(scenarios::FILTER, 1, 100),
            ],
        );
        let report = Report {
            date: "2026-12-01 03:00 UTC".into(),
            command: "cargo xtask bench --users 10000,1000000".into(),
            commit: None,
            durability: "full".into(),
            cpus: 2,
            bench_threads: 1,
            connections: 64,
            seconds: 5.0,
            sizes: vec![small, large],
            failure: None,
        };
        let flat = report.flat();
        // The filter was not measured at 10,000 users: nothing to compare it with.
        // The reference comes first, with no target: it shows what the machine did meanwhile.
        assert_eq!(flat.len(), 3);
        assert_eq!((flat[0].scenario, flat[0].ratio(), flat[0].met()), (scenarios::REFERENCE, 0.5, None));
        assert_eq!((flat[1].scenario, flat[1].ratio(), flat[1].met()), (scenarios::GET_BY_ID, 0.8, Some(true)));
        assert_eq!((flat[2].scenario, flat[2].ratio(), flat[2].met()), (scenarios::CREATE, 0.7, Some(false)));
        let md = report.markdown();
        assert!(md.contains("### 10,000 users") && md.contains("### 1,000,000 users"), "{md}");
        assert!(md.contains("| POST /Users | 10,000 | 10000 | 1,000,000 | 7000 | 0.700 | **no** |"), "{md}");
        assert!(md.contains("| 1,000,000 | 45000 | 0.500 | (the machine) |"), "{md}");
        let json = report.json();
        assert_eq!(json["sizes"][1]["users"], 1_000_000);
        assert_eq!((json["flat"][0]["met"].is_null(), &json["flat"][2]["met"]), (true, &json!(false)));
        assert!(!md.contains("Not measured") && json["failure"].is_null());
        let failed = Report {
            sizes: Vec::new(),
            failure: Some("1000000 users: seeding: 5 of 1000000 created".into()),
            ..report
        };
        assert_eq!(failed.flat(), Vec::new());
        assert!(failed.markdown().contains("**Not measured, the run stopped here:** 1000000 users: seeding"));
        assert_eq!(failed.json()["failure"], "1000000 users: seeding: 5 of 1000000 created");
    }

    #[test]
    fn ratios_in_the_table() {
        let s = size(
            10_000,
            vec![
                row(scenarios::REFERENCE, 90_000, 700),
                row(scenarios::CHEAPEST, 72_000, 875),
                row(scenarios::GET_BY_ID, 27_000, 2_100),
            ],
        );
        let md = s.markdown("full");
        assert!(
            md.contains("| GET /Users/{id} | 27000 | 27000 | 2100 | 2100 | 0 | 0.300 | 0.375 | 2.400 | 10.0 | 5.0 |"),
            "{md}"
        );
        assert!(md.contains("3,000 bytes per user"), "{md}");
        let json = s.json("full");
        assert!((json["scenarios"][2]["rate_ratio_to_reference"].as_f64().unwrap() - 0.3).abs() < 1e-9);
        assert_eq!(json["scenarios"][0]["rate_ratio_to_cheapest"].as_f64().unwrap(), 1.25);
    }

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(1_000_000), "1,000,000");
        assert_eq!(grouped(12_345_678), "12,345,678");
    }

    #[test]
    fn splice_replaces_only_between_markers() {
        let doc = "# B\n\nintro\n<!-- bench:begin -->\nold\n<!-- bench:end -->\nafter\n";
        assert_eq!(
            splice(doc, "new\n").unwrap(),
            "# B\n\nintro\n<!-- bench:begin -->\nnew\n<!-- bench:end -->\nafter\n"
        );
        assert_eq!(splice("no markers", "x"), None);
    }
}
