//! Test harness: a real HTTP server on loopback that records every raw
//! request and answers with a scripted reply.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use bk_runtime::{ApiMeta, Client, ClientBuilder, Error, ErrorKind, Method, TimeoutKind};
use serde_json::Value;

pub const APP_CODE: &str = "test-app";
pub const APP_SECRET: &str = "app-secret-5a1b2c3d";
pub const BK_TOKEN: &str = "bk-token-9f8e7d6c";
pub const ACCESS_TOKEN: &str = "access-token-1q2w3e4r";

/// One request as received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Recorded {
    /// Decoded query pairs in wire order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        match &self.query {
            Some(q) => url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect(),
            None => Vec::new(),
        }
    }
    pub fn query_map(&self) -> serde_json::Map<String, Value> {
        self.query_pairs()
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect()
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }
    pub fn body_str(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
    pub fn body_json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A scripted reply.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn json(body: Value) -> Self {
        Reply {
            status: 200,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }
    pub fn ok(data: Value) -> Self {
        Reply::json(serde_json::json!({
            "result": true, "code": 0, "message": "", "data": data,
            "request_id": "0123456789abcdef0123456789abcdef"
        }))
    }
    pub fn raw(status: u16, content_type: &str, body: &str) -> Self {
        Reply {
            status,
            headers: vec![("content-type", content_type.to_owned())],
            body: body.to_owned(),
            delay: Duration::ZERO,
        }
    }
    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

type Responder = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

#[derive(Clone)]
struct AppState {
    log: Arc<Mutex<Vec<Recorded>>>,
    responder: Responder,
}

/// A running recording server.
pub struct Server {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<Recorded>>>,
}

impl Server {
    /// Starts a server answering every request with `responder(request)`.
    pub async fn start(responder: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Server {
        let log = Arc::new(Mutex::new(Vec::new()));
        let state = AppState {
            log: log.clone(),
            responder: Arc::new(responder),
        };
        let app = Router::new().fallback(handle).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Server { addr, log }
    }

    /// Starts a server that always gives `reply`.
    pub async fn reply(reply: Reply) -> Server {
        Server::start(move |_| reply.clone()).await
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    pub fn last(&self) -> Recorded {
        self.requests().pop().expect("no request received")
    }

    /// A builder pointed at this server with test credentials.
    pub fn builder(&self) -> ClientBuilder {
        Client::builder()
            .endpoint(self.url())
            .app_code(APP_CODE)
            .app_secret(APP_SECRET)
    }
}

async fn handle(State(state): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default()
        .to_vec();
    let rec = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
    };
    state.log.lock().unwrap().push(rec.clone());
    let reply = (state.responder)(&rec);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut headers = HeaderMap::new();
    for (k, v) in &reply.headers {
        headers.append(
            HeaderName::from_static(k),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    (
        StatusCode::from_u16(reply.status).unwrap(),
        headers,
        Body::from(reply.body),
    )
        .into_response()
}

pub const GET_API: ApiMeta = ApiMeta {
    component: "bk_login",
    name: "get_user",
    method: Method::Get,
    path: "/api/c/compapi{bk_api_ver}/bk_login/get_user/",
    idempotent: true,
    sensitive: &[],
    cache_ttl_secs: None,
};

pub const POST_API: ApiMeta = ApiMeta {
    component: "cc",
    name: "list_biz_hosts_topo",
    method: Method::Post,
    path: "/api/c/compapi{bk_api_ver}/cc/list_biz_hosts_topo/",
    idempotent: true,
    sensitive: &["password"],
    cache_ttl_secs: None,
};

/// `(possibly_sent, message)` of a transport error; fails the test on any other kind.
pub fn transport_failure(e: &Error) -> (bool, &str) {
    match e.kind() {
        ErrorKind::Transport {
            possibly_sent,
            message,
        } => (*possibly_sent, message.as_str()),
        k => panic!("expected Transport, got {k:?} ({e})"),
    }
}

/// `(which, after)` of a timeout error; fails the test on any other kind.
pub fn timeout_of(e: &Error) -> (TimeoutKind, Duration) {
    match e.kind() {
        ErrorKind::Timeout { which, after } => (*which, *after),
        k => panic!("expected Timeout, got {k:?} ({e})"),
    }
}
