//! Typed client for the BlueKing `itsm` component: IT service management (bk-itsm tickets and approvals).
//!
//! Everything under `generated` comes from `specs/itsm/` (`cargo xtask gen`); hand-written
//! helpers live beside it.
//!
//! ```no_run
//! use bk_itsm::ItsmExt;
//!
//! # async fn demo() -> Result<(), bk_runtime::Error> {
//! let client = bk_runtime::Client::from_env()?;
//! let _api = client.itsm();
//! # Ok(())
//! # }
//! ```

#[rustfmt::skip]
mod generated;
pub use generated::*;

pub mod wait;

#[cfg(feature = "callback")]
pub mod callback;
