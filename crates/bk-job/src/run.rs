//! JOB v2 runs: start a script or a job plan on an older deployment (component `job`) and
//! wait for its end. The same shape as `bk_jobv3::run`, for sites that only have v2.
//!
//! ```no_run
//! use bk_job::run::WaitOptions;
//! use bk_job::types::IpRef;
//! use bk_job::JobExt;
//!
//! # async fn demo(client: bk_runtime::Client) -> Result<(), bk_job::run::RunError> {
//! let outcome = client
//!     .job()
//!     .run_script(2, "root", "#!/bin/bash\nuptime")   // plain text; base64 is internal
//!     .ips(vec![IpRef { bk_cloud_id: 0, ip: "10.0.0.1".into() }])
//!     .on_progress(|p| println!("job {} is {:?} after {:?}", p.job_instance_id, p.status, p.elapsed))
//!     .run()
//!     .await?;
//! for h in outcome.failed_hosts() {
//!     println!("{:?} exit {:?}: {}", h.ip, h.exit_code, h.log.as_deref().unwrap_or(""));
//! }
//! # Ok(()) }
//! ```
//!
//! Waiting uses the runtime's shared poller ([`bk_runtime::poll::Poller`]): poll
//! `get_job_instance_status` with a delay that starts at [`WaitOptions::initial_delay`] (1 s)
//! and grows by half up to [`WaitOptions::max_delay`] (5 s); stop when `is_finished`. v2's
//! status carries each host's state (`step_ip_status`) but no exit code: exit codes and
//! script output come only with `get_job_instance_log`, which returns every host of every
//! step at once. So when some host did not succeed (and [`WaitOptions::fetch_failed_logs`]
//! is set) the log is read once, which fills the exit and error codes of every host and the
//! log text of the hosts that did not succeed; when every host succeeded no log is read and
//! [`HostResult::exit_code`] stays `None`. The overall [`WaitOptions::timeout`] is the
//! client's own; when it passes the job can be force-stopped with v2's
//! `operate_job_instance` ([`WaitOptions::terminate_on_timeout`]) and [`RunError::Timeout`]
//! is returned. A job that ends in failure is not an error: [`JobOutcome::success`] is false.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bk_runtime::poll::{PollError, Poller};

use crate::types::{GlobalVar, IpRef, IpStatus, JobStatus, ScriptType, TargetServer};
use crate::{
    GetJobInstanceLogResponse, GetJobInstanceStatusResponse, Job,
    OperateJobInstanceRequestOperationCode,
};

/// How to wait for a job.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitOptions {
    /// First delay between two status polls (default 1 s).
    pub initial_delay: Duration,
    /// Longest delay between two polls (default 5 s); each delay is 1.5 times the last.
    pub max_delay: Duration,
    /// Give up after this long (default 1 h); `None` waits forever.
    pub timeout: Option<Duration>,
    /// On timeout, ask JOB to force-stop the job (default `false`).
    pub terminate_on_timeout: bool,
    /// When some host did not succeed, read the job log once for exit codes and the
    /// output of those hosts (default `true`).
    pub fetch_failed_logs: bool,
}

impl Default for WaitOptions {
    fn default() -> Self {
        let p = Poller::default();
        WaitOptions {
            initial_delay: p.initial_delay,
            max_delay: p.max_delay,
            timeout: p.timeout,
            terminate_on_timeout: false,
            fetch_failed_logs: true,
        }
    }
}

impl WaitOptions {
    fn poller(&self) -> Poller {
        Poller {
            initial_delay: self.initial_delay,
            max_delay: self.max_delay,
            timeout: self.timeout,
        }
    }
}

/// What the progress callback sees after each poll.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// The job.
    pub job_instance_id: i64,
    /// Job status, when JOB reported one.
    pub status: Option<JobStatus>,
    /// Status of each step, in order.
    pub steps: Vec<(i64, Option<JobStatus>)>,
    /// Whether the job has ended.
    pub finished: bool,
    /// Polls so far.
    pub polls: u32,
    /// Time since waiting began.
    pub elapsed: Duration,
}

/// A progress callback.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// The result of one host in one step.
#[derive(Debug, Clone, PartialEq)]
pub struct HostResult {
    /// The step.
    pub step_instance_id: i64,
    /// IP address, when JOB reported it.
    pub ip: Option<String>,
    /// Cloud area, when JOB reported it.
    pub bk_cloud_id: Option<i64>,
    /// Per-host status.
    pub status: Option<IpStatus>,
    /// Script exit code (read with the log; see the [module docs](self)).
    pub exit_code: Option<i64>,
    /// JOB's error code for the host (read with the log).
    pub error_code: Option<i64>,
    /// Script output, read for hosts that did not succeed (when asked to).
    pub log: Option<String>,
}

impl HostResult {
    /// Whether the host succeeded (status success or "last success").
    pub fn succeeded(&self) -> bool {
        matches!(
            self.status,
            Some(IpStatus::Success) | Some(IpStatus::LastSuccess)
        )
    }
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq)]
pub struct JobOutcome {
    /// The job.
    pub job_instance_id: i64,
    /// Final job status.
    pub status: Option<JobStatus>,
    /// Whether the job ended in success (status 3).
    pub success: bool,
    /// Final status of each step, in order.
    pub steps: Vec<(i64, Option<JobStatus>)>,
    /// Every host of every step, in JOB's order.
    pub hosts: Vec<HostResult>,
    /// Status polls made.
    pub polls: u32,
    /// Time spent waiting.
    pub elapsed: Duration,
}

impl JobOutcome {
    /// Hosts that did not succeed.
    pub fn failed_hosts(&self) -> impl Iterator<Item = &HostResult> {
        self.hosts.iter().filter(|h| !h.succeeded())
    }

    /// The results keyed by `(bk_cloud_id, ip)` (hosts without an IP are left out; with
    /// several steps the last step's result wins).
    pub fn by_ip(&self) -> BTreeMap<(i64, String), &HostResult> {
        self.hosts
            .iter()
            .filter_map(|h| Some(((h.bk_cloud_id.unwrap_or(0), h.ip.clone()?), h)))
            .collect()
    }
}

/// Why starting or waiting failed.
#[derive(Debug)]
pub enum RunError {
    /// An API call failed.
    Api(bk_runtime::Error),
    /// The job did not end within [`WaitOptions::timeout`].
    Timeout {
        /// The job.
        job_instance_id: i64,
        /// Time waited.
        elapsed: Duration,
        /// Last status seen.
        last_status: Option<JobStatus>,
        /// Whether a force-stop was requested (and accepted).
        terminated: bool,
    },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Api(e) => write!(f, "{e}"),
            RunError::Timeout {
                job_instance_id,
                elapsed,
                last_status,
                terminated,
            } => write!(
                f,
                "job {job_instance_id} did not finish within {elapsed:?} (last status {last_status:?}){}",
                if *terminated { "; it was terminated" } else { "" }
            ),
        }
    }
}

impl std::error::Error for RunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RunError::Api(e) => Some(e),
            RunError::Timeout { .. } => None,
        }
    }
}

impl From<bk_runtime::Error> for RunError {
    fn from(e: bk_runtime::Error) -> Self {
        RunError::Api(e)
    }
}

impl Job {
    /// Runs a script (plain text) as `account` on hosts of business `bk_biz_id`:
    /// `fast_execute_script`, then wait.
    pub fn run_script(
        &self,
        bk_biz_id: i64,
        account: impl Into<String>,
        script: impl Into<String>,
    ) -> RunScript {
        RunScript {
            job: self.clone(),
            bk_biz_id,
            account: account.into(),
            script: script.into(),
            script_type: ScriptType::Shell,
            params: None,
            target: TargetServer::default(),
            script_timeout: None,
            task_name: None,
            wait: WaitOptions::default(),
            progress: None,
        }
    }

    /// Runs a saved job plan: `execute_job`, then wait.
    pub fn run_job(&self, bk_biz_id: i64, bk_job_id: i64) -> RunJob {
        RunJob {
            job: self.clone(),
            bk_biz_id,
            bk_job_id,
            global_vars: Vec::new(),
            wait: WaitOptions::default(),
            progress: None,
        }
    }

    /// A handle on a job instance that is already running.
    pub fn job_instance(&self, bk_biz_id: i64, job_instance_id: i64) -> JobHandle {
        JobHandle {
            job: self.clone(),
            bk_biz_id,
            job_instance_id,
        }
    }
}

/// A script run being set up ([`Job::run_script`]).
#[must_use = "nothing runs until `.run().await` or `.start().await`"]
#[derive(Clone)]
pub struct RunScript {
    job: Job,
    bk_biz_id: i64,
    account: String,
    script: String,
    script_type: ScriptType,
    params: Option<String>,
    target: TargetServer,
    script_timeout: Option<i64>,
    task_name: Option<String>,
    wait: WaitOptions,
    progress: Option<ProgressFn>,
}

impl fmt::Debug for RunScript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunScript")
            .field("bk_biz_id", &self.bk_biz_id)
            .field("script_type", &self.script_type)
            .field("target", &self.target)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

impl RunScript {
    /// Target hosts by cloud area and IP.
    pub fn ips(mut self, ips: Vec<IpRef>) -> Self {
        self.target.ip_list = Some(ips);
        self
    }

    /// The whole target (IPs, dynamic groups, topology nodes).
    pub fn target(mut self, target: TargetServer) -> Self {
        self.target = target;
        self
    }

    /// Script language (default shell).
    pub fn script_type(mut self, script_type: ScriptType) -> Self {
        self.script_type = script_type;
        self
    }

    /// Script parameters, plain text.
    pub fn params(mut self, params: impl Into<String>) -> Self {
        self.params = Some(params.into());
        self
    }

    /// JOB's own script timeout, seconds (60..86400; server default 7200).
    pub fn script_timeout(mut self, secs: i64) -> Self {
        self.script_timeout = Some(secs);
        self
    }

    /// Task name shown in JOB.
    pub fn task_name(mut self, name: impl Into<String>) -> Self {
        self.task_name = Some(name.into());
        self
    }

    /// How to wait.
    pub fn wait_options(mut self, wait: WaitOptions) -> Self {
        self.wait = wait;
        self
    }

    /// Overall wait timeout (`None`: forever).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.wait.timeout = timeout;
        self
    }

    /// Force-stop the job when the wait times out.
    pub fn terminate_on_timeout(mut self, yes: bool) -> Self {
        self.wait.terminate_on_timeout = yes;
        self
    }

    /// Called after every status poll.
    pub fn on_progress(mut self, f: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    /// Starts the job and returns at once.
    pub async fn start(&self) -> Result<JobHandle, RunError> {
        let mut b = self
            .job
            .fast_execute_script(self.bk_biz_id, self.account.clone())
            .script_content_text(&self.script)
            .script_type(self.script_type)
            .target_server(self.target.clone());
        if let Some(p) = &self.params {
            b = b.script_param_text(p);
        }
        if let Some(t) = self.script_timeout {
            b = b.script_timeout(t);
        }
        if let Some(n) = &self.task_name {
            b = b.task_name(n.clone());
        }
        let r = b.send().await?;
        Ok(self.job.job_instance(self.bk_biz_id, r.job_instance_id))
    }

    /// Starts the job and waits for its end.
    pub async fn run(self) -> Result<JobOutcome, RunError> {
        let handle = self.start().await?;
        handle.wait_with(&self.wait, self.progress.as_deref()).await
    }
}

/// A job plan run being set up ([`Job::run_job`]).
#[must_use = "nothing runs until `.run().await` or `.start().await`"]
#[derive(Clone)]
pub struct RunJob {
    job: Job,
    bk_biz_id: i64,
    bk_job_id: i64,
    global_vars: Vec<GlobalVar>,
    wait: WaitOptions,
    progress: Option<ProgressFn>,
}

impl fmt::Debug for RunJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunJob")
            .field("bk_biz_id", &self.bk_biz_id)
            .field("bk_job_id", &self.bk_job_id)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

impl RunJob {
    /// Global variable values of this run (the others keep the plan's defaults).
    pub fn global_vars(mut self, vars: Vec<GlobalVar>) -> Self {
        self.global_vars = vars;
        self
    }

    /// How to wait.
    pub fn wait_options(mut self, wait: WaitOptions) -> Self {
        self.wait = wait;
        self
    }

    /// Overall wait timeout (`None`: forever).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.wait.timeout = timeout;
        self
    }

    /// Force-stop the job when the wait times out.
    pub fn terminate_on_timeout(mut self, yes: bool) -> Self {
        self.wait.terminate_on_timeout = yes;
        self
    }

    /// Called after every status poll.
    pub fn on_progress(mut self, f: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    /// Starts the plan and returns at once.
    pub async fn start(&self) -> Result<JobHandle, RunError> {
        let mut b = self.job.execute_job(self.bk_biz_id, self.bk_job_id);
        if !self.global_vars.is_empty() {
            b = b.global_vars(self.global_vars.clone());
        }
        let r = b.send().await?;
        Ok(self.job.job_instance(self.bk_biz_id, r.job_instance_id))
    }

    /// Starts the plan and waits for its end.
    pub async fn run(self) -> Result<JobOutcome, RunError> {
        let handle = self.start().await?;
        handle.wait_with(&self.wait, self.progress.as_deref()).await
    }
}

/// A started job instance.
#[derive(Debug, Clone)]
pub struct JobHandle {
    job: Job,
    /// The business it runs in.
    pub bk_biz_id: i64,
    /// The job.
    pub job_instance_id: i64,
}

fn job_status(r: &GetJobInstanceStatusResponse) -> Option<JobStatus> {
    r.job_instance.as_ref().and_then(|j| j.status)
}

fn steps(r: &GetJobInstanceStatusResponse) -> impl Iterator<Item = &crate::StepInstance> {
    r.blocks
        .iter()
        .flatten()
        .flat_map(|b| b.step_instances.iter().flatten())
}

fn step_states(r: &GetJobInstanceStatusResponse) -> Vec<(i64, Option<JobStatus>)> {
    steps(r).map(|s| (s.step_instance_id, s.status)).collect()
}

fn host_results(r: &GetJobInstanceStatusResponse) -> Vec<HostResult> {
    steps(r)
        .flat_map(|s| {
            s.step_ip_status.iter().flatten().map(|h| HostResult {
                step_instance_id: s.step_instance_id,
                ip: h.ip.clone(),
                bk_cloud_id: h.bk_cloud_id,
                status: h.status,
                exit_code: None,
                error_code: None,
                log: None,
            })
        })
        .collect()
}

impl JobHandle {
    /// One status read.
    pub async fn status(&self) -> Result<GetJobInstanceStatusResponse, bk_runtime::Error> {
        self.job
            .get_job_instance_status(self.bk_biz_id, self.job_instance_id)
            .send()
            .await
    }

    /// The logs of every host of every step.
    pub async fn logs(&self) -> Result<GetJobInstanceLogResponse, bk_runtime::Error> {
        self.job
            .get_job_instance_log(self.bk_biz_id, self.job_instance_id)
            .send()
            .await
    }

    /// Asks JOB to force-stop the job (`operate_job_instance`, operation 1).
    pub async fn terminate(&self) -> Result<(), bk_runtime::Error> {
        self.job
            .operate_job_instance(
                self.bk_biz_id,
                self.job_instance_id,
                OperateJobInstanceRequestOperationCode::Terminate,
            )
            .send()
            .await
            .map(|_| ())
    }

    /// Waits with the default [`WaitOptions`] and no progress callback.
    pub async fn wait(&self) -> Result<JobOutcome, RunError> {
        self.wait_with(&WaitOptions::default(), None).await
    }

    /// Polls until the job ends (or the timeout), then gathers per-host results and, when
    /// some host did not succeed, the exit codes and the logs of those hosts.
    pub async fn wait_with(
        &self,
        opts: &WaitOptions,
        progress: Option<&(dyn Fn(&Progress) + Send + Sync)>,
    ) -> Result<JobOutcome, RunError> {
        let started = Instant::now();
        let mut last_status = None;
        let polled = opts
            .poller()
            .run(
                || self.status(),
                |r, info| {
                    last_status = job_status(r).or(last_status);
                    if let Some(f) = progress {
                        f(&Progress {
                            job_instance_id: self.job_instance_id,
                            status: last_status,
                            steps: step_states(r),
                            finished: r.is_finished,
                            polls: info.polls,
                            elapsed: info.elapsed,
                        });
                    }
                    r.is_finished
                },
            )
            .await;
        let end = match polled {
            Ok(p) => p,
            Err(PollError::Failed(e)) => return Err(RunError::Api(e)),
            Err(PollError::TimedOut { .. }) => {
                let terminated = opts.terminate_on_timeout && self.terminate().await.is_ok();
                return Err(RunError::Timeout {
                    job_instance_id: self.job_instance_id,
                    elapsed: started.elapsed(),
                    last_status,
                    terminated,
                });
            }
        };
        let r = &end.value;
        let status = job_status(r).or(last_status);
        let mut hosts = host_results(r);
        if opts.fetch_failed_logs && hosts.iter().any(|h| !h.succeeded()) {
            fill_from_logs(&mut hosts, &self.logs().await?);
        }
        Ok(JobOutcome {
            job_instance_id: self.job_instance_id,
            success: status == Some(JobStatus::Success),
            status,
            steps: step_states(r),
            hosts,
            polls: end.polls,
            elapsed: started.elapsed(),
        })
    }
}

/// Copies exit and error codes of every host, and the log text of hosts that did not
/// succeed, from the job log (matched by step, cloud area and IP).
fn fill_from_logs(hosts: &mut [HostResult], logs: &GetJobInstanceLogResponse) {
    let mut index: BTreeMap<(i64, i64, &str), usize> = BTreeMap::new();
    for (i, h) in hosts.iter().enumerate() {
        if let Some(ip) = h.ip.as_deref() {
            index.insert((h.step_instance_id, h.bk_cloud_id.unwrap_or(0), ip), i);
        }
    }
    let mut found = Vec::new();
    for step in logs {
        for group in step.step_results.iter().flatten() {
            for l in group.ip_logs.iter().flatten() {
                let Some(ip) = l.ip.as_deref() else {
                    continue;
                };
                let key = (step.step_instance_id, l.bk_cloud_id.unwrap_or(0), ip);
                if let Some(i) = index.get(&key) {
                    found.push((*i, l));
                }
            }
        }
    }
    for (i, l) in found {
        let h = &mut hosts[i];
        h.exit_code = l.exit_code.or(h.exit_code);
        h.error_code = l.error_code.or(h.error_code);
        if !h.succeeded() {
            h.log = l.log_content.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{IpLog, StepLog, StepResult};

    fn host(step: i64, ip: &str, status: IpStatus) -> HostResult {
        HostResult {
            step_instance_id: step,
            ip: Some(ip.into()),
            bk_cloud_id: Some(0),
            status: Some(status),
            exit_code: None,
            error_code: None,
            log: None,
        }
    }

    #[test]
    fn logs_fill_codes_of_all_and_text_of_failures() {
        let mut hosts = vec![
            host(1, "10.0.0.1", IpStatus::Success),
            host(1, "10.0.0.2", IpStatus::Failed),
            host(2, "10.0.0.2", IpStatus::Success),
        ];
        let log = |ip: &str, exit: i64, text: &str| IpLog {
            ip: Some(ip.into()),
            bk_cloud_id: Some(0),
            exit_code: Some(exit),
            error_code: Some(0),
            log_content: Some(text.into()),
            ..IpLog::default()
        };
        let logs = vec![StepLog {
            step_instance_id: 1,
            step_results: Some(vec![
                StepResult {
                    ip_status: Some(IpStatus::Success),
                    ip_logs: Some(vec![log("10.0.0.1", 0, "fine")]),
                    ..StepResult::default()
                },
                StepResult {
                    ip_status: Some(IpStatus::Failed),
                    ip_logs: Some(vec![log("10.0.0.2", 2, "broken"), log("10.9.9.9", 1, "?")]),
                    ..StepResult::default()
                },
            ]),
            ..StepLog::default()
        }];
        fill_from_logs(&mut hosts, &logs);
        assert_eq!(hosts[0].exit_code, Some(0));
        assert_eq!(hosts[0].log, None, "no text kept for a host that succeeded");
        assert_eq!(hosts[1].exit_code, Some(2));
        assert_eq!(hosts[1].log.as_deref(), Some("broken"));
        // Step 2 had no log entry: untouched.
        assert_eq!(hosts[2].exit_code, None);
    }
}
