//! Outgoing callbacks (ITSM approvals, JOB completion): a JSON POST over a hand-written
//! HTTP/1.1 exchange. Only loopback URLs (`127.0.0.0/8`, `localhost`, `[::1]`) are ever
//! contacted, so a simulator can never be used to reach other machines; other URLs are
//! recorded as refused.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::time::now_ms;

/// One callback delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackRecord {
    /// Target URL.
    pub url: String,
    /// The JSON body sent.
    pub body: Value,
    /// HTTP status of the answer, when one came.
    pub status: Option<u16>,
    /// Body of the answer (up to 64 KiB), when one came.
    pub response: Option<String>,
    /// Why it failed (refused URL, connection error, timeout).
    pub error: Option<String>,
    /// When the attempt ended, epoch ms.
    pub at_ms: i64,
}

/// Every delivery attempt, in order.
#[derive(Debug, Default)]
pub struct CallbackLog {
    records: Mutex<Vec<CallbackRecord>>,
}

impl CallbackLog {
    /// Records an attempt.
    pub fn push(&self, r: CallbackRecord) {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(r);
    }

    /// All attempts so far.
    pub fn all(&self) -> Vec<CallbackRecord> {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// A parsed `http://host[:port]/path` URL that points at this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopbackUrl {
    /// `host:port` to connect to.
    pub addr: String,
    /// `Host` header value.
    pub host_header: String,
    /// Path and query.
    pub path: String,
}

/// Parses `url`; `Err` when it is not plain-HTTP loopback.
pub fn parse_loopback(url: &str) -> Result<LoopbackUrl, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| "only http:// callback URLs are delivered".to_string())?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path
    };
    if authority.contains('@') {
        return Err("callback URLs with credentials are not delivered".into());
    }
    let (host, port) = if let Some(r) = authority.strip_prefix('[') {
        let end = r.find(']').ok_or("bad IPv6 host")?;
        let h = &r[..end];
        let port = r[end + 1..].strip_prefix(':').unwrap_or("80");
        (h.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p),
            None => (authority.to_string(), "80"),
        }
    };
    let port: u16 = port.parse().map_err(|_| "bad port".to_string())?;
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false);
    if !loopback {
        return Err(format!(
            "callback host {host} is not a loopback address; not delivered"
        ));
    }
    let connect_host = if host.eq_ignore_ascii_case("localhost") {
        "127.0.0.1".to_string()
    } else {
        host.clone()
    };
    let addr = if connect_host.contains(':') {
        format!("[{connect_host}]:{port}")
    } else {
        format!("{connect_host}:{port}")
    };
    Ok(LoopbackUrl {
        addr,
        host_header: authority.to_string(),
        path,
    })
}

async fn exchange(u: &LoopbackUrl, body: &[u8]) -> Result<(u16, String), String> {
    let mut s = tokio::net::TcpStream::connect(&u.addr)
        .await
        .map_err(|e| format!("connect {}: {e}", u.addr))?;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nUser-Agent: bk-sim\r\nConnection: close\r\n\r\n",
        u.path,
        u.host_header,
        body.len()
    );
    s.write_all(head.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    s.write_all(body).await.map_err(|e| e.to_string())?;
    s.flush().await.map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 64 * 1024 {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| "no HTTP status line in the answer".to_string())?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// POSTs `body` to `url` (loopback only) and returns the record of the attempt.
pub async fn post_json(url: &str, body: &Value, timeout: Duration) -> CallbackRecord {
    let mut rec = CallbackRecord {
        url: url.to_string(),
        body: body.clone(),
        status: None,
        response: None,
        error: None,
        at_ms: 0,
    };
    match parse_loopback(url) {
        Err(e) => rec.error = Some(e),
        Ok(u) => {
            let bytes = serde_json::to_vec(body).unwrap_or_default();
            match tokio::time::timeout(timeout, exchange(&u, &bytes)).await {
                Ok(Ok((status, resp))) => {
                    rec.status = Some(status);
                    rec.response = Some(resp);
                }
                Ok(Err(e)) => rec.error = Some(e),
                Err(_) => rec.error = Some("timed out".into()),
            }
        }
    }
    rec.at_ms = now_ms();
    rec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only() {
        let u = parse_loopback("http://127.0.0.1:8080/cb?x=1").unwrap();
        assert_eq!(u.addr, "127.0.0.1:8080");
        assert_eq!(u.path, "/cb?x=1");
        assert_eq!(
            parse_loopback("http://localhost:9/").unwrap().addr,
            "127.0.0.1:9"
        );
        assert_eq!(parse_loopback("http://[::1]:9").unwrap().addr, "[::1]:9");
        assert_eq!(parse_loopback("http://127.0.0.1").unwrap().path, "/");
        assert!(parse_loopback("http://10.0.0.1:80/").is_err());
        assert!(parse_loopback("https://127.0.0.1/").is_err());
        assert!(parse_loopback("http://example.com/").is_err());
        assert!(parse_loopback("http://u:p@127.0.0.1/").is_err());
        assert!(parse_loopback("http://127.0.0.1:99999/").is_err());
    }
}
