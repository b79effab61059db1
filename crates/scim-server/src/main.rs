//! `scim-server`: a SCIM 2.0 service provider.
//!
//! The binary receives Users and Groups from identity providers (Okta, Entra ID, ssosync, ...)
//! for any number of tenants, each with its own endpoint `/{tenant_id}/scim/v2`, bearer tokens and
//! profile: `identity-center` behaves as AWS IAM Identity Center documents its SCIM endpoint,
//! down to status codes and error bodies; `rfc` is RFC 7643/7644 in full.
//!
//! Administrators use the same binary: an admin API under `/admin/v1` (`admin.rs`, with its own
//! credential, never a tenant's token) and a web console at `/console` (`console.rs`, files
//! embedded from `console/`).
//!
//! This crate alone knows HTTP. It turns requests into calls on `scim-schema` (what a resource
//! may be) and `scim-store` (where it is kept), and errors into responses through one table
//! (`error.rs`). The decision a reader may question: every store call is a blocking call moved
//! off the async threads, rather than an async database driver. SQLite is in-process and fast;
//! what must not happen is a slow fsync stalling the executor, and two small fixed sets of
//! threads (`app::blocking` for writes, `app::blocking_read` for reads) plus a single
//! group-committing writer thread in the store give exactly that.

mod admin;
mod app;
mod aws;
mod bulk;
mod cli;
mod console;
mod error;
mod http;
mod ratelimit;
mod scim;
mod tokens;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::cli::{Args, CliError};

fn main() -> ExitCode {
    let outcome = Args::parse(std::env::args().skip(1)).and_then(|args| {
        if args.flag("help") {
            print!("{}", cli::USAGE);
            return Ok(());
        }
        if args.flag("version") {
            println!("scim-server {}", env!("CARGO_PKG_VERSION"));
            return Ok(());
        }
        match args.positional.first().map(String::as_str) {
            Some("serve") => serve(&args),
            Some("tenant") => cli::tenant(&args),
            Some("token") => cli::token(&args),
            Some("admin") => cli::admin(&args),
            Some("access-key") => cli::access_key(&args),
            Some("help") | None => {
                print!("{}", cli::USAGE);
                Ok(())
            }
            Some(other) => Err(CliError::Usage(format!("unknown command {other:?}"))),
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(why)) => {
            eprintln!("error: {why}\n\n{}", cli::USAGE);
            ExitCode::from(2)
        }
        Err(CliError::Failed(why)) => {
            eprintln!("error: {why}");
            ExitCode::FAILURE
        }
    }
}

/// Sets up logging to standard error. Lines are formatted on the request's thread but written
/// by a logging thread, through a buffer flushed whenever no line is waiting: one `write` per
/// burst under load instead of one per request, and at once when idle. The returned guard
/// flushes what is left when dropped, at exit.
fn init_logging(args: &Args) -> Result<tracing_appender::non_blocking::WorkerGuard, CliError> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SCIM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // Not lossy: if standard error cannot keep up, requests wait rather than lines vanish.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("scim-log")
        .finish(std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr()));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(ansi);
    match args.get("log-format", "SCIM_LOG_FORMAT").as_deref() {
        None | Some("human") => builder.init(),
        Some("json") => builder.json().flatten_event(true).init(),
        Some(other) => return Err(CliError::Usage(format!("--log-format must be human or json, not {other:?}"))),
    }
    Ok(guard)
}

fn serve(args: &Args) -> Result<(), CliError> {
    let _log = init_logging(args)?;
    let store = Arc::new(cli::open(args)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(run(args, Arc::clone(&store)))?;
    drop(runtime);
    // Every request is finished and every clone released: close the writer after its last commit.
    match Arc::try_unwrap(store) {
        Ok(store) => store.close()?,
        Err(_) => tracing::warn!("the store is still shared at exit; it closes on drop"),
    }
    tracing::info!("stopped");
    Ok(())
}

async fn run(args: &Args, store: Arc<scim_store::Store>) -> Result<(), CliError> {
    let listen = args.listen();
    let listener =
        TcpListener::bind(&listen).await.map_err(|e| CliError::Failed(format!("cannot listen on {listen}: {e}")))?;
    let local: SocketAddr = listener.local_addr().map_err(|e| CliError::Failed(e.to_string()))?;
    // Without an explicit public URL, the address actually bound (which resolves port 0).
    let public_url = args.get("public-url", "SCIM_PUBLIC_URL").unwrap_or_else(|| format!("http://{local}"));
    let mut state = app::State::new(store, public_url, cli::admin_secret(args)?)?;
    state.aws_regions = cli::aws_regions(args);
    let state = Arc::new(state);
    // Scripts and tests read this line to learn the port (with --listen 127.0.0.1:0).
    println!("scim-server listening on http://{local}");
    tracing::info!(%local, public_url = %state.public_url, "listening");
    let watcher = tokio::spawn(app::watch(Arc::clone(&state)));
    let graceful = GracefulShutdown::new();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let state = Arc::clone(&state);
                let service = service_fn(move |request| app::serve(Arc::clone(&state), request));
                let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown()).await.is_err() {
        tracing::warn!("some connections did not finish within 30 s");
    }
    watcher.abort();
    let _ = watcher.await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
