//! The login layer in front of a real axum app over loopback, validating against bk-sim.

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::{get, post};
use axum::{Json, Router};
use bk_login::layer::{CurrentUser, LoginLayer, LoginMode};
use bk_login::validate::LoginValidator;
use bk_runtime::Client;
use bk_sim::{Sim, SimConfig, StateConfig};
use serde_json::{json, Value};

const LOGIN_URL: &str = "http://paas.example.com/login/";

fn start() -> Sim {
    bk_sim::spawn(SimConfig {
        state: StateConfig {
            hosts: 20,
            ..StateConfig::default()
        },
        ..SimConfig::default()
    })
    .expect("bk-sim starts")
}

fn client_for(url: &str, app_code: &str, app_secret: &str) -> Client {
    Client::builder()
        .endpoint(url)
        .app_code(app_code)
        .app_secret(app_secret)
        .user(bk_runtime::UserAuth::BkUsername("admin".into()))
        .retry_policy(bk_runtime::RetryPolicy::disabled())
        .request_timeout(Duration::from_secs(5))
        .build()
        .expect("client builds")
}

fn client(sim: &Sim) -> Client {
    let h = sim.handle();
    client_for(&sim.url(), h.app_code(), h.app_secret())
}

async fn me(CurrentUser(user): CurrentUser) -> Json<Value> {
    Json(json!({"user": user.bk_username, "email": user.email}))
}

async fn maybe(user: Option<CurrentUser>) -> String {
    user.map(|u| u.bk_username.clone())
        .unwrap_or_else(|| "anonymous".into())
}

/// Serves the app on 127.0.0.1:0 and returns its base URL.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn app(layer: LoginLayer) -> Router {
    Router::new()
        .route("/api/me", get(me))
        .route("/api/echo", post(me))
        .nest("/pages", Router::new().route("/me", get(me)))
        .layer(layer)
        .route("/public", get(maybe))
        .route("/unprotected-me", get(me))
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn is_login_calls(sim: &Sim) -> u64 {
    sim.handle().stats().executions_of("bk_login.is_login")
}

#[tokio::test]
async fn valid_token_reaches_the_handler_and_is_cached() {
    let sim = start();
    let c = client(&sim);
    let layer = LoginLayer::new(
        LoginValidator::new(&c).ttl(Duration::from_millis(500)),
        LOGIN_URL,
    );
    let base = serve(app(layer)).await;
    let token = sim.handle().issue_token("alice");
    sim.handle().reset_stats();

    for _ in 0..5 {
        let r = http()
            .get(format!("{base}/api/me"))
            .header("cookie", format!("theme=dark; bk_token={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["user"], "alice");
        assert_eq!(body["email"], "alice@bk-sim.invalid");
    }
    assert_eq!(is_login_calls(&sim), 1, "one is_login within the TTL");
    assert_eq!(
        sim.handle().stats().executions_of("bk_login.get_user"),
        1,
        "and one get_user"
    );

    tokio::time::sleep(Duration::from_millis(600)).await;
    let r = http()
        .post(format!("{base}/api/echo"))
        .header("cookie", format!("bk_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(is_login_calls(&sim), 2, "asked again after the TTL");

    // Routes outside the layer: the optional extractor sees nobody; the required one
    // reports the wiring mistake.
    let r = http()
        .get(format!("{base}/public"))
        .header("cookie", format!("bk_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "anonymous");
    let r = http()
        .get(format!("{base}/unprotected-me"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
}

#[tokio::test]
async fn missing_or_invalid_tokens_get_401_or_a_redirect() {
    let sim = start();
    let c = client(&sim);
    let validator = LoginValidator::new(&c);
    let base = serve(app(LoginLayer::new(validator.clone(), LOGIN_URL))).await;
    let host = base.trim_start_matches("http://").to_string();

    // API call without a cookie: 401 JSON with the login URL.
    let r = http().get(format!("{base}/api/me")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["result"], false);
    let want_login = format!(
        "{LOGIN_URL}?c_url=http%3A%2F%2F{}%2Fapi%2Fme",
        host.replace(':', "%3A")
    );
    assert_eq!(body["data"]["login_url"], json!(want_login));

    // A forged token: 401 too, and not cached (asked every time).
    sim.handle().reset_stats();
    for _ in 0..2 {
        let r = http()
            .get(format!("{base}/api/me"))
            .header("cookie", "bk_token=bksim-forged-0000")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let text = r.text().await.unwrap();
        assert!(
            !text.contains("bksim-forged-0000"),
            "the token is not echoed"
        );
    }
    assert_eq!(is_login_calls(&sim), 2);

    // A browser page load under a nested router: 302 to the login page with the full
    // original URL (path and query) in c_url.
    let r = http()
        .get(format!("{base}/pages/me?tab=hosts&x=1"))
        .header("accept", "text/html,application/xhtml+xml")
        .header("cookie", "bk_token=bksim-forged-0000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(
        location,
        format!(
            "{LOGIN_URL}?c_url=http%3A%2F%2F{}%2Fpages%2Fme%3Ftab%3Dhosts%26x%3D1",
            host.replace(':', "%3A")
        )
    );
    // The same load from JavaScript: 401.
    let r = http()
        .get(format!("{base}/pages/me"))
        .header("accept", "text/html")
        .header("x-requested-with", "XMLHttpRequest")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Forced modes.
    let page = serve(app(LoginLayer::new(validator.clone(), LOGIN_URL)
        .mode(LoginMode::Page)
        .public_base_url("https://app.example.com/")))
    .await;
    let r = http()
        .post(format!("{page}/api/echo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(
        r.headers()["location"],
        format!("{LOGIN_URL}?c_url=https%3A%2F%2Fapp.example.com%2Fapi%2Fecho").as_str()
    );
    let api = serve(app(
        LoginLayer::new(validator, LOGIN_URL).mode(LoginMode::Api)
    ))
    .await;
    let r = http()
        .get(format!("{api}/pages/me"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn an_unreachable_login_service_is_503_not_a_login_loop() {
    let down = client_for("http://127.0.0.1:9", "app", "secret");
    let base = serve(app(LoginLayer::new(LoginValidator::new(&down), LOGIN_URL))).await;
    let r = http()
        .get(format!("{base}/api/me"))
        .header("accept", "text/html")
        .header("cookie", "bk_token=some-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["result"], false);
    assert!(!body.to_string().contains("some-token"));
}
