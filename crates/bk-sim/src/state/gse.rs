//! GSE: agent liveness and heartbeat details of the topology's hosts, keyed
//! `"<cloud>:<ip>"`, and the legacy process commands (`proc_run_command`,
//! `proc_get_task_result_by_id`).
//!
//! About 5 % of the agents (`StateConfig::offline_per_mille`) are offline, chosen from the
//! seed; tests flip single agents with [`State::set_agent_alive`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use serde_json::{json, Map, Value};

use super::params::{self, ParamError};
use super::rng::hash3;
use super::time::{format_compact, now_s};
use super::{Call, Outcome, State};

/// Process-command tasks.
#[derive(Debug, Default)]
pub struct GseState {
    tasks: Mutex<HashMap<String, ProcTask>>,
    next: Mutex<u64>,
}

#[derive(Debug, Clone)]
struct ProcTask {
    created: Instant,
    cmd: String,
    proc_id: String,
    targets: Vec<(String, bool, String)>, // ip, agent alive, host name
}

/// Dispatches the GSE APIs handled here.
pub fn handle(state: &State, call: &Call<'_>) -> Option<Outcome> {
    let p = call.params;
    Some(match call.api {
        "get_agent_status" => agents(state, p, false),
        "get_agent_info" => agents(state, p, true),
        "proc_run_command" => proc_run_command(state, p),
        "proc_get_task_result_by_id" => proc_task_result(state, p),
        _ => return None,
    })
}

fn invalid(e: ParamError) -> Outcome {
    Outcome::error(1306000, e.to_string())
}

/// Whether the generated agent of `host_id` is alive (before test overrides).
pub fn generated_alive(seed: u64, per_mille: u32, host_id: i64) -> bool {
    hash3(seed, host_id as u64, 0xA9E7) % 1000 >= u64::from(per_mille)
}

fn agents(state: &State, p: &Value, info: bool) -> Outcome {
    let hosts = match params::opt_array(p, "hosts") {
        Ok(h) => h.unwrap_or_default(),
        Err(e) => return invalid(e),
    };
    let cfg = &state.inner.cfg;
    let data = state.inner.cc.read();
    let t = &data.topo;
    let mut out = Map::new();
    for (i, h) in hosts.iter().enumerate() {
        let ip = match params::opt_str(h, "ip") {
            Ok(Some(ip)) if !ip.is_empty() => ip,
            _ => return invalid(ParamError::new(format!("hosts[{i}].ip"), "is required")),
        };
        let cloud = match params::opt_i64(h, "bk_cloud_id") {
            Ok(c) => c.unwrap_or(0),
            Err(e) => return invalid(e),
        };
        let key = format!("{cloud}:{ip}");
        let host_id = t.ip_index.get(&(cloud, ip.clone())).copied();
        let alive = host_id.is_some_and(|id| {
            data.agent_override
                .get(&id)
                .copied()
                .unwrap_or_else(|| generated_alive(cfg.seed, cfg.offline_per_mille, id))
        });
        let v = if info {
            let (version, parent_ip, parent_port) = match host_id {
                Some(id) => {
                    let v = ["V0.01R060D38", "1.7.21", "2.1.5-beta.4"]
                        [(hash3(cfg.seed, id as u64, 0x51) % 3) as usize];
                    let parent = if cloud == 0 {
                        "10.0.0.250".to_string()
                    } else {
                        format!("172.31.{cloud}.1")
                    };
                    (v.to_string(), parent, 48533)
                }
                None => (String::new(), String::new(), 0),
            };
            json!({
                "ip": ip,
                "bk_cloud_id": cloud,
                "version": if alive { version } else { String::new() },
                "parent_ip": parent_ip,
                "parent_port": parent_port,
            })
        } else {
            json!({"ip": ip, "bk_cloud_id": cloud, "bk_agent_alive": i64::from(alive)})
        };
        out.insert(key, v);
    }
    Outcome::Data(Value::Object(out))
}

fn proc_run_command(state: &State, p: &Value) -> Outcome {
    let session = match params::req_str(p, "session_id") {
        Ok(s) => s,
        Err(e) => return invalid(e),
    };
    let cmd = match params::req_str(p, "cmd") {
        Ok(s) => s,
        Err(e) => return invalid(e),
    };
    let proc_id = match params::req_str(p, "proc_id") {
        Ok(s) => s,
        Err(e) => return invalid(e),
    };
    let ipaddr = params::opt_str(p, "ipaddr")
        .ok()
        .flatten()
        .filter(|s| !s.is_empty());
    let gse = &state.inner.gse;
    let n = {
        let mut next = gse.next.lock().unwrap_or_else(|e| e.into_inner());
        *next += 1;
        *next
    };
    if matches!(cmd.as_str(), "runcmd" | "runshell") {
        return Outcome::Data(json!({
            "error_code": 1,
            "error_msg": format!("cmd {cmd} is not allowed"),
            "task_id": "",
            "session_id": session,
            "unique_id": format!("bk-sim-{n:08}"),
        }));
    }
    let cfg = &state.inner.cfg;
    let targets = {
        let data = state.inner.cc.read();
        let t = &data.topo;
        let pick: Vec<i64> = match &ipaddr {
            Some(ip) => t
                .ip_index
                .iter()
                .filter(|((_, i), _)| i == ip)
                .map(|(_, id)| *id)
                .collect(),
            None => t.hosts.keys().take(3).copied().collect(),
        };
        let mut v: Vec<(String, bool, String)> =
            pick.into_iter()
                .filter_map(|id| t.hosts.get(&id))
                .map(|h| {
                    let alive =
                        data.agent_override.get(&h.id).copied().unwrap_or_else(|| {
                            generated_alive(cfg.seed, cfg.offline_per_mille, h.id)
                        });
                    let name = t
                        .host_field(h, "bk_host_name")
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default();
                    (t.host_ip(h), alive, name)
                })
                .collect();
        if v.is_empty() {
            if let Some(ip) = &ipaddr {
                v.push((ip.clone(), false, String::new()));
            }
        }
        v
    };
    let task_id = format!("GSEPROC:{}:{n}", format_compact(now_s()));
    gse.tasks.lock().unwrap_or_else(|e| e.into_inner()).insert(
        task_id.clone(),
        ProcTask {
            created: Instant::now(),
            cmd,
            proc_id,
            targets,
        },
    );
    Outcome::Data(json!({
        "error_code": 0,
        "error_msg": "",
        "task_id": task_id,
        "session_id": session,
        "unique_id": format!("bk-sim-{n:08}"),
    }))
}

fn proc_task_result(state: &State, p: &Value) -> Outcome {
    let task_id = match params::req_str(p, "task_id") {
        Ok(s) => s,
        Err(e) => return invalid(e),
    };
    let task = state
        .inner
        .gse
        .tasks
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&task_id)
        .cloned();
    let Some(task) = task else {
        return Outcome::Data(json!({
            "error_code": 1,
            "error_msg": format!("task {task_id} not found"),
            "execInfo": [],
            "success": [],
            "failed": [],
        }));
    };
    let step = state.inner.cfg.job_step;
    let exec_info = vec![json!(format!("{} matching...", task.proc_id))];
    if task.created.elapsed() < step * 2 {
        return Outcome::Data(json!({
            "error_code": 804,
            "error_msg": "task is running",
            "execInfo": exec_info,
            "success": [],
            "failed": [],
        }));
    }
    let end = now_s();
    let item = |ip: &str, name: &str, ok: bool| {
        json!({
            "proc_id": task.proc_id,
            "seq_id": "",
            "ipaddr": ip,
            "app_id": "2",
            "env_id": "3",
            "host_name": name,
            "content": if ok { format!("{} done", task.cmd) } else { "agent is offline".to_string() },
            "error_code": if ok { 0 } else { 1 },
            "error_msg": if ok { "success" } else { "agent is offline" },
            "end_time": end,
        })
    };
    let success: Vec<Value> = task
        .targets
        .iter()
        .filter(|t| t.1)
        .map(|t| item(&t.0, &t.2, true))
        .collect();
    let failed: Vec<Value> = task
        .targets
        .iter()
        .filter(|t| !t.1)
        .map(|t| item(&t.0, &t.2, false))
        .collect();
    Outcome::Data(json!({
        "error_code": 0,
        "error_msg": "success",
        "execInfo": exec_info,
        "success": success,
        "failed": failed,
    }))
}

impl State {
    /// Whether the GSE agent of a host is online (generated from the seed, unless set with
    /// [`State::set_agent_alive`]); `false` for unknown hosts.
    pub fn agent_alive(&self, host_id: i64) -> bool {
        let cfg = &self.inner.cfg;
        let data = self.inner.cc.read();
        if !data.topo.hosts.contains_key(&host_id) {
            return false;
        }
        data.agent_override
            .get(&host_id)
            .copied()
            .unwrap_or_else(|| generated_alive(cfg.seed, cfg.offline_per_mille, host_id))
    }

    /// Sets the agent of a host online or offline.
    pub fn set_agent_alive(&self, host_id: i64, alive: bool) {
        self.inner.cc.write().agent_override.insert(host_id, alive);
    }
}
