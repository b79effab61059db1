//! `GET /healthz` and `GET /readyz`: for load balancers and orchestrators, without a credential
//! and without a word about any tenant.
//!
//! `/healthz` says the process answers. `/readyz` says it should be sent traffic: the store
//! answers a read, and the server is not draining for shutdown (then `503`, so a balancer stops
//! sending new requests while the last ones finish).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use hyper::{Method, StatusCode};
use serde_json::json;

use crate::error::ApiError;
use crate::reply::Reply;
use crate::state::State;

/// The answer to `/healthz` or `/readyz` (`ready` says which), or the error of another method.
pub async fn check(state: &Arc<State>, method: &Method, ready: bool) -> Result<Reply, ApiError> {
    if *method != Method::GET && *method != Method::HEAD {
        return Err(ApiError::MethodNotAllowed("GET, HEAD"));
    }
    if !ready {
        return Ok(Reply::json(StatusCode::OK, json!({"status": "ok"})));
    }
    let draining = state.draining.load(Ordering::SeqCst);
    let store = Arc::clone(&state.store);
    let store_answers = crate::lanes::blocking_read(move || Ok(store.data_version().is_ok())).await.unwrap_or(false);
    let (status, body) = readiness(draining, store_answers);
    Ok(Reply::json(status, body))
}

/// The readiness verdict from the server's two conditions.
fn readiness(draining: bool, store_answers: bool) -> (StatusCode, serde_json::Value) {
    let status = match (draining, store_answers) {
        (true, _) => "draining",
        (false, false) => "store unavailable",
        (false, true) => "ready",
    };
    let code = if status == "ready" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, json!({"status": status, "store": if store_answers { "ok" } else { "unavailable" }}))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_the_store_answers_and_not_draining() {
        assert_eq!(readiness(false, true).0, StatusCode::OK);
        let (code, body) = readiness(true, true);
        assert_eq!((code, body["status"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("draining")));
        let (code, body) = readiness(false, false);
        assert_eq!((code, body["store"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")));
    }
}
