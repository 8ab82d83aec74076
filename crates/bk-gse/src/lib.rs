//! Typed client for the BlueKing `gse` component: BlueKing GSE agent status and process management.
//!
//! Everything under `generated` comes from `specs/gse/` (`cargo xtask gen`); hand-written
//! helpers live beside it.
//!
//! ```no_run
//! use bk_gse::GseExt;
//!
//! # async fn demo() -> Result<(), bk_runtime::Error> {
//! let client = bk_runtime::Client::from_env()?;
//! let _api = client.gse();
//! # Ok(())
//! # }
//! ```

#[rustfmt::skip]
mod generated;
pub use generated::*;

pub mod agents;

pub mod proc;
