//! The workflow commands: `bk topo`, `bk job run-script`, `bk agent`, `bk ticket`. Each is a
//! thin shell over a workflow of the SDK (the topology mirror, the job waiter, the batched
//! agent queries, the ITSM waiter), with the connection flags of the API commands and output
//! meant for people first (`-o table`, the default) and scripts second (`-o json|yaml`).

pub mod agent;
pub mod job;
pub mod ticket;
pub mod topo;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use bk_runtime::ErrorKind;
use clap::{Arg, ArgMatches, Command};
use serde_json::Value;

use crate::call::{EXIT_API, EXIT_USAGE};
use crate::output::{self, Format, Style};
use crate::profile;

/// How a workflow command ended, when not well.
#[derive(Debug)]
pub enum Failure {
    /// Usage or configuration error (exit 2).
    Usage(String),
    /// API, network or workflow failure (exit 1).
    Failed(String),
}

impl Failure {
    /// A failure for an error of the SDK: configuration errors are usage errors.
    pub fn from_sdk(e: &bk_runtime::Error) -> Failure {
        match e.kind() {
            ErrorKind::Config { message } => Failure::Usage(format!("configuration: {message}")),
            _ => Failure::Failed(e.to_string()),
        }
    }
}

impl From<bk_runtime::Error> for Failure {
    fn from(e: bk_runtime::Error) -> Self {
        Failure::from_sdk(&e)
    }
}

/// The result of a workflow command.
pub type Outcome = Result<(), Failure>;

/// The workflow command names, which never need the spec bundle to parse.
pub const COMMANDS: &[&str] = &["topo", "agent", "ticket"];

/// The workflow commands at the top level: `topo`, `agent`, `ticket`.
pub fn commands() -> Vec<Command> {
    vec![topo::command(), agent::command(), ticket::command()]
}

/// The connection and output flags every workflow command takes.
pub fn common_args() -> Vec<Arg> {
    let mut v = profile::connection_args();
    v.extend(crate::call::output_args());
    v
}

/// Runs a top-level workflow command; `None` when `name` is not one.
pub fn run(name: &str, m: &ArgMatches) -> Option<ExitCode> {
    let outcome = match name {
        "topo" => block_on(topo::run(m)),
        "agent" => block_on(agent::run(m)),
        "ticket" => block_on(ticket::run(m)),
        _ => return None,
    };
    Some(finish(outcome))
}

/// The exit code of a workflow command, after printing its failure.
pub fn finish(outcome: Outcome) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(m)) => {
            eprintln!("bk: {m}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(Failure::Failed(m)) => {
            eprintln!("bk: {m}");
            ExitCode::from(EXIT_API)
        }
    }
}

/// Runs a future on a fresh multi-threaded runtime.
pub fn block_on(f: impl std::future::Future<Output = Outcome>) -> Outcome {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Failed(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(f)
}

/// A client from the connection flags, the environment and the profile.
pub fn client(m: &ArgMatches) -> Result<bk_runtime::Client, Failure> {
    let flags = profile::Flags::from_matches(m);
    let builder = profile::client_builder(&flags).map_err(Failure::Usage)?;
    builder.build().map_err(|e| Failure::from_sdk(&e))
}

/// `--output`, defaulting to a table: workflow output is read by people first.
pub fn format(m: &ArgMatches) -> Format {
    m.try_get_one::<String>("output")
        .ok()
        .flatten()
        .and_then(|s| Format::parse(s))
        .unwrap_or(Format::Table)
}

/// Prints rows: a table with `headers`, or the JSON/YAML `value` for scripts.
pub fn print_rows(
    m: &ArgMatches,
    headers: &[&str],
    rows: &[Vec<String>],
    value: &Value,
) -> Outcome {
    let mut out = std::io::stdout().lock();
    let res = match format(m) {
        Format::Table => {
            let headers: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
            out.write_all(output::render_table(&headers, rows).as_bytes())
        }
        f => output::write_value(
            &mut out,
            value,
            &Style {
                format: f,
                pretty: std::io::IsTerminal::is_terminal(&std::io::stdout()),
                component: "",
                items: None,
            },
        ),
    };
    match res.and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::Failed(format!("cannot write to stdout: {e}"))),
    }
}

/// The `--db` flag of the mirror commands.
pub fn db_arg() -> Arg {
    Arg::new("db")
        .long("db")
        .value_name("PATH")
        .value_parser(clap::value_parser!(PathBuf))
        .help(
            "SQLite file of the topology mirror [env: BK_TOPO_DB; default: \
             $XDG_DATA_HOME/blueking/topology.db, else ~/.local/share/blueking/topology.db]",
        )
}

/// The mirror's SQLite file: `--db`, else `BK_TOPO_DB`, else the data directory.
pub fn db_path(m: &ArgMatches) -> Result<PathBuf, Failure> {
    if let Some(p) = m.get_one::<PathBuf>("db") {
        return Ok(p.clone());
    }
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(p) = env("BK_TOPO_DB") {
        return Ok(PathBuf::from(p));
    }
    let dir = env("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .ok_or_else(|| {
            Failure::Usage(
                "no place for the topology database: pass --db, or set BK_TOPO_DB or HOME".into(),
            )
        })?;
    Ok(dir.join("blueking").join("topology.db"))
}

/// Comma-separated or repeated integer ids (`--hosts 1,2 --hosts 3`).
pub fn ids(m: &ArgMatches, id: &str, flag: &str) -> Result<Vec<i64>, Failure> {
    let mut out = Vec::new();
    for v in m.get_many::<String>(id).into_iter().flatten() {
        for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            out.push(
                part.parse::<i64>().map_err(|_| {
                    Failure::Usage(format!("--{flag}: {part:?} is not an integer id"))
                })?,
            );
        }
    }
    Ok(out)
}

/// Hosts named as `[cloud:]ip`, comma-separated or repeated; the cloud area defaults to
/// `default_cloud`.
pub fn host_keys(
    m: &ArgMatches,
    id: &str,
    flag: &str,
    default_cloud: i64,
) -> Result<Vec<bk_runtime::formats::HostKey>, Failure> {
    let mut out = Vec::new();
    for v in m.get_many::<String>(id).into_iter().flatten() {
        for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (cloud, ip) = match part.split_once(':') {
                // An IPv6 address has several colons and no cloud prefix.
                Some((c, ip)) if !ip.contains(':') => (
                    c.parse::<i64>().map_err(|_| {
                        Failure::Usage(format!(
                            "--{flag}: {part:?}: the cloud area before ':' must be an integer"
                        ))
                    })?,
                    ip,
                ),
                _ => (default_cloud, part),
            };
            if ip.parse::<std::net::IpAddr>().is_err() {
                return Err(Failure::Usage(format!(
                    "--{flag}: {ip:?} is not an IP address"
                )));
            }
            out.push(bk_runtime::formats::HostKey::new(cloud, ip));
        }
    }
    Ok(out)
}

/// Text of an optional value for a table cell (`-` when absent).
pub fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(args: &[&str]) -> ArgMatches {
        Command::new("t")
            .arg(Arg::new("h").long("hosts").action(clap::ArgAction::Append))
            .try_get_matches_from(args)
            .unwrap()
    }

    #[test]
    fn ids_split_and_repeat() {
        let m = matches(&["t", "--hosts", "1, 2", "--hosts", "3"]);
        assert_eq!(ids(&m, "h", "hosts").unwrap(), vec![1, 2, 3]);
        let m = matches(&["t", "--hosts", "1,x"]);
        let Err(Failure::Usage(msg)) = ids(&m, "h", "hosts") else {
            panic!("a bad id is a usage error");
        };
        assert!(msg.contains("--hosts") && msg.contains("\"x\""), "{msg}");
    }

    #[test]
    fn host_keys_take_cloud_prefix_and_ipv6() {
        let m = matches(&["t", "--hosts", "10.0.0.1,2:10.0.0.2", "--hosts", "fe80::1"]);
        let keys = host_keys(&m, "h", "hosts", 0).unwrap();
        assert_eq!(
            keys,
            vec![
                bk_runtime::formats::HostKey::new(0, "10.0.0.1"),
                bk_runtime::formats::HostKey::new(2, "10.0.0.2"),
                bk_runtime::formats::HostKey::new(0, "fe80::1"),
            ]
        );
        let m = matches(&["t", "--hosts", "a:10.0.0.1"]);
        assert!(matches!(
            host_keys(&m, "h", "hosts", 0),
            Err(Failure::Usage(_))
        ));
        let m = matches(&["t", "--hosts", "not-an-ip"]);
        assert!(matches!(
            host_keys(&m, "h", "hosts", 0),
            Err(Failure::Usage(_))
        ));
    }
}
