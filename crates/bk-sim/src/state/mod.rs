//! The stateful core flows of the simulator: CC topology and resource watch, JOB runs,
//! GSE agents, ITSM tickets, login. APIs that no module here handles are answered from
//! their spec (example or synthesized data).
//!
//! [`State`] is cheap to share (`Send + Sync`, used behind an `Arc`); every flow keeps its
//! data behind short-lived locks that are never held across an `.await`. Everything that is
//! generated (topology, agent liveness, users) is a pure function of [`StateConfig::seed`].

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

pub mod callback;
pub mod cc;
pub mod filter;
pub mod gse;
pub mod itsm;
pub mod job;
pub mod job_v2;
pub mod login;
pub mod params;
pub mod rng;
pub mod time;
pub mod topo;
pub mod watch;

pub use callback::CallbackRecord;
pub use cc::HostSnapshot;
pub use itsm::TicketSummary;
pub use job::{HostSelector, JobSummary};
pub use topo::NewHost;

/// One authenticated, validated call, as the protocol layer hands it to the state.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    /// ESB component name (`cc`).
    pub component: &'a str,
    /// API name (`list_biz_hosts_topo`).
    pub api: &'a str,
    /// The request parameters (query for GET, JSON body for POST), auth keys removed.
    pub params: &'a Value,
    /// The authenticated user, when the call carried user auth.
    pub username: Option<&'a str>,
    /// The request id the envelope will carry.
    pub request_id: &'a str,
}

/// What the state answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `result: true` with this `data`.
    Data(Value),
    /// `result: false` with this code and message.
    Error {
        /// Component or ESB error code.
        code: i64,
        /// Message.
        message: String,
        /// IAM permission object, for permission errors.
        permission: Option<Value>,
    },
}

impl Outcome {
    /// An error without a permission object.
    pub fn error(code: i64, message: impl Into<String>) -> Outcome {
        Outcome::Error {
            code,
            message: message.into(),
            permission: None,
        }
    }

    /// The `data` of a success, `None` for an error.
    pub fn data(&self) -> Option<&Value> {
        match self {
            Outcome::Data(v) => Some(v),
            Outcome::Error { .. } => None,
        }
    }

    /// The code of an error, `None` for a success.
    pub fn code(&self) -> Option<i64> {
        match self {
            Outcome::Data(_) => None,
            Outcome::Error { code, .. } => Some(*code),
        }
    }
}

/// Setup of the stateful flows. Every field has a default ([`StateConfig::default`]).
#[derive(Debug, Clone)]
pub struct StateConfig {
    /// Number of generated CMDB hosts (default 1000).
    pub hosts: usize,
    /// Seed of every generated value (default 42).
    pub seed: u64,
    /// The default user of the platform (default `admin`); always a known login user.
    pub username: String,
    /// Simulated time per JOB status step (default 200 ms): a job waits one step, runs one
    /// step per job step, then ends.
    pub job_step: Duration,
    /// Longest `resource_watch` long poll (default 20 s).
    pub watch_timeout: Duration,
    /// How long `resource_watch` events are kept (default 3 h).
    pub event_ttl: Duration,
    /// Share of hosts whose GSE agent is offline, in per mille (default 50, i.e. 5 %).
    pub offline_per_mille: u32,
    /// JOB runs fail on hosts whose agent is offline (host status 1, agent error), as the
    /// real JOB does (default `true`).
    pub job_fail_offline_agents: bool,
    /// ITSM tickets that nobody operates are approved (FINISHED, approve_result true) this
    /// long after creation (default `Some(2 s)`); `None` keeps them RUNNING until
    /// [`State::approve`] or `operate_ticket`.
    pub itsm_auto_approve: Option<Duration>,
    /// Base of ITSM ticket links (default `http://bk-sim.invalid/o/bk_itsm`).
    pub itsm_base_url: String,
    /// Timeout of one approval callback POST (default 5 s).
    pub callback_timeout: Duration,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            hosts: 1000,
            seed: 42,
            username: "admin".to_string(),
            job_step: Duration::from_millis(200),
            watch_timeout: Duration::from_secs(20),
            event_ttl: Duration::from_secs(3 * 3600),
            offline_per_mille: 50,
            job_fail_offline_agents: true,
            itsm_auto_approve: Some(Duration::from_secs(2)),
            itsm_base_url: "http://bk-sim.invalid/o/bk_itsm".to_string(),
            callback_timeout: Duration::from_secs(5),
        }
    }
}

/// Shared inner data; spawned tasks (callbacks) hold an `Arc` of it.
pub(crate) struct Inner {
    pub(crate) cfg: StateConfig,
    pub(crate) cc: cc::CcState,
    pub(crate) job: job::JobState,
    pub(crate) gse: gse::GseState,
    pub(crate) itsm: itsm::ItsmState,
    pub(crate) login: login::LoginState,
    pub(crate) callbacks: callback::CallbackLog,
}

/// The simulator's state: CMDB, JOB, GSE, ITSM and login.
#[derive(Clone)]
pub struct State {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("hosts", &self.inner.cfg.hosts)
            .field("seed", &self.inner.cfg.seed)
            .finish_non_exhaustive()
    }
}

impl State {
    /// Builds the state: generates the topology, users and agents from `cfg.seed`.
    pub fn new(cfg: StateConfig) -> State {
        let cc = cc::CcState::new(&cfg);
        let login = login::LoginState::new(&cfg);
        State {
            inner: Arc::new(Inner {
                cc,
                job: job::JobState::default(),
                gse: gse::GseState::default(),
                itsm: itsm::ItsmState::default(),
                login,
                callbacks: callback::CallbackLog::default(),
                cfg,
            }),
        }
    }

    /// The configuration the state was built with.
    pub fn config(&self) -> &StateConfig {
        &self.inner.cfg
    }

    /// Answers a stateful API; `None` when `call` is not one (the protocol layer then
    /// answers from the spec).
    pub async fn handle(&self, call: &Call<'_>) -> Option<Outcome> {
        match call.component {
            "cc" => {
                if call.api == "resource_watch" {
                    return Some(watch::resource_watch(self, call.params).await);
                }
                cc::handle(self, call)
            }
            "jobv3" => job::handle(self, call),
            "job" => job_v2::handle(self, call),
            "gse" => gse::handle(self, call),
            "itsm" => itsm::handle(self, call),
            "bk_login" | "bk_paas" => login::handle(self, call),
            _ => None,
        }
    }

    /// Issues a `bk_token` that the login accepts for `username` (`is_login`, user auth).
    pub fn issue_token(&self, username: &str) -> String {
        self.inner.login.issue_token(self.inner.cfg.seed, username)
    }

    /// The user a `bk_token` belongs to; `None` for an unknown token.
    pub fn token_user(&self, bk_token: &str) -> Option<String> {
        self.inner.login.token_user(bk_token)
    }
}
