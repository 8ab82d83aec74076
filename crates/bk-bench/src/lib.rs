//! The benchmark harness behind `cargo xtask bench`.
//!
//! One binary, `bk-bench`, plays every part, each in its own process so that the
//! simulator never competes with a client for the same runtime and every client's peak RSS
//! is its own:
//!
//! - `bk-bench` (no subcommand): the orchestrator ([`orchestrate`]). Starts the simulator,
//!   runs every driver several times, side by side, and writes `BENCHMARKS.md` and the
//!   SVG chart ([`report`]).
//! - `bk-bench sim`: bk-sim on loopback ([`drive::serve_sim`]); prints its URL, stops when
//!   its standard input closes.
//! - `bk-bench load`: a Rust load driver ([`drive::run_load`]): this SDK, or the raw hyper
//!   client replaying the SDK's captured request bytes ([`capture`]).
//! - `bk-bench sync`: a full CMDB host sync with this SDK ([`drive::run_sync`]).
//!
//! The Python peers (`python/drivers.py`: the official `bkapi-client-core`, and a classic
//! requests-based ComponentClient) print the same JSON as the Rust drivers.

pub mod capture;
pub mod drive;
pub mod fixtures;
pub mod orchestrate;
pub mod report;
pub mod stats;

use serde::{Deserialize, Serialize};

/// Host attributes asked for by the `list_biz_hosts_topo` workload and the sync, by every
/// client.
pub const HOST_FIELDS: &[&str] = &[
    "bk_host_id",
    "bk_host_innerip",
    "bk_host_outerip",
    "bk_cloud_id",
    "bk_host_name",
    "bk_os_type",
    "bk_os_name",
    "operator",
    "bk_bak_operator",
];

/// Hosts per page of the `list_biz_hosts_topo` workload and of the sync (the API's maximum).
pub const PAGE_SIZE: i64 = 500;

/// What one load driver run measured (the JSON line every driver prints).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadResult {
    /// `raw`, `sdk`, `bkapi` or `classic`.
    pub client: String,
    /// `get_user` or `hosts_topo`.
    pub workload: String,
    /// Requests in flight.
    pub concurrency: usize,
    /// Requests completed inside the measuring window.
    pub requests: u64,
    /// Requests that failed inside the window (transport error, non-200, `result: false`).
    pub errors: u64,
    /// Length of the measuring window, seconds.
    pub elapsed_s: f64,
    /// `requests / elapsed_s`.
    pub rps: f64,
    /// Median latency of the window's requests, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
    /// Peak resident set of the driver process (`VmHWM`), KiB.
    pub peak_rss_kb: u64,
    /// The first error seen, if any.
    #[serde(default)]
    pub first_error: Option<String>,
}

/// What one sync run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncResult {
    /// `sdk` or `bkapi`.
    pub client: String,
    /// Pages in flight (1: sequential).
    pub concurrency: usize,
    /// Hosts received (kept in memory until the end).
    pub hosts: u64,
    /// Calls made.
    pub calls: u64,
    /// From the first call to the last host, seconds.
    pub wall_s: f64,
    /// Peak resident set of the driver process (`VmHWM`), KiB.
    pub peak_rss_kb: u64,
    /// Topology mirror runs: median time from sending a CMDB change (`update_host`) to the
    /// change being visible in the watching mirror, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch_p50_ms: Option<f64>,
    /// Topology mirror runs: 99th percentile of the same, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch_p99_ms: Option<f64>,
}
