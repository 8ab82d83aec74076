//! Agent status and details for any number of hosts.
//!
//! `get_agent_status` and `get_agent_info` take a list of `{ip, bk_cloud_id}` and answer a
//! map keyed `"<cloud>:<ip>"` (`PROTOCOL.md` 5). [`Agents`] splits a host list of any size
//! into batches of [`Agents::batch_size`] hosts (duplicates removed), sends up to
//! [`Agents::concurrency`] batches at a time and merges the answers into one map keyed by
//! [`HostKey`]. Hosts the GSE does not report are absent from the map.
//!
//! ```no_run
//! use bk_gse::agents::{HostKey, Liveness};
//! use bk_gse::GseExt;
//!
//! # async fn demo(client: bk_runtime::Client) -> Result<(), bk_runtime::Error> {
//! let hosts = vec![HostKey::new(0, "10.0.0.1"), HostKey::new(0, "10.0.0.2")];
//! let status = client.gse().agents().concurrency(8).status(hosts).await?;
//! let online = status.values().filter(|s| s.is_alive()).count();
//! # let _ = online; Ok(()) }
//! ```

use std::collections::{BTreeMap, BTreeSet};

use futures::{StreamExt as _, TryStreamExt as _};

use crate::types::{AgentAlive, AgentInfo, AgentStatus, HostIp};
use crate::Gse;

/// Hosts per call unless set otherwise.
pub const DEFAULT_BATCH: usize = 500;
/// Calls in flight unless set otherwise.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// A host as the GSE names it: cloud area and IP (the runtime's `"<cloud>:<ip>"` key type).
pub use bk_runtime::formats::HostKey;

impl From<HostIp> for HostKey {
    fn from(h: HostIp) -> Self {
        HostKey::new(h.bk_cloud_id, h.ip)
    }
}

impl From<HostKey> for HostIp {
    fn from(k: HostKey) -> Self {
        HostIp {
            ip: k.ip,
            bk_cloud_id: k.bk_cloud_id,
        }
    }
}

/// Whether an agent is online.
pub trait Liveness {
    /// `true` when the GSE reports the agent alive.
    fn is_alive(&self) -> bool;
}

impl Liveness for AgentStatus {
    fn is_alive(&self) -> bool {
        self.bk_agent_alive == AgentAlive::Online
    }
}

impl Gse {
    /// Batched agent queries ([`Agents`]).
    pub fn agents(&self) -> Agents {
        Agents {
            gse: self.clone(),
            supplier_account: "0".to_string(),
            batch_size: DEFAULT_BATCH,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

/// Batched `get_agent_status` / `get_agent_info` ([`Gse::agents`]).
#[derive(Debug, Clone)]
pub struct Agents {
    gse: Gse,
    supplier_account: String,
    batch_size: usize,
    concurrency: usize,
}

impl Agents {
    /// Hosts per call (default [`DEFAULT_BATCH`]; at least 1).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// Calls in flight (default [`DEFAULT_CONCURRENCY`]; at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The supplier account (default `"0"`).
    pub fn supplier_account(mut self, s: impl Into<String>) -> Self {
        self.supplier_account = s.into();
        self
    }

    /// Liveness of every host's agent.
    pub async fn status<I, K>(
        &self,
        hosts: I,
    ) -> Result<BTreeMap<HostKey, AgentStatus>, bk_runtime::Error>
    where
        I: IntoIterator<Item = K>,
        K: Into<HostKey>,
    {
        let gse = self.gse.clone();
        let supplier = self.supplier_account.clone();
        self.batched(hosts, move |batch| {
            let call = gse.get_agent_status(supplier.clone(), batch);
            async move { call.send().await }
        })
        .await
    }

    /// Heartbeat details (version, upstream) of every host's agent.
    pub async fn info<I, K>(
        &self,
        hosts: I,
    ) -> Result<BTreeMap<HostKey, AgentInfo>, bk_runtime::Error>
    where
        I: IntoIterator<Item = K>,
        K: Into<HostKey>,
    {
        let gse = self.gse.clone();
        let supplier = self.supplier_account.clone();
        self.batched(hosts, move |batch| {
            let call = gse.get_agent_info(supplier.clone(), batch);
            async move { call.send().await }
        })
        .await
    }

    async fn batched<I, K, T, F, Fut>(
        &self,
        hosts: I,
        call: F,
    ) -> Result<BTreeMap<HostKey, T>, bk_runtime::Error>
    where
        I: IntoIterator<Item = K>,
        K: Into<HostKey>,
        F: Fn(Vec<HostIp>) -> Fut,
        Fut: std::future::Future<Output = Result<BTreeMap<String, T>, bk_runtime::Error>>,
    {
        let unique: BTreeSet<HostKey> = hosts.into_iter().map(Into::into).collect();
        let unique: Vec<HostKey> = unique.into_iter().collect();
        let batches: Vec<Vec<HostIp>> = unique
            .chunks(self.batch_size)
            .map(|c| c.iter().cloned().map(HostIp::from).collect())
            .collect();
        futures::stream::iter(batches)
            .map(call)
            .buffer_unordered(self.concurrency)
            .try_fold(BTreeMap::new(), |mut all, part| async move {
                // A key that is not `<cloud>:<ip>` cannot be matched to a host: left out.
                for (k, v) in part {
                    if let Ok(key) = k.parse::<HostKey>() {
                        all.insert(key, v);
                    }
                }
                Ok(all)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_keys() {
        let k: HostKey = "0:10.0.0.1".parse().unwrap();
        assert_eq!(k, HostKey::new(0, "10.0.0.1"));
        assert_eq!(k.to_string(), "0:10.0.0.1");
        let v6: HostKey = "2:fe80::1".parse().unwrap();
        assert_eq!(v6.ip, "fe80::1");
        assert!("x:1.2.3.4".parse::<HostKey>().is_err());
        assert!("nocolon".parse::<HostKey>().is_err());
    }
}
