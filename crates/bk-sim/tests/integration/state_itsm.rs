//! ITSM flows of the simulator state: ticket lifecycle, paging, approval callbacks.

use std::time::Duration;

use axum::{routing::post, Json, Router};
use bk_sim::state::{Call, Outcome, State, StateConfig};
use serde_json::{json, Value};
use tokio::sync::mpsc;

fn state(auto: Option<Duration>) -> State {
    State::new(StateConfig {
        hosts: 20,
        itsm_auto_approve: auto,
        ..StateConfig::default()
    })
}

async fn call(s: &State, api: &str, params: Value) -> Outcome {
    s.handle(&Call {
        component: "itsm",
        api,
        params: &params,
        username: Some("admin"),
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

async fn create(s: &State, title: &str, callback: Option<String>) -> Value {
    let mut p = json!({
        "service_id": 5,
        "creator": "alice",
        "fields": [{"key": "title", "value": title}, {"key": "approver", "value": "bob,carol"}],
        "fast_approval": true,
    });
    if let Some(c) = callback {
        p["meta"] = json!({"callback_url": c});
    }
    data(call(s, "create_ticket", p).await)
}

async fn status(s: &State, sn: &str) -> Value {
    data(call(s, "get_ticket_status", json!({"sn": sn})).await)
}

/// A loopback receiver that forwards every callback body.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = mpsc::unbounded_channel::<Value>();
    let app = Router::new().route(
        "/itsm/callback",
        post(move |Json(body): Json<Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body);
                Json(json!({"code": 0, "result": true, "message": "ok"}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/itsm/callback"), rx)
}

#[tokio::test]
async fn create_and_status() {
    let s = state(None);
    let t = create(&s, "need access", None).await;
    let sn = t["sn"].as_str().unwrap();
    assert!(sn.starts_with("NO") && sn.len() >= 18, "{sn}");
    assert!(t["id"].is_i64());
    assert!(t["ticket_url"]
        .as_str()
        .unwrap()
        .contains(&format!("id={}", t["id"])));
    let st = status(&s, sn).await;
    assert_eq!(st["current_status"], "RUNNING");
    assert_eq!(st["current_steps"][0]["processors"], "bob,carol");
    assert_eq!(st["current_steps"][0]["status"], "RUNNING");
    let ops: Vec<&str> = st["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["SUSPEND", "WITHDRAW"]);
    assert_eq!(st["is_commented"], false);
    assert!(call(&s, "get_ticket_status", json!({"sn": "NO0"}))
        .await
        .code()
        .is_some());
    assert!(
        call(&s, "create_ticket", json!({"creator": "a", "fields": []}))
            .await
            .code()
            .is_some()
    );
    assert!(call(
        &s,
        "create_ticket",
        json!({"fields": [{"key": "title", "value": "x"}]})
    )
    .await
    .code()
    .is_some());
}

#[tokio::test]
async fn auto_approval_finishes_and_calls_back() {
    let (url, mut rx) = receiver().await;
    let s = state(Some(Duration::from_millis(300)));
    let t = create(&s, "auto", Some(url.clone())).await;
    let sn = t["sn"].as_str().unwrap().to_string();
    assert_eq!(status(&s, &sn).await["current_status"], "RUNNING");
    let body = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(body["sn"], sn);
    assert_eq!(body["current_status"], "FINISHED");
    assert_eq!(body["approve_result"], true);
    assert_eq!(body["title"], "auto");
    assert_eq!(body["last_approver"], "bob");
    for k in ["ticket_url", "update_at", "updated_by", "token"] {
        assert!(body[k].is_string(), "{k}");
    }
    assert_eq!(status(&s, &sn).await["current_status"], "FINISHED");
    // The token verifies.
    let v = data(call(&s, "token_verify", json!({"token": body["token"]})).await);
    assert_eq!(v["is_passed"], true);
    let v = data(call(&s, "token_verify", json!({"token": "forged"})).await);
    assert_eq!(v["is_passed"], false);
    // Exactly one callback.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(rx.try_recv().is_err());
    let log = s.callback_log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].status, Some(200));
}

#[tokio::test]
async fn explicit_approval_and_rejection() {
    let (url, mut rx) = receiver().await;
    let s = state(None);
    let a = create(&s, "approve me", Some(url.clone())).await;
    let r = create(&s, "reject me", Some(url.clone())).await;
    s.approve(a["sn"].as_str().unwrap(), "bob", true)
        .await
        .unwrap();
    let body = rx.recv().await.unwrap();
    assert_eq!(body["sn"], a["sn"]);
    assert_eq!(body["approve_result"], true);
    assert_eq!(body["last_approver"], "bob");
    assert_eq!(body["updated_by"], "bob");
    s.approve(r["sn"].as_str().unwrap(), "carol", false)
        .await
        .unwrap();
    let body = rx.recv().await.unwrap();
    assert_eq!(body["sn"], r["sn"]);
    assert_eq!(body["current_status"], "FINISHED");
    assert_eq!(body["approve_result"], false);
    assert!(s
        .approve(a["sn"].as_str().unwrap(), "bob", true)
        .await
        .is_err());
    let res = data(
        call(
            &s,
            "ticket_approval_result",
            json!({"sn": [a["sn"], r["sn"], "NOPE"]}),
        )
        .await,
    );
    assert_eq!(res.as_array().unwrap().len(), 2);
    assert_eq!(res[0]["approve_result"], true);
    assert_eq!(res[1]["approve_result"], false);
    assert!(s.approve("nope", "bob", true).await.is_err());
    let ts = s.tickets();
    assert_eq!(ts[0].approve_result, Some(true));
    assert_eq!(ts[1].approve_result, Some(false));
}

#[tokio::test]
async fn operate_suspend_resume_withdraw_terminate() {
    let (url, mut rx) = receiver().await;
    let s = state(Some(Duration::from_millis(400)));
    let t = create(&s, "ops", Some(url.clone())).await;
    let sn = t["sn"].as_str().unwrap().to_string();
    let op = |action: &str, who: &str| json!({"sn": sn, "operator": who, "action_type": action, "action_message": "because"});
    assert_eq!(
        call(&s, "operate_ticket", op("SUSPEND", "bob")).await,
        Outcome::Data(Value::Null)
    );
    assert_eq!(status(&s, &sn).await["current_status"], "SUSPENDED");
    assert_eq!(
        status(&s, &sn).await["current_steps"][0]["status"],
        "SUSPEND"
    );
    // Suspended tickets are not auto-approved.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(status(&s, &sn).await["current_status"], "SUSPENDED");
    assert!(call(&s, "operate_ticket", op("SUSPEND", "bob"))
        .await
        .code()
        .is_some());
    assert!(call(&s, "operate_ticket", op("UNSUSPEND", "mallory"))
        .await
        .code()
        .is_some());
    assert_eq!(
        call(&s, "operate_ticket", op("UNSUSPEND", "carol")).await,
        Outcome::Data(Value::Null)
    );
    assert_eq!(status(&s, &sn).await["current_status"], "RUNNING");
    // Only the creator withdraws.
    assert!(call(&s, "operate_ticket", op("WITHDRAW", "bob"))
        .await
        .code()
        .is_some());
    assert_eq!(
        call(&s, "operate_ticket", op("WITHDRAW", "alice")).await,
        Outcome::Data(Value::Null)
    );
    assert_eq!(status(&s, &sn).await["current_status"], "REVOKED");
    let body = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(body["current_status"], "REVOKED");
    assert_eq!(body["approve_result"], false);
    // The resumed timer must not approve a revoked ticket or call back twice.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(status(&s, &sn).await["current_status"], "REVOKED");
    assert!(rx.try_recv().is_err());

    let t2 = create(&s, "term", Some(url)).await;
    let sn2 = t2["sn"].as_str().unwrap();
    let no_msg = json!({"sn": sn2, "operator": "bob", "action_type": "TERMINATE"});
    assert!(call(&s, "operate_ticket", no_msg).await.code().is_some());
    let term =
        json!({"sn": sn2, "operator": "bob", "action_type": "TERMINATE", "action_message": "stop"});
    assert_eq!(
        call(&s, "operate_ticket", term.clone()).await,
        Outcome::Data(Value::Null)
    );
    let body = rx.recv().await.unwrap();
    assert_eq!(body["current_status"], "TERMINATED");
    assert!(call(&s, "operate_ticket", term).await.code().is_some());
    let bad = json!({"sn": sn2, "operator": "bob", "action_type": "EXPLODE"});
    assert!(call(&s, "operate_ticket", bad).await.code().is_some());
}

#[tokio::test]
async fn get_tickets_pages_from_one() {
    let s = state(None);
    let mut sns = Vec::new();
    for i in 0..23 {
        sns.push(
            create(&s, &format!("t{i}"), None).await["sn"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let p1 = data(call(&s, "get_tickets", json!({})).await);
    assert_eq!(p1["count"], 23);
    assert_eq!(p1["page"], 1);
    assert_eq!(p1["total_page"], 3);
    assert_eq!(p1["items"].as_array().unwrap().len(), 10);
    assert!(p1["previous"].is_null());
    assert!(p1["next"].is_string());
    let p3 = data(call(&s, "get_tickets", json!({"page": 3, "page_size": 10})).await);
    assert_eq!(p3["items"].as_array().unwrap().len(), 3);
    assert!(p3["next"].is_null());
    let mut all = Vec::new();
    for page in 1..=3 {
        let d = data(call(&s, "get_tickets", json!({"page": page, "page_size": 10})).await);
        all.extend(
            d["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["sn"].as_str().unwrap().to_string()),
        );
    }
    all.sort();
    let mut want = sns.clone();
    want.sort();
    assert_eq!(all, want);
    let beyond = data(call(&s, "get_tickets", json!({"page": 9})).await);
    assert_eq!(beyond["items"], json!([]));
    assert_eq!(beyond["count"], 23);
    assert!(call(&s, "get_tickets", json!({"page": 0}))
        .await
        .code()
        .is_some());
    let one = data(call(&s, "get_tickets", json!({"sns": [sns[4]]})).await);
    assert_eq!(one["count"], 1);
    let item = &one["items"][0];
    for k in [
        "id",
        "sn",
        "title",
        "service_id",
        "current_status",
        "creator",
        "create_at",
        "update_at",
        "ticket_url",
    ] {
        assert!(!item[k].is_null(), "{k}");
    }
    assert!(item["end_at"].is_null());
    assert_eq!(
        data(call(&s, "get_tickets", json!({"creator": "nobody"})).await)["count"],
        0
    );
    assert_eq!(
        data(call(&s, "get_tickets", json!({"username": "carol"})).await)["count"],
        23
    );
    s.approve(&sns[0], "bob", true).await.unwrap();
    assert_eq!(
        data(call(&s, "get_tickets", json!({"username": "carol"})).await)["count"],
        22
    );
}

#[tokio::test]
async fn unreachable_and_foreign_callbacks_are_recorded() {
    let s = state(None);
    let t = create(&s, "x", Some("http://10.1.2.3:9/cb".into())).await;
    s.approve(t["sn"].as_str().unwrap(), "bob", true)
        .await
        .unwrap();
    let t = create(&s, "y", Some("http://127.0.0.1:1/cb".into())).await;
    s.approve(t["sn"].as_str().unwrap(), "bob", true)
        .await
        .unwrap();
    let log = s.callback_log();
    assert_eq!(log.len(), 2);
    assert!(log[0].error.as_deref().unwrap().contains("loopback"));
    assert!(log[1].error.is_some());
    assert!(log.iter().all(|r| r.status.is_none()));
}
