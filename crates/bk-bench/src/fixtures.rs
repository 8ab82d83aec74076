//! Inputs of the criterion micro-benchmarks, made with the simulator (nothing checked in).

use std::time::Duration;

use bk_sdk::cc::operations::list_biz_hosts_topo::{ListBizHostsTopoRequest, META};
use bk_sdk::cc::types::Page;

use crate::drive::Target;
use crate::{HOST_FIELDS, PAGE_SIZE};

/// The business whose hosts the `hosts_topo` workload lists (a demo business of bk-sim).
pub const BENCH_BIZ: i64 = 3;

/// The `list_biz_hosts_topo` request of the workload: business [`BENCH_BIZ`], first page
/// of 500, [`HOST_FIELDS`].
pub fn hosts_topo_request() -> ListBizHostsTopoRequest {
    ListBizHostsTopoRequest {
        bk_biz_id: BENCH_BIZ,
        page: Page {
            start: Some(0),
            limit: PAGE_SIZE,
            sort: None,
            enable_count: None,
        },
        fields: HOST_FIELDS.iter().map(|s| s.to_string()).collect(),
        ..ListBizHostsTopoRequest::default()
    }
}

/// A whole response envelope of `list_biz_hosts_topo` with 500 hosts, as bk-sim answers it
/// (`{"result", "code", "message", "data", "request_id"}`), from a simulator with
/// 10 000 hosts started for the occasion.
pub fn hosts_topo_envelope() -> Result<String, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let sim = bk_sim::spawn(bk_sim::SimConfig {
            state: bk_sim::StateConfig {
                hosts: 10_000,
                ..bk_sim::StateConfig::default()
            },
            request_log_capacity: 0,
            ..bk_sim::SimConfig::default()
        })
        .map_err(|e| e.to_string())?;
        let h = sim.handle();
        let target = Target {
            url: sim.url(),
            app_code: h.app_code().into(),
            app_secret: h.app_secret().into(),
            username: h.username().into(),
        };
        let client = target.sdk_client(&target.url)?;
        let params = serde_json::to_value(hosts_topo_request()).map_err(|e| e.to_string())?;
        let raw = tokio::time::timeout(Duration::from_secs(30), client.send_raw(&META, params))
            .await
            .map_err(|_| "timed out".to_string())?
            .map_err(|e| e.to_string())?;
        sim.shutdown().await;
        Ok(format!(
            r#"{{"result":true,"code":0,"message":"success","data":{},"request_id":{}}}"#,
            raw.data.get(),
            serde_json::Value::from(raw.request_id.unwrap_or_default())
        ))
    })
}
