//! The blueking-rs code generator.
//!
//! `specs/**/*.yaml` --[`load`]--> [`bk_spec::Bundle`] --[`emit`]--> generated crates.
//!
//! Loading validates every file and reports every problem with `file:line:column`, the
//! offending key and a fix ([`Diagnostics`]). Emitting builds token streams with `quote`,
//! formats them with `prettyplease`, and is deterministic.

pub mod diag;
pub mod emit;
pub mod load;
pub mod names;
pub mod yaml;

pub use diag::{Diagnostic, Diagnostics};
pub use emit::{generate, GeneratedFile, Output, ScaffoldFile};
pub use load::load_dir;
