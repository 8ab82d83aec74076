//! Typed client for the BlueKing `cmsi` component: Messaging: mail, SMS, WeChat, voice and other notifications.
//!
//! Everything under `generated` comes from `specs/cmsi/` (`cargo xtask gen`); hand-written
//! helpers live beside it.
//!
//! ```no_run
//! use bk_cmsi::CmsiExt;
//!
//! # async fn demo() -> Result<(), bk_runtime::Error> {
//! let client = bk_runtime::Client::from_env()?;
//! let _api = client.cmsi();
//! # Ok(())
//! # }
//! ```

#[rustfmt::skip]
mod generated;
pub use generated::*;
