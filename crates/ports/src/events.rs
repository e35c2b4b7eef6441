//! Outbox events: what the WebSocket pushes, written in the same transaction as the change.

use j0_domain::{EventId, UserId};
use time::OffsetDateTime;

/// One stored event for one audience.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    /// Increasing id, the `since` cursor of a resuming client.
    pub id: EventId,
    /// `job.posted`, `job.accepted`, `job.completed`, `job.timeout`, `balance.updated`.
    pub event: String,
    /// The one user it is addressed to, or `None` for every connected client.
    pub recipient: Option<UserId>,
    /// The event's `data`, exactly as the recipient may see it.
    pub data: serde_json::Value,
    /// When the change committed, whole seconds.
    pub created_at: OffsetDateTime,
}
