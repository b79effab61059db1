//! PostgreSQL's failures as the store's [`Error`]s.
//!
//! The server maps [`Error`] to HTTP in one table; this module decides which store error a
//! database failure is. What says "try again shortly" (the connection is gone, the server is
//! shutting down or starting, too many connections, a statement cancelled by its timeout)
//! becomes [`Error::Unavailable`], a 503; a unique index refusing a key becomes
//! [`Error::Conflict`] by the index's name; a row naming a parent that is gone becomes
//! [`Error::NotFound`]; anything else is [`Error::Backend`], a 500.

use scim_store::{Error, Unique};

/// The store error for a failure of the `postgres` client.
pub(crate) fn db(e: postgres::Error) -> Error {
    if let Some(failure) = e.as_db_error() {
        let code = failure.code().code();
        if code == "23505" {
            if let Some(rule) = failure.constraint().and_then(unique_rule) {
                return Error::Conflict(rule);
            }
        } else if code == "23503" {
            return Error::NotFound;
        } else if code == "22021" {
            // A text value PostgreSQL cannot hold (U+0000): nothing stored can have it, and the
            // schema layer refuses it in anything written, so only a lookup gets here.
            return Error::NotFound;
        } else if is_transient(code) {
            return Error::Unavailable(failure.message().to_owned());
        }
        return Error::Backend(format!("{} ({code})", failure.message()));
    }
    if is_tls_refusal(&e) {
        // A certificate that does not verify is a configuration to fix, not a moment to wait.
        return Error::Backend(e.to_string());
    }
    let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
    if e.is_closed() || io || e.to_string().contains("timed out") {
        return Error::Unavailable(e.to_string());
    }
    match std::error::Error::source(&e) {
        Some(cause) => Error::Backend(format!("{e}: {cause}")),
        None => Error::Backend(e.to_string()),
    }
}

/// Whether rustls refused the server (its certificate, say) somewhere in `e`'s causes.
fn is_tls_refusal(e: &postgres::Error) -> bool {
    let mut cause = std::error::Error::source(e);
    while let Some(error) = cause {
        let inner = error.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref());
        if error.is::<rustls::Error>() || inner.is_some_and(|inner| inner.is::<rustls::Error>()) {
            return true;
        }
        cause = error.source();
    }
    false
}

/// Whether SQLSTATE `code` says the database is (for now) out of reach rather than refusing.
///
/// Class 08 is the connection failing; 57P01-57P03 an administrator's shutdown, a crash and a
/// server that cannot take connections yet; 53300 too many connections; 57014 a statement
/// cancelled (by `statement_timeout`, the backend's own bound); 40P01 a deadlock the server broke
/// (possible only between multi-resource jobs at a tenant's quota), which a retry resolves.
fn is_transient(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300" | "57014" | "40P01")
}

/// The uniqueness rule a unique index of `resources` enforces, by the index's name.
pub(crate) fn unique_rule(index: &str) -> Option<Unique> {
    match index {
        "resources_name" => Some(Unique::Name),
        "resources_external_id" => Some(Unique::ExternalId),
        "resources_email" => Some(Unique::Email),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn transient_states_are_unavailable_and_others_are_not() {
        for code in ["08006", "08001", "57P01", "57P02", "57P03", "53300", "57014", "40P01"] {
            assert!(is_transient(code), "{code}");
        }
        for code in ["23505", "42P01", "40001", "22P02"] {
            assert!(!is_transient(code), "{code}");
        }
        assert_eq!(unique_rule("resources_email"), Some(Unique::Email));
        assert_eq!(unique_rule("tokens_pkey"), None);
    }
}
