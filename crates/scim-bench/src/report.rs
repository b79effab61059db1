//! The report: one table of scenarios with their ratios to the cheapest endpoint, the process
//! figures, and the targets, as Markdown and as JSON.

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

/// A target of the issue and whether this run met it.
#[derive(Debug, Clone)]
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
    /// The seeding steps.
    pub seeding: Vec<Row>,
    /// The measured scenarios, the cheapest first.
    pub scenarios: Vec<Row>,
    /// The server's peak resident set (`VmHWM`), in KiB.
    pub peak_rss_kib: Option<u64>,
    /// The database's size (file + WAL) at the end, in bytes.
    pub db_bytes: u64,
    /// Users in the tenant at the end.
    pub users_at_end: usize,
}

fn rate(outcome: &Outcome) -> f64 {
    outcome.rate()
}

impl Report {
    fn find(&self, name: &str) -> Option<&Outcome> {
        self.scenarios.iter().map(|r| &r.outcome).find(|o| o.name == name)
    }

    fn cheapest(&self) -> Option<&Outcome> {
        self.find(scenarios::CHEAPEST)
    }

    /// The targets, judged on this run.
    pub fn targets(&self) -> Vec<Target> {
        let mut targets = Vec::new();
        if let Some(o) = self.find(scenarios::GET_BY_ID) {
            targets.push(Target {
                what: "GET user by id".into(),
                goal: "≥ 45,000 req/s".into(),
                measured: format!("{:.0} req/s", rate(o)),
                met: rate(o) >= 45_000.0,
            });
        }
        if let Some(o) = self.find(scenarios::CREATE) {
            targets.push(Target {
                what: format!("POST user (durability {})", self.durability),
                goal: "≥ 10,000 creates/s with synchronous=FULL".into(),
                measured: format!("{:.0} creates/s", rate(o)),
                met: rate(o) >= 10_000.0 && self.durability == "full",
            });
        }
        if let (Some(big), Some(small)) = (self.find(scenarios::ADD_BIG), self.find(scenarios::ADD_SMALL)) {
            // With a fixed number of connections, the time per request is the inverse of the rate.
            let ratio = if rate(big) > 0.0 { rate(small) / rate(big) } else { f64::INFINITY };
            targets.push(Target {
                what: "add member, 100,000-member group vs 10-member group".into(),
                goal: "< 2× the time".into(),
                measured: format!(
                    "{ratio:.2}× (p50 {} vs {} µs)",
                    big.latencies.clone().quantile(0.5),
                    small.latencies.clone().quantile(0.5)
                ),
                met: ratio < 2.0,
            });
        }
        if let Some(o) = self.find(scenarios::SYNC) {
            let secs = o.elapsed.as_secs_f64();
            targets.push(Target {
                what: "initial sync of 10,000 users (lookup + create, 64 clients)".into(),
                goal: "< 2 s".into(),
                measured: format!("{secs:.2} s"),
                met: secs < 2.0 && !o.timed_out,
            });
        }
        if let Some(kib) = self.peak_rss_kib {
            targets.push(Target {
                what: "server peak RSS (VmHWM)".into(),
                goal: "< 150 MiB".into(),
                measured: format!("{:.1} MiB", kib as f64 / 1024.0),
                met: kib < 150 * 1024,
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

    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        md.push_str(&format!("Measured {} with `{}`", self.date, self.command));
        if let Some(commit) = &self.commit {
            md.push_str(&format!(" at commit `{commit}`"));
        }
        md.push_str(&format!(
            ".\nDurability `{}`; {} CPUs shared by the server and the load generator ({} runtime thread{}); \
             {} connections; {} s per fixed-time scenario.\n\n",
            self.durability,
            self.cpus,
            self.bench_threads,
            if self.bench_threads == 1 { "" } else { "s" },
            self.connections,
            self.seconds
        ));
        md.push_str(
            "| scenario | requests | req/s | p50 µs | p99 µs | errors | req/s ÷ cheapest | p50 ÷ cheapest | server CPU µs/req | bench CPU µs/req |\n",
        );
        md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        let (base_rate, base_p50) = match self.cheapest() {
            Some(o) => (rate(o), f64::from(o.latencies.clone().quantile(0.5))),
            None => (0.0, 0.0),
        };
        let micros = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
        for row in &self.scenarios {
            let o = &row.outcome;
            let mut lat = o.latencies.clone();
            let (p50, p99) = (lat.quantile(0.5), lat.quantile(0.99));
            let ratio = |a: f64, b: f64| if b > 0.0 { format!("{:.3}", a / b) } else { "-".into() };
            let name = if o.name == scenarios::SYNC {
                format!("{} — **{:.2} s** for all", o.name, o.elapsed.as_secs_f64())
            } else {
                o.name.clone()
            };
            md.push_str(&format!(
                "| {name} | {} | {:.0} | {p50} | {p99} | {} | {} | {} | {} | {} |\n",
                o.requests,
                rate(o),
                o.errors,
                ratio(rate(o), base_rate),
                ratio(f64::from(p50), base_p50),
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
                rate(o),
                o.errors
            ));
        }
        md.push_str(&format!(
            "\nServer peak RSS (VmHWM): {}. Database at the end ({} users): {:.1} MiB (file + WAL).\n",
            self.peak_rss_kib.map_or_else(|| "unknown".to_owned(), |k| format!("{:.1} MiB", k as f64 / 1024.0)),
            self.users_at_end,
            self.db_bytes as f64 / 1_048_576.0
        ));
        md.push_str("\nTargets:\n\n| target | goal | measured | met |\n|---|---|---|---|\n");
        for t in self.targets() {
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

    /// The report as JSON.
    pub fn json(&self) -> Value {
        let row = |r: &Row| {
            let o = &r.outcome;
            let mut lat = o.latencies.clone();
            json!({
                "name": o.name,
                "connections": o.connections,
                "requests": o.requests,
                "errors": o.errors,
                "seconds": o.elapsed.as_secs_f64(),
                "requests_per_second": rate(o),
                "p50_us": lat.quantile(0.5),
                "p99_us": lat.quantile(0.99),
                "mean_us": lat.mean(),
                "server_cpu_us_per_request": r.server_cpu_us,
                "bench_cpu_us_per_request": r.bench_cpu_us,
                "timed_out": o.timed_out,
                "error_samples": o.samples,
            })
        };
        let (base_rate, base_p50) = match self.cheapest() {
            Some(o) => (rate(o), f64::from(o.latencies.clone().quantile(0.5))),
            None => (0.0, 0.0),
        };
        let scenarios: Vec<Value> = self
            .scenarios
            .iter()
            .map(|r| {
                let mut v = row(r);
                let p50 = f64::from(r.outcome.latencies.clone().quantile(0.5));
                if let Some(object) = v.as_object_mut() {
                    object.insert(
                        "rate_ratio_to_cheapest".into(),
                        json!(if base_rate > 0.0 { rate(&r.outcome) / base_rate } else { 0.0 }),
                    );
                    object.insert(
                        "p50_ratio_to_cheapest".into(),
                        json!(if base_p50 > 0.0 { p50 / base_p50 } else { 0.0 }),
                    );
                }
                v
            })
            .collect();
        let targets: Vec<Value> = self
            .targets()
            .iter()
            .map(|t| json!({"what": t.what, "goal": t.goal, "measured": t.measured, "met": t.met}))
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
            "cheapest": scenarios::CHEAPEST,
            "scenarios": scenarios,
            "seeding": self.seeding.iter().map(row).collect::<Vec<_>>(),
            "peak_rss_kib": self.peak_rss_kib,
            "db_bytes": self.db_bytes,
            "users_at_end": self.users_at_end,
            "targets": targets,
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
    use super::*;

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
