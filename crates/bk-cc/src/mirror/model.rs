//! The in-memory topology model of the mirror and the rules that apply watch events to it.

use std::collections::{BTreeMap, BTreeSet};

use imbl::{HashMap as ImHashMap, OrdMap, OrdSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A business.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Biz {
    /// `bk_biz_id`.
    pub bk_biz_id: i64,
    /// `bk_biz_name`.
    pub bk_biz_name: String,
    /// 0 ordinary, 1 resource pool.
    pub default: i64,
}

/// A set (or, with custom mainline levels, the level right above modules).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Set {
    /// `bk_set_id`.
    pub bk_set_id: i64,
    /// `bk_set_name`.
    pub bk_set_name: String,
    /// Business.
    pub bk_biz_id: i64,
    /// Parent instance (the business, or a custom mainline level).
    pub bk_parent_id: i64,
    /// 0 ordinary, 1 the idle pool set.
    pub default: i64,
}

/// A module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Module {
    /// `bk_module_id`.
    pub bk_module_id: i64,
    /// `bk_module_name`.
    pub bk_module_name: String,
    /// Set.
    pub bk_set_id: i64,
    /// Business.
    pub bk_biz_id: i64,
    /// 0 ordinary, 1 idle, 2 fault, 3 recycle.
    pub default: i64,
}

/// A host with its attributes and placement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    /// `bk_host_id`.
    pub bk_host_id: i64,
    /// Business; -1 while a new host has no placement yet.
    pub bk_biz_id: i64,
    /// Modules holding the host.
    pub modules: BTreeSet<i64>,
    /// Every attribute CMDB sent (built-in and user-defined).
    pub attrs: Map<String, Value>,
}

impl Host {
    /// Cloud area id (`bk_cloud_id`), 0 when absent.
    pub fn cloud_id(&self) -> i64 {
        self.attrs.get("bk_cloud_id").and_then(as_i64).unwrap_or(0)
    }

    /// Inner IPs (`bk_host_innerip`, comma-separated in CMDB).
    pub fn inner_ips(&self) -> Vec<String> {
        match self.attrs.get("bk_host_innerip") {
            Some(Value::String(s)) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// A string attribute.
    pub fn attr_str(&self, key: &str) -> Option<&str> {
        self.attrs.get(key).and_then(Value::as_str)
    }
}

/// Which businesses a mirror holds.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum MirrorScope {
    /// Every business, including ones created later.
    #[default]
    All,
    /// These businesses.
    Bizs(BTreeSet<i64>),
}

impl MirrorScope {
    /// Whether the business belongs to the mirror.
    pub fn contains(&self, biz: i64) -> bool {
        match self {
            MirrorScope::All => true,
            MirrorScope::Bizs(s) => s.contains(&biz),
        }
    }
}

/// One consistent view of the mirrored topology. Immutable once handed out
/// ([`super::Mirror::snapshot`]); updates build the next one.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    /// Mainline object ids from top to bottom (`biz`, ..., `set`, `module`, `host`).
    pub mainline: Vec<String>,
    // Persistent maps: cloning a topology (a new snapshot while readers hold the old one,
    // a store keeping a copy) shares everything; a change copies one path of one tree.
    pub(crate) bizs: OrdMap<i64, Biz>,
    pub(crate) sets: OrdMap<i64, Set>,
    pub(crate) modules: OrdMap<i64, Module>,
    pub(crate) hosts: OrdMap<i64, Host>,
    by_ip: ImHashMap<(i64, String), BTreeSet<i64>>,
    by_module: OrdMap<i64, OrdSet<i64>>,
}

impl PartialEq for Topology {
    fn eq(&self, o: &Self) -> bool {
        // The indexes follow from the data.
        self.mainline == o.mainline
            && self.bizs == o.bizs
            && self.sets == o.sets
            && self.modules == o.modules
            && self.hosts == o.hosts
    }
}

impl Topology {
    /// Builds a topology from its parts (indexes included).
    pub fn from_parts(
        mainline: Vec<String>,
        bizs: impl IntoIterator<Item = Biz>,
        sets: impl IntoIterator<Item = Set>,
        modules: impl IntoIterator<Item = Module>,
        hosts: impl IntoIterator<Item = Host>,
    ) -> Topology {
        let mut t = Topology {
            mainline,
            bizs: bizs.into_iter().map(|b| (b.bk_biz_id, b)).collect(),
            sets: sets.into_iter().map(|s| (s.bk_set_id, s)).collect(),
            modules: modules.into_iter().map(|m| (m.bk_module_id, m)).collect(),
            ..Topology::default()
        };
        for h in hosts {
            t.put_host(h);
        }
        t
    }

    /// Number of hosts.
    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// Every business, by id.
    pub fn bizs(&self) -> impl Iterator<Item = &Biz> {
        self.bizs.values()
    }

    /// Every set, by id.
    pub fn sets(&self) -> impl Iterator<Item = &Set> {
        self.sets.values()
    }

    /// Every module, by id.
    pub fn modules(&self) -> impl Iterator<Item = &Module> {
        self.modules.values()
    }

    /// Every host, by id.
    pub fn hosts(&self) -> impl Iterator<Item = &Host> {
        self.hosts.values()
    }

    /// A business.
    pub fn biz(&self, id: i64) -> Option<&Biz> {
        self.bizs.get(&id)
    }

    /// A set.
    pub fn set(&self, id: i64) -> Option<&Set> {
        self.sets.get(&id)
    }

    /// A module.
    pub fn module(&self, id: i64) -> Option<&Module> {
        self.modules.get(&id)
    }

    /// A host by id.
    pub fn host(&self, id: i64) -> Option<&Host> {
        self.hosts.get(&id)
    }

    /// Hosts with this inner IP in this cloud area (usually one).
    pub fn hosts_by_ip(&self, bk_cloud_id: i64, ip: &str) -> Vec<&Host> {
        self.by_ip
            .get(&(bk_cloud_id, ip.to_string()))
            .into_iter()
            .flatten()
            .filter_map(|id| self.hosts.get(id))
            .collect()
    }

    /// Hosts in a module, by id.
    pub fn hosts_in_module(&self, module: i64) -> Vec<&Host> {
        self.by_module
            .get(&module)
            .into_iter()
            .flatten()
            .filter_map(|id| self.hosts.get(id))
            .collect()
    }

    /// Hosts in a set (any of its modules), by id.
    pub fn hosts_in_set(&self, set: i64) -> Vec<&Host> {
        let mut ids = BTreeSet::new();
        for m in self.modules.values().filter(|m| m.bk_set_id == set) {
            if let Some(h) = self.by_module.get(&m.bk_module_id) {
                ids.extend(h.iter().copied());
            }
        }
        ids.iter().filter_map(|id| self.hosts.get(id)).collect()
    }

    /// Hosts of a business, by id.
    pub fn hosts_in_biz(&self, biz: i64) -> Vec<&Host> {
        self.hosts.values().filter(|h| h.bk_biz_id == biz).collect()
    }

    /// Modules of a set, by id.
    pub fn modules_of_set(&self, set: i64) -> Vec<&Module> {
        self.modules
            .values()
            .filter(|m| m.bk_set_id == set)
            .collect()
    }

    /// Sets holding a host, ascending.
    pub fn sets_of_host(&self, host: i64) -> Vec<i64> {
        let mut s: Vec<i64> = self
            .hosts
            .get(&host)
            .into_iter()
            .flat_map(|h| h.modules.iter())
            .filter_map(|m| self.modules.get(m).map(|m| m.bk_set_id))
            .collect();
        s.sort_unstable();
        s.dedup();
        s
    }

    fn unindex(&mut self, h: &Host) {
        for ip in h.inner_ips() {
            let key = (h.cloud_id(), ip);
            if let Some(s) = self.by_ip.get_mut(&key) {
                s.remove(&h.bk_host_id);
                if s.is_empty() {
                    self.by_ip.remove(&key);
                }
            }
        }
        for m in &h.modules {
            if let Some(s) = self.by_module.get_mut(m) {
                s.remove(&h.bk_host_id);
                if s.is_empty() {
                    self.by_module.remove(m);
                }
            }
        }
    }

    fn index(&mut self, h: &Host) {
        for ip in h.inner_ips() {
            self.by_ip
                .entry((h.cloud_id(), ip))
                .or_default()
                .insert(h.bk_host_id);
        }
        for m in &h.modules {
            self.by_module.entry(*m).or_default().insert(h.bk_host_id);
        }
    }

    /// Inserts or replaces a host.
    pub(crate) fn put_host(&mut self, h: Host) {
        self.remove_host(h.bk_host_id);
        self.index(&h);
        self.hosts.insert(h.bk_host_id, h);
    }

    pub(crate) fn remove_host(&mut self, id: i64) -> Option<Host> {
        let old = self.hosts.remove(&id)?;
        self.unindex(&old);
        Some(old)
    }

    /// Applies one watch event. Returns what changed, for the store.
    pub(crate) fn apply(
        &mut self,
        scope: &MirrorScope,
        resource: &str,
        event_type: &str,
        detail: &Map<String, Value>,
        out: &mut Changes,
    ) {
        let del = event_type == "delete";
        let id = |k: &str| detail.get(k).and_then(as_i64);
        let name = |k: &str| {
            detail
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        match resource {
            "biz" => {
                let Some(biz) = id("bk_biz_id") else { return };
                if del {
                    if self.bizs.remove(&biz).is_some() {
                        out.bizs.insert(biz);
                    }
                } else if scope.contains(biz) {
                    self.bizs.insert(
                        biz,
                        Biz {
                            bk_biz_id: biz,
                            bk_biz_name: name("bk_biz_name"),
                            default: id("default").unwrap_or(0),
                        },
                    );
                    out.bizs.insert(biz);
                }
            }
            "set" => {
                let (Some(set), Some(biz)) = (id("bk_set_id"), id("bk_biz_id")) else {
                    return;
                };
                if del {
                    if self.sets.remove(&set).is_some() {
                        out.sets.insert(set);
                    }
                } else if scope.contains(biz) {
                    self.sets.insert(
                        set,
                        Set {
                            bk_set_id: set,
                            bk_set_name: name("bk_set_name"),
                            bk_biz_id: biz,
                            bk_parent_id: id("bk_parent_id").unwrap_or(biz),
                            default: id("default").unwrap_or(0),
                        },
                    );
                    out.sets.insert(set);
                }
            }
            "module" => {
                let (Some(m), Some(set), Some(biz)) =
                    (id("bk_module_id"), id("bk_set_id"), id("bk_biz_id"))
                else {
                    return;
                };
                if del {
                    if self.modules.remove(&m).is_some() {
                        out.modules.insert(m);
                    }
                } else if scope.contains(biz) {
                    self.modules.insert(
                        m,
                        Module {
                            bk_module_id: m,
                            bk_module_name: name("bk_module_name"),
                            bk_set_id: set,
                            bk_biz_id: biz,
                            default: id("default").unwrap_or(0),
                        },
                    );
                    out.modules.insert(m);
                }
            }
            "host" => {
                let Some(h) = id("bk_host_id") else { return };
                if del {
                    if self.remove_host(h).is_some() {
                        out.hosts.insert(h);
                    }
                    return;
                }
                match self.hosts.get(&h).cloned() {
                    Some(mut host) => {
                        for (k, v) in detail {
                            host.attrs.insert(k.clone(), v.clone());
                        }
                        self.put_host(host);
                        out.hosts.insert(h);
                    }
                    // A new host of a whole-platform mirror (its placement follows as
                    // host_relation events). A business-scoped mirror reads hosts when a
                    // relation brings them into scope: the two streams are not ordered
                    // against each other.
                    None if *scope == MirrorScope::All => {
                        self.put_host(Host {
                            bk_host_id: h,
                            bk_biz_id: -1,
                            modules: BTreeSet::new(),
                            attrs: detail.clone(),
                        });
                        out.hosts.insert(h);
                    }
                    None => {}
                }
            }
            "host_relation" => {
                let (Some(h), Some(m), Some(biz)) =
                    (id("bk_host_id"), id("bk_module_id"), id("bk_biz_id"))
                else {
                    return;
                };
                let Some(mut host) = self.hosts.get(&h).cloned() else {
                    if !del && scope.contains(biz) {
                        // Entered the scope from outside: its attributes must be read.
                        out.fetch.insert(h, biz);
                    }
                    return;
                };
                if del {
                    host.modules.remove(&m);
                } else if scope.contains(biz) {
                    if host.bk_biz_id != biz {
                        host.modules.clear();
                    }
                    host.bk_biz_id = biz;
                    host.modules.insert(m);
                } else {
                    // Left the scope.
                    self.remove_host(h);
                    out.hosts.insert(h);
                    return;
                }
                self.put_host(host);
                out.hosts.insert(h);
            }
            _ => {}
        }
    }
}

/// What a batch of events touched: the ids whose rows the store must rewrite or delete.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Changes {
    /// Businesses.
    pub bizs: BTreeSet<i64>,
    /// Sets.
    pub sets: BTreeSet<i64>,
    /// Modules.
    pub modules: BTreeSet<i64>,
    /// Hosts.
    pub hosts: BTreeSet<i64>,
    /// Hosts that entered the scope and must be read, with their business.
    pub fetch: BTreeMap<i64, i64>,
}

impl Changes {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.bizs.is_empty()
            && self.sets.is_empty()
            && self.modules.is_empty()
            && self.hosts.is_empty()
    }
}

/// An integer from a JSON number or numeric string.
pub(crate) fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}
