//! `bk topo`: the CMDB topology mirror from the shell. `sync` fills or updates a SQLite
//! mirror (and with `--watch` keeps it current); `show` and `find` read it offline, without
//! a call to CMDB.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use bk_sdk::cc::mirror::{
    Host, Mirror, MirrorConfig, MirrorScope, SqliteStore, Store, SyncReport, Topology,
};
use clap::{value_parser, Arg, ArgAction, ArgMatches, Command};
use serde_json::{json, Value};

use super::{client, db_arg, db_path, ids, print_rows, Failure, Outcome};

/// How long `bk topo sync` waits for a watch answer before it takes a resource as quiet:
/// CMDB answers at once when it has events and holds the request (up to 20 s) when not.
const CATCH_UP_QUIET: std::time::Duration = std::time::Duration::from_secs(3);

/// `bk topo` and its subcommands.
pub fn command() -> Command {
    Command::new("topo")
        .about("Mirror the CMDB topology into SQLite and query it offline")
        .long_about(
            "Mirror the CMDB topology (businesses, sets, modules, hosts and their placement) into \
             a SQLite file, keep it current from CMDB's resource_watch events, and query it \
             offline.\n\n\
             `bk topo sync` makes a full sync the first time and afterwards applies only what \
             changed since the last run; `--watch` keeps following changes until Ctrl-C. `bk \
             topo show` prints the tree, `bk topo find` looks hosts up by IP, id or name; both \
             read the file only.",
        )
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(
            Command::new("sync")
                .about("Fill or update the mirror from CMDB (full sync, then watch increments)")
                .args(super::common_args())
                .arg(db_arg())
                .arg(
                    Arg::new("biz")
                        .long("biz")
                        .value_name("ID")
                        .action(ArgAction::Append)
                        .help("Mirror only these businesses (repeat or comma-separate) [default: all]"),
                )
                .arg(
                    Arg::new("full")
                        .long("full")
                        .action(ArgAction::SetTrue)
                        .help("Read everything again even when the mirror could catch up"),
                )
                .arg(
                    Arg::new("watch")
                        .long("watch")
                        .action(ArgAction::SetTrue)
                        .help("After syncing, keep applying changes until Ctrl-C"),
                )
                .arg(
                    Arg::new("concurrency")
                        .long("concurrency")
                        .value_name("N")
                        .value_parser(value_parser!(u16).range(1..=64))
                        .default_value("4")
                        .help("Pages of hosts read at a time during a full sync"),
                ),
        )
        .subcommand(
            Command::new("show")
                .about("Print the mirrored topology as a tree with host counts")
                .args(super::common_args())
                .arg(db_arg())
                .arg(
                    Arg::new("biz")
                        .long("biz")
                        .value_name("ID")
                        .action(ArgAction::Append)
                        .help("Only these businesses"),
                )
                .arg(
                    Arg::new("depth")
                        .long("depth")
                        .value_parser(["biz", "set", "module"])
                        .default_value("module")
                        .help("How deep the tree goes"),
                ),
        )
        .subcommand(
            Command::new("find")
                .about("Find hosts in the mirror by IP, host id or host name")
                .args(super::common_args())
                .arg(db_arg())
                .arg(
                    Arg::new("ip")
                        .long("ip")
                        .value_name("[CLOUD:]IP")
                        .action(ArgAction::Append)
                        .help("Inner IP, with the cloud area as a prefix or from --cloud"),
                )
                .arg(
                    Arg::new("cloud")
                        .long("cloud")
                        .value_name("ID")
                        .value_parser(value_parser!(i64))
                        .default_value("0")
                        .help("Cloud area of IPs given without one"),
                )
                .arg(
                    Arg::new("host_id")
                        .long("host-id")
                        .value_name("ID")
                        .action(ArgAction::Append)
                        .help("CMDB host id"),
                )
                .arg(
                    Arg::new("name")
                        .long("name")
                        .value_name("TEXT")
                        .help("Hosts whose bk_host_name contains TEXT"),
                )
                .group(
                    clap::ArgGroup::new("what")
                        .args(["ip", "host_id", "name"])
                        .required(true)
                        .multiple(true),
                ),
        )
}

/// Runs `bk topo ...`.
pub async fn run(m: &ArgMatches) -> Outcome {
    match m.subcommand() {
        Some(("sync", sm)) => sync(sm).await,
        Some(("show", sm)) => show(sm),
        Some(("find", sm)) => find(sm),
        _ => Err(Failure::Usage(
            "name a subcommand of topo: sync, show or find".into(),
        )),
    }
}

fn store_error(path: &Path, e: impl std::fmt::Display) -> Failure {
    Failure::Failed(format!("topology database {}: {e}", path.display()))
}

fn mirror_error(e: bk_sdk::cc::mirror::MirrorError) -> Failure {
    match e {
        bk_sdk::cc::mirror::MirrorError::Api(e) => Failure::from_sdk(&e),
        other => Failure::Failed(other.to_string()),
    }
}

async fn sync(m: &ArgMatches) -> Outcome {
    let client = client(m)?;
    let path = db_path(m)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::Failed(format!("cannot create {}: {e}", dir.display())))?;
    }
    let bizs = ids(m, "biz", "biz")?;
    let cfg = MirrorConfig {
        scope: if bizs.is_empty() {
            MirrorScope::All
        } else {
            MirrorScope::Bizs(bizs.into_iter().collect())
        },
        page_concurrency: usize::from(*m.get_one::<u16>("concurrency").unwrap_or(&4)),
        ..MirrorConfig::default()
    };
    let store = SqliteStore::open(&path).map_err(|e| store_error(&path, e))?;
    let started = Instant::now();
    let mirror = Mirror::open(&client, store, cfg)
        .await
        .map_err(mirror_error)?;
    let (how, events) = if mirror.stats().full_syncs > 0 {
        ("full sync", 0)
    } else if m.get_flag("full") {
        mirror.full_sync().await.map_err(mirror_error)?;
        ("full sync", 0)
    } else {
        let n = mirror
            .catch_up_now(CATCH_UP_QUIET)
            .await
            .map_err(mirror_error)?;
        ("caught up", n)
    };
    let topo = mirror.snapshot();
    let report = SyncReport {
        bizs: topo.bizs().count(),
        sets: topo.sets().count(),
        modules: topo.modules().count(),
        hosts: topo.host_count(),
        elapsed: started.elapsed(),
    };
    let summary = json!({
        "db": path.display().to_string(),
        "how": how,
        "events": events,
        "bizs": report.bizs,
        "sets": report.sets,
        "modules": report.modules,
        "hosts": report.hosts,
        "seconds": report.elapsed.as_secs_f64(),
    });
    let row = vec![
        how.to_string(),
        report.bizs.to_string(),
        report.sets.to_string(),
        report.modules.to_string(),
        report.hosts.to_string(),
        events.to_string(),
        format!("{:.2?}", report.elapsed),
        path.display().to_string(),
    ];
    print_rows(
        m,
        &[
            "sync", "bizs", "sets", "modules", "hosts", "events", "took", "db",
        ],
        &[row],
        &summary,
    )?;
    if m.get_flag("watch") {
        watch(Arc::new(mirror)).await?;
    }
    Ok(())
}

/// Applies changes until Ctrl-C, printing one line per round that changed something.
async fn watch(mirror: Arc<Mirror>) -> Outcome {
    eprintln!("bk: watching CMDB for changes; Ctrl-C stops");
    let mut before = mirror.snapshot();
    loop {
        let round = tokio::select! {
            r = mirror.watch_once() => r,
            _ = tokio::signal::ctrl_c() => {
                let s = mirror.stats();
                eprintln!(
                    "bk: stopped after {} events ({} full resyncs)",
                    s.events, s.resyncs
                );
                return Ok(());
            }
        };
        match round {
            Ok(0) => {}
            Ok(n) => {
                let after = mirror.snapshot();
                println!(
                    "{} applied {n} events: {}",
                    now_text(),
                    describe_changes(&before, &after)
                );
                before = after;
            }
            Err(e) => {
                eprintln!("bk: watch round failed, retrying in 1 s: {e}");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

fn now_text() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (h, mi, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    format!("{h:02}:{mi:02}:{s:02}Z")
}

/// What differs between two snapshots, in a few words (`hosts +1 -0 ~3, sets +0 -1`).
fn describe_changes(a: &Topology, b: &Topology) -> String {
    fn diff<K: Ord + Copy, V: PartialEq>(
        a: &BTreeMap<K, &V>,
        b: &BTreeMap<K, &V>,
    ) -> (usize, usize, usize) {
        let added = b.keys().filter(|k| !a.contains_key(k)).count();
        let removed = a.keys().filter(|k| !b.contains_key(k)).count();
        let changed = b
            .iter()
            .filter(|(k, v)| a.get(k).is_some_and(|old| old != *v))
            .count();
        (added, removed, changed)
    }
    let mut parts = Vec::new();
    let mut push = |name: &str, (p, m, c): (usize, usize, usize)| {
        if p + m + c > 0 {
            parts.push(format!("{name} +{p} -{m} ~{c}"));
        }
    };
    push(
        "hosts",
        diff(
            &a.hosts().map(|h| (h.bk_host_id, h)).collect(),
            &b.hosts().map(|h| (h.bk_host_id, h)).collect(),
        ),
    );
    push(
        "modules",
        diff(
            &a.modules().map(|x| (x.bk_module_id, x)).collect(),
            &b.modules().map(|x| (x.bk_module_id, x)).collect(),
        ),
    );
    push(
        "sets",
        diff(
            &a.sets().map(|x| (x.bk_set_id, x)).collect(),
            &b.sets().map(|x| (x.bk_set_id, x)).collect(),
        ),
    );
    push(
        "bizs",
        diff(
            &a.bizs().map(|x| (x.bk_biz_id, x)).collect(),
            &b.bizs().map(|x| (x.bk_biz_id, x)).collect(),
        ),
    );
    if parts.is_empty() {
        "no visible change".into()
    } else {
        parts.join(", ")
    }
}

/// The mirror in the database, which must exist (these commands never create it).
pub(super) fn load(m: &ArgMatches) -> Result<Topology, Failure> {
    let path = db_path(m)?;
    if !path.exists() {
        return Err(Failure::Usage(format!(
            "no topology mirror at {}; run `bk topo sync` first (or pass --db)",
            path.display()
        )));
    }
    let store = SqliteStore::open(&path).map_err(|e| store_error(&path, e))?;
    match store.load().map_err(|e| store_error(&path, e))? {
        Some((topo, _)) => Ok(topo),
        None => Err(Failure::Usage(format!(
            "the topology mirror at {} is empty; run `bk topo sync`",
            path.display()
        ))),
    }
}

/// Host counts per business, set and module, in one pass over the hosts.
#[derive(Default)]
struct Counts {
    biz: BTreeMap<i64, usize>,
    set: BTreeMap<i64, usize>,
    module: BTreeMap<i64, usize>,
}

fn counts(topo: &Topology) -> Counts {
    let mut c = Counts::default();
    for h in topo.hosts() {
        *c.biz.entry(h.bk_biz_id).or_default() += 1;
        let mut sets = BTreeSet::new();
        for m in &h.modules {
            *c.module.entry(*m).or_default() += 1;
            if let Some(module) = topo.module(*m) {
                sets.insert(module.bk_set_id);
            }
        }
        for s in sets {
            *c.set.entry(s).or_default() += 1;
        }
    }
    c
}

fn show(m: &ArgMatches) -> Outcome {
    let topo = load(m)?;
    let only: BTreeSet<i64> = ids(m, "biz", "biz")?.into_iter().collect();
    let depth = match m.get_one::<String>("depth").map(String::as_str) {
        Some("biz") => 0,
        Some("set") => 1,
        _ => 2,
    };
    let c = counts(&topo);
    let n = |map: &BTreeMap<i64, usize>, id: i64| map.get(&id).copied().unwrap_or(0);
    let mut modules_of: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for module in topo.modules() {
        modules_of
            .entry(module.bk_set_id)
            .or_default()
            .push(module.bk_module_id);
    }
    let mut rows = Vec::new();
    let mut tree = Vec::new();
    for b in topo
        .bizs()
        .filter(|b| only.is_empty() || only.contains(&b.bk_biz_id))
    {
        rows.push(vec![
            "biz".into(),
            b.bk_biz_id.to_string(),
            b.bk_biz_name.clone(),
            n(&c.biz, b.bk_biz_id).to_string(),
        ]);
        let mut sets_json = Vec::new();
        for s in topo.sets().filter(|s| s.bk_biz_id == b.bk_biz_id) {
            if depth >= 1 {
                rows.push(vec![
                    "  set".into(),
                    s.bk_set_id.to_string(),
                    s.bk_set_name.clone(),
                    n(&c.set, s.bk_set_id).to_string(),
                ]);
            }
            let mut modules_json = Vec::new();
            for mid in modules_of.get(&s.bk_set_id).into_iter().flatten() {
                let Some(module) = topo.module(*mid) else {
                    continue;
                };
                if depth >= 2 {
                    rows.push(vec![
                        "    module".into(),
                        module.bk_module_id.to_string(),
                        module.bk_module_name.clone(),
                        n(&c.module, module.bk_module_id).to_string(),
                    ]);
                }
                modules_json.push(json!({
                    "bk_module_id": module.bk_module_id,
                    "bk_module_name": module.bk_module_name,
                    "hosts": n(&c.module, module.bk_module_id),
                }));
            }
            let mut set = json!({
                "bk_set_id": s.bk_set_id,
                "bk_set_name": s.bk_set_name,
                "hosts": n(&c.set, s.bk_set_id),
            });
            if depth >= 2 {
                set["modules"] = Value::Array(modules_json);
            }
            sets_json.push(set);
        }
        let mut biz = json!({
            "bk_biz_id": b.bk_biz_id,
            "bk_biz_name": b.bk_biz_name,
            "hosts": n(&c.biz, b.bk_biz_id),
        });
        if depth >= 1 {
            biz["sets"] = Value::Array(sets_json);
        }
        tree.push(biz);
    }
    if tree.is_empty() && !only.is_empty() {
        return Err(Failure::Failed(format!(
            "no business {:?} in the mirror",
            only.iter().collect::<Vec<_>>()
        )));
    }
    print_rows(
        m,
        &["level", "id", "name", "hosts"],
        &rows,
        &Value::Array(tree),
    )
}

/// `biz / set / module` names of each module holding the host.
fn placement(topo: &Topology, h: &Host) -> Vec<String> {
    let name_of_biz = topo
        .biz(h.bk_biz_id)
        .map(|b| b.bk_biz_name.as_str())
        .unwrap_or("?");
    h.modules
        .iter()
        .map(|mid| match topo.module(*mid) {
            Some(module) => {
                let set = topo
                    .set(module.bk_set_id)
                    .map(|s| s.bk_set_name.as_str())
                    .unwrap_or("?");
                format!("{name_of_biz} / {set} / {}", module.bk_module_name)
            }
            None => format!("{name_of_biz} / ? / module {mid}"),
        })
        .collect()
}

fn find(m: &ArgMatches) -> Outcome {
    let topo = load(m)?;
    let cloud = *m.get_one::<i64>("cloud").unwrap_or(&0);
    let mut found: BTreeMap<i64, &Host> = BTreeMap::new();
    for key in super::host_keys(m, "ip", "ip", cloud)? {
        for h in topo.hosts_by_ip(key.bk_cloud_id, &key.ip) {
            found.insert(h.bk_host_id, h);
        }
    }
    for id in ids(m, "host_id", "host-id")? {
        if let Some(h) = topo.host(id) {
            found.insert(id, h);
        }
    }
    if let Some(text) = m.get_one::<String>("name") {
        for h in topo.hosts() {
            if h.attr_str("bk_host_name")
                .is_some_and(|n| n.contains(text.as_str()))
            {
                found.insert(h.bk_host_id, h);
            }
        }
    }
    if found.is_empty() {
        return Err(Failure::Failed("no host in the mirror matches".into()));
    }
    let mut rows = Vec::new();
    let mut list = Vec::new();
    for h in found.values() {
        let places = placement(&topo, h);
        rows.push(vec![
            h.bk_host_id.to_string(),
            h.inner_ips().join(","),
            h.cloud_id().to_string(),
            h.attr_str("bk_host_name").unwrap_or("-").to_string(),
            h.bk_biz_id.to_string(),
            places.join("; "),
        ]);
        list.push(json!({
            "bk_host_id": h.bk_host_id,
            "bk_biz_id": h.bk_biz_id,
            "modules": h.modules,
            "placement": places,
            "host": h.attrs,
        }));
    }
    print_rows(
        m,
        &[
            "bk_host_id",
            "bk_host_innerip",
            "bk_cloud_id",
            "bk_host_name",
            "bk_biz_id",
            "placement",
        ],
        &rows,
        &Value::Array(list),
    )
}
