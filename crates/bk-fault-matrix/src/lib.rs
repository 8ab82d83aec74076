//! The fault matrix: a mixed workload of generated clients against `bk-sim`
//! with faults of every kind, checking the runtime's retry rules end to end.
//!
//! - idempotent reads (`bk_login.get_user`, `cc.search_business`) must all
//!   succeed: every fault kind is retryable for them;
//! - the non-idempotent `jobv3.fast_execute_script` may fail, but must never
//!   run twice: each logical call carries a unique `task_name`, and the
//!   simulator's job list shows how often each name was started.
//!
//! `duplicates` = sum over logical job calls of (jobs started with its name - 1),
//! counting only names started more than once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bk_runtime::hooks::{AttemptInfo, Hook};
use bk_runtime::{Client, RetryPolicy, UserAuth};
use bk_sdk::prelude::*;
use bk_sim::{FaultKind, FaultPlan, FaultRule, SimConfig, StateConfig, Trigger};

/// Figures of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Logical calls made.
    pub calls: u64,
    /// Faults the simulator injected (every kind, latency included).
    pub faults: u64,
    /// Retries the client made (attempts beyond the first).
    pub retries: u64,
    /// Calls that succeeded.
    pub ok: u64,
    /// Calls that failed.
    pub failed: u64,
    /// Idempotent calls that failed (must be 0).
    pub idempotent_failed: u64,
    /// Job calls that failed.
    pub job_failed: u64,
    /// Jobs started beyond one per logical job call (must be 0).
    pub duplicates: u64,
    /// Jobs the simulator started.
    pub job_executions: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Faults injected, by kind (the simulator's count).
    pub faults_by_kind: std::collections::BTreeMap<String, u64>,
    /// Failed calls by what their error said: `<kind> <code or HTTP status> request_id=yes|no`.
    pub failures_by_error: std::collections::BTreeMap<String, u64>,
    /// Failed calls whose error gives neither a code nor an HTTP status nor a transport or
    /// timeout cause, or that carry a code but no request_id (must be 0).
    pub undiagnosable: u64,
}

impl Report {
    /// The summary line.
    pub fn line(&self) -> String {
        format!(
            "calls={} faults={} retries={} ok={} failed={} duplicates={}",
            self.calls, self.faults, self.retries, self.ok, self.failed, self.duplicates
        )
    }

    /// Every idempotent call succeeded, no job ran twice, and every failure said why.
    pub fn passed(&self) -> bool {
        self.idempotent_failed == 0 && self.duplicates == 0 && self.undiagnosable == 0
    }
}

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Logical calls.
    pub calls: usize,
    /// Share of calls that meet a fault (0..=1), spread evenly over every fault kind.
    pub fault_rate: f64,
    /// Calls in flight at once.
    pub concurrency: usize,
    /// The client's retry policy.
    pub policy: RetryPolicy,
}

impl Settings {
    /// `calls` calls at `fault_rate`, 32 at a time, with a patient retry policy
    /// (8 attempts, backoff from 5 ms to 100 ms): at 20 % faults, 3 attempts
    /// would leave about 0.8 % of idempotent calls failing by design.
    pub fn new(calls: usize, fault_rate: f64) -> Settings {
        Settings {
            calls,
            fault_rate,
            concurrency: 32,
            policy: RetryPolicy::default()
                .max_attempts(8)
                .initial_backoff(Duration::from_millis(5))
                .max_backoff(Duration::from_millis(100)),
        }
    }
}

/// Every fault kind the simulator knows, with short delays.
fn kinds() -> Vec<FaultKind> {
    vec![
        FaultKind::Latency(Duration::from_millis(5)),
        FaultKind::HttpStatus(500),
        FaultKind::HttpStatus(502),
        FaultKind::HttpStatus(503),
        FaultKind::HttpStatus(504),
        FaultKind::GatewayRateLimit {
            retry_after_secs: 1,
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
    ]
}

/// Rules giving each kind an overall share `rate / kinds`. The simulator
/// checks rules in order and a rule is only reached when no earlier one
/// fired (latency aside), so rule `i` fires with the conditional probability
/// `share / (1 - i * share)`.
fn plan(rate: f64, seed: u64) -> FaultPlan {
    let kinds = kinds();
    let share = rate.clamp(0.0, 1.0) / kinds.len() as f64;
    let mut plan = FaultPlan {
        seed,
        rules: Vec::new(),
    };
    let mut reached = 1.0;
    for kind in kinds {
        let latency = matches!(kind, FaultKind::Latency(_));
        let p = if latency {
            share
        } else {
            let p = (share / reached).min(1.0);
            reached -= share;
            p
        };
        plan = plan.with(FaultRule::new(kind, Trigger::Rate(p)));
    }
    plan
}

/// Counts retries.
#[derive(Default)]
struct Retries(AtomicU64);

impl Hook for Retries {
    fn before_send(&self, a: &AttemptInfo<'_>) {
        if a.attempt > 1 {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
    idempotent_failed: AtomicU64,
    job_failed: AtomicU64,
    /// What the failed calls' errors said.
    errors: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
    undiagnosable: AtomicU64,
}

/// Runs the matrix on the current Tokio runtime.
pub async fn run_async(settings: &Settings) -> Result<Report, String> {
    let sim = bk_sim::spawn(SimConfig {
        state: StateConfig {
            hosts: 60,
            ..StateConfig::default()
        },
        request_log_capacity: 0,
        ..SimConfig::default()
    })
    .map_err(|e| format!("cannot start bk-sim: {e}"))?;
    let handle = sim.handle();
    let hosts: Vec<i64> = handle.state().biz_host_ids(3).into_iter().take(2).collect();
    if hosts.is_empty() {
        return Err("bk-sim has no host in business 3".into());
    }
    let retries = Arc::new(Retries::default());
    let client = Client::builder()
        .endpoint(handle.url())
        .app_code(handle.app_code())
        .app_secret(handle.app_secret())
        .user(UserAuth::BkUsername(handle.username().to_owned()))
        .request_timeout(Duration::from_secs(10))
        .retry_policy(settings.policy)
        .hook(retries.clone())
        .build()
        .map_err(|e| e.to_string())?;
    handle.set_faults(plan(settings.fault_rate, 7));

    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let tally = Arc::new(Tally::default());
    let hosts = Arc::new(hosts);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..settings.concurrency.max(1) {
        let (client, next, tally, hosts) =
            (client.clone(), next.clone(), tally.clone(), hosts.clone());
        let calls = settings.calls;
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= calls {
                    return;
                }
                let (result, idempotent) = match i % 3 {
                    0 => (client.bk_login().get_user().send().await.map(drop), true),
                    1 => (client.cc().search_business().send().await.map(drop), true),
                    _ => (
                        client
                            .jobv3()
                            .fast_execute_script(bk_sdk::jobv3::types::ScopeType::Biz, "3")
                            .script_content("ZWNobyBmbQ==") // "echo fm"
                            .account_alias("root")
                            .task_name(format!("fm-{i}"))
                            .target_server(bk_sdk::jobv3::types::Server {
                                host_id_list: Some(hosts.to_vec()),
                                ..Default::default()
                            })
                            .send()
                            .await
                            .map(drop),
                        false,
                    ),
                };
                let ok = result.is_ok();
                if let Err(e) = &result {
                    let (label, diagnosable) = describe(e);
                    if !diagnosable {
                        tally.undiagnosable.fetch_add(1, Ordering::Relaxed);
                    }
                    *tally
                        .errors
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .entry(label)
                        .or_default() += 1;
                }
                let counter = match (ok, idempotent) {
                    (true, _) => &tally.ok,
                    (false, true) => &tally.idempotent_failed,
                    (false, false) => &tally.job_failed,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                if !ok {
                    tally.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while let Some(r) = workers.join_next().await {
        r.map_err(|e| format!("worker panicked: {e}"))?;
    }
    let elapsed = started.elapsed();

    let stats = handle.stats();
    let mut per_name: HashMap<String, u64> = HashMap::new();
    for job in handle.state().jobs() {
        *per_name.entry(job.name).or_default() += 1;
    }
    let duplicates = per_name.values().map(|n| n.saturating_sub(1)).sum();
    let report = Report {
        calls: settings.calls as u64,
        faults: stats.faults.values().sum(),
        retries: retries.0.load(Ordering::Relaxed),
        ok: tally.ok.load(Ordering::Relaxed),
        failed: tally.failed.load(Ordering::Relaxed),
        idempotent_failed: tally.idempotent_failed.load(Ordering::Relaxed),
        job_failed: tally.job_failed.load(Ordering::Relaxed),
        duplicates,
        job_executions: handle.state().job_executions(),
        elapsed,
        faults_by_kind: stats
            .faults
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
        failures_by_error: tally
            .errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
        undiagnosable: tally.undiagnosable.load(Ordering::Relaxed),
    };
    sim.shutdown().await;
    Ok(report)
}

/// A failed call's error as `<kind> <code or HTTP status> request_id=yes|no`, and whether it
/// says enough to act on: an API or HTTP error carries its code (or status) and the
/// request_id to quote to the platform team; a call that got no answer says why (transport
/// or timeout).
fn describe(e: &bk_sdk::Error) -> (String, bool) {
    let kind = e.kind().name();
    let code = e
        .code()
        .map(|c| c.to_string())
        .or_else(|| e.http_status().map(|s| format!("HTTP {s}")))
        .unwrap_or_else(|| "-".into());
    let rid = e.request_id().is_some();
    let diagnosable = match kind {
        "transport" | "timeout" => true,
        "api" => e.code().is_some() && rid,
        "http_status" | "non_json" => e.http_status().is_some(),
        _ => false,
    };
    (
        format!(
            "{kind} {code} request_id={}",
            if rid { "yes" } else { "no" }
        ),
        diagnosable,
    )
}

/// Runs the matrix on a new multi-threaded runtime and returns the summary
/// line; `Err` (with the line) when an idempotent call failed or a job ran twice.
pub fn run(calls: usize, rate: f64) -> Result<String, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a Tokio runtime: {e}"))?;
    let report = rt.block_on(run_async(&Settings::new(calls, rate)))?;
    let line = report.line();
    if report.passed() {
        Ok(line)
    } else {
        Err(format!(
            "{line}\nFAILED: idempotent_failed={} duplicates={}",
            report.idempotent_failed, report.duplicates
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_spreads_the_rate_evenly() {
        let p = plan(0.2, 1);
        assert_eq!(p.rules.len(), kinds().len());
        // Overall share of each non-latency kind: product of misses before it times its rate.
        let mut reach = 1.0;
        for r in p
            .rules
            .iter()
            .filter(|r| !matches!(r.kind, FaultKind::Latency(_)))
        {
            let Trigger::Rate(x) = r.trigger else {
                panic!()
            };
            let share = reach * x;
            assert!((share - 0.2 / 14.0).abs() < 1e-9, "{share}");
            reach -= share;
        }
    }
}
