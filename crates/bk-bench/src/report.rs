//! `BENCHMARKS.md` and the SVG chart of req/s by client and concurrency.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;

use crate::orchestrate::{Results, Settings, CLIENTS, CONCURRENCY, SYNC_CONCURRENCY};
use crate::stats::median;

/// Display name of a client.
pub fn client_name(client: &str) -> &'static str {
    match client {
        "raw" => "raw hyper (limit)",
        "sdk" => "blueking-rs SDK",
        "bkapi" => "bkapi-client-core (Python)",
        "classic" => "classic requests client (Python)",
        "mirror" => "blueking-rs topology mirror",
        "sdk-retry" => "blueking-rs SDK, retries on",
        _ => "?",
    }
}

fn workload_name(w: &str) -> &'static str {
    match w {
        "get_user" => "small GET `bk_login.get_user`",
        "hosts_topo" => "500-host POST `cc.list_biz_hosts_topo`",
        _ => "?",
    }
}

const WORKLOADS: [&str; 2] = ["get_user", "hosts_topo"];

/// Median figures of one (workload, concurrency, client).
#[derive(Debug, Clone, Copy)]
pub struct Cell {
    /// req/s.
    pub rps: f64,
    /// p50 latency, ms.
    pub p50_ms: f64,
    /// p99 latency, ms.
    pub p99_ms: f64,
    /// Peak RSS, MiB.
    pub rss_mib: f64,
    /// Errors over all runs.
    pub errors: u64,
    /// Runs that produced a result.
    pub runs: usize,
}

/// Medians per (workload, concurrency, client).
pub fn cells(res: &Results) -> BTreeMap<(String, usize, String), Cell> {
    let mut groups: BTreeMap<(String, usize, String), Vec<&crate::LoadResult>> = BTreeMap::new();
    for (_, r) in &res.load {
        groups
            .entry((r.workload.clone(), r.concurrency, r.client.clone()))
            .or_default()
            .push(r);
    }
    groups
        .into_iter()
        .map(|(k, rs)| {
            let m = |f: &dyn Fn(&crate::LoadResult) -> f64| {
                median(&rs.iter().map(|r| f(r)).collect::<Vec<_>>())
            };
            let cell = Cell {
                rps: m(&|r| r.rps),
                p50_ms: m(&|r| r.p50_ms),
                p99_ms: m(&|r| r.p99_ms),
                rss_mib: m(&|r| r.peak_rss_kb as f64 / 1024.0),
                errors: rs.iter().map(|r| r.errors).sum(),
                runs: rs.len(),
            };
            (k, cell)
        })
        .collect()
}

/// Median over runs of `num(run) / den(run)`, each pair from the same run (runs missing
/// either side are skipped).
fn paired_median(
    runs: usize,
    num: impl Fn(usize) -> Option<f64>,
    den: impl Fn(usize) -> Option<f64>,
) -> Option<f64> {
    let ratios: Vec<f64> = (0..runs)
        .filter_map(|run| match (num(run), den(run)) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        })
        .collect();
    (!ratios.is_empty()).then(|| median(&ratios))
}

/// Median over runs of `num`'s req/s divided by `den`'s, each pair from the same run.
pub fn ratio(res: &Results, workload: &str, c: usize, num: &str, den: &str) -> Option<f64> {
    let pick = |run: usize, client: &str| {
        res.load
            .iter()
            .find(|(r, x)| {
                *r == run && x.workload == workload && x.concurrency == c && x.client == client
            })
            .map(|(_, x)| x.rps)
    };
    paired_median(res.runs, |run| pick(run, num), |run| pick(run, den))
}

fn sync_key(client: &str, c: usize) -> String {
    format!("{client}/{c}")
}

fn sync_ratio(res: &Results, num: &str, den: &str) -> Option<f64> {
    let pick = |run: usize, key: &str| {
        res.sync
            .iter()
            .find(|(r, x)| *r == run && sync_key(&x.client, x.concurrency) == key)
            .map(|(_, x)| x.wall_s)
    };
    paired_median(res.runs, |run| pick(run, num), |run| pick(run, den))
}

fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{:.0} %", v * 100.0))
        .unwrap_or_else(|| "n/a".into())
}

fn times(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}×"))
        .unwrap_or_else(|| "n/a".into())
}

fn verdict(v: Option<f64>, target: f64) -> &'static str {
    match v {
        Some(v) if v >= target => "met",
        Some(_) => "**not met**",
        None => "n/a",
    }
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// Writes the chart and the report.
pub fn write(settings: &Settings, res: &Results) -> Result<(), String> {
    let svg = settings.results_dir.join("req_per_s.svg");
    chart(&svg, res)?;
    let md = markdown(settings, res, &svg);
    std::fs::write(&settings.out, md)
        .map_err(|e| format!("cannot write {}: {e}", settings.out.display()))?;
    eprintln!(
        "[bk-bench] wrote {} and {}",
        settings.out.display(),
        svg.display()
    );
    Ok(())
}

fn rel(settings: &Settings, p: &Path) -> String {
    let base = settings.out.parent().unwrap_or(Path::new("."));
    p.strip_prefix(base)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| p.display().to_string())
}

/// The report text.
pub fn markdown(settings: &Settings, res: &Results, svg: &Path) -> String {
    let cells = cells(res);
    let mut s = String::new();
    let date = res
        .machine
        .iter()
        .find(|(k, _)| k == "Date (UTC)")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let _ = writeln!(s, "# Benchmarks\n");
    let _ = writeln!(
        s,
        "<!-- Written by `cargo xtask bench` (crates/bk-bench); rerun it rather than editing. -->\n"
    );
    let _ = writeln!(
        s,
        "Measured {date} UTC with `{}`{} in {:.1} min: every client against the same bk-sim \
         process on loopback, {} runs, each figure the median of the runs; ratios are \
         computed pair by pair within a run, then the median is taken.\n",
        settings.command,
        if settings.quick {
            " (quick mode: short windows, a smaller CMDB, no build measurements; a smoke \
             test, not a reference)"
        } else {
            ""
        },
        res.total_s / 60.0,
        res.runs
    );
    let _ = writeln!(
        s,
        "The machine has {} cores and was shared with other builds while this ran (load \
         average {} at the start, {} at the end): the client, the simulator and everything \
         else compete for the same cores, so absolute numbers are noisy and low; the \
         side-by-side ratios are the meaningful part.\n",
        res.machine
            .iter()
            .find(|(k, _)| k == "Cores available")
            .map(|(_, v)| v.as_str())
            .unwrap_or("?"),
        res.loadavg.first().map(String::as_str).unwrap_or("?"),
        res.loadavg.last().map(String::as_str).unwrap_or("?"),
    );

    let _ = writeln!(s, "## Targets\n");
    let _ = writeln!(
        s,
        "| Small GET, SDK req/s vs the raw hyper client | measured | target | |"
    );
    let _ = writeln!(s, "|---|---:|---:|---|");
    for (c, target) in [(1usize, 0.85), (64, 0.70)] {
        let r = ratio(res, "get_user", c, "sdk", "raw");
        let _ = writeln!(
            s,
            "| concurrency {c} | {} | ≥ {:.0} % | {} |",
            pct(r),
            target * 100.0,
            verdict(r, target)
        );
    }
    s.push('\n');

    let _ = writeln!(
        s,
        "Where the SDK's time goes on the small GET, what was changed and what is left: \
         [crates/bk-bench/PROFILE.md](crates/bk-bench/PROFILE.md).\n"
    );
    let _ = writeln!(s, "## Load: requests per second, latency, peak RSS\n");
    let _ = writeln!(
        s,
        "| Workload | Concurrency | Client | req/s | p50 (ms) | p99 (ms) | Peak RSS (MiB) | Errors |"
    );
    let _ = writeln!(s, "|---|---:|---|---:|---:|---:|---:|---:|");
    for w in WORKLOADS {
        for c in CONCURRENCY {
            for client in CLIENTS {
                match cells.get(&(w.to_string(), c, client.to_string())) {
                    Some(x) => {
                        let _ = writeln!(
                            s,
                            "| {} | {c} | {} | {:.0} | {:.2} | {:.2} | {:.1} | {} |",
                            workload_name(w),
                            client_name(client),
                            x.rps,
                            x.p50_ms,
                            x.p99_ms,
                            x.rss_mib,
                            x.errors
                        );
                    }
                    None => {
                        let _ = writeln!(
                            s,
                            "| {} | {c} | {} | failed | | | | |",
                            workload_name(w),
                            client_name(client)
                        );
                    }
                }
            }
        }
    }
    s.push('\n');
    let _ = writeln!(
        s,
        "Ratios of req/s, pair by pair in the same run (median over runs):\n"
    );
    let _ = writeln!(
        s,
        "| Workload | Concurrency | SDK / raw hyper | SDK / bkapi-client-core | SDK / classic requests |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|");
    for w in WORKLOADS {
        for c in CONCURRENCY {
            let _ = writeln!(
                s,
                "| {} | {c} | {} | {} | {} |",
                workload_name(w),
                pct(ratio(res, w, c, "sdk", "raw")),
                times(ratio(res, w, c, "sdk", "bkapi")),
                times(ratio(res, w, c, "sdk", "classic")),
            );
        }
    }
    s.push('\n');
    let _ = writeln!(
        s,
        "![req/s by client and concurrency]({})\n",
        rel(settings, svg)
    );

    let _ = writeln!(s, "### Retry overhead on a healthy server\n");
    let _ = writeln!(
        s,
        "The small GET with the SDK's default retry policy (classifier, backoff, token bucket) \
         against the same SDK with retries off, pair by pair in the same run:\n"
    );
    let _ = writeln!(
        s,
        "| Concurrency | retries off (req/s) | retries on (req/s) | on / off |"
    );
    let _ = writeln!(s, "|---:|---:|---:|---:|");
    for c in CONCURRENCY {
        let cell = |client: &str| {
            cells
                .get(&("get_user".to_string(), c, client.to_string()))
                .map(|x| format!("{:.0}", x.rps))
                .unwrap_or_else(|| "failed".into())
        };
        let _ = writeln!(
            s,
            "| {c} | {} | {} | {} |",
            cell("sdk"),
            cell("sdk-retry"),
            pct(ratio(res, "get_user", c, "sdk-retry", "sdk")),
        );
    }
    s.push('\n');

    let _ = writeln!(s, "## Full CMDB host sync ({} hosts)\n", res.hosts);
    let _ = writeln!(
        s,
        "Every business (`search_business`), then every host of each with its placement \
         (`list_biz_hosts_topo`, 500 per page, {} host attributes), all hosts kept in memory \
         until the end.\n",
        crate::HOST_FIELDS.len()
    );
    let _ = writeln!(
        s,
        "| Client | Paging | Hosts | Calls | Wall (s) | Hosts/s | Peak RSS (MiB) |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|");
    let variants = [
        ("sdk", 1, "sequential".to_string()),
        (
            "sdk",
            SYNC_CONCURRENCY,
            format!("{SYNC_CONCURRENCY} pages in flight"),
        ),
        ("bkapi", 1, "sequential".to_string()),
        ("mirror", 1, "sequential".to_string()),
        (
            "mirror",
            SYNC_CONCURRENCY,
            format!("{SYNC_CONCURRENCY} pages in flight"),
        ),
    ];
    for (client, c, paging) in &variants {
        let rs: Vec<&crate::SyncResult> = res
            .sync
            .iter()
            .map(|(_, r)| r)
            .filter(|r| r.client == *client && r.concurrency == *c)
            .collect();
        if rs.is_empty() {
            let _ = writeln!(s, "| {} | {paging} | failed | | | | |", client_name(client));
            continue;
        }
        let wall = median(&rs.iter().map(|r| r.wall_s).collect::<Vec<_>>());
        let rss = median(
            &rs.iter()
                .map(|r| r.peak_rss_kb as f64 / 1024.0)
                .collect::<Vec<_>>(),
        );
        let hosts = rs[0].hosts;
        let _ = writeln!(
            s,
            "| {} | {paging} | {hosts} | {} | {wall:.2} | {:.0} | {rss:.1} |",
            client_name(client),
            rs[0].calls,
            hosts as f64 / wall
        );
    }
    s.push('\n');
    let _ = writeln!(
        s,
        "Python wall time / SDK wall time, pair by pair: {} against the sequential SDK, {} \
         against the concurrent SDK. The topology mirror rows are `bk_cc::mirror` doing its \
         full sync (mainline model, each business's instance topology and idle set, then the \
         hosts with their placement) into its in-memory model.\n",
        times(sync_ratio(res, "bkapi/1", "sdk/1")),
        times(sync_ratio(
            res,
            "bkapi/1",
            &sync_key("sdk", SYNC_CONCURRENCY)
        )),
    );

    let probes: Vec<(f64, f64)> = res
        .sync
        .iter()
        .filter_map(|(_, r)| Some((r.watch_p50_ms?, r.watch_p99_ms?)))
        .collect();
    if !probes.is_empty() {
        let _ = writeln!(s, "### Watch latency of the mirror\n");
        let _ = writeln!(
            s,
            "After each mirror sync the mirror follows `resource_watch` while `update_host` \
             changes one host at a time ({} probes a run); a probe is the time from \
             sending the change to the mirror's snapshot showing it, the update's own round \
             trip included. Medians over {} runs: p50 {:.2} ms, p99 {:.2} ms.\n",
            crate::drive::WATCH_PROBES,
            probes.len(),
            median(&probes.iter().map(|p| p.0).collect::<Vec<_>>()),
            median(&probes.iter().map(|p| p.1).collect::<Vec<_>>()),
        );
    }

    let _ = writeln!(s, "## Generation and build\n");
    if res.gen_s.is_empty() && res.bk_cc_build_s.is_empty() && res.bk_binary_bytes.is_none() {
        let _ = writeln!(s, "Not measured in this mode (`--quick` skips them).\n");
    } else {
        let _ = writeln!(s, "| What | Median | Runs |");
        let _ = writeln!(s, "|---|---:|---:|");
        if !res.gen_s.is_empty() {
            let _ = writeln!(
                s,
                "| `cargo xtask gen` for all specs (the built `xtask gen --check`: full generation, nothing written) | {:.2} s | {} |",
                median(&res.gen_s),
                res.gen_s.len()
            );
        }
        if !res.bk_cc_build_s.is_empty() {
            let _ = writeln!(
                s,
                "| Clean build of bk-cc (dev profile, `CARGO_INCREMENTAL=0`, its dependencies already built) | {:.1} s | {} |",
                median(&res.bk_cc_build_s),
                res.bk_cc_build_s.len()
            );
        }
        if let Some(b) = res.bk_binary_bytes {
            let _ = writeln!(
                s,
                "| Size of the `bk` binary (release profile, not stripped) | {:.1} MiB | 1 |",
                b as f64 / 1024.0 / 1024.0
            );
        }
        if let Some(n) = &res.gen_note {
            let _ = writeln!(s, "\nNote: {n}.");
        }
        s.push('\n');
    }

    let _ = writeln!(s, "## Micro-benchmarks (criterion)\n");
    if res.micro.is_empty() {
        let _ = writeln!(
            s,
            "Not run in this mode. `cargo bench -p bk-bench --bench hot_paths` runs them.\n"
        );
    } else {
        let _ = writeln!(
            s,
            "`cargo bench -p bk-bench --bench hot_paths`{} (`crates/bk-bench/benches/hot_paths.rs`), median time per iteration:\n",
            if settings.quick { " with short windows" } else { "" }
        );
        let _ = writeln!(s, "| Benchmark | Median |");
        let _ = writeln!(s, "|---|---:|");
        for (id, ns) in &res.micro {
            let _ = writeln!(s, "| `{id}` | {} |", fmt_ns(*ns));
        }
        s.push('\n');
    }

    let _ = writeln!(s, "## Machine\n");
    let _ = writeln!(s, "| | |");
    let _ = writeln!(s, "|---|---|");
    for (k, v) in &res.machine {
        let _ = writeln!(s, "| {k} | {v} |");
    }
    let py = |k: &str| res.python[k].as_str().unwrap_or("?").to_string();
    let _ = writeln!(
        s,
        "| Python peers | Python {}, bkapi-client-core {}, requests {} (virtualenv `.venv`, from PyPI) |",
        py("python"),
        py("bkapi_client_core"),
        py("requests")
    );
    s.push('\n');

    let _ = writeln!(s, "## How it is measured\n");
    let _ = writeln!(
        s,
        "- **Command**: `{}` (from a fresh clone it builds `bk-bench` in release, makes the \
         `.venv` with bkapi-client-core from PyPI, and rewrites this file). `--quick` (CI \
         smoke) writes `target/bk-bench/BENCHMARKS.quick.md` instead.",
        if settings.quick {
            "cargo xtask bench"
        } else {
            settings.command.as_str()
        }
    );
    let _ = writeln!(
        s,
        "- **Server**: bk-sim (`bk-bench sim`) in a process of its own, {} generated hosts, \
         request log off; the same process serves every client of a run.",
        res.hosts
    );
    let _ = writeln!(
        s,
        "- **Drivers**: each client runs in a process of its own, started afresh for every \
         measurement, so its peak RSS (`VmHWM` of `/proc/self/status`, read by the driver at \
         the end) is its own. Every run measures every client of a (workload, concurrency) \
         back to back, in an order that rotates from run to run."
    );
    let _ = writeln!(
        s,
        "- **Window**: {:.1} s of warm-up (connections opened, not counted), then the \
         requests completed in a {:.1} s window are counted; req/s = completed / window; \
         p50/p99 from the latencies of those requests. A failed request counts as an error, \
         not in req/s.",
        res.warmup_s, res.window_s
    );
    let _ = writeln!(
        s,
        "- **blueking-rs SDK**: the generated typed clients (`client.bk_login().get_user().send()`, \
         `client.cc().list_biz_hosts_topo(3, Page {{ start: 0, limit: 500 }}, fields).send()`), \
         header auth (`X-Bkapi-Authorization`), retries off (`RetryPolicy::disabled()`), \
         responses decoded into the typed structs; one client (one pool) shared by the \
         concurrent tasks of a Tokio multi-thread runtime."
    );
    let _ = writeln!(
        s,
        "- **Raw hyper client** (the physical limit): a minimal `hyper-util` legacy client \
         (HTTP/1.1 keep-alive pool, `TCP_NODELAY`, like the SDK) on the same runtime, \
         sending the exact request bytes the SDK sends (captured once from a real SDK call, \
         shown below), reading the whole body and checking the status; no JSON work."
    );
    let _ = writeln!(
        s,
        "- **bkapi-client-core**: the official Python SDK core, its client declared as the \
         official component SDKs declare theirs (`ESBClient` with `OperationGroup`s), header \
         auth. **Classic requests client**: the integration guide's ComponentClient pattern, \
         `bk_app_code`/`bk_app_secret`/`bk_username` as query parameters (GET) or JSON body \
         fields (POST), on a `requests.Session`. At concurrency 64 both use 64 threads, each \
         with its own client (a `requests.Session` is not meant to be shared across threads)."
    );
    let _ = writeln!(
        s,
        "- **Sync**: {} hosts; the SDK with `.concurrency(1)` and `.concurrency({SYNC_CONCURRENCY})` \
         paginators over each business, bkapi-client-core with a sequential `start += 500` loop.",
        res.hosts
    );
    let _ = writeln!(
        s,
        "- Raw data of this run: `{}`.\n",
        rel(settings, &settings.results_dir.join("results.json"))
    );

    if !res.failures.is_empty() {
        let _ = writeln!(s, "## Problems in this run\n");
        for f in &res.failures {
            let _ = writeln!(s, "- {}", f.replace('\n', " "));
        }
        s.push('\n');
    }

    let _ = writeln!(s, "## The SDK's requests (replayed by the raw client)\n");
    for (w, text) in &res.requests {
        let _ = writeln!(s, "`{w}` (bk-sim's made-up demo credentials):\n");
        let _ = writeln!(s, "```http\n{}\n```\n", text.trim_end());
    }
    s
}

fn color(client: &str) -> RGBColor {
    match client {
        "raw" => RGBColor(140, 140, 140),
        "sdk" => RGBColor(222, 99, 36),
        "bkapi" => RGBColor(55, 118, 171),
        _ => RGBColor(80, 160, 90),
    }
}

/// Grouped bars of median req/s: one panel per workload, one group per concurrency, one
/// bar per client.
pub fn chart(path: &Path, res: &Results) -> Result<(), String> {
    let cells = cells(res);
    let e = |e: &dyn std::fmt::Display| format!("cannot draw {}: {e}", path.display());
    let root = SVGBackend::new(path, (1100, 460)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let panels = root.split_evenly((1, 2));
    for (panel, w) in panels.iter().zip(WORKLOADS) {
        let max = CONCURRENCY
            .iter()
            .flat_map(|c| {
                CLIENTS
                    .iter()
                    .filter_map(|cl| cells.get(&(w.to_string(), *c, cl.to_string())))
                    .map(|x| x.rps)
                    .collect::<Vec<_>>()
            })
            .fold(1.0f64, f64::max)
            * 1.6;
        let title = match w {
            "get_user" => "Small GET (bk_login.get_user): req/s",
            _ => "500-host POST (cc.list_biz_hosts_topo): req/s",
        };
        let mut chart = ChartBuilder::on(panel)
            .caption(title, ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..2f64, 0f64..max)
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .x_labels(5)
            .x_label_formatter(&|x| {
                if (x - 0.5).abs() < 1e-6 {
                    "concurrency 1".into()
                } else if (x - 1.5).abs() < 1e-6 {
                    "concurrency 64".into()
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()
            .map_err(|x| e(&x))?;
        let bar = 0.8 / CLIENTS.len() as f64;
        for (i, client) in CLIENTS.iter().enumerate() {
            let col = color(client);
            let bars: Vec<(f64, f64)> = CONCURRENCY
                .iter()
                .enumerate()
                .filter_map(|(g, c)| {
                    cells
                        .get(&(w.to_string(), *c, client.to_string()))
                        .map(|x| (g as f64 + 0.1 + i as f64 * bar, x.rps))
                })
                .collect();
            chart
                .draw_series(bars.iter().map(|&(x, y)| {
                    Rectangle::new([(x + 0.01, 0.0), (x + bar - 0.01, y)], col.filled())
                }))
                .map_err(|x| e(&x))?
                .label(client_name(client))
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], col.filled()));
            chart
                .draw_series(bars.iter().map(|&(x, y)| {
                    Text::new(
                        format!("{y:.0}"),
                        (x + 0.01, y + max * 0.03),
                        ("sans-serif", 11).into_font(),
                    )
                }))
                .map_err(|x| e(&x))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", 12))
            .draw()
            .map_err(|x| e(&x))?;
    }
    root.present().map_err(|x| e(&x))?;
    Ok(())
}
