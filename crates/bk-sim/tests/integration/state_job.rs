//! JOB v3 flows of the simulator state: status progression, failures, logs, terminate.

use std::time::Duration;

use base64::Engine;
use bk_sim::state::{Call, HostSelector, Outcome, State, StateConfig};
use serde_json::{json, Value};

const STEP: Duration = Duration::from_millis(200);

fn state() -> State {
    State::new(StateConfig {
        hosts: 400,
        job_step: STEP,
        ..StateConfig::default()
    })
}

async fn call(s: &State, api: &str, params: Value) -> Outcome {
    s.handle(&Call {
        component: "jobv3",
        api,
        params: &params,
        username: Some("alice"),
        request_id: "r",
    })
    .await
    .expect("stateful")
}

fn data(o: Outcome) -> Value {
    match o {
        Outcome::Data(v) => v,
        Outcome::Error { code, message, .. } => panic!("error {code}: {message}"),
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Hosts of business 3 whose agent is online.
fn online(s: &State, n: usize) -> Vec<i64> {
    s.biz_host_ids(3)
        .into_iter()
        .filter(|h| s.agent_alive(*h))
        .take(n)
        .collect()
}

async fn status(s: &State, job: i64, ips: bool) -> Value {
    data(
        call(
            s,
            "get_job_instance_status",
            json!({"bk_scope_type": "biz", "bk_scope_id": "3", "job_instance_id": job, "return_ip_result": ips}),
        )
        .await,
    )
}

async fn wait_finished(s: &State, job: i64) -> Value {
    for _ in 0..200 {
        let st = status(s, job, true).await;
        if st["finished"] == true {
            return st;
        }
        tokio::time::sleep(STEP / 3).await;
    }
    panic!("job {job} never finished");
}

#[tokio::test]
async fn script_runs_through_waiting_running_success() {
    let s = state();
    let hosts = online(&s, 3);
    let d = data(
        call(
            &s,
            "fast_execute_script",
            json!({"bk_scope_type": "biz", "bk_scope_id": "3", "script_content": b64("#!/bin/bash\necho hello\nuptime"),
                   "script_param": b64("-v 1"), "account_alias": "root", "script_language": 1,
                   "target_server": {"host_id_list": hosts}}),
        )
        .await,
    );
    let job = d["job_instance_id"].as_i64().unwrap();
    let step = d["step_instance_id"].as_i64().unwrap();
    assert!(d["job_instance_name"].is_string());
    assert_eq!(s.job_executions(), 1);

    let st = status(&s, job, false).await;
    assert_eq!(st["finished"], false);
    assert_eq!(st["job_instance"]["status"], 1);
    assert!(st["job_instance"]["create_time"].as_i64().unwrap() > 1_600_000_000_000);
    assert!(st["job_instance"]["start_time"].is_null());
    assert!(st["step_instance_list"][0]
        .get("step_ip_result_list")
        .is_none());

    tokio::time::sleep(STEP + STEP / 2).await;
    let st = status(&s, job, true).await;
    assert_eq!(st["job_instance"]["status"], 2);
    assert_eq!(st["step_instance_list"][0]["status"], 2);
    assert_eq!(
        st["step_instance_list"][0]["step_ip_result_list"][0]["status"],
        7
    );

    let st = wait_finished(&s, job).await;
    assert_eq!(st["job_instance"]["status"], 3);
    assert_eq!(st["job_instance"]["bk_scope_id"], "3");
    assert!(st["job_instance"]["end_time"].as_i64() > st["job_instance"]["start_time"].as_i64());
    let step0 = &st["step_instance_list"][0];
    assert_eq!(step0["step_instance_id"], step);
    assert_eq!(step0["type"], 1);
    let res = step0["step_ip_result_list"].as_array().unwrap();
    assert_eq!(res.len(), 3);
    for r in res {
        assert_eq!(r["status"], 9);
        assert_eq!(r["exit_code"], 0);
        assert!(r["ip"].is_string());
        assert!(r["bk_cloud_id"].is_i64());
        assert!(r["total_time"].is_i64());
    }
    let log = data(
        call(
            &s,
            "get_job_instance_ip_log",
            json!({"bk_scope_type": "biz", "bk_scope_id": "3", "job_instance_id": job, "step_instance_id": step, "bk_host_id": hosts[0]}),
        )
        .await,
    );
    assert_eq!(log["log_type"], 1);
    assert_eq!(log["bk_host_id"], hosts[0]);
    let text = log["log_content"].as_str().unwrap();
    assert!(text.contains("echo hello"), "{text}");
    assert!(text.contains("uptime"));
    assert!(text.contains("params: -v 1"));
    assert!(text.contains("exit code 0"));
    let jobs = s.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].operator, "alice");
    assert_eq!(jobs[0].host_ids.len(), 3);
    assert!(jobs[0].script_content.contains("echo hello"));
}

#[tokio::test]
async fn failing_hosts_fail_the_job() {
    let s = state();
    let hosts = online(&s, 4);
    let ip = s.host(hosts[1]).unwrap().host["bk_host_innerip"]
        .as_str()
        .unwrap()
        .to_string();
    s.set_failing_hosts(vec![
        HostSelector::Id(hosts[0]),
        HostSelector::from(ip.as_str()),
    ]);
    let d = data(
        call(
            &s,
            "fast_execute_script",
            json!({"bk_scope_type": "biz", "bk_scope_id": "3", "script_content": b64("echo x"), "account_id": 1,
                   "target_server": {"host_id_list": hosts}}),
        )
        .await,
    );
    let job = d["job_instance_id"].as_i64().unwrap();
    let st = wait_finished(&s, job).await;
    assert_eq!(st["job_instance"]["status"], 4);
    assert_eq!(st["step_instance_list"][0]["status"], 4);
    let by_host: std::collections::HashMap<i64, (i64, i64)> = st["step_instance_list"][0]
        ["step_ip_result_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["bk_host_id"].as_i64().unwrap(),
                (
                    r["status"].as_i64().unwrap(),
                    r["exit_code"].as_i64().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(by_host[&hosts[0]], (11, 1));
    assert_eq!(by_host[&hosts[1]], (11, 1));
    assert_eq!(by_host[&hosts[2]], (9, 0));
    let logs = data(
        call(
            &s,
            "batch_get_job_instance_ip_log",
            json!({"bk_scope_type": "biz", "bk_scope_id": "3", "job_instance_id": job,
                   "step_instance_id": d["step_instance_id"], "host_id_list": [hosts[0], hosts[2]]}),
        )
        .await,
    );
    assert_eq!(logs["log_type"], 1);
    let l = logs["script_task_logs"].as_array().unwrap();
    assert_eq!(l.len(), 2);
    assert!(l[0]["log_content"]
        .as_str()
        .unwrap()
        .contains("exit code 1"));
    assert!(l[1]["log_content"]
        .as_str()
        .unwrap()
        .contains("exit code 0"));

    // The rule form: hosts whose id is a multiple of N.
    s.set_failing_hosts(Vec::new());
    s.set_fail_every(Some(2));
    let even: Vec<i64> = hosts.iter().copied().filter(|h| h % 2 == 0).collect();
    let odd: Vec<i64> = hosts.iter().copied().filter(|h| h % 2 == 1).collect();
    if !odd.is_empty() {
        let d = data(
            call(
                &s,
                "fast_execute_script",
                json!({"bk_scope_type": "biz", "bk_scope_id": "3", "script_content": b64("true"),
                "account_alias": "root", "target_server": {"host_id_list": odd}}),
            )
            .await,
        );
        let st = wait_finished(&s, d["job_instance_id"].as_i64().unwrap()).await;
        assert_eq!(st["job_instance"]["status"], 3);
    }
    if !even.is_empty() {
        let d = data(
            call(
                &s,
                "fast_execute_script",
                json!({"bk_scope_type": "biz", "bk_scope_id": "3", "script_content": b64("true"),
                "account_alias": "root", "target_server": {"host_id_list": even}}),
            )
            .await,
        );
        let st = wait_finished(&s, d["job_instance_id"].as_i64().unwrap()).await;
        assert_eq!(st["job_instance"]["status"], 4);
    }
}

#[tokio::test]
async fn offline_agents_fail_with_agent_error() {
    let s = state();
    let h = online(&s, 1)[0];
    s.set_agent_alive(h, false);
    let d = data(
        call(
            &s,
            "fast_execute_script",
            json!({"bk_scope_type": "biz", "bk_scope_id": "3", "script_content": b64("true"),
            "account_alias": "root", "target_server": {"host_id_list": [h]}}),
        )
        .await,
    );
    let st = wait_finished(&s, d["job_instance_id"].as_i64().unwrap()).await;
    assert_eq!(st["job_instance"]["status"], 4);
    assert_eq!(
        st["step_instance_list"][0]["step_ip_result_list"][0]["status"],
        1
    );
}

#[tokio::test]
async fn file_transfer_and_logs() {
    let s = state();
    let hosts = online(&s, 3);
    let d = data(
        call(
            &s,
            "fast_transfer_file",
            json!({"bk_scope_type": "biz", "bk_scope_id": "3", "account_alias": "root", "file_target_path": "/tmp/dst/",
                   "file_source_list": [{"file_list": ["/etc/hosts"], "account": {"alias": "root"},
                                         "server": {"host_id_list": [hosts[0]]}}],
                   "target_server": {"host_id_list": [hosts[1], hosts[2]]}}),
        )
        .await,
    );
    let job = d["job_instance_id"].as_i64().unwrap();
    let step = d["step_instance_id"].as_i64().unwrap();
    let st = wait_finished(&s, job).await;
    assert_eq!(st["job_instance"]["status"], 3);
    assert_eq!(st["step_instance_list"][0]["type"], 2);
    let log = data(
        call(
            &s,
            "get_job_instance_ip_log",
            json!({"bk_scope_type": "biz", "bk_scope_id": "3", "job_instance_id": job,
            "step_instance_id": step, "bk_host_id": hosts[1]}),
        )
        .await,
    );
    assert_eq!(log["log_type"], 2);
    let fl = &log["file_logs"][0];
    assert_eq!(fl["mode"], 1);
    assert_eq!(fl["status"], 4);
    assert_eq!(fl["dest_path"], "/tmp/dst/hosts");
    assert_eq!(fl["src_ip"]["bk_host_id"], hosts[0]);
    assert_eq!(fl["dest_ip"]["bk_host_id"], hosts[1]);
    let batch = data(
        call(
            &s,
            "batch_get_job_instance_ip_log",
            json!({"bk_scope_type": "biz", "bk_scope_id": "3", "job_instance_id": job,
            "step_instance_id": step, "host_id_list": [hosts[0], hosts[2]]}),
        )
        .await,
    );
    assert_eq!(batch["log_type"], 2);
    let ftl = batch["file_task_logs"].as_array().unwrap();
    assert_eq!(ftl.len(), 2);
    assert_eq!(ftl[0]["file_logs"][0]["mode"], 0); // the source's upload
}

#[tokio::test]
async fn job_plan_runs_two_steps() {
    let s = state();
    let hosts = online(&s, 2);
    let d = data(
        call(
            &s,
            "execute_job_plan",
            json!({"bk_scope_type": "biz", "bk_scope_id": "3", "job_plan_id": 1001,
                   "global_var_list": [{"name": "version", "value": "1.2.3"},
                                       {"id": 7, "server": {"host_id_list": hosts}}]}),
        )
        .await,
    );
    let job = d["job_instance_id"].as_i64().unwrap();
    assert!(d.get("step_instance_id").is_none());
    tokio::time::sleep(STEP * 2 + STEP / 2).await;
    let st = status(&s, job, false).await;
    assert_eq!(st["step_instance_list"][0]["status"], 3);
    assert_eq!(st["step_instance_list"][1]["status"], 2);
    let st = wait_finished(&s, job).await;
    assert_eq!(st["job_instance"]["status"], 3);
    assert_eq!(st["step_instance_list"].as_array().unwrap().len(), 2);
    assert!(s.jobs()[0].script_content.contains("version=1.2.3"));
}

#[tokio::test]
async fn terminate_a_running_job() {
    let s = State::new(StateConfig {
        hosts: 200,
        job_step: Duration::from_millis(300),
        ..StateConfig::default()
    });
    let hosts = online(&s, 1);
    let d = data(
        call(
            &s,
            "fast_execute_script",
            json!({"bk_scope_type": "biz", "bk_scope_id": "3", "script_content": b64("sleep 100"),
            "account_alias": "root", "target_server": {"host_id_list": hosts}}),
        )
        .await,
    );
    let job = d["job_instance_id"].as_i64().unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;
    let op = data(
        call(&s, "operate_job_instance", json!({"bk_scope_type": "biz", "bk_scope_id": "3", "job_instance_id": job, "operation_code": 1})).await,
    );
    assert_eq!(op["job_instance_id"], job);
    let st = status(&s, job, false).await;
    assert_eq!(st["job_instance"]["status"], 10);
    assert_eq!(st["finished"], false);
    let again = call(&s, "operate_job_instance", json!({"bk_scope_type": "biz", "bk_scope_id": "3", "job_instance_id": job, "operation_code": 1})).await;
    assert!(again.code().is_some());
    tokio::time::sleep(Duration::from_millis(400)).await;
    let st = status(&s, job, true).await;
    assert_eq!(st["finished"], true);
    assert_eq!(st["job_instance"]["status"], 11);
    assert_eq!(
        st["step_instance_list"][0]["step_ip_result_list"][0]["status"],
        403
    );
}

#[tokio::test]
async fn bad_job_requests() {
    let s = state();
    let hosts = online(&s, 1);
    let other_biz_host = s.biz_host_ids(4)[0];
    let base = json!({"bk_scope_type": "biz", "bk_scope_id": "3", "script_content": b64("true"), "account_alias": "root",
                      "target_server": {"host_id_list": hosts}});
    let with = |k: &str, v: Value| {
        let mut p = base.clone();
        p[k] = v;
        p
    };
    let bad = [
        with("bk_scope_type", json!("nope")),
        with("bk_scope_id", json!("x")),
        with("script_content", json!("%%%not base64")),
        with("target_server", json!({"host_id_list": [other_biz_host]})),
        with("target_server", json!({"host_id_list": [99999999]})),
        with("target_server", json!({})),
        with("timeout", json!(0)),
        with("timeout", json!(86401)),
        with("account_alias", Value::Null),
        with("script_language", json!(9)),
    ];
    for p in bad {
        let o = call(&s, "fast_execute_script", p.clone()).await;
        assert!(o.code().is_some(), "accepted {p}");
    }
    assert_eq!(s.job_executions(), 0);
    // Unknown job, wrong scope.
    let d = data(call(&s, "fast_execute_script", base.clone()).await);
    let job = d["job_instance_id"].as_i64().unwrap();
    let o = call(
        &s,
        "get_job_instance_status",
        json!({"bk_scope_type": "biz", "bk_scope_id": "4", "job_instance_id": job}),
    )
    .await;
    assert!(o.code().is_some());
    let o = call(
        &s,
        "get_job_instance_status",
        json!({"bk_scope_type": "biz", "bk_scope_id": "3", "job_instance_id": 1}),
    )
    .await;
    assert!(o.code().is_some());
    // ip_list and topo nodes select hosts too.
    let snap = s.host(hosts[0]).unwrap();
    let ipref =
        json!({"bk_cloud_id": snap.host["bk_cloud_id"], "ip": snap.host["bk_host_innerip"]});
    assert!(call(
        &s,
        "fast_execute_script",
        with("target_server", json!({"ip_list": [ipref]}))
    )
    .await
    .data()
    .is_some());
    let module = snap.bk_module_ids[0];
    let d = data(
        call(
            &s,
            "fast_execute_script",
            with(
                "target_server",
                json!({"topo_node_list": [{"id": module, "node_type": "module"}]}),
            ),
        )
        .await,
    );
    assert!(d["job_instance_id"].is_i64());
    assert_eq!(s.job_executions(), 3);
}

#[tokio::test]
async fn job_completion_callback() {
    use axum::{routing::post, Json, Router};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let app = Router::new().route(
        "/job-done",
        post(move |Json(body): Json<Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body);
                Json(json!({"code": 0}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let s = state();
    let hosts = online(&s, 1);
    let d = data(
        call(
            &s,
            "fast_execute_script",
            json!({"bk_scope_type": "biz", "bk_scope_id": "3", "script_content": b64("true"),
            "account_alias": "root", "target_server": {"host_id_list": hosts},
            "callback_url": format!("http://{addr}/job-done")}),
        )
        .await,
    );
    let body = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(body["job_instance_id"], d["job_instance_id"]);
    assert_eq!(body["status"], 3);
    assert_eq!(
        body["step_instance_list"][0]["step_instance_id"],
        d["step_instance_id"]
    );
}
