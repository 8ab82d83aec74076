//! The Rust processes of the benchmark: the simulator, the load drivers (this SDK and the
//! raw hyper client) and the SDK's full host sync.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bk_runtime::pagination::TryStreamExt as _;
use bk_runtime::{Client, RetryPolicy, UserAuth};
use bk_sdk::cc::types::{HostTopo, Page};
use bk_sdk::prelude::*;
use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::capture::Captured;
use crate::stats::{peak_rss_kb, percentile};
use crate::{LoadResult, SyncResult, HOST_FIELDS, PAGE_SIZE};

/// Where the simulator is and who calls it (read from the environment variables of the
/// official SDKs: `BK_COMPONENT_API_URL`, `BK_APP_CODE`, `BK_APP_SECRET`, `BK_USERNAME`).
#[derive(Debug, Clone)]
pub struct Target {
    /// Base URL of the ESB.
    pub url: String,
    /// App code.
    pub app_code: String,
    /// App secret.
    pub app_secret: String,
    /// User (sent as `bk_username`).
    pub username: String,
}

impl Target {
    /// Reads the four variables.
    pub fn from_env() -> Result<Target, String> {
        let var = |k: &str| std::env::var(k).map_err(|_| format!("{k} is not set"));
        Ok(Target {
            url: var("BK_COMPONENT_API_URL")?,
            app_code: var("BK_APP_CODE")?,
            app_secret: var("BK_APP_SECRET")?,
            username: var("BK_USERNAME")?,
        })
    }

    /// The environment variables for a driver process.
    pub fn env(&self) -> [(&'static str, &str); 4] {
        [
            ("BK_COMPONENT_API_URL", self.url.as_str()),
            ("BK_APP_CODE", self.app_code.as_str()),
            ("BK_APP_SECRET", self.app_secret.as_str()),
            ("BK_USERNAME", self.username.as_str()),
        ]
    }

    /// An SDK client with header auth (the SDK's default) and retries off.
    pub fn sdk_client(&self, url: &str) -> Result<Client, String> {
        self.sdk_client_with(url, RetryPolicy::disabled())
    }

    /// An SDK client with header auth and the given retry policy.
    pub fn sdk_client_with(&self, url: &str, policy: RetryPolicy) -> Result<Client, String> {
        Client::builder()
            .endpoint(url)
            .app_code(self.app_code.as_str())
            .app_secret(self.app_secret.as_str())
            .user(UserAuth::BkUsername(self.username.clone()))
            .retry_policy(policy)
            .request_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())
    }
}

/// A workload of the load test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// `GET bk_login/get_user`: a small GET.
    GetUser,
    /// `POST cc/list_biz_hosts_topo`, one page of 500 hosts.
    HostsTopo,
}

impl Workload {
    /// Name used in results and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Workload::GetUser => "get_user",
            Workload::HostsTopo => "hosts_topo",
        }
    }
}

/// A Rust client of the load test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RustClient {
    /// This SDK (typed generated client), retries off.
    Sdk,
    /// This SDK with its default retry policy (retries, token bucket): the retry layer's
    /// cost on a healthy server.
    SdkRetry,
    /// A minimal hyper client replaying the SDK's captured request.
    Raw,
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a Tokio runtime: {e}"))
}

fn page(start: i64) -> Page {
    Page {
        start: Some(start),
        limit: PAGE_SIZE,
        sort: None,
        enable_count: None,
    }
}

fn fields() -> Vec<String> {
    HOST_FIELDS.iter().map(|s| s.to_string()).collect()
}

/// One SDK call of `workload` (`biz`: the business of `hosts_topo`).
pub async fn sdk_call(client: &Client, workload: Workload, biz: i64) -> Result<(), String> {
    match workload {
        Workload::GetUser => client
            .bk_login()
            .get_user()
            .send()
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Workload::HostsTopo => {
            let r = client
                .cc()
                .list_biz_hosts_topo(biz, page(0), fields())
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if r.info.len() as i64 == PAGE_SIZE {
                Ok(())
            } else {
                Err(format!("expected {PAGE_SIZE} hosts, got {}", r.info.len()))
            }
        }
    }
}

type Call = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// Runs `concurrency` loops of `call` for `warmup` + `window` and measures the requests
/// completed inside the window.
async fn load(call: Call, concurrency: usize, warmup: Duration, window: Duration) -> Tally {
    let from = Instant::now() + warmup;
    let until = from + window;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let call = call.clone();
        set.spawn(async move {
            let mut t = Tally::default();
            loop {
                let t0 = Instant::now();
                if t0 >= until {
                    break;
                }
                let r = call().await;
                let t1 = Instant::now();
                if t1 < from || t1 > until {
                    continue;
                }
                match r {
                    Ok(()) => t
                        .latencies_us
                        .push(u32::try_from((t1 - t0).as_micros()).unwrap_or(u32::MAX)),
                    Err(e) => {
                        t.errors += 1;
                        t.first_error.get_or_insert(e);
                    }
                }
            }
            t
        });
    }
    let mut all = Tally::default();
    while let Some(t) = set.join_next().await {
        match t {
            Ok(t) => {
                all.latencies_us.extend(t.latencies_us);
                all.errors += t.errors;
                if all.first_error.is_none() {
                    all.first_error = t.first_error;
                }
            }
            Err(e) => {
                all.errors += 1;
                all.first_error
                    .get_or_insert(format!("worker panicked: {e}"));
            }
        }
    }
    all
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

/// Settings of one load driver run.
#[derive(Debug, Clone)]
pub struct LoadArgs {
    /// Which client.
    pub client: RustClient,
    /// Which call.
    pub workload: Workload,
    /// Requests in flight.
    pub concurrency: usize,
    /// Time before the measuring window.
    pub warmup: Duration,
    /// The measuring window.
    pub window: Duration,
    /// Business of `hosts_topo`.
    pub biz: i64,
    /// The captured SDK request (raw client only).
    pub request: Option<Captured>,
}

/// Runs one load driver and measures it.
pub fn run_load(target: &Target, args: &LoadArgs) -> Result<LoadResult, String> {
    let rt = runtime()?;
    let call: Call = match args.client {
        RustClient::Sdk | RustClient::SdkRetry => {
            let client = {
                let _g = rt.enter();
                if args.client == RustClient::SdkRetry {
                    target.sdk_client_with(&target.url, RetryPolicy::default())?
                } else {
                    target.sdk_client(&target.url)?
                }
            };
            let (workload, biz) = (args.workload, args.biz);
            Arc::new(move || {
                let client = client.clone();
                Box::pin(async move { sdk_call(&client, workload, biz).await })
            })
        }
        RustClient::Raw => {
            let cap = args
                .request
                .clone()
                .ok_or("the raw client needs --request")?;
            raw_call(target, cap)?
        }
    };
    let tally = rt.block_on(load(call, args.concurrency, args.warmup, args.window));
    drop(rt);
    let mut lat = tally.latencies_us;
    lat.sort_unstable();
    let secs = args.window.as_secs_f64();
    Ok(LoadResult {
        client: match args.client {
            RustClient::Sdk => "sdk",
            RustClient::SdkRetry => "sdk-retry",
            RustClient::Raw => "raw",
        }
        .to_string(),
        workload: args.workload.name().to_string(),
        concurrency: args.concurrency,
        requests: lat.len() as u64,
        errors: tally.errors,
        elapsed_s: secs,
        rps: lat.len() as f64 / secs,
        p50_ms: percentile(&lat, 50.0) / 1000.0,
        p99_ms: percentile(&lat, 99.0) / 1000.0,
        peak_rss_kb: peak_rss_kb(),
        first_error: tally.first_error,
    })
}

/// The raw load generator: a hyper (legacy, keep-alive, pooled) client sending the SDK's
/// captured request, reading the whole body and checking the status.
fn raw_call(target: &Target, cap: Captured) -> Result<Call, String> {
    let base: http::Uri = target.url.parse().map_err(|e| format!("bad URL: {e}"))?;
    let host = base.authority().map(|a| a.to_string()).unwrap_or_default();
    let uri: http::Uri = format!("{}{}", target.url.trim_end_matches('/'), cap.target)
        .parse()
        .map_err(|e| format!("bad request target: {e}"))?;
    let method = http::Method::from_bytes(cap.method.as_bytes()).map_err(|e| e.to_string())?;
    let mut headers = http::HeaderMap::new();
    for (k, v) in &cap.headers {
        let name = http::HeaderName::from_bytes(k.as_bytes()).map_err(|e| e.to_string())?;
        let value = if name == http::header::HOST {
            http::HeaderValue::from_str(&host)
        } else {
            http::HeaderValue::from_str(v)
        }
        .map_err(|e| e.to_string())?;
        headers.append(name, value);
    }
    let body = Bytes::from(cap.body);
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector);
    Ok(Arc::new(move || {
        let mut req = http::Request::new(Full::new(body.clone()));
        *req.method_mut() = method.clone();
        *req.uri_mut() = uri.clone();
        *req.headers_mut() = headers.clone();
        let client = client.clone();
        Box::pin(async move {
            let resp = client.request(req).await.map_err(|e| e.to_string())?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            if status != http::StatusCode::OK || body.is_empty() {
                return Err(format!("HTTP {status}, {} bytes", body.len()));
            }
            Ok(())
        })
    }))
}

/// The request the SDK sends for `workload`, captured from one real call.
pub fn capture_sdk_request(
    target: &Target,
    workload: Workload,
    biz: i64,
) -> Result<Captured, String> {
    let rt = runtime()?;
    let reply = r#"{"result":true,"code":0,"message":"","data":{"bk_username":"admin","count":0,"info":[]},"request_id":"capture"}"#;
    let bytes = crate::capture::capture(reply, |url| {
        let client = {
            let _g = rt.enter();
            target.sdk_client(&url)
        };
        if let Ok(client) = client {
            let _ = rt.block_on(sdk_call(&client, workload, biz));
        }
    })?;
    Captured::parse(&bytes)
}

/// Full CMDB host sync with the SDK: every business (`search_business`), then every host of
/// each with its placement (`list_biz_hosts_topo`, 500 per page, `concurrency` pages in
/// flight), all kept in memory.
pub fn run_sync(target: &Target, concurrency: usize) -> Result<SyncResult, String> {
    let rt = runtime()?;
    let client = {
        let _g = rt.enter();
        target.sdk_client(&target.url)?
    };
    let started = Instant::now();
    let (hosts, calls) = rt.block_on(async {
        let bizs: Vec<_> = client
            .cc()
            .search_business()
            .fields(vec!["bk_biz_id".into()])
            .items()
            .try_collect()
            .await
            .map_err(|e| e.to_string())?;
        let mut calls = 1 + bizs.len() as u64 / 200;
        let mut all: Vec<HostTopo> = Vec::new();
        for biz in bizs.iter().filter_map(|b| b.bk_biz_id) {
            let hosts = client
                .cc()
                .list_biz_hosts_topo(biz, page(0), fields())
                .concurrency(concurrency)
                .all()
                .await
                .map_err(|e| e.to_string())?;
            calls += (hosts.len() as u64).div_ceil(PAGE_SIZE as u64).max(1);
            all.extend(hosts);
        }
        Ok::<_, String>((all, calls))
    })?;
    let wall = started.elapsed();
    let result = SyncResult {
        client: "sdk".into(),
        concurrency,
        hosts: hosts.len() as u64,
        calls,
        wall_s: wall.as_secs_f64(),
        peak_rss_kb: peak_rss_kb(),
        watch_p50_ms: None,
        watch_p99_ms: None,
    };
    drop(hosts);
    Ok(result)
}

/// Changes made to measure the watch latency of the mirror.
pub const WATCH_PROBES: usize = 30;

/// Full sync of the topology mirror (`bk_cc::mirror`, in memory, `concurrency` pages of
/// hosts in flight), then the watch latency: the mirror follows `resource_watch` while
/// `update_host` changes one host at a time; each probe is the time from the change being
/// sent to the mirror's snapshot showing it (an upper bound: the update's own round trip is
/// included).
pub fn run_mirror_sync(target: &Target, concurrency: usize) -> Result<SyncResult, String> {
    use bk_sdk::cc::mirror::{MemoryStore, Mirror, MirrorConfig};
    let rt = runtime()?;
    let client = {
        let _g = rt.enter();
        target.sdk_client(&target.url)?
    };
    rt.block_on(async {
        let started = Instant::now();
        let mirror = Mirror::open(
            &client,
            MemoryStore::new(),
            MirrorConfig {
                page_concurrency: concurrency,
                ..MirrorConfig::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
        let wall = started.elapsed();
        let peak = peak_rss_kb();
        let topo = mirror.snapshot();
        let hosts = topo.host_count() as u64;
        let calls = client_calls_estimate(&topo);
        let probe_ids: Vec<i64> = topo
            .hosts()
            .step_by((topo.host_count() / WATCH_PROBES).max(1))
            .take(WATCH_PROBES)
            .map(|h| h.bk_host_id)
            .collect();
        drop(topo);
        let mirror = Arc::new(mirror);
        let watcher = mirror.clone();
        let task = tokio::spawn(async move { watcher.run().await });
        // Let the first long polls reach the simulator.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut lat = Vec::with_capacity(probe_ids.len());
        for (i, id) in probe_ids.iter().enumerate() {
            let mark = format!("bench-watch-{i}");
            // From the change being sent: includes update_host's own round trip, because the
            // simulator can hand the event to the mirror's waiting poll before it answers.
            let t = Instant::now();
            client
                .cc()
                .update_host(id.to_string())
                .data(bk_sdk::cc::HostAttributeUpdate {
                    bk_comment: Some(mark.clone()),
                    ..Default::default()
                })
                .send()
                .await
                .map_err(|e| e.to_string())?;
            loop {
                let seen = mirror
                    .snapshot()
                    .host(*id)
                    .is_some_and(|h| h.attr_str("bk_comment") == Some(mark.as_str()));
                if seen {
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    break;
                }
                if t.elapsed() > Duration::from_secs(30) {
                    task.abort();
                    return Err(format!("host {id}: change not seen by the mirror in 30 s"));
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        }
        task.abort();
        lat.sort_by(f64::total_cmp);
        let pct = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize];
        Ok(SyncResult {
            client: "mirror".into(),
            concurrency,
            hosts,
            calls,
            wall_s: wall.as_secs_f64(),
            peak_rss_kb: peak,
            watch_p50_ms: (!lat.is_empty()).then(|| pct(0.5)),
            watch_p99_ms: (!lat.is_empty()).then(|| pct(0.99)),
        })
    })
}

/// Calls of a mirror's full sync: mainline, businesses, per business its topology, idle
/// set and host pages.
fn client_calls_estimate(topo: &bk_sdk::cc::mirror::Topology) -> u64 {
    let mut calls = 2u64;
    for b in topo.bizs() {
        let hosts = topo.hosts_in_biz(b.bk_biz_id).len() as u64;
        calls += 2 + hosts.div_ceil(PAGE_SIZE as u64).max(1);
    }
    calls
}

/// Serves bk-sim on loopback with `hosts` hosts; prints `url=`, `app_code=`, `app_secret=`,
/// `username=` lines, then serves until standard input closes.
pub fn serve_sim(hosts: usize, seed: u64) -> Result<(), String> {
    use std::io::{Read as _, Write as _};
    let rt = runtime()?;
    let sim = {
        let _g = rt.enter();
        bk_sim::spawn(bk_sim::SimConfig {
            state: bk_sim::StateConfig {
                hosts,
                seed,
                ..bk_sim::StateConfig::default()
            },
            request_log_capacity: 0,
            ..bk_sim::SimConfig::default()
        })
        .map_err(|e| format!("cannot start bk-sim: {e}"))?
    };
    let h = sim.handle();
    {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "url={}\napp_code={}\napp_secret={}\nusername={}",
            sim.url(),
            h.app_code(),
            h.app_secret(),
            h.username()
        )
        .and_then(|_| out.flush())
        .map_err(|e| e.to_string())?;
    }
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    rt.block_on(sim.shutdown());
    Ok(())
}
