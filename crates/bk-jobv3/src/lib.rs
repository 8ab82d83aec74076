//! Typed client for the BlueKing `jobv3` component: Job platform v3 (bk-job script execution, file transfer and job plans).
//!
//! Everything under `generated` comes from `specs/jobv3/` (`cargo xtask gen`); hand-written
//! helpers live beside it.
//!
//! ```no_run
//! use bk_jobv3::Jobv3Ext;
//!
//! # async fn demo() -> Result<(), bk_runtime::Error> {
//! let client = bk_runtime::Client::from_env()?;
//! let _api = client.jobv3();
//! # Ok(())
//! # }
//! ```

#[rustfmt::skip]
mod generated;
pub use generated::*;

pub mod run;
