//! `bk-example-web-app`: serves the example web app ([`bk_example_web_app::app`]).
//!
//! Against a BlueKing deployment the client comes from the environment
//! (`bk_runtime::ClientBuilder::from_env`: `BK_COMPONENT_API_URL`, `BK_APP_CODE`,
//! `BK_APP_SECRET`, `BK_USERNAME`, ...). With `--sim` (or `BK_EXAMPLE_SIM=1`) an embedded
//! bk-sim is started on loopback instead, and the app also serves a stand-in login page
//! (`/sim-login`) that sets a simulator `bk_token` cookie, so the whole flow works in a
//! browser without BlueKing.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bk_example_web_app::{app, WebConfig};
use bk_runtime::{ClientBuilder, UserAuth};
use bk_sim::{SimConfig, SimHandle, StateConfig};
use clap::Parser;
use serde::Deserialize;

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "An axum web app on BlueKing: login, CC host lookup, JOB runs")]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "BK_EXAMPLE_LISTEN", default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// Start an embedded bk-sim on loopback instead of using BK_COMPONENT_API_URL.
    #[arg(long, env = "BK_EXAMPLE_SIM")]
    sim: bool,
    /// The BlueKing login page (ignored with --sim).
    #[arg(long, env = "BK_LOGIN_URL")]
    login_url: Option<String>,
    /// The app's public URL, for the login redirect (default: from the Host header).
    #[arg(long, env = "BK_APP_PUBLIC_URL")]
    public_url: Option<String>,
}

/// Query of the simulator's stand-in login page.
#[derive(Debug, Deserialize)]
struct SimLogin {
    c_url: Option<String>,
    user: Option<String>,
}

#[derive(Clone)]
struct SimLoginState {
    sim: SimHandle,
    base: String,
}

/// Logs `user` (default `admin`) into the simulator and goes back to `c_url` when it is
/// a URL of this app (anything else goes to `/`: no open redirect).
async fn sim_login(State(st): State<SimLoginState>, Query(q): Query<SimLogin>) -> Response {
    let user = q.user.unwrap_or_else(|| st.sim.username().to_string());
    let token = st.sim.issue_token(&user);
    let back = q
        .c_url
        .filter(|u| u.starts_with(&format!("{}/", st.base)))
        .unwrap_or_else(|| "/".into());
    let cookie = HeaderValue::from_str(&format!("bk_token={token}; Path=/; HttpOnly"));
    let location = HeaderValue::from_str(&back);
    match (cookie, location) {
        (Ok(c), Ok(l)) => (
            StatusCode::FOUND,
            [(header::SET_COOKIE, c), (header::LOCATION, l)],
        )
            .into_response(),
        _ => (StatusCode::BAD_REQUEST, "bad login request").into_response(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let base = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", args.listen))
        .trim_end_matches('/')
        .to_string();

    let mut extra: Router = Router::new();
    let mut _sim = None;
    let (builder, login_url) = if args.sim {
        let sim = bk_sim::spawn(SimConfig {
            state: StateConfig {
                hosts: 200,
                ..StateConfig::default()
            },
            ..SimConfig::default()
        })?;
        let h = sim.handle();
        tracing::info!(url = %sim.url(), "embedded bk-sim started");
        let builder = ClientBuilder::new()
            .endpoint(sim.url())
            .app_code(h.app_code())
            .app_secret(h.app_secret())
            .user(UserAuth::BkUsername(h.username().to_string()));
        extra = Router::new()
            .route("/sim-login", get(sim_login))
            .with_state(SimLoginState {
                sim: h,
                base: base.clone(),
            });
        _sim = Some(sim);
        (builder, format!("{base}/sim-login"))
    } else {
        let login = args
            .login_url
            .clone()
            .ok_or("set BK_LOGIN_URL (or --login-url) to the BlueKing login page")?;
        (ClientBuilder::from_env()?, login)
    };
    let client = builder.build()?;
    let cfg = WebConfig {
        login_url,
        public_url: Some(base.clone()),
        login_ttl: Duration::from_secs(60),
    };
    let router = app(&client, &cfg).merge(extra);
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    tracing::info!("listening on {base}");
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
