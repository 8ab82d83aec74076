//! Authentication against bk-sim: the SDK in each auth mode, wrong credentials, and
//! signature-mode attacks (stale timestamp, replayed nonce, tampered body or query) sent with
//! a raw HTTP client and signatures computed by `bk_runtime::signature::sign`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bk_runtime::{AuthMode, Client, ErrorKind, Method, RetryPolicy, UserAuth};
use bk_sdk::prelude::*;
use bk_sim::{FaultKind, FaultRule, Sim, SimConfig, StateConfig, Trigger};
use serde_json::{json, Value};

fn start() -> Sim {
    bk_sim::spawn(SimConfig {
        state: StateConfig {
            hosts: 50,
            ..StateConfig::default()
        },
        ..SimConfig::default()
    })
    .expect("bk-sim starts")
}

fn builder(sim: &Sim, mode: AuthMode) -> bk_runtime::ClientBuilder {
    let h = sim.handle();
    Client::builder()
        .endpoint(sim.url())
        .app_code(h.app_code())
        .app_secret(h.app_secret())
        .user(UserAuth::BkUsername("admin".into()))
        .auth_mode(mode)
        .request_timeout(Duration::from_secs(10))
}

const MODES: [AuthMode; 3] = [AuthMode::Params, AuthMode::Header, AuthMode::Signature];

/// One GET (bk_login.get_user) and one POST (cc.search_business) through the typed clients.
async fn get_and_post(c: &Client) -> Result<(String, i64), bk_runtime::Error> {
    let user = c.bk_login().get_user().send().await?;
    let biz = c
        .cc()
        .search_business()
        .fields(vec!["bk_biz_id".into()])
        .send()
        .await?;
    Ok((user.bk_username, biz.count))
}

#[tokio::test]
async fn every_auth_mode_is_accepted() {
    let sim = start();
    let h = sim.handle();
    let bizs = h.state().biz_ids().len() as i64;
    for mode in MODES {
        h.clear_requests();
        let c = builder(&sim, mode).build().unwrap();
        let (user, count) = get_and_post(&c)
            .await
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        assert_eq!(user, "admin", "{mode:?}");
        assert_eq!(count, bizs, "{mode:?}");
        // Several signed calls in a row: every one has its own nonce.
        if mode == AuthMode::Signature {
            for _ in 0..5 {
                get_and_post(&c).await.expect("repeated signed calls");
            }
        }
        let log = h.requests();
        assert!(!log.is_empty());
        for r in &log {
            assert!(r.executed, "{mode:?}: {r:?}");
            assert_eq!(r.code, Some(0), "{mode:?}: {r:?}");
            assert_eq!(r.app_code.as_deref(), Some(h.app_code()), "{mode:?}");
            assert_eq!(r.username.as_deref(), Some("admin"), "{mode:?}");
        }
        let methods: Vec<&str> = log.iter().map(|r| r.method.as_str()).collect();
        assert!(
            methods.contains(&"GET") && methods.contains(&"POST"),
            "{methods:?}"
        );
    }
}

#[tokio::test]
async fn wrong_secret_is_1306000_in_every_mode() {
    let sim = start();
    let h = sim.handle();
    const WRONG: &str = "definitely-not-the-secret-4f1c";
    for mode in MODES {
        h.reset_stats();
        let c = builder(&sim, mode).app_secret(WRONG).build().unwrap();
        for e in [
            c.bk_login()
                .get_user()
                .send()
                .await
                .map(|_| ())
                .unwrap_err(),
            c.cc()
                .search_business()
                .send()
                .await
                .map(|_| ())
                .unwrap_err(),
        ] {
            assert!(matches!(e.kind(), ErrorKind::Api { .. }), "{mode:?}: {e:?}");
            assert_eq!(e.code(), Some(1306000), "{mode:?}: {e}");
            assert_eq!(e.http_status(), Some(200));
            let msg = e.message().unwrap_or("");
            assert!(
                msg.contains("secret") || msg.contains("signature"),
                "{mode:?}: the message says what is wrong: {msg:?}"
            );
            assert!(e.request_id().is_some(), "{mode:?}");
            assert!(
                !e.to_string().contains(WRONG),
                "the secret never shows: {e}"
            );
        }
        assert_eq!(h.stats().executions, 0, "{mode:?}: nothing executed");
    }

    // Wrong app code, and no user at all.
    for mode in MODES {
        let c = builder(&sim, mode)
            .app_code("someone-else")
            .build()
            .unwrap();
        let e = c.cc().search_business().send().await.unwrap_err();
        assert_eq!(e.code(), Some(1306000), "{mode:?}: {e}");
        assert!(e.message().unwrap_or("").contains("someone-else"), "{e}");

        let c = builder(&sim, mode).user(UserAuth::None).build().unwrap();
        let e = c.cc().search_business().send().await.unwrap_err();
        assert_eq!(e.code(), Some(1306000), "{mode:?}: {e}");
        assert!(e.message().unwrap_or("").contains("user"), "{e}");
    }
}

#[tokio::test]
async fn access_tokens_identify_app_and_user() {
    let sim = start();
    let h = sim.handle();
    let token = h.issue_token("bob");
    for mode in MODES {
        // The access token is always sent in the header, whatever the mode.
        let c = builder(&sim, mode)
            .user(UserAuth::AccessToken(token.clone().into()))
            .build()
            .unwrap();
        let (user, _) = get_and_post(&c)
            .await
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        assert_eq!(user, "bob", "{mode:?}");
    }
    // No app credentials at all: the token alone is enough.
    let c = Client::builder()
        .endpoint(sim.url())
        .user(UserAuth::AccessToken(token.clone().into()))
        .build()
        .unwrap();
    let (user, _) = get_and_post(&c).await.expect("token only");
    assert_eq!(user, "bob");
    let rec = h.requests().pop().unwrap();
    assert_eq!(rec.username.as_deref(), Some("bob"));

    let c = Client::builder()
        .endpoint(sim.url())
        .user(UserAuth::AccessToken("bksim-expired".into()))
        .build()
        .unwrap();
    let e = get_and_post(&c).await.unwrap_err();
    assert_eq!(e.code(), Some(1306000), "{e}");
    assert!(e.message().unwrap_or("").contains("access_token"), "{e}");
}

// ---------------------------------------------------------------------------------------
// Signature mode on the wire
// ---------------------------------------------------------------------------------------

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn pairs(v: &[(&str, String)]) -> Vec<(String, String)> {
    v.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

const GET_PATH: &str = "/api/c/compapi/v2/bk_login/get_user/";
const POST_PATH: &str = "/api/c/compapi/v2/cc/search_business/";

/// A signed GET of `bk_login.get_user`: query `(params, signature)`.
fn signed_get(secret: &str, app: &str, ts: i64, nonce: u32) -> Vec<(String, String)> {
    let mut q = pairs(&[
        ("bk_app_code", app.to_string()),
        ("bk_username", "admin".into()),
        ("bk_timestamp", ts.to_string()),
        ("bk_nonce", nonce.to_string()),
    ]);
    let sig = bk_runtime::signature::sign(secret, Method::Get, GET_PATH, &q);
    q.push(("bk_signature".into(), sig));
    q
}

/// A signed POST of `cc.search_business`: query and the exact body that was signed.
fn signed_post(secret: &str, body: &str, ts: i64, nonce: u32) -> Vec<(String, String)> {
    let mut q = pairs(&[
        ("bk_timestamp", ts.to_string()),
        ("bk_nonce", nonce.to_string()),
    ]);
    let mut signed = q.clone();
    signed.push(("data".into(), body.to_string()));
    let sig = bk_runtime::signature::sign(secret, Method::Post, POST_PATH, &signed);
    q.push(("bk_signature".into(), sig));
    q
}

async fn envelope(resp: reqwest::Response) -> Value {
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("JSON envelope")
}

fn assert_rejected(v: &Value, part: &str) {
    assert_eq!(v["result"], false, "{v}");
    assert_eq!(v["code"], 1306000, "{v}");
    let msg = v["message"].as_str().unwrap_or("");
    assert!(
        msg.contains(part),
        "message {msg:?} should mention {part:?}"
    );
}

#[tokio::test]
async fn signature_attacks_are_rejected() {
    let sim = start();
    let h = sim.handle();
    let app = h.app_code().to_string();
    let secret = h.app_secret().to_string();
    let http = reqwest::Client::new();
    let get = |q: Vec<(String, String)>| {
        let http = http.clone();
        let url = format!("{}{GET_PATH}", sim.url());
        async move { envelope(http.get(url).query(&q).send().await.unwrap()).await }
    };
    let post = |q: Vec<(String, String)>, body: String| {
        let http = http.clone();
        let url = format!("{}{POST_PATH}", sim.url());
        async move {
            envelope(
                http.post(url)
                    .query(&q)
                    .header("Content-Type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let body =
        json!({"bk_app_code": app, "bk_username": "admin", "fields": ["bk_biz_id"]}).to_string();

    // Correctly signed requests pass.
    let v = get(signed_get(&secret, &app, now(), 1001)).await;
    assert_eq!(v["result"], true, "{v}");
    assert_eq!(v["data"]["bk_username"], "admin");
    let v = post(signed_post(&secret, &body, now(), 1002), body.clone()).await;
    assert_eq!(v["result"], true, "{v}");
    assert!(v["data"]["count"].as_i64().unwrap() > 0);
    // A future timestamp is accepted (as by the real ESB).
    let v = get(signed_get(&secret, &app, now() + 3600, 1003)).await;
    assert_eq!(v["result"], true, "{v}");
    let executed = h.stats().executions;
    assert_eq!(executed, 3);

    // Wrong secret.
    let v = get(signed_get("not-the-secret", &app, now(), 2001)).await;
    assert_rejected(&v, "bk_signature is incorrect");
    let v = post(
        signed_post("not-the-secret", &body, now(), 2002),
        body.clone(),
    )
    .await;
    assert_rejected(&v, "bk_signature is incorrect");

    // Stale timestamp: more than 300 s old.
    let v = get(signed_get(&secret, &app, now() - 301, 3001)).await;
    assert_rejected(&v, "expired");
    let v = post(signed_post(&secret, &body, now() - 600, 3002), body.clone()).await;
    assert_rejected(&v, "expired");

    // Replayed nonce: the very same signed request twice.
    let q = signed_get(&secret, &app, now(), 4001);
    assert_eq!(get(q.clone()).await["result"], true);
    assert_rejected(&get(q).await, "already been used");
    let q = signed_post(&secret, &body, now(), 4002);
    assert_eq!(post(q.clone(), body.clone()).await["result"], true);
    assert_rejected(&post(q, body.clone()).await, "already been used");

    // Tampered body: signed for one body, sent with another.
    let q = signed_post(&secret, &body, now(), 5001);
    let tampered = body.replace("bk_biz_id", "bk_biz_name");
    assert_rejected(&post(q, tampered).await, "bk_signature is incorrect");
    // Tampered query: a parameter changed after signing.
    let mut q = signed_get(&secret, &app, now(), 5002);
    for (k, v) in q.iter_mut() {
        if k == "bk_username" {
            *v = "alice".into();
        }
    }
    assert_rejected(&get(q).await, "bk_signature is incorrect");
    // Tampered path: a signature for get_user used on another API.
    let q = signed_get(&secret, &app, now(), 5003);
    let url = format!("{}/api/c/compapi/v2/bk_login/get_all_users/", sim.url());
    let v = envelope(http.get(url).query(&q).send().await.unwrap()).await;
    assert_rejected(&v, "bk_signature is incorrect");
    // Nonce that is not a positive integer.
    let mut q = signed_get(&secret, &app, now(), 5004);
    for (k, v) in q.iter_mut() {
        if k == "bk_nonce" {
            *v = "-5".into();
        }
    }
    assert_rejected(&get(q).await, "bk_nonce");

    // None of the rejected requests reached the state; the two replays' first copies did.
    assert_eq!(h.stats().executions, executed + 2);
}

/// The SDK's own signed requests carry a fresh nonce each time, so the simulator's replay
/// check never trips over a well-behaved client, even with concurrent calls.
#[tokio::test]
async fn sdk_signature_mode_survives_concurrency() {
    let sim = start();
    let c = builder(&sim, AuthMode::Signature).build().unwrap();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move { get_and_post(&c).await }));
    }
    for t in tasks {
        t.await.unwrap().expect("signed call");
    }
    assert_eq!(sim.handle().stats().executions, 40);
}

/// A retried signed call is signed again: after a reset that happened once the simulator
/// had accepted (and remembered) the first attempt's nonce, the retry carries a new nonce
/// and timestamp and is accepted, instead of being refused as a replay.
#[tokio::test]
async fn signed_calls_are_signed_afresh_on_retry() {
    let sim = start();
    let h = sim.handle();
    let c = builder(&sim, AuthMode::Signature)
        .retry_policy(
            RetryPolicy::standard()
                .max_attempts(3)
                .initial_backoff(Duration::from_millis(10))
                .max_backoff(Duration::from_millis(50)),
        )
        .build()
        .unwrap();
    const API: &str = "cc.search_business";
    for kind in [FaultKind::HttpStatus(503), FaultKind::ResetAfterExecution] {
        h.reset_stats();
        h.clear_requests();
        h.set_faults(
            bk_sim::FaultPlan::none().with(FaultRule::new(kind.clone(), Trigger::NextN(1)).on(API)),
        );
        let biz = c
            .cc()
            .search_business()
            .send()
            .await
            .unwrap_or_else(|e| panic!("{kind:?}: the retry should pass: {e}"));
        assert!(biz.count > 0);
        let stats = h.stats();
        assert_eq!(stats.calls_of(API), 2, "{kind:?}: one retry");
        assert_eq!(stats.faults_of(kind.name()), 1);
        let executed = if kind.executes() { 2 } else { 1 };
        assert_eq!(stats.executions_of(API), executed, "{kind:?}");
        let log = h.requests();
        assert!(
            log.iter().all(|r| r.code != Some(1306000)),
            "{kind:?}: no attempt was refused: {log:?}"
        );
    }
}
