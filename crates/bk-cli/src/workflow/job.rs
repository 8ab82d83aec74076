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
            Arg::new("api")
                .long("api")
                .value_parser(["v3", "v2"])
                .default_value("v3")
                .help("JOB API generation: v3 (jobv3), or v2 (job) for older deployments; v2 targets --ips only"),
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

    fn update(&self, id: i64, status: String, steps: Vec<String>, elapsed: Duration) {
        let msg = format!("job {id}: {status} (steps: {})", steps.join(", "));
        if let Some(bar) = &self.bar {
            bar.set_message(msg);
            return;
        }
        if self.quiet {
            return;
        }
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.as_deref() != Some(msg.as_str()) {
            eprintln!("{:>6.1}s {msg}", elapsed.as_secs_f64());
            *last = Some(msg);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// One host's result, from either JOB generation.
struct HostRow {
    step: i64,
    bk_host_id: Option<i64>,
    ip: Option<String>,
    bk_cloud_id: Option<i64>,
    status: Option<String>,
    exit_code: Option<i64>,
    succeeded: bool,
    log: Option<String>,
}

/// How a job ended, from either JOB generation.
struct Ended {
    job_instance_id: i64,
    status: Option<String>,
    success: bool,
    elapsed: Duration,
    hosts: Vec<HostRow>,
}

impl Ended {
    fn failed(&self) -> impl Iterator<Item = &HostRow> {
        self.hosts.iter().filter(|h| !h.succeeded)
    }
}

fn from_v3(o: JobOutcome) -> Ended {
    Ended {
        job_instance_id: o.job_instance_id,
        status: o.status.map(|s| s.to_string()),
        success: o.success,
        elapsed: o.elapsed,
        hosts: o
            .hosts
            .iter()
            .map(|h| HostRow {
                step: h.step_instance_id,
                bk_host_id: h.bk_host_id,
                ip: h.ip.clone(),
                bk_cloud_id: h.bk_cloud_id,
                status: h.status.map(|s| s.to_string()),
                exit_code: h.exit_code,
                succeeded: h.succeeded(),
                log: h.log.clone(),
            })
            .collect(),
    }
}

fn from_v2(o: bk_sdk::job::run::JobOutcome) -> Ended {
    Ended {
        job_instance_id: o.job_instance_id,
        status: o.status.map(|s| s.to_string()),
        success: o.success,
        elapsed: o.elapsed,
        hosts: o
            .hosts
            .iter()
            .map(|h| HostRow {
                step: h.step_instance_id,
                bk_host_id: None,
                ip: h.ip.clone(),
                bk_cloud_id: h.bk_cloud_id,
                status: h.status.map(|s| s.to_string()),
                exit_code: h.exit_code,
                succeeded: h.succeeded(),
                log: h.log.clone(),
            })
            .collect(),
    }
}

/// What `bk job run-script` was asked to do, whatever the JOB generation.
struct Request {
    biz: i64,
    biz_set: bool,
    script: String,
    language: String,
    host_ids: Vec<i64>,
    ips: Vec<bk_runtime::formats::HostKey>,
    params: Option<String>,
    account: String,
    script_timeout: Option<i64>,
    name: Option<String>,
    wait: WaitOptions,
    waiting: bool,
}

fn request(m: &ArgMatches) -> Result<Request, Failure> {
    let script = read_script(m)?;
    let host_ids = ids(m, "hosts", "hosts")?;
    let ips = host_keys(m, "ips", "ips", 0)?;
    if host_ids.is_empty() && ips.is_empty() {
        return Err(Failure::Usage(
            "no target host: give --hosts or --ips".into(),
        ));
    }
    let biz = *m
        .get_one::<i64>("biz")
        .ok_or_else(|| Failure::Usage("--biz is required".into()))?;
    Ok(Request {
        biz,
        biz_set: m.get_flag("biz_set"),
        script,
        language: m
            .get_one::<String>("language")
            .cloned()
            .unwrap_or_else(|| "shell".into()),
        host_ids,
        ips,
        params: m.get_one::<String>("params").cloned(),
        account: m
            .get_one::<String>("account")
            .cloned()
            .unwrap_or_else(|| "root".into()),
        script_timeout: m.get_one::<i64>("script_timeout").copied(),
        name: m.get_one::<String>("name").cloned(),
        wait: WaitOptions {
            timeout: Some(Duration::from_secs(
                *m.get_one::<u64>("timeout").unwrap_or(&3600),
            )),
            terminate_on_timeout: m.get_flag("terminate_on_timeout"),
            ..WaitOptions::default()
        },
        waiting: m.get_flag("wait"),
    })
}

/// Runs `bk job run-script ...`.
pub async fn run_script(m: &ArgMatches) -> Outcome {
    let req = request(m)?;
    let client = client(m)?;
    let view = Arc::new(ProgressView::new(m.get_flag("no_progress")));
    let v2 = m.get_one::<String>("api").map(String::as_str) == Some("v2");
    let ended = if v2 {
        run_v2(&client, req, view.clone()).await
    } else {
        run_v3(&client, req, view.clone()).await
    };
    view.finish();
    let ended = match ended? {
        Ran::Ended(e) => e,
        Ran::Started(id) => {
            return print_rows(
                m,
                &["job_instance_id"],
                &[vec![id.to_string()]],
                &json!({ "job_instance_id": id }),
            )
        }
    };
    report(m, &ended)?;
    if ended.success {
        Ok(())
    } else {
        Err(Failure::Failed(format!(
            "job {} ended with status {}; {} host(s) did not succeed",
            ended.job_instance_id,
            opt(ended.status.as_deref()),
            ended.failed().count()
        )))
    }
}

/// What a run came to: started only (no `--wait`), or ended.
enum Ran {
    Started(i64),
    Ended(Ended),
}

/// JOB v3.
async fn run_v3(
    client: &bk_runtime::Client,
    req: Request,
    view: Arc<ProgressView>,
) -> Result<Ran, Failure> {
    let scope = if req.biz_set {
        Scope::biz_set(req.biz)
    } else {
        Scope::biz(req.biz)
    };
    let mut run = client
        .jobv3()
        .run_script(scope, req.script)
        .language(language(&req.language))
        .account_alias(req.account)
        .wait_options(req.wait);
    if !req.host_ids.is_empty() {
        run = run.hosts(req.host_ids);
    }
    if !req.ips.is_empty() {
        run = run.ips(
            req.ips
                .into_iter()
                .map(|k| IpRef {
                    bk_cloud_id: k.bk_cloud_id,
                    ip: k.ip,
                })
                .collect(),
        );
    }
    if let Some(p) = req.params {
        run = run.params(p);
    }
    if let Some(t) = req.script_timeout {
        run = run.script_timeout(t);
    }
    if let Some(n) = req.name {
        run = run.task_name(n);
    }
    if !req.waiting {
        let handle = run.start().await.map_err(run_failure)?;
        return Ok(Ran::Started(handle.job_instance_id));
    }
    let outcome = run
        .on_progress(move |p: &Progress| {
            let steps = p.steps.iter().map(|(_, s)| opt(s.as_ref())).collect();
            view.update(p.job_instance_id, opt(p.status.as_ref()), steps, p.elapsed)
        })
        .run()
        .await
        .map_err(run_failure)?;
    Ok(Ran::Ended(from_v3(outcome)))
}

/// JOB v2 (`fast_execute_script` on component `job`); targets by IP only.
async fn run_v2(
    client: &bk_runtime::Client,
    req: Request,
    view: Arc<ProgressView>,
) -> Result<Ran, Failure> {
    use bk_sdk::job::run::{RunError as V2Error, WaitOptions as V2Wait};
    use bk_sdk::job::types::{IpRef as V2Ip, ScriptType};
    if req.biz_set || !req.host_ids.is_empty() {
        return Err(Failure::Usage(
            "--api v2 targets hosts by --ips only, in a business (no --hosts, no --biz-set)".into(),
        ));
    }
    let failure = |e: V2Error| match e {
        V2Error::Api(e) => Failure::from_sdk(&e),
        other => Failure::Failed(other.to_string()),
    };
    let mut run = client
        .job()
        .run_script(req.biz, req.account, req.script)
        // JOB v2 and v3 number script languages alike (1 shell ... 6 SQL).
        .script_type(ScriptType::from(language(&req.language).code()))
        .ips(
            req.ips
                .into_iter()
                .map(|k| V2Ip {
                    bk_cloud_id: k.bk_cloud_id,
                    ip: k.ip,
                })
                .collect(),
        )
        .wait_options(V2Wait {
            timeout: req.wait.timeout,
            terminate_on_timeout: req.wait.terminate_on_timeout,
            ..V2Wait::default()
        });
    if let Some(p) = req.params {
        run = run.params(p);
    }
    if let Some(t) = req.script_timeout {
        run = run.script_timeout(t);
    }
    if let Some(n) = req.name {
        run = run.task_name(n);
    }
    if !req.waiting {
        let handle = run.start().await.map_err(failure)?;
        return Ok(Ran::Started(handle.job_instance_id));
    }
    let outcome = run
        .on_progress(move |p| {
            let steps = p.steps.iter().map(|(_, s)| opt(s.as_ref())).collect();
            view.update(p.job_instance_id, opt(p.status.as_ref()), steps, p.elapsed)
        })
        .run()
        .await
        .map_err(failure)?;
    Ok(Ran::Ended(from_v2(outcome)))
}

fn run_failure(e: RunError) -> Failure {
    match e {
        RunError::Api(e) => Failure::from_sdk(&e),
        other => Failure::Failed(other.to_string()),
    }
}

/// The per-host table, then the logs of hosts that did not succeed.
fn report(m: &ArgMatches, o: &Ended) -> Outcome {
    let rows: Vec<Vec<String>> = o
        .hosts
        .iter()
        .map(|h| {
            vec![
                h.step.to_string(),
                opt(h.bk_host_id),
                opt(h.ip.as_deref()),
                opt(h.status.as_deref()),
                opt(h.exit_code),
            ]
        })
        .collect();
    let value = json!({
        "job_instance_id": o.job_instance_id,
        "status": o.status,
        "success": o.success,
        "seconds": o.elapsed.as_secs_f64(),
        "hosts": o.hosts.iter().map(|h| json!({
            "step_instance_id": h.step,
            "bk_host_id": h.bk_host_id,
            "ip": h.ip,
            "bk_cloud_id": h.bk_cloud_id,
            "status": h.status,
            "exit_code": h.exit_code,
            "succeeded": h.succeeded,
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
        for h in o.failed() {
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
            opt(o.status.as_deref()),
            o.elapsed,
            o.failed().count(),
            o.hosts.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bk_sdk::job::types::ScriptType;

    /// Every `--language` name reaches the wire code both JOB versions document for it.
    #[test]
    fn languages_have_the_same_codes_in_v2_and_v3() {
        for (name, code) in [
            ("shell", 1),
            ("bat", 2),
            ("perl", 3),
            ("python", 4),
            ("powershell", 5),
            ("sql", 6),
        ] {
            let v3 = language(name);
            assert_eq!(v3.code(), code, "{name}");
            assert_eq!(format!("{v3:?}").to_lowercase(), name);
            // v2's enum names the same language under that code.
            let v2 = ScriptType::from(v3.code());
            assert_eq!(format!("{v2:?}").to_lowercase(), name);
        }
    }
}
