//! The outbox's read side: the sequencer, replay queries, pruning and `LISTEN`.
//!
//! Job transactions only insert events; they never touch a shared row. The sequencer round
//! locks the one row of `event_sequencer` (so rounds never overlap), numbers the committed,
//! unnumbered events in `id` order with the following delivery ids, and `NOTIFY`s the largest.
//! Because only committed rows can be numbered, a delivery id is never assigned below one a
//! reader has already seen: a client resuming from its last id misses nothing.

use async_trait::async_trait;
use diesel::{
    prelude::*,
    sql_types::{BigInt, Jsonb, Nullable, Text, Timestamptz},
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;
use time::OffsetDateTime;

use j0_domain::{EventId, UserId};
use j0_ports::{
    EventHorizon, EventStore, EventStream, Notice, OutboxEvent, StoreError, events::Notices,
};

use crate::prepared::Prepare;
use crate::{PgStore, db_error};

/// The channel the sequencer announces on.
const CHANNEL: &str = "j0_events";
/// The channel revocations are announced on, the token id as payload.
pub(crate) const REVOCATIONS_CHANNEL: &str = "j0_revocations";
/// How the listening connection names itself in `pg_stat_activity`.
pub const LISTENER_APPLICATION_NAME: &str = "j0-events-listener";

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = Text)]
    event: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    recipient_id: Option<i64>,
    #[diesel(sql_type = Jsonb)]
    data: serde_json::Value,
    #[diesel(sql_type = Timestamptz)]
    created_at: OffsetDateTime,
}

impl From<Row> for OutboxEvent {
    fn from(r: Row) -> Self {
        OutboxEvent {
            id: EventId(r.seq),
            event: r.event,
            recipient: r.recipient_id.map(UserId),
            data: r.data,
            created_at: r.created_at,
        }
    }
}

#[derive(QueryableByName)]
struct MaxSeq {
    #[diesel(sql_type = Nullable<BigInt>)]
    max: Option<i64>,
}

#[derive(QueryableByName)]
struct Horizon {
    #[diesel(sql_type = Nullable<BigInt>)]
    oldest: Option<i64>,
    #[diesel(sql_type = BigInt)]
    last: i64,
}

const SEQUENCE: &str = "
WITH pending AS (
    SELECT id, row_number() OVER (ORDER BY id) AS n
    FROM (SELECT id FROM events WHERE seq IS NULL ORDER BY id LIMIT $1) p
), counter AS (
    UPDATE event_sequencer
    SET last_seq = last_seq + (SELECT count(*) FROM pending)
    RETURNING last_seq - (SELECT count(*) FROM pending) AS base
), numbered AS (
    UPDATE events e SET seq = counter.base + pending.n
    FROM pending, counter
    WHERE e.id = pending.id AND e.seq IS NULL
    RETURNING e.seq
)
SELECT max(seq) AS max FROM numbered";

impl PgStore {
    /// Numbered events after `after`, oldest first: every audience's, or only those `audience`
    /// may receive (its own and broadcasts).
    async fn numbered_events(
        &self,
        after: EventId,
        audience: Option<UserId>,
        limit: i64,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<Row> = diesel::sql_query(
            "SELECT seq, event, recipient_id, data, created_at FROM events
             WHERE seq > $1 AND ($2::int8 IS NULL OR recipient_id = $2 OR recipient_id IS NULL)
             ORDER BY seq LIMIT $3",
        )
        .bind::<BigInt, _>(after.0)
        .bind::<Nullable<BigInt>, _>(audience.map(UserId::get))
        .bind::<BigInt, _>(limit)
        .prepared()
        .load(&mut conn)
        .await
        .map_err(db_error)?;
        Ok(rows.into_iter().map(OutboxEvent::from).collect())
    }
}

#[async_trait]
impl EventStore for PgStore {
    async fn sequence_events(&self, batch: i64) -> Result<Option<EventId>, StoreError> {
        let mut conn = self.conn().await?;
        conn.transaction::<_, diesel::result::Error, _>(async |conn| {
            // Taking the counter row first makes concurrent rounds queue here, before they
            // choose their pending events, so each round sees the previous one's numbering.
            diesel::sql_query("SELECT last_seq FROM event_sequencer FOR UPDATE")
                .prepared()
                .execute(conn)
                .await?;
            let max: MaxSeq = diesel::sql_query(SEQUENCE)
                .bind::<BigInt, _>(batch)
                .prepared()
                .get_result(conn)
                .await?;
            if let Some(max) = max.max {
                diesel::sql_query("SELECT pg_notify($1, $2)")
                    .bind::<Text, _>(CHANNEL)
                    .bind::<Text, _>(max.to_string())
                    .prepared()
                    .execute(conn)
                    .await?;
            }
            Ok(max.max.map(EventId))
        })
        .await
        .map_err(db_error)
    }

    async fn events_after(
        &self,
        after: EventId,
        limit: i64,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        self.numbered_events(after, None, limit).await
    }

    async fn events_for(
        &self,
        user: UserId,
        after: EventId,
        limit: i64,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        self.numbered_events(after, Some(user), limit).await
    }

    async fn horizon(&self) -> Result<EventHorizon, StoreError> {
        let mut conn = self.conn().await?;
        let h: Horizon = diesel::sql_query(
            "SELECT (SELECT min(seq) FROM events WHERE seq IS NOT NULL) AS oldest,
                    (SELECT last_seq FROM event_sequencer) AS last",
        )
        .prepared()
        .get_result(&mut conn)
        .await
        .map_err(db_error)?;
        Ok(EventHorizon {
            oldest_kept: h.oldest.map(EventId),
            last_assigned: EventId(h.last),
        })
    }

    async fn prune_events(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let mut conn = self.conn().await?;
        let n = diesel::sql_query("DELETE FROM events WHERE seq IS NOT NULL AND created_at < $1")
            .bind::<Timestamptz, _>(before)
            .prepared()
            .execute(&mut conn)
            .await
            .map_err(db_error)?;
        Ok(n as u64)
    }
}

#[async_trait]
impl EventStream for PgStore {
    async fn listen(&self) -> Result<Notices, StoreError> {
        let mut conn = AsyncPgConnection::establish(&self.url)
            .await
            .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        diesel::sql_query(format!(
            "SET application_name = '{LISTENER_APPLICATION_NAME}'"
        ))
        .execute(&mut conn)
        .await
        .map_err(db_error)?;
        for channel in [CHANNEL, REVOCATIONS_CHANNEL] {
            diesel::sql_query(format!("LISTEN {channel}"))
                .execute(&mut conn)
                .await
                .map_err(db_error)?;
        }
        Ok(notices_of(conn))
    }
}

/// The connection's notifications as notices; the stream owns the connection and ends with it
/// (or on the first error).
fn notices_of(conn: AsyncPgConnection) -> Notices {
    let stream = futures_util::stream::unfold(conn, |mut conn| async move {
        let next = {
            let mut notifications = std::pin::pin!(conn.notifications_stream());
            notifications.next().await
        };
        match next {
            Some(Ok(n)) if n.channel == REVOCATIONS_CHANNEL => {
                Some((Notice::TokenRevoked(n.payload), conn))
            }
            Some(Ok(n)) => Some((
                Notice::EventsUpTo(EventId(n.payload.parse().unwrap_or(0))),
                conn,
            )),
            _ => None,
        }
    });
    Box::pin(stream)
}
