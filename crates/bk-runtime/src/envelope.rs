//! The BlueKing response envelope
//! `{"result", "code", "message", "data", "request_id", "permission"}` and
//! its classification into [`RawResponse`] or [`Error`].
//!
//! Parsing is lenient where servers differ and strict nowhere it matters:
//! `code` may be an integer, an integral float or a numeric string; `message`
//! and `request_id` may be missing or `null`; a body without `result` falls
//! back to `code == 0`. Anything that is not a JSON object with `result` or
//! `code` is [`ErrorKind::NonJson`]. No server input can make this module panic.

use http::HeaderMap;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::error::{Error, ErrorKind};
use crate::redact;
use crate::transport::HttpResponse;

/// Request id header set by the API gateway.
pub const REQUEST_ID_HEADER: &str = "x-bkapi-request-id";
/// Generic request id header.
pub const FALLBACK_REQUEST_ID_HEADER: &str = "x-request-id";
/// Gateway error code header.
pub const ERROR_CODE_HEADER: &str = "x-bkapi-error-code";
/// Gateway error message header.
pub const ERROR_MESSAGE_HEADER: &str = "x-bkapi-error-message";
/// Standard back-off hint (seconds; an HTTP date is not understood and ignored).
pub const RETRY_AFTER_HEADER: &str = "retry-after";
/// Gateway rate-limit header: seconds until the limit window resets.
pub const RATE_LIMIT_RESET_HEADER: &str = "x-bkapi-ratelimit-reset";

/// Values of `X-Bkapi-RateLimit-Reset` above this are read as a Unix time, not a delay.
const EPOCH_THRESHOLD_SECS: u64 = 1_000_000_000;

/// Longest server message kept, in characters.
const MESSAGE_MAX_CHARS: usize = 2048;

/// A decoded envelope whose `data` is left as raw JSON.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// HTTP status of the response (2xx).
    pub http_status: u16,
    /// Request id from the body, else from the `X-Bkapi-Request-Id` / `X-Request-Id` headers.
    pub request_id: Option<String>,
    /// The envelope `result`.
    pub result: bool,
    /// The envelope `code`; when the server sent none: `0` on success, `-1` on failure.
    pub code: i64,
    /// The envelope `message` (empty when absent).
    pub message: String,
    /// The envelope `data`, untouched (`null` when absent).
    pub data: Box<RawValue>,
    /// The IAM permission object, when the server sent a non-null one.
    pub permission: Option<Value>,
    code_present: bool,
    retry_after: Option<std::time::Duration>,
}

impl RawResponse {
    /// The [`ErrorKind::Api`] error for a `result: false` envelope, or `None` on success.
    pub(crate) fn api_error(&self) -> Option<Error> {
        if self.result {
            return None;
        }
        Some(
            Error::from_kind(ErrorKind::Api {
                code: self.code_present.then_some(self.code),
                message: self.message.clone(),
                permission: self.permission.clone(),
            })
            .with_http(self.http_status, self.request_id.clone())
            .with_retry_after(self.retry_after),
        )
    }
}

/// The server's back-off hint: `Retry-After` (delta seconds), else
/// `X-Bkapi-RateLimit-Reset` (delta seconds, or a Unix time when very large).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<std::time::Duration> {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    let secs = |name: &str| -> Option<f64> {
        header(headers, name)
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    if let Some(s) = secs(RETRY_AFTER_HEADER) {
        return Some(Duration::from_secs_f64(s.min(86_400.0)));
    }
    let reset = secs(RATE_LIMIT_RESET_HEADER)?;
    if reset >= EPOCH_THRESHOLD_SECS as f64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()?
            .as_secs_f64();
        return Some(Duration::from_secs_f64((reset - now).clamp(0.0, 86_400.0)));
    }
    Some(Duration::from_secs_f64(reset.min(86_400.0)))
}

/// The envelope as sent: `data` is either kept raw (`&RawValue`, the general path) or
/// decoded straight into the caller's type (the one-pass path of [`DataSink`]).
#[derive(Deserialize)]
struct Wire<'a, D> {
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    code: Option<Value>,
    #[serde(default)]
    message: Option<Value>,
    #[serde(default = "Option::default")]
    data: Option<D>,
    #[serde(default)]
    request_id: Option<Value>,
    #[serde(default, borrow)]
    permission: Option<&'a RawValue>,
}

/// The one-pass path of `Client::send`: a success envelope is parsed once, its `data`
/// decoded straight into the caller's type, instead of being kept raw and scanned again.
pub(crate) trait DataSink: Send {
    /// Parses `body` as an envelope whose `data` has the sink's type. For a success
    /// envelope whose data fits, keeps the data and returns `Some` (the envelope, `data`
    /// left `null`); for anything else `None`, and the caller takes the general path,
    /// which classifies failures and reports where data does not fit.
    fn take_success(&mut self, resp: &HttpResponse, secrets: Secrets<'_>) -> Option<RawResponse>;
}

/// A [`DataSink`] keeping a `T`.
pub(crate) struct Typed<T>(pub(crate) Option<T>);

impl<T: DeserializeOwned + Send> DataSink for Typed<T> {
    fn take_success(&mut self, resp: &HttpResponse, secrets: Secrets<'_>) -> Option<RawResponse> {
        if !(200..300).contains(&resp.status) || resp.body.trim_ascii_start().first() != Some(&b'{')
        {
            return None;
        }
        // The whole body checked for UTF-8 at once: cheaper than string by string.
        let text = std::str::from_utf8(&resp.body).ok()?;
        let wire = serde_json::from_str::<Wire<'_, T>>(text).ok()?;
        let raw = wire.into_response(resp, secrets, |ok, data| {
            if ok {
                self.0 = data;
            }
            null_raw()
        })?;
        raw.result.then_some(raw)
    }
}

/// Decodes a response to `T` as [`Client::send`](crate::Client::send) does: one pass for a
/// success envelope, the general path (error classification, then `data` from the kept raw
/// JSON) otherwise. For the benchmarks; no secrets are scrubbed.
#[doc(hidden)]
pub fn decode_response<T: DeserializeOwned + Send>(
    status: u16,
    body: bytes::Bytes,
    one_pass: bool,
) -> Result<T, Error> {
    let resp = HttpResponse {
        status,
        headers: HeaderMap::new(),
        body,
    };
    let none = |_: &mut dyn FnMut(&str)| {};
    let mut sink = Typed::<T>(None);
    let raw = match one_pass.then(|| sink.take_success(&resp, &none)).flatten() {
        Some(raw) => raw,
        None => parse(&resp, &none, false)?,
    };
    if let Some(e) = raw.api_error() {
        return Err(e);
    }
    match sink.0 {
        Some(v) => Ok(v),
        None => decode_data::<T>(&raw.data).map_err(|f| {
            Error::from_kind(ErrorKind::Decode {
                path: f.path,
                message: f.error.to_string(),
            })
        }),
    }
}

/// The envelope's verdict: `result` when it is a boolean, else `code == 0`; `None` when
/// the body has neither (not an envelope).
fn success(result: Option<&Value>, code: Option<i64>) -> Option<bool> {
    match (result, code) {
        (Some(Value::Bool(b)), _) => Some(*b),
        (_, Some(c)) => Some(c == 0),
        _ => None,
    }
}

/// The secrets server text is scrubbed of, handed one by one to the callback (so that
/// nothing is copied when no server text needs scrubbing).
pub(crate) type Secrets<'a> = &'a dyn Fn(&mut dyn FnMut(&str));

/// No secrets (tests).
#[cfg(test)]
pub(crate) fn no_secrets(_: &mut dyn FnMut(&str)) {}

/// Classifies an HTTP response. `secrets` are scrubbed from any server text kept.
///
/// With `plain_json` (API gateway resources), a 2xx JSON body that is not an envelope
/// is a success whose `data` is the whole body.
///
/// Headers are read only where they matter: the request id when the body has none, the
/// gateway error headers and the back-off hint on failures.
pub(crate) fn parse(
    resp: &HttpResponse,
    secrets: Secrets<'_>,
    plain_json: bool,
) -> Result<RawResponse, Error> {
    // Only a JSON object is an envelope (serde would also read a struct from an array).
    let wire = (resp.body.trim_ascii_start().first() == Some(&b'{'))
        .then(|| serde_json::from_slice::<Wire<'_, &RawValue>>(&resp.body).ok())
        .flatten();
    if !(200..300).contains(&resp.status) {
        return Err(status_error(resp, wire, secrets));
    }
    let Some(wire) = wire else {
        return plain(resp, secrets, plain_json);
    };
    match wire.into_response(resp, secrets, |_, data| {
        data.map_or_else(null_raw, |d| d.to_owned())
    }) {
        Some(raw) => Ok(raw),
        None => plain(resp, secrets, plain_json),
    }
}

impl<D> Wire<'_, D> {
    /// The envelope of a 2xx response, `data` turned into the response's by `keep` (told
    /// whether the envelope says success); `None` when the body has neither `result` nor
    /// `code` (not an envelope).
    fn into_response(
        self,
        resp: &HttpResponse,
        secrets: Secrets<'_>,
        keep: impl FnOnce(bool, Option<D>) -> Box<RawValue>,
    ) -> Option<RawResponse> {
        let code = self.code.as_ref().and_then(lenient_code);
        let result = success(self.result.as_ref(), code)?;
        Some(RawResponse {
            http_status: resp.status,
            request_id: self
                .request_id
                .and_then(request_id_text)
                .or_else(|| header_request_id(&resp.headers)),
            result,
            code: code.unwrap_or(if result { 0 } else { -1 }),
            code_present: code.is_some(),
            message: self
                .message
                .and_then(message_text)
                .map(|m| clean_message(m, secrets))
                .unwrap_or_default(),
            data: keep(result, self.data),
            permission: self.permission.and_then(permission_value),
            // Only a failure carries the hint on (`api_error`).
            retry_after: if result {
                None
            } else {
                retry_after(&resp.headers)
            },
        })
    }
}

/// A non-2xx response.
#[cold]
fn status_error(
    resp: &HttpResponse,
    wire: Option<Wire<'_, &RawValue>>,
    secrets: Secrets<'_>,
) -> Error {
    let (body_code, body_message, body_request_id) = match wire {
        Some(w) => (
            w.code.as_ref().and_then(lenient_code),
            w.message
                .and_then(message_text)
                .filter(|m| !m.is_empty())
                .map(|m| clean_message(m, secrets)),
            w.request_id.and_then(request_id_text),
        ),
        None => (None, None, None),
    };
    let request_id = body_request_id.or_else(|| header_request_id(&resp.headers));
    Error::from_kind(ErrorKind::HttpStatus {
        status: resp.status,
        code: gateway_code(&resp.headers).or(body_code),
        message: gateway_message(&resp.headers, secrets).or(body_message),
        snippet: snippet(&resp.body, secrets),
    })
    .with_http(resp.status, request_id)
    .with_retry_after(retry_after(&resp.headers))
}

/// A 2xx body that is not an envelope: the data itself for a gateway resource answering
/// plain JSON, else [`ErrorKind::NonJson`].
#[cold]
fn plain(
    resp: &HttpResponse,
    secrets: Secrets<'_>,
    plain_json: bool,
) -> Result<RawResponse, Error> {
    let request_id = header_request_id(&resp.headers);
    let gw_code = gateway_code(&resp.headers);
    let hint = retry_after(&resp.headers);
    match serde_json::from_slice::<&RawValue>(&resp.body) {
        Ok(raw) if plain_json && gw_code.is_none() => Ok(RawResponse {
            http_status: resp.status,
            request_id,
            result: true,
            code: 0,
            code_present: false,
            message: String::new(),
            data: raw.to_owned(),
            permission: None,
            retry_after: hint,
        }),
        _ => Err(Error::from_kind(ErrorKind::NonJson {
            content_type: header(&resp.headers, "content-type"),
            snippet: snippet(&resp.body, secrets),
            code: gw_code,
            message: gateway_message(&resp.headers, secrets),
        })
        .with_http(resp.status, request_id)
        .with_retry_after(hint)),
    }
}

fn header_request_id(headers: &HeaderMap) -> Option<String> {
    header(headers, REQUEST_ID_HEADER).or_else(|| header(headers, FALLBACK_REQUEST_ID_HEADER))
}

fn gateway_code(headers: &HeaderMap) -> Option<i64> {
    header(headers, ERROR_CODE_HEADER).and_then(|c| lenient_code(&Value::String(c)))
}

fn gateway_message(headers: &HeaderMap, secrets: Secrets<'_>) -> Option<String> {
    header(headers, ERROR_MESSAGE_HEADER).map(|m| clean_message(m, secrets))
}

/// The IAM permission object, unless `null`.
fn permission_value(raw: &RawValue) -> Option<Value> {
    serde_json::from_str::<Value>(raw.get())
        .ok()
        .filter(|p| !p.is_null())
}

/// [`redact::snippet`] with the secrets collected.
fn snippet(body: &[u8], secrets: Secrets<'_>) -> String {
    let mut owned: Vec<String> = Vec::new();
    secrets(&mut |s| owned.push(s.to_owned()));
    let list: Vec<&str> = owned.iter().map(String::as_str).collect();
    redact::snippet(body, &list)
}

/// Decodes `data` into `T`. Plain `serde_json` first; on failure a second pass
/// with `serde_path_to_error` finds the JSON path of the failing field.
pub(crate) fn decode_data<T: DeserializeOwned>(data: &RawValue) -> Result<T, DecodeFailure> {
    match serde_json::from_str::<T>(data.get()) {
        Ok(v) => Ok(v),
        Err(e) => Err(DecodeFailure {
            path: failing_path::<T>(data),
            error: e,
        }),
    }
}

/// Where and why `data` failed to decode.
pub(crate) struct DecodeFailure {
    pub(crate) path: String,
    pub(crate) error: serde_json::Error,
}

#[cold]
#[inline(never)]
fn failing_path<T: DeserializeOwned>(data: &RawValue) -> String {
    let mut de = serde_json::Deserializer::from_str(data.get());
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(_) => ".".to_owned(),
        Err(e) => e.path().to_string(),
    }
}

/// The raw JSON `null`.
pub(crate) fn null_raw() -> Box<RawValue> {
    // `RawValue::NULL` is a `&'static RawValue` holding `null`.
    RawValue::NULL.to_owned()
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// An integer code from a number or numeric string.
pub(crate) fn lenient_code(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().and_then(integral)),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(integral))
        }
        _ => None,
    }
}

/// `f` as an `i64` if it is integral and in range.
pub(crate) fn integral(f: f64) -> Option<i64> {
    // 2^63 is exactly representable; every integral f64 in [-2^63, 2^63) fits.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (f.is_finite() && f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f)).then_some(f as i64)
}

fn message_text(v: Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

fn request_id_text(v: Value) -> Option<String> {
    match v {
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                None
            } else if t.len() == s.len() {
                Some(s)
            } else {
                Some(t.to_owned())
            }
        }
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `m` scrubbed of `secrets` (as [`redact::scrub`] does) and truncated.
fn clean_message(mut m: String, secrets: Secrets<'_>) -> String {
    secrets(&mut |s| {
        // The length test first: `contains` sets up a searcher even for short messages.
        if s.len() >= 4 && m.len() >= s.len() && m.contains(s) {
            m = m.replace(s, redact::REDACTED);
        }
    });
    redact::truncate_chars(m, MESSAGE_MAX_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn resp(status: u16, headers: &[(&'static str, &'static str)], body: &str) -> HttpResponse {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, http::HeaderValue::from_static(v));
        }
        HttpResponse {
            status,
            headers: h,
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn success_envelope() {
        let r = parse(
            &resp(
                200,
                &[],
                r#"{"result":true,"code":"0","message":"","data":{"a":1},"request_id":"abc"}"#,
            ),
            &no_secrets,
            false,
        )
        .unwrap();
        assert!(r.result);
        assert_eq!(r.code, 0);
        assert_eq!(r.data.get(), r#"{"a":1}"#);
        assert_eq!(r.request_id.as_deref(), Some("abc"));
        assert!(r.api_error().is_none());
    }

    #[test]
    fn missing_fields_and_header_request_id() {
        let r = parse(
            &resp(200, &[("x-request-id", "hdr")], r#"{"result":true}"#),
            &no_secrets,
            false,
        )
        .unwrap();
        assert_eq!(r.code, 0);
        assert_eq!(r.data.get(), "null");
        assert_eq!(r.request_id.as_deref(), Some("hdr"));
        let r = parse(
            &resp(200, &[], r#"{"code":0,"data":null,"message":null}"#),
            &no_secrets,
            false,
        )
        .unwrap();
        assert!(r.result);
        assert_eq!(r.message, "");
    }

    #[test]
    fn failure_envelope() {
        let r = parse(
            &resp(
                200,
                &[],
                r#"{"result":false,"code":1199006.0,"message":"bad","permission":{"x":1}}"#,
            ),
            &no_secrets,
            false,
        )
        .unwrap();
        let e = r.api_error().unwrap();
        assert_eq!(e.code(), Some(1199006));
        assert_eq!(e.message(), Some("bad"));
        assert!(e.permission().is_some());
        let r = parse(&resp(200, &[], r#"{"result":false}"#), &no_secrets, false).unwrap();
        assert_eq!(r.code, -1);
        assert_eq!(r.api_error().unwrap().code(), None);
    }

    #[test]
    fn weird_bodies_never_panic() {
        for body in [
            "",
            "null",
            "[]",
            "1",
            "\"x\"",
            "{}",
            "{\"result\":\"yes\"}",
            "{\"code\":\"abc\"}",
            "{\"result\":true,\"code\":1e400}",
            "{\"result\":true,\"data\":",
            "\u{feff}{}",
            "{\"result\":true,\"result\":false}",
        ] {
            let r = parse(&resp(200, &[], body), &no_secrets, false);
            if let Err(e) = &r {
                assert!(
                    matches!(e.kind(), ErrorKind::NonJson { .. }),
                    "{body}: {e:?}"
                );
            }
        }
    }

    #[test]
    fn gateway_plain_json_and_errors() {
        // A resource that does not answer the envelope: the whole body is the data.
        let r = parse(&resp(200, &[], r#"{"users":[1,2]}"#), &no_secrets, true).unwrap();
        assert!(r.result);
        assert_eq!(r.data.get(), r#"{"users":[1,2]}"#);
        let r = parse(&resp(200, &[], "[1,2]"), &no_secrets, true).unwrap();
        assert_eq!(r.data.get(), "[1,2]");
        // Not for ESB calls, nor for non-JSON bodies.
        assert!(parse(&resp(200, &[], r#"{"users":[]}"#), &no_secrets, false).is_err());
        assert!(parse(&resp(200, &[], "<html>"), &no_secrets, true).is_err());
        // Gateway error headers on a non-2xx status.
        let e = parse(
            &resp(
                401,
                &[
                    ("x-bkapi-error-code", "1640102"),
                    ("x-bkapi-error-message", "user verify failed"),
                    ("x-bkapi-request-id", "f00d"),
                ],
                r#"{"code":1640102,"code_name":"USER_VERIFY_FAILED","message":"x","result":false,"data":null}"#,
            ),
            &no_secrets,
            true,
        )
        .unwrap_err();
        assert_eq!(e.code(), Some(1640102));
        assert_eq!(e.http_status(), Some(401));
        assert_eq!(e.message(), Some("user verify failed"));
        assert_eq!(e.request_id(), Some("f00d"));
    }

    #[test]
    fn lenient_codes() {
        use serde_json::json;
        assert_eq!(lenient_code(&json!(5)), Some(5));
        assert_eq!(lenient_code(&json!(5.0)), Some(5));
        assert_eq!(lenient_code(&json!(5.5)), None);
        assert_eq!(lenient_code(&json!(" 12 ")), Some(12));
        assert_eq!(lenient_code(&json!("1e3")), Some(1000));
        assert_eq!(lenient_code(&json!("x")), None);
        assert_eq!(lenient_code(&json!(1e300)), None);
        assert_eq!(lenient_code(&json!(null)), None);
    }

    /// The one-pass path keeps exactly what the general path would give, and hands every
    /// case it does not own (failures, data that does not fit, non-envelopes) back.
    #[test]
    fn typed_sink_takes_only_clean_successes() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct User {
            name: String,
        }
        let ok = resp(
            200,
            &[("x-bkapi-request-id", "hdr")],
            r#"{"code":"0","data":{"name":"ab\u00e9"},"message":"fine","result":true}"#,
        );
        let mut sink = Typed::<User>(None);
        let head = sink.take_success(&ok, &no_secrets).unwrap();
        assert_eq!(
            sink.0,
            Some(User {
                name: "abé".into()
            })
        );
        let general = parse(&ok, &no_secrets, false).unwrap();
        assert_eq!(
            (
                head.result,
                head.code,
                head.message.as_str(),
                head.request_id.as_deref()
            ),
            (true, 0, "fine", Some("hdr"))
        );
        assert_eq!(
            (
                general.result,
                general.code,
                general.message,
                general.request_id
            ),
            (true, 0, "fine".to_owned(), Some("hdr".to_owned()))
        );
        assert_eq!(head.data.get(), "null");

        // `data` null or absent: success, nothing kept (the caller decodes `null`).
        let mut sink = Typed::<User>(None);
        let head = sink.take_success(
            &resp(200, &[], r#"{"result":true,"data":null}"#),
            &no_secrets,
        );
        assert!(head.is_some() && sink.0.is_none());

        for (status, body) in [
            // A failure envelope, whatever its data.
            (
                200,
                r#"{"result":false,"code":1306000,"message":"no","data":null}"#,
            ),
            (200, r#"{"code":5,"data":{"name":"x"}}"#),
            // Data that does not fit: the general path reports where.
            (200, r#"{"result":true,"data":{"name":3}}"#),
            // Not an envelope, not JSON, not UTF-8, not 2xx.
            (200, r#"{"name":"x"}"#),
            (200, "<html>"),
            (502, r#"{"result":true,"data":{"name":"x"}}"#),
        ] {
            let mut sink = Typed::<User>(None);
            assert!(
                sink.take_success(&resp(status, &[], body), &no_secrets)
                    .is_none(),
                "{status} {body}"
            );
            assert!(sink.0.is_none(), "{body}");
        }
    }

    #[test]
    fn typed_sink_leaves_non_utf8_to_the_general_path() {
        let mut r = resp(200, &[], "");
        r.body = Bytes::from_static(b"{\"result\":true,\"data\":\"\xff\"}");
        let mut sink = Typed::<String>(None);
        assert!(sink.take_success(&r, &no_secrets).is_none());
        assert!(sink.0.is_none());
    }

    #[test]
    fn typed_sink_scrubs_the_message() {
        let secrets = |f: &mut dyn FnMut(&str)| f("s3cr3t-value");
        let body = r#"{"result":true,"message":"ok s3cr3t-value","data":1}"#;
        let mut sink = Typed::<i64>(None);
        let head = sink.take_success(&resp(200, &[], body), &secrets).unwrap();
        assert_eq!(sink.0, Some(1));
        assert!(!head.message.contains("s3cr3t-value"), "{}", head.message);
    }

    #[test]
    fn decode_response_agrees_in_one_and_two_passes() {
        let ok = Bytes::from_static(br#"{"result":true,"code":0,"data":{"a":[1,2]}}"#);
        for one_pass in [true, false] {
            let v: serde_json::Value = decode_response(200, ok.clone(), one_pass).unwrap();
            assert_eq!(v, serde_json::json!({"a": [1, 2]}));
            let bad = Bytes::from_static(br#"{"result":false,"code":1306000,"message":"no"}"#);
            let e = decode_response::<serde_json::Value>(200, bad, one_pass).unwrap_err();
            assert_eq!(e.code(), Some(1306000));
            let e = decode_response::<Vec<i64>>(200, ok.clone(), one_pass).unwrap_err();
            assert!(matches!(e.kind(), ErrorKind::Decode { .. }), "{e}");
        }
    }
}
