//! API gateway mode against bk-sim: the runtime's gateway calls over loopback, header auth,
//! gateway errors and faults in their gateway form.

use std::time::Duration;

use bk_runtime::{AuthMode, Client, ErrorKind, Method, RetryPolicy, UserAuth};
use bk_sim::{FaultKind, FaultRule, Sim, SimConfig, Trigger};
use serde_json::{json, Value};

fn start() -> Sim {
    bk_sim::spawn(SimConfig::default()).expect("bk-sim starts")
}

fn builder(sim: &Sim) -> bk_runtime::ClientBuilder {
    let h = sim.handle();
    Client::builder()
        .endpoint(sim.url())
        .app_code(h.app_code())
        .app_secret(h.app_secret())
        .user(UserAuth::BkUsername("admin".into()))
        .gateway_url_template(format!("{}/api/{{api_name}}", sim.url()))
        .stage_mappings([("bk_login", "test")])
        .retry_policy(
            RetryPolicy::default()
                .initial_backoff(Duration::from_millis(1))
                .token_bucket(false),
        )
        .request_timeout(Duration::from_secs(10))
}

#[tokio::test]
async fn gateway_resources_answer_with_header_auth() {
    let sim = start();
    let h = sim.handle();
    // Even a client in params mode sends the header to the gateway.
    let c = builder(&sim).auth_mode(AuthMode::Params).build().unwrap();
    let user = c
        .gateway("bk_login")
        .call(Method::Get, "/get_user/", json!({}))
        .await
        .unwrap();
    assert_eq!(user["bk_username"], "admin");
    let biz = c
        .gateway("cc")
        .call(
            Method::Post,
            "/search_business/",
            json!({"fields": ["bk_biz_id"]}),
        )
        .await
        .unwrap();
    assert_eq!(biz["count"], json!(h.state().biz_ids().len()));
    let paths: Vec<String> = h.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        [
            "/api/bk_login/test/get_user/",
            "/api/cc/prod/search_business/"
        ]
    );
    assert!(h.requests().iter().all(|r| r.executed));

    // The ESB front still works beside it.
    let v = c.call("cc", "search_business", json!({})).await.unwrap();
    assert!(v["count"].is_u64());

    // An access token alone, and a bk_token.
    let token = h.issue_token("alice");
    let c2 = builder(&sim)
        .user(UserAuth::AccessToken(token.clone().into()))
        .build()
        .unwrap();
    let u = c2
        .gateway("bk_login")
        .call(Method::Get, "/get_user/", Value::Null)
        .await
        .unwrap();
    assert_eq!(u["bk_username"], "alice");
    let c3 = builder(&sim)
        .user(UserAuth::BkToken(token.into()))
        .build()
        .unwrap();
    let u = c3
        .gateway("bk_login")
        .call(Method::Get, "/get_user/", Value::Null)
        .await
        .unwrap();
    assert_eq!(u["bk_username"], "alice");
}

#[tokio::test]
async fn gateway_errors_from_the_sim() {
    let sim = start();
    let h = sim.handle();

    let bad_secret = builder(&sim)
        .app_secret("wrong-secret-value")
        .build()
        .unwrap();
    let e = bad_secret
        .gateway("bk_login")
        .call(Method::Get, "/get_user/", Value::Null)
        .await
        .unwrap_err();
    assert_eq!(
        (e.http_status(), e.code()),
        (Some(401), Some(1640101)),
        "{e}"
    );
    assert_eq!(e.attempts(), 1, "auth failures are not retried");
    assert!(e.request_id().is_some_and(|id| !id.is_empty()));

    let bad_token = builder(&sim)
        .user(UserAuth::BkToken("not-a-valid-token".into()))
        .build()
        .unwrap();
    let e = bad_token
        .gateway("bk_login")
        .call(Method::Get, "/get_user/", Value::Null)
        .await
        .unwrap_err();
    assert_eq!(
        (e.http_status(), e.code()),
        (Some(401), Some(1640102)),
        "{e}"
    );

    let c = builder(&sim).build().unwrap();
    let e = c
        .gateway("cc")
        .call(Method::Post, "/no_such_api/", json!({}))
        .await
        .unwrap_err();
    assert_eq!(
        (e.http_status(), e.code()),
        (Some(404), Some(1640401)),
        "{e}"
    );
    assert!(matches!(e.kind(), ErrorKind::HttpStatus { .. }));

    // Raw: the gateway headers are there.
    let resp = reqwest::get(format!("{}/api/cc/prod/search_business/", sim.url()))
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["x-bkapi-error-code"], "1640101");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code_name"], "APP_VERIFY_FAILED");
    assert_eq!(body["result"], false);

    // Faults: rate limit (retried after the reset, even for POST), 502 and 504 for GET.
    h.add_fault(
        FaultRule::new(
            FaultKind::GatewayRateLimit {
                retry_after_secs: 1,
            },
            Trigger::NextN(1),
        )
        .on("cc.search_business"),
    );
    let v = c
        .gateway("cc")
        .call(Method::Post, "/search_business/", json!({}))
        .await
        .unwrap();
    assert!(v["count"].is_u64());
    assert_eq!(h.stats().faults_of("ratelimit429"), 1);

    h.clear_faults();
    h.add_fault(FaultRule::new(FaultKind::EsbBackendFailed, Trigger::NextN(1)).on("bk_login.*"));
    h.add_fault(FaultRule::new(FaultKind::HttpStatus(504), Trigger::NextN(1)).on("bk_login.*"));
    h.reset_stats();
    let u = c
        .gateway("bk_login")
        .call(Method::Get, "/get_user/", Value::Null)
        .await
        .unwrap();
    assert_eq!(u["bk_username"], "admin");
    assert_eq!(h.stats().calls_of("bk_login.get_user"), 3);

    // A POST meeting a 502 is not retried (it may have run); the error is typed.
    h.add_fault(FaultRule::new(FaultKind::HttpStatus(502), Trigger::NextN(1)).on("cc.*"));
    let e = c
        .gateway("cc")
        .call(Method::Post, "/search_business/", json!({}))
        .await
        .unwrap_err();
    assert_eq!(
        (e.http_status(), e.code()),
        (Some(502), Some(1650200)),
        "{e}"
    );
    assert_eq!(e.attempts(), 1);
}
