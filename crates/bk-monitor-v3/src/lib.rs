//! Typed client for the BlueKing `monitor_v3` component: Monitoring platform v3: alarm strategies, shields, metadata, uptime checks, collection.
//!
//! Everything under `generated` comes from `specs/monitor_v3/` (`cargo xtask gen`); hand-written
//! helpers live beside it.
//!
//! ```no_run
//! use bk_monitor_v3::MonitorV3Ext;
//!
//! # async fn demo() -> Result<(), bk_runtime::Error> {
//! let client = bk_runtime::Client::from_env()?;
//! let _api = client.monitor_v3();
//! # Ok(())
//! # }
//! ```

#[rustfmt::skip]
mod generated;
pub use generated::*;
