//! ESB signature mode (`bk_signature`).
//!
//! The string to sign is
//! `METHOD + path + "?" + "&".join(f"{k}={v}" for k in sorted(params))`,
//! where `params` are the query parameters without `bk_signature` and, for
//! `POST`, also `data=<raw JSON body>`. Values are raw, not URL-encoded. The
//! signature is `base64(HMAC-SHA1(app_secret, string))`, sent as the query
//! parameter `bk_signature` with `bk_timestamp` (unix seconds) and `bk_nonce`
//! (random integer in `1..=2^31-1`).

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::Rng as _;
use sha1::Sha1;

use crate::meta::Method;

/// Query key of the signature.
pub const SIGNATURE_KEY: &str = "bk_signature";
/// Query key of the timestamp.
pub const TIMESTAMP_KEY: &str = "bk_timestamp";
/// Query key of the nonce.
pub const NONCE_KEY: &str = "bk_nonce";

/// The exact text that is signed. Pairs are sorted by key (byte order, which
/// is Python's code point order); pairs named `bk_signature` are skipped.
pub fn string_to_sign(method: Method, path: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> =
        params.iter().filter(|(k, _)| k != SIGNATURE_KEY).collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::with_capacity(
        method.as_str().len()
            + path.len()
            + 1
            + sorted
                .iter()
                .map(|(k, v)| k.len() + v.len() + 2)
                .sum::<usize>(),
    );
    out.push_str(method.as_str());
    out.push_str(path);
    out.push('?');
    for (i, (k, v)) in sorted.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Computes `base64(HMAC-SHA1(secret, string_to_sign(method, path, params)))`.
///
/// For `POST`, `params` must include `("data", <raw body>)`.
pub fn sign(secret: &str, method: Method, path: &str, params: &[(String, String)]) -> String {
    let text = string_to_sign(method, path, params);
    // HMAC accepts keys of any length: `new_from_slice` cannot fail.
    let mut mac = match Hmac::<Sha1>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(text.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Current unix time in seconds (0 if the clock is before 1970).
pub(crate) fn timestamp() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A random nonce in `1..=2^31-1`.
pub(crate) fn nonce() -> u32 {
    rand::rng().random_range(1..=i32::MAX as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn string_to_sign_sorts_and_skips_signature() {
        let s = string_to_sign(
            Method::Get,
            "/api/c/compapi/v2/cc/search_business/",
            &p(&[("b", "2"), ("bk_signature", "x"), ("a", "1 2"), ("B", "3")]),
        );
        assert_eq!(s, "GET/api/c/compapi/v2/cc/search_business/?B=3&a=1 2&b=2");
        assert_eq!(string_to_sign(Method::Post, "/p/", &[]), "POST/p/?");
    }

    // Vectors computed independently with Python:
    // python3 -c 'import hmac,hashlib,base64;print(base64.b64encode(hmac.new(b"my-secret",
    //   b"GET/api/c/compapi/v2/cc/search_business/?bk_app_code=my-app&bk_nonce=12345&bk_timestamp=1700000000&bk_username=admin&fields=[\"bk_biz_id\"]",
    //   hashlib.sha1).digest()).decode())'
    #[test]
    fn sign_get_vector() {
        let sig = sign(
            "my-secret",
            Method::Get,
            "/api/c/compapi/v2/cc/search_business/",
            &p(&[
                ("bk_username", "admin"),
                ("fields", r#"["bk_biz_id"]"#),
                ("bk_app_code", "my-app"),
                ("bk_timestamp", "1700000000"),
                ("bk_nonce", "12345"),
            ]),
        );
        assert_eq!(sig, GET_VECTOR);
    }

    // python3 -c 'import hmac,hashlib,base64;print(base64.b64encode(hmac.new(b"my-secret",
    //   b"POST/api/c/compapi/v2/cc/list_biz_hosts_topo/?bk_nonce=42&bk_timestamp=1700000000&data={\"bk_app_code\":\"my-app\",\"bk_biz_id\":3}",
    //   hashlib.sha1).digest()).decode())'
    #[test]
    fn sign_post_vector() {
        let sig = sign(
            "my-secret",
            Method::Post,
            "/api/c/compapi/v2/cc/list_biz_hosts_topo/",
            &p(&[
                ("bk_timestamp", "1700000000"),
                ("bk_nonce", "42"),
                ("data", r#"{"bk_app_code":"my-app","bk_biz_id":3}"#),
            ]),
        );
        assert_eq!(sig, POST_VECTOR);
    }

    const GET_VECTOR: &str = "XfHBXBQer75z3XX5ChuM4mA+fUM=";
    const POST_VECTOR: &str = "fN978IQaw9IcF+qr18IeDZE5oVo=";

    #[test]
    fn nonce_in_range() {
        for _ in 0..1000 {
            let n = nonce();
            assert!((1..=2_147_483_647).contains(&n));
        }
        assert!(timestamp() > 1_700_000_000);
    }
}
