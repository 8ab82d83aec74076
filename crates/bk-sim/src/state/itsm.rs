//! ITSM: tickets, their lifecycle and approval callbacks (PROTOCOL.md section 6).
//!
//! A created ticket is RUNNING at one approval step whose processors come from
//! `meta.state_processors`, an `approver(s)` field, or the creator. Unless operated, it is
//! approved automatically after `StateConfig::itsm_auto_approve` (FINISHED, approve_result
//! true); [`State::approve`] decides it explicitly (a rejection also ends as FINISHED with
//! approve_result false: UNCONFIRMED, it matches how bk-itsm ends rejected approval
//! flows). `operate_ticket` suspends, resumes, withdraws (REVOKED) or terminates
//! (TERMINATED). When a ticket with `meta.callback_url` reaches a final state, the callback
//! is POSTed exactly once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha1::Sha1;

use super::params::{self, ParamError};
use super::time::{format_compact, format_local, now_s};
use super::{Call, Inner, Outcome, State};

/// Invalid parameter (bk-itsm's code is UNCONFIRMED).
pub const ITSM_PARAM_ERROR: i64 = 3800001;
/// Ticket not found (UNCONFIRMED code).
pub const ITSM_NOT_FOUND: i64 = 3800002;
/// The operation is not allowed in the ticket's state or for the operator (UNCONFIRMED).
pub const ITSM_OPERATION_DENIED: i64 = 3800003;

/// A ticket, for tests.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketSummary {
    /// Ticket id.
    pub id: i64,
    /// Ticket number.
    pub sn: String,
    /// Title.
    pub title: String,
    /// Current status.
    pub current_status: String,
    /// Whether it was approved (`None` while undecided or when ended otherwise).
    pub approve_result: Option<bool>,
    /// Creator.
    pub creator: String,
    /// Processors, comma-separated.
    pub processors: String,
    /// The callback URL.
    pub callback_url: Option<String>,
    /// The callback token.
    pub token: String,
}

#[derive(Debug, Clone)]
struct Ticket {
    id: i64,
    sn: String,
    title: String,
    service_id: i64,
    creator: String,
    processors: String,
    status: &'static str,
    auto_at: Option<Instant>,
    created_s: i64,
    updated_s: i64,
    updated_by: String,
    end_s: Option<i64>,
    callback_url: Option<String>,
    approve_result: Option<bool>,
    last_approver: String,
    callback_sent: bool,
    token: String,
    /// Wall time at `auto_at` (for the update time of an automatic approval).
    auto_wall_s: i64,
}

fn terminal(s: &str) -> bool {
    matches!(s, "FINISHED" | "TERMINATED" | "REVOKED")
}

impl Ticket {
    /// Applies an automatic approval that is due. Returns `true` when the ticket just ended.
    fn settle(&mut self) -> bool {
        if self.status == "RUNNING" && self.auto_at.is_some_and(|a| Instant::now() >= a) {
            let who = self.first_processor();
            self.status = "FINISHED";
            self.approve_result = Some(true);
            self.updated_s = self.auto_wall_s;
            self.end_s = Some(self.auto_wall_s);
            self.updated_by = who.clone();
            self.last_approver = who;
            self.auto_at = None;
            return true;
        }
        false
    }

    fn first_processor(&self) -> String {
        self.processors
            .split(',')
            .next()
            .unwrap_or("")
            .trim()
            .to_string()
    }

    fn is_processor(&self, user: &str) -> bool {
        self.processors.split(',').any(|p| p.trim() == user)
    }

    /// If final and its callback is still due, marks it sent and returns `(url, body)`.
    fn take_callback(&mut self, base: &str) -> Option<(String, Value)> {
        if !terminal(self.status) || self.callback_sent {
            return None;
        }
        let url = self.callback_url.clone().filter(|u| !u.is_empty())?;
        self.callback_sent = true;
        Some((url, self.callback_body(base)))
    }

    fn url(&self, base: &str) -> String {
        format!(
            "{}/#/ticket/detail?id={}",
            base.trim_end_matches('/'),
            self.id
        )
    }

    fn callback_body(&self, base: &str) -> Value {
        json!({
            "title": self.title,
            "current_status": self.status,
            "sn": self.sn,
            "ticket_url": self.url(base),
            "update_at": format_local(self.updated_s),
            "updated_by": self.updated_by,
            "approve_result": self.approve_result.unwrap_or(false),
            "token": self.token,
            "last_approver": self.last_approver,
        })
    }

    fn steps(&self) -> Vec<Value> {
        if terminal(self.status) {
            return Vec::new();
        }
        let op = |k: &str, n: &str| json!({"key": k, "name": n, "can_operate": true});
        json!([{
            "name": "Approval",
            "state_id": 2,
            "status": if self.status == "SUSPENDED" { "SUSPEND" } else { "RUNNING" },
            "action_type": "TRANSITION",
            "processors_type": "PERSON",
            "processors": self.processors,
            "operations": [op("TRANSITION", "Submit"), op("DELIVER", "Deliver"), op("TERMINATE", "Terminate")],
            "fields": [{
                "id": 1,
                "key": "approve_result",
                "type": "RADIO",
                "name": "Approval result",
                "desc": "",
                "choice": [{"key": "true", "name": "Approve"}, {"key": "false", "name": "Reject"}],
                "validate_type": "REQUIRE",
                "regex": "EMPTY",
                "custom_regex": "",
                "meta": {},
                "state_id": 2,
                "workflow_id": 1,
                "source_type": "CUSTOM",
                "source_uri": "",
                "api_instance_id": 0,
                "is_readonly": false,
            }],
        }])
        .as_array()
        .cloned()
        .unwrap_or_default()
    }

    fn operations(&self) -> Vec<Value> {
        let op = |k: &str, n: &str| json!({"key": k, "name": n, "can_operate": true});
        match self.status {
            "RUNNING" => vec![op("SUSPEND", "Suspend"), op("WITHDRAW", "Withdraw")],
            "SUSPENDED" => vec![op("WITHDRAW", "Withdraw"), op("UNSUSPEND", "Resume")],
            _ => Vec::new(),
        }
    }

    fn summary(&self) -> TicketSummary {
        TicketSummary {
            id: self.id,
            sn: self.sn.clone(),
            title: self.title.clone(),
            current_status: self.status.to_string(),
            approve_result: self.approve_result,
            creator: self.creator.clone(),
            processors: self.processors.clone(),
            callback_url: self.callback_url.clone(),
            token: self.token.clone(),
        }
    }
}

#[derive(Debug, Default)]
struct ItsmData {
    tickets: BTreeMap<i64, Ticket>,
    next_id: i64,
}

/// ITSM state.
#[derive(Debug, Default)]
pub struct ItsmState {
    data: Mutex<ItsmData>,
}

impl ItsmState {
    fn lock(&self) -> MutexGuard<'_, ItsmData> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn invalid(e: ParamError) -> Outcome {
    Outcome::error(ITSM_PARAM_ERROR, e.to_string())
}

macro_rules! tryp {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return invalid(e),
        }
    };
}

/// Dispatches the ITSM APIs handled here.
pub fn handle(state: &State, call: &Call<'_>) -> Option<Outcome> {
    let p = call.params;
    Some(match call.api {
        "create_ticket" => create_ticket(state, p),
        "get_ticket_status" => get_ticket_status(state, p),
        "get_tickets" => get_tickets(state, p),
        "operate_ticket" => operate_ticket(state, p),
        "token_verify" | "token/verify" | "verify_token" => token_verify(state, p),
        "ticket_approval_result" => approval_result(state, p),
        _ => return None,
    })
}

fn token_for(seed: u64, sn: &str) -> String {
    let key = format!("bk-sim-itsm-{seed}");
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(sn.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Settles due approvals and sends their callbacks (spawned).
fn settle_all(state: &State, data: &mut ItsmData) {
    let base = &state.inner.cfg.itsm_base_url;
    for t in data.tickets.values_mut() {
        t.settle();
        if let Some((url, body)) = t.take_callback(base) {
            spawn_delivery(state.inner.clone(), url, body);
        }
    }
}

fn spawn_delivery(inner: Arc<Inner>, url: String, body: Value) {
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => {
            rt.spawn(async move {
                let rec = super::callback::post_json(&url, &body, inner.cfg.callback_timeout).await;
                inner.callbacks.push(rec);
            });
        }
        Err(_) => inner.callbacks.push(super::callback::CallbackRecord {
            url,
            body,
            status: None,
            response: None,
            error: Some("no async runtime to deliver the callback".into()),
            at_ms: super::time::now_ms(),
        }),
    }
}

/// Waits until the ticket's automatic approval is due, then settles it and sends its
/// callback. Exits when the ticket ends otherwise or is suspended.
fn spawn_timer(inner: Arc<Inner>, id: i64) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    rt.spawn(async move {
        loop {
            let next = {
                let mut data = inner.itsm.lock();
                let Some(t) = data.tickets.get_mut(&id) else {
                    return;
                };
                t.settle();
                if let Some(cb) = t.take_callback(&inner.cfg.itsm_base_url) {
                    Ok(cb)
                } else {
                    match (t.status, t.auto_at) {
                        ("RUNNING", Some(at)) => {
                            Err(at.saturating_duration_since(Instant::now())
                                + Duration::from_millis(1))
                        }
                        _ => return,
                    }
                }
            };
            match next {
                Ok((url, body)) => {
                    let rec =
                        super::callback::post_json(&url, &body, inner.cfg.callback_timeout).await;
                    inner.callbacks.push(rec);
                    return;
                }
                Err(wait) => tokio::time::sleep(wait).await,
            }
        }
    });
}

fn create_ticket(state: &State, p: &Value) -> Outcome {
    let creator = tryp!(params::req_str(p, "creator"));
    let fields = tryp!(params::opt_array(p, "fields"));
    let Some(fields) = fields else {
        return invalid(ParamError::new("fields", "is required"));
    };
    let mut title = None;
    let mut approver = None;
    for (i, f) in fields.iter().enumerate() {
        let key = tryp!(params::req_str(f, "key")
            .map_err(|e| ParamError::new(format!("fields[{i}].{}", e.name), e.what)));
        let value = f.get("value").cloned().unwrap_or(Value::Null);
        let text = match &value {
            Value::String(s) => s.clone(),
            Value::Array(a) => a
                .iter()
                .filter_map(params::as_string)
                .collect::<Vec<_>>()
                .join(","),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        match key.to_ascii_lowercase().as_str() {
            "title" => title = Some(text),
            "approver" | "approvers" | "approve_user" | "processors" => approver = Some(text),
            _ => {}
        }
    }
    let Some(title) = title.filter(|t| !t.is_empty()) else {
        return invalid(ParamError::new("fields", "must hold a non-empty title"));
    };
    let service_id = tryp!(params::opt_i64(p, "service_id")).unwrap_or(1);
    let meta = tryp!(params::opt_object(p, "meta")).unwrap_or_default();
    let meta = Value::Object(meta);
    let callback_url = tryp!(params::opt_str(&meta, "callback_url")).filter(|u| !u.is_empty());
    let sp = tryp!(params::opt_object(&meta, "state_processors")).unwrap_or_default();
    let mut processors: Vec<String> = sp
        .values()
        .filter_map(params::as_string)
        .flat_map(|s| {
            s.split(',')
                .map(|x| x.trim().to_string())
                .collect::<Vec<_>>()
        })
        .filter(|s| !s.is_empty())
        .collect();
    if processors.is_empty() {
        if let Some(a) = approver {
            processors = a
                .split(',')
                .map(|x| x.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
        }
    }
    if processors.is_empty() {
        processors.push(creator.clone());
    }
    processors.dedup();
    let cfg = &state.inner.cfg;
    let now = now_s();
    let (id, sn, url) = {
        let mut data = state.inner.itsm.lock();
        data.next_id += 1;
        let id = data.next_id;
        let sn = format!("NO{}{:02}", format_compact(now), id % 100);
        // Keep ticket numbers unique even past 100 tickets a second.
        let sn = if data.tickets.values().any(|t| t.sn == sn) {
            format!("NO{}{id:04}", format_compact(now))
        } else {
            sn
        };
        let auto = cfg.itsm_auto_approve;
        let t = Ticket {
            id,
            sn: sn.clone(),
            title,
            service_id,
            creator: creator.clone(),
            processors: processors.join(","),
            status: "RUNNING",
            auto_at: auto.and_then(|a| Instant::now().checked_add(a)),
            created_s: now,
            updated_s: now,
            updated_by: creator,
            end_s: None,
            callback_url: callback_url.clone(),
            approve_result: None,
            last_approver: String::new(),
            callback_sent: false,
            token: token_for(cfg.seed, &sn),
            auto_wall_s: now.saturating_add(auto.map(|a| a.as_secs() as i64).unwrap_or(0)),
        };
        let url = t.url(&cfg.itsm_base_url);
        data.tickets.insert(id, t);
        (id, sn, url)
    };
    if callback_url.is_some() && cfg.itsm_auto_approve.is_some() {
        spawn_timer(state.inner.clone(), id);
    }
    Outcome::Data(json!({"sn": sn, "id": id, "ticket_url": url}))
}

fn find<'a>(data: &'a mut ItsmData, sn: &str) -> Option<&'a mut Ticket> {
    data.tickets.values_mut().find(|t| t.sn == sn)
}

fn get_ticket_status(state: &State, p: &Value) -> Outcome {
    let sn = tryp!(params::req_str(p, "sn"));
    let mut data = state.inner.itsm.lock();
    settle_all(state, &mut data);
    let base = state.inner.cfg.itsm_base_url.clone();
    let Some(t) = find(&mut data, &sn) else {
        return Outcome::error(ITSM_NOT_FOUND, format!("ticket {sn} does not exist"));
    };
    Outcome::Data(json!({
        "current_status": t.status,
        "current_steps": t.steps(),
        "operations": t.operations(),
        "is_commented": false,
        "ticket_url": t.url(&base),
    }))
}

fn get_tickets(state: &State, p: &Value) -> Outcome {
    let sns = tryp!(params::opt_str_list(p, "sns"));
    let creator = tryp!(params::opt_str(p, "creator")).filter(|s| !s.is_empty());
    let lte = tryp!(params::opt_str(p, "create_at__lte")).filter(|s| !s.is_empty());
    let gte = tryp!(params::opt_str(p, "create_at__gte")).filter(|s| !s.is_empty());
    let username = tryp!(params::opt_str(p, "username")).filter(|s| !s.is_empty());
    let page = tryp!(params::opt_i64(p, "page")).unwrap_or(1);
    let page_size = tryp!(params::opt_i64(p, "page_size")).unwrap_or(10);
    if page < 1 {
        return invalid(ParamError::new("page", "must be at least 1"));
    }
    if !(1..=10_000).contains(&page_size) {
        return invalid(ParamError::new("page_size", "must be 1..10000"));
    }
    let base = state.inner.cfg.itsm_base_url.clone();
    let mut data = state.inner.itsm.lock();
    settle_all(state, &mut data);
    let matching: Vec<&Ticket> = data
        .tickets
        .values()
        .rev()
        .filter(|t| sns.as_ref().is_none_or(|s| s.contains(&t.sn)))
        .filter(|t| creator.as_ref().is_none_or(|c| *c == t.creator))
        .filter(|t| {
            let at = format_local(t.created_s);
            lte.as_ref().is_none_or(|l| at.as_str() <= l.as_str())
                && gte.as_ref().is_none_or(|g| at.as_str() >= g.as_str())
        })
        .filter(|t| {
            username
                .as_ref()
                .is_none_or(|u| !terminal(t.status) && t.is_processor(u))
        })
        .collect();
    let count = matching.len() as i64;
    let total_page = (count + page_size - 1) / page_size;
    let link = |n: i64| {
        format!(
            "{}/api/ticket/list/?page={n}&page_size={page_size}",
            base.trim_end_matches('/')
        )
    };
    let items: Vec<Value> = matching
        .iter()
        .skip((page - 1).saturating_mul(page_size) as usize)
        .take(page_size as usize)
        .map(|t| {
            json!({
                "id": t.id,
                "sn": t.sn,
                "title": t.title,
                "catalog_id": 2,
                "service_id": t.service_id,
                "service_type": "request",
                "flow_id": 1,
                "current_status": t.status,
                "current_steps": t.steps(),
                "comment_id": "",
                "is_commented": false,
                "updated_by": t.updated_by,
                "update_at": format_local(t.updated_s),
                "end_at": t.end_s.map(format_local),
                "creator": t.creator,
                "create_at": format_local(t.created_s),
                "is_biz_need": false,
                "bk_biz_id": -1,
                "ticket_url": t.url(&base),
            })
        })
        .collect();
    Outcome::Data(json!({
        "page": page,
        "total_page": total_page,
        "count": count,
        "next": if page < total_page { json!(link(page + 1)) } else { Value::Null },
        "previous": if page > 1 && page <= total_page + 1 { json!(link(page - 1)) } else { Value::Null },
        "items": items,
    }))
}

fn operate_ticket(state: &State, p: &Value) -> Outcome {
    let sn = tryp!(params::req_str(p, "sn"));
    let operator = tryp!(params::req_str(p, "operator"));
    let action = tryp!(params::req_str(p, "action_type"));
    let message = tryp!(params::opt_str(p, "action_message")).unwrap_or_default();
    if !matches!(
        action.as_str(),
        "SUSPEND" | "UNSUSPEND" | "WITHDRAW" | "TERMINATE"
    ) {
        return invalid(ParamError::new(
            "action_type",
            "must be SUSPEND, UNSUSPEND, WITHDRAW or TERMINATE",
        ));
    }
    if matches!(action.as_str(), "SUSPEND" | "TERMINATE") && message.trim().is_empty() {
        return invalid(ParamError::new(
            "action_message",
            "is required for SUSPEND and TERMINATE",
        ));
    }
    let cfg = &state.inner.cfg;
    let mut respawn = None;
    let out = {
        let mut data = state.inner.itsm.lock();
        settle_all(state, &mut data);
        let Some(t) = find(&mut data, &sn) else {
            return Outcome::error(ITSM_NOT_FOUND, format!("ticket {sn} does not exist"));
        };
        let admin = operator == cfg.username;
        let allowed = match action.as_str() {
            "WITHDRAW" => operator == t.creator || admin,
            _ => t.is_processor(&operator) || operator == t.creator || admin,
        };
        if !allowed {
            return Outcome::error(
                ITSM_OPERATION_DENIED,
                format!("{operator} is not allowed to {action} ticket {sn}"),
            );
        }
        let now = now_s();
        let next = match (action.as_str(), t.status) {
            ("SUSPEND", "RUNNING") => "SUSPENDED",
            ("UNSUSPEND", "SUSPENDED") => "RUNNING",
            ("WITHDRAW", "RUNNING" | "SUSPENDED") => "REVOKED",
            ("TERMINATE", "RUNNING" | "SUSPENDED") => "TERMINATED",
            (_, s) => {
                return Outcome::error(
                    ITSM_OPERATION_DENIED,
                    format!("cannot {action} ticket {sn} in status {s}"),
                )
            }
        };
        t.status = next;
        t.updated_s = now;
        t.updated_by = operator.clone();
        match next {
            "SUSPENDED" => t.auto_at = None,
            "RUNNING" => {
                if let Some(a) = cfg.itsm_auto_approve {
                    t.auto_at = Instant::now().checked_add(a);
                    t.auto_wall_s = now.saturating_add(a.as_secs() as i64);
                    if t.callback_url.is_some() {
                        respawn = Some(t.id);
                    }
                }
            }
            _ => {
                t.auto_at = None;
                t.end_s = Some(now);
                t.approve_result = Some(false);
                if next == "TERMINATED" {
                    t.last_approver = operator.clone();
                }
            }
        }
        if let Some((url, body)) = t.take_callback(&cfg.itsm_base_url) {
            spawn_delivery(state.inner.clone(), url, body);
        }
        Outcome::Data(Value::Null)
    };
    if let Some(id) = respawn {
        spawn_timer(state.inner.clone(), id);
    }
    out
}

fn token_verify(state: &State, p: &Value) -> Outcome {
    let token = tryp!(params::req_str(p, "token"));
    let mut data = state.inner.itsm.lock();
    settle_all(state, &mut data);
    let ok = data.tickets.values().any(|t| t.token == token);
    Outcome::Data(json!({"is_passed": ok}))
}

fn approval_result(state: &State, p: &Value) -> Outcome {
    let sns = match params::opt_str_list(p, "sn") {
        Ok(Some(v)) => v,
        Ok(None) => match params::opt_str(p, "sn") {
            Ok(Some(one)) => one.split(',').map(|s| s.trim().to_string()).collect(),
            _ => return invalid(ParamError::new("sn", "is required")),
        },
        Err(e) => return invalid(e),
    };
    let base = state.inner.cfg.itsm_base_url.clone();
    let mut data = state.inner.itsm.lock();
    settle_all(state, &mut data);
    let out: Vec<Value> = sns
        .iter()
        .filter_map(|sn| data.tickets.values().find(|t| &t.sn == sn))
        .map(|t| {
            json!({
                "sn": t.sn,
                "title": t.title,
                "current_status": t.status,
                "ticket_url": t.url(&base),
                "comment_id": "",
                "updated_by": t.updated_by,
                "update_at": format_local(t.updated_s),
                "approve_result": t.approve_result.unwrap_or(false),
            })
        })
        .collect();
    Outcome::Data(Value::Array(out))
}

impl State {
    /// Decides the approval of a RUNNING or SUSPENDED ticket: FINISHED with
    /// `approve_result = approved`, by `approver`. Sends the callback (if any) and waits for
    /// its delivery to end before returning.
    pub async fn approve(&self, sn: &str, approver: &str, approved: bool) -> Result<(), String> {
        let cb = {
            let mut data = self.inner.itsm.lock();
            settle_all(self, &mut data);
            let t = find(&mut data, sn).ok_or_else(|| format!("ticket {sn} does not exist"))?;
            if terminal(t.status) {
                return Err(format!("ticket {sn} has already ended ({})", t.status));
            }
            let now = now_s();
            t.status = "FINISHED";
            t.approve_result = Some(approved);
            t.updated_s = now;
            t.end_s = Some(now);
            t.updated_by = approver.to_string();
            t.last_approver = approver.to_string();
            t.auto_at = None;
            t.take_callback(&self.inner.cfg.itsm_base_url)
        };
        if let Some((url, body)) = cb {
            let rec =
                super::callback::post_json(&url, &body, self.inner.cfg.callback_timeout).await;
            self.inner.callbacks.push(rec);
        }
        Ok(())
    }

    /// Every ticket, oldest first (due automatic approvals applied).
    pub fn tickets(&self) -> Vec<TicketSummary> {
        let mut data = self.inner.itsm.lock();
        settle_all(self, &mut data);
        data.tickets.values().map(Ticket::summary).collect()
    }

    /// Every callback delivery attempt (ITSM approvals, JOB completions), in order.
    pub fn callback_log(&self) -> Vec<super::callback::CallbackRecord> {
        self.inner.callbacks.all()
    }
}
