//! Every fault bk-sim can inject, as the generated clients report it: the error kind, the
//! HTTP status, the code and whether the call was executed.

use std::time::{Duration, Instant};

use base64::Engine as _;
use bk_runtime::{Client, ClientBuilder, ErrorKind, RetryPolicy, TimeoutKind, UserAuth};
use bk_sdk::jobv3::types::{ScopeType, Server};
use bk_sdk::prelude::*;
use bk_sim::{FaultKind, FaultRule, Sim, SimConfig, StateConfig, Trigger};

fn start() -> Sim {
    bk_sim::spawn(SimConfig {
        state: StateConfig {
            hosts: 50,
            job_step: Duration::from_millis(20),
            ..StateConfig::default()
        },
        ..SimConfig::default()
    })
    .expect("bk-sim starts")
}

/// These tests look at one attempt: the fault exactly as the runtime classifies it, with
/// the runtime's retries (which would hide or repeat it) turned off.
fn single_attempt(b: ClientBuilder) -> ClientBuilder {
    b.retry_policy(RetryPolicy::disabled())
}

fn builder(sim: &Sim) -> ClientBuilder {
    let h = sim.handle();
    single_attempt(
        Client::builder()
            .endpoint(sim.url())
            .app_code(h.app_code())
            .app_secret(h.app_secret())
            .user(UserAuth::BkUsername("admin".into()))
            .request_timeout(Duration::from_secs(10)),
    )
}

fn client(sim: &Sim) -> Client {
    builder(sim).build().unwrap()
}

const API: &str = "cc.search_business";

/// Calls `cc.search_business` with exactly one fault rule in force (always firing).
async fn with_fault(
    sim: &Sim,
    c: &Client,
    kind: FaultKind,
) -> Result<bk_sdk::cc::SearchBusinessResponse, bk_runtime::Error> {
    let h = sim.handle();
    h.clear_faults();
    h.reset_stats();
    h.add_fault(FaultRule::new(kind, Trigger::Always).on(API));
    let r = c.cc().search_business().send().await;
    h.clear_faults();
    r
}

fn is_request_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test]
async fn gateway_http_statuses() {
    let sim = start();
    let c = client(&sim);
    let h = sim.handle();
    for (status, code, executed) in [
        (500u16, 1650001i64, 0u64),
        (502, 1650200, 0),
        (503, 1650300, 0),
        (504, 1650401, 1),
    ] {
        let e = with_fault(&sim, &c, FaultKind::HttpStatus(status))
            .await
            .expect_err("gateway error");
        match e.kind() {
            ErrorKind::HttpStatus {
                status: s,
                code: c,
                message,
                ..
            } => {
                assert_eq!(*s, status);
                assert_eq!(*c, Some(code), "gateway code from X-Bkapi-Error-Code");
                assert!(message.as_deref().is_some_and(|m| !m.is_empty()));
            }
            other => panic!("{status}: expected HttpStatus, got {other:?}"),
        }
        assert_eq!(e.http_status(), Some(status));
        assert_eq!(e.code(), Some(code));
        assert!(is_request_id(e.request_id().unwrap_or("")), "{e:?}");
        let text = e.to_string();
        assert!(text.contains(&status.to_string()) && text.contains("cc.search_business"));
        assert_eq!(h.stats().faults_of(&format!("http{status}")), 1);
        // 504 is a backend timeout: the call did run.
        assert_eq!(h.stats().executions_of(API), executed, "{status}");
    }
}

#[tokio::test]
async fn gateway_rate_limit_is_http_429_with_its_code() {
    let sim = start();
    let c = client(&sim);
    let e = with_fault(
        &sim,
        &c,
        FaultKind::GatewayRateLimit {
            retry_after_secs: 3,
        },
    )
    .await
    .expect_err("429");
    assert!(
        matches!(
            e.kind(),
            ErrorKind::HttpStatus {
                status: 429,
                code: Some(1642901),
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.http_status(), Some(429));
    assert!(e.message().unwrap_or("").contains("rate limit"), "{e}");
    assert_eq!(sim.handle().stats().executions_of(API), 0);
}

#[tokio::test]
async fn envelope_faults_are_api_errors_with_their_code() {
    let sim = start();
    let c = client(&sim);
    for (kind, code) in [
        (FaultKind::EsbBackendFailed, 1306201),
        (FaultKind::EsbRateLimited, 1306429),
        (FaultKind::CmdbTooManyRequests, 1199997),
    ] {
        let e = with_fault(&sim, &c, kind.clone())
            .await
            .expect_err("envelope error");
        assert!(matches!(e.kind(), ErrorKind::Api { .. }), "{kind:?}: {e:?}");
        assert_eq!(e.code(), Some(code), "{kind:?}");
        assert_eq!(e.http_status(), Some(200));
        assert!(is_request_id(e.request_id().unwrap_or("")), "{e:?}");
        assert!(!e.message().unwrap_or("").is_empty());
        assert_eq!(sim.handle().stats().executions_of(API), 0, "{kind:?}");
    }
}

#[tokio::test]
async fn resets_are_transport_errors_and_say_whether_the_call_ran() {
    let sim = start();
    let h = sim.handle();
    let c = client(&sim);

    let e = with_fault(&sim, &c, FaultKind::ResetBeforeExecution)
        .await
        .expect_err("reset before");
    assert!(
        matches!(e.kind(), ErrorKind::Transport { .. }),
        "reset-before: {e:?}"
    );
    assert_eq!(h.stats().executions_of(API), 0);
    assert_eq!(e.http_status(), None);

    let e = with_fault(&sim, &c, FaultKind::ResetAfterExecution)
        .await
        .expect_err("reset after");
    match e.kind() {
        ErrorKind::Transport { possibly_sent, .. } => {
            assert!(*possibly_sent, "the request reached the server: {e}")
        }
        other => panic!("reset-after: {other:?}"),
    }
    assert_eq!(h.stats().executions_of(API), 1, "executed before the reset");

    // The danger the error warns about: a job started although the client saw a failure.
    let host = h.state().snapshot_hosts()[0].clone();
    h.add_fault(
        FaultRule::new(FaultKind::ResetAfterExecution, Trigger::NextN(1))
            .on("jobv3.fast_execute_script"),
    );
    let e = c
        .jobv3()
        .fast_execute_script(ScopeType::Biz, host.bk_biz_id.to_string())
        .script_content(base64::engine::general_purpose::STANDARD.encode("true"))
        .account_alias("root")
        .target_server(Server {
            host_id_list: Some(vec![host.bk_host_id]),
            ..Server::default()
        })
        .send()
        .await
        .expect_err("reset after the job started");
    assert!(
        matches!(
            e.kind(),
            ErrorKind::Transport {
                possibly_sent: true,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(h.state().job_executions(), 1, "the job did start");
    h.clear_faults();
}

#[tokio::test]
async fn truncated_and_html_bodies_are_clear_errors() {
    let sim = start();
    let h = sim.handle();
    let c = client(&sim);

    let e = with_fault(&sim, &c, FaultKind::TruncatedBody)
        .await
        .expect_err("truncated body");
    // The runtime reads the whole body first: a cut connection is a transport failure.
    match e.kind() {
        ErrorKind::Transport {
            possibly_sent,
            message,
        } => {
            assert!(*possibly_sent);
            assert!(!message.is_empty());
        }
        other => panic!("truncate: expected Transport, got {other:?}"),
    }
    assert!(e.to_string().contains("cc.search_business"), "{e}");
    assert_eq!(h.stats().executions_of(API), 1);

    let e = with_fault(&sim, &c, FaultKind::HtmlBody)
        .await
        .expect_err("html body");
    match e.kind() {
        ErrorKind::NonJson {
            content_type,
            snippet,
            ..
        } => {
            assert!(
                content_type
                    .as_deref()
                    .unwrap_or("")
                    .starts_with("text/html"),
                "{content_type:?}"
            );
            assert!(snippet.contains("502 Bad Gateway"), "{snippet}");
        }
        other => panic!("html: expected NonJson, got {other:?}"),
    }
    assert_eq!(e.http_status(), Some(200));
    assert!(is_request_id(e.request_id().unwrap_or("")), "{e:?}");
    assert!(
        e.to_string().contains("not a BlueKing JSON envelope"),
        "{e}"
    );
    assert_eq!(h.stats().executions_of(API), 0);
}

#[tokio::test]
async fn slow_bodies_and_latency_against_the_request_timeout() {
    let sim = start();
    let h = sim.handle();
    let patient = client(&sim);
    let hasty = builder(&sim)
        .request_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let bizs = h.state().biz_ids().len() as i64;

    // 8 chunks, 20 ms apart: well within the timeout, and the body arrives whole.
    let t0 = Instant::now();
    let ok = with_fault(
        &sim,
        &patient,
        FaultKind::SlowBody {
            chunk_delay: Duration::from_millis(20),
        },
    )
    .await
    .expect("slow body within the timeout");
    assert_eq!(ok.count, bizs);
    assert!(t0.elapsed() >= Duration::from_millis(100));

    // 8 chunks, 150 ms apart (over 1 s): the 300 ms request timeout fires while reading.
    let t0 = Instant::now();
    let e = with_fault(
        &sim,
        &hasty,
        FaultKind::SlowBody {
            chunk_delay: Duration::from_millis(150),
        },
    )
    .await
    .expect_err("slow body beyond the timeout");
    let took = t0.elapsed();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::Timeout {
                which: TimeoutKind::Request,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.is_timeout());
    assert!(took < Duration::from_millis(900), "gave up after {took:?}");
    assert_eq!(
        h.stats().executions_of(API),
        1,
        "the call ran; only the body was slow"
    );

    // Latency: added before handling.
    let t0 = Instant::now();
    let ok = with_fault(
        &sim,
        &patient,
        FaultKind::Latency(Duration::from_millis(150)),
    )
    .await
    .expect("latency within the timeout");
    assert_eq!(ok.count, bizs);
    assert!(t0.elapsed() >= Duration::from_millis(150));
    let e = with_fault(&sim, &hasty, FaultKind::Latency(Duration::from_millis(800)))
        .await
        .expect_err("latency beyond the timeout");
    assert!(
        matches!(
            e.kind(),
            ErrorKind::Timeout {
                which: TimeoutKind::Request,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("timeout"), "{e}");
}

#[tokio::test]
async fn faults_hit_only_their_target_and_schedule() {
    let sim = start();
    let h = sim.handle();
    let c = client(&sim);
    h.add_fault(FaultRule::new(FaultKind::HttpStatus(503), Trigger::NextN(2)).on(API));

    // Other APIs are untouched.
    c.bk_login().get_user().send().await.expect("other API");
    // The next two calls of the target fail, the third succeeds.
    for _ in 0..2 {
        let e = c.cc().search_business().send().await.unwrap_err();
        assert_eq!(e.http_status(), Some(503));
    }
    c.cc()
        .search_business()
        .send()
        .await
        .expect("after the schedule");
    assert_eq!(h.stats().faults_of("http503"), 2);
    assert_eq!(h.stats().calls_of(API), 3);
    assert_eq!(h.stats().executions_of(API), 1);
}
