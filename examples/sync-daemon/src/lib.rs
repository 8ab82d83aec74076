//! A daemon that keeps a local SQLite mirror of the CMDB topology current
//! ([`bk_cc::mirror`]) and logs every change it sees with `tracing`.
//!
//! [`Daemon::open`] loads the mirror from its SQLite file (or makes a full sync when the
//! file is new); [`Daemon::run`] then follows CMDB's watch streams round after round until
//! its shutdown future completes (Ctrl-C in the binary). Each round's effect is computed by
//! comparing the topology before and after ([`diff`]) and logged one line per change.
//!
//! Stopping in the middle of a round is safe: the mirror stores each batch of events
//! together with the watch cursor that follows it, in one SQLite transaction, so a batch
//! that was cut short is simply read again on the next start.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bk_cc::mirror::{Mirror, MirrorConfig, MirrorError, SqliteStore, Topology};

/// What changed between two topologies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A business, set, module or host appeared.
    Added {
        /// `biz`, `set`, `module` or `host`.
        object: &'static str,
        /// Its id.
        id: i64,
        /// Its name (inner IP for hosts).
        name: String,
    },
    /// One disappeared.
    Removed {
        /// `biz`, `set`, `module` or `host`.
        object: &'static str,
        /// Its id.
        id: i64,
        /// Its name (inner IP for hosts).
        name: String,
    },
    /// One changed: its name, parent, placement or attributes.
    Updated {
        /// `biz`, `set`, `module` or `host`.
        object: &'static str,
        /// Its id.
        id: i64,
        /// What changed, e.g. `modules [3] -> [5]` or `attributes bk_host_name, operator`.
        what: String,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Added { object, id, name } => write!(f, "+ {object} {id} ({name})"),
            Change::Removed { object, id, name } => write!(f, "- {object} {id} ({name})"),
            Change::Updated { object, id, what } => write!(f, "~ {object} {id}: {what}"),
        }
    }
}

/// Compares two maps of objects by id.
fn diff_map<T: PartialEq>(
    object: &'static str,
    old: &BTreeMap<i64, &T>,
    new: &BTreeMap<i64, &T>,
    name: impl Fn(&T) -> String,
    what: impl Fn(&T, &T) -> String,
    out: &mut Vec<Change>,
) {
    for (id, o) in old {
        match new.get(id) {
            None => out.push(Change::Removed {
                object,
                id: *id,
                name: name(o),
            }),
            Some(n) if *n != *o => out.push(Change::Updated {
                object,
                id: *id,
                what: what(o, n),
            }),
            Some(_) => {}
        }
    }
    for (id, n) in new {
        if !old.contains_key(id) {
            out.push(Change::Added {
                object,
                id: *id,
                name: name(n),
            });
        }
    }
}

fn renamed(old: &str, new: &str, other: &str) -> String {
    if old != new {
        format!("name {old:?} -> {new:?}")
    } else {
        other.to_string()
    }
}

/// The changes from `old` to `new`: businesses, sets, modules, then hosts, by id.
pub fn diff(old: &Topology, new: &Topology) -> Vec<Change> {
    let mut out = Vec::new();
    diff_map(
        "biz",
        &old.bizs().map(|b| (b.bk_biz_id, b)).collect(),
        &new.bizs().map(|b| (b.bk_biz_id, b)).collect(),
        |b| b.bk_biz_name.clone(),
        |o, n| renamed(&o.bk_biz_name, &n.bk_biz_name, "attributes"),
        &mut out,
    );
    diff_map(
        "set",
        &old.sets().map(|s| (s.bk_set_id, s)).collect(),
        &new.sets().map(|s| (s.bk_set_id, s)).collect(),
        |s| s.bk_set_name.clone(),
        |o, n| renamed(&o.bk_set_name, &n.bk_set_name, "parent or business"),
        &mut out,
    );
    diff_map(
        "module",
        &old.modules().map(|m| (m.bk_module_id, m)).collect(),
        &new.modules().map(|m| (m.bk_module_id, m)).collect(),
        |m| m.bk_module_name.clone(),
        |o, n| renamed(&o.bk_module_name, &n.bk_module_name, "set or business"),
        &mut out,
    );
    diff_map(
        "host",
        &old.hosts().map(|h| (h.bk_host_id, h)).collect(),
        &new.hosts().map(|h| (h.bk_host_id, h)).collect(),
        |h| h.inner_ips().join(","),
        |o, n| {
            let mut parts = Vec::new();
            if o.bk_biz_id != n.bk_biz_id {
                parts.push(format!("business {} -> {}", o.bk_biz_id, n.bk_biz_id));
            }
            if o.modules != n.modules {
                parts.push(format!("modules {:?} -> {:?}", o.modules, n.modules));
            }
            let mut keys: Vec<&str> = o
                .attrs
                .iter()
                .filter(|(k, v)| n.attrs.get(*k) != Some(*v))
                .map(|(k, _)| k.as_str())
                .chain(
                    n.attrs
                        .keys()
                        .filter(|k| !o.attrs.contains_key(*k))
                        .map(String::as_str),
                )
                .collect();
            keys.sort_unstable();
            keys.dedup();
            if !keys.is_empty() {
                parts.push(format!("attributes {}", keys.join(", ")));
            }
            parts.join("; ")
        },
        &mut out,
    );
    out
}

/// Settings of the daemon.
#[derive(Debug, Clone, Default)]
pub struct DaemonConfig {
    /// Mirror settings (scope, watched host fields, concurrency, retry delay).
    pub mirror: MirrorConfig,
}

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Watch rounds completed.
    pub rounds: u64,
    /// Watch events applied.
    pub events: u64,
    /// Changes logged.
    pub changes: u64,
    /// Rounds that failed (and were retried).
    pub failed_rounds: u64,
}

/// The daemon: a mirror on a SQLite file.
pub struct Daemon {
    mirror: Arc<Mirror>,
    retry_delay: Duration,
}

impl fmt::Debug for Daemon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Daemon")
            .field("mirror", &self.mirror)
            .finish_non_exhaustive()
    }
}

impl Daemon {
    /// Opens the mirror stored at `db` (a full sync when the file holds none).
    pub async fn open(
        client: &bk_runtime::Client,
        db: impl AsRef<Path>,
        cfg: DaemonConfig,
    ) -> Result<Daemon, MirrorError> {
        let retry_delay = cfg.mirror.retry_delay;
        let store = SqliteStore::open(db.as_ref())?;
        let mirror = Mirror::open(client, store, cfg.mirror).await?;
        let topo = mirror.snapshot();
        let stats = mirror.stats();
        tracing::info!(
            bizs = topo.bizs().count(),
            sets = topo.sets().count(),
            modules = topo.modules().count(),
            hosts = topo.host_count(),
            full_sync = stats.full_syncs > 0,
            "topology mirror ready"
        );
        Ok(Daemon {
            mirror: Arc::new(mirror),
            retry_delay,
        })
    }

    /// Logs what changed since `before`; returns the number of changes.
    fn log_changes(&self, before: &Arc<Topology>) -> u64 {
        let after = self.mirror.snapshot();
        if Arc::ptr_eq(before, &after) {
            return 0;
        }
        let changes = diff(before, &after);
        for c in &changes {
            tracing::info!(change = %c, "cmdb topology changed");
        }
        changes.len() as u64
    }

    /// The mirror, for readers (its snapshots never change under them).
    pub fn mirror(&self) -> &Arc<Mirror> {
        &self.mirror
    }

    /// Follows CMDB until `shutdown` completes; logs each change. Failed rounds are logged
    /// and retried after the mirror's retry delay. A round cut short by `shutdown` still
    /// has its applied batches logged and counted.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> RunReport {
        let mut report = RunReport::default();
        let events_at_start = self.mirror.stats().events;
        tokio::pin!(shutdown);
        loop {
            let before = self.mirror.snapshot();
            let round = tokio::select! {
                _ = &mut shutdown => {
                    report.changes += self.log_changes(&before);
                    break;
                }
                r = self.mirror.watch_once() => r,
            };
            report.changes += self.log_changes(&before);
            match round {
                Ok(_) => report.rounds += 1,
                Err(e) => {
                    report.failed_rounds += 1;
                    tracing::warn!(error = %e, "watch round failed; retrying");
                    tokio::select! {
                        _ = &mut shutdown => break,
                        _ = tokio::time::sleep(self.retry_delay) => {}
                    }
                }
            }
        }
        report.events = self.mirror.stats().events - events_at_start;
        tracing::info!(
            rounds = report.rounds,
            events = report.events,
            changes = report.changes,
            "stopped"
        );
        report
    }
}
