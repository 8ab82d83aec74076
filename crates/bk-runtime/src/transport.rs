//! Sending a [`PreparedRequest`] over HTTP with `reqwest`, enforcing the
//! connect and request timeouts and the response size limit, and mapping
//! every failure to an [`Error`].
//!
//! Redirects are not followed: a redirect to another host would carry the
//! `X-Bkapi-Authorization` header (which `reqwest` does not know to strip)
//! along, and the ESB never redirects API calls. A 3xx is reported as
//! [`ErrorKind::HttpStatus`](crate::ErrorKind::HttpStatus).

use std::error::Error as StdError;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::HeaderMap;

use crate::config::Config;
use crate::error::{Error, TimeoutKind};
use crate::request::PreparedRequest;

/// A received response, body fully read.
#[derive(Debug)]
pub(crate) struct HttpResponse {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// Builds the one connection pool of a client.
pub(crate) fn http_client(config: &Config) -> Result<reqwest::Client, Error> {
    if config.accept_invalid_certs {
        tracing::warn!(
            endpoint = %config.endpoint,
            "TLS certificate verification is disabled (danger_accept_invalid_certs): \
             credentials can be intercepted"
        );
    }
    reqwest::Client::builder()
        .connect_timeout(config.connect_timeout)
        .danger_accept_invalid_certs(config.accept_invalid_certs)
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .build()
        .map_err(|e| {
            Error::config(format!("cannot build the HTTP client: {}", describe(&e)))
                .with_source(e.without_url())
        })
}

/// Sends `req` and reads the whole response body, all within `limit`: the
/// per-attempt timeout, or what is left of the operation budget when that is
/// shorter (`which` then says [`TimeoutKind::Operation`], `after` the budget).
pub(crate) async fn send(
    http: &reqwest::Client,
    config: &Config,
    req: &PreparedRequest,
    limit: AttemptLimit,
) -> Result<HttpResponse, Error> {
    let exchange = async {
        let mut builder = http
            .request(req.method.to_http(), req.url.clone())
            .headers(req.headers.clone());
        if let Some(body) = &req.body {
            builder = builder.body(body.clone());
        }
        let resp = builder.send().await.map_err(|e| map_reqwest(e, config))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = read_body(resp, config).await?;
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    };
    match tokio::time::timeout(limit.duration, exchange).await {
        Ok(result) => result,
        Err(_elapsed) => Err(Error::timeout(limit.which, limit.reported)),
    }
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

async fn read_body(mut resp: reqwest::Response, config: &Config) -> Result<Bytes, Error> {
    let limit = config.max_response_bytes;
    let too_large = || {
        Error::transport(
            true,
            format!("response body exceeds the limit of {limit} bytes"),
        )
        .permanent()
    };
    let declared = resp.content_length().unwrap_or(0);
    if declared > limit as u64 {
        return Err(too_large());
    }
    let mut buf = BytesMut::with_capacity((declared as usize).min(1 << 20));
    while let Some(chunk) = resp.chunk().await.map_err(|e| map_reqwest(e, config))? {
        if buf.len() + chunk.len() > limit {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
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
