//! `bk-bench`: the benchmark harness of `cargo xtask bench`. Without a subcommand it is the
//! orchestrator; the subcommands are the processes it starts.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use bk_bench::capture::Captured;
use bk_bench::drive::{self, LoadArgs, RustClient, Target, Workload};
use bk_bench::orchestrate::{self, Settings};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "bk-bench",
    about = "Benchmarks this SDK against the official Python SDK, a classic requests client \
             and a raw hyper client on bk-sim; rewrites BENCHMARKS.md",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Args)]
struct RunArgs {
    /// CI smoke mode: 3 short runs, 20 000 hosts, no build measurements or criterion;
    /// writes target/bk-bench/BENCHMARKS.quick.md unless --out is given.
    #[arg(long)]
    quick: bool,
    /// Runs of every measurement (default 5, quick 3).
    #[arg(long)]
    runs: Option<usize>,
    /// Measuring window of each load point, seconds (default 3, quick 0.6).
    #[arg(long)]
    window: Option<f64>,
    /// Warm-up before each window, seconds (default 0.5, quick 0.25).
    #[arg(long)]
    warmup: Option<f64>,
    /// Hosts in the simulated CMDB, all synced by the sync benchmark (default 100 000,
    /// quick 20 000).
    #[arg(long)]
    hosts: Option<usize>,
    /// Python interpreter with bkapi-client-core (default: the workspace's .venv, made
    /// when missing).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Report to write (default BENCHMARKS.md of the workspace).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Skip the generation/build measurements.
    #[arg(long)]
    no_builds: bool,
    /// Skip the criterion micro-benchmarks.
    #[arg(long)]
    no_micro: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve bk-sim on loopback until standard input closes (started by the orchestrator).
    #[command(hide = true)]
    Sim {
        #[arg(long, default_value_t = 100_000)]
        hosts: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// One Rust load driver run; prints a JSON line (started by the orchestrator).
    #[command(hide = true)]
    Load {
        #[arg(long, value_enum)]
        client: RustClient,
        #[arg(long, value_parser = parse_workload)]
        workload: Workload,
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        #[arg(long, default_value_t = 0.5)]
        warmup: f64,
        #[arg(long, default_value_t = 3.0)]
        window: f64,
        #[arg(long, default_value_t = bk_bench::fixtures::BENCH_BIZ)]
        biz: i64,
        /// The captured SDK request (raw client).
        #[arg(long)]
        request: Option<PathBuf>,
    },
    /// Redraws the SVG chart from a results.json written by an earlier run.
    #[command(hide = true)]
    Chart {
        /// The results.json.
        results: PathBuf,
        /// The SVG to write.
        svg: PathBuf,
    },
    /// One SDK full-sync run; prints a JSON line (started by the orchestrator).
    #[command(hide = true)]
    Sync {
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        /// Sync with the topology mirror and measure its watch latency.
        #[arg(long)]
        mirror: bool,
    },
}

fn parse_workload(s: &str) -> Result<Workload, String> {
    match s {
        "get_user" => Ok(Workload::GetUser),
        "hosts_topo" => Ok(Workload::HostsTopo),
        _ => Err(format!("unknown workload {s:?} (get_user, hosts_topo)")),
    }
}

fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| here.to_path_buf())
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<(), String> {
    let line = serde_json::to_string(v).map_err(|e| e.to_string())?;
    println!("{line}");
    Ok(())
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Some(Cmd::Sim { hosts, seed }) => drive::serve_sim(hosts, seed),
        Some(Cmd::Load {
            client,
            workload,
            concurrency,
            warmup,
            window,
            biz,
            request,
        }) => (|| {
            let target = Target::from_env()?;
            let request = match request {
                Some(p) => Some(Captured::parse(
                    &std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?,
                )?),
                None => None,
            };
            let args = LoadArgs {
                client,
                workload,
                concurrency,
                warmup: secs(warmup),
                window: secs(window),
                biz,
                request,
            };
            print_json(&drive::run_load(&target, &args)?)
        })(),
        Some(Cmd::Sync {
            concurrency,
            mirror,
        }) => (|| {
            let target = Target::from_env()?;
            if mirror {
                print_json(&drive::run_mirror_sync(&target, concurrency)?)
            } else {
                print_json(&drive::run_sync(&target, concurrency)?)
            }
        })(),
        Some(Cmd::Chart { results, svg }) => (|| {
            let text = std::fs::read_to_string(&results)
                .map_err(|e| format!("{}: {e}", results.display()))?;
            let res: orchestrate::Results =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", results.display()))?;
            bk_bench::report::chart(&svg, &res)
        })(),
        None => orchestrate_main(cli.run),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bk-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn orchestrate_main(a: RunArgs) -> Result<(), String> {
    let root = workspace_root();
    let q = a.quick;
    let mut command = String::from("cargo xtask bench");
    let mut skip = false;
    for arg in std::env::args().skip(1) {
        if skip {
            skip = false;
            continue;
        }
        if arg == "--python" {
            skip = true;
            continue;
        }
        if arg.starts_with("--python=") {
            continue;
        }
        command.push(' ');
        command.push_str(&arg);
    }
    let settings = Settings {
        quick: q,
        runs: a.runs.unwrap_or(if q { 3 } else { 5 }).max(1),
        warmup: secs(a.warmup.unwrap_or(if q { 0.25 } else { 0.5 })),
        window: secs(a.window.unwrap_or(if q { 0.6 } else { 3.0 })),
        hosts: a.hosts.unwrap_or(if q { 20_000 } else { 100_000 }),
        python: a.python,
        builds: !q && !a.no_builds,
        micro: !q && !a.no_micro,
        out: a.out.unwrap_or_else(|| {
            if q {
                root.join("target/bk-bench/BENCHMARKS.quick.md")
            } else {
                root.join("BENCHMARKS.md")
            }
        }),
        results_dir: if q {
            root.join("target/bk-bench/quick")
        } else {
            root.join("crates/bk-bench/results")
        },
        command,
        root,
    };
    let res = orchestrate::run(&settings)?;
    eprintln!(
        "[bk-bench] done in {:.1} s; {} problem(s)",
        res.total_s,
        res.failures.len()
    );
    for f in &res.failures {
        eprintln!("[bk-bench]   {f}");
    }
    Ok(())
}
