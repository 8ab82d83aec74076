//! Signature mode of the classic ESB (PROTOCOL.md 1, "Signature mode").
//!
//! String to sign: `METHOD + path + "?" + "&".join(f"{k}={v}" for k in sorted(params))`,
//! where `params` are the query parameters without `bk_signature`, plus `data=<raw body>` for
//! POST; values are raw (URL-decoded). Signature: base64(HMAC-SHA1(app_secret, string)).
//!
//! Beyond the real ESB, the simulator rejects a replayed `bk_nonce` ([`NonceCache`]).

use std::collections::{BTreeMap, HashMap};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Seconds a signed request stays valid after its `bk_timestamp`.
pub const MAX_AGE_SECS: i64 = 300;

/// The string to sign for a request.
///
/// `query` holds the decoded query parameters (the last value of a repeated key wins, as in
/// Django's `QueryDict.dict()`); `bk_signature` is skipped. `body` is the raw body of a POST
/// (`None` for GET).
pub fn string_to_sign(
    method: &str,
    path: &str,
    query: &[(String, String)],
    body: Option<&[u8]>,
) -> String {
    let mut params: BTreeMap<&str, String> = BTreeMap::new();
    for (k, v) in query {
        if k != "bk_signature" {
            params.insert(k, v.clone());
        }
    }
    if let Some(body) = body {
        params.insert("data", String::from_utf8_lossy(body).into_owned());
    }
    let joined: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{method}{path}?{}", joined.join("&"))
}

fn mac(secret: &str, message: &str) -> Hmac<Sha1> {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha1>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(message.as_bytes());
    mac
}

/// base64(HMAC-SHA1(secret, message)), as a client sends it in `bk_signature`.
pub fn sign(secret: &str, message: &str) -> String {
    STANDARD.encode(mac(secret, message).finalize().into_bytes())
}

/// Whether `signature` (base64) is the HMAC of `message`; compared in constant time.
pub fn verify(secret: &str, message: &str, signature: &str) -> bool {
    match STANDARD.decode(signature.trim()) {
        Ok(raw) => mac(secret, message).verify_slice(&raw).is_ok(),
        Err(_) => false,
    }
}

/// Nonces seen per app, each remembered while a request carrying it could still pass the
/// timestamp check (until `max(now, bk_timestamp) + 300 s`).
#[derive(Debug, Default)]
pub struct NonceCache {
    seen: HashMap<(String, u64), i64>,
    last_prune: i64,
}

/// Upper bound on remembered nonces, so a flood of far-future timestamps cannot grow memory
/// without bound; past it the oldest expiries are dropped first.
const MAX_NONCES: usize = 1_000_000;

impl NonceCache {
    /// Records `nonce` for `app`; `false` when it was already used and is still remembered.
    pub fn check_and_insert(&mut self, app: &str, nonce: u64, timestamp: i64, now: i64) -> bool {
        if now != self.last_prune || self.seen.len() >= MAX_NONCES {
            self.seen.retain(|_, expiry| *expiry > now);
            self.last_prune = now;
            if self.seen.len() >= MAX_NONCES {
                let mut expiries: Vec<i64> = self.seen.values().copied().collect();
                expiries.sort_unstable();
                let cut = expiries[expiries.len() / 2];
                self.seen.retain(|_, expiry| *expiry > cut);
            }
        }
        let key = (app.to_string(), nonce);
        if let Some(expiry) = self.seen.get(&key) {
            if *expiry > now {
                return false;
            }
        }
        let expiry = timestamp.max(now).saturating_add(MAX_AGE_SECS);
        self.seen.insert(key, expiry);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_to_sign_sorts_and_adds_data() {
        let q = vec![
            ("bk_timestamp".to_string(), "100".to_string()),
            ("bk_nonce".to_string(), "7".to_string()),
            ("bk_signature".to_string(), "zzz".to_string()),
        ];
        let s = string_to_sign("POST", "/api/c/compapi/v2/cc/x/", &q, Some(b"{\"a\":1}"));
        assert_eq!(
            s,
            "POST/api/c/compapi/v2/cc/x/?bk_nonce=7&bk_timestamp=100&data={\"a\":1}"
        );
        let s = string_to_sign("GET", "/p", &q, None);
        assert_eq!(s, "GET/p?bk_nonce=7&bk_timestamp=100");
    }

    #[test]
    fn sign_and_verify() {
        let sig = sign("secret", "GET/p?a=1");
        assert!(verify("secret", "GET/p?a=1", &sig));
        assert!(!verify("secret", "GET/p?a=2", &sig));
        assert!(!verify("other", "GET/p?a=1", &sig));
        assert!(!verify("secret", "GET/p?a=1", "not base64!!"));
    }

    #[test]
    fn nonce_replay() {
        let mut c = NonceCache::default();
        assert!(c.check_and_insert("app", 1, 1000, 1000));
        assert!(!c.check_and_insert("app", 1, 1000, 1100));
        assert!(c.check_and_insert("other", 1, 1000, 1100));
        // forgotten once the request could no longer pass the timestamp check
        assert!(c.check_and_insert("app", 1, 1000, 1301));
    }
}
