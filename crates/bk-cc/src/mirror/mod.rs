//! A local mirror of the CMDB topology, kept current by `resource_watch`.
//!
//! [`Mirror::open`] loads what its [`Store`] kept from the last run, or makes a full sync:
//! the mainline model (`get_mainline_object_topo`), each business's instance topology
//! (`search_biz_inst_topo` with `level: -1`, plus the idle set from
//! `get_biz_internal_module`) and every host with its placement (`list_biz_hosts_topo`,
//! paged in parallel). [`Mirror::watch_once`] / [`Mirror::run`] then follow the event
//! streams of `host`, `host_relation`, `biz`, `set` and `module`, applying each resource's
//! events in cursor order and storing every batch together with the cursor that follows it,
//! so a restart resumes where it stopped. A cursor CMDB no longer knows (1103007, events
//! live about 3 hours) makes a full resync, and watching resumes from the time the resync
//! began (events in between are applied again: every rule is idempotent).
//!
//! Reads go through [`Mirror::snapshot`]: an `Arc<Topology>` that never changes under the
//! reader. Updates build the next snapshot (copying the model only when a reader still
//! holds the previous one) and swap it in.
//!
//! ```no_run
//! use bk_cc::mirror::{Mirror, MirrorConfig, SqliteStore};
//!
//! # async fn demo(client: bk_runtime::Client) -> Result<(), bk_cc::mirror::MirrorError> {
//! let store = SqliteStore::open("cmdb-mirror.db")?;
//! let mirror = Mirror::open(&client, store, MirrorConfig::default()).await?;
//! let topo = mirror.snapshot();
//! for h in topo.hosts_by_ip(0, "10.0.0.1") {
//!     println!("{} is in modules {:?}", h.bk_host_id, h.modules);
//! }
//! let mirror = std::sync::Arc::new(mirror);
//! let watcher = mirror.clone();
//! tokio::spawn(async move { watcher.run().await });
//! # Ok(()) }
//! ```

pub mod model;
pub mod store;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::{StreamExt as _, TryStreamExt as _};
use serde_json::{json, Map, Value};

pub use model::{Biz, Changes, Host, MirrorScope, Module, Set, Topology};
pub use store::{MemoryStore, Positions, SqliteStore, Store, StoreError, WatchPos};

use crate::operations;
use bk_runtime::pagination::{PageData, Paginator};

/// The resources a mirror watches, in the order a round polls them.
pub const RESOURCES: [&str; 5] = ["biz", "set", "module", "host", "host_relation"];

/// CMDB's code for an expired or unknown watch cursor.
pub const CURSOR_EXPIRED: i64 = 1103007;

/// Host attributes requested in `host` watch events unless configured: CMDB requires a
/// list, and only these attributes are kept current by updates.
pub const DEFAULT_HOST_FIELDS: &[&str] = &[
    "bk_host_id",
    "bk_host_innerip",
    "bk_host_outerip",
    "bk_host_innerip_v6",
    "bk_cloud_id",
    "bk_host_name",
    "bk_os_type",
    "bk_os_name",
    "bk_os_version",
    "operator",
    "bk_bak_operator",
    "bk_agent_id",
    "bk_comment",
    "bk_state",
];

/// Mirror settings.
#[derive(Debug, Clone)]
pub struct MirrorConfig {
    /// Which businesses (default: all).
    pub scope: MirrorScope,
    /// Host attributes kept current by `host` update events (default
    /// [`DEFAULT_HOST_FIELDS`]); a full sync reads every attribute.
    pub host_fields: Vec<String>,
    /// Pages of hosts read at a time during a full sync (default 4).
    pub page_concurrency: usize,
    /// Businesses synced at a time during a full sync (default 4).
    pub biz_concurrency: usize,
    /// Pause after a failed watch round in [`Mirror::run`] (default 1 s).
    pub retry_delay: Duration,
}

impl Default for MirrorConfig {
    fn default() -> Self {
        MirrorConfig {
            scope: MirrorScope::All,
            host_fields: DEFAULT_HOST_FIELDS.iter().map(|s| s.to_string()).collect(),
            page_concurrency: 4,
            biz_concurrency: 4,
            retry_delay: Duration::from_secs(1),
        }
    }
}

/// Why a mirror operation failed.
#[derive(Debug)]
pub enum MirrorError {
    /// A CMDB call failed.
    Api(bk_runtime::Error),
    /// The store failed.
    Store(StoreError),
    /// CMDB answered something the mirror cannot use.
    Data(String),
}

impl std::fmt::Display for MirrorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MirrorError::Api(e) => write!(f, "{e}"),
            MirrorError::Store(e) => write!(f, "{e}"),
            MirrorError::Data(m) => write!(f, "unexpected CMDB data: {m}"),
        }
    }
}

impl std::error::Error for MirrorError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MirrorError::Api(e) => Some(e),
            MirrorError::Store(e) => Some(e),
            MirrorError::Data(_) => None,
        }
    }
}

impl From<bk_runtime::Error> for MirrorError {
    fn from(e: bk_runtime::Error) -> Self {
        MirrorError::Api(e)
    }
}

impl From<StoreError> for MirrorError {
    fn from(e: StoreError) -> Self {
        MirrorError::Store(e)
    }
}

/// Counters of a mirror.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MirrorStats {
    /// Full syncs made (the first one included, unless the store had a topology).
    pub full_syncs: u64,
    /// Full syncs caused by an expired cursor.
    pub resyncs: u64,
    /// Watch events applied.
    pub events: u64,
    /// Hosts read one by one because they entered the scope.
    pub fetched_hosts: u64,
}

/// What a full sync did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncReport {
    /// Businesses.
    pub bizs: usize,
    /// Sets.
    pub sets: usize,
    /// Modules.
    pub modules: usize,
    /// Hosts.
    pub hosts: usize,
    /// How long it took.
    pub elapsed: Duration,
}

/// A CMDB topology mirror; see the [module docs](self).
pub struct Mirror {
    client: bk_runtime::Client,
    store: Box<dyn Store>,
    cfg: MirrorConfig,
    current: RwLock<Arc<Topology>>,
    positions: Mutex<Positions>,
    /// Serialises writers (event batches and syncs).
    write: tokio::sync::Mutex<()>,
    full_syncs: AtomicU64,
    resyncs: AtomicU64,
    events: AtomicU64,
    fetched: AtomicU64,
}

impl std::fmt::Debug for Mirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mirror")
            .field("scope", &self.cfg.scope)
            .field("hosts", &self.snapshot().host_count())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn data_err(what: impl Into<String>) -> MirrorError {
    MirrorError::Data(what.into())
}

fn obj(v: &Value) -> Option<&Map<String, Value>> {
    v.as_object()
}

fn int(v: &Value, k: &str) -> Option<i64> {
    v.get(k).and_then(model::as_i64)
}

fn string(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Splits a raw `list_biz_hosts_topo` / `search_business` page (`{count, info}`).
fn split_info(v: Value) -> PageData<Value> {
    let total = int(&v, "count");
    let items = match v {
        Value::Object(mut m) => match m.remove("info") {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    PageData::new(items, total)
}

/// A host of `list_biz_hosts_topo`: `{host: {...}, topo: [{bk_set_id, module: [...]}]}`.
fn host_of(biz: i64, row: Value) -> Option<Host> {
    let attrs = obj(row.get("host")?)?.clone();
    let id = attrs.get("bk_host_id").and_then(model::as_i64)?;
    let mut modules = BTreeSet::new();
    for set in row
        .get("topo")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for m in set
            .get("module")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(mid) = int(m, "bk_module_id") {
                modules.insert(mid);
            }
        }
    }
    Some(Host {
        bk_host_id: id,
        bk_biz_id: biz,
        modules,
        attrs,
    })
}

/// Walks a `search_biz_inst_topo` tree: sets hang under the business or a custom level,
/// modules under sets.
fn walk_tree(biz: i64, node: &Value, parent: i64, sets: &mut Vec<Set>, modules: &mut Vec<Module>) {
    let id = int(node, "bk_inst_id").unwrap_or(0);
    let kind = node.get("bk_obj_id").and_then(Value::as_str).unwrap_or("");
    match kind {
        "set" => sets.push(Set {
            bk_set_id: id,
            bk_set_name: string(node, "bk_inst_name"),
            bk_biz_id: biz,
            bk_parent_id: parent,
            default: int(node, "default").unwrap_or(0),
        }),
        "module" => modules.push(Module {
            bk_module_id: id,
            bk_module_name: string(node, "bk_inst_name"),
            bk_set_id: parent,
            bk_biz_id: biz,
            default: int(node, "default").unwrap_or(0),
        }),
        _ => {}
    }
    for c in node
        .get("child")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        walk_tree(biz, c, id, sets, modules);
    }
}

/// One business's part of a full sync.
struct BizPart {
    sets: Vec<Set>,
    modules: Vec<Module>,
    hosts: Vec<Host>,
}

impl Mirror {
    /// Opens a mirror: loads the store's topology and positions, or makes a full sync when
    /// the store is empty.
    pub async fn open(
        client: &bk_runtime::Client,
        store: impl Store + 'static,
        cfg: MirrorConfig,
    ) -> Result<Mirror, MirrorError> {
        let loaded = store.load()?;
        let m = Mirror {
            client: client.clone(),
            store: Box::new(store),
            cfg,
            current: RwLock::new(Arc::new(Topology::default())),
            positions: Mutex::new(Positions::new()),
            write: tokio::sync::Mutex::new(()),
            full_syncs: AtomicU64::new(0),
            resyncs: AtomicU64::new(0),
            events: AtomicU64::new(0),
            fetched: AtomicU64::new(0),
        };
        match loaded {
            Some((topo, pos)) if RESOURCES.iter().all(|r| pos.contains_key(*r)) => {
                *m.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(topo);
                *m.lock_pos() = pos;
            }
            _ => {
                m.full_sync().await?;
            }
        }
        Ok(m)
    }

    fn lock_pos(&self) -> std::sync::MutexGuard<'_, Positions> {
        self.positions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current topology: a consistent view that later updates do not change.
    pub fn snapshot(&self) -> Arc<Topology> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Where each resource's watch resumes.
    pub fn positions(&self) -> Positions {
        self.lock_pos().clone()
    }

    /// The counters.
    pub fn stats(&self) -> MirrorStats {
        MirrorStats {
            full_syncs: self.full_syncs.load(Ordering::Relaxed),
            resyncs: self.resyncs.load(Ordering::Relaxed),
            events: self.events.load(Ordering::Relaxed),
            fetched_hosts: self.fetched.load(Ordering::Relaxed),
        }
    }

    /// Reads the whole topology again and replaces the mirror's (and the store's) with it;
    /// watching resumes from the time this began.
    pub async fn full_sync(&self) -> Result<SyncReport, MirrorError> {
        let _w = self.write.lock().await;
        let started = Instant::now();
        // One second of overlap: events at the boundary are applied again, never lost.
        let from = now_s() - 1;
        let mainline: Value = self
            .client
            .send(&operations::get_mainline_object_topo::META, &json!({}))
            .await?;
        let mainline: Vec<String> = mainline
            .as_array()
            .ok_or_else(|| data_err("get_mainline_object_topo is not a list"))?
            .iter()
            .map(|o| string(o, "bk_obj_id"))
            .collect();
        let bizs: Vec<Value> = Paginator::new(
            self.client.clone(),
            &operations::search_business::META,
            &operations::search_business::PAGINATION,
            &json!({"fields": ["bk_biz_id", "bk_biz_name", "default"]}),
            split_info,
        )
        .all()
        .await?;
        let bizs: Vec<Biz> = bizs
            .iter()
            .filter_map(|b| {
                Some(Biz {
                    bk_biz_id: int(b, "bk_biz_id")?,
                    bk_biz_name: string(b, "bk_biz_name"),
                    default: int(b, "default").unwrap_or(0),
                })
            })
            .filter(|b| self.cfg.scope.contains(b.bk_biz_id))
            .collect();
        let ids: Vec<i64> = bizs.iter().map(|b| b.bk_biz_id).collect();
        let parts: Vec<BizPart> = futures::stream::iter(ids)
            .map(|id| self.sync_biz(id))
            .buffered(self.cfg.biz_concurrency.max(1))
            .try_collect()
            .await?;
        let (mut sets, mut modules, mut hosts) = (Vec::new(), Vec::new(), Vec::new());
        for p in parts {
            sets.extend(p.sets);
            modules.extend(p.modules);
            hosts.extend(p.hosts);
        }
        let topo = Topology::from_parts(mainline, bizs, sets, modules, hosts);
        let pos: Positions = RESOURCES
            .iter()
            .map(|r| (r.to_string(), WatchPos::From(from)))
            .collect();
        self.store.replace_all(&topo, &pos)?;
        let report = SyncReport {
            bizs: topo.bizs.len(),
            sets: topo.sets.len(),
            modules: topo.modules.len(),
            hosts: topo.hosts.len(),
            elapsed: started.elapsed(),
        };
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(topo);
        *self.lock_pos() = pos;
        self.full_syncs.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(?report, "cmdb mirror: full sync");
        Ok(report)
    }

    async fn sync_biz(&self, biz: i64) -> Result<BizPart, MirrorError> {
        let tree: Value = self
            .client
            .send(
                &operations::search_biz_inst_topo::META,
                &json!({"bk_biz_id": biz, "level": -1}),
            )
            .await?;
        let (mut sets, mut modules) = (Vec::new(), Vec::new());
        for root in tree.as_array().into_iter().flatten() {
            walk_tree(biz, root, biz, &mut sets, &mut modules);
        }
        // The idle pool set is not in the instance tree.
        let idle: Value = self
            .client
            .send(
                &operations::get_biz_internal_module::META,
                &json!({"bk_biz_id": biz}),
            )
            .await?;
        if let Some(set_id) = int(&idle, "bk_set_id") {
            if !sets.iter().any(|s| s.bk_set_id == set_id) {
                sets.push(Set {
                    bk_set_id: set_id,
                    bk_set_name: string(&idle, "bk_set_name"),
                    bk_biz_id: biz,
                    bk_parent_id: biz,
                    default: 1,
                });
            }
            for m in idle
                .get("module")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(id) = int(m, "bk_module_id") {
                    if !modules.iter().any(|x| x.bk_module_id == id) {
                        modules.push(Module {
                            bk_module_id: id,
                            bk_module_name: string(m, "bk_module_name"),
                            bk_set_id: set_id,
                            bk_biz_id: biz,
                            default: int(m, "default").unwrap_or(0),
                        });
                    }
                }
            }
        }
        let hosts = self.read_hosts(biz, None).await?;
        Ok(BizPart {
            sets,
            modules,
            hosts,
        })
    }

    /// Every host of `biz` (or only `ids`) with its placement, pages read in parallel.
    async fn read_hosts(&self, biz: i64, ids: Option<&[i64]>) -> Result<Vec<Host>, MirrorError> {
        let mut req = json!({"bk_biz_id": biz, "fields": [], "page": {"start": 0}});
        if let Some(ids) = ids {
            req["host_property_filter"] = json!({
                "condition": "AND",
                "rules": [{"field": "bk_host_id", "operator": "in", "value": ids}],
            });
        }
        let rows: Vec<Value> = Paginator::new(
            self.client.clone(),
            &operations::list_biz_hosts_topo::META,
            &operations::list_biz_hosts_topo::PAGINATION,
            &req,
            split_info,
        )
        .concurrency(self.cfg.page_concurrency)
        .all()
        .await?;
        Ok(rows.into_iter().filter_map(|r| host_of(biz, r)).collect())
    }

    /// One watch round: polls every resource (concurrently, each a long poll) and applies
    /// what came back. Returns the number of events applied. An expired cursor makes a full
    /// resync (counted in [`MirrorStats::resyncs`]) and the round ends there.
    pub async fn watch_once(&self) -> Result<usize, MirrorError> {
        let positions = self.positions();
        let mut polls = Vec::with_capacity(RESOURCES.len());
        for r in RESOURCES {
            let pos = positions
                .get(r)
                .cloned()
                .unwrap_or_else(|| WatchPos::From(now_s()));
            polls.push(self.poll(r, pos));
        }
        let results = futures::future::join_all(polls).await;
        let mut applied = 0;
        let mut expired = false;
        for r in results {
            match r {
                Ok(n) => applied += n,
                Err(MirrorError::Api(e)) if e.code() == Some(CURSOR_EXPIRED) => expired = true,
                Err(e) => return Err(e),
            }
        }
        if expired {
            tracing::info!("cmdb mirror: watch cursor expired, full resync");
            self.resyncs.fetch_add(1, Ordering::Relaxed);
            self.full_sync().await?;
        }
        Ok(applied)
    }

    /// Rounds of [`Mirror::watch_once`] until one applies nothing (the mirror has caught up
    /// with everything that happened before that round's long polls ended).
    pub async fn catch_up(&self) -> Result<usize, MirrorError> {
        let mut total = 0;
        loop {
            let n = self.watch_once().await?;
            total += n;
            if n == 0 {
                return Ok(total);
            }
        }
    }

    /// Watches forever. Each resource is followed by its own chain of long polls, so a
    /// change is applied as soon as CMDB reports it, whatever the other resources do (a
    /// [`Mirror::watch_once`] round waits for its slowest, quiet resource: up to 20 s).
    /// Failed polls are logged and retried after [`MirrorConfig::retry_delay`]; an expired
    /// cursor makes one full resync, after which every resource resumes from its new point.
    pub async fn run(&self) {
        let followers = RESOURCES.iter().map(|r| self.follow(r));
        futures::future::join_all(followers).await;
    }

    /// Follows one resource forever (see [`Mirror::run`]).
    async fn follow(&self, resource: &'static str) {
        loop {
            let pos = self
                .positions()
                .get(resource)
                .cloned()
                .unwrap_or_else(|| WatchPos::From(now_s()));
            match self.poll(resource, pos.clone()).await {
                Ok(0) if self.positions().get(resource) == Some(&pos) => {
                    // An answer without a cursor: do not spin on a server that does not
                    // hold the request.
                    tokio::time::sleep(self.cfg.retry_delay.min(Duration::from_secs(1))).await;
                }
                Ok(_) => {}
                Err(MirrorError::Api(e)) if e.code() == Some(CURSOR_EXPIRED) => {
                    // Another resource may have hit the expiry first and resynced already:
                    // then this one's position has moved and it just goes on from there.
                    if self.positions().get(resource) == Some(&pos) {
                        tracing::info!(resource, "cmdb mirror: watch cursor expired, full resync");
                        self.resyncs.fetch_add(1, Ordering::Relaxed);
                        if let Err(e) = self.full_sync().await {
                            tracing::warn!(error = %e, "cmdb mirror: resync failed");
                            tokio::time::sleep(self.cfg.retry_delay).await;
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(resource, error = %e, "cmdb mirror: watch poll failed");
                    tokio::time::sleep(self.cfg.retry_delay).await;
                }
            }
        }
    }

    /// Polls one resource once and applies its events.
    async fn poll(&self, resource: &'static str, pos: WatchPos) -> Result<usize, MirrorError> {
        match self.fetch(resource, &pos).await? {
            Some((events, next)) => self.apply(resource, &events, &next, pos).await,
            None => Ok(0),
        }
    }

    /// One `resource_watch` call (a long poll when nothing is new): the events to apply and
    /// the position after them; `None` when the answer carries no cursor. Has no effect on
    /// the mirror, so dropping it half way is harmless.
    async fn fetch(
        &self,
        resource: &'static str,
        pos: &WatchPos,
    ) -> Result<Option<(Vec<(String, Map<String, Value>)>, WatchPos)>, MirrorError> {
        let mut req = json!({"bk_resource": resource});
        match pos {
            WatchPos::Cursor(c) => req["bk_cursor"] = json!(c),
            WatchPos::From(t) => req["bk_start_from"] = json!(t),
        }
        if resource == "host" {
            let mut fields = self.cfg.host_fields.clone();
            if !fields.iter().any(|f| f == "bk_host_id") {
                fields.push("bk_host_id".into());
            }
            req["bk_fields"] = json!(fields);
        }
        let data: Value = self
            .client
            .send(&operations::resource_watch::META, &req)
            .await?;
        let events = data
            .get("bk_events")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let watched = data
            .get("bk_watched")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let Some(last) = events
            .iter()
            .rev()
            .find_map(|e| e.get("bk_cursor").and_then(Value::as_str))
        else {
            return Ok(None);
        };
        let next = WatchPos::Cursor(last.to_string());
        let evs: Vec<(String, Map<String, Value>)> = if watched {
            events
                .iter()
                .filter_map(|e| {
                    let t = e.get("bk_event_type")?.as_str()?.to_string();
                    let d = e.get("bk_detail")?.as_object()?.clone();
                    Some((t, d))
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(Some((evs, next)))
    }

    /// Applies every event CMDB has right now, without waiting on quiet resources: each
    /// resource is polled until a poll brings nothing or no answer comes within `quiet`
    /// (CMDB answers at once when it has events and holds the request up to 20 s when it
    /// has none). For one-shot updates (`bk topo sync`); [`Mirror::run`] is for following.
    /// Returns the number of events applied. An expired cursor makes a full resync.
    pub async fn catch_up_now(&self, quiet: Duration) -> Result<usize, MirrorError> {
        let per_resource = RESOURCES.iter().map(|r| async move {
            let mut applied = 0usize;
            loop {
                let pos = self
                    .positions()
                    .get(*r)
                    .cloned()
                    .unwrap_or_else(|| WatchPos::From(now_s()));
                // Only the fetch is cut short; an answer that came is always applied whole.
                let fetched = match tokio::time::timeout(quiet, self.fetch(r, &pos)).await {
                    Err(_) => return Ok(applied),
                    Ok(f) => f?,
                };
                let Some((events, next)) = fetched else {
                    return Ok(applied);
                };
                let moved = next != pos;
                applied += self.apply(r, &events, &next, pos).await?;
                if events.is_empty() || !moved {
                    return Ok(applied);
                }
            }
        });
        let results = futures::future::join_all(per_resource).await;
        let mut applied = 0;
        let mut expired = false;
        for r in results {
            match r {
                Ok(n) => applied += n,
                Err(MirrorError::Api(e)) if e.code() == Some(CURSOR_EXPIRED) => expired = true,
                Err(e) => return Err(e),
            }
        }
        if expired {
            tracing::info!("cmdb mirror: watch cursor expired, full resync");
            self.resyncs.fetch_add(1, Ordering::Relaxed);
            self.full_sync().await?;
        }
        Ok(applied)
    }

    /// Applies a batch of one resource's events and stores it with the next position.
    async fn apply(
        &self,
        resource: &str,
        events: &[(String, Map<String, Value>)],
        next: &WatchPos,
        polled_from: WatchPos,
    ) -> Result<usize, MirrorError> {
        let _w = self.write.lock().await;
        // A full sync that ran while this poll was out has moved the position: drop the batch.
        if self.lock_pos().get(resource) != Some(&polled_from) {
            return Ok(0);
        }
        let mut changes = Changes::default();
        // Mutated in place under the lock (readers wait for the batch, never see half of
        // it); copied first only when a reader still holds the previous snapshot.
        {
            let mut g = self.current.write().unwrap_or_else(|e| e.into_inner());
            let t = Arc::make_mut(&mut g);
            for (kind, detail) in events {
                t.apply(&self.cfg.scope, resource, kind, detail, &mut changes);
            }
        }
        // Hosts that entered the scope from a business outside it: read them whole.
        let mut by_biz: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for (h, b) in std::mem::take(&mut changes.fetch) {
            by_biz.entry(b).or_default().push(h);
        }
        for (biz, ids) in by_biz {
            let hosts = self.read_hosts(biz, Some(&ids)).await?;
            self.fetched
                .fetch_add(hosts.len() as u64, Ordering::Relaxed);
            let mut g = self.current.write().unwrap_or_else(|e| e.into_inner());
            let t = Arc::make_mut(&mut g);
            for h in hosts {
                changes.hosts.insert(h.bk_host_id);
                t.put_host(h);
            }
        }
        let topo = self.snapshot();
        self.store.commit(&topo, &changes, resource, next)?;
        drop(topo);
        self.lock_pos().insert(resource.to_string(), next.clone());
        self.events
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        Ok(events.len())
    }
}
