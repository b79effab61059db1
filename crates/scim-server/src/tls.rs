//! HTTPS: rustls with the `ring` provider, TLS 1.2 and 1.3 only, and a certificate that
//! `SIGHUP` replaces in place.
//!
//! The certificate and key are not baked into the TLS configuration: a resolver hands each new
//! handshake whatever pair is current, and a reload swaps that pair. Connections already open
//! keep their session; the process, its port and its PID stay. A reload that fails (a missing
//! file, a key that does not match the certificate) changes nothing and says so in the log.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// The certificate in use, and the files it is read from.
#[derive(Debug)]
pub struct Certificate {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Certificate {
    /// Reads the PEM certificate chain at `cert` and the PEM private key at `key`.
    pub fn load(cert: &Path, key: &Path) -> Result<Certificate, String> {
        let current = RwLock::new(Arc::new(read(cert, key)?));
        Ok(Certificate { cert: cert.to_owned(), key: key.to_owned(), current })
    }

    /// Reads the files again and, if they hold a usable pair, makes it the one new handshakes
    /// get; otherwise keeps the current one.
    pub fn reload(&self) -> Result<(), String> {
        let fresh = Arc::new(read(&self.cert, &self.key)?);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(())
    }
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner)))
    }
}

fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// A certificate chain and its key, checked to belong together.
fn read(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read the certificate {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{} holds no PEM certificate", cert.display()));
    }
    let private =
        PrivateKeyDer::from_pem_file(key).map_err(|e| format!("cannot read the key {}: {e}", key.display()))?;
    CertifiedKey::from_der(chain, private, &provider())
        .map_err(|e| format!("the key {} does not fit the certificate {}: {e}", key.display(), cert.display()))
}

/// The acceptor of TLS 1.2 and 1.3 connections with `certificate`, speaking HTTP/1.1.
pub fn acceptor(certificate: Arc<Certificate>) -> Result<TlsAcceptor, String> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("cannot configure TLS: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(certificate);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Reloads `certificate` on every `SIGHUP`; runs until aborted.
#[cfg(unix)]
pub async fn reload_on_hangup(certificate: Arc<Certificate>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGHUP; the certificate will not be reloaded");
            return;
        }
    };
    while hangups.recv().await.is_some() {
        let reloaded = Arc::clone(&certificate);
        match tokio::task::spawn_blocking(move || reloaded.reload()).await {
            Ok(Ok(())) => tracing::info!(cert = %certificate.cert.display(), "reloaded the TLS certificate"),
            Ok(Err(why)) => tracing::error!(error = %why, "reloading the TLS certificate failed; keeping the old one"),
            Err(e) => tracing::error!(error = %e, "the certificate reload task failed; keeping the old one"),
        }
    }
}

/// Without `SIGHUP`, the certificate is read once.
#[cfg(not(unix))]
pub async fn reload_on_hangup(_certificate: Arc<Certificate>) {}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// A new certificate and key for `localhost`, written as PEM in `dir` under `name`.
    fn pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let (cert, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
        std::fs::write(&cert, generated.cert.pem()).unwrap();
        std::fs::write(&key, generated.key_pair.serialize_pem()).unwrap();
        (cert, key)
    }

    fn current(certificate: &Certificate) -> Arc<CertifiedKey> {
        Arc::clone(&certificate.current.read().unwrap())
    }

    #[test]
    fn a_reload_swaps_a_good_pair_and_keeps_the_old_one_otherwise() {
        let dir = std::env::temp_dir().join(format!("scim-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = pair(&dir, "a");
        let (other_cert, other_key) = pair(&dir, "b");
        let certificate = Certificate::load(&cert, &key).unwrap();
        let first = current(&certificate);
        assert!(acceptor(Arc::new(Certificate::load(&cert, &key).unwrap())).is_ok());

        std::fs::copy(&other_cert, &cert).unwrap();
        let mismatch = certificate.reload().unwrap_err();
        assert!(mismatch.contains("does not fit"), "{mismatch}");
        assert!(Arc::ptr_eq(&first, &current(&certificate)), "a failed reload changed the certificate");

        std::fs::copy(&other_key, &key).unwrap();
        certificate.reload().unwrap();
        assert!(!Arc::ptr_eq(&first, &current(&certificate)));

        std::fs::write(&cert, "no certificate here").unwrap();
        assert!(certificate.reload().unwrap_err().contains("holds no PEM certificate"));
        assert!(Certificate::load(&dir.join("missing.crt"), &key).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
