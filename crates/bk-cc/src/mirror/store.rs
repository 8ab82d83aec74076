//! Where a mirror keeps its topology and watch positions between runs: the [`Store`] trait,
//! an in-memory [`MemoryStore`] and the embedded SQLite [`SqliteStore`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use super::model::{Biz, Changes, Host, Module, Set, Topology};

/// A store failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "mirror store: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError(e.to_string())
    }
}

/// Where each watched resource resumes: a cursor, or a Unix time (after a full sync, before
/// the first event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchPos {
    /// Resume after this `bk_cursor`.
    Cursor(String),
    /// Resume from this time (`bk_start_from`, Unix seconds).
    From(i64),
}

impl WatchPos {
    fn encode(&self) -> String {
        match self {
            WatchPos::Cursor(c) => format!("cursor:{c}"),
            WatchPos::From(t) => format!("from:{t}"),
        }
    }

    fn decode(s: &str) -> Option<WatchPos> {
        if let Some(c) = s.strip_prefix("cursor:") {
            return Some(WatchPos::Cursor(c.to_string()));
        }
        s.strip_prefix("from:")
            .and_then(|t| t.parse().ok())
            .map(WatchPos::From)
    }
}

/// Watch positions by resource (`host`, `host_relation`, `biz`, `set`, `module`).
pub type Positions = BTreeMap<String, WatchPos>;

/// Persistence of a mirror. Implementations must make each call atomic: a crash leaves
/// either the state before or the state after it, so a restart resumes from positions that
/// match the stored topology.
pub trait Store: Send + Sync {
    /// The stored topology and positions; `None` when nothing was stored yet.
    fn load(&self) -> Result<Option<(Topology, Positions)>, StoreError>;

    /// Replaces everything (after a full sync).
    fn replace_all(&self, topo: &Topology, pos: &Positions) -> Result<(), StoreError>;

    /// Writes the rows `changes` names as they are in `topo` (deleting those that are gone)
    /// and the new position of `resource`, together.
    fn commit(
        &self,
        topo: &Topology,
        changes: &Changes,
        resource: &str,
        pos: &WatchPos,
    ) -> Result<(), StoreError>;
}

/// A store in memory: survives a [`super::Mirror`] being dropped and reopened in one process
/// (tests), not a process restart.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Option<(Topology, Positions)>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Store for MemoryStore {
    fn load(&self) -> Result<Option<(Topology, Positions)>, StoreError> {
        Ok(self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }

    fn replace_all(&self, topo: &Topology, pos: &Positions) -> Result<(), StoreError> {
        *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = Some((topo.clone(), pos.clone()));
        Ok(())
    }

    fn commit(
        &self,
        topo: &Topology,
        _changes: &Changes,
        resource: &str,
        pos: &WatchPos,
    ) -> Result<(), StoreError> {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut positions = g.take().map(|(_, p)| p).unwrap_or_default();
        positions.insert(resource.to_string(), pos.clone());
        *g = Some((topo.clone(), positions));
        Ok(())
    }
}

/// The embedded SQLite store: one file, one table per kind of record (JSON rows keyed by
/// id), written in one transaction per call.
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS positions (resource TEXT PRIMARY KEY, pos TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bizs (id INTEGER PRIMARY KEY, row TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sets (id INTEGER PRIMARY KEY, row TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS modules (id INTEGER PRIMARY KEY, row TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hosts (id INTEGER PRIMARY KEY, row TEXT NOT NULL);
";

impl SqliteStore {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::with(Connection::open(path)?)
    }

    /// A private in-memory database.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::with(Connection::open_in_memory()?)
    }

    fn with(conn: Connection) -> Result<Self, StoreError> {
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn rows<T: serde::de::DeserializeOwned>(c: &Connection, table: &str) -> Result<Vec<T>, StoreError> {
    let mut st = c.prepare(&format!("SELECT row FROM {table} ORDER BY id"))?;
    let it = st.query_map([], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for row in it {
        out.push(serde_json::from_str(&row?)?);
    }
    Ok(out)
}

fn put<T: serde::Serialize>(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    id: i64,
    v: Option<&T>,
) -> Result<(), StoreError> {
    match v {
        Some(v) => {
            tx.execute(
                &format!("INSERT OR REPLACE INTO {table} (id, row) VALUES (?1, ?2)"),
                params![id, serde_json::to_string(v)?],
            )?;
        }
        None => {
            tx.execute(&format!("DELETE FROM {table} WHERE id = ?1"), params![id])?;
        }
    }
    Ok(())
}

impl Store for SqliteStore {
    fn load(&self) -> Result<Option<(Topology, Positions)>, StoreError> {
        let c = self.conn();
        let mainline: Option<String> = c
            .query_row("SELECT value FROM meta WHERE key = 'mainline'", [], |r| {
                r.get(0)
            })
            .optional()?;
        let Some(mainline) = mainline else {
            return Ok(None);
        };
        let mainline: Vec<String> = serde_json::from_str(&mainline)?;
        let bizs: Vec<Biz> = rows(&c, "bizs")?;
        let sets: Vec<Set> = rows(&c, "sets")?;
        let modules: Vec<Module> = rows(&c, "modules")?;
        let hosts: Vec<Host> = rows(&c, "hosts")?;
        let mut pos = Positions::new();
        let mut st = c.prepare("SELECT resource, pos FROM positions")?;
        for r in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
            let (res, p) = r?;
            if let Some(p) = WatchPos::decode(&p) {
                pos.insert(res, p);
            }
        }
        Ok(Some((
            Topology::from_parts(mainline, bizs, sets, modules, hosts),
            pos,
        )))
    }

    fn replace_all(&self, topo: &Topology, pos: &Positions) -> Result<(), StoreError> {
        let mut c = self.conn();
        let tx = c.transaction()?;
        for t in ["meta", "positions", "bizs", "sets", "modules", "hosts"] {
            tx.execute(&format!("DELETE FROM {t}"), [])?;
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('mainline', ?1)",
            params![serde_json::to_string(&topo.mainline)?],
        )?;
        for (r, p) in pos {
            tx.execute(
                "INSERT INTO positions (resource, pos) VALUES (?1, ?2)",
                params![r, p.encode()],
            )?;
        }
        for b in topo.bizs() {
            put(&tx, "bizs", b.bk_biz_id, Some(b))?;
        }
        for s in topo.sets() {
            put(&tx, "sets", s.bk_set_id, Some(s))?;
        }
        for m in topo.modules() {
            put(&tx, "modules", m.bk_module_id, Some(m))?;
        }
        for h in topo.hosts() {
            put(&tx, "hosts", h.bk_host_id, Some(h))?;
        }
        tx.commit()?;
        Ok(())
    }

    fn commit(
        &self,
        topo: &Topology,
        changes: &Changes,
        resource: &str,
        pos: &WatchPos,
    ) -> Result<(), StoreError> {
        let mut c = self.conn();
        let tx = c.transaction()?;
        for id in &changes.bizs {
            put(&tx, "bizs", *id, topo.biz(*id))?;
        }
        for id in &changes.sets {
            put(&tx, "sets", *id, topo.set(*id))?;
        }
        for id in &changes.modules {
            put(&tx, "modules", *id, topo.module(*id))?;
        }
        for id in &changes.hosts {
            put(&tx, "hosts", *id, topo.host(*id))?;
        }
        tx.execute(
            "INSERT OR REPLACE INTO positions (resource, pos) VALUES (?1, ?2)",
            params![resource, pos.encode()],
        )?;
        tx.commit()?;
        Ok(())
    }
}
