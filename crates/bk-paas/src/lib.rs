//! Typed client for the BlueKing `bk_paas` component: BlueKing PaaS platform (apps and light apps).
//!
//! Everything under `generated` comes from `specs/bk_paas/` (`cargo xtask gen`); hand-written
//! helpers live beside it.
//!
//! ```no_run
//! use bk_paas::BkPaasExt;
//!
//! # async fn demo() -> Result<(), bk_runtime::Error> {
//! let client = bk_runtime::Client::from_env()?;
//! let _api = client.bk_paas();
//! # Ok(())
//! # }
//! ```

#[rustfmt::skip]
mod generated;
pub use generated::*;
