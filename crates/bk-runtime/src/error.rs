//! The one error type of the runtime.
//!
//! [`Error`] is a small boxed struct: what went wrong ([`ErrorKind`]) plus the
//! context known when it happened (component, API, HTTP status, request id).
//! Its `Display` always names the API and, when known, the HTTP status, the
//! ESB code, the server message and the request id, so a log line alone is
//! enough to open a ticket with the platform team.
//!
//! Nothing here ever holds a secret: body snippets and server messages are
//! redacted before they are stored (see [`crate::redact`]), and transport
//! errors are stripped of the request URL (which may carry credentials in
//! `AuthMode::Params` for `GET`).

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use serde_json::Value;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Error returned by every fallible operation of the runtime.
///
/// Inspect it with [`Error::kind`] and the accessors; print it with `Display`.
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Debug)]
struct Inner {
    kind: ErrorKind,
    component: Option<Box<str>>,
    api: Option<Box<str>>,
    http_status: Option<u16>,
    request_id: Option<String>,
    source: Option<BoxError>,
    /// Server hint from `Retry-After` / `X-Bkapi-RateLimit-Reset`.
    retry_after: Option<Duration>,
    /// Attempts made for the call that ended with this error (0: not counted).
    attempts: u32,
    /// Retrying cannot help (response too large, ...), whatever the kind says.
    permanent: bool,
}

/// Which timeout expired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutKind {
    /// Establishing the connection (TCP + TLS) took longer than the connect timeout.
    /// The request was not sent.
    Connect,
    /// One attempt (send, wait, read body) took longer than the per-attempt
    /// (request) timeout. The request may have been processed by the server.
    Request,
    /// The whole operation, every attempt and the waits between them, took longer
    /// than the operation timeout. The request may have been processed by the server.
    Operation,
}

impl fmt::Display for TimeoutKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutKind::Connect => "connect",
            TimeoutKind::Request => "request",
            TimeoutKind::Operation => "operation",
        })
    }
}

/// What went wrong.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The client configuration is missing a value or holds a malformed one.
    Config {
        /// What is wrong, naming the setting or environment variable.
        message: String,
    },
    /// The request parameters could not be turned into a request
    /// (not a JSON object, not serializable, bad component or API name).
    InvalidRequest {
        /// What is wrong.
        message: String,
    },
    /// The HTTP exchange failed below the protocol level (connection refused,
    /// reset, TLS failure, body cut short, body too large).
    Transport {
        /// `false` when the failure happened before any byte of the request
        /// could reach the server (connect failure); `true` otherwise.
        possibly_sent: bool,
        /// Description of the failure, without the request URL.
        message: String,
    },
    /// A timeout expired.
    Timeout {
        /// Which timeout.
        which: TimeoutKind,
        /// The configured duration that was exceeded.
        after: Duration,
    },
    /// The server answered with a non-2xx HTTP status.
    HttpStatus {
        /// The HTTP status code.
        status: u16,
        /// Error code from the `X-Bkapi-Error-Code` header or the JSON body, if any.
        code: Option<i64>,
        /// Error message from the `X-Bkapi-Error-Message` header or the JSON body, if any.
        message: Option<String>,
        /// Start of the (redacted) response body.
        snippet: String,
    },
    /// The server answered 2xx but the body is not a BlueKing JSON envelope.
    NonJson {
        /// The `Content-Type` response header, if any.
        content_type: Option<String>,
        /// Start of the (redacted) response body.
        snippet: String,
        /// Error code from the `X-Bkapi-Error-Code` header, if any.
        code: Option<i64>,
        /// Error message from the `X-Bkapi-Error-Message` header, if any.
        message: Option<String>,
    },
    /// The envelope says `"result": false`.
    Api {
        /// The envelope `code` (`None` when the server sent none).
        code: Option<i64>,
        /// The envelope `message` (redacted).
        message: String,
        /// The IAM permission object the server attached, if any.
        permission: Option<Value>,
    },
    /// A [`CredentialProvider`](crate::CredentialProvider) could not supply user
    /// credentials (returned by providers through [`Error::credentials`]).
    Credentials {
        /// What went wrong, without any secret.
        message: String,
    },
    /// The envelope `data` does not match the typed response.
    Decode {
        /// JSON path of the failing field, e.g. `info[0].bk_host_id` (`.` for the root).
        path: String,
        /// The serde error message.
        message: String,
    },
}

impl ErrorKind {
    /// A short, stable name of the kind (`"transport"`, `"api"`, ...), for metric labels,
    /// logs and reports.
    pub fn name(&self) -> &'static str {
        match self {
            ErrorKind::Config { .. } => "config",
            ErrorKind::InvalidRequest { .. } => "invalid_request",
            ErrorKind::Transport { .. } => "transport",
            ErrorKind::Timeout { .. } => "timeout",
            ErrorKind::HttpStatus { .. } => "http_status",
            ErrorKind::NonJson { .. } => "non_json",
            ErrorKind::Api { .. } => "api",
            ErrorKind::Credentials { .. } => "credentials",
            ErrorKind::Decode { .. } => "decode",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Config { message } => write!(f, "invalid configuration: {message}"),
            ErrorKind::InvalidRequest { message } => write!(f, "invalid request: {message}"),
            ErrorKind::Transport {
                possibly_sent,
                message,
            } => {
                let sent = if *possibly_sent {
                    "request possibly sent"
                } else {
                    "request not sent"
                };
                write!(f, "transport error ({sent}): {message}")
            }
            ErrorKind::Timeout { which, after } => {
                write!(f, "{which} timeout after {}", fmt_duration(*after))
            }
            ErrorKind::HttpStatus {
                status,
                code,
                message,
                snippet,
            } => {
                write!(f, "HTTP status {status}")?;
                if let Some(reason) = http::StatusCode::from_u16(*status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                {
                    write!(f, " {reason}")?;
                }
                write_code_message(f, *code, message.as_deref())?;
                if !snippet.is_empty() && message.is_none() {
                    write!(f, "; body: {snippet:?}")?;
                }
                Ok(())
            }
            ErrorKind::NonJson {
                content_type,
                snippet,
                code,
                message,
            } => {
                f.write_str("response is not a BlueKing JSON envelope")?;
                if let Some(ct) = content_type {
                    write!(f, " (content-type {ct})")?;
                }
                write_code_message(f, *code, message.as_deref())?;
                write!(f, "; body: {snippet:?}")
            }
            ErrorKind::Api { code, message, .. } => {
                f.write_str("API error")?;
                if let Some(code) = code {
                    write!(f, " {code}")?;
                }
                write!(f, ": {message:?}")
            }
            ErrorKind::Credentials { message } => {
                write!(f, "credential provider failed: {message}")
            }
            ErrorKind::Decode { path, message } => {
                write!(f, "cannot decode response data at `{path}`: {message}")
            }
        }
    }
}

fn write_code_message(
    f: &mut fmt::Formatter<'_>,
    code: Option<i64>,
    message: Option<&str>,
) -> fmt::Result {
    match (code, message) {
        (Some(c), Some(m)) => write!(f, ": code {c}: {m:?}"),
        (Some(c), None) => write!(f, ": code {c}"),
        (None, Some(m)) => write!(f, ": {m:?}"),
        (None, None) => Ok(()),
    }
}

fn fmt_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

impl Error {
    fn new(kind: ErrorKind) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                component: None,
                api: None,
                http_status: None,
                request_id: None,
                source: None,
                retry_after: None,
                attempts: 0,
                permanent: false,
            }),
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Config {
            message: message.into(),
        })
    }

    pub(crate) fn invalid_request(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidRequest {
            message: message.into(),
        })
    }

    pub(crate) fn transport(possibly_sent: bool, message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Transport {
            possibly_sent,
            message: message.into(),
        })
    }

    pub(crate) fn timeout(which: TimeoutKind, after: Duration) -> Self {
        Error::new(ErrorKind::Timeout { which, after })
    }

    /// An [`ErrorKind::Credentials`] error, for [`CredentialProvider`](crate::CredentialProvider)
    /// implementations. `message` must not contain a secret.
    ///
    /// ```
    /// let e = bk_runtime::Error::credentials("the login service is unreachable");
    /// assert_eq!(e.to_string(), "credential provider failed: the login service is unreachable");
    /// ```
    pub fn credentials(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Credentials {
            message: message.into(),
        })
    }

    /// [`Error::credentials`] with the underlying cause as [`std::error::Error::source`].
    /// The cause's `Display` and `Debug` must not contain a secret.
    pub fn credentials_caused_by(
        message: impl Into<String>,
        cause: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        Error::credentials(message).with_source(cause)
    }

    pub(crate) fn from_kind(kind: ErrorKind) -> Self {
        Error::new(kind)
    }

    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    pub(crate) fn with_target(mut self, component: &str, api: &str) -> Self {
        if self.inner.component.is_none() {
            self.inner.component = Some(component.into());
            self.inner.api = Some(api.into());
        }
        self
    }

    pub(crate) fn with_http(mut self, status: u16, request_id: Option<String>) -> Self {
        self.inner.http_status = Some(status);
        if request_id.is_some() {
            self.inner.request_id = request_id;
        }
        self
    }

    pub(crate) fn with_retry_after(mut self, after: Option<Duration>) -> Self {
        if after.is_some() {
            self.inner.retry_after = after;
        }
        self
    }

    pub(crate) fn with_attempts(mut self, attempts: u32) -> Self {
        self.inner.attempts = attempts;
        self
    }

    /// Marks the error as one that a retry cannot fix.
    pub(crate) fn permanent(mut self) -> Self {
        self.inner.permanent = true;
        self
    }

    pub(crate) fn is_permanent(&self) -> bool {
        self.inner.permanent
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.inner.kind
    }

    /// The ESB / gateway error code, for [`ErrorKind::Api`], [`ErrorKind::HttpStatus`]
    /// and [`ErrorKind::NonJson`] when the server sent one.
    pub fn code(&self) -> Option<i64> {
        match &self.inner.kind {
            ErrorKind::Api { code, .. }
            | ErrorKind::HttpStatus { code, .. }
            | ErrorKind::NonJson { code, .. } => *code,
            _ => None,
        }
    }

    /// The (redacted) message sent by the server, for [`ErrorKind::Api`],
    /// [`ErrorKind::HttpStatus`] and [`ErrorKind::NonJson`] when it sent one.
    pub fn message(&self) -> Option<&str> {
        match &self.inner.kind {
            ErrorKind::Api { message, .. } => Some(message),
            ErrorKind::HttpStatus { message, .. } | ErrorKind::NonJson { message, .. } => {
                message.as_deref()
            }
            _ => None,
        }
    }

    /// The request id from the envelope or the `X-Bkapi-Request-Id` /
    /// `X-Request-Id` response headers.
    pub fn request_id(&self) -> Option<&str> {
        self.inner.request_id.as_deref()
    }

    /// The HTTP status of the response, when one was received.
    pub fn http_status(&self) -> Option<u16> {
        self.inner.http_status
    }

    /// The ESB component of the failed call (`"cc"`).
    pub fn component(&self) -> Option<&str> {
        self.inner.component.as_deref()
    }

    /// The API name of the failed call (`"list_biz_hosts_topo"`).
    pub fn api(&self) -> Option<&str> {
        self.inner.api.as_deref()
    }

    /// The IAM permission object attached to an [`ErrorKind::Api`] error.
    pub fn permission(&self) -> Option<&Value> {
        match &self.inner.kind {
            ErrorKind::Api { permission, .. } => permission.as_ref(),
            _ => None,
        }
    }

    /// How long the server asked the client to wait before trying again
    /// (`Retry-After` in seconds, else `X-Bkapi-RateLimit-Reset`), if it said so.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// How many attempts the call made before giving up with this error
    /// (1 when it was not retried; 0 for errors raised before any attempt).
    pub fn attempts(&self) -> u32 {
        self.inner.attempts
    }

    /// Whether this is a [`ErrorKind::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::Timeout { .. })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        if let (Some(c), Some(a)) = (&inner.component, &inner.api) {
            write!(f, "{c}.{a} failed: ")?;
        }
        write!(f, "{}", inner.kind)?;
        let status = match inner.kind {
            // already part of the kind's text
            ErrorKind::HttpStatus { .. } => None,
            _ => inner.http_status,
        };
        match (status, &inner.request_id) {
            (Some(s), Some(id)) => write!(f, " (HTTP {s}, request_id {id})")?,
            (Some(s), None) => write!(f, " (HTTP {s})")?,
            (None, Some(id)) => write!(f, " (request_id {id})")?,
            (None, None) => {}
        }
        if inner.attempts > 1 {
            write!(f, " after {} attempts", inner.attempts)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        let mut d = f.debug_struct("Error");
        d.field("kind", &inner.kind);
        if let Some(c) = &inner.component {
            d.field("component", c);
        }
        if let Some(a) = &inner.api {
            d.field("api", a);
        }
        if let Some(s) = inner.http_status {
            d.field("http_status", &s);
        }
        if let Some(id) = &inner.request_id {
            d.field("request_id", id);
        }
        if let Some(r) = inner.retry_after {
            d.field("retry_after", &r);
        }
        if inner.attempts > 1 {
            d.field("attempts", &inner.attempts);
        }
        if let Some(src) = &inner.source {
            d.field("source", src);
        }
        d.finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_api_error() {
        let e = Error::from_kind(ErrorKind::Api {
            code: Some(1199006),
            message: "page.limit exceed".into(),
            permission: None,
        })
        .with_target("cc", "list_biz_hosts_topo")
        .with_http(200, Some("5f2a".into()));
        assert_eq!(
            e.to_string(),
            r#"cc.list_biz_hosts_topo failed: API error 1199006: "page.limit exceed" (HTTP 200, request_id 5f2a)"#
        );
        assert_eq!(e.code(), Some(1199006));
        assert_eq!(e.message(), Some("page.limit exceed"));
    }

    #[test]
    fn display_http_status() {
        let e = Error::from_kind(ErrorKind::HttpStatus {
            status: 429,
            code: Some(1642901),
            message: Some("rate limited".into()),
            snippet: String::new(),
        })
        .with_target("cc", "x")
        .with_http(429, None);
        assert_eq!(
            e.to_string(),
            r#"cc.x failed: HTTP status 429 Too Many Requests: code 1642901: "rate limited""#
        );
    }

    #[test]
    fn display_timeout() {
        let e = Error::timeout(TimeoutKind::Request, Duration::from_millis(1500));
        assert_eq!(e.to_string(), "request timeout after 1500ms");
        assert!(e.is_timeout());
    }

    #[test]
    fn error_is_send_sync_small() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Error>();
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }
}
