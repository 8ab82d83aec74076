//! Settings: the profile file, the environment and the connection flags, merged in the order
//! flags > environment > profile > defaults; and `bk configure`, which writes profiles.
//!
//! The profile file is TOML at `$BK_CONFIG_FILE`, else `$XDG_CONFIG_HOME/blueking/config.toml`,
//! else `~/.config/blueking/config.toml`:
//!
//! ```toml
//! default_profile = "prod"   # optional; else "default"
//!
//! [profiles.prod]
//! endpoint = "https://paas.example.com"
//! app_code = "my-app"
//! app_secret = "..."
//! username = "admin"        # or bk_token = "..."
//! api_version = "v2"        # v2 (default) or v1
//! auth_mode = "header"      # header (default), params or signature
//! ```

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use bk_runtime::{ApiVersion, AuthMode, ClientBuilder, UserAuth};
use clap::{Arg, ArgMatches};
use serde::{Deserialize, Serialize};

/// The profile file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConfigFile {
    /// The profile used when neither `--profile` nor `BK_PROFILE` names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_profile: Option<String>,
    /// The profiles by name.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// One profile. Every key is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// ESB base URL (`BK_COMPONENT_API_URL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// App code (`BK_APP_CODE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_code: Option<String>,
    /// App secret (`BK_APP_SECRET`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_secret: Option<String>,
    /// User name (`BK_USERNAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Login ticket (`BK_TOKEN`); wins over `username`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bk_token: Option<String>,
    /// `v2` or `v1` (`DEFAULT_BK_API_VER`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `header`, `params` or `signature` (`BK_API_AUTH_MODE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_mode: Option<String>,
}

/// The path of the profile file.
pub fn config_path() -> Option<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(p) = env("BK_CONFIG_FILE") {
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

/// Reads the profile file; a missing file is an empty one.
pub fn load(path: &Path) -> Result<ConfigFile, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn save(path: &Path, file: &ConfigFile) -> Result<(), String> {
    let text = toml::to_string(file).map_err(|e| format!("cannot write the profile file: {e}"))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The file holds secrets: owner only, also when it existed with wider rights.
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    f.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The connection flags shared by every API command (global below each component).
pub fn connection_args() -> Vec<Arg> {
    let arg = |id: &'static str, long: &'static str, name: &'static str, help: &'static str| {
        Arg::new(id)
            .long(long)
            .value_name(name)
            .help(help)
            .global(true)
            .help_heading("Connection")
    };
    vec![
        arg(
            "profile",
            "profile",
            "NAME",
            "Profile of the config file to use [env: BK_PROFILE]",
        ),
        arg(
            "endpoint",
            "endpoint",
            "URL",
            "ESB base URL [env: BK_COMPONENT_API_URL]",
        ),
        arg(
            "app_code",
            "app-code",
            "CODE",
            "App code [env: BK_APP_CODE]",
        ),
        arg(
            "app_secret",
            "app-secret",
            "SECRET",
            "App secret (prefer the environment or a profile) [env: BK_APP_SECRET]",
        ),
        arg(
            "username",
            "username",
            "USER",
            "Call as this user [env: BK_USERNAME]",
        ),
        arg(
            "bk_token",
            "bk-token",
            "TOKEN",
            "Call with this login ticket [env: BK_TOKEN]",
        ),
        arg(
            "api_version",
            "api-version",
            "VER",
            "ESB API version [env: DEFAULT_BK_API_VER]",
        )
        .value_parser(["v2", "v1"]),
        arg(
            "auth_mode",
            "auth-mode",
            "MODE",
            "How credentials travel [env: BK_API_AUTH_MODE]",
        )
        .value_parser(["header", "params", "signature"]),
    ]
}

/// Values of the connection flags.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--profile`.
    pub profile: Option<String>,
    /// The other flags, as a profile.
    pub values: Profile,
}

impl Flags {
    /// Reads the flags of [`connection_args`] from `m`.
    pub fn from_matches(m: &ArgMatches) -> Flags {
        let get = |id: &str| {
            m.try_get_one::<String>(id)
                .ok()
                .flatten()
                .map(|s| s.to_string())
        };
        Flags {
            profile: get("profile"),
            values: Profile {
                endpoint: get("endpoint"),
                app_code: get("app_code"),
                app_secret: get("app_secret"),
                username: get("username"),
                bk_token: get("bk_token"),
                api_version: get("api_version"),
                auth_mode: get("auth_mode"),
            },
        }
    }
}

/// One layer of settings (flags, environment or profile).
struct Layer {
    values: Profile,
    access_token: Option<String>,
}

fn env_var(names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| {
        std::env::var(n)
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    })
}

fn env_layer() -> Layer {
    Layer {
        values: Profile {
            endpoint: env_var(&["BK_COMPONENT_API_URL"]),
            app_code: env_var(&["BK_APP_CODE", "BKPAAS_APP_ID", "APP_CODE"]),
            app_secret: env_var(&["BK_APP_SECRET", "BKPAAS_APP_SECRET", "SECRET_KEY"]),
            username: env_var(&["BK_USERNAME"]),
            bk_token: env_var(&["BK_TOKEN"]),
            api_version: env_var(&["DEFAULT_BK_API_VER"]),
            auth_mode: env_var(&["BK_API_AUTH_MODE"]),
        },
        access_token: env_var(&["BK_ACCESS_TOKEN"]),
    }
}

/// The profile named by `--profile`, `BK_PROFILE`, the file's `default_profile` or `default`.
/// Naming a profile that does not exist is an error; a missing `default` is not.
fn profile_layer(flag: Option<&str>) -> Result<Profile, String> {
    let explicit = flag
        .map(str::to_string)
        .or_else(|| env_var(&["BK_PROFILE"]));
    let Some(path) = config_path() else {
        return match explicit {
            Some(p) => Err(format!(
                "profile {p:?} requested but no config file location (set BK_CONFIG_FILE or HOME)"
            )),
            None => Ok(Profile::default()),
        };
    };
    let file = load(&path)?;
    let (name, must_exist) = match explicit {
        Some(n) => (n, true),
        None => match &file.default_profile {
            Some(n) => (n.clone(), true),
            None => ("default".to_string(), false),
        },
    };
    match file.profiles.get(&name) {
        Some(p) => Ok(p.clone()),
        None if must_exist => Err(format!(
            "no profile {name:?} in {} (create it with `bk configure --profile {name}`)",
            path.display()
        )),
        None => Ok(Profile::default()),
    }
}

/// A client builder from flags > environment > profile > defaults. Errors are usage or
/// configuration errors (exit 2).
pub fn client_builder(flags: &Flags) -> Result<ClientBuilder, String> {
    let layers = [
        Layer {
            values: flags.values.clone(),
            access_token: None,
        },
        env_layer(),
        Layer {
            values: profile_layer(flags.profile.as_deref())?,
            access_token: None,
        },
    ];
    let pick = |f: fn(&Profile) -> &Option<String>| {
        layers
            .iter()
            .find_map(|l| f(&l.values).clone().filter(|v| !v.trim().is_empty()))
    };
    let endpoint = pick(|p| &p.endpoint)
        .ok_or("no endpoint: pass --endpoint, set BK_COMPONENT_API_URL or run `bk configure`")?;
    // The user is one setting: the first layer that names any user wins, and inside a layer
    // an access token beats a bk_token, which beats a user name.
    let user = layers
        .iter()
        .find_map(|l| {
            if let Some(t) = l.access_token.clone() {
                Some(UserAuth::AccessToken(t.into()))
            } else if let Some(t) = l.values.bk_token.clone().filter(|t| !t.is_empty()) {
                Some(UserAuth::BkToken(t.into()))
            } else {
                l.values
                    .username
                    .clone()
                    .filter(|u| !u.is_empty())
                    .map(UserAuth::BkUsername)
            }
        })
        .unwrap_or(UserAuth::None);
    let access = matches!(user, UserAuth::AccessToken(_));
    let app_code = pick(|p| &p.app_code);
    let app_secret = pick(|p| &p.app_secret);
    if !access && app_code.is_none() {
        return Err("no app code: pass --app-code, set BK_APP_CODE or run `bk configure`".into());
    }
    if !access && app_secret.is_none() {
        return Err(
            "no app secret: set BK_APP_SECRET, pass --app-secret or run `bk configure`".into(),
        );
    }
    let mut b = ClientBuilder::new().endpoint(endpoint).user(user);
    if let Some(c) = app_code {
        b = b.app_code(c);
    }
    if let Some(s) = app_secret {
        b = b.app_secret(s);
    }
    if let Some(v) = pick(|p| &p.api_version) {
        b = b.api_version(parse_api_version(&v)?);
    }
    if let Some(v) = pick(|p| &p.auth_mode) {
        b = b.auth_mode(parse_auth_mode(&v)?);
    }
    if let Some(l) = env_var(&["BK_LANGUAGE"]) {
        b = b.language(l);
    }
    if let Some(v) = env_var(&["BK_API_USE_TEST_ENV"]) {
        b = b.use_test_env(parse_bool("BK_API_USE_TEST_ENV", &v)?);
    }
    if let Some(v) = env_var(&["BK_API_CLIENT_ENABLE_SSL_VERIFY"]) {
        b = b.danger_accept_invalid_certs(!parse_bool("BK_API_CLIENT_ENABLE_SSL_VERIFY", &v)?);
    }
    Ok(b)
}

fn parse_bool(var: &str, v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!(
            "{var} has invalid value {v:?}: expected true or false"
        )),
    }
}

fn parse_api_version(v: &str) -> Result<ApiVersion, String> {
    match v
        .trim()
        .trim_start_matches('/')
        .to_ascii_lowercase()
        .as_str()
    {
        "v2" => Ok(ApiVersion::V2),
        "v1" => Ok(ApiVersion::V1),
        _ => Err(format!("invalid API version {v:?}: expected v2 or v1")),
    }
}

fn parse_auth_mode(v: &str) -> Result<AuthMode, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "header" => Ok(AuthMode::Header),
        "params" => Ok(AuthMode::Params),
        "signature" => Ok(AuthMode::Signature),
        _ => Err(format!(
            "invalid auth mode {v:?}: expected header, params or signature"
        )),
    }
}

/// What `bk configure` was asked.
#[derive(Debug, Clone, Default)]
pub struct ConfigureRequest {
    /// The profile to write (`default` when absent).
    pub profile: Option<String>,
    /// Print the profile (secrets as `***`) instead of writing it.
    pub show: bool,
    /// Values given as flags; not prompted for.
    pub given: Profile,
}

/// The fields of a profile in prompt order: (key, prompt, secret).
const FIELDS: &[(&str, &str, bool)] = &[
    ("endpoint", "ESB endpoint URL (BK_COMPONENT_API_URL)", false),
    ("app_code", "App code (BK_APP_CODE)", false),
    ("app_secret", "App secret (BK_APP_SECRET)", true),
    ("username", "User name (BK_USERNAME)", false),
    ("bk_token", "Login ticket bk_token (BK_TOKEN)", true),
    ("api_version", "API version, v2 or v1", false),
    ("auth_mode", "Auth mode: header, params or signature", false),
];

fn field<'p>(p: &'p mut Profile, key: &str) -> &'p mut Option<String> {
    match key {
        "endpoint" => &mut p.endpoint,
        "app_code" => &mut p.app_code,
        "app_secret" => &mut p.app_secret,
        "username" => &mut p.username,
        "bk_token" => &mut p.bk_token,
        "api_version" => &mut p.api_version,
        _ => &mut p.auth_mode,
    }
}

/// Prints a profile with its secrets masked.
fn show(out: &mut impl Write, path: &Path, name: &str, p: &Profile) -> std::io::Result<()> {
    writeln!(out, "# {} [profiles.{name}]", path.display())?;
    let mut p = p.clone();
    for (key, _, secret) in FIELDS {
        let v = field(&mut p, key);
        match v {
            Some(_) if *secret => writeln!(out, "{key} = \"***\"")?,
            Some(v) => writeln!(out, "{key} = {}", toml_str(v))?,
            None => writeln!(out, "# {key} is not set")?,
        }
    }
    Ok(())
}

fn toml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

/// Reads one answer: without echo for secrets on a terminal, else a line of stdin.
/// `None` at the end of the input.
fn ask(prompt: &str, secret: bool) -> Result<Option<String>, String> {
    let stdin = std::io::stdin();
    if secret && stdin.is_terminal() {
        return rpassword::prompt_password(format!("{prompt}: "))
            .map(Some)
            .map_err(|e| format!("cannot read the answer: {e}"));
    }
    eprint!("{prompt}: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let n = stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the answer: {e}"))?;
    if !stdin.is_terminal() {
        // Answers piped in are not echoed by a terminal: end the prompt line.
        eprintln!();
    }
    Ok((n > 0).then(|| line.trim_end_matches(['\r', '\n']).to_string()))
}

/// Runs `bk configure`: prompts for every field not given as a flag (an empty answer keeps
/// the current value, `-` clears it) and writes the profile. Errors are exit 2.
pub fn configure(req: &ConfigureRequest, out: &mut impl Write) -> Result<(), String> {
    let path = config_path().ok_or("no config file location: set BK_CONFIG_FILE or HOME")?;
    let mut file = load(&path)?;
    let name = req
        .profile
        .clone()
        .or_else(|| env_var(&["BK_PROFILE"]))
        .unwrap_or_else(|| "default".into());
    if req.show {
        let p = file
            .profiles
            .get(&name)
            .ok_or_else(|| format!("no profile {name:?} in {}", path.display()))?;
        return show(out, &path, &name, p).map_err(|e| format!("cannot write: {e}"));
    }
    let mut profile = file.profiles.get(&name).cloned().unwrap_or_default();
    let mut given = req.given.clone();
    eprintln!(
        "Configuring profile {name:?} in {} (Enter keeps the value in brackets, - clears it)",
        path.display()
    );
    let mut eof = false;
    for (key, prompt, secret) in FIELDS {
        if let Some(v) = field(&mut given, key).take() {
            *field(&mut profile, key) = Some(v);
            continue;
        }
        if eof {
            continue;
        }
        let current = field(&mut profile, key);
        let shown = match current.as_deref() {
            Some(_) if *secret => "***".to_string(),
            Some(v) => v.to_string(),
            None => "none".to_string(),
        };
        let Some(answer) = ask(&format!("{prompt} [{shown}]"), *secret)? else {
            eof = true;
            continue;
        };
        let answer = answer.trim();
        if answer == "-" {
            *current = None;
        } else if !answer.is_empty() {
            *current = Some(answer.to_string());
        }
    }
    if let Some(v) = &profile.api_version {
        parse_api_version(v)?;
    }
    if let Some(v) = &profile.auth_mode {
        parse_auth_mode(v)?;
    }
    if let Some(e) = &profile.endpoint {
        if !(e.starts_with("http://") || e.starts_with("https://")) {
            return Err(format!(
                "endpoint {e:?} must start with http:// or https://"
            ));
        }
    }
    file.profiles.insert(name.clone(), profile);
    save(&path, &file)?;
    eprintln!("Saved profile {name:?} to {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_file_round_trips_and_show_masks_secrets() {
        let mut file = ConfigFile::default();
        file.profiles.insert(
            "default".into(),
            Profile {
                endpoint: Some("http://x".into()),
                app_secret: Some("s3cr3t".into()),
                bk_token: Some("t0k3n".into()),
                ..Profile::default()
            },
        );
        let text = toml::to_string(&file).unwrap();
        let back: ConfigFile = toml::from_str(&text).unwrap();
        assert_eq!(back.profiles["default"], file.profiles["default"]);
        let mut out = Vec::new();
        show(
            &mut out,
            Path::new("c.toml"),
            "default",
            &file.profiles["default"],
        )
        .unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(!out.contains("s3cr3t") && !out.contains("t0k3n"), "{out}");
        assert!(out.contains("app_secret = \"***\""), "{out}");
    }

    #[test]
    fn versions_and_modes() {
        assert_eq!(parse_api_version("/v1").unwrap(), ApiVersion::V1);
        assert!(parse_api_version("v3").is_err());
        assert_eq!(parse_auth_mode("Signature").unwrap(), AuthMode::Signature);
        assert!(parse_auth_mode("x").is_err());
    }
}
