//! One keep-alive HTTP/1.1 connection, written and read by hand.
//!
//! The load generator shares the machine's two cores with the server, so every microsecond it
//! spends is one the server does not get. A general client (hyper's, measured first) cost about
//! 9 µs of CPU per request here; writing the request bytes in one `write` and reading the
//! response with one or two `read`s, as wrk does, costs a fraction of that. This is enough HTTP for
//! `scim-server`, which always answers with a `Content-Length` (or a body-less status) and never
//! with chunked encoding; anything else is reported as an error, never guessed at.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where requests go and who sends them.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The server's addresses: one, or one per replica of a service, which connections take in
    /// turn (as a round-robin load balancer would hand them out).
    pub addrs: Vec<SocketAddr>,
    /// Connections opened so far, which picks the next address.
    opened: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// The header lines every request carries (`Host`, `Authorization`), each ending in CRLF.
    headers: String,
}

impl Endpoint {
    /// An endpoint at `addr` authenticating with `token`.
    pub fn new(addr: SocketAddr, token: &str) -> Result<Endpoint, String> {
        Endpoint::spread(vec![addr], token)
    }

    /// An endpoint over every address of `addrs` (at least one), authenticating with `token`.
    pub fn spread(addrs: Vec<SocketAddr>, token: &str) -> Result<Endpoint, String> {
        if token.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err("the token holds a character a header cannot carry".into());
        }
        let first = *addrs.first().ok_or("an endpoint needs an address")?;
        Ok(Endpoint {
            addrs,
            opened: std::sync::Arc::default(),
            headers: format!("Host: {first}\r\nAuthorization: Bearer {token}\r\n"),
        })
    }

    /// The address the next connection goes to.
    fn next_addr(&self) -> SocketAddr {
        let n = self.opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.addrs[n % self.addrs.len()]
    }
}

/// An open connection.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    request: Vec<u8>,
    buffer: Vec<u8>,
}

impl Conn {
    /// Connects to the endpoint (Nagle off, as a real client would).
    pub async fn open(endpoint: &Endpoint) -> Result<Conn, String> {
        let stream = TcpStream::connect(endpoint.next_addr()).await.map_err(|e| format!("connect: {e}"))?;
        stream.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
        Ok(Conn { stream, request: Vec::with_capacity(2048), buffer: Vec::with_capacity(16 * 1024) })
    }

    /// Sends one request and reads the whole response: its status and body.
    pub async fn send(
        &mut self,
        endpoint: &Endpoint,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<(u16, &[u8]), String> {
        self.request.clear();
        self.request.extend_from_slice(method.as_bytes());
        self.request.push(b' ');
        self.request.extend_from_slice(path.as_bytes());
        self.request.extend_from_slice(b" HTTP/1.1\r\n");
        self.request.extend_from_slice(endpoint.headers.as_bytes());
        if let Some(body) = body {
            self.request.extend_from_slice(b"Content-Type: application/scim+json\r\nContent-Length: ");
            self.request.extend_from_slice(body.len().to_string().as_bytes());
            self.request.extend_from_slice(b"\r\n\r\n");
            self.request.extend_from_slice(body);
        } else {
            self.request.extend_from_slice(b"\r\n");
        }
        self.stream.write_all(&self.request).await.map_err(|e| format!("write: {e}"))?;

        self.buffer.clear();
        let head_end = loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                break end + 4;
            }
            self.fill().await?;
        };
        let (status, length) = parse_head(&self.buffer[..head_end])?;
        let length = match (status, length) {
            (100..=199 | 204 | 304, _) => 0,
            (_, Some(length)) => length,
            (_, None) => return Err(format!("status {status} without Content-Length")),
        };
        while self.buffer.len() < head_end + length {
            self.fill().await?;
        }
        if self.buffer.len() > head_end + length {
            return Err("the server sent more than one response".into());
        }
        Ok((status, &self.buffer[head_end..]))
    }

    /// Reads more of the response into the buffer.
    async fn fill(&mut self) -> Result<(), String> {
        if self.buffer.capacity() - self.buffer.len() < 4096 {
            self.buffer.reserve(16 * 1024);
        }
        let read = self.stream.read_buf(&mut self.buffer).await.map_err(|e| format!("read: {e}"))?;
        if read == 0 {
            return Err("the server closed the connection".into());
        }
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The status and `Content-Length` of a response head (through its blank line).
fn parse_head(head: &[u8]) -> Result<(u16, Option<usize>), String> {
    let text = std::str::from_utf8(head).map_err(|_| "a response head that is not UTF-8".to_owned())?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("a response line {status_line:?}"))?;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.trim().parse().map_err(|_| format!("a Content-Length of {value:?}"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err("a chunked response, which this client does not read".into());
        }
    }
    Ok((status, length))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn response_heads() {
        let head = b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\nContent-Length: 12\r\n\r\n";
        assert_eq!(parse_head(head).unwrap(), (201, Some(12)));
        assert_eq!(parse_head(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap(), (204, None));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").is_err());
        assert!(parse_head(b"SSH-2.0\r\n\r\n").is_err());
        assert_eq!(find(b"abc\r\n\r\nxyz", b"\r\n\r\n"), Some(3));
    }
}
