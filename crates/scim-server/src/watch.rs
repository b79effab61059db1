//! The reload watcher: polls the database and the key file for changes made by anyone (the CLI
//! in another process, another admin request) and reloads the shared state.
//!
//! It polls SQLite's `data_version` every 250 ms: a read of one counter, so a change takes
//! effect within a second without a disk read per request.

use std::sync::Arc;
use std::time::Duration;

use crate::state::State;

/// Polls the database for changes made by anyone and reloads tenants and tokens, and the key
/// file for rotations; runs forever.
pub async fn watch(state: Arc<State>) {
    let mut last = None;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        let polled = Arc::clone(&state);
        let outcome = tokio::task::spawn_blocking(move || {
            polled.reload_keys();
            let version = polled.store.data_version()?;
            if Some(version) != last {
                polled.reload()?;
            }
            Ok::<_, scim_store::Error>(version)
        })
        .await;
        match outcome {
            Ok(Ok(version)) => last = Some(version),
            Ok(Err(e)) => tracing::error!(error = %e, "reloading tenants and tokens failed"),
            Err(e) => tracing::error!(error = %e, "reload task failed"),
        }
    }
}
