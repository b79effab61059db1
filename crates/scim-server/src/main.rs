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
//! threads (`lanes::blocking` for writes, `lanes::blocking_read` for reads) plus a single
//! group-committing writer thread in the store give exactly that.

mod admin;
mod aws;
mod bulk;
mod cli;
mod console;
mod context;
mod cursor;
mod edge;
mod error;
mod gather;
mod health;
mod http;
mod lanes;
mod logging;
mod metrics;
mod ratelimit;
mod refusals;
mod reply;
mod router;
mod scim;
mod state;
mod tls;
mod tokens;
mod upkeep;
mod watch;
mod workers;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::cli::{Args, CliError};

/// jemalloc, not glibc's allocator: a response's buffers are allocated on a store thread and
/// freed on an async one, and glibc paid for that in arena locks and consolidation (a fifth of
/// a read's CPU). Configured in `.cargo/config.toml` (one arena, pages returned within a
/// second) so that peak memory stays below glibc's. Measured in `docs/BENCHMARKS.md`.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
            Some("key") => cli::key(&args),
            Some("backup") => cli::backup(&args),
            Some("export") => cli::export(&args),
            Some("import") => cli::import(&args),
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

fn serve(args: &Args) -> Result<(), CliError> {
    let _log = logging::init(args.log_json()?).map_err(CliError::Failed)?;
    let store = Arc::new(cli::open(args)?);
    // The acceptor and the long-lived tasks; connections are served by `workers`.
    let runtime = tokio::runtime::Builder::new_current_thread()
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
    let limits = args.limits()?;
    let workers = workers::Workers::start(args.workers()?).map_err(CliError::Failed)?;
    let drain_delay = args.drain_delay()?;
    let certificate = match args.tls()? {
        Some((cert, key)) => Some(Arc::new(tls::Certificate::load(&cert, &key).map_err(CliError::Failed)?)),
        None => None,
    };
    let acceptor = certificate.clone().map(tls::acceptor).transpose().map_err(CliError::Failed)?;
    let listen = args.listen();
    let listener =
        TcpListener::bind(&listen).await.map_err(|e| CliError::Failed(format!("cannot listen on {listen}: {e}")))?;
    let local: SocketAddr = listener.local_addr().map_err(|e| CliError::Failed(e.to_string()))?;
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    // Without an explicit public URL, the address actually bound (which resolves port 0).
    let public_url = args.get("public-url", "SCIM_PUBLIC_URL").unwrap_or_else(|| format!("{scheme}://{local}"));
    let keyring = cli::keyring(args)?;
    let (admin_secret, key_file, regions) = (cli::admin_secret(args)?, args.key_file()?, cli::aws_regions(args));
    // The first load of tenants and tokens reads the database: off the async threads, as every
    // store call is (PostgreSQL's client refuses to block inside the runtime).
    let loaded = Arc::clone(&store);
    let state = tokio::task::spawn_blocking(move || {
        state::State::new(loaded, public_url, admin_secret, key_file, &keyring).map(|mut state| {
            state.aws_regions = regions;
            Arc::new(state)
        })
    })
    .await
    .map_err(|e| CliError::Failed(format!("loading tenants and tokens failed: {e}")))??;
    let metrics_task = match args.get("metrics-listen", "SCIM_METRICS_LISTEN") {
        Some(address) => {
            let listener = TcpListener::bind(&address)
                .await
                .map_err(|e| CliError::Failed(format!("cannot listen for metrics on {address}: {e}")))?;
            let bound = listener.local_addr().map_err(|e| CliError::Failed(e.to_string()))?;
            println!("scim-server metrics on http://{bound}/metrics");
            tracing::info!(%bound, "serving metrics");
            let task = metrics::serve(listener, Arc::clone(&state.metrics), store, limits.header_timeout);
            Some(tokio::spawn(task))
        }
        None => None,
    };
    // Scripts and tests read this line to learn the port (with --listen 127.0.0.1:0).
    println!("scim-server listening on {scheme}://{local}");
    tracing::info!(%local, public_url = %state.public_url, ?limits, "listening");
    let watcher = tokio::spawn(watch::watch(Arc::clone(&state)));
    let upkeep = tokio::spawn(upkeep::run(Arc::clone(&state), args.retention()?));
    let reloader = certificate.map(|certificate| tokio::spawn(tls::reload_on_hangup(certificate)));
    let graceful = GracefulShutdown::new();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    // Armed by the shutdown signal: until it fires, everything is served and /readyz says 503.
    let drained = tokio::time::sleep(Duration::from_secs(u64::from(u32::MAX)));
    tokio::pin!(drained);
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
                // Over the cap a connection is closed at once: cheaper than any answer, and
                // the client sees it at once rather than waiting in the backlog.
                if state.metrics.open_connections() >= limits.max_connections as u64 {
                    state.metrics.refused();
                    tracing::debug!("connection refused: the cap is reached");
                    drop(stream);
                    continue;
                }
                let _ = stream.set_nodelay(true);
                // Out of this runtime's driver, into the worker's (see `workers`).
                let stream = match stream.into_std() {
                    Ok(stream) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not hand a connection to a worker");
                        continue;
                    }
                };
                let open = state.metrics.opened();
                let (state, acceptor, graceful) = (Arc::clone(&state), acceptor.clone(), graceful.watcher());
                workers.spawn(async move {
                    let _open = open;
                    let stream = match tokio::net::TcpStream::from_std(stream) {
                        Ok(stream) => stream,
                        Err(e) => {
                            tracing::warn!(error = %e, "a worker could not take a connection");
                            return;
                        }
                    };
                    let Some(acceptor) = acceptor else {
                        return edge::serve(stream, state, limits, graceful).await;
                    };
                    match tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => edge::serve(stream, state, limits, graceful).await,
                        Ok(Err(e)) => {
                            state.metrics.closed(metrics::Closed::Handshake);
                            tracing::debug!(error = %e, "TLS handshake failed");
                        }
                        Err(_) => state.metrics.closed(metrics::Closed::Handshake),
                    }
                });
            }
            () = &mut shutdown, if !state.draining.load(std::sync::atomic::Ordering::SeqCst) => {
                state.draining.store(true, std::sync::atomic::Ordering::SeqCst);
                tracing::info!(?drain_delay, "draining: /readyz answers 503");
                drained.as_mut().reset(tokio::time::Instant::now() + drain_delay);
            }
            () = &mut drained => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown()).await.is_err() {
        tracing::warn!("some connections did not finish within 30 s");
    }
    workers.stop();
    for task in [Some(watcher), Some(upkeep), reloader, metrics_task].into_iter().flatten() {
        task.abort();
        let _ = task.await;
    }
    // Refusals counted since the last flush still reach the audit log.
    upkeep::flush(&state).await;
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
