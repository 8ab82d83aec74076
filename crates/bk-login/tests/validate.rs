//! Validating `bk_token`s against bk-sim, with the TTL cache.

use std::time::Duration;

use bk_login::validate::LoginValidator;
use bk_runtime::Client;
use bk_sim::{Sim, SimConfig, StateConfig};

fn start() -> Sim {
    bk_sim::spawn(SimConfig {
        state: StateConfig {
            hosts: 20,
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

fn login_calls(sim: &Sim) -> u64 {
    let s = sim.handle().stats();
    s.executions_of("bk_login.is_login") + s.executions_of("bk_login.get_user")
}

#[tokio::test]
async fn token_becomes_a_user_and_is_cached_briefly() {
    let sim = start();
    let c = client(&sim);
    let token = sim.handle().issue_token("alice");
    let v = LoginValidator::new(&c).ttl(Duration::from_millis(300));
    sim.handle().reset_stats();

    let u = v.validate(&token).await.expect("valid token");
    assert_eq!(u.bk_username, "alice");
    assert!(u.email.as_deref().unwrap_or("").starts_with("alice@"));
    assert_eq!(login_calls(&sim), 2, "is_login + get_user");

    for _ in 0..5 {
        assert_eq!(v.validate(&token).await.unwrap().bk_username, "alice");
    }
    assert_eq!(login_calls(&sim), 2, "served from the cache");
    assert!(
        !format!("{v:?}").contains(&token),
        "tokens stay out of Debug"
    );

    tokio::time::sleep(Duration::from_millis(350)).await;
    v.validate(&token).await.unwrap();
    assert_eq!(login_calls(&sim), 4, "asked again after the TTL");

    v.invalidate(&token);
    assert_eq!(v.cached(), 0);
}

#[tokio::test]
async fn invalid_tokens_fail_every_time_and_the_cache_is_bounded() {
    let sim = start();
    let c = client(&sim);
    let v = LoginValidator::new(&c).max_entries(2);
    for _ in 0..2 {
        let e = v.validate("bksim-forged").await.expect_err("invalid");
        assert_eq!(e.code(), Some(1306000), "{e}");
    }
    assert_eq!(v.cached(), 0, "failures are not cached");
    for user in ["alice", "bob", "admin"] {
        let t = sim.handle().issue_token(user);
        assert_eq!(v.validate(&t).await.unwrap().bk_username, user);
    }
    assert_eq!(v.cached(), 2);
}
