//! The orchestrator: starts the simulator, runs every driver `runs` times side by side,
//! measures the builds and writes the report.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::drive::{self, Target, Workload};
use crate::fixtures::BENCH_BIZ;
use crate::{LoadResult, SyncResult};

/// The Python packages of the Python peers (the same pin as `cargo xtask test`).
pub const PYTHON_PACKAGES: &[&str] = &["bkapi-client-core==1.2.0"];

/// The Python driver script.
pub const PYTHON_DRIVERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/python/drivers.py");

/// Clients of the load test, in their default order within a run.
pub const CLIENTS: [&str; 4] = ["raw", "sdk", "bkapi", "classic"];

/// Concurrency levels of the load test.
pub const CONCURRENCY: [usize; 2] = [1, 64];

/// Pages in flight in the SDK's concurrent sync.
pub const SYNC_CONCURRENCY: usize = 8;

/// What the orchestrator does.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The workspace root.
    pub root: PathBuf,
    /// CI smoke mode: shorter windows, fewer hosts, no build measurements.
    pub quick: bool,
    /// Runs of every measurement (the report gives medians).
    pub runs: usize,
    /// Time before each load window.
    pub warmup: Duration,
    /// Each load window.
    pub window: Duration,
    /// Hosts of the simulated CMDB (the sync syncs them all).
    pub hosts: usize,
    /// The Python interpreter with bkapi-client-core (default: `.venv` of the workspace,
    /// made when missing).
    pub python: Option<PathBuf>,
    /// Measure `cargo xtask gen`, the clean build of bk-cc and the `bk` binary.
    pub builds: bool,
    /// Run the criterion micro-benchmarks and include their medians.
    pub micro: bool,
    /// The report to write.
    pub out: PathBuf,
    /// Where the chart, the captured requests and the raw results go.
    pub results_dir: PathBuf,
    /// The command line to print in the report.
    pub command: String,
}

/// Everything one invocation measured (also written as `results.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Results {
    /// Machine description lines.
    pub machine: Vec<(String, String)>,
    /// Tool versions of the Python peers.
    pub python: serde_json::Value,
    /// Runs made.
    pub runs: usize,
    /// Load window, seconds.
    pub window_s: f64,
    /// Warmup, seconds.
    pub warmup_s: f64,
    /// Hosts in the simulator.
    pub hosts: usize,
    /// `(run, result)` of every load driver run.
    pub load: Vec<(usize, LoadResult)>,
    /// `(run, result)` of every sync run.
    pub sync: Vec<(usize, SyncResult)>,
    /// Seconds of each `cargo xtask gen --check`.
    pub gen_s: Vec<f64>,
    /// Exit status note of `cargo xtask gen --check`.
    pub gen_note: Option<String>,
    /// Seconds of each clean (dev profile) build of bk-cc.
    pub bk_cc_build_s: Vec<f64>,
    /// Size of the release `bk` binary, bytes.
    pub bk_binary_bytes: Option<u64>,
    /// Criterion medians: `(benchmark id, nanoseconds)`.
    pub micro: Vec<(String, f64)>,
    /// The captured SDK requests, as sent (`(workload, text)`).
    pub requests: Vec<(String, String)>,
    /// What failed (a driver, a build), one line each.
    pub failures: Vec<String>,
    /// Load average at start and at end (`/proc/loadavg`).
    pub loadavg: Vec<String>,
    /// Wall time of the whole invocation, seconds.
    pub total_s: f64,
}

fn log(msg: impl AsRef<str>) {
    eprintln!("[bk-bench] {}", msg.as_ref());
}

/// Runs everything and writes the report.
pub fn run(settings: &Settings) -> Result<Results, String> {
    let started = Instant::now();
    std::fs::create_dir_all(&settings.results_dir)
        .map_err(|e| format!("cannot create {}: {e}", settings.results_dir.display()))?;
    let me = std::env::current_exe().map_err(|e| format!("cannot find my own binary: {e}"))?;
    let python = match &settings.python {
        Some(p) => p.clone(),
        None => python_venv(&settings.root)?,
    };
    let mut res = Results {
        runs: settings.runs,
        window_s: settings.window.as_secs_f64(),
        warmup_s: settings.warmup.as_secs_f64(),
        hosts: settings.hosts,
        ..Results::default()
    };
    res.loadavg.push(loadavg());
    res.python = run_json::<serde_json::Value>(
        Command::new(&python).arg(PYTHON_DRIVERS).arg("versions"),
        "python versions",
    )
    .map_err(|e| format!("the Python peers cannot start ({}): {e}", python.display()))?;
    res.machine = machine();

    log(format!("starting bk-sim with {} hosts", settings.hosts));
    let (mut sim, target) = start_sim(&me, settings.hosts)?;
    let outcome = measure(settings, &me, &python, &target, &mut res);
    let _ = sim.kill();
    let _ = sim.wait();
    outcome?;

    if settings.micro {
        micro(settings, &mut res);
    }
    if settings.builds {
        builds(settings, &mut res);
    }
    res.loadavg.push(loadavg());
    res.total_s = started.elapsed().as_secs_f64();
    let json = serde_json::to_string_pretty(&res).map_err(|e| e.to_string())?;
    let json_path = settings.results_dir.join("results.json");
    std::fs::write(&json_path, json)
        .map_err(|e| format!("cannot write {}: {e}", json_path.display()))?;
    crate::report::write(settings, &res)?;
    Ok(res)
}

fn measure(
    settings: &Settings,
    me: &Path,
    python: &Path,
    target: &Target,
    res: &mut Results,
) -> Result<(), String> {
    // The exact bytes of the SDK's two requests, for the raw load generator.
    let mut request_files = Vec::new();
    for w in [Workload::GetUser, Workload::HostsTopo] {
        let cap = drive::capture_sdk_request(target, w, BENCH_BIZ)?;
        let file = settings
            .results_dir
            .join(format!("request-{}.http", w.name()));
        let bytes = cap.to_bytes("127.0.0.1");
        std::fs::write(&file, &bytes)
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        res.requests.push((
            w.name().to_string(),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
        request_files.push((w, file));
    }
    // The workload's business must have a full page.
    {
        let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
        let client = {
            let _g = rt.enter();
            target.sdk_client(&target.url)?
        };
        rt.block_on(drive::sdk_call(&client, Workload::HostsTopo, BENCH_BIZ))
            .map_err(|e| format!("business {BENCH_BIZ} has no full page of hosts: {e}"))?;
    }

    let secs = |d: Duration| format!("{}", d.as_secs_f64());
    for run in 0..settings.runs {
        for (w, file) in &request_files {
            for c in CONCURRENCY {
                // The small GET also measures the SDK with its retry layer on, beside the
                // same SDK with retries off: the retry layer's cost on a healthy server.
                let mut clients: Vec<&str> = CLIENTS.to_vec();
                if *w == Workload::GetUser {
                    clients.push("sdk-retry");
                }
                // Rotate the order within a run, so no client always goes first.
                for i in 0..clients.len() {
                    let client = clients[(i + run) % clients.len()];
                    let mut cmd = match client {
                        "raw" | "sdk" | "sdk-retry" => {
                            let mut cmd = Command::new(me);
                            cmd.args(["load", "--client", client, "--workload", w.name()]);
                            if client == "raw" {
                                cmd.arg("--request").arg(file);
                            }
                            cmd
                        }
                        _ => {
                            let mut cmd = Command::new(python);
                            cmd.arg(PYTHON_DRIVERS).args([
                                "load",
                                "--client",
                                client,
                                "--workload",
                                w.name(),
                            ]);
                            cmd
                        }
                    };
                    cmd.args(["--concurrency", &c.to_string()])
                        .args(["--warmup", &secs(settings.warmup)])
                        .args(["--window", &secs(settings.window)])
                        .args(["--biz", &BENCH_BIZ.to_string()])
                        .envs(target.env());
                    let what = format!("run {} {} c={c} {client}", run + 1, w.name());
                    match run_json::<LoadResult>(&mut cmd, &what) {
                        Ok(r) => {
                            log(format!(
                                "{what}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} MiB, {} errors",
                                r.rps,
                                r.p50_ms,
                                r.p99_ms,
                                r.peak_rss_kb / 1024,
                                r.errors
                            ));
                            if let Some(e) = &r.first_error {
                                res.failures
                                    .push(format!("{what}: {} errors, first: {e}", r.errors));
                            }
                            res.load.push((run, r));
                        }
                        Err(e) => {
                            log(&e);
                            res.failures.push(e);
                        }
                    }
                }
            }
        }
    }

    for run in 0..settings.runs {
        let variants: [(&str, usize); 5] = [
            ("sdk", 1),
            ("sdk", SYNC_CONCURRENCY),
            ("bkapi", 1),
            ("mirror", 1),
            ("mirror", SYNC_CONCURRENCY),
        ];
        for i in 0..variants.len() {
            let (client, c) = variants[(i + run) % variants.len()];
            let mut cmd = if client == "sdk" || client == "mirror" {
                let mut cmd = Command::new(me);
                cmd.args(["sync", "--concurrency", &c.to_string()]);
                if client == "mirror" {
                    cmd.arg("--mirror");
                }
                cmd
            } else {
                let mut cmd = Command::new(python);
                cmd.arg(PYTHON_DRIVERS).args(["sync", "--client", client]);
                cmd
            };
            cmd.envs(target.env());
            let what = format!("run {} sync {client} c={c}", run + 1);
            match run_json::<SyncResult>(&mut cmd, &what) {
                Ok(r) => {
                    log(format!(
                        "{what}: {} hosts in {:.2} s, {} MiB",
                        r.hosts,
                        r.wall_s,
                        r.peak_rss_kb / 1024
                    ));
                    if r.hosts != settings.hosts as u64 {
                        res.failures.push(format!(
                            "{what}: synced {} hosts, the simulator has {}",
                            r.hosts, settings.hosts
                        ));
                    }
                    res.sync.push((run, r));
                }
                Err(e) => {
                    log(&e);
                    res.failures.push(e);
                }
            }
        }
    }
    Ok(())
}

/// Starts `bk-bench sim`; returns the child (its stdin open: closing it stops the
/// simulator) and where it listens.
fn start_sim(me: &Path, hosts: usize) -> Result<(Child, Target), String> {
    let mut child = Command::new(me)
        .args(["sim", "--hosts", &hosts.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start the simulator: {e}"))?;
    let stdout = child.stdout.take().ok_or("no simulator stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut get = |key: &str| -> Result<String, String> {
        let line = lines
            .next()
            .ok_or("the simulator stopped before printing its URL")?
            .map_err(|e| e.to_string())?;
        line.strip_prefix(&format!("{key}="))
            .map(str::to_string)
            .ok_or_else(|| format!("unexpected simulator line {line:?}"))
    };
    let target = Target {
        url: get("url")?,
        app_code: get("app_code")?,
        app_secret: get("app_secret")?,
        username: get("username")?,
    };
    Ok((child, target))
}

/// Runs `cmd` and parses the last JSON line of its stdout.
fn run_json<T: DeserializeOwned>(cmd: &mut Command, what: &str) -> Result<T, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!("{what}: {} ({})", out.status, tail.join(" | ")));
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| format!("{what}: printed no result"))?;
    serde_json::from_str(line).map_err(|e| format!("{what}: bad result {line:?}: {e}"))
}

/// The workspace's `.venv` with [`PYTHON_PACKAGES`], made when missing (the same
/// virtualenv and marker as `cargo xtask test`).
pub fn python_venv(root: &Path) -> Result<PathBuf, String> {
    let venv = root.join(".venv");
    let python = venv.join("bin/python");
    let marker = venv.join(".blueking-rs-packages");
    let wanted = PYTHON_PACKAGES.join("\n");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) && python.exists()
    {
        return Ok(python);
    }
    log("creating the Python virtualenv .venv (bkapi-client-core from PyPI)");
    let ok = |s: std::io::Result<std::process::ExitStatus>, what: &str| match s {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("could not {what} ({s})")),
        Err(e) => Err(format!("cannot {what}: {e}")),
    };
    ok(
        Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status(),
        "create the Python virtualenv (python3 -m venv)",
    )?;
    ok(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(PYTHON_PACKAGES)
            .status(),
        "install bkapi-client-core with pip",
    )?;
    std::fs::write(&marker, wanted)
        .map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    Ok(python)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn command_line(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn machine() -> Vec<(String, String)> {
    let mut m = Vec::new();
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown".into());
    m.push(("CPU".into(), model));
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    m.push(("Cores available".into(), cores.to_string()));
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    m.push(("Memory".into(), mem));
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    m.push(("OS".into(), format!("{os}, Linux {}", kernel.trim())));
    m.push((
        "Rust".into(),
        command_line("rustc", &["-V"]).unwrap_or_default(),
    ));
    m.push((
        "Date (UTC)".into(),
        command_line("date", &["-u", "+%Y-%m-%d %H:%M"]).unwrap_or_default(),
    ));
    m
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn timed(cmd: &mut Command, what: &str) -> Result<f64, String> {
    let t = Instant::now();
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    let secs = t.elapsed().as_secs_f64();
    if out.status.success() {
        Ok(secs)
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
        Err(format!("{what}: {} ({})", out.status, tail.join(" | ")))
    }
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// `cargo xtask gen` time, bk-cc clean build time, `bk` binary size.
fn builds(settings: &Settings, res: &mut Results) {
    let root = &settings.root;
    let runs = settings.runs.clamp(1, 3);
    // `xtask gen --check` does the whole generation and writes nothing (the work tree is
    // not touched). The xtask binary is built first and run directly, so the timing is of
    // the generation, without cargo's start-up or a wait for the build lock.
    log("timing xtask gen --check");
    let xtask = target_dir(root).join("debug/xtask");
    if let Err(e) = timed(
        Command::new(cargo())
            .current_dir(root)
            .args(["build", "--quiet", "-p", "xtask"]),
        "building xtask",
    ) {
        res.failures.push(e);
    } else {
        for _ in 0..runs {
            let t = Instant::now();
            let st = Command::new(&xtask)
                .current_dir(root)
                .args(["gen", "--check"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let secs = t.elapsed().as_secs_f64();
            match st {
                Ok(s) => {
                    if !s.success() {
                        res.gen_note = Some(format!(
                            "`gen --check` exited {s}: the generated files were not current"
                        ));
                    }
                    res.gen_s.push(secs);
                }
                Err(e) => res.failures.push(format!("{}: {e}", xtask.display())),
            }
        }
    }

    // Clean build of bk-cc alone (its dependencies built beforehand), dev profile, in a
    // target folder of its own so that no other build is disturbed.
    log("timing clean builds of bk-cc");
    let dir = target_dir(root).join("bk-bench-build");
    let build = || {
        let mut c = Command::new(cargo());
        c.current_dir(root)
            .env("CARGO_INCREMENTAL", "0")
            .args(["build", "--quiet", "-p", "bk-cc", "--target-dir"])
            .arg(&dir);
        c
    };
    match timed(&mut build(), "building the dependencies of bk-cc") {
        Err(e) => res.failures.push(e),
        Ok(_) => {
            for _ in 0..runs {
                let cleaned = Command::new(cargo())
                    .current_dir(root)
                    .args(["clean", "--quiet", "-p", "bk-cc", "--target-dir"])
                    .arg(&dir)
                    .status();
                if !cleaned.map(|s| s.success()).unwrap_or(false) {
                    res.failures.push("cargo clean -p bk-cc failed".into());
                    break;
                }
                match timed(&mut build(), "clean build of bk-cc") {
                    Ok(s) => res.bk_cc_build_s.push(s),
                    Err(e) => {
                        res.failures.push(e);
                        break;
                    }
                }
            }
        }
    }

    log("building the release bk binary");
    match timed(
        Command::new(cargo()).current_dir(root).args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "bk-cli",
        ]),
        "release build of bk-cli",
    ) {
        Ok(_) => {
            let bin = target_dir(root).join("release/bk");
            match std::fs::metadata(&bin) {
                Ok(m) => res.bk_binary_bytes = Some(m.len()),
                Err(e) => res.failures.push(format!("{}: {e}", bin.display())),
            }
        }
        Err(e) => res.failures.push(e),
    }
}

/// Criterion micro-benchmark ids (group/function) read back from `target/criterion`.
pub const MICRO_IDS: &[&str] = &[
    "request/build_get_user",
    "request/build_post_hosts_topo",
    "request/sign_get_user",
    "request/sign_post_hosts_topo",
    "decode_500_hosts/one_pass_typed",
    "decode_500_hosts/two_pass_typed",
    "decode_500_hosts/envelope_then_value",
    "decode_500_hosts/value_only",
];

/// Runs `cargo bench -p bk-bench` and reads the medians criterion saved.
fn micro(settings: &Settings, res: &mut Results) {
    log("running the criterion micro-benchmarks");
    let mut cmd = Command::new(cargo());
    cmd.current_dir(&settings.root).args([
        "bench",
        "--quiet",
        "-p",
        "bk-bench",
        "--bench",
        "hot_paths",
        "--",
    ]);
    if settings.quick {
        cmd.args(["--warm-up-time", "0.5", "--measurement-time", "1"]);
    }
    if let Err(e) = timed(&mut cmd, "cargo bench -p bk-bench") {
        res.failures.push(e);
        return;
    }
    let base = target_dir(&settings.root).join("criterion");
    for id in MICRO_IDS {
        let file = base.join(id).join("new/estimates.json");
        let v = std::fs::read_to_string(&file)
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|v| v["median"]["point_estimate"].as_f64());
        match v {
            Some(ns) => res.micro.push((id.to_string(), ns)),
            None => res
                .failures
                .push(format!("criterion result missing: {}", file.display())),
        }
    }
}
