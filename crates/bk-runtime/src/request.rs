//! Turning API parameters into an HTTP request: URL, query, headers, body,
//! credentials.
//!
//! - URL: endpoint + path, `{bk_api_ver}` replaced by `/v2` or ``; for an API
//!   gateway resource, the gateway's base URL + path ([`crate::gateway`]).
//! - `GET` (and `DELETE`): every parameter in the query string; strings as they are,
//!   numbers and booleans in their JSON spelling (`true`/`false`), arrays and
//!   objects as compact JSON, `null` omitted. No body.
//! - `POST` (and `PUT`, `PATCH`): the parameters as a JSON object body,
//!   `Content-Type: application/json`. The query string is empty except for the
//!   signature keys in signature mode.
//! - API gateway resources always carry the credentials in the
//!   `X-Bkapi-Authorization` header, never in parameters or signatures.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use bytes::Bytes;
use http::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT, ACCEPT_LANGUAGE, CONTENT_TYPE, USER_AGENT,
};
use http::Uri;
use serde_json::{Map, Value};
use url::{form_urlencoded, Position, Url};

use crate::auth::{Auth, AUTHORIZATION_HEADER};
use crate::config::Config;
use crate::credentials::AuthState;
use crate::error::Error;
use crate::meta::{Method, Target};

/// `User-Agent` sent with every request.
pub const USER_AGENT_VALUE: &str = concat!("blueking-rs/", env!("CARGO_PKG_VERSION"));

/// Header carrying the language for the ESB.
pub const LANGUAGE_HEADER: &str = "blueking-language";
/// Header routing a call to the test backend.
pub const TEST_ENV_HEADER: &str = "x-use-test-env";

/// A request ready to be sent.
#[derive(Debug)]
pub(crate) struct PreparedRequest {
    pub(crate) method: Method,
    /// The request URI, query included (built without a full URL parse on the ESB path).
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    /// Serialized JSON body (`POST` only).
    pub(crate) body: Option<Bytes>,
}

impl PreparedRequest {
    /// The body as JSON, for (redacted) logging: read back from the bytes, which only
    /// the debug log and failure reports need.
    pub(crate) fn body_json(&self) -> Option<Value> {
        self.body
            .as_ref()
            .and_then(|b| serde_json::from_slice(b).ok())
    }

    /// The URI as a [`Url`], for (redacted) logging; `None` if `url` cannot read it.
    pub(crate) fn url(&self) -> Option<Url> {
        Url::parse(&self.uri.to_string()).ok()
    }
}

/// Headers shared by every request of a client (language, test env,
/// user agent, `Accept: */*` as `reqwest` always sent it, authorization header).
pub(crate) fn base_headers(config: &Config, auth: &Auth) -> Result<HeaderMap, Error> {
    let mut h = HeaderMap::new();
    let lang = HeaderValue::from_str(&config.language)
        .map_err(|_| Error::config("language is not a valid header value"))?;
    h.insert(HeaderName::from_static(LANGUAGE_HEADER), lang.clone());
    h.insert(ACCEPT_LANGUAGE, lang);
    h.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    h.insert(ACCEPT, HeaderValue::from_static("*/*"));
    if config.use_test_env {
        h.insert(
            HeaderName::from_static(TEST_ENV_HEADER),
            HeaderValue::from_static("1"),
        );
    }
    if let Some(v) = auth.header() {
        h.insert(HeaderName::from_static(AUTHORIZATION_HEADER), v.clone());
    }
    Ok(h)
}

/// The `Host` header of requests to `url`: the host, with the port unless it is the
/// scheme's default (what hyper would write, computed once instead of per request).
///
/// Only for `http` URLs: over `https` the server may choose HTTP/2 (ALPN), where the
/// authority travels as `:authority` and a client should not send `Host`; hyper then
/// writes it only if HTTP/1.1 was chosen.
pub(crate) fn host_header(url: &Url) -> Option<HeaderValue> {
    if url.scheme() != "http" {
        return None;
    }
    let host = url.host_str()?;
    let value = match url.port() {
        Some(port) => HeaderValue::from_str(&format!("{host}:{port}")),
        None => HeaderValue::from_str(host),
    };
    value.ok()
}

/// Builds the request for `target` with `params` (a JSON object, or `null`
/// for no parameters).
pub(crate) fn build(
    config: &Config,
    creds: &AuthState,
    uris: &UriCache,
    target: &Target<'_>,
    params: &Value,
) -> Result<PreparedRequest, Error> {
    let empty;
    let params = match params {
        Value::Object(map) => map,
        Value::Null => {
            empty = Map::new();
            &empty
        }
        other => {
            return Err(Error::invalid_request(format!(
                "request parameters must serialize to a JSON object, not {}",
                json_type(other)
            )))
        }
    };
    let (mut headers, auth) = match &target.gateway_base {
        None => (creds.headers.clone(), Some(&creds.auth)),
        Some(_) => (creds.gateway_headers.clone(), None),
    };
    let (mut query, body) = if target.method.has_body() {
        // Serialized from the caller's parameters; copied first only when the
        // credentials travel in the body.
        let text = match auth.filter(|a| a.has_body_params()) {
            Some(auth) => {
                let mut body = params.clone();
                auth.add_to_body(&mut body);
                json_text(&body)
            }
            None => json_text(params),
        };
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        (Vec::new(), Some(text))
    } else {
        let mut query = to_query(params);
        if let Some(auth) = auth {
            auth.add_to_query(&mut query);
        }
        (query, None)
    };
    let signs = auth.is_some_and(Auth::signs);
    let invalid = |e: http::uri::InvalidUri| {
        Error::invalid_request(format!(
            "API path {:?} gives an invalid URL: {e}",
            target.path
        ))
    };
    let uri = match target.static_path {
        // The usual case: a generated API without query parameters and not signed. Its
        // URI is the same for every call of this client.
        Some(path) if query.is_empty() && !signs && target.gateway_base.is_none() => uris
            .get_or_build(path, || {
                esb_location(config, path)?.into_uri(&[]).map_err(invalid)
            })?,
        _ => {
            let location = match &target.gateway_base {
                None => esb_location(config, &target.path)?,
                Some(base) => gateway_location(base, &target.path)?,
            };
            if let Some(auth) = auth {
                auth.sign(target.method, location.path(), &mut query, body.as_deref());
            }
            location.into_uri(&query).map_err(invalid)?
        }
    };
    Ok(PreparedRequest {
        method: target.method,
        uri,
        headers,
        body: body.map(Bytes::from),
    })
}

/// The request URIs of a client's generated APIs without query parameters (nearly all of
/// them: `POST`s, and `GET`s without parameters), built once: they depend only on the
/// client's endpoint and API version. One entry per API path at most.
#[derive(Debug, Default)]
pub(crate) struct UriCache(RwLock<HashMap<(usize, usize), Uri>>);

impl UriCache {
    fn get_or_build(
        &self,
        path: &'static str,
        build: impl FnOnce() -> Result<Uri, Error>,
    ) -> Result<Uri, Error> {
        // A `'static` string's address and length identify it for the life of the process.
        let key = (path.as_ptr() as usize, path.len());
        if let Some(uri) = self
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Ok(uri.clone());
        }
        let uri = build()?;
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, uri.clone());
        Ok(uri)
    }
}

/// A JSON object as compact text (what `Value::to_string` writes).
fn json_text(map: &Map<String, Value>) -> String {
    let mut out = Vec::with_capacity(128);
    // Writing a map of JSON values into a Vec cannot fail.
    if serde_json::to_writer(&mut out, map).is_err() {
        out.clear();
        out.extend_from_slice(b"{}");
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Where a request goes, before its query is added: the URL text up to the end of the
/// path, and where the path starts in it.
#[derive(Debug)]
struct Location {
    text: String,
    path_at: usize,
}

impl Location {
    /// From a parsed URL without query or fragment.
    fn from_url(url: &Url) -> Location {
        Location {
            text: url[..Position::AfterPath].to_owned(),
            path_at: url[..Position::BeforePath].len(),
        }
    }

    /// The path (what a signature signs).
    fn path(&self) -> &str {
        &self.text[self.path_at..]
    }

    /// Appends the form-encoded `query` (the same encoding as `Url::query_pairs_mut`)
    /// and parses the result as a URI.
    fn into_uri(mut self, query: &[(String, String)]) -> Result<Uri, http::uri::InvalidUri> {
        if !query.is_empty() {
            self.text.push('?');
            let start = self.text.len();
            form_urlencoded::Serializer::for_suffix(&mut self.text, start).extend_pairs(query);
        }
        Uri::try_from(self.text)
    }
}

/// `endpoint` + `path` with `{bk_api_ver}` substituted.
///
/// The endpoint was parsed and normalized once, when the client was built: an API path made
/// of plain characters (every generated path, every name the untyped API accepts) is
/// appended as it is. Anything else goes through a full URL parse, which normalizes it
/// as before.
fn esb_location(config: &Config, path: &str) -> Result<Location, Error> {
    const VER: &str = "{bk_api_ver}";
    if !path.starts_with('/') {
        return Err(Error::invalid_request(format!(
            "API path {path:?} must start with '/'"
        )));
    }
    let base = config.endpoint.as_str().trim_end_matches('/');
    let ver = config.api_version.path_segment();
    // One allocation: endpoint, then the path with `{bk_api_ver}` substituted, with room
    // for a short query.
    let mut text = String::with_capacity(base.len() + path.len() + 64);
    text.push_str(base);
    let mut rest = path;
    // A byte search for `{` (a substring search would set up a searcher per call).
    while let Some(at) = rest.find('{') {
        text.push_str(&rest[..at]);
        if rest[at..].starts_with(VER) {
            text.push_str(ver);
            rest = &rest[at + VER.len()..];
        } else {
            text.push('{');
            rest = &rest[at + 1..];
        }
    }
    text.push_str(rest);
    let path = &text[base.len()..];
    if plain_path(path) {
        let prefix = config.endpoint.path().trim_end_matches('/');
        return Ok(Location {
            path_at: base.len() - prefix.len(),
            text,
        });
    }
    let url = Url::parse(&text).map_err(|e| {
        Error::invalid_request(format!("API path {path:?} gives an invalid URL: {e}"))
    })?;
    Ok(Location::from_url(&url))
}

/// Whether `Url::parse` would keep `path` exactly as it is: only unreserved characters
/// and `/`, and no `.` or `..` segment.
fn plain_path(path: &str) -> bool {
    path.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~'))
        && !path.split('/').any(|seg| seg == "." || seg == "..")
}

/// Gateway base URL + resource path (both checked by [`crate::gateway`]).
fn gateway_location(base: &str, path: &str) -> Result<Location, Error> {
    let url = Url::parse(&format!("{base}{path}")).map_err(|e| {
        Error::invalid_request(format!(
            "gateway resource {path:?} gives an invalid URL: {e}"
        ))
    })?;
    Ok(Location::from_url(&url))
}

/// Query pairs for `GET` parameters.
pub(crate) fn to_query(params: &Map<String, Value>) -> Vec<(String, String)> {
    params
        .iter()
        .filter_map(|(k, v)| {
            let s = match v {
                Value::Null => return None,
                Value::String(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                Value::Array(_) | Value::Object(_) => v.to_string(),
            };
            Some((k.clone(), s))
        })
        .collect()
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn query_spelling() {
        let m = json!({"s": "a b", "i": 3, "f": 1.5, "t": true, "n": null, "a": [1, "x"], "o": {"k": 1}});
        let q = to_query(m.as_object().unwrap());
        assert_eq!(
            q,
            vec![
                ("a".to_string(), r#"[1,"x"]"#.to_string()),
                ("f".to_string(), "1.5".to_string()),
                ("i".to_string(), "3".to_string()),
                ("o".to_string(), r#"{"k":1}"#.to_string()),
                ("s".to_string(), "a b".to_string()),
                ("t".to_string(), "true".to_string()),
            ]
        );
    }

    #[test]
    fn host_header_is_what_hyper_would_write() {
        let host =
            |u: &str| host_header(&Url::parse(u).unwrap()).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            host("http://127.0.0.1:8080/esb/").as_deref(),
            Some("127.0.0.1:8080")
        );
        assert_eq!(
            host("http://paas.example.com/").as_deref(),
            Some("paas.example.com")
        );
        assert_eq!(
            host("http://paas.example.com:80/").as_deref(),
            Some("paas.example.com")
        );
        assert_eq!(host("http://[::1]:9000/").as_deref(), Some("[::1]:9000"));
        // Over TLS the server may pick HTTP/2, where `Host` is not sent.
        assert_eq!(host("https://paas.example.com/"), None);
    }

    #[test]
    fn api_version_is_substituted_in_one_pass() {
        let config = crate::ClientBuilder::new()
            .endpoint("http://127.0.0.1:1/prefix/")
            .app_code("a")
            .app_secret("s")
            .build_config()
            .unwrap();
        let loc = esb_location(&config, "/api/c/compapi{bk_api_ver}/cc/x/").unwrap();
        assert_eq!(loc.text, "http://127.0.0.1:1/prefix/api/c/compapi/v2/cc/x/");
        assert_eq!(loc.path(), "/prefix/api/c/compapi/v2/cc/x/");
        // A brace that is not the placeholder is kept, and then percent-encoded by the
        // URL parser like any other reserved character.
        let loc = esb_location(&config, "/a{b}/{bk_api_ver}").unwrap();
        assert_eq!(loc.path(), "/prefix/a%7Bb%7D//v2");
        assert!(esb_location(&config, "no-slash").is_err());
    }

    #[test]
    fn json_text_is_compact_json() {
        let v = json!({"b": [1, "x", null], "a": {"k": 1.5}, "s": "q\"uote"});
        assert_eq!(json_text(v.as_object().unwrap()), v.to_string());
    }
}
