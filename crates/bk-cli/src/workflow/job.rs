//! `bk job run-script`: run a script on hosts through JOB v3 and, with `--wait`, follow it to
//! the end with a progress line, a per-host results table and the logs of the hosts that
//! failed. It lives under `bk job` beside the JOB v2 API commands because that is where an
//! operator looks for it; it drives JOB v3 (`fast_execute_script`).

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bk_sdk::jobv3::run::{JobOutcome, Progress, RunError, Scope, WaitOptions};
use bk_sdk::jobv3::types::{IpRef, ScriptLanguage};
use bk_sdk::prelude::*;
use clap::{value_parser, Arg, ArgAction, ArgMatches, Command};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::{client, host_keys, ids, opt, print_rows, Failure, Outcome};

/// The name of the subcommand under `bk job`.
pub const RUN_SCRIPT: &str = "run-script";

/// `bk job run-script`.
pub fn run_script_command() -> Command {
    Command::new(RUN_SCRIPT)
        .about("Workflow: run a script on hosts (JOB v3) and, with --wait, follow it to the end")
        .long_about(
            "Run a script on hosts through JOB v3 (fast_execute_script). Without --wait, print \
             the job instance id and return. With --wait, poll the job (1 s, growing to 5 s) \
             with a progress line on stderr, then print one row per host (status, exit code) \
             and the logs of the hosts that did not succeed. Exit 1 when the job did not \
             succeed or the wait timed out.",
        )
        .args(super::common_args())
        .arg(
            Arg::new("biz")
                .long("biz")
                .value_name("ID")
                .value_parser(value_parser!(i64))
                .required(true)
                .help("Business id (the JOB scope)"),
        )
        .arg(
            Arg::new("biz_set")
                .long("biz-set")
                .action(ArgAction::SetTrue)
                .help("--biz names a business set, not a business"),
        )
        .arg(
            Arg::new("hosts")
                .long("hosts")
                .value_name("IDS")
                .action(ArgAction::Append)
                .help("Target CMDB host ids (comma-separated or repeated)"),
        )
        .arg(
            Arg::new("ips")
                .long("ips")
                .value_name("[CLOUD:]IP")
                .action(ArgAction::Append)
                .help("Target hosts by IP, cloud area 0 unless prefixed"),
        )
        .group(
            clap::ArgGroup::new("targets")
                .args(["hosts", "ips"])
                .required(true)
                .multiple(true),
        )
        .arg(
            Arg::new("file")
                .long("file")
                .short('f')
                .value_name("PATH")
                .value_parser(value_parser!(PathBuf))
                .help("The script, from a file (`-` for standard input)"),
        )
        .arg(
            Arg::new("script")
                .long("script")
                .value_name("TEXT")
                .help("The script, inline"),
        )
        .group(
            clap::ArgGroup::new("source")
                .args(["file", "script"])
                .required(true),
        )
        .arg(
            Arg::new("language")
                .long("language")
                .value_parser(["shell", "bat", "perl", "python", "powershell", "sql"])
                .default_value("shell")
                .help("Script language"),
        )
        .arg(
            Arg::new("params")
                .long("params")
                .value_name("TEXT")
                .help("Script parameters (plain text)"),
        )
        .arg(
            Arg::new("account")
                .long("account")
                .value_name("ALIAS")
                .default_value("root")
                .help("Execution account alias"),
        )
        .arg(
            Arg::new("script_timeout")
                .long("script-timeout")
                .value_name("SECS")
                .value_parser(value_parser!(i64).range(1..=86400))
                .help("JOB's own timeout for the script on each host"),
        )
        .arg(
            Arg::new("name")
                .long("name")
                .value_name("TEXT")
                .help("Task name shown in JOB"),
        )
        .arg(
            Arg::new("wait")
                .long("wait")
                .action(ArgAction::SetTrue)
                .help("Wait for the job to end and print the per-host results"),
        )
        .arg(
            Arg::new("timeout")
                .long("timeout")
                .value_name("SECS")
                .value_parser(value_parser!(u64).range(1..))
                .default_value("3600")
                .help("With --wait: give up waiting after this long"),
        )
        .arg(
            Arg::new("terminate_on_timeout")
                .long("terminate-on-timeout")
                .action(ArgAction::SetTrue)
                .help("With --wait: ask JOB to stop the job when the wait times out"),
        )
        .arg(
            Arg::new("no_progress")
                .long("no-progress")
                .action(ArgAction::SetTrue)
                .help("No progress output on stderr"),
        )
}

fn language(name: &str) -> ScriptLanguage {
    match name {
        "bat" => ScriptLanguage::Bat,
        "perl" => ScriptLanguage::Perl,
        "python" => ScriptLanguage::Python,
        "powershell" => ScriptLanguage::Powershell,
        "sql" => ScriptLanguage::Sql,
        _ => ScriptLanguage::Shell,
    }
}

fn read_script(m: &ArgMatches) -> Result<String, Failure> {
    if let Some(text) = m.get_one::<String>("script") {
        return Ok(text.clone());
    }
    let Some(path) = m.get_one::<PathBuf>("file") else {
        return Err(Failure::Usage(
            "give the script with --file or --script".into(),
        ));
    };
    let text = if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Failure::Usage(format!("cannot read the script from stdin: {e}")))?;
        s
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?
    };
    if text.trim().is_empty() {
        return Err(Failure::Usage(format!(
            "the script in {} is empty",
            path.display()
        )));
    }
    Ok(text)
}

/// How progress is shown: a spinner on a terminal, a line per change otherwise.
struct ProgressView {
    bar: Option<ProgressBar>,
    last: Mutex<Option<String>>,
    quiet: bool,
}

impl ProgressView {
    fn new(quiet: bool) -> ProgressView {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        ProgressView {
            bar,
            last: Mutex::new(None),
            quiet,
        }
    }

    fn update(&self, p: &Progress) {
        let steps: Vec<String> = p.steps.iter().map(|(_, s)| opt(s.as_ref())).collect();
        let msg = format!(
            "job {}: {} (steps: {})",
            p.job_instance_id,
            opt(p.status.as_ref()),
            steps.join(", ")
        );
        if let Some(bar) = &self.bar {
            bar.set_message(msg);
            return;
        }
        if self.quiet {
            return;
        }
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.as_deref() != Some(msg.as_str()) {
            eprintln!("{:>6.1}s {msg}", p.elapsed.as_secs_f64());
            *last = Some(msg);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Runs `bk job run-script ...`.
pub async fn run_script(m: &ArgMatches) -> Outcome {
    let script = read_script(m)?;
    let host_ids = ids(m, "hosts", "hosts")?;
    let ips: Vec<IpRef> = host_keys(m, "ips", "ips", 0)?
        .into_iter()
        .map(|k| IpRef {
            bk_cloud_id: k.bk_cloud_id,
            ip: k.ip,
        })
        .collect();
    if host_ids.is_empty() && ips.is_empty() {
        return Err(Failure::Usage(
            "no target host: give --hosts or --ips".into(),
        ));
    }
    let biz = *m
        .get_one::<i64>("biz")
        .ok_or_else(|| Failure::Usage("--biz is required".into()))?;
    let scope = if m.get_flag("biz_set") {
        Scope::biz_set(biz)
    } else {
        Scope::biz(biz)
    };
    let client = client(m)?;
    let mut run = client
        .jobv3()
        .run_script(scope, script)
        .language(language(
            m.get_one::<String>("language").map_or("shell", |s| s),
        ))
        .account_alias(m.get_one::<String>("account").map_or("root", |s| s))
        .wait_options(WaitOptions {
            timeout: Some(Duration::from_secs(
                *m.get_one::<u64>("timeout").unwrap_or(&3600),
            )),
            terminate_on_timeout: m.get_flag("terminate_on_timeout"),
            ..WaitOptions::default()
        });
    if !host_ids.is_empty() {
        run = run.hosts(host_ids);
    }
    if !ips.is_empty() {
        run = run.ips(ips);
    }
    if let Some(p) = m.get_one::<String>("params") {
        run = run.params(p.clone());
    }
    if let Some(t) = m.get_one::<i64>("script_timeout") {
        run = run.script_timeout(*t);
    }
    if let Some(n) = m.get_one::<String>("name") {
        run = run.task_name(n.clone());
    }
    if !m.get_flag("wait") {
        let handle = run.start().await.map_err(run_failure)?;
        let id = handle.job_instance_id;
        return print_rows(
            m,
            &["job_instance_id"],
            &[vec![id.to_string()]],
            &json!({ "job_instance_id": id }),
        );
    }
    let view = Arc::new(ProgressView::new(m.get_flag("no_progress")));
    let v = view.clone();
    let result = run.on_progress(move |p| v.update(p)).run().await;
    view.finish();
    let outcome = result.map_err(run_failure)?;
    report(m, &outcome)?;
    if outcome.success {
        Ok(())
    } else {
        Err(Failure::Failed(format!(
            "job {} ended with status {}; {} host(s) did not succeed",
            outcome.job_instance_id,
            opt(outcome.status.as_ref()),
            outcome.failed_hosts().count()
        )))
    }
}

fn run_failure(e: RunError) -> Failure {
    match e {
        RunError::Api(e) => Failure::from_sdk(&e),
        other => Failure::Failed(other.to_string()),
    }
}

/// The per-host table, then the logs of hosts that did not succeed.
fn report(m: &ArgMatches, o: &JobOutcome) -> Outcome {
    let rows: Vec<Vec<String>> = o
        .hosts
        .iter()
        .map(|h| {
            vec![
                h.step_instance_id.to_string(),
                opt(h.bk_host_id),
                opt(h.ip.as_deref()),
                opt(h.status.as_ref()),
                opt(h.exit_code),
            ]
        })
        .collect();
    let value = json!({
        "job_instance_id": o.job_instance_id,
        "status": o.status.as_ref().map(|s| s.to_string()),
        "success": o.success,
        "seconds": o.elapsed.as_secs_f64(),
        "hosts": o.hosts.iter().map(|h| json!({
            "step_instance_id": h.step_instance_id,
            "bk_host_id": h.bk_host_id,
            "ip": h.ip,
            "bk_cloud_id": h.bk_cloud_id,
            "status": h.status.as_ref().map(|s| s.to_string()),
            "exit_code": h.exit_code,
            "succeeded": h.succeeded(),
            "log": h.log,
        })).collect::<Vec<_>>(),
    });
    print_rows(
        m,
        &["step", "bk_host_id", "ip", "status", "exit_code"],
        &rows,
        &value,
    )?;
    if super::format(m) == crate::output::Format::Table {
        for h in o.failed_hosts() {
            println!(
                "\n--- log of host {} ({}), exit code {}",
                opt(h.bk_host_id),
                opt(h.ip.as_deref()),
                opt(h.exit_code)
            );
            match h.log.as_deref() {
                Some(log) if !log.trim().is_empty() => {
                    for line in log.lines() {
                        println!("    {line}");
                    }
                }
                _ => println!("    (no log)"),
            }
        }
        println!(
            "\njob {}: {} in {:.1?}, {} of {} host(s) did not succeed",
            o.job_instance_id,
            opt(o.status.as_ref()),
            o.elapsed,
            o.failed_hosts().count(),
            o.hosts.len()
        );
    }
    Ok(())
}
