//! Metrics with the names of the official SDKs' Prometheus plugin, recorded through the
//! [`metrics`](https://docs.rs/metrics) facade (cargo feature `metrics`).
//!
//! The [`MetricsHook`] is installed by [`ClientBuilder::build`](crate::ClientBuilder::build)
//! when the feature is on (opt out with [`ClientBuilder::metrics`](crate::ClientBuilder::metrics)),
//! and records per attempt:
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `bkapi_requests_duration_seconds` | histogram | `component`, `api`, `method` |
//! | `bkapi_requests_body_bytes` | histogram | `component`, `api`, `method` |
//! | `bkapi_responses_body_bytes` | histogram | `component`, `api`, `method` |
//! | `bkapi_responses_total` | counter | `component`, `api`, `method`, `status` (HTTP), `code` (envelope or gateway code, `""` when none) |
//! | `bkapi_failures_total` | counter | `component`, `api`, `method`, `kind` (see below) |
//!
//! For API gateway calls `component` is the gateway name and `api` the resource path.
//! `kind` is one of `config`, `invalid_request`, `transport`, `timeout`, `http_status`,
//! `non_json`, `api`, `credentials`, `decode`. Attempts that got no response (transport
//! failures, timeouts) count in `bkapi_failures_total` and the duration histogram only.
//!
//! Nothing is recorded until the program installs a recorder (for example
//! `metrics-exporter-prometheus`); without one the calls cost a few atomic loads.
//! Label values never hold a secret: only names, statuses and codes.

use metrics::{counter, histogram, Label};

use crate::error::{Error, ErrorKind};
use crate::hooks::{AttemptInfo, Hook, ResponseInfo};

/// Histogram of attempt durations, in seconds.
pub const REQUESTS_DURATION_SECONDS: &str = "bkapi_requests_duration_seconds";
/// Histogram of request body sizes, in bytes.
pub const REQUESTS_BODY_BYTES: &str = "bkapi_requests_body_bytes";
/// Histogram of response body sizes, in bytes.
pub const RESPONSES_BODY_BYTES: &str = "bkapi_responses_body_bytes";
/// Counter of responses by HTTP status and code.
pub const RESPONSES_TOTAL: &str = "bkapi_responses_total";
/// Counter of failed attempts by error kind.
pub const FAILURES_TOTAL: &str = "bkapi_failures_total";

/// The [`Hook`] that records the metrics of the [module documentation](self).
#[derive(Debug, Default, Clone, Copy)]
pub struct MetricsHook {
    _private: (),
}

impl MetricsHook {
    /// A new hook (stateless: every hook records to the global recorder).
    pub fn new() -> Self {
        Self::default()
    }
}

/// The label value of an error kind in `bkapi_failures_total`.
pub fn error_kind_label(e: &Error) -> &'static str {
    e.kind().name()
}

fn base_labels(a: &AttemptInfo<'_>) -> Vec<Label> {
    vec![
        Label::new("component", a.component.to_owned()),
        Label::new("api", a.api.to_owned()),
        Label::new("method", a.method.as_str()),
    ]
}

fn with(mut labels: Vec<Label>, extra: impl IntoIterator<Item = Label>) -> Vec<Label> {
    labels.extend(extra);
    labels
}

impl Hook for MetricsHook {
    fn after_response(&self, a: &AttemptInfo<'_>, r: &ResponseInfo<'_>) {
        let labels = base_labels(a);
        histogram!(REQUESTS_DURATION_SECONDS, labels.clone()).record(r.duration.as_secs_f64());
        histogram!(REQUESTS_BODY_BYTES, labels.clone()).record(a.request_body_bytes as f64);
        histogram!(RESPONSES_BODY_BYTES, labels.clone()).record(r.body_bytes as f64);
        counter!(
            RESPONSES_TOTAL,
            with(
                labels,
                [
                    Label::new("status", r.http_status.to_string()),
                    Label::new("code", r.code.to_string()),
                ]
            )
        )
        .increment(1);
    }

    fn on_error(&self, a: &AttemptInfo<'_>, e: &Error, _will_retry: bool) {
        let labels = base_labels(a);
        // An envelope failure was already seen by `after_response`.
        if !matches!(e.kind(), ErrorKind::Api { .. }) {
            histogram!(REQUESTS_DURATION_SECONDS, labels.clone()).record(a.elapsed.as_secs_f64());
            if let Some(status) = e.http_status() {
                histogram!(REQUESTS_BODY_BYTES, labels.clone()).record(a.request_body_bytes as f64);
                counter!(
                    RESPONSES_TOTAL,
                    with(
                        labels.clone(),
                        [
                            Label::new("status", status.to_string()),
                            Label::new("code", e.code().map(|c| c.to_string()).unwrap_or_default()),
                        ]
                    )
                )
                .increment(1);
            }
        }
        counter!(
            FAILURES_TOTAL,
            with(labels, [Label::new("kind", error_kind_label(e))])
        )
        .increment(1);
    }
}
