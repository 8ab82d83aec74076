//! Settings: the profile file, the environment and the connection flags, merged in the order
//! flags > environment > profile > defaults; and `bk configure`, which writes profiles.
//!
//! The profile file's format, location and loading live in the runtime
//! ([`bk_runtime::profile`]): scripts using `ClientBuilder::from_default_sources` read the
//! same profiles as `bk`. The file is TOML at `$BK_CONFIG_FILE`, else
//! `$XDG_CONFIG_HOME/blueking/config.toml`, else `~/.config/blueking/config.toml`:
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

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

pub use bk_runtime::profile::Profile;
use bk_runtime::profile::{config_path, ProfileFile, ENV_PROFILE};
use bk_runtime::{ClientBuilder, ErrorKind};
use clap::{Arg, ArgMatches};

/// The message of a runtime error, without the "invalid configuration" prefix.
fn message(e: bk_runtime::Error) -> String {
    match e.kind() {
        ErrorKind::Config { message } => message.clone(),
        _ => e.to_string(),
    }
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
                ..Profile::default()
            },
        }
    }
}

fn env_var(names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| {
        std::env::var(n)
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    })
}

/// A client builder from flags > environment > profile > defaults: the runtime's profile and
/// environment layers ([`ClientBuilder::from_sources`]), then the flags. Errors are usage or
/// configuration errors (exit 2); missing settings are reported when the client is built.
pub fn client_builder(flags: &Flags) -> Result<ClientBuilder, String> {
    let b = ClientBuilder::from_sources(flags.profile.as_deref(), |k| std::env::var(k).ok())
        .map_err(|e| {
            let m = message(e);
            match &flags.profile {
                Some(p) if m.starts_with("no profile") => {
                    format!("{m}; create it with `bk configure --profile {p}`")
                }
                _ => m,
            }
        })?;
    flags.values.apply(b).map_err(message)
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
    let mut file = ProfileFile::load(&path).map_err(message)?;
    let name = req
        .profile
        .clone()
        .or_else(|| env_var(&[ENV_PROFILE]))
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
    profile.check().map_err(message)?;
    if let Some(e) = &profile.endpoint {
        if !(e.starts_with("http://") || e.starts_with("https://")) {
            return Err(format!(
                "endpoint {e:?} must start with http:// or https://"
            ));
        }
    }
    file.profiles.insert(name.clone(), profile);
    file.save(&path).map_err(message)?;
    eprintln!("Saved profile {name:?} to {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_file_round_trips_and_show_masks_secrets() {
        let mut file = ProfileFile::default();
        file.profiles.insert(
            "default".into(),
            Profile {
                endpoint: Some("http://x".into()),
                app_secret: Some("s3cr3t".into()),
                bk_token: Some("t0k3n".into()),
                ..Profile::default()
            },
        );
        let text = file.to_toml().unwrap();
        let back = ProfileFile::parse(&text, Path::new("c.toml")).unwrap();
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
    fn bad_values_are_refused() {
        let p = Profile {
            api_version: Some("v3".into()),
            ..Profile::default()
        };
        assert!(p.check().is_err());
        let p = Profile {
            auth_mode: Some("Signature".into()),
            ..Profile::default()
        };
        assert!(p.check().is_ok());
    }
}
