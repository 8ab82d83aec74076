//! Tracing output: one span per call with its fields, a redacted `curl`
//! rendering of failed requests, and no secret anywhere.
//!
//! Kept alone in its own test binary: `tracing`'s per-callsite interest cache
//! races with scoped subscribers when other tests hit the same callsites on
//! other threads.

use crate::common;

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use bk_runtime::{AuthMode, UserAuth};
use common::*;
use serde_json::{json, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

const SECRETS: &[&str] = &[APP_SECRET, BK_TOKEN, ACCESS_TOKEN];

fn assert_clean(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} leaks a secret: {text}");
    }
}

/// A minimal subscriber that writes every span and event field to a buffer.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<String>>);

struct Writer<'a>(&'a mut String);
impl Visit for Writer<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={}", field.name(), value);
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut buf = self.0.lock().unwrap();
        let _ = write!(buf, "\nspan {}:", span.metadata().name());
        span.record(&mut Writer(&mut buf));
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        let mut buf = self.0.lock().unwrap();
        buf.push_str("\nrecord:");
        values.record(&mut Writer(&mut buf));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut buf = self.0.lock().unwrap();
        let _ = write!(buf, "\n{} event:", event.metadata().level());
        event.record(&mut Writer(&mut buf));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[tokio::test]
async fn tracing_output_has_no_secret_and_has_curl() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());

    let server = Server::start(|r| {
        if r.path.contains("get_user") {
            Reply::ok(json!({"ok": true}))
        } else {
            Reply::json(json!({"result": false, "code": 1199006, "message": "bad"}))
        }
    })
    .await;
    for mode in [AuthMode::Params, AuthMode::Header, AuthMode::Signature] {
        let client = server
            .builder()
            .auth_mode(mode)
            .user(UserAuth::BkToken(BK_TOKEN.into()))
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        let _: Value = client.send(&GET_API, &json!({"q": 1})).await.unwrap();
        let _ = client
            .send::<_, Value>(
                &POST_API,
                &json!({"password": "hunter2-pw", "bk_biz_id": 1}),
            )
            .await
            .unwrap_err();
    }
    let log = capture.0.lock().unwrap().clone();
    if std::env::var_os("BK_SHOW_LOG").is_some() {
        eprintln!("{log}");
    }
    assert_clean("tracing output", &log);
    assert!(
        !log.contains("hunter2-pw"),
        "meta.sensitive path leaked: {log}"
    );
    assert!(
        log.contains("span bk_call: component=bk_login api=get_user"),
        "{log}"
    );
    assert!(log.contains("http_status=200"), "{log}");
    assert!(
        log.contains("request_id=0123456789abcdef0123456789abcdef"),
        "{log}"
    );
    assert!(log.contains("duration_ms="), "{log}");
    // Attempts are visible: the call's count and one span per attempt.
    assert!(log.contains("attempts=1"), "{log}");
    assert!(log.contains("span bk_attempt: attempt=1"), "{log}");
    assert!(log.contains("curl -X POST"), "{log}");
    assert!(
        log.contains("TLS certificate verification is disabled"),
        "{log}"
    );
}
