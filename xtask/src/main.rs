//! Project tasks. Run `cargo xtask --help`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};

mod coverage;
mod gen;
mod import_apidoc;
mod test;

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
    /// Print spec coverage per component against the official inventory and docs; fails
    /// when an inventory API has no spec.
    Coverage {
        /// The reference folder with inventory.tsv and apidocs/ (default: ../shared/reference).
        #[arg(long)]
        reference: Option<PathBuf>,
    },
    /// Turn official docs into spec skeletons (or fill what is missing in existing specs;
    /// hand-written parts are never overwritten).
    ImportApidoc {
        /// The component the docs belong to (`cc`, `jobv3`, ...).
        component: String,
        /// The doc files (`../shared/reference/apidocs/cc/list_biz_hosts_topo.md` ...).
        #[arg(required = true)]
        docs: Vec<PathBuf>,
        /// The official SDKs' inventory (default: ../shared/reference/inventory.tsv).
        #[arg(long)]
        inventory: Option<PathBuf>,
    },
    /// Run the whole test suite (prepares the Python virtualenv the interop test needs).
    Test {
        /// Extra arguments for `cargo test`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
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
        Command::Coverage { reference } => {
            let reference = reference.unwrap_or_else(|| root.join("../shared/reference"));
            let bundle = match bk_codegen::load_dir(&root.join("specs"), &root) {
                Ok(b) => b,
                Err(d) => {
                    eprintln!("{d}");
                    return ExitCode::FAILURE;
                }
            };
            match coverage::run(&bundle, &reference) {
                Ok(table) => {
                    println!("{table}");
                    ExitCode::SUCCESS
                }
                Err(table) => {
                    println!("{table}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::ImportApidoc { component, docs, inventory } => {
            let inventory = inventory.unwrap_or_else(|| root.join("../shared/reference/inventory.tsv"));
            let rows = match import_apidoc::load_inventory(&inventory) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("import-apidoc: {e}");
                    return ExitCode::from(2);
                }
            };
            match import_apidoc::run(&root.join("specs"), &component, &docs, &rows) {
                Ok(reports) => {
                    let mut written = 0;
                    for r in &reports {
                        written += usize::from(r.written);
                        let state = if r.written { "written" } else { "unchanged" };
                        println!("{state}: {}", r.file.display());
                        for p in &r.problems {
                            println!("  could not parse: {p}");
                        }
                    }
                    eprintln!("{} docs, {written} spec files written", reports.len());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("import-apidoc: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Test { args } => match test::run_tests(&root, &args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("xtask test: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
