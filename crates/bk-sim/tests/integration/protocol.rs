//! The ESB protocol of bk-sim on the raw wire (reqwest over loopback, not the SDK):
//! PROTOCOL.md sections 1-2, validation, and every fault kind.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bk_sim::{spawn, FaultKind, FaultPlan, FaultRule, Sim, SimConfig, StateConfig, Trigger};
use hmac::{Hmac, Mac};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use sha1::Sha1;

fn config() -> SimConfig {
    SimConfig {
        state: StateConfig {
            hosts: 50,
            watch_timeout: Duration::from_millis(200),
            ..StateConfig::default()
        },
        ..SimConfig::default()
    }
}

fn start() -> Sim {
    spawn(config()).expect("simulator starts")
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

fn v2(sim: &Sim, component: &str, api: &str) -> String {
    format!("{}/api/c/compapi/v2/{component}/{api}/", sim.url())
}

/// `bk_app_code`, `bk_app_secret`, `bk_username` of the simulator's app.
fn creds(sim: &Sim) -> Value {
    let h = sim.handle();
    json!({"bk_app_code": h.app_code(), "bk_app_secret": h.app_secret(), "bk_username": "admin"})
}

fn merge(a: &Value, b: &Value) -> Value {
    let mut m = a.as_object().cloned().unwrap_or_default();
    if let Some(o) = b.as_object() {
        for (k, v) in o {
            m.insert(k.clone(), v.clone());
        }
    }
    Value::Object(m)
}

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn send(req: reqwest::RequestBuilder) -> Answer {
    let resp = req.send().await.expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("JSON body ({e}): {text}"));
    Answer {
        status,
        headers,
        body,
    }
}

async fn post(sim: &Sim, component: &str, api: &str, body: &Value) -> Answer {
    send(client().post(v2(sim, component, api)).json(body)).await
}

/// Query pairs of a JSON object: scalars as text, arrays and objects as JSON text.
fn query_pairs(params: &Value) -> Vec<(String, String)> {
    params
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let s = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), s)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn assert_ok(a: &Answer) {
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["result"], true, "{}", a.body);
    assert_eq!(a.body["code"], 0, "{}", a.body);
}

fn assert_err(a: &Answer, code: i64, message_part: &str) {
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["result"], false, "{}", a.body);
    assert_eq!(a.body["code"], code, "{}", a.body);
    let msg = a.body["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains(message_part),
        "message {msg:?} lacks {message_part:?}"
    );
    assert!(a.body["data"].is_null());
}

fn is_request_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

// ---------------------------------------------------------------- URLs

#[tokio::test]
async fn v1_and_v2_paths_with_and_without_trailing_slash() {
    let sim = start();
    let q = query_pairs(&creds(&sim));
    for path in [
        "/api/c/compapi/v2/bk_login/get_user/",
        "/api/c/compapi/v2/bk_login/get_user",
        "/api/c/compapi/bk_login/get_user/",
        "/api/c/compapi/bk_login/get_user",
    ] {
        let a = send(client().get(format!("{}{path}", sim.url())).query(&q)).await;
        assert_ok(&a);
    }
    assert_eq!(sim.handle().stats().calls_of("bk_login.get_user"), 4);
}

#[tokio::test]
async fn unknown_path_is_404_with_the_esb_body() {
    let sim = start();
    for path in [
        "/",
        "/api/c/compapi/v2/cc/no_such_api/",
        "/api/c/compapi/v2/no_such_component/search_business/",
        "/api/c/compapi/v3/cc/search_business/",
        "/api/c/compapi/v2/cc/search_business/extra/",
    ] {
        let a = send(
            client()
                .post(format!("{}{path}", sim.url()))
                .json(&creds(&sim)),
        )
        .await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            a.body,
            json!({"result": false, "data": null, "message": "The content does not exist"})
        );
        assert!(a.body.get("code").is_none());
        let rid = a.headers["x-bkapi-request-id"].to_str().unwrap();
        assert!(is_request_id(rid));
    }
    let stats = sim.handle().stats();
    assert_eq!(stats.requests, 5);
    assert!(stats.calls.is_empty());
}

// ---------------------------------------------------------------- parameters

#[tokio::test]
async fn get_reads_the_query_and_post_reads_the_body() {
    let sim = start();
    let c = client();
    let q = query_pairs(&creds(&sim));

    // POST ignores the query: credentials there do not count.
    let a = send(c.post(v2(&sim, "cc", "search_business")).query(&q)).await;
    assert_err(&a, 1306000, "bk_app_code is required");
    // POST with a JSON body.
    let a = post(&sim, "cc", "search_business", &creds(&sim)).await;
    assert_ok(&a);
    // POST with a form body (does not start with `{`).
    let a = send(c.post(v2(&sim, "cc", "search_business")).form(&q)).await;
    assert_ok(&a);
    // GET ignores the body.
    let a = send(
        c.get(v2(&sim, "bk_login", "get_user"))
            .header("content-type", "application/json")
            .body(creds(&sim).to_string()),
    )
    .await;
    assert_err(&a, 1306000, "bk_app_code is required");
    // GET reads the query.
    let a = send(c.get(v2(&sim, "bk_login", "get_user")).query(&q)).await;
    assert_ok(&a);
}

#[tokio::test]
async fn invalid_json_body_is_1306000() {
    let sim = start();
    let a = send(
        client()
            .post(v2(&sim, "cc", "search_business"))
            .body("{\"bk_app_code\": "),
    )
    .await;
    assert_err(&a, 1306000, "not valid JSON");
}

#[tokio::test]
async fn get_query_strings_are_coerced_to_the_schema_types() {
    let sim = start();
    let q = query_pairs(&merge(
        &creds(&sim),
        &json!({"bk_biz_id": "2", "level": "-1"}),
    ));
    let a = send(
        client()
            .get(v2(&sim, "cc", "search_biz_inst_topo"))
            .query(&q),
    )
    .await;
    assert_eq!(a.body["code"], 0, "{}", a.body);
    let q = query_pairs(&merge(&creds(&sim), &json!({"bk_biz_id": "two"})));
    let a = send(
        client()
            .get(v2(&sim, "cc", "search_biz_inst_topo"))
            .query(&q),
    )
    .await;
    assert_err(&a, 1199006, "bk_biz_id: expected integer, got string");
}

// ---------------------------------------------------------------- validation

#[tokio::test]
async fn validation_errors_name_the_field() {
    let sim = start();
    // CC: CMDB's code.
    let a = post(&sim, "cc", "list_biz_hosts_topo", &creds(&sim)).await;
    assert_err(&a, 1199006, "bk_biz_id: required");
    let body = merge(
        &creds(&sim),
        &json!({"bk_biz_id": 2, "fields": ["bk_host_id"], "page": {"start": 0, "limit": "10"}}),
    );
    let a = post(&sim, "cc", "list_biz_hosts_topo", &body).await;
    assert_err(&a, 1199006, "page.limit: expected integer, got string");
    // CMDB's page limit codes for list_biz_hosts_topo.
    let body = merge(
        &creds(&sim),
        &json!({"bk_biz_id": 2, "fields": ["bk_host_id"], "page": {"start": 0, "limit": 501}}),
    );
    let a = post(&sim, "cc", "list_biz_hosts_topo", &body).await;
    assert_err(&a, 1199035, "page.limit exceed the limit 500");
    // Another component: the ESB's argument error.
    let a = post(
        &sim,
        "gse",
        "get_agent_status",
        &merge(&creds(&sim), &json!({"bk_supplier_account": "0"})),
    )
    .await;
    assert_err(&a, 1306406, "hosts: required");
    let body = merge(
        &creds(&sim),
        &json!({"bk_supplier_account": "0", "hosts": [{"ip": 1, "bk_cloud_id": 0}]}),
    );
    let a = post(&sim, "gse", "get_agent_status", &body).await;
    assert_err(&a, 1306406, "hosts[0].ip: expected string, got integer");
    // Enum values.
    let q = query_pairs(&merge(
        &creds(&sim),
        &json!({"bk_scope_type": "planet", "bk_scope_id": "2", "job_instance_id": "1"}),
    ));
    let a = send(
        client()
            .get(v2(&sim, "jobv3", "get_job_instance_status"))
            .query(&q),
    )
    .await;
    assert_err(&a, 1306406, "bk_scope_type: must be one of");
    // Nothing was executed.
    assert_eq!(sim.handle().stats().executions, 0);
}

#[tokio::test]
async fn method_other_than_the_specs_is_1306209() {
    let sim = start();
    let q = query_pairs(&creds(&sim));
    let a = send(
        client()
            .get(v2(&sim, "cc", "list_biz_hosts_topo"))
            .query(&q),
    )
    .await;
    assert_err(&a, 1306209, "does not support the method [GET]");
    let a = send(
        client()
            .put(v2(&sim, "cc", "search_business"))
            .json(&creds(&sim)),
    )
    .await;
    assert_err(&a, 1306209, "[PUT]");
}

// ---------------------------------------------------------------- auth

#[tokio::test]
async fn header_auth_wins_over_params() {
    let sim = start();
    let c = client();
    let good = creds(&sim).to_string();
    let bad_params = json!({"bk_app_code": "x", "bk_app_secret": "wrong", "bk_username": "admin"});
    let a = send(
        c.post(v2(&sim, "cc", "search_business"))
            .header("X-Bkapi-Authorization", &good)
            .json(&bad_params),
    )
    .await;
    assert_ok(&a);
    // Header present but wrong: params are not consulted.
    let bad = json!({"bk_app_code": sim.handle().app_code(), "bk_app_secret": "wrong", "bk_username": "admin"});
    let a = send(
        c.post(v2(&sim, "cc", "search_business"))
            .header("X-Bkapi-Authorization", bad.to_string())
            .json(&creds(&sim)),
    )
    .await;
    assert_err(&a, 1306000, "or app secret is incorrect");
    // Non-JSON header: argument error.
    let a = send(
        c.post(v2(&sim, "cc", "search_business"))
            .header("X-Bkapi-Authorization", "bk_app_code=x")
            .json(&creds(&sim)),
    )
    .await;
    assert_err(&a, 1306406, "X-Bkapi-Authorization");
    // Header without a user.
    let no_user =
        json!({"bk_app_code": sim.handle().app_code(), "bk_app_secret": sim.handle().app_secret()});
    let a = send(
        c.post(v2(&sim, "cc", "search_business"))
            .header("X-Bkapi-Authorization", no_user.to_string())
            .json(&json!({"bk_username": "admin"})),
    )
    .await;
    assert_err(
        &a,
        1306000,
        "user authentication failed, please provide a valid user identity, such as bk_username, bk_token, access_token",
    );
}

#[tokio::test]
async fn app_auth_failures_say_what_is_wrong() {
    let sim = start();
    let app = sim.handle().app_code().to_string();
    let a = post(
        &sim,
        "cc",
        "search_business",
        &json!({"bk_app_code": app, "bk_app_secret": "nope", "bk_username": "admin"}),
    )
    .await;
    assert_err(
        &a,
        1306000,
        &format!("app code [{app}] or app secret is incorrect"),
    );
    let a = post(&sim, "cc", "search_business", &json!({"bk_app_code": "other", "bk_app_secret": sim.handle().app_secret(), "bk_username": "admin"})).await;
    assert_err(&a, 1306000, "app code [other] or app secret is incorrect");
    let a = post(
        &sim,
        "cc",
        "search_business",
        &json!({"bk_app_secret": "x", "bk_username": "admin"}),
    )
    .await;
    assert_err(&a, 1306000, "bk_app_code is required");
    let a = post(
        &sim,
        "cc",
        "search_business",
        &json!({"bk_app_code": app, "bk_username": "admin"}),
    )
    .await;
    assert_err(&a, 1306000, "bk_app_secret is required");
    // app_code / app_secret / username aliases
    let a = post(
        &sim,
        "cc",
        "search_business",
        &json!({"app_code": app, "app_secret": sim.handle().app_secret(), "username": "admin"}),
    )
    .await;
    assert_ok(&a);
    // missing user
    let a = post(
        &sim,
        "cc",
        "search_business",
        &json!({"bk_app_code": app, "bk_app_secret": sim.handle().app_secret()}),
    )
    .await;
    assert_err(&a, 1306000, "user authentication failed, please provide a valid user identity, such as bk_username, bk_token, access_token");
}

#[tokio::test]
async fn bk_username_needs_the_whitelist() {
    let sim = spawn(SimConfig {
        trust_bk_username: false,
        ..config()
    })
    .unwrap();
    let a = post(&sim, "cc", "search_business", &creds(&sim)).await;
    assert_err(&a, 1306000, "bk_username is not accepted");
    let token = sim.handle().issue_token("admin");
    let body = json!({"bk_app_code": sim.handle().app_code(), "bk_app_secret": sim.handle().app_secret(), "bk_token": token});
    assert_ok(&post(&sim, "cc", "search_business", &body).await);
}

#[tokio::test]
async fn bk_token_from_the_login_and_invalid_tokens() {
    let sim = start();
    let h = sim.handle();
    let token = h.issue_token("admin");
    let base = json!({"bk_app_code": h.app_code(), "bk_app_secret": h.app_secret()});
    let a = post(
        &sim,
        "cc",
        "search_business",
        &merge(&base, &json!({"bk_token": token})),
    )
    .await;
    assert_ok(&a);
    let rec = h.requests().pop().unwrap();
    assert_eq!(rec.username.as_deref(), Some("admin"));
    // an invalid bk_token is an error even with a bk_username beside it
    let a = post(
        &sim,
        "cc",
        "search_business",
        &merge(
            &base,
            &json!({"bk_token": "forged", "bk_username": "admin"}),
        ),
    )
    .await;
    assert_err(&a, 1306000, "bk_token is invalid");
    // is_login: bk_token is both user auth and the API's parameter
    let q = query_pairs(&merge(&base, &json!({"bk_token": token})));
    let a = send(client().get(v2(&sim, "bk_login", "is_login")).query(&q)).await;
    assert_ok(&a);
    assert_eq!(a.body["data"]["bk_username"], "admin");
}

#[tokio::test]
async fn access_token_only_in_the_header() {
    let sim = start();
    let h = sim.handle();
    let token = h.issue_token("admin");
    let c = client();
    let a = send(
        c.post(v2(&sim, "cc", "search_business"))
            .header(
                "X-Bkapi-Authorization",
                json!({"access_token": token}).to_string(),
            )
            .json(&json!({})),
    )
    .await;
    assert_ok(&a);
    let a = send(
        c.post(v2(&sim, "cc", "search_business"))
            .header(
                "X-Bkapi-Authorization",
                json!({"access_token": "forged"}).to_string(),
            )
            .json(&json!({})),
    )
    .await;
    assert_err(&a, 1306000, "access_token is invalid");
    // in the parameters it means nothing
    let a = post(
        &sim,
        "cc",
        "search_business",
        &json!({"access_token": token}),
    )
    .await;
    assert_err(&a, 1306000, "bk_app_code is required");
}

// ---------------------------------------------------------------- signature

fn sign(secret: &str, message: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(message.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Query pairs of a signed request (bk-log's `compute_signature`).
fn signed_query(
    secret: &str,
    method: &str,
    path: &str,
    mut query: Vec<(String, String)>,
    body: Option<&str>,
    timestamp: i64,
    nonce: i64,
) -> Vec<(String, String)> {
    query.push(("bk_timestamp".into(), timestamp.to_string()));
    query.push(("bk_nonce".into(), nonce.to_string()));
    let mut params: Vec<(String, String)> = query.clone();
    if let Some(b) = body {
        params.push(("data".into(), b.to_string()));
    }
    params.sort();
    let joined: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let message = format!("{method}{path}?{}", joined.join("&"));
    query.push(("bk_signature".into(), sign(secret, &message)));
    query
}

#[tokio::test]
async fn signature_mode() {
    let sim = start();
    let h = sim.handle();
    let c = client();
    let secret = h.app_secret().to_string();
    let path = "/api/c/compapi/v2/cc/search_business/";
    let url = format!("{}{path}", sim.url());
    let body =
        json!({"bk_app_code": h.app_code(), "bk_username": "admin", "fields": ["bk_biz_id"]})
            .to_string();

    // valid POST: only the three signature keys in the query
    let q = signed_query(&secret, "POST", path, vec![], Some(&body), now(), 1001);
    let a = send(c.post(&url).query(&q).body(body.clone())).await;
    assert_ok(&a);
    // replayed nonce
    let a = send(c.post(&url).query(&q).body(body.clone())).await;
    assert_err(&a, 1306000, "bk_nonce [1001] has already been used");
    // tampered body
    let q = signed_query(&secret, "POST", path, vec![], Some(&body), now(), 1002);
    let tampered = body.replace("bk_biz_id", "bk_biz_name");
    let a = send(c.post(&url).query(&q).body(tampered)).await;
    assert_err(&a, 1306000, "bk_signature is incorrect");
    // the tampered attempt did not burn the nonce
    let a = send(c.post(&url).query(&q).body(body.clone())).await;
    assert_ok(&a);
    // wrong secret
    let q = signed_query(
        "not-the-secret",
        "POST",
        path,
        vec![],
        Some(&body),
        now(),
        1003,
    );
    let a = send(c.post(&url).query(&q).body(body.clone())).await;
    assert_err(&a, 1306000, "bk_signature is incorrect");
    // stale timestamp
    let q = signed_query(
        &secret,
        "POST",
        path,
        vec![],
        Some(&body),
        now() - 301,
        1004,
    );
    let a = send(c.post(&url).query(&q).body(body.clone())).await;
    assert_err(&a, 1306000, "has expired");
    // future timestamps are accepted
    let q = signed_query(
        &secret,
        "POST",
        path,
        vec![],
        Some(&body),
        now() + 3600,
        1005,
    );
    assert_ok(&send(c.post(&url).query(&q).body(body.clone())).await);
    // nonce must be a positive integer
    let q = signed_query(&secret, "POST", path, vec![], Some(&body), now(), 0);
    let a = send(c.post(&url).query(&q).body(body.clone())).await;
    assert_err(&a, 1306000, "bk_nonce is invalid");

    // valid GET: everything in the query, values signed raw (not URL-encoded)
    let gpath = "/api/c/compapi/v2/bk_login/get_user/";
    let gq = vec![
        ("bk_app_code".to_string(), h.app_code().to_string()),
        ("bk_username".to_string(), "admin".to_string()),
        ("bk_username_hint".to_string(), "a b&c=d/é".to_string()),
    ];
    let q = signed_query(&secret, "GET", gpath, gq.clone(), None, now(), 2001);
    let a = send(c.get(format!("{}{gpath}", sim.url())).query(&q)).await;
    assert_ok(&a);
    // a changed query value breaks the signature
    let mut q = signed_query(&secret, "GET", gpath, gq, None, now(), 2002);
    q[2].1 = "other".into();
    let a = send(c.get(format!("{}{gpath}", sim.url())).query(&q)).await;
    assert_err(&a, 1306000, "bk_signature is incorrect");
}

// ---------------------------------------------------------------- envelope

#[tokio::test]
async fn request_id_in_body_and_header() {
    let sim = start();
    let mut seen = std::collections::HashSet::new();
    for body in [creds(&sim), json!({})] {
        let a = post(&sim, "cc", "search_business", &body).await;
        let rid = a.body["request_id"].as_str().unwrap().to_string();
        assert!(is_request_id(&rid), "{rid}");
        assert_eq!(a.headers["x-bkapi-request-id"].to_str().unwrap(), rid);
        for k in ["result", "code", "message", "data", "request_id"] {
            assert!(a.body.get(k).is_some(), "{k} in {}", a.body);
        }
        assert!(seen.insert(rid));
        let rec = sim.handle().requests().pop().unwrap();
        assert_eq!(rec.request_id, a.body["request_id"]);
        assert_eq!(rec.api.as_deref(), Some("cc.search_business"));
    }
}

#[tokio::test]
async fn x_use_test_env() {
    let sim = start();
    let c = client();
    for v in ["1", "true", "yes"] {
        let a = send(
            c.post(v2(&sim, "cc", "search_business"))
                .header("X-Use-Test-Env", v)
                .json(&creds(&sim)),
        )
        .await;
        assert_err(&a, 1306206, "test environment");
    }
    for v in ["0", "false", "False"] {
        let a = send(
            c.post(v2(&sim, "cc", "search_business"))
                .header("X-Use-Test-Env", v)
                .json(&creds(&sim)),
        )
        .await;
        assert_ok(&a);
    }
    let sim = spawn(SimConfig {
        test_env_available: true,
        ..config()
    })
    .unwrap();
    let a = send(
        c.post(v2(&sim, "cc", "search_business"))
            .header("X-Use-Test-Env", "1")
            .json(&creds(&sim)),
    )
    .await;
    assert_ok(&a);
}

// ---------------------------------------------------------------- every API

/// Every API of the bundle answers valid synthesized parameters: the protocol layer accepts
/// and executes each call; calls answered from the spec are `result: true`. Calls the state
/// answers may be refused by the state for what the values mean (ticket `sn-1` does not
/// exist), never by the protocol layer.
#[tokio::test]
async fn every_api_in_the_bundle_answers() {
    let sim = start();
    let h = sim.handle();
    let c = client();
    let mut failures = Vec::new();
    let (mut count, mut from_spec, mut state_ok, mut state_refused) = (0, 0, 0, 0);
    for (component, api) in bk_spec::bundle().apis() {
        count += 1;
        let mut params = merge(&creds(&sim), &bk_sim::synth::request_params(component, api));
        // a bk_token parameter is also user auth: it must be one the login issued
        if params.get("bk_token").is_some() {
            params["bk_token"] = json!(h.issue_token("admin"));
        }
        let url = v2(&sim, &component.name, &api.name);
        let a = match api.method {
            bk_spec::Method::Get => send(c.get(&url).query(&query_pairs(&params))).await,
            bk_spec::Method::Post => send(c.post(&url).json(&params)).await,
        };
        let key = format!("{}.{}", component.name, api.name);
        assert_eq!(a.status, StatusCode::OK, "{key}");
        assert!(
            is_request_id(a.body["request_id"].as_str().unwrap_or("")),
            "{key}"
        );
        let rec = h.requests().pop().expect("logged");
        assert_eq!(rec.api.as_deref(), Some(key.as_str()));
        if !rec.executed {
            failures.push(format!("{key}: refused by the protocol layer: {}", a.body));
            continue;
        }
        match rec.source {
            Some(bk_sim::AnswerSource::State) if a.body["result"] == true => state_ok += 1,
            Some(bk_sim::AnswerSource::State) => state_refused += 1,
            _ if a.body["result"] == true => from_spec += 1,
            _ => failures.push(format!("{key}: spec answer is not result:true: {}", a.body)),
        }
    }
    eprintln!(
        "{count} APIs: {from_spec} answered from the spec, {state_ok} by the state, \
         {state_refused} refused by the state for their synthesized values"
    );
    assert!(count >= 50, "bundle has {count} APIs");
    assert_eq!(h.stats().executions, count as u64);
    assert!(
        failures.is_empty(),
        "{} of {count} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------- faults

async fn search_business(sim: &Sim) -> Result<reqwest::Response, reqwest::Error> {
    client()
        .post(v2(sim, "cc", "search_business"))
        .json(&creds(sim))
        .send()
        .await
}

fn rule(kind: FaultKind) -> FaultRule {
    FaultRule::new(kind, Trigger::NextN(1))
}

#[tokio::test]
async fn fault_http_statuses_with_gateway_body() {
    let sim = start();
    let h = sim.handle();
    for (status, code) in [
        (500, 1650001),
        (502, 1650200),
        (503, 1650300),
        (504, 1650401),
    ] {
        h.set_faults(FaultPlan::none().with(rule(FaultKind::HttpStatus(status))));
        let before = h.stats().executions;
        let resp = search_business(&sim).await.unwrap();
        assert_eq!(resp.status().as_u16(), status);
        assert_eq!(
            resp.headers()["x-bkapi-error-code"],
            code.to_string().as_str()
        );
        assert!(resp.headers().contains_key("x-bkapi-error-message"));
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["code"], code);
        assert_eq!(body["result"], false);
        assert!(body["code_name"].is_string());
        assert!(body["data"].is_null());
        let executed = h.stats().executions - before;
        assert_eq!(executed, u64::from(status == 504), "status {status}");
        // next call is normal again
        assert_eq!(search_business(&sim).await.unwrap().status(), 200);
    }
    let s = h.stats();
    for k in ["http500", "http502", "http503", "http504"] {
        assert_eq!(s.faults_of(k), 1, "{k}");
    }
}

#[tokio::test]
async fn fault_gateway_rate_limit() {
    let sim = start();
    let h = sim.handle();
    h.add_fault(rule(FaultKind::GatewayRateLimit {
        retry_after_secs: 3,
    }));
    let resp = search_business(&sim).await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let hd = resp.headers().clone();
    assert_eq!(hd["retry-after"], "3");
    for k in [
        "x-bkapi-ratelimit-limit",
        "x-bkapi-ratelimit-remaining",
        "x-bkapi-ratelimit-reset",
        "x-bkapi-ratelimit-plugin",
    ] {
        assert!(hd.contains_key(k), "{k}");
    }
    assert_eq!(hd["x-bkapi-error-code"], "1642901");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], 1642901);
    assert_eq!(body["code_name"], "RATE_LIMIT_RESTRICTION");
    assert_eq!(body["result"], false);
    assert_eq!(h.stats().executions, 0);
    assert_eq!(h.stats().faults_of("ratelimit429"), 1);
}

#[tokio::test]
async fn fault_envelopes() {
    let sim = start();
    let h = sim.handle();
    for (kind, code) in [
        (FaultKind::EsbBackendFailed, 1306201),
        (FaultKind::EsbRateLimited, 1306429),
        (FaultKind::CmdbTooManyRequests, 1199997),
    ] {
        h.set_faults(FaultPlan::none().with(rule(kind)));
        let resp = search_business(&sim).await.unwrap();
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["result"], false);
        assert_eq!(body["code"], code);
        assert!(body["request_id"].is_string());
    }
    assert_eq!(h.stats().executions, 0);
}

#[tokio::test]
async fn fault_resets_before_and_after_execution() {
    let sim = start();
    let h = sim.handle();
    h.add_fault(rule(FaultKind::ResetBeforeExecution));
    let e = search_business(&sim).await.expect_err("reset");
    assert!(!e.is_timeout(), "{e:?}");
    assert_eq!(h.stats().executions, 0);
    assert_eq!(h.stats().calls_of("cc.search_business"), 1);

    h.set_faults(FaultPlan::none().with(rule(FaultKind::ResetAfterExecution)));
    let e = search_business(&sim).await.expect_err("reset");
    assert!(!e.is_timeout(), "{e:?}");
    assert_eq!(h.stats().executions, 1);

    let s = h.stats();
    assert_eq!(s.faults_of("reset-before"), 1);
    assert_eq!(s.faults_of("reset-after"), 1);
    let log = h.requests();
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|r| r.status.is_none()));
    assert!(!log[0].executed && log[1].executed);
    // the server is fine afterwards
    assert_eq!(search_business(&sim).await.unwrap().status(), 200);
}

#[tokio::test]
async fn fault_truncated_and_html_bodies() {
    let sim = start();
    let h = sim.handle();
    h.add_fault(rule(FaultKind::TruncatedBody));
    let resp = search_business(&sim).await.unwrap();
    assert_eq!(resp.status(), 200);
    let declared = resp.content_length().unwrap();
    match resp.bytes().await {
        Err(_) => {}
        Ok(b) => panic!("got {} of {declared} bytes without an error", b.len()),
    }
    assert_eq!(h.stats().executions, 1);

    h.set_faults(FaultPlan::none().with(rule(FaultKind::HtmlBody)));
    let resp = search_business(&sim).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let text = resp.text().await.unwrap();
    assert!(text.starts_with("<!DOCTYPE html>"));
    assert!(serde_json::from_str::<Value>(&text).is_err());
    let s = h.stats();
    assert_eq!(s.faults_of("truncate"), 1);
    assert_eq!(s.faults_of("html"), 1);
}

#[tokio::test]
async fn fault_latency_and_slow_body() {
    let sim = start();
    let h = sim.handle();
    h.add_fault(rule(FaultKind::Latency(Duration::from_millis(300))));
    let t = Instant::now();
    let resp = search_business(&sim).await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(resp.json::<Value>().await.unwrap()["result"], true);

    h.set_faults(FaultPlan::none().with(rule(FaultKind::SlowBody {
        chunk_delay: Duration::from_millis(60),
    })));
    let t = Instant::now();
    let resp = search_business(&sim).await.unwrap();
    let headers_after = t.elapsed();
    let body: Value = resp.json().await.unwrap();
    let total = t.elapsed();
    assert_eq!(body["result"], true);
    assert!(
        headers_after < Duration::from_millis(200),
        "{headers_after:?}"
    );
    assert!(total >= Duration::from_millis(6 * 60), "{total:?}");
    assert_eq!(h.stats().faults_of("latency"), 1);
    assert_eq!(h.stats().faults_of("slow-body"), 1);
}

#[tokio::test]
async fn fault_schedules_targets_and_rates() {
    let sim = spawn(SimConfig {
        faults: FaultPlan::none()
            .with(FaultRule::new(FaultKind::HttpStatus(503), Trigger::NextN(2)).on("cc.*")),
        ..config()
    })
    .unwrap();
    let h = sim.handle();
    let gse_body = merge(
        &creds(&sim),
        &json!({"bk_supplier_account": "0", "hosts": []}),
    );
    // another component is untouched
    assert_eq!(
        post(&sim, "gse", "get_agent_status", &gse_body)
            .await
            .status,
        200
    );
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(search_business(&sim).await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, vec![503, 503, 200, 200]);

    // every k-th call, one API only
    h.set_faults(FaultPlan::none().with(
        FaultRule::new(FaultKind::EsbRateLimited, Trigger::EveryKth(3)).on("cc.search_business"),
    ));
    let mut codes = Vec::new();
    for _ in 0..6 {
        let b: Value = search_business(&sim).await.unwrap().json().await.unwrap();
        codes.push(b["code"].as_i64().unwrap());
    }
    assert_eq!(codes, vec![0, 0, 1306429, 0, 0, 1306429]);

    // a seeded rate repeats itself
    let run = || async {
        h.set_faults(FaultPlan {
            seed: 9,
            rules: vec![FaultRule::new(
                FaultKind::HttpStatus(500),
                Trigger::Rate(0.5),
            )],
        });
        let mut v = Vec::new();
        for _ in 0..20 {
            v.push(search_business(&sim).await.unwrap().status().as_u16());
        }
        v
    };
    let a = run().await;
    let b = run().await;
    assert_eq!(a, b);
    assert!(a.contains(&500) && a.contains(&200), "{a:?}");
    h.clear_faults();
    assert!(h.faults().rules.is_empty());
    assert_eq!(search_business(&sim).await.unwrap().status(), 200);
}

#[tokio::test]
async fn fault_rules_parse_from_the_cli_syntax() {
    let sim = spawn(SimConfig {
        faults: FaultPlan::none().with("cc.search_business@503:next1".parse().unwrap()),
        ..config()
    })
    .unwrap();
    assert_eq!(search_business(&sim).await.unwrap().status(), 503);
    assert_eq!(search_business(&sim).await.unwrap().status(), 200);
}

// ---------------------------------------------------------------- robustness

#[tokio::test]
async fn hostile_input_never_breaks_the_server() {
    let sim = start();
    let c = client();
    let url = v2(&sim, "cc", "search_business");
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_obj = format!("{{\"a\":{deep}}}");
    let bodies: Vec<Vec<u8>> = vec![
        b"{".to_vec(),
        b"{\"bk_biz_id\": 1e999}".to_vec(),
        b"{\"page\": {\"limit\": 99999999999999999999999999}}".to_vec(),
        b"{\"a\": \"\xff\xfe\"}".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x01],
        deep_obj.into_bytes(),
        b"bk_app_code=%ZZ&bk_username=%ff%fe&&&===".to_vec(),
        Vec::new(),
        b"   {\"bk_app_code\": 1}".to_vec(),
        b"[1,2,3]".to_vec(),
    ];
    for body in bodies {
        let resp = c.post(&url).body(body).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["result"], false);
    }
    // huge numbers in otherwise valid calls
    let body = merge(
        &creds(&sim),
        &json!({"bk_biz_id": u64::MAX, "fields": ["a"], "page": {"limit": 10}}),
    );
    let a = post(&sim, "cc", "list_biz_hosts_topo", &body).await;
    assert_eq!(a.body["result"], false);
    // bad header values
    let resp = c
        .post(&url)
        .header(
            "X-Bkapi-Authorization",
            reqwest::header::HeaderValue::from_bytes(b"{\"a\":\"\xff\"}").unwrap(),
        )
        .body("{}")
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["code"], 1306406);
    let resp = c
        .post(&url)
        .header(
            "X-Use-Test-Env",
            reqwest::header::HeaderValue::from_bytes(b"\xff").unwrap(),
        )
        .json(&creds(&sim))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // bad query strings
    let resp = c
        .get(format!(
            "{}/api/c/compapi/v2/bk_login/get_user/?%ZZ=%ff&bk_username&&=",
            sim.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // still serving
    assert_ok(&post(&sim, "cc", "search_business", &creds(&sim)).await);
    // raw garbage on the socket
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
    s.write_all(b"\x00\x01\x02 GARBAGE\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    assert_ok(&post(&sim, "cc", "search_business", &creds(&sim)).await);
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let sim = start();
    let url = sim.url();
    assert_ok(&post(&sim, "cc", "search_business", &creds(&sim)).await);
    let h = sim.handle();
    sim.shutdown().await;
    let r = Client::new()
        .post(format!("{url}/api/c/compapi/v2/cc/search_business/"))
        .json(&json!({}))
        .send()
        .await;
    assert!(r.is_err());
    // the handle outlives the server
    assert_eq!(h.stats().calls_of("cc.search_business"), 1);
    // dropping works too
    let sim = start();
    let url = sim.url();
    drop(sim);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(Client::new().get(&url).send().await.is_err());
}
