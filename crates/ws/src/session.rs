//! One WebSocket connection: authenticate before the upgrade, replay after `since`, then relay
//! live events addressed to this user, answer subscriptions, ping, and close when the client is
//! silent, too slow, its token expires or is revoked (on any instance), or the server stops.

use std::{collections::HashSet, convert::Infallible, sync::Arc, time::Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::broadcast::{Receiver, error::RecvError};

use j0_api::{
    error::ApiError,
    extract::{Query, QueryInt, at_least},
    token::{Caller, authenticate, presented_token},
};
use j0_domain::{EventId, job::Capability};
use j0_ports::ErrorChain;
use j0_wire::{
    error::ErrorCode,
    events::{
        Action, ClientMessage, ErrorMessage, Subscribed, SubscribedMessage, Truncated,
        TruncatedMessage, WsError,
    },
};

use crate::{
    WsState,
    hub::{Delivery, Revocation},
};

/// Replayed events read per query.
const REPLAY_PAGE: i64 = 500;

/// WebSocket connections open now.
pub const CONNECTIONS: &str = "j0_ws_connections";
/// Connections closed because the client read too slowly.
pub const SLOW_CONSUMERS_DROPPED: &str = "j0_ws_slow_consumers_dropped_total";

#[derive(Debug, Deserialize)]
pub(crate) struct ConnectQuery {
    token: Option<String>,
    since: Option<QueryInt>,
}

/// Why the server ends a connection.
enum Ending {
    ClientClosed,
    Idle,
    TooSlow,
    TokenExpired,
    TokenRevoked,
    ShuttingDown,
}

impl Ending {
    fn reason(&self) -> Option<CloseReason> {
        let (code, description) = match self {
            Ending::ClientClosed => return None,
            Ending::Idle => (CloseCode::Away, "idle timeout"),
            Ending::TooSlow => (CloseCode::Policy, "client too slow"),
            Ending::TokenExpired => (CloseCode::Policy, "token expired"),
            Ending::TokenRevoked => (CloseCode::Policy, "token revoked"),
            Ending::ShuttingDown => (CloseCode::Away, "server shutting down"),
        };
        Some(CloseReason {
            code,
            description: Some(description.to_owned()),
        })
    }
}

/// `GET /ws`: authenticates (401 before any upgrade), then hands the socket to [`run`].
pub(crate) async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<WsState>,
    query: Query<ConnectQuery>,
) -> Result<HttpResponse, ApiError> {
    let ConnectQuery { token, since } = query.0;
    let token = presented_token(&req)?
        .or(token)
        .ok_or_else(ApiError::unauthorized)?;
    // Listen before checking, so a revocation between the check and the upgrade is heard.
    let revocations = state.hub.revocations();
    let caller = authenticate(&state.api, &token).await?;
    let since = match at_least("since", since, 0)? {
        Some(n) => Some(since_within_horizon(&state, EventId(n)).await?),
        None => None,
    };
    // Subscribe before replaying, so no live event can fall between the two.
    let live = state.hub.subscribe();
    let (response, session, stream) =
        actix_ws::handle(&req, body).map_err(|e| ApiError::validation(format!("upgrade: {e}")))?;
    let stream = stream
        .max_frame_size(state.limits.max_frame_bytes)
        .aggregate_continuations()
        .max_continuation_size(state.limits.max_frame_bytes);
    let state = state.into_inner();
    let open = OpenConnection::count();
    actix_web::rt::spawn(async move {
        let _open = open;
        run(state, caller, since, (live, revocations), session, stream).await;
    });
    Ok(response)
}

/// One open connection, counted in `j0_ws_connections` from the upgrade until it is dropped,
/// however the connection ends (its task finishing, or dropped with the server).
#[derive(Debug)]
struct OpenConnection;

impl OpenConnection {
    fn count() -> Self {
        metrics::gauge!(CONNECTIONS).increment(1);
        Self
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!(CONNECTIONS).decrement(1);
    }
}

/// A `since` no larger than the last delivery id ever assigned: a larger one names events
/// that do not exist, and honouring it would silently hide every event up to it.
async fn since_within_horizon(state: &WsState, since: EventId) -> Result<EventId, ApiError> {
    let last = state.api.app.event_horizon().await?.last_assigned;
    if since > last {
        return Err(ApiError::validation(format!(
            "since must be at most {} (the last event id)",
            last.0
        )));
    }
    Ok(since)
}

/// Sends `text`, waiting at most the send timeout: a client that does not read is too slow.
async fn send(
    state: &WsState,
    session: &mut Session,
    text: impl Into<bytestring::ByteString>,
) -> Result<(), Ending> {
    match tokio::time::timeout(state.limits.send_timeout, session.text(text)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_closed)) => Err(Ending::ClientClosed),
        Err(_elapsed) => Err(Ending::TooSlow),
    }
}

/// Sends the events addressed to `caller` after `since`; returns the last id sent.
async fn replay(
    state: &WsState,
    session: &mut Session,
    caller: &Caller,
    since: EventId,
) -> Result<EventId, Ending> {
    let app = &state.api.app;
    let mut last = since;
    match app.event_horizon().await {
        Ok(horizon) if horizon.is_truncated_after(since) => {
            let notice = TruncatedMessage::new(Truncated {
                since,
                oldest_id: horizon.oldest_kept,
            });
            send(state, session, text(&notice)).await?;
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %ErrorChain(&e), user_id = %caller.user, "replay unavailable");
            return Err(Ending::ShuttingDown);
        }
    }
    loop {
        let events = app
            .events_for(caller.user, last, REPLAY_PAGE)
            .await
            .map_err(|e| {
                tracing::warn!(error = %ErrorChain(&e), user_id = %caller.user, "replay failed");
                Ending::ShuttingDown
            })?;
        if events.is_empty() {
            return Ok(last);
        }
        for event in &events {
            send(state, session, Delivery::render(event).text).await?;
            last = event.id;
        }
    }
}

fn is_for(delivery: &Delivery, caller: &Caller, filter: &HashSet<Capability>) -> bool {
    match delivery.recipient {
        Some(user) => user == caller.user,
        None => filter.is_empty() || delivery.capability.is_some_and(|c| filter.contains(&c)),
    }
}

/// Answers a client's text message: the new subscription, or what was wrong with the message
/// (and nothing changes).
fn subscribe(message: &str, filter: &mut HashSet<Capability>) -> String {
    let parsed = serde_json::from_str::<ClientMessage>(message)
        .map_err(|e| format!("message: {e}"))
        .and_then(
            |ClientMessage {
                 action: Action::Subscribe,
                 capabilities,
             }| {
                capabilities
                    .iter()
                    .map(|c| Capability::parse(c).map_err(|e| e.to_string()))
                    .collect::<Result<Vec<_>, _>>()
            },
        );
    match parsed {
        Ok(capabilities) => {
            *filter = capabilities.iter().copied().collect();
            text(&SubscribedMessage::new(Subscribed { capabilities }))
        }
        Err(error) => text(&ErrorMessage::new(WsError {
            code: ErrorCode::ValidationError.as_str().to_owned(),
            error,
        })),
    }
}

/// The JSON text of a message; the server's message types always serialize.
fn text(message: &impl serde::Serialize) -> String {
    serde_json::to_string(message).unwrap_or_default()
}

/// Whether the caller's token still holds: unexpired by the application's clock and not
/// revoked. A database that cannot answer keeps the socket open (the next check decides).
async fn token_holds(state: &WsState, caller: &Caller) -> Result<(), Ending> {
    if state.api.app.now() >= caller.expires_at {
        return Err(Ending::TokenExpired);
    }
    match state.api.app.is_token_revoked(&caller.jti).await {
        Ok(true) => Err(Ending::TokenRevoked),
        Ok(false) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %ErrorChain(&e), user_id = %caller.user, "re-checking a WebSocket token failed");
            Ok(())
        }
    }
}

/// What a connection hears from the hub: live events and revocations.
type Feeds = (Receiver<Arc<Delivery>>, Receiver<Revocation>);

async fn run(
    state: Arc<WsState>,
    caller: Caller,
    since: Option<EventId>,
    (mut live, mut revocations): Feeds,
    mut session: Session,
    mut stream: actix_ws::AggregatedMessageStream,
) {
    let mut shutdown = state.shutdown.clone();
    let left: std::time::Duration = (caller.expires_at - state.api.app.now())
        .try_into()
        .unwrap_or_default();
    let expiry = tokio::time::sleep(left);
    tokio::pin!(expiry);
    let outcome: Result<Infallible, Ending> = async {
        let mut sent_up_to = match since {
            Some(since) => replay(&state, &mut session, &caller, since).await?,
            None => EventId(0),
        };
        let mut filter = HashSet::new();
        let mut heard = Instant::now();
        let mut ping = tokio::time::interval(state.limits.ping_every);
        ping.tick().await;
        let mut recheck = tokio::time::interval(state.limits.token_recheck_every);
        recheck.tick().await;
        loop {
            tokio::select! {
                () = &mut expiry => return Err(Ending::TokenExpired),
                revocation = revocations.recv() => match revocation {
                    Ok(Revocation::Token(jti)) if *jti == *caller.jti => {
                        return Err(Ending::TokenRevoked);
                    }
                    Ok(Revocation::Token(_)) => {}
                    Ok(Revocation::RecheckAll) | Err(RecvError::Lagged(_)) => {
                        token_holds(&state, &caller).await?;
                    }
                    Err(RecvError::Closed) => return Err(Ending::ShuttingDown),
                },
                _ = recheck.tick() => token_holds(&state, &caller).await?,
                delivery = live.recv() => match delivery {
                    // Whatever it is addressed to, what waits behind this connection is memory.
                    Ok(d) if d.backlog_bytes(&state.hub) > state.limits.max_backlog_bytes => {
                        return Err(Ending::TooSlow);
                    }
                    Ok(d) if d.id <= sent_up_to || !is_for(&d, &caller, &filter) => {}
                    Ok(d) => {
                        send(&state, &mut session, d.text.clone()).await?;
                        sent_up_to = d.id;
                    }
                    Err(RecvError::Lagged(_)) => return Err(Ending::TooSlow),
                    Err(RecvError::Closed) => return Err(Ending::ShuttingDown),
                },
                message = stream.next() => {
                    heard = Instant::now();
                    match message {
                        Some(Ok(AggregatedMessage::Text(text))) => {
                            let answer = subscribe(&text, &mut filter);
                            send(&state, &mut session, answer).await?;
                        }
                        Some(Ok(AggregatedMessage::Ping(bytes))) => {
                            session.pong(&bytes).await.map_err(|_| Ending::ClientClosed)?;
                        }
                        Some(Ok(AggregatedMessage::Close(_))) | None | Some(Err(_)) => {
                            return Err(Ending::ClientClosed);
                        }
                        Some(Ok(_)) => {}
                    }
                },
                _ = ping.tick() => {
                    if heard.elapsed() >= state.limits.silence_limit {
                        return Err(Ending::Idle);
                    }
                    session.ping(b"").await.map_err(|_| Ending::ClientClosed)?;
                },
                _ = shutdown.changed() => return Err(Ending::ShuttingDown),
            }
        }
    }
    .await;
    let Err(ending) = outcome;
    if let Some(reason) = ending.reason() {
        if matches!(ending, Ending::TooSlow) {
            metrics::counter!(SLOW_CONSUMERS_DROPPED).increment(1);
            tracing::info!(user_id = %caller.user, "closing a WebSocket client that is too slow");
        }
        // A client too slow to read may never take the close frame either.
        let _ = tokio::time::timeout(state.limits.send_timeout, session.close(Some(reason))).await;
    }
}
