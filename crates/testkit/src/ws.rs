//! A WebSocket client for tests: connect as a user, read the next JSON message with a bounded
//! wait, assert silence.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, protocol::CloseFrame},
};

use crate::{Session, TestApp};

/// Longest wait for a message that should come.
const PATIENCE: Duration = Duration::from_secs(10);

/// A connected WebSocket.
#[derive(Debug)]
pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// How a connection ended, as the client saw it.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// A close frame with this code and reason.
    Closed(u16, String),
    /// The connection dropped without one.
    Dropped,
}

impl WsClient {
    /// Connects to `app` with `?token=` (and `since` when given).
    pub async fn connect(app: &TestApp, token: &str, since: Option<i64>) -> Self {
        let mut url = format!("{}?token={token}", app.ws_url());
        if let Some(since) = since {
            url.push_str(&format!("&since={since}"));
        }
        let (stream, _) = connect_async(url).await.expect("WebSocket upgrade");
        Self { stream }
    }

    /// Connects with a prepared request (headers, cookies); the server's refusal as an error.
    pub async fn connect_request(
        request: tokio_tungstenite::tungstenite::handshake::client::Request,
    ) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        connect_async(request)
            .await
            .map(|(stream, _)| Self { stream })
    }

    /// Connects to `app` as `user` (`?token=`), live from now on.
    pub async fn as_user(app: &TestApp, user: &Session) -> Self {
        Self::connect(app, &user.token, None).await
    }

    /// The refusal of an upgrade that must be refused: its status and JSON body (`Null` when it
    /// has none).
    pub async fn refusal(
        request: tokio_tungstenite::tungstenite::handshake::client::Request,
    ) -> (u16, Value) {
        match connect_async(request).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                let body = response.body().as_deref().unwrap_or_default();
                let body = serde_json::from_slice(body).unwrap_or(Value::Null);
                (response.status().as_u16(), body)
            }
            Err(e) => panic!("expected a refusal before the upgrade, got {e}"),
            Ok(_) => panic!("expected a refusal before the upgrade, it was upgraded"),
        }
    }

    /// Subscribes to `capabilities` (empty: all) and returns the server's answer.
    pub async fn subscribe(&mut self, capabilities: &[&str]) -> Value {
        self.send(&json!({ "action": "subscribe", "capabilities": capabilities }))
            .await;
        self.next().await
    }

    /// The next text message, parsed; panics after 10 s.
    pub async fn next(&mut self) -> Value {
        tokio::time::timeout(PATIENCE, self.next_text())
            .await
            .expect("a WebSocket message within 10 s")
            .expect("the connection stayed open")
    }

    async fn next_text(&mut self) -> Option<Value> {
        while let Some(message) = self.stream.next().await {
            match message.ok()? {
                Message::Text(text) => return serde_json::from_str(&text).ok(),
                Message::Close(_) => return None,
                _ => {}
            }
        }
        None
    }

    /// The next `n` messages.
    pub async fn take(&mut self, n: usize) -> Vec<Value> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.next().await);
        }
        out
    }

    /// Reads one message every `pause` for `during` (a client that keeps up, slowly); stops
    /// early if the connection ends. Returns how many messages it read.
    pub async fn read_slowly(&mut self, during: Duration, pause: Duration) -> usize {
        let until = tokio::time::Instant::now() + during;
        let mut read = 0;
        while tokio::time::Instant::now() < until {
            match tokio::time::timeout_at(until, self.next_text()).await {
                Ok(Some(_)) => read += 1,
                Ok(None) | Err(_) => break,
            }
            tokio::time::sleep(pause).await;
        }
        read
    }

    /// Asserts that no text message arrives within `quiet`.
    pub async fn assert_silent(&mut self, quiet: Duration) {
        if let Ok(Some(message)) = tokio::time::timeout(quiet, self.next_text()).await {
            panic!("expected silence, got {message}");
        }
    }

    /// Sends a JSON message.
    pub async fn send(&mut self, message: &Value) {
        self.stream
            .send(Message::text(message.to_string()))
            .await
            .expect("send");
    }

    /// Reads (bounded) until the server ends the connection, and asserts that it closed with
    /// `code` and `reason` unless the connection dropped first (a server closing a socket it
    /// has stopped reading may reset it before the close frame arrives).
    pub async fn assert_closed_unless_dropped(
        &mut self,
        within: Duration,
        code: u16,
        reason: &str,
    ) {
        match self.ended(within).await {
            Ended::Closed(got, why) => assert_eq!((got, why.as_str()), (code, reason)),
            Ended::Dropped => {}
        }
    }

    /// Reads (bounded) until the server ends the connection; how it ended.
    pub async fn ended(&mut self, within: Duration) -> Ended {
        let read = async {
            while let Some(message) = self.stream.next().await {
                match message {
                    Ok(Message::Close(Some(CloseFrame { code, reason }))) => {
                        return Ended::Closed(code.into(), reason.to_string());
                    }
                    Ok(Message::Close(None)) | Err(_) => return Ended::Dropped,
                    Ok(_) => {}
                }
            }
            Ended::Dropped
        };
        tokio::time::timeout(within, read)
            .await
            .expect("the server ended the connection")
    }
}
