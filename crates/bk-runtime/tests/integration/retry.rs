//! Retries, timeouts and hooks against loopback servers.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bk_runtime::hooks::{AttemptInfo, Hook, ResponseInfo};
use bk_runtime::{
    ApiMeta, CallOptions, Error, ErrorKind, Method, RetryPolicy, TimeoutKind, TokenBucket,
};
use common::*;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

const JOB_API: ApiMeta = ApiMeta {
    component: "jobv3",
    name: "fast_execute_script",
    method: Method::Post,
    path: "/api/c/compapi{bk_api_ver}/jobv3/fast_execute_script/",
    idempotent: false,
    sensitive: &[],
    cache_ttl_secs: None,
};

/// Quick retries for tests.
fn fast() -> RetryPolicy {
    RetryPolicy::default().initial_backoff(Duration::from_millis(1))
}

/// Records what the hooks saw.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<String>>,
    backoffs: Mutex<Vec<Duration>>,
}

impl Recorder {
    fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }
}

impl Hook for Recorder {
    fn before_send(&self, a: &AttemptInfo<'_>) {
        self.events
            .lock()
            .unwrap()
            .push(format!("send {}.{} #{}", a.component, a.api, a.attempt));
        self.backoffs.lock().unwrap().push(a.backoff);
    }
    fn after_response(&self, a: &AttemptInfo<'_>, r: &ResponseInfo<'_>) {
        self.events.lock().unwrap().push(format!(
            "response #{} {} {}",
            a.attempt, r.http_status, r.code
        ));
    }
    fn on_error(&self, a: &AttemptInfo<'_>, e: &Error, will_retry: bool) {
        self.events.lock().unwrap().push(format!(
            "error #{} {:?} retry={will_retry}",
            a.attempt,
            e.code().or(e.http_status().map(i64::from))
        ));
    }
}

/// A server answering the `n`-th request (0-based) with `script(n)`.
async fn scripted(script: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Server {
    let n = AtomicUsize::new(0);
    Server::start(move |_| script(n.fetch_add(1, Ordering::SeqCst))).await
}

fn unavailable() -> Reply {
    Reply::json(json!({"code": 1650300, "code_name": "SERVICE_UNAVAILABLE",
        "message": "Service Unavailable", "result": false, "data": null}))
    .status(503)
    .header("x-bkapi-error-code", "1650300")
}

/// A raw TCP server that reads each request and resets the connection
/// without answering (the request was sent and may have run).
async fn reset_after_send() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut got = Vec::new();
                // Read the headers and the declared body.
                loop {
                    let Ok(n) = sock.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if got.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                // Linger 0: close with a TCP reset (does not block).
                #[allow(deprecated)]
                let _ = sock.set_linger(Some(Duration::ZERO));
                drop(sock);
            });
        }
    });
    (format!("http://{addr}"), seen)
}

/// An address where nothing listens.
fn refused_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

#[tokio::test]
async fn retries_503_then_succeeds() {
    let server = scripted(|n| {
        if n == 0 {
            unavailable()
        } else {
            Reply::ok(json!({"ok": true}))
        }
    })
    .await;
    let rec = Arc::new(Recorder::default());
    let client = server
        .builder()
        .retry_policy(fast())
        .hook(rec.clone())
        .build()
        .unwrap();
    let data: Value = client.send(&POST_API, &json!({})).await.unwrap();
    assert_eq!(data, json!({"ok": true}));
    assert_eq!(server.requests().len(), 2);
    assert_eq!(
        rec.events(),
        vec![
            "send cc.list_biz_hosts_topo #1",
            "error #1 Some(1650300) retry=true",
            "send cc.list_biz_hosts_topo #2",
            "response #2 200 0",
        ]
    );
}

#[tokio::test]
async fn retries_envelope_codes_for_idempotent_apis() {
    for code in [1306201, 1306429, 1199997, -1] {
        let server = scripted(move |n| {
            if n == 0 {
                Reply::json(json!({"result": false, "code": code, "message": "busy", "data": null}))
            } else {
                Reply::ok(json!(1))
            }
        })
        .await;
        let client = server.builder().retry_policy(fast()).build().unwrap();
        let data: Value = client.send(&POST_API, &json!({})).await.unwrap();
        assert_eq!(data, json!(1), "{code}");
        assert_eq!(server.requests().len(), 2, "{code}");
    }
}

#[tokio::test]
async fn non_idempotent_not_retried_after_reset_once_sent() {
    let (url, seen) = reset_after_send().await;
    let client = bk_runtime::Client::builder()
        .endpoint(url)
        .app_code(APP_CODE)
        .app_secret(APP_SECRET)
        .retry_policy(fast())
        .build()
        .unwrap();
    let err = client
        .send::<_, Value>(&JOB_API, &json!({"bk_scope_id": 1}))
        .await
        .unwrap_err();
    assert!(transport_failure(&err).0, "{err:?}");
    assert_eq!(err.attempts(), 1);
    assert_eq!(seen.load(Ordering::SeqCst), 1);

    // The same failure is retried for an idempotent API.
    let err = client
        .send::<_, Value>(&POST_API, &json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.attempts(), 3);
    assert_eq!(seen.load(Ordering::SeqCst), 4);
    assert!(err.to_string().ends_with("after 3 attempts"), "{err}");
}

#[tokio::test]
async fn non_idempotent_retried_when_connection_refused() {
    let rec = Arc::new(Recorder::default());
    let client = bk_runtime::Client::builder()
        .endpoint(refused_url())
        .app_code(APP_CODE)
        .app_secret(APP_SECRET)
        .retry_policy(fast().max_attempts(4))
        .hook(rec.clone())
        .build()
        .unwrap();
    let err = client
        .send::<_, Value>(&JOB_API, &json!({}))
        .await
        .unwrap_err();
    assert!(!transport_failure(&err).0, "{err:?}");
    assert_eq!(err.attempts(), 4);
    assert_eq!(
        rec.events()
            .iter()
            .filter(|e| e.starts_with("send"))
            .count(),
        4
    );
}

#[tokio::test]
async fn non_idempotent_not_retried_after_503_but_after_rate_limit() {
    let server = Server::reply(unavailable()).await;
    let client = server.builder().retry_policy(fast()).build().unwrap();
    let err = client
        .send::<_, Value>(&JOB_API, &json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(503));
    assert_eq!(server.requests().len(), 1);

    // A gateway rate limit proves the call was not forwarded.
    let server = scripted(|n| {
        if n == 0 {
            Reply::json(
                json!({"code": 1642901, "result": false, "data": null, "message": "rate limited"}),
            )
            .status(429)
            .header("x-bkapi-error-code", "1642901")
            .header("retry-after", "0")
        } else {
            Reply::ok(json!({"job_instance_id": 1}))
        }
    })
    .await;
    let client = server.builder().retry_policy(fast()).build().unwrap();
    let data: Value = client.send(&JOB_API, &json!({})).await.unwrap();
    assert_eq!(data["job_instance_id"], 1);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn retry_after_and_rate_limit_reset_are_honoured() {
    for header in ["retry-after", "x-bkapi-ratelimit-reset"] {
        let server = scripted(move |n| {
            if n == 0 {
                Reply::json(
                    json!({"code": 1642901, "result": false, "data": null, "message": "slow down"}),
                )
                .status(429)
                .header("x-bkapi-error-code", "1642901")
                .header(header, "1")
            } else {
                Reply::ok(json!(true))
            }
        })
        .await;
        let rec = Arc::new(Recorder::default());
        // Without the hint the wait would be at most 1 ms.
        let client = server
            .builder()
            .retry_policy(fast().max_backoff(Duration::from_millis(1)))
            .hook(rec.clone())
            .build()
            .unwrap();
        let started = std::time::Instant::now();
        let _: Value = client.send(&GET_API, &json!({})).await.unwrap();
        assert_eq!(
            *rec.backoffs.lock().unwrap(),
            vec![Duration::ZERO, Duration::from_secs(1)],
            "{header}"
        );
        // Only a lower bound: the client really waited.
        assert!(started.elapsed() >= Duration::from_secs(1));
    }
}

#[tokio::test]
async fn server_wait_beyond_the_limit_is_not_waited_for() {
    let server = Server::reply(
        Reply::json(json!({"code": 1642901, "result": false, "data": null, "message": "x"}))
            .status(429)
            .header("retry-after", "3600"),
    )
    .await;
    let client = server.builder().retry_policy(fast()).build().unwrap();
    let err = client
        .send::<_, Value>(&GET_API, &json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn operation_budget_exhaustion_is_an_operation_timeout() {
    let server = Server::reply(Reply::ok(json!(1)).delay(Duration::from_millis(400))).await;
    let client = server
        .builder()
        .request_timeout(Duration::from_millis(150))
        .operation_timeout(Duration::from_millis(400))
        .retry_policy(fast().max_attempts(10))
        .build()
        .unwrap();
    let err = client
        .send::<_, Value>(&GET_API, &json!({}))
        .await
        .unwrap_err();
    assert_eq!(
        timeout_of(&err),
        (TimeoutKind::Operation, Duration::from_millis(400))
    );
    assert!(err.attempts() >= 2, "{err:?}");
    assert!(
        err.to_string().contains("operation timeout after 400ms"),
        "{err}"
    );

    // A per-call budget overrides the client's.
    let err = client
        .send_with::<_, Value>(
            &GET_API,
            &json!({}),
            &CallOptions::new().timeout(Duration::from_millis(50)),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Timeout { which: TimeoutKind::Operation, after } if *after == Duration::from_millis(50)),
        "{err:?}"
    );
    assert_eq!(err.attempts(), 1);
}

#[tokio::test]
async fn per_attempt_timeout_is_a_request_timeout() {
    let server = Server::reply(Reply::ok(json!(1)).delay(Duration::from_millis(300))).await;
    let client = server
        .builder()
        .request_timeout(Duration::from_millis(50))
        .retry_policy(RetryPolicy::disabled())
        .build()
        .unwrap();
    let err = client
        .send::<_, Value>(&GET_API, &json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Timeout {
                which: TimeoutKind::Request,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn token_bucket_drains_then_stops_retrying() {
    let server = Server::reply(unavailable()).await;
    let bucket = TokenBucket::new(10);
    let client = server
        .builder()
        .retry_policy(fast())
        .token_bucket(bucket.clone())
        .build()
        .unwrap();
    let err = client
        .send::<_, Value>(&GET_API, &json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.attempts(), 3);
    assert_eq!(bucket.available(), 0);
    let err = client
        .send::<_, Value>(&GET_API, &json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.attempts(), 1, "no tokens left: no retry");
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn successful_retry_refunds_its_tokens() {
    let server = scripted(|n| {
        if n % 2 == 0 {
            unavailable()
        } else {
            Reply::ok(json!(1))
        }
    })
    .await;
    let bucket = TokenBucket::new(10);
    let client = server
        .builder()
        .retry_policy(fast())
        .token_bucket(bucket.clone())
        .build()
        .unwrap();
    for _ in 0..5 {
        let _: Value = client.send(&GET_API, &json!({})).await.unwrap();
    }
    assert_eq!(bucket.available(), 10);
    assert_eq!(server.requests().len(), 10);
}

#[tokio::test]
async fn auth_and_argument_errors_are_not_retried() {
    let server = Server::reply(
        Reply::json(
            json!({"code": 1640102, "code_name": "USER_VERIFY_FAILED", "result": false,
            "data": null, "message": "user authentication failed"}),
        )
        .status(401)
        .header("x-bkapi-error-code", "1640102"),
    )
    .await;
    let client = server.builder().retry_policy(fast()).build().unwrap();
    let err = client
        .send::<_, Value>(&GET_API, &json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(1640102));
    assert_eq!(err.attempts(), 1);
    assert_eq!(server.requests().len(), 1);

    for code in [1306000, 1306402, 1306406, 1199006] {
        let server = Server::reply(Reply::json(
            json!({"result": false, "code": code, "message": "no", "data": null}),
        ))
        .await;
        let client = server.builder().retry_policy(fast()).build().unwrap();
        let err = client
            .send::<_, Value>(&GET_API, &json!({}))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(code));
        assert_eq!(server.requests().len(), 1, "{code}");
    }
}

#[tokio::test]
async fn per_call_policy_overrides_the_default() {
    let server = Server::reply(unavailable()).await;
    let client = server.builder().retry_policy(fast()).build().unwrap();
    let err = client
        .send_with::<_, Value>(
            &GET_API,
            &json!({}),
            &CallOptions::new().retry(RetryPolicy::disabled()),
        )
        .await
        .unwrap_err();
    assert_eq!(err.attempts(), 1);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn send_raw_returns_the_last_envelope_after_retries() {
    let server = Server::reply(Reply::json(
        json!({"result": false, "code": 1306201, "message": "backend down", "data": null}),
    ))
    .await;
    let client = server.builder().retry_policy(fast()).build().unwrap();
    let raw = client.send_raw(&GET_API, json!({})).await.unwrap();
    assert!(!raw.result);
    assert_eq!(raw.code, 1306201);
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn untyped_calls_count_as_not_idempotent() {
    let server = Server::reply(unavailable()).await;
    let client = server.builder().retry_policy(fast()).build().unwrap();
    let err = client
        .call("cc", "search_business", json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.attempts(), 1);
    assert_eq!(server.requests().len(), 1);
}
