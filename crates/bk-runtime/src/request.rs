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
    /// The same body before serialization, kept for redacted logging.
    pub(crate) body_json: Option<Value>,
}

impl PreparedRequest {
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

/// Builds the request for `target` with `params` (a JSON object, or `null`
/// for no parameters).
pub(crate) fn build(
    config: &Config,
    creds: &AuthState,
    target: &Target<'_>,
    params: Value,
) -> Result<PreparedRequest, Error> {
    let params = match params {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => {
            return Err(Error::invalid_request(format!(
                "request parameters must serialize to a JSON object, not {}",
                json_type(&other)
            )))
        }
    };
    let (location, mut headers, auth) = match &target.gateway_base {
        None => (
            esb_location(config, &target.path)?,
            creds.headers.clone(),
            Some(&creds.auth),
        ),
        Some(base) => (
            gateway_location(base, &target.path)?,
            creds.gateway_headers.clone(),
            None,
        ),
    };
    let (query, body, body_json) = if target.method.has_body() {
        let mut body = params;
        if let Some(auth) = auth {
            auth.add_to_body(&mut body);
        }
        let body = Value::Object(body);
        let text = body.to_string();
        let mut query = Vec::new();
        if let Some(auth) = auth {
            auth.sign(target.method, location.path(), &mut query, Some(&text));
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        (query, Some(Bytes::from(text)), Some(body))
    } else {
        let mut query = to_query(&params);
        if let Some(auth) = auth {
            auth.add_to_query(&mut query);
            auth.sign(target.method, location.path(), &mut query, None);
        }
        (query, None, None)
    };
    let uri = location.into_uri(&query).map_err(|e| {
        Error::invalid_request(format!(
            "API path {:?} gives an invalid URL: {e}",
            target.path
        ))
    })?;
    Ok(PreparedRequest {
        method: target.method,
        uri,
        headers,
        body,
        body_json,
    })
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
    let owned;
    let path = if path.contains(VER) {
        owned = path.replace(VER, config.api_version.path_segment());
        owned.as_str()
    } else {
        path
    };
    if !path.starts_with('/') {
        return Err(Error::invalid_request(format!(
            "API path {path:?} must start with '/'"
        )));
    }
    let base = config.endpoint.as_str().trim_end_matches('/');
    if plain_path(path) {
        let prefix = config.endpoint.path().trim_end_matches('/');
        let mut text = String::with_capacity(base.len() + path.len() + 64);
        text.push_str(base);
        text.push_str(path);
        return Ok(Location {
            path_at: base.len() - prefix.len(),
            text,
        });
    }
    let url = Url::parse(&format!("{base}{path}")).map_err(|e| {
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
}
