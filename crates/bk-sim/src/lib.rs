//! `bk-sim`: a protocol-faithful local simulator of the BlueKing ESB.
//!
//! A real HTTP server on loopback that speaks the ESB protocol (`PROTOCOL.md` 1-2): v1 and
//! v2 URLs, GET query and POST JSON/form parameters, app auth by secret or signature, user
//! auth by `bk_token`, `bk_username` or `access_token`, the envelope with its request id,
//! ESB and CMDB error codes. Every API of the spec bundle ([`bk_spec::bundle`]) answers: its
//! parameters are validated against the spec, then the stateful flows ([`state`]) answer
//! what they model and everything else is answered from the spec's `example` or data
//! synthesized from the response schema ([`synth`]). Faults ([`faults`]) can be injected by
//! configuration or at run time.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let sim = bk_sim::spawn(bk_sim::SimConfig::default())?;
//! println!("BK_COMPONENT_API_URL={}", sim.url());
//! let token = sim.handle().issue_token("admin");
//! # let _ = token;
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod auth;
pub mod config;
pub mod envelope;
pub mod faults;
pub mod gateway;
pub mod route;
mod server;
pub mod signature;
pub mod state;
pub mod synth;
pub mod validate;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

pub use config::{SimConfig, DEMO_APP_CODE, DEMO_APP_SECRET};
pub use faults::{FaultKind, FaultPlan, FaultRule, Target, Trigger};
pub use state::{State, StateConfig};

use faults::FaultEngine;
use signature::NonceCache;

/// Locks a mutex, recovering the data if a panicking thread poisoned it (the simulator's
/// counters and logs stay usable).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Counters of a running simulator ([`SimHandle::stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Every HTTP request received, unknown paths included.
    pub requests: u64,
    /// Calls per routed API (`"cc.search_business"`), counted on arrival, before faults
    /// and auth.
    pub calls: BTreeMap<String, u64>,
    /// Injected faults per kind ([`FaultKind::name`]: `"http503"`, `"reset-before"`, ...).
    pub faults: BTreeMap<String, u64>,
    /// Calls that passed auth and validation and were executed (reached the state or the
    /// spec answer).
    pub executions: u64,
    /// [`Stats::executions`] per API.
    pub executions_per_api: BTreeMap<String, u64>,
}

impl Stats {
    /// Calls of one API (`"cc.search_business"`), 0 when none.
    pub fn calls_of(&self, api: &str) -> u64 {
        self.calls.get(api).copied().unwrap_or(0)
    }

    /// Executions of one API, 0 when none.
    pub fn executions_of(&self, api: &str) -> u64 {
        self.executions_per_api.get(api).copied().unwrap_or(0)
    }

    /// Injected faults of one kind, 0 when none.
    pub fn faults_of(&self, kind: &str) -> u64 {
        self.faults.get(kind).copied().unwrap_or(0)
    }
}

/// What answered an executed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerSource {
    /// The stateful flows ([`State::handle`]).
    State,
    /// The spec's `example`.
    Example,
    /// Data synthesized from the spec's response schema.
    Synthesized,
}

/// One request as the simulator saw it ([`SimHandle::requests`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    /// When it arrived.
    pub at: SystemTime,
    /// The request id of the answer (also when the answer was never sent).
    pub request_id: String,
    /// HTTP method.
    pub method: String,
    /// Path as sent.
    pub path: String,
    /// `component.api` when the path named a spec'd API.
    pub api: Option<String>,
    /// HTTP status answered; `None` when the connection was dropped instead.
    pub status: Option<u16>,
    /// Envelope (or gateway) code, when the body had one.
    pub code: Option<i64>,
    /// Name of the injected fault, if any.
    pub fault: Option<String>,
    /// Whether the call was executed.
    pub executed: bool,
    /// What answered it, when it was executed.
    pub source: Option<AnswerSource>,
    /// The authenticated app.
    pub app_code: Option<String>,
    /// The authenticated user.
    pub username: Option<String>,
}

pub(crate) struct Inner {
    pub(crate) app_code: String,
    pub(crate) app_secret: String,
    pub(crate) username: String,
    pub(crate) trust_bk_username: bool,
    pub(crate) test_env_available: bool,
    pub(crate) max_body_bytes: usize,
    pub(crate) log_capacity: usize,
    pub(crate) state: State,
    pub(crate) faults: Mutex<(u64, FaultEngine)>,
    pub(crate) stats: Mutex<Stats>,
    pub(crate) log: Mutex<VecDeque<RequestRecord>>,
    pub(crate) nonces: Mutex<NonceCache>,
}

impl Inner {
    pub(crate) fn record(&self, rec: RequestRecord) {
        tracing::debug!(
            request_id = %rec.request_id,
            method = %rec.method,
            path = %rec.path,
            status = ?rec.status,
            code = ?rec.code,
            fault = ?rec.fault,
            executed = rec.executed,
            "request"
        );
        if self.log_capacity == 0 {
            return;
        }
        let mut log = lock(&self.log);
        while log.len() >= self.log_capacity {
            log.pop_front();
        }
        log.push_back(rec);
    }
}

/// Access to a running simulator: its state, counters, request log and fault plan.
/// Cheap to clone; stays usable after the server stopped.
#[derive(Clone)]
pub struct SimHandle {
    inner: Arc<Inner>,
    url: String,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("url", &self.url)
            .field("app_code", &self.inner.app_code)
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    /// Base URL, e.g. `http://127.0.0.1:43817` (the value of `BK_COMPONENT_API_URL`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The simulated platform's state (CMDB, JOB, GSE, ITSM, login).
    pub fn state(&self) -> &State {
        &self.inner.state
    }

    /// The app code the simulator accepts.
    pub fn app_code(&self) -> &str {
        &self.inner.app_code
    }

    /// The app secret the simulator accepts.
    pub fn app_secret(&self) -> &str {
        &self.inner.app_secret
    }

    /// The default user.
    pub fn username(&self) -> &str {
        &self.inner.username
    }

    /// Issues a `bk_token` (also usable as a header `access_token`) for `username`.
    pub fn issue_token(&self, username: &str) -> String {
        self.inner.state.issue_token(username)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        lock(&self.inner.stats).clone()
    }

    /// Sets every counter back to zero.
    pub fn reset_stats(&self) {
        *lock(&self.inner.stats) = Stats::default();
    }

    /// The remembered requests, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.inner.log).iter().cloned().collect()
    }

    /// Forgets the remembered requests.
    pub fn clear_requests(&self) {
        lock(&self.inner.log).clear();
    }

    /// The fault plan in force.
    pub fn faults(&self) -> FaultPlan {
        let g = lock(&self.inner.faults);
        g.1.plan(g.0)
    }

    /// Replaces the fault plan (its counters and RNG start afresh).
    pub fn set_faults(&self, plan: FaultPlan) {
        let seed = plan.seed;
        *lock(&self.inner.faults) = (seed, FaultEngine::new(plan));
    }

    /// Adds one rule at the end of the plan.
    pub fn add_fault(&self, rule: FaultRule) {
        lock(&self.inner.faults).1.push(rule);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        let mut g = lock(&self.inner.faults);
        let seed = g.0;
        *g = (
            seed,
            FaultEngine::new(FaultPlan {
                seed,
                rules: Vec::new(),
            }),
        );
    }
}

/// A running simulator. Stops when dropped, or with [`Sim::shutdown`].
#[derive(Debug)]
pub struct Sim {
    handle: SimHandle,
    addr: SocketAddr,
    server: Option<server::Server>,
}

impl Sim {
    /// Base URL, e.g. `http://127.0.0.1:43817`.
    pub fn url(&self) -> String {
        self.handle.url.clone()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle to the state, counters, request log and faults.
    pub fn handle(&self) -> SimHandle {
        self.handle.clone()
    }

    /// Stops accepting, closes every connection (in-flight calls are dropped) and waits for
    /// the server task to end.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop();
        }
    }
}

/// Starts a simulator: binds `config.addr` and serves on the current Tokio runtime.
///
/// `config.username` becomes the state's default user. Must be called from inside a Tokio
/// runtime (an error otherwise).
pub fn spawn(config: SimConfig) -> std::io::Result<Sim> {
    let rt = tokio::runtime::Handle::try_current()
        .map_err(|e| std::io::Error::other(format!("bk_sim::spawn needs a Tokio runtime: {e}")))?;
    let std_listener = std::net::TcpListener::bind(config.addr)?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let listener = {
        let _guard = rt.enter();
        tokio::net::TcpListener::from_std(std_listener)?
    };
    let mut state_cfg = config.state;
    state_cfg.username = config.username.clone();
    let seed = config.faults.seed;
    let inner = Arc::new(Inner {
        app_code: config.app_code,
        app_secret: config.app_secret,
        username: config.username,
        trust_bk_username: config.trust_bk_username,
        test_env_available: config.test_env_available,
        max_body_bytes: config.max_body_bytes,
        log_capacity: config.request_log_capacity,
        state: State::new(state_cfg),
        faults: Mutex::new((seed, FaultEngine::new(config.faults))),
        stats: Mutex::new(Stats::default()),
        log: Mutex::new(VecDeque::new()),
        nonces: Mutex::new(NonceCache::default()),
    });
    let url = format!("http://{addr}");
    let server = server::Server::start(&rt, listener, inner.clone());
    Ok(Sim {
        handle: SimHandle { inner, url },
        addr,
        server: Some(server),
    })
}
