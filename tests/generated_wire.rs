//! Generated clients on the wire: the exact request a typed call produces, and the typed
//! decoding of the answer, against a real HTTP server on loopback.

use bk_runtime::{AuthMode, Client, UserAuth};
use bk_sdk::cc::types::Page;
use bk_sdk::prelude::*;
use bk_workspace_tests::Recorder;
use serde_json::json;

fn client(url: &str, mode: AuthMode) -> Client {
    Client::builder()
        .endpoint(url)
        .app_code("demo-app")
        .app_secret("s3cret-app-secret")
        .user(UserAuth::BkUsername("admin".into()))
        .auth_mode(mode)
        .build()
        .unwrap()
}

fn ok(data: serde_json::Value) -> serde_json::Value {
    json!({"result": true, "code": 0, "message": "", "data": data, "request_id": "0123456789abcdef0123456789abcdef"})
}

#[tokio::test]
async fn post_api_sends_typed_params_in_the_json_body() {
    let server = Recorder::start(ok(json!({
        "count": 1,
        "info": [{"host": {"bk_host_id": 7, "bk_host_innerip": "10.0.0.7", "custom_rack": "r1"},
                  "topo": [{"bk_set_id": 3, "bk_set_name": "s", "module": [{"bk_module_id": 4, "bk_module_name": "m"}]}]}]
    })))
    .await;
    let data = client(&server.url, AuthMode::Params)
        .cc()
        .list_biz_hosts_topo(
            2,
            Page {
                start: Some(0),
                limit: 100,
                ..Default::default()
            },
            vec!["bk_host_id".into()],
        )
        .send()
        .await
        .unwrap();
    assert_eq!(data.count, 1);
    let host = &data.info[0].host;
    assert_eq!(host.bk_host_id, Some(7));
    // User-defined host fields survive decoding.
    assert_eq!(host.extra.get("custom_rack"), Some(&json!("r1")));

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.uri.path(), "/api/c/compapi/v2/cc/list_biz_hosts_topo/");
    assert_eq!(r.uri.query(), None, "POST sends nothing in the query");
    assert_eq!(
        r.json(),
        json!({
            "bk_biz_id": 2,
            "page": {"start": 0, "limit": 100},
            "fields": ["bk_host_id"],
            "bk_app_code": "demo-app",
            "bk_app_secret": "s3cret-app-secret",
            "bk_username": "admin"
        })
    );
}

#[tokio::test]
async fn get_api_sends_params_in_the_query_and_auth_in_the_header() {
    let server = Recorder::start(ok(json!({"bk_username": "admin", "chname": "Admin"}))).await;
    let user = client(&server.url, AuthMode::Header)
        .bk_login()
        .get_user()
        .bk_username("admin")
        .send()
        .await
        .unwrap();
    assert_eq!(user.bk_username, "admin");

    let r = &server.requests()[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.uri.path(), "/api/c/compapi/v2/bk_login/get_user/");
    assert_eq!(
        r.query(),
        vec![("bk_username".to_string(), "admin".to_string())]
    );
    assert!(r.body.is_empty());
    let auth: serde_json::Value =
        serde_json::from_str(r.headers["x-bkapi-authorization"].to_str().unwrap()).unwrap();
    assert_eq!(
        auth,
        json!({"bk_app_code": "demo-app", "bk_app_secret": "s3cret-app-secret", "bk_username": "admin"})
    );
}

#[tokio::test]
async fn enums_decode_known_and_unknown_values() {
    let server =
        Recorder::start(ok(json!({"current_status": "FINISHED", "ticket_url": "u"}))).await;
    let c = client(&server.url, AuthMode::Header);
    let status = c.itsm().get_ticket_status("sn-1").send().await.unwrap();
    assert_eq!(
        status.current_status,
        bk_sdk::itsm::types::TicketStatus::Finished
    );

    let server = Recorder::start(ok(json!({"current_status": "SOMETHING_NEW"}))).await;
    let c = client(&server.url, AuthMode::Header);
    let status = c.itsm().get_ticket_status("sn-1").send().await.unwrap();
    assert_eq!(
        status.current_status,
        bk_sdk::itsm::types::TicketStatus::Unknown("SOMETHING_NEW".into())
    );
}

#[tokio::test]
async fn a_typed_mismatch_names_the_field_path() {
    let server = Recorder::start(ok(json!({"count": "many", "info": []}))).await;
    let err = client(&server.url, AuthMode::Header)
        .cc()
        .list_biz_hosts_topo(
            2,
            Page {
                limit: 1,
                ..Default::default()
            },
            vec![],
        )
        .send()
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("count"), "{text}");
    assert!(text.contains("cc.list_biz_hosts_topo"), "{text}");
}
