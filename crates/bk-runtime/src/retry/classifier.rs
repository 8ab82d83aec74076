//! Which failures are worth retrying, and whether the request provably never
//! ran on the server.
//!
//! | failure | retry | provably not executed |
//! |---|---|---|
//! | connect refused / connect timeout (`Transport { possibly_sent: false }`, `Timeout(Connect)`) | yes | yes |
//! | reset, truncated body, other transport errors once sent | yes | no |
//! | per-attempt timeout (`Timeout(Request)`) | yes | no |
//! | HTTP 500, 502, 503, 504; gateway 1650000/1650001/1650200/1650201/1650300/1650401 | yes | no |
//! | HTTP 429 with gateway code 1642901..1642904, ESB 1306429 (rate limits, throttling) | yes | yes |
//! | HTTP 429 without a gateway rate-limit code | yes (throttling) | no |
//! | ESB 1306201 (backend request failed or timed out) | yes | no |
//! | CMDB 1199997 (too many requests, throttling); CMDB `-1` (system busy, `cc` only) | yes | no |
//! | 2xx body that is not a JSON envelope (proxy or error page) | yes | no |
//! | everything else: auth (1306000, 1640101/1640102), permission (1306402/1306403, 9900403), arguments (1306406, 1640001, 1199006), other 4xx, decode, configuration | no | - |
//! | operation timeout, response body too large | no | - |
//!
//! Gateway rate limits are checked by the gateway before it forwards a call,
//! and the legacy ESB checks its limit before calling the component, so such
//! a rejection proves the call was not executed: non-idempotent APIs may be
//! retried after them, as after a refused connection. HTTP 500 is retried
//! like the other 5xx (smithy-rs does the same), but only for idempotent APIs.

use crate::error::{Error, ErrorKind, TimeoutKind};

/// ESB: request to the backend failed (including backend timeout).
pub const ESB_BACKEND_FAILED: i64 = 1306201;
/// Legacy ESB rate limit.
pub const ESB_RATE_LIMITED: i64 = 1306429;
/// CMDB: too many requests.
pub const CMDB_TOO_MANY_REQUESTS: i64 = 1199997;
/// CMDB: system busy (`cc` only; other components use `-1` for any failure).
pub const CMDB_BUSY: i64 = -1;

/// The classifier's answer for one failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Another attempt may succeed.
    pub retryable: bool,
    /// The server asked us to slow down (rate limit): retries cost the same
    /// tokens, but the server's `Retry-After` is honoured.
    pub throttling: bool,
    /// The failure proves the request was never executed (never sent, or
    /// rejected before it was forwarded), so even a non-idempotent API may be retried.
    pub not_executed: bool,
    /// The failure was a timeout (retries after timeouts cost more tokens).
    pub timeout: bool,
}

impl Verdict {
    const NEVER: Verdict = Verdict {
        retryable: false,
        throttling: false,
        not_executed: false,
        timeout: false,
    };
    const TRANSIENT: Verdict = Verdict {
        retryable: true,
        throttling: false,
        not_executed: false,
        timeout: false,
    };

    /// Whether this failure may be retried for an API of the given idempotency.
    pub fn allows_retry(&self, idempotent: bool) -> bool {
        self.retryable && (idempotent || self.not_executed)
    }
}

/// Classifies a failed attempt.
pub fn classify(err: &Error) -> Verdict {
    if err.is_permanent() {
        return Verdict::NEVER;
    }
    match err.kind() {
        ErrorKind::Transport { possibly_sent, .. } => Verdict {
            not_executed: !possibly_sent,
            ..Verdict::TRANSIENT
        },
        ErrorKind::Timeout { which, .. } => match which {
            TimeoutKind::Connect => Verdict {
                not_executed: true,
                timeout: true,
                ..Verdict::TRANSIENT
            },
            TimeoutKind::Request => Verdict {
                timeout: true,
                ..Verdict::TRANSIENT
            },
            TimeoutKind::Operation => Verdict::NEVER,
        },
        ErrorKind::HttpStatus { status, code, .. } => match (*status, *code) {
            (_, Some(c)) if is_gateway_rate_limit(c) => throttled(true),
            (429, _) => throttled(false),
            (500 | 502 | 503 | 504, Some(c)) if !is_gateway_code(c) || is_gateway_5xx(c) => {
                Verdict::TRANSIENT
            }
            (500 | 502 | 503 | 504, None) => Verdict::TRANSIENT,
            _ => Verdict::NEVER,
        },
        ErrorKind::NonJson { code, .. } => match code {
            Some(c) if is_gateway_rate_limit(*c) => throttled(true),
            Some(c) if is_gateway_code(*c) && !is_gateway_5xx(*c) => Verdict::NEVER,
            _ => Verdict::TRANSIENT,
        },
        ErrorKind::Api { code: Some(c), .. } => match *c {
            c if is_gateway_rate_limit(c) || c == ESB_RATE_LIMITED => throttled(true),
            CMDB_TOO_MANY_REQUESTS => throttled(false),
            ESB_BACKEND_FAILED => Verdict::TRANSIENT,
            CMDB_BUSY if err.component() == Some("cc") => Verdict::TRANSIENT,
            c if is_gateway_5xx(c) => Verdict::TRANSIENT,
            _ => Verdict::NEVER,
        },
        _ => Verdict::NEVER,
    }
}

fn throttled(not_executed: bool) -> Verdict {
    Verdict {
        retryable: true,
        throttling: true,
        not_executed,
        timeout: false,
    }
}

/// API gateway rate limit codes 1642901..=1642904.
fn is_gateway_rate_limit(code: i64) -> bool {
    (1_642_901..=1_642_904).contains(&code)
}

/// Any API gateway error code (`16xxxxx`).
fn is_gateway_code(code: i64) -> bool {
    (1_600_000..1_700_000).contains(&code)
}

/// API gateway codes for HTTP 500/502/503/504.
fn is_gateway_5xx(code: i64) -> bool {
    matches!(
        code,
        1_650_000 | 1_650_001 | 1_650_200 | 1_650_201 | 1_650_300 | 1_650_401
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn api(code: i64, component: &str) -> Error {
        Error::from_kind(ErrorKind::Api {
            code: Some(code),
            message: String::new(),
            permission: None,
        })
        .with_target(component, "x")
    }

    fn status(status: u16, code: Option<i64>) -> Error {
        Error::from_kind(ErrorKind::HttpStatus {
            status,
            code,
            message: None,
            snippet: String::new(),
        })
    }

    #[test]
    fn transport_and_timeouts() {
        let v = classify(&Error::transport(false, "refused"));
        assert!(v.allows_retry(false));
        let v = classify(&Error::transport(true, "reset"));
        assert!(v.allows_retry(true) && !v.allows_retry(false));
        let v = classify(&Error::timeout(
            TimeoutKind::Connect,
            Duration::from_secs(1),
        ));
        assert!(v.allows_retry(false) && v.timeout);
        let v = classify(&Error::timeout(
            TimeoutKind::Request,
            Duration::from_secs(1),
        ));
        assert!(v.allows_retry(true) && !v.allows_retry(false) && v.timeout);
        let v = classify(&Error::timeout(
            TimeoutKind::Operation,
            Duration::from_secs(1),
        ));
        assert!(!v.retryable);
        assert!(!classify(&Error::transport(true, "too large").permanent()).retryable);
    }

    #[test]
    fn http_statuses() {
        for s in [500, 502, 503, 504] {
            assert!(classify(&status(s, None)).allows_retry(true), "{s}");
            assert!(!classify(&status(s, None)).allows_retry(false), "{s}");
        }
        assert!(classify(&status(503, Some(1_650_300))).retryable);
        let v = classify(&status(429, Some(1_642_901)));
        assert!(v.throttling && v.allows_retry(false));
        let v = classify(&status(429, None));
        assert!(v.throttling && !v.allows_retry(false) && v.allows_retry(true));
        for (s, c) in [
            (401, Some(1_640_101)),
            (401, Some(1_640_102)),
            (403, Some(1_640_301)),
            (400, Some(1_640_001)),
            (404, None),
            (413, Some(1_641_301)),
        ] {
            assert!(!classify(&status(s, c)).retryable, "{s} {c:?}");
        }
    }

    #[test]
    fn envelope_codes() {
        assert!(classify(&api(ESB_BACKEND_FAILED, "cc")).allows_retry(true));
        assert!(!classify(&api(ESB_BACKEND_FAILED, "jobv3")).allows_retry(false));
        let v = classify(&api(ESB_RATE_LIMITED, "jobv3"));
        assert!(v.throttling && v.allows_retry(false));
        let v = classify(&api(CMDB_TOO_MANY_REQUESTS, "cc"));
        assert!(v.throttling && v.allows_retry(true) && !v.allows_retry(false));
        assert!(classify(&api(-1, "cc")).retryable);
        assert!(!classify(&api(-1, "jobv3")).retryable);
        // status rewritten to 200 by the gateway: the code still tells
        assert!(classify(&api(1_650_300, "cc")).retryable);
        for c in [
            1306000, 1306401, 1306402, 1306403, 1306406, 9900403, 1199006, 1640102,
        ] {
            assert!(!classify(&api(c, "cc")).retryable, "{c}");
        }
    }

    #[test]
    fn other_kinds() {
        let html = Error::from_kind(ErrorKind::NonJson {
            content_type: Some("text/html".into()),
            snippet: String::new(),
            code: None,
            message: None,
        });
        assert!(classify(&html).allows_retry(true));
        assert!(!classify(&html).allows_retry(false));
        assert!(!classify(&Error::config("x")).retryable);
        assert!(!classify(&Error::invalid_request("x")).retryable);
    }
}
