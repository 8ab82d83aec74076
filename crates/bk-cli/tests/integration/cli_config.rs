//! `bk configure` writes profiles from piped answers; `--profile`, the environment and the
//! flags override each other in the documented order; secrets are never printed.

use crate::common;

use common::{run_with_input, Env, Run};

fn answers(env: &Env, secret: &str) -> String {
    let h = env.sim.handle();
    // endpoint, app code, app secret, user name, bk_token, API version, auth mode
    format!(
        "{}\n{}\n{secret}\nadmin\n\nv2\nheader\n",
        env.sim.url(),
        h.app_code()
    )
}

#[test]
fn configure_writes_a_profile_that_calls_use() {
    let env = Env::new(10);
    let secret = env.sim.handle().app_secret().to_string();
    let r = run_with_input(
        env.bare().args(["configure", "--profile", "sim"]),
        &answers(&env, &secret),
    )
    .ok();
    assert!(
        !r.stdout.contains(&secret) && !r.stderr.contains(&secret),
        "{r:#?}"
    );
    let text = std::fs::read_to_string(env.config_file()).expect("profile file written");
    assert!(text.contains("[profiles.sim]"), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.config_file())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // --show masks the secret.
    let r = Run::from(
        env.bare()
            .args(["configure", "--profile", "sim", "--show"])
            .output()
            .unwrap(),
    )
    .ok();
    assert!(r.stdout.contains("app_secret = \"***\""), "{r:#?}");
    assert!(r.stdout.contains(env.sim.url().as_str()), "{r:#?}");
    assert!(!r.stdout.contains(&secret), "{r:#?}");

    // The profile alone is enough, by flag or by BK_PROFILE.
    let r = Run::from(
        env.bare()
            .args(["bk_login", "get_user", "--profile", "sim"])
            .output()
            .unwrap(),
    )
    .ok();
    assert_eq!(r.json()["bk_username"], "admin");
    let r = Run::from(
        env.bare()
            .env("BK_PROFILE", "sim")
            .args(["cc", "search_business"])
            .output()
            .unwrap(),
    )
    .ok();
    assert!(r.json()["count"].is_u64());

    // Without --profile, `default` is used, and there is none: no endpoint.
    let r = Run::from(env.bare().args(["bk_login", "get_user"]).output().unwrap());
    assert_eq!(r.code, 2, "{r:#?}");

    // A profile that does not exist.
    let r = Run::from(
        env.bare()
            .args(["bk_login", "get_user", "--profile", "nope"])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 2, "{r:#?}");
    assert!(r.stderr.contains("\"nope\""), "{r:#?}");

    // Reconfiguring: Enter keeps a value, `-` clears it.
    run_with_input(
        env.bare().args(["configure", "--profile", "sim"]),
        "\n\n\n-\n\n\n\n",
    )
    .ok();
    let r = Run::from(
        env.bare()
            .args(["configure", "--profile", "sim", "--show"])
            .output()
            .unwrap(),
    )
    .ok();
    assert!(r.stdout.contains("# username is not set"), "{r:#?}");
    assert!(r.stdout.contains("app_secret = \"***\""), "{r:#?}");
}

#[test]
fn flags_beat_environment_beat_profile() {
    let env = Env::new(10);
    let h = env.sim.handle();
    let secret = h.app_secret().to_string();
    // The default profile, with a wrong secret.
    run_with_input(env.bare().arg("configure"), &answers(&env, "wrong-secret")).ok();

    // Profile only: its wrong secret is used.
    let r = Run::from(env.bare().args(["bk_login", "get_user"]).output().unwrap());
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(!r.stderr.contains("wrong-secret"), "secret echoed: {r:#?}");

    // The environment beats the profile.
    let r = Run::from(
        env.bare()
            .env("BK_APP_SECRET", &secret)
            .args(["bk_login", "get_user"])
            .output()
            .unwrap(),
    )
    .ok();
    assert_eq!(r.json()["bk_username"], "admin");

    // A flag beats the environment (and the profile).
    let r = Run::from(
        env.bare()
            .env("BK_APP_SECRET", "also-wrong")
            .args(["bk_login", "get_user", "--app-secret", &secret])
            .output()
            .unwrap(),
    )
    .ok();
    assert_eq!(r.json()["bk_username"], "admin");
    let r = Run::from(
        env.bare()
            .env("BK_APP_SECRET", &secret)
            .args(["bk_login", "get_user", "--endpoint", "http://127.0.0.1:9"])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 1, "the flag's endpoint was used: {r:#?}");

    // The user: the environment's user beats the profile's.
    let r = Run::from(
        env.bare()
            .env("BK_APP_SECRET", &secret)
            .env("BK_USERNAME", "nobody-here")
            .args(["bk_login", "get_user"])
            .output()
            .unwrap(),
    );
    let last = h.requests().pop().expect("a request");
    assert_eq!(last.username.as_deref(), Some("nobody-here"), "{r:#?}");
}

#[test]
fn configure_flags_are_not_prompted_for() {
    let env = Env::new(5);
    let h = env.sim.handle();
    // Only the secret, user name, bk_token and auth mode are asked.
    let input = format!("{}\nadmin\n\n\n", h.app_secret());
    run_with_input(
        env.bare().args([
            "configure",
            "--endpoint",
            env.sim.url().as_str(),
            "--app-code",
            h.app_code(),
            "--api-version",
            "v2",
        ]),
        &input,
    )
    .ok();
    let r = Run::from(env.bare().args(["configure", "--show"]).output().unwrap()).ok();
    assert!(r.stdout.contains("api_version = \"v2\""), "{r:#?}");
    assert!(r.stdout.contains("username = \"admin\""), "{r:#?}");
    assert!(r.stdout.contains("# auth_mode is not set"), "{r:#?}");
    let r = Run::from(env.bare().args(["bk-login", "get-user"]).output().unwrap()).ok();
    assert_eq!(r.json()["bk_username"], "admin");

    // A bad value is refused (exit 2) and nothing is written.
    let before = std::fs::read_to_string(env.config_file()).unwrap();
    let r = run_with_input(
        env.bare().args(["configure", "--profile", "bad"]),
        "not-a-url\n\n\n\n\n\n\n",
    );
    assert_eq!(r.code, 2, "{r:#?}");
    assert_eq!(std::fs::read_to_string(env.config_file()).unwrap(), before);
}
