//! The approval callback receiver against bk-sim over loopback: a ticket approved in the
//! simulator reaches the app as a verified event; forged and malformed callbacks are
//! rejected and yield nothing.

use std::net::SocketAddr;
use std::time::Duration;

use bk_itsm::callback::{ApprovalCallback, ApprovalEvent};
use bk_itsm::types::{Field, TicketAction, TicketStatus};
use bk_itsm::wait::WaitError;
use bk_itsm::{ItsmExt, TicketMeta};
use bk_runtime::Client;
use bk_sim::{Sim, SimConfig, StateConfig};
use serde_json::{json, Value};
use tokio::sync::mpsc;

fn start() -> Sim {
    bk_sim::spawn(SimConfig {
        state: StateConfig {
            hosts: 20,
            itsm_auto_approve: None,
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
        .request_timeout(Duration::from_secs(10))
        .build()
        .expect("client builds")
}

fn fields(title: &str) -> Vec<Field> {
    vec![
        Field {
            key: "title".into(),
            value: json!(title),
        },
        Field {
            key: "approver".into(),
            value: json!("alice"),
        },
    ]
}

/// Serves `callback` at `/itsm/callback` on 127.0.0.1:0; returns the full callback URL.
async fn serve(callback: &ApprovalCallback) -> String {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("address");
    let app = callback.router("/itsm/callback");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/itsm/callback")
}

async fn post(url: &str, body: Vec<u8>) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the receiver answers");
    let status = r.status().as_u16();
    let body = r.json::<Value>().await.expect("a JSON answer");
    (status, body)
}

async fn nothing_more(rx: &mut mpsc::Receiver<ApprovalEvent>) {
    assert!(
        tokio::time::timeout(Duration::from_millis(200), rx.recv())
            .await
            .is_err(),
        "no event was yielded"
    );
}

#[tokio::test]
async fn approved_ticket_reaches_the_app_verified() {
    let sim = start();
    let c = client(&sim);
    let (callback, mut events) = ApprovalCallback::new(&c).channel(8);
    let url = serve(&callback).await;

    let t = c
        .itsm()
        .create_ticket("admin", fields("deploy v2"))
        .meta(TicketMeta {
            callback_url: Some(url.clone()),
            ..TicketMeta::default()
        })
        .send()
        .await
        .expect("ticket created");
    sim.handle().reset_stats();
    sim.handle()
        .state()
        .approve(&t.sn, "alice", true)
        .await
        .expect("approved in the sim");

    let ev = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("an event in time")
        .expect("channel open");
    assert_eq!(ev.sn, t.sn);
    assert_eq!(ev.title, "deploy v2");
    assert_eq!(ev.current_status, TicketStatus::Finished);
    assert_eq!(ev.approve_result, Some(true));
    assert!(ev.approved());
    assert_eq!(ev.approver.as_deref(), Some("alice"));
    assert_eq!(ev.ticket_url, t.ticket_url);
    assert!(ev.raw.get("token").is_none(), "the token is not kept");
    assert_eq!(ev.raw["sn"], json!(t.sn));
    assert_eq!(
        sim.handle().stats().executions_of("itsm.token_verify"),
        1,
        "the token was verified with ITSM"
    );
    // The sim saw the receiver's answer: 200 with code 0.
    let log = sim.handle().state().callback_log();
    let rec = log.last().expect("a delivery");
    assert_eq!(rec.status, Some(200));
    let answer: Value = serde_json::from_str(rec.response.as_deref().unwrap_or("")).unwrap();
    assert_eq!(answer["code"], 0);

    // The same event is found by a waiter that comes late.
    let late = callback
        .wait_event(&t.sn, Some(Duration::from_millis(100)))
        .await
        .expect("recent events are kept");
    assert_eq!(late, ev);
    nothing_more(&mut events).await;
}

#[tokio::test]
async fn forged_and_malformed_callbacks_yield_nothing() {
    let sim = start();
    let c = client(&sim);
    let (callback, mut events) = ApprovalCallback::new(&c).channel(8);
    let url = serve(&callback).await;
    let t = c
        .itsm()
        .create_ticket("admin", fields("rollback"))
        .send()
        .await
        .unwrap();
    let forged = json!({
        "title": "rollback", "current_status": "FINISHED", "sn": t.sn,
        "ticket_url": t.ticket_url, "update_at": "2024-01-01 00:00:00", "updated_by": "mallory",
        "approve_result": true, "token": "forged-token-0123", "last_approver": "mallory",
    });
    let (status, body) = post(&url, serde_json::to_vec(&forged).unwrap()).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["result"], false);
    assert!(
        !body.to_string().contains("forged-token-0123"),
        "the token is not echoed"
    );

    let mut no_token = forged.clone();
    no_token.as_object_mut().unwrap().remove("token");
    let (status, body) = post(&url, serde_json::to_vec(&no_token).unwrap()).await;
    assert_eq!(status, 401, "{body}");

    for bad in [
        b"{not json".to_vec(),
        b"[]".to_vec(),
        br#"{"current_status":"FINISHED","token":"x"}"#.to_vec(),
        br#"{"sn":"NO1","current_status":"FINISHED","approve_result":[1],"token":"x"}"#.to_vec(),
    ] {
        let (status, body) = post(&url, bad).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["message"].as_str().unwrap_or("").contains("malformed"));
    }
    assert_eq!(
        sim.handle().stats().executions_of("itsm.token_verify"),
        1,
        "only the forged token reached ITSM"
    );
    nothing_more(&mut events).await;

    // ITSM cannot be asked: 503, so that the sender tries again later.
    let unreachable = Client::builder()
        .endpoint("http://127.0.0.1:9")
        .app_code("x")
        .app_secret("y")
        .retry_policy(bk_runtime::RetryPolicy::disabled())
        .build()
        .unwrap();
    let (down, mut down_events) = ApprovalCallback::new(&unreachable).channel(1);
    let down_url = serve(&down).await;
    let (status, body) = post(&down_url, serde_json::to_vec(&forged).unwrap()).await;
    assert_eq!(status, 503, "{body}");
    nothing_more(&mut down_events).await;
}

#[tokio::test]
async fn create_and_wait_via_callback_and_a_handler() {
    let sim = start();
    let c = client(&sim);
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let callback = ApprovalCallback::new(&c).handler(move |ev: ApprovalEvent| {
        let seen_tx = seen_tx.clone();
        async move {
            seen_tx.send(ev.sn.clone())?;
            Ok(())
        }
    });
    let url = serve(&callback).await;

    // Withdrawn by its creator while we wait: REVOKED, delivered through the callback.
    let waiter = {
        let c = c.clone();
        let callback = callback.clone();
        let url = url.clone();
        tokio::spawn(async move {
            c.itsm()
                .create_and_wait_via_callback(
                    c.itsm().create_ticket("admin", fields("scale out")),
                    &callback,
                    &url,
                    Some(Duration::from_secs(10)),
                )
                .await
        })
    };
    let sn = loop {
        if let Some(t) = sim.handle().state().tickets().last() {
            break t.sn.clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(
        sim.handle().state().tickets()[0].callback_url.as_deref(),
        Some(url.as_str())
    );
    c.itsm()
        .operate_ticket(&sn, "admin", TicketAction::Withdraw)
        .send()
        .await
        .unwrap();
    let ev = waiter.await.unwrap().expect("ends through the callback");
    assert_eq!(ev.sn, sn);
    assert_eq!(ev.current_status, TicketStatus::Revoked);
    assert!(!ev.approved());
    assert_eq!(seen.recv().await.as_deref(), Some(sn.as_str()));

    // Nothing arrives for a ticket nobody decides: a timeout.
    let t = c
        .itsm()
        .create_ticket("admin", fields("idle"))
        .send()
        .await
        .unwrap();
    let e = callback
        .wait_event(&t.sn, Some(Duration::from_millis(150)))
        .await
        .expect_err("no callback");
    assert!(
        matches!(
            e,
            WaitError::Timeout {
                last_status: None,
                ..
            }
        ),
        "{e}"
    );
}
