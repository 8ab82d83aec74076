//! Credentials on the wire: the three [`AuthMode`]s.
//!
//! The plan is computed once per client and applied to each
//! request by [`crate::request`]:
//!
//! | mode | app credentials | user |
//! |---|---|---|
//! | `Params` | `bk_app_code`, `bk_app_secret` in the query (`GET`) or JSON body (`POST`) | `bk_token` / `bk_username` beside them |
//! | `Header` | `X-Bkapi-Authorization: {"bk_app_code", "bk_app_secret", ...}` | `bk_token` / `bk_username` in the header |
//! | `Signature` | `bk_app_code` with the params; `bk_signature`, `bk_timestamp`, `bk_nonce` in the query | beside `bk_app_code` |
//!
//! An access token is always sent alone, as `X-Bkapi-Authorization: {"access_token": ...}`.
//!
//! Parameter collisions: the app keys always take the configured values; a
//! user key (`bk_token`, `bk_username`) already present in the API
//! parameters is kept, since some APIs take `bk_username` as an argument.

use http::HeaderValue;
use serde_json::{Map, Value};

use crate::config::{AuthMode, Config, UserAuth};
use crate::error::Error;
use crate::meta::Method;
use crate::secret::Secret;
use crate::signature;

/// Name of the gateway / ESB authorization header.
pub const AUTHORIZATION_HEADER: &str = "x-bkapi-authorization";

/// A credential parameter injected into the query or body.
#[derive(Clone)]
struct Param {
    key: &'static str,
    value: Secret,
    /// Overwrite a parameter of the same name set by the caller.
    overwrite: bool,
}

/// Per-client authentication plan.
#[derive(Clone)]
pub(crate) struct Auth {
    header: Option<HeaderValue>,
    params: Vec<Param>,
    signing_secret: Option<Secret>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("header", &self.header.as_ref().map(|_| "***"))
            .field(
                "params",
                &self.params.iter().map(|p| p.key).collect::<Vec<_>>(),
            )
            .field("signed", &self.signing_secret.is_some())
            .finish()
    }
}

impl Auth {
    /// Computes the plan for `config` with the user credentials `user`, in `mode`
    /// (the client's mode for ESB calls, [`AuthMode::Header`] for the API gateway).
    pub(crate) fn new(config: &Config, who: &UserAuth, mode: AuthMode) -> Result<Self, Error> {
        let app = || {
            vec![Param {
                key: "bk_app_code",
                value: Secret::new(config.app_code.clone()),
                overwrite: true,
            }]
        };
        let user = || -> Option<Param> {
            match who {
                UserAuth::BkToken(t) => Some(Param {
                    key: "bk_token",
                    value: t.clone(),
                    overwrite: false,
                }),
                UserAuth::BkUsername(u) => Some(Param {
                    key: "bk_username",
                    value: Secret::new(u.clone()),
                    overwrite: false,
                }),
                UserAuth::AccessToken(_) | UserAuth::None => None,
            }
        };

        if let UserAuth::AccessToken(token) = who {
            let mut obj = Map::new();
            obj.insert("access_token".into(), token.expose().into());
            return Ok(Auth {
                header: Some(header_value(&obj)?),
                params: Vec::new(),
                signing_secret: None,
            });
        }
        Ok(match mode {
            AuthMode::Params => {
                let mut params = app();
                params.push(Param {
                    key: "bk_app_secret",
                    value: config.app_secret.clone(),
                    overwrite: true,
                });
                params.extend(user());
                Auth {
                    header: None,
                    params,
                    signing_secret: None,
                }
            }
            AuthMode::Header => {
                let mut obj = Map::new();
                obj.insert("bk_app_code".into(), config.app_code.clone().into());
                obj.insert(
                    "bk_app_secret".into(),
                    config.app_secret.expose().to_owned().into(),
                );
                if let Some(p) = user() {
                    obj.insert(p.key.into(), p.value.expose().to_owned().into());
                }
                Auth {
                    header: Some(header_value(&obj)?),
                    params: Vec::new(),
                    signing_secret: None,
                }
            }
            AuthMode::Signature => {
                let mut params = app();
                params.extend(user());
                Auth {
                    header: None,
                    params,
                    signing_secret: Some(config.app_secret.clone()),
                }
            }
        })
    }

    /// The `X-Bkapi-Authorization` value to send, if any (marked sensitive).
    pub(crate) fn header(&self) -> Option<&HeaderValue> {
        self.header.as_ref()
    }

    /// Adds the credential parameters to a `GET` query.
    pub(crate) fn add_to_query(&self, query: &mut Vec<(String, String)>) {
        for p in &self.params {
            match query.iter_mut().find(|(k, _)| k == p.key) {
                Some((_, v)) if p.overwrite => *v = p.value.expose().to_owned(),
                Some(_) => {}
                None => query.push((p.key.to_owned(), p.value.expose().to_owned())),
            }
        }
    }

    /// Whether requests carry a signature (signature mode), which differs per request.
    pub(crate) fn signs(&self) -> bool {
        self.signing_secret.is_some()
    }

    /// Whether [`Auth::add_to_body`] adds anything.
    pub(crate) fn has_body_params(&self) -> bool {
        !self.params.is_empty()
    }

    /// Adds the credential parameters to a `POST` body.
    pub(crate) fn add_to_body(&self, body: &mut Map<String, Value>) {
        for p in &self.params {
            if p.overwrite || !body.contains_key(p.key) {
                body.insert(p.key.to_owned(), Value::String(p.value.expose().to_owned()));
            }
        }
    }

    /// In signature mode, appends `bk_timestamp`, `bk_nonce` and
    /// `bk_signature` to `query`; `body` is the raw `POST` body. Does nothing
    /// in the other modes.
    pub(crate) fn sign(
        &self,
        method: Method,
        path: &str,
        query: &mut Vec<(String, String)>,
        body: Option<&str>,
    ) {
        let Some(secret) = &self.signing_secret else {
            return;
        };
        query.retain(|(k, _)| {
            k != signature::TIMESTAMP_KEY
                && k != signature::NONCE_KEY
                && k != signature::SIGNATURE_KEY
        });
        query.push((
            signature::TIMESTAMP_KEY.to_owned(),
            signature::timestamp().to_string(),
        ));
        query.push((
            signature::NONCE_KEY.to_owned(),
            signature::nonce().to_string(),
        ));
        let sig = match body {
            Some(body) => {
                let mut params = query.clone();
                params.push(("data".to_owned(), body.to_owned()));
                signature::sign(secret.expose(), method, path, &params)
            }
            None => signature::sign(secret.expose(), method, path, query),
        };
        query.push((signature::SIGNATURE_KEY.to_owned(), sig));
    }
}

fn header_value(obj: &Map<String, Value>) -> Result<HeaderValue, Error> {
    let text = Value::Object(obj.clone()).to_string();
    let mut v = HeaderValue::from_bytes(text.as_bytes()).map_err(|_| {
        Error::config("credentials contain characters not allowed in an HTTP header")
    })?;
    v.set_sensitive(true);
    Ok(v)
}
