//! Legacy process commands: run an action (`start`, `stop`, `pushcfg`, ...) on process
//! instances with `proc_run_command`, then wait for its per-instance results with
//! `proc_get_task_result_by_id`.
//!
//! ```no_run
//! use std::time::Duration;
//! use bk_gse::types::ProcCommand;
//! use bk_gse::GseExt;
//!
//! # async fn demo(client: bk_runtime::Client) -> Result<(), bk_gse::proc::ProcError> {
//! let outcome = client
//!     .gse()
//!     .run_proc_command("session-1", ProcCommand::Restart, "*.*.*.*")
//!     .ipaddr("10.0.0.1")
//!     .timeout(Some(Duration::from_secs(300)))
//!     .run()
//!     .await?;
//! for r in outcome.failed() {
//!     println!("{:?} on {:?}: {:?}", r.proc_id, r.ipaddr, r.error_msg);
//! }
//! # Ok(()) }
//! ```
//!
//! The legacy ESB always answers `result: true` for these APIs; what happened is in
//! `data.error_code` (`PROTOCOL.md` 5, specs `gse/proc_*`). A command the GSE refuses
//! (`error_code != 0` from `proc_run_command`) is [`ProcError::Rejected`]. The task is polled
//! with the runtime's shared poller ([`bk_runtime::poll::Poller`]: 1 s growing by half up to
//! 5 s, overall timeout 1 h by default) while its `error_code` is [`RUNNING`] (804); 0 ends
//! the wait with a [`ProcOutcome`] (instances that failed are not an error: see
//! [`ProcOutcome::all_succeeded`]), any other code is [`ProcError::TaskFailed`]. The GSE has
//! no API to cancel a process task, so a timeout ([`ProcError::Timeout`]) leaves it running.
//!
//! The current ESB marks these GSE process APIs deprecated; this helper is for deployments
//! that still serve them.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bk_runtime::poll::{PollError, Poller};

use crate::types::{LegacyProcTaskItem, ProcCommand};
use crate::{Gse, ProcGetTaskResultByIdResponse};

/// `error_code` of a task that is still running.
pub const RUNNING: i64 = 804;

/// What the progress callback sees after each poll.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcProgress {
    /// The task.
    pub task_id: String,
    /// The task's `error_code` in this poll ([`RUNNING`] until it ends).
    pub error_code: i64,
    /// Progress lines reported so far.
    pub exec_info: Vec<String>,
    /// Polls so far.
    pub polls: u32,
    /// Time since waiting began.
    pub elapsed: Duration,
}

/// A progress callback.
pub type ProgressFn = Arc<dyn Fn(&ProcProgress) + Send + Sync>;

/// The result of the command on one process instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceResult {
    /// Whether the GSE listed the instance among the successes.
    pub succeeded: bool,
    /// Process instance id, e.g. `test.test.1.1`.
    pub proc_id: Option<String>,
    /// IP of the host.
    pub ipaddr: Option<String>,
    /// Host name.
    pub host_name: Option<String>,
    /// Command output.
    pub content: Option<String>,
    /// The instance's error code (0 on success).
    pub error_code: Option<i64>,
    /// The instance's error message.
    pub error_msg: Option<String>,
    /// When the command finished on the instance, seconds since the Unix epoch.
    pub end_time: Option<i64>,
    /// CMDB business id, as the GSE reports it (a string).
    pub app_id: Option<String>,
}

impl InstanceResult {
    fn new(item: LegacyProcTaskItem, succeeded: bool) -> Self {
        InstanceResult {
            succeeded,
            proc_id: item.proc_id,
            ipaddr: item.ipaddr,
            host_name: item.host_name,
            content: item.content,
            error_code: item.error_code,
            error_msg: item.error_msg,
            end_time: item.end_time,
            app_id: item.app_id,
        }
    }
}

/// How a process task ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcOutcome {
    /// The task.
    pub task_id: String,
    /// Progress lines of the task.
    pub exec_info: Vec<String>,
    /// Every instance: successes first, then failures, in the GSE's order.
    pub instances: Vec<InstanceResult>,
    /// Result polls made.
    pub polls: u32,
    /// Time spent waiting.
    pub elapsed: Duration,
}

impl ProcOutcome {
    fn new(
        task_id: String,
        r: ProcGetTaskResultByIdResponse,
        polls: u32,
        elapsed: Duration,
    ) -> Self {
        let ok = r
            .success
            .into_iter()
            .flatten()
            .map(|i| InstanceResult::new(i, true));
        let failed = r
            .failed
            .into_iter()
            .flatten()
            .map(|i| InstanceResult::new(i, false));
        ProcOutcome {
            task_id,
            exec_info: r.exec_info.unwrap_or_default(),
            instances: ok.chain(failed).collect(),
            polls,
            elapsed,
        }
    }

    /// Instances where the command succeeded.
    pub fn succeeded(&self) -> impl Iterator<Item = &InstanceResult> {
        self.instances.iter().filter(|i| i.succeeded)
    }

    /// Instances where the command failed.
    pub fn failed(&self) -> impl Iterator<Item = &InstanceResult> {
        self.instances.iter().filter(|i| !i.succeeded)
    }

    /// Whether no instance failed.
    pub fn all_succeeded(&self) -> bool {
        self.failed().next().is_none()
    }

    /// The instances of each host, keyed by IP (instances without an IP are left out).
    pub fn by_host(&self) -> BTreeMap<&str, Vec<&InstanceResult>> {
        let mut m: BTreeMap<&str, Vec<&InstanceResult>> = BTreeMap::new();
        for i in &self.instances {
            if let Some(ip) = i.ipaddr.as_deref() {
                m.entry(ip).or_default().push(i);
            }
        }
        m
    }
}

/// Why running or waiting failed.
#[derive(Debug)]
pub enum ProcError {
    /// An API call failed.
    Api(bk_runtime::Error),
    /// `proc_run_command` refused the command (non-zero `error_code`, or no task id).
    Rejected {
        /// The GSE's code.
        error_code: i64,
        /// The GSE's message.
        error_msg: String,
    },
    /// The task ended with an error code other than 0.
    TaskFailed {
        /// The task.
        task_id: String,
        /// The GSE's code.
        error_code: i64,
        /// The GSE's message.
        error_msg: String,
        /// Progress lines of the task.
        exec_info: Vec<String>,
    },
    /// The task did not end within the timeout; it keeps running (the GSE cannot cancel it).
    Timeout {
        /// The task.
        task_id: String,
        /// Polls made.
        polls: u32,
        /// Time waited.
        elapsed: Duration,
        /// Progress lines seen last.
        exec_info: Vec<String>,
    },
}

impl fmt::Display for ProcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcError::Api(e) => write!(f, "{e}"),
            ProcError::Rejected {
                error_code,
                error_msg,
            } => write!(
                f,
                "GSE refused the process command: error {error_code}: {error_msg:?}"
            ),
            ProcError::TaskFailed {
                task_id,
                error_code,
                error_msg,
                ..
            } => write!(
                f,
                "process task {task_id} failed: error {error_code}: {error_msg:?}"
            ),
            ProcError::Timeout {
                task_id,
                polls,
                elapsed,
                ..
            } => write!(
                f,
                "process task {task_id} did not finish within {elapsed:?} ({polls} polls)"
            ),
        }
    }
}

impl std::error::Error for ProcError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProcError::Api(e) => Some(e),
            _ => None,
        }
    }
}

impl From<bk_runtime::Error> for ProcError {
    fn from(e: bk_runtime::Error) -> Self {
        ProcError::Api(e)
    }
}

impl Gse {
    /// Runs `cmd` on the process instances `proc_id` (`*.*.*.*` for all) in session
    /// `session_id` (from `proc_create_session`), then waits ([`ProcRun`]).
    pub fn run_proc_command(
        &self,
        session_id: impl Into<String>,
        cmd: ProcCommand,
        proc_id: impl Into<String>,
    ) -> ProcRun {
        ProcRun {
            gse: self.clone(),
            session_id: session_id.into(),
            cmd,
            proc_id: proc_id.into(),
            ipaddr: None,
            params: Vec::new(),
            wait: Poller::default(),
            progress: None,
        }
    }

    /// A handle on a process task that is already running.
    pub fn proc_task(&self, task_id: impl Into<String>) -> ProcTask {
        ProcTask {
            gse: self.clone(),
            task_id: task_id.into(),
        }
    }
}

/// A process command being set up ([`Gse::run_proc_command`]).
#[must_use = "nothing runs until `.run().await` or `.start().await`"]
#[derive(Clone)]
pub struct ProcRun {
    gse: Gse,
    session_id: String,
    cmd: ProcCommand,
    proc_id: String,
    ipaddr: Option<String>,
    params: Vec<String>,
    wait: Poller,
    progress: Option<ProgressFn>,
}

impl fmt::Debug for ProcRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcRun")
            .field("cmd", &self.cmd)
            .field("proc_id", &self.proc_id)
            .field("ipaddr", &self.ipaddr)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

impl ProcRun {
    /// Only act on the instances of this host IP.
    pub fn ipaddr(mut self, ip: impl Into<String>) -> Self {
        self.ipaddr = Some(ip.into());
        self
    }

    /// Extra arguments of the action.
    pub fn params(mut self, params: Vec<String>) -> Self {
        self.params = params;
        self
    }

    /// How to poll (delays and timeout).
    pub fn wait_options(mut self, poller: Poller) -> Self {
        self.wait = poller;
        self
    }

    /// Overall wait timeout (`None`: forever).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.wait.timeout = timeout;
        self
    }

    /// Called after every result poll.
    pub fn on_progress(mut self, f: impl Fn(&ProcProgress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    /// Sends the command and returns the task at once.
    // The component is deprecated by the current ESB; this helper exists for deployments
    // that still run it.
    #[allow(deprecated)]
    pub async fn start(&self) -> Result<ProcTask, ProcError> {
        let mut b = self.gse.proc_run_command(
            self.session_id.clone(),
            self.cmd.clone(),
            self.proc_id.clone(),
        );
        if let Some(ip) = &self.ipaddr {
            b = b.ipaddr(ip.clone());
        }
        if !self.params.is_empty() {
            b = b.params(self.params.clone());
        }
        let r = b.send().await?;
        match r.task_id.filter(|t| !t.is_empty()) {
            Some(task_id) if r.error_code == 0 => Ok(self.gse.proc_task(task_id)),
            _ => Err(ProcError::Rejected {
                error_code: r.error_code,
                error_msg: r
                    .error_msg
                    .unwrap_or_else(|| "no task id in the answer".to_string()),
            }),
        }
    }

    /// Sends the command and waits for its results.
    pub async fn run(self) -> Result<ProcOutcome, ProcError> {
        let task = self.start().await?;
        task.wait_with(&self.wait, self.progress.as_deref()).await
    }
}

/// A started process task.
#[derive(Debug, Clone)]
pub struct ProcTask {
    gse: Gse,
    /// The task id (`GSEPROC:...`).
    pub task_id: String,
}

impl ProcTask {
    /// One result read.
    #[allow(deprecated)]
    pub async fn result(&self) -> Result<ProcGetTaskResultByIdResponse, bk_runtime::Error> {
        self.gse
            .proc_get_task_result_by_id(self.task_id.clone())
            .send()
            .await
    }

    /// Waits with the default [`Poller`] and no progress callback.
    pub async fn wait(&self) -> Result<ProcOutcome, ProcError> {
        self.wait_with(&Poller::default(), None).await
    }

    /// Polls until the task ends (or the timeout).
    pub async fn wait_with(
        &self,
        poller: &Poller,
        progress: Option<&(dyn Fn(&ProcProgress) + Send + Sync)>,
    ) -> Result<ProcOutcome, ProcError> {
        let mut exec_info = Vec::new();
        let polled = poller
            .run(
                || self.result(),
                |r, info| {
                    if let Some(lines) = &r.exec_info {
                        exec_info.clone_from(lines);
                    }
                    if let Some(f) = progress {
                        f(&ProcProgress {
                            task_id: self.task_id.clone(),
                            error_code: r.error_code,
                            exec_info: exec_info.clone(),
                            polls: info.polls,
                            elapsed: info.elapsed,
                        });
                    }
                    r.error_code != RUNNING
                },
            )
            .await;
        match polled {
            Ok(end) if end.value.error_code == 0 => Ok(ProcOutcome::new(
                self.task_id.clone(),
                end.value,
                end.polls,
                end.elapsed,
            )),
            Ok(end) => Err(ProcError::TaskFailed {
                task_id: self.task_id.clone(),
                error_code: end.value.error_code,
                error_msg: end.value.error_msg.unwrap_or_default(),
                exec_info: end.value.exec_info.unwrap_or_default(),
            }),
            Err(PollError::Failed(e)) => Err(ProcError::Api(e)),
            Err(PollError::TimedOut { polls, elapsed }) => Err(ProcError::Timeout {
                task_id: self.task_id.clone(),
                polls,
                elapsed,
                exec_info,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(ip: &str, code: i64) -> LegacyProcTaskItem {
        LegacyProcTaskItem {
            proc_id: Some("a.b.1.1".into()),
            ipaddr: Some(ip.into()),
            error_code: Some(code),
            ..LegacyProcTaskItem::default()
        }
    }

    #[test]
    fn outcome_splits_successes_and_failures_by_host() {
        let r = ProcGetTaskResultByIdResponse {
            error_code: 0,
            error_msg: None,
            exec_info: Some(vec!["matching...".into()]),
            success: Some(vec![item("10.0.0.1", 0), item("10.0.0.2", 0)]),
            failed: Some(vec![item("10.0.0.2", 1)]),
        };
        let o = ProcOutcome::new("t".into(), r, 3, Duration::from_secs(1));
        assert_eq!(o.succeeded().count(), 2);
        assert_eq!(o.failed().count(), 1);
        assert!(!o.all_succeeded());
        let by = o.by_host();
        assert_eq!(by["10.0.0.1"].len(), 1);
        assert_eq!(by["10.0.0.2"].len(), 2);
        assert!(by["10.0.0.2"].iter().any(|i| !i.succeeded));
        assert_eq!(o.exec_info, vec!["matching...".to_string()]);
    }
}
