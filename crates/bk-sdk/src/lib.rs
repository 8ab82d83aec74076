//! The BlueKing platform SDK: one typed client per component, behind cargo features
//! named like the components (all on by default).
//!
//! ```no_run
//! use bk_sdk::prelude::*;
//!
//! # async fn demo() -> Result<(), bk_sdk::Error> {
//! let client = bk_sdk::Client::from_env()?;
//! let user = client.bk_login().get_user().send().await?;
//! println!("{}", user.bk_username);
//! # Ok(())
//! # }
//! ```

// Generated code is formatted by the generator (prettyplease), not by rustfmt.
#[rustfmt::skip]
mod generated;
pub use generated::*;
