//! The WebSocket as a stream of typed events that survives disconnects.
//!
//! One background task owns the socket. It signs in (again) as needed, connects with
//! `?since=<last id>`, sends the subscription again after every reconnect, drops any event it
//! has already delivered (ids increase), and hands the rest to the [`EventStream`] through a
//! bounded channel: a consumer that stops reading stops the task reading too, and the server
//! then closes the socket as too slow; the next connection resumes from the last id, so
//! nothing is lost. Dropping the stream ends the task.

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use futures_util::{SinkExt, Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest, http};

use j0_domain::{EventId, job::Capability};
use j0_wire::events::{ClientMessage, EventBody, ServerMessage};

use crate::{Client, Error, Result};

/// A message from the server: a job or balance event (with its `id`), or
/// [`EventBody::EventsTruncated`] when the replay could not reach back to `since`. The
/// subscription's acknowledgements never appear; a refused subscription is an
/// [`Error::Validation`] item.
pub type Event = ServerMessage;

/// What to listen to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventOptions {
    /// Narrow `job.posted` to these capabilities; empty means all.
    pub capabilities: Vec<Capability>,
    /// Resume after this event id.
    pub since: Option<EventId>,
}

/// How many events may wait for the consumer.
const BUFFER: usize = 256;
/// The longest wait between reconnection attempts.
const MAX_RECONNECT_WAIT: Duration = Duration::from_secs(10);

/// The events addressed to the signed-in user, live, in id order, without duplicates.
#[derive(Debug)]
pub struct EventStream {
    events: mpsc::Receiver<Result<Event>>,
    task: tokio::task::JoinHandle<()>,
}

impl Stream for EventStream {
    type Item = Result<Event>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.poll_recv(cx)
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Client {
    /// Listens to the WebSocket: see [`EventStream`].
    pub fn events(&self, options: EventOptions) -> EventStream {
        let (tx, events) = mpsc::channel(BUFFER);
        let task = tokio::spawn(listen(self.clone(), options, tx));
        EventStream { events, task }
    }
}

/// Why one connection ended.
enum Ended {
    /// The consumer is gone: stop.
    ConsumerGone,
    /// The connection broke or was closed: connect again.
    Disconnected,
}

async fn listen(client: Client, options: EventOptions, tx: mpsc::Sender<Result<Event>>) {
    let mut last = options.since;
    let mut failures: u32 = 0;
    let mut signed_in_again = false;
    loop {
        match connect(&client, last).await {
            Ok(socket) => {
                failures = 0;
                signed_in_again = false;
                match pump(socket, &options.capabilities, &mut last, &tx).await {
                    Ended::ConsumerGone => return,
                    Ended::Disconnected => {}
                }
            }
            Err(Error::Unauthorized { .. }) if !signed_in_again && client.wallet().is_some() => {
                signed_in_again = true;
                if let Ok(token) = client.token().await {
                    client.drop_session(&token).await;
                }
                continue;
            }
            Err(e) if e.is_retryable() || matches!(e, Error::WebSocket(_)) => {
                tracing::debug!(error = %e, "event stream: reconnecting");
                failures = failures.saturating_add(1);
            }
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        }
        if tx.is_closed() {
            return;
        }
        let wait = Duration::from_millis(100u64.saturating_mul(1 << failures.min(7)))
            .min(MAX_RECONNECT_WAIT);
        tokio::time::sleep(wait).await;
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(client: &Client, since: Option<EventId>) -> Result<Socket> {
    let token = client.token().await?;
    let url = match since {
        Some(id) => format!("{}?since={id}", client.ws_url()),
        None => client.ws_url().to_owned(),
    };
    let mut request = url.into_client_request()?;
    let bearer = http::HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| Error::Config("token is not a valid header value".into()))?;
    request
        .headers_mut()
        .insert(http::header::AUTHORIZATION, bearer);
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::Error::Http(response)) => {
            let status = response.status().as_u16();
            let body = response.body().as_deref().unwrap_or_default();
            Err(match serde_json::from_slice(body) {
                Ok(error) => Error::from_api(status, error, None),
                Err(_) => Error::Protocol {
                    status,
                    message: "WebSocket upgrade refused".into(),
                },
            })
        }
        Err(e) => Err(e.into()),
    }
}

async fn pump(
    mut socket: Socket,
    capabilities: &[Capability],
    last: &mut Option<EventId>,
    tx: &mpsc::Sender<Result<Event>>,
) -> Ended {
    if !capabilities.is_empty() {
        let subscribe = ClientMessage::subscribe(capabilities);
        let Ok(text) = serde_json::to_string(&subscribe) else {
            return Ended::Disconnected;
        };
        if socket.send(Message::text(text)).await.is_err() {
            return Ended::Disconnected;
        }
    }
    loop {
        let message = tokio::select! {
            message = socket.next() => message,
            () = tx.closed() => return Ended::ConsumerGone,
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Ended::Disconnected,
            Some(Ok(_)) => continue,
        };
        let event: ServerMessage = match serde_json::from_str(&text) {
            Ok(event) => event,
            Err(e) => {
                tracing::debug!(error = %e, "event stream: skipping a message of an unknown kind");
                continue;
            }
        };
        let item = match event.body {
            EventBody::Subscribed(_) => continue,
            EventBody::Error(refusal) => Err(Error::Validation {
                message: refusal.error,
            }),
            _ => {
                if let Some(id) = event.id {
                    if last.is_some_and(|seen| id <= seen) {
                        continue;
                    }
                    *last = Some(id);
                }
                // A replay precedes the server's reading of the subscription: narrow it here.
                if let EventBody::JobPosted(job) = &event.body
                    && !capabilities.is_empty()
                    && !capabilities.contains(&job.capability)
                {
                    continue;
                }
                Ok(event)
            }
        };
        if tx.send(item).await.is_err() {
            return Ended::ConsumerGone;
        }
    }
}
