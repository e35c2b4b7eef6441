//! Follows the outbox and publishes each event, rendered once, to this instance's connections;
//! relays token revocations announced by any instance to the connections holding those tokens.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bytestring::ByteString;
use futures_util::StreamExt;
use tokio::sync::{broadcast, watch};

use j0_app::Marketplace;
use j0_domain::{EventId, UserId, job::Capability};
use j0_ports::{ErrorChain, Notice, OutboxEvent};
use j0_wire::events::Envelope;

/// Events a connection may fall behind before it is closed as too slow (the byte bound is
/// [`crate::Limits::max_backlog_bytes`]).
pub const QUEUE_BOUND: usize = 4096;
/// Events read from the table per query.
const PAGE: i64 = 500;
/// Re-read the table this often even without a notice.
const TICK: Duration = Duration::from_secs(1);
/// Wait before listening again after the listening connection failed.
const RELISTEN_BACKOFF: Duration = Duration::from_secs(1);

/// One event, ready to send.
#[derive(Debug)]
pub struct Delivery {
    /// Delivery id.
    pub id: EventId,
    /// The one user it is for, or `None` for everyone.
    pub recipient: Option<UserId>,
    /// The job's capability, for subscription filters (`job.posted`).
    pub capability: Option<Capability>,
    /// The message text `{"id","event","data","timestamp"}`.
    pub text: ByteString,
    /// Bytes the hub had published up to and including this message (0 outside the hub):
    /// with [`Hub::published_bytes`] it tells a connection how many bytes wait behind it.
    pub published_up_to: u64,
}

impl Delivery {
    /// Bytes published from this message on, this one included: what a connection that has
    /// just taken it still has queued for it.
    pub fn backlog_bytes(&self, hub: &Hub) -> u64 {
        let start = self.published_up_to - self.text.len() as u64;
        hub.published_bytes().saturating_sub(start)
    }
}

impl Delivery {
    /// Renders a stored event.
    pub fn render(event: &OutboxEvent) -> Self {
        let message = Envelope {
            id: event.id,
            event: &event.event,
            data: &event.data,
            timestamp: event.created_at,
        };
        let text = serde_json::to_string(&message).unwrap_or_default();
        Self {
            id: event.id,
            recipient: event.recipient,
            capability: event.data["capability"]
                .as_str()
                .and_then(|c| Capability::parse(c).ok()),
            text: ByteString::from(text),
            published_up_to: 0,
        }
    }
}

/// What a connection is told about tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// This token was revoked: a connection holding it closes.
    Token(Arc<str>),
    /// Revocations may have been missed (the listener was down): every connection asks the
    /// database about its own token.
    RecheckAll,
}

/// Revocations a connection may fall behind before it re-checks its token in the database.
const REVOCATION_BOUND: usize = 1024;

/// This instance's live events and revocations.
#[derive(Debug, Clone)]
pub struct Hub {
    sender: broadcast::Sender<Arc<Delivery>>,
    revocations: broadcast::Sender<Revocation>,
    /// Bytes of every message published so far.
    published: Arc<AtomicU64>,
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(QUEUE_BOUND).0,
            revocations: broadcast::channel(REVOCATION_BOUND).0,
            published: Arc::default(),
        }
    }
}

impl Hub {
    /// A receiver of every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Delivery>> {
        self.sender.subscribe()
    }

    /// A receiver of every revocation heard from now on.
    pub fn revocations(&self) -> broadcast::Receiver<Revocation> {
        self.revocations.subscribe()
    }

    fn announce(&self, revocation: Revocation) {
        // No receivers is fine: nobody is connected to this instance.
        let _ = self.revocations.send(revocation);
    }

    /// Bytes of every message published so far.
    pub fn published_bytes(&self) -> u64 {
        self.published.load(Ordering::Acquire)
    }

    fn publish(&self, event: &OutboxEvent) {
        let mut delivery = Delivery::render(event);
        let len = delivery.text.len() as u64;
        // Only this task publishes, so the count and the send stay in order.
        delivery.published_up_to = self.published.fetch_add(len, Ordering::AcqRel) + len;
        // No receivers is fine: nobody is connected to this instance.
        let _ = self.sender.send(Arc::new(delivery));
    }
}

/// Events numbered but not yet published by this instance's hub: the newest delivery id the
/// sequencers announced (or this hub read) minus the newest one it published.
pub const OUTBOX_LAG: &str = "j0_outbox_lag_events";

/// What the hub knows of the outbox: the newest id announced and the newest it published.
#[derive(Debug)]
struct Progress {
    newest: EventId,
    published: EventId,
}

impl Progress {
    /// Sets [`OUTBOX_LAG`] from what is known now.
    fn record(&mut self) {
        self.newest = self.newest.max(self.published);
        let lag = self.newest.0.saturating_sub(self.published.0);
        metrics::gauge!(OUTBOX_LAG).set(lag as f64);
    }
}

/// Publishes every event after `progress.published` that the table holds, page by page, keeping
/// the lag gauge current while it catches up.
async fn drain(app: &Marketplace, hub: &Hub, progress: &mut Progress) {
    loop {
        match app.events_after(progress.published, PAGE).await {
            Ok(events) if events.is_empty() => {
                progress.record();
                return;
            }
            Ok(events) => {
                for event in &events {
                    hub.publish(event);
                    progress.published = event.id;
                }
                progress.record();
            }
            Err(e) => {
                tracing::warn!(error = %ErrorChain(&e), last_id = progress.published.0, "reading the outbox failed; retrying");
                progress.record();
                return;
            }
        }
    }
}

/// Follows the outbox until `stop`, publishing to `hub`.
pub async fn run(app: Marketplace, hub: Hub, mut stop: watch::Receiver<bool>) {
    let mut progress = loop {
        match app.event_horizon().await {
            Ok(h) => {
                break Progress {
                    newest: h.last_assigned,
                    published: h.last_assigned,
                };
            }
            Err(e) => {
                tracing::warn!(error = %ErrorChain(&e), "reading the outbox horizon failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(RELISTEN_BACKOFF) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    };
    progress.record();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut notices = match app.listen_events().await {
            Ok(notices) => notices,
            Err(e) => {
                tracing::warn!(error = %ErrorChain(&e), "listening for events failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(RELISTEN_BACKOFF) => continue,
                    _ = stop.changed() => return,
                }
            }
        };
        // Revocations announced while nobody listened are not repeated: ask every socket to
        // check its own token.
        hub.announce(Revocation::RecheckAll);
        drain(&app, &hub, &mut progress).await;
        loop {
            tokio::select! {
                notice = notices.next() => match notice {
                    Some(Notice::TokenRevoked(jti)) => hub.announce(Revocation::Token(jti.into())),
                    Some(Notice::EventsUpTo(up_to)) if up_to <= progress.published => {}
                    Some(Notice::EventsUpTo(up_to)) => {
                        progress.newest = progress.newest.max(up_to);
                        progress.record();
                        drain(&app, &hub, &mut progress).await;
                    }
                    None => {
                        tracing::warn!(last_id = progress.published.0, "event listener lost; listening again");
                        break;
                    }
                },
                _ = tick.tick() => drain(&app, &hub, &mut progress).await,
                _ = stop.changed() => return,
            }
        }
    }
}
