//! Create an ITSM ticket and wait until it reaches a terminal status.
//!
//! A ticket is over when its status is `FINISHED`, `TERMINATED` or `REVOKED`
//! (`PROTOCOL.md` 6). [`Itsm::wait_ticket`](crate::Itsm::wait_ticket) polls `get_ticket_status` with a delay that starts at
//! [`WaitOptions::initial_delay`] and grows by half up to [`WaitOptions::max_delay`], until a
//! terminal status or the overall [`WaitOptions::timeout`].
//!
//! ```no_run
//! use bk_itsm::types::Field;
//! use bk_itsm::wait::WaitOptions;
//! use bk_itsm::ItsmExt;
//!
//! # async fn demo(client: bk_runtime::Client) -> Result<(), bk_itsm::wait::WaitError> {
//! let fields = vec![Field { key: "title".into(), value: serde_json::json!("deploy v2") }];
//! let create = client.itsm().create_ticket("admin", fields).service_id(7);
//! let done = client.itsm().create_and_wait(create, WaitOptions::default()).await?;
//! println!("{} ended {:?}", done.sn, done.status);
//! # Ok(()) }
//! ```

use std::fmt;
use std::time::{Duration, Instant};

use crate::types::TicketStatus;
use crate::{CreateTicket, GetTicketStatusResponse, Itsm};

/// Whether a ticket status is terminal: `FINISHED`, `TERMINATED` or `REVOKED`.
pub fn is_terminal(status: &TicketStatus) -> bool {
    matches!(
        status,
        TicketStatus::Finished | TicketStatus::Terminated | TicketStatus::Revoked
    )
}

/// How to wait for a ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitOptions {
    /// First delay between two polls (default 1 s).
    pub initial_delay: Duration,
    /// Longest delay between two polls (default 10 s).
    pub max_delay: Duration,
    /// Give up after this long (default 24 h: approvals wait for people); `None`: forever.
    pub timeout: Option<Duration>,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            timeout: Some(Duration::from_secs(24 * 3600)),
        }
    }
}

/// A ticket that reached a terminal status.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketDone {
    /// Ticket number.
    pub sn: String,
    /// The terminal status.
    pub status: TicketStatus,
    /// Link to the ticket, when known.
    pub ticket_url: Option<String>,
    /// The last status answer, whole.
    pub last: GetTicketStatusResponse,
    /// Polls made.
    pub polls: u32,
    /// Time spent waiting.
    pub elapsed: Duration,
}

impl TicketDone {
    /// `true` when the ticket ended `FINISHED` (which for an approval ticket does not by
    /// itself mean "approved": see `ticket_approval_result`).
    pub fn finished(&self) -> bool {
        self.status == TicketStatus::Finished
    }
}

/// Why waiting failed.
#[derive(Debug)]
pub enum WaitError {
    /// An API call failed.
    Api(bk_runtime::Error),
    /// No terminal status within the timeout.
    Timeout {
        /// Ticket number.
        sn: String,
        /// The last status seen.
        last_status: Option<TicketStatus>,
        /// Time waited.
        elapsed: Duration,
    },
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitError::Api(e) => write!(f, "{e}"),
            WaitError::Timeout {
                sn,
                last_status,
                elapsed,
            } => write!(
                f,
                "ticket {sn} did not end within {elapsed:?} (last status {last_status:?})"
            ),
        }
    }
}

impl std::error::Error for WaitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WaitError::Api(e) => Some(e),
            WaitError::Timeout { .. } => None,
        }
    }
}

impl From<bk_runtime::Error> for WaitError {
    fn from(e: bk_runtime::Error) -> Self {
        WaitError::Api(e)
    }
}

impl Itsm {
    /// Sends `create` (a `create_ticket` call set up as usual) and waits for the ticket to
    /// reach a terminal status.
    pub async fn create_and_wait(
        &self,
        create: CreateTicket,
        opts: WaitOptions,
    ) -> Result<TicketDone, WaitError> {
        let t = create.send().await?;
        self.wait_ticket(&t.sn, &opts).await
    }

    /// Waits for the ticket `sn` to reach a terminal status.
    pub async fn wait_ticket(&self, sn: &str, opts: &WaitOptions) -> Result<TicketDone, WaitError> {
        let started = Instant::now();
        let deadline = opts.timeout.map(|t| started + t);
        let mut delay = opts.initial_delay;
        let mut polls = 0u32;
        loop {
            let st = self.get_ticket_status(sn).send().await?;
            polls += 1;
            if is_terminal(&st.current_status) {
                return Ok(TicketDone {
                    sn: sn.to_string(),
                    status: st.current_status.clone(),
                    ticket_url: st.ticket_url.clone(),
                    last: st,
                    polls,
                    elapsed: started.elapsed(),
                });
            }
            let last_status = Some(st.current_status);
            let now = Instant::now();
            match deadline {
                Some(d) if now >= d => {
                    return Err(WaitError::Timeout {
                        sn: sn.to_string(),
                        last_status,
                        elapsed: started.elapsed(),
                    })
                }
                Some(d) => tokio::time::sleep(delay.min(d - now)).await,
                None => tokio::time::sleep(delay).await,
            }
            delay = delay
                .mul_f64(1.5)
                .min(opts.max_delay.max(opts.initial_delay));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_statuses() {
        assert!(is_terminal(&TicketStatus::Finished));
        assert!(is_terminal(&TicketStatus::Terminated));
        assert!(is_terminal(&TicketStatus::Revoked));
        assert!(!is_terminal(&TicketStatus::Running));
        assert!(!is_terminal(&TicketStatus::Suspended));
        assert!(!is_terminal(&TicketStatus::Unknown("X".into())));
    }
}
