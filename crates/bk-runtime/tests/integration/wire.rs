//! Exact wire form of requests, checked on a real loopback server.

use crate::common;

use base64::Engine as _;
use bk_runtime::{ApiVersion, AuthMode, Method, UserAuth};
use common::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};

const V2_GET: &str = "/api/c/compapi/v2/bk_login/get_user/";
const V2_POST: &str = "/api/c/compapi/v2/cc/list_biz_hosts_topo/";

#[tokio::test]
async fn params_mode_get_puts_params_and_auth_in_query() {
    let server = Server::reply(Reply::ok(json!({"bk_username": "admin"}))).await;
    let client = server
        .builder()
        .auth_mode(AuthMode::Params)
        .user(UserAuth::BkToken(BK_TOKEN.into()))
        .build()
        .unwrap();
    let req = json!({"bk_username": "admin", "page": {"start": 0, "limit": 10}, "flag": true, "n": 3, "skip": null, "s": "a b&c"});
    let data: Value = client.send(&GET_API, &req).await.unwrap();
    assert_eq!(data, json!({"bk_username": "admin"}));

    let r = server.last();
    assert_eq!(r.method, "GET");
    assert_eq!(r.path, V2_GET);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-type"), None);
    assert_eq!(r.header("x-bkapi-authorization"), None);
    assert_eq!(
        Value::Object(r.query_map()),
        json!({
            "bk_username": "admin",
            "page": r#"{"limit":10,"start":0}"#,
            "flag": "true",
            "n": "3",
            "s": "a b&c",
            "bk_app_code": APP_CODE,
            "bk_app_secret": APP_SECRET,
            "bk_token": BK_TOKEN,
        })
    );
}

#[tokio::test]
async fn params_mode_post_puts_params_and_auth_in_json_body() {
    let server = Server::reply(Reply::ok(json!({"count": 0, "info": []}))).await;
    let client = server
        .builder()
        .auth_mode(AuthMode::Params)
        .user(UserAuth::BkUsername("admin".into()))
        .build()
        .unwrap();
    let _: Value = client
        .send(
            &POST_API,
            &json!({"bk_biz_id": 3, "page": {"start": 0, "limit": 500}}),
        )
        .await
        .unwrap();
    let r = server.last();
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, V2_POST);
    assert_eq!(r.query, None);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        r.body_json(),
        json!({
            "bk_biz_id": 3,
            "page": {"start": 0, "limit": 500},
            "bk_app_code": APP_CODE,
            "bk_app_secret": APP_SECRET,
            "bk_username": "admin",
        })
    );
}

#[tokio::test]
async fn header_mode_sends_authorization_json_only() {
    let server = Server::reply(Reply::ok(json!(null))).await;
    let client = server
        .builder()
        .user(UserAuth::BkToken(BK_TOKEN.into()))
        .build()
        .unwrap();
    assert_eq!(
        client.config().auth_mode(),
        AuthMode::Header,
        "default mode"
    );

    let _: Value = client
        .send(&POST_API, &json!({"bk_biz_id": 3}))
        .await
        .unwrap();
    let r = server.last();
    let auth: Value = serde_json::from_str(&r.header("x-bkapi-authorization").unwrap()).unwrap();
    assert_eq!(
        auth,
        json!({"bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET, "bk_token": BK_TOKEN})
    );
    assert_eq!(r.body_json(), json!({"bk_biz_id": 3}));
    assert_eq!(r.query, None);

    let _: Value = client.send(&GET_API, &json!({"x": 1})).await.unwrap();
    let r = server.last();
    assert_eq!(r.query.as_deref(), Some("x=1"));
    assert!(r.header("x-bkapi-authorization").is_some());
}

#[tokio::test]
async fn header_mode_username_and_no_user() {
    let server = Server::reply(Reply::ok(json!(null))).await;
    let client = server
        .builder()
        .user(UserAuth::BkUsername("admin".into()))
        .build()
        .unwrap();
    let _: Value = client.send(&GET_API, &json!({})).await.unwrap();
    let auth: Value =
        serde_json::from_str(&server.last().header("x-bkapi-authorization").unwrap()).unwrap();
    assert_eq!(
        auth,
        json!({"bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET, "bk_username": "admin"})
    );
    assert_eq!(server.last().query, None);

    let client = server.builder().build().unwrap();
    let _: Value = client.send(&GET_API, &json!({})).await.unwrap();
    let auth: Value =
        serde_json::from_str(&server.last().header("x-bkapi-authorization").unwrap()).unwrap();
    assert_eq!(
        auth,
        json!({"bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET})
    );
}

#[tokio::test]
async fn access_token_is_sent_alone_in_header_in_every_mode() {
    let server = Server::reply(Reply::ok(json!(null))).await;
    for mode in [AuthMode::Params, AuthMode::Header, AuthMode::Signature] {
        let client = server
            .builder()
            .auth_mode(mode)
            .user(UserAuth::AccessToken(ACCESS_TOKEN.into()))
            .build()
            .unwrap();
        let _: Value = client
            .send(&POST_API, &json!({"bk_biz_id": 1}))
            .await
            .unwrap();
        let r = server.last();
        let auth: Value =
            serde_json::from_str(&r.header("x-bkapi-authorization").unwrap()).unwrap();
        assert_eq!(auth, json!({"access_token": ACCESS_TOKEN}), "{mode:?}");
        assert_eq!(r.body_json(), json!({"bk_biz_id": 1}), "{mode:?}");
        assert_eq!(r.query, None, "{mode:?}");
    }
    // no app code or secret needed
    let client = bk_runtime::Client::builder()
        .endpoint(server.url())
        .user(UserAuth::AccessToken(ACCESS_TOKEN.into()))
        .build()
        .unwrap();
    let _: Value = client.send(&GET_API, &json!({})).await.unwrap();
}

/// Server-side verification, written independently of the client: rebuild
/// the string to sign from what was received and compare HMACs.
fn verify_signature(r: &Recorded, secret: &str) -> bool {
    let mut params: Vec<(String, String)> = r
        .query_pairs()
        .into_iter()
        .filter(|(k, _)| k != "bk_signature")
        .collect();
    if r.method == "POST" {
        params.push(("data".into(), r.body_str()));
    }
    params.sort();
    let joined: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let text = format!("{}{}?{}", r.method, r.path, joined.join("&"));
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(text.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let got = r
        .query_pairs()
        .into_iter()
        .find(|(k, _)| k == "bk_signature")
        .map(|(_, v)| v);
    got.as_deref() == Some(expected.as_str())
}

fn check_timestamp_and_nonce(q: &serde_json::Map<String, Value>) {
    let ts: u64 = q["bk_timestamp"].as_str().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(ts + 300 >= now && ts <= now + 5, "timestamp {ts} vs {now}");
    let nonce: u64 = q["bk_nonce"].as_str().unwrap().parse().unwrap();
    assert!((1..=2_147_483_647).contains(&nonce));
}

#[tokio::test]
async fn signature_mode_get() {
    let server = Server::reply(Reply::ok(json!(null))).await;
    let client = server
        .builder()
        .auth_mode(AuthMode::Signature)
        .user(UserAuth::BkUsername("admin".into()))
        .build()
        .unwrap();
    let _: Value = client
        .send(&GET_API, &json!({"fields": ["a", "b"], "s": "x y+z"}))
        .await
        .unwrap();
    let r = server.last();
    assert!(verify_signature(&r, APP_SECRET), "bad signature: {r:?}");
    assert!(!verify_signature(&r, "wrong-secret"));
    let q = r.query_map();
    let mut keys: Vec<&str> = q.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "bk_app_code",
            "bk_nonce",
            "bk_signature",
            "bk_timestamp",
            "bk_username",
            "fields",
            "s"
        ]
    );
    assert_eq!(q["bk_app_code"], APP_CODE);
    assert!(!r.query.as_deref().unwrap().contains(APP_SECRET));
    assert!(r.header("x-bkapi-authorization").is_none());
    check_timestamp_and_nonce(&q);
}

#[tokio::test]
async fn signature_mode_post() {
    let server = Server::reply(Reply::ok(json!(null))).await;
    let client = server
        .builder()
        .auth_mode(AuthMode::Signature)
        .user(UserAuth::BkToken(BK_TOKEN.into()))
        .build()
        .unwrap();
    let _: Value = client
        .send(
            &POST_API,
            &json!({"bk_biz_id": 3, "note": "ünïcode & spaces"}),
        )
        .await
        .unwrap();
    let r = server.last();
    assert!(verify_signature(&r, APP_SECRET), "bad signature: {r:?}");
    let q = r.query_map();
    let mut keys: Vec<&str> = q.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["bk_nonce", "bk_signature", "bk_timestamp"]);
    check_timestamp_and_nonce(&q);
    assert_eq!(
        r.body_json(),
        json!({"bk_biz_id": 3, "note": "ünïcode & spaces", "bk_app_code": APP_CODE, "bk_token": BK_TOKEN})
    );
    assert!(!r.body_str().contains(APP_SECRET));
    assert!(r.header("x-bkapi-authorization").is_none());
}

#[tokio::test]
async fn signature_path_includes_endpoint_prefix() {
    let server = Server::reply(Reply::ok(json!(null))).await;
    let client = server
        .builder()
        .endpoint(format!("{}/prefix/", server.url()))
        .auth_mode(AuthMode::Signature)
        .build()
        .unwrap();
    let _: Value = client.send(&GET_API, &json!({})).await.unwrap();
    let r = server.last();
    assert_eq!(r.path, format!("/prefix{V2_GET}"));
    assert!(verify_signature(&r, APP_SECRET));
}

#[tokio::test]
async fn api_version_and_endpoint_trailing_slash() {
    let server = Server::reply(Reply::ok(json!(null))).await;
    for (endpoint, version, path) in [
        (server.url(), ApiVersion::V2, V2_POST.to_owned()),
        (
            format!("{}/", server.url()),
            ApiVersion::V2,
            V2_POST.to_owned(),
        ),
        (
            format!("{}//", server.url()),
            ApiVersion::V2,
            V2_POST.to_owned(),
        ),
        (
            server.url(),
            ApiVersion::V1,
            "/api/c/compapi/cc/list_biz_hosts_topo/".to_owned(),
        ),
        (
            format!("{}/esb/", server.url()),
            ApiVersion::V1,
            "/esb/api/c/compapi/cc/list_biz_hosts_topo/".to_owned(),
        ),
    ] {
        let client = server
            .builder()
            .endpoint(endpoint.clone())
            .api_version(version)
            .build()
            .unwrap();
        let _: Value = client.send(&POST_API, &json!({})).await.unwrap();
        assert_eq!(server.last().path, path, "{endpoint} {version:?}");
    }
}

#[tokio::test]
async fn common_headers() {
    let server = Server::reply(Reply::ok(json!(null))).await;
    let client = server.builder().build().unwrap();
    let _: Value = client.send(&GET_API, &json!({})).await.unwrap();
    let r = server.last();
    assert_eq!(r.header("blueking-language").as_deref(), Some("en"));
    assert_eq!(r.header("accept-language").as_deref(), Some("en"));
    assert_eq!(r.header("x-use-test-env"), None);
    assert_eq!(
        r.header("user-agent"),
        Some(format!("blueking-rs/{}", env!("CARGO_PKG_VERSION")))
    );
    // Written by the SDK (once per client) as hyper would: host and non-default port.
    let authority = server.url().trim_start_matches("http://").to_owned();
    assert_eq!(r.header("host"), Some(authority));

    let client = server
        .builder()
        .language("zh-hans")
        .use_test_env(true)
        .build()
        .unwrap();
    let _: Value = client.send(&GET_API, &json!({})).await.unwrap();
    let r = server.last();
    assert_eq!(r.header("blueking-language").as_deref(), Some("zh-hans"));
    assert_eq!(r.header("accept-language").as_deref(), Some("zh-hans"));
    assert_eq!(r.header("x-use-test-env").as_deref(), Some("1"));
}

#[tokio::test]
async fn untyped_call_and_call_with() {
    let server = Server::reply(Reply::ok(json!([{"bk_biz_id": 2}]))).await;
    let client = server.builder().build().unwrap();
    let data = client
        .call("cc", "search_business", json!({"fields": ["bk_biz_id"]}))
        .await
        .unwrap();
    assert_eq!(data, json!([{"bk_biz_id": 2}]));
    let r = server.last();
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/api/c/compapi/v2/cc/search_business/")
    );
    assert_eq!(r.body_json(), json!({"fields": ["bk_biz_id"]}));

    let _ = client
        .call_with(
            Method::Get,
            "bk_login",
            "get_user",
            json!({"bk_username": "x"}),
        )
        .await
        .unwrap();
    let r = server.last();
    assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", V2_GET));
    assert_eq!(r.query.as_deref(), Some("bk_username=x"));

    // null params mean "no parameters"
    let _ = client
        .call("cc", "search_business", Value::Null)
        .await
        .unwrap();
    assert_eq!(server.last().body_json(), json!({}));
}

#[tokio::test]
async fn send_raw_returns_whole_envelope_even_on_failure() {
    let server = Server::reply(
        Reply::json(
            json!({"result": false, "code": "9900403", "message": "no permission",
            "data": null, "request_id": "rid", "permission": {"system_id": "bk_cmdb"}}),
        )
        .header("x-bkapi-request-id", "hdr-rid"),
    )
    .await;
    let client = server.builder().build().unwrap();
    let raw = client.send_raw(&POST_API, json!({})).await.unwrap();
    assert_eq!(raw.http_status, 200);
    assert!(!raw.result);
    assert_eq!(raw.code, 9900403);
    assert_eq!(raw.message, "no permission");
    assert_eq!(raw.request_id.as_deref(), Some("rid"));
    assert_eq!(raw.data.get(), "null");
    assert_eq!(raw.permission, Some(json!({"system_id": "bk_cmdb"})));
}

#[tokio::test]
async fn typed_send_decodes_and_shares_one_client() {
    #[derive(serde::Deserialize, Debug)]
    struct Page {
        count: u32,
        info: Vec<Info>,
    }
    #[derive(serde::Deserialize, Debug)]
    struct Info {
        bk_host_id: i64,
    }
    #[derive(serde::Serialize)]
    struct Req {
        bk_biz_id: i64,
    }
    let server = Server::reply(Reply::ok(
        json!({"count": 2, "info": [{"bk_host_id": 1}, {"bk_host_id": 2}]}),
    ))
    .await;
    let client = server.builder().build().unwrap();
    let clone = client.clone();
    let (a, b) = tokio::join!(
        client.send::<_, Page>(&POST_API, &Req { bk_biz_id: 1 }),
        clone.send::<_, Page>(&POST_API, &Req { bk_biz_id: 2 }),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.count, 2);
    assert_eq!(
        b.info.iter().map(|i| i.bk_host_id).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn futures_are_send() {
    let server = Server::reply(Reply::ok(json!({"a": 1}))).await;
    let client = server.builder().build().unwrap();
    let handle = tokio::spawn(async move {
        let typed: Value = client.send(&POST_API, &json!({})).await?;
        let raw = client.send_raw(&POST_API, json!({})).await?;
        let untyped = client.call("cc", "x", json!({})).await?;
        Ok::<_, bk_runtime::Error>((typed, raw.data.get().to_owned(), untyped))
    });
    let (typed, raw, untyped) = handle.await.unwrap().unwrap();
    assert_eq!(typed, json!({"a": 1}));
    assert_eq!(raw, r#"{"a":1}"#);
    assert_eq!(untyped, json!({"a": 1}));
}

/// A generated API's request URI is built once per client and kept: calls with and
/// without query parameters, in any order, and a second client with another endpoint
/// and API version each reach exactly their own URL.
#[tokio::test]
async fn kept_request_uris_stay_per_client_and_query_free() {
    let server = Server::reply(Reply::ok(json!(null))).await;
    let client = server.builder().build().unwrap();
    for (params, query) in [
        (json!({}), vec![]),
        (json!({"x": 1}), vec![("x".to_owned(), "1".to_owned())]),
        (json!({}), vec![]),
    ] {
        let _: Value = client.send(&GET_API, &params).await.unwrap();
        let r = server.last();
        assert_eq!(r.path, V2_GET);
        assert_eq!(r.query_pairs(), query, "{params}");
    }
    for _ in 0..2 {
        let _: Value = client.send(&POST_API, &json!({"a": 1})).await.unwrap();
        assert_eq!(server.last().path, V2_POST);
        assert!(server.last().query_pairs().is_empty());
    }
    let other = server
        .builder()
        .endpoint(format!("{}/esb/", server.url()))
        .api_version(ApiVersion::V1)
        .build()
        .unwrap();
    let _: Value = other.send(&GET_API, &json!({})).await.unwrap();
    assert_eq!(server.last().path, "/esb/api/c/compapi/bk_login/get_user/");
    let _: Value = client.send(&GET_API, &json!({})).await.unwrap();
    assert_eq!(server.last().path, V2_GET);
}
