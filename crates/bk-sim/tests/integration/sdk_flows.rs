//! The stateful flows of bk-sim driven through the generated, typed clients of `bk-sdk`
//! over loopback: what an application built on the SDK sees end to end.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bk_runtime::{Client, ErrorKind, UserAuth};
use bk_sdk::cc::types::{Page, WatchEventType, WatchResource};
use bk_sdk::gse::types::{AgentAlive, HostIp};
use bk_sdk::itsm::types::{Field, TicketAction, TicketStatus};
use bk_sdk::jobv3::types::{HostTaskStatus, JobStatus, ScopeType, Server};
use bk_sdk::prelude::*;
use bk_sim::state::HostSelector;
use bk_sim::{Sim, SimConfig, StateConfig};
use serde_json::json;

const JOB_STEP: Duration = Duration::from_millis(100);
const WATCH_TIMEOUT: Duration = Duration::from_millis(600);

fn config() -> SimConfig {
    SimConfig {
        state: StateConfig {
            hosts: 200,
            job_step: JOB_STEP,
            watch_timeout: WATCH_TIMEOUT,
            itsm_auto_approve: None,
            ..StateConfig::default()
        },
        ..SimConfig::default()
    }
}

fn start() -> Sim {
    bk_sim::spawn(config()).expect("bk-sim starts")
}

fn client_as(sim: &Sim, user: UserAuth) -> Client {
    let h = sim.handle();
    Client::builder()
        .endpoint(sim.url())
        .app_code(h.app_code())
        .app_secret(h.app_secret())
        .user(user)
        .request_timeout(Duration::from_secs(10))
        .build()
        .expect("client builds")
}

fn client(sim: &Sim) -> Client {
    client_as(sim, UserAuth::BkUsername("admin".into()))
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn is_request_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn page(start: i64, limit: i64) -> Page {
    Page {
        start: Some(start),
        limit,
        ..Page::default()
    }
}

/// A business that holds hosts (the largest one).
fn busiest_biz(sim: &Sim) -> i64 {
    let s = sim.handle();
    let st = s.state();
    st.biz_ids()
        .into_iter()
        .max_by_key(|b| st.biz_host_ids(*b).len())
        .expect("a business")
}

// ---------------------------------------------------------------------------------------
// CC: topology reads
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn cc_full_topology_read_pages_every_host() {
    let sim = start();
    let h = sim.handle();
    let c = client(&sim);

    let biz = c
        .cc()
        .search_business()
        .fields(vec!["bk_biz_id".into(), "bk_biz_name".into()])
        .send()
        .await
        .expect("search_business");
    let ids: Vec<i64> = biz.info.iter().map(|b| b.bk_biz_id.unwrap()).collect();
    assert_eq!(biz.count as usize, biz.info.len());
    assert_eq!(
        ids.iter().copied().collect::<BTreeSet<_>>(),
        h.state().biz_ids().into_iter().collect::<BTreeSet<_>>(),
        "search_business lists every business of the state"
    );
    assert!(biz.info.iter().all(|b| b.bk_biz_name.is_some()));

    // Page through every business's hosts with a page size that does not divide the count.
    const LIMIT: i64 = 37;
    let fields: Vec<String> = ["bk_host_id", "bk_host_innerip", "bk_cloud_id"]
        .map(String::from)
        .to_vec();
    let mut seen = BTreeSet::new();
    let mut calls = 0;
    for biz_id in &ids {
        let mut start = 0;
        let mut got = Vec::new();
        let total = loop {
            let p = c
                .cc()
                .list_biz_hosts_topo(*biz_id, page(start, LIMIT), fields.clone())
                .send()
                .await
                .expect("list_biz_hosts_topo");
            calls += 1;
            assert!(p.info.len() as i64 <= LIMIT);
            got.extend(p.info);
            start += LIMIT;
            if got.len() as i64 >= p.count || start >= p.count {
                break p.count;
            }
        };
        assert_eq!(got.len() as i64, total, "biz {biz_id}: every host fetched");
        assert_eq!(
            got.len(),
            h.state().biz_host_ids(*biz_id).len(),
            "biz {biz_id}: host count matches the state"
        );
        let host_ids: Vec<i64> = got.iter().map(|t| t.host.bk_host_id.unwrap()).collect();
        assert!(
            host_ids.windows(2).all(|w| w[0] < w[1]),
            "biz {biz_id}: hosts sorted by bk_host_id across pages"
        );
        for t in &got {
            let id = t.host.bk_host_id.unwrap();
            let snap = h.state().host(id).expect("host known to the state");
            assert_eq!(snap.bk_biz_id, *biz_id);
            assert_eq!(
                t.host.bk_host_innerip.as_deref(),
                snap.host["bk_host_innerip"].as_str()
            );
            // The placement reported matches the state's.
            let topo = t.topo.as_ref().expect("topo");
            let sets: Vec<i64> = topo.iter().map(|s| s.bk_set_id).collect();
            let modules: BTreeSet<i64> = topo
                .iter()
                .flat_map(|s| s.module.iter().flatten().map(|m| m.bk_module_id))
                .collect();
            assert_eq!(
                sets.iter().copied().collect::<BTreeSet<_>>(),
                snap.bk_set_ids.iter().copied().collect::<BTreeSet<_>>()
            );
            assert_eq!(
                modules,
                snap.bk_module_ids.iter().copied().collect::<BTreeSet<_>>()
            );
            assert!(seen.insert(id), "host {id} listed twice");
        }
    }
    assert_eq!(seen.len(), h.state().host_count(), "all hosts fetched");
    assert!(
        calls > ids.len(),
        "paging needed more than one page somewhere"
    );

    // Mainline model: biz -> set -> module -> host, chained by next/pre.
    let mainline = c
        .cc()
        .get_mainline_object_topo()
        .send()
        .await
        .expect("get_mainline_object_topo");
    let objs: Vec<&str> = mainline.iter().map(|o| o.bk_obj_id.as_str()).collect();
    assert_eq!(objs, ["biz", "set", "module", "host"]);
    for w in mainline.windows(2) {
        assert_eq!(w[0].bk_next_obj.as_deref(), Some(w[1].bk_obj_id.as_str()));
        assert_eq!(w[1].bk_pre_obj_id.as_deref(), Some(w[0].bk_obj_id.as_str()));
    }

    // Instance tree of the busiest business: its modules are the state's.
    let biz_id = busiest_biz(&sim);
    let tree = c
        .cc()
        .search_biz_inst_topo(biz_id)
        .level(-1)
        .send()
        .await
        .expect("search_biz_inst_topo");
    assert_eq!(tree.len(), 1);
    assert_eq!(tree[0].bk_inst_id, biz_id);
    assert_eq!(tree[0].bk_obj_id.as_deref(), Some("biz"));
    let mut modules = BTreeSet::new();
    let mut sets = BTreeSet::new();
    for set in tree[0].child.iter().flatten() {
        assert_eq!(set.bk_obj_id.as_deref(), Some("set"));
        sets.insert(set.bk_inst_id);
        for m in set.child.iter().flatten() {
            assert_eq!(m.bk_obj_id.as_deref(), Some("module"));
            modules.insert((m.bk_inst_id, set.bk_inst_id));
        }
    }
    // The idle pool set and its built-in modules are not part of the instance tree (CMDB
    // serves them through get_biz_internal_module); every other module is, under its set.
    let (ordinary, builtin): (Vec<_>, Vec<_>) = h
        .state()
        .modules_of(biz_id)
        .into_iter()
        .partition(|(_, _, _, default)| *default == 0);
    let want: BTreeSet<(i64, i64)> = ordinary.iter().map(|(m, s, _, _)| (*m, *s)).collect();
    assert_eq!(
        modules, want,
        "every ordinary module of the business, under its set"
    );
    assert!(!builtin.is_empty());
    assert!(builtin.iter().all(|(_, s, _, _)| !sets.contains(s)));
}

#[tokio::test]
async fn cc_page_limit_errors_are_typed_api_errors() {
    let sim = start();
    let c = client(&sim);
    let biz = busiest_biz(&sim);
    let e = c
        .cc()
        .list_biz_hosts_topo(biz, page(0, 501), vec!["bk_host_id".into()])
        .send()
        .await
        .expect_err("limit 501 is refused");
    assert!(matches!(e.kind(), ErrorKind::Api { .. }), "{e:?}");
    assert_eq!(e.code(), Some(1199035));
    assert!(e.message().unwrap_or("").contains("500"), "{e}");
    assert!(is_request_id(e.request_id().expect("request id")), "{e:?}");
    assert_eq!(e.http_status(), Some(200));
    assert_eq!(e.component(), Some("cc"));
    assert_eq!(e.api(), Some("list_biz_hosts_topo"));
    let text = e.to_string();
    assert!(text.contains("cc.list_biz_hosts_topo"), "{text}");
    assert!(text.contains("1199035"), "{text}");
    assert!(text.contains(e.request_id().unwrap()), "{text}");
    // The request id is the one the simulator logged.
    let logged = sim
        .handle()
        .requests()
        .into_iter()
        .find(|r| r.request_id == e.request_id().unwrap())
        .expect("request in the sim log");
    assert_eq!(logged.code, Some(1199035));

    let e = c
        .cc()
        .list_biz_hosts_topo(biz, page(0, 0), vec!["bk_host_id".into()])
        .send()
        .await
        .expect_err("limit 0 is refused");
    assert_eq!(e.code(), Some(1199010), "{e}");

    // 500 is the largest page allowed.
    let ok = c
        .cc()
        .list_biz_hosts_topo(biz, page(0, 500), vec!["bk_host_id".into()])
        .send()
        .await
        .expect("limit 500 is fine");
    assert_eq!(ok.info.len() as i64, ok.count);
}

// ---------------------------------------------------------------------------------------
// CC: host move and resource_watch
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn host_move_is_seen_by_resource_watch() {
    let sim = start();
    let h = sim.handle();
    let c = client(&sim);
    let biz = busiest_biz(&sim);
    let host = h.state().biz_host_ids(biz)[0];
    let before = h.state().host(host).unwrap();
    let target = h
        .state()
        .modules_of(biz)
        .into_iter()
        .find(|(m, _, _, default)| *default == 0 && !before.bk_module_ids.contains(m))
        .map(|(m, _, _, _)| m)
        .expect("another ordinary module");

    // Nothing happens: the long poll ends after the watch timeout with a resume cursor.
    let t0 = Instant::now();
    let idle = c
        .cc()
        .resource_watch(WatchResource::HostRelation)
        .send()
        .await
        .expect("resource_watch");
    let waited = t0.elapsed();
    assert!(!idle.bk_watched);
    assert!(
        waited >= WATCH_TIMEOUT - Duration::from_millis(50),
        "long poll returned after {waited:?}"
    );
    let events = idle.bk_events.expect("a cursor-only event");
    assert_eq!(events.len(), 1);
    assert!(!events[0].bk_cursor.is_empty());
    assert!(events[0].bk_detail.as_ref().is_none_or(|d| d.is_null()));
    let cursor = events[0].bk_cursor.clone();

    // Move the host through the typed client.
    c.cc()
        .transfer_host_module(biz, vec![host], vec![target])
        .send()
        .await
        .expect("transfer_host_module");
    assert_eq!(h.state().host(host).unwrap().bk_module_ids, vec![target]);

    // Resuming from the cursor yields the move at once.
    let t0 = Instant::now();
    let moved = c
        .cc()
        .resource_watch(WatchResource::HostRelation)
        .bk_cursor(cursor.clone())
        .send()
        .await
        .expect("resource_watch from cursor");
    assert!(t0.elapsed() < WATCH_TIMEOUT, "events are answered at once");
    assert!(moved.bk_watched);
    let evs = moved.bk_events.expect("events");
    let created: Vec<_> = evs
        .iter()
        .filter(|e| e.bk_event_type == Some(WatchEventType::Create))
        .collect();
    let deleted: Vec<_> = evs
        .iter()
        .filter(|e| e.bk_event_type == Some(WatchEventType::Delete))
        .collect();
    assert_eq!(created.len(), 1, "{evs:?}");
    assert_eq!(deleted.len(), before.bk_module_ids.len(), "{evs:?}");
    let d = created[0].bk_detail.as_ref().expect("detail");
    assert_eq!(d["bk_host_id"], json!(host));
    assert_eq!(d["bk_module_id"], json!(target));
    assert_eq!(d["bk_biz_id"], json!(biz));
    for e in &evs {
        assert_eq!(e.bk_resource, Some(WatchResource::HostRelation));
        assert!(!e.bk_cursor.is_empty() && e.bk_cursor != cursor);
    }
    let last = evs.last().unwrap().bk_cursor.clone();

    // A watch that is already waiting wakes up when the host moves back.
    let c2 = c.clone();
    let last2 = last.clone();
    let waiter = tokio::spawn(async move {
        let t0 = Instant::now();
        let r = c2
            .cc()
            .resource_watch(WatchResource::HostRelation)
            .bk_cursor(last2)
            .send()
            .await;
        (r, t0.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.cc()
        .transfer_host_module(biz, vec![host], before.bk_module_ids.clone())
        .send()
        .await
        .expect("transfer back");
    let (r, took) = waiter.await.unwrap();
    let woke = r.expect("waiting watch");
    assert!(woke.bk_watched);
    assert!(
        took < WATCH_TIMEOUT,
        "the waiting watch answered after {took:?}, not at its timeout"
    );
    let back: BTreeSet<i64> = woke
        .bk_events
        .unwrap()
        .iter()
        .filter(|e| e.bk_event_type == Some(WatchEventType::Create))
        .map(|e| {
            e.bk_detail.as_ref().unwrap()["bk_module_id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(
        back,
        before
            .bk_module_ids
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
    );

    // Expired cursors: 1103007, a typed API error with a request id.
    h.state().expire_cursors();
    let e = c
        .cc()
        .resource_watch(WatchResource::HostRelation)
        .bk_cursor(last)
        .send()
        .await
        .expect_err("expired cursor");
    assert!(matches!(e.kind(), ErrorKind::Api { .. }), "{e:?}");
    assert_eq!(e.code(), Some(1103007), "{e}");
    assert!(is_request_id(e.request_id().unwrap_or("")), "{e:?}");
    // Starting over from "now" works again.
    let fresh = c
        .cc()
        .resource_watch(WatchResource::HostRelation)
        .send()
        .await
        .expect("fresh watch after expiry");
    assert!(!fresh.bk_watched);
}

// ---------------------------------------------------------------------------------------
// JOB v3
// ---------------------------------------------------------------------------------------

async fn wait_job(c: &Client, biz: i64, job: i64) -> bk_sdk::jobv3::GetJobInstanceStatusResponse {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let st = c
            .jobv3()
            .get_job_instance_status(ScopeType::Biz, biz.to_string(), job)
            .return_ip_result(true)
            .send()
            .await
            .expect("get_job_instance_status");
        if st.finished {
            return st;
        }
        assert!(Instant::now() < deadline, "job {job} never finished");
        tokio::time::sleep(JOB_STEP / 2).await;
    }
}

#[tokio::test]
async fn job_script_runs_and_failing_hosts_have_logs() {
    let sim = start();
    let h = sim.handle();
    let c = client(&sim);
    let biz = busiest_biz(&sim);
    let hosts: Vec<i64> = h
        .state()
        .biz_host_ids(biz)
        .into_iter()
        .filter(|id| h.state().agent_alive(*id))
        .take(4)
        .collect();
    assert_eq!(hosts.len(), 4);
    let ip1 = h.state().host(hosts[1]).unwrap().host["bk_host_innerip"]
        .as_str()
        .unwrap()
        .to_string();
    h.state()
        .set_failing_hosts(vec![HostSelector::Id(hosts[0]), HostSelector::Ip(ip1)]);
    let failing: BTreeSet<i64> = [hosts[0], hosts[1]].into();

    let run = c
        .jobv3()
        .fast_execute_script(ScopeType::Biz, biz.to_string())
        .script_content(b64("#!/bin/bash\necho hello from bk-sim"))
        .account_alias("root")
        .target_server(Server {
            host_id_list: Some(hosts.clone()),
            ..Server::default()
        })
        .send()
        .await
        .expect("fast_execute_script");
    assert!(run.job_instance_id > 0 && run.step_instance_id > 0);
    assert_eq!(h.state().job_executions(), 1);

    // Right after the start the job is not finished.
    let first = c
        .jobv3()
        .get_job_instance_status(ScopeType::Biz, biz.to_string(), run.job_instance_id)
        .send()
        .await
        .expect("status");
    assert!(!first.finished);
    assert!(matches!(
        first.job_instance.as_ref().and_then(|j| j.status),
        Some(JobStatus::Waiting | JobStatus::Running)
    ));

    let done = wait_job(&c, biz, run.job_instance_id).await;
    let ji = done.job_instance.expect("job_instance");
    assert_eq!(ji.status, Some(JobStatus::Failed));
    assert_eq!(ji.status.map(JobStatus::code), Some(4));
    assert!(ji.end_time.unwrap() >= ji.start_time.unwrap());
    let steps = done.step_instance_list.expect("steps");
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].step_instance_id, run.step_instance_id);
    assert_eq!(steps[0].status, Some(JobStatus::Failed));
    let results = steps[0]
        .step_ip_result_list
        .clone()
        .expect("per-host results");
    assert_eq!(results.len(), 4);
    for r in &results {
        let id = r.bk_host_id.unwrap();
        if failing.contains(&id) {
            assert_eq!(r.status, Some(HostTaskStatus::Failed), "{r:?}");
            assert_eq!(r.exit_code, Some(1));
        } else {
            assert_eq!(r.status, Some(HostTaskStatus::Success), "{r:?}");
            assert_eq!(r.exit_code, Some(0));
        }
        assert!(r.ip.is_some() && r.bk_cloud_id.is_some());
    }

    // The failing hosts' logs, fetched in one batch.
    let logs = c
        .jobv3()
        .batch_get_job_instance_ip_log(
            ScopeType::Biz,
            biz.to_string(),
            run.job_instance_id,
            run.step_instance_id,
        )
        .host_id_list(failing.iter().copied().collect())
        .send()
        .await
        .expect("batch_get_job_instance_ip_log");
    let script_logs = logs.script_task_logs.expect("script logs");
    assert_eq!(script_logs.len(), 2);
    for l in &script_logs {
        assert!(failing.contains(&l.bk_host_id.unwrap()));
        let text = l.log_content.as_deref().unwrap_or("");
        assert!(text.contains("echo hello from bk-sim"), "{text}");
        assert!(text.contains("exit code 1"), "{text}");
    }

    // Polling is not executing: still one job.
    assert_eq!(h.state().job_executions(), 1);
    assert_eq!(
        h.stats().executions_of("jobv3.fast_execute_script"),
        1,
        "the start was executed exactly once"
    );

    // Without failing hosts the same script succeeds.
    h.state().set_failing_hosts(Vec::new());
    let ok = c
        .jobv3()
        .fast_execute_script(ScopeType::Biz, biz.to_string())
        .script_content(b64("true"))
        .account_alias("root")
        .target_server(Server {
            host_id_list: Some(hosts.clone()),
            ..Server::default()
        })
        .send()
        .await
        .expect("second run");
    let done = wait_job(&c, biz, ok.job_instance_id).await;
    assert_eq!(
        done.job_instance.and_then(|j| j.status),
        Some(JobStatus::Success)
    );
    assert_eq!(h.state().job_executions(), 2);
    let jobs = h.state().jobs();
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0].operator, "admin");
    assert_eq!(jobs[0].host_ids, {
        let mut v = hosts.clone();
        v.sort_unstable();
        v
    });
}

// ---------------------------------------------------------------------------------------
// GSE
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn gse_agent_status_is_keyed_by_cloud_and_ip() {
    let sim = start();
    let h = sim.handle();
    let c = client(&sim);
    let snaps = h.state().snapshot_hosts();
    let down = snaps[3].bk_host_id;
    h.state().set_agent_alive(down, false);
    let mut want: HashMap<String, (i64, bool)> = HashMap::new();
    let mut req = Vec::new();
    for s in &snaps {
        let ip = s.host["bk_host_innerip"].as_str().unwrap().to_string();
        let cloud = s.host["bk_cloud_id"].as_i64().unwrap();
        want.insert(
            format!("{cloud}:{ip}"),
            (s.bk_host_id, h.state().agent_alive(s.bk_host_id)),
        );
        req.push(HostIp {
            ip,
            bk_cloud_id: cloud,
        });
    }
    let got = c
        .gse()
        .get_agent_status("0", req)
        .send()
        .await
        .expect("get_agent_status");
    assert_eq!(got.len(), snaps.len());
    let mut offline = 0;
    for (key, st) in &got {
        let (id, alive) = want
            .get(key)
            .unwrap_or_else(|| panic!("unexpected key {key}"));
        let (cloud, ip) = key.split_once(':').unwrap();
        assert_eq!(st.ip.as_deref(), Some(ip));
        assert_eq!(
            st.bk_cloud_id.map(|c| c.to_string()).as_deref(),
            Some(cloud)
        );
        let want_alive = if *alive {
            AgentAlive::Online
        } else {
            AgentAlive::Offline
        };
        assert_eq!(st.bk_agent_alive, want_alive, "host {id}");
        if !alive {
            offline += 1;
        }
    }
    assert!(offline >= 1, "some agents are offline");
    assert!(offline < got.len(), "most agents are online");
    let key_down = want
        .iter()
        .find(|(_, (id, _))| *id == down)
        .map(|(k, _)| k.clone())
        .unwrap();
    assert_eq!(got[&key_down].bk_agent_alive, AgentAlive::Offline);
}

// ---------------------------------------------------------------------------------------
// ITSM
// ---------------------------------------------------------------------------------------

fn ticket_fields(title: &str, approver: &str) -> Vec<Field> {
    vec![
        Field {
            key: "title".into(),
            value: json!(title),
        },
        Field {
            key: "approver".into(),
            value: json!(approver),
        },
    ]
}

#[tokio::test]
async fn itsm_ticket_lifecycle_and_approval() {
    let sim = start();
    let h = sim.handle();
    let c = client(&sim);

    let t = c
        .itsm()
        .create_ticket("admin", ticket_fields("deploy v2", "alice"))
        .service_id(7)
        .send()
        .await
        .expect("create_ticket");
    assert!(!t.sn.is_empty());
    assert!(t
        .ticket_url
        .as_deref()
        .is_some_and(|u| u.starts_with("http")));
    let st = c
        .itsm()
        .get_ticket_status(&t.sn)
        .send()
        .await
        .expect("status");
    assert_eq!(st.current_status, TicketStatus::Running);

    // Suspend, then resume.
    c.itsm()
        .operate_ticket(&t.sn, "admin", TicketAction::Suspend)
        .action_message("waiting for the change window")
        .send()
        .await
        .expect("suspend");
    let st = c.itsm().get_ticket_status(&t.sn).send().await.unwrap();
    assert_eq!(st.current_status, TicketStatus::Suspended);
    c.itsm()
        .operate_ticket(&t.sn, "admin", TicketAction::Unsuspend)
        .send()
        .await
        .expect("unsuspend");
    let st = c.itsm().get_ticket_status(&t.sn).send().await.unwrap();
    assert_eq!(st.current_status, TicketStatus::Running);

    // The approver approves (through the simulator's hook, as a person would in the UI).
    h.state()
        .approve(&t.sn, "alice", true)
        .await
        .expect("approve");
    let st = c.itsm().get_ticket_status(&t.sn).send().await.unwrap();
    assert_eq!(st.current_status, TicketStatus::Finished);
    let res = c
        .itsm()
        .ticket_approval_result(vec![t.sn.clone()])
        .send()
        .await
        .expect("ticket_approval_result");
    assert_eq!(res.len(), 1);
    assert_eq!(res[0].sn, t.sn);
    assert_eq!(res[0].approve_result, Some(true));
    assert_eq!(res[0].current_status, Some(TicketStatus::Finished));

    // A finished ticket cannot be withdrawn: a typed ITSM error.
    let e = c
        .itsm()
        .operate_ticket(&t.sn, "admin", TicketAction::Withdraw)
        .send()
        .await
        .expect_err("withdraw a finished ticket");
    assert_eq!(
        e.code(),
        Some(bk_sim::state::itsm::ITSM_OPERATION_DENIED),
        "{e}"
    );

    // A second ticket is withdrawn by its creator; a rejected one ends with false.
    let t2 = c
        .itsm()
        .create_ticket("admin", ticket_fields("rollback", "bob"))
        .send()
        .await
        .unwrap();
    c.itsm()
        .operate_ticket(&t2.sn, "admin", TicketAction::Withdraw)
        .send()
        .await
        .expect("withdraw");
    let st = c.itsm().get_ticket_status(&t2.sn).send().await.unwrap();
    assert_eq!(st.current_status, TicketStatus::Revoked);

    let t3 = c
        .itsm()
        .create_ticket("admin", ticket_fields("drop db", "bob"))
        .send()
        .await
        .unwrap();
    h.state().approve(&t3.sn, "bob", false).await.unwrap();
    let res = c
        .itsm()
        .ticket_approval_result(vec![t3.sn.clone(), t2.sn.clone()])
        .send()
        .await
        .unwrap();
    let by_sn: BTreeMap<&str, Option<bool>> = res
        .iter()
        .map(|r| (r.sn.as_str(), r.approve_result))
        .collect();
    assert_eq!(by_sn[t3.sn.as_str()], Some(false));
    assert_eq!(by_sn[t2.sn.as_str()], Some(false));

    let e = c
        .itsm()
        .get_ticket_status("NO-SUCH-TICKET")
        .send()
        .await
        .expect_err("unknown ticket");
    assert_eq!(e.code(), Some(bk_sim::state::itsm::ITSM_NOT_FOUND), "{e}");
    assert_eq!(h.state().tickets().len(), 3);
}

// ---------------------------------------------------------------------------------------
// bk_login, bk_paas
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn login_with_a_token_issued_by_the_sim() {
    let sim = start();
    let h = sim.handle();
    let token = h.issue_token("alice");

    // The app checks a user's login ticket.
    let c = client(&sim);
    let who = c
        .bk_login()
        .is_login(&token)
        .send()
        .await
        .expect("is_login");
    assert_eq!(who.bk_username, "alice");
    let e = c
        .bk_login()
        .is_login("bksim-not-a-token")
        .send()
        .await
        .expect_err("unknown token");
    assert_eq!(e.code(), Some(1306000), "{e}");

    // Calls made on behalf of the token's user run as that user.
    let as_alice = client_as(&sim, UserAuth::BkToken(token.clone().into()));
    let me = as_alice
        .bk_login()
        .get_user()
        .send()
        .await
        .expect("get_user");
    assert_eq!(me.bk_username, "alice");
    assert!(me.email.as_deref().unwrap_or("").starts_with("alice@"));
    let other = as_alice
        .bk_login()
        .get_user()
        .bk_username("admin")
        .send()
        .await
        .expect("get_user admin");
    assert_eq!(other.bk_username, "admin");
    let rec = h
        .requests()
        .into_iter()
        .rfind(|r| r.api.as_deref() == Some("bk_login.get_user"))
        .unwrap();
    assert_eq!(rec.username.as_deref(), Some("alice"));

    // The same token as an access token.
    let via_access = client_as(&sim, UserAuth::AccessToken(token.into()));
    let me = via_access
        .bk_login()
        .get_user()
        .send()
        .await
        .expect("access_token");
    assert_eq!(me.bk_username, "alice");

    // An invalid bk_token is an auth failure.
    let bad = client_as(&sim, UserAuth::BkToken("bksim-forged".into()));
    let e = bad
        .bk_login()
        .get_user()
        .send()
        .await
        .expect_err("forged token");
    assert_eq!(e.code(), Some(1306000));
    assert!(e.message().unwrap_or("").contains("bk_token"), "{e}");
}

#[tokio::test]
async fn paas_app_info() {
    let sim = start();
    let c = client(&sim);
    let code = sim.handle().app_code().to_string();
    let apps = c
        .bk_paas()
        .get_app_info()
        .target_app_code(code.clone())
        .send()
        .await
        .expect("get_app_info");
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0].bk_app_code, code);
    assert!(apps[0]
        .bk_app_name
        .as_deref()
        .is_some_and(|n| !n.is_empty()));

    let only_names = c
        .bk_paas()
        .get_app_info()
        .target_app_code(format!("{code};bk_cmdb;no-such-app"))
        .fields("bk_app_code;creator")
        .send()
        .await
        .expect("get_app_info, two apps");
    assert_eq!(only_names.len(), 2);
    let codes: BTreeSet<&str> = only_names.iter().map(|a| a.bk_app_code.as_str()).collect();
    assert_eq!(
        codes,
        [code.as_str(), "bk_cmdb"].into(),
        "unknown apps are left out"
    );
    assert!(
        only_names
            .iter()
            .all(|a| a.creator.as_deref() == Some("admin") && a.bk_app_name.is_none()),
        "fields choose the attributes: {only_names:?}"
    );
}
