//! Typed client for the BlueKing `usermanage` component: User management: users, departments and their relations.
//!
//! Everything under `generated` comes from `specs/usermanage/` (`cargo xtask gen`); hand-written
//! helpers live beside it.
//!
//! ```no_run
//! use bk_usermanage::UsermanageExt;
//!
//! # async fn demo() -> Result<(), bk_runtime::Error> {
//! let client = bk_runtime::Client::from_env()?;
//! let _api = client.usermanage();
//! # Ok(())
//! # }
//! ```

#[rustfmt::skip]
mod generated;
pub use generated::*;
