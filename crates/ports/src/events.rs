//! Outbox events: what the WebSocket pushes, written in the same transaction as the change,
//! numbered once committed, and announced to every instance.

use std::pin::Pin;

use async_trait::async_trait;
use futures_core::Stream;
use time::OffsetDateTime;

use j0_domain::{EventId, UserId};

use crate::StoreError;

/// One stored event for one audience.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    /// Delivery id: increasing in the order events became visible; the `since` cursor.
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

/// What a resuming client can still be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventHorizon {
    /// The smallest delivery id still kept, if any event is kept.
    pub oldest_kept: Option<EventId>,
    /// The largest delivery id ever assigned (0 before the first).
    pub last_assigned: EventId,
}

impl EventHorizon {
    /// Whether a client that saw everything up to `since` has missed pruned events: the next
    /// event it needs, `since + 1`, is older than the oldest one kept (or, with none kept, was
    /// assigned at all).
    ///
    /// ```
    /// use j0_domain::EventId;
    /// use j0_ports::EventHorizon;
    ///
    /// let horizon = EventHorizon { oldest_kept: Some(EventId(10)), last_assigned: EventId(20) };
    /// assert!(!horizon.is_truncated_after(EventId(9)), "event 10 is still there");
    /// assert!(horizon.is_truncated_after(EventId(8)), "event 9 was pruned");
    /// let all_pruned = EventHorizon { oldest_kept: None, last_assigned: EventId(20) };
    /// assert!(!all_pruned.is_truncated_after(EventId(20)), "nothing was missed");
    /// assert!(all_pruned.is_truncated_after(EventId(19)));
    /// ```
    pub fn is_truncated_after(&self, since: EventId) -> bool {
        match self.oldest_kept {
            Some(oldest) => oldest.0 > since.0.saturating_add(1),
            None => self.last_assigned.0 > since.0,
        }
    }
}

/// What every instance hears on its listening connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Events up to this delivery id are readable.
    EventsUpTo(EventId),
    /// The token with this id was revoked (signed out) on some instance: sockets holding it
    /// must close.
    TokenRevoked(String),
}

/// A stream of [`Notice`]s; it ends when the listening connection is lost, and the listener
/// then re-reads events from its last seen id and re-checks the tokens of its sockets (notices
/// sent while nobody listened are not repeated).
pub type Notices = Pin<Box<dyn Stream<Item = Notice> + Send>>;

/// The outbox, read side and housekeeping.
#[async_trait]
pub trait EventStore: Send + Sync + std::fmt::Debug {
    /// Gives the next delivery ids to up to `batch` committed, unnumbered events, in the
    /// order they became visible, and announces the largest to every listener. Returns it.
    async fn sequence_events(&self, batch: i64) -> Result<Option<EventId>, StoreError>;

    /// Events with delivery ids above `after`, for every audience, oldest first.
    async fn events_after(
        &self,
        after: EventId,
        limit: i64,
    ) -> Result<Vec<OutboxEvent>, StoreError>;

    /// Events addressed to `user` (or to everyone) with delivery ids above `after`, oldest first.
    async fn events_for(
        &self,
        user: UserId,
        after: EventId,
        limit: i64,
    ) -> Result<Vec<OutboxEvent>, StoreError>;

    /// The oldest kept and the last assigned delivery id.
    async fn horizon(&self) -> Result<EventHorizon, StoreError>;

    /// Deletes numbered events created before `before`; returns how many.
    async fn prune_events(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}

/// Announcements shared by every instance: new events are readable (the notice carries only a
/// delivery id; the events themselves are read from the [`EventStore`]), and tokens were
/// revoked ([`crate::AuthStore::revoke_token`] announces each).
#[async_trait]
pub trait EventStream: Send + Sync + std::fmt::Debug {
    /// Starts listening on a connection of its own; the stream ends if that connection is lost.
    async fn listen(&self) -> Result<Notices, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_is_judged_against_the_oldest_kept_event() {
        let kept = EventHorizon {
            oldest_kept: Some(EventId(10)),
            last_assigned: EventId(20),
        };
        assert!(!kept.is_truncated_after(EventId(9)));
        assert!(!kept.is_truncated_after(EventId(15)));
        assert!(kept.is_truncated_after(EventId(8)));
        assert!(
            !kept.is_truncated_after(EventId(i64::MAX)),
            "the largest id must not wrap"
        );
        let empty = EventHorizon {
            oldest_kept: None,
            last_assigned: EventId(20),
        };
        assert!(!empty.is_truncated_after(EventId(20)));
        assert!(empty.is_truncated_after(EventId(19)));
    }
}
