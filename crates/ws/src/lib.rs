//! The WebSocket edge of j0 (`GET /ws`, contract §9).
//!
//! Events reach clients in three steps, each bounded:
//!
//! 1. [`hub::run`] follows the outbox: it waits for the sequencer's `NOTIFY` (or a one-second
//!    tick, in case a notice was lost), reads the new events from the table by delivery id,
//!    renders each message once, and publishes it on a bounded broadcast channel. A lost
//!    listening connection is replaced and the hub re-reads from its last id, so nothing is
//!    lost.
//! 2. Each connection ([`session`]) takes from that channel only what is addressed to its
//!    user (or to everyone, narrowed by its capability subscription). A resuming client first
//!    gets its events after `since` from the table, then live ones, skipping ids it was just
//!    given, so the seam has no duplicate and no gap.
//! 3. Sends wait at most a few seconds; a client that does not read, or falls further behind
//!    than the channel holds (in messages or in bytes), is closed (1008) instead of being
//!    buffered for.
//!
//! A connection lives no longer than its token: it closes (1008, `token expired`) at the
//! token's `exp`, and (1008, `token revoked`) as soon as a sign-out on any instance is
//! announced (`NOTIFY` in the revocation's own transaction), with a periodic re-check in the
//! database as the backstop.

pub mod hub;
mod session;

use std::time::Duration;

use actix_web::web;
use tokio::sync::watch;

use j0_api::ApiState;

pub use hub::{Hub, OUTBOX_LAG};
pub use session::{CONNECTIONS, SLOW_CONSUMERS_DROPPED};

/// Limits and cadences of every connection.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How often the server pings.
    pub ping_every: Duration,
    /// A connection silent this long is closed.
    pub silence_limit: Duration,
    /// Longest wait for one message to be taken by a client's connection.
    pub send_timeout: Duration,
    /// Largest frame a client may send.
    pub max_frame_bytes: usize,
    /// Bytes of messages a connection may fall behind (besides [`hub::QUEUE_BOUND`] messages)
    /// before it is closed as too slow: a few large results must not pin memory either.
    pub max_backlog_bytes: u64,
    /// How often a connection asks the database whether its token was revoked, the backstop
    /// behind the revocation notices (which close a socket within moments).
    pub token_recheck_every: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            ping_every: Duration::from_secs(20),
            silence_limit: Duration::from_secs(60),
            send_timeout: Duration::from_secs(5),
            max_frame_bytes: 64 * 1024,
            max_backlog_bytes: 128 * 1024 * 1024,
            token_recheck_every: Duration::from_secs(30),
        }
    }
}

/// What every WebSocket connection shares.
#[derive(Debug, Clone)]
pub struct WsState {
    /// Authentication and the use cases.
    pub api: ApiState,
    /// Live events.
    pub hub: Hub,
    /// Becomes `true` when the server shuts down: sockets close with 1001.
    pub shutdown: watch::Receiver<bool>,
    /// Connection limits.
    pub limits: Limits,
}

/// Registers `GET /ws`.
pub fn configure(state: WsState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(state)).service(
            web::resource(j0_api::openapi::WS_PATH)
                .route(web::get().to(session::upgrade))
                .default_service(j0_api::method_not_allowed(&[actix_web::http::Method::GET])),
        );
    }
}
