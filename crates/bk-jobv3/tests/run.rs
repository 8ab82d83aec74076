//! Job runs against bk-sim: script as plain text, waiting with backoff, per-host results,
//! logs of failed hosts, progress, timeout with termination, job plans.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bk_jobv3::run::{RunError, Scope, WaitOptions};
use bk_jobv3::types::{HostTaskStatus, JobStatus};
use bk_jobv3::Jobv3Ext;
use bk_runtime::Client;
use bk_sim::state::HostSelector;
use bk_sim::{Sim, SimConfig, StateConfig};

fn start(step: Duration) -> Sim {
    bk_sim::spawn(SimConfig {
        state: StateConfig {
            hosts: 200,
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

fn fast() -> WaitOptions {
    WaitOptions {
        initial_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        timeout: Some(Duration::from_secs(20)),
        ..WaitOptions::default()
    }
}

/// A business and some of its hosts whose agents are online.
fn biz_hosts(sim: &Sim, n: usize) -> (i64, Vec<i64>) {
    let h = sim.handle();
    let st = h.state();
    let biz = st
        .biz_ids()
        .into_iter()
        .max_by_key(|b| st.biz_host_ids(*b).len())
        .unwrap();
    let hosts = st
        .biz_host_ids(biz)
        .into_iter()
        .filter(|id| st.agent_alive(*id))
        .take(n)
        .collect();
    (biz, hosts)
}

#[tokio::test]
async fn script_run_reports_each_host_and_logs_of_failures() {
    let sim = start(Duration::from_millis(20));
    let c = client(&sim);
    let (biz, hosts) = biz_hosts(&sim, 5);
    sim.handle()
        .state()
        .set_failing_hosts(vec![HostSelector::Id(hosts[1]), HostSelector::Id(hosts[3])]);
    let polls = Arc::new(AtomicU32::new(0));
    let seen = polls.clone();
    let out = c
        .jobv3()
        .run_script(Scope::biz(biz), "#!/bin/bash\necho hello")
        .hosts(hosts.clone())
        .account_alias("root")
        .wait_options(fast())
        .on_progress(move |p| {
            seen.store(p.polls, Ordering::SeqCst);
        })
        .run()
        .await
        .expect("run");
    assert!(!out.success);
    assert_eq!(out.status, Some(JobStatus::Failed));
    assert_eq!(out.hosts.len(), 5);
    assert!(out.polls >= 2, "polled until finished: {}", out.polls);
    assert_eq!(polls.load(Ordering::SeqCst), out.polls);
    let by = out.by_host_id();
    for (i, id) in hosts.iter().enumerate() {
        let h = by[id];
        if i == 1 || i == 3 {
            assert_eq!(h.status, Some(HostTaskStatus::Failed));
            assert_ne!(h.exit_code, Some(0));
            assert!(
                h.log.as_deref().is_some_and(|l| !l.is_empty()),
                "log of {id}"
            );
        } else {
            assert!(h.succeeded());
            assert_eq!(h.log, None, "no log read for a host that succeeded");
        }
    }
    assert_eq!(out.failed_hosts().count(), 2);
    // The script travelled base64-encoded.
    let job = sim.handle().state().jobs().pop().unwrap();
    assert_eq!(job.job_instance_id, out.job_instance_id);

    sim.handle().state().set_failing_hosts(vec![]);
    let ok = c
        .jobv3()
        .run_script(Scope::biz(biz), "true")
        .hosts(hosts.clone())
        .account_alias("root")
        .wait_options(fast())
        .run()
        .await
        .expect("run");
    assert!(ok.success);
    assert_eq!(ok.failed_hosts().count(), 0);
}

#[tokio::test]
async fn timeout_can_terminate_the_job() {
    let sim = start(Duration::from_secs(5));
    let c = client(&sim);
    let (biz, hosts) = biz_hosts(&sim, 2);
    let e = c
        .jobv3()
        .run_script(Scope::biz(biz), "sleep 100")
        .hosts(hosts)
        .account_alias("root")
        .wait_options(WaitOptions {
            timeout: Some(Duration::from_millis(300)),
            ..fast()
        })
        .terminate_on_timeout(true)
        .run()
        .await
        .expect_err("times out");
    match e {
        RunError::Timeout {
            job_instance_id,
            terminated,
            ..
        } => {
            assert!(terminated);
            let st = c
                .jobv3()
                .job(Scope::biz(biz), job_instance_id)
                .status(false)
                .await
                .unwrap();
            let s = st.job_instance.and_then(|j| j.status);
            assert!(
                matches!(s, Some(JobStatus::Stopping) | Some(JobStatus::Stopped)),
                "{s:?}"
            );
        }
        other => panic!("expected a timeout, got {other}"),
    }
}

#[tokio::test]
async fn plan_run_waits_for_the_end() {
    let sim = start(Duration::from_millis(10));
    let c = client(&sim);
    let (biz, _) = biz_hosts(&sim, 1);
    let out = c
        .jobv3()
        .run_plan(Scope::biz(biz), 1000)
        .wait_options(fast())
        .run()
        .await
        .expect("plan run");
    // Without variables the simulated plan targets three hosts of the business, per step.
    assert!(!out.steps.is_empty());
    assert_eq!(out.hosts.len(), 3 * out.steps.len());
    assert!(out.status.is_some() && out.polls >= 1);
    assert_eq!(out.success, out.failed_hosts().count() == 0);
}
