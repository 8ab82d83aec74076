//! The CMDB event stream behind `resource_watch` (PROTOCOL.md section 3).
//!
//! Every change of the topology appends events to one log, in the same critical section as
//! the change. A cursor names a position in that log (opaque base64). A watch returns the
//! events of its resource after the position (at most 200); when there are none it waits,
//! woken by change notifications, up to the configured timeout, and then answers
//! `bk_watched: false` with one event that carries the cursor to resume from. Events older
//! than the TTL are dropped; a cursor that points before a dropped event, that was issued
//! before [`crate::state::State::expire_cursors`], or that cannot be decoded gets 1103007.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Map, Value};

use super::params::{self, ParamError};
use super::time::now_s;
use super::{Outcome, State};

/// Most events in one answer.
pub const MAX_EVENTS: usize = 200;

/// Code and message of an expired or unknown cursor.
pub const CURSOR_ERROR: (i64, &str) = (1103007, "Event chain node not exist");

/// Resources the simulator emits events for; the others are accepted and stay silent.
pub const RESOURCES: &[&str] = &[
    "host",
    "host_relation",
    "biz",
    "set",
    "module",
    "process",
    "object_instance",
    "mainline_instance",
    "biz_set",
    "biz_set_relation",
    "plat",
    "project",
];

/// Kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// `create`
    Create,
    /// `update`
    Update,
    /// `delete`
    Delete,
}

impl EventType {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Create => "create",
            EventType::Update => "update",
            EventType::Delete => "delete",
        }
    }
}

/// One stored event.
#[derive(Debug, Clone)]
pub struct Event {
    /// Position in the log (from 1).
    pub seq: u64,
    /// When it happened, Unix seconds.
    pub ts_s: i64,
    /// When it happened, monotonic (for the TTL).
    pub at: Instant,
    /// `host`, `host_relation`, `biz`, `set`, `module`.
    pub resource: &'static str,
    /// Kind of change.
    pub kind: EventType,
    /// Full data of the resource (projected at read time).
    pub detail: Value,
}

/// The event log.
#[derive(Debug)]
pub struct EventLog {
    events: VecDeque<Event>,
    /// Last assigned sequence number (0: none yet).
    last_seq: u64,
    /// Highest sequence number dropped (by TTL or expiry).
    pruned_upto: u64,
    /// Generation: changes on [`EventLog::expire_all`]; part of every cursor.
    generation: u64,
    ttl: Duration,
}

impl EventLog {
    /// An empty log keeping events for `ttl`, with a generation unique to this process run.
    pub fn new(ttl: Duration) -> EventLog {
        let generation = (super::time::now_ms() as u64) & 0xFFFF_FFFF_FFFF;
        EventLog {
            events: VecDeque::new(),
            last_seq: 0,
            pruned_upto: 0,
            generation,
            ttl,
        }
    }

    /// Appends an event.
    pub fn push(&mut self, resource: &'static str, kind: EventType, detail: Value) {
        self.prune();
        self.last_seq += 1;
        self.events.push_back(Event {
            seq: self.last_seq,
            ts_s: now_s(),
            at: Instant::now(),
            resource,
            kind,
            detail,
        });
    }

    /// Drops events older than the TTL.
    pub fn prune(&mut self) {
        let now = Instant::now();
        while let Some(e) = self.events.front() {
            if now.duration_since(e.at) >= self.ttl {
                self.pruned_upto = e.seq;
                self.events.pop_front();
            } else {
                break;
            }
        }
    }

    /// Expires every event and every cursor issued so far.
    pub fn expire_all(&mut self) {
        self.pruned_upto = self.last_seq;
        self.events.clear();
        self.generation = self.generation.wrapping_add(1);
    }

    /// Number of stored events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether no event is stored.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Last assigned sequence number.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Encodes a cursor for position `seq` of `resource`.
    pub fn cursor(&self, seq: u64, resource: &str) -> String {
        let raw = format!("bksim\r{}\r{}\r{}", self.generation, seq, resource);
        base64::engine::general_purpose::STANDARD.encode(raw)
    }

    /// Decodes a cursor of `resource`; `None` when expired, foreign or malformed.
    pub fn check_cursor(&self, cursor: &str, resource: &str) -> Option<u64> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(cursor.trim())
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let mut parts = raw.split('\r');
        if parts.next()? != "bksim" {
            return None;
        }
        let generation: u64 = parts.next()?.parse().ok()?;
        let seq: u64 = parts.next()?.parse().ok()?;
        let res = parts.next()?;
        if parts.next().is_some()
            || generation != self.generation
            || res != resource
            || seq > self.last_seq
            || seq < self.pruned_upto
        {
            return None;
        }
        Some(seq)
    }

    /// The sequence number just before the first stored event at or after `ts_s`.
    pub fn seq_before_time(&self, ts_s: i64) -> u64 {
        match self.events.iter().find(|e| e.ts_s >= ts_s) {
            Some(e) => e.seq - 1,
            None => self.last_seq,
        }
    }

    /// Events after `seq` matching `want`, at most `max`.
    pub fn after<'a>(
        &'a self,
        seq: u64,
        want: &'a dyn Fn(&Event) -> bool,
        max: usize,
    ) -> impl Iterator<Item = &'a Event> + 'a {
        let start = self.events.partition_point(|e| e.seq <= seq);
        self.events
            .range(start..)
            .filter(move |e| want(e))
            .take(max)
    }
}

/// A parsed watch request.
struct WatchReq {
    resource: &'static str,
    types: Vec<String>,
    fields: Vec<String>,
    cursor: Option<String>,
    start_from: Option<i64>,
}

fn parse_req(p: &Value) -> Result<WatchReq, ParamError> {
    let res = params::req_str(p, "bk_resource")?;
    let resource = RESOURCES
        .iter()
        .copied()
        .find(|r| *r == res)
        .ok_or_else(|| ParamError::new("bk_resource", "is not a watchable resource"))?;
    let types = params::opt_str_list(p, "bk_event_types")?.unwrap_or_default();
    for t in &types {
        if !matches!(t.as_str(), "create" | "update" | "delete") {
            return Err(ParamError::new(
                "bk_event_types",
                "holds an unknown event type",
            ));
        }
    }
    let fields = params::opt_str_list(p, "bk_fields")?.unwrap_or_default();
    if resource == "host" && fields.is_empty() {
        return Err(ParamError::new(
            "bk_fields",
            "is required when watching host",
        ));
    }
    let cursor = params::opt_str(p, "bk_cursor")?.filter(|c| !c.is_empty());
    let start_from = params::opt_i64(p, "bk_start_from")?.filter(|t| *t > 0);
    Ok(WatchReq {
        resource,
        types,
        fields,
        cursor,
        start_from,
    })
}

fn project(detail: &Value, fields: &[String]) -> Value {
    if fields.is_empty() {
        return detail.clone();
    }
    let mut m = Map::new();
    if let Some(o) = detail.as_object() {
        for f in fields {
            if let Some(v) = o.get(f) {
                m.insert(f.clone(), v.clone());
            }
        }
    }
    Value::Object(m)
}

/// `resource_watch`.
pub async fn resource_watch(state: &State, p: &Value) -> Outcome {
    let req = match parse_req(p) {
        Ok(r) => r,
        Err(e) => return Outcome::error(1199006, e.to_string()),
    };
    let cc = &state.inner.cc;
    let mut rx = cc.changes.subscribe();
    // Resolve the starting position.
    let mut from = {
        let mut data = cc.write();
        data.events.prune();
        if let Some(c) = &req.cursor {
            match data.events.check_cursor(c, req.resource) {
                Some(s) => s,
                None => return Outcome::error(CURSOR_ERROR.0, CURSOR_ERROR.1),
            }
        } else if let Some(t) = req.start_from {
            data.events.seq_before_time(t)
        } else {
            data.events.last_seq()
        }
    };
    let deadline = tokio::time::Instant::now() + state.inner.cfg.watch_timeout;
    let types = req.types.clone();
    let want =
        move |e: &Event| -> bool { types.is_empty() || types.iter().any(|t| t == e.kind.as_str()) };
    let resource = req.resource;
    let want_all = move |e: &Event| e.resource == resource && want(e);
    loop {
        rx.borrow_and_update();
        {
            let mut data = cc.write();
            data.events.prune();
            if from < data.events.pruned_upto {
                return Outcome::error(CURSOR_ERROR.0, CURSOR_ERROR.1);
            }
            let evs: Vec<Value> = data
                .events
                .after(from, &want_all, MAX_EVENTS)
                .map(|e| {
                    json!({
                        "bk_cursor": data.events.cursor(e.seq, resource),
                        "bk_resource": e.resource,
                        "bk_event_type": e.kind.as_str(),
                        "bk_detail": project(&e.detail, &req.fields),
                    })
                })
                .collect();
            if !evs.is_empty() {
                return Outcome::Data(json!({"bk_watched": true, "bk_events": evs}));
            }
            // Nothing of ours: skip past the others' events.
            from = data.events.last_seq();
            if tokio::time::Instant::now() >= deadline {
                let cursor = data.events.cursor(from, resource);
                return Outcome::Data(json!({
                    "bk_watched": false,
                    "bk_events": [{
                        "bk_cursor": cursor,
                        "bk_resource": resource,
                        "bk_detail": null,
                    }],
                }));
            }
        }
        // Wait for a change (or the deadline); re-check either way.
        let _ = tokio::time::timeout_at(deadline, rx.changed()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors() {
        let mut log = EventLog::new(Duration::from_secs(3600));
        log.push("host", EventType::Update, json!({"bk_host_id": 1}));
        log.push("biz", EventType::Create, json!({"bk_biz_id": 9}));
        let c = log.cursor(1, "host");
        assert_eq!(log.check_cursor(&c, "host"), Some(1));
        assert_eq!(log.check_cursor(&c, "biz"), None);
        assert_eq!(log.check_cursor("garbage", "host"), None);
        assert_eq!(log.check_cursor(&log.cursor(99, "host"), "host"), None);
        let all = |_: &Event| true;
        assert_eq!(log.after(0, &all, 10).count(), 2);
        assert_eq!(log.after(1, &all, 10).count(), 1);
        log.expire_all();
        assert_eq!(log.check_cursor(&c, "host"), None);
        assert!(log.is_empty());
        let c2 = log.cursor(log.last_seq(), "host");
        assert_eq!(log.check_cursor(&c2, "host"), Some(2));
    }

    #[test]
    fn ttl_prunes() {
        let mut log = EventLog::new(Duration::from_millis(0));
        log.push("host", EventType::Update, json!({}));
        log.push("host", EventType::Update, json!({}));
        log.prune();
        assert_eq!(log.len(), 0);
        assert_eq!(log.check_cursor(&log.cursor(1, "host"), "host"), None);
        assert_eq!(log.check_cursor(&log.cursor(2, "host"), "host"), Some(2));
    }
}
