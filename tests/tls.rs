//! HTTPS: a self-signed certificate made here, a rustls client that trusts it, the certificate
//! swapped by `SIGHUP` under a live keep-alive connection, and protocols below TLS 1.2 refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned, SupportedProtocolVersion};
use support::{Resp, Server, user_body};

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A self-signed certificate for `localhost` named `name`: its PEM, its key's PEM and its DER.
fn certificate(name: &str) -> (String, String, CertificateDer<'static>) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem(), cert.der().clone())
}

fn install(dir: &Path, (cert, key, _): &(String, String, CertificateDer<'static>)) {
    std::fs::write(dir.join("cert.pem"), cert).unwrap();
    std::fs::write(dir.join("key.pem"), key).unwrap();
}

/// A TLS connection to `addr` trusting `roots`, with only `versions`.
fn connect(addr: &str, roots: &[&CertificateDer<'static>], versions: &[&'static SupportedProtocolVersion]) -> Tls {
    let mut store = RootCertStore::empty();
    for root in roots {
        store.add((*root).clone()).unwrap();
    }
    let config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth();
    let conn = ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap()).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    StreamOwned::new(conn, tcp)
}

const BOTH: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Sends `head` (and `body`) as one keep-alive request and reads exactly its response.
fn exchange(tls: &mut Tls, head: &str, body: &[u8]) -> Resp {
    tls.write_all(format!("{head}Host: localhost\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes()).unwrap();
    tls.write_all(body).unwrap();
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n\r\n") {
        assert_eq!(tls.read(&mut byte).unwrap(), 1, "closed mid-response");
        answer.push(byte[0]);
    }
    let length: usize = Resp::parse(&answer).header("content-length").unwrap().parse().unwrap();
    let mut rest = vec![0; length];
    tls.read_exact(&mut rest).unwrap();
    answer.extend_from_slice(&rest);
    Resp::parse(&answer)
}

fn served_certificate(tls: &Tls) -> CertificateDer<'static> {
    tls.conn.peer_certificates().unwrap()[0].clone().into_owned()
}

/// A server of a tenant of `profile` serving HTTPS with `first`.
fn start(profile: &str, first: &(String, String, CertificateDer<'static>)) -> Server {
    Server::prepared(profile, |dir| {
        install(dir, first);
        ["--tls-cert", "cert.pem", "--tls-key", "key.pem"]
            .iter()
            .map(|w| if w.ends_with(".pem") { dir.join(w).display().to_string() } else { (*w).to_owned() })
            .collect()
    })
}

#[test]
fn https_serves_scim_and_sighup_swaps_the_certificate_under_live_connections() {
    let (a, b) = (certificate("scim test A"), certificate("scim test B"));
    // rfc: its resources carry meta.location, which shows the public URL.
    let mut s = start("rfc", &a);
    let pid = s.pid();
    let roots = [&a.2, &b.2];

    let mut old = connect(&s.addr, &roots, BOTH);
    assert_eq!(exchange(&mut old, "GET /healthz HTTP/1.1\r\n", b"").status, 200);
    assert_eq!(served_certificate(&old), a.2);
    // The public URL defaults to https:// and the address bound.
    let body = serde_json::to_vec(&user_body("tls@example.com")).unwrap();
    let head = format!(
        "POST {}/Users HTTP/1.1\r\nAuthorization: Bearer {}\r\nContent-Type: application/scim+json\r\n",
        s.base(),
        s.token
    );
    let created = exchange(&mut old, &head, &body);
    assert_eq!(created.status, 201, "{}", created.text);
    let location = created.json()["meta"]["location"].as_str().unwrap().to_owned();
    assert!(location.starts_with(&format!("https://{}/", s.addr)), "{location}");

    install(&s.dir.0, &b);
    s.signal("HUP");
    s.wait_for_log("reloaded the TLS certificate");
    let mut new = connect(&s.addr, &roots, BOTH);
    assert_eq!(exchange(&mut new, "GET /readyz HTTP/1.1\r\n", b"").status, 200);
    assert_eq!(served_certificate(&new), b.2);
    // The connection made before the reload still works, on its old certificate.
    assert_eq!(exchange(&mut old, "GET /healthz HTTP/1.1\r\n", b"").status, 200);
    assert_eq!(served_certificate(&old), a.2);

    // A bad reload keeps the certificate in use and says so.
    std::fs::write(s.dir.0.join("key.pem"), "not a key").unwrap();
    s.signal("HUP");
    s.wait_for_log("reloading the TLS certificate failed; keeping the old one");
    let mut after = connect(&s.addr, &roots, BOTH);
    assert_eq!(exchange(&mut after, "GET /healthz HTTP/1.1\r\n", b"").status, 200);
    assert_eq!(served_certificate(&after), b.2);
    // A key that belongs to another certificate is refused as well.
    std::fs::write(s.dir.0.join("key.pem"), &a.1).unwrap();
    s.signal("HUP");
    s.wait_for_log("does not fit the certificate");

    assert_eq!(s.pid(), pid);
    assert!(s.is_running(), "the server exited on SIGHUP");
    assert_eq!(exchange(&mut new, "GET /healthz HTTP/1.1\r\n", b"").status, 200);
}

#[test]
fn tls_1_2_and_1_3_are_spoken_and_older_protocols_and_plain_http_refused() {
    let a = certificate("scim test A");
    let s = start("identity-center", &a);
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let mut tls = connect(&s.addr, &[&a.2], &[version]);
        assert_eq!(exchange(&mut tls, "GET /healthz HTTP/1.1\r\n", b"").status, 200);
        assert_eq!(tls.conn.protocol_version(), Some(version.version));
    }
    // A TLS 1.1 ClientHello (no supported_versions extension) gets a protocol_version alert.
    // It names a signature algorithm, which TLS 1.1 has no way to say, or the refusal would be
    // a handshake_failure for its absence before the version is even looked at.
    let mut hello = vec![0x01, 0x00, 0x00, 53, 0x03, 0x02];
    hello.extend_from_slice(&[7; 32]);
    hello.extend_from_slice(&[0x00, 0x00, 0x04, 0x00, 0x2f, 0x00, 0x35, 0x01, 0x00]);
    hello.extend_from_slice(&[0x00, 0x08, 0x00, 0x0d, 0x00, 0x04, 0x00, 0x02, 0x04, 0x03]);
    let mut record = vec![0x16, 0x03, 0x02, 0x00, hello.len() as u8];
    record.extend_from_slice(&hello);
    let mut tcp = TcpStream::connect(&s.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(&record).unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    assert_eq!(answer.first(), Some(&0x15), "not an alert: {answer:?}");
    assert_eq!(answer.get(6), Some(&70), "not protocol_version: {answer:?}");
    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut plain = TcpStream::connect(&s.addr).unwrap();
    plain.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    plain.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");
}
