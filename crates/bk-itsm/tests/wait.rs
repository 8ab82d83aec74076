//! Waiting for ITSM tickets against bk-sim, and paging through them.

use std::time::Duration;

use bk_itsm::types::{Field, TicketAction, TicketStatus};
use bk_itsm::wait::{WaitError, WaitOptions};
use bk_itsm::ItsmExt;
use bk_runtime::Client;
use bk_sim::{Sim, SimConfig, StateConfig};
use serde_json::json;

fn start(auto: Option<Duration>) -> Sim {
    bk_sim::spawn(SimConfig {
        state: StateConfig {
            hosts: 50,
            itsm_auto_approve: auto,
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

fn fast(timeout: Duration) -> WaitOptions {
    WaitOptions {
        initial_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
        timeout: Some(timeout),
    }
}

#[tokio::test]
async fn create_and_wait_until_auto_approved() {
    let sim = start(Some(Duration::from_millis(300)));
    let c = client(&sim);
    let done = c
        .itsm()
        .create_and_wait(
            c.itsm().create_ticket("admin", fields("deploy")),
            fast(Duration::from_secs(10)),
        )
        .await
        .expect("ticket ends");
    assert_eq!(done.status, TicketStatus::Finished);
    assert!(done.finished());
    assert!(done.polls >= 2, "it was running first: {}", done.polls);
}

#[tokio::test]
async fn withdrawn_ticket_ends_revoked_and_timeouts_are_reported() {
    let sim = start(None);
    let c = client(&sim);
    let t = c
        .itsm()
        .create_ticket("admin", fields("rollback"))
        .send()
        .await
        .unwrap();
    let e = c
        .itsm()
        .wait_ticket(&t.sn, &fast(Duration::from_millis(200)))
        .await
        .expect_err("still running");
    assert!(matches!(
        e,
        WaitError::Timeout {
            last_status: Some(TicketStatus::Running),
            ..
        }
    ));
    let waiter = {
        let c = c.clone();
        let sn = t.sn.clone();
        tokio::spawn(async move {
            c.itsm()
                .wait_ticket(&sn, &fast(Duration::from_secs(10)))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.itsm()
        .operate_ticket(&t.sn, "admin", TicketAction::Withdraw)
        .send()
        .await
        .unwrap();
    let done = waiter.await.unwrap().expect("ends");
    assert_eq!(done.status, TicketStatus::Revoked);
}

#[tokio::test]
async fn get_tickets_pages_by_number() {
    use bk_runtime::pagination::TryStreamExt;
    let sim = start(None);
    let c = client(&sim);
    for i in 0..23 {
        c.itsm()
            .create_ticket("admin", fields(&format!("t{i}")))
            .send()
            .await
            .unwrap();
    }
    sim.handle().reset_stats();
    let all: Vec<_> = c
        .itsm()
        .get_tickets()
        .page_size(10)
        .items()
        .try_collect()
        .await
        .expect("tickets");
    assert_eq!(all.len(), 23);
    assert_eq!(sim.handle().stats().executions_of("itsm.get_tickets"), 3);
    let par: Vec<_> = c
        .itsm()
        .get_tickets()
        .page_size(5)
        .concurrency(3)
        .all()
        .await
        .expect("tickets");
    assert_eq!(par, all);
}
