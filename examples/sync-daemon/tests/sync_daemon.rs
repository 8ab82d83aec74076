//! The sync daemon against bk-sim: full sync into SQLite, changes followed and reported,
//! a clean stop, and a restart from the file without a full sync.

use std::time::{Duration, Instant};

use bk_cc::mirror::MirrorConfig;
use bk_example_sync_daemon::{diff, Change, Daemon, DaemonConfig};
use bk_runtime::{Client, UserAuth};
use bk_sim::{Sim, SimConfig, StateConfig};
use serde_json::json;

fn start() -> Sim {
    bk_sim::spawn(SimConfig {
        state: StateConfig {
            hosts: 80,
            watch_timeout: Duration::from_millis(200),
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
        .user(UserAuth::BkUsername("admin".into()))
        .request_timeout(Duration::from_secs(10))
        .build()
        .expect("client builds")
}

fn config() -> DaemonConfig {
    DaemonConfig {
        mirror: MirrorConfig {
            host_fields: bk_sim::state::topo::HOST_FIELDS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            retry_delay: Duration::from_millis(50),
            ..MirrorConfig::default()
        },
    }
}

async fn eventually(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn follows_changes_stops_cleanly_and_resumes_from_sqlite() {
    let sim = start();
    let c = client(&sim);
    let dir = tempfile::tempdir().expect("a temp dir");
    let db = dir.path().join("mirror.db");

    let daemon = Daemon::open(&c, &db, config()).await.expect("full sync");
    assert_eq!(daemon.mirror().snapshot().host_count(), 80);
    assert_eq!(daemon.mirror().stats().full_syncs, 1);

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mirror = daemon.mirror().clone();
    let running = tokio::spawn(async move {
        daemon
            .run(async {
                let _ = stop_rx.await;
            })
            .await
    });

    // Change CMDB: move a host, rename it.
    let handle = sim.handle();
    let st = handle.state();
    let host = st
        .snapshot_hosts()
        .into_iter()
        .find(|h| h.bk_biz_id != 1)
        .expect("a host in a business");
    let target = st
        .modules_of(host.bk_biz_id)
        .into_iter()
        .map(|m| m.0)
        .find(|m| !host.bk_module_ids.contains(m))
        .expect("another module");
    st.move_host(host.bk_host_id, target).unwrap();
    st.update_host_field(host.bk_host_id, "bk_host_name", json!("renamed-by-test"))
        .unwrap();
    eventually("the mirror to follow", || {
        let t = mirror.snapshot();
        t.host(host.bk_host_id).is_some_and(|h| {
            h.modules.iter().copied().collect::<Vec<_>>() == vec![target]
                && h.attr_str("bk_host_name") == Some("renamed-by-test")
        })
    })
    .await;

    stop_tx.send(()).unwrap();
    let report = tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("stops promptly")
        .expect("no panic");
    assert!(report.events >= 2, "{report:?}");
    assert!(report.changes >= 1, "{report:?}");
    assert_eq!(report.failed_rounds, 0, "{report:?}");
    let before = mirror.snapshot();
    drop(mirror);

    // Restart: the file has the topology and the cursors; no full sync.
    let again = Daemon::open(&c, &db, config()).await.expect("reopens");
    assert_eq!(again.mirror().stats().full_syncs, 0);
    assert_eq!(*again.mirror().snapshot(), *before);
}

#[tokio::test]
async fn diff_reports_host_moves_and_attribute_changes() {
    let sim = start();
    let c = client(&sim);
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::open(&c, dir.path().join("m.db"), config())
        .await
        .unwrap();
    let before = daemon.mirror().snapshot();
    let handle = sim.handle();
    let st = handle.state();
    let host = st
        .snapshot_hosts()
        .into_iter()
        .find(|h| h.bk_biz_id != 1)
        .unwrap();
    st.update_host_field(host.bk_host_id, "operator", json!("carol"))
        .unwrap();
    st.delete_host(
        st.snapshot_hosts()
            .into_iter()
            .find(|h| h.bk_host_id != host.bk_host_id)
            .unwrap()
            .bk_host_id,
    )
    .unwrap();
    daemon.mirror().catch_up().await.unwrap();
    let changes = diff(&before, &daemon.mirror().snapshot());
    assert!(
        changes.iter().any(|c| matches!(c,
            Change::Updated { object: "host", id, what } if *id == host.bk_host_id && what.contains("operator"))),
        "{changes:?}"
    );
    assert!(
        changes
            .iter()
            .any(|c| matches!(c, Change::Removed { object: "host", .. })),
        "{changes:?}"
    );
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(changes[0].to_string().starts_with(['~', '-']));
}
