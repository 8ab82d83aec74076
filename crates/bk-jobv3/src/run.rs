//! Job runs: start a script or a job plan and wait for its end.
//!
//! ```no_run
//! use bk_jobv3::run::{Scope, WaitOptions};
//! use bk_jobv3::Jobv3Ext;
//!
//! # async fn demo(client: bk_runtime::Client) -> Result<(), bk_jobv3::run::RunError> {
//! let outcome = client
//!     .jobv3()
//!     .run_script(Scope::biz(2), "#!/bin/bash\nuptime")   // plain text; base64 is internal
//!     .hosts(vec![101, 102])
//!     .account_alias("root")
//!     .on_progress(|p| println!("job {} is {:?} after {:?}", p.job_instance_id, p.status, p.elapsed))
//!     .run()
//!     .await?;
//! for h in outcome.failed_hosts() {
//!     println!("{:?} exit {:?}: {}", h.bk_host_id, h.exit_code, h.log.as_deref().unwrap_or(""));
//! }
//! # Ok(()) }
//! ```
//!
//! Waiting follows what bk-nodeman does against the real JOB (`PROTOCOL.md` 4): poll
//! `get_job_instance_status` without host results, with a delay that starts at
//! [`WaitOptions::initial_delay`] (1 s) and grows by half up to [`WaitOptions::max_delay`]
//! (5 s); stop when `finished`; then read the per-host results once and, for hosts that did
//! not succeed, their logs (`batch_get_job_instance_ip_log`). The overall
//! [`WaitOptions::timeout`] is the client's own; when it passes the job can be terminated
//! ([`WaitOptions::terminate_on_timeout`]) and [`RunError::Timeout`] is returned. A job that
//! ends in failure is not an error: [`JobOutcome::success`] is false.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bk_runtime::poll::{PollError, Poller};

use crate::types::{
    GlobalVar, HostTaskStatus, IpRef, JobStatus, ScopeType, ScriptLanguage, Server,
};
use crate::{
    GetJobInstanceStatusResponse, Jobv3, OperateJobInstanceRequestOperationCode, StepInstance,
};

/// Most hosts per `batch_get_job_instance_ip_log` call.
pub const LOG_BATCH: usize = 500;

/// Where a job runs: a business or a business set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// `biz` or `biz_set`.
    pub scope_type: ScopeType,
    /// The business (set) id, as JOB wants it: a string.
    pub scope_id: String,
}

impl Scope {
    /// A business.
    pub fn biz(id: i64) -> Scope {
        Scope {
            scope_type: ScopeType::Biz,
            scope_id: id.to_string(),
        }
    }

    /// A business set.
    pub fn biz_set(id: i64) -> Scope {
        Scope {
            scope_type: ScopeType::BizSet,
            scope_id: id.to_string(),
        }
    }
}

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
    /// Read the logs of hosts that did not succeed (default `true`).
    pub fetch_failed_logs: bool,
}

impl WaitOptions {
    /// The shared poll loop with these delays and timeout.
    fn poller(&self) -> Poller {
        Poller {
            initial_delay: self.initial_delay,
            max_delay: self.max_delay,
            timeout: self.timeout,
        }
    }
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
            timeout: Some(Duration::from_secs(3600)),
            terminate_on_timeout: false,
            fetch_failed_logs: true,
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
    /// CMDB host id, when JOB reported it.
    pub bk_host_id: Option<i64>,
    /// Inner IP, when JOB reported it.
    pub ip: Option<String>,
    /// Cloud area, when JOB reported it.
    pub bk_cloud_id: Option<i64>,
    /// Per-host status.
    pub status: Option<HostTaskStatus>,
    /// Script exit code.
    pub exit_code: Option<i64>,
    /// JOB's error code for the host.
    pub error_code: Option<i64>,
    /// Script output, read for hosts that did not succeed (when asked to).
    pub log: Option<String>,
}

impl HostResult {
    /// Whether the host succeeded (status success or "last success").
    pub fn succeeded(&self) -> bool {
        matches!(
            self.status,
            Some(HostTaskStatus::Success) | Some(HostTaskStatus::LastSuccess)
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

    /// The results keyed by host id (hosts without one are left out; with several steps the
    /// last step's result wins).
    pub fn by_host_id(&self) -> BTreeMap<i64, &HostResult> {
        self.hosts
            .iter()
            .filter_map(|h| h.bk_host_id.map(|id| (id, h)))
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

/// Encodes plain text the way JOB wants `script_content` and `script_param`.
pub fn encode_script(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

impl Jobv3 {
    /// Runs a script (plain text) on hosts: `fast_execute_script`, then wait.
    pub fn run_script(&self, scope: Scope, script: impl Into<String>) -> RunScript {
        RunScript {
            jobv3: self.clone(),
            scope,
            script: script.into(),
            language: ScriptLanguage::Shell,
            params: None,
            target: Server::default(),
            account_alias: None,
            account_id: None,
            timeout_secs: None,
            task_name: None,
            wait: WaitOptions::default(),
            progress: None,
        }
    }

    /// Runs a job plan: `execute_job_plan`, then wait.
    pub fn run_plan(&self, scope: Scope, job_plan_id: i64) -> RunPlan {
        RunPlan {
            jobv3: self.clone(),
            scope,
            job_plan_id,
            global_vars: Vec::new(),
            wait: WaitOptions::default(),
            progress: None,
        }
    }

    /// A handle on a job that is already running.
    pub fn job(&self, scope: Scope, job_instance_id: i64) -> JobHandle {
        JobHandle {
            jobv3: self.clone(),
            scope,
            job_instance_id,
            step_instance_id: None,
        }
    }
}

/// A script run being set up ([`Jobv3::run_script`]).
#[must_use = "nothing runs until `.run().await` or `.start().await`"]
#[derive(Clone)]
pub struct RunScript {
    jobv3: Jobv3,
    scope: Scope,
    script: String,
    language: ScriptLanguage,
    params: Option<String>,
    target: Server,
    account_alias: Option<String>,
    account_id: Option<i64>,
    timeout_secs: Option<i64>,
    task_name: Option<String>,
    wait: WaitOptions,
    progress: Option<ProgressFn>,
}

impl fmt::Debug for RunScript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunScript")
            .field("scope", &self.scope)
            .field("language", &self.language)
            .field("target", &self.target)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

impl RunScript {
    /// Target hosts by CMDB id.
    pub fn hosts(mut self, host_ids: Vec<i64>) -> Self {
        self.target.host_id_list = Some(host_ids);
        self
    }

    /// Target hosts by cloud area and IP.
    pub fn ips(mut self, ips: Vec<IpRef>) -> Self {
        self.target.ip_list = Some(ips);
        self
    }

    /// The whole target (hosts, IPs, dynamic groups, topology nodes).
    pub fn target(mut self, target: Server) -> Self {
        self.target = target;
        self
    }

    /// Script language (default shell).
    pub fn language(mut self, language: ScriptLanguage) -> Self {
        self.language = language;
        self
    }

    /// Script parameters, plain text.
    pub fn params(mut self, params: impl Into<String>) -> Self {
        self.params = Some(params.into());
        self
    }

    /// Run as this account alias (e.g. `root`).
    pub fn account_alias(mut self, alias: impl Into<String>) -> Self {
        self.account_alias = Some(alias.into());
        self
    }

    /// Run as this account id.
    pub fn account_id(mut self, id: i64) -> Self {
        self.account_id = Some(id);
        self
    }

    /// JOB's own script timeout, seconds (1..86400; server default 7200).
    pub fn script_timeout(mut self, secs: i64) -> Self {
        self.timeout_secs = Some(secs);
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
            .jobv3
            .fast_execute_script(self.scope.scope_type.clone(), self.scope.scope_id.clone())
            .script_content(encode_script(&self.script))
            .script_language(self.language)
            .target_server(self.target.clone());
        if let Some(p) = &self.params {
            b = b.script_param(encode_script(p));
        }
        if let Some(a) = &self.account_alias {
            b = b.account_alias(a.clone());
        }
        if let Some(a) = self.account_id {
            b = b.account_id(a);
        }
        if let Some(t) = self.timeout_secs {
            b = b.timeout(t);
        }
        if let Some(n) = &self.task_name {
            b = b.task_name(n.clone());
        }
        let r = b.send().await?;
        Ok(JobHandle {
            jobv3: self.jobv3.clone(),
            scope: self.scope.clone(),
            job_instance_id: r.job_instance_id,
            step_instance_id: Some(r.step_instance_id),
        })
    }

    /// Starts the job and waits for its end.
    pub async fn run(self) -> Result<JobOutcome, RunError> {
        let job = self.start().await?;
        job.wait_with(&self.wait, self.progress.as_deref()).await
    }
}

/// A job plan run being set up ([`Jobv3::run_plan`]).
#[must_use = "nothing runs until `.run().await` or `.start().await`"]
#[derive(Clone)]
pub struct RunPlan {
    jobv3: Jobv3,
    scope: Scope,
    job_plan_id: i64,
    global_vars: Vec<GlobalVar>,
    wait: WaitOptions,
    progress: Option<ProgressFn>,
}

impl fmt::Debug for RunPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunPlan")
            .field("scope", &self.scope)
            .field("job_plan_id", &self.job_plan_id)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

impl RunPlan {
    /// Global variables of the plan.
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
        let mut b = self.jobv3.execute_job_plan(
            self.scope.scope_type.clone(),
            self.scope.scope_id.clone(),
            self.job_plan_id,
        );
        if !self.global_vars.is_empty() {
            b = b.global_var_list(self.global_vars.clone());
        }
        let r = b.send().await?;
        Ok(JobHandle {
            jobv3: self.jobv3.clone(),
            scope: self.scope.clone(),
            job_instance_id: r.job_instance_id,
            step_instance_id: None,
        })
    }

    /// Starts the plan and waits for its end.
    pub async fn run(self) -> Result<JobOutcome, RunError> {
        let job = self.start().await?;
        job.wait_with(&self.wait, self.progress.as_deref()).await
    }
}

/// A started job.
#[derive(Debug, Clone)]
pub struct JobHandle {
    jobv3: Jobv3,
    scope: Scope,
    /// The job.
    pub job_instance_id: i64,
    /// Its step, for single-step (script) jobs.
    pub step_instance_id: Option<i64>,
}

fn step_states(r: &GetJobInstanceStatusResponse) -> Vec<(i64, Option<JobStatus>)> {
    r.step_instance_list
        .iter()
        .flatten()
        .map(|s| (s.step_instance_id, s.status))
        .collect()
}

impl JobHandle {
    /// One status read (`return_ip_result` as asked).
    pub async fn status(
        &self,
        with_hosts: bool,
    ) -> Result<GetJobInstanceStatusResponse, bk_runtime::Error> {
        self.jobv3
            .get_job_instance_status(
                self.scope.scope_type.clone(),
                self.scope.scope_id.clone(),
                self.job_instance_id,
            )
            .return_ip_result(with_hosts)
            .send()
            .await
    }

    /// Asks JOB to force-stop the job.
    pub async fn terminate(&self) -> Result<(), bk_runtime::Error> {
        self.jobv3
            .operate_job_instance(
                self.scope.scope_type.clone(),
                self.scope.scope_id.clone(),
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

    /// Polls until the job ends (or the timeout), then gathers per-host results and the
    /// logs of hosts that did not succeed.
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
                || self.status(false),
                |r, info| {
                    last_status = r
                        .job_instance
                        .as_ref()
                        .and_then(|j| j.status)
                        .or(last_status);
                    if let Some(f) = progress {
                        f(&Progress {
                            job_instance_id: self.job_instance_id,
                            status: last_status,
                            steps: step_states(r),
                            finished: r.finished,
                            polls: info.polls,
                            elapsed: info.elapsed,
                        });
                    }
                    r.finished
                },
            )
            .await;
        let polls = match polled {
            Ok(p) => p.polls,
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
        // The end state with per-host results, read once.
        let r = self.status(true).await?;
        let status = r
            .job_instance
            .as_ref()
            .and_then(|j| j.status)
            .or(last_status);
        let steps = step_states(&r);
        let mut hosts = Vec::new();
        for s in r.step_instance_list.iter().flatten() {
            hosts.extend(host_results(s));
        }
        if opts.fetch_failed_logs {
            self.fill_logs(&mut hosts).await?;
        }
        Ok(JobOutcome {
            job_instance_id: self.job_instance_id,
            success: status == Some(JobStatus::Success),
            status,
            steps,
            hosts,
            polls,
            elapsed: started.elapsed(),
        })
    }

    /// Reads the logs of the hosts that did not succeed, step by step, in batches.
    async fn fill_logs(&self, hosts: &mut [HostResult]) -> Result<(), bk_runtime::Error> {
        let mut by_step: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for (i, h) in hosts.iter().enumerate() {
            if !h.succeeded() {
                by_step.entry(h.step_instance_id).or_default().push(i);
            }
        }
        for (step, idx) in by_step {
            for chunk in idx.chunks(LOG_BATCH) {
                let mut b = self.jobv3.batch_get_job_instance_ip_log(
                    self.scope.scope_type.clone(),
                    self.scope.scope_id.clone(),
                    self.job_instance_id,
                    step,
                );
                let ids: Vec<i64> = chunk.iter().filter_map(|i| hosts[*i].bk_host_id).collect();
                if ids.len() == chunk.len() {
                    b = b.host_id_list(ids);
                } else {
                    let ips: Vec<IpRef> = chunk
                        .iter()
                        .filter_map(|i| {
                            let h = &hosts[*i];
                            Some(IpRef {
                                bk_cloud_id: h.bk_cloud_id.unwrap_or(0),
                                ip: h.ip.clone()?,
                            })
                        })
                        .collect();
                    b = b.ip_list(ips);
                }
                let logs = b.send().await?;
                for l in logs.script_task_logs.into_iter().flatten() {
                    let Some(content) = l.log_content else {
                        continue;
                    };
                    let hit = chunk.iter().copied().find(|i| {
                        let h = &hosts[*i];
                        match (l.bk_host_id, h.bk_host_id) {
                            (Some(a), Some(b)) => a == b,
                            _ => {
                                l.ip.is_some()
                                    && l.ip == h.ip
                                    && l.bk_cloud_id.unwrap_or(0) == h.bk_cloud_id.unwrap_or(0)
                            }
                        }
                    });
                    if let Some(i) = hit {
                        hosts[i].log = Some(content);
                    }
                }
            }
        }
        Ok(())
    }
}

fn host_results(s: &StepInstance) -> impl Iterator<Item = HostResult> + '_ {
    s.step_ip_result_list.iter().flatten().map(|h| HostResult {
        step_instance_id: s.step_instance_id,
        bk_host_id: h.bk_host_id,
        ip: h.ip.clone(),
        bk_cloud_id: h.bk_cloud_id,
        status: h.status,
        exit_code: h.exit_code,
        error_code: h.error_code,
        log: None,
    })
}
