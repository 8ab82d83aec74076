//! Sending a [`PreparedRequest`] over HTTP, enforcing the connect and request
//! timeouts and the response size limit, and mapping every failure to an [`Error`].
//!
//! Two transports, chosen when the client is built:
//!
//! - **direct** (the usual case): a `hyper_util` connection pool over a rustls
//!   connector (ring, the webpki root certificates; HTTP/1.1, and HTTP/2 when the
//!   server offers it through ALPN). No layer of its own between the SDK and hyper:
//!   the SDK does its own retries and refuses redirects anyway.
//! - **proxied**: when one of `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` (or their
//!   lower-case forms) is set to a non-empty value, requests go through `reqwest`,
//!   which honours those variables and `NO_PROXY` per request, as earlier versions
//!   always did.
//!
//! Both trust the same roots, use the same TCP settings (no delay, keep-alive), pool
//! connections and report failures the same way: a failure before the request was
//! written is a [`ErrorKind::Transport`](crate::ErrorKind::Transport) with
//! `possibly_sent: false` (or a connect [`TimeoutKind::Connect`]); anything later has
//! `possibly_sent: true`.
//!
//! Redirects are not followed: a redirect to another host would carry the
//! `X-Bkapi-Authorization` header along, and the ESB never redirects API calls. A 3xx
//! is reported as [`ErrorKind::HttpStatus`](crate::ErrorKind::HttpStatus).

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Body as _, Incoming};
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::config::Config;
use crate::error::{Error, TimeoutKind};
use crate::request::PreparedRequest;

type BoxError = Box<dyn StdError + Send + Sync>;

/// Environment variables that make `reqwest` use a proxy.
pub(crate) const PROXY_VARIABLES: [&str; 6] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// TCP keep-alive idle time, interval and probes (the values `reqwest` uses).
const TCP_KEEPALIVE: Duration = Duration::from_secs(15);
const TCP_KEEPALIVE_RETRIES: u32 = 3;
/// How long sent data may stay unacknowledged before the connection is dropped (Linux).
#[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle pooled connections are closed after this.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// A received response, body fully read.
#[derive(Debug)]
pub(crate) struct HttpResponse {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// The one connection pool of a client.
// One per client, inside the client's `Arc`, never moved on the call path: boxing the large
// variant would only add an indirection per call.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub(crate) enum Http {
    /// hyper-util over rustls, no proxy.
    Direct(hyper_util::client::legacy::Client<Connector, Full<Bytes>>),
    /// reqwest, for its proxy support.
    Proxied(reqwest::Client),
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Http::Direct(_) => "Http::Direct",
            Http::Proxied(_) => "Http::Proxied",
        })
    }
}

/// Whether `lookup` (the environment) configures a proxy `reqwest` would use.
pub(crate) fn proxy_configured(lookup: impl Fn(&str) -> Option<String>) -> bool {
    PROXY_VARIABLES
        .iter()
        .any(|k| lookup(k).is_some_and(|v| !v.trim().is_empty()))
}

/// Builds the one connection pool of a client: [`Http::Proxied`] when the environment
/// names a proxy, [`Http::Direct`] otherwise.
pub(crate) fn http_client(config: &Config) -> Result<Http, Error> {
    if config.accept_invalid_certs {
        tracing::warn!(
            endpoint = %config.endpoint,
            "TLS certificate verification is disabled (danger_accept_invalid_certs): \
             credentials can be intercepted"
        );
    }
    if proxy_configured(|k| std::env::var(k).ok()) {
        tracing::debug!("a proxy is configured in the environment: sending through reqwest");
        proxied_client(config)
    } else {
        direct_client(config)
    }
}

/// The hyper-util pool.
pub(crate) fn direct_client(config: &Config) -> Result<Http, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::config(format!("cannot build the HTTP client: {e}")).with_source(e))?;
    let tls = if config.accept_invalid_certs {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerifier(provider)))
            .with_no_client_auth()
    } else {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(config.connect_timeout));
    http.set_keepalive(Some(TCP_KEEPALIVE));
    http.set_keepalive_interval(Some(TCP_KEEPALIVE));
    http.set_keepalive_retries(Some(TCP_KEEPALIVE_RETRIES));
    #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
    http.set_tcp_user_timeout(Some(TCP_USER_TIMEOUT));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    let connector = Connector {
        https,
        timeout: config.connect_timeout,
    };
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(connector);
    Ok(Http::Direct(client))
}

/// The reqwest pool (proxies from the environment).
pub(crate) fn proxied_client(config: &Config) -> Result<Http, Error> {
    reqwest::Client::builder()
        .connect_timeout(config.connect_timeout)
        .danger_accept_invalid_certs(config.accept_invalid_certs)
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never())
        .tcp_nodelay(true)
        .build()
        .map(Http::Proxied)
        .map_err(|e| {
            Error::config(format!("cannot build the HTTP client: {}", describe(&e)))
                .with_source(e.without_url())
        })
}

/// Sends `req` with `headers` (moved into the request) and reads the whole response
/// body, all within `limit`: the per-attempt timeout, or what is left of the operation
/// budget when that is shorter (`which` then says [`TimeoutKind::Operation`], `after`
/// the budget).
pub(crate) async fn send(
    http: &Http,
    config: &Config,
    req: &PreparedRequest,
    headers: HeaderMap,
    limit: AttemptLimit,
) -> Result<HttpResponse, Error> {
    // Boxed: hyper's request future is several kilobytes, and inline it would make every
    // SDK call's future (which callers box, spawn and move) that much larger to copy.
    let exchange: Pin<Box<dyn Future<Output = Result<HttpResponse, Error>> + Send + '_>> =
        match http {
            Http::Direct(client) => Box::pin(send_direct(client, config, req, headers)),
            Http::Proxied(client) => Box::pin(send_proxied(client, config, req, headers)),
        };
    match tokio::time::timeout(limit.duration, exchange).await {
        Ok(result) => result,
        Err(_elapsed) => Err(Error::timeout(limit.which, limit.reported)),
    }
}

async fn send_direct(
    client: &hyper_util::client::legacy::Client<Connector, Full<Bytes>>,
    config: &Config,
    req: &PreparedRequest,
    headers: HeaderMap,
) -> Result<HttpResponse, Error> {
    let mut request = http::Request::new(Full::new(req.body.clone().unwrap_or_default()));
    *request.method_mut() = req.method.to_http();
    *request.uri_mut() = req.uri.clone();
    *request.headers_mut() = headers;
    let resp = client
        .request(request)
        .await
        .map_err(|e| map_hyper(e, config))?;
    let (parts, body) = resp.into_parts();
    let body = read_incoming(body, config.max_response_bytes).await?;
    Ok(HttpResponse {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    })
}

async fn send_proxied(
    client: &reqwest::Client,
    config: &Config,
    req: &PreparedRequest,
    headers: HeaderMap,
) -> Result<HttpResponse, Error> {
    let mut builder = client
        .request(req.method.to_http(), req.uri.to_string())
        .headers(headers);
    if let Some(body) = &req.body {
        builder = builder.body(body.clone());
    }
    let mut resp = builder.send().await.map_err(|e| map_reqwest(e, config))?;
    let status = resp.status().as_u16();
    let headers = std::mem::take(resp.headers_mut());
    let limit = config.max_response_bytes;
    if resp.content_length().unwrap_or(0) > limit as u64 {
        return Err(too_large(limit));
    }
    let mut body = Collector::new(resp.content_length().unwrap_or(0), limit);
    while let Some(chunk) = resp.chunk().await.map_err(|e| map_reqwest(e, config))? {
        body.push(chunk)?;
    }
    Ok(HttpResponse {
        status,
        headers,
        body: body.finish(),
    })
}

/// How long one attempt may take, and which timeout to report when it does not finish.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AttemptLimit {
    /// Time allowed for the attempt.
    pub(crate) duration: Duration,
    /// The timeout named in the error.
    pub(crate) which: TimeoutKind,
    /// The configured duration named in the error.
    pub(crate) reported: Duration,
}

fn too_large(limit: usize) -> Error {
    Error::transport(
        true,
        format!("response body exceeds the limit of {limit} bytes"),
    )
    .permanent()
}

/// Reads a hyper body whole, refusing more than `limit` bytes (declared or received).
async fn read_incoming(mut body: Incoming, limit: usize) -> Result<Bytes, Error> {
    let declared = body.size_hint().exact().unwrap_or(0);
    if declared > limit as u64 {
        return Err(too_large(limit));
    }
    let mut out = Collector::new(declared, limit);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            Error::transport(
                true,
                format!("request or response body error: {}", describe(&e)),
            )
            .with_source(e)
        })?;
        if let Ok(data) = frame.into_data() {
            out.push(data)?;
        }
    }
    Ok(out.finish())
}

/// A response body being received: the first chunk kept as it is (no copy when the
/// body comes in one piece), later ones appended to a buffer.
struct Collector {
    first: Option<Bytes>,
    rest: Option<BytesMut>,
    len: usize,
    declared: u64,
    limit: usize,
}

impl Collector {
    fn new(declared: u64, limit: usize) -> Self {
        Collector {
            first: None,
            rest: None,
            len: 0,
            declared,
            limit,
        }
    }

    fn push(&mut self, chunk: Bytes) -> Result<(), Error> {
        if chunk.is_empty() {
            return Ok(());
        }
        if self.len.saturating_add(chunk.len()) > self.limit {
            return Err(too_large(self.limit));
        }
        self.len += chunk.len();
        match (&mut self.first, &mut self.rest) {
            (None, _) => self.first = Some(chunk),
            (Some(first), rest) => {
                let buf = rest.get_or_insert_with(|| {
                    // The declared length (capped: it is the server's word) or what has come.
                    let declared = usize::try_from(self.declared).unwrap_or(usize::MAX);
                    let cap = declared.min(1 << 20).max(first.len() + chunk.len());
                    let mut b = BytesMut::with_capacity(cap);
                    b.extend_from_slice(first);
                    b
                });
                buf.extend_from_slice(&chunk);
            }
        }
        Ok(())
    }

    fn finish(self) -> Bytes {
        match (self.first, self.rest) {
            (_, Some(buf)) => buf.freeze(),
            (Some(first), None) => first,
            (None, None) => Bytes::new(),
        }
    }
}

/// The connector: TCP (+ TLS for `https`), the whole of it bounded by the connect timeout.
#[derive(Clone)]
pub(crate) struct Connector {
    https: HttpsConnector<HttpConnector>,
    timeout: Duration,
}

type Connecting = Pin<Box<dyn Future<Output = Result<Conn, BoxError>> + Send>>;
type Conn = MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;

impl tower_service::Service<Uri> for Connector {
    type Response = Conn;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.https.poll_ready(cx)
    }

    fn call(&mut self, dst: Uri) -> Connecting {
        let connecting = self.https.call(dst);
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(result) => result,
                Err(_) => Err(Box::new(ConnectTimedOut) as BoxError),
            }
        })
    }
}

/// The connect timeout elapsed (TCP connect and TLS handshake together).
#[derive(Debug)]
struct ConnectTimedOut;

impl fmt::Display for ConnectTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connect timed out")
    }
}

impl StdError for ConnectTimedOut {}

/// Accepts every certificate (`danger_accept_invalid_certs`).
#[derive(Debug)]
struct NoVerifier(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerifier {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Whether `e` or one of its causes is a timeout.
fn timed_out(e: &(dyn StdError + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<ConnectTimedOut>()
            || err
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Classifies a hyper-util client error: connect failures (the request never left)
/// against everything after.
fn map_hyper(e: hyper_util::client::legacy::Error, config: &Config) -> Error {
    if e.is_connect() {
        if timed_out(&e) {
            return Error::timeout(TimeoutKind::Connect, config.connect_timeout).with_source(e);
        }
        let message = format!("error sending request: {}", describe(&e));
        return Error::transport(false, message).with_source(e);
    }
    let message = format!("error sending request: {}", describe(&e));
    Error::transport(true, message).with_source(e)
}

/// Classifies a `reqwest` error. The URL (which may carry credentials in
/// the query) is stripped before the error is kept or printed.
fn map_reqwest(e: reqwest::Error, config: &Config) -> Error {
    let e = e.without_url();
    if e.is_timeout() {
        let (which, after) = if e.is_connect() {
            (TimeoutKind::Connect, config.connect_timeout)
        } else {
            (TimeoutKind::Request, config.request_timeout)
        };
        return Error::timeout(which, after).with_source(e);
    }
    let possibly_sent = !e.is_connect() && !e.is_builder();
    Error::transport(possibly_sent, describe(&e)).with_source(e)
}

/// The error and its causes, `": "`-joined, without repeats.
fn describe(e: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_variables() {
        assert!(!proxy_configured(|_| None));
        assert!(!proxy_configured(
            |k| (k == "HTTPS_PROXY").then(|| " ".into())
        ));
        assert!(proxy_configured(|k| {
            (k == "https_proxy").then(|| "http://proxy:3128".into())
        }));
        assert!(proxy_configured(|k| {
            (k == "ALL_PROXY").then(|| "socks5://proxy".into())
        }));
        // NO_PROXY alone configures no proxy.
        assert!(!proxy_configured(|k| (k == "NO_PROXY").then(|| "*".into())));
    }

    #[test]
    fn collector_limits_and_joins() {
        let mut c = Collector::new(0, 10);
        c.push(Bytes::from_static(b"abcd")).unwrap();
        c.push(Bytes::new()).unwrap();
        c.push(Bytes::from_static(b"efgh")).unwrap();
        assert!(c.push(Bytes::from_static(b"ijk")).is_err());
        let mut c = Collector::new(8, 10);
        c.push(Bytes::from_static(b"abcd")).unwrap();
        c.push(Bytes::from_static(b"efgh")).unwrap();
        assert_eq!(&c.finish()[..], b"abcdefgh");
        let mut c = Collector::new(4, 4);
        c.push(Bytes::from_static(b"abcd")).unwrap();
        assert_eq!(&c.finish()[..], b"abcd");
        // A first chunk larger than the preallocation cap, with a small declared length.
        let big = Bytes::from(vec![b'a'; (1 << 20) + 10]);
        let mut c = Collector::new(3, usize::MAX);
        c.push(big.clone()).unwrap();
        c.push(Bytes::from_static(b"b")).unwrap();
        assert_eq!(c.finish().len(), big.len() + 1);
        assert!(Collector::new(0, 0).finish().is_empty());
    }

    #[test]
    fn timeouts_are_found_in_the_chain() {
        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "slow");
        assert!(timed_out(&io));
        assert!(timed_out(&ConnectTimedOut));
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "no");
        assert!(!timed_out(&refused));
    }
}
