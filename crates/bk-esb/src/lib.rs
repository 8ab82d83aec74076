//! Typed client for the BlueKing `esb` component: BlueKing ESB self-description (systems, components, public key).
//!
//! Everything under `generated` comes from `specs/esb/` (`cargo xtask gen`); hand-written
//! helpers live beside it.
//!
//! ```no_run
//! use bk_esb::EsbExt;
//!
//! # async fn demo() -> Result<(), bk_runtime::Error> {
//! let client = bk_runtime::Client::from_env()?;
//! let _api = client.esb();
//! # Ok(())
//! # }
//! ```

#[rustfmt::skip]
mod generated;
pub use generated::*;
