//! The generated CMDB topology: businesses, sets, modules and hosts, in a compact form.
//!
//! A generated host stores only its id, cloud area, IPv4 address, a per-host salt and its
//! placement; every other attribute is derived from the salt when rendered, and only
//! attributes that were changed (or given when the host was added) are stored, in a small
//! override map. 100 000 hosts take a few megabytes.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Map, Value};

use super::rng::{hash3, Rng};
use super::time::format_rfc3339_ms;

/// The users of the simulated platform, after the configured default user.
pub const USERS: &[&str] = &["alice", "bob", "carol", "dave", "erin", "frank"];

/// Teams of the user-defined host attribute `custom_owner_team`.
pub const TEAMS: &[&str] = &[
    "infra",
    "game-ops",
    "web-ops",
    "data-platform",
    "sre",
    "security",
];

/// Creation time of the generated topology (2023-11-14 22:13:20 UTC), epoch ms; generated
/// records are spread over the following days so that their times are deterministic.
pub const BASE_MS: i64 = 1_700_000_000_000;

/// The id of the resource pool business (built in, `default` 1).
pub const RESOURCE_POOL_BIZ: i64 = 1;

/// Names of the built-in idle set and its modules (`default` 1, 2, 3).
pub const IDLE_SET_NAME: &str = "空闲机池";
/// Built-in idle module name (`default` 1).
pub const IDLE_MODULE_NAME: &str = "空闲机";
/// Built-in fault module name (`default` 2).
pub const FAULT_MODULE_NAME: &str = "故障机";
/// Built-in recycle module name (`default` 3).
pub const RECYCLE_MODULE_NAME: &str = "待回收";

/// Every built-in host attribute the simulator renders, in CMDB order, followed by the two
/// user-defined attributes of the simulated model.
pub const HOST_FIELDS: &[&str] = &[
    "bk_host_id",
    "bk_host_innerip",
    "bk_host_outerip",
    "bk_host_innerip_v6",
    "bk_host_outerip_v6",
    "bk_cloud_id",
    "bk_host_name",
    "bk_os_type",
    "bk_os_name",
    "bk_os_version",
    "bk_os_bit",
    "operator",
    "bk_bak_operator",
    "import_from",
    "bk_asset_id",
    "bk_sn",
    "bk_comment",
    "bk_cloud_inst_id",
    "bk_cloud_vendor",
    "bk_cloud_host_status",
    "bk_cpu",
    "bk_cpu_architecture",
    "bk_cpu_module",
    "bk_mem",
    "bk_disk",
    "bk_mac",
    "bk_outer_mac",
    "bk_isp_name",
    "bk_province_name",
    "bk_state_name",
    "bk_state",
    "bk_sla",
    "bk_service_term",
    "bk_addressing",
    "bk_supplier_account",
    "create_time",
    "last_time",
    "custom_rack",
    "custom_owner_team",
];

/// Host attributes that cannot be changed by `update_host` (CMDB: not editable).
pub const HOST_READONLY_FIELDS: &[&str] = &[
    "bk_host_id",
    "bk_cloud_id",
    "bk_supplier_account",
    "create_time",
    "last_time",
];

/// A business.
#[derive(Debug, Clone)]
pub struct Biz {
    /// `bk_biz_id`.
    pub id: i64,
    /// `bk_biz_name`.
    pub name: String,
    /// 0 ordinary, 1 the resource pool.
    pub default: i64,
    /// `bk_biz_maintainer`.
    pub maintainer: String,
    /// Creation time, epoch ms.
    pub create_ms: i64,
    /// Last change, epoch ms.
    pub last_ms: i64,
}

/// A set.
#[derive(Debug, Clone)]
pub struct Set {
    /// `bk_set_id`.
    pub id: i64,
    /// `bk_set_name`.
    pub name: String,
    /// Business.
    pub biz_id: i64,
    /// 0 ordinary, 1 the idle pool set.
    pub default: i64,
    /// Creation time, epoch ms.
    pub create_ms: i64,
    /// Last change, epoch ms.
    pub last_ms: i64,
}

/// A module.
#[derive(Debug, Clone)]
pub struct Module {
    /// `bk_module_id`.
    pub id: i64,
    /// `bk_module_name`.
    pub name: String,
    /// Set.
    pub set_id: i64,
    /// Business.
    pub biz_id: i64,
    /// 0 ordinary, 1 idle, 2 fault, 3 recycle.
    pub default: i64,
    /// `operator`.
    pub operator: String,
    /// Creation time, epoch ms.
    pub create_ms: i64,
    /// Last change, epoch ms.
    pub last_ms: i64,
}

/// A host, compactly.
#[derive(Debug, Clone)]
pub struct Host {
    /// `bk_host_id`.
    pub id: i64,
    /// `bk_cloud_id`.
    pub cloud: i64,
    /// Inner IPv4 address.
    pub ip: u32,
    /// Seed of the derived attributes.
    pub salt: u64,
    /// Business.
    pub biz: i64,
    /// Modules, ascending (at least one).
    pub modules: Vec<i64>,
    /// Creation time, epoch ms.
    pub create_ms: i64,
    /// Last change, epoch ms.
    pub last_ms: i64,
    /// Attributes that differ from the derived ones (including user-set ones).
    pub overrides: Option<Box<Map<String, Value>>>,
}

/// A host to add ([`crate::state::State::add_host`]).
#[derive(Debug, Clone, Default)]
pub struct NewHost {
    /// Inner IPv4 address (required).
    pub innerip: String,
    /// Cloud area (default 0).
    pub cloud_id: i64,
    /// Business; `None` puts the host into the resource pool.
    pub biz_id: Option<i64>,
    /// Module of that business; `None` means its idle module.
    pub module_id: Option<i64>,
    /// Other attributes (`bk_host_name`, `operator`, user-defined ones ...).
    pub fields: Map<String, Value>,
}

/// Formats an IPv4 address held as a `u32`.
pub fn ip_string(ip: u32) -> String {
    let b = ip.to_be_bytes();
    format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
}

/// Parses a dotted IPv4 address.
pub fn parse_ip(s: &str) -> Option<u32> {
    s.trim().parse::<std::net::Ipv4Addr>().ok().map(u32::from)
}

/// The address of the `n`-th (from 1) generated host of a cloud area: `.0` and `.255` are
/// skipped.
fn nth_ip(base: u32, n: u64) -> u32 {
    let k = n.saturating_sub(1);
    let off = (k / 254) * 256 + (k % 254) + 1;
    base.wrapping_add(off as u32)
}

/// The whole topology, with indexes.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    /// Businesses by id.
    pub bizs: BTreeMap<i64, Biz>,
    /// Sets by id.
    pub sets: BTreeMap<i64, Set>,
    /// Modules by id.
    pub modules: BTreeMap<i64, Module>,
    /// Hosts by id (so iteration is sorted by `bk_host_id`).
    pub hosts: BTreeMap<i64, Host>,
    /// `(cloud, inner ip)` to host id.
    pub ip_index: HashMap<(i64, String), i64>,
    /// Next ids.
    pub next_biz: i64,
    /// Next set id.
    pub next_set: i64,
    /// Next module id.
    pub next_module: i64,
    /// Next host id.
    pub next_host: i64,
    /// Seed of the derived values.
    pub seed: u64,
    /// The default user (operator of generated records).
    pub admin: String,
}

const OS: &[(&str, &str, &str)] = &[
    ("1", "linux centos", "7.9.2009"),
    ("1", "linux ubuntu", "22.04"),
    ("1", "linux tencentos", "3.1"),
    ("1", "linux centos", "8.2"),
    ("2", "windows server 2019", "10.0.17763"),
];
const CPU: &[i64] = &[2, 4, 8, 16, 32];
const DISK: &[i64] = &[50, 100, 200, 500, 1000];
const CPU_MODULE: &[&str] = &[
    "Intel(R) Xeon(R) Gold 6133 CPU @ 2.50GHz",
    "AMD EPYC 7K62 48-Core Processor",
    "Intel(R) Xeon(R) Platinum 8255C CPU @ 2.50GHz",
];
const MODULE_NAMES: &[&str] = &[
    "gateway",
    "api",
    "worker",
    "db",
    "cache",
    "scheduler",
    "web",
];

impl Topology {
    /// Generates the topology of `hosts` hosts from `seed`.
    pub fn generate(hosts: usize, seed: u64, admin: &str) -> Topology {
        let mut rng = Rng::new(seed);
        let mut t = Topology {
            next_biz: 1,
            next_set: 1,
            next_module: 1,
            next_host: 1,
            seed,
            admin: admin.to_string(),
            ..Topology::default()
        };
        // Businesses: the resource pool, blueking (id 2), demo businesses, and one more per
        // 25 000 hosts.
        let pool = t.add_biz_raw("资源池", 1, BASE_MS);
        let bk = t.add_biz_raw("blueking", 0, BASE_MS);
        let mut names: Vec<String> = ["demo-game", "demo-web", "demo-data"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for i in 0..hosts / 25_000 {
            names.push(format!("biz-{:02}", i + 1));
        }
        let mut ordinary = vec![bk];
        for (i, n) in names.iter().enumerate() {
            ordinary.push(t.add_biz_raw(n, 0, BASE_MS + 3_600_000 * (i as i64 + 1)));
        }
        // Sets and modules.
        for &b in std::iter::once(&pool).chain(ordinary.iter()) {
            t.add_idle_set_raw(b);
        }
        let bk_sets: &[(&str, &[&str])] = &[
            ("配置平台", &["cmdb-api", "cmdb-web"]),
            ("作业平台", &["job-gateway", "job-execute", "job-logsvr"]),
            ("管控平台", &["gse-task", "gse-data", "gse-proc"]),
            ("PaaS平台", &["paas", "esb", "login"]),
        ];
        for (sname, mods) in bk_sets {
            let s = t.add_set_raw(bk, sname, 0);
            for m in mods.iter() {
                t.add_module_raw(s, m, 0);
            }
        }
        let per_biz = hosts / ordinary.len().max(1);
        for &b in &ordinary[1..] {
            let nsets = (per_biz / 150).clamp(2, 40);
            let prefix = t.bizs[&b].name.clone();
            for i in 0..nsets {
                let s = t.add_set_raw(b, &format!("{prefix}-set-{:02}", i + 1), 0);
                let nmods = 2 + rng.below(3) as usize;
                let first = rng.below(MODULE_NAMES.len() as u64) as usize;
                for j in 0..nmods {
                    t.add_module_raw(s, MODULE_NAMES[(first + j) % MODULE_NAMES.len()], 0);
                }
            }
        }
        // Placement tables.
        let mut plain: HashMap<i64, Vec<i64>> = HashMap::new();
        let mut builtin: HashMap<(i64, i64), i64> = HashMap::new();
        for m in t.modules.values() {
            if m.default == 0 {
                plain.entry(m.biz_id).or_default().push(m.id);
            } else {
                builtin.insert((m.biz_id, m.default), m.id);
            }
        }
        // Hosts.
        let mut cloud_count = [0u64; 3];
        for _ in 0..hosts {
            let id = t.next_host;
            t.next_host += 1;
            let salt = rng.next_u64();
            let cloud = if rng.chance(50) {
                1 + rng.below(2) as i64
            } else {
                0
            };
            cloud_count[cloud as usize] += 1;
            let base = match cloud {
                0 => 0x0A00_0000u32, // 10.0.0.0
                1 => 0xAC10_0000,    // 172.16.0.0
                _ => 0xC0A8_0000,    // 192.168.0.0
            };
            let ip = nth_ip(base, cloud_count[cloud as usize]);
            let (biz, modules) = if rng.chance(30) {
                (pool, vec![builtin[&(pool, 1)]])
            } else {
                let b = if rng.chance(100) {
                    bk
                } else {
                    ordinary[1 + rng.below(ordinary.len() as u64 - 1) as usize]
                };
                let r = rng.below(1000);
                let mods = if r < 50 {
                    vec![builtin[&(b, 1)]]
                } else if r < 60 {
                    vec![builtin[&(b, 2)]]
                } else if r < 70 {
                    vec![builtin[&(b, 3)]]
                } else {
                    let list = &plain[&b];
                    let m = list[rng.below(list.len() as u64) as usize];
                    let mut v = vec![m];
                    if rng.chance(20) {
                        // A second module of the same set.
                        let set = t.modules[&m].set_id;
                        let sib: Vec<i64> = list
                            .iter()
                            .copied()
                            .filter(|x| *x != m && t.modules[x].set_id == set)
                            .collect();
                        if !sib.is_empty() {
                            v.push(sib[rng.below(sib.len() as u64) as usize]);
                            v.sort_unstable();
                        }
                    }
                    v
                };
                (b, mods)
            };
            let create_ms = BASE_MS + 86_400_000 + id * 1_000;
            t.ip_index.insert((cloud, ip_string(ip)), id);
            t.hosts.insert(
                id,
                Host {
                    id,
                    cloud,
                    ip,
                    salt,
                    biz,
                    modules,
                    create_ms,
                    last_ms: create_ms,
                    overrides: None,
                },
            );
        }
        t
    }

    fn add_biz_raw(&mut self, name: &str, default: i64, create_ms: i64) -> i64 {
        let id = self.next_biz;
        self.next_biz += 1;
        self.bizs.insert(
            id,
            Biz {
                id,
                name: name.to_string(),
                default,
                maintainer: self.admin.clone(),
                create_ms,
                last_ms: create_ms,
            },
        );
        id
    }

    fn add_idle_set_raw(&mut self, biz: i64) -> i64 {
        let s = self.add_set_raw(biz, IDLE_SET_NAME, 1);
        self.add_module_raw(s, IDLE_MODULE_NAME, 1);
        self.add_module_raw(s, FAULT_MODULE_NAME, 2);
        self.add_module_raw(s, RECYCLE_MODULE_NAME, 3);
        s
    }

    /// Adds a set (no events); returns its id.
    pub fn add_set_raw(&mut self, biz: i64, name: &str, default: i64) -> i64 {
        let id = self.next_set;
        self.next_set += 1;
        let create_ms = BASE_MS + 60_000 * id;
        self.sets.insert(
            id,
            Set {
                id,
                name: name.to_string(),
                biz_id: biz,
                default,
                create_ms,
                last_ms: create_ms,
            },
        );
        id
    }

    /// Adds a module (no events); returns its id. `set` must exist.
    pub fn add_module_raw(&mut self, set: i64, name: &str, default: i64) -> i64 {
        let id = self.next_module;
        self.next_module += 1;
        let biz_id = self.sets.get(&set).map(|s| s.biz_id).unwrap_or(0);
        let create_ms = BASE_MS + 60_000 * id + 1_000;
        self.modules.insert(
            id,
            Module {
                id,
                name: name.to_string(),
                set_id: set,
                biz_id,
                default,
                operator: self.admin.clone(),
                create_ms,
                last_ms: create_ms,
            },
        );
        id
    }

    /// The module of `biz` with this `default` kind (1 idle, 2 fault, 3 recycle).
    pub fn builtin_module(&self, biz: i64, default: i64) -> Option<i64> {
        self.modules
            .values()
            .find(|m| m.biz_id == biz && m.default == default)
            .map(|m| m.id)
    }

    /// The derived (generated) value of a host attribute, before overrides.
    fn derived_field(&self, h: &Host, name: &str) -> Option<Value> {
        let s = h.salt;
        let os = OS[(s % OS.len() as u64) as usize];
        let pick = |shift: u32, n: usize| ((s >> shift) % n as u64) as usize;
        let user = |shift: u32| -> String {
            let i = pick(shift, USERS.len() + 1);
            if i == 0 {
                self.admin.clone()
            } else {
                USERS[i - 1].to_string()
            }
        };
        let ipb = h.ip.to_be_bytes();
        let v = match name {
            "bk_host_id" => json!(h.id),
            "bk_host_innerip" => json!(ip_string(h.ip)),
            "bk_host_outerip" => json!(""),
            "bk_host_innerip_v6" => json!(""),
            "bk_host_outerip_v6" => json!(""),
            "bk_cloud_id" => json!(h.cloud),
            "bk_host_name" => json!(format!("vm-{}-{}-{}-{}", ipb[0], ipb[1], ipb[2], ipb[3])),
            "bk_os_type" => json!(os.0),
            "bk_os_name" => json!(os.1),
            "bk_os_version" => json!(os.2),
            "bk_os_bit" => json!("64-bit"),
            "operator" => json!(user(8)),
            "bk_bak_operator" => json!(user(12)),
            "import_from" => json!("3"),
            "bk_asset_id" => json!(format!("AS{:08}", h.id)),
            "bk_sn" => json!(format!(
                "SN{:010}",
                hash3(self.seed, h.id as u64, 7) % 10_000_000_000
            )),
            "bk_comment" => json!(""),
            "bk_cloud_inst_id" => json!(""),
            "bk_cloud_vendor" => Value::Null,
            "bk_cloud_host_status" => Value::Null,
            "bk_cpu" => json!(CPU[pick(16, CPU.len())]),
            "bk_cpu_architecture" => json!("x86"),
            "bk_cpu_module" => json!(CPU_MODULE[pick(20, CPU_MODULE.len())]),
            "bk_mem" => json!(CPU[pick(16, CPU.len())] * 2048),
            "bk_disk" => json!(DISK[pick(24, DISK.len())]),
            "bk_mac" => json!(format!(
                "52:54:00:{:02x}:{:02x}:{:02x}",
                ipb[1], ipb[2], ipb[3]
            )),
            "bk_outer_mac" => json!(""),
            "bk_isp_name" => Value::Null,
            "bk_province_name" => Value::Null,
            "bk_state_name" => Value::Null,
            "bk_state" => Value::Null,
            "bk_sla" => Value::Null,
            "bk_service_term" => Value::Null,
            "bk_addressing" => json!("static"),
            "bk_supplier_account" => json!("0"),
            "create_time" => json!(format_rfc3339_ms(h.create_ms)),
            "last_time" => json!(format_rfc3339_ms(h.last_ms)),
            "custom_rack" => json!(format!("R{:02}-U{:02}", pick(28, 40) + 1, pick(34, 42) + 1)),
            "custom_owner_team" => json!(TEAMS[pick(40, TEAMS.len())]),
            _ => return None,
        };
        Some(v)
    }

    /// One attribute of a host as CMDB renders it (`None`: the host has no such attribute).
    pub fn host_field(&self, h: &Host, name: &str) -> Option<Value> {
        if let Some(o) = &h.overrides {
            if let Some(v) = o.get(name) {
                return Some(v.clone());
            }
        }
        self.derived_field(h, name)
    }

    /// The host as a JSON object with the given fields (all when `fields` is empty).
    pub fn host_json(&self, h: &Host, fields: &[String]) -> Map<String, Value> {
        let mut m = Map::new();
        if fields.is_empty() {
            for f in HOST_FIELDS {
                if let Some(v) = self.host_field(h, f) {
                    m.insert((*f).to_string(), v);
                }
            }
            if let Some(o) = &h.overrides {
                for (k, v) in o.iter() {
                    m.insert(k.clone(), v.clone());
                }
            }
        } else {
            for f in fields {
                if let Some(v) = self.host_field(h, f) {
                    m.insert(f.clone(), v);
                }
            }
        }
        m
    }

    /// The inner IP a host is indexed under (its first address).
    pub fn host_ip(&self, h: &Host) -> String {
        match self.host_field(h, "bk_host_innerip") {
            Some(Value::String(s)) => s.split(',').next().unwrap_or("").trim().to_string(),
            _ => String::new(),
        }
    }

    /// The cloud area of a host as rendered.
    pub fn host_cloud(&self, h: &Host) -> i64 {
        self.host_field(h, "bk_cloud_id")
            .and_then(|v| super::params::as_i64(&v))
            .unwrap_or(h.cloud)
    }

    /// The business as CMDB renders it (all attributes).
    pub fn biz_json(&self, b: &Biz) -> Map<String, Value> {
        let v = json!({
            "bk_biz_id": b.id,
            "bk_biz_name": b.name,
            "bk_biz_maintainer": b.maintainer,
            "bk_biz_productor": b.maintainer,
            "bk_biz_developer": "",
            "bk_biz_tester": "",
            "operator": b.maintainer,
            "time_zone": "Asia/Shanghai",
            "language": "1",
            "life_cycle": "2",
            "default": b.default,
            "bk_supplier_account": "0",
            "bk_data_status": "enable",
            "create_time": format_rfc3339_ms(b.create_ms),
            "last_time": format_rfc3339_ms(b.last_ms),
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// The set as CMDB renders it.
    pub fn set_json(&self, s: &Set) -> Map<String, Value> {
        let v = json!({
            "bk_set_id": s.id,
            "bk_set_name": s.name,
            "bk_biz_id": s.biz_id,
            "bk_parent_id": s.biz_id,
            "default": s.default,
            "bk_set_env": "3",
            "bk_service_status": "1",
            "bk_set_desc": "",
            "description": "",
            "bk_capacity": Value::Null,
            "set_template_id": 0,
            "bk_supplier_account": "0",
            "create_time": format_rfc3339_ms(s.create_ms),
            "last_time": format_rfc3339_ms(s.last_ms),
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// The module as CMDB renders it.
    pub fn module_json(&self, m: &Module) -> Map<String, Value> {
        let v = json!({
            "bk_module_id": m.id,
            "bk_module_name": m.name,
            "bk_set_id": m.set_id,
            "bk_biz_id": m.biz_id,
            "bk_parent_id": m.set_id,
            "default": m.default,
            "bk_module_type": "1",
            "operator": m.operator,
            "bk_bak_operator": "",
            "service_category_id": if m.default == 0 { 2 } else { 1 },
            "service_template_id": 0,
            "set_template_id": 0,
            "bk_supplier_account": "0",
            "create_time": format_rfc3339_ms(m.create_ms),
            "last_time": format_rfc3339_ms(m.last_ms),
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// Rough heap size of the topology in bytes (for the build-size report).
    pub fn approx_bytes(&self) -> usize {
        let host = std::mem::size_of::<Host>() + 8 + 48 + 8 * 2;
        let idx = 2 * std::mem::size_of::<((i64, String), i64)>() + 16;
        self.hosts.len() * (host + idx)
            + self
                .hosts
                .values()
                .filter(|h| h.overrides.is_some())
                .count()
                * 512
            + (self.sets.len() + self.modules.len() + self.bizs.len()) * 256
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_consistent() {
        let a = Topology::generate(3000, 42, "admin");
        let b = Topology::generate(3000, 42, "admin");
        assert_eq!(a.hosts.len(), 3000);
        let ha: Vec<_> = a
            .hosts
            .values()
            .map(|h| (h.ip, h.cloud, h.modules.clone()))
            .collect();
        let hb: Vec<_> = b
            .hosts
            .values()
            .map(|h| (h.ip, h.cloud, h.modules.clone()))
            .collect();
        assert_eq!(ha, hb);
        let c = Topology::generate(3000, 43, "admin");
        let hc: Vec<_> = c
            .hosts
            .values()
            .map(|h| (h.ip, h.cloud, h.modules.clone()))
            .collect();
        assert_ne!(ha, hc);
        assert_eq!(a.bizs[&2].name, "blueking");
        for h in a.hosts.values() {
            assert!(!h.modules.is_empty());
            for m in &h.modules {
                assert_eq!(a.modules[m].biz_id, h.biz);
            }
        }
        // (cloud, ip) is unique.
        assert_eq!(a.ip_index.len(), 3000);
        // Every business has idle, fault and recycle modules.
        for b in a.bizs.keys() {
            for d in 1..=3 {
                assert!(a.builtin_module(*b, d).is_some());
            }
        }
    }

    #[test]
    fn ip_helpers() {
        assert_eq!(nth_ip(0x0A00_0000, 1), 0x0A00_0001);
        assert_eq!(ip_string(nth_ip(0x0A00_0000, 254)), "10.0.0.254");
        assert_eq!(ip_string(nth_ip(0x0A00_0000, 255)), "10.0.1.1");
        assert_eq!(parse_ip("10.0.1.1"), Some(0x0A00_0101));
        assert_eq!(parse_ip("x"), None);
    }
}
