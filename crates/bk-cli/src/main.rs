//! `bk`: the BlueKing command line. For now it has one command, `bk sim serve`, which runs
//! the bk-sim ESB simulator on a local address.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use bk_sim::{FaultPlan, FaultRule, SimConfig, StateConfig};
use clap::{Args, Parser, Subcommand};

/// The BlueKing command line.
#[derive(Debug, Parser)]
#[command(name = "bk", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
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
        use clap::CommandFactory;
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
        } = cli.command;
        assert_eq!(a.faults.len(), 2);
        assert_eq!(a.hosts, Some(10));
        assert!(Cli::try_parse_from(["bk", "sim", "serve", "--fault", "bogus:1"]).is_err());
    }
}
