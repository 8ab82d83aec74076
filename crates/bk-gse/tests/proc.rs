//! Process commands against bk-sim: run, poll until done, per-instance results; failed
//! tasks and timeouts are typed errors.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bk_gse::proc::{ProcError, RUNNING};
use bk_gse::types::ProcCommand;
use bk_gse::GseExt;
use bk_runtime::poll::Poller;
use bk_runtime::Client;
use bk_sim::{Sim, SimConfig, StateConfig};

fn start(step: Duration) -> Sim {
    bk_sim::spawn(SimConfig {
        state: StateConfig {
            hosts: 50,
            job_step: step,
            ..StateConfig::default()
        },
        ..SimConfig::default()
    })
    .expect("bk-sim starts")
}

fn client(sim: &Sim) -> Client {
    let h = sim.handle();
    Client::builder()
        .endpoint(sim.url())
        .app_code(h.app_code())
        .app_secret(h.app_secret())
        .user(bk_runtime::UserAuth::BkUsername("admin".into()))
        .build()
        .expect("client builds")
}

fn fast() -> Poller {
    Poller::new(Duration::from_millis(10), Duration::from_millis(40))
        .timeout(Some(Duration::from_secs(20)))
}

#[tokio::test]
async fn command_results_per_instance_with_failures() {
    let sim = start(Duration::from_millis(20));
    let c = client(&sim);
    let h = sim.handle();
    // Without `ipaddr` the simulated process server acts on the first three hosts.
    let mut snaps = h.state().snapshot_hosts();
    snaps.sort_by_key(|s| s.bk_host_id);
    let ips: Vec<String> = snaps[..3]
        .iter()
        .map(|s| s.host["bk_host_innerip"].as_str().unwrap().to_string())
        .collect();
    for s in &snaps[..3] {
        h.state().set_agent_alive(s.bk_host_id, true);
    }
    h.state().set_agent_alive(snaps[1].bk_host_id, false);
    let seen = Arc::new(AtomicU32::new(0));
    let running = Arc::new(AtomicU32::new(0));
    let (s2, r2) = (seen.clone(), running.clone());
    let out = c
        .gse()
        .run_proc_command("session-1", ProcCommand::Restart, "*.*.*.*")
        .wait_options(fast())
        .on_progress(move |p| {
            s2.store(p.polls, Ordering::SeqCst);
            if p.error_code == RUNNING {
                r2.fetch_add(1, Ordering::SeqCst);
            }
        })
        .run()
        .await
        .expect("command runs");
    assert!(out.task_id.starts_with("GSEPROC:"), "{}", out.task_id);
    assert!(out.polls >= 2, "polled while running: {}", out.polls);
    assert_eq!(seen.load(Ordering::SeqCst), out.polls);
    assert_eq!(running.load(Ordering::SeqCst), out.polls - 1);
    assert_eq!(out.instances.len(), 3);
    assert!(!out.all_succeeded());
    let failed: Vec<_> = out.failed().collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].ipaddr.as_deref(), Some(ips[1].as_str()));
    assert_ne!(failed[0].error_code, Some(0));
    for ok in out.succeeded() {
        assert_eq!(ok.error_code, Some(0));
        assert_eq!(ok.content.as_deref(), Some("restart done"));
    }
    assert!(!out.exec_info.is_empty());
    let by = out.by_host();
    assert_eq!(by.len(), 3);
    assert!(by[ips[0].as_str()][0].succeeded);

    // One host only.
    let one = c
        .gse()
        .run_proc_command("session-1", ProcCommand::Check, "*.*.*.*")
        .ipaddr(ips[0].clone())
        .wait_options(fast())
        .run()
        .await
        .expect("command runs");
    assert!(one.all_succeeded());
    assert_eq!(one.instances.len(), 1);
    assert_eq!(one.instances[0].ipaddr.as_deref(), Some(ips[0].as_str()));
}

#[tokio::test]
async fn timeout_and_failed_task_are_typed_errors() {
    let sim = start(Duration::from_secs(5));
    let c = client(&sim);
    let e = c
        .gse()
        .run_proc_command("session-1", ProcCommand::Start, "*.*.*.*")
        .wait_options(fast().timeout(Some(Duration::from_millis(200))))
        .run()
        .await
        .expect_err("times out");
    match e {
        ProcError::Timeout {
            task_id,
            polls,
            elapsed,
            exec_info,
        } => {
            assert!(task_id.starts_with("GSEPROC:"));
            assert!(polls >= 2, "{polls}");
            assert!(elapsed >= Duration::from_millis(200));
            assert!(!exec_info.is_empty());
        }
        other => panic!("expected a timeout, got {other}"),
    }

    let e = c
        .gse()
        .proc_task("GSEPROC:19700101000000:404")
        .wait_with(&fast(), None)
        .await
        .expect_err("unknown task");
    match e {
        ProcError::TaskFailed {
            error_code,
            error_msg,
            ..
        } => {
            assert_ne!(error_code, 0);
            assert!(error_msg.contains("not found"), "{error_msg}");
        }
        other => panic!("expected a failed task, got {other}"),
    }
}
