//! JOB v2 runs against bk-sim: script as plain text, waiting with backoff, per-host status
//! and exit codes, logs of failed hosts, progress, timeout with termination, job plans.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bk_job::run::{RunError, WaitOptions};
use bk_job::types::{IpRef, IpStatus, JobStatus};
use bk_job::JobExt;
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

/// A business and some of its hosts whose agents are online: ids and addresses.
fn biz_hosts(sim: &Sim, n: usize) -> (i64, Vec<(i64, IpRef)>) {
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
        .map(|id| {
            let snap = st.host(id).unwrap();
            let ip = IpRef {
                bk_cloud_id: snap.host["bk_cloud_id"].as_i64().unwrap(),
                ip: snap.host["bk_host_innerip"].as_str().unwrap().to_string(),
            };
            (id, ip)
        })
        .collect();
    (biz, hosts)
}

#[tokio::test]
async fn script_run_reports_each_host_with_exit_codes_and_logs_of_failures() {
    let sim = start(Duration::from_millis(20));
    let c = client(&sim);
    let (biz, hosts) = biz_hosts(&sim, 5);
    sim.handle().state().set_failing_hosts(vec![
        HostSelector::Id(hosts[1].0),
        HostSelector::Id(hosts[3].0),
    ]);
    let polls = Arc::new(AtomicU32::new(0));
    let seen = polls.clone();
    let out = c
        .job()
        .run_script(biz, "root", "#!/bin/bash\necho hello")
        .ips(hosts.iter().map(|h| h.1.clone()).collect())
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
    assert_eq!(out.steps.len(), 1);
    assert!(out.polls >= 2, "polled until finished: {}", out.polls);
    assert_eq!(polls.load(Ordering::SeqCst), out.polls);
    let by = out.by_ip();
    for (i, (id, ip)) in hosts.iter().enumerate() {
        let h = by[&(ip.bk_cloud_id, ip.ip.clone())];
        if i == 1 || i == 3 {
            assert_eq!(h.status, Some(IpStatus::Failed), "host {id}");
            assert_eq!(h.exit_code, Some(1));
            let log = h.log.as_deref().unwrap_or("");
            assert!(
                log.contains("hello") && log.contains("simulated failure"),
                "{log}"
            );
        } else {
            assert!(h.succeeded(), "host {id}");
            assert_eq!(
                h.exit_code,
                Some(0),
                "exit codes of every host come with the log"
            );
            assert_eq!(h.log, None, "no log kept for a host that succeeded");
        }
    }
    assert_eq!(out.failed_hosts().count(), 2);
    // The job went through the v2 API and is known to the engine.
    let job = sim.handle().state().jobs().pop().unwrap();
    assert_eq!(job.job_instance_id, out.job_instance_id);
    assert_eq!(job.component, "job");
    assert_eq!(job.script_content, "#!/bin/bash\necho hello");

    // Everything succeeds: no log read, so no exit code either.
    sim.handle().state().set_failing_hosts(vec![]);
    sim.handle().reset_stats();
    let ok = c
        .job()
        .run_script(biz, "root", "true")
        .ips(hosts.iter().map(|h| h.1.clone()).collect())
        .wait_options(fast())
        .run()
        .await
        .expect("run");
    assert!(ok.success);
    assert_eq!(ok.status, Some(JobStatus::Success));
    assert_eq!(ok.failed_hosts().count(), 0);
    assert!(ok.hosts.iter().all(|h| h.exit_code.is_none()));
    assert_eq!(sim.handle().stats().calls_of("job.get_job_instance_log"), 0);
}

#[tokio::test]
async fn timeout_is_a_typed_error_and_can_terminate_the_job() {
    let sim = start(Duration::from_secs(5));
    let c = client(&sim);
    let (biz, hosts) = biz_hosts(&sim, 2);
    let e = c
        .job()
        .run_script(biz, "root", "sleep 100")
        .ips(hosts.iter().map(|h| h.1.clone()).collect())
        .wait_options(WaitOptions {
            timeout: Some(Duration::from_millis(300)),
            ..fast()
        })
        .terminate_on_timeout(true)
        .run()
        .await
        .expect_err("times out");
    let RunError::Timeout {
        job_instance_id,
        terminated,
        elapsed,
        last_status,
    } = e
    else {
        panic!("expected a timeout, got {e}");
    };
    assert!(terminated);
    assert!(elapsed >= Duration::from_millis(300));
    assert!(
        matches!(
            last_status,
            Some(JobStatus::Waiting) | Some(JobStatus::Running)
        ),
        "{last_status:?}"
    );
    let st = c
        .job()
        .job_instance(biz, job_instance_id)
        .status()
        .await
        .unwrap();
    let s = st.job_instance.and_then(|j| j.status);
    assert!(
        matches!(s, Some(JobStatus::Stopping) | Some(JobStatus::Stopped)),
        "{s:?}"
    );

    // Without termination the job keeps running.
    let e = c
        .job()
        .run_script(biz, "root", "sleep 100")
        .ips(hosts.iter().map(|h| h.1.clone()).collect())
        .wait_options(WaitOptions {
            timeout: Some(Duration::from_millis(100)),
            ..fast()
        })
        .run()
        .await
        .expect_err("times out");
    assert!(
        matches!(
            e,
            RunError::Timeout {
                terminated: false,
                ..
            }
        ),
        "{e}"
    );
}

#[tokio::test]
async fn plan_run_waits_for_the_end() {
    let sim = start(Duration::from_millis(10));
    let c = client(&sim);
    let (biz, _) = biz_hosts(&sim, 1);
    let out = c
        .job()
        .run_job(biz, 1000)
        .wait_options(fast())
        .run()
        .await
        .expect("plan run");
    // Without variables the simulated plan targets three hosts of the business, per step.
    assert_eq!(out.steps.len(), 2);
    assert_eq!(out.hosts.len(), 3 * out.steps.len());
    assert!(out.status.is_some() && out.polls >= 1);
    assert_eq!(out.success, out.failed_hosts().count() == 0);
}

#[tokio::test]
async fn unknown_job_is_an_api_error() {
    let sim = start(Duration::from_millis(10));
    let c = client(&sim);
    let (biz, _) = biz_hosts(&sim, 1);
    let e = c
        .job()
        .job_instance(biz, 42)
        .wait_with(&fast(), None)
        .await
        .expect_err("no such job");
    match e {
        RunError::Api(e) => assert!(e.code().is_some(), "{e}"),
        other => panic!("expected an API error, got {other}"),
    }
}
