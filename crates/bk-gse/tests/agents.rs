//! Batched agent queries against bk-sim: any number of hosts, one merged map.

use bk_gse::agents::{HostKey, Liveness};
use bk_gse::GseExt;
use bk_runtime::Client;
use bk_sim::{Sim, SimConfig, StateConfig};

fn start(hosts: usize) -> Sim {
    bk_sim::spawn(SimConfig {
        state: StateConfig {
            hosts,
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
        .build()
        .expect("client builds")
}

#[tokio::test]
async fn status_and_info_of_every_host_in_concurrent_batches() {
    let sim = start(2500);
    let c = client(&sim);
    let h = sim.handle();
    let snaps = h.state().snapshot_hosts();
    let down = snaps[7].bk_host_id;
    h.state().set_agent_alive(down, false);
    let mut keys = Vec::new();
    let mut alive = std::collections::BTreeMap::new();
    for s in &snaps {
        let k = HostKey::new(
            s.host["bk_cloud_id"].as_i64().unwrap(),
            s.host["bk_host_innerip"].as_str().unwrap(),
        );
        alive.insert(k.clone(), h.state().agent_alive(s.bk_host_id));
        keys.push(k);
    }
    // Duplicates are asked once.
    keys.push(keys[0].clone());
    h.reset_stats();
    let st = c
        .gse()
        .agents()
        .batch_size(300)
        .concurrency(4)
        .status(keys.clone())
        .await
        .expect("status");
    assert_eq!(st.len(), alive.len());
    assert_eq!(
        h.stats().executions_of("gse.get_agent_status"),
        alive.len().div_ceil(300) as u64
    );
    for (k, want) in &alive {
        assert_eq!(st[k].is_alive(), *want, "{k}");
    }
    let k_down = &keys[7];
    assert!(!st[k_down].is_alive());

    let info = c.gse().agents().info(keys).await.expect("info");
    assert_eq!(info.len(), alive.len());
}
