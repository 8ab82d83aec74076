//! Receiving ITSM approval callbacks in an axum app (cargo feature `callback`).
//!
//! A ticket created with `meta.callback_url` makes ITSM POST a JSON body to that URL when
//! the ticket reaches its approval result (`PROTOCOL.md` 6):
//! `{title, current_status, sn, ticket_url, update_at, updated_by, approve_result, token,
//! last_approver}`. Anyone who can reach the URL could send such a body, so the receiver
//! asks ITSM whether the `token` is one it issued (`token/verify`, through the typed
//! client) before it believes a word of it.
//!
//! [`ApprovalCallback`] is that receiver. Mount [`ApprovalCallback::router`] at the path you
//! give ITSM; each verified callback becomes an [`ApprovalEvent`] handed to the app in one
//! of two ways, chosen when the receiver is built:
//!
//! - a channel ([`ApprovalCallback::channel`]): events queue in a bounded
//!   `tokio::sync::mpsc` channel and the app reads the [`mpsc::Receiver`] at its own pace;
//!   ITSM gets its 200 once the event is queued;
//! - an async handler ([`ApprovalCallback::handler`]): the handler runs before ITSM gets its
//!   answer; an `Err` answers 500, so ITSM records the callback as failed and it can be sent
//!   again (`callback_failed_ticket`).
//!
//! Independently of both, [`ApprovalCallback::wait_event`] waits for the terminal event of
//! one ticket, and [`Itsm::create_and_wait_via_callback`] creates a ticket pointing at the
//! receiver and waits for its end: the push counterpart of [`Itsm::create_and_wait`], which
//! polls. Use polling when ITSM cannot reach your app.
//!
//! What the receiver answers:
//!
//! | case | status | body |
//! |---|---|---|
//! | verified and delivered | 200 | `{"result": true, "code": 0, "message": "success", "data": null}` |
//! | body is not a JSON object, or `sn` / `current_status` missing or mistyped | 400 | `{"result": false, "code": 400, "message": <what is wrong>}` |
//! | no `token` | 401 | `{"result": false, "code": 401, ...}` |
//! | ITSM says the token is not its own (`is_passed: false`) | 403 | `{"result": false, "code": 403, ...}` |
//! | `token/verify` failed (ITSM unreachable, API error) | 503 | with the ITSM `request_id` when known |
//! | the channel is closed or stays full for [`ApprovalCallback::send_timeout`] | 503 | |
//! | the handler returned `Err` | 500 | |
//!
//! Nothing from the body is echoed back, and the callback token is never logged, kept in
//! [`ApprovalEvent::raw`] or shown in `Debug` output. ITSM may send a ticket's callback
//! again (retries, `callback_failed_ticket`): make what you do with an event idempotent.
//!
//! ```no_run
//! use bk_itsm::callback::ApprovalCallback;
//!
//! # async fn demo(client: bk_runtime::Client) -> std::io::Result<()> {
//! let (callback, mut events) = ApprovalCallback::new(&client).channel(64);
//! let app = axum::Router::new().merge(callback.router("/itsm/callback"));
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8000").await?;
//! tokio::spawn(async move { axum::serve(listener, app).await });
//! while let Some(ev) = events.recv().await {
//!     println!("{} {}: approved={:?} by {:?}", ev.sn, ev.current_status, ev.approve_result, ev.approver);
//! }
//! # Ok(()) }
//! ```

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, oneshot};

use crate::types::TicketStatus;
use crate::wait::{is_terminal, WaitError};
use crate::{CreateTicket, Itsm, TicketMeta};

/// Default time a callback waits for room in a full channel before answering 503.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// How many recent terminal events [`ApprovalCallback::wait_event`] can still find after
/// they arrived.
pub const RECENT_EVENTS: usize = 1024;

/// One verified approval callback.
#[derive(Clone, PartialEq)]
pub struct ApprovalEvent {
    /// Ticket number (`sn`).
    pub sn: String,
    /// Ticket title.
    pub title: String,
    /// The ticket's status when the callback was sent (`FINISHED`, `TERMINATED`, `REVOKED`
    /// for a ticket that ended).
    pub current_status: TicketStatus,
    /// The approval result: `Some(true)` approved, `Some(false)` rejected (or ended
    /// otherwise), `None` when ITSM sent none or an empty value.
    pub approve_result: Option<bool>,
    /// Who decided: `last_approver`, or `updated_by` when ITSM sent no approver.
    pub approver: Option<String>,
    /// Who last updated the ticket (`updated_by`).
    pub updated_by: Option<String>,
    /// When the ticket was last updated (`update_at`, ITSM's local time text).
    pub update_at: Option<String>,
    /// Link to the ticket.
    pub ticket_url: Option<String>,
    /// An approval message, when the sender includes one (`message`, else
    /// `approve_message`). ITSM's documented payload has no such field, so this is usually
    /// `None`; read the ticket's logs (`get_ticket_logs`) for the approvers' comments.
    pub message: Option<String>,
    /// The whole body as received, except `token` (removed so that the event can be logged
    /// and stored safely).
    pub raw: Value,
}

impl fmt::Debug for ApprovalEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApprovalEvent")
            .field("sn", &self.sn)
            .field("title", &self.title)
            .field("current_status", &self.current_status)
            .field("approve_result", &self.approve_result)
            .field("approver", &self.approver)
            .field("updated_by", &self.updated_by)
            .field("update_at", &self.update_at)
            .field("ticket_url", &self.ticket_url)
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

impl ApprovalEvent {
    /// Whether the ticket has ended (`FINISHED`, `TERMINATED` or `REVOKED`).
    pub fn is_terminal(&self) -> bool {
        is_terminal(&self.current_status)
    }

    /// Whether the ticket ended approved: `FINISHED` with `approve_result` true.
    pub fn approved(&self) -> bool {
        self.current_status == TicketStatus::Finished && self.approve_result == Some(true)
    }
}

/// Why a callback body could not be read (answered with 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedCallback(pub String);

impl fmt::Display for MalformedCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed ITSM callback: {}", self.0)
    }
}

impl std::error::Error for MalformedCallback {}

/// A parsed, not yet verified callback: the event and the token to verify.
pub struct ParsedCallback {
    /// The event, to be trusted only once the token verifies.
    pub event: ApprovalEvent,
    /// The callback token (`None` when absent or empty).
    pub token: Option<String>,
}

impl fmt::Debug for ParsedCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedCallback")
            .field("event", &self.event)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

fn opt_text(m: &Map<String, Value>, key: &str) -> Result<Option<String>, MalformedCallback> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(MalformedCallback(format!("`{key}` must be a string"))),
    }
}

fn approve_result(v: Option<&Value>) -> Result<Option<bool>, MalformedCallback> {
    let bad = || MalformedCallback("`approve_result` must be a boolean".into());
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            _ => Err(bad()),
        },
        Some(Value::Number(n)) => match n.as_i64() {
            Some(1) => Ok(Some(true)),
            Some(0) => Ok(Some(false)),
            _ => Err(bad()),
        },
        Some(_) => Err(bad()),
    }
}

/// Reads a callback body. Lenient where ITSM versions differ (`approve_result` as a bool,
/// `"true"`/`"false"`/`""` or 0/1; numbers where text is expected); strict about what an
/// event cannot do without: a JSON object with a non-empty `sn` and `current_status`.
pub fn parse_callback(body: &[u8]) -> Result<ParsedCallback, MalformedCallback> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| MalformedCallback(format!("the body is not JSON ({e})")))?;
    let Value::Object(mut m) = v else {
        return Err(MalformedCallback("the body is not a JSON object".into()));
    };
    let token = match m.remove("token") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(MalformedCallback("`token` must be a string".into())),
    };
    let sn = opt_text(&m, "sn")?.ok_or_else(|| MalformedCallback("`sn` is missing".into()))?;
    let status = match m.get("current_status") {
        Some(Value::String(s)) if !s.trim().is_empty() => TicketStatus::from(s.trim()),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(MalformedCallback("`current_status` is missing".into()))
        }
        Some(_) => {
            return Err(MalformedCallback(
                "`current_status` must be a string".into(),
            ))
        }
    };
    let updated_by = opt_text(&m, "updated_by")?;
    let approver = opt_text(&m, "last_approver")?.or_else(|| updated_by.clone());
    let message = match opt_text(&m, "message")? {
        Some(s) => Some(s),
        None => opt_text(&m, "approve_message")?,
    };
    let event = ApprovalEvent {
        sn,
        title: opt_text(&m, "title")?.unwrap_or_default(),
        current_status: status,
        approve_result: approve_result(m.get("approve_result"))?,
        approver,
        updated_by,
        update_at: opt_text(&m, "update_at")?,
        ticket_url: opt_text(&m, "ticket_url")?,
        message,
        raw: Value::Object(m),
    };
    Ok(ParsedCallback { event, token })
}

/// The result of an event handler: `Err` answers ITSM with 500.
pub type HandlerResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

type BoxFuture = Pin<Box<dyn Future<Output = HandlerResult> + Send>>;
type HandlerFn = Arc<dyn Fn(ApprovalEvent) -> BoxFuture + Send + Sync>;

#[derive(Clone)]
enum Sink {
    /// Only waiters ([`ApprovalCallback::wait_event`]) see events.
    None,
    Channel(mpsc::Sender<ApprovalEvent>),
    Handler(HandlerFn),
}

#[derive(Default)]
struct Waiters {
    /// Waiters by ticket number.
    by_sn: HashMap<String, Vec<oneshot::Sender<ApprovalEvent>>>,
    /// Recent terminal events, oldest first (at most [`RECENT_EVENTS`]).
    recent: VecDeque<ApprovalEvent>,
}

/// The ITSM approval callback receiver; see the [module docs](self). Cheap to clone:
/// clones share the sink and the waiters.
#[derive(Clone)]
pub struct ApprovalCallback {
    itsm: Itsm,
    sink: Sink,
    send_timeout: Duration,
    waiters: Arc<Mutex<Waiters>>,
}

impl fmt::Debug for ApprovalCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sink = match self.sink {
            Sink::None => "waiters only",
            Sink::Channel(_) => "channel",
            Sink::Handler(_) => "handler",
        };
        f.debug_struct("ApprovalCallback")
            .field("sink", &sink)
            .field("send_timeout", &self.send_timeout)
            .finish_non_exhaustive()
    }
}

/// A JSON answer in the BlueKing envelope shape.
fn answer(status: StatusCode, message: &str, request_id: Option<&str>) -> Response {
    let mut body = json!({
        "result": status.is_success(),
        "code": if status.is_success() { 0 } else { status.as_u16() },
        "message": message,
        "data": null,
    });
    if let Some(id) = request_id {
        body["request_id"] = json!(id);
    }
    (status, Json(body)).into_response()
}

impl ApprovalCallback {
    /// A receiver that verifies tokens through `client` (the app's credentials). Events
    /// reach only [`ApprovalCallback::wait_event`] until a channel or handler is set.
    pub fn new(client: &bk_runtime::Client) -> Self {
        ApprovalCallback {
            itsm: Itsm::new(client.clone()),
            sink: Sink::None,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            waiters: Arc::new(Mutex::new(Waiters::default())),
        }
    }

    /// Delivers verified events to a bounded channel of `capacity` (at least 1) and
    /// returns its receiving end. Replaces a handler set before.
    pub fn channel(mut self, capacity: usize) -> (Self, mpsc::Receiver<ApprovalEvent>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        self.sink = Sink::Channel(tx);
        (self, rx)
    }

    /// Runs `handler` for each verified event before answering ITSM (an `Err` answers
    /// 500). Replaces a channel set before.
    pub fn handler<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(ApprovalEvent) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        self.sink = Sink::Handler(Arc::new(move |ev| Box::pin(handler(ev))));
        self
    }

    /// How long a callback waits for room in a full channel before answering 503
    /// (default [`DEFAULT_SEND_TIMEOUT`]).
    pub fn send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// A router answering `POST path` (e.g. `"/itsm/callback"`), to merge into the app.
    pub fn router(&self, path: &str) -> Router {
        Router::new()
            .route(path, post(receive))
            .with_state(self.clone())
    }

    /// Handles one callback body: parse, verify, deliver, answer. For apps that mount the
    /// receiver themselves (the router calls this).
    pub async fn handle_body(&self, body: &[u8]) -> Response {
        let parsed = match parse_callback(body) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "itsm callback rejected");
                return answer(StatusCode::BAD_REQUEST, &e.to_string(), None);
            }
        };
        let ParsedCallback { event, token } = parsed;
        let Some(token) = token else {
            tracing::warn!(sn = %event.sn, "itsm callback without a token rejected");
            return answer(
                StatusCode::UNAUTHORIZED,
                "the callback has no token to verify",
                None,
            );
        };
        match self.itsm.token_verify(token).send().await {
            Ok(v) if v.is_passed => {}
            Ok(_) => {
                tracing::warn!(sn = %event.sn, "itsm callback with a token ITSM does not know rejected");
                return answer(
                    StatusCode::FORBIDDEN,
                    "ITSM did not verify the callback token",
                    None,
                );
            }
            Err(e) => {
                tracing::warn!(sn = %event.sn, error = %e, "itsm callback: token/verify failed");
                return answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "cannot verify the callback token with ITSM now; send it again later",
                    e.request_id(),
                );
            }
        }
        tracing::debug!(sn = %event.sn, status = %event.current_status, "itsm callback verified");
        self.notify_waiters(&event);
        match &self.sink {
            Sink::None => {}
            Sink::Channel(tx) => {
                match tokio::time::timeout(self.send_timeout, tx.send(event)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => {
                        tracing::warn!("itsm callback: the event channel is closed");
                        return answer(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "the app is not taking events",
                            None,
                        );
                    }
                    Err(_) => {
                        tracing::warn!("itsm callback: the event channel stayed full");
                        return answer(StatusCode::SERVICE_UNAVAILABLE, "the app is busy", None);
                    }
                }
            }
            Sink::Handler(h) => {
                let sn = event.sn.clone();
                if let Err(e) = h(event).await {
                    tracing::warn!(sn = %sn, error = %e, "itsm callback handler failed");
                    return answer(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the app could not process the callback",
                        None,
                    );
                }
            }
        }
        answer(StatusCode::OK, "success", None)
    }

    fn lock(&self) -> MutexGuard<'_, Waiters> {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn notify_waiters(&self, event: &ApprovalEvent) {
        if !event.is_terminal() {
            return;
        }
        let mut w = self.lock();
        if let Some(list) = w.by_sn.remove(&event.sn) {
            for tx in list {
                // A waiter that gave up is gone; nothing to do.
                let _ = tx.send(event.clone());
            }
        }
        w.recent.retain(|e| e.sn != event.sn);
        if w.recent.len() >= RECENT_EVENTS {
            w.recent.pop_front();
        }
        w.recent.push_back(event.clone());
    }

    /// Waits for the verified callback saying that ticket `sn` ended. Finds it also when it
    /// arrived before this call (among the last [`RECENT_EVENTS`] tickets). Errors with
    /// [`WaitError::Timeout`] (no last status) after `timeout`; `None` waits forever.
    pub async fn wait_event(
        &self,
        sn: &str,
        timeout: Option<Duration>,
    ) -> Result<ApprovalEvent, WaitError> {
        let started = Instant::now();
        let rx = {
            let mut w = self.lock();
            if let Some(e) = w.recent.iter().rev().find(|e| e.sn == sn) {
                return Ok(e.clone());
            }
            let (tx, rx) = oneshot::channel();
            let list = w.by_sn.entry(sn.to_string()).or_default();
            list.retain(|t| !t.is_closed());
            list.push(tx);
            rx
        };
        let got = match timeout {
            Some(t) => tokio::time::timeout(t, rx).await.ok(),
            None => Some(rx.await),
        };
        match got {
            Some(Ok(ev)) => Ok(ev),
            // Timed out, or (not possible while `self` lives) the sender was dropped.
            _ => {
                let mut w = self.lock();
                if let Some(list) = w.by_sn.get_mut(sn) {
                    list.retain(|t| !t.is_closed());
                    if list.is_empty() {
                        w.by_sn.remove(sn);
                    }
                }
                Err(WaitError::Timeout {
                    sn: sn.to_string(),
                    last_status: None,
                    elapsed: started.elapsed(),
                })
            }
        }
    }
}

async fn receive(State(cb): State<ApprovalCallback>, body: Bytes) -> Response {
    cb.handle_body(&body).await
}

impl Itsm {
    /// Sends `create` with `meta.callback_url` set to `callback_url` (other `meta` settings
    /// are kept) and waits for `callback` to receive the ticket's verified terminal event,
    /// at most `timeout` (`None`: forever). `callback_url` must be the public URL at which
    /// `callback`'s router is mounted.
    pub async fn create_and_wait_via_callback(
        &self,
        create: CreateTicket,
        callback: &ApprovalCallback,
        callback_url: &str,
        timeout: Option<Duration>,
    ) -> Result<ApprovalEvent, WaitError> {
        let mut meta: TicketMeta = create.request().meta.clone().unwrap_or_default();
        meta.callback_url = Some(callback_url.to_string());
        let t = create.meta(meta).send().await?;
        callback.wait_event(&t.sn, timeout).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_payload_and_drops_the_token() {
        let body = br#"{"title":"deploy","current_status":"FINISHED","sn":"NO1","ticket_url":"http://x/#/1",
            "update_at":"2024-01-01 10:00:00","updated_by":"alice","approve_result":true,
            "token":"s3cr3t-token","last_approver":"alice"}"#;
        let p = parse_callback(body).expect("parses");
        assert_eq!(p.token.as_deref(), Some("s3cr3t-token"));
        let e = p.event;
        assert_eq!(e.sn, "NO1");
        assert_eq!(e.current_status, TicketStatus::Finished);
        assert_eq!(e.approve_result, Some(true));
        assert_eq!(e.approver.as_deref(), Some("alice"));
        assert!(e.approved() && e.is_terminal());
        assert!(e.raw.get("token").is_none());
        assert_eq!(e.raw["title"], "deploy");
        assert!(!format!("{e:?}").contains("s3cr3t"));
    }

    #[test]
    fn lenient_values() {
        let p = parse_callback(
            br#"{"sn":"NO2","current_status":"REVOKED","approve_result":"","updated_by":"bob"}"#,
        )
        .unwrap();
        assert_eq!(p.token, None);
        assert_eq!(p.event.approve_result, None);
        assert_eq!(
            p.event.approver.as_deref(),
            Some("bob"),
            "falls back to updated_by"
        );
        let p = parse_callback(br#"{"sn":7,"current_status":"NEW_ONE","approve_result":"false"}"#)
            .unwrap();
        assert_eq!(p.event.sn, "7");
        assert_eq!(
            p.event.current_status,
            TicketStatus::Unknown("NEW_ONE".into())
        );
        assert_eq!(p.event.approve_result, Some(false));
    }

    #[test]
    fn malformed_bodies() {
        for body in [
            &b"not json"[..],
            b"[1,2]",
            b"{}",
            br#"{"sn":"NO1"}"#,
            br#"{"sn":"","current_status":"FINISHED"}"#,
            br#"{"sn":"NO1","current_status":3}"#,
            br#"{"sn":"NO1","current_status":"FINISHED","approve_result":"maybe"}"#,
            br#"{"sn":"NO1","current_status":"FINISHED","token":42}"#,
            br#"{"sn":{"a":1},"current_status":"FINISHED"}"#,
        ] {
            assert!(
                parse_callback(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
