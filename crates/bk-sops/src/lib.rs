//! Typed client for the BlueKing `sops` component: Standard operations (SOPS): flow templates, tasks and periodic tasks.
//!
//! Everything under `generated` comes from `specs/sops/` (`cargo xtask gen`); hand-written
//! helpers live beside it.
//!
//! ```no_run
//! use bk_sops::SopsExt;
//!
//! # async fn demo() -> Result<(), bk_runtime::Error> {
//! let client = bk_runtime::Client::from_env()?;
//! let _api = client.sops();
//! # Ok(())
//! # }
//! ```

#[rustfmt::skip]
mod generated;
pub use generated::*;
