//! The runtime's response cache against bk-sim over loopback: single-flight, keys per
//! parameters and per user, TTL, bypass, errors not cached. The simulator counts the
//! requests each API received (`Stats::calls_of`).

use std::time::Duration;

use bk_runtime::cache::Cache;
use bk_runtime::{CallOptions, Client, RetryPolicy, UserAuth};
use bk_sdk::prelude::*;
use bk_sim::{FaultKind, FaultRule, Sim, SimConfig, StateConfig, Trigger};

/// A cacheable API (`cache: { ttl: 300 }` in its spec) that takes a parameter.
const API: &str = "cc.get_biz_internal_module";

fn start() -> Sim {
    bk_sim::spawn(SimConfig {
        state: StateConfig {
            hosts: 50,
            ..StateConfig::default()
        },
        ..SimConfig::default()
    })
    .expect("bk-sim starts")
}

fn client_as(sim: &Sim, user: &str, cache: &Cache) -> Client {
    let h = sim.handle();
    Client::builder()
        .endpoint(sim.url())
        .app_code(h.app_code())
        .app_secret(h.app_secret())
        .user(UserAuth::BkUsername(user.into()))
        .retry_policy(RetryPolicy::disabled())
        .cache(cache.clone())
        .build()
        .expect("client builds")
}

fn biz(sim: &Sim) -> (i64, i64) {
    let ids = sim.handle().state().biz_ids();
    (ids[0], ids[1])
}

fn calls(sim: &Sim) -> u64 {
    sim.handle().stats().calls_of(API)
}

#[tokio::test]
async fn concurrent_identical_calls_make_one_request() {
    let sim = start();
    let cache = Cache::new(100);
    let c = client_as(&sim, "admin", &cache);
    let (b, _) = biz(&sim);
    // Slow answers, so that all the calls are in flight together.
    sim.handle().add_fault(
        FaultRule::new(
            FaultKind::Latency(Duration::from_millis(300)),
            Trigger::Always,
        )
        .on(API),
    );
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.cc().get_biz_internal_module(b).send().await })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap().expect("call succeeds"));
    }
    assert_eq!(calls(&sim), 1, "32 concurrent calls, one request");
    assert!(answers.windows(2).all(|w| w[0] == w[1]));
    let s = cache.stats();
    assert_eq!(s.misses, 1);
    assert_eq!(s.shared + s.hits, 31);
    assert!(
        s.shared > 0,
        "the calls waited for the one in flight: {s:?}"
    );
    // Later calls are answered from the cache.
    c.cc().get_biz_internal_module(b).send().await.unwrap();
    assert_eq!(calls(&sim), 1);
    assert_eq!(cache.len(), 1);
}

#[tokio::test]
async fn other_params_and_other_users_make_their_own_requests() {
    let sim = start();
    let cache = Cache::new(100);
    let admin = client_as(&sim, "admin", &cache);
    let alice = client_as(&sim, "alice", &cache);
    let (b1, b2) = biz(&sim);
    let first = admin.cc().get_biz_internal_module(b1).send().await.unwrap();
    admin.cc().get_biz_internal_module(b1).send().await.unwrap();
    assert_eq!(calls(&sim), 1);
    let other = admin.cc().get_biz_internal_module(b2).send().await.unwrap();
    assert_eq!(calls(&sim), 2, "other parameters: another request");
    assert_ne!(
        first.bk_set_id, other.bk_set_id,
        "each business its own answer"
    );
    alice.cc().get_biz_internal_module(b1).send().await.unwrap();
    assert_eq!(calls(&sim), 3, "another user: another request");
    alice.cc().get_biz_internal_module(b1).send().await.unwrap();
    admin.cc().get_biz_internal_module(b2).send().await.unwrap();
    assert_eq!(calls(&sim), 3);
    assert_eq!(cache.len(), 3);
    // The requests the server saw came from the users who asked.
    let users: Vec<_> = sim
        .handle()
        .requests()
        .into_iter()
        .filter(|r| r.api.as_deref() == Some(API))
        .filter_map(|r| r.username)
        .collect();
    assert_eq!(users, vec!["admin", "admin", "alice"]);
}

#[tokio::test]
async fn entries_expire_after_their_ttl() {
    let sim = start();
    let cache = Cache::new(100).max_ttl(Duration::from_millis(200));
    let c = client_as(&sim, "admin", &cache);
    let (b, _) = biz(&sim);
    c.cc().get_biz_internal_module(b).send().await.unwrap();
    c.cc().get_biz_internal_module(b).send().await.unwrap();
    assert_eq!(calls(&sim), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.cc().get_biz_internal_module(b).send().await.unwrap();
    assert_eq!(calls(&sim), 2, "expired: fetched again");
    c.cc().get_biz_internal_module(b).send().await.unwrap();
    assert_eq!(calls(&sim), 2);
}

#[tokio::test]
async fn bypass_always_sends_and_refreshes() {
    let sim = start();
    let cache = Cache::new(100);
    let c = client_as(&sim, "admin", &cache);
    let (b, _) = biz(&sim);
    c.cc().get_biz_internal_module(b).send().await.unwrap();
    for n in 2..=3 {
        c.cc()
            .get_biz_internal_module(b)
            .options(CallOptions::new().no_cache())
            .send()
            .await
            .unwrap();
        assert_eq!(calls(&sim), n);
    }
    c.cc().get_biz_internal_module(b).send().await.unwrap();
    assert_eq!(calls(&sim), 3, "the bypass refreshed the entry");
    // Without a cache on the client, nothing is cached.
    let h = sim.handle();
    let plain = Client::builder()
        .endpoint(sim.url())
        .app_code(h.app_code())
        .app_secret(h.app_secret())
        .user(UserAuth::BkUsername("admin".into()))
        .build()
        .unwrap();
    plain.cc().get_biz_internal_module(b).send().await.unwrap();
    plain.cc().get_biz_internal_module(b).send().await.unwrap();
    assert_eq!(calls(&sim), 5);
}

#[tokio::test]
async fn errors_are_shared_but_not_cached() {
    let sim = start();
    let cache = Cache::new(100);
    let c = client_as(&sim, "admin", &cache);
    let (b, _) = biz(&sim);
    let h = sim.handle();
    h.add_fault(
        FaultRule::new(
            FaultKind::Latency(Duration::from_millis(200)),
            Trigger::NextN(1),
        )
        .on(API),
    );
    h.add_fault(FaultRule::new(FaultKind::EsbBackendFailed, Trigger::NextN(1)).on(API));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.cc().get_biz_internal_module(b).send().await })
        })
        .collect();
    for t in tasks {
        let e = t.await.unwrap().expect_err("the one request failed");
        assert_eq!(e.code(), Some(1306201), "{e}");
        assert_eq!(e.api(), Some("get_biz_internal_module"));
        assert!(e.request_id().is_some(), "{e:?}");
    }
    assert_eq!(calls(&sim), 1, "the waiters shared the failed request");
    assert!(cache.is_empty());
    let ok = c.cc().get_biz_internal_module(b).send().await;
    assert!(ok.is_ok(), "{ok:?}");
    assert_eq!(calls(&sim), 2, "the error was not cached");
    c.cc().get_biz_internal_module(b).send().await.unwrap();
    assert_eq!(calls(&sim), 2);
}

/// Hands out a login ticket of one user.
struct Ticket(String);

impl bk_runtime::CredentialProvider for Ticket {
    fn user_auth(&self) -> bk_runtime::BoxFuture<'_, Result<UserAuth, bk_runtime::Error>> {
        Box::pin(async move { Ok(UserAuth::BkToken(self.0.as_str().into())) })
    }
    fn refresh<'a>(
        &'a self,
        _failed: &'a UserAuth,
    ) -> bk_runtime::BoxFuture<'a, Result<UserAuth, bk_runtime::Error>> {
        Box::pin(async { Err(bk_runtime::Error::credentials("no refresh in this test")) })
    }
}

#[tokio::test]
async fn users_of_credential_providers_are_kept_apart() {
    let sim = start();
    let cache = Cache::new(100);
    let h = sim.handle();
    let with_provider = |user: &str| {
        Client::builder()
            .endpoint(sim.url())
            .app_code(h.app_code())
            .app_secret(h.app_secret())
            .credential_provider(std::sync::Arc::new(Ticket(h.issue_token(user))))
            .cache(cache.clone())
            .build()
            .expect("client builds")
    };
    let (admin, alice) = (with_provider("admin"), with_provider("alice"));
    let (b, _) = biz(&sim);
    // Before the provider's first answer the user is unknown: that call is not cached.
    admin.cc().get_biz_internal_module(b).send().await.unwrap();
    admin.cc().get_biz_internal_module(b).send().await.unwrap();
    admin.cc().get_biz_internal_module(b).send().await.unwrap();
    assert_eq!(calls(&sim), 2);
    alice.cc().get_biz_internal_module(b).send().await.unwrap();
    alice.cc().get_biz_internal_module(b).send().await.unwrap();
    alice.cc().get_biz_internal_module(b).send().await.unwrap();
    assert_eq!(calls(&sim), 4, "alice never reads admin's answer");
    let users: Vec<_> = sim
        .handle()
        .requests()
        .into_iter()
        .filter(|r| r.api.as_deref() == Some(API))
        .filter_map(|r| r.username)
        .collect();
    assert_eq!(users, vec!["admin", "admin", "alice", "alice"]);
}
