//! `bk demo`: the integration guide's story, end to end, against an embedded bk-sim.
//!
//! Everything goes through the generated typed clients over real HTTP on loopback, exactly as
//! an application would talk to a BlueKing ESB: who am I, a full topology sync, the agents of
//! a business, a script run waited to completion with per-host results and the logs of the
//! hosts that failed, and an ITSM ticket created, approved and reported back by callback.

use std::time::{Duration, Instant};

use bk_sdk::cc::mirror::{MemoryStore, Mirror, MirrorConfig};
use bk_sdk::gse::agents::{HostKey, Liveness};
use bk_sdk::itsm::types::Field;
use bk_sdk::itsm::TicketMeta;
use bk_sdk::jobv3::run::{Scope, WaitOptions};
use bk_sdk::jobv3::types::JobStatus;
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

    step(1, "Who am I (bk_login, validated like a web app does)");
    let validator = bk_sdk::bk_login::validate::LoginValidator::new(&client);
    let user = validator.validate(&token).await?;
    println!(
        "  logged in as {} ({})",
        user.bk_username,
        user.chname.as_deref().unwrap_or("-")
    );

    step(2, "Full topology sync into a mirror (cc)");
    let t = Instant::now();
    let mirror = Mirror::open(&client, MemoryStore::new(), MirrorConfig::default()).await?;
    let synced_in = t.elapsed();
    let topo = mirror.snapshot();
    let mut pages = 0u64;
    for b in topo.bizs() {
        let hosts = topo.hosts_in_biz(b.bk_biz_id).len();
        pages += hosts.div_ceil(500).max(1) as u64;
        println!(
            "  business {:>3} {:<20} {:>6} hosts in {:>3} sets, {:>4} modules",
            b.bk_biz_id,
            b.bk_biz_name,
            hosts,
            topo.sets().filter(|s| s.bk_biz_id == b.bk_biz_id).count(),
            topo.modules()
                .filter(|m| m.bk_biz_id == b.bk_biz_id)
                .count(),
        );
    }
    println!(
        "  synced {} hosts (about {pages} pages, 4 at a time) in {:.2?}",
        topo.host_count(),
        synced_in
    );
    println!("  mainline model: {}", topo.mainline.join(" -> "));
    // The demo works in the `blueking` business (business 1 is the resource pool).
    let biz_id = topo
        .bizs()
        .find(|b| b.bk_biz_name == "blueking")
        .or_else(|| topo.bizs().find(|b| b.default == 0))
        .map(|b| b.bk_biz_id)
        .ok_or("no business in the topology")?;
    let biz_hosts = topo.hosts_in_biz(biz_id);
    if let Some(h) = biz_hosts.first() {
        let ip = h.inner_ips().into_iter().next().unwrap_or_default();
        let found = topo.hosts_by_ip(h.cloud_id(), &ip);
        println!(
            "  lookup {}:{ip} -> host {} in modules {:?}",
            h.cloud_id(),
            found.first().map(|h| h.bk_host_id).unwrap_or_default(),
            h.modules
        );
    }

    step(
        3,
        &format!("Agent status of business {biz_id} (gse, batched)"),
    );
    let keys: Vec<HostKey> = biz_hosts
        .iter()
        .filter_map(|h| {
            Some(HostKey::new(
                h.cloud_id(),
                h.inner_ips().into_iter().next()?,
            ))
        })
        .collect();
    let status = client.gse().agents().status(keys.clone()).await?;
    let online: Vec<&HostKey> = status
        .iter()
        .filter(|(_, s)| s.is_alive())
        .map(|(k, _)| k)
        .collect();
    let offline: Vec<String> = keys
        .iter()
        .filter(|k| !status.get(*k).is_some_and(|s| s.is_alive()))
        .map(|k| k.to_string())
        .collect();
    println!(
        "  {} hosts: {} agents online, {} offline",
        keys.len(),
        online.len(),
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
    let targets: Vec<i64> = biz_hosts
        .iter()
        .filter(|h| {
            let ip = h.inner_ips().into_iter().next().unwrap_or_default();
            status
                .get(&HostKey::new(h.cloud_id(), ip))
                .is_some_and(|s| s.is_alive())
        })
        .map(|h| h.bk_host_id)
        .take(5)
        .collect();
    if let Some(bad) = targets.last() {
        // Make one host fail, so the demo shows how failures and their logs come back.
        handle
            .state()
            .set_failing_hosts(vec![HostSelector::Id(*bad)]);
    }
    let script = "#!/bin/bash\necho \"disk usage on $(hostname)\"\ndf -h / | tail -1\n";
    let last = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen = last.clone();
    let outcome = client
        .jobv3()
        .run_script(Scope::biz(biz_id), script)
        .hosts(targets)
        .task_name("demo: disk usage")
        .account_alias("root")
        .wait_options(WaitOptions {
            initial_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(1),
            timeout: Some(Duration::from_secs(60)),
            ..WaitOptions::default()
        })
        .on_progress(move |p| {
            let mut last = seen.lock().unwrap_or_else(|e| e.into_inner());
            if *last != p.status {
                println!(
                    "  {:>5} ms  job {} status {}",
                    p.elapsed.as_millis(),
                    p.job_instance_id,
                    p.status
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "?".into())
                );
                *last = p.status;
            }
        })
        .run()
        .await?;
    println!("  host   ip               status       exit code");
    for h in &outcome.hosts {
        println!(
            "  {:<6} {:<16} {:<12} {}",
            h.bk_host_id.unwrap_or_default(),
            h.ip.as_deref().unwrap_or("-"),
            h.status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "?".into()),
            h.exit_code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".into())
        );
    }
    for h in outcome.failed_hosts() {
        println!("  log of failed host {}:", h.bk_host_id.unwrap_or_default());
        for line in h.log.as_deref().unwrap_or("").lines().take(6) {
            println!("    | {line}");
        }
    }
    println!(
        "  job {} {} in {:.1?}; {} host(s) failed",
        outcome.job_instance_id,
        match outcome.status {
            Some(JobStatus::Success) => "succeeded".to_string(),
            Some(s) => format!("ended with {s}"),
            None => "ended".to_string(),
        },
        outcome.elapsed,
        outcome.failed_hosts().count()
    );

    step(5, "ITSM ticket: create, approve, get the verified callback");
    // The app's callback receiver: verifies each callback's token with ITSM before
    // believing it, then hands over a typed event.
    let receiver = bk_sdk::itsm::callback::ApprovalCallback::new(&client);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let callback_url = format!("http://{}/itsm/callback", listener.local_addr()?);
    let app = receiver.router("/itsm/callback");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
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
    // In real life a person approves in ITSM; the simulator does it on request.
    handle.state().approve(&ticket.sn, "leader", true).await?;
    let event = receiver
        .wait_event(&ticket.sn, Some(Duration::from_secs(10)))
        .await?;
    println!(
        "  verified callback: sn {} status {} approve_result {} by {}",
        event.sn,
        event.current_status,
        event.approve_result.unwrap_or(false),
        event.approver.as_deref().unwrap_or("?")
    );
    let done = client
        .itsm()
        .wait_ticket(
            &ticket.sn,
            &bk_sdk::itsm::wait::WaitOptions {
                initial_delay: Duration::from_millis(200),
                timeout: Some(Duration::from_secs(30)),
                ..Default::default()
            },
        )
        .await?;
    println!(
        "  ticket {} is {} (terminal: {}, approved: {})",
        done.sn,
        done.status,
        bk_sdk::itsm::wait::is_terminal(&done.status),
        event.approved()
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
