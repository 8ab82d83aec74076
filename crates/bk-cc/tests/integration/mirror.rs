//! The CMDB topology mirror against bk-sim: full sync, watched updates after many random
//! changes, restart from the SQLite store, forced cursor expiry, business scopes.

use std::time::{Duration, Instant};

use bk_cc::mirror::{Mirror, MirrorConfig, MirrorScope, SqliteStore, Topology};
use bk_runtime::Client;
use bk_sim::state::NewHost;
use bk_sim::{Sim, SimConfig, StateConfig};
use serde_json::json;

fn start(hosts: usize) -> Sim {
    bk_sim::spawn(SimConfig {
        state: StateConfig {
            hosts,
            watch_timeout: Duration::from_millis(300),
            ..StateConfig::default()
        },
        ..SimConfig::default()
    })
    .expect("bk-sim starts")
}

fn client(sim: &Sim) -> Client {
    let h = sim.handle();
    Client::builder()
        .endpoint(sim.url())
        .app_code(h.app_code())
        .app_secret(h.app_secret())
        .user(bk_runtime::UserAuth::BkUsername("admin".into()))
        .request_timeout(Duration::from_secs(30))
        .build()
        .expect("client builds")
}

fn config() -> MirrorConfig {
    MirrorConfig {
        host_fields: bk_sim::state::topo::HOST_FIELDS
            .iter()
            .map(|s| s.to_string())
            .collect(),
        ..MirrorConfig::default()
    }
}

fn db_path(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!(
        "bk-cc-mirror-{name}-{}-{}.db",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
    }
    p
}

/// The mirror holds exactly the simulator's hosts (attributes and placement) and modules of
/// the given businesses.
fn assert_same(sim: &Sim, topo: &Topology, bizs: Option<&[i64]>) {
    let h = sim.handle();
    let st = h.state();
    let in_scope = |b: i64| bizs.is_none_or(|l| l.contains(&b));
    let snaps: Vec<_> = st
        .snapshot_hosts()
        .into_iter()
        .filter(|s| in_scope(s.bk_biz_id))
        .collect();
    assert_eq!(topo.host_count(), snaps.len(), "host count");
    for s in &snaps {
        let m = topo
            .host(s.bk_host_id)
            .unwrap_or_else(|| panic!("host {} missing", s.bk_host_id));
        assert_eq!(m.attrs, s.host, "attributes of host {}", s.bk_host_id);
        assert_eq!(
            m.bk_biz_id, s.bk_biz_id,
            "business of host {}",
            s.bk_host_id
        );
        let mods: Vec<i64> = m.modules.iter().copied().collect();
        assert_eq!(mods, s.bk_module_ids, "modules of host {}", s.bk_host_id);
        assert_eq!(
            topo.sets_of_host(s.bk_host_id),
            s.bk_set_ids,
            "sets of host {}",
            s.bk_host_id
        );
    }
    for b in st.biz_ids().into_iter().filter(|b| in_scope(*b)) {
        let want: Vec<(i64, i64, String, i64)> = st.modules_of(b);
        let got: Vec<(i64, i64, String, i64)> = topo
            .modules()
            .filter(|m| m.bk_biz_id == b)
            .map(|m| {
                (
                    m.bk_module_id,
                    m.bk_set_id,
                    m.bk_module_name.clone(),
                    m.default,
                )
            })
            .collect();
        assert_eq!(got, want, "modules of business {b}");
    }
}

/// A small deterministic generator (no extra dependency).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

/// `n` random changes through the simulator's hooks: moves (also across businesses), host
/// attribute updates, renames, new sets and modules, new and deleted hosts.
fn churn(sim: &Sim, rng: &mut Lcg, n: usize, bizs: &[i64]) {
    let h = sim.handle();
    let st = h.state();
    let mut hosts: Vec<i64> = st.snapshot_hosts().iter().map(|s| s.bk_host_id).collect();
    let mut done = 0;
    while done < n {
        let i = rng.next(hosts.len());
        let host = hosts[i];
        let biz = bizs[rng.next(bizs.len())];
        let modules = st.modules_of(biz);
        let ok = match rng.next(20) {
            0..=8 => st
                .move_host(host, modules[rng.next(modules.len())].0)
                .is_ok(),
            9..=15 => {
                let field = ["bk_comment", "operator", "bk_host_name", "bk_state"][rng.next(4)];
                st.update_host_field(host, field, json!(format!("v{}", rng.next(1_000_000))))
                    .is_ok()
            }
            16 => {
                let (m, _, name, _) = &modules[rng.next(modules.len())];
                st.rename("module", *m, &format!("{name}-r")).is_ok()
            }
            17 => {
                let set = st.create_set(biz, &format!("set-{}", rng.next(1_000_000)));
                set.and_then(|s| st.create_module(s, "m0")).is_ok()
            }
            18 => match st.add_host(NewHost {
                innerip: format!("10.250.{}.{}", rng.next(250), rng.next(250) + 1),
                cloud_id: 0,
                biz_id: Some(biz),
                module_id: None,
                fields: serde_json::Map::new(),
            }) {
                Ok(id) => {
                    hosts.push(id);
                    true
                }
                Err(_) => false,
            },
            _ => {
                // CMDB deletes only resource-pool hosts; the hook deletes any.
                let ok = st.delete_host(host).is_ok();
                if ok {
                    hosts.swap_remove(i);
                }
                ok
            }
        };
        if ok {
            done += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_follows_the_simulator_across_restarts_and_expiry() {
    let sim = start(3000);
    let c = client(&sim);
    let bizs = sim.handle().state().biz_ids();
    let path = db_path("all");

    let t0 = Instant::now();
    let mirror = Mirror::open(&c, SqliteStore::open(&path).unwrap(), config())
        .await
        .expect("full sync");
    let full_sync = t0.elapsed();
    eprintln!(
        "full sync of {} hosts in {} businesses: {full_sync:?}",
        mirror.snapshot().host_count(),
        bizs.len()
    );
    assert_eq!(mirror.stats().full_syncs, 1);
    assert_same(&sim, &mirror.snapshot(), None);

    // Lookups.
    let topo = mirror.snapshot();
    let any = topo.hosts().nth(17).unwrap().clone();
    let ip = any.inner_ips()[0].clone();
    assert!(topo
        .hosts_by_ip(any.cloud_id(), &ip)
        .iter()
        .any(|h| h.bk_host_id == any.bk_host_id));
    let m = *any.modules.iter().next().unwrap();
    assert!(topo
        .hosts_in_module(m)
        .iter()
        .any(|h| h.bk_host_id == any.bk_host_id));
    let s = topo.module(m).unwrap().bk_set_id;
    assert!(topo
        .hosts_in_set(s)
        .iter()
        .any(|h| h.bk_host_id == any.bk_host_id));
    assert!(topo.hosts_in_biz(any.bk_biz_id).len() > 1);
    assert_eq!(topo.mainline, ["biz", "set", "module", "host"]);

    // 1000 random changes, then the watch catches up.
    let mut rng = Lcg(7);
    churn(&sim, &mut rng, 1000, &bizs);
    let t1 = Instant::now();
    let applied = mirror.catch_up().await.expect("watch");
    eprintln!("caught up with {applied} events in {:?}", t1.elapsed());
    assert!(applied >= 1000, "{applied}");
    // The old snapshot did not change under its reader.
    assert_eq!(topo.host(any.bk_host_id), Some(&any));
    assert_same(&sim, &mirror.snapshot(), None);
    assert_eq!(mirror.stats().full_syncs, 1, "no resync needed");

    // Restart: the store's topology and cursors are resumed without a full sync.
    drop(mirror);
    churn(&sim, &mut rng, 300, &bizs);
    sim.handle().reset_stats();
    let t2 = Instant::now();
    let mirror = Mirror::open(&c, SqliteStore::open(&path).unwrap(), config())
        .await
        .expect("reopen");
    eprintln!("reopened from SQLite in {:?}", t2.elapsed());
    assert_eq!(mirror.stats().full_syncs, 0);
    assert_eq!(
        sim.handle().stats().executions_of("cc.list_biz_hosts_topo"),
        0
    );
    mirror.catch_up().await.expect("watch after restart");
    assert_same(&sim, &mirror.snapshot(), None);

    // Forced expiry: 1103007, full resync, then watching from the new point.
    sim.handle().state().expire_cursors();
    churn(&sim, &mut rng, 200, &bizs);
    mirror.catch_up().await.expect("resync");
    assert_eq!(mirror.stats().resyncs, 1);
    assert_eq!(mirror.stats().full_syncs, 1);
    assert_same(&sim, &mirror.snapshot(), None);
    churn(&sim, &mut rng, 200, &bizs);
    mirror.catch_up().await.expect("watch after resync");
    assert_same(&sim, &mirror.snapshot(), None);
    assert_eq!(mirror.stats().resyncs, 1);

    drop(mirror);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_of_some_businesses_follows_hosts_in_and_out() {
    let sim = start(1500);
    let c = client(&sim);
    let all = sim.handle().state().biz_ids();
    let mine: Vec<i64> = all
        .iter()
        .copied()
        .filter(|b| sim.handle().state().biz_host_ids(*b).len() > 10)
        .take(2)
        .collect();
    assert_eq!(mine.len(), 2);
    let cfg = MirrorConfig {
        scope: MirrorScope::Bizs(mine.iter().copied().collect()),
        ..config()
    };
    let mirror = Mirror::open(&c, SqliteStore::in_memory().unwrap(), cfg)
        .await
        .expect("sync");
    assert_same(&sim, &mirror.snapshot(), Some(&mine));
    let mut rng = Lcg(99);
    churn(&sim, &mut rng, 600, &all);
    mirror.catch_up().await.expect("watch");
    assert_same(&sim, &mirror.snapshot(), Some(&mine));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_now_applies_everything_without_waiting_out_long_polls() {
    // CMDB holds a watch request up to 20 s when nothing is new; the sim does the same here.
    let sim = bk_sim::spawn(SimConfig {
        state: StateConfig {
            hosts: 1500,
            watch_timeout: Duration::from_secs(20),
            ..StateConfig::default()
        },
        ..SimConfig::default()
    })
    .expect("bk-sim starts");
    let c = client(&sim);
    let bizs = sim.handle().state().biz_ids();
    let path = db_path("now");
    let mirror = Mirror::open(&c, SqliteStore::open(&path).unwrap(), config())
        .await
        .expect("full sync");
    let mut rng = Lcg(11);
    // More than one watch page (200 events) for the busiest resources.
    churn(&sim, &mut rng, 700, &bizs);
    let t = Instant::now();
    let applied = mirror
        .catch_up_now(Duration::from_secs(1))
        .await
        .expect("catch up");
    let took = t.elapsed();
    assert!(applied >= 700, "{applied}");
    assert!(
        took < Duration::from_secs(15),
        "quiet resources were waited out: {took:?}"
    );
    assert_same(&sim, &mirror.snapshot(), None);
    // Nothing new: returns after the quiet cutoff with nothing applied.
    assert_eq!(
        mirror
            .catch_up_now(Duration::from_millis(500))
            .await
            .unwrap(),
        0
    );
    drop(mirror);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100k_host_mirror_equals_the_simulator() {
    let sim = start(100_000);
    let c = client(&sim);
    let t = Instant::now();
    let mirror = Mirror::open(
        &c,
        bk_cc::mirror::MemoryStore::new(),
        MirrorConfig {
            page_concurrency: 8,
            ..config()
        },
    )
    .await
    .expect("full sync");
    eprintln!("100k-host full sync (debug build): {:?}", t.elapsed());
    assert_eq!(mirror.snapshot().host_count(), 100_000);
    assert_same(&sim, &mirror.snapshot(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_mirror_sees_each_change_without_waiting_for_quiet_resources() {
    // Quiet resources hold their long polls for 20 s, as CMDB does.
    let sim = bk_sim::spawn(SimConfig {
        state: StateConfig {
            hosts: 300,
            watch_timeout: Duration::from_secs(20),
            ..StateConfig::default()
        },
        ..SimConfig::default()
    })
    .expect("bk-sim starts");
    let c = client(&sim);
    let mirror = std::sync::Arc::new(
        Mirror::open(&c, bk_cc::mirror::MemoryStore::new(), config())
            .await
            .expect("full sync"),
    );
    let watcher = mirror.clone();
    let task = tokio::spawn(async move { watcher.run().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ids: Vec<i64> = mirror
        .snapshot()
        .hosts()
        .take(3)
        .map(|h| h.bk_host_id)
        .collect();
    for (i, id) in ids.iter().enumerate() {
        let mark = format!("seen-{i}");
        sim.handle()
            .state()
            .update_host_field(*id, "bk_comment", json!(mark))
            .unwrap();
        let t = Instant::now();
        while mirror
            .snapshot()
            .host(*id)
            .and_then(|h| h.attr_str("bk_comment").map(str::to_string))
            != Some(mark.clone())
        {
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "change {i} not applied within 5 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    task.abort();
}
