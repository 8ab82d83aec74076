//! The example web app served over loopback against bk-sim: login, host lookup, job start,
//! and the error mapping.

use std::net::SocketAddr;
use std::time::Duration;

use bk_example_web_app::{app, WebConfig};
use bk_runtime::{Client, RetryPolicy, UserAuth};
use bk_sim::{FaultKind, FaultRule, Sim, SimConfig, StateConfig, Trigger};
use serde_json::{json, Value};

const LOGIN_URL: &str = "http://paas.example.com/login/";

fn start(trust_bk_username: bool) -> Sim {
    bk_sim::spawn(SimConfig {
        state: StateConfig {
            hosts: 60,
            ..StateConfig::default()
        },
        trust_bk_username,
        ..SimConfig::default()
    })
    .expect("bk-sim starts")
}

fn client(sim: &Sim) -> Client {
    let h = sim.handle();
    Client::builder()
        .endpoint(sim.url())
        .app_code(h.app_code())
        .app_secret(h.app_secret())
        .user(UserAuth::BkUsername("admin".into()))
        .retry_policy(RetryPolicy::disabled())
        .request_timeout(Duration::from_secs(10))
        .build()
        .expect("client builds")
}

async fn serve(client: &Client) -> String {
    let cfg = WebConfig {
        login_url: LOGIN_URL.into(),
        public_url: None,
        login_ttl: Duration::from_secs(60),
    };
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("address");
    let router = app(client, &cfg);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get(url: &str, token: Option<&str>) -> (u16, Value) {
    let mut r = http().get(url);
    if let Some(t) = token {
        r = r.header("cookie", format!("bk_token={t}"));
    }
    let r = r.send().await.expect("the app answers");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A host of the simulator: (id, business, inner IP).
fn some_host(sim: &Sim) -> (i64, i64, String) {
    let h = sim
        .handle()
        .state()
        .snapshot_hosts()
        .into_iter()
        .find(|h| h.bk_biz_id != 1)
        .expect("a host outside the resource pool");
    let ip = h.host["bk_host_innerip"]
        .as_str()
        .expect("an inner IP")
        .split(',')
        .next()
        .unwrap()
        .to_string();
    (h.bk_host_id, h.bk_biz_id, ip)
}

#[tokio::test]
async fn logged_in_users_look_up_hosts_and_start_jobs() {
    let sim = start(true);
    let base = serve(&client(&sim)).await;
    let token = sim.handle().issue_token("alice");
    let (host_id, biz, ip) = some_host(&sim);

    let (status, me) = get(&format!("{base}/api/me"), Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(me["bk_username"], "alice");

    let (status, host) = get(&format!("{base}/api/biz/{biz}/hosts/{ip}"), Some(&token)).await;
    assert_eq!(status, 200, "{host}");
    assert_eq!(host["host"]["bk_host_id"], json!(host_id));
    assert!(host["host"]["bk_host_innerip"]
        .as_str()
        .unwrap()
        .contains(&ip));
    let modules: Vec<i64> = host["topo"]
        .as_array()
        .expect("the placement")
        .iter()
        .flat_map(|s| s["module"].as_array().cloned().unwrap_or_default())
        .filter_map(|m| m["bk_module_id"].as_i64())
        .collect();
    assert!(!modules.is_empty(), "{host}");

    // Without a cookie: 401 for the API, 302 to the login page for a browser.
    let (status, body) = get(&format!("{base}/api/biz/{biz}/hosts/{ip}"), None).await;
    assert_eq!(status, 401);
    assert!(body["data"]["login_url"]
        .as_str()
        .unwrap()
        .starts_with(LOGIN_URL));
    let r = http()
        .get(format!("{base}/"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with(&format!("{LOGIN_URL}?c_url=http%3A%2F%2F127.0.0.1")));
    // The health check and the ITSM callback need no login; a forged callback is refused.
    assert_eq!(get(&format!("{base}/healthz"), None).await.0, 200);
    let r = http()
        .post(format!("{base}/itsm/callback"))
        .json(&json!({"sn": "NO1", "current_status": "FINISHED", "token": "forged"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Start a job: its id comes back at once, and JOB knows it.
    let r = http()
        .post(format!("{base}/api/jobs"))
        .header("cookie", format!("bk_token={token}"))
        .json(&json!({"bk_biz_id": biz, "host_ids": [host_id], "script": "uptime"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let started: Value = r.json().await.unwrap();
    let job_id = started["job_instance_id"].as_i64().expect("a job id");
    assert!(job_id > 0);
    let (status, st) = get(&format!("{base}/api/jobs/{biz}/{job_id}"), Some(&token)).await;
    assert_eq!(status, 200, "{st}");
    assert_eq!(st["job_instance"]["job_instance_id"], json!(job_id));
}

#[tokio::test]
async fn errors_map_to_statuses_with_the_request_id() {
    let sim = start(true);
    let base = serve(&client(&sim)).await;
    let token = sim.handle().issue_token("alice");
    let (_, biz, ip) = some_host(&sim);

    // The request itself is wrong: 400 without calling anything; nothing found: 404.
    let (status, _) = get(
        &format!("{base}/api/biz/{biz}/hosts/not-an-ip"),
        Some(&token),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = get(
        &format!("{base}/api/biz/{biz}/hosts/203.0.113.250"),
        Some(&token),
    )
    .await;
    assert_eq!(status, 404);

    // JOB refuses the arguments (a host that does not exist): 400 with JOB's code.
    let r = http()
        .post(format!("{base}/api/jobs"))
        .header("cookie", format!("bk_token={token}"))
        .json(&json!({"bk_biz_id": biz, "host_ids": [987654321], "script": "uptime"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["code"].as_i64().is_some(), "{body}");
    assert_eq!(
        body["request_id"].as_str().map(str::len),
        Some(32),
        "{body}"
    );

    // The backend failed: 502; the gateway timed out: 504.
    sim.handle().add_fault(
        FaultRule::new(FaultKind::EsbBackendFailed, Trigger::NextN(1)).on("cc.list_biz_hosts_topo"),
    );
    let (status, body) = get(&format!("{base}/api/biz/{biz}/hosts/{ip}"), Some(&token)).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["code"], 1306201);
    assert_eq!(body["api"], "list_biz_hosts_topo");
    assert!(body["request_id"].is_string(), "{body}");
    sim.handle().add_fault(
        FaultRule::new(FaultKind::HttpStatus(504), Trigger::NextN(1)).on("cc.list_biz_hosts_topo"),
    );
    let (status, body) = get(&format!("{base}/api/biz/{biz}/hosts/{ip}"), Some(&token)).await;
    assert_eq!(status, 504, "{body}");
    sim.handle().clear_faults();
    let (status, _) = get(&format!("{base}/api/biz/{biz}/hosts/{ip}"), Some(&token)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_backend_auth_failure_is_401() {
    // The backend client has no user identity, so the ESB refuses its calls (1306000,
    // "user authentication failed"); the login validator has one.
    let sim = start(true);
    let h = sim.handle();
    let anonymous = Client::builder()
        .endpoint(sim.url())
        .app_code(h.app_code())
        .app_secret(h.app_secret())
        .retry_policy(RetryPolicy::disabled())
        .build()
        .unwrap();
    let validator = bk_login::validate::LoginValidator::new(&client(&sim));
    let cfg = WebConfig {
        login_url: LOGIN_URL.into(),
        ..WebConfig::default()
    };
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = bk_example_web_app::app_with_validator(&anonymous, validator, &cfg);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let token = h.issue_token("alice");
    let (_, biz, ip) = some_host(&sim);
    let (status, body) = get(&format!("{base}/api/biz/{biz}/hosts/{ip}"), Some(&token)).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], 1306000);
    assert!(
        !body.to_string().contains(&token),
        "the token is not echoed"
    );
}
