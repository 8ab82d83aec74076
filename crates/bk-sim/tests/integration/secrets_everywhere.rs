//! No secret in the logs of the whole suite.
//!
//! A global subscriber captures every span and event of this test binary at TRACE level
//! (the whole suite's log output, not just this test's). The test then drives the SDK
//! against bk-sim through every auth mode (params, header, signature, gateway), every kind
//! of user (bk_token, bk_username, access_token), every fault the simulator offers,
//! retries, timeouts, API and decode errors, the redacted `curl` rendering of failed
//! requests and a credential refresh; it logs the `Debug` and `Display` of the client,
//! its config and builder and every error at TRACE level too; and finally checks that none
//! of its distinctive secret values appears anywhere in the capture, and that the capture
//! did see what it should (so the test can fail).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::time::Duration;

use bk_runtime::{
    ApiMeta, AuthMode, BoxFuture, CallOptions, Client, ClientBuilder, CredentialProvider, Error,
    Method, RetryPolicy, UserAuth,
};
use bk_sdk::jobv3::types::{CredentialType, ScopeType};
use bk_sdk::prelude::*;
use bk_sim::{FaultKind, FaultRule, Sim, SimConfig, SimHandle, Trigger};
use serde_json::{json, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

const APP_SECRET: &str = "SIMAPPSECRET-e5d1c0a7b9f3";
const WRONG_SECRET: &str = "WRONGSECRET-0a9b8c7d6e5f";
const STALE_TOKEN: &str = "STALETOKEN-8d7c6b5a4f3e";
const SENSITIVE: &str = "SENSITIVEPW-3b2a19f8e7d6";
const CANARY: &str = "CANARY-visible-in-the-capture";

/// Every span and event of the process, as text.
#[derive(Default)]
struct Capture {
    text: Mutex<String>,
    next_id: AtomicU64,
    trace_events: AtomicU64,
}

struct Writer<'a>(&'a mut String);
impl Visit for Writer<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={}", field.name(), value);
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let _ = write!(self.0, " {}={} ({:?})", field.name(), value, value);
    }
}

impl Subscriber for &'static Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::TRACE)
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut buf = self.text.lock().unwrap_or_else(|e| e.into_inner());
        let m = span.metadata();
        let _ = write!(buf, "\n{} span {}::{}:", m.level(), m.target(), m.name());
        span.record(&mut Writer(&mut buf));
        Id::from_u64(self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        let mut buf = self.text.lock().unwrap_or_else(|e| e.into_inner());
        buf.push_str("\nrecord:");
        values.record(&mut Writer(&mut buf));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let m = event.metadata();
        if *m.level() == Level::TRACE {
            self.trace_events.fetch_add(1, Ordering::Relaxed);
        }
        let mut buf = self.text.lock().unwrap_or_else(|e| e.into_inner());
        let _ = write!(buf, "\n{} {}:", m.level(), m.target());
        event.record(&mut Writer(&mut buf));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Installs the global capture once for the whole test binary.
fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    static INSTALL: Once = Once::new();
    let c = *CAPTURE.get_or_init(|| Box::leak(Box::default()));
    INSTALL.call_once(|| {
        tracing::subscriber::set_global_default(c)
            .expect("no other global subscriber in this test binary");
    });
    c
}

/// Logs a rendering at TRACE level (so it goes through the capture) and keeps it.
fn show(out: &mut String, what: &str, text: String) {
    tracing::trace!(what, rendering = %text, "rendering");
    let _ = writeln!(out, "{what}: {text}");
}

fn show_error(out: &mut String, what: &str, e: &Error) {
    show(out, what, format!("{e} | {e:?}"));
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        show(out, what, format!("caused by: {s} | {s:?}"));
        source = s.source();
    }
}

/// A provider that starts with a rejected token and mints a good one through the sim.
struct Provider(SimHandle);

impl CredentialProvider for Provider {
    fn user_auth(&self) -> BoxFuture<'_, Result<UserAuth, Error>> {
        Box::pin(async { Ok(UserAuth::BkToken(STALE_TOKEN.into())) })
    }
    fn refresh<'a>(&'a self, _: &'a UserAuth) -> BoxFuture<'a, Result<UserAuth, Error>> {
        Box::pin(async move { Ok(UserAuth::BkToken(self.0.issue_token("admin").into())) })
    }
}

static SEARCH_BUSINESS: ApiMeta = ApiMeta {
    component: "cc",
    name: "search_business",
    method: Method::Post,
    path: "/api/c/compapi{bk_api_ver}/cc/search_business/",
    idempotent: true,
    sensitive: &[],
    cache_ttl_secs: None,
};

fn fast() -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(2)
        .initial_backoff(Duration::from_millis(1))
        .max_server_wait(Duration::from_secs(2))
        .token_bucket(false)
}

fn builder(sim: &Sim, mode: AuthMode, user: UserAuth) -> ClientBuilder {
    Client::builder()
        .endpoint(sim.url())
        .app_code(sim.handle().app_code())
        .app_secret(APP_SECRET)
        .user(user)
        .auth_mode(mode)
        .gateway_url_template(format!("{}/api/{{api_name}}", sim.url()))
        .retry_policy(fast())
        .request_timeout(Duration::from_secs(5))
}

/// One GET and one POST on the ESB and on the gateway; errors are rendered.
async fn calls(c: &Client, out: &mut String, what: &str) {
    if let Err(e) = c.bk_login().get_user().send().await {
        show_error(out, what, &e);
    }
    if let Err(e) = c.cc().search_business().send().await {
        show_error(out, what, &e);
    }
    for (gw, method, path) in [
        ("bk_login", Method::Get, "/get_user/"),
        ("cc", Method::Post, "/search_business/"),
    ] {
        if let Err(e) = c.gateway(gw).call(method, path, json!({})).await {
            show_error(out, what, &e);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_the_whole_suites_logs() {
    let cap = capture();
    tracing::trace!(canary = CANARY, "capture check");

    let sim = bk_sim::spawn(SimConfig {
        app_secret: APP_SECRET.into(),
        ..SimConfig::default()
    })
    .expect("bk-sim starts");
    let h = sim.handle();
    let bk_token = h.issue_token("admin");
    let access_token = h.issue_token("admin");
    let mut out = String::new();

    let users = [
        UserAuth::BkToken(bk_token.clone().into()),
        UserAuth::BkUsername("admin".into()),
        UserAuth::AccessToken(access_token.clone().into()),
    ];
    let modes = [AuthMode::Params, AuthMode::Header, AuthMode::Signature];

    // Every auth mode with every kind of user, on the ESB and the gateway.
    for mode in modes {
        for user in &users {
            let b = builder(&sim, mode, user.clone());
            show(&mut out, "builder", format!("{b:?}"));
            let c = b.build().unwrap();
            show(&mut out, "client", format!("{c:?}"));
            show(&mut out, "config", format!("{:?}", c.config()));
            calls(&c, &mut out, "plain").await;
        }
    }

    // Every fault kind, in every mode (secrets in the query and the body in params mode),
    // with retries.
    let faults = [
        FaultKind::Latency(Duration::from_millis(5)),
        FaultKind::HttpStatus(500),
        FaultKind::HttpStatus(502),
        FaultKind::HttpStatus(503),
        FaultKind::HttpStatus(504),
        FaultKind::GatewayRateLimit {
            retry_after_secs: 0,
        },
        FaultKind::EsbBackendFailed,
        FaultKind::EsbRateLimited,
        FaultKind::CmdbTooManyRequests,
        FaultKind::ResetBeforeExecution,
        FaultKind::ResetAfterExecution,
        FaultKind::TruncatedBody,
        FaultKind::HtmlBody,
        FaultKind::SlowBody {
            chunk_delay: Duration::from_millis(2),
        },
    ];
    for mode in modes {
        let c = builder(&sim, mode, users[0].clone()).build().unwrap();
        for f in &faults {
            h.clear_faults();
            h.add_fault(FaultRule::new(f.clone(), Trigger::Always));
            calls(&c, &mut out, f.name()).await;
        }
    }
    h.clear_faults();

    // Timeouts: per attempt and for the whole operation.
    h.add_fault(FaultRule::new(
        FaultKind::SlowBody {
            chunk_delay: Duration::from_millis(300),
        },
        Trigger::Always,
    ));
    let slow = builder(&sim, AuthMode::Params, users[0].clone())
        .request_timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    calls(&slow, &mut out, "request-timeout").await;
    let e = slow
        .send_with::<_, Value>(
            &SEARCH_BUSINESS,
            &json!({}),
            &CallOptions::new().timeout(Duration::from_millis(100)),
        )
        .await
        .unwrap_err();
    assert!(e.is_timeout(), "{e}");
    show_error(&mut out, "operation-timeout", &e);
    h.clear_faults();

    // API errors: a wrong secret, a rejected token, a CMDB argument error; a decode error.
    for mode in modes {
        let wrong = Client::builder()
            .endpoint(sim.url())
            .app_code(h.app_code())
            .app_secret(WRONG_SECRET)
            .user(UserAuth::BkToken(bk_token.clone().into()))
            .auth_mode(mode)
            .gateway_url_template(format!("{}/api/{{api_name}}", sim.url()))
            .build()
            .unwrap();
        show(&mut out, "wrong client", format!("{wrong:?}"));
        calls(&wrong, &mut out, "wrong-secret").await;
        let stale = builder(&sim, mode, UserAuth::BkToken(STALE_TOKEN.into()))
            .build()
            .unwrap();
        calls(&stale, &mut out, "stale-token").await;
        let c = builder(&sim, mode, users[0].clone()).build().unwrap();
        let e = c
            .send::<_, Vec<u64>>(&SEARCH_BUSINESS, &json!({}))
            .await
            .unwrap_err();
        show_error(&mut out, "decode", &e);
        let e = c
            .call(
                "cc",
                "list_biz_hosts_topo",
                json!({"bk_biz_id": 1, "page": {"limit": 0}}),
            )
            .await
            .unwrap_err();
        show_error(&mut out, "api", &e);

        // A spec-sensitive parameter, through a failing call (the curl rendering is logged).
        h.add_fault(FaultRule::new(FaultKind::HtmlBody, Trigger::Always).on("jobv3.*"));
        let r = c
            .jobv3()
            .create_credential(ScopeType::Biz, "2", "db", CredentialType::Password)
            .credential_password(SENSITIVE)
            .send()
            .await;
        if let Err(e) = r {
            show_error(&mut out, "sensitive", &e);
        }
        let e = c
            .gateway("jobv3")
            .sensitive(&["credential_password"])
            .call(
                Method::Post,
                "/create_credential/",
                json!({"bk_scope_type": "biz", "bk_scope_id": "2", "name": "db",
                       "type": "PASSWORD", "credential_password": SENSITIVE}),
            )
            .await
            .unwrap_err();
        show_error(&mut out, "sensitive-gateway", &e);
        h.clear_faults();
    }

    // Configuration errors of every kind.
    for b in [
        Client::builder()
            .endpoint("not a url")
            .app_code("a")
            .app_secret(APP_SECRET),
        Client::builder().endpoint(sim.url()).app_code("a"),
        builder(&sim, AuthMode::Header, users[0].clone()).gateway_url_template("http://x/"),
    ] {
        show(&mut out, "bad builder", format!("{b:?}"));
        let e = b.build().unwrap_err();
        show_error(&mut out, "config", &e);
    }
    let e = ClientBuilder::from_lookup(|k| (k == "BK_APP_SECRET").then(|| APP_SECRET.to_string()))
        .unwrap_err();
    show_error(&mut out, "env", &e);

    // The credential refresh, in params mode (the token travels in the body).
    for mode in modes {
        let c = builder(&sim, mode, UserAuth::None)
            .credential_provider(Arc::new(Provider(h.clone())))
            .build()
            .unwrap();
        calls(&c, &mut out, "refresh").await;
        show(
            &mut out,
            "refreshed client",
            format!("{c:?} {:?}", c.user()),
        );
    }

    // The checks.
    let log = cap.text.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if std::env::var_os("BK_SHOW_LOG").is_some() {
        eprintln!("{log}");
    }
    let secrets = [
        APP_SECRET,
        WRONG_SECRET,
        STALE_TOKEN,
        SENSITIVE,
        bk_token.as_str(),
        access_token.as_str(),
    ];
    for s in secrets {
        assert!(
            !log.contains(s),
            "the captured logs contain the secret {s:?}"
        );
        assert!(!out.contains(s), "a rendering contains the secret {s:?}");
    }
    assert!(log.contains(CANARY), "the capture misses events");
    assert!(
        cap.trace_events.load(Ordering::Relaxed) > 0,
        "no TRACE event seen"
    );
    for expected in [
        "sending request",
        "curl -X POST",
        "curl -X GET",
        "x-bkapi-authorization: ***",
        "bk_app_secret=***",
        "\"credential_password\":\"***\"",
        "retrying",
        "user credentials renewed",
        "span bk_runtime::client::bk_call",
        "bk_sim",
    ] {
        assert!(log.contains(expected), "the capture lacks {expected:?}");
    }
    for expected in [
        "timeout",
        "1306000",
        "1199010",
        "cannot decode",
        "1650200",
        "1642901",
    ] {
        assert!(out.contains(expected), "the renderings lack {expected:?}");
    }
}
