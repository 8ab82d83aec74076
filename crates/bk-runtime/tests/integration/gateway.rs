//! API gateway mode on the wire: URL from the template and the stage mappings, header
//! auth whatever the client's auth mode, gateway errors typed and retried by their class.

use crate::common;

use std::time::Duration;

use bk_runtime::{AuthMode, ErrorKind, Method, RetryPolicy, UserAuth};
use common::*;
use serde_json::{json, Value};

fn fast_retries() -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(3)
        .initial_backoff(Duration::from_millis(1))
        .token_bucket(false)
}

#[tokio::test]
async fn url_stage_and_header_auth() {
    let server = Server::start(|_| Reply::ok(json!({"ok": 1}))).await;
    let client = server
        .builder()
        .auth_mode(AuthMode::Params)
        .user(UserAuth::BkToken(BK_TOKEN.into()))
        .gateway_url_template(format!("{}/api/{{api_name}}/", server.url()))
        .stage_mappings([("bk-user", "test")])
        .build()
        .unwrap();

    let v = client
        .gateway("bk-user")
        .call(Method::Get, "/api/v1/users/", json!({"page": 2}))
        .await
        .unwrap();
    assert_eq!(v, json!({"ok": 1}));
    let r = server.last();
    assert_eq!(r.method, "GET");
    assert_eq!(r.path, "/api/bk-user/test/api/v1/users/");
    assert_eq!(
        r.query.as_deref(),
        Some("page=2"),
        "no credential in the query"
    );
    let auth: Value = serde_json::from_str(&r.header("x-bkapi-authorization").unwrap()).unwrap();
    assert_eq!(
        auth,
        json!({"bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET, "bk_token": BK_TOKEN})
    );

    // Default stage, an explicit stage, and a body method.
    let _: Value = client
        .gateway("bk-other")
        .send(Method::Post, "/items/", &json!({"name": "x"}))
        .await
        .unwrap();
    let r = server.last();
    assert_eq!(r.path, "/api/bk-other/prod/items/");
    assert_eq!(r.body_json(), json!({"name": "x"}));
    let gw = client.gateway("bk-other").stage("stag");
    assert_eq!(gw.stage_name(), "stag");
    gw.call(Method::Delete, "/items/1/", Value::Null)
        .await
        .unwrap();
    assert_eq!(server.last().method, "DELETE");
    assert_eq!(server.last().path, "/api/bk-other/stag/items/1/");

    // Bad names and paths never reach the wire.
    let before = server.requests().len();
    for (name, path) in [
        ("bk user", "/x/"),
        ("bk-user", "x/"),
        ("bk-user", "/../admin/"),
    ] {
        let e = client
            .gateway(name)
            .call(Method::Get, path, Value::Null)
            .await
            .unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidRequest { .. }), "{e}");
    }
    assert_eq!(server.requests().len(), before);
}

#[tokio::test]
async fn plain_json_resources_and_stage_template() {
    let server = Server::start(|_| Reply::json(json!({"items": [1, 2, 3]}))).await;
    let client = server
        .builder()
        .gateway_stage_url_template(format!("{}/gw/{{stage}}/{{api_name}}", server.url()))
        .default_stage("dev")
        .build()
        .unwrap();
    let v = client
        .gateway("svc")
        .call(Method::Get, "/list", Value::Null)
        .await
        .unwrap();
    assert_eq!(v, json!({"items": [1, 2, 3]}));
    assert_eq!(server.last().path, "/gw/dev/svc/list");
}

fn gateway_error(status: u16, code: i64, name: &str) -> Reply {
    Reply::json(
        json!({"code": code, "code_name": name, "message": name, "result": false, "data": null}),
    )
    .status(status)
    .header("x-bkapi-error-code", &code.to_string())
    .header("x-bkapi-error-message", name)
    .header("x-bkapi-request-id", "0b5e7f4c-6d1a-4c4e-9d53-000000000001")
}

#[tokio::test]
async fn gateway_errors_are_typed_and_classified() {
    let cases: &[(u16, i64, &str, Method, u32)] = &[
        (400, 1640001, "INVALID_ARGS", Method::Get, 1),
        (401, 1640101, "APP_VERIFY_FAILED", Method::Get, 1),
        (403, 1640301, "APP_NO_PERMISSION", Method::Get, 1),
        (404, 1640401, "API_NOT_FOUND", Method::Get, 1),
        (413, 1641301, "BODY_SIZE_LIMIT_EXCEED", Method::Post, 1),
        (502, 1650200, "BAD_GATEWAY", Method::Get, 3),
        (503, 1650300, "SERVICE_UNAVAILABLE", Method::Get, 3),
        (504, 1650401, "REQUEST_BACKEND_TIMEOUT", Method::Get, 3),
        // Not idempotent: a 5xx may have run, no retry.
        (502, 1650200, "BAD_GATEWAY", Method::Post, 1),
    ];
    for &(status, code, name, method, attempts) in cases {
        let server = Server::reply(gateway_error(status, code, name)).await;
        let client = server
            .builder()
            .gateway_url_template(format!("{}/api/{{api_name}}", server.url()))
            .retry_policy(fast_retries())
            .build()
            .unwrap();
        let e = client
            .gateway("bk-user")
            .call(method, "/users/", json!({}))
            .await
            .unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::HttpStatus { .. }), "{e:?}");
        assert_eq!(e.code(), Some(code), "{e}");
        assert_eq!(e.http_status(), Some(status), "{e}");
        assert_eq!(e.message(), Some(name), "{e}");
        assert_eq!(e.request_id(), Some("0b5e7f4c-6d1a-4c4e-9d53-000000000001"));
        assert_eq!(e.component(), Some("bk-user"));
        assert_eq!(e.api(), Some("/users/"));
        assert_eq!(
            server.requests().len() as u32,
            attempts,
            "{status} {code} {method}"
        );
        assert!(e.to_string().contains(&code.to_string()), "{e}");
    }
}

#[tokio::test]
async fn rate_limit_is_retried_after_the_reset_even_for_post() {
    let server = Server::start(|_| Reply::ok(json!(1))).await;
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen = calls.clone();
    let limited = Server::start(move |_| {
        if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            gateway_error(429, 1642901, "RATE_LIMIT_RESTRICTION")
                .header("x-bkapi-ratelimit-reset", "1")
        } else {
            Reply::ok(json!({"done": true}))
        }
    })
    .await;
    drop(server);
    let client = limited
        .builder()
        .gateway_url_template(format!("{}/api/{{api_name}}", limited.url()))
        .retry_policy(fast_retries())
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let v = client
        .gateway("bk-user")
        .call(Method::Post, "/users/", json!({"name": "x"}))
        .await
        .unwrap();
    assert_eq!(v, json!({"done": true}));
    assert_eq!(limited.requests().len(), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "the reset was not honoured: {:?}",
        started.elapsed()
    );
}
