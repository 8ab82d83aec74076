//! The `metrics` feature: a call records the official SDK's metric names.
#![cfg(feature = "metrics")]

use crate::common;

use bk_runtime::RetryPolicy;
use common::*;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use serde_json::{json, Value};

#[test]
fn a_call_records_the_official_metrics() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let server = Server::start(|r| {
                if r.path.contains("get_user") {
                    Reply::ok(json!({"bk_username": "admin"}))
                } else {
                    Reply::raw(503, "text/plain", "down")
                }
            })
            .await;
            let client = server
                .builder()
                .retry_policy(RetryPolicy::disabled())
                .build()
                .unwrap();
            let _: Value = client.send(&GET_API, &json!({})).await.unwrap();
            client
                .send::<_, Value>(&POST_API, &json!({"bk_biz_id": 1}))
                .await
                .unwrap_err();
        });
    });
    let snapshot = snapshotter.snapshot().into_vec();
    let find = |name: &str, labels: &[(&str, &str)]| {
        snapshot
            .iter()
            .filter(|(key, _, _, _)| {
                key.key().name() == name
                    && labels
                        .iter()
                        .all(|(k, v)| key.key().labels().any(|l| l.key() == *k && l.value() == *v))
            })
            .map(|(_, _, _, value)| value)
            .collect::<Vec<_>>()
    };
    let get = [
        ("component", "bk_login"),
        ("api", "get_user"),
        ("method", "GET"),
    ];
    let counter = |v: Vec<&DebugValue>| match v.as_slice() {
        [DebugValue::Counter(n)] => *n,
        other => panic!("expected one counter, got {other:?}"),
    };
    let histogram_len = |v: Vec<&DebugValue>| match v.as_slice() {
        [DebugValue::Histogram(h)] => h.len(),
        other => panic!("expected one histogram, got {other:?}"),
    };
    let mut ok = get.to_vec();
    ok.extend([("status", "200"), ("code", "0")]);
    assert_eq!(
        counter(find("bkapi_responses_total", &ok)),
        1,
        "{snapshot:#?}"
    );
    assert_eq!(
        histogram_len(find("bkapi_requests_duration_seconds", &get)),
        1
    );
    assert_eq!(histogram_len(find("bkapi_requests_body_bytes", &get)), 1);
    assert_eq!(histogram_len(find("bkapi_responses_body_bytes", &get)), 1);

    let post = [("component", "cc"), ("api", "list_biz_hosts_topo")];
    let mut failed = post.to_vec();
    failed.push(("kind", "http_status"));
    assert_eq!(
        counter(find("bkapi_failures_total", &failed)),
        1,
        "{snapshot:#?}"
    );
    let mut status = post.to_vec();
    status.push(("status", "503"));
    assert_eq!(counter(find("bkapi_responses_total", &status)), 1);
    assert!(find("bkapi_failures_total", &get).is_empty());
}
