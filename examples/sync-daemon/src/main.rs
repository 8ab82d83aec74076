//! `bk-example-sync-daemon`: keeps `--db` (SQLite) a current mirror of the CMDB topology
//! and logs every change, until Ctrl-C.
//!
//! Against a BlueKing deployment the client comes from the environment
//! (`bk_runtime::ClientBuilder::from_env`: `BK_COMPONENT_API_URL`, `BK_APP_CODE`,
//! `BK_APP_SECRET`, `BK_USERNAME`, ...). With `--sim` (or `BK_EXAMPLE_SIM=1`) an embedded
//! bk-sim is started on loopback instead, and `--sim-churn` makes it change its topology
//! now and then so that there is something to log.

use std::path::PathBuf;
use std::time::Duration;

use bk_example_sync_daemon::{Daemon, DaemonConfig};
use bk_runtime::{ClientBuilder, UserAuth};
use bk_sim::{SimConfig, StateConfig};
use clap::Parser;

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "Keep a SQLite mirror of the CMDB topology current, logging changes")]
struct Args {
    /// The SQLite file of the mirror (created when missing).
    #[arg(long, env = "BK_MIRROR_DB", default_value = "cmdb-mirror.db")]
    db: PathBuf,
    /// Start an embedded bk-sim on loopback instead of using BK_COMPONENT_API_URL.
    #[arg(long, env = "BK_EXAMPLE_SIM")]
    sim: bool,
    /// With --sim: move a host to another module every this many seconds (0: never).
    #[arg(long, default_value_t = 3)]
    sim_churn: u64,
}

/// Moves one host of the simulator to another module of its business, round robin.
fn churn(sim: &bk_sim::SimHandle, step: usize) {
    let st = sim.state();
    let hosts = st.snapshot_hosts();
    if hosts.is_empty() {
        return;
    }
    let h = &hosts[step % hosts.len()];
    let modules = st.modules_of(h.bk_biz_id);
    let Some(target) = modules
        .iter()
        .map(|m| m.0)
        .find(|m| !h.bk_module_ids.contains(m))
    else {
        return;
    };
    if let Err(e) = st.move_host(h.bk_host_id, target) {
        tracing::debug!(error = %e, "sim churn skipped a host");
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let mut _sim = None;
    let builder = if args.sim {
        let sim = bk_sim::spawn(SimConfig {
            state: StateConfig {
                hosts: 500,
                watch_timeout: Duration::from_secs(2),
                ..StateConfig::default()
            },
            ..SimConfig::default()
        })?;
        let h = sim.handle();
        tracing::info!(url = %sim.url(), "embedded bk-sim started");
        if args.sim_churn > 0 {
            let every = Duration::from_secs(args.sim_churn);
            let h = h.clone();
            tokio::spawn(async move {
                let mut step = 0usize;
                loop {
                    tokio::time::sleep(every).await;
                    churn(&h, step);
                    step += 7;
                }
            });
        }
        let b = ClientBuilder::new()
            .endpoint(sim.url())
            .app_code(h.app_code())
            .app_secret(h.app_secret())
            .user(UserAuth::BkUsername(h.username().to_string()));
        _sim = Some(sim);
        b
    } else {
        ClientBuilder::from_env()?
    };
    let client = builder.build()?;
    let daemon = Daemon::open(&client, &args.db, DaemonConfig::default()).await?;
    daemon
        .run(async {
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::warn!(error = %e, "cannot listen for Ctrl-C; stopping");
            }
        })
        .await;
    Ok(())
}
