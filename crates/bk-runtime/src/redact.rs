//! Redaction of secrets in everything the runtime may print: request
//! parameters, query strings, headers, `curl` renderings and response
//! snippets echoed back by a server.
//!
//! Two complementary mechanisms:
//! - by key: values under [`SECRET_KEYS`] (at any depth, case-insensitive),
//!   headers in [`SECRET_HEADERS`], and the per-API `ApiMeta::sensitive` paths;
//! - by value: free text from the server (HTML error pages, messages) is
//!   scrubbed of the configured secret values themselves.

use http::{HeaderMap, HeaderValue};
use serde_json::Value;
use url::Url;

use crate::meta::Method;

/// What a redacted value is replaced with.
pub const REDACTED: &str = "***";

/// Parameter keys whose values are always redacted (compared case-insensitively).
pub const SECRET_KEYS: &[&str] = &[
    "bk_app_secret",
    "app_secret",
    "bk_token",
    "access_token",
    "bk_access_token",
    "bk_signature",
    "jwt",
];

/// Header names whose values are always redacted (compared case-insensitively).
pub const SECRET_HEADERS: &[&str] = &[
    "x-bkapi-authorization",
    "x-bkapi-jwt",
    "authorization",
    "cookie",
    "set-cookie",
];

/// Maximum length, in characters, of a response snippet kept in an error.
pub const SNIPPET_MAX_CHARS: usize = 512;

/// Whether `key` is one of [`SECRET_KEYS`].
pub fn is_secret_key(key: &str) -> bool {
    SECRET_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key))
}

/// Whether `name` is one of [`SECRET_HEADERS`].
pub fn is_secret_header(name: &str) -> bool {
    SECRET_HEADERS.iter().any(|k| k.eq_ignore_ascii_case(name))
}

/// Redacts `value` in place: every [`SECRET_KEYS`] entry at any depth, and
/// each dot-separated path of `sensitive` (arrays met on a path are walked
/// element by element).
pub fn redact_json(value: &mut Value, sensitive: &[&str]) {
    redact_keys(value);
    for path in sensitive {
        let segs: Vec<&str> = path.split('.').filter(|s| !s.is_empty()).collect();
        if !segs.is_empty() {
            redact_path(value, &segs);
        }
    }
}

fn redact_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_secret_key(k) {
                    *v = Value::String(REDACTED.to_owned());
                } else {
                    redact_keys(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_keys),
        _ => {}
    }
}

fn redact_path(value: &mut Value, segs: &[&str]) {
    match value {
        Value::Object(map) => {
            if let Some(v) = map.get_mut(segs[0]) {
                if segs.len() == 1 {
                    *v = Value::String(REDACTED.to_owned());
                } else {
                    redact_path(v, &segs[1..]);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact_path(v, segs)),
        _ => {}
    }
}

/// Redacts query pairs: [`SECRET_KEYS`] and any pair whose key is the first
/// segment of a `sensitive` path (the whole value, which for nested
/// parameters is a JSON text).
pub fn redact_query(pairs: &[(String, String)], sensitive: &[&str]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| {
            let hit = is_secret_key(k)
                || sensitive
                    .iter()
                    .any(|p| p.split('.').next() == Some(k.as_str()));
            let v = if hit { REDACTED.to_owned() } else { v.clone() };
            (k.clone(), v)
        })
        .collect()
}

/// A copy of `url` with its query redacted by [`redact_query`].
pub fn redact_url(url: &Url, sensitive: &[&str]) -> Url {
    let mut out = url.clone();
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        out.query_pairs_mut()
            .clear()
            .extend_pairs(redact_query(&pairs, sensitive));
    }
    out
}

/// A copy of `headers` with [`SECRET_HEADERS`] and headers marked sensitive redacted.
pub fn redact_headers(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let v = if value.is_sensitive() || is_secret_header(name.as_str()) {
            HeaderValue::from_static(REDACTED)
        } else {
            value.clone()
        };
        out.append(name.clone(), v);
    }
    out
}

/// Renders a request as a `curl` command line, with every secret redacted.
///
/// `body` is the JSON body of a `POST` (before serialization).
///
/// ```
/// use bk_runtime::{redact::to_curl, Method};
/// let url = url::Url::parse("http://h/api/?bk_app_secret=s&a=1").unwrap();
/// let mut headers = http::HeaderMap::new();
/// headers.insert("x-bkapi-authorization", http::HeaderValue::from_static("{\"bk_app_secret\":\"s\"}"));
/// let curl = to_curl(Method::Get, &url, &headers, None, &[]);
/// assert_eq!(curl, "curl -X GET 'http://h/api/?bk_app_secret=***&a=1' -H 'x-bkapi-authorization: ***'");
/// ```
pub fn to_curl(
    method: Method,
    url: &Url,
    headers: &HeaderMap,
    body: Option<&Value>,
    sensitive: &[&str],
) -> String {
    let mut out = format!(
        "curl -X {method} {}",
        shell_quote(redact_url(url, sensitive).as_str())
    );
    for (name, value) in &redact_headers(headers) {
        let v = String::from_utf8_lossy(value.as_bytes());
        out.push_str(" -H ");
        out.push_str(&shell_quote(&format!("{name}: {v}")));
    }
    if let Some(body) = body {
        let mut body = body.clone();
        redact_json(&mut body, sensitive);
        out.push_str(" --data-raw ");
        out.push_str(&shell_quote(&body.to_string()));
    }
    out
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Replaces every occurrence of the given secret values in `text` by [`REDACTED`].
/// Values shorter than 4 characters are ignored (they would shred the text and
/// are not worth protecting).
pub(crate) fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for s in secrets {
        if s.len() >= 4 && out.contains(s) {
            out = out.replace(s, REDACTED);
        }
    }
    out
}

/// A short, redacted, length-bounded rendering of a response body.
pub(crate) fn snippet(body: &[u8], secrets: &[&str]) -> String {
    // JSON bodies: redact by key first, so secrets of any length disappear.
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(mut v) => {
            redact_json(&mut v, &[]);
            v.to_string()
        }
        Err(_) => {
            // Look at a bounded prefix only; 4 bytes per char at most.
            let end = body.len().min(SNIPPET_MAX_CHARS * 4 + 64);
            String::from_utf8_lossy(&body[..end]).into_owned()
        }
    };
    truncate_chars(scrub(text.trim(), secrets), SNIPPET_MAX_CHARS)
}

/// Cuts `s` to at most `max` characters, marking the cut with `…`.
pub(crate) fn truncate_chars(mut s: String, max: usize) -> String {
    if let Some((idx, _)) = s.char_indices().nth(max) {
        s.truncate(idx);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_keys_and_paths() {
        let mut v = json!({
            "bk_app_code": "app",
            "BK_APP_SECRET": "s1",
            "nested": {"bk_token": "t", "ok": 1},
            "list": [{"access_token": "a", "pw": "p"}, {"pw": "q"}],
            "cfg": {"password": "x", "keep": true}
        });
        redact_json(&mut v, &["list.pw", "cfg.password", "missing.path"]);
        assert_eq!(
            v,
            json!({
                "bk_app_code": "app",
                "BK_APP_SECRET": "***",
                "nested": {"bk_token": "***", "ok": 1},
                "list": [{"access_token": "***", "pw": "***"}, {"pw": "***"}],
                "cfg": {"password": "***", "keep": true}
            })
        );
    }

    #[test]
    fn query_and_url() {
        let url = Url::parse("http://h/p/?a=1&bk_signature=sig&password=%7B%7D").unwrap();
        let r = redact_url(&url, &["password.x"]);
        assert_eq!(r.as_str(), "http://h/p/?a=1&bk_signature=***&password=***");
        let no_query = Url::parse("http://h/p/").unwrap();
        assert_eq!(redact_url(&no_query, &[]).as_str(), "http://h/p/");
    }

    #[test]
    fn curl_post() {
        let url = Url::parse("http://h/p/").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        let mut secret = HeaderValue::from_static("x");
        secret.set_sensitive(true);
        headers.insert("x-custom", secret);
        let body = json!({"bk_app_secret": "s", "note": "it's"});
        let c = to_curl(Method::Post, &url, &headers, Some(&body), &[]);
        assert_eq!(
            c,
            r#"curl -X POST 'http://h/p/' -H 'content-type: application/json' -H 'x-custom: ***' --data-raw '{"bk_app_secret":"***","note":"it'\''s"}'"#
        );
    }

    #[test]
    fn snippets_are_scrubbed_and_bounded() {
        let s = snippet(b"<html>echo mysecretvalue</html>", &["mysecretvalue"]);
        assert_eq!(s, "<html>echo ***</html>");
        let s = snippet(br#"{"bk_app_secret":"x","m":1}"#, &[]);
        assert_eq!(s, r#"{"bk_app_secret":"***","m":1}"#);
        let long = "é".repeat(5000);
        let s = snippet(long.as_bytes(), &[]);
        assert_eq!(s.chars().count(), SNIPPET_MAX_CHARS + 1);
        // invalid UTF-8 and a cut in the middle of a char do not panic
        let mut bytes = vec![0xff, 0xfe];
        bytes.extend_from_slice(long.as_bytes());
        let _ = snippet(&bytes, &[]);
    }
}
