//! Shared helpers for the workspace-level integration tests.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::IntoResponse;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// HTTP method.
    pub method: Method,
    /// Path and query.
    pub uri: Uri,
    /// Headers.
    pub headers: HeaderMap,
    /// Raw body.
    pub body: Bytes,
}

impl Recorded {
    /// The body as JSON (`Null` when empty or not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The query string as sorted `(key, value)` pairs, percent-decoded.
    pub fn query(&self) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(self.uri.query().unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        pairs.sort();
        pairs
    }
}

/// A loopback HTTP server that records every request and answers with a fixed body.
pub struct Recorder {
    /// Base URL (`http://127.0.0.1:port`).
    pub url: String,
    seen: Arc<Mutex<Vec<Recorded>>>,
}

impl Recorder {
    /// Starts a server answering every request with `status` and `body` (JSON).
    pub async fn start(body: serde_json::Value) -> Recorder {
        let seen: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let state = (seen.clone(), Arc::new(body.to_string()));
        let app = axum::Router::new().fallback(record).with_state(state);
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Recorder { url, seen }
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.seen.lock().unwrap().clone()
    }
}

type Shared = (Arc<Mutex<Vec<Recorded>>>, Arc<String>);

async fn record(
    State((seen, body)): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    bytes: Bytes,
) -> impl IntoResponse {
    seen.lock().unwrap().push(Recorded {
        method,
        uri,
        headers,
        body: bytes,
    });
    (
        [
            ("content-type", "application/json"),
            ("x-bkapi-request-id", "0123456789abcdef0123456789abcdef"),
        ],
        body.as_str().to_string(),
    )
}
