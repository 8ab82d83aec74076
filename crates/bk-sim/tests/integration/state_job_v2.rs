//! JOB v2 (component `job`) on the shared job engine: errors, the v2 callback body, and
//! garbage parameters that must never panic.

use std::time::Duration;

use base64::Engine;
use bk_sim::state::job::{JOB_INVALID_PARAM, JOB_NOT_FOUND};
use bk_sim::state::{Call, Outcome, State, StateConfig};
use serde_json::{json, Value};

fn state() -> State {
    State::new(StateConfig {
        hosts: 100,
        job_step: Duration::from_millis(20),
        ..StateConfig::default()
    })
}

async fn call(s: &State, api: &str, params: Value) -> Outcome {
    s.handle(&Call {
        component: "job",
        api,
        params: &params,
        username: Some("admin"),
        request_id: "r",
    })
    .await
    .unwrap_or_else(|| panic!("job.{api} is not stateful"))
}

fn ips(s: &State, biz: i64, n: usize) -> Vec<Value> {
    s.biz_host_ids(biz)
        .into_iter()
        .filter(|h| s.agent_alive(*h))
        .take(n)
        .map(|h| {
            let snap = s.host(h).unwrap();
            json!({"ip": snap.host["bk_host_innerip"], "bk_cloud_id": snap.host["bk_cloud_id"]})
        })
        .collect()
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn lookups_are_scoped_by_business_and_bad_input_is_refused() {
    let s = state();
    let hosts = ips(&s, 3, 2);
    let d = call(
        &s,
        "fast_execute_script",
        json!({"bk_biz_id": 3, "account": "root", "script_content": b64("true"),
            "ip_list": hosts}),
    )
    .await;
    let id = d.data().expect("started")["job_instance_id"].clone();
    assert!(
        d.data().unwrap().get("step_instance_id").is_none(),
        "v2 answers without it"
    );
    let ok = call(
        &s,
        "get_job_instance_status",
        json!({"bk_biz_id": 3, "job_instance_id": id}),
    )
    .await;
    assert!(ok.data().is_some());
    let other_biz = call(
        &s,
        "get_job_instance_status",
        json!({"bk_biz_id": 4, "job_instance_id": id}),
    )
    .await;
    assert_eq!(other_biz.code(), Some(JOB_NOT_FOUND));
    let unknown = call(
        &s,
        "get_job_instance_log",
        json!({"bk_biz_id": 3, "job_instance_id": 1}),
    )
    .await;
    assert_eq!(unknown.code(), Some(JOB_NOT_FOUND));
    let no_script = call(
        &s,
        "fast_execute_script",
        json!({"bk_biz_id": 3, "account": "root", "ip_list": ips(&s, 3, 1)}),
    )
    .await;
    assert_eq!(no_script.code(), Some(JOB_INVALID_PARAM));
    let no_host = call(
        &s,
        "fast_execute_script",
        json!({"bk_biz_id": 3, "account": "root", "script_content": b64("true")}),
    )
    .await;
    assert_eq!(no_host.code(), Some(JOB_INVALID_PARAM));
    // Stopping a finished job is refused.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let late = call(
        &s,
        "operate_job_instance",
        json!({"bk_biz_id": 3, "job_instance_id": id, "operation_code": 1}),
    )
    .await;
    assert!(late.code().is_some(), "{late:?}");
    let summary = s.jobs().pop().unwrap();
    assert_eq!(summary.component, "job");
    assert_eq!(summary.api, "fast_execute_script");
}

#[tokio::test]
async fn v2_callback_lists_step_instances() {
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
    let d = call(
        &s,
        "execute_job",
        json!({"bk_biz_id": 3, "bk_job_id": 5, "bk_callback_url": format!("http://{addr}/job-done")}),
    )
    .await;
    let body = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        body["job_instance_id"],
        d.data().unwrap()["job_instance_id"]
    );
    assert_eq!(body["step_instances"].as_array().map(Vec::len), Some(2));
    assert!(body.get("step_instance_list").is_none(), "{body}");
}

#[tokio::test]
async fn garbage_params_never_panic() {
    let s = state();
    let weird = [
        Value::Null,
        json!(i64::MAX),
        json!(i64::MIN),
        json!(-1),
        json!("x"),
        json!(""),
        json!([]),
        json!([null, {"a": []}]),
        json!({}),
        json!({"ip_list": [{"ip": 5}], "topo_node_list": [{"id": "x"}]}),
    ];
    let keys = [
        "bk_biz_id",
        "job_instance_id",
        "account",
        "script_content",
        "script_param",
        "script_id",
        "script_type",
        "target_server",
        "ip_list",
        "custom_query_id",
        "bk_job_id",
        "global_vars",
        "operation_code",
    ];
    let apis = [
        "fast_execute_script",
        "execute_job",
        "get_job_instance_status",
        "get_job_instance_log",
        "operate_job_instance",
    ];
    let base = json!({"bk_biz_id": 3, "job_instance_id": 20000000001i64, "account": "root",
        "script_content": b64("true"), "bk_job_id": 1, "operation_code": 1,
        "ip_list": ips(&s, 3, 1)});
    for api in apis {
        for key in keys {
            for w in &weird {
                let mut p = base.clone();
                p[key] = w.clone();
                let _ = call(&s, api, p).await;
            }
        }
    }
}
