//! Credential providers against bk-sim: a stale token is refreshed once, for one call or
//! sixteen concurrent ones, on the ESB and the gateway; a provider that cannot refresh
//! gives the auth error, and nothing loops.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bk_runtime::{
    BoxFuture, Client, CredentialProvider, Error, ErrorKind, Method, RetryPolicy, UserAuth,
};
use bk_sdk::prelude::*;
use bk_sim::{Sim, SimConfig, SimHandle};
use serde_json::{json, Value};

const STALE: &str = "stale-token-4f1d9c2b";

/// Starts with a token the simulator rejects; refreshes by minting one through the sim.
struct Provider {
    sim: SimHandle,
    initial: AtomicU32,
    refreshes: AtomicU32,
    /// Refresh fails instead.
    broken: bool,
    /// Refresh returns another rejected token.
    useless: bool,
}

impl Provider {
    fn new(sim: &Sim) -> Arc<Provider> {
        Arc::new(Provider {
            sim: sim.handle(),
            initial: AtomicU32::new(0),
            refreshes: AtomicU32::new(0),
            broken: false,
            useless: false,
        })
    }
}

impl CredentialProvider for Provider {
    fn user_auth(&self) -> BoxFuture<'_, Result<UserAuth, Error>> {
        Box::pin(async move {
            self.initial.fetch_add(1, Ordering::SeqCst);
            Ok(UserAuth::BkToken(STALE.into()))
        })
    }

    fn refresh<'a>(&'a self, failed: &'a UserAuth) -> BoxFuture<'a, Result<UserAuth, Error>> {
        Box::pin(async move {
            assert_eq!(failed, &UserAuth::BkToken(STALE.into()));
            self.refreshes.fetch_add(1, Ordering::SeqCst);
            // Slow enough that the concurrent calls all see the same stale token.
            tokio::time::sleep(Duration::from_millis(50)).await;
            if self.broken {
                return Err(Error::credentials(
                    "the login service refused to log in again",
                ));
            }
            if self.useless {
                return Ok(UserAuth::BkToken(STALE.into()));
            }
            Ok(UserAuth::BkToken(self.sim.issue_token("admin").into()))
        })
    }
}

fn start() -> Sim {
    bk_sim::spawn(SimConfig::default()).expect("bk-sim starts")
}

fn client(sim: &Sim, provider: Arc<Provider>) -> Client {
    let h = sim.handle();
    Client::builder()
        .endpoint(sim.url())
        .app_code(h.app_code())
        .app_secret(h.app_secret())
        .gateway_url_template(format!("{}/api/{{api_name}}", sim.url()))
        .credential_provider(provider)
        .retry_policy(RetryPolicy::disabled())
        .build()
        .unwrap()
}

#[tokio::test]
async fn sixteen_concurrent_calls_refresh_once() {
    let sim = start();
    let p = Provider::new(&sim);
    let c = client(&sim, p.clone());
    let calls = (0..16).map(|_| {
        let c = c.clone();
        async move { c.bk_login().get_user().send().await }
    });
    let results = futures::future::join_all(calls).await;
    for r in &results {
        assert_eq!(
            r.as_ref().expect("refreshed call succeeds").bk_username,
            "admin"
        );
    }
    assert_eq!(p.initial.load(Ordering::SeqCst), 1);
    assert_eq!(p.refreshes.load(Ordering::SeqCst), 1);
    assert!(matches!(c.user(), UserAuth::BkToken(t) if t.expose() != STALE));
    // Later calls use the new token at once.
    let before = sim.handle().stats().calls_of("bk_login.get_user");
    c.bk_login().get_user().send().await.unwrap();
    assert_eq!(
        sim.handle().stats().calls_of("bk_login.get_user"),
        before + 1
    );
    assert_eq!(p.refreshes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn non_idempotent_calls_are_repeated_once_after_a_refresh() {
    let sim = start();
    let h = sim.handle();
    let p = Provider::new(&sim);
    let c = client(&sim, p.clone());
    // The untyped call counts as not idempotent; the rejected call never ran.
    let v = c.call("cc", "search_business", json!({})).await.unwrap();
    assert!(v["count"].is_u64());
    assert_eq!(p.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(h.stats().calls_of("cc.search_business"), 2);
    assert_eq!(h.stats().executions_of("cc.search_business"), 1);
}

#[tokio::test]
async fn gateway_user_verify_failed_refreshes() {
    let sim = start();
    let p = Provider::new(&sim);
    let c = client(&sim, p.clone());
    let u = c
        .gateway("bk_login")
        .call(Method::Get, "/get_user/", Value::Null)
        .await
        .unwrap();
    assert_eq!(u["bk_username"], "admin");
    assert_eq!(p.refreshes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_failing_refresh_gives_the_auth_error_without_looping() {
    let sim = start();
    let h = sim.handle();
    for (broken, useless) in [(true, false), (false, true)] {
        h.reset_stats();
        let p = Arc::new(Provider {
            broken,
            useless,
            ..Arc::try_unwrap(Provider::new(&sim)).ok().unwrap()
        });
        let c = client(&sim, p.clone());
        let e = c.bk_login().get_user().send().await.unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Api { .. }), "{e:?}");
        assert_eq!(e.code(), Some(1306000), "{e}");
        assert!(e.message().unwrap().contains("bk_token"), "{e}");
        assert!(!e.to_string().contains(STALE), "{e}");
        assert_eq!(p.refreshes.load(Ordering::SeqCst), 1, "broken={broken}");
        let expected_calls = if broken { 1 } else { 2 };
        assert_eq!(h.stats().calls_of("bk_login.get_user"), expected_calls);
        if broken {
            let source = std::error::Error::source(&e).expect("the provider's error");
            assert!(source.to_string().contains("refused"), "{source}");
        }
    }
}
