//! CMDB: businesses, the business topology, hosts, their changes and events.
//!
//! Reads: `search_business`, `list_biz_hosts`, `list_biz_hosts_topo`, `search_host`,
//! `get_mainline_object_topo`, `search_biz_inst_topo`. Writes (each emitting
//! `resource_watch` events): `transfer_host_module`, `update_host`, `batch_update_host`,
//! `add_host_to_resource`, and the test hooks on [`State`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde_json::{json, Map, Value};

use super::filter;
use super::params::{self, ParamError};
use super::time::now_ms;
use super::topo::{
    ip_string, parse_ip, Host, NewHost, Topology, HOST_READONLY_FIELDS, RESOURCE_POOL_BIZ,
};
use super::watch::{EventLog, EventType};
use super::{Call, Outcome, State, StateConfig};

/// `invalid params`.
pub const INVALID_PARAMS: i64 = 1199006;
/// A required value is zero or empty.
pub const PARAM_NOT_SET: i64 = 1199010;
/// Record not found.
pub const NOT_FOUND: i64 = 1199019;
/// `page.limit` over 500 in the host lists.
pub const EXCEED_LIMIT: i64 = 1199035;
/// Page size over the API's limit (other APIs).
pub const PAGE_LIMIT_EXCEEDED: i64 = 1199059;

/// The mutable CMDB data and its event log (changed together).
#[derive(Debug)]
pub struct CcData {
    /// Businesses, sets, modules, hosts.
    pub topo: Topology,
    /// The `resource_watch` events.
    pub events: EventLog,
    /// Agent liveness set by tests, by host id (overrides the generated one).
    pub agent_override: HashMap<i64, bool>,
}

/// CMDB state: the data and a change counter that wakes long polls.
#[derive(Debug)]
pub struct CcState {
    data: RwLock<CcData>,
    /// Bumped after every change.
    pub changes: tokio::sync::watch::Sender<u64>,
    /// How long the topology took to generate.
    pub build_time: std::time::Duration,
}

impl CcState {
    /// Generates the topology.
    pub fn new(cfg: &StateConfig) -> CcState {
        let t0 = std::time::Instant::now();
        let topo = Topology::generate(cfg.hosts, cfg.seed, &cfg.username);
        let build_time = t0.elapsed();
        CcState {
            data: RwLock::new(CcData {
                topo,
                events: EventLog::new(cfg.event_ttl),
                agent_override: HashMap::new(),
            }),
            changes: tokio::sync::watch::channel(0).0,
            build_time,
        }
    }

    /// Shared access (poisoning is ignored: the data stays consistent per operation).
    pub fn read(&self) -> RwLockReadGuard<'_, CcData> {
        self.data.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Exclusive access.
    pub fn write(&self) -> RwLockWriteGuard<'_, CcData> {
        self.data.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes the long polls.
    pub fn notify(&self) {
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }
}

/// A host as the simulator knows it: all attributes and its placement.
#[derive(Debug, Clone, PartialEq)]
pub struct HostSnapshot {
    /// `bk_host_id`.
    pub bk_host_id: i64,
    /// Every attribute (built-in and user-defined), as `list_biz_hosts` with no `fields`.
    pub host: Map<String, Value>,
    /// Business.
    pub bk_biz_id: i64,
    /// Sets holding the host, ascending.
    pub bk_set_ids: Vec<i64>,
    /// Modules holding the host, ascending.
    pub bk_module_ids: Vec<i64>,
}

fn invalid(e: ParamError) -> Outcome {
    Outcome::error(INVALID_PARAMS, e.to_string())
}

macro_rules! tryp {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return invalid(e),
        }
    };
}

/// Dispatches the CMDB APIs handled here.
pub fn handle(state: &State, call: &Call<'_>) -> Option<Outcome> {
    let p = call.params;
    let out = match call.api {
        "search_business" => search_business(state, p),
        "list_biz_hosts" => list_biz_hosts(state, p, false),
        "list_biz_hosts_topo" => list_biz_hosts(state, p, true),
        "search_host" => search_host(state, p),
        "get_mainline_object_topo" => mainline_topo(),
        "search_biz_inst_topo" => search_biz_inst_topo(state, p),
        "transfer_host_module" => transfer_host_module(state, p),
        "update_host" => update_host(state, p),
        "batch_update_host" => batch_update_host(state, p),
        "add_host_to_resource" => add_host_to_resource(state, p),
        "get_biz_internal_module" => get_biz_internal_module(state, p),
        "transfer_host_to_idlemodule" => transfer_to_builtin(state, p, 1),
        "transfer_host_to_faultmodule" => transfer_to_builtin(state, p, 2),
        "transfer_host_to_recyclemodule" => transfer_to_builtin(state, p, 3),
        "transfer_host_to_resourcemodule" => transfer_to_resource(state, p),
        "transfer_host_across_biz" => transfer_across_biz(state, p),
        "delete_host" => delete_hosts(state, p),
        _ => return None,
    };
    Some(out)
}

/// A parsed CMDB page.
#[derive(Debug, Clone)]
struct Page {
    start: usize,
    limit: usize,
    sort: Option<String>,
    count_only: bool,
}

/// Reads `page`. `required`: the host lists (1..=max, 0 -> 1199010, over -> 1199035);
/// otherwise a missing page or zero limit means "up to max", over max -> 1199059.
fn parse_page(p: &Value, max: usize, required: bool) -> Result<Page, Outcome> {
    let page = match params::opt_object(p, "page") {
        Ok(v) => v,
        Err(e) => return Err(invalid(e)),
    };
    let page = match page {
        Some(m) => Value::Object(m),
        None if required => return Err(Outcome::error(PARAM_NOT_SET, "page.limit not set")),
        None => json!({}),
    };
    let start = params::opt_i64(&page, "start")
        .map_err(|e| invalid(ParamError::new("page.start", e.what)))?;
    let limit = params::opt_i64(&page, "limit")
        .map_err(|e| invalid(ParamError::new("page.limit", e.what)))?;
    let start = start.unwrap_or(0);
    if start < 0 {
        return Err(invalid(ParamError::new(
            "page.start",
            "must not be negative",
        )));
    }
    let limit = limit.unwrap_or(0);
    if limit < 0 {
        return Err(invalid(ParamError::new(
            "page.limit",
            "must not be negative",
        )));
    }
    let limit = if limit == 0 {
        if required {
            return Err(Outcome::error(PARAM_NOT_SET, "page.limit not set"));
        }
        max
    } else if limit as usize > max {
        return Err(if required {
            Outcome::error(EXCEED_LIMIT, format!("page.limit exceed the limit {max}"))
        } else {
            Outcome::error(
                PAGE_LIMIT_EXCEEDED,
                format!("page.limit exceed the limit {max}"),
            )
        });
    } else {
        limit as usize
    };
    let sort = params::opt_str(&page, "sort")
        .ok()
        .flatten()
        .filter(|s| !s.is_empty());
    let count_only = params::opt_bool(&page, "enable_count")
        .ok()
        .flatten()
        .unwrap_or(false);
    Ok(Page {
        start: start as usize,
        limit,
        sort,
        count_only,
    })
}

fn fields_of(p: &Value, key: &str) -> Result<Vec<String>, Outcome> {
    params::opt_str_list(p, key)
        .map(Option::unwrap_or_default)
        .map_err(invalid)
}

/// Sorts JSON records by a CMDB sort spec (`field` or `-field`, comma-separated).
fn sort_records(recs: &mut [Map<String, Value>], sort: &str) {
    let keys: Vec<(String, bool)> = sort
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s.strip_prefix('-') {
            Some(f) => (f.to_string(), true),
            None => (s.trim_start_matches('+').to_string(), false),
        })
        .collect();
    recs.sort_by(|a, b| {
        for (k, desc) in &keys {
            let x = a.get(k).unwrap_or(&Value::Null);
            let y = b.get(k).unwrap_or(&Value::Null);
            let o = filter::compare(x, y).unwrap_or(std::cmp::Ordering::Equal);
            let o = if *desc { o.reverse() } else { o };
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    });
}

fn search_business(state: &State, p: &Value) -> Outcome {
    let page = match parse_page(p, 200, false) {
        Ok(pg) => pg,
        Err(o) => return o,
    };
    let fields = match fields_of(p, "fields") {
        Ok(f) => f,
        Err(o) => return o,
    };
    let rule = tryp!(filter::parse(
        params::get(p, "biz_property_filter"),
        "biz_property_filter",
        3
    ));
    let cond = if rule.is_none() {
        tryp!(params::opt_object(p, "condition")).unwrap_or_default()
    } else {
        Map::new()
    };
    let data = state.inner.cc.read();
    let t = &data.topo;
    let mut recs: Vec<Map<String, Value>> = t
        .bizs
        .values()
        .map(|b| t.biz_json(b))
        .filter(|m| {
            let get = |f: &str| m.get(f).cloned();
            let ok_rule = rule.as_ref().is_none_or(|r| filter::eval(r, &get));
            let ok_cond = cond.iter().all(|(k, v)| match v {
                Value::Object(o) => {
                    // Mongo-style {"$in": [...]} / {"$regex": ..}.
                    let a = m.get(k).cloned().unwrap_or(Value::Null);
                    o.iter().all(|(op, val)| match op.as_str() {
                        "$in" => val
                            .as_array()
                            .is_some_and(|l| l.iter().any(|x| filter::equals(&a, x))),
                        "$nin" => !val
                            .as_array()
                            .is_some_and(|l| l.iter().any(|x| filter::equals(&a, x))),
                        "$ne" => !filter::equals(&a, val),
                        "$eq" => filter::equals(&a, val),
                        "$regex" => a
                            .as_str()
                            .zip(val.as_str())
                            .is_some_and(|(s, n)| s.contains(n)),
                        _ => false,
                    })
                }
                other => m.get(k).is_some_and(|a| filter::equals(a, other)),
            });
            ok_rule && ok_cond
        })
        .collect();
    if let Some(s) = &page.sort {
        sort_records(&mut recs, s);
    }
    let count = recs.len();
    let info: Vec<Value> = if page.count_only {
        Vec::new()
    } else {
        recs.into_iter()
            .skip(page.start)
            .take(page.limit)
            .map(|m| Value::Object(project(m, &fields)))
            .collect()
    };
    Outcome::Data(json!({"count": count, "info": info}))
}

fn project(m: Map<String, Value>, fields: &[String]) -> Map<String, Value> {
    if fields.is_empty() {
        return m;
    }
    let mut m = m;
    let mut out = Map::new();
    for f in fields {
        if let Some(v) = m.remove(f) {
            out.insert(f.clone(), v);
        }
    }
    out
}

/// The set/module filters of the host lists, resolved into allowed module ids.
fn allowed_modules(t: &Topology, biz: i64, p: &Value) -> Result<Option<BTreeSet<i64>>, Outcome> {
    let set_ids = params::opt_i64_list(p, "bk_set_ids").map_err(invalid)?;
    let module_ids = params::opt_i64_list(p, "bk_module_ids").map_err(invalid)?;
    let set_cond = filter::parse_conds(params::get(p, "set_cond"), "set_cond").map_err(invalid)?;
    let module_cond =
        filter::parse_conds(params::get(p, "module_cond"), "module_cond").map_err(invalid)?;
    if set_ids.as_ref().is_some_and(|v| !v.is_empty()) && !set_cond.is_empty() {
        return Err(invalid(ParamError::new(
            "bk_set_ids",
            "and set_cond cannot both be given",
        )));
    }
    if module_ids.as_ref().is_some_and(|v| !v.is_empty()) && !module_cond.is_empty() {
        return Err(invalid(ParamError::new(
            "bk_module_ids",
            "and module_cond cannot both be given",
        )));
    }
    if set_ids.as_ref().is_some_and(|v| v.len() > 200) {
        return Err(Outcome::error(
            PAGE_LIMIT_EXCEEDED,
            "bk_set_ids exceed the limit 200",
        ));
    }
    if module_ids.as_ref().is_some_and(|v| v.len() > 500) {
        return Err(Outcome::error(
            PAGE_LIMIT_EXCEEDED,
            "bk_module_ids exceed the limit 500",
        ));
    }
    let set_rule = filter::parse(
        params::get(p, "set_property_filter"),
        "set_property_filter",
        2,
    )
    .map_err(invalid)?;
    let module_rule = filter::parse(
        params::get(p, "module_property_filter"),
        "module_property_filter",
        2,
    )
    .map_err(invalid)?;
    let set_ids = set_ids.filter(|v| !v.is_empty());
    let module_ids = module_ids.filter(|v| !v.is_empty());
    if set_ids.is_none()
        && module_ids.is_none()
        && set_cond.is_empty()
        && module_cond.is_empty()
        && set_rule.is_none()
        && module_rule.is_none()
    {
        return Ok(None);
    }
    let sets: BTreeSet<i64> = t
        .sets
        .values()
        .filter(|s| s.biz_id == biz)
        .filter(|s| set_ids.as_ref().is_none_or(|ids| ids.contains(&s.id)))
        .filter(|s| {
            if set_cond.is_empty() && set_rule.is_none() {
                return true;
            }
            let j = t.set_json(s);
            let get = |f: &str| j.get(f).cloned();
            filter::eval_conds(&set_cond, &get)
                && set_rule.as_ref().is_none_or(|r| filter::eval(r, &get))
        })
        .map(|s| s.id)
        .collect();
    let mods = t
        .modules
        .values()
        .filter(|m| m.biz_id == biz && sets.contains(&m.set_id))
        .filter(|m| module_ids.as_ref().is_none_or(|ids| ids.contains(&m.id)))
        .filter(|m| {
            if module_cond.is_empty() && module_rule.is_none() {
                return true;
            }
            let j = t.module_json(m);
            let get = |f: &str| j.get(f).cloned();
            filter::eval_conds(&module_cond, &get)
                && module_rule.as_ref().is_none_or(|r| filter::eval(r, &get))
        })
        .map(|m| m.id)
        .collect();
    Ok(Some(mods))
}

fn host_topo(t: &Topology, h: &Host, only: Option<&BTreeSet<i64>>) -> Vec<Value> {
    let mut by_set: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
    for mid in &h.modules {
        if only.is_some_and(|o| !o.contains(mid)) {
            continue;
        }
        if let Some(m) = t.modules.get(mid) {
            by_set
                .entry(m.set_id)
                .or_default()
                .push(json!({"bk_module_id": m.id, "bk_module_name": m.name}));
        }
    }
    by_set
        .into_iter()
        .map(|(sid, mods)| {
            let name = t.sets.get(&sid).map(|s| s.name.clone()).unwrap_or_default();
            json!({"bk_set_id": sid, "bk_set_name": name, "module": mods})
        })
        .collect()
}

fn list_biz_hosts(state: &State, p: &Value, with_topo: bool) -> Outcome {
    let biz = tryp!(params::req_i64(p, "bk_biz_id"));
    if biz <= 0 {
        return Outcome::error(PARAM_NOT_SET, "bk_biz_id not set");
    }
    let page = match parse_page(p, 500, true) {
        Ok(pg) => pg,
        Err(o) => return o,
    };
    let fields = match fields_of(p, "fields") {
        Ok(f) => f,
        Err(o) => return o,
    };
    let host_rule = tryp!(filter::parse(
        params::get(p, "host_property_filter"),
        "host_property_filter",
        2
    ));
    let data = state.inner.cc.read();
    let t = &data.topo;
    let allowed = match allowed_modules(t, biz, p) {
        Ok(a) => a,
        Err(o) => return o,
    };
    let matches = |h: &&Host| -> bool {
        h.biz == biz
            && allowed
                .as_ref()
                .is_none_or(|a| h.modules.iter().any(|m| a.contains(m)))
            && host_rule
                .as_ref()
                .is_none_or(|r| filter::eval(r, &|f: &str| t.host_field(h, f)))
    };
    let render = |h: &Host| -> Value {
        let host = Value::Object(t.host_json(h, &fields));
        if with_topo {
            json!({"host": host, "topo": host_topo(t, h, None)})
        } else {
            host
        }
    };
    // Default and `bk_host_id` order come straight from the id-ordered map.
    let custom_sort = page
        .sort
        .as_deref()
        .filter(|s| !with_topo && *s != "bk_host_id");
    let (count, info) = match custom_sort {
        None => {
            let mut count = 0usize;
            let mut info = Vec::new();
            for h in t.hosts.values().filter(matches) {
                if !page.count_only && count >= page.start && info.len() < page.limit {
                    info.push(render(h));
                }
                count += 1;
            }
            (count, info)
        }
        Some(sort) => {
            let keys: Vec<String> = sort
                .split(',')
                .map(|s| s.trim().trim_start_matches(['-', '+']).to_string())
                .collect();
            let mut recs: Vec<(i64, Map<String, Value>)> = t
                .hosts
                .values()
                .filter(matches)
                .map(|h| (h.id, t.host_json(h, &keys)))
                .collect();
            let count = recs.len();
            let mut maps: Vec<Map<String, Value>> = recs
                .iter_mut()
                .map(|(id, m)| {
                    let mut m = std::mem::take(m);
                    m.insert("\u{0}id".into(), json!(*id));
                    m
                })
                .collect();
            sort_records(&mut maps, &format!("{sort},\u{0}id"));
            let info = if page.count_only {
                Vec::new()
            } else {
                maps.iter()
                    .skip(page.start)
                    .take(page.limit)
                    .filter_map(|m| m.get("\u{0}id").and_then(Value::as_i64))
                    .filter_map(|id| t.hosts.get(&id))
                    .map(render)
                    .collect()
            };
            (count, info)
        }
    };
    Outcome::Data(json!({"count": count, "info": info}))
}

fn search_host(state: &State, p: &Value) -> Outcome {
    let page = match parse_page(p, 200, false) {
        Ok(pg) => pg,
        Err(o) => return o,
    };
    let biz = tryp!(params::opt_i64(p, "bk_biz_id")).filter(|b| *b > 0);
    let ip = tryp!(params::opt_object(p, "ip")).unwrap_or_default();
    let ip = Value::Object(ip);
    let ips = tryp!(params::opt_str_list(&ip, "data")).unwrap_or_default();
    let exact = tryp!(params::opt_i64(&ip, "exact")).unwrap_or(1) == 1;
    let flag = tryp!(params::opt_str(&ip, "flag")).unwrap_or_else(|| "bk_host_innerip".into());
    let conds = tryp!(params::opt_array(p, "condition")).unwrap_or_default();
    // Conditions and fields per object kind.
    let mut obj_conds: HashMap<String, Vec<filter::FieldCond>> = HashMap::new();
    let mut obj_fields: HashMap<String, Vec<String>> = HashMap::new();
    for (i, c) in conds.iter().enumerate() {
        let obj = c
            .get("bk_obj_id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if !matches!(obj.as_str(), "biz" | "set" | "module" | "host" | "object") {
            return invalid(ParamError::new(
                format!("condition[{i}].bk_obj_id"),
                "is not supported",
            ));
        }
        let cs = tryp!(filter::parse_conds(
            c.get("condition"),
            &format!("condition[{i}].condition")
        ));
        obj_conds.entry(obj.clone()).or_default().extend(cs);
        let fs = tryp!(params::opt_str_list(c, "fields")).unwrap_or_default();
        obj_fields.insert(obj, fs);
    }
    let none: Vec<filter::FieldCond> = Vec::new();
    let conds_of = |o: &str| obj_conds.get(o).unwrap_or(&none);
    let fields_of = |o: &str| obj_fields.get(o).cloned().unwrap_or_default();
    let data = state.inner.cc.read();
    let t = &data.topo;
    let ip_flags: Vec<&str> = flag.split('|').map(str::trim).collect();
    let ip_match = |h: &Host| -> bool {
        if ips.is_empty() {
            return true;
        }
        ip_flags.iter().any(|f| {
            let v = t
                .host_field(h, f)
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .any(|a| {
                    ips.iter().any(|q| {
                        if exact {
                            a == q
                        } else {
                            a.contains(q.as_str())
                        }
                    })
                })
        })
    };
    let mut count = 0usize;
    let mut info = Vec::new();
    for h in t.hosts.values() {
        if biz.is_some_and(|b| b != h.biz) || !ip_match(h) {
            continue;
        }
        if !filter::eval_conds(conds_of("host"), &|f: &str| t.host_field(h, f)) {
            continue;
        }
        let biz_json = || {
            t.bizs
                .get(&h.biz)
                .map(|b| t.biz_json(b))
                .unwrap_or_default()
        };
        if !conds_of("biz").is_empty() {
            let bj = biz_json();
            if !filter::eval_conds(conds_of("biz"), &|f: &str| bj.get(f).cloned()) {
                continue;
            }
        }
        let mods: Vec<_> = h.modules.iter().filter_map(|m| t.modules.get(m)).collect();
        let mut set_ids: Vec<i64> = mods.iter().map(|m| m.set_id).collect();
        set_ids.sort_unstable();
        set_ids.dedup();
        let sets: Vec<_> = set_ids.iter().filter_map(|s| t.sets.get(s)).collect();
        if !conds_of("set").is_empty()
            && !sets.iter().any(|s| {
                let j = t.set_json(s);
                filter::eval_conds(conds_of("set"), &|f: &str| j.get(f).cloned())
            })
        {
            continue;
        }
        if !conds_of("module").is_empty()
            && !mods.iter().any(|m| {
                let j = t.module_json(m);
                filter::eval_conds(conds_of("module"), &|f: &str| j.get(f).cloned())
            })
        {
            continue;
        }
        if !page.count_only && count >= page.start && info.len() < page.limit {
            let mut host = t.host_json(h, &fields_of("host"));
            if let Some(c) = host.get("bk_cloud_id").and_then(Value::as_i64) {
                host.insert(
                    "bk_cloud_id".into(),
                    json!([{
                        "bk_obj_name": "",
                        "id": c.to_string(),
                        "bk_obj_id": "plat",
                        "bk_obj_icon": "",
                        "bk_inst_id": c,
                        "bk_inst_name": if c == 0 { "Default Area".to_string() } else { format!("cloud-{c}") },
                    }]),
                );
            }
            let bf = fields_of("biz");
            let sf = fields_of("set");
            let mf = fields_of("module");
            let bj = biz_json();
            let sjs: Vec<Map<String, Value>> = sets.iter().map(|s| t.set_json(s)).collect();
            let mjs: Vec<Map<String, Value>> = mods.iter().map(|m| t.module_json(m)).collect();
            info.push(json!({
                "host": host,
                "biz": [project(bj.clone(), &bf)],
                "set": sjs.into_iter().map(|j| project(j, &sf)).collect::<Vec<_>>(),
                "module": mjs.into_iter().map(|j| project(j, &mf)).collect::<Vec<_>>(),
            }));
        }
        count += 1;
    }
    Outcome::Data(json!({"count": count, "info": info}))
}

fn mainline_topo() -> Outcome {
    let chain = [
        ("biz", "Business"),
        ("set", "Set"),
        ("module", "Module"),
        ("host", "Host"),
    ];
    let list: Vec<Value> = chain
        .iter()
        .enumerate()
        .map(|(i, (id, name))| {
            let (next, next_name) = chain.get(i + 1).copied().unwrap_or(("", ""));
            let (pre, pre_name) = if i == 0 { ("", "") } else { chain[i - 1] };
            json!({
                "bk_obj_id": id,
                "bk_obj_name": name,
                "bk_supplier_account": "0",
                "bk_next_obj": next,
                "bk_next_name": next_name,
                "bk_pre_obj_id": pre,
                "bk_pre_obj_name": pre_name,
            })
        })
        .collect();
    Outcome::Data(Value::Array(list))
}

fn search_biz_inst_topo(state: &State, p: &Value) -> Outcome {
    let biz = tryp!(params::req_i64(p, "bk_biz_id"));
    let level = tryp!(params::opt_i64(p, "level")).unwrap_or(2);
    if level < -1 {
        return invalid(ParamError::new("level", "must be -1 or more"));
    }
    let depth = if level == -1 { i64::MAX } else { level };
    let data = state.inner.cc.read();
    let t = &data.topo;
    let Some(b) = t.bizs.get(&biz) else {
        return Outcome::Data(json!([]));
    };
    // The idle pool set (default 1) is served by get_biz_internal_module in CMDB, not here.
    let sets: Vec<Value> = if depth >= 1 {
        t.sets
            .values()
            .filter(|s| s.biz_id == biz && s.default == 0)
            .map(|s| {
                let mods: Vec<Value> = if depth >= 2 {
                    t.modules
                        .values()
                        .filter(|m| m.set_id == s.id)
                        .map(|m| {
                            json!({
                                "bk_inst_id": m.id,
                                "bk_inst_name": m.name,
                                "bk_obj_id": "module",
                                "bk_obj_name": "module",
                                "bk_obj_icon": "icon-cc-module",
                                "default": m.default,
                                "child": [],
                            })
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                json!({
                    "bk_inst_id": s.id,
                    "bk_inst_name": s.name,
                    "bk_obj_id": "set",
                    "bk_obj_name": "set",
                    "bk_obj_icon": "icon-cc-set",
                    "default": s.default,
                    "child": mods,
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    Outcome::Data(json!([{
        "bk_inst_id": b.id,
        "bk_inst_name": b.name,
        "bk_obj_id": "biz",
        "bk_obj_name": "business",
        "bk_obj_icon": "icon-cc-business",
        "default": b.default,
        "child": sets,
    }]))
}

// ---- changes -------------------------------------------------------------------------

fn relation_detail(t: &Topology, host: i64, module: i64) -> Value {
    let (biz, set) = t
        .modules
        .get(&module)
        .map(|m| (m.biz_id, m.set_id))
        .unwrap_or((0, 0));
    json!({
        "bk_biz_id": biz,
        "bk_host_id": host,
        "bk_module_id": module,
        "bk_set_id": set,
        "bk_supplier_account": "0",
    })
}

impl CcData {
    /// Places `host` in exactly `modules` (all of one business), emitting host_relation
    /// delete events for dropped placements and create events for new ones.
    pub fn place_host(&mut self, host: i64, modules: Vec<i64>) -> Result<(), String> {
        let mut modules = modules;
        modules.sort_unstable();
        modules.dedup();
        let Some(first) = modules.first() else {
            return Err("no module given".into());
        };
        let biz = self
            .topo
            .modules
            .get(first)
            .map(|m| m.biz_id)
            .ok_or_else(|| format!("module {first} not found"))?;
        for m in &modules {
            match self.topo.modules.get(m) {
                None => return Err(format!("module {m} not found")),
                Some(mm) if mm.biz_id != biz => {
                    return Err("modules belong to different businesses".into())
                }
                Some(mm) if mm.default != 0 && modules.len() > 1 => {
                    return Err(format!(
                        "module {m} is a built-in module and cannot hold a host with other modules"
                    ))
                }
                _ => {}
            }
        }
        let old = match self.topo.hosts.get(&host) {
            Some(h) => h.modules.clone(),
            None => return Err(format!("host {host} not found")),
        };
        if old == modules {
            return Ok(());
        }
        for m in old.iter().filter(|m| !modules.contains(m)) {
            let d = relation_detail(&self.topo, host, *m);
            self.events.push("host_relation", EventType::Delete, d);
        }
        if let Some(h) = self.topo.hosts.get_mut(&host) {
            h.biz = biz;
            h.modules = modules.clone();
        }
        for m in modules.iter().filter(|m| !old.contains(m)) {
            let d = relation_detail(&self.topo, host, *m);
            self.events.push("host_relation", EventType::Create, d);
        }
        Ok(())
    }

    /// Sets host attributes, emitting one host update event. Read-only attributes are
    /// refused; `bk_host_innerip` must stay unique in its cloud area.
    pub fn update_host(&mut self, host: i64, data: &Map<String, Value>) -> Result<(), String> {
        for k in data.keys() {
            if HOST_READONLY_FIELDS.contains(&k.as_str()) {
                return Err(format!("field {k} cannot be updated"));
            }
        }
        let t = &mut self.topo;
        let Some(h) = t.hosts.get(&host) else {
            return Err(format!("host {host} not found"));
        };
        let old_key = (t.host_cloud(h), t.host_ip(h));
        if let Some(ip) = data.get("bk_host_innerip") {
            let ip = ip.as_str().ok_or("bk_host_innerip must be a string")?;
            let first = ip.split(',').next().unwrap_or("").trim().to_string();
            if parse_ip(&first).is_none() {
                return Err("bk_host_innerip is not an IPv4 address".into());
            }
            if let Some(other) = t.ip_index.get(&(old_key.0, first.clone())) {
                if *other != host {
                    return Err(format!("bk_host_innerip {first} is already used"));
                }
            }
        }
        let now = now_ms();
        let Some(h) = t.hosts.get_mut(&host) else {
            return Err(format!("host {host} not found"));
        };
        let o = h.overrides.get_or_insert_with(Default::default);
        for (k, v) in data {
            o.insert(k.clone(), v.clone());
        }
        h.last_ms = now;
        let h = &t.hosts[&host];
        let new_key = (t.host_cloud(h), t.host_ip(h));
        if new_key != old_key {
            t.ip_index.remove(&old_key);
            t.ip_index.insert(new_key, host);
        }
        let detail = Value::Object(t.host_json(h, &[]));
        self.events.push("host", EventType::Update, detail);
        Ok(())
    }

    /// Adds a host, emitting host create and host_relation create events.
    pub fn add_host(&mut self, new: &NewHost) -> Result<i64, String> {
        let ip = parse_ip(&new.innerip).ok_or("bk_host_innerip is not an IPv4 address")?;
        let ips = ip_string(ip);
        if self
            .topo
            .ip_index
            .contains_key(&(new.cloud_id, ips.clone()))
        {
            return Err(format!(
                "host {ips} already exists in cloud area {}",
                new.cloud_id
            ));
        }
        let biz = new.biz_id.unwrap_or(RESOURCE_POOL_BIZ);
        if !self.topo.bizs.contains_key(&biz) {
            return Err(format!("business {biz} not found"));
        }
        let module = match new.module_id {
            Some(m) => m,
            None => self
                .topo
                .builtin_module(biz, 1)
                .ok_or_else(|| format!("business {biz} has no idle module"))?,
        };
        if self.topo.modules.get(&module).map(|m| m.biz_id) != Some(biz) {
            return Err(format!("module {module} is not in business {biz}"));
        }
        let t = &mut self.topo;
        let id = t.next_host;
        t.next_host += 1;
        let now = now_ms();
        let mut o = new.fields.clone();
        for k in HOST_READONLY_FIELDS {
            o.remove(*k);
        }
        o.remove("bk_host_innerip");
        for f in [
            "bk_comment",
            "bk_host_outerip",
            "bk_host_innerip_v6",
            "bk_host_outerip_v6",
        ] {
            o.entry(f).or_insert(json!(""));
        }
        o.entry("bk_host_name").or_insert(json!(""));
        o.entry("import_from").or_insert(json!("3"));
        o.entry("operator").or_insert(json!(""));
        o.entry("bk_bak_operator").or_insert(json!(""));
        o.entry("custom_owner_team").or_insert(Value::Null);
        o.entry("custom_rack").or_insert(Value::Null);
        let salt = super::rng::hash3(t.seed, id as u64, 11);
        t.hosts.insert(
            id,
            Host {
                id,
                cloud: new.cloud_id,
                ip,
                salt,
                biz,
                modules: vec![module],
                create_ms: now,
                last_ms: now,
                overrides: Some(Box::new(o)),
            },
        );
        t.ip_index.insert((new.cloud_id, ips), id);
        let detail = Value::Object(t.host_json(&t.hosts[&id], &[]));
        self.events.push("host", EventType::Create, detail);
        let d = relation_detail(&self.topo, id, module);
        self.events.push("host_relation", EventType::Create, d);
        Ok(id)
    }

    /// Deletes a host, emitting host_relation delete and host delete events.
    pub fn delete_host(&mut self, host: i64) -> Result<(), String> {
        let Some(h) = self.topo.hosts.get(&host) else {
            return Err(format!("host {host} not found"));
        };
        let detail = Value::Object(self.topo.host_json(h, &[]));
        let key = (self.topo.host_cloud(h), self.topo.host_ip(h));
        let mods = h.modules.clone();
        for m in mods {
            let d = relation_detail(&self.topo, host, m);
            self.events.push("host_relation", EventType::Delete, d);
        }
        self.topo.hosts.remove(&host);
        self.topo.ip_index.remove(&key);
        self.agent_override.remove(&host);
        self.events.push("host", EventType::Delete, detail);
        Ok(())
    }
}

fn transfer_host_module(state: &State, p: &Value) -> Outcome {
    let biz = tryp!(params::req_i64(p, "bk_biz_id"));
    let hosts = tryp!(params::opt_i64_list(p, "bk_host_id")).unwrap_or_default();
    let modules = tryp!(params::opt_i64_list(p, "bk_module_id")).unwrap_or_default();
    let incr = tryp!(params::opt_bool(p, "is_increment")).unwrap_or(false);
    if hosts.is_empty() {
        return Outcome::error(PARAM_NOT_SET, "bk_host_id not set");
    }
    if modules.is_empty() {
        return Outcome::error(PARAM_NOT_SET, "bk_module_id not set");
    }
    let cc = &state.inner.cc;
    let res = {
        let mut data = cc.write();
        // Validate everything first: the transfer is all or nothing.
        let mut plan = Vec::new();
        let mut err = None;
        for m in &modules {
            if data.topo.modules.get(m).map(|x| x.biz_id) != Some(biz) {
                err = Some(format!("module {m} is not in business {biz}"));
            }
        }
        for h in &hosts {
            match data.topo.hosts.get(h) {
                None => err = Some(format!("host {h} not found")),
                Some(x) if x.biz != biz => err = Some(format!("host {h} is not in business {biz}")),
                Some(x) => {
                    let mut target = modules.clone();
                    if incr {
                        target.extend(x.modules.iter().copied().filter(|m| {
                            data.topo.modules.get(m).is_some_and(|mm| mm.default == 0)
                        }));
                    }
                    plan.push((*h, target));
                }
            }
        }
        if err.is_none() {
            let builtin_mixed = modules.len() > 1
                && modules
                    .iter()
                    .any(|m| data.topo.modules.get(m).is_some_and(|x| x.default != 0));
            if builtin_mixed {
                err = Some("built-in modules cannot be combined with other modules".into());
            }
        }
        match err {
            Some(e) => Err(e),
            None => {
                let mut r = Ok(());
                for (h, target) in plan {
                    if let Err(e) = data.place_host(h, target) {
                        r = Err(e);
                        break;
                    }
                }
                r
            }
        }
    };
    cc.notify();
    match res {
        Ok(()) => Outcome::Data(Value::Null),
        Err(e) => Outcome::error(INVALID_PARAMS, e),
    }
}

fn update_host(state: &State, p: &Value) -> Outcome {
    let ids_raw = match params::get(p, "bk_host_id") {
        Some(Value::Array(a)) => a.iter().filter_map(params::as_i64).collect::<Vec<_>>(),
        Some(v) => match params::as_string(v) {
            Some(s) => {
                let parsed: Result<Vec<i64>, _> = s
                    .split(',')
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .map(str::parse)
                    .collect();
                tryp!(parsed
                    .map_err(|_| ParamError::new("bk_host_id", "must be comma-separated ids")))
            }
            None => return invalid(ParamError::new("bk_host_id", "must be comma-separated ids")),
        },
        None => Vec::new(),
    };
    if ids_raw.is_empty() {
        return Outcome::error(PARAM_NOT_SET, "bk_host_id not set");
    }
    let data_map = tryp!(params::opt_object(p, "data")).unwrap_or_default();
    let updates: Vec<(i64, Map<String, Value>)> = ids_raw
        .into_iter()
        .map(|id| (id, data_map.clone()))
        .collect();
    apply_updates(state, updates)
}

fn batch_update_host(state: &State, p: &Value) -> Outcome {
    let list = tryp!(params::opt_array(p, "update")).unwrap_or_default();
    if list.is_empty() {
        return Outcome::error(PARAM_NOT_SET, "update not set");
    }
    if list.len() > 500 {
        return Outcome::error(PAGE_LIMIT_EXCEEDED, "update exceed the limit 500");
    }
    let mut updates = Vec::new();
    for (i, u) in list.iter().enumerate() {
        let id = tryp!(params::req_i64(u, "bk_host_id")
            .map_err(|e| ParamError::new(format!("update[{i}].{}", e.name), e.what)));
        let props = tryp!(params::opt_object(u, "properties")).unwrap_or_default();
        if props.contains_key("bk_cloud_id") {
            return invalid(ParamError::new(
                format!("update[{i}].properties.bk_cloud_id"),
                "cannot be updated",
            ));
        }
        updates.push((id, props));
    }
    apply_updates(state, updates)
}

fn apply_updates(state: &State, updates: Vec<(i64, Map<String, Value>)>) -> Outcome {
    let cc = &state.inner.cc;
    let res = {
        let mut data = cc.write();
        let missing = updates
            .iter()
            .find(|(id, _)| !data.topo.hosts.contains_key(id));
        match missing {
            Some((id, _)) => Err((NOT_FOUND, format!("host {id} not found"))),
            None => {
                let mut r = Ok(());
                for (id, m) in &updates {
                    if let Err(e) = data.update_host(*id, m) {
                        r = Err((INVALID_PARAMS, e));
                        break;
                    }
                }
                r
            }
        }
    };
    cc.notify();
    match res {
        Ok(()) => Outcome::Data(Value::Null),
        Err((c, e)) => Outcome::error(c, e),
    }
}

fn add_host_to_resource(state: &State, p: &Value) -> Outcome {
    let biz = tryp!(params::opt_i64(p, "bk_biz_id")).filter(|b| *b > 0);
    let info = tryp!(params::opt_object(p, "host_info")).unwrap_or_default();
    if info.is_empty() {
        return Outcome::error(PARAM_NOT_SET, "host_info not set");
    }
    let mut rows: Vec<(String, Map<String, Value>)> = info
        .into_iter()
        .map(|(k, v)| (k, v.as_object().cloned().unwrap_or_default()))
        .collect();
    rows.sort_by_key(|(k, _)| (k.parse::<u64>().unwrap_or(u64::MAX), k.clone()));
    let cc = &state.inner.cc;
    let mut success = Vec::new();
    let mut error = Vec::new();
    {
        let mut data = cc.write();
        if let Some(b) = biz {
            if !data.topo.bizs.contains_key(&b) {
                return Outcome::error(NOT_FOUND, format!("business {b} not found"));
            }
        }
        for (row, mut fields) in rows {
            let ip = fields
                .remove("bk_host_innerip")
                .and_then(|v| params::as_string(&v))
                .unwrap_or_default();
            let cloud = fields
                .remove("bk_cloud_id")
                .and_then(|v| params::as_i64(&v))
                .unwrap_or(0);
            let new = NewHost {
                innerip: ip,
                cloud_id: cloud,
                biz_id: biz,
                module_id: None,
                fields,
            };
            match data.add_host(&new) {
                Ok(_) => success.push(json!(row)),
                Err(e) => error.push(json!(format!("{row}: {e}"))),
            }
        }
    }
    cc.notify();
    if success.is_empty() {
        return Outcome::error(
            INVALID_PARAMS,
            format!("no host added: {}", Value::Array(error)),
        );
    }
    let mut out = json!({"success": success});
    if !error.is_empty() {
        out["error"] = Value::Array(error);
    }
    Outcome::Data(out)
}

fn get_biz_internal_module(state: &State, p: &Value) -> Outcome {
    let biz = tryp!(params::req_i64(p, "bk_biz_id"));
    let data = state.inner.cc.read();
    let t = &data.topo;
    let Some(set) = t.sets.values().find(|s| s.biz_id == biz && s.default == 1) else {
        return Outcome::error(NOT_FOUND, format!("business {biz} not found"));
    };
    let modules: Vec<Value> = t
        .modules
        .values()
        .filter(|m| m.set_id == set.id)
        .map(|m| {
            json!({
                "bk_module_id": m.id,
                "bk_module_name": m.name,
                "default": m.default,
                "host_apply_enabled": false,
            })
        })
        .collect();
    Outcome::Data(json!({"bk_set_id": set.id, "bk_set_name": set.name, "module": modules}))
}

/// Runs `plan` (validation and placement) under the write lock, then wakes watchers.
fn transfer(
    state: &State,
    plan: impl FnOnce(&CcData) -> Result<Vec<(i64, Vec<i64>)>, String>,
) -> Outcome {
    let cc = &state.inner.cc;
    let res = {
        let mut data = cc.write();
        match plan(&data) {
            Err(e) => Err(e),
            Ok(moves) => moves
                .into_iter()
                .try_for_each(|(h, mods)| data.place_host(h, mods)),
        }
    };
    cc.notify();
    match res {
        Ok(()) => Outcome::Data(Value::Null),
        Err(e) => Outcome::error(INVALID_PARAMS, e),
    }
}

fn hosts_in(d: &CcData, biz: i64, hosts: &[i64]) -> Result<(), String> {
    if hosts.is_empty() {
        return Err("bk_host_id is empty".into());
    }
    for h in hosts {
        match d.topo.hosts.get(h) {
            None => return Err(format!("host {h} not found")),
            Some(x) if x.biz != biz => return Err(format!("host {h} is not in business {biz}")),
            _ => {}
        }
    }
    Ok(())
}

fn transfer_to_builtin(state: &State, p: &Value, kind: i64) -> Outcome {
    let biz = tryp!(params::req_i64(p, "bk_biz_id"));
    let hosts = tryp!(params::opt_i64_list(p, "bk_host_id")).unwrap_or_default();
    transfer(state, |d| {
        hosts_in(d, biz, &hosts)?;
        let m = d
            .topo
            .builtin_module(biz, kind)
            .ok_or_else(|| format!("business {biz} not found"))?;
        Ok(hosts.iter().map(|h| (*h, vec![m])).collect())
    })
}

fn transfer_to_resource(state: &State, p: &Value) -> Outcome {
    let biz = tryp!(params::req_i64(p, "bk_biz_id"));
    let hosts = tryp!(params::opt_i64_list(p, "bk_host_id")).unwrap_or_default();
    let module = tryp!(params::opt_i64(p, "bk_module_id"));
    transfer(state, |d| {
        if biz == RESOURCE_POOL_BIZ {
            return Err("the hosts are already in the resource pool".into());
        }
        hosts_in(d, biz, &hosts)?;
        let m = match module {
            Some(m) if d.topo.modules.get(&m).map(|x| x.biz_id) == Some(RESOURCE_POOL_BIZ) => m,
            Some(m) => return Err(format!("module {m} is not a resource pool directory")),
            None => d
                .topo
                .builtin_module(RESOURCE_POOL_BIZ, 1)
                .ok_or("the resource pool has no idle directory")?,
        };
        Ok(hosts.iter().map(|h| (*h, vec![m])).collect())
    })
}

fn transfer_across_biz(state: &State, p: &Value) -> Outcome {
    let src = tryp!(params::req_i64(p, "src_bk_biz_id"));
    let dst = tryp!(params::req_i64(p, "dst_bk_biz_id"));
    let hosts = tryp!(params::opt_i64_list(p, "bk_host_id")).unwrap_or_default();
    let module = tryp!(params::req_i64(p, "bk_module_id"));
    if hosts.len() > 500 {
        return Outcome::error(PAGE_LIMIT_EXCEEDED, "bk_host_id exceed the limit 500");
    }
    transfer(state, |d| {
        hosts_in(d, src, &hosts)?;
        match d.topo.modules.get(&module) {
            Some(m) if m.biz_id == dst && m.default != 0 => {}
            _ => {
                return Err(format!(
                    "module {module} is not a built-in module of business {dst}"
                ))
            }
        }
        Ok(hosts.iter().map(|h| (*h, vec![module])).collect())
    })
}

fn delete_hosts(state: &State, p: &Value) -> Outcome {
    let raw = tryp!(params::req_str(p, "bk_host_id"));
    let ids: Result<Vec<i64>, _> = raw
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::parse)
        .collect();
    let ids = tryp!(ids.map_err(|_| ParamError::new("bk_host_id", "must be comma-separated ids")));
    if ids.is_empty() {
        return Outcome::error(PARAM_NOT_SET, "bk_host_id not set");
    }
    let cc = &state.inner.cc;
    let res = {
        let mut data = cc.write();
        match hosts_in(&data, RESOURCE_POOL_BIZ, &ids) {
            Err(e) => Err(format!("{e}; only resource pool hosts can be deleted")),
            Ok(()) => ids.iter().try_for_each(|h| data.delete_host(*h)),
        }
    };
    cc.notify();
    match res {
        Ok(()) => Outcome::Data(Value::Null),
        Err(e) => Outcome::error(INVALID_PARAMS, e),
    }
}

// ---- test hooks ------------------------------------------------------------------------

impl State {
    fn cc_change<T>(&self, f: impl FnOnce(&mut CcData) -> Result<T, String>) -> Result<T, String> {
        let r = {
            let mut data = self.inner.cc.write();
            f(&mut data)
        };
        self.inner.cc.notify();
        r
    }

    /// Moves a host into exactly one module (of any business), like a transfer; emits
    /// host_relation events.
    pub fn move_host(&self, host_id: i64, module_id: i64) -> Result<(), String> {
        self.cc_change(|d| d.place_host(host_id, vec![module_id]))
    }

    /// Places a host into several modules of one business; emits host_relation events.
    pub fn place_host(&self, host_id: i64, module_ids: Vec<i64>) -> Result<(), String> {
        self.cc_change(|d| d.place_host(host_id, module_ids))
    }

    /// Sets one host attribute (built-in or user-defined); emits a host update event.
    pub fn update_host_field(&self, host_id: i64, field: &str, value: Value) -> Result<(), String> {
        let mut m = Map::new();
        m.insert(field.to_string(), value);
        self.cc_change(|d| d.update_host(host_id, &m))
    }

    /// Adds a host; emits host create and host_relation create events. Returns its id.
    pub fn add_host(&self, host: NewHost) -> Result<i64, String> {
        self.cc_change(|d| d.add_host(&host))
    }

    /// Deletes a host; emits host_relation delete and host delete events.
    pub fn delete_host(&self, host_id: i64) -> Result<(), String> {
        self.cc_change(|d| d.delete_host(host_id))
    }

    /// Creates a business with the built-in idle set and modules; emits biz, set and
    /// module create events. Returns its id.
    pub fn create_business(&self, name: &str) -> i64 {
        self.cc_change(|d| {
            let now = now_ms();
            let t = &mut d.topo;
            let id = t.next_biz;
            t.next_biz += 1;
            t.bizs.insert(
                id,
                super::topo::Biz {
                    id,
                    name: name.to_string(),
                    default: 0,
                    maintainer: t.admin.clone(),
                    create_ms: now,
                    last_ms: now,
                },
            );
            let bj = Value::Object(t.biz_json(&t.bizs[&id]));
            d.events.push("biz", EventType::Create, bj);
            let s = d.topo.add_set_raw(id, super::topo::IDLE_SET_NAME, 1);
            let sj = Value::Object(d.topo.set_json(&d.topo.sets[&s]));
            d.events.push("set", EventType::Create, sj);
            for (name, def) in [
                (super::topo::IDLE_MODULE_NAME, 1),
                (super::topo::FAULT_MODULE_NAME, 2),
                (super::topo::RECYCLE_MODULE_NAME, 3),
            ] {
                let m = d.topo.add_module_raw(s, name, def);
                let mj = Value::Object(d.topo.module_json(&d.topo.modules[&m]));
                d.events.push("module", EventType::Create, mj);
            }
            Ok(id)
        })
        .unwrap_or(0)
    }

    /// Creates a set in a business; emits a set create event.
    pub fn create_set(&self, biz_id: i64, name: &str) -> Result<i64, String> {
        self.cc_change(|d| {
            if !d.topo.bizs.contains_key(&biz_id) {
                return Err(format!("business {biz_id} not found"));
            }
            let s = d.topo.add_set_raw(biz_id, name, 0);
            let sj = Value::Object(d.topo.set_json(&d.topo.sets[&s]));
            d.events.push("set", EventType::Create, sj);
            Ok(s)
        })
    }

    /// Creates a module in a set; emits a module create event.
    pub fn create_module(&self, set_id: i64, name: &str) -> Result<i64, String> {
        self.cc_change(|d| {
            if !d.topo.sets.contains_key(&set_id) {
                return Err(format!("set {set_id} not found"));
            }
            let m = d.topo.add_module_raw(set_id, name, 0);
            let mj = Value::Object(d.topo.module_json(&d.topo.modules[&m]));
            d.events.push("module", EventType::Create, mj);
            Ok(m)
        })
    }

    /// Renames a set, business or module (`kind` = `set`, `biz`, `module`); emits an update
    /// event.
    pub fn rename(&self, kind: &str, id: i64, name: &str) -> Result<(), String> {
        self.cc_change(|d| {
            let now = now_ms();
            let t = &mut d.topo;
            let (res, detail) = match kind {
                "biz" => {
                    let b = t.bizs.get_mut(&id).ok_or("business not found")?;
                    b.name = name.to_string();
                    b.last_ms = now;
                    ("biz", Value::Object(t.biz_json(&t.bizs[&id])))
                }
                "set" => {
                    let s = t.sets.get_mut(&id).ok_or("set not found")?;
                    s.name = name.to_string();
                    s.last_ms = now;
                    ("set", Value::Object(t.set_json(&t.sets[&id])))
                }
                "module" => {
                    let m = t.modules.get_mut(&id).ok_or("module not found")?;
                    m.name = name.to_string();
                    m.last_ms = now;
                    ("module", Value::Object(t.module_json(&t.modules[&id])))
                }
                _ => return Err(format!("unknown kind {kind}")),
            };
            d.events.push(res, EventType::Update, detail);
            Ok(())
        })
    }

    /// Deletes an empty module (no hosts); emits a module delete event.
    pub fn delete_module(&self, module_id: i64) -> Result<(), String> {
        self.cc_change(|d| {
            let m = d.topo.modules.get(&module_id).ok_or("module not found")?;
            if m.default != 0 {
                return Err("built-in modules cannot be deleted".into());
            }
            if d.topo
                .hosts
                .values()
                .any(|h| h.modules.contains(&module_id))
            {
                return Err("module still holds hosts".into());
            }
            let mj = Value::Object(d.topo.module_json(m));
            d.topo.modules.remove(&module_id);
            d.events.push("module", EventType::Delete, mj);
            Ok(())
        })
    }

    /// Deletes an ordinary set whose modules hold no hosts; emits module and set delete events.
    pub fn delete_set(&self, set_id: i64) -> Result<(), String> {
        self.cc_change(|d| {
            let s = d.topo.sets.get(&set_id).ok_or("set not found")?;
            if s.default != 0 {
                return Err("built-in sets cannot be deleted".into());
            }
            let mods: Vec<i64> = d
                .topo
                .modules
                .values()
                .filter(|m| m.set_id == set_id)
                .map(|m| m.id)
                .collect();
            if d.topo
                .hosts
                .values()
                .any(|h| h.modules.iter().any(|m| mods.contains(m)))
            {
                return Err("set still holds hosts".into());
            }
            let sj = Value::Object(d.topo.set_json(s));
            for m in mods {
                if let Some(mm) = d.topo.modules.remove(&m) {
                    let mj = Value::Object(d.topo.module_json(&mm));
                    d.events.push("module", EventType::Delete, mj);
                }
            }
            d.topo.sets.remove(&set_id);
            d.events.push("set", EventType::Delete, sj);
            Ok(())
        })
    }

    /// Every host with all attributes and placement, sorted by `bk_host_id`: the truth a
    /// client's mirror is compared with.
    pub fn snapshot_hosts(&self) -> Vec<HostSnapshot> {
        let data = self.inner.cc.read();
        let t = &data.topo;
        t.hosts
            .values()
            .map(|h| {
                let mut sets: Vec<i64> = h
                    .modules
                    .iter()
                    .filter_map(|m| t.modules.get(m).map(|x| x.set_id))
                    .collect();
                sets.sort_unstable();
                sets.dedup();
                HostSnapshot {
                    bk_host_id: h.id,
                    host: t.host_json(h, &[]),
                    bk_biz_id: h.biz,
                    bk_set_ids: sets,
                    bk_module_ids: h.modules.clone(),
                }
            })
            .collect()
    }

    /// One host's snapshot.
    pub fn host(&self, host_id: i64) -> Option<HostSnapshot> {
        let data = self.inner.cc.read();
        let t = &data.topo;
        let h = t.hosts.get(&host_id)?;
        let mut sets: Vec<i64> = h
            .modules
            .iter()
            .filter_map(|m| t.modules.get(m).map(|x| x.set_id))
            .collect();
        sets.sort_unstable();
        sets.dedup();
        Some(HostSnapshot {
            bk_host_id: h.id,
            host: t.host_json(h, &[]),
            bk_biz_id: h.biz,
            bk_set_ids: sets,
            bk_module_ids: h.modules.clone(),
        })
    }

    /// Number of hosts.
    pub fn host_count(&self) -> usize {
        self.inner.cc.read().topo.hosts.len()
    }

    /// Ids of the hosts of a business, ascending.
    pub fn biz_host_ids(&self, biz_id: i64) -> Vec<i64> {
        let data = self.inner.cc.read();
        data.topo
            .hosts
            .values()
            .filter(|h| h.biz == biz_id)
            .map(|h| h.id)
            .collect()
    }

    /// Business ids, ascending.
    pub fn biz_ids(&self) -> Vec<i64> {
        self.inner.cc.read().topo.bizs.keys().copied().collect()
    }

    /// Modules of a business as `(module id, set id, name, default)`, by id.
    pub fn modules_of(&self, biz_id: i64) -> Vec<(i64, i64, String, i64)> {
        let data = self.inner.cc.read();
        data.topo
            .modules
            .values()
            .filter(|m| m.biz_id == biz_id)
            .map(|m| (m.id, m.set_id, m.name.clone(), m.default))
            .collect()
    }

    /// Expires every `resource_watch` event and cursor (as if 3 hours had passed): the next
    /// watch with an old cursor gets 1103007.
    pub fn expire_cursors(&self) {
        self.inner.cc.write().events.expire_all();
        self.inner.cc.notify();
    }

    /// Number of stored `resource_watch` events.
    pub fn event_count(&self) -> usize {
        self.inner.cc.read().events.len()
    }

    /// How long generating the topology took.
    pub fn topology_build_time(&self) -> std::time::Duration {
        self.inner.cc.build_time
    }

    /// Rough heap size of the topology, bytes.
    pub fn topology_bytes(&self) -> usize {
        self.inner.cc.read().topo.approx_bytes()
    }
}
