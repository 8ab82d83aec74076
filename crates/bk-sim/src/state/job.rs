//! JOB v3: one-off scripts, file transfers and job plans that run over simulated time.
//!
//! A job's progress is computed from its age, never by a background task: with
//! `d = StateConfig::job_step`, a job waits (status 1) for `d`, then step `k` (from 0) runs
//! (status 2) from `d·(k+1)` to `d·(k+2)`, and the job ends with 3 (success) or 4 (failed)
//! when its last step (or the first failed step) ends. Hosts succeed (9, exit 0) unless they
//! are chosen to fail ([`State::set_failing_hosts`], [`State::set_fail_every`]: 11, exit 1)
//! or their agent is offline (1, agent error). `operate_job_instance` with code 1 terminates
//! a running job: it is force-stopping (10) for one step time and then stopped (11).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Map, Value};

use super::cc::CcData;
use super::params::{self, ParamError};
use super::time::{format_compact, format_local, now_ms};
use super::topo::Topology;
use super::{Call, Inner, Outcome, State};

/// Invalid parameter. (bk-job's exact code is UNCONFIRMED; 1240002 is its
/// "illegal parameter" family.)
pub const JOB_INVALID_PARAM: i64 = 1240002;
/// Job instance not found (UNCONFIRMED code).
pub const JOB_NOT_FOUND: i64 = 1244006;
/// Hosts that do not exist or are outside the scope (UNCONFIRMED code).
pub const JOB_HOST_INVALID: i64 = 1243009;
/// The job has already ended and cannot be operated (UNCONFIRMED code).
pub const JOB_ALREADY_FINISHED: i64 = 1244021;

/// Selects a host for [`State::set_failing_hosts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostSelector {
    /// By CMDB host id.
    Id(i64),
    /// By inner IP, as `"10.0.0.1"` (any cloud area) or `"<cloud>:<ip>"`.
    Ip(String),
}

impl From<i64> for HostSelector {
    fn from(v: i64) -> Self {
        HostSelector::Id(v)
    }
}

impl From<&str> for HostSelector {
    fn from(v: &str) -> Self {
        HostSelector::Ip(v.to_string())
    }
}

/// A finished or running job, for tests.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSummary {
    /// `job_instance_id`.
    pub job_instance_id: i64,
    /// The API that created it (`fast_execute_script`, `fast_transfer_file`, `execute_job_plan`).
    pub api: String,
    /// Job instance name.
    pub name: String,
    /// `biz` or `biz_set`.
    pub bk_scope_type: String,
    /// Scope id.
    pub bk_scope_id: String,
    /// The user who started it.
    pub operator: String,
    /// Step instance ids, in order.
    pub step_instance_ids: Vec<i64>,
    /// Target host ids of every step (deduplicated, ascending).
    pub host_ids: Vec<i64>,
    /// Decoded script of the first script step (empty for file jobs).
    pub script_content: String,
    /// Job status now.
    pub status: i64,
    /// Creation time, epoch ms.
    pub create_time: i64,
    /// The `callback_url` given, if any.
    pub callback_url: Option<String>,
    /// The component it was started through: `jobv3`, or `job` (v2).
    pub component: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HostOutcome {
    Success,
    Failed,
    AgentError,
}

#[derive(Debug, Clone)]
pub(super) struct Target {
    pub(super) host_id: i64,
    pub(super) ip: String,
    pub(super) cloud: i64,
    pub(super) outcome: HostOutcome,
}

#[derive(Debug, Clone)]
pub(super) struct FileSource {
    pub(super) host: Target,
    pub(super) files: Vec<String>,
}

#[derive(Debug, Clone)]
pub(super) struct Step {
    pub(super) id: i64,
    pub(super) name: String,
    pub(super) kind: i64, // 1 script, 2 file
    pub(super) script: String,
    pub(super) language: i64,
    pub(super) script_param: String,
    pub(super) param_sensitive: bool,
    pub(super) account: String,
    pub(super) targets: Vec<Target>,
    pub(super) sources: Vec<FileSource>,
    pub(super) dest_path: String,
}

#[derive(Debug, Clone)]
pub(super) struct Job {
    pub(super) id: i64,
    pub(super) name: String,
    pub(super) api: &'static str,
    pub(super) scope_type: String,
    pub(super) scope_id: String,
    pub(super) operator: String,
    pub(super) created: Instant,
    pub(super) created_ms: i64,
    pub(super) steps: Vec<Step>,
    pub(super) terminated: Option<Duration>,
    pub(super) callback_url: Option<String>,
    /// `jobv3`, or `job` for jobs started through the v2 API.
    pub(super) component: &'static str,
    /// The job plan it runs, for plan runs.
    pub(super) plan: Option<i64>,
}

#[derive(Debug, Default)]
pub(super) struct JobData {
    jobs: BTreeMap<i64, Job>,
    next_job: i64,
    next_step: i64,
    executions: u64,
    failing: Vec<HostSelector>,
    fail_every: Option<i64>,
}

/// JOB state.
#[derive(Debug, Default)]
pub struct JobState {
    data: Mutex<JobData>,
}

impl JobState {
    fn lock(&self) -> MutexGuard<'_, JobData> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Status of one host of one step at an instant.
#[derive(Debug, Clone, Copy)]
pub(super) struct HostView {
    pub(super) status: i64,
    pub(super) exit_code: i64,
    pub(super) start: Option<Duration>,
    pub(super) end: Option<Duration>,
}

#[derive(Debug, Clone)]
pub(super) struct StepView {
    pub(super) status: i64,
    pub(super) start: Option<Duration>,
    pub(super) end: Option<Duration>,
    pub(super) hosts: Vec<HostView>,
}

#[derive(Debug, Clone)]
pub(super) struct JobView {
    pub(super) status: i64,
    pub(super) finished: bool,
    pub(super) start: Option<Duration>,
    pub(super) end: Option<Duration>,
    pub(super) steps: Vec<StepView>,
}

fn step_failed(s: &Step) -> bool {
    s.targets.iter().any(|t| t.outcome != HostOutcome::Success)
}

fn host_final(o: HostOutcome) -> (i64, i64) {
    match o {
        HostOutcome::Success => (9, 0),
        HostOutcome::Failed => (11, 1),
        HostOutcome::AgentError => (1, 0),
    }
}

/// Computes the job at age `e`.
pub(super) fn view(job: &Job, d: Duration, e: Duration) -> JobView {
    let n = job.steps.len();
    let fail_step = job.steps.iter().position(step_failed);
    let last = fail_step.unwrap_or(n.saturating_sub(1));
    let bounds = |k: usize| {
        (
            d.saturating_mul(k as u32 + 1),
            d.saturating_mul(k as u32 + 2),
        )
    };
    let natural_end = bounds(last).1;
    if let Some(tt) = job.terminated.filter(|tt| *tt < natural_end) {
        let stop_end = tt.saturating_add(d);
        let stopped = e >= stop_end;
        let steps = job
            .steps
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let (st, en) = bounds(k);
                if en <= tt {
                    StepView {
                        status: 3,
                        start: Some(st),
                        end: Some(en),
                        hosts: s
                            .targets
                            .iter()
                            .map(|t| {
                                let (status, exit_code) = host_final(t.outcome);
                                HostView {
                                    status,
                                    exit_code,
                                    start: Some(st),
                                    end: Some(en),
                                }
                            })
                            .collect(),
                    }
                } else if st <= tt {
                    StepView {
                        status: if stopped { 11 } else { 10 },
                        start: Some(st),
                        end: stopped.then_some(stop_end),
                        hosts: s
                            .targets
                            .iter()
                            .map(|_| HostView {
                                status: if stopped { 403 } else { 7 },
                                exit_code: if stopped { 137 } else { 0 },
                                start: Some(st),
                                end: stopped.then_some(stop_end),
                            })
                            .collect(),
                    }
                } else {
                    waiting_step(s)
                }
            })
            .collect();
        return JobView {
            status: if stopped { 11 } else { 10 },
            finished: stopped,
            start: (tt >= d).then_some(d),
            end: stopped.then_some(stop_end),
            steps,
        };
    }
    let steps = job
        .steps
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let (st, en) = bounds(k);
            if k > last || e < st {
                waiting_step(s)
            } else if e < en {
                StepView {
                    status: 2,
                    start: Some(st),
                    end: None,
                    hosts: s
                        .targets
                        .iter()
                        .map(|_| HostView {
                            status: 7,
                            exit_code: 0,
                            start: Some(st),
                            end: None,
                        })
                        .collect(),
                }
            } else {
                StepView {
                    status: if Some(k) == fail_step { 4 } else { 3 },
                    start: Some(st),
                    end: Some(en),
                    hosts: s
                        .targets
                        .iter()
                        .map(|t| {
                            let (status, exit_code) = host_final(t.outcome);
                            HostView {
                                status,
                                exit_code,
                                start: Some(st),
                                end: Some(en),
                            }
                        })
                        .collect(),
                }
            }
        })
        .collect();
    let finished = e >= natural_end;
    JobView {
        status: if e < d {
            1
        } else if !finished {
            2
        } else if fail_step.is_some() {
            4
        } else {
            3
        },
        finished,
        start: (e >= d).then_some(d),
        end: finished.then_some(natural_end),
        steps,
    }
}

fn waiting_step(s: &Step) -> StepView {
    StepView {
        status: 1,
        start: None,
        end: None,
        hosts: s
            .targets
            .iter()
            .map(|_| HostView {
                status: 5,
                exit_code: 0,
                start: None,
                end: None,
            })
            .collect(),
    }
}

/// When the job will have finished (age), given what is known now.
fn finish_age(job: &Job, d: Duration) -> Duration {
    let n = job.steps.len();
    let last = job
        .steps
        .iter()
        .position(step_failed)
        .unwrap_or(n.saturating_sub(1));
    let natural_end = d.saturating_mul(last as u32 + 2);
    match job.terminated {
        Some(tt) if tt < natural_end => tt.saturating_add(d),
        _ => natural_end,
    }
}

pub(super) fn invalid(e: ParamError) -> Outcome {
    Outcome::error(JOB_INVALID_PARAM, e.to_string())
}

macro_rules! tryp {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return invalid(e),
        }
    };
}

/// Dispatches the JOB APIs handled here.
pub fn handle(state: &State, call: &Call<'_>) -> Option<Outcome> {
    let p = call.params;
    let user = call
        .username
        .unwrap_or(&state.inner.cfg.username)
        .to_string();
    Some(match call.api {
        "fast_execute_script" => fast_execute_script(state, p, &user),
        "fast_transfer_file" => fast_transfer_file(state, p, &user),
        "execute_job_plan" => execute_job_plan(state, p, &user),
        "get_job_instance_status" => get_status(state, p),
        "get_job_instance_ip_log" => get_ip_log(state, p),
        "batch_get_job_instance_ip_log" => batch_ip_log(state, p),
        "operate_job_instance" => operate(state, p),
        _ => return None,
    })
}

fn scope(p: &Value) -> Result<(String, String), Outcome> {
    let st = params::req_str(p, "bk_scope_type").map_err(invalid)?;
    if st != "biz" && st != "biz_set" {
        return Err(invalid(ParamError::new(
            "bk_scope_type",
            "must be biz or biz_set",
        )));
    }
    let sid = params::req_str(p, "bk_scope_id").map_err(invalid)?;
    if sid.trim().parse::<i64>().map(|v| v <= 0).unwrap_or(true) {
        return Err(invalid(ParamError::new(
            "bk_scope_id",
            "must be a positive id",
        )));
    }
    Ok((st, sid.trim().to_string()))
}

fn decode_b64(p: &Value, key: &str) -> Result<Option<String>, Outcome> {
    match params::opt_str(p, key).map_err(invalid)? {
        None => Ok(None),
        Some(s) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .map_err(|_| invalid(ParamError::new(key, "is not valid base64")))?;
            Ok(Some(String::from_utf8_lossy(&bytes).to_string()))
        }
    }
}

/// Resolves a `Server` object into host ids. Hosts must exist and, for a `biz` scope,
/// belong to that business.
fn resolve_server(
    t: &Topology,
    server: &Value,
    name: &str,
    scope: &(String, String),
) -> Result<Vec<i64>, Outcome> {
    let mut ids: Vec<i64> = Vec::new();
    let host_ids = params::opt_i64_list(server, "host_id_list").map_err(invalid)?;
    match host_ids.filter(|v| !v.is_empty()) {
        Some(list) => ids.extend(list),
        None => {
            for (i, ip) in params::opt_array(server, "ip_list")
                .map_err(invalid)?
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                let cloud = params::opt_i64(ip, "bk_cloud_id")
                    .map_err(invalid)?
                    .unwrap_or(0);
                let addr = params::opt_str(ip, "ip")
                    .map_err(invalid)?
                    .unwrap_or_default();
                match t.ip_index.get(&(cloud, addr.clone())) {
                    Some(id) => ids.push(*id),
                    None => {
                        return Err(Outcome::error(
                            JOB_HOST_INVALID,
                            format!("{name}.ip_list[{i}]: host {cloud}:{addr} does not exist"),
                        ))
                    }
                }
            }
        }
    }
    if let Some(groups) = params::opt_array(server, "dynamic_group_list").map_err(invalid)? {
        if let Some(g) = groups.first() {
            let id = g.get("id").map(|v| v.to_string()).unwrap_or_default();
            return Err(Outcome::error(
                JOB_HOST_INVALID,
                format!("{name}.dynamic_group_list: dynamic group {id} does not exist"),
            ));
        }
    }
    for (i, node) in params::opt_array(server, "topo_node_list")
        .map_err(invalid)?
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let id = params::req_i64(node, "id").map_err(invalid)?;
        let kind = params::req_str(node, "node_type").map_err(invalid)?;
        let found: Vec<i64> = match kind.as_str() {
            "biz" => t
                .hosts
                .values()
                .filter(|h| h.biz == id)
                .map(|h| h.id)
                .collect(),
            "set" => t
                .hosts
                .values()
                .filter(|h| {
                    h.modules
                        .iter()
                        .any(|m| t.modules.get(m).is_some_and(|x| x.set_id == id))
                })
                .map(|h| h.id)
                .collect(),
            "module" => t
                .hosts
                .values()
                .filter(|h| h.modules.contains(&id))
                .map(|h| h.id)
                .collect(),
            _ => {
                return Err(invalid(ParamError::new(
                    format!("{name}.topo_node_list[{i}].node_type"),
                    "must be biz, set or module",
                )))
            }
        };
        let exists = match kind.as_str() {
            "biz" => t.bizs.contains_key(&id),
            "set" => t.sets.contains_key(&id),
            _ => t.modules.contains_key(&id),
        };
        if !exists {
            return Err(Outcome::error(
                JOB_HOST_INVALID,
                format!("{name}.topo_node_list[{i}]: {kind} {id} does not exist"),
            ));
        }
        ids.extend(found);
    }
    let mut seen = std::collections::BTreeSet::new();
    ids.retain(|id| seen.insert(*id));
    let biz: Option<i64> = (scope.0 == "biz").then(|| scope.1.parse().unwrap_or(0));
    let bad: Vec<String> = ids
        .iter()
        .filter(|id| match t.hosts.get(id) {
            None => true,
            Some(h) => biz.is_some_and(|b| h.biz != b),
        })
        .map(|id| id.to_string())
        .collect();
    if !bad.is_empty() {
        return Err(Outcome::error(
            JOB_HOST_INVALID,
            format!(
                "{name}: hosts [{}] do not exist or are not in {} {}",
                bad.join(","),
                scope.0,
                scope.1
            ),
        ));
    }
    Ok(ids)
}

fn make_targets(state: &State, cc: &CcData, ids: &[i64], data: &JobData) -> Vec<Target> {
    let cfg = &state.inner.cfg;
    let t = &cc.topo;
    ids.iter()
        .filter_map(|id| t.hosts.get(id))
        .map(|h| {
            let ip = t.host_ip(h);
            let cloud = t.host_cloud(h);
            let alive = cc.agent_override.get(&h.id).copied().unwrap_or_else(|| {
                super::gse::generated_alive(cfg.seed, cfg.offline_per_mille, h.id)
            });
            let chosen = data.failing.iter().any(|s| match s {
                HostSelector::Id(i) => *i == h.id,
                HostSelector::Ip(x) => *x == ip || *x == format!("{cloud}:{ip}"),
            }) || data.fail_every.is_some_and(|n| n > 0 && h.id % n == 0);
            let outcome = if !alive && cfg.job_fail_offline_agents {
                HostOutcome::AgentError
            } else if chosen {
                HostOutcome::Failed
            } else {
                HostOutcome::Success
            };
            Target {
                host_id: h.id,
                ip,
                cloud,
                outcome,
            }
        })
        .collect()
}

fn check_timeout(p: &Value) -> Result<(), Outcome> {
    if let Some(t) = params::opt_i64(p, "timeout").map_err(invalid)? {
        if !(1..=86400).contains(&t) {
            return Err(invalid(ParamError::new("timeout", "must be 1..86400")));
        }
    }
    Ok(())
}

fn account(p: &Value, id_key: &str, alias_key: &str, name: &str) -> Result<String, Outcome> {
    if let Some(id) = params::opt_i64(p, id_key).map_err(invalid)? {
        return Ok(match id {
            1 => "root".to_string(),
            2 => "Administrator".to_string(),
            other => format!("account-{other}"),
        });
    }
    match params::opt_str(p, alias_key).map_err(invalid)? {
        Some(a) if !a.is_empty() => Ok(a),
        _ => Err(invalid(ParamError::new(
            name,
            "needs an account (account_id or account_alias)",
        ))),
    }
}

struct NewJob {
    plan: Option<i64>,
    api: &'static str,
    name: String,
    scope: (String, String),
    operator: String,
    steps: Vec<Step>,
    callback_url: Option<String>,
}

fn create(state: &State, new: NewJob) -> (i64, Vec<i64>, String) {
    let (id, steps, name, callback) = {
        let mut data = state.inner.job.lock();
        if data.next_job == 0 {
            data.next_job = 20_000_000_001;
            data.next_step = 20_000_000_001;
        }
        let id = data.next_job;
        data.next_job += 1;
        let mut steps = new.steps;
        for s in &mut steps {
            s.id = data.next_step;
            data.next_step += 1;
        }
        data.executions += 1;
        let step_ids: Vec<i64> = steps.iter().map(|s| s.id).collect();
        let job = Job {
            id,
            name: new.name.clone(),
            api: new.api,
            scope_type: new.scope.0,
            scope_id: new.scope.1,
            operator: new.operator,
            created: Instant::now(),
            created_ms: now_ms(),
            steps,
            terminated: None,
            callback_url: new.callback_url.clone(),
            component: "jobv3",
            plan: new.plan,
        };
        data.jobs.insert(id, job);
        (id, step_ids, new.name, new.callback_url)
    };
    if let Some(url) = callback.filter(|u| !u.is_empty()) {
        spawn_job_callback(state.inner.clone(), id, url);
    }
    (id, steps, name)
}

fn spawn_job_callback(inner: Arc<Inner>, id: i64, url: String) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    rt.spawn(async move {
        let d = inner.cfg.job_step;
        loop {
            let (wait, body) = {
                let data = inner.job.lock();
                let Some(job) = data.jobs.get(&id) else {
                    return;
                };
                let age = job.created.elapsed();
                let v = view(job, d, age);
                if v.finished {
                    let steps: Vec<Value> = job
                        .steps
                        .iter()
                        .zip(&v.steps)
                        .map(|(s, sv)| json!({"step_instance_id": s.id, "status": sv.status}))
                        .collect();
                    let list = if job.component == "job" {
                        "step_instances"
                    } else {
                        "step_instance_list"
                    };
                    (
                        Duration::ZERO,
                        Some(json!({
                            "job_instance_id": id,
                            "status": v.status,
                            list: steps,
                        })),
                    )
                } else {
                    (
                        finish_age(job, d).saturating_sub(age) + Duration::from_millis(1),
                        None,
                    )
                }
            };
            match body {
                Some(b) => {
                    let rec =
                        super::callback::post_json(&url, &b, inner.cfg.callback_timeout).await;
                    inner.callbacks.push(rec);
                    return;
                }
                None => tokio::time::sleep(wait).await,
            }
        }
    });
}

pub(super) fn fast_execute_script(state: &State, p: &Value, user: &str) -> Outcome {
    let scope = match scope(p) {
        Ok(s) => s,
        Err(o) => return o,
    };
    if let Err(o) = check_timeout(p) {
        return o;
    }
    let content = match decode_b64(p, "script_content") {
        Ok(c) => c,
        Err(o) => return o,
    };
    let version = tryp!(params::opt_i64(p, "script_version_id"));
    let script_id = tryp!(params::opt_str(p, "script_id")).filter(|s| !s.is_empty());
    let language = tryp!(params::opt_i64(p, "script_language")).unwrap_or(1);
    if !(1..=6).contains(&language) {
        return invalid(ParamError::new("script_language", "must be 1..6"));
    }
    let script = if let Some(v) = version {
        format!("#!/bin/bash\n# stored script version {v}\necho \"stored script version {v}\"\n")
    } else if let Some(s) = &script_id {
        format!("#!/bin/bash\n# stored script {s} (online version)\necho \"stored script {s}\"\n")
    } else {
        match content {
            Some(c) if !c.is_empty() => c,
            _ => {
                return invalid(ParamError::new(
                    "script_content",
                    "is required when neither script_version_id nor script_id is given",
                ))
            }
        }
    };
    let script_param = match decode_b64(p, "script_param") {
        Ok(c) => c.unwrap_or_default(),
        Err(o) => return o,
    };
    let sensitive = tryp!(params::opt_i64(p, "is_param_sensitive")).unwrap_or(0) == 1;
    let account = match account(p, "account_id", "account_alias", "account_alias") {
        Ok(a) => a,
        Err(o) => return o,
    };
    let task_name = tryp!(params::opt_str(p, "task_name")).filter(|s| !s.is_empty());
    if task_name.as_ref().is_some_and(|n| n.chars().count() > 512) {
        return invalid(ParamError::new(
            "task_name",
            "is longer than 512 characters",
        ));
    }
    let server = params::get(p, "target_server")
        .cloned()
        .unwrap_or(json!({}));
    let callback_url = tryp!(params::opt_str(p, "callback_url"));
    let job = {
        let t = state.inner.cc.read();
        let ids = match resolve_server(&t.topo, &server, "target_server", &scope) {
            Ok(i) => i,
            Err(o) => return o,
        };
        if ids.is_empty() {
            return invalid(ParamError::new("target_server", "selects no host"));
        }
        let jd = state.inner.job.lock();
        let targets = make_targets(state, &t, &ids, &jd);
        let name = task_name.unwrap_or_else(|| {
            format!(
                "API_QUICK_EXECUTE_SCRIPT_{}",
                format_compact(now_ms() / 1000)
            )
        });
        NewJob {
            plan: None,
            api: "fast_execute_script",
            name: name.clone(),
            scope,
            operator: user.to_string(),
            steps: vec![Step {
                id: 0,
                name,
                kind: 1,
                script,
                language,
                script_param,
                param_sensitive: sensitive,
                account,
                targets,
                sources: Vec::new(),
                dest_path: String::new(),
            }],
            callback_url,
        }
    };
    let (id, steps, name) = create(state, job);
    Outcome::Data(json!({
        "job_instance_id": id,
        "job_instance_name": name,
        "step_instance_id": steps[0],
    }))
}

fn fast_transfer_file(state: &State, p: &Value, user: &str) -> Outcome {
    let scope = match scope(p) {
        Ok(s) => s,
        Err(o) => return o,
    };
    if let Err(o) = check_timeout(p) {
        return o;
    }
    let dest = match params::req_str(p, "file_target_path") {
        Ok(d) => d,
        Err(e) => return invalid(e),
    };
    let account = match account(p, "account_id", "account_alias", "account_alias") {
        Ok(a) => a,
        Err(o) => return o,
    };
    let sources = tryp!(params::opt_array(p, "file_source_list")).unwrap_or_default();
    if sources.is_empty() {
        return invalid(ParamError::new("file_source_list", "is required"));
    }
    let task_name = tryp!(params::opt_str(p, "task_name")).filter(|s| !s.is_empty());
    let server = params::get(p, "target_server")
        .cloned()
        .unwrap_or(json!({}));
    let callback_url = tryp!(params::opt_str(p, "callback_url"));
    let job = {
        let t = state.inner.cc.read();
        let ids = match resolve_server(&t.topo, &server, "target_server", &scope) {
            Ok(i) => i,
            Err(o) => return o,
        };
        if ids.is_empty() {
            return invalid(ParamError::new("target_server", "selects no host"));
        }
        let jd = state.inner.job.lock();
        let mut srcs = Vec::new();
        for (i, s) in sources.iter().enumerate() {
            let files = tryp!(params::opt_str_list(s, "file_list")).unwrap_or_default();
            if files.is_empty() {
                return invalid(ParamError::new(
                    format!("file_source_list[{i}].file_list"),
                    "is required",
                ));
            }
            let file_type = tryp!(params::opt_i64(s, "file_type")).unwrap_or(1);
            if file_type == 3 {
                // Third-party file source: no source host.
                srcs.push(FileSource {
                    host: Target {
                        host_id: 0,
                        ip: String::new(),
                        cloud: 0,
                        outcome: HostOutcome::Success,
                    },
                    files,
                });
                continue;
            }
            let srv = s.get("server").cloned().unwrap_or(json!({}));
            let src_ids = match resolve_server(
                &t.topo,
                &srv,
                &format!("file_source_list[{i}].server"),
                &scope,
            ) {
                Ok(v) => v,
                Err(o) => return o,
            };
            if src_ids.is_empty() {
                return invalid(ParamError::new(
                    format!("file_source_list[{i}].server"),
                    "selects no host",
                ));
            }
            for tg in make_targets(state, &t, &src_ids, &jd) {
                srcs.push(FileSource {
                    host: tg,
                    files: files.clone(),
                });
            }
        }
        let targets = make_targets(state, &t, &ids, &jd);
        let name = task_name.unwrap_or_else(|| {
            format!(
                "API_QUICK_TRANSFER_FILE_{}",
                format_compact(now_ms() / 1000)
            )
        });
        NewJob {
            plan: None,
            api: "fast_transfer_file",
            name: name.clone(),
            scope,
            operator: user.to_string(),
            steps: vec![Step {
                id: 0,
                name,
                kind: 2,
                script: String::new(),
                language: 0,
                script_param: String::new(),
                param_sensitive: false,
                account,
                targets,
                sources: srcs,
                dest_path: dest,
            }],
            callback_url,
        }
    };
    let (id, steps, name) = create(state, job);
    Outcome::Data(json!({
        "job_instance_id": id,
        "job_instance_name": name,
        "step_instance_id": steps[0],
    }))
}

pub(super) fn execute_job_plan(state: &State, p: &Value, user: &str) -> Outcome {
    let scope = match scope(p) {
        Ok(s) => s,
        Err(o) => return o,
    };
    let plan = tryp!(params::req_i64(p, "job_plan_id"));
    if plan <= 0 {
        return invalid(ParamError::new("job_plan_id", "must be a positive id"));
    }
    let vars = tryp!(params::opt_array(p, "global_var_list")).unwrap_or_default();
    let callback_url = tryp!(params::opt_str(p, "callback_url"));
    let job = {
        let t = state.inner.cc.read();
        let mut ids = Vec::new();
        let mut echo = String::new();
        for (i, v) in vars.iter().enumerate() {
            let name = params::opt_str(v, "name")
                .ok()
                .flatten()
                .unwrap_or_default();
            let vid = params::opt_i64(v, "id").ok().flatten();
            if name.is_empty() && vid.is_none() {
                return invalid(ParamError::new(
                    format!("global_var_list[{i}]"),
                    "needs id or name",
                ));
            }
            let label = if name.is_empty() {
                format!("var_{}", vid.unwrap_or(0))
            } else {
                name
            };
            if let Some(srv) = v.get("server").filter(|s| !s.is_null()) {
                match resolve_server(
                    &t.topo,
                    srv,
                    &format!("global_var_list[{i}].server"),
                    &scope,
                ) {
                    Ok(v) => ids.extend(v),
                    Err(o) => return o,
                }
            } else {
                let value = params::opt_str(v, "value")
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                echo.push_str(&format!("echo \"{label}={value}\"\n"));
            }
        }
        if ids.is_empty() {
            // The plan's own default targets: the first three hosts of the business.
            let biz: i64 = scope.1.parse().unwrap_or(0);
            ids = t
                .topo
                .hosts
                .values()
                .filter(|h| h.biz == biz)
                .take(3)
                .map(|h| h.id)
                .collect();
        }
        let mut seen = std::collections::BTreeSet::new();
        ids.retain(|id| seen.insert(*id));
        if ids.is_empty() {
            return Outcome::error(
                JOB_HOST_INVALID,
                format!("job plan {plan} has no target host"),
            );
        }
        let jd = state.inner.job.lock();
        let targets = make_targets(state, &t, &ids, &jd);
        let mk = |name: &str, script: String| Step {
            id: 0,
            name: name.to_string(),
            kind: 1,
            script,
            language: 1,
            script_param: String::new(),
            param_sensitive: false,
            account: "root".to_string(),
            targets: targets.clone(),
            sources: Vec::new(),
            dest_path: String::new(),
        };
        NewJob {
            plan: Some(plan),
            api: "execute_job_plan",
            name: format!("job-plan-{plan}"),
            scope,
            operator: user.to_string(),
            steps: vec![
                mk(
                    "check",
                    format!("#!/bin/bash\necho \"plan {plan}: check\"\n{echo}"),
                ),
                mk(
                    "deploy",
                    format!("#!/bin/bash\necho \"plan {plan}: deploy\"\n"),
                ),
            ],
            callback_url,
        }
    };
    let (id, _, name) = create(state, job);
    Outcome::Data(json!({"job_instance_id": id, "job_instance_name": name}))
}

/// Looks a job up, checking the scope.
pub(super) fn with_job<T>(
    state: &State,
    p: &Value,
    f: impl FnOnce(&Job, Duration, &mut JobData) -> Result<T, Outcome>,
) -> Result<T, Outcome> {
    let scope = scope(p)?;
    let id = params::req_i64(p, "job_instance_id").map_err(invalid)?;
    let d = state.inner.cfg.job_step;
    let mut data = state.inner.job.lock();
    let job = match data.jobs.get(&id) {
        Some(j) if j.scope_type == scope.0 && j.scope_id == scope.1 => j.clone(),
        _ => {
            return Err(Outcome::error(
                JOB_NOT_FOUND,
                format!("job instance {id} not found"),
            ))
        }
    };
    f(&job, d, &mut data)
}

fn ms(job: &Job, d: Option<Duration>) -> Value {
    match d {
        Some(d) => json!(job.created_ms + d.as_millis() as i64),
        None => Value::Null,
    }
}

fn total(start: Option<Duration>, end: Option<Duration>) -> Value {
    match (start, end) {
        (Some(s), Some(e)) => json!(e.saturating_sub(s).as_millis() as i64),
        _ => Value::Null,
    }
}

fn get_status(state: &State, p: &Value) -> Outcome {
    let with_ips = match params::opt_bool(p, "return_ip_result") {
        Ok(b) => b.unwrap_or(false),
        Err(e) => return invalid(e),
    };
    let r = with_job(state, p, |job, d, _| {
        let v = view(job, d, job.created.elapsed());
        let job_start = v.start.map(|_| d);
        let steps: Vec<Value> = job
            .steps
            .iter()
            .zip(&v.steps)
            .map(|(s, sv)| {
                let mut o = json!({
                    "step_instance_id": s.id,
                    "type": s.kind,
                    "name": s.name,
                    "status": sv.status,
                    "create_time": job.created_ms,
                    "start_time": ms(job, sv.start),
                    "end_time": ms(job, sv.end),
                    "total_time": total(sv.start, sv.end),
                    "execute_count": 0,
                });
                if with_ips {
                    let hosts: Vec<Value> = s
                        .targets
                        .iter()
                        .zip(&sv.hosts)
                        .map(|(t, hv)| {
                            json!({
                                "bk_host_id": t.host_id,
                                "ip": t.ip,
                                "bk_cloud_id": t.cloud,
                                "status": hv.status,
                                "tag": "",
                                "exit_code": hv.exit_code,
                                "error_code": 0,
                                "start_time": ms(job, hv.start),
                                "end_time": ms(job, hv.end),
                                "total_time": total(hv.start, hv.end),
                            })
                        })
                        .collect();
                    o["step_ip_result_list"] = Value::Array(hosts);
                }
                o
            })
            .collect();
        Ok(json!({
            "finished": v.finished,
            "job_instance": {
                "job_instance_id": job.id,
                "bk_scope_type": job.scope_type,
                "bk_scope_id": job.scope_id,
                "name": job.name,
                "status": v.status,
                "create_time": job.created_ms,
                "start_time": ms(job, job_start),
                "end_time": ms(job, v.end),
                "total_time": total(Some(Duration::ZERO), v.end),
            },
            "step_instance_list": steps,
        }))
    });
    match r {
        Ok(v) => Outcome::Data(v),
        Err(o) => o,
    }
}

pub(super) fn script_log(job: &Job, s: &Step, t: &Target, hv: &HostView) -> String {
    let Some(start) = hv.start else {
        return String::new();
    };
    let ts = |d: Duration| format_local((job.created_ms + d.as_millis() as i64) / 1000);
    let mut out = String::new();
    out.push_str(&format!(
        "[{}] bk-sim: job {} step {} on {}:{} (bk_host_id {}) as {}\n",
        ts(start),
        job.id,
        s.id,
        t.cloud,
        t.ip,
        t.host_id,
        s.account
    ));
    if t.outcome == HostOutcome::AgentError && hv.end.is_some() {
        out.push_str(&format!(
            "[{}] GSE agent of {} is abnormal; the script did not run\n",
            ts(start),
            t.ip
        ));
        return out;
    }
    let lang = ["", "shell", "bat", "perl", "python", "powershell", "sql"]
        .get(s.language as usize)
        .copied()
        .unwrap_or("shell");
    out.push_str(&format!("[{}] script ({lang}):\n", ts(start)));
    for line in s.script.lines() {
        out.push_str(line);
        out.push('\n');
    }
    if !s.script_param.is_empty() {
        let shown = if s.param_sensitive {
            "******"
        } else {
            s.script_param.as_str()
        };
        out.push_str(&format!("[{}] params: {shown}\n", ts(start)));
    }
    let Some(end) = hv.end else {
        out.push_str(&format!("[{}] running...\n", ts(start)));
        return out;
    };
    for line in s
        .script
        .lines()
        .filter_map(|l| l.trim().strip_prefix("echo "))
    {
        out.push_str(line.trim_matches(['"', '\'']));
        out.push('\n');
    }
    out.push_str(&format!("hostname: vm-{}\n", t.ip.replace('.', "-")));
    match hv.status {
        403 => out.push_str(&format!("[{}] terminated by user\n", ts(end))),
        _ if t.outcome == HostOutcome::Failed => {
            out.push_str("error: simulated failure (bk-sim failing host)\n");
            out.push_str(&format!("[{}] exit code {}\n", ts(end), hv.exit_code));
        }
        _ => out.push_str(&format!("[{}] exit code {}\n", ts(end), hv.exit_code)),
    }
    out
}

fn job_host(t: &Target) -> Value {
    json!({"bk_host_id": t.host_id, "bk_cloud_id": t.cloud, "ip": t.ip})
}

/// File logs of `host` in a file step: downloads when it is a target, uploads when it is
/// a source.
pub(super) fn file_logs(
    s: &Step,
    host_id: i64,
    hv_target: Option<&HostView>,
    running_or_done: bool,
) -> Vec<Value> {
    let mut out = Vec::new();
    if !running_or_done {
        return out;
    }
    for src in s
        .sources
        .iter()
        .filter(|src| src.host.host_id == host_id && host_id != 0)
    {
        for f in &src.files {
            out.push(json!({
                "mode": 0,
                "src_ip": job_host(&src.host),
                "src_path": f,
                "status": 4,
                "log_content": format!("upload {f} done"),
                "size": "1.0 KB",
                "speed": "0 KB/s",
                "process": "100%",
            }));
        }
    }
    if let Some(hv) = hv_target {
        let t = s.targets.iter().find(|t| t.host_id == host_id);
        for src in &s.sources {
            for f in &src.files {
                let base = f.rsplit('/').next().unwrap_or(f);
                let dest = format!("{}/{}", s.dest_path.trim_end_matches('/'), base);
                let (status, msg, process) = match hv.status {
                    7 => (3, "downloading".to_string(), "50%"),
                    9 => (4, format!("download {f} to {dest} done"), "100%"),
                    403 => (5, "terminated by user".to_string(), "50%"),
                    1 => (5, "GSE agent is abnormal".to_string(), "0%"),
                    _ => (
                        5,
                        "simulated failure (bk-sim failing host)".to_string(),
                        "0%",
                    ),
                };
                let mut e = json!({
                    "mode": 1,
                    "src_ip": job_host(&src.host),
                    "src_path": f,
                    "status": status,
                    "log_content": msg,
                    "size": "1.0 KB",
                    "speed": "0 KB/s",
                    "process": process,
                    "dest_path": dest,
                });
                if let Some(t) = t {
                    e["dest_ip"] = job_host(t);
                }
                out.push(e);
            }
        }
    }
    out
}

fn find_step<'a>(
    job: &'a Job,
    v: &'a JobView,
    p: &Value,
) -> Result<(&'a Step, &'a StepView), Outcome> {
    let sid = params::req_i64(p, "step_instance_id").map_err(invalid)?;
    job.steps
        .iter()
        .zip(&v.steps)
        .find(|(s, _)| s.id == sid)
        .ok_or_else(|| Outcome::error(JOB_NOT_FOUND, format!("step instance {sid} not found")))
}

/// The log of one host: `(host, log entry fields)`.
fn host_log(
    job: &Job,
    s: &Step,
    sv: &StepView,
    host_id: i64,
) -> Option<(Target, Map<String, Value>)> {
    let idx = s.targets.iter().position(|t| t.host_id == host_id);
    let mut m = Map::new();
    if s.kind == 1 {
        let i = idx?;
        let t = s.targets[i].clone();
        m.insert(
            "log_content".into(),
            json!(script_log(job, s, &t, &sv.hosts[i])),
        );
        Some((t, m))
    } else {
        let src = s
            .sources
            .iter()
            .find(|x| x.host.host_id == host_id)
            .map(|x| x.host.clone());
        let t = idx.map(|i| s.targets[i].clone()).or(src)?;
        let started = sv.status != 1;
        let logs = file_logs(s, host_id, idx.map(|i| &sv.hosts[i]), started);
        m.insert("file_logs".into(), Value::Array(logs));
        Some((t, m))
    }
}

fn get_ip_log(state: &State, p: &Value) -> Outcome {
    let r = with_job(state, p, |job, d, _| {
        let v = view(job, d, job.created.elapsed());
        let (s, sv) = find_step(job, &v, p)?;
        let host_id = match params::opt_i64(p, "bk_host_id").map_err(invalid)? {
            Some(h) => h,
            None => {
                let ip = params::opt_str(p, "ip")
                    .map_err(invalid)?
                    .unwrap_or_default();
                let cloud = params::opt_i64(p, "bk_cloud_id")
                    .map_err(invalid)?
                    .unwrap_or(0);
                s.targets
                    .iter()
                    .chain(s.sources.iter().map(|x| &x.host))
                    .find(|t| t.ip == ip && t.cloud == cloud && !ip.is_empty())
                    .map(|t| t.host_id)
                    .ok_or_else(|| {
                        invalid(ParamError::new(
                            "bk_host_id",
                            "or bk_cloud_id and ip are required",
                        ))
                    })?
            }
        };
        let (t, mut m) = host_log(job, s, sv, host_id).ok_or_else(|| {
            Outcome::error(
                JOB_HOST_INVALID,
                format!("host {host_id} is not part of step {}", s.id),
            )
        })?;
        m.insert("log_type".into(), json!(s.kind));
        m.insert("bk_host_id".into(), json!(t.host_id));
        m.insert("ip".into(), json!(t.ip));
        m.insert("bk_cloud_id".into(), json!(t.cloud));
        Ok(Value::Object(m))
    });
    match r {
        Ok(v) => Outcome::Data(v),
        Err(o) => o,
    }
}

fn batch_ip_log(state: &State, p: &Value) -> Outcome {
    let r = with_job(state, p, |job, d, _| {
        let v = view(job, d, job.created.elapsed());
        let (s, sv) = find_step(job, &v, p)?;
        let ids = params::opt_i64_list(p, "host_id_list").map_err(invalid)?;
        let ids: Vec<i64> = match ids.filter(|v| !v.is_empty()) {
            Some(ids) => ids,
            None => {
                let ips = params::opt_array(p, "ip_list")
                    .map_err(invalid)?
                    .unwrap_or_default();
                let mut out = Vec::new();
                for ip in &ips {
                    let cloud = params::opt_i64(ip, "bk_cloud_id")
                        .map_err(invalid)?
                        .unwrap_or(0);
                    let addr = params::opt_str(ip, "ip")
                        .map_err(invalid)?
                        .unwrap_or_default();
                    if let Some(t) = s
                        .targets
                        .iter()
                        .chain(s.sources.iter().map(|x| &x.host))
                        .find(|t| t.ip == addr && t.cloud == cloud)
                    {
                        out.push(t.host_id);
                    }
                }
                out
            }
        };
        if ids.is_empty() {
            return Err(invalid(ParamError::new(
                "host_id_list",
                "or ip_list is required",
            )));
        }
        if ids.len() > 500 {
            return Err(invalid(ParamError::new(
                "host_id_list",
                "holds more than 500 hosts",
            )));
        }
        let logs: Vec<Value> = ids
            .iter()
            .filter_map(|h| host_log(job, s, sv, *h))
            .map(|(t, mut m)| {
                m.insert("bk_host_id".into(), json!(t.host_id));
                m.insert("bk_cloud_id".into(), json!(t.cloud));
                m.insert("ip".into(), json!(t.ip));
                Value::Object(m)
            })
            .collect();
        let mut out = json!({
            "log_type": s.kind,
            "job_instance_id": job.id,
            "step_instance_id": s.id,
        });
        if s.kind == 1 {
            out["script_task_logs"] = Value::Array(logs);
        } else {
            out["file_task_logs"] = Value::Array(logs);
        }
        Ok(out)
    });
    match r {
        Ok(v) => Outcome::Data(v),
        Err(o) => o,
    }
}

pub(super) fn operate(state: &State, p: &Value) -> Outcome {
    let code = match params::req_i64(p, "operation_code") {
        Ok(c) => c,
        Err(e) => return invalid(e),
    };
    if code != 1 {
        return invalid(ParamError::new("operation_code", "must be 1 (terminate)"));
    }
    let r = with_job(state, p, |job, d, data| {
        let age = job.created.elapsed();
        if view(job, d, age).finished || job.terminated.is_some() {
            return Err(Outcome::error(
                JOB_ALREADY_FINISHED,
                format!(
                    "job instance {} has already ended or is being stopped",
                    job.id
                ),
            ));
        }
        if let Some(j) = data.jobs.get_mut(&job.id) {
            j.terminated = Some(age);
        }
        Ok(json!({"job_instance_id": job.id}))
    });
    match r {
        Ok(v) => Outcome::Data(v),
        Err(o) => o,
    }
}

/// Marks job `id` as started through `component` (`job` for the v2 API).
pub(super) fn set_component(state: &State, id: i64, component: &'static str) {
    if let Some(j) = state.inner.job.lock().jobs.get_mut(&id) {
        j.component = component;
    }
}

impl State {
    /// How many jobs have been started (every successful `fast_execute_script`,
    /// `fast_transfer_file` and `execute_job_plan`).
    pub fn job_executions(&self) -> u64 {
        self.inner.job.lock().executions
    }

    /// Every job, oldest first.
    pub fn jobs(&self) -> Vec<JobSummary> {
        let d = self.inner.cfg.job_step;
        let data = self.inner.job.lock();
        data.jobs
            .values()
            .map(|j| {
                let mut hosts: Vec<i64> = j
                    .steps
                    .iter()
                    .flat_map(|s| s.targets.iter().map(|t| t.host_id))
                    .collect();
                hosts.sort_unstable();
                hosts.dedup();
                JobSummary {
                    job_instance_id: j.id,
                    api: j.api.to_string(),
                    name: j.name.clone(),
                    bk_scope_type: j.scope_type.clone(),
                    bk_scope_id: j.scope_id.clone(),
                    operator: j.operator.clone(),
                    step_instance_ids: j.steps.iter().map(|s| s.id).collect(),
                    host_ids: hosts,
                    script_content: j
                        .steps
                        .iter()
                        .find(|s| s.kind == 1)
                        .map(|s| s.script.clone())
                        .unwrap_or_default(),
                    status: view(j, d, j.created.elapsed()).status,
                    create_time: j.created_ms,
                    callback_url: j.callback_url.clone(),
                    component: j.component.to_string(),
                }
            })
            .collect()
    }

    /// Hosts on which every job started from now on fails (status 11, exit code 1).
    /// Replaces the previous list.
    pub fn set_failing_hosts(&self, hosts: Vec<HostSelector>) {
        self.inner.job.lock().failing = hosts;
    }

    /// Makes jobs started from now on fail on hosts whose id is a multiple of `n`
    /// (`None` or 0: off).
    pub fn set_fail_every(&self, n: Option<i64>) {
        self.inner.job.lock().fail_every = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(outcomes: &[&[HostOutcome]]) -> Job {
        Job {
            id: 1,
            name: "j".into(),
            api: "fast_execute_script",
            scope_type: "biz".into(),
            scope_id: "2".into(),
            operator: "admin".into(),
            created: Instant::now(),
            created_ms: 0,
            steps: outcomes
                .iter()
                .enumerate()
                .map(|(i, os)| Step {
                    id: i as i64 + 10,
                    name: "s".into(),
                    kind: 1,
                    script: "echo hi".into(),
                    language: 1,
                    script_param: String::new(),
                    param_sensitive: false,
                    account: "root".into(),
                    targets: os
                        .iter()
                        .enumerate()
                        .map(|(k, o)| Target {
                            host_id: k as i64 + 1,
                            ip: "10.0.0.1".into(),
                            cloud: 0,
                            outcome: *o,
                        })
                        .collect(),
                    sources: Vec::new(),
                    dest_path: String::new(),
                })
                .collect(),
            terminated: None,
            callback_url: None,
            component: "jobv3",
            plan: None,
        }
    }

    #[test]
    fn timeline() {
        use HostOutcome::*;
        let d = Duration::from_millis(100);
        let ms = Duration::from_millis;
        let j = job(&[&[Success, Success], &[Success]]);
        assert_eq!(view(&j, d, ms(50)).status, 1);
        assert_eq!(view(&j, d, ms(150)).status, 2);
        assert_eq!(view(&j, d, ms(150)).steps[0].status, 2);
        assert_eq!(view(&j, d, ms(150)).steps[1].status, 1);
        assert_eq!(view(&j, d, ms(250)).steps[0].status, 3);
        assert_eq!(view(&j, d, ms(250)).steps[1].status, 2);
        let done = view(&j, d, ms(300));
        assert!(done.finished);
        assert_eq!(done.status, 3);
        assert_eq!(done.end, Some(ms(300)));
        assert_eq!(done.steps[0].hosts[0].status, 9);

        let f = job(&[&[Success, Failed], &[Success]]);
        let v = view(&f, d, ms(200));
        assert!(v.finished);
        assert_eq!(v.status, 4);
        assert_eq!(v.steps[0].status, 4);
        assert_eq!(v.steps[1].status, 1);
        assert_eq!(v.steps[0].hosts[1].status, 11);
        assert_eq!(v.steps[0].hosts[1].exit_code, 1);

        let mut t = job(&[&[Success], &[Success]]);
        t.terminated = Some(ms(150));
        assert_eq!(view(&t, d, ms(160)).status, 10);
        assert!(!view(&t, d, ms(160)).finished);
        let v = view(&t, d, ms(260));
        assert!(v.finished);
        assert_eq!(v.status, 11);
        assert_eq!(v.steps[0].hosts[0].status, 403);
        assert_eq!(v.steps[1].status, 1);
        assert_eq!(finish_age(&t, d), ms(250));
    }
}
