//! Typed client for the BlueKing `cc` component: Configuration platform (bk-cmdb).
//!
//! Everything under `generated` comes from `specs/cc/` (`cargo xtask gen`); hand-written
//! helpers live beside it.
//!
//! ```no_run
//! use bk_cc::CcExt;
//!
//! # async fn demo() -> Result<(), bk_runtime::Error> {
//! let client = bk_runtime::Client::from_env()?;
//! let _api = client.cc();
//! # Ok(())
//! # }
//! ```

#[rustfmt::skip]
mod generated;
pub use generated::*;

pub mod mirror;
