//! Secrets never surface: not in `Debug`/`Display` of the client, its
//! configuration or errors, not in error snippets when a server echoes them,
//! (the tracing output is checked in `tracing_output.rs`).

use crate::common;

use bk_runtime::{AuthMode, UserAuth};
use common::*;
use serde_json::{json, Value};

const SECRETS: &[&str] = &[APP_SECRET, BK_TOKEN, ACCESS_TOKEN];

fn assert_clean(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} leaks a secret: {text}");
    }
}

#[tokio::test]
async fn debug_and_display_show_no_secret() {
    let server = Server::reply(Reply::json(
        json!({"result": false, "code": 1306000, "message": "denied"}),
    ))
    .await;
    for user in [
        UserAuth::BkToken(BK_TOKEN.into()),
        UserAuth::AccessToken(ACCESS_TOKEN.into()),
    ] {
        for mode in [AuthMode::Params, AuthMode::Header, AuthMode::Signature] {
            let client = server
                .builder()
                .auth_mode(mode)
                .user(user.clone())
                .build()
                .unwrap();
            assert_clean("Client Debug", &format!("{client:?} {client:#?}"));
            assert_clean("Config Debug", &format!("{:?}", client.config()));
            assert_clean("UserAuth Debug", &format!("{user:?}"));
            for meta in [&GET_API, &POST_API] {
                let e = client.send::<_, Value>(meta, &json!({})).await.unwrap_err();
                assert_clean("Error Display", &e.to_string());
                assert_clean("Error Debug", &format!("{e:?}"));
            }
        }
    }
    let builder = server.builder().user(UserAuth::BkToken(BK_TOKEN.into()));
    assert_clean("ClientBuilder Debug", &format!("{builder:?}"));
}

#[tokio::test]
async fn echoed_secrets_are_scrubbed_from_errors() {
    // A misbehaving server that echoes the request (query, body, auth header) back.
    let server = Server::start(|r| {
        let echo = format!(
            "<html>query={:?} body={} auth={:?}</html>",
            r.query,
            r.body_str(),
            r.header("x-bkapi-authorization")
        );
        if r.path.contains("get_user") {
            Reply::raw(500, "text/html", &echo)
        } else {
            Reply::json(json!({"result": false, "code": 1, "message": echo, "data": {"bk_app_secret": APP_SECRET}}))
        }
    })
    .await;
    for mode in [AuthMode::Params, AuthMode::Header] {
        let client = server
            .builder()
            .auth_mode(mode)
            .user(UserAuth::BkToken(BK_TOKEN.into()))
            .build()
            .unwrap();
        for meta in [&GET_API, &POST_API] {
            let e = client.send::<_, Value>(meta, &json!({})).await.unwrap_err();
            let text = format!("{e} {e:?}");
            assert!(text.contains("***"), "{text}");
            assert_clean("echoed error", &text);
        }
    }
}
