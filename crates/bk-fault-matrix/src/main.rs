//! `bk-fault-matrix [--calls N] [--fault-rate R] [--concurrency C]`: prints
//! `calls=N faults=N retries=N ok=N failed=N duplicates=N`; exits 0 only when
//! every idempotent call succeeded and no job ran twice.

use std::process::ExitCode;

use bk_fault_matrix::{run_async, Settings};

fn main() -> ExitCode {
    let mut settings = Settings::new(10_000, 0.2);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} wants a value"));
        let parsed = match a.as_str() {
            "--calls" => value("--calls").and_then(|v| {
                v.parse()
                    .map(|n| settings.calls = n)
                    .map_err(|_| format!("--calls: not a count: {v:?}"))
            }),
            "--fault-rate" => value("--fault-rate").and_then(|v| match v.parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => {
                    settings.fault_rate = r;
                    Ok(())
                }
                _ => Err(format!("--fault-rate: not a rate in 0..=1: {v:?}")),
            }),
            "--concurrency" => value("--concurrency").and_then(|v| match v.parse::<usize>() {
                Ok(c) if c > 0 => {
                    settings.concurrency = c;
                    Ok(())
                }
                _ => Err(format!("--concurrency: not a positive count: {v:?}")),
            }),
            "-h" | "--help" => {
                println!(
                    "usage: bk-fault-matrix [--calls N (10000)] [--fault-rate R (0.2)] [--concurrency C (32)]"
                );
                return ExitCode::SUCCESS;
            }
            other => Err(format!("unknown argument {other:?} (see --help)")),
        };
        if let Err(e) = parsed {
            eprintln!("bk-fault-matrix: {e}");
            return ExitCode::from(2);
        }
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bk-fault-matrix: cannot start a Tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run_async(&settings)) {
        Ok(report) => {
            for (kind, n) in &report.faults_by_kind {
                println!("fault {kind}={n}");
            }
            for (what, n) in &report.failures_by_error {
                println!("failed {what}: {n}");
            }
            println!(
                "idempotent_failed={} job_failed={} job_executions={} undiagnosable={} elapsed={:.1}s",
                report.idempotent_failed,
                report.job_failed,
                report.job_executions,
                report.undiagnosable,
                report.elapsed.as_secs_f64()
            );
            // The summary line comes last.
            println!("{}", report.line());
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                eprintln!("bk-fault-matrix: FAILED (idempotent calls failed or a job ran twice)");
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("bk-fault-matrix: {e}");
            ExitCode::FAILURE
        }
    }
}
