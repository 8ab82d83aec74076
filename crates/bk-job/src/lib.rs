//! Typed client for the BlueKing `job` component: Job platform v2 (legacy): scripts, file transfers, job plans and crons.
//!
//! Everything under `generated` comes from `specs/job/` (`cargo xtask gen`); hand-written
//! helpers live beside it.
//!
//! ```no_run
//! use bk_job::JobExt;
//!
//! # async fn demo() -> Result<(), bk_runtime::Error> {
//! let client = bk_runtime::Client::from_env()?;
//! let _api = client.job();
//! # Ok(())
//! # }
//! ```

#[rustfmt::skip]
mod generated;
pub use generated::*;

pub mod run;
