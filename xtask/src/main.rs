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
    /// Check that a captured ESB envelope decodes into the typed response of an API (runs
    /// `bk check-response`, which is backed by the generated registries). Exit 0 when it
    /// decodes, 1 naming the failing field, 2 for an unknown API or unreadable input.
    CheckResponse {
        /// ESB component (`cc`, `jobv3`, ...).
        component: String,
        /// API name.
        api: String,
        /// File with the envelope; `-` for standard input.
        #[arg(default_value = "-")]
        file: String,
    },
    /// Run the reliability harness: bk-sim with injected faults of every kind, a mixed
    /// workload of idempotent reads and job executions; prints
    /// `calls=N faults=N retries=N ok=N failed=N duplicates=N` (duplicates counted by the
    /// simulator). Exit 0 only when every idempotent call succeeded and duplicates=0.
    FaultMatrix {
        /// Number of calls.
        #[arg(long, default_value_t = 10_000)]
        calls: usize,
        /// Fraction of calls that meet an injected fault.
        #[arg(long, default_value_t = 0.2)]
        fault_rate: f64,
    },
    /// Run the benchmarks (crates/bk-bench): this SDK, the official Python SDK, a classic
    /// requests client and a raw hyper client side by side on bk-sim, plus generation and
    /// build figures; rewrites BENCHMARKS.md. Prepares the Python virtualenv first.
    Bench {
        /// CI smoke mode (short runs, no build figures; writes target/bk-bench/BENCHMARKS.quick.md).
        #[arg(long)]
        quick: bool,
        /// Extra arguments for bk-bench (`--runs N`, `--window SECS`, `--hosts N`, ...).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
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
        Command::ImportApidoc {
            component,
            docs,
            inventory,
        } => {
            let inventory =
                inventory.unwrap_or_else(|| root.join("../shared/reference/inventory.tsv"));
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
        Command::CheckResponse {
            component,
            api,
            file,
        } => {
            // The registries live in the generated crates; building them here would make
            // `cargo xtask gen` depend on generated code, so the check runs in the `bk` binary.
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = std::process::Command::new(cargo)
                .current_dir(&root)
                .args([
                    "run",
                    "--quiet",
                    "-p",
                    "bk-cli",
                    "--",
                    "check-response",
                    &component,
                    &api,
                    &file,
                ])
                .status();
            match status {
                Ok(s) => ExitCode::from(s.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(2)),
                Err(e) => {
                    eprintln!("check-response: cannot run the bk binary: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::FaultMatrix { calls, fault_rate } => {
            // A release build of its own crate: the harness needs the simulator and the
            // generated clients, which `cargo xtask gen` must not depend on.
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = std::process::Command::new(cargo)
                .current_dir(&root)
                .args(["run", "--quiet", "--release", "-p", "bk-fault-matrix", "--"])
                .args([
                    "--calls",
                    &calls.to_string(),
                    "--fault-rate",
                    &fault_rate.to_string(),
                ])
                .status();
            match status {
                Ok(s) if s.success() => ExitCode::SUCCESS,
                Ok(_) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("fault-matrix: cannot run cargo: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Bench { quick, args } => {
            // A release build of its own crate: the harness needs the simulator and the
            // generated clients, which `cargo xtask gen` must not depend on.
            let python = match test::python_venv(&root) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("bench: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = std::process::Command::new(cargo)
                .current_dir(&root)
                .args(["run", "--quiet", "--release", "-p", "bk-bench", "--"])
                .arg("--python")
                .arg(&python)
                .args(quick.then_some("--quick"))
                .args(&args)
                .status();
            match status {
                Ok(s) if s.success() => ExitCode::SUCCESS,
                Ok(_) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("bench: cannot run cargo: {e}");
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
