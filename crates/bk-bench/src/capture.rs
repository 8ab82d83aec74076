//! The exact bytes this SDK sends, captured once, so that the raw load generator replays
//! the same request (same method, path, query, headers and body) as the SDK.
//!
//! A one-shot listener on loopback reads one HTTP/1.1 request, answers it with a canned
//! envelope and hands the bytes back; the SDK client is pointed at it for one call.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

/// A captured HTTP/1.1 request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// `GET`, `POST`.
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Header lines in order (names as sent).
    pub headers: Vec<(String, String)>,
    /// The body (empty for `GET`).
    pub body: Vec<u8>,
}

impl Captured {
    /// Parses one request (head and a `Content-Length` body) from `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Captured, String> {
        let end = find(bytes, b"\r\n\r\n").ok_or("no end of the request head")?;
        let head = std::str::from_utf8(&bytes[..end]).map_err(|e| e.to_string())?;
        let mut lines = head.split("\r\n");
        let start = lines.next().ok_or("empty request")?;
        let mut parts = start.split(' ');
        let method = parts.next().ok_or("no method")?.to_string();
        let target = parts.next().ok_or("no request target")?.to_string();
        let mut headers = Vec::new();
        for l in lines {
            let (k, v) = l
                .split_once(':')
                .ok_or_else(|| format!("bad header {l:?}"))?;
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().map_err(|_| "bad content-length".to_string()))
            .transpose()?
            .unwrap_or(0);
        let body = bytes[end + 4..].to_vec();
        if body.len() != len {
            return Err(format!(
                "body is {} bytes, content-length {len}",
                body.len()
            ));
        }
        Ok(Captured {
            method,
            target,
            headers,
            body,
        })
    }

    /// The request as HTTP/1.1 bytes, with the `Host` header set to `host`.
    pub fn to_bytes(&self, host: &str) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.target).into_bytes();
        for (k, v) in &self.headers {
            let v = if k.eq_ignore_ascii_case("host") {
                host
            } else {
                v
            };
            out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Runs `call` with the URL of a one-shot listener and returns the bytes of the one request
/// it received (answered with `reply`, a JSON envelope). `call`'s own outcome is ignored.
pub fn capture(reply: &str, call: impl FnOnce(String)) -> Result<Vec<u8>, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let url = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let reply = reply.to_string();
    let server = std::thread::spawn(move || -> Result<Vec<u8>, String> {
        let (mut conn, _) = listener.accept().map_err(|e| e.to_string())?;
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let n = conn.read(&mut chunk).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed before a whole request".into());
            }
            buf.extend_from_slice(&chunk[..n]);
            if Captured::parse(&buf).is_ok() {
                break;
            }
        }
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{reply}",
            reply.len()
        );
        conn.write_all(resp.as_bytes()).map_err(|e| e.to_string())?;
        Ok(buf)
    });
    call(url);
    server
        .join()
        .map_err(|_| "the capture listener panicked".to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        let raw = b"POST /a?b=1 HTTP/1.1\r\nhost: 127.0.0.1:1\r\ncontent-length: 2\r\n\r\n{}";
        let c = Captured::parse(raw).unwrap();
        assert_eq!(c.method, "POST");
        assert_eq!(c.target, "/a?b=1");
        assert_eq!(c.body, b"{}");
        let again = c.to_bytes("127.0.0.1:1");
        assert_eq!(again, raw.to_vec());
        assert!(Captured::parse(b"GET / HTTP/1.1\r\ncontent-length: 3\r\n\r\n{").is_err());
    }
}
