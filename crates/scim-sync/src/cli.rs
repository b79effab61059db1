//! The command line: `scim-sync plan|apply`. Scripts and cron jobs depend on its flags and exit
//! codes; `docs/SYNC.md` documents them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use scim_client::{Client, Options, RetryPolicy};
use scim_filter::{Filter, parse_filter};
use scim_schema::{ResourceKind, eval};

use crate::error::{Error, Result};
use crate::mapping::AttributeMap;
use crate::plan::{self, Scope};
use crate::{apply, source};

/// The usage text, printed by `help` and on usage errors.
pub const USAGE: &str = "\
scim-sync: push users and groups into a SCIM 2.0 service provider (AWS IAM Identity Center, ...)

USAGE:
    scim-sync plan  (--source FILE | --source-url URL --source-token-file FILE)
                    --target URL --token-file FILE [OPTIONS]
    scim-sync apply (--source FILE | --source-url URL --source-token-file FILE)
                    --target URL --token-file FILE [OPTIONS]
    scim-sync help | --help

OPTIONS:
    --json                   machine-readable output on standard output
    --delete-missing         delete users and groups gone from the source
                             (default: deactivate users, keep groups)
    --max-deletes N          refuse a run that would deactivate or delete more than N
                             users and groups (default 50)
    --include-users FILTER   only users matching this SCIM filter
    --exclude-users FILTER   never users matching this SCIM filter
    --include-groups FILTER  only groups matching this SCIM filter
    --exclude-groups FILTER  never groups matching this SCIM filter
    --map FILE               attribute map: target path -> source path, template,
                             constant or null (see docs/SYNC.md)
    --concurrency N          requests in flight at once (default 4)
    --timeout SECONDS        per request (default 30)
    --retries N              retries of a failed idempotent request (default 6)

EXIT CODES:
    0  done, or (plan) nothing to do
    1  some changes failed or were refused, or an endpoint could not be used
    2  usage error, or the source or map is unreadable or inconsistent
    3  refused: more removals than --max-deletes; nothing was changed
    4  (plan) changes are pending
";

/// Exit codes.
pub mod exit {
    /// Done, or nothing to do.
    pub const OK: u8 = 0;
    /// Some changes failed or were refused.
    pub const FAILED: u8 = 1;
    /// Usage error or unusable input.
    pub const USAGE: u8 = 2;
    /// More removals than `--max-deletes`.
    pub const TOO_MANY_DELETES: u8 = 3;
    /// `plan` found changes.
    pub const PENDING: u8 = 4;
}

/// Where the desired state comes from.
#[derive(Debug, Clone, PartialEq)]
enum SourceArg {
    File(PathBuf),
    Endpoint { url: String, token_file: PathBuf },
}

/// A parsed command line.
#[derive(Debug, Clone)]
pub struct Args {
    apply: bool,
    source: SourceArg,
    target: String,
    token_file: PathBuf,
    json: bool,
    delete_missing: bool,
    max_deletes: usize,
    scope: Scope,
    map: Option<PathBuf>,
    concurrency: usize,
    options: Options,
}

fn filter(kind: ResourceKind, flag: &str, text: &str) -> Result<Filter> {
    let filter = parse_filter(text).map_err(|e| Error::Usage(format!("{flag}: {e}")))?;
    eval::validate(kind, &filter).map_err(|e| Error::Usage(format!("{flag}: {}", e.detail)))?;
    Ok(filter)
}

/// Reads the words after the program name. `Ok(None)` is a request for help.
pub fn parse(words: &[String]) -> Result<Option<Args>> {
    let apply = match words.first().map(String::as_str) {
        Some("plan") => false,
        Some("apply") => true,
        Some("help" | "--help" | "-h") | None => return Ok(None),
        Some(other) => return Err(Error::Usage(format!("unknown command {other:?}: expected plan or apply"))),
    };
    let (mut source, mut source_url, mut source_token, mut target, mut token_file, mut map) =
        (None, None, None, None, None, None);
    let (mut json, mut delete_missing, mut max_deletes, mut concurrency) = (false, false, 50, 4);
    let mut options = Options::default();
    let mut scope = Scope::default();
    let mut rest = words[1..].iter();
    while let Some(flag) = rest.next() {
        let mut value = || rest.next().cloned().ok_or_else(|| Error::Usage(format!("{flag} needs a value")));
        let number = |text: String| -> Result<usize> {
            text.parse().map_err(|_| Error::Usage(format!("{flag} needs a whole number, not {text:?}")))
        };
        match flag.as_str() {
            "--source" => source = Some(PathBuf::from(value()?)),
            "--source-url" => source_url = Some(value()?),
            "--source-token-file" => source_token = Some(PathBuf::from(value()?)),
            "--target" => target = Some(value()?),
            "--token-file" => token_file = Some(PathBuf::from(value()?)),
            "--json" => json = true,
            "--delete-missing" => delete_missing = true,
            "--max-deletes" => max_deletes = number(value()?)?,
            "--include-users" => scope.include_users = Some(filter(ResourceKind::User, flag, &value()?)?),
            "--exclude-users" => scope.exclude_users = Some(filter(ResourceKind::User, flag, &value()?)?),
            "--include-groups" => scope.include_groups = Some(filter(ResourceKind::Group, flag, &value()?)?),
            "--exclude-groups" => scope.exclude_groups = Some(filter(ResourceKind::Group, flag, &value()?)?),
            "--map" => map = Some(PathBuf::from(value()?)),
            "--concurrency" => concurrency = number(value()?)?.max(1),
            "--timeout" => options.timeout = Duration::from_secs(number(value()?)?.max(1) as u64),
            "--retries" => {
                let retries = number(value()?)?;
                options.retry =
                    RetryPolicy { max_retries: u32::try_from(retries).unwrap_or(u32::MAX), ..options.retry };
            }
            other => return Err(Error::Usage(format!("unknown option {other:?}"))),
        }
    }
    let source = match (source, source_url, source_token) {
        (Some(file), None, None) => SourceArg::File(file),
        (None, Some(url), Some(token_file)) => SourceArg::Endpoint { url, token_file },
        (None, Some(_), None) => return Err(Error::Usage("--source-url needs --source-token-file".into())),
        (None, None, _) => return Err(Error::Usage("give --source FILE or --source-url URL".into())),
        _ => return Err(Error::Usage("give either --source or --source-url, not both".into())),
    };
    let target = target.ok_or_else(|| Error::Usage("--target URL is required".into()))?;
    let token_file = token_file.ok_or_else(|| Error::Usage("--token-file FILE is required".into()))?;
    Ok(Some(Args {
        apply,
        source,
        target,
        token_file,
        json,
        delete_missing,
        max_deletes,
        scope,
        map,
        concurrency,
        options,
    }))
}

fn read(path: &Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::Usage(format!("cannot read {what} {}: {e}", path.display())))
}

fn read_json(path: &Path, what: &str) -> Result<Value> {
    serde_json::from_str(&read(path, what)?)
        .map_err(|e| Error::Usage(format!("{what} {} is not JSON: {e}", path.display())))
}

/// Runs a parsed command, writing its report to `out`; answers the exit code.
pub async fn run(args: &Args, out: &mut dyn Write) -> u8 {
    match run_inner(args, out).await {
        Ok(code) => code,
        Err(error) => {
            if args.json {
                let _ = writeln!(out, "{}", json!({"error": error.to_string()}));
            }
            eprintln!("scim-sync: {error}");
            match error {
                Error::Usage(_) | Error::Source(_) | Error::Cycle(_) | Error::Map(_) => exit::USAGE,
                Error::TooManyDeletes { .. } => exit::TOO_MANY_DELETES,
                _ => exit::FAILED,
            }
        }
    }
}

async fn run_inner(args: &Args, out: &mut dyn Write) -> Result<u8> {
    let map = match &args.map {
        Some(path) => Some(AttributeMap::parse(&read_json(path, "attribute map")?)?),
        None => None,
    };
    let mut desired = match &args.source {
        SourceArg::File(path) => source::from_document(&read_json(path, "source")?)?,
        SourceArg::Endpoint { url, token_file } => {
            let client = Client::connect(url, &read(token_file, "source token file")?, args.options).await?;
            source::from_endpoint(&client).await?
        }
    };
    if let Some(map) = &map {
        desired.users = desired.users.iter().map(|u| map.apply(u)).collect();
    }
    let client = Client::connect(&args.target, &read(&args.token_file, "token file")?, args.options).await?;
    if !client.capabilities().patch {
        return Err(Error::Usage(format!("{} does not support PATCH, which scim-sync needs", args.target)));
    }
    let target = plan::read_target(&client, &desired, args.concurrency).await?;
    let plan = plan::diff(client.capabilities(), &desired, &target, &args.scope, args.delete_missing);
    let removals = plan.removals.len();
    if removals > args.max_deletes {
        return Err(Error::TooManyDeletes { planned: removals, limit: args.max_deletes });
    }
    let refused = !plan.refused.is_empty();
    if !args.apply {
        let report = if args.json { format!("{}\n", plan::to_json(&plan)) } else { plan::to_text(&plan) };
        let _ = out.write_all(report.as_bytes());
        return Ok(if refused {
            exit::FAILED
        } else if plan.is_empty() {
            exit::OK
        } else {
            exit::PENDING
        });
    }
    let planned = if args.json { plan::to_json(&plan) } else { Value::Null };
    if !args.json {
        let _ = out.write_all(plan::to_text(&plan).as_bytes());
    }
    let outcome = apply::apply(&client, plan, args.concurrency, !args.json).await;
    let stats = client.stats();
    if args.json {
        let report = json!({
            "plan": planned,
            "applied": outcome.done,
            "failures": outcome.failures,
            "skipped": outcome.skipped,
            "requests": {"reads": stats.reads, "writes": stats.writes, "throttled": stats.throttled,
                         "retried": stats.retried}
        });
        let _ = writeln!(out, "{report}");
    } else {
        const SHOWN: usize = 20;
        for failure in outcome.failures.iter().take(SHOWN) {
            let _ = writeln!(out, "failed: {failure}");
        }
        if outcome.failures.len() > SHOWN {
            let _ = writeln!(out, "failed: and {} more", outcome.failures.len() - SHOWN);
        }
        if outcome.gave_up() {
            let _ = writeln!(
                out,
                "The target stopped answering: {} changes not attempted; the next run does them.",
                outcome.skipped
            );
        }
        let _ = writeln!(
            out,
            "Applied {} changes, {} failed; {} writes, {} reads, {} throttled, {} retried.",
            outcome.done,
            outcome.failures.len(),
            stats.writes,
            stats.reads,
            stats.throttled,
            stats.retried
        );
    }
    Ok(if outcome.failures.is_empty() && outcome.skipped == 0 && !refused { exit::OK } else { exit::FAILED })
}

/// The whole program: parses `words` (without the program name), runs, answers the exit code.
pub fn main(words: &[String], out: &mut dyn Write) -> u8 {
    let args = match parse(words) {
        Ok(Some(args)) => args,
        Ok(None) => {
            let _ = out.write_all(USAGE.as_bytes());
            return exit::OK;
        }
        Err(error) => {
            eprintln!("scim-sync: error: {error}\n\n{USAGE}");
            return exit::USAGE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("scim-sync: cannot start the async runtime: {error}");
            return exit::FAILED;
        }
    };
    runtime.block_on(run(&args, out))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_the_documented_flags() {
        let mut line = words(
            "apply --source s.json --target https://x/scim/v2 --token-file t --json --delete-missing \
             --max-deletes 7 --concurrency 8 --timeout 5 --retries 2 --map m.json --include-users",
        );
        line.push("title pr".into());
        let args = parse(&line).unwrap().unwrap();
        assert!(args.scope.include_users.is_some());
        assert!(args.apply && args.json && args.delete_missing);
        assert_eq!((args.max_deletes, args.concurrency, args.options.retry.max_retries), (7, 8, 2));
        assert_eq!(args.options.timeout, Duration::from_secs(5));
        assert_eq!(args.source, SourceArg::File("s.json".into()));
        assert!(parse(&words("help")).unwrap().is_none());
    }

    #[test]
    fn usage_errors_say_what_is_wrong() {
        for (line, why) in [
            ("sync", "unknown command"),
            ("plan --target u --token-file t", "give --source"),
            ("plan --source s --source-url u --source-token-file t --target u --token-file t", "not both"),
            ("plan --source-url u --target u --token-file t", "--source-token-file"),
            ("plan --source s --token-file t", "--target URL is required"),
            ("plan --source s --target u --token-file t --max-deletes many", "whole number"),
            ("plan --source s --target u --token-file t --include-users", "needs a value"),
            ("plan --source s --target u --token-file t --include-users nope", "--include-users"),
            ("plan --source s --target u --token-file t --bogus", "unknown option"),
        ] {
            let error = parse(&words(line)).unwrap_err().to_string();
            assert!(error.contains(why), "{line}: {error}");
        }
    }

    #[test]
    fn docs_sync_md_documents_every_flag_and_exit_code() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/SYNC.md")).unwrap();
        for line in USAGE.lines().filter(|l| l.trim_start().starts_with("scim-sync ")) {
            assert!(doc.contains(line.trim()), "docs/SYNC.md lacks the usage line {line:?}");
        }
        let flags = USAGE
            .split_whitespace()
            .filter(|w| w.starts_with("--"))
            .map(|w| w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()));
        let flags = flags.filter(|f| *f != "--help");
        for flag in flags {
            assert!(doc.contains(&format!("`{flag}")), "docs/SYNC.md lacks {flag}");
        }
        for code in [exit::OK, exit::FAILED, exit::USAGE, exit::TOO_MANY_DELETES, exit::PENDING] {
            assert!(doc.contains(&format!("| {code} |")), "docs/SYNC.md lacks exit code {code}");
        }
    }
}
