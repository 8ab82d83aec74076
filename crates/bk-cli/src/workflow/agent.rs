//! `bk agent status`: the GSE agent of every host of a business (from CMDB or from the
//! topology mirror), or of hosts named by IP, queried in concurrent API-sized batches.

use std::collections::BTreeMap;

use bk_runtime::formats::HostKey;
use bk_sdk::cc::types::Page;
use bk_sdk::gse::agents::Liveness;
use bk_sdk::gse::types::{AgentInfo, AgentStatus};
use bk_sdk::prelude::*;
use bk_sdk::runtime::pagination::TryStreamExt;
use clap::{value_parser, Arg, ArgAction, ArgMatches, Command};
use serde_json::json;

use super::{client, db_arg, host_keys, opt, print_rows, Failure, Outcome};

/// `bk agent` and its subcommand.
pub fn command() -> Command {
    Command::new("agent")
        .about("GSE agents of many hosts at once")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(
            Command::new("status")
                .about("Whether each host's agent is online, with its version")
                .long_about(
                    "Whether each host's GSE agent is online, with its version. The hosts are a \
                     business's (read from CMDB, or from the topology mirror with --db) or the \
                     ones named by --ips. They are queried in batches of --batch hosts, \
                     --concurrency batches at a time. Hosts GSE does not report show as \
                     `unknown`. A summary line goes to stderr.",
                )
                .args(super::common_args())
                .arg(
                    Arg::new("biz")
                        .long("biz")
                        .value_name("ID")
                        .value_parser(value_parser!(i64))
                        .help("Every host of this business"),
                )
                .arg(
                    Arg::new("ips")
                        .long("ips")
                        .value_name("[CLOUD:]IP")
                        .action(ArgAction::Append)
                        .help("These hosts (cloud area 0 unless prefixed)"),
                )
                .group(
                    clap::ArgGroup::new("hosts")
                        .args(["biz", "ips"])
                        .required(true),
                )
                .arg(db_arg().help(
                    "Take the business's hosts from this topology mirror (bk topo sync) instead \
                     of CMDB",
                ))
                .arg(
                    Arg::new("offline")
                        .long("offline")
                        .action(ArgAction::SetTrue)
                        .help("List only hosts whose agent is not online"),
                )
                .arg(
                    Arg::new("batch")
                        .long("batch")
                        .value_name("N")
                        .value_parser(value_parser!(u16).range(1..=1000))
                        .default_value("500")
                        .help("Hosts per GSE call"),
                )
                .arg(
                    Arg::new("concurrency")
                        .long("concurrency")
                        .value_name("N")
                        .value_parser(value_parser!(u16).range(1..=64))
                        .default_value("4")
                        .help("GSE calls in flight"),
                ),
        )
}

/// Runs `bk agent ...`.
pub async fn run(m: &ArgMatches) -> Outcome {
    match m.subcommand() {
        Some(("status", sm)) => status(sm).await,
        _ => Err(Failure::Usage("name a subcommand of agent: status".into())),
    }
}

/// One host to report on.
struct Target {
    key: HostKey,
    bk_host_id: Option<i64>,
}

async fn targets(m: &ArgMatches, client: &bk_runtime::Client) -> Result<Vec<Target>, Failure> {
    if m.contains_id("ips") {
        return Ok(host_keys(m, "ips", "ips", 0)?
            .into_iter()
            .map(|key| Target {
                key,
                bk_host_id: None,
            })
            .collect());
    }
    let biz = *m
        .get_one::<i64>("biz")
        .ok_or_else(|| Failure::Usage("give --biz or --ips".into()))?;
    if m.contains_id("db") {
        let topo = super::topo::load(m)?;
        if topo.biz(biz).is_none() {
            return Err(Failure::Failed(format!(
                "business {biz} is not in the topology mirror"
            )));
        }
        return Ok(topo
            .hosts_in_biz(biz)
            .into_iter()
            .flat_map(|h| {
                let cloud = h.cloud_id();
                let id = h.bk_host_id;
                h.inner_ips().into_iter().take(1).map(move |ip| Target {
                    key: HostKey::new(cloud, ip),
                    bk_host_id: Some(id),
                })
            })
            .collect());
    }
    let hosts: Vec<bk_sdk::cc::types::Host> = client
        .cc()
        .list_biz_hosts(
            biz,
            Page {
                start: Some(0),
                limit: 500,
                ..Default::default()
            },
            vec![
                "bk_host_id".into(),
                "bk_host_innerip".into(),
                "bk_cloud_id".into(),
            ],
        )
        .concurrency(4)
        .items()
        .try_collect()
        .await?;
    Ok(hosts
        .into_iter()
        .filter_map(|h| {
            let ip = h.bk_host_innerip?.split(',').next()?.trim().to_string();
            (!ip.is_empty()).then(|| Target {
                key: HostKey::new(h.bk_cloud_id.unwrap_or(0), ip),
                bk_host_id: h.bk_host_id,
            })
        })
        .collect())
}

async fn status(m: &ArgMatches) -> Outcome {
    let client = client(m)?;
    let targets = targets(m, &client).await?;
    if targets.is_empty() {
        return Err(Failure::Failed("no hosts to ask about".into()));
    }
    let agents = client
        .gse()
        .agents()
        .batch_size(usize::from(*m.get_one::<u16>("batch").unwrap_or(&500)))
        .concurrency(usize::from(*m.get_one::<u16>("concurrency").unwrap_or(&4)));
    let keys: Vec<HostKey> = targets.iter().map(|t| t.key.clone()).collect();
    let (status, info): (BTreeMap<HostKey, AgentStatus>, BTreeMap<HostKey, AgentInfo>) =
        futures::try_join!(agents.status(keys.clone()), agents.info(keys))?;
    let only_offline = m.get_flag("offline");
    let (mut online, mut offline, mut unknown) = (0usize, 0usize, 0usize);
    let mut rows = Vec::new();
    let mut list = Vec::new();
    for t in &targets {
        let st = status.get(&t.key);
        let alive = match st {
            Some(s) if s.is_alive() => {
                online += 1;
                "online".to_string()
            }
            Some(s) => {
                offline += 1;
                s.bk_agent_alive.to_string().to_lowercase()
            }
            None => {
                unknown += 1;
                "unknown".to_string()
            }
        };
        if only_offline && alive == "online" {
            continue;
        }
        let version = info.get(&t.key).and_then(|i| i.version.clone());
        rows.push(vec![
            opt(t.bk_host_id),
            t.key.ip.clone(),
            t.key.bk_cloud_id.to_string(),
            alive.clone(),
            opt(version.as_deref()),
        ]);
        list.push(json!({
            "bk_host_id": t.bk_host_id,
            "ip": t.key.ip,
            "bk_cloud_id": t.key.bk_cloud_id,
            "alive": alive,
            "version": version,
        }));
    }
    print_rows(
        m,
        &["bk_host_id", "ip", "bk_cloud_id", "agent", "version"],
        &rows,
        &serde_json::Value::Array(list),
    )?;
    eprintln!(
        "{} hosts: {online} online, {offline} not online, {unknown} not reported by GSE",
        targets.len()
    );
    Ok(())
}
