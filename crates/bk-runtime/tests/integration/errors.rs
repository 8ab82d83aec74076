//! Every error kind, produced by a real loopback server, and its `Display`.

use crate::common;

use std::time::Duration;

use bk_runtime::{Error, ErrorKind, TimeoutKind};
use common::*;
use serde_json::{json, Value};

/// One attempt, so that the error is the server's answer as it is.
async fn post_err(server: &Server) -> Error {
    let client = server
        .builder()
        .retry_policy(bk_runtime::RetryPolicy::disabled())
        .build()
        .unwrap();
    client
        .send::<_, Value>(&POST_API, &json!({"bk_biz_id": 3}))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn connection_refused_is_transport_not_sent() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = bk_runtime::Client::builder()
        .endpoint(format!("http://{addr}"))
        .app_code(APP_CODE)
        .app_secret(APP_SECRET)
        .auth_mode(bk_runtime::AuthMode::Params)
        .build()
        .unwrap();
    let e = client
        .send::<_, Value>(&GET_API, &json!({}))
        .await
        .unwrap_err();
    match e.kind() {
        ErrorKind::Transport { possibly_sent, .. } => assert!(!possibly_sent),
        k => panic!("expected Transport, got {k:?}"),
    }
    assert_eq!(e.component(), Some("bk_login"));
    assert_eq!(e.api(), Some("get_user"));
    assert_eq!(e.http_status(), None);
    let text = e.to_string();
    assert!(
        text.starts_with("bk_login.get_user failed: transport error (request not sent)"),
        "{text}"
    );
    // the URL (with the secret in its query, Params mode) is not in the error
    assert!(
        !text.contains(APP_SECRET) && !format!("{e:?}").contains(APP_SECRET),
        "{e:?}"
    );
    assert!(std::error::Error::source(&e).is_some());
}

#[tokio::test]
async fn slow_server_is_request_timeout() {
    let server = Server::reply(Reply::ok(json!(null)).delay(Duration::from_secs(3))).await;
    let client = server
        .builder()
        .request_timeout(Duration::from_millis(300))
        .retry_policy(bk_runtime::RetryPolicy::disabled())
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let e = client
        .send::<_, Value>(&POST_API, &json!({}))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        timeout_of(&e),
        (TimeoutKind::Request, Duration::from_millis(300))
    );
    assert!(e.is_timeout());
    assert_eq!(
        e.to_string(),
        "cc.list_biz_hosts_topo failed: request timeout after 300ms"
    );
}

#[tokio::test]
async fn http_500_with_json_body() {
    let server = Server::reply(
        Reply::json(
            json!({"result": false, "code": 1650000, "message": "internal boom", "data": null}),
        )
        .status(500)
        .header("x-request-id", "rid-500"),
    )
    .await;
    let e = post_err(&server).await;
    match e.kind() {
        ErrorKind::HttpStatus {
            status, snippet, ..
        } => {
            assert_eq!(*status, 500);
            assert!(snippet.contains("internal boom"), "{snippet}");
        }
        k => panic!("expected HttpStatus, got {k:?}"),
    }
    assert_eq!(e.http_status(), Some(500));
    assert_eq!(e.code(), Some(1650000));
    assert_eq!(e.message(), Some("internal boom"));
    assert_eq!(e.request_id(), Some("rid-500"));
    assert_eq!(
        e.to_string(),
        r#"cc.list_biz_hosts_topo failed: HTTP status 500 Internal Server Error: code 1650000: "internal boom" (request_id rid-500)"#
    );
}

#[tokio::test]
async fn http_502_html_keeps_bounded_snippet() {
    let page = format!(
        "<html><body>Bad Gateway{}</body></html>",
        " padding".repeat(500)
    );
    let server = Server::reply(Reply::raw(502, "text/html", &page)).await;
    let e = post_err(&server).await;
    match e.kind() {
        ErrorKind::HttpStatus {
            status,
            code,
            message,
            snippet,
        } => {
            assert_eq!(*status, 502);
            assert_eq!((*code, message.as_deref()), (None, None));
            assert!(snippet.starts_with("<html><body>Bad Gateway"));
            assert!(snippet.chars().count() <= bk_runtime::redact::SNIPPET_MAX_CHARS + 1);
        }
        k => panic!("expected HttpStatus, got {k:?}"),
    }
    assert!(
        e.to_string()
            .contains("HTTP status 502 Bad Gateway; body: \"<html>"),
        "{e}"
    );
}

#[tokio::test]
async fn gateway_error_headers_on_non_2xx() {
    let server = Server::reply(
        Reply::json(json!({"code": 1640101, "code_name": "APP_VERIFY_FAILED", "message": "body msg", "result": false, "data": null}))
            .status(401)
            .header("x-bkapi-error-code", "1640101")
            .header("x-bkapi-error-message", "app code or secret is incorrect")
            .header("x-bkapi-request-id", "a0b1c2d3-0000-4000-8000-000000000000"),
    )
    .await;
    let e = post_err(&server).await;
    assert!(
        matches!(e.kind(), ErrorKind::HttpStatus { status: 401, .. }),
        "{e:?}"
    );
    assert_eq!(e.code(), Some(1640101));
    assert_eq!(e.message(), Some("app code or secret is incorrect"));
    assert_eq!(e.request_id(), Some("a0b1c2d3-0000-4000-8000-000000000000"));
}

#[tokio::test]
async fn gateway_error_headers_on_rewritten_200() {
    // status-rewrite plugin: HTTP 200, gateway error body and headers
    let server = Server::reply(
        Reply::json(json!({"code": 1642901, "code_name": "RATE_LIMIT", "message": "too many", "result": false, "data": null}))
            .header("x-bkapi-error-code", "1642901")
            .header("x-bkapi-error-message", "too many"),
    )
    .await;
    let e = post_err(&server).await;
    assert!(matches!(e.kind(), ErrorKind::Api { .. }), "{e:?}");
    assert_eq!(e.code(), Some(1642901));
    assert_eq!(e.http_status(), Some(200));

    // ... and with a body that is not an envelope: the headers still tell
    let server = Server::reply(
        Reply::raw(200, "text/plain", "rate limited")
            .header("x-bkapi-error-code", "1642901")
            .header("x-bkapi-error-message", "too many requests"),
    )
    .await;
    let e = post_err(&server).await;
    assert!(matches!(e.kind(), ErrorKind::NonJson { .. }), "{e:?}");
    assert_eq!(e.code(), Some(1642901));
    assert_eq!(e.message(), Some("too many requests"));
}

#[tokio::test]
async fn html_200_is_non_json() {
    let server = Server::reply(
        Reply::raw(200, "text/html; charset=utf-8", "<html>login page</html>")
            .header("x-request-id", "r1"),
    )
    .await;
    let e = post_err(&server).await;
    match e.kind() {
        ErrorKind::NonJson {
            content_type,
            snippet,
            ..
        } => {
            assert_eq!(content_type.as_deref(), Some("text/html; charset=utf-8"));
            assert_eq!(snippet, "<html>login page</html>");
        }
        k => panic!("expected NonJson, got {k:?}"),
    }
    assert_eq!(
        e.to_string(),
        r#"cc.list_biz_hosts_topo failed: response is not a BlueKing JSON envelope (content-type text/html; charset=utf-8); body: "<html>login page</html>" (HTTP 200, request_id r1)"#
    );
}

#[tokio::test]
async fn json_without_envelope_is_non_json() {
    let server = Server::reply(Reply::json(json!({"hello": "world"}))).await;
    let e = post_err(&server).await;
    assert!(matches!(e.kind(), ErrorKind::NonJson { .. }), "{e:?}");
}

#[tokio::test]
async fn result_false_is_api_error() {
    let server = Server::reply(Reply::json(json!({
        "result": false, "code": "1199006", "message": "page.limit exceed",
        "data": null, "request_id": "5f2a0c1d9e8b7a6f5f2a0c1d9e8b7a6f",
        "permission": {"system_id": "bk_cmdb", "actions": [{"id": "view_business"}]}
    })))
    .await;
    let e = post_err(&server).await;
    match e.kind() {
        ErrorKind::Api {
            code,
            message,
            permission,
        } => {
            assert_eq!(*code, Some(1199006));
            assert_eq!(message, "page.limit exceed");
            assert!(permission.is_some());
        }
        k => panic!("expected Api, got {k:?}"),
    }
    assert_eq!(e.code(), Some(1199006));
    assert_eq!(e.request_id(), Some("5f2a0c1d9e8b7a6f5f2a0c1d9e8b7a6f"));
    assert_eq!(e.permission().unwrap()["system_id"], "bk_cmdb");
    assert_eq!(
        e.to_string(),
        r#"cc.list_biz_hosts_topo failed: API error 1199006: "page.limit exceed" (HTTP 200, request_id 5f2a0c1d9e8b7a6f5f2a0c1d9e8b7a6f)"#
    );
}

#[tokio::test]
async fn data_shape_mismatch_is_decode_with_path() {
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Page {
        count: u32,
        info: Vec<Info>,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Info {
        bk_host_id: i64,
    }
    let server = Server::reply(Reply::ok(
        json!({"count": 1, "info": [{"bk_host_id": "not-a-number"}]}),
    ))
    .await;
    let client = server.builder().build().unwrap();
    let e = client
        .send::<_, Page>(&POST_API, &json!({}))
        .await
        .unwrap_err();
    match e.kind() {
        ErrorKind::Decode { path, message } => {
            assert_eq!(path, "info[0].bk_host_id");
            assert!(message.contains("invalid type"), "{message}");
        }
        k => panic!("expected Decode, got {k:?}"),
    }
    assert_eq!(e.http_status(), Some(200));
    assert_eq!(e.request_id(), Some("0123456789abcdef0123456789abcdef"));
    assert!(e.to_string().starts_with(
        "cc.list_biz_hosts_topo failed: cannot decode response data at `info[0].bk_host_id`: invalid type"
    ), "{e}");
}

#[tokio::test]
async fn params_not_an_object_is_invalid_request() {
    let server = Server::reply(Reply::ok(json!(null))).await;
    let client = server.builder().build().unwrap();
    let e = client
        .send::<_, Value>(&POST_API, &json!([1, 2]))
        .await
        .unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::InvalidRequest { .. }),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("must serialize to a JSON object"),
        "{e}"
    );

    struct Failing;
    impl serde::Serialize for Failing {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("nope"))
        }
    }
    let e = client
        .send::<_, Value>(&POST_API, &Failing)
        .await
        .unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::InvalidRequest { .. }),
        "{e:?}"
    );

    let e = client
        .call("cc", "../../admin", json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::InvalidRequest { .. }),
        "{e:?}"
    );
    assert!(server.requests().is_empty(), "nothing must be sent");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let server = Server::reply(
        Reply::raw(302, "text/plain", "").header("location", "http://127.0.0.1:1/steal"),
    )
    .await;
    let e = post_err(&server).await;
    assert!(
        matches!(e.kind(), ErrorKind::HttpStatus { status: 302, .. }),
        "{e:?}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn oversized_body_is_rejected() {
    let server = Server::reply(Reply::ok(json!("x".repeat(10_000)))).await;
    let client = server.builder().max_response_bytes(1_000).build().unwrap();
    let e = client
        .send::<_, Value>(&POST_API, &json!({}))
        .await
        .unwrap_err();
    assert!(transport_failure(&e).0, "{e:?}");
}

#[tokio::test]
async fn config_errors() {
    let e = bk_runtime::Client::builder().build().unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Config { .. }));
    assert!(
        e.to_string()
            .starts_with("invalid configuration: endpoint is not set"),
        "{e}"
    );
}

#[tokio::test]
async fn connect_timeout_is_timeout_connect() {
    // A listener whose accept queue is full: further SYNs are dropped, so
    // connecting hangs until the connect timeout.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    for _ in 0..8 {
        match tokio::time::timeout(
            Duration::from_millis(100),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            Ok(Ok(s)) => held.push(s),
            _ => break,
        }
    }
    let client = bk_runtime::Client::builder()
        .endpoint(format!("http://{addr}"))
        .app_code(APP_CODE)
        .app_secret(APP_SECRET)
        .connect_timeout(Duration::from_millis(200))
        .retry_policy(bk_runtime::RetryPolicy::disabled())
        .build()
        .unwrap();
    let e = client
        .send::<_, Value>(&GET_API, &json!({}))
        .await
        .unwrap_err();
    assert_eq!(
        timeout_of(&e),
        (TimeoutKind::Connect, Duration::from_millis(200))
    );
    assert_eq!(
        e.to_string(),
        "bk_login.get_user failed: connect timeout after 200ms"
    );
    drop(held);
}
