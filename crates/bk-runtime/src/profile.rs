//! Config-file profiles: named sets of settings in a TOML file, shared by scripts
//! ([`ClientBuilder::from_profile`], [`ClientBuilder::from_default_sources`]) and the `bk`
//! command line (which writes them with `bk configure`).
//!
//! # The file
//!
//! `$BK_CONFIG_FILE`, else `$XDG_CONFIG_HOME/blueking/config.toml`, else
//! `~/.config/blueking/config.toml` ([`config_path`]):
//!
//! ```toml
//! default_profile = "prod"   # optional; else "default"
//!
//! [profiles.prod]
//! endpoint = "https://paas.example.com"        # BK_COMPONENT_API_URL
//! app_code = "my-app"                          # BK_APP_CODE
//! app_secret = "..."                           # BK_APP_SECRET
//! username = "admin"                           # BK_USERNAME; or bk_token / access_token
//! api_version = "v2"                           # v2 (default) or v1
//! auth_mode = "header"                         # header (default), params or signature
//! language = "en"                              # BK_LANGUAGE
//! use_test_env = false                         # BK_API_USE_TEST_ENV
//! gateway_url_template = "https://bkapi.example.com/api/{api_name}"   # BK_API_URL_TMPL
//! # gateway_stage_url_template = "https://{stage}-{api_name}.example.com"  # BK_API_STAGE_URL_TMPL
//! default_stage = "prod"
//!
//! [profiles.prod.stage_mappings]               # BK_API_DEFAULT_STAGE_MAPPINGS
//! bk-user = "test"
//! ```
//!
//! Every key is optional. Unknown keys are errors (with a "did you mean"), so a typo never
//! silently drops a setting. Errors name the file, the profile and the key, never a value
//! of a secret key (`app_secret`, `bk_token`, `access_token`). The file holds secrets:
//! [`ProfileFile::save`] writes it readable by its owner only.
//!
//! # Which profile
//!
//! The one named by the caller (`--profile`, [`ClientBuilder::from_profile`]`(Some(..))`),
//! else `$BK_PROFILE`, else the file's `default_profile`, else `default`. A profile named in
//! any of the first three ways must exist; a missing `default` is an empty profile for
//! [`ClientBuilder::from_default_sources`] (and an error for
//! [`ClientBuilder::from_profile`], which is asked for a profile).
//!
//! # Order
//!
//! [`ClientBuilder::from_default_sources`]: defaults < profile < environment variables
//! (each variable that is set overrides the profile's value; a user variable replaces the
//! profile's user whatever its kind) < builder methods called afterwards.
//!
//! ```no_run
//! # fn main() -> Result<(), bk_runtime::Error> {
//! let prod = bk_runtime::ClientBuilder::from_profile(Some("prod"))?.build()?;
//! let usual = bk_runtime::ClientBuilder::from_default_sources()?.build()?;
//! # let _ = (prod, usual); Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{parse_api_version, parse_auth_mode, ClientBuilder, UserAuth};
use crate::error::Error;
use crate::secret::Secret;

/// Variable naming the profile file.
pub const ENV_CONFIG_FILE: &str = "BK_CONFIG_FILE";
/// Variable naming the profile to use.
pub const ENV_PROFILE: &str = "BK_PROFILE";
/// Profile used when none is named.
pub const DEFAULT_PROFILE: &str = "default";

/// Keys of a profile, in file order.
pub const PROFILE_KEYS: &[&str] = &[
    "endpoint",
    "app_code",
    "app_secret",
    "username",
    "bk_token",
    "access_token",
    "api_version",
    "auth_mode",
    "language",
    "use_test_env",
    "gateway_url_template",
    "gateway_stage_url_template",
    "default_stage",
    "stage_mappings",
];

/// Keys whose values are secrets: never printed.
pub const SECRET_PROFILE_KEYS: &[&str] = &["app_secret", "bk_token", "access_token"];

const TOP_KEYS: &[&str] = &["default_profile", "profiles"];

/// The profile file: profiles by name and the default one.
#[derive(Clone, Default, PartialEq, Serialize)]
pub struct ProfileFile {
    /// The profile used when none is named (else `default`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_profile: Option<String>,
    /// The profiles by name.
    pub profiles: BTreeMap<String, Profile>,
}

impl fmt::Debug for ProfileFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProfileFile")
            .field("default_profile", &self.default_profile)
            .field("profiles", &self.profiles)
            .finish()
    }
}

/// One profile. Every setting is optional; see the [module documentation](self) for
/// the keys. `Debug` masks the secrets.
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
pub struct Profile {
    /// ESB base URL (`BK_COMPONENT_API_URL`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// App code (`BK_APP_CODE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_code: Option<String>,
    /// App secret (`BK_APP_SECRET`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_secret: Option<String>,
    /// User name (`BK_USERNAME`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Login ticket (`BK_TOKEN`); wins over `username`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bk_token: Option<String>,
    /// OAuth access token (`BK_ACCESS_TOKEN`); wins over `bk_token` and `username`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// `v2` or `v1` (`DEFAULT_BK_API_VER`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `header`, `params` or `signature` (`BK_API_AUTH_MODE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_mode: Option<String>,
    /// Language header (`BK_LANGUAGE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Route calls to the test backend (`BK_API_USE_TEST_ENV`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_test_env: Option<bool>,
    /// API gateway URL template with `{api_name}` (`BK_API_URL_TMPL`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway_url_template: Option<String>,
    /// API gateway URL template with `{api_name}` and `{stage}` (`BK_API_STAGE_URL_TMPL`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway_stage_url_template: Option<String>,
    /// Stage of the gateways without a mapping (default `prod`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_stage: Option<String>,
    /// Stage per gateway (`BK_API_DEFAULT_STAGE_MAPPINGS`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage_mappings: Option<BTreeMap<String, String>>,
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let masked = |v: &Option<String>| v.as_ref().map(|_| "***");
        f.debug_struct("Profile")
            .field("endpoint", &self.endpoint)
            .field("app_code", &self.app_code)
            .field("app_secret", &masked(&self.app_secret))
            .field("username", &self.username)
            .field("bk_token", &masked(&self.bk_token))
            .field("access_token", &masked(&self.access_token))
            .field("api_version", &self.api_version)
            .field("auth_mode", &self.auth_mode)
            .field("language", &self.language)
            .field("use_test_env", &self.use_test_env)
            .field("gateway_url_template", &self.gateway_url_template)
            .field(
                "gateway_stage_url_template",
                &self.gateway_stage_url_template,
            )
            .field("default_stage", &self.default_stage)
            .field("stage_mappings", &self.stage_mappings)
            .finish()
    }
}

/// The path of the profile file, from the process environment; see [`config_path_with`].
pub fn config_path() -> Option<PathBuf> {
    config_path_with(|k| std::env::var(k).ok())
}

/// The path of the profile file: `$BK_CONFIG_FILE`, else
/// `$XDG_CONFIG_HOME/blueking/config.toml`, else `$HOME/.config/blueking/config.toml`
/// (`%USERPROFILE%` when there is no `HOME`). `None` when none of them is set.
pub fn config_path_with(lookup: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let env = |k: &str| lookup(k).filter(|v| !v.is_empty());
    if let Some(p) = env(ENV_CONFIG_FILE) {
        return Some(PathBuf::from(p));
    }
    if let Some(x) = env("XDG_CONFIG_HOME") {
        return Some(PathBuf::from(x).join("blueking").join("config.toml"));
    }
    let home = env("HOME").or_else(|| env("USERPROFILE"))?;
    Some(
        PathBuf::from(home)
            .join(".config")
            .join("blueking")
            .join("config.toml"),
    )
}

impl ProfileFile {
    /// Reads the file at `path`; a missing file is an empty one.
    pub fn load(path: &Path) -> Result<ProfileFile, Error> {
        match std::fs::read_to_string(path) {
            Ok(text) => ProfileFile::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ProfileFile::default()),
            Err(e) => Err(Error::config(format!(
                "cannot read the profile file {}: {e}",
                path.display()
            ))),
        }
    }

    /// Parses the text of a profile file; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<ProfileFile, Error> {
        let file = path.display();
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            // The message only: the error's own rendering quotes the offending line,
            // which may hold a secret.
            let at = e
                .span()
                .map(|span| {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                    format!(":{line}:{col}")
                })
                .unwrap_or_default();
            Error::config(format!(
                "{file}{at}: invalid TOML: {}",
                e.message().trim_end()
            ))
        })?;
        let mut out = ProfileFile::default();
        for (key, value) in &table {
            match key.as_str() {
                "default_profile" => match value {
                    toml::Value::String(s) => out.default_profile = Some(s.clone()),
                    _ => {
                        return Err(Error::config(format!(
                            "{file}: default_profile must be a string"
                        )))
                    }
                },
                "profiles" => {
                    let toml::Value::Table(profiles) = value else {
                        return Err(Error::config(format!(
                            "{file}: profiles must be a table ([profiles.NAME])"
                        )));
                    };
                    for (name, p) in profiles {
                        let toml::Value::Table(t) = p else {
                            return Err(Error::config(format!(
                                "{file}: profiles.{name} must be a table ([profiles.{name}])"
                            )));
                        };
                        let origin = format!("{file}: profile {name:?}");
                        out.profiles
                            .insert(name.clone(), Profile::from_table(t, &origin)?);
                    }
                }
                other => {
                    return Err(Error::config(format!(
                        "{file}: unknown key {other:?}{}",
                        did_you_mean(other, TOP_KEYS)
                    )))
                }
            }
        }
        Ok(out)
    }

    /// The file as TOML text.
    pub fn to_toml(&self) -> Result<String, Error> {
        toml::to_string(self)
            .map_err(|e| Error::config(format!("cannot write the profile file: {e}")))
    }

    /// Writes the file to `path`, creating its directory; on Unix the file is made
    /// readable and writable by its owner only (it holds secrets), also when it existed.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let text = self.to_toml()?;
        let fail = |what: &str, p: &Path, e: std::io::Error| {
            Error::config(format!("cannot {what} {}: {e}", p.display()))
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fail("create", dir, e))?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(path).map_err(|e| fail("write", path, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| fail("restrict the permissions of", path, e))?;
        }
        f.write_all(text.as_bytes())
            .map_err(|e| fail("write", path, e))
    }

    /// The profile to use: `explicit`, else the file's `default_profile`, else
    /// `default`. A profile named explicitly or by `default_profile` must exist
    /// (error naming it and `path`); a missing `default` is `Ok(None)`.
    pub fn select(
        &self,
        explicit: Option<&str>,
        path: &Path,
    ) -> Result<Option<(String, &Profile)>, Error> {
        let (name, must_exist) = match (explicit, &self.default_profile) {
            (Some(n), _) => (n.to_owned(), true),
            (None, Some(n)) => (n.clone(), true),
            (None, None) => (DEFAULT_PROFILE.to_owned(), false),
        };
        match self.profiles.get(&name) {
            Some(p) => Ok(Some((name, p))),
            None if must_exist => {
                let known: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
                Err(Error::config(format!(
                    "no profile {name:?} in {}{}",
                    path.display(),
                    if known.is_empty() {
                        " (the file has no profile)".to_owned()
                    } else {
                        format!(" (profiles: {})", known.join(", "))
                    }
                )))
            }
            None => Ok(None),
        }
    }
}

impl Profile {
    fn from_table(t: &toml::Table, origin: &str) -> Result<Profile, Error> {
        let mut p = Profile::default();
        for (key, value) in t {
            let string = || match value {
                toml::Value::String(s) => Ok(Some(s.clone())),
                _ => Err(Error::config(format!(
                    "{origin}: key {key:?} must be a string"
                ))),
            };
            match key.as_str() {
                "endpoint" => p.endpoint = string()?,
                "app_code" => p.app_code = string()?,
                "app_secret" => p.app_secret = string()?,
                "username" => p.username = string()?,
                "bk_token" => p.bk_token = string()?,
                "access_token" => p.access_token = string()?,
                "api_version" => p.api_version = string()?,
                "auth_mode" => p.auth_mode = string()?,
                "language" => p.language = string()?,
                "gateway_url_template" => p.gateway_url_template = string()?,
                "gateway_stage_url_template" => p.gateway_stage_url_template = string()?,
                "default_stage" => p.default_stage = string()?,
                "use_test_env" => match value {
                    toml::Value::Boolean(b) => p.use_test_env = Some(*b),
                    _ => {
                        return Err(Error::config(format!(
                            "{origin}: key \"use_test_env\" must be true or false"
                        )))
                    }
                },
                "stage_mappings" => {
                    let toml::Value::Table(m) = value else {
                        return Err(Error::config(format!(
                            "{origin}: key \"stage_mappings\" must be a table of gateway name = \"stage\""
                        )));
                    };
                    let mut map = BTreeMap::new();
                    for (gw, stage) in m {
                        let toml::Value::String(stage) = stage else {
                            return Err(Error::config(format!(
                                "{origin}: stage_mappings.{gw} must be a string"
                            )));
                        };
                        map.insert(gw.clone(), stage.clone());
                    }
                    p.stage_mappings = Some(map);
                }
                other => {
                    return Err(Error::config(format!(
                        "{origin}: unknown key {other:?}{}",
                        did_you_mean(other, PROFILE_KEYS)
                    )))
                }
            }
        }
        p.check_named(origin)?;
        Ok(p)
    }

    /// Checks the values that have a closed set (`api_version`, `auth_mode`).
    pub fn check(&self) -> Result<(), Error> {
        self.check_named("profile")
    }

    fn check_named(&self, origin: &str) -> Result<(), Error> {
        if let Some(v) = &self.api_version {
            if parse_api_version(v).is_none() {
                return Err(Error::config(format!(
                    "{origin}: key \"api_version\" has invalid value {v:?}: expected \"v2\" or \"v1\""
                )));
            }
        }
        if let Some(v) = &self.auth_mode {
            if parse_auth_mode(v).is_none() {
                return Err(Error::config(format!(
                    "{origin}: key \"auth_mode\" has invalid value {v:?}: expected \"header\", \"params\" or \"signature\""
                )));
            }
        }
        Ok(())
    }

    /// The user this profile names, if any: `access_token` > `bk_token` > `username`.
    pub fn user(&self) -> Option<UserAuth> {
        let set = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        if let Some(t) = set(&self.access_token) {
            Some(UserAuth::AccessToken(Secret::from(t)))
        } else if let Some(t) = set(&self.bk_token) {
            Some(UserAuth::BkToken(Secret::from(t)))
        } else {
            set(&self.username).map(UserAuth::BkUsername)
        }
    }

    /// Sets every setting this profile has on `builder` (the others are left alone; a
    /// user of any kind replaces the builder's user).
    pub fn apply(&self, builder: ClientBuilder) -> Result<ClientBuilder, Error> {
        self.apply_named(builder, "profile")
    }

    fn apply_named(&self, mut b: ClientBuilder, origin: &str) -> Result<ClientBuilder, Error> {
        self.check_named(origin)?;
        let set = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        if let Some(v) = set(&self.endpoint) {
            b = b.endpoint(v);
        }
        if let Some(v) = set(&self.app_code) {
            b = b.app_code(v);
        }
        if let Some(v) = set(&self.app_secret) {
            b = b.app_secret(v);
        }
        if let Some(u) = self.user() {
            b = b.user(u);
        }
        if let Some(v) = self.api_version.as_deref().and_then(parse_api_version) {
            b = b.api_version(v);
        }
        if let Some(v) = self.auth_mode.as_deref().and_then(parse_auth_mode) {
            b = b.auth_mode(v);
        }
        if let Some(v) = set(&self.language) {
            b = b.language(v);
        }
        if let Some(v) = self.use_test_env {
            b = b.use_test_env(v);
        }
        if let Some(v) = set(&self.gateway_url_template) {
            b = b.gateway_url_template(v);
        }
        if let Some(v) = set(&self.gateway_stage_url_template) {
            b = b.gateway_stage_url_template(v);
        }
        if let Some(v) = set(&self.default_stage) {
            b = b.default_stage(v);
        }
        if let Some(m) = &self.stage_mappings {
            b = b.stage_mappings(m.clone());
        }
        Ok(b)
    }
}

/// `" (did you mean \"x\"?)"` for the known key closest to `key`, if close enough.
fn did_you_mean(key: &str, known: &[&str]) -> String {
    let best = known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((d, k)) if d <= (k.len() / 3).max(2) => format!(" (did you mean {k:?}?)"),
        _ => format!(" (known keys: {})", known.join(", ")),
    }
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

impl ClientBuilder {
    /// A builder from one profile of the profile file (see [`crate::profile`]): `name`,
    /// else `$BK_PROFILE`, else the file's `default_profile`, else `default`; the profile
    /// must exist. The environment is read only to find the file and `BK_PROFILE`.
    pub fn from_profile(name: Option<&str>) -> Result<Self, Error> {
        Self::from_profile_with(name, |k| std::env::var(k).ok())
    }

    /// [`ClientBuilder::from_profile`] with a variable lookup function instead of the
    /// process environment.
    pub fn from_profile_with(
        name: Option<&str>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        let path = config_path_with(&lookup).ok_or_else(|| {
            Error::config("no profile file location: set BK_CONFIG_FILE, XDG_CONFIG_HOME or HOME")
        })?;
        let file = ProfileFile::load(&path)?;
        let explicit = name
            .map(str::to_owned)
            .or_else(|| lookup(ENV_PROFILE).filter(|v| !v.trim().is_empty()));
        let wanted = explicit
            .clone()
            .or_else(|| file.default_profile.clone())
            .unwrap_or_else(|| DEFAULT_PROFILE.to_owned());
        let (name, profile) = file
            .select(Some(&wanted), &path)?
            .ok_or_else(|| Error::config(format!("no profile {wanted:?} in {}", path.display())))?;
        profile.apply_named(
            ClientBuilder::new(),
            &format!("{}: profile {name:?}", path.display()),
        )
    }

    /// A builder from the profile file and the environment (see [`crate::profile`]):
    /// the profile's settings, then every environment variable of
    /// [`ClientBuilder::from_lookup`] that is set overrides them. The profile is optional
    /// unless named by `$BK_PROFILE` or the file's `default_profile`. The endpoint and the
    /// app credentials (unless the user is an access token) must come from one of them.
    pub fn from_default_sources() -> Result<Self, Error> {
        Self::from_default_sources_with(|k| std::env::var(k).ok())
    }

    /// [`ClientBuilder::from_default_sources`] with a variable lookup function.
    pub fn from_default_sources_with(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        let b = Self::from_sources(None, &lookup)?;
        if !b.has_endpoint() {
            return Err(Error::config(
                "no endpoint: set BK_COMPONENT_API_URL or `endpoint` in a profile of the profile file",
            ));
        }
        b.check_app_credentials(
            "no app code: set BK_APP_CODE or `app_code` in a profile of the profile file",
            "no app secret: set BK_APP_SECRET or `app_secret` in a profile of the profile file",
        )?;
        Ok(b)
    }

    /// The layers of [`ClientBuilder::from_default_sources`] without its checks for
    /// required settings, for callers that add a layer of their own on top (the `bk`
    /// command's flags): the profile `profile` (else as in
    /// [`ClientBuilder::from_default_sources`]), then the environment. Missing settings
    /// are reported by [`ClientBuilder::build`].
    pub fn from_sources(
        profile: Option<&str>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        let explicit = profile
            .map(str::to_owned)
            .or_else(|| lookup(ENV_PROFILE).filter(|v| !v.trim().is_empty()));
        let mut b = ClientBuilder::new();
        match config_path_with(&lookup) {
            Some(path) => {
                let file = ProfileFile::load(&path)?;
                if let Some((name, p)) = file.select(explicit.as_deref(), &path)? {
                    b = p.apply_named(b, &format!("{}: profile {name:?}", path.display()))?;
                }
            }
            None => {
                if let Some(name) = explicit {
                    return Err(Error::config(format!(
                        "profile {name:?} requested but there is no profile file location \
                         (set BK_CONFIG_FILE, XDG_CONFIG_HOME or HOME)"
                    )));
                }
            }
        }
        b.with_env(&lookup)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::{ApiVersion, AuthMode};
    use std::collections::HashMap;

    fn msg(e: Error) -> String {
        match e.kind() {
            ErrorKind::Config { message } => message.clone(),
            k => panic!("expected Config, got {k:?}"),
        }
    }

    const FILE: &str = r#"
default_profile = "prod"

[profiles.prod]
endpoint = "https://paas.example.com"
app_code = "app"
app_secret = "sekrit-value-1"
bk_token = "token-value-1"
api_version = "v1"
auth_mode = "signature"
use_test_env = true
gateway_url_template = "https://bkapi.example.com/api/{api_name}"
default_stage = "stag"

[profiles.prod.stage_mappings]
bk-user = "test"

[profiles.dev]
endpoint = "http://dev.example.com"
app_code = "devapp"
app_secret = "dev-secret"
username = "admin"
"#;

    #[test]
    fn parses_and_applies() {
        let f = ProfileFile::parse(FILE, Path::new("c.toml")).unwrap();
        assert_eq!(f.default_profile.as_deref(), Some("prod"));
        let c = f.profiles["prod"]
            .apply(ClientBuilder::new())
            .unwrap()
            .build_config()
            .unwrap();
        assert_eq!(c.endpoint().as_str(), "https://paas.example.com/");
        assert_eq!(c.user(), &UserAuth::BkToken("token-value-1".into()));
        assert_eq!(c.api_version(), ApiVersion::V1);
        assert_eq!(c.auth_mode(), AuthMode::Signature);
        assert!(c.use_test_env());
        assert_eq!(c.stage_of("bk-user"), "test");
        assert_eq!(c.stage_of("other"), "stag");
        let dbg = format!("{f:?}");
        assert!(
            !dbg.contains("sekrit-value-1") && !dbg.contains("token-value-1"),
            "{dbg}"
        );
        // Round trip through the writer.
        let back = ProfileFile::parse(&f.to_toml().unwrap(), Path::new("c.toml")).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn errors_name_file_profile_and_key_but_no_secret() {
        let bad = "[profiles.prod]\napp_secrt = \"sekrit-value-2\"\n";
        let m = msg(ProfileFile::parse(bad, Path::new("/etc/bk.toml")).unwrap_err());
        assert!(m.contains("/etc/bk.toml") && m.contains("\"prod\""), "{m}");
        assert!(m.contains("did you mean \"app_secret\""), "{m}");
        assert!(!m.contains("sekrit-value-2"), "{m}");

        let bad = "[profiles.prod]\napp_secret = 12345678\n";
        let m = msg(ProfileFile::parse(bad, Path::new("f.toml")).unwrap_err());
        assert!(m.contains("app_secret") && !m.contains("12345678"), "{m}");

        let bad = "[profiles.prod]\napp_secret = \"sekrit-value-3\nendpoint = 1\n";
        let m = msg(ProfileFile::parse(bad, Path::new("f.toml")).unwrap_err());
        assert!(m.starts_with("f.toml:2:"), "{m}");
        assert!(!m.contains("sekrit-value-3"), "{m}");

        let bad = "[profiles.prod]\napi_version = \"v3\"\n";
        let m = msg(ProfileFile::parse(bad, Path::new("f.toml")).unwrap_err());
        assert!(m.contains("api_version") && m.contains("v3"), "{m}");

        let m =
            msg(ProfileFile::parse("defualt_profile = \"x\"\n", Path::new("f.toml")).unwrap_err());
        assert!(m.contains("did you mean \"default_profile\""), "{m}");
    }

    fn env(dir: &Path, vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let mut m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        m.insert(
            ENV_CONFIG_FILE.into(),
            dir.join("config.toml").display().to_string(),
        );
        move |k| m.get(k).cloned()
    }

    #[test]
    fn sources_and_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.toml"), FILE).unwrap();

        // from_profile: the named one, else default_profile.
        let c = ClientBuilder::from_profile_with(Some("dev"), env(dir.path(), &[]))
            .unwrap()
            .build_config()
            .unwrap();
        assert_eq!(c.app_code(), "devapp");
        let c = ClientBuilder::from_profile_with(None, env(dir.path(), &[]))
            .unwrap()
            .build_config()
            .unwrap();
        assert_eq!(c.app_code(), "app");
        let m =
            msg(ClientBuilder::from_profile_with(Some("nope"), env(dir.path(), &[])).unwrap_err());
        assert!(m.contains("\"nope\"") && m.contains("dev, prod"), "{m}");

        // from_default_sources: profile, then the environment wins.
        let c = ClientBuilder::from_default_sources_with(env(
            dir.path(),
            &[
                ("BK_PROFILE", "dev"),
                ("BK_APP_SECRET", "env-secret"),
                ("BK_TOKEN", "env-token"),
                ("BK_API_DEFAULT_STAGE_MAPPINGS", r#"{"bk-user": "prod"}"#),
            ],
        ))
        .unwrap()
        .build_config()
        .unwrap();
        assert_eq!(c.app_code(), "devapp");
        assert_eq!(c.app_secret().expose(), "env-secret");
        assert_eq!(c.user(), &UserAuth::BkToken("env-token".into()));
        assert_eq!(c.stage_of("bk-user"), "prod");

        // No file: the environment alone; nothing at all: an error naming both sources.
        let empty = tempfile::tempdir().unwrap();
        let c = ClientBuilder::from_default_sources_with(env(
            empty.path(),
            &[
                ("BK_COMPONENT_API_URL", "http://x"),
                ("BK_APP_CODE", "a"),
                ("BK_APP_SECRET", "s"),
            ],
        ))
        .unwrap()
        .build_config()
        .unwrap();
        assert_eq!(c.app_code(), "a");
        let m = msg(ClientBuilder::from_default_sources_with(env(empty.path(), &[])).unwrap_err());
        assert!(
            m.contains("BK_COMPONENT_API_URL") && m.contains("endpoint"),
            "{m}"
        );
        // A malformed variable over a good profile is still an error naming it.
        let m = msg(ClientBuilder::from_default_sources_with(env(
            dir.path(),
            &[("BK_API_DEFAULT_STAGE_MAPPINGS", "bk-user=prod")],
        ))
        .unwrap_err());
        assert!(m.contains("BK_API_DEFAULT_STAGE_MAPPINGS"), "{m}");
    }

    #[test]
    fn save_is_private_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("config.toml");
        let f = ProfileFile::parse(FILE, Path::new("c.toml")).unwrap();
        f.save(&path).unwrap();
        assert_eq!(ProfileFile::load(&path).unwrap(), f);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            ProfileFile::load(&dir.path().join("missing.toml")).unwrap(),
            ProfileFile::default()
        );
    }

    #[test]
    fn suggestions() {
        assert_eq!(edit_distance("app_secrt", "app_secret"), 1);
        assert!(did_you_mean("endpiont", PROFILE_KEYS).contains("endpoint"));
        assert!(did_you_mean("zzzzzzzz", PROFILE_KEYS).contains("known keys"));
    }
}
