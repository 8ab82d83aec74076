//! How a simulator is set up: address, the one known app, the default user, the state and
//! the fault plan.

use std::net::SocketAddr;

use crate::faults::FaultPlan;
use crate::StateConfig;

/// The app code the simulator knows when none is configured. Made up; not a real app.
pub const DEMO_APP_CODE: &str = "bk-sim-demo";

/// The app secret of [`DEMO_APP_CODE`]. Made up; not a real secret.
pub const DEMO_APP_SECRET: &str = "bk-sim-demo-secret-0b5e7c2a9d4f";

/// Everything [`crate::spawn`] needs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address to bind; port 0 picks a free port (default `127.0.0.1:0`).
    pub addr: SocketAddr,
    /// The one app the simulated ESB knows.
    pub app_code: String,
    /// Its secret (checked against `bk_app_secret`, and the HMAC key of signature mode).
    pub app_secret: String,
    /// The default user of the simulated platform (`admin`).
    pub username: String,
    /// Setup of the stateful flows (hosts, seed, JOB step time, watch timeout).
    pub state: StateConfig,
    /// Faults to inject from the first request on (changeable at run time through
    /// [`crate::SimHandle`]).
    pub faults: FaultPlan,
    /// The app is on the ESB's skip-user-auth whitelist, so a plain `bk_username`
    /// authenticates the user (default `true`). When `false` only `bk_token` and
    /// `access_token` do.
    pub trust_bk_username: bool,
    /// Whether a test backend exists for `X-Use-Test-Env` (default `false`: such calls get
    /// 1306206). When `true` they are answered like any other call.
    pub test_env_available: bool,
    /// Largest request body accepted, bytes (default 10 MiB); larger bodies get 1306000.
    pub max_body_bytes: usize,
    /// How many requests [`crate::SimHandle::requests`] remembers (default 10 000, oldest
    /// dropped first).
    pub request_log_capacity: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        let state = StateConfig::default();
        SimConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            app_code: DEMO_APP_CODE.to_string(),
            app_secret: DEMO_APP_SECRET.to_string(),
            username: "admin".to_string(),
            state,
            faults: FaultPlan::default(),
            trust_bk_username: true,
            test_env_available: false,
            max_body_bytes: 10 * 1024 * 1024,
            request_log_capacity: 10_000,
        }
    }
}
