//! `bk`: the BlueKing command line: every ESB API as `bk <component> <api>` (built at run time
//! from the spec bundle), profiles, shell completions, the demo, the bk-sim ESB simulator, and
//! a checker of captured responses against the typed clients.

mod call;
mod check_response;
mod demo;
mod output;
mod profile;
mod spec_cmd;
mod workflow;

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use bk_sim::{FaultPlan, FaultRule, SimConfig, StateConfig};
use clap::{Arg, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

/// `bk --help`: the command surface, the configuration order and the exit codes.
const LONG_ABOUT: &str = "\
The BlueKing command line: every ESB API as `bk <component> <api>`, built from the API specs,
plus profiles, shell completions and the bk-sim simulator.

API commands take ESB names or kebab-case aliases and one flag per request parameter, and print
the response's `data` (JSON, pretty on a terminal; -o yaml|table; --raw for the envelope):
  bk cc search_business
  bk cc list-biz-hosts-topo --bk-biz-id 2 --fields bk_host_id --fields bk_host_innerip --page-all
  bk bk-login get-user -o yaml
  bk jobv3 get_job_instance_list -d @request.json --length 50 -o table
`bk <component> <api> --help` shows an API's summary, method, path and parameters.

Workflow commands (tables by default, -o json|yaml for scripts):
  bk topo sync [--watch] [--db PATH]      mirror CMDB into SQLite; show / find read it offline
  bk topo find --ip 10.0.0.3
  bk job run-script --biz 2 --hosts 3,22 --file check.sh --wait
  bk agent status --biz 2 [--offline]
  bk ticket create --service-id 1 --field title=... --wait

Configuration, highest precedence first:
  1. flags: --endpoint, --app-code, --app-secret, --username, --bk-token, --api-version,
     --auth-mode
  2. environment: BK_COMPONENT_API_URL; BK_APP_CODE (or BKPAAS_APP_ID, APP_CODE);
     BK_APP_SECRET (or BKPAAS_APP_SECRET, SECRET_KEY); BK_ACCESS_TOKEN, BK_TOKEN, BK_USERNAME;
     DEFAULT_BK_API_VER; BK_API_AUTH_MODE
  3. a profile of the config file ($BK_CONFIG_FILE, else $XDG_CONFIG_HOME/blueking/config.toml,
     else ~/.config/blueking/config.toml), written by `bk configure`: the one named by
     --profile, else BK_PROFILE, else the file's default_profile, else `default`
  4. defaults: API version v2, auth mode header
The user is one setting: the first source naming a user (access token, bk_token or user name)
wins. BK_LANGUAGE, BK_API_USE_TEST_ENV and BK_API_CLIENT_ENABLE_SSL_VERIFY are read from the
environment only. Secrets are never printed.

Exit codes: 0 success, 1 API or network error (or a job or ticket that did not succeed),
2 usage or configuration error.";

/// The BlueKing command line.
#[derive(Debug, Parser)]
#[command(name = "bk", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a profile of the config file, prompting for each setting.
    ///
    /// Prompts on standard input for the endpoint, app code, app secret, user name, bk_token,
    /// API version and auth mode, in this order, skipping those given as flags. Enter keeps
    /// the value in brackets, `-` clears it. Secrets are not echoed on a terminal and never
    /// printed (`--show` masks them as `***`). The file is written owner-only.
    Configure(ConfigureArgs),
    /// Print a shell completion script (`bk completions bash > /etc/bash_completion.d/bk`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Walk through the integration story (login, topology sync, agents, a script run,
    /// an ITSM approval) against an embedded simulator.
    Demo {
        /// Hosts in the simulated CMDB.
        #[arg(long, default_value_t = 20_000)]
        hosts: usize,
        /// Seed of the simulated topology.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Check that a captured ESB envelope decodes into the typed response of an API.
    ///
    /// Exit 0 when it decodes, 1 naming the JSON path and expected type of the first field
    /// that does not, 2 for an unknown API or unreadable input.
    CheckResponse {
        /// ESB component (`cc`, `jobv3`, ...).
        component: String,
        /// API name (`list_biz_hosts_topo`).
        api: String,
        /// File with the envelope; `-` or absent for standard input.
        file: Option<String>,
    },
    /// The local ESB simulator.
    Sim {
        #[command(subcommand)]
        command: SimCommand,
    },
}

#[derive(Debug, Subcommand)]
enum SimCommand {
    /// Serve the simulated ESB until interrupted (Ctrl-C).
    ///
    /// The first lines on stdout are `export` lines for the SDK's environment
    /// (`eval "$(bk sim serve | head -5)"` in one shell, or copy them); logs go to stderr.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Number of generated CMDB hosts.
    #[arg(long)]
    hosts: Option<usize>,
    /// Seed of the generated state and of the fault RNG.
    #[arg(long)]
    seed: Option<u64>,
    /// App code to accept (default: a made-up demo app).
    #[arg(long)]
    app_code: Option<String>,
    /// App secret to accept (default: a made-up demo secret).
    #[arg(long)]
    app_secret: Option<String>,
    /// The default user.
    #[arg(long, default_value = "admin")]
    username: String,
    /// Inject a fault: `[TARGET@]KIND[=ARG][:TRIGGER]`, e.g. `503:0.1`,
    /// `cc.*@reset-before:next3`, `latency=250ms:1`, `ratelimit429=2:every5`. KIND is one of
    /// latency=MS, http500, http502, http503, http504, ratelimit429[=SECS], esb1306201,
    /// esb1306429, cmdb1199997, reset-before, reset-after, truncate, html, slow-body[=MS];
    /// TRIGGER a rate 0..1, nextN, everyK or always (default). Repeatable.
    #[arg(long = "fault", value_name = "RULE", value_parser = parse_fault)]
    faults: Vec<FaultRule>,
    /// Do not accept a plain bk_username as user auth (the app is not whitelisted); only
    /// bk_token and access_token authenticate the user.
    #[arg(long)]
    no_trust_bk_username: bool,
    /// Answer requests with `X-Use-Test-Env` (default: they get 1306206).
    #[arg(long)]
    test_env: bool,
}

#[derive(Debug, Args)]
struct ConfigureArgs {
    /// Profile to write or show [default: BK_PROFILE, else `default`].
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// Print the profile (secrets as `***`) instead of writing it.
    #[arg(long)]
    show: bool,
    /// ESB base URL; not prompted for when given.
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// App code; not prompted for when given.
    #[arg(long, value_name = "CODE")]
    app_code: Option<String>,
    /// User name; not prompted for when given.
    #[arg(long, value_name = "USER")]
    username: Option<String>,
    /// API version; not prompted for when given.
    #[arg(long, value_name = "VER", value_parser = ["v2", "v1"])]
    api_version: Option<String>,
    /// Auth mode; not prompted for when given.
    #[arg(long, value_name = "MODE", value_parser = ["header", "params", "signature"])]
    auth_mode: Option<String>,
}

/// The flags of every API command: connection, then output.
fn connection_args() -> Vec<Arg> {
    let mut v = profile::connection_args();
    v.extend(call::output_args());
    v
}

/// The whole command tree: the fixed commands and one command per spec component.
fn build_command() -> clap::Command {
    fixed_command().subcommands(spec_cmd::component_commands(None))
}

/// The commands that do not come from the spec bundle: the derived ones and the workflows.
fn fixed_command() -> clap::Command {
    Cli::command()
        .long_about(LONG_ABOUT)
        .subcommands(workflow::commands())
}

/// The command tree needed to parse `args`: the fixed commands alone skip the spec bundle,
/// and an API call builds the API commands of its component only.
fn command_for(args: &[std::ffi::OsString]) -> clap::Command {
    const FIXED: &[&str] = &[
        "demo",
        "sim",
        "check-response",
        "configure",
        "completions",
        "topo",
        "agent",
        "ticket",
    ];
    let first = args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy())
        .find(|a| !a.starts_with('-'));
    match first.as_deref() {
        Some(f) if FIXED.contains(&f) => fixed_command(),
        Some(f) => match spec_cmd::find_component(f) {
            Some(c) => fixed_command().subcommands(spec_cmd::component_commands(Some(&c.name))),
            None => build_command(),
        },
        None => build_command(),
    }
}

fn init_tracing(default_filter: &str) {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .init();
}

fn configure(args: ConfigureArgs) -> ExitCode {
    let req = profile::ConfigureRequest {
        profile: args.profile,
        show: args.show,
        given: profile::Profile {
            endpoint: args.endpoint,
            app_code: args.app_code,
            username: args.username,
            api_version: args.api_version,
            auth_mode: args.auth_mode,
            ..profile::Profile::default()
        },
    };
    match profile::configure(&req, &mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bk configure: {e}");
            ExitCode::from(call::EXIT_USAGE)
        }
    }
}

fn completions(shell: clap_complete::Shell) -> ExitCode {
    let mut cmd = build_command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "bk", &mut out);
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(&out).and_then(|_| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bk: cannot write to stdout: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_fault(s: &str) -> Result<FaultRule, String> {
    s.parse()
}

/// Quotes a value for a POSIX shell when it needs it.
fn shell_value(v: &str) -> String {
    let plain = !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/@%+,=".contains(&b));
    if plain {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', "'\\''"))
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let mut state = StateConfig::default();
    if let Some(h) = args.hosts {
        state.hosts = h;
    }
    let mut faults = FaultPlan::none();
    if let Some(seed) = args.seed {
        state.seed = seed;
        faults.seed = seed;
    }
    faults.rules = args.faults;
    let defaults = SimConfig::default();
    let config = SimConfig {
        addr: args.addr,
        app_code: args.app_code.unwrap_or(defaults.app_code.clone()),
        app_secret: args.app_secret.unwrap_or(defaults.app_secret.clone()),
        username: args.username,
        state,
        faults,
        trust_bk_username: !args.no_trust_bk_username,
        test_env_available: args.test_env,
        ..defaults
    };
    let rules: Vec<String> = config.faults.rules.iter().map(|r| r.to_string()).collect();
    let sim = bk_sim::spawn(config).map_err(|e| format!("cannot serve on {}: {e}", args.addr))?;
    let h = sim.handle();
    let token = h.issue_token(h.username());
    {
        let mut out = std::io::stdout().lock();
        let lines = format!(
            "export BK_COMPONENT_API_URL={}\nexport BK_APP_CODE={}\nexport BK_APP_SECRET={}\n\
             export BK_USERNAME={}\nexport BK_TOKEN={}\n",
            shell_value(&sim.url()),
            shell_value(h.app_code()),
            shell_value(h.app_secret()),
            shell_value(h.username()),
            shell_value(&token),
        );
        out.write_all(lines.as_bytes())
            .and_then(|_| out.flush())
            .map_err(|e| format!("cannot write to stdout: {e}"))?;
    }
    let apis = bk_spec_count();
    tracing::info!(url = %sim.url(), apis, faults = ?rules, "bk-sim serving; Ctrl-C stops");
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| format!("cannot wait for Ctrl-C: {e}"))?;
    tracing::info!("stopping");
    let stats = h.stats();
    sim.shutdown().await;
    tracing::info!(
        requests = stats.requests,
        executions = stats.executions,
        faults = ?stats.faults,
        "stopped"
    );
    Ok(())
}

fn bk_spec_count() -> usize {
    bk_sim::route::api_count()
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let matches = command_for(&args).get_matches_from(args);
    if let Some((name, sub)) = matches.subcommand() {
        if workflow::COMMANDS.contains(&name) {
            init_tracing("warn");
            if let Some(code) = workflow::run(name, sub) {
                return code;
            }
        }
        if let Some(component) = spec_cmd::find_component(name) {
            init_tracing("warn");
            return call::run(component, sub);
        }
    }
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let cli = match cli.command {
        Command::Configure(args) => return configure(args),
        Command::Completions { shell } => return completions(shell),
        command => Cli { command },
    };
    if let Command::CheckResponse {
        component,
        api,
        file,
    } = &cli.command
    {
        let checked = match check_response::read_input(file.as_deref()) {
            Ok(text) => check_response::check(component, api, &text),
            Err(e) => check_response::Checked::Unusable(e),
        };
        match &checked {
            check_response::Checked::Decodes => {
                println!("ok: the response decodes into {component}.{api}")
            }
            check_response::Checked::Mismatch(m) | check_response::Checked::Unusable(m) => {
                eprintln!("bk check-response: {m}")
            }
        }
        return checked.exit_code();
    }
    let default_filter = if matches!(cli.command, Command::Demo { .. }) {
        "warn"
    } else {
        "info"
    };
    init_tracing(default_filter);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bk: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Demo { hosts, seed } => demo::run(demo::DemoOptions { hosts, seed })
                .await
                .map_err(|e| e.to_string()),
            Command::CheckResponse { .. } | Command::Configure(_) | Command::Completions { .. } => {
                Ok(())
            }
            Command::Sim {
                command: SimCommand::Serve(args),
            } => serve(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bk: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_values() {
        assert_eq!(
            shell_value("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(shell_value("a b"), "'a b'");
        assert_eq!(shell_value("it's"), "'it'\\''s'");
        assert_eq!(shell_value(""), "''");
    }

    #[test]
    fn cli_parses() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "bk",
            "sim",
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--hosts",
            "10",
            "--seed",
            "7",
            "--fault",
            "503:0.5",
            "--fault",
            "cc.*@reset-before:next2",
        ])
        .unwrap();
        let Command::Sim {
            command: SimCommand::Serve(a),
        } = cli.command
        else {
            panic!("sim serve parses as sim serve");
        };
        assert_eq!(a.faults.len(), 2);
        assert_eq!(a.hosts, Some(10));
        assert!(Cli::try_parse_from(["bk", "sim", "serve", "--fault", "bogus:1"]).is_err());
    }

    #[test]
    fn whole_tree_is_consistent() {
        // Every generated API command with its flags passes clap's own checks (no duplicate
        // flags, ids or aliases).
        build_command().debug_assert();
    }

    #[test]
    fn api_commands_parse_with_aliases() {
        let m = build_command()
            .try_get_matches_from([
                "bk",
                "cc",
                "list-biz-hosts-topo",
                "--bk-biz-id",
                "3",
                "--fields",
                "bk_host_id",
                "--fields",
                r#"["bk_host_innerip"]"#,
                "-o",
                "table",
            ])
            .unwrap();
        let (c, cm) = m.subcommand().unwrap();
        assert_eq!(c, "cc");
        let (a, am) = cm.subcommand().unwrap();
        assert_eq!(a, "list_biz_hosts_topo");
        let comp = spec_cmd::find_component(c).unwrap();
        let api = comp.api(a).unwrap();
        let params = call::gather_params(comp, api, am).unwrap();
        assert_eq!(
            params,
            serde_json::json!({"bk_biz_id": 3, "fields": ["bk_host_id", "bk_host_innerip"]})
        );
        assert_eq!(am.get_one::<String>("output").unwrap(), "table");
        assert!(build_command()
            .try_get_matches_from(["bk", "bk-login", "get-user"])
            .is_ok());
        assert!(build_command()
            .try_get_matches_from(["bk", "cc", "list_biz_hosts_topo", "--bk-biz-id", "x"])
            .is_err());
    }
}
