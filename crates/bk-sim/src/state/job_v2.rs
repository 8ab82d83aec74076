//! JOB v2 (component `job`): the legacy API mapped onto the JOB v3 engine ([`super::job`]).
//!
//! `fast_execute_script`, `execute_job` and `operate_job_instance` are translated into their
//! v3 counterparts (business scope `biz`/`bk_biz_id`, hosts by `{bk_cloud_id, ip}`), so a job
//! runs, fails and stops exactly as a v3 job does and is visible through both APIs.
//! `get_job_instance_status` and `get_job_instance_log` answer with v2's shapes (spec
//! `specs/job/`): times as `yyyy-MM-dd HH:mm:ss +0800`, durations in seconds, steps grouped in
//! `blocks`, logs grouped by host status. Status codes are shared by both versions (job 1..4,
//! 10, 11; host 1, 5, 7, 9, 11, 403).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::job::{self, HostView, Job, Step, StepView};
use super::params;
use super::time::format_local;
use super::{Call, Outcome, State};

/// Dispatches the JOB v2 APIs handled here; the others are answered from their spec.
pub fn handle(state: &State, call: &Call<'_>) -> Option<Outcome> {
    let p = call.params;
    let user = call
        .username
        .unwrap_or(&state.inner.cfg.username)
        .to_string();
    Some(match call.api {
        "fast_execute_script" => fast_execute_script(state, p, &user),
        "execute_job" => execute_job(state, p, &user),
        "get_job_instance_status" => get_status(state, p),
        "get_job_instance_log" => get_log(state, p),
        "operate_job_instance" => operate(state, p),
        _ => return None,
    })
}

/// The v3 scope and job id of a v2 call.
fn v3_base(p: &Value) -> Result<Value, Outcome> {
    let biz = params::req_i64(p, "bk_biz_id").map_err(job::invalid)?;
    let mut v = json!({"bk_scope_type": "biz", "bk_scope_id": biz.to_string()});
    if let Some(id) = params::get(p, "job_instance_id") {
        v["job_instance_id"] = id.clone();
    }
    Ok(v)
}

/// Copies `from` of `p` to `to` of `v3` when present.
fn carry(p: &Value, v3: &mut Value, from: &str, to: &str) {
    if let Some(x) = params::get(p, from).filter(|x| !x.is_null()) {
        v3[to] = x.clone();
    }
}

/// The v3 `Server` of v2 targets: `target_server` plus the deprecated top-level
/// `ip_list` and `custom_query_id` of `p`.
fn v3_server(p: &Value, target: Option<&Value>) -> Value {
    let list = |v: Option<&Value>, key: &str| -> Vec<Value> {
        v.and_then(|v| v.get(key))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut ips = list(target, "ip_list");
    ips.extend(list(Some(p), "ip_list"));
    let mut groups = list(target, "dynamic_group_id_list");
    groups.extend(list(Some(p), "custom_query_id"));
    let groups: Vec<Value> = groups.into_iter().map(|g| json!({"id": g})).collect();
    json!({
        "ip_list": ips,
        "dynamic_group_list": groups,
        "topo_node_list": list(target, "topo_node_list"),
    })
}

fn has_hosts(p: &Value) -> bool {
    ["target_server", "ip_list", "custom_query_id"]
        .iter()
        .any(|k| params::get(p, k).is_some_and(|v| !v.is_null()))
}

/// The v2 answer of a job just started through v3: `{job_instance_id, job_instance_name}`.
fn started(state: &State, out: Outcome) -> Outcome {
    match out {
        Outcome::Data(d) => {
            let id = d.get("job_instance_id").and_then(Value::as_i64);
            if let Some(id) = id {
                job::set_component(state, id, "job");
            }
            Outcome::Data(json!({
                "job_instance_id": d.get("job_instance_id").cloned().unwrap_or(Value::Null),
                "job_instance_name": d.get("job_instance_name").cloned().unwrap_or(Value::Null),
            }))
        }
        e => e,
    }
}

fn fast_execute_script(state: &State, p: &Value, user: &str) -> Outcome {
    let mut v3 = match v3_base(p) {
        Ok(v) => v,
        Err(o) => return o,
    };
    carry(p, &mut v3, "account", "account_alias");
    carry(p, &mut v3, "script_content", "script_content");
    carry(p, &mut v3, "script_param", "script_param");
    carry(p, &mut v3, "is_param_sensitive", "is_param_sensitive");
    carry(p, &mut v3, "task_name", "task_name");
    carry(p, &mut v3, "script_timeout", "timeout");
    carry(p, &mut v3, "script_type", "script_language");
    carry(p, &mut v3, "bk_callback_url", "callback_url");
    match params::opt_i64(p, "script_id") {
        Ok(Some(id)) => v3["script_id"] = json!(id.to_string()),
        Ok(None) => {}
        Err(e) => return job::invalid(e),
    }
    v3["target_server"] = v3_server(p, params::get(p, "target_server"));
    started(state, job::fast_execute_script(state, &v3, user))
}

fn execute_job(state: &State, p: &Value, user: &str) -> Outcome {
    let mut v3 = match v3_base(p) {
        Ok(v) => v,
        Err(o) => return o,
    };
    carry(p, &mut v3, "bk_job_id", "job_plan_id");
    carry(p, &mut v3, "bk_callback_url", "callback_url");
    let vars = match params::opt_array(p, "global_vars") {
        Ok(v) => v.unwrap_or_default(),
        Err(e) => return job::invalid(e),
    };
    let vars: Vec<Value> = vars
        .iter()
        .map(|v| {
            let mut out = json!({});
            carry(v, &mut out, "id", "id");
            carry(v, &mut out, "name", "name");
            carry(v, &mut out, "value", "value");
            if has_hosts(v) {
                out["server"] = v3_server(v, v.get("target_server"));
            }
            out
        })
        .collect();
    v3["global_var_list"] = Value::Array(vars);
    started(state, job::execute_job_plan(state, &v3, user))
}

fn operate(state: &State, p: &Value) -> Outcome {
    let mut v3 = match v3_base(p) {
        Ok(v) => v,
        Err(o) => return o,
    };
    carry(p, &mut v3, "operation_code", "operation_code");
    job::operate(state, &v3)
}

/// `yyyy-MM-dd HH:mm:ss +0800` of an instant of the job, `null` when it has not come.
fn time(job: &Job, at: Option<Duration>) -> Value {
    match at {
        Some(d) => json!(format!(
            "{} +0800",
            format_local((job.created_ms + d.as_millis() as i64) / 1000)
        )),
        None => Value::Null,
    }
}

/// Seconds between two instants, `null` until both are known.
fn seconds(start: Option<Duration>, end: Option<Duration>) -> Value {
    match (start, end) {
        (Some(s), Some(e)) => json!(e.saturating_sub(s).as_millis() as f64 / 1000.0),
        _ => Value::Null,
    }
}

/// The plan step id of step `k` (`-1` outside plans, as v2 reports).
fn step_id(job: &Job, k: usize) -> i64 {
    if job.plan.is_some() {
        k as i64 + 1
    } else {
        -1
    }
}

fn with_v2_job<T>(
    state: &State,
    p: &Value,
    f: impl FnOnce(&Job, job::JobView) -> T,
) -> Result<T, Outcome> {
    let v3 = v3_base(p)?;
    job::with_job(state, &v3, |job, d, _| {
        let v = job::view(job, d, job.created.elapsed());
        Ok(f(job, v))
    })
}

fn get_status(state: &State, p: &Value) -> Outcome {
    let biz = params::req_i64(p, "bk_biz_id").unwrap_or(0);
    let r = with_v2_job(state, p, |job, v| {
        let current = job
            .steps
            .iter()
            .zip(&v.steps)
            .rfind(|(_, sv)| sv.start.is_some())
            .map(|(s, _)| s.id)
            .or_else(|| job.steps.first().map(|s| s.id));
        let blocks: Vec<Value> = job
            .steps
            .iter()
            .zip(&v.steps)
            .enumerate()
            .map(|(k, (s, sv))| {
                let hosts: Vec<Value> = s
                    .targets
                    .iter()
                    .zip(&sv.hosts)
                    .map(|(t, hv)| json!({"ip": t.ip, "bk_cloud_id": t.cloud, "status": hv.status}))
                    .collect();
                json!({
                    "type": 1,
                    "step_instances": [{
                        "step_instance_id": s.id,
                        "step_id": step_id(job, k),
                        "type": s.kind,
                        "name": s.name,
                        "status": sv.status,
                        "operator": job.operator,
                        "create_time": time(job, Some(Duration::ZERO)),
                        "start_time": time(job, sv.start),
                        "end_time": time(job, sv.end),
                        "total_time": seconds(sv.start, sv.end),
                        "retry_count": 0,
                        "step_ip_status": hosts,
                    }],
                })
            })
            .collect();
        let mut instance = json!({
            "job_instance_id": job.id,
            "bk_biz_id": biz,
            "name": job.name,
            "status": v.status,
            "operator": job.operator,
            "start_way": 2,
            "bk_job_id": job.plan.unwrap_or(-1),
            "create_time": time(job, Some(Duration::ZERO)),
            "start_time": time(job, v.start),
            "end_time": time(job, v.end),
            "total_time": seconds(Some(Duration::ZERO), v.end),
        });
        if let Some(c) = current {
            instance["current_step_instance_id"] = json!(c);
        }
        json!({
            "is_finished": v.finished,
            "job_instance": instance,
            "blocks": blocks,
        })
    });
    match r {
        Ok(v) => Outcome::Data(v),
        Err(o) => o,
    }
}

/// The log text of one host of one step.
fn log_text(job: &Job, s: &Step, sv: &StepView, i: usize, hv: &HostView) -> String {
    let t = &s.targets[i];
    if s.kind == 1 {
        return job::script_log(job, s, t, hv);
    }
    job::file_logs(s, t.host_id, Some(hv), sv.status != 1)
        .iter()
        .filter_map(|l| l.get("log_content").and_then(Value::as_str))
        .fold(String::new(), |mut out, l| {
            out.push_str(l);
            out.push('\n');
            out
        })
}

fn get_log(state: &State, p: &Value) -> Outcome {
    let r = with_v2_job(state, p, |job, v| {
        let steps: Vec<Value> = job
            .steps
            .iter()
            .zip(&v.steps)
            .map(|(s, sv)| {
                // Hosts grouped by status (ascending codes).
                let mut groups: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
                for (i, (t, hv)) in s.targets.iter().zip(&sv.hosts).enumerate() {
                    let mut log = Map::new();
                    log.insert("ip".into(), json!(t.ip));
                    log.insert("bk_cloud_id".into(), json!(t.cloud));
                    log.insert("start_time".into(), time(job, hv.start));
                    log.insert("end_time".into(), time(job, hv.end));
                    log.insert("total_time".into(), seconds(hv.start, hv.end));
                    log.insert("retry_count".into(), json!(0));
                    log.insert("error_code".into(), json!(0));
                    log.insert("exit_code".into(), json!(hv.exit_code));
                    log.insert("log_content".into(), json!(log_text(job, s, sv, i, hv)));
                    groups
                        .entry(hv.status)
                        .or_default()
                        .push(Value::Object(log));
                }
                let results: Vec<Value> = groups
                    .into_iter()
                    .map(|(status, logs)| json!({"ip_status": status, "tag": "", "ip_logs": logs}))
                    .collect();
                json!({
                    "step_instance_id": s.id,
                    "is_finished": sv.end.is_some(),
                    "name": s.name,
                    "status": sv.status,
                    "step_results": results,
                })
            })
            .collect();
        Value::Array(steps)
    });
    match r {
        Ok(v) => Outcome::Data(v),
        Err(o) => o,
    }
}
