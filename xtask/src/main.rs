//! Project tasks. Run `cargo xtask --help`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};

mod gen;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "blueking-rs project tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Regenerate every generated file from specs/.
    Gen {
        /// Write nothing; exit non-zero and name each file that is stale or missing.
        #[arg(long)]
        check: bool,
        /// The specs folder (default: specs/ of the workspace).
        #[arg(long)]
        specs: Option<PathBuf>,
    },
}

/// The workspace root: the parent of this crate's folder.
fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = workspace_root();
    match cli.command {
        Command::Gen { check, specs } => {
            let started = Instant::now();
            let specs = specs.unwrap_or_else(|| root.join("specs"));
            match gen::run(&root, &specs, check) {
                Ok(report) => {
                    eprintln!("{report} in {:.2?}", started.elapsed());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
