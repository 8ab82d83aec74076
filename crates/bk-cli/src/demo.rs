//! `bk demo`: the integration guide's story, end to end, against an embedded bk-sim.
//!
//! Everything goes through the generated typed clients over real HTTP on loopback, exactly as
//! an application would talk to a BlueKing ESB: who am I, a full topology sync, the agents of
//! a business, a script run waited to completion with per-host results and the logs of the
//! hosts that failed, and an ITSM ticket created, approved and reported back by callback.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bk_sdk::cc::types::Page;
use bk_sdk::gse::types::{AgentAlive, HostIp};
use bk_sdk::itsm::types::{Field, TicketStatus};
use bk_sdk::itsm::TicketMeta;
use bk_sdk::jobv3::types::{JobStatus, ScopeType, Server};
use bk_sdk::prelude::*;
use bk_sdk::runtime::UserAuth;
use bk_sim::state::HostSelector;
use bk_sim::{SimConfig, StateConfig};
use serde_json::json;

/// Options of the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Hosts in the simulated CMDB.
    pub hosts: usize,
    /// Seed of the simulated topology.
    pub seed: u64,
}

type DemoResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn step(n: u32, title: &str) {
    println!("\n[{n}/5] {title}");
}

/// Runs the demo and prints what a user wants to see.
pub async fn run(opts: DemoOptions) -> DemoResult<()> {
    let started = Instant::now();
    let sim = bk_sim::spawn(SimConfig {
        state: StateConfig {
            hosts: opts.hosts,
            seed: opts.seed,
            job_step: Duration::from_millis(300),
            itsm_auto_approve: None,
            ..StateConfig::default()
        },
        ..SimConfig::default()
    })?;
    let handle = sim.handle();
    let token = handle.issue_token(handle.username());
    println!(
        "bk-sim listening on {} ({} hosts, seed {})",
        sim.url(),
        opts.hosts,
        opts.seed
    );

    let client = bk_sdk::Client::builder()
        .endpoint(sim.url())
        .app_code(handle.app_code())
        .app_secret(handle.app_secret())
        .user(UserAuth::BkToken(token.clone().into()))
        .build()?;

    step(1, "Who am I (bk_login)");
    let me = client.bk_login().is_login(token.clone()).send().await?;
    let user = client.bk_login().get_user().send().await?;
    println!(
        "  logged in as {} ({})",
        me.bk_username,
        user.chname.as_deref().unwrap_or("-")
    );

    step(2, "Full topology sync (cc)");
    let t = Instant::now();
    let businesses = client.cc().search_business().send().await?;
    // The demo works in the `blueking` business (business 1 is the resource pool).
    let demo_biz = businesses
        .info
        .iter()
        .find(|b| b.bk_biz_name.as_deref() == Some("blueking"))
        .or_else(|| businesses.info.iter().find(|b| b.bk_biz_id != Some(1)))
        .or(businesses.info.first())
        .and_then(|b| b.bk_biz_id)
        .ok_or("no business in the topology")?;
    let mut total_hosts = 0usize;
    let mut first_biz_hosts: Vec<(i64, String, i64)> = Vec::new();
    let mut pages = 0usize;
    for biz in &businesses.info {
        let Some(biz_id) = biz.bk_biz_id else {
            continue;
        };
        let mut start = 0i64;
        let mut modules = std::collections::BTreeSet::new();
        let mut sets = std::collections::BTreeSet::new();
        let mut count = 0usize;
        loop {
            let page = Page {
                start: Some(start),
                limit: 500,
                ..Default::default()
            };
            let data = client
                .cc()
                .list_biz_hosts_topo(
                    biz_id,
                    page,
                    vec![
                        "bk_host_id".into(),
                        "bk_host_innerip".into(),
                        "bk_cloud_id".into(),
                    ],
                )
                .send()
                .await?;
            pages += 1;
            for h in &data.info {
                count += 1;
                for s in h.topo.iter().flatten() {
                    sets.insert(s.bk_set_id);
                    for m in s.module.iter().flatten() {
                        modules.insert(m.bk_module_id);
                    }
                }
                if first_biz_hosts.len() < 8 && biz_id == demo_biz {
                    if let (Some(id), Some(ip)) =
                        (h.host.bk_host_id, h.host.bk_host_innerip.clone())
                    {
                        first_biz_hosts.push((id, ip, h.host.bk_cloud_id.unwrap_or(0)));
                    }
                }
            }
            start += data.info.len() as i64;
            if data.info.is_empty() || start >= data.count {
                break;
            }
        }
        total_hosts += count;
        println!(
            "  business {:>3} {:<20} {:>6} hosts in {:>3} sets, {:>4} modules",
            biz_id,
            biz.bk_biz_name.as_deref().unwrap_or("?"),
            count,
            sets.len(),
            modules.len()
        );
    }
    println!(
        "  synced {total_hosts} hosts in {pages} pages, {:.2?}",
        t.elapsed()
    );
    let mainline = client.cc().get_mainline_object_topo().send().await?;
    let chain: Vec<String> = mainline.iter().map(|o| o.bk_obj_id.clone()).collect();
    println!("  mainline model: {}", chain.join(" -> "));

    let biz_id = demo_biz;

    step(3, &format!("Agent status of business {biz_id} (gse)"));
    let all_ids = handle.state().biz_host_ids(biz_id);
    let snapshot: BTreeMap<i64, bk_sim::state::HostSnapshot> = handle
        .state()
        .snapshot_hosts()
        .into_iter()
        .filter(|h| h.bk_biz_id == biz_id)
        .map(|h| (h.bk_host_id, h))
        .collect();
    let hosts: Vec<HostIp> = snapshot
        .values()
        .filter_map(|h| {
            let ip = h.host.get("bk_host_innerip")?.as_str()?.to_string();
            let cloud = h
                .host
                .get("bk_cloud_id")
                .and_then(|v| v.as_i64())
                .unwrap_or(0);
            Some(HostIp {
                ip,
                bk_cloud_id: cloud,
            })
        })
        .collect();
    let mut online = 0;
    let mut offline = Vec::new();
    for batch in hosts.chunks(500) {
        let status = client
            .gse()
            .get_agent_status("0", batch.to_vec())
            .send()
            .await?;
        for (key, s) in status {
            match s.bk_agent_alive {
                AgentAlive::Online => online += 1,
                _ => offline.push(key),
            }
        }
    }
    println!(
        "  {} hosts: {online} agents online, {} offline",
        all_ids.len(),
        offline.len()
    );
    if !offline.is_empty() {
        println!(
            "  offline (first 5): {}",
            offline
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    step(4, "Run a script on 5 hosts and wait (jobv3)");
    let targets: Vec<(i64, String, i64)> = first_biz_hosts
        .iter()
        .filter(|(id, ..)| handle.state().agent_alive(*id))
        .take(5)
        .cloned()
        .collect();
    if let Some((bad, ..)) = targets.last() {
        // Make one host fail, so the demo shows how failures and their logs come back.
        handle
            .state()
            .set_failing_hosts(vec![HostSelector::Id(*bad)]);
    }
    let script = "#!/bin/bash\necho \"disk usage on $(hostname)\"\ndf -h / | tail -1\n";
    let run = client
        .jobv3()
        .fast_execute_script(ScopeType::Biz, biz_id.to_string())
        .script_content_text(script)
        .task_name("demo: disk usage")
        .account_alias("root")
        .timeout(600)
        .target_server(Server {
            host_id_list: Some(targets.iter().map(|(id, ..)| *id).collect()),
            ..Default::default()
        })
        .send()
        .await?;
    println!("  job instance {} started", run.job_instance_id);
    let t = Instant::now();
    let mut last_status = None;
    let status = loop {
        let s = client
            .jobv3()
            .get_job_instance_status(ScopeType::Biz, biz_id.to_string(), run.job_instance_id)
            .return_ip_result(true)
            .send()
            .await?;
        let now = s.job_instance.as_ref().and_then(|j| j.status);
        if now != last_status {
            println!(
                "  {:>5} ms  status {}",
                t.elapsed().as_millis(),
                now.map(|s| s.to_string()).unwrap_or_else(|| "?".into())
            );
            last_status = now;
        }
        if s.finished {
            break s;
        }
        if t.elapsed() > Duration::from_secs(60) {
            return Err("the job did not finish in 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    println!("  host   ip               status       exit code");
    let mut failed = Vec::new();
    for step in status.step_instance_list.iter().flatten() {
        for h in step.step_ip_result_list.iter().flatten() {
            let st = h
                .status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "?".into());
            println!(
                "  {:<6} {:<16} {:<12} {}",
                h.bk_host_id.unwrap_or_default(),
                h.ip.as_deref().unwrap_or("-"),
                st,
                h.exit_code
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "-".into())
            );
            if h.exit_code.unwrap_or(0) != 0 || st.to_lowercase().contains("fail") {
                if let Some(id) = h.bk_host_id {
                    failed.push(id);
                }
            }
        }
        if !failed.is_empty() {
            let logs = client
                .jobv3()
                .batch_get_job_instance_ip_log(
                    ScopeType::Biz,
                    biz_id.to_string(),
                    run.job_instance_id,
                    step.step_instance_id,
                )
                .host_id_list(failed.clone())
                .send()
                .await?;
            for log in logs.script_task_logs.iter().flatten() {
                println!(
                    "  log of failed host {}:",
                    log.bk_host_id.unwrap_or_default()
                );
                for line in log.log_content.as_deref().unwrap_or("").lines().take(6) {
                    println!("    | {line}");
                }
            }
        }
    }
    let outcome = match status.job_instance.and_then(|j| j.status) {
        Some(JobStatus::Success) => "succeeded".to_string(),
        Some(s) => format!("ended with {s}"),
        None => "ended".to_string(),
    };
    println!(
        "  job {outcome} in {:.1?}; {} host(s) failed",
        t.elapsed(),
        failed.len()
    );

    step(5, "ITSM ticket: create, approve, get the callback");
    let (callback_url, mut callbacks) = callback_receiver().await?;
    let ticket = client
        .itsm()
        .create_ticket(
            handle.username(),
            vec![
                Field {
                    key: "title".into(),
                    value: json!("Demo: expand disk on web hosts"),
                },
                Field {
                    key: "reason".into(),
                    value: json!("disk usage above 80%"),
                },
            ],
        )
        .service_id(1)
        .meta(TicketMeta {
            callback_url: Some(callback_url),
            ..Default::default()
        })
        .send()
        .await?;
    let s = client
        .itsm()
        .get_ticket_status(ticket.sn.clone())
        .send()
        .await?;
    println!("  ticket {} created: {}", ticket.sn, s.current_status);
    handle.state().approve(&ticket.sn, "leader", true).await?;
    let cb = tokio::time::timeout(Duration::from_secs(10), callbacks.recv())
        .await?
        .ok_or("no callback arrived")?;
    println!(
        "  callback received: sn {} status {} approve_result {}",
        cb["sn"].as_str().unwrap_or("?"),
        cb["current_status"].as_str().unwrap_or("?"),
        cb["approve_result"]
    );
    let s = client
        .itsm()
        .get_ticket_status(ticket.sn.clone())
        .send()
        .await?;
    let terminal = matches!(
        s.current_status,
        TicketStatus::Finished | TicketStatus::Terminated | TicketStatus::Revoked
    );
    println!(
        "  ticket {} is {} (terminal: {terminal})",
        ticket.sn, s.current_status
    );

    let stats = handle.stats();
    println!(
        "\nDone in {:.2?}: {} API calls answered by bk-sim.",
        started.elapsed(),
        stats.requests
    );
    sim.shutdown().await;
    Ok(())
}

/// A loopback HTTP endpoint that receives ITSM's approval callbacks.
async fn callback_receiver() -> DemoResult<(
    String,
    tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>,
)> {
    use axum::routing::post;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/itsm/callback",
        post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body);
                axum::Json(json!({"code": 0, "result": true, "message": "ok"}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/itsm/callback", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, rx))
}
