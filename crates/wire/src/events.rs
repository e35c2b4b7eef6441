//! The WebSocket's messages (`GET /ws`), both ways.
//!
//! The server writes each event once into its outbox, as the domain rendered it
//! ([`j0_domain::event`]); these types read those messages back, so a client sees the same
//! views `GET /jobs/:id` and `GET /credits/balance` return.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use j0_domain::{Cents, EventId, job::Capability, time::serde_rfc3339, view::JobView};

use crate::BalanceView;

/// A message from the server: `{"id", "event", "data", "timestamp"}`. Acknowledgements and
/// notices (`subscribed`, `error`, `events.truncated`) carry no `id` or `timestamp`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerMessage {
    /// The event's delivery id; what `?since=` resumes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<EventId>,
    /// The event and its data.
    #[serde(flatten)]
    pub body: EventBody,
    /// When the change committed.
    #[serde(
        default,
        with = "serde_rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub timestamp: Option<OffsetDateTime>,
}

/// What a message says, by its `event` name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", content = "data")]
pub enum EventBody {
    /// A new job, as a non-participant sees it.
    #[serde(rename = "job.posted")]
    JobPosted(JobView),
    /// The requester's job was accepted.
    #[serde(rename = "job.accepted")]
    JobAccepted(JobView),
    /// A job was completed: the requester's copy has the result, the worker's also what it
    /// earned.
    #[serde(rename = "job.completed")]
    JobCompleted(CompletedEvent),
    /// A job timed out and was refunded.
    #[serde(rename = "job.timeout")]
    JobTimeout(JobView),
    /// The recipient's balance changed.
    #[serde(rename = "balance.updated")]
    BalanceUpdated(BalanceView),
    /// Events after `since` were pruned before this replay: resync over REST.
    #[serde(rename = "events.truncated")]
    EventsTruncated(Truncated),
    /// The answer to a [`ClientMessage::Subscribe`].
    #[serde(rename = "subscribed")]
    Subscribed(Subscribed),
    /// A client message was refused; nothing changed.
    #[serde(rename = "error")]
    Error(WsError),
}

/// The data of `job.completed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletedEvent {
    /// The job as the recipient sees it.
    #[serde(flatten)]
    pub job: JobView,
    /// What the worker earned; only in the worker's copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits_earned: Option<Cents>,
}

/// The data of `events.truncated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truncated {
    /// The `since` the client asked for.
    pub since: EventId,
    /// The oldest event still kept.
    pub oldest_id: Option<EventId>,
}

/// The data of `subscribed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscribed {
    /// The capabilities `job.posted` is now narrowed to; empty means all.
    pub capabilities: Vec<Capability>,
}

/// The data of `error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WsError {
    /// The contract's code, `VALIDATION_ERROR`.
    pub code: String,
    /// What was wrong.
    pub error: String,
}

/// A message from the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Narrow `job.posted` to these capabilities; empty means all. Replaces the last list.
    Subscribe {
        /// The capabilities.
        capabilities: Vec<Capability>,
    },
}
